"""Custom derivatives: `custom_vjp` and `custom_jvp`, as primitives that carry functions.

``custom_vjp_call_p`` carries the function, its forward pass (output and residuals) and its
backward pass; ``custom_jvp_call_p`` the function and its JVP rule. Every transformation
processes them here: evaluation runs the function; reverse mode runs the forward pass and
records the backward pass; forward mode runs the JVP rule (and refuses a custom_vjp, as JAX
does); vmap batches the carried functions; staging inlines the function. Reverse mode of a
custom_jvp uses the user's rule, never the body: the tangent map is linear, so its VJP (its
transpose) is obtained by reverse-differentiating the rule with respect to the tangents.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.pytree import tree_flatten, tree_map, tree_structure, tree_unflatten
from chainrule.core.trace import Tracer, bind
from chainrule.rules import impl, jvp as jvp_table, shape as shape_table
from chainrule.rules.vjp import LIFTED, VJP, vjp_rules
from chainrule.transforms import batching, forward, reverse, staging


def _resolve_kwargs(fun: Callable, args: tuple, kwargs: dict) -> tuple:
    if not kwargs:
        return args
    try:
        ba = inspect.signature(fun).bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"{getattr(fun, '__name__', 'custom function')}: {err}") from None
    ba.apply_defaults()
    if ba.kwargs:
        raise TypeError("keyword-only arguments are not supported by custom_vjp/custom_jvp")
    return ba.args


def _split(args: tuple, nondiff: tuple) -> tuple[list, list]:
    static = [args[i] for i in nondiff]
    dyn = [a for i, a in enumerate(args) if i not in nondiff]
    return static, dyn


def _merge(static: list, dyn: list, nondiff: tuple, n: int) -> list:
    out, s, d = [], iter(static), iter(dyn)
    for i in range(n):
        out.append(next(s) if i in nondiff else next(d))
    return out


def _prepare(deco: Any, rule: Any, kind: str, args: tuple, kwargs: dict) -> tuple:
    """A custom-rule function's call, taken apart: (name, arguments, nondiff arguments,
    differentiable arguments, their leaves, their tree)."""
    name = getattr(deco.fun, "__name__", "function")
    if rule is None:
        d = kind.lower()
        raise AttributeError(f"No {kind} defined for custom_{d} function {name} using def{d}.")
    args = _resolve_kwargs(deco.fun, args, kwargs)
    static, dyn = _split(args, deco.nondiff_argnums)
    leaves, in_tree = tree_flatten(tuple(dyn))
    return name, args, static, dyn, leaves, in_tree


class _Call:
    """What a custom-rule primitive carries (hashable by identity: a static parameter)."""

    per_example = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {getattr(self, 'name', '?')}>"


class CustomVJPCall(_Call):
    """`fun(*xs)`, `fwd(needs, *xs) -> (outs, residuals, nondiff outputs)`,
    `bwd(residuals, cts) -> cts of the inputs`, all on flat lists of arrays."""

    def __init__(self, name: str, fun: Callable, fwd: Callable, bwd: Callable,
                 per_example: bool = False):  # fmt: skip
        self.name, self.fun, self.fwd, self.bwd = name, fun, fwd, bwd
        self.per_example = per_example


class CustomJVPCall(_Call):
    """`fun(*xs)` and `jvp(primals, tangents) -> (outs, tangents out)` on flat lists."""

    def __init__(self, name: str, fun: Callable, jvp: Callable):
        self.name, self.fun, self.jvp = name, fun, jvp


# --- the decorators --------------------------------------------------------------------------


class custom_vjp:
    """A function with a reverse-mode derivative of one's own (JAX's `custom_vjp`).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> @cr.custom_vjp
    ... def clip_gradient(x):
    ...     return x
    >>> def fwd(x):
    ...     return x, None
    >>> def bwd(res, g):
    ...     return (cnp.clip(g, -1.0, 1.0),)
    >>> clip_gradient.defvjp(fwd, bwd)
    >>> cr.grad(lambda x: 3.0 * clip_gradient(x))(2.0)
    np.float64(1.0)
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """`fwd(*args) -> (output, residuals)`; `bwd(*nondiff_args, residuals, g) -> tuple`
        with one cotangent per differentiable argument (None for zero)."""
        self.fwd, self.bwd = fwd, bwd

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name, args, static, dyn, leaves, in_tree = _prepare(self, self.fwd, "VJP", args, kwargs)
        nd, store = self.nondiff_argnums, {}
        fun, fwd, bwd, n = self.fun, self.fwd, self.bwd, len(args)

        def flat_fun(*xs):
            out = fun(*_merge(static, list(tree_unflatten(in_tree, xs)), nd, n))
            ol, store["out"] = tree_flatten(out)
            return tuple(ol)

        def flat_fwd(needs, *xs):
            res_out = fwd(*_merge(static, list(tree_unflatten(in_tree, xs)), nd, n))
            if not (isinstance(res_out, (tuple, list)) and len(res_out) == 2):
                raise TypeError(
                    f"custom_vjp fwd of {name} must return a pair (output, residuals), got "
                    f"{type(res_out).__name__}"
                )
            out, res = res_out
            ol, otree = tree_flatten(out)
            if "out" in store and store["out"] != otree:
                raise TypeError(f"custom_vjp fwd of {name}: output structure {otree} differs "
                                f"from the function's {store['out']}")  # fmt: skip
            store["out"] = otree
            rl, store["res"] = tree_flatten(res)
            return tuple(ol), rl, ()

        def flat_bwd(res_leaves, cts):
            res = tree_unflatten(store["res"], res_leaves)
            g = tree_unflatten(store["out"], list(cts))
            got = bwd(*static, res, g)
            if not isinstance(got, (tuple, list)) or len(got) != len(dyn):
                raise TypeError(
                    f"custom_vjp bwd of {name} must return a tuple with one cotangent per "
                    f"differentiable argument ({len(dyn)}: structure {tree_structure(tuple(dyn))}"
                    f"), got {type(got).__name__}"
                    + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
                )
            out = []
            for k, (c, x) in enumerate(zip(got, dyn)):
                xl, xt = tree_flatten(x)
                if c is None:
                    out.extend([None] * len(xl))
                    continue
                try:  # the argument's structure, with None allowed for a zero subtree
                    parts = xt.flatten_up_to(c)
                except (ValueError, TypeError):
                    raise TypeError(
                        f"custom_vjp bwd of {name}: the cotangent of differentiable argument "
                        f"{k} has structure {tree_structure(c)}, expected {xt} (the "
                        "argument's structure)"
                    ) from None
                for ci, xi in zip(parts, xl):
                    if ci is not None and np.shape(ci) != np.shape(xi):
                        raise ValueError(
                            f"custom_vjp bwd of {name}: a cotangent of shape {np.shape(ci)} "
                            f"for differentiable argument {k} of shape {np.shape(xi)}"
                        )
                    out.append(ci)
            return out

        call = CustomVJPCall(name, flat_fun, flat_fwd, flat_bwd)
        outs = bind(P.custom_vjp_call_p, *leaves, call=call)
        if "out" not in store:  # no transformation ran the function: learn the structure
            flat_fun(*leaves)
        return tree_unflatten(store["out"], list(outs))


class custom_jvp:
    """A function with a forward-mode derivative of one's own (JAX's `custom_jvp`); reverse
    mode uses that rule too (never the function's body).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> @cr.custom_jvp
    ... def log1pexp(x):
    ...     return cnp.log1p(cnp.exp(x))
    >>> @log1pexp.defjvp
    ... def log1pexp_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * (1 - 1 / (1 + cnp.exp(x)))
    >>> cr.grad(log1pexp)(1000.0)
    np.float64(1.0)
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        """`jvp(primals, tangents) -> (primal_out, tangent_out)` (with nondiff_argnums:
        `jvp(*nondiff_args, primals, tangents)`). Returns `jvp` (usable as a decorator)."""
        self.jvp = jvp
        return jvp

    def defjvps(self, *jvps: Callable | None) -> None:
        """One function per argument, `jvp_i(t_i, primal_out, *primals) -> tangent_out`."""

        def jvp(primals, tangents):
            out = self.fun(*primals)
            t_out = None
            for f, t in zip(jvps, tangents):
                if f is not None:
                    c = f(t, out, *primals)
                    t_out = c if t_out is None else tree_map(lambda a, b: a + b, t_out, c)
            return out, (tree_map(lambda o: np.zeros(np.shape(o)), out) if t_out is None
                         else t_out)  # fmt: skip

        self.jvp = jvp

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name, args, static, dyn, leaves, in_tree = _prepare(self, self.jvp, "JVP", args, kwargs)
        nd, store = self.nondiff_argnums, {}
        fun, rule, n = self.fun, self.jvp, len(args)

        def flat_fun(*xs):
            out = fun(*_merge(static, list(tree_unflatten(in_tree, xs)), nd, n))
            ol, store["out"] = tree_flatten(out)
            return tuple(ol)

        def flat_jvp(primals, tangents):
            p = tuple(tree_unflatten(in_tree, list(primals)))
            t = tuple(tree_unflatten(in_tree, list(tangents)))
            got = rule(*static, p, t)
            if not (isinstance(got, (tuple, list)) and len(got) == 2):
                raise TypeError(f"custom_jvp rule of {name} must return a pair (primal_out, "
                                "tangent_out)")  # fmt: skip
            out, tout = got
            ol, otree = tree_flatten(out)
            tl, ttree = tree_flatten(tout)
            if otree != ttree:
                raise TypeError(
                    f"custom_jvp rule of {name} returned a tangent of structure {ttree} for a "
                    f"primal output of structure {otree}"
                )
            store["out"] = otree
            return tuple(ol), tuple(tl)

        outs = bind(P.custom_jvp_call_p, *leaves, call=CustomJVPCall(name, flat_fun, flat_jvp))
        if "out" not in store:
            flat_fun(*leaves)
        return tree_unflatten(store["out"], list(outs))


# --- the rules of custom_vjp_call ------------------------------------------------------------


def _vjp_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals = [trace.lower(a) for a in args]
    parents = [a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.custom_vjp_call_p, *vals, call=call), P.custom_vjp_call_p)
    needs = tuple(p is not None for p in parents)
    outs, res, nondiff = call.fwd(needs, *vals)
    mine = {id(v) for v in vals} | {id(o) for o in outs}
    res = [trace.protect(r) if type(r) is np.ndarray and id(r) not in mine else r for r in res]
    own = [p is not None for p in parents]
    saved = [trace.protect(v) if type(v) is np.ndarray and not m else v
             for v, m in zip(vals, own)]  # fmt: skip
    node = reverse.Node(P.custom_vjp_call_p, {"call": call, "needs": needs}, tuple(parents),
                        tuple(np.shape(o) for o in outs),
                        tuple(np.result_type(o) for o in outs))  # fmt: skip
    node.saved = (None, *saved, *res)
    versions = [(r._ver, r._ver[0]) for r in res if getattr(r, "_ver", None) is not None]
    node.versions = (versions + reverse.own_versions(trace, args)) or None
    return tuple(
        trace.wrap(o, None if i in nondiff else
                   reverse.Node(reverse.proj_p, i, (node,), np.shape(o), np.result_type(o)))
        for i, o in enumerate(outs)
    )  # fmt: skip


def _vjp_joint(g: tuple, ans: Any, *saved: Any, call: CustomVJPCall, needs: tuple) -> list:
    vals, res = saved[:len(needs)], saved[len(needs):]
    if ans is LIFTED:  # the backward pass is recorded: residuals from the lifted operands
        res = call.fwd(needs, *vals)[1]
    return call.bwd(list(res), g)


def _vjp_forward(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    if any(isinstance(a, Tracer) and a._trace is trace and a.tangent is not None for a in args):
        raise TypeError(
            f"can't apply forward-mode autodiff (jvp) to a custom_vjp function "
            f"({params['call'].name}): it defines only a reverse-mode rule; use cr.custom_jvp "
            "for a function that needs both"
        )
    vals = [a.primal if isinstance(a, Tracer) and a._trace is trace else a for a in args]
    return bind(P.custom_vjp_call_p, *vals, **params)


def _per_example(trace: batching.BatchTrace, prim: P.Primitive, args: tuple,
                 params: dict) -> Any:  # fmt: skip
    """Run the call once per example, and stack the results."""
    vals, dims = trace.unpack(args)
    rows = []
    for b in range(trace.size):
        ex = [v if d is None else cnp.moveaxis(v, d, 0)[b] for v, d in zip(vals, dims)]
        rows.append(bind(prim, *ex, **params))
    return tuple(batching.BatchTracer(trace, cnp.stack([r[k] for r in rows]), 0)
                 for k in range(len(rows[0])))  # fmt: skip


def _vjp_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    if call.per_example:
        return _per_example(trace, P.custom_vjp_call_p, args, params)
    vals, dims = trace.unpack(args, front=True)
    n = trace.size
    in_axes = tuple(None if d is None else 0 for d in dims)
    vm = lambda f, **kw: batching.vmap(f, axis_size=n, axis_name=trace.axis_name, **kw)  # noqa
    res_tree: dict = {}

    def bfun(*xs):
        return tuple(vm(lambda *a: call.fun(*a), in_axes=in_axes)(*xs))

    def bfwd(needs, *xs):
        def one(*a):
            outs, res, _ = call.fwd(needs, *a)
            return tuple(outs), tuple(res)

        outs, res = vm(one, in_axes=in_axes)(*xs)
        res_tree["n"] = len(res)
        return outs, list(res), ()

    def bbwd(res, cts):
        def one(r, c):
            got = call.bwd(list(r), tuple(c))
            return tuple(np.zeros(np.shape(x)) if x is None else x for x in got)

        got = vm(one, in_axes=(0, 0))(tuple(res), tuple(cts))
        return [g if d is not None else cnp.sum(g, axis=0) for g, d in zip(got, dims)]

    bcall = CustomVJPCall(call.name, bfun, bfwd, bbwd)
    outs = bind(P.custom_vjp_call_p, *vals, call=bcall)
    return tuple(batching.BatchTracer(trace, o, 0) for o in outs)


def _inline(trace: Any, args: tuple, params: dict) -> Any:
    """Staged: the function's body inlined, or, in a program that transformations will
    derive from (jit), the call itself, so its rule is what they differentiate."""
    if trace.inline:
        return tuple(params["call"].fun(*args))
    return trace._record(P.custom_vjp_call_p if isinstance(params["call"], CustomVJPCall)
                         else P.custom_jvp_call_p, args, params)  # fmt: skip


def _vjp_shape(*avals: Any, call: _Call) -> tuple:
    return tuple(staging.eval_shape(lambda *xs: call.fun(*xs), *avals))


# --- the rules of custom_jvp_call ------------------------------------------------------------


def _jvp_forward(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    primals = [a.primal if isinstance(a, Tracer) and a._trace is trace else a for a in args]
    tangents = [a.tangent if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    if all(t is None for t in tangents):
        return bind(P.custom_jvp_call_p, *primals, **params)
    tangents = [jvp_table.instantiate(t, p) for t, p in zip(tangents, primals)]
    outs, touts = call.jvp(primals, tangents)
    return tuple(trace.wrap(o, t) for o, t in zip(outs, touts))


def _jvp_reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals = [trace.lower(a) for a in args]
    parents = [a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    if all(p is None for p in parents):
        return trace.wrap_all(bind(P.custom_jvp_call_p, *vals, call=call), P.custom_jvp_call_p)
    traced = tuple(i for i, p in enumerate(parents) if p is not None)
    outs = bind(P.custom_jvp_call_p, *vals, call=call)  # the primal; the JVP waits for backward
    own = [p is not None for p in parents]
    saved = [trace.protect(v) if type(v) is np.ndarray and not mine else v
             for v, mine in zip(vals, own)]  # fmt: skip
    node = reverse.Node(P.custom_jvp_call_p, {"call": call, "traced": traced}, tuple(parents),
                        tuple(np.shape(o) for o in outs),
                        tuple(np.result_type(o) for o in outs))  # fmt: skip
    node.saved = (None, *saved)
    node.versions = reverse.own_versions(trace, args) or None
    return tuple(trace.wrap(o, reverse.Node(reverse.proj_p, i, (node,), np.shape(o),
                                            np.result_type(o)))
                 for i, o in enumerate(outs))  # fmt: skip


def _jvp_joint(g: tuple, ans: Any, *vals: Any, call: Any, traced: tuple) -> list:
    """The transpose of the JVP rule at the saved operands (lifted into the graph when the
    backward pass is recorded: then its own derivatives are recorded too)."""

    def tangent_map(*ts):
        full = [jvp_table.zeros_like(v) for v in vals]
        for i, t in zip(traced, ts):
            full[i] = t
        _, touts = call.jvp(list(vals), full)
        return tuple(touts)

    zeros = tuple(jvp_table.zeros_like(vals[i]) for i in traced)
    _, pullback, _, _ = reverse.trace_vjp(tangent_map, zeros, tuple(range(len(traced))), False,
                                          "custom_jvp")  # fmt: skip
    cts = pullback(tuple(g))
    out: list = [None] * len(vals)
    for i, c in zip(traced, cts):
        out[i] = c
    return out


def _jvp_batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals, dims = trace.unpack(args, front=True)
    n = trace.size
    in_axes = tuple(None if d is None else 0 for d in dims)
    vm = lambda f, **kw: batching.vmap(f, axis_size=n, axis_name=trace.axis_name, **kw)  # noqa

    def bfun(*xs):
        return tuple(vm(lambda *a: call.fun(*a), in_axes=in_axes)(*xs))

    def bjvp(primals, tangents):
        def one(p, t):
            o, to = call.jvp(list(p), list(t))
            return tuple(o), tuple(to)

        o, to = vm(one, in_axes=(in_axes, in_axes))(tuple(primals), tuple(tangents))
        return o, to

    outs = bind(P.custom_jvp_call_p, *vals, call=CustomJVPCall(call.name, bfun, bjvp))
    return tuple(batching.BatchTracer(trace, o, 0) for o in outs)


# --- registration ----------------------------------------------------------------------------

for _p in (P.custom_vjp_call_p, P.custom_jvp_call_p):
    impl.defimpl(_p, lambda *xs, call, **_: tuple(call.fun(*xs)))
    impl.defxp_composition(_p)
    shape_table.shape_rules[_p] = _vjp_shape
    staging.process_rules[_p] = _inline

reverse.process_rules[P.custom_vjp_call_p] = _vjp_reverse
forward.process_rules[P.custom_vjp_call_p] = _vjp_forward
batching.process_rules[P.custom_vjp_call_p] = _vjp_batch
vjp_rules[P.custom_vjp_call_p] = VJP(joint=_vjp_joint, inputs=True)

reverse.process_rules[P.custom_jvp_call_p] = _jvp_reverse
forward.process_rules[P.custom_jvp_call_p] = _jvp_forward
batching.process_rules[P.custom_jvp_call_p] = _jvp_batch
vjp_rules[P.custom_jvp_call_p] = VJP(joint=_jvp_joint, inputs=True)
