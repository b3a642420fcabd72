"""W14: W7's MLP (784-512-512-10, tanh, softmax cross-entropy, batch 256, float32) trained for
20 steps with Adam (lr 1e-3).

One call is 20 training steps. Every contender keeps its parameters and its optimizer state
from call to call, as a training loop does; the first call, 20 steps from the same initial
parameters everywhere, is the one compared (to 2e-4: after 20 float32 Adam steps of 1e-3,
an entry whose gradient is rounding noise may move differently in each library).

- `eager`: chainrule's PyTorch face, Tensors and `cr.optim.Adam` (zero_grad, backward, step),
  against torch eager with `torch.optim.Adam` (its default, single-tensor path on the CPU).
- `jit`: `cr.jit` of the whole step (gradient, the functional `cr.optim.adam`'s update and
  `apply_updates`), called 20 times, against `jax.jit` of the same step with optax's `adam`.
  The parameters and the optimizer state are donated (``donate_argnums=(0, 1)``: the new
  ones are written into the old ones' buffers, as a JAX training step does); `jax.jit` runs
  without donation (it was no faster with it on this CPU).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import Call, Chainrule, Contender, Variant, Workload, jit_variant, register
from benchmarks.workloads import w07
from benchmarks.workloads.w07 import BATCH, Data, loss

STEPS = 20
LR = 1e-3
OPTIM = ("optim",)  # what the variants use of `cr`


def setup() -> Data:
    return w07.setup()


def chainrule_eager(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp
    params = [cr.tensor(p.copy(), requires_grad=True) for p in d.params]
    X, labels, rows = cr.tensor(d.X), d.labels, np.arange(BATCH)
    opt = cr.optim.Adam(params, lr=LR)

    def call() -> list[Any]:
        for _ in range(STEPS):
            opt.zero_grad()
            loss(cnp, params, X, labels, rows).backward()
            opt.step()
        return params

    return call


def torch_eager(d: Data) -> Call:
    torch = peers.torch()
    params = [torch.from_numpy(p.copy()).requires_grad_() for p in d.params]
    X, labels = torch.from_numpy(d.X), torch.from_numpy(d.labels)
    rows = torch.arange(BATCH)
    opt = torch.optim.Adam(params, lr=LR)

    def call() -> list[Any]:
        for _ in range(STEPS):
            opt.zero_grad()
            loss(torch, params, X, labels, rows).backward()
            opt.step()
        return params

    return call


def _train_step(grad: Any, opt: Any, apply_updates: Any) -> Any:
    """`(params, state, X, labels, rows) -> (params, state)`: one Adam step on `grad`."""

    def step(params: list[Any], state: Any, X: Any, labels: Any, rows: Any) -> tuple[Any, Any]:
        updates, state = opt.update(grad(params, X, labels, rows), state, params)
        return apply_updates(params, updates), state

    return step


def _jitted_training(step: Any, init: Any, d: Data, put: Any = np.asarray,
                     wait: Any = lambda x: x) -> Call:  # fmt: skip
    """20 calls of the jitted `step`, keeping parameters and optimizer state between calls."""
    params = [put(p.copy()) for p in d.params]
    box = [params, init(params)]
    X, labels, rows = (put(a) for a in (d.X, d.labels, np.arange(BATCH)))

    def call() -> list[Any]:
        params, state = box
        for _ in range(STEPS):
            params, state = step(params, state, X, labels, rows)
        box[:] = wait((params, state))
        return box[0]

    return call


def chainrule_jit(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp
    opt = cr.optim.adam(LR)
    step = cr.jit(_train_step(cr.grad(partial(loss, cnp)), opt, cr.optim.apply_updates),
                  donate_argnums=(0, 1))
    return _jitted_training(step, opt.init, d)


def jax_optax(d: Data) -> Call:
    jax = peers.jax()
    import optax

    opt = optax.adam(LR)
    step = jax.jit(_train_step(jax.grad(partial(loss, jax.numpy)), opt, optax.apply_updates))
    return _jitted_training(step, opt.init, d, jax.device_put, jax.block_until_ready)


register(
    Workload(
        id="W14",
        title="W7's MLP trained 20 steps with Adam, float32",
        setup=setup,
        variants={
            "eager": Variant(
                chainrule=chainrule_eager,
                peers={"torch eager + Adam": Contender(torch_eager, ("torch",))},
                targets={"torch eager + Adam": 1.0},
                rtol=1e-3,
                atol=2e-4,
                requires=OPTIM,
            ),
            "jit": replace(
                jit_variant(
                    chainrule=chainrule_jit,
                    peers={"jax.jit + optax": Contender(jax_optax, ("jax", "optax"))},
                    targets={"jax.jit + optax": 1.1},
                    rtol=1e-3,
                    atol=2e-4,
                ),
                requires=("jit", *OPTIM),
            ),
        },
        rounds=21,  # a 20-step run of ~0.1 s: a median of ten pairs, not four
        quick_rounds=3,
    )
)
