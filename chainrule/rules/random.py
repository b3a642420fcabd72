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
- A loop's reverse mode replays draws without storing them: `states` saves the generators'
  states, `replaying` draws again from temporary generators restored to them (the Source's
  own generator is not advanced); where a transformation in flight takes the draws, `Log`
  (`logging`) notes them and `feeding` hands them back (``transforms/control.py``).

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
           "random_p", "replaying", "reseed", "states", "Log", "taken", "logging", "feeding"]


class Source:
    """What `random_p` draws from (its first operand): a NumPy Generator in a box.

    A staged program holds the box by reference and draws from the generator in it at each
    run; `reseed` puts a new generator in the box, which programs compiled earlier then use.
    Its abstract value is a 0-d object.

    >>> import chainrule.numpy as cnp
    >>> from chainrule.rules.random import Source
    >>> g = cnp.random.default_rng(0)
    >>> isinstance(g, Source), type(g.gen).__name__
    (True, 'Generator')
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
    """The draw itself, from the generator in `source` now (a temporary one inside
    `replaying`)."""
    gens = _ctx.gens
    gen = gens.get(source, source.gen) if gens else source.gen
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
    """Offered to the transformations in flight first, drawn now if none takes it (inside
    `feeding`, the draw logged earlier; inside `logging`, noted)."""
    ctx = _ctx
    if ctx.feed is None and not ctx.logs:
        if _candidates():
            out = offer((source, *args), {"dist": dist, "size": size, "dtype": dtype, "kw": kw})
            if out is not NotImplemented:
                return out
        return draw_now(source, args, dist, size, dtype, kw)
    if ctx.noting:  # a handler drawing below: the outer call notes the result
        return _impl_plain(source, args, dist, size, dtype, kw)
    ctx.noting = True
    try:
        out = _fed(source, size) if ctx.feed is not None else _impl_plain(source, args, dist,
                                                                          size, dtype, kw)
    finally:
        ctx.noting = False
    for log in ctx.logs:
        log.note(source, out)
    return out


def _impl_plain(source: Source, args: tuple, dist: str, size: tuple | None, dtype: np.dtype,
                kw: tuple) -> Any:  # fmt: skip
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
        self.gens: dict = {}  # Source -> the temporary Generator it draws from (`replaying`)
        self.feed: dict | None = None  # Source -> deque of the draws it gives (`feeding`)
        self.logs: list = []  # the `Log`s noting each draw (`logging`)
        self.noting = False  # in a draw that the logs note when it returns


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


# --- replays: drawing again what was drawn -----------------------------------------------------


def states(sources: Any) -> tuple:
    """The states of the generators the Sources `sources` draw from now, for `replaying`:
    ``((source, bit generator class, state), ...)``."""
    gens = _ctx.gens
    out = []
    for s in sources:
        bg = (gens.get(s, s.gen) if gens else s.gen).bit_generator
        out.append((s, type(bg), bg.state))
    return tuple(out)


@contextmanager
def replaying(saved: tuple) -> Iterator[None]:
    """Inside (in this thread), each Source in `saved` (from `states`) draws from a temporary
    generator restored to the state saved: the draws made after `states` are made again,
    and the Source's own generator is not advanced (a while loop's reverse mode replaying a
    segment of its iterations)."""
    old = _ctx.gens
    gens = dict(old)
    for source, cls, state in saved:
        bg = cls()
        bg.state = state
        gens[source] = np.random.Generator(bg)
    _ctx.gens = gens
    try:
        yield
    finally:
        _ctx.gens = old


class Log:
    """The draws made in a segment of a loop, per Source, in order (`logging`): a while
    loop's forward notes them when a transformation in flight may take its draws (their
    values then do not come from the generators), and its replay is fed them."""

    __slots__ = ("segment",)

    def __init__(self) -> None:
        self.segment: dict | None = None  # Source -> list of draws: the segment being noted

    def start(self) -> dict:
        """Start a new segment (returned: the dict the next draws go to)."""
        self.segment = {}
        return self.segment

    def note(self, source: Source, value: Any) -> None:
        if self.segment is not None:
            self.segment.setdefault(source, []).append(value)

    @staticmethod
    def merge(a: dict, b: dict) -> dict:
        """Two consecutive segments as one."""
        return {s: a.get(s, []) + b.get(s, []) for s in {**a, **b}}


def taken() -> bool:
    """Whether a draw made now might not come from the generators: a transformation in
    flight may take it, or a replay feeds it (then `states` says nothing of its value)."""
    return _ctx.feed is not None or in_flight()


@contextmanager
def logging(log: Log) -> Iterator[None]:
    """Inside (in this thread), each draw, whoever makes it, is noted in `log`'s segment."""
    _ctx.logs.append(log)
    try:
        yield
    finally:
        _ctx.logs.remove(log)


@contextmanager
def feeding(draws: dict) -> Iterator[None]:
    """Inside (in this thread), a draw from a Source in `draws` (a `Log` segment) gives the
    next value logged instead of drawing (the replay of a segment of a loop)."""
    from collections import deque

    old = _ctx.feed
    _ctx.feed = {**(old or {}), **{s: deque(v) for s, v in draws.items()}}
    try:
        yield
    finally:
        _ctx.feed = old


def _fed(source: Source, size: tuple | None) -> Any:
    q = _ctx.feed.get(source)
    if not q:
        raise RuntimeError("a loop's replay drew more than its first run (random draws in a "
                           "while loop's body must not depend on what the backward pass "
                           "computes)")  # fmt: skip
    out = q.popleft()
    if size is not None and np.shape(out) != tuple(size):
        raise RuntimeError(f"a loop's replay drew shape {tuple(size)} where its first run "
                           f"drew {np.shape(out)}")  # fmt: skip
    return out
