"""Lowering for CuPy: fused elementwise groups become single CUDA kernels.

A fusion `Group` (``fusion.py``) over one shape becomes CUDA C source in the form CuPy's
kernels take (`kernel_source`: a pure-Python step, tested on the CPU); `lower_cupy` compiles a
program whose inputs are CuPy arrays to Python that launches one cached kernel per group and
calls the namespace (``cupy``) for everything else, as `codegen.lower_plain` does. CuPy is
imported only when a kernel is first launched, on CuPy arrays.

How a group is written:

- Every equation is one typed local, ``const float t3 = (t1 * t2);``: its operands are cast
  (``static_cast<T>``) to the dtypes of NumPy's loop for the IR's operand dtypes
  (`numpy.ufunc.resolve_dtypes`, weak scalars as Python types, as NumPy 2 treats them), so
  C's implicit promotion never decides a type; a loop whose result is not the IR's dtype, a
  dtype CUDA has no type for (float16), or a primitive without a mapping here raises
  `Unsupported`, and the group runs unfused, as plain calls of ``cupy`` (never wrong code).
- Literals are converted to the loop's dtype with NumPy and written so that they read back
  to the same value (``0.5f`` for float32, ``0.1`` for float64; non-finite values by their
  bits).
- The group's outputs are written by one ``cupy.ElementwiseKernel``. Each whole-array sum of
  the group is a ``cupy.ReductionKernel`` (map: a ``__device__`` function computing the summed
  value's chain from the inputs; reduce ``a + b``; identity 0; accumulated in the sum's
  dtype): the chain is computed again rather than written to memory and read back, so a
  group that only sums (a loss) reads its inputs once and writes nothing but the sum.
- Kernel parameter strings use NumPy's dtype names (``float32 in0``): CuPy reads them with
  ``numpy.dtype``, where ``float`` would mean float64. The body uses C types (``float``,
  ``double``, ``complex<float>``, ...).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> from chainrule.compiler.fusion import plan
>>> p = cr.make_graph(lambda x: cnp.tanh(x) * 2.0 + x)(np.ones(4, np.float32))
>>> g = plan(p, min_size=2, short_min=0)[0]
>>> k = kernel_source(g).elementwise
>>> k.in_params, k.out_params
('float32 in0', 'float32 out0')
>>> print(k.operation)
const float t0 = tanh(in0);
const float t1 = (t0 * 2.0f);
const float t2 = (t1 + in0);
out0 = t2;
"""

from __future__ import annotations

import hashlib
import math
import sys
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.compiler import codegen
from chainrule.compiler.fusion import Group, plan
from chainrule.core import primitives as P
from chainrule.core.ir import Eqn, Lit, Program, Var


class Unsupported(Exception):
    """A group this module cannot write as a kernel (it runs unfused instead)."""


#: C types of NumPy's dtypes, by dtype name (CuPy's names for them)
CTYPES = {"bool": "bool", "int8": "signed char", "int16": "short", "int32": "int",
          "int64": "long long", "uint8": "unsigned char", "uint16": "unsigned short",
          "uint32": "unsigned int", "uint64": "unsigned long long", "float32": "float",
          "float64": "double", "complex64": "complex<float>",
          "complex128": "complex<double>"}  # fmt: skip

#: groups over at least this many elements are fused on the GPU (scalar chains are not)
GPU_FUSE_MIN = 2


def ctype(dtype: Any) -> str:
    """The C type of a NumPy dtype in a CuPy kernel.

    >>> ctype(np.float32), ctype(np.complex128)
    ('float', 'complex<double>')
    """
    t = CTYPES.get(np.dtype(dtype).name)
    if t is None:
        raise Unsupported(f"no CUDA type for {np.dtype(dtype)}")
    return t


def c_literal(value: Any, dtype: Any) -> str:
    """C source for `value` converted to `dtype` as NumPy converts it, reading back to the
    same value.

    >>> c_literal(0.1, np.float32), c_literal(0.1, np.float64), c_literal(2, np.int64)
    ('0.1f', '0.1', '2LL')
    >>> c_literal(-np.inf, np.float32)
    '__int_as_float(-8388608)'
    """
    dt = np.dtype(dtype)
    try:
        with np.errstate(all="raise"):
            v = np.array(value, dtype=dt)[()]
    except (OverflowError, FloatingPointError, ValueError, TypeError) as err:
        raise Unsupported(f"literal {value!r} as {dt}: {err}") from None
    kind, ct = dt.kind, ctype(dt)
    if kind == "b":
        return "true" if v else "false"
    if kind in "iu":
        n = int(v)
        if dt.itemsize < 4:
            return f"static_cast<{ct}>({n})"
        suffix = {("i", 4): "", ("i", 8): "LL", ("u", 4): "u", ("u", 8): "ull"}[kind,
                                                                                 dt.itemsize]
        if n == -(1 << (8 * dt.itemsize - 1)):  # the most negative: no such literal in C
            return f"({n + 1}{suffix} - 1{suffix})"
        return f"({n}{suffix})" if n < 0 else f"{n}{suffix}"
    if kind == "f":
        if not math.isfinite(v):
            if dt.itemsize == 4:
                return f"__int_as_float({int(np.array(v).view(np.int32))})"
            return f"__longlong_as_double({int(np.array(v).view(np.int64))}LL)"
        text = str(v) + "f" if dt.itemsize == 4 else repr(float(v))
        return f"({text})" if text.startswith("-") else text
    if kind == "c":
        part = np.dtype(f"f{dt.itemsize // 2}")
        return f"{ct}({c_literal(v.real, part)}, {c_literal(v.imag, part)})"
    raise Unsupported(f"no CUDA literal of {dt}")


def _cast(text: str, have: np.dtype, want: np.dtype) -> str:
    return text if have == want else f"static_cast<{ctype(want)}>({text})"


# --- each primitive's CUDA expression ------------------------------------------------------

#: real functions of CUDA's math library (float and double overloads), by primitive name
_REAL = {"exp": "exp", "expm1": "expm1", "exp2": "exp2", "log": "log", "log1p": "log1p",
         "log2": "log2", "log10": "log10", "sqrt": "sqrt", "cbrt": "cbrt", "sin": "sin",
         "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
         "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
         "arccosh": "acosh", "arctanh": "atanh", "floor": "floor", "ceil": "ceil",
         "trunc": "trunc", "rint": "rint", "arctan2": "atan2", "hypot": "hypot",
         "fmod": "fmod", "pow": "pow"}  # fmt: skip
#: those CuPy's complex<T> (thrust's) also has
_COMPLEX = {"exp", "log", "log10", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "tanh",
            "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh"}  # fmt: skip
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_COMPARE = {"equal": "==", "not_equal": "!=", "less": "<", "less_equal": "<=",
            "greater": ">", "greater_equal": ">="}  # fmt: skip
_ROUNDING = {"floor", "ceil", "trunc", "rint"}


def _expr(name: str, a: list[str], loop: tuple) -> str:
    """The C expression of primitive `name` on operands `a` (already of the loop's input
    dtypes); `loop`: NumPy's loop dtypes, inputs then output."""
    out = loop[-1]
    k = loop[0].kind  # the operands' kind
    if name in _ARITH:
        if k == "b" and name in ("add", "mul"):  # NumPy's boolean + and *: or, and
            return f"({a[0]} {'||' if name == 'add' else '&&'} {a[1]})"
        if k in "iufc":
            return f"({a[0]} {_ARITH[name]} {a[1]})"
    elif name in _COMPARE:
        if k in "biuf" or (k == "c" and name in ("equal", "not_equal")):
            return f"({a[0]} {_COMPARE[name]} {a[1]})"
    elif name in _ROUNDING and k in "iub":
        return a[0]  # NumPy's integer loops: the value itself
    elif name in _REAL:
        if k == "f" or (k == "c" and name in _COMPLEX):
            return f"{_REAL[name]}({', '.join(a)})"
    elif name == "neg" and k in "iufc":
        return f"(-{a[0]})"
    elif name == "square" and k in "iufc":
        return f"({a[0]} * {a[0]})"
    elif name == "reciprocal" and k in "fc":
        return f"({c_literal(1, out)} / {a[0]})"
    elif name == "abs":
        if k == "f" or k == "c":
            return f"{'fabs' if k == 'f' else 'abs'}({a[0]})"
        if k == "i":
            return f"({a[0]} < 0 ? -{a[0]} : {a[0]})"
        if k in "ub":
            return a[0]
    elif name == "sign":
        x = a[0]
        if k == "f":  # NumPy's: NaN stays NaN, ±0 gives +0
            one, zero = c_literal(1, out), c_literal(0, out)
            return (f"({x} > 0 ? {one} : ({x} < 0 ? {c_literal(-1, out)} : "
                    f"({x} == 0 ? {zero} : {x})))")  # fmt: skip
        if k == "i":
            return f"(({x} > 0) - ({x} < 0))"
        if k == "u":
            return f"({x} > 0)"
    elif name in ("maximum", "minimum", "fmax", "fmin"):
        op = ">=" if name in ("maximum", "fmax") else "<="
        if k in "iu":
            return f"({a[0]} {op} {a[1]} ? {a[0]} : {a[1]})"
        if k == "f" and name in ("fmax", "fmin"):  # NaN ignored, as C's
            return f"{name}({a[0]}, {a[1]})"
        if k == "f":  # NumPy's: a NaN operand is the result
            return f"(({a[0]} {op} {a[1]} || isnan({a[0]})) ? {a[0]} : {a[1]})"
    elif name in ("logical_and", "logical_or", "logical_xor", "logical_not"):
        if k in "biuf":
            if name == "logical_not":
                return f"(!{a[0]})"
            if name == "logical_xor":
                return f"(static_cast<bool>({a[0]}) != static_cast<bool>({a[1]}))"
            return f"({a[0]} {'&&' if name == 'logical_and' else '||'} {a[1]})"
    elif name in ("isnan", "isinf", "isfinite", "signbit"):
        if k == "f":
            return f"{name}({a[0]})"
        if k in "iub" and name != "signbit":
            return "true" if name == "isfinite" else "false"
    elif name == "conj":
        if k == "c":
            return f"conj({a[0]})"
        if k in "biuf":
            return a[0]
    elif name in ("deg2rad", "rad2deg") and k == "f":  # NumPy's: x times a constant
        t = out.type
        factor = t(np.pi) / t(180) if name == "deg2rad" else t(180) / t(np.pi)
        return f"({a[0]} * {c_literal(factor, out)})"
    elif name == "logaddexp" and k == "f":  # NumPy's npy_logaddexp
        x, y = a
        return (f"({x} == {y} ? {x} + {c_literal(np.log(2), out)} : (({x} - {y}) > 0 ? "
                f"{x} + log1p(exp(-({x} - {y}))) : (({x} - {y}) <= 0 ? "
                f"{y} + log1p(exp({x} - {y})) : ({x} - {y}))))")  # fmt: skip
    raise Unsupported(f"no CUDA mapping of {name} on {loop[0]}")


def _weak(v: Any) -> bool:
    return isinstance(v, (Lit, Var)) and v.aval.weak_type and v.aval.ndim == 0


def _loop(e: Eqn) -> tuple:
    """NumPy's loop dtypes for the equation's operands (weak scalars as Python types)."""
    ins = []
    for v in e.invars:
        dt = np.dtype(v.aval.dtype)
        ins.append({"f": float, "i": int, "c": complex, "b": bool}.get(dt.kind, dt)
                   if _weak(v) else dt)  # fmt: skip
    if e.prim is P.where_p:
        c, x, y = ins
        dt = np.result_type(x if not isinstance(x, type) else x(0),  # weak: a Python value
                            y if not isinstance(y, type) else y(0))  # fmt: skip
        return (np.dtype(bool), dt, dt, dt)
    ufunc = e.prim.impl if isinstance(e.prim.impl, np.ufunc) else None
    if ufunc is None:
        from chainrule.rules.impl import impl_rules

        ufunc = impl_rules.get(e.prim)
    if not isinstance(ufunc, np.ufunc) or ufunc.nout != 1:
        raise Unsupported(f"{e.prim.name} is not a NumPy ufunc")
    try:
        return tuple(ufunc.resolve_dtypes((*ins, None)))
    except (TypeError, ValueError) as err:  # NumPy has no such loop
        raise Unsupported(f"{e.prim.name} on {ins}: {err}") from None


def _statement(e: Eqn, name: str, operand: Callable[[Any], tuple]) -> str:
    """``const T name = expr;`` for equation `e`."""
    loop = _loop(e)
    out = np.dtype(e.outvars[0].aval.dtype)
    if loop[-1] != out:
        raise Unsupported(f"{e.prim.name}: NumPy computes {loop[-1]}, the program says {out}")
    if len({str(d) for d in loop[:-1]}) > 1 and e.prim is not P.where_p:
        raise Unsupported(f"{e.prim.name}: operands of two dtypes {loop[:-1]}")
    args = []
    for v, want in zip(e.invars, loop[:-1]):
        if type(v) is Lit:
            args.append(c_literal(v.val, want))
        else:
            text, have = operand(v)
            args.append(_cast(text, have, want))
    if e.prim is P.where_p:
        c = args[0] if loop[0] == np.dtype(bool) else f"({args[0]} != 0)"
        expr = f"({c} ? {args[1]} : {args[2]})"
    else:
        expr = _expr(e.prim.name, args, loop)
    return f"const {ctype(out)} {name} = {expr};"


# --- a group's kernels ---------------------------------------------------------------------


@dataclass(frozen=True)
class Kernel:
    """One CuPy kernel: ``cupy.ElementwiseKernel(in_params, out_params, operation, name,
    preamble=preamble)`` (`kind` "elementwise"), or ``cupy.ReductionKernel(in_params,
    out_params, operation, reduce_expr, post_map_expr, identity, name, reduce_type,
    preamble=preamble)`` ("reduction": `operation` is the map expression). `args`: the
    positions, in the group's inputs, of the values it takes."""

    kind: str
    name: str
    in_params: str
    out_params: str
    operation: str
    args: tuple
    preamble: str = ""
    reduce_expr: str = ""
    post_map_expr: str = ""
    identity: str = ""
    reduce_type: str = ""

    def text(self) -> str:
        """The kernel as one listing (what ``.source()`` shows)."""
        head = [f"{self.name}: cupy.{'Elementwise' if self.kind == 'elementwise' else 'Reduction'}"
                f"Kernel", f"in: {self.in_params}", f"out: {self.out_params}"]  # fmt: skip
        if self.kind == "reduction":
            head.append(f"map: {self.operation}; reduce: {self.reduce_expr}; "
                        f"post: {self.post_map_expr}; identity: {self.identity}; "
                        f"type: {self.reduce_type}")  # fmt: skip
        body = (self.preamble + "\n" if self.preamble else "") + (
            self.operation if self.kind == "elementwise" else "")
        return "\n".join(head) + "\n" + body.rstrip("\n") + "\n"

    def build(self, cupy: Any) -> Any:
        """The CuPy kernel object (compiled by CuPy on its first launch)."""
        if self.kind == "elementwise":
            return cupy.ElementwiseKernel(self.in_params, self.out_params, self.operation,
                                          self.name, preamble=self.preamble)  # fmt: skip
        return cupy.ReductionKernel(self.in_params, self.out_params, self.operation,
                                    self.reduce_expr, self.post_map_expr, self.identity,
                                    self.name, self.reduce_type,
                                    preamble=self.preamble)  # fmt: skip


@dataclass(frozen=True)
class KernelSpec:
    """A group's kernels: `elementwise` writes its outputs (None when it has none), one
    reduction per whole-array sum (in the order of ``group.sums``)."""

    elementwise: Kernel | None
    reductions: tuple

    @property
    def kernels(self) -> list:
        return ([self.elementwise] if self.elementwise else []) + list(self.reductions)


def _needed(g: Group, targets: list) -> list:
    """The group's equations the `targets` depend on, in order."""
    want = set(targets)
    keep = []
    for e in reversed(g.eqns):
        if e.outvars[0] in want:
            keep.append(e)
            want.update(v for v in e.invars if isinstance(v, Var))
    return keep[::-1]


def _chain(g: Group, targets: list) -> tuple[list, dict, list]:
    """(statements, local names, positions of the inputs used) computing `targets`; one
    input of the group's shape is always among them (CuPy's loop takes its shape from it)."""
    eqns = _needed(g, targets)
    pos = {v: i for i, v in enumerate(g.inputs)}
    used: list = []
    names: dict = {}

    def operand(v: Var) -> tuple:
        if v in names:
            return names[v], np.dtype(v.aval.dtype)
        i = pos[v]
        if i not in used:
            used.append(i)
        return f"in{i}", np.dtype(v.aval.dtype)

    lines = []
    for e in eqns:
        if len(e.outvars) != 1:
            raise Unsupported(f"{e.prim.name} has several results")
        t = f"t{len(names)}"
        lines.append(_statement(e, t, operand))
        names[e.outvars[0]] = t
    for v in targets:  # an input returned as it is (not a group's output in practice)
        if v not in names:
            operand(v)
    if not any(g.inputs[i].aval.shape == g.shape for i in used):  # (isnan of integers...)
        used.append(next(i for i, v in enumerate(g.inputs) if v.aval.shape == g.shape))
    return lines, names, sorted(used)


def _params(g: Group, used: list) -> str:
    return ", ".join(f"{np.dtype(g.inputs[i].aval.dtype).name} in{i}" for i in used)


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:12]


def kernel_source(group: Group) -> KernelSpec:
    """The CUDA kernels computing fusion group `group` (see the module's docstring); raises
    `Unsupported` for a group that cannot be one (it then runs unfused).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.compiler.fusion import plan
    >>> p = cr.make_graph(lambda x: cnp.sum(cnp.exp(-x)))(np.ones(4))
    >>> r = kernel_source(plan(p, min_size=2, short_min=0)[0]).reductions[0]
    >>> r.operation, r.reduce_expr, r.identity, r.reduce_type
    ('cr_map(in0)', 'a + b', '0', 'double')
    >>> print(r.preamble, end="")
    __device__ double cr_map(double in0) {
        const double t0 = (-in0);
        const double t1 = exp(t0);
        return t1;
    }
    """
    for v in group.inputs + group.outputs:
        ctype(v.aval.dtype)
    elementwise = None
    if group.outputs:
        lines, names, used = _chain(group, group.outputs)
        outs = [names[v] if v in names else f"in{group.inputs.index(v)}"
                for v in group.outputs]  # fmt: skip
        lines += [f"out{j} = {t};" for j, t in enumerate(outs)]
        in_params = _params(group, used)
        out_params = ", ".join(f"{np.dtype(v.aval.dtype).name} out{j}"
                               for j, v in enumerate(group.outputs))  # fmt: skip
        op = "\n".join(lines) + "\n"
        elementwise = Kernel("elementwise", "cr_fused_" + _digest(in_params, out_params, op),
                             in_params, out_params, op, tuple(used))  # fmt: skip
    reductions = []
    for e in group.sums:
        x = e.invars[0]
        lines, names, used = _chain(group, [x])
        out = np.dtype(e.outvars[0].aval.dtype)
        ct_x, ct_out = ctype(x.aval.dtype), ctype(out)
        in_params = _params(group, used)
        args = ", ".join(f"{ctype(group.inputs[i].aval.dtype)} in{i}" for i in used)
        body = "".join(f"    {ln}\n" for ln in lines) + f"    return {names[x]};\n"
        fname = "cr_map"  # one per compiled module: each reduction is its own
        preamble = f"__device__ {ct_x} {fname}({args}) {{\n{body}}}\n"
        call = f"{fname}({', '.join(f'in{i}' for i in used)})"
        if out != np.dtype(x.aval.dtype):  # NumPy sums small integers, booleans as int64
            call = f"static_cast<{ct_out}>({call})"
        out_params = f"{out.name} out0"
        reductions.append(Kernel(
            "reduction", "cr_sum_" + _digest(in_params, out_params, preamble, call),
            in_params, out_params, call, tuple(used), preamble, "a + b", "out0 = a", "0",
            ct_out))  # fmt: skip
    return KernelSpec(elementwise, tuple(reductions))


# --- launching -----------------------------------------------------------------------------

_COMPILED: dict = {}  # Kernel -> CuPy's kernel object (one per source)


def _cupy() -> Any:
    cupy = sys.modules.get("cupy")
    if cupy is None:
        import cupy  # type: ignore[import-not-found,no-redef]  # only ever on CuPy inputs
    return cupy


class Launch:
    """A kernel launch in generated code: the CuPy kernel is built on the first call and
    cached per source; returns a tuple of its outputs (one 0-d array for a reduction)."""

    __slots__ = ("kernel",)

    def __init__(self, kernel: Kernel):
        self.kernel = kernel

    def __call__(self, *args: Any, out: tuple = ()) -> Any:
        k = _COMPILED.get(self.kernel)
        cupy = _cupy()
        if k is None:
            k = _COMPILED[self.kernel] = self.kernel.build(cupy)
        vals = tuple(_device_arg(cupy, a) for a in args)
        if self.kernel.kind == "reduction":
            return k(*vals)
        res = k(*vals, *out)
        return res if isinstance(res, tuple) else (res,)

    def __repr__(self) -> str:
        return f"<launch {self.kernel.name}>"


def _device_arg(cupy: Any, a: Any) -> Any:
    """A kernel argument: NumPy arrays (constants) moved to the device, a 0-d one as a
    NumPy scalar (CuPy takes scalars, not 0-d host arrays)."""
    if type(a) is np.ndarray:
        return a[()] if a.ndim == 0 else cupy.asarray(a)
    return a


def _is_cupy(x: Any) -> bool:
    return type(x).__module__.partition(".")[0] == "cupy"


def on_cupy(program: Program) -> bool:
    """Whether `program` was staged on CuPy arrays (the namespace known by its module's
    name: nothing here imports CuPy).

    >>> import numpy as np, chainrule as cr
    >>> on_cupy(cr.make_graph(lambda x: x + 1)(np.ones(2)))
    False
    """
    return any(_is_cupy(v.aval.device) for v in program.invars) or any(
        _is_cupy(c) for c in program.consts)  # fmt: skip


def lower_cupy(program: Program, name: str | None = None, fuse: bool = True,
               min_size: int = GPU_FUSE_MIN,
               capture: bool = False) -> codegen.Executable:  # fmt: skip
    """Compile `program` for CuPy arrays: as `codegen.lower_plain` (plain calls of each
    primitive's namespace implementation), but (with `fuse`) each fused group (`fusion.plan`
    over arrays of at least `min_size` elements) is one cached kernel launch for its outputs
    and one per sum (`kernel_source`), a group without a CUDA mapping its equations as plain
    calls. Outputs of kernels whose buffers are dead (the CPU lowering's memory plan) receive
    later kernels' outputs of the same shape and dtype; large dead values are deleted early,
    so that CuPy's pool reuses their memory. ``.source`` lists the kernels, as comments,
    then the Python. With `capture` (the version a CUDA graph records: `GraphRunner`)
    nothing is deleted and the function returns ``(outputs, every value it made)``, so that
    whoever holds the graph holds the memory it writes.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> p = cr.make_graph(lambda x: cnp.sum(cnp.sin(x) * 2.0))(np.ones(3))
    >>> print(lower_cupy(p).source.split("def ")[1])
    program(a):
        b = _sum0(a)
        return _outputs((a,), (b,))
    <BLANKLINE>
    """
    nm = codegen._plain_namer()
    params = [nm.var(v) for v in program.invars]
    for i, (v, c) in enumerate(zip(program.constvars, program.consts)):
        nm.vars[v] = nm.obj(c, f"const{i}")
    items = plan(program, fuse, min_size, short_min=0)
    last = codegen.last_uses(items)
    memory = codegen._MemoryPlan(program, items, last)
    for it in items:  # a namespace's function may return its operand itself (astype to its
        if not isinstance(it, Group) and not it.prim.view:  # dtype): never reuse such one
            for v in it.invars:
                if isinstance(v, Var) and any((o.aval.size, o.aval.dtype) == (
                        v.aval.size, v.aval.dtype) for o in it.outvars):  # fmt: skip
                    memory.pinned.add(memory.root.get(v, v))
    keep = set(program.outvars) | set(program.invars) | set(program.constvars)
    listings, lines = [], []
    assigned: set = set()
    for i, it in enumerate(items):
        spec = None
        if isinstance(it, Group):
            try:
                spec = kernel_source(it)
            except Unsupported as err:
                lines.append(f"# unfused: {err}")
        if spec is None:  # an equation, or a group without a kernel: plain calls
            for e in (it.eqns + it.sums if isinstance(it, Group) else [it]):
                lines.append(codegen._plain_line(e, nm))
                assigned.update(e.outvars)
        else:
            k = spec.elementwise
            if k is not None:
                listings.append(k.text())
                launch = nm.obj(Launch(k), f"kernel{len(listings) - 1}")
                args = [nm.var(it.inputs[j]) for j in k.args]
                bufs = [memory.take(o) for o in it.outputs]
                if all(b is not None for b in bufs):  # dead buffers of the same layout
                    args.append(f"out={codegen._tuple_text([nm.var(b) for b in bufs])}")
                else:  # all or none: the ones taken go back to the pool
                    for b in bufs:
                        if b is not None:
                            memory.free[(b.aval.shape, b.aval.dtype)].append(b)
                lines.append(f"{', '.join(nm.var(o) for o in it.outputs)}, = "
                             f"{launch}({', '.join(args)})")  # fmt: skip
                memory.made(it.outputs)
                assigned.update(it.outputs)
            for e, r in zip(it.sums, spec.reductions):
                listings.append(r.text())
                launch = nm.obj(Launch(r), f"sum{len(listings) - 1}")
                args = ", ".join(nm.var(it.inputs[j]) for j in r.args)
                lines.append(f"{nm.var(e.outvars[0])} = {launch}({args})")
                assigned.add(e.outvars[0])
        kept = memory.release(i)
        dead = [v for v, j in last.items() if j == i and v not in keep and v in assigned and
                v.aval.size >= codegen.DEL_MIN and v not in kept]  # fmt: skip
        if dead and not capture:
            lines.append(f"del {', '.join(nm.var(v) for v in dead)}")
    results = codegen._tuple_text([nm.operand(v) for v in program.outvars])
    outputs = f"_outputs({codegen._tuple_text(params)}, {results})"
    if capture:
        made = codegen._tuple_text([nm.var(v) for e in program.eqns for v in e.outvars
                                    if v in assigned])  # fmt: skip
        lines.append(f"return {outputs}, {made}")
    else:
        lines.append(f"return {outputs}")
    fname = name or "program"
    head = "".join("".join(f"# {ln}".rstrip() + "\n" for ln in t.splitlines()) + "#\n"
                   for t in listings)  # fmt: skip
    source = head + f"def {fname}({', '.join(params)}):\n" + "".join(
        f"    {ln}\n" for ln in lines)  # fmt: skip
    exec(compile(source, f"<chainrule.jit {fname} (cupy)>", "exec"), nm.ns)  # our own source
    return codegen.Executable(program, nm.ns[fname], source, fname)


# --- CUDA graphs -------------------------------------------------------------------------------


class GraphRunner:
    """A compiled CuPy program replayed as a CUDA graph (``cr.config.jit_cuda_graphs``): its
    kernel launches recorded once, then launched as one graph per call, which saves the
    per-launch cost of programs of many small kernels (W7's step).

    - The first call runs the program as it is (kernels compiled, CuPy's pool warmed). The
      second records it (`cupy.cuda.Stream.begin_capture`) on static input buffers, with the
      version of the program that keeps every value it makes (`lower_cupy` with
      ``capture=True``: the graph writes into that memory at every replay, so it must never
      go back to the pool); it then launches the graph.
    - The program's NumPy constants (arrays it captured) are given device copies before
      the recording (a copy from the host cannot be recorded), and every call writes their
      current values into those copies before the launch: a captured array the caller
      changed is seen, as without a graph.
    - A call copies its arguments into the static buffers, launches the graph and returns
      copies of the outputs (the next call never overwrites a result), all on one stream
      that orders itself after the default stream's work.
    - A program that draws random numbers is never recorded (a replay would draw the same
      numbers); anything that fails during recording (a copy from the host, a
      synchronisation) leaves the program running as it is, with one warning naming why.
      A call arriving while another thread replays runs the program as it is.

    `cupy` is the module (a stand-in in the CPU tests); `plain` and `captured` are the
    program's two compiled functions.
    """

    def __init__(self, plain: Callable, captured: Callable[[], Callable], name: str,
                 cupy: Any = None):  # fmt: skip
        import threading

        self.plain, self.make_captured, self.name = plain, captured, name
        self.cupy = cupy
        self.calls = 0
        self.failed: str | None = None
        self.graph: Any = None
        self.lock = threading.Lock()

    def __call__(self, *args: Any) -> tuple:
        from chainrule.core import config

        if not config.jit_cuda_graphs or self.failed is not None:
            return self.plain(*args)
        if not self.lock.acquire(blocking=False):  # another thread is replaying
            return self.plain(*args)
        try:
            if self.graph is None:
                self.calls += 1
                if self.calls < 2 or not self._record(args):
                    return self.plain(*args)
            return self._replay(args)
        finally:
            self.lock.release()

    def _module(self) -> Any:
        return self.cupy if self.cupy is not None else _cupy()

    def _record(self, args: tuple) -> bool:
        cupy = self._module()
        if not all(isinstance(a, cupy.ndarray) for a in args):
            return self._fail("an argument is not a CuPy array")
        try:
            fn = self.make_captured()
            self.consts = []  # (the NumPy constant, its device copy the graph reads)
            names = fn.__globals__  # the recorded version's own module namespace
            for k, v in list(names.items()):
                if type(v) is np.ndarray and v.ndim > 0:  # (0-d ones are passed by value)
                    names[k] = cupy.asarray(v)
                    self.consts.append((v, names[k]))
            self.inputs = [cupy.empty_like(a) for a in args]
            for buf, a in zip(self.inputs, args):
                cupy.copyto(buf, a)
            self.stream = cupy.cuda.Stream()  # blocking: ordered after the default stream
            self.recorded = fn
            with self.stream:
                self.stream.begin_capture()
                try:
                    self.outputs, self.kept = fn(*self.inputs)
                finally:
                    graph = self.stream.end_capture()
            self.graph = graph
        except Exception as err:  # anything the recording cannot take: run as it is
            self.graph = None
            return self._fail(f"{type(err).__name__}: {err}")
        return True

    def _fail(self, why: str) -> bool:
        import warnings

        self.failed = why
        warnings.warn(f"cr.jit of {self.name}: not replayed as a CUDA graph ({why}); it runs "
                      "as it is", RuntimeWarning, stacklevel=4)  # fmt: skip
        return False

    def _replay(self, args: tuple) -> tuple:
        cupy = self._module()
        with self.stream:
            for host, dev in self.consts:
                dev.set(host)
            for buf, a in zip(self.inputs, args):
                cupy.copyto(buf, a)
            self.graph.launch(self.stream)
            return tuple(o.copy() if isinstance(o, cupy.ndarray) else o for o in self.outputs)


def graphed(program: Program, name: str | None = None, fuse: bool = True) -> codegen.Executable:
    """`lower_cupy`'s program, run by a `GraphRunner` (a CUDA graph when
    ``cr.config.jit_cuda_graphs`` is on, the program as it is otherwise).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> exe = graphed(cr.make_graph(lambda x: cnp.sin(x) * 2.0)(np.ones(3)))
    >>> type(exe.run).__name__
    'GraphRunner'
    """
    exe = lower_cupy(program, name, fuse)
    captured = lambda: lower_cupy(program, name, fuse, capture=True).run  # noqa: E731
    return codegen.Executable(program, GraphRunner(exe.run, captured, exe.name), exe.source,
                              exe.name)  # fmt: skip
