"""Large elementwise work, block by block on a thread pool, in recycled memory.

NumPy's ufuncs release the GIL, so a large elementwise operation split into chunks runs on
every core (`elementwise`). In the backward pass, a *region* of elementwise nodes of one shape
is run block by block (`run_region`): every rule of the region is applied to one block of
256K elements at a time, so its temporaries stay in cache instead of streaming arrays of
millions of elements through memory once per rule. Both are exact: the same ufuncs, on the
same elements, in the same order per element.

Their large results come from `empty`, which recycles the memory of large arrays that died
(fresh memory costs a page fault per page on first write: more than the arithmetic).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import numpy as np

from chainrule.compiler.runtime import shared
from chainrule.core import primitives as P
from chainrule.core.trace import Tracer
from chainrule.transforms.reverse import FREED, _FREED_MSG
from chainrule.transforms.reverse import check_versions as _check_versions

BIG = 1 << 20  # elements: below this, splitting costs more than it saves
BLOCK = 1 << 18  # elements per block in backward regions (large: less contention for the GIL)
WORKERS = max(1, min(8, os.cpu_count() or 1))

#: primitives whose rules are elementwise in the cotangent and in every operand
EW = frozenset(getattr(P, n + "_p") for n in P.UNARY + P.BINARY) | {P.where_p, P.clip_p}

_pool: Any = None  # a ThreadPoolExecutor, started on first use
KEEP = 1 << 30  # bytes of dead large arrays kept for reuse
_free: dict[int, list] = {}  # nbytes -> raw buffers ready for reuse
_kept = 0
_lock = threading.Lock()


def _release(raw: np.ndarray) -> None:
    global _kept
    with _lock:
        if _kept + raw.nbytes <= KEEP:
            _free.setdefault(raw.nbytes, []).append(raw)
            _kept += raw.nbytes


def empty(shape: tuple, dtype: Any) -> np.ndarray:
    """An uninitialised array, in the memory of a dead large array of the same size if any.

    The array's base is a small ctypes view of a raw buffer; when the last array using it
    dies, the raw buffer goes back to the cache.
    """
    global _kept
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    with _lock:
        bufs = _free.get(nbytes)
        raw = bufs.pop() if bufs else None
        if raw is not None:
            _kept -= nbytes
    if raw is None:
        raw = np.empty(nbytes, np.uint8)
    import ctypes

    view = (ctypes.c_char * nbytes).from_address(raw.ctypes.data)
    weakref.finalize(view, _release, raw)
    return np.frombuffer(view, dtype).reshape(shape)


def map_blocks(fn: Any, items: list) -> list:
    """``[fn(x) for x in items]``, the items shared among the caller and the pool's threads
    (`fn` releasing the GIL: NumPy's ufuncs on blocks of large arrays).

    >>> map_blocks(abs, [-1, 2])
    [1, 2]
    """
    global _pool
    if WORKERS == 1 or len(items) == 1:
        return [fn(i) for i in items]
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(WORKERS - 1, thread_name_prefix="chainrule")
    return shared(lambda i: fn(items[i]), len(items), _pool, WORKERS - 1)


def slices(n: int, parts: int) -> list:
    """`range(n)` cut into at most `parts` consecutive slices of equal length (the last one
    shorter).

    >>> slices(5, 2)
    [slice(0, 3, None), slice(3, 5, None)]
    """
    step = -(-n // parts)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


_UNCUT = object()  # what `_flat` gives for an array it cannot cut into blocks


def _flat(a: Any) -> Any:
    """A flat view of a full-size array, or the value itself for scalars; `_UNCUT` if neither."""
    if type(a) is not np.ndarray or a.ndim == 0:
        return a
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if not any(a.strides):  # a broadcast scalar
        return a.reshape(-1)[:1][0]
    return _UNCUT


def elementwise(ufunc: np.ufunc, args: tuple, shape: tuple) -> np.ndarray | None:
    """`ufunc(*args)` in parallel chunks when every array operand has `shape` and is
    contiguous; None when the operands don't allow it."""
    flat = []
    for a in args:
        if type(a) is np.ndarray and a.ndim and (a.shape != shape or not a.flags.c_contiguous):
            return None
        flat.append(a.reshape(-1) if type(a) is np.ndarray and a.ndim else a)
    probe = ufunc(*[f[:1] if type(f) is np.ndarray and f.ndim else f for f in flat])
    out = empty(shape, probe.dtype)
    of = out.reshape(-1)

    def part(s: slice) -> None:
        ufunc(*[f[s] if type(f) is np.ndarray and f.ndim else f for f in flat], out=of[s])

    map_blocks(part, slices(of.size, WORKERS))
    return out


def region(node: Any, consumers: dict, ew_rules: dict, capture: dict | None = None
           ) -> list | None:  # fmt: skip
    """The elementwise nodes that can run block by block together with `node`, newest first.

    A parent joins when it is elementwise, of the same shape, has no hooks, retained gradient
    or captured cotangent (those need its complete cotangent), and every consumer it has that
    the backward pass has not finished yet is already in the region. Members' saved values
    are checked for in-place changes before anything runs.
    """
    shape, done = node.shape, node.seq
    members = {node}
    frontier = [node]
    while frontier:
        n = frontier.pop()
        for p in n.parents:
            if p is None or p in members or p.prim not in EW or p.shape != shape or \
                    p.meta is not None or (capture is not None and p in capture):
                continue
            if all(c in members or c.seq > done for c in consumers.get(p, ())):
                if _blockable(p, shape):
                    members.add(p)
                    frontier.append(p)
    if len(members) < 2:
        return None
    for m in members:
        if m.versions:
            _check_versions(m)
    return sorted(members, key=lambda m: -m.seq)


def _blockable(node: Any, shape: tuple) -> bool:
    for v in node.saved:
        if isinstance(v, Tracer) or (type(v) is np.ndarray and v.ndim and v.shape != shape):
            return False
    return all(p is None or p.shape == shape for p in node.parents)


def run_region(nodes: list, rules_of: dict, cast: Any) -> dict | None:
    """Run the rules of `nodes` block by block; return {outside parent: full cotangent}, or
    None (nothing done) when a cotangent or saved value cannot be cut into blocks."""
    inside = set(nodes)
    shape = nodes[0].shape
    size = int(np.prod(shape))
    head_ct = {n: _flat(n.ct) for n in nodes if n.ct is not None}
    saved = {n: tuple(_flat(v) if type(v) is np.ndarray else v for v in n.saved) for n in nodes}
    if any(v is FREED for v in saved.values()):
        raise RuntimeError(_FREED_MSG)
    if any(v is _UNCUT for v in head_ct.values()) or any(
        v is _UNCUT for s in saved.values() for v in s
    ):
        return None
    outs: dict = {}
    for n in nodes:
        for p in n.parents:
            if p is not None and p not in inside and p not in outs:
                outs[p] = empty(size, p.dtype)

    def block(s: slice) -> None:
        for o in outs.values():
            o[s] = 0
        cts: dict = {}
        for n in nodes:
            g = cts.pop(n, None)
            h = head_ct.get(n)
            if h is not None:
                h = h[s] if type(h) is np.ndarray and h.ndim else h
                g = h if g is None else g + h
            if g is None:
                continue
            sv = tuple(v[s] if type(v) is np.ndarray and v.ndim else v for v in saved[n])
            rules = rules_of[n.prim].rules
            for i, p in enumerate(n.parents):
                if p is None or rules[i] is None:
                    continue
                ct = rules[i](g, *sv, **n.params)
                if ct.dtype != p.dtype:
                    ct = cast(ct, p.dtype)
                if p in inside:
                    prev = cts.get(p)
                    cts[p] = ct if prev is None else prev + ct
                else:
                    outs[p][s] += ct

    map_blocks(block, slices(size, max(1, size // BLOCK)))
    for n in nodes:
        n.ct = None
    return {p: o.reshape(shape) for p, o in outs.items()}


def consumers_of(roots: list) -> dict:
    """node -> the nodes that use it, over the graph reachable from `roots`."""
    cons: dict = {}
    seen = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        for p in n.parents:
            if p is not None:
                cons.setdefault(p, []).append(n)
                stack.append(p)
    return cons
