"""The sum of large buffers over the processes of one machine, through a shared-memory window.

MPICH moves a large message between two processes of one machine through a queue of small
cells (64 of 8 KB): 2.5 MB takes some 300 hand-overs, each of which needs both processes to be
running and polling. On a machine whose cores are shared with other work (a CI runner, this
project's 2-core machines) one process is often descheduled in the middle, and a 0.3 ms
transfer takes 3-6 ms. Here each process instead writes its buffer into its slot of a window
that every process maps (``MPI.Win.Allocate_shared``), and after a barrier sums its own
segment of every slot into a result region; after a second barrier each copies the results
out. All the copying and adding is local: the processes meet only at the barriers (two per
chunk of the window's size, plus one small all-reduce per call that checks that every process
passes a buffer of the same size and dtype). Each segment is summed by one process, in rank
order, so every process gets bitwise the same result (for two processes, MPI's: ``a + b``).

Used by `MPICommunicator.allreduce` for sums of at least `MIN_BYTES` when every process of the
group is on this machine; ``CHAINRULE_DIST_SHM=0`` turns it off, ``CHAINRULE_DIST_SHM_MB``
sets the window's size (16 MB: slots of 5.3 MB for two processes). Its waits have the
collectives' deadline (`CollectiveTimeout`).

>>> MIN_BYTES
65536
"""

from __future__ import annotations

import atexit
import os
import time
from typing import Any

import numpy as np

MIN_BYTES = 64 * 1024  # smaller sums go through MPI (one message beats three meetings)
DEFAULT_MB = 16.0


def enabled() -> bool:
    """Whether ``CHAINRULE_DIST_SHM`` allows the shared-memory sum (it does unless it is 0).

    >>> enabled() in (True, False)
    True
    """
    return os.environ.get("CHAINRULE_DIST_SHM", "1").strip().lower() not in ("0", "false", "no")


def window_bytes() -> int:
    """The size of the window, from ``CHAINRULE_DIST_SHM_MB`` (16).

    >>> window_bytes() > 0
    True
    """
    mb = float(os.environ.get("CHAINRULE_DIST_SHM_MB", "") or DEFAULT_MB)
    if not mb > 0:
        raise ValueError(f"CHAINRULE_DIST_SHM_MB must be positive, got {mb}")
    return int(mb * 2**20)


class SharedSum:
    """A shared-memory window over the processes of a communicator that all run on this
    machine: `n` slots and a result region of `slot_bytes` each. Creating one is collective
    (every process of the group, at the same point: `init()` does it); `Unavailable` when the
    processes span several machines.

    >>> import chainrule.distributed as dist
    >>> shared = getattr(dist.communicator(), "shared", None)  # only for several processes
    >>> shared is None or isinstance(shared, SharedSum)
    True
    """

    class Unavailable(RuntimeError):
        pass

    def __init__(self, comm: Any, total_bytes: int) -> None:
        MPI = comm.MPI
        self.comm = comm
        self.node = comm.comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.rank)
        if self.node.Get_size() != comm.size:
            self.node.Free()
            raise SharedSum.Unavailable("the processes are not all on this machine")
        n = comm.size
        self.slot_bytes = max(4096, total_bytes // (n + 1) // 4096 * 4096)
        self.win = MPI.Win.Allocate_shared(self.slot_bytes * (n + 1) if comm.rank == 0 else 0,
                                           1, comm=self.node)  # fmt: skip
        mem, _ = self.win.Shared_query(0)
        base = np.frombuffer(mem, np.uint8)
        self.slots = [base[k * self.slot_bytes : (k + 1) * self.slot_bytes] for k in range(n)]
        self.result = base[n * self.slot_bytes : (n + 1) * self.slot_bytes]
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self._header = np.zeros(4, np.int64)
        self._closed = False
        atexit.register(self.close)

    def close(self) -> None:
        """Free the window (collective: every process calls it, at exit).

        >>> import chainrule.distributed as dist
        >>> shared = getattr(dist.communicator(), "shared", None)
        >>> callable(getattr(shared, "close", lambda: None))
        True
        """
        if self._closed:
            return
        self._closed = True
        try:
            if not self.comm.MPI.Is_finalized():
                self.win.Unlock_all()
                self.win.Free()
                self.node.Free()
        except Exception:  # pragma: no cover - the job is ending
            pass

    def _meet(self, what: str, timeout: float | None) -> None:
        """A barrier with the deadline, with the memory made consistent on both sides."""
        c = self.comm
        self.win.Sync()
        start = time.perf_counter()
        c._wait(c.comm.Ibarrier(), "allreduce", what, 0, timeout, start, record=False)
        self.win.Sync()

    def sum(self, buf: np.ndarray, what: str, timeout: float | None) -> np.ndarray:
        """`buf` (C-contiguous) summed over the processes, in place (one call counted in the
        communicator's ``calls["allreduce"]``; `what` names it in errors).

        >>> import numpy as np
        >>> import chainrule.distributed as dist
        >>> c = dist.communicator()
        >>> buf = np.ones(2**15)                     # 256 KB
        >>> shared = getattr(c, "shared", None)      # a window only for several processes
        >>> out = shared.sum(buf, "demo", None) if shared else c.allreduce(buf)
        >>> bool(np.all(out == c.size))
        True
        """
        c = self.comm
        start = time.perf_counter()
        h = self._header  # every process passes the same number of bytes and dtype
        h[:] = (buf.nbytes, -buf.nbytes, buf.dtype.num, -buf.dtype.num)
        req = c.comm.Iallreduce(c.MPI.IN_PLACE, h, c.MPI.MAX)
        c._wait(req, "allreduce", what, buf.nbytes, timeout, start, record=False)
        if h[0] != -h[1] or h[2] != -h[3]:
            raise ValueError(
                f"{what}: the processes passed buffers of different sizes or dtypes "
                f"({-h[1]} to {h[0]} bytes): their collective calls differ"
            )
        n, r = c.size, c.rank
        flat = buf.reshape(-1)
        per = self.slot_bytes // buf.itemsize
        nb = per * buf.itemsize
        slots = [s[:nb].view(buf.dtype) for s in self.slots]
        result = self.result[:nb].view(buf.dtype)
        for lo in range(0, flat.size, per):
            part = flat[lo : lo + per]
            m = part.size
            slots[r][:m] = part
            self._meet(what, timeout)
            a, b = r * m // n, (r + 1) * m // n  # this process's segment
            out = result[a:b]
            np.add(slots[0][a:b], slots[1][a:b], out=out)
            for k in range(2, n):
                out += slots[k][a:b]
            self._meet(what, timeout)
            part[:] = result[:m]
        c.calls["allreduce"] += 1
        c.seconds["allreduce"] += time.perf_counter() - start
        return buf
