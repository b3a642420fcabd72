"""Reductions of `chainrule.numpy`: values against NumPy and gradients against closed forms,
finite differences (`check_grads`) and PyTorch/JAX, for every `axis` form and `keepdims`.

Closed forms here are computed element by element (products of "all the other factors" by
deleting one factor at a time, Jacobians of cumulative products by explicit loops), not by the
algorithms chainrule uses.
"""

import itertools
import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def traced_value(f, *args):
    out, _ = cr.vjp(f, *args)
    return out


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else axis
    return tuple(sorted(a % ndim for a in axes))


def expand(w, shape, axis, keepdims):
    """The output cotangent `w` laid out against the input's axes (keepdims form)."""
    axes = norm_axes(axis, len(shape))
    if not keepdims:
        w = np.expand_dims(w, axes)
    return np.broadcast_to(w, shape)


def group_count(shape, axis):
    return int(np.prod([shape[a] for a in norm_axes(axis, len(shape))]))


def prod_of_others(x, axis):
    """d prod(x, axis) / d x, element by element: the product of the other factors."""
    axes = norm_axes(axis, x.ndim)
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    xt = np.transpose(x, rest + axes)
    flat = xt.reshape(int(np.prod([x.shape[i] for i in rest])), -1)
    out = np.empty_like(flat)
    for r, row in enumerate(flat):
        for k in range(row.size):
            out[r, k] = np.prod(np.delete(row, k))
    return np.transpose(out.reshape(xt.shape), np.argsort(rest + axes))


def cumprod_jacobian_1d(x):
    """J[j, i] = d (x_0 ... x_j) / d x_i = prod_{k <= j, k != i} x_k for i <= j, else 0."""
    n = x.size
    J = np.zeros((n, n))
    for j in range(n):
        for i in range(j + 1):
            J[j, i] = np.prod(np.delete(x[: j + 1], i))
    return J


def along_axis_vjp(x, w, axis, jac_1d):
    """Apply the 1-D Jacobian transposed to each lane of `x` along `axis`."""
    xm, wm = np.moveaxis(x, axis, -1), np.moveaxis(w, axis, -1)
    out = np.empty_like(xm)
    for idx in np.ndindex(xm.shape[:-1]):
        out[idx] = wm[idx] @ jac_1d(xm[idx])
    return np.moveaxis(out, -1, axis)


X = rng_for("X").standard_normal((2, 3, 4))  # distinct values: no ties
AXES = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]
KEEPDIMS = [False, True]


def _var_grad(x, axis, ddof):
    m = np.mean(x, axis=norm_axes(axis, x.ndim), keepdims=True)
    return 2 * (x - m) / (group_count(x.shape, axis) - ddof)


def _std_grad(x, axis, ddof):
    axes = norm_axes(axis, x.ndim)
    m = np.mean(x, axis=axes, keepdims=True)
    s = np.std(x, axis=axes, ddof=ddof, keepdims=True)
    return (x - m) / ((group_count(x.shape, axis) - ddof) * s)


def _extreme_grad(npf):
    def grad(x, axis):
        hit = x == npf(x, axis=norm_axes(axis, x.ndim), keepdims=True)
        return hit / np.sum(hit, axis=norm_axes(axis, x.ndim), keepdims=True)

    return grad


# name -> (chainrule function, NumPy function, d out / d x laid out like x for unit cotangent)
REDUCTIONS = {
    "sum": (cnp.sum, np.sum, lambda x, axis: np.ones_like(x)),
    "mean": (cnp.mean, np.mean, lambda x, axis: np.full_like(x, 1 / group_count(x.shape, axis))),
    "prod": (cnp.prod, np.prod, prod_of_others),
    "var": (cnp.var, np.var, lambda x, axis: _var_grad(x, axis, 0)),
    "std": (cnp.std, np.std, lambda x, axis: _std_grad(x, axis, 0)),
    "max": (cnp.max, np.max, _extreme_grad(np.max)),
    "min": (cnp.min, np.min, _extreme_grad(np.min)),
    "amax": (cnp.amax, np.amax, _extreme_grad(np.amax)),
    "amin": (cnp.amin, np.amin, _extreme_grad(np.amin)),
}
NAMES = sorted(REDUCTIONS)


@pytest.mark.parametrize("keepdims", KEEPDIMS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_values(name, axis, keepdims):
    f, npf, _ = REDUCTIONS[name]
    expected = npf(X, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(f(X, axis=axis, keepdims=keepdims), expected)
    traced = traced_value(lambda x: f(x, axis=axis, keepdims=keepdims), X)
    assert np.shape(traced) == np.shape(expected)
    np.testing.assert_allclose(traced, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("keepdims", KEEPDIMS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_gradient_closed_form(name, axis, keepdims):
    f, npf, dfdx = REDUCTIONS[name]
    w = rng_for(name, axis, keepdims).standard_normal(np.shape(npf(X, axis=axis,
                                                                   keepdims=keepdims)))
    g = cr.grad(lambda x: cnp.sum(w * f(x, axis=axis, keepdims=keepdims)))(X)
    assert g.shape == X.shape and g.dtype == np.float64
    np.testing.assert_allclose(g, expand(w, X.shape, axis, keepdims) * dfdx(X, axis),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("keepdims", KEEPDIMS)
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("name", NAMES)
def test_reduction_check_grads(name, axis, keepdims):
    f = REDUCTIONS[name][0]
    check_grads(lambda x: f(x, axis=axis, keepdims=keepdims), (X,), order=2)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(), (5,)])
def test_reduction_of_scalars_and_vectors(name, shape):
    f, npf, dfdx = REDUCTIONS[name]
    x = np.asarray(rng_for(name, shape).uniform(0.5, 2.0, shape))
    out, vjp_fn = cr.vjp(f, x)
    np.testing.assert_allclose(out, npf(x), rtol=1e-14)
    if name == "std" and shape == ():
        return  # the derivative of sqrt(0) is infinite: nothing to compare
    with np.errstate(invalid="ignore", divide="ignore"):
        (g,) = vjp_fn(np.ones(()))
        expected = dfdx(x, None)
    assert np.shape(g) == shape
    np.testing.assert_allclose(g, expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("axis", [None, 1, (0, 2)])
def test_var_std_ddof(name, ddof, axis):
    f, npf = REDUCTIONS[name][:2]
    np.testing.assert_allclose(traced_value(lambda x: f(x, axis=axis, ddof=ddof), X),
                               npf(X, axis=axis, ddof=ddof), rtol=1e-13)
    g = cr.grad(lambda x: cnp.sum(f(x, axis=axis, ddof=ddof)))(X)
    closed = (_var_grad if name == "var" else _std_grad)(X, axis, ddof)
    np.testing.assert_allclose(g, closed, rtol=1e-12, atol=1e-14)
    check_grads(lambda x: f(x, axis=axis, ddof=ddof, keepdims=True), (X,), order=1)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_std_second_derivatives(ddof):
    # var(x) = |x - mean|^2 / (n - ddof): Hessian 2 / (n - ddof) * (I - 11^T / n)
    x = np.array([0.5, -1.0, 2.0, 0.25])
    n = x.size
    H = cr.hessian(lambda t: cnp.var(t, ddof=ddof))(x)
    np.testing.assert_allclose(H, 2 / (n - ddof) * (np.eye(n) - np.ones((n, n)) / n),
                               rtol=1e-12, atol=1e-14)
    # std = sqrt(var): H = (H_var - grad_var grad_var^T / (2 var)) / (2 std)
    v, gv = np.var(x, ddof=ddof), 2 * (x - x.mean()) / (n - ddof)
    Hv = 2 / (n - ddof) * (np.eye(n) - np.ones((n, n)) / n)
    expected = (Hv - np.outer(gv, gv) / (2 * v)) / (2 * np.sqrt(v))
    H = cr.hessian(lambda t: cnp.std(t, ddof=ddof))(x)
    np.testing.assert_allclose(H, expected, rtol=1e-12, atol=1e-14)


def test_mean_var_std_of_a_known_vector():
    # x = (1, 3): mean 2, var 1, std 1; d var = 2 (x - 2) / 2 = (-1, 1); d std = d var / 2
    x = np.array([1.0, 3.0])
    np.testing.assert_array_equal(cr.grad(cnp.mean)(x), [0.5, 0.5])
    np.testing.assert_array_equal(cr.grad(cnp.var)(x), [-1.0, 1.0])
    np.testing.assert_array_equal(cr.grad(cnp.std)(x), [-0.5, 0.5])
    # ddof=1: var = 2, d var = 2 (x - 2) / 1 = (-2, 2)
    np.testing.assert_array_equal(cr.grad(lambda t: cnp.var(t, ddof=1))(x), [-2.0, 2.0])


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod"])
def test_reductions_of_empty_arrays(name, axis):
    # an empty product is 1 and an empty sum 0; the gradient is empty, with x's shape
    x = np.zeros((0, 3))
    f, npf = getattr(cnp, name), getattr(np, name)
    out, vjp_fn = cr.vjp(lambda t: f(t, axis=axis), x)
    np.testing.assert_array_equal(out, npf(x, axis=axis))
    (g,) = vjp_fn(np.ones(np.shape(out)))
    assert np.shape(g) == (0, 3)


# --- ties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max", "amax", "min", "amin"])
def test_ties_share_the_gradient_evenly(name):
    f = getattr(cnp, name)
    big = name in ("max", "amax")
    v = 3.0 if big else -3.0
    x = np.array([1.0 if big else -1.0, v, v])
    np.testing.assert_array_equal(cr.grad(f)(x), [0.0, 0.5, 0.5])
    x = np.array([v, 0.0, v, v])
    np.testing.assert_allclose(cr.grad(f)(x), [1 / 3, 0.0, 1 / 3, 1 / 3])
    assert cr.grad(f)(np.full(4, 2.0)).tolist() == [0.25] * 4
    # per-lane ties along an axis, with and without keepdims (negated for min)
    m = np.array([[3.0, 3.0, 0.0], [0.0, 3.0, 0.0]]) * (1 if big else -1)
    expected = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])
    for keepdims in (False, True):
        g = cr.grad(lambda t, kd=keepdims: cnp.sum(f(t, axis=1, keepdims=kd)))(m)
        np.testing.assert_allclose(g, expected)
    # ties along axis 0 with a tuple of axes and a weighted cotangent
    t = np.array([[[2.0, 1.0]], [[2.0, 5.0]]]) * (1 if big else -1)
    w = np.array([[3.0, 7.0]])
    g = cr.grad(lambda a: cnp.sum(w * f(a, axis=(0,))))(t)
    np.testing.assert_allclose(g, np.array([[[1.5, 0.0]], [[1.5, 7.0]]]))


def test_max_ties_against_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, 4.0, 4.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, -1.0, 5.0, 3.0]])
    for axis in (None, 0, 1):
        tx = torch.tensor(x, requires_grad=True)
        (torch.amax(tx) if axis is None else torch.amax(tx, dim=axis)).sum().backward()
        g = cr.grad(lambda t, a=axis: cnp.sum(cnp.max(t, axis=a)))(x)
        np.testing.assert_allclose(g, tx.grad.numpy())
        tx = torch.tensor(x, requires_grad=True)
        (torch.amin(tx) if axis is None else torch.amin(tx, dim=axis)).sum().backward()
        g = cr.grad(lambda t, a=axis: cnp.sum(cnp.min(t, axis=a)))(x)
        np.testing.assert_allclose(g, tx.grad.numpy())


# --- prod with zeros -------------------------------------------------------------------------

ZERO_CASES = {
    "one zero": np.array([[0.0, 2.0, 3.0], [1.5, -2.0, 4.0]]),
    "two zeros in a lane": np.array([[0.0, 2.0, 0.0], [1.5, 0.0, 4.0]]),
    "all zeros": np.zeros((2, 3)),
    "zeros and negatives": np.array([[-1.0, 0.0, -3.0], [0.0, 0.0, -0.5]]),
}


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("case", sorted(ZERO_CASES))
def test_prod_gradient_with_zeros_is_exact(case, axis):
    x = ZERO_CASES[case]
    w = rng_for(case, axis).standard_normal(np.shape(np.prod(x, axis=axis)))
    g = cr.grad(lambda t: cnp.sum(w * cnp.prod(t, axis=axis)))(x)
    assert not np.any(np.isnan(g))
    np.testing.assert_allclose(g, expand(w, x.shape, axis, False) * prod_of_others(x, axis),
                               rtol=1e-14, atol=0)
    check_grads(lambda t: cnp.prod(t, axis=axis), (x,), order=2)


def test_prod_docstring_example_and_hessian_with_a_zero():
    x = np.array([0.0, 2.0, 3.0])
    np.testing.assert_array_equal(cr.grad(cnp.prod)(x), [6.0, 0.0, 0.0])
    # H[i, j] = prod of the factors other than i and j (i != j), 0 on the diagonal
    x = np.array([0.0, 2.0, 3.0, 4.0])
    H = cr.hessian(cnp.prod)(x)
    expected = np.zeros((4, 4))
    for i, j in itertools.permutations(range(4), 2):
        expected[i, j] = np.prod(np.delete(x, [i, j]))
    assert not np.any(np.isnan(H))
    np.testing.assert_array_equal(H, expected)


def test_prod_of_a_list_of_traced_values():
    g = cr.grad(lambda a, b: cnp.prod([a, b, 2.0]), argnums=(0, 1))(3.0, 0.0)
    assert g == (0.0, 6.0)


# --- cumulative ------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -2])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumulative_values_and_gradients(name, axis):
    f, npf = getattr(cnp, name), getattr(np, name)
    x = X
    expected = npf(x, axis=axis)
    np.testing.assert_array_equal(f(x, axis=axis), expected)
    out, vjp_fn = cr.vjp(lambda t: f(t, axis=axis), x)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    w = rng_for(name, axis).standard_normal(expected.shape)
    (g,) = vjp_fn(w)
    assert g.shape == x.shape
    if name == "cumsum":
        jac = lambda lane: np.tril(np.ones((lane.size, lane.size)))
    else:
        jac = cumprod_jacobian_1d
    if axis is None:
        closed = (w @ jac(x.ravel())).reshape(x.shape)
    else:
        closed = along_axis_vjp(x, w, axis % x.ndim, jac)
    np.testing.assert_allclose(g, closed, rtol=1e-12, atol=1e-14)
    check_grads(lambda t: f(t, axis=axis), (x,), order=2)


CUMPROD_ZEROS = [
    np.array([2.0, 0.0, 3.0, 0.5]),
    np.array([0.0, 2.0, 3.0]),
    np.array([1.5, 2.0, 0.0]),
    np.array([0.0, 0.0, 2.0, -1.0]),
    np.array([[1.0, 0.0, 2.0], [0.0, 3.0, -1.0]]),
]


@pytest.mark.parametrize("i", range(len(CUMPROD_ZEROS)))
def test_cumprod_with_zeros_is_exact(i):
    x = CUMPROD_ZEROS[i]
    axis = x.ndim - 1
    w = rng_for("cumprod0", i).standard_normal(x.shape)
    g = cr.grad(lambda t: cnp.sum(w * cnp.cumprod(t, axis=axis)))(x)
    assert not np.any(np.isnan(g))
    np.testing.assert_allclose(g, along_axis_vjp(x, w, axis, cumprod_jacobian_1d),
                               rtol=1e-14, atol=0)
    check_grads(lambda t: cnp.cumprod(t, axis=axis), (x,), order=2)
    if x.ndim == 2:  # along the other axis too
        g0 = cr.grad(lambda t: cnp.sum(w * cnp.cumprod(t, axis=0)))(x)
        np.testing.assert_allclose(g0, along_axis_vjp(x, w, 0, cumprod_jacobian_1d))


def test_cumsum_cumprod_methods_and_dtype():
    x = X.astype(np.float32)
    out, vjp_fn = cr.vjp(lambda t: t.cumsum(axis=1), x)
    assert out.dtype == np.float32
    assert vjp_fn(np.ones_like(out))[0].dtype == np.float32
    np.testing.assert_allclose(traced_value(lambda t: t.cumprod(), X), np.cumprod(X))
    # cumsum with dtype: float32 in, float64 out, float32 gradient
    out, vjp_fn = cr.vjp(lambda t: cnp.cumsum(t, axis=0, dtype=np.float64), x)
    assert out.dtype == np.float64
    assert vjp_fn(np.ones(out.shape))[0].dtype == np.float32


# --- reductions without a gradient -----------------------------------------------------------


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_values_no_gradient(name, axis):
    f, npf = getattr(cnp, name), getattr(np, name)
    for keepdims in (False, True):
        expected = npf(X, axis=axis, keepdims=keepdims)
        np.testing.assert_array_equal(f(X, axis=axis, keepdims=keepdims), expected)
        traced = traced_value(lambda t, kd=keepdims: f(t, axis=axis, keepdims=kd), X)
        np.testing.assert_array_equal(traced, expected)
        assert np.issubdtype(np.asarray(traced).dtype, np.integer)
    # the index is a constant: d/dx [sum(x) * argmax(x)] = argmax(x)
    g = cr.grad(lambda t: cnp.sum(t) * cnp.sum(f(t, axis=axis)))(X)
    np.testing.assert_array_equal(g, np.full(X.shape, float(np.sum(npf(X, axis=axis)))))


def test_argmax_used_as_an_index():
    x = np.array([0.5, 3.0, -1.0, 2.0])
    g = cr.grad(lambda t: t[cnp.argmax(t)] ** 2)(x)
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0, 0.0])
    g = cr.grad(lambda t: t[t.argmin()])(x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_argsort_values_no_gradient(axis):
    expected = np.argsort(X, axis=axis)
    np.testing.assert_array_equal(cnp.argsort(X, axis=axis), expected)
    np.testing.assert_array_equal(traced_value(lambda t: cnp.argsort(t, axis=axis), X), expected)
    np.testing.assert_array_equal(traced_value(lambda t: t.argsort(axis=axis), X), expected)
    g = cr.grad(lambda t: cnp.sum(t * cnp.argsort(t, axis=axis)))(X.reshape(-1) if axis is None
                                                                 else X)
    np.testing.assert_array_equal(
        g, np.argsort(X.reshape(-1) if axis is None else X, axis=axis).astype(float))


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", KEEPDIMS)
@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all_values_no_gradient(name, axis, keepdims):
    f, npf = getattr(cnp, name), getattr(np, name)
    x = np.where(X > 0.3, X, 0.0)
    expected = npf(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(f(x, axis=axis, keepdims=keepdims), expected)
    traced = traced_value(lambda t: f(t, axis=axis, keepdims=keepdims), x)
    np.testing.assert_array_equal(traced, expected)
    assert np.asarray(traced).dtype == bool
    # the boolean result is a constant: d/dx sum(x * any(x)) = any(x), broadcast
    g = cr.grad(lambda t: cnp.sum(t * f(t, axis=axis, keepdims=True)))(x)
    np.testing.assert_array_equal(g, np.broadcast_to(npf(x, axis=axis, keepdims=True),
                                                     x.shape).astype(float))


def test_any_all_methods_on_tracers():
    x = np.array([[0.0, 1.0], [2.0, 3.0]])
    out = traced_value(lambda t: (t.any(), t.all(), t.any(axis=0), t.all(axis=1)), x)
    assert out[0] == np.any(x) and out[1] == np.all(x)
    np.testing.assert_array_equal(out[2], np.any(x, axis=0))
    np.testing.assert_array_equal(out[3], np.all(x, axis=1))


# --- dtypes, methods and bad axes ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_float32_reductions_keep_float32(name):
    f = REDUCTIONS[name][0]
    x = X.astype(np.float32)
    out, vjp_fn = cr.vjp(lambda t: f(t, axis=1), x)
    assert out.dtype == np.float32
    (g,) = vjp_fn(np.ones(out.shape, np.float32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, REDUCTIONS[name][2](x.astype(np.float64), 1), rtol=1e-5,
                               atol=1e-6)


def test_sum_and_mean_with_dtype_argument():
    x = X.astype(np.float32)
    out, vjp_fn = cr.vjp(lambda t: cnp.sum(t, axis=0, dtype=np.float64), x)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.sum(x, axis=0, dtype=np.float64), rtol=1e-15)
    assert vjp_fn(np.ones(out.shape))[0].dtype == np.float32
    out = traced_value(lambda t: cnp.mean(t, dtype=np.float64), x)
    assert np.asarray(out).dtype == np.float64


@pytest.mark.parametrize("method", ["sum", "prod", "mean", "var", "std", "max", "min"])
def test_reduction_methods_of_tracers(method):
    f, npf, dfdx = REDUCTIONS[method]
    for kwargs in ({}, {"axis": 0}, {"axis": (1, 2), "keepdims": True}):
        out, vjp_fn = cr.vjp(lambda t, kw=kwargs: getattr(t, method)(**kw), X)
        np.testing.assert_allclose(out, npf(X, **kwargs), rtol=1e-13)
        w = np.ones(np.shape(out))
        axis = kwargs.get("axis")
        np.testing.assert_allclose(vjp_fn(w)[0], dfdx(X, axis), rtol=1e-12, atol=1e-14)


def test_numpy_reductions_on_tracers_dispatch():
    g = cr.grad(lambda t: np.sum(np.prod(t, axis=0) + np.mean(t, axis=0)))(X)
    np.testing.assert_allclose(g, prod_of_others(X, 0) + 1 / X.shape[0], rtol=1e-12)
    g = cr.grad(lambda t: np.max(t) + np.std(t))(X)
    np.testing.assert_allclose(g, _extreme_grad(np.max)(X, None) + _std_grad(X, None, 0))


@pytest.mark.parametrize("axis", [3, -4, (0, 0)])
def test_bad_axis_is_an_error(axis):
    with pytest.raises((ValueError, IndexError)):
        np.sum(X, axis=axis)
    with pytest.raises((ValueError, IndexError)):
        cr.grad(lambda t: cnp.sum(cnp.sum(t, axis=axis)))(X)


# --- against PyTorch and JAX -----------------------------------------------------------------

TORCH_REDUCTIONS = {  # name -> (chainrule f, torch f), both of (x) with the same meaning
    "sum01": (lambda x: cnp.sum(x, axis=(0, 1)), lambda t, x: t.sum(x, dim=(0, 1))),
    "mean2": (lambda x: cnp.mean(x, axis=2, keepdims=True),
              lambda t, x: t.mean(x, dim=2, keepdim=True)),
    "var1": (lambda x: cnp.var(x, axis=1, ddof=1), lambda t, x: t.var(x, dim=1, correction=1)),
    "std_all": (lambda x: cnp.std(x), lambda t, x: t.std(x, correction=0)),
    "prod1": (lambda x: cnp.prod(x, axis=1), lambda t, x: t.prod(x, dim=1)),
    "amax02": (lambda x: cnp.max(x, axis=(0, 2)), lambda t, x: t.amax(x, dim=(0, 2))),
    "cumsum2": (lambda x: cnp.cumsum(x, axis=2), lambda t, x: t.cumsum(x, dim=2)),
    "cumprod1": (lambda x: cnp.cumprod(x, axis=1), lambda t, x: t.cumprod(x, dim=1)),
    "logsumexp": (lambda x: cnp.log(cnp.sum(cnp.exp(x - cnp.max(x, axis=2, keepdims=True)),
                                            axis=2)) + cnp.max(x, axis=2),
                  lambda t, x: t.logsumexp(x, dim=2)),
    "softmax-var": (lambda x: cnp.var(cnp.exp(x) / cnp.sum(cnp.exp(x), axis=-1, keepdims=True),
                                      axis=0),
                    lambda t, x: t.var(t.softmax(x, dim=-1), dim=0, correction=0)),
}  # fmt: skip


@pytest.mark.parametrize("with_zeros", [False, True])
@pytest.mark.parametrize("name", sorted(TORCH_REDUCTIONS))
def test_reductions_against_torch(name, with_zeros):
    torch = pytest.importorskip("torch")
    f, tf = TORCH_REDUCTIONS[name]
    x = X.copy()
    if with_zeros:
        x[0, 1, 2] = x[0, 2, 2] = x[1, 1, 0] = x[1, 2, 3] = 0.0  # two zeros in a lane
    tx = torch.tensor(x, requires_grad=True)
    tout = tf(torch, tx)
    w = rng_for("torch", name).standard_normal(tuple(tout.shape))
    (tout * torch.tensor(w)).sum().backward()
    out, vjp_fn = cr.vjp(f, x)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vjp_fn(w)[0], tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


COMPLEX_REDUCTIONS = {  # real-valued functions of a complex array
    "var": lambda m, z: m.var(z),
    "std-axis": lambda m, z: m.sum(m.std(z, axis=0, ddof=1)),
    "abs-max": lambda m, z: m.max(m.abs(z)),
    "real-prod": lambda m, z: m.real(m.prod(z)),
    "real-cumprod": lambda m, z: m.real(m.sum(m.cumprod(z, axis=1))),
    "imag-mean-square": lambda m, z: m.imag(m.mean(z * z)),
    "abs-cumsum": lambda m, z: m.sum(m.abs(m.cumsum(z, axis=0))),
}


@pytest.mark.parametrize("name", sorted(COMPLEX_REDUCTIONS))
def test_complex_reductions_against_jax(name, jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    f = COMPLEX_REDUCTIONS[name]
    rng = rng_for("complex", name)
    z = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    g = cr.grad(lambda t: f(cnp, t))(z)
    jg = jax_x64.grad(lambda t: f(jnp, t))(z)
    assert g.dtype == np.complex128
    np.testing.assert_allclose(g, np.asarray(jg), rtol=1e-11, atol=1e-13)


def test_reduction_composite_against_jax(jax_x64):
    jnp = pytest.importorskip("jax.numpy")

    def f(m, x):
        s = m.std(x, axis=1, ddof=1) + m.var(x, axis=(1, 2))[:, None]
        return m.sum(m.prod(m.tanh(x), axis=1) * s) + m.max(m.cumsum(x, axis=2))

    g = cr.grad(lambda t: f(cnp, t))(X)
    jg = jax_x64.grad(lambda t: f(jnp, t))(X)
    np.testing.assert_allclose(g, np.asarray(jg), rtol=1e-10, atol=1e-12)
