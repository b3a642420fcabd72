"""Running fused groups: block by block, over a thread pool.

The blocks of a group are fixed by size (`BLOCK` elements), never by the number of threads,
and the partial sums of each block are combined in block order: a result is the same on
every run and with any number of threads. NumPy's error state of the calling thread
(`np.errstate`) holds in the pool's threads too. Each thread keeps its own scratch blocks.

>>> import numpy as np
>>> x = np.arange(10.0)
>>> def kernel(lo, hi, scratch, x):
...     return np.add.reduce(x[lo:hi])
>>> tiles(kernel, 10, (x,), block=4)
[np.float64(6.0), np.float64(22.0), np.float64(17.0)]
"""

from __future__ import annotations

import os
import threading
from typing import Any
from collections.abc import Callable

import numpy as np

#: elements per block: 256 KB of float32, so that a block's few live values stay in a core's
#: L2 cache; smaller blocks pay the kernel's Python more often (W10's fused gradient took
#: 1.3-1.6x the time with blocks of 16K elements on the benchmark machine)
BLOCK = 1 << 16
THREADS = max(1, min(os.cpu_count() or 1, 8))
THREAD_MIN = 1 << 20  # elements: smaller groups run their blocks on the calling thread

_pool: Any = None  # a ThreadPoolExecutor, made on first use
_pool_lock = threading.Lock()
_local = threading.local()


def _get_pool() -> Any:
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor  # on first use: a lighter import

        with _pool_lock:
            if _pool is None:
                # (the calling thread works beside them: `shared`)
                _pool = ThreadPoolExecutor(max(1, THREADS - 1), thread_name_prefix="chainrule-jit")
    return _pool


class Scratch:
    """Per-thread scratch blocks: `get(k, dtype)` is the k-th block of that dtype."""

    def __init__(self, block: int):
        self.block = block
        self.buffers: dict = {}

    def get(self, k: int, dtype: Any) -> np.ndarray:
        key = (k, dtype)
        b = self.buffers.get(key)
        if b is None:
            b = self.buffers[key] = np.empty(self.block, dtype)
        return b


def _scratch(block: int) -> Scratch:
    s = getattr(_local, "scratch", None)
    if s is None or s.block != block:
        s = _local.scratch = Scratch(block)
    return s


def _run_range(kernel: Callable, first: int, last: int, n: int, block: int, args: tuple,
               err: dict) -> list:  # fmt: skip
    with np.errstate(**err):
        scratch = _scratch(block)
        return [kernel(b * block, min(n, (b + 1) * block), scratch, *args)
                for b in range(first, last)]  # fmt: skip


def tiles(kernel: Callable, n: int, args: tuple, block: int | None = None,
          threads: int | None = None) -> list:  # fmt: skip
    """Run ``kernel(lo, hi, scratch, *args)`` on the blocks ``[lo, hi)`` of ``range(n)``
    (`BLOCK` elements each unless `block` is given): its return values, in block order."""
    block = BLOCK if block is None else block
    nblocks = max(1, -(-n // block))
    threads = THREADS if threads is None else threads
    err = np.geterr()
    if threads <= 1 or nblocks < 2 * threads or n < THREAD_MIN:
        return _run_range(kernel, 0, nblocks, n, block, args, err)
    per = -(-nblocks // (threads * 4))  # a few chunks per thread, for balance
    starts = range(0, nblocks, per)

    def chunk(i: int) -> list:
        return _run_range(kernel, starts[i], min(nblocks, starts[i] + per), n, block, args, err)

    parts = shared(chunk, len(starts), _get_pool(), threads - 1)
    return [r for part in parts for r in part]


def shared(fn: Callable, count: int, pool: Any, helpers: int) -> list:
    """``[fn(i) for i in range(count)]``, the items claimed one at a time by the caller and
    by `helpers` tasks on the thread `pool`. The caller works from the first item, rather
    than waiting: on a virtual machine a pool thread whose core sat idle can take
    milliseconds to start, and then finds less, or nothing, left to do (W10's fused gradient
    after 20 ms of idleness: 16.7 ms with the caller waiting, 12.2 ms with it working, 10-11
    ms called back to back). An error stops the claims and is raised once the helpers are
    done.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor(2) as pool:
    ...     shared(lambda i: i * i, 5, pool, 2)
    [0, 1, 4, 9, 16]
    """
    out: list = [None] * count
    todo = list(reversed(range(count)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            out[i] = fn(i)

    tasks = [pool.submit(work) for _ in range(min(helpers, count - 1))]
    try:
        work()
    except BaseException:
        with lock:
            todo.clear()
        for t in tasks:
            t.exception()  # (waits for it)
        raise
    for t in tasks:
        t.result()  # (a helper's error)
    return out


class BufferPool:
    """The large buffers a compiled function's memory plan found dead at its end, kept for
    its next call on the same thread (fresh memory costs page faults on every call; XLA keeps
    its buffers too). Only buffers no output and no view of an output lives in are given
    back, so a result the caller holds is never reused; each thread has its own, so
    concurrent calls never share one; a call nested in another takes only buffers that
    earlier calls finished with. At most `cap` bytes are kept per thread.

    >>> pool = BufferPool()
    >>> pool.take((2, 3), np.float32) is None
    True
    >>> a = np.empty((2, 3), np.float32)
    >>> pool.give(a)
    >>> pool.take((2, 3), np.float32) is a, pool.take((2, 3), np.float32)
    (True, None)
    """

    def __init__(self, cap: int = 1 << 29):
        self.cap = cap
        self._local = threading.local()

    def _state(self) -> tuple[dict, list]:
        st = getattr(self._local, "st", None)
        if st is None:
            st = self._local.st = ({}, [0])
        return st

    def take(self, shape: tuple, dtype: Any) -> np.ndarray | None:
        """A kept buffer of `shape` and `dtype` (its contents unspecified), or None."""
        free, held = self._state()
        bufs = free.get((shape, np.dtype(dtype)))
        if not bufs:
            return None
        b = bufs.pop()
        held[0] -= b.nbytes
        return b

    def get(self, shape: tuple, dtype: Any) -> np.ndarray:
        """A kept buffer of `shape` and `dtype`, or a new one (contents unspecified)."""
        b = self.take(shape, dtype)
        return np.empty(shape, dtype) if b is None else b

    def give(self, *arrays: np.ndarray) -> None:
        """Keep `arrays` (dead in the function that gives them) for a later call."""
        free, held = self._state()
        for a in arrays:
            if held[0] + a.nbytes <= self.cap:
                free.setdefault((a.shape, a.dtype), []).append(a)
                held[0] += a.nbytes
