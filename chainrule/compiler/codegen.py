"""Lowering for the CPU: a staged program becomes straight-line Python over NumPy.

Each equation is one call of its primitive's implementation (``rules/impl.py``), the very
function eager execution calls, so a compiled program computes bit for bit what the reference
interpreter (``chainrule.core.ir.evaluate``) computes. The constants a program captured are
read by reference at each call, after a guard on their shape and dtype. The generated source
is kept (``Executable.source``).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> exe = lower(cr.make_graph(lambda x: cnp.sum(cnp.sin(x) * 2.0))(np.ones(3)))
>>> print(exe.source)
def program(a):
    b = _sin(a)
    c = _mul(b, _float64_2_0)
    d = _add_reduce(c, None, None, None, False)
    return (d,)
<BLANKLINE>
>>> exe.run(np.zeros(3))
(np.float64(0.0),)
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.core import namespace
from chainrule.core import primitives as P
from chainrule.core.ir import Eqn, Lit, Program, Var, short_name
from chainrule.compiler import runtime
from chainrule.compiler.fusion import Group, plan
from chainrule.core.ops import build_index
from chainrule.rules.impl import _has_nan, impl_rules, nan_error


class StaleConstant(Exception):
    """A captured array changed shape or dtype since the program was compiled (compile
    again)."""


class Executable:
    """A compiled program: ``run(*args)`` returns the tuple of its outputs."""

    __slots__ = ("program", "run", "source", "name", "donated")

    def __init__(self, program: Program, run: Any, source: str, name: str):
        self.program, self.run, self.source, self.name = program, run, source, name
        self.donated: dict = {}  # input position -> output position written into its buffer

    def __repr__(self) -> str:
        return f"<compiled {self.name}: {len(self.program.eqns)} equations>"


_SAFE = (bool, int, str, type(None))


def _literal_text(v: Any) -> str | None:
    """Python source for a parameter or scalar that reads back identically, or None."""
    if isinstance(v, _SAFE) and not isinstance(v, np.generic):
        return repr(v)
    if type(v) is float and math.isfinite(v):
        return repr(v)
    if type(v) is tuple:
        parts = [_literal_text(x) for x in v]
        if all(p is not None for p in parts):
            return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    return None


class _Namer:
    """Python identifiers: variables a, b, ..., names of functions and objects in the
    generated module's namespace."""

    def __init__(self) -> None:
        self.vars: dict[Var, str] = {}
        self.ns: dict[str, Any] = {"_Stale": StaleConstant}
        self.objects: dict[Any, str] = {}

    def var(self, v: Var) -> str:
        n = self.vars.get(v)
        if n is None:
            s = short_name(len(self.vars))
            n = self.vars[v] = s + "_" if keyword.iskeyword(s) else s
        return n

    def obj(self, value: Any, hint: str, key: Any = None) -> str:
        """A name in the namespace bound to `value` (the same name for the same object, or
        for the same `key`: NumPy scalars of the same type and bits)."""
        if key is None:
            key = (type(value), value.tobytes()) if isinstance(value, np.generic) else id(value)
        n = self.objects.get(key)
        if n is None:
            base = "_" + re.sub(r"\W", "_", hint)  # never a variable's name
            n = base
            k = 1
            while n in self.ns:
                k += 1
                n = f"{base}__{k}"  # _float32_0_9__2, never read as 0.92
            self.ns[n] = value
            self.objects[key] = n
        return n

    def operand(self, v: Any) -> str:
        if type(v) is Lit:
            text = _literal_text(v.val) if type(v.val) in (int, float, bool) else None
            return text if text is not None else self.obj(v.val, "k")
        return self.var(v)


def _generic(e: Eqn, nm: _Namer) -> str:
    """A call of the primitive's implementation."""
    fn = nm.obj(impl_rules[e.prim], e.prim.name)
    args = [nm.operand(v) for v in e.invars]
    for k, p in e.params.items():
        text = _literal_text(p)
        args.append(f"{k}={text if text is not None else nm.obj(p, k)}")
    return f"{fn}({', '.join(args)})"


def _array(v: Any) -> bool:
    """Whether operand `v` is surely an ndarray when the program runs (not a Python or
    NumPy scalar): then its methods can be called."""
    return isinstance(v, Var) and v.aval.ndim > 0


def _ufunc_args(e: Eqn, nm: _Namer, operand: Any = None) -> list:
    """The operands of an elementwise ufunc call; a literal becomes a 0-d array of the
    result's dtype where NumPy would convert it to that dtype anyway (the same bits, a
    faster call)."""
    out = e.outvars[0].aval.dtype
    args = []
    for v in e.invars:
        if type(v) is Lit and not e.prim.nondiff and all(
                type(w) is Lit or w.aval.dtype == out for w in e.invars) and (
                v.aval.weak_type or v.aval.dtype == out):  # fmt: skip
            try:  # NumPy converts a weak scalar to the other operands' dtype: do it now
                with np.errstate(all="raise"):
                    a = np.asarray(v.val, dtype=out)
                args.append(nm.obj(a, f"{out.name}_{np.asarray(v.val).item()!r}",
                                   key=("0-d", a.dtype.str, a.tobytes())))  # fmt: skip
                continue
            except (OverflowError, FloatingPointError, ValueError, TypeError):
                pass  # out of range: NumPy's own handling, at run time
        args.append((operand or nm.operand)(v))
    return args


def _elementwise(e: Eqn, nm: _Namer) -> str:
    """A ufunc called directly."""
    return f"{nm.obj(impl_rules[e.prim], e.prim.name)}({', '.join(_ufunc_args(e, nm))})"


def _reshape(e: Eqn, nm: _Namer) -> str:
    x = e.invars[0]
    if _array(x):
        return f"{nm.var(x)}.reshape({_literal_text(e.params['shape'])})"
    return _generic(e, nm)


def _transpose(e: Eqn, nm: _Namer) -> str:
    x, axes = e.invars[0], e.params["axes"]
    if _array(x) and _literal_text(axes) is not None:
        return f"{nm.var(x)}.transpose({_literal_text(axes)})"
    return _generic(e, nm)


def _getitem(e: Eqn, nm: _Namer) -> str:
    x = e.invars[0]
    if _array(x) and len(e.invars) == 1:  # a basic index, built now
        return f"{nm.var(x)}[{nm.obj(build_index(e.params['index'], ()), 'index')}]"
    return _generic(e, nm)


def _concatenate(e: Eqn, nm: _Namer) -> str:
    items = ", ".join(nm.operand(v) for v in e.invars)
    return f"{nm.obj(np.concatenate, 'concatenate')}(({items},), {e.params['axis']})"


def _reduction(ufunc: Any) -> Any:
    def lower(e: Eqn, nm: _Namer) -> str:
        axis, keep = _literal_text(e.params["axis"]), bool(e.params["keepdims"])
        fn = nm.obj(ufunc.reduce, ufunc.__name__ + "_reduce")
        return f"{fn}({nm.operand(e.invars[0])}, {axis}, None, None, {keep})"

    return lower


_LOWER = {P.reshape_p: _reshape, P.transpose_p: _transpose, P.getitem_p: _getitem,
          P.concatenate_p: _concatenate, P.sum_p: _reduction(np.add),
          P.prod_p: _reduction(np.multiply), P.amax_p: _reduction(np.maximum),
          P.amin_p: _reduction(np.minimum)}  # fmt: skip


def _ufunc_eqn(e: Eqn) -> bool:
    """Whether `e` is one call of a NumPy ufunc (an elementwise primitive without
    parameters): it takes ``out=``, and writes its result position by position."""
    return (e.prim.elementwise and not e.params and len(e.outvars) == 1 and
            isinstance(impl_rules[e.prim], np.ufunc))  # fmt: skip


def _expression(e: Eqn, nm: _Namer) -> str:
    """The Python expression computing equation `e`."""
    low = _LOWER.get(e.prim)
    if low is not None:
        return low(e, nm)
    if _ufunc_eqn(e):
        return _elementwise(e, nm)
    return _generic(e, nm)


#: arrays of at least this many elements are deleted as soon as they are dead (smaller ones
#: cost less than the `del`)
DEL_MIN = 1 << 12

#: arrays of at least this many bytes come from the compiled function's `runtime.BufferPool`
#: (the dead buffers of its earlier calls): below, the allocator reuses memory by itself
POOL_MIN = 1 << 17



def _group(g: Group, nm: _Namer, kernels: list, into: dict) -> list:
    """The lines running fused group `g`; the source of its kernel goes into `kernels`.

    The kernel computes one block ``[lo, hi)``: its members' values are views of per-thread
    scratch blocks (reused once dead), or of the group's whole outputs; it returns the
    block's partial sums."""
    kname = f"_kernel{len(kernels)}"
    full_in = {v for v in g.inputs if v.aval.shape == g.shape}
    names: dict = {}  # each variable's name inside the kernel
    params: list = []
    body: list = []
    for v in g.inputs:
        names[v] = nm.var(v)
        params.append(names[v] + "_")
        body.append(f"{names[v]} = {names[v]}_[lo:hi]" if v in full_in else
                    f"{names[v]} = {names[v]}_")  # fmt: skip
    out_params = {v: nm.var(v) + "_" for v in g.outputs}
    params += list(out_params.values())
    members = g.eqns + g.sums
    last = {v: i for i, e in enumerate(members) for v in e.invars if isinstance(v, Var)}
    free: dict = {}  # dtype -> scratch slots free again
    count: dict = {}  # dtype -> scratch slots used
    slot_of: dict = {}
    sums: list = []
    reduce_ = nm.obj(np.add.reduce, "add_reduce")

    def operand(v: Any) -> str:
        return names[v] if isinstance(v, Var) else nm.operand(v)

    compute: list = []
    for i, e in enumerate(members):
        o = e.outvars[0]
        if e.prim is P.sum_p:
            sums.append(f"{reduce_}({names[e.invars[0]]})")
            continue
        args = ", ".join(_ufunc_args(e, nm, operand))
        fn = nm.obj(impl_rules[e.prim], e.prim.name)
        if o in out_params:
            names[o] = nm.var(o)
            dest = f"{out_params[o]}[lo:hi]"
        else:
            dt = o.aval.dtype
            slot = free[dt].pop() if free.get(dt) else count.get(dt, 0)
            count[dt] = max(count.get(dt, 0), slot + 1)
            slot_of[o] = (dt, slot)
            names[o] = dest = f"t{slot}_{dt.name}"  # never a module name (those start with _)
        compute.append(f"{names[o]} = {fn}({args}, out={dest})")
        for v in {v for v in e.invars if isinstance(v, Var)}:
            if last.get(v) == i and v in slot_of:
                free.setdefault(slot_of[v][0], []).append(slot_of[v][1])
    for dt, k in count.items():
        dname = nm.obj(dt, "dtype_" + dt.name)
        body += [f"t{s}_{dt.name} = scratch.get({s}, {dname})[:hi - lo]" for s in range(k)]
    body += compute
    body.append(f"return ({', '.join(sums)}{',' if len(sums) == 1 else ''})")
    kernels.append(f"def {kname}(lo, hi, scratch, {', '.join(params)}):\n" +
                   "".join(f"    {ln}\n" for ln in body))  # fmt: skip
    # the caller: whole outputs allocated, the blocks run, the sums combined in block order
    lines = []
    args_ = [f"{nm.var(v)}.reshape(-1)" if v in full_in else nm.operand(v) for v in g.inputs]
    for v in g.outputs:
        dt = nm.obj(v.aval.dtype, "dtype_" + v.aval.dtype.name)
        if v in into:  # a donated buffer receives it
            lines.append(f"{nm.var(v)} = {into[v]}")
        else:
            lines.append(f"{nm.var(v)} = {nm.obj(np.empty, 'empty')}({g.shape!r}, {dt})")
        args_.append(f"{nm.var(v)}.reshape(-1)")
    call = f"{nm.obj(runtime.tiles, 'tiles')}({kname}, {g.size}, ({', '.join(args_)},))"
    if not g.sums:
        return lines + [call]
    lines.append(f"_parts = {call}")
    for j, e in enumerate(g.sums):
        dt = nm.obj(e.outvars[0].aval.dtype, "dtype_" + e.outvars[0].aval.dtype.name)
        lines.append(f"{nm.var(e.outvars[0])} = {reduce_}({nm.obj(np.array, 'array')}("
                     f"[_p[{j}] for _p in _parts], {dt}))")  # fmt: skip
    return lines


def _check_nans(out: Any, ins: tuple, prim: Any, where: str) -> None:
    if _has_nan(out) and not _has_nan(ins):
        raise nan_error(prim, where)


def last_uses(items: list) -> dict:
    """Each variable's last reader: the index of the last item (equation or group) of `items`
    that reads it."""
    last: dict = {}
    for i, it in enumerate(items):
        for e in (it.eqns + it.sums if isinstance(it, Group) else [it]):
            for v in e.invars:
                if isinstance(v, Var):
                    last[v] = i
    return last


def _donations(program: Program, items: list, last: dict, donate: Sequence[int]) -> dict:
    """Output variable -> the donated input whose buffer receives it: an output of the same
    shape and dtype, written by an elementwise ufunc (alone or in a fused group) after the
    input and every view of it were read for the last time."""
    root: dict = {}
    for it in items:
        for e in (it.eqns if isinstance(it, Group) else [it]):
            if e.prim.view and e.invars and isinstance(e.invars[0], Var):
                root[e.outvars[0]] = root.get(e.invars[0], e.invars[0])
    end = len(items)
    last_alias: dict = {}
    for v, j in last.items():
        r = root.get(v, v)
        last_alias[r] = max(last_alias.get(r, -1), j)
    for v in program.outvars:
        if isinstance(v, Var):
            last_alias[root.get(v, v)] = end  # returned: its memory must stay as it is
    producer: dict = {}
    for j, it in enumerate(items):
        if isinstance(it, Group):
            for k, e in enumerate(it.eqns):
                if e.outvars[0] in it.outputs:
                    producer[e.outvars[0]] = (j, it, k)
        elif _ufunc_eqn(it):
            producer[it.outvars[0]] = (j, None, 0)
    outs = [v for v in program.outvars if isinstance(v, Var)]
    taken: dict = {}
    for i in donate:
        d = program.invars[i]
        if d.aval.ndim == 0 or d.aval.weak_type:
            continue
        for o in outs:
            if o in taken or outs.count(o) > 1 or o in program.invars or o not in producer or \
                    (o.aval.shape, o.aval.dtype) != (d.aval.shape, d.aval.dtype):  # fmt: skip
                continue
            j, g, k = producer[o]
            reads = last_alias.get(d, -1)
            if reads > j:
                continue
            if g is not None and reads == j and any(  # in the kernel, read after the write
                    isinstance(v, Var) and root.get(v, v) is d
                    for e in (g.eqns[k + 1:] + g.sums) for v in e.invars):  # fmt: skip
                continue
            taken[o] = d
            break
    return taken


def _fresh(v: Any) -> Any:
    """A writeable copy of an array (a NumPy scalar is immutable: itself)."""
    return v.copy() if type(v) is np.ndarray else v


def _results(program: Program, nm: _Namer) -> list:
    """The returned expressions: an output returned twice (merged by CSE) or a broadcast
    (a read-only view) is returned as a fresh copy, as eager code returns it."""
    made = {o: e for e in program.eqns for o in e.outvars}
    out, seen = [], set()
    for v in program.outvars:
        text = nm.operand(v)
        if isinstance(v, Var):
            e = made.get(v)
            if v in seen or (e is not None and e.prim is P.broadcast_to_p):
                text = f"{nm.obj(_fresh, 'fresh')}({text})"
            seen.add(v)
        out.append(text)
    return out


class _MemoryPlan:
    """Buffers reused by liveness: an array this function allocated (C-contiguous: a ufunc's
    result from C-contiguous operands, a matrix product, a fused group's output) whose value
    and every view of it are dead receives (`out=`) a later elementwise result of the same
    shape and dtype whose operands are C-contiguous too, so the layout is the one NumPy would
    give. Program outputs and anything a view of them reads are never reused."""

    def __init__(self, program: Program, items: list, last: dict):
        self.root: dict = {}
        for it in items:
            for e in (it.eqns if isinstance(it, Group) else [it]):
                if e.prim.view and e.invars and isinstance(e.invars[0], Var):
                    for o in e.outvars:
                        self.root[o] = self.root.get(e.invars[0], e.invars[0])
        self.last_alias: dict = {}
        for v, j in last.items():
            r = self.root.get(v, v)
            self.last_alias[r] = max(self.last_alias.get(r, -1), j)
        self.pinned = {self.root.get(v, v) for v in program.outvars if isinstance(v, Var)}
        self.fresh: set = set()  # C-contiguous arrays this function allocated
        self.free: dict = {}  # (shape, dtype) -> dead fresh buffers

    def may_write(self, e: Eqn) -> bool:
        """Whether `e`'s result may be written into a C-contiguous buffer (``out=``) with
        the layout eager code gives it: a ufunc of fresh operands, or of any operands when
        the result is 1-d (NumPy allocates those contiguous whatever their operands)."""
        return _ufunc_eqn(e) and (e.outvars[0].aval.ndim == 1 or self.fresh_inputs(e))

    def fresh_inputs(self, e: Eqn) -> bool:
        return all(not isinstance(v, Var) or v.aval.ndim == 0 or v in self.fresh
                   for v in e.invars)  # fmt: skip

    def fresh_result(self, e: Eqn) -> bool:
        return e.prim in (P.matmul_p, P.concatenate_p) or self.may_write(e)

    def pinned_var(self, v: Var) -> bool:
        """Whether an output lives in `v`'s buffer (it is one, or a view of its root is)."""
        return self.root.get(v, v) in self.pinned

    def dying_operand(self, e: Eqn, i: int) -> Var | None:
        """An operand of the elementwise ufunc `e` (item `i`) that `e` may overwrite with its
        result (``out=``): an array this function allocated, of the result's shape and dtype,
        not a view, read for the last time here (it and every view of it), and no other
        operand a view of it. Its buffer becomes the result's (never freed as its own; a
        program output may take it: the buffer is this call's alone)."""
        o = e.outvars[0]
        if not _ufunc_eqn(e) or o.aval.size < DEL_MIN:
            return None
        for v in e.invars:
            if isinstance(v, Var) and v in self.fresh and self.root.get(v, v) is v and \
                    v.aval.shape == o.aval.shape and v.aval.dtype == o.aval.dtype and \
                    self.last_alias.get(v) == i and v not in self.pinned and \
                    all(w is v or self.root.get(w, w) is not v for w in e.invars):  # fmt: skip
                self.fresh.discard(v)
                return v
        return None

    def take(self, o: Var) -> Var | None:
        if o.aval.size < DEL_MIN:
            return None
        pool = self.free.get((o.aval.shape, o.aval.dtype))
        return pool.pop() if pool else None

    def made(self, outs: list) -> None:
        self.fresh.update(v for v in outs if v.aval.ndim > 0)

    def release(self, i: int) -> set:
        """The buffers dead after item `i`, now free for reuse."""
        kept = set()
        for r, j in self.last_alias.items():
            if j == i and r in self.fresh and r not in self.pinned and r.aval.size >= DEL_MIN:
                self.free.setdefault((r.aval.shape, r.aval.dtype), []).append(r)
                kept.add(r)
        return kept


def _plain_call(prim: Any, args: tuple, params: dict) -> Any:
    """One equation of a plain program: the namespace's implementation for arrays of another
    namespace (`namespace.apply`), NumPy's for NumPy's (constants only)."""
    if namespace.foreign_in(args):
        return namespace.apply(prim, args, params)
    return prim.impl(*args, **params)


def _plain_outputs(args: tuple, outs: tuple) -> tuple:
    """The outputs, NumPy constants among them made arrays of the inputs' namespace."""
    ns = namespace.find(args)
    return tuple(namespace.to_namespace(ns, o) for o in outs)


def lower_plain(program: Program, name: str | None = None) -> Executable:
    """Compile `program` for arrays of another array-API namespace, which have no `out=`:
    each equation one plain call of its primitive's namespace implementation
    (``rules/impl.py``'s `xp_impl`), no buffers reused, no fused blocks; outputs that are
    NumPy constants are made arrays of the inputs' namespace and device.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> print(lower_plain(cr.make_graph(lambda x: cnp.sin(x) * 2.0)(np.ones(3))).source)
    def program(a):
        b = _call(_sin_p, (a,), _no_params)
        c = _call(_mul_p, (b, 2.0), _no_params)
        return _outputs((a,), (c,))
    <BLANKLINE>
    """
    nm = _plain_namer()
    params = [nm.var(v) for v in program.invars]
    for i, (v, c) in enumerate(zip(program.constvars, program.consts)):
        nm.vars[v] = nm.obj(c, f"const{i}")
    lines = [_plain_line(e, nm) for e in program.eqns]
    results = _tuple_text([nm.operand(v) for v in program.outvars])
    lines.append(f"return _outputs({_tuple_text(params)}, {results})")
    fname = name or "program"
    source = f"def {fname}({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in lines)
    exec(compile(source, f"<chainrule.jit {fname} (plain)>", "exec"), nm.ns)  # our own source
    return Executable(program, nm.ns[fname], source, fname)


_NO_PARAMS: dict = {}


def _plain_namer() -> _Namer:
    """The names of a plain program's module: `_call`, `_outputs`, `_no_params`."""
    nm = _Namer()
    nm.ns["_call"], nm.ns["_outputs"] = _plain_call, _plain_outputs
    nm.objects[id(_NO_PARAMS)] = "_no_params"
    nm.ns["_no_params"] = _NO_PARAMS
    return nm


def _plain_line(e: Eqn, nm: _Namer) -> str:
    """The line of a plain program running equation `e`: one `_call` of its primitive."""
    outs = ", ".join(nm.var(v) for v in e.outvars)
    if e.prim.multiple_results and len(e.outvars) == 1:
        outs += ","
    args = _tuple_text([nm.operand(v) for v in e.invars])
    pname = nm.obj(e.params, "params") if e.params else "_no_params"
    return f"{outs} = _call({nm.obj(e.prim, e.prim.name + '_p')}, {args}, {pname})"


def _tuple_text(items: list) -> str:
    return f"({', '.join(items)}{',' if len(items) == 1 else ''})"


def lower(program: Program, name: str | None = None, fuse: bool = True,
          debug_nans: bool = False, donate: Sequence[int] = ()) -> Executable:  # fmt: skip
    """Compile `program` to a Python function over NumPy (`fuse`: large elementwise chains
    run fused, block by block over threads; `debug_nans`: each equation checks that it
    made no NaN, and nothing is fused; `donate`: inputs whose buffers may receive outputs,
    `Executable.donated` says which did)."""
    fuse = fuse and not debug_nans
    nm = _Namer()
    params = [nm.var(v) for v in program.invars]
    lines: list[str] = []
    for i, (v, c) in enumerate(zip(program.constvars, program.consts)):
        cname = nm.obj(c, f"const{i}")
        nm.vars[v] = cname
        if type(c) is np.ndarray:  # read by reference: guard its layout
            shape, dtype = nm.obj(c.shape, f"shape{i}"), nm.obj(c.dtype, f"dtype{i}")
            lines.append(f"if {cname}.shape != {shape} or {cname}.dtype != {dtype}: "
                         f"raise _Stale({i})")  # fmt: skip
    items = plan(program, fuse)
    last = last_uses(items)
    into = _donations(program, items, last, donate) if donate else {}
    keep = set(program.outvars) | set(program.invars) | set(program.constvars)
    assigned: set = set()  # the variables the function itself holds (not a kernel's)
    kernels: list[str] = []
    memory = _MemoryPlan(program, items, last)
    pool = nm.obj(runtime.BufferPool(), "pool")

    def pooled(v: Var) -> str | None:
        """A buffer from the pool for `v`, when it is large and no output lives in it."""
        if v.aval.size * v.aval.dtype.itemsize < POOL_MIN or memory.pinned_var(v):
            return None
        return f"{pool}.get({v.aval.shape!r}, {nm.obj(v.aval.dtype, 'dtype_' + v.aval.dtype.name)})"

    for i, it in enumerate(items):
        if isinstance(it, Group):
            alloc = {o: nm.var(d) for o, d in into.items()}
            for o in it.outputs:
                if o not in alloc and (buf := memory.take(o)) is not None:
                    alloc[o] = nm.var(buf)
                elif o not in alloc and (buf := pooled(o)) is not None:
                    alloc[o] = buf
            lines.extend(_group(it, nm, kernels, alloc))
            assigned.update(it.outputs)
            assigned.update(e.outvars[0] for e in it.sums)
            memory.made(it.outputs)
        else:
            outs = ", ".join(nm.var(v) for v in it.outvars)
            if it.prim.multiple_results and len(it.outvars) == 1:
                outs += ","
            expr = _expression(it, nm)
            o = it.outvars[0]
            if o in into:  # a donated buffer
                expr = expr[:-1] + f", out={nm.var(into[o])})"
            elif (buf := memory.dying_operand(it, i)) is not None:
                expr = expr[:-1] + f", out={nm.var(buf)})"  # an operand read for the last time
                memory.made([o])
            elif memory.may_write(it) and (buf := memory.take(o)) is not None:
                expr = expr[:-1] + f", out={nm.var(buf)})"  # a dead buffer of the same layout
            elif (it.prim is P.matmul_p or memory.may_write(it)) and (buf := pooled(o)) is not None:
                # a buffer an earlier call finished with (a matrix product's result is
                # C-contiguous whatever its operands; a ufunc's is, of fresh operands)
                expr = expr[:-1] + f", out={buf})"
            lines.append(f"{outs} = {expr}")
            assigned.update(it.outvars)
            memory.made(it.outvars if memory.fresh_result(it) else [])
            if debug_nans:
                ins = "".join(nm.operand(v) + ", " for v in it.invars)
                lines.append(f"{nm.obj(_check_nans, 'check_nans')}(({outs}), ({ins}), "
                             f"{nm.obj(it.prim, it.prim.name + '_p')}, {it.where!r})")  # fmt: skip
        kept = memory.release(i)  # dead buffers kept for reuse: not deleted
        dead = [v for v, j in last.items() if j == i and v not in keep and v in assigned and
                v.aval.size >= DEL_MIN and v not in kept]  # fmt: skip
        if dead:
            lines.append(f"del {', '.join(nm.var(v) for v in dead)}")
    spare = [v for bufs in memory.free.values() for v in bufs
             if v.aval.size * v.aval.dtype.itemsize >= POOL_MIN]  # fmt: skip
    if spare:  # dead at the end, no output in them: kept for the next call
        lines.append(f"{pool}.give({', '.join(nm.var(v) for v in spare)})")
    results = _results(program, nm)
    lines.append(f"return ({', '.join(results)}{',' if len(results) == 1 else ''})")
    fname = name or "program"
    source = "".join(k + "\n" for k in kernels)
    source += f"def {fname}({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in lines)
    exec(compile(source, f"<chainrule.jit {fname}>", "exec"), nm.ns)  # our own source only
    exe = Executable(program, nm.ns[fname], source, fname)
    exe.donated = {program.invars.index(d): program.outvars.index(o) for o, d in into.items()}
    return exe
