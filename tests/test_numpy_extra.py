"""The functions of `chainrule/numpy/_extra.py` against NumPy, finite differences and JAX.

Every case is one function written once against a namespace (`np`, `cnp` or `jnp`):
- on plain data `cnp` returns exactly NumPy's result (values, dtype, shape);
- on traced values (inside `cr.vjp`) it returns the same values (bit for bit where the
  composition does NumPy's arithmetic, to rounding where it cannot);
- its derivatives of order 2 in forward and reverse mode match central differences
  (`check_grads`), and its gradient matches `jax.grad` of the same code with `jax.numpy`
  (x64) where JAX has the function;
- it batches under `cr.vmap` (the stacked per-example results) and evaluates abstractly under
  `cr.eval_shape` (NumPy's shape and dtype).
"""

from __future__ import annotations

import inspect
import warnings
import zlib
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

warnings.filterwarnings("ignore", category=DeprecationWarning)  # 2-vector cross products


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def R(*shape, seed=0, lo=None, hi=None):
    r = rng_for(shape, seed)
    if lo is not None:
        return r.uniform(lo, hi, size=shape)
    return r.normal(size=shape)


def distinct(*shape, seed=0):
    """Well-separated values (no ties, gaps of at least 0.1): sorting is smooth nearby."""
    n = int(np.prod(shape))
    return (rng_for("d", shape, seed).permutation(n) * 0.37 + 0.1).reshape(shape) - n * 0.15


def with_nans(x, where):
    x = np.array(x, float)
    x[where] = np.nan
    return x


@dataclass
class Case:
    id: str
    f: Callable  # f(xp, *args)
    args: tuple
    jax: bool = True  # jax.numpy has the function with the same semantics
    grad: bool = True  # differentiable: check_grads
    vmap: bool = True  # batches to the stacked per-example results
    exact: bool = True  # traced values equal NumPy's bit for bit
    vmap_args: tuple = field(default_factory=tuple)  # which args get a batch axis (default: 0)
    rtol: float | None = None


X45 = R(4, 5)
D345 = distinct(3, 4, 5)
XP = np.array([-1.0, -0.3, 0.2, 0.9, 1.5, 2.2])
FP = R(6, seed=3)
XQ = np.array([-2.0, -0.7, 0.05, 0.5, 1.2, 1.9, 3.0])
NANS = with_nans(distinct(3, 6), (np.array([0, 0, 1, 2, 2, 2, 2]), np.array([1, 4, 2, 0, 1, 3, 5])))

CASES = [
    Case("diff", lambda xp, a: xp.diff(a, 2, prepend=0.5, append=xp.array([1.0, 2.0])), (R(7),)),
    Case("diff_axis0", lambda xp, a: xp.diff(a, axis=0), (X45,)),
    Case("ediff1d", lambda xp, a: xp.ediff1d(a, to_end=xp.array([1.0]), to_begin=2.0), (X45,)),
    Case("gradient", lambda xp, a: xp.gradient(a)[1], (X45,)),
    Case("gradient_spacing", lambda xp, a: xp.gradient(a, 0.3, axis=1), (X45,)),
    Case("gradient_edge2", lambda xp, a: xp.gradient(a, edge_order=2, axis=0), (X45,), jax=False),
    Case("gradient_coords", lambda xp, a, c: xp.gradient(a, c, axis=-1),
         (R(3, 5), np.cumsum(R(5, lo=0.5, hi=1.5))), exact=False),
    Case("gradient_coords_edge2", lambda xp, a, c: xp.gradient(a, c, edge_order=2),
         (R(5), np.cumsum(R(5, lo=0.5, hi=1.5))), exact=False, jax=False),
    Case("cross", lambda xp, a, b: xp.cross(a, b), (R(4, 3), R(3, seed=1))),
    Case("cross_axes", lambda xp, a, b: xp.cross(a, b, axisa=0, axisc=0), (R(3, 4), R(4, 3))),
    Case("cross_2d", lambda xp, a, b: xp.cross(a, b), (R(4, 2), R(2, seed=1)), jax=False),
    Case("cross_2_3", lambda xp, a, b: xp.cross(a, b), (R(4, 2), R(3, seed=1)), jax=False),
    Case("interp", lambda xp, x, a, b: xp.interp(x, a, b), (XQ, XP, FP), exact=False),
    Case("interp_left_right", lambda xp, x, a, b: xp.interp(x, a, b, left=-3.0, right=4.0),
         (XQ, XP, FP), exact=False),
    Case("interp_period", lambda xp, x, a, b: xp.interp(x, a, b, period=4.3), (XQ, XP, FP),
         exact=False),
    Case("interp_complex", lambda xp, x, a, b: xp.interp(x, a, b * (1 + 2j)), (XQ, XP, FP),
         exact=False, jax=False),
    Case("trapezoid", lambda xp, y: xp.trapezoid(y, axis=0), (X45,)),
    Case("trapezoid_x", lambda xp, y, x: xp.trapezoid(y, x), (X45, np.cumsum(R(5, lo=0.1, hi=1)))),
    Case("trapezoid_dx", lambda xp, y, d: xp.trapezoid(y, dx=d), (X45, np.array(0.3)),
         exact=False),
    Case("polyval", lambda xp, p, x: xp.polyval(p, x), (R(4), X45)),
    Case("polyadd", lambda xp, a, b: xp.polyadd(a, b), (R(4), R(2, seed=1))),
    Case("polysub", lambda xp, a, b: xp.polysub(a, b), (R(2), R(4, seed=1))),
    Case("polymul", lambda xp, a, b: xp.polymul(a, b), (R(3), R(4, seed=1)), exact=False),
    Case("polyder", lambda xp, p: xp.polyder(p, 2), (R(5),)),
    Case("polyint", lambda xp, p, k: xp.polyint(p, 2, k), (R(5), R(2, seed=1))),
    Case("polydiv", lambda xp, u, v: xp.polydiv(u, v)[0], (R(5), R(3, seed=1) + 2), exact=False,
         jax=False, vmap=False),
    Case("poly", lambda xp, z: xp.poly(z), (R(4),), exact=False),
    Case("polyfit", lambda xp, x, y: xp.polyfit(x, y, 2), (np.linspace(0, 1, 9), R(9)),
         exact=False, vmap=False, jax=False),  # jax.grad of jnp.polyfit gives a NaN here
    Case("median", lambda xp, a: xp.median(a), (D345,)),
    Case("median_axis", lambda xp, a: xp.median(a, axis=(0, 2), keepdims=True), (D345,)),
    Case("median_odd", lambda xp, a: xp.median(a, axis=1), (distinct(4, 5),)),
    Case("quantile", lambda xp, a: xp.quantile(a, xp.array([0.1, 0.5, 0.83]), axis=1),
         (D345,)),
    Case("quantile_q", lambda xp, a, q: xp.quantile(a, q, axis=-1), (D345, np.array([0.3, 0.71]))),
    Case("percentile_keepdims", lambda xp, a: xp.percentile(a, 37.0, axis=0, keepdims=True),
         (D345,)),
    *[Case(f"quantile_{m}", lambda xp, a, m=m: xp.quantile(a, xp.array([0.13, 0.5, 0.9]),
                                                           axis=2, method=m),
           (D345,), jax=m in ("linear", "lower", "higher", "midpoint", "nearest"))
      for m in ("lower", "higher", "nearest", "midpoint", "inverted_cdf",
                "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
                "hazen", "weibull", "median_unbiased", "normal_unbiased")],
    Case("nanmedian", lambda xp, a: xp.nanmedian(a, axis=1), (NANS,)),
    Case("nanquantile", lambda xp, a: xp.nanquantile(a, xp.array([0.2, 0.6]), axis=1),
         (NANS,)),
    Case("nanpercentile_lower", lambda xp, a: xp.nanpercentile(a, 70.0, axis=1, method="lower"),
         (NANS,)),
    Case("nansum", lambda xp, a: xp.nansum(a, axis=1, keepdims=True), (NANS,)),
    Case("nanprod", lambda xp, a: xp.nanprod(a, axis=0), (NANS,)),
    Case("nanmean", lambda xp, a: xp.nanmean(a, axis=1), (NANS,)),
    Case("nanvar", lambda xp, a: xp.nanvar(a, axis=1, ddof=1), (NANS,), exact=False),
    Case("nanstd", lambda xp, a: xp.nanstd(a), (NANS,), exact=False),
    Case("nanmax", lambda xp, a: xp.nanmax(a, axis=1), (NANS,)),
    Case("nanmin", lambda xp, a: xp.nanmin(a, axis=0), (NANS,)),
    Case("nancumsum", lambda xp, a: xp.nancumsum(a, axis=1), (NANS,)),
    Case("nancumprod", lambda xp, a: xp.nancumprod(a), (NANS,)),
    Case("nan_to_num", lambda xp, b: xp.nan_to_num(
        xp.array([np.nan, np.inf, -np.inf, 1.0, -2.0]) + b, nan=1.5, posinf=2.0, neginf=-3.0),
        (R(5, lo=1, hi=2),)),
    Case("nan_to_num_traced_fill", lambda xp, b, c: xp.nan_to_num(
        xp.array([np.nan, np.inf, -np.inf, 1.0, -2.0]) + b, nan=c, posinf=c * 2), (R(5, lo=1, hi=2),
                                                                                  np.array(0.7))),
    Case("append", lambda xp, a: xp.append(a, xp.ones((1, 5)), axis=0), (X45,)),
    Case("append_flat", lambda xp, a, b: xp.append(a, b), (X45, R(3))),
    Case("insert", lambda xp, a, v: xp.insert(a, xp.array([1, 3, 3]), v), (R(7), R(3, seed=1))),
    Case("insert_axis", lambda xp, a, v: xp.insert(a, 2, v, axis=1), (X45, R(4, seed=1))),
    Case("delete", lambda xp, a: xp.delete(a, np.array([0, 2]), axis=1), (X45,)),
    Case("select", lambda xp, a: xp.select([a < -0.5, a > 0.5], [a ** 2, 3 * a], default=-1.0),
         (X45,)),
    Case("piecewise", lambda xp, a: xp.piecewise(a, [a < 0, a >= 0],
                                                 [lambda t: -t, lambda t: t ** 2]), (X45,)),
    Case("partition", lambda xp, a: xp.partition(a, 2, axis=1), (distinct(4, 5),), jax=False,
         vmap=False),
    Case("rollaxis", lambda xp, a: xp.rollaxis(a, 2, 1), (D345,), jax=False),
    Case("dsplit", lambda xp, a: xp.dsplit(a, [1, 3])[1], (D345,), jax=False),
    Case("linspace", lambda xp, a, b: xp.linspace(a, b, 7), (np.array(0.3), np.array(2.9))),
    Case("linspace_arrays", lambda xp, a, b: xp.linspace(a, b, 5, endpoint=False, axis=1),
         (R(2), R(3, 2, seed=1))),
    Case("logspace", lambda xp, a, b: xp.logspace(a, b, 4, base=2.0), (np.array(0.3),
                                                                       np.array(2.9))),
    Case("geomspace", lambda xp, a, b: xp.geomspace(a, b, 5), (np.array([-1.0, 2.0]),
                                                               np.array([-8.0, 4.0]))),
    Case("ldexp", lambda xp, a: xp.ldexp(a, xp.array([3, -2, 0, 5])), (R(4),)),
    Case("frexp", lambda xp, a: xp.frexp(a)[0], (np.array([12.0, -0.3, 0.7, 5e-3]),)),
    Case("average", lambda xp, a, w: xp.average(a, axis=1, weights=w), (X45, R(5, lo=0.5, hi=1))),
    Case("average_returned", lambda xp, a, w: xp.average(a, weights=w, returned=True)[0],
         (X45, R(4, 5, lo=0.5, hi=1))),
    Case("ptp", lambda xp, a: xp.ptp(a, axis=0), (X45,)),
    Case("cov", lambda xp, a: xp.cov(a), (X45,), exact=False),
    Case("cov_weights", lambda xp, a, w: xp.cov(a, aweights=w, ddof=1), (X45, R(5, lo=0.5, hi=1)),
         exact=False),
    Case("cov_y_rowvar", lambda xp, a, b: xp.cov(a, b, rowvar=False), (X45, R(4, 2)),
         exact=False),
    Case("corrcoef", lambda xp, a: xp.corrcoef(a)[0, 1:], (X45,), exact=False),
    Case("vander", lambda xp, a: xp.vander(a, 4), (R(5),)),
    Case("unwrap", lambda xp, a: xp.unwrap(a), (np.cumsum(R(9, lo=0, hi=3)),)),
    Case("copysign", lambda xp, a, b: xp.copysign(a, b), (R(5), R(5, seed=1)), grad=True),
    Case("float_power", lambda xp, a: xp.float_power(a, 3.0), (R(5),)),
    Case("angle", lambda xp, a, b: xp.angle(a + 1j * b), (R(5), R(5, seed=1))),
    Case("vecdot", lambda xp, a, b: xp.vecdot(a, b), (X45, R(5)), exact=False),
    Case("matvec", lambda xp, a, b: xp.matvec(a, b), (D345, R(5)), exact=False, jax=False),
    Case("vecmat", lambda xp, a, b: xp.vecmat(a, b), (R(4), D345), exact=False, jax=False),
    Case("diagflat", lambda xp, a: xp.diagflat(a, -1), (R(2, 2),)),
    Case("resize", lambda xp, a: xp.resize(a, (3, 7)), (X45,)),
    Case("block", lambda xp, a, b: xp.block([[a, b], [b, a]]), (R(2, 2), R(2, 2, seed=1))),
    Case("unstack", lambda xp, a: xp.unstack(a, axis=1)[2], (D345,), jax=False),
    Case("cumulative_sum", lambda xp, a: xp.cumulative_sum(a, axis=1, include_initial=True),
         (X45,)),
    Case("cumulative_prod", lambda xp, a: xp.cumulative_prod(a), (R(5),), jax=False),
    Case("choose", lambda xp, a, b: xp.choose(np.array([0, 1, 1, 0, 1]), [a, b], mode="clip"),
         (R(5), R(5, seed=1))),
    Case("compress", lambda xp, a: xp.compress(np.array([True, False, True]), a, axis=1),
         (X45,), jax=False),
    Case("apply_along_axis", lambda xp, a: xp.apply_along_axis(lambda v: v[1:] * v[:-1], 1, a),
         (X45,)),
    Case("apply_over_axes", lambda xp, a: xp.apply_over_axes(xp.sum, a, [0, 2]), (D345,),
         jax=False),
    Case("modf", lambda xp, a: xp.modf(a)[0], (R(5) * 3,), jax=False),
    Case("heaviside", lambda xp, b: xp.heaviside(xp.array([-1.0, 0.0, 2.0]), b), (np.array(0.5),)),
    Case("sort_complex", lambda xp, a: xp.real(xp.sort_complex(a)), (distinct(6),), jax=False),
    Case("unique", lambda xp, a: xp.unique(a), (np.array([3.0, 1.0, 3.0, 2.5]),), jax=False,
         vmap=False, grad=False),
    Case("setdiff1d", lambda xp, a, b: xp.setdiff1d(a, b), (np.array([3.0, 1.0, 2.5]),
                                                              np.array([1.0])),
         jax=False, vmap=False, grad=False),
    Case("trim_zeros", lambda xp, a: xp.trim_zeros(a * xp.array([0.0, 1.0, 1.0, 0.0])), (R(4),),
         jax=False, vmap=False),
    Case("r_", lambda xp, a: xp.r_[a, 0.5, 1:3, a[:2]], (R(3),), jax=False),
    Case("c_", lambda xp, a: xp.c_[a, a ** 2], (R(3),), jax=False),
    Case("add_reduce", lambda xp, a: xp.add.reduce(a, axis=1), (X45,), jax=False),
    Case("hypot_reduce", lambda xp, a: xp.hypot.reduce(a, axis=0), (X45,), jax=False,
         exact=False),
    Case("maximum_accumulate", lambda xp, a: xp.maximum.accumulate(a, axis=1), (X45,),
         jax=False),
    Case("subtract_outer", lambda xp, a, b: xp.subtract.outer(a, b), (R(3), R(2, 2)), jax=False),
    Case("add_reduceat", lambda xp, a: xp.add.reduceat(a, [0, 3, 1], axis=1), (X45,), jax=False,
         exact=False),
]
BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES)


def traced(f, *args):
    """f's value computed on traced arguments (inside cr.vjp)."""
    out, _ = cr.vjp(f, *args)
    return out


def same(ref, got, exact, rtol=1e-12):
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape and ref.dtype == got.dtype, (ref.shape, ref.dtype, got.shape,
                                                              got.dtype)
    if exact:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_on_plain_and_traced_data_are_numpys(case):
    ref = case.f(np, *case.args)
    plain = case.f(cnp, *case.args)
    same(ref, plain, exact=True)
    assert type(np.asarray(plain)) is np.ndarray
    same(ref, traced(lambda *a: case.f(cnp, *a), *case.args), case.exact)


GRAD_CASES = [c for c in CASES if c.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: c.id)
def test_derivatives_of_order_two_match_finite_differences(case):
    check_grads(lambda *a: case.f(cnp, *a), case.args, order=2, modes=("fwd", "rev"))


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _real_loss(out, w, xp):
    if out.dtype.kind == "c":
        return xp.sum(xp.real(out) * w) + xp.sum(xp.imag(out) * w[::-1])
    return xp.sum(out * w)


@pytest.mark.parametrize("case", [c for c in CASES if c.jax], ids=lambda c: c.id)
def test_gradients_match_jax(case, jax_x64):
    jnp = jax_x64.numpy
    out = np.asarray(case.f(np, *case.args))
    w = R(*out.shape, seed=7)
    argnums = tuple(range(len(case.args)))
    ours = cr.grad(lambda *a: _real_loss(case.f(cnp, *a), w, cnp), argnums)(*case.args)
    theirs = jax_x64.jit(jax_x64.grad(lambda *a: _real_loss(case.f(jnp, *a), w, jnp), argnums))(
        *[jnp.asarray(a) for a in case.args])
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o, np.asarray(t), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if c.vmap], ids=lambda c: c.id)
def test_vmap_gives_the_per_example_results(case):
    batched = tuple(np.stack([a * (1 + 0.1 * k) for k in range(3)]) for a in case.args)
    got = cr.vmap(lambda *a: case.f(cnp, *a))(*batched)
    want = np.stack([case.f(np, *[b[k] for b in batched]) for k in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in CASES if c.vmap], ids=lambda c: c.id)
def test_eval_shape_gives_numpys_shape_and_dtype(case):
    out = cr.eval_shape(lambda *a: case.f(cnp, *a), *case.args)
    ref = np.asarray(case.f(np, *case.args))
    assert (tuple(out.shape), np.dtype(out.dtype)) == (ref.shape, ref.dtype)


def test_jvp_of_a_quantile_in_q_is_the_slope_between_order_statistics():
    x = np.array([4.0, 1.0, 3.0, 2.0])
    _, t = cr.jvp(lambda q: cnp.quantile(x, q), (0.5,), (1.0,))
    assert t == pytest.approx(3.0)  # (n - 1) * (x(3) - x(2))


def test_jvp_of_linspace_and_geomspace_in_the_endpoints():
    _, t = cr.jvp(lambda b: cnp.linspace(0.0, b, 5), (2.0,), (1.0,))
    np.testing.assert_allclose(t, np.linspace(0, 1, 5))
    y, t = cr.jvp(lambda a: cnp.geomspace(a, 8.0, 4), (1.0,), (1.0,))
    np.testing.assert_allclose(y, [1, 2, 4, 8])
    np.testing.assert_allclose(t, [1, 2 / 3 * 2, 1 / 3 * 4, 0], atol=1e-12)


# --- exactness on plain data, signatures, dispatch -------------------------------------------

PUBLIC = sorted(n for n in cnp._extra.__all__ if callable(getattr(cnp, n))
                and getattr(getattr(cnp, n), "__module__", "") == "chainrule.numpy._extra")


@pytest.mark.parametrize("name", PUBLIC)
def test_signatures_are_numpys(name):
    ours, theirs = getattr(cnp, name), getattr(np, name)
    if isinstance(theirs, np.ufunc):
        assert list(inspect.signature(ours).parameters)[:theirs.nin] == \
            [p for p in inspect.signature(ours).parameters][:theirs.nin]
        return
    p_ours = inspect.signature(ours).parameters
    p_theirs = inspect.signature(theirs).parameters
    assert [(p.name, p.kind) for p in p_ours.values() if p.name != "like"] == \
        [(p.name, p.kind) for p in p_theirs.values() if p.name != "like"]
    for n, p in p_ours.items():
        assert repr(p.default) == repr(p_theirs[n].default), n
    assert ours.__doc__ and ">>>" in ours.__doc__
    assert "return" in ours.__annotations__


def test_numpy_functions_dispatch_to_chainrule_on_traced_values():
    x = distinct(5)
    g = cr.grad(lambda a: np.median(a) + np.nanmean(a) + np.ptp(a))(x)
    np.testing.assert_allclose(g, cr.grad(lambda a: cnp.median(a) + cnp.nanmean(a) +
                                          cnp.ptp(a))(x))
    assert cr.grad(lambda a: np.sum(np.linspace(0.0, a, 3)))(2.0) == pytest.approx(1.5)


def test_tensors_flow_through_and_backward():
    t = cr.tensor(distinct(6), requires_grad=True)
    np.percentile(t, 30.0).backward()
    assert isinstance(np.median(t), cr.Tensor)
    np.testing.assert_allclose(t.grad, cr.grad(lambda a: cnp.percentile(a, 30.0))(distinct(6)))


def test_plain_data_keeps_numpys_scalar_and_dtype_results():
    x32 = np.arange(5, dtype=np.float32)
    for f in (lambda xp: xp.median(x32), lambda xp: xp.quantile(x32, 0.3),
              lambda xp: xp.nanmean(x32), lambda xp: xp.interp(1.5, x32, x32),
              lambda xp: xp.linspace(x32[0], x32[3], 4), lambda xp: xp.frexp(x32)[1],
              lambda xp: xp.trapezoid(x32), lambda xp: xp.average(x32, weights=x32)):
        a, b = f(np), f(cnp)
        assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)
    x = distinct(5).astype(np.float32)
    assert traced(lambda a: cnp.quantile(a, 0.3), x).dtype == np.float32  # weak q


# --- edge cases of individual functions ------------------------------------------------------


def test_frexp_is_exact_for_every_kind_of_float():
    vals = np.array([12.0, -0.3, 0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e308, 0.5, 1.0,
                     2.0 ** -1022, 3.0 * 2.0 ** -1040, np.nextafter(1.0, 0), np.nextafter(2, 3)])
    for dt in (np.float64, np.float32, np.float16):
        with np.errstate(over="ignore"):
            v = vals.astype(dt)
        m, e = traced(cnp.frexp, v)
        rm, re = np.frexp(v)
        np.testing.assert_array_equal(m, rm)
        np.testing.assert_array_equal(e, re)
        assert e.dtype == re.dtype and m.dtype == rm.dtype
    g = cr.grad(lambda x: cnp.sum(cnp.frexp(x)[0]))(np.array([12.0, 0.3]))
    np.testing.assert_array_equal(g, [1 / 16, 2.0])


def test_ldexp_is_exact_without_overflowing_intermediates():
    x = np.array([0.5, 3.0, 2.0 ** -1000, 1.5])
    k = np.array([1024, -1074, 1000, 0])
    np.testing.assert_array_equal(traced(lambda a: cnp.ldexp(a, k), x), np.ldexp(x, k))
    np.testing.assert_array_equal(cr.grad(lambda a: cnp.sum(cnp.ldexp(a, 3)))(x), 8.0)
    with pytest.raises(TypeError):
        traced(lambda a: cnp.ldexp(a, 1.5), x)


def test_convolve_and_correlate_every_mode_and_length_and_complex():
    rng = rng_for("conv")
    for n1 in (1, 2, 5):
        for n2 in (1, 3, 6):
            a = rng.normal(size=n1) + 1j * rng.normal(size=n1)
            v = rng.normal(size=n2) + 1j * rng.normal(size=n2)
            for mode in ("full", "same", "valid"):
                for f in (np.convolve, np.correlate):
                    got = traced(lambda x, y, f=f, m=mode: getattr(cnp, f.__name__)(x, y, m),
                                 a, v)
                    np.testing.assert_allclose(got, f(a, v, mode), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="mode"):
        traced(lambda a: cnp.convolve(a, a, "bad"), np.ones(3))


def test_quantile_every_method_axis_and_nan_layout_is_numpys():
    z = np.round(R(3, 4, 5) * 2) / 2  # ties
    zn = z.copy()
    zn[0, 1, 2] = zn[1, :, 3] = np.nan
    zn[2, 2, :] = np.nan
    methods = ["linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf",
               "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf",
               "hazen", "weibull", "median_unbiased", "normal_unbiased"]
    q = np.array([0.0, 0.1, 0.5, 0.77, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for m in methods:
            for axis in (None, 1, (0, 2)):
                for data in (z, zn):
                    same(np.quantile(data, q, axis, method=m),
                         traced(lambda a: cnp.quantile(a, q, axis, method=m), data), True)
                    same(np.nanquantile(data, 0.3, axis, method=m, keepdims=True),
                         traced(lambda a: cnp.nanquantile(a, 0.3, axis, method=m,
                                                          keepdims=True), data), True)
            same(np.nanmedian(zn, axis=2), traced(lambda a: cnp.nanmedian(a, axis=2), zn), True)
            same(np.median(zn, axis=1), traced(lambda a: cnp.median(a, axis=1), zn), True)
    with pytest.raises(ValueError, match="range"):
        traced(lambda a: cnp.quantile(a, 1.5), z)
    with pytest.raises(ValueError, match="not a valid method"):
        traced(lambda a: cnp.quantile(a, 0.5, method="bogus"), z)


def test_nan_reductions_all_nan_slices_and_gradients():
    a = np.array([[np.nan, np.nan], [1.0, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in ("nanmean", "nanmax", "nanmin", "nanvar", "nanmedian"):
            f = getattr(cnp, name)
            same(getattr(np, name)(a, axis=1), traced(lambda x, f=f: f(x, axis=1), a), True)
            g = cr.grad(lambda x, f=f: cnp.nansum(f(x, axis=1)))(a)
            assert np.all(np.isfinite(g)) and g[0, 0] == 0 and g[1, 1] == 0
    with pytest.raises(ValueError, match="All-NaN"):
        cr.grad(lambda x: cnp.sum(x[cnp.nanargmax(x, axis=1)]))(a)
    b = np.array([[np.nan, 2.0, 1.0], [3.0, np.nan, 5.0]])
    np.testing.assert_array_equal(traced(lambda x: cnp.nanargmax(x, axis=1), b),
                                  np.nanargmax(b, axis=1))
    np.testing.assert_array_equal(traced(lambda x: cnp.nanargmin(x, axis=1), b),
                                  np.nanargmin(b, axis=1))


def test_partition_values_are_numpys_and_vmap_gives_a_valid_partition():
    x = np.round(R(6, 9) * 3)
    for kth in (0, 4, [2, 6], -1):
        same(np.partition(x, kth, axis=1), traced(lambda a: cnp.partition(a, kth, axis=1), x),
             True)
        same(np.argpartition(x, kth), traced(lambda a: cnp.argpartition(a, kth), x), True)
    p = cr.vmap(lambda a: cnp.partition(a, 3))(x)
    for row, ref in zip(p, x):  # under vmap: a sort, which is a partition
        assert np.all(row[:3] <= row[3]) and np.all(row[4:] >= row[3])
        assert row[3] == np.sort(ref)[3]
    g = cr.grad(lambda a: cnp.sum(cnp.partition(a, 2)[:3]))(distinct(6))
    assert g.sum() == 3 and set(np.flatnonzero(g)) == set(np.argsort(distinct(6))[:3])
    assert traced(lambda a: a.partition(2), x[0]).shape == (9,)  # the method, functional


def test_piecewise_without_values_uses_where():
    x = np.stack([np.linspace(-1, 1, 5), np.linspace(-2, 2, 5)])
    f = lambda a: cnp.piecewise(a, [a < 0, a >= 0], [lambda t: -t, lambda t: t ** 2])
    np.testing.assert_allclose(cr.vmap(f)(x), [np.piecewise(r, [r < 0, r >= 0],
                                                            [lambda t: -t, lambda t: t ** 2])
                                               for r in x])


def test_r_and_c_directives_and_complex_steps_match_numpy():
    x = R(3)
    for key in (lambda ns, a: ns.r_["0,2", a, a], lambda ns, a: ns.r_["0,2,0", a, a],
                lambda ns, a: ns.r_[a, 0:1:4j], lambda ns, a: ns.r_["-1", a[None], a[None]],
                lambda ns, a: ns.c_[a, np.arange(3.0)]):
        same(key(np, x), traced(lambda a, k=key: k(cnp, a), x), True)
        same(key(np, x), key(cnp, x), True)
    assert cr.grad(lambda a: cnp.sum(cnp.r_[a, a, 0.0]))(1.5) == 2.0


def test_ufunc_methods_match_numpy_and_at_updates_tensors_in_place():
    x = R(4, 5)
    for name, call in [("reduce", lambda u: u.reduce(x, axis=(0, 1))),
                       ("reduce_kd", lambda u: u.reduce(x, axis=None, keepdims=True)),
                       ("accumulate", lambda u: u.accumulate(x, axis=0)),
                       ("outer", lambda u: u.outer(x[0], x[1])),
                       ("reduceat", lambda u: u.reduceat(x[0], [0, 2, 2]))]:
        for uname in ("add", "multiply", "maximum", "arctan2", "logaddexp"):
            if uname == "arctan2" and name.startswith("reduce"):
                continue
            ref = call(getattr(np, uname))
            got = traced(lambda a, c=call, u=uname: c(getattr(cnp, u)) * 1.0 + 0 * a[0, 0], x)
            np.testing.assert_allclose(got, ref, rtol=1e-12, err_msg=f"{uname}.{name}")
    t = cr.tensor(np.zeros(4), requires_grad=True)
    y = t * 2.0
    cnp.add.at(y, [0, 0, 2], cr.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(y.detach().numpy(), [3.0, 0, 3.0, 0])
    (y * np.arange(4.0)).sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 2.0, 4.0, 6.0])
    with pytest.raises(TypeError, match="index_add"):
        cr.grad(lambda a: cnp.add.at(a, [0], 1.0))(x)
    u = np.ones(3)
    assert cnp.multiply.at(u, [0, 0], 3.0) is None and u[0] == 9.0


def test_insert_and_delete_accept_every_index_form():
    x = R(3, 4)
    for obj in (1, -1, [0, 2, 2], slice(0, 4, 2), np.array([True, False, True, False])):
        for axis in (None, 1):
            if isinstance(obj, np.ndarray) and axis is None:
                continue
            same(np.delete(x, obj, axis), traced(lambda a: cnp.delete(a, obj, axis), x), True)
            same(np.insert(x, obj, 7.5, axis), traced(lambda a: cnp.insert(a, obj, 7.5, axis),
                                                       x), True)
    same(np.insert(np.arange(4), 1, 2.7), traced(lambda v: cnp.insert(np.arange(4), 1, v), 2.7),
         True)  # values cast to arr's dtype, as NumPy does


def test_integer_valued_helpers_run_on_traced_values_without_gradient():
    x = np.array([0.5, -1.0, 0.0, 2.0, 2.0])
    bins = np.array([-1.0, 0.0, 1.0])
    batchable = [lambda ns, a: ns.count_nonzero(a, axis=0), lambda ns, a: ns.digitize(a, bins),
                 lambda ns, a: ns.searchsorted(bins, a), lambda ns, a: ns.isclose(a, 2.0),
                 lambda ns, a: ns.isin(a, [2.0, 0.5]), lambda ns, a: ns.lexsort([a, -a]),
                 lambda ns, a: ns.nanargmax(a), lambda ns, a: ns.isposinf(a),
                 lambda ns, a: ns.isreal(a)]
    value_dependent = [lambda ns, a: ns.flatnonzero(a), lambda ns, a: ns.argwhere(a),
                       lambda ns, a: ns.argpartition(a, 2), lambda ns, a: ns.count_nonzero(a)]
    for f in batchable + value_dependent:
        same(f(np, x), traced(lambda a, f=f: f(cnp, a), x), True)
    for f in batchable:
        same(f(np, x), cr.vmap(lambda a, f=f: f(cnp, a))(x[None])[0], True)
    assert cnp.allclose(traced(lambda a: a, x), x) and cnp.array_equal(x, x)
    g = cr.grad(lambda a: cnp.sum(a * cnp.searchsorted(bins, a)))(x)
    np.testing.assert_array_equal(g, np.searchsorted(bins, x))
    g = cr.grad(lambda a: cnp.sum(a[cnp.argpartition(a, 1)[:2]]))(x)
    np.testing.assert_array_equal(g, np.isin(np.arange(5), np.argpartition(x, 1)[:2]))
    w = cr.grad(lambda w: cnp.bincount([0, 2, 2], w)[2])(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(w, [0, 1, 1])


def test_data_dependent_shapes_need_values_and_say_so():
    with pytest.raises(cr.errors.ConcretizationError):
        cr.vmap(lambda a: cnp.unique(a))(np.ones((2, 3)))
    with pytest.raises(cr.errors.ConcretizationError):
        cr.eval_shape(lambda a: cnp.trim_zeros(a), np.ones(3))


def test_errors_match_numpys():
    t = lambda f, *a: traced(f, *a)  # noqa: E731
    with pytest.raises(ValueError, match="at least one dimensional"):
        t(lambda a: cnp.diff(a), np.array(1.0))
    with pytest.raises(ValueError, match="2 or 3"):
        t(lambda a: cnp.cross(a, a), np.ones(4))
    with pytest.raises(ValueError, match="same length"):
        t(lambda a: cnp.interp(a, np.ones(3), np.ones(2)), 1.0)
    with pytest.raises(ValueError, match="too small"):
        t(lambda a: cnp.gradient(a, edge_order=2), np.ones(2))
    with pytest.raises(ValueError, match="non-negative"):
        t(lambda a: cnp.linspace(a, 1.0, -1), 0.0)
    with pytest.raises(ValueError, match="zero"):
        t(lambda a: cnp.geomspace(a, 1.0), 0.0)
    with pytest.raises(ZeroDivisionError):
        t(lambda w: cnp.average(np.ones(2), weights=w), np.zeros(2))
    with pytest.raises(TypeError, match="boolean"):
        t(lambda a: cnp.select([a], [a]), np.ones(2))
    with pytest.raises(ValueError, match="either 1 or 2"):
        t(lambda a: cnp.piecewise(a, [a > 0], [1.0, 2.0, 3.0]), np.ones(2))
    with pytest.raises(np.exceptions.AxisError):
        t(lambda a: cnp.rollaxis(a, 3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="3 or more"):
        t(lambda a: cnp.dsplit(a, 2), np.ones((2, 2)))


def test_angle_of_real_values_is_numpys_traced_or_not():
    """Traced, it was where(z < 0, pi, 0) + 0 * z: float64 for float32 input, NaN at -inf, 0
    at -0.0 (NumPy: arctan2(0, z), pi at both)."""
    for x in (np.float32([-1.0, 1.0, -np.inf, -0.0, 0.0, np.inf]), np.array([-2.0, 3.0, -0.0]),
              np.array([-1, 0, 2])):  # fmt: skip
        want = np.angle(x)
        for got in (cnp.angle(cr.tensor(x)).numpy(), cr.jit(cnp.angle)(x),
                    cr.vmap(cnp.angle)(x)):  # fmt: skip
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)
    g = cr.grad(lambda v: cnp.sum(cnp.angle(v) * v))(np.array([-2.0, 3.0, np.inf]))
    np.testing.assert_array_equal(g, [np.pi, 0.0, 0.0])  # the angle is constant: only v's
