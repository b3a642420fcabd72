"""The course notebooks' computations (seeds 000 and 001), done with the functional API and
checked against their closed forms, SymPy, a hand-written backward pass, and JAX."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

X101 = np.linspace(-3, 3, 101)


def J(x):
    return x**3 + x**2 - 6 * x + 1


def dJ(x):
    return 3 * x**2 + 2 * x - 6


# --- notebook 000: J(x) = x^3 + x^2 - 6x + 1 --------------------------------------------------


def test_derivative_of_J_on_101_points_elementwise_grad():
    g = cr.elementwise_grad(J)(X101)
    assert g.shape == (101,) and g.dtype == np.float64
    np.testing.assert_allclose(g, dJ(X101), rtol=1e-13, atol=1e-13)


def test_derivative_of_J_on_101_points_python_loop_of_grad():
    dJa = cr.grad(J)
    dY = np.zeros(X101.size)
    for i in range(X101.size):
        dY[i] = dJa(X101[i])
    np.testing.assert_allclose(dY, dJ(X101), rtol=1e-13, atol=1e-13)
    # also on Python floats, as in the notebook's scalar loop
    assert cr.grad(J)(2.0) == 10.0
    assert cr.value_and_grad(J)(2.0) == (1.0, 10.0)


def test_gradient_descent_reaches_the_minimum():
    x_star = (-1 + math.sqrt(19)) / 3  # root of 3x^2 + 2x - 6 in [-3, 3]
    assert x_star == pytest.approx(1.1196, abs=1e-4)  # what the notebook prints
    dJa = cr.grad(J)
    x, alpha = 3.0, 0.1
    x_sym = 3.0
    for _ in range(20):
        x = x - alpha * dJa(x)
        x_sym = x_sym - alpha * dJ(x_sym)
    assert abs(x - x_star) < 1e-12
    assert abs(x - x_sym) < 1e-14  # same iterates as with the symbolic derivative
    assert abs(float(dJa(x))) < 1e-11


def _forward_fd(x, dx):
    return (J(x + dx) - J(x)) / dx


def test_forward_finite_differences_are_first_order():
    exact = cr.elementwise_grad(J)(X101)
    err2 = np.max(np.abs(_forward_fd(X101, 1e-2) - exact))
    err3 = np.max(np.abs(_forward_fd(X101, 1e-3) - exact))
    assert 9.0 < err2 / err3 < 11.0  # order 1: ten times smaller step, ten times smaller error
    assert 5e-3 < err3 < 2e-2
    # the error itself is dx * J''(x)/2 + dx^2 * J'''(x)/6 = dx (3x + 1) + dx^2 (J is cubic)
    for dx in (1e-2, 1e-3):
        np.testing.assert_allclose(
            _forward_fd(X101, dx) - exact, dx * (3 * X101 + 1) + dx**2, atol=1e-9
        )


def test_vector_valued_function_vjp_directions():
    """Yt[:,0] = J(x), Yt[:,1] = x^2 - 2 and backward with dl = (1,1), (1,0), (0,1)."""
    f = lambda x: cnp.stack([J(x), x**2 - 2], axis=1)
    Y, f_vjp = cr.vjp(f, X101)
    assert Y.shape == (101, 2)
    ones = np.ones((101, 2))
    (dY,) = f_vjp(ones)
    (dY1,) = f_vjp(ones * [1.0, 0.0])
    (dY2,) = f_vjp(ones * [0.0, 1.0])
    np.testing.assert_allclose(dY1, dJ(X101), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dY2, 2 * X101, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dY, dY1 + dY2, rtol=1e-13, atol=1e-13)


def test_two_variable_function_on_51_random_points():
    rng = np.random.default_rng(2024)
    X = -2 + 4 * rng.random(51)
    Y = -2 + 4 * rng.random(51)
    Jxy = lambda x, y: x * y + cnp.sin(x - 2 * y)
    dJdx, dJdy = cr.elementwise_grad(Jxy, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(dJdx, Y + np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dJdy, X - 2 * np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    # the same through a vjp with dl = ones, as the notebook's autograd.grad call
    out, f_vjp = cr.vjp(Jxy, X, Y)
    gx, gy = f_vjp(np.ones_like(out))
    np.testing.assert_allclose(gx, dJdx)
    np.testing.assert_allclose(gy, dJdy)


# --- notebook 001 ----------------------------------------------------------------------------


def test_chain_rule_tanh_4cos2_at_7():
    t = lambda x: cnp.tanh(4 * cnp.cos(x) ** 2)
    x = 7.0
    exact = (1 - math.tanh(4 * math.cos(x) ** 2) ** 2) * (-8 * math.cos(x) * math.sin(x))
    assert cr.grad(t)(x) == pytest.approx(exact, rel=1e-13)
    # float32, as in the notebook's tf.Variable(7.) and torch.tensor(7.)
    g32 = cr.grad(t)(np.float32(7.0))
    assert np.result_type(g32) == np.float32
    assert float(g32) == pytest.approx(exact, rel=1e-4)


def test_accumulation_rule_x2_cos_over_atan_at_7():
    x = 7.0
    z_of_y = lambda y1, y2, y3: y1 * y2 / y3
    y_fns = [lambda x: x**2, cnp.cos, cnp.arctan]
    z = lambda x: z_of_y(*(f(x) for f in y_fns))
    dz_dx = cr.grad(z)(x)
    ys = [float(f(x)) for f in y_fns]
    dz_dy = cr.grad(z_of_y, argnums=(0, 1, 2))(*ys)
    dy_dx = [cr.grad(f)(x) for f in y_fns]
    assert dz_dx == pytest.approx(sum(a * b for a, b in zip(dz_dy, dy_dx)), rel=1e-13)
    y1, y2, y3 = x**2, math.cos(x), math.atan(x)
    exact = (2 * x * y2 - y1 * math.sin(x)) / y3 - y1 * y2 / (y3**2 * (1 + x**2))
    assert dz_dx == pytest.approx(exact, rel=1e-13)


def _make_fonction_complexe(cos, atan):
    def fonction_complexe(x, y, z):
        a = atan(x / y)
        b = cos(z**2 - x)
        return x * y * a * b / z + a - b

    return fonction_complexe


def test_fonction_complexe_against_sympy():
    sympy = pytest.importorskip("sympy")
    f_cr = _make_fonction_complexe(cnp.cos, cnp.arctan)
    grads = cr.grad(f_cr, argnums=(0, 1, 2))(7.0, 5.0, 2.0)
    xs, ys, zs = sympy.symbols("x y z")
    f_sym = _make_fonction_complexe(sympy.cos, sympy.atan)(xs, ys, zs)
    subs = {xs: 7, ys: 5, zs: 2}
    for g, v in zip(grads, (xs, ys, zs)):
        ref = float(sympy.diff(f_sym, v).evalf(30, subs=subs))
        assert g == pytest.approx(ref, rel=1e-12)
    assert float(f_cr(7.0, 5.0, 2.0)) == pytest.approx(float(f_sym.evalf(30, subs=subs)), 1e-13)


def test_second_example_x2_cos_squared_at_pi():
    z = lambda x: (x**2 * cnp.cos(x)) ** 2
    v, g = cr.value_and_grad(z)(math.pi)
    assert v == pytest.approx(math.pi**4, rel=1e-14)
    assert g == pytest.approx(4 * math.pi**3, rel=1e-13)
    # the notebook's intermediate values: dz/da = 2 pi^2, dz/db = -2 pi^4
    da, db = cr.grad(lambda a, b: (a * b) ** 2, argnums=(0, 1))(math.pi**2, -1.0)
    assert da == pytest.approx(2 * math.pi**2) and db == pytest.approx(-2 * math.pi**4)


def test_f_of_x_squared_derivative_on_linspace():
    xV = np.linspace(-5, 5, 100)
    np.testing.assert_allclose(cr.elementwise_grad(lambda x: x**2)(xV), 2 * xV, rtol=1e-15)


def test_the_jax_cells_vmap_and_vmap_of_grad():
    # notebook 001: f_of_xV = vmap(f_of_x); f_of_xV_dx = vmap(grad(f_of_x))
    f_of_x = lambda x: x**2  # noqa: E731
    xV = np.linspace(-5, 5, 100)
    np.testing.assert_array_equal(cr.vmap(f_of_x)(xV), xV**2)
    np.testing.assert_array_equal(cr.vmap(cr.grad(f_of_x))(xV), 2 * xV)
    with pytest.raises(TypeError, match="vmap"):  # "C'est normal que l'on ne puisse pas faire"
        cr.grad(f_of_x)(xV)


# --- the 100x100 network loss of notebook 001 ------------------------------------------------


def _f_of_theta_x(T, x):
    return cnp.tanh(T @ cnp.tanh(T @ x))


def _loss(T, x, y):
    return cnp.mean((_f_of_theta_x(T, x) - y) ** 2)


def _hand_backward(T, x, y):
    """The gradient of mean((tanh(T tanh(T x)) - y)^2) in T, by hand, in plain NumPy."""
    h1 = T @ x
    a1 = np.tanh(h1)
    h2 = T @ a1
    a2 = np.tanh(h2)
    n = a2.size
    d_a2 = 2 * (a2 - y) / n
    d_h2 = d_a2 * (1 - a2 * a2)
    d_T = np.outer(d_h2, a1)
    d_a1 = T.T @ d_h2
    d_h1 = d_a1 * (1 - a1 * a1)
    return d_T + np.outer(d_h1, x)


def _problem(dtype, scale=1.0):
    rng = np.random.default_rng(0)
    T = (scale * rng.standard_normal((100, 100))).astype(dtype)
    x = rng.standard_normal(100).astype(dtype)
    y = dtype(rng.standard_normal())
    return T, x, y


@pytest.mark.parametrize("scale", [1.0, 0.1], ids=["saturated", "scaled"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_network_loss_gradient_vs_hand_backward(dtype, scale):
    T, x, y = _problem(dtype, scale)
    (v, g) = cr.value_and_grad(_loss)(T, x, y)
    assert g.shape == (100, 100) and g.dtype == dtype
    assert np.result_type(v) == dtype
    ref = _hand_backward(T.astype(np.float64), x.astype(np.float64), np.float64(y))
    ref_v = np.mean((np.tanh(T.astype(np.float64) @ np.tanh(T.astype(np.float64) @ x)) - y) ** 2)
    tol = 1e-12 if dtype == np.float64 else 2e-4
    assert float(v) == pytest.approx(ref_v, rel=tol)
    np.testing.assert_allclose(g, ref, rtol=tol, atol=tol * np.max(np.abs(ref)))
    assert np.max(np.abs(ref)) > 0  # the check is not vacuous


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_network_loss_gradient_vs_jax(dtype):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    T, x, y = _problem(dtype, 0.1)

    def jloss(T, x, y):
        return jnp.mean((jnp.tanh(T @ jnp.tanh(T @ x)) - y) ** 2)

    with jax.enable_x64(dtype == np.float64):
        ref = np.asarray(jax.grad(jloss)(jnp.asarray(T), jnp.asarray(x), jnp.asarray(y)))
    assert ref.dtype == dtype
    g = cr.grad(_loss)(T, x, y)
    tol = 1e-12 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(g, ref, rtol=tol, atol=tol * np.max(np.abs(ref)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_jit_cells(dtype):
    """In [28]-[35]: jit(compute_loss_and_dΘ), then value_and_grad under jit."""
    T, x, y = _problem(dtype, 0.1)

    def loss_grad(T, x, y):
        return cr.grad(_loss)(T, x, y)

    def compute_loss_and_dT():
        return _loss(T, x, y), loss_grad(T, x, y)

    eager = compute_loss_and_dT()
    # dΘ's two outer products are one matrix product under jit: a few ulps of the terms
    atol = 8 * np.finfo(dtype).eps * np.max(np.abs(eager[1]))
    jitted = cr.jit(compute_loss_and_dT)
    for _ in range(2):
        v, g = jitted()
        assert float(v) == float(eager[0]) and g.dtype == dtype
        np.testing.assert_allclose(g, eager[1], rtol=0, atol=atol)
    assert jitted.cache_info().misses == 1
    v2, g2 = cr.jit(lambda T, x, y: cr.value_and_grad(_loss)(T, x, y))(T, x, y)
    assert float(v2) == float(eager[0])
    np.testing.assert_allclose(g2, eager[1], rtol=0, atol=atol)
