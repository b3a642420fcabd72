"""W12: Hessian of the extended Rosenbrock function, n = 100, float64."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, chainrule_peer, jit_variant, register,
)  # fmt: skip

N = 100


def rosenbrock(xp: Any, x: Any) -> Any:
    """Extended Rosenbrock: Σᵢ 100 (x₂ᵢ − x₂ᵢ₋₁²)² + (1 − x₂ᵢ₋₁)², over n/2 pairs."""
    odd, even = x[::2], x[1::2]
    return xp.sum(100 * (even - odd**2) ** 2 + (1 - odd) ** 2)


def setup() -> np.ndarray:
    return np.random.default_rng(12).uniform(-2, 2, N)


def chainrule_hessian(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    h = cr.hessian(partial(rosenbrock, cnp))
    return lambda: h(x)


def chainrule_jit(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    h = cr.jit(cr.hessian(partial(rosenbrock, cnp)))
    return lambda: h(x)


def torch_func(x: np.ndarray) -> Call:
    torch = peers.torch()
    h = torch.func.hessian(partial(rosenbrock, torch))
    xt = torch.from_numpy(x)
    return lambda: h(xt)


def jax_jit(x: np.ndarray) -> Call:
    jax = peers.jax()
    return peers.jax_call(jax.jit(jax.hessian(partial(rosenbrock, jax.numpy))), x)


def autograd_hessian(x: np.ndarray) -> Call:
    import autograd
    import autograd.numpy as anp

    h = autograd.hessian(partial(rosenbrock, anp))
    return lambda: h(x)


register(
    Workload(
        id="W12",
        title="Hessian of extended Rosenbrock, n = 100 float64",
        setup=setup,
        variants={
            "hessian": Variant(
                chainrule=chainrule_hessian,
                peers={
                    "torch.func.hessian": Contender(torch_func, ("torch",)),
                    "jax.jit(hessian)": Contender(jax_jit, ("jax",)),
                    "autograd": Contender(autograd_hessian, ("autograd",)),
                },
                targets={"torch.func.hessian": 0.5},
                rtol=1e-10,
                atol=1e-8,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={
                    "jax.jit(hessian)": Contender(jax_jit, ("jax",)),
                    "cr.hessian (eager)": chainrule_peer(chainrule_hessian),
                },
                targets={"jax.jit(hessian)": 3.0, "cr.hessian (eager)": 0.3},
                rtol=1e-10,
                atol=1e-8,
            ),
        },
    )
)
