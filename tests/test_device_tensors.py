"""Tensors on a device other than the CPU, proved on `array_api_strict`'s ``device1`` (where
conversion to NumPy is refused, so a silent trip through the host fails the test): creation
with ``device=``, recorded moves (``t.to``, ``t.cpu``), the backward pass and ``.grad`` on the
device, PyTorch's same-device rule, in-place changes and views, modules. Every result is
compared with the same computation on CPU Tensors. 'cuda' (CuPy) runs the same code:
tests/test_gpu.py on a GPU machine."""

from __future__ import annotations

import copy
import pickle

import array_api_strict as xp
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn, optim
from chainrule.errors import DeviceMismatchError

D1, D2 = xp.Device("device1"), xp.Device("device2")
X = np.random.default_rng(3).standard_normal((4, 3))
W = np.random.default_rng(4).standard_normal((3, 2))


def host(t: cr.Tensor) -> np.ndarray:
    """A tensor's values, copied to the host (the explicit transfer)."""
    return t.detach().cpu().numpy()


def on_d1(t: cr.Tensor) -> bool:
    v = t._value  # the array itself: a strict array on device1, never NumPy's
    return t.device == D1 and type(getattr(v, "_value", None)).__module__.startswith(
        "array_api_strict")


def loss(x: cr.Tensor, w: cr.Tensor) -> cr.Tensor:
    h = cnp.tanh(x @ w) * 2.0 + x.sum(1, keepdims=True)
    return (h**2).mean() + w.exp().sum()


# --- creation and moves --------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda d: cr.tensor(X, device=d),
    lambda d: cr.zeros(2, 3, device=d),
    lambda d: cr.ones((2,), dtype=np.float32, device=d),
    lambda d: cr.full((2,), 3.0, device=d),
    lambda d: cr.arange(4, device=d),
    lambda d: cr.linspace(0, 1, 5, device=d),
    lambda d: cr.eye(3, device=d),
])  # fmt: skip
def test_creation_with_a_device_puts_the_values_there(make):
    t, ref = make(D1), make(None)
    assert on_d1(t) and t.dtype == ref.dtype and t.shape == ref.shape
    np.testing.assert_array_equal(host(t), host(ref))
    e = cr.empty(2, device=D1)
    assert on_d1(e) and e.shape == (2,)


def test_random_tensors_draw_the_same_stream_on_every_device():
    cr.manual_seed(5)
    a = cr.randn(4, device=D1)
    cr.manual_seed(5)
    b = cr.randn(4)
    assert on_d1(a)
    np.testing.assert_array_equal(host(a), host(b))


def test_like_helpers_keep_the_device_unless_told():
    t = cr.ones(2, 3, dtype=np.float32, device=D1)
    for f in (cr.zeros_like, cr.ones_like, cr.empty_like, cr.rand_like, cr.randn_like):
        out = f(t)
        assert on_d1(out) and out.dtype == np.float32 and out.shape == (2, 3)
    assert cr.zeros_like(t, device="cpu").device == "cpu"
    assert on_d1(cr.full_like(t, 7.0)) and host(cr.full_like(t, 7.0))[0, 0] == 7.0
    assert on_d1(cr.zeros_like(cr.ones(2), device=D1))


def test_a_tensor_of_another_namespace_copies_it_and_stays_there():
    a = xp.asarray([1.0, 2.0], device=D1)
    t = cr.tensor(a)
    assert on_d1(t)
    with cr.no_grad():
        t.add_(1.0)
    np.testing.assert_array_equal(np.asarray(a.to_device(xp.Device("CPU_DEVICE"))), [1.0, 2.0])


def test_to_and_cpu_are_recorded_and_the_gradient_goes_back():
    x = cr.tensor(X, requires_grad=True)
    y = x.to(D1)
    assert on_d1(y) and y.grad_fn is not None and "DevicePut" in y.grad_fn.name()
    z = (y * y).sum(0).cpu()
    assert z.device == "cpu"
    (z * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * X * [1.0, 2.0, 3.0], rtol=1e-15)
    # and from the device to the CPU and back
    w = cr.tensor(W, device=D1, requires_grad=True)
    (w.cpu() ** 3).sum().backward()
    assert on_d1(w.grad)
    np.testing.assert_allclose(host(w.grad), 3 * W**2, rtol=1e-15)


def test_to_reads_devices_dtypes_and_tensors():
    t = cr.ones(2)
    assert t.to(D1, np.float32).dtype == np.float32 and on_d1(t.to(D1, np.float32))
    assert on_d1(t.to(device=D1)) and on_d1(t.to(cr.zeros(1, device=D1)))
    u = t.to(D1)
    assert u.to(D1) is u and u.to(D1, copy=True) is not u
    assert cr.device_put(u, "cpu").device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        t.to("tpu")


def test_moving_between_two_devices_of_a_namespace():
    x = cr.tensor(X, device=D1, requires_grad=True)
    y = x.to(D2)
    assert y.device == D2
    (y * 3.0).sum().backward()
    assert on_d1(x.grad)
    np.testing.assert_array_equal(host(x.grad), np.full(X.shape, 3.0))


# --- the backward pass on the device ---------------------------------------------------------


def test_backward_runs_on_the_device_and_matches_the_cpu():
    xs = [cr.tensor(X, device=d) for d in (D1, None)]
    ws = [cr.tensor(W, device=d, requires_grad=True) for d in (D1, None)]
    outs = [loss(x, w) for x, w in zip(xs, ws)]
    assert on_d1(outs[0])
    for o in outs:
        o.backward()
    assert on_d1(ws[0].grad)
    np.testing.assert_allclose(host(ws[0].grad), ws[1].grad.numpy(), rtol=1e-13)
    assert outs[0].item() == pytest.approx(outs[1].item(), rel=1e-14)


def test_gradients_accumulate_hooks_and_retain_grad_on_the_device():
    w = cr.tensor(W, device=D1, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(g.device) or g * 2)
    h = w * 3.0
    h.retain_grad()
    h.sum().backward()
    h2 = w * 3.0
    h2.sum().backward()
    assert seen == [D1, D1] and on_d1(h.grad) and on_d1(w.grad)
    np.testing.assert_array_equal(host(h.grad), np.ones(W.shape))
    np.testing.assert_array_equal(host(w.grad), np.full(W.shape, 12.0))


def test_backward_with_a_gradient_argument_puts_it_on_the_output_device():
    w = cr.tensor(W, device=D1, requires_grad=True)
    (w * 2.0).backward(gradient=np.full(W.shape, 0.5))  # a NumPy array: moved
    np.testing.assert_array_equal(host(w.grad), np.ones(W.shape))
    w.grad = None
    (w * 2.0).backward(gradient=cr.ones(3, 2, device=D1))
    np.testing.assert_array_equal(host(w.grad), np.full(W.shape, 2.0))


def test_functional_transforms_of_device_tensors():
    w = cr.tensor(W, device=D1)
    g = cr.grad(lambda v: (v**2).sum())(w)
    assert on_d1(g)
    np.testing.assert_allclose(host(g), 2 * W, rtol=1e-15)


# --- PyTorch's same-device rule --------------------------------------------------------------


def test_tensors_on_two_devices_are_refused_naming_both():
    a, b = cr.ones(3, device=D1), cr.ones(3)
    for f in (lambda: a + b, lambda: b * a, lambda: cnp.matmul(a, b), lambda: a + a.to(D2)):
        with pytest.raises(DeviceMismatchError, match="same device.*device1") as info:
            f()
        assert "t.to(device)" in str(info.value)


def test_numbers_zero_dim_cpu_tensors_and_numpy_constants_join_a_device_tensor():
    a = cr.ones(3, device=D1)
    for other in (2.0, np.float64(2.0), cr.tensor(2.0), np.full(3, 2.0)):
        out = a * other
        assert on_d1(out)
        np.testing.assert_array_equal(host(out), np.full(3, 2.0))


# --- no silent trip to the host -------------------------------------------------------------


def test_numpy_conversions_are_refused_with_the_way_to_the_host():
    t = cr.ones(3, device=D1)
    for f in (t.numpy, lambda: np.asarray(t)):
        with pytest.raises(TypeError, match=r"not in the host's memory.*t\.cpu\(\)"):
            f()
    assert t.sum().item() == 3.0 and t.tolist() == [1.0, 1.0, 1.0] and float(t[0]) == 1.0
    assert repr(t) == "tensor([1., 1., 1.], device=array_api_strict.Device('device1'))"


def test_pickle_and_deepcopy_keep_the_device():
    t = cr.tensor([1.0, 2.0], device=D1, requires_grad=True)
    for u in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t)):
        assert on_d1(u) and u.requires_grad and u.is_leaf
        np.testing.assert_array_equal(host(u), [1.0, 2.0])


# --- in place ----------------------------------------------------------------------------------


def test_in_place_changes_write_the_device_memory_and_views_see_them():
    with cr.no_grad():
        t = cr.ones(4, device=D1)
        v = t[1:3]
        v.zero_()
        t[0] = 7.0
        t.mul_(2.0)
    assert on_d1(t)
    np.testing.assert_array_equal(host(t), [14.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(host(v), [0.0, 0.0])


def test_recorded_in_place_changes_on_the_device_match_the_cpu():
    grads = []
    for d in (D1, None):
        x = cr.tensor(X, device=d, requires_grad=True)
        h = x * 1.0
        h[0] = h[1] * 3.0
        h.exp_()
        h.sum().backward()
        grads.append(host(x.grad))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-14)


def test_version_checks_hold_on_the_device():
    x = cr.tensor(X, device=D1, requires_grad=True)
    h = x * 1.0
    y = h.exp()  # saves its result
    with cr.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


# --- modules and optimizers ----------------------------------------------------------------------


def test_modules_move_their_parameters_in_place():
    cr.manual_seed(1)
    ref = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    cr.manual_seed(1)
    m = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    params = list(m.parameters())
    assert m.to(D1) is m and list(m.parameters()) == params  # the same Parameter objects
    assert all(on_d1(p) and p.requires_grad and p.is_leaf for p in params)
    for mod, d in ((m, D1), (ref, None)):
        (mod(cr.tensor(X, device=d)) ** 2).mean().backward()
    for p, q in zip(m.parameters(), ref.parameters()):
        assert on_d1(p.grad)
        np.testing.assert_allclose(host(p.grad), q.grad.numpy(), rtol=1e-13)
    m.cpu()
    assert all(p.device == "cpu" and p.grad.device == "cpu" for p in m.parameters())
    cr.manual_seed(2)
    lin = nn.Linear(2, 3, device=D1)
    cr.manual_seed(2)
    np.testing.assert_array_equal(host(lin.weight), nn.Linear(2, 3).weight.detach().numpy())
    assert on_d1(lin.weight) and on_d1(lin.bias)


def test_optimizers_refuse_a_namespace_numpy_does_not_dispatch_to():
    w = cr.tensor(W, device=D1, requires_grad=True)
    (w**2).sum().backward()
    for opt in (optim.SGD([w], lr=0.1), optim.Adam([w]), optim.RMSprop([w])):
        with pytest.raises(NotImplementedError, match=r"array_api_strict.*optim\.adam"):
            opt.step()
    np.testing.assert_array_equal(host(w), W)  # untouched


# --- device_put inside transformations ---------------------------------------------------------


def test_device_put_is_differentiable_in_every_mode():
    f = lambda x: cnp.sum(cr.device_put(x * x, D1) * 2.0)  # noqa: E731
    x = np.array([1.0, 2.0])
    g = cr.grad(f)(x)
    assert type(g) is np.ndarray
    np.testing.assert_array_equal(g, 4 * x)
    val, tan = cr.jvp(f, (x,), (np.ones(2),))
    assert val.device == D1 and tan.device == D1  # arrays, not chainrule's internals
    out = cr.vmap(lambda r: cr.device_put(r, D1))(np.ones((2, 3)))
    assert out.device == D1 and out.shape == (2, 3)
    assert float(cr.grad(cr.grad(lambda x: cnp.sum(cr.device_put(x, D1) ** 3)))(2.0)) == 12.0
    v, g = cr.value_and_grad(f)(x)
    assert v.device == D1 and type(g) is np.ndarray


def test_device_put_under_jit_names_what_to_do():
    with pytest.raises(TypeError, match=r"inside cr\.jit.*move the arguments before the call"):
        cr.jit(lambda x: cr.device_put(x, D1))(np.ones(2))


def test_clone_and_copies_never_share_the_device_memory():
    t = cr.ones(3, device=D1)
    for c in (t.clone(), t.to(D1, copy=True), t.to(np.float64, copy=True), cr.tensor(t)):
        with cr.no_grad():
            c.add_(1.0)
    np.testing.assert_array_equal(host(t), np.ones(3))


def test_gradients_are_writable_and_never_shared():
    x = cr.ones(3, device=D1, requires_grad=True)
    y = cr.ones(3, device=D1, requires_grad=True)
    (x + y).sum().backward()  # one broadcast cotangent reaches both leaves
    with cr.no_grad():
        x.grad.add_(5.0)
        x.grad[0] = 9.0
    np.testing.assert_array_equal(host(x.grad), [9.0, 6.0, 6.0])
    np.testing.assert_array_equal(host(y.grad), [1.0, 1.0, 1.0])


def test_copy_between_devices_as_pytorch():
    a, b = cr.zeros(3), cr.full((3,), 2.0, device=D1)
    a.copy_(b)
    assert a.device == "cpu"
    np.testing.assert_array_equal(a.numpy(), [2.0, 2.0, 2.0])
    b.copy_(cr.full((3,), 5.0))
    assert on_d1(b)
    np.testing.assert_array_equal(host(b), [5.0, 5.0, 5.0])
    w = cr.ones(3, device=D1, requires_grad=True)
    h = cr.zeros(3)
    h.copy_(w * 3.0)  # recorded: the gradient goes back to the device
    h.sum().backward()
    assert on_d1(w.grad)
    np.testing.assert_array_equal(host(w.grad), [3.0, 3.0, 3.0])


def test_jit_of_device_tensors_and_its_backward():
    f = cr.jit(lambda t: (t * t).sum())
    w = cr.tensor([1.0, 2.0, 3.0], device=D1, requires_grad=True)
    out = f(w)
    assert on_d1(out)
    out.backward()
    assert on_d1(w.grad)
    np.testing.assert_array_equal(host(w.grad), [2.0, 4.0, 6.0])


def test_parameters_pickle_as_parameters_and_save_from_the_device(tmp_path):
    m = nn.Linear(2, 3).to(D1)
    w = pickle.loads(pickle.dumps(m.weight))
    assert type(w) is nn.Parameter and on_d1(w) and w.requires_grad
    m2 = pickle.loads(pickle.dumps(m))
    assert [type(p) for p in m2.parameters()] == [nn.Parameter, nn.Parameter]
    assert all(on_d1(p) for p in m2.parameters())
    cr.save(m.state_dict(), tmp_path / "m.npz")  # files hold host arrays
    back = cr.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back["weight"].numpy(), host(m.weight))
    m3 = copy.deepcopy(m)
    assert all(type(p) is nn.Parameter and on_d1(p) for p in m3.parameters())
    with cr.no_grad():
        m3.weight.add_(1.0)
    np.testing.assert_array_equal(host(m3.weight), host(m.weight) + 1.0)  # its own memory


def test_a_device_constant_changed_after_use_does_not_change_the_gradient():
    w = cr.tensor([1.0, 2.0], device=D1, requires_grad=True)
    c = xp.asarray([3.0, 4.0], device=D1)
    y = (w * c * w).sum()
    c[0] = 100.0  # the caller's array, changed after the product saved it
    y.backward()
    np.testing.assert_array_equal(host(w.grad), [6.0, 16.0])
