"""`chainrule.scipy`: SciPy's special functions, distributions and linear algebra,
differentiable (SciPy is an optional dependency: ``pip install chainrule[scipy]``).

Import the subpackages as SciPy's: ``import chainrule.scipy.special as csp``,
``from chainrule.scipy import stats, linalg``. Importing this package imports neither SciPy
nor them; ``chainrule.scipy.special`` (say) is loaded on first access.

- `chainrule.scipy.special`: gammaln, digamma (psi), polygamma, gamma, beta, betaln, poch,
  erf, erfc, erfinv, erfcinv, erfcx, expit, logit, log_expit, logsumexp, softmax, log_softmax,
  xlogy, xlog1py, i0, i1, i0e, i1e, ndtr, ndtri, log_ndtr, gammainc, gammaincc, betainc,
  stdtr, pdtr. Importing it also makes SciPy's own ufuncs dispatch to these on traced values.
- `chainrule.scipy.stats`: norm, t, gamma, beta (logpdf, pdf, cdf), poisson (logpmf, pmf,
  cdf), multivariate_normal (logpdf, pdf; cdf on plain data).
- `chainrule.scipy.linalg`: solve_triangular, cholesky, cho_factor, cho_solve, expm,
  expm_frechet, sqrtm, solve_sylvester.
"""

__all__ = ["special", "stats", "linalg"]


def __getattr__(name: str):
    if name in __all__:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
