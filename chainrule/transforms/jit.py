"""`jit`: stage a function once per kind of arguments, optimise the program, compile it to
Python over NumPy, and from then on run the compiled code.

A jitted call first builds its cache key: the arguments' pytree structure, each leaf's shape,
dtype and weak type (Python scalars are weakly typed operands, not static: a hundred learning
rates compile once) and whether it is a Tensor, the static arguments, and the switches that
change the code (`debug_nans`, fusion). On a hit with plain arrays the compiled function runs
directly: the user's Python body does not run, no tracer is made and nothing goes through
`bind`. With traced arguments (under `grad`, `vmap`, `jvp`, or Tensors), the call binds the
primitive ``jit_p``, whose rules derive compiled programs for each transformation (cached:
`grad(jit(f))` compiles its forward and backward programs once).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> f = cr.jit(lambda x, y: cnp.sum(cnp.tanh(x) * y))
>>> float(f(np.ones(3), 2.0)), float(f(np.zeros(3), 0.5))
(4.569564935734589, 0.0)
>>> f.cache_info()
CacheInfo(hits=1, misses=1, maxsize=64, currsize=1)
"""

from __future__ import annotations

import functools
import inspect
import keyword
import threading
import warnings
from collections import OrderedDict, namedtuple
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.compiler.codegen import Executable, StaleConstant, lower, lower_plain
from chainrule.compiler.passes import Stats, has_effects, optimize
from chainrule.core import config, namespace
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.ir import Program, evaluate
from chainrule.core.pytree import _LEAF, tree_flatten, tree_structure, tree_unflatten
from chainrule.core.trace import Tracer, bind, unbox
from chainrule.rules import impl as impl_table
from chainrule.rules import shape as shape_table
from chainrule.rules import random
from chainrule.rules.jvp import instantiate
from chainrule.rules.random import Source
from chainrule.rules.vjp import LIFTED, VJP, vjp_rules
from chainrule.transforms import batching, forward, reverse, staging

__all__ = ["jit", "Jitted", "JitCall"]

CacheInfo = namedtuple("CacheInfo", "hits misses maxsize currsize")
MAXSIZE = 64  # compiled specialisations kept per jitted function (least recently used go)
RECOMPILES_WARNED = 8  # a function compiled this many times is told why, once


# --- the primitive's parameter: a compiled program and the programs derived from it -------


class JitCall:
    """A compiled program (``jit_p``'s parameter): the optimised `program`, its compiled
    `exe`, and the programs derived from it for each transformation, compiled once."""

    __slots__ = ("name", "fuse", "stats", "program", "draws", "exe", "exe_donating",
                 "out_avals", "derived", "lock", "runnable", "exe_plain", "__weakref__")

    def __init__(self, program: Program, name: str, fuse: bool = True,
                 donate: Sequence[int] = (), plain: bool = False):  # fmt: skip
        self.name = name
        self.fuse = fuse
        self.stats = Stats()
        self.program = optimize(program, self.stats)
        self.draws = any(has_effects(e) for e in self.program.eqns)  # loops' bodies too
        runnable = _inlined(self.program, self.stats)  # custom rules matter only to derive
        self.runnable = runnable
        self.exe_plain: Executable | None = None  # for arrays of another namespace
        if plain:  # called on arrays of another namespace: plain calls of its functions
            self.exe = self.exe_plain = _lower_foreign(runnable, name, fuse)
        else:
            self.exe = lower(runnable, name, fuse, config.debug_nans)
        self.exe_donating: Executable | None = None  # the same, writing into donated inputs
        if donate and not plain:
            exe = lower(runnable, name, fuse, config.debug_nans, donate)
            self.exe_donating = exe if exe.donated else None
        self.out_avals = tuple(v.aval for v in self.program.outvars)
        self.derived: dict = {}
        self.lock = threading.Lock()

    def run_donating(self, *args: Any) -> tuple:
        """Run writing outputs into the donated inputs' buffers where each is a contiguous,
        writeable array that overlaps no other input or constant; else the plain code."""
        exe = self.exe_donating
        for i in exe.donated:  # type: ignore[union-attr]
            a = args[i]
            if not (type(a) is np.ndarray and a.flags.c_contiguous and a.flags.writeable):
                return self.exe.run(*args)
            owner = a.base is None  # two arrays that own their memory never overlap
            for j, b in enumerate(args):
                if j != i and isinstance(b, np.ndarray) and (
                        b is a or not owner or b.base is not None) and np.may_share_memory(a, b):
                    return self.exe.run(*args)
            for c in self.program.consts:
                if isinstance(c, np.ndarray) and (c is a or not owner or c.base is not None) and \
                        np.may_share_memory(a, c):  # fmt: skip
                    return self.exe.run(*args)
        return exe.run(*args)  # type: ignore[union-attr]

    def derive(self, key: Any, make: Callable[[], Any]) -> Any:
        """The derived program for `key` (made once)."""
        d = self.derived.get(key)
        if d is None:
            with self.lock:
                d = self.derived.get(key)
                if d is None:
                    d = self.derived[key] = make()
        return d

    def __repr__(self) -> str:
        return f"<jit {self.name}>"


_CALLS = (P.custom_vjp_call_p, P.custom_jvp_call_p)


def _inlined(program: Program, stats: Stats) -> Program:
    """`program` with the calls of functions with custom rules replaced by their bodies (what
    runs; the rules are what transformations derive from `program`)."""
    if not any(e.prim in _CALLS for e in program.eqns):
        return program
    inlined, _ = staging.stage(lambda *xs: tuple(evaluate(program, xs)), program.in_avals,
                               "jit", dynamic=True)  # fmt: skip
    return optimize(inlined, stats)


def _stage_call(fun: Callable, avals: Sequence[ShapeDtypeStruct], name: str,
                fuse: bool) -> JitCall:  # fmt: skip
    program, _ = staging.stage(fun, avals, "jit", dynamic=True, inline=False)
    return JitCall(program, name, fuse)


def _run(*args: Any, call: JitCall) -> tuple:
    if call.draws and random.in_flight():  # draws a transformation must see: interpreted
        return tuple(evaluate(call.program, args))
    return call.exe.run(*args)


def _lower_foreign(program: Program, name: str, fuse: bool = True) -> Executable:
    """The lowering for another namespace's arrays: fused CUDA kernels on CuPy's
    (``compiler/cuda.py``), plain calls of the namespace's functions on any other's."""
    from chainrule.compiler import cuda  # the CuPy lowering, loaded when first needed

    if cuda.on_cupy(program):  # replayed as a CUDA graph (cr.config.jit_cuda_graphs), but
        if any(has_effects(e) for e in program.eqns):  # never one that draws numbers
            return cuda.lower_cupy(program, name, fuse)
        return cuda.graphed(program, name, fuse)
    return lower_plain(program, name)


def _run_plain(ns: Any, *args: Any, call: JitCall) -> tuple:
    """`_run` on arrays of another namespace: the program lowered to plain calls."""
    if call.draws and random.in_flight():
        return tuple(evaluate(call.program, args))
    exe = call.exe_plain
    if exe is None:
        with call.lock:
            exe = call.exe_plain = call.exe_plain or _lower_foreign(call.runnable, call.name,
                                                                    call.fuse)  # fmt: skip
    return exe.run(*args)


impl_table.defimpl(P.jit_p, _run)
impl_table.defxp(P.jit_p, _run_plain)
shape_table.shape_rules[P.jit_p] = lambda *avals, call: call.out_avals


# staging (a jitted function called inside another, or inside make_graph): inlined
staging.process_rules[P.jit_p] = lambda trace, args, params: tuple(
    evaluate(params["call"].program, args))  # fmt: skip


# --- reverse mode: a forward program that also returns residuals, a backward program -------


def _vjp_programs(call: JitCall, diff: tuple) -> tuple[JitCall, JitCall, list]:
    """(forward, backward, float outputs) for the inputs `diff`: the forward program
    returns the function's outputs then the residuals; the backward program takes the
    residuals then the float outputs' cotangents and returns the cotangents of `diff`.

    Made by staging the function's VJP (forward, then backward from symbolic cotangents) as
    one program and splitting it where the cotangents start to matter."""
    early, late, floats = staging.vjp_split(call.program, diff, consts_late=True)
    return (JitCall(early, call.name + "_fwd", call.fuse),
            JitCall(late, call.name + "_bwd", call.fuse), floats)


def _reverse(trace: reverse.ReverseTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals = [trace.lower(a) for a in args]
    parents = [a._node if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    diff = tuple(i for i, p in enumerate(parents) if p is not None)
    if not diff:
        return trace.wrap_all(bind(P.jit_p, *vals, call=call), P.jit_p)
    fwd, bwd, floats = call.derive(("vjp", diff), lambda: _vjp_programs(call, diff))
    res_all = bind(P.jit_p, *vals, call=fwd)
    k = len(call.out_avals)
    outs, residuals = res_all[:k], res_all[k:]
    node = reverse.Node(P.jit_p, {"call": bwd, "n": len(vals), "diff": diff,
                                  "floats": tuple(floats), "fun": call},
                        tuple(parents), tuple(np.shape(o) for o in outs),
                        tuple(np.result_type(o) for o in outs))  # fmt: skip
    saved = [trace.protect(v) if type(v) is np.ndarray and p is None else v
             for v, p in zip(vals, parents)]  # fmt: skip
    # a residual that is an input or a constant of the program: its values now (the backward
    # program must not see a change made after this)
    protected = {id(v): s for v, s in zip(vals, saved)}
    consts = {id(c) for c in fwd.program.consts if type(c) is np.ndarray}
    residuals = [protected.get(id(r)) if id(r) in protected else
                 trace.protect(r) if id(r) in consts else r for r in residuals]  # fmt: skip
    node.saved = (None, *saved, *residuals)
    node.versions = reverse.own_versions(trace, args) or None
    return tuple(
        trace.wrap(o, reverse.Node(reverse.proj_p, i, (node,), np.shape(o), np.result_type(o)))
        if i in floats else trace.wrap(o, None)
        for i, o in enumerate(outs)
    )


def _joint(g: tuple, ans: Any, *saved: Any, call: JitCall, n: int, diff: tuple,
           floats: tuple, fun: JitCall) -> list:  # fmt: skip
    vals, residuals = saved[:n], saved[n:]
    if ans is LIFTED:  # the backward pass is recorded: the VJP again, on the lifted operands
        def f(*d: Any) -> tuple:
            full = list(vals)
            for i, v in zip(diff, d):
                full[i] = v
            outs = bind(P.jit_p, *full, call=fun)
            return tuple(outs[i] for i in floats)

        _, pullback = reverse.vjp(f, *[vals[i] for i in diff])
        cts = pullback(tuple(g[i] for i in floats))
    else:
        cts = bind(P.jit_p, *residuals, *(g[i] for i in floats), call=call)
    out: list = [None] * n
    for i, c in zip(diff, cts):
        out[i] = c
    return out


reverse.process_rules[P.jit_p] = _reverse
vjp_rules[P.jit_p] = VJP(joint=_joint, inputs=True)


# --- forward mode: the JVP program ------------------------------------------------------------


def _forward_mode(trace: forward.JVPTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    primals = [a.primal if isinstance(a, Tracer) and a._trace is trace else a for a in args]
    tangents = [a.tangent if isinstance(a, Tracer) and a._trace is trace else None for a in args]
    which = tuple(i for i, t in enumerate(tangents) if t is not None)
    if not which:
        return bind(P.jit_p, *primals, call=call)
    n = len(primals)
    floats = [i for i, a in enumerate(call.out_avals) if a.dtype.kind in "fc"]

    def make() -> JitCall:
        def f(*xs: Any) -> tuple:
            full = list(xs[:n])

            def g(*d: Any) -> tuple:
                a = list(full)
                for i, v in zip(which, d):
                    a[i] = v
                return tuple(evaluate(call.program, a))

            outs, tans = forward.jvp(g, tuple(full[i] for i in which), tuple(xs[n:]))
            return (*outs, *(tans[i] for i in floats))

        avals = [v.aval for v in call.program.invars]
        avals += [call.program.invars[i].aval for i in which]
        return _stage_call(f, avals, call.name + "_jvp", call.fuse)

    jcall = call.derive(("jvp", which), make)
    ts = [instantiate(tangents[i], primals[i]) for i in which]
    res = bind(P.jit_p, *primals, *ts, call=jcall)
    k = len(call.out_avals)
    tan_of = dict(zip(floats, res[k:]))
    return tuple(trace.wrap(o, tan_of.get(i)) for i, o in enumerate(res[:k]))


forward.process_rules[P.jit_p] = _forward_mode


# --- vmap: the batched program ---------------------------------------------------------------


def _batch(trace: batching.BatchTrace, args: tuple, params: dict) -> Any:
    call = params["call"]
    vals, dims = trace.unpack(args, front=True)
    in_axes = tuple(None if d is None else 0 for d in dims)

    def make() -> JitCall:
        avals = []
        for v, d in zip(call.program.invars, in_axes):
            a = v.aval
            avals.append(a if d is None else ShapeDtypeStruct((trace.size, *a.shape), a.dtype,
                                                              a.weak_type))  # fmt: skip
        out_axes = tuple(0 if m else None for m in _depends(call.program,
                                                            [d is not None for d in in_axes]))
        fun = batching.vmap(lambda *xs: tuple(evaluate(call.program, xs)), in_axes=in_axes,
                            out_axes=out_axes, axis_size=trace.size,
                            axis_name=trace.axis_name)  # fmt: skip
        return _stage_call(fun, avals, call.name + "_vmap", call.fuse)

    bcall = call.derive(("vmap", in_axes, trace.size, trace.axis_name), make)
    outs = bind(P.jit_p, *vals, call=bcall)
    mapped = _depends(call.program, [d is not None for d in in_axes])
    return tuple(batching.BatchTracer(trace, o, 0) if m else o for o, m in zip(outs, mapped))


def _depends(program: Program, marked: list) -> list:
    """Which outputs of `program` depend on the inputs marked (dataflow, seeing through
    control flow)."""
    from chainrule.transforms.control import depends

    return depends(program, marked)


batching.process_rules[P.jit_p] = _batch


# --- the cache key ---------------------------------------------------------------------------

_WEAK = {float: ("f",), int: ("i",), bool: ("b",), complex: ("c",)}
_WEAK_AVAL = {k: ShapeDtypeStruct((), np.result_type(k), weak_type=k is not bool)
              for k in _WEAK}  # fmt: skip


def _flags() -> tuple:
    return (config.debug_nans, config.jit_fusion)


def _fast_key(args: tuple) -> tuple | None:
    """The key of positional arguments that are all arrays or Python scalars (else None):
    the common case, built without flattening pytrees."""
    parts = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            parts.append((a.shape, a.dtype))
        else:
            w = _WEAK.get(t)
            if w is None:
                if not isinstance(a, np.generic):
                    return None
                w = (a.shape, a.dtype)
            parts.append(w)
    return (config.debug_nans, config.jit_fusion, len(args), *parts)


def _nested_key(args: tuple) -> tuple | None:
    """(key, leaves) of positional arguments that are arrays, Python scalars, and lists,
    tuples and dicts (str keys) of arrays, one level deep (else None): a training step's
    parameters, keyed without building their pytree structure. The leaves are in
    `tree_flatten`'s order (a dict's by sorted key)."""
    parts: list = [config.debug_nans, config.jit_fusion, "nested"]
    leaves: list = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            parts.append((a.shape, a.dtype))
            leaves.append(a)
        elif t is list or t is tuple or t is dict:
            if t is dict:
                names = tuple(a)
                if not all(type(k) is str for k in names):
                    return None
                names = tuple(sorted(names))
                items = [a[k] for k in names]
            else:
                names, items = len(a), a
            sub = []
            for b in items:
                if type(b) is not np.ndarray:
                    return None
                sub.append((b.shape, b.dtype))
            parts.append((t, names, tuple(sub)))
            leaves.extend(items)
        elif (w := _WEAK.get(t)) is not None:
            parts.append(w)
            leaves.append(a)
        else:
            return None
    return tuple(parts), leaves


def _leaf_signature(x: Any, where: str, fun_name: str) -> tuple:
    t = type(x)
    if t is np.ndarray or isinstance(x, np.generic):
        return (np.shape(x), x.dtype)
    if t in _WEAK:
        return _WEAK[t]
    if isinstance(x, Tracer):
        a = x.aval
        return ("T" if hasattr(x, "requires_grad") else "t", a.shape, a.dtype, a.weak_type,
                bool(getattr(x, "requires_grad", False)), a.device)  # fmt: skip
    if namespace.is_foreign(x):  # another namespace's array: its device keys the cache
        a = aval_of(x)
        return ("x", t, a.shape, a.dtype, a.device)
    raise TypeError(
        f"jit of {fun_name}: {where} is a {t.__name__}, not an array or a number; pass it as "
        "a static argument (static_argnums / static_argnames) if it is a setting"
    )


def _aval_of_signature(sig: tuple) -> ShapeDtypeStruct:
    if len(sig) == 1:
        return _WEAK_AVAL[{"f": float, "i": int, "b": bool, "c": complex}[sig[0]]]
    if sig[0] in ("T", "t"):
        return ShapeDtypeStruct(sig[1], sig[2], sig[3], device=sig[5])
    if sig[0] == "x":
        return ShapeDtypeStruct(sig[2], sig[3], device=sig[4])
    return ShapeDtypeStruct(sig[-2], sig[-1])


# --- the jitted function ---------------------------------------------------------------------


class _Entry:
    """A compiled specialisation: the call, its output structure, and the globals and
    closure cells it read (checked at each call: rebinding one compiles again)."""

    __slots__ = ("call", "out_tree", "single", "flat", "guards", "captured", "mutated",
                 "donated", "run")

    def __init__(self, call: JitCall, out_tree: Any, guards: tuple, captured: list,
                 mutated: list, donated: list):  # fmt: skip
        self.call = call
        self.out_tree = out_tree
        self.single = out_tree is _LEAF and not mutated
        n = out_tree.num_leaves
        self.flat = (None if mutated else list if out_tree == tree_structure([0] * n) else
                     tuple if out_tree == tree_structure((0,) * n) else None)  # fmt: skip
        self.guards = guards
        self.captured = captured
        self.mutated = mutated  # leaves (Tensors) the function changed in place
        self.donated = donated  # leaves given up by the caller (donate_argnums)
        self.run = call.exe.run if call.exe_donating is None else call.run_donating
        if call.draws:  # random draws a transformation in flight must see: interpreted
            compiled = self.run
            self.run = lambda *xs: (tuple(evaluate(call.program, xs)) if random.in_flight()
                                    else compiled(*xs))  # fmt: skip

    def fresh(self) -> bool:
        for ns, name, obj in self.guards:
            if ns.get(name, _MISSING) is not obj:
                return False
        return True

    def outputs(self, out: tuple) -> Any:
        """The caller's outputs: the one array, a list or tuple of them, or the pytree."""
        if self.single:
            return out[0]
        if self.flat is not None:
            return self.flat(out)
        return tree_unflatten(self.out_tree, list(out))


_MISSING = object()


class Jitted:
    """A jitted function (see `jit`): call it like the function; `cache_info()`,
    `clear_cache()`, `lower(*args)` (the compiled program: `.source`, `.program`)."""

    def __init__(self, fun: Callable, static_argnums: tuple, static_argnames: tuple,
                 donate_argnums: tuple, fusion: bool | None):  # fmt: skip
        functools.update_wrapper(self, fun)
        self.fun = fun
        self._fname = getattr(fun, "__name__", None) or _name(fun)
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.donate_argnums = donate_argnums
        self.fusion = fusion
        self._cache: OrderedDict = OrderedDict()
        self._nested: dict = {}  # _nested_key -> entry: calls on lists/dicts of arrays
        self._lock = threading.RLock()
        self._hits = self._misses = 0
        self._last_key: Any = None
        self._warned = False
        try:
            self._params = list(inspect.signature(fun).parameters)
        except (TypeError, ValueError):
            self._params = []
        # the quick paths take every positional argument as traced: not with static ones
        # (a name in static_argnames may be passed positionally, as JAX allows)
        self._quick = not static_argnums and not any(n in static_argnames for n in self._params)

    # the call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and self._quick:
            key = _fast_key(args)
            if key is not None:
                entry = self._cache.get(key)
                if entry is not None and entry.fresh():
                    self._hits += 1
                    try:
                        out = entry.run(*args)
                    except StaleConstant:  # a captured array changed shape: the slow path
                        return self._call(args, kwargs)
                    return entry.outputs(out)
            elif (nested := _nested_key(args)) is not None:  # lists, tuples, dicts of arrays
                key, leaves = nested
                entry = self._nested.get(key)
                if entry is not None and entry.fresh():
                    self._hits += 1
                    try:
                        out = entry.run(*leaves)
                    except StaleConstant:
                        self._nested.pop(key, None)
                        return self._call(args, kwargs)
                    return entry.outputs(out)
                return self._call(args, kwargs, key)
        return self._call(args, kwargs)

    def _call(self, args: tuple, kwargs: dict, nested: Any = None) -> Any:
        key, leaves, build = self._key(args, kwargs)
        entry = self._cache.get(key)
        if entry is not None and entry.fresh():
            self._hits += 1
            self._cache.move_to_end(key)
        else:
            entry = self._compile(key, leaves, build, stale=entry is not None)
        try:
            if any(isinstance(x, Tracer) for x in leaves):
                out = bind(P.jit_p, *leaves, *entry.captured, call=entry.call)
            elif entry.captured:  # values of a transformation (a pullback's saved values):
                out = bind(P.jit_p, *leaves, *entry.captured, call=entry.call)  # another
                out = tuple(unbox(o) for o in out)  # namespace's arrays leave as themselves
            else:
                out = entry.run(*leaves)
        except StaleConstant:  # a captured array changed shape or dtype: compile again
            self._cache.pop(key, None)
            return self._call(args, kwargs)
        if entry.captured:
            self._cache.pop(key, None)  # valid only inside the transformation it captured
        elif nested is not None and not entry.mutated:  # the next such call skips _key
            if len(self._nested) >= 8:
                self._nested.clear()
            self._nested[nested] = entry
        if entry.mutated:
            k = len(out) - len(entry.mutated)
            for i, new in zip(entry.mutated, out[k:]):
                TENSORS.write_back(leaves[i], new, self._fname)
            out = out[:k]
        for i in entry.donated:
            if TENSORS.is_tensor(leaves[i]):
                TENSORS.donated(leaves[i], self._fname)
        return entry.outputs(out)

    def _key(self, args: tuple, kwargs: dict) -> tuple:
        """(key, dynamic leaves, how to rebuild the call from leaves)."""
        if not kwargs and self._quick:
            key = _fast_key(args)
            if key is not None:
                return key, list(args), None
        statics = []
        dyn_args = []
        for i, a in enumerate(args):
            if i in self.static_argnums or (i < len(self._params) and
                                            self._params[i] in self.static_argnames):  # fmt: skip
                statics.append((i, _hashable(a, f"static argument {i}", self._fname)))
            else:
                dyn_args.append(a)
        dyn_kwargs = {}
        for k in sorted(kwargs):
            if k in self.static_argnames:
                statics.append((k, _hashable(kwargs[k], f"static argument {k!r}",
                                             self._fname)))  # fmt: skip
            else:
                dyn_kwargs[k] = kwargs[k]
        leaves, tree = tree_flatten((tuple(dyn_args), dyn_kwargs))
        names = self._leaf_names(tree, len(leaves))
        sigs = tuple(_leaf_signature(x, names[j], self._fname) for j, x in enumerate(leaves))
        key = (config.debug_nans, config.jit_fusion, "tree", tree, sigs, tuple(statics))
        return key, leaves, (tree, tuple(statics))

    def _leaf_names(self, tree: Any, n: int) -> list:
        return [f"leaf {j} of the arguments" for j in range(n)]

    # compiling

    def _compile(self, key: Any, leaves: list, build: Any, stale: bool) -> _Entry:
        with self._lock:
            self._misses += 1
            if build is None:
                tree, statics = None, ()
                avals = [_aval_of_signature(s) for s in key[3:]]
            else:
                tree, statics = build
                avals = [_aval_of_signature(s) for s in key[4]]
            fun = self.fun
            static_pos = dict(statics)
            tensors = [i for i, x in enumerate(leaves) if TENSORS.is_tensor(x)]

            def flat(*xs: Any) -> tuple:
                xs = list(xs)
                wrapped = {i: TENSORS.wrap(xs[i], leaves[i]) for i in tensors}
                for i, w in wrapped.items():
                    xs[i] = w
                if tree is None:
                    out = fun(*xs)
                else:
                    dyn_args, dyn_kwargs = tree_unflatten(tree, xs)
                    full, it = [], iter(dyn_args)
                    for i in range(len(dyn_args) + sum(isinstance(k, int) for k in static_pos)):
                        full.append(static_pos[i] if i in static_pos else next(it))
                    kw = {k: v for k, v in static_pos.items() if isinstance(k, str)}
                    kw.update(dyn_kwargs)
                    out = fun(*full, **kw)
                out_leaves, out_tree = tree_flatten(out)
                out_leaves = [TENSORS.value(o) if TENSORS.is_tensor(o) else o for o in out_leaves]
                changed = [(i, TENSORS.value(w)) for i, w in wrapped.items()
                           if TENSORS.value(w) is not xs_in[i]]  # fmt: skip
                box.append((out_tree, [i for i, _ in changed]))
                return (*out_leaves, *(v for _, v in changed))

            box: list = []
            xs_in: list = []
            name = _name(fun)
            names = self._arg_names(tree, statics, len(avals))
            locked: list = []  # the arguments, read-only while the function is staged (the
            for x in leaves:  # program reads them when it runs, after the body ran)
                if type(x) is np.ndarray:
                    reverse._lock(x, locked)
            try:
                program, _ = staging.stage(_keep_inputs(flat, xs_in), avals, "jit",
                                           dynamic=True, user_fun=fun, arg_names=names,
                                           inline=False)  # fmt: skip
            finally:
                reverse.unlock(locked)
            out_tree, mutated = box[0]
            _check_outputs(program, name)
            captured = []
            if any(isinstance(c, Tracer) for c in program.consts):  # values of an enclosing
                keep = [(v, c) for v, c in zip(program.constvars, program.consts)  # trace
                        if not isinstance(c, Tracer)]  # fmt: skip
                moved = [(v, c) for v, c in zip(program.constvars, program.consts)
                         if isinstance(c, Tracer)]  # fmt: skip
                program = program.replace(invars=program.invars + [v for v, _ in moved],
                                          constvars=[v for v, _ in keep],
                                          consts=[c for _, c in keep])  # fmt: skip
                captured = [c for _, c in moved]
            fuse = config.jit_fusion if self.fusion is None else self.fusion
            positions = self._positions(tree, statics, len(avals))
            donated = [j for j, pos in enumerate(positions) if pos in self.donate_argnums]
            plain = any(a.device is not None for a in avals)  # another namespace's arrays
            foreign = [c for c in map(unbox, (*program.consts, *captured))
                       if namespace.is_foreign(c)]  # fmt: skip
            if foreign and not plain:  # with NumPy arrays as arguments: NumPy would convert
                if any(not a.weak_type for a in avals):
                    raise namespace.traced_numpy_meets(f"jit of {name}", foreign[0])
                plain = True  # numbers only: the constants' namespace
            call = JitCall(program, name, fuse, [j for j in donated if not captured], plain)
            entry = _Entry(call, out_tree, _guards(fun), captured, mutated, donated)
            self._note_recompile(key, stale)
            self._last_key = key
            if not captured:
                self._cache[key] = entry
                self._cache.move_to_end(key)
                while len(self._cache) > MAXSIZE:
                    self._cache.popitem(last=False)
            return entry

    def _positions(self, tree: Any, statics: tuple, n: int) -> list:
        """For each leaf, the positional argument (an int) or keyword (a str) it is in,
        and the rest of its path."""
        if tree is None:
            return list(range(n))
        from chainrule.core.pytree import tree_flatten_with_path

        n_args = len(tree_unflatten(tree, [0] * n)[0])  # an argument may hold no leaves
        dyn_pos = [i for i in range(n_args + len(statics)) if i not in dict(statics)]
        paths, _ = tree_flatten_with_path(tree_unflatten(tree, [0] * n))
        return [dyn_pos[path[1].idx] if path[0].idx == 0 else path[1].key for path, _ in paths]

    def _arg_names(self, tree: Any, statics: tuple, n: int) -> list:
        """How errors name each leaf: "argument 'n' of f is traced: ..."."""
        fname = self._fname
        params = self._params
        out = []
        for pos in self._positions(tree, statics, n):
            if isinstance(pos, int) and pos < len(params):
                out.append(f"argument {params[pos]!r} of {fname} is traced: mark it static "
                           f"with static_argnums={pos} or static_argnames={params[pos]!r}")
            elif isinstance(pos, str):
                out.append(f"argument {pos!r} of {fname} is traced: mark it static with "
                           f"static_argnames={pos!r}")
            else:
                out.append(f"argument {pos} of {fname} is traced: mark it static with "
                           f"static_argnums={pos}")
        return out

    def _note_recompile(self, key: Any, stale: bool) -> None:
        if self._misses < RECOMPILES_WARNED or self._warned:
            return
        self._warned = True
        why = "a global or closure variable it reads was rebound" if stale else _what_changed(
            self._last_key, key)  # fmt: skip
        warnings.warn(
            f"jit of {self._fname} has compiled {self._misses} times: {why}. Pass values "
            "that change as arguments (arrays and numbers are traced, not baked in); keep "
            "static arguments and shapes the same from call to call",
            stacklevel=4,
        )

    # introspection

    def cache_info(self) -> CacheInfo:
        """Hits, misses (compilations), maximum size and current size of the cache.

        >>> import numpy as np, chainrule as cr
        >>> f = cr.jit(lambda x: x + 1)
        >>> _ = f(np.ones(2)); _ = f(np.ones(2))
        >>> f.cache_info()
        CacheInfo(hits=1, misses=1, maxsize=64, currsize=1)
        """
        return CacheInfo(self._hits, self._misses, MAXSIZE, len(self._cache))

    def clear_cache(self) -> None:
        """Forget every compiled specialisation."""
        with self._lock:
            self._cache.clear()
            self._nested.clear()

    def lower(self, *args: Any, **kwargs: Any) -> Executable:
        """The compiled program for these arguments: `.source` (the Python it runs),
        `.program` (the optimised IR).

        >>> import numpy as np, chainrule as cr
        >>> print(cr.jit(lambda x: x * 2.0).lower(np.ones(2)).source)
        def lambda_(a):
            b = _mul(a, _float64_2_0)
            return (b,)
        <BLANKLINE>
        """
        key, leaves, build = self._key(args, kwargs)
        entry = self._cache.get(key)
        if entry is None or not entry.fresh():
            entry = self._compile(key, leaves, build, stale=entry is not None)
        return entry.call.exe

    def source(self, *args: Any, **kwargs: Any) -> str:
        """The Python source the compiled function runs for these arguments."""
        return self.lower(*args, **kwargs).source

    def __get__(self, obj: Any, objtype: Any = None) -> Any:  # jit on methods
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self) -> str:
        return f"<jitted {self._fname}>"


def _hashable(v: Any, what: str, name: str) -> Any:
    try:
        hash(v)
    except TypeError:
        raise TypeError(f"jit of {name}: {what} must be hashable (it keys the cache), got a "
                        f"{type(v).__name__}; pass arrays as dynamic arguments"
                        ) from None  # fmt: skip
    return v


def _name(fun: Any) -> str:
    """A Python identifier for the compiled function: its name ('lambda_' for a lambda)."""
    n = getattr(fun, "__name__", None) or type(fun).__name__
    n = "".join(c if c.isalnum() else "_" for c in n).strip("_") or "fn"
    return n + "_" if keyword.iskeyword(n) or n[0].isdigit() else n


def _keep_inputs(fun: Callable, box: list) -> Callable:
    """`fun`, noting the tracers it was called with in `box`."""

    def kept(*xs: Any) -> Any:
        box.extend(xs)
        return fun(*xs)

    return kept


class _TensorHooks:
    """What jit needs of the Tensor face (set by `chainrule.tensor`, a higher layer): a
    Tensor argument is staged as a Tensor over the tracer, so that Tensor methods, in-place
    ones included, work inside the function; an in-place change is written back after the
    call."""

    @staticmethod
    def is_tensor(x: Any) -> bool:
        return False

    @staticmethod
    def wrap(tracer: Any, like: Any) -> Any:
        return tracer

    @staticmethod
    def value(t: Any) -> Any:
        return t

    @staticmethod
    def write_back(t: Any, value: Any, name: str) -> None:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def donated(t: Any, name: str) -> None:  # pragma: no cover
        raise NotImplementedError


TENSORS = _TensorHooks()


def _check_outputs(program: Program, name: str) -> None:
    for v in program.outvars:
        a = v.aval
        if a.dtype.kind not in "biufcV":
            raise TypeError(f"jit of {name}: an output of dtype {a.dtype} is not an array")


def _guards(fun: Callable) -> tuple:
    """The globals and closure variables `fun` reads directly that hold arrays or numbers
    (baked into the program): (namespace, name, object) to check at each call."""
    code = getattr(fun, "__code__", None)
    if code is None:
        return ()
    out = []
    g = getattr(fun, "__globals__", {})
    for n in code.co_names:
        v = g.get(n, _MISSING)
        if isinstance(v, (np.ndarray, np.generic, float, int, complex, Source)) and not \
                isinstance(v, bool):  # fmt: skip
            out.append((g, n, v))
    for n, cell in zip(code.co_freevars, getattr(fun, "__closure__", None) or ()):
        try:
            v = cell.cell_contents
        except ValueError:
            continue
        if isinstance(v, (np.ndarray, np.generic, float, int, complex, Source)):
            out.append((_Cell(cell), n, v))
    return tuple(out)


class _Cell:
    """A closure cell seen as a one-name namespace."""

    __slots__ = ("cell",)

    def __init__(self, cell: Any):
        self.cell = cell

    def get(self, name: str, default: Any) -> Any:
        try:
            return self.cell.cell_contents
        except ValueError:
            return default


def _what_changed(old: Any, new: Any) -> str:
    if old is None:
        return "the arguments' shapes or types changed"
    if old[:2] != new[:2]:
        return "cr.config (debug_nans or jit_fusion) changed"
    if len(old) != len(new) or old[2] != new[2]:
        return "the arguments' structure changed"
    if new[2] == "tree":
        if old[3] != new[3]:
            return "the arguments' structure changed"
        if old[5] != new[5]:
            return f"a static argument changed ({old[5]} -> {new[5]})"
        pairs = zip(old[4], new[4])
    else:
        pairs = zip(old[3:], new[3:])
    for j, (a, b) in enumerate(pairs):
        if a != b:
            return f"argument {j} changed from {_sig_text(a)} to {_sig_text(b)}"
    return "the arguments changed"


def _sig_text(sig: tuple) -> str:
    if len(sig) == 1:
        return {"f": "a float", "i": "an int", "b": "a bool", "c": "a complex"}[sig[0]]
    a = _aval_of_signature(sig)
    return f"shape {a.shape} {a.dtype}"


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        fusion: bool | None = None) -> Any:  # fmt: skip
    """Compile `fun`: staged once per kind of arguments (shapes, dtypes, pytree structure,
    static values), optimised, and run as generated Python over NumPy from then on.

    Arrays and Python numbers are traced (Python control flow on them is an error naming
    the line: use `cr.cond`, `cr.where`, or mark the argument static). Arguments at
    `static_argnums` / named in `static_argnames` are passed as they are and key the cache
    (they must be hashable). `fusion=False` turns elementwise fusion off for this function
    (default: ``cr.config.jit_fusion``). Composes with every transformation:
    `grad(jit(f))`, `jit(grad(f))`, `vmap(jit(f))`, `jit(f)(t).backward()` on Tensors.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> f = cr.jit(cr.grad(lambda x: cnp.sum(x ** 3)))
    >>> f(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames,
                                 donate_argnums=donate_argnums, fusion=fusion)  # fmt: skip
    if not callable(fun):
        raise TypeError(f"jit: expected a function, got a {type(fun).__name__}")
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    donate = (donate_argnums,) if isinstance(donate_argnums, int) else tuple(donate_argnums)
    for k in nums + donate:
        if not isinstance(k, int):
            raise TypeError(f"jit: argument numbers must be ints, got {k!r}")
    return Jitted(fun, nums, names, donate, fusion)
