"""The imperative (PyTorch-style) face: `cr.Tensor`, `.backward`, `cr.autograd`, grad modes,
in-place operations, differentiable index assignment and the notebook's torch cells.

Expected values come from closed forms, NumPy, or PyTorch (float64) where it is installed.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

X101 = np.linspace(-3, 3, 101)


def J(x):
    return x**3 + x**2 - 6 * x + 1


def dJ(x):
    return 3 * x**2 + 2 * x - 6


def npy(t):
    """The values of a chainrule Tensor as a NumPy array (without going through chainrule's
    own conversion checks more than needed)."""
    assert isinstance(t, cr.Tensor), type(t)
    return t.detach().numpy()


@pytest.fixture
def torch():
    return pytest.importorskip("torch")




# --- creation --------------------------------------------------------------------------------

FACTORIES = ["zeros", "ones", "empty", "rand", "randn"]


@pytest.mark.parametrize("name", FACTORIES)
def test_creation_shape_as_tuple_or_varargs(name):
    f = getattr(cr, name)
    a, b, c = f(101, 2), f((101, 2)), f([101, 2])
    for t in (a, b, c):
        assert isinstance(t, cr.Tensor)
        assert t.shape == (101, 2)
        assert t.dtype == np.float64
        assert not t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    assert f(5).shape == (5,)
    assert f(()).shape == ()


@pytest.mark.parametrize("name", FACTORIES)
def test_creation_float32_kept_and_requires_grad(name):
    f = getattr(cr, name)
    t = f(3, 4, dtype=np.float32, requires_grad=True)
    assert t.dtype == np.float32
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None


def test_creation_values():
    np.testing.assert_array_equal(npy(cr.zeros(101, 2)), np.zeros((101, 2)))
    np.testing.assert_array_equal(npy(cr.ones(3, 2)), np.ones((3, 2)))
    f = cr.full((2, 3), 2.5)
    assert f.dtype == np.float64
    np.testing.assert_array_equal(npy(f), np.full((2, 3), 2.5))
    np.testing.assert_array_equal(npy(cr.eye(3)), np.eye(3))
    assert cr.eye(3).dtype == np.float64
    np.testing.assert_allclose(npy(cr.linspace(-3, 3, 101)), X101, rtol=0, atol=1e-15)
    assert cr.linspace(-3, 3, 101).dtype == np.float64
    np.testing.assert_array_equal(npy(cr.arange(0.0, 5.0)), np.arange(5.0))
    r = npy(cr.rand(1000))
    assert r.min() >= 0 and r.max() < 1 and 0.4 < r.mean() < 0.6
    z = cr.zeros_like(cr.ones(2, 3, dtype=np.float32))
    assert z.shape == (2, 3) and z.dtype == np.float32 and not npy(z).any()
    o = cr.ones_like(cr.zeros(4), requires_grad=True)
    assert o.requires_grad and o.shape == (4,)
    np.testing.assert_array_equal(npy(o), np.ones(4))


def test_manual_seed_makes_rand_reproducible():
    cr.manual_seed(123)
    a = npy(cr.rand(5))
    cr.manual_seed(123)
    b = npy(cr.rand(5))
    np.testing.assert_array_equal(a, b)


def test_tensor_dtypes_follow_numpy():
    assert cr.tensor(1.5).dtype == np.float64
    assert cr.tensor([1.0, 2.0]).dtype == np.float64
    assert cr.tensor([[1.0, 2.0]], requires_grad=True).dtype == np.float64
    assert cr.tensor(np.ones(3, np.float32)).dtype == np.float32
    assert cr.tensor([1.0, 2.0], dtype=np.float32).dtype == np.float32
    assert cr.tensor(np.ones(3, np.float32), requires_grad=True).dtype == np.float32


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0, 3.0])
    t = cr.tensor(a, requires_grad=True)
    a[0] = 100.0
    np.testing.assert_array_equal(npy(t), [1.0, 2.0, 3.0])


def test_integer_tensor_cannot_require_grad():
    with pytest.raises((TypeError, RuntimeError), match="float"):
        cr.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises((TypeError, RuntimeError), match="float"):
        cr.tensor([1, 2, 3]).requires_grad_()


def test_device_cpu():
    t = cr.zeros(2, device="cpu")
    assert t.device == "cpu"
    u = cr.tensor([1.0, 2.0], requires_grad=True)
    v = u.to("cpu")
    assert v.device == "cpu" and v.requires_grad
    np.testing.assert_array_equal(npy(v), [1.0, 2.0])
    # it stays in the graph
    (v * 3).sum().backward()
    np.testing.assert_array_equal(npy(u.grad), [3.0, 3.0])


# --- requires_grad, leaves, grad_fn ----------------------------------------------------------


def test_requires_grad_and_requires_grad_():
    t = cr.zeros(3)
    assert not t.requires_grad
    assert t.requires_grad_() is t
    assert t.requires_grad and t.is_leaf
    t.requires_grad_(False)
    assert not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad
    y = t * 2
    assert y.requires_grad and not y.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_is_leaf_and_grad_fn():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([1.0, 2.0])
    y = x * c
    assert x.is_leaf and x.grad_fn is None
    assert c.is_leaf and c.grad_fn is None
    assert not y.is_leaf and y.grad_fn is not None
    z = c * 2  # nothing requires grad: a leaf without grad_fn
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad
    with cr.no_grad():
        w = x * 2
    assert w.is_leaf and w.grad_fn is None and not w.requires_grad


# --- backward --------------------------------------------------------------------------------


def test_grad_accumulates_over_two_backward_calls():
    xv = np.array([1.0, -2.0, 0.5])
    x = cr.tensor(xv, requires_grad=True)
    (x**2).sum().backward()
    np.testing.assert_allclose(npy(x.grad), 2 * xv)
    (x**3).sum().backward()
    np.testing.assert_allclose(npy(x.grad), 2 * xv + 3 * xv**2)
    x.grad = None
    cr.tensor(2.0) * 0  # unrelated work does nothing to x.grad
    assert x.grad is None
    (x.sin()).sum().backward()
    np.testing.assert_allclose(npy(x.grad), np.cos(xv))


def test_backward_with_gradient_is_a_vector_jacobian_product():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 3))
    xv = rng.standard_normal(3)
    v = rng.standard_normal(4)
    x = cr.tensor(xv, requires_grad=True)
    y = cr.tensor(A) @ x
    y.backward(gradient=cr.tensor(v))
    np.testing.assert_allclose(npy(x.grad), A.T @ v, rtol=1e-13)
    # elementwise: diag Jacobian; gradient may be a NumPy array too
    x2 = cr.tensor(xv, requires_grad=True)
    (x2 * x2).backward(gradient=np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(npy(x2.grad), 2 * xv * [1.0, 0.0, 2.0], rtol=1e-14)


def test_retain_graph_allows_a_second_backward():
    xv = np.array([0.3, 1.2])
    x = cr.tensor(xv, requires_grad=True)
    y = (x.sin() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(npy(x.grad), 2 * (np.cos(xv) * xv + np.sin(xv)), rtol=1e-14)


def test_second_backward_without_retain_graph_is_a_clear_error():
    x = cr.tensor([0.3, 1.2], requires_grad=True)
    y = (x.sin() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()


def test_create_graph_gives_a_differentiable_grad():
    x = cr.tensor(2.0, requires_grad=True)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.grad_fn is not None
    assert g.item() == pytest.approx(12.0)
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(12.0)  # d²(x³)/dx² = 6x
    # and on a vector with sin: second derivative -sin
    xv = np.array([0.1, 1.0, 2.5])
    x = cr.tensor(xv, requires_grad=True)
    x.sin().sum().backward(create_graph=True)
    g = x.grad
    np.testing.assert_allclose(npy(g), np.cos(xv), rtol=1e-14)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(npy(x.grad), -np.sin(xv), rtol=1e-14)


def test_detach_shares_memory_and_has_no_graph():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.detach().numpy())
    with cr.no_grad():
        d[0] = 10.0
    np.testing.assert_array_equal(npy(x), [10.0, 2.0, 3.0])
    # a computation on the detached tensor records nothing
    e = d * 3
    assert not e.requires_grad and e.grad_fn is None
    y = x.detach() * x  # d(y)/dx is the detached value only
    y.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [10.0, 2.0, 3.0])


def test_retain_grad_on_a_non_leaf():
    xv = np.array([1.0, 2.0, 3.0])
    x = cr.tensor(xv, requires_grad=True)
    h = x * 2
    k = x * 3
    h.retain_grad()
    (h**2 + k**2).sum().backward()
    np.testing.assert_allclose(npy(h.grad), 2 * (2 * xv))
    assert k.grad is None  # not retained
    np.testing.assert_allclose(npy(x.grad), 8 * xv + 18 * xv)


def test_register_hook_on_a_leaf_modifies_the_gradient_and_can_be_removed():
    xv = np.array([1.0, 2.0, 3.0])
    x = cr.tensor(xv, requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: g * 10)
    h2 = x.register_hook(lambda g: seen.append(npy(g).copy()))  # returns None: unchanged
    (x * x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), 20 * xv)
    assert len(seen) == 1
    handle.remove()
    h2.remove()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(npy(x.grad), 2 * xv)
    assert len(seen) == 1


def test_register_hook_on_a_non_leaf_changes_what_flows_to_the_leaves():
    xv = np.array([0.5, 1.0, 2.0])
    x = cr.tensor(xv, requires_grad=True)
    h = x.sin()
    seen = []

    def hook(g):
        seen.append(npy(g).copy())
        return g * 3

    handle = h.register_hook(hook)
    (h * h).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * np.sin(xv), rtol=1e-14)
    np.testing.assert_allclose(npy(x.grad), 3 * 2 * np.sin(xv) * np.cos(xv), rtol=1e-14)
    handle.remove()
    x.grad = None
    h = x.sin()
    (h * h).sum().backward()
    np.testing.assert_allclose(npy(x.grad), 2 * np.sin(xv) * np.cos(xv), rtol=1e-14)


def test_numpy_item_tolist():
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    a = x.detach().numpy()
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])
    c = cr.tensor([1.0, 2.0])
    assert isinstance(c.numpy(), np.ndarray)
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
    s = (x * x).sum()
    v = s.item()
    assert type(v) is float and v == 30.0
    with pytest.raises(RuntimeError, match="4 elements"):
        x.item()
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert type(x.tolist()[0][0]) is float
    assert x.shape == (2, 2) and x.dtype == np.float64 and x.device == "cpu"


def test_T_and_transpose_and_reshape_values_and_gradients():
    rng = np.random.default_rng(2)
    av = rng.standard_normal((2, 3))
    w = rng.standard_normal((3, 2))
    a = cr.tensor(av, requires_grad=True)
    np.testing.assert_array_equal(npy(a.T), av.T)
    np.testing.assert_array_equal(npy(a.transpose()), av.T)
    (a.T * cr.tensor(w)).sum().backward()
    np.testing.assert_array_equal(npy(a.grad), w.T)
    a.grad = None
    r = a.reshape(3, 2)
    np.testing.assert_array_equal(npy(r), av.reshape(3, 2))
    (r * cr.tensor(w)).sum().backward()
    np.testing.assert_array_equal(npy(a.grad), w.reshape(2, 3))
    a.grad = None
    (a.reshape((6,)) * cr.tensor(np.arange(6.0))).sum().backward()
    np.testing.assert_array_equal(npy(a.grad), np.arange(6.0).reshape(2, 3))


METHODS = [
    # name, NumPy value, derivative of sum(method(x)) with respect to x
    ("exp", np.exp, np.exp),
    ("sin", np.sin, np.cos),
    ("cos", np.cos, lambda x: -np.sin(x)),
    ("tanh", np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    ("log", np.log, lambda x: 1 / x),
    ("sqrt", np.sqrt, lambda x: 0.5 / np.sqrt(x)),
    ("abs", np.abs, np.sign),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
]


@pytest.mark.parametrize("name,f,df", METHODS, ids=[m[0] for m in METHODS])
def test_elementwise_methods(name, f, df):
    xv = np.array([[0.3, 1.7, 2.2], [0.9, 1.1, 3.0]])
    x = cr.tensor(xv, requires_grad=True)
    y = getattr(x, name)()
    assert isinstance(y, cr.Tensor) and y.shape == xv.shape
    np.testing.assert_allclose(npy(y), f(xv), rtol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(npy(x.grad), df(xv), rtol=1e-13)


def test_reduction_methods():
    xv = np.array([[0.3, -1.7, 2.2], [0.9, 1.1, -3.0]])
    x = cr.tensor(xv, requires_grad=True)
    s = x.sum()
    assert s.shape == () and s.item() == pytest.approx(xv.sum())
    m = x.mean()
    assert m.item() == pytest.approx(xv.mean())
    m.backward()
    np.testing.assert_allclose(npy(x.grad), np.full((2, 3), 1 / 6))
    x.grad = None
    s0 = x.sum(axis=0)
    np.testing.assert_allclose(npy(s0), xv.sum(axis=0))
    (s0 * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(npy(x.grad), np.tile([1.0, 2.0, 3.0], (2, 1)))
    x.grad = None
    m1 = x.mean(axis=1)
    np.testing.assert_allclose(npy(m1), xv.mean(axis=1))
    (m1 * cr.tensor([1.0, -1.0])).sum().backward()
    np.testing.assert_allclose(npy(x.grad), np.array([[1.0] * 3, [-1.0] * 3]) / 3)


def test_operators_with_python_numbers_on_both_sides():
    xv = np.array([0.5, 1.5, 2.5])
    cases = [
        (lambda x: x + 2, lambda x: x + 2, lambda x: np.ones_like(x)),
        (lambda x: 2 + x, lambda x: 2 + x, lambda x: np.ones_like(x)),
        (lambda x: x - 2, lambda x: x - 2, lambda x: np.ones_like(x)),
        (lambda x: 2 - x, lambda x: 2 - x, lambda x: -np.ones_like(x)),
        (lambda x: x * 3, lambda x: x * 3, lambda x: 3 * np.ones_like(x)),
        (lambda x: 3 * x, lambda x: 3 * x, lambda x: 3 * np.ones_like(x)),
        (lambda x: x / 4, lambda x: x / 4, lambda x: np.full_like(x, 0.25)),
        (lambda x: 4 / x, lambda x: 4 / x, lambda x: -4 / x**2),
        (lambda x: x**3, lambda x: x**3, lambda x: 3 * x**2),
        (lambda x: x**2, lambda x: x**2, lambda x: 2 * x),
        (lambda x: x**0.5, np.sqrt, lambda x: 0.5 / np.sqrt(x)),
        (lambda x: 2.0**x, lambda x: 2.0**x, lambda x: np.log(2.0) * 2.0**x),
        (lambda x: -x, lambda x: -x, lambda x: -np.ones_like(x)),
        (lambda x: 1 - 2 * x + x**2 / 3, lambda x: 1 - 2 * x + x**2 / 3, lambda x: -2 + 2 * x / 3),
    ]
    for k, (op, f, df) in enumerate(cases):
        x = cr.tensor(xv, requires_grad=True)
        y = op(x)
        assert isinstance(y, cr.Tensor) and y.dtype == np.float64, k
        np.testing.assert_allclose(npy(y), f(xv), rtol=1e-14, err_msg=str(k))
        y.sum().backward()
        np.testing.assert_allclose(npy(x.grad), df(xv), rtol=1e-13, err_msg=str(k))


def test_operators_keep_float32():
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = (2.0 * x + 1) ** 2 / 3.0 - 1.5
    assert y.dtype == np.float32
    y.backward(gradient=[1.0, 1.0])
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(npy(x.grad), 4 * (2 * np.array([1.0, 2.0]) + 1) / 3, rtol=1e-6)


def test_matmul():
    rng = np.random.default_rng(3)
    Av, Bv, xv = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(4)
    A = cr.tensor(Av, requires_grad=True)
    B = cr.tensor(Bv, requires_grad=True)
    C = A @ B
    np.testing.assert_allclose(npy(C), Av @ Bv, rtol=1e-14)
    G = rng.standard_normal((3, 2))
    C.backward(gradient=G)
    np.testing.assert_allclose(npy(A.grad), G @ Bv.T, rtol=1e-13)
    np.testing.assert_allclose(npy(B.grad), Av.T @ G, rtol=1e-13)
    x = cr.tensor(xv, requires_grad=True)
    y = Av @ x  # a NumPy array on the left
    assert isinstance(y, cr.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(npy(x.grad), Av.sum(axis=0), rtol=1e-13)
    x.grad = None
    x.matmul(x).backward()
    np.testing.assert_allclose(npy(x.grad), 2 * xv, rtol=1e-14)


def test_numpy_functions_on_tensors_return_tensors():
    xv = np.array([0.2, 0.7, 1.9])
    x = cr.tensor(xv, requires_grad=True)
    s = np.sin(x)
    assert isinstance(s, cr.Tensor) and s.requires_grad
    np.testing.assert_allclose(npy(s), np.sin(xv))
    tot = np.sum(s * np.exp(x))
    assert isinstance(tot, cr.Tensor) and tot.shape == ()
    d = np.dot(x, x)
    assert isinstance(d, cr.Tensor)
    (tot + d).backward()
    expect = np.cos(xv) * np.exp(xv) + np.sin(xv) * np.exp(xv) + 2 * xv
    np.testing.assert_allclose(npy(x.grad), expect, rtol=1e-13)
    # on tensors that don't require grad: still Tensors
    c = np.exp(cr.ones(2))
    assert isinstance(c, cr.Tensor) and not c.requires_grad
    np.testing.assert_allclose(npy(c), np.e * np.ones(2))


def test_chainrule_numpy_functions_accept_tensors():
    xv = np.array([0.2, 0.7, 1.9])
    x = cr.tensor(xv, requires_grad=True)
    parts = [
        cnp.sum(cnp.sin(x)),
        cnp.sum(cnp.concatenate([x, x**2])),
        cnp.sum(cnp.stack([x, 2 * x]), axis=0).sum(),
        cnp.sum(cnp.array([x[0], x[1] ** 3])),
        cnp.mean([x, x], axis=0).sum(),
        cnp.dot(x, cnp.arctan(x)),
        cnp.where(x > 1.0, x, 0.0).sum(),
    ]
    for p in parts:
        assert isinstance(p, cr.Tensor) and p.requires_grad
    sum(parts).backward()
    expect = (
        np.cos(xv)
        + (1 + 2 * xv)
        + 3
        + np.array([1.0, 3 * xv[1] ** 2, 0.0])
        + 1
        + np.arctan(xv)
        + xv / (1 + xv**2)
        + (xv > 1.0)
    )
    np.testing.assert_allclose(npy(x.grad), expect, rtol=1e-13)


# --- grad modes ------------------------------------------------------------------------------


def test_no_grad_and_enable_grad_as_context_managers_nested():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        assert not (x * 2).requires_grad
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            assert (x * 2).requires_grad
            with cr.no_grad():
                assert not (x * 2).requires_grad
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert cr.is_grad_enabled() and (x * 2).requires_grad


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ValueError):
        with cr.no_grad():
            raise ValueError("boom")
    assert cr.is_grad_enabled()


def test_no_grad_and_enable_grad_as_decorators():
    x = cr.tensor([1.0, 2.0], requires_grad=True)

    @cr.no_grad()
    def off(t):
        """doc"""
        return t * 2

    @cr.enable_grad()
    def on(t):
        return t * 2

    y = off(x)
    assert not y.requires_grad
    np.testing.assert_array_equal(npy(y), [2.0, 4.0])
    assert off.__name__ == "off" and off.__doc__ == "doc"
    assert cr.is_grad_enabled()
    with cr.no_grad():
        z = on(x)
        assert not cr.is_grad_enabled()
    assert z.requires_grad
    z.sum().backward()
    np.testing.assert_array_equal(npy(x.grad), [2.0, 2.0])


# --- cr.autograd -----------------------------------------------------------------------------


def test_autograd_grad_returns_a_tuple_and_does_not_touch_grad():
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    x = cr.tensor(xv, requires_grad=True)
    y = cr.tensor(yv, requires_grad=True)
    r = cr.autograd.grad((x * y + x.sin()).sum(), (x, y))
    assert isinstance(r, tuple) and len(r) == 2
    np.testing.assert_allclose(npy(r[0]), yv + np.cos(xv), rtol=1e-14)
    np.testing.assert_allclose(npy(r[1]), xv, rtol=1e-14)
    assert x.grad is None and y.grad is None
    (gx,) = cr.autograd.grad((x**2).sum(), x)
    np.testing.assert_allclose(npy(gx), 2 * xv)
    assert x.grad is None
    assert not gx.requires_grad


def test_autograd_grad_allow_unused():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    u = cr.tensor([5.0, 6.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        cr.autograd.grad((x * x).sum(), (x, u))
    gx, gu = cr.autograd.grad((x * x).sum(), (x, u), allow_unused=True)
    np.testing.assert_array_equal(npy(gx), [2.0, 4.0])
    assert gu is None


def test_autograd_grad_with_respect_to_an_intermediate_tensor():
    xv = np.array([1.0, 2.0])
    x = cr.tensor(xv, requires_grad=True)
    h = x.exp()
    z = (h**2).sum()
    (gh,) = cr.autograd.grad(z, h, retain_graph=True)
    np.testing.assert_allclose(npy(gh), 2 * np.exp(xv), rtol=1e-14)
    gh2, gx = cr.autograd.grad(z, (h, x))
    np.testing.assert_allclose(npy(gh2), 2 * np.exp(xv), rtol=1e-14)
    np.testing.assert_allclose(npy(gx), 2 * np.exp(2 * xv), rtol=1e-14)


def test_autograd_grad_with_respect_to_an_intermediate_keeps_the_graph_below_it():
    # As in PyTorch, differentiating with respect to `h` only runs the graph above `h`: the part
    # from `x` to `h` is not consumed, so a later pass through it works.
    xv = np.array([1.0, 2.0])
    x = cr.tensor(xv, requires_grad=True)
    h = x.exp()
    (gh,) = cr.autograd.grad((h**2).sum(), h)
    np.testing.assert_allclose(npy(gh), 2 * np.exp(xv), rtol=1e-14)
    (gx,) = cr.autograd.grad((h**3).sum(), x)
    np.testing.assert_allclose(npy(gx), 3 * np.exp(3 * xv), rtol=1e-13)


def test_autograd_grad_create_graph_for_higher_orders():
    x = cr.tensor(2.0, requires_grad=True)
    (d1,) = cr.autograd.grad(x**3, x, create_graph=True)
    (d2,) = cr.autograd.grad(d1, x, create_graph=True)
    (d3,) = cr.autograd.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((12.0, 12.0, 6.0))
    assert d1.requires_grad and d2.requires_grad and not d3.requires_grad
    assert x.grad is None


def test_autograd_backward_with_several_tensors():
    xv = np.array([1.0, 2.0, 3.0])
    x = cr.tensor(xv, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    v = np.array([1.0, -1.0, 0.5])
    res = cr.autograd.backward([x * y, (x * x).sum()], [cr.tensor(v), None])
    assert res is None
    np.testing.assert_allclose(npy(x.grad), v * 2.0 + 2 * xv)
    assert y.grad.item() == pytest.approx(float(v @ xv))
    cr.autograd.backward((x.sum(), y * 3))
    np.testing.assert_allclose(npy(x.grad), v * 2.0 + 2 * xv + 1)
    assert y.grad.item() == pytest.approx(float(v @ xv) + 3)


def test_autograd_backward_with_too_few_grad_tensors_is_an_error():
    # as PyTorch: one gradient per tensor, never silently dropped
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises((RuntimeError, ValueError), match="(?i)grad_tensors"):
        cr.autograd.backward([x * 2, x * 3], [cr.ones(2)])
    with pytest.raises((RuntimeError, ValueError), match="(?i)grad_outputs"):
        cr.autograd.grad([x * 2, x * 3], x, [cr.ones(2)])


# --- in place --------------------------------------------------------------------------------


def test_sgd_step_under_no_grad():
    W = cr.tensor([1.0, 1.0], requires_grad=True)
    (W**2).sum().backward()
    with cr.no_grad():
        W -= 0.1 * W.grad
    np.testing.assert_allclose(npy(W), [0.8, 0.8])
    assert W.is_leaf and W.requires_grad  # still a parameter
    np.testing.assert_array_equal(npy(W.grad), [2.0, 2.0])


def test_sgd_loop_converges():
    # minimise |W - t|² by gradient descent, W updated in place
    t = np.array([1.0, -2.0, 0.5])
    W = cr.zeros(3, requires_grad=True)
    obj = W
    lr = 0.25
    for _ in range(40):
        loss = ((W - cr.tensor(t)) ** 2).sum()
        loss.backward()
        with cr.no_grad():
            W -= lr * W.grad
        W.grad = None
    assert W is obj and W.is_leaf and W.requires_grad
    np.testing.assert_allclose(npy(W), t, atol=1e-10)


@pytest.mark.parametrize(
    "op",
    [
        lambda W: W.__isub__(1.0),
        lambda W: W.__iadd__(1.0),
        lambda W: W.__imul__(2.0),
        lambda W: W.__setitem__(0, 1.0),
        lambda W: W.add_(1.0),
        lambda W: W.zero_(),
    ],
    ids=["isub", "iadd", "imul", "setitem", "add_", "zero_"],
)
def test_inplace_on_a_leaf_requiring_grad_outside_no_grad_raises(op):
    W = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?i)leaf.*in-place"):
        op(W)
    np.testing.assert_array_equal(npy(W), [1.0, 2.0])


@pytest.mark.parametrize(
    "modify",
    [
        lambda b: b.__iadd__(1.0),
        lambda b: b.__setitem__(0, 5.0),
        lambda b: b.mul_(2.0),
        lambda b: b[0:2].__iadd__(1.0),  # through a view
    ],
    ids=["iadd", "setitem", "mul_", "view"],
)
def test_modifying_a_tensor_saved_for_backward_raises(modify):
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 2
    c = b * b  # saves b
    with cr.no_grad():
        modify(b)
    with pytest.raises(RuntimeError, match=r"(?i)in-?place.*version|version.*in-?place"):
        c.backward(cr.ones(3))


def test_modifying_a_saved_output_raises():
    # exp's backward reads its own output: changing it in place must be detected (PyTorch:
    # "output 0 of ExpBackward0 is at version 1; expected version 0")
    a = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a.exp()
    c = b * 3.0
    with cr.no_grad():
        b += 1
    with pytest.raises(RuntimeError, match=r"(?i)in-?place.*version|version.*in-?place"):
        c.backward(cr.ones(3))


def test_updating_a_leaf_between_forward_and_backward_raises():
    W = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (W * W).sum()  # saves W
    with cr.no_grad():
        W -= 0.1
    with pytest.raises(RuntimeError, match=r"(?i)in-?place.*version|version.*in-?place"):
        loss.backward()


def test_modifying_a_tensor_not_saved_is_fine():
    av = np.array([1.0, 2.0, 3.0])
    a = cr.tensor(av, requires_grad=True)
    b = a * 2
    c = b + 3.0  # add saves nothing
    d = b * 3.0  # mul by a constant saves the constant, not b
    e = b.exp()  # exp saves its output, not b
    with cr.no_grad():
        b += 1
    (c.sum() + d.sum() + e.sum()).backward()
    np.testing.assert_allclose(npy(a.grad), 2 + 6 + 2 * np.exp(2 * av), rtol=1e-14)


def test_inplace_on_a_non_leaf_with_grad_on_is_recorded():
    av = np.array([1.0, 2.0, 3.0])
    a = cr.tensor(av, requires_grad=True)
    b = a * 2
    b += a**2
    b *= 3
    assert b.requires_grad and not b.is_leaf
    np.testing.assert_allclose(npy(b), 3 * (2 * av + av**2))
    b.sum().backward()
    np.testing.assert_allclose(npy(a.grad), 3 * (2 + 2 * av))


def test_grad_does_not_alias_the_gradient_argument():
    # x.grad must be a tensor of its own: zeroing it in place (an optimizer's zero_grad) may not
    # change the user's `gradient=` tensor.
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    dl = cr.ones(3)
    (x + 1).backward(gradient=dl)
    with cr.no_grad():
        x.grad.zero_()
    np.testing.assert_array_equal(npy(dl), [1.0, 1.0, 1.0])


def test_grads_of_two_leaves_do_not_alias():
    # gradient clipping parameter by parameter, in place: each .grad is scaled once
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    with cr.no_grad():
        for p in (a, b):
            p.grad *= 0.5
    np.testing.assert_array_equal(npy(a.grad), [0.5, 0.5])
    np.testing.assert_array_equal(npy(b.grad), [0.5, 0.5])


# --- differentiable index assignment (notebook 000) ------------------------------------------


def _notebook_Y(dl):
    Xt = cr.tensor(X101, requires_grad=True)
    Y = cr.zeros(101, 2)
    Y[:, 0] = Xt**3 + Xt**2 - 6 * Xt + 1
    Y[:, 1] = Xt**2 - 2
    assert Y.shape == (101, 2) and Y.requires_grad and not Y.is_leaf
    np.testing.assert_allclose(npy(Y)[:, 0], J(X101), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(npy(Y)[:, 1], X101**2 - 2, rtol=1e-13, atol=1e-13)
    Y.backward(gradient=dl)
    return npy(Xt.grad)


def test_notebook_index_assignment_directional_derivatives():
    dl = np.ones((101, 2))
    dY = _notebook_Y(cr.tensor(dl))
    dl1 = dl.copy()
    dl1[:, 1] = 0
    dY1 = _notebook_Y(cr.tensor(dl1))
    dl2 = dl.copy()
    dl2[:, 0] = 0
    dY2 = _notebook_Y(cr.tensor(dl2))
    np.testing.assert_allclose(dY1, dJ(X101), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(dY2, 2 * X101, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(dY, dJ(X101) + 2 * X101, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(dY1 + dY2, dY, rtol=1e-13, atol=1e-12)


def test_index_assignment_overwrites_cut_the_old_value_out():
    xv = np.array([0.5, 1.0, 1.5])
    x = cr.tensor(xv, requires_grad=True)
    Y = cr.zeros(3, 2)
    Y[:, 0] = x**3
    Y[:, 0] = x * 2  # replaces x**3: no gradient from it any more
    Y[1:, 1] = x[1:].exp()
    Y.backward(cr.ones(3, 2))
    np.testing.assert_allclose(npy(x.grad), 2 + np.array([0.0, np.exp(1.0), np.exp(1.5)]))


def test_index_assignment_into_a_tensor_that_requires_grad():
    xv = np.array([-1.0, 0.5, 2.0, 3.0])
    x = cr.tensor(xv, requires_grad=True)
    Z = x * 3
    Z[2] = x[0] ** 2
    np.testing.assert_allclose(npy(Z), [-3.0, 1.5, 1.0, 9.0])
    Z.sum().backward()
    np.testing.assert_allclose(npy(x.grad), [3.0 + 2 * -1.0, 3.0, 0.0, 3.0])


# --- the notebook's other torch cells --------------------------------------------------------


def _notebook_points():
    rng = np.random.default_rng(51)
    return -2 + 4 * rng.random(51), -2 + 4 * rng.random(51)


def test_notebook_J_on_101_points():
    Xt = cr.tensor(X101, requires_grad=True)
    Yt = Xt**3 + Xt**2 - 6 * Xt + 1
    Yt.backward(gradient=cr.ones_like(Yt))
    np.testing.assert_allclose(npy(Xt.grad), dJ(X101), rtol=1e-13, atol=1e-12)


def test_notebook_two_variables_backward():
    X, Y = _notebook_points()
    Xt = cr.tensor(X, requires_grad=True)
    Yt = cr.tensor(Y, requires_grad=True)
    Jt = Xt * Yt + (Xt - 2 * Yt).sin()
    np.testing.assert_allclose(npy(Jt), X * Y + np.sin(X - 2 * Y), rtol=1e-14)
    Jt.backward(gradient=cr.ones_like(Jt))
    np.testing.assert_allclose(npy(Xt.grad), Y + np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(npy(Yt.grad), X - 2 * np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)


def test_notebook_autograd_grad_with_create_graph():
    X, Y = _notebook_points()
    Xt = cr.tensor(X, requires_grad=True)
    Yt = cr.tensor(Y, requires_grad=True)
    Jt = Xt * Yt + np.sin(Xt - 2 * Yt)
    dl = cr.ones_like(Jt)
    r = cr.autograd.grad(Jt, (Xt, Yt), dl, create_graph=True)
    assert isinstance(r, tuple) and len(r) == 2
    gx, gy = r
    assert gx.requires_grad and gy.requires_grad
    np.testing.assert_allclose(npy(gx), Y + np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(npy(gy), X - 2 * np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    assert Xt.grad is None and Yt.grad is None
    # the results are differentiable: second derivatives
    s = np.sin(X - 2 * Y)
    hxx, hxy = cr.autograd.grad(gx.sum(), (Xt, Yt), retain_graph=True)
    hyx, hyy = cr.autograd.grad(gy.sum(), (Xt, Yt))
    np.testing.assert_allclose(npy(hxx), -s, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(npy(hxy), 1 + 2 * s, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(npy(hyx), 1 + 2 * s, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(npy(hyy), -4 * s, rtol=1e-12, atol=1e-14)


def test_notebook_tanh_4cos2_at_7():
    x = cr.tensor(7.0, requires_grad=True)
    t = (4 * x.cos() ** 2).tanh()
    t.backward()
    th = np.tanh(4 * np.cos(7.0) ** 2)
    expect = (1 - th**2) * 8 * np.cos(7.0) * -np.sin(7.0)
    assert x.grad.item() == pytest.approx(expect, rel=1e-13)
    assert x.grad.item() == pytest.approx(-0.164493, abs=1e-6)


# --- errors ----------------------------------------------------------------------------------


def test_backward_on_a_non_scalar_without_gradient():
    y = cr.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"(?s)scalar.*gradient"):
        y.backward()


def test_backward_on_a_tensor_that_does_not_require_grad():
    y = cr.tensor([1.0, 2.0]).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad(y, cr.tensor(1.0, requires_grad=True))


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = cr.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape.*\(3,\).*\(2,\)"):
        y.backward(gradient=cr.ones(3))
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(gradient=np.ones((2, 1)))


# --- graph lifetime: no reference cycles -----------------------------------------------------


@pytest.mark.parametrize("retain", [False, True], ids=["freed", "retained"])
@pytest.mark.parametrize("extras", [False, True], ids=["plain", "hook+retain_grad"])
def test_graph_dies_with_its_last_reference_after_backward(no_gc, retain, extras):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x.sin()
    if extras:
        h.retain_grad()
        h.register_hook(lambda g: g)
    y = (h * h).sum()
    w_h, w_node, w_root = weakref.ref(h), weakref.ref(h.grad_fn), weakref.ref(y.grad_fn)
    y.backward(retain_graph=retain)
    np.testing.assert_allclose(npy(x.grad), 2 * np.sin([1.0, 2.0, 3.0]) * np.cos([1, 2, 3.0]))
    del h, y
    assert w_h() is None, "the intermediate Tensor is kept alive"
    assert w_node() is None, "the intermediate's grad_fn node is kept alive"
    assert w_root() is None, "the output's grad_fn node is kept alive"


def test_graph_without_backward_dies_with_its_last_reference(no_gc):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.exp() * 2.0).sum()
    w_root = weakref.ref(y.grad_fn)
    del y
    assert w_root() is None


def test_create_graph_grad_releases_the_graph_when_cleared(no_gc):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x.sin()
    w_node = weakref.ref(h.grad_fn)
    (h * h).sum().backward(create_graph=True)
    del h
    x.grad = None
    assert w_node() is None


def test_leaf_and_its_grad_die_with_their_last_reference(no_gc):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    w_x, w_g = weakref.ref(x), weakref.ref(x.grad)
    del x
    assert w_x() is None and w_g() is None


# --- against PyTorch (float64) ---------------------------------------------------------------


def test_torch_small_network_gradients(torch):
    rng = np.random.default_rng(5)
    W1v, W2v, xv = rng.standard_normal((5, 4)), rng.standard_normal((3, 5)), rng.standard_normal(4)
    yv = rng.standard_normal(3)

    def run(lib):
        W1 = lib.tensor(W1v, requires_grad=True)
        W2 = lib.tensor(W2v, requires_grad=True)
        out = (W2 @ (W1 @ lib.tensor(xv)).tanh()).tanh()
        loss = ((out - lib.tensor(yv)) ** 2).mean()
        loss.backward()
        return loss.item(), W1.grad.detach().numpy(), W2.grad.detach().numpy()

    c, t = run(cr), run(torch)
    assert c[0] == pytest.approx(t[0], rel=1e-13)
    np.testing.assert_allclose(c[1], t[1], rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(c[2], t[2], rtol=1e-11, atol=1e-14)


def test_torch_index_assignment_with_create_graph(torch):
    xv = np.linspace(-3, 3, 11)
    W = np.arange(22.0).reshape(11, 2) / 10

    def run(lib, zeros):
        Xt = lib.tensor(xv, requires_grad=True)
        Yt = zeros
        Yt[:, 0] = Xt**3 + Xt**2 - 6 * Xt + 1
        Yt[:, 1] = Xt.sin() * Xt
        (g,) = lib.autograd.grad((Yt * lib.tensor(W)).sum(), Xt, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), Xt)
        return g.detach().numpy(), h.numpy()

    c = run(cr, cr.zeros(11, 2))
    t = run(torch, torch.zeros(11, 2, dtype=torch.float64))
    np.testing.assert_allclose(c[0], t[0], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(c[1], t[1], rtol=1e-12, atol=1e-12)


def test_torch_notebook_create_graph_second_derivatives(torch):
    X, Y = _notebook_points()

    def run(lib, sin):
        Xt = lib.tensor(X, requires_grad=True)
        Yt = lib.tensor(Y, requires_grad=True)
        Jt = Xt * Yt + sin(Xt - 2 * Yt)
        gx, gy = lib.autograd.grad(Jt, (Xt, Yt), lib.ones_like(Jt), create_graph=True)
        hx = lib.autograd.grad((gx * gy).sum(), (Xt, Yt))
        return [a.detach().numpy() for a in (gx, gy, *hx)]

    for a, b in zip(run(cr, cnp.sin), run(torch, torch.sin)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.filterwarnings("ignore:Using backward.. with create_graph=True")
def test_torch_create_graph_backward_accumulates_like_torch(torch):
    def run(lib):
        x = lib.tensor(2.0, requires_grad=True)
        (x**3).backward(create_graph=True)
        x.grad.backward()
        return x.grad.item()

    assert run(cr) == pytest.approx(run(torch)) == pytest.approx(24.0)


def test_torch_hooks_and_retain_grad(torch):
    xv = np.array([0.5, -1.0, 2.0])

    def run(lib):
        x = lib.tensor(xv, requires_grad=True)
        h = x.sin() * x
        h.retain_grad()
        h.register_hook(lambda g: g * 2)
        k = h.exp()
        y = (k * h).sum()
        y.backward(retain_graph=True)
        y.backward()
        return x.grad.detach().numpy(), h.grad.detach().numpy()

    for a, b in zip(run(cr), run(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-13)


def test_torch_transpose_of_two_dims(torch):
    # PyTorch's Tensor.transpose(dim0, dim1) swaps two dimensions
    av = np.arange(24.0).reshape(2, 3, 4)
    b = cr.tensor(av[0]).transpose(0, 1)
    assert b.shape == (4, 3)
    np.testing.assert_array_equal(npy(b), torch.tensor(av[0]).transpose(0, 1).numpy())
    a = cr.tensor(av, requires_grad=True)
    t = a.transpose(0, 2)
    np.testing.assert_array_equal(npy(t), torch.tensor(av).transpose(0, 2).numpy())
