"""Error quality: what users see when they get something wrong."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

X3 = np.array([0.5, 1.5, -2.0])


# --- shape mismatches name the operation and both shapes --------------------------------------

BINARY = [
    ("mul", lambda a, b: a * b, ("mul", "multiply")),
    ("add", lambda a, b: a + b, ("add",)),
    ("sub", lambda a, b: a - b, ("sub", "subtract")),
    ("div", lambda a, b: a / b, ("div", "divide")),
    ("pow", lambda a, b: a**b, ("pow", "power")),
    ("cnp.multiply", cnp.multiply, ("mul", "multiply")),
    ("cnp.maximum", cnp.maximum, ("maximum",)),
    ("cnp.arctan2", cnp.arctan2, ("arctan2", "atan2")),
    ("np.multiply", np.multiply, ("mul", "multiply")),
    ("np.hypot", np.hypot, ("hypot",)),
]


@pytest.mark.parametrize("name,op,names", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("which", ["both-traced", "left-traced", "right-traced"])
def test_shape_mismatch_names_op_and_shapes(name, op, names, which):
    a, b = np.full(3, 1.5), np.full(4, 2.0)
    if which == "both-traced":
        f, args, argnums = (lambda a, b: cnp.sum(op(a, b))), (a, b), (0, 1)
    elif which == "left-traced":
        f, args, argnums = (lambda a: cnp.sum(op(a, b))), (a,), 0
    else:
        f, args, argnums = (lambda b: cnp.sum(op(a, b))), (b,), 0
    with pytest.raises(ValueError) as info:
        cr.grad(f, argnums=argnums)(*args)
    msg = str(info.value)
    assert any(n in msg for n in names), msg
    assert "(3,)" in msg and "(4,)" in msg, msg


def test_shape_mismatch_inside_nested_grad():
    def inner(y):
        return cr.grad(lambda x: cnp.sum(x * (y * np.ones(4))))(np.ones(3))

    with pytest.raises(ValueError) as info:
        cr.grad(lambda y: cnp.sum(inner(y)))(1.0)
    msg = str(info.value)
    assert ("mul" in msg or "multiply" in msg) and "(3,)" in msg and "(4,)" in msg, msg


def test_matmul_mismatch_names_matmul_and_shapes():
    with pytest.raises(ValueError) as info:
        cr.grad(lambda x: cnp.sum(x @ np.ones((4, 2))))(np.ones((2, 3)))
    msg = str(info.value)
    assert "matmul" in msg and "(2, 3)" in msg and "(4, 2)" in msg, msg


def test_reshape_mismatch_names_reshape():
    with pytest.raises(ValueError, match="reshape"):
        cr.grad(lambda x: cnp.sum(cnp.reshape(x, (2, 2))))(X3)


# --- grad's contract -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (2, 1), (2, 2)])
def test_grad_of_non_scalar_output(shape):
    with pytest.raises(TypeError) as info:
        cr.grad(lambda x: x * 2.0)(np.ones(shape))
    msg = str(info.value)
    assert "scalar" in msg
    for hint in ("jacobian", "elementwise_grad", "vjp"):
        assert hint in msg, msg
    assert str(shape) in msg


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_grad_of_an_output_of_size_one_is_its_scalar(shape):
    """PyTorch's and HIPS autograd's habit (JAX refuses): documented in grad's docstring."""
    g = cr.grad(lambda x: x * 3.0)(np.full(shape, 2.0))
    np.testing.assert_array_equal(g, np.full(shape, 3.0))


@pytest.mark.parametrize("out", [None, "a string"], ids=["None", "str"])
def test_grad_of_function_returning_a_non_array(out):
    """JAX: 'Gradient only defined for scalar-output functions. Output was None.'"""
    with pytest.raises(TypeError) as info:
        cr.grad(lambda x: out)(1.0)
    assert "output" in str(info.value).lower()


def test_grad_of_integer_output():
    with pytest.raises(TypeError, match="float"):
        cr.grad(lambda x: 3)(1.0)


def loss(weights, count):
    return weights * count


@pytest.mark.parametrize(
    "fun,args,argnums,pname",
    [(lambda x: x**2, (3,), 0, "x"), (loss, (2.0, 3), 1, "count"),
     (loss, (2.0, 3), (0, 1), "count"), (loss, (np.arange(3), 2.0), 0, "weights"),
     (loss, (True, 2.0), 0, "weights"), (loss, ([1, 2], 2.0), 0, "weights")],
)  # fmt: skip
def test_integer_input_to_grad_names_the_argument(fun, args, argnums, pname):
    with pytest.raises(TypeError) as info:
        cr.grad(fun, argnums=argnums)(*args)
    msg = str(info.value)
    assert repr(pname) in msg, msg
    assert "float" in msg


def test_integer_input_names_parameter_in_every_transform():
    def f(alpha, beta):
        return alpha * beta

    for transform in (cr.grad, cr.value_and_grad, cr.elementwise_grad, cr.jacrev):
        with pytest.raises(TypeError, match="beta"):
            transform(f, argnums=1)(2.0, 3)
    with pytest.raises(TypeError, match="beta"):
        cr.vjp(f, 2.0, 3)


@pytest.mark.parametrize("argnums", [2, (0, 2), 5])
def test_argnums_out_of_range(argnums):
    with pytest.raises((TypeError, ValueError)) as info:
        cr.grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)
    assert "argnums" in str(info.value)


@pytest.mark.parametrize(
    "ret", [lambda x: x**2, lambda x: (x**2,), lambda x: (x**2, 1.0, 2.0)],
    ids=["bare", "1-tuple", "3-tuple"],
)  # fmt: skip
def test_has_aux_requires_a_pair(ret):
    with pytest.raises(TypeError, match="has_aux"):
        cr.grad(ret, has_aux=True)(2.0)
    with pytest.raises(TypeError, match="has_aux"):
        cr.value_and_grad(ret, has_aux=True)(2.0)


def test_complex_output_needs_holomorphic():
    with pytest.raises(TypeError, match="holomorphic"):
        cr.grad(lambda z: z * z)(1.0 + 1.0j)


# --- leaving the traced world ----------------------------------------------------------------


@pytest.mark.parametrize(
    "conv", [np.asarray, np.array, lambda t: np.asarray(t, dtype=float)],
    ids=["asarray", "array", "asarray-dtype"],
)  # fmt: skip
def test_numpy_conversion_of_tracer_is_a_clear_type_error(conv):
    with pytest.raises(TypeError) as info:
        cr.grad(lambda x: cnp.sum(conv(x)))(X3)
    msg = str(info.value)
    assert "trace" in msg.lower()
    assert "stop_gradient" in msg


def test_float_of_a_traced_value_is_refused_rather_than_dropping_its_gradient():
    with pytest.raises(TypeError, match="stop_gradient"):
        cr.grad(lambda x: float(x) * x)(3.0)
    # asked for explicitly, the value is a constant
    assert cr.grad(lambda x: float(cr.stop_gradient(x)) * x)(3.0) == 3.0
    # Tensors follow PyTorch: float() is the value
    assert float(cr.tensor(2.0, requires_grad=True) * 3) == 6.0


# --- unsupported keywords on traced values ---------------------------------------------------

OUT_CASES = [
    ("cnp.sin", lambda x, o: cnp.sin(x, out=o), (3,)),
    ("np.sin", lambda x, o: np.sin(x, out=o), (3,)),
    ("np.add", lambda x, o: np.add(x, 1.0, out=o), (3,)),
    ("cnp.sum", lambda x, o: cnp.sum(x, out=o), ()),
    ("cnp.mean", lambda x, o: cnp.mean(x, out=o), ()),
    ("np.mean", lambda x, o: np.mean(x, out=o), ()),
    ("cnp.var", lambda x, o: cnp.var(x, out=o), ()),
    ("cnp.max", lambda x, o: cnp.max(x, out=o), ()),
    ("cnp.cumsum", lambda x, o: cnp.cumsum(x, out=o), (3,)),
    ("cnp.dot", lambda x, o: cnp.dot(x, x, out=o), ()),
    ("cnp.outer", lambda x, o: cnp.outer(x, x, out=o), (3, 3)),
    ("cnp.concatenate", lambda x, o: cnp.concatenate([x, x], out=o), (6,)),
]


@pytest.mark.parametrize("name,call,oshape", OUT_CASES, ids=[c[0] for c in OUT_CASES])
def test_out_keyword_on_traced_values_is_not_implemented(name, call, oshape):
    """`out=` cannot hold a traced result: it must be refused, not silently ignored."""
    buf = np.full(oshape, -7.0)
    with pytest.raises(NotImplementedError) as info:
        cr.grad(lambda x: cnp.sum(call(x, buf)))(X3)
    assert "out" in str(info.value)


def test_where_keyword_of_ufunc_on_traced_values_is_not_implemented():
    with pytest.raises(NotImplementedError, match="where"):
        cr.grad(lambda x: cnp.sum(np.sin(x, where=x > 0)))(X3)


def test_unsupported_function_message_is_clear():
    with pytest.raises(NotImplementedError) as info:
        cr.grad(lambda x: cnp.sum(cnp.histogram(x)[1]))(X3)
    msg = str(info.value)
    assert "histogram" in msg
    assert "not differentiable" in msg or "not supported" in msg


# --- check_grads reports -------------------------------------------------------------------


def _wrong(x):
    # AD sees sin(x); finite differences also see the stop_gradient(x)**2 term.
    return cnp.sin(x) + cr.stop_gradient(x) ** 2


@pytest.mark.parametrize("modes", [("fwd", "rev"), ("rev",), ("fwd",)])
def test_check_grads_reports_a_wrong_derivative(modes):
    with pytest.raises(AssertionError) as info:
        check_grads(_wrong, (np.array([0.3, -0.8, 1.1]),), order=1, modes=modes)
    msg = str(info.value)
    assert "automatic" in msg and "numerical" in msg
    assert "_wrong" in msg  # names the function
    assert ("reverse" if modes == ("rev",) else "forward") in msg


def test_check_grads_report_catches_second_order_error():
    # f(x) = x*sg(x) - sg(x)**2/2 equals x**2/2 and its AD first derivative sg(x) = x is right,
    # but the AD second derivative is 0 instead of 1.
    f = lambda x: x * cr.stop_gradient(x) - cr.stop_gradient(x) ** 2 / 2
    x = np.array([1.3, -0.4])
    check_grads(f, (x,), order=1)
    with pytest.raises(AssertionError) as info:
        check_grads(f, (x,), order=2)
    msg = str(info.value)
    assert "automatic" in msg and "numerical" in msg and "order 2" in msg


def test_check_grads_passes_on_right_derivative_and_rejects_unknown_mode():
    check_grads(lambda x: cnp.sin(x) + x**2, (np.array([0.3, -0.8]),), order=3)
    with pytest.raises(ValueError, match="mode"):
        check_grads(cnp.sin, (np.array([0.3]),), modes=("sideways",))


# --- other misuse ----------------------------------------------------------------------------


def test_len_and_iteration_of_0d_traced_value():
    with pytest.raises(TypeError):
        cr.grad(lambda x: len(x) * x)(2.0)
    with pytest.raises(TypeError):
        cr.grad(lambda x: sum(v for v in x))(2.0)


def test_index_out_of_bounds_names_getitem():
    with pytest.raises(IndexError) as info:
        cr.grad(lambda x: x[5])(X3)
    assert "5" in str(info.value)


def test_vjp_cotangent_errors_are_value_errors_naming_shapes():
    _, f_vjp = cr.vjp(lambda x: cnp.outer(x, x), X3)
    with pytest.raises(ValueError) as info:
        f_vjp(np.ones((3, 2)))
    assert "(3, 2)" in str(info.value) and "(3, 3)" in str(info.value)


def test_jvp_tangent_count_mismatch():  # a TypeError, as in JAX
    with pytest.raises(TypeError, match="tangent"):
        cr.jvp(lambda a, b: a * b, (1.0, 2.0), (1.0,))
