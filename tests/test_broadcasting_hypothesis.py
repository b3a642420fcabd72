"""Property tests: broadcasting binary operations and reductions over random shapes.

For two broadcast-compatible shapes the gradient of `sum(w * op(x, y))` with respect to each
operand has that operand's shape and equals the pointwise derivative times `w`, summed down to
the operand's shape. The summing-down is written here from NumPy's broadcasting rules, not
with chainrule.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

SHAPE_PAIRS = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1,
                                            max_side=3)


def sum_to_shape(g, shape):
    """Undo broadcasting: sum the leading axes away, then the axes where `shape` has 1."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    return np.sum(g, axis=axes).reshape(shape)


def ones(x, y):
    return np.ones(np.broadcast_shapes(x.shape, y.shape))


OPS = {  # name -> (chainrule op, NumPy op, d/dx, d/dy) on broadcast operands
    "add": (lambda a, b: a + b, np.add, ones, ones),
    "sub": (lambda a, b: a - b, np.subtract, ones, lambda x, y: -ones(x, y)),
    "mul": (lambda a, b: a * b, np.multiply, lambda x, y: y + 0 * x, lambda x, y: x + 0 * y),
    "div": (lambda a, b: a / b, np.divide, lambda x, y: 1 / y + 0 * x, lambda x, y: -x / y**2),
    "maximum": (cnp.maximum, np.maximum, lambda x, y: 1.0 * (x > y), lambda x, y: 1.0 * (y > x)),
}


def operands(data, shapes, name):
    sx, sy = shapes.input_shapes
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, sx)
    y = rng.uniform(-2.0, 2.0, sy)
    if name == "div":  # away from zero
        y = np.sign(y + (y == 0)) * (0.5 + np.abs(y))
    if name == "maximum":  # away from ties: the two operands take values on disjoint grids
        x = np.round(x * 4) / 4
        y = np.round(y * 4) / 4 + 0.125
    return np.asarray(x), np.asarray(y)


@pytest.mark.parametrize("name", sorted(OPS))
@SETTINGS
@given(shapes=SHAPE_PAIRS, data=st.data())
def test_binary_gradients_reduce_to_operand_shapes(name, shapes, data):
    op, npop, dfdx, dfdy = OPS[name]
    x, y = operands(data, shapes, name)
    out_shape = shapes.result_shape
    w = np.random.default_rng(len(out_shape)).standard_normal(out_shape)
    out, vjp_fn = cr.vjp(op, x, y)
    assert np.shape(out) == out_shape
    np.testing.assert_allclose(out, npop(x, y), rtol=1e-15)
    gx, gy = vjp_fn(w)
    assert np.shape(gx) == x.shape and np.shape(gy) == y.shape
    bx, by = np.broadcast_arrays(x, y)
    np.testing.assert_allclose(gx, sum_to_shape(w * dfdx(bx, by), x.shape), rtol=1e-12,
                               atol=1e-13)
    np.testing.assert_allclose(gy, sum_to_shape(w * dfdy(bx, by), y.shape), rtol=1e-12,
                               atol=1e-13)


@SETTINGS
@given(shapes=SHAPE_PAIRS, data=st.data())
def test_grad_of_sum_of_product_is_the_other_operand_summed_down(shapes, data):
    x, y = operands(data, shapes, "mul")
    out_shape = shapes.result_shape
    gx, gy = cr.grad(lambda a, b: cnp.sum(a * b), argnums=(0, 1))(x, y)
    # independently: broadcast y to the output, then sum over the axes that x broadcast along
    lead = len(out_shape) - x.ndim
    by = np.broadcast_to(y, out_shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(x.shape)
                                      if s == 1 and out_shape[lead + i] != 1)
    expected_gx = np.sum(by, axis=axes, keepdims=False).reshape(x.shape)
    np.testing.assert_allclose(gx, expected_gx, rtol=1e-12, atol=1e-13)
    assert np.shape(gy) == y.shape
    # the total of the gradient of sum(x * y) wrt y is the sum over the output of x
    np.testing.assert_allclose(np.sum(gy), np.sum(np.broadcast_to(x, out_shape)), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=12, deadline=None, derandomize=True)
@given(shapes=SHAPE_PAIRS, data=st.data())
def test_binary_check_grads_on_random_shapes(name, shapes, data):
    x, y = operands(data, shapes, name)
    check_grads(OPS[name][0], (x, y), order=2)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       data=st.data())
def test_where_and_clip_broadcast_three_operands(shapes, data):
    sc, sx, sy = shapes.input_shapes
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    c = rng.random(sc) < 0.5
    x, y = np.asarray(rng.standard_normal(sx)), np.asarray(rng.standard_normal(sy))
    out, vjp_fn = cr.vjp(lambda a, b: cnp.where(c, a, b), x, y)
    np.testing.assert_array_equal(out, np.where(c, x, y))
    w = rng.standard_normal(shapes.result_shape)
    gx, gy = vjp_fn(w)
    bc = np.broadcast_to(c, shapes.result_shape)
    np.testing.assert_allclose(gx, sum_to_shape(np.where(bc, w, 0.0), sx), atol=1e-13)
    np.testing.assert_allclose(gy, sum_to_shape(np.where(bc, 0.0, w), sy), atol=1e-13)
    # clip(x, lo, hi) with lo < 0 < hi everywhere
    lo = np.asarray(-np.abs(rng.standard_normal(sc)) - 0.05)
    hi = np.abs(y) + 0.05
    out, vjp_fn = cr.vjp(lambda a, b: cnp.clip(a, b, hi), x, lo)
    np.testing.assert_array_equal(out, np.clip(x, lo, hi))
    gx, glo = vjp_fn(w)
    bx, blo = np.broadcast_arrays(x, lo, np.zeros(shapes.result_shape))[:2]
    inside = (bx >= blo) & (bx <= np.broadcast_to(hi, shapes.result_shape))
    np.testing.assert_allclose(gx, sum_to_shape(w * inside, sx), atol=1e-13)
    np.testing.assert_allclose(glo, sum_to_shape(w * (bx < blo), sc), atol=1e-13)


@st.composite
def shape_and_axis(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=4)))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1))
    else:
        axes = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


REDUCERS = {
    "sum": (cnp.sum, np.sum),
    "mean": (cnp.mean, np.mean),
    "max": (cnp.max, np.max),
    "prod": (cnp.prod, np.prod),
}


@pytest.mark.parametrize("name", sorted(REDUCERS))
@settings(max_examples=30, deadline=None, derandomize=True)
@given(case=shape_and_axis(), seed=st.integers(0, 2**32 - 1))
def test_reductions_on_random_shapes_and_axes(name, case, seed):
    shape, axis, keepdims = case
    f, npf = REDUCERS[name]
    x = np.random.default_rng(seed).uniform(0.5, 1.5, shape)  # distinct, positive
    out, vjp_fn = cr.vjp(lambda t: f(t, axis=axis, keepdims=keepdims), x)
    expected = npf(x, axis=axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    w = np.random.default_rng(seed + 1).standard_normal(np.shape(expected))
    (g,) = vjp_fn(w)
    assert g.shape == shape
    # w laid out against x's axes, then the pointwise derivative of the reduction
    nd = len(shape)
    axes = tuple(range(nd)) if axis is None else tuple(
        sorted(a % nd for a in ((axis,) if isinstance(axis, int) else axis)))
    wk = np.asarray(w) if keepdims else np.expand_dims(w, axes)
    count = int(np.prod([shape[a] for a in axes]))
    keep = npf(x, axis=axes, keepdims=True)
    d = {"sum": np.ones(shape), "mean": np.full(shape, 1.0 / count),
         "max": 1.0 * (x == keep), "prod": keep / x}[name]
    np.testing.assert_allclose(g, wk * d, rtol=1e-12, atol=1e-13)
