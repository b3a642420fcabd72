"""PyTorch's top-level functions (`cr.cat`, `cr.clamp`, `cr.softmax`, ...) for the Tensor face.

They take PyTorch's argument names and meanings (`input`, `other`, `dim`, `keepdim`;
`cr.max(x, dim)` returns the named pair (values, indices)) and accept NumPy's spelling too
(`axis=`, `keepdims=`), as PyTorch does. The elementwise functions (`cr.sin`, `cr.exp`,
`cr.where`, `cr.matmul`, ...) are `chainrule.numpy`'s own objects. They work on Tensors, on
values traced by a transformation and on NumPy arrays (NumPy in, NumPy out).

dtypes are NumPy's, under PyTorch's names: `cr.float32 is numpy.float32`, `cr.long`, `cr.double`.

Where this face follows NumPy rather than PyTorch:
- a Python float, list or float64 array stays float64 (`cr.tensor(1.0)`, `cr.zeros(3)`), and an
  integer tensor times a Python float is float64 (PyTorch: its default dtype, float32);
- NumPy's keyword `axis=` keeps NumPy's meaning where PyTorch's `dim` differs:
  `cr.max(x, axis=1)` is the values only, `x.std(axis=0)` uses ddof=0.

>>> import chainrule as cr
>>> x = cr.tensor([[1.0, 5.0], [4.0, 2.0]], requires_grad=True)
>>> values, indices = cr.max(x, dim=1)
>>> values.sum().backward()
>>> x.grad
tensor([[0., 1.],
        [1., 0.]])
"""

from __future__ import annotations

import builtins as _b
import math as _math
from collections import namedtuple as _namedtuple
from typing import Any

import numpy as np

from chainrule.core import linalg as _linalg
from chainrule.core import ops as cnp
from chainrule.core.trace import Tracer as _Tracer
from chainrule.transforms.reverse import stop_gradient as _stop_gradient

__all__ = [
    # elementwise (chainrule.numpy's objects)
    "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "arctan2", "sinh", "cosh", "asinh",
    "acosh", "atanh", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
    "tanh",
    "abs", "absolute", "neg", "negative", "square", "reciprocal", "sign", "floor", "ceil",
    "trunc", "round", "pow", "maximum", "minimum", "where", "real", "imag", "conj", "isnan",
    "isinf", "isfinite", "matmul", "outer",
    # PyTorch's own signatures
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "sigmoid",
    "relu", "clamp", "clip", "softmax", "log_softmax", "logsumexp", "sum", "mean", "prod", "max",
    "min", "amax", "amin", "argmax", "argmin", "std", "var", "cumsum", "cumprod", "norm", "mm",
    "bmm", "mv", "dot", "einsum", "cat", "concat", "stack", "reshape", "transpose", "permute",
    "flatten", "squeeze", "unsqueeze", "chunk", "split", "unbind", "narrow", "select", "gather",
    "index_select", "masked_fill", "tile", "allclose", "equal", "full_like", "empty_like",
    "rand_like", "randn_like", "is_tensor", "is_floating_point", "is_complex", "numel",
    "from_numpy", "as_tensor", "set_grad_enabled", "return_types",
    # dtypes (NumPy's, under PyTorch's names); `float` and `int` are module attributes only
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool",
    "complex64", "complex128", "half", "double", "long", "short", "cfloat", "cdouble",
]  # fmt: skip

# --- dtypes ----------------------------------------------------------------------------------

float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8 = np.int8, np.int16, np.int32, np.int64, np.uint8
complex64, complex128 = np.complex64, np.complex128
half, double, long, short = np.float16, np.float64, np.int64, np.int16
cfloat, cdouble = np.complex64, np.complex128
globals()["bool"] = np.bool_  # set this way: the functions below use builtins through `_b`
_SHADOWING = {"float": np.float32, "int": np.int32}  # not in __all__: `import *` keeps builtins


def __getattr__(name: str) -> Any:
    if name in _SHADOWING:
        return _SHADOWING[name]
    raise AttributeError(f"module 'chainrule.torch_functions' has no attribute {name!r}")


# --- elementwise: chainrule.numpy's objects --------------------------------------------------

sin, cos, tan, sinh, cosh, tanh = cnp.sin, cnp.cos, cnp.tan, cnp.sinh, cnp.cosh, cnp.tanh
asin, acos, atan, atan2 = cnp.arcsin, cnp.arccos, cnp.arctan, cnp.arctan2
arctan2 = atan2
asinh, acosh, atanh = cnp.arcsinh, cnp.arccosh, cnp.arctanh
exp, exp2, expm1, log, log1p, log2, log10 = (
    cnp.exp, cnp.exp2, cnp.expm1, cnp.log, cnp.log1p, cnp.log2, cnp.log10,
)  # fmt: skip
sqrt, square, reciprocal = cnp.sqrt, cnp.square, cnp.reciprocal
abs = absolute = cnp.abs  # noqa: A001
neg = negative = cnp.negative
sign, floor, ceil, trunc, round = cnp.sign, cnp.floor, cnp.ceil, cnp.trunc, cnp.round  # noqa: A001


def pow(input: Any, exponent: Any) -> Any:  # noqa: A001
    """`torch.pow`: ``input ** exponent``, on a Tensor as PyTorch computes it (`x ** 3` as
    ``(x*x)*x``, see `Tensor.__pow__`); on other values NumPy's `power`.

    >>> import chainrule as cr
    >>> cr.pow(cr.tensor([1.5, -2.0]), 3), cr.pow(2.0, cr.tensor([3.0]))
    (tensor([ 3.375, -8.   ]), tensor([8.]))
    """
    if isinstance(input, _Tracer):
        return input**exponent
    return cnp.power(input, exponent)


maximum, minimum, where = cnp.maximum, cnp.minimum, cnp.where
real, imag, conj = cnp.real, cnp.imag, cnp.conj
isnan, isinf, isfinite = cnp.isnan, cnp.isinf, cnp.isfinite
matmul, outer = cnp.matmul, cnp.outer

# --- the Tensor face -------------------------------------------------------------------------
# `chainrule.tensor` builds on this module (its methods call these functions) and registers
# its objects here when it loads, so that this module does not import it back.

_face: dict = {}


def _register_face(**objects: Any) -> None:
    """Called by chainrule.tensor: the Tensor class and its helpers."""
    _face.update(objects)


class _TensorType(type):
    """`isinstance(x, Tensor)` and `Tensor(...)` here mean chainrule.tensor's Tensor."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, _face["Tensor"])

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _face["Tensor"](*args, **kwargs)


class Tensor(metaclass=_TensorType):
    """chainrule's Tensor (`chainrule.tensor.Tensor`), as seen from this module."""


def _leaf(value: Any, requires_grad: bool) -> Any:
    return _face["leaf"](value, requires_grad)


def _value_of(x: Any) -> Any:
    if isinstance(x, _Tracer) and hasattr(x, "_ver"):  # a Tensor: its values
        return x._value
    if isinstance(x, (list, tuple)):
        return [_value_of(e) for e in x]
    return x


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported (the result is a new tensor)")


def _like(name: str) -> Any:
    def make(input: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A002
        return _face[name](input, *args, **kwargs)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"""`chainrule.tensor.{name}`.

    >>> import chainrule as cr
    >>> cr.{name}(cr.zeros(2){", 7.0" if name == "full_like" else ""}).shape
    (2,)
    """
    return make


full_like, empty_like = _like("full_like"), _like("empty_like")
rand_like, randn_like = _like("rand_like"), _like("randn_like")


# --- helpers ---------------------------------------------------------------------------------


def _dim(dim: Any, axis: Any = None) -> Any:
    """PyTorch's `dim` or NumPy's `axis` (one of them), lists as tuples."""
    if axis is not None:
        if dim is not None:
            raise TypeError("pass dim= or axis=, not both")
        dim = axis
    if isinstance(dim, list):
        dim = tuple(dim)
    if isinstance(dim, Tensor):
        dim = dim.item()
    return dim


def _keep(keepdim: Any, keepdims: Any) -> Any:
    return keepdim if keepdims is None else keepdims


def _ndim(x: Any) -> Any:
    return x.ndim if isinstance(x, (_Tracer, np.ndarray)) else np.ndim(x)


def _shape(x: Any) -> tuple:
    return tuple(x.shape) if isinstance(x, (_Tracer, np.ndarray)) else np.shape(x)


def _norm_dim(dim: int, nd: int, name: str = "dim") -> int:
    n = _b.max(nd, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")  # fmt: skip
    return dim % n


def _dims(dim: Any, nd: int) -> tuple:
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    return tuple(_norm_dim(d, nd) for d in dims)


def _unexpected(name: str, kw: dict) -> None:
    if kw:
        raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kw)}")


def _array(x: Any) -> Any:
    """Lists of numbers or tensors as arrays; tensors and arrays unchanged."""
    if isinstance(x, (_Tracer, np.ndarray, np.generic)):
        return x
    return cnp.asarray(x)


# --- arithmetic ------------------------------------------------------------------------------


def add(input: Any, other: Any, *, alpha: Any = 1, out: Any = None) -> Any:  # noqa: A002
    """input + alpha * other.

    >>> import chainrule as cr
    >>> cr.add(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 1.0]), alpha=10)
    tensor([11., 12.])
    """
    _no_out("add", out)
    return input + other if _b.isinstance(alpha, int) and alpha == 1 else input + alpha * other


def sub(input: Any, other: Any, *, alpha: Any = 1, out: Any = None) -> Any:  # noqa: A002
    """input - alpha * other.

    >>> import chainrule as cr
    >>> cr.sub(cr.tensor([1.0, 2.0]), 1.0)
    tensor([0., 1.])
    """
    _no_out("sub", out)
    return input - other if _b.isinstance(alpha, int) and alpha == 1 else input - alpha * other


subtract = sub


def mul(input: Any, other: Any, *, out: Any = None) -> Any:  # noqa: A002
    """input * other.

    >>> import chainrule as cr
    >>> cr.mul(cr.tensor([1.0, 2.0]), 3)
    tensor([3., 6.])
    """
    _no_out("mul", out)
    return input * other


multiply = mul


def div(input: Any, other: Any, *, rounding_mode: str | None = None,  # noqa: A002
        out: Any = None) -> Any:  # fmt: skip
    """input / other; `rounding_mode="trunc"` or `"floor"` rounds the quotient (no gradient).

    >>> import chainrule as cr
    >>> cr.div(cr.tensor([7.0, -7.0]), 2, rounding_mode="floor")
    tensor([ 3., -4.])
    """
    _no_out("div", out)
    if rounding_mode is None:
        return input / other
    if rounding_mode == "trunc":
        return cnp.trunc(input / other)
    if rounding_mode == "floor":
        return cnp.floor_divide(input, other)
    raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                     f"found {rounding_mode!r}")  # fmt: skip


divide = true_divide = div


def rsqrt(input: Any, *, out: Any = None) -> Any:  # noqa: A002
    """1 / sqrt(input).

    >>> import chainrule as cr
    >>> cr.rsqrt(cr.tensor([4.0]))
    tensor([0.5])
    """
    _no_out("rsqrt", out)
    return cnp.reciprocal(cnp.sqrt(input))


def sigmoid(input: Any, *, out: Any = None) -> Any:  # noqa: A002
    """1 / (1 + exp(-input)), computed without overflow (exp of -|x| only).

    >>> import chainrule as cr
    >>> cr.sigmoid(cr.tensor([0.0]))
    tensor([0.5])
    """
    _no_out("sigmoid", out)
    x = _array(input)
    pos = x >= 0
    e = cnp.exp(cnp.where(pos, -x, x))  # exp(-|x|), with the derivative of each side
    return cnp.where(pos, 1 / (1 + e), e / (1 + e))


def relu(input: Any, inplace: bool = False) -> Any:  # noqa: A002
    """max(input, 0), with the gradient 0 at 0 (as PyTorch); NaN stays NaN.

    >>> import chainrule as cr
    >>> cr.relu(cr.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """
    x = _array(input)
    out = cnp.where(x <= 0, 0, x)
    if inplace:
        return input.copy_(out)
    return out


def clamp(input: Any, min: Any = None, max: Any = None, *, out: Any = None) -> Any:  # noqa: A002
    """The values limited to [min, max] (bounds may be tensors); the gradient passes where
    min <= input <= max, bounds included, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.clamp(cr.tensor([-2.0, 0.5, 3.0]), min=0, max=1)
    tensor([0. , 0.5, 1. ])
    """
    _no_out("clamp", out)
    if min is None and max is None:
        raise RuntimeError("clamp: at least one of 'min' or 'max' must not be None")
    x = _array(input)
    res = cnp.clip(x, min, max)
    dt = getattr(x, "dtype", None)
    if dt is not None and isinstance(res, (_Tracer, np.ndarray)) and res.dtype != dt and \
            np.can_cast(res.dtype, dt, "same_kind"):  # fmt: skip
        res = cnp.astype(res, dt)
    return res


clip = clamp


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:  # fmt: skip
    """Whether all values are close (`numpy.allclose`), as a Python bool.

    >>> import chainrule as cr
    >>> cr.allclose(cr.tensor([1.0]), cr.tensor([1.0 + 1e-9]))
    True
    """
    return _b.bool(np.allclose(_value_of(input), _value_of(other), rtol, atol, equal_nan))


def equal(input: Any, other: Any) -> bool:  # noqa: A002
    """Whether both have the same shape and values.

    >>> import chainrule as cr
    >>> cr.equal(cr.tensor([1, 2]), cr.tensor([1, 2]))
    True
    """
    a, b = np.asarray(_value_of(input)), np.asarray(_value_of(other))
    return a.shape == b.shape and _b.bool((a == b).all())


# --- reductions ------------------------------------------------------------------------------


def _reduction(name: str, fn: Any) -> Any:
    def reduce(input: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
               dtype: Any = None, out: Any = None, axis: Any = None,
               keepdims: Any = None) -> Any:  # fmt: skip
        _no_out(name, out)
        d = _dim(dim, axis)
        if d == ():  # PyTorch: an empty dim list reduces over every dimension
            d = None
        return fn(_array(input), axis=d, keepdims=_keep(keepdim, keepdims), dtype=dtype)

    reduce.__name__ = reduce.__qualname__ = name
    reduce.__doc__ = f"""The {name} over `dim` (an int or a tuple; all dimensions by default),
    keeping them as length 1 with `keepdim=True` (NumPy's `axis`/`keepdims` work too).

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=1)
    {repr(fn(np.array([[1.0, 2.0], [3.0, 4.0]]), axis=1)).replace("array", "tensor")}
    """
    return reduce


sum = _reduction("sum", cnp.sum)  # noqa: A001
mean = _reduction("mean", cnp.mean)
prod = _reduction("prod", cnp.prod)

return_types = type("return_types", (), {
    "__doc__": """The named tuples of functions with several results, as `torch.return_types`.

    >>> import chainrule as cr
    >>> r = cr.tensor([[1.0, 5.0], [4.0, 2.0]]).max(dim=1)
    >>> isinstance(r, cr.return_types.max), r.values, r.indices
    (True, tensor([5., 4.]), tensor([1, 0], dtype=int64))
    """,
    "max": _namedtuple("max", ["values", "indices"]),
    "min": _namedtuple("min", ["values", "indices"]),
})  # fmt: skip


def _extremum(name: str, arg: Any, red: Any, pair: Any, ew: Any) -> Any:
    def fn(input: Any, dim: Any = None, keepdim: bool = False, *, out: Any = None,  # noqa: A002
           axis: Any = None, keepdims: Any = None, **kw: Any) -> Any:  # fmt: skip
        _no_out(name, out)
        x = _array(input)
        other = kw.pop("other", None)
        if isinstance(dim, (_Tracer, np.ndarray)):  # max(input, other): elementwise
            other, dim = dim, None
        if other is not None:
            _unexpected(name, kw)
            return ew(x, other)
        if axis is not None or kw:  # NumPy's spelling: NumPy's meaning (the values)
            return red(x, axis=_dim(dim, axis), keepdims=_keep(keepdim, keepdims), **kw)
        keepdim = _keep(keepdim, keepdims)
        if dim is None:
            return red(x)
        d = _norm_dim(_dim(dim), _ndim(x))
        if _ndim(x) == 0:
            i0 = np.zeros((), np.int64)
            return pair(x, _leaf(i0, False) if isinstance(x, Tensor) else i0)
        idx = arg(x, axis=d, keepdims=True)
        vals = cnp.take_along_axis(x, idx, d)  # the gradient goes to the index returned
        if not keepdim:
            vals, idx = cnp.squeeze(vals, axis=d), cnp.squeeze(idx, axis=d)
        return pair(vals, idx)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"""PyTorch's {name}: `{name}(input)` the {name}imum value (ties share the
    gradient); `{name}(input, dim, keepdim=False)` the named pair (values, indices) along `dim`
    (the gradient goes to the index returned); `{name}(input, other)` the elementwise
    {name}imum. With NumPy's `axis=`, NumPy's meaning: the values only.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([[1.0, 5.0], [4.0, 2.0]]), 1).indices
    tensor({[1, 0] if name == "max" else [0, 1]}, dtype=int64)
    """
    return fn


max = _extremum("max", cnp.argmax, cnp.max, return_types.max, cnp.maximum)  # noqa: A001
min = _extremum("min", cnp.argmin, cnp.min, return_types.min, cnp.minimum)  # noqa: A001


def amax(input: Any, dim: Any = (), keepdim: bool = False, *, out: Any = None,  # noqa: A002
         axis: Any = None, keepdims: Any = None) -> Any:  # fmt: skip
    """The largest values over `dim` (all dimensions by default); ties share the gradient.

    >>> import chainrule as cr
    >>> cr.amax(cr.tensor([[1.0, 5.0], [4.0, 2.0]]), dim=0)
    tensor([4., 5.])
    """
    _no_out("amax", out)
    d = _dim(None if dim == () else dim, axis)
    return cnp.max(_array(input), axis=d, keepdims=_keep(keepdim, keepdims))


def amin(input: Any, dim: Any = (), keepdim: bool = False, *, out: Any = None,  # noqa: A002
         axis: Any = None, keepdims: Any = None) -> Any:  # fmt: skip
    """The smallest values over `dim` (all dimensions by default); ties share the gradient.

    >>> import chainrule as cr
    >>> cr.amin(cr.tensor([[1.0, 5.0], [4.0, 2.0]]), dim=1)
    tensor([1., 2.])
    """
    _no_out("amin", out)
    d = _dim(None if dim == () else dim, axis)
    return cnp.min(_array(input), axis=d, keepdims=_keep(keepdim, keepdims))


def _argext(name: str, fn: Any) -> Any:
    def arg(input: Any, dim: Any = None, keepdim: bool = False, *, out: Any = None,  # noqa: A002
            axis: Any = None, keepdims: Any = None) -> Any:  # fmt: skip
        _no_out(name, out)
        d = _dim(dim, axis)
        x = _array(input)
        if d is None:
            return fn(x)  # over the flattened values
        return fn(x, axis=_norm_dim(d, _ndim(x)), keepdims=_keep(keepdim, keepdims))

    arg.__name__ = arg.__qualname__ = name
    arg.__doc__ = f"""The index of the {name[3:]}imum (of the flattened values, or along
    `dim`; the first one on ties), int64.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([[1.0, 5.0], [4.0, 2.0]]), dim=1)
    tensor({[1, 0] if name == "argmax" else [0, 1]}, dtype=int64)
    """
    return arg


argmax = _argext("argmax", cnp.argmax)
argmin = _argext("argmin", cnp.argmin)


def _moment(name: str, fn: Any) -> Any:
    def moment(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *,  # noqa: A002
               correction: Any = None, out: Any = None, axis: Any = None, ddof: Any = None,
               keepdims: Any = None, dtype: Any = None) -> Any:  # fmt: skip
        _no_out(name, out)
        if isinstance(dim, (_b.bool, np.bool_)):  # var(input, unbiased)
            dim, unbiased = None, dim
        numpy_style = axis is not None or ddof is not None
        d = _dim(dim, axis)
        if d == ():
            d = None
        if ddof is not None:
            c = ddof
        elif correction is not None:
            c = correction
        elif unbiased is not None:
            c = 1 if unbiased else 0
        else:
            c = 0 if numpy_style else 1
        return fn(_array(input), axis=d, ddof=c, keepdims=_keep(keepdim, keepdims), dtype=dtype)

    moment.__name__ = moment.__qualname__ = name
    moment.__doc__ = f"""PyTorch's {name} over `dim`, with Bessel's correction by default
    (`correction=1`, or `unbiased=True`); NumPy's spelling (`axis=`, `ddof=`) keeps NumPy's
    default ddof=0.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([1.0, 3.0]))
    {"tensor(2.)" if name == "var" else "tensor(1.414214)"}
    """
    return moment


var = _moment("var", cnp.var)
std = _moment("std", cnp.std)


def _scan(name: str, fn: Any) -> Any:
    def scan(input: Any, dim: Any = None, *, dtype: Any = None, out: Any = None,  # noqa: A002
             axis: Any = None) -> Any:  # fmt: skip
        _no_out(name, out)
        return fn(_array(input), axis=_dim(dim, axis), dtype=dtype)

    scan.__name__ = scan.__qualname__ = name
    scan.__doc__ = f"""The cumulative {name[3:]} along `dim`.

    >>> import chainrule as cr
    >>> cr.{name}(cr.tensor([1.0, 2.0, 3.0]), dim=0)
    {"tensor([1., 3., 6.])" if name == "cumsum" else "tensor([1., 2., 6.])"}
    """
    return scan


cumsum = _scan("cumsum", cnp.cumsum)
cumprod = _scan("cumprod", cnp.cumprod)


def logsumexp(input: Any, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
              out: Any = None, axis: Any = None, keepdims: Any = None) -> Any:  # fmt: skip
    """log(sum(exp(input))) over `dim`, computed stably (shifted by the maximum); the
    gradient is the softmax.

    >>> import chainrule as cr
    >>> cr.logsumexp(cr.tensor([1000.0, 1000.0]), dim=0)
    tensor(1000.693147)
    """
    _no_out("logsumexp", out)
    x = _array(input)
    d = _dim(dim, axis)
    d = None if d is None or d == () else _dims(d, _ndim(x))
    keep = _keep(keepdim, keepdims)
    m = _stop_gradient(cnp.max(x, axis=d, keepdims=True))
    m = cnp.where(cnp.isfinite(m), m, 0)
    r = cnp.log(cnp.sum(cnp.exp(x - m), axis=d, keepdims=True)) + m
    return r if keep else cnp.squeeze(r, axis=d)


def _softmax_dim(dim: Any, nd: int) -> int:
    if dim is None:  # PyTorch's legacy implicit choice
        return 0 if nd in (0, 1, 3) else 1
    return _norm_dim(dim, nd)


def _shifted(normalise: Any, input: Any, dim: Any, dtype: Any, axis: Any) -> Any:  # noqa: A002
    """``normalise(x - max, d)``, `x` the input (cast to `dtype`), `d` its softmax dimension:
    the max held constant in the derivative (which does not depend on it), so that a row
    whose max is +inf is NaN throughout, as PyTorch's and JAX's. A 0-d input is one element
    along dim 0 or -1, as in PyTorch."""
    x = _array(input)
    if dtype is not None:
        x = cnp.astype(x, dtype)
    if _ndim(x) == 0:
        _norm_dim(_softmax_dim(_dim(dim, axis), 1), 1)
        return cnp.reshape(_shifted(normalise, cnp.reshape(x, (1,)), 0, None, None), ())
    d = _softmax_dim(_dim(dim, axis), _ndim(x))
    return normalise(x - _stop_gradient(cnp.max(x, axis=d, keepdims=True)), d)


def _softmax_of(s: Any, d: int) -> Any:
    e = cnp.exp(s)
    return e / cnp.sum(e, axis=d, keepdims=True)


def _log_softmax_of(s: Any, d: int) -> Any:
    # PyTorch's and JAX's formula, (x - max) - log(sum(exp(x - max))): x - logsumexp(x) gave
    # -inf beside a +inf
    return s - cnp.log(cnp.sum(cnp.exp(s), axis=d, keepdims=True))


def softmax(input: Any, dim: Any = None, dtype: Any = None, *, axis: Any = None) -> Any:  # noqa: A002
    """exp(input) normalised to sum 1 along `dim`, computed stably.

    >>> import chainrule as cr
    >>> cr.softmax(cr.tensor([0.0, 0.0]), dim=0)
    tensor([0.5, 0.5])
    """
    return _shifted(_softmax_of, input, dim, dtype, axis)


def log_softmax(input: Any, dim: Any = None, dtype: Any = None, *, axis: Any = None) -> Any:  # noqa: A002
    """log(softmax(input)) along `dim`, computed stably.

    >>> import chainrule as cr
    >>> cr.log_softmax(cr.tensor([0.0, 0.0]), dim=0)
    tensor([-0.693147, -0.693147])
    """
    return _shifted(_log_softmax_of, input, dim, dtype, axis)


def _vector_norm(x: Any, p: Any, axes: Any, keepdim: bool) -> Any:
    if p == 2:
        return _linalg._two_norm(x, axes, keepdim)
    a = cnp.abs(x)
    if p == _math.inf:
        return cnp.max(a, axis=axes, keepdims=keepdim)
    if p == -_math.inf:
        return cnp.min(a, axis=axes, keepdims=keepdim)
    if p == 0:
        return cnp.sum(cnp.astype(a != 0, a.dtype), axis=axes, keepdims=keepdim)
    if p == 1:
        return cnp.sum(a, axis=axes, keepdims=keepdim)
    # (PyTorch's norm kernels call pow() for every other p, as NumPy's power: not a ** 3)
    return cnp.power(cnp.sum(cnp.power(a, p), axis=axes, keepdims=keepdim), 1.0 / p)


def norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False,  # noqa: A002
         dtype: Any = None, *, out: Any = None) -> Any:  # fmt: skip
    """PyTorch's norm: the vector p-norm (p a number, inf or -inf; "fro" is 2) of all the
    values, or over `dim` (an int or a tuple); "nuc" is the nuclear norm over two dims. The
    gradient of the 2-norm at 0 is 0 (a subgradient), as PyTorch's.

    >>> import chainrule as cr
    >>> x = cr.tensor([[3.0, 4.0], [0.0, -1.0]])
    >>> cr.norm(x, dim=1), cr.norm(x, p=1), cr.norm(x, float("inf"), dim=0, keepdim=True)
    (tensor([5., 1.]), tensor(8.), tensor([[3., 4.]]))
    """
    _no_out("norm", out)
    x = _array(input)
    if dtype is not None:
        x = cnp.astype(x, dtype)
    nd = _ndim(x)
    axes = None if dim is None else _dims(_dim(dim), nd)
    if p == "nuc":
        if axes is None:
            axes = (0, 1)
        return _linalg.norm(x, "nuc", axis=axes, keepdims=keepdim)
    if p == "fro" or p is None:
        p = 2
    if isinstance(p, str):
        raise RuntimeError(f"norm: invalid norm order {p!r}")
    if keepdim and axes is None:
        axes = tuple(range(nd))
    return _vector_norm(x, p, axes, keepdim)


# --- products --------------------------------------------------------------------------------


def _check_nd(name: str, x: Any, nd: int, what: str) -> None:
    if _ndim(x) != nd:
        raise RuntimeError(f"{name}: {what} must be a {nd}-D tensor (got {_ndim(x)}-D)")


def mm(input: Any, mat2: Any, *, out: Any = None) -> Any:  # noqa: A002
    """The matrix product of two 2-D tensors.

    >>> import chainrule as cr
    >>> cr.mm(cr.eye(2), cr.tensor([[1.0], [2.0]]))
    tensor([[1.],
            [2.]])
    """
    _no_out("mm", out)
    _check_nd("mm", input, 2, "self")
    _check_nd("mm", mat2, 2, "mat2")
    return cnp.matmul(input, mat2)


def bmm(input: Any, mat2: Any, *, out: Any = None) -> Any:  # noqa: A002
    """Batched matrix products of two 3-D tensors (batch first).

    >>> import chainrule as cr
    >>> cr.bmm(cr.ones(4, 2, 3), cr.ones(4, 3, 5)).shape
    (4, 2, 5)
    """
    _no_out("bmm", out)
    _check_nd("bmm", input, 3, "batch1")
    _check_nd("bmm", mat2, 3, "batch2")
    return cnp.matmul(input, mat2)


def mv(input: Any, vec: Any, *, out: Any = None) -> Any:  # noqa: A002
    """Matrix times vector.

    >>> import chainrule as cr
    >>> cr.mv(cr.eye(2), cr.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    _no_out("mv", out)
    _check_nd("mv", input, 2, "input")
    _check_nd("mv", vec, 1, "vec")
    return cnp.matmul(input, vec)


def dot(input: Any, other: Any, *, out: Any = None) -> Any:  # noqa: A002
    """The dot product of two 1-D tensors.

    >>> import chainrule as cr
    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]))
    tensor(11.)
    """
    _no_out("dot", out)
    _check_nd("dot", input, 1, "input")
    _check_nd("dot", other, 1, "other")
    return cnp.dot(input, other)


def einsum(equation: str, *operands: Any) -> Any:
    """Einstein summation (`numpy.einsum`); the operands as arguments or as one list.

    >>> import chainrule as cr
    >>> cr.einsum("ij,j->i", [cr.eye(2), cr.tensor([1.0, 2.0])])
    tensor([1., 2.])
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return cnp.einsum(equation, *operands)


# --- joining, shapes -------------------------------------------------------------------------


def cat(tensors: Any, dim: int = 0, *, out: Any = None, axis: Any = None) -> Any:
    """The tensors joined along an existing dimension `dim` (dtypes promote).

    >>> import chainrule as cr
    >>> cr.cat([cr.zeros(2), cr.ones(1)])
    tensor([0., 0., 1.])
    """
    _no_out("cat", out)
    if isinstance(tensors, (_Tracer, np.ndarray)):
        raise TypeError("cat() expects a sequence of tensors, got one tensor")
    return cnp.concatenate(list(tensors), axis=_dim(dim if axis is None else None, axis))


concat = cat


def stack(tensors: Any, dim: int = 0, *, out: Any = None, axis: Any = None) -> Any:
    """The tensors (of one shape) stacked along a new dimension `dim`.

    >>> import chainrule as cr
    >>> cr.stack([cr.zeros(2), cr.ones(2)], dim=1).shape
    (2, 2)
    """
    _no_out("stack", out)
    if isinstance(tensors, (_Tracer, np.ndarray)):
        raise TypeError("stack() expects a sequence of tensors, got one tensor")
    return cnp.stack(list(tensors), axis=_dim(dim if axis is None else None, axis))


def reshape(input: Any, shape: Any) -> Any:  # noqa: A002
    """The values with a new shape (-1 infers one dimension).

    >>> import chainrule as cr
    >>> cr.reshape(cr.arange(6), (2, -1)).shape
    (2, 3)
    """
    if isinstance(input, Tensor):
        return input.reshape(shape)
    return cnp.reshape(_array(input), shape)


def transpose(input: Any, dim0: Any = None, dim1: Any = None) -> Any:  # noqa: A002
    """PyTorch's transpose: dimensions `dim0` and `dim1` swapped (NumPy's `transpose(a,
    axes)` without `dim1`).

    >>> import chainrule as cr
    >>> cr.transpose(cr.zeros(2, 3, 4), 0, 2).shape
    (4, 3, 2)
    """
    x = _array(input)
    if dim1 is None:
        return x.transpose(dim0) if dim0 is not None else x.transpose()
    if isinstance(x, Tensor):
        return x.transpose(dim0, dim1)
    return cnp.swapaxes(x, dim0, dim1)


def permute(input: Any, dims: Any) -> Any:  # noqa: A002
    """The dimensions in the order `dims`.

    >>> import chainrule as cr
    >>> cr.permute(cr.zeros(2, 3, 4), (2, 0, 1)).shape
    (4, 2, 3)
    """
    x = _array(input)
    return x.permute(tuple(dims)) if isinstance(x, Tensor) else cnp.transpose(x, tuple(dims))


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Any:  # noqa: A002
    """Dimensions `start_dim` to `end_dim` merged into one (a 0-d tensor becomes 1-D).

    >>> import chainrule as cr
    >>> cr.flatten(cr.zeros(2, 3, 4), 1).shape
    (2, 12)
    """
    x = _array(input)
    shape = _shape(x)
    if not shape:
        return cnp.reshape(x, (1,))
    s, e = _norm_dim(start_dim, len(shape)), _norm_dim(end_dim, len(shape))
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    new = shape[:s] + (_math.prod(shape[s:e + 1]),) + shape[e + 1:]
    return x if new == shape else cnp.reshape(x, new)


def squeeze(input: Any, dim: Any = None) -> Any:  # noqa: A002
    """Without dimensions of length 1 (only those in `dim` if given; others are kept,
    as PyTorch, where NumPy raises).

    >>> import chainrule as cr
    >>> cr.squeeze(cr.zeros(2, 1, 3), 0).shape, cr.squeeze(cr.zeros(2, 1, 3)).shape
    ((2, 1, 3), (2, 3))
    """
    x = _array(input)
    shape = _shape(x)
    if dim is None:
        axes = tuple(i for i, s in enumerate(shape) if s == 1)
    else:
        axes = tuple(i for i in _dims(_dim(dim), len(shape)) if shape and shape[i] == 1)
    return cnp.squeeze(x, axis=axes) if axes else x


def unsqueeze(input: Any, dim: int) -> Any:  # noqa: A002
    """With a new dimension of length 1 at `dim` (negative: counted from the end).

    >>> import chainrule as cr
    >>> cr.unsqueeze(cr.zeros(2, 3), -1).shape
    (2, 3, 1)
    """
    x = _array(input)
    return x.unsqueeze(dim) if isinstance(x, Tensor) else cnp.expand_dims(x, dim)


def expand(input: Any, size: tuple) -> Any:  # noqa: A002
    """`input` broadcast to `size` (-1 keeps a dimension): Tensor.expand.

    >>> import chainrule as cr
    >>> cr.torch_functions.expand(cr.tensor([1.0, 2.0]), (2, -1)).shape
    (2, 2)
    """
    x = _array(input)
    shape = _shape(x)
    lead = len(size) - len(shape)
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(size)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({len(shape)})")
    new = tuple(shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(size))
    return x if new == shape else cnp.broadcast_to(x, new)


def tile(input: Any, dims: Any) -> Any:  # noqa: A002
    """`input` repeated `dims` times along each dimension (PyTorch's `Tensor.repeat`).

    >>> import chainrule as cr
    >>> cr.tile(cr.tensor([1.0, 2.0]), (2,))
    tensor([1., 2., 1., 2.])
    """
    return cnp.tile(_array(input), tuple(dims) if not isinstance(dims, int) else dims)


def _slice(x: Any, dim: int, sl: Any) -> Any:
    return x[(slice(None),) * dim + (sl,)]


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple:  # noqa: A002
    """At most `chunks` views along `dim`, of ceil(n / chunks) elements (the last smaller).

    >>> import chainrule as cr
    >>> [c.shape for c in cr.chunk(cr.zeros(5, 2), 3)]
    [(2, 2), (2, 2), (1, 2)]
    """
    x = _array(input)
    d = _norm_dim(dim, _ndim(x))
    n = _shape(x)[d]
    step = -(-n // chunks) if n else 1
    return tuple(_slice(x, d, slice(i, i + step)) for i in range(0, _b.max(n, 1), step)
                 if i < n or n == 0)  # fmt: skip


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Views along `dim`: of `split_size_or_sections` elements each (the last smaller), or
    of the sizes in a list.

    >>> import chainrule as cr
    >>> [c.shape for c in cr.split(cr.zeros(5), [1, 4])]
    [(1,), (4,)]
    """
    x = _array(tensor)
    d = _norm_dim(dim, _ndim(x))
    n = _shape(x)[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        sizes = [_b.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if _b.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got {sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(_slice(x, d, slice(start, start + s)))
        start += s
    return tuple(out)


def unbind(input: Any, dim: int = 0) -> tuple:  # noqa: A002
    """The slices along `dim`, without that dimension.

    >>> import chainrule as cr
    >>> len(cr.unbind(cr.zeros(3, 2)))
    3
    """
    x = _array(input)
    d = _norm_dim(dim, _ndim(x))
    return tuple(_slice(x, d, i) for i in range(_shape(x)[d]))


def narrow(input: Any, dim: int, start: int, length: int) -> Any:  # noqa: A002
    """The view of `length` elements from `start` along `dim`.

    >>> import chainrule as cr
    >>> cr.narrow(cr.arange(5), 0, 1, 2)
    tensor([1, 2], dtype=int64)
    """
    x = _array(input)
    d = _norm_dim(dim, _ndim(x))
    n = _shape(x)[d]
    start = int(_value_of(start))
    start = start + n if start < 0 else start
    if not (0 <= start and start + length <= n):
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                           f"({n})")  # fmt: skip
    return _slice(x, d, slice(start, start + length))


def select(input: Any, dim: int, index: int) -> Any:  # noqa: A002
    """The slice at `index` along `dim`, without that dimension.

    >>> import chainrule as cr
    >>> cr.select(cr.arange(6).reshape(2, 3), 1, -1)
    tensor([2, 5], dtype=int64)
    """
    x = _array(input)
    return _slice(x, _norm_dim(dim, _ndim(x)), int(_value_of(index)))


def _index_array(index: Any, name: str) -> np.ndarray:
    v = np.asarray(_value_of(index))
    if v.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): expected an integer (int64) index, got {v.dtype}")
    return v


def gather(input: Any, dim: int, index: Any, *, sparse_grad: bool = False,  # noqa: A002
           out: Any = None) -> Any:  # fmt: skip
    """out[i][j] = input[index[i][j]][j] for dim 0 (and so on): values picked along `dim`;
    `index` has input's number of dimensions and may be smaller along the others.

    >>> import chainrule as cr
    >>> cr.gather(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 1, cr.tensor([[0, 0], [1, 0]]))
    tensor([[1., 1.],
            [4., 3.]])
    """
    _no_out("gather", out)
    x = _array(input)
    idx = _index_array(index, "gather")
    nd = _ndim(x)
    d = _norm_dim(dim, nd)
    if idx.ndim != nd:
        raise RuntimeError("gather(): index tensor must have the same number of dimensions as "
                           "input tensor")  # fmt: skip
    shape = _shape(x)
    if any(i != d and idx.shape[i] > shape[i] for i in range(nd)):
        raise RuntimeError(f"gather(): size of index {list(idx.shape)} is larger than the "
                           f"input's {list(shape)} outside dimension {d}")  # fmt: skip
    if any(i != d and idx.shape[i] < shape[i] for i in range(nd)):
        x = x[tuple(slice(None) if i == d else slice(0, idx.shape[i]) for i in range(nd))]
    return cnp.take_along_axis(x, idx, d)


def index_select(input: Any, dim: int, index: Any, *, out: Any = None) -> Any:  # noqa: A002
    """The entries `index` (1-D) along `dim`.

    >>> import chainrule as cr
    >>> cr.index_select(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), 0, cr.tensor([1, 1]))
    tensor([[3., 4.],
            [3., 4.]])
    """
    _no_out("index_select", out)
    x = _array(input)
    idx = _index_array(index, "index_select")
    if idx.ndim > 1:
        raise RuntimeError("index_select(): index must be a vector (0-D or 1-D)")
    return cnp.take(x, idx.reshape(-1), axis=_norm_dim(dim, _ndim(x)))


def masked_fill(input: Any, mask: Any, value: Any) -> Any:  # noqa: A002
    """`value` where `mask` (boolean, broadcast) is True, `input` elsewhere; the result has
    input's dtype and is differentiable in input and in a 0-d Tensor `value`.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0])
    >>> cr.masked_fill(x, x > 1.5, 0.0)
    tensor([1., 0., 0.])
    """
    x = _array(input)
    m = mask if isinstance(mask, _Tracer) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                           f"{m.dtype}")  # fmt: skip
    if isinstance(value, (_Tracer, np.ndarray)) and _ndim(value) != 0:
        raise RuntimeError("masked_fill only supports a 0-dimensional value tensor")
    res = cnp.where(m, value, x)
    if res.shape != _shape(x):
        raise RuntimeError(f"masked_fill: the mask's shape {m.shape} does not broadcast to "
                           f"the input's {_shape(x)}")  # fmt: skip
    return res if res.dtype == x.dtype else cnp.astype(res, x.dtype)


# --- tensors, conversions --------------------------------------------------------------------


def is_tensor(obj: Any) -> bool:
    """Whether `obj` is a chainrule Tensor.

    >>> import chainrule as cr
    >>> cr.is_tensor(cr.zeros(1)), cr.is_tensor([0.0])
    (True, False)
    """
    return isinstance(obj, Tensor)


def is_floating_point(input: Any) -> bool:  # noqa: A002
    """Whether the dtype is a floating-point type.

    >>> import chainrule as cr
    >>> cr.is_floating_point(cr.zeros(1))
    True
    """
    return np.dtype(input.dtype).kind == "f"


def is_complex(input: Any) -> bool:  # noqa: A002
    """Whether the dtype is complex.

    >>> import chainrule as cr
    >>> cr.is_complex(cr.tensor(1j))
    True
    """
    return np.dtype(input.dtype).kind == "c"


def numel(input: Any) -> int:  # noqa: A002
    """The number of elements.

    >>> import chainrule as cr
    >>> cr.numel(cr.zeros(2, 3))
    6
    """
    return int(np.prod(_shape(input)))


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing the memory of a NumPy array (changes to one show in the other).

    >>> import numpy as np, chainrule as cr
    >>> a = np.zeros(2)
    >>> t = cr.from_numpy(a)
    >>> a[0] = 5.0
    >>> t
    tensor([5., 0.])
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return _leaf(ndarray, False)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """`data` as a tensor, sharing memory when it already is one (or a NumPy array) of the
    requested dtype; a tensor keeps its graph.

    >>> import numpy as np, chainrule as cr
    >>> a = np.ones(2)
    >>> cr.as_tensor(a).numpy() is a
    True
    """
    _face["check_device"](device)
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or np.dtype(dtype) == data.dtype):
        return _leaf(data, False)
    return Tensor(data, dtype=dtype)


class set_grad_enabled:  # noqa: N801
    """Recording on or off (a context manager, a decorator, or a plain call).

    >>> import chainrule as cr
    >>> with cr.set_grad_enabled(False):
    ...     cr.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        state = _face["mode"]
        self._prev = state.enabled
        self.mode = _b.bool(mode)
        state.enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _face["mode"].enabled = self._prev

    def __call__(self, fn: Any) -> Any:
        _face["mode"].enabled = self._prev  # as a decorator: only while the function runs
        return _face["enable_grad" if self.mode else "no_grad"]()(fn)

