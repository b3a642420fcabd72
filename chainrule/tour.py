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


def run(print=print, out_dir: str | None = None) -> dict:  # noqa: A002
    """Print the tour; return its key numbers.

    >>> out = run(print=lambda *a: None)
    >>> bool(abs(out["minimum"] - (-1 + 19 ** 0.5) / 3) < 1e-12), out["index_assignment"]
    (True, True)
    >>> out["saved_bytes"], bool(out["accumulation"] < 1e-12)
    (800000, True)
    """
    print("chainrule tour: J(x) = x³ + x² − 6x + 1\n")
    print(f"{'x':>6} | {'dJ/dx (chainrule)':>18} | {'3x² + 2x − 6':>14} | {'error':>8}")
    print("-" * 57)
    dJ = cr.grad(J)
    for x in (-3.0, -1.5, 0.0, 1.0, 2.0, 3.0):
        ad, exact = dJ(x), dJ_exact(x)
        print(f"{x:6.2f} | {ad:18.12f} | {exact:14.12f} | {abs(ad - exact):8.1e}")

    X = np.linspace(-3, 3, 101)
    dY = cr.elementwise_grad(J)(X)
    err101 = float(np.max(np.abs(dY - dJ_exact(X))))
    print(f"\nOn the 101 points of [-3, 3] at once (elementwise_grad): max error {err101:.1e}")

    print("\nGradient descent x ← x − 0.1·J'(x) from x = 3:")
    print(f"{'step':>5} | {'x':>20} | {'J(x)':>20} | {'dJ/dx':>10}")
    x = 3.0
    for k in range(1, 21):
        x = x - 0.1 * dJ(x)
        if k in (1, 2, 5, 10, 20):
            print(f"{k:5d} | {x:20.16f} | {J(x):20.16f} | {dJ(x):10.2e}")
    exact_min = (-1 + 19**0.5) / 3
    print(f"\nMinimum at x = {x:.16f}; exact (−1 + √19)/3 = {exact_min:.16f}")

    t = cr.grad(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2))(7.0)
    z = cr.grad(lambda x: (x**2 * cnp.cos(x)) ** 2)(np.pi)
    print(f"\nd/dx tanh(4 cos² x) at x = 7: {t:.12f}")
    print(f"d/dx (x² cos x)² at x = π:    {z:.12f}  (4π³ = {4 * np.pi**3:.12f})")
    out = {"max_error_101": err101, "minimum": x, "tanh": t, "x2cos": z}
    out.update(_faces(print))
    print("\nvmap, jit, and the explanations (tables, graphs, SymPy) come in the next parts of")
    print("the tour as they land.")
    return out


def _faces(print) -> dict:  # noqa: A002
    """The same derivatives through the three other faces of the one engine."""
    from chainrule.scalar import Node, backward

    print("\nThe scalar engine of the notes (chainrule.scalar.Node):")
    xs = Node(2.0, "x")
    ys = xs**3 + xs**2 - xs * 6 + 1
    backward(ys)
    print(f"  f(2) = {ys.value}, f'(2) = {xs.grad}")

    print("\nPyTorch style: Y[:, 0] = J(X), Y[:, 1] = X² − 2, then Y.backward(gradient=dl)")
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

    print("\nTensorFlow style: the accumulation rule at x = 7 with a persistent tape")
    x = cr.Variable(7.0)
    with cr.GradientTape(persistent=True) as tape:
        y1, y2, y3 = x**2, cnp.cos(x), cnp.arctan(x)
        zt = y1 * y2 / y3
    direct = float(tape.gradient(zt, x))
    summed = sum(float(tape.gradient(zt, y)) * float(tape.gradient(y, x)) for y in (y1, y2, y3))
    print(f"  dz/dx = {direct:.12f};  Σ dz/dyi · dyi/dx = {summed:.12f}")

    print("\nMemory: A = A * rand(1000), 100 times, from a leaf that requires grad")
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
    return {"index_assignment": col_ok and sum_ok, "accumulation": abs(direct - summed),
            "saved_bytes": kept}
