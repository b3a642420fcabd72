"""Large elementwise work: parallel chunks forward, blocked regions backward, recycled memory.

The thresholds are lowered so that small arrays take the large-array paths; every result is
compared with the ordinary path (thresholds out of reach) and with closed forms.
"""

import gc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.transforms import blocked


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(blocked, "BIG", 1000)
    monkeypatch.setattr(blocked, "BLOCK", 96)
    monkeypatch.setattr(blocked, "WORKERS", 2)


def _w10(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x))


FUNCS = [
    _w10,
    lambda x: cnp.sum(cnp.maximum(x, 0.1) * cnp.where(x > 0, x, -x) + cnp.log1p(x * x)),
    lambda x: cnp.sum((cnp.tanh(x) - 0.3) ** 3 / (1 + cnp.abs(x))),
    lambda x: cnp.sum(cnp.clip(x, -0.5, 0.5) * x + cnp.arctan2(x, 2.0)),
    lambda x: cnp.mean(cnp.sin(x) * x) + cnp.sum(cnp.reshape(x, (-1, 10)) ** 2),
]


@pytest.mark.parametrize("k", range(len(FUNCS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocked_backward_matches_ordinary(small_blocks, monkeypatch, k, dtype):
    x = np.random.default_rng(k).standard_normal(4320).astype(dtype)
    f = FUNCS[k]
    fast = cr.grad(f)(x)
    monkeypatch.setattr(blocked, "BIG", 1 << 62)
    slow = cr.grad(f)(x)
    assert fast.dtype == slow.dtype == dtype
    np.testing.assert_allclose(fast, slow, rtol=1e-6 if dtype == np.float32 else 1e-14, atol=0)


def test_blocked_w10_closed_form(small_blocks):
    x = np.random.default_rng(0).standard_normal(5000)
    expected = np.cos(2 * x) - x * np.exp(-x * x) + 1 - np.tanh(x) ** 2
    np.testing.assert_allclose(cr.grad(_w10)(x), expected, rtol=1e-12, atol=1e-14)


def test_region_respects_outside_consumers(small_blocks):
    """y feeds both the elementwise region and a reduction computed later in the graph."""
    x = np.random.default_rng(1).standard_normal(3000)

    def f(x):
        y = cnp.sin(x) * 2.0
        z = cnp.exp(y) + y
        return cnp.sum(z * z) + cnp.sum(y) ** 2

    y = 2 * np.sin(x)
    z = np.exp(y) + y
    dy = 2 * z * (np.exp(y) + 1) + 2 * np.sum(y)
    np.testing.assert_allclose(cr.grad(f)(x), dy * 2 * np.cos(x), rtol=1e-12)


def test_forward_chunks_give_numpy_values(small_blocks, monkeypatch):
    chunked = []
    elementwise = blocked.elementwise

    def spy(ufunc, args, shape):
        out = elementwise(ufunc, args, shape)
        chunked.append(ufunc.__name__ if out is not None else None)
        return out

    monkeypatch.setattr(blocked, "elementwise", spy)
    x = np.random.default_rng(2).standard_normal(5000).astype(np.float32)
    out, _ = cr.vjp(lambda v: cnp.sin(v) * 3.0 + cnp.tanh(v), x)
    np.testing.assert_array_equal(out, np.sin(x) * np.float32(3.0) + np.tanh(x))
    assert out.dtype == np.float32
    assert chunked == ["sin", "multiply", "tanh", "add"]  # every operation, in chunks


def test_recycled_memory_is_not_shared_while_alive():
    a = blocked.empty((1000,), np.float64)
    a[:] = 1.0
    b = a.reshape(10, 100)[2:]  # a view that outlives `a`
    del a
    gc.collect()
    c = blocked.empty((1000,), np.float64)  # must not reuse the memory `b` still uses
    c[:] = 2.0
    assert np.all(b == 1.0)
    del b
    gc.collect()
    d = blocked.empty((1000,), np.float64)
    d[:] = 3.0
    assert np.all(c == 2.0)


def test_recycled_memory_is_reused():
    a = blocked.empty((2000,), np.float32)
    addr = a.ctypes.data
    del a
    gc.collect()
    b = blocked.empty((1000, 2), np.float32)
    assert b.ctypes.data == addr
    assert b.shape == (1000, 2) and b.flags.writeable


def test_w10_graph_runs_as_one_blocked_region(small_blocks, monkeypatch):
    """The whole elementwise part of W10's graph is one region, run block by block."""
    runs = []
    run_region = blocked.run_region

    def spy(nodes, *args):
        out = run_region(nodes, *args)
        runs.append((len(nodes), out is not None))
        return out

    monkeypatch.setattr(blocked, "run_region", spy)
    x = np.random.default_rng(3).standard_normal(5000)
    cr.grad(_w10)(x)
    assert runs == [(10, True)]


def test_the_reuse_cache_is_counted_and_can_be_emptied():
    cr.memory.empty_cache()
    a = blocked.empty((5000,), np.float64)
    del a
    gc.collect()
    assert cr.memory.cached() == 5000 * 8
    cr.memory.empty_cache()
    assert cr.memory.cached() == 0
    b = blocked.empty((5000,), np.float64)  # fresh memory, still usable
    b[:] = 1.0
    assert b.sum() == 5000
