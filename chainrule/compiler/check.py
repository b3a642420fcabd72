"""`typecheck`: a staged program is well formed (run after every pass in the tests).

>>> import numpy as np, chainrule as cr
>>> typecheck(cr.make_graph(lambda x: x * 2.0)(np.ones(2)))
"""

from __future__ import annotations

from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.ir import Lit, Program, Var
from chainrule.rules.shape import shape_rules


class IRTypeError(TypeError):
    """A program that is not well formed (a pass produced it): a variable used before it is
    assigned, assigned twice, or whose abstract value disagrees with the shape rules."""


def typecheck(program: Program) -> None:
    """Check `program`: single assignment, definition before use, and every equation's
    output avals equal to what the shape rules compute from its operands' (weak types
    included). Raises IRTypeError naming the equation.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> typecheck(cr.make_graph(lambda x: cnp.sum(x ** 3))(np.ones(2)))
    """
    defined: set = set()

    def define(v: Var, where: str) -> None:
        if not isinstance(v, Var):
            raise IRTypeError(f"{where}: {v!r} is not a variable")
        if v in defined:
            raise IRTypeError(f"{where}: {v} is assigned twice")
        defined.add(v)

    for v in program.constvars:
        define(v, "constants")
    if len(program.consts) != len(program.constvars):
        raise IRTypeError("the program has a different number of constants and constvars")
    for v, c in zip(program.constvars, program.consts):
        if not _same_aval(v.aval, aval_of(c), weak=False):
            raise IRTypeError(f"constant {v}: {v.aval} but its value is {aval_of(c)}")
    for v in program.invars:
        define(v, "inputs")
    for k, e in enumerate(program.eqns):
        where = f"equation {k} ({e.prim})"
        for v in e.invars:
            if isinstance(v, Var) and v not in defined:
                raise IRTypeError(f"{where}: {v} is used before it is assigned")
            if not isinstance(v, (Var, Lit)):
                raise IRTypeError(f"{where}: operand {v!r} is neither a Var nor a Lit")
        want = shape_rules[e.prim](*[v.aval for v in e.invars], **e.params)
        want = list(want) if e.prim.multiple_results else [want]
        if len(want) != len(e.outvars):
            raise IRTypeError(f"{where}: {len(e.outvars)} outputs, the rule gives {len(want)}")
        for v, w in zip(e.outvars, want):
            if not _same_aval(v.aval, w):
                raise IRTypeError(f"{where}: {v} is {v.aval}, the shape rule gives {w}")
            define(v, where)
    for v in program.outvars:
        if isinstance(v, Var) and v not in defined:
            raise IRTypeError(f"output {v} is never assigned")


def _same_aval(a: ShapeDtypeStruct, b: ShapeDtypeStruct, weak: bool = True) -> bool:
    return (a.shape == b.shape and a.dtype == b.dtype
            and (not weak or a.weak_type == b.weak_type))  # fmt: skip
