"""NumPy's own functions on traced values: the ones chainrule differentiates dispatch to it,
ufunc methods (reduce, accumulate, outer, at) do what NumPy's do, and the rest run on the
values when no derivative is lost, or say so by name."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads
from finite_differences import central_gradient

rng = np.random.default_rng(8)
X = rng.normal(size=(3, 4))


@pytest.mark.parametrize(
    ("method", "ufunc", "reference"),
    [
        ("reduce", np.add, lambda x: np.add.reduce(x, axis=1)),
        ("reduce", np.multiply, lambda x: np.multiply.reduce(x, axis=0)),
        ("reduce", np.maximum, lambda x: np.maximum.reduce(x, axis=1)),
        ("reduce", np.minimum, lambda x: np.minimum.reduce(x, axis=None)),
        ("accumulate", np.add, lambda x: np.add.accumulate(x, axis=1)),
        ("accumulate", np.multiply, lambda x: np.multiply.accumulate(x, axis=0)),
    ],
)
def test_ufunc_reduce_and_accumulate_match_numpy_and_differentiate(method, ufunc, reference):
    f = reference
    value = f(X)
    traced = cr.vjp(f, X)[0]
    np.testing.assert_allclose(traced, value)
    g = cr.grad(lambda x: cnp.sum(f(x) ** 2))(X)
    np.testing.assert_allclose(g, central_gradient(lambda x: np.sum(f(x) ** 2), X), rtol=1e-6,
                               atol=1e-8)  # fmt: skip


def test_ufunc_outer_broadcasts_like_numpy():
    a, b = X[0], X[1, :3]
    f = lambda a, b: np.multiply.outer(a, b)  # noqa: E731
    np.testing.assert_allclose(cr.vjp(f, a, b)[0], np.multiply.outer(a, b))
    ga, gb = cr.grad(lambda a, b: cnp.sum(f(a, b) * np.arange(12.0).reshape(4, 3)), (0, 1))(a, b)
    w = np.arange(12.0).reshape(4, 3)
    np.testing.assert_allclose(ga, w @ b)
    np.testing.assert_allclose(gb, a @ w)
    check_grads(lambda a, b: np.subtract.outer(a, b) ** 2, (a, b), order=2)


def test_ufunc_at_is_refused_with_the_functional_form():
    def f(x):
        np.add.at(x, [0, 0], 1.0)
        return cnp.sum(x)

    with pytest.raises(TypeError, match="index_add"):
        cr.grad(f)(X[0])


def test_numpy_functions_chainrule_does_not_differentiate_run_on_integer_results():
    # argsort, count_nonzero, searchsorted: no derivative to lose
    def f(x):
        order = np.argsort(x)
        n = np.count_nonzero(x > 0)
        return cnp.sum(x[order][:2]) * n

    g = cr.grad(f)(X[0])
    x = X[0]
    order = np.argsort(x)
    expected = np.zeros_like(x)
    expected[order[:2]] = np.count_nonzero(x > 0)
    np.testing.assert_allclose(g, expected)


def test_a_numpy_function_that_would_drop_the_derivative_is_named():
    with pytest.raises(NotImplementedError, match=r"numpy\.\w+ is not differentiable"):
        cr.grad(lambda x: cnp.sum(np.histogram(x, bins=3)[1]))(X[0])


def test_a_numpy_function_runs_on_a_tensor_that_needs_no_gradient():
    t = cr.tensor(X.copy())
    counts, edges = np.histogram(t, bins=4)
    np.testing.assert_array_equal(counts, np.histogram(X, bins=4)[0])
    np.testing.assert_allclose(edges, np.histogram(X, bins=4)[1])


def test_in_place_numpy_function_on_a_plain_tensor_bumps_its_version():
    t = cr.tensor(np.zeros((3, 3)))
    before = t._ver[0]
    np.fill_diagonal(t, 2.0)
    np.testing.assert_allclose(t.numpy(), np.eye(3) * 2)
    assert t._ver[0] > before


def test_in_place_numpy_function_on_a_differentiated_value_is_refused():
    def f(x):
        np.fill_diagonal(x, 0.0)
        return cnp.sum(x)

    with pytest.raises(NotImplementedError, match="in place"):
        cr.grad(f)(np.ones((3, 3)))


def test_einsum_sublist_form_matches_numpy_and_differentiates():
    a, b = X, rng.normal(size=(4, 2))
    f = lambda a, b: cnp.einsum(a, [0, 1], b, [1, 2], [0, 2])  # noqa: E731
    np.testing.assert_allclose(f(a, b), np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
    np.testing.assert_allclose(f(a, b), a @ b)
    check_grads(f, (a, b), order=2)
    # implicit output (no output sublist) sums repeated indices like the string form
    np.testing.assert_allclose(cnp.einsum(X[:, :3], [0, 0]), np.trace(X[:, :3]))


@pytest.mark.parametrize("fn", ["max", "min"])
def test_max_min_initial_and_where_match_numpy(fn):
    x = X.copy()
    mask = x > 0
    npf, cf = getattr(np, fn), getattr(cnp, fn)
    init = 0.5 if fn == "max" else -0.5
    np.testing.assert_allclose(cf(x, axis=1, initial=init), npf(x, axis=1, initial=init))
    np.testing.assert_allclose(
        cf(x, axis=0, where=mask, initial=init), npf(x, axis=0, where=mask, initial=init)
    )

    def loss(x):
        return cnp.sum(cf(x, axis=1, where=mask, initial=init))

    g = cr.grad(loss)(x)
    np.testing.assert_allclose(
        g, central_gradient(lambda x: np.sum(npf(x, axis=1, where=mask, initial=init)), x),
        atol=1e-6,
    )


def test_grad_accepts_an_output_of_size_one():
    g = cr.grad(lambda x: cnp.sum(x**2, keepdims=True))(X)
    np.testing.assert_allclose(g, 2 * X)
    with pytest.raises(TypeError, match="scalar"):
        cr.grad(lambda x: x**2)(X)


def test_a_library_that_converts_a_traced_value_is_named_with_the_replacement():
    scipy_stats = pytest.importorskip("scipy.stats")
    scipy_optimize = pytest.importorskip("scipy.optimize")
    with pytest.raises(TypeError, match=r"scipy\.stats\.norm\.logpdf .*test_dispatch\.py.*"
                                        r"chainrule\.scipy\.stats\.norm\.logpdf"):  # fmt: skip
        cr.grad(lambda x: cnp.sum(scipy_stats.norm.logpdf(x)))(X)
    with pytest.raises(TypeError, match=r"scipy\.optimize\.rosen .*stop_gradient"):
        cr.grad(lambda x: scipy_optimize.rosen(x))(X[0])
    with pytest.raises(TypeError, match="cannot become a NumPy array"):
        cr.grad(lambda x: cnp.sum(np.asarray(x)))(X)


def test_item_of_a_differentiated_value_names_the_way_out():
    with pytest.raises(TypeError, match=r"item\(\) of a value being differentiated.*stop_gradient"):
        cr.grad(lambda x: x.item() * x)(2.0)
    # under a trace whose values are concrete and carry no derivative, item() is the value
    assert cr.vmap(lambda x: x * 2.0)(np.arange(2.0)).tolist() == [0.0, 2.0]


def test_assigning_a_differentiated_value_into_a_numpy_array_gives_the_hint():
    def f(x):
        y = np.zeros(3)
        y[0] = x
        return cnp.sum(y)

    with pytest.raises(ValueError) as info:
        cr.grad(f)(2.0)
    cause = info.value.__cause__ or info.value.__context__
    assert "cnp.stack or cnp.index_set" in str(info.value) + str(cause)
