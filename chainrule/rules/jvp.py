"""Forward-mode rules: one row per primitive.

``jvp_rules[prim](primals, tangents, **params) -> (primal_out, tangent_out)``; a tangent is
None where it is zero (no work is done for it), and so may be `tangent_out` (a tuple for
several results). The forward trace broadcasts and casts what a rule returns to the result's
shape and dtype; rules don't.

Most rows are made from other tables, so each derivative is written once:
- `from_vjp`: an elementwise holomorphic primitive's Jacobian is diagonal, so its VJP rule
  applied to a tangent is its JVP (``t * f'(x)``);
- `linear`: a linear primitive applied to the tangents is its JVP;
- `by_reduction`: a reduction's JVP is the sum of ``t * ∂out/∂x``, with ∂out/∂x from its VJP
  rule applied to ones.
The rest (products, scans, linear algebra, the non-holomorphic complex functions) are written
out. ``tests/test_rules.py`` checks every row against the VJP table by the adjoint identity
⟨u, J v⟩ = ⟨Jᵀ u, v⟩ and against finite differences.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import linalg as la
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.trace import bind
from chainrule.rules.vjp import cofactor, psum, reverse_recurrence, vjp_rules

#: jvp_rules[prim](primals, tangents, **params) -> (primal_out, tangent_out)
jvp_rules: dict[P.Primitive, Callable] = {}


def zeros_like(x: Any) -> Any:
    """A zero tangent for `x`, as a constant array."""
    return np.zeros(np.shape(x), np.result_type(x) if not hasattr(x, "dtype") else x.dtype)


def instantiate(t: Any, x: Any) -> Any:
    return zeros_like(x) if t is None else t


def _add(a: Any, b: Any) -> Any:
    return b if a is None else (a if b is None else a + b)


def from_vjp(prim: P.Primitive) -> Callable:
    """The JVP of an elementwise primitive whose VJP rules are ``g ↦ g · ∂f/∂xᵢ``."""
    rules = vjp_rules[prim].rules

    def rule(primals, tangents, **params):
        ans = bind(prim, *primals, **params)
        out = None
        for i, t in enumerate(tangents):
            if t is not None and rules[i] is not None:
                out = _add(out, rules[i](t, ans, *primals, **params))
        return ans, out

    return rule


def linear(prim: P.Primitive) -> Callable:
    """The JVP of a linear primitive: itself, applied to the tangents (zeros instantiated;
    non-differentiable operands, such as index arrays, passed as they are)."""
    nd = prim.ndiff

    def rule(primals, tangents, **params):
        ans = bind(prim, *primals, **params)
        ts = [
            p if (nd is not None and i >= nd) else instantiate(t, p)
            for i, (p, t) in enumerate(zip(primals, tangents))
        ]
        return ans, bind(prim, *ts, **params)

    return rule


def by_reduction(prim: P.Primitive) -> Callable:
    """The JVP of a reduction: sum over the reduced axes of ``t · ∂out/∂x``."""
    rule_x = vjp_rules[prim].rules[0]

    def rule(primals, tangents, axis, keepdims):
        (x,), (t,) = primals, tangents
        ans = bind(prim, x, axis=axis, keepdims=keepdims)
        kept = ans if keepdims else cnp.reshape(
            ans, tuple(1 if axis is None or i in axis else s for i, s in enumerate(x.shape)))
        d = rule_x(cnp.ones_like(kept), kept, x, axis, True)
        return ans, cnp.sum(t * d, axis=axis, keepdims=keepdims)

    return rule


def _abs(primals, tangents):
    (x,), (t,) = primals, tangents
    ans = cnp.abs(x)
    if x.dtype.kind == "c":
        zero = ans == 0
        return ans, cnp.real(cnp.conj(x) * t) / cnp.where(zero, 1.0, ans)
    return ans, t * cnp.sign(x)


def _matmul(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    ans = cnp.matmul(x, y)
    out = None if tx is None else cnp.matmul(tx, y)
    return ans, _add(out, None if ty is None else cnp.matmul(x, ty))


def _einsum(primals, tangents, subscripts, optimize):
    ans = bind(P.einsum_p, *primals, subscripts=subscripts, optimize=optimize)
    out = None
    for i, t in enumerate(tangents):
        if t is not None:
            ops = list(primals)
            ops[i] = t
            out = _add(out, bind(P.einsum_p, *ops, subscripts=subscripts, optimize=optimize))
    return ans, out


def _cumprod(primals, tangents, axis):
    """ans_j = ans_{j-1} x_j, so T_j = x_j T_{j-1} + ans_{j-1} t_j: a linear recurrence,
    solved by the same doubling scan as the VJP (exact with zeros, no division)."""
    (x,), (t,) = primals, tangents
    ans = cnp.cumprod(x, axis=axis)
    xm, tm, am = (cnp.moveaxis(v, axis, -1) for v in (x, t, ans))
    if xm.shape[-1] == 0:
        return ans, t
    prev = cnp.concatenate([cnp.ones_like(am[..., :1]), am[..., :-1]], axis=-1)
    res = _forward_recurrence(xm, prev * tm)
    return ans, cnp.moveaxis(res, -1, axis)


def _forward_recurrence(a: Any, b: Any) -> Any:
    """r with r[j] = b[j] + a[j] * r[j-1] along the last axis (r[-1] = 0)."""
    return cnp.flip(reverse_recurrence(cnp.flip(a, -1), cnp.flip(b, -1)), -1)


def _T(x: Any) -> Any:
    return cnp.swapaxes(x, -1, -2)


def _inv(primals, tangents):
    (x,), (t,) = primals, tangents
    ans = la.inv(x)
    return ans, -cnp.matmul(cnp.matmul(ans, t), ans)


def _det(primals, tangents):
    (x,), (t,) = primals, tangents
    return la.det(x), cnp.sum(cofactor(x) * t, axis=(-2, -1))


def _slogdet(primals, tangents):
    (x,), (t,) = primals, tangents
    sign, logdet = bind(P.slogdet_p, x)
    d = cnp.sum(_T(la.inv(x)) * t, axis=(-2, -1))
    return (sign, logdet), (None, cnp.real(d) if logdet.dtype.kind != "c" else d)


def _solve(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    ans = la.solve(a, b)
    vec = ans.ndim == a.ndim - 1
    rhs = None if tb is None else tb
    if ta is not None:
        ta_x = (ta @ ans[..., None])[..., 0] if vec else cnp.matmul(ta, ans)
        rhs = -ta_x if rhs is None else rhs - ta_x
    if vec:
        return ans, la.solve(a, rhs[..., None])[..., 0]
    return ans, la.solve(a, rhs)


def _cholesky(primals, tangents):
    """dL = L Φ(L⁻¹ herm(dA) L⁻ᴴ), Φ the lower triangle with its diagonal halved."""
    (x,), (t,) = primals, tangents
    L = la.cholesky(x)
    n = L.shape[-1]
    Linv = la.inv(L)
    inner = cnp.matmul(cnp.matmul(Linv, _herm(t)), _H(Linv))
    phi = cnp.tril(inner) * (1 - 0.5 * np.eye(n, dtype=L.real.dtype))
    return L, cnp.matmul(L, phi)


def _eigh(primals, tangents, UPLO):
    """C = Vᴴ herm(dA) V: dw = Re diag(C), dV = V (F∘C), F_ij = 1/(w_j − w_i) off the
    diagonal (the eigenvectors' phases do not move)."""
    (x,), (t,) = primals, tangents
    w, v = bind(P.eigh_p, x, UPLO=UPLO)
    n = w.shape[-1]
    C = cnp.matmul(cnp.matmul(_H(v), _herm(t)), v)
    diff = w[..., None, :] - w[..., :, None]
    F = 1.0 / cnp.where(np.eye(n, dtype=bool), np.inf, diff)
    dw = cnp.real(cnp.diagonal(C, 0, -2, -1)) if C.dtype.kind == "c" else \
        cnp.diagonal(C, 0, -2, -1)  # fmt: skip
    return (w, v), (dw, cnp.matmul(v, F * C))


def _svd(primals, tangents):
    """P = Uᴴ dA V: ds = Re diag(P); dU = U (F∘(PS + (PS)ᴴ) + D) + (I − UUᴴ) dA V S⁻¹;
    dV = V (F∘(SP + (SP)ᴴ)) + (I − VVᴴ) dAᴴ U S⁻¹; F_ij = 1/(s_j² − s_i²) off the diagonal
    and D = diag(i Im Pᵢᵢ / sᵢ) for complex values (the columns' phases)."""
    (x,), (t,) = primals, tangents
    u, s, vh = bind(P.svd_p, x)
    m, n = x.shape[-2:]
    k = s.shape[-1]
    v = _H(vh)
    dP = cnp.matmul(cnp.matmul(_H(u), t), v)  # k x k
    diag = cnp.diagonal(dP, 0, -2, -1)
    ds = cnp.real(diag) if dP.dtype.kind == "c" else diag
    s2 = s * s
    F = 1.0 / cnp.where(np.eye(k, dtype=bool), np.inf, s2[..., None, :] - s2[..., :, None])
    PS = dP * s[..., None, :]
    SP = s[..., :, None] * dP
    J = F * (PS + _H(PS))
    if dP.dtype.kind == "c":
        J = J + _diag_embed(1j * cnp.imag(diag) / s)
    du = cnp.matmul(u, J)
    dv = cnp.matmul(v, F * (SP + _H(SP)))
    sinv = 1.0 / s
    if m > k:
        tv = cnp.matmul(t, v)
        du = du + (tv - cnp.matmul(u, cnp.matmul(_H(u), tv))) * sinv[..., None, :]
    if n > k:
        thu = cnp.matmul(_H(t), u)
        dv = dv + (thu - cnp.matmul(v, cnp.matmul(_H(v), thu))) * sinv[..., None, :]
    return (u, s, vh), (du, ds, _H(dv))


def _qr(primals, tangents):
    """X = dA R⁻¹, C = Qᴴ X, O = tril(C, −1) − tril(C, −1)ᴴ (+ i Im diag C for complex
    values): dQ = Q (O − C) + X, dR = (C − O) R."""
    (x,), (t,) = primals, tangents
    q, r = bind(P.qr_p, x)
    X = cnp.matmul(t, la.inv(r))
    C = cnp.matmul(_H(q), X)
    low = cnp.tril(C, -1)
    O = low - _H(low)
    if C.dtype.kind == "c":
        O = O + _diag_embed(1j * cnp.imag(cnp.diagonal(C, 0, -2, -1)))
    return (q, r), (cnp.matmul(q, O - C) + X, cnp.matmul(C - O, r))


def _eig(primals, tangents):
    """C = V⁻¹ dA V: dw = diag(C); dV = V (F∘C) − V Re(colsum(conj(V) ∘ V(F∘C))), which keeps
    the unit norm NumPy gives the eigenvectors (their phases stay free: use losses that do
    not depend on them)."""
    (x,), (t,) = primals, tangents
    w, v = bind(P.eig_p, x)
    n = w.shape[-1]
    C = la.solve(v, cnp.matmul(t, v))
    F = 1.0 / cnp.where(np.eye(n, dtype=bool), np.inf, w[..., None, :] - w[..., :, None])
    dv = cnp.matmul(v, F * C)
    dv = dv - v * cnp.real(cnp.sum(cnp.conj(v) * dv, axis=-2, keepdims=True))
    return (w, v), (cnp.diagonal(C, 0, -2, -1), dv)


def _H(x: Any) -> Any:
    return cnp.conj(x).mT if x.dtype.kind == "c" else x.mT


def _herm(x: Any) -> Any:
    return 0.5 * (x + _H(x))


def _diag_embed(d: Any) -> Any:
    return d[..., :, None] * np.eye(d.shape[-1], dtype=bool)


def _pmax(primals, tangents, axis_name):
    (x,), (t,) = primals, tangents
    ans = bind(P.pmax_p, x, axis_name=axis_name)
    mask = x == ans
    n = psum(cnp.astype(mask, t.dtype), axis_name)
    return ans, psum(cnp.where(mask, t, 0.0), axis_name) / n


def _real_like(name: str) -> Callable:
    fn = getattr(cnp, name)

    def rule(primals, tangents):
        return fn(primals[0]), fn(tangents[0])

    return rule


def _no_tangent(prim: P.Primitive) -> Callable:
    def rule(primals, tangents, **params):
        return bind(prim, *primals, **params), None

    return rule


for _p in P.ALL:
    if _p.elementwise and not _p.nondiff:
        jvp_rules[_p] = from_vjp(_p)
    elif _p.nondiff:
        jvp_rules[_p] = _no_tangent(_p)

# fmt: off
jvp_rules.update({
    P.real_p:          _real_like("real"),
    P.imag_p:          _real_like("imag"),
    P.conj_p:          _real_like("conj"),
    P.abs_p:           _abs,
    P.astype_p:        linear(P.astype_p),
    P.stop_gradient_p: _no_tangent(P.stop_gradient_p),
    P.device_put_p:    linear(P.device_put_p),
    P.sum_p:           linear(P.sum_p),
    P.mean_p:          linear(P.mean_p),
    P.prod_p:          by_reduction(P.prod_p),
    P.amax_p:          by_reduction(P.amax_p),
    P.amin_p:          by_reduction(P.amin_p),
    P.cumsum_p:        linear(P.cumsum_p),
    P.cumprod_p:       _cumprod,
    P.reshape_p:       linear(P.reshape_p),
    P.transpose_p:     linear(P.transpose_p),
    P.broadcast_to_p:  linear(P.broadcast_to_p),
    P.concatenate_p:   linear(P.concatenate_p),
    P.pad_p:           linear(P.pad_p),
    P.getitem_p:       linear(P.getitem_p),
    P.index_add_p:     linear(P.index_add_p),
    P.index_set_p:     linear(P.index_set_p),
    P.matmul_p:        _matmul,
    P.einsum_p:        _einsum,
    P.inv_p:           _inv,
    P.det_p:           _det,
    P.slogdet_p:       _slogdet,
    P.solve_p:         _solve,
    P.cholesky_p:      _cholesky,
    P.eigh_p:          _eigh,
    P.svd_p:           _svd,
    P.qr_p:            _qr,
    P.eig_p:           _eig,
    P.psum_p:          linear(P.psum_p),
    P.pmax_p:          _pmax,
    P.all_gather_p:    linear(P.all_gather_p),
})
# fmt: on
