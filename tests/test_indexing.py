"""Indexing in `chainrule.numpy`: basic, fancy and boolean indexing, `take`,
`take_along_axis`, and the functional updates `index_add`/`index_set`.

The gradient oracle indexes arrays holding each element's position with NumPy itself and
scatter-adds the cotangent back with `np.bincount`, so repeated indices accumulate without any
of chainrule's machinery.
"""

import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def scatter_oracle(gather, shape, w):
    """d sum(w * gather(x)) / dx for a gather written with NumPy indexing."""
    n = int(np.prod(shape))
    src = np.asarray(gather(np.arange(n).reshape(shape)))
    return np.bincount(src.ravel(), weights=np.ravel(w), minlength=n).reshape(shape)


X = rng_for("X").standard_normal((3, 4))
X3 = rng_for("X3").standard_normal((3, 4, 5))
M = X > 0  # a fixed boolean mask

INDEX_CASES = [
    pytest.param(X, 1, id="int"),
    pytest.param(X, -1, id="negative-int"),
    pytest.param(X, (1, 2), id="scalar-element"),
    pytest.param(X, (-1, -2), id="negative-element"),
    pytest.param(X, slice(1, 3), id="slice"),
    pytest.param(X, slice(None, None, 2), id="step"),
    pytest.param(X, slice(None, None, -1), id="reverse"),
    pytest.param(X, (slice(1, None), slice(None, None, -2)), id="slices-negative-step"),
    pytest.param(X, (slice(None), slice(1, 1)), id="empty-slice"),
    pytest.param(X, None, id="newaxis"),
    pytest.param(X, (Ellipsis, 1), id="ellipsis-int"),
    pytest.param(X, (slice(None), None, 1), id="slice-newaxis-int"),
    pytest.param(X, (np.newaxis, Ellipsis, slice(None, None, -1)), id="newaxis-ellipsis-step"),
    pytest.param(X, (Ellipsis, None), id="ellipsis-newaxis"),
    pytest.param(X, (), id="empty-tuple"),
    pytest.param(X3, (0, slice(None), slice(1, 3)), id="3d-mixed"),
    pytest.param(X3, (Ellipsis, 2, slice(None, None, 2)), id="3d-ellipsis"),
    pytest.param(X3, (-1, -1, -1), id="3d-element"),
    pytest.param(X, [0, 0, 2], id="fancy-repeated"),
    pytest.param(X, [-1, 0, -1, -1], id="fancy-negative-repeated"),
    pytest.param(X, np.array([[0, 0], [1, 0]]), id="fancy-2d-index"),
    pytest.param(X, ([0, 1, 1], [1, 1, 1]), id="fancy-pairs-repeated"),
    pytest.param(X, (slice(None), [0, 0, 3]), id="slice-fancy"),
    pytest.param(X, (slice(1, None), [2, 2]), id="slice-fancy-repeated"),
    pytest.param(X, (np.array([[0], [2]]), np.array([1, 3, 3])), id="fancy-broadcast"),
    pytest.param(X3, ([0, 1], slice(None), [0, 0]), id="fancy-split-by-slice"),
    pytest.param(X3, (Ellipsis, [4, 4, 0]), id="ellipsis-fancy"),
    pytest.param(X3, (1, [0, 2], slice(None, None, 2)), id="int-fancy-slice"),
    pytest.param(X, M, id="mask-full"),
    pytest.param(X, np.array([True, False, True]), id="mask-rows"),
    pytest.param(X, (slice(None), np.array([False, True, True, False])), id="mask-cols"),
    pytest.param(X, [True, False, True], id="mask-list"),
    pytest.param(X3, (M, slice(None, 2)), id="mask-then-slice"),
]


@pytest.mark.parametrize("x, index", INDEX_CASES)
def test_getitem_values(x, index):
    expected = x[index]
    out, _ = cr.vjp(lambda t: t[index], x)
    assert np.shape(out) == expected.shape
    np.testing.assert_array_equal(out, expected)
    out, _ = cr.vjp(lambda t: cnp.getitem(t, index), x)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("x, index", INDEX_CASES)
def test_getitem_gradient_scatter_adds(x, index):
    w = rng_for("w", repr(index)).standard_normal(np.shape(x[index]))
    g = cr.grad(lambda t: cnp.sum(w * t[index]))(x)
    assert g.shape == x.shape
    np.testing.assert_allclose(g, scatter_oracle(lambda i: i[index], x.shape, w),
                               rtol=1e-14, atol=0)


@pytest.mark.parametrize("x, index", INDEX_CASES)
def test_getitem_check_grads(x, index):
    check_grads(lambda t: t[index] ** 2, (x,), order=2)


def test_repeated_index_accumulates():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(cr.grad(lambda t: cnp.sum(t[[0, 0, 1]]))(x), [2.0, 1.0, 0.0])
    # d/dx sum(x[[2, 2, 2]] ** 2) = 3 * 2 x_2 at position 2
    np.testing.assert_array_equal(cr.grad(lambda t: cnp.sum(t[[2, 2, 2]] ** 2))(x), [0, 0, 18])


def test_mask_from_the_traced_value_is_a_constant():
    x = np.array([-1.0, 2.0, -3.0, 4.0])
    g = cr.grad(lambda t: cnp.sum(t[t > 0] ** 2))(x)
    np.testing.assert_array_equal(g, np.where(x > 0, 2 * x, 0.0))
    g = cr.grad(lambda t: cnp.sum(t[cnp.isfinite(t) & (t < 0)]))(x)
    np.testing.assert_array_equal(g, 1.0 * (x < 0))


def test_nonzero_and_one_argument_where_give_constant_indices():
    x = np.array([[0.0, 2.0], [-3.0, 0.0]])
    np.testing.assert_array_equal(cr.vjp(cnp.nonzero, x)[0], np.nonzero(x))
    np.testing.assert_array_equal(cr.vjp(cnp.where, x)[0], np.where(x))
    g = cr.grad(lambda t: cnp.sum(t[cnp.nonzero(t)] ** 2))(x)
    np.testing.assert_array_equal(g, 2 * x)
    g = cr.grad(lambda t: cnp.sum(t[cnp.where(t < 0)] * 5.0))(x)
    np.testing.assert_array_equal(g, 5.0 * (x < 0))


def test_float_index_is_an_error():
    with pytest.raises(IndexError):
        X[1.0]
    with pytest.raises(IndexError):
        cr.grad(lambda t: t[cnp.sum(t) * 0.0])(np.array([1.0, 2.0]))


def test_integer_traced_index_is_used_by_value():
    x = np.array([5.0, 1.0, 7.0, 3.0])
    # argsort and argmax give integer indices: they carry no gradient and select
    g = cr.grad(lambda t: cnp.sum(t[cnp.argsort(t)][:2] * np.array([10.0, 1.0])))(x)
    np.testing.assert_array_equal(g, [0.0, 10.0, 0.0, 1.0])


def test_out_of_bounds_index_is_an_error():
    with pytest.raises(IndexError):
        cr.grad(lambda t: t[5])(np.array([1.0, 2.0]))
    with pytest.raises(IndexError):
        cr.grad(lambda t: cnp.sum(t[[0, 3]]))(np.array([1.0, 2.0]))


# --- take, take_along_axis -------------------------------------------------------------------

TAKE_CASES = [
    pytest.param([2, 0, 2], None, id="flat-repeated"),
    pytest.param(5, None, id="flat-scalar"),
    pytest.param([[0, 1], [1, 1]], 0, id="axis0-2d-index"),
    pytest.param([3, 3, 0], 1, id="axis1-repeated"),
    pytest.param([-1, 0], -1, id="negative-axis-negative-index"),
    pytest.param(np.array([2, 2]), -2, id="array-index"),
]


@pytest.mark.parametrize("indices, axis", TAKE_CASES)
def test_take(indices, axis):
    expected = np.take(X, indices, axis=axis)
    np.testing.assert_array_equal(cnp.take(X, indices, axis=axis), expected)
    out, vjp_fn = cr.vjp(lambda t: cnp.take(t, indices, axis=axis), X)
    np.testing.assert_array_equal(out, expected)
    w = rng_for("take", repr(indices), axis).standard_normal(np.shape(expected))
    oracle = scatter_oracle(lambda i: np.take(i, indices, axis=axis), X.shape, w)
    np.testing.assert_allclose(vjp_fn(w)[0], oracle, rtol=1e-14, atol=0)
    check_grads(lambda t: cnp.take(t, indices, axis=axis), (X,), order=2)
    out = cr.vjp(lambda t: t.take(indices, axis=axis), X)[0]
    np.testing.assert_array_equal(out, expected)


TAKE_ALONG_CASES = [
    pytest.param(lambda x: np.argsort(x, axis=0), 0, id="argsort-axis0"),
    pytest.param(lambda x: np.argsort(x, axis=1), 1, id="argsort-axis1"),
    pytest.param(lambda x: np.argsort(x, axis=-1)[:, :2], -1, id="top2"),
    pytest.param(lambda x: np.array([[0, 0, 3], [1, 1, 1], [3, 2, 3]]), 1, id="repeated"),
    pytest.param(lambda x: np.array([[2, 0, 2, 1]]), 0, id="broadcast-rows"),
    pytest.param(lambda x: np.argsort(x, axis=None)[::-1], None, id="axis-None"),
]


@pytest.mark.parametrize("make_indices, axis", TAKE_ALONG_CASES)
def test_take_along_axis(make_indices, axis):
    idx = make_indices(X)
    expected = np.take_along_axis(X, idx, axis=axis)
    np.testing.assert_array_equal(cnp.take_along_axis(X, idx, axis), expected)
    out, vjp_fn = cr.vjp(lambda t: cnp.take_along_axis(t, idx, axis), X)
    np.testing.assert_array_equal(out, expected)
    w = rng_for("tal", repr(idx), axis).standard_normal(expected.shape)
    oracle = scatter_oracle(lambda i: np.take_along_axis(i, idx, axis=axis), X.shape, w)
    np.testing.assert_allclose(vjp_fn(w)[0], oracle, rtol=1e-14, atol=0)
    check_grads(lambda t: cnp.take_along_axis(t, idx, axis), (X,), order=2)


def test_take_along_axis_with_traced_indices():
    # indices computed from the traced value itself (argmax with keepdims)
    g = cr.grad(lambda t: cnp.sum(cnp.take_along_axis(t, cnp.argmax(t, axis=1, keepdims=True),
                                                      axis=1)))(X)
    np.testing.assert_array_equal(g, 1.0 * (X == X.max(axis=1, keepdims=True)))


# --- index_add, index_set --------------------------------------------------------------------


def y_ids(x, index, y_shape):
    """For each element of x[index], which element of y (broadcast) is written there."""
    target = np.shape(x[index])
    return np.broadcast_to(np.arange(int(np.prod(y_shape))).reshape(y_shape), target)


UPDATE_CASES = [
    pytest.param((3, 4), 1, (4,), id="int"),
    pytest.param((3, 4), 1, (), id="int-scalar-y"),
    pytest.param((3, 4), slice(1, 3), (2, 4), id="slice"),
    pytest.param((3, 4), slice(None, None, -2), (1, 4), id="reverse-step-broadcast-y"),
    pytest.param((3, 4), (slice(None), 0), (3,), id="column"),
    pytest.param((3, 4), (Ellipsis, -1), (), id="ellipsis-scalar-y"),
    pytest.param((5,), [0, 2], (2,), id="fancy"),
    pytest.param((5,), [4, 0, 4, 4], (4,), id="fancy-repeated"),
    pytest.param((5,), [1, 1], (), id="fancy-repeated-scalar-y"),
    pytest.param((3, 4), ([0, 2, 0], [1, 3, 1]), (3,), id="fancy-pairs-repeated"),
    pytest.param((3, 4), (slice(None), [0, 0]), (3, 1), id="slice-fancy-repeated"),
    pytest.param((3, 4), np.array([True, False, True]), (4,), id="mask"),
    pytest.param((3, 4), M, (int(M.sum()),), id="mask-full"),
]


def update_inputs(x_shape, y_shape, key):
    rng = rng_for("upd", key)
    return rng.standard_normal(x_shape), np.asarray(rng.standard_normal(y_shape))


@pytest.mark.parametrize("x_shape, index, y_shape", UPDATE_CASES)
def test_index_add(x_shape, index, y_shape):
    x, y = update_inputs(x_shape, y_shape, repr(index))
    expected = x.copy()
    np.add.at(expected, index, y)
    np.testing.assert_allclose(cnp.index_add(x, index, y), expected, rtol=1e-15)
    out, vjp_fn = cr.vjp(lambda a, b: cnp.index_add(a, index, b), x, y)
    np.testing.assert_allclose(out, expected, rtol=1e-15)
    w = rng_for("w-add", repr(index)).standard_normal(x_shape)
    gx, gy = vjp_fn(w)
    np.testing.assert_array_equal(gx, w)  # every element of x passes through once
    ids = y_ids(x, index, y_shape)
    expected_gy = np.bincount(ids.ravel(), weights=w[index].ravel(), minlength=ids.size)
    assert np.shape(gy) == y_shape
    np.testing.assert_allclose(gy, expected_gy[: int(np.prod(y_shape))].reshape(y_shape),
                               rtol=1e-14)
    check_grads(lambda a, b: cnp.index_add(a, index, b), (x, y), order=2)


@pytest.mark.parametrize("x_shape, index, y_shape", UPDATE_CASES)
def test_index_set(x_shape, index, y_shape):
    x, y = update_inputs(x_shape, y_shape, repr(index))
    expected = x.copy()
    expected[index] = y
    np.testing.assert_array_equal(cnp.index_set(x, index, y), expected)
    out, vjp_fn = cr.vjp(lambda a, b: cnp.index_set(a, index, b), x, y)
    np.testing.assert_array_equal(out, expected)
    w = rng_for("w-set", repr(index)).standard_normal(x_shape)
    gx, gy = vjp_fn(w)
    # x keeps its gradient where nothing was written
    kept = np.ones(x_shape, bool)
    kept[index] = False
    np.testing.assert_array_equal(gx, np.where(kept, w, 0.0))
    # y gets the gradient of the positions it ends up in (the last write wins, as in NumPy)
    winner = np.full(x_shape, -1)
    winner[index] = y_ids(x, index, y_shape)
    hit = winner >= 0
    n = int(np.prod(y_shape))
    expected_gy = np.bincount(winner[hit], weights=w[hit], minlength=n).reshape(y_shape)
    assert np.shape(gy) == y_shape
    np.testing.assert_allclose(gy, expected_gy, rtol=1e-14, atol=0)
    check_grads(lambda a, b: cnp.index_set(a, index, b), (x, y), order=2)


def test_index_add_docstring_examples_and_constants():
    np.testing.assert_array_equal(cnp.index_add(np.zeros(3), [0, 0], 1.0), [2.0, 0.0, 0.0])
    np.testing.assert_array_equal(cnp.index_set(np.zeros(2), 1, 5.0), [0.0, 5.0])
    # only y traced: x a constant
    g = cr.grad(lambda b: cnp.sum(cnp.index_add(np.zeros(3), [0, 0, 2], b) ** 2))(
        np.array([1.0, 2.0, 3.0]))
    # out = [1 + 2, 0, 3]; d/db = 2 out[index] = [6, 6, 6]
    np.testing.assert_array_equal(g, [6.0, 6.0, 6.0])
    # only x traced: y a constant
    g = cr.grad(lambda a: cnp.sum(cnp.index_set(a, 1, 10.0) * a))(np.array([1.0, 2.0, 3.0]))
    # out * a = [a0^2, 10 a1, a2^2]
    np.testing.assert_array_equal(g, [2.0, 10.0, 6.0])


def test_index_updates_compose_like_a_loop():
    # y[i] = x[i] ** (i + 1), built by successive index_set: the Jacobian is diagonal
    x = np.array([1.5, 2.0, 0.5])

    def f(t):
        y = np.zeros(3)
        for i in range(3):
            y = cnp.index_set(y, i, t[i] ** (i + 1))
        return y

    J = cr.jacrev(f)(x)
    np.testing.assert_allclose(J, np.diag([1.0, 2 * x[1], 3 * x[2] ** 2]))


def test_index_add_float32_keeps_dtype():
    x = np.zeros(4, np.float32)
    y = np.ones(2, np.float32)
    out, vjp_fn = cr.vjp(lambda a, b: cnp.index_add(a, [1, 1], b), x, y)
    assert out.dtype == np.float32
    gx, gy = vjp_fn(np.arange(4, dtype=np.float32))
    assert gx.dtype == np.float32 and gy.dtype == np.float32
    np.testing.assert_array_equal(gy, [1.0, 1.0])


# --- against PyTorch and JAX -----------------------------------------------------------------


def test_fancy_indexing_against_torch():
    torch = pytest.importorskip("torch")
    idx_r, idx_c = [0, 2, 0, 1], [3, 3, 3, 0]
    w = rng_for("torch-idx").standard_normal(4)
    tx = torch.tensor(X, requires_grad=True)
    (torch.tensor(w) * torch.tanh(tx[idx_r, idx_c]) ** 2).sum().backward()
    g = cr.grad(lambda t: cnp.sum(w * cnp.tanh(t[idx_r, idx_c]) ** 2))(X)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12, atol=1e-14)
    tx = torch.tensor(X, requires_grad=True)
    (tx[torch.tensor(M)] ** 3).sum().backward()
    g = cr.grad(lambda t: cnp.sum(t[M] ** 3))(X)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12)
    tx = torch.tensor(X, requires_grad=True)
    idx = torch.tensor([[0, 0, 3], [1, 1, 1], [3, 2, 3]])
    torch.gather(tx, 1, idx).exp().sum().backward()
    g = cr.grad(lambda t: cnp.sum(cnp.exp(cnp.take_along_axis(t, idx.numpy(), 1))))(X)
    np.testing.assert_allclose(g, tx.grad.numpy(), rtol=1e-12)


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def test_index_updates_against_jax(jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    x = X
    y = np.array([0.5, -1.0, 2.0])
    rows, cols = np.array([0, 2, 0]), np.array([1, 3, 1])  # (0, 1) twice: adds accumulate

    def f_cr(a, b):
        z = cnp.index_add(a, (rows, cols), b * b)
        z = cnp.index_set(z, (slice(None), 0), cnp.sin(b))
        return cnp.sum(z**2 * a) + cnp.sum(z[[1, 1, 2], 1:3])

    def f_jax(a, b):
        z = a.at[rows, cols].add(b * b)
        z = z.at[:, 0].set(jnp.sin(b))
        return jnp.sum(z**2 * a) + jnp.sum(z[jnp.array([1, 1, 2]), 1:3])

    g = cr.grad(f_cr, argnums=(0, 1))(x, y)
    jg = jax_x64.grad(f_jax, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(g[0], np.asarray(jg[0]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g[1], np.asarray(jg[1]), rtol=1e-12, atol=1e-14)
