"""The functional API: grad, value_and_grad, vjp, jvp, elementwise_grad, jacrev/jacobian,
hessian, stop_gradient; pytrees; higher order; nesting without perturbation confusion; NumPy's
own functions on traced values."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# --- grad and value_and_grad: argnums, has_aux, kwargs ----------------------------------------


def f3(x, y, z):
    return x * cnp.sin(y) + z**2 * y


@pytest.mark.parametrize(
    "argnums,expected",
    [(0, math.sin(2.0)), (1, 1.5 * math.cos(2.0) + 9.0), (2, 2 * 3.0 * 2.0),
     ((0, 2), (math.sin(2.0), 12.0)), ((2, 0), (12.0, math.sin(2.0))),
     ((0, 1, 2), (math.sin(2.0), 1.5 * math.cos(2.0) + 9.0, 12.0)), (-1, 12.0)],
)  # fmt: skip
def test_grad_argnums(argnums, expected):
    g = cr.grad(f3, argnums=argnums)(1.5, 2.0, 3.0)
    if isinstance(argnums, tuple):
        assert isinstance(g, tuple) and len(g) == len(argnums)
        for a, b in zip(g, expected):
            assert a == pytest.approx(b, rel=1e-14)
    else:
        assert not isinstance(g, tuple)
        assert g == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("argnums", [0, (0, 1), (1,)])
def test_value_and_grad_matches_value_and_grad(argnums):
    v, g = cr.value_and_grad(f3, argnums=argnums)(1.5, 2.0, 3.0)
    assert v == pytest.approx(1.5 * math.sin(2.0) + 18.0, rel=1e-14)
    g2 = cr.grad(f3, argnums=argnums)(1.5, 2.0, 3.0)
    if isinstance(argnums, tuple):
        assert isinstance(g, tuple) and len(g) == len(argnums)
        np.testing.assert_array_equal(np.array(g), np.array(g2))
    else:
        assert g == g2


def test_grad_returns_float64_scalars_and_preserves_float32():
    g = cr.grad(lambda x: x**2)(3.0)
    assert g == 6.0 and np.result_type(g) == np.float64 and np.ndim(g) == 0
    g32 = cr.grad(lambda x: cnp.sum(x**2))(np.ones(3, np.float32))
    assert g32.dtype == np.float32
    g32 = cr.grad(lambda x: x**3)(np.float32(2.0))
    assert np.result_type(g32) == np.float32 and g32 == 12.0


def test_has_aux():
    def f(x):
        y = cnp.sin(x)
        return cnp.sum(y**2), {"y": y, "n": 3}

    x = np.array([0.1, 0.7])
    g, aux = cr.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * np.sin(x) * np.cos(x), rtol=1e-14)
    np.testing.assert_allclose(aux["y"], np.sin(x), rtol=1e-14)
    assert isinstance(aux["y"], np.ndarray)  # aux comes back as plain data, not traced
    assert aux["n"] == 3
    (v, aux2), g2 = cr.value_and_grad(f, has_aux=True)(x)
    assert v == pytest.approx(np.sum(np.sin(x) ** 2), rel=1e-14)
    np.testing.assert_allclose(g2, g)
    np.testing.assert_allclose(aux2["y"], np.sin(x))


def test_has_aux_with_argnums_tuple():
    g, aux = cr.grad(lambda x, y: (x * y, x + y), argnums=(0, 1), has_aux=True)(2.0, 5.0)
    assert g == (5.0, 2.0) and aux == 7.0


def test_kwargs_passed_through_grad_and_value_and_grad():
    def f(x, *, scale, shift=0.0):
        return scale * (x - shift) ** 2

    assert cr.grad(f)(3.0, scale=2.0) == pytest.approx(12.0)
    assert cr.grad(f)(3.0, scale=2.0, shift=1.0) == pytest.approx(8.0)
    v, g = cr.value_and_grad(f)(3.0, scale=2.0, shift=1.0)
    assert (v, g) == (pytest.approx(8.0), pytest.approx(8.0))
    g = cr.elementwise_grad(f)(np.array([1.0, 2.0]), scale=3.0)
    np.testing.assert_allclose(g, [6.0, 12.0])


def test_kwargs_passed_through_jacobian_and_hessian():
    def f(x, scale=1.0):
        return scale * x**3

    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(cr.jacrev(f)(x, scale=2.0), np.diag(6 * x**2))
    np.testing.assert_allclose(cr.jacobian(f)(x, scale=2.0), np.diag(6 * x**2))
    np.testing.assert_allclose(
        cr.hessian(lambda x, scale=1.0: cnp.sum(f(x, scale)))(x, scale=2.0), np.diag(12 * x)
    )


def test_gradient_of_unused_input_is_zero_of_its_shape_and_dtype():
    assert cr.grad(lambda x: 2.0)(1.0) == 0.0
    g = cr.grad(lambda x, y: cnp.sum(x**2), argnums=(0, 1))(np.ones(2), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(g[0], [2.0, 2.0])
    assert g[1].shape == (2, 3) and g[1].dtype == np.float32 and not g[1].any()
    J = cr.jacobian(lambda x: np.ones(3))(np.ones(2))
    np.testing.assert_array_equal(J, np.zeros((3, 2)))


def test_same_value_passed_twice():
    x = np.array([1.0, 2.0])
    ga, gb = cr.grad(lambda a, b: cnp.sum(a * b**2), argnums=(0, 1))(x, x)
    np.testing.assert_allclose(ga, x**2)
    np.testing.assert_allclose(gb, 2 * x * x)


# --- pytrees ---------------------------------------------------------------------------------

Params = namedtuple("Params", ["w", "b"])


class Affine:
    """A user container registered as a pytree node."""

    def __init__(self, w, b):
        self.w, self.b = w, b


cr.tree_util.register_pytree_node(Affine, lambda p: ([p.w, p.b], None), lambda _, c: Affine(*c))


def test_tree_util_is_importable_as_a_module():
    """`from jax.tree_util import register_pytree_node` has its chainrule twin."""
    import importlib

    mod = importlib.import_module("chainrule.tree_util")
    assert mod.register_pytree_node is cr.tree_util.register_pytree_node


def test_pytree_inputs_tuple_list_dict_nested():
    x = {"a": (1.0, np.array([2.0, 3.0])), "b": [4.0, {"c": 5.0}]}

    def f(t):
        a0, a1 = t["a"]
        b0, b1 = t["b"]
        return a0 * cnp.sum(a1**2) + b0 * b1["c"]

    g = cr.grad(f)(x)
    assert set(g) == {"a", "b"} and isinstance(g["a"], tuple) and isinstance(g["b"], list)
    assert g["a"][0] == pytest.approx(13.0)
    np.testing.assert_allclose(g["a"][1], [4.0, 6.0])
    assert g["b"][0] == pytest.approx(5.0)
    assert isinstance(g["b"][1], dict) and g["b"][1]["c"] == pytest.approx(4.0)


def test_pytree_namedtuple_and_registered_class():
    p = Params(w=np.array([1.0, -2.0]), b=0.5)
    x = np.array([3.0, 4.0])
    loss = lambda p: (cnp.dot(p.w, x) + p.b) ** 2
    g = cr.grad(loss)(p)
    assert isinstance(g, Params)
    r = 2 * (np.dot(p.w, x) + p.b)
    np.testing.assert_allclose(g.w, r * x)
    assert g.b == pytest.approx(r)

    a = Affine(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]))
    loss = lambda a: cnp.sum(cnp.tanh(a.w @ x + a.b))
    g = cr.grad(loss)(a)
    assert isinstance(g, Affine)
    d = 1 - np.tanh(a.w @ x + a.b) ** 2
    np.testing.assert_allclose(g.w, np.outer(d, x), rtol=1e-14)
    np.testing.assert_allclose(g.b, d, rtol=1e-14)


def test_pytree_outputs_vjp_and_jacobian():
    x = np.array([1.0, 2.0])

    def f(x):
        return {"sq": x**2, "pair": (cnp.sum(x), [x[0] * x[1]])}

    out, f_vjp = cr.vjp(f, x)
    np.testing.assert_allclose(out["sq"], x**2)
    assert out["pair"][0] == 3.0 and out["pair"][1][0] == 2.0
    ct = {"sq": np.array([1.0, 10.0]), "pair": (100.0, [1000.0])}
    (gx,) = f_vjp(ct)
    np.testing.assert_allclose(gx, [2 * 1 + 100 + 1000 * 2, 10 * 4 + 100 + 1000 * 1])

    J = cr.jacobian(f)(x)
    np.testing.assert_allclose(J["sq"], np.diag(2 * x))
    np.testing.assert_allclose(J["pair"][0], [1.0, 1.0])
    np.testing.assert_allclose(J["pair"][1][0], [2.0, 1.0])


def test_vjp_several_primals_and_has_aux():
    out, f_vjp, aux = cr.vjp(lambda a, b: (a * b, "aux"), np.array([1.0, 2.0]), 3.0, has_aux=True)
    assert aux == "aux"
    ga, gb = f_vjp(np.array([1.0, -1.0]))
    np.testing.assert_allclose(ga, [3.0, -3.0])
    assert gb == pytest.approx(1.0 - 2.0)


def test_vjp_wrong_cotangent_shape_and_structure():
    _, f_vjp = cr.vjp(lambda x: x**2, np.ones(3))
    with pytest.raises(ValueError, match=r"\(4,\).*\(3,\)|\(3,\).*\(4,\)"):
        f_vjp(np.ones(4))
    _, f_vjp = cr.vjp(lambda x: (x, 2 * x), np.ones(3))
    with pytest.raises(ValueError, match="structure"):
        f_vjp(np.ones(3))
    with pytest.raises(ValueError):
        f_vjp((np.ones(3), np.ones(2)))


def test_vjp_is_linear_in_cotangent_and_reusable():
    A = _rand((3, 4), 0)
    out, f_vjp = cr.vjp(lambda x: cnp.tanh(A @ x), _rand(4, 1))
    u, v = _rand(3, 2), _rand(3, 3)
    (gu,), (gv,), (guv,) = f_vjp(u), f_vjp(v), f_vjp(2 * u - v)
    np.testing.assert_allclose(guv, 2 * gu - gv, rtol=1e-12, atol=1e-14)
    d = 1 - out**2
    np.testing.assert_allclose(gu, A.T @ (d * u), rtol=1e-13)


# --- elementwise_grad, jacobian, hessian, jvp ------------------------------------------------


def test_elementwise_grad():
    x = np.linspace(-2, 2, 7)
    np.testing.assert_allclose(cr.elementwise_grad(cnp.tanh)(x), 1 - np.tanh(x) ** 2, rtol=1e-14)
    gx, gy = cr.elementwise_grad(lambda x, y: x * y**2, argnums=(0, 1))(x, 2 * x)
    np.testing.assert_allclose(gx, (2 * x) ** 2)
    np.testing.assert_allclose(gy, 2 * x * 2 * x)
    # broadcasting: y is a scalar, its elementwise gradient sums over x
    g = cr.elementwise_grad(lambda x, y: x * y, argnums=1)(x, 3.0)
    assert g == pytest.approx(np.sum(x))


@pytest.mark.parametrize(
    "in_shape,out_shape", [((), ()), ((), (3,)), ((3,), ()), ((3,), (4,)), ((2, 3), (4,)),
                           ((4,), (2, 2)), ((2, 3), (2, 2))],
)  # fmt: skip
def test_jacobian_shape_and_values_linear_map(in_shape, out_shape):
    """f(x) = W x (reshaped): its Jacobian is W, of shape out.shape + in.shape."""
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    W = _rand((n_out, n_in), 4)
    f = lambda x: cnp.reshape(W @ cnp.reshape(x, (n_in,)), out_shape)
    x = _rand(in_shape, 5)
    for jac in (cr.jacrev, cr.jacobian, cr.jacfwd):
        J = jac(f)(x)
        assert np.shape(J) == out_shape + in_shape
        np.testing.assert_allclose(J, W.reshape(out_shape + in_shape), rtol=1e-14)


def test_jacobian_nonlinear_closed_form():
    x = np.array([0.5, -1.0, 2.0])
    # f(x) = [x0*x1, sin(x2), x0 + x1**2 + x2**3]
    f = lambda x: cnp.stack([x[0] * x[1], cnp.sin(x[2]), x[0] + x[1] ** 2 + x[2] ** 3])
    J = cr.jacobian(f)(x)
    exp = np.array([[x[1], x[0], 0.0], [0.0, 0.0, np.cos(x[2])], [1.0, 2 * x[1], 3 * x[2] ** 2]])
    np.testing.assert_allclose(J, exp, rtol=1e-14)


def test_jacobian_argnums_tuple_and_pytree_input():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    Jx, Jy = cr.jacrev(lambda x, y: cnp.outer(x, y), argnums=(0, 1))(x, y)
    assert Jx.shape == (2, 3, 2) and Jy.shape == (2, 3, 3)
    np.testing.assert_allclose(Jx, np.einsum("ik,j->ijk", np.eye(2), y))
    np.testing.assert_allclose(Jy, np.einsum("i,jk->ijk", x, np.eye(3)))
    J = cr.jacrev(lambda d: d["a"] * cnp.sum(d["b"]))({"a": x, "b": y})
    assert set(J) == {"a", "b"}
    np.testing.assert_allclose(J["a"], np.eye(2) * y.sum())
    np.testing.assert_allclose(J["b"], np.outer(x, np.ones(3)))


def test_jacobian_has_aux():
    J, aux = cr.jacrev(lambda x: (x**2, x.shape), has_aux=True)(np.array([1.0, 3.0]))
    np.testing.assert_allclose(J, np.diag([2.0, 6.0]))
    assert aux == (2,)


def _rosen(x):
    return cnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] += -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def _rosen_hess(x):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i + 1, i + 1] += 200.0
        H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
    return H


@pytest.mark.parametrize("seed", [0, 1])
def test_rosenbrock_gradient_and_hessian_n10(seed):
    x = np.random.default_rng(seed).uniform(-2, 2, 10)
    np.testing.assert_allclose(cr.grad(_rosen)(x), _rosen_grad(x), rtol=1e-12, atol=1e-10)
    H = cr.hessian(_rosen)(x)
    assert H.shape == (10, 10)
    np.testing.assert_allclose(H, _rosen_hess(x), rtol=1e-12, atol=1e-10)
    # at the minimum
    np.testing.assert_allclose(cr.grad(_rosen)(np.ones(10)), np.zeros(10), atol=1e-14)
    np.testing.assert_allclose(cr.hessian(_rosen)(np.ones(10)), _rosen_hess(np.ones(10)))


def test_hessian_argnums_and_matrix_input():
    A = _rand((3, 3), 6)
    H = cr.hessian(lambda X: cnp.sum((A * X) ** 2))(np.ones((3, 3)))
    assert H.shape == (3, 3, 3, 3)
    exp = np.einsum("ij,ik,jl->ijkl", 2 * A**2, np.eye(3), np.eye(3))
    np.testing.assert_allclose(H, exp, rtol=1e-14)
    Hy = cr.hessian(lambda x, y: x * cnp.sum(y**3), argnums=1)(2.0, np.array([1.0, 2.0]))
    np.testing.assert_allclose(Hy, np.diag([2.0 * 6 * 1.0, 2.0 * 6 * 2.0]))


def test_jvp_closed_form():
    out, t = cr.jvp(lambda x: x * cnp.sin(x), (1.3,), (2.0,))
    assert out == pytest.approx(1.3 * math.sin(1.3), rel=1e-14)
    assert t == pytest.approx(2.0 * (math.sin(1.3) + 1.3 * math.cos(1.3)), rel=1e-14)
    A = _rand((3, 4), 7)
    x, v = _rand(4, 8), _rand(4, 9)
    out, t = cr.jvp(lambda x: cnp.tanh(A @ x), (x,), (v,))
    np.testing.assert_allclose(out, np.tanh(A @ x), rtol=1e-14)
    np.testing.assert_allclose(t, (1 - np.tanh(A @ x) ** 2) * (A @ v), rtol=1e-12)
    # two primals
    out, t = cr.jvp(lambda a, b: a * b**2, (2.0, 3.0), (1.0, 10.0))
    assert t == pytest.approx(9.0 + 2 * 2.0 * 3.0 * 10.0)


def test_jvp_pytree_and_count_mismatch():
    out, t = cr.jvp(lambda d: d["a"] * d["b"], ({"a": 2.0, "b": 3.0},), ({"a": 1.0, "b": 0.5},))
    assert out == 6.0 and t == pytest.approx(3.0 + 1.0)
    with pytest.raises(TypeError):  # as JAX
        cr.jvp(lambda a, b: a * b, (1.0, 2.0), (1.0,))


# --- higher order and nesting ----------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, 0.7, -2.1])
def test_derivatives_of_any_order(x):
    d1 = cr.grad(cnp.sin)
    d2 = cr.grad(d1)
    d3 = cr.grad(d2)
    d4 = cr.grad(d3)
    d5 = cr.grad(d4)
    assert d1(x) == pytest.approx(math.cos(x), abs=1e-15)
    assert d2(x) == pytest.approx(-math.sin(x), abs=1e-15)
    assert d3(x) == pytest.approx(-math.cos(x), abs=1e-15)
    assert d4(x) == pytest.approx(math.sin(x), abs=1e-15)
    assert d5(x) == pytest.approx(math.cos(x), abs=1e-15)


def test_high_order_polynomial_and_exp():
    f = lambda x: x**6
    g = f
    for _ in range(6):
        g = cr.grad(g)
    assert g(1.7) == pytest.approx(720.0)
    assert cr.grad(cr.grad(cr.grad(cr.grad(lambda x: cnp.exp(2 * x)))))(0.3) == pytest.approx(
        16 * math.exp(0.6), rel=1e-14
    )


def test_nested_no_perturbation_confusion_basic():
    assert cr.grad(lambda x: x * cr.grad(lambda y: x + y)(1.0))(2.0) == 1.0
    assert cr.grad(lambda x: x * cr.grad(lambda y: x * y)(1.0))(2.0) == 4.0


def test_nested_closures_harder():
    # inner derivative evaluated at the outer variable: d/dx [2 x * x] = 4x
    assert cr.grad(lambda x: cr.grad(lambda y: x * y**2)(x))(3.0) == pytest.approx(12.0)
    # three levels: d/dz (x y z) = x y ; d/dy = x ; d/dx = 1
    f = lambda x: cr.grad(lambda y: cr.grad(lambda z: x * y * z)(1.0))(1.0)
    assert cr.grad(f)(2.0) == pytest.approx(1.0)
    # a gradient function built from a closure, used at two points
    def outer(x):
        g = cr.grad(lambda y: cnp.sin(x * y))
        return g(x) + g(2.0)

    x = 0.8
    exp = (math.cos(x * x) - 2 * x * x * math.sin(x * x)) + (
        math.cos(2 * x) - 2 * x * math.sin(2 * x)
    )
    assert cr.grad(outer)(x) == pytest.approx(exp, rel=1e-13)
    # inner argnums over two arguments, one of which is the outer variable
    h = lambda x: cr.grad(lambda y, z: y * z * x, argnums=1)(x, 2.0)
    assert cr.grad(h)(3.0) == pytest.approx(6.0)
    # inner x^2 y^3 differentiated in y at y = x: 3 x^4 -> 12 x^3
    assert cr.grad(lambda x: cr.grad(lambda y: x**2 * y**3)(x))(2.0) == pytest.approx(96.0)
    # the inner function returns a closure over the outer tracer
    mk = lambda x: (lambda y: x * y)
    assert cr.grad(lambda x: cr.grad(mk(x))(x**2))(3.0) == pytest.approx(1.0)


def test_nested_jacobian_jvp_value_and_grad_inside_grad():
    x = np.array([0.3, -0.4, 1.1])
    # sum(jacobian(y -> x y^2)(x)) = sum(diag(2 x^2)) -> gradient 4x
    g = cr.grad(lambda x: cnp.sum(cr.jacobian(lambda y: x * y**2)(x)))(x)
    np.testing.assert_allclose(g, 4 * x, rtol=1e-14)
    # jvp of y -> x sin(y) at y = x along 1: x cos x -> cos x - x sin x
    x0 = 0.9
    g = cr.grad(lambda x: cr.jvp(lambda y: x * cnp.sin(y), (x,), (1.0,))[1])(x0)
    assert g == pytest.approx(math.cos(x0) - x0 * math.sin(x0), rel=1e-13)
    # value_and_grad inside grad: v + g for y -> x y^2 at y = 1: x + 2x -> 3
    g = cr.grad(lambda x: sum(cr.value_and_grad(lambda y: x * y**2)(1.0)))(x0)
    assert g == pytest.approx(3.0)
    # jvp of a gradient (forward over reverse): H v
    f = lambda x: cnp.sum(x**3)
    _, hv = cr.jvp(cr.grad(f), (x,), (np.ones(3),))
    np.testing.assert_allclose(hv, 6 * x, rtol=1e-14)


# --- stop_gradient ---------------------------------------------------------------------------


def test_stop_gradient():
    assert cr.grad(lambda x: x * cr.stop_gradient(x))(3.0) == 3.0
    assert cr.grad(lambda x: cr.stop_gradient(x**2) + x)(3.0) == 1.0
    assert cr.stop_gradient(2.5) == 2.5
    t = cr.stop_gradient({"a": np.ones(2), "b": (1.0,)})
    np.testing.assert_array_equal(t["a"], np.ones(2))
    g = cr.grad(lambda d: cnp.sum(d["a"] * cr.stop_gradient(d)["a"]))({"a": np.array([2.0, 5.0])})
    np.testing.assert_allclose(g["a"], [2.0, 5.0])


def test_stop_gradient_nested():
    # second derivative of x^2 * sg(x) is 2 sg(x)
    assert cr.grad(cr.grad(lambda x: x**2 * cr.stop_gradient(x)))(3.0) == pytest.approx(6.0)
    # stop_gradient on an outer value inside an inner grad stops the outer derivative through it
    g = cr.grad(lambda x: cr.grad(lambda y: y * cr.stop_gradient(x))(1.0))(3.0)
    assert g == 0.0
    # ... and an inner stop_gradient leaves the outer derivative through other paths
    g = cr.grad(lambda x: cr.grad(lambda y: y * x + cr.stop_gradient(y * x))(1.0))(3.0)
    assert g == pytest.approx(1.0)


# --- NumPy's functions on traced values ------------------------------------------------------

X = np.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize(
    "name,f,expected",
    [("np.sin", lambda x: np.sum(np.sin(x)), np.cos(X)),
     ("np.exp/np.mean", lambda x: np.mean(np.exp(x)), np.exp(X) / 3),
     ("np.dot", lambda x: np.dot(x, x), 2 * X),
     ("np.sum-axis", lambda x: np.sum(np.sum(np.outer(x, x) ** 2, axis=0)),
      4 * X * np.sum(X**2)),
     ("np.maximum", lambda x: np.sum(np.maximum(x, 0.0)), (X > 0).astype(float)),
     ("np.where", lambda x: np.sum(np.where(x > 0, x**2, -x)), np.where(X > 0, 2 * X, -1.0)),
     ("np.concatenate", lambda x: np.sum(np.concatenate([x, 2 * x]) ** 2), 10 * X),
     ("np.tanh-method-sum", lambda x: np.tanh(x).sum(), 1 - np.tanh(X) ** 2),
     ("np.linalg.norm", lambda x: np.linalg.norm(x), X / np.linalg.norm(X)),
     ("np.reshape/transpose", lambda x: np.sum(np.transpose(np.reshape(x, (1, 3))) * X[:, None]),
      X),
     ("np.square/np.sqrt", lambda x: np.sum(np.sqrt(np.square(x) + 1.0)), X / np.sqrt(X**2 + 1)),
     ("ndarray-op", lambda x: np.sum(np.array([1.0, 2.0, 3.0]) * x + np.ones(3)),
      np.array([1.0, 2.0, 3.0]))],
)  # fmt: skip
def test_numpy_functions_on_traced_values(name, f, expected):
    np.testing.assert_allclose(cr.grad(f)(X), expected, rtol=1e-13)


def test_numpy_ufunc_on_traced_value_returns_traced():
    seen = []

    def f(x):
        y = np.sin(x)
        seen.append(type(y))
        return np.sum(y)

    cr.grad(f)(X)
    assert not issubclass(seen[0], np.ndarray)


@pytest.mark.parametrize(
    "name,call",
    [("histogram", lambda x: np.histogram(x)[1]),
     ("nextafter", lambda x: np.nextafter(x, 2.0))],
)  # fmt: skip
def test_unsupported_numpy_function_on_traced_value_raises_clearly(name, call):
    with pytest.raises(NotImplementedError, match=name):
        cr.grad(lambda x: np.sum(call(x)))(X)


@pytest.mark.parametrize(
    "name,args",
    [("histogram", (np.arange(6.0),)), ("nextafter", (np.array([1.0, 2.0]), 3.0)),
     ("spacing", (np.array([1.0, 2.0]),)),
     ("histogram2d", (np.arange(4.0), np.arange(4.0)))],
)  # fmt: skip
def test_cnp_unsupported_passes_through_on_plain_and_raises_on_traced(name, args):
    got = getattr(cnp, name)(*args)
    exp = getattr(np, name)(*args)
    if isinstance(exp, tuple):
        for a, b in zip(got, exp):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(got, exp)
    with pytest.raises(NotImplementedError, match=name):

        def f(x):
            traced = (x * args[0],) + args[1:]
            return cnp.sum(cnp.asarray(getattr(cnp, name)(*traced), dtype=float))

        cr.grad(f)(1.0)


def test_cnp_fft_on_traced_value_differentiates_or_refuses_clearly():
    """The API lists `fft` in chainrule.numpy: either it differentiates correctly or it
    raises NotImplementedError naming fft (never an unrelated crash)."""
    x = np.array([0.5, -1.0, 2.0, 0.25])
    try:
        g = cr.grad(lambda x: cnp.sum(cnp.real(cnp.fft.fft(x)) ** 2))(x)
    except NotImplementedError as e:
        assert "fft" in str(e)
    else:
        F = np.fft.fft(x)
        # d/dx sum(Re(F)^2) = 2 Re(C^T Re F) with C_kn = exp(-2 pi i k n / N)
        n = np.arange(4)
        C = np.exp(-2j * np.pi * np.outer(n, n) / 4)
        np.testing.assert_allclose(g, 2 * np.real(C).T @ np.real(F), rtol=1e-12)


def test_check_grads_passes_on_composite_function():
    f = lambda x, y: cnp.sum(cnp.tanh(x @ y) * cnp.exp(-(x**2)).sum())
    check_grads(f, (_rand((2, 3), 10), _rand((3, 2), 11)), order=2)
