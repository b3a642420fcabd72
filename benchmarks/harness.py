"""Checking and timing contenders: interleaved rounds, batches of ~10 ms, medians."""

from __future__ import annotations

import gc
import math
import mmap
import statistics
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.registry import Call


def to_numpy(x: Any) -> Any:
    """A copy of a result as NumPy arrays (torch tensors, JAX arrays, nested lists/tuples/dicts)."""
    if isinstance(x, Mapping):
        return {k: to_numpy(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_numpy(v) for v in x]
    if hasattr(x, "detach"):  # torch.Tensor
        x = x.detach().cpu().numpy()
    return np.array(x, copy=True)


def _leaves(x: Any) -> list[np.ndarray]:
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in _leaves(x[k])]
    if isinstance(x, list):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


def mismatch(ref: Any, other: Any, rtol: float, atol: float) -> str | None:
    """None if `other` equals `ref` (np.allclose leaf by leaf), else what differs."""
    a, b = _leaves(ref), _leaves(other)
    if len(a) != len(b):
        return f"{len(a)} arrays vs {len(b)}"
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        if np.shape(u) != np.shape(v):
            return f"array {i}: shape {np.shape(u)} vs {np.shape(v)}"
        if not np.allclose(u, v, rtol=rtol, atol=atol):
            err = float(np.max(np.abs(np.asarray(u, np.float64) - np.asarray(v, np.float64))))
            return f"array {i}: max abs difference {err:.3g} (rtol={rtol:g}, atol={atol:g})"
    return None


def _time_batch(call: Call, n: int) -> float:
    """Seconds per call, over a batch of `n` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n


def batch_size(call: Call, target_s: float) -> int:
    """How many calls make a batch of about `target_s` seconds (warms the call up too)."""
    per_call = _time_batch(call, 1)
    if per_call < target_s / 20:  # too short to time alone: refine on a small batch
        per_call = _time_batch(call, max(2, int(target_s / 20 / per_call)))
    return max(1, round(target_s / per_call))


def williams(n: int) -> list[list[int]]:
    """Orders of `n` contenders in which each one comes right after each other one equally
    often (a Williams design: n orders for even n, 2n for odd n).

    >>> williams(3)
    [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 0, 2]]
    """
    first, lo, hi = [0], 1, n - 1
    while len(first) < n:
        first.append(lo)
        lo += 1
        if len(first) < n:
            first.append(hi)
            hi -= 1
    rows = [[(x + i) % n for x in first] for i in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def interleaved(
    calls: Mapping[str, Call], rounds: int, target_s: float, batch: int | None = None
) -> dict[str, list[float]]:
    """µs per call of each contender, one sample per round.

    Each round times one batch of every contender. The orders of the rounds follow a Williams
    design (`williams`): every contender comes right after every other one equally often, so
    that what one leaves behind (threads still spinning, a cache filled with its data) weighs
    on each alike, and drifts of the machine hit every contender alike. `rounds` is rounded up
    to a whole number of the design's orders. A batch takes about `target_s`, or is `batch`
    calls (then no call is made to size it: C1 times first calls, one per batch).
    """
    names = list(calls)
    orders = williams(len(names))
    rounds = -(-rounds // len(orders)) * len(orders)
    sizes = {name: batch or batch_size(calls[name], target_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        gc.collect()
        for i in orders[r % len(orders)]:
            samples[names[i]].append(_time_batch(calls[names[i]], sizes[names[i]]) * 1e6)
    return samples


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> float:
    """Half the interquartile range, relative to the median."""
    if len(xs) < 4:
        return (max(xs) - min(xs)) / 2 / median(xs)
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return (q3 - q1) / 2 / median(xs)


def paired_ratio(mine: list[float], theirs: list[float]) -> float:
    """Median over pairs of rounds (2k, 2k+1) of the geometric mean of their two ratios.

    With two contenders, `interleaved` lets each go first in every other round; going first,
    right after `gc.collect()`, costs up to 20% on short calls. Within a pair each contender
    goes first once, so the pair's mean cancels that cost (an A/A comparison reads 1.00, not
    up to 1.1 as the median of single rounds' ratios can). `interleaved` gives two
    contenders an even number of rounds; a last round without its pair is left out.
    """
    r = [a / b for a, b in zip(mine, theirs, strict=True)]
    if len(r) == 1:
        return r[0]
    return median([math.sqrt(x * y) for x, y in zip(r[0::2], r[1::2], strict=False)])


def first_touch_ms(nbytes: int = 16 << 20) -> tuple[float, float]:
    """ms to write a fresh `nbytes` mapping (page faults included), then to write it again.

    Where the first figure is far above the second (as in some VMs), workloads that allocate
    large temporaries (W10) are dominated by page faults, and depend on the allocator's state.
    """
    with mmap.mmap(-1, nbytes) as m:
        a = np.frombuffer(m, np.uint8)
        t0 = time.perf_counter()
        a.fill(1)
        t1 = time.perf_counter()
        a.fill(2)
        t2 = time.perf_counter()
        del a
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3
