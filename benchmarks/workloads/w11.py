"""W11: a chain of 20,000 scalar operations `y = y*1.0001 + 0.0`, then backward.

chainrule's scalar engine against torch eager (float64 0-d tensors). The notebook's `Node`
and micrograd's `Value` find their topological order by recursion: they fail with
RecursionError at this depth, and the table reports them as skipped with that reason.
"""

from __future__ import annotations

from typing import Any

from benchmarks import peers
from benchmarks.registry import Call, Chainrule, Contender, Variant, Workload, register

STEPS = 20_000


def setup() -> int:
    return STEPS


def _chain(y: Any, steps: int) -> Any:
    for _ in range(steps):
        y = y * 1.0001 + 0.0
    return y


def chainrule_scalar(lib: Chainrule, steps: int) -> Call:
    Node, backward = lib.scalar.Node, lib.scalar.backward

    def call() -> float:
        x = Node(1.0)
        backward(_chain(x, steps))
        return x.grad

    return call


def chainrule_tensor(lib: Chainrule, steps: int) -> Call:
    cr = lib.cr

    def call() -> Any:  # 0-d Tensors: each operation recorded through the main engine
        x = cr.tensor(1.0, requires_grad=True)
        _chain(x, steps).backward()
        return x.grad.item()

    return call


def torch_eager(steps: int) -> Call:
    torch = peers.torch()

    def call() -> Any:
        x = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        _chain(x, steps).backward()
        return x.grad

    return call


def notebook_node(steps: int) -> Call:
    from benchmarks.workloads.w01 import Node, backward

    def call() -> float:
        x = Node(1.0)
        backward(_chain(x, steps))  # RecursionError (recursive build_topo)
        return x.grad

    return call


def micrograd_value(steps: int) -> Call:
    from micrograd.engine import Value

    def call() -> float:
        x = Value(1.0)
        _chain(x, steps).backward()  # RecursionError (recursive build_topo)
        return x.grad

    return call


register(
    Workload(
        id="W11",
        title="a chain of 20,000 scalar ops y = y*1.0001 + 0.0, then backward",
        setup=setup,
        variants={
            "scalar": Variant(
                chainrule=chainrule_scalar,
                peers={
                    "torch eager": Contender(torch_eager, ("torch",)),
                    "micrograd": Contender(micrograd_value, ("micrograd",)),
                    "notebook Node": Contender(notebook_node),
                },
                targets={"torch eager": 0.5},
                rtol=1e-12,
                atol=0.0,
            ),
            "Tensor": Variant(
                chainrule=chainrule_tensor,
                peers={"torch eager": Contender(torch_eager, ("torch",))},
                targets={"torch eager": 0.7},
                rtol=1e-12,
                atol=0.0,
            ),
        },
        rounds=15,
        quick_rounds=3,
    )
)
