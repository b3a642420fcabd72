"""Abstract evaluation: the shape, dtype and weak type of each primitive's result.

``shape_rules[prim](*avals, **params)`` takes `ShapeDtypeStruct`s and returns one (a tuple
for several results). Every rule is a formula on shapes: its cost does not grow with the
data. Result dtypes follow NumPy 2 (NEP 50): they are read off the ufunc or function applied
to 0-d stand-ins (a Python scalar for a weakly typed operand), cached per dtype signature.
``tests/test_rules.py`` checks each rule against the implementation on a grid of shapes and
dtypes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.core import axes
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct, is_weak, stand_in
from chainrule.core.errors import ConcretizationError
from chainrule.rules.impl import impl_rules

SD = ShapeDtypeStruct
shape_rules: dict[P.Primitive, Any] = {}
_dtypes: dict = {}  # (prim, operand stand-ins, params) -> result dtype


def _probe(a: SD) -> Any:
    """A stand-in of size 1 (a Python scalar when weakly typed), of the same rank."""
    return stand_in(a) if a.weak_type else np.zeros((1,) * a.ndim, a.dtype)


def _dtype_by_probe(prim: P.Primitive, avals: tuple, params: dict) -> np.dtype:
    key = (prim, tuple((a.dtype, a.weak_type, a.ndim) for a in avals),
           tuple(sorted(params.items())))
    dt = _dtypes.get(key)
    if dt is None:
        with np.errstate(all="ignore"):
            out = impl_rules[prim](*[_probe(a) for a in avals], **params)
        dt = _dtypes[key] = np.result_type(out)
    return dt


def _broadcast(prim: P.Primitive, shapes: list) -> tuple:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"{prim.name}: operands could not be broadcast together with shapes "
            f"{' '.join(map(str, shapes))}"
        ) from None


def _elementwise(prim: P.Primitive):
    def rule(*avals: SD, **params: Any) -> SD:
        shape = _broadcast(prim, [a.shape for a in avals])
        return SD(shape, _dtype_by_probe(prim, avals, params), is_weak(*avals))

    return rule


for _p in P.ELEMENTWISE:
    shape_rules[_p] = _elementwise(_p)


def _reduced(shape: tuple, axis: tuple | None, keepdims: bool) -> tuple:
    if axis is None:
        return (1,) * len(shape) if keepdims else ()
    if keepdims:
        return tuple(1 if i in axis else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in axis)


def _reduction(prim: P.Primitive):
    def rule(x: SD, axis: Any, keepdims: bool) -> SD:
        ax = None if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
        if ax is not None:
            ax = tuple(a % x.ndim if x.ndim else a for a in ax)
            for a in ax:
                if not 0 <= a < max(x.ndim, 1) or (x.ndim == 0):
                    raise np.exceptions.AxisError(
                        f"{prim.name}: axis {a} is out of bounds for array of dimension {x.ndim}"
                    )
        if prim in (P.amax_p, P.amin_p, P.argmax_p, P.argmin_p) and x.size == 0 and (
            ax is None or any(x.shape[a] == 0 for a in ax)
        ):
            raise ValueError(f"{prim.name}: zero-size array to reduction operation which has "
                             "no identity")  # fmt: skip
        probe = SD((1,) * x.ndim, x.dtype)
        with np.errstate(all="ignore"):
            dt = _dtype_by_probe(prim, (probe,), {"axis": axis, "keepdims": keepdims})
        return SD(_reduced(x.shape, ax, keepdims), dt)

    return rule


for _p in (P.sum_p, P.mean_p, P.prod_p, P.amax_p, P.amin_p, P.argmax_p, P.argmin_p, P.any_p,
           P.all_p):  # fmt: skip
    shape_rules[_p] = _reduction(_p)


def _dtype_of(prim: P.Primitive, x: SD, **params: Any) -> np.dtype:
    probe = SD((1,) * max(x.ndim, 1), x.dtype)
    return _dtype_by_probe(prim, (probe,), params)


def _reshape(x: SD, shape: tuple) -> SD:
    if math.prod(shape) != x.size or any(s < 0 for s in shape):
        raise ValueError(f"reshape: cannot reshape array of size {x.size} (shape {x.shape}) "
                         f"into shape {shape}")  # fmt: skip
    return SD(shape, x.dtype, x.weak_type)


def _transpose(x: SD, axes: tuple) -> SD:
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} don't match array of dimension {x.ndim}")
    return SD(tuple(x.shape[a] for a in axes), x.dtype, x.weak_type)


def _broadcast_to(x: SD, shape: tuple) -> SD:
    if _broadcast(P.broadcast_to_p, [x.shape, shape]) != tuple(shape):
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    return SD(shape, x.dtype, x.weak_type)


def _concatenate(*xs: SD, axis: int, sizes: tuple) -> SD:
    first = xs[0].shape
    for x in xs:
        if x.ndim != len(first) or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first)) if i != axis
        ):
            raise ValueError(
                "concatenate: all input array dimensions except for the concatenation axis "
                f"must match exactly, got shapes {[x.shape for x in xs]}"
            )
    shape = first[:axis] + (sum(x.shape[axis] for x in xs),) + first[axis + 1 :]
    return SD(shape, np.result_type(*[stand_in(x) for x in xs]), is_weak(*xs))


def _pad(x: SD, pad_width: tuple) -> SD:
    return SD(tuple(s + lo + hi for s, (lo, hi) in zip(x.shape, pad_width)), x.dtype)


def index_shape(shape: tuple, spec: tuple, arrays: list) -> tuple:
    """The shape of ``x[index]`` for an index spec (see core.ops.index_spec), following
    NumPy's rules: advanced indices (arrays, and integers when arrays are present) broadcast
    together; their dimensions replace them in place when they are adjacent, and go first
    otherwise."""
    used = sum(1 for s in spec if s is not None and s is not Ellipsis)
    if used > len(shape):
        raise IndexError(
            f"too many indices for array: array is {len(shape)}-dimensional, but {used} were "
            "indexed"
        )
    if spec.count(Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    full = ("s", None, None, None)
    if Ellipsis in spec:
        k = spec.index(Ellipsis)
        spec = spec[:k] + (full,) * (len(shape) - used) + spec[k + 1 :]
    else:
        spec = spec + (full,) * (len(shape) - used)
    advanced = any(type(s) is tuple and s[0] == "a" for s in spec)
    out: list = []
    adv_shapes, adv_at, adv_items = [], None, []
    dim = 0
    for k, s in enumerate(spec):
        if s is None:
            out.append(1)
            continue
        n = shape[dim]
        dim += 1
        if type(s) is int:
            if not -n <= s < n:
                raise IndexError(f"index {s} is out of bounds for axis {dim - 1} with size {n}")
            if advanced:
                adv_shapes.append(())
                adv_items.append(k)
                adv_at = len(out) if adv_at is None else adv_at
        elif s[0] == "s":
            out.append(len(range(*slice(*s[1:]).indices(n))))
        else:
            adv_shapes.append(tuple(arrays[s[1]].shape))
            adv_items.append(k)
            adv_at = len(out) if adv_at is None else adv_at
    if not advanced:
        return tuple(out)
    try:
        b = np.broadcast_shapes(*adv_shapes)
    except ValueError:
        raise IndexError(
            "shape mismatch: indexing arrays could not be broadcast together with shapes "
            f"{' '.join(map(str, adv_shapes))}"
        ) from None
    adjacent = adv_items == list(range(adv_items[0], adv_items[0] + len(adv_items)))
    if adjacent:
        return tuple(out[:adv_at]) + b + tuple(out[adv_at:])
    return b + tuple(out)


def _getitem(x: SD, *arrays: SD, index: tuple) -> SD:
    return SD(index_shape(x.shape, index, list(arrays)), x.dtype, x.weak_type)


def _index_update(x: SD, y: SD, *arrays: SD, index: tuple) -> SD:
    sel = index_shape(x.shape, index, list(arrays))
    if _broadcast(P.index_set_p, [y.shape, sel]) != sel:
        raise ValueError(f"could not broadcast input array from shape {y.shape} into shape {sel}")
    return SD(x.shape, np.result_type(x.dtype, y.dtype))


def _matmul(x: SD, y: SD) -> SD:
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions (0-d)")
    xs, ys = x.shape, y.shape
    xm = xs if x.ndim > 1 else (1,) + xs
    ym = ys if y.ndim > 1 else ys + (1,)
    if xm[-1] != ym[-2]:
        raise ValueError(
            f"matmul: mismatch in its core dimension: {xm[-1]} (shape {xs}) != {ym[-2]} "
            f"(shape {ys})"
        )
    batch = _broadcast(P.matmul_p, [xm[:-2], ym[:-2]])
    shape = batch + (xm[-2],) * (x.ndim > 1) + (ym[-1],) * (y.ndim > 1)
    return SD(shape, np.result_type(x.dtype, y.dtype))


def _einsum(*xs: SD, subscripts: str, optimize: Any) -> SD:
    ins, out = subscripts.split("->")
    sizes: dict = {}
    for term, x in zip(ins.split(","), xs):
        if len(term) != x.ndim:
            raise ValueError(f"einsum: subscripts {term!r} for an operand of shape {x.shape}")
        for c, n in zip(term, x.shape):
            prev = sizes.get(c)
            if prev is not None and prev != n and prev != 1 and n != 1:  # 1 broadcasts
                raise ValueError(f"einsum: size of label '{c}' differs: {prev} and {n}")
            if n != 1 or prev is None:
                sizes[c] = n
    return SD(tuple(sizes[c] for c in out), np.result_type(*[x.dtype for x in xs]))


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if np.issubdtype(dtype, np.inexact) else np.dtype(np.float64)


def _real(dtype: np.dtype) -> np.dtype:
    return np.finfo(_float(dtype)).dtype


def _complex(dtype: np.dtype) -> np.dtype:
    return np.result_type(_float(dtype), np.complex64)


def _square_matrix(name: str, a: SD) -> None:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(
            f"{name}: last 2 dimensions of the array must be square, got shape {a.shape}"
        )


def _svd(a: SD) -> tuple:
    *b, m, n = a.shape
    k = min(m, n)
    dt = _float(a.dtype)
    return SD((*b, m, k), dt), SD((*b, k), _real(dt)), SD((*b, k, n), dt)


def _qr(a: SD) -> tuple:
    *b, m, n = a.shape
    k = min(m, n)
    dt = _float(a.dtype)
    return SD((*b, m, k), dt), SD((*b, k, n), dt)


def _solve(a: SD, b: SD) -> SD:
    _square_matrix("solve", a)
    dt = _float(np.result_type(a.dtype, b.dtype))
    if b.ndim == 1:
        return SD(a.shape[:-1], dt)
    return SD(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], dt)


def _square(name: str, f: Any):
    def rule(a: SD, **params: Any) -> Any:
        _square_matrix(name, a)
        return f(a, **params)

    return rule


def _data_dependent(*avals: Any, **params: Any) -> Any:
    raise ConcretizationError(
        "nonzero (and boolean-mask indexing): the shape of the result depends on the values, "
        "which are only known abstractly here; use cnp.where(mask, x, 0) instead"
    )


# fmt: off
shape_rules.update({
    P.argsort_p:      lambda x, axis, kind: SD(x.shape, np.intp),
    P.device_put_p:   lambda x, device, src: x,
    P.nonzero_p:      _data_dependent,
    P.cumsum_p:       lambda x, axis: SD(x.shape, _dtype_of(P.cumsum_p, x, axis=0)),
    P.cumprod_p:      lambda x, axis: SD(x.shape, _dtype_of(P.cumprod_p, x, axis=0)),
    P.reshape_p:      _reshape,
    P.transpose_p:    _transpose,
    P.broadcast_to_p: _broadcast_to,
    P.concatenate_p:  _concatenate,
    P.pad_p:          _pad,
    P.getitem_p:      _getitem,
    P.index_add_p:    _index_update,
    P.index_set_p:    _index_update,
    P.matmul_p:       _matmul,
    P.einsum_p:       _einsum,
    P.inv_p:          _square("inv", lambda a: SD(a.shape, _float(a.dtype))),
    P.cholesky_p:     _square("cholesky", lambda a: SD(a.shape, _float(a.dtype))),
    P.det_p:          _square("det", lambda a: SD(a.shape[:-2], _float(a.dtype))),
    P.slogdet_p:      _square("slogdet", lambda a: (SD(a.shape[:-2], _float(a.dtype)),
                                                    SD(a.shape[:-2], _real(a.dtype)))),
    P.solve_p:        _solve,
    P.eigh_p:         _square("eigh", lambda a, UPLO: (SD(a.shape[:-1], _real(a.dtype)),
                                                       SD(a.shape, _float(a.dtype)))),
    P.svd_p:          _svd,
    P.eig_p:          _square("eig", lambda a: (SD(a.shape[:-1], _complex(a.dtype)),
                                                SD(a.shape, _complex(a.dtype)))),
    P.qr_p:           _qr,
    P.psum_p:         lambda x, axis_name: x,
    P.pmax_p:         lambda x, axis_name: x,
    P.all_gather_p:   lambda x, axis_name: SD((axes.lookup(axis_name).size, *x.shape), x.dtype,
                                              x.weak_type),
    P.axis_index_p:   lambda axis_name: SD((), np.intp),
})
# fmt: on
