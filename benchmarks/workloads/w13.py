"""W13: per-example gradients, `vmap(grad)`, of an MLP 32-64-1 loss, batch 128, float32.

The loss of one example (x of 32 features, a scalar y) is written once for every namespace;
the gradients with respect to all parameters (a dict of W1 32×64, b1 64, W2 64×1, b2 1) are
taken for every example of the batch, the parameters broadcast: `in_axes=(None, 0, 0)`.
Each result is that dict, every array with a leading axis of 128.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, chainrule_peer, jit_variant, register,
)  # fmt: skip

SIZES = (32, 64, 1)
BATCH = 128
IN_AXES = (None, 0, 0)


@dataclass(frozen=True)
class Data:
    params: dict[str, np.ndarray]
    X: np.ndarray  # (BATCH, 32)
    Y: np.ndarray  # (BATCH,)


def loss(xp: Any, params: dict[str, Any], x: Any, y: Any) -> Any:
    """Squared error of one example, through a tanh hidden layer."""
    h = xp.tanh(x @ params["W1"] + params["b1"])
    return xp.sum((h @ params["W2"] + params["b2"] - y) ** 2)


def setup() -> Data:
    rng = np.random.default_rng(13)
    n_in, n_hidden, n_out = SIZES
    params = {
        "W1": (rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in)).astype(np.float32),
        "b1": (0.1 * rng.standard_normal(n_hidden)).astype(np.float32),
        "W2": (rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden)).astype(np.float32),
        "b2": np.zeros(n_out, np.float32),
    }
    X = rng.standard_normal((BATCH, n_in)).astype(np.float32)
    return Data(params, X, rng.standard_normal(BATCH).astype(np.float32))


def chainrule_vmap(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp
    g = cr.vmap(cr.grad(partial(loss, cnp)), in_axes=IN_AXES)
    return lambda: g(d.params, d.X, d.Y)


def chainrule_jit(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp
    g = cr.jit(cr.vmap(cr.grad(partial(loss, cnp)), in_axes=IN_AXES))
    return lambda: g(d.params, d.X, d.Y)


def chainrule_loop(lib: Chainrule, d: Data) -> Call:
    """The reference `vmap` should beat: chainrule's `grad`, one example at a time."""
    cr, cnp = lib.cr, lib.cnp

    g = cr.grad(partial(loss, cnp))

    def call() -> dict[str, np.ndarray]:
        grads = [g(d.params, x, y) for x, y in zip(d.X, d.Y, strict=True)]
        return {k: np.stack([gi[k] for gi in grads]) for k in d.params}

    return call


def torch_func(d: Data) -> Call:
    torch = peers.torch()
    g = torch.func.vmap(torch.func.grad(partial(loss, torch)), in_dims=IN_AXES)
    params = {k: torch.from_numpy(v) for k, v in d.params.items()}
    X, Y = torch.from_numpy(d.X), torch.from_numpy(d.Y)
    return lambda: g(params, X, Y)


def jax_jit(d: Data) -> Call:
    jax = peers.jax()
    g = jax.jit(jax.vmap(jax.grad(partial(loss, jax.numpy)), in_axes=IN_AXES))
    return peers.jax_call(g, d.params, d.X, d.Y)


register(
    Workload(
        id="W13",
        title="per-example grads, vmap(grad), MLP 32-64-1, batch 128 float32",
        setup=setup,
        variants={
            "vmap(grad)": Variant(
                chainrule=chainrule_vmap,
                peers={
                    "torch.func.vmap": Contender(torch_func, ("torch",)),
                    "jax.jit(vmap(grad))": Contender(jax_jit, ("jax",)),
                    "loop of cr.grad": chainrule_peer(chainrule_loop),
                },
                targets={"torch.func.vmap": 1.0},
                rtol=1e-4,
                atol=1e-6,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={"jax.jit(vmap(grad))": Contender(jax_jit, ("jax",))},
                targets={"jax.jit(vmap(grad))": 0.8},
                rtol=1e-4,
                atol=1e-6,
            ),
        },
    )
)
