"""The registry: workload id -> `Workload` -> variant name -> contender callables.

A *contender* is one way of computing a workload's result (chainrule's, or a peer's). Its
factory receives the workload's data (built once by `Workload.setup`) and returns a zero-argument
callable doing one complete call; the harness times batches of such calls. The value a call
returns is compared with chainrule's before anything is timed.

chainrule's own factory also receives the `Chainrule` package to run on, and takes `cr`, `cnp`
and `scalar` from it, never from an import: the same factory serves the working tree's package
and, in A/B mode (`--ab REV`), an old revision's, imported beside it under another name.

To add a variant later (chainrule's Tensor style, its jit, its scalar engine), add an entry to
the workload's `variants`; to add a workload (C1, W14, ...), add a module to
`benchmarks/workloads/` that calls `register`.
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


@dataclass(frozen=True)
class Contender:
    """A factory `data -> call`, and the modules it needs (missing ones make it skipped)."""

    make: Factory
    needs: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        return [m for m in self.needs if find_spec(m) is None]


@dataclass(frozen=True)
class Variant:
    """chainrule's contender against its peers; `targets` maps a peer to the ratio to beat."""

    chainrule: ChainruleFactory
    peers: dict[str, Contender]
    targets: dict[str, float] = field(default_factory=dict)
    rtol: float | None = 1e-5  # None: results are not compared (e.g. import times)
    atol: float = 1e-6


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    setup: Callable[[], Any]
    variants: dict[str, Variant]
    rounds: int = 21  # default rounds; `--quick` uses `quick_rounds`
    quick_rounds: int = 5


REGISTRY: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    REGISTRY[workload.id] = workload
    return workload
