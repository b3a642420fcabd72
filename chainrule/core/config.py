"""Global switches, as `jax.config`: ``cr.config.update("debug_tracer_leaks", True)``.

>>> import chainrule as cr
>>> cr.config.update("debug_tracer_leaks", False)
>>> cr.config.debug_tracer_leaks
False
"""

from __future__ import annotations

from typing import Any

#: record where each transformation was called, to name it when one of its values escapes
debug_tracer_leaks = False

#: raise at the first primitive that produces a NaN, naming it and the user's line (eager
#: computations of the engine, and jitted code, which it recompiles)
debug_nans = False

#: jit fuses elementwise chains and runs large ones in tiles over threads
jit_fusion = True

#: jitted programs on CuPy arrays are recorded once as a CUDA graph and replayed (one launch
#: a call instead of one per kernel: programs of many small kernels gain); off by default
#: until a GPU machine's `make gpu-check` has measured it (docs/gpu.md)
jit_cuda_graphs = False

_NAMES = ("debug_tracer_leaks", "debug_nans", "jit_fusion", "jit_cuda_graphs")
_HOOKS: dict = {}  # name -> functions called with the new value (the layers that care)


def on_change(name: str, fn: Any) -> None:
    """Call `fn(value)` whenever the switch `name` changes (and now)."""
    _HOOKS.setdefault(name, []).append(fn)
    fn(globals()[name])


def update(name: str, value: Any) -> None:
    """Set the switch `name` to `value`.

    >>> update("debug_tracer_leaks", False)
    """
    if name not in _NAMES:
        raise ValueError(f"config.update: unknown option {name!r}; known: {', '.join(_NAMES)}")
    globals()[name] = value
    for fn in _HOOKS.get(name, ()):
        fn(value)
