"""`checkpoint` (rematerialisation): keep a function's inputs, not its intermediate values,
and run it again during the backward pass.

``checkpoint_p`` carries the function. Under reverse mode its node saves the inputs (and,
with a policy, the intermediate values the policy names, such as matrix products); the
backward pass re-runs the function under a fresh reverse trace, reusing those values, and
pulls the cotangent back through it. Under grad the body runs exactly twice, and the results
are bitwise those of the unchecked function. Forward mode checkpoints the JVP of the
function, vmap the batched function, and staging inlines it.

Random draws (``random_p``) are kept always, whatever the policy: the recomputation takes the
values of the first run instead of drawing again (checkpointed dropout has the gradient of
the unchecked function). A control-flow primitive whose programs draw (`whole`: a loop
staged inside jit) is not run again either: the first run runs its reverse mode's forward
pass (drawing once) and keeps what that returns, over which the recomputation records it.
This module also holds the rows of ``random_p`` under staging, vmap and the derivatives
(see ``rules/random.py``).
"""

from __future__ import annotations

import functools
import types
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.compiler.passes import EFFECTS
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import aval_of
from chainrule.core.errors import where as user_line
from chainrule.core.ir import Eqn
from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.core.trace import Primitive, Trace, Tracer, bind, end_trace, new_trace
from chainrule.rules import impl, jvp as jvp_table, random, shape as shape_table
from chainrule.rules.batching import front
from chainrule.rules.vjp import LIFTED, VJP, vjp_rules
from chainrule.transforms import batching, forward, reverse, staging


class checkpoint_policies:
    """Which intermediate values a checkpointed function keeps (JAX's names). A policy is
    ``policy(prim, *avals, **params) -> bool``.

    >>> import chainrule as cr
    >>> cr.checkpoint_policies.dots_saveable.__name__
    'dots_saveable'
    """

    @staticmethod
    def nothing_saveable(prim: Primitive, *avals: Any, **params: Any) -> bool:
        """Keep nothing: recompute everything (the default)."""
        return False

    @staticmethod
    def everything_saveable(prim: Primitive, *avals: Any, **params: Any) -> bool:
        """Keep every intermediate value (no recomputation; for comparison)."""
        return True

    @staticmethod
    def dots_saveable(prim: Primitive, *avals: Any, **params: Any) -> bool:
        """Keep the results of matrix products (matmul, einsum): recompute the rest."""
        return prim in (P.matmul_p, P.einsum_p)

    checkpoint_dots = dots_saveable

    @staticmethod
    def dots_with_no_batch_dims_saveable(prim: Primitive, *avals: Any, **params: Any) -> bool:
        """Keep the results of matrix products of matrices and vectors (no batch axes)."""
        return prim is P.matmul_p and all(np.ndim(a) <= 2 for a in avals)


class CheckpointCall:
    """What checkpoint_p carries: the flat function and the policy (hashable by identity)."""

    def __init__(self, name: str, fun: Callable, policy: Callable | None):
        self.name, self.fun, self.policy = name, fun, policy

    def __repr__(self) -> str:
        return f"<checkpoint of {self.name}>"


def checkpoint(fun: Callable | None = None, *, policy: Callable | None = None,
               static_argnums: int | tuple = (), prevent_cse: bool = True) -> Callable:  # fmt: skip
    """Make `fun` keep only its inputs for the backward pass and recompute the rest.

    Usable as ``cr.checkpoint(f)`` or as a decorator, with `policy` (see
    `cr.checkpoint_policies`) and `static_argnums` (arguments passed through as Python values).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> layer = cr.checkpoint(lambda x: cnp.sin(cnp.sin(x)))
    >>> cr.grad(lambda x: cnp.sum(layer(x)))(np.array([0.0]))
    array([1.])
    """
    if fun is None:
        return functools.partial(checkpoint, policy=policy, static_argnums=static_argnums,
                                 prevent_cse=prevent_cse)  # fmt: skip
    statics = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    name = getattr(fun, "__name__", "function")

    @functools.wraps(fun)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        n = len(args)
        st = {i % n: args[i] for i in statics}
        dyn = [a for i, a in enumerate(args) if i not in st]
        leaves, in_tree = tree_flatten(tuple(dyn))
        captured, rebuild = _closure(fun)
        k = len(leaves)
        store: dict = {}

        def flat(*xs):
            it = iter(tree_unflatten(in_tree, list(xs[:k])))
            full = [st[i] if i in st else next(it) for i in range(n)]
            out = rebuild(xs[k:])(*full, **kwargs)
            ol, store["out"] = tree_flatten(out)
            return tuple(ol)

        operands = (*leaves, *captured)
        outs = bind(P.checkpoint_p, *operands, call=CheckpointCall(name, flat, policy))
        if "out" not in store:
            flat(*operands)
        return tree_unflatten(store["out"], list(outs))

    return wrapped


remat = checkpoint


def _closure(fun: Callable) -> tuple[list, Callable]:
    """The traced values `fun` closes over (in its closure cells, its defaults, or the
    arguments of a `functools.partial`, in pytrees), and ``rebuild(values)``: `fun` closing
    over `values` instead. They become explicit operands of ``checkpoint_p``, so that every
    transformation follows them (the recomputation must not read a tracer of the first run).
    Tracers held elsewhere (a global, an object's attribute) are not found: pass them as
    arguments."""
    if isinstance(fun, functools.partial):
        found, inner = _closure(fun.func)
        leaves, tree = tree_flatten((fun.args, fun.keywords))
        idx = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
        if not idx and not found:
            return [], lambda vals: fun

        def rebuild_partial(vals: Any) -> Callable:
            vals = list(vals)
            new = list(leaves)
            for i, v in zip(idx, vals):
                new[i] = v
            a, kw = tree_unflatten(tree, new)
            return functools.partial(inner(vals[len(idx):]), *a, **kw)

        return [leaves[i] for i in idx] + found, rebuild_partial
    cells = getattr(fun, "__closure__", None) or ()
    code = getattr(fun, "__code__", None)
    if code is None:
        return [], lambda vals: fun
    parts = []  # (cell index or "defaults", leaves, tree, positions of tracers)
    for k, c in enumerate(cells):
        try:
            content = c.cell_contents
        except ValueError:  # an empty cell (a name assigned later)
            continue
        leaves, tree = tree_flatten(content)
        idx = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
        if idx:
            parts.append((k, leaves, tree, idx))
    if fun.__defaults__:
        leaves, tree = tree_flatten(fun.__defaults__)
        idx = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
        if idx:
            parts.append(("defaults", leaves, tree, idx))
    if not parts:
        return [], lambda vals: fun

    def rebuild(vals: Any) -> Callable:
        it = iter(vals)
        closure, defaults = list(cells), fun.__defaults__
        for k, leaves, tree, idx in parts:
            new = list(leaves)
            for i in idx:
                new[i] = next(it)
            if k == "defaults":
                defaults = tree_unflatten(tree, new)
            else:  # (the other cells stay the same objects: a nonlocal write still lands)
                closure[k] = types.CellType(tree_unflatten(tree, new))
        g = types.FunctionType(code, fun.__globals__, fun.__name__, defaults, tuple(closure))
        g.__kwdefaults__ = fun.__kwdefaults__
        return g

    return [leaves[i] for _, leaves, _, idx in parts for i in idx], rebuild


# --- reverse mode ----------------------------------------------------------------------------

#: primitive -> (draws, keep, replay), for primitives whose programs may draw (the control-flow
#: primitives; filled by ``transforms/control.py``). When ``draws(params)``, the first run calls
#: ``keep(vals, params) -> (outputs, info, values)`` (its reverse mode's forward pass, drawing
#: once) and the recomputation ``replay(trace, args, params, info, values)`` (the reverse-mode
#: node over those values) instead of running it again.
whole: dict = {}


class _Keep(Trace):
    """Runs a function on values, keeping the results of the primitives `policy` names, its
    random draws, and a copy of each NumPy constant the function combines with them (the
    recomputation uses these: a closed-over array changed before the backward pass does not
    change it)."""

    __slots__ = ("policy", "kept", "layout", "consts", "draws", "effects")

    def __init__(self, level: int, name: str, fun: Any, policy: Callable | None):
        super().__init__(level, name, fun)
        self.policy, self.kept, self.layout, self.consts = policy, [], [], []
        self.draws: list = []
        self.effects: list = []  # (info, values) of the primitives kept whole (`whole`)

    def concrete(self, tracer: Tracer, what: str) -> Any:
        return tracer.val

    def draw(self, args: tuple, params: dict) -> Any:
        """A random draw: made below, kept for the recomputation, which gets it as a value
        too (so both runs see the same operations on it)."""
        vals = tuple(a.val if isinstance(a, Tracer) and a._trace is self else a for a in args)
        out = random.draw_below(self.level, vals, params)
        self.draws.append(out)
        return out

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim is P.random_p:
            out = random.offer(args, params, above=self.level)
            return self.draw(args, params) if out is NotImplemented else out
        vals = tuple(a.val if isinstance(a, Tracer) and a._trace is self else a for a in args)
        where = tuple(k for k, a in enumerate(args) if type(a) is np.ndarray)
        self.layout.append(where)
        self.consts.extend(_Const(args[k]) for k in where)
        rule = whole.get(prim)
        if rule is not None and rule[0](params):
            with random.drawn_below(self.level):  # its draws are not this trace's to keep
                ans, info, values = rule[1](vals, params)
            self.effects.append((info, values))
        else:
            ans = bind(prim, *vals, **params)
            if self.policy is not None and self.policy(prim, *vals, **params):
                self.kept.append(ans)
        if prim.nondiff or prim is P.stop_gradient_p:  # as the recomputation (reverse mode)
            return ans  # follows no derivative through it, neither does this run
        if prim.multiple_results:
            return tuple(_Kept(self, a) for a in ans)
        return _Kept(self, ans)


class _Const:
    """A NumPy constant of a checkpointed function, kept by reference with a digest of its
    bytes that is checked before the recomputation uses it (no copy is kept: the graph
    stays the size of the function's inputs)."""

    __slots__ = ("array", "digest")

    def __init__(self, a: np.ndarray):
        self.array, self.digest = a, _digest(a)

    def get(self) -> np.ndarray:
        if _digest(self.array) != self.digest:
            raise RuntimeError(
                f"a NumPy array of shape {self.array.shape} that a checkpointed function uses "
                "was changed in place after the forward pass: its recomputation would use the "
                "new values. Pass the array as an argument, or change a copy of it."
            )
        return self.array


def _digest(a: np.ndarray) -> bytes:
    import hashlib

    return hashlib.blake2b(memoryview(np.ascontiguousarray(a)).cast("B"), digest_size=16).digest()


class _Kept(Tracer):
    __slots__ = ("val",)

    def __init__(self, trace: _Keep, val: Any):
        self._trace, self.val = trace, val

    def _below(self) -> Any:
        return self.val

    @property
    def aval(self) -> Any:
        from chainrule.core.avals import aval_of

        return aval_of(self.val)


class _Replay(reverse.ReverseTrace):
    """The recomputation: the primitives the policy kept take their kept results, the random
    draws the values of the first run, and the NumPy constants are the copies made during
    the first run."""

    __slots__ = ("policy", "kept", "layout", "consts", "draws", "effects")

    def __init__(self, level: int, name: str, fun: Any, policy: Callable | None, kept: list,
                 layout: tuple, consts: list, draws: tuple = (),
                 effects: tuple | None = ()):  # fmt: skip
        super().__init__(level, name, fun)
        self.policy, self.kept = policy, list(kept)
        self.layout, self.consts = list(layout), list(consts)
        self.draws = list(draws)
        self.effects = None if effects is None else list(effects)

    def draw(self, args: tuple, params: dict) -> Any:
        """The value this draw had in the first run."""
        want = shape_table.shape_rules[P.random_p](*[aval_of(a) for a in args], **params)
        if not self.draws or np.shape(self.draws[0]) != want.shape:
            raise RuntimeError(_NOT_REPEATED)
        return self.draws.pop(0)

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim is P.random_p:
            out = random.offer(args, params, above=self.level)
            return self.draw(args, params) if out is NotImplemented else out
        if self.layout:
            where = self.layout.pop(0)
            if where:
                args = list(args)
                for k in where:
                    c = self.consts.pop(0).get()
                    if k >= len(args) or np.shape(args[k]) != c.shape:
                        raise RuntimeError(_NOT_REPEATED)
                    args[k] = c
                args = tuple(args)
        rule = whole.get(prim)
        if rule is not None and rule[0](params):
            if self.effects is None:
                raise NotImplementedError(_WHOLE_LIFTED)
            if not self.effects:
                raise RuntimeError(_NOT_REPEATED)
            info, values = self.effects.pop(0)
            return rule[2](self, args, params, info, values)
        return reverse.ReverseTrace.readable_process(self, prim, args, params)

    def compute(self, prim: Primitive, vals: tuple, params: dict) -> Any:
        if self.policy is not None and self.kept and self.policy(prim, *vals, **params):
            return self.kept.pop(0)
        return bind(prim, *vals, **params)


_WHOLE_LIFTED = (
    "checkpoint: recording the backward pass (create_graph) of a checkpointed function whose "
    "staged loop or cond draws random numbers is not supported: its recomputation would draw "
    "again. Move the draws out of the loop, or the loop out of the checkpointed function"
)

_NOT_REPEATED = (
    "checkpoint: the function did not repeat its first run when recomputed (different "
    "operations, shapes or random draws): checkpointed functions must be deterministic"
)


def _forward(call: CheckpointCall, vals: list) -> tuple[tuple, list, tuple, list, list, list]:
    """Run the function on the values: (outputs, kept values, constants' layout, constants,
    random draws, primitives kept whole)."""
    trace = new_trace(_Keep, "checkpoint", call.fun, call.policy)
    try:
        # the recomputation differentiates the float inputs: those are the ones followed here
        outs = call.fun(*[_Kept(trace, v) if np.result_type(v).kind in "fc" else v
                          for v in vals])  # fmt: skip
    finally:
        end_trace(trace)
    outs = tuple(o.val if isinstance(o, _Kept) and o._trace is trace else o for o in outs)
    return outs, trace.kept, tuple(trace.layout), trace.consts, trace.draws, trace.effects


def _reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals = [trace.lower(a) for a in args]
    parents = [a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.checkpoint_p, *vals, call=call), P.checkpoint_p)
    outs, kept, layout, consts, draws, effects = _forward(call, vals)
    outs = tuple(trace.lower(o) for o in outs)  # a Tensor made inside the body: its value
    own = [p is not None for p in parents]
    saved_in = [trace.protect(v) if type(v) is np.ndarray and not mine else v
                for v, mine in zip(vals, own)]  # fmt: skip
    node = reverse.Node(P.checkpoint_p, {"call": call, "n": len(vals), "nk": len(kept),
                                         "nd": len(draws), "layout": layout,
                                         "consts": tuple(consts),
                                         "effects": tuple((i, len(v)) for i, v in effects)},
                        tuple(parents), tuple(np.shape(o) for o in outs),
                        tuple(np.result_type(o) for o in outs))  # fmt: skip
    node.saved = (None, *saved_in, *kept, *draws, *(x for _, v in effects for x in v))
    versions = [(v._ver, v._ver[0]) for v in saved_in if getattr(v, "_ver", None) is not None]
    versions += reverse.own_versions(trace, args)
    node.versions = versions or None
    return tuple(trace.wrap(o, reverse.Node(reverse.proj_p, i, (node,), np.shape(o),
                                            np.result_type(o)))
                 for i, o in enumerate(outs))  # fmt: skip


def _joint(g: tuple, ans: Any, *saved: Any, call: CheckpointCall, n: int, nk: int, nd: int,
           layout: tuple, consts: tuple, effects: tuple = ()) -> list:  # fmt: skip
    inputs, kept, draws = saved[:n], saved[n:n + nk], saved[n + nk:n + nk + nd]
    rest, whole_ = saved[n + nk + nd:], []
    for info, k in effects:
        whole_.append((info, tuple(rest[:k])))
        rest = rest[k:]
    if ans is LIFTED:  # the backward pass is recorded: recompute all, from the lifted inputs
        extra = (None, (), layout, consts, draws, None if effects else ())
    else:
        extra = (call.policy, kept, layout, consts, draws, tuple(whole_))
    floats = tuple(i for i, x in enumerate(inputs) if np.result_type(x).kind in "fc")
    _, pullback, _, _ = reverse.trace_vjp(call.fun, tuple(inputs), floats, False,
                                          "checkpoint", False, _Replay, *extra)  # fmt: skip
    cts = pullback(tuple(g))
    out: list = [None] * n
    for i, c in zip(floats, cts):
        out[i] = c
    return out


# --- forward mode, vmap, staging -------------------------------------------------------------


def _forward_mode(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    primals = [a.primal if isinstance(a, Tracer) and a._trace is trace else a for a in args]
    tangents = [a.tangent if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    if all(t is None for t in tangents):
        return bind(P.checkpoint_p, *primals, **params)
    tangents = [jvp_table.instantiate(t, p) for t, p in zip(tangents, primals)]
    n = len(primals)

    def jvp_fun(*xs):
        out, t = forward.jvp(lambda *a: call.fun(*a), tuple(xs[:n]), tuple(xs[n:]))
        return tuple(out) + tuple(t)

    res = bind(P.checkpoint_p, *primals, *tangents,
               call=CheckpointCall(call.name, jvp_fun, call.policy))  # fmt: skip
    k = len(res) // 2
    return tuple(trace.wrap(o, t) for o, t in zip(res[:k], res[k:]))


def _batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals, dims = trace.unpack(args, front=True)
    in_axes = tuple(None if d is None else 0 for d in dims)
    mapped: list = []  # whether each output varies along the axis (known once `bfun` ran)

    def body(*a: Any) -> tuple:
        outs = tuple(call.fun(*a))
        inner = [x._trace for x in a if isinstance(x, batching.BatchTracer)]
        mapped[:] = [bool(inner) and isinstance(o, batching.BatchTracer) and
                     o._trace is inner[0] and o.bdim is not None for o in outs]  # fmt: skip
        return outs

    bfun = batching.vmap(body, in_axes=in_axes, axis_size=trace.size,
                         axis_name=trace.axis_name)  # fmt: skip
    with random.drawn_below(trace.level):  # the draws of `bfun` are batched by its own vmap
        outs = bind(P.checkpoint_p, *vals, call=CheckpointCall(call.name, bfun, call.policy))
    # an output that does not vary (vmap broadcast it) is one example's: jacfwd's primal
    return tuple(batching.BatchTracer(trace, o, 0) if m else o[0] for o, m in zip(outs, mapped))


impl.defimpl(P.checkpoint_p, lambda *xs, call: tuple(call.fun(*xs)))
impl.defxp_composition(P.checkpoint_p)
shape_table.shape_rules[P.checkpoint_p] = lambda *avals, call: tuple(
    staging.eval_shape(lambda *xs: call.fun(*xs), *avals))  # fmt: skip
staging.process_rules[P.checkpoint_p] = lambda trace, args, params: tuple(
    params["call"].fun(*args))  # fmt: skip
reverse.process_rules[P.checkpoint_p] = _reverse
forward.process_rules[P.checkpoint_p] = _forward_mode
batching.process_rules[P.checkpoint_p] = _batch
vjp_rules[P.checkpoint_p] = VJP(joint=_joint, inputs=True)


# --- random draws under the transformations (rules/random.py) --------------------------------
#
# A draw is offered to the innermost transformation in flight that handles draws, even when
# none of its operands is that transformation's tracer; when one is, the rows below first
# offer it to the handlers above (`random.offer`).


def _stage_draw(trace: staging.StagingTrace, args: tuple, params: dict) -> Any:
    """Record the draw: the staged program draws at each run."""
    invars = [trace.operand(a) for a in args]
    aval = shape_table.shape_rules[P.random_p](*[v.aval for v in invars], **params)
    out = staging.StagingTracer(trace, aval)
    trace.eqns.append(Eqn(P.random_p, invars, params, [out.var],
                          user_line() if trace.lines else ""))  # fmt: skip
    return out


def _staging_handler(trace: staging.StagingTrace, args: tuple, params: dict) -> Any:
    # linearize stages the tangent computation only: its primal draws are values
    return NotImplemented if trace.name == "linearize" else _stage_draw(trace, args, params)


def _staging_rule(trace: staging.StagingTrace, args: tuple, params: dict) -> Any:
    out = random.offer(args, params, above=trace.level)
    return _stage_draw(trace, args, params) if out is NotImplemented else out


def _vmap_draw(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    """The whole batch at once: each example its own numbers (a loop over the examples where
    one call cannot say it: `permutation`, `choice` without replacement or with batched
    probabilities)."""
    vals, dims = trace.unpack(args)
    n = trace.size
    shape = shape_table.shape_rules[P.random_p](*[aval_of(a) for a in args], **params).shape
    source, ops, ds = vals[0], vals[1:], dims[1:]
    kw = dict(params["kw"])
    if params["dist"] == "permutation" or params["dist"] == "choice" and (
            not kw["replace"] or any(d is not None for d in ds)):  # fmt: skip
        rows = [random.draw_below(trace.level, (source, *[
            v if d is None else front(v, d, n)[b] for v, d in zip(ops, ds)]), params)
            for b in range(n)]  # fmt: skip
        return batching.BatchTracer(trace, cnp.stack(rows), 0)
    lined = []
    for v, d in zip(ops, ds):
        if d is not None:  # examples first, then broadcast against the example's shape
            v = front(v, d, n)
            v = cnp.reshape(v, (n,) + (1,) * (len(shape) - v.ndim + 1) + v.shape[1:])
        lined.append(v)
    out = random.draw_below(trace.level, (source, *lined), {**params, "size": (n, *shape)})
    return batching.BatchTracer(trace, out, 0)


def _batching_rule(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    out = random.offer(args, params, above=trace.level)
    return _vmap_draw(trace, args, params) if out is NotImplemented else out


def _not_differentiable(dist: str) -> TypeError:
    return TypeError(
        f"a random draw ({dist}) has no derivative with respect to its distribution's "
        "parameters in chainrule: normal, uniform, exponential and gamma's scale are "
        "reparametrised (differentiable), the others are not. Apply cr.stop_gradient to the "
        "parameters if no derivative should flow through them"
    )


def _reverse_draw(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    if params["dtype"].kind in "fc" and any(isinstance(a, Tracer) and a._trace is trace and
                                            trace.carries_derivative(a) for a in args):
        raise _not_differentiable(params["dist"])  # fmt: skip
    return trace.wrap_all(bind(P.random_p, *[trace.lower(a) for a in args], **params),
                          P.random_p)  # fmt: skip


def _forward_draw(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    if params["dtype"].kind in "fc" and any(isinstance(a, Tracer) and a._trace is trace and
                                            a.tangent is not None for a in args):
        raise _not_differentiable(params["dist"])  # fmt: skip
    return bind(P.random_p, *[trace.lower(a) for a in args], **params)


EFFECTS.add(P.random_p)
random.handlers.update({
    staging.StagingTrace: _staging_handler,
    batching.BatchTrace: _vmap_draw,
    _Keep: lambda trace, args, params: trace.draw(args, params),
    _Replay: lambda trace, args, params: trace.draw(args, params),
})  # fmt: skip
staging.process_rules[P.random_p] = _staging_rule
batching.process_rules[P.random_p] = _batching_rule
reverse.process_rules[P.random_p] = _reverse_draw
forward.process_rules[P.random_p] = _forward_draw
