"""The errors users see: concretization, escaped tracers, bad arguments, bad operands.

Each message must say what went wrong in the user's terms: their file, line and function,
the transformation involved, the argument by name, the operation and the shapes.
"""

from __future__ import annotations

import operator
import os

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.transforms import executor

HERE = os.path.basename(__file__)


def _line_of(marker: str) -> int:
    """The line of this file that carries `marker` in a comment."""
    with open(__file__) as f:
        lines = [i for i, line in enumerate(f, 1) if line.rstrip().endswith("# " + marker)]
    assert len(lines) == 1, (marker, lines)
    return lines[0]


@pytest.fixture(params=["fast", "readable"])
def mode(request):
    if request.param == "fast":
        yield request.param
    else:
        with executor.readable():
            yield request.param


# --- 1. ConcretizationError -----------------------------------------------------------------


def branchy(x):
    if x > 0:  # IF-BRANCHY
        return x
    return -x


def converts_bool(x):
    return 1.0 if bool(x) else 0.0  # CONV-bool


def converts_float(x):
    return float(x)  # CONV-float


def converts_int(x):
    return int(x)  # CONV-int


def converts_index(x):
    return operator.index(x)  # CONV-index


CONVERSIONS = [
    pytest.param(converts_bool, "bool()", "CONV-bool", id="bool"),
    pytest.param(converts_float, "float()", "CONV-float", id="float"),
    pytest.param(converts_int, "int()", "CONV-int", id="int"),
    pytest.param(converts_index, "operator.index()", "CONV-index", id="index"),
]


def _assert_names_user_line(msg: str, marker: str, fname: str) -> None:
    line = _line_of(marker)
    assert f"{HERE}:{line}" in msg, msg
    assert fname in msg, msg
    assert "cnp.where" in msg, msg


def test_concretization_error_is_a_type_error():
    assert issubclass(cr.errors.ConcretizationError, TypeError)


def test_if_under_eval_shape():
    with pytest.raises(cr.errors.ConcretizationError) as info:
        cr.eval_shape(branchy, 1.0)
    _assert_names_user_line(str(info.value), "IF-BRANCHY", "branchy")
    assert "eval_shape" in str(info.value)
    assert "cr.cond" in str(info.value)


def test_if_under_eval_shape_of_an_array():
    with pytest.raises(cr.errors.ConcretizationError) as info:
        cr.eval_shape(lambda x: branchy(cnp.sum(x)), np.ones(3))
    _assert_names_user_line(str(info.value), "IF-BRANCHY", "branchy")


@pytest.mark.parametrize("fun, what, marker", CONVERSIONS)
def test_conversions_under_eval_shape(fun, what, marker):
    arg = 3 if what == "operator.index()" else 1.0
    with pytest.raises(cr.errors.ConcretizationError) as info:
        cr.eval_shape(fun, arg)
    msg = str(info.value)
    assert what in msg
    _assert_names_user_line(msg, marker, fun.__name__)


@pytest.mark.parametrize("fun, what, marker", CONVERSIONS)
def test_conversions_under_eval_shape_are_type_errors(fun, what, marker):
    arg = 3 if what == "operator.index()" else 1.0
    with pytest.raises(TypeError):  # what code that catches TypeError expects
        cr.eval_shape(fun, arg)


def test_if_on_batched_value_under_vmap():
    with pytest.raises(cr.errors.ConcretizationError) as info:
        cr.vmap(branchy)(np.array([1.0, -2.0, 3.0]))
    msg = str(info.value)
    _assert_names_user_line(msg, "IF-BRANCHY", "branchy")
    assert "vmap" in msg


def test_conversion_of_batched_value_under_vmap():
    with pytest.raises(cr.errors.ConcretizationError) as info:
        cr.vmap(converts_float)(np.array([1.0, 2.0]))
    _assert_names_user_line(str(info.value), "CONV-float", "converts_float")


def test_unbatched_branch_under_vmap_is_fine():
    c = 2.0

    def f(x):
        return x * 3.0 if c > 0 else x

    np.testing.assert_array_equal(cr.vmap(f)(np.array([1.0, 2.0])), [3.0, 6.0])


def test_where_is_the_way_under_vmap():
    out = cr.vmap(lambda x: cnp.where(x > 0, x, -x))(np.array([1.0, -2.0, 3.0]))
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])


# --- 2. conversions under grad ----------------------------------------------------------------


def test_float_under_grad_is_a_type_error_pointing_to_stop_gradient(mode):
    with pytest.raises(TypeError, match="stop_gradient") as info:
        cr.grad(lambda x: float(x) * x)(2.0)
    assert "float()" in str(info.value)


def test_float_of_stop_gradient_under_grad_works(mode):
    g = cr.grad(lambda x: float(cr.stop_gradient(x)) * x)(2.0)
    assert g == 2.0


def test_float_under_jvp_is_a_type_error_pointing_to_stop_gradient():
    with pytest.raises(TypeError, match="stop_gradient"):
        cr.jvp(lambda x: float(x) * x, (2.0,), (1.0,))


def test_bool_under_grad_branches_eagerly(mode):
    def f(x):
        if bool(x > 0):
            return x**3
        return -2.0 * x

    assert cr.grad(f)(2.0) == 12.0
    assert cr.grad(f)(-1.0) == -2.0


def test_if_under_grad_branches_eagerly(mode):
    def f(x):
        y = cnp.sin(x)
        while y < 0.9:  # a Python loop on a traced value: eager
            y = y + 0.25 * x
        return y

    x = 1.0
    y, n = np.sin(x), 0
    while y < 0.9:
        y, n = y + 0.25 * x, n + 1
    np.testing.assert_allclose(cr.grad(f)(x), np.cos(x) + 0.25 * n, rtol=1e-15)


def test_bool_under_jvp_branches_eagerly():
    f = lambda x: x**2 if x > 0 else -x  # noqa: E731
    assert cr.jvp(f, (3.0,), (1.0,)) == (9.0, 6.0)
    assert cr.jvp(f, (-3.0,), (1.0,)) == (3.0, -1.0)


# --- 3. UnexpectedTracerError -----------------------------------------------------------------


def leaky_function(x, store):
    store.append(x)
    return x * 2.0


def _leak(transform: str) -> list:
    store: list = []
    f = lambda x: leaky_function(x, store)  # noqa: E731
    f.__name__ = "leaky_function"
    if transform == "grad":
        cr.grad(f)(1.5)
    elif transform == "jvp":
        cr.jvp(f, (1.5,), (1.0,))
    elif transform == "vmap":
        cr.vmap(f)(np.array([1.5, 2.5]))
    elif transform == "eval_shape":
        cr.eval_shape(f, 1.5)
    assert len(store) == 1
    return store


TRANSFORMS = ["grad", "jvp", "vmap", "eval_shape"]


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_leaked_tracer_in_later_grad(transform, mode):
    store = _leak(transform)
    arg = np.ones(2) if transform == "vmap" else 3.0
    for order in (lambda y: y * store[0], lambda y: store[0] * y):  # either side
        with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
            cr.grad(lambda y: cnp.sum(order(y)))(arg)
    with pytest.raises(cr.errors.UnexpectedTracerError) as info:
        cr.grad(lambda y: cnp.sum(y * store[0]))(arg)
    msg = str(info.value)
    assert transform in msg
    assert "leaky_function" in msg
    assert "debug_tracer_leaks" in msg  # how to learn more


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_leaked_tracer_in_plain_operation(transform):
    store = _leak(transform)
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        cnp.sin(store[0])
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        store[0] + 1.0
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        1.0 - store[0]  # the leaked value second


@pytest.mark.parametrize("transform", ["grad", "vmap"])
def test_leaked_tracer_in_later_jvp_and_vmap(transform):
    store = _leak(transform)
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        cr.jvp(lambda y: y * store[0], (np.ones(2),), (np.ones(2),))
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        cr.vmap(lambda y: y * store[0])(np.ones(2))


@pytest.mark.parametrize("conv", [bool, int, float], ids=["bool", "int", "float"])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_leaked_tracer_conversion_is_never_silent(transform, conv):
    store = _leak(transform)
    with pytest.raises(cr.errors.UnexpectedTracerError, match=transform):
        conv(store[0])


def test_debug_tracer_leaks_shows_the_call_stack():
    before = cr.config.debug_tracer_leaks
    cr.config.update("debug_tracer_leaks", True)
    try:
        store = []
        cr.grad(lambda x: leaky_function(x, store))(1.5)  # LEAK-CALL
    finally:
        cr.config.update("debug_tracer_leaks", before)
    assert cr.config.debug_tracer_leaks == before
    with pytest.raises(cr.errors.UnexpectedTracerError) as info:
        cr.grad(lambda y: y * store[0])(3.0)
    msg = str(info.value)
    assert "called here" in msg
    assert f"line {_line_of('LEAK-CALL')}" in msg
    assert "test_debug_tracer_leaks_shows_the_call_stack" in msg


def test_without_debug_option_no_stack():
    assert not cr.config.debug_tracer_leaks
    store = _leak("grad")
    with pytest.raises(cr.errors.UnexpectedTracerError) as info:
        cr.grad(lambda y: y * store[0])(3.0)
    assert "called here" not in str(info.value)


def test_unknown_config_option():
    with pytest.raises(ValueError, match="debug_tracer_leaks"):
        cr.config.update("debug_tracer_leak", True)


def test_outer_tracer_in_inner_transformation_is_fine():
    """Not a leak: the outer transformation is still running."""

    def f(x):
        return cr.grad(lambda y: y * x * y)(2.0) * x

    # f(x) = 4x * x = 4x², f'(x) = 8x
    assert cr.grad(f)(3.0) == 24.0


# --- 4. bad arguments to grad -----------------------------------------------------------------


def takes_count(scale, count):
    return scale * count


@pytest.mark.parametrize("bad", [3, np.arange(3), True, np.array([True])],
                         ids=["int", "int array", "bool", "bool array"])  # fmt: skip
def test_integer_input_names_the_argument(bad):
    with pytest.raises(TypeError) as info:
        cr.grad(lambda scale, count: cnp.sum(takes_count(scale, count)), argnums=1)(2.0, bad)
    msg = str(info.value)
    assert "'count'" in msg
    assert "argument 1" in msg
    assert np.result_type(bad).name in msg


def test_integer_input_in_pytree_names_the_argument():
    with pytest.raises(TypeError, match="'params'"):
        cr.grad(lambda params: params["w"] * 2.0)({"w": 3})


def test_integer_inputs_of_vjp_and_jvp_name_the_argument():
    with pytest.raises(TypeError, match="'count'"):
        cr.vjp(takes_count, 2.0, 3)
    with pytest.raises(TypeError, match="'count'"):
        cr.jvp(takes_count, (2.0, 3), (1.0, 0))
    with pytest.raises(TypeError, match="'count'"):
        cr.value_and_grad(takes_count, argnums=(0, 1))(2.0, 3)


def test_integer_input_not_differentiated_is_fine():
    assert cr.grad(takes_count)(2.0, 3) == 3.0


def test_non_scalar_output_mentions_vmap():
    with pytest.raises(TypeError, match="vmap") as info:
        cr.grad(lambda x: x * 2.0)(np.ones(3))
    assert "(3,)" in str(info.value)


def test_non_float_output():
    with pytest.raises(TypeError, match="float"):
        cr.grad(lambda x: cnp.sum(x > 0))(np.ones(2))
    with pytest.raises(TypeError, match="holomorphic"):
        cr.grad(lambda x: x * 1j)(1.0)


@pytest.mark.parametrize("argnums", [1, -2, (0, 1), (0, 5)])
def test_argnums_out_of_range(argnums):
    with pytest.raises(TypeError, match="argnums") as info:
        cr.grad(lambda x: x * 2.0, argnums=argnums)(1.0)
    assert "1 positional argument" in str(info.value)


def test_argnums_not_an_int():
    with pytest.raises(TypeError, match="argnums"):
        cr.grad(lambda x: x * 2.0, argnums="x")(1.0)


# --- 5. bad operands: the op and the shapes ----------------------------------------------------


def bad_matmul(x):
    return cnp.sum(x @ np.ones((3, 2)))


def bad_reshape(x):
    return cnp.sum(cnp.reshape(x, (3,)))


def bad_add(x):
    return cnp.sum(x + np.ones(3))


RUNNERS = {
    "grad": lambda f, x: cr.grad(f)(x),
    "value_and_grad": lambda f, x: cr.value_and_grad(f)(x),
    "eval_shape": lambda f, x: cr.eval_shape(f, x),
    "Tensor": lambda f, x: f(cr.tensor(x, requires_grad=True)),
    "jvp": lambda f, x: cr.jvp(f, (x,), (x,)),
    "vmap": lambda f, x: cr.vmap(f)(np.stack([x, x, x])),
}
BAD = {
    "matmul": (bad_matmul, ["(2, 2)", "(3, 2)"]),
    "reshape": (bad_reshape, ["(2, 2)", "(3,)"]),
    "add": (bad_add, ["(2, 2)", "(3,)"]),
}
CASES = [pytest.param(op, run, id=f"{op}-{run}") for op in BAD for run in RUNNERS]


@pytest.mark.parametrize("op, run", CASES)
def test_bad_operands_name_op_and_shapes(op, run, mode):
    """The message starts with the primitive's name and shows the operands' shapes as the
    user wrote them (per example, under vmap)."""
    fun, shapes = BAD[op]
    with pytest.raises(ValueError) as info:
        RUNNERS[run](fun, np.ones((2, 2)))
    msg = str(info.value)
    assert msg.startswith(op + ":"), msg
    for s in shapes:
        assert s in msg, (s, msg)


def test_grad_matmul_message_from_brief(mode):
    with pytest.raises(ValueError, match="matmul"):
        cr.grad(lambda x: cnp.sum(x @ np.ones((3, 2))))(np.ones((2, 2)))
    with pytest.raises(ValueError, match="reshape"):
        cr.grad(lambda x: cnp.sum(cnp.reshape(x, (3,))))(np.ones((2, 2)))


def test_plain_numpy_errors_stay_numpy_errors():
    """On plain data chainrule.numpy is NumPy: the same exception type."""
    with pytest.raises(ValueError):
        cnp.matmul(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError):
        cnp.reshape(np.ones((2, 2)), (3,))


# --- no spurious errors -----------------------------------------------------------------------


@pytest.mark.parametrize("fun", [
    lambda x: cnp.reshape(x, (-1,)),
    lambda x: x.reshape(-1, 1),
    lambda x: cnp.ravel(x),
    lambda x: x.flatten(),
], ids=["reshape", "method", "ravel", "flatten"])  # fmt: skip
@pytest.mark.parametrize("how", ["eval_shape", "linearize"])
def test_reshape_with_minus_one_under_staging(fun, how):
    x = np.arange(6.0).reshape(2, 3)
    expected = np.asarray(fun(x))
    if how == "eval_shape":
        aval = cr.eval_shape(fun, x)
        assert aval.shape == expected.shape
    else:
        out, f_jvp = cr.linearize(fun, x)
        np.testing.assert_array_equal(f_jvp(np.ones_like(x)), np.ones(expected.shape))


@pytest.mark.parametrize("fun", [
    lambda x: cnp.reshape(x, (-1,)),
    lambda x: cnp.ravel(x),
], ids=["reshape", "ravel"])  # fmt: skip
def test_reshape_with_minus_one_under_grad_jvp_vmap(fun):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(fun(v) ** 2))(x), 2 * x)
    out, t = cr.jvp(fun, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(out, x.ravel())
    batched = cr.vmap(fun)(np.stack([x, -x]))
    np.testing.assert_array_equal(batched, np.stack([x.ravel(), -x.ravel()]))
