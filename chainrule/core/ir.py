"""The staged program: a small typed SSA IR of primitives over abstract values.

A `Program` has input variables, constant variables (the arrays a function captured, held by
reference and read when the program runs), equations ``outvars = prim(*invars, **params)``
each assigning fresh variables once, and outputs. An operand is a `Var` or a `Lit` (a scalar
written into the program: a Python or NumPy number). Every variable carries its abstract
value (shape, dtype, weak type); `chainrule.compiler.check.typecheck` recomputes them all
with the shape rules.

`evaluate` is the reference interpreter: every primitive through `bind`, so a program runs on
values (its implementation, bit for bit the eager result) or on tracers (it is
differentiable, batchable and stageable again). Compiled programs are compared with it.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> print(cr.make_graph(lambda x: cnp.sum(cnp.sin(x) * 2.0))(np.ones(3)))
{ lambda ; a:f64[3] .
    b:f64[3] = sin a
    c:f64[3] = mul b 2.0
    d:f64[] = sum c axis=None keepdims=False
  in (d) }
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.primitives import Primitive
from chainrule.core.trace import bind_with

_ids = itertools.count()


class Var:
    """A variable: assigned once, by an equation or as an input or constant."""

    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapeDtypeStruct):
        self.aval = aval
        self.id = next(_ids)

    def __repr__(self) -> str:
        return f"v{self.id}"


class Lit:
    """A scalar written into the program (a Python or NumPy number; weakly typed for Python's)."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ShapeDtypeStruct | None = None):
        self.val = val
        self.aval = aval if aval is not None else aval_of(val)

    def __repr__(self) -> str:
        v = self.val
        return str(v) if isinstance(v, np.generic) else repr(v)  # float32 0.01 as 0.01


#: what may stand as a literal: immutable scalars (arrays are constants, read by reference)
LITERAL_TYPES = (bool, int, float, complex, np.generic)


class Eqn:
    """One equation: ``outvars = prim(*invars, **params)``; `where` is the user's line that
    made it ('file.py:12'), for error messages; `tag` tells apart equations that must not be
    merged with equal ones of another tag (a checkpointed recomputation)."""

    __slots__ = ("prim", "invars", "params", "outvars", "where", "tag")

    def __init__(self, prim: Primitive, invars: list, params: dict, outvars: list,
                 where: str = "", tag: int = 0):  # fmt: skip
        self.prim, self.invars, self.params, self.outvars = prim, invars, params, outvars
        self.where, self.tag = where, tag

    def __repr__(self) -> str:
        return _eqn_text(self, _Names())


class Program:
    """A staged program: ``outvars = f(*invars)``, with `constvars` bound to `consts` (arrays
    captured by reference: a program reads their current values each time it runs).

    Outputs are Vars or Lits. `evaluate` runs it.
    """

    __slots__ = ("invars", "constvars", "consts", "eqns", "outvars", "__weakref__")

    def __init__(self, invars: list, eqns: list, outvars: list, constvars: list | None = None,
                 consts: list | None = None):  # fmt: skip
        self.invars, self.eqns, self.outvars = list(invars), list(eqns), list(outvars)
        self.constvars = list(constvars or ())
        self.consts = list(consts or ())

    @property
    def in_avals(self) -> list:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list:
        return [v.aval for v in self.outvars]

    def __repr__(self) -> str:
        names = _Names()
        consts = " ".join(f"{names(v)}:{v.aval.str_short()}" for v in self.constvars)
        ins = " ".join(f"{names(v)}:{v.aval.str_short()}" for v in self.invars)
        body = "".join(f"    {_eqn_text(e, names)}\n" for e in self.eqns)
        outs = ", ".join(names(v) if isinstance(v, Var) else repr(v) for v in self.outvars)
        return f"{{ lambda {consts}{' ' if consts else ''}; {ins} .\n{body}  in ({outs}) }}"

    def __call__(self, *args: Any) -> list:
        return evaluate(self, args)

    def replace(self, **changes: Any) -> Program:
        """A copy with some of the fields changed."""
        fields = {k: getattr(self, k) for k in ("invars", "eqns", "outvars", "constvars",
                                                "consts")}  # fmt: skip
        fields.update(changes)
        return Program(**fields)


def short_name(i: int) -> str:
    """The i-th short name: a, b, ..., z, ba, bb, ...

    >>> short_name(0), short_name(25), short_name(27)
    ('a', 'z', 'bb')
    """
    s = ""
    while True:
        s = chr(97 + i % 26) + s
        i //= 26
        if not i:
            return s


class _Names:
    """Short names in order of first appearance."""

    def __init__(self) -> None:
        self.names: dict[Var, str] = {}

    def __call__(self, v: Var) -> str:
        n = self.names.get(v)
        if n is None:
            n = self.names[v] = short_name(len(self.names))
        return n


def _param_text(v: Any) -> str:
    if isinstance(v, Program):
        return "{ ... }"
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _eqn_text(e: Eqn, names: _Names) -> str:
    ins = " ".join(names(v) if isinstance(v, Var) else repr(v) for v in e.invars)
    outs = " ".join(f"{names(v)}:{v.aval.str_short()}" for v in e.outvars)
    ps = "".join(f" {k}={_param_text(v)}" for k, v in e.params.items())
    return f"{outs} = {e.prim} {ins}{ps}"


def read(env: dict, v: Any) -> Any:
    """The value of operand `v` in `env` (a Lit's own value)."""
    return v.val if type(v) is Lit else env[v]


def evaluate(program: Program, args: Any, consts: Any = None) -> list:
    """Run `program` on `args` (values or tracers): the reference interpreter. `consts`
    replaces the program's constants (default: their current values)."""
    env = dict(zip(program.constvars, program.consts if consts is None else consts))
    env.update(zip(program.invars, args))
    for e in program.eqns:
        out = bind_with(e.prim, tuple(v.val if type(v) is Lit else env[v] for v in e.invars),
                        e.params)  # fmt: skip
        if e.prim.multiple_results:
            env.update(zip(e.outvars, out))
        else:
            env[e.outvars[0]] = out
    return [v.val if type(v) is Lit else env[v] for v in program.outvars]
