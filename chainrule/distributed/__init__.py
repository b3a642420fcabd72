"""`chainrule.distributed`: data parallelism over MPI processes (mpi4py; the ``[mpi]`` extra).

Run a script on N processes with ``mpiexec -n N python script.py``; without ``mpiexec`` it runs
as a group of one process, unchanged. ``import chainrule`` never initialises MPI; `init()`
does (every function here calls it when needed).

- `init(timeout=60)`, `rank()`, `size()`, `barrier()`, `is_initialized()`, and
  `process_index()` (the rank without starting MPI: for seeding);
- `broadcast(tree, root=0)`: rank `root`'s pytree of arrays on every process (as PyTorch's
  DistributedDataParallel does with the parameters at start);
- `all_reduce(tree, op="mean")`: a pytree of arrays reduced over the processes, leaves of a
  dtype concatenated into buckets of ~25 MB (one message per bucket, not one per leaf);
- `shard(x, axis=0)`: this process's contiguous part of a global batch (pytrees too);
- `DataParallel(module_or_tensors)`: after ``loss.backward()``, ``.grad`` of the parameters is
  averaged across the processes (bucketed);
- `WORLD`: the axis name of the processes for `cr.psum`, `cr.pmean`, `cr.pmax`,
  `cr.all_gather` and `cr.axis_index`, which work under `grad`, `jit` and `vmap`.

Robustness: every collective has a deadline (`CollectiveTimeout`, a `TimeoutError` naming the
collective, instead of a hang when a process skips it), and an uncaught exception on any
rank aborts the whole job with that rank's traceback printed. See docs/distributed.md.

>>> import numpy as np
>>> import chainrule.distributed as dist
>>> dist.shard(np.arange(10), rank=1, size=2)
array([5, 6, 7, 8, 9])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.distributed import buckets as _buckets
from chainrule.distributed.comm import (
    CollectiveTimeout, Communicator, communicator, default_timeout, init, is_initialized,
    process_index, set_timeout,
)  # fmt: skip
from chainrule.distributed.parallel import DataParallel
from chainrule.distributed.world import WORLD

__all__ = [
    "WORLD", "CollectiveTimeout", "Communicator", "DataParallel", "all_reduce", "barrier",
    "broadcast", "communicator", "default_timeout", "init", "is_initialized",
    "process_index", "rank", "set_timeout", "shard", "size",
]  # fmt: skip

CollectiveTimeout.__module__ = __name__  # tracebacks say chainrule.distributed.CollectiveTimeout

_OPS = {"mean": ("sum", True), "avg": ("sum", True), "sum": ("sum", False),
        "max": ("max", False), "min": ("min", False), "prod": ("prod", False)}  # fmt: skip


def rank() -> int:
    """This process's index in the group, from 0 (0 without ``mpiexec``). Starts the group
    (`init`) if needed; `process_index` tells the same without starting MPI.

    >>> import chainrule.distributed as dist
    >>> dist.rank() < dist.size()
    True
    """
    return communicator().rank


def size() -> int:
    """The number of processes in the group (1 without ``mpiexec``).

    >>> import chainrule.distributed as dist
    >>> dist.size() >= 1
    True
    """
    return communicator().size


def barrier(timeout: float | None = None) -> None:
    """Wait until every process has reached this call (with the collectives' deadline, or
    `timeout` seconds: `CollectiveTimeout` when a process does not come).

    >>> import chainrule.distributed as dist
    >>> dist.barrier()
    """
    communicator().barrier("barrier", timeout)


def all_reduce(tree: Any, op: str = "mean", *, bucket_mb: float | None = None,
               timeout: float | None = None) -> Any:  # fmt: skip
    """The pytree `tree` reduced over the processes, leaf by leaf: ``"mean"`` (default),
    ``"sum"``, ``"max"``, ``"min"`` or ``"prod"``.

    Leaves of one dtype are concatenated into buckets of at most `bucket_mb` MB (25), each
    reduced in one message, then split (each result an array of its own). Every
    process must pass a pytree of the same structure, shapes and dtypes. Leaves may be
    arrays, scalars or Tensors (the result has the same kinds: Tensors without gradient,
    NumPy scalars for scalars); a mean of integers is float64, as NumPy's.

    >>> import numpy as np
    >>> all_reduce({"w": np.ones(3), "n": 4})        # one process: the values themselves
    {'n': np.float64(4.0), 'w': array([1., 1., 1.])}
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce: unknown op {op!r}; use one of {', '.join(_OPS)}")
    mpi_op, mean = _OPS[op]
    leaves, treedef = tree_flatten(tree)
    arrays = [_buckets.as_array(leaf, "all_reduce") for leaf in leaves]
    out = _buckets.reduce_buckets(communicator(), arrays, mpi_op, mean,
                                  _buckets.bucket_bytes(bucket_mb), "all_reduce",
                                  timeout)  # fmt: skip
    return tree_unflatten(treedef, [_buckets.rebuild(x, v) for x, v in zip(leaves, out)])


def broadcast(tree: Any, root: int = 0, *, bucket_mb: float | None = None,
              timeout: float | None = None) -> Any:  # fmt: skip
    """Rank `root`'s pytree of arrays, on every process (in buckets, as `all_reduce`).

    Every process passes a pytree of the same structure, shapes and dtypes (its values are
    ignored except on `root`): a mismatch is a ValueError naming the first difference. This
    is how data-parallel training starts from the same parameters everywhere.

    >>> import numpy as np
    >>> broadcast([np.arange(3.0)])
    [array([0., 1., 2.])]
    """
    comm = communicator()
    leaves, treedef = tree_flatten(tree)
    arrays = [_buckets.as_array(leaf, "broadcast") for leaf in leaves]
    if comm.size > 1:
        _buckets.check_same_layout(comm, str(treedef), arrays, root, timeout)
    else:
        comm.bcast(np.empty(0), root)  # a root that is not a rank is an error here too
    out = _buckets.broadcast_buckets(comm, arrays, root, _buckets.bucket_bytes(bucket_mb),
                                     "broadcast", timeout)  # fmt: skip
    return tree_unflatten(treedef, [_buckets.rebuild(x, v) for x, v in zip(leaves, out)])


def shard(x: Any, axis: int = 0, *, rank: int | None = None, size: int | None = None) -> Any:
    """This process's part of a global batch: the `rank`-th of `size` contiguous blocks of
    `x` along `axis` (as ``numpy.array_split``: the first ``n % size`` blocks have one more
    row). Pytrees are split leaf by leaf; NumPy arrays give views, Tensors stay
    differentiable. With a batch that `size` divides, the mean of the processes' mean
    losses is the mean loss of the whole batch.

    >>> import numpy as np
    >>> shard(np.arange(7), rank=0, size=3), shard(np.arange(7), rank=2, size=3)
    (array([0, 1, 2]), array([5, 6]))
    """
    if rank is None or size is None:
        comm = communicator()
        rank = comm.rank if rank is None else rank
        size = comm.size if size is None else size
    if not 0 <= rank < size:
        raise ValueError(f"shard: rank {rank} is not in 0..{size - 1}")
    leaves, treedef = tree_flatten(x)

    def part(leaf: Any) -> Any:
        a = leaf if hasattr(leaf, "shape") and hasattr(leaf, "__getitem__") else np.asarray(leaf)
        nd = len(a.shape)
        if nd == 0:
            raise ValueError("shard: a scalar has no axis to split")
        if not -nd <= axis < nd:
            raise ValueError(f"shard: axis {axis} is out of bounds for shape {tuple(a.shape)}")
        ax = axis % nd
        q, r = divmod(a.shape[ax], size)
        start = rank * q + min(rank, r)
        stop = start + q + (rank < r)
        return a[(slice(None),) * ax + (slice(start, stop),)]

    return tree_unflatten(treedef, [part(leaf) for leaf in leaves])

