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

from chainrule.explain.graph import Graph, capture

__all__ = ["Explanation", "explain"]


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
        g = self.graph.steps[self.graph.inputs[0]].grad
        return 0.0 * self.graph.steps[0].value if g is None else g

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
        grads = ", ".join(
            f"d{self.graph.steps[self.graph.output].name}/d{self.graph.steps[i].name} = "
            f"{_num(self.graph.steps[i].grad)}"
            for i in self.graph.inputs
        )
        out += ["", f"Result: {grads}"]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (
            "<p><b>Forward pass</b></p>" + _html_table(self._FWD, self.forward_rows())
            + "<p><b>Backward pass</b></p>" + _html_table(self._BWD, self.backward_rows())
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


def explain(fun: Callable, *args: Any) -> Explanation:
    """The chain rule at work on `fun(*args)`: forward and backward tables.

    >>> import chainrule as cr
    >>> print(cr.explain(lambda x: x ** 3 + x ** 2 - 6 * x + 1, 2.0))  # doctest: +ELLIPSIS
    Forward pass (evaluation order)
    step | operation | value
    ...
    Result: df/dx = 10
    """
    return Explanation(capture(fun, *args))
