"""Named axes: the registry that collectives (`psum`, `pmean`, `pmax`, `all_gather`,
`axis_index`) look their axis up in.

A named `vmap` pushes a frame for its axis while it runs (per thread); a process group (the
distributed module's ``WORLD``) registers a global frame. A frame's `handler` computes the
collectives for values that do not vary along its axis, and `axis_index`.

>>> try:
...     lookup("i")
... except NameError as e:
...     print(str(e)[:24])
unbound axis name: 'i' (
"""

from __future__ import annotations

import threading
from typing import Any


class AxisFrame:
    """A named axis in scope: its name, its size and what computes collectives along it."""

    __slots__ = ("name", "size", "handler")

    def __init__(self, name: Any, size: int, handler: Any):
        self.name, self.size, self.handler = name, size, handler


class _Frames(threading.local):
    def __init__(self) -> None:
        self.stack: list[AxisFrame] = []


_frames = _Frames()
_global: dict[Any, AxisFrame] = {}


def push(frame: AxisFrame) -> None:
    _frames.stack.append(frame)


def pop(frame: AxisFrame) -> None:
    _frames.stack.remove(frame)


def register_global(frame: AxisFrame) -> None:
    """Register an axis that spans processes (used by chainrule.distributed)."""
    _global[frame.name] = frame


def lookup(name: Any) -> AxisFrame:
    """The innermost frame named `name`."""
    for frame in reversed(_frames.stack):
        if frame.name == name:
            return frame
    if name in _global:
        return _global[name]
    raise NameError(
        f"unbound axis name: {name!r} (collectives need an enclosing "
        f"cr.vmap(..., axis_name={name!r}) or a process group)"
    )


def names(axis_name: Any) -> tuple:
    """An axis name or a tuple of them, as a tuple."""
    return tuple(axis_name) if isinstance(axis_name, (tuple, list)) else (axis_name,)
