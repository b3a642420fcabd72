"""Memory accounting, the analogue of `torch.cuda.memory_allocated` and friends.

`saved_bytes(t)` is exact: the bytes of the arrays that the graph behind `t` keeps for its
backward pass (each array once, views counted as the memory they keep alive).
`allocated()`, `max_allocated()` and `reset_peak()` measure the process's allocations through
`tracemalloc` (NumPy reports its array memory there), started by the first call: Python
objects are counted too, a few hundred bytes per recorded operation.

With ``device="cuda"`` (or ``"cuda:N"``) they read CuPy's default memory pool with the
semantics of ``torch.cuda``: `allocated` is the bytes of live arrays (``pool.used_bytes()``,
sizes rounded up to CuPy's 512-byte unit, as PyTorch's caching allocator rounds them),
`max_allocated` the peak of that since `reset_peak`, and `cached`/`empty_cache` the pool's
reserved bytes and ``free_all_blocks()`` (``torch.cuda.memory_reserved``/``empty_cache``).
CuPy's pool keeps no peak: the first CUDA call installs a counting allocator over the current
one (``cupy.cuda.set_allocator``) that reads ``pool.used_bytes()`` after each allocation and
keeps the highest value per device; allocations before that call are not seen (call
``reset_peak("cuda")`` first, as the notebook does), and ``stop("cuda")`` puts the previous
allocator back. Without CuPy these calls raise an ImportError naming the ``[gpu]`` extra.

>>> import chainrule as cr
>>> A = cr.rand(1000, requires_grad=True)
>>> for _ in range(10):
...     A = A * cr.rand(1000)
>>> cr.memory.saved_bytes(A)  # ten float64 vectors of 1000: what the gradient needs
80000
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.core.namespace import cupy_module, parse_device
from chainrule.core.trace import ForeignTracer
from chainrule.transforms.reverse import FREED

__all__ = ["Peak", "allocated", "cached", "empty_cache", "max_allocated", "peak", "reset_peak",
           "saved_bytes", "stop"]


def _cupy() -> Any:
    """CuPy (the tests put a fake one here)."""
    return cupy_module("cr.memory statistics on device='cuda'")


class _Cuda:
    """The bookkeeping of CUDA statistics: CuPy's default pool, and the peak of its used bytes
    per device, kept by a counting allocator wrapped around the allocator in place."""

    def __init__(self, cupy: Any):
        self.cupy = cupy
        self.pool = cupy.get_default_memory_pool()
        self.peak: dict[int, int] = {}
        self.previous: Any = None
        self.alloc = self._alloc  # one bound method: compared by identity

    def _alloc(self, size: int) -> Any:
        mem = self.previous(size)
        used = self.pool.used_bytes()  # on the current device, where `mem` was allocated
        dev = mem.device_id
        if used > self.peak.get(dev, 0):
            self.peak[dev] = used
        return mem

    def install(self) -> None:
        cuda = self.cupy.cuda
        current = cuda.get_allocator()
        if current is self.alloc:
            return
        self.previous = current
        try:
            cuda.set_allocator(self.alloc)
        except ValueError:  # inside cupy.cuda.using_allocator: count what can be counted
            self.previous = None

    def uninstall(self) -> None:
        if self.previous is not None and self.cupy.cuda.get_allocator() is self.alloc:
            self.cupy.cuda.set_allocator(self.previous)
        self.previous = None
        self.peak.clear()

    def used(self, dev: int) -> int:
        with self.cupy.cuda.Device(dev):
            return int(self.pool.used_bytes())

    def max_used(self, dev: int) -> int:
        return max(self.peak.get(dev, 0), self.used(dev))

    def reset_peak(self, dev: int) -> None:
        self.peak[dev] = self.used(dev)


_CUDA: _Cuda | None = None


def _cuda_state() -> _Cuda:
    global _CUDA
    cupy = _cupy()
    if _CUDA is None or _CUDA.cupy is not cupy:
        _CUDA = _Cuda(cupy)
    _CUDA.install()
    return _CUDA


def _gpu(device: Any) -> tuple[_Cuda, int] | None:
    """None for the CPU; for 'cuda'/'cuda:N' the CUDA bookkeeping and the device's index
    ('cuda': the current device, as torch.cuda)."""
    if device is None or device == "cpu":
        return None
    try:
        kind, which = parse_device(device)
    except ValueError:
        kind, which = "other", device
    if kind == "cpu":
        return None
    if kind != "cuda":
        raise NotImplementedError(f"memory statistics for device={device!r}: 'cpu', 'cuda' "
                                  "or 'cuda:N'")  # fmt: skip
    st = _cuda_state()
    return st, (st.cupy.cuda.Device().id if which is None else which)


def _start() -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start()


def allocated(device: Any = None) -> int:
    """Bytes allocated now (since tracking started with the first memory call).

    >>> import chainrule as cr
    >>> cr.memory.allocated() >= 0
    True
    """
    g = _gpu(device)
    if g is not None:
        return g[0].used(g[1])
    _start()
    return tracemalloc.get_traced_memory()[0]


def max_allocated(device: Any = None) -> int:
    """The peak of `allocated()` since the last `reset_peak()`.

    >>> import chainrule as cr, numpy as np
    >>> cr.memory.reset_peak()
    >>> a = np.ones(10_000)
    >>> cr.memory.max_allocated() - cr.memory.allocated() >= 0
    True
    """
    g = _gpu(device)
    if g is not None:
        return g[0].max_used(g[1])
    _start()
    return tracemalloc.get_traced_memory()[1]


def reset_peak(device: Any = None) -> None:
    """Start a new peak from the current allocation.

    >>> import chainrule as cr
    >>> cr.memory.reset_peak()
    """
    g = _gpu(device)
    if g is not None:
        g[0].reset_peak(g[1])
        return
    _start()
    tracemalloc.reset_peak()


def stop(device: Any = None) -> None:
    """Stop tracking allocations (started by the first memory call; tracking slows every
    allocation a little). The next memory call starts it again, from zero. On 'cuda': put
    CuPy's previous allocator back in place of the counting one.

    >>> import chainrule as cr
    >>> cr.memory.stop()
    """
    if device is not None and device != "cpu":
        if parse_device(device)[0] == "cuda" and _CUDA is not None:
            _CUDA.uninstall()
        return
    tracemalloc.stop()


@dataclass
class Peak:
    """What a `peak()` block allocated: `bytes`, the highest allocation during the block
    above the allocation at its start; `kept`, what the block left allocated.

    >>> import chainrule as cr, numpy as np
    >>> with cr.memory.peak() as p:
    ...     a = np.zeros(1000)
    >>> p.kept >= 8000 and p.bytes >= p.kept
    True
    """

    bytes: int = 0
    kept: int = 0


@contextmanager
def peak(device: Any = None) -> Iterator[Peak]:
    """Measure the peak memory of a block: reset the peak, run the block, read it (the
    measurement the notebook makes with ``reset_peak_memory_stats`` and
    ``max_memory_allocated``), in one statement so that nothing else is counted.

    >>> import chainrule as cr, numpy as np
    >>> with cr.memory.peak() as p:
    ...     a = np.ones(100_000)                # 800,000 bytes, kept
    ...     s = (np.ones(100_000) * 2.0).sum()  # a temporary of that size, freed
    >>> p.bytes >= 1_600_000, 800_000 <= p.kept < 900_000
    (True, True)
    """
    result = Peak()
    g = _gpu(device)
    if g is not None:
        st, dev = g
        start = st.used(dev)
        st.reset_peak(dev)
        try:
            yield result
        finally:
            result.bytes, result.kept = st.max_used(dev) - start, st.used(dev) - start
        return
    _start()
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    try:
        yield result
    finally:
        now, top = tracemalloc.get_traced_memory()
        result.bytes, result.kept = top - start, now - start


def _owner(a: Any) -> Any:
    """The array whose memory `a` views (NumPy's and CuPy's ``base``)."""
    t = type(a)
    while isinstance(getattr(a, "base", None), t):
        a = a.base
    return a


def _nbytes(a: Any) -> int | None:
    """The bytes of an array of any namespace (``nbytes``, else size × itemsize), None for
    what is not an array."""
    if isinstance(a, ForeignTracer):
        a = a._value
    if isinstance(a, (np.ndarray, np.generic)):
        return None  # counted by saved_bytes itself
    if not hasattr(a, "__array_namespace__") and not hasattr(a, "__cuda_array_interface__"):
        return None
    n = getattr(a, "nbytes", None)
    if n is None:
        from chainrule.core.avals import np_dtype

        n = int(np.prod(a.shape)) * np_dtype(a.dtype).itemsize
    return int(n)


def saved_bytes(t: Any) -> int:
    """Bytes the graph behind `t` keeps for its backward pass (0 once freed or unrecorded):
    NumPy's arrays, and those of other namespaces (CuPy's on a GPU, inside a transformation)
    by their ``nbytes``.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> cr.memory.saved_bytes(x * 3.0)  # multiplying by a constant keeps nothing big
    0
    """
    node = getattr(t, "_node", None)
    seen_nodes: set = set()
    seen_arrays: dict = {}
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if n in seen_nodes:
            continue
        seen_nodes.add(n)
        if n.saved is not None and n.saved is not FREED:
            for v in n.saved:
                for a in v if isinstance(v, tuple) else (v,):
                    if isinstance(a, np.ndarray):
                        o = _owner(a)
                        seen_arrays[id(o)] = o.nbytes
                    elif isinstance(a, np.generic):
                        seen_arrays[id(a)] = a.nbytes
                    elif a is not None and _nbytes(a) is not None:
                        o = _owner(a._value if isinstance(a, ForeignTracer) else a)
                        seen_arrays[id(o)] = _nbytes(o)
        stack.extend(p for p in n.parents if p is not None)
    return sum(seen_arrays.values())


def cached(device: Any = None) -> int:
    """Bytes of dead large arrays kept for reuse (up to 1 GiB), as PyTorch's caching allocator
    keeps GPU memory: large elementwise results are written into them instead of fresh memory.

    >>> import chainrule as cr
    >>> cr.memory.cached() >= 0
    True
    """
    from chainrule.transforms import blocked

    g = _gpu(device)
    if g is not None:  # torch.cuda.memory_reserved: what the pool holds
        with g[0].cupy.cuda.Device(g[1]):
            return int(g[0].pool.total_bytes())
    return blocked._kept


def empty_cache(device: Any = None) -> None:
    """Give the memory kept for reuse back (the analogue of `torch.cuda.empty_cache`).

    >>> import chainrule as cr
    >>> cr.memory.empty_cache(); cr.memory.cached()
    0
    """
    from chainrule.transforms import blocked

    g = _gpu(device)
    if g is not None:  # the pool's free blocks back to the driver
        with g[0].cupy.cuda.Device(g[1]):
            g[0].pool.free_all_blocks()
        return
    with blocked._lock:
        blocked._free.clear()
        blocked._kept = 0
