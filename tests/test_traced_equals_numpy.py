"""Traced values are NumPy's, bit for bit: keyword arguments and edge cases.

For each case the plain call, `cr.jit`, the primal of `cr.jvp`, a `cr.tensor` Tensor and
(where listed) `cr.vmap` over a leading axis are compared with the plain NumPy call with
`assert_array_equal` (which also checks the NaN pattern), plus the dtype, the shape and the
sign of zeros. Gradients are compared with central finite differences in float64.
"""

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from finite_differences import central_gradient

RNG = np.random.default_rng(20240611)
X = RNG.standard_normal((3, 4))
X32 = X.astype(np.float32)
X16 = X.astype(np.float16)
X3 = RNG.standard_normal((2, 3, 4))
SPECIAL = np.array([-3.5, -2.0, -0.0, 0.0, 1.5, 2.0, 7.25, np.inf, -np.inf, np.nan])
DIVISORS = np.array([2.0, -2.0, 3.0, -0.0, 0.0, -3.0, 2.0, 1.5, 2.0, 1.0])


def _np(out):
    """A Tensor, a NumPy scalar or array, as an ndarray."""
    if hasattr(out, "detach"):
        out = out.detach().numpy()
    return np.asarray(out)


def _leaves(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _assert_same(got, want, what):
    got_l, want_l = _leaves(got), _leaves(want)
    assert len(got_l) == len(want_l), what
    for g, w in zip(got_l, want_l):
        g, w = _np(g), np.asarray(w)
        assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
        np.testing.assert_array_equal(g, w, err_msg=what, strict=True)
        if w.dtype.kind in "fc":
            np.testing.assert_array_equal(np.signbit(g.real), np.signbit(w.real), err_msg=what)


def _traced(f, x, modes=("plain", "jit", "jvp", "tensor")):
    """{mode: f's result} for x plain, under jit, as the primal of jvp and as a Tensor."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if "plain" in modes:
            out["plain"] = f(x)
        if "jit" in modes:
            out["jit"] = cr.jit(f)(x)
        if "jvp" in modes:
            out["jvp"] = cr.jvp(f, (x,), (np.ones_like(x),))[0]
        if "tensor" in modes:
            out["tensor"] = f(cr.tensor(x))
    return out


def _check(cf, nf, x, modes=("plain", "jit", "jvp", "tensor")):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = nf(x)
    for mode, got in _traced(cf, x, modes).items():
        _assert_same(got, want, mode)


def _both(call):
    """(chainrule's f, NumPy's f) from `call(module, x)`."""
    return (lambda x: call(cnp, x)), (lambda x: call(np, x))


# --------------------------------------------------------------------------- reductions

REDUCTIONS = {
    "sum dtype f64": lambda m, a: m.sum(a, dtype=np.float64),
    "sum dtype f32 axis": lambda m, a: m.sum(a, axis=1, dtype=np.float32),
    "sum axis tuple kd": lambda m, a: m.sum(a, axis=(0, -1), keepdims=True),
    "prod axis neg": lambda m, a: m.prod(a, axis=-2),
    "prod dtype f64": lambda m, a: m.prod(a, axis=0, dtype=np.float64),
    "mean dtype f64": lambda m, a: m.mean(a, axis=1, dtype=np.float64),
    "mean kd": lambda m, a: m.mean(a, axis=-1, keepdims=True),
    "max initial": lambda m, a: m.max(a, axis=1, initial=0.25),
    "min where initial": lambda m, a: m.min(a, axis=0, where=np.arange(4) != 2, initial=0.5),
    "max axis tuple kd": lambda m, a: m.max(a, axis=(0, 1), keepdims=True),
    "argmax kd": lambda m, a: m.argmax(a, axis=1, keepdims=True),
    "argmin kd none": lambda m, a: m.argmin(a, keepdims=True),
    "ptp axis tuple kd": lambda m, a: m.ptp(a, axis=(0, 1), keepdims=True),
    "cumsum dtype f64": lambda m, a: m.cumsum(a, axis=1, dtype=np.float64),
    "cumprod axis none": lambda m, a: m.cumprod(a),
    "nansum kd": lambda m, a: m.nansum(a, axis=0, keepdims=True),
    "nanmax": lambda m, a: m.nanmax(a, axis=1),
    "nanprod": lambda m, a: m.nanprod(a, axis=0),
    "std ddof": lambda m, a: m.std(a, axis=1, ddof=1),
    "var ddof kd": lambda m, a: m.var(a, axis=0, ddof=1, keepdims=True),
    "average weights returned": lambda m, a: m.average(a, axis=1, weights=[1.0, 2.0, 3.0, 4.0],
                                                       returned=True),
    "average 2d weights kd": lambda m, a: m.average(a, axis=0, weights=np.arange(1.0, 13.0)
                                                    .reshape(3, 4), keepdims=True),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("x", [X, X32], ids=["f64", "f32"])
def test_reductions_with_keywords_are_numpys(name, x):
    cf, nf = _both(REDUCTIONS[name])
    _check(cf, nf, x)


@pytest.mark.parametrize("fn", ["nanmean", "nanvar", "nanstd", "nanmedian", "nanmax", "nanmin",
                                "nansum", "nanprod"])
def test_nan_reductions_with_all_nan_slices_float64(fn):
    x = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 2.0], [0.5, -1.0, 3.0]])
    cf, nf = _both(lambda m, a: getattr(m, fn)(a, axis=1))
    _check(cf, nf, x)


def test_min_and_max_over_an_empty_axis_give_the_initial_value():
    x = np.ones((3, 0))
    cf, nf = _both(lambda m, a: m.max(a, axis=1, initial=-1.5))
    _check(cf, nf, x)
    cf, nf = _both(lambda m, a: m.min(a, axis=(0, 1), initial=3.0, keepdims=True))
    _check(cf, nf, x)


def test_float16_mean_and_sum_keep_numpys_float16_result():
    for call in (lambda m, a: m.mean(a), lambda m, a: m.sum(a, axis=0),
                 lambda m, a: m.mean(a, axis=1, dtype=np.float32)):
        cf, nf = _both(call)
        _check(cf, nf, X16)


# --------------------------------------------------------------------------- elementwise

BINARY = ["floor_divide", "remainder", "fmod", "divmod", "copysign", "heaviside", "power",
          "float_power", "arctan2", "hypot", "maximum", "fmax", "minimum", "fmin", "logaddexp",
          "true_divide"]


@pytest.mark.parametrize("fn", BINARY)
@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_binary_ufuncs_on_zeros_signs_infs_and_nans(fn, dt):
    y = DIVISORS.astype(dt)
    cf = lambda a: getattr(cnp, fn)(a, y)  # noqa: E731
    nf = lambda a: getattr(np, fn)(a, y)  # noqa: E731
    _check(cf, nf, SPECIAL.astype(dt))


SCALARS = [2, 2.5, -1, True, np.float64(2.5), np.array(2.5), np.int64(3), np.float32(0.1), 1e300]


@pytest.mark.parametrize("s", SCALARS, ids=repr)
@pytest.mark.parametrize("dt", [np.float16, np.float32])
def test_nep50_promotion_with_python_and_numpy_scalars(s, dt):
    # Tensors follow PyTorch's rules for 0-d operands (docs/pitfalls.md): jit and jvp only.
    x = SPECIAL.astype(dt)
    for fn in ("add", "multiply", "power", "subtract", "true_divide", "remainder", "maximum"):
        _check(lambda a, fn=fn: getattr(cnp, fn)(a, s), lambda a, fn=fn: getattr(np, fn)(a, s),
               x, modes=("plain", "jit", "jvp"))
        _check(lambda a, fn=fn: getattr(cnp, fn)(s, a), lambda a, fn=fn: getattr(np, fn)(s, a),
               x, modes=("plain", "jit", "jvp"))


UNARY = ["frexp", "sinc", "i0", "nan_to_num", "fix", "round", "rint", "trunc", "sign", "cbrt",
         "exp2", "log1p", "expm1", "deg2rad", "square", "reciprocal", "negative", "fabs"]


@pytest.mark.parametrize("fn", UNARY)
@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_unary_functions_on_special_values(fn, dt):
    cf, nf = _both(lambda m, a: getattr(m, fn)(a))
    _check(cf, nf, SPECIAL.astype(dt))


@pytest.mark.parametrize("kw", [dict(nan=1.0), dict(posinf=5, neginf=-7.5), dict(nan=np.nan),
                                dict(copy=False)], ids=str)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_nan_to_num_keywords(kw, dt):
    cf, nf = _both(lambda m, a: m.nan_to_num(a, **kw))
    _check(cf, nf, SPECIAL.astype(dt))


@pytest.mark.parametrize("decimals", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_round_with_negative_and_positive_decimals(decimals, dt):
    x = np.array([125.5, -2.675, 1234.5678, 0.5, 1.5, 2.5, -0.4, 15.0, 25.0, -0.0], dt)
    cf, nf = _both(lambda m, a: m.round(a, decimals))
    _check(cf, nf, x)


@pytest.mark.parametrize("lo,hi", [(None, 1.0), (2.0, -1.0), (-1, 1), (0.0, np.inf),
                                   (np.arange(10.0), 5.0)], ids=str)
@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_clip_with_none_and_crossed_bounds(lo, hi, dt):
    cf, nf = _both(lambda m, a: m.clip(a, lo, hi))
    _check(cf, nf, SPECIAL.astype(dt))


def test_ldexp_where_and_broadcasting():
    for dt in (np.float16, np.float32, np.float64):
        x = SPECIAL.astype(dt)
        _check(*_both(lambda m, a: m.ldexp(a, np.arange(-5, 5))), x)
        _check(*_both(lambda m, a: m.where(np.array([[True], [False]]), a, 0)), x)
        _check(*_both(lambda m, a: m.where(a > 0, a, 2.5)), x)


@pytest.mark.parametrize("p", [-1, -2, 0, 3, 0.5, -0.5])
def test_power_with_negative_and_fractional_exponents(p):
    for dt in (np.float16, np.float32, np.float64):
        _check(*_both(lambda m, a: m.power(a, p)), SPECIAL.astype(dt))


# --------------------------------------------------------------------------- shapes

SHAPES = {
    "moveaxis lists": lambda m, a: m.moveaxis(a, [0, 1], [-1, 0]),
    "squeeze axis": lambda m, a: m.squeeze(a[:, :1], axis=1),
    "squeeze tuple": lambda m, a: m.squeeze(a[:1, :1], axis=(0, 1)),
    "expand_dims tuple": lambda m, a: m.expand_dims(a, (0, -1, 2)),
    "stack axis -1": lambda m, a: m.stack([a, a], axis=-1),
    "stack dtype": lambda m, a: m.stack([a, a], axis=1, dtype=np.float32),
    "concatenate none": lambda m, a: m.concatenate([a, a], axis=None),
    "concatenate dtype": lambda m, a: m.concatenate([a, a], axis=1, dtype=np.float32),
    "concatenate int8": lambda m, a: m.concatenate([a, np.ones((2, 1, 4), np.int8)], axis=1),
    "split list": lambda m, a: m.split(a, [1, 3], axis=2),
    "array_split n": lambda m, a: m.array_split(a, 3, axis=2),
    "array_split list": lambda m, a: m.array_split(a, [1, 5], axis=-1),
    "take raise": lambda m, a: m.take(a, np.array([[0, -1], [2, 3]]), axis=2),
    "take_along_axis": lambda m, a: m.take_along_axis(a, np.argsort(X3, axis=1), axis=1),
    "take_along_axis none": lambda m, a: m.take_along_axis(a, np.array([3, 0, -1]), axis=None),
    "repeat array": lambda m, a: m.repeat(a, np.array([1, 0, 2]), axis=1),
    "repeat flat": lambda m, a: m.repeat(a, 2),
    "tile": lambda m, a: m.tile(a, (2, 1, 1, 2)),
    "pad constant values": lambda m, a: m.pad(a, ((1, 2), (0, 3), (2, 2)),
                                              constant_values=((1.5, 2), (3, 4), (5, -6))),
    "pad edge": lambda m, a: m.pad(a, ((1, 2), (0, 3), (2, 2)), mode="edge"),
    "pad reflect": lambda m, a: m.pad(a, ((1, 2), (0, 2), (2, 3)), mode="reflect"),
    "pad symmetric": lambda m, a: m.pad(a, ((1, 2), (0, 3), (2, 2)), mode="symmetric"),
    "pad wrap big": lambda m, a: m.pad(a, ((3, 5), (4, 7), (9, 5)), mode="wrap"),
    "roll tuple": lambda m, a: m.roll(a, (1, -2), axis=(0, 2)),
    "roll flat": lambda m, a: m.roll(a, 5),
    "flip none": lambda m, a: m.flip(a),
    "flip tuple": lambda m, a: m.flip(a, (0, 2)),
    "rot90 -1": lambda m, a: m.rot90(a, -1),
    "rot90 axes": lambda m, a: m.rot90(a, 3, axes=(2, 0)),
    "einsum ellipsis": lambda m, a: m.einsum("...ij,...kj->...ik", a, a),
    "einsum repeated": lambda m, a: m.einsum("iji->ij", a[:, :, :2]),
    "einsum trace": lambda m, a: m.einsum("ii", a[0, :, :3]),
    # exact sums (integers): the summation order does not matter
    "tensordot lists": lambda m, a: m.tensordot(m.round(a * 4), np.ones((4, 2, 5)),
                                                axes=([2, 0], [0, 1])),
    "tensordot 0": lambda m, a: m.tensordot(a[0, 0], a[1, 1], axes=0),
    "outer nd": lambda m, a: m.outer(a, a[0]),
    "kron": lambda m, a: m.kron(a, np.array([[1, 2], [3, 4]])),
    "cross axes": lambda m, a: m.cross(a, a[::-1], axisa=1, axisb=1, axisc=0),
    "cross 2d": lambda m, a: m.cross(a[:, :, :2], a[:, :, 1:3]),
    "diff prepend append": lambda m, a: m.diff(a, n=2, axis=1, prepend=0.5,
                                               append=np.ones((2, 1, 4))),
    "diff n0": lambda m, a: m.diff(a, n=0),
    "gradient spacing": lambda m, a: m.gradient(a, 2.0, np.array([0.0, 1.0, 3.0]),
                                                np.array([0.0, 0.5, 1.5, 4.0])),
    "gradient edge_order 2": lambda m, a: m.gradient(a, np.array([0.0, 1.0, 3.0]),
                                                     np.array([0.0, 0.5, 1.5, 4.0]),
                                                     axis=(1, 2), edge_order=2),
    "gradient axis": lambda m, a: m.gradient(a, 0.5, axis=-1, edge_order=2),
    "polyval": lambda m, a: m.polyval(a[0, 0], a[1]),
    "sort none stable": lambda m, a: m.sort(a, axis=None, kind="stable"),
    "argsort none stable": lambda m, a: m.argsort(np.round(a), axis=None, kind="stable"),
    "searchsorted right": lambda m, a: m.searchsorted(np.sort(a.ravel()),
                                                      np.array([-7.5, 0.0, 100.0]), side="right"),
    "trace dtype": lambda m, a: m.trace(a, dtype=np.float32),
    "insert": lambda m, a: m.insert(a, [1, 2], 7.0, axis=2),
    "trapezoid x": lambda m, a: m.trapezoid(a, x=np.array([0.0, 1.0, 3.0, 7.0])),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_shape_functions_with_keywords_are_numpys(name):
    cf, nf = _both(SHAPES[name])
    modes = ("plain", "jit", "jvp") if name == "insert" else ("plain", "jit", "jvp", "tensor")
    _check(cf, nf, X3, modes)


@pytest.mark.parametrize("off", [-2, -1, 0, 1, 3, 5])
def test_diagonal_trace_tril_triu_offsets(off):
    _check(*_both(lambda m, a: m.diagonal(a, off, axis1=2, axis2=1)), X3)
    _check(*_both(lambda m, a: m.trace(a, off, axis1=0, axis2=2)), X3)
    _check(*_both(lambda m, a: m.tril(a, off)), X3)
    _check(*_both(lambda m, a: m.triu(a, off)), X3)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_and_correlate_modes_float64(mode):
    k = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x = np.round(X * 8) / 8  # dyadic values: exact sums whatever the order
    _check(*_both(lambda m, a: m.convolve(a[0], k, mode=mode)), x)
    _check(*_both(lambda m, a: m.correlate(k, a[0], mode=mode)), x)
    _check(*_both(lambda m, a: m.correlate(a[1], a[0, :3], mode=mode)), x)


# --------------------------------------------------------------------------- linalg

A = RNG.standard_normal((3, 4, 4))
V = RNG.standard_normal(5)


@pytest.mark.parametrize("o", [None, 0, 1, 2, -1, -2, np.inf, -np.inf, 3, 0.5, -0.5], ids=str)
def test_vector_norms_every_ord(o):
    _check(*_both(lambda m, a: m.linalg.norm(a, ord=o)), V)
    _check(*_both(lambda m, a: m.linalg.norm(a, ord=o, axis=-1, keepdims=True)), A)
    _check(*_both(lambda m, a: m.linalg.vector_norm(a, ord=2 if o is None else o, axis=(1, 2),
                                                    keepdims=True)), A)


@pytest.mark.parametrize("o", [None, "fro", 1, -1, np.inf, -np.inf], ids=str)
def test_matrix_norms_without_singular_values(o):
    _check(*_both(lambda m, a: m.linalg.norm(a, ord=o, axis=(1, 2))), A)
    _check(*_both(lambda m, a: m.linalg.norm(a, ord=o, axis=(2, 0), keepdims=True)), A)
    _check(*_both(lambda m, a: m.linalg.matrix_norm(a, ord="fro" if o is None else o,
                                                    keepdims=True)), A)


def test_det_slogdet_solve_matrix_power_multi_dot():
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    _check(*_both(lambda m, a: m.linalg.det(a)), singular)
    _check(*_both(lambda m, a: m.linalg.slogdet(a)), singular, ("plain", "jit", "tensor"))
    _check(*_both(lambda m, a: m.linalg.slogdet(a)), A)
    _check(*_both(lambda m, a: m.linalg.solve(a, np.ones((3, 4, 2)))), A)
    _check(*_both(lambda m, a: m.linalg.solve(a, np.ones(4))), A)
    _check(*_both(lambda m, a: m.linalg.solve(a, np.ones((4, 2)))), A)
    for n in (0, 1, 2, 5):
        _check(*_both(lambda m, a, n=n: m.linalg.matrix_power(a, n)), A)
    _check(*_both(lambda m, a: m.linalg.multi_dot([np.ones(4), a, np.ones((4, 2)), np.ones(2)])),
           A[0])


# --------------------------------------------------------------------------- vmap

VMAPPED = {
    "sum dtype": lambda m, a: m.sum(a, axis=0, dtype=np.float64),
    "nanmean f64": lambda m, a: m.nanmean(a, axis=1),
    "var tuple ddof": lambda m, a: m.var(a, axis=(0, 1), ddof=1),
    "median": lambda m, a: m.median(a, axis=1),
    "percentile nearest": lambda m, a: m.percentile(a, [5, 50], axis=0, method="nearest"),
    "quantile inverted_cdf": lambda m, a: m.quantile(a, 0.3, method="inverted_cdf"),
    "sort none": lambda m, a: m.sort(a, axis=None),
    "diff prepend": lambda m, a: m.diff(a, axis=0, prepend=0.0),
    "roll": lambda m, a: m.roll(a, (1, 2), axis=(0, 1)),
    "pad reflect": lambda m, a: m.pad(a, ((1, 1), (2, 0)), mode="reflect"),
    "trace": lambda m, a: m.trace(a, offset=1),
    "round": lambda m, a: m.round(a * 100, -1),
    "clip": lambda m, a: m.clip(a, None, 0.5),
    "average": lambda m, a: m.average(a, axis=1, weights=np.arange(1.0, 6.0)),
    "max initial": lambda m, a: m.max(a, axis=0, initial=0.5),
}


@pytest.mark.parametrize("name", sorted(VMAPPED))
def test_vmap_equals_a_loop_of_numpy(name):
    f = VMAPPED[name]
    x = RNG.standard_normal((3, 4, 5))
    x[0, 1, 2] = np.nan
    want = np.stack([f(np, xi) for xi in x])
    _assert_same(cr.vmap(lambda a: f(cnp, a))(x), want, "vmap")


# --------------------------------------------------------------------------- gradients

W = RNG.standard_normal((3, 4))
GRADS = {
    "sinc": lambda m, a: m.sum(W * m.sinc(a)),
    "i0": lambda m, a: m.sum(W * m.i0(a)),
    "ptp": lambda m, a: m.sum(W[:, 0] * m.ptp(a, axis=1)),
    "median": lambda m, a: m.sum(W[0] * m.median(a, axis=0)),
    "percentile midpoint": lambda m, a: m.sum(m.percentile(a, [10, 37, 90], axis=1,
                                                           method="midpoint") * [[1], [2], [3]]),
    "quantile hazen": lambda m, a: m.quantile(a, [0.1, 0.37, 0.9], method="hazen") @ [1, 2, 3],
    "norm inf": lambda m, a: m.linalg.norm(a, np.inf),
    "norm nuc": lambda m, a: m.linalg.norm(a, "nuc"),
    "norm -2": lambda m, a: m.linalg.norm(a, -2),
    "vector norm 0.5": lambda m, a: m.linalg.norm(a[0], 0.5),
    "vector norm -inf": lambda m, a: m.linalg.norm(a, -np.inf, axis=1) @ W[:, 0],
    "cross": lambda m, a: m.sum(W[:, :3] * m.cross(a[:, :3], a[:, 1:])),
    "gradient": lambda m, a: m.sum(W * m.gradient(a, 0.3, np.array([0.0, 1.0, 1.5, 4.0]),
                                                  edge_order=2)[1]),
    "interp in xp": lambda m, a: m.sum(m.interp(np.array([-0.7, 0.2, 1.0]),
                                                a[0, :3] * 0.1 + np.array([-2.0, 0.0, 1.5]),
                                                a[1, :3])),
    "correlate valid": lambda m, a: m.correlate(a[1], a[0, :2], mode="valid") @ [0.0, 1, 2],
    "polyval": lambda m, a: m.sum(m.polyval(a[0], a[1])),
    "average weights": lambda m, a: m.sum(m.average(a, axis=1, weights=m.exp(a[0]))),
    "nanvar ddof": lambda m, a: m.sum(m.nanvar(m.where(a > 1, np.nan, a), axis=1, ddof=1)),
    "std ddof": lambda m, a: m.sum(W[:, 0] * m.std(a, axis=1, ddof=2)),
    "float_power": lambda m, a: m.sum(m.float_power(m.abs(a) + 0.5, a[::-1])),
    "slogdet": lambda m, a: m.linalg.slogdet(a[:, :3])[1],
    "pinv": lambda m, a: m.sum(W.T * m.linalg.pinv(a)),
    "lstsq": lambda m, a: m.sum(m.linalg.lstsq(a.T, np.arange(4.0), rcond=None)[0]),
    "matrix_power -2": lambda m, a: m.sum(m.linalg.matrix_power(a[:, :3] + 3 * np.eye(3), -2)),
    "cond 1": lambda m, a: m.linalg.cond(a[:, :3], 1),
    "multi_dot": lambda m, a: m.linalg.multi_dot([a[0], a.T, a, a[1]]),
    "cumprod with zero": lambda m, a: m.sum(m.cumprod(m.where(np.arange(4) == 1, 0.0, a),
                                                      axis=1) * W),
    "nancumsum": lambda m, a: m.sum(m.nancumsum(m.where(np.arange(4) == 2, np.nan, a),
                                                axis=1) * W),
    "nanpercentile": lambda m, a: m.sum(m.nanpercentile(m.where(np.arange(4) == 2, np.nan, a),
                                                        30, axis=1) * W[:, 0]),
    "nan_to_num": lambda m, a: m.sum(W * m.nan_to_num(m.log(a), nan=2.0, neginf=-1.0)),
    "copysign": lambda m, a: m.sum(W * m.copysign(a, a[::-1])),
    "frexp": lambda m, a: m.sum(W * m.frexp(a)[0]),
    "fmod": lambda m, a: m.sum(W * m.fmod(a * 3, a[::-1] + 0.1)),
    "pad wrap": lambda m, a: m.sum(m.pad(a, ((4, 3), (5, 6)), mode="wrap")
                                   * np.arange(150.0).reshape(10, 15)),
    "pad symmetric": lambda m, a: m.sum(m.pad(a, ((2, 3), (3, 1)), mode="symmetric")
                                        * np.arange(64.0).reshape(8, 8)),
    "min where initial": lambda m, a: m.sum(m.min(a, axis=1, where=a > -0.5, initial=0.7)
                                            * W[:, 0]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_finite_differences(name):
    f = GRADS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = cr.grad(lambda a: f(cnp, a))(X)
        n = central_gradient(lambda a: f(np, a), X)
    assert g.shape == X.shape and g.dtype == X.dtype
    np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-5 * (1 + np.max(np.abs(n))))


# --- discrepancies this audit found, fixed ---------------------------------------------------


def _traced_ways(f, x):
    """f(x) under jit, as jvp's primal and on a Tensor."""
    return [cr.jit(f)(x), cr.jvp(f, (x,), (np.zeros_like(x),))[0] if x.dtype.kind == "f" else
            cr.jit(f)(x), f(cr.tensor(x)).numpy()]  # fmt: skip


@pytest.mark.parametrize("mode", ["clip", "wrap"])
def test_take_modes_on_traced_values(mode):
    x = np.arange(5.0)
    for i in (np.array([-1, 2]), np.array([7, -6, 3])):
        f = lambda a, i=i: cnp.take(a, i, mode=mode)  # noqa: E731
        for got in _traced_ways(f, x):
            np.testing.assert_array_equal(got, np.take(x, i, mode=mode))
        want = np.zeros(5)
        np.add.at(want, np.take(np.arange(5), i, mode=mode), 1.0)
        np.testing.assert_array_equal(cr.grad(lambda a, f=f: cnp.sum(f(a)))(x), want)


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "cumsum", "cumprod", "nansum",
                                  "nanmean"])  # fmt: skip
def test_integer_dtype_of_a_reduction_wraps_as_numpy(name):
    x8 = np.array([100, 100, -100, 127, 1, 2], np.int8)
    want = getattr(np, name)(x8, dtype=np.int8)
    for got in (cr.jit(lambda v: getattr(cnp, name)(v, dtype=np.int8))(x8),
                getattr(cnp, name)(cr.tensor(x8), dtype=np.int8).numpy()):  # fmt: skip
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_searchsorted_puts_nan_after_every_number():
    s = np.linspace(-2, 2, 7)
    v = np.array([np.nan, 0.5, -3.0, 2.0])
    for a in (s, np.append(s, np.nan)):
        for side in ("left", "right"):
            want = np.searchsorted(a, v, side)
            np.testing.assert_array_equal(cr.jit(lambda r: cnp.searchsorted(a, r, side))(v), want)
            np.testing.assert_array_equal(cr.vmap(lambda r: cnp.searchsorted(a, r, side))(v), want)


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_nan_reductions_keep_the_float_dtype_bit_for_bit(dt):
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(dt)
    x[1, 2], x[3, :] = np.nan, np.nan
    for name, kw in [("nanmean", {}), ("nanvar", {}), ("nanstd", {"ddof": 1}),
                     ("nanmean", {"axis": 1}), ("nanvar", {"axis": 0})]:  # fmt: skip
        with np.errstate(all="ignore"):
            want = getattr(np, name)(x, **kw)
            got = cr.jit(lambda v, name=name, kw=kw: getattr(cnp, name)(v, **kw))(x)
        assert got.dtype == want.dtype, (name, got.dtype)
        np.testing.assert_array_equal(got, want)


def test_copysign_and_modf_keep_numpys_dtype():
    x = np.float32([1.5, -2.0])
    assert cr.jit(lambda v: cnp.copysign(0.0, v))(x).dtype == np.float32
    assert [o.dtype for o in cr.jit(cnp.modf)(x)] == [np.float32, np.float32]
    a, b = np.float32([1.0, -2.0]), np.int64([-1, 1])
    assert cr.jit(cnp.copysign)(a, b).dtype == np.copysign(a, b).dtype


def test_average_insert_delete_on_tensors():
    """They read `.size`, a method on Tensors (PyTorch's): a TypeError."""
    a = np.array([1.0, 2.0, 3.0])
    t = cr.tensor(a)
    np.testing.assert_array_equal(cnp.average(t).numpy(), np.average(a))
    np.testing.assert_array_equal(cnp.average(t, weights=a).numpy(), np.average(a, weights=a))
    np.testing.assert_array_equal(cnp.insert(t, 1, 5.0).numpy(), np.insert(a, 1, 5.0))
    np.testing.assert_array_equal(cnp.delete(t, 1).numpy(), np.delete(a, 1))


def test_numpy2_keywords_of_var_std_sort_argsort():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 5.0, 9.0]])
    m = x.mean(axis=1, keepdims=True)
    np.testing.assert_array_equal(cnp.var(x, axis=1, correction=1), np.var(x, axis=1, ddof=1))
    np.testing.assert_array_equal(cnp.std(x, axis=1, mean=m), np.std(x, axis=1, mean=m))
    np.testing.assert_array_equal(cr.jit(lambda v: cnp.var(v, axis=1, correction=1))(x),
                                  np.var(x, axis=1, correction=1))  # fmt: skip
    np.testing.assert_array_equal(cr.jit(lambda v: cnp.std(v, axis=1, mean=m))(x),
                                  np.std(x, axis=1, mean=m))  # fmt: skip
    np.testing.assert_array_equal(cr.jit(lambda v: cnp.argsort(v, axis=1, stable=True))(x),
                                  np.argsort(x, axis=1, stable=True))  # fmt: skip
    np.testing.assert_array_equal(cnp.var(x, where=x > 1), np.var(x, where=x > 1))
