"""`WORLD`: the named axis that spans the processes, for `cr.psum`, `cr.pmean`, `cr.pmax`,
`cr.all_gather` and `cr.axis_index`.

The collectives resolve their axis name in the registry that `vmap` uses
(``chainrule/core/axes.py``); importing this module registers `WORLD` there as a global
frame, whose handler computes each collective on concrete values with one MPI collective:
``psum`` is an all-reduce, ``all_gather`` an all-gather, ``axis_index`` the rank. Everything
above the handler is the engine's: under `grad`, psum's transpose is psum (JAX's rule),
`jit` stages the collective into its program and runs it at each call, and inside a named
`vmap` a collective over ``(axis, WORLD)`` reduces along both. The frame's size is the
group's (reading it starts the process group, as every collective does).

>>> WORLD
chainrule.distributed.WORLD
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.core import axes
from chainrule.distributed import buckets
from chainrule.distributed.comm import communicator


class _World:
    """The axis name of the process group (a singleton)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "chainrule.distributed.WORLD"

    def __reduce__(self) -> str:
        return "WORLD"


WORLD = _World()


def _collective(x: Any, op: str, what: str) -> Any:
    comm = communicator()
    if comm.size == 1:
        return x
    a = buckets.as_array(x, what)
    wire = buckets.wire_dtype(a.dtype, op)
    buf = comm.scratch(wire, a.size)  # a reusable buffer (see Communicator.scratch)
    buf[:] = a.reshape(-1)
    comm.allreduce(buf, op, what)
    out = buf.reshape(a.shape)
    keep = wire == a.dtype or (a.dtype.kind == "b" and op == "sum")
    out = out.copy() if keep else out.astype(a.dtype)
    return out if isinstance(x, np.ndarray) or out.ndim else out[()]


class _Handler:
    """The collectives of values on this process, across the processes (core.axes)."""

    def psum(self, x: Any) -> Any:
        return _collective(x, "sum", "psum over dist.WORLD")

    def pmax(self, x: Any) -> Any:
        return _collective(x, "max", "pmax over dist.WORLD")

    def all_gather(self, x: Any) -> Any:
        comm = communicator()
        a = buckets.as_array(x, "all_gather over dist.WORLD")
        if comm.size == 1:
            return a[None]
        wire = buckets.wire_dtype(a.dtype, "max")
        out = comm.allgather(np.ascontiguousarray(a, dtype=wire), "all_gather over dist.WORLD")
        return out.astype(a.dtype) if wire != a.dtype else out

    def axis_index(self) -> Any:
        return np.int64(communicator().rank)


class _WorldFrame(axes.AxisFrame):
    """The global frame of `WORLD`: its size is the process group's, read when needed."""

    __slots__ = ()

    def __init__(self) -> None:
        self.name = WORLD
        self.handler = _Handler()

    @property
    def size(self) -> int:  # type: ignore[override]
        return communicator().size


axes.register_global(_WorldFrame())
