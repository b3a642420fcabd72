"""`chainrule.scipy.linalg`: SciPy's linear algebra, differentiable.

`solve_triangular`, `cholesky`, `cho_factor`, `cho_solve`, `expm`, `expm_frechet`, `sqrtm` and
`solve_sylvester`. On plain data each is SciPy's own. On traced values SciPy's routine runs
through the callback primitive (same values), once per batch (SciPy's batched forms: leading
axes), and its derivatives are written with these same functions, so every order works:

- ``X = solve_triangular(A, B)``: dX = op(A)⁻¹ (dB - op(dA) X), with only A's triangle read
  (its strict triangle with `unit_diagonal`); the cotangents are triangular solves too.
- ``cho_solve((c, lower), B)``: X = (L Lᵀ)⁻¹ B with L the triangle of c (real values).
- ``expm(A)``: the JVP is the Fréchet derivative L(A, dA) (`scipy.linalg.expm_frechet`), the
  VJP L(Aᵀ, G), since <G, L(A, E)> = <L(Aᵀ, G), E>; L's own derivative is a block of the
  Fréchet derivative at [[A, E], [0, A]].
- ``sqrtm(A)``: X dX + dX X = dA is solved by `scipy.linalg.solve_sylvester` (the VJP solves
  it at Xᵀ).
- ``cholesky``: chainrule's rule (symmetric perturbations: SciPy reads one triangle).

>>> import numpy as np, chainrule as cr
>>> from chainrule.scipy import linalg
>>> cr.grad(lambda a: linalg.expm(a)[0, 0])(np.zeros((2, 2)))
array([[1., 0.],
       [0., 0.]])
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np
import scipy.linalg as _sl

from chainrule.core import linalg as _la
from chainrule.core import ops as cnp
from chainrule.core import trace as _trace
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.ops import _lift, _traced
from chainrule.core.trace import Tracer
from chainrule.rules.callback import Callback, call

__all__ = ["solve_triangular", "cholesky", "cho_factor", "cho_solve", "expm", "expm_frechet",
           "sqrtm", "solve_sylvester"]  # fmt: skip

ArrayLike = Any


def _arr(x: Any) -> Any:
    x = _lift(x)
    return x if isinstance(x, Tracer) else np.asarray(x)


def _T(x: Any) -> Any:
    return cnp.swapaxes(x, -1, -2)


def _is_complex(x: Any) -> bool:
    return np.dtype(x.dtype).kind == "c"


def _conj(x: Any) -> Any:
    return cnp.conj(x) if _is_complex(x) else x


def _H(x: Any) -> Any:
    return _conj(_T(x))


def _mm(a: Any, b: Any) -> Any:
    return cnp.matmul(a, b)


def _square(a: Any, name: str) -> Any:
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise _sl.LinAlgError(f"{name}: expected square matrices in the last two axes, got shape "
                              f"{a.shape}")  # fmt: skip
    return a


def _shapes(fun: Callable, out_of: Callable) -> Callable:
    """A callback's `shapes`: the output shape from `out_of(*avals)`, the dtype found once per
    input dtypes by calling `fun` on small identity matrices."""
    dtypes: dict = {}

    def shapes(*avals: ShapeDtypeStruct) -> tuple:
        key = tuple(a.dtype for a in avals)
        dt = dtypes.get(key)
        if dt is None:
            with np.errstate(all="ignore"):
                probe = [np.eye(2, dtype=a.dtype) for a in avals]
                dt = dtypes[key] = np.asarray(fun(*probe)[0]).dtype
        return (ShapeDtypeStruct(out_of(*avals), dt),)

    return shapes


def _batch(*shapes_and_core: tuple) -> tuple:
    return np.broadcast_shapes(*[s[: len(s) - k] for s, k in shapes_and_core])


def _tri(x: Any, lower: bool, unit: bool = False) -> Any:
    """The triangle a routine reads (strict with a unit diagonal)."""
    return cnp.tril(x, -1 if unit else 0) if lower else cnp.triu(x, 1 if unit else 0)


# --- solve_triangular ------------------------------------------------------------------------

_ST: dict = {}


def _st_cb(trans: int, lower: bool, unit: bool, check: bool) -> Callback:
    key = (trans, lower, unit, check)
    cb = _ST.get(key)
    if cb is not None:
        return cb

    def fun(a: np.ndarray, b: np.ndarray) -> tuple:
        return (_sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit,
                                     check_finite=check),)  # fmt: skip

    def op(m: Any) -> Any:  # op(T) of the system solved
        return m if trans == 0 else (_T(m) if trans == 1 else _H(m))

    def jvp(primals: list, tangents: list) -> tuple:
        (a, b), (ta, tb) = primals, tangents
        x = call(cb, a, b)[0]
        rhs = tb
        if ta is not None:
            term = _mm(op(_tri(ta, lower, unit)), x)
            rhs = -term if rhs is None else rhs - term
        return (None if rhs is None else call(cb, a, rhs)[0],)

    def vjp(cts: tuple, outs: tuple, a: Any, b: Any) -> list:
        (g,), (x,) = cts, outs
        if trans == 0:
            ct_b = call(_st_cb(1, lower, unit, check), a, g)[0]
        elif trans == 1 or not _is_complex(a):
            ct_b = call(_st_cb(0, lower, unit, check), a, g)[0]
        else:  # op(T) = Tᴴ: (Tᴴ)⁻ᵀ g = conj(T⁻¹ conj(g))
            ct_b = _conj(call(_st_cb(0, lower, unit, check), a, _conj(g))[0])
        ct_m = -_mm(ct_b, _T(x))
        ct_t = ct_m if trans == 0 else (_T(ct_m) if trans == 1 else _conj(_T(ct_m)))
        return [_tri(ct_t, lower, unit), ct_b]

    def out_of(a: Any, b: Any) -> tuple:
        return _batch((a.shape, 2), (b.shape, 2)) + tuple(b.shape[-2:])

    name = f"solve_triangular[trans={trans},lower={lower},unit_diagonal={unit}]"
    cb = _ST[key] = Callback(name, fun, _shapes(fun, out_of), jvp, vjp, vectorized=True)
    return cb


def solve_triangular(a: ArrayLike, b: ArrayLike, trans: int | str = 0, lower: bool = False,
                     unit_diagonal: bool = False, overwrite_b: bool = False,
                     check_finite: bool = True) -> Any:  # fmt: skip
    """`scipy.linalg.solve_triangular`: x with op(a) x = b, op = identity, transpose
    (``trans=1``/``'T'``) or conjugate transpose (``2``/``'C'``), reading `a`'s lower or upper
    triangle. Differentiable in `a` (its triangle) and `b`; batched over leading axes as
    SciPy is (a 1-d `b` is a vector).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.linalg import solve_triangular
    >>> a = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> solve_triangular(a, np.array([2.0, 2.0]), lower=True)
    array([1., 1.])
    >>> cr.grad(lambda b: solve_triangular(a, b, lower=True).sum())(np.ones(2))
    array([0., 1.])
    """
    if not _traced(a, b):
        return _sl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal,
                                    overwrite_b=overwrite_b, check_finite=check_finite)  # fmt: skip
    tr = {"N": 0, "T": 1, "C": 2}.get(trans, trans)  # type: ignore[call-overload]
    if tr not in (0, 1, 2):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b = _square(_arr(a), "solve_triangular"), _arr(b)
    vec = b.ndim == 1
    b2 = cnp.expand_dims(b, -1) if vec else b
    cb = _st_cb(int(tr), bool(lower), bool(unit_diagonal), bool(check_finite))
    x = call(cb, a, b2)[0]
    return x[..., 0] if vec else x


# --- cholesky, cho_factor, cho_solve -----------------------------------------------------------

_CHOL: dict = {}


def _chol_cb(lower: bool, check: bool) -> Callback:
    key = (lower, check)
    cb = _CHOL.get(key)
    if cb is not None:
        return cb

    def fun(a: np.ndarray) -> tuple:
        return (_sl.cholesky(a, lower=lower, check_finite=check),)

    def eye_half(L: Any) -> np.ndarray:
        n = L.shape[-1]
        return 1 - 0.5 * np.eye(n, dtype=np.dtype(L.dtype).type(0).real.dtype)

    def jvp(primals: list, tangents: list) -> tuple:
        (a,), (ta,) = primals, tangents
        c = call(cb, a)[0]
        L = c if lower else _H(c)
        Linv = _la.inv(L)
        phi = cnp.tril(_mm(_mm(Linv, 0.5 * (ta + _H(ta))), _H(Linv))) * eye_half(L)
        dL = _mm(L, phi)
        return (dL if lower else _H(dL),)

    def vjp(cts: tuple, outs: tuple, a: Any) -> list:
        (g,), (c,) = cts, outs
        L, gL = (c, g) if lower else (_H(c), _H(g))
        phi = cnp.tril(_mm(_T(L), gL)) * eye_half(L)
        Linv = _la.inv(L)
        ct = _mm(_mm(_T(Linv), phi), _conj(Linv))
        return [0.5 * (ct + _H(ct))]

    cb = _CHOL[key] = Callback(f"cholesky[lower={lower}]", fun,
                               _shapes(fun, lambda a: tuple(a.shape)), jvp, vjp,
                               vectorized=True)  # fmt: skip
    return cb


def cholesky(a: ArrayLike, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Any:  # fmt: skip
    """`scipy.linalg.cholesky`: the upper factor U with a = Uᴴ U (SciPy's default), or the
    lower one with ``lower=True``. SciPy reads one triangle of `a`: the derivative is given for
    symmetric perturbations (as chainrule's `cnp.linalg.cholesky`). Batched over leading axes.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.linalg import cholesky
    >>> cholesky(np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[2., 1.],
           [0., 1.]])
    >>> cr.grad(lambda a: cholesky(a)[0, 0])(np.array([[4.0, 2.0], [2.0, 2.0]]))
    array([[0.25, 0.  ],
           [0.  , 0.  ]])
    """
    if not _traced(a):
        return _sl.cholesky(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    a = _square(_arr(a), "cholesky")
    return call(_chol_cb(bool(lower), bool(check_finite)), a)[0]


def cho_factor(a: ArrayLike, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple:  # fmt: skip
    """`scipy.linalg.cho_factor` -> ``(c, lower)``, for `cho_solve`: the factor's triangle of
    `c` is `cholesky`'s, the other triangle holds `a`'s entries (as SciPy leaves them; they
    carry a's derivative through unchanged and `cho_solve` does not read them).

    >>> import numpy as np
    >>> from chainrule.scipy.linalg import cho_factor
    >>> cho_factor(np.array([[4.0, 2.0], [2.0, 2.0]]), lower=True)[0]
    array([[2., 2.],
           [1., 1.]])
    """
    if not _traced(a):
        return _sl.cho_factor(a, lower=lower, overwrite_a=overwrite_a, check_finite=check_finite)
    a = _square(_arr(a), "cho_factor")
    f = cholesky(a, lower=lower, check_finite=check_finite)
    return f + (cnp.triu(a, 1) if lower else cnp.tril(a, -1)), lower


_CHO: dict = {}


def _cho_cb(lower: bool, check: bool) -> Callback:
    key = (lower, check)
    cb = _CHO.get(key)
    if cb is not None:
        return cb

    def fun(c: np.ndarray, b: np.ndarray) -> tuple:
        return (_sl.cho_solve((c, lower), b, check_finite=check),)

    def real_only(c: Any) -> None:
        if _is_complex(c):
            raise NotImplementedError(
                "chainrule.scipy.linalg.cho_solve: derivatives for complex factors are not "
                "implemented (the factorisation is not holomorphic)"
            )

    def jvp(primals: list, tangents: list) -> tuple:
        (c, b), (tc, tb) = primals, tangents
        x = call(cb, c, b)[0]
        rhs = tb
        if tc is not None:
            real_only(c)
            F, dF = _tri(c, lower), _tri(tc, lower)
            dA = _mm(dF, _T(F)) + _mm(F, _T(dF)) if lower else _mm(_T(dF), F) + _mm(_T(F), dF)
            term = _mm(dA, x)
            rhs = -term if rhs is None else rhs - term
        return (None if rhs is None else call(cb, c, rhs)[0],)

    def vjp(cts: tuple, outs: tuple, c: Any, b: Any) -> list:
        (g,), (x,) = cts, outs
        real_only(c)
        ct_b = call(cb, c, g)[0]  # A is symmetric: A⁻ᵀ g = A⁻¹ g
        ct_a = -_mm(ct_b, _T(x))
        sym = ct_a + _T(ct_a)
        F = _tri(c, lower)
        ct_c = cnp.tril(_mm(sym, F)) if lower else cnp.triu(_mm(F, sym))
        return [ct_c, ct_b]

    def out_of(c: Any, b: Any) -> tuple:
        return _batch((c.shape, 2), (b.shape, 2)) + tuple(b.shape[-2:])

    cb = _CHO[key] = Callback(f"cho_solve[lower={lower}]", fun, _shapes(fun, out_of), jvp,
                              vjp, vectorized=True)  # fmt: skip
    return cb


def cho_solve(c_and_lower: tuple, b: ArrayLike, overwrite_b: bool = False,
              check_finite: bool = True) -> Any:  # fmt: skip
    """`scipy.linalg.cho_solve`: x with (L Lᵀ) x = b (or Uᵀ U), from ``(c, lower)`` as
    `cho_factor` returns. Differentiable in the factor (its triangle; real values) and in `b`;
    batched over leading axes as SciPy is (a 1-d `b` is a vector).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.linalg import cho_factor, cho_solve
    >>> a = np.array([[4.0, 2.0], [2.0, 2.0]])
    >>> cho_solve(cho_factor(a), np.array([6.0, 4.0]))
    array([1., 1.])
    >>> g = cr.grad(lambda a: cho_solve(cho_factor(a), np.array([6.0, 4.0])).sum())(a)
    >>> bool(np.allclose(g + g.T, 2 * g.T))  # symmetric, as the system's matrix is
    True
    """
    c, lower = c_and_lower
    if not _traced(c, b):
        return _sl.cho_solve((c, lower), b, overwrite_b=overwrite_b, check_finite=check_finite)
    c, b = _square(_arr(c), "cho_solve"), _arr(b)
    vec = b.ndim == 1
    b2 = cnp.expand_dims(b, -1) if vec else b
    x = call(_cho_cb(bool(lower), bool(check_finite)), c, b2)[0]
    return x[..., 0] if vec else x


# every static variant made once, at import (callbacks are keyed by identity)
for _check in (True, False):
    for _lower in (True, False):
        _chol_cb(_lower, _check)
        _cho_cb(_lower, _check)
        for _trans in (0, 1, 2):
            for _unit in (False, True):
                _st_cb(_trans, _lower, _unit, _check)
del _check, _lower, _trans, _unit


# --- expm and its Fréchet derivative ------------------------------------------------------------


def _expm_np(a: np.ndarray) -> tuple:
    return (_sl.expm(a),)


def _frechet_np(a: np.ndarray, e: np.ndarray) -> tuple:
    return (_sl.expm_frechet(a, e, compute_expm=False),)


def _block(a: Any, b: Any, c: Any, d: Any) -> Any:
    """[[a, b], [c, d]] over the last two axes."""
    return cnp.concatenate([cnp.concatenate([a, b], axis=-1), cnp.concatenate([c, d], axis=-1)],
                           axis=-2)  # fmt: skip


def _frechet_jvp(primals: list, tangents: list) -> tuple:
    (a, e), (ta, te) = primals, tangents
    if ta is None:
        return (call(_FRECHET, a, te)[0],)
    # d L(A, E) = the top-right block of L([[A, E], [0, A]], [[dA, dE], [0, dA]])
    a, e, ta = cnp.broadcast_arrays(a, e, ta)
    te = cnp.zeros_like(ta) if te is None else cnp.broadcast_to(te, ta.shape)
    z = cnp.zeros_like(a)
    n = a.shape[-1]
    big = call(_FRECHET, _block(a, e, z, a), _block(ta, te, cnp.zeros_like(ta), ta))[0]
    return (big[..., :n, n:],)


def _frechet_vjp(cts: tuple, outs: tuple, a: Any, e: Any) -> list:
    (g,) = cts
    ct_e = call(_FRECHET, _T(a), g)[0]
    # <G, dA-part> = <[[0, G], [0, 0]], L(M, diag(dA, dA))> = <L(Mᵀ, [[0, G], [0, 0]]), ·>
    a, e, g = cnp.broadcast_arrays(a, e, g)
    n, z = a.shape[-1], cnp.zeros_like(g)
    p = call(_FRECHET, _T(_block(a, e, cnp.zeros_like(a), a)), _block(z, g, z, z))[0]
    return [p[..., :n, :n] + p[..., n:, n:], ct_e]


def _expm_jvp(primals: list, tangents: list) -> tuple:
    (a,), (ta,) = primals, tangents
    out = call(_EXPM, a)[0]
    return (cnp.astype(call(_FRECHET, a, ta)[0], out.dtype),)


def _expm_vjp(cts: tuple, outs: tuple, a: Any) -> list:
    return [call(_FRECHET, _T(a), cts[0])[0]]


_FRECHET = Callback("expm_frechet", _frechet_np,
                    _shapes(_frechet_np, lambda a, e: _batch((a.shape, 2), (e.shape, 2))
                            + tuple(a.shape[-2:])),
                    _frechet_jvp, _frechet_vjp, vectorized=True)  # fmt: skip
_EXPM = Callback("expm", _expm_np, _shapes(_expm_np, lambda a: tuple(a.shape)), _expm_jvp,
                 _expm_vjp, vectorized=True)  # fmt: skip


def expm(A: ArrayLike) -> Any:
    """`scipy.linalg.expm`, the matrix exponential (batched over leading axes). Its JVP is the
    Fréchet derivative (`expm_frechet`), its VJP the Fréchet derivative at Aᵀ.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.linalg import expm
    >>> a = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> expm(a)
    array([[1., 1.],
           [0., 1.]])
    >>> cr.jvp(expm, (a,), (np.eye(2),))[1]
    array([[1., 1.],
           [0., 1.]])
    """
    if not _traced(A):
        return _sl.expm(A)
    a = _arr(A)
    if a.ndim < 2 and a.size == 1:  # SciPy's scalar form: [[exp(a.item())]]
        dt = np.complex128 if _is_complex(a) else np.float64
        return cnp.reshape(cnp.exp(cnp.astype(a, dt)), (1, 1))
    return call(_EXPM, _square(a, "expm"))[0]


def expm_frechet(A: ArrayLike, E: ArrayLike, method: str | None = None,
                 compute_expm: bool = True, check_finite: bool = True) -> Any:  # fmt: skip
    """`scipy.linalg.expm_frechet`: the Fréchet derivative L(A, E) of expm at A along E
    (with ``compute_expm``, the pair ``(expm(A), L(A, E))``). Differentiable in A and E.

    >>> import numpy as np
    >>> from chainrule.scipy.linalg import expm_frechet
    >>> expm_frechet(np.zeros((2, 2)), np.eye(2), compute_expm=False)
    array([[1., 0.],
           [0., 1.]])
    """
    if not _traced(A, E):
        return _sl.expm_frechet(A, E, method=method, compute_expm=compute_expm,
                                check_finite=check_finite)  # fmt: skip
    a, e = _square(_arr(A), "expm_frechet"), _square(_arr(E), "expm_frechet")
    L = call(_FRECHET, a, e)[0]
    return (expm(a), L) if compute_expm else L


# --- sqrtm and the Sylvester equation -------------------------------------------------------------


def _sylvester_np(a: np.ndarray, b: np.ndarray, q: np.ndarray) -> tuple:
    return (_sl.solve_sylvester(a, b, q),)


def _sylvester_jvp(primals: list, tangents: list) -> tuple:
    (a, b, q), (ta, tb, tq) = primals, tangents
    y = call(_SYLVESTER, a, b, q)[0]
    rhs = tq
    for term in (None if ta is None else _mm(ta, y), None if tb is None else _mm(y, tb)):
        if term is not None:
            rhs = -term if rhs is None else rhs - term
    return (None if rhs is None else call(_SYLVESTER, a, b, rhs)[0],)


def _sylvester_vjp(cts: tuple, outs: tuple, a: Any, b: Any, q: Any) -> list:
    (g,), (y,) = cts, outs
    ct_q = call(_SYLVESTER, _T(a), _T(b), g)[0]
    return [-_mm(ct_q, _T(y)), -_mm(_T(y), ct_q), ct_q]


_SYLVESTER = Callback("solve_sylvester", _sylvester_np,
                      _shapes(_sylvester_np, lambda a, b, q: _batch(
                          (a.shape, 2), (b.shape, 2), (q.shape, 2)) + tuple(q.shape[-2:])),
                      _sylvester_jvp, _sylvester_vjp, vectorized=True)  # fmt: skip


def solve_sylvester(a: ArrayLike, b: ArrayLike, q: ArrayLike) -> Any:
    """`scipy.linalg.solve_sylvester`: X with a X + X b = q, differentiable in a, b and q
    (dX solves the same equation with right-hand side dq - da X - X db).

    >>> import numpy as np
    >>> from chainrule.scipy.linalg import solve_sylvester
    >>> solve_sylvester(np.eye(2), np.eye(2), 2 * np.eye(2))
    array([[1., 0.],
           [0., 1.]])
    """
    if not _traced(a, b, q):
        return _sl.solve_sylvester(a, b, q)
    return call(_SYLVESTER, _arr(a), _arr(b), _arr(q))[0]


def _sqrtm_np(a: np.ndarray) -> tuple:
    out = _sl.sqrtm(a)
    if np.iscomplexobj(out) and not np.iscomplexobj(a):
        raise ValueError(
            "chainrule.scipy.linalg.sqrtm: this real matrix has no real square root (SciPy "
            "returns a complex one); on traced values pass a complex matrix to get it"
        )
    return (out,)


def _sqrtm_jvp(primals: list, tangents: list) -> tuple:
    (a,), (ta,) = primals, tangents
    x = call(_SQRTM, a)[0]
    return (call(_SYLVESTER, x, x, ta)[0],)


def _sqrtm_vjp(cts: tuple, outs: tuple, a: Any) -> list:
    (g,), (x,) = cts, outs
    xt = _T(x)
    return [call(_SYLVESTER, xt, xt, g)[0]]


_SQRTM = Callback("sqrtm", _sqrtm_np, _shapes(_sqrtm_np, lambda a: tuple(a.shape)),
                  _sqrtm_jvp, _sqrtm_vjp, vectorized=True)  # fmt: skip


def sqrtm(A: ArrayLike) -> Any:
    """`scipy.linalg.sqrtm`, the principal matrix square root X (X @ X = A), batched over
    leading axes. dX solves the Sylvester equation X dX + dX X = dA. On traced values a real
    matrix must have a real square root (else pass a complex matrix).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.linalg import sqrtm
    >>> sqrtm(np.array([[4.0, 0.0], [0.0, 9.0]]))
    array([[2., 0.],
           [0., 3.]])
    >>> cr.grad(lambda a: sqrtm(a)[1, 1])(np.array([[4.0, 0.0], [0.0, 9.0]]))
    array([[0.        , 0.        ],
           [0.        , 0.16666667]])
    """
    if not _traced(A):
        return _sl.sqrtm(A)
    a = _square(_arr(A), "sqrtm")
    return call(_SQRTM, a)[0]

# Called on another namespace's arrays, the compositions compute with its primitives and the
# SciPy kernels say that they run on NumPy arrays only (`chainrule.core.trace.boxing`).
for _name in __all__:
    globals()[_name] = _trace.boxing(globals()[_name], f"chainrule.scipy.linalg.{_name}")
