"""W1: the scalar engine: dJ/dx of J(x) = x³ + x² − 6x + 1 at 101 points, one graph per point.

Every contender runs the notebook's own cell ("tracer de la dérivée", seed 000) with its class:
`x = Node(X[i])` from the float64 array, the expression, `backward(y)`, `dY[i] = x.grad`.
Peers: the notebook's `Node` class itself (copied below, unchanged) and micrograd's `Value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.registry import Call, Contender, Variant, Workload, register

# -- the notebook's class and backward (seed 000), verbatim --------------------------------------
# fmt: off


# classe de base pour décrire l'arbre de calcul de la fonction à minimiser
class Node:
    def __init__(self, value, nom="Node"):
        self.value = value
        self.name = nom+"="+str(value)
        self.grad = 0
        self._backward = lambda: None
        # this is defined as the forward mode is done based on the computation graph.
        self._prev = set()

    def __add__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.value + other.value," + ")
        out._prev = {self, other}
        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __sub__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.value - other.value," - ")
        out._prev = {self, other}
        def _backward():
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Node) else Node(other)
        out = Node(self.value * other.value," * ")
        out._prev = {self, other}
        def _backward():
            self.grad += other.value * out.grad
            other.grad += self.value * out.grad
        out._backward = _backward
        return out

    def __pow__(self, n):
        out = Node(self.value ** n, " ** ")
        out._prev = {self}

        def _backward():
            self.grad += n * (self.value ** (n-1)) * out.grad

        out._backward = _backward
        return out

def backward(node):
    topo = []
    visited = set()
    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)

    build_topo(node)
    # dx = 1
    node.grad = 1
    for node in reversed(topo):
        node._backward()


# fmt: on
# -----------------------------------------------------------------------------------------------


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


def chainrule_scalar(X: np.ndarray) -> Call:
    from chainrule.scalar import Node as CNode
    from chainrule.scalar import backward as cbackward

    return _cell(CNode, cbackward, X)


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
                chainrule=Contender(chainrule_scalar),
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
