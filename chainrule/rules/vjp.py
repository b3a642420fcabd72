"""Reverse-mode rules: one row per primitive, one function per differentiable operand.

A rule is called as ``rule(g, ans, *args, **params)`` and returns the cotangent of its
operand. Rules are written with ``chainrule.numpy`` and operators, so they are themselves
differentiable: higher-order derivatives come free.

Convention: a rule's parameters that start with ``_`` are not read (at most their ``.shape``,
``.ndim`` and ``.dtype``), so the graph does not keep those values alive. The backward pass
un-broadcasts and casts what a rule returns to its operand's shape and dtype; rules don't.
Complex numbers follow JAX's (and HIPS autograd's) convention: for holomorphic f the rule is
``g * f'(x)``, no conjugation.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.trace import Tracer
from chainrule.numpy import _ops as cnp
from chainrule.numpy import linalg as la
from chainrule.rules.impl import _index_is_basic, count, power


class VarArgs:
    """A rule for a primitive with any number of operands: ``fn(i, g, ans, *args, **params)``."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable):
        self.fn = fn


#: vjp_rules[prim] -> tuple of per-operand rules (None: that operand carries no gradient).
vjp_rules: dict[P.Primitive, Any] = {}


def defvjp(prim: P.Primitive, *rules: Callable | None) -> None:
    """Register one reverse-mode rule per operand of `prim`."""
    vjp_rules[prim] = rules


_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))


def _is_complex(x: Any) -> bool:
    return np.issubdtype(x.dtype, np.complexfloating)


def _safe(x: Any, bad: Any, fill: float) -> Any:
    return cnp.where(bad, fill, x)


def _T(x: Any) -> Any:
    return x.mT


def _abs_vjp(g, a, x):
    if _is_complex(x):
        return g * cnp.conj(x) / _safe(a, a == 0, 1.0)
    return g * cnp.sign(x)


def _sinc_vjp(g, a, x):
    zero = x == 0
    # at 0 the derivative is 0; written as -π²x/3 there so that its own derivative is right
    return g * cnp.where(zero, x * (-np.pi**2 / 3), (cnp.cos(np.pi * x) - a) / _safe(x, zero, 1.0))


def _pow_x(g, _a, x, y):
    if isinstance(y, (int, float)):
        if y == 0:
            return g * 0.0
        if y == 2:
            return g * (2 * x)
        if type(y) is int and not isinstance(x, Tracer):
            return g * (y * power(x, y - 1))
        return g * (y * x ** (y - 1))
    return g * cnp.where(y == 0, 0.0, y * x ** (y - 1))


def _pow_y(g, a, x, _y):
    zero = x == 0
    return g * cnp.where(zero, 0.0, a * cnp.log(_safe(x, zero, 1.0)))


def _tie(x: Any, y: Any, first: Any) -> Any:
    """Weight of x when max/min picks between x and y: 1 chosen, 0 not, 0.5 on ties."""
    return cnp.where(first, 1.0, cnp.where(x == y, 0.5, 0.0))


def _fminmax_weight(x, y, first):
    return cnp.where(cnp.isnan(y), 1.0, cnp.where(cnp.isnan(x), 0.0, _tie(x, y, first)))


# fmt: off
defvjp(P.neg_p,        lambda g, _a, _x: -g)
defvjp(P.exp_p,        lambda g, a, _x: g * a)
defvjp(P.expm1_p,      lambda g, a, _x: g * (a + 1))
defvjp(P.exp2_p,       lambda g, a, _x: g * (a * _LN2))
defvjp(P.log_p,        lambda g, _a, x: g / x)
defvjp(P.log1p_p,      lambda g, _a, x: g / (x + 1))
defvjp(P.log2_p,       lambda g, _a, x: g / (x * _LN2))
defvjp(P.log10_p,      lambda g, _a, x: g / (x * _LN10))
defvjp(P.sqrt_p,       lambda g, a, _x: g / (2 * a))
defvjp(P.cbrt_p,       lambda g, a, _x: g / (3 * (a * a)))
defvjp(P.square_p,     lambda g, _a, x: g * (2 * x))
defvjp(P.reciprocal_p, lambda g, a, _x: -g * (a * a))
defvjp(P.abs_p,        _abs_vjp)
defvjp(P.sin_p,        lambda g, _a, x: g * cnp.cos(x))
defvjp(P.cos_p,        lambda g, _a, x: -g * cnp.sin(x))
defvjp(P.tan_p,        lambda g, a, _x: g * (1 + a * a))
defvjp(P.arcsin_p,     lambda g, _a, x: g / cnp.sqrt((1 - x) * (1 + x)))
defvjp(P.arccos_p,     lambda g, _a, x: -g / cnp.sqrt((1 - x) * (1 + x)))
defvjp(P.arctan_p,     lambda g, _a, x: g / (1 + x * x))
defvjp(P.sinh_p,       lambda g, _a, x: g * cnp.cosh(x))
defvjp(P.cosh_p,       lambda g, _a, x: g * cnp.sinh(x))
defvjp(P.tanh_p,       lambda g, a, _x: g * (1 - a * a))
defvjp(P.arcsinh_p,    lambda g, _a, x: g / cnp.sqrt(x * x + 1))
defvjp(P.arccosh_p,    lambda g, _a, x: g / (cnp.sqrt(x - 1) * cnp.sqrt(x + 1)))
defvjp(P.arctanh_p,    lambda g, _a, x: g / ((1 - x) * (1 + x)))
defvjp(P.sinc_p,       _sinc_vjp)
defvjp(P.real_p,       lambda g, _a, _x: g)
defvjp(P.imag_p,       lambda g, _a, _x: -1j * g)
defvjp(P.conj_p,       lambda g, _a, _x: cnp.conj(g))
defvjp(P.deg2rad_p,    lambda g, _a, _x: g * (np.pi / 180))
defvjp(P.rad2deg_p,    lambda g, _a, _x: g * (180 / np.pi))

defvjp(P.add_p,        lambda g, _a, _x, _y: g,
                       lambda g, _a, _x, _y: g)
defvjp(P.sub_p,        lambda g, _a, _x, _y: g,
                       lambda g, _a, _x, _y: -g)
defvjp(P.mul_p,        lambda g, _a, _x, y: g * y,
                       lambda g, _a, x, _y: g * x)
defvjp(P.div_p,        lambda g, _a, _x, y: g / y,
                       lambda g, a, _x, y: -g * a / y)
defvjp(P.pow_p,        _pow_x, _pow_y)
defvjp(P.maximum_p,    lambda g, _a, x, y: g * _tie(x, y, x > y),
                       lambda g, _a, x, y: g * _tie(y, x, y > x))
defvjp(P.minimum_p,    lambda g, _a, x, y: g * _tie(x, y, x < y),
                       lambda g, _a, x, y: g * _tie(y, x, y < x))
defvjp(P.fmax_p,       lambda g, _a, x, y: g * _fminmax_weight(x, y, x > y),
                       lambda g, _a, x, y: g * _fminmax_weight(y, x, y > x))
defvjp(P.fmin_p,       lambda g, _a, x, y: g * _fminmax_weight(x, y, x < y),
                       lambda g, _a, x, y: g * _fminmax_weight(y, x, y < x))
defvjp(P.arctan2_p,    lambda g, _a, x, y: g * y / (x * x + y * y),
                       lambda g, _a, x, y: -g * x / (x * x + y * y))
defvjp(P.hypot_p,      lambda g, a, x, _y: g * x / a,
                       lambda g, a, _x, y: g * y / a)
defvjp(P.logaddexp_p,  lambda g, a, x, _y: g * cnp.exp(x - a),
                       lambda g, a, _x, y: g * cnp.exp(y - a))
defvjp(P.logaddexp2_p, lambda g, a, x, _y: g * cnp.exp2(x - a),
                       lambda g, a, _x, y: g * cnp.exp2(y - a))
defvjp(P.mod_p,        lambda g, _a, _x, _y: g,
                       lambda g, _a, x, y: -g * cnp.floor_divide(x, y))
defvjp(P.fmod_p,       lambda g, _a, _x, _y: g,
                       lambda g, _a, x, y: -g * cnp.trunc(x / y))

defvjp(P.where_p,      None,
                       lambda g, _a, c, _x, _y: cnp.where(c, g, 0.0),
                       lambda g, _a, c, _x, _y: cnp.where(c, 0.0, g))
defvjp(P.clip_p,       lambda g, _a, x, lo, hi: g * ((x >= lo) & (x <= hi)),
                       lambda g, _a, x, lo, hi: g * ((x < lo) & (lo <= hi)),
                       lambda g, _a, x, lo, hi: g * ((x > hi) | (lo > hi)))
defvjp(P.astype_p,     lambda g, _a, _x, dtype: g)
defvjp(P.stop_gradient_p, None)
# fmt: on


# --- reductions ------------------------------------------------------------------------------


def _keep(g: Any, shape: tuple, axis: tuple | None) -> Any:
    """`g`, reduced over `axis` of `shape`, reshaped as if with keepdims=True."""
    kept = tuple(1 if axis is None or i in axis else s for i, s in enumerate(shape))
    return g.reshape(kept)


def _expand(g: Any, shape: tuple, axis: tuple | None) -> Any:
    """`g`, reduced over `axis`, broadcast back to `shape` (a view for large shapes)."""
    g = _keep(g, shape, axis)
    if type(g) is np.ndarray and math.prod(shape) < 1 << 14:
        out = np.empty(shape, g.dtype)  # small: a plain array beats numpy's broadcast_to
        out[...] = g
        return out
    return cnp.broadcast_to(g, shape)


def _minmax_vjp(g, a, x, axis, keepdims):
    mask = x == _keep(a, x.shape, axis)
    return _keep(g, x.shape, axis) * mask / cnp.sum(mask, axis=axis, keepdims=True)


def _prod_others(x: Any) -> Any:
    """For each i along the last axis, the product of all the other entries: by exclusive
    cumulative products from both sides, exact with zeros (no division)."""
    if x.shape[-1] == 0:
        return np.zeros(x.shape, x.dtype)
    one = np.ones(x.shape[:-1] + (1,), x.dtype)
    left = cnp.cumprod(cnp.concatenate([one, x[..., :-1]], axis=-1), axis=-1)
    right = cnp.flip(cnp.cumprod(cnp.concatenate([one, cnp.flip(x, -1)[..., :-1]], -1), -1), -1)
    return left * right


def _prod_vjp(g, _a, x, axis, keepdims):
    axes = tuple(range(x.ndim)) if axis is None else axis
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    perm = rest + axes
    xt = cnp.transpose(x, perm)
    lead = xt.shape[: len(rest)]
    others = _prod_others(cnp.reshape(xt, lead + (math.prod(xt.shape[len(rest) :]),)))
    res = cnp.reshape(cnp.reshape(g, lead + (1,)) * others, xt.shape)
    return cnp.transpose(res, tuple(np.argsort(perm)))


def _rev_cumsum(x: Any, axis: int) -> Any:
    return cnp.flip(cnp.cumsum(cnp.flip(x, axis), axis=axis), axis)


def _cumprod_vjp(g, a, x, axis):
    if not cnp.any(x == 0):
        return _rev_cumsum(g * a, axis) / x
    # With zeros: d ans_j / d x_i = prod_{k <= j, k != i} x_k, built without division.
    n = x.shape[axis]
    xm, gm = cnp.moveaxis(x, axis, -1), cnp.moveaxis(g, axis, -1)
    rows = cnp.cumprod(cnp.where(np.eye(n, dtype=bool), 1.0, xm[..., None, :]), axis=-1)
    res = cnp.sum(cnp.where(np.triu(np.ones((n, n), bool)), rows, 0.0) * gm[..., None, :], -1)
    return cnp.moveaxis(res, -1, axis)


# fmt: off
defvjp(P.sum_p,     lambda g, _a, _x, axis, keepdims: _expand(g, _x.shape, axis))
defvjp(P.mean_p,    lambda g, _a, _x, axis, keepdims:
                        _expand(g / count(_x.shape, axis), _x.shape, axis))
defvjp(P.prod_p,    _prod_vjp)
defvjp(P.amax_p,    _minmax_vjp)
defvjp(P.amin_p,    _minmax_vjp)
defvjp(P.cumsum_p,  lambda g, _a, _x, axis: _rev_cumsum(g, axis))
defvjp(P.cumprod_p, _cumprod_vjp)
# fmt: on


# --- shapes and indexing ---------------------------------------------------------------------


def _concatenate_vjp(i, g, _a, *_xs, axis, sizes):
    start = sum(sizes[:i])
    return g[(slice(None),) * axis + (slice(start, start + sizes[i]),)]


def _pad_vjp(g, _a, _x, pad_width):
    return g[tuple(slice(lo, g.shape[k] - hi) for k, (lo, hi) in enumerate(pad_width))]


# fmt: off
defvjp(P.reshape_p,      lambda g, _a, _x, shape: cnp.reshape(g, _x.shape))
defvjp(P.transpose_p,    lambda g, _a, _x, axes: cnp.transpose(g, tuple(np.argsort(axes))))
defvjp(P.broadcast_to_p, lambda g, _a, _x, shape: g)
vjp_rules[P.concatenate_p] = VarArgs(_concatenate_vjp)
defvjp(P.pad_p,          _pad_vjp)
defvjp(P.getitem_p,      lambda g, _a, _x, index:
                             cnp.index_add(np.zeros(_x.shape, g.dtype), index, g))
defvjp(P.index_add_p,    lambda g, _a, _x, _i, _y: g,
                         None,
                         lambda g, _a, _x, index, _y: g[index])
defvjp(P.index_set_p,    lambda g, _a, _x, index, _y: cnp.index_set(g, index, 0.0),
                         None,
                         lambda g, _a, _x, index, _y: _written(g, g.shape, index))
# fmt: on


def _written(g: Any, shape: tuple, index: Any) -> Any:
    """`g[index]`, where a repeated index counts only for its last write (NumPy's rule)."""
    if _index_is_basic(index):
        return g[index]
    ids = np.arange(np.broadcast_to(np.zeros((), np.int8), shape)[index].size)
    ids = ids.reshape(np.broadcast_to(np.zeros((), np.int8), shape)[index].shape)
    last = np.zeros(shape, np.intp)
    last[index] = ids
    return cnp.where(last[index] == ids, g[index], 0.0)


# --- products --------------------------------------------------------------------------------


def _outer(a: Any, b: Any) -> Any:
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == b.ndim == 1:
        return np.dot(a[:, None], b[None, :])  # BLAS: faster than broadcasting, and exact
    return a[..., None] * b[..., None, :]


def _matmul_x(g, _a, _x, y):
    if y.ndim == 1:
        return _outer(g, y) if _x.ndim > 1 else g * y
    if _x.ndim == 1:
        return g @ _T(y) if y.ndim == 2 else (y @ g[..., None])[..., 0]
    return g @ _T(y)


def _matmul_y(g, _a, x, _y):
    if x.ndim == 1:
        return _outer(x, g) if _y.ndim > 1 else g * x
    if _y.ndim == 1:
        return g @ x if x.ndim == 2 else (_T(x) @ g[..., None])[..., 0]
    return _T(x) @ g


def _einsum_vjp(i, g, _a, *ops, subscripts):
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    shape = ops[i].shape
    free = iter(c for c in cnp._LETTERS if c not in subscripts)
    subs = [s for j, s in enumerate(ins) if j != i] + [out]
    operands = [o for j, o in enumerate(ops) if j != i] + [g]
    target = ""
    for pos, c in enumerate(ins[i]):
        if c in target:  # repeated index (a diagonal): link a fresh letter through an identity
            f = next(free)
            subs.append(c + f)
            operands.append(np.eye(shape[pos], dtype=g.dtype))
            c = f
        target += c
    present = set("".join(subs))
    for pos, c in enumerate(target):
        if c not in present:  # summed only within this operand: broadcast back with ones
            subs.append(c)
            operands.append(np.ones(shape[pos], g.dtype))
    return cnp.einsum(",".join(subs) + "->" + target, *operands)


defvjp(P.matmul_p, _matmul_x, _matmul_y)
vjp_rules[P.einsum_p] = VarArgs(_einsum_vjp)


# --- linear algebra --------------------------------------------------------------------------


def _eye_like(n: int, dtype: Any) -> np.ndarray:
    return np.eye(n, dtype=dtype)


def _solve_b(g, ans, a, _b):
    if ans.ndim == a.ndim - 1:  # b was a vector (or a batch of them)
        return la.solve(_T(a), g[..., None])[..., 0]
    return la.solve(_T(a), g)


def _solve_a(g, ans, a, _b):
    gb = _solve_b(g, ans, a, None)
    if ans.ndim == a.ndim - 1:
        return -gb[..., :, None] * ans[..., None, :]
    return -cnp.matmul(gb, _T(ans))


def _det_vjp(g, a, x):
    if cnp.all(a != 0):
        return (g * a)[..., None, None] * _T(la.inv(x))
    # Singular: the cofactor matrix, det(U) det(Vh) U diag(prod of the other s) Vh.
    u, s, vh = la.svd(x, full_matrices=False)
    sign = la.det(u) * la.det(vh)
    return (g * sign)[..., None, None] * cnp.matmul(u * _prod_others(s)[..., None, :], vh)


def _cholesky_vjp(g, L, _x):
    n = L.shape[-1]
    phi = cnp.tril(cnp.matmul(_T(L), g)) * (1 - 0.5 * _eye_like(n, L.dtype))
    Linv = la.inv(L)
    S = cnp.matmul(cnp.matmul(_T(Linv), phi), Linv)
    return 0.5 * (S + _T(S))


def _eigh_vjp(g, ans, _x, UPLO):
    w, v = ans
    gw, gv = g
    n = w.shape[-1]
    diff = w[..., None, :] - w[..., :, None]
    F = 1.0 / cnp.where(np.eye(n, dtype=bool), np.inf, diff)
    inner = gw[..., :, None] * _eye_like(n, w.dtype) + F * cnp.matmul(_T(v), gv)
    res = cnp.matmul(cnp.matmul(v, inner), _T(v))
    return 0.5 * (res + _T(res))


def _svd_vjp(g, ans, x):
    u, s, vh = ans
    gu, gs, gvh = g
    m, n = x.shape[-2:]
    k = s.shape[-1]
    v, gv = _T(vh), _T(gvh)
    s2 = s * s
    F = 1.0 / cnp.where(np.eye(k, dtype=bool), np.inf, s2[..., None, :] - s2[..., :, None])
    J = F * cnp.matmul(_T(u), gu)
    K = F * cnp.matmul(_T(v), gv)
    inner = (J + _T(J)) * s[..., None, :] + gs[..., :, None] * _eye_like(k, s.dtype)
    inner = inner + s[..., :, None] * (K + _T(K))
    res = cnp.matmul(cnp.matmul(u, inner), vh)
    if m > k:
        res = res + cnp.matmul((gu - cnp.matmul(u, cnp.matmul(_T(u), gu))) / s[..., None, :], vh)
    if n > k:
        res = res + cnp.matmul(u, (gvh - cnp.matmul(cnp.matmul(gvh, v), vh)) / s[..., :, None])
    return res


def _qr_vjp(g, ans, _x):
    q, r = ans
    gq, gr = g
    M = cnp.matmul(r, _T(gr)) - cnp.matmul(_T(gq), q)
    low = cnp.tril(M, -1)
    sym = low + _T(low) + M * _eye_like(M.shape[-1], M.dtype)
    b = gq + cnp.matmul(q, sym)
    return _T(la.solve(r, _T(b)))


# fmt: off
defvjp(P.inv_p,      lambda g, a, _x: -cnp.matmul(cnp.matmul(_T(a), g), _T(a)))
defvjp(P.det_p,      _det_vjp)
defvjp(P.slogdet_p,  lambda g, _a, x: g[1][..., None, None] * _T(la.inv(x)))
defvjp(P.solve_p,    _solve_a, _solve_b)
defvjp(P.cholesky_p, _cholesky_vjp)
defvjp(P.eigh_p,     _eigh_vjp)
defvjp(P.svd_p,      _svd_vjp)
defvjp(P.qr_p,       _qr_vjp)
# fmt: on
