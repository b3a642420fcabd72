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
from chainrule.core.namespace import np_dtype, transfer
from chainrule.core.ops import build_index, has_arrays, move

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
        n = x.size if axis is None else _count(x.shape, axis)
        return np.add.reduce(x, axis, keepdims=keepdims) / n
    return np.mean(x, axis=axis, keepdims=keepdims)


def _index_add(x, y, *arrays, index):
    xp = xp_of(x, y)
    out = xp.array(x, dtype=xp.result_type(x, y), copy=True)  # writeable, even from a view
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


def integer_pow(x, y):
    """`x ** y` for a Python int `y`, by square and multiply: `y = 3` is ``(x*x)*x`` (the
    last product commutes), as PyTorch's `x ** 3`; `y < 0` the reciprocal, ``1/(x*x)`` for
    -2. Any array namespace (operators only); `y = 0` gives ones, even where x is NaN.

    >>> integer_pow(np.array([1.5, -2.0]), 3)
    array([ 3.375, -8.   ])
    """
    if y == 3:  # (the Tensor face's x ** 3, and its derivative's x ** 2: no loop)
        return x * x * x
    if y == 2:
        return x * x
    if y < 0 and getattr(x, "dtype", np.dtype(float)).kind in "biu":
        raise ValueError("integer_pow: integers to negative integer powers are not allowed")
    if y == 0:
        return x * 0 + 1 if not hasattr(x, "dtype") else xp_of(x).ones_like(x)
    n, acc, base = abs(y), None, x
    while n:
        if n & 1:
            acc = base if acc is None else acc * base
        n >>= 1
        if n:
            base = base * base
    if y < 0:
        return 1 / acc
    return acc * 1 if acc is x else acc  # (y = 1: a new array, never x itself)


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
    P.integer_pow_p:  integer_pow,
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
    P.device_put_p:   move,  # boxed when foreign: it runs inside transformations only
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


# --- on arrays of another namespace (core/namespace.py): the array API, with NumPy's dtypes ----
# Each row is fn(ns, *values, **params): `ns` is the operands' namespace and device (NumPy
# arrays among the operands were made its arrays already; Python scalars were not). NumPy's
# dtype rules come first: operands are cast to the dtypes of NumPy's loop, so a result has
# the dtype NumPy's would have.

xp_impl_rules: dict[P.Primitive, Any] = {}


def defxp(prim: P.Primitive, fn: Any) -> None:
    """Register `prim`'s implementation on another namespace: ``fn(ns, *values, **params)``.

    >>> import array_api_strict as xp
    >>> from chainrule.core.namespace import Namespace
    >>> P.sin_p.xp_impl(Namespace(xp, None), xp.asarray([0.0]))
    Array([0.], dtype=array_api_strict.float64)
    """
    xp_impl_rules[prim] = fn
    prim.xp_impl = fn


def _stand_in(ns: Any, x: Any) -> Any:
    """What NumPy's dtype resolution sees for `x`: a Python scalar's type (weak), else a
    dtype."""
    t = type(x)
    if t in (int, float, complex):
        return t
    if t is bool:
        return np.dtype(bool)
    return np_dtype(x.dtype, ns.xp)


def _result_type(ns: Any, *xs: Any) -> np.dtype:
    """NumPy's result dtype of `xs` (Python scalars weakly typed, as NumPy 2 has them)."""
    return np.result_type(*(x if type(x) in (bool, int, float, complex) else
                            np_dtype(x.dtype, ns.xp) for x in xs))  # fmt: skip


_LOOPS: dict = {}


def _cast(ns: Any, xs: tuple, dtypes: Any) -> list:
    """`xs` as arrays of the namespace in `dtypes`."""
    return [ns.astype(x, d) if hasattr(x, "dtype") and not isinstance(x, np.generic)
            else ns.asarray(x, d) for x, d in zip(xs, dtypes)]  # fmt: skip


def _loop(ns: Any, ufunc: Any, xs: tuple) -> tuple:
    """The dtypes of NumPy's loop for `ufunc` on `xs`: (inputs..., outputs...)."""
    key = (ufunc, *(_stand_in(ns, x) for x in xs))
    r = _LOOPS.get(key)
    if r is None:
        if isinstance(ufunc, np.ufunc):
            r = ufunc.resolve_dtypes(key[1:] + (None,) * ufunc.nout)
        else:  # np.real, np.imag, np.sinc are functions: an operand keeps its dtype, but
            # integers and booleans are computed as the floats of NumPy's result
            out = np.asarray(ufunc(*(np.zeros(1, k) if isinstance(k, np.dtype) else k(0)
                                     for k in key[1:]))).dtype  # fmt: skip
            r = tuple(out if out.kind in "fc" and np.dtype(k).kind in "biu" else np.dtype(k)
                      for k in key[1:]) + (out,)  # fmt: skip
        _LOOPS[key] = r
    return r


def _ew(ufunc: Any, fn: Any) -> Any:
    """The elementwise `fn(xp, *arrays)` with NumPy's dtype rules (`ufunc`'s loop)."""

    def impl(ns, *xs):
        return fn(ns.xp, *_cast(ns, xs, _loop(ns, ufunc, xs)[:len(xs)]))

    return impl


def _array_api(name: str) -> Any:
    """The array-API function `name` of the namespace."""
    return lambda xp, *xs: getattr(xp, name)(*xs)


def _real_part(xp, x):
    return xp.real(x) if xp.isdtype(x.dtype, "complex floating") else x


def _imag_part(xp, x):
    return xp.imag(x) if xp.isdtype(x.dtype, "complex floating") else xp.zeros_like(x)


def _conj(xp, x):
    return xp.conj(x) if xp.isdtype(x.dtype, "complex floating") else x


def _sinc(xp, x):
    y = x * np.pi
    zero = y == 0
    return xp.where(zero, xp.ones_like(y), xp.sin(y) / xp.where(zero, xp.ones_like(y), y))


def _truth(xp, x):
    """`x` as booleans (NumPy's logical functions take numbers too: nonzero is true)."""
    return x if xp.isdtype(x.dtype, "bool") else x != 0


def _fminmax(pick: str) -> Any:
    def fn(xp, x, y):
        return xp.where(xp.isnan(y), x, xp.where(xp.isnan(x), y, getattr(xp, pick)(x, y)))

    return fn


_LN2 = float(np.log(2.0))

# fmt: off
_XP_EW = {  # elementwise rows that are not a single array-API function of the same operands
    "real": _real_part, "imag": _imag_part, "conj": _conj, "sinc": _sinc,
    "exp2": lambda xp, x: xp.pow(xp.full_like(x, 2), x),
    "cbrt": lambda xp, x: xp.sign(x) * xp.abs(x) ** (1 / 3),
    "deg2rad": lambda xp, x: x * (np.pi / 180), "rad2deg": lambda xp, x: x * (180 / np.pi),
    "fmax": _fminmax("maximum"), "fmin": _fminmax("minimum"),
    "logaddexp2": lambda xp, x, y: xp.logaddexp(x * _LN2, y * _LN2) / _LN2,
    "fmod": lambda xp, x, y: xp.sign(x) * xp.remainder(xp.abs(x), xp.abs(y)),
    "logical_not": lambda xp, x: xp.logical_not(_truth(xp, x)),
    "logical_and": lambda xp, x, y: xp.logical_and(_truth(xp, x), _truth(xp, y)),
    "logical_or": lambda xp, x, y: xp.logical_or(_truth(xp, x), _truth(xp, y)),
    "logical_xor": lambda xp, x, y: xp.logical_xor(_truth(xp, x), _truth(xp, y)),
}
# fmt: on
for _name, _f in _UFUNCS.items():
    _prim = getattr(P, _name + "_p")
    defxp(_prim, _ew(_f, _XP_EW.get(_name) or _array_api(_prim.xp_name)))


def _round(ns, x, decimals=0):
    xp = ns.xp
    (x,) = _cast(ns, (x,), _loop(ns, np.rint, (x,))[:1])
    if decimals == 0:
        return xp.round(x)
    if decimals > 0:
        f = 10.0**decimals
        return xp.round(x * f) / f
    f = 10.0**-decimals
    return xp.round(x / f) * f


def _where(ns, c, x, y):
    c = ns.asarray(c) if not hasattr(c, "dtype") else c
    if np_dtype(c.dtype, ns.xp) != np.bool_:
        c = c != 0
    dt = _result_type(ns, x, y)
    x, y = _cast(ns, (x, y), (dt, dt))
    return ns.xp.where(c, x, y)


def _clip(ns, x, lo, hi):
    return _XP_MINIMUM(ns, _XP_MAXIMUM(ns, x, lo), hi)


_XP_MAXIMUM, _XP_MINIMUM = xp_impl_rules[P.maximum_p], xp_impl_rules[P.minimum_p]


def _reduce_dtype(ns, ufunc, x):
    """The dtype NumPy's reduction computes in: small integers and booleans summed as the
    platform's integer."""
    return ufunc.reduce(np.empty((1,), np_dtype(x.dtype, ns.xp))).dtype


def _reduction(ufunc: Any, name: str) -> Any:
    def fn(ns, x, axis, keepdims):
        x = ns.asarray(x) if not hasattr(x, "shape") else x
        x = ns.astype(x, _reduce_dtype(ns, ufunc, x))
        return getattr(ns.xp, name)(x, axis=axis, keepdims=keepdims)

    return fn


def _mean(ns, x, axis, keepdims):
    dt = np_dtype(x.dtype, ns.xp)
    if dt.kind in "biu":
        x = ns.astype(x, np.float64)
    return ns.xp.mean(x, axis=axis, keepdims=keepdims)


def _cumulative(ufunc: Any, name: str) -> Any:
    def fn(ns, x, axis):
        x = ns.astype(x, _reduce_dtype(ns, ufunc, x))
        return getattr(ns.xp, name)(x, axis=axis)

    return fn


def _concatenate(ns, *xs, axis, sizes):
    dt = _result_type(ns, *xs)
    return ns.xp.concat(_cast(ns, xs, (dt,) * len(xs)), axis=axis)


def _pad(ns, x, pad_width):
    shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pad_width))
    out = ns.zeros(shape, np_dtype(x.dtype, ns.xp))
    out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pad_width)) + (...,)] = x
    return out


def _matmul(ns, x, y):
    dt = _result_type(ns, x, y)
    return ns.xp.matmul(*_cast(ns, (x, y), (dt, dt)))


# --- indexing: basic indices as the namespace has them, integer arrays by flat positions --------


def _basic(idx: tuple, shape: tuple) -> tuple:
    """A basic index (ints, slices, None, Ellipsis) in the form the array API specifies: slices
    within bounds, an Ellipsis closing it."""
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    out, dim = [], 0
    for i in idx:
        if i is Ellipsis:
            out.append(i)
            dim += len(shape) - n_real
        elif i is None:
            out.append(i)
        else:
            if type(i) is slice:
                start, stop, step = i.indices(shape[dim])
                if step < 0 and stop < 0:
                    stop = None
                i = slice(start, stop, step)
            out.append(i)
            dim += 1
    if not any(i is Ellipsis for i in out):
        out.append(Ellipsis)
    return tuple(out)


def _expand(idx: tuple, ndim: int) -> list:
    """The index with its Ellipsis (explicit or implied at the end) as full slices."""
    n_real = sum(1 for i in idx if i is not None and i is not Ellipsis)
    fill = [slice(None)] * (ndim - n_real)
    out: list = []
    for i in idx:
        out += fill if i is Ellipsis else [i]
    return out if any(i is Ellipsis for i in idx) else out + fill


def _advanced(ns, x, idx: tuple) -> Any:
    """`x[idx]` with NumPy's rules for integer arrays (and ints among them), by flat positions
    and `take`."""
    xp = ns.xp
    items = _expand(idx, x.ndim)
    basic, adv, dims, dim = [], [], [], 0  # adv: (position among the result's dims, index)
    for i in items:
        if i is None:
            basic.append(None)
            dim += 1
        elif type(i) is slice:
            basic.append(i)
            dim += 1
        else:  # an int or an integer array: advanced
            basic.append(slice(None))
            adv.append(i)
            dims.append(dim)
            dim += 1
    y = x[_basic(tuple(basic), x.shape)]
    sizes = [y.shape[d] for d in dims]
    arrays = [a if hasattr(a, "shape") else ns.asarray(a, np.intp) for a in adv]
    arrays = xp.broadcast_arrays(*[ns.astype(a, np.int64) for a in arrays])
    b = tuple(arrays[0].shape)
    flat = None
    for a, n in zip(arrays, sizes):  # row-major flat position among the indexed dims
        a = xp.where(a < 0, a + n, a)
        flat = a if flat is None else flat * n + a
    rest = [d for d in range(y.ndim) if d not in dims]
    moved = xp.permute_dims(y, tuple(dims) + tuple(rest)) if dims != list(range(len(dims))) \
        else y  # fmt: skip
    rest_shape = tuple(y.shape[d] for d in rest)
    moved = xp.reshape(moved, (int(np.prod(sizes)),) + rest_shape)
    out = xp.take(moved, xp.reshape(flat, (-1,)), axis=0)
    out = xp.reshape(out, b + rest_shape)
    if dims == list(range(dims[0], dims[0] + len(dims))) and dims[0] > 0:  # adjacent: in place
        k, at = len(b), dims[0]
        order = tuple(range(k, k + at)) + tuple(range(k)) + tuple(range(k + at, out.ndim))
        out = xp.permute_dims(out, order)
    return out


def _getitem(ns, x, *arrays, index):
    idx = build_index(index, arrays)
    if not has_arrays(index):
        return x[_basic(idx, x.shape)]
    return _advanced(ns, x, idx)


def _positions(ns, shape: tuple, arrays: tuple, index: tuple) -> Any:
    """The flat positions in an array of `shape` of the elements `index` selects."""
    iota = ns.xp.reshape(ns.arange(int(np.prod(shape))), shape)
    return _getitem(ns, iota, *arrays, index=index)


#: elements of the one-hot matrix a scatter builds at once on a namespace without one
SCATTER_CHUNK = 1 << 24


def _scatter(ns, x, y, arrays, index, add: bool):
    """`x` with `y` added (`add`) or written at `index`: a slice assignment for a basic index;
    for integer arrays, the namespace's own scatter (``add.at``, ``maximum.at``) where it has
    one (CuPy), else the one-hot matrix of the selected flat positions, built in blocks of at
    most `SCATTER_CHUNK` elements (the array API has no scatter). Repeated positions
    accumulate, or the last write wins, as in NumPy."""
    xp = ns.xp
    dt = _result_type(ns, x, y)
    x = ns.astype(x, dt) if hasattr(x, "shape") else ns.asarray(x, dt)
    y = ns.astype(y, dt) if hasattr(y, "shape") else ns.asarray(y, dt)
    if not has_arrays(index):  # each element once: a slice assignment (without the new
        out = xp.asarray(x, copy=True)  # axes, which the array API does not assign through)
        idx = _basic(build_index(index, arrays), tuple(x.shape))
        sel = tuple(out[idx].shape)
        idx = tuple(i for i in idx if i is not None)
        y = xp.reshape(xp.broadcast_to(y, sel), tuple(out[idx].shape))
        out[idx] = out[idx] + y if add else y
        return out
    pos = _positions(ns, tuple(x.shape), arrays, index)
    vals = xp.reshape(xp.broadcast_to(y, tuple(pos.shape)), (-1,))
    pos = xp.reshape(pos, (-1,))
    flat = xp.reshape(xp.asarray(x, copy=True), (-1,))
    at = getattr(getattr(xp, "add" if add else "maximum", None), "at", None)
    if at is not None:  # the namespace scatters (CuPy's ufunc.at): no one-hot matrix
        if add:
            at(flat, pos, vals)
        else:  # the last write wins, as NumPy's: the latest order at each position
            last = ns.zeros(tuple(flat.shape), np.dtype(np.int64))
            at(last, pos, ns.arange(int(pos.shape[0])) + 1)
            flat = xp.where(last > 0, xp.take(vals, xp.where(last > 0, last - 1, 0), axis=0),
                            flat)  # fmt: skip
        return xp.reshape(flat, tuple(x.shape))
    size, n = int(flat.shape[0]), int(pos.shape[0])
    step = max(1, SCATTER_CHUNK // max(size, 1))  # selected positions per block: the block's
    iota = xp.reshape(ns.arange(size), (1, -1))  # one-hot matrix stays bounded
    wdt = dt if dt.kind in "fciu" else np.dtype(np.int64)
    last = None
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        onehot = xp.reshape(pos[lo:hi], (-1, 1)) == iota
        if add:
            w = ns.astype(onehot, wdt)
            part = xp.matmul(xp.matrix_transpose(w), ns.astype(vals[lo:hi], wdt))
            flat = flat + ns.astype(part, dt)
        else:
            order = xp.reshape(ns.arange(hi - lo) + (lo + 1), (-1, 1))
            block = xp.max(xp.where(onehot, order, 0), axis=0)
            last = block if last is None else xp.maximum(last, block)
    if not add and last is not None:
        picked = xp.take(vals, xp.where(last > 0, last - 1, 0), axis=0)
        flat = xp.where(last > 0, picked, flat)
    return xp.reshape(flat, tuple(x.shape))


def _eigh(ns, x, UPLO):
    xp = ns.xp
    x = _floating(ns, x)
    tri, strict = (xp.tril(x), xp.tril(x, k=-1)) if UPLO == "L" else (xp.triu(x), xp.triu(x, k=1))
    return tuple(xp.linalg.eigh(tri + _conj(xp, xp.matrix_transpose(strict))))


def _floating(ns, x):
    """`x` in the floating dtype NumPy's linear algebra computes it in."""
    dt = np_dtype(x.dtype, ns.xp)
    return ns.astype(x, np.float64) if dt.kind in "biu" else x


def _linalg(name: str, *, several: bool = False, **kw: Any) -> Any:
    def fn(ns, *xs):
        la = getattr(ns.xp, "linalg", None)
        if la is None:
            raise NotImplementedError(f"{ns.name} has no linalg extension: {name} needs it")
        dt = _result_type(ns, *xs)
        dt = np.result_type(dt, np.float64) if dt.kind in "biu" else dt
        out = getattr(la, name)(*_cast(ns, xs, (dt,) * len(xs)), **kw)
        return tuple(out) if several else out

    return fn


def _astype_xp(ns, x, dtype):
    """A new array, as NumPy's ``x.astype(dtype)`` (a copy even to the same dtype: a Tensor's
    `clone` is one)."""
    if not hasattr(x, "shape"):
        return ns.asarray(x, dtype)
    return ns.xp.astype(x, ns.dtype(np.dtype(dtype)), copy=True)


# fmt: off
for _p, _f in {
    P.round_p:        _round,
    P.integer_pow_p:  lambda ns, x, y: integer_pow(x, y),
    P.argmax_p:       lambda ns, x, axis, keepdims: ns.xp.argmax(x, axis=axis, keepdims=keepdims),
    P.argmin_p:       lambda ns, x, axis, keepdims: ns.xp.argmin(x, axis=axis, keepdims=keepdims),
    P.argsort_p:      lambda ns, x, axis, kind: ns.xp.argsort(x, axis=axis, stable=True),
    P.any_p:          lambda ns, x, axis, keepdims: ns.xp.any(x, axis=axis, keepdims=keepdims),
    P.all_p:          lambda ns, x, axis, keepdims: ns.xp.all(x, axis=axis, keepdims=keepdims),
    P.nonzero_p:      lambda ns, x: tuple(ns.xp.nonzero(x)),
    P.where_p:        _where,
    P.clip_p:         _clip,
    P.astype_p:       _astype_xp,
    P.stop_gradient_p: lambda ns, x, reason=None: x,
    P.device_put_p:   lambda ns, x, device, src: transfer(x, device),
    P.sum_p:          _reduction(np.add, "sum"),
    P.mean_p:         _mean,
    P.prod_p:         _reduction(np.multiply, "prod"),
    P.amax_p:         lambda ns, x, axis, keepdims: ns.xp.max(x, axis=axis, keepdims=keepdims),
    P.amin_p:         lambda ns, x, axis, keepdims: ns.xp.min(x, axis=axis, keepdims=keepdims),
    P.cumsum_p:       _cumulative(np.add, "cumulative_sum"),
    P.cumprod_p:      _cumulative(np.multiply, "cumulative_prod"),
    P.reshape_p:      lambda ns, x, shape: ns.xp.reshape(x, shape),
    P.transpose_p:    lambda ns, x, axes: ns.xp.permute_dims(x, axes),
    P.broadcast_to_p: lambda ns, x, shape: ns.xp.broadcast_to(
                          x if hasattr(x, "shape") else ns.asarray(x), shape),
    P.concatenate_p:  _concatenate,
    P.pad_p:          _pad,
    P.getitem_p:      _getitem,
    P.index_add_p:    lambda ns, x, y, *arrays, index: _scatter(ns, x, y, arrays, index, True),
    P.index_set_p:    lambda ns, x, y, *arrays, index: _scatter(ns, x, y, arrays, index, False),
    P.matmul_p:       _matmul,
    P.inv_p:          _linalg("inv"),
    P.det_p:          _linalg("det"),
    P.slogdet_p:      _linalg("slogdet", several=True),
    P.solve_p:        _linalg("solve"),
    P.cholesky_p:     _linalg("cholesky"),
    P.eigh_p:         _eigh,
    P.svd_p:          _linalg("svd", several=True, full_matrices=False),
    P.qr_p:           _linalg("qr", several=True, mode="reduced"),
    P.psum_p:         lambda ns, x, axis_name: _psum(x, axis_name),
    P.pmax_p:         lambda ns, x, axis_name: _pmax(x, axis_name),
    P.all_gather_p:   lambda ns, x, axis_name: _all_gather(x, axis_name),
    P.axis_index_p:   lambda ns, axis_name: _axis_index(axis_name),
}.items():
    defxp(_p, _f)
# fmt: on


def defxp_composition(prim: P.Primitive) -> None:
    """A primitive that carries functions or programs runs their primitives (each on the
    namespace): its implementation as it is.

    >>> P.checkpoint_p.xp, P.checkpoint_p.xp_impl is not None
    ('composition', True)
    """
    defxp(prim, lambda ns, *xs, **params: prim.impl(*xs, **params))


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
