"""jit against eager code on random programs of elementwise operations and whole-array sums,
with fusion, tiling and the pool's threads forced onto small arrays (blocks of 48 elements,
threads from 64), so that every grouping the fusion planner makes is compiled and run: the
values and the gradients agree with eager code. (A value that read a sum of the group it
joined crashed the generated code; only arrays of 64K elements and more were fused.)"""

from __future__ import annotations

import threading
from functools import partial

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compiler import codegen, fusion, runtime

UNARY = [cnp.sin, cnp.exp, cnp.tanh, cnp.cos, lambda a: a * 2.0, lambda a: -a, cnp.square]
BINARY = [cnp.add, cnp.multiply, cnp.subtract, cnp.maximum]
KINDS = ["unary", "binary", "sum", "plus sum", "mean", "times sum"]


def random_program(seed: int):
    r = np.random.default_rng(seed)
    steps = [(str(r.choice(KINDS, p=[0.35, 0.3, 0.1, 0.1, 0.05, 0.1])), int(r.integers(1 << 20)),
              int(r.integers(1 << 20))) for _ in range(int(r.integers(3, 12)))]  # fmt: skip
    n_out = int(r.integers(1, 3))

    def f(x, y):
        vals = [x, y]
        for kind, a, b in steps:
            u, v = vals[a % len(vals)], vals[b % len(vals)]
            if kind == "unary":
                vals.append(UNARY[a % len(UNARY)](u))
            elif kind == "binary":
                vals.append(BINARY[b % len(BINARY)](u, v))
            elif kind == "sum":
                vals.append(cnp.sum(u) * 1e-3)
            elif kind == "plus sum":
                vals.append(u + cnp.sum(v) * 1e-3)
            elif kind == "times sum":  # a sum read directly by an elementwise operation
                vals.append(cnp.tanh(u * cnp.sum(v)))
            else:
                vals.append(cnp.mean(u) + v)
        return tuple(vals[-n_out:])

    return f


@pytest.fixture
def small_tiles(monkeypatch):
    monkeypatch.setattr(codegen, "plan", partial(fusion.plan, min_size=8, short_min=0))
    monkeypatch.setattr(runtime, "BLOCK", 48)
    monkeypatch.setattr(runtime, "THREAD_MIN", 64)


@pytest.mark.parametrize("seed", range(60))
def test_random_programs_fused_in_small_tiles_equal_eager_code(small_tiles, seed):
    f = random_program(seed)
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1, 1, (4, 64)), rng.uniform(-1, 1, (4, 64))

    def loss(x, y):
        return sum(cnp.sum(o) for o in f(x, y))

    got = [*cr.jit(f)(x, y), *cr.jit(cr.grad(loss, argnums=(0, 1)))(x, y)]
    want = [*f(x, y), *cr.grad(loss, argnums=(0, 1))(x, y)]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_the_small_tiles_fuse_and_tile_small_arrays(small_tiles, monkeypatch):
    x = np.linspace(-1.0, 1.0, 256)
    f = cr.jit(lambda x: cnp.sum(cnp.sin(x) * cnp.cos(x)) + cnp.exp(x) * x)
    src = f.source(x)
    assert "_kernel0" in src and "_tiles(" in src
    ran = []  # (first block, last block, thread) of each range of blocks run by the spy
    run_range = runtime._run_range

    def spy(kernel, first, last, *rest):
        ran.append((first, last, threading.current_thread().name))
        return run_range(kernel, first, last, *rest)

    monkeypatch.setattr(runtime, "_run_range", spy)
    np.testing.assert_allclose(f(x), np.sum(np.sin(x) * np.cos(x)) + np.exp(x) * x,
                               rtol=1e-12, atol=1e-13)  # (a tiled sum: its own rounding)
    blocks = sorted(b for first, last, _ in ran for b in range(first, last))
    assert blocks == list(range(-(-256 // runtime.BLOCK)))  # every block, once: several
    assert len(ran) > 1  # in chunks, shared by the caller and the pool's threads


def test_tiles_keep_block_order_and_raise_an_error_of_any_chunk(monkeypatch):
    monkeypatch.setattr(runtime, "THREAD_MIN", 1)
    ran = []

    def kernel(lo, hi, scratch, fail_at):
        ran.append(threading.current_thread().name)
        if lo == fail_at:
            raise FloatingPointError(f"block at {lo}")
        return lo

    for threads in (2, 3, 5):
        assert runtime.tiles(kernel, 1000, (-1,), block=10, threads=threads) == list(
            range(0, 1000, 10))  # fmt: skip
        with pytest.raises(FloatingPointError, match="block at 420"):
            runtime.tiles(kernel, 1000, (420,), block=10, threads=threads)
    assert threading.current_thread().name in ran
