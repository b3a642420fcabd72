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


def run(print=print) -> dict:  # noqa: A002
    """Print the tour; return its key numbers.

    >>> out = run(print=lambda *a: None)
    >>> bool(abs(out["minimum"] - (-1 + 19 ** 0.5) / 3) < 1e-12)
    True
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
    print("\nForward mode, vmap and jit, the imperative faces and the explanations come in")
    print("the next parts of the tour as they land.")
    return {"max_error_101": err101, "minimum": x, "tanh": t, "x2cos": z}
