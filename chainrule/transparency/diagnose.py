"""Why is my gradient zero (or None)? `explain_gradient` names where the path from the output
back to an input breaks.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> print(cr.explain_gradient(lambda x: cnp.floor(x) * 2.0, 1.5).reason)
the path from f back to x breaks at floor(x): floor is integer-valued, it carries no gradient
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.trace import Tracer
from chainrule.transparency.graph import Graph, Step, _Recording, capture_with

__all__ = ["Diagnosis", "explain_gradient"]

_RELU_LIKE = {"maximum", "minimum", "fmax", "fmin", "clip", "where", "abs"}


@dataclass
class Diagnosis:
    """Why the gradient of the output with respect to one input is what it is.

    `cause` is one of: "connected" (a nonzero gradient), "unused", "stop_gradient",
    "nondifferentiable", "integer", "zero_derivative", "no_grad", "detached", "not_leaf".
    """

    cause: str
    reason: str
    gradient: Any = None

    def __str__(self) -> str:
        return self.reason

    def _repr_html_(self) -> str:
        """Jupyter's display: the cause, the reason and the gradient.

        >>> import chainrule as cr, chainrule.numpy as cnp
        >>> html = cr.explain_gradient(lambda x: cnp.floor(x) * 2.0, 1.5)._repr_html_()
        >>> print(html)  # doctest: +NORMALIZE_WHITESPACE
        <p><b>nondifferentiable</b>: the path from f back to x breaks at floor(x): floor is
        integer-valued, it carries no gradient</p><p>gradient: None</p>
        """
        import html

        return (f"<p><b>{html.escape(self.cause)}</b>: {html.escape(self.reason)}</p>"
                f"<p>gradient: {html.escape(repr(self.gradient))}</p>")


class _Diagnosing(_Recording):
    """Records, besides every step, the operations that drop their input's gradient."""

    __slots__ = ("dropped",)

    def process_primitive(self, prim: Any, args: tuple, params: dict) -> Any:
        if prim in _DROPS:
            for a in args:
                if isinstance(a, Tracer) and a._trace is self and a._node is not None:
                    self.dropped.append((prim, a._node, params))
        return _Recording.process_primitive(self, prim, args, params)


_DROPS = P.NONDIFF | {P.stop_gradient_p}


def _why_dropped(prim: Any, params: dict, src: str) -> tuple[str, str]:
    name = str(prim)
    if prim is P.stop_gradient_p:
        if params.get("reason"):
            return "integer", f"{params['reason']} of {src}: integer values carry no gradient"
        return "stop_gradient", f"stop_gradient({src}), which cuts it on purpose"
    if name in ("floor", "ceil", "trunc", "rint", "round", "sign", "floor_divide"):
        return "nondifferentiable", (
            f"{name}({src}): {name} is integer-valued, it carries no gradient"
        )
    return "nondifferentiable", f"{name}({src}): an integer or boolean result, no gradient"


def explain_gradient(fun: Any, *args: Any, argnum: int = 0) -> Diagnosis:
    """Diagnose the gradient of `fun(*args)` with respect to argument `argnum`: connected,
    or where and why the path breaks (unused input, stop_gradient, an integer-valued or
    boolean operation, a zero local derivative such as a dead ReLU).

    With Tensors, `explain_gradient(output, input)` says why `input` gets no gradient from
    `output` (no_grad, detach, a constant, or no path).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> print(cr.explain_gradient(lambda x: cnp.maximum(x, 0.0), -2.0).reason)
    at f = maximum(x, 0) the local derivative with respect to x is 0 (x = -2: a dead ReLU)
    """
    from chainrule.tensor import Tensor

    if isinstance(fun, Tensor):
        return _tensor_diagnosis(fun, *args)
    graph, trace = capture_with(_Diagnosing, fun, *args, extra={"dropped": []},
                                constant_ok=True)
    return _diagnose(graph, trace.dropped, argnum)


def _diagnose(graph: Graph, dropped: list, argnum: int) -> Diagnosis:
    steps = graph.steps
    inp = steps[graph.inputs[argnum]]
    out = steps[graph.output]
    g = inp.grad
    by_node = {s.node: s for s in steps if s.node is not None}
    if g is not None and np.any(np.asarray(g) != 0):
        return Diagnosis("connected", f"d{out.name}/d{inp.name} is connected and nonzero", g)
    if g is None:
        # which dropped operations were fed (directly or not) by this input?
        fed = _descendants(graph, inp)
        for prim, node, params in dropped:
            src = by_node.get(node)
            if src is not None and src.index in fed:
                cause, why = _why_dropped(prim, params, src.name)
                return Diagnosis(cause, f"the path from {out.name} back to {inp.name} breaks at "
                                        f"{why}")  # fmt: skip
        return Diagnosis("unused", f"{out.name} does not depend on {inp.name}: it is not used "
                                   "on any path to the output")  # fmt: skip
    # connected, but zero: find an edge whose local derivative is 0 on the path
    for c in graph.contributions:
        if _is_zero(c.product) and not _is_zero(c.incoming):
            child, parent = steps[c.child], steps[c.parent]
            if parent.index not in _descendants(graph, inp):
                continue
            why = (f"at {child.name} = {child.label} the local derivative with respect to "
                   f"{parent.name} is 0")  # fmt: skip
            if child.op in _RELU_LIKE:
                why += f" ({parent.name} = {_short(parent.value)}: a dead ReLU)"
            return Diagnosis("zero_derivative", why, g)
    return Diagnosis("zero_derivative", f"the contributions to d{out.name}/d{inp.name} cancel "
                                        "out (their sum is 0)", g)  # fmt: skip


def _descendants(graph: Graph, start: Step) -> set:
    """Steps computed from `start` (itself included)."""
    idx = {s.node: s.index for s in graph.steps if s.node is not None}
    out = {start.index}
    for s in graph.steps:
        if s.node is not None and any(idx.get(p) in out for p in s.node.parents if p is not None):
            out.add(s.index)
    return out


def _is_zero(v: Any) -> bool:
    return v is not None and not np.any(np.asarray(v) != 0)


def _short(v: Any) -> str:
    a = np.asarray(v)
    return f"{a.item():g}" if a.ndim == 0 else f"array{list(a.shape)}"


def _tensor_diagnosis(output: Any, source: Any = None) -> Diagnosis:
    from chainrule.tensor import Tensor

    if source is None:
        raise TypeError("explain_gradient(output_tensor, input_tensor): name the input")
    if not isinstance(source, Tensor) or source._node is None:
        return Diagnosis("detached", "the input does not require grad: it is a constant (make "
                                     "it with requires_grad=True, or it was detached)")  # fmt: skip
    if output._node is None:
        return Diagnosis("no_grad", "the output was computed without recording: under "
                         "cr.no_grad(), or only from constants and detached values")
    seen, stack = set(), [output._node]
    while stack:
        n = stack.pop()
        if n is source._node:
            return Diagnosis("connected", "the output depends on the input: its gradient flows")
        if n in seen:
            continue
        seen.add(n)
        stack.extend(p for p in n.parents if p is not None)
    return Diagnosis("unused", "the output does not depend on the input through recorded "
                               "operations (a detach(), numpy() or item() value, an integer or "
                               "boolean result, or code under no_grad on the way)")  # fmt: skip

