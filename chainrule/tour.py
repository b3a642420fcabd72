"""The tour: the course notebooks' first computations, on chainrule (`chainrule tour`)."""

from __future__ import annotations

import builtins
import os
import sys

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


def run(print=print, out_dir: str | None = None, dot: bool = False) -> dict:  # noqa: A002
    """Print the tour (writing its figures into `out_dir`, if given); return its numbers.
    Section 9 shows where the pictures of the graphs were written; their Graphviz DOT text is
    printed with `dot`, or when no picture can be made (no folder, or no matplotlib).

    >>> out = run(print=lambda *a: None)
    >>> bool(abs(out["minimum"] - (-1 + 19 ** 0.5) / 3) < 1e-12), out["index_assignment"]
    (True, True)
    >>> out["saved_bytes"], bool(out["accumulation"] < 1e-12)
    (800000, True)
    """
    out: dict = {}
    figures = _Figures(out_dir, print, dot)

    def section(k: int) -> None:
        bar = "■" * (k + 1) + "□" * (len(SECTIONS) - k - 1)
        print(f"\n[{bar}] {k + 1}/{len(SECTIONS)}  {SECTIONS[k]}\n")

    print("The chainrule tour: the two course notebooks, on one engine")
    section(0)
    out.update(_three_ways(print, figures))
    section(1)
    out.update(_descent(print, figures))
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
        figures.closing()
    return out


class _Figures:
    """Writes the tour's pictures into a folder, when one is given and matplotlib is there."""

    def __init__(self, out_dir: str | None, print, dot: bool = False) -> None:  # noqa: A002
        self.dir, self.print, self.dot, self.written = out_dir, print, dot, []
        # in a terminal (printing to it), say how to open a picture
        self.tty = print is builtins.print and sys.stdout.isatty()
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)

    def path(self, name: str) -> str | None:
        if not self.dir:
            return None
        return os.path.join(self.dir, name)

    def save(self, name: str, make, what: str = "Wrote") -> bool:  # noqa: ANN001
        p = self.path(name)
        if p is None:
            return False
        try:
            make(p)
        except ImportError as err:
            self.print(f"  No {name}: {err}")
            return False
        self.written.append(p)
        self.print(f"  {what} {p}")
        return True

    def graphs(self) -> None:
        from chainrule.transparency.draw import draw

        d = draw(J, 2.0)
        self.print("The graph of J at x = 2: each step with its value and gradient, the forward "
                   "pass in black and the reverse sweep in red, dashed, each edge labelled with "
                   "its contribution to a gradient.")  # fmt: skip
        picture = self.save("graph_J.png", d.save, "The picture:")
        if picture:
            if self.tty:
                opener = {"darwin": "open", "win32": "start"}.get(sys.platform, "xdg-open")
                self.print(f"  To look at it: {opener} {self.path('graph_J.png')}")
        self.save("graph_x2cos.png", draw(lambda x: (x**2 * cnp.cos(x)) ** 2, np.pi).save)
        self.save("graph_J.svg", d.save)
        self.save("graph_J.dot", d.save)  # Graphviz's text: needs nothing installed
        if self.dot or not picture:
            why = "" if picture else " (no picture could be made)"
            self.print(f"\nThe same graph as Graphviz DOT text{why}; render it with "
                       "`dot -Tpng`:")  # fmt: skip
            self.print("  " + "\n  ".join(d.dot.splitlines()))

    def closing(self) -> None:
        """The files written, one per line."""
        if not self.written:
            self.print("\nNo figures were written (see above).")
            return
        self.print(f"\nFigures and graphs written into {self.dir}{os.sep}:")
        for p in self.written:
            self.print(f"  {os.path.basename(p)}")


def _three_ways(print, figures: _Figures) -> dict:  # noqa: A002
    print("The derivative of J(x) = x³ + x² − 6x + 1 on [-3, 3], three ways: symbolic, "
          "numerical and automatic")
    X = np.linspace(-3, 3, 101)
    try:
        sym = cr.to_sympy(J, "x")
        print(f"  Symbolic (SymPy, from chainrule's own rules): dJ/dx = {sym.gradient[0]}")
    except ImportError:
        print("  Symbolic: SymPy is not installed (pip install chainrule[sym])")
    for dx in (1e-2, 1e-3):
        fd = (J(X + dx) - J(X)) / dx
        print(f"  Numerical, forward differences, dx = {dx:g}: max error "
              f"{np.max(np.abs(fd - dJ_exact(X))):.1e}")  # fmt: skip
    dY = cr.elementwise_grad(J)(X)
    err101 = float(np.max(np.abs(dY - dJ_exact(X))))
    print(f"  Automatic (elementwise_grad on the 101 points at once): max error {err101:.1e}")
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
    ax.set_ylabel("J(x) and dJ/dx")
    ax.legend()
    ax.set_title("J(x) = x³ + x² − 6x + 1 and its derivative")
    fig.savefig(path, dpi=120)


def _descent(print, figures: _Figures) -> dict:  # noqa: A002
    from chainrule.progress import progress

    print("Gradient descent on J, x ← x − 0.1·J'(x), from x = 3:")
    print(f"{'step':>5} | {'x':>20} | {'J(x)':>20} | {'dJ/dx':>10}")
    dJ = cr.grad(J)
    x = 3.0
    # the tour shows a progress bar (on stderr, when it prints to the terminal)
    bar = progress(range(1, 21), desc="descent", enable=figures.tty)
    for k in bar:
        x = x - 0.1 * dJ(x)
        bar.log(J(x))
        if k in (1, 2, 5, 10, 20):
            print(f"{k:5d} | {x:20.16f} | {J(x):20.16f} | {dJ(x):10.2e}")
    exact_min = (-1 + 19**0.5) / 3
    print(f"\nMinimum at x = {x:.16f}; exact (−1 + √19)/3 = {exact_min:.16f}")
    figures.save("descent.png", lambda p: bar.curve.plot(p, title="J(x) along the descent"),
                 "The loss curve:")
    return {"minimum": x}


def _chain_rule(print) -> dict:  # noqa: A002
    print("The diamond z = (x² cos x)² at x = π, where the accumulation rule adds two paths:")
    e = cr.explain(lambda x: (x**2 * cnp.cos(x)) ** 2, np.pi)
    print(e)
    t = cr.grad(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2))(7.0)
    print(f"\nThe derivative of tanh(4 cos² x) at x = 7: {t:.12f}")
    print(f"The derivative of (x² cos x)² at x = π:    {float(e.gradient):.12f}  (4π³ = "
          f"{4 * np.pi**3:.12f})")  # fmt: skip
    d = cr.explain_gradient(lambda x: cnp.maximum(x, 0.0) * 3.0, -1.0)
    print(f"\nWhy is a gradient zero? {d.reason[:1].upper() + d.reason[1:]}")
    return {"tanh": t, "x2cos": float(e.gradient)}


def _jax_style(print) -> dict:  # noqa: A002
    print("The notebook's JAX cells: functions in, functions out.")
    f_of_x = lambda x: x**2  # noqa: E731
    xV = np.linspace(-5, 5, 100)
    f_of_xV, f_of_xV_dx = cr.vmap(f_of_x), cr.vmap(cr.grad(f_of_x))
    fx, dfx = f_of_xV(xV), f_of_xV_dx(xV)
    print("  With f_of_x = lambda x: x**2, vmap(f_of_x)(xV) and vmap(grad(f_of_x))(xV) on "
          "xV = linspace(-5, 5, 100):")
    print(f"    Values {fx[0]:.4g} {fx[1]:.4g} ... {fx[-1]:.4g}; derivatives {dfx[0]:.4g} "
          f"{dfx[1]:.4g} ... {dfx[-1]:.4g} (2x, exactly: {bool(np.array_equal(dfx, 2 * xV))})")
    try:
        cr.grad(f_of_x)(xV)
    except TypeError as err:
        print(f"  Calling grad(f_of_x)(xV) is refused, as in JAX: {str(err).split('. ')[0]}.")
    v, g = cr.value_and_grad(lambda x: x**2)(3.0)
    H = cr.hessian(lambda x: cnp.sum(x**3))(np.array([1.0, 2.0]))
    print(f"  Value and gradient of x² at 3: value_and_grad gives ({v}, {g}); the diagonal of "
          f"hessian(sum(x³)) at [1, 2]: {np.diag(H)} (forward over reverse)")  # fmt: skip
    t = cr.jvp(cnp.sin, (0.0,), (3.0,))[1]
    print(f"  Forward mode: jvp(sin, (0,), (3,)) = {t} (one pass, no graph kept)")
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((100, 100)) * 0.1
    x, y = rng.standard_normal(100), float(rng.standard_normal())

    def loss(theta, x, y):
        return cnp.mean((cnp.tanh(theta @ cnp.tanh(theta @ x)) - y) ** 2)

    loss_and_grad = cr.jit(cr.value_and_grad(loss))
    v, g = loss_and_grad(theta, x, y)
    same = bool(np.allclose(g, cr.grad(loss)(theta, x, y), rtol=1e-12, atol=0))
    print("  The notebook's jit cell: jit(value_and_grad(loss)) on Θ 100×100 gives the loss "
          f"{float(v):.6f} and dΘ of shape {g.shape} (as eager grad: {same}).")
    print("  What jit staged and compiled is the chain rule as a program: the forward pass, then "
          "the backward one.")
    print("  After the passes, dΘ's two outer products are one matrix product:")
    program = loss_and_grad.lower(theta, x, y).program
    for k, line in enumerate(str(program).splitlines(), 1):
        print(f"    {k:2d}  {line}")
    return {"vmap_grad": bool(np.array_equal(dfx, 2 * xV)), "jit": same}


def _scalar(print) -> dict:  # noqa: A002
    from chainrule.scalar import Node, backward

    xs = Node(2.0, "x")
    ys = xs**3 + xs**2 - xs * 6 + 1
    backward(ys)
    print(f"The scalar engine's Node(2.0, 'x') on J: J(2) = {ys.value}, J'(2) = {xs.grad}")
    y0 = Node(1.0, "y")
    y = y0
    for _ in range(100_000):
        y = y * 1.0001 + 0.0
    backward(y)
    print(f"A chain of 200,000 operations (no recursion limit): dy/dy0 = {y0.grad:.10g}, "
          f"1.0001**100000 = {1.0001**100_000:.10g}")  # fmt: skip
    return {}


def _torch_style(print) -> dict:  # noqa: A002
    print("Two columns, Y[:, 0] = J(X) and Y[:, 1] = X² − 2, then Y.backward(gradient=dl):")
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
    print(f"  The first column's gradient is 3x² + 2x − 6: {col_ok};  the two columns' gradients "
          f"add up to both at once: {sum_ok}")
    return {"index_assignment": col_ok and sum_ok}


def _tf_style(print) -> dict:  # noqa: A002
    print("The accumulation rule at x = 7, with a persistent tape:")
    x = cr.Variable(7.0)
    with cr.GradientTape(persistent=True) as tape:
        y1, y2, y3 = x**2, cnp.cos(x), cnp.arctan(x)
        zt = y1 * y2 / y3
    direct = float(tape.gradient(zt, x))
    summed = sum(float(tape.gradient(zt, y)) * float(tape.gradient(y, x)) for y in (y1, y2, y3))
    print(f"  The gradient dz/dx = {direct:.12f};  the sum Σ dz/dyi · dyi/dx = {summed:.12f}")
    return {"accumulation": abs(direct - summed)}


def _memory(print) -> dict:  # noqa: A002
    print("A leaf that requires grad, multiplied 100 times by rand(1000): A = A * rand(1000)")
    A = cr.rand(1000, requires_grad=True)
    for _ in range(100):
        A = A * cr.rand(1000)
    kept = cr.memory.saved_bytes(A)
    with cr.no_grad():
        B = cr.rand(1000, requires_grad=True)
        for _ in range(100):
            B = B * cr.rand(1000)
    print(f"  Kept for backward: {kept:,} bytes (100 × 8,000); under no_grad: "
          f"{cr.memory.saved_bytes(B)} bytes")
    return {"saved_bytes": kept}
