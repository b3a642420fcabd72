"""Devices on the CPU: `cr.device_put`, `cr.from_dlpack`, Tensors' DLPack and device methods,
'cuda' without CuPy, and the bookkeeping of `cr.memory`'s CUDA statistics, proved on
a fake CuPy (a pool that rounds to 512 bytes, per device, behind `cupy.cuda.set_allocator`).
The same functions on a real GPU: tests/test_gpu.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import array_api_strict as xp
import numpy as np
import pytest

import chainrule as cr
import chainrule.memory as crm
import chainrule.numpy as cnp
from device_checks import saved_bytes_of_a_chain

HAS_CUPY = importlib.util.find_spec("cupy") is not None
D1, D2 = xp.Device("device1"), xp.Device("device2")
ROOT = Path(__file__).resolve().parent.parent


# --- device_put ------------------------------------------------------------------------------


def test_device_put_cpu_keeps_numpy_arrays_and_converts_the_rest():
    a = np.ones(3)
    assert cr.device_put(a, "cpu") is a
    assert cr.device_put(a) is a  # "cpu" by default
    out = cr.device_put({"w": np.ones(2), "b": 0.5, "n": np.float32(2)}, "cpu")
    assert type(out["b"]) is np.ndarray and out["b"].shape == ()
    assert out["n"].dtype == np.float32 and out["w"] is not None


def test_device_put_moves_array_api_strict_arrays_between_devices():
    a = cr.device_put(np.arange(3.0), D1)
    assert type(a).__module__.startswith("array_api_strict") and a.device == D1
    assert cr.device_put(a, D1) is a  # already there: no copy
    b = cr.device_put(a, D2)
    assert b.device == D2
    back = cr.device_put(b, "cpu")
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, [0.0, 1.0, 2.0])
    # and the functional API computes there
    g = cr.grad(lambda x: cnp.sum(cnp.sin(x)))(b)
    assert g.device == D2


def test_device_put_cpu_shares_host_dlpack_producers():
    torch = pytest.importorskip("torch")
    t = torch.arange(3.0)
    a = cr.device_put(t, "cpu")
    assert type(a) is np.ndarray
    a[0] = 9.0  # shared memory, no copy
    assert float(t[0]) == 9.0


def test_device_put_of_a_tensor_is_its_to():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.device_put(t, "cpu") is t
    u = cr.device_put(t, D1)  # recorded, as t.to(D1)
    assert u.device == D1 and u.grad_fn is not None
    u.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [1.0, 1.0])


def test_device_put_unknown_device_names_are_a_value_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        cr.device_put(np.ones(2), "tpu")
    with pytest.raises(ValueError, match="unknown device 'cuda:x'"):
        cr.device_put(np.ones(2), "cuda:x")


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: tests/test_gpu.py covers 'cuda'")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_device_put_cuda_without_cupy_names_the_extra(device):
    with pytest.raises(ImportError, match=r"needs CuPy.*chainrule\[gpu\].*gpu-cuda13"):
        cr.device_put(np.ones(2), device)


# --- from_dlpack and Tensor.__dlpack__ -------------------------------------------------------


def test_from_dlpack_cpu_producers_give_numpy_arrays_sharing_memory():
    torch = pytest.importorskip("torch")
    t = torch.ones(3, dtype=torch.float32)
    a = cr.from_dlpack(t)
    assert type(a) is np.ndarray and a.dtype == np.float32
    a[1] = 4.0
    assert float(t[1]) == 4.0
    s = cr.from_dlpack(xp.ones(2, device=D1))  # array_api_strict reports the CPU
    assert type(s) is np.ndarray
    n = np.arange(4.0)
    assert np.shares_memory(cr.from_dlpack(n), n)


def test_from_dlpack_refuses_what_is_not_a_producer():
    with pytest.raises(TypeError, match="not a DLPack producer"):
        cr.from_dlpack([1.0, 2.0])


class _GpuProducer:
    """A DLPack producer that says its memory is on CUDA device 0."""

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, **kw):  # pragma: no cover (never reached without CuPy)
        raise AssertionError


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed")
def test_from_dlpack_of_a_gpu_producer_without_cupy_names_the_extra():
    with pytest.raises(ImportError, match=r"chainrule\[gpu\]"):
        cr.from_dlpack(_GpuProducer())


def test_tensor_dlpack_round_trip_with_numpy():
    t = cr.tensor([1.0, 2.0, 3.0])
    assert t.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    assert np.shares_memory(a, t.numpy())
    back = cr.as_tensor(cr.from_dlpack(t))
    back[0] = 7.0  # the same memory all along
    assert t[0].item() == 7.0


def test_tensor_dlpack_round_trip_with_torch():
    torch = pytest.importorskip("torch")
    t = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    tt = torch.from_dlpack(t)
    assert tt.dtype == torch.float32 and tuple(tt.shape) == (2, 3) and tt.device.type == "cpu"
    tt[0, 0] = 10.0  # shared
    assert t[0, 0].item() == 10.0
    # and back: torch -> chainrule Tensor, sharing memory
    u = cr.as_tensor(cr.from_dlpack(tt))
    u[1, 2] = -1.0
    assert float(tt[1, 2]) == -1.0
    # a 0-d tensor and a non-contiguous one
    assert float(torch.from_dlpack(cr.tensor(2.5))) == 2.5
    np.testing.assert_array_equal(torch.from_dlpack(t.t()).numpy(), t.numpy().T)


def test_tensor_dlpack_refuses_a_tensor_that_requires_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="require gradient.*detach"):
        np.from_dlpack(x)
    np.testing.assert_array_equal(np.from_dlpack(x.detach()), [1.0, 2.0])


# --- Tensors on the CPU; 'cuda' without CuPy (Tensors elsewhere: test_device_tensors.py) -----


def test_tensor_device_cpu_to_and_cpu():
    t = cr.ones(2)
    assert t.device == "cpu" and not t.is_cuda
    assert t.cpu() is t and t.to("cpu") is t and t.to(device="cpu") is t
    assert cr.zeros(2, device="cpu").device == "cpu"


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed: tests/test_gpu.py covers 'cuda'")
@pytest.mark.parametrize("make", [
    lambda: cr.zeros(2, device="cuda"),
    lambda: cr.tensor([1.0], device="cuda:0"),
    lambda: cr.ones(2).to("cuda"),
    lambda: cr.ones(2).to(device="cuda:1"),
    lambda: cr.ones(2).cuda(),
    lambda: cr.rand(3, device="cuda"),
])  # fmt: skip
def test_cuda_tensors_without_cupy_name_the_extra(make):
    with pytest.raises(ImportError, match=r"needs CuPy.*chainrule\[gpu\].*gpu-cuda13"):
        make()


# --- saved_bytes on another namespace's values -----------------------------------------------


def test_saved_bytes_counts_arrays_of_other_namespaces():
    """Inside a transformation, the values a graph saves for arrays of another namespace
    (CuPy's on a GPU; array_api_strict's here) count as NumPy's do."""
    numpy = saved_bytes_of_a_chain(np.ones(1000))
    assert numpy > 0
    assert saved_bytes_of_a_chain(xp.ones(1000, device=D1)) == numpy


# --- cr.memory on 'cuda', on a fake CuPy -----------------------------------------------------


class _FakeCuda:
    def __init__(self):
        self.current = 0
        self._allocator = None

    def Device(self, i=None):  # noqa: N802 (CuPy's name)
        cuda = self

        class _Dev:
            id = cuda.current if i is None else i

            def __enter__(self):
                self._was = cuda.current
                cuda.current = self.id
                return self

            def __exit__(self, *exc):
                cuda.current = self._was

        return _Dev()

    def set_allocator(self, fn):
        self._allocator = fn

    def get_allocator(self):
        return self._allocator


class _FakeMem:
    def __init__(self, pool, dev, size):
        self.pool, self.device_id, self.size = pool, dev, size


class _FakePool:
    """CuPy's MemoryPool, as far as cr.memory reads it: per device, sizes rounded up to 512
    bytes, freed blocks kept (reserved) until free_all_blocks."""

    def __init__(self, cuda):
        self.cuda = cuda
        self.in_use = defaultdict(int)
        self.reserved = defaultdict(int)
        self.mallocs = 0

    def malloc(self, size):
        self.mallocs += 1
        size = -(-size // 512) * 512
        dev = self.cuda.current
        self.in_use[dev] += size
        self.reserved[dev] = max(self.reserved[dev], self.in_use[dev])
        return _FakeMem(self, dev, size)

    def free(self, mem):
        self.in_use[mem.device_id] -= mem.size

    def used_bytes(self):
        return self.in_use[self.cuda.current]

    def total_bytes(self):
        return self.reserved[self.cuda.current]

    def free_all_blocks(self):
        self.reserved[self.cuda.current] = self.in_use[self.cuda.current]


class _FakeArray:
    def __init__(self, mem):
        self.mem = mem

    def __del__(self):
        self.mem.pool.free(self.mem)


class _FakeCupy:
    def __init__(self):
        self.cuda = _FakeCuda()
        self.pool = _FakePool(self.cuda)
        self.cuda.set_allocator(self.pool.malloc)  # what `import cupy` does

    def get_default_memory_pool(self):
        return self.pool

    def empty(self, nbytes):
        """An array of `nbytes`, allocated as CuPy allocates: the current allocator."""
        return _FakeArray(self.cuda.get_allocator()(nbytes))


@pytest.fixture
def fake_cupy(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setattr(crm, "_cupy", lambda: fake)
    monkeypatch.setattr(crm, "_CUDA", None)
    return fake


def test_cuda_allocated_reads_the_pool_with_its_rounding(fake_cupy):
    assert cr.memory.allocated("cuda") == 0
    a = fake_cupy.empty(1024 * 4)  # ones(1024) float32
    assert cr.memory.allocated("cuda") == 4096
    b = fake_cupy.empty(1024 * 8)  # float64
    assert cr.memory.allocated("cuda") == 4096 + 8192
    del a, b
    assert cr.memory.allocated("cuda") == 0
    for n, expected in ((1023, 4096), (1024, 4096), (1025, 4608)):
        x = fake_cupy.empty(n * 4)
        assert cr.memory.allocated("cuda") == expected, n
        del x


def test_cuda_peak_is_tracked_by_the_counting_allocator(fake_cupy):
    cr.memory.reset_peak("cuda")
    assert fake_cupy.cuda.get_allocator() is not fake_cupy.pool.malloc  # installed
    keep = fake_cupy.empty(4096)
    tmp = [fake_cupy.empty(4096) for _ in range(3)]
    assert cr.memory.max_allocated("cuda") == 4 * 4096
    del tmp
    assert cr.memory.allocated("cuda") == 4096
    assert cr.memory.max_allocated("cuda") == 4 * 4096  # the peak stays
    cr.memory.reset_peak("cuda")
    assert cr.memory.max_allocated("cuda") == 4096  # torch's rule: the current allocation
    x = fake_cupy.empty(1000)
    assert cr.memory.max_allocated("cuda") == 4096 + 1024
    del x, keep


def test_cuda_peak_context_and_devices_apart(fake_cupy):
    with cr.memory.peak("cuda") as p:
        kept = fake_cupy.empty(8192)
        tmp = fake_cupy.empty(4096)
        del tmp
    assert (p.bytes, p.kept) == (8192 + 4096, 8192)
    with fake_cupy.cuda.Device(1):
        other = fake_cupy.empty(512 * 3)
    assert cr.memory.allocated("cuda:1") == 1536
    assert cr.memory.allocated("cuda:0") == cr.memory.allocated("cuda") == 8192
    assert cr.memory.max_allocated("cuda:1") == 1536
    cr.memory.reset_peak("cuda:0")
    assert cr.memory.max_allocated("cuda:1") == 1536  # another device's peak untouched
    del kept, other


def test_cuda_cached_empty_cache_and_stop(fake_cupy):
    a = fake_cupy.empty(4096)
    cr.memory.reset_peak("cuda")
    b = fake_cupy.empty(8192)
    del b
    assert cr.memory.cached("cuda") == 4096 + 8192  # the pool keeps the freed block
    cr.memory.empty_cache("cuda")
    assert cr.memory.cached("cuda") == 4096
    cr.memory.stop("cuda")
    assert fake_cupy.cuda.get_allocator() == fake_cupy.pool.malloc  # the previous one back
    n = fake_cupy.pool.mallocs
    c = fake_cupy.empty(512)
    assert fake_cupy.pool.mallocs == n + 1  # allocations still reach the pool
    del a, c


def test_cuda_statistics_without_cupy_name_the_extra(monkeypatch):
    if HAS_CUPY:
        pytest.skip("CuPy is installed")
    monkeypatch.setattr(crm, "_CUDA", None)
    for fn in (cr.memory.allocated, cr.memory.max_allocated, cr.memory.reset_peak,
               cr.memory.cached):  # fmt: skip
        with pytest.raises(ImportError, match=r"chainrule\[gpu\]"):
            fn("cuda")
    cr.memory.stop("cuda")  # nothing to stop: no error


# --- the GPU check without a GPU -------------------------------------------------------------


def test_gpu_check_without_cuda_exits_quickly_and_cleanly(tmp_path):
    out = tmp_path / "report.txt"
    r = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                            "CUDA_VISIBLE_DEVICES": ""})  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no CUDA device: nothing to check" in r.stdout
    assert "no CUDA device: nothing to check" in out.read_text()


def test_import_chainrule_loads_neither_the_devices_module_nor_cupy():
    code = ("import sys, chainrule as cr; print('chainrule.devices' in sys.modules, "
            "'cupy' in sys.modules); cr.device_put; print('chainrule.devices' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert r.stdout.split() == ["False", "False", "True"], r.stdout + r.stderr


def test_torch_devices_are_read_as_their_names():
    torch = pytest.importorskip("torch")
    t = cr.zeros(2, device=torch.device("cpu"))
    assert t.device == "cpu" and type(t._value) is np.ndarray
    assert cr.ones(2).to(torch.device("cpu")).device == "cpu"
    if not HAS_CUPY:
        with pytest.raises(ImportError, match="needs CuPy"):
            cr.zeros(2, device=torch.device("cuda", 0))
    with pytest.raises(TypeError):  # a torch dtype is not a device
        cr.ones(2).to(torch.float32)
