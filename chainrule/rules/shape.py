"""Abstract evaluation: the shape and dtype of each primitive's result, without computing it.

``shape_rules[prim](*avals, **params)`` takes `ShapeDtype`s (or Python scalars, which keep
NumPy's weak typing) and returns a `ShapeDtype` (a tuple of them for several results).
Elementwise primitives broadcast; structural primitives (reductions, shapes, indexing,
products) run their implementation on zero-strided stand-ins, which costs no memory for
views and reductions; linear algebra has explicit rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.trace import impl_rules


class ShapeDtype:
    """The abstract value of an array: its shape and dtype.

    >>> ShapeDtype((2, 3), np.dtype("float32"))
    ShapeDtype(shape=(2, 3), dtype=dtype('float32'))
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: Any):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShapeDtype) and (self.shape, self.dtype) == (
            other.shape,
            other.dtype,
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype))

    def __repr__(self) -> str:
        return f"ShapeDtype(shape={self.shape}, dtype={self.dtype!r})"

    @property
    def ndim(self) -> int:
        return len(self.shape)


shape_rules: dict[P.Primitive, Any] = {}


def aval(x: Any) -> Any:
    """The abstract value of a concrete value (Python scalars stay themselves: weak types)."""
    if isinstance(x, (bool, int, float, complex)) or x is None:
        return x
    if isinstance(x, ShapeDtype):
        return x
    return ShapeDtype(tuple(np.shape(x)), np.result_type(x))


def _probe(a: Any, fill: Any = 0) -> Any:
    """A zero-strided stand-in for an abstract value."""
    if not isinstance(a, ShapeDtype):
        return a
    return np.broadcast_to(np.full((), fill, a.dtype), a.shape)


def _elementwise(prim: P.Primitive):
    impl = impl_rules[prim]

    def rule(*avals: Any, **params: Any) -> ShapeDtype:
        shape = np.broadcast_shapes(*(np.shape(a) if not isinstance(a, ShapeDtype) else a.shape
                                      for a in avals))  # fmt: skip
        small = [np.zeros((), a.dtype) if isinstance(a, ShapeDtype) else a for a in avals]
        with np.errstate(all="ignore"):
            return ShapeDtype(shape, np.result_type(impl(*small, **params)))

    return rule


def _by_evaluation(prim: P.Primitive):
    impl = impl_rules[prim]

    def rule(*avals: Any, **params: Any) -> Any:
        with np.errstate(all="ignore"):
            out = impl(*[_probe(a) for a in avals], **params)
        if isinstance(out, tuple):
            return tuple(aval(o) for o in out)
        return aval(out)

    return rule


_ELEMENTWISE = [p for p in P.ALL if p.name in P.UNARY + P.BINARY] + [
    getattr(P, n + "_p")
    for n in P.NONDIFF
    if n not in ("argmax", "argmin", "argsort", "any", "all", "nonzero")
] + [P.where_p, P.clip_p]  # fmt: skip
for _p in _ELEMENTWISE:
    shape_rules[_p] = _elementwise(_p)
for _p in P.ALL:
    if _p not in shape_rules and _p not in (
        P.inv_p, P.det_p, P.slogdet_p, P.solve_p, P.cholesky_p, P.eigh_p, P.svd_p, P.qr_p,
    ):  # fmt: skip
        shape_rules[_p] = _by_evaluation(_p)


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


def _real(dtype: np.dtype) -> np.dtype:
    return np.finfo(_float(dtype)).dtype


def _svd(a: ShapeDtype) -> tuple:
    *b, m, n = a.shape
    k = min(m, n)
    dt = _float(a.dtype)
    return (ShapeDtype((*b, m, k), dt), ShapeDtype((*b, k), _real(dt)), ShapeDtype((*b, k, n), dt))


def _qr(a: ShapeDtype) -> tuple:
    *b, m, n = a.shape
    k = min(m, n)
    dt = _float(a.dtype)
    return ShapeDtype((*b, m, k), dt), ShapeDtype((*b, k, n), dt)


def _solve(a: ShapeDtype, b: ShapeDtype) -> ShapeDtype:
    dt = _float(np.result_type(a.dtype, b.dtype))
    if len(b.shape) == 1:
        return ShapeDtype(a.shape[:-1], dt)
    return ShapeDtype(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], dt)


def _data_dependent(*avals: Any, **params: Any) -> Any:
    raise NotImplementedError("nonzero: the shape of its result depends on the data")


# fmt: off
shape_rules.update({
    P.nonzero_p:  _data_dependent,
    P.inv_p:      lambda a: ShapeDtype(a.shape, _float(a.dtype)),
    P.cholesky_p: lambda a: ShapeDtype(a.shape, _float(a.dtype)),
    P.det_p:      lambda a: ShapeDtype(a.shape[:-2], _float(a.dtype)),
    P.slogdet_p:  lambda a: (ShapeDtype(a.shape[:-2], _float(a.dtype)),
                             ShapeDtype(a.shape[:-2], _real(a.dtype))),
    P.solve_p:    _solve,
    P.eigh_p:     lambda a, UPLO: (ShapeDtype(a.shape[:-1], _real(a.dtype)),
                                   ShapeDtype(a.shape, _float(a.dtype))),
    P.svd_p:      _svd,
    P.qr_p:       _qr,
})
# fmt: on


def eval_shape(fun: Any, *args: Any, **params: Any) -> Any:
    """The shape and dtype of `fun(*args)` for one primitive's rule, without computing it.

    >>> eval_shape(P.matmul_p, ShapeDtype((2, 3), np.dtype("float32")),
    ...            ShapeDtype((3, 5), np.dtype("float32")))
    ShapeDtype(shape=(2, 5), dtype=dtype('float32'))
    """
    return shape_rules[fun](*[aval(a) for a in args], **params)
