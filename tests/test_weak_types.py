"""NumPy 2's promotion rules (NEP 50) survive every transformation.

A Python float is *weakly* typed: ``x32 * 2.0`` stays float32, while ``x32 * np.float64(2.0)``
is float64. For every binary differentiable primitive, the dtype of the primal under each
transformation must be plain NumPy's, and derivatives have the dtype JAX gives them: the
input's for reverse mode (grad, jacrev), the output's for forward mode (jvp, jacfwd).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import primitives as P

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)

# each binary differentiable primitive, through chainrule.numpy and, where there is one,
# through a Python operator
_NAMES = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "pow": "power"}
_OPERATORS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "mod": lambda a, b: a % b,
}
#: (how chainrule is called, the plain NumPy function to compare with)
OPS = []
for _n in P.BINARY:
    _np_fn = getattr(np, _NAMES.get(_n, _n))
    OPS.append(pytest.param((getattr(cnp, _NAMES.get(_n, _n)), _np_fn),
                            id=f"cnp.{_NAMES.get(_n, _n)}"))  # fmt: skip
    if _n in _OPERATORS:
        OPS.append(pytest.param((_OPERATORS[_n], _np_fn), id=f"operator.{_n}"))

SCALARS = [
    pytest.param(lambda: 2.0, id="pyfloat"),
    pytest.param(lambda: np.float64(2.0), id="np.float64"),
    pytest.param(lambda: 2, id="pyint"),
]
SIDES = ["right", "left"]

X32 = np.array([1.25, 1.5, 2.75], np.float32)  # positive, away from kinks and ties with 2


def _fn(op, s, side):
    """`op` (a pair: chainrule's way to call it, NumPy's function) with the scalar `s` on
    `side`, as chainrule is called."""
    fn = op[0]
    return (lambda v: fn(v, s)) if side == "right" else (lambda v: fn(s, v))


def _expected(op, s, side):
    """Plain NumPy's result dtype."""
    ref = op[1]
    out = ref(X32, s) if side == "right" else ref(s, X32)
    return np.result_type(out)


def test_every_binary_primitive_is_covered():
    covered = {_NAMES.get(n, n) for n in P.BINARY}
    assert len(P.BINARY) == 15
    for name in covered:
        assert callable(getattr(cnp, name))


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_plain_call_matches_numpy(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    if type(s) is float:
        assert expected == F32  # NEP 50: the Python float adopts float32
    elif type(s) is np.float64:
        assert expected == F64
    out = f(X32)  # plain data: plain NumPy, the same values
    assert type(out) is np.ndarray and out.dtype == expected
    ref = op[1](X32, s) if side == "right" else op[1](s, X32)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_grad(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    value, g = cr.value_and_grad(lambda v: cnp.sum(f(v)))(X32)
    assert np.result_type(value) == expected
    assert g.dtype == F32  # a gradient has its input's dtype
    assert np.all(np.isfinite(g)) and g.shape == X32.shape


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_jvp(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    out, t = cr.jvp(f, (X32,), (np.ones_like(X32),))
    assert out.dtype == expected
    assert t.dtype == expected
    np.testing.assert_array_equal(out, f(X32))  # the primal is plain NumPy's, bit for bit


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_vmap(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    out = cr.vmap(f)(X32)
    assert out.dtype == expected
    np.testing.assert_array_equal(out, f(X32))
    # on a 2-d batch too, and with the batch axis last
    X2 = np.stack([X32, X32[::-1]], axis=1)
    out2 = cr.vmap(f, in_axes=1, out_axes=1)(X2)
    assert out2.dtype == expected


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_jacfwd_and_jacrev(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    jf = cr.jacfwd(f)(X32)
    assert jf.dtype == expected  # forward mode: the output's dtype
    assert jf.shape == (3, 3)
    jr = cr.jacrev(f)(X32)
    assert jr.dtype == F32  # reverse mode: the input's dtype
    np.testing.assert_allclose(jf, jr, rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(jf - np.diag(np.diag(jf))) == 0  # elementwise: diagonal


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_eval_shape(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    aval = cr.eval_shape(f, X32)
    assert aval.shape == X32.shape
    assert aval.dtype == expected
    assert not aval.weak_type  # an array operand is strong
    aval = cr.eval_shape(f, cr.ShapeDtypeStruct((4, 3), np.float32))
    assert (aval.shape, aval.dtype) == ((4, 3), expected)


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("scalar", SCALARS)
@pytest.mark.parametrize("op", OPS)
def test_composed_transformations(op, scalar, side):
    s = scalar()
    f = _fn(op, s, side)
    expected = _expected(op, s, side)
    # vmap of grad: per-example derivatives keep the input's dtype
    assert cr.vmap(cr.grad(f))(X32).dtype == F32
    # jvp of grad: the tangent of a float32 gradient is float32
    g, gt = cr.jvp(cr.grad(lambda v: cnp.sum(f(v))), (X32,), (np.ones_like(X32),))
    assert g.dtype == F32 and gt.dtype == F32
    # grad inside vmap's body, value under vmap
    assert cr.vmap(f)(X32).dtype == expected
    # eval_shape of grad and of jvp
    assert cr.eval_shape(cr.grad(lambda v: cnp.sum(f(v))), X32).dtype == F32
    out_aval, t_aval = cr.eval_shape(lambda v: cr.jvp(f, (v,), (v,)), X32)
    assert out_aval.dtype == expected and t_aval.dtype == expected


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("op", OPS)
def test_python_float_stays_weak_under_eval_shape(op, side):
    """Two Python floats: the result is weakly typed float64, and stays float32 when it later
    meets a float32 array."""
    fn = op[0]
    av = cr.eval_shape(lambda a, b: fn(a, b) if side == "right" else fn(b, a), 2.0, 1.5)
    assert av.dtype == F64 and av.weak_type
    av = cr.eval_shape(lambda a, v: fn(fn(a, 1.5), v), 2.0, X32)
    assert av.dtype == F32 and not av.weak_type


def test_chain_of_python_floats_under_grad_stays_float32():
    def f(v):
        y = v * 2.0 + 1.0
        y = cnp.hypot(y, 0.5) / 3.0 - cnp.logaddexp(y, 1.0) ** 2.0
        return cnp.sum(cnp.maximum(y, -1.0))

    v, g = cr.value_and_grad(f)(X32)
    assert np.result_type(v) == F32 and g.dtype == F32
    assert np.result_type(f(X32)) == F32


def test_float64_scalar_promotes_under_grad():
    v, g = cr.value_and_grad(lambda x: cnp.sum(x * np.float64(2.0)))(X32)
    assert np.result_type(v) == F64
    assert g.dtype == F32
    np.testing.assert_array_equal(g, np.full(3, 2.0, np.float32))


# --- the Tensor face ------------------------------------------------------------------------


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("op", OPS)
def test_tensor_float32_with_python_float(op, side):
    fn = op[0]
    t = cr.tensor(X32, requires_grad=True)
    out = fn(t, 2.0) if side == "right" else fn(2.0, t)
    assert out.dtype == F32
    out.sum().backward()
    assert t.grad.dtype == F32
    # PyTorch's rule on Tensors: a NumPy scalar counts as a Python scalar (weakly typed)
    out_np = fn(t, np.float64(2.0)) if side == "right" else fn(np.float64(2.0), t)
    assert out_np.dtype == F32


def test_tensor_times_python_float_is_float32():
    t = cr.tensor(np.ones(3, np.float32))
    assert (t * 2.0).dtype == F32
    assert (2.0 * t).dtype == F32
    assert (t * 2.0).numpy().dtype == F32
