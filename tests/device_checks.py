"""What the device tests of the CPU (tests/test_devices.py) and of a GPU (tests/test_gpu.py)
check alike, imported by both (a module of its own: ``conftest`` names more than one file
here)."""

from __future__ import annotations


def saved_bytes_of_a_chain(x) -> int:
    """`cr.memory.saved_bytes` of three products by sin(x), inside the gradient of their
    sum at `x` (NumPy's arrays, or another namespace's: they should count alike)."""
    import chainrule as cr
    import chainrule.numpy as cnp

    seen = []

    def f(x):
        y = x
        for _ in range(3):
            y = y * cnp.sin(x)
        seen.append(cr.memory.saved_bytes(y))
        return cnp.sum(y)

    cr.grad(f)(x)
    return seen[0]
