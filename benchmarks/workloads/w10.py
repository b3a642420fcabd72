"""W10: gradient of sum(sin x · cos x + 0.5·exp(−x²) + tanh x), x of 4M float32.

Under `cr.jit`, chainrule fuses the elementwise chain: "jit" has chainrule's own jit without
fusion (`fusion=False`, also a variant of its own) as a peer, to beat by 1.5× (≤ 0.667).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.registry import (
    Call, Chainrule, Contender, Variant, Workload, chainrule_peer, jit_variant, register,
)  # fmt: skip

N = 4_000_000


def f(xp: Any, x: Any) -> Any:
    return xp.sum(xp.sin(x) * xp.cos(x) + 0.5 * xp.exp(-(x**2)) + xp.tanh(x))


def setup() -> np.ndarray:
    return np.random.default_rng(10).standard_normal(N).astype(np.float32)


def chainrule_grad(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    g = cr.grad(partial(f, cnp))
    return lambda: g(x)


def chainrule_value_and_grad(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    vg = cr.value_and_grad(partial(f, cnp))
    return lambda: vg(x)


def chainrule_jit(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    g = cr.jit(cr.grad(partial(f, cnp)))
    return lambda: g(x)


def chainrule_jit_value_and_grad(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    vg = cr.jit(cr.value_and_grad(partial(f, cnp)))
    return lambda: vg(x)


def chainrule_jit_unfused(lib: Chainrule, x: np.ndarray) -> Call:
    cr, cnp = lib.cr, lib.cnp

    g = cr.jit(cr.grad(partial(f, cnp)), fusion=False)
    return lambda: g(x)


def torch_eager(x: np.ndarray) -> Call:
    torch = peers.torch()
    xt = torch.from_numpy(x.copy()).requires_grad_()

    def call() -> Any:
        xt.grad = None
        f(torch, xt).backward()
        return xt.grad

    return call


def torch_value_and_grad(x: np.ndarray) -> Call:
    torch = peers.torch()
    xt = torch.from_numpy(x.copy()).requires_grad_()

    def call() -> Any:
        xt.grad = None
        y = f(torch, xt)
        y.backward()
        return y.detach(), xt.grad

    return call


def jax_jit(x: np.ndarray) -> Call:
    jax = peers.jax()
    return peers.jax_call(jax.jit(jax.grad(partial(f, jax.numpy))), x)


def jax_jit_value_and_grad(x: np.ndarray) -> Call:
    jax = peers.jax()
    return peers.jax_call(jax.jit(jax.value_and_grad(partial(f, jax.numpy))), x)


def autograd_grad(x: np.ndarray) -> Call:
    import autograd
    import autograd.numpy as anp

    g = autograd.grad(partial(f, anp))
    return lambda: g(x)


register(
    Workload(
        id="W10",
        title="grad of an elementwise sum, x of 4M float32",
        setup=setup,
        variants={
            "grad": Variant(
                chainrule=chainrule_grad,
                peers={
                    "torch eager": Contender(torch_eager, ("torch",)),
                    "jax.jit(grad)": Contender(jax_jit, ("jax",)),
                    "autograd": Contender(autograd_grad, ("autograd",)),
                },
                targets={"torch eager": 1.0},
                rtol=1e-4,
                atol=1e-6,
            ),
            "value_and_grad": Variant(
                chainrule=chainrule_value_and_grad,
                peers={"torch eager": Contender(torch_value_and_grad, ("torch",))},
                targets={"torch eager": 1.0},
                rtol=1e-4,
                atol=1e-6,
            ),
            "jit": jit_variant(
                chainrule=chainrule_jit,
                peers={
                    "jax.jit(grad)": Contender(jax_jit, ("jax",)),
                    "cr.jit(fusion=False)": chainrule_peer(chainrule_jit_unfused, ("jit",)),
                },
                targets={"jax.jit(grad)": 1.0, "cr.jit(fusion=False)": 0.667},  # fusion: 1.5×
                rtol=1e-4,
                atol=1e-6,
            ),
            "jit value_and_grad": jit_variant(
                chainrule=chainrule_jit_value_and_grad,
                peers={"jax.jit(value_and_grad)": Contender(jax_jit_value_and_grad, ("jax",))},
                targets={"jax.jit(value_and_grad)": 1.0},
                rtol=1e-4,
                atol=1e-6,
            ),
            "jit fusion off": jit_variant(
                chainrule=chainrule_jit_unfused,
                peers={"jax.jit(grad)": Contender(jax_jit, ("jax",))},
                targets={},  # reported; the target is jit's, against this
                rtol=1e-4,
                atol=1e-6,
            ),
        },
        rounds=9,
        quick_rounds=3,
    )
)
