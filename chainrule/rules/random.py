"""Random draws: the primitive ``random_p``, the boxes it draws from, and how a draw reaches
the transformations in flight.

``random_p(source, *args, dist, size, dtype, kw)`` draws from ``source.gen`` (a NumPy
``Generator``) with its method `dist`: ``gen.<dist>(*args, size=size, **dict(kw))``, with
``dtype=dtype`` for the methods that take one. So a draw is NumPy's own, bit for bit. `args`
are the distribution's array parameters (`binomial`'s ``n, p``; no derivative flows through
them), `size` is None or a tuple, `dtype` the result's dtype, `kw` the static keyword
arguments as sorted pairs. Only standard draws are primitives: the differentiable
distributions are compositions of one and ordinary operations (``normal(loc, scale) = loc +
scale * standard_normal()``, NumPy's own formula; see ``chainrule.numpy.random``).

A draw is an effect: its result is not a function of its operands, and each call draws anew.

- The compiler never removes, merges or folds it (``compiler.passes.EFFECTS``).
- A transformation that must see every draw sees it even when no operand is its tracer: a
  bound draw is offered first (`offer`) to the innermost transformation in flight that has a
  `handlers` entry. Staging records it (a jitted program draws at each run), vmap draws the
  whole batch (each example its own numbers), checkpoint keeps the draws of its first run and
  hands the same values to the recomputation. A handler draws below its own level
  (`draw_below`); the transformations' rows are in ``transforms/checkpoint.py``.
- What a transformation runs while it processes a primitive (a compiled program, a function
  it batched already) draws for the levels below it: `drawn_below`.

>>> import numpy as np
>>> from chainrule.core.trace import bind
>>> float(bind(random_p, Source(np.random.default_rng(0)), dist="random", size=None,
...            dtype=np.dtype(np.float64), kw=())) == np.random.default_rng(0).random()
True
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np

from chainrule.core import config
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.primitives import random_p
from chainrule.core.trace import Trace, Tracer, _state, bind_with
from chainrule.rules.impl import defimpl
from chainrule.rules.shape import shape_rules

__all__ = ["Source", "draw", "draw_below", "drawn_below", "handlers", "in_flight", "offer",
           "random_p", "reseed"]


class Source:
    """What `random_p` draws from (its first operand): a NumPy Generator in a box.

    A staged program holds the box by reference and draws from the generator in it at each
    run; `reseed` puts a new generator in the box, which programs compiled earlier then use.
    Its abstract value is a 0-d object.
    """

    __slots__ = ("gen", "__weakref__")

    aval = ShapeDtypeStruct((), np.dtype(object))

    def __init__(self, gen: np.random.Generator):
        self.gen = gen

    def __repr__(self) -> str:
        return f"Source({type(self.gen.bit_generator).__name__})"


def reseed(source: Source, seed: Any = None) -> None:
    """Put ``numpy.random.default_rng(seed)`` in the box `source`."""
    source.gen = np.random.default_rng(seed)


# --- the primitive's rows --------------------------------------------------------------------

#: the Generator methods that take a `dtype` argument
TAKES_DTYPE = frozenset({"random", "standard_normal", "standard_exponential", "standard_gamma",
                         "integers"})  # fmt: skip


def draw_now(source: Source, args: tuple, dist: str, size: tuple | None, dtype: np.dtype,
             kw: tuple) -> Any:  # fmt: skip
    """The draw itself, from the generator in `source` now."""
    gen = source.gen
    if dist in TAKES_DTYPE and not kw:
        return getattr(gen, dist)(*args, size=size, dtype=dtype)
    kw = dict(kw)
    if dist == "choice":  # choice(a, size, replace, p, axis, shuffle): `p` is the operand
        return gen.choice(kw["a"], size, kw["replace"], args[0] if args else None, 0,
                          kw["shuffle"])  # fmt: skip
    if dist == "permutation":
        return gen.permutation(kw["n"])
    if dist in TAKES_DTYPE:
        kw["dtype"] = dtype
    return getattr(gen, dist)(*args, size=size, **kw)


def draw(source: Source, args: tuple, dist: str, size: tuple | None, dtype: np.dtype,
         kw: tuple) -> Any:  # fmt: skip
    """The draw ``random_p(source, *args, dist=dist, size=size, dtype=dtype, kw=kw)``, bound
    (at once when no transformation is in flight: the eager path)."""
    if not _candidates():
        for a in args:
            if isinstance(a, Tracer):
                break
        else:
            return draw_now(source, args, dist, size, dtype, kw)
    return bind_with(random_p, (source, *args), {"dist": dist, "size": size, "dtype": dtype,
                                                 "kw": kw})  # fmt: skip


def _impl(source: Source, *args: Any, dist: str, size: tuple | None, dtype: np.dtype,
          kw: tuple) -> Any:  # fmt: skip
    """Offered to the transformations in flight first, drawn now if none takes it."""
    if _candidates():
        out = offer((source, *args), {"dist": dist, "size": size, "dtype": dtype, "kw": kw})
        if out is not NotImplemented:
            return out
    return draw_now(source, args, dist, size, dtype, kw)


def _shape(source: ShapeDtypeStruct, *avals: ShapeDtypeStruct, dist: str,
           size: tuple | None, dtype: np.dtype, kw: tuple) -> ShapeDtypeStruct:  # fmt: skip
    if dist == "permutation":
        shape: tuple = (dict(kw)["n"],)
    elif size is not None:
        shape = size
    elif dist == "choice":
        shape = ()
    else:
        shape = np.broadcast_shapes(*[a.shape for a in avals])
    return ShapeDtypeStruct(shape, dtype)


defimpl(random_p, _impl)
shape_rules[random_p] = _shape
# A draw makes no NaN from operands without one, and where a transformation takes it its
# result is a tracer the check cannot read: debug_nans leaves it alone.
config.on_change("debug_nans", lambda on: setattr(random_p, "impl", _impl))


# --- the transformations in flight -----------------------------------------------------------

#: trace class -> handler(trace, args, params): the draw's result, or NotImplemented when this
#: trace leaves it to the ones below (filled by ``transforms/checkpoint.py``)
handlers: dict[type, Callable] = {}


class _Context(threading.local):
    def __init__(self) -> None:
        self.windows: list = []  # (low, high): the levels low..high take no draws now


_ctx = _Context()


def _candidates() -> bool:
    """Whether any trace is in flight that might handle a draw (cheap: the eager path)."""
    return bool(_state.traces)


def _traces() -> list:
    """The traces in flight in this thread, innermost last."""
    return _state.traces


def _handler(trace: Trace) -> Callable | None:
    for cls in type(trace).__mro__:
        h = handlers.get(cls)
        if h is not None:
            return h
    return None


def _open(level: int, windows: list) -> bool:
    for low, high in windows:
        if low <= level <= high:
            return False
    return True


def _takers(above: int) -> Iterator:
    """(trace, handler) for the traces in flight that may take a draw now, innermost first."""
    windows = _ctx.windows
    for trace in reversed(_traces()):
        if trace.level > above and trace.alive and _open(trace.level, windows):
            h = _handler(trace)
            if h is not None:
                yield trace, h


def offer(args: tuple, params: dict, above: int = -1) -> Any:
    """Offer the draw ``random_p(*args, **params)`` to the handlers in flight above level
    `above`, innermost first: the result of the first that takes it, else NotImplemented."""
    for trace, h in _takers(above):
        out = h(trace, args, params)
        if out is not NotImplemented:
            return out
    return NotImplemented


@contextmanager
def drawn_below(level: int) -> Iterator[None]:
    """Inside, draws go to the transformations below `level` and to those started inside:
    what the transformation at `level` runs while it processes a primitive (a handler
    drawing; a compiled program or a function it has batched already)."""
    windows = _ctx.windows
    windows.append((level, _state.depth))
    try:
        yield
    finally:
        windows.pop()


def draw_below(level: int, args: tuple, params: dict) -> Any:
    """Bind the draw for the transformations below `level` (how a handler at `level`
    draws)."""
    with drawn_below(level):
        return bind_with(random_p, tuple(args), params)


def in_flight() -> bool:
    """Whether a transformation that handles draws is in flight (a draw now would be
    staged, batched or kept rather than drawn at once)."""
    return next(_takers(-1), None) is not None
