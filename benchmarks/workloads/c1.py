"""C1: first-call latency of `jit(grad(f))` (trace, compile and run) for W5's and W7's losses.

"A fresh function after one unrelated compile": each contender first compiles and calls one
small unrelated function with its library (imports and one-time initialisation are then
excluded). Each timed call then defines a brand-new Python function (a fresh closure: no cache
keyed on the function can hit), wraps it in `jit(grad(.))` and calls it once, waiting for the
result (`block_until_ready` for JAX). One call per timed batch: no batching, no warm-up call.
Caches of the libraries' own internals (JAX's jitted `jnp` helpers, chainrule's rule tables)
are warm after the first call, in every round alike: the figure is a fresh function's first
call in a process that has compiled before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    JIT_ROUNDS, Call, Chainrule, Contender, Workload, jit_variant, register,
)  # fmt: skip
from benchmarks.workloads import w05, w07

Fresh = Callable[[Any], Callable[..., Any]]  # namespace -> a brand-new loss function


@dataclass(frozen=True)
class Data:
    w5: w05.Data
    w7: w07.Data


def setup() -> Data:
    return Data(w05.setup(), w07.setup())


def fresh_w05(xp: Any) -> Callable[..., Any]:
    """W5's loss, as a function object never seen before."""

    def loss(theta: Any, x: Any, y: Any) -> Any:
        return w05.loss(xp, theta, x, y)

    return loss


def fresh_w07(xp: Any) -> Callable[..., Any]:
    """W7's loss (w.r.t. the parameters), as a function object never seen before."""

    def loss(params: list[Any], X: Any, labels: Any, rows: Any) -> Any:
        return w07.loss(xp, params, X, labels, rows)

    return loss


def w05_args(d: Data) -> tuple[Any, ...]:
    return d.w5.theta, d.w5.x, d.w5.y


def w07_args(d: Data) -> tuple[Any, ...]:
    return d.w7.params, d.w7.X, d.w7.labels, np.arange(w07.BATCH)


def _unrelated(xp: Any) -> Callable[[Any], Any]:
    """The small function compiled once before timing, sharing nothing with the losses."""
    return lambda v: xp.sum(xp.sin(v) * v)


def _first_calls(
    jit: Any, grad: Any, fresh: Fresh, xp: Any, args: tuple[Any, ...], wait: Any = lambda r: r
) -> Call:
    """A call that makes `jit(grad(.))` of a fresh loss and calls it once, after one compile
    and call of an unrelated function."""
    wait(jit(grad(_unrelated(xp)))(np.linspace(0, 1, 8, dtype=np.float32)))

    def call() -> Any:
        return wait(jit(grad(fresh(xp)))(*args))

    return call


def chainrule_first_call(fresh: Fresh, args: Callable[[Data], tuple[Any, ...]]) -> Any:
    def make(lib: Chainrule, d: Data) -> Call:
        return _first_calls(lib.cr.jit, lib.cr.grad, fresh, lib.cnp, args(d))

    return make


def jax_first_call(fresh: Fresh, args: Callable[[Data], tuple[Any, ...]]) -> Contender:
    def make(d: Data) -> Call:
        jax = peers.jax()
        on_device = tuple(jax.device_put(a) for a in args(d))  # once, outside the timed calls
        return _first_calls(jax.jit, jax.grad, fresh, jax.numpy, on_device, jax.block_until_ready)

    return Contender(make, ("jax",))


register(
    Workload(
        id="C1",
        title="first call of jit(grad(f)) on a fresh f, after one unrelated compile",
        setup=setup,
        variants={
            "W5 loss": jit_variant(
                chainrule=chainrule_first_call(fresh_w05, w05_args),
                peers={"jax first call": jax_first_call(fresh_w05, w05_args)},
                targets={"jax first call": 0.1},
                rtol=1e-4,
                atol=1e-6,
            ),
            "W7 loss": jit_variant(
                chainrule=chainrule_first_call(fresh_w07, w07_args),
                peers={"jax first call": jax_first_call(fresh_w07, w07_args)},
                targets={"jax first call": 0.1},
                rtol=1e-4,
                atol=1e-6,
            ),
        },
        rounds=21,
        quick_rounds=JIT_ROUNDS,
        batch=1,
    )
)
