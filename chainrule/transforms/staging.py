"""Staging: a trace of abstract values that records the primitives applied to them as a
program (``chainrule.core.ir``), reading only shapes and dtypes.

`eval_shape` runs a function on abstract values only; `make_graph` returns the program it
stages (JAX's ``make_jaxpr``); `linearize` stages the tangent half of a forward-mode
computation; `jit` compiles staged programs.

Operands that are not the trace's own tracers become: a `Lit` for a scalar (Python or NumPy
number), a constant variable for an array (held by reference: the program reads its values
when it runs, unless `keep` asks for a copy made now), and a constant variable for a tracer
of an enclosing transformation (the program is then valid only inside it: `captured`).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> cr.eval_shape(lambda x: cnp.sum(x @ x.T, axis=0), np.ones((2000, 3), np.float32))
ShapeDtypeStruct(shape=(2000,), dtype=float32)
"""

from __future__ import annotations

import functools
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.errors import concretization_error, where
from chainrule.compiler.passes import simplify, split
from chainrule.core.ir import LITERAL_TYPES, Eqn, Lit, Program, Var, evaluate
from chainrule.core.pytree import tree_flatten, tree_map, tree_unflatten
from chainrule.core import axes
from chainrule.core import primitives as P
from chainrule.core.trace import (
    Primitive, Trace, Tracer, begin_staging, bind, end_staging, end_trace, new_trace,
)  # fmt: skip
from chainrule.rules.shape import shape_rules
from chainrule.transforms.reverse import _LOCK_MIN, _lock, _same_bits, protect, unlock

__all__ = ["StagingTrace", "StagingTracer", "eval_shape", "evaluate", "make_graph", "stage"]

#: primitives that stage themselves (they carry functions): handler(trace, args, params)
process_rules: dict[Primitive, Callable] = {}


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

    __slots__ = ("eqns", "keep", "constvars", "consts", "seen", "captured", "lines",
                 "arg_names", "inline", "snaps", "fixed", "locked")
    # `full` is offered to the engine while the trace is on `_state.staging` (`dynamic`)

    def __init__(self, level: int, name: str = "eval_shape", fun: Any = None, keep: bool = False,
                 lines: bool = False):  # fmt: skip
        super().__init__(level, name, fun)
        self.eqns: list[Eqn] = []
        self.keep = keep  # the program outlives the call: arrays are copied into it now
        self.constvars: dict[int, Var] = {}  # id(array or foreign tracer) -> its variable now
        self.consts: list = []  # (constant variable, the value it reads), in order
        self.seen: list = []  # the objects the constants stand for
        self.captured = False  # a tracer of an enclosing transformation is a constant
        self.lines = lines  # record the user's line of each equation
        self.arg_names: dict = {}  # Var of an argument -> how to name it in errors
        self.inline = True  # functions with custom rules inlined (jit keeps their calls)
        self.snaps: dict = {}  # id(small captured array) -> its values when last used
        self.fixed: dict = {}  # constant variable -> the values it keeps (changed while staged)
        self.locked: list = []  # large captured arrays, read-only while staging

    def _over_ours(self, a: Any) -> bool:
        v = getattr(a, "_value", None)
        return isinstance(a, Tracer) and isinstance(v, Tracer) and v._trace is self

    def new_arg(self, aval: ShapeDtypeStruct) -> StagingTracer:
        return StagingTracer(self, aval)

    def concrete(self, tracer: Tracer, what: str) -> Any:
        context = f"inside {self.describe()}"
        arg = self.arg_names.get(getattr(tracer, "var", None))
        if arg:
            context += f"; {arg}"
        raise concretization_error(what, context)

    def full(self, shape: tuple, dtype: Any, fill: Any) -> Any:
        """A staged array of `fill` (a literal, broadcast): `chainrule.core.trace.full`."""
        lit = Lit(np.dtype(dtype).type(fill))
        scalar = StagingTracer(self, lit.aval, lit)
        return scalar if tuple(shape) == () else bind(P.broadcast_to_p, scalar, shape=tuple(shape))

    def operand(self, a: Any) -> Var | Lit:
        """The program operand standing for `a`."""
        if isinstance(a, Tracer) and a._trace is self:
            return a.var
        if isinstance(a, LITERAL_TYPES):
            return Lit(a)
        key = id(a)
        v = self.constvars.get(key)
        if v is not None and key in self.snaps and not _same_bits(self.snaps[key], a):
            # changed since its last use while the function was staged (a scratch buffer
            # refilled): the earlier uses keep the values they saw, this one gets its own
            self.fixed[v] = self.snaps.pop(key)
            v = None
        if v is None:
            self.seen.append(a)  # keeps `a` alive, so its id stays its own
            if isinstance(a, Tracer):
                self.captured = True
            elif self.keep and type(a) is np.ndarray:
                a = protect(self, a)
            elif self.lines and type(a) is np.ndarray:
                self.guard(key, a)
            v = self.constvars[key] = Var(a.aval if isinstance(a, Tracer) else aval_of(a))
            self.consts.append((v, a))
        return v

    def constant(self, a: Any) -> StagingTracer:
        """A tracer for the value `a` holds now (a constant saved for later: its later uses
        read these values even if `a` changes in between)."""
        v = self.operand(a)
        return StagingTracer(self, v.aval, v)

    def guard(self, key: int, a: np.ndarray) -> None:
        """A captured array, read by reference when the program runs, is kept from changing
        unseen while the function is staged: a large one is locked read-only, a small one
        compared with its values at each use."""
        if a.nbytes >= _LOCK_MIN:
            _lock(a, self.locked)
        else:
            self.snaps[key] = np.array(a, copy=True)

    def release(self) -> None:
        """After staging: unlock what `guard` locked; a small array changed after its last
        use keeps, in the program, the values its uses saw."""
        unlock(self.locked)
        now = {id(a): a for _, a in self.consts}
        for key, snap in self.snaps.items():
            if not _same_bits(snap, now[key]):
                self.fixed[self.constvars[key]] = snap

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        for a in args:  # a Tensor over one of our tracers (jit of Tensors) beside a tracer
            if isinstance(a, Tracer) and a._trace is not self and self._over_ours(a):
                out = self._stage(prim, tuple(x._value if self._over_ours(x) else x
                                              for x in args), params)  # fmt: skip
                wrap = a._trace.wrap  # the result is a Tensor too, as eagerly
                return tuple(wrap(o, None) for o in out) if prim.multiple_results else \
                    wrap(out, None)  # fmt: skip
        return self._stage(prim, args, params)

    def _stage(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in process_rules:
            return process_rules[prim](self, args, params)
        if prim in P.COLLECTIVES and self._axis_inside(params.get("axis_name")):
            return prim.impl(*args, **params)  # the vmap inside the program takes it
        return self._record(prim, args, params)

    def _axis_inside(self, name: Any) -> bool:
        """Whether the axis `name` belongs to a transformation started inside this one (a
        vmap within the staged function), which must see the collective."""
        for n in axes.names(name):
            for frame in reversed(axes._frames.stack):
                if frame.name == n:
                    h = frame.handler
                    return isinstance(h, Trace) and h.level > self.level
        return False

    def _record(self, prim: Primitive, args: tuple, params: dict) -> Any:
        """Record the equation `prim(*args, **params)`: its results' tracers."""
        invars = [self.operand(a) for a in args]
        out_aval = shape_rules[prim](*[v.aval for v in invars], **params)
        line = where() if self.lines else ""
        if prim.multiple_results:
            outs = tuple(StagingTracer(self, av) for av in out_aval)
            self.eqns.append(Eqn(prim, invars, params, [t.var for t in outs], line))
            return outs
        out = StagingTracer(self, out_aval)
        self.eqns.append(Eqn(prim, invars, params, [out.var], line))
        return out

    def to_program(self, inputs: Sequence[StagingTracer], outputs: Sequence[Any]) -> Program:
        outvars = [self.operand(o) for o in outputs]
        return Program([t.var for t in inputs], list(self.eqns), outvars,
                       [v for v, _ in self.consts],
                       [self.fixed.get(v, a) for v, a in self.consts])  # fmt: skip


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


def stage(fun: Callable, avals: Sequence[ShapeDtypeStruct], name: str = "stage",
          dynamic: bool = False, user_fun: Any = None, arg_names: Sequence[str] = (),
          inline: bool = True) -> tuple[Program, Any]:  # fmt: skip
    """Stage `fun` applied to abstract arguments: (program, output pytree structure).

    `dynamic`: the program is compiled (jit, make_graph): the engine's own constants (a
    gradient's seed) are staged too, and each equation records the user's line. Errors name
    `user_fun` and, for a traced argument used where a value is needed, its entry of
    `arg_names`. Without `inline`, calls of functions with custom rules stay equations
    (for the programs that transformations derive from).
    """
    trace = new_trace(StagingTrace, name, user_fun or fun, False, dynamic)
    trace.inline = inline
    if dynamic:
        begin_staging(trace)
    try:
        tracers = [trace.new_arg(a) for a in avals]
        for t, n in zip(tracers, arg_names):
            trace.arg_names[t.var] = n
        try:
            leaves, tree = tree_flatten(fun(*tracers))
        finally:
            trace.release()
        return trace.to_program(tracers, leaves), tree
    finally:
        if dynamic:
            end_staging(trace)
        end_trace(trace)


def make_graph(fun: Callable, static_argnums: int | Sequence[int] = ()) -> Callable:
    """A function that stages `fun` on its arguments' shapes and dtypes and returns the
    program (JAX's ``make_jaxpr``): print it, `cr.draw` it, `cr.explain` it. Arguments at
    `static_argnums` are passed to `fun` as they are.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> print(cr.make_graph(cr.grad(lambda x: cnp.sum(cnp.tanh(x))))(np.ones(2)))
    { lambda ; a:f64[2] .
        b:f64[2] = tanh a
        c:f64[] = sum b axis=None keepdims=False
        d:f64[1] = reshape 1.0 shape=(1,)
        e:f64[2] = broadcast_to d shape=(2,)
        f:f64[2] = mul b b
        g:f64[2] = sub 1 f
        h:f64[2] = mul e g
      in (h) }
    """
    statics = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def staged(*args: Any, **kwargs: Any) -> Program:
        dyn = [i for i in range(len(args)) if i not in statics]
        leaves, tree = tree_flatten(tuple(args[i] for i in dyn))

        def flat(*xs: Any) -> Any:
            full = list(args)
            for i, a in zip(dyn, tree_unflatten(tree, list(xs))):
                full[i] = a
            return fun(*full, **kwargs)

        return stage(flat, [_abstract(x) for x in leaves], "make_graph", True)[0]

    return staged


def vjp_split(prog: Program, diff: tuple, consts_late: bool = False) -> tuple:
    """(early, late, floats) for reverse mode through a program (jit, loops): ``early(*ins)
    -> (*outs, *residuals)``, ``late(*residuals, *cotangents of the float outputs) ->
    cotangents of ins[diff]``. Made by staging the program's VJP (forward, then backward from
    symbolic cotangents) as one program and splitting it where the cotangents start to
    matter (`compiler.passes.split`; `consts_late`: the constants the backward reads are
    residuals, their values at the forward pass)."""
    from chainrule.transforms import reverse

    n, k = len(prog.invars), len(prog.outvars)
    floats = [i for i, a in enumerate(prog.out_avals) if a.dtype.kind in "fc"]
    others = [i for i in range(k) if i not in floats]

    def joint(*xs: Any) -> tuple:
        args, cts = list(xs[:n]), xs[n:]

        def f(*d: Any) -> tuple:
            full = list(args)
            for i, v in zip(diff, d):
                full[i] = v
            outs = evaluate(prog, full)
            return tuple(outs[i] for i in floats), tuple(outs[i] for i in others)

        fl, pullback, aux = reverse.vjp(f, *[args[i] for i in diff], has_aux=True)
        outs: list = [None] * k
        for i, o in zip(floats, fl):
            outs[i] = o
        for i, o in zip(others, aux):
            outs[i] = o
        return (*outs, *pullback(tuple(cts)))

    avals = list(prog.in_avals) + [prog.out_avals[i] for i in floats]
    program, _ = stage(joint, avals, "vjp", dynamic=True, inline=False)
    early, late = split(simplify(program), [False] * n + [True] * len(floats),
                        [False] * k + [True] * len(diff), consts_late)  # fmt: skip
    return early, late, floats
