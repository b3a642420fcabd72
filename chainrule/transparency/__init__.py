"""Transparency: the chain rule step by step.

`cr.explain(f, *args)` evaluates `f`, runs the backward pass, and returns the two tables the
course notes narrate: the forward pass (each step, its operation, inputs and value, in
evaluation order) and the backward pass (each edge: the local derivative, the incoming
adjoint, their product, and the accumulated gradient — where the accumulation rule shows).
Plain text in a terminal, HTML in Jupyter.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> e = cr.explain(lambda x: (x ** 2 * cnp.cos(x)) ** 2, 3.141592653589793)
>>> print(e.gradient)
124.025
"""

from __future__ import annotations

import html
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.transparency.graph import Graph, capture, tensor_graph
from chainrule import numpy as cnp

__all__ = ["Explanation", "explain", "explain_node"]


def _num(v: Any) -> str:
    if v is None:
        return "—"
    a = np.asarray(v)
    if a.ndim == 0:
        x = a.item()
        if isinstance(x, complex):
            return f"{x:.6g}"
        return f"{x:.6g}" if isinstance(x, float) else str(x)
    if a.size <= 4:
        return "[" + ", ".join(f"{e:.4g}" for e in a.ravel()) + "]"
    return f"{a.dtype}{list(a.shape)} in [{a.min():.3g}, {a.max():.3g}]"


def _input_grad(step: Any) -> Any:
    """An input's gradient: its adjoint, or zeros when no gradient reaches it."""
    if step.grad is not None:
        return step.grad
    return 0.0 if step.value is None else np.zeros_like(step.value)


class Explanation:
    """The forward and backward tables of one computation (see `explain`)."""

    def __init__(self, graph: Graph):
        self.graph = graph

    @property
    def value(self) -> Any:
        """The function's value."""
        return self.graph.steps[self.graph.output].value

    @property
    def gradient(self) -> Any:
        """The gradient with respect to the (first) input."""
        return _input_grad(self.graph.steps[self.graph.inputs[0]])

    def forward_rows(self) -> list[tuple[str, ...]]:
        """(step, operation, value) in evaluation order."""
        return [(s.name, s.label, _num(s.value)) for s in self.graph.steps]

    def backward_rows(self) -> list[tuple[str, ...]]:
        """(edge, local derivative, incoming adjoint, product, accumulated gradient)."""
        steps = self.graph.steps
        rows = []
        for c in self.graph.contributions:
            edge = f"∂{steps[c.child].name}/∂{steps[c.parent].name}"
            rows.append((edge, _num(c.local), _num(c.incoming), _num(c.product),
                         f"{steps[c.parent].name}: {_num(c.accumulated)}"))  # fmt: skip
        return rows

    _FWD = ("step", "operation", "value")
    _BWD = ("edge", "local derivative", "× incoming adjoint", "= product", "accumulated")

    def __str__(self) -> str:
        out = ["Forward pass (evaluation order)", _text_table(self._FWD, self.forward_rows())]
        out += ["", "Backward pass (reverse order; adjoints accumulate over the edges)",
                _text_table(self._BWD, self.backward_rows())]  # fmt: skip
        out += ["", f"Result: {self.result()}"]
        out += [f"Note: {n}" for n in self.graph.notes]
        return "\n".join(out)

    def result(self) -> str:
        """'df/dx = …, df/dy = …': the gradient with respect to each input (0 for an input
        no gradient reaches)."""
        steps = self.graph.steps
        out = steps[self.graph.output].name
        return ", ".join(f"d{out}/d{steps[i].name} = {_num(_input_grad(steps[i]))}"
                         for i in self.graph.inputs)  # fmt: skip

    __repr__ = __str__

    def __rich__(self) -> Any:
        """Two rich tables, when `rich` is installed (`rich.print(explanation)`)."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        tables = []
        for title, head, rows in (("Forward pass", self._FWD, self.forward_rows()),
                                  ("Backward pass", self._BWD, self.backward_rows())):  # fmt: skip
            t = Table(title=title, title_justify="left")
            for h in head:
                t.add_column(h, justify="left" if h in ("step", "operation", "edge") else "right")
            for r in rows:
                t.add_row(*r)
            tables.append(t)
        lines = [f"Result: {self.result()}"] + [f"Note: {n}" for n in self.graph.notes]
        return Group(*tables, *(Text(ln) for ln in lines))  # Text: no markup in the labels

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>Note: {html.escape(n)}</p>" for n in self.graph.notes)
        return (
            "<p><b>Forward pass</b></p>" + _html_table(self._FWD, self.forward_rows())
            + "<p><b>Backward pass</b></p>" + _html_table(self._BWD, self.backward_rows())
            + f"<p>Result: {html.escape(self.result())}</p>" + notes
        )


def _text_table(head: tuple, rows: list) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda r: " | ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows])


def _html_table(head: tuple, rows: list) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def explain_node(out: Any) -> Explanation:
    """The tables for a graph of the scalar engine (`chainrule.scalar.Node.explain`): the
    graph is replayed, operation for operation, through the main engine."""
    from chainrule import scalar as S

    order, seen, stack = [], set(), [(out, False)]
    while stack:  # iterative post-order: parents before children
        n, done = stack.pop()
        if done:
            order.append(n)
        elif id(n) not in seen:
            seen.add(id(n))
            stack.append((n, True))
            stack.extend((p, False) for p in reversed(n._prev))
    leaves = [n for n in order if not n._op]
    # a leaf left with the default name is a number the engine wrapped (x * 6): a constant
    # of the tables, shown by its value, unless no leaf has a name of its own
    consts = {id(n): float(n.value) for n in leaves if n._nom == "Node"}
    if len(consts) < len(leaves):
        leaves = [n for n in leaves if id(n) not in consts]
    else:
        consts = {}
    ops = {S._ADD: lambda a, b: a + b, S._SUB: lambda a, b: a - b, S._MUL: lambda a, b: a * b,
           S._DIV: lambda a, b: a / b, S._POW: lambda a, b: a**b, S._NEG: lambda a, _: -a,
           S._EXP: lambda a, _: cnp.exp(a), S._LOG: lambda a, _: cnp.log(a),
           S._TANH: lambda a, _: cnp.tanh(a), S._SIN: lambda a, _: cnp.sin(a),
           S._COS: lambda a, _: cnp.cos(a), S._SQRT: lambda a, _: cnp.sqrt(a),
           S._RELU: lambda a, _: cnp.maximum(a, 0.0)}  # fmt: skip

    def replay(*values: Any) -> Any:
        env = dict(consts)
        env.update((id(n), v) for n, v in zip(leaves, values))
        for n in order:
            if n._op == S._POWN:
                env[id(n)] = env[id(n._a)] ** n._arg
            elif n._op:
                b = env[id(n._b)] if n._b is not None else None
                env[id(n)] = ops[n._op](env[id(n._a)], b)
        return env[id(out)]

    names, used = [], {}
    for n in leaves:
        k = used.get(n._nom, 0)
        used[n._nom] = k + 1
        names.append(n._nom if not k else f"{n._nom}{k + 1}")
    return Explanation(capture(replay, *[float(n.value) for n in leaves], names=names))


def graph_of(fun: Any, *args: Any) -> Graph:
    """The captured graph of `fun(*args)`, of a recorded Tensor, or of a scalar-engine Node."""
    from chainrule.core.ir import Program
    from chainrule.scalar import Node
    from chainrule.tensor import Tensor

    if isinstance(fun, Program):  # a staged program: run on `args`, or its structure
        from chainrule.transparency import program

        if not args:
            return program.structure(fun)
        return capture(program.as_function(fun), *args, names=program.input_names(fun))
    if isinstance(fun, Tensor):
        return tensor_graph(fun)
    if isinstance(fun, Node):
        return explain_node(fun).graph
    return capture(fun, *args)


def explain(fun: Callable, *args: Any) -> Any:
    """The chain rule at work on `fun(*args)`: forward and backward tables. `fun` may also be
    a recorded Tensor (`t.explain()`; values the graph did not keep show as —), a node of
    the scalar engine (`node.explain()`), or a staged program (`cr.make_graph`): with
    arguments it runs on them; without, the forward program and the backward program that
    grad stages from it are shown side by side (`chainrule.transparency.program`).

    >>> import chainrule as cr
    >>> print(cr.explain(lambda x: x ** 3 + x ** 2 - 6 * x + 1, 2.0))  # doctest: +ELLIPSIS
    Forward pass (evaluation order)
    step | operation | value
    ...
    Result: df/dx = 10
    """
    from chainrule.core.ir import Program

    if isinstance(fun, Program) and not args:
        from chainrule.transparency.program import ProgramExplanation

        return ProgramExplanation(fun)
    return Explanation(graph_of(fun, *args))
