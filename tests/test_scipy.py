"""chainrule.scipy: SciPy's special functions, distributions and linear algebra, differentiable.

Every function: values on plain data are SciPy's, values on traced data are SciPy's too (bit
for bit), derivatives agree with finite differences to order 2 in both modes, and with JAX's
(x64) where JAX has the function; vmap agrees with a loop and eval_shape with SciPy's dtype.
"""

import subprocess
import sys

import numpy as np
import pytest

sc = pytest.importorskip("scipy.special")
ss = pytest.importorskip("scipy.stats")
sl = pytest.importorskip("scipy.linalg")

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
import chainrule.scipy.special as csp  # noqa: E402
from chainrule.scipy import linalg as cl  # noqa: E402
from chainrule.scipy import stats as cs  # noqa: E402
from chainrule.testing import check_grads  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    import jax.scipy.special as jsp
    import jax.scipy.stats as jst
except ImportError:  # pragma: no cover
    jax = None

needs_jax = pytest.mark.skipif(jax is None, reason="JAX is not installed")
RNG = np.random.default_rng(0)


def traced_value(f, *args):
    """f's value computed on traced arguments (the forward pass of cr.vjp)."""
    return cr.vjp(f, *args)[0]


def same(got, ref):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got, ref)
    np.testing.assert_array_equal(got, ref)


def uniform(lo, hi, n=4):
    return RNG.uniform(lo, hi, size=n)


_JAX: dict = {}


def jax_grads(group, specs):
    """JAX's gradients (x64) of sum(jf) for every ``key: (jf, args, argnums)`` of `specs()`,
    computed in one jitted call per group (JAX compiles once) and kept for the other tests."""
    if group not in _JAX:
        specs = specs()
        keys = list(specs)

        def all_grads(argsets):
            return [jax.grad(lambda *a, jf=specs[k][0]: jnp.sum(jf(*a)),
                             argnums=specs[k][2])(*argsets[i])
                    for i, k in enumerate(keys)]  # fmt: skip

        with jax.enable_x64(True):
            out = jax.jit(all_grads)([tuple(map(jnp.asarray, specs[k][1])) for k in keys])
        _JAX[group] = {k: tuple(map(np.asarray, g)) if isinstance(g, tuple) else np.asarray(g)
                       for k, g in zip(keys, out)}  # fmt: skip
    return _JAX[group]


def cr_grad(f, args, argnums):
    return cr.grad(lambda *a: cnp.sum(f(*a)), argnums=argnums)(*args)


def assert_grads_close(ours, theirs, **tol):
    for o, t in zip(ours, theirs) if isinstance(ours, tuple) else [(ours, theirs)]:
        np.testing.assert_allclose(o, t, **tol)


# --- special functions -------------------------------------------------------------------------

# name -> (arguments (valid domain), the differentiable ones, the arguments held fixed)
SPECIAL = {
    "gammaln": ((uniform(0.3, 5),), (0,)),
    "digamma": ((uniform(0.3, 5),), (0,)),
    "gamma": ((uniform(0.5, 4),), (0,)),
    "beta": ((uniform(0.5, 3), uniform(0.5, 3)), (0, 1)),
    "betaln": ((uniform(0.5, 3), uniform(0.5, 3)), (0, 1)),
    "poch": ((uniform(0.5, 3), uniform(0.5, 2)), (0, 1)),
    "erf": ((uniform(-2, 2),), (0,)),
    "erfc": ((uniform(-2, 2),), (0,)),
    "erfinv": ((uniform(-0.9, 0.9),), (0,)),
    "erfcinv": ((uniform(0.1, 1.9),), (0,)),
    "erfcx": ((uniform(-1, 3),), (0,)),
    "expit": ((uniform(-4, 4),), (0,)),
    "logit": ((uniform(0.1, 0.9),), (0,)),
    "log_expit": ((uniform(-4, 4),), (0,)),
    "xlogy": ((uniform(-2, 2), uniform(0.2, 3)), (0, 1)),
    "xlog1py": ((uniform(-2, 2), uniform(-0.8, 3)), (0, 1)),
    "i0": ((uniform(-3, 3),), (0,)),
    "i1": ((uniform(-3, 3),), (0,)),
    "i0e": ((uniform(0.2, 3) * np.array([1, -1, 1, -1]),), (0,)),
    "i1e": ((uniform(0.2, 3) * np.array([1, -1, 1, -1]),), (0,)),
    "ndtr": ((uniform(-3, 3),), (0,)),
    "ndtri": ((uniform(0.05, 0.95),), (0,)),
    "log_ndtr": ((np.array([-30.0, -3.0, 0.5, 6.0]),), (0,)),
    "gammainc": ((uniform(0.5, 3), uniform(0.2, 4)), (1,)),
    "gammaincc": ((uniform(0.5, 3), uniform(0.2, 4)), (1,)),
    "betainc": ((uniform(0.5, 3), uniform(0.5, 3), uniform(0.1, 0.9)), (2,)),
    "stdtr": ((uniform(1, 10), uniform(-3, 3)), (1,)),
    "pdtr": ((np.array([0.0, 1.0, 3.0, 5.0]), uniform(0.5, 4)), (1,)),
    "polygamma": ((np.array([0, 1, 2, 3]), uniform(0.5, 4)), (1,)),
}
JAX_NAME = {"log_expit": None, "erfcinv": None, "stdtr": None, "pdtr": None}
JAX_LOOSE = {"i0e", "i1e", "betainc", "ndtri", "erfinv", "erfcx", "log_ndtr"}


def _partial(name, args, diff):
    """The function of the differentiable arguments only (the others fixed)."""
    f = getattr(csp, name)

    def g(*d):
        full = list(args)
        for i, v in zip(diff, d):
            full[i] = v
        return f(*full)

    return g, tuple(args[i] for i in diff)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_values_plain_and_traced(name):
    args, diff = SPECIAL[name]
    ref = getattr(sc, name)(*args)
    same(getattr(csp, name)(*args), ref)
    g, dargs = _partial(name, args, diff)
    same(traced_value(g, *dargs), ref)
    same(cr.jvp(g, dargs, tuple(np.ones_like(a) for a in dargs))[0], ref)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_derivatives_to_order_2(name):
    args, diff = SPECIAL[name]
    g, dargs = _partial(name, args, diff)
    check_grads(g, dargs, order=2, modes=("fwd", "rev"))


@needs_jax
@pytest.mark.parametrize("name", sorted(n for n in SPECIAL if JAX_NAME.get(n, n)))
def test_special_gradients_match_jax(name):
    args, diff = SPECIAL[name]
    theirs = jax_grads("special", lambda: {
        n: (getattr(jsp, n), SPECIAL[n][0], SPECIAL[n][1]) for n in SPECIAL if JAX_NAME.get(n, n)
    })[name]  # fmt: skip
    rtol = 1e-6 if name in JAX_LOOSE else 1e-9
    assert_grads_close(cr_grad(getattr(csp, name), args, diff), theirs, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_vmap_and_eval_shape(name):
    args, diff = SPECIAL[name]
    f = getattr(csp, name)
    rows = np.stack([np.asarray(f(*[a[k] for a in args])) for k in range(4)])
    same(cr.vmap(f)(*args), rows)
    same(cr.vmap(lambda *a: cr.grad(lambda *b: f(*b), argnums=diff[-1])(*a))(*args),
         np.stack([cr.grad(f, argnums=diff[-1])(*[a[k] for a in args]) for k in range(4)]))
    a32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in args]
    s = cr.eval_shape(f, *a32)
    ref = getattr(sc, name)(*a32)
    assert (s.shape, s.dtype) == (ref.shape, ref.dtype)


@pytest.mark.parametrize("name", sorted(n for n in SPECIAL if n not in ("polygamma",)))
def test_scipy_ufuncs_on_traced_values_dispatch_here(name):
    args, diff = SPECIAL[name]
    ufunc = getattr(sc, name)
    assert isinstance(ufunc, np.ufunc)
    i = diff[-1]
    ours = cr_grad(getattr(csp, name), args, i)
    np.testing.assert_array_equal(cr_grad(ufunc, args, i), ours)
    x = cr.tensor(args[i], requires_grad=True)  # Tensors too
    full = list(args)
    full[i] = x
    cnp.sum(ufunc(*full)).backward()
    np.testing.assert_array_equal(x.grad.numpy() if hasattr(x.grad, "numpy") else x.grad, ours)


def test_higher_derivatives_chain_through_callbacks():
    x = 1.7
    d3 = cr.grad(cr.grad(cr.grad(csp.gammaln)))(x)
    np.testing.assert_allclose(d3, sc.polygamma(2, x), rtol=1e-14)
    np.testing.assert_allclose(cr.hessian(csp.erf)(x), -2 * x * 2 / np.sqrt(np.pi) * np.exp(-x * x))


def test_float32_stays_float32():
    x = np.float32(0.5)
    g = cr.grad(csp.gammaln)(x)
    assert g.dtype == np.float32
    assert traced_value(csp.erf, np.ones(3, np.float32)).dtype == np.float32


@pytest.mark.parametrize("name,param,args,argnum", [
    ("gammainc", "a", (1.5, 0.7), 0),
    ("gammaincc", "a", (1.5, 0.7), 0),
    ("betainc", "a", (1.5, 2.0, 0.3), 0),
    ("betainc", "b", (1.5, 2.0, 0.3), 1),
    ("stdtr", "df", (3.0, 0.4), 0),
    ("polygamma", "n", (1.0, 0.4), 0),
])  # fmt: skip
def test_shape_parameter_derivatives_raise_naming_the_parameter(name, param, args, argnum):
    f = getattr(csp, name)
    for transform in (lambda: cr.grad(f, argnums=argnum)(*args),
                      lambda: cr.jvp(lambda p: f(*args[:argnum], p, *args[argnum + 1:]),
                                     (args[argnum],), (1.0,))):  # fmt: skip
        with pytest.raises(NotImplementedError, match=f"'{param}'"):
            transform()
    # differentiating in the other argument is fine, with the parameter traced by vmap
    other = len(args) - 1
    batch = [np.full(3, a) for a in args]
    g = cr.vmap(cr.grad(f, argnums=other))(*batch)
    np.testing.assert_array_equal(g, np.full(3, cr.grad(f, argnums=other)(*args)))


def test_xlogy_at_zero():
    for f in (csp.xlogy, csp.xlog1py):
        y0 = 0.0 if f is csp.xlogy else -1.0
        assert float(cr.grad(f, argnums=1)(0.0, y0)) == 0.0
        assert float(cr.grad(f, argnums=1)(0.0, 2.0)) == 0.0
    np.testing.assert_allclose(cr.grad(cr.grad(csp.xlogy, argnums=1))(0.0, 2.0), 0.5)


def test_i1_at_zero():
    assert float(cr.grad(csp.i1)(0.0)) == 0.5
    assert float(cr.grad(csp.i1e)(0.0)) == 0.5


# --- logsumexp, softmax, log_softmax -------------------------------------------------------------

A = RNG.normal(size=(3, 4))
B = RNG.uniform(-0.5, 1.5, size=(3, 4))
LSE = [dict(), dict(axis=0), dict(axis=-1, keepdims=True), dict(axis=(0, 1)), dict(b=B),
       dict(b=B, axis=1, return_sign=True), dict(b=np.abs(B), axis=0, keepdims=True)]  # fmt: skip


def _lse(**kw):
    if kw.get("return_sign"):
        return lambda a: csp.logsumexp(a, **kw)[0]
    return lambda a: csp.logsumexp(a, **kw)


@pytest.mark.parametrize("kw", LSE, ids=str)
def test_logsumexp(kw):
    ref = sc.logsumexp(A, **kw)
    got = traced_value(lambda a: csp.logsumexp(a, **kw), A)
    for g, r in zip(got, ref) if kw.get("return_sign") else [(got, ref)]:
        np.testing.assert_array_equal(g, r)
    check_grads(_lse(**kw), (A,), order=2)
    if "b" in kw:
        check_grads(lambda b: _lse(**{**kw, "b": b})(A), (kw["b"],), order=2)


@needs_jax
@pytest.mark.parametrize("kw", LSE, ids=str)
def test_logsumexp_gradient_matches_jax(kw):
    theirs = jax_grads("logsumexp", _jax_softmax_specs)[str(kw)]
    np.testing.assert_allclose(cr_grad(_lse(**kw), (A,), 0), theirs, rtol=1e-12)


WEIGHTS = np.arange(12.0).reshape(3, 4)


def _jax_softmax_specs():
    def lse(kw):
        return lambda a: (jsp.logsumexp(a, **kw)[0] if kw.get("return_sign")
                          else jsp.logsumexp(a, **kw))  # fmt: skip

    def soft(name, axis):
        return lambda x: getattr(jsp, name)(x, axis=axis) * WEIGHTS

    out = {str(kw): (lse(kw), (A,), 0) for kw in LSE}
    for name in ("softmax", "log_softmax"):
        out.update({(name, axis): (soft(name, axis), (A,), 0) for axis in (None, 0, -1)})
    return out


def test_logsumexp_edge_cases():
    t = np.array([1.0, 1.0, 0.0])  # a tie at the max: the gradient is the softmax
    np.testing.assert_allclose(cr.grad(csp.logsumexp)(t), sc.softmax(t), rtol=1e-15)
    b = np.array([1.0, 0.0, 2.0])  # b == 0: left out, but d/db is still exp(a - lse)
    np.testing.assert_allclose(cr.grad(lambda b: csp.logsumexp(t, b=b))(b),
                               np.exp(t - sc.logsumexp(t, b=b)), rtol=1e-15)  # fmt: skip
    big = np.array([1000.0, 1000.0, -np.inf])
    v, g = cr.value_and_grad(csp.logsumexp)(big)
    assert v == sc.logsumexp(big)
    np.testing.assert_array_equal(g, [0.5, 0.5, 0.0])
    for a in (np.array([-np.inf, -np.inf]), np.array([np.inf, 1.0]), np.array([3.0])):
        np.testing.assert_array_equal(traced_value(csp.logsumexp, a), sc.logsumexp(a))
    v = traced_value(lambda b: csp.logsumexp(np.array([1.0, 2.0]), b=b), np.array([1.0, -1.0]))
    assert np.isnan(v)  # a negative sum without return_sign: NaN, as SciPy
    np.testing.assert_array_equal(cr.vmap(csp.logsumexp)(A), sc.logsumexp(A, axis=1))
    s = cr.eval_shape(lambda a: csp.logsumexp(a, axis=0), A.astype(np.float32))
    assert (s.shape, s.dtype) == ((4,), np.float32)


@pytest.mark.parametrize("axis", [None, 0, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax(name, axis):
    f = lambda x: getattr(csp, name)(x, axis=axis)
    ref = getattr(sc, name)(A, axis=axis)
    same(f(A), ref)
    same(traced_value(f, A), ref)
    check_grads(f, (A,), order=2)
    if jax is not None:
        theirs = jax_grads("logsumexp", _jax_softmax_specs)[(name, axis)]
        ours = cr_grad(lambda x: f(x) * WEIGHTS, (A,), 0)
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-15)
    np.testing.assert_array_equal(cr.vmap(f)(A[None]), ref[None])


def test_log_softmax_large_and_infinite():
    x = np.array([1000.0, 1.0, -np.inf])
    np.testing.assert_array_equal(traced_value(csp.log_softmax, x), sc.log_softmax(x))
    np.testing.assert_array_equal(traced_value(csp.softmax, x), sc.softmax(x))


# --- stats ---------------------------------------------------------------------------------------

X = np.array([-1.3, -0.2, 0.4, 1.1, 2.5])
POS = np.array([0.2, 0.7, 1.3, 2.2, 4.0])
UNIT = np.array([0.05, 0.3, 0.5, 0.8, 0.97])
# (distribution, x, shape parameters, loc, scale)
DISTS = {
    "norm": (X, (), 0.3, 1.7),
    "t": (X, (3.5,), 0.3, 1.7),
    "gamma": (POS, (2.5,), 0.1, 1.3),
    "beta": (UNIT, (2.5, 1.5), -0.05, 1.2),
}
OUTSIDE = {  # points outside the support, invalid parameters: NaN, -inf, 0 or 1 as SciPy
    "norm": (np.array([np.nan, -np.inf, np.inf, 0.3]), (), 0.0, np.array([1.0, 1.0, 1.0, -1.0])),
    "t": (np.array([0.5, 1.0, np.nan, 2.0]), (np.array([np.inf, -1.0, 2.0, 1e300]),), 0.0, 1.0),
    "gamma": (np.array([-1.0, 0.0, np.inf, 2.0]), (np.array([2.5, 1.0, 2.0, -1.0]),), 0.0, 1.0),
    "beta": (np.array([-0.5, 0.0, 1.0, 1.5]), (np.array([1.0, 2.0, 0.5, 2.0]), 1.0), 0.0, 1.0),
}


@pytest.mark.parametrize("kind", ["logpdf", "pdf", "cdf"])
@pytest.mark.parametrize("name", sorted(DISTS))
def test_distribution_values(name, kind):
    for x, shapes, loc, scale in (DISTS[name], OUTSIDE[name]):
        f = lambda x, *s: getattr(getattr(cs, name), kind)(x, *s, loc=loc, scale=scale)
        with np.errstate(all="ignore"):
            ref = getattr(getattr(ss, name), kind)(x, *shapes, loc=loc, scale=scale)
            same(f(x, *shapes), ref)
            same(traced_value(f, x, *shapes), ref)
            same(traced_value(lambda l, s: getattr(getattr(cs, name), kind)(x, *shapes, loc=l,
                                                                             scale=s),
                              loc, scale), ref)  # fmt: skip
    x32 = DISTS[name][0].astype(np.float32)  # SciPy computes in float64
    same(traced_value(lambda x: getattr(getattr(cs, name), kind)(x, *DISTS[name][1]), x32),
         getattr(getattr(ss, name), kind)(x32, *DISTS[name][1]))  # fmt: skip


@pytest.mark.parametrize("kind", ["logpdf", "pdf", "cdf"])
@pytest.mark.parametrize("name", sorted(DISTS))
def test_distribution_derivatives_to_order_2(name, kind):
    x, shapes, loc, scale = DISTS[name]
    method = getattr(getattr(cs, name), kind)
    if kind == "cdf":  # in x, loc and scale (the shape parameters raise: see below)
        check_grads(lambda x, loc, scale: method(x, *shapes, loc=loc, scale=scale),
                    (x, loc, scale), order=2)  # fmt: skip
    else:
        check_grads(lambda x, loc, scale, *s: method(x, *s, loc=loc, scale=scale),
                    (x, loc, scale) + shapes, order=2)  # fmt: skip


JAX_LACKS = {("t", "cdf")}  # jax.scipy.stats.t has no cdf


@needs_jax
@pytest.mark.parametrize("name,kind", [(n, k) for n in sorted(DISTS)
                                       for k in ("logpdf", "pdf", "cdf")
                                       if (n, k) not in JAX_LACKS])  # fmt: skip
def test_distribution_gradients_match_jax(name, kind):
    method = getattr(getattr(cs, name), kind)
    args, nums = _dist_args(name, kind)
    theirs = jax_grads("stats", _jax_stats_specs)[(name, kind)]
    ours = cr_grad(lambda x, l, s, *p: method(x, *p, loc=l, scale=s), args, nums)
    assert_grads_close(ours, theirs, rtol=1e-7, atol=1e-12)


def _dist_args(name, kind):
    x, shapes, loc, scale = DISTS[name]
    return (x, loc, scale) + shapes, tuple(range(3 if kind == "cdf" else 3 + len(shapes)))


def _jax_stats_specs():
    def dist(m):
        return lambda x, l, s, *p: m(x, *p, loc=l, scale=s)

    out = {(name, kind): (dist(getattr(getattr(jst, name), kind)),) + _dist_args(name, kind)
           for name in DISTS for kind in ("logpdf", "pdf", "cdf")
           if (name, kind) not in JAX_LACKS}  # fmt: skip
    for kind in ("logpmf", "pmf", "cdf"):
        out["poisson", kind] = (lambda m, kind=kind: getattr(jst.poisson, kind)(K, m), (MU,), 0)
    out["mvn"] = (lambda x, m, c: jst.multivariate_normal.logpdf(x, m, (c + c.T) / 2),
                  (XS, MEAN, COV), (0, 1, 2))  # fmt: skip
    return out


@pytest.mark.parametrize("name,param", [("t", "df"), ("gamma", "a"), ("beta", "a"),
                                        ("beta", "b")])  # fmt: skip
def test_cdf_shape_parameter_derivative_raises(name, param):
    x, shapes, loc, scale = DISTS[name]
    i = {"df": 0, "a": 0, "b": 1}[param]

    def f(p):
        s = list(shapes)
        s[i] = p
        return cnp.sum(getattr(cs, name).cdf(x, *s, loc=loc, scale=scale))

    with pytest.raises(NotImplementedError, match=f"scipy.stats.{name}.cdf.*'{param}'"):
        cr.grad(f)(shapes[i])
    with pytest.raises(NotImplementedError, match=f"'{param}'"):
        cr.jvp(f, (shapes[i],), (1.0,))
    # in x the derivative is the density, with the shape parameter traced by vmap
    cdf = lambda x, p: getattr(cs, name).cdf(x, *shapes[:i], p, *shapes[i + 1:])
    pdf = lambda x, p: getattr(ss, name).pdf(x, *shapes[:i], p, *shapes[i + 1:])
    ps = np.full(x.shape, shapes[i])
    np.testing.assert_allclose(cr.vmap(cr.grad(cdf))(x, ps), pdf(x, ps), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(DISTS))
def test_distribution_vmap_and_eval_shape(name):
    x, shapes, loc, scale = DISTS[name]
    dist = getattr(cs, name)
    f = lambda x, l: dist.logpdf(x, *shapes, loc=l, scale=scale)
    locs = np.array([0.0, 0.05, 0.1, -0.02, 0.03])
    same(cr.vmap(f)(x, locs), np.stack([f(x[k], locs[k]) for k in range(5)]))
    same(cr.vmap(cr.grad(f, argnums=1))(x, locs),
         np.stack([cr.grad(f, argnums=1)(x[k], locs[k]) for k in range(5)]))  # fmt: skip
    s = cr.eval_shape(lambda x: dist.cdf(x, *shapes, loc=loc, scale=scale), x.astype(np.float32))
    assert (s.shape, s.dtype) == (x.shape, np.float64)


K = np.array([0.0, 1.0, 2.0, 5.0, 9.0])
MU = np.array([0.5, 1.5, 2.0, 4.0, 7.5])


@pytest.mark.parametrize("kind", ["logpmf", "pmf", "cdf"])
def test_poisson(kind):
    method, ref_method = getattr(cs.poisson, kind), getattr(ss.poisson, kind)
    odd = (np.array([-1.0, 1.5, np.nan, np.inf, 2.0, -np.inf]),
           np.array([1.0, 1.0, 1.0, 1.0, -1.0, 1.0]))  # fmt: skip
    for k, mu in ((K, MU), odd, (K.astype(int), MU)):
        ref = ref_method(k, mu)
        same(method(k, mu), ref)
        with np.errstate(all="ignore"):
            same(traced_value(lambda m: method(k, m), mu), ref)
    same(traced_value(lambda m, l: method(K + 1, m, loc=l), MU, 1.0), ref_method(K + 1, MU, loc=1))
    check_grads(lambda m: method(K, m), (MU,), order=2)
    np.testing.assert_array_equal(cr.vmap(lambda m: method(K, m))(MU[None]), ref[None])
    if jax is not None:
        theirs = jax_grads("stats", _jax_stats_specs)["poisson", kind]
        np.testing.assert_allclose(cr_grad(lambda m: method(K, m), (MU,), 0), theirs, rtol=1e-9)


def test_poisson_logpmf_in_k_is_the_formula():
    np.testing.assert_allclose(cr.grad(cs.poisson.logpmf)(3.0, 2.0),
                               np.log(2.0) - sc.digamma(4.0), rtol=1e-14)  # fmt: skip


MEAN = np.array([0.3, -0.5, 1.0])
_M = RNG.normal(size=(3, 3))
COV = _M @ _M.T + 3 * np.eye(3)
XS = RNG.normal(size=(4, 3))


def sym(c):
    return (c + cnp.swapaxes(c, -1, -2)) / 2


@pytest.mark.parametrize("x,mean,cov", [
    (XS, MEAN, COV), (XS[0], MEAN, COV), (XS, MEAN, np.diag(COV)), (XS, None, COV),
    (XS[:, 0], None, 2.0), (1.5, 0.5, 2.0), (XS[:, :2], MEAN[:2], 1.5),
    (XS.reshape(2, 2, 3), MEAN, COV),
])  # fmt: skip
def test_multivariate_normal_values(x, mean, cov):
    for kind in ("logpdf", "pdf"):
        ref = getattr(ss.multivariate_normal, kind)(x, mean, cov)
        f = getattr(cs.multivariate_normal, kind)
        same(f(x, mean, cov), ref)
        same(traced_value(lambda x: f(x, mean, cov), x), ref)
        if mean is not None:
            same(traced_value(lambda m, c: f(x, m, c), mean, cov), ref)


def test_multivariate_normal_allow_singular():
    cov = np.diag([1.0, 2.0, 0.0])
    x = np.stack([XS[0], np.array([0.1, 0.2, MEAN[2]])])
    for kind in ("logpdf", "pdf"):
        f = lambda x: getattr(cs.multivariate_normal, kind)(x, MEAN, cov, allow_singular=True)
        same(traced_value(f, x), getattr(ss.multivariate_normal, kind)(x, MEAN, cov,
                                                                       allow_singular=True))


def test_multivariate_normal_derivatives():
    f = lambda x, m, c: cs.multivariate_normal.logpdf(x, m, sym(c))
    check_grads(f, (XS, MEAN, COV), order=2)
    check_grads(lambda x, m, c: cs.multivariate_normal.pdf(x, m, sym(c)), (XS[0], MEAN, COV),
                order=2)  # fmt: skip
    # the cov gradient is the symmetric one: -(Σ⁻¹ - ααᵀ)/2
    g = cr.grad(lambda c: cs.multivariate_normal.logpdf(XS[0], MEAN, c))(COV)
    alpha = np.linalg.solve(COV, XS[0] - MEAN)
    np.testing.assert_allclose(g, -0.5 * (np.linalg.inv(COV) - np.outer(alpha, alpha)),
                               rtol=1e-12)  # fmt: skip
    if jax is not None:
        assert_grads_close(cr_grad(f, (XS, MEAN, COV), (0, 1, 2)),
                           jax_grads("stats", _jax_stats_specs)["mvn"], rtol=1e-10)  # fmt: skip


def test_multivariate_normal_vmap_eval_shape_and_cdf():
    f = cs.multivariate_normal.logpdf
    same(cr.vmap(lambda x: f(x, MEAN, COV))(XS), ss.multivariate_normal.logpdf(XS, MEAN, COV))
    means = XS + 1.0  # a batched mean and cov: SciPy once per example
    covs = np.stack([COV * (1 + k) for k in range(4)])
    got = cr.vmap(lambda m, c: f(XS[0], m, c))(means, covs)
    same(got, np.stack([ss.multivariate_normal.logpdf(XS[0], means[k], covs[k])
                        for k in range(4)]))  # fmt: skip
    g = cr.vmap(cr.grad(lambda m, c: f(XS[0], m, c)))(means, covs)
    np.testing.assert_allclose(g, np.stack([np.linalg.solve(covs[k], XS[0] - means[k])
                                            for k in range(4)]), rtol=1e-12)  # fmt: skip
    s = cr.eval_shape(lambda x: f(x, MEAN, COV), XS.astype(np.float32))
    assert (s.shape, s.dtype) == ((4,), np.float64)
    plain = cs.multivariate_normal.cdf(np.zeros(2), np.zeros(2), np.eye(2))
    assert abs(plain - 0.25) < 1e-5
    with pytest.raises(NotImplementedError, match="multivariate_normal.cdf"):
        cr.grad(lambda x: cs.multivariate_normal.cdf(x, np.zeros(2), np.eye(2)))(np.zeros(2))


# --- linalg --------------------------------------------------------------------------------------

N = 3
TRI = RNG.normal(size=(N, N)) + 3 * np.eye(N)
RHS = RNG.normal(size=(N, 2))
SPD = COV


@pytest.mark.parametrize("unit", [False, True])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, 1, "C"])
def test_solve_triangular(trans, lower, unit):
    kw = dict(trans=trans, lower=lower, unit_diagonal=unit)
    f = lambda a, b: cl.solve_triangular(a, b, **kw)
    for b in (RHS, RHS[:, 0]):
        ref = sl.solve_triangular(TRI, b, **kw)
        same(f(TRI, b), ref)
        same(traced_value(f, TRI, b), ref)
        check_grads(f, (TRI, b), order=2)
    if jax is not None and trans != "C":
        theirs = jax_grads("linalg", _jax_linalg_specs)[trans, lower, unit]
        assert_grads_close(cr_grad(f, (TRI, RHS), (0, 1)), theirs, rtol=1e-11, atol=1e-14)


def _jax_linalg_specs():
    def st(**kw):
        return lambda a, b: jsl.solve_triangular(a, b, **kw)

    out = {(trans, lower, unit): (st(trans=trans, lower=lower, unit_diagonal=unit), (TRI, RHS),
                                  (0, 1))
           for trans in (0, 1) for lower in (True, False) for unit in (False, True)}  # fmt: skip
    out["expm"] = (lambda a: jsl.expm(a) * EXPM_W, (EXPM_A,), 0)
    return out


def test_solve_triangular_complex_and_batched():
    a = TRI + 1j * np.tril(RNG.normal(size=(N, N)))
    b = RHS + 1j * RNG.normal(size=RHS.shape)
    for trans in (0, 1, 2):
        f = lambda a, b: cl.solve_triangular(a, b, trans=trans, lower=True)
        same(traced_value(f, a, b), sl.solve_triangular(a, b, trans=trans, lower=True))
        check_grads(f, (a, b), order=1)
    batch = np.stack([TRI, TRI.T, 2 * TRI])
    for b in (RHS[:, 0], np.stack([RHS] * 3)):  # a vector for every matrix; a matrix each
        ref = sl.solve_triangular(batch, b, lower=True)
        same(traced_value(lambda a: cl.solve_triangular(a, b, lower=True), batch), ref)
    rows = np.stack([sl.solve_triangular(batch[k], RHS[:, 0], lower=True) for k in range(3)])
    same(cr.vmap(lambda a: cl.solve_triangular(a, RHS[:, 0], lower=True))(batch), rows)
    s = cr.eval_shape(lambda a: cl.solve_triangular(a, RHS[:, 0]), TRI.astype(np.float32))
    assert (s.shape, s.dtype) == ((N,), np.float64)


@pytest.mark.parametrize("lower", [True, False])
def test_cholesky_cho_factor_cho_solve(lower):
    same(traced_value(lambda a: cl.cholesky(a, lower=lower), SPD), sl.cholesky(SPD, lower=lower))
    c_ref, _ = sl.cho_factor(SPD, lower=lower)
    same(traced_value(lambda a: cl.cho_factor(a, lower=lower)[0], SPD), c_ref)
    check_grads(lambda a: cl.cholesky(sym(a), lower=lower), (SPD,), order=2)
    g = cr.grad(lambda a: cnp.sum(cl.cholesky(a, lower=lower) ** 2))(SPD)
    core = cr.grad(lambda a: cnp.sum(cnp.linalg.cholesky(a) ** 2))(SPD)  # chainrule's own rule
    np.testing.assert_allclose(g, core, rtol=1e-12)
    for b in (RHS, RHS[:, 0]):
        ref = sl.cho_solve((c_ref, lower), b)
        f = lambda c, b: cl.cho_solve((c, lower), b)
        same(traced_value(f, c_ref, b), ref)
        check_grads(f, (c_ref, b), order=2)
        check_grads(lambda a, b: cl.cho_solve(cl.cho_factor(sym(a), lower=lower), b), (SPD, b),
                    order=2)  # fmt: skip
    # through the factorisation, the gradient is that of solve(a, b)
    ours = cr.grad(lambda a: cnp.sum(cl.cho_solve(cl.cho_factor(sym(a), lower=lower), RHS)))(SPD)
    direct = cr.grad(lambda a: cnp.sum(cnp.linalg.solve(sym(a), RHS)))(SPD)
    np.testing.assert_allclose(ours, direct, rtol=1e-10)
    batch = np.stack([SPD, 2 * SPD])
    same(cr.vmap(lambda a: cl.cholesky(a, lower=lower))(batch), sl.cholesky(batch, lower=lower))
    cs_ = np.stack([c_ref, sl.cho_factor(2 * SPD, lower=lower)[0]])
    same(cr.vmap(lambda c: cl.cho_solve((c, lower), RHS[:, 0]))(cs_),
         np.stack([sl.cho_solve((c, lower), RHS[:, 0]) for c in cs_]))  # fmt: skip


EXPM_A, EXPM_E, EXPM_W = RNG.normal(size=(3, N, N)) * [[[0.5]], [[1.0]], [[1.0]]]


def test_expm_and_frechet():
    a, e, w = EXPM_A, EXPM_E, EXPM_W
    same(cl.expm(a), sl.expm(a))
    same(traced_value(cl.expm, a), sl.expm(a))
    check_grads(cl.expm, (a,), order=2)
    f = lambda a, e: cl.expm_frechet(a, e, compute_expm=False)
    same(traced_value(f, a, e), sl.expm_frechet(a, e, compute_expm=False))
    check_grads(f, (a, e), order=2)
    # the VJP is the Fréchet derivative at the transpose: <W, L(A, E)> = <L(Aᵀ, W), E>
    lhs = np.sum(w * sl.expm_frechet(a, e, compute_expm=False))
    rhs = np.sum(sl.expm_frechet(a.T, w, compute_expm=False) * e)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)
    np.testing.assert_allclose(cr.jvp(cl.expm, (a,), (e,))[1],
                               sl.expm_frechet(a, e, compute_expm=False), rtol=1e-14)  # fmt: skip
    np.testing.assert_allclose(cr.vjp(cl.expm, a)[1](w)[0],
                               sl.expm_frechet(a.T, w, compute_expm=False), rtol=1e-14)  # fmt: skip
    if jax is not None:
        np.testing.assert_allclose(cr_grad(lambda a: cl.expm(a) * w, (a,), 0),
                                   jax_grads("linalg", _jax_linalg_specs)["expm"], rtol=1e-10)
    batch = np.stack([a, 2 * a, a.T])
    same(traced_value(cl.expm, batch), sl.expm(batch))
    for small in (np.array(0.5), np.array([0.5]), np.array([[0.5]]), np.diag([0.5, 1.0])):
        same(traced_value(cl.expm, small), sl.expm(small))
    same(cr.vmap(cl.expm)(batch), np.stack([sl.expm(m) for m in batch]))
    s = cr.eval_shape(cl.expm, batch.astype(np.float32))
    assert (s.shape, s.dtype) == (batch.shape, sl.expm(batch.astype(np.float32)).dtype)


def test_sqrtm_and_sylvester():
    a = SPD + RNG.normal(size=(N, N)) * 0.3  # nonsymmetric, with a real square root
    same(traced_value(cl.sqrtm, a), sl.sqrtm(a))
    check_grads(cl.sqrtm, (a,), order=2)
    x = sl.sqrtm(SPD)  # d tr(sqrt(A)) = tr(X⁻¹ dA)/2
    np.testing.assert_allclose(cr.grad(lambda a: cnp.trace(cl.sqrtm(a)))(SPD),
                               0.5 * np.linalg.inv(x).T, rtol=1e-10)  # fmt: skip
    q = RNG.normal(size=(N, N))
    same(traced_value(cl.solve_sylvester, SPD, a, q), sl.solve_sylvester(SPD, a, q))
    check_grads(cl.solve_sylvester, (SPD, a, q), order=2)
    batch = np.stack([SPD, a])
    same(cr.vmap(cl.sqrtm)(batch), np.stack([sl.sqrtm(m) for m in batch]))
    with pytest.raises(ValueError, match="no real square root"):
        cr.grad(lambda a: cnp.sum(cl.sqrtm(a)))(np.diag([-1.0, 1.0]))
    z = np.diag([-1.0, 1.0]).astype(complex)  # a complex matrix gets its complex root
    same(traced_value(cl.sqrtm, z), sl.sqrtm(z))


# --- packaging ---------------------------------------------------------------------------------


def test_subpackages_load_on_access():
    import chainrule.scipy as crs

    assert crs.special is csp and crs.stats is cs and crs.linalg is cl
    with pytest.raises(AttributeError):
        crs.optimize_nothing  # noqa: B018


def test_import_chainrule_does_not_import_scipy():
    code = ("import sys, chainrule, chainrule.scipy; "
            "assert not [m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')], "
            "'scipy imported'; assert 'chainrule.scipy.special' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)
