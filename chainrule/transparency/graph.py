"""Capturing a computation as a graph with its values and, after the backward pass, its
adjoints and every edge's contribution: what the explanations and drawings show.

>>> import chainrule.numpy as cnp
>>> g = capture(lambda x: (x ** 2 * cnp.cos(x)) ** 2, 3.14159)
>>> [(s.name, s.label) for s in g.steps]  # doctest: +NORMALIZE_WHITESPACE
[('x', 'x'), ('v1', 'x²'), ('v2', 'cos(x)'), ('v3', 'v1 × v2'), ('f', 'v3²')]
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core.trace import end_trace, new_trace
from chainrule.transforms import reverse
from chainrule.transforms.reverse import Node, ReverseTrace, RTracer, check_float, node_cotangents

# How each primitive reads in a table: infix symbols, or a function name. Powers have one
# notation everywhere: a superscript for a small integer exponent (x², v1³, x⁻¹, as `square`
# reads), "x ** 2.5" otherwise.
_INFIX = {"add": "+", "sub": "−", "mul": "×", "div": "/"}
_UNARY = {"neg": "−{}", "square": "{}²", "reciprocal": "1/{}", "abs": "|{}|"}
_SUPERSCRIPT = str.maketrans("0123456789-−", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")


def power_label(base: str, exponent: str) -> str:
    """`base` to the power `exponent`: a superscript for an integer exponent of at most two
    digits, `base ** exponent` otherwise.

    >>> power_label("x", "3"), power_label("v1", "-1"), power_label("x", "2.5")
    ('x³', 'v1⁻¹', 'x ** 2.5')
    """
    e = exponent.strip()
    digits = e[1:] if e[:1] in ("-", "−") else e
    if digits.isascii() and digits.isdigit() and len(digits) <= 2:
        return base + e.translate(_SUPERSCRIPT)
    return f"{base} ** {exponent}"


class TypeOnly(str):
    """A step's type ('f64[2]') where its value is not known: a program drawn without
    arguments."""


@dataclass
class Step:
    """One value of the computation: an input or the result of one operation."""

    index: int
    name: str  # "x" for inputs, "v1", "v2", ... for intermediate values
    op: str  # "input", or the primitive's name
    inputs: list  # names of the steps or constants it reads
    value: Any
    grad: Any = None  # the adjoint: d(output)/d(this value), after the backward pass
    node: Node | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        """The operation as a formula of its inputs: 'v1 × v2', 'cos(x)'."""
        if self.op == "input":
            return self.name
        a = self.inputs
        if self.op in _INFIX and len(a) == 2:
            return f"{a[0]} {_INFIX[self.op]} {a[1]}"
        if self.op == "pow" and len(a) == 2:
            if a[1][:1].isdigit() or a[1][:1] in "-−":  # a constant exponent
                return power_label(a[0], a[1])
            return f"{a[0]} ** {a[1]}"
        if self.op == "integer_pow" and len(a) == 1 and self.node is not None:
            return power_label(a[0], str(self.node.params["y"]))  # (the Tensor face's x ** 3)
        if self.op == "constant":
            return "constant"
        if self.op in _UNARY and len(a) == 1:
            return _UNARY[self.op].format(a[0])
        return f"{self.op}({', '.join(a)})"


@dataclass
class Contribution:
    """One edge of the backward pass: how much the adjoint of `child` adds to `parent`'s."""

    child: int  # step indices
    parent: int
    local: Any  # ∂child/∂parent (for scalar values), else None
    incoming: Any  # the child's adjoint
    product: Any  # the contribution: local × incoming (a vector-Jacobian product)
    accumulated: Any  # the parent's adjoint after adding it


@dataclass
class Graph:
    """A captured computation: steps in evaluation order, and the backward pass's edges."""

    steps: list[Step]
    output: int
    inputs: list[int]
    contributions: list[Contribution] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the tables should say besides

    def __getitem__(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)


class _Recording(ReverseTrace):
    """A reverse trace that also keeps, in order, every operation with its operands and
    result (the graph itself keeps only what the rules need)."""

    __slots__ = ("made",)

    def process_primitive(self, prim: Any, args: tuple, params: dict) -> Any:
        out = ReverseTrace.process_primitive(self, prim, args, params)
        for o in out if isinstance(out, tuple) else (out,):
            if isinstance(o, RTracer) and o._trace is self:
                self.made.append((o._node, o._value, args))
        return out


class _Explaining(_Recording):
    """The recording of `capture`: an operation that carries no gradient (floor, ceil, sign,
    round, ...) applied to a traced value still appears, as a step whose float result is a
    new leaf of the trace, so that the tables and the drawings show what follows it (and
    that the input's gradient is 0 through it) instead of losing the rest of the formula."""

    __slots__ = ("cut",)

    def process_primitive(self, prim: Any, args: tuple, params: dict) -> Any:
        out = _Recording.process_primitive(self, prim, args, params)
        if (getattr(prim, "nondiff", False) and not getattr(prim, "multiple_results", False)
                and not isinstance(out, RTracer) and getattr(out, "dtype", None) is not None
                and np.dtype(out.dtype).kind in "fc"
                and any(isinstance(a, RTracer) and a._trace is self for a in args)):  # fmt: skip
            leaf = self.leaf(out)
            self.cut[leaf._node] = (str(prim), args)
            self.made.append((leaf._node, out, args))
            return leaf
        return out


def _fmt_const(v: Any) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        x = a.item()
        return f"{x:g}" if isinstance(x, float) else str(x)
    return f"<{a.dtype}{list(a.shape)}>"


def _names(fun: Callable, n: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(fun).parameters]
    except (TypeError, ValueError):
        params = []
    names = params[:n]
    return names + [f"x{i}" for i in range(len(names), n)]


def capture(fun: Callable, *args: Any, names: list[str] | None = None) -> Graph:
    """Evaluate `fun(*args)` recording every step, then run the backward pass from its
    (scalar or seeded-with-ones) output recording every edge's contribution."""
    return capture_with(_Explaining, fun, *args, names=names, extra={"cut": {}})[0]


def capture_with(
    cls: type,
    fun: Callable,
    *args: Any,
    names: list[str] | None = None,
    extra: dict | None = None,
    constant_ok: bool = False,
) -> tuple[Graph, Any]:
    """`capture` with a recording trace class of one's own; returns the graph and the trace.
    With `constant_ok`, an output that does not depend on the inputs is a constant step."""
    trace = new_trace(cls, "explain", fun)
    try:
        trace.made = []
        for k, v in (extra or {}).items():
            setattr(trace, k, v)
        names = names or _names(fun, len(args))
        tracers = [trace.leaf(check_float(a, fun, i, "explain")) for i, a in enumerate(args)]
        out = fun(*tracers)
    finally:
        end_trace(trace)
    steps: list[Step] = []
    by_node: dict = {}
    cuts: list[int] = []  # steps that carry no gradient back to their operands
    for name, t in zip(names, tracers):
        by_node[t._node] = len(steps)
        steps.append(Step(len(steps), name, "input", [], t._value, node=t._node))
    k = 0
    for node, value, operands in trace.made:
        if node in by_node:
            continue
        k += 1
        cut = getattr(trace, "cut", {}).get(node)
        if cut is not None:  # an operation without gradient: its operands by name
            prim, cut_args = cut
            ins = [steps[by_node[a._node]].name if isinstance(a, RTracer) and a._trace is trace
                   and a._node in by_node else _fmt_const(trace.lower(a)) for a in cut_args]
            cuts.append(len(steps))
        else:
            ins = [
                steps[by_node[p]].name if p is not None else _fmt_const(trace.lower(a))
                for p, a in zip(node.parents, operands)
            ]
            prim = str(node.prim)
        by_node[node] = len(steps)
        steps.append(Step(len(steps), f"v{k}", prim, ins, value, node=node))
    if not isinstance(out, RTracer) or out._trace is not trace:
        if not constant_ok:
            raise ValueError("explain: the output does not depend on the inputs")
        value = trace.lower(out)
        steps.append(Step(len(steps), "f", "constant", [], value))
        return Graph(steps, len(steps) - 1, list(range(len(tracers)))), trace
    graph = Graph(steps, by_node[out._node], list(range(len(tracers))))
    if steps[graph.output].op != "input":
        steps[graph.output].name = "f"
    _backward(graph, out, by_node)
    for i in cuts:
        s = steps[i]
        graph.notes.append(f"{s.name} = {s.label} passes no gradient back: {s.op} is "
                           "integer-valued, its derivative is 0 wherever it is defined")
    return graph, trace


def _local(node: Node, i: int, g: Any) -> Any:
    """∂node/∂(operand i) for scalar values: the rule applied to a unit cotangent."""
    if np.ndim(g) != 0 or np.ndim(node.saved[i + 1] if node.saved[i + 1] is not None else 0):
        return None
    one = np.ones((), np.result_type(g))
    return node_cotangents(node, one, node.saved)[i]


def tensor_graph(t: Any) -> Graph:
    """The recorded graph behind a Tensor, with its adjoints: values the graph did not keep
    (intermediate results no rule needs) show as None."""
    root = getattr(t, "_node", None)
    if root is None:
        raise ValueError("explain: this tensor was not recorded (it does not require grad)")
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # iterative post-order: parents before children
        n, done = stack.pop()
        if done:
            order.append(n)
        elif n not in seen:
            seen.add(n)
            stack.append((n, True))
            stack.extend((p, False) for p in reversed(n.parents) if p is not None)
    steps: list[Step] = []
    by_node: dict = {}
    k = 0
    for n in order:
        if n.prim is None:
            owner = n.meta.owner() if n.meta is not None and n.meta.owner is not None else None
            name = "x" if not by_node else f"x{sum(s.op == 'input' for s in steps) + 1}"
            value = None if owner is None else owner._value
            step = Step(len(steps), name, "input", [], value, node=n)
        else:
            k += 1
            saved = n.saved if isinstance(n.saved, tuple) and n.saved else (None,) * (
                len(n.parents) + 1)  # fmt: skip
            ins = [steps[by_node[p]].name if p is not None else
                   (_fmt_const(v) if v is not None and not isinstance(v, Node) else "c")
                   for p, v in zip(n.parents, saved[1:])]  # fmt: skip
            value = t._value if n is root else (saved[0] if not isinstance(saved[0], tuple)
                                                 else None)  # fmt: skip
            step = Step(len(steps), f"v{k}", str(n.prim), ins, value, node=n)
        by_node[n] = len(steps)
        steps.append(step)
    for s in steps:  # values a consumer kept as its operand
        n = s.node
        if s.op != "input" and isinstance(n.saved, tuple):
            for p, v in zip(n.parents, n.saved[1:]):
                if p is not None and v is not None and not isinstance(v, Node) and \
                        steps[by_node[p]].value is None:  # fmt: skip
                    steps[by_node[p]].value = v
    graph = Graph(steps, by_node[root], [i for i, s in enumerate(steps) if s.op == "input"])
    if steps[graph.output].op != "input":
        steps[graph.output].name = "f"
    _run_backward(graph, root, t._value, by_node)
    return graph


def _backward(graph: Graph, out: RTracer, by_node: dict) -> None:
    _run_backward(graph, out._node, out._value, by_node)


def _run_backward(graph: Graph, root: Node, value: Any, by_node: dict) -> None:
    def observe(node: Node, i: int, parent: Node, g: Any, ct: Any) -> None:
        acc = ct if parent.ct is None else parent.ct + ct
        graph.contributions.append(
            Contribution(by_node[node], by_node[parent], _local(node, i, g), g, ct, acc)
        )

    seed = np.ones(np.shape(value), np.result_type(value))
    leaves = reverse.backward_pass([(root, seed)], True, None, None, observe)
    graph.steps[graph.output].grad = seed
    for c in graph.contributions:
        graph.steps[c.parent].grad = c.accumulated
    for leaf in leaves:
        leaf.ct = None
