"""Lazy imports of the peer libraries, configured the way every workload expects them."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def jax() -> ModuleType:
    """JAX with float64 enabled (W2 and W12 are float64; float32 inputs stay float32)."""
    import jax as jax_

    jax_.config.update("jax_enable_x64", True)
    return jax_


def jax_call(fun: Any, *args: Any) -> Any:
    """A call of `fun(*args)` that waits for JAX's asynchronous result; inputs go to the
    device once, here, outside the timed calls."""
    j = jax()
    dev_args = [j.device_put(a) for a in args]
    return lambda: j.block_until_ready(fun(*dev_args))


def torch() -> ModuleType:
    import torch as torch_

    return torch_
