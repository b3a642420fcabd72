"""`cr.memory`: the notebook's memory experiment (seed 001, `some_calculus`) on the CPU, what a
graph saves for its backward pass, and when that memory is given back."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import chainrule as cr

VEC = 1000 * 8  # bytes of one float64 vector of 1000


def some_calculus(requires_grad, n):
    A = cr.rand(1000, requires_grad=requires_grad)
    for _ in range(n):
        A = A * cr.rand(1000)
    return A


@pytest.fixture(scope="module", autouse=True)
def _stop_tracing_afterwards():
    """cr.memory starts tracemalloc; stop it after this module if it was off before, so the
    rest of the test session does not pay for it."""
    was = tracemalloc.is_tracing()
    yield
    if not was:
        tracemalloc.stop()




# --- saved_bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 10, 100])
def test_saved_bytes_when_recording(n):
    A = some_calculus(True, n)
    assert A.requires_grad
    assert cr.memory.saved_bytes(A) == n * VEC


@pytest.mark.parametrize("n", [1, 10, 100])
def test_saved_bytes_without_recording(n):
    with cr.no_grad():
        A = some_calculus(True, n)
    assert not A.requires_grad
    assert cr.memory.saved_bytes(A) == 0
    B = some_calculus(False, n)
    assert not B.requires_grad
    assert cr.memory.saved_bytes(B) == 0


def test_saved_bytes_float32():
    A = cr.rand(1000, dtype=np.float32, requires_grad=True)
    for _ in range(5):
        A = A * cr.rand(1000, dtype=np.float32)
    assert cr.memory.saved_bytes(A) == 5 * 4000


def test_mul_by_a_constant_keeps_only_the_constant():
    x = cr.rand(1000, requires_grad=True)
    y = cr.rand(1000, requires_grad=True)
    c = cr.rand(1000)
    assert cr.memory.saved_bytes(x * c) == VEC
    assert cr.memory.saved_bytes(c * x) == VEC
    assert cr.memory.saved_bytes(x * y) == 2 * VEC
    assert cr.memory.saved_bytes(x * x) == VEC  # the same array, counted once
    assert cr.memory.saved_bytes(x * 3.0) < 100  # a Python number: nothing big
    assert cr.memory.saved_bytes(x + c) == 0
    assert cr.memory.saved_bytes(x) == 0


def test_saved_bytes_after_backward():
    A = some_calculus(True, 20)
    A.backward(cr.ones(1000), retain_graph=True)
    assert cr.memory.saved_bytes(A) == 20 * VEC  # retained
    A.backward(cr.ones(1000))
    assert cr.memory.saved_bytes(A) == 0  # freed
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        A.backward(cr.ones(1000))


# --- allocated / max_allocated / reset_peak ---------------------------------------------------


def _peak_growth(requires_grad, n):
    gc.collect()
    before = cr.memory.allocated()
    cr.memory.reset_peak()
    A = some_calculus(requires_grad, n)
    peak = cr.memory.max_allocated() - before
    del A
    return peak


def test_allocated_sees_numpy_arrays():
    gc.collect()
    before = cr.memory.allocated()
    a = np.ones(100_000)
    grown = cr.memory.allocated() - before
    assert 800_000 <= grown < 800_000 + 10_000
    del a
    assert cr.memory.allocated() - before < 10_000
    assert cr.memory.allocated("cpu") >= 0


def test_reset_peak_and_max_allocated():
    gc.collect()
    before = cr.memory.allocated()
    cr.memory.reset_peak()
    a = np.ones(200_000)
    del a
    peak = cr.memory.max_allocated() - before
    assert 1_600_000 <= peak < 1_600_000 + 20_000
    cr.memory.reset_peak()
    assert cr.memory.max_allocated() - cr.memory.allocated() < 10_000


def test_peak_grows_by_one_vector_per_step_when_recording():
    # the difference between n=100 and n=10 cancels the constant part
    per_step = min((_peak_growth(True, 100) - _peak_growth(True, 10)) / 90 for _ in range(2))
    assert VEC <= per_step <= 9500, per_step


@pytest.mark.parametrize("mode", ["no requires_grad", "no_grad"])
def test_peak_stays_flat_without_recording(mode):
    def growth(n):
        if mode == "no_grad":
            with cr.no_grad():
                return _peak_growth(True, n)
        return _peak_growth(False, n)

    per_step = max((growth(100) - growth(10)) / 90 for _ in range(2))
    assert per_step < 600, per_step
    assert growth(10) < 10 * VEC  # a few vectors at a time, not one per step


def test_backward_without_retain_graph_releases_the_saved_memory():
    gc.collect()
    A = some_calculus(True, 100)
    held = cr.memory.allocated()
    A.backward(cr.ones(1000))
    assert cr.memory.saved_bytes(A) == 0
    released = held - cr.memory.allocated()
    assert released >= 0.95 * 100 * VEC, released


@pytest.mark.parametrize("how", ["never differentiated", "backward with retain_graph"])
def test_deleting_the_result_releases_the_graph_memory(no_gc, how):
    # with reference counting alone (as PyTorch): no cycle may keep a graph's arrays alive
    before = cr.memory.allocated()
    A = some_calculus(True, 100)
    if how != "never differentiated":
        A.backward(cr.ones(1000), retain_graph=True)
    held = cr.memory.allocated() - before
    assert held >= 100 * VEC
    del A
    left = cr.memory.allocated() - before
    assert left < 0.05 * 100 * VEC, left


def test_other_devices_are_a_clear_error():
    """'cuda' reads CuPy's pool (tests/test_devices.py, tests/test_gpu.py); without CuPy it
    names the extra to install. Other devices are refused."""
    import importlib.util

    if importlib.util.find_spec("cupy") is None:
        with pytest.raises(ImportError, match=r"chainrule\[gpu\]"):
            cr.memory.max_allocated("cuda")
    with pytest.raises(NotImplementedError, match="'cpu', 'cuda' or 'cuda:N'"):
        cr.memory.max_allocated("tpu")


def test_peak_measures_a_block_and_stop_ends_tracking():
    import tracemalloc

    x = cr.tensor(np.ones(10_000), requires_grad=True)
    with cr.memory.peak() as recording:
        y = x
        for _ in range(10):
            y = y * cr.tensor(np.full(10_000, 1.5))
    with cr.memory.peak() as plain, cr.no_grad():
        z = x
        for _ in range(10):
            z = z * cr.tensor(np.full(10_000, 1.5))
    assert recording.kept - plain.kept >= 9 * 80_000  # the factors kept for backward
    assert recording.bytes >= recording.kept >= 0
    cr.memory.stop()
    assert not tracemalloc.is_tracing()
    assert cr.memory.allocated() >= 0 and tracemalloc.is_tracing()  # started again
    del y, z
