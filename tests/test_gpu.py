"""On a CUDA GPU, with CuPy: devices, DLPack, CUDA Tensors, modules and optimizers, and the
notebook's GPU memory experiment read with
`cr.memory` (`ones(1024)` in float32 and float64, the rounding of allocation sizes, and
`some_calculus(True/False, 10/100)` against `torch.cuda.max_memory_allocated`: G2).

Skipped as a whole without CuPy or without a CUDA device (CI never needs a GPU); the CPU half
of the same logic is tests/test_devices.py. `python -m benchmarks.gpu_check` runs this file.
"""

from __future__ import annotations

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
try:
    _N_GPUS = cupy.cuda.runtime.getDeviceCount()
except Exception:  # no driver, no runtime, no device
    _N_GPUS = 0
if _N_GPUS < 1:
    pytest.skip("no CUDA device", allow_module_level=True)

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from benchmarks import gpu_check  # noqa: E402


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


@pytest.fixture(autouse=True)
def _allocator_back():
    yield
    cr.memory.stop("cuda")  # CuPy's own allocator back after each test


# --- devices and DLPack ----------------------------------------------------------------------


def test_device_put_round_trip():
    a = np.arange(5, dtype=np.float32)
    g = cr.device_put(a, "cuda")
    assert isinstance(g, cupy.ndarray) and g.device.id == 0
    assert cr.device_put(g, "cuda") is g and cr.device_put(g, "cuda:0") is g
    back = cr.device_put(g, "cpu")
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, a)
    tree = cr.device_put({"w": a, "b": np.float32(1)}, "cuda")
    assert all(isinstance(v, cupy.ndarray) for v in tree.values())


@pytest.mark.skipif(_N_GPUS < 2, reason="one GPU")
def test_device_put_between_gpus():
    g = cr.device_put(np.ones(3), "cuda:0")
    h = cr.device_put(g, "cuda:1")
    assert h.device.id == 1
    np.testing.assert_array_equal(cr.device_put(h, "cpu"), np.ones(3))


def test_from_dlpack_of_gpu_producers_gives_cupy_arrays():
    g = cupy.arange(4.0)
    assert isinstance(cr.from_dlpack(g), cupy.ndarray)
    torch = _torch_cuda()
    if torch is not None:
        t = torch.zeros(3, device="cuda")
        c = cr.from_dlpack(t)
        assert isinstance(c, cupy.ndarray)
        c[0] = 5.0  # shared memory
        torch.cuda.synchronize()
        assert float(t[0]) == 5.0


def test_functional_grad_keeps_cupy_arrays_on_the_gpu():
    x = cupy.linspace(-1, 1, 7, dtype=cupy.float32)
    g = cr.grad(lambda x: cnp.sum(cnp.sin(x) * x))(x)
    assert isinstance(g, cupy.ndarray) and g.dtype == cupy.float32
    xh = cupy.asnumpy(x)
    np.testing.assert_allclose(cupy.asnumpy(g), np.cos(xh) * xh + np.sin(xh), rtol=1e-6)


# --- Tensors on the GPU (the same code as tests/test_device_tensors.py on array_api_strict) -----


def _host(t):
    return t.detach().cpu().numpy()


def test_cuda_tensors_compute_and_differentiate_on_the_gpu():
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    xs = [cr.tensor(X, device=d, requires_grad=True) for d in ("cuda", "cpu")]
    for x in xs:
        (cnp.tanh(x @ x.T) * x.sum()).sum().backward()
    assert xs[0].device == "cuda:0" and xs[0].is_cuda and xs[0].grad.is_cuda
    assert isinstance(xs[0]._value._value, cupy.ndarray)
    assert isinstance(xs[0].grad._value._value, cupy.ndarray)
    np.testing.assert_allclose(_host(xs[0].grad), xs[1].grad.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match=r"t\.cpu\(\)"):
        xs[0].numpy()
    assert "device='cuda:0'" in repr(xs[0])


def test_to_cuda_and_cpu_are_recorded():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert y.is_cuda and y.grad_fn is not None
    (y.cpu() * y.cpu()).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(cr.errors.DeviceMismatchError, match="cuda:0.*cpu"):
        y + x


def test_modules_and_optimizers_on_the_gpu_follow_the_cpu():
    X = np.random.default_rng(1).standard_normal((16, 3))
    runs = []
    for device in ("cuda", "cpu"):
        cr.manual_seed(3)
        model = cr.nn.Sequential(cr.nn.Linear(3, 8), cr.nn.Tanh(), cr.nn.Linear(8, 1))
        model.to(device)
        for opt in (cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                    cr.optim.Adam(model.parameters(), lr=0.01)):  # fmt: skip
            x = cr.tensor(X, device=device)
            for _ in range(3):
                opt.zero_grad()
                ((model(x) - 1.0) ** 2).mean().backward()
                opt.step()
        runs.append([_host(p) for p in model.parameters()])
        assert all(p.device.startswith(device) for p in model.parameters())
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_g2_with_tensors_as_the_notebook_writes_it():
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch has no CUDA here")
    mine, theirs = gpu_check.chainrule_cells(cupy), gpu_check.torch_cells(torch)
    diff = {k: (v, theirs[k[7:]]) for k, v in mine.items()
            if k.startswith("Tensor ") and v != theirs[k[7:]]}  # fmt: skip
    assert not diff, f"chainrule Tensors vs torch.cuda bytes: {diff}"


# --- cr.memory on 'cuda': the notebook's cells --------------------------------------------------


def _bytes_of(make):
    cr.memory.reset_peak("cuda")
    before = cr.memory.allocated("cuda")
    A = make()
    peak = cr.memory.max_allocated("cuda") - before
    now = cr.memory.allocated("cuda") - before
    del A
    return peak, now


def test_allocated_is_the_pools_used_bytes():
    pool = cupy.get_default_memory_pool()
    A = cupy.ones(1000)
    assert cr.memory.allocated("cuda") == pool.used_bytes() == cr.memory.allocated("cuda:0")
    del A


@pytest.mark.parametrize("dtype, expected", [("float32", 1024 * 4), ("float64", 1024 * 8)])
def test_ones_1024(dtype, expected):
    assert _bytes_of(lambda: cupy.ones(1024, dtype=dtype)) == (expected, expected)


@pytest.mark.parametrize("n, expected", [(1023, 4096), (1024, 4096), (1025, 4608), (128, 512),
                                         (1, 512)])  # fmt: skip
def test_allocation_sizes_are_rounded_to_512_bytes(n, expected):
    """Why sizes that are powers of two are liked: 1025 float32 take 4608 bytes, not 4100."""
    assert _bytes_of(lambda: cupy.ones(n, dtype=cupy.float32))[0] == expected


def test_peak_context_and_reset():
    with cr.memory.peak("cuda") as p:
        kept = cupy.ones(1024, dtype=cupy.float32)
        tmp = cupy.ones(2048, dtype=cupy.float32)
        del tmp
    assert (p.bytes, p.kept) == (4096 + 8192, 4096)
    cr.memory.reset_peak("cuda")
    assert cr.memory.max_allocated("cuda") == cr.memory.allocated("cuda")
    del kept


def test_some_calculus_without_recording_keeps_three_vectors_at_most():
    for n in (10, 100):
        peak, _ = _bytes_of(lambda n=n: gpu_check.some_calculus_cupy(cupy, False, n))
        assert peak == 3 * 4096, (n, peak)  # A, a random vector, their product


def test_some_calculus_recording_grows_with_n():
    p10, _ = _bytes_of(lambda: gpu_check.some_calculus_cupy(cupy, True, 10))
    p100, _ = _bytes_of(lambda: gpu_check.some_calculus_cupy(cupy, True, 100))
    assert p100 - p10 >= 90 * 4096  # one saved vector per step at least


def test_g2_same_bytes_as_torch():
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch has no CUDA here")
    mine, theirs = gpu_check.chainrule_cells(cupy), gpu_check.torch_cells(torch)
    copied = gpu_check.requires_copy
    diff = {k: (mine[k], theirs[k]) for k in theirs
            if k != "start" and mine[k] != theirs[k] and not copied(k)}  # fmt: skip
    assert not diff, f"chainrule vs torch.cuda bytes: {diff}"
    for k in filter(copied, theirs):  # vjp's copy of its primal, a kept constant's copy
        assert 0 <= mine[k] - theirs[k] <= 2 * 4096, (k, mine[k], theirs[k])


def test_saved_bytes_of_gpu_values():
    from device_checks import saved_bytes_of_a_chain

    numpy = saved_bytes_of_a_chain(np.ones(1000))
    assert saved_bytes_of_a_chain(cupy.ones(1000)) == numpy > 0


def test_w7_grad_vmap_and_jit_stay_on_the_gpu(monkeypatch):
    """W7's step by grad, vmap(grad) per example and jit on CuPy arrays: results are CuPy
    arrays and `cupy.asnumpy` is never called (tests/test_namespaces.py counts every way to
    the host on array_api_strict's device1, where the same code runs)."""
    import sys
    from functools import partial
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.workloads import w07

    calls = []
    real = cupy.asnumpy
    monkeypatch.setattr(cupy, "asnumpy", lambda *a, **k: calls.append(1) or real(*a, **k))
    d = w07.setup()
    params = [cupy.asarray(p) for p in d.params]
    X, labels, rows = (cupy.asarray(a) for a in (d.X, d.labels, np.arange(w07.BATCH)))
    loss = partial(w07.loss, cnp)
    step = w07._sgd_step(cr.grad(loss))
    per_example = cr.vmap(cr.grad(lambda p, x, lab: loss(p, x[None], lab[None],
                                                         cupy.arange(1))),  # fmt: skip
                          in_axes=(None, 0, 0))
    outs = [step(params, X, labels, rows), per_example(params, X[:8], labels[:8]),
            cr.jit(step)(params, X, labels, rows)]  # fmt: skip
    cupy.cuda.Device().synchronize()
    assert not calls
    for leaf in cr.tree_util.tree_leaves(outs):
        assert isinstance(leaf, cupy.ndarray)
