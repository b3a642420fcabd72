"""The tour: the course notebooks' first computations, on chainrule (`chainrule tour`)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp


def J(x):
    """The notebooks' function J(x) = x³ + x² − 6x + 1."""
    return x**3 + x**2 - 6 * x + 1


def dJ_exact(x):
    """Its exact derivative, 3x² + 2x − 6."""
    return 3 * x**2 + 2 * x - 6


SECTIONS = [
    "Three ways to a derivative", "Gradient descent", "The chain rule, step by step",
    "The scalar engine of the notes", "PyTorch style", "TensorFlow style", "JAX style",
    "Memory", "Pictures",
]  # fmt: skip


def run(print=print, out_dir: str | None = None) -> dict:  # noqa: A002
    """Print the tour (writing its figures into `out_dir`, if given); return its numbers.

    >>> out = run(print=lambda *a: None)
    >>> bool(abs(out["minimum"] - (-1 + 19 ** 0.5) / 3) < 1e-12), out["index_assignment"]
    (True, True)
    >>> out["saved_bytes"], bool(out["accumulation"] < 1e-12)
    (800000, True)
    """
    out: dict = {}
    figures = _Figures(out_dir, print)

    def section(k: int) -> None:
        bar = "■" * (k + 1) + "□" * (len(SECTIONS) - k - 1)
        print(f"\n[{bar}] {k + 1}/{len(SECTIONS)}  {SECTIONS[k]}\n")

    print("chainrule tour: the two course notebooks, on one engine")
    section(0)
    out.update(_three_ways(print, figures))
    section(1)
    out.update(_descent(print))
    section(2)
    out.update(_chain_rule(print))
    section(3)
    out.update(_scalar(print))
    section(4)
    out.update(_torch_style(print))
    section(5)
    out.update(_tf_style(print))
    section(6)
    out.update(_jax_style(print))
    section(7)
    out.update(_memory(print))
    section(8)
    figures.graphs()
    if out_dir:
        print(f"\nFigures and graphs: {figures.written or 'none (see above)'}")
    return out


class _Figures:
    """Writes the tour's pictures into a folder, when one is given and matplotlib is there."""

    def __init__(self, out_dir: str | None, print) -> None:  # noqa: A002
        self.dir, self.print, self.written = out_dir, print, []
        if out_dir:
            import os

            os.makedirs(out_dir, exist_ok=True)

    def path(self, name: str) -> str | None:
        if not self.dir:
            return None
        import os

        return os.path.join(self.dir, name)

    def save(self, name: str, make) -> None:  # noqa: ANN001
        p = self.path(name)
        if p is None:
            return
        try:
            make(p)
            self.written.append(p)
            self.print(f"  wrote {p}")
        except ImportError as err:
            self.print(f"  (no {name}: {err})")

    def graphs(self) -> None:
        from chainrule.transparency.draw import draw

        d = draw(J, 2.0)
        self.print("The graph of J at x = 2, forward edges and the reverse sweep (DOT text):")
        self.print("  " + "\n  ".join(d.dot.splitlines()[:4]) + "\n  ...")
        self.save("graph_J.png", d.save)
        self.save("graph_x2cos.png", draw(lambda x: (x**2 * cnp.cos(x)) ** 2, np.pi).save)
        self.save("graph_J.svg", d.save)


def _three_ways(print, figures: _Figures) -> dict:  # noqa: A002
    print("J(x) = x³ + x² − 6x + 1 on [-3, 3]: symbolic, numerical and automatic derivatives")
    X = np.linspace(-3, 3, 101)
    try:
        sym = cr.to_sympy(J, "x")
        print(f"  symbolic (SymPy, from chainrule's own rules): dJ/dx = {sym.gradient[0]}")
    except ImportError:
        print("  symbolic: SymPy is not installed (pip install chainrule[sym])")
    for dx in (1e-2, 1e-3):
        fd = (J(X + dx) - J(X)) / dx
        print(f"  numerical, forward differences, dx = {dx:g}: max error "
              f"{np.max(np.abs(fd - dJ_exact(X))):.1e}")  # fmt: skip
    dY = cr.elementwise_grad(J)(X)
    err101 = float(np.max(np.abs(dY - dJ_exact(X))))
    print(f"  automatic (elementwise_grad on the 101 points at once): max error {err101:.1e}")
    print(f"\n{'x':>6} | {'dJ/dx (chainrule)':>18} | {'3x² + 2x − 6':>14} | {'error':>8}")
    dJ = cr.grad(J)
    for x in (-3.0, -1.5, 0.0, 1.0, 2.0, 3.0):
        ad, exact = dJ(x), dJ_exact(x)
        print(f"{x:6.2f} | {ad:18.12f} | {exact:14.12f} | {abs(ad - exact):8.1e}")
    c = cr.compare(J, at=1.0, symbolic=False)
    print(f"\nObserved orders at x = 1: forward {c.orders['forward']:.2f}, central "
          f"{c.orders['central']:.2f}, complex step {c.orders['complex']:.2f} (exact to "
          f"{c.best['complex'][1]:.1e})")  # fmt: skip
    figures.save("compare_J.png", c.figure)
    figures.save("J_and_dJ.png", lambda p: _plot_J(p, X, dY))
    return {"max_error_101": err101}


def _plot_J(path: str, X: np.ndarray, dY: np.ndarray) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("matplotlib is needed: pip install chainrule[viz]") from None
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot(X, J(X), label="J(x)")
    ax.plot(X, dY, label="dJ/dx (chainrule)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("x")
    ax.legend()
    ax.set_title("J(x) = x³ + x² − 6x + 1 and its derivative")
    fig.savefig(path, dpi=120)


def _descent(print) -> dict:  # noqa: A002
    print("x ← x − 0.1·J'(x) from x = 3:")
    print(f"{'step':>5} | {'x':>20} | {'J(x)':>20} | {'dJ/dx':>10}")
    dJ = cr.grad(J)
    x = 3.0
    for k in range(1, 21):
        x = x - 0.1 * dJ(x)
        if k in (1, 2, 5, 10, 20):
            print(f"{k:5d} | {x:20.16f} | {J(x):20.16f} | {dJ(x):10.2e}")
    exact_min = (-1 + 19**0.5) / 3
    print(f"\nMinimum at x = {x:.16f}; exact (−1 + √19)/3 = {exact_min:.16f}")
    return {"minimum": x}


def _chain_rule(print) -> dict:  # noqa: A002
    print("z = (x² cos x)² at x = π: a diamond, where the accumulation rule adds two paths")
    e = cr.explain(lambda x: (x**2 * cnp.cos(x)) ** 2, np.pi)
    print(e)
    t = cr.grad(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2))(7.0)
    print(f"\nd/dx tanh(4 cos² x) at x = 7: {t:.12f}")
    print(f"d/dx (x² cos x)² at x = π:    {float(e.gradient):.12f}  (4π³ = {4 * np.pi**3:.12f})")
    d = cr.explain_gradient(lambda x: cnp.maximum(x, 0.0) * 3.0, -1.0)
    print(f"\nWhy is a gradient zero? {d.reason}")
    return {"tanh": t, "x2cos": float(e.gradient)}


def _jax_style(print) -> dict:  # noqa: A002
    print("The notebook's JAX cells: functions in, functions out.")
    f_of_x = lambda x: x**2  # noqa: E731
    xV = np.linspace(-5, 5, 100)
    f_of_xV, f_of_xV_dx = cr.vmap(f_of_x), cr.vmap(cr.grad(f_of_x))
    fx, dfx = f_of_xV(xV), f_of_xV_dx(xV)
    print("  f_of_x = lambda x: x**2;  vmap(f_of_x)(xV), vmap(grad(f_of_x))(xV) on "
          "linspace(-5, 5, 100):")
    print(f"    f:  {fx[0]:.4g} {fx[1]:.4g} ... {fx[-1]:.4g}     f': {dfx[0]:.4g} {dfx[1]:.4g} ... "
          f"{dfx[-1]:.4g}  (2x, exactly: {bool(np.array_equal(dfx, 2 * xV))})")
    try:
        cr.grad(f_of_x)(xV)
    except TypeError as err:
        print(f"  grad(f_of_x)(xV) is refused, as in JAX: {str(err).split('. ')[0]}.")
    v, g = cr.value_and_grad(lambda x: x**2)(3.0)
    H = cr.hessian(lambda x: cnp.sum(x**3))(np.array([1.0, 2.0]))
    print(f"  value_and_grad(x²)(3) = ({v}, {g});  hessian(sum(x³))([1, 2]) diagonal = "
          f"{np.diag(H)} (forward over reverse)")  # fmt: skip
    t = cr.jvp(cnp.sin, (0.0,), (3.0,))[1]
    print(f"  jvp(sin, (0,), (3,)) = {t} (forward mode: one pass, no graph kept)")
    print("  jit comes in a later part of chainrule (not yet in this version).")
    return {"vmap_grad": bool(np.array_equal(dfx, 2 * xV))}


def _scalar(print) -> dict:  # noqa: A002
    from chainrule.scalar import Node, backward

    xs = Node(2.0, "x")
    ys = xs**3 + xs**2 - xs * 6 + 1
    backward(ys)
    print(f"Node(2.0, 'x'): f(2) = {ys.value}, f'(2) = {xs.grad}")
    y0 = Node(1.0, "y")
    y = y0
    for _ in range(100_000):
        y = y * 1.0001 + 0.0
    backward(y)
    print(f"a chain of 200,000 operations (no recursion limit): dy/dy0 = {y0.grad:.10g}, "
          f"1.0001**100000 = {1.0001**100_000:.10g}")  # fmt: skip
    return {}


def _torch_style(print) -> dict:  # noqa: A002
    print("Y[:, 0] = J(X), Y[:, 1] = X² − 2, then Y.backward(gradient=dl)")
    X = np.linspace(-3, 3, 101)
    grads = {}
    for name, dl_cols in (("dl=(1,1)", (1, 1)), ("dl=(1,0)", (1, 0)), ("dl=(0,1)", (0, 1))):
        Xt = cr.tensor(X, requires_grad=True)
        Yt = cr.zeros(X.size, 2)
        Yt[:, 0] = Xt**3 + Xt**2 - 6 * Xt + 1
        Yt[:, 1] = Xt**2 - 2
        Yt.backward(gradient=cr.tensor(np.tile(dl_cols, (X.size, 1)).astype(float)))
        grads[name] = Xt.grad.numpy()
    sum_ok = np.allclose(grads["dl=(1,0)"] + grads["dl=(0,1)"], grads["dl=(1,1)"])
    col_ok = np.allclose(grads["dl=(1,0)"], dJ_exact(X)) and np.allclose(grads["dl=(0,1)"], 2 * X)
    print(f"  dY1 = 3x² + 2x − 6: {col_ok};  dY1 + dY2 = dY: {sum_ok}")
    return {"index_assignment": col_ok and sum_ok}


def _tf_style(print) -> dict:  # noqa: A002
    print("The accumulation rule at x = 7 with a persistent tape")
    x = cr.Variable(7.0)
    with cr.GradientTape(persistent=True) as tape:
        y1, y2, y3 = x**2, cnp.cos(x), cnp.arctan(x)
        zt = y1 * y2 / y3
    direct = float(tape.gradient(zt, x))
    summed = sum(float(tape.gradient(zt, y)) * float(tape.gradient(y, x)) for y in (y1, y2, y3))
    print(f"  dz/dx = {direct:.12f};  Σ dz/dyi · dyi/dx = {summed:.12f}")
    return {"accumulation": abs(direct - summed)}


def _memory(print) -> dict:  # noqa: A002
    print("A = A * rand(1000), 100 times, from a leaf that requires grad")
    A = cr.rand(1000, requires_grad=True)
    for _ in range(100):
        A = A * cr.rand(1000)
    kept = cr.memory.saved_bytes(A)
    with cr.no_grad():
        B = cr.rand(1000, requires_grad=True)
        for _ in range(100):
            B = B * cr.rand(1000)
    print(f"  kept for backward: {kept:,} bytes (100 × 8,000) ; under no_grad: "
          f"{cr.memory.saved_bytes(B)} bytes")
    return {"saved_bytes": kept}
