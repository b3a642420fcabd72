"""Control flow that every transformation understands: `cond`, `switch`, `fori_loop`,
`while_loop` and `scan` (JAX's signatures and semantics, pytrees included).

On concrete values (eagerly, and under `grad`, `jvp` or on Tensors) they are plain Python
branches and loops calling the user's functions: the tape records what runs. Where values are
known only abstractly (inside `jit` and `make_graph`, or a predicate that differs between the
examples of a `vmap`) each function is staged once into a program (``core/ir.py``) and a
primitive carrying the programs is bound: ``cond_p`` (operands ``index, *args``; a tuple of
branch programs), ``while_p`` (``*cond_consts, *body_consts, *carry``) and ``scan_p``
(``*consts, *carry, *xs``). Values a function closes over that an enclosing transformation
follows are explicit operands (NumPy arrays stay constants read by reference), so derivatives
with respect to them flow. The programs run compiled (``compiler/codegen.py``), as Python
loops.

Every transformation has a rule for each primitive:
- forward mode: the primitive of the JVP programs;
- vmap: scan batches its body; a while loop whose predicate differs between examples runs
  until no example continues, each example keeping its carry once its predicate is false; a
  cond with a batched index selects between all branches (``where``);
- reverse mode: cond runs the forward programs of all branches joined (outputs, then the
  residual slots of every branch, zeros in the slots of the branches not taken) and its
  backward is a cond over the branches' backward programs: only the taken branch's runs. A
  scan stacks its per-step residuals (loop-invariant ones are computed once) and its backward
  is a scan the other way. A while loop (JAX refuses it) keeps at most a bounded number of
  carry checkpoints, thinned as the loop runs (``while_fwd_p``), and its backward
  (``while_bwd_p``) replays one segment at a time from its checkpoint keeping the residuals of
  that segment only: the body runs twice in all, and memory does not grow with the trip count.

Random draws (``random_p``, ``rules/random.py``) in a body or a branch happen once per
iteration whatever the transformation, and a staged loop gives what the eager Python loop
gives, bit for bit, leaving the generator where the eager loop leaves it:
- a draw is an effect: passes and pruning keep it (``compiler.passes.has_effects``), a
  scan's reverse mode never hoists it out of the loop (its operands do not change, but it
  draws at each step), and dataflow (`depends`) takes its result as differing between the
  examples of a vmap (each example draws its own numbers);
- reverse mode never draws in the backward pass: a scan's and a cond's draws are residuals;
  a while loop saves, with each carry checkpoint, the state of each generator its body (and
  predicate) draws from (``bit_generator.state``), and replays a segment drawing from
  temporary generators restored to those states (``random.replaying``): the draws of the
  forward again, the real generators left where the forward left them, and no draw stored.
  Where the forward's draws may not come from the generators (a transformation in flight
  takes them: checkpoint's recomputation hands it its first run's values) the loop logs each
  segment's draws instead and feeds them to the replay (memory then grows with the trip
  count). When the predicate draws from a generator the body draws from, the replay runs it
  after each step too, as the forward did;
- under checkpoint, a staged loop or cond that draws is not recomputed: the first run runs
  its reverse mode's forward pass (``checkpoint.whole``) and the recomputation records it
  over what that kept (its residuals are kept: no memory is saved on it);
- vmap with a batched predicate: a cond runs every branch for every example and selects,
  so the generator advances for the draws of every branch, not only the taken one. Each
  example's values stay its own and independent; only the position in the stream differs
  from a loop over the examples. This is accepted: drawing only for the examples that take
  a branch needs a number of draws known only at run time (a per-example loop), and eager
  vmap does the same, so eager and compiled agree. Likewise a while loop with a batched
  predicate steps (and draws for) every example until none continues, the finished ones
  discarding theirs; its predicate is evaluated once per step. Its reverse mode under vmap
  (``vmap(grad(f))``) runs one loop per example after evaluating the first predicate of
  all: the draws come in another order than ``vmap(f)``'s (eager and compiled agree).

`RUNS` counts the executions of compiled bodies (the tests read it).

>>> import numpy as np, chainrule as cr
>>> cr.cond(2.0 > 1.0, lambda x: x * 2, lambda x: -x, 3.0)
6.0
>>> cr.jit(lambda x: fori_loop(0, 3, lambda i, c: c * 2.0, x))(np.ones(2))
array([8., 8.])
"""

from __future__ import annotations

import collections
import contextlib
import threading
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.compiler.codegen import lower
from chainrule.compiler.passes import dce, has_effects, simplify
from chainrule.core import config
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.errors import ConcretizationError
from chainrule.core.ir import Lit, Program, Var, evaluate
from chainrule.core.namespace import dtype_of, is_foreign
from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.core.trace import Tracer, _state, bind, full
from chainrule.rules import impl as impl_table
from chainrule.rules import random
from chainrule.rules import shape as shape_table
from chainrule.rules.jvp import instantiate
from chainrule.rules.random import Source
from chainrule.rules.vjp import VJP, vjp_rules
from chainrule.transforms import batching, checkpoint, forward, reverse, staging
from chainrule.transforms.staging import StagingTracer, _abstract

__all__ = ["cond", "switch", "fori_loop", "while_loop", "scan", "RUNS"]

#: executions of compiled bodies by the implementations: "scan_body", "while_cond",
#: "while_body", "while_replay" (the body with residuals, in reverse mode), "while_backward"
RUNS: collections.Counter = collections.Counter()

#: a while loop's reverse mode keeps at most this many carry checkpoints, and at most
#: CHECKPOINT_BYTES of them (at least 2)
MAX_CHECKPOINTS = 1024
CHECKPOINT_BYTES = 8 << 20

#: the operands of while_bwd_p after the checkpoints (outputs of while_fwd_p after them):
#: their number, the stride, the trip count, the generators' states at each checkpoint
_META = 4

SD = ShapeDtypeStruct


# --- the programs primitives carry -----------------------------------------------------------


class Body(Program):
    """A program carried by a control-flow primitive, with its compiled code (made on first
    run) and the programs derived from it for each transformation (made once)."""

    __slots__ = ("_run", "derived", "lock", "weak")

    def __init__(self, p: Program):
        super().__init__(p.invars, p.eqns, p.outvars, p.constvars, p.consts)
        self._run: Any = None
        self.derived: dict = {}
        self.lock = threading.RLock()
        #: outputs that are weakly typed scalars: kept Python scalars between iterations
        self.weak = tuple(i for i, a in enumerate(self.out_avals) if a.weak_type and not a.shape)

    @property
    def run(self) -> Callable:
        """The compiled program (for the current `debug_nans` and fusion switches)."""
        flags = (config.jit_fusion, config.debug_nans)
        r = self._run
        if r is None or r[0] != flags:
            with self.lock:
                r = self._run = (flags, lower(self, "body", *flags).run)
        return r[1]

    def derive(self, key: Any, make: Callable[[], Any]) -> Any:
        d = self.derived.get(key)
        if d is None:
            with self.lock:
                d = self.derived.get(key)
                if d is None:
                    d = self.derived[key] = make()
        return d


def _body(p: Program) -> Body:
    return p if isinstance(p, Body) else Body(simplify(p))


def _draws(p: Program) -> bool:
    """Whether `p` draws: a random draw among its equations, or in one of their programs
    (`compiler.passes.has_effects`)."""
    return any(has_effects(e) for e in p.eqns)


def _sources(p: Program) -> tuple:
    """The Sources `p` and the programs of its equations draw from (held as constants)."""
    out: list = []

    def walk(q: Program) -> None:
        vals = list(q.consts) + [v.val for e in q.eqns for v in e.invars if type(v) is Lit]
        for c in vals:
            if isinstance(c, Source) and all(c is not o for o in out):
                out.append(c)
        for e in q.eqns:
            for v in e.params.values():
                for r in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(r, Program):
                        walk(r)

    walk(p)
    return tuple(out)


def _loop_sources(cond: Body, body: Body) -> tuple:
    """The Sources a while loop draws from (body and predicate), found once."""
    def make() -> tuple:
        out = list(_sources(body))
        out += [c for c in _sources(cond) if all(c is not o for o in out)]
        return tuple(out)

    return body.derive(("sources", id(cond)), make)


def _unweak(vals: Sequence, weak: tuple) -> list:
    """Weakly typed scalars as Python scalars (what NumPy treats as weak), as staged."""
    vals = list(vals)
    for i in weak:
        v = vals[i]
        if isinstance(v, (np.generic, np.ndarray)):
            vals[i] = v.item()
    return vals


def _stage(fun: Callable, avals: Sequence, what: str, user_fun: Any = None,
           arrays: bool = False) -> tuple:  # fmt: skip
    """Stage `fun` on `avals`: (program, output tree, captured), where the tracers of
    enclosing transformations `fun` closed over (`captured`) are the program's first inputs.
    Inside a program being staged (jit), the NumPy arrays it closed over are inputs too
    (`arrays`): the enclosing program guards them like its own constants (an array changed
    after its use while the function is staged keeps, for that use, the values it had)."""
    program, tree = staging.stage(fun, list(avals), what, dynamic=True,
                                  user_fun=user_fun or fun)  # fmt: skip
    outer = arrays and bool(_state.staging)

    def moves(c: Any) -> bool:
        return isinstance(c, Tracer) or (outer and type(c) is np.ndarray)

    moved = [(v, c) for v, c in zip(program.constvars, program.consts) if moves(c)]
    kept = [(v, c) for v, c in zip(program.constvars, program.consts) if not moves(c)]
    program = Program([v for v, _ in moved] + program.invars, program.eqns, program.outvars,
                      [v for v, _ in kept], [c for _, c in kept])  # fmt: skip
    return program, tree, [c for _, c in moved]


def _internal(fun: Callable, avals: Sequence) -> Body:
    """Stage one of the engine's own functions (over programs) into a Body."""
    program, _, captured = _stage(fun, avals, "control")
    assert not captured, "a derived program captured a traced value"
    return Body(simplify(program))


def _abstract_mode(leaves: Sequence) -> bool:
    """Whether to bind primitives: a program is being staged, or a value is abstract. Under
    `linear_transpose` loops are unrolled: it transposes one primitive at a time, and has no
    rule for the control-flow primitives."""
    staged = [x._trace.name for x in leaves if isinstance(x, StagingTracer)]
    if "linear_transpose" in staged:
        return False
    return bool(_state.staging or staged)


def _aval_text(a: SD) -> str:
    return a.str_short() if hasattr(a, "str_short") else str(a)


def _as(x: Any, aval: SD) -> Any:
    """`x` converted to `aval`'s dtype (a carry's initial value promoted as JAX does)."""
    if isinstance(x, Tracer) or is_foreign(x):
        return cnp.astype(x, aval.dtype)
    if aval.weak_type:
        return np.asarray(x, aval.dtype).item()
    a = np.asarray(x, aval.dtype)
    return a[()] if a.ndim == 0 else a


def _fit_carry(in_avals: list, out_avals: list, what: str, name: str) -> tuple:
    """(new input avals, casts of outputs) making a loop's carry types agree, as JAX: a weakly
    typed input takes the output's type, a weakly typed output is cast to the input's type;
    other differences are a TypeError naming both."""
    new, casts = list(in_avals), {}
    for i, (a, b) in enumerate(zip(in_avals, out_avals)):
        if (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type):
            continue
        if a.shape == b.shape and a.weak_type:
            new[i] = SD(b.shape, b.dtype, b.weak_type)
        elif a.shape == b.shape and b.weak_type and np.can_cast(b.dtype, a.dtype, "same_kind"):
            casts[i] = a
        else:
            raise TypeError(
                f"{what}: {name} must return a carry of the same types as its input, but leaf "
                f"{i} of the carry is {_aval_text(a)} on input and {_aval_text(b)} on output"
            )
    return new, casts


def _cast_outputs(outs: list, casts: dict) -> list:
    for i, a in casts.items():
        outs[i] = cnp.astype(outs[i], a.dtype) if isinstance(outs[i], Tracer) else _as(outs[i], a)
    return outs


def _check_scalar_pred(p: Any, what: str, kinds: str = "biuf") -> None:
    shape = np.shape(p)
    if shape != ():
        raise TypeError(f"{what} must be a scalar (shape ()), got shape {shape}; reduce it "
                        "with cnp.any or cnp.all, or use cnp.where to select per element")
    dt = dtype_of(p)
    if dt.kind not in kinds:
        want = {"b": "a boolean", "iu": "an integer"}.get(kinds, "a boolean or a number")
        raise TypeError(f"{what} must be {want}, got dtype {dt}")


# --- cond and switch -------------------------------------------------------------------------


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)` (JAX's ``lax.cond``).

    Where `pred` has a value (eagerly, under grad and jvp) only the chosen branch runs, as a
    Python ``if``. Where it is known only abstractly (inside `jit`) the branches are staged and
    only the chosen one runs; where it differs between the examples of a `vmap`, both run and
    each output is selected per example (the random draws of both are made: see the module).
    Staged branches must return the same structure, shapes and dtypes. `pred` is a scalar
    boolean or number.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: cr.cond(x > 0, lambda v: v, lambda v: -v, x))(np.array([-1.0, 2.0]))
    array([1., 2.])
    """
    _check_scalar_pred(pred, "cond: the predicate")
    try:
        chosen = bool(pred)
    except ConcretizationError:
        dt = dtype_of(pred)
        index = cnp.astype(pred if dt == np.bool_ else pred != 0, np.int32)
        return _bind_cond(index, (false_fun, true_fun), operands, "cond",
                          ("false_fun", "true_fun"))  # fmt: skip
    return true_fun(*operands) if chosen else false_fun(*operands)


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``branches[index](*operands)``, the index clamped to ``[0, len(branches) - 1]`` (JAX's
    ``lax.switch``); staged as `cond` is.

    >>> import chainrule as cr
    >>> [switch(i, [lambda x: x, lambda x: 2 * x, lambda x: 3 * x], 1.0) for i in (-5, 1, 9)]
    [1.0, 2.0, 3.0]
    """
    branches = tuple(branches)
    if not branches:
        raise ValueError("switch: at least one branch is needed")
    for b in branches:
        if not callable(b):
            raise TypeError(f"switch: the branches must be functions, got a {type(b).__name__}")
    _check_scalar_pred(index, "switch: the index", "iu")
    n = len(branches)
    try:
        i = int(index)
    except ConcretizationError:
        if n == 1:
            return branches[0](*operands)
        index = cnp.clip(index, 0, n - 1)
        return _bind_cond(index, branches, operands, "switch",
                          tuple(f"branch {k}" for k in range(n)))  # fmt: skip
    return branches[min(max(i, 0), n - 1)](*operands)


def _bind_cond(index: Any, funs: tuple, operands: tuple, what: str, names: tuple) -> Any:
    leaves, in_tree = tree_flatten(operands)
    avals = [_abstract(x) for x in leaves]
    staged = []
    for fn in funs:
        def flat(*xs: Any, fn: Callable = fn) -> Any:
            return fn(*tree_unflatten(in_tree, list(xs)))

        staged.append(_stage(flat, avals, what, fn, arrays=True))
    trees = [t for _, t, _ in staged]
    for k in range(1, len(funs)):
        if trees[k] != trees[0]:
            raise TypeError(f"{what}: the branches return different structures: {names[k]} "
                            f"returns {trees[k]} and {names[0]} returns {trees[0]}")  # fmt: skip
    outs = [p.out_avals for p, _, _ in staged]
    joined = []
    for j, a in enumerate(outs[0]):
        for k in range(1, len(funs)):
            b = outs[k][j]
            if a.shape != b.shape or a.dtype != b.dtype:
                raise TypeError(
                    f"{what}: the branches return different types: output {j} is "
                    f"{_aval_text(b)} in {names[k]} and {_aval_text(a)} in {names[0]}"
                )
        weak = all(o[j].weak_type for o in outs)
        joined.append(SD(a.shape, a.dtype, weak))
    # the closed-over values of all branches: one list of operands, each branch ignoring
    # the others'
    union: list = []
    seen: set = set()
    for _, _, cap in staged:
        for c in cap:
            if id(c) not in seen:
                seen.add(id(c))
                union.append(c)
    programs = []
    for p, _, cap in staged:
        own = {id(c): v for c, v in zip(cap, p.invars)}
        cvars = [own.get(id(c)) or Var(_abstract(c)) for c in union]
        p = Program(cvars + p.invars[len(cap):], p.eqns, p.outvars, p.constvars, p.consts)
        if [a.weak_type for a in p.out_avals] != [a.weak_type for a in joined]:
            p = _coerced(p, joined)
        programs.append(_body(p))
    out = bind(P.cond_p, index, *union, *leaves, branches=tuple(programs))
    return tree_unflatten(trees[0], list(out))


def _coerced(p: Program, avals: list) -> Program:
    """`p` with its weakly typed outputs cast to the strong types in `avals`."""
    def f(*xs: Any) -> tuple:
        outs = evaluate(p, xs)
        return tuple(o if a.weak_type or (isinstance(o, Tracer) and not o.aval.weak_type)
                     else cnp.astype(o, a.dtype) if isinstance(o, Tracer) else _as(o, a)
                     for o, a in zip(outs, avals))  # fmt: skip

    return _stage(f, p.in_avals, "cond")[0]


def _cond_impl(index: Any, *args: Any, branches: tuple) -> tuple:
    i = min(max(int(index), 0), len(branches) - 1)
    return tuple(branches[i].run(*args))


def _interpreted(p: Program) -> Callable:
    """`p` run on arrays of another namespace: each equation by that namespace's
    implementation (``core/namespace.py``), no compiled NumPy code."""
    return lambda *xs: evaluate(p, xs)


def _cond_xp(ns: Any, index: Any, *args: Any, branches: tuple) -> tuple:
    i = min(max(int(index), 0), len(branches) - 1)
    return tuple(evaluate(branches[i], args))


def _cond_shape(index: SD, *avals: SD, branches: tuple) -> tuple:
    return tuple(branches[0].out_avals)


# --- while_loop and fori_loop ----------------------------------------------------------------


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``while cond_fun(val): val = body_fun(val)``; returns `val` (JAX's ``lax.while_loop``).

    Eagerly a Python loop. Staged (inside `jit`, or where the predicate differs between the
    examples of a `vmap`) the functions are traced once, whatever the number of iterations.
    Differentiable in reverse mode too: a bounded number of carry checkpoints are kept and
    the backward pass replays one segment at a time. `cond_fun` returns a scalar boolean.

    >>> import chainrule as cr
    >>> while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 2.0), (0, 1.0))
    (5, 32.0)
    """
    val = init_val
    if not _abstract_mode(tree_flatten(val)[0]):
        while True:
            p = cond_fun(val)
            _check_scalar_pred(p, "while_loop: cond_fun's result", "b")
            try:
                go = bool(p)
            except ConcretizationError:  # known only abstractly: the primitive, from here,
                # carrying the predicate evaluated already (cond_fun may draw: not again)
                def c(pv: tuple) -> Any:
                    return pv[0]

                def step(pv: tuple) -> tuple:
                    v = body_fun(pv[1])
                    return cond_fun(v), v

                return _bind_while(c, step, (p, val))[1]
            if not go:
                return val
            val = body_fun(val)
    return _bind_while(cond_fun, body_fun, val)


def _bind_while(cond_fun: Callable, body_fun: Callable, val: Any) -> Any:
    leaves, tree = tree_flatten(val)
    avals = [_abstract(x) for x in leaves]
    casts: dict = {}

    def c_flat(*xs: Any) -> Any:
        return cond_fun(tree_unflatten(tree, list(xs)))

    def b_flat(*xs: Any) -> Any:
        out = body_fun(tree_unflatten(tree, list(xs)))
        ol, otree = tree_flatten(out)
        if otree != tree:
            raise TypeError(f"while_loop: body_fun must return the structure of its input "
                            f"{tree}, got {otree}")  # fmt: skip
        return tuple(_cast_outputs(ol, casts))

    for _ in range(3):
        bp, _, bcap = _stage(b_flat, avals, "while_loop", body_fun, arrays=True)
        new, more = _fit_carry(avals, bp.out_avals, "while_loop", "body_fun")
        if new == avals and not more:
            break
        leaves = [_as(x, a) if a != b else x for x, a, b in zip(leaves, new, avals)]
        avals = new
        casts.update(more)
    cp, ctree, ccap = _stage(c_flat, avals, "while_loop", cond_fun, arrays=True)
    if len(cp.outvars) != 1 or ctree != tree_flatten(0)[1]:
        raise TypeError(f"while_loop: cond_fun must return a boolean scalar, got {ctree}")
    a = cp.out_avals[0]
    if a.shape != () or a.dtype != np.bool_:
        raise TypeError(f"while_loop: cond_fun must return a boolean scalar, got "
                        f"{_aval_text(a)}")  # fmt: skip
    out = bind(P.while_p, *ccap, *bcap, *leaves, cond=_body(cp), body=_body(bp),
               cond_nconsts=len(ccap), body_nconsts=len(bcap))  # fmt: skip
    return tree_unflatten(tree, list(out))


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, *,
              unroll: Any = None) -> Any:  # fmt: skip
    """``for i in range(lower, upper): val = body_fun(i, val)``; returns `val` (JAX's
    ``lax.fori_loop``). With bounds known when it is called, staged it is a `scan` (reverse
    mode stacks each step's residuals, as JAX); with traced bounds a `while_loop`.

    >>> import chainrule as cr
    >>> fori_loop(0, 4, lambda i, x: x + i, 0.5)
    6.5
    """
    try:
        lo, hi = int(lower), int(upper)
    except ConcretizationError:
        def c(carry: Any) -> Any:
            return carry[0] < upper

        def b(carry: Any) -> Any:
            return carry[0] + 1, body_fun(carry[0], carry[1])

        return while_loop(c, b, (lower, init_val))[1]
    if not _abstract_mode(tree_flatten(init_val)[0]):
        val = init_val
        for i in range(lo, hi):
            val = body_fun(i, val)
        return val
    if type(lower) is int and type(upper) is int:
        i0: Any = lo
    else:
        i0 = np.asarray(lo, np.result_type(lower, upper))[()]

    def step(carry: Any, _: Any) -> Any:
        i, x = carry
        return (i + 1, body_fun(i, x)), None

    return scan(step, (i0, init_val), None, length=max(hi - lo, 0))[0][1]


def _while_impl(*args: Any, cond: Body, body: Body, cond_nconsts: int,
                body_nconsts: int) -> tuple:  # fmt: skip
    return _loop(args, cond.run, body.run, body.weak, cond_nconsts, body_nconsts)


def _while_xp(ns: Any, *args: Any, cond: Body, body: Body, cond_nconsts: int,
              body_nconsts: int) -> tuple:  # fmt: skip
    return _loop(args, _interpreted(cond), _interpreted(body), body.weak, cond_nconsts,
                 body_nconsts)  # fmt: skip


def _loop(args: tuple, crun: Callable, brun: Callable, weak: tuple, a: int, b: int) -> tuple:
    cc, bc, carry = args[:a], args[a:a + b], args[a + b:]
    n = 0
    while crun(*cc, *carry)[0]:
        carry = brun(*bc, *carry)
        if weak:
            carry = _unweak(carry, weak)
        n += 1
    RUNS["while_body"] += n
    RUNS["while_cond"] += n + 1
    return tuple(carry)


def _while_shape(*avals: SD, cond: Body, body: Body, cond_nconsts: int,
                 body_nconsts: int) -> tuple:  # fmt: skip
    return tuple(body.out_avals)


# --- scan ------------------------------------------------------------------------------------


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: Any = 1) -> tuple:  # fmt: skip
    """Loop `f` over the leading axis of `xs` carrying a state: ``carry, y = f(carry, x)``;
    returns ``(final carry, stacked ys)`` (JAX's ``lax.scan``). `xs` may be None with a
    `length`; `reverse` runs from the last element to the first (ys stay in place).

    Eagerly a Python loop; staged (inside `jit`) the body is traced once and runs compiled.

    >>> import numpy as np, chainrule as cr
    >>> scan(lambda c, x: (c + x, c * x), 0.0, np.arange(1.0, 4.0))
    (np.float64(6.0), array([0., 2., 9.]))
    """
    x_leaves, x_tree = tree_flatten(xs)
    lengths = set()
    for x in x_leaves:
        shape = np.shape(x)
        if not shape:
            raise ValueError("scan: each leaf of xs needs a leading axis to scan over, got a "
                             "scalar")  # fmt: skip
        lengths.add(shape[0])
    if len(lengths) > 1:
        raise ValueError(f"scan: the leaves of xs have different lengths {sorted(lengths)}")
    if length is not None:
        length = int(length)
        if lengths and lengths != {length}:
            raise ValueError(f"scan: length={length} but xs have length {lengths.pop()}")
    elif lengths:
        length = lengths.pop()
    else:
        raise ValueError("scan: with xs=None (or no leaves) the length must be given")
    c_leaves, c_tree = tree_flatten(init)
    if not _abstract_mode(c_leaves + x_leaves):
        return _scan_eager(f, init, xs, x_leaves, x_tree, length, reverse)
    return _bind_scan(f, c_leaves, c_tree, xs, x_leaves, x_tree, length, bool(reverse))


def _pair(out: Any) -> tuple:
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"scan: f must return a pair (carry, y), got a {type(out).__name__}")
    return out[0], out[1]


def _scan_eager(f, init, xs, x_leaves, x_tree, length, reverse) -> tuple:
    carry = init
    ys: list = []
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        x = None if xs is None else tree_unflatten(x_tree, [v[t, ...] for v in x_leaves])
        carry, y = _pair(f(carry, x))
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys:  # no step: the shapes of y from the abstract values
        x_av = None if xs is None else tree_unflatten(
            x_tree, [SD(np.shape(v)[1:], dtype_of(v)) for v in x_leaves])  # fmt: skip
        _, y_av = _pair(staging.eval_shape(f, init, x_av))
        yl, yt = tree_flatten(y_av)
        return carry, tree_unflatten(yt, [np.zeros((0, *a.shape), a.dtype) for a in yl])
    yl, yt = tree_flatten(ys[0])
    cols = [[] for _ in yl]
    for y in ys:
        leaves, t = tree_flatten(y)
        if t != yt:
            raise TypeError(f"scan: f returned y of structure {t}, earlier {yt}")
        for c, v in zip(cols, leaves):
            c.append(v)
    return carry, tree_unflatten(yt, [cnp.stack(c) for c in cols])


def _bind_scan(f, c_leaves, c_tree, xs, x_leaves, x_tree, length, reverse) -> tuple:
    nk = len(c_leaves)
    c_avals = [_abstract(x) for x in c_leaves]
    x_avals = [SD(np.shape(x)[1:], dtype_of(x)) for x in x_leaves]
    box: dict = {}
    casts: dict = {}

    def flat(*a: Any) -> tuple:
        carry = tree_unflatten(c_tree, list(a[:nk]))
        x = None if xs is None else tree_unflatten(x_tree, list(a[nk:]))
        new, y = _pair(f(carry, x))
        cl, ct = tree_flatten(new)
        if ct != c_tree:
            raise TypeError(f"scan: f must return a carry of the structure of init {c_tree}, "
                            f"got {ct}")  # fmt: skip
        yl, box["y"] = tree_flatten(y)
        return (*_cast_outputs(cl, casts), *yl)

    for _ in range(3):
        body, _, cap = _stage(flat, c_avals + x_avals, "scan", f, arrays=True)
        new, more = _fit_carry(c_avals, body.out_avals[:nk], "scan", "f")
        if new == c_avals and not more:
            break
        c_leaves = [_as(x, a) if a != b else x for x, a, b in zip(c_leaves, new, c_avals)]
        c_avals = new
        casts.update(more)
    out = bind(P.scan_p, *cap, *c_leaves, *x_leaves, body=_body(body), length=length,
               reverse=reverse, num_consts=len(cap), num_carry=nk)  # fmt: skip
    return tree_unflatten(c_tree, list(out[:nk])), tree_unflatten(box["y"], list(out[nk:]))


def _scan_impl(*args: Any, body: Body, length: int, reverse: bool, num_consts: int,
               num_carry: int) -> tuple:  # fmt: skip
    nc, nk = num_consts, num_carry
    consts, carry, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    ys = [np.empty((length, *a.shape), a.dtype) for a in body.out_avals[nk:]]
    run, weak = body.run, body.weak
    weak = tuple(i for i in weak if i < nk)
    for t in (range(length - 1, -1, -1) if reverse else range(length)):
        out = run(*consts, *carry, *[x[t] for x in xs])
        carry = out[:nk]
        if weak:
            carry = _unweak(carry, weak)
        for buf, y in zip(ys, out[nk:]):
            buf[t] = y
    RUNS["scan_body"] += length
    return (*carry, *ys)


def _scan_xp(ns: Any, *args: Any, body: Body, length: int, reverse: bool, num_consts: int,
             num_carry: int) -> tuple:  # fmt: skip
    """`_scan_impl` on arrays of another namespace: the body interpreted, the ys stacked."""
    nc, nk = num_consts, num_carry
    consts, carry, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
    weak = tuple(i for i in body.weak if i < nk)
    ys: list = [[] for _ in body.out_avals[nk:]]
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        out = evaluate(body, [*consts, *carry, *[x[t, ...] for x in xs]])
        carry = out[:nk]
        if weak:
            carry = _unweak(carry, weak)
        for col, y in zip(ys, out[nk:]):
            col.append(ns.asarray(y) if not hasattr(y, "shape") or isinstance(y, np.generic)
                       else y)  # fmt: skip
    RUNS["scan_body"] += length
    if reverse:
        for col in ys:
            col.reverse()
    return (*carry, *(ns.xp.stack(col) if col else ns.zeros((0, *a.shape), a.dtype)
                      for col, a in zip(ys, body.out_avals[nk:])))  # fmt: skip


def _scan_shape(*avals: SD, body: Body, length: int, reverse: bool, num_consts: int,
                num_carry: int) -> tuple:  # fmt: skip
    outs = body.out_avals
    return (*outs[:num_carry], *(SD((length, *a.shape), a.dtype) for a in outs[num_carry:]))


# --- derived programs ------------------------------------------------------------------------


def _floats(avals: Sequence) -> list:
    return [i for i, a in enumerate(avals) if a.dtype.kind in "fc"]


def _vjp_split(prog: Program, diff: tuple) -> tuple:
    """(early, late, floats): reverse mode through a body, as jit's (`staging.vjp_split`)."""
    return staging.vjp_split(prog, diff)


def _pure(program: Program) -> Program:
    """`program` keeping only what its outputs need: the loop-invariant part of a body,
    computed once, without the body's draws (they stay in the body, made at each step)."""
    live = {v for v in program.outvars if isinstance(v, Var)}
    kept = []
    for e in reversed(program.eqns):
        if any(v in live for v in e.outvars):
            assert not has_effects(e), "a loop-invariant value depends on a draw"
            kept.append(e)
            live.update(v for v in e.invars if isinstance(v, Var))
    kept.reverse()
    pairs = [(v, c) for v, c in zip(program.constvars, program.consts) if v in live]
    return program.replace(eqns=kept, constvars=[v for v, _ in pairs],
                           consts=[c for _, c in pairs])  # fmt: skip


def _jvp_eval(prog: Program, ins: Sequence, which: Sequence, tans: Sequence) -> tuple:
    """(outputs, tangents of every output) of `prog` at `ins` with tangents `tans` of
    ins[which] (zeros where an output has none)."""
    if not which:
        outs = evaluate(prog, list(ins))
        return outs, [instantiate(None, o) for o in outs]

    def g(*d: Any) -> tuple:
        a = list(ins)
        for i, v in zip(which, d):
            a[i] = v
        return tuple(evaluate(prog, a))

    outs, touts = forward.jvp(g, tuple(ins[i] for i in which), tuple(tans))
    return list(outs), list(touts)


def _batched(a: SD, size: int) -> SD:
    return SD((size, *a.shape), a.dtype)


def _vmapped(prog: Program, in_b: Sequence, out_b: Sequence | None, size: int,
             axis_name: Any) -> Callable:  # fmt: skip
    """`prog` as a function over batched values (examples along axis 0 where `in_b`)."""
    in_axes = tuple(0 if b else None for b in in_b)
    out_axes: Any = 0 if out_b is None else tuple(0 if b else None for b in out_b)
    return batching.vmap(lambda *xs: tuple(evaluate(prog, xs)), in_axes=in_axes,
                         out_axes=out_axes, axis_size=size, axis_name=axis_name)  # fmt: skip


def _batched_body(prog: Program, in_b: Sequence, out_b: Sequence | None, size: int,
                  axis_name: Any) -> Body:  # fmt: skip
    avals = [_batched(a, size) if b else a for a, b in zip(prog.in_avals, in_b)]
    return _internal(_vmapped(prog, in_b, out_b, size, axis_name), avals)


_NONE: frozenset = frozenset()


def _union(sets: Sequence) -> frozenset:
    out: set = set()
    for x in sets:
        out |= x
    return frozenset(out)


def _propagate(prog: Program, ins: Sequence) -> list:
    """Dataflow: for each output of `prog`, the union of the labels (sets) of the inputs it
    depends on; -1 is added by collectives and random draws (they differ between examples by
    themselves: under vmap each example draws its own numbers).
    Control-flow primitives are seen through (an output depends on what its programs make it
    depend on)."""
    env: dict = dict(zip(prog.invars, ins))
    for e in prog.eqns:
        sets = [env.get(v, _NONE) if isinstance(v, Var) else _NONE for v in e.invars]
        rule = _DEPENDS.get(e.prim)
        if rule is not None:
            outs = rule(sets, **e.params)
        else:
            u = _union(sets)
            if e.prim in P.COLLECTIVES or e.prim is P.random_p:
                u = u | {-1}
            outs = [u] * len(e.outvars)
        env.update(zip(e.outvars, outs))
    return [env.get(v, _NONE) if isinstance(v, Var) else _NONE for v in prog.outvars]


def _deps(prog: Program) -> list:
    """For each output of `prog`, the positions of the inputs it depends on (-1: a
    collective)."""
    make = lambda: _propagate(prog, [frozenset((i,)) for i in range(len(prog.invars))])  # noqa
    return prog.derive(("deps",), make) if isinstance(prog, Body) else make()


def depends(program: Program, marked: Sequence[bool]) -> list:
    """Which outputs of `program` depend on the inputs `marked` (what differs between the
    examples of a vmap), seeing through control flow.

    >>> import numpy as np, chainrule as cr
    >>> p = cr.make_graph(lambda x, y: scan(lambda c, _: (c * 2.0, c * y), x, None, length=3))
    >>> depends(p(1.0, 2.0), [True, False]), depends(p(1.0, 2.0), [False, True])
    ([True, True], [False, True])
    """
    return [bool(s) for s in _propagate(program, [frozenset((0,)) if m else _NONE
                                                  for m in marked])]  # fmt: skip


def _fixed_point(step: Callable, sets: list) -> list:
    while True:
        new = [a | b for a, b in zip(sets, step(sets))]
        if new == sets:
            return sets
        sets = new


def _cond_depends(sets: list, branches: tuple) -> list:
    outs = [_propagate(b, sets[1:]) for b in branches]
    return [sets[0] | _union(col) for col in zip(*outs)]


def _scan_depends(sets: list, body: Body, num_consts: int, num_carry: int, **_: Any) -> list:
    nc, nk = num_consts, num_carry
    consts, xs = sets[:nc], sets[nc + nk:]
    carry = _fixed_point(lambda k: _propagate(body, consts + k + xs)[:nk], sets[nc:nc + nk])
    return carry + _propagate(body, consts + carry + xs)[nk:]


def _loop_sets(sets: list, cond: Body, body: Body, a: int, b: int) -> tuple:
    """(carry, predicate) label sets of a while loop: every carry depends on the predicate
    (it decides the trip count)."""
    cc, bc = sets[:a], sets[a:a + b]

    def step(k: list) -> list:
        pred = _propagate(cond, cc + k)[0]
        return [o | pred for o in _propagate(body, bc + k)]

    carry = _fixed_point(step, sets[a + b:])
    return carry, _propagate(cond, cc + carry)[0]


def _while_depends(sets: list, cond: Body, body: Body, cond_nconsts: int,
                   body_nconsts: int) -> list:  # fmt: skip
    return _loop_sets(sets, cond, body, cond_nconsts, body_nconsts)[0]


def _while_fwd_depends(sets: list, cond: Body, body: Body, cond_nconsts: int,
                       body_nconsts: int, checkpoints: int) -> list:  # fmt: skip
    carry, pred = _loop_sets(sets, cond, body, cond_nconsts, body_nconsts)
    return carry + carry + [pred] * _META


def _while_bwd_depends(sets: list, early: Body, late: Body, num_consts: int, num_carry: int,
                       num_acc: int) -> list:  # fmt: skip
    nb, nk, na = num_consts, num_carry, num_acc
    trips = _union(sets[nb + nk:nb + nk + _META])
    consts = sets[:nb]
    carry = _fixed_point(lambda k: _propagate(early, consts + k)[:nk],
                         [s | trips for s in sets[nb:nb + nk]])  # fmt: skip
    res = _propagate(early, consts + carry)[nk:]
    cts = _fixed_point(lambda c: _propagate(late, res + c)[na:],
                       [s | trips for s in sets[nb + nk + _META:]])  # fmt: skip
    return [s | trips for s in _propagate(late, res + cts)]


_DEPENDS: dict = {}


def _carry_batched(deps: list, consts_b: list, carry_b: list, rest_b: list) -> list:
    """The carry entries that differ between examples: a fixed point over the body."""
    carry_b = list(carry_b)
    while True:
        ins = consts_b + carry_b + rest_b
        out = [-1 in s or any(ins[i] for i in s) for s in deps[:len(carry_b)]]
        new = [a or b for a, b in zip(carry_b, out)]
        if new == carry_b:
            return carry_b
        carry_b = new


def _out_batched(deps: list, in_b: Sequence) -> list:
    """Which outputs differ between examples, given which inputs do."""
    return [-1 in d or any(in_b[i] for i in d) for d in deps]


def _front(trace: batching.BatchTrace, v: Any, batched: bool, want: bool) -> Any:
    if want and not batched:
        return cnp.broadcast_to(v, (trace.size, *np.shape(v)))
    return v


def _own(trace: Any, args: tuple) -> tuple[list, list]:
    """(values, nodes) of `args` for a reverse trace."""
    vals = [trace.lower(a) for a in args]
    parents = [a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    return vals, parents


def _record(trace: Any, prim: Any, params: dict, parents: list, vals: list, outs: Sequence,
            saved: tuple) -> tuple:  # fmt: skip
    """Record a node over `parents` whose joint rule reads `saved`; wrap the float `outs`."""
    node = reverse.Node(prim, params, tuple(parents), tuple(np.shape(o) for o in outs),
                        tuple(dtype_of(o) for o in outs))  # fmt: skip
    node.saved = (None, *saved)
    versions = [(v._ver, v._ver[0]) for v in vals if getattr(v, "_ver", None) is not None]
    node.versions = versions or None
    return tuple(
        trace.wrap(o, reverse.Node(reverse.proj_p, i, (node,), np.shape(o), dtype_of(o)))
        if dtype_of(o).kind in "fc" else trace.wrap(o, None)
        for i, o in enumerate(outs)
    )


def _zeros(a: SD) -> Any:
    return full(a.shape, a.dtype, 0)


# --- under checkpoint: a primitive that draws is not run again -------------------------------


def _programs_draw(params: dict) -> bool:
    """Whether the programs a control-flow primitive carries draw."""
    for v in params.values():
        for q in (v if isinstance(v, tuple) else (v,)):
            if isinstance(q, Program) and _draws(q):
                return True
    return False


def _kept(fwd: Callable) -> Callable:
    """checkpoint's first run of a primitive that draws: its reverse mode's forward pass, with
    every float operand followed: (outputs, what the recomputation needs, the values it
    needs)."""
    def keep(vals: list, params: dict) -> tuple:
        prim, lo, outs, node, saved = fwd(list(vals), params)
        return tuple(outs), (prim, lo, node, len(outs)), (*outs, *saved)

    return keep


def _replay_kept(trace: reverse.ReverseTrace, args: tuple, params: dict, info: tuple,
                 values: tuple) -> tuple:  # fmt: skip
    """checkpoint's recomputation of a primitive that draws: the reverse-mode node over the
    values its first run kept (no second run, no second draw)."""
    prim, lo, node, k = info
    vals, parents = _own(trace, args)
    return _record(trace, prim, node, parents[lo:], vals, values[:k], values[k:])


# --- cond: forward mode, vmap, reverse mode --------------------------------------------------


def _cond_jvp(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    branches = params["branches"]
    primals = [a.primal if isinstance(a, Tracer) and a._trace is trace else a for a in args]
    tangents = [a.tangent if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    which = tuple(i for i, t in enumerate(tangents[1:]) if t is not None)
    if not which:
        return bind(P.cond_p, *primals, **params)
    floats = _floats(branches[0].out_avals)

    def make() -> tuple:
        n = len(branches[0].invars)
        avals = list(branches[0].in_avals) + [branches[0].in_avals[i] for i in which]

        def one(b: Program) -> Body:
            def f(*xs: Any) -> tuple:
                outs, touts = _jvp_eval(b, xs[:n], which, xs[n:])
                return (*outs, *(touts[i] for i in floats))

            return _internal(f, avals)

        return tuple(one(b) for b in branches)

    key = ("jvp", which, tuple(id(b) for b in branches))
    jb = branches[0].derive(key, make)
    ts = [instantiate(tangents[1 + i], primals[1 + i]) for i in which]
    res = bind(P.cond_p, *primals, *ts, branches=jb)
    k = len(branches[0].outvars)
    tan_of = dict(zip(floats, res[k:]))
    return tuple(trace.wrap(o, tan_of.get(i)) for i, o in enumerate(res[:k]))


def _cond_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    branches = params["branches"]
    vals, dims = trace.unpack(args, front=True)
    in_b = tuple(d is not None for d in dims[1:])
    if dims[0] is not None:  # the examples take different branches: all run, then select
        # (each branch batched as a whole: its draws are made for every example)
        n, name = trace.size, trace.axis_name
        key = ("vmap-all", in_b, n, name, tuple(id(b) for b in branches))
        bb = branches[0].derive(key, lambda: tuple(_batched_body(b, in_b, None, n, name)
                                                   for b in branches))  # fmt: skip
        outs = [evaluate(b, vals[1:]) for b in bb]
        index = vals[0]
        res = list(outs[-1])
        for k in range(len(branches) - 2, -1, -1):
            sel = index == k
            res = [cnp.where(cnp.reshape(sel, (n,) + (1,) * (np.ndim(a) - 1)), a, r)
                   for a, r in zip(outs[k], res)]  # fmt: skip
        return tuple(batching.BatchTracer(trace, r, 0) for r in res)
    out_b = [any(col) for col in zip(*(_out_batched(_deps(b), in_b) for b in branches))]
    key = ("vmap", in_b, trace.size, trace.axis_name, tuple(id(b) for b in branches))
    bb = branches[0].derive(key, lambda: tuple(
        _batched_body(b, in_b, out_b, trace.size, trace.axis_name) for b in branches))
    outs = bind(P.cond_p, vals[0], *vals[1:], branches=bb)
    return tuple(trace.wrap(o, 0 if w else None) for o, w in zip(outs, out_b))


def _cond_vjp(branches: tuple, diff: tuple) -> tuple:
    """(forward branches, backward branches, float outputs): forward branch b returns the
    outputs then the joined residual slots (its own residuals in its slots, zeros in the
    others'); backward branch b takes the slots and the cotangents and runs b's backward."""
    splits = [_vjp_split(b, diff) for b in branches]
    floats = splits[0][2]
    k = len(branches[0].outvars)
    slots: list = []
    assign = []
    for early, _, _ in splits:
        used: set = set()
        mine = []
        for v in early.outvars[k:]:
            a = v.aval
            s = next((j for j, b in enumerate(slots) if j not in used and b.shape == a.shape
                      and b.dtype == a.dtype), None)  # fmt: skip
            if s is None:
                s = len(slots)
                slots.append(SD(a.shape, a.dtype))
            used.add(s)
            mine.append(s)
        assign.append(mine)
    in_avals = list(branches[0].in_avals)
    ct_avals = [branches[0].out_avals[i] for i in floats]
    fwd, bwd = [], []
    for (early, late, _), mine in zip(splits, assign):
        def f(*xs: Any, early: Program = early, mine: list = mine) -> tuple:
            r = evaluate(early, xs)
            out = [_zeros(a) for a in slots]
            for s, v in zip(mine, r[k:]):
                out[s] = v
            return (*r[:k], *out)

        def g(*xs: Any, late: Program = late, mine: list = mine) -> tuple:
            return tuple(evaluate(late, [xs[s] for s in mine] + list(xs[len(slots):])))

        fwd.append(_internal(f, in_avals))
        bwd.append(_internal(g, slots + ct_avals))
    return tuple(fwd), tuple(bwd), floats


def _cond_fwd(vals: list, params: dict, diff: tuple) -> tuple:
    """Reverse mode's forward pass of a cond: (outputs, the node's params, its saved
    values)."""
    branches = params["branches"]
    key = ("vjp", diff, tuple(id(b) for b in branches))
    fwd, bwd, floats = branches[0].derive(key, lambda: _cond_vjp(branches, diff))
    res = bind(P.cond_p, *vals, branches=fwd)
    k = len(branches[0].outvars)
    return res[:k], {"bwd": bwd, "n": len(vals) - 1, "diff": diff,
                     "floats": tuple(floats)}, (vals[0], *res[k:])  # fmt: skip


def _cond_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    vals, parents = _own(trace, args)
    diff = tuple(i for i, p in enumerate(parents[1:]) if p is not None)
    if not diff:
        return trace.wrap_all(bind(P.cond_p, *vals, **params), P.cond_p)
    outs, node, saved = _cond_fwd(vals, params, diff)
    return _record(trace, P.cond_p, node, parents[1:], vals, outs, saved)


def _cond_keep(vals: list, params: dict) -> tuple:
    diff = tuple(_floats(params["branches"][0].in_avals))
    return (P.cond_p, 1, *_cond_fwd(vals, params, diff))


def _cond_joint(g: tuple, ans: Any, index: Any, *slots: Any, bwd: tuple, n: int, diff: tuple,
                floats: tuple) -> list:  # fmt: skip
    cts = bind(P.cond_p, index, *slots, *(g[i] for i in floats), branches=bwd)
    out: list = [None] * n
    for i, c in zip(diff, cts):
        out[i] = c
    return out


# --- while: forward mode, vmap, reverse mode -------------------------------------------------


def _while_jvp(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    primals = [x.primal if isinstance(x, Tracer) and x._trace is trace else x for x in args]
    tangents = [x.tangent if isinstance(x, Tracer) and x._trace is trace else None for x in args]
    nk = len(args) - a - b
    which_c = tuple(i for i in range(b) if tangents[a + i] is not None)
    if not which_c and all(t is None for t in tangents[a + b:]):
        return bind(P.while_p, *primals, **params)
    fk = _floats(body.out_avals)  # every float carry gets a tangent
    cp, bp = body.derive(("jvp", which_c, a, id(cond)),
                         lambda: _loop_jvp_programs(body, cond, a, b, which_c))
    init = primals[a + b:]
    tinit = [instantiate(tangents[a + b + i], init[i]) for i in fk]
    tc = [tangents[a + i] for i in which_c]
    res = bind(P.while_p, *primals[:a + b], *tc, *init, *tinit, cond=cp, body=bp,
               cond_nconsts=a, body_nconsts=b + len(which_c))  # fmt: skip
    tan_of = dict(zip(fk, res[nk:]))
    return tuple(trace.wrap(o, tan_of.get(i)) for i, o in enumerate(res[:nk]))


def _while_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    vals, dims = trace.unpack(args, front=True)
    flags = [d is not None for d in dims]
    cc_b, bc_b, init_b = flags[:a], flags[a:a + b], flags[a + b:]
    carry_b = _carry_batched(_deps(body), bc_b, init_b, [])
    pred = _deps(cond)[0]
    cins = cc_b + carry_b
    size, name = trace.size, trace.axis_name
    if not (-1 in pred or any(cins[i] for i in pred)):  # the examples loop together
        key = ("vmap", tuple(flags), tuple(carry_b), size, name, id(cond))
        cp, bp = body.derive(key, lambda: (
            _batched_body(cond, cins, [False], size, name),
            _batched_body(body, bc_b + carry_b, carry_b, size, name)))
        init = [_front(trace, v, f, w) for v, f, w in zip(vals[a + b:], init_b, carry_b)]
        outs = bind(P.while_p, *vals[:a + b], *init, cond=cp, body=bp, cond_nconsts=a,
                    body_nconsts=b)  # fmt: skip
        return tuple(trace.wrap(o, 0 if w else None) for o, w in zip(outs, carry_b))
    # the predicate differs between examples: run while any example continues; an example
    # whose predicate is false keeps its carry (JAX's semantics) and stops (its predicate is
    # carried: evaluated once per step, after the step, as the loop does)
    nk = len(init_b)
    all_b = [True] * nk

    def make() -> tuple:
        c_avals = [_batched(x, size) if f else x for x, f in zip(cond.in_avals[:a], cc_b)]
        b_avals = [_batched(x, size) if f else x for x, f in zip(body.in_avals[:b], bc_b)]
        k_avals = [_batched(x, size) for x in body.out_avals]
        p_aval = SD((size,), np.dtype(np.bool_))
        vc = _vmapped(cond, cc_b + all_b, None, size, name)
        vb = _vmapped(body, bc_b + all_b, None, size, name)

        def c(p: Any, *carry: Any) -> tuple:
            return (cnp.any(p),)

        def f(*xs: Any) -> tuple:
            cc, bc, p, old = xs[:a], xs[a:a + b], xs[a + b], xs[a + b + 1:]
            new = vb(*bc, *old)
            carry = tuple(cnp.where(cnp.reshape(p, (size,) + (1,) * (np.ndim(o) - 1)), o, x)
                          for o, x in zip(new, old))  # fmt: skip
            return (cnp.logical_and(p, vc(*cc, *carry)[0]), *carry)

        return (_internal(c, [p_aval] + k_avals), _internal(f, c_avals + b_avals + [p_aval]
                                                            + k_avals),
                _internal(vc, c_avals + k_avals))  # fmt: skip

    cp, bp, first = body.derive(("vmap-select", tuple(flags), size, name, id(cond)), make)
    init = [_front(trace, v, f, True) for v, f in zip(vals[a + b:], init_b)]
    p0 = evaluate(first, [*vals[:a], *init])[0]
    outs = bind(P.while_p, *vals[:a + b], p0, *init, cond=cp, body=bp, cond_nconsts=0,
                body_nconsts=a + b)  # fmt: skip
    return tuple(batching.BatchTracer(trace, o, 0) for o in outs[1:])


def _checkpoints(avals: Sequence) -> int:
    """How many carry checkpoints a while loop's reverse mode keeps (even, at least 2)."""
    size = sum(int(np.prod(a.shape)) * a.dtype.itemsize for a in avals) or 1
    k = max(2, min(MAX_CHECKPOINTS, CHECKPOINT_BYTES // size))
    return k - k % 2


def _while_vjp(body: Body, b: int, diff_c: tuple, cond: Body | None = None,
               a: int = 0) -> tuple:  # fmt: skip
    """(early, late, float carries) of the body for reverse mode: ``early(*consts, *carry) ->
    (*carry, *residuals)``, ``late(*residuals, *cts of the float carries) -> (*cts of
    consts[diff_c], *cts of the float carries)``. With `cond` (a predicate drawing from a
    generator the body draws from) a replayed step is the body then the predicate on its
    result, for its draws (the forward's order): `early` takes the predicate's `a` consts
    first."""
    fk = _floats(body.out_avals)
    prog, pre = body, 0
    if cond is not None:
        pre = a

        def step(*xs: Any) -> tuple:
            out = evaluate(body, list(xs[a:]))
            evaluate(cond, [*xs[:a], *out])  # its draws only: its result is not used
            return tuple(out)

        prog = _internal(step, list(cond.in_avals[:a]) + list(body.in_avals))
    early, late, floats = _vjp_split(prog, tuple(pre + i for i in diff_c)
                                     + tuple(pre + b + i for i in fk))  # fmt: skip
    assert floats == fk
    return Body(early), Body(late), tuple(fk)


def _cond_in_replay(cond: Body, body: Body) -> bool:
    """Whether a while loop's replay must run the predicate after each step: it draws from a
    generator the body draws from (between two steps of the forward)."""
    mine = _sources(body)
    return any(any(c is m for m in mine) for c in _sources(cond))


def _while_fwd(vals: list, params: dict, diff_c: tuple) -> tuple:
    """Reverse mode's forward pass of a while loop: (outputs, the node's params, its saved
    values). The node's operands are the body's consts and the initial carry (the predicate
    carries no gradient; its consts are saved when the replay runs it)."""
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    stepped = _cond_in_replay(cond, body)
    pre = a if stepped else 0
    early, late, fk = body.derive(("vjp", diff_c, id(cond) if stepped else None),
                                  lambda: _while_vjp(body, b, diff_c, cond if stepped else None,
                                                     a))  # fmt: skip
    nk = len(vals) - a - b
    k = _checkpoints(body.out_avals)
    res = bind(P.while_fwd_p, *vals, cond=cond, body=body, cond_nconsts=a, body_nconsts=b,
               checkpoints=k)  # fmt: skip
    outs, saved = res[:nk], res[nk:]
    return outs, {"early": early, "late": late, "nb": b, "nk": nk, "diff_c": diff_c,
                  "fk": fk, "pre": pre}, (*vals[a - pre:a + b], *saved)  # fmt: skip


def _while_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    a, b = params["cond_nconsts"], params["body_nconsts"]
    vals, parents = _own(trace, args)
    if all(p is None for p in parents[a:]):
        return trace.wrap_all(bind(P.while_p, *vals, **params), P.while_p)
    diff_c = tuple(i for i in range(b) if parents[a + i] is not None)
    outs, node, saved = _while_fwd(vals, params, diff_c)
    return _record(trace, P.while_p, node, parents[a:], vals, outs, saved)


def _while_keep(vals: list, params: dict) -> tuple:
    b = params["body_nconsts"]
    diff_c = tuple(i for i in _floats(params["body"].in_avals) if i < b)
    return (P.while_p, params["cond_nconsts"], *_while_fwd(vals, params, diff_c))


def _while_joint(g: tuple, ans: Any, *saved: Any, early: Body, late: Body, nb: int, nk: int,
                 diff_c: tuple, fk: tuple, pre: int) -> list:  # fmt: skip
    consts, rest = saved[:pre + nb], saved[pre + nb:]
    res = bind(P.while_bwd_p, *consts, *rest, *(g[i] for i in fk), early=early, late=late,
               num_consts=pre + nb, num_carry=nk, num_acc=len(diff_c))  # fmt: skip
    out: list = [None] * (nb + nk)
    for i, c in zip(diff_c, res):
        out[i] = c
    for i, c in zip(fk, res[len(diff_c):]):
        out[nb + i] = c
    return out


def _while_fwd_impl(*args: Any, cond: Body, body: Body, cond_nconsts: int, body_nconsts: int,
                    checkpoints: int, ns: Any = None) -> tuple:  # fmt: skip
    """The loop, keeping carry checkpoints: checkpoint j is the carry before step j·stride,
    with the states of the generators the body and the predicate draw from then (the
    replay of its segment draws what the forward drew); when the `checkpoints` slots are
    full, every other one is dropped and the stride doubles.

    Where the draws may not come from the generators (a transformation in flight takes
    them: checkpoint's recomputation gives the values of its first run), the draws of each
    segment are logged instead (`random.Log`: memory then grows with the trip count)."""
    a, b, K = cond_nconsts, body_nconsts, checkpoints
    cc, bc, carry = args[:a], args[a:a + b], args[a + b:]
    if ns is None:
        crun, brun, weak = cond.run, body.run, body.weak
        bufs = [np.empty((K, *av.shape), av.dtype) for av in body.out_avals]
    else:  # another namespace's arrays: interpreted, its buffers (array-API slice assignments)
        crun, brun, weak = _interpreted(cond), _interpreted(body), body.weak
        bufs = [ns.zeros((K, *av.shape), av.dtype) for av in body.out_avals]
    states = np.empty(K, object)  # per checkpoint: None (no draws), states, or a log segment
    sources = _loop_sources(cond, body)
    log = random.Log() if sources and random.taken() else None
    count, stride, t, due = 0, 1, 0, 0
    with random.logging(log) if log is not None else contextlib.nullcontext():
        while crun(*cc, *carry)[0]:
            if t == due:
                if count == K:  # thin: keep the even checkpoints, double the stride
                    for buf in bufs:
                        buf[:K // 2, ...] = buf[::2, ...]
                    if log is not None:  # a log covers two segments now
                        for j in range(K // 2):
                            states[j] = log.merge(states[2 * j], states[2 * j + 1])
                    else:
                        states[:K // 2] = states[::2]
                    count, stride = K // 2, stride * 2
                for buf, c in zip(bufs, carry):
                    buf[count, ...] = c
                if log is not None:
                    states[count] = log.start()
                elif sources:
                    states[count] = random.states(sources)
                count += 1
                due += stride
            carry = brun(*bc, *carry)
            if weak:
                carry = _unweak(carry, weak)
            t += 1
    RUNS["while_body"] += t
    RUNS["while_cond"] += t + 1
    return (*carry, *bufs, np.int64(count), np.int64(stride), np.int64(t), states)


def _while_fwd_shape(*avals: SD, cond: Body, body: Body, cond_nconsts: int, body_nconsts: int,
                     checkpoints: int) -> tuple:  # fmt: skip
    outs = body.out_avals
    i64 = SD((), np.int64)
    return (*outs, *(SD((checkpoints, *x.shape), x.dtype) for x in outs), i64, i64, i64,
            SD((checkpoints,), np.dtype(object)))


def _while_bwd_impl(*args: Any, early: Body, late: Body, num_consts: int, num_carry: int,
                    num_acc: int, ns: Any = None) -> tuple:  # fmt: skip
    """The backward pass of a while loop: for each segment, last first, run the body from
    its checkpoint keeping the residuals (drawing from temporary generators restored to the
    states saved with the checkpoint: the forward's draws again, the real generators left
    where the forward left them), then the backward program over them in reverse; `late`
    returns contributions to accumulate (``num_acc``) then the carry's cotangents."""
    nb, nk, na = num_consts, num_carry, num_acc
    consts, bufs = args[:nb], args[nb:nb + nk]
    count, stride, trips = (int(v) for v in args[nb + nk:nb + nk + 3])
    states = args[nb + nk + 3]
    cts = list(args[nb + nk + _META:])
    erun, lrun = (early.run, late.run) if ns is None else (_interpreted(early),
                                                            _interpreted(late))  # fmt: skip
    weak = tuple(i for i in early.weak if i < nk)
    cweak = tuple(i for i, x in enumerate(early.in_avals[nb:]) if x.weak_type and not x.shape)
    acc: list | None = None
    for j in range(count - 1, -1, -1):
        start = j * stride
        carry = [buf[j, ...] for buf in bufs]
        if cweak:
            carry = _unweak(carry, cweak)
        saved = []
        st = states[j]
        with random.feeding(st) if isinstance(st, dict) else random.replaying(st or ()):
            for _ in range(start, min(start + stride, trips)):
                out = erun(*consts, *carry)
                carry = out[:nk]
                if weak:
                    carry = _unweak(carry, weak)
                saved.append(out[nk:])
        RUNS["while_replay"] += len(saved)
        RUNS["while_backward"] += len(saved)
        while saved:
            out = lrun(*saved.pop(), *cts)
            if acc is None:
                acc = list(out[:na])
            else:
                acc = [x + y for x, y in zip(acc, out[:na])]
            cts = list(out[na:])
    if acc is None:
        acc = [(np.zeros if ns is None else ns.zeros)(x.shape, x.dtype)
               for x in late.out_avals[:na]]  # fmt: skip
    return (*acc, *cts)


def _while_bwd_shape(*avals: SD, early: Body, late: Body, num_consts: int, num_carry: int,
                     num_acc: int) -> tuple:  # fmt: skip
    return tuple(SD(a.shape, a.dtype) for a in late.out_avals)


def _loop_jvp_programs(body: Body, cond: Body, a: int, b: int, which_c: tuple) -> tuple:
    """(cond', body') of a loop carrying tangents: cond'(*cc, *carry, *tangents),
    body'(*bc, *tangents of bc[which_c], *carry, *tangents of the float carries)."""
    nk = len(body.outvars)
    fk = _floats(body.out_avals)
    c_avals, k_avals = list(body.in_avals[:b]), list(body.in_avals[b:])
    t_avals = [k_avals[i] for i in fk]
    nw = len(which_c)

    def c(*xs: Any) -> tuple:
        return tuple(evaluate(cond, list(xs[:a + nk])))

    def f(*xs: Any) -> tuple:
        consts, tc = xs[:b], xs[b:b + nw]
        carry, tk = xs[b + nw:b + nw + nk], xs[b + nw + nk:]
        which = list(which_c) + [b + i for i in fk]
        outs, touts = _jvp_eval(body, list(consts) + list(carry), which, list(tc) + list(tk))
        return (*outs, *(touts[i] for i in fk))

    cp = _internal(c, list(cond.in_avals) + t_avals)
    bp = _internal(f, c_avals + [c_avals[i] for i in which_c] + k_avals + t_avals)
    return cp, bp


def _split_jvp(trace: forward.JVPTrace, args: tuple) -> tuple[list, list]:
    primals = [x.primal if isinstance(x, Tracer) and x._trace is trace else x for x in args]
    tangents = [x.tangent if isinstance(x, Tracer) and x._trace is trace else None for x in args]
    return primals, tangents


def _while_fwd_jvp(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    """Forward mode of the checkpointed loop (forward over reverse: Hessian-vector
    products): the same loop over the body's JVP, its checkpoints holding tangents too."""
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    primals, tangents = _split_jvp(trace, args)
    nk = len(args) - a - b
    which_c = tuple(i for i in range(b) if tangents[a + i] is not None)
    if not which_c and all(t is None for t in tangents[a + b:]):
        return bind(P.while_fwd_p, *primals, **params)
    fk = _floats(body.out_avals)
    cp, bp = body.derive(("jvp", which_c, a, id(cond)),
                         lambda: _loop_jvp_programs(body, cond, a, b, which_c))
    init = primals[a + b:]
    tinit = [instantiate(tangents[a + b + i], init[i]) for i in fk]
    tc = [tangents[a + i] for i in which_c]
    res = bind(P.while_fwd_p, *primals[:a + b], *tc, *init, *tinit, cond=cp, body=bp,
               cond_nconsts=a, body_nconsts=b + len(which_c),
               checkpoints=params["checkpoints"])  # fmt: skip
    m = nk + len(fk)
    final, bufs = res[:nk], res[m:m + nk]
    t_final, t_bufs = dict(zip(fk, res[nk:m])), dict(zip(fk, res[m + nk:2 * m]))
    return (*(trace.wrap(o, t_final.get(i)) for i, o in enumerate(final)),
            *(trace.wrap(o, t_bufs.get(i)) for i, o in enumerate(bufs)), *res[2 * m:])


def _bwd_jvp_programs(early: Body, late: Body, nb: int, nk: int, na: int,
                      which_c: tuple) -> tuple:  # fmt: skip
    """(early', late') of the backward loop carrying tangents: early'(*consts, *their
    tangents [which_c], *carry, *tangents of the float carries) -> (*carry, *its tangents,
    *residuals, *tangents of the float residuals); late'(*residuals, *their tangents,
    *cotangents, *their tangents) -> (*acc, *its tangents, *cotangents, *their tangents)."""
    fk = _floats(early.in_avals[nb:nb + nk])
    nr = len(early.outvars) - nk
    fr = _floats(early.out_avals[nk:])
    nw, ns = len(which_c), len(late.invars) - nr
    e_in, l_in = list(early.in_avals), list(late.in_avals)

    def ej(*xs: Any) -> tuple:
        consts, tc = xs[:nb], xs[nb:nb + nw]
        carry, tk = xs[nb + nw:nb + nw + nk], xs[nb + nw + nk:]
        which = list(which_c) + [nb + i for i in fk]
        outs, touts = _jvp_eval(early, [*consts, *carry], which, [*tc, *tk])
        return (*outs[:nk], *(touts[i] for i in fk), *outs[nk:], *(touts[nk + j] for j in fr))

    def lj(*xs: Any) -> tuple:
        res, tres = xs[:nr], xs[nr:nr + len(fr)]
        ct, tct = xs[nr + len(fr):nr + len(fr) + ns], xs[nr + len(fr) + ns:]
        which = list(fr) + [nr + i for i in range(ns)]
        outs, touts = _jvp_eval(late, [*res, *ct], which, [*tres, *tct])
        return (*outs[:na], *touts[:na], *outs[na:], *touts[na:])

    e = _internal(ej, e_in[:nb] + [e_in[i] for i in which_c] + e_in[nb:]
                  + [e_in[nb + i] for i in fk])  # fmt: skip
    lt = _internal(lj, l_in[:nr] + [l_in[j] for j in fr] + l_in[nr:] + l_in[nr:])
    return e, lt, tuple(fk)


def _while_bwd_jvp(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    early, late = params["early"], params["late"]
    nb, nk, na = params["num_consts"], params["num_carry"], params["num_acc"]
    primals, tangents = _split_jvp(trace, args)
    if all(t is None for t in tangents):
        return bind(P.while_bwd_p, *primals, **params)
    which_c = tuple(i for i in range(nb) if tangents[i] is not None)
    ej, lj, fk = early.derive(("bwd-jvp", which_c, id(late)),
                              lambda: _bwd_jvp_programs(early, late, nb, nk, na, which_c))
    bufs = primals[nb:nb + nk]
    cts = primals[nb + nk + _META:]
    ns = len(cts)
    res = bind(P.while_bwd_p, *primals[:nb], *(tangents[i] for i in which_c), *bufs,
               *(instantiate(tangents[nb + i], bufs[i]) for i in fk),
               *primals[nb + nk:nb + nk + _META], *cts,
               *(instantiate(t, c) for t, c in zip(tangents[nb + nk + _META:], cts)),
               early=ej, late=lj, num_consts=nb + len(which_c), num_carry=nk + len(fk),
               num_acc=2 * na)  # fmt: skip
    acc, tacc = res[:na], res[na:2 * na]
    ct, tct = res[2 * na:2 * na + ns], res[2 * na + ns:]
    return (*(trace.wrap(o, t) for o, t in zip(acc, tacc)),
            *(trace.wrap(o, t) for o, t in zip(ct, tct)))


def _while_fwd_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    vals, parents = _own(trace, args)
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.while_fwd_p, *vals, **params), P.while_fwd_p)
    raise NotImplementedError(
        "reverse mode of a while_loop's reverse mode (a second derivative by reverse over "
        "reverse) is not supported: use forward over reverse (cr.jvp of cr.grad, cr.hvp, "
        "cr.jacfwd of cr.grad), or fori_loop with static bounds / scan"
    )


def _while_bwd_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    vals, parents = _own(trace, args)
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.while_bwd_p, *vals, **params), P.while_bwd_p)
    return _while_fwd_reverse(trace, args, params)


def _per_example(trace: batching.BatchTrace, prim: Any, vals: list, dims: list,
                 params: dict) -> tuple:  # fmt: skip
    """`prim` run once per example, stacked (each example has its own trip count)."""
    results = []
    for e in range(trace.size):
        results.append(bind(prim, *[v[e] if d is not None else v for v, d in zip(vals, dims)],
                            **params))  # fmt: skip
    return tuple(batching.BatchTracer(trace, cnp.stack(list(col)), 0) for col in zip(*results))


def _predicated(cond: Body, body: Body, a: int, b: int) -> tuple:
    """(cond', body') of a while loop carrying its predicate: ``cond'(p, *carry) = p``,
    ``body'(*cond consts, *body consts, p, *carry) = (cond(new), *new)`` with ``new =
    body(carry)``: the predicate is evaluated once per step, after it, as the loop does."""
    def c(p: Any, *carry: Any) -> tuple:
        return (p,)

    def f(*xs: Any) -> tuple:
        new = evaluate(body, [*xs[a:a + b], *xs[a + b + 1:]])
        return (*evaluate(cond, [*xs[:a], *new]), *new)

    p, k_avals = SD((), np.dtype(np.bool_)), list(body.out_avals)
    return (_internal(c, [p] + k_avals),
            _internal(f, list(cond.in_avals[:a]) + list(body.in_avals[:b]) + [p] + k_avals))


def _while_fwd_per_example(trace: batching.BatchTrace, vals: list, dims: list,
                           params: dict) -> tuple:  # fmt: skip
    """A checkpointed while loop whose predicate differs between the examples: the first
    predicate of every example at once (as the loop over all examples evaluates it), then
    one loop per example carrying its predicate."""
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    size, name = trace.size, trace.axis_name
    in_b = [d is not None for d in dims[:a]] + [d is not None for d in dims[a + b:]]
    first = body.derive(("vmap-first", tuple(in_b), size, name, id(cond)),
                        lambda: _batched_body(cond, in_b, [True], size, name))
    p0 = evaluate(first, [*vals[:a], *vals[a + b:]])[0]
    pc, pb = body.derive(("predicated", id(cond)), lambda: _predicated(cond, body, a, b))
    nk = len(vals) - a - b
    outs = _per_example(trace, P.while_fwd_p, [*vals[:a + b], p0, *vals[a + b:]],
                        [*dims[:a + b], 0, *dims[a + b:]],
                        {**params, "cond": pc, "body": pb, "cond_nconsts": 0,
                         "body_nconsts": a + b})  # fmt: skip
    return (*outs[1:nk + 1], *outs[nk + 2:2 * nk + 2], *outs[2 * nk + 2:])


def _stacked(trace: batching.BatchTrace, v: Any, batched: bool, want: bool) -> Any:
    """A stack of checkpoints (K, ...) as (K, examples, ...)."""
    if batched:
        return cnp.moveaxis(v, 0, 1)
    if want:
        return cnp.broadcast_to(cnp.expand_dims(v, 1), (v.shape[0], trace.size, *v.shape[1:]))
    return v


def _while_fwd_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    cond, body = params["cond"], params["body"]
    a, b = params["cond_nconsts"], params["body_nconsts"]
    vals, dims = trace.unpack(args, front=True)
    flags = [d is not None for d in dims]
    cc_b, bc_b, init_b = flags[:a], flags[a:a + b], flags[a + b:]
    carry_b = _carry_batched(_deps(body), bc_b, init_b, [])
    cins = cc_b + carry_b
    if any(_out_batched(_deps(cond), cins)):  # one loop per example
        return _while_fwd_per_example(trace, vals, dims, params)
    size, name = trace.size, trace.axis_name
    key = ("vmap", tuple(flags), tuple(carry_b), size, name, id(cond))
    cp, bp = body.derive(key, lambda: (
        _batched_body(cond, cins, [False], size, name),
        _batched_body(body, bc_b + carry_b, carry_b, size, name)))
    init = [_front(trace, v, f, w) for v, f, w in zip(vals[a + b:], init_b, carry_b)]
    outs = bind(P.while_fwd_p, *vals[:a + b], *init, **{**params, "cond": cp, "body": bp})
    nk = len(init)
    return (*(trace.wrap(o, 0 if w else None) for o, w in zip(outs[:nk], carry_b)),
            *(trace.wrap(o, 1 if w else None) for o, w in zip(outs[nk:2 * nk], carry_b)),
            *outs[2 * nk:])


def _while_bwd_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    early, late = params["early"], params["late"]
    nb, nk, na = params["num_consts"], params["num_carry"], params["num_acc"]
    vals, dims = trace.unpack(args, front=True)
    flags = [d is not None for d in dims]
    if any(flags[nb + nk:nb + nk + _META]):  # the examples' loops differ: one per example
        return _per_example(trace, P.while_bwd_p, vals, dims, params)
    c_b, k_b, s_b = flags[:nb], flags[nb:nb + nk], flags[nb + nk + _META:]
    e_deps, l_deps = _deps(early), _deps(late)
    carry_b = _carry_batched(e_deps, c_b, k_b, [])
    res_b = _out_batched(e_deps, c_b + carry_b)[nk:]
    ct_b = _carry_batched(l_deps[na:], res_b, s_b, [])
    acc_b = _out_batched(l_deps, res_b + ct_b)[:na]
    size, name = trace.size, trace.axis_name
    key = ("vmap", tuple(flags), size, name, id(late))
    ep, lp = early.derive(key, lambda: (
        _batched_body(early, c_b + carry_b, carry_b + res_b, size, name),
        _batched_body(late, res_b + ct_b, acc_b + ct_b, size, name)))
    bufs = [_stacked(trace, v, f, w) for v, f, w in zip(vals[nb:nb + nk], k_b, carry_b)]
    cts = [_front(trace, v, f, w) for v, f, w in zip(vals[nb + nk + _META:], s_b, ct_b)]
    outs = bind(P.while_bwd_p, *vals[:nb], *bufs, *vals[nb + nk:nb + nk + _META], *cts,
                **{**params, "early": ep, "late": lp})  # fmt: skip
    return tuple(trace.wrap(o, 0 if w else None) for o, w in zip(outs, acc_b + ct_b))


# --- scan: forward mode, vmap, reverse mode --------------------------------------------------


def _scan_jvp(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    body, nc, nk = params["body"], params["num_consts"], params["num_carry"]
    primals = [x.primal if isinstance(x, Tracer) and x._trace is trace else x for x in args]
    tangents = [x.tangent if isinstance(x, Tracer) and x._trace is trace else None for x in args]
    if all(t is None for t in tangents):
        return bind(P.scan_p, *primals, **params)
    n = len(args)
    which_c = tuple(i for i in range(nc) if tangents[i] is not None)
    fk = _floats(body.out_avals[:nk])
    which_x = tuple(i for i in range(nc + nk, n) if tangents[i] is not None)
    fy = [j for j in _floats(body.out_avals) if j >= nk]

    def make() -> Body:
        avals = list(body.in_avals)
        c_av, k_av, x_av = avals[:nc], avals[nc:nc + nk], avals[nc + nk:]
        nw, nf = len(which_c), len(fk)

        def f(*xs: Any) -> tuple:
            consts, tc = xs[:nc], xs[nc:nc + nw]
            carry, tk = xs[nc + nw:nc + nw + nk], xs[nc + nw + nk:nc + nw + nk + nf]
            x = xs[nc + nw + nk + nf:nc + nw + nk + nf + (n - nc - nk)]
            tx = xs[nc + nw + nk + nf + (n - nc - nk):]
            which = list(which_c) + [nc + i for i in fk] + list(which_x)
            outs, touts = _jvp_eval(body, [*consts, *carry, *x], which, [*tc, *tk, *tx])
            return (*outs[:nk], *(touts[i] for i in fk), *outs[nk:], *(touts[j] for j in fy))

        return _internal(f, c_av + [c_av[i] for i in which_c] + k_av + [k_av[i] for i in fk]
                         + x_av + [avals[i] for i in which_x])  # fmt: skip

    jb = body.derive(("jvp", which_c, which_x), make)
    tc = [tangents[i] for i in which_c]
    init = primals[nc:nc + nk]
    tk = [instantiate(tangents[nc + i], init[i]) for i in fk]
    tx = [tangents[i] for i in which_x]
    res = bind(P.scan_p, *primals[:nc], *tc, *init, *tk, *primals[nc + nk:], *tx, body=jb,
               length=params["length"], reverse=params["reverse"],
               num_consts=nc + len(tc), num_carry=nk + len(fk))  # fmt: skip
    carry, tcarry = res[:nk], res[nk:nk + len(fk)]
    ny = len(body.outvars) - nk
    ys, tys = res[nk + len(fk):nk + len(fk) + ny], res[nk + len(fk) + ny:]
    tan_of = dict(zip(fk, tcarry))
    tan_of.update(zip(fy, tys))
    outs = list(carry) + list(ys)
    return tuple(trace.wrap(o, tan_of.get(i)) for i, o in enumerate(outs))


def _scan_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    body, nc, nk = params["body"], params["num_consts"], params["num_carry"]
    vals, dims = trace.unpack(args, front=True)
    flags = [d is not None for d in dims]
    c_b, k_b, x_b = flags[:nc], flags[nc:nc + nk], flags[nc + nk:]
    deps = _deps(body)
    carry_b = _carry_batched(deps, c_b, k_b, x_b)
    y_b = _out_batched(deps, c_b + carry_b + x_b)[nk:]
    size, name = trace.size, trace.axis_name
    key = ("vmap", tuple(flags), tuple(carry_b), size, name)
    bb = body.derive(key, lambda: _batched_body(body, c_b + carry_b + x_b, carry_b + y_b,
                                                size, name))  # fmt: skip
    init = [_front(trace, v, f, w) for v, f, w in zip(vals[nc:nc + nk], k_b, carry_b)]
    xs = [cnp.moveaxis(v, 0, 1) if f else v for v, f in zip(vals[nc + nk:], x_b)]
    outs = bind(P.scan_p, *vals[:nc], *init, *xs, **{**params, "body": bb})
    return (*(trace.wrap(o, 0 if w else None) for o, w in zip(outs[:nk], carry_b)),
            *(trace.wrap(y, 1 if w else None) for y, w in zip(outs[nk:], y_b)))


def _scan_vjp(body: Body, nc: int, nk: int, diff_c: tuple, diff_x: tuple) -> tuple:
    """The programs of a scan's reverse mode: the forward body returning the stacked
    residuals, the loop-invariant residuals' program (run once), the backward body."""
    fk = _floats(body.in_avals[nc:nc + nk])
    diff = tuple(diff_c) + tuple(nc + i for i in fk) + tuple(diff_x)
    early, late, floats = _vjp_split(body, diff)
    nout = len(body.outvars)
    res = early.outvars[nout:]
    # what changes from step to step: what reads the carry or xs, and every draw (its
    # operands do not change, but it draws anew at each step: never hoisted)
    variant = set(early.invars[nc:])
    for e in early.eqns:
        if has_effects(e) or any(isinstance(v, Var) and v in variant for v in e.invars):
            variant.update(e.outvars)
    inv = [j for j, v in enumerate(res) if not (isinstance(v, Var) and v in variant)]
    var = [j for j in range(len(res)) if j not in inv]
    inv_prog = _pure(Program(early.invars[:nc], early.eqns, [res[j] for j in inv],
                             early.constvars, early.consts))  # fmt: skip
    fwd = Body(dce(early.replace(outvars=early.outvars[:nout] + [res[j] for j in var])))
    fy = [j for j in floats if j >= nk]
    ndc, nfk = len(diff_c), len(fk)
    inv_av = [res[j].aval for j in inv]
    var_av = [res[j].aval for j in var]
    k_av = [body.in_avals[nc + i] for i in fk]
    c_av = [SD(body.in_avals[i].shape, body.in_avals[i].dtype) for i in diff_c]
    y_av = [body.out_avals[j] for j in fy]
    ninv, nvar = len(inv), len(var)

    def bwd(*a: Any) -> tuple:
        iv, ck = a[:ninv], a[ninv:ninv + nfk]
        acc = a[ninv + nfk:ninv + nfk + ndc]
        vr = a[ninv + nfk + ndc:ninv + nfk + ndc + nvar]
        cy = a[ninv + nfk + ndc + nvar:]
        r: list = [None] * len(res)
        for j, v in zip(inv, iv):
            r[j] = v
        for j, v in zip(var, vr):
            r[j] = v
        out = evaluate(late, [*r, *ck, *cy])
        cc, kk, xx = out[:ndc], out[ndc:ndc + nfk], out[ndc + nfk:]
        return (*kk, *(s + c for s, c in zip(acc, cc)), *xx)

    back = _internal(bwd, inv_av + k_av + c_av + var_av + y_av)
    return fwd, Body(inv_prog), back, tuple(fk), tuple(fy), ninv


def _scan_fwd(vals: list, params: dict, diff_c: tuple, diff_x: tuple) -> tuple:
    """Reverse mode's forward pass of a scan: (outputs, the node's params, its saved values:
    the loop-invariant residuals, then the stacked per-step ones)."""
    body, nc, nk = params["body"], params["num_consts"], params["num_carry"]
    fwd, inv_prog, back, fk, fy, ninv = body.derive(
        ("vjp", diff_c, diff_x), lambda: _scan_vjp(body, nc, nk, diff_c, diff_x))
    res = bind(P.scan_p, *vals, **{**params, "body": fwd})
    nout = len(body.outvars)
    inv = evaluate(inv_prog, vals[:nc])
    avals = [SD(body.in_avals[i].shape, body.in_avals[i].dtype) for i in diff_c]
    return res[:nout], {"back": back, "n": len(vals), "nc": nc, "nk": nk, "diff_c": diff_c,
                        "diff_x": diff_x, "fk": fk, "fy": fy, "ninv": ninv,
                        "acc": tuple(avals), "length": params["length"],
                        "reverse": params["reverse"]}, (*inv, *res[nout:])  # fmt: skip


def _scan_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    nc, nk = params["num_consts"], params["num_carry"]
    vals, parents = _own(trace, args)
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.scan_p, *vals, **params), P.scan_p)
    n = len(args)
    diff_c = tuple(i for i in range(nc) if parents[i] is not None)
    diff_x = tuple(i for i in range(nc + nk, n) if parents[i] is not None)
    outs, node, saved = _scan_fwd(vals, params, diff_c, diff_x)
    return _record(trace, P.scan_p, node, parents, vals, outs, saved)


def _scan_keep(vals: list, params: dict) -> tuple:
    nc, nk = params["num_consts"], params["num_carry"]
    fl = _floats(params["body"].in_avals)
    diff_c = tuple(i for i in fl if i < nc)
    diff_x = tuple(i for i in fl if i >= nc + nk)
    return (P.scan_p, 0, *_scan_fwd(vals, params, diff_c, diff_x))


def _scan_joint(g: tuple, ans: Any, *saved: Any, back: Body, n: int, nc: int, nk: int,
                diff_c: tuple, diff_x: tuple, fk: tuple, fy: tuple, ninv: int, acc: tuple,
                length: int, reverse: bool) -> list:  # fmt: skip
    inv, stacked = saved[:ninv], saved[ninv:]
    res = bind(P.scan_p, *inv, *(g[i] for i in fk), *(_zeros(a) for a in acc), *stacked,
               *(g[j] for j in fy), body=back, length=length, reverse=not reverse,
               num_consts=ninv, num_carry=len(fk) + len(acc))  # fmt: skip
    out: list = [None] * n
    for i, c in zip(fk, res):
        out[nc + i] = c
    for i, c in zip(diff_c, res[len(fk):]):
        out[i] = c
    for i, c in zip(diff_x, res[len(fk) + len(acc):]):
        out[i] = c
    return out


# --- the rules, registered -------------------------------------------------------------------

for _p, _impl, _shape in ((P.cond_p, _cond_impl, _cond_shape),
                          (P.while_p, _while_impl, _while_shape),
                          (P.scan_p, _scan_impl, _scan_shape),
                          (P.while_fwd_p, _while_fwd_impl, _while_fwd_shape),
                          (P.while_bwd_p, _while_bwd_impl, _while_bwd_shape)):  # fmt: skip
    impl_table.defimpl(_p, _impl)
    shape_table.shape_rules[_p] = _shape
for _p, _xp in ((P.cond_p, _cond_xp), (P.while_p, _while_xp), (P.scan_p, _scan_xp),
                (P.while_fwd_p, lambda ns, *a, **k: _while_fwd_impl(*a, **k, ns=ns)),
                (P.while_bwd_p, lambda ns, *a, **k: _while_bwd_impl(*a, **k, ns=ns))):
    impl_table.defxp(_p, _xp)

_DEPENDS.update({P.cond_p: _cond_depends, P.scan_p: _scan_depends, P.while_p: _while_depends,
                 P.while_fwd_p: _while_fwd_depends, P.while_bwd_p: _while_bwd_depends})

forward.process_rules[P.cond_p] = _cond_jvp
batching.process_rules[P.cond_p] = _cond_batch
reverse.process_rules[P.cond_p] = _cond_reverse
vjp_rules[P.cond_p] = VJP(joint=_cond_joint)

forward.process_rules[P.while_p] = _while_jvp
batching.process_rules[P.while_p] = _while_batch
reverse.process_rules[P.while_p] = _while_reverse
vjp_rules[P.while_p] = VJP(joint=_while_joint)

forward.process_rules[P.scan_p] = _scan_jvp
batching.process_rules[P.scan_p] = _scan_batch
reverse.process_rules[P.scan_p] = _scan_reverse
vjp_rules[P.scan_p] = VJP(joint=_scan_joint)

# under checkpoint, a loop or cond that draws runs its reverse mode's forward pass once (its
# draws once) and the recomputation records the node over what it kept (transforms/checkpoint.py)
for _p, _keep in ((P.cond_p, _cond_keep), (P.while_p, _while_keep), (P.scan_p, _scan_keep)):
    checkpoint.whole[_p] = (_programs_draw, _kept(_keep), _replay_kept)

forward.process_rules[P.while_fwd_p] = _while_fwd_jvp
forward.process_rules[P.while_bwd_p] = _while_bwd_jvp
reverse.process_rules[P.while_fwd_p] = _while_fwd_reverse
reverse.process_rules[P.while_bwd_p] = _while_bwd_reverse
batching.process_rules[P.while_fwd_p] = _while_fwd_batch
batching.process_rules[P.while_bwd_p] = _while_bwd_batch
