"""The array functions every layer above the core is written with: NumPy's names and
signatures, on plain data and on tracers.

On plain NumPy data each function calls NumPy directly (NumPy speed, NumPy results); on
tracers, or lists holding them, and on arrays of another array-API namespace
(``core/namespace.py``: they take the tracers' path, and each primitive then runs with their
namespace), it binds a primitive or composes other functions of this module. The rule
tables (``chainrule/rules``) are written with these functions, and the public
namespace ``chainrule.numpy`` re-exports them; the tracer operators and NumPy-style methods are
installed from here onto `Tracer` (at the end of this file).
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.namespace import Namespace, canonical_device, device_of, dtype_of as _dtype
from chainrule.core.namespace import is_foreign, transfer
from chainrule.core.trace import STAGING, ForeignTracer, Tracer, _state, bind, bind_with, box

_SEQ = (list, tuple)
_NO_PARAMS: dict = {}  # shared, never mutated
_INT = (int, np.integer)
_ALIASES = {
    "neg": "negative", "sub": "subtract", "mul": "multiply", "div": "true_divide",
    "pow": "power", "abs": "absolute", "conj": "conjugate", "mod": "remainder",
}  # fmt: skip


def count(shape: tuple, axis: tuple | None) -> int:
    """How many elements a reduction over `axis` (normalised, or None) of `shape` combines."""
    return math.prod(shape) if axis is None else math.prod(shape[i] for i in axis)


def _has_tracer(x: Any) -> bool:
    """Whether `x` (or an element of a list or tuple) is traced, or an array of another
    namespace (it takes the same path); while a program is being staged (jit), an array
    counts too: an expression of a captured array is staged, read at each call, never
    computed once at trace time."""
    if isinstance(x, Tracer):
        return True
    t = type(x)
    if t in _SEQ:
        return builtins.any(_has_tracer(e) for e in x)
    if t is np.ndarray:
        return bool(STAGING[0] and _state.staging)
    return is_foreign(x)


def _lift(x: Any) -> Any:
    """On the traced path: a list/tuple becomes an array (one stacked tracer if it holds
    tracers); anything else is unchanged."""
    if type(x) in _SEQ:
        return array(x) if _has_tracer(x) else np.asarray(x)
    return x


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise NotImplementedError(
            f"chainrule.numpy.{name}: out= is not supported on traced values (the result is "
            "a new value; assign it instead)"
        )


def _no_kwargs(name: str, kwargs: dict) -> None:
    if kwargs:
        raise NotImplementedError(
            f"chainrule.numpy.{name}: the keyword argument(s) {sorted(kwargs)} are not supported "
            "on traced values"
        )


_UNARY_DOCS = {
    "sqrt": "At 0 the derivative is +inf, as the limit.",
    "abs": "At 0 the gradient is 0 (the subgradient PyTorch gives; JAX's is 1).",
    "cbrt": "At 0 the derivative is +inf, as the limit.",
}


def _make_unary(name: str) -> Any:
    prim = getattr(P, name + "_p")
    ufunc = getattr(np, _ALIASES.get(name, name))

    def fn(x, /, **kwargs):
        if isinstance(x, Tracer) and not kwargs:
            return bind_with(prim, (x,), _NO_PARAMS)
        t = type(x)
        if t is np.ndarray:
            if not (STAGING[0] and _state.staging):
                return ufunc(x, **kwargs)
        elif not (isinstance(x, Tracer) or (t in _SEQ and _has_tracer(x)) or is_foreign(x)):
            return ufunc(x, **kwargs)
        _no_kwargs(ufunc.__name__, kwargs)
        return bind(prim, _lift(x))

    fn.__name__ = fn.__qualname__ = _ALIASES.get(name, name)
    x0 = 1.5 if name == "arccosh" else 0.5
    fn.__doc__ = (
        f"Elementwise `numpy.{fn.__name__}`, differentiable. {_UNARY_DOCS.get(name, '')}\n\n"
        f"    >>> import numpy as np, chainrule.numpy as cnp\n"
        f"    >>> bool(cnp.{fn.__name__}({x0}) == np.{fn.__name__}({x0}))\n    True\n"
    )
    return fn


_BINARY_DOCS = {
    "maximum": "Where x == y the gradient is split evenly (0.5 each), as in JAX and PyTorch.",
    "minimum": "Where x == y the gradient is split evenly (0.5 each), as in JAX and PyTorch.",
    "fmax": "NaNs are ignored as in NumPy; ties split the gradient evenly.",
    "fmin": "NaNs are ignored as in NumPy; ties split the gradient evenly.",
}


def _make_binary(name: str, nondiff: bool = False) -> Any:
    prim = getattr(P, name + "_p")
    ufunc = getattr(np, _ALIASES.get(name, name))

    def fn(x, y, /, **kwargs):
        if isinstance(x, Tracer) or isinstance(y, Tracer) or _has_tracer(x) or _has_tracer(y):
            _no_kwargs(ufunc.__name__, kwargs)
            return bind(prim, _lift(x), _lift(y))
        return ufunc(x, y, **kwargs)

    fn.__name__ = fn.__qualname__ = _ALIASES.get(name, name)
    note = (
        "Its output is integer-valued or boolean: it carries no gradient."
        if nondiff
        else _BINARY_DOCS.get(name, "Broadcasts as NumPy does.")
    )
    fn.__doc__ = (
        f"Elementwise `numpy.{fn.__name__}`{'' if nondiff else ', differentiable'}. {note}\n\n"
        f"    >>> import numpy as np, chainrule.numpy as cnp\n"
        f"    >>> bool(cnp.{fn.__name__}(3.0, 2.0) == np.{fn.__name__}(3.0, 2.0))\n"
        f"    True\n"
    )
    return fn


def _make_nondiff_unary(name: str) -> Any:
    prim = getattr(P, name + "_p")
    ufunc = getattr(np, name)

    def fn(x, /, **kwargs):
        if isinstance(x, Tracer) or _has_tracer(x):
            _no_kwargs(name, kwargs)
            return bind(prim, _lift(x))
        return ufunc(x, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"Elementwise `numpy.{name}`. Integer-valued or boolean: it carries no gradient "
        f"(zero gradient through it).\n\n"
        f"    >>> import numpy as np, chainrule.numpy as cnp\n"
        f"    >>> bool(cnp.{name}(1.5) == np.{name}(1.5))\n    True\n"
    )
    return fn


_g = globals()
for _n in P.UNARY:
    _f = _make_unary(_n)
    _g[_f.__name__] = _f
for _n in P.BINARY:
    _f = _make_binary(_n)
    _g[_f.__name__] = _f
for _n in ("sign", "floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit",
           "logical_not"):  # fmt: skip
    _g[_n] = _make_nondiff_unary(_n)
for _n in ("floor_divide", "equal", "not_equal", "less", "less_equal", "greater",
           "greater_equal", "logical_and", "logical_or", "logical_xor"):  # fmt: skip
    _g[_n] = _make_binary(_n, nondiff=True)

# NumPy's aliases
absolute, conjugate, divide = _g["absolute"], _g["conjugate"], _g["true_divide"]
abs = fabs = absolute  # noqa: A001
negative, subtract, multiply, power = _g["negative"], _g["subtract"], _g["multiply"], _g["power"]
remainder = mod = _g["remainder"]
add, true_divide, exp, log, sqrt, sin, cos, real, imag = (
    _g["add"], _g["true_divide"], _g["exp"], _g["log"], _g["sqrt"], _g["sin"], _g["cos"],
    _g["real"], _g["imag"],
)  # fmt: skip
conj = conjugate
radians, degrees = _g["deg2rad"], _g["rad2deg"]
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = (
    _g["arcsin"], _g["arccos"], _g["arctan"], _g["arcsinh"], _g["arccosh"], _g["arctanh"]
)  # fmt: skip
asin, acos, atan, asinh, acosh, atanh, atan2 = (
    arcsin, arccos, arctan, arcsinh, arccosh, arctanh, _g["arctan2"]
)
pow = power  # noqa: A001


def integer_pow(x, y: int):
    """`x ** y` for a Python int `y`, by multiplications (JAX's `lax.integer_pow`; not
    exported by `chainrule.numpy`, whose `power` is NumPy's): the Tensor face's `x ** 3`,
    bit for bit PyTorch's ``(x*x)*x``. Differentiable; `y` 0 and 1 bind nothing.

    >>> import numpy as np
    >>> integer_pow(np.array([1.5, -2.0]), 3)
    array([ 3.375, -8.   ])
    """
    if y == 0:
        return ones_like(x)
    if y == 1:
        return x
    if isinstance(x, Tracer):
        return bind_with(P.integer_pow_p, (x,), {"y": y})
    return P.integer_pow_p.impl(x, y=y)


def angle(z, deg=False):
    """`numpy.angle`: the argument of complex values (0 or π for real ones), differentiable
    (as arctan2 of the imaginary and real parts); NumPy's values and dtype for real ones
    (π at -0.0 and -inf), whose derivative is 0.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cr.grad(lambda x: cnp.angle(x * 1j + 1.0))(0.0))
    1.0
    """
    if not _traced(z):
        return np.angle(z, deg)
    z = _lift(z)
    if _dtype(z).kind == "c":
        a = atan2(imag(z), real(z))
    else:  # piecewise constant: NumPy's arctan2(0, z), outside the graph
        a = bind(P.stop_gradient_p, atan2(0, z if _dtype(z).kind == "f" else
                                          astype(z, np.float64)), reason="angle of reals")
    return a * (180 / np.pi) if deg else a


def positive(x, /):
    """`+x`, the identity.

    >>> import chainrule.numpy as cnp
    >>> cnp.positive(2.0)
    2.0
    """
    return x


def round(a, decimals=0, out=None):  # noqa: A001
    """`numpy.round`; piecewise constant: it carries no gradient.

    >>> import chainrule.numpy as cnp
    >>> cnp.round(2.567, 1)
    np.float64(2.6)
    """
    if isinstance(a, Tracer) or _has_tracer(a):
        _no_out("round", out)
        return bind(P.round_p, _lift(a), decimals=decimals)
    return np.round(a, decimals, out)


around = round


# --- conversion ------------------------------------------------------------------------------


def array(obj, dtype=None, copy=True, ndmin=0):
    """`numpy.array`, accepting nested lists that hold tracers (they are stacked).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(cnp.array([x, x ** 2, x ** 3])))(2.0)
    np.float64(17.0)
    """
    if isinstance(obj, Tracer) or is_foreign(obj):
        out = obj if dtype is None else astype(obj, dtype)
    elif type(obj) in _SEQ and _has_tracer(obj):
        out = stack([array(e) if type(e) in _SEQ else e for e in obj])
        if dtype is not None:
            out = astype(out, dtype)
    else:
        return np.array(obj, dtype=dtype, copy=copy, ndmin=ndmin)
    if ndmin > out.ndim:
        out = reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
    return out


def asarray(a, dtype=None):
    """`numpy.asarray`; tracers and lists holding them stay differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.asarray([1.0, 2.0])
    array([1., 2.])
    """
    if isinstance(a, Tracer) or _has_tracer(a):
        return array(a, dtype=dtype)
    return np.asarray(a, dtype=dtype)


def astype(x, dtype, /, copy=True):
    """`x.astype(dtype)`; between float and complex types the gradient is cast back.

    >>> import chainrule.numpy as cnp
    >>> cnp.astype(cnp.asarray([1.5]), "float32").dtype
    dtype('float32')
    """
    if isinstance(x, Tracer) or is_foreign(x):
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.inexact):
            cut = bind(P.stop_gradient_p, x, reason=f"a cast to {dtype}")
            return bind(P.astype_p, cut, dtype=dtype)
        return bind(P.astype_p, x, dtype=dtype)
    return np.asarray(x).astype(dtype, copy=copy)


def device_put(x, device, /):
    """The array `x` on `device` (``"cpu"``, ``"cuda:N"``, a namespace's device object), as a
    recorded operation: under a transformation (and for Tensors) the cotangent goes back to
    `x`'s device. Returned as it is when it is there already.

    >>> import numpy as np
    >>> a = np.ones(2)
    >>> device_put(a, "cpu") is a
    True
    """
    dst = canonical_device(device)
    if not isinstance(x, Tracer):
        return transfer(x, dst)
    v = x
    while isinstance(v, Tracer) and type(v) is not ForeignTracer:
        v = v._below()  # the value one transformation down (None: staged, no value)
    src = None if v is None else device_of(v._value if type(v) is ForeignTracer else v)
    if src is None:
        raise TypeError(
            f"moving a value to {device!r} inside cr.jit (or eval_shape): where a staged "
            "value lives is not known while tracing; move the arguments before the call "
            "(cr.device_put(x, device), t.to(device))"
        )
    return move(x, dst, src)


def move(x: Any, device: Any, src: Any) -> Any:
    """`x`, on device `src`, moved to `device` (both as `canonical_device` names them): the
    rules' form of `device_put`, which knows where the value is; a plain array is moved
    directly (an array of another namespace boxed: this runs inside transformations).

    >>> move(1.0, "cpu", "cpu")
    1.0
    """
    if device == src:
        return x
    if isinstance(x, Tracer):
        return bind(P.device_put_p, x, device=device, src=src)
    return box(transfer(x, device))


def _shape(x: Any) -> tuple:
    return x.shape if isinstance(x, (Tracer, np.ndarray, np.generic)) else np.shape(x)


def _ndim(x: Any) -> int:
    return len(_shape(x))


def shape(a):
    """`numpy.shape`.

    >>> import chainrule.numpy as cnp
    >>> cnp.shape([[1.0, 2.0]])
    (1, 2)
    """
    return _shape(_lift(a))


def ndim(a):
    """`numpy.ndim`.

    >>> import chainrule.numpy as cnp
    >>> cnp.ndim(1.0)
    0
    """
    return _ndim(_lift(a))


def size(a, axis=None):
    """`numpy.size`.

    >>> import chainrule.numpy as cnp
    >>> cnp.size([[1.0, 2.0]])
    2
    """
    s = _shape(_lift(a))
    return int(np.prod(s)) if axis is None else s[axis]


# --- selection -------------------------------------------------------------------------------


def where(condition, x=None, y=None, /):
    """`numpy.where`. The condition carries no gradient; x and y get it where chosen.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.where(x > 0, x ** 2, -x))(3.0)
    np.float64(6.0)
    """
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y should be given")
    condition, x, y = _lift(condition), _lift(x), _lift(y)
    if isinstance(condition, Tracer):
        condition = bind(P.not_equal_p, condition, 0)
    return bind(P.where_p, condition, x, y)


def _recorded_constant(x, value):
    """`value` (broadcast with `x`), recorded as a result of `x` with derivative 0: a traced
    `x` gives a traced result, as PyTorch records such results; `x`'s NaN and inf do not
    reach it (matrix_power(a, 0), and the Tensor face's angle of reals and addmm with
    beta = 0)."""
    return where(np.zeros(np.broadcast_shapes(np.shape(x), np.shape(value)), bool), x, value)


def nonzero(a):
    """`numpy.nonzero` (integer indices: no gradient).

    >>> import chainrule.numpy as cnp
    >>> cnp.nonzero([0.0, 2.0])
    (array([1]),)
    """
    return bind(P.nonzero_p, _lift(a))


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs):  # noqa: A002
    """`numpy.clip` (also with NumPy 2.1's `min=`/`max=`). The gradient passes where
    a_min <= a <= a_max, bounds included (as in PyTorch's clamp); a traced bound gets it where
    it is the value chosen (the upper bound when a_min > a_max, as in NumPy).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.clip(x, 0.0, 1.0))(1.0)
    np.float64(1.0)
    """
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    if not _traced(a, a_min, a_max):
        return np.clip(a, a_min, a_max, out=out, **kwargs)
    _no_out("clip", out)
    _no_kwargs("clip", kwargs)
    a = _lift(a)
    lo = -np.inf if a_min is None else a_min
    hi = np.inf if a_max is None else a_max
    return bind(P.clip_p, a, lo, hi)


# --- reductions ------------------------------------------------------------------------------


def _norm_axis(axis: Any, nd: int, name: str) -> tuple | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -nd <= a < nd:
            raise np.exceptions.AxisError(
                f"{name}: axis {a} is out of bounds for array of ndim {nd}"
            )
        out.append(int(a) % nd)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axis}")
    return tuple(sorted(out))


def _reduction(prim: Any, npfun: Any, doc: str) -> Any:
    name = npfun.__name__

    def fn(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        if axis is None and dtype is None and out is None and not kwargs and \
                isinstance(a, Tracer):  # the common case, fast  # fmt: skip
            return bind_with(prim, (a,), {"axis": None, "keepdims": bool(keepdims)})
        if isinstance(a, Tracer) or _has_tracer(a):
            _no_kwargs(name, kwargs)
            _no_out(name, out)
            a = _lift(a)
            if dtype is not None:
                a = astype(a, dtype)
            axes = _norm_axis(axis, a.ndim, name)
            if dtype is not None and np.dtype(dtype).kind in "biu":  # NumPy accumulates in
                # `dtype`, wrapping around: the wide result cast (the same modulo 2**bits)
                if prim is P.mean_p:
                    total = astype(bind(P.sum_p, a, axis=axes, keepdims=keepdims), dtype)
                    return astype(total / count(a.shape, axes), dtype)
                return astype(bind(prim, a, axis=axes, keepdims=keepdims), dtype)
            return bind(prim, a, axis=axes, keepdims=keepdims)
        if dtype is not None:
            kwargs["dtype"] = dtype
        return npfun(a, axis=axis, out=out, keepdims=keepdims, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


sum = _reduction(P.sum_p, np.sum, """`numpy.sum` with `axis`, `dtype` and `keepdims`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(x ** 2))(np.array([1.0, 2.0]))
    array([2., 4.])
    """)  # noqa: A001
prod = _reduction(P.prod_p, np.prod, """`numpy.prod`. The gradient is exact with zeros present
    (products of the other factors, never a division by zero).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.prod)(np.array([0.0, 2.0, 3.0]))
    array([6., 0., 0.])
    """)


def _minmax(prim: Any, npfun: Any, name: str) -> Any:
    pick = {"max": "maximum", "min": "minimum"}[name]

    def fn(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=np._NoValue):
        if not (isinstance(a, Tracer) or _has_tracer(a) or _traced(initial, where)):
            kw = {k: v for k, v in (("initial", initial), ("where", where))
                  if v is not np._NoValue}  # fmt: skip
            return npfun(a, axis=axis, out=out, keepdims=keepdims, **kw)
        _no_out(name, out)
        a = _lift(a)
        axes = _norm_axis(axis, a.ndim, name)
        if initial is np._NoValue:
            if where is not np._NoValue:
                raise ValueError(f"reduction operation '{pick}' does not have an identity, so "
                                 "to use a where mask one has to specify 'initial'")  # fmt: skip
            return bind(prim, a, axis=axes, keepdims=keepdims)
        if where is not np._NoValue:  # masked elements count as the initial value
            a = globals()["where"](where, a, initial)
        shape = tuple(1 if axes is None or i in axes else s for i, s in enumerate(a.shape))
        if count(a.shape, axes) == 0:  # nothing to reduce: the initial value
            res = full_like(np.empty(shape), initial, dtype=_dtype(a)) + 0 * sum(a, axis=axes,
                                                                                keepdims=True)
        else:
            res = globals()[pick](bind(prim, a, axis=axes, keepdims=True), initial)
        return res if keepdims else reshape(res, tuple(s for i, s in enumerate(shape)
                                                       if not (axes is None or i in axes)))

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`. Ties share the gradient evenly (as JAX and PyTorch do).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.{name})(np.array([1.0, 3.0, 3.0]))[1] == 0.5 * (np.{name}([1, 3, 3]) == 3)
    np.True_
    """
    return fn


amax = max = _minmax(P.amax_p, np.max, "max")  # noqa: A001
amin = min = _minmax(P.amin_p, np.min, "min")  # noqa: A001
amax.__name__, amin.__name__ = "max", "min"


mean = _mean = _reduction(P.mean_p, np.mean, """`numpy.mean`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.mean)(np.array([1.0, 2.0]))
    array([0.5, 0.5])
    """)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):  # noqa: A002  (NumPy 2's keywords)
    """`numpy.var` with `ddof` (or NumPy 2's `correction`) and a precomputed `mean`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.var)(np.array([1.0, 3.0]))
    array([-1.,  1.])
    """
    if not (isinstance(a, Tracer) or _has_tracer(a) or isinstance(mean, Tracer)):
        kw = {k: v for k, v in (("where", where), ("mean", mean), ("correction", correction))
              if v is not None}  # fmt: skip
        return np.var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw)
    _no_out("var", out)
    if where is not None:
        raise NotImplementedError("chainrule.numpy.var: where= is not supported on traced "
                                  "values; select with cnp.where first")  # fmt: skip
    if correction is not None:
        if ddof != 0:
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    a = _lift(a)
    if dtype is not None:
        a = astype(a, dtype)
    d = a - (_mean(a, axis=axis, keepdims=True) if mean is None else mean)
    sq = real(d * conj(d)) if _dtype(d).kind == "c" else d * d
    n = count(a.shape, _norm_axis(axis, a.ndim, "var"))
    return sum(sq, axis=axis, keepdims=keepdims) / builtins.max(n - ddof, 0)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        mean=None, correction=None):  # noqa: A002  (NumPy 2's keywords)
    """`numpy.std` with `ddof` (or NumPy 2's `correction`) and a precomputed `mean`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.std)(np.array([1.0, 3.0]))
    array([-0.5,  0.5])
    """
    if not (isinstance(a, Tracer) or _has_tracer(a) or isinstance(mean, Tracer)):
        kw = {k: v for k, v in (("where", where), ("mean", mean), ("correction", correction))
              if v is not None}  # fmt: skip
        return np.std(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kw)
    _no_out("std", out)
    return sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, where=where,
                    mean=mean, correction=correction))  # fmt: skip


def _cumulative(prim: Any, npfun: Any, name: str) -> Any:
    def fn(a, axis=None, dtype=None, out=None):
        if isinstance(a, Tracer) or _has_tracer(a):
            _no_out(name, out)
            a = _lift(a)
            if dtype is not None:
                a = astype(a, dtype)
            if axis is None:
                a, axis = reshape(a, (-1,)), 0
            (axis,) = _norm_axis(axis, a.ndim, name)
            if dtype is not None and np.dtype(dtype).kind in "biu":  # wrapping, as NumPy's
                return astype(bind(prim, a, axis=axis), dtype)
            return bind(prim, a, axis=axis)
        return npfun(a, axis=axis, dtype=dtype, out=out)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(cnp.{name}(x)))(np.array([1.0, 2.0, 3.0])).shape
    (3,)
    """
    return fn


cumsum = _cumulative(P.cumsum_p, np.cumsum, "cumsum")
cumprod = _cumulative(P.cumprod_p, np.cumprod, "cumprod")


def _nondiff_reduction(prim: Any, npfun: Any, name: str) -> Any:
    def fn(a, axis=None, out=None, *, keepdims=False):
        if isinstance(a, Tracer) or _has_tracer(a):
            _no_out(name, out)
            a = _lift(a)
            if prim in (P.any_p, P.all_p):  # reductions over a tuple of axes
                axis = _norm_axis(axis, a.ndim, name)
            return bind(prim, a, axis=axis, keepdims=keepdims)
        return npfun(a, axis=axis, out=out, keepdims=keepdims)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""`numpy.{name}`: integer or boolean result, no gradient.

    >>> import chainrule.numpy as cnp
    >>> cnp.{name}([0.0, 2.0]) == __import__('numpy').{name}([0.0, 2.0])
    np.True_
    """
    return fn


argmax = _nondiff_reduction(P.argmax_p, np.argmax, "argmax")
argmin = _nondiff_reduction(P.argmin_p, np.argmin, "argmin")
any = _nondiff_reduction(P.any_p, np.any, "any")  # noqa: A001
all = _nondiff_reduction(P.all_p, np.all, "all")  # noqa: A001


def _stable_kind(kind, stable):
    """NumPy 2's `stable=True`: the kind 'stable' (both given: NumPy's error)."""
    if stable is None:
        return kind
    if kind is not None:
        raise ValueError("`kind` and `stable` parameters can't be provided at the same time. "
                         "Use only one of them.")
    return "stable" if stable else None


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """`numpy.argsort` (integer result, no gradient).

    >>> import chainrule.numpy as cnp
    >>> cnp.argsort([3.0, 1.0, 2.0])
    array([1, 2, 0])
    """
    kind = _stable_kind(kind, stable)
    if isinstance(a, Tracer) or _has_tracer(a):
        return bind(P.argsort_p, _lift(a), axis=axis, kind=kind)
    return np.argsort(a, axis=axis, kind=kind, order=order)


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """`numpy.sort`; the gradient follows each element to its sorted place.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sort(x)[0])(np.array([3.0, 1.0, 2.0]))
    array([0., 1., 0.])
    """
    kind = _stable_kind(kind, stable)
    if not (isinstance(a, Tracer) or _has_tracer(a)):
        return np.sort(a, axis=axis, kind=kind, order=order)
    a = _lift(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return take_along_axis(a, argsort(a, axis=axis, kind=kind), axis)


# --- shapes ----------------------------------------------------------------------------------


def _traced(*xs: Any) -> bool:
    for x in xs:
        if isinstance(x, Tracer) or _has_tracer(x):
            return True
    return False


def reshape(a, shape=None, order="C", *, newshape=None):
    """`numpy.reshape` (C order).

    >>> import chainrule.numpy as cnp
    >>> cnp.reshape(cnp.asarray([1.0, 2.0]), (2, 1)).shape
    (2, 1)
    """
    shape = newshape if shape is None else shape
    if not _traced(a):
        return np.reshape(a, shape, order=order)
    if order != "C":
        raise NotImplementedError("chainrule.numpy.reshape: only order='C' on traced values")
    a = _lift(a)
    shape = _resolve_shape(a.shape, shape)
    if shape == a.shape:
        return a
    return bind(P.reshape_p, a, shape=shape)


def _resolve_shape(old: tuple, shape: Any) -> tuple:
    """A reshape's target shape with its -1 resolved (NumPy's rules and error message)."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    size = math.prod(old)
    if shape.count(-1) > 1:
        raise ValueError("reshape: can only specify one unknown dimension")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or size % known:
            raise ValueError(f"reshape: cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if math.prod(shape) != size or builtins.any(s < 0 for s in shape):
        raise ValueError(f"reshape: cannot reshape array of size {size} (shape {old}) into "
                         f"shape {shape}")  # fmt: skip
    return shape


def ravel(a, order="C"):
    """`numpy.ravel`.

    >>> import chainrule.numpy as cnp
    >>> cnp.ravel([[1.0], [2.0]])
    array([1., 2.])
    """
    return reshape(a, (-1,), order) if _traced(a) else np.ravel(a, order)


def transpose(a, axes=None):
    """`numpy.transpose`.

    >>> import chainrule.numpy as cnp
    >>> cnp.transpose(cnp.ones((2, 3))).shape
    (3, 2)
    """
    if not _traced(a):
        return np.transpose(a, axes)
    a = _lift(a)
    nd = a.ndim
    axes = tuple(range(nd))[::-1] if axes is None else tuple(int(x) % nd for x in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"transpose: axes {axes} don't match array of ndim {nd}")
    if axes == tuple(range(nd)):
        return a
    return bind(P.transpose_p, a, axes=axes)


def permute_dims(a, axes=None):
    """Array-API name of `transpose`.

    >>> import chainrule.numpy as cnp
    >>> cnp.permute_dims(cnp.ones((2, 3)), (1, 0)).shape
    (3, 2)
    """
    return transpose(a, axes)


def moveaxis(a, source, destination):
    """`numpy.moveaxis`.

    >>> import chainrule.numpy as cnp
    >>> cnp.moveaxis(cnp.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    if not _traced(a):
        return np.moveaxis(a, source, destination)
    a = _lift(a)
    nd = a.ndim
    src = [s % nd for s in ((source,) if isinstance(source, _INT) else source)]
    dst = [d % nd for d in ((destination,) if isinstance(destination, _INT) else destination)]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def swapaxes(a, axis1, axis2):
    """`numpy.swapaxes`.

    >>> import chainrule.numpy as cnp
    >>> cnp.swapaxes(cnp.ones((2, 3)), 0, 1).shape
    (3, 2)
    """
    if not _traced(a):
        return np.swapaxes(a, axis1, axis2)
    a = _lift(a)
    order = list(range(a.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return transpose(a, order)


matrix_transpose = lambda x, /: swapaxes(x, -1, -2)  # noqa: E731
matrix_transpose.__doc__ = """`numpy.matrix_transpose`: the last two axes swapped.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.matrix_transpose(np.ones((2, 3, 4))).shape
    (2, 4, 3)
    """


def squeeze(a, axis=None):
    """`numpy.squeeze`.

    >>> import chainrule.numpy as cnp
    >>> cnp.squeeze(cnp.ones((1, 2, 1))).shape
    (2,)
    """
    if not _traced(a):
        return np.squeeze(a, axis)
    a = _lift(a)
    axes = _norm_axis(axis, a.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, s in enumerate(a.shape) if s == 1)
    for i in axes:
        if a.shape[i] != 1:
            raise ValueError(f"squeeze: cannot select axis {i} of size {a.shape[i]} != 1")
    return reshape(a, tuple(s for i, s in enumerate(a.shape) if i not in axes))


def expand_dims(a, axis):
    """`numpy.expand_dims`.

    >>> import chainrule.numpy as cnp
    >>> cnp.expand_dims(cnp.ones(2), 0).shape
    (1, 2)
    """
    if not _traced(a):
        return np.expand_dims(a, axis)
    a = _lift(a)
    axes = (axis,) if isinstance(axis, _INT) else tuple(axis)
    nd = a.ndim + len(axes)
    axes = sorted(x % nd for x in axes)
    shape = list(a.shape)
    for x in axes:
        shape.insert(x, 1)
    return reshape(a, tuple(shape))


def broadcast_to(array, shape):
    """`numpy.broadcast_to`; the gradient sums over the broadcast axes.

    >>> import chainrule.numpy as cnp
    >>> cnp.broadcast_to(1.0, (2,))
    array([1., 1.])
    """
    if not _traced(array):
        return np.broadcast_to(array, shape)
    array = _lift(array)
    shape = (shape,) if isinstance(shape, _INT) else tuple(shape)
    if array.shape == shape:
        return array
    return bind(P.broadcast_to_p, array, shape=shape)


def broadcast_arrays(*args):
    """`numpy.broadcast_arrays`.

    >>> import chainrule.numpy as cnp
    >>> [x.shape for x in cnp.broadcast_arrays(cnp.ones(2), 1.0)]
    [(2,), (2,)]
    """
    args = [_lift(a) for a in args]
    shape = np.broadcast_shapes(*(_shape(a) for a in args))
    return [broadcast_to(a, shape) for a in args]


def _atleast(a: Any, n: int) -> Any:
    a = _lift(a) if _traced(a) else np.asarray(a)
    nd = _ndim(a)
    if nd >= n:
        return a
    s = _shape(a)
    new = {1: (1,), 2: (1,) + s if nd == 1 else (1, 1), 3: None}[n]
    if n == 3:
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[nd]
    return reshape(a, new)


def atleast_1d(*arys):
    """`numpy.atleast_1d`.

    >>> import chainrule.numpy as cnp
    >>> cnp.atleast_1d(1.0).shape
    (1,)
    """
    res = [_atleast(a, 1) for a in arys]
    return res[0] if len(res) == 1 else res


def atleast_2d(*arys):
    """`numpy.atleast_2d`.

    >>> import chainrule.numpy as cnp
    >>> cnp.atleast_2d(cnp.ones(3)).shape
    (1, 3)
    """
    res = [_atleast(a, 2) for a in arys]
    return res[0] if len(res) == 1 else res


def atleast_3d(*arys):
    """`numpy.atleast_3d`.

    >>> import chainrule.numpy as cnp
    >>> cnp.atleast_3d(cnp.ones(3)).shape
    (1, 3, 1)
    """
    res = [_atleast(a, 3) for a in arys]
    return res[0] if len(res) == 1 else res


def concatenate(arrays, axis=0, out=None, dtype=None):
    """`numpy.concatenate`; `axis=None` flattens first.

    >>> import chainrule.numpy as cnp
    >>> cnp.concatenate([cnp.ones(2), cnp.zeros(1)])
    array([1., 1., 0.])
    """
    arrays = list(arrays)
    if not _traced(arrays):
        return np.concatenate(arrays, axis=axis, out=out, dtype=dtype)
    _no_out("concatenate", out)
    arrays = [_lift(a) if _traced(a) else np.asarray(a) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    nd = _ndim(arrays[0])
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    for a in arrays:
        if _ndim(a) != nd:
            raise ValueError(
                f"concatenate: all inputs need the same number of dimensions, got shapes "
                f"{[_shape(x) for x in arrays]}"
            )
    axis = int(axis) % nd
    sizes = tuple(_shape(a)[axis] for a in arrays)
    out_ = bind(P.concatenate_p, *arrays, axis=axis, sizes=sizes)
    return out_ if dtype is None else astype(out_, dtype)


concat = concatenate


def stack(arrays, axis=0, out=None, dtype=None):
    """`numpy.stack`.

    >>> import chainrule.numpy as cnp
    >>> cnp.stack([cnp.ones(2), cnp.zeros(2)]).shape
    (2, 2)
    """
    arrays = list(arrays)
    if not _traced(arrays):
        return np.stack(arrays, axis=axis, out=out, dtype=dtype)
    _no_out("stack", out)
    arrays = [_lift(a) if _traced(a) else np.asarray(a) for a in arrays]
    shapes = {_shape(a) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"stack: all input arrays must have the same shape, got {sorted(shapes)}")
    axis = axis % (_ndim(arrays[0]) + 1)
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis, dtype=dtype)


def hstack(tup, dtype=None):
    """`numpy.hstack`.

    >>> import chainrule.numpy as cnp
    >>> cnp.hstack([cnp.ones(2), cnp.zeros(1)]).shape
    (3,)
    """
    arrs = atleast_1d(*tup)
    arrs = arrs if isinstance(arrs, list) else [arrs]
    return concatenate(arrs, axis=0 if _ndim(arrs[0]) == 1 else 1, dtype=dtype)


def vstack(tup, dtype=None):
    """`numpy.vstack`.

    >>> import chainrule.numpy as cnp
    >>> cnp.vstack([cnp.ones(2), cnp.zeros(2)]).shape
    (2, 2)
    """
    arrs = atleast_2d(*tup)
    return concatenate(arrs if isinstance(arrs, list) else [arrs], axis=0, dtype=dtype)


row_stack = vstack


def dstack(tup):
    """`numpy.dstack`.

    >>> import chainrule.numpy as cnp
    >>> cnp.dstack([cnp.ones(2), cnp.zeros(2)]).shape
    (1, 2, 2)
    """
    arrs = atleast_3d(*tup)
    return concatenate(arrs if isinstance(arrs, list) else [arrs], axis=2)


def column_stack(tup):
    """`numpy.column_stack`.

    >>> import chainrule.numpy as cnp
    >>> cnp.column_stack([cnp.ones(2), cnp.zeros(2)]).shape
    (2, 2)
    """
    cols = [reshape(a, (-1, 1)) if _ndim(a) < 2 else a for a in map(_lift, tup)]
    return concatenate(cols, axis=1)


def _split_points(n: int, indices_or_sections: Any, strict: bool) -> list:
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if strict and n % k:
            raise ValueError("split: array split does not result in an equal division")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        return list(np.cumsum([0] + sizes))
    return [0] + [int(i) for i in indices_or_sections] + [n]


def _split(ary: Any, ios: Any, axis: int, strict: bool) -> list:
    ary = _lift(ary)
    axis = axis % ary.ndim
    pts = _split_points(ary.shape[axis], ios, strict)
    pre = (slice(None),) * axis
    return [getitem(ary, pre + (slice(a, b),)) for a, b in zip(pts[:-1], pts[1:])]


def split(ary, indices_or_sections, axis=0):
    """`numpy.split`.

    >>> import chainrule.numpy as cnp
    >>> [p.shape for p in cnp.split(cnp.ones(4), 2)]
    [(2,), (2,)]
    """
    if not _traced(ary):
        return np.split(ary, indices_or_sections, axis)
    return _split(ary, indices_or_sections, axis, True)


def array_split(ary, indices_or_sections, axis=0):
    """`numpy.array_split`.

    >>> import chainrule.numpy as cnp
    >>> [p.shape for p in cnp.array_split(cnp.ones(5), 2)]
    [(3,), (2,)]
    """
    if not _traced(ary):
        return np.array_split(ary, indices_or_sections, axis)
    return _split(ary, indices_or_sections, axis, False)


def hsplit(ary, indices_or_sections):
    """`numpy.hsplit`.

    >>> import chainrule.numpy as cnp
    >>> len(cnp.hsplit(cnp.ones((2, 4)), 2))
    2
    """
    return split(ary, indices_or_sections, 1 if ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """`numpy.vsplit`.

    >>> import chainrule.numpy as cnp
    >>> len(cnp.vsplit(cnp.ones((4, 2)), 2))
    2
    """
    return split(ary, indices_or_sections, 0)


def repeat(a, repeats, axis=None):
    """`numpy.repeat`; the gradient sums over the copies.

    >>> import chainrule.numpy as cnp
    >>> cnp.repeat(cnp.asarray([1.0, 2.0]), 2)
    array([1., 1., 2., 2.])
    """
    if not _traced(a):
        return np.repeat(a, repeats, axis)
    a = _lift(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = axis % a.ndim
    return _take_axis(a, np.repeat(np.arange(a.shape[axis]), repeats), axis)


def tile(A, reps):
    """`numpy.tile`.

    >>> import chainrule.numpy as cnp
    >>> cnp.tile(cnp.asarray([1.0, 2.0]), 2)
    array([1., 2., 1., 2.])
    """
    if not _traced(A):
        return np.tile(A, reps)
    A = _lift(A)
    reps = (reps,) if isinstance(reps, _INT) else tuple(reps)
    nd = builtins.max(A.ndim, len(reps))
    reps = (1,) * (nd - len(reps)) + reps
    A = reshape(A, (1,) * (nd - A.ndim) + A.shape)
    inter = [d for r, s in zip(reps, A.shape) for d in (r, s)]
    expanded = reshape(A, tuple(d for s in A.shape for d in (1, s)))
    final = tuple(r * s for r, s in zip(reps, A.shape))
    return reshape(broadcast_to(expanded, tuple(inter)), final)


def pad(array, pad_width, mode="constant", **kwargs):
    """`numpy.pad`. Constant padding (with `constant_values`) and the gather modes
    ('edge', 'reflect', 'symmetric', 'wrap') are differentiable.

    >>> import chainrule.numpy as cnp
    >>> cnp.pad(cnp.ones(2), 1)
    array([0., 1., 1., 0.])
    """
    if not _traced(array, kwargs.get("constant_values")):
        return np.pad(array, pad_width, mode, **kwargs)
    a = _lift(array) if _traced(array) else np.asarray(array)
    width = tuple(tuple(int(v) for v in w) for w in np.broadcast_to(pad_width, (a.ndim, 2)))
    if mode == "constant":
        c = kwargs.pop("constant_values", 0)
        _no_kwargs("pad", kwargs)
        out = bind(P.pad_p, a, pad_width=width)
        if isinstance(c, Tracer):
            return where(np.pad(np.zeros(a.shape, bool), width, constant_values=True), c, out)
        if np.any(np.asarray(c) != 0):
            mask = np.pad(np.zeros(a.shape, bool), width, constant_values=True)
            fill = np.pad(np.zeros(a.shape, _dtype(a)), width, constant_values=c)
            out = where(mask, fill, out)
        return out
    if mode in ("edge", "reflect", "symmetric", "wrap"):
        _no_kwargs("pad", kwargs)
        idx = [np.pad(np.arange(n), w, mode=mode) for n, w in zip(a.shape, width)]
        return getitem(a, np.ix_(*idx) if a.ndim > 1 else idx[0])
    raise NotImplementedError(f"chainrule.numpy.pad: mode={mode!r} on traced values")


def flip(m, axis=None):
    """`numpy.flip`.

    >>> import chainrule.numpy as cnp
    >>> cnp.flip(cnp.asarray([1.0, 2.0]))
    array([2., 1.])
    """
    if not _traced(m):
        return np.flip(m, axis)
    m = _lift(m)
    axes = _norm_axis(axis, m.ndim, "flip")
    axes = range(m.ndim) if axes is None else axes
    return getitem(m, tuple(slice(None, None, -1) if i in axes else slice(None)
                            for i in range(m.ndim)))  # fmt: skip


def fliplr(m):
    """`numpy.fliplr`.

    >>> import chainrule.numpy as cnp
    >>> cnp.fliplr(cnp.eye(2))[0]
    array([0., 1.])
    """
    return flip(m, 1)


def flipud(m):
    """`numpy.flipud`.

    >>> import chainrule.numpy as cnp
    >>> cnp.flipud(cnp.asarray([1.0, 2.0]))
    array([2., 1.])
    """
    return flip(m, 0)


def roll(a, shift, axis=None):
    """`numpy.roll`.

    >>> import chainrule.numpy as cnp
    >>> cnp.roll(cnp.asarray([1.0, 2.0, 3.0]), 1)
    array([3., 1., 2.])
    """
    if not _traced(a):
        return np.roll(a, shift, axis)
    a = _lift(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    shifts, axes = np.broadcast_arrays(shift, axis)
    for s, ax in zip(shifts.ravel(), axes.ravel()):
        ax = int(ax) % a.ndim
        n = a.shape[ax]
        if n:
            a = _take_axis(a, (np.arange(n) - int(s)) % n, ax)
    return a


def rot90(m, k=1, axes=(0, 1)):
    """`numpy.rot90`.

    >>> import chainrule.numpy as cnp
    >>> cnp.rot90(cnp.asarray([[1.0, 2.0], [3.0, 4.0]]))[0]
    array([2., 4.])
    """
    if not _traced(m):
        return np.rot90(m, k, axes)
    m = _lift(m)
    k %= 4
    a0, a1 = axes
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    order = list(range(m.ndim))
    order[a0], order[a1] = order[a1], order[a0]
    return transpose(flip(m, a1), order) if k == 1 else flip(transpose(m, order), a1)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """`numpy.diagonal` (the diagonal is the last axis of the result).

    >>> import chainrule.numpy as cnp
    >>> cnp.diagonal(cnp.eye(2))
    array([1., 1.])
    """
    if not _traced(a):
        return np.diagonal(a, offset, axis1, axis2)
    a = moveaxis(_lift(a), (axis1, axis2), (-2, -1))
    n, m = a.shape[-2:]
    i = np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    return getitem(a, (..., i, i + offset))


def diag(v, k=0):
    """`numpy.diag`: the k-th diagonal of a matrix, or a matrix from a vector.

    >>> import chainrule.numpy as cnp
    >>> cnp.diag(cnp.asarray([1.0, 2.0]))
    array([[1., 0.],
           [0., 2.]])
    """
    if not _traced(v):
        return np.diag(v, k)
    v = _lift(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError(f"diag: input must be 1-d or 2-d, got shape {v.shape}")
    n = v.shape[0] + builtins.abs(k)
    i = np.arange(v.shape[0])
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    return index_add(np.zeros((n, n), _dtype(v)), (rows, cols), v)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """`numpy.trace`.

    >>> import chainrule.numpy as cnp
    >>> cnp.trace(cnp.eye(3))
    np.float64(3.0)
    """
    if not _traced(a):
        return np.trace(a, offset, axis1, axis2, dtype, out)
    _no_out("trace", out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def _tri_mask(shape: tuple, k: int, upper: bool) -> np.ndarray:
    n, m = shape[-2:] if len(shape) > 1 else (shape[-1], shape[-1])
    return np.triu(np.ones((n, m), bool), k) if upper else np.tril(np.ones((n, m), bool), k)


def triu(m, k=0):
    """`numpy.triu`.

    >>> import chainrule.numpy as cnp
    >>> cnp.triu(cnp.ones((2, 2)))
    array([[1., 1.],
           [0., 1.]])
    """
    if not _traced(m):
        return np.triu(m, k)
    m = _lift(m)
    return where(_tri_mask(m.shape, k, True), m, 0.0)


def tril(m, k=0):
    """`numpy.tril`.

    >>> import chainrule.numpy as cnp
    >>> cnp.tril(cnp.ones((2, 2)))
    array([[1., 0.],
           [1., 1.]])
    """
    if not _traced(m):
        return np.tril(m, k)
    m = _lift(m)
    return where(_tri_mask(m.shape, k, False), m, 0.0)


# --- indexing --------------------------------------------------------------------------------


_basic_cache: dict = {}  # index spec -> the index it stands for (basic indexing only)


def index_spec(index: Any) -> tuple[tuple, list]:
    """Split an index into its static part (hashable: a primitive parameter) and its integer
    index arrays (operands, so that they are protected, traced and batched like any value).

    In the spec, ``("s", start, stop, step)`` is a slice, an int is an int, None and Ellipsis
    are themselves, and ``("a", k)`` is the k-th array. Boolean masks become the integer
    arrays of their nonzero positions (which needs their values).

    >>> index_spec((slice(1, None), [0, 2]))
    ((('s', 1, None, None), ('a', 0)), [array([0, 2])])
    """
    items = index if type(index) is tuple else (index,)
    spec: list = []
    arrays: list = []
    for it in items:
        t = type(it)
        if t is slice:
            spec.append(("s", _opt_index(it.start), _opt_index(it.stop), _opt_index(it.step)))
        elif it is None or it is Ellipsis:
            spec.append(it)
        elif t is bool or t is np.bool_:
            if not it:
                raise NotImplementedError("indexing with False on a traced value")
            spec.append(None)  # x[True] is x[None]
        elif isinstance(it, _INT):
            spec.append(int(it))
        else:
            arr = it
            if isinstance(arr, Tracer) or is_foreign(arr):
                kind = _dtype(arr).kind
                if kind == "b":
                    while isinstance(arr, Tracer) and type(arr) is not ForeignTracer:
                        arr = arr._trace.concrete(arr, "a boolean mask index")
                    if type(arr) is ForeignTracer or is_foreign(arr):  # its positions, there
                        for nz in bind(P.nonzero_p, arr):
                            spec.append(("a", len(arrays)))
                            arrays.append(nz)
                        continue
                    arr = np.asarray(arr)
                elif kind not in "iu":
                    raise IndexError(
                        "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) "
                        f"and integer or boolean arrays are valid indices, not {arr.dtype} values"
                    )
            else:
                arr = np.asarray(arr)
            if isinstance(arr, Tracer) or is_foreign(arr):  # an integer array, checked above
                spec.append(("a", len(arrays)))
                arrays.append(arr)
                continue
            if arr.dtype.kind == "b":
                for nz in np.nonzero(arr):
                    spec.append(("a", len(arrays)))
                    arrays.append(nz)
                continue
            if arr.dtype.kind not in "iu":
                if arr.size == 0:
                    arr = arr.astype(np.intp)
                else:
                    raise IndexError(
                        "only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) "
                        f"and integer or boolean arrays are valid indices, not {arr.dtype}"
                    )
            spec.append(("a", len(arrays)))
            arrays.append(arr)
    return tuple(spec), arrays


def _opt_index(v: Any) -> Any:
    return None if v is None else v.__index__()


def build_index(spec: tuple, arrays: Any) -> tuple:
    """The NumPy index that `spec` and `arrays` stand for."""
    if not arrays:
        idx = _basic_cache.get(spec)
        if idx is None:
            idx = _basic_cache[spec] = tuple(
                slice(*s[1:]) if type(s) is tuple else s for s in spec
            )
        return idx
    return tuple(
        (arrays[s[1]] if s[0] == "a" else slice(*s[1:])) if type(s) is tuple else s for s in spec
    )


def has_arrays(spec: tuple) -> bool:
    """Whether the index has integer arrays (advanced indexing)."""
    return builtins.any(type(s) is tuple and s[0] == "a" for s in spec)


def getitem(a, index):
    """`a[index]`: basic, slice, fancy and boolean indexing; the gradient scatter-adds back.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: cnp.sum(x[[0, 0, 1]]))(np.array([1.0, 2.0]))
    array([2., 1.])
    """
    if not isinstance(a, Tracer):
        if not _traced(a, index):
            return np.asarray(a)[index]
        a = _lift(a) if _traced(a) else np.asarray(a)
    spec, arrays = index_spec(index)
    return bind_with(P.getitem_p, (a, *arrays), {"index": spec})


def index_add(x, index, y):
    """`x` with `y` added at `index` (repeated indices accumulate): a copy, differentiable
    in both `x` and `y`. The transpose of indexing.

    >>> import chainrule.numpy as cnp
    >>> cnp.index_add(cnp.zeros(3), [0, 0], 1.0)
    array([2., 0., 0.])
    """
    spec, arrays = index_spec(index)
    return bind(P.index_add_p, _lift(x), _lift(y), *arrays, index=spec)


def index_set(x, index, y):
    """`x` with `y` written at `index`: a copy, differentiable in both `x` and `y`.

    >>> import chainrule.numpy as cnp
    >>> cnp.index_set(cnp.zeros(2), 1, 5.0)
    array([0., 5.])
    """
    spec, arrays = index_spec(index)
    return bind(P.index_set_p, _lift(x), _lift(y), *arrays, index=spec)


def _take_axis(a: Any, index: Any, axis: int) -> Any:
    return getitem(a, (slice(None),) * axis + (index,))


def take(a, indices, axis=None, out=None, mode=None):
    """`numpy.take`.

    >>> import chainrule.numpy as cnp
    >>> cnp.take(cnp.asarray([1.0, 2.0, 3.0]), [2, 0])
    array([3., 1.])
    """
    if not _traced(a, indices):
        return np.take(a, indices, axis, out, mode)
    _no_out("take", out)
    a = _lift(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = axis % a.ndim
    if mode in ("clip", "wrap"):  # NumPy's: clipped to [0, n) (negatives too), or modulo n
        n = a.shape[axis]
        traced = isinstance(indices, Tracer) or is_foreign(indices)
        indices = indices if traced else np.asarray(indices)
        if mode == "clip":
            indices = clip(indices, 0, n - 1) if traced else np.clip(indices, 0, n - 1)
        else:
            indices = remainder(indices, n) if traced else np.remainder(indices, n)
    elif mode not in (None, "raise"):
        raise ValueError(f"take: mode must be one of 'raise', 'wrap', 'clip', not {mode!r}")
    return _take_axis(a, indices, axis)


def take_along_axis(arr, indices, axis):
    """`numpy.take_along_axis`.

    >>> import chainrule.numpy as cnp
    >>> cnp.take_along_axis(cnp.asarray([[1.0, 2.0]]), cnp.asarray([[1]]), 1)
    array([[2.]])
    """
    if not _traced(arr, indices):
        return np.take_along_axis(arr, indices, axis)
    arr = _lift(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = axis % arr.ndim
    indices = indices if isinstance(indices, Tracer) or is_foreign(indices) else \
        np.asarray(indices)  # fmt: skip
    if indices.ndim != arr.ndim:
        raise ValueError("take_along_axis: indices and arr must have the same number of dimensions")
    shape = np.broadcast_shapes(
        tuple(1 if i == axis else s for i, s in enumerate(arr.shape)),
        tuple(1 if i == axis else s for i, s in enumerate(indices.shape)),
    )
    idx = []
    for i in range(arr.ndim):
        if i == axis:
            idx.append(indices)
        else:
            r = np.arange(shape[i]).reshape([-1 if j == i else 1 for j in range(arr.ndim)])
            idx.append(r)
    return getitem(arr, tuple(idx))


# --- products --------------------------------------------------------------------------------


def matmul(x1, x2, /):
    """`numpy.matmul` (`@`), with NumPy's rules for 1-d operands and batch broadcasting.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda A: cnp.sum(A @ np.ones(2)))(np.eye(2))
    array([[1., 1.],
           [1., 1.]])
    """
    if isinstance(x1, Tracer):
        if isinstance(x2, (Tracer, np.ndarray)) and x1.shape and x2.shape:  # the common case
            return bind_with(P.matmul_p, (x1, x2), _NO_PARAMS)
    elif not _traced(x2):
        if not _traced(x1):
            return np.matmul(x1, x2)
    x1, x2 = _lift(x1), _lift(x2)
    if _ndim(x1) == 0 or _ndim(x2) == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (0-d)")
    return bind(P.matmul_p, x1, x2)


def dot(a, b, out=None):
    """`numpy.dot`.

    >>> import chainrule.numpy as cnp
    >>> cnp.dot(cnp.ones(3), cnp.ones(3))
    np.float64(3.0)
    """
    if not _traced(a, b):
        return np.dot(a, b, out)
    _no_out("dot", out)
    a, b = _lift(a), _lift(b)
    na, nb = _ndim(a), _ndim(b)
    if na == 0 or nb == 0:
        return multiply(a, b)
    if nb <= 2:
        return matmul(a, b)
    return tensordot(a, b, axes=([-1], [-2]))


def vdot(a, b, /):
    """`numpy.vdot`: conjugates the first argument, flattens both.

    >>> import chainrule.numpy as cnp
    >>> cnp.vdot(cnp.ones(2), cnp.ones(2))
    np.float64(2.0)
    """
    if not _traced(a, b):
        return np.vdot(a, b)
    return sum(conj(ravel(a)) * ravel(b))


def inner(a, b, /):
    """`numpy.inner`.

    >>> import chainrule.numpy as cnp
    >>> cnp.inner(cnp.ones(2), cnp.ones(2))
    np.float64(2.0)
    """
    if not _traced(a, b):
        return np.inner(a, b)
    a, b = _lift(a), _lift(b)
    if _ndim(a) == 0 or _ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


def outer(a, b, out=None):
    """`numpy.outer`.

    >>> import chainrule.numpy as cnp
    >>> cnp.outer(cnp.ones(2), cnp.ones(3)).shape
    (2, 3)
    """
    if not _traced(a, b):
        return np.outer(a, b, out)
    _no_out("outer", out)
    return reshape(ravel(a), (-1, 1)) * reshape(ravel(b), (1, -1))


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def tensordot(a, b, axes=2):
    """`numpy.tensordot`.

    >>> import chainrule.numpy as cnp
    >>> cnp.tensordot(cnp.ones((2, 3)), cnp.ones((3, 4)), axes=1).shape
    (2, 4)
    """
    if not _traced(a, b):
        return np.tensordot(a, b, axes)
    a, b = _lift(a), _lift(b)
    na, nb = _ndim(a), _ndim(b)
    if isinstance(axes, (int, np.integer)):
        ax_a, ax_b = list(range(na - axes, na)), list(range(axes))
    else:
        ax_a, ax_b = axes
        ax_a = [ax_a] if isinstance(ax_a, _INT) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, _INT) else list(ax_b)
    ax_a, ax_b = [x % na for x in ax_a], [x % nb for x in ax_b]
    for i, j in zip(ax_a, ax_b):
        if _shape(a)[i] != _shape(b)[j]:
            raise ValueError(f"tensordot: shape-mismatch for sum: {_shape(a)} and {_shape(b)}")
    sa = list(_LETTERS[:na])
    sb = list(_LETTERS[na : na + nb])
    for i, j in zip(ax_a, ax_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in ax_a] + [
        c for j, c in enumerate(sb) if j not in ax_b
    ]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def _parse_einsum(subscripts: str, shapes: list) -> str:
    """Explicit form with no ellipsis: 'ij,jk->ik'."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    ins = ins.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"einsum: {len(ins)} operand subscripts for {len(shapes)} operands")
    used = set("".join(ins).replace(".", "") + (out or "").replace(".", ""))
    free = [c for c in _LETTERS if c not in used]
    ell_nd = builtins.max([len(s) - (len(t) - 3) for t, s in zip(ins, shapes) if "..." in t] or [0])
    ell = "".join(free[:ell_nd])
    new_ins = []
    for t, s in zip(ins, shapes):
        if "..." in t:
            k = len(s) - (len(t) - 3)
            t = t.replace("...", ell[ell_nd - k :] if k else "")
        if len(t) != len(s):
            raise ValueError(f"einsum: subscripts {t!r} for an operand of shape {s}")
        new_ins.append(t)
    if out is None:
        counts = {c: "".join(new_ins).count(c) for c in set("".join(new_ins))}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return ",".join(new_ins) + "->" + out


def einsum(subscripts, *operands, optimize=False, **kwargs):
    """`numpy.einsum`, including '...' and implicit output; differentiable in every operand.
    The traced call computes exactly what the plain call does (same `optimize`).

    >>> import chainrule.numpy as cnp
    >>> cnp.einsum("ij,jk->ik", cnp.ones((2, 3)), cnp.ones((3, 4))).shape
    (2, 4)
    """
    if not _traced((subscripts, *operands)):
        return np.einsum(subscripts, *operands, optimize=optimize, **kwargs)
    if not isinstance(subscripts, str):  # the sublist form: einsum(a, [0, 1], b, [1, 2], [0, 2])
        subscripts, operands = _sublists(subscripts, operands)
    _no_kwargs("einsum", kwargs)
    ops = [_lift(o) if _traced(o) else np.asarray(o) for o in operands]
    subs = _parse_einsum(subscripts, [_shape(o) for o in ops])
    opt = optimize if isinstance(optimize, (bool, str)) else True
    return bind(P.einsum_p, *ops, subscripts=subs, optimize=opt)


def _sublists(first: Any, rest: tuple) -> tuple[str, tuple]:
    """einsum's sublist form, einsum(a, [0, 1], b, [1, 2], [0, 2]), as (subscripts, operands)."""
    items = (first, *rest)
    out = None
    if len(items) % 2 == 1:  # an output sublist after the last operand's
        out, items = items[-1], items[:-1]

    def term(sub: Any) -> str:
        return "".join("..." if i is Ellipsis else _LETTERS[int(i)] for i in sub)

    text = ",".join(term(t) for t in items[1::2])
    return text + ("" if out is None else "->" + term(out)), tuple(items[0::2])


def kron(a, b):
    """`numpy.kron`.

    >>> import chainrule.numpy as cnp
    >>> cnp.kron(cnp.eye(2), cnp.ones((1, 2))).shape
    (2, 4)
    """
    if not _traced(a, b):
        return np.kron(a, b)
    a, b = _lift(a), _lift(b)
    nd = builtins.max(_ndim(a), _ndim(b))
    a = reshape(a, (1,) * (nd - _ndim(a)) + _shape(a))
    b = reshape(b, (1,) * (nd - _ndim(b)) + _shape(b))
    sa, sb = _shape(a), _shape(b)
    ea = reshape(a, tuple(d for s in sa for d in (s, 1)))
    eb = reshape(b, tuple(d for s in sb for d in (1, s)))
    return reshape(ea * eb, tuple(x * y for x, y in zip(sa, sb)))


# --- creation (no gradient: pass-through to NumPy) -------------------------------------------


def zeros_like(a, dtype=None, shape=None):
    """`numpy.zeros_like` (a constant).

    >>> import chainrule.numpy as cnp
    >>> cnp.zeros_like(cnp.ones(2))
    array([0., 0.])
    """
    a = _lift(a)
    if type(a) is ForeignTracer:  # another namespace's array in a transformation: made there
        return ForeignTracer(zeros_like(a._value, dtype, shape))
    if isinstance(a, Tracer):
        return np.zeros(a.shape if shape is None else shape, dtype or a.dtype)
    if is_foreign(a):
        return _like(a).zeros(a.shape if shape is None else shape, dtype or _dtype(a))
    return np.zeros_like(a, dtype=dtype, shape=shape)


def ones_like(a, dtype=None, shape=None):
    """`numpy.ones_like` (a constant).

    >>> import chainrule.numpy as cnp
    >>> cnp.ones_like(cnp.zeros(2))
    array([1., 1.])
    """
    a = _lift(a)
    if type(a) is ForeignTracer:
        return ForeignTracer(ones_like(a._value, dtype, shape))
    if isinstance(a, Tracer):
        return np.ones(a.shape if shape is None else shape, dtype or a.dtype)
    if is_foreign(a):
        return _like(a).full(a.shape if shape is None else shape, 1, dtype or _dtype(a))
    return np.ones_like(a, dtype=dtype, shape=shape)


def full_like(a, fill_value, dtype=None, shape=None):
    """`numpy.full_like` (a constant).

    >>> import chainrule.numpy as cnp
    >>> cnp.full_like(cnp.zeros(2), 3.0)
    array([3., 3.])
    """
    a = _lift(a)
    if type(a) is ForeignTracer:
        return ForeignTracer(full_like(a._value, fill_value, dtype, shape))
    if isinstance(a, Tracer):
        return np.full(a.shape if shape is None else shape, fill_value, dtype or a.dtype)
    if is_foreign(a):
        return _like(a).full(a.shape if shape is None else shape, fill_value,
                             dtype or _dtype(a))  # fmt: skip
    return np.full_like(a, fill_value, dtype=dtype, shape=shape)


def _like(a: Any) -> Namespace:
    """The namespace and device of the foreign array `a` (constants like it are made there)."""
    return Namespace(a.__array_namespace__(), a.device)


def empty_like(a, dtype=None, shape=None):
    """`numpy.empty_like` (a constant).

    >>> import chainrule.numpy as cnp
    >>> cnp.empty_like(cnp.zeros(2)).shape
    (2,)
    """
    return zeros_like(a, dtype, shape)


def copy(a):
    """`numpy.copy`; differentiable (the identity on traced values).

    >>> import chainrule.numpy as cnp
    >>> cnp.copy([1.0])
    array([1.])
    """
    return _lift(a) if _traced(a) else np.copy(a)



# --- operators and methods of every tracer ---------------------------------------------------


def _binop(prim: P.Primitive) -> tuple:
    """`self op other` and `other op self`."""

    def op(self, other):
        if type(other) in _SEQ:
            other = _lift(other)
        return bind_with(prim, (self, other), _NO_PARAMS)

    def rop(self, other):
        if type(other) in _SEQ:
            other = _lift(other)
        return bind_with(prim, (other, self), _NO_PARAMS)

    return op, rop


def _logical(prim: P.Primitive, name: str) -> tuple:
    """`&`, `|`, `^` on boolean values (NumPy's bitwise operators on bools)."""

    def check(x: Any) -> None:
        if _dtype(x).kind != "b":
            raise NotImplementedError(
                f"the operator {name} on traced values is defined for booleans only (got "
                f"{_dtype(x)}); bitwise operations on integers carry no derivative: "
                "apply them to cr.stop_gradient(x)"
            )

    def op(self, other):
        check(self)
        check(other)
        return bind_with(prim, (self, other), _NO_PARAMS)

    def rop(self, other):
        check(self)
        check(other)
        return bind_with(prim, (other, self), _NO_PARAMS)

    return op, rop


def _pow(self, other):
    if type(other) is int and other == 2:  # NumPy computes x**2 as square too
        return bind_with(P.square_p, (self,), _NO_PARAMS)
    if type(other) in _SEQ:
        other = _lift(other)
    return bind_with(P.pow_p, (self, other), _NO_PARAMS)


def _invert(self):
    if self.dtype.kind != "b":
        raise NotImplementedError("~ on traced values is defined for booleans only")
    return bind_with(P.logical_not_p, (self,), _NO_PARAMS)


def _reshape_method(self, *shape, order="C"):
    return reshape(self, shape[0] if len(shape) == 1 else shape, order)


def _transpose_method(self, *axes):
    return transpose(self, None if not axes else (axes[0] if len(axes) == 1 else axes))


def _install(T: type) -> None:
    for name, prim in [("add", P.add_p), ("sub", P.sub_p), ("mul", P.mul_p),
                       ("truediv", P.div_p), ("mod", P.mod_p),
                       ("floordiv", P.floor_divide_p)]:  # fmt: skip
        f, r = _binop(prim)
        setattr(T, f"__{name}__", f)
        setattr(T, f"__r{name}__", r)
    T.__pow__ = _pow
    T.__rpow__ = _binop(P.pow_p)[1]
    for name, prim in [("lt", P.less_p), ("le", P.less_equal_p), ("gt", P.greater_p),
                       ("ge", P.greater_equal_p), ("eq", P.equal_p),
                       ("ne", P.not_equal_p)]:  # fmt: skip
        setattr(T, f"__{name}__", _binop(prim)[0])
    for name, prim in [("and", P.logical_and_p), ("or", P.logical_or_p),
                       ("xor", P.logical_xor_p)]:  # fmt: skip
        f, r = _logical(prim, {"and": "&", "or": "|", "xor": "^"}[name])
        setattr(T, f"__{name}__", f)
        setattr(T, f"__r{name}__", r)
    T.__invert__ = _invert
    T.__hash__ = object.__hash__
    T.__matmul__ = matmul
    T.__rmatmul__ = lambda self, other: matmul(other, self)
    T.__neg__ = lambda self: bind_with(P.neg_p, (self,), _NO_PARAMS)
    T.__pos__ = lambda self: self
    T.__abs__ = lambda self: bind_with(P.abs_p, (self,), _NO_PARAMS)
    T.__getitem__ = getitem
    T.__divmod__ = lambda self, other: (self // other, self % other)
    T.T = property(lambda self: transpose(self))
    T.mT = property(lambda self: swapaxes(self, -1, -2))
    T.real = property(lambda self: real(self), doc="""The real part (`cnp.real`).

        >>> import chainrule as cr
        >>> cr.tensor([1 + 2j, 3 - 1j]).real
        tensor([1., 3.])
        >>> cr.grad(lambda z: z.real * 2 + z.imag)(1.0 + 1.0j)  # JAX's convention
        np.complex128(2-1j)
        """)
    T.imag = property(lambda self: imag(self), doc="""The imaginary part (`cnp.imag`).

        >>> import chainrule as cr
        >>> cr.tensor([1 + 2j, 3 - 1j]).imag
        tensor([ 2., -1.])
        """)
    T.flat = property(lambda self: ravel(self), doc="""The values flattened, as a
        differentiable 1-d value (NumPy's `flat` is an iterator; this is `ravel`).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.grad(lambda x: cnp.sum(x.flat * np.arange(4.0)))(np.ones((2, 2)))
        array([[0., 1.],
               [2., 3.]])
        """)
    T.astype = astype
    T.reshape = _reshape_method
    T.transpose = _transpose_method
    g = globals()
    for name in ("sum", "prod", "mean", "var", "std", "max", "min", "cumsum", "cumprod",
                 "argmax", "argmin", "argsort", "any", "all", "ravel", "squeeze", "swapaxes",
                 "clip", "dot", "nonzero", "round", "conj", "conjugate", "diagonal", "trace",
                 "repeat", "take", "sort", "flatten", "copy"):  # fmt: skip
        setattr(T, name, g["ravel" if name == "flatten" else name])


_install(Tracer)

__all__ = [
    n for n, v in list(globals().items())
    if not n.startswith("_") and callable(v) and getattr(v, "__module__", None) == __name__
    and n not in ("count", "index_spec", "build_index", "has_arrays", "device_put", "move",
                  "integer_pow")
]  # fmt: skip
