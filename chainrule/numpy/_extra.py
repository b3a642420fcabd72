"""More of NumPy: functions composed of the core's (see `chainrule.numpy`).

Every function here has NumPy's name and signature. On plain data it calls NumPy and returns
exactly NumPy's result; on traced values (tracers, Tensors, lists holding them) it composes the
functions of `chainrule.core.ops`, so it is differentiable in reverse and forward mode and
batches under `vmap` without rules of its own. Integer-valued results carry no gradient.

Where NumPy's result depends on the data in a way no composition can express branch-free
(`partition`'s arrangement, the shape of `unique`, leading zeros that `polymul` trims), the
function uses the concrete values when the transformation has them (`grad`, `jvp`, Tensors) and
otherwise (`vmap`, `eval_shape`) falls back to a documented equivalent or raises
`ConcretizationError`. Each docstring says which.

The binary functions that stand for NumPy ufuncs get NumPy's ufunc methods (``cnp.add.reduce``,
``cnp.multiply.accumulate``, ``cnp.subtract.outer``, ``cnp.maximum.reduceat``, ``cnp.add.at``),
and traced values get the array methods NumPy has and the core lacks (``x.partition(k)``,
``x.searchsorted(v)``, ...); both are added here only where the core does not define them.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> float(cr.grad(lambda x: cnp.median(x ** 2))(np.array([3.0, 1.0, 2.0]))[2])
4.0
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from chainrule.core import ops as cnp
from chainrule.core.errors import ConcretizationError
from chainrule.core.ops import _lift, _traced
from chainrule.core.trace import Tracer, boxing

ArrayLike = Any
_NoValue: Any = np._NoValue
_PY_SCALARS = (int, float, complex)

__all__: list = []


def _export(fn: Callable) -> Callable:
    """A public function of this module; on another namespace's arrays it computes with
    that namespace's primitives (`boxing`)."""
    __all__.append(fn.__name__)
    return boxing(fn, f"chainrule.numpy.{fn.__name__}")


# --- helpers ---------------------------------------------------------------------------------


def _arr(x: Any) -> Any:
    """A traced value (lists holding tracers stacked) or a NumPy array."""
    if isinstance(x, Tracer):
        return x
    if _traced(x):
        return _lift(x)
    return np.asarray(x)


def _concrete(x: Any, what: str = "a concrete value") -> Any:
    """The NumPy value behind `x` (x itself when plain), or None where the transformation
    knows it only abstractly (vmap, eval_shape, staging)."""
    if type(x) in (list, tuple) and _traced(x):
        x = _lift(x)
    try:
        while isinstance(x, Tracer):
            x = x._trace.concrete(x, what)
    except ConcretizationError:
        return None
    return x


def _need_concrete(x: Any, what: str) -> Any:
    """The NumPy value behind `x`, or a ConcretizationError that says why it is needed."""
    v = _concrete(x, what)
    if v is None:
        x = _lift(x) if type(x) in (list, tuple) else x
        while isinstance(x, Tracer):
            x = x._trace.concrete(x, what)  # raises the error naming the user's line
    return np.asarray(v)


def _dtype(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.asarray(x).dtype


def _rt(*xs: Any) -> np.dtype:
    """`numpy.result_type` of values (Python scalars stay weak)."""
    return np.result_type(*[x if type(x) in _PY_SCALARS else _dtype(x) for x in xs])


def _sl(nd: int, axis: int, s: Any) -> tuple:
    return (slice(None),) * axis + (s,) + (slice(None),) * (nd - axis - 1)


def _float(x: Any) -> Any:
    """x as a floating array (integers and booleans become float64), differentiable."""
    x = _arr(x)
    return x if _dtype(x).kind in "fc" else cnp.astype(x, np.float64)


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise NotImplementedError(
            f"chainrule.numpy.{name}: out= is not supported on traced values (the result is "
            "a new value; assign it instead)"
        )


def _kw(**kwargs: Any) -> dict:
    """The keyword arguments that were given (NumPy's `<no value>` ones dropped)."""
    return {k: v for k, v in kwargs.items() if v is not _NoValue}


# --- differences, gradients, integrals -------------------------------------------------------


@_export
def diff(a: ArrayLike, n: int = 1, axis: int = -1, prepend: Any = _NoValue,
         append: Any = _NoValue) -> Any:  # fmt: skip
    """`numpy.diff`: the n-th discrete difference along `axis`, with `prepend`/`append`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.diff(np.array([1.0, 4.0, 9.0]))
    array([3., 5.])
    >>> cr.grad(lambda x: cnp.sum(cnp.diff(x, prepend=0.0) ** 2))(np.array([1.0, 3.0]))
    array([-2.,  4.])
    """
    if not _traced(a, prepend, append):
        return np.diff(a, n, axis, prepend, append)
    if n == 0:
        return _arr(a)
    if n < 0:
        raise ValueError("order must be non-negative but got " + repr(n))
    a = _arr(a)
    nd = a.ndim
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(axis, nd)
    parts = []
    for extra, first in ((prepend, True), (append, False)):
        if extra is _NoValue:
            continue
        extra = _arr(extra)
        if extra.ndim == 0:
            extra = cnp.broadcast_to(extra, a.shape[:axis] + (1,) + a.shape[axis + 1:])
        parts.append((first, extra))
    if parts:
        a = cnp.concatenate([e for f, e in parts if f] + [a] + [e for f, e in parts if not f],
                            axis)  # fmt: skip
    s1, s2 = _sl(nd, axis, slice(1, None)), _sl(nd, axis, slice(None, -1))
    op = cnp.not_equal if a.dtype == np.bool_ else cnp.subtract
    for _ in range(n):
        a = op(a[s1], a[s2])
    return a


@_export
def ediff1d(ary: ArrayLike, to_end: Any = None, to_begin: Any = None) -> Any:
    """`numpy.ediff1d`: differences of the flattened array, with values before and after.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.ediff1d(np.array([1.0, 2.0, 4.0]), to_begin=-1.0)
    array([-1.,  1.,  2.])
    """
    if not _traced(ary, to_end, to_begin):
        return np.ediff1d(ary, to_end, to_begin)
    ary = cnp.ravel(_arr(ary))
    dt = ary.dtype
    parts = [ary[1:] - ary[:-1]]
    for extra, first in ((to_begin, True), (to_end, False)):
        if extra is None:
            continue
        extra = _arr(extra)
        if not np.can_cast(_dtype(extra), dt, casting="same_kind"):
            raise TypeError(
                f"dtype of `{'to_begin' if first else 'to_end'}` must be compatible with input "
                "`ary` under the `same_kind` rule."
            )
        extra = cnp.ravel(extra)
        parts.insert(0, extra) if first else parts.append(extra)
    out = cnp.concatenate(parts) if len(parts) > 1 else parts[0]
    return out if _dtype(out) == dt else cnp.astype(out, dt)


@_export
def gradient(f: ArrayLike, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """`numpy.gradient`: central differences inside, one-sided (first or second order) at
    the edges; spacing as scalars or coordinate arrays per axis. Differentiable in `f` and in
    the spacing (traced coordinates use the non-uniform formula, which equals the uniform one
    when the spacing is uniform).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.gradient(np.array([1.0, 4.0, 9.0, 16.0]), 2.0)
    array([1.5, 2. , 3. , 3.5])
    """
    if not _traced(f, list(varargs)):
        return np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    f = _arr(f)
    N = f.ndim
    axes = tuple(range(N)) if axis is None else normalize_axis_tuple(axis, N)
    n = len(varargs)
    if n == 0:
        dx: list = [1.0] * len(axes)
    elif n == 1 and np.ndim(varargs[0]) == 0:
        dx = list(varargs) * len(axes)
    elif n == len(axes):
        dx = []
        for i, d in enumerate(varargs):
            d = _arr(d)
            if d.ndim == 0:
                dx.append(d)
                continue
            if d.ndim != 1:
                raise ValueError("distances must be either scalars or 1d")
            if d.shape[0] != f.shape[axes[i]]:
                raise ValueError("when 1d, distances must match the length of the "
                                 "corresponding dimension")  # fmt: skip
            d = _float(d)
            dd = d[1:] - d[:-1]
            if not isinstance(dd, Tracer) and (dd == dd[0]).all():
                dd = dd[0]
            dx.append(dd)
    else:
        raise TypeError("invalid number of arguments")
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    if _dtype(f).kind not in "fc":
        f = cnp.astype(f, np.float64)
    out = []
    for ax, h in zip(axes, dx):
        if f.shape[ax] < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, at least "
                "(edge_order + 1) elements are required."
            )

        def at(s, ax=ax):
            return f[_sl(N, ax, s)]

        uniform = np.ndim(h) == 0
        shape = [1] * N
        shape[ax] = -1
        if uniform:
            inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * h)
        else:
            dx1, dx2 = h[0:-1], h[1:]
            ca = cnp.reshape(-dx2 / (dx1 * (dx1 + dx2)), shape)
            cb = cnp.reshape((dx2 - dx1) / (dx1 * dx2), shape)
            cc = cnp.reshape(dx1 / (dx2 * (dx1 + dx2)), shape)
            inner = ca * at(slice(None, -2)) + cb * at(slice(1, -1)) + cc * at(slice(2, None))
        if edge_order == 1:
            d0 = h if uniform else h[0]
            dn = h if uniform else h[-1]
            first = (at(slice(1, 2)) - at(slice(0, 1))) / d0
            last = (at(slice(-1, None)) - at(slice(-2, -1))) / dn
        else:
            if uniform:
                a0, b0, c0 = -1.5 / h, 2.0 / h, -0.5 / h
                an, bn, cn = 0.5 / h, -2.0 / h, 1.5 / h
            else:
                dx1, dx2 = h[0], h[1]
                a0 = -(2.0 * dx1 + dx2) / (dx1 * (dx1 + dx2))
                b0 = (dx1 + dx2) / (dx1 * dx2)
                c0 = -dx1 / (dx2 * (dx1 + dx2))
                dx1, dx2 = h[-2], h[-1]
                an = dx2 / (dx1 * (dx1 + dx2))
                bn = -(dx2 + dx1) / (dx1 * dx2)
                cn = (2.0 * dx2 + dx1) / (dx2 * (dx1 + dx2))
            first = a0 * at(slice(0, 1)) + b0 * at(slice(1, 2)) + c0 * at(slice(2, 3))
            last = an * at(slice(-3, -2)) + bn * at(slice(-2, -1)) + cn * at(slice(-1, None))
        r = cnp.concatenate([first, inner, last], ax)
        out.append(r if _dtype(r) == _dtype(f) else cnp.astype(r, _dtype(f)))
    return out[0] if len(axes) == 1 else tuple(out)


@_export
def trapezoid(y: ArrayLike, x: ArrayLike = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """`numpy.trapezoid`: the trapezoidal rule along `axis`, differentiable in `y`, `x` and
    `dx`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> float(cnp.trapezoid(np.array([1.0, 2.0, 3.0])))
    4.0
    >>> cr.grad(cnp.trapezoid)(np.array([1.0, 2.0, 3.0]))
    array([0.5, 1. , 0.5])
    """
    if not _traced(y, x, dx):
        return np.trapezoid(y, x, dx, axis)
    y = _arr(y)
    nd = y.ndim
    if x is None:
        d = _arr(dx) if _traced(dx) else dx
    else:
        x = _arr(x)
        if x.ndim == 1:
            shape = [1] * nd
            shape[axis] = x.shape[0] - 1
            d = cnp.reshape(diff(x), shape)
        else:
            d = diff(x, axis=axis)
    s1, s2 = _sl(nd, axis % nd, slice(1, None)), _sl(nd, axis % nd, slice(None, -1))
    return cnp.sum(d * (y[s1] + y[s2]) / 2.0, axis=axis)


@_export
def cross(a: ArrayLike, b: ArrayLike, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Any:  # fmt: skip
    """`numpy.cross` of 3-vectors (and of 2-vectors, which NumPy 2 deprecates), broadcast
    over the other axes.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.cross(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]))
    array([0., 0., 1.])
    """
    if not _traced(a, b):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _arr(a), _arr(b)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError("At least one array has zero dimension")
    a = cnp.moveaxis(a, normalize_axis_index(axisa, a.ndim, msg_prefix="axisa"), -1)
    b = cnp.moveaxis(b, normalize_axis_index(axisb, b.ndim, msg_prefix="axisb"), -1)
    na, nb = a.shape[-1], b.shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n"
                         "(dimension must be 2 or 3)")  # fmt: skip
    if na == 2 or nb == 2:
        import warnings

        warnings.warn(
            "Arrays of 2-dimensional vectors are deprecated. Use arrays of 3-dimensional "
            "vectors instead. (deprecated in NumPy 2.0)", DeprecationWarning, stacklevel=2,
        )  # fmt: skip
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    a0, a1 = a[..., 0], a[..., 1]
    b0, b1 = b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if na == 2 and nb == 2:
        return cnp.broadcast_to(z, shape)
    if na == 2:
        b2 = b[..., 2]
        comps = [a1 * b2, -(a0 * b2), z]
    elif nb == 2:
        a2 = a[..., 2]
        comps = [-(a2 * b1), a2 * b0, z]
    else:
        a2, b2 = a[..., 2], b[..., 2]
        comps = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z]
    axisc = normalize_axis_index(axisc, len(shape) + 1, msg_prefix="axisc")
    return cnp.stack([cnp.broadcast_to(c, shape) for c in comps], axis=axisc)


def _searchsorted(a: Any, v: Any, side: str = "left") -> Any:
    """Insertion indices of `v` into the sorted 1-d `a` (integer: no gradient). NumPy's own
    where the values are known; else a count of comparisons in NumPy's order, where NaN comes
    after every number (a NaN in `v` goes after all of `a`'s numbers)."""
    ca, cv = _concrete(a), _concrete(v)
    if ca is not None and cv is not None:
        return np.searchsorted(ca, cv, side)
    v = cnp.expand_dims(_arr(v), -1)
    if side == "left":  # a_i before v: a_i < v, or v is NaN and a_i is not
        before = cnp.logical_or(cnp.less(a, v), cnp.logical_and(cnp.isnan(v),
                                                                cnp.logical_not(cnp.isnan(a))))
    else:  # a_i not after v: a_i <= v, or v is NaN
        before = cnp.logical_or(cnp.less_equal(a, v), cnp.isnan(v))
    return cnp.sum(cnp.astype(before, np.intp), axis=-1)


@_export
def interp(x: ArrayLike, xp: ArrayLike, fp: ArrayLike, left: Any = None, right: Any = None,
           period: Any = None) -> Any:  # fmt: skip
    """`numpy.interp`: piecewise-linear interpolation, differentiable in `x`, `xp`, `fp`
    (and `left`/`right`). On a knot the derivative in `x` is the slope of the segment to its
    right (as in JAX); beyond the ends it is 0.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> xp, fp = np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0, 30.0])
    >>> float(cnp.interp(1.5, xp, fp))
    20.0
    >>> float(cr.grad(cnp.interp)(1.5, xp, fp))
    20.0
    """
    if not _traced(x, xp, fp, left, right, period):
        return np.interp(x, xp, fp, left, right, period)
    fp = _arr(fp)
    in_dt = np.complex128 if fp.dtype.kind == "c" else np.float64
    x, xp, fp = cnp.astype(_arr(x), np.float64), cnp.astype(_arr(xp), np.float64), \
        cnp.astype(fp, in_dt)  # fmt: skip
    if period is not None:
        p = _concrete(period)
        if p is not None and p == 0:
            raise ValueError("period must be a non-zero value")
        period = cnp.abs(period)
        left = right = None
        if xp.ndim != 1 or fp.ndim != 1:
            raise ValueError("Data points must be 1-D sequences")
        if xp.shape[0] != fp.shape[0]:
            raise ValueError("fp and xp are not of the same length")
        x, xp = x % period, xp % period
        order = cnp.argsort(xp)
        xp, fp = xp[order], fp[order]
        xp = cnp.concatenate((xp[-1:] - period, xp, xp[0:1] + period))
        fp = cnp.concatenate((fp[-1:], fp, fp[0:1]))
    if xp.ndim != 1 or fp.ndim != 1:
        raise ValueError("object too deep for desired array")
    if xp.shape[0] != fp.shape[0]:
        raise ValueError("fp and xp are not of the same length.")
    if xp.shape[0] == 0:
        raise ValueError("array of sample points is empty")
    lo = fp[0] if left is None else left
    hi = fp[-1] if right is None else right
    n = xp.shape[0]
    if n == 1:
        return cnp.where(x < xp[0], lo, cnp.where(x > xp[0], hi, fp[0] + 0 * x))
    i = cnp.clip(_searchsorted(xp, x, "right"), 1, n - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    h = x1 - x0
    safe = cnp.where(h == 0, 1.0, h)
    y = cnp.where(h == 0, f1, (f1 - f0) / safe * (x - x0) + f0)
    y = cnp.where(x == xp[-1], fp[-1], y)
    y = cnp.where(x > xp[-1], hi, y)
    return cnp.where(x < xp[0], lo, y)


# --- convolution -----------------------------------------------------------------------------


def _correlate(a: Any, v: Any, mode: str, conj: bool) -> Any:
    """sum_n a[n + k] * v'[n] for the k of `mode`, v' = conj(v) if `conj`: one gather of the
    sliding windows of `a` (a strided view built with an index array) and a matrix product."""
    a, v = cnp.atleast_1d(_arr(a)), cnp.atleast_1d(_arr(v))
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError("object too deep for desired array")
    n1, n2 = a.shape[0], v.shape[0]
    if n1 == 0:
        raise ValueError("a cannot be empty")
    if n2 == 0:
        raise ValueError("v cannot be empty")
    # row r of the full correlation is k = r - (n2 - 1): rows [start, start + length)
    if mode == "full":
        start, length = 0, n1 + n2 - 1
    elif mode == "same":
        length = builtins.max(n1, n2)
        start = n2 - 1 - n2 // 2 if n1 >= n2 else n1 // 2
    elif mode == "valid":
        start, length = builtins.min(n1, n2) - 1, builtins.max(n1, n2) - builtins.min(n1, n2) + 1
    else:
        raise ValueError(f"mode must be one of 'valid', 'same', or 'full' (got {mode!r})")
    dt = _rt(a, v)
    if _dtype(a) != dt:
        a = cnp.astype(a, dt)
    if _dtype(v) != dt:
        v = cnp.astype(v, dt)
    if conj and dt.kind == "c":
        v = cnp.conj(v)
    padded = cnp.pad(a, (n2 - 1, n2 - 1))
    windows = padded[np.arange(start, start + length)[:, None] + np.arange(n2)[None, :]]
    return cnp.matmul(windows, v)


@_export
def correlate(a: ArrayLike, v: ArrayLike, mode: str = "valid") -> Any:
    """`numpy.correlate`: c[k] = sum_n a[n + k] * conj(v[n]) for the k of `mode`
    ('valid', 'same', 'full'). Computed as one matrix product of the sliding windows of `a`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), "full")
    array([0.5, 2. , 3.5, 3. , 0. ])
    """
    if not _traced(a, v):
        return np.correlate(a, v, mode)
    return _correlate(a, v, mode, conj=True)


@_export
def convolve(a: ArrayLike, v: ArrayLike, mode: str = "full") -> Any:
    """`numpy.convolve`: the discrete linear convolution ('full', 'same', 'valid'), as a
    correlation with the reversed kernel (one matrix product).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5])
    >>> cr.grad(lambda v: cnp.sum(cnp.convolve(np.ones(3), v)))(np.ones(2))
    array([3., 3.])
    """
    if not _traced(a, v):
        return np.convolve(a, v, mode)
    a, v = cnp.atleast_1d(_arr(a)), cnp.atleast_1d(_arr(v))
    if v.shape[0] > a.shape[0]:
        a, v = v, a
    if a.shape[0] == 0:
        raise ValueError("a cannot be empty")
    if v.shape[0] == 0:
        raise ValueError("v cannot be empty")
    return _correlate(a, v[::-1], mode, conj=False)


# --- polynomials (numpy's poly* helpers, highest power first) -------------------------------


def _trim_leading_zeros(c: Any) -> Any:
    """`poly1d`'s trimming of leading zeros, where the values are known (else unchanged)."""
    v = _concrete(c)
    if v is None:
        return c
    nz = np.flatnonzero(np.asarray(v))
    if nz.size == 0:
        return c[-1:] * 0 if c.shape[0] else c
    return c[int(nz[0]):] if nz[0] else c


@_export
def polyval(p: ArrayLike, x: ArrayLike) -> Any:
    """`numpy.polyval` (Horner's scheme), differentiable in the coefficients and in `x`.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cr.grad(lambda x: cnp.polyval([1.0, 0.0, -2.0], x))(3.0))
    6.0
    """
    if not _traced(p, x):
        return np.polyval(p, x)
    p, x = _arr(p), _arr(x)
    y = cnp.zeros_like(x)
    for k in range(p.shape[0]):
        y = y * x + p[k]
    return y


def _poly_pad(a1: Any, a2: Any) -> tuple:
    a1, a2 = cnp.atleast_1d(_arr(a1)), cnp.atleast_1d(_arr(a2))
    d = a2.shape[0] - a1.shape[0]
    if d > 0:
        a1 = cnp.concatenate((np.zeros(d, _dtype(a1)), a1))
    elif d < 0:
        a2 = cnp.concatenate((np.zeros(-d, _dtype(a2)), a2))
    return a1, a2


@_export
def polyadd(a1: ArrayLike, a2: ArrayLike) -> Any:
    """`numpy.polyadd`.

    >>> import chainrule.numpy as cnp
    >>> cnp.polyadd([1.0, 2.0], [1.0, 0.0, 0.0])
    array([1., 1., 2.])
    """
    if not _traced(a1, a2):
        return np.polyadd(a1, a2)
    x, y = _poly_pad(a1, a2)
    return x + y


@_export
def polysub(a1: ArrayLike, a2: ArrayLike) -> Any:
    """`numpy.polysub`.

    >>> import chainrule.numpy as cnp
    >>> cnp.polysub([1.0, 2.0], [1.0, 0.0, 0.0])
    array([-1.,  1.,  2.])
    """
    if not _traced(a1, a2):
        return np.polysub(a1, a2)
    x, y = _poly_pad(a1, a2)
    return x - y


@_export
def polymul(a1: ArrayLike, a2: ArrayLike) -> Any:
    """`numpy.polymul` (a convolution). NumPy first drops leading zero coefficients; on
    traced values that needs the values, so under `vmap`/`eval_shape` they are kept (the
    same polynomial, with leading zeros).

    >>> import chainrule.numpy as cnp
    >>> cnp.polymul([1.0, 1.0], [1.0, -1.0])
    array([ 1.,  0., -1.])
    """
    if not _traced(a1, a2):
        return np.polymul(a1, a2)
    a1 = _trim_leading_zeros(cnp.atleast_1d(_arr(a1)))
    a2 = _trim_leading_zeros(cnp.atleast_1d(_arr(a2)))
    return convolve(a1, a2)


@_export
def polyder(p: ArrayLike, m: int = 1) -> Any:
    """`numpy.polyder`: the m-th derivative's coefficients.

    >>> import chainrule.numpy as cnp
    >>> cnp.polyder([1.0, 1.0, 1.0, 1.0])
    array([3., 2., 1.])
    """
    if not _traced(p):
        return np.polyder(p, m)
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = _arr(p)
    for _ in range(m):
        n = p.shape[0] - 1
        p = p[:-1] * np.arange(n, 0, -1)
    return p


@_export
def polyint(p: ArrayLike, m: int = 1, k: Any = None) -> Any:
    """`numpy.polyint`: the m-th antiderivative, with integration constants `k`
    (differentiable too).

    >>> import chainrule.numpy as cnp
    >>> cnp.polyint([3.0, 2.0, 1.0])
    array([1., 1., 1., 0.])
    """
    if not _traced(p, k):
        return np.polyint(p, m, k)
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = np.zeros(m, float) if k is None else k
    k = cnp.atleast_1d(_arr(k))
    if k.shape[0] == 1 and m > 1:
        k = k[0] * np.ones(m, float)
    if k.shape[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = _arr(p)
    for i in range(m):
        p = cnp.concatenate((p / np.arange(p.shape[0], 0, -1), cnp.reshape(k[i], (1,))))
    return p


@_export
def polydiv(u: ArrayLike, v: ArrayLike) -> tuple:
    """`numpy.polydiv`: quotient and remainder. The remainder's leading near-zeros are
    trimmed where the values are known (as NumPy does); under `vmap` they are kept.

    >>> import chainrule.numpy as cnp
    >>> cnp.polydiv([1.0, 0.0, -1.0], [1.0, 1.0])
    (array([ 1., -1.]), array([0.]))
    """
    if not _traced(u, v):
        return np.polydiv(u, v)
    u = cnp.atleast_1d(_arr(u)) + 0.0
    v = cnp.atleast_1d(_arr(v)) + 0.0
    dt = _rt(u, v)
    m, n = u.shape[0] - 1, v.shape[0] - 1
    scale = 1.0 / v[0]
    r = cnp.astype(u, dt) if _dtype(u) != dt else u
    qs = []
    for k in range(m - n + 1):
        d = scale * r[k]
        qs.append(d)
        r = cnp.concatenate([r[:k], r[k:k + n + 1] - d * v, r[k + n + 1:]])
    q = cnp.stack(qs) if qs else np.zeros((1,), dt)
    rv = _concrete(r)
    if rv is not None:
        rv = np.asarray(rv)
        start = 0
        while np.allclose(rv[start], 0, rtol=1e-14) and rv.shape[-1] - start > 1:
            start += 1
        r = r[start:]
    return q, r


@_export
def poly(seq_of_zeros: ArrayLike) -> Any:
    """`numpy.poly`: the coefficients of the monic polynomial with the given roots (or the
    characteristic polynomial of a square matrix, through `linalg.eigvals`), differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.poly([1.0, 2.0])
    array([ 1., -3.,  2.])
    """
    if not _traced(seq_of_zeros):
        return np.poly(seq_of_zeros)
    z = cnp.atleast_1d(_arr(seq_of_zeros))
    if z.ndim == 2 and z.shape[0] == z.shape[1] and z.shape[0] != 0:
        from chainrule.core import linalg as _la

        z = _la.eigvals(z)
    elif z.ndim != 1:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    dt = np.dtype(np.mintypecode(z.dtype.char))
    if z.dtype != dt:
        z = cnp.astype(z, dt)
    if z.shape[0] == 0:
        return 1.0
    a: Any = np.ones((1,), dt)
    for i in range(z.shape[0]):
        a = convolve(a, cnp.stack([np.ones((), dt), -z[i]]), mode="full")
    if dt.kind == "c":
        zc = _concrete(z)
        if zc is not None and np.all(np.sort(zc) == np.sort(np.conjugate(zc))):
            a = cnp.real(a)
    return a


@_export
def polyfit(x: ArrayLike, y: ArrayLike, deg: int, rcond: Any = None, full: bool = False,
            w: Any = None, cov: Any = False) -> Any:  # fmt: skip
    """`numpy.polyfit`: least-squares polynomial coefficients. On traced values it solves
    the (column-scaled) least-squares problem through a QR factorisation, which is
    differentiable in `x`, `y` and `w` when the Vandermonde matrix has full column rank;
    `full=True` and `cov` need `numpy.linalg.lstsq`'s extra outputs and are plain-data only.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> np.round(cnp.polyfit(np.arange(4.0), np.arange(4.0) * 2 + 1, 1), 12)
    array([2., 1.])
    """
    if not _traced(x, y, w):
        return np.polyfit(x, y, deg, rcond, full, w, cov)
    if full or cov:
        raise NotImplementedError(
            "chainrule.numpy.polyfit: full=True and cov= are supported on plain data only"
        )
    from chainrule.core import linalg as _la

    order = int(deg) + 1
    x, y = _arr(x) + 0.0, _arr(y) + 0.0
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if x.ndim != 1:
        raise TypeError("expected 1D vector for x")
    if x.shape[0] == 0:
        raise TypeError("expected non-empty vector for x")
    if y.ndim < 1 or y.ndim > 2:
        raise TypeError("expected 1D or 2D array for y")
    if x.shape[0] != y.shape[0]:
        raise TypeError("expected x and y to have same length")
    lhs, rhs = vander(x, order), y
    if w is not None:
        w = _arr(w) + 0.0
        if w.ndim != 1:
            raise TypeError("expected a 1-d array for weights")
        if w.shape[0] != y.shape[0]:
            raise TypeError("expected w and y to have the same length")
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if rhs.ndim == 2 else w)
    scale = cnp.sqrt(cnp.sum(lhs * lhs, axis=0))
    lhs = lhs / scale
    q, r = _la.qr(lhs)
    c = _la.solve(r, cnp.matmul(cnp.swapaxes(q, -1, -2), rhs))
    return c / (scale[:, None] if c.ndim == 2 else scale)


# --- order statistics: median, quantile, percentile (through sorting) ------------------------


def _to_last(a: Any, axis: Any) -> tuple:
    """`a` with the reduced axes merged into one last axis, and the keepdims shape."""
    nd = a.ndim
    if axis is None:
        return cnp.reshape(a, (-1,)), (1,) * nd
    axes = normalize_axis_tuple(axis, nd)
    keep = [i for i in range(nd) if i not in axes]
    moved = cnp.transpose(a, keep + list(axes))
    merged = cnp.reshape(moved, tuple(a.shape[i] for i in keep) + (-1,))
    return merged, tuple(1 if i in axes else a.shape[i] for i in range(nd))


def _keep(r: Any, qnd: int, kshape: tuple, keepdims: Any) -> Any:
    if keepdims is True:
        return cnp.reshape(r, tuple(r.shape[:qnd]) + kshape)
    return r


def _vi_hf(n: Any, q: Any, alpha: float, beta: float) -> Any:
    return n * q + (alpha + q * (1 - alpha - beta)) - 1


def _discrete(index: Any, cond: Callable) -> Any:
    prev = cnp.floor(index)
    res = cnp.astype(cnp.where(cond(index - prev, index), prev, prev + 1), np.intp)
    return cnp.where(res < 0, 0, res)


_QUANTILE_METHODS: dict = {
    "inverted_cdf": (lambda n, q: _discrete(n * q - 1, lambda g, _: g == 0), None),
    "averaged_inverted_cdf": (
        lambda n, q: n * q - 1, lambda g, _: cnp.where(g == 0, 0.5, 1.0)),
    "closest_observation": (
        lambda n, q: _discrete(
            n * q - 1 - 0.5, lambda g, i: cnp.logical_and(g == 0, cnp.floor(i) % 2 == 1)),
        None),
    "interpolated_inverted_cdf": (lambda n, q: _vi_hf(n, q, 0, 1), lambda g, _: g),
    "hazen": (lambda n, q: _vi_hf(n, q, 0.5, 0.5), lambda g, _: g),
    "weibull": (lambda n, q: _vi_hf(n, q, 0, 0), lambda g, _: g),
    "linear": (lambda n, q: (n - 1) * q, lambda g, _: g),
    "median_unbiased": (lambda n, q: _vi_hf(n, q, 1 / 3.0, 1 / 3.0), lambda g, _: g),
    "normal_unbiased": (lambda n, q: _vi_hf(n, q, 3 / 8.0, 3 / 8.0), lambda g, _: g),
    "lower": (lambda n, q: cnp.astype(cnp.floor((n - 1) * q), np.intp), None),
    "higher": (lambda n, q: cnp.astype(cnp.ceil((n - 1) * q), np.intp), None),
    "midpoint": (
        lambda n, q: 0.5 * (cnp.floor((n - 1) * q) + cnp.ceil((n - 1) * q)),
        lambda g, i: cnp.where(i % 1 == 0, 0.0, 0.5)),
    "nearest": (lambda n, q: cnp.astype(cnp.round((n - 1) * q), np.intp), None),
}  # fmt: skip


def _gather_last(s: Any, idx: Any, qnd: int) -> Any:
    """out[Q..., R...] = s[R..., idx[Q..., R...]] for s of shape R + (N,)."""
    rest = s.shape[:-1]
    idx = cnp.broadcast_to(idx, tuple(_shape(idx)[:qnd]) + rest)
    nr = len(rest)
    grids = tuple(
        np.arange(m).reshape((1,) * (qnd + i) + (m,) + (1,) * (nr - i - 1))
        for i, m in enumerate(rest)
    )
    return s[grids + (idx,)]


def _shape(x: Any) -> tuple:
    return x.shape if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.shape(x)


def _quantile_sorted(s: Any, q: Any, n: Any, method: str, weak_q: bool) -> Any:
    """Quantiles `q` (shape Q) of the sorted last axis of `s` (shape R + (N,)), whose first
    `n` entries are the data (n: an int, or an array of shape R): shape Q + R. NumPy's
    `_quantile` step by step, branch-free."""
    try:
        vi_fn, fix_gamma = _QUANTILE_METHODS[method]
    except KeyError:
        raise ValueError(
            f"{method!r} is not a valid method. Use one of: {_QUANTILE_METHODS.keys()}"
        ) from None
    qnd = len(_shape(q))
    nr = s.ndim - 1
    per_slice = not isinstance(n, int)
    if per_slice:  # n: shape R -> (1,)*qnd + R; q: Q -> Q + (1,)*nr
        n = cnp.reshape(n, (1,) * qnd + tuple(_shape(n)))
        q = cnp.reshape(q, tuple(_shape(q)) + (1,) * nr)
    vi = vi_fn(n, q)
    vshape = tuple(_shape(vi))
    expand = vshape + (1,) * (nr - (len(vshape) - qnd))

    def gather(idx: Any) -> Any:
        return _gather_last(s, cnp.reshape(idx, expand), qnd)

    if fix_gamma is None or (method == "linear" and _dtype(vi).kind in "iu"):
        return gather(vi)
    last = n - 1
    prev = cnp.floor(vi)
    above = vi >= last
    below = vi < 0
    bad = cnp.logical_or(above, cnp.isnan(vi))
    prev_i = cnp.astype(cnp.where(bad, last, cnp.where(below, 0, prev)), np.intp)
    next_i = cnp.astype(cnp.where(bad, last, cnp.where(below, 0, prev + 1)), np.intp)
    prev_g = cnp.astype(cnp.where(bad, -1, cnp.where(below, 0, prev)), np.intp)
    gamma = fix_gamma(vi - prev_g, vi)
    gamma = cnp.astype(gamma, _dtype(vi)) if _dtype(gamma) != _dtype(vi) else gamma
    if weak_q and s.dtype.kind == "f" and _dtype(gamma) != s.dtype:
        gamma = cnp.astype(gamma, s.dtype)
    gamma = cnp.reshape(gamma, expand)
    a, b = gather(prev_i), gather(next_i)
    d = b - a
    return cnp.where(gamma >= 0.5, b - d * (1 - gamma), a + d * gamma)


def _check_q(q: Any, scale: float, name: str) -> Any:
    """q / scale, checked to lie in [0, 1] where its values are known."""
    weak = type(q) in (int, float)
    if _traced(q):
        q = _arr(q)
        if scale != 1:
            q = q / scale
    else:
        q = np.true_divide(q, scale) if scale != 1 else np.asanyarray(q)
    v = _concrete(q)
    if v is not None:
        v = np.asarray(v)
        if v.size and not (v.min() >= 0 and v.max() <= 1):
            raise ValueError(f"{name} must be in the range [0, {int(scale)}]")
    if len(_shape(q)) > 2:
        raise ValueError("q must be a scalar or 1d")
    return q, weak


def _quantile_impl(a: Any, q: Any, axis: Any, method: str, keepdims: Any, nan: bool,
                   weak_q: bool, weights: Any) -> Any:  # fmt: skip
    if weights is not None:
        raise NotImplementedError(
            "chainrule.numpy quantiles: weights= (method 'inverted_cdf') is supported on plain "
            "data only"
        )
    a = _arr(a)
    if a.dtype.kind == "c":
        raise TypeError("a must be an array of real numbers")
    flat, kshape = _to_last(a, axis)
    s = cnp.sort(flat, axis=-1)
    qnd = len(_shape(q))
    if nan and s.dtype.kind == "f":
        n = cnp.sum(cnp.astype(cnp.logical_not(cnp.isnan(flat)), np.intp), axis=-1)
        r = _quantile_sorted(s, q, n, method, weak_q)
        r = cnp.where(n == 0, np.nan, r)
    else:
        r = _quantile_sorted(s, q, s.shape[-1], method, weak_q)
        if s.dtype.kind == "f":
            last = s[..., -1]
            r = cnp.where(cnp.isnan(last), last, r)
    return _keep(r, qnd, kshape, keepdims)


def _quantile_front(name: str, npfun: Callable, scale: float, nan: bool) -> Callable:
    def fn(a, q, axis=None, out=None, overwrite_input=False, method="linear",
           keepdims=False if not nan else _NoValue, *, weights=None):  # fmt: skip
        if not _traced(a, q, weights):
            return npfun(a, q, axis, out, overwrite_input, method,
                         **_kw(keepdims=keepdims), weights=weights)  # fmt: skip
        _no_out(name, out)
        q, weak = _check_q(q, scale, "Percentiles" if scale == 100 else "Quantiles")
        return _quantile_impl(a, q, axis, method, keepdims, nan, weak, weights)

    fn.__name__ = fn.__qualname__ = name
    unit = "percentile" if scale == 100 else "quantile"
    q0 = "50.0" if scale == 100 else "0.5"
    fn.__doc__ = f"""`numpy.{name}`{' ignoring NaNs' if nan else ''}: the q-th {unit} along
    `axis` (None, an int or a tuple), with every `method` NumPy has ('linear' by default;
    'lower', 'higher', 'nearest', 'midpoint', the nine of Hyndman and Fan), `keepdims`, and q
    a scalar or 1-d array (traced too). Computed by sorting (`cnp.sort` is differentiable):
    the gradient goes to the one or two order statistics the result interpolates, with the
    interpolation weights; in q it is the slope between them. {'An all-NaN slice gives NaN.' if
    nan else 'A slice holding NaN gives NaN, as in NumPy.'}

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> x = np.array([4.0, 1.0, 3.0, 2.0])
    >>> float(cnp.{name}(x, {q0}))
    2.5
    >>> cr.grad(lambda x: cnp.{name}(x, {q0}))(x)
    array([0. , 0. , 0.5, 0.5])
    """
    fn.__annotations__ = {"a": "ArrayLike", "q": "ArrayLike", "return": "Any"}
    return _export(fn)


quantile = _quantile_front("quantile", np.quantile, 1, False)
percentile = _quantile_front("percentile", np.percentile, 100, False)
nanquantile = _quantile_front("nanquantile", np.nanquantile, 1, True)
nanpercentile = _quantile_front("nanpercentile", np.nanpercentile, 100, True)


@_export
def median(a: ArrayLike, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:  # fmt: skip
    """`numpy.median` along `axis` (None, int or tuple), `keepdims`: the middle order
    statistic, or the mean of the two middle ones. Computed by sorting: the gradient goes to
    the middle element (or half to each of the two). A slice holding NaN gives NaN.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.median)(np.array([4.0, 1.0, 3.0, 2.0]))
    array([0. , 0. , 0.5, 0.5])
    """
    if not _traced(a):
        return np.median(a, axis, out, overwrite_input, keepdims)
    _no_out("median", out)
    a = _arr(a)
    flat, kshape = _to_last(a, axis)
    s = cnp.sort(flat, axis=-1)
    m = s.shape[-1]
    h = m // 2
    r = cnp.mean(s[..., h: h + 1] if m % 2 else s[..., h - 1: h + 1], axis=-1)
    if s.dtype.kind in "fc" and m:
        last = s[..., -1]
        r = cnp.where(cnp.isnan(last), last, r)
    return _keep(r, 0, kshape, keepdims)


@_export
def nanmedian(a: ArrayLike, axis: Any = None, out: Any = None, overwrite_input: bool = False,
              keepdims: Any = _NoValue) -> Any:  # fmt: skip
    """`numpy.nanmedian`: the median of the values that are not NaN (NaN for an all-NaN
    slice); the gradient goes to the middle element(s).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nanmedian)(np.array([4.0, np.nan, 1.0, 3.0]))
    array([0., 0., 0., 1.])
    """
    if not _traced(a):
        return np.nanmedian(a, axis, out, overwrite_input, **_kw(keepdims=keepdims))
    _no_out("nanmedian", out)
    a = _arr(a)
    if a.dtype.kind not in "fc":
        return median(a, axis, keepdims=keepdims is True)
    flat, kshape = _to_last(a, axis)
    s = cnp.sort(flat, axis=-1)
    n = cnp.sum(cnp.astype(cnp.logical_not(cnp.isnan(flat)), np.intp), axis=-1)
    lo = _gather_last(s, cnp.maximum((n - 1) // 2, 0), 0)
    hi = _gather_last(s, cnp.minimum(n // 2, s.shape[-1] - 1), 0)
    r = cnp.where(n == 0, np.nan, (lo + hi) / 2)
    return _keep(r, 0, kshape, keepdims)


# --- NaN-ignoring reductions -----------------------------------------------------------------


def _nan_mask(a: Any, where: Any) -> Any:
    """True where an element takes part: not NaN (and `where`)."""
    ok = cnp.logical_not(cnp.isnan(a)) if a.dtype.kind in "fc" else np.ones(a.shape, bool)
    if where is not _NoValue and where is not True:
        ok = cnp.logical_and(ok, _arr(where))
    return ok


def _kd(keepdims: Any) -> bool:
    return keepdims is True


def _any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """`cnp.any` with the axis normalised to a tuple (what the core's batching rule needs)."""
    x = _arr(x)
    axis = None if axis is None else normalize_axis_tuple(axis, x.ndim)
    return cnp.any(x, axis=axis, keepdims=keepdims)


@_export
def nansum(a: ArrayLike, axis: Any = None, dtype: Any = None, out: Any = None,
           keepdims: Any = _NoValue, initial: Any = _NoValue, where: Any = _NoValue) -> Any:
    """`numpy.nansum`: NaNs count as zero (and get a zero gradient).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nansum)(np.array([1.0, np.nan]))
    array([1., 0.])
    """
    if not _traced(a, initial):
        return np.nansum(a, axis, dtype, out, **_kw(keepdims=keepdims, initial=initial,
                                                    where=where))  # fmt: skip
    _no_out("nansum", out)
    a = _arr(a)
    r = cnp.sum(cnp.where(_nan_mask(a, where), a, 0), axis=axis, dtype=dtype,
                keepdims=_kd(keepdims))  # fmt: skip
    return r if initial is _NoValue else r + initial


@_export
def nanprod(a: ArrayLike, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: Any = _NoValue, initial: Any = _NoValue, where: Any = _NoValue) -> Any:
    """`numpy.nanprod`: NaNs count as one (and get a zero gradient).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nanprod)(np.array([2.0, np.nan, 3.0]))
    array([3., 0., 2.])
    """
    if not _traced(a, initial):
        return np.nanprod(a, axis, dtype, out, **_kw(keepdims=keepdims, initial=initial,
                                                     where=where))  # fmt: skip
    _no_out("nanprod", out)
    a = _arr(a)
    r = cnp.prod(cnp.where(_nan_mask(a, where), a, 1), axis=axis, dtype=dtype,
                 keepdims=_kd(keepdims))  # fmt: skip
    return r if initial is _NoValue else r * initial


def _count(ok: Any, axis: Any, keepdims: bool) -> Any:
    return cnp.sum(cnp.astype(ok, np.intp), axis=axis, keepdims=keepdims)


def _by_count(x: Any, n: Any) -> Any:
    """`x / n` for counts `n` (integers), in `x`'s float dtype as NumPy's nan-reductions
    divide (into `x`: a float32 sum stays float32)."""
    r = x / n
    return cnp.astype(r, x.dtype) if x.dtype.kind in "fc" and r.dtype != x.dtype else r


@_export
def nanmean(a: ArrayLike, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: Any = _NoValue, *, where: Any = _NoValue) -> Any:
    """`numpy.nanmean`: the mean of the values that are not NaN (NaN for an all-NaN slice).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nanmean)(np.array([1.0, np.nan, 3.0]))
    array([0.5, 0. , 0.5])
    """
    if not _traced(a):
        return np.nanmean(a, axis, dtype, out, **_kw(keepdims=keepdims, where=where))
    _no_out("nanmean", out)
    a = _arr(a)
    ok = _nan_mask(a, where)
    tot = cnp.sum(cnp.where(ok, a, 0), axis=axis, dtype=dtype, keepdims=_kd(keepdims))
    r = _by_count(tot, _count(ok, axis, _kd(keepdims)))
    return r if dtype is None or r.dtype == np.dtype(dtype) else cnp.astype(r, dtype)


@_export
def nanvar(a: ArrayLike, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
           keepdims: Any = _NoValue, *, where: Any = _NoValue, mean: Any = _NoValue,
           correction: Any = _NoValue) -> Any:  # fmt: skip
    """`numpy.nanvar` with `ddof` (or `correction`) and a precomputed `mean`: the variance of
    the values that are not NaN; NaN where fewer than `ddof` + 1 values remain.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nanvar)(np.array([1.0, np.nan, 3.0]))
    array([-1.,  0.,  1.])
    """
    if not _traced(a, mean):
        return np.nanvar(a, axis, dtype, out, ddof, **_kw(keepdims=keepdims, where=where,
                                                          mean=mean, correction=correction))
    _no_out("nanvar", out)
    if correction is not _NoValue:
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    a = _arr(a)
    if dtype is not None:
        a = cnp.astype(a, dtype)
    ok = _nan_mask(a, where)
    cnt = _count(ok, axis, True)
    avg = mean if mean is not _NoValue else _by_count(cnp.sum(cnp.where(ok, a, 0), axis=axis,
                                                              keepdims=True), cnt)  # fmt: skip
    d = cnp.where(ok, a - avg, 0)
    sq = cnp.real(d * cnp.conj(d)) if d.dtype.kind == "c" else d * d
    v = cnp.sum(sq, axis=axis, keepdims=_kd(keepdims))
    dof = _count(ok, axis, _kd(keepdims)) - ddof
    bad = dof <= 0
    return cnp.where(bad, np.nan, _by_count(v, cnp.where(bad, 1, dof)))


@_export
def nanstd(a: ArrayLike, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
           keepdims: Any = _NoValue, *, where: Any = _NoValue, mean: Any = _NoValue,
           correction: Any = _NoValue) -> Any:  # fmt: skip
    """`numpy.nanstd`: the square root of `nanvar`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.nanstd)(np.array([1.0, np.nan, 3.0]))
    array([-0.5,  0. ,  0.5])
    """
    if not _traced(a, mean):
        return np.nanstd(a, axis, dtype, out, ddof, **_kw(keepdims=keepdims, where=where,
                                                          mean=mean, correction=correction))
    _no_out("nanstd", out)
    return cnp.sqrt(nanvar(a, axis, dtype, None, ddof, keepdims, where=where, mean=mean,
                           correction=correction))  # fmt: skip


def _nan_extreme(name: str, npfun: Callable, red: Callable, fill: float) -> Callable:
    def fn(a, axis=None, out=None, keepdims=_NoValue, initial=_NoValue, where=_NoValue):
        if not _traced(a, initial):
            return npfun(a, axis, out, **_kw(keepdims=keepdims, initial=initial, where=where))
        _no_out(name, out)
        a = _arr(a)
        if where is not _NoValue and initial is _NoValue:
            raise ValueError(f"reduction operation '{'maximum' if fill < 0 else 'minimum'}' does "
                             "not have an identity, so to use a where mask one has to specify "
                             "'initial'")  # fmt: skip
        if a.dtype.kind not in "fc":
            r = red(a if where is _NoValue else cnp.where(_arr(where), a, initial),
                    axis=axis, keepdims=_kd(keepdims))  # fmt: skip
            return r if initial is _NoValue else (cnp.maximum if fill < 0 else cnp.minimum)(
                r, initial)
        ok = _nan_mask(a, where)
        r = red(cnp.where(ok, a, fill), axis=axis, keepdims=_kd(keepdims))
        if initial is not _NoValue:
            r = (cnp.maximum if fill < 0 else cnp.minimum)(r, initial)
        else:
            r = cnp.where(_any(ok, axis=axis, keepdims=_kd(keepdims)), r, np.nan)
        return r

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`: NaNs are ignored (an all-NaN slice gives NaN); ties
    share the gradient evenly, as `{name[3:]}` does.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.{name})(np.array([1.0, np.nan, 1.0]))
    array([0.5, 0. , 0.5])
    """
    fn.__annotations__ = {"a": "ArrayLike", "return": "Any"}
    return _export(fn)


nanmax = _nan_extreme("nanmax", np.nanmax, cnp.max, -np.inf)
nanmin = _nan_extreme("nanmin", np.nanmin, cnp.min, np.inf)


def _nan_arg(name: str, npfun: Callable, red: Callable, fill: float) -> Callable:
    def fn(a, axis=None, out=None, *, keepdims=_NoValue):
        if not _traced(a):
            return npfun(a, axis, out, **_kw(keepdims=keepdims))
        _no_out(name, out)
        a = _arr(a)
        if a.dtype.kind in "fc":
            nan = cnp.isnan(a)
            v = _concrete(nan)
            if v is not None and np.asarray(v).size and np.any(np.all(v, axis=axis)):
                raise ValueError("All-NaN slice encountered")
            a = cnp.where(nan, fill, a)
        return red(a, axis=axis, keepdims=_kd(keepdims))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`: the index of the {name[6:]}imum ignoring NaNs (integer:
    no gradient). An all-NaN slice raises where the values are known.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> int(cnp.{name}(np.array([np.nan, 2.0, 1.0]))) == int(np.{name}([np.nan, 2.0, 1.0]))
    True
    """
    fn.__annotations__ = {"a": "ArrayLike", "return": "Any"}
    return _export(fn)


nanargmax = _nan_arg("nanargmax", np.nanargmax, cnp.argmax, -np.inf)
nanargmin = _nan_arg("nanargmin", np.nanargmin, cnp.argmin, np.inf)


def _nan_cum(name: str, npfun: Callable, cum: Callable, fill: float) -> Callable:
    def fn(a, axis=None, dtype=None, out=None):
        if not _traced(a):
            return npfun(a, axis, dtype, out)
        _no_out(name, out)
        a = _arr(a)
        if a.dtype.kind in "fc":
            a = cnp.where(cnp.isnan(a), fill, a)
        return cum(a, axis=axis, dtype=dtype)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`: NaNs count as {int(fill)} (and get a zero gradient).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.{name}(np.array([2.0, np.nan, 3.0]))
    array({np.array2string(npfun(np.array([2.0, np.nan, 3.0])), separator=', ')})
    """
    fn.__annotations__ = {"a": "ArrayLike", "return": "Any"}
    return _export(fn)


nancumsum = _nan_cum("nancumsum", np.nancumsum, cnp.cumsum, 0.0)
nancumprod = _nan_cum("nancumprod", np.nancumprod, cnp.cumprod, 1.0)


@_export
def nan_to_num(x: ArrayLike, copy: bool = True, nan: Any = 0.0, posinf: Any = None,
               neginf: Any = None) -> Any:  # fmt: skip
    """`numpy.nan_to_num`: NaN, +inf and -inf replaced (by `nan`, `posinf`, `neginf`, which
    may be traced: they get the gradient where they are used); finite values pass theirs.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.nan_to_num(np.array([np.nan, np.inf, 1.0]), posinf=9.0)
    array([0., 9., 1.])
    """
    if not _traced(x, nan, posinf, neginf):
        return np.nan_to_num(x, copy, nan, posinf, neginf)
    x = _arr(x)
    if x.dtype.kind not in "fc":
        return x
    rdt = np.finfo(x.dtype).dtype
    hi = np.finfo(rdt).max if posinf is None else posinf
    lo = np.finfo(rdt).min if neginf is None else neginf

    def fix(d: Any) -> Any:
        def cast(v: Any) -> Any:
            return cnp.astype(v, rdt) if isinstance(v, Tracer) and v.dtype != rdt else \
                np.asarray(v).astype(rdt) if not isinstance(v, Tracer) else v  # fmt: skip

        d = cnp.where(cnp.isnan(d), cast(nan), d)
        d = cnp.where(cnp.logical_and(cnp.isinf(d), d > 0), cast(hi), d)
        return cnp.where(cnp.logical_and(cnp.isinf(d), d < 0), cast(lo), d)

    if x.dtype.kind == "c":
        return cnp.astype(fix(cnp.real(x)) + 1j * fix(cnp.imag(x)), x.dtype)
    return fix(x)


# --- averages, spreads, covariances ----------------------------------------------------------


@_export
def average(a: ArrayLike, axis: Any = None, weights: Any = None, returned: bool = False, *,
            keepdims: Any = _NoValue) -> Any:  # fmt: skip
    """`numpy.average` with `weights` (1-d along a single axis, or a's shape) and `returned`;
    differentiable in `a` and `weights`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> float(cnp.average(np.array([1.0, 3.0]), weights=np.array([3.0, 1.0])))
    1.5
    >>> cr.grad(lambda w: cnp.average(np.array([1.0, 3.0]), weights=w))(np.array([3.0, 1.0]))
    array([-0.125,  0.375])
    """
    if not _traced(a, weights):
        return np.average(a, axis, weights, returned, **_kw(keepdims=keepdims))
    a = _arr(a)
    axes = None if axis is None else normalize_axis_tuple(axis, a.ndim, argname="axis")
    kd = _kd(keepdims)
    if weights is None:
        avg = cnp.mean(a, axis=axes, keepdims=kd)
        n = math.prod(_shape(a)) / builtins.max(math.prod(_shape(avg)), 1)
        scl = np.asarray(n, avg.dtype)[()]
    else:
        w = _arr(weights)
        if _shape(w) != a.shape:
            if axes is None:
                raise TypeError("Axis must be specified when shapes of a and weights differ.")
            if _shape(w) != tuple(a.shape[ax] for ax in axes):
                raise ValueError("Shape of weights must be consistent with shape of a along "
                                 "specified axis.")  # fmt: skip
            order = np.argsort(axes)
            w = cnp.transpose(w, order) if len(axes) > 1 else w
            shape = [a.shape[i] if i in axes else 1 for i in range(a.ndim)]
            w = cnp.reshape(w, shape)
        if a.dtype.kind in "biu":
            rdt = np.result_type(a.dtype, _dtype(w), "f8")
        else:
            rdt = np.result_type(a.dtype, _dtype(w))
        scl = cnp.sum(cnp.broadcast_to(w, a.shape), axis=axes, dtype=rdt, keepdims=kd)
        v = _concrete(scl)
        if v is not None and np.any(np.asarray(v) == 0.0):
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        prod = a * w
        prod = cnp.astype(prod, rdt) if _dtype(prod) != rdt else prod
        avg = cnp.sum(prod, axis=axes, keepdims=kd) / scl
    if returned:
        if _shape(scl) != _shape(avg):
            scl = cnp.broadcast_to(scl, _shape(avg))
        return avg, scl
    return avg


@_export
def ptp(a: ArrayLike, axis: Any = None, out: Any = None, keepdims: Any = _NoValue) -> Any:
    """`numpy.ptp`: max - min along `axis` (ties share the gradient evenly).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.ptp)(np.array([1.0, 5.0, 2.0]))
    array([-1.,  1.,  0.])
    """
    if not _traced(a):
        return np.ptp(a, axis, out, **_kw(keepdims=keepdims))
    _no_out("ptp", out)
    a = _arr(a)
    return cnp.max(a, axis=axis, keepdims=_kd(keepdims)) - \
        cnp.min(a, axis=axis, keepdims=_kd(keepdims))  # fmt: skip


@_export
def cov(m: ArrayLike, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None,
        fweights: Any = None, aweights: Any = None, *, dtype: Any = None) -> Any:
    """`numpy.cov` with `y`, `rowvar`, `bias`, `ddof`, `fweights` and `aweights`;
    differentiable in the data and in `aweights`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.cov(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    if not _traced(m, y, fweights, aweights):
        return np.cov(m, y, rowvar, bias, ddof, fweights, aweights, dtype=dtype)
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    m = _arr(m)
    if m.ndim > 2:
        raise ValueError("m has more than 2 dimensions")
    if y is not None:
        y = _arr(y)
        if y.ndim > 2:
            raise ValueError("y has more than 2 dimensions")
    if dtype is None:
        dtype = np.result_type(m.dtype, np.float64) if y is None else \
            np.result_type(m.dtype, y.dtype, np.float64)  # fmt: skip
    X = cnp.array(cnp.astype(m, dtype), ndmin=2)
    if not rowvar and m.ndim != 1:
        X = X.T
    if X.shape[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        y = cnp.array(cnp.astype(y, dtype), ndmin=2)
        if not rowvar and y.shape[0] != 1:
            y = y.T
        X = cnp.concatenate((X, y), axis=0)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    w: Any = None
    if fweights is not None:
        fw = _need_concrete(fweights, "fweights (integers)").astype(float)
        if not np.all(fw == np.around(fw)):
            raise TypeError("fweights must be integer")
        if fw.ndim > 1:
            raise RuntimeError("cannot handle multidimensional fweights")
        if fw.shape[0] != X.shape[1]:
            raise RuntimeError("incompatible numbers of samples and fweights")
        if np.any(fw < 0):
            raise ValueError("fweights cannot be negative")
        w = fw
    if aweights is not None:
        aw = cnp.astype(_arr(aweights), float)
        if aw.ndim > 1:
            raise RuntimeError("cannot handle multidimensional aweights")
        if aw.shape[0] != X.shape[1]:
            raise RuntimeError("incompatible numbers of samples and aweights")
        v = _concrete(aw)
        if v is not None and np.any(np.asarray(v) < 0):
            raise ValueError("aweights cannot be negative")
        w = aw if w is None else w * aw
    avg, w_sum = average(X, axis=1, weights=w, returned=True)
    w_sum = w_sum[0]
    if w is None:
        fact: Any = X.shape[1] - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - ddof
    else:
        fact = w_sum - ddof * cnp.sum(w * aw) / w_sum
    fv = _concrete(fact)
    if fv is not None and np.asarray(fv) <= 0:
        import warnings

        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
    fact = cnp.where(fact <= 0, 0.0, fact) if isinstance(fact, Tracer) else \
        (fact if fact > 0 else 0.0)  # fmt: skip
    X = X - avg[:, None]
    X_T = X.T if w is None else (X * w).T
    c = cnp.matmul(X, cnp.conj(X_T) if X.dtype.kind == "c" else X_T)
    c = c * np.true_divide(1, fact) if not isinstance(fact, Tracer) else c * (1 / fact)
    return cnp.squeeze(c)


@_export
def corrcoef(x: ArrayLike, y: Any = None, rowvar: bool = True, *, dtype: Any = None) -> Any:
    """`numpy.corrcoef`: Pearson correlation coefficients, clipped to [-1, 1] as NumPy does
    (the gradient passes at the bounds, so the diagonal's is zero as it should be).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.corrcoef(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    if not _traced(x, y):
        return np.corrcoef(x, y, rowvar, dtype=dtype)
    c = cov(x, y, rowvar, dtype=dtype)
    if c.ndim != 2:
        return c / c
    d = cnp.diagonal(c)
    sd = cnp.sqrt(cnp.real(d))
    c = c / sd[:, None]
    c = c / sd[None, :]
    if c.dtype.kind == "c":
        return cnp.clip(cnp.real(c), -1, 1) + 1j * cnp.clip(cnp.imag(c), -1, 1)
    return cnp.clip(c, -1, 1)


# --- building and editing arrays -------------------------------------------------------------


@_export
def append(arr: ArrayLike, values: ArrayLike, axis: int | None = None) -> Any:
    """`numpy.append` (a new array; flattened when `axis` is None).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.append(np.array([1.0, 2.0]), [[3.0]])
    array([1., 2., 3.])
    """
    if not _traced(arr, values):
        return np.append(arr, values, axis)
    arr, values = _arr(arr), _arr(values)
    if axis is None:
        arr = cnp.ravel(arr) if arr.ndim != 1 else arr
        values = cnp.ravel(values)
        axis = arr.ndim - 1
    return cnp.concatenate((arr, values), axis=axis)


def _from_labels(lab: np.ndarray, sources: list) -> Any:
    """The array whose element i is element `lab[i]` of the concatenated flattened
    `sources` (labels computed by running NumPy's own function on label arrays)."""
    flat = [cnp.ravel(s) for s in sources if math.prod(_shape(s))]
    src = flat[0] if len(flat) == 1 else cnp.concatenate(flat)
    return cnp.reshape(src[lab.ravel()], lab.shape) if lab.size else \
        cnp.reshape(src[:0], lab.shape)  # fmt: skip


@_export
def insert(arr: ArrayLike, obj: Any, values: ArrayLike, axis: int | None = None) -> Any:
    """`numpy.insert`, with every form of `obj` NumPy takes (index, slice, sequence, mask):
    NumPy's own insert run on labels says where each element comes from, then one gather
    builds the (differentiable) result. Values are cast to `arr`'s dtype, as in NumPy.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.insert(np.array([1.0, 2.0]), 1, 9.0)
    array([1., 9., 2.])
    >>> float(cr.grad(lambda v: cnp.sum(cnp.insert(np.zeros(3), [0, 2], v)))(1.0))
    2.0
    """
    if not _traced(arr, obj, values):
        return np.insert(arr, obj, values, axis)
    arr, values = _arr(arr), _arr(values)
    obj = _need_concrete(obj, "insert's indices") if _traced(obj) else obj
    na = math.prod(_shape(arr))
    lab_a = np.arange(na).reshape(arr.shape)
    lab_v = (na + np.arange(math.prod(_shape(values)))).reshape(_shape(values))
    lab = np.insert(lab_a, obj, lab_v, axis)
    out = _from_labels(lab, [arr, values])
    return out if _dtype(out) == arr.dtype else cnp.astype(out, arr.dtype)


@_export
def delete(arr: ArrayLike, obj: Any, axis: int | None = None) -> Any:
    """`numpy.delete` with every form of `obj` (index, slice, sequence, mask); the gradient
    of the kept elements passes, the deleted ones get zero.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.delete(np.array([1.0, 2.0, 3.0]), 1)
    array([1., 3.])
    """
    if not _traced(arr, obj):
        return np.delete(arr, obj, axis)
    arr = _arr(arr)
    obj = _need_concrete(obj, "delete's indices") if _traced(obj) else obj
    lab = np.delete(np.arange(math.prod(_shape(arr))).reshape(arr.shape), obj, axis)
    return _from_labels(lab, [arr])


class _AxisConcatenator:
    """`numpy.r_` / `numpy.c_` that accept traced values: NumPy's translation of slices and
    directives, concatenated with chainrule's `concatenate`."""

    __slots__ = ("axis", "ndmin", "trans1d", "_np")

    def __init__(self, np_obj: Any, axis: int = 0, ndmin: int = 1, trans1d: int = -1):
        self._np = np_obj
        self.axis, self.ndmin, self.trans1d = axis, ndmin, trans1d

    def __getitem__(self, key: Any) -> Any:
        if not _traced(list(key) if isinstance(key, tuple) else key):
            return self._np[key]
        key = key if isinstance(key, tuple) else (key,)
        trans1d, ndmin, axis = self.trans1d, self.ndmin, self.axis
        objs, kinds = [], []
        for k, item in enumerate(key):
            scalar = False
            if isinstance(item, slice):
                step, start, stop = item.step, item.start, item.stop
                start = 0 if start is None else start
                step = 1 if step is None else step
                if isinstance(step, (np.complexfloating, complex)):
                    new = linspace(start, stop, num=int(abs(step)))
                else:
                    new = np.arange(start, stop, step)
                if ndmin > 1:
                    new = cnp.array(new, ndmin=ndmin)
                    if trans1d != -1:
                        new = cnp.swapaxes(new, -1, trans1d)
            elif isinstance(item, str):
                if k != 0:
                    raise ValueError("special directives must be the first entry.")
                if item in ("r", "c"):
                    raise NotImplementedError(
                        "chainrule.numpy.r_: the matrix directives 'r' and 'c' build "
                        "numpy.matrix objects, which are not supported on traced values"
                    )
                try:
                    vec = [int(x) for x in item.split(",")]
                except ValueError as e:
                    raise ValueError(f"unknown special directive {item!r}") from e
                axis = vec[0]
                if len(vec) > 1:
                    ndmin = vec[1]
                if len(vec) > 2:
                    trans1d = vec[2]
                continue
            elif type(item) in np.ScalarType:
                scalar, new = True, item
            else:
                item_ndim = np.ndim(item) if not _traced(item) else _arr(item).ndim
                new = cnp.array(_arr(item), ndmin=ndmin)
                if trans1d != -1 and item_ndim < ndmin:
                    k2 = ndmin - item_ndim
                    k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
                    defaxes = list(range(ndmin))
                    new = cnp.transpose(new, defaxes[:k1] + defaxes[k2:] + defaxes[k1:k2])
            objs.append(new)
            kinds.append(item if scalar else _dtype(new))
        if kinds:
            dt = np.result_type(*kinds)
            objs = [cnp.array(cnp.astype(_arr(o), dt) if _dtype(o) != dt else _arr(o),
                              ndmin=ndmin) for o in objs]  # fmt: skip
        return cnp.concatenate(tuple(objs), axis=axis)

    def __len__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"chainrule.numpy.{'r_' if self.axis == 0 else 'c_'}"


class RClass(_AxisConcatenator):
    """`numpy.r_`: concatenation along the first axis by indexing, traced values too
    (`cnp.r_[x, 0.0, 1:3]`), with NumPy's slices and directives ('0,2,0', ...).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(cnp.r_[x, x ** 2, 1:3]))(2.0)
    np.float64(5.0)
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(np.r_)


class CClass(_AxisConcatenator):
    """`numpy.c_`: stacking as columns (along the last axis, 1-d inputs as columns), traced
    values too.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.c_[cnp.asarray([1.0, 2.0]), np.array([3.0, 4.0])].shape
    (2, 2)
    """

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(np.c_, -1, ndmin=2, trans1d=0)


r_ = RClass()
c_ = CClass()
__all__ += ["r_", "c_"]


@_export
def select(condlist: Sequence, choicelist: Sequence, default: Any = 0) -> Any:
    """`numpy.select`: the first choice whose condition holds, else `default`; each choice
    gets the gradient where it is chosen.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> x = np.array([-1.0, 2.0])
    >>> cnp.select([x < 0, x > 0], [-x, x ** 2])
    array([1., 4.])
    """
    if not _traced(list(condlist), list(choicelist), default):
        return np.select(condlist, choicelist, default)
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    choices = [c if type(c) in _PY_SCALARS else _arr(c) for c in choicelist]
    dflt = default if type(default) in _PY_SCALARS else _arr(default)
    try:
        dt = _rt(*choices, dflt)
    except TypeError as e:
        raise TypeError(f"Choicelist and default value do not have a common dtype: {e}") \
            from None  # fmt: skip
    conds = [_arr(c) for c in condlist]
    for i, c in enumerate(conds):
        if _dtype(c) != np.bool_:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    shape = np.broadcast_shapes(*[_shape(c) for c in conds + choices + [dflt]])
    out = dflt
    for cond, choice in zip(conds[::-1], choices[::-1]):
        out = cnp.where(cond, choice, out)
    out = cnp.broadcast_to(_arr(out), shape)
    return out if _dtype(out) == dt else cnp.astype(out, dt)


@_export
def piecewise(x: ArrayLike, condlist: Any, funclist: Sequence, *args: Any, **kw: Any) -> Any:
    """`numpy.piecewise`. Where the conditions' values are known (grad, jvp, Tensors) each
    function sees only its own elements, as in NumPy; under `vmap`/`eval_shape` each is
    applied to all of `x` and the results are chosen with `where` (the same values where
    the functions are elementwise).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> f = lambda x: cnp.piecewise(x, [x < 0, x >= 0], [lambda t: -t, lambda t: t ** 2])
    >>> cr.grad(lambda x: cnp.sum(f(x)))(np.array([-1.0, 3.0]))
    array([-1.,  6.])
    """
    cl = list(condlist) if isinstance(condlist, (list, tuple)) else [condlist]
    if not _traced(x, cl, list(args), list(kw.values())) and not builtins.any(
            isinstance(f, Tracer) for f in funclist):  # fmt: skip
        return np.piecewise(x, condlist, funclist, *args, **kw)
    x = _arr(x)
    n2 = len(funclist)
    if (np.isscalar(condlist) or isinstance(condlist, Tracer) and condlist.ndim == 0) or (
            not isinstance(condlist[0], (list, np.ndarray, Tracer)) and x.ndim != 0):
        condlist = [condlist]
    conds = [cnp.broadcast_to(cnp.astype(_arr(c), bool), x.shape) for c in condlist]
    n = len(conds)
    if n == n2 - 1:
        other = cnp.logical_not(_any(cnp.stack(conds), axis=0))
        conds.append(other)
        n += 1
    elif n != n2:
        raise ValueError(
            f"with {n} condition(s), either {n} or {n + 1} functions are expected")
    y = cnp.zeros_like(x)
    values = [_concrete(c, "piecewise's conditions") for c in conds]
    if builtins.all(v is not None for v in values):
        for mask, func in zip(values, funclist):
            idx = np.nonzero(np.asarray(mask))
            if not callable(func):
                y = cnp.index_set(y, idx, func)
            elif idx[0].size:
                y = cnp.index_set(y, idx, func(x[idx], *args, **kw))
        return y
    for cond, func in zip(conds, funclist):
        y = cnp.where(cond, func(x, *args, **kw) if callable(func) else func, y)
    return y


@_export
def argpartition(a: ArrayLike, kth: Any, axis: int | None = -1, kind: str = "introselect",
                 order: Any = None) -> Any:  # fmt: skip
    """`numpy.argpartition` (integer: no gradient). NumPy's own indices where the values
    are known; under `vmap`/`eval_shape` a full `argsort`, which is also a valid partition
    (the k-th element and the sides are right, the order within each side may differ).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> x = np.array([3.0, 1.0, 2.0])
    >>> (cnp.argpartition(x, 1) == np.argpartition(x, 1)).tolist()
    [True, True, True]
    """
    if not _traced(a):
        return np.argpartition(a, kth, axis, kind, order)
    a = _arr(a)
    v = _concrete(a, "argpartition")
    if v is not None:
        return np.argpartition(v, kth, axis, kind, order)
    if axis is None:
        a, axis = cnp.ravel(a), 0
    return cnp.argsort(a, axis=axis)


@_export
def partition(a: ArrayLike, kth: Any, axis: int | None = -1, kind: str = "introselect",
              order: Any = None) -> Any:  # fmt: skip
    """`numpy.partition`: exactly NumPy's values where they are known (a gather along
    NumPy's `argpartition`, differentiable); under `vmap`/`eval_shape`, the sorted array (a
    valid partition: see `argpartition`).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.partition(x, 0)[0])(np.array([3.0, 1.0, 2.0]))
    array([0., 1., 0.])
    """
    if not _traced(a):
        return np.partition(a, kth, axis, kind, order)
    a = _arr(a)
    if axis is None:
        a, axis = cnp.ravel(a), 0
    return cnp.take_along_axis(a, argpartition(a, kth, axis, kind, order), axis)


@_export
def rollaxis(a: ArrayLike, axis: int, start: int = 0) -> Any:
    """`numpy.rollaxis` (prefer `moveaxis`).

    >>> import chainrule.numpy as cnp
    >>> cnp.rollaxis(cnp.ones((3, 4, 5)), 2).shape
    (5, 3, 4)
    """
    if not _traced(a):
        return np.rollaxis(a, axis, start)
    a = _arr(a)
    n = a.ndim
    axis = normalize_axis_index(axis, n)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError(
            f"'start' arg requires {-n} <= start < {n + 1}, but {start - n if start < 0 else start}"
            " was passed in")
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return cnp.transpose(a, axes)


@_export
def dsplit(ary: ArrayLike, indices_or_sections: Any) -> list:
    """`numpy.dsplit`: split along the third axis.

    >>> import chainrule.numpy as cnp
    >>> [p.shape for p in cnp.dsplit(cnp.ones((1, 2, 4)), 2)]
    [(1, 2, 2), (1, 2, 2)]
    """
    if not _traced(ary):
        return np.dsplit(ary, indices_or_sections)
    if _arr(ary).ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return cnp.split(ary, indices_or_sections, 2)


# --- evenly spaced values with traced endpoints ----------------------------------------------


def _inexact(*xs: Any) -> np.dtype:
    dt = _rt(*xs)
    return dt if dt.kind in "fc" else np.result_type(dt, 1.0)


@_export
def linspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: Any = None, axis: int = 0, *,
             device: Any = None) -> Any:  # fmt: skip
    """`numpy.linspace`, differentiable in `start` and `stop` (array endpoints too), with
    NumPy's arithmetic, so the values equal NumPy's.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cnp.linspace(0.0, 1.0, 3)
    array([0. , 0.5, 1. ])
    >>> cr.jacobian(lambda b: cnp.linspace(0.0, b, 3))(2.0)
    array([0. , 0.5, 1. ])
    """
    if not _traced(start, stop):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis, device=device)
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    dt = _inexact(start, stop)
    integer_dtype = dtype is not None and np.issubdtype(dtype, np.integer)
    dtype = dt if dtype is None else dtype
    start, stop = _arr(start), _arr(stop)
    start = cnp.astype(start, dt) if start.dtype != dt else start
    stop = cnp.astype(stop, dt) if stop.dtype != dt else stop
    delta = stop - start
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * delta.ndim)
    if div > 0:
        step = delta / div
        y = cnp.where(step == 0, (y / div) * delta, y * step)
    else:
        step = np.nan
        y = y * delta
    y = y + start
    if endpoint and num > 1:
        tail = cnp.broadcast_to(stop, y.shape[1:])
        y = cnp.concatenate([y[:-1], cnp.reshape(tail, (1,) + y.shape[1:])], 0)
    if axis != 0:
        y = cnp.moveaxis(y, 0, axis)
    if integer_dtype:
        y = cnp.floor(y)
    y = cnp.astype(y, dtype) if y.dtype != np.dtype(dtype) else y
    return (y, step) if retstep else y


@_export
def logspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
             base: Any = 10.0, dtype: Any = None, axis: int = 0) -> Any:  # fmt: skip
    """`numpy.logspace`, differentiable in `start`, `stop` and `base`.

    >>> import chainrule.numpy as cnp
    >>> cnp.logspace(0.0, 2.0, 3)
    array([  1.,  10., 100.])
    """
    if not _traced(start, stop, base):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    if not isinstance(base, (float, int)) and np.ndim(base):
        ndmax = len(np.broadcast_shapes(_shape(start), _shape(stop), _shape(base)))
        start, stop, base = (cnp.array(_arr(v), ndmin=ndmax) for v in (start, stop, base))
        base = cnp.expand_dims(base, axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    r = cnp.power(base, y)
    return r if dtype is None else cnp.astype(r, dtype)


@_export
def geomspace(start: ArrayLike, stop: ArrayLike, num: int = 50, endpoint: bool = True,
              dtype: Any = None, axis: int = 0) -> Any:  # fmt: skip
    """`numpy.geomspace`, differentiable in `start` and `stop` (the endpoints are exactly
    `start` and `stop`, as in NumPy).

    >>> import chainrule.numpy as cnp
    >>> cnp.geomspace(1.0, 100.0, 3)
    array([  1.,  10., 100.])
    """
    if not _traced(start, stop):
        return np.geomspace(start, stop, num, endpoint, dtype, axis)
    v0, v1 = _concrete(start), _concrete(stop)
    if (v0 is not None and np.any(np.asarray(v0) == 0)) or \
            (v1 is not None and np.any(np.asarray(v1) == 0)):  # fmt: skip
        raise ValueError("Geometric sequence cannot include zero")
    dt = np.result_type(_dtype(start) if type(start) not in _PY_SCALARS else start,
                        _dtype(stop) if type(stop) not in _PY_SCALARS else stop,
                        float(num), np.zeros((), dtype))  # fmt: skip
    dtype = dt if dtype is None else np.dtype(dtype)
    start, stop = cnp.astype(_arr(start), dt), cnp.astype(_arr(stop), dt)
    sign = cnp.sign(start)
    start = start / sign
    stop = stop / sign
    res = logspace(cnp.log10(start), cnp.log10(stop), num=num, endpoint=endpoint, base=10.0,
                   dtype=dt)  # fmt: skip
    if num > 0:
        tail = res.shape[1:]
        first = cnp.reshape(cnp.broadcast_to(start, tail), (1,) + tail)
        if num > 1 and endpoint:
            last = cnp.reshape(cnp.broadcast_to(stop, tail), (1,) + tail)
            res = cnp.concatenate([first, res[1:-1], last], 0)
        else:
            res = cnp.concatenate([first, res[1:]], 0)
    res = res * sign
    if axis != 0:
        res = cnp.moveaxis(res, 0, axis)
    return res if res.dtype == dtype else cnp.astype(res, dtype)


# --- floating-point decomposition ------------------------------------------------------------


def _pow2(k: Any, dt: np.dtype) -> Any:
    """2.0 ** k in `dt` for integer k, as two factors so that no factor overflows."""
    h = k // 2
    return cnp.exp2(cnp.astype(h, dt)), cnp.exp2(cnp.astype(k - h, dt))


@_export
def ldexp(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.ldexp`: x1 * 2**x2 for integer x2; the gradient in x1 is 2**x2 (x2 is an
    integer: none).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cnp.ldexp(3.0, 2)), float(cr.grad(cnp.ldexp)(3.0, 2))
    (12.0, 4.0)
    """
    if not _traced(x1, x2):
        return np.ldexp(x1, x2, out=out, **kwargs) if out is not None else \
            np.ldexp(x1, x2, **kwargs)  # fmt: skip
    _no_out("ldexp", out)
    x1, x2 = _arr(x1), _arr(x2)
    if _dtype(x2).kind not in "biu":
        raise TypeError("ufunc 'ldexp' not supported for the input types: the exponent must "
                        "be an integer")  # fmt: skip
    dt = np.ldexp(np.ones((), _dtype(x1)), np.zeros((), _dtype(x2))).dtype
    x1 = cnp.astype(x1, dt) if x1.dtype != dt else x1
    f1, f2 = _pow2(x2, dt)
    return x1 * f1 * f2


@_export
def frexp(x: ArrayLike, /, *args: Any, **kwargs: Any) -> tuple:
    """`numpy.frexp`: (mantissa, exponent) with x = mantissa * 2**exponent and
    0.5 <= |mantissa| < 1. The mantissa is differentiable (its derivative is 2**-exponent);
    the exponent is an integer (int32, as NumPy's) and carries none.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> m, e = cnp.frexp(12.0)
    >>> float(m), int(e), float(cr.grad(lambda x: cnp.frexp(x)[0])(12.0))
    (0.75, 4, 0.0625)
    """
    if not _traced(x):
        return np.frexp(x, *args, **kwargs)
    if args or kwargs:
        raise NotImplementedError("chainrule.numpy.frexp: out= is not supported on traced "
                                  "values")  # fmt: skip
    x = _arr(x)
    if x.dtype.kind != "f":
        x = cnp.astype(x, np.float64)
    dt = x.dtype
    ax = cnp.abs(x)
    ok = cnp.logical_and(cnp.isfinite(x), x != 0)
    # a first guess from log2 (off by one at most near powers of two), corrected on the
    # candidate mantissa; scaling by powers of two in two factors is exact and never overflows
    e = cnp.where(ok, cnp.astype(cnp.floor(cnp.log2(cnp.where(ok, ax, 1.0))), np.int32) + 1, 0)
    f1, f2 = _pow2(-e, dt)
    m = ax * f1 * f2
    e = cnp.where(m >= 1, e + 1, cnp.where(m < 0.5, e - 1, e))
    e = cnp.where(ok, e, 0)
    f1, f2 = _pow2(-e, dt)
    return cnp.where(ok, x * f1 * f2, x), cnp.astype(e, np.int32)


# --- elementwise functions NumPy has as ufuncs -----------------------------------------------


@_export
def copysign(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.copysign`: |x1| with the sign of x2; the gradient in x1 is
    sign(x1) * sign(x2) (0 at x1 == 0, as `abs`), none in x2.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cnp.copysign(2.0, -1.0)), float(cr.grad(cnp.copysign)(2.0, -1.0))
    (-2.0, -1.0)
    """
    if not _traced(x1, x2):
        return np.copysign(x1, x2, **_kw(out=out if out is not None else _NoValue), **kwargs)
    _no_out("copysign", out)
    dt = np.copysign(*[x if type(x) in _PY_SCALARS else np.ones(1, _dtype(x))
                       for x in (x1, x2)]).dtype  # NumPy's (a Python number stays weak)
    x1, x2 = _float(x1), _arr(x2)
    r = cnp.where(cnp.signbit(x2), -cnp.abs(x1), cnp.abs(x1))
    return r if _dtype(r) == dt else cnp.astype(r, dt)


@_export
def heaviside(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.heaviside`: 0 below zero, 1 above, x2 at zero (NaN stays NaN). Piecewise
    constant in x1 (no gradient); x2 gets the gradient where x1 == 0.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.heaviside(np.array([-1.0, 0.0, 2.0]), 0.5)
    array([0. , 0.5, 1. ])
    """
    if not _traced(x1, x2):
        return np.heaviside(x1, x2, **_kw(out=out if out is not None else _NoValue), **kwargs)
    _no_out("heaviside", out)
    x1, x2 = _float(x1), _arr(x2)
    dt = _rt(x1, x2)
    r = cnp.where(x1 < 0, 0.0, cnp.where(x1 > 0, 1.0, x2))
    r = cnp.where(cnp.isnan(x1), np.nan, r)
    r = cnp.broadcast_to(r, np.broadcast_shapes(x1.shape, _shape(x2)))
    return r if _dtype(r) == dt else cnp.astype(r, dt)


@_export
def float_power(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.float_power`: `power` computed in at least float64 (or complex128).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cr.grad(cnp.float_power)(2.0, 3))
    12.0
    """
    if not _traced(x1, x2):
        return np.float_power(x1, x2, **_kw(out=out if out is not None else _NoValue),
                              **kwargs)  # fmt: skip
    _no_out("float_power", out)
    dt = np.result_type(_rt(x1, x2), np.float64)
    x1, x2 = _arr(x1), _arr(x2)
    x1 = cnp.astype(x1, dt) if _dtype(x1) != dt else x1
    x2 = cnp.astype(x2, dt) if _dtype(x2) != dt else x2
    return cnp.power(x1, x2)


@_export
def modf(x: ArrayLike, /, *args: Any, **kwargs: Any) -> tuple:
    """`numpy.modf`: (fractional part, integral part), both with x's sign. The fractional
    part has derivative 1, the integral part none.

    >>> import chainrule.numpy as cnp
    >>> tuple(float(v) for v in cnp.modf(-3.25))
    (-0.25, -3.0)
    """
    if not _traced(x):
        return np.modf(x, *args, **kwargs)
    if args or kwargs:
        raise NotImplementedError("chainrule.numpy.modf: out= is not supported on traced "
                                  "values")  # fmt: skip
    x = _float(x)
    whole = cnp.trunc(x)
    frac = cnp.where(cnp.isinf(x), copysign(0.0, x), x - whole)
    return frac, whole


@_export
def divmod(x1: ArrayLike, x2: ArrayLike, /, *args: Any, **kwargs: Any) -> tuple:  # noqa: A001
    """`numpy.divmod`: (x1 // x2, x1 % x2); the remainder is differentiable.

    >>> import chainrule.numpy as cnp
    >>> tuple(float(v) for v in cnp.divmod(7.0, 2.0))
    (3.0, 1.0)
    """
    if not _traced(x1, x2):
        return np.divmod(x1, x2, *args, **kwargs)
    if args or kwargs:
        raise NotImplementedError("chainrule.numpy.divmod: out= is not supported on traced "
                                  "values")  # fmt: skip
    return cnp.floor_divide(x1, x2), cnp.remainder(x1, x2)


@_export
def fix(x: ArrayLike, out: Any = None) -> Any:
    """`numpy.fix`: round towards zero (piecewise constant: no gradient).

    >>> import chainrule.numpy as cnp
    >>> float(cnp.fix(-2.5))
    -2.0
    """
    if not _traced(x):
        return np.fix(x, out)
    _no_out("fix", out)
    return cnp.trunc(_float(x))


@_export
def vecdot(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, *, axis: int = -1,
           **kwargs: Any) -> Any:  # fmt: skip
    """`numpy.vecdot`: sum(conj(x1) * x2) along `axis`, broadcast over the others.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.vecdot(np.ones((2, 3)), np.arange(3.0))
    array([3., 3.])
    """
    if not _traced(x1, x2):
        return np.vecdot(x1, x2, **_kw(out=out if out is not None else _NoValue), axis=axis,
                         **kwargs)  # fmt: skip
    _no_out("vecdot", out)
    x1, x2 = _arr(x1), _arr(x2)
    if x1.dtype.kind == "c":
        x1 = cnp.conj(x1)
    return cnp.sum(x1 * x2, axis=axis)


@_export
def matvec(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.matvec`: matrix-vector products over broadcast leading axes.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.matvec(np.eye(2), np.array([1.0, 2.0]))
    array([1., 2.])
    """
    if not _traced(x1, x2):
        return np.matvec(x1, x2, **_kw(out=out if out is not None else _NoValue), **kwargs)
    _no_out("matvec", out)
    return cnp.matmul(_arr(x1), cnp.expand_dims(_arr(x2), -1))[..., 0]


@_export
def vecmat(x1: ArrayLike, x2: ArrayLike, /, out: Any = None, **kwargs: Any) -> Any:
    """`numpy.vecmat`: conj(vector)-matrix products over broadcast leading axes.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.vecmat(np.array([1.0, 2.0]), np.eye(2))
    array([1., 2.])
    """
    if not _traced(x1, x2):
        return np.vecmat(x1, x2, **_kw(out=out if out is not None else _NoValue), **kwargs)
    _no_out("vecmat", out)
    x1 = _arr(x1)
    if x1.dtype.kind == "c":
        x1 = cnp.conj(x1)
    return cnp.matmul(cnp.expand_dims(x1, -2), _arr(x2))[..., 0, :]


# --- integer-valued helpers (no gradient) ----------------------------------------------------


@_export
def flatnonzero(a: ArrayLike) -> Any:
    """`numpy.flatnonzero` (integer indices: no gradient).

    >>> import chainrule.numpy as cnp
    >>> cnp.flatnonzero([0.0, 2.0, 3.0])
    array([1, 2])
    """
    if not _traced(a):
        return np.flatnonzero(a)
    return cnp.nonzero(cnp.ravel(_arr(a)))[0]


@_export
def count_nonzero(a: ArrayLike, axis: Any = None, *, keepdims: bool = False) -> Any:
    """`numpy.count_nonzero` (integer: no gradient).

    >>> import chainrule.numpy as cnp
    >>> int(cnp.count_nonzero([0.0, 2.0, 3.0]))
    2
    """
    if not _traced(a):
        return np.count_nonzero(a, axis, keepdims=keepdims)
    return _count(cnp.not_equal(_arr(a), 0), axis, keepdims)


@_export
def argwhere(a: ArrayLike) -> Any:
    """`numpy.argwhere` (integer indices: no gradient).

    >>> import chainrule.numpy as cnp
    >>> cnp.argwhere([[0.0, 1.0]])
    array([[0, 1]])
    """
    if not _traced(a):
        return np.argwhere(a)
    a = _arr(a)
    if a.ndim == 0:
        return argwhere(cnp.atleast_1d(a))[:, :0]
    return cnp.stack(list(cnp.nonzero(a)), axis=1)


@_export
def searchsorted(a: ArrayLike, v: ArrayLike, side: str = "left", sorter: Any = None) -> Any:
    """`numpy.searchsorted` (integer: no gradient). NumPy's where the values are known, else
    a count of comparisons (the same indices, NaNs aside).

    >>> import chainrule.numpy as cnp
    >>> cnp.searchsorted([1.0, 2.0, 3.0], [2.0, 2.5])
    array([1, 2])
    """
    if not _traced(a, v, sorter):
        return np.searchsorted(a, v, side, sorter)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    a = _arr(a)
    if sorter is not None:
        a = a[_arr(sorter)]
    return _searchsorted(a, v, side)


@_export
def digitize(x: ArrayLike, bins: ArrayLike, right: bool = False) -> Any:
    """`numpy.digitize` (integer: no gradient); increasing or decreasing bins.

    >>> import chainrule.numpy as cnp
    >>> cnp.digitize([0.5, 1.5], [0.0, 1.0, 2.0])
    array([1, 2])
    """
    if not _traced(x, bins):
        return np.digitize(x, bins, right)
    x, bins = _arr(x), _arr(bins)
    if x.dtype.kind == "c":
        raise TypeError("x may not be complex")
    side = "left" if right else "right"
    up = _searchsorted(bins, x, side)
    down = bins.shape[0] - _searchsorted(bins[::-1], x, side)
    v = _concrete(bins)
    if v is not None:
        d = np.diff(np.asarray(v))
        if np.all(d >= 0):
            return up
        if np.all(d <= 0):
            return down
        raise ValueError("bins must be monotonically increasing or decreasing")
    return cnp.where(bins[-1] < bins[0], down, up) if bins.shape[0] else up


@_export
def bincount(x: ArrayLike, /, weights: Any = None, minlength: int = 0) -> Any:
    """`numpy.bincount`: differentiable in `weights` (a scatter-add); `x` holds integers,
    whose values set the length (they must be known).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda w: cnp.bincount([0, 2, 2], w)[2])(np.array([1.0, 2.0, 3.0]))
    array([0., 1., 1.])
    """
    if not _traced(x, weights):
        return np.bincount(x, weights, minlength)
    xv = _need_concrete(x, "bincount's integers (they set the result's length)")
    n = np.bincount(xv, minlength=minlength).shape[0]
    if weights is None:
        return np.bincount(xv, minlength=minlength)
    w = _arr(weights)
    w = cnp.astype(w, np.float64) if w.dtype.kind != "c" and w.dtype != np.float64 else w
    return cnp.index_add(np.zeros(n, w.dtype), xv, w)


@_export
def isclose(a: ArrayLike, b: ArrayLike, rtol: Any = 1e-05, atol: Any = 1e-08,
            equal_nan: bool = False) -> Any:  # fmt: skip
    """`numpy.isclose` (boolean: no gradient).

    >>> import chainrule.numpy as cnp
    >>> cnp.isclose([1.0, 2.0], [1.0, 2.1])
    array([ True, False])
    """
    if not _traced(a, b, rtol, atol):
        return np.isclose(a, b, rtol, atol, equal_nan)
    x, y = _arr(a), _arr(b)
    dt = np.result_type(_dtype(y), 1.0)
    y = cnp.astype(y, dt) if _dtype(y) != dt else y
    r = cnp.logical_or(
        cnp.logical_and(cnp.less_equal(cnp.abs(x - y), atol + rtol * cnp.abs(y)),
                        cnp.isfinite(y)),
        cnp.equal(x, y))  # fmt: skip
    if equal_nan:
        r = cnp.logical_or(r, cnp.logical_and(cnp.isnan(x), cnp.isnan(y)))
    return r


@_export
def allclose(a: ArrayLike, b: ArrayLike, rtol: Any = 1e-05, atol: Any = 1e-08,
             equal_nan: bool = False) -> bool:  # fmt: skip
    """`numpy.allclose` (a Python bool: it needs the values).

    >>> import chainrule.numpy as cnp
    >>> cnp.allclose([1.0, 2.0], [1.0, 2.0 + 1e-9])
    True
    """
    if not _traced(a, b, rtol, atol):
        return np.allclose(a, b, rtol, atol, equal_nan)
    return builtins.bool(cnp.all(isclose(a, b, rtol, atol, equal_nan)))


@_export
def array_equal(a1: ArrayLike, a2: ArrayLike, equal_nan: bool = False) -> bool:
    """`numpy.array_equal` (a Python bool: it needs the values).

    >>> import chainrule.numpy as cnp
    >>> cnp.array_equal([1.0, 2.0], [1.0, 2.0])
    True
    """
    if not _traced(a1, a2):
        return np.array_equal(a1, a2, equal_nan)
    a1, a2 = _arr(a1), _arr(a2)
    if _shape(a1) != _shape(a2):
        return False
    eq = cnp.equal(a1, a2)
    if equal_nan:
        eq = cnp.logical_or(eq, cnp.logical_and(cnp.isnan(a1), cnp.isnan(a2)))
    return builtins.bool(cnp.all(eq))


@_export
def array_equiv(a1: ArrayLike, a2: ArrayLike) -> bool:
    """`numpy.array_equiv`: equal after broadcasting (a Python bool).

    >>> import chainrule.numpy as cnp
    >>> cnp.array_equiv([1.0, 1.0], 1.0)
    True
    """
    if not _traced(a1, a2):
        return np.array_equiv(a1, a2)
    a1, a2 = _arr(a1), _arr(a2)
    try:
        np.broadcast_shapes(_shape(a1), _shape(a2))
    except ValueError:
        return False
    return builtins.bool(cnp.all(cnp.equal(a1, a2)))


@_export
def isposinf(x: ArrayLike, out: Any = None) -> Any:
    """`numpy.isposinf` (boolean).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.isposinf(np.array([np.inf, -np.inf]))
    array([ True, False])
    """
    if not _traced(x):
        return np.isposinf(x, out)
    _no_out("isposinf", out)
    x = _arr(x)
    return cnp.logical_and(cnp.isinf(x), cnp.logical_not(cnp.signbit(x)))


@_export
def isneginf(x: ArrayLike, out: Any = None) -> Any:
    """`numpy.isneginf` (boolean).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.isneginf(np.array([np.inf, -np.inf]))
    array([False,  True])
    """
    if not _traced(x):
        return np.isneginf(x, out)
    _no_out("isneginf", out)
    x = _arr(x)
    return cnp.logical_and(cnp.isinf(x), cnp.signbit(x))


@_export
def isreal(x: ArrayLike) -> Any:
    """`numpy.isreal`: imaginary part zero (boolean).

    >>> import chainrule.numpy as cnp
    >>> cnp.isreal([1.0, 2.0])
    array([ True,  True])
    """
    if not _traced(x):
        return np.isreal(x)
    x = _arr(x)
    return cnp.equal(cnp.imag(x), 0) if x.dtype.kind == "c" else np.ones(x.shape, bool)


@_export
def iscomplex(x: ArrayLike) -> Any:
    """`numpy.iscomplex`: imaginary part nonzero (boolean).

    >>> import chainrule.numpy as cnp
    >>> cnp.iscomplex([1.0, 2.0])
    array([False, False])
    """
    if not _traced(x):
        return np.iscomplex(x)
    x = _arr(x)
    return cnp.not_equal(cnp.imag(x), 0) if x.dtype.kind == "c" else np.zeros(x.shape, bool)


@_export
def isin(element: ArrayLike, test_elements: ArrayLike, assume_unique: bool = False,
         invert: bool = False, *, kind: Any = None) -> Any:  # fmt: skip
    """`numpy.isin` (boolean): every element compared with every test element.

    >>> import chainrule.numpy as cnp
    >>> cnp.isin([1.0, 2.0], [2.0, 3.0])
    array([False,  True])
    """
    if not _traced(element, test_elements):
        return np.isin(element, test_elements, assume_unique, invert, kind=kind)
    e, t = _arr(element), cnp.ravel(_arr(test_elements))
    if t.shape[0] == 0:
        r: Any = np.zeros(e.shape, bool)
    else:
        r = _any(cnp.equal(cnp.expand_dims(e, -1), t), axis=-1)
    return cnp.logical_not(r) if invert else r


@_export
def lexsort(keys: Any, axis: int = -1) -> Any:
    """`numpy.lexsort` (integer: no gradient): stable sorts by each key, the last primary.

    >>> import chainrule.numpy as cnp
    >>> cnp.lexsort([[2.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    array([2, 0, 1])
    """
    if not _traced(keys):
        return np.lexsort(keys, axis)
    keys = list(keys) if not isinstance(keys, Tracer) else [keys[i] for i in range(len(keys))]
    keys = [_arr(k) for k in keys]
    idx = cnp.argsort(keys[0], axis=axis, kind="stable")
    for k in keys[1:]:
        idx = cnp.take_along_axis(
            idx, cnp.argsort(cnp.take_along_axis(k, idx, axis), axis=axis, kind="stable"), axis)
    return idx


@_export
def tril_indices_from(arr: ArrayLike, k: int = 0) -> tuple:
    """`numpy.tril_indices_from` (from the shape only).

    >>> import chainrule.numpy as cnp
    >>> [i.tolist() for i in cnp.tril_indices_from(cnp.ones((2, 2)))]
    [[0, 1, 1], [0, 0, 1]]
    """
    if not _traced(arr):
        return np.tril_indices_from(arr, k)
    s = _shape(_arr(arr))
    if len(s) != 2:
        raise ValueError("input array must be 2-d")
    return np.tril_indices(s[-2], k=k, m=s[-1])


@_export
def triu_indices_from(arr: ArrayLike, k: int = 0) -> tuple:
    """`numpy.triu_indices_from` (from the shape only).

    >>> import chainrule.numpy as cnp
    >>> [i.tolist() for i in cnp.triu_indices_from(cnp.ones((2, 2)))]
    [[0, 0, 1], [0, 1, 1]]
    """
    if not _traced(arr):
        return np.triu_indices_from(arr, k)
    s = _shape(_arr(arr))
    if len(s) != 2:
        raise ValueError("input array must be 2-d")
    return np.triu_indices(s[-2], k=k, m=s[-1])


@_export
def diag_indices_from(arr: ArrayLike) -> tuple:
    """`numpy.diag_indices_from` (from the shape only).

    >>> import chainrule.numpy as cnp
    >>> [i.tolist() for i in cnp.diag_indices_from(cnp.ones((2, 2)))]
    [[0, 1], [0, 1]]
    """
    if not _traced(arr):
        return np.diag_indices_from(arr)
    s = _shape(_arr(arr))
    if len(s) < 2:
        raise ValueError("input array must be at least 2-d")
    if len(set(s)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    return np.diag_indices(s[0], len(s))


# --- values chosen by data: unique and set operations (need the values) ----------------------


def _unique_parts(ar: Any, axis: Any, equal_nan: bool) -> tuple:
    a = _arr(ar)
    v = _need_concrete(a, "unique (the result's length depends on the values)")
    res = np.unique(v, return_index=True, return_inverse=True, return_counts=True, axis=axis,
                    equal_nan=equal_nan)  # fmt: skip
    if axis is None:
        vals = cnp.ravel(a)[res[1]]
    else:
        vals = cnp.take(a, res[1], axis=axis)
    return vals, res[1], res[2], res[3]


@_export
def unique(ar: ArrayLike, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: Any = None, *, equal_nan: bool = True,
           sorted: bool = True) -> Any:  # noqa: A002  # fmt: skip
    """`numpy.unique`: the sorted unique values are differentiable (each is its first
    occurrence); the indices, inverse and counts are integers. Needs the values (the
    result's length depends on them).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(cnp.unique(x) ** 2))(np.array([2.0, 1.0, 2.0]))
    array([4., 2., 0.])
    """
    if not _traced(ar):
        return np.unique(ar, return_index, return_inverse, return_counts, axis,
                         equal_nan=equal_nan, sorted=sorted)  # fmt: skip
    vals, idx, inv, cnt = _unique_parts(ar, axis, equal_nan)
    extra = [x for x, want in ((idx, return_index), (inv, return_inverse),
                               (cnt, return_counts)) if want]  # fmt: skip
    return (vals, *extra) if extra else vals


def _unique_all_like(name: str, fields: tuple) -> Callable:
    target = getattr(np, name)

    def fn(x):
        if not _traced(x):
            return target(x)
        vals, idx, inv, cnt = _unique_parts(x, None, False)
        inv = inv.reshape(_shape(_arr(x)))
        got = {"values": vals, "indices": idx, "inverse_indices": inv, "counts": cnt}
        if len(fields) == 1:
            return vals
        return type(target(np.zeros(1)))(*[got[f] for f in fields])

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}` (array API): the values are differentiable, as in
    `unique`; needs the values.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.{name}(np.array([2.0, 1.0, 2.0]))[0 if {len(fields)} > 1 else slice(None)]
    array([1., 2.])
    """
    fn.__annotations__ = {"x": "ArrayLike", "return": "Any"}
    return _export(fn)


unique_values = _unique_all_like("unique_values", ("values",))
unique_counts = _unique_all_like("unique_counts", ("values", "counts"))
unique_inverse = _unique_all_like("unique_inverse", ("values", "inverse_indices"))
unique_all = _unique_all_like("unique_all", ("values", "indices", "inverse_indices", "counts"))


@_export
def union1d(ar1: ArrayLike, ar2: ArrayLike) -> Any:
    """`numpy.union1d`: sorted unique values of both (each from its first occurrence in
    ar1 then ar2); needs the values.

    >>> import chainrule.numpy as cnp
    >>> cnp.union1d([2.0, 1.0], [3.0, 1.0])
    array([1., 2., 3.])
    """
    if not _traced(ar1, ar2):
        return np.union1d(ar1, ar2)
    return unique(cnp.concatenate((cnp.ravel(_arr(ar1)), cnp.ravel(_arr(ar2)))))


@_export
def intersect1d(ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False,
                return_indices: bool = False) -> Any:  # fmt: skip
    """`numpy.intersect1d`: the common values, taken (differentiably) from ar1; needs the
    values.

    >>> import chainrule.numpy as cnp
    >>> cnp.intersect1d([2.0, 1.0], [3.0, 1.0])
    array([1.])
    """
    if not _traced(ar1, ar2):
        return np.intersect1d(ar1, ar2, assume_unique, return_indices)
    a1, a2 = cnp.ravel(_arr(ar1)), cnp.ravel(_arr(ar2))
    v1, v2 = _need_concrete(a1, "intersect1d"), _need_concrete(a2, "intersect1d")
    _, i1, i2 = np.intersect1d(v1, v2, assume_unique, return_indices=True)
    vals = a1[i1]
    return (vals, i1, i2) if return_indices else vals


@_export
def setdiff1d(ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False) -> Any:
    """`numpy.setdiff1d`: values of ar1 not in ar2 (differentiable in ar1); needs the
    values.

    >>> import chainrule.numpy as cnp
    >>> cnp.setdiff1d([2.0, 1.0], [3.0, 1.0])
    array([2.])
    """
    if not _traced(ar1, ar2):
        return np.setdiff1d(ar1, ar2, assume_unique)
    a1 = cnp.ravel(_arr(ar1))
    v1, v2 = _need_concrete(a1, "setdiff1d"), _need_concrete(ar2, "setdiff1d").ravel()
    if assume_unique:
        idx = np.nonzero(~np.isin(v1, v2))[0]
    else:
        _, first = np.unique(v1, return_index=True)
        idx = first[~np.isin(v1[first], v2)]
    return a1[idx]


@_export
def setxor1d(ar1: ArrayLike, ar2: ArrayLike, assume_unique: bool = False) -> Any:
    """`numpy.setxor1d`: sorted values in exactly one of the inputs (differentiable in
    both); needs the values.

    >>> import chainrule.numpy as cnp
    >>> cnp.setxor1d([2.0, 1.0], [3.0, 1.0])
    array([2., 3.])
    """
    if not _traced(ar1, ar2):
        return np.setxor1d(ar1, ar2, assume_unique)
    both = cnp.concatenate((cnp.ravel(_arr(ar1)), cnp.ravel(_arr(ar2))))
    n1 = math.prod(_shape(_arr(ar1)))
    v = _need_concrete(both, "setxor1d")
    if assume_unique:
        i1, i2 = np.arange(n1), n1 + np.arange(v.size - n1)
    else:
        i1 = np.unique(v[:n1], return_index=True)[1]
        i2 = n1 + np.unique(v[n1:], return_index=True)[1]
    idx = np.concatenate((i1[~np.isin(v[i1], v[i2])], i2[~np.isin(v[i2], v[i1])]))
    idx = idx[np.argsort(v[idx], kind="stable")]
    return both[idx]


# --- shaping, gathering and assembling -------------------------------------------------------


@_export
def diagflat(v: ArrayLike, k: int = 0) -> Any:
    """`numpy.diagflat`: a 2-d array with the flattened input on diagonal k.

    >>> import chainrule.numpy as cnp
    >>> cnp.diagflat([[1.0, 2.0]])
    array([[1., 0.],
           [0., 2.]])
    """
    if not _traced(v):
        return np.diagflat(v, k)
    return cnp.diag(cnp.ravel(_arr(v)), k)


@_export
def vander(x: ArrayLike, N: int | None = None, increasing: bool = False) -> Any:
    """`numpy.vander`: columns of powers of x (a cumulative product, exact at 0).

    >>> import chainrule.numpy as cnp
    >>> cnp.vander([2.0, 3.0], 3)
    array([[4., 2., 1.],
           [9., 3., 1.]])
    """
    if not _traced(x):
        return np.vander(x, N, increasing)
    x = _arr(x)
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    N = x.shape[0] if N is None else N
    dt = np.promote_types(x.dtype, int)
    x = cnp.astype(x, dt) if x.dtype != dt else x
    if N == 0:
        return np.empty((x.shape[0], 0), dt)
    ones = np.ones((x.shape[0], 1), dt)
    cols = cnp.concatenate([ones, cnp.broadcast_to(x[:, None], (x.shape[0], N - 1))], 1)
    v = cnp.cumprod(cols, axis=1)
    return v if increasing else v[:, ::-1]


@_export
def resize(a: ArrayLike, new_shape: Any) -> Any:
    """`numpy.resize`: the flattened input repeated to fill `new_shape`.

    >>> import chainrule.numpy as cnp
    >>> cnp.resize(cnp.asarray([1.0, 2.0, 3.0]), (2, 2))
    array([[1., 2.],
           [3., 1.]])
    """
    if not _traced(a):
        return np.resize(a, new_shape)
    new_shape = (new_shape,) if isinstance(new_shape, (int, np.integer)) else tuple(new_shape)
    a = cnp.ravel(_arr(a))
    if builtins.any(d < 0 for d in new_shape):
        raise ValueError("all elements of `new_shape` must be non-negative")
    size = math.prod(new_shape)
    if a.shape[0] == 0 or size == 0:
        return np.zeros(new_shape, a.dtype)
    return cnp.reshape(a[np.arange(size) % a.shape[0]], new_shape)


@_export
def trim_zeros(filt: ArrayLike, trim: str = "fb", axis: Any = None) -> Any:
    """`numpy.trim_zeros`: needs the values (they set the result's shape).

    >>> import chainrule.numpy as cnp
    >>> cnp.trim_zeros(cnp.asarray([0.0, 1.0, 2.0, 0.0]))
    array([1., 2.])
    """
    if not _traced(filt):
        return np.trim_zeros(filt, trim, axis)
    f = _arr(filt)
    v = _need_concrete(f, "trim_zeros (the result's shape depends on the values)")
    trim = trim.lower()
    if trim not in {"fb", "bf", "f", "b"}:
        raise ValueError(f"unexpected character(s) in `trim`: {trim!r}")
    axes = tuple(range(v.ndim)) if axis is None else normalize_axis_tuple(axis, v.ndim,
                                                                            argname="axis")
    if not axes:
        return f
    nz = np.argwhere(v)
    if nz.size == 0:
        start = stop = [0] * v.ndim
    else:
        start = list(nz.min(axis=0)) if "f" in trim else [None] * v.ndim
        stop = list(nz.max(axis=0) + 1) if "b" in trim else [None] * v.ndim
    return f[tuple(slice(start[i], stop[i]) if i in axes else slice(None)
                   for i in range(v.ndim))]  # fmt: skip


@_export
def block(arrays: Any) -> Any:
    """`numpy.block`: assemble an array from nested lists of blocks.

    >>> import chainrule.numpy as cnp
    >>> cnp.block([[cnp.eye(2), cnp.zeros((2, 1))]]).shape
    (2, 3)
    """
    if not _traced(arrays):
        return np.block(arrays)

    def depth(x: Any, level: int) -> tuple:
        if type(x) is tuple:
            raise TypeError(f"{type(x).__name__} is not allowed, use list")
        if type(x) is list:
            if not x:
                raise ValueError("List at arrays cannot be empty")
            ds = [depth(e, level + 1) for e in x]
            if len({d for d, _ in ds}) != 1:
                raise ValueError("List depths are mismatched.")
            return ds[0][0], builtins.max(n for _, n in ds)
        return level, _ndim(x)

    def _ndim(x: Any) -> int:
        return x.ndim if isinstance(x, Tracer) else np.ndim(x)

    list_ndim, arr_ndim = depth(arrays, 0)
    result_ndim = builtins.max(arr_ndim, list_ndim)

    def build(x: Any, level: int) -> Any:
        if level < list_ndim:
            return cnp.concatenate([build(e, level + 1) for e in x],
                                   axis=-(list_ndim - level))  # fmt: skip
        x = _arr(x)
        return cnp.array(x, ndmin=result_ndim)

    return build(arrays, 0)


@_export
def unstack(x: ArrayLike, /, *, axis: int = 0) -> tuple:
    """`numpy.unstack`: the slices along `axis`, as a tuple.

    >>> import chainrule.numpy as cnp
    >>> [p.shape for p in cnp.unstack(cnp.ones((2, 3)), axis=1)]
    [(2,), (2,), (2,)]
    """
    if not _traced(x):
        return np.unstack(x, axis=axis)
    x = _arr(x)
    if x.ndim == 0:
        raise ValueError("Input array must be at least 1-d.")
    x = cnp.moveaxis(x, axis, 0)
    return tuple(x[i] for i in range(x.shape[0]))


def _cumulative(name: str, cum: Callable, fill: float) -> Callable:
    target = getattr(np, name)

    def fn(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        if not _traced(x):
            return target(x, axis=axis, dtype=dtype, out=out, include_initial=include_initial)
        _no_out(name, out)
        x = _arr(x)
        if x.ndim == 0:
            raise ValueError("Cannot apply `cumulative_sum` to a 0-d array." if fill == 0
                             else "Cannot apply `cumulative_prod` to a 0-d array.")
        if axis is None:
            if x.ndim > 1:
                raise ValueError("For arrays which have more than one dimension ``axis`` "
                                 "argument is required.")  # fmt: skip
            axis = 0
        axis = normalize_axis_index(axis, x.ndim)
        r = cum(x, axis=axis, dtype=dtype)
        if include_initial:
            shape = list(r.shape)
            shape[axis] = 1
            r = cnp.concatenate([np.full(shape, fill, r.dtype), r], axis=axis)
        return r

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}` (array API), with `include_initial`.

    >>> import chainrule.numpy as cnp
    >>> cnp.{name}(cnp.asarray([1.0, 2.0, 3.0]), include_initial=True)
    array({np.array2string(target(np.array([1.0, 2.0, 3.0]), include_initial=True),
                           separator=', ')})
    """
    fn.__annotations__ = {"x": "ArrayLike", "return": "Any"}
    return _export(fn)


cumulative_sum = _cumulative("cumulative_sum", cnp.cumsum, 0.0)
cumulative_prod = _cumulative("cumulative_prod", cnp.cumprod, 1.0)


@_export
def choose(a: ArrayLike, choices: Any, out: Any = None, mode: str = "raise") -> Any:
    """`numpy.choose`: element i from choices[a[i]] (modes 'raise', 'wrap', 'clip'); each
    choice gets the gradient where it is chosen.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.choose([1, 0], [cnp.asarray([1.0, 2.0]), np.array([3.0, 4.0])])
    array([3., 2.])
    """
    if not _traced(a, choices if not isinstance(choices, Tracer) else [choices]):
        return np.choose(a, choices, out, mode)
    _no_out("choose", out)
    a = _arr(a)
    ch = [choices[i] for i in range(len(choices))]
    ch = [_arr(c) for c in ch]
    n = len(ch)
    shape = np.broadcast_shapes(_shape(a), *[_shape(c) for c in ch])
    idx = cnp.broadcast_to(a, shape)
    if mode == "wrap":
        idx = idx % n
    elif mode == "clip":
        idx = cnp.clip(idx, 0, n - 1)
    elif mode == "raise":
        v = _concrete(idx)
        if v is not None and (np.any(np.asarray(v) < 0) or np.any(np.asarray(v) >= n)):
            raise ValueError("invalid entry in choice array")
    else:
        raise ValueError(f"clipmode must be one of 'clip', 'raise', or 'wrap' (got {mode!r})")
    dt = _rt(*ch)
    stacked = cnp.stack([cnp.broadcast_to(c if _dtype(c) == dt else cnp.astype(c, dt), shape)
                         for c in ch])  # fmt: skip
    return cnp.take_along_axis(stacked, cnp.expand_dims(idx, 0), 0)[0]


@_export
def compress(condition: ArrayLike, a: ArrayLike, axis: int | None = None,
             out: Any = None) -> Any:  # fmt: skip
    """`numpy.compress`: the slices where `condition` holds (its values are needed).

    >>> import chainrule.numpy as cnp
    >>> cnp.compress([True, False, True], cnp.asarray([1.0, 2.0, 3.0]))
    array([1., 3.])
    """
    if not _traced(condition, a):
        return np.compress(condition, a, axis, out)
    _no_out("compress", out)
    c = _need_concrete(condition, "compress's condition").ravel()
    a = _arr(a)
    if axis is None:
        a, axis = cnp.ravel(a), 0
    idx = np.nonzero(c)[0]
    if idx.size and idx[-1] >= a.shape[axis]:
        raise IndexError(f"index {idx[-1]} is out of bounds for axis {axis} with size "
                         f"{a.shape[axis]}")  # fmt: skip
    return cnp.take(a, idx, axis=axis)


@_export
def extract(condition: ArrayLike, arr: ArrayLike) -> Any:
    """`numpy.extract`: the elements where `condition` holds, flattened.

    >>> import chainrule.numpy as cnp
    >>> cnp.extract([[True, False]], cnp.asarray([[1.0, 2.0]]))
    array([1.])
    """
    if not _traced(condition, arr):
        return np.extract(condition, arr)
    c = _need_concrete(condition, "extract's condition")
    return cnp.ravel(_arr(arr))[np.nonzero(c.ravel())[0]]


@_export
def apply_along_axis(func1d: Callable, axis: int, arr: ArrayLike, *args: Any,
                     **kwargs: Any) -> Any:  # fmt: skip
    """`numpy.apply_along_axis`: `func1d` on every 1-d slice along `axis` (a Python loop
    over the slices; the function may use chainrule.numpy freely).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(cnp.apply_along_axis(cnp.max, 1, x)))(np.eye(2))
    array([[1., 0.],
           [0., 1.]])
    """
    if not _traced(arr, list(args), list(kwargs.values())):
        return np.apply_along_axis(func1d, axis, arr, *args, **kwargs)
    arr = _arr(arr)
    nd = arr.ndim
    axis = normalize_axis_index(axis, nd)
    moved = cnp.moveaxis(arr, axis, -1)
    outer = moved.shape[:-1]
    inds = list(np.ndindex(outer))
    if not inds:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    res = [_arr(func1d(moved[ind], *args, **kwargs)) for ind in inds]
    rshape = _shape(res[0])
    out = cnp.reshape(cnp.stack(res), outer + rshape)
    k = len(rshape)
    order = list(range(axis)) + list(range(len(outer), len(outer) + k)) + \
        list(range(axis, len(outer)))  # fmt: skip
    return cnp.transpose(out, order)


@_export
def apply_over_axes(func: Callable, a: ArrayLike, axes: Any) -> Any:
    """`numpy.apply_over_axes`: `func(a, axis)` repeatedly, keeping the dimensions.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.apply_over_axes(cnp.sum, cnp.ones((2, 3)), [0, 1])
    array([[6.]])
    """
    if not _traced(a):
        return np.apply_over_axes(func, a, axes)
    val = _arr(a)
    N = val.ndim
    if np.ndim(axes) == 0:
        axes = (axes,)
    for ax in axes:
        ax = N + ax if ax < 0 else ax
        res = _arr(func(val, ax))
        if res.ndim != val.ndim:
            res = cnp.expand_dims(res, ax)
            if res.ndim != val.ndim:
                raise ValueError("function is not returning an array of the correct shape")
        val = res
    return val


@_export
def sort_complex(a: ArrayLike) -> Any:
    """`numpy.sort_complex`: sorted by real then imaginary part, as complex.

    >>> import chainrule.numpy as cnp
    >>> cnp.sort_complex(cnp.asarray([2.0, 1.0]))
    array([1.+0.j, 2.+0.j])
    """
    if not _traced(a):
        return np.sort_complex(a)
    b = cnp.sort(_arr(a))
    if b.dtype.kind != "c":
        dt = {"b": "F", "h": "F", "B": "F", "H": "F", "g": "G"}.get(b.dtype.char, "D")
        b = cnp.astype(b, dt)
    return b


@_export
def unwrap(p: ArrayLike, discont: Any = None, axis: int = -1, *,
           period: Any = 2 * np.pi) -> Any:  # fmt: skip
    """`numpy.unwrap`: jumps larger than `discont` corrected by multiples of `period`
    (the corrections are piecewise constant: the gradient passes unchanged).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> np.round(cnp.unwrap(cnp.asarray([0.0, 3.0, -3.0])), 4)
    array([0.    , 3.    , 3.2832])
    """
    if not _traced(p, discont, period):
        return np.unwrap(p, discont, axis, period=period)
    p = _arr(p)
    nd = p.ndim
    dd = diff(p, axis=axis)
    if discont is None:
        discont = period / 2
    s1 = _sl(nd, normalize_axis_index(axis, nd), slice(1, None))
    dt = _rt(dd, period)
    if np.issubdtype(dt, np.integer):
        high, rem = builtins.divmod(period, 2)
        ambiguous = rem == 0
    else:
        high, ambiguous = period / 2, True
    low = -high
    ddmod = cnp.mod(dd - low, period) + low
    if ambiguous:
        ddmod = cnp.where(cnp.logical_and(ddmod == low, dd > 0), high, ddmod)
    corr = cnp.where(cnp.abs(dd) < discont, 0, ddmod - dd)
    p = cnp.astype(p, dt) if p.dtype != dt else p
    first = p[_sl(nd, normalize_axis_index(axis, nd), slice(0, 1))]
    return cnp.concatenate([first, p[s1] + cnp.cumsum(corr, axis=axis)],
                           axis=normalize_axis_index(axis, nd))  # fmt: skip


@_export
def real_if_close(a: ArrayLike, tol: float = 100) -> Any:
    """`numpy.real_if_close`: the real part when every imaginary part is below `tol`
    machine epsilons (a choice that needs the values).

    >>> import chainrule.numpy as cnp
    >>> cnp.real_if_close(cnp.asarray([1.0 + 1e-20j]))
    array([1.])
    """
    if not _traced(a):
        return np.real_if_close(a, tol)
    a = _arr(a)
    if a.dtype.kind != "c":
        return a
    if tol > 1:
        tol = np.finfo(a.dtype).eps * tol
    return cnp.real(a) if builtins.bool(cnp.all(cnp.abs(cnp.imag(a)) < tol)) else a


@_export
def einsum_path(*operands: Any, optimize: Any = "greedy", einsum_call: bool = False) -> Any:
    """`numpy.einsum_path`: the contraction order, from the shapes (works on traced
    values; no gradient involved).

    >>> import chainrule.numpy as cnp
    >>> cnp.einsum_path("ij,jk->ik", cnp.ones((2, 3)), cnp.ones((3, 4)))[0]
    ['einsum_path', (0, 1)]
    """
    ops = [np.empty(o.shape, o.dtype) if isinstance(o, Tracer) else
           (np.empty(_arr(o).shape) if _traced(o) else o) for o in operands]  # fmt: skip
    return np.einsum_path(*ops, optimize=optimize, einsum_call=einsum_call)


def _as_array(a: Any, dtype: Any, at_least_1d: bool = False) -> Any:
    out = cnp.asarray(a, dtype=dtype)
    return cnp.atleast_1d(out) if at_least_1d else out


@_export
def ascontiguousarray(a: ArrayLike, dtype: Any = None, *, like: Any = None) -> Any:
    """`numpy.ascontiguousarray`: traced values are returned as they are (at least 1-d;
    memory layout is NumPy's business; `dtype` converts).

    >>> import chainrule.numpy as cnp
    >>> cnp.ascontiguousarray(1.0).shape
    (1,)
    """
    if not _traced(a):
        return np.ascontiguousarray(a, dtype, **_kw(like=like if like is not None else _NoValue))
    return _as_array(a, dtype, True)


@_export
def asfortranarray(a: ArrayLike, dtype: Any = None, *, like: Any = None) -> Any:
    """`numpy.asfortranarray`: traced values are returned as they are (`dtype` converts).

    >>> import chainrule.numpy as cnp
    >>> cnp.asfortranarray([1.0]).dtype
    dtype('float64')
    """
    if not _traced(a):
        return np.asfortranarray(a, dtype, **_kw(like=like if like is not None else _NoValue))
    return _as_array(a, dtype)


@_export
def asanyarray(a: ArrayLike, dtype: Any = None, order: Any = None, *, device: Any = None,
               copy: Any = None, like: Any = None) -> Any:  # fmt: skip
    """`numpy.asanyarray`: traced values are returned as they are (`dtype` converts).

    >>> import chainrule.numpy as cnp
    >>> cnp.asanyarray([1.0]).dtype
    dtype('float64')
    """
    if not _traced(a):
        return np.asanyarray(a, dtype, order, device=device, copy=copy,
                             **_kw(like=like if like is not None else _NoValue))  # fmt: skip
    return _as_array(a, dtype)


@_export
def require(a: ArrayLike, dtype: Any = None, requirements: Any = None, *,
            like: Any = None) -> Any:  # fmt: skip
    """`numpy.require`: traced values are returned as they are (`dtype` converts; the
    memory requirements are NumPy's business).

    >>> import chainrule.numpy as cnp
    >>> cnp.require([1.0], requirements="C").dtype
    dtype('float64')
    """
    if not _traced(a):
        return np.require(a, dtype, requirements, **_kw(like=like if like is not None
                                                        else _NoValue))  # fmt: skip
    return _as_array(a, dtype)


@_export
def asarray_chkfinite(a: ArrayLike, dtype: Any = None, order: Any = None) -> Any:
    """`numpy.asarray_chkfinite`: raises ValueError on inf or NaN (checked where the values
    are known).

    >>> import chainrule.numpy as cnp
    >>> cnp.asarray_chkfinite([1.0])
    array([1.])
    """
    if not _traced(a):
        return np.asarray_chkfinite(a, dtype, order)
    a = cnp.asarray(a, dtype=dtype)
    v = _concrete(a)
    if v is not None and np.asarray(v).dtype.kind in "fc" and not np.isfinite(v).all():
        raise ValueError("array must not contain infs or NaNs")
    return a


# --- special functions and windows ----------------------------------------------------------


def _chbevl(x: Any, vals: np.ndarray) -> Any:
    b0, b1, b2 = vals[0], 0.0, 0.0
    for i in range(1, len(vals)):
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + vals[i]
    return 0.5 * (b0 - b2)


@_export
def i0(x: ArrayLike) -> Any:
    """`numpy.i0`: the modified Bessel function of the first kind, order 0, with NumPy's
    own Chebyshev expansions (so the values equal NumPy's); the derivative is that of the
    expansion (I1 to the expansion's accuracy, about 1e-15 relative).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> round(float(cr.grad(cnp.i0)(1.0)), 10)  # I1(1)
    0.565159104
    """
    if not _traced(x):
        return np.i0(x)
    from numpy.lib._function_base_impl import _i0A, _i0B

    x = _arr(x)
    if x.dtype.kind == "c":
        raise TypeError("i0 not supported for complex values")
    if x.dtype.kind != "f":
        x = cnp.astype(x, float)
    x = cnp.abs(x)
    small = x <= 8.0
    xs, xl = cnp.where(small, x, 8.0), cnp.where(small, 9.0, x)
    b1 = cnp.exp(xs) * _chbevl(xs / 2.0 - 2, _i0A)
    b2 = cnp.exp(xl) * _chbevl(32.0 / xl - 2.0, _i0B) / cnp.sqrt(xl)
    return cnp.where(small, b1, b2)


@_export
def kaiser(M: int, beta: Any) -> Any:
    """`numpy.kaiser`: the Kaiser window, differentiable in `beta`.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.jacobian(lambda b: cnp.kaiser(3, b))(2.0)[1]
    np.float64(0.0)
    """
    if not _traced(beta):
        return np.kaiser(M, beta)
    dt = np.result_type(0.0, M, _dtype(beta))
    if M == 1:
        return np.ones(1, dtype=dt)
    beta = _arr(beta)
    beta = cnp.astype(beta, dt) if beta.dtype != dt else beta
    n = np.arange(0, float(M))
    alpha = (float(M) - 1) / 2.0
    return i0(beta * np.sqrt(1 - ((n - alpha) / alpha) ** 2.0)) / i0(beta)


@_export
def roots(p: ArrayLike) -> Any:
    """`numpy.roots`: eigenvalues of the companion matrix, differentiable in the
    coefficients (through `linalg.eigvals`; simple roots). Leading and trailing zero
    coefficients are trimmed where the values are known, as in NumPy.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> np.sort(cnp.roots([1.0, -3.0, 2.0]).real)
    array([1., 2.])
    """
    if not _traced(p):
        return np.roots(p)
    from chainrule.core import linalg as _la

    p = cnp.atleast_1d(_arr(p))
    if p.ndim != 1:
        raise ValueError("Input must be a rank-1 array.")
    trailing = 0
    v = _concrete(p)
    if v is not None:
        nz = np.nonzero(np.ravel(v))[0]
        if len(nz) == 0:
            return np.array([])
        trailing = len(v) - nz[-1] - 1
        p = p[int(nz[0]):int(nz[-1]) + 1]
    if p.dtype.kind not in "fc":
        p = cnp.astype(p, float)
    N = p.shape[0]
    if N > 1:
        A = cnp.concatenate([cnp.reshape(-p[1:] / p[0], (1, N - 1)),
                             np.eye(N - 2, N - 1, dtype=p.dtype)], axis=0)  # fmt: skip
        r = _la.eigvals(A)
    else:
        r = np.array([])
    return cnp.concatenate((r, np.zeros(trailing, _dtype(r)))) if trailing else r


@_export
def histogram_bin_edges(a: ArrayLike, bins: Any = 10, range: Any = None,  # noqa: A002
                        weights: Any = None) -> Any:  # fmt: skip
    """`numpy.histogram_bin_edges`: evenly spaced edges from the data's minimum to its
    maximum (or `range`), differentiable in both; the number of bins of a string rule
    ('auto', 'fd', ...) is computed from the values, as NumPy does.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.jacobian(lambda a: cnp.histogram_bin_edges(a, 2))(np.array([0.0, 4.0, 1.0]))[1]
    array([0.5, 0.5, 0. ])
    """
    if not _traced(a, bins, range):
        return np.histogram_bin_edges(a, bins, range, weights)
    a = cnp.ravel(_arr(a))
    if not isinstance(bins, (str, int, np.integer)):
        b = _arr(bins)
        if b.ndim != 1:
            raise ValueError("`bins` must be 1d, when an array")
        return b
    if range is not None:
        lo, hi = range
        vlo, vhi = _concrete(lo), _concrete(hi)
        if vlo is not None and vhi is not None and vlo > vhi:
            raise ValueError("max must be larger than min in range parameter.")
    elif a.shape[0] == 0:
        lo, hi = 0, 1
    else:
        lo, hi = cnp.min(a), cnp.max(a)
    if isinstance(bins, str):
        v = _need_concrete(a, "histogram_bin_edges (the number of bins depends on the values)")
        rv = None if range is None else tuple(float(_need_concrete(r, "range")) for r in range)
        n = len(np.histogram_bin_edges(v, bins, rv)) - 1
    else:
        n = operator.index(bins)
        if n < 1:
            raise ValueError("`bins` must be positive, when an integer")
    same_edge = cnp.equal(lo, hi)
    lo = cnp.where(same_edge, lo - 0.5, lo)
    hi = cnp.where(same_edge, hi + 0.5, hi)
    dt = _rt(lo, hi, a)
    if dt.kind in "biu":
        dt = np.result_type(dt, float)
    return linspace(lo, hi, n + 1, endpoint=True, dtype=dt)


# --- NumPy's objects passed through: dtypes, constants, creation from shapes ----------------

_PASS_THROUGH = [
    # scalar types and dtypes
    "bool", "byte", "ubyte", "short", "ushort", "intc", "uintc", "int_", "uint", "long",
    "ulong", "longlong", "ulonglong", "intp", "uintp", "uint16", "uint32", "uint64", "half",
    "single", "double", "longdouble", "csingle", "cdouble", "clongdouble", "float128",
    "complex256", "generic", "signedinteger", "unsignedinteger", "flexible", "character",
    "bytes_", "str_", "void", "object_", "datetime64", "timedelta64", "ufunc",
    # constants
    "little_endian", "False_", "True_", "ScalarType", "sctypeDict", "typecodes",
    # creation from shapes and integers, and index helpers (no values to differentiate)
    "tril_indices", "triu_indices", "diag_indices", "mask_indices", "mgrid", "ogrid", "s_",
    "index_exp", "ndindex", "fromfunction", "fromiter", "from_dlpack", "bartlett", "blackman",
    "hamming", "hanning", "isrealobj",
]  # fmt: skip
for _name in _PASS_THROUGH:
    if hasattr(np, _name) and _name not in globals():
        globals()[_name] = getattr(np, _name)
        __all__.append(_name)
del _name


# --- ufunc methods on the functions that stand for NumPy's binary ufuncs ---------------------

_REDUCERS = {"add": cnp.sum, "multiply": cnp.prod, "maximum": cnp.max, "minimum": cnp.min,
             "logical_and": cnp.all, "logical_or": cnp.any}  # fmt: skip
_ACCUMULATORS = {"add": cnp.cumsum, "multiply": cnp.cumprod}


def _ufunc_methods(fn: Callable, uf: np.ufunc) -> dict:
    """NumPy's ufunc methods for `fn` (chainrule's function for the binary ufunc `uf`):
    NumPy's own on plain data, compositions of `fn` on traced values."""
    name = uf.__name__

    def reduce(array, axis=0, dtype=None, out=None, keepdims=False, initial=_NoValue,
               where=True):  # fmt: skip
        if not _traced(array, initial):
            return uf.reduce(array, axis, dtype, out, keepdims,
                             **_kw(initial=initial), where=where)  # fmt: skip
        _no_out(f"{name}.reduce", out)
        if where is not True:
            raise NotImplementedError(f"chainrule.numpy.{name}.reduce: where= on traced values")
        a = _arr(array)
        if dtype is not None:
            a = cnp.astype(a, dtype)
        axes = tuple(range(a.ndim)) if axis is None else normalize_axis_tuple(axis, a.ndim)
        if name in _REDUCERS:
            r = _REDUCERS[name](a, axis=axes, keepdims=keepdims)
            return r if initial is _NoValue else fn(r, initial)
        flat, kshape = _to_last(a, axes)
        if flat.shape[-1] == 0:
            if initial is _NoValue:
                raise ValueError(f"zero-size array to reduction operation {name} which has no "
                                 "identity")  # fmt: skip
            r = cnp.broadcast_to(initial, flat.shape[:-1])
        else:
            r = flat[..., 0] if initial is _NoValue else fn(initial, flat[..., 0])
            for i in range(1, flat.shape[-1]):
                r = fn(r, flat[..., i])
        return cnp.reshape(r, kshape) if keepdims else r

    def accumulate(array, axis=0, dtype=None, out=None):
        if not _traced(array):
            return uf.accumulate(array, axis, dtype, out)
        _no_out(f"{name}.accumulate", out)
        a = _arr(array)
        if dtype is not None:
            a = cnp.astype(a, dtype)
        axis = normalize_axis_index(axis, a.ndim)
        if name in _ACCUMULATORS:
            return _ACCUMULATORS[name](a, axis=axis)
        m = cnp.moveaxis(a, axis, 0)
        acc = [m[0]]
        for i in range(1, m.shape[0]):
            acc.append(fn(acc[-1], m[i]))
        return cnp.moveaxis(cnp.stack(acc), 0, axis) if acc else a

    def outer(A, B, /, **kwargs):
        if not _traced(A, B):
            return uf.outer(A, B, **kwargs)
        if kwargs:
            raise NotImplementedError(f"chainrule.numpy.{name}.outer: keyword arguments on "
                                      "traced values")  # fmt: skip
        A, B = _arr(A), _arr(B)
        return fn(cnp.reshape(A, A.shape + (1,) * B.ndim), B)

    def reduceat(array, indices, axis=0, dtype=None, out=None):
        if not _traced(array, indices):
            return uf.reduceat(array, indices, axis, dtype, out)
        _no_out(f"{name}.reduceat", out)
        a = _arr(array)
        idx = _need_concrete(indices, "reduceat's indices").astype(np.intp).ravel()
        axis = normalize_axis_index(axis, a.ndim)
        n = a.shape[axis]
        parts = []
        for k, i in enumerate(idx):
            j = idx[k + 1] if k + 1 < idx.size else n
            s = a[_sl(a.ndim, axis, slice(int(i), int(i) + 1))]
            if i < j:
                s = reduce(a[_sl(a.ndim, axis, slice(int(i), int(j)))], axis=axis,
                           dtype=dtype, keepdims=True)  # fmt: skip
            parts.append(s)
        return cnp.concatenate(parts, axis=axis)

    def at(a, indices, b=None, /):
        if not _traced(a, indices, b):
            return uf.at(a, indices, b) if b is not None else uf.at(a, indices)
        if not hasattr(type(a), "__setitem__"):
            raise TypeError(
                f"{name}.at updates its first argument in place, and a traced value cannot "
                f"change: use the functional forms cnp.index_add(x, indices, y) (add) or "
                f"cnp.index_set(x, indices, cnp.{name}(x[indices], y)), or index assignment "
                "on a cr.Tensor"
            )
        idx = indices if not _traced(indices) else _need_concrete(indices, f"{name}.at")
        if name == "add":
            new = cnp.index_add(a, idx, b)
        elif name == "subtract":
            new = cnp.index_add(a, idx, -_arr(b))
        else:
            new = a
            spec = np.arange(math.prod(_shape(a))).reshape(_shape(a))[idx]
            if np.unique(spec).size == spec.size:
                new = cnp.index_set(new, idx, fn(new[idx], b))
            else:  # repeated indices apply one after the other, as in NumPy
                flat = cnp.ravel(new)
                bb = cnp.broadcast_to(_arr(b), spec.shape)
                for pos, k in zip(np.ndindex(spec.shape), spec.ravel()):
                    flat = cnp.index_set(flat, int(k), fn(flat[int(k)], bb[pos]))
                new = cnp.reshape(flat, _shape(a))
        a[...] = new
        return None

    methods = {"reduce": reduce, "accumulate": accumulate, "outer": outer,
               "reduceat": reduceat, "at": at}  # fmt: skip
    for m, f in methods.items():
        f.__name__ = m
        f.__qualname__ = f"{name}.{m}"
        f.__doc__ = f"`numpy.{name}.{m}`, on traced values too (composed of `{name}`)."
    return methods


def _install_ufunc_methods(namespace: dict) -> None:
    for name, fn in list(namespace.items()):
        uf = getattr(np, name, None)
        if not (isinstance(uf, np.ufunc) and uf.nin == 2 and uf.nout == 1 and callable(fn)):
            continue
        if uf.signature is not None or isinstance(fn, np.ufunc):
            continue
        for m, f in _ufunc_methods(fn, uf).items():
            if not hasattr(fn, m):
                try:
                    setattr(fn, m, f)
                except (AttributeError, TypeError):  # pragma: no cover
                    pass


_install_ufunc_methods({n: getattr(cnp, n) for n in dir(cnp) if not n.startswith("_")})
_install_ufunc_methods({n: globals()[n] for n in __all__})


# --- array methods that NumPy's arrays have and the core's tracers lack ----------------------


def _install_tracer_methods() -> None:
    def ptp_m(self, axis=None, out=None, keepdims=False):
        return ptp(self, axis, out, keepdims)

    methods = {
        "partition": lambda self, kth, axis=-1, kind="introselect", order=None:
            partition(self, kth, axis, kind, order),
        "argpartition": lambda self, kth, axis=-1, kind="introselect", order=None:
            argpartition(self, kth, axis, kind, order),
        "searchsorted": lambda self, v, side="left", sorter=None:
            searchsorted(self, v, side, sorter),
        "choose": lambda self, choices, out=None, mode="raise": choose(self, choices, out, mode),
        "compress": lambda self, condition, axis=None, out=None:
            compress(condition, self, axis, out),
        "nbytes": property(lambda self: self.size * self.dtype.itemsize),
        "itemsize": property(lambda self: self.dtype.itemsize),
    }  # fmt: skip
    examples = {  # the docstrings' examples
        "partition": ">>> cr.tensor([3.0, 1.0, 2.0]).partition(1)\ntensor([1., 2., 3.])\n"
                     ">>> cr.grad(lambda x: cnp.sum(x.partition(1)[:2]))(np.array([3.0, 1.0, 2.0]))"
                     "\narray([0., 1., 1.])",
        "argpartition": ">>> cr.tensor([3.0, 1.0, 2.0]).argpartition(1)\narray([1, 2, 0])",
        "searchsorted": ">>> cr.tensor([1.0, 2.0, 3.0]).searchsorted(2.5)\nnp.int64(2)",
        "choose": ">>> cr.tensor([0, 1, 0]).choose([cr.tensor([1.0, 2.0, 3.0]), "
                  "cr.tensor([4.0, 5.0, 6.0])])\ntensor([1., 5., 3.])",
        "compress": ">>> cr.grad(lambda x: cnp.sum(x.compress([True, False, True])))"
                    "(np.array([3.0, 1.0, 2.0]))\narray([1., 0., 1.])",
    }  # fmt: skip
    for name, m in methods.items():
        if not hasattr(Tracer, name):
            if callable(m):
                m.__name__ = name
                m.__doc__ = (f"`ndarray.{name}` for traced values (returns the result).\n\n"
                             ">>> import numpy as np, chainrule as cr, chainrule.numpy as cnp\n"
                             + examples[name] + "\n")  # fmt: skip
            setattr(Tracer, name, m)


_install_tracer_methods()


# The core's own definitions win: a name `chainrule.core.ops` exports is not re-exported here
# (this module adds what the core lacks).
__all__ = [n for n in __all__ if n not in set(getattr(cnp, "__all__", ()))]
