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
from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.ir import Eqn, Lit, Program, Var
from chainrule.core.ops import build_index
from chainrule.rules.impl import impl_rules


class StaleConstant(Exception):
    """A captured array changed shape or dtype since the program was compiled (compile
    again)."""


class Executable:
    """A compiled program: ``run(*args)`` returns the tuple of its outputs."""

    __slots__ = ("program", "run", "source", "name")

    def __init__(self, program: Program, run: Any, source: str, name: str):
        self.program, self.run, self.source, self.name = program, run, source, name

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
        self.objects: dict[int, str] = {}

    def var(self, v: Var) -> str:
        n = self.vars.get(v)
        if n is None:
            i, s = len(self.vars), ""
            while True:
                s = chr(97 + i % 26) + s
                i //= 26
                if not i:
                    break
            n = self.vars[v] = s + "_" if keyword.iskeyword(s) else s
        return n

    def obj(self, value: Any, hint: str) -> str:
        """A name in the namespace bound to `value` (the same name for the same object)."""
        n = self.objects.get(id(value))
        if n is None:
            base = "_" + re.sub(r"\W", "_", hint)  # never a variable's name
            n = base
            k = 1
            while n in self.ns:
                k += 1
                n = f"{base}{k}"
            self.ns[n] = value
            self.objects[id(value)] = n
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


def _elementwise(e: Eqn, nm: _Namer) -> str:
    """A ufunc called directly; a literal operand becomes a 0-d array of the result's dtype
    where NumPy would convert it to that dtype anyway (the same bits, a faster call)."""
    fn = impl_rules[e.prim]
    out = e.outvars[0].aval.dtype
    args = []
    for v in e.invars:
        if type(v) is Lit and not e.prim.nondiff and all(
                type(w) is Lit or w.aval.dtype == out for w in e.invars) and (
                v.aval.weak_type or v.aval.dtype == out):  # fmt: skip
            try:  # NumPy converts a weak scalar to the other operands' dtype: do it now
                with np.errstate(all="raise"):
                    a = np.asarray(v.val, dtype=out)
                args.append(nm.obj(a, f"{out.name}_{v.val!r}"))
                continue
            except (OverflowError, FloatingPointError, ValueError, TypeError):
                pass  # out of range: NumPy's own handling, at run time
        args.append(nm.operand(v))
    return f"{nm.obj(fn, e.prim.name)}({', '.join(args)})"


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


def _expression(e: Eqn, nm: _Namer) -> str:
    """The Python expression computing equation `e`."""
    low = _LOWER.get(e.prim)
    if low is not None:
        return low(e, nm)
    if e.prim.elementwise and isinstance(impl_rules[e.prim], np.ufunc) and not e.params:
        return _elementwise(e, nm)
    return _generic(e, nm)


def lower(program: Program, name: str | None = None) -> Executable:
    """Compile `program` to a Python function over NumPy."""
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
    for e in program.eqns:
        outs = ", ".join(nm.var(v) for v in e.outvars)
        if e.prim.multiple_results and len(e.outvars) == 1:
            outs += ","
        lines.append(f"{outs} = {_expression(e, nm)}")
    results = [nm.operand(v) for v in program.outvars]
    lines.append(f"return ({', '.join(results)}{',' if len(results) == 1 else ''})")
    fname = name or "program"
    source = f"def {fname}({', '.join(params)}):\n" + "".join(f"    {ln}\n" for ln in lines)
    exec(compile(source, f"<chainrule.jit {fname}>", "exec"), nm.ns)  # our own source only
    return Executable(program, nm.ns[fname], source, fname)
