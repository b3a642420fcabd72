"""Staging: a trace of abstract values that records the primitives applied to them as a
small program (equations over variables), and an interpreter for such programs.

`eval_shape` runs a function on abstract values only (shapes, dtypes, weak types). `linearize`
stages the tangent half of a forward-mode computation and replays it. (`jit` will compile
these programs.)

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> cr.eval_shape(lambda x: cnp.sum(x @ x.T, axis=0), np.ones((2000, 3), np.float32))
ShapeDtypeStruct(shape=(2000,), dtype=float32)
"""

from __future__ import annotations

import itertools
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.pytree import tree_flatten, tree_map, tree_unflatten
from chainrule.core.trace import Primitive, Trace, Tracer, bind_with, end_trace, new_trace
from chainrule.rules.shape import shape_rules
from chainrule.transforms.reverse import protect

_ids = itertools.count()
#: primitives that stage themselves (they carry functions): handler(trace, args, params)
process_rules: dict[Primitive, Callable] = {}


class Var:
    """A variable of a staged program: its abstract value and a printable name."""

    __slots__ = ("aval", "id")

    def __init__(self, aval: ShapeDtypeStruct):
        self.aval = aval
        self.id = next(_ids)

    def __repr__(self) -> str:
        return f"v{self.id}"


class Eqn:
    """One equation: ``outvars = prim(*invars, **params)`` (an invar may be a constant)."""

    __slots__ = ("prim", "invars", "params", "outvars")

    def __init__(self, prim: Primitive, invars: list, params: dict, outvars: list):
        self.prim, self.invars, self.params, self.outvars = prim, invars, params, outvars

    def __repr__(self) -> str:
        ins = ", ".join(repr(v) if isinstance(v, Var) else _const(v) for v in self.invars)
        outs = ", ".join(f"{v}:{v.aval.str_short()}" for v in self.outvars)
        ps = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"{outs} = {self.prim}({ins}{ps})"


def _const(v: Any) -> str:
    a = np.asarray(v) if not isinstance(v, Tracer) else None
    if a is not None and a.ndim == 0:
        return repr(a.item())
    return f"const:{aval_of(v).str_short()}"


class Program:
    """A staged program: inputs, equations, outputs (Vars or constants)."""

    def __init__(self, invars: list, eqns: list, outvars: list):
        self.invars, self.eqns, self.outvars = invars, eqns, outvars

    def __repr__(self) -> str:
        head = ", ".join(f"{v}:{v.aval.str_short()}" for v in self.invars)
        body = "\n".join("    " + repr(e) for e in self.eqns)
        outs = ", ".join(repr(v) if isinstance(v, Var) else _const(v) for v in self.outvars)
        return f"{{ lambda {head} .\n{body}\n    return {outs} }}"

    def __call__(self, *args: Any) -> list:
        return evaluate(self, args)


def evaluate(program: Program, args: Any) -> list:
    """Run a program on values (or tracers: it is differentiable and batchable)."""
    env = dict(zip(program.invars, args))
    for e in program.eqns:
        ins = tuple(env[v] if isinstance(v, Var) else v for v in e.invars)
        out = bind_with(e.prim, ins, e.params)
        if e.prim.multiple_results:
            env.update(zip(e.outvars, out))
        else:
            env[e.outvars[0]] = out
    return [env[v] if isinstance(v, Var) else v for v in program.outvars]


class StagingTracer(Tracer):
    """A value known only by its abstract value."""

    __slots__ = ("_aval", "var")

    def __init__(self, trace: StagingTrace, aval: ShapeDtypeStruct, var: Var | None = None):
        self._trace = trace
        self._aval = aval
        self.var = var if var is not None else Var(aval)

    @property
    def aval(self) -> ShapeDtypeStruct:
        return self._aval

    @property
    def shape(self) -> tuple:
        return self._aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self._aval.dtype

    def __repr__(self) -> str:
        return f"Traced<{self._aval}>"


class StagingTrace(Trace):
    """Records equations; its tracers have abstract values only."""

    __slots__ = ("eqns", "keep", "copies")

    def __init__(self, level: int, name: str = "eval_shape", fun: Any = None, keep: bool = False):
        super().__init__(level, name, fun)
        self.eqns: list[Eqn] = []
        self.keep = keep  # the program outlives the call: NumPy constants are copied into it
        self.copies: dict | None = None

    def new_arg(self, aval: ShapeDtypeStruct) -> StagingTracer:
        return StagingTracer(self, aval)

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in process_rules:
            return process_rules[prim](self, args, params)
        invars = [a.var if isinstance(a, Tracer) and a._trace is self else
                  (protect(self, a) if self.keep and type(a) is np.ndarray else a)
                  for a in args]  # fmt: skip
        out_aval = shape_rules[prim](*[aval_of(a) for a in args], **params)
        if prim.multiple_results:
            outs = [StagingTracer(self, av) for av in out_aval]
            self.eqns.append(Eqn(prim, invars, params, [t.var for t in outs]))
            return tuple(outs)
        out = StagingTracer(self, out_aval)
        self.eqns.append(Eqn(prim, invars, params, [out.var]))
        return out

    def to_program(self, inputs: list, outputs: list) -> Program:
        outvars = [o.var if isinstance(o, Tracer) and o._trace is self else o for o in outputs]
        return Program([t.var for t in inputs], list(self.eqns), outvars)


def _abstract(x: Any) -> ShapeDtypeStruct:
    if isinstance(x, ShapeDtypeStruct):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, Tracer):
        return ShapeDtypeStruct(x.shape, x.dtype)
    return aval_of(x)


def eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of `fun(*args)`, computed on abstract values only: nothing of
    the size of the data is computed or allocated. Arguments may be arrays, Python scalars
    (weakly typed) or `ShapeDtypeStruct`s, in pytrees.

    >>> import numpy as np, chainrule as cr
    >>> cr.eval_shape(lambda a, b: a * b, cr.ShapeDtypeStruct((3,), np.float32), 2.0)
    ShapeDtypeStruct(shape=(3,), dtype=float32)
    """
    trace = new_trace(StagingTrace, "eval_shape", fun)
    try:
        leaves, tree = tree_flatten(args)
        tracers = [trace.new_arg(_abstract(x)) for x in leaves]
        out = fun(*tree_unflatten(tree, tracers), **kwargs)
    finally:
        end_trace(trace)
    return tree_map(lambda o: _abstract(o) if not isinstance(o, Tracer) else o.aval, out)


def stage(fun: Callable, avals: list, name: str = "stage") -> tuple[Program, Any]:
    """Stage `fun` applied to abstract arguments: (program, output pytree structure)."""
    trace = new_trace(StagingTrace, name, fun)
    try:
        tracers = [trace.new_arg(a) for a in avals]
        out = fun(*tracers)
    finally:
        end_trace(trace)
    leaves, tree = tree_flatten(out)
    return trace.to_program(tracers, leaves), tree
