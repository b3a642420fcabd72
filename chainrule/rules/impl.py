"""Evaluation rules: how each primitive computes, on arrays of the operands' namespace.

The rules call NumPy's functions and ufuncs, which dispatch through ``__array_ufunc__`` and
``__array_function__`` to other array libraries; arrays they create come from the operands'
namespace (`xp`). Each rule computes exactly what the plain NumPy call computes: a traced
primal equals the plain one bit for bit (``tests/test_rules.py`` checks every primitive).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.core import axes, config
from chainrule.core import primitives as P
from chainrule.core.ops import build_index, has_arrays

#: impl_rules[prim](*values, **params) -> value(s)
impl_rules: dict[P.Primitive, Any] = {}


def defimpl(prim: P.Primitive, fn: Any) -> None:
    impl_rules[prim] = fn
    prim.impl = checked(prim, fn) if config.debug_nans else fn


def xp_of(*xs: Any) -> Any:
    """The array namespace of the operands (NumPy unless one comes from another library)."""
    for x in xs:
        ns = getattr(x, "__array_namespace__", None)
        if ns is not None and type(x) is not np.ndarray:
            return ns()
    return np


# fmt: off
_UFUNCS = {
    "neg": np.negative, "exp": np.exp, "expm1": np.expm1, "exp2": np.exp2, "log": np.log,
    "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt, "cbrt": np.cbrt,
    "square": np.square, "reciprocal": np.reciprocal, "abs": np.absolute, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "arcsinh": np.arcsinh, "arccosh": np.arccosh, "arctanh": np.arctanh, "sinc": np.sinc,
    "real": np.real, "imag": np.imag, "conj": np.conjugate, "deg2rad": np.deg2rad,
    "rad2deg": np.rad2deg,
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax,
    "fmin": np.fmin, "arctan2": np.arctan2, "hypot": np.hypot, "logaddexp": np.logaddexp,
    "logaddexp2": np.logaddexp2, "mod": np.remainder, "fmod": np.fmod,
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "rint": np.rint,
    "floor_divide": np.floor_divide, "isnan": np.isnan, "isinf": np.isinf,
    "isfinite": np.isfinite, "signbit": np.signbit, "equal": np.equal,
    "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor, "logical_not": np.logical_not,
}
# fmt: on
for _name, _f in _UFUNCS.items():
    defimpl(getattr(P, _name + "_p"), _f)


def _count(shape: tuple, axis: tuple | None) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


def _mean_fast(x, axis, keepdims):
    if x.dtype.kind in "fc" and x.dtype.itemsize >= 4 and x.size:
        return np.add.reduce(x, axis, keepdims=keepdims) / _count(x.shape, axis)
    return np.mean(x, axis=axis, keepdims=keepdims)


def _index_add(x, y, *arrays, index):
    xp = xp_of(x, y)
    out = xp.array(xp.broadcast_to(x, xp.shape(x)), dtype=xp.result_type(x, y), copy=True)
    idx = build_index(index, arrays)
    if not has_arrays(index):  # each element selected once
        out[idx] += y
    else:
        np.add.at(out, idx, y)
    return out


def _index_set(x, y, *arrays, index):
    xp = xp_of(x, y)
    out = xp.array(x, dtype=xp.result_type(x, y), copy=True)
    out[build_index(index, arrays)] = y
    return out


def _astype(x, dtype):
    return x.astype(dtype) if hasattr(x, "astype") else np.asarray(x, dtype)


# --- collectives: values that do not vary along the axis (varying ones are vmap's) -----------


def _psum(x, axis_name):
    for name in axes.names(axis_name):
        x = axes.lookup(name).handler.psum(x)
    return x


def _pmax(x, axis_name):
    for name in axes.names(axis_name):
        x = axes.lookup(name).handler.pmax(x)
    return x


def _all_gather(x, axis_name):
    return axes.lookup(axis_name).handler.all_gather(x)


def _axis_index(axis_name):
    return axes.lookup(axis_name).handler.axis_index()


# fmt: off
for _p, _f in {
    P.round_p:        lambda x, decimals=0: np.round(x, decimals),
    P.argmax_p:       lambda x, axis, keepdims: np.argmax(x, axis=axis, keepdims=keepdims),
    P.argmin_p:       lambda x, axis, keepdims: np.argmin(x, axis=axis, keepdims=keepdims),
    P.argsort_p:      lambda x, axis, kind: np.argsort(x, axis=axis, kind=kind),
    P.any_p:          lambda x, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims),
    P.all_p:          lambda x, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims),
    P.nonzero_p:      np.nonzero,
    P.where_p:        np.where,
    P.clip_p:         np.clip,
    P.astype_p:       _astype,
    P.stop_gradient_p: lambda x, reason=None: x,
    P.sum_p:          lambda x, axis, keepdims: np.add.reduce(x, axis, keepdims=keepdims),
    P.mean_p:         _mean_fast,
    P.prod_p:         lambda x, axis, keepdims: np.multiply.reduce(x, axis, keepdims=keepdims),
    P.amax_p:         lambda x, axis, keepdims: np.maximum.reduce(x, axis, keepdims=keepdims),
    P.amin_p:         lambda x, axis, keepdims: np.minimum.reduce(x, axis, keepdims=keepdims),
    P.cumsum_p:       lambda x, axis: np.cumsum(x, axis),
    P.cumprod_p:      lambda x, axis: np.cumprod(x, axis),
    P.reshape_p:      lambda x, shape: np.reshape(x, shape),
    P.transpose_p:    lambda x, axes: np.transpose(x, axes),
    P.broadcast_to_p: lambda x, shape: np.broadcast_to(x, shape),
    P.concatenate_p:  lambda *xs, axis, sizes: np.concatenate(xs, axis),
    P.pad_p:          lambda x, pad_width: np.pad(x, pad_width),
    P.getitem_p:      lambda x, *arrays, index: x[build_index(index, arrays)],
    P.index_add_p:    _index_add,
    P.index_set_p:    _index_set,
    P.matmul_p:       np.matmul,
    P.einsum_p:       lambda *xs, subscripts, optimize: np.einsum(subscripts, *xs,
                                                                  optimize=optimize),
    P.inv_p:          np.linalg.inv,
    P.det_p:          np.linalg.det,
    P.slogdet_p:      lambda x: tuple(np.linalg.slogdet(x)),
    P.solve_p:        np.linalg.solve,
    P.cholesky_p:     np.linalg.cholesky,
    P.eigh_p:         lambda x, UPLO: tuple(np.linalg.eigh(x, UPLO)),
    P.svd_p:          lambda x: tuple(np.linalg.svd(x, full_matrices=False)),
    P.qr_p:           lambda x: tuple(np.linalg.qr(x, mode="reduced")),
    P.eig_p:          lambda x: tuple(np.asarray(a, np.result_type(a, np.complex64))
                                      for a in np.linalg.eig(x)),
    P.psum_p:         _psum,
    P.pmax_p:         _pmax,
    P.all_gather_p:   _all_gather,
    P.axis_index_p:   _axis_index,
}.items():
    defimpl(_p, _f)
# fmt: on


# --- debug_nans: every implementation checks its results while the switch is on -------------


def _has_nan(x: Any) -> bool:
    if isinstance(x, (tuple, list)):
        return any(_has_nan(v) for v in x)
    dt = getattr(x, "dtype", None)
    if dt is None:
        return isinstance(x, (float, complex)) and x != x
    return dt.kind in "fc" and bool(np.isnan(x).any())


def nan_error(prim: P.Primitive, where: str) -> FloatingPointError:
    """The error of debug_nans: `prim` made a NaN from operands that had none."""
    return FloatingPointError(
        f"debug_nans: {prim} produced a NaN from operands without one"
        f"{', at ' + where if where else ''} (cr.config.update('debug_nans', False) turns "
        "the check off)"
    )


def checked(prim: P.Primitive, fn: Any) -> Any:
    """`fn` (an implementation) raising `nan_error` when it makes a NaN."""

    def check(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        if _has_nan(out) and not _has_nan(args):
            from chainrule.core.errors import where

            raise nan_error(prim, where())
        return out

    check.checked = fn
    return check


def _debug_nans(on: bool) -> None:
    for prim, fn in impl_rules.items():
        prim.impl = checked(prim, fn) if on else fn


config.on_change("debug_nans", _debug_nans)
