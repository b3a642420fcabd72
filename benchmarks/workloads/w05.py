"""W5: gradient w.r.t. Θ of mean((tanh(Θ @ tanh(Θ @ x)) − y)²), Θ 100×100 float32."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, jit_variant, register,
)  # fmt: skip


@dataclass(frozen=True)
class Data:
    theta: np.ndarray
    x: np.ndarray
    y: np.float32


def loss(xp: Any, theta: Any, x: Any, y: Any) -> Any:
    """The notebook's loss, written once for every NumPy-like namespace `xp`."""
    return xp.mean((xp.tanh(theta @ xp.tanh(theta @ x)) - y) ** 2)


def setup() -> Data:
    rng = np.random.default_rng(5)
    return Data(
        theta=rng.standard_normal((100, 100)).astype(np.float32),
        x=rng.standard_normal(100).astype(np.float32),
        y=np.float32(rng.standard_normal()),
    )


def chainrule_grad(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp

    g = cr.grad(partial(loss, cnp))
    return lambda: g(d.theta, d.x, d.y)


def chainrule_jit(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp

    g = cr.jit(cr.grad(partial(loss, cnp)))
    return lambda: g(d.theta, d.x, d.y)


def chainrule_tensor(lib: Chainrule, d: Data) -> Call:
    cr, cnp = lib.cr, lib.cnp

    theta = cr.tensor(d.theta, requires_grad=True)
    x, y = cr.tensor(d.x), cr.tensor(d.y)

    def call() -> Any:
        theta.grad = None
        loss(cnp, theta, x, y).backward()
        return theta.grad.numpy()

    return call


def numpy_by_hand(d: Data) -> Call:
    theta, x, y = d.theta, d.x, d.y

    def call() -> np.ndarray:
        a1 = np.tanh(theta @ x)
        a2 = np.tanh(theta @ a1)
        g2 = (2 / a2.size) * (a2 - y) * (1 - a2 * a2)  # d loss / d (Θ @ a1)
        g1 = (theta.T @ g2) * (1 - a1 * a1)  # d loss / d (Θ @ x)
        return np.outer(g2, a1) + np.outer(g1, x)

    return call


def torch_eager(d: Data) -> Call:
    torch = peers.torch()
    theta = torch.from_numpy(d.theta.copy()).requires_grad_()
    x, y = torch.from_numpy(d.x), torch.tensor(d.y)

    def call() -> Any:
        theta.grad = None
        loss(torch, theta, x, y).backward()
        return theta.grad

    return call


def jax_jit(d: Data) -> Call:
    jax = peers.jax()
    return peers.jax_call(jax.jit(jax.grad(partial(loss, jax.numpy))), d.theta, d.x, d.y)


def autograd_grad(d: Data) -> Call:
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(partial(loss, anp))
    return lambda: g(d.theta, d.x, d.y)


register(
    Workload(
        id="W5",
        title="grad of mean((tanh(Θ@tanh(Θ@x))−y)²), Θ 100×100 float32",
        setup=setup,
        variants={
            "grad": Variant(
                chainrule=chainrule_grad,
                peers={
                    "numpy by hand": Contender(numpy_by_hand),
                    "torch eager": Contender(torch_eager, ("torch",)),
                    "jax.jit(grad)": Contender(jax_jit, ("jax",)),
                    "autograd": Contender(autograd_grad, ("autograd",)),
                },
                targets={"torch eager": 0.7},
                rtol=1e-4,
                atol=1e-6,
            ),
            "Tensor": Variant(
                chainrule=chainrule_tensor,
                peers={"torch eager": Contender(torch_eager, ("torch",))},
                targets={"torch eager": 0.7},
                rtol=1e-4,
                atol=1e-6,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={
                    "numpy by hand": Contender(numpy_by_hand),
                    "jax.jit(grad)": Contender(jax_jit, ("jax",)),
                },
                targets={"numpy by hand": 1.0, "jax.jit(grad)": 0.6},
                rtol=1e-4,
                atol=1e-6,
            ),
        },
    )
)
