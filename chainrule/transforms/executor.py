"""The fast paths of reverse mode, installed beside the readable ones (one hook: `use`).

``transforms/reverse.py`` holds the readable definitions of how a primitive is recorded
(`ReverseTrace.process_primitive`) and how the backward pass runs (`backward_pass`). This
module installs equivalents with the same semantics that run faster:
- recording with the common arities unrolled and no intermediate lists, operands that no
  trace follows evaluated by their implementation directly (what `bind` does for them), and
  large elementwise work split over the cores (``transforms/blocked.py``);
- a backward pass with its accumulation inlined, that runs chains of large elementwise nodes
  block by block (nodes with hooks, retained gradients or captured cotangents stay outside
  such regions; version checks run for every node);
- the common case of each face in one frame (`one_frame`): an elementwise operation or a
  matrix product on NumPy values, for the functional face (`reverse_process`) and for the
  Tensor face (`tensor_path`: Tensors of one dtype or Python numbers, recording on).

`use(False)` (or the `readable()` context manager) switches them off; the test suite runs a
sample of itself both ways.

>>> from chainrule.transforms import executor
>>> executor.enabled()
True
"""

from __future__ import annotations

from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.namespace import _KIND, foreign_in, is_foreign, op_name, traced_numpy_meets
from chainrule.core.trace import ForeignTracer, Tracer, _fail, bind_with, box
from chainrule.rules.vjp import same, vjp_rules
from chainrule.transforms import blocked, reverse
from chainrule.transforms.reverse import (
    FREED, Node, ReverseTrace, add_ct, cast, check_versions, deliver, leading_to,
    _masks, _seq, node_cotangents, proj_p, protect_foreign, save_mask, unbroadcast,
)  # fmt: skip

_SPECIAL = reverse.process_rules
_NO_NODE = P.NONDIFF | {P.stop_gradient_p}
_EW_UFUNCS = frozenset(p for p in blocked.EW if type(p.impl) is np.ufunc)
_new = object.__new__  # a Node without its __init__'s frame: every field is set where made


def _big(vals: tuple) -> tuple | None:
    """The shape of the first large array operand, if any."""
    for v in vals:
        if type(v) is np.ndarray and v.size >= blocked.BIG:
            return v.shape
    return None


def _numpy_values(prim: Any, vals: tuple) -> None:
    """Operands that no lower trace follows (NumPy's values): another namespace's array among
    them (a constant of the function) is `traced_numpy_meets`. The fast path asks only when
    NumPy refused it (CuPy's arrays, array_api_strict's on device1); a namespace whose arrays
    NumPy converts (array_api_strict's default device) is converted there, as by NumPy."""
    for v in vals:
        if _KIND.get(type(v)) is not False and is_foreign(v):
            raise traced_numpy_meets(op_name(prim), v)


def process_primitive(self: ReverseTrace, prim: Any, args: tuple, params: dict) -> Any:
    """`ReverseTrace.process_primitive`, fast: see the module's docstring."""
    if prim in _SPECIAL:
        return _SPECIAL[prim](self, args, params)
    n = len(args)
    if n == 1:
        x = args[0]
        if isinstance(x, Tracer) and x._trace is self:
            xv, xn = x._value, x._node
        else:
            xv, xn = x, None
        vals, parents, bits = (xv,), (xn,), xn is not None
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
        vals, parents = (xv, yv), (xn, yn)
        bits = (xn is not None) | (yn is not None) << 1
        lower = isinstance(xv, Tracer) or isinstance(yv, Tracer)
    else:
        vals = tuple(a._value if isinstance(a, Tracer) and a._trace is self else a for a in args)
        parents = tuple(
            a._node if isinstance(a, Tracer) and a._trace is self else None for a in args
        )
        bits = sum(1 << i for i, p in enumerate(parents) if p is not None)
        lower = any(isinstance(v, Tracer) for v in vals)
    if lower:  # values that a lower trace follows (or arrays of another namespace)
        if foreign_in(vals):  # its constants are seen by the rules as its values are
            vals = tuple(box(v) for v in vals)
            if n == 1:
                xv = vals[0]
            elif n == 2:
                xv, yv = vals
        ans = bind_with(prim, vals, params)
    else:
        try:  # (blocked.BIG is read here, when called: the tests lower it)
            if prim in _EW_UFUNCS and (n > 2 or (type(vals[0]) is np.ndarray and vals[0].size >=
                                                  blocked.BIG) or (n == 2 and type(vals[1]) is
                                                  np.ndarray and vals[1].size >= blocked.BIG)) \
                    and (shape := _big(vals)):  # fmt: skip
                ans = blocked.elementwise(prim.impl, vals, shape)
                if ans is None:
                    ans = prim.impl(*vals, **params)
            elif params:
                ans = prim.impl(*vals, **params)
            else:
                ans = prim.impl(*vals)
        except (ValueError, IndexError) as err:
            _fail(prim, vals, err)
        except (TypeError, RuntimeError):  # NumPy refusing a constant of another namespace
            _numpy_values(prim, vals)  # (checked here, not before: NumPy's path is unchanged)
            raise
    if not bits or prim in _NO_NODE:
        return self.wrap_all(ans, prim)
    if prim.multiple_results:
        own = [isinstance(a, Tracer) and a._trace is self for a in args]
        return self.record(prim, params, args, vals, parents, own, ans)
    mask = _masks.get((prim, n, bits)) or save_mask(prim, n, bits)
    node = _new(Node)  # Node(prim, params, parents, ans.shape, ans.dtype), inlined
    node.prim, node.params, node.parents, node.seq = prim, params, parents, next(_seq)
    node.shape, node.dtype, node.ct, node.versions, node.meta = (
        ans.shape, ans.dtype, None, None, None)  # fmt: skip
    versions = None
    if n == 1:
        v = xv if mask[1] else xn
        if mask[1] and type(x) is np.ndarray:  # a constant the caller may change later
            v = self.protect(v)
        node.saved = (ans if mask[0] else None, v)
    elif n == 2:
        a = xv if mask[1] else xn
        if mask[1] and type(x) is np.ndarray:  # a constant the caller may change later
            a = self.protect(a)
        b = yv if mask[2] else yn
        if mask[2] and type(y) is np.ndarray:
            b = self.protect(b)
        node.saved = (ans if mask[0] else None, a, b)
    else:
        saved = [ans if mask[0] else None]
        for a, v, keep, p in zip(args, vals, mask[1:], parents):
            if keep and type(a) is np.ndarray:
                v = self.protect(v)
            saved.append(v if keep else p)
        node.saved = tuple(saved)
    if lower:  # another namespace's constants among the saved operands: copied
        node.saved = _protect_foreign(self, args, node.saved, mask)
    out = self.wrap(ans, node)
    if self.versioned:  # Tensors whose values are saved: remember their versions
        versions = [(out._ver, 0)] if mask[0] else []
        if n == 1:
            if mask[1] and isinstance(x, Tracer) and x._trace is self:
                versions.append((x._ver, x._ver[0]))
        elif n == 2:
            if mask[1] and isinstance(x, Tracer) and x._trace is self:
                versions.append((x._ver, x._ver[0]))
            if mask[2] and isinstance(y, Tracer) and y._trace is self:
                versions.append((y._ver, y._ver[0]))
        else:
            for a, keep in zip(args, mask[1:]):
                if keep and isinstance(a, Tracer) and getattr(a, "_ver", None) is not None:
                    versions.append((a._ver, a._ver[0]))
        if versions:
            node.versions = versions
    elif lower:  # Tensors a functional transformation saves
        vs = [(v._ver, v._ver[0]) for v, keep in zip(vals, mask[1:])
              if keep and isinstance(v, Tracer) and getattr(v, "_ver", None) is not None]
        node.versions = vs or None
    return out


_VALUES = frozenset({np.ndarray, np.float64, np.float32, np.float16, np.complex128,
                     np.complex64})  # NumPy values of tracers (0-d results are NumPy scalars)
_SCALARS = frozenset({float, int})  # Python numbers: weakly typed, nothing to promote
_CONSTANTS = _SCALARS | _VALUES | {bool, complex, np.bool_, np.int8, np.int16, np.int32,
                                   np.int64, np.uint8, np.uint16, np.uint32, np.uint64}
# the one-frame path's primitives: NumPy ufuncs without parameters, views or several results,
# and three of one operand with parameters: x ** 3 on Tensors, sum and mean (a test checks
# that no process rule is registered for them later)
_WITH_PARAMS = frozenset({P.integer_pow_p, P.sum_p, P.mean_p})  # one operand, parameters
_FAST = frozenset(p for p in _EW_UFUNCS | {P.matmul_p} | _WITH_PARAMS if p not in _SPECIAL)


def one_frame(general: Callable, tracer: type, constants: frozenset, versioned: bool,
              not_plain: list | tuple = ()) -> Callable:  # fmt: skip
    """A trace's `process_primitive` for its common case, in one frame: an elementwise
    primitive or a matrix product without parameters, or `_WITH_PARAMS`' (sum, mean, the
    Tensor face's x ** 3), on one or two operands that are its `tracer`s (holding NumPy
    values below the parallel size) or `constants` (types).
    It does what `general` does there, and hands it anything else:
    - the functional face (`ReverseTrace`, `RTracer`): NumPy's own rules on the values; a
      NumPy array constant that the node keeps is protected (`trace.protect`);
    - the Tensor face (`versioned`): Python numbers as constants, two Tensors of one dtype
      (anything else may need PyTorch's promotion), recording on and nothing watched
      (`not_plain` empty); the Tensors a node keeps are version-checked.
    All values are NumPy's: no lower trace, no other namespace or device."""
    ndarray = np.ndarray

    def process_primitive(self: Any, prim: Any, args: tuple, params: dict) -> Any:
        if (params and prim not in _WITH_PARAMS) or not_plain or prim not in _FAST or \
                self.versioned is not versioned:  # fmt: skip
            return general(self, prim, args, params)
        if len(args) == 2:
            x, y = args
            tx, ty = type(x), type(y)
            if tx is tracer and x._trace is self:
                xv, xn = x._value, x._node
                if type(xv) not in _VALUES:
                    return general(self, prim, args, params)
            elif tx in constants:
                xv, xn = x, None
            else:
                return general(self, prim, args, params)
            if ty is tracer and y._trace is self:
                yv, yn = y._value, y._node
                if type(yv) not in _VALUES or (versioned and tx is tracer and
                                               yv.dtype is not xv.dtype):  # fmt: skip
                    return general(self, prim, args, params)
            elif ty in constants:
                yv, yn = y, None
            else:
                return general(self, prim, args, params)
            if versioned and (xv if tx is tracer else yv).dtype.kind in "biu":
                return general(self, prim, args, params)  # (PyTorch's rules for integers)
            big = blocked.BIG  # (read here, when called: the tests lower it)
            if (type(xv) is ndarray and xv.size >= big) or (type(yv) is ndarray and
                                                            yv.size >= big):  # fmt: skip
                return general(self, prim, args, params)
            try:
                ans = prim.impl(xv, yv)
            except (ValueError, IndexError) as err:
                _fail(prim, (xv, yv), err)
            bits = (xn is not None) | (yn is not None) << 1
            if not bits:
                return self.wrap(ans, None)
            mask = _masks.get((prim, 2, bits)) or save_mask(prim, 2, bits)
            node = _new(Node)
            node.prim, node.params, node.parents, node.seq = prim, params, (xn, yn), next(_seq)
            node.shape, node.dtype, node.ct, node.versions, node.meta = (
                ans.shape, ans.dtype, None, None, None)  # fmt: skip
            if mask[1] and tx is ndarray:  # a constant the caller may change later
                xv = self.protect(xv)
            if mask[2] and ty is ndarray:
                yv = self.protect(yv)
            node.saved = (ans if mask[0] else None, xv if mask[1] else xn,
                          yv if mask[2] else yn)  # fmt: skip
            out = _new(tracer)  # self.wrap(ans, node), inlined (a test checks that it is wrap)
            out._trace, out._value, out._node = self, ans, node
            if versioned:
                out._grad, out._ver = None, [0]
                versions = [(out._ver, 0)] if mask[0] else []
                if mask[1] and tx is tracer:
                    versions.append((x._ver, x._ver[0]))
                if mask[2] and ty is tracer:
                    versions.append((y._ver, y._ver[0]))
                if versions:
                    node.versions = versions
            return out
        if len(args) == 1:
            x = args[0]
            if type(x) is not tracer or x._trace is not self:
                return general(self, prim, args, params)
            xv, xn = x._value, x._node
            if type(xv) not in _VALUES or (type(xv) is ndarray and xv.size >= blocked.BIG) or \
                    (versioned and xv.dtype.kind in "biu"):  # fmt: skip
                return general(self, prim, args, params)
            try:
                ans = prim.impl(xv, **params) if params else prim.impl(xv)
            except (ValueError, IndexError) as err:
                _fail(prim, (xv,), err)
            if xn is None:
                return self.wrap(ans, None)
            mask = _masks.get((prim, 1, 1)) or save_mask(prim, 1, 1)
            node = _new(Node)
            node.prim, node.params, node.parents, node.seq = prim, params, (xn,), next(_seq)
            node.shape, node.dtype, node.ct, node.versions, node.meta = (
                ans.shape, ans.dtype, None, None, None)  # fmt: skip
            node.saved = (ans if mask[0] else None, xv if mask[1] else xn)
            out = _new(tracer)  # self.wrap(ans, node), inlined
            out._trace, out._value, out._node = self, ans, node
            if versioned:
                out._grad, out._ver = None, [0]
                versions = [(out._ver, 0)] if mask[0] else []
                if mask[1]:
                    versions.append((x._ver, x._ver[0]))
                if versions:
                    node.versions = versions
            return out
        return general(self, prim, args, params)

    process_primitive.__name__ = "process_primitive"
    process_primitive.__qualname__ = f"{getattr(general, '__qualname__', 'process')} (fast)"
    return process_primitive


def tensor_path(general: Callable, tensor: type, not_plain: list) -> Callable:
    """The Tensor face's one-frame path (`one_frame`), beside its `general` definition."""
    return one_frame(general, tensor, _SCALARS, True, not_plain)


def _protect_foreign(trace: ReverseTrace, args: tuple, saved: tuple, mask: tuple) -> tuple:
    """`saved` with the operands that are another namespace's constants (arrays the caller
    holds, boxed or not: not this trace's tracers) replaced by copies (`protect_foreign`)."""
    out = None
    for k, a in enumerate(args):
        if mask[k + 1] and (type(a) is ForeignTracer or (_KIND.get(type(a)) is not False and
                                                          is_foreign(a))):  # fmt: skip
            out = out or list(saved)
            out[k + 1] = protect_foreign(trace, a)
    return saved if out is None else tuple(out)


def backward_pass(
    roots: Sequence[tuple[Node, Any]],
    retain: bool = True,
    lift: Callable | None = None,
    capture: dict | None = None,
    observe: Callable | None = None,
) -> list:
    """`reverse.backward_pass`, fast: see the module's docstring."""
    needed = None if capture is None else leading_to(roots, capture)
    heap: list = []
    leaves: list = []
    consumers = None  # node -> its users, computed when a large elementwise region appears
    EW, BIG, ndarray = blocked.EW, blocked.BIG, np.ndarray
    for node, ct in roots:
        add_ct(node, ct, heap, leaves)
    while heap:
        node = heappop(heap)[1]
        g = node.ct
        if g is None:  # already run within a blocked region
            continue
        prim = node.prim
        if node.meta is not None:
            g = node.ct = deliver(node, g)
        if capture is not None and node in capture:
            capture[node] = g
            if not any(p in needed for p in node.parents if p is not None):
                node.ct = None
                continue
        if prim is proj_p:
            node.ct = None
            main = node.parents[0]
            if main.ct is None:
                main.ct = [None] * len(main.shape)
                heappush(heap, (-main.seq, main))
            cts = main.ct
            cts[node.params] = g if cts[node.params] is None else cts[node.params] + g
            continue
        saved = node.saved
        if saved is FREED:
            raise RuntimeError(reverse._FREED_MSG)
        if node.versions:
            for cell, v in node.versions:  # check_versions, inlined
                if cell[0] != v:
                    check_versions(node)  # (raises)
        if prim in EW and type(g) is ndarray and g.size >= BIG and lift is None and not observe:
            if consumers is None:
                consumers = blocked.consumers_of([r for r, _ in roots])
            region = blocked.region(node, consumers, vjp_rules, capture)
            done = blocked.run_region(region, vjp_rules, cast) if region else None
            if done is not None:
                for p, ct in done.items():
                    add_ct(p, ct, heap, leaves)
                if not retain:
                    for n in region:
                        n.saved = FREED
                continue
        node.ct = None
        if type(g) is list:  # several results: zeros where a result got no cotangent
            g = tuple(np.zeros(s, d) if c is None else c
                      for c, s, d in zip(g, node.shape, node.dtype))  # fmt: skip
        if lift is not None:
            saved = lift(node)
        rules = vjp_rules[prim].simple
        if rules is None:
            cts = node_cotangents(node, g, saved)
        else:
            params, cts = node.params, None
        i = -1
        for p in node.parents:
            i += 1
            if p is None or (needed is not None and p not in needed):
                continue
            if cts is not None:
                ct = cts[i]
                if ct is None:
                    continue
            else:
                rule = rules[i]
                if rule is None:
                    continue
                if rule is same:  # the cotangent passes unchanged: no call
                    ct = g
                else:
                    ct = rule(g, *saved, **params) if params else rule(g, *saved)
            if ct.shape != p.shape:
                ct = unbroadcast(ct, p.shape)
            if ct.dtype is not p.dtype and ct.dtype != p.dtype:
                ct = cast(ct, p.dtype)
            if observe is not None:
                observe(node, i, p, g, ct)
            if p.ct is None:  # add_ct, inlined: this loop is the backward pass's hot path
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


_READABLE = {"process_primitive": ReverseTrace.readable_process,
             "backward_pass": reverse.backward_pass}  # fmt: skip
_state = {"on": False}
_BESIDE: list = []  # (class, attribute name, readable, fast) installed by higher layers


def beside(cls: type, name: str, fast: Callable) -> None:
    """Install `fast` as `cls.name` beside its readable definition: `use` switches both."""
    _BESIDE.append((cls, name, cls.__dict__[name], fast))
    if _state["on"]:
        setattr(cls, name, fast)


#: ReverseTrace.process_primitive with the fast paths on: the common case in one frame, the
#: rest unrolled (`process_primitive`).
reverse_process = one_frame(process_primitive, reverse.RTracer, _CONSTANTS, False)


def use(on: bool) -> None:
    """Install (True) or remove (False) the fast paths."""
    on = bool(on)
    ReverseTrace.process_primitive = reverse_process if on else _READABLE["process_primitive"]
    reverse.backward_pass = backward_pass if on else _READABLE["backward_pass"]
    for cls, name, readable_fn, fast in _BESIDE:
        setattr(cls, name, fast if on else readable_fn)
    _state["on"] = on


def enabled() -> bool:
    """Whether the fast paths are installed."""
    return _state["on"]


@contextmanager
def readable() -> Iterator[None]:
    """Run the block on the readable paths only."""
    prev = enabled()
    use(False)
    try:
        yield
    finally:
        use(prev)


use(True)
