"""`chainrule.scipy.special`: SciPy's special functions, differentiable.

On plain NumPy data every function is SciPy's own (same values, same dtypes, SciPy's speed).
On traced values (inside `cr.grad`, `cr.jvp`, `cr.vmap`, ..., or on Tensors) the ufuncs run
SciPy's kernel through the callback primitive (`chainrule.rules.callback`), carrying their
derivatives, which are written with other special functions (d gammaln = digamma,
d digamma = polygamma(1, .), ...), so derivatives of every order work. `logsumexp`, `softmax`
and `log_softmax` are compositions of chainrule's operations that follow SciPy's algorithm
step by step (equal values, stable gradients).

Importing this module also routes SciPy's own ufuncs called on traced values here:
``scipy.special.erf(x)`` inside `cr.grad` is `chainrule.scipy.special.erf(x)`.

A derivative SciPy has no formula for (``gammainc`` in its shape parameter `a`, ``betainc`` in
`a` and `b`, ``stdtr`` in `df`, ``polygamma`` in its order `n`) raises `NotImplementedError`
naming the parameter; it is never a silent zero.

>>> import numpy as np, chainrule as cr, chainrule.scipy.special as csp
>>> float(cr.grad(csp.gammaln)(3.0))  # digamma(3)
0.9227843350984671
>>> bool(csp.erf(0.5) == __import__("scipy.special").special.erf(0.5))
True
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable

import numpy as np
import scipy.special as _sc
from scipy.special import _ufuncs as _scu

from chainrule.core import ops as cnp
from chainrule.core import trace as _trace
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.ops import _lift, _traced
from chainrule.rules.callback import Callback, call, elementwise
from chainrule.transforms.reverse import stop_gradient

__all__ = [
    "gammaln", "digamma", "psi", "polygamma", "gamma", "beta", "betaln", "poch", "erf", "erfc",
    "erfinv", "erfcinv", "erfcx", "expit", "logit", "log_expit", "logsumexp", "softmax",
    "log_softmax", "xlogy", "xlog1py", "i0", "i1", "i0e", "i1e", "ndtr", "ndtri", "log_ndtr",
    "gammainc", "gammaincc", "betainc", "stdtr", "pdtr",
]  # fmt: skip

ArrayLike = Any

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)
_LOG_SQRT_2PI = math.log(_SQRT_2PI)


# --- the machinery ---------------------------------------------------------------------------


def _apply(cb: Callback, ufunc: Callable, args: tuple, kwargs: dict) -> Any:
    """SciPy's `ufunc` on plain data; the callback `cb` on traced values."""
    if not _traced(*args) and not _traced(*kwargs.values()):
        return ufunc(*args, **kwargs)
    if kwargs:
        raise NotImplementedError(
            f"chainrule.scipy.special.{cb.name}: the keyword argument(s) {sorted(kwargs)} are "
            "not supported on traced values"
        )
    return call(cb, *[_lift(a) for a in args])[0]


_GUARDS: dict = {}


def _no_derivative(fname: str, param: str) -> Callback:
    """A callback of one operand whose value is 0 and whose derivative raises
    `NotImplementedError`: subtracted from a result, it makes differentiating with respect to
    that operand an error instead of a silent zero (one callback per (function, parameter))."""
    key = (fname, param)
    cb = _GUARDS.get(key)
    if cb is not None:
        return cb

    def fail(*_: Any) -> Any:
        raise NotImplementedError(
            f"{fname}: the derivative with respect to the parameter {param!r} is not "
            f"implemented (SciPy has no formula for it); differentiate with respect to the "
            f"other arguments only, or wrap {param!r} in cr.stop_gradient"
        )

    def zero(a: np.ndarray) -> tuple:
        a = np.asarray(a)
        return (np.zeros(a.shape, a.dtype),)

    def shapes(aval: ShapeDtypeStruct) -> tuple:
        return (ShapeDtypeStruct(aval.shape, aval.dtype, True),)

    cb = _GUARDS[key] = Callback(f"no_derivative[{fname}:{param}]", zero, shapes,
                                 jvp=fail, vjp=fail, vectorized=True)  # fmt: skip
    return cb


def _guard(out: Any, fname: str, **params: Any) -> Any:
    """`out`, made to raise when differentiated with respect to one of `params` (only those
    that are traced and floating: ``out - 0`` keeps every value, -0.0 included)."""
    for name, p in params.items():
        if _traced(p):
            p = _lift(p)
            if np.dtype(p.dtype).kind == "f":  # integers and booleans carry no derivative
                out = out - call(_no_derivative(fname, name), p)[0]
    return out


for _key in [("gammainc", "a"), ("gammaincc", "a"), ("betainc", "a"), ("betainc", "b"),
             ("stdtr", "df"), ("polygamma", "n")]:  # made once, at import
    _no_derivative(f"chainrule.scipy.special.{_key[0]}", _key[1])
del _key


def _safe_div(num: Any, den: Any, zero: Any) -> Any:
    """num / den, 0 where `zero` (with no NaN in the derivative there either)."""
    return cnp.where(zero, 0.0, num / cnp.where(zero, 1.0, den))


# --- the callbacks (one per function, made once) ---------------------------------------------

_GAMMALN = elementwise("gammaln", _sc.gammaln, [lambda ans, x: digamma(x)])
_DIGAMMA = elementwise("digamma", _sc.psi, [lambda ans, x: polygamma(1, x)])
_POLYGAMMA = elementwise("polygamma", _sc.polygamma,
                         [None, lambda ans, n, x: polygamma(n + 1, x)])  # fmt: skip
_GAMMA = elementwise("gamma", _sc.gamma, [lambda ans, x: ans * digamma(x)])
_BETA = elementwise("beta", _sc.beta, [
    lambda ans, a, b: ans * (digamma(a) - digamma(a + b)),
    lambda ans, a, b: ans * (digamma(b) - digamma(a + b)),
])  # fmt: skip
_BETALN = elementwise("betaln", _sc.betaln, [
    lambda ans, a, b: digamma(a) - digamma(a + b),
    lambda ans, a, b: digamma(b) - digamma(a + b),
])  # fmt: skip
_POCH = elementwise("poch", _sc.poch, [
    lambda ans, z, m: ans * (digamma(z + m) - digamma(z)),
    lambda ans, z, m: ans * digamma(z + m),
])  # fmt: skip
_ERF = elementwise("erf", _sc.erf, [lambda ans, x: (2 / _SQRT_PI) * cnp.exp(-x * x)])
_ERFC = elementwise("erfc", _sc.erfc, [lambda ans, x: (-2 / _SQRT_PI) * cnp.exp(-x * x)])
_ERFINV = elementwise("erfinv", _sc.erfinv,
                      [lambda ans, y: (_SQRT_PI / 2) * cnp.exp(ans * ans)])  # fmt: skip
_ERFCINV = elementwise("erfcinv", _sc.erfcinv,
                       [lambda ans, y: (-_SQRT_PI / 2) * cnp.exp(ans * ans)])  # fmt: skip
_ERFCX = elementwise("erfcx", _sc.erfcx, [lambda ans, x: 2 * x * ans - 2 / _SQRT_PI])
_EXPIT = elementwise("expit", _sc.expit, [lambda ans, x: ans * (1 - ans)])
_LOGIT = elementwise("logit", _sc.logit, [lambda ans, p: 1 / (p * (1 - p))])
_LOG_EXPIT = elementwise("log_expit", _sc.log_expit, [lambda ans, x: expit(-x)])


def _quiet(fn: Callable, *args: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return fn(*args)


_XLOGY = elementwise("xlogy", _sc.xlogy, [
    lambda ans, x, y: _quiet(cnp.log, y),
    lambda ans, x, y: _safe_div(x, y, cnp.logical_and(x == 0, y == 0)),
])  # fmt: skip
_XLOG1PY = elementwise("xlog1py", _sc.xlog1py, [
    lambda ans, x, y: _quiet(cnp.log1p, y),
    lambda ans, x, y: _safe_div(x, 1 + y, cnp.logical_and(x == 0, y == -1)),
])  # fmt: skip
_I0 = elementwise("i0", _sc.i0, [lambda ans, x: i1(x)])
# i1' = i0 - i1/x (1/2 at 0); i0e' = i1e - sign(x) i0e; i1e' = i0e - i1e (sign(x) + 1/x)
_I1 = elementwise("i1", _sc.i1, [
    lambda ans, x: cnp.where(x == 0, 0.5, i0(x) - _safe_div(ans, x, x == 0))])  # fmt: skip
_I0E = elementwise("i0e", _sc.i0e, [lambda ans, x: i1e(x) - cnp.sign(x) * ans])
_I1E = elementwise("i1e", _sc.i1e, [
    lambda ans, x: cnp.where(x == 0, 0.5, i0e(x) - cnp.sign(x) * ans - _safe_div(ans, x, x == 0))
])  # fmt: skip
_NDTR = elementwise("ndtr", _sc.ndtr, [lambda ans, x: cnp.exp(-x * x / 2) / _SQRT_2PI])
_NDTRI = elementwise("ndtri", _sc.ndtri, [lambda ans, p: _SQRT_2PI * cnp.exp(ans * ans / 2)])
_LOG_NDTR = elementwise("log_ndtr", _sc.log_ndtr,
                        [lambda ans, x: cnp.exp(-x * x / 2 - _LOG_SQRT_2PI - ans)])  # fmt: skip


def _gamma_density(a: Any, x: Any) -> Any:
    """x^(a-1) e^(-x) / Γ(a): d/dx of gammainc(a, x)."""
    return cnp.exp(xlogy(a - 1, x) - x - gammaln(a))


_GAMMAINC = elementwise("gammainc", _sc.gammainc, [None, lambda ans, a, x: _gamma_density(a, x)])
_GAMMAINCC = elementwise("gammaincc", _sc.gammaincc,
                         [None, lambda ans, a, x: -_gamma_density(a, x)])  # fmt: skip
_BETAINC = elementwise("betainc", _sc.betainc, [None, None, lambda ans, a, b, x: cnp.exp(
    xlogy(a - 1, x) + xlog1py(b - 1, -x) - betaln(a, b))])  # fmt: skip


def _t_density(df: Any, t: Any) -> Any:
    """Student's t density (the normal one where df is infinite): d/dt of stdtr(df, t)."""
    inf = cnp.isinf(df)
    d = cnp.where(inf, 1.0, df)
    log_t = (gammaln((d + 1) / 2) - gammaln(d / 2) - 0.5 * cnp.log(d * np.pi)
             - (d + 1) / 2 * cnp.log1p(t * t / d))  # fmt: skip
    return cnp.where(inf, cnp.exp(-t * t / 2) / _SQRT_2PI, cnp.exp(log_t))


_STDTR = elementwise("stdtr", _sc.stdtr, [None, lambda ans, df, t: _t_density(df, t)])


def _pdtr_dm(ans: Any, k: Any, m: Any) -> Any:
    k = cnp.floor(k)
    return -cnp.exp(xlogy(k, m) - m - gammaln(k + 1))


_PDTR = elementwise("pdtr", _sc.pdtr, [None, _pdtr_dm])


def _beta_pdf_dx(ans: Any, x: Any, a: Any, b: Any) -> Any:
    return ans * (_safe_div(a - 1, x, a == 1) - _safe_div(b - 1, 1 - x, b == 1))


def _beta_pdf_da(ans: Any, x: Any, a: Any, b: Any) -> Any:
    return cnp.where(ans == 0, 0.0, ans * (cnp.log(x) - digamma(a) + digamma(a + b)))


def _beta_pdf_db(ans: Any, x: Any, a: Any, b: Any) -> Any:
    return cnp.where(ans == 0, 0.0, ans * (cnp.log1p(-x) - digamma(b) + digamma(a + b)))


def _beta_pdf_np(x: Any, a: Any, b: Any) -> Any:
    with np.errstate(over="ignore"):
        return _scu._beta_pdf(x, a, b)


#: SciPy's beta density kernel (what scipy.stats.beta.pdf uses), for chainrule.scipy.stats
_BETA_PDF = elementwise("_beta_pdf", _beta_pdf_np, [_beta_pdf_dx, _beta_pdf_da, _beta_pdf_db])


# --- the public functions --------------------------------------------------------------------


def gammaln(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.gammaln`, log|Γ(x)|; its derivative is `digamma`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.gammaln)(1.0))  # -Euler's gamma
    -0.5772156649015329
    """
    return _apply(_GAMMALN, _sc.gammaln, (x,), kwargs)


def digamma(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.digamma` (= `psi`); its derivative is ``polygamma(1, x)``.

    >>> import numpy as np, chainrule as cr, chainrule.scipy.special as csp
    >>> bool(np.isclose(cr.grad(csp.digamma)(1.0), np.pi ** 2 / 6))
    True
    """
    return _apply(_DIGAMMA, _sc.psi, (x,), kwargs)


psi = digamma


def polygamma(n: ArrayLike, x: ArrayLike) -> Any:
    """`scipy.special.polygamma`; differentiable in `x` (d/dx polygamma(n, x) =
    polygamma(n + 1, x)). The order `n` is an integer: differentiating with respect to it
    raises `NotImplementedError`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> bool(cr.grad(lambda x: csp.polygamma(1, x))(2.0) == csp.polygamma(2, 2.0))
    True
    """
    if not _traced(n, x):
        return _sc.polygamma(n, x)
    out = call(_POLYGAMMA, _lift(n), _lift(x))[0]
    return _guard(out, "chainrule.scipy.special.polygamma", n=n)


def gamma(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.gamma`; d/dx Γ(x) = Γ(x) ψ(x).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.gamma)(2.0)), 12)  # 1 - Euler's gamma
    0.422784335098
    """
    return _apply(_GAMMA, _sc.gamma, (x,), kwargs)


def beta(a: ArrayLike, b: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.beta`, B(a, b) = Γ(a)Γ(b)/Γ(a+b), differentiable in `a` and `b`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(csp.beta(2.0, 3.0))
    0.08333333333333333
    """
    return _apply(_BETA, _sc.beta, (a, b), kwargs)


def betaln(a: ArrayLike, b: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.betaln`, log|B(a, b)|, differentiable in `a` and `b`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> [round(float(g), 6) for g in cr.grad(csp.betaln, argnums=(0, 1))(1.0, 1.0)]
    [-1.0, -1.0]
    """
    return _apply(_BETALN, _sc.betaln, (a, b), kwargs)


def poch(z: ArrayLike, m: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.poch`, the Pochhammer symbol Γ(z+m)/Γ(z), differentiable in both.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(csp.poch(2.0, 3.0)), float(cr.grad(csp.poch)(1.0, 1.0))
    (24.0, 1.0)
    """
    return _apply(_POCH, _sc.poch, (z, m), kwargs)


def erf(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.erf`; d/dx erf(x) = 2/√π exp(-x²).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.erf)(0.0))
    1.1283791670955126
    """
    return _apply(_ERF, _sc.erf, (x,), kwargs)


def erfc(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.erfc` = 1 - erf(x), computed without cancellation.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.erfc)(0.0))
    -1.1283791670955126
    """
    return _apply(_ERFC, _sc.erfc, (x,), kwargs)


def erfinv(y: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.erfinv`; d/dy erfinv(y) = √π/2 exp(erfinv(y)²).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.erfinv)(0.0))
    0.886226925452758
    """
    return _apply(_ERFINV, _sc.erfinv, (y,), kwargs)


def erfcinv(y: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.erfcinv`; d/dy erfcinv(y) = -√π/2 exp(erfcinv(y)²).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.erfcinv)(1.0))
    -0.886226925452758
    """
    return _apply(_ERFCINV, _sc.erfcinv, (y,), kwargs)


def erfcx(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.erfcx`, exp(x²) erfc(x); d/dx = 2x erfcx(x) - 2/√π.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.erfcx)(0.0))
    -1.1283791670955126
    """
    return _apply(_ERFCX, _sc.erfcx, (x,), kwargs)


def expit(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.expit`, the logistic sigmoid; d/dx = expit(x)(1 - expit(x)).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.expit)(0.0))
    0.25
    """
    return _apply(_EXPIT, _sc.expit, (x,), kwargs)


def logit(p: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.logit`, log(p/(1-p)); d/dp = 1/(p(1-p)).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.logit)(0.5))
    4.0
    """
    return _apply(_LOGIT, _sc.logit, (p,), kwargs)


def log_expit(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.log_expit`, log of the logistic sigmoid; d/dx = expit(-x).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.log_expit)(0.0))
    0.5
    """
    return _apply(_LOG_EXPIT, _sc.log_expit, (x,), kwargs)


def xlogy(x: ArrayLike, y: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.xlogy`, x log(y), 0 where x = 0. As in JAX, the derivatives are
    log(y) and x/y, so at x = 0 the derivative in y is 0 (even at y = 0).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(csp.xlogy(0.0, 0.0)), float(cr.grad(csp.xlogy, argnums=1)(0.0, 0.0))
    (0.0, 0.0)
    """
    return _apply(_XLOGY, _sc.xlogy, (x, y), kwargs)


def xlog1py(x: ArrayLike, y: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.xlog1py`, x log1p(y), 0 where x = 0; derivatives log1p(y) and
    x/(1+y), the latter 0 at x = 0 (even at y = -1).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.xlog1py, argnums=1)(0.0, -1.0))
    0.0
    """
    return _apply(_XLOG1PY, _sc.xlog1py, (x, y), kwargs)


def i0(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.i0`, the modified Bessel function of order 0; its derivative is `i1`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> bool(cr.grad(csp.i0)(1.0) == csp.i1(1.0))
    True
    """
    return _apply(_I0, _sc.i0, (x,), kwargs)


def i1(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.i1`; d/dx i1(x) = i0(x) - i1(x)/x (1/2 at 0).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.i1)(0.0))
    0.5
    """
    return _apply(_I1, _sc.i1, (x,), kwargs)


def i0e(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.i0e`, exp(-|x|) i0(x); d/dx = i1e(x) - sign(x) i0e(x).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.i0e)(0.0))
    0.0
    """
    return _apply(_I0E, _sc.i0e, (x,), kwargs)


def i1e(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.i1e`, exp(-|x|) i1(x); d/dx = i0e(x) - i1e(x)(sign(x) + 1/x).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.i1e)(0.0))
    0.5
    """
    return _apply(_I1E, _sc.i1e, (x,), kwargs)


def ndtr(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.ndtr`, the standard normal CDF; its derivative is the normal density.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.ndtr)(0.0))
    0.3989422804014327
    """
    return _apply(_NDTR, _sc.ndtr, (x,), kwargs)


def ndtri(p: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.ndtri`, the inverse of `ndtr`; d/dp = √(2π) exp(ndtri(p)²/2).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.ndtri)(0.5))
    2.5066282746310002
    """
    return _apply(_NDTRI, _sc.ndtri, (p,), kwargs)


def log_ndtr(x: ArrayLike, /, **kwargs: Any) -> Any:
    """`scipy.special.log_ndtr`; d/dx = φ(x)/Φ(x), computed as exp(log φ(x) - log_ndtr(x))
    (accurate far in both tails).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.log_ndtr)(-30.0)), 6)
    30.03326
    """
    return _apply(_LOG_NDTR, _sc.log_ndtr, (x,), kwargs)


def gammainc(a: ArrayLike, x: ArrayLike) -> Any:
    """`scipy.special.gammainc`, the regularized lower incomplete gamma function P(a, x).
    Differentiable in `x` (x^(a-1) e^(-x)/Γ(a)); its derivative in `a` raises
    `NotImplementedError` (SciPy has no formula for it).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.gammainc, argnums=1)(1.0, 1.0)), 12)  # exp(-1)
    0.367879441171
    """
    return _inc(_GAMMAINC, _sc.gammainc, "gammainc", (a, x), ("a",))


def gammaincc(a: ArrayLike, x: ArrayLike) -> Any:
    """`scipy.special.gammaincc` = 1 - gammainc(a, x), differentiable in `x`; its derivative
    in `a` raises `NotImplementedError`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.gammaincc, argnums=1)(1.0, 1.0)), 12)
    -0.367879441171
    """
    return _inc(_GAMMAINCC, _sc.gammaincc, "gammaincc", (a, x), ("a",))


def betainc(a: ArrayLike, b: ArrayLike, x: ArrayLike) -> Any:
    """`scipy.special.betainc`, the regularized incomplete beta function I_x(a, b).
    Differentiable in `x`; its derivatives in `a` and `b` raise `NotImplementedError`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> float(cr.grad(csp.betainc, argnums=2)(1.0, 1.0, 0.3))
    1.0
    """
    return _inc(_BETAINC, _sc.betainc, "betainc", (a, b, x), ("a", "b"))


def stdtr(df: ArrayLike, t: ArrayLike) -> Any:
    """`scipy.special.stdtr`, Student's t CDF. Differentiable in `t` (the t density); its
    derivative in `df` raises `NotImplementedError`.

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.stdtr, argnums=1)(1.0, 0.0)), 12)  # 1/π
    0.318309886184
    """
    return _inc(_STDTR, _sc.stdtr, "stdtr", (df, t), ("df",))


def pdtr(k: ArrayLike, m: ArrayLike) -> Any:
    """`scipy.special.pdtr`, the Poisson CDF sum_{j<=k} e^-m m^j/j!. Differentiable in `m`
    (minus the Poisson probability of floor(k)); piecewise constant in `k` (derivative 0).

    >>> import chainrule as cr, chainrule.scipy.special as csp
    >>> round(float(cr.grad(csp.pdtr, argnums=1)(0.0, 1.0)), 12)  # -exp(-1)
    -0.367879441171
    """
    if not _traced(k, m):
        return _sc.pdtr(k, m)
    return call(_PDTR, _lift(k), _lift(m))[0]


def _inc(cb: Callback, ufunc: Callable, name: str, args: tuple, shape_names: tuple) -> Any:
    """A function differentiable in its last operand only; its leading shape parameters
    (`shape_names`) raise when differentiated."""
    if not _traced(*args):
        return ufunc(*args)
    out = call(cb, *[_lift(a) for a in args])[0]
    return _guard(out, f"chainrule.scipy.special.{name}", **dict(zip(shape_names, args)))


# --- compositions ------------------------------------------------------------------------------


def _norm_axis(axis: Any, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(sorted(int(a) % ndim for a in axes)) if ndim else ()


def _floating(x: Any) -> Any:
    x = _lift(x)
    if isinstance(x, _trace.Tracer):
        if np.dtype(x.dtype).kind not in "fc":
            x = cnp.astype(x, np.float64)
        return x
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float64)


def logsumexp(a: ArrayLike, axis: int | tuple | None = None, b: ArrayLike | None = None,
              keepdims: bool = False, return_sign: bool = False) -> Any:  # fmt: skip
    """`scipy.special.logsumexp`: log(sum(b * exp(a))) along `axis`, stably.

    On traced values it follows SciPy's algorithm step by step (the largest term is taken out
    of the sum and added back through log1p), so the values are SciPy's; the largest term is
    held constant in the derivative, which is the softmax ``b * exp(a - logsumexp)``.
    Elements with b == 0 are left out as in SciPy (their derivative in `a` is 0; in `b` it is
    exp(a - logsumexp) as the formula says). With `return_sign` the sign carries no gradient.
    Complex `a` is supported on plain data only.

    >>> import numpy as np, chainrule as cr, chainrule.scipy.special as csp
    >>> cr.grad(csp.logsumexp)(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    if not _traced(a, b):
        return _sc.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
    a = _floating(a)
    if b is not None:
        b = _floating(b)
        dt = np.result_type(a.dtype, b.dtype)
        a, b = cnp.astype(a, dt), cnp.astype(b, dt)
        a, b = cnp.broadcast_arrays(a, b)
    if np.dtype(a.dtype).kind == "c":
        raise NotImplementedError(
            "chainrule.scipy.special.logsumexp: complex inputs are supported on plain data only")
    if a.ndim == 0:
        a = cnp.reshape(a, (1,))
        b = None if b is None else cnp.reshape(b, (1,))
    axes = _norm_axis(axis, a.ndim)
    if a.size == 0:
        shape = tuple(1 if i in axes else d for i, d in enumerate(a.shape))
        out = np.full(shape, -np.inf, dtype=a.dtype)
        sgn = np.sign(out)
    else:
        with np.errstate(all="ignore"):  # as SciPy: inf - inf, log(0) are expected here
            out, sgn = _logsumexp_traced(a, b, axes, return_sign)
    if not keepdims:
        out = cnp.squeeze(out, axis=axes)
        sgn = cnp.squeeze(sgn, axis=axes)
    return (out, sgn) if return_sign else out


def _logsumexp_traced(a: Any, b: Any, axes: tuple, return_sign: bool) -> tuple:
    dt = a.dtype
    a0, b0 = stop_gradient(a), None if b is None else stop_gradient(b)
    # SciPy's fallback where its result is not finite: log(sum(b exp(a))), no derivative
    sum_ = cnp.sum(cnp.exp(a0) if b0 is None else b0 * cnp.exp(a0), axis=axes, keepdims=True)
    sgn_inf = cnp.sign(sum_) if return_sign else None
    out_inf = cnp.log(cnp.abs(sum_) if return_sign else sum_)
    zero_b = None if b is None else b == 0
    a_eff = a0 if b is None else cnp.where(zero_b, -np.inf, a0)
    a_max = cnp.max(a_eff, axis=axes, keepdims=True)  # constant: the shift
    mask = a_eff == a_max  # SciPy's largest elements (all of them, when tied)
    on, off = cnp.astype(mask, dt), cnp.astype(cnp.logical_not(mask), dt)
    d = a - a_max
    if b is None:
        term = cnp.exp(d)
    else:  # b == 0: SciPy's term is b * exp(-inf); keep exp finite there for d/db
        huge = cnp.logical_and(zero_b, cnp.logical_not(d <= 700))
        term = b * cnp.exp(cnp.where(huge, -np.inf, d))
    m = cnp.sum(term * on, axis=axes, keepdims=True)  # the largest terms: b * exp(0)
    s = cnp.sum(term * off, axis=axes, keepdims=True)
    s = cnp.where(s == 0, s, s / m)
    sgn = cnp.sign(s + 1) * cnp.sign(m)
    s = cnp.where(s < -1, -s - 2, s)
    m = cnp.abs(m)
    out = cnp.log1p(s) + cnp.log(m) + a_max
    if not return_sign:
        out = cnp.where(sgn < 0, np.nan, out)
    finite = cnp.isfinite(out)
    out = cnp.where(finite, out, out_inf)
    if return_sign:
        sgn = cnp.where(finite, sgn, sgn_inf)
    return out, stop_gradient(sgn)


def softmax(x: ArrayLike, axis: int | tuple | None = None) -> Any:
    """`scipy.special.softmax`: exp(x - max) / sum(exp(x - max)) along `axis` (all axes by
    default), SciPy's formula; the shift is held constant in the derivative (softmax does not
    depend on it).

    >>> import numpy as np, chainrule as cr, chainrule.scipy.special as csp
    >>> cr.jacobian(csp.softmax)(np.zeros(2))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    if not _traced(x):
        return _sc.softmax(x, axis=axis)
    x = _floating(x)
    x_max = stop_gradient(cnp.max(x, axis=axis, keepdims=True))
    e = cnp.exp(x - x_max)
    return e / cnp.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, axis: int | tuple | None = None) -> Any:
    """`scipy.special.log_softmax`: x - max - log(sum(exp(x - max))) along `axis`, SciPy's
    formula (a non-finite max is replaced by 0); the shift is constant in the derivative.

    >>> import numpy as np, chainrule as cr, chainrule.scipy.special as csp
    >>> csp.log_softmax(np.array([1000.0, 1.0]))
    array([   0., -999.])
    """
    if not _traced(x):
        return _sc.log_softmax(x, axis=axis)
    x = _floating(x)
    x_max = stop_gradient(cnp.max(x, axis=axis, keepdims=True))
    x_max = cnp.where(cnp.isfinite(x_max), x_max, 0.0)
    tmp = x - x_max
    with np.errstate(divide="ignore"):
        out = cnp.log(cnp.sum(cnp.exp(tmp), axis=axis, keepdims=True))
    return tmp - out


# --- SciPy's ufuncs called on traced values come here -------------------------------------------

_UFUNCS = {
    "gammaln": gammaln, "psi": digamma, "gamma": gamma, "beta": beta, "betaln": betaln,
    "poch": poch, "erf": erf, "erfc": erfc, "erfinv": erfinv, "erfcinv": erfcinv,
    "erfcx": erfcx, "expit": expit, "logit": logit, "log_expit": log_expit, "xlogy": xlogy,
    "xlog1py": xlog1py, "i0": i0, "i1": i1, "i0e": i0e, "i1e": i1e, "ndtr": ndtr,
    "ndtri": ndtri, "log_ndtr": log_ndtr, "gammainc": gammainc, "gammaincc": gammaincc,
    "betainc": betainc, "stdtr": stdtr, "pdtr": pdtr,
}  # fmt: skip


def _register() -> None:
    for name, fn in _UFUNCS.items():
        uf = getattr(_sc, name)
        if isinstance(uf, np.ufunc):
            _trace.ufunc_handlers[uf] = fn


_register()

# Called on another namespace's arrays, the compositions compute with its primitives and the
# SciPy kernels say that they run on NumPy arrays only (`chainrule.core.trace.boxing`).
_boxed: dict = {}  # one wrapper per function: an alias (psi, digamma) stays one object
for _name in __all__:
    _fn = globals()[_name]
    globals()[_name] = _boxed.setdefault(
        id(_fn), _trace.boxing(_fn, f"chainrule.scipy.special.{_fn.__name__}"))
