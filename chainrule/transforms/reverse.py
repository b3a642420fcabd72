"""Reverse mode: the recording trace, the backward pass, and the functional API over them.

A `ReverseTrace` records each primitive applied to its tracers as a `Node`: the primitive, its
parameters, its parent nodes and only the values its VJP rules read (a rule's parameters that
start with ``_`` are not kept: ``mul`` by a constant keeps the constant, not both operands).
The backward pass visits nodes from the newest to the oldest (a heap on the creation number:
no recursion, no separate topological sort, only what the output reaches), calls one VJP rule
per parent edge, and un-broadcasts and casts cotangents in one central place.
"""

from __future__ import annotations

import itertools
from heapq import heappop, heappush
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core.primitives import NONDIFF_PRIMS, stop_gradient_p

from chainrule.core.pytree import _LEAF, tree_flatten, tree_map, tree_unflatten
from chainrule.core.trace import Primitive, Trace, Tracer, _fail, _state, bind, impl_rules
from chainrule.rules.vjp import VarArgs, vjp_rules
from chainrule.transforms import blocked

_seq = itertools.count()
_NODE_FREE = NONDIFF_PRIMS | {stop_gradient_p}  # their results carry no gradient
_EW_UFUNCS = frozenset(p for p in blocked.EW if type(impl_rules[p]) is np.ufunc)
proj_p = Primitive("proj")  # output i of a primitive with several results


class Node:
    """One recorded operation (or a leaf, when `prim` is None) of a reverse-mode graph."""

    __slots__ = ("prim", "params", "saved", "parents", "seq", "shape", "dtype", "ct", "versions",
                 "meta", "__weakref__")  # fmt: skip

    def __init__(self, prim, params, parents, shape, dtype):
        self.prim = prim
        self.params = params
        self.parents = parents
        self.seq = next(_seq)
        self.shape = shape
        self.dtype = dtype
        self.saved = None
        self.ct = None
        self.versions = None  # [(version cell, version when saved)] of saved Tensors
        self.meta = None  # a NodeMeta when hooks, retain_grad or a Tensor owner are attached

    def name(self) -> str:
        """The operation's name, as PyTorch shows a grad_fn: 'MulBackward'."""
        if self.prim is None:
            return "AccumulateGrad"
        return "".join(w.capitalize() for w in str(self.prim).split("_")) + "Backward"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __repr__(self) -> str:
        return f"<{self.name()} shape={self.shape} dtype={self.dtype}>"


class NodeMeta:
    """What the imperative faces attach to a node: its Tensor, hooks, retain_grad."""

    __slots__ = ("owner", "hooks", "retain")

    def __init__(self, owner: Any = None):
        self.owner = owner  # a weak reference to the Tensor whose .grad this node feeds
        self.hooks: list = []
        self.retain = False


FREED = ()  # node.saved after a backward pass without retain_graph


# --- what each rule reads --------------------------------------------------------------------

_masks: dict = {}  # (prim, number of operands, bits of the traced ones) -> what to save


def _rule_uses(rule: Callable, nargs: int) -> frozenset:
    """Indices into (ans, *args) that `rule` reads: its parameters not starting with `_`."""
    code = rule.__code__
    names = code.co_varnames[1 : 1 + nargs + 1]  # skip g
    return frozenset(i for i, n in enumerate(names) if not n.startswith("_"))


def _save_mask(prim: Primitive, n: int, bits: int) -> tuple:
    """Which of (ans, *args) the rules of the traced operands (`bits`) read, as bools."""
    key = (prim, n, bits)
    mask = _masks.get(key)
    if mask is None:
        rules = vjp_rules[prim]
        if isinstance(rules, VarArgs):
            mask = (True,) * (n + 1)
        else:
            used: set = set()
            for i in range(n):
                if bits >> i & 1 and rules[i] is not None:
                    used |= _rule_uses(rules[i], n)
            mask = tuple(k in used for k in range(n + 1))
        _masks[key] = mask
    return mask


# --- the trace -------------------------------------------------------------------------------


class RTracer(Tracer):
    """A value followed by a reverse-mode trace."""

    __slots__ = ("_value", "_node")

    def __init__(self, trace, value, node):
        self._trace = trace
        self._value = value
        self._node = node

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    def __repr__(self) -> str:
        return f"Traced<{self._value!r}>"

    def __float__(self) -> float:
        raise TypeError(
            "float() of a value being differentiated would silently drop its gradient: keep it "
            "an array, or write float(cr.stop_gradient(x)) if no gradient should flow through it"
        )

    __complex__ = __float__


class ReverseTrace(Trace):
    """Records primitives applied to its tracers, for a later backward pass."""

    __slots__ = ()

    def leaf(self, value: Any) -> RTracer:
        return RTracer(self, value, Node(None, None, (), value.shape, value.dtype))

    versioned = False  # whether saved values are checked for in-place changes (Tensors)

    def lower(self, a: Any) -> Any:
        return a._value if (isinstance(a, Tracer) and a._trace is self) else a

    def wrap(self, value: Any, node: Node | None) -> Any:
        return value if node is None else RTracer(self, value, node)

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in _NODE_FREE:
            return self.wrap(bind(prim, *[self.lower(a) for a in args], **params), None)
        n = len(args)
        if n == 1:  # the common arities, unrolled: this is the eager hot path
            x = args[0]
            if isinstance(x, Tracer) and x._trace is self:
                xv, xn = x._value, x._node
            else:
                xv, xn = x, None
            if xn is None:
                return self.wrap(bind(prim, xv, **params), None)
            vals, parents, bits = (xv,), (xn,), 1
            lower = isinstance(xv, Tracer)
        elif n == 2:
            x, y = args
            if isinstance(x, Tracer) and x._trace is self:
                xv, xn = x._value, x._node
            else:
                xv, xn = x, None
            if isinstance(y, Tracer) and y._trace is self:
                yv, yn = y._value, y._node
            else:
                yv, yn = y, None
            bits = (xn is not None) | (yn is not None) << 1
            if not bits:
                return self.wrap(bind(prim, xv, yv, **params), None)
            vals, parents = (xv, yv), (xn, yn)
            lower = isinstance(xv, Tracer) or isinstance(yv, Tracer)
        else:
            vals = tuple(self.lower(a) for a in args)
            parents = tuple(
                a._node if isinstance(a, Tracer) and a._trace is self else None for a in args
            )
            bits = sum(1 << i for i, p in enumerate(parents) if p is not None)
            if not bits:
                return self.wrap(bind(prim, *vals, **params), None)
            lower = any(isinstance(v, Tracer) for v in vals)
        try:
            if lower:  # values that a lower trace follows
                ans = bind(prim, *vals, **params)
            elif prim in _EW_UFUNCS and (  # large arrays: in parallel chunks
                n > 2 or (type(xv) is np.ndarray and xv.size >= blocked.BIG) or
                (n == 2 and type(yv) is np.ndarray and yv.size >= blocked.BIG)
            ) and (shape := _big(vals)):  # fmt: skip
                ans = blocked.elementwise(impl_rules[prim], vals, shape)
                if ans is None:
                    ans = impl_rules[prim](*vals, **params)
            elif params:
                ans = impl_rules[prim](*vals, **params)
            else:
                ans = impl_rules[prim](*vals)
        except (ValueError, IndexError) as err:
            _fail(prim, vals, err)
        if prim.multiple_results:
            return self._record_multi(prim, params, parents, vals, ans)
        node = Node(prim, params, parents, ans.shape, ans.dtype)
        mask = _masks.get((prim, n, bits)) or _save_mask(prim, n, bits)
        if n == 1:
            node.saved = (ans if mask[0] else None, xv if mask[1] else xn)
        elif n == 2:
            node.saved = (ans if mask[0] else None, xv if mask[1] else xn, yv if mask[2] else yn)
        else:
            node.saved = (ans if mask[0] else None,) + tuple(
                v if keep else p for v, keep, p in zip(vals, mask[1:], parents)
            )
        out = self.wrap(ans, node)
        if self.versioned:  # Tensors whose values are saved: remember their versions
            vs = [(out._ver, 0)] if mask[0] else []
            if n <= 2:
                if mask[1] and isinstance(x, Tracer) and x._trace is self:
                    vs.append((x._ver, x._ver[0]))
                if n == 2 and mask[2] and isinstance(y, Tracer) and y._trace is self:
                    vs.append((y._ver, y._ver[0]))
            else:
                for a, keep in zip(args, mask[1:]):
                    if keep and isinstance(a, Tracer) and a._trace is self:
                        vs.append((a._ver, a._ver[0]))
            node.versions = vs
        return out

    def _record_multi(self, prim, params, parents, vals, ans):
        main = Node(prim, params, parents, tuple(a.shape for a in ans), tuple(a.dtype for a in ans))
        main.saved = (tuple(ans), *vals)
        outs = []
        for i, a in enumerate(ans):
            proj = Node(proj_p, i, (main,), a.shape, a.dtype)
            outs.append(self.wrap(a, proj))
        return tuple(outs)


def _big(vals: tuple) -> tuple | None:
    """The shape of the first large array operand, if any."""
    for v in vals:
        if type(v) is np.ndarray and v.size >= blocked.BIG:
            return v.shape
    return None


def _dtype(x: Any) -> np.dtype:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


# --- the backward pass -----------------------------------------------------------------------


def unbroadcast(ct: Any, shape: tuple) -> Any:
    """Sum `ct` down to `shape`: the one place where broadcasting is undone."""
    from chainrule import numpy as cnp

    lead = len(ct.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and ct.shape[lead + i] != 1
    )
    if axes:
        ct = cnp.sum(ct, axis=axes)
    return cnp.reshape(ct, shape) if ct.shape != shape else ct


def _cast(ct: Any, dtype: np.dtype) -> Any:
    from chainrule import numpy as cnp

    if np.issubdtype(ct.dtype, np.complexfloating) and not np.issubdtype(dtype, np.complexfloating):
        ct = cnp.real(ct)
    return ct if ct.dtype == dtype else cnp.astype(ct, dtype)


def _zeros(shape, dtype):
    return np.zeros(shape, dtype)


_FREED_MSG = (
    "Trying to backward through the graph a second time (or to read values it saved after "
    "they were freed). The values a graph saves are freed by .backward() and "
    "autograd.grad(); specify retain_graph=True to backward through it again."
)


def _modified(node: Node) -> str:
    return (
        f"one of the values needed for gradient computation has been modified by an in-place "
        f"operation: an input of {node.name()} (output shape {node.shape}) is at version "
        f"{max(v[0] for v, _ in node.versions)}, it was saved at version "
        f"{min(k for _, k in node.versions)}. Compute on a copy, or change it before the "
        "operation that uses it."
    )


def backward_pass(
    roots: Sequence[tuple[Node, Any]],
    retain: bool = True,
    lift: Callable | None = None,
    capture: dict | None = None,
    observe: Callable | None = None,
) -> list:
    """Propagate cotangents from `roots` [(node, ct)] to every node they reach.

    Returns the leaves reached; they keep their cotangent in `.ct` for the caller to read and
    clear. `retain=False` frees what each node saved once it has run. `lift(node)` gives the
    saved values to the rules (to record the backward pass itself: create_graph). Nodes that
    are keys of `capture` get their complete cotangent stored there, and the pass goes only
    where it leads to one of them. `observe(node, i, parent, g, ct)` sees every edge's
    contribution (for explanations).
    """
    needed = None if capture is None else _leading_to(roots, capture)
    heap: list = []
    leaves: list = []
    consumers = None  # node -> its users, computed when a large elementwise region appears
    EW, BIG, ndarray = blocked.EW, blocked.BIG, np.ndarray
    for node, ct in roots:
        if node.ct is None:
            node.ct = ct
            heappush(heap, (-node.seq, node))
            if node.prim is None:
                leaves.append(node)
        else:
            node.ct = node.ct + ct
    while heap:
        node = heappop(heap)[1]
        prim = node.prim
        g = node.ct
        if prim is None or g is None:  # a leaf, or already run within a blocked region
            continue
        if node.meta is not None:
            g = node.ct = _meta_deliver(node, g)
        if capture is not None and node in capture:
            capture[node] = g
            if not any(p in needed for p in node.parents if p is not None):
                node.ct = None  # nothing further down is asked for: leave the graph as it is
                continue
        saved = node.saved
        if saved is FREED:
            raise RuntimeError(_FREED_MSG)
        if node.versions:
            for cell, v in node.versions:
                if cell[0] != v:
                    raise RuntimeError(_modified(node))
        if prim in EW and type(g) is ndarray and g.size >= BIG and lift is None and not observe:
            if consumers is None:
                consumers = blocked.consumers_of([r for r, _ in roots])
            region = blocked.region(node, consumers, vjp_rules)
            done = blocked.run_region(region, vjp_rules, _cast) if region else None
            if done is not None:
                for p, ct in done.items():
                    _add_ct(p, ct, heap, leaves)
                if not retain:
                    for n in region:
                        n.saved = FREED
                continue
        node.ct = None
        if prim is proj_p:
            main = node.parents[0]
            if main.ct is None:
                main.ct = [None] * len(main.shape)
                heappush(heap, (-main.seq, main))
            cts = main.ct
            cts[node.params] = g if cts[node.params] is None else cts[node.params] + g
            continue
        if type(g) is list:  # several results: instantiate missing cotangents as zeros
            g = tuple(
                _zeros(s, d) if c is None else c for c, s, d in zip(g, node.shape, node.dtype)
            )
        if lift is not None:
            saved = lift(node)
        rules = vjp_rules[prim]
        params = node.params
        varargs = type(rules) is VarArgs
        i = -1
        for p in node.parents:
            i += 1
            if p is None or (needed is not None and p not in needed):
                continue
            if varargs:
                ct = rules.fn(i, g, *saved, **params)
            else:
                rule = rules[i]
                if rule is None:
                    continue
                ct = rule(g, *saved, **params) if params else rule(g, *saved)
            if ct.shape != p.shape:
                ct = unbroadcast(ct, p.shape)
            if ct.dtype is not p.dtype and ct.dtype != p.dtype:
                ct = _cast(ct, p.dtype)
            if observe is not None:
                observe(node, i, p, g, ct)
            if p.ct is None:  # _add_ct, inlined: this loop is the backward pass's hot path
                p.ct = ct
                if p.prim is not None:
                    heappush(heap, (-p.seq, p))
                else:
                    leaves.append(p)
            else:
                p.ct = p.ct + ct
        if not retain:
            node.saved = FREED
    return leaves


def _add_ct(p: Node, ct: Any, heap: list, leaves: list) -> None:
    """Add a cotangent into node `p`; a node getting its first one joins the heap (a leaf,
    the list of leaves)."""
    if p.ct is None:
        p.ct = ct
        if p.prim is not None:
            heappush(heap, (-p.seq, p))
        else:
            leaves.append(p)
    else:
        p.ct = p.ct + ct


def _leading_to(roots: Sequence, targets: dict) -> set:
    """The nodes from which some target can be reached (the targets included)."""
    needed: set = set()
    done: set = set()
    stack = [(r, False) for r, _ in roots]
    while stack:
        n, expanded = stack.pop()
        if expanded:
            if n in targets or any(p in needed for p in n.parents if p is not None):
                needed.add(n)
            continue
        if n in done:
            continue
        done.add(n)
        stack.append((n, True))
        stack.extend((p, False) for p in n.parents if p is not None and p not in done)
    return needed


def _meta_deliver(node: Node, g: Any) -> Any:
    """Run a node's hooks on its complete cotangent; keep it in `.grad` for retain_grad."""
    meta = node.meta
    for h in meta.hooks:
        r = h(g)
        if r is not None:
            g = r
    if meta.retain and meta.owner is not None:
        t = meta.owner()
        if t is not None:
            t._accumulate(g)
    return g


# --- the functional API ----------------------------------------------------------------------


def _arg_name(fun: Callable, i: int) -> str:
    import inspect

    try:
        params = list(inspect.signature(fun).parameters)
        return f"argument {i} ({params[i]!r})" if i < len(params) else f"argument {i}"
    except (TypeError, ValueError):
        return f"argument {i}"


def _check_float(x: Any, fun: Callable, i: int, what: str) -> Any:
    if type(x) is float:
        return np.float64(x)
    if not isinstance(x, (np.ndarray, np.generic, Tracer)):
        x = np.asarray(x)
    dt = x.dtype
    if dt.kind not in "fc":
        raise TypeError(
            f"{what} requires float or complex inputs, but {_arg_name(fun, i)} of "
            f"{getattr(fun, '__name__', 'the function')} has dtype {dt}; "
            f"pass a float value (e.g. 3.0 instead of 3, or x.astype(float))"
        )
    return x


def _vjp(fun: Callable, primals: tuple, argnums: tuple, has_aux: bool, what: str):
    """Trace `fun` on `primals`, following the arguments in `argnums`."""
    state = _state
    state.depth += 1
    try:
        trace = ReverseTrace(state.depth)
        args = list(primals)
        in_trees = []
        leaf_nodes = []
        for i in argnums:
            leaves, tree = tree_flatten(primals[i])
            tracers = [trace.leaf(_check_float(x, fun, i, what)) for x in leaves]
            leaf_nodes.append([t._node for t in tracers])
            in_trees.append(tree)
            args[i] = tree_unflatten(tree, tracers)
        out = fun(*args)
    finally:
        state.depth -= 1
    aux = None
    if has_aux:
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError(f"{what}(..., has_aux=True) needs the function to return (output, aux)")
        out, aux = out
        aux = tree_map(trace.lower, aux)
    out_leaves, out_tree = tree_flatten(out)
    out_nodes = [
        t._node if isinstance(t, RTracer) and t._trace is trace else None for t in out_leaves
    ]
    out_vals = [t._value if n else trace.lower(t) for t, n in zip(out_leaves, out_nodes)]

    def vjp_fn(ct: Any) -> tuple:
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree is not out_tree and ct_tree != out_tree:
            raise ValueError(f"vjp: cotangent structure {ct_tree} differs from output's {out_tree}")
        roots = []
        for node, c, v in zip(out_nodes, ct_leaves, out_vals):
            if not isinstance(c, (np.ndarray, Tracer)):
                c = np.asarray(c, _dtype(v))
            if c.shape != (v.shape if isinstance(v, (np.ndarray, np.generic, Tracer)) else
                           np.shape(v)):  # fmt: skip
                raise ValueError(
                    f"vjp: cotangent of shape {c.shape} for an output of shape {np.shape(v)}"
                )
            if node is not None:
                roots.append((node, c))
        backward_pass(roots)
        results = []
        for nodes, tree in zip(leaf_nodes, in_trees):
            cts = []
            for n in nodes:
                c = n.ct
                n.ct = None
                cts.append(_zeros(n.shape, n.dtype) if c is None else c)
            results.append(cts[0] if tree is _LEAF else tree_unflatten(tree, cts))
        return tuple(results)

    return tree_unflatten(out_tree, out_vals), vjp_fn, aux


def _argnums(argnums: int | Sequence[int]) -> tuple[tuple, bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    return tuple(argnums), False


def _scalar(x: Any) -> Any:
    """0-d arrays become NumPy scalars (a float64 result is then a Python float too)."""
    return x[()] if type(x) is np.ndarray and x.ndim == 0 else x


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Evaluate `fun(*primals)` and return `(out, vjp_fn)`; `vjp_fn(ct)` gives ctᵀ·J per primal.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> out, f_vjp = cr.vjp(cnp.sin, 0.0)
    >>> f_vjp(2.0)
    (np.float64(2.0),)
    """
    out, fn, aux = _vjp(fun, primals, tuple(range(len(primals))), has_aux, "vjp")
    fn2 = lambda ct: tuple(tree_map(_scalar, r) for r in fn(ct))  # noqa: E731
    return (out, fn2, aux) if has_aux else (out, fn2)


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Like `grad`, returning `(value, gradient)` (and `((value, aux), gradient)` with `has_aux`).

    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: x ** 3 + x ** 2 - 6 * x + 1)(2.0)
    (np.float64(1.0), np.float64(10.0))
    """
    nums, single = _argnums(argnums)

    def vg(*args: Any, **kwargs: Any):
        f = (lambda *a: fun(*a, **kwargs)) if kwargs else fun
        for i in nums:
            if i >= len(args):
                raise TypeError(f"grad: argnums={argnums} but only {len(args)} arguments given")
        out, fn, aux = _vjp(f, args, nums, has_aux, "grad")
        if isinstance(out, (np.ndarray, np.generic, Tracer)):
            shape, dt = out.shape, out.dtype
        elif isinstance(out, (int, float, complex)):
            shape, dt = (), np.result_type(out)
        else:
            raise TypeError(
                "grad requires a scalar float output, but the function returned "
                f"{type(out).__name__}"
            )
        if shape != ():
            raise TypeError(
                f"grad requires a scalar output, got shape {shape}; use cr.jacobian, "
                "cr.elementwise_grad or cr.vjp for non-scalar outputs"
            )
        if dt.kind != "f" and not (dt.kind == "c" and holomorphic):
            if dt.kind == "c":
                raise TypeError("grad requires a real output, got complex; pass holomorphic=True")
            raise TypeError(f"grad requires a float output, got {dt}")
        g = fn(np.array(1, dt))
        g = _scalar(g[0]) if single and type(g[0]) is np.ndarray else (
            tree_map(_scalar, g[0]) if single else tuple(tree_map(_scalar, x) for x in g)
        )
        return ((out, aux) if has_aux else out), g

    return vg


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The gradient of a scalar-valued `fun` with respect to argument(s) `argnums`.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(lambda x: x ** 3 + x ** 2 - 6 * x + 1)(2.0)
    np.float64(10.0)
    >>> cr.grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (np.float64(4.0), np.float64(3.0))
    """
    vg = value_and_grad(fun, argnums, has_aux, holomorphic)

    def g(*args: Any, **kwargs: Any):
        (out, g_) = vg(*args, **kwargs)
        return (g_, out[1]) if has_aux else g_

    g.__name__ = f"grad({getattr(fun, '__name__', 'f')})"
    return g


def elementwise_grad(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Gradient of `sum(fun(x))`: the pointwise derivative of a vectorised function.

    >>> import numpy as np, chainrule as cr
    >>> cr.elementwise_grad(lambda x: x ** 2)(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    nums, single = _argnums(argnums)

    def eg(*args: Any, **kwargs: Any):
        f = (lambda *a: fun(*a, **kwargs)) if kwargs else fun
        out, fn, _ = _vjp(f, args, nums, False, "elementwise_grad")
        g = fn(tree_map(lambda o: np.ones(np.shape(o), _dtype(o)), out))
        return g[0] if single else g

    return eg


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian by reverse mode: one VJP per output element. Shape: out.shape + in.shape.

    >>> import numpy as np, chainrule as cr
    >>> cr.jacrev(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    nums, single = _argnums(argnums)

    def jac(*args: Any, **kwargs: Any):
        f = (lambda *a: fun(*a, **kwargs)) if kwargs else fun
        out, fn, aux = _vjp(f, args, nums, has_aux, "jacrev")
        out_leaves, out_tree = tree_flatten(out)
        per_out = []
        for k, o in enumerate(out_leaves):
            shape, dt = np.shape(o), _dtype(o)
            rows = []
            for j in range(int(np.prod(shape))):
                cts = [np.zeros(np.shape(v), _dtype(v)) for v in out_leaves]
                e = np.zeros(int(np.prod(shape)), dt)
                e[j] = 1
                cts[k] = e.reshape(shape)
                rows.append(fn(tree_unflatten(out_tree, cts)))
            per_arg = []
            for a in range(len(nums)):
                in_leaves, in_tree = tree_flatten(args[nums[a]])
                blocks = []
                for m, x in enumerate(in_leaves):
                    parts = [tree_flatten(r[a])[0][m] for r in rows]
                    blocks.append(_stack_rows(parts, shape, np.shape(x)))
                per_arg.append(tree_unflatten(in_tree, blocks))
            per_out.append(per_arg[0] if single else tuple(per_arg))
        res = tree_unflatten(out_tree, per_out)
        return (res, aux) if has_aux else res

    return jac


def _stack_rows(parts: list, out_shape: tuple, in_shape: tuple) -> Any:
    from chainrule import numpy as cnp

    if not parts:
        return np.zeros(out_shape + in_shape)
    return cnp.reshape(cnp.stack(parts), out_shape + in_shape)


jacobian = jacrev


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of a scalar-valued `fun` (reverse over reverse).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.hessian(lambda x: cnp.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    return jacrev(jacrev(fun, argnums), argnums)


def jvp(fun: Callable, primals: Sequence, tangents: Sequence):
    """Forward-mode product `(fun(*primals), J · tangents)`.

    Computed as the transpose of the VJP (the VJP is linear in its cotangent, so its own VJP
    is the JVP) until the forward-mode trace lands.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> cr.jvp(cnp.sin, (0.0,), (3.0,))
    (np.float64(0.0), np.float64(3.0))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    out, fn, _ = _vjp(fun, primals, tuple(range(len(primals))), False, "jvp")
    zero_ct = tree_map(lambda o: np.zeros(np.shape(o), _dtype(o)), out)
    _, fn2, _ = _vjp(lambda ct: fn(ct), (zero_ct,), (0,), False, "jvp")
    (t_out,) = fn2(tuple(tangents))
    return out, tree_map(_scalar, t_out)


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian with `jacrev`'s shape convention (computed by reverse mode for now).

    >>> import numpy as np, chainrule as cr
    >>> cr.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    return jacrev(fun, argnums)


def stop_gradient(x: Any) -> Any:
    """The value of `x`, seen as a constant by every differentiation.

    >>> import chainrule as cr
    >>> cr.grad(lambda x: x * cr.stop_gradient(x))(3.0)
    np.float64(3.0)
    """
    return tree_map(lambda v: bind(stop_gradient_p, v) if isinstance(v, Tracer) else v, x)
