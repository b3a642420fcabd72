"""Evaluation rules: how each primitive computes, on arrays that speak NumPy's protocols.

Rules call NumPy's functions and ufuncs, which dispatch through ``__array_ufunc__`` and
``__array_function__``: the same table serves CuPy arrays.
"""

import math

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.trace import impl_rules

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
    "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax,
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
    impl_rules[getattr(P, _name + "_p")] = _f


def power(x, y):
    """`x ** y`; small integer exponents by multiplication (as PyTorch and JAX do: within an
    ulp or two of `numpy.power`, and several times faster)."""
    if type(y) is int and 3 <= y <= 16:
        acc = None
        while y:
            if y & 1:
                acc = x if acc is None else acc * x
            y >>= 1
            if y:
                x = x * x
        return acc
    return np.power(x, y)


def count(shape: tuple, axis: tuple | None) -> int:
    """How many elements a reduction over `axis` (normalised, or None) of `shape` combines."""
    return math.prod(shape) if axis is None else math.prod(shape[i] for i in axis)


def _index_is_basic(index) -> bool:
    """True when `index` selects each element at most once (no integer arrays)."""
    items = index if type(index) is tuple else (index,)
    for i in items:
        if isinstance(i, (list, np.ndarray)) and np.asarray(i).dtype != bool:
            return False
    return True


def _index_add(x, index, y):
    out = np.array(np.broadcast_to(x, np.shape(x)), dtype=np.result_type(x, y), copy=True)
    if _index_is_basic(index):
        out[index] += y
    else:
        np.add.at(out, index, y)
    return out


def _index_set(x, index, y):
    out = np.array(x, dtype=np.result_type(x, y), copy=True)
    out[index] = y
    return out


def _astype(x, dtype):
    return x.astype(dtype) if hasattr(x, "astype") else np.asarray(x, dtype)


# fmt: off
impl_rules.update({
    P.pow_p:          power,
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
    P.sum_p:          lambda x, axis, keepdims: np.add.reduce(x, axis, keepdims=keepdims),
    P.mean_p:         lambda x, axis, keepdims:
                          np.add.reduce(x, axis, keepdims=keepdims) / count(x.shape, axis),
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
    P.getitem_p:      lambda x, index: x[index],
    P.index_add_p:    _index_add,
    P.index_set_p:    _index_set,
    P.matmul_p:       np.matmul,
    P.einsum_p:       lambda *xs, subscripts: np.einsum(subscripts, *xs, optimize=len(xs) > 1),
    P.inv_p:          np.linalg.inv,
    P.det_p:          np.linalg.det,
    P.slogdet_p:      lambda x: tuple(np.linalg.slogdet(x)),
    P.solve_p:        np.linalg.solve,
    P.cholesky_p:     np.linalg.cholesky,
    P.eigh_p:         lambda x, UPLO: tuple(np.linalg.eigh(x, UPLO)),
    P.svd_p:          lambda x: tuple(np.linalg.svd(x, full_matrices=False)),
    P.qr_p:           lambda x: tuple(np.linalg.qr(x, mode="reduced")),
    P.stop_gradient_p: lambda x, reason=None: x,
})
# fmt: on
