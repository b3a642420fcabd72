"""W2: the vectorised derivative of J(x) = x³ + x² − 6x + 1 at 101 float64 points."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, jit_variant, register,
)  # fmt: skip


def J(x: Any) -> Any:
    return x**3 + x**2 - 6 * x + 1


def setup() -> np.ndarray:
    return np.linspace(-3, 3, 101)


def chainrule_egrad(lib: Chainrule, X: np.ndarray) -> Call:
    cr = lib.cr

    dJ = cr.elementwise_grad(J)
    return lambda: dJ(X)


def chainrule_jit(lib: Chainrule, X: np.ndarray) -> Call:
    cr = lib.cr

    dJ = cr.jit(cr.vmap(cr.grad(J)))
    return lambda: dJ(X)


def chainrule_tensor(lib: Chainrule, X: np.ndarray) -> Call:
    cr = lib.cr

    def call() -> Any:  # the notebook's torch cell, on chainrule Tensors
        Xt = cr.tensor(X, requires_grad=True)
        Y = J(Xt)
        Y.backward(gradient=cr.ones_like(Y))
        return Xt.grad.numpy()

    return call


def torch_eager(X: np.ndarray) -> Call:
    torch = peers.torch()

    def call() -> Any:  # as in the notebook: a fresh leaf tensor from the array each call
        Xt = torch.tensor(X, requires_grad=True)
        Y = J(Xt)
        Y.backward(gradient=torch.ones_like(Y))
        return Xt.grad

    return call


def jax_jit(X: np.ndarray) -> Call:
    jax = peers.jax()
    return peers.jax_call(jax.jit(jax.vmap(jax.grad(J))), X)


def autograd_egrad(X: np.ndarray) -> Call:
    import autograd

    dJ = autograd.elementwise_grad(J)
    return lambda: dJ(X)


register(
    Workload(
        id="W2",
        title="dJ/dx of x³+x²−6x+1 at 101 float64 points",
        setup=setup,
        variants={
            "elementwise_grad": Variant(
                chainrule=chainrule_egrad,
                peers={
                    "torch eager": Contender(torch_eager, ("torch",)),
                    "jax.jit(vmap(grad))": Contender(jax_jit, ("jax",)),
                    "autograd": Contender(autograd_egrad, ("autograd",)),
                },
                targets={"torch eager": 0.5},
                rtol=1e-12,
                atol=1e-12,
            ),
            "Tensor": Variant(
                chainrule=chainrule_tensor,
                peers={"torch eager": Contender(torch_eager, ("torch",))},
                targets={"torch eager": 0.5},
                rtol=1e-12,
                atol=1e-12,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={"jax.jit(vmap(grad))": Contender(jax_jit, ("jax",))},
                targets={"jax.jit(vmap(grad))": 0.65},
                rtol=1e-12,
                atol=1e-12,
            ),
        },
    )
)
