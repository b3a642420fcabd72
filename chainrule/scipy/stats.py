"""`chainrule.scipy.stats`: SciPy's distributions, differentiable.

`norm`, `t`, `gamma`, `beta` (``logpdf``, ``pdf``, ``cdf``), `poisson` (``logpmf``, ``pmf``,
``cdf``) and `multivariate_normal` (``logpdf``, ``pdf``; ``cdf`` on plain data only), with
SciPy's argument names and defaults (`loc`, `scale`, shape parameters `df`, `a`, `b`, `mu`,
`mean`, `cov`).

On plain data each method is SciPy's own. On traced values the univariate ones follow SciPy's
computation step by step — standardise ``(x - loc) / scale`` in SciPy's dtypes, SciPy's
formula for the standard density (``xlogy(a - 1, x) - x - gammaln(a)`` for the gamma, ...)
written with `chainrule.scipy.special`, SciPy's masks for invalid parameters (NaN) and points
outside the support (-inf, 0 or 1) — so the values are SciPy's and the derivatives are exact
in `x`, `loc`, `scale` and the shape parameters. A CDF is differentiable in x, loc and scale
(its derivative is the density); in a shape parameter SciPy gives no formula for (`df` of t,
`a` of gamma, `a` and `b` of beta) differentiating raises `NotImplementedError` naming the
parameter (Poisson's `mu` is implemented). The multivariate normal's value is SciPy's (through
a callback) and its derivatives are the closed forms in x, mean and cov (for symmetric
perturbations of cov, as chainrule's cholesky and eigh: SciPy reads one triangle).

>>> import numpy as np, chainrule as cr
>>> from chainrule.scipy import stats
>>> float(cr.grad(stats.norm.logpdf)(1.0))  # -(x - loc) / scale**2
-1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats as _ss

from chainrule.core import linalg as _la
from chainrule.core import ops as cnp
from chainrule.core import trace as _trace
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.ops import _lift, _traced
from chainrule.core.trace import Tracer
from chainrule.rules.callback import Callback, call
from chainrule.scipy import special as _sp

__all__ = ["norm", "t", "gamma", "beta", "poisson", "multivariate_normal"]

ArrayLike = Any

_NORM_PDF_C = np.sqrt(2 * np.pi)  # SciPy's constants, bit for bit
_NORM_PDF_LOGC = np.log(_NORM_PDF_C)
_LOG_2PI = np.log(2 * np.pi)


# --- SciPy's steps, on traced values -----------------------------------------------------------


def _arr(x: Any) -> Any:
    x = _lift(x)
    return x if isinstance(x, Tracer) else np.asarray(x)


def _cast(x: Any, dt: Any) -> Any:
    if isinstance(x, Tracer):
        return x if x.dtype == dt else cnp.astype(x, dt)
    return np.asarray(x, dtype=dt)


def _standardize(x: Any, loc: Any, scale: Any) -> tuple:
    """SciPy's ``np.asarray((x - loc) / scale, dtype=promote_types(x.dtype, float64))``, with
    NumPy's dtype for each step (`x`, `loc`, `scale` are arrays or tracers)."""
    dtyp = np.promote_types(x.dtype, np.float64)
    dt1 = np.result_type(x.dtype, loc.dtype)
    diff = _cast(x, dt1) - _cast(loc, dt1)
    dt2 = np.result_type(dt1, scale.dtype)
    if dt2.kind not in "fc":
        dt2 = np.dtype(np.float64)
    z = _cast(diff, dt2) / _cast(scale, dt2)
    return _cast(z, dtyp), dtyp


def _positive(*args: Any) -> Any:
    """SciPy's default ``_argcheck``: every shape parameter > 0."""
    return _and(True, *[a > 0 for a in args])


def _and(*conds: Any) -> Any:
    """Elementwise and (``cnp.logical_and``: NumPy's ``&`` on a NumPy bool and a traced value
    would reach ``numpy.bitwise_and``)."""
    out = conds[0]
    for c in conds[1:]:
        out = cnp.logical_and(out, c)
    return out


def _bad(cond0: Any, v: Any) -> Any:
    """SciPy's ``(1 - cond0) + isnan(v)``: where the output is NaN."""
    return cnp.logical_or(cnp.logical_not(cond0), cnp.isnan(v))


class _Continuous:
    """SciPy's ``rv_continuous.logpdf/pdf/cdf`` on traced values, given the standard
    distribution's formulas (`_logpdf`, `_pdf`, `_cdf`), its support and a point inside it."""

    _scipy: Any = None
    _name = ""
    _shape_names: tuple = ()
    _support = (-np.inf, np.inf)
    _inside = 0.0  # a point of the support (where masked-out entries are evaluated)

    def _logpdf(self, z: Any, *args: Any) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _pdf(self, z: Any, *args: Any) -> Any:
        return cnp.exp(self._logpdf(z, *args))

    def _cdf(self, z: Any, *args: Any) -> Any:
        raise NotImplementedError  # pragma: no cover

    def _eval(self, kind: str, x: Any, args: tuple, loc: Any, scale: Any) -> Any:
        if not _traced(x, loc, scale, *args):
            return getattr(self._scipy, kind)(x, *args, loc=loc, scale=scale)
        x, loc, scale = _arr(x), _arr(loc), _arr(scale)
        args = tuple(_arr(a) for a in args)
        z, dtyp = _standardize(x, loc, scale)
        lo, hi = self._support
        with np.errstate(invalid="ignore"):
            cond0 = _and(_positive(*args), scale > 0)
            if kind == "cdf":
                cond1 = _and(lo < z, z < hi, scale > 0)
            else:
                cond1 = _and(lo <= z, z <= hi, scale > 0)
        cond = _and(cond0, cond1)
        bad = _bad(cond0, z)
        # entries outside `cond` are evaluated at a harmless point: no NaN in any derivative
        zs = cnp.where(cond, z, self._inside)
        safe = tuple(cnp.where(cond, a, 1.0) for a in args)
        scale_s = cnp.where(cond, scale, 1.0)
        with np.errstate(all="ignore"):
            if kind == "logpdf":
                good, fill = self._logpdf(zs, *safe) - cnp.log(scale_s), -np.inf
            elif kind == "pdf":
                good, fill = self._pdf(zs, *safe) / scale_s, 0.0
            else:
                good = self._cdf(zs, *safe)
                fill = cnp.where(_and(z >= hi, cond0), 1.0, 0.0)
        out = cnp.where(cond, good, cnp.where(bad, np.nan, fill))
        if kind == "cdf":  # SciPy has no derivative in the shape parameters: raise, not 0
            out = _sp._guard(out, f"scipy.stats.{self._name}.cdf",
                             **dict(zip(self._shape_names, args)))  # fmt: skip
        return _cast(out, dtyp)


for _name, _params in (("t", ("df",)), ("gamma", ("a",)), ("beta", ("a", "b"))):
    for _p in _params:  # the callbacks that make these derivatives raise, made once
        _sp._no_derivative(f"scipy.stats.{_name}.cdf", _p)
del _name, _params, _p


# --- the distributions -------------------------------------------------------------------------


class norm_gen(_Continuous):
    """The normal distribution, as `scipy.stats.norm`.

    >>> import chainrule as cr
    >>> from chainrule.scipy.stats import norm
    >>> [float(g) for g in cr.grad(norm.logpdf, argnums=(0, 1, 2))(1.0, 0.0, 1.0)]
    [-1.0, 1.0, 0.0]
    """

    _scipy = _ss.norm
    _name = "norm"

    def _logpdf(self, z: Any) -> Any:
        return -z**2 / 2.0 - _NORM_PDF_LOGC

    def _pdf(self, z: Any) -> Any:
        return cnp.exp(-z**2 / 2.0) / _NORM_PDF_C

    def _cdf(self, z: Any) -> Any:
        return _sp.ndtr(z)

    def logpdf(self, x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.norm.logpdf`.

        >>> from chainrule.scipy.stats import norm
        >>> float(norm.logpdf(0.0))
        -0.9189385332046727
        """
        return self._eval("logpdf", x, (), loc, scale)

    def pdf(self, x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.norm.pdf`.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import norm
        >>> float(cr.grad(norm.pdf)(0.0))
        0.0
        """
        return self._eval("pdf", x, (), loc, scale)

    def cdf(self, x: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.norm.cdf`; its derivative in x is the density.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import norm
        >>> float(cr.grad(norm.cdf)(0.0))
        0.3989422804014327
        """
        return self._eval("cdf", x, (), loc, scale)


class t_gen(_Continuous):
    """Student's t distribution, as `scipy.stats.t` (``df = inf`` is the normal one).
    The CDF's derivative in `df` raises `NotImplementedError`.

    >>> import chainrule as cr
    >>> from chainrule.scipy.stats import t
    >>> round(float(cr.grad(t.logpdf, argnums=1)(0.0, 1.0)), 12)  # d/d df at x = 0
    0.193147180560
    """

    _scipy = _ss.t
    _name = "t"
    _shape_names = ("df",)

    def _logpdf(self, z: Any, df: Any) -> Any:
        inf = df == np.inf
        d = cnp.where(inf, 1.0, df)
        t_lp = (cnp.log(_sp.poch(0.5 * d, 0.5)) - 0.5 * (cnp.log(d) + np.log(np.pi))
                - (d + 1) / 2 * cnp.log1p(z * z / d))  # fmt: skip
        return cnp.where(inf, -z**2 / 2.0 - _NORM_PDF_LOGC, t_lp)

    def _pdf(self, z: Any, df: Any) -> Any:
        inf = df == np.inf
        d = cnp.where(inf, 1.0, df)
        return cnp.where(inf, cnp.exp(-z**2 / 2.0) / _NORM_PDF_C, cnp.exp(self._logpdf(z, d)))

    def _cdf(self, z: Any, df: Any) -> Any:
        return call(_sp._STDTR, df, z)[0]

    def logpdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0,
               scale: ArrayLike = 1) -> Any:  # fmt: skip
        """`scipy.stats.t.logpdf`.

        >>> from chainrule.scipy.stats import t
        >>> round(float(t.logpdf(0.0, 1.0)), 12)  # -log(pi)
        -1.144729885849
        """
        return self._eval("logpdf", x, (df,), loc, scale)

    def pdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.t.pdf`.

        >>> from chainrule.scipy.stats import t
        >>> round(float(t.pdf(0.0, 1.0)), 12)  # 1/pi
        0.318309886184
        """
        return self._eval("pdf", x, (df,), loc, scale)

    def cdf(self, x: ArrayLike, df: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.t.cdf` (``stdtr``): differentiable in x, loc and scale; in `df` it
        raises `NotImplementedError`.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import t
        >>> round(float(cr.grad(t.cdf)(0.0, 1.0)), 12)
        0.318309886184
        """
        return self._eval("cdf", x, (df,), loc, scale)


class gamma_gen(_Continuous):
    """The gamma distribution, as `scipy.stats.gamma` (shape `a`). The CDF's derivative in
    `a` raises `NotImplementedError`.

    >>> import chainrule as cr
    >>> from chainrule.scipy.stats import gamma
    >>> float(cr.grad(gamma.logpdf)(1.0, 2.0))  # (a - 1)/x - 1
    0.0
    """

    _scipy = _ss.gamma
    _name = "gamma"
    _shape_names = ("a",)
    _support = (0.0, np.inf)
    _inside = 1.0

    def _logpdf(self, z: Any, a: Any) -> Any:
        return _sp.xlogy(a - 1.0, z) - z - _sp.gammaln(a)

    def _cdf(self, z: Any, a: Any) -> Any:
        return call(_sp._GAMMAINC, a, z)[0]

    def logpdf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0,
               scale: ArrayLike = 1) -> Any:  # fmt: skip
        """`scipy.stats.gamma.logpdf`.

        >>> from chainrule.scipy.stats import gamma
        >>> float(gamma.logpdf(1.0, 1.0))
        -1.0
        """
        return self._eval("logpdf", x, (a,), loc, scale)

    def pdf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.gamma.pdf`.

        >>> from chainrule.scipy.stats import gamma
        >>> round(float(gamma.pdf(1.0, 1.0)), 12)
        0.367879441171
        """
        return self._eval("pdf", x, (a,), loc, scale)

    def cdf(self, x: ArrayLike, a: ArrayLike, loc: ArrayLike = 0, scale: ArrayLike = 1) -> Any:
        """`scipy.stats.gamma.cdf` (``gammainc``): differentiable in x, loc and scale; in `a`
        it raises `NotImplementedError`.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import gamma
        >>> round(float(cr.grad(gamma.cdf)(1.0, 1.0)), 12)
        0.367879441171
        """
        return self._eval("cdf", x, (a,), loc, scale)


class beta_gen(_Continuous):
    """The beta distribution, as `scipy.stats.beta` (shapes `a`, `b`). The CDF's derivatives
    in `a` and `b` raise `NotImplementedError`.

    >>> import chainrule as cr
    >>> from chainrule.scipy.stats import beta
    >>> float(cr.grad(beta.logpdf)(0.5, 2.0, 2.0))
    0.0
    """

    _scipy = _ss.beta
    _name = "beta"
    _shape_names = ("a", "b")
    _support = (0.0, 1.0)
    _inside = 0.5

    def _logpdf(self, z: Any, a: Any, b: Any) -> Any:
        lPx = _sp.xlog1py(b - 1.0, -z) + _sp.xlogy(a - 1.0, z)
        return lPx - _sp.betaln(a, b)

    def _pdf(self, z: Any, a: Any, b: Any) -> Any:
        return call(_sp._BETA_PDF, z, a, b)[0]  # SciPy's kernel, as scipy.stats.beta.pdf

    def _cdf(self, z: Any, a: Any, b: Any) -> Any:
        return call(_sp._BETAINC, a, b, z)[0]

    def logpdf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
               scale: ArrayLike = 1) -> Any:  # fmt: skip
        """`scipy.stats.beta.logpdf`.

        >>> from chainrule.scipy.stats import beta
        >>> float(beta.logpdf(0.3, 1.0, 1.0))
        0.0
        """
        return self._eval("logpdf", x, (a, b), loc, scale)

    def pdf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
            scale: ArrayLike = 1) -> Any:  # fmt: skip
        """`scipy.stats.beta.pdf` (SciPy's kernel on traced values too).

        >>> from chainrule.scipy.stats import beta
        >>> float(beta.pdf(0.5, 2.0, 2.0))
        1.5
        """
        return self._eval("pdf", x, (a, b), loc, scale)

    def cdf(self, x: ArrayLike, a: ArrayLike, b: ArrayLike, loc: ArrayLike = 0,
            scale: ArrayLike = 1) -> Any:  # fmt: skip
        """`scipy.stats.beta.cdf` (``betainc``): differentiable in x, loc and scale; in `a` and
        `b` it raises `NotImplementedError`.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import beta
        >>> float(cr.grad(beta.cdf)(0.5, 2.0, 2.0))
        1.5
        """
        return self._eval("cdf", x, (a, b), loc, scale)


class poisson_gen:
    """The Poisson distribution, as `scipy.stats.poisson` (mean `mu`, integer shift `loc`).
    Differentiable in `mu` (the CDF too: d/dmu pdtr(k, mu) = -pmf(floor(k), mu)); `logpmf` is
    also differentiable in `k` as a formula (``xlogy(k, mu) - gammaln(k + 1) - mu``, as JAX),
    the CDF is piecewise constant in `k`.

    >>> import chainrule as cr
    >>> from chainrule.scipy.stats import poisson
    >>> float(cr.grad(poisson.logpmf, argnums=1)(3.0, 2.0))  # k/mu - 1
    0.5
    """

    def _prep(self, k: Any, mu: Any, loc: Any) -> tuple:
        k, mu, loc = _arr(k), _arr(mu), _arr(loc)
        dt = np.result_type(k.dtype, loc.dtype)
        return _cast(k, dt) - _cast(loc, dt), mu

    def _pm(self, kind: str, k: Any, mu: Any, loc: Any) -> Any:
        if not _traced(k, mu, loc):
            return getattr(_ss.poisson, kind)(k, mu, loc=loc)
        k, mu = self._prep(k, mu, loc)
        with np.errstate(invalid="ignore"):
            cond0 = mu >= 0
            cond = _and(cond0, k >= 0, k <= np.inf, cnp.floor(k) == k)
        bad = _bad(cond0, k)
        ks, mus = cnp.where(cond, k, 0.0), cnp.where(cond, mu, 1.0)
        with np.errstate(all="ignore"):
            good = _sp.xlogy(ks, mus) - _sp.gammaln(ks + 1) - mus
            if kind == "pmf":
                good, fill = cnp.clip(cnp.exp(good), 0, 1), 0.0
            else:
                fill = -np.inf
        return _cast(cnp.where(cond, good, cnp.where(bad, np.nan, fill)), np.float64)

    def logpmf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0) -> Any:
        """`scipy.stats.poisson.logpmf`.

        >>> from chainrule.scipy.stats import poisson
        >>> float(poisson.logpmf(0, 1.0))
        -1.0
        """
        return self._pm("logpmf", k, mu, loc)

    def pmf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0) -> Any:
        """`scipy.stats.poisson.pmf`.

        >>> from chainrule.scipy.stats import poisson
        >>> round(float(poisson.pmf(0, 1.0)), 12)
        0.367879441171
        """
        return self._pm("pmf", k, mu, loc)

    def cdf(self, k: ArrayLike, mu: ArrayLike, loc: ArrayLike = 0) -> Any:
        """`scipy.stats.poisson.cdf` (``pdtr(floor(k), mu)``), differentiable in `mu`.

        >>> import chainrule as cr
        >>> from chainrule.scipy.stats import poisson
        >>> round(float(cr.grad(poisson.cdf, argnums=1)(0.0, 1.0)), 12)
        -0.367879441171
        """
        if not _traced(k, mu, loc):
            return _ss.poisson.cdf(k, mu, loc=loc)
        k, mu = self._prep(k, mu, loc)
        with np.errstate(invalid="ignore"):
            cond0 = mu >= 0
            cond = _and(cond0, k >= 0, k < np.inf, cnp.isfinite(k))
        bad = _bad(cond0, k)
        ks, mus = cnp.where(cond, k, 0.0), cnp.where(cond, mu, 1.0)
        with np.errstate(all="ignore"):
            good = cnp.clip(_sp.pdtr(cnp.floor(ks), mus), 0, 1)
        fill = cnp.where(bad, np.nan, cnp.where(k >= np.inf, 1.0, 0.0))
        return _cast(cnp.where(cond, good, fill), np.float64)


# --- the multivariate normal ---------------------------------------------------------------------


def _mvn_fun(allow_singular: bool) -> Any:
    def fun(x3: np.ndarray, m3: np.ndarray, cov: np.ndarray) -> tuple:
        x, mean = x3[..., 0], m3[..., 0]
        batch = np.broadcast_shapes(x.shape[:-1], mean.shape[:-1], cov.shape[:-2])
        logpdf = _ss.multivariate_normal.logpdf
        if mean.ndim == 1 and cov.ndim == 2:
            out = np.reshape(logpdf(x, mean, cov, allow_singular=allow_singular), x.shape[:-1])
            return (np.broadcast_to(out, batch).copy(),)
        d = x.shape[-1]
        xb = np.broadcast_to(x, batch + (d,))
        mb, cb = np.broadcast_to(mean, batch + (d,)), np.broadcast_to(cov, batch + (d, d))
        out = np.empty(batch)
        for i in np.ndindex(*batch):
            out[i] = logpdf(xb[i], mb[i], cb[i], allow_singular=allow_singular)
        return (out,)

    return fun


def _mvn_shapes(x3: Any, m3: Any, cov: Any) -> tuple:
    batch = np.broadcast_shapes(x3.shape[:-2], m3.shape[:-2], cov.shape[:-2])
    return (ShapeDtypeStruct(batch, np.float64),)


def _sym_lower(cov: Any) -> Any:
    """The symmetric matrix SciPy sees: the lower triangle of `cov`, mirrored."""
    return cnp.tril(cov) + cnp.swapaxes(cnp.tril(cov, -1), -1, -2)


def _mvn_alpha(x3: Any, m3: Any, cov: Any) -> tuple:
    S = _sym_lower(cov)
    return S, _la.solve(S, x3 - m3)


def _mvn_jvp(primals: list, tangents: list) -> tuple:
    x3, m3, cov = primals
    tx, tm, tc = tangents
    S, alpha = _mvn_alpha(x3, m3, cov)
    out = None

    def add(term: Any) -> None:
        nonlocal out
        out = term if out is None else out + term

    if tx is not None:
        add(-cnp.sum(alpha * tx, axis=(-2, -1)))
    if tm is not None:
        add(cnp.sum(alpha * tm, axis=(-2, -1)))
    if tc is not None:
        quad = cnp.sum(alpha * cnp.matmul(tc, alpha), axis=(-2, -1))
        add(-0.5 * (cnp.sum(_la.inv(S) * tc, axis=(-2, -1)) - quad))
    return (out,)


def _mvn_vjp(cts: tuple, outs: tuple, x3: Any, m3: Any, cov: Any) -> list:
    (g,) = cts
    S, alpha = _mvn_alpha(x3, m3, cov)
    gg = cnp.expand_dims(cnp.expand_dims(g, -1), -1)
    ga = gg * alpha
    ct_cov = -0.5 * gg * (_la.inv(S) - cnp.matmul(alpha, cnp.swapaxes(alpha, -1, -2)))
    return [-ga, ga, ct_cov]


_MVN = {s: Callback(f"multivariate_normal.logpdf[allow_singular={s}]", _mvn_fun(s), _mvn_shapes,
                    _mvn_jvp, _mvn_vjp, vectorized=True) for s in (False, True)}  # fmt: skip


class multivariate_normal_gen:
    """The multivariate normal distribution, as `scipy.stats.multivariate_normal`.

    On traced values `logpdf` is SciPy's value (one call of SciPy per batch, through a
    callback) with the closed-form derivatives in x, mean and cov: -Σ⁻¹(x-μ), Σ⁻¹(x-μ) and
    -(Σ⁻¹ - Σ⁻¹(x-μ)(x-μ)ᵀΣ⁻¹)/2, the last for symmetric perturbations of cov (SciPy reads its
    lower triangle); the derivatives assume a nonsingular cov. `cdf` is not differentiable.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.scipy.stats import multivariate_normal as mvn
    >>> cr.grad(mvn.logpdf)(np.array([1.0, 2.0]), np.zeros(2), np.eye(2))
    array([-1., -2.])
    """

    def _prep(self, x: Any, mean: Any, cov: Any) -> tuple:
        """SciPy's `_process_parameters_psd` and `_process_quantiles`, on traced values."""
        f64 = np.dtype(np.float64)
        if mean is not None:
            mean = _cast(_arr(mean), f64)
            dim = int(np.prod(mean.shape))
        else:
            cov = _cast(_arr(cov), f64)
            dim = 1 if cov.ndim < 2 else cov.shape[0]
        mean = np.zeros(dim) if mean is None else mean
        cov = _cast(_arr(1.0 if cov is None else cov), f64)
        if dim == 1:
            mean, cov = cnp.reshape(mean, (1,)), cnp.reshape(cov, (1, 1))
        if mean.ndim != 1 or mean.shape[0] != dim:
            raise ValueError(f"Array 'mean' must be a vector of length {dim}.")
        if cov.ndim == 0:
            cov = cov * np.eye(dim)
        elif cov.ndim == 1:
            cov = cnp.diag(cov)
        elif cov.ndim != 2 or cov.shape != (dim, dim):
            raise ValueError(f"Array 'cov' must be a ({dim}, {dim}) matrix, got shape "
                             f"{cov.shape}")  # fmt: skip
        x = _cast(_arr(x), f64)
        if x.ndim == 0:
            x = cnp.reshape(x, (1,))
        elif x.ndim == 1:
            x = cnp.reshape(x, (-1, 1) if dim == 1 else (1, -1))
        return x, mean, cov

    def logpdf(self, x: ArrayLike, mean: ArrayLike | None = None, cov: ArrayLike = 1,
               allow_singular: bool = False) -> Any:  # fmt: skip
        """`scipy.stats.multivariate_normal.logpdf` (x's last axis holds the components).

        >>> import numpy as np
        >>> from chainrule.scipy.stats import multivariate_normal as mvn
        >>> round(float(mvn.logpdf(np.zeros(2), np.zeros(2))), 12)  # -log(2 pi)
        -1.837877066409
        """
        if not _traced(x, mean, cov):
            return _ss.multivariate_normal.logpdf(x, mean, cov, allow_singular=allow_singular)
        x, mean, cov = self._prep(x, mean, cov)
        out = call(_MVN[bool(allow_singular)], cnp.expand_dims(x, -1),
                   cnp.expand_dims(mean, -1), cov)[0]  # fmt: skip
        return cnp.squeeze(out)  # SciPy's _squeeze_output

    def pdf(self, x: ArrayLike, mean: ArrayLike | None = None, cov: ArrayLike = 1,
            allow_singular: bool = False) -> Any:  # fmt: skip
        """`scipy.stats.multivariate_normal.pdf` (= exp(logpdf), as SciPy computes it).

        >>> import numpy as np
        >>> from chainrule.scipy.stats import multivariate_normal as mvn
        >>> round(float(mvn.pdf(np.zeros(2), np.zeros(2))), 12)  # 1/(2 pi)
        0.159154943092
        """
        if not _traced(x, mean, cov):
            return _ss.multivariate_normal.pdf(x, mean, cov, allow_singular=allow_singular)
        return cnp.exp(self.logpdf(x, mean, cov, allow_singular))

    def cdf(self, x: ArrayLike, mean: ArrayLike | None = None, cov: ArrayLike = 1,
            allow_singular: bool = False, **kwargs: Any) -> Any:  # fmt: skip
        """`scipy.stats.multivariate_normal.cdf` on plain data; on traced values it raises
        `NotImplementedError` (SciPy computes it by randomized quadrature: no derivative).

        >>> import numpy as np
        >>> from chainrule.scipy.stats import multivariate_normal as mvn
        >>> round(float(mvn.cdf(np.zeros(2), np.zeros(2), np.eye(2))), 6)
        0.25
        """
        if not _traced(x, mean, cov):
            return _ss.multivariate_normal.cdf(x, mean, cov, allow_singular=allow_singular,
                                               **kwargs)  # fmt: skip
        raise NotImplementedError(
            "chainrule.scipy.stats.multivariate_normal.cdf is not differentiable (SciPy "
            "computes it by randomized quadrature); call it on plain arrays (cr.stop_gradient)"
        )


norm = norm_gen()
t = t_gen()
gamma = gamma_gen()
beta = beta_gen()
poisson = poisson_gen()
multivariate_normal = multivariate_normal_gen()


# Called on another namespace's arrays, the densities and distribution functions compute
# with its primitives, and the SciPy kernels say that they run on NumPy arrays only
# (`chainrule.core.trace.boxing`).
for _gen in (_Continuous, norm_gen, t_gen, gamma_gen, beta_gen, poisson_gen,
             multivariate_normal_gen):  # fmt: skip
    for _m in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "pmf", "logpmf"):
        if _m in vars(_gen):
            setattr(_gen, _m, _trace.boxing(vars(_gen)[_m], f"chainrule.scipy.stats.{_m}"))
