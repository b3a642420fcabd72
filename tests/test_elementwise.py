"""Elementwise functions of `chainrule.numpy`: values, derivatives, broadcasting, kinks,
non-differentiable functions, dtypes and complex numbers, with PyTorch and JAX as references.

Every expected derivative is either a closed form written out here, finite differences
(`check_grads`), or an independent framework (PyTorch, JAX).
"""

import math
import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

SHAPES = [(), (3,), (2, 3)]
LN2, LN10 = math.log(2.0), math.log(10.0)


def rng_for(*key):
    """A generator seeded from the test's parameters, so every case is reproducible."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def traced_value(f, *args):
    """`f(*args)` computed on traced values (the primal returned by `vjp`)."""
    out, _ = cr.vjp(f, *args)
    return out


def reduce_to(g, shape):
    """Sum a broadcast cotangent `g` down to `shape`, written independently of chainrule."""
    g = np.asarray(g)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


# --- samplers: inputs inside each function's domain ------------------------------------------


def interval(lo, hi):
    return lambda rng, shape: np.asarray(rng.uniform(lo, hi, size=shape))


def signed(lo, hi):
    """|x| in (lo, hi) with a random sign: away from zero."""

    def sample(rng, shape):
        mag = rng.uniform(lo, hi, size=shape)
        return np.asarray(np.where(rng.random(size=shape) < 0.5, -mag, mag))

    return sample


ANY = interval(-2.0, 2.0)
POS = interval(0.5, 2.5)
NONZERO = signed(0.3, 2.0)
UNIT = interval(-0.8, 0.8)


def ones(x):
    return np.ones_like(x)


def zeros(x):
    return np.zeros_like(x)


# name -> (derivative in closed form, sampler inside the domain)
UNARY = {
    "negative": (lambda x: -ones(x), ANY),
    "positive": (ones, ANY),
    "exp": (np.exp, ANY),
    "expm1": (np.exp, ANY),
    "exp2": (lambda x: np.exp2(x) * LN2, ANY),
    "log": (lambda x: 1 / x, POS),
    "log1p": (lambda x: 1 / (1 + x), interval(-0.5, 2.0)),
    "log2": (lambda x: 1 / (x * LN2), POS),
    "log10": (lambda x: 1 / (x * LN10), POS),
    "sqrt": (lambda x: 0.5 / np.sqrt(x), POS),
    "cbrt": (lambda x: 1 / (3 * np.cbrt(x) ** 2), NONZERO),
    "square": (lambda x: 2 * x, ANY),
    "reciprocal": (lambda x: -1 / x**2, NONZERO),
    "absolute": (np.sign, NONZERO),
    "abs": (np.sign, NONZERO),
    "fabs": (np.sign, NONZERO),
    "sin": (np.cos, ANY),
    "cos": (lambda x: -np.sin(x), ANY),
    "tan": (lambda x: 1 / np.cos(x) ** 2, interval(-1.2, 1.2)),
    "arcsin": (lambda x: 1 / np.sqrt(1 - x**2), UNIT),
    "arccos": (lambda x: -1 / np.sqrt(1 - x**2), UNIT),
    "arctan": (lambda x: 1 / (1 + x**2), ANY),
    "sinh": (np.cosh, ANY),
    "cosh": (np.sinh, ANY),
    "tanh": (lambda x: 1 / np.cosh(x) ** 2, ANY),
    "arcsinh": (lambda x: 1 / np.sqrt(x**2 + 1), ANY),
    "arccosh": (lambda x: 1 / np.sqrt(x**2 - 1), interval(1.2, 3.0)),
    "arctanh": (lambda x: 1 / (1 - x**2), UNIT),
    "asin": (lambda x: 1 / np.sqrt(1 - x**2), UNIT),
    "acos": (lambda x: -1 / np.sqrt(1 - x**2), UNIT),
    "atan": (lambda x: 1 / (1 + x**2), ANY),
    "asinh": (lambda x: 1 / np.sqrt(x**2 + 1), ANY),
    "acosh": (lambda x: 1 / np.sqrt(x**2 - 1), interval(1.2, 3.0)),
    "atanh": (lambda x: 1 / (1 - x**2), UNIT),
    # d/dx sin(pi x) / (pi x) = cos(pi x) / x - sin(pi x) / (pi x^2)
    "sinc": (lambda x: np.cos(np.pi * x) / x - np.sin(np.pi * x) / (np.pi * x**2), NONZERO),
    "real": (ones, ANY),
    "imag": (zeros, ANY),
    "conjugate": (ones, ANY),
    "conj": (ones, ANY),
    "deg2rad": (lambda x: np.full_like(x, np.pi / 180), ANY),
    "rad2deg": (lambda x: np.full_like(x, 180 / np.pi), ANY),
}
UNARY_NAMES = sorted(UNARY)


def unary_input(name, shape):
    return UNARY[name][1](rng_for(name, shape), shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_plain_values_are_numpys(name, shape):
    x = unary_input(name, shape)
    out = getattr(cnp, name)(x)
    expected = getattr(np, name)(x)
    assert isinstance(out, (np.ndarray, np.generic))
    np.testing.assert_array_equal(out, expected)
    assert np.shape(out) == np.shape(expected)
    assert np.result_type(out) == np.result_type(expected)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_traced_values_are_numpys(name, shape):
    x = unary_input(name, shape)
    out = traced_value(getattr(cnp, name), x)
    expected = getattr(np, name)(x)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)
    assert np.shape(out) == np.shape(expected)
    assert np.result_type(out) == np.float64


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_value_inside_grad(name):
    x = float(unary_input(name, ()))
    seen = []

    def f(t):
        y = getattr(cnp, name)(t)
        seen.append(float(cr.stop_gradient(y)))
        return y

    value, _ = cr.value_and_grad(f)(x)
    assert seen == [pytest.approx(float(getattr(np, name)(x)), rel=1e-15)]
    assert float(value) == pytest.approx(float(getattr(np, name)(x)), rel=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_derivative_closed_form(name, shape):
    x = unary_input(name, shape)
    g = cr.elementwise_grad(getattr(cnp, name))(x)
    assert np.shape(g) == shape
    assert np.result_type(g) == np.float64
    np.testing.assert_allclose(g, UNARY[name][0](x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_grad_of_python_float(name):
    x = float(unary_input(name, ()))
    g = cr.grad(getattr(cnp, name))(x)
    assert np.result_type(g) == np.float64
    assert float(g) == pytest.approx(float(UNARY[name][0](np.float64(x))), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_check_grads(name, shape):
    check_grads(getattr(cnp, name), (unary_input(name, shape),), order=2)


@pytest.mark.parametrize("name", UNARY_NAMES)
def test_unary_numpy_function_on_tracer_dispatches(name):
    """`np.<name>(tracer)` records the operation (NumPy's protocols), same derivative."""
    x = unary_input(name, (3,))
    g = cr.elementwise_grad(lambda t: getattr(np, name)(t))(x)
    np.testing.assert_allclose(g, UNARY[name][0](x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, alias_of", [("radians", "deg2rad"), ("degrees", "rad2deg")])
def test_numpy_alias_ufuncs_are_differentiable(name, alias_of):
    """`numpy.radians`/`numpy.degrees` are NumPy's other names for deg2rad/rad2deg."""
    x = np.array([-30.0, 0.0, 90.0])
    out, vjp_fn = cr.vjp(getattr(cnp, name), x)
    np.testing.assert_array_equal(out, getattr(np, name)(x))
    np.testing.assert_array_equal(vjp_fn(np.ones(3))[0], UNARY[alias_of][0](x))
    g = cr.elementwise_grad(lambda t: getattr(np, name)(t))(x)
    np.testing.assert_array_equal(g, UNARY[alias_of][0](x))


def test_unary_methods_of_tracers():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda t: cnp.sum(-t + abs(t) + (+t) + t.conj() + t.real + t.imag)
    # d/dx [-x + |x| + x + x + x + 0] = 2 + sign(x)
    np.testing.assert_allclose(cr.grad(f)(x), 2 + np.sign(x))


# --- binary functions ------------------------------------------------------------------------


def pair(sx_sampler, sy_sampler, valid=None):
    """Independent operands, resampled until `valid(x, y)` holds on the broadcast pair."""

    def sample(rng, sx, sy):
        for _ in range(100):
            x, y = sx_sampler(rng, sx), sy_sampler(rng, sy)
            if valid is None or np.all(valid(*np.broadcast_arrays(x, y))):
                return x, y
        raise RuntimeError("no valid sample")  # pragma: no cover

    return sample


NO_TIES = pair(ANY, ANY, lambda x, y: np.abs(x - y) > 1e-2)
# |x / y| in (2.24, 2.57): floor(x / y) and trunc(x / y) are constant near every sample
MODULAR = pair(signed(4.6, 5.0), signed(1.95, 2.05))


def _d_mod_y(x, y):
    return -np.floor(x / y)


BINARY = {  # name -> (d/dx, d/dy, sampler)
    "add": (lambda x, y: ones(x), lambda x, y: ones(x), pair(ANY, ANY)),
    "subtract": (lambda x, y: ones(x), lambda x, y: -ones(x), pair(ANY, ANY)),
    "multiply": (lambda x, y: y, lambda x, y: x, pair(ANY, ANY)),
    "true_divide": (lambda x, y: 1 / y, lambda x, y: -x / y**2, pair(ANY, NONZERO)),
    "divide": (lambda x, y: 1 / y, lambda x, y: -x / y**2, pair(ANY, NONZERO)),
    "power": (lambda x, y: y * x ** (y - 1), lambda x, y: x**y * np.log(x), pair(POS, ANY)),
    "pow": (lambda x, y: y * x ** (y - 1), lambda x, y: x**y * np.log(x), pair(POS, ANY)),
    "maximum": (lambda x, y: 1.0 * (x > y), lambda x, y: 1.0 * (y > x), NO_TIES),
    "minimum": (lambda x, y: 1.0 * (x < y), lambda x, y: 1.0 * (y < x), NO_TIES),
    "fmax": (lambda x, y: 1.0 * (x > y), lambda x, y: 1.0 * (y > x), NO_TIES),
    "fmin": (lambda x, y: 1.0 * (x < y), lambda x, y: 1.0 * (y < x), NO_TIES),
    "arctan2": (lambda x, y: y / (x**2 + y**2), lambda x, y: -x / (x**2 + y**2),
                pair(NONZERO, NONZERO)),
    "atan2": (lambda x, y: y / (x**2 + y**2), lambda x, y: -x / (x**2 + y**2),
              pair(NONZERO, NONZERO)),
    "hypot": (lambda x, y: x / np.hypot(x, y), lambda x, y: y / np.hypot(x, y),
              pair(NONZERO, NONZERO)),
    "logaddexp": (lambda x, y: np.exp(x - np.logaddexp(x, y)),
                  lambda x, y: np.exp(y - np.logaddexp(x, y)), pair(ANY, ANY)),
    "logaddexp2": (lambda x, y: np.exp2(x - np.logaddexp2(x, y)),
                   lambda x, y: np.exp2(y - np.logaddexp2(x, y)), pair(ANY, ANY)),
    "remainder": (lambda x, y: ones(x), _d_mod_y, MODULAR),
    "mod": (lambda x, y: ones(x), _d_mod_y, MODULAR),
    "fmod": (lambda x, y: ones(x), lambda x, y: -np.trunc(x / y), MODULAR),
}  # fmt: skip
BINARY_NAMES = sorted(BINARY)
SAME_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (2, 3))]
BROADCAST_SHAPES = [((3, 1), (1, 4)), ((2, 3), (3,)), ((3,), (2, 3)), ((), (2, 3)),
                    ((2, 3), ()), ((2, 1, 3), (4, 1))]  # fmt: skip


def binary_inputs(name, sx, sy):
    return BINARY[name][2](rng_for(name, sx, sy), sx, sy)


@pytest.mark.parametrize("shapes", SAME_SHAPES + BROADCAST_SHAPES)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_values(name, shapes):
    x, y = binary_inputs(name, *shapes)
    expected = getattr(np, name)(x, y)
    plain = getattr(cnp, name)(x, y)
    np.testing.assert_array_equal(plain, expected)
    traced = traced_value(getattr(cnp, name), x, y)
    np.testing.assert_allclose(traced, expected, rtol=1e-15, atol=0)
    assert np.shape(traced) == np.shape(expected)
    # one operand traced, the other a constant
    np.testing.assert_allclose(traced_value(lambda a: getattr(cnp, name)(a, y), x), expected)
    np.testing.assert_allclose(traced_value(lambda b: getattr(cnp, name)(x, b), y), expected)


@pytest.mark.parametrize("shapes", SAME_SHAPES + BROADCAST_SHAPES)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_gradients_closed_form_and_reduced(name, shapes):
    sx, sy = shapes
    x, y = binary_inputs(name, sx, sy)
    dfdx, dfdy, _ = BINARY[name]
    out_shape = np.broadcast_shapes(sx, sy)
    w = rng_for("w", name, shapes).standard_normal(out_shape)
    f = lambda a, b: cnp.sum(w * getattr(cnp, name)(a, b))
    gx, gy = cr.grad(f, argnums=(0, 1))(x, y)
    assert np.shape(gx) == sx and np.shape(gy) == sy
    bx, by = np.broadcast_arrays(x, y)
    np.testing.assert_allclose(gx, reduce_to(w * dfdx(bx, by), sx), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gy, reduce_to(w * dfdy(bx, by), sy), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("shapes", SAME_SHAPES + BROADCAST_SHAPES)
@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_check_grads(name, shapes):
    x, y = binary_inputs(name, *shapes)
    check_grads(getattr(cnp, name), (x, y), order=2)


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_with_python_float_operand(name):
    x, y = binary_inputs(name, (3,), ())
    dfdx, dfdy, _ = BINARY[name]
    yf = float(y)
    gx = cr.elementwise_grad(lambda a: getattr(cnp, name)(a, yf))(x)
    np.testing.assert_allclose(gx, dfdx(x, np.full(3, yf)), rtol=1e-12, atol=1e-14)
    # scalar x against an array y: the gradient of the Python-float-valued argument sums
    xs, ys = binary_inputs(name, (), (3,))
    g = cr.grad(lambda a: cnp.sum(getattr(cnp, name)(a, ys)))(float(xs))
    assert np.shape(g) == ()
    assert float(g) == pytest.approx(float(np.sum(dfdx(np.full(3, float(xs)), ys))), rel=1e-12)
    gy = cr.elementwise_grad(lambda b: getattr(cnp, name)(float(xs), b))(ys)
    np.testing.assert_allclose(gy, dfdy(np.full(3, float(xs)), ys), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_with_python_list_operand(name):
    """A Python list is an array-like constant, as in NumPy, on either side."""
    x, y = binary_inputs(name, (3,), (3,))
    dfdx, dfdy, _ = BINARY[name]
    f = getattr(cnp, name)
    out, vjp_fn = cr.vjp(lambda a: f(a, y.tolist()), x)
    np.testing.assert_allclose(out, getattr(np, name)(x, y), rtol=1e-15)
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], dfdx(x, y), rtol=1e-12, atol=1e-14)
    out, vjp_fn = cr.vjp(lambda b: f(x.tolist(), b), y)
    np.testing.assert_allclose(out, getattr(np, name)(x, y), rtol=1e-15)
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], dfdy(x, y), rtol=1e-12, atol=1e-14)
    check_grads(lambda a: f(a, y.tolist()), (x,), order=2)
    check_grads(lambda b: f(x.tolist(), b), (y,), order=2)


@pytest.mark.parametrize("name", BINARY_NAMES)
def test_binary_numpy_function_on_tracer_dispatches(name):
    x, y = binary_inputs(name, (2, 3), (3,))
    dfdx, dfdy, _ = BINARY[name]
    gx, gy = cr.grad(lambda a, b: cnp.sum(getattr(np, name)(a, b)), argnums=(0, 1))(x, y)
    bx, by = np.broadcast_arrays(x, y)
    np.testing.assert_allclose(gx, dfdx(bx, by), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gy, reduce_to(dfdy(bx, by), (3,)), rtol=1e-12, atol=1e-14)


OPERATORS = {
    "add": (lambda a, b: a + b),
    "subtract": (lambda a, b: a - b),
    "multiply": (lambda a, b: a * b),
    "true_divide": (lambda a, b: a / b),
    "power": (lambda a, b: a**b),
    "remainder": (lambda a, b: a % b),
}


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_operators_match_functions_both_sides(name):
    op = OPERATORS[name]
    dfdx, dfdy, _ = BINARY[name]
    x, y = binary_inputs(name, (2, 3), (2, 3))
    # traced on the left
    gx = cr.elementwise_grad(lambda a: op(a, y))(x)
    np.testing.assert_allclose(gx, dfdx(x, y), rtol=1e-12, atol=1e-14)
    # traced on the right, with a NumPy array, a NumPy scalar and a Python float on the left
    gy = cr.elementwise_grad(lambda b: op(x, b))(y)
    np.testing.assert_allclose(gy, dfdy(x, y), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traced_value(lambda b: op(x, b), y), op(x, y))
    x0 = x[0, 0]
    for left in (np.float64(x0), float(x0)):
        out, vjp_fn = cr.vjp(lambda b, left=left: op(left, b), y)
        np.testing.assert_allclose(out, op(x0, y))
        np.testing.assert_allclose(vjp_fn(np.ones_like(y))[0], dfdy(np.full_like(y, x0), y),
                                   rtol=1e-12, atol=1e-14)


def test_pairwise_differences_by_broadcasting_one_operand_against_itself():
    # S = sum_ij (x_i - x_j)^2: dS/dx_k = 4 (n x_k - sum(x)); d2S/dx2 = 4 (n I - 11^T)
    x = np.array([0.5, -1.0, 2.0, 3.5])
    n = x.size
    f = lambda t: cnp.sum((t[:, None] - t[None, :]) ** 2)
    np.testing.assert_allclose(cr.grad(f)(x), 4 * (n * x - x.sum()), rtol=1e-14)
    np.testing.assert_allclose(cr.hessian(f)(x), 4 * (n * np.eye(n) - np.ones((n, n))),
                               rtol=1e-14)


def test_divmod_and_floor_divide_on_tracers():
    x, y = binary_inputs("mod", (4,), (4,))
    q, r = cr.vjp(lambda a: divmod(a, y), x)[0]
    np.testing.assert_array_equal(q, np.floor_divide(x, y))
    np.testing.assert_allclose(r, np.remainder(x, y))
    # x // y is piecewise constant: d/dx [x * (x // y)] = x // y
    np.testing.assert_allclose(cr.elementwise_grad(lambda a: a * (a // y))(x), x // y)


# --- kinks and special points ----------------------------------------------------------------


def test_abs_at_zero_is_zero():
    assert cr.grad(cnp.abs)(0.0) == 0.0
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(cr.elementwise_grad(cnp.abs)(x), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(cr.elementwise_grad(lambda t: abs(t))(x), [-1.0, 0.0, 1.0])
    assert cr.grad(cr.grad(cnp.abs))(1.5) == 0.0


@pytest.mark.parametrize("name", ["maximum", "minimum", "fmax", "fmin"])
def test_ties_split_the_gradient_evenly(name):
    f = getattr(cnp, name)
    gx, gy = cr.grad(f, argnums=(0, 1))(1.5, 1.5)
    assert (gx, gy) == (0.5, 0.5)
    # f(x, x) = x: the two halves add up to the derivative of the identity
    assert cr.grad(lambda t: f(t, t))(0.7) == 1.0
    x = np.array([0.0, 1.0, 2.0])
    y = np.array([1.0, 1.0, 1.0])
    gx, gy = cr.grad(lambda a, b: cnp.sum(f(a, b)), argnums=(0, 1))(x, y)
    first = 1.0 * (x > y) if name in ("maximum", "fmax") else 1.0 * (x < y)
    np.testing.assert_array_equal(gx, np.where(x == y, 0.5, first))
    np.testing.assert_array_equal(gy, np.where(x == y, 0.5, 1 - first))


def test_relu_by_maximum_at_zero():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(cr.elementwise_grad(lambda t: cnp.maximum(t, 0.0))(x),
                                  [0.0, 0.5, 1.0])


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ignore_nan(name):
    f = getattr(cnp, name)
    x = np.array([1.0, 2.0])
    y = np.array([np.nan, 5.0])
    out, vjp_fn = cr.vjp(f, x, y)
    np.testing.assert_array_equal(out, getattr(np, name)(x, y))
    gx, gy = vjp_fn(np.ones(2))
    chosen_x = getattr(np, name)(x, y) == x
    np.testing.assert_array_equal(gx, 1.0 * chosen_x)
    np.testing.assert_array_equal(gy, 1.0 * ~chosen_x)


def test_clip_gradient_inside_outside_and_at_the_boundary():
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    g = cr.elementwise_grad(lambda t: cnp.clip(t, 0.0, 1.0))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])
    assert cr.grad(lambda t: cnp.clip(t, 0.0, 1.0))(1.0) == 1.0
    assert cr.grad(lambda t: cnp.clip(t, 0.0, 1.0))(0.0) == 1.0
    np.testing.assert_array_equal(traced_value(lambda t: cnp.clip(t, 0.0, 1.0), x),
                                  np.clip(x, 0.0, 1.0))
    np.testing.assert_array_equal(cr.elementwise_grad(lambda t: t.clip(0.0, 1.0))(x), g)
    # one-sided
    np.testing.assert_array_equal(cr.elementwise_grad(lambda t: cnp.clip(t, None, 0.5))(x),
                                  1.0 * (x <= 0.5))
    np.testing.assert_array_equal(cr.elementwise_grad(lambda t: cnp.clip(t, 0.5, None))(x),
                                  1.0 * (x >= 0.5))


def test_clip_with_traced_bounds_and_broadcasting():
    x = np.array([[-1.0, 0.2, 3.0], [0.5, 2.5, -0.3]])
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([[1.0], [2.0]])
    gx, glo, ghi = cr.grad(lambda a, b, c: cnp.sum(cnp.clip(a, b, c)), argnums=(0, 1, 2))(x, lo, hi)
    below, above = x < lo, x > hi
    np.testing.assert_array_equal(gx, 1.0 * (~below & ~above))
    np.testing.assert_array_equal(glo, np.sum(below, axis=0))
    np.testing.assert_array_equal(ghi, np.sum(above, axis=1, keepdims=True))
    assert glo.shape == lo.shape and ghi.shape == hi.shape
    check_grads(lambda a, b, c: cnp.clip(a, b, c), (x, lo, hi), order=2)


def test_clip_with_crossed_bounds_follows_numpy():
    # NumPy defines clip(x, lo, hi) = minimum(maximum(x, lo), hi): with lo > hi the result
    # is hi whatever x and lo are, so only hi gets a gradient (JAX's clip gives the same)
    x, lo, hi = 0.5, 1.0, 0.0
    assert cnp.clip(x, lo, hi) == np.clip(x, lo, hi) == hi
    g = cr.grad(lambda a, b, c: cnp.clip(a, b, c), argnums=(0, 1, 2))(x, lo, hi)
    assert g == (0.0, 0.0, 1.0)


def test_clip_accepts_numpys_min_max_keywords():
    # NumPy >= 2.1: np.clip(x, min=..., max=...)
    x = np.array([-1.0, 0.5, 2.0])
    np.testing.assert_array_equal(cnp.clip(x, min=0.0, max=1.0), np.clip(x, min=0.0, max=1.0))
    g = cr.elementwise_grad(lambda t: cnp.clip(t, min=0.0, max=1.0))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])
    g = cr.elementwise_grad(lambda t: np.clip(t, min=0.0, max=1.0))(x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_sqrt_and_cbrt_at_zero_are_infinite():
    with np.errstate(divide="ignore"):
        assert cr.grad(cnp.sqrt)(0.0) == np.inf
        assert cr.grad(cnp.cbrt)(0.0) == np.inf
        g = cr.elementwise_grad(cnp.sqrt)(np.array([0.0, 4.0]))
    np.testing.assert_array_equal(g, [np.inf, 0.25])


def test_power_special_points():
    # d/dx x**0 = 0 everywhere, including 0; d/dx x**1 = 1 at 0; d/dx x**2 = 0 at 0
    assert cr.grad(lambda x: x**0.0)(0.0) == 0.0
    assert cr.grad(lambda x: x**1.0)(0.0) == 1.0
    assert cr.grad(lambda x: x**2)(0.0) == 0.0
    assert cr.grad(lambda x: x**2.0)(0.0) == 0.0
    # a negative base with an integer exponent: 3 * (-2)**2
    assert cr.grad(lambda x: x**3)(-2.0) == 12.0
    assert cr.grad(lambda x: x**3.0)(-2.0) == 12.0
    # d/dy 0**y = 0 for y > 0 (the limit of x**y log x), no NaN
    assert cr.grad(lambda y: cnp.power(0.0, y))(2.0) == 0.0
    # second derivatives: d^2/dx^2 x**3 = 6x
    assert cr.grad(cr.grad(lambda x: x**3))(1.5) == pytest.approx(9.0)
    check_grads(lambda x, y: x**y, (np.array([0.5, 1.5]), np.array([2.0, -1.3])), order=2)


def test_sinc_at_zero():
    # sinc(x) = 1 - (pi x)^2 / 6 + O(x^4): sinc'(0) = 0 and sinc''(0) = -pi^2 / 3
    assert cr.grad(cnp.sinc)(0.0) == 0.0
    assert float(cr.grad(cr.grad(cnp.sinc))(0.0)) == pytest.approx(-(np.pi**2) / 3, rel=1e-6)


def test_logaddexp_is_stable_for_large_inputs():
    g = cr.grad(cnp.logaddexp, argnums=(0, 1))(1000.0, 1000.0)
    assert g == pytest.approx((0.5, 0.5), rel=1e-12)
    g = cr.grad(cnp.logaddexp2, argnums=(0, 1))(-1000.0, -1000.0)
    assert g == pytest.approx((0.5, 0.5), rel=1e-12)
    gx, gy = cr.grad(cnp.logaddexp, argnums=(0, 1))(800.0, 0.0)
    assert (gx, gy) == (1.0, 0.0)


def test_arctan2_in_every_quadrant():
    x = np.array([1.0, -1.0, -1.0, 1.0])
    y = np.array([1.0, 1.0, -1.0, -1.0])
    gx, gy = cr.grad(lambda a, b: cnp.sum(cnp.arctan2(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y / (x**2 + y**2))
    np.testing.assert_allclose(gy, -x / (x**2 + y**2))


# --- where -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_where_values_and_gradients(shape):
    rng = rng_for("where", shape)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    c = rng.random(shape) < 0.5
    np.testing.assert_array_equal(cnp.where(c, x, y), np.where(c, x, y))
    np.testing.assert_array_equal(traced_value(lambda a, b: cnp.where(c, a, b), x, y),
                                  np.where(c, x, y))
    gx, gy = cr.grad(lambda a, b: cnp.sum(cnp.where(c, a**2, 3 * b)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, np.where(c, 2 * x, 0.0))
    np.testing.assert_allclose(gy, np.where(c, 0.0, 3.0))
    check_grads(lambda a, b: cnp.where(c, cnp.sin(a), a * b), (x, y), order=2)


def test_where_broadcasting_and_traced_condition():
    c = np.array([[True], [False]])
    x = np.array([1.0, 2.0, 3.0])
    y = 5.0
    out, vjp_fn = cr.vjp(lambda a, b: cnp.where(c, a, b), x, y)
    np.testing.assert_array_equal(out, np.where(c, x, y))
    gx, gy = vjp_fn(np.ones((2, 3)))
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0])
    assert gy == 3.0 and np.shape(gy) == ()
    # a condition computed from the traced value carries no gradient
    x = np.array([-1.5, 0.5, 2.0])
    f = lambda t: cnp.where(t > 0, t**2, -t)
    np.testing.assert_array_equal(cr.elementwise_grad(f)(x), np.where(x > 0, 2 * x, -1.0))
    # a float condition means "nonzero"
    w = np.array([0.0, 2.0, 0.0])
    g = cr.grad(lambda t, m: cnp.sum(cnp.where(m, t, 0.0)), argnums=(0, 1))(x, w)
    np.testing.assert_array_equal(g[0], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(g[1], np.zeros(3))


# --- non-differentiable functions ------------------------------------------------------------

NONDIFF_UNARY = ["sign", "floor", "ceil", "trunc", "rint", "round", "around", "isnan", "isinf",
                 "isfinite", "signbit", "logical_not"]  # fmt: skip
NONDIFF_BINARY = ["floor_divide", "equal", "not_equal", "less", "less_equal", "greater",
                  "greater_equal", "logical_and", "logical_or", "logical_xor"]  # fmt: skip
SPECIALS = np.array([-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 3.7, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("name", NONDIFF_UNARY)
def test_nondiff_unary_values_and_zero_gradient(name):
    x = SPECIALS
    expected = getattr(np, name)(x)
    np.testing.assert_array_equal(getattr(cnp, name)(x), expected)
    np.testing.assert_array_equal(traced_value(getattr(cnp, name), x), expected)
    # d/dx sum(x * f(x)) = f(x) where f is piecewise constant (f carries no gradient)
    finite = np.array([-2.5, -1.5, -0.7, 0.3, 1.5, 2.5, 3.7])
    g = cr.grad(lambda t: cnp.sum(t * getattr(cnp, name)(t)))(finite)
    np.testing.assert_array_equal(g, getattr(np, name)(finite).astype(float))
    assert g.dtype == np.float64


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "rint", "round"])
def test_nondiff_function_alone_has_zero_gradient(name):
    assert cr.grad(getattr(cnp, name))(2.5) == 0.0
    g = cr.elementwise_grad(getattr(cnp, name))(np.array([0.3, 1.7]))
    np.testing.assert_array_equal(g, [0.0, 0.0])


def test_floor_example_from_the_docs():
    assert cr.grad(lambda x: x * cnp.floor(x))(2.5) == np.floor(2.5)


def test_round_with_decimals_on_tracers():
    x = np.array([1.234, -5.678, 2.5])
    np.testing.assert_array_equal(traced_value(lambda t: cnp.round(t, 1), x), np.round(x, 1))
    np.testing.assert_array_equal(traced_value(lambda t: t.round(2), x), np.round(x, 2))
    g = cr.grad(lambda t: cnp.sum(t * cnp.round(t, 1)))(x)
    np.testing.assert_array_equal(g, np.round(x, 1))


@pytest.mark.parametrize("name", NONDIFF_BINARY)
@np.errstate(divide="ignore", invalid="ignore")  # floor_divide by 0 (0 // 0 is NaN, as NumPy)
def test_nondiff_binary_values_and_zero_gradient(name):
    x = np.array([-1.5, 0.0, 2.0, 3.0, 0.5, 4.5])
    y = np.array([2.0, 0.0, -2.0, 3.0, 1.5, 2.0])
    expected = getattr(np, name)(x, y)
    np.testing.assert_array_equal(getattr(cnp, name)(x, y), expected)
    np.testing.assert_array_equal(traced_value(getattr(cnp, name), x, y), expected)
    np.testing.assert_array_equal(traced_value(lambda a: getattr(cnp, name)(a, y), x), expected)
    # d/dx sum(x * f(x, y)) = f(x, y); d/dy = 0
    gx, gy = cr.grad(lambda a, b: cnp.sum(a * getattr(cnp, name)(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, expected.astype(float))
    np.testing.assert_array_equal(gy, np.zeros(6))


@pytest.mark.parametrize(
    "op, npop",
    [(lambda a, b: a < b, np.less), (lambda a, b: a <= b, np.less_equal),
     (lambda a, b: a > b, np.greater), (lambda a, b: a >= b, np.greater_equal),
     (lambda a, b: a == b, np.equal), (lambda a, b: a != b, np.not_equal)],
)  # fmt: skip
def test_comparison_operators_on_tracers(op, npop):
    x = np.array([-1.0, 0.5, 2.0])
    y = np.array([0.5, 0.5, 0.5])
    np.testing.assert_array_equal(traced_value(lambda a: op(a, y), x), npop(x, y))
    np.testing.assert_array_equal(traced_value(lambda a: op(a, 0.5), x), npop(x, 0.5))
    g = cr.grad(lambda a: cnp.sum(a * op(a, 0.5)))(x)
    np.testing.assert_array_equal(g, npop(x, 0.5).astype(float))


# --- dtypes ----------------------------------------------------------------------------------

DTYPE_UNARY = ["exp", "log", "sqrt", "sin", "tanh", "arctan", "square", "reciprocal", "abs",
               "cbrt", "sinc", "arcsinh"]  # fmt: skip


@pytest.mark.parametrize("name", DTYPE_UNARY)
def test_float32_in_float32_out(name):
    x = unary_input(name, (3,)).astype(np.float32)
    out, vjp_fn = cr.vjp(getattr(cnp, name), x)
    assert out.dtype == np.float32
    (g,) = vjp_fn(np.ones(3, np.float32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, UNARY[name][0](x.astype(np.float64)), rtol=1e-5)
    g2 = cr.grad(lambda t: cnp.sum(getattr(cnp, name)(t)))(x)
    assert g2.dtype == np.float32
    check_grads(getattr(cnp, name), (x,), order=1)


@pytest.mark.parametrize("name", ["add", "multiply", "true_divide", "power", "maximum", "hypot"])
def test_float32_binary_and_mixed_precision(name):
    x, y = binary_inputs(name, (3,), (3,))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    gx, gy = cr.grad(lambda a, b: cnp.sum(getattr(cnp, name)(a, b)), argnums=(0, 1))(x32, y32)
    assert gx.dtype == np.float32 and gy.dtype == np.float32
    # float32 with a Python float stays float32 (NumPy 2 promotion)
    gx = cr.grad(lambda a: cnp.sum(getattr(cnp, name)(a, float(y[0]))))(x32)
    assert gx.dtype == np.float32
    # float32 with a float64 array computes in float64, but the gradient has x's dtype
    out, vjp_fn = cr.vjp(lambda a: getattr(cnp, name)(a, y), x32)
    assert out.dtype == np.float64
    gx = vjp_fn(np.ones(3))[0]
    assert gx.dtype == np.float32
    dfdx = BINARY[name][0]
    np.testing.assert_allclose(gx, dfdx(x32.astype(np.float64), y), rtol=1e-6)


def test_python_floats_and_float64_give_float64():
    g = cr.grad(lambda x: cnp.sin(x) * 2.0)(1.0)
    assert np.result_type(g) == np.float64
    g = cr.grad(lambda x: cnp.sum(cnp.exp(x)))(np.array([1.0, 2.0]))
    assert g.dtype == np.float64
    g = cr.grad(lambda x: cnp.sum(cnp.exp(x)))([1.0, 2.0])
    assert np.asarray(g).dtype == np.float64


@pytest.mark.parametrize("bad", [3, np.array([1, 2]), True])
def test_integer_inputs_are_a_type_error_naming_the_argument(bad):
    def f(x, scale):
        return cnp.sum(x * scale)

    with pytest.raises(TypeError, match="scale"):
        cr.grad(f, argnums=1)(np.array([1.0, 2.0]), bad)


# --- complex numbers -------------------------------------------------------------------------

HOLOMORPHIC = {  # name -> (f, f')
    "sin": (cnp.sin, np.cos),
    "cos": (cnp.cos, lambda z: -np.sin(z)),
    "exp": (cnp.exp, np.exp),
    "expm1": (cnp.expm1, np.exp),
    "log": (cnp.log, lambda z: 1 / z),
    "log1p": (cnp.log1p, lambda z: 1 / (1 + z)),
    "sqrt": (cnp.sqrt, lambda z: 0.5 / np.sqrt(z)),
    "tanh": (cnp.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sinh": (cnp.sinh, np.cosh),
    "arctan": (cnp.arctan, lambda z: 1 / (1 + z**2)),
    "square": (cnp.square, lambda z: 2 * z),
    "reciprocal": (cnp.reciprocal, lambda z: -1 / z**2),
    "x**2": (lambda z: z**2, lambda z: 2 * z),
    "x**3": (lambda z: z**3, lambda z: 3 * z**2),
    "x*x": (lambda z: z * z, lambda z: 2 * z),
    "1/x": (lambda z: 1 / z, lambda z: -1 / z**2),
    "exp(x)*sin(x)": (lambda z: cnp.exp(z) * cnp.sin(z),
                      lambda z: np.exp(z) * (np.sin(z) + np.cos(z))),
}  # fmt: skip
Z = 0.7 - 0.4j


@pytest.mark.parametrize("name", sorted(HOLOMORPHIC))
def test_holomorphic_vjp_has_no_conjugation(name):
    f, df = HOLOMORPHIC[name]
    out, vjp_fn = cr.vjp(f, Z)
    assert complex(out) == pytest.approx(complex(f(np.complex128(Z))), rel=1e-15)
    (g,) = vjp_fn(1.0 + 0j)
    assert complex(g) == pytest.approx(complex(df(Z)), rel=1e-12)
    c = 2.0 - 1.5j
    (g,) = vjp_fn(c)
    assert complex(g) == pytest.approx(complex(c * df(Z)), rel=1e-12)
    assert complex(cr.grad(f, holomorphic=True)(Z)) == pytest.approx(complex(df(Z)), rel=1e-12)
    with pytest.raises(TypeError):
        cr.grad(f)(Z)


@pytest.mark.parametrize("name", ["sin", "exp", "log", "x**3", "1/x", "tanh"])
def test_holomorphic_values_arrays_and_check_grads(name):
    f, df = HOLOMORPHIC[name]
    z = np.array([0.5 + 0.5j, -1.0 + 0.3j, 1.2 - 0.8j])
    out = traced_value(f, z)
    assert out.dtype == np.complex128
    g = cr.elementwise_grad(f)(z)
    assert g.dtype == np.complex128
    np.testing.assert_allclose(g, df(z), rtol=1e-12)
    check_grads(f, (z,), order=2)


def test_real_valued_functions_of_complex_follow_jax_convention():
    # For f: C -> R the gradient is df/dx - i df/dy (JAX's and HIPS autograd's convention)
    z = 3.0 + 4.0j
    assert complex(cr.grad(cnp.abs)(z)) == pytest.approx((3 - 4j) / 5)
    assert complex(cr.grad(lambda t: cnp.real(t * cnp.conj(t)))(z)) == pytest.approx(6 - 8j)
    assert complex(cr.grad(cnp.real)(z)) == 1.0
    assert complex(cr.grad(cnp.imag)(z)) == -1j
    # |exp(z)|^2 = exp(2x): d/dx = 2 exp(2x), d/dy = 0
    f = lambda t: cnp.real(cnp.exp(t) * cnp.conj(cnp.exp(t)))
    assert complex(cr.grad(f)(z)) == pytest.approx(2 * np.exp(6.0), rel=1e-12)


def test_grad_of_complex_output_is_a_type_error():
    with pytest.raises(TypeError, match="holomorphic"):
        cr.grad(lambda z: z * z)(1.0 + 2.0j)
    with pytest.raises(TypeError):
        cr.grad(lambda x: cnp.exp(1j * x))(1.0)


def test_complex_abs_at_zero_is_zero():
    assert complex(cr.grad(cnp.abs)(0j)) == 0


# --- against PyTorch and JAX -----------------------------------------------------------------

TORCH_UNARY = ["exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "square", "reciprocal",
               "abs", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
               "arcsinh", "arccosh", "arctanh", "sinc", "rad2deg", "deg2rad", "exp2"]  # fmt: skip


@pytest.mark.parametrize("name", TORCH_UNARY)
def test_unary_first_and_second_derivatives_against_torch(name):
    torch = pytest.importorskip("torch")
    x = unary_input(name, (4,))
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(getattr(torch, name)(tx).sum(), tx, create_graph=True)
    if d1.requires_grad:
        (d2,) = torch.autograd.grad(d1.sum(), tx, materialize_grads=True)
        d2 = torch.zeros_like(tx) + d2.detach()  # a ZeroTensor becomes a plain one
    else:  # d1 does not depend on x (linear or piecewise-linear functions)
        d2 = torch.zeros_like(tx)
    g1 = cr.elementwise_grad(getattr(cnp, name))(x)
    g2 = cr.elementwise_grad(cr.elementwise_grad(getattr(cnp, name)))(x)
    np.testing.assert_allclose(g1, d1.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g2, d2.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name, tname", [
    ("power", "pow"), ("arctan2", "atan2"), ("hypot", "hypot"), ("logaddexp", "logaddexp"),
    ("logaddexp2", "logaddexp2"), ("remainder", "remainder"), ("fmod", "fmod"),
    ("maximum", "maximum"), ("minimum", "minimum"), ("true_divide", "true_divide"),
])  # fmt: skip
def test_binary_gradients_against_torch(name, tname):
    torch = pytest.importorskip("torch")
    x, y = binary_inputs(name, (2, 3), (3,))
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, requires_grad=True)
    w = rng_for("torch", name).standard_normal((2, 3))
    (torch.tensor(w) * getattr(torch, tname)(tx, ty)).sum().backward()
    gx, gy = cr.grad(lambda a, b: cnp.sum(w * getattr(cnp, name)(a, b)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gy, ty.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_ties_agree_with_torch():
    torch = pytest.importorskip("torch")
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([1.0, 0.0, 3.0])
    for name in ("maximum", "minimum"):
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.tensor(y, requires_grad=True)
        getattr(torch, name)(tx, ty).sum().backward()
        gx, gy = cr.grad(lambda a, b, n=name: cnp.sum(getattr(cnp, n)(a, b)), argnums=(0, 1))(x, y)
        np.testing.assert_array_equal(gx, tx.grad.numpy())
        np.testing.assert_array_equal(gy, ty.grad.numpy())


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


COMPOSITES = {  # name -> (chainrule/jax function of (x, y) written once over a namespace)
    "tanh-exp-log": lambda m, x, y: m.sum(m.tanh(x * y) + m.exp(-x**2) * m.log(1 + y**2)),
    "pow-hypot": lambda m, x, y: m.sum(m.abs(x) ** 1.5 / m.hypot(x, y)),
    "max-arctan2": lambda m, x, y: m.sum(m.maximum(x, y) * m.arctan2(y, x + 3.0)),
    "logaddexp-sinc": lambda m, x, y: m.sum(m.logaddexp(x, 2 * y) + m.sinc(x) * m.cbrt(y + 3)),
    "clip-where": lambda m, x, y: m.sum(m.where(x > 0, m.clip(x, 0.2, 0.9) * y, m.sin(y) ** 2)),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composites_against_jax(name, jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    f = COMPOSITES[name]
    rng = rng_for("jax", name)
    x = rng.uniform(-1.5, 1.5, (2, 3))
    y = rng.uniform(-1.5, 1.5, (3,))
    gx, gy = cr.grad(lambda a, b: f(cnp, a, b), argnums=(0, 1))(x, y)
    jx, jy = jax_x64.grad(lambda a, b: f(jnp, a, b), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, np.asarray(jx), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gy, np.asarray(jy), rtol=1e-10, atol=1e-12)
    if name not in ("tanh-exp-log", "max-arctan2"):
        return  # JAX's op-by-op Hessian costs seconds; two composites suffice for second order
    hx = cr.hessian(lambda a: f(cnp, a, y))(x)
    jhx = jax_x64.hessian(lambda a: f(jnp, a, y))(x)
    np.testing.assert_allclose(hx, np.asarray(jhx), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["abs", "real", "imag", "abs2"])
def test_complex_to_real_against_jax(name, jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    fs = {
        "abs": lambda m, z: m.sum(m.abs(z) * m.cos(m.abs(z))),
        "real": lambda m, z: m.sum(m.real(m.sin(z))),
        "imag": lambda m, z: m.sum(m.imag(z * m.exp(z))),
        "abs2": lambda m, z: m.sum(m.real(z * m.conj(z)) ** 2),
    }
    z = np.array([0.5 + 0.5j, -1.0 + 0.3j, 1.2 - 0.8j])
    g = cr.grad(lambda t: fs[name](cnp, t))(z)
    jg = jax_x64.grad(lambda t: fs[name](jnp, t))(z)
    np.testing.assert_allclose(g, np.asarray(jg), rtol=1e-12)


def test_holomorphic_against_jax(jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    z = 0.3 + 0.9j
    f = lambda m, t: m.exp(m.sin(t)) * t**3 / (1 + t)
    g = cr.grad(lambda t: f(cnp, t), holomorphic=True)(z)
    jg = jax_x64.grad(lambda t: f(jnp, t), holomorphic=True)(z)
    assert complex(g) == pytest.approx(complex(jg), rel=1e-12)
