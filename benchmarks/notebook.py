"""The notebooks' own code, kept verbatim as a reference: the `Node` class and `backward` of
seed 000 ("Différentiation Automatique"). The benchmarks race it; the tests compare with it.
Its recursive topological sort fails past ~1,000 nodes: that is part of the reference.
"""

# ruff: noqa
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
