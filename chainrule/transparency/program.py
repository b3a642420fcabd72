"""Staged programs in the explanations and drawings: `cr.explain` and `cr.draw` of a
`Program` (what `cr.make_graph` returns).

With arguments, the program runs on them and is explained or drawn like any function, with
values and gradients. Without arguments, `explain` shows the forward program and the backward
program that reverse mode stages from it, side by side (the chain rule as a program), and
`draw` draws the forward program's data flow with each value's type.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> prog = cr.make_graph(lambda x: cnp.sum(cnp.tanh(x)))(np.ones(2))
>>> print(cr.explain(prog))  # doctest: +NORMALIZE_WHITESPACE
Forward program                               | Backward program (grad)
{ lambda ; a:f64[2] .                         | { lambda ; a:f64[2] .
    b:f64[2] = tanh a                         |     b:f64[2] = tanh a
    c:f64[] = sum b axis=None keepdims=False  |     c:f64[] = sum b axis=None keepdims=False
  in (c) }                                    |     d:f64[1] = reshape 1.0 shape=(1,)
                                              |     e:f64[2] = broadcast_to d shape=(2,)
                                              |     f:f64[2] = mul b b
                                              |     g:f64[2] = sub 1 f
                                              |     h:f64[2] = mul e g
                                              |   in (h) }
>>> cr.explain(prog, np.array([0.0, 1.0])).gradient
array([1.        , 0.41997434])
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from chainrule.core.ir import Lit, Program, Var, evaluate, short_name
from chainrule.transforms.staging import make_graph
from chainrule.transparency.graph import Graph, Step, TypeOnly

_WIDTH = 60  # the forward column's widest in the text


class ProgramExplanation:
    """A staged program and the backward program reverse mode stages from it (see `explain`).

    `backward` is the gradient's program when the program has one scalar float output, the
    VJP's (inputs, then one cotangent per output) otherwise; None when no input is a float.
    """

    def __init__(self, forward: Program):
        self.forward = forward
        self.backward, self.backward_kind = _backward_program(forward)

    def columns(self) -> tuple[list[str], list[str]]:
        """The forward and the backward program, as lines of text."""
        back = str(self.backward).splitlines() if self.backward is not None else [
            "(no float input: nothing to differentiate)"]
        return str(self.forward).splitlines(), back

    def __str__(self) -> str:
        fwd, back = self.columns()
        width = min(_WIDTH, max(len("Forward program"), *map(len, fwd)))
        rows = [f"{'Forward program':<{width}} | Backward program ({self.backward_kind})"]
        for i in range(max(len(fwd), len(back))):
            left = fwd[i] if i < len(fwd) else ""
            if len(left) > width:
                left = left[: width - 3] + "..."
            rows.append(f"{left:<{width}} | {back[i] if i < len(back) else ''}".rstrip())
        return "\n".join(rows)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        fwd, back = self.columns()
        cell = "<td style='vertical-align:top'><b>{}</b><pre>{}</pre></td>"
        return ("<table><tr>" + cell.format("Forward program", html.escape("\n".join(fwd)))
                + cell.format(f"Backward program ({self.backward_kind})",
                              html.escape("\n".join(back))) + "</tr></table>")  # fmt: skip


def as_function(program: Program) -> Any:
    """`program` as a function of its inputs: one output as itself, several as a tuple."""

    def run(*args: Any) -> Any:
        if len(args) != len(program.invars):
            raise TypeError(f"the program takes {len(program.invars)} argument(s) "
                            f"({', '.join(v.aval.str_short() for v in program.invars)}), "
                            f"not {len(args)}")  # fmt: skip
        outs = evaluate(program, args)
        return outs[0] if len(outs) == 1 else tuple(outs)

    return run


def input_names(program: Program) -> list[str]:
    """The names the printed program gives its inputs (a, b, ... after its constants)."""
    k = len(program.constvars)
    return [short_name(k + i) for i in range(len(program.invars))]


def _backward_program(program: Program) -> tuple[Program | None, str]:
    from chainrule.transforms.reverse import grad, vjp

    fun = as_function(program)
    avals = [v.aval for v in program.invars]
    diff = tuple(i for i, a in enumerate(avals) if np.dtype(a.dtype).kind in "fc")
    if not diff:
        return None, "grad"
    outs = program.out_avals
    if len(outs) == 1 and outs[0].shape == () and np.dtype(outs[0].dtype).kind == "f":
        g = grad(fun, argnums=diff if len(diff) > 1 else diff[0])
        return make_graph(g)(*avals), "grad"

    def pullback(*args: Any) -> Any:
        xs, cts = args[: len(avals)], args[len(avals):]

        def part(*d: Any) -> Any:
            full = list(xs)
            for i, v in zip(diff, d):
                full[i] = v
            return fun(*full)

        _, back = vjp(part, *(xs[i] for i in diff))
        return back(cts[0] if len(cts) == 1 else tuple(cts))

    return make_graph(pullback)(*avals, *outs), "vjp: inputs, then cotangents"


def structure(program: Program) -> Graph:
    """The forward program's data flow as a graph of steps whose values are types (drawn by
    `cr.draw(program)` without arguments)."""
    names: dict[Var, str] = {}
    steps: list[Step] = []
    for v, name in zip(program.invars, input_names(program)):
        names[v] = name
        steps.append(Step(len(steps), name, "input", [], TypeOnly(v.aval.str_short())))
    for v in program.constvars:
        names[v] = f"<{v.aval.str_short()}>"

    def operand(v: Any) -> str:
        return repr(v) if isinstance(v, Lit) else names[v]

    k = 0
    for e in program.eqns:
        ins = [operand(v) for v in e.invars]
        for j, out in enumerate(e.outvars):
            k += 1
            names[out] = f"v{k}"
            op = str(e.prim) if len(e.outvars) == 1 else f"{e.prim}[{j}]"
            steps.append(Step(len(steps), f"v{k}", op, ins, TypeOnly(out.aval.str_short())))
    first = program.outvars[0] if program.outvars else None
    if not isinstance(first, Var) or first not in names or names[first].startswith("<"):
        raise ValueError("draw: the program's first output does not depend on its inputs")
    output = next(s.index for s in steps if s.name == names[first])
    if steps[output].op != "input":
        steps[output].name = "f"
    return Graph(steps, output, list(range(len(program.invars))),
                 notes=["a program drawn without arguments: each node shows its type"])
