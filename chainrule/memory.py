"""Memory accounting, the analogue of `torch.cuda.memory_allocated` and friends.

`saved_bytes(t)` is exact: the bytes of the arrays that the graph behind `t` keeps for its
backward pass (each array once, views counted as the memory they keep alive).
`allocated()`, `max_allocated()` and `reset_peak()` measure the process's allocations through
`tracemalloc` (NumPy reports its array memory there), started by the first call: Python
objects are counted too, a few hundred bytes per recorded operation.

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

from chainrule.transforms.reverse import FREED

__all__ = ["Peak", "allocated", "cached", "empty_cache", "max_allocated", "peak", "reset_peak",
           "saved_bytes", "stop"]


def _cpu(device: Any) -> None:
    if device not in (None, "cpu"):
        raise NotImplementedError(f"memory statistics for device={device!r}: only 'cpu' for now")


def _start() -> None:
    if not tracemalloc.is_tracing():
        tracemalloc.start()


def allocated(device: Any = None) -> int:
    """Bytes allocated now (since tracking started with the first memory call).

    >>> import chainrule as cr
    >>> cr.memory.allocated() >= 0
    True
    """
    _cpu(device)
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
    _cpu(device)
    _start()
    return tracemalloc.get_traced_memory()[1]


def reset_peak(device: Any = None) -> None:
    """Start a new peak from the current allocation.

    >>> import chainrule as cr
    >>> cr.memory.reset_peak()
    """
    _cpu(device)
    _start()
    tracemalloc.reset_peak()


def stop(device: Any = None) -> None:
    """Stop tracking allocations (started by the first memory call; tracking slows every
    allocation a little). The next memory call starts it again, from zero.

    >>> import chainrule as cr
    >>> cr.memory.stop()
    """
    _cpu(device)
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
    _cpu(device)
    _start()
    start = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = Peak()
    try:
        yield result
    finally:
        now, top = tracemalloc.get_traced_memory()
        result.bytes, result.kept = top - start, now - start


def _owner(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def saved_bytes(t: Any) -> int:
    """Bytes the graph behind `t` keeps for its backward pass (0 once freed or unrecorded).

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

    _cpu(device)
    return blocked._kept


def empty_cache(device: Any = None) -> None:
    """Give the memory kept for reuse back (the analogue of `torch.cuda.empty_cache`).

    >>> import chainrule as cr
    >>> cr.memory.empty_cache(); cr.memory.cached()
    0
    """
    from chainrule.transforms import blocked

    _cpu(device)
    with blocked._lock:
        blocked._free.clear()
        blocked._kept = 0
