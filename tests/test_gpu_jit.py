"""jit on CuPy arrays: fused CUDA kernels compiled and launched (chainrule/compiler/cuda.py).

Runs only where CuPy and a CUDA device are present (the GPU check); skipped elsewhere. The
kernels' source and meaning are checked on the CPU in tests/test_cuda_codegen.py.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
try:
    _devices = cupy.cuda.runtime.getDeviceCount()
except Exception:  # noqa: BLE001 - no driver, no device: CuPy raises its own errors
    _devices = 0
if not _devices:
    pytest.skip("no CUDA device", allow_module_level=True)

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.workloads import w07  # noqa: E402


def w10_f(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x))


def test_w10_gradient_on_cupy_is_one_kernel_and_equals_numpy():
    x = np.random.default_rng(10).standard_normal(1 << 20).astype(np.float32)
    g = cr.jit(cr.grad(w10_f))
    xd = cupy.asarray(x)
    src = g.source(xd)
    assert "cupy.ElementwiseKernel" in src and "_kernel0(a)" in src
    got = g(xd)
    assert isinstance(got, cupy.ndarray) and got.dtype == np.float32
    np.testing.assert_allclose(cupy.asnumpy(got), cr.jit(cr.grad(w10_f))(x), rtol=1e-5,
                               atol=1e-6)  # fmt: skip


def test_w10_value_and_grad_on_cupy_sums_with_a_reduction_kernel():
    x = np.random.default_rng(11).standard_normal(1 << 20).astype(np.float32)
    vg = cr.jit(cr.value_and_grad(w10_f))
    xd = cupy.asarray(x)
    assert "cupy.ReductionKernel" in vg.source(xd)
    v, g = vg(xd)
    v0, g0 = cr.value_and_grad(w10_f)(x)
    np.testing.assert_allclose(float(v), v0, rtol=1e-4)
    np.testing.assert_allclose(cupy.asnumpy(g), g0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_w7_sgd_step_on_cupy_equals_numpy(dtype):
    d = w07.setup()
    params = [p.astype(dtype) for p in d.params]
    X, rows = d.X.astype(dtype), np.arange(w07.BATCH)
    step = cr.jit(w07._sgd_step(cr.grad(partial(w07.loss, cnp))))
    want = step(params, X, d.labels, rows)
    dev = [cupy.asarray(a) for a in (X, d.labels, rows)]
    got = step([cupy.asarray(p) for p in params], *dev)
    assert "cupy.ElementwiseKernel" in step.source([cupy.asarray(p) for p in params], *dev)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(got, want, strict=True):
        assert isinstance(a, cupy.ndarray) and a.dtype == b.dtype
        np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=tol, atol=tol)


def test_w7_step_replayed_as_a_cuda_graph_equals_the_plain_run():
    """cr.config.jit_cuda_graphs: recorded on the second call, replayed after; the replays
    compute the new arguments and never overwrite a result they returned."""
    d = w07.setup()
    step = cr.jit(w07._sgd_step(cr.grad(partial(w07.loss, cnp))))
    X, labels, rows = (cupy.asarray(a) for a in (d.X, d.labels, np.arange(w07.BATCH)))
    plain = [cupy.asarray(p) for p in d.params]
    graphed = [p.copy() for p in plain]
    cr.config.update("jit_cuda_graphs", True)
    try:
        for _ in range(4):
            with _off():
                plain[:] = step(plain, X, labels, rows)
            before = [p.copy() for p in graphed]
            out = step(graphed, X, labels, rows)
            for a, b in zip(graphed, before):  # the previous results are untouched
                cupy.testing.assert_array_equal(a, b)
            graphed[:] = out
    finally:
        cr.config.update("jit_cuda_graphs", False)
    runner = next(iter(step._cache.values())).call.exe_plain.run
    assert runner.failed is None and runner.graph is not None, runner.failed
    for a, b in zip(graphed, plain):
        cupy.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _off:
    """cr.config.jit_cuda_graphs off inside."""

    def __enter__(self):
        cr.config.update("jit_cuda_graphs", False)

    def __exit__(self, *exc):
        cr.config.update("jit_cuda_graphs", True)
