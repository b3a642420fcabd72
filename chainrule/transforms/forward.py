"""Forward mode: the JVP trace, `jvp` and `linearize`.

A `JVPTracer` carries a primal value and its tangent (None where the tangent is zero: no work
is done for it). Each primitive is processed by its JVP rule (``rules/jvp.py``); the trace
broadcasts and casts the tangent a rule returns to the result's shape and dtype, in one place.
`linearize` stages the tangent half of that computation (the primal half runs once, now) and
returns a function that replays it, so calling it never re-runs the function.
"""

from __future__ import annotations

from functools import partial
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core.avals import ShapeDtypeStruct, aval_of, inexact
from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.core import namespace
from chainrule.core.trace import (
    Primitive, Trace, Tracer, _fail, bind_with, box, end_trace, is_plain, leave, leave_tree,
    namespace_constants, new_trace,
)  # fmt: skip
from chainrule.rules.jvp import jvp_rules
from chainrule.transforms.reverse import arg_name, scalar, split_aux
from chainrule.transforms.staging import StagingTrace, evaluate

#: primitives whose forward-mode processing is their own: handler(trace, args, params)
process_rules: dict[Primitive, Callable] = {}


class JVPTracer(Tracer):
    """A primal value and its tangent (None: zero)."""

    __slots__ = ("primal", "tangent")

    def __init__(self, trace: JVPTrace, primal: Any, tangent: Any):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent

    def _below(self) -> Any:
        return self.primal

    @property
    def aval(self) -> ShapeDtypeStruct:
        return aval_of(self.primal)

    @property
    def shape(self) -> tuple:
        return np.shape(self.primal)

    @property
    def dtype(self) -> np.dtype:
        p = self.primal
        return p.dtype if hasattr(p, "dtype") else np.result_type(p)

    def __repr__(self) -> str:
        return f"JVPTracer(primal={self.primal!r}, tangent={self.tangent!r})"


def fit_tangent(t: Any, out: Any) -> Any:
    """A rule's tangent as the tangent of `out`: its shape and dtype (None stays None)."""
    if t is None:
        return None
    if not hasattr(t, "shape"):  # a Python scalar
        t = np.asarray(t, out.dtype if hasattr(out, "dtype") else np.result_type(out))
    shape = np.shape(out)
    if t.shape != shape:
        t = cnp.broadcast_to(t, shape)
    dt = out.dtype if hasattr(out, "dtype") else np.result_type(out)
    if t.dtype != dt:
        if t.dtype.kind == "c" and dt.kind != "c":
            t = cnp.real(t)
        if t.dtype != dt:
            t = cnp.astype(t, dt)
    return t


class JVPTrace(Trace):
    """Processes each primitive with its JVP rule."""

    __slots__ = ()

    def lower(self, a: Any) -> Any:
        return a.primal if isinstance(a, Tracer) and a._trace is self else a

    def concrete(self, tracer: Tracer, what: str) -> Any:
        if what in ("float()", "complex()"):
            raise TypeError(
                f"{what} of a value being differentiated would silently drop its tangent: keep "
                f"it an array, or write {what[:-2]}(cr.stop_gradient(x))"
            )
        return tracer.primal

    def wrap(self, primal: Any, tangent: Any) -> Any:
        if tangent is None or not inexact(np.result_type(primal)):
            return primal
        return JVPTracer(self, primal, fit_tangent(tangent, primal))

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in process_rules:
            return process_rules[prim](self, args, params)
        primals, tangents = [], []
        plain = True
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
            else:
                primals.append(a)
                tangents.append(None)
                plain = plain and (isinstance(a, Tracer) or is_plain(a))
        if not plain:  # another namespace's constant
            primals = namespace_constants(prim, primals)
        if all(t is None for t in tangents):
            return bind_with(prim, tuple(primals), params)
        try:
            out, t = jvp_rules[prim](primals, tangents, **params)
        except (ValueError, IndexError) as err:
            _fail(prim, tuple(primals), err)
        if prim.multiple_results:
            t = (None,) * len(out) if t is None else t
            return tuple(self.wrap(o, ti) for o, ti in zip(out, t))
        return self.wrap(out, t)


def _check_tangent(p: Any, t: Any, what: str, label: Callable[[], str]) -> tuple:
    """The primal and tangent of an argument leaf, checked as JAX does (`label()` names the
    leaf in messages: called only for one, `inspect.signature` is slow)."""
    p, t = box(p), box(t)  # another namespace's arrays: followed as ForeignTracers
    if isinstance(p, (list, tuple)) or not isinstance(p, (np.ndarray, np.generic, Tracer,
                                                          float, int, complex, bool)):  # fmt: skip
        p = np.asarray(p)
        if p.dtype == object:
            raise TypeError(f"{what}: {label()} is not an array (an object of type "
                            f"{type(p.flat[0]).__name__ if p.size else 'object'})")  # fmt: skip
    pdt = p.dtype if hasattr(p, "dtype") else np.result_type(p)
    if not inexact(pdt):
        raise TypeError(
            f"{what}: {label()} has dtype {pdt}: integer and boolean values have no "
            "tangent; pass a float value, or close over it instead of passing it"
        )
    if type(t) in (float, int, complex, bool):
        t = np.asarray(t, pdt) if hasattr(p, "dtype") else t
    elif not isinstance(t, (np.ndarray, np.generic, Tracer)):
        t = np.asarray(t)
    tdt = t.dtype if hasattr(t, "dtype") else np.result_type(t)
    if np.shape(t) != np.shape(p):
        raise TypeError(
            f"{what} called with different primal and tangent shapes: got primal shape "
            f"{np.shape(p)} and tangent shape {np.shape(t)} for {label()}"
        )
    if tdt != pdt:
        raise TypeError(
            f"primal and tangent arguments to {what} do not match: dtypes must be equal; got "
            f"primal dtype {pdt} and tangent dtype {tdt} for {label()}"
        )
    return p, t


def _tree_pairs(primals: Any, tangents: Any, fun: Callable, what: str) -> tuple:
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            f"{what}: primals and tangents must be tuples or lists (one entry per argument), "
            f"got {type(primals).__name__} and {type(tangents).__name__}"
        )
    if len(primals) != len(tangents):
        raise TypeError(
            f"{what}: {len(primals)} primals but {len(tangents)} tangents: give one tangent per "
            "argument"
        )
    pl, ptree = tree_flatten(tuple(primals))
    tl, ttree = tree_flatten(tuple(tangents))
    if ptree != ttree:
        raise TypeError(
            f"primal and tangent arguments to {what} must have the same tree structure; "
            f"primals have tree structure {ptree} whereas tangents have tree structure {ttree}"
        )
    return [_check_tangent(p, t, what, partial(_leaf_name, fun, ptree, k))
            for k, (p, t) in enumerate(zip(pl, tl))], ptree


def _leaf_name(fun: Callable, tree: Any, k: int) -> str:
    """Leaf `k` of the arguments of `fun` (their tuple's structure: `tree`), named for a
    message: "argument 1 ('y') at ['w']" (its argument, and its key path inside it)."""
    from chainrule.core.pytree import keystr, tree_flatten_with_path

    args = tree_unflatten(tree, [0] * tree.num_leaves)
    key = tree_flatten_with_path(args)[0][k][0]
    return arg_name(fun, key[0].idx) + (f" at {keystr(key[1:])}" if key[1:] else "")


def _outputs(trace: JVPTrace, out: Any) -> tuple[list, list, Any]:
    """The primals and tangents (zeros where none) of a JVP trace's outputs, and their tree."""
    leaves, tree = tree_flatten(out)
    ps, ts = [], []
    for o in leaves:
        if isinstance(o, Tracer) and o._trace is trace:
            ps.append(o.primal)
            ts.append(o.tangent if o.tangent is not None else _zero_tangent(o.primal))
        else:
            ps.append(o)
            ts.append(_zero_tangent(o))
    return ps, ts, tree


def _zero_tangent(o: Any) -> Any:
    return np.zeros(np.shape(o), namespace.dtype_of(o))


def jvp(fun: Callable, primals: Any, tangents: Any, has_aux: bool = False) -> tuple:
    """Forward mode: ``(fun(*primals), J · tangents)``, in one evaluation of `fun`.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.jvp(cnp.sin, (0.0,), (3.0,))
    (np.float64(0.0), np.float64(3.0))
    """
    ns = namespace.find(tree_flatten((primals, tangents))[0], "jvp")
    pairs, tree = _tree_pairs(primals, tangents, fun, "jvp")
    trace = new_trace(JVPTrace, "jvp", fun)
    try:
        tracers = [JVPTracer(trace, p, t) for p, t in pairs]
        out = fun(*tree_unflatten(tree, tracers))
    finally:
        end_trace(trace)
    out, aux = split_aux(out, has_aux, "jvp", trace.lower)
    ps, ts, otree = _outputs(trace, out)
    res = (tree_unflatten(otree, [scalar(leave(p, ns)) for p in ps]),
           tree_unflatten(otree, [scalar(leave(t, ns)) for t in ts]))  # fmt: skip
    return (*res, leave_tree(aux, ns)) if has_aux else res


def linearize(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(fun(*primals), f_jvp)``: `f_jvp(*tangents)` gives J · tangents by replaying the
    staged linear computation; it never runs `fun` again.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> y, f_jvp = cr.linearize(cnp.sin, 0.0)
    >>> f_jvp(2.0)
    np.float64(2.0)
    """
    leaves, tree = tree_flatten(primals)
    ns = namespace.find(leaves, "linearize")
    pairs = [_check_tangent(p, np.zeros(np.shape(p), namespace.dtype_of(p)), "linearize",
                            partial(_leaf_name, fun, tree, k))
             for k, p in enumerate(leaves)]  # fmt: skip
    leaves = [np.array(p) if type(p) is np.ndarray else p for p, _ in pairs]  # protected
    stage = new_trace(StagingTrace, "linearize", fun, True)
    trace = None
    try:
        t_in = [stage.new_arg(ShapeDtypeStruct(np.shape(p), np.result_type(p))) for p in leaves]
        trace = new_trace(JVPTrace, "linearize", fun)
        tracers = [JVPTracer(trace, p, t) for p, t in zip(leaves, t_in)]
        out = fun(*tree_unflatten(tree, tracers))
    finally:
        if trace is not None:
            end_trace(trace)
        end_trace(stage)
    out, aux = split_aux(out, has_aux, "linearize", trace.lower)
    prim_out, tan_out, otree = _outputs(trace, out)
    program = stage.to_program(t_in, tan_out)

    def f_jvp(*tangents: Any) -> Any:
        tl, ttree = tree_flatten(tangents)
        if ttree != tree:
            raise TypeError(f"linearize: tangents have structure {ttree}, primals {tree}")
        checked = [_check_tangent(p, t, "linearize", partial(_leaf_name, fun, tree, k))[1]
                   for k, (p, t) in enumerate(zip(leaves, tl))]  # fmt: skip
        res = evaluate(program, checked)
        return tree_unflatten(otree, [scalar(np.array(r)) if type(r) is np.ndarray else
                                      leave(r, ns) for r in res])  # fmt: skip

    primal = tree_unflatten(otree, [scalar(np.array(p)) if type(p) is np.ndarray else
                                    leave(p, ns) for p in prim_out])  # the caller's copy
    return (primal, f_jvp, leave_tree(aux, ns)) if has_aux else (primal, f_jvp)
