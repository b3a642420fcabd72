"""Central finite differences, for the tests that check a gradient against them (a module of
its own, imported by each: ``conftest`` names more than one file here)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_gradient(f: Callable, x, eps: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar function `f` at `x` (made a float64 array), element by
    element: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), an error of O(eps²)."""
    x = np.array(x, dtype=float)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g
