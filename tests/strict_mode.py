"""Running chainrule on `array_api_strict` arrays that live on ``Device("device1")``, where
conversion to NumPy is refused: any hidden NumPy call on them raises instead of converting
silently (on the default device Python 3.11 would convert). Used by tests/test_namespaces.py.

- `to_strict(tree)`: NumPy arrays and NumPy scalars of a pytree as strict arrays on device1
  (Python scalars stay: they are weakly typed);
- `to_numpy(tree)`: strict arrays back to NumPy, through the default device (tests only);
- `check_strict(got, want, exact)`: every leaf of `got` is a strict array on device1 (or a
  Python scalar where `want` has one), with `want`'s shape and dtype and equal values (bit for
  bit when `exact`, else to 1e-10 relative).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

xp = pytest.importorskip("array_api_strict")

import chainrule as cr  # noqa: E402

DEVICE = xp.Device("device1")
DEVICE2 = xp.Device("device2")
CPU = xp.Device("CPU_DEVICE")
Array = type(xp.asarray(0.0))


def to_strict(tree: Any, device: Any = DEVICE) -> Any:
    """NumPy arrays and scalars of `tree` as strict arrays on `device`."""
    return cr.tree_util.tree_map(
        lambda v: xp.asarray(v, device=device) if isinstance(v, (np.ndarray, np.generic)) else v,
        tree,
    )


def to_numpy(tree: Any) -> Any:
    """Strict arrays of `tree` as NumPy arrays (through the default device)."""
    return cr.tree_util.tree_map(
        lambda v: np.asarray(v.to_device(CPU)) if isinstance(v, Array) else v, tree
    )


def on_device1(x: Any) -> bool:
    return isinstance(x, Array) and x.device == DEVICE


def check_strict(got: Any, want: Any, exact: bool = False, rtol: float = 1e-10) -> None:
    """`got` (from strict inputs) against `want` (the same computation on NumPy inputs)."""
    g_leaves, g_tree = cr.tree_util.tree_flatten(got)
    w_leaves, w_tree = cr.tree_util.tree_flatten(want)
    assert g_tree == w_tree, (g_tree, w_tree)
    for g, w in zip(g_leaves, w_leaves):
        if isinstance(w, (bool, int, float, complex)) and not isinstance(g, Array):
            assert g == w or (g != g and w != w), (g, w)
            continue
        assert on_device1(g), f"expected a strict array on device1, got {type(g).__name__}: {g!r}"
        a = np.asarray(g.to_device(CPU))
        w = np.asarray(w)
        assert a.shape == w.shape, (a.shape, w.shape)
        assert a.dtype == w.dtype, (a.dtype, w.dtype)
        if exact:
            np.testing.assert_array_equal(a, w, strict=True)
        else:
            np.testing.assert_allclose(a, w, rtol=rtol, atol=rtol)
