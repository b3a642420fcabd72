"""Primitives, traces, tracers and the one dispatch, `bind`.

Every operation chainrule knows is a `Primitive`: plain data, a name. What a primitive *does*
under each transformation lives in that transformation's rule table (``chainrule/rules``).

A transformation in flight is a `Trace`; the values it follows are its `Tracer` objects. Traces
are *tagged*: each call of a transformation creates a fresh trace object whose ``level`` is its
nesting depth, so a tracer captured from an outer transformation is told apart from the inner
one's own (no perturbation confusion). `bind` finds the highest-level trace among the arguments
and lets it process the primitive; with no tracer among them, it runs the implementation.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class Primitive:
    """An operation, as data: its rules live in the tables of ``chainrule.rules``.

    >>> from chainrule.core.primitives import sin_p
    >>> sin_p
    sin
    """

    __slots__ = ("name", "multiple_results")

    def __init__(self, name: str, multiple_results: bool = False):
        self.name = name
        self.multiple_results = multiple_results

    def __repr__(self) -> str:
        return self.name

    def bind(self, *args: Any, **params: Any) -> Any:
        return bind(self, *args, **params)


#: impl_rules[prim](*values, **params) -> value(s): the evaluation rule, on NumPy-protocol arrays.
impl_rules: dict[Primitive, Any] = {}


class _State(threading.local):
    def __init__(self) -> None:
        self.depth = 0  # how many transformations are in flight in this thread: a new trace's
        # level is one more (see transforms/reverse.py's _vjp)


_state = _State()


class Trace:
    """One transformation in flight. Subclasses implement `process`."""

    __slots__ = ("level",)

    def __init__(self, level: int):
        self.level = level

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:  # pragma: no cover
        raise NotImplementedError


def _fail(prim: Primitive, args: tuple, err: Exception) -> None:
    shapes = " and ".join(str(np.shape(getattr(a, "_value", a))) for a in args)
    raise type(err)(f"{prim.name}: {err} (operand shapes {shapes})") from None


def bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Apply `prim` to `args`: the highest trace among them processes it, else its impl runs."""
    trace = None
    for a in args:
        if isinstance(a, Tracer):
            t = a._trace
            if trace is None or t.level > trace.level:
                trace = t
    if trace is not None:
        return trace.process(prim, args, params)
    try:
        return impl_rules[prim](*args, **params)
    except (ValueError, IndexError) as err:
        _fail(prim, args, err)


class Tracer:
    """A value followed by a trace. Operators and NumPy-style methods record through `bind`.

    The NumPy protocols are implemented, so ``np.sin(tracer)`` records as ``cnp.sin(tracer)``.
    """

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    # Subclasses provide `_value` or override these.
    @property
    def shape(self) -> tuple:
        return np.shape(self._value)

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(self._value)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d value")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d value")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __int__(self) -> int:
        return int(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def __index__(self) -> int:
        return self._value.__index__()

    __hash__ = object.__hash__
