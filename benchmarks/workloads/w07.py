"""W7: one SGD step of an MLP 784-512-512-10 (tanh, softmax cross-entropy), batch 256, float32.

Every contender keeps its own parameters and updates them in each call, as a training loop
does; the first call, from the same initial parameters everywhere, is the one compared. The
"numpy by hand" peer writes the forward pass, the backward pass and the update by hand in
float32 NumPy: the floor of NumPy code, that chainrule's jit step is measured against. It
updates the parameters in place (``p -= LR * g``); the jitted step does the same by donating
them (``donate_argnums=0``: the new parameters are written into the old ones' buffers, as a
JAX training step does), instead of writing 2.6 MB of fresh memory each step. `jax.jit` runs
without donation (it was no faster with it on this CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, jit_variant, register,
)  # fmt: skip

SIZES = (784, 512, 512, 10)
BATCH = 256
LR = 0.01


@dataclass(frozen=True)
class Data:
    params: list[np.ndarray]  # [W1, b1, W2, b2, W3, b3]
    X: np.ndarray
    labels: np.ndarray


def loss(xp: Any, params: list[Any], X: Any, labels: Any, rows: Any) -> Any:
    """Mean softmax cross-entropy, via a numerically stable log-softmax."""
    W1, b1, W2, b2, W3, b3 = params
    h = xp.tanh(X @ W1 + b1)
    h = xp.tanh(h @ W2 + b2)
    z = h @ W3 + b3
    s = z - xp.amax(z, axis=1, keepdims=True)
    logp = s - xp.log(xp.sum(xp.exp(s), axis=1, keepdims=True))
    return -xp.mean(logp[rows, labels])


def setup() -> Data:
    rng = np.random.default_rng(7)
    params = []
    for n_in, n_out in zip(SIZES, SIZES[1:], strict=False):
        params.append((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32))
        params.append(np.zeros(n_out, np.float32))
    X = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    return Data(params, X, rng.integers(0, SIZES[-1], BATCH))


def _numpy_sgd(grad_fn: Any, d: Data) -> Call:
    params = [p.copy() for p in d.params]
    rows = np.arange(BATCH)

    def call() -> list[np.ndarray]:
        for p, g in zip(params, grad_fn(params, d.X, d.labels, rows), strict=True):
            p -= LR * g
        return params

    return call


def _sgd_step(grad: Any) -> Any:
    """The SGD step, `(params, X, labels, rows) -> new params`, with the gradient `grad`."""

    def step(params: list[Any], X: Any, labels: Any, rows: Any) -> list[Any]:
        return [p - LR * g for p, g in zip(params, grad(params, X, labels, rows), strict=True)]

    return step


def _jitted_sgd(step: Any, d: Data, put: Any = np.asarray, wait: Any = lambda x: x) -> Call:
    """A call of the jitted `step` that keeps its parameters (inputs `put` once, outputs
    waited for with `wait`)."""
    state = [put(p.copy()) for p in d.params]
    X, labels, rows = (put(a) for a in (d.X, d.labels, np.arange(BATCH)))

    def call() -> list[Any]:
        state[:] = wait(step(state, X, labels, rows))
        return state

    return call


def chainrule_grad(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp

    return _numpy_sgd(cr.grad(partial(loss, cnp)), d)


def chainrule_jit(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp

    return _jitted_sgd(cr.jit(_sgd_step(cr.grad(partial(loss, cnp))), donate_argnums=0), d)


def numpy_by_hand(d: Data) -> Call:
    params = [p.copy() for p in d.params]
    X, labels = d.X, d.labels
    rows = np.arange(BATCH)

    def call() -> list[np.ndarray]:
        W1, b1, W2, b2, W3, b3 = params
        h1 = np.tanh(X @ W1 + b1)
        h2 = np.tanh(h1 @ W2 + b2)
        z = h2 @ W3 + b3
        e = np.exp(z - np.amax(z, axis=1, keepdims=True))
        dz = e / np.sum(e, axis=1, keepdims=True)  # softmax
        dz[rows, labels] -= 1
        dz /= BATCH  # d loss / d z
        da2 = (dz @ W3.T) * (1 - h2 * h2)  # d loss / d (h1 @ W2 + b2)
        da1 = (da2 @ W2.T) * (1 - h1 * h1)  # d loss / d (X @ W1 + b1)
        grads = (X.T @ da1, np.sum(da1, 0), h1.T @ da2, np.sum(da2, 0), h2.T @ dz, np.sum(dz, 0))
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        return params

    return call


def torch_eager(d: Data) -> Call:
    torch = peers.torch()
    params = [torch.from_numpy(p.copy()).requires_grad_() for p in d.params]
    X, labels = torch.from_numpy(d.X), torch.from_numpy(d.labels)
    rows = torch.arange(BATCH)

    def call() -> list[Any]:
        for p in params:
            p.grad = None
        loss(torch, params, X, labels, rows).backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-LR)
        return params

    return call


def jax_jit(d: Data) -> Call:
    jax = peers.jax()
    step = jax.jit(_sgd_step(jax.grad(partial(loss, jax.numpy))))
    return _jitted_sgd(step, d, jax.device_put, jax.block_until_ready)


def autograd_grad(d: Data) -> Call:
    import autograd
    import autograd.numpy as anp

    return _numpy_sgd(autograd.grad(partial(loss, anp)), d)


register(
    Workload(
        id="W7",
        title="SGD step, MLP 784-512-512-10, batch 256 float32",
        setup=setup,
        variants={
            "grad": Variant(
                chainrule=chainrule_grad,
                peers={
                    "numpy by hand": Contender(numpy_by_hand),
                    "torch eager": Contender(torch_eager, ("torch",)),
                    "jax.jit(step)": Contender(jax_jit, ("jax",)),
                    "autograd": Contender(autograd_grad, ("autograd",)),
                },
                targets={"torch eager": 1.0},
                rtol=1e-5,
                atol=1e-7,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={
                    "numpy by hand": Contender(numpy_by_hand),
                    "jax.jit(step)": Contender(jax_jit, ("jax",)),
                },
                targets={"numpy by hand": 1.05},  # BLAS-bound; jax.jit's ratio is reported
                rtol=1e-5,
                atol=1e-7,
            ),
        },
        rounds=41,  # two BLAS-bound steps of nearly equal cost: a median of 20 pairs
    )
)
