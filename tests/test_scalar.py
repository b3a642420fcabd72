"""chainrule.scalar, the teaching engine: the notebook's cells (seed 000) run unchanged on it,
and every operation is checked against its closed-form derivative (and PyTorch when installed)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule.scalar as cs
from chainrule.scalar import Node, backward

from benchmarks.notebook import Node as NotebookNode  # the notebook's own class, verbatim
from benchmarks.notebook import backward as notebook_backward


# -- what the notebook's earlier cells define (matplotlib replaced by a no-op stand-in) ----------


class _NoPlot:
    """Stands for matplotlib.pyplot: every call does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


plt = _NoPlot()
X = np.linspace(-3, 3, 101)
J = lambda x: x**3 + x**2 - 6 * x + 1
dJ = lambda x: 3 * x**2 + 2 * x - 6  # the notebook's sympy.lambdify(x, Derivative(J).doit())


def dJn(x):
    dx = 0.001
    return (J(x + dx) - J(x)) / dx


X_MIN = (-1 + math.sqrt(19)) / 3  # J'(x) = 3x² + 2x − 6 = 0


# -- the notebook's cells, unchanged ------------------------------------------------------------


def test_cell_utilisation(capsys):
    # utilisation
    x = Node(2.0, "x")
    y = x**3 + x**2 - x * 6 + 1
    backward(y)
    # evaluation
    print(f"f(2) = {y.value}, f'(2) = {x.grad}")
    print("valeurs exactes ", J(2), dJ(2))

    assert (y.value, x.grad) == (1.0, 10.0)
    assert capsys.readouterr().out.splitlines() == [
        "f(2) = 1.0, f'(2) = 10.0",
        "valeurs exactes  1 10",
    ]


def test_cell_evaluation_du_graphe(capsys):
    # evaluation du graphe
    x = Node(2.0, "x")
    y = x**3 + x**2 - x * 6 + 1
    topo = []
    noms = []
    visited = set()

    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)
            noms.append(v.name)

    build_topo(y)
    # fonction
    print("Evaluation f(x) pour x=2 (forward)")
    print(noms)
    print("F(2)=", noms[-1], y.value)
    # gradient
    print("Evaluation du gradient")
    y.grad = 1
    noms = []
    grads = []
    for node in reversed(topo):
        noms.append(node.name)
        grads.append(node.grad)
        node._backward()
    print(noms)
    print(grads)
    print("Valeur du gradient ", x.grad)

    forward = ["x=2.0", " ** =8.0", " ** =4.0", " + =12.0", "Node=6", " * =12.0", " - =0.0",
               "Node=1", " + =1.0"]  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert out[1] == str(forward)
    assert out[2] == "F(2)=  + =1.0 1.0"
    assert out[4] == str(forward[::-1])
    assert out[5] == str([1, 1, 1, -1, -2.0, 1, 1, 1, 10.0])
    assert out[6] == "Valeur du gradient  10.0"
    assert x.grad == 10.0

    # the same names and gradients as the notebook's own class (whose order depends on sets)
    xn = NotebookNode(2.0, "x")
    yn = xn**3 + xn**2 - xn * 6 + 1
    topo_n = []
    visited_n = set()

    def build_topo_n(v):
        if v not in visited_n:
            visited_n.add(v)
            for child in v._prev:
                build_topo_n(child)
            topo_n.append(v)

    build_topo_n(yn)
    yn.grad = 1
    pairs_n = []
    for node in reversed(topo_n):
        pairs_n.append((node.name, node.grad))
        node._backward()
    assert sorted(zip(noms, grads, strict=True)) == sorted(pairs_n)


def test_cell_trace_de_la_derivee():
    # tracer de la dérivée
    dY = np.zeros(X.size)
    for i in range(X.size):
        x = Node(X[i])
        y = x**3 + x**2 - x * 6 + 1
        backward(y)
        dY[i] = x.grad
    #
    plt.subplot(2, 1, 1)
    plt.plot(X, dJn(X), label="symbolique")
    plt.plot(X, dY, label="automatique")
    plt.legend()
    plt.title("Gradient de J")
    plt.subplot(2, 1, 2)
    plt.title(" Erreur")
    plt.plot(X, dY - dJ(X))
    plt.xlabel("x")
    plt.tight_layout()

    np.testing.assert_allclose(dY, 3 * X**2 + 2 * X - 6, rtol=1e-14, atol=1e-13)


def test_cell_descente_de_gradient(capsys):
    xa = 3
    alpha = 0.1
    N = 20
    for i in range(N):  # noqa: B007  (the cell as written)
        x = Node(xa)
        y = x**3 + x**2 - x * 6 + 1
        backward(y)
        dJa = x.grad
        xa = xa - alpha * dJa
    print(xa, y.value, dJa)
    print("Position du minimum x=", xa)

    assert xa == pytest.approx(X_MIN, abs=1e-14)
    assert abs(dJa) < 1e-13
    assert capsys.readouterr().out.splitlines()[1] == f"Position du minimum x= {xa}"


def test_descent_matches_the_notebook_class():
    def descend(cls, bw):
        xa = 3
        for _ in range(20):
            x = cls(xa)
            y = x**3 + x**2 - x * 6 + 1
            bw(y)
            xa = xa - 0.1 * x.grad
        return xa

    assert descend(Node, backward) == pytest.approx(descend(NotebookNode, notebook_backward),
                                                    abs=1e-15)  # fmt: skip


# -- each operation against its closed-form derivative -----------------------------------------

UNARY = [
    # name, f on Node, value, derivative, points
    ("neg", lambda x: -x, lambda v: -v, lambda v: -1.0, [-1.5, 0.0, 2.0]),
    ("pos", lambda x: +x, lambda v: v, lambda v: 1.0, [-1.5, 2.0]),
    ("exp", lambda x: x.exp(), math.exp, math.exp, [-2.0, 0.0, 1.5]),
    ("exp fn", cs.exp, math.exp, math.exp, [-2.0, 0.7]),
    ("log", lambda x: x.log(), math.log, lambda v: 1 / v, [0.1, 1.0, 7.5]),
    ("log fn", cs.log, math.log, lambda v: 1 / v, [0.3, 2.0]),
    ("tanh", lambda x: x.tanh(), math.tanh, lambda v: 1 - math.tanh(v) ** 2, [-2.0, 0.0, 0.9]),
    ("tanh fn", cs.tanh, math.tanh, lambda v: 1 - math.tanh(v) ** 2, [0.4]),
    ("sin", lambda x: x.sin(), math.sin, math.cos, [-2.0, 0.0, 1.3]),
    ("sin fn", cs.sin, math.sin, math.cos, [0.4]),
    ("cos", lambda x: x.cos(), math.cos, lambda v: -math.sin(v), [-2.0, 0.0, 1.3]),
    ("cos fn", cs.cos, math.cos, lambda v: -math.sin(v), [0.4]),
    ("sqrt", lambda x: x.sqrt(), math.sqrt, lambda v: 0.5 / math.sqrt(v), [0.25, 2.0, 9.0]),
    ("sqrt fn", cs.sqrt, math.sqrt, lambda v: 0.5 / math.sqrt(v), [3.0]),
    ("relu", lambda x: x.relu(), lambda v: max(v, 0.0), lambda v: float(v > 0), [-2.0, 0.0, 3.0]),
    ("relu fn", cs.relu, lambda v: max(v, 0.0), lambda v: float(v > 0), [-0.5, 0.5]),
    ("square", lambda x: x**2, lambda v: v * v, lambda v: 2 * v, [-1.5, 0.0, 2.0]),
    ("cube", lambda x: x**3, lambda v: v**3, lambda v: 3 * v * v, [-1.5, 0.0, 2.0]),
    ("x**0", lambda x: x**0, lambda v: 1.0, lambda v: 0.0, [-1.5, 0.0, 2.0]),
    ("x**1", lambda x: x**1, lambda v: v, lambda v: 1.0, [-1.5, 0.0, 2.0]),
    ("x**-2", lambda x: x**-2, lambda v: v**-2, lambda v: -2 * v**-3, [-1.5, 0.5]),
    ("x**0.5", lambda x: x**0.5, math.sqrt, lambda v: 0.5 * v**-0.5, [0.5, 4.0]),
    ("x**2.5", lambda x: x**2.5, lambda v: v**2.5, lambda v: 2.5 * v**1.5, [0.0, 0.5, 4.0]),
    ("2**x", lambda x: 2**x, lambda v: 2**v, lambda v: 2**v * math.log(2), [-1.0, 0.0, 3.0]),
    ("0.5**x", lambda x: 0.5**x, lambda v: 0.5**v, lambda v: 0.5**v * math.log(0.5), [1.5]),
    ("2*x", lambda x: 2 * x, lambda v: 2 * v, lambda v: 2.0, [-1.0, 3.0]),
    ("x*2", lambda x: x * 2, lambda v: 2 * v, lambda v: 2.0, [-1.0, 3.0]),
    ("1-x", lambda x: 1 - x, lambda v: 1 - v, lambda v: -1.0, [-1.0, 3.0]),
    ("x-1", lambda x: x - 1, lambda v: v - 1, lambda v: 1.0, [-1.0, 3.0]),
    ("1+x", lambda x: 1 + x, lambda v: 1 + v, lambda v: 1.0, [-1.0, 3.0]),
    ("x+1.5", lambda x: x + 1.5, lambda v: v + 1.5, lambda v: 1.0, [-1.0, 3.0]),
    ("1/x", lambda x: 1 / x, lambda v: 1 / v, lambda v: -1 / v**2, [-2.0, 0.5, 3.0]),
    ("x/4", lambda x: x / 4, lambda v: v / 4, lambda v: 0.25, [-2.0, 3.0]),
    ("x/x", lambda x: x / x, lambda v: 1.0, lambda v: 0.0, [-2.0, 3.0]),
    ("x*x", lambda x: x * x, lambda v: v * v, lambda v: 2 * v, [-2.0, 3.0]),
    ("x-x", lambda x: x - x, lambda v: 0.0, lambda v: 0.0, [3.0]),
    ("x**x", lambda x: x**x, lambda v: v**v, lambda v: v**v * (math.log(v) + 1), [0.5, 2.0]),
    ("exp(sin(x))*x", lambda x: x.sin().exp() * x,
     lambda v: math.exp(math.sin(v)) * v,
     lambda v: math.exp(math.sin(v)) * (math.cos(v) * v + 1), [-1.0, 0.3, 2.0]),
]  # fmt: skip


@pytest.mark.parametrize("name, f, value, deriv, points", UNARY, ids=[u[0] for u in UNARY])
def test_operation_against_its_derivative(name, f, value, deriv, points):
    for v in points:
        x = Node(v, "x")
        y = f(x)
        backward(y)
        assert y.value == pytest.approx(value(v), rel=1e-14, abs=1e-15)
        assert x.grad == pytest.approx(deriv(v), rel=1e-13, abs=1e-15), (name, v)


TORCH_UNARY = [
    ("neg", lambda x: -x, lambda t, torch: -t),
    ("exp", lambda x: x.exp(), lambda t, torch: torch.exp(t)),
    ("log", lambda x: x.log(), lambda t, torch: torch.log(t)),
    ("tanh", lambda x: x.tanh(), lambda t, torch: torch.tanh(t)),
    ("sin", lambda x: x.sin(), lambda t, torch: torch.sin(t)),
    ("cos", lambda x: x.cos(), lambda t, torch: torch.cos(t)),
    ("sqrt", lambda x: x.sqrt(), lambda t, torch: torch.sqrt(t)),
    ("relu", lambda x: x.relu(), lambda t, torch: torch.relu(t)),
    ("x**3", lambda x: x**3, lambda t, torch: t**3),
    ("x**-1.5", lambda x: x**-1.5, lambda t, torch: t**-1.5),
    ("2**x", lambda x: 2**x, lambda t, torch: 2**t),
    ("3/x", lambda x: 3 / x, lambda t, torch: 3 / t),
    ("1-x", lambda x: 1 - x, lambda t, torch: 1 - t),
    ("J", lambda x: x**3 + x**2 - x * 6 + 1, lambda t, torch: t**3 + t**2 - t * 6 + 1),
    ("mix", lambda x: (x * x.sin() + 1) / (2 + x.tanh()) - (x**2 + 1).log() * x.exp(),
     lambda t, torch: (t * torch.sin(t) + 1) / (2 + torch.tanh(t))
     - torch.log(t**2 + 1) * torch.exp(t)),
]  # fmt: skip


@pytest.mark.parametrize("name, f, ft", TORCH_UNARY, ids=[u[0] for u in TORCH_UNARY])
def test_against_torch_autograd(name, f, ft):
    torch = pytest.importorskip("torch")
    for v in (0.3, 1.7, 2.9):
        x = Node(v)
        y = f(x)
        backward(y)
        xt = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        yt = ft(xt, torch)
        yt.backward()
        assert y.value == pytest.approx(yt.item(), rel=1e-13)
        assert x.grad == pytest.approx(xt.grad.item(), rel=1e-12, abs=1e-14)


BINARY = [
    # name, f, (da, db) closed forms
    ("a+b", lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
    ("a-b", lambda a, b: a - b, lambda a, b: (1.0, -1.0)),
    ("a*b", lambda a, b: a * b, lambda a, b: (b, a)),
    ("a/b", lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2)),
    ("a**b", lambda a, b: a**b, lambda a, b: (b * a ** (b - 1), a**b * math.log(a))),
    ("b**a", lambda a, b: b**a, lambda a, b: (b**a * math.log(b), a * b ** (a - 1))),
]


@pytest.mark.parametrize("name, f, d", BINARY, ids=[b[0] for b in BINARY])
def test_binary_operations_partial_derivatives(name, f, d):
    for av, bv in ((1.5, 2.5), (0.7, 3.0), (4.0, 0.5)):
        a, b = Node(av, "a"), Node(bv, "b")
        y = f(a, b)
        backward(y)
        assert y.value == pytest.approx(f(av, bv), rel=1e-14)
        da, db = d(av, bv)
        assert a.grad == pytest.approx(da, rel=1e-13)
        assert b.grad == pytest.approx(db, rel=1e-13)
        assert y._prev == (a, b) or y._prev == (b, a)


@pytest.mark.parametrize(
    "k", [2, 2.5, np.float64(2.5), np.float32(0.5), np.int64(3), Fraction(1, 2)]
)
def test_plain_numbers_on_both_sides(k):
    kv = float(k)
    v = 1.25
    cases = [
        (lambda x: x + k, 1.0), (lambda x: k + x, 1.0),
        (lambda x: x - k, 1.0), (lambda x: k - x, -1.0),
        (lambda x: x * k, kv), (lambda x: k * x, kv),
        (lambda x: x / k, 1 / kv), (lambda x: k / x, -kv / v**2),
        (lambda x: x**k, kv * v ** (kv - 1)), (lambda x: k**x, kv**v * math.log(kv)),
    ]  # fmt: skip
    for f, expected in cases:
        x = Node(v)
        y = f(x)
        if isinstance(k, np.generic) and isinstance(y, np.ndarray):
            pytest.fail("a NumPy scalar on the left made an array")
        assert isinstance(y, Node)
        backward(y)
        assert float(x.grad) == pytest.approx(expected, rel=1e-6)


def test_numpy_and_fraction_values():
    assert type(Node(np.float64(2.0)).value) is float
    assert type(Node(np.float32(0.5)).value) is float
    assert type(Node(np.int64(3)).value) is int
    x = Node(Fraction(1, 3))
    y = 3 * x * x + 1
    backward(y)
    assert y.value == Fraction(4, 3) and x.grad == Fraction(2)


def test_constant_nodes_and_their_gradients():
    # a plain number is a constant leaf of the graph, with the gradient the notebook gives it
    x = Node(2.0, "x")
    m = x * 6
    (xx, six) = m._prev
    assert xx is x and six.name == "Node=6" and m._prev[1] is six  # made once
    y = m + 1
    backward(y)
    assert (x.grad, six.grad) == (6, 2.0)
    # constants looked at only after backward get their gradient too
    x = Node(2.0, "x")
    y = 3 - x * 6
    backward(y)
    k3, m = y._prev
    _, k6 = m._prev
    assert (k3.name, k3.grad, k6.name, k6.grad, x.grad) == ("Node=3", 1, "Node=6", -2.0, -6)
    backward(y)  # and later backward calls fill them
    assert (k3.grad, k6.grad, x.grad) == (1, -2.0, -6)
    # and the notebook's class agrees
    xn = NotebookNode(2.0, "x")
    mn = xn * 6
    yn = NotebookNode(3) - mn
    notebook_backward(yn)
    assert [c.grad for c in mn._prev if c is not xn] == [k6.grad]


def test_relu():
    for v, value, grad in ((-2.0, 0.0, 0), (0.0, 0.0, 0), (3.5, 3.5, 1), (-3, 0, 0), (4, 4, 1)):
        x = Node(v)
        y = x.relu()
        backward(y)
        assert (y.value, x.grad) == (value, grad)
        assert type(y.value) is type(value)
    assert cs.relu(-2.0) == 0.0 and cs.relu(2) == 2


def test_pow_with_node_exponent_special_bases():
    b, e = Node(0.0), Node(2.0)
    y = b**e
    backward(y)
    assert (y.value, b.grad, e.grad) == (0.0, 0.0, 0)  # d(0**e)/de = 0 for e > 0
    b, e = Node(-2.0), Node(2.0)
    y = b**e
    backward(y)
    assert y.value == 4.0 and b.grad == -4.0 and math.isnan(e.grad)  # no real log(-2)
    x = Node(0.0)
    y = x**0.5
    backward(y)
    assert x.grad == math.inf  # as PyTorch
    x = Node(0.0)
    y = x.sqrt()
    backward(y)
    assert x.grad == math.inf


# -- graph structure: diamonds, shared sub-expressions, idempotence, order ----------------------


def test_diamond_and_shared_subexpressions():
    x = Node(1.5, "x")
    s = x * x  # used twice below
    y = s + s * s  # x² + x⁴
    backward(y)
    assert x.grad == pytest.approx(2 * 1.5 + 4 * 1.5**3)
    a = Node(2.0)
    b = a + 1
    c = a * 3
    d = b * c  # (a+1)(3a) = 3a² + 3a
    backward(d)
    assert a.grad == 6 * 2.0 + 3
    assert (b.grad, c.grad, d.grad) == (6.0, 3.0, 1)


def test_exponential_number_of_paths_visits_each_node_once():
    x = Node(1.0)
    y = x
    for _ in range(60):
        y = y + y  # 2^60 paths from y to x
    backward(y)
    assert x.grad == 2.0**60 and y.value == 2.0**60


def test_backward_is_idempotent_and_resets_the_graph():
    x = Node(3.0, "x")
    y = x**3 + x**2 - x * 6 + 1
    backward(y)
    first = x.grad
    backward(y)
    y.backward()
    assert x.grad == first == 3 * 9 + 2 * 3 - 6
    z = x * x  # a sub-graph sharing x: its backward resets x
    backward(z)
    assert x.grad == 6.0
    backward(x)  # a leaf: d x / d x
    assert x.grad == 1


def _topo_names(y):
    topo, visited = [], set()

    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v.name)

    build_topo(y)
    return topo


def _graph():
    a, b = Node(0.5, "a"), Node(-1.25, "b")
    c = a * b + a.sin()
    d = (c * c + b).tanh() / (1 + a.exp())
    return a, b, d - c * 3 + (b - a) ** 2


def test_deterministic_order():
    names = []
    grads = []
    junk = []
    for i in range(20):
        junk.append([Node(float(j)) for j in range(i * 7)])  # move the allocations around
        a, b, y = _graph()
        backward(y)
        names.append(_topo_names(y))
        grads.append((a.grad.hex(), b.grad.hex()))
    assert all(n == names[0] for n in names)
    assert all(g == grads[0] for g in grads)
    assert isinstance(y._prev, tuple)


def test_same_order_and_bits_in_another_process():
    here = str(Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from test_scalar import _graph, _topo_names\n"
        "from chainrule.scalar import backward\n"
        "a, b, y = _graph(); backward(y)\n"
        "print(_topo_names(y), a.grad.hex(), b.grad.hex())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.strip()  # fmt: skip
    a, b, y = _graph()
    backward(y)
    assert out == f"{_topo_names(y)} {a.grad.hex()} {b.grad.hex()}"


def test_million_node_chain():
    x = Node(0.0, "x")
    y = x
    for _ in range(500_000):
        y = y + 1.0
    for _ in range(500_000):
        y = y - x  # two-node operations, x shared a million times over
    backward(y)
    assert y.value == 500_000.0
    assert x.grad == 1 - 500_000
    del y  # freeing a deep chain must not overflow the C stack either


def test_manual_backward_on_deep_graph_with_node_methods():
    x = Node(0.1)
    y = x
    for _ in range(10_000):
        y = (y * 1.0001 + 0.0).sin()
    y.backward()
    # compare with forward-mode by hand (dual numbers)
    v, dv = 0.1, 1.0
    for _ in range(10_000):
        v, dv = math.sin(v * 1.0001 + 0.0), math.cos(v * 1.0001 + 0.0) * 1.0001 * dv
    assert y.value == v
    assert x.grad == pytest.approx(dv, rel=1e-12)


# -- errors and display -------------------------------------------------------------------------


def test_domain_errors_follow_math():
    with pytest.raises(ValueError, match="log of a non-positive value: 0.0"):
        Node(0.0).log()
    with pytest.raises(ValueError, match="log of a non-positive value: -1"):
        cs.log(Node(-1))
    with pytest.raises(ValueError, match="sqrt of a negative value"):
        Node(-1.0).sqrt()
    with pytest.raises(ValueError, match="math domain error"):
        cs.log(-1.0)  # plain numbers: math's own error
    with pytest.raises(ValueError, match="negative base to a non-integer power"):
        Node(-8.0) ** (1 / 3)
    with pytest.raises(ValueError, match="negative base to a non-integer power"):
        (-8.0) ** Node(0.5)
    with pytest.raises(ZeroDivisionError):
        Node(1.0) / 0
    with pytest.raises(ZeroDivisionError):
        1 / Node(0.0)
    with pytest.raises(OverflowError):
        Node(1000.0).exp()


@pytest.mark.parametrize("bad", ["2", [1.0], None, 1j, {"a": 1}])
def test_non_number_operands_are_type_errors_naming_the_type(bad):
    x = Node(1.0)
    tname = type(bad).__name__
    for op in (lambda: x + bad, lambda: bad + x, lambda: x - bad, lambda: bad - x,
               lambda: x * bad, lambda: x / bad, lambda: bad / x, lambda: x**bad,
               lambda: bad**x):  # fmt: skip
        with pytest.raises(TypeError, match=tname):
            op()
    with pytest.raises(TypeError, match=f"Node value must be a real number, not '{tname}'"):
        Node(bad)
    msg = f"exp's argument must be a Node or a real number, not '{tname}'"
    with pytest.raises(TypeError, match=msg):
        cs.exp(bad)
    with pytest.raises(TypeError, match=f"backward expects a Node, not '{tname}'"):
        backward(bad)


def test_sequences_are_not_repeated():
    for seq in ("ab", [1.0], (2,), b"x"):
        for op in (lambda: Node(2.0) * seq, lambda: seq * Node(2.0)):
            with pytest.raises(
                TypeError,
                match=f"'Node' and '{type(seq).__name__}'|'{type(seq).__name__}' and 'Node'",
            ):
                op()


def test_numpy_operands_defer_to_the_node():
    x = Node(1.5)
    for y in (np.float64(2) * x, np.float64(2) + x, np.int64(3) - x, np.float64(2) ** x):
        assert isinstance(y, Node)
    arr = np.array([1.0, 2.0]) * x  # an object array of nodes, element by element
    assert [n.value for n in arr] == [1.5, 3.0]


def test_functions_on_plain_numbers_are_math():
    assert cs.exp(1.0) == math.e
    assert cs.log(np.float64(math.e)) == 1.0
    assert (cs.tanh(0.5), cs.sin(0.5), cs.cos(0.5), cs.sqrt(2)) == (
        math.tanh(0.5), math.sin(0.5), math.cos(0.5), math.sqrt(2))  # fmt: skip


def test_names_repr_and_notebook_attributes():
    x = Node(2.0, "x")
    y = x**3 + x**2 - x * 6 + 1
    assert x.name == "x=2.0" and Node(3).name == "Node=3"
    assert [y.name, (x / 2).name, (-x).name, x.exp().name, x.relu().name] == [
        " + =1.0", " / =1.0", "neg=-2.0", f"exp={math.exp(2.0)}", "relu=2.0"]  # fmt: skip
    assert repr(x) == "Node(name='x=2.0', grad=0)"
    backward(y)
    assert repr(x) == "Node(name='x=2.0', grad=10.0)"
    assert x._prev == () and x._backward() is None  # a leaf: no parents, nothing to do
    assert (x.value, x.grad) == (2.0, 10.0)
    x.value = 1.0  # a descent step updates the leaf; its name follows the value
    assert x.name == "x=1.0"


def test_manual_loop_equals_backward_for_every_operation():
    # the notebook's hand-written loop (y.grad = 1, then _backward in reverse order) and
    # backward() agree, node by node
    def build():
        a, b = Node(0.8, "a"), Node(1.7, "b")
        c = (
            a * b
            - a / b
            + a**b
            + 2**a
            - 3 / b
            + (-a).exp()
            + b.log()
            + a.tanh()
            + b.sin()
            + a.cos()
            + b.sqrt()
            + (a - 2).relu()
            + (b - 1).relu()
            + 4
            - a
            + 5 * b
            - 1.5**b
        )
        return a, b, c  # fmt: skip

    a, b, c = build()
    backward(c)
    a2, b2, c2 = build()
    topo, visited = [], set()
    stack = [(c2, False)]
    while stack:  # an iterative build_topo
        v, done = stack.pop()
        if done:
            topo.append(v)
        elif v not in visited:
            visited.add(v)
            stack.append((v, True))
            stack.extend((p, False) for p in reversed(v._prev))
    c2.grad = 1
    for node in reversed(topo):
        node._backward()
    assert (a2.grad, b2.grad) == pytest.approx((a.grad, b.grad), rel=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 50), st.integers(0, 50)),
             min_size=1, max_size=25),
    st.floats(0.2, 2.0), st.floats(0.2, 2.0),
)  # fmt: skip
def test_random_graphs_against_torch(program, av, bv):
    torch = pytest.importorskip("torch")

    def run(a, b, lib):
        vals = [a, b]
        for op, i, j in program:
            u, w = vals[i % len(vals)], vals[j % len(vals)]
            if op == 0:
                r = u + w
            elif op == 1:
                r = u - w
            elif op == 2:
                r = u * w
            elif op == 3:
                r = u * 0.5 + w * 0.25
            elif op == 4:
                r = lib["tanh"](u)
            elif op == 5:
                r = lib["sin"](u) * w
            elif op == 6:
                r = u / (1.5 + lib["tanh"](w))
            elif op == 7:
                r = 2 - u
            elif op == 8:
                r = lib["exp"](lib["tanh"](u))
            else:
                r = (u * u + 1) ** 0.5
            vals.append(r)
        return sum(vals[2:], vals[0] * 0.0) if len(vals) > 2 else vals[0]

    a, b = Node(av), Node(bv)
    y = run(a, b, {"tanh": cs.tanh, "sin": cs.sin, "exp": cs.exp})
    backward(y)
    at = torch.tensor(av, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(bv, dtype=torch.float64, requires_grad=True)
    yt = run(at, bt, {"tanh": torch.tanh, "sin": torch.sin, "exp": torch.exp})
    ga, gb = torch.autograd.grad(yt, (at, bt), allow_unused=True)
    assert y.value == pytest.approx(yt.item(), rel=1e-12, abs=1e-12)
    assert a.grad == pytest.approx(0.0 if ga is None else ga.item(), rel=1e-10, abs=1e-10)
    assert b.grad == pytest.approx(0.0 if gb is None else gb.item(), rel=1e-10, abs=1e-10)
