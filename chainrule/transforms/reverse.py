"""Reverse mode: the recording trace, the backward pass, and `vjp`/`grad` over them.

A `ReverseTrace` records each primitive applied to its tracers as a `Node`: the primitive,
its parameters, its parent nodes and only the values its VJP rules declare they read
(``rules/vjp.py``). Saved values are protected from the caller's later changes: a NumPy array
the trace does not own (a closed-over constant, an index array) is copied once per trace when
it is first saved, and a Tensor's version is recorded and checked before use.

The backward pass visits nodes from the newest to the oldest (a heap on the creation number:
no recursion, only what the output reaches), calls one VJP rule per parent edge, and
un-broadcasts and casts cotangents in one central place. This file is the readable path;
``transforms/executor.py`` installs faster versions of `ReverseTrace.process_primitive` and
`backward_pass` with the same semantics (a test runs the suite both ways).
"""

from __future__ import annotations

import itertools
from heapq import heappop, heappush
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.pytree import _LEAF, tree_flatten, tree_map, tree_unflatten
from chainrule.core import namespace
from chainrule.core.trace import (
    STAGING, ForeignTracer, Primitive, Trace, Tracer, _state, bind, bind_with, box, box_tree,
    end_trace, full, is_plain, leave_tree, namespace_constants, new_trace,
)
from chainrule.rules.vjp import vjp_rules

_seq = itertools.count()
_new = object.__new__
proj_p = Primitive("proj")  # output i of a primitive with several results
#: primitives whose reverse-mode processing is their own (custom rules, checkpoint): filled by
#: the modules that define them; handler(trace, args, params) -> outputs
process_rules: dict[Primitive, Callable] = {}


class Node:
    """One recorded operation (or a leaf, when `prim` is None) of a reverse-mode graph.

    `saved` is ``(ans, *operands)`` with only the values the rules read; an operand that is
    not kept is its parent node if traced (it has `.shape` and `.dtype`), else None.
    """

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
        if self.prim is proj_p:  # one result of a primitive with several
            return self.parents[0].name()
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


# --- what each node keeps --------------------------------------------------------------------

_masks: dict = {}  # (prim, number of operands, bits of the traced ones) -> what to keep


def save_mask(prim: Primitive, n: int, bits: int) -> tuple:
    """Which of (ans, *operands) the rules of the traced operands (`bits`) read, as bools."""
    key = (prim, n, bits)
    mask = _masks.get(key)
    if mask is not None:
        return mask
    row = vjp_rules[prim]
    if row.varargs or row.joint is not None:
        words = row.varargs_reads.split()
        mask = ("ans" in words,) + ("operands" in words,) * n
    else:
        used: set = set()
        for i in range(min(n, len(row.rules))):
            if bits >> i & 1 and row.rules[i] is not None:
                used |= row.reads[i]
        first_array = prim.ndiff if prim.ndiff is not None else n
        mask = tuple(
            k in used or (k >= 1 + first_array and -1 in used) for k in range(n + 1)
        )
    _masks[key] = mask
    return mask


# --- the trace -------------------------------------------------------------------------------


def protect(trace: Any, v: np.ndarray) -> np.ndarray:
    """A copy of `v` as it is now, shared by the saves of the same unchanged array within
    `trace` (whose `copies` dict maps id(array) -> (array, copy)). Inside a program being
    staged (jit), the constant is staged now: what the program reads is what it holds now."""
    if STAGING[0] and (staging := _state.staging) and trace.level > staging[-1].level:
        return staging[-1].constant(v)
    if trace.copies is None:
        trace.copies = {}
    hit = trace.copies.get(id(v))
    if hit is not None and hit[0] is v and (hit[1] is v or _same_bits(hit[1], v)):
        return hit[1]  # the first copy, or the array itself when the call has locked it
    c = np.array(v, copy=True)
    trace.copies[id(v)] = (v, c)
    return c


def protect_foreign(trace: Any, x: Any) -> Any:
    """A constant of another namespace (a CuPy array, boxed or not) about to be saved: a
    copy of its current values, boxed, so that the caller's later changes to the array do
    not reach the backward pass (NumPy's constants: `protect`). Each save copies: telling
    whether the array changed since an earlier copy would need its values on the host. Inside
    a program being staged (jit) it is read when the program runs, as NumPy's are."""
    if STAGING[0] and (staging := _state.staging) and trace.level > staging[-1].level:
        return box(x)
    raw = x._value if type(x) is ForeignTracer else x
    return ForeignTracer(namespace.copy(raw))


def _same_bits(c: np.ndarray, v: np.ndarray) -> bool:
    """Whether `v` holds exactly the values of `c` (bit for bit: -0.0 is not 0.0)."""
    if c.shape != v.shape or c.dtype != v.dtype:
        return False
    if c.dtype.kind == "c":
        return _same_bits(c.real, v.real) and _same_bits(c.imag, v.imag)
    if c.dtype.kind == "f":
        u = np.dtype(f"u{c.dtype.itemsize}")
        return bool((c.view(u) == v.view(u)).all())
    return bool((c == v).all())


class RTracer(Tracer):
    """A value followed by a reverse-mode trace."""

    __slots__ = ("_value", "_node")

    def __init__(self, trace, value, node):
        self._trace = trace
        self._value = value
        self._node = node

    def _below(self) -> Any:
        return self._value

    @property
    def aval(self) -> ShapeDtypeStruct:
        """The abstract value: shape, dtype and weak type (what transformations see).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor(np.ones((2, 3), np.float32)).aval
        ShapeDtypeStruct(shape=(2, 3), dtype=float32)
        """
        v = self._value
        return v.aval if isinstance(v, Tracer) else ShapeDtypeStruct(v.shape, v.dtype)

    @property
    def shape(self) -> tuple:
        """The shape, a tuple of ints (known under every transformation).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.tensor(np.ones((2, 3))).shape
        (2, 3)
        >>> cr.grad(lambda x: x.shape[0] * cnp.sum(x))(np.ones(3))
        array([3., 3., 3.])
        """
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (float64 unless made otherwise).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor([1.0, 2.0]).dtype, cr.tensor(np.ones(2, np.float32)).dtype
        (dtype('float64'), dtype('float32'))
        """
        return self._value.dtype

    def __repr__(self) -> str:
        return f"Traced<{self._value!r}>"


_DROP = (
    "{what} of a value being differentiated would silently drop its derivative: keep it an "
    "array, or write {what_call}(cr.stop_gradient(x)) if no derivative should flow through it "
    "(assigning it into a NumPy array, y[i] = x, is such a conversion: build the array with "
    "cnp.stack or cnp.index_set instead)"
)


class ReverseTrace(Trace):
    """Records primitives applied to its tracers, for a later backward pass."""

    __slots__ = ()

    versioned = False  # whether own values are Tensors with version counters (the eager face)

    def leaf(self, value: Any) -> RTracer:
        return RTracer(self, value, Node(None, None, (), value.shape, value.dtype))

    def concrete(self, tracer: Tracer, what: str) -> Any:
        if what in ("float()", "complex()", "item()", "tolist()"):
            raise TypeError(_DROP.format(what=what, what_call="float" if what == "item()"
                                         else what[:-2]))  # fmt: skip
        return tracer._value

    def lower(self, a: Any) -> Any:
        return a._value if (isinstance(a, Tracer) and a._trace is self) else a

    def carries_derivative(self, tracer: Tracer) -> bool:
        return tracer._node is not None

    def wrap(self, value: Any, node: Node | None) -> Any:
        """A result: a tracer when recorded (`node`), the value itself otherwise."""
        if node is None:
            return value
        t = _new(RTracer)  # RTracer(self, value, node) without its __init__'s frame
        t._trace, t._value, t._node = self, value, node
        return t

    def wrap_all(self, ans: Any, prim: Primitive) -> Any:
        """Results that carry no derivative."""
        if prim.multiple_results:
            return tuple(self.wrap(a, None) for a in ans)
        return self.wrap(ans, None)

    #: A foreign NumPy array about to be saved: a copy of its current values. An array saved
    #: again unchanged shares the first copy (one copy per trace); one that changed in between
    #: (a buffer refilled in a loop) gets a new one.
    protect = protect

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in process_rules:
            return process_rules[prim](self, args, params)
        vals, parents, own = [], [], []
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                vals.append(a._value)
                parents.append(a._node)
                own.append(True)
            else:
                vals.append(a)
                parents.append(None)
                own.append(False)
        if not all(map(is_plain, vals)):
            vals = namespace_constants(prim, vals)
        ans = self.compute(prim, tuple(vals), params)
        if prim.nondiff or prim is P.stop_gradient_p or all(p is None for p in parents):
            return self.wrap_all(ans, prim)
        return self.record(prim, params, args, vals, parents, own, ans)

    def compute(self, prim: Primitive, vals: tuple, params: dict) -> Any:
        """The primitive's result on the operands' values (the lower traces, or its impl)."""
        return bind_with(prim, vals, params)

    readable_process = process_primitive

    def record(self, prim, params, args, vals, parents, own, ans) -> Any:
        """The node of `prim` applied to `vals` (its traced operands' nodes in `parents`)."""
        n = len(vals)
        bits = sum(1 << i for i, p in enumerate(parents) if p is not None)
        mask = save_mask(prim, n, bits)
        saved = [ans if mask[0] else None]
        versions = []
        for v, keep, p, mine in zip(vals, mask[1:], parents, own):
            if not keep:
                saved.append(p)
                continue
            if type(v) is np.ndarray and not mine:
                v = self.protect(v)  # a constant the caller may change later
            elif not mine and (type(v) is ForeignTracer or namespace.is_foreign(v)):
                v = protect_foreign(self, v)  # another namespace's constant: copied, boxed
            elif isinstance(v, Tracer) and getattr(v, "_ver", None) is not None:
                versions.append((v._ver, v._ver[0]))  # a Tensor: checked before use
            saved.append(v)
        for a, keep in zip(args, mask[1:]):
            if keep and self.versioned and isinstance(a, Tracer) and a._trace is self:
                versions.append((a._ver, a._ver[0]))
        if prim.multiple_results:
            node = Node(prim, params, tuple(parents), tuple(np.shape(a) for a in ans),
                        tuple(np.result_type(a) for a in ans))  # fmt: skip
            node.saved = tuple(saved)
            node.versions = versions or None
            return tuple(self.wrap(a, Node(proj_p, i, (node,), np.shape(a), np.result_type(a)))
                         for i, a in enumerate(ans))  # fmt: skip
        node = Node(prim, params, tuple(parents), ans.shape, ans.dtype)
        node.saved = tuple(saved)
        out = self.wrap(ans, node)
        if mask[0] and self.versioned:
            versions.append((out._ver, 0))
        node.versions = versions or None
        return out


def own_versions(trace: Any, args: tuple) -> list:
    """Version stamps of the trace's own Tensors among `args` (a node that saves their values
    checks them before its backward pass: changed in place since, it raises)."""
    if not trace.versioned:
        return []
    return [(a._ver, a._ver[0]) for a in args if isinstance(a, Tracer) and a._trace is trace]


# --- the backward pass -----------------------------------------------------------------------


def unbroadcast(ct: Any, shape: tuple) -> Any:
    """Sum `ct` down to `shape`: the one place where broadcasting is undone."""
    lead = len(ct.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and ct.shape[lead + i] != 1
    )
    if axes:
        ct = cnp.sum(ct, axis=axes)
    return cnp.reshape(ct, shape) if ct.shape != shape else ct


def cast(ct: Any, dtype: np.dtype) -> Any:
    """`ct` as `dtype`: the real part for a real operand of a complex computation."""
    if ct.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        ct = cnp.real(ct)
    return ct if ct.dtype == dtype else cnp.astype(ct, dtype)


def fit(ct: Any, p: Any) -> Any:
    """A rule's result as the cotangent of node `p`: its shape and dtype."""
    if ct.shape != p.shape:
        ct = unbroadcast(ct, p.shape)
    if ct.dtype != p.dtype:
        ct = cast(ct, p.dtype)
    return ct


_FREED_MSG = (
    "Trying to backward through the graph a second time (or to read values it saved after "
    "they were freed). The values a graph saves are freed by .backward() and "
    "autograd.grad(); specify retain_graph=True to backward through it again."
)


def check_versions(node: Node) -> None:
    for cell, v in node.versions:
        if cell[0] != v:
            raise RuntimeError(
                f"one of the values needed for gradient computation has been modified by an "
                f"in-place operation: an input of {node.name()} (output shape {node.shape}) is "
                f"at version {cell[0]}; it was saved at version {v}. Compute on a copy, or "
                "change it before the operation that uses it."
            )


def add_ct(p: Node, ct: Any, heap: list, leaves: list) -> None:
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


def _zeros(shape: tuple, dtype: Any) -> np.ndarray:
    return np.zeros(shape, dtype)


def node_cotangents(node: Node, g: Any, saved: tuple) -> list:
    """The cotangents (None where there is none) of `node`'s parents, from its rules."""
    row = vjp_rules[node.prim]
    params = node.params
    if row.joint is not None:
        return list(row.joint(g, *saved, **params))
    out: list = []
    for i, p in enumerate(node.parents):
        if p is None:
            out.append(None)
        elif row.varargs:
            out.append(row.fn(i, g, *saved, **params))
        elif i < len(row.rules) and row.rules[i] is not None:
            out.append(row.rules[i](g, *saved, **params))
        else:
            out.append(None)
    return out


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
    where it leads to one of them. `observe(node, i, parent, g, ct)` sees every edge.
    """
    needed = None if capture is None else leading_to(roots, capture)
    heap: list = []
    leaves: list = []
    for node, ct in roots:
        add_ct(node, ct, heap, leaves)
    while heap:
        node = heappop(heap)[1]
        g = node.ct
        if g is None:
            continue
        if node.meta is not None:
            g = node.ct = deliver(node, g)
        if capture is not None and node in capture:
            capture[node] = g
            if not any(p in needed for p in node.parents if p is not None):
                node.ct = None  # nothing further down is asked for
                continue
        node.ct = None
        if node.prim is proj_p:
            main = node.parents[0]
            if main.ct is None:
                main.ct = [None] * len(main.shape)
                heappush(heap, (-main.seq, main))
            cts = main.ct
            cts[node.params] = g if cts[node.params] is None else cts[node.params] + g
            continue
        if node.saved is FREED:
            raise RuntimeError(_FREED_MSG)
        if node.versions:
            check_versions(node)
        if type(g) is list:  # several results: zeros where a result got no cotangent
            g = tuple(_zeros(s, d) if c is None else c
                      for c, s, d in zip(g, node.shape, node.dtype))  # fmt: skip
        saved = node.saved if lift is None else lift(node)
        for i, ct in enumerate(node_cotangents(node, g, saved)):
            p = node.parents[i]
            if ct is None or (needed is not None and p not in needed):
                continue
            ct = fit(ct, p)
            if observe is not None:
                observe(node, i, p, g, ct)
            add_ct(p, ct, heap, leaves)
        if not retain:
            node.saved = FREED
    return leaves


def leading_to(roots: Sequence, targets: dict) -> set:
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


def deliver(node: Node, g: Any) -> Any:
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


def arg_name(fun: Callable, i: int) -> str:
    import inspect

    try:
        params = list(inspect.signature(fun).parameters)
        return f"argument {i} ({params[i]!r})" if i < len(params) else f"argument {i}"
    except (TypeError, ValueError):
        return f"argument {i}"


def _named(fun: Callable, i: int, path: str) -> tuple[str, str]:
    """Argument `i` of `fun` (at the key `path` of a pytree) and `fun`'s name, for errors
    (read only when one is raised: `inspect.signature` costs more than a traced operation)."""
    return (f"{arg_name(fun, i)}{' at ' + path if path else ''}",
            getattr(fun, "__name__", "the function"))


def check_float(x: Any, fun: Callable, i: int, what: str, path: str = "") -> Any:
    """`x` as an array to differentiate with respect to; integers and objects that are not
    arrays are a TypeError naming the argument (and the leaf's key path in a pytree)."""
    if type(x) is float:
        return np.float64(x)
    if namespace.is_foreign(x):  # another namespace's array: followed as a ForeignTracer
        x = box(x)
    if not isinstance(x, (np.ndarray, np.generic, Tracer, int, complex, bool)):
        try:
            a = np.asarray(x)
        except Exception:
            a = None
        if a is None or a.dtype == object:
            name, fname = _named(fun, i, path)
            raise TypeError(
                f"{what}: {name} of {fname} is a {type(x).__name__}, which is not an array; "
                "differentiate with respect to arrays (or pytrees of them: register a class "
                "with cr.tree_util.register_pytree_node), or close over it"
            )
        x = a
    elif not isinstance(x, (np.ndarray, np.generic, Tracer)):
        x = np.asarray(x)
    dt = x.dtype
    if dt.kind not in "fc":
        name, fname = _named(fun, i, path)
        raise TypeError(
            f"{what} requires float or complex inputs, but {name} of {fname} has dtype {dt}; "
            f"pass a float value (e.g. 3.0 instead of 3, or x.astype(float))"
        )
    return x


def check_leaves(tree: Any, fun: Callable, i: int, what: str) -> tuple[list, Any]:
    """The leaves of argument `i` checked as arrays to differentiate (`check_float`)."""
    from chainrule.core.pytree import keystr, tree_flatten_with_path

    leaves, td = tree_flatten(tree)
    try:
        return [check_float(x, fun, i, what) for x in leaves], td
    except TypeError:
        for path, x in tree_flatten_with_path(tree)[0]:
            check_float(x, fun, i, what, keystr(path))
        raise


def _check_argnums(argnums: Any, nargs: int, what: str) -> None:
    nums = (argnums,) if isinstance(argnums, int) else argnums
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{what}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -nargs <= a < nargs:
            raise TypeError(
                f"{what}: argnums={argnums!r} but the function was called with {nargs} "
                f"positional argument{'s' * (nargs != 1)}"
            )


def trace_vjp(fun: Callable, primals: tuple, argnums: tuple, has_aux: bool, what: str,
              protect_leaves: bool = False, trace_cls: type = ReverseTrace, *extra: Any):
    """Trace `fun` on `primals`, following the arguments in `argnums`: (out, vjp_fn, aux).

    `protect_leaves` copies the followed NumPy arrays first (when the graph outlives the call,
    as vjp's pullback does, and the caller may change its arrays in between)."""
    trace = new_trace(trace_cls, what, fun, *extra)
    try:
        args = list(primals)
        in_trees = []
        leaf_nodes = []
        for i in argnums:
            vals, tree = check_leaves(primals[i], fun, i, what)
            if protect_leaves:
                vals = [_fresh(v) for v in vals]
            tracers = [trace.leaf(v) for v in vals]
            leaf_nodes.append([t._node for t in tracers])
            in_trees.append(tree)
            args[i] = tracers[0] if tree is _LEAF else tree_unflatten(tree, tracers)
        for k, a in enumerate(args):  # another namespace's arrays not followed: boxed too
            if k not in argnums:
                args[k] = box_tree(a)
        out = fun(*args)
    finally:
        end_trace(trace)
    out, aux = split_aux(out, has_aux, what, trace.lower)
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
            if namespace.is_foreign(c):
                c = box(c)
            elif not isinstance(c, (np.ndarray, Tracer)):
                c = np.asarray(c, np.result_type(v))
            if c.shape != np.shape(v):
                raise ValueError(
                    f"vjp: cotangent of shape {c.shape} for an output of shape {np.shape(v)}"
                )
            if c.dtype.kind == "c" and np.result_type(v).kind != "c":
                raise TypeError(
                    f"vjp: a complex cotangent ({c.dtype}) for a real output "
                    f"({np.result_type(v)}): its imaginary part would be dropped; pass its real "
                    "part, or make the output complex"
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

    return tree_unflatten(out_tree, out_vals), vjp_fn, aux, out_nodes


def _leaf_tracer(trace: ReverseTrace, x: Any, fun: Callable, i: int, what: str) -> RTracer:
    if type(x) is not np.ndarray or x.dtype.kind not in "fc":
        x = check_float(x, fun, i, what)
    return RTracer(trace, x, Node(None, None, (), x.shape, x.dtype))


def grad_call(fun: Callable, args: tuple, nums: tuple, has_aux: bool, what: str,
              holomorphic: bool = False, elementwise: bool = False) -> tuple:
    """`fun(*args)` and the gradient of its (scalar) output with respect to the arguments
    `nums` (of the sum of its output, when `elementwise`): (out, aux, gradients per argnum).

    What `trace_vjp` and a pullback do, without the pullback: the path of `grad`. The
    caller's arrays are not copied: they are made read-only until the gradient is computed,
    so that a function writing into them (through a closure) is refused, not misled."""
    trace = new_trace(ReverseTrace, what, fun)
    locked: list = []  # the caller's large arrays, read-only until the gradient is computed
    ns = None  # the namespace and device of the arrays followed, when not NumPy's
    try:
        args = list(args)
        leaves_of = []
        for i in nums:
            x = args[i]
            if type(x) is np.ndarray or type(x) is float or isinstance(x, Tracer):
                t = _leaf_tracer(trace, _guard(x, locked), fun, i, what)
                leaves_of.append((_LEAF, (t._node,)))
                args[i] = t
            else:
                ns = ns or namespace.find(tree_flatten(x)[0], what)
                leaves, tree = check_leaves(x, fun, i, what)
                ts = [RTracer(trace, v, Node(None, None, (), v.shape, v.dtype))
                      for v in (_guard(v, locked) for v in leaves)]  # fmt: skip
                leaves_of.append((tree, tuple(t._node for t in ts)))
                args[i] = ts[0] if tree is _LEAF else tree_unflatten(tree, ts)
        for k, a in enumerate(args):  # large arrays passed as constants: locked, not copied
            if type(a) is np.ndarray:
                if a.nbytes >= _LOCK_MIN and k not in nums:
                    _lock(a, locked)
                    if trace.copies is None:
                        trace.copies = {}
                    trace.copies[id(a)] = (a, a)
            elif k not in nums and type(a) not in _NUMBERS and (b := box_tree(a)) is not a:
                # another namespace's arrays
                ns = ns or namespace.find(tree_flatten(a)[0], what)
                args[k] = b
        try:
            out = fun(*args)
        finally:
            end_trace(trace)
        res = _finish_grad(trace, out, leaves_of, has_aux, what, holomorphic, elementwise)
        if ns is None and not namespace.MOVED[0]:
            return res
        return tuple(leave_tree(r, ns) for r in res)
    finally:
        if trace.alive:  # refused before the function ran (an integer argument)
            end_trace(trace)
        if locked:
            unlock(locked)


_LOCK_MIN = 8192  # bytes: smaller arrays are copied (cheaper than flipping their flags)
_NUMBERS = frozenset({float, int, bool, complex, np.float64, np.float32, np.float16,
                      np.int64, np.int32, np.complex128, np.complex64})  # nothing to box


def _guard(v: Any, locked: list) -> Any:
    """A caller's array to differentiate with respect to, kept from changing while the
    gradient is computed: a large one locked read-only, a small one copied."""
    if type(v) is np.ndarray:
        if v.nbytes >= _LOCK_MIN:
            _lock(v, locked)
            return v
        return v.copy()
    return v


def unlock(locked: list) -> None:
    """Make the arrays `_lock` locked writeable again: bases first (a view can be writeable
    only if the arrays it views are)."""

    def depth(v: Any) -> int:
        n = 0
        while type(v.base) is np.ndarray:
            v, n = v.base, n + 1
        return n

    for v in (locked if len(locked) == 1 else sorted(locked, key=depth)):
        v.setflags(True)  # (positional: flags.writeable = costs four times as much)
    locked.clear()


def _lock(v: Any, locked: list) -> None:
    """Make `v` and the arrays it is a view of read-only (those that were not), recording
    them in `locked` for the caller to restore."""
    while type(v) is np.ndarray:
        if v.flags.writeable:
            v.setflags(False)
            locked.append(v)
        v = v.base


def _finish_grad(trace, out, leaves_of, has_aux, what, holomorphic, elementwise) -> tuple:
    """The backward pass of `grad_call`."""
    out, aux = split_aux(out, has_aux, what, trace.lower) if has_aux else (out, None)
    if elementwise and type(out) is not RTracer:
        out_leaves, out_tree = tree_flatten(out)
    else:
        out_leaves, out_tree = [out], _LEAF
    roots = []
    vals = []
    for o in out_leaves:
        if isinstance(o, RTracer) and o._trace is trace:
            v = o._value
            node = o._node
        else:
            v, node = trace.lower(o), None
        vals.append(v)
        if not elementwise:
            _check_scalar_output(v, holomorphic)
        if node is not None:
            roots.append((node, full(v.shape, v.dtype, 1, v)))
    if roots:
        backward_pass(roots)
    grads = []
    for tree, nodes in leaves_of:
        cts = []
        for n in nodes:
            c = n.ct
            n.ct = None
            cts.append(_zeros(n.shape, n.dtype) if c is None else c)
        grads.append(cts[0] if tree is _LEAF else tree_unflatten(tree, cts))
    return (vals[0] if out_tree is _LEAF else tree_unflatten(out_tree, vals)), aux, grads


def split_aux(out: Any, has_aux: bool, what: str, lower: Callable) -> tuple[Any, Any]:
    """(output, aux) of a function called with has_aux (aux lowered out of the trace)."""
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{what}(..., has_aux=True) needs the function to return (output, aux)")
    return out[0], tree_map(lower, out[1])


def _argnums(argnums: int | Sequence[int], what: str = "grad") -> tuple[tuple, bool]:
    """`argnums` as a tuple, and whether it was one int; anything else is a TypeError."""
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,), True
    if isinstance(argnums, (tuple, list)) and argnums and all(
        isinstance(a, int) and not isinstance(a, bool) for a in argnums
    ):
        return tuple(argnums), False
    raise TypeError(
        f"{what}: argnums must be an int or a non-empty tuple of ints (positions of the "
        f"arguments to differentiate), got {argnums!r}"
    )


def scalar(x: Any) -> Any:
    """0-d arrays become NumPy scalars (a float64 result is then a Python float too)."""
    return x[()] if type(x) is np.ndarray and x.ndim == 0 else x


def _fresh(x: Any) -> Any:
    """A copy of an array (NumPy's or another namespace's, boxed or not): the caller's own."""
    if type(x) is np.ndarray:
        return np.array(x)
    if type(x) is ForeignTracer:
        return ForeignTracer(namespace.copy(x._value))
    return namespace.copy(x) if namespace.is_foreign(x) else x


def vjp(fun: Callable, *primals: Any, has_aux: bool = False):
    """Evaluate `fun(*primals)` and return `(out, vjp_fn)`; `vjp_fn(ct)` gives ctᵀ·J per primal.

    The pullback can be called any number of times; it uses the primals as they were when
    `vjp` was called, whatever happens to the arrays afterwards.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> out, f_vjp = cr.vjp(cnp.sin, 0.0)
    >>> f_vjp(2.0)
    (np.float64(2.0),)
    """
    ns = namespace.find(tree_flatten(primals)[0], "vjp")  # another namespace's arrays
    out, fn, aux, nodes = trace_vjp(fun, primals, tuple(range(len(primals))), has_aux, "vjp",
                                    protect_leaves=True)  # fmt: skip
    out = tree_map(_fresh, leave_tree(out, ns))  # the caller's copy: the graph keeps its own
    fn2 = lambda ct: tuple(tree_map(scalar, leave_tree(r, ns)) for r in fn(ct))  # noqa: E731
    if has_aux:
        return out, fn2, tree_map(_fresh, leave_tree(aux, ns))
    return out, fn2


def _check_scalar_output(out: Any, holomorphic: bool) -> None:
    if isinstance(out, (np.ndarray, np.generic, Tracer)):
        shape, dt = out.shape, out.dtype
    elif isinstance(out, (int, float, complex)):
        shape, dt = (), np.result_type(out)
    else:
        raise TypeError(
            "grad requires a scalar float output, but the function returned "
            f"{type(out).__name__}"
        )
    if shape != () and any(d != 1 for d in shape):  # size 1 accepted (PyTorch, autograd)
        raise TypeError(
            f"grad requires a scalar output, got shape {shape}. For the gradient of each "
            "output separately use cr.vmap(cr.grad(f)) (one example at a time) or "
            "cr.elementwise_grad; for all derivatives cr.jacobian; for a weighted sum cr.vjp"
        )
    if dt.kind != "f" and not (dt.kind == "c" and holomorphic):
        if dt.kind == "c":
            raise TypeError("grad requires a real output, got complex; pass holomorphic=True")
        raise TypeError(f"grad requires a float output, got {dt}")


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
    _check_argnums(argnums, max(nums) + 1 if min(nums) >= 0 else -min(nums), "grad")
    top = max(max(nums), -min(nums) - 1)
    nonneg = min(nums) >= 0

    def vg(*args: Any, **kwargs: Any):
        f = (lambda *a: fun(*a, **kwargs)) if kwargs else fun
        n = len(args)
        if top >= n:
            _check_argnums(argnums, n, "grad")
        ns = nums if nonneg else tuple(k % n for k in nums)
        if holomorphic:
            for k in ns:
                for x in tree_flatten(args[k])[0]:
                    if namespace.dtype_of(x).kind != "c":
                        raise TypeError(
                            "grad with holomorphic=True requires inputs with complex dtype, "
                            f"but argument {k} has dtype {namespace.dtype_of(x)}"
                        )
        out, aux, g = grad_call(f, args, ns, has_aux, "grad", holomorphic)
        g = scalar(g[0]) if single and type(g[0]) is np.ndarray else (
            tree_map(scalar, g[0]) if single else tuple(tree_map(scalar, x) for x in g)
        )
        return ((out, aux) if has_aux else out), g

    vg.__name__ = f"value_and_grad({getattr(fun, '__name__', 'f')})"
    vg.__wrapped__ = fun
    return vg


def grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """The gradient of a scalar-valued `fun` with respect to argument(s) `argnums`.

    An output of size 1 (shape (1,) or (1, 1)) counts as a scalar, as in PyTorch and HIPS
    autograd (JAX requires shape ()).

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
    g.__wrapped__ = fun
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
        if type(argnums) is not int or not 0 <= argnums < len(args):
            _check_argnums(argnums, len(args), "elementwise_grad")
        _, _, g = grad_call(f, args, nums, False, "elementwise_grad", elementwise=True)
        return g[0] if single else tuple(g)

    return eg


def stop_gradient(x: Any) -> Any:
    """The value of `x`, seen as a constant by every differentiation.

    >>> import chainrule as cr
    >>> cr.grad(lambda x: x * cr.stop_gradient(x))(3.0)
    np.float64(3.0)
    """
    return tree_map(lambda v: bind(P.stop_gradient_p, v) if isinstance(v, Tracer) else v, x)
