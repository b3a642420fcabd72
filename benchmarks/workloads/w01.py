"""W1: the scalar engine: dJ/dx of J(x) = x³ + x² − 6x + 1 at 101 points, one graph per point.

Every contender runs the notebook's own cell ("tracer de la dérivée", seed 000) with its class:
`x = Node(X[i])` from the float64 array, the expression, `backward(y)`, `dY[i] = x.grad`.
Peers: the notebook's `Node` class itself (copied below, unchanged) and micrograd's `Value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.registry import Call, Chainrule, Contender, Variant, Workload, register

from benchmarks.notebook import Node, backward  # the notebook's own, verbatim



def setup() -> np.ndarray:
    return np.linspace(-3, 3, 101)


def _cell(Node: Any, backward: Any, X: np.ndarray) -> Call:
    """The notebook's cell, with the given class and backward function."""

    def call() -> np.ndarray:
        dY = np.zeros(X.size)
        for i in range(X.size):
            x = Node(X[i])
            y = x**3 + x**2 - x * 6 + 1
            backward(y)
            dY[i] = x.grad
        return dY

    return call


def chainrule_scalar(lib: Chainrule, X: np.ndarray) -> Call:
    return _cell(lib.scalar.Node, lib.scalar.backward, X)


def notebook_node(X: np.ndarray) -> Call:
    return _cell(Node, backward, X)


def micrograd_value(X: np.ndarray) -> Call:
    from micrograd.engine import Value

    return _cell(Value, Value.backward, X)


register(
    Workload(
        id="W1",
        title="scalar engine: dJ/dx of x³+x²−6x+1 at 101 points, one graph per point",
        setup=setup,
        variants={
            "scalar": Variant(
                chainrule=chainrule_scalar,
                peers={
                    "notebook Node": Contender(notebook_node),
                    "micrograd": Contender(micrograd_value, ("micrograd",)),
                },
                targets={"micrograd": 0.33},
                rtol=1e-12,
                atol=1e-12,
            ),
        },
    )
)
