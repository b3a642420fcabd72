"""The process group under `chainrule.distributed`: starting MPI, the communicator layer that
every collective goes through, and the robustness guarantees.

- `import chainrule` (and `import chainrule.distributed`) never imports mpi4py; `init()` does,
  with ``mpi4py.rc.initialize = False``, and initialises MPI itself. Without mpi4py, a process
  not started by an MPI launcher is a group of one; one started by ``mpiexec`` is an error
  (N processes that each believe they are alone would train N models silently).
- Every collective is non-blocking (``Iallreduce``, ``Ibcast``, ``Iallgather``) and waited for
  by polling with a deadline: a process whose peer skipped the collective (or is stuck, or
  died) raises `CollectiveTimeout` naming the collective, instead of hanging.
- Sums of large buffers between processes of one machine go through a shared-memory window
  instead (`chainrule.distributed.shm`): the processes meet at two barriers instead of
  handing MPI's small cells over hundreds of times, which a busy machine's scheduler stalls.
- `init()` installs an exception hook: an exception no one catches on any rank prints that
  rank's traceback (each line prefixed ``[rank r]``) and calls ``MPI.COMM_WORLD.Abort``, which
  ends every process of the job at once.
- `Communicator` counts the messages (collective calls) and the seconds spent in them per kind
  (`calls`, `seconds`): the tests check that an all-reduce sends one message per bucket, and
  the D1 example reports the all-reduce's share of a training step. Its buffers are reused
  from call to call (`Communicator.scratch`): MPI moves a buffer it has seen before many
  times faster than fresh memory.
- A waiting process polls its request without sleeping for the first `_SPIN` seconds (as MPI's
  own blocking calls do, yielding the CPU between polls): MPICH moves a large message only
  while both processes call into it, so a peer that naps between polls slows the transfer of
  every chunk; after that it naps (at most `_MAX_NAP`) until the deadline.
- `process_index()` tells this process's rank without starting MPI (the launcher's
  environment before `init()`): chainrule's random seeding uses it.

>>> c = SelfCommunicator()
>>> c.rank, c.size
(0, 1)
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from chainrule.distributed import shm

__all__ = [
    "CollectiveTimeout", "Communicator", "MPICommunicator", "SelfCommunicator", "communicator",
    "default_timeout", "init", "is_initialized", "launched_by_mpi", "process_index",
    "set_timeout",
]  # fmt: skip

DEFAULT_TIMEOUT = 60.0  # seconds; CHAINRULE_DIST_TIMEOUT or init(timeout=) change it
_SPIN = 0.5  # seconds of pure polling (yielding the CPU) before the waits start sleeping
_MAX_NAP = 0.0002  # the longest sleep between two polls
_ABORT_GRACE = 0.5  # seconds between printing a rank's uncaught error and aborting the job
_POOL_BYTES = 256 * 2**20  # the reusable communication buffers kept, at most (bytes)

# environment variables that MPI launchers set in the processes they start: the job's size,
# and others that only say a launcher is there
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS")
_RANK_VARS = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK")
_LAUNCHER_VARS = (*_RANK_VARS, "HYDI_CONTROL_FD")


_yield = getattr(os, "sched_yield", lambda: None)


class CollectiveTimeout(TimeoutError):
    """A collective did not complete within its deadline: another process did not join it
    (it skipped the call, raised, or is stuck). A `TimeoutError`; its message names the
    collective, the rank and the deadline. Uncaught, it ends the job (see `init`).

    >>> import chainrule.distributed as dist
    >>> try:
    ...     dist.all_reduce([1.0], timeout=30)    # every rank makes the call: no timeout
    ... except dist.CollectiveTimeout as err:      # a rank skipped it
    ...     print("stuck:", err)
    [np.float64(1.0)]
    """


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher (``mpiexec``, ``mpirun``, ...)
    among more than one process (or a number it cannot tell). Reads the environment only.

    >>> launched_by_mpi() in (True, False)
    True
    """
    for v in _SIZE_VARS:
        if os.environ.get(v, "").isdigit():
            return int(os.environ[v]) > 1
    return any(v in os.environ for v in _LAUNCHER_VARS)


def _op_name(op: str) -> str:
    if op not in ("sum", "max", "min", "prod"):
        raise ValueError(f"unknown reduction {op!r}: use 'sum', 'max', 'min' or 'prod'")
    return op


class Communicator:
    """The layer every collective of `chainrule.distributed` goes through.

    Buffers are contiguous NumPy arrays; reductions are in place. `calls` counts the
    collective calls (the messages) per kind and `seconds` the wall time spent in them
    (waiting for slower peers included); `what` names the collective in errors.

    >>> import numpy as np
    >>> import chainrule.distributed as dist
    >>> c = dist.communicator()
    >>> c.reset_counts()
    >>> buf = np.ones(3)
    >>> c.allreduce(buf, "sum") is buf                 # in place: the sum over the processes
    True
    >>> c.calls["allreduce"] <= 1                       # one message (none: SelfCommunicator)
    True
    """

    rank: int = 0
    size: int = 1

    def __init__(self) -> None:
        self.calls: Counter = Counter()
        self.seconds: Counter = Counter()
        self.timeout = default_timeout()
        self._pool: OrderedDict = OrderedDict()  # (dtype, count, slot) -> buffer, LRU
        self._pool_bytes = 0

    def scratch(self, dtype: Any, count: int, slot: int = 0) -> np.ndarray:
        """A reusable 1-d buffer of `count` values of `dtype` (its contents are left over from
        its last use): the collectives send from and receive into these, never into fresh
        memory, because MPI's transfer of a buffer at a new address is many times slower than
        of one it has seen (~5 ms against ~0.3 ms for 2.5 MB through MPICH's shared memory).
        Results are copied out of them. At most 256 MB are kept (least recently used out);
        `slot` tells apart two buffers of one call.

        >>> c = SelfCommunicator()
        >>> c.scratch("float32", 4) is c.scratch("float32", 4)
        True
        """
        dtype = np.dtype(dtype)
        key = (dtype.str, int(count), slot)
        buf = self._pool.pop(key, None)
        if buf is None:
            buf = np.empty(count, dtype)
            if buf.nbytes > _POOL_BYTES:
                return buf
            self._pool_bytes += buf.nbytes
            while self._pool_bytes > _POOL_BYTES:
                self._pool_bytes -= self._pool.popitem(last=False)[1].nbytes
        self._pool[key] = buf
        return buf

    def allreduce(self, buf: np.ndarray, op: str = "sum", what: str = "all_reduce",
                  timeout: float | None = None) -> np.ndarray:  # fmt: skip
        """Reduce `buf` over the processes (`op`: "sum", "max", "min" or "prod"), in place;
        returns `buf`.

        >>> import numpy as np
        >>> c = SelfCommunicator()
        >>> c.allreduce(np.arange(3.0), "max")
        array([0., 1., 2.])
        """
        raise NotImplementedError

    def bcast(self, buf: np.ndarray, root: int = 0, what: str = "broadcast",
              timeout: float | None = None) -> np.ndarray:  # fmt: skip
        """Overwrite `buf` with rank `root`'s, in place; returns `buf`.

        >>> import numpy as np
        >>> SelfCommunicator().bcast(np.arange(2), root=0)
        array([0, 1])
        """
        raise NotImplementedError

    def allgather(self, buf: np.ndarray, what: str = "all_gather",
                  timeout: float | None = None) -> np.ndarray:  # fmt: skip
        """Every process's `buf`, stacked along a new first axis (rank order).

        >>> import numpy as np
        >>> SelfCommunicator().allgather(np.arange(2))
        array([[0, 1]])
        """
        raise NotImplementedError

    def barrier(self, what: str = "barrier", timeout: float | None = None) -> None:
        """Wait until every process has reached this call.

        >>> SelfCommunicator().barrier()
        """
        raise NotImplementedError

    def bcast_bytes(self, data: bytes | None, root: int = 0, what: str = "broadcast",
                    timeout: float | None = None) -> bytes:  # fmt: skip
        """Rank `root`'s bytes on every process (two messages: the length, the bytes).

        >>> SelfCommunicator().bcast_bytes(b"layout")
        b'layout'
        """
        n = np.array([len(data) if self.rank == root else 0], np.int64)
        self.bcast(n, root, what, timeout)
        buf = np.empty(int(n[0]), np.uint8)  # once per call (layouts): a fresh buffer is fine
        if self.rank == root:
            buf[:] = np.frombuffer(data, np.uint8)
        self.bcast(buf, root, what, timeout)
        return buf.tobytes()

    def reset_counts(self) -> None:
        """Zero `calls` and `seconds`.

        >>> c = SelfCommunicator(); c.reset_counts(); dict(c.calls)
        {}
        """
        self.calls.clear()
        self.seconds.clear()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} rank {self.rank} of {self.size}>"


class SelfCommunicator(Communicator):
    """A group of one process: every collective returns at once (no message is sent).

    >>> import numpy as np
    >>> SelfCommunicator().allreduce(np.ones(2))
    array([1., 1.])
    """

    def allreduce(self, buf, op="sum", what="all_reduce", timeout=None):
        _op_name(op)
        return buf

    def bcast(self, buf, root=0, what="broadcast", timeout=None):
        if root != 0:
            raise ValueError(f"{what}: root {root} is not a rank of a group of 1 process")
        return buf

    def allgather(self, buf, what="all_gather", timeout=None):
        return np.array(buf)[None]

    def barrier(self, what="barrier", timeout=None):
        return None


class MPICommunicator(Communicator):
    """An mpi4py communicator, used through non-blocking collectives waited for with a
    deadline (`CollectiveTimeout`), with the messages counted. `init()` makes one over
    ``MPI.COMM_WORLD`` when mpi4py is installed (a group of one without ``mpiexec``).

    >>> import chainrule.distributed as dist
    >>> type(dist.communicator()).__name__ in ("MPICommunicator", "SelfCommunicator")
    True
    """

    def __init__(self, comm: Any, MPI: Any) -> None:
        super().__init__()
        self.comm, self.MPI = comm, MPI
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN, "prod": MPI.PROD}
        self.shared: Any = None  # a shm.SharedSum when every process is on this machine

    def enable_shared_memory(self, timeout: float | None = None) -> bool:
        """Sum large buffers through a shared-memory window (`chainrule.distributed.shm`)
        when every process of the group runs on this machine. Collective: every process
        calls it at the same point (`init()` does). Returns whether it is on.

        >>> import chainrule.distributed as dist
        >>> c = dist.communicator()
        >>> c.size > 1 or not getattr(c, "shared", None)   # one process: nothing to share
        True
        """
        if self.shared is not None or self.size == 1 or not shm.enabled():
            return self.shared is not None
        self.barrier("the shared-memory window's setup", timeout)  # no rank left waiting
        try:
            self.shared = shm.SharedSum(self, shm.window_bytes())
        except shm.SharedSum.Unavailable:
            self.shared = None
        return self.shared is not None

    def _wait(self, req: Any, kind: str, what: str, nbytes: int, timeout: float | None,
              start: float, record: bool = True) -> None:  # fmt: skip
        if record:
            self.calls[kind] += 1  # a message sent, whether or not it completes
        limit = self.timeout if timeout is None else timeout
        deadline = start + limit
        nap = 1e-5
        while not req.Test():
            now = time.perf_counter()
            if now > deadline:
                # the request stays pending, on a buffer that must not serve another call
                self._pool.clear()
                self._pool_bytes = 0
                raise CollectiveTimeout(
                    f"{what} did not complete within {limit:g} s on rank {self.rank} of "
                    f"{self.size} ({nbytes} bytes): another process did not join this "
                    "collective (it skipped it, raised, or is stuck). Every rank must make "
                    "the same collective calls in the same order. (The deadline: "
                    "dist.init(timeout=...), dist.set_timeout(...) or CHAINRULE_DIST_TIMEOUT.)"
                )
            if now - start > _SPIN:
                time.sleep(nap)
                nap = min(2 * nap, _MAX_NAP)
            else:  # poll, but let a process that has work (the peer, on a busy machine) run
                _yield()
        if record:
            self.seconds[kind] += time.perf_counter() - start

    def allreduce(self, buf, op="sum", what="all_reduce", timeout=None):
        if (op == "sum" and self.shared is not None and buf.nbytes >= shm.MIN_BYTES
                and buf.flags.c_contiguous):  # fmt: skip
            return self.shared.sum(buf, what, timeout)
        start = time.perf_counter()
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, self._ops[_op_name(op)])
        self._wait(req, "allreduce", what, buf.nbytes, timeout, start)
        return buf

    def bcast(self, buf, root=0, what="broadcast", timeout=None):
        if not 0 <= root < self.size:
            raise ValueError(f"{what}: root {root} is not a rank of this group of {self.size}")
        start = time.perf_counter()
        req = self.comm.Ibcast(buf, root=root)
        self._wait(req, "bcast", what, buf.nbytes, timeout, start)
        return buf

    def allgather(self, buf, what="all_gather", timeout=None):
        buf = np.asarray(buf)
        send = self.scratch(buf.dtype, buf.size, 1)
        send[:] = buf.reshape(-1)
        recv = self.scratch(buf.dtype, self.size * buf.size, 2)
        start = time.perf_counter()
        req = self.comm.Iallgather(send, recv)
        self._wait(req, "allgather", what, recv.nbytes, timeout, start)
        return recv.reshape(self.size, *buf.shape).copy()

    def barrier(self, what="barrier", timeout=None):
        start = time.perf_counter()
        req = self.comm.Ibarrier()
        self._wait(req, "barrier", what, 0, timeout, start)


# --- the process group -----------------------------------------------------------------------

_lock = threading.RLock()
_comm: Communicator | None = None
_timeout: float | None = None


def default_timeout() -> float:
    """The deadline of collectives, in seconds (`set_timeout`, CHAINRULE_DIST_TIMEOUT, 60).

    >>> default_timeout() > 0
    True
    """
    if _timeout is not None:
        return _timeout
    env = os.environ.get("CHAINRULE_DIST_TIMEOUT")
    return float(env) if env else DEFAULT_TIMEOUT


def set_timeout(seconds: float) -> None:
    """Set the deadline of every later collective (seconds > 0).

    >>> set_timeout(30); default_timeout()
    30.0
    >>> set_timeout(DEFAULT_TIMEOUT)
    """
    global _timeout
    seconds = float(seconds)
    if not seconds > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {seconds}")
    _timeout = seconds
    if _comm is not None:
        _comm.timeout = seconds


def is_initialized() -> bool:
    """Whether `init()` has run in this process (it never runs on `import chainrule`). Cheap:
    it neither imports mpi4py nor starts MPI, so library code may ask it at any time (as
    PyTorch's ``torch.distributed.is_initialized()``).

    >>> import chainrule.distributed as dist
    >>> dist.init(); dist.is_initialized()
    True
    """
    return _comm is not None


def process_index() -> int:
    """This process's index among the processes of the job, without starting MPI: the
    group's rank once `init()` has run; before, the rank the MPI launcher gave this process
    (``PMI_RANK``, ``PMIX_RANK`` or ``OMPI_COMM_WORLD_RANK``); 0 in a process no launcher
    started. It never imports mpi4py: chainrule's random seeding calls it to give each
    process a stream of its own, whether the script seeds before or after `init()`.

    >>> process_index()                    # a process that mpiexec did not start
    0
    """
    if _comm is not None:
        return _comm.rank
    for var in _RANK_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def _import_mpi() -> Any:
    """mpi4py's MPI module, imported without initialising MPI (None without mpi4py)."""
    if "mpi4py.MPI" not in sys.modules:
        try:
            import mpi4py
        except ImportError:
            return None
        mpi4py.rc.initialize = False  # init() initialises, with the thread level it asks
        mpi4py.rc.finalize = True  # and MPI is finalised at exit
    from mpi4py import MPI

    return MPI


def init(timeout: float | None = None, *, abort_on_exception: bool = True) -> None:
    """Join the process group: MPI's ``COMM_WORLD`` under ``mpiexec``, a group of one
    otherwise. Safe to call more than once (later calls only update `timeout`); the other
    functions of `chainrule.distributed` call it when needed.

    `timeout`: the deadline of every collective, in seconds (default 60, or
    CHAINRULE_DIST_TIMEOUT). `abort_on_exception`: in a group of more than one process, an
    uncaught exception on any rank prints its traceback and aborts the whole job
    (``MPI.COMM_WORLD.Abort``), so that no rank waits for a dead one.

    >>> import chainrule.distributed as dist
    >>> dist.init(timeout=120)             # under mpiexec: joins the other processes
    >>> 0 <= dist.rank() < dist.size()
    True
    >>> dist.set_timeout(dist.comm.DEFAULT_TIMEOUT)
    """
    global _comm
    with _lock:
        if timeout is not None:
            set_timeout(timeout)
        if _comm is not None:
            return
        MPI = _import_mpi()
        if MPI is None:
            if launched_by_mpi():
                raise ImportError(
                    "chainrule.distributed: this process was started by an MPI launcher but "
                    "mpi4py is not installed, so it cannot join the other processes; install "
                    "the extra: pip install 'chainrule[mpi]' (mpi4py and the mpich wheel)"
                )
            _comm = SelfCommunicator()
            return
        if not MPI.Is_initialized():
            MPI.Init_thread(MPI.THREAD_MULTIPLE)
        comm = MPICommunicator(MPI.COMM_WORLD, MPI)
        _comm = comm
        if abort_on_exception and comm.size > 1:
            _install_abort_hook(comm)
        if comm.size > 1:
            comm.enable_shared_memory()


def communicator() -> Communicator:
    """The process group's communicator (initialised on first use): the layer every
    collective goes through, with its message counts.

    >>> import chainrule.distributed as dist
    >>> c = dist.communicator()
    >>> (c.rank, c.size) == (dist.rank(), dist.size())
    True
    """
    if _comm is None:
        init()
    return _comm


def _install_abort_hook(comm: MPICommunicator) -> None:
    previous = sys.excepthook

    def abort_job(tp: type, value: BaseException, tb: Any) -> None:
        try:
            prefix = f"[rank {comm.rank}] "
            lines = "".join(traceback.format_exception(tp, value, tb)).splitlines()
            sys.stdout.flush()
            sys.stderr.write(
                f"{prefix}chainrule.distributed: rank {comm.rank} of {comm.size} raised an "
                "uncaught exception; aborting every rank (MPI.COMM_WORLD.Abort)\n"
                + "".join(f"{prefix}{line}\n" for line in lines)
            )
            sys.stderr.flush()
            # MPI_Abort has the launcher kill every process at once, and mpiexec may drop
            # what it has not yet forwarded from their pipes: give it a moment to pass the
            # traceback on (well within the 10 s in which the job must end)
            time.sleep(_ABORT_GRACE)
        finally:
            try:
                comm.comm.Abort(1)
            except Exception:  # the job is ending anyway: fall back to the previous hook
                previous(tp, value, tb)

    sys.excepthook = abort_job
