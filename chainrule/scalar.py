"""The scalar teaching engine: reverse-mode automatic differentiation on Python numbers.

This is the ``Node`` class of the course notes (notebook 000, "Différentiation Automatique"),
kept compatible with the notebook's own cells, and made robust and fast:

* the notebook's surface: ``Node(value, nom="Node")`` with ``.value``, ``.grad``, ``.name``
  (``nom + "=" + str(value)``; operation nodes are named ``" + "``, ``" - "``, ``" * "``,
  ``" ** "`` as in the notebook), ``._prev`` (the parents) and ``._backward`` (a zero-argument
  callable applying the node's chain rule once, so that the notebook's hand-written loop
  ``for node in reversed(topo): node._backward()`` works unchanged);
* ``backward(node)`` (and ``node.backward()``) walks the graph without recursion (graphs of
  millions of nodes work), in a deterministic order (parents are kept in a tuple, in operand
  order, not in a set), counts shared sub-expressions once, and is idempotent: the gradients of
  the whole reachable graph are reset first, so calling it twice gives the same gradients;
* operators ``+ - * / **`` and unary ``-``, with plain numbers on either side (``2 * x``,
  ``1 - x``, ``x ** 3``, ``2 ** x``), and ``exp log tanh sin cos sqrt relu`` as methods and as
  functions of this module.

>>> from chainrule.scalar import Node, backward
>>> x = Node(2.0, "x")
>>> y = x**3 + x**2 - x*6 + 1
>>> backward(y)
>>> y.value, x.grad
(1.0, 10.0)
>>> [p.name for p in y._prev]
[' - =0.0', 'Node=1']

Conventions (documented choices):

* A plain-number operand is, as in the notebook, a constant leaf ``Node(number)``: it shows up
  in ``_prev`` and has a ``.grad`` (d output / d constant). To keep graphs light, the constant is
  held as a number until ``_prev`` is first read; the leaf made then has the gradient a
  ``backward`` already run would have given it, and later ``backward`` calls fill it like any
  other. The exponent of ``x ** n`` with a plain ``n`` is not a node (the notebook's
  ``__pow__``); ``x ** y`` with a ``Node`` exponent differentiates through both.
* Values are Python numbers: NumPy scalars are unboxed (``np.float64`` becomes ``float``), other
  real numbers (``int``, ``float``, ``fractions.Fraction``) are kept as given. Any other operand
  (a string, a complex, a list) is a ``TypeError`` naming its type.
* Domain errors follow Python's ``math`` module and raise rather than return ``nan``: ``log``
  of a value ``<= 0`` and ``sqrt`` of a negative value raise ``ValueError`` (with the value in
  the message), a negative base to a non-integer power raises ``ValueError`` (plain Python would
  return a complex), division by zero raises ``ZeroDivisionError``, ``exp`` overflow raises
  ``OverflowError``. Derivatives follow IEEE arithmetic where they are infinite: ``sqrt`` at 0
  and ``x ** 0.5`` at 0 get ``inf``.
* ``relu`` has derivative 0 at 0 (as PyTorch). The derivative of ``b ** e`` with respect to a
  ``Node`` exponent ``e`` is ``b**e * log(b)`` for ``b > 0``, 0 for ``b == 0`` and ``nan`` for
  ``b < 0`` (where it does not exist).
* ``.name`` is computed when read, from the node's current value.
* Gradients start at the integer ``0`` and the seed is ``1``, as in the notebook.
* ``backward`` is not thread-safe on a graph shared between threads.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from numbers import Real
from operator import attrgetter
from typing import Any

__all__ = ["Node", "backward", "cos", "exp", "log", "relu", "sin", "sqrt", "tanh"]

Number = int | float | Real

# The operations. A node's `_op` is one of these codes; `_a`, `_b` are its parent nodes (`_b` is
# None for one parent).
# fmt: off
(_LEAF,
 _ADD, _SUB, _MUL, _DIV, _POW,                        # two Node operands
 _POWN,                                               # x ** n, n a plain number (`_arg`)
 _NEG, _EXP, _LOG, _TANH, _SIN, _COS, _SQRT, _RELU,  # one Node operand
 # one Node operand and a plain number k (`_arg`), left (K...) or right (...K) of the operator
 _ADDK, _KADD, _SUBK, _KSUB, _MULK, _KMUL, _DIVK, _KDIV, _KPOW) = range(24)
_FIRST_K = _ADDK
_OP_NAMES = (
    "Node",
    " + ", " - ", " * ", " / ", " ** ",
    " ** ",
    "neg", "exp", "log", "tanh", "sin", "cos", "sqrt", "relu",
    " + ", " + ", " - ", " - ", " * ", " * ", " / ", " / ", " ** ",
)
# k-operation -> (the two-Node operation, whether the constant is the left operand)
_WITH_CONSTANT_NODE = {
    _ADDK: (_ADD, False), _KADD: (_ADD, True), _SUBK: (_SUB, False), _KSUB: (_SUB, True),
    _MULK: (_MUL, False), _KMUL: (_MUL, True), _DIVK: (_DIV, False), _KDIV: (_DIV, True),
    _KPOW: (_POW, True),
}
# fmt: on

_new = object.__new__
_next = itertools.count().__next__  # creation index of operation nodes: a topological order
_creation_index = attrgetter("_i")
_exp, _log, _tanh, _sin, _cos, _sqrt = math.exp, math.log, math.tanh, math.sin, math.cos, math.sqrt
_INF, _NAN = math.inf, math.nan


def _unbox(value: Any) -> Any:
    """`value` as a plain Python real number (NumPy scalars unboxed), or None."""
    if isinstance(value, float):  # np.float64 and other float subclasses
        return float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Real):
        if type(value).__module__ == "numpy":  # np.float32, np.int64, ...
            return value.item()  # type: ignore[attr-defined]
        return value  # Fraction and other exact reals
    return None


class Node:
    """A scalar in a computation graph: its value, its gradient, and how it was computed.

    ``Node(value, nom="Node")`` makes a leaf; operators and functions on nodes make new nodes
    that remember their parents (``_prev``) and their operation, so that ``backward`` can apply
    the chain rule from an output back to every node it depends on.

    >>> x = Node(3.0, "x")
    >>> x
    Node(name='x=3.0', grad=0)
    >>> y = 2 * x ** 2 - 1 / x
    >>> y.backward()
    >>> round(y.value, 6), round(x.grad, 6)  # 2x² − 1/x and 4x + 1/x²
    (17.666667, 12.111111)
    >>> [p.name for p in (x * 6)._prev]
    ['x=3.0', 'Node=6']
    >>> Node("3")
    Traceback (most recent call last):
    ...
    TypeError: Node value must be a real number, not 'str'
    """

    # _a, _b: the parent nodes of an operation (_b None for one parent; two slots rather than a
    # tuple: one allocation less per node); _nom: a leaf's name; _arg: the plain number of
    # `x ** n` and of the k-operations; _i: creation index; _m: mark of the last walk.
    __slots__ = ("value", "grad", "_op", "_a", "_b", "_nom", "_arg", "_i", "_m")

    value: Any
    grad: Any
    _op: int
    _a: Node
    _b: Node | None
    _nom: str
    _arg: Any
    _i: int
    _m: object

    def __init__(self, value: Number, nom: str = "Node") -> None:
        t = type(value)
        if t is not float and t is not int:
            v = float(value) if isinstance(value, float) else _unbox(value)
            if v is None:
                raise TypeError(f"Node value must be a real number, not {type(value).__name__!r}")
            value = v
        self.value = value
        self.grad = 0
        self._op = _LEAF
        self._nom = nom

    # -- the notebook's attributes -------------------------------------------------------------

    @property
    def name(self) -> str:
        """``nom + "=" + str(value)`` (operations: ``" + "``, ``" * "``, ... as ``nom``).

        >>> x = Node(2.0, "x")
        >>> x.name, (x + 1).name, (x ** 3).name, Node(6).name
        ('x=2.0', ' + =3.0', ' ** =8.0', 'Node=6')
        """
        op = self._op
        return (_OP_NAMES[op] if op else self._nom) + "=" + str(self.value)

    @property
    def _prev(self) -> tuple[Node, ...]:
        """The parents, a tuple in operand order (the notebook's set, made deterministic).

        >>> x = Node(2.0, "x")
        >>> [p.name for p in (1 - x)._prev], (x ** 3)._prev == (x,)
        (['Node=1', 'x=2.0'], True)
        """
        op = self._op
        if not op:
            return ()
        if op >= _FIRST_K:
            _constant_node(self)
        b = self._b
        return (self._a,) if b is None else (self._a, b)

    @property
    def _backward(self) -> Callable[[], None]:
        """A zero-argument callable applying this node's chain rule once: it adds this node's
        ``grad`` times the local derivatives into its parents' ``grad`` (nothing for a leaf).

        >>> x = Node(2.0, "x")
        >>> y = x * x
        >>> y.grad = 1
        >>> y._backward()
        >>> x.grad
        4.0
        """
        return self._apply_rule

    def _apply_rule(self) -> None:
        if self._op:
            _RULES[self._op](self, self.grad)

    def __repr__(self) -> str:
        return f"Node(name={self.name!r}, grad={self.grad!r})"

    # -- operators -----------------------------------------------------------------------------
    # Written out one by one: this is the hot path (no closure, no helper call per node).

    def __add__(self, other: Node | Number) -> Node:
        out = _new(Node)
        if isinstance(other, Node):
            out.value = self.value + other.value
            out._a = self
            out._b = other
            out._op = _ADD
        else:
            t = type(other)
            if t is not float and t is not int:
                other = _unbox(other)
                if other is None:
                    return NotImplemented
            out.value = self.value + other
            out._a = self
            out._b = None
            out._op = _ADDK
            out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __radd__(self, other: Number) -> Node:
        t = type(other)
        if t is not float and t is not int:
            other = _unbox(other)
            if other is None:
                return NotImplemented
        out = _new(Node)
        out.value = other + self.value
        out._a = self
        out._b = None
        out._op = _KADD
        out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __sub__(self, other: Node | Number) -> Node:
        out = _new(Node)
        if isinstance(other, Node):
            out.value = self.value - other.value
            out._a = self
            out._b = other
            out._op = _SUB
        else:
            t = type(other)
            if t is not float and t is not int:
                other = _unbox(other)
                if other is None:
                    return NotImplemented
            out.value = self.value - other
            out._a = self
            out._b = None
            out._op = _SUBK
            out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __rsub__(self, other: Number) -> Node:
        t = type(other)
        if t is not float and t is not int:
            other = _unbox(other)
            if other is None:
                return NotImplemented
        out = _new(Node)
        out.value = other - self.value
        out._a = self
        out._b = None
        out._op = _KSUB
        out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __mul__(self, other: Node | Number) -> Node:
        out = _new(Node)
        if isinstance(other, Node):
            out.value = self.value * other.value
            out._a = self
            out._b = other
            out._op = _MUL
        else:
            t = type(other)
            if t is not float and t is not int:
                k = _unbox(other)
                if k is None:
                    return _not_a_number("*", self, other)
                other = k
            out.value = self.value * other
            out._a = self
            out._b = None
            out._op = _MULK
            out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __rmul__(self, other: Number) -> Node:
        t = type(other)
        if t is not float and t is not int:
            k = _unbox(other)
            if k is None:
                return _not_a_number("*", other, self)
            other = k
        out = _new(Node)
        out.value = other * self.value
        out._a = self
        out._b = None
        out._op = _KMUL
        out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __truediv__(self, other: Node | Number) -> Node:
        out = _new(Node)
        if isinstance(other, Node):
            out.value = self.value / other.value
            out._a = self
            out._b = other
            out._op = _DIV
        else:
            t = type(other)
            if t is not float and t is not int:
                other = _unbox(other)
                if other is None:
                    return NotImplemented
            out.value = self.value / other
            out._a = self
            out._b = None
            out._op = _DIVK
            out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __rtruediv__(self, other: Number) -> Node:
        t = type(other)
        if t is not float and t is not int:
            other = _unbox(other)
            if other is None:
                return NotImplemented
        out = _new(Node)
        out.value = other / self.value
        out._a = self
        out._b = None
        out._op = _KDIV
        out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __pow__(self, n: Node | Number) -> Node:
        out = _new(Node)
        if isinstance(n, Node):
            out.value = _power(self.value, n.value)
            out._a = self
            out._b = n
            out._op = _POW
        else:
            t = type(n)
            if t is int:  # a real to an integer power is real
                out.value = self.value**n
            else:
                if t is not float:
                    n = _unbox(n)
                    if n is None:
                        return NotImplemented
                out.value = _power(self.value, n)
            out._a = self
            out._b = None
            out._op = _POWN
            out._arg = n
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __rpow__(self, other: Number) -> Node:
        t = type(other)
        if t is not float and t is not int:
            other = _unbox(other)
            if other is None:
                return NotImplemented
        out = _new(Node)
        out.value = _power(other, self.value)
        out._a = self
        out._b = None
        out._op = _KPOW
        out._arg = other
        out.grad = 0
        out._i = _next()
        out._m = None
        return out

    def __neg__(self) -> Node:
        return _unary(self, -self.value, _NEG)

    def __pos__(self) -> Node:
        return self

    # -- functions -----------------------------------------------------------------------------

    def exp(self) -> Node:
        """``e ** self``.

        >>> x = Node(0.0); y = x.exp(); y.backward(); (y.value, x.grad)
        (1.0, 1.0)
        """
        return _unary(self, _exp(self.value), _EXP)

    def log(self) -> Node:
        """Natural logarithm; ``ValueError`` for a value ``<= 0`` (as ``math.log``).

        >>> x = Node(2.0); y = x.log(); y.backward(); x.grad
        0.5
        >>> Node(0.0).log()
        Traceback (most recent call last):
        ...
        ValueError: log of a non-positive value: 0.0 (math domain error)
        """
        v = self.value
        if v <= 0:
            raise ValueError(f"log of a non-positive value: {v!r} (math domain error)")
        return _unary(self, _log(v), _LOG)

    def tanh(self) -> Node:
        """Hyperbolic tangent.

        >>> x = Node(0.0); y = x.tanh(); y.backward(); (y.value, x.grad)
        (0.0, 1.0)
        """
        return _unary(self, _tanh(self.value), _TANH)

    def sin(self) -> Node:
        """Sine.

        >>> x = Node(0.0); y = x.sin(); y.backward(); (y.value, x.grad)
        (0.0, 1.0)
        """
        return _unary(self, _sin(self.value), _SIN)

    def cos(self) -> Node:
        """Cosine.

        >>> x = Node(0.0); y = x.cos(); y.backward(); (y.value, x.grad)
        (1.0, -0.0)
        """
        return _unary(self, _cos(self.value), _COS)

    def sqrt(self) -> Node:
        """Square root; ``ValueError`` for a negative value (as ``math.sqrt``).

        >>> x = Node(4.0); y = x.sqrt(); y.backward(); (y.value, x.grad)
        (2.0, 0.25)
        """
        v = self.value
        if v < 0:
            raise ValueError(f"sqrt of a negative value: {v!r} (math domain error)")
        return _unary(self, _sqrt(v), _SQRT)

    def relu(self) -> Node:
        """``max(self, 0)``, with derivative 0 at 0.

        >>> x = Node(-2.0); y = x.relu(); y.backward(); (y.value, x.grad)
        (0.0, 0)
        >>> x = Node(3.0); y = x.relu(); y.backward(); (y.value, x.grad)
        (3.0, 1)
        """
        v = self.value
        return _unary(self, v if v > 0 else _zero(v), _RELU)

    def explain(self) -> Any:
        """The forward and backward tables of the chain rule behind this node (as
        `chainrule.explain`), replayed through the main engine. Numbers the engine wrapped
        (the 6 and the 1 below) are constants of the tables, shown by their values.

        >>> x = Node(2.0, "x")
        >>> print(str((x ** 3 + x ** 2 - x * 6 + 1).explain()).splitlines()[-1])
        Result: df/dx = 10
        """
        from chainrule.core.plugins import load

        return load("explain_node")(self)

    def backward(self) -> None:
        """``backward(self)``: the gradient of this node with respect to every node it depends on.

        >>> x = Node(3.0)
        >>> (x * x).backward()
        >>> x.grad
        6.0
        """
        backward(self)


def _not_a_number(op: str, left: Any, right: Any) -> Any:
    """NotImplemented (Python then raises its TypeError naming both types), except for a
    sequence, which Python would try to repeat and blame the Node ('can't multiply sequence by
    non-int of type Node'): the TypeError then names the sequence's type."""
    other = right if isinstance(left, Node) else left
    if isinstance(other, (str, bytes, list, tuple)):
        raise TypeError(
            f"unsupported operand type(s) for {op}: "
            f"{type(left).__name__!r} and {type(right).__name__!r}"
        )
    return NotImplemented


def _unary(a: Node, value: Any, op: int) -> Node:
    out = _new(Node)
    out.value = value
    out.grad = 0
    out._a = a
    out._b = None
    out._op = op
    out._i = _next()
    out._m = None
    return out


def _zero(v: Any) -> Any:
    """relu's 0 for a non-positive `v`: 0.0 for a float, 0 otherwise; nan stays nan."""
    if v != v:
        return v
    return 0.0 if isinstance(v, float) else 0


def _power(a: Any, b: Any) -> Any:
    """``a ** b`` as a real number: ValueError where Python would return a complex."""
    v = a**b
    if type(v) is complex:
        raise ValueError(f"negative base to a non-integer power: ({a!r}) ** {b!r}")
    return v


def _constant_node(n: Node) -> None:
    """Turn the k-operation `n` into its two-Node operation, with a constant leaf `Node(k)`
    holding the gradient that `backward` would have given it."""
    op, left = _WITH_CONSTANT_NODE[n._op]
    a = n._a
    c = Node(n._arg)
    if left:
        n._a, n._b = c, a
    else:
        n._b = c
    n._op = op
    if n.grad:  # a backward already ran: replay the rule, for the constant's share only
        keep = a.grad
        _RULES[op](n, n.grad)
        a.grad = keep


# -- the chain rule of each operation: (node n, its gradient g) -> add into the parents' grads --


def _r_add(n: Node, g: Any) -> None:
    a = n._a
    b = n._b
    a.grad += g
    b.grad += g


def _r_sub(n: Node, g: Any) -> None:
    a = n._a
    b = n._b
    a.grad += g
    b.grad -= g


def _r_mul(n: Node, g: Any) -> None:
    a = n._a
    b = n._b
    a.grad += b.value * g
    b.grad += a.value * g


def _r_div(n: Node, g: Any) -> None:  # d(a/b) = da / b − (a/b) db / b
    a = n._a
    b = n._b
    gb = g / b.value
    a.grad += gb
    b.grad -= n.value * gb


def _d_base(a: Any, k: Any) -> Any:
    """d(a**k)/da = k a**(k−1); 0 for k = 0, and inf at a = 0 for 0 < k < 1 (IEEE)."""
    if not k:
        return 0
    try:
        return k * a ** (k - 1)
    except ZeroDivisionError:  # 0.0 ** negative
        return _INF


def _d_exponent(n: Node, a: Any) -> Any:
    """d(a**b)/db = a**b log(a); 0 at a = 0, nan for a < 0 (no real derivative)."""
    if a > 0:
        return n.value * _log(a)
    return 0 if a == 0 else _NAN


def _r_pow(n: Node, g: Any) -> None:
    a = n._a
    b = n._b
    a.grad += _d_base(a.value, b.value) * g
    b.grad += _d_exponent(n, a.value) * g


def _r_pown(n: Node, g: Any) -> None:  # the notebook's n * x**(n-1) (inlined _d_base)
    k = n._arg
    if k:
        a = n._a
        try:
            a.grad += k * a.value ** (k - 1) * g
        except ZeroDivisionError:  # 0.0 ** negative: d(x**k)/dx at 0 for 0 < k < 1
            a.grad += _INF * g


def _r_neg(n: Node, g: Any) -> None:
    n._a.grad -= g


def _r_exp(n: Node, g: Any) -> None:
    n._a.grad += n.value * g


def _r_log(n: Node, g: Any) -> None:
    a = n._a
    a.grad += g / a.value


def _r_tanh(n: Node, g: Any) -> None:
    t = n.value
    n._a.grad += (1 - t * t) * g


def _r_sin(n: Node, g: Any) -> None:
    a = n._a
    a.grad += _cos(a.value) * g


def _r_cos(n: Node, g: Any) -> None:
    a = n._a
    a.grad -= _sin(a.value) * g


def _r_sqrt(n: Node, g: Any) -> None:
    v = n.value
    n._a.grad += g / (2 * v) if v else _INF * g


def _r_relu(n: Node, g: Any) -> None:
    if n.value > 0:
        n._a.grad += g


def _r_addk(n: Node, g: Any) -> None:  # x + k and k + x
    n._a.grad += g


def _r_ksub(n: Node, g: Any) -> None:  # k - x
    n._a.grad -= g


def _r_mulk(n: Node, g: Any) -> None:  # x * k and k * x
    n._a.grad += n._arg * g


def _r_divk(n: Node, g: Any) -> None:  # x / k
    n._a.grad += g / n._arg


def _r_kdiv(n: Node, g: Any) -> None:  # k / x: −(k/x)/x
    a = n._a
    a.grad -= n.value / a.value * g


def _r_kpow(n: Node, g: Any) -> None:  # k ** x
    n._a.grad += _d_exponent(n, n._arg) * g


# one row per operation code, in the order of the codes
# fmt: off
_RULES: tuple[Callable[[Node, Any], None], ...] = (
    _r_add,  # _LEAF: never called (leaves are skipped)
    _r_add, _r_sub, _r_mul, _r_div, _r_pow,
    _r_pown,
    _r_neg, _r_exp, _r_log, _r_tanh, _r_sin, _r_cos, _r_sqrt, _r_relu,
    _r_addk, _r_addk, _r_addk, _r_ksub, _r_mulk, _r_mulk, _r_divk, _r_kdiv, _r_kpow,
)
# fmt: on
assert len(_RULES) == len(_OP_NAMES) == _KPOW + 1


def backward(node: Node) -> None:
    """Set ``.grad`` of every node that ``node`` depends on to d(node)/d(that node).

    The gradients of the whole reachable graph are reset first (``node.grad`` to 1, the others
    to 0), so calling ``backward`` twice gives the same result. The graph is walked without
    recursion, in a deterministic order, each node once: shared sub-expressions are counted once.

    >>> x = Node(2.0, "x")
    >>> y = x**3 + x**2 - x*6 + 1
    >>> backward(y); backward(y)
    >>> x.grad
    10.0
    >>> backward(1.0)
    Traceback (most recent call last):
    ...
    TypeError: backward expects a Node, not 'float'
    """
    if not isinstance(node, Node):
        raise TypeError(f"backward expects a Node, not {type(node).__name__!r}")
    if not node._op:  # a leaf: d(node)/d(node) = 1
        node.grad = 1
        return
    # Pass 1: reset the gradients of the reachable graph and list its operations, each once
    # (leaves have no rule to run: they are only reset).
    mark = object()
    node._m = mark
    ops = [node]
    push = ops.append
    for n in ops:  # the list grows while it is walked: breadth first, no recursion
        n.grad = 0
        p = n._a
        if p._op:
            if p._m is not mark:
                p._m = mark
                push(p)
        else:
            p.grad = 0
        p = n._b
        if p is not None:
            if p._op:
                if p._m is not mark:
                    p._m = mark
                    push(p)
            else:
                p.grad = 0
    # Pass 2: a node is created after its parents, so in reverse creation order each node has
    # received all of its gradient before its own rule runs.
    ops.sort(key=_creation_index, reverse=True)
    node.grad = 1
    rules = _RULES
    for n in ops:
        rules[n._op](n, n.grad)


# -- the functions, on nodes and on plain numbers ----------------------------------------------


def _plain(x: Any, fname: str) -> Any:
    v = _unbox(x)
    if v is None:
        raise TypeError(
            f"{fname}'s argument must be a Node or a real number, not {type(x).__name__!r}"
        )
    return v


def exp(x: Node | Number) -> Node | float:
    """``e ** x``: a ``Node`` for a ``Node``, ``math.exp(x)`` for a plain number.

    >>> from chainrule.scalar import exp
    >>> x = Node(1.0); y = exp(x); backward(y); x.grad == y.value == exp(1.0)
    True
    """
    return x.exp() if isinstance(x, Node) else _exp(_plain(x, "exp"))


def log(x: Node | Number) -> Node | float:
    """Natural logarithm: a ``Node`` for a ``Node``, ``math.log(x)`` for a plain number.

    >>> from chainrule.scalar import log
    >>> x = Node(4.0); y = log(x); backward(y); x.grad
    0.25
    >>> log("e")
    Traceback (most recent call last):
    ...
    TypeError: log's argument must be a Node or a real number, not 'str'
    """
    return x.log() if isinstance(x, Node) else _log(_plain(x, "log"))


def tanh(x: Node | Number) -> Node | float:
    """Hyperbolic tangent: a ``Node`` for a ``Node``, ``math.tanh(x)`` for a plain number.

    >>> from chainrule.scalar import tanh
    >>> x = Node(0.5); y = tanh(x); backward(y); abs(x.grad - (1 - y.value**2)) < 1e-15
    True
    """
    return x.tanh() if isinstance(x, Node) else _tanh(_plain(x, "tanh"))


def sin(x: Node | Number) -> Node | float:
    """Sine: a ``Node`` for a ``Node``, ``math.sin(x)`` for a plain number.

    >>> from chainrule.scalar import sin, cos
    >>> x = Node(1.0); y = sin(x); backward(y); x.grad == cos(1.0)
    True
    """
    return x.sin() if isinstance(x, Node) else _sin(_plain(x, "sin"))


def cos(x: Node | Number) -> Node | float:
    """Cosine: a ``Node`` for a ``Node``, ``math.cos(x)`` for a plain number.

    >>> from chainrule.scalar import sin, cos
    >>> x = Node(1.0); y = cos(x); backward(y); x.grad == -sin(1.0)
    True
    """
    return x.cos() if isinstance(x, Node) else _cos(_plain(x, "cos"))


def sqrt(x: Node | Number) -> Node | float:
    """Square root: a ``Node`` for a ``Node``, ``math.sqrt(x)`` for a plain number.

    >>> from chainrule.scalar import sqrt
    >>> x = Node(9.0); y = sqrt(x); backward(y); (y.value, round(x.grad, 12))
    (3.0, 0.166666666667)
    """
    return x.sqrt() if isinstance(x, Node) else _sqrt(_plain(x, "sqrt"))


def relu(x: Node | Number) -> Node | Number:
    """``max(x, 0)``: a ``Node`` for a ``Node``, a plain number for a plain number.

    >>> from chainrule.scalar import relu
    >>> relu(-1.5), relu(2.5), relu(-3), relu(Node(2.5)).value
    (0.0, 2.5, 0, 2.5)
    """
    if isinstance(x, Node):
        return x.relu()
    v = _plain(x, "relu")
    return v if v > 0 else _zero(v)
