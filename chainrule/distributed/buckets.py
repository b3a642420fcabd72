"""Pytrees through the communicator in buckets: one message per bucket, never one per leaf.

The leaves are grouped by dtype, in the order the pytree flattens them, and packed greedily
into buckets of at most `bucket_bytes` (a leaf larger than that has a bucket of its own):
each bucket is one contiguous buffer, one collective (``Iallreduce``/``Ibcast``), and the
results are split back out of it, each leaf into an array of its own. Every process must
pass a pytree of the same structure, shapes and dtypes (the bucket plan is computed locally).

A sum or mean of float or complex buffers carries two more elements, ``k`` and ``k²`` for the
bucket's index ``k``: after the reduction they must be ``n·k`` and ``n·k²``, which holds only
if every process sent the same bucket (equality in Cauchy-Schwarz), so processes that reduce
different buckets (a backward pass that differs between them) are an error, not a silent mix.

>>> import numpy as np
>>> plan = plan_buckets([np.zeros(100, np.float32), np.zeros(3), np.zeros(200, np.float32)], 600)
>>> [(b.dtype.name, b.leaves) for b in plan]
[('float32', [0]), ('float32', [2]), ('float64', [1])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.distributed.comm import Communicator

DEFAULT_BUCKET_MB = 25.0
_TAGGED = frozenset("fc")  # dtype kinds whose sums carry the bucket check


@dataclass
class Bucket:
    """Leaves `leaves` (indices) of one dtype, packed one after the other.

    >>> Bucket(np.dtype("float32"), [0, 2], [3, 4]).count
    7
    """

    dtype: np.dtype
    leaves: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.sizes)


def bucket_bytes(bucket_mb: float | None) -> int:
    """`bucket_mb` (None: 25) in bytes.

    >>> bucket_bytes(None), bucket_bytes(0.5)
    (26214400, 524288)
    """
    mb = DEFAULT_BUCKET_MB if bucket_mb is None else float(bucket_mb)
    if not mb > 0:
        raise ValueError(f"bucket_mb must be positive, got {bucket_mb}")
    return max(1, int(mb * 2**20))


def plan_buckets(arrays: list[np.ndarray], max_bytes: int) -> list[Bucket]:
    """The buckets of `arrays`: by dtype (in order of first appearance), then greedily in
    leaf order, each at most `max_bytes` unless a single leaf is larger.

    >>> [b.leaves for b in plan_buckets([np.zeros(10), np.zeros(10), np.zeros(10)], 160)]
    [[0, 1], [2]]
    """
    by_dtype: dict[np.dtype, list[Bucket]] = {}
    for i, a in enumerate(arrays):
        buckets = by_dtype.setdefault(a.dtype, [])
        nbytes = a.size * a.dtype.itemsize
        if not buckets or (buckets[-1].leaves and
                           (buckets[-1].count * a.dtype.itemsize + nbytes > max_bytes)):
            buckets.append(Bucket(a.dtype))  # fmt: skip
        buckets[-1].leaves.append(i)
        buckets[-1].sizes.append(a.size)
    return [b for buckets in by_dtype.values() for b in buckets]


def wire_dtype(dtype: np.dtype, op: str) -> np.dtype:
    """The dtype a bucket travels in: MPI has no half floats, and reduces no bools.

    >>> wire_dtype(np.dtype("float16"), "sum"), wire_dtype(np.dtype(bool), "max")
    (dtype('float32'), dtype('uint8'))
    """
    if dtype.kind == "f" and dtype.itemsize < 4:
        return np.dtype(np.float32)
    if dtype.kind == "b":
        return np.dtype(np.int64 if op in ("sum", "prod") else np.uint8)
    if dtype.kind not in "biufc":
        raise TypeError(f"cannot communicate arrays of dtype {dtype} (numbers only)")
    return dtype


def pack(arrays: list[np.ndarray], bucket: Bucket, dtype: np.dtype, extra: int = 0,
         comm: Communicator | None = None) -> np.ndarray:  # fmt: skip
    """The bucket's leaves, raveled one after the other into one buffer (plus `extra`
    trailing elements, uninitialised): `comm`'s reusable buffer of that size (see
    `Communicator.scratch`), else a new one.

    >>> arrays = [np.ones((2, 2)), np.zeros(3)]
    >>> pack(arrays, plan_buckets(arrays, 1000)[0], np.dtype("float64"))
    array([1., 1., 1., 1., 0., 0., 0.])
    """
    n = bucket.count + extra
    buf = np.empty(n, dtype) if comm is None else comm.scratch(dtype, n)
    off = 0
    for i, n in zip(bucket.leaves, bucket.sizes):
        buf[off : off + n] = arrays[i].reshape(-1)
        off += n
    return buf


def unpack(buf: np.ndarray, bucket: Bucket, shapes: list[tuple], out: list,
           divide: int | None = None) -> None:  # fmt: skip
    """The leaves' parts of `buf`, each copied into an array of its own (as PyTorch's DDP
    copies its buckets back to the gradients: no result aliases another, nor `buf`), into
    `out` at the leaves' indices; divided by `divide` on the way (one pass, not two).

    >>> arrays = [np.ones((2, 2)), np.zeros(3)]
    >>> out = [None, None]
    >>> unpack(np.arange(7.0), plan_buckets(arrays, 1000)[0], [(2, 2), (3,)], out, divide=2)
    >>> out[1]
    array([2. , 2.5, 3. ])
    """
    off = 0
    for i, n in zip(bucket.leaves, bucket.sizes):
        part = buf[off : off + n]
        out[i] = (part.copy() if divide is None else part / divide).reshape(shapes[i])
        off += n


def reduce_buckets(comm: Communicator, arrays: list[np.ndarray], op: str, mean: bool,
                   max_bytes: int, what: str, timeout: float | None = None) -> list[np.ndarray]:
    """The reduction (`op`, then divided by the group's size when `mean`) of each array over
    the processes: one collective per bucket. Results are new arrays in the arrays' dtypes
    (a mean of integers or bools is float64, a sum of bools int64).

    >>> from chainrule.distributed.comm import SelfCommunicator
    >>> reduce_buckets(SelfCommunicator(), [np.arange(3)], "sum", True, 1000, "all_reduce")
    [array([0., 1., 2.])]
    """
    plan = plan_buckets(arrays, max_bytes)
    out: list = [None] * len(arrays)
    for k, bucket in enumerate(plan):
        reduce_bucket(comm, arrays, bucket, k, len(plan), op, mean, what, out, timeout)
    return out


def reduce_bucket(comm: Communicator, arrays: list, bucket: Bucket, k: int, of: int, op: str,
                  mean: bool, what: str, out: list, timeout: float | None = None) -> None:
    """Reduce bucket `k` (of `of`) of `arrays` in one collective; the results go to `out` at
    the leaves' indices.

    >>> from chainrule.distributed.comm import SelfCommunicator
    >>> arrays, out = [np.ones(2, np.float32)], [None]
    >>> b = plan_buckets(arrays, 1000)[0]
    >>> reduce_bucket(SelfCommunicator(), arrays, b, 0, 1, "sum", False, "demo", out); out
    [array([1., 1.], dtype=float32)]
    """
    n = comm.size
    wire = wire_dtype(bucket.dtype, op)
    tag = op == "sum" and wire.kind in _TAGGED
    buf = pack(arrays, bucket, wire, 2 if tag else 0, comm if n > 1 else None)
    if tag:
        t = k % 251 + 1  # n·t² stays an exact float32 integer up to 256 processes
        buf[-2:] = (t, t * t)
    label = f"{what} (bucket {k + 1} of {of}: {bucket.count} {bucket.dtype} values)"
    if n > 1:
        comm.allreduce(buf, op, label, timeout)
    if tag:
        if not (buf[-2] == n * t and buf[-1] == n * t * t):
            raise RuntimeError(
                f"{label}: the processes reduced different buckets together (their "
                "collective calls differ: a pytree of another structure, or a backward "
                "pass that reached other parameters, on some ranks)"
            )
        buf = buf[:-2]
    divide = None
    if mean:  # integers and bools: float64, as NumPy's mean
        if bucket.dtype.kind == "f" and buf.dtype != bucket.dtype:  # half floats
            buf = (buf / n).astype(bucket.dtype)
        else:  # divided while unpacked (float and complex stay in their dtype)
            divide = n
    elif wire != bucket.dtype and not (bucket.dtype.kind == "b" and op in ("sum", "prod")):
        buf = buf.astype(bucket.dtype)  # half floats back; bools' max/min (a sum: counts)
    unpack(buf, bucket, [None if a is None else a.shape for a in arrays], out, divide)


def broadcast_buckets(comm: Communicator, arrays: list[np.ndarray], root: int, max_bytes: int,
                      what: str, timeout: float | None = None) -> list[np.ndarray]:  # fmt: skip
    """Rank `root`'s arrays on every process: one collective per bucket; new arrays.

    >>> from chainrule.distributed.comm import SelfCommunicator
    >>> broadcast_buckets(SelfCommunicator(), [np.arange(2)], 0, 1000, "broadcast")
    [array([0, 1])]
    """
    plan = plan_buckets(arrays, max_bytes)
    shapes = [a.shape for a in arrays]
    out: list = [None] * len(arrays)
    for k, bucket in enumerate(plan):
        buf = pack(arrays, bucket, bucket.dtype, comm=comm if comm.size > 1 else None)
        label = f"{what} (bucket {k + 1} of {len(plan)}: {bucket.count} {bucket.dtype} values)"
        if comm.size > 1:
            comm.bcast(buf, root, label, timeout)
        unpack(buf, bucket, shapes, out)
    return out


def check_same_layout(comm: Communicator, structure: str, arrays: list, root: int,
                      timeout: float | None, what: str = "broadcast") -> None:
    """Every rank compares its pytree's layout with root's; all raise if any differs.

    >>> from chainrule.distributed.comm import SelfCommunicator
    >>> check_same_layout(SelfCommunicator(), "[*]", [np.ones(2)], 0, None)   # one: the same
    """
    layout = [structure] + [f"{a.shape} {a.dtype}" for a in arrays]
    text = "\n".join(layout)
    theirs = comm.bcast_bytes(text.encode() if comm.rank == root else None, root,
                              f"{what} (of the layout)", timeout).decode().split("\n")
    problem = ""
    if theirs != layout:
        k = next((k for k, (a, b) in enumerate(zip(layout, theirs)) if a != b),
                 min(len(layout), len(theirs)))  # fmt: skip
        part = "structure" if k == 0 else f"leaf {k - 1} (shape, dtype)"
        here = layout[k] if k < len(layout) else "(none)"
        there = theirs[k] if k < len(theirs) else "(none)"
        problem = f"in its {part}: {here} here, {there} on rank {root}"
    bad = np.array([comm.rank if problem else -1], np.int64)
    comm.allreduce(bad, "max", f"{what} (agreeing on the layout)", timeout)
    if bad[0] >= 0:
        raise ValueError(
            f"{what}: rank {comm.rank}'s pytree differs from rank {root}'s {problem}"
            if problem else
            f"{what}: rank {int(bad[0])}'s pytree differs from rank {root}'s (structure, "
            "shapes or dtypes); every rank must pass the same layout"
        )


def as_array(leaf: Any, what: str) -> np.ndarray:
    """A leaf's values as a NumPy array (Tensors and scalars included).

    >>> import chainrule as cr
    >>> as_array(cr.tensor([1.0, 2.0]), "all_reduce"), as_array(3, "all_reduce")
    (array([1., 2.]), array(3))
    """
    from chainrule.tensor import Tensor

    if isinstance(leaf, Tensor):
        return np.asarray(leaf._value)
    try:
        a = np.asarray(leaf)
    except Exception as err:  # pragma: no cover - NumPy's own message is better
        raise TypeError(f"{what}: a leaf of type {type(leaf).__name__} is not an array") from err
    if a.dtype == object:
        raise TypeError(f"{what}: a leaf of type {type(leaf).__name__} is not an array")
    return a


def rebuild(leaf: Any, value: np.ndarray) -> Any:
    """`value` in the kind of `leaf`: a Tensor for a Tensor (a new leaf, no gradient), a NumPy
    scalar for a scalar, an array otherwise.

    >>> rebuild(2.0, np.array(4.0)), rebuild(np.ones(1), np.array([4.0]))
    (np.float64(4.0), array([4.]))
    """
    from chainrule.tensor import Tensor, _new

    if isinstance(leaf, Tensor):
        return _new(value, None)
    if not isinstance(leaf, np.ndarray) and value.ndim == 0:
        return value[()]
    return value
