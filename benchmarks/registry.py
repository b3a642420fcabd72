"""The registry: workload id -> `Workload` -> variant name -> contender callables.

A *contender* is one way of computing a workload's result (chainrule's, or a peer's). Its
factory receives the workload's data (built once by `Workload.setup`) and returns a zero-argument
callable doing one complete call; the harness times batches of such calls. The value a call
returns is compared with chainrule's before anything is timed.

chainrule's own factory also receives the `Chainrule` package to run on, and takes `cr`, `cnp`
and `scalar` from it, never from an import: the same factory serves the working tree's package
and, in A/B mode (`--ab REV`), an old revision's, imported beside it under another name.

A variant may need a capability of chainrule that an old revision (or the working tree, while
it is being built) lacks: `Variant.requires` names attributes of `cr` (`("jit",)`); when one is
missing, the variant is reported as skipped ("cr.jit is not available yet"), never run. A peer
may itself be a chainrule contender (`chainrule_peer`: chainrule's eager Hessian as the peer of
its jit, jit without fusion as the peer of jit with it): it runs on the same package as the
variant, and is skipped in the same way when it needs what that package lacks.

To add a variant (chainrule's Tensor style, its jit, its scalar engine), add an entry to the
workload's `variants`; to add a workload (W14, ...), add a module to `benchmarks/workloads/`
that calls `register`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.util import find_spec
from types import ModuleType
from typing import Any

Call = Callable[[], Any]
Factory = Callable[[Any], Call]
JIT = ("jit",)  # what a jit variant requires of `cr`
JIT_ROUNDS = 15  # BENCHMARKS.md: jit targets are gated over at least 15 interleaved rounds


@dataclass(frozen=True)
class Chainrule:
    """The chainrule package a contender runs on: `chainrule` (the working tree's), or an old
    revision's as `chainrule_ab_<sha7>`, found on `path` (see `benchmarks.ab`)."""

    package: str = "chainrule"
    path: str | None = None  # the sys.path entry a fresh interpreter needs; None: the default

    @property
    def cr(self) -> ModuleType:
        return import_module(self.package)

    @property
    def cnp(self) -> ModuleType:
        return import_module(f"{self.package}.numpy")

    @property
    def scalar(self) -> ModuleType:
        return import_module(f"{self.package}.scalar")


ChainruleFactory = Callable[[Chainrule, Any], Call]


def lacking(lib: Chainrule, requires: tuple[str, ...]) -> str | None:
    """Why `lib` cannot run a contender that uses `cr.<name>` for each name of `requires`, or
    None when it can: "cr.jit is not available yet"."""
    if not requires:
        return None
    cr = lib.cr
    if missing := [f"cr.{name}" for name in requires if not hasattr(cr, name)]:
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not available yet"
    return None


@dataclass(frozen=True)
class Contender:
    """A peer: a factory `data -> call`, and the modules it needs (missing ones make it skipped).

    With `on_chainrule` (made by `chainrule_peer`), the factory is `(lib, data) -> call`, run on
    the variant's own chainrule package, and `requires` names what it uses of `cr`."""

    make: Callable[..., Call]
    needs: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    on_chainrule: bool = False

    def missing(self) -> list[str]:
        return [m for m in self.needs if find_spec(m) is None]

    def unavailable(self, lib: Chainrule) -> str | None:
        """Why this peer cannot run beside `lib`'s chainrule, or None."""
        if missing := self.missing():
            return f"not installed: {', '.join(missing)}"
        return lacking(lib, self.requires) if self.on_chainrule else None

    def build(self, lib: Chainrule, data: Any) -> Call:
        """The peer's call on `data` (on `lib`'s package if it is a chainrule contender)."""
        return self.make(lib, data) if self.on_chainrule else self.make(data)


def chainrule_peer(make: ChainruleFactory, requires: tuple[str, ...] = ()) -> Contender:
    """A chainrule contender as the peer of another chainrule variant (same package)."""
    return Contender(make, requires=requires, on_chainrule=True)


@dataclass(frozen=True)
class Variant:
    """chainrule's contender against its peers; `targets` maps a peer to the ratio to beat.

    `requires`: what chainrule's contender uses of `cr` (missing: the variant is skipped);
    `min_rounds`: the fewest rounds its targets are gated over (jit: `JIT_ROUNDS`)."""

    chainrule: ChainruleFactory
    peers: dict[str, Contender]
    targets: dict[str, float] = field(default_factory=dict)
    rtol: float | None = 1e-5  # None: results are not compared (e.g. import times)
    atol: float = 1e-6
    requires: tuple[str, ...] = ()
    min_rounds: int = 1

    def unavailable(self, lib: Chainrule) -> str | None:
        """Why chainrule's contender cannot run on `lib` ("cr.jit is not available yet")."""
        return lacking(lib, self.requires)


def jit_variant(
    chainrule: ChainruleFactory, peers: dict[str, Contender], targets: dict[str, float],
    rtol: float, atol: float,
) -> Variant:  # fmt: skip
    """A variant of `cr.jit`: skipped while `cr.jit` is missing, gated over `JIT_ROUNDS`."""
    return Variant(chainrule, peers, targets, rtol, atol, requires=JIT, min_rounds=JIT_ROUNDS)


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    setup: Callable[[], Any]
    variants: dict[str, Variant]
    rounds: int = 21  # default rounds; `--quick` uses `quick_rounds`
    quick_rounds: int = 5
    batch: int | None = None  # calls per timed batch; None: as many as take ~10 ms


REGISTRY: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    REGISTRY[workload.id] = workload
    return workload
