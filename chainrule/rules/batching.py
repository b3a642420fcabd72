"""Batching rules (vmap): one row per primitive.

``batch_rules[prim](axis, vals, dims, **params) -> (out, out_dim)``: `vals` are the operands,
`dims` where each one's batch dimension is (None: not batched, the same for every example);
`axis` has the batch `size` and the axis `name`. A rule computes the whole batch at once with
ordinary primitives, and says where the batch dimension of its result is (a tuple of them for
several results; None for a result that does not vary along the axis). Most rules move the
batch dimension to the front and shift the primitive's axes by one.
``tests/test_rules.py`` checks every row against a Python loop over the examples.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import axes as axes_mod
from chainrule.core import linalg as la
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.ops import has_arrays
from chainrule.core.trace import bind
from chainrule.rules.shape import index_shape

#: batch_rules[prim](axis, vals, dims, **params) -> (out, out_dim)
batch_rules: dict[P.Primitive, Callable] = {}


def _ndim(x: Any) -> int:
    return np.ndim(x) if not hasattr(x, "ndim") else x.ndim


def _shape(x: Any) -> tuple:
    return np.shape(x) if not hasattr(x, "shape") else x.shape


def front(x: Any, d: int | None, size: int) -> Any:
    """`x` with its batch dimension first (broadcast to `size` when it has none)."""
    if d is None:
        x = cnp.asarray(x) if not hasattr(x, "shape") else x
        return cnp.broadcast_to(x, (size, *_shape(x)))
    return x if d == 0 else cnp.moveaxis(x, d, 0)


def _to_rank(x: Any, rank: int) -> Any:
    """A batched-at-0 `x` with 1s inserted after the batch dimension up to `rank` dims per
    example (so that it broadcasts against operands of that rank as its example did)."""
    nd = _ndim(x) - 1
    if nd >= rank:
        return x
    s = _shape(x)
    return cnp.reshape(x, (s[0],) + (1,) * (rank - nd) + tuple(s[1:]))


def elementwise(prim: P.Primitive) -> Callable:
    def rule(axis, vals, dims, **params):
        rank = max(_ndim(v) - (d is not None) for v, d in zip(vals, dims))
        ops = [
            v if d is None else _to_rank(front(v, d, axis.size), rank) for v, d in zip(vals, dims)
        ]
        return bind(prim, *ops, **params), 0

    return rule


def _axes_after_front(axis: Any, nd: int) -> Any:
    """A reduction's axis parameter (None or a tuple) for the batched-at-0 value."""
    return tuple(range(1, nd + 1)) if axis is None else tuple(a + 1 for a in axis)


def reduction(prim: P.Primitive) -> Callable:
    def rule(axis_, vals, dims, axis, keepdims):
        (x,), (d,) = vals, dims
        x = front(x, d, axis_.size)
        return bind(prim, x, axis=_axes_after_front(axis, x.ndim - 1), keepdims=keepdims), 0

    return rule


def arg_reduction(prim: P.Primitive) -> Callable:
    """argmax/argmin: axis is an int or None (the index into the flattened example)."""

    def rule(axis_, vals, dims, axis, keepdims):
        (x,), (d,) = vals, dims
        x = front(x, d, axis_.size)
        nd = x.ndim - 1
        if axis is None:
            out = bind(prim, cnp.reshape(x, (x.shape[0], -1)), axis=1, keepdims=False)
            return (cnp.reshape(out, (x.shape[0],) + (1,) * nd) if keepdims else out), 0
        return bind(prim, x, axis=axis % nd + 1, keepdims=keepdims), 0

    return rule


def scan(prim: P.Primitive) -> Callable:
    def rule(axis_, vals, dims, axis, **params):
        (x,), (d,) = vals, dims
        x = front(x, d, axis_.size)
        return bind(prim, x, axis=axis % (x.ndim - 1) + 1, **params), 0

    return rule


def _argsort(axis_, vals, dims, axis, kind):
    (x,), (d,) = vals, dims
    x = front(x, d, axis_.size)
    if axis is None:
        return bind(P.argsort_p, cnp.reshape(x, (x.shape[0], -1)), axis=1, kind=kind), 0
    return bind(P.argsort_p, x, axis=axis % (x.ndim - 1) + 1, kind=kind), 0


def _nonzero(axis_, vals, dims):
    raise ValueError(
        "nonzero (and boolean-mask indexing) under vmap: the number of results differs "
        "between examples; use cnp.where(mask, x, 0) instead"
    )


def _reshape(axis, vals, dims, shape):
    (x,), (d,) = vals, dims
    x = front(x, d, axis.size)
    return cnp.reshape(x, (x.shape[0], *shape)), 0


def _transpose(axis, vals, dims, axes):
    (x,), (d,) = vals, dims
    x = front(x, d, axis.size)
    return cnp.transpose(x, (0, *[a + 1 for a in axes])), 0


def _broadcast_to(axis, vals, dims, shape):
    (x,), (d,) = vals, dims
    x = _to_rank(front(x, d, axis.size), len(shape))
    return cnp.broadcast_to(x, (axis.size, *shape)), 0


def _concatenate(axis_, vals, dims, axis, sizes):
    xs = [front(v, d, axis_.size) for v, d in zip(vals, dims)]
    return bind(P.concatenate_p, *xs, axis=axis + 1, sizes=sizes), 0


def _pad(axis, vals, dims, pad_width):
    (x,), (d,) = vals, dims
    return bind(P.pad_p, front(x, d, axis.size), pad_width=((0, 0), *pad_width)), 0


# --- indexing --------------------------------------------------------------------------------

_FULL = ("s", None, None, None)


def _expand_spec(spec: tuple, nd: int) -> tuple:
    """The spec with its ellipsis expanded and full slices for the trailing dimensions."""
    used = sum(1 for s in spec if s is not None and s is not Ellipsis)
    if Ellipsis in spec:
        k = spec.index(Ellipsis)
        return spec[:k] + (_FULL,) * (nd - used) + spec[k + 1 :]
    return spec + (_FULL,) * (nd - used)


def _canonical(x: Any, spec: tuple, arrays: list, adims: list, size: int) -> tuple:
    """An all-advanced index into the batched-at-0 `x` equivalent, example by example, to
    `spec` (with batched index arrays): returns (x reshaped for newaxes, index arrays, the
    per-example result shape). ``x[tuple(index)]`` then has shape (size, *result)."""
    ex_shape = x.shape[1:]
    spec = _expand_spec(spec, len(ex_shape))
    out_shape = index_shape(ex_shape, spec, [_Shaped(_shape(a)[1:] if d is not None else
                                                     _shape(a)) for a, d in zip(arrays, adims)])
    # where each spec item lands in the result (NumPy's placement rule)
    advanced = has_arrays(spec)
    adv_items = [k for k, s in enumerate(spec) if (type(s) is tuple and s[0] == "a") or
                 (advanced and type(s) is int)]  # fmt: skip
    adjacent = bool(adv_items) and adv_items == list(range(adv_items[0], adv_items[-1] + 1))
    nb = len(out_shape) - sum(1 for s in spec if s is None or (type(s) is tuple and s[0] == "s"))
    new_x_shape = [size]
    index: list = []
    pos = 0 if (advanced and not adjacent) else None
    cursor = nb if (advanced and not adjacent) else 0
    rank = 1 + len(out_shape)
    dim = 0
    adv_at = None
    for s in spec:
        if s is None:
            new_x_shape.append(1)
            index.append(_placed(np.zeros(1, np.intp), 1 + cursor, rank))
            cursor += 1
            continue
        n = ex_shape[dim]
        dim += 1
        new_x_shape.append(n)
        if type(s) is tuple and s[0] == "s":
            index.append(_placed(np.arange(n)[slice(*s[1:])], 1 + cursor, rank))
            cursor += 1
        else:
            if adjacent and adv_at is None:
                adv_at = cursor
                cursor += nb
            start = adv_at if adjacent else pos
            if type(s) is int:
                index.append(np.asarray(s % n))
            else:
                a, d = arrays[s[1]], adims[s[1]]
                index.append(_adv(a, d, 1 + start, nb, rank))
    batch = _placed(np.arange(size), 0, rank)
    return cnp.reshape(x, tuple(new_x_shape)), [batch] + index, out_shape


class _Shaped:
    __slots__ = ("shape",)

    def __init__(self, shape: tuple):
        self.shape = tuple(shape)


def _placed(v: np.ndarray, at: int, rank: int) -> np.ndarray:
    """A 1-d array laid along dimension `at` of `rank` dimensions."""
    shape = [1] * rank
    shape[at] = v.shape[0]
    return v.reshape(shape)


def _adv(a: Any, d: int | None, at: int, nb: int, rank: int) -> Any:
    """An advanced index array laid over the `nb` broadcast dimensions starting at `at`, with
    its batch dimension (if any) first."""
    if d is None:
        s = _shape(a)
        full = (1,) * (nb - len(s)) + tuple(s)
        return cnp.reshape(a, (1,) * at + full + (1,) * (rank - at - nb)) if not isinstance(
            a, np.ndarray) else a.reshape((1,) * at + full + (1,) * (rank - at - nb))  # fmt: skip
    a = front(a, d, 0)
    s = _shape(a)[1:]
    full = (1,) * (nb - len(s)) + tuple(s)
    return cnp.reshape(a, (_shape(a)[0],) + (1,) * (at - 1) + full + (1,) * (rank - at - nb))


def _getitem(axis, vals, dims, index):
    x, arrays = vals[0], list(vals[1:])
    xd, adims = dims[0], list(dims[1:])
    if all(d is None for d in adims):  # the common case: only x varies
        x = front(x, xd, axis.size)
        spec = (_FULL,) + _expand_spec(index, x.ndim - 1)
        out = bind(P.getitem_p, x, *arrays, index=spec)
        if not has_arrays(index):
            return out, 0
        items = [k for k, s in enumerate(spec) if (type(s) is tuple and s[0] == "a") or
                 type(s) is int]  # fmt: skip
        adjacent = items == list(range(items[0], items[-1] + 1))
        if adjacent:
            return out, 0
        nb = len(np.broadcast_shapes(*[_shape(a) for a in arrays]))
        return out, nb  # advanced dimensions went first, the batch dimension after them
    x = front(x, xd, axis.size)
    xr, idx, out_shape = _canonical(x, index, arrays, adims, axis.size)
    return cnp.reshape(xr[tuple(idx)], (axis.size, *out_shape)), 0


def _index_update(prim: P.Primitive) -> Callable:
    def rule(axis, vals, dims, index):
        x, y, arrays = vals[0], vals[1], list(vals[2:])
        xd, yd, adims = dims[0], dims[1], list(dims[2:])
        size = axis.size
        x = front(x, xd, size)
        if not has_arrays(index):
            sel = index_shape(x.shape[1:], index, [])
            if yd is not None:
                y = _to_rank(front(y, yd, size), len(sel))
            spec = (_FULL,) + _expand_spec(index, x.ndim - 1)
            return bind(prim, x, y, index=spec), 0
        xr, idx, out_shape = _canonical(x, index, arrays, adims, size)
        y = _to_rank(front(y, yd, size), len(out_shape)) if yd is not None else y
        spec = tuple(("a", i) for i in range(len(idx)))
        res = bind(prim, xr, y, *idx, index=spec)
        return cnp.reshape(res, x.shape), 0

    return rule


# --- products and linear algebra -------------------------------------------------------------


def _matmul(axis, vals, dims):
    (x, y), (xd, yd) = vals, dims
    rx = _ndim(x) - (xd is not None)
    ry = _ndim(y) - (yd is not None)
    if xd is not None:
        x = front(x, xd, axis.size)
        if rx == 1:
            x = cnp.expand_dims(x, -2)
    elif rx == 1:
        x = cnp.expand_dims(x, -2)
    if yd is not None:
        y = front(y, yd, axis.size)
        if ry == 1:
            y = cnp.expand_dims(y, -1)
    elif ry == 1:
        y = cnp.expand_dims(y, -1)
    rank = max(max(rx, 2), max(ry, 2))
    if xd is not None:
        x = _to_rank(x, rank)
    if yd is not None:
        y = _to_rank(y, rank)
    out = cnp.matmul(x, y)
    if ry == 1:
        out = out[..., 0]
    if rx == 1:
        out = out[..., 0] if ry == 1 else out[..., 0, :]
    return out, 0


def _einsum(axis, vals, dims, subscripts, optimize):
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    letter = next(c for c in cnp._LETTERS if c not in subscripts)
    ops, subs = [], []
    for v, d, s in zip(vals, dims, ins):
        if d is None:
            ops.append(v)
            subs.append(s)
        else:
            ops.append(front(v, d, axis.size))
            subs.append(letter + s)
    return bind(P.einsum_p, *ops, subscripts=",".join(subs) + "->" + letter + out,
                optimize=optimize), 0  # fmt: skip


def leading(prim: P.Primitive) -> Callable:
    """Primitives already batched over leading dimensions (linear algebra)."""

    def rule(axis, vals, dims, **params):
        (x,), (d,) = vals, dims
        out = bind(prim, front(x, d, axis.size), **params)
        return out, ((0,) * len(out) if prim.multiple_results else 0)

    return rule


def _solve(axis, vals, dims):
    (a, b), (ad, bd) = vals, dims
    ra = _ndim(a) - (ad is not None)
    rb = _ndim(b) - (bd is not None)
    if ad is not None:
        a = _to_rank(front(a, ad, axis.size), ra)
    if rb == 1:  # a vector per example: solve it as a one-column matrix
        b = cnp.expand_dims(front(b, bd, axis.size), -1)
        return la.solve(a, _to_rank(b, max(ra, 2)))[..., 0], 0
    rank = max(ra, rb)
    b = front(b, bd, axis.size) if bd is not None else b
    if ad is not None:
        a = _to_rank(a, rank)
    if bd is not None:
        b = _to_rank(b, rank)
    return la.solve(a, b), 0


# --- collectives -----------------------------------------------------------------------------


def _split_names(axis: Any, axis_name: Any) -> tuple[bool, Any]:
    """Whether this vmap's axis is among `axis_name`, and the other names (or None)."""
    names = axes_mod.names(axis_name)
    mine = axis.axis_name is not None and axis.axis_name in names
    rest = tuple(n for n in names if n != axis.axis_name)
    return mine, (rest if len(rest) > 1 else (rest[0] if rest else None))


def _reducing(prim: P.Primitive, reduce: Callable) -> Callable:
    """psum/pmax: over this vmap's axis, `reduce` along the examples (the result no longer
    varies along it); over other names, the collective of each example."""

    def rule(axis, vals, dims, axis_name):
        (x,), (d,) = vals, dims
        mine, rest = _split_names(axis, axis_name)
        if not mine:
            return bind(prim, x, axis_name=axis_name), d
        out = reduce(x, axis=d)
        return (out if rest is None else bind(prim, out, axis_name=rest)), None

    return rule


def _all_gather(axis, vals, dims, axis_name):
    (x,), (d,) = vals, dims
    if axis_name != axis.axis_name:
        return bind(P.all_gather_p, x, axis_name=axis_name), d
    return front(x, d, axis.size), None


def _axis_index(axis, vals, dims, axis_name):  # no operands: reached only through the impl
    return bind(P.axis_index_p, axis_name=axis_name), None


for _p in P.ALL:
    if _p.elementwise:
        batch_rules[_p] = elementwise(_p)

# fmt: off
batch_rules.update({
    P.device_put_p:   lambda axis, vals, dims, device, src: (
                          cnp.move(vals[0], device, src), dims[0]),
    P.sum_p:          reduction(P.sum_p),
    P.mean_p:         reduction(P.mean_p),
    P.prod_p:         reduction(P.prod_p),
    P.amax_p:         reduction(P.amax_p),
    P.amin_p:         reduction(P.amin_p),
    P.any_p:          reduction(P.any_p),
    P.all_p:          reduction(P.all_p),
    P.argmax_p:       arg_reduction(P.argmax_p),
    P.argmin_p:       arg_reduction(P.argmin_p),
    P.argsort_p:      _argsort,
    P.nonzero_p:      _nonzero,
    P.cumsum_p:       scan(P.cumsum_p),
    P.cumprod_p:      scan(P.cumprod_p),
    P.reshape_p:      _reshape,
    P.transpose_p:    _transpose,
    P.broadcast_to_p: _broadcast_to,
    P.concatenate_p:  _concatenate,
    P.pad_p:          _pad,
    P.getitem_p:      _getitem,
    P.index_add_p:    _index_update(P.index_add_p),
    P.index_set_p:    _index_update(P.index_set_p),
    P.matmul_p:       _matmul,
    P.einsum_p:       _einsum,
    P.inv_p:          leading(P.inv_p),
    P.det_p:          leading(P.det_p),
    P.slogdet_p:      leading(P.slogdet_p),
    P.cholesky_p:     leading(P.cholesky_p),
    P.eigh_p:         leading(P.eigh_p),
    P.svd_p:          leading(P.svd_p),
    P.qr_p:           leading(P.qr_p),
    P.eig_p:          leading(P.eig_p),
    P.solve_p:        _solve,
    P.psum_p:         _reducing(P.psum_p, cnp.sum),
    P.pmax_p:         _reducing(P.pmax_p, cnp.max),
    P.all_gather_p:   _all_gather,
    P.axis_index_p:   _axis_index,
})
# fmt: on

