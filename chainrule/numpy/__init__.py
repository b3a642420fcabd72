"""`chainrule.numpy`: NumPy's names and signatures, differentiable.

On plain NumPy data every function returns NumPy's own result at NumPy's speed; on traced
values, Tensors, or lists holding them it records the operation. Creation functions, constants
and dtypes are NumPy's. `random` is NumPy's random API, each draw a primitive that jit stages.
A NumPy function this module does not cover works on plain data and raises a clear
`NotImplementedError` on traced values.

NumPy's own functions called on traced values (``np.sin(x)``, ``np.sum(x)``) dispatch here.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> print(round(float(cr.grad(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2))(7.0)), 6))
-0.164493
"""

import numpy as _np
from numpy import (  # noqa: F401  (constants, dtypes and constant-valued creation functions)
    arange, bool_, complex64, complex128, dtype, e, empty, euler_gamma, eye, finfo, float16,
    float32, float64, full, geomspace, identity, iinfo, indices, inexact, inf, int8, int16, int32,
    int64, integer, issubdtype, linspace, logspace, meshgrid, nan, ndarray, newaxis, ones, pi,
    result_type, tri, uint8, zeros, floating, complexfloating, number, iscomplexobj,
    broadcast_shapes, ix_, isscalar,
)

from chainrule.core.ops import *  # noqa: F401,F403
from chainrule.core.ops import (  # noqa: F401  (names that `import *` skips or shadows)
    abs, all, any, max, min, pow, round, sum, getitem, index_add, index_set,
)
from chainrule.core import ops as _ops
from chainrule.core import trace as _trace
from chainrule.numpy import linalg, fft  # noqa: E402,F401
from chainrule.numpy._extra import *  # noqa: F401,F403,E402


def __getattr__(name: str):
    if name == "random":  # NumPy's random API, drawn through random_p: loaded on first use
        import importlib

        return importlib.import_module("chainrule.numpy.random")
    if hasattr(_np, name) and callable(getattr(_np, name)):
        fn = getattr(_np, name)

        def unsupported(*args, **kwargs):
            if _ops._traced(args) or _ops._traced(list(kwargs.values())):
                raise NotImplementedError(
                    f"chainrule.numpy.{name} is not differentiable yet; numpy.{name} on plain "
                    "arrays works as usual (wrap the call in cr.stop_gradient if no gradient "
                    "is needed through it)"
                )
            return fn(*args, **kwargs)

        unsupported.__name__ = name
        return unsupported
    if hasattr(_np, name):
        return getattr(_np, name)
    raise AttributeError(f"module 'chainrule.numpy' has no attribute {name!r}")


def _register() -> None:
    """Route NumPy's functions and ufuncs, called on tracers, to this namespace."""
    mine = {n: v for n, v in globals().items() if callable(v) and not n.startswith("_")}
    for n, v in mine.items():
        target = getattr(_np, n, None)
        if isinstance(target, _np.ufunc):
            _trace.ufunc_handlers[target] = v
        elif callable(target) and target is not v and getattr(target, "__module__", "") and \
                hasattr(target, "__name__"):  # fmt: skip
            _trace.function_handlers[target] = v
    for sub, npsub in ((linalg, _np.linalg), (fft, _np.fft)):
        for n in dir(sub):
            v, target = getattr(sub, n), getattr(npsub, n, None)
            if callable(v) and callable(target) and not n.startswith("_") and target is not v:
                _trace.function_handlers[target] = v


_register()


def _bitwise() -> None:
    """NumPy's bitwise ufuncs on traced values (``mask & (x < 1)``): the logical operation
    on booleans, NumPy's own on the values of integers."""
    from chainrule.core import ops as o

    def bitwise(uf, logical):
        def fn(*args, **kw):
            if all(_np.result_type(getattr(a, "dtype", a)).kind == "b" for a in args):
                return logical(*args, **kw)
            return _trace.on_values(f"numpy.{uf.__name__}", uf, args, kw)

        return fn

    for uf, logical in ((_np.bitwise_and, o.logical_and), (_np.bitwise_or, o.logical_or),
                        (_np.bitwise_xor, o.logical_xor), (_np.invert, o.logical_not)):  # fmt: skip
        _trace.ufunc_handlers.setdefault(uf, bitwise(uf, logical))


_bitwise()
