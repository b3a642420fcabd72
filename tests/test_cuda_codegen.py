"""The CUDA kernels of jit's CuPy lowering (chainrule/compiler/cuda.py), checked on the CPU.

Besides the text of the kernels, their meaning: `run_c` below is a small interpreter of the C
subset the kernels are written in, with C's own typing (``0.5`` is a double, ``float *
double`` is a double, ``short + short`` is an int, a declaration converts to its type), that
computes with NumPy arrays of those C types. Each kernel it runs is compared with the values
NumPy's implementation of the program computes: the best proof short of a GPU that the
kernel computes what the CPU does.
"""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compiler import cuda
from chainrule.compiler.fusion import Group, plan
from chainrule.core import primitives as P
from chainrule.core.ir import Var
from chainrule.core.trace import bind
from chainrule.rules.impl import impl_rules

rng = np.random.default_rng(11)


def w10_f(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x))


# --- a C interpreter for the kernels' subset -------------------------------------------------

_DT = {c: np.dtype(n) for n, c in cuda.CTYPES.items()}
_TOKEN = re.compile(r"""\s*(?:
    (?P<cast>static_cast<(?P<ct>[\w ]+|complex<\w+>)>)
  | (?P<ctor>complex<(?:float|double)>)
  | (?P<num>(?:\d+\.\d*(?:e[+-]?\d+)?|\d+e[+-]?\d+)f?|\d+(?:LL|ull|u)?)
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/<>!?:(),])
)""", re.X)  # fmt: skip
_FUN = {"sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
        "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
        "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "exp": np.exp,
        "expm1": np.expm1, "exp2": np.exp2, "log": np.log, "log1p": np.log1p, "log2": np.log2,
        "log10": np.log10, "sqrt": np.sqrt, "cbrt": np.cbrt, "floor": np.floor,
        "ceil": np.ceil, "trunc": np.trunc, "rint": np.rint, "fabs": np.abs, "pow": np.power,
        "atan2": np.arctan2, "hypot": np.hypot, "fmod": np.fmod, "fmax": np.fmax,
        "fmin": np.fmin, "conj": np.conj, "abs": np.abs}  # fmt: skip
_PRED = {"isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "signbit": np.signbit}
_SMALL = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.uint8, np.uint16)}


def _promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """C++'s usual arithmetic conversions."""
    a, b = (np.dtype(np.int32) if t in _SMALL else t for t in (a, b))
    if a.kind == "c" or b.kind == "c":
        assert a == b, f"complex<{a}> with {b}: no such C++ operator"
        return a
    for f in (np.float64, np.float32):
        if np.dtype(f) in (a, b):
            return np.dtype(f)
    if a == b:
        return a
    if a.kind == b.kind:
        return a if a.itemsize > b.itemsize else b
    u, s = (a, b) if a.kind == "u" else (b, a)
    if u.itemsize >= s.itemsize:
        return u
    return s


def _c(v):
    return np.asarray(v)


class _Parser:
    def __init__(self, text: str, env: dict):
        self.toks, pos = [], 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            assert m and m.end() > pos, f"cannot read {text[pos:]!r}"
            kind = next(k for k in ("cast", "ctor", "num", "id", "op") if m.group(k))
            self.toks.append((kind, m.group("ct") if kind == "cast" else m.group(kind)))
            pos = m.end()
        self.i, self.env = 0, env

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self, want=None):
        t = self.peek()
        assert want is None or t[1] == want, f"expected {want}, got {t}"
        self.i += 1
        return t

    # precedence climbing: ?: < || < && < == != < relational < + - < * / < unary
    _LEVELS = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/")]

    def expr(self):
        c = self.binary(0)
        if self.peek()[1] == "?":
            self.take()
            a = self.expr()
            self.take(":")
            b = self.expr()
            t = _promote(a.dtype, b.dtype)
            return _c(np.where(c.astype(bool), a.astype(t), b.astype(t)))
        return c

    def binary(self, level):
        if level == len(self._LEVELS):
            return self.unary()
        x = self.binary(level + 1)
        while self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            y = self.binary(level + 1)
            x = _apply(op, x, y)
        return x

    def unary(self):
        kind, val = self.peek()
        if val == "-":
            self.take()
            x = self.unary()
            return _c(-x.astype(_promote(x.dtype, x.dtype)))
        if val == "!":
            self.take()
            return _c(~self.unary().astype(bool))
        return self.primary()

    def args(self):
        self.take("(")
        out = [self.expr()]
        while self.peek()[1] == ",":
            self.take()
            out.append(self.expr())
        self.take(")")
        return out

    def primary(self):
        kind, val = self.take()
        if val == "(":
            x = self.expr()
            self.take(")")
            return x
        if kind == "num":
            if val.endswith(("LL", "ull", "u")):
                t = {"LL": np.int64, "ull": np.uint64, "u": np.uint32}[re.sub(r"^\d+", "", val)]
                return _c(np.array(int(re.sub(r"\D+$", "", val)), t))
            if "." in val or "e" in val:
                return _c(np.float32(val[:-1]) if val.endswith("f") else np.float64(val))
            return _c(np.int32(int(val)))
        if kind == "cast":
            (x,) = self.args()
            return _c(x.astype(_DT[val]))
        if kind == "ctor":
            re_, im = self.args()
            return _c((re_ + 1j * im).astype(_DT[val]))
        if val in ("true", "false"):
            return _c(np.bool_(val == "true"))
        if val == "__int_as_float":
            return _c(self.args()[0].astype(np.int32).view(np.float32))
        if val == "__longlong_as_double":
            return _c(self.args()[0].astype(np.int64).view(np.float64))
        if val in _FUN or val in _PRED:
            xs = self.args()
            if val == "abs" or val == "conj":
                assert xs[0].dtype.kind == "c", f"{val} of a real: C's int abs"
            t = xs[0].dtype
            for x in xs[1:]:
                t = _promote(t, x.dtype)
            if t.kind in "iub":  # C++'s overloads for integers: double
                t = np.dtype(np.float64)
            xs = [x.astype(t) for x in xs]
            with np.errstate(all="ignore"):
                if val in _PRED:
                    return _c(_PRED[val](*xs))
                r = _c(_FUN[val](*xs))
            assert r.dtype == t or val in ("abs",), (val, r.dtype, t)
            return r
        assert kind == "id" and val in self.env, f"unknown name {val}"
        return self.env[val]


def _apply(op, x, y):
    if op in ("&&", "||"):
        a, b = x.astype(bool), y.astype(bool)
        return _c(a & b if op == "&&" else a | b)
    t = _promote(x.dtype, y.dtype)
    a, b = x.astype(t), y.astype(t)
    with np.errstate(all="ignore"):
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return _c({"==": np.equal, "!=": np.not_equal, "<": np.less,
                       "<=": np.less_equal, ">": np.greater,
                       ">=": np.greater_equal}[op](a, b))  # fmt: skip
        if op == "/":
            assert t.kind in "fc", "integer division is not emitted"
            return _c(a / b)
        return _c({"+": np.add, "-": np.subtract, "*": np.multiply}[op](a, b))


def _statements(text: str, env: dict) -> dict:
    """Run C statements (declarations, assignments, a return) in `env`; returns it, with
    the returned value under "return"."""
    for st in filter(None, (s.strip() for s in text.split(";"))):
        m = re.fullmatch(r"(?:const\s+)?(?P<t>[\w ]+?|complex<\w+>)\s+(?P<n>\w+)\s*=\s*(?P<e>.+)",
                         st, re.S)  # fmt: skip
        if st.startswith("return "):
            env["return"] = _Parser(st[len("return "):], env).expr()
        elif m and m.group("t") in _DT:
            env[m.group("n")] = _c(_Parser(m.group("e"), env).expr().astype(_DT[m.group("t")]))
        else:
            n, e = st.split("=", 1)
            env[n.strip()] = _Parser(e, env).expr()
    return env


def _param_types(params: str) -> dict:
    return {n: np.dtype(t) for t, n in (p.split() for p in params.split(", ") if p)}


def run_c(kernel: cuda.Kernel, inputs: list) -> list:
    """Run `kernel` on NumPy arrays (the group's inputs, all of them): its outputs, in the
    types of its parameters. A reduction sums its map's values as NumPy sums an array."""
    ins = _param_types(kernel.in_params)
    env = {n: _c(np.asarray(inputs[int(n[2:])]).astype(t)) for n, t in ins.items()}
    shape = np.broadcast_shapes(*(np.shape(v) for v in env.values()))  # CuPy's loop
    outs = _param_types(kernel.out_params)
    if kernel.kind == "elementwise":
        env = _statements(kernel.operation, env)
        return [np.broadcast_to(env[n], shape).astype(t) for n, t in outs.items()]
    m = re.fullmatch(r"__device__ ([\w<> ]+?) (\w+)\(([^)]*)\) \{\n(.*)\}\n", kernel.preamble,
                     re.S)  # fmt: skip
    assert m, kernel.preamble
    rtype, fname, args, body = m.groups()
    call = f"{fname}({', '.join(a.split()[-1] for a in args.split(', ') if a)})"
    assert kernel.operation in (call, f"static_cast<{kernel.reduce_type}>({call})")
    local = {a.split()[-1]: env[a.split()[-1]].astype(_DT[a.rsplit(" ", 1)[0]])
             for a in args.split(", ") if a}  # fmt: skip
    mapped = _statements(body, local)["return"].astype(_DT[rtype])
    (t,) = outs.values()
    assert kernel.reduce_expr == "a + b" and kernel.identity == "0"
    assert _DT[kernel.reduce_type] == t
    return [np.add.reduce(np.broadcast_to(mapped, shape).astype(t), axis=None)]


# --- NumPy's values of a program's variables -------------------------------------------------


def values(program, args) -> dict:
    """Every variable's value, each equation run by its NumPy implementation (what the CPU
    lowering calls)."""
    env = dict(zip(program.invars, args))
    env.update(zip(program.constvars, program.consts))
    for e in program.eqns:
        ins = [env[v] if isinstance(v, Var) else v.val for v in e.invars]
        with np.errstate(all="ignore"):
            out = impl_rules[e.prim](*ins, **e.params)
        outs = out if e.prim.multiple_results else (out,)
        env.update(zip(e.outvars, outs))
    return env


def check_group(group: Group, env: dict, exact: bool = False, atol: float = 0.0) -> None:
    """The group's kernels, run by `run_c` on the inputs' values, give NumPy's values of
    its outputs and sums (of the same dtype; equal, or within a few ulps where the
    interpreter composes a NumPy function differently)."""
    spec = cuda.kernel_source(group)
    inputs = [env[v] for v in group.inputs]
    got, want = [], []
    if spec.elementwise is not None:
        got += run_c(spec.elementwise, inputs)
        want += [env[v] for v in group.outputs]
    for e, r in zip(group.sums, spec.reductions):
        got += run_c(r, inputs)
        want.append(env[e.outvars[0]])
    assert got and len(got) == len(want)
    for a, b in zip(got, want):
        b = np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype, a.shape, b.shape)
        if b.dtype.kind == "f":  # zeros of the same sign
            zero = (a == 0) & (b == 0)
            np.testing.assert_array_equal(np.signbit(a[zero]), np.signbit(b[zero]))
        if exact or b.dtype.kind not in "fc":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=8 * np.finfo(b.dtype).eps, atol=atol,
                                       equal_nan=True)  # fmt: skip


def groups_of(program, min_size: int = cuda.GPU_FUSE_MIN) -> list:
    return [it for it in plan(program, min_size=min_size, short_min=0) if isinstance(it, Group)]


def one_group(fun, *args) -> tuple[Group, dict]:
    """All of `fun`'s equations as one group (outputs: the program's), and the values."""
    p = cr.make_graph(fun)(*args)
    g = Group(np.shape(args[0]), eqns=list(p.eqns),
              inputs=[v for v in p.invars if any(v in e.invars for e in p.eqns)],
              outputs=list(p.outvars))  # fmt: skip
    return g, values(p, args)


# --- W10 ---------------------------------------------------------------------------------------

W10_GRAD_F32 = """\
const float t0 = sin(in0);
const float t1 = cos(in0);
const float t2 = (in0 * in0);
const float t3 = (-t2);
const float t4 = exp(t3);
const float t5 = tanh(in0);
const float t6 = (t5 * t5);
const float t7 = (1.0f - t6);
const float t8 = (0.5f * t4);
const float t9 = (-t8);
const float t10 = (2.0f * in0);
const float t11 = (t9 * t10);
const float t12 = (t7 + t11);
const float t13 = (-t0);
const float t14 = (t13 * t0);
const float t15 = (t12 + t14);
const float t16 = (t1 * t1);
const float t17 = (t15 + t16);
out0 = t17;
"""


def _w10(dtype, grad=cr.grad):
    x = rng.standard_normal(1 << 16).astype(dtype)
    x[:4] = [0.0, -0.0, np.inf, np.nan]
    program = cr.jit(grad(w10_f)).lower(x).program
    return program, x


def test_the_w10_gradient_is_one_elementwise_kernel_of_this_source():
    program, x = _w10(np.float32)
    (g,) = groups_of(program)
    spec = cuda.kernel_source(g)
    k = spec.elementwise
    assert spec.reductions == () and spec.kernels == [k]
    assert (k.kind, k.in_params, k.out_params, k.args) == ("elementwise", "float32 in0",
                                                           "float32 out0", (0,))  # fmt: skip
    assert k.operation == W10_GRAD_F32
    assert re.fullmatch(r"cr_fused_[0-9a-f]{12}", k.name) and k.preamble == ""
    check_group(g, values(program, [x]), exact=True)  # every step as NumPy's, bit for bit


def test_the_w10_gradient_in_float64_is_written_in_double():
    program, x = _w10(np.float64)
    (g,) = groups_of(program)
    k = cuda.kernel_source(g).elementwise
    assert k.in_params == "float64 in0" and k.out_params == "float64 out0"
    assert "float" not in k.operation.replace("double", "")
    assert "(0.5 * t4)" in k.operation and "(1.0 - t6)" in k.operation  # double literals
    check_group(g, values(program, [x]), exact=True)


def test_value_and_grad_of_w10_is_a_kernel_and_a_reduction_that_recomputes_the_chain():
    program, x = _w10(np.float32, cr.value_and_grad)
    (g,) = groups_of(program)
    spec = cuda.kernel_source(g)
    (r,) = spec.reductions
    assert spec.elementwise is not None and spec.elementwise.out_params == "float32 out0"
    assert (r.kind, r.reduce_expr, r.post_map_expr, r.identity, r.reduce_type) == (
        "reduction", "a + b", "out0 = a", "0", "float")  # fmt: skip
    assert r.operation == "cr_map(in0)" and r.preamble.startswith("__device__ float cr_map(")
    assert "tanh(in0)" in r.preamble and "1.0f" not in r.preamble  # only the summed chain
    check_group(g, values(program, [x]))
    x[:4] = 0.25  # a finite sum: compared with NumPy's (its order: the array's)
    check_group(g, values(program, [x]))


def test_the_w10_loss_alone_is_one_reduction_and_nothing_written():
    x = rng.standard_normal(1 << 16).astype(np.float32)
    program = cr.jit(w10_f).lower(x).program
    (g,) = groups_of(program)
    spec = cuda.kernel_source(g)
    assert spec.elementwise is None and len(spec.reductions) == 1
    check_group(g, values(program, [x]))


# --- W5 / W7: tanh's derivative chains -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_derivative_groups_of_w7(dtype):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.workloads import w07

    d = w07.setup()
    params = [p.astype(dtype) for p in d.params]
    X, rows = d.X.astype(dtype), np.arange(w07.BATCH)
    step = cr.jit(w07._sgd_step(cr.grad(partial(w07.loss, cnp))))
    program = step.lower(params, X, d.labels, rows).program
    env = values(program, cr.tree_util.tree_leaves((params, X, d.labels, rows)))
    groups = groups_of(program)
    tanh_grads = [g for g in groups if [e.prim.name for e in g.eqns] == ["mul", "sub", "mul"]]
    assert len(tanh_grads) == 2
    ct = cuda.ctype(dtype)
    one = "1.0f" if dtype == np.float32 else "1.0"
    for g in tanh_grads:  # g * (1 - t*t)
        op = cuda.kernel_source(g).elementwise.operation
        assert op.splitlines()[1] == f"const {ct} t1 = ({one} - t0);", op
    for g in groups:
        check_group(g, env, exact=True)


def test_every_group_of_the_w5_gradient_is_a_kernel_equal_to_numpy():
    theta = rng.standard_normal((100, 100)).astype(np.float32)
    x, y = rng.standard_normal(100).astype(np.float32), np.float32(0.3)

    def w5(theta, x, y):
        return cnp.mean((cnp.tanh(theta @ cnp.tanh(theta @ x)) - y) ** 2)

    program = cr.jit(cr.grad(w5)).lower(theta, x, y).program
    env = values(program, [theta, x, y])
    groups = groups_of(program)
    assert groups
    for g in groups:
        check_group(g, env, exact=True)


# --- literals, types, comparisons ---------------------------------------------------------------


def test_a_weak_float_takes_the_arrays_dtype_and_is_written_to_round_trip():
    x = rng.standard_normal(1000).astype(np.float32)
    g, env = one_group(lambda x: cnp.exp(x * 0.1) - 1e-3, x)
    op = cuda.kernel_source(g).elementwise.operation
    assert "(in0 * 0.1f)" in op and "(t1 - 0.001f)" in op
    check_group(g, env, exact=True)


def test_a_strong_float64_scalar_makes_the_loop_double_with_explicit_casts():
    x = rng.standard_normal(1000).astype(np.float32)
    g, env = one_group(lambda x: cnp.sin(x) * np.float64(0.1), x)
    k = cuda.kernel_source(g).elementwise
    assert "const double t1 = (static_cast<double>(t0) * 0.1);" in k.operation
    assert k.out_params == "float64 out0"
    check_group(g, env, exact=True)


def test_mixed_integer_and_float_operands_follow_numpys_promotion():
    i = rng.integers(-50, 50, 1000).astype(np.int32)
    f = rng.standard_normal(1000).astype(np.float32)
    small = rng.integers(-100, 100, 1000).astype(np.int8)
    g, env = one_group(lambda i, f, s: (i * f, s * s + s, i * 3, (s + 1.5) > f), i, f, small)
    k = cuda.kernel_source(g).elementwise
    assert k.in_params == "int32 in0, float32 in1, int8 in2"
    assert k.out_params == "float64 out0, int8 out1, int32 out2, bool out3"
    assert "static_cast<double>(in0) * static_cast<double>(in1)" in k.operation
    check_group(g, env, exact=True)  # int8 wraps as NumPy's does


def test_literals_of_every_kind():
    assert cuda.c_literal(0.1, np.float32) == "0.1f"
    assert float(np.float32(0.1)) != 0.1 and cuda.c_literal(1 / 3, np.float64) == repr(1 / 3)
    assert cuda.c_literal(-2.5, np.float32) == "(-2.5f)"
    assert cuda.c_literal(np.nan, np.float64).startswith("__longlong_as_double(")
    assert cuda.c_literal(-(2**31), np.int32) == "(-2147483647 - 1)"
    assert cuda.c_literal(3, np.uint64) == "3ull" and cuda.c_literal(7, np.int8) == \
        "static_cast<signed char>(7)"  # fmt: skip
    assert cuda.c_literal(True, np.bool_) == "true"
    assert cuda.c_literal(1 + 2j, np.complex64) == "complex<float>(1.0f, 2.0f)"
    with pytest.raises(cuda.Unsupported):
        cuda.c_literal(300, np.int8)  # NumPy 2 refuses it too
    for v, dt in [(np.inf, np.float32), (-np.inf, np.float64), (1e-45, np.float32),
                  (3.4028235e38, np.float32), (5e-324, np.float64), (-0.0, np.float32)]:
        env = _statements(f"const {cuda.ctype(dt)} r = {cuda.c_literal(v, dt)};", {})
        want = np.array(v, dt)
        assert env["r"].dtype == dt and env["r"].tobytes() == want.tobytes(), (v, dt)


def test_comparisons_and_a_where():
    x = rng.standard_normal(1000)
    x[:3] = [np.nan, 0.0, -0.0]
    g, env = one_group(lambda x: cnp.where(x > 0, x, 0.1 * x) + (x <= 0.5), x)
    op = cuda.kernel_source(g).elementwise.operation
    assert "const bool t0 = (in0 > 0.0);" in op and re.search(r"\(t\d+ \? in0 : t1\)", op)
    check_group(g, env, exact=True)
    g, env = one_group(lambda x: cnp.logical_and(x > 0, cnp.isfinite(x)), x)
    check_group(g, env, exact=True)


def test_a_group_with_a_sum_of_an_integer_count():
    x = rng.standard_normal(1 << 16).astype(np.float32)
    program = cr.make_graph(lambda x: (cnp.sum(x > 0.5), cnp.sum(cnp.abs(x) * 2.0)))(x)
    (g,) = groups_of(program)
    spec = cuda.kernel_source(g)
    r_count, r_abs = spec.reductions
    assert r_count.out_params == "int64 out0" and r_count.reduce_type == "long long"
    assert r_count.operation == "static_cast<long long>(cr_map(in0))"
    assert r_abs.reduce_type == "float"
    check_group(g, values(program, [x]))


# --- every primitive the fusion pass may put in a group ----------------------------------------

_UNARY = ["neg", "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "cbrt",
          "square", "reciprocal", "abs", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
          "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "conj", "deg2rad",
          "rad2deg", "sign", "floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite",
          "signbit", "logical_not"]  # fmt: skip
_BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmax", "fmin", "arctan2",
           "hypot", "logaddexp", "logaddexp2", "mod", "fmod", "floor_divide", "equal",
           "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
           "logical_or", "logical_xor"]  # fmt: skip
_FALLBACK = {"logaddexp2", "mod", "floor_divide"}  # no CUDA mapping: the group runs unfused


def _sample(dtype, n=4000):
    x = (rng.standard_normal(n) * 3).astype(dtype)
    x[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5]
    return x


def test_the_lists_above_are_every_fusible_primitive():
    fusible = {p.name for p in P.ALL if p.elementwise and isinstance(impl_rules.get(p),
                                                                       np.ufunc)}  # fmt: skip
    assert fusible == set(_UNARY) | set(_BINARY)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", _UNARY + _BINARY)
def test_each_primitive_computes_what_numpy_computes(name, dtype):
    prim = getattr(P, name + "_p")
    x, y = _sample(dtype), _sample(dtype)[::-1].copy()
    fun = (lambda x, y: bind(prim, x)) if name in _UNARY else (lambda x, y: bind(prim, x, y))
    g, env = one_group(fun, x, y)
    if name in _FALLBACK:
        with pytest.raises(cuda.Unsupported, match="no CUDA mapping"):
            cuda.kernel_source(g)
        return
    eps = np.finfo(dtype).eps
    check_group(g, env, atol=64 * eps if name == "logaddexp" else 0.0)  # x + log1p(...) ≈ 0


@pytest.mark.parametrize("name", ["add", "mul", "maximum", "sign", "abs", "neg", "square",
                                  "less", "logical_xor", "floor", "isnan"])
def test_integer_loops(name):
    prim = getattr(P, name + "_p")
    x = rng.integers(-1000, 1000, 3000).astype(np.int32)
    y = rng.integers(-1000, 1000, 3000).astype(np.int32)
    fun = (lambda x, y: bind(prim, x)) if name in _UNARY else (lambda x, y: bind(prim, x, y))
    g, env = one_group(fun, x, y)
    check_group(g, env, exact=True)


def test_complex_arithmetic_uses_cupys_complex_type():
    z = (rng.standard_normal(100) + 1j * rng.standard_normal(100)).astype(np.complex64)
    g, _ = one_group(lambda z: cnp.exp(z) * z + 1.0, z)
    k = cuda.kernel_source(g).elementwise
    assert k.in_params == "complex64 in0" and "const complex<float> t0 = exp(in0);" in k.operation
    assert "complex<float>(1.0f, 0.0f)" in k.operation
    with pytest.raises(cuda.Unsupported):  # no complex expm1 in CuPy's complex<T>
        cuda.kernel_source(one_group(lambda z: cnp.expm1(z) * z, z)[0])


def test_float16_has_no_kernel():
    x = np.ones(10, np.float16)
    with pytest.raises(cuda.Unsupported, match="float16"):
        cuda.kernel_source(one_group(lambda x: cnp.sin(x) * x, x)[0])


# --- the lowering --------------------------------------------------------------------------------


def test_a_group_without_a_mapping_falls_back_to_plain_calls():
    x = rng.standard_normal(1 << 16)
    program = cr.make_graph(lambda x: cnp.sum(cnp.sin(x) % 0.5 + x))(x)
    (g,) = groups_of(program)
    with pytest.raises(cuda.Unsupported, match="mod"):
        cuda.kernel_source(g)
    src = cuda.lower_cupy(program).source
    assert "# unfused: no CUDA mapping of mod" in src and "_call(_mod_p" in src
    assert "cupy.ElementwiseKernel" not in src and "_call(_sum_p" in src


def test_lower_cupy_launches_a_kernel_per_group_and_calls_the_namespace_otherwise():
    a = rng.standard_normal((300, 300)).astype(np.float32)
    program = cr.make_graph(lambda a: cnp.tanh(a @ a) * 2.0 + 1.0)(a)
    exe = cuda.lower_cupy(program, "f")
    src = exe.source
    assert src.startswith("# cr_fused_") and "cupy.ElementwiseKernel" in src
    body = src[src.index("def f(a):"):]
    assert "_call(_matmul_p, (a, a), _no_params)" in body
    assert re.search(r"\n    c, = _kernel0\(b\)\n", body), body
    assert not any(ln.startswith("const") for ln in body.splitlines())  # comments above
    fused = cuda.lower_cupy(program, "f", fuse=False).source
    assert "_kernel" not in fused and "_call(_tanh_p" in fused


def test_dead_kernel_outputs_receive_later_kernel_outputs():
    x = rng.standard_normal((64, 256)).astype(np.float32)

    def f(x):
        u = cnp.tanh(x) * 2.0
        m = cnp.max(u, axis=0)  # not fusible: closes the group; u dies here
        return cnp.cos(x) * 3.0 + 1.0, m

    src = cuda.lower_cupy(cr.make_graph(f)(x)).source
    assert re.search(r" = _kernel1\(a, out=\(b,\)\)", src), src


def test_a_value_a_plain_call_may_return_as_it_is_is_never_reused():
    x = rng.standard_normal(1 << 14).astype(np.float32)

    def f(x):
        s = cnp.cumsum(cnp.tanh(x) * 2.0)  # same size and dtype: it might be its operand
        return cnp.sin(s) * 3.0

    src = cuda.lower_cupy(cr.make_graph(f)(x)).source
    assert "out=" not in src


def test_jit_on_numpy_and_strict_arrays_is_unchanged():
    x = rng.standard_normal(1 << 17).astype(np.float32)
    assert "cupy" not in cr.jit(cr.grad(w10_f)).source(x)
    xp = pytest.importorskip("array_api_strict")
    src = cr.jit(cr.grad(w10_f)).source(xp.asarray(x, device=xp.Device("device1")))
    assert "_call(" in src and "cupy" not in src


def test_the_cupy_lowering_is_chosen_by_the_inputs_module_name(monkeypatch):
    """CuPy's arrays are known by their device's module (``cupy.cuda.device``): nothing
    imports CuPy to tell."""
    from types import SimpleNamespace as NS

    from chainrule.transforms import jit as jit_module

    Device = type("Device", (), {"__module__": "cupy.cuda.device"})
    assert cuda.on_cupy(NS(invars=[NS(aval=NS(device=Device()))], consts=[]))
    assert not cuda.on_cupy(NS(invars=[NS(aval=NS(device="device1"))], consts=[]))
    x = np.ones(1 << 16, np.float32)
    program = cr.jit(cr.grad(w10_f)).lower(x).program
    monkeypatch.setattr(cuda, "on_cupy", lambda program: True)
    src = jit_module._lower_foreign(program, "g").source
    assert "# " + W10_GRAD_F32.splitlines()[0] in src
    assert "    b, = _kernel0(a)\n" in src


# --- CUDA graphs (cr.config.jit_cuda_graphs), on a stand-in for CuPy ----------------------------


class _FakeCupy:
    """What `cuda.GraphRunner` uses of CuPy, over NumPy arrays: a graph's launch runs the
    recorded program again on the static input buffers and writes its results into the
    recorded output buffers (what replaying fixed kernels on fixed memory does)."""

    ndarray = np.ndarray

    def __init__(self) -> None:
        self.runner = None
        self.captures = 0
        self.fail_capture = False
        fake = self

        class Stream:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def begin_capture(self):
                if fake.fail_capture:
                    raise RuntimeError("operation not permitted when stream is capturing")
                fake.captures += 1

            def end_capture(self):
                return Graph()

        class Graph:
            def launch(self, stream):
                r = fake.runner
                outs, _ = r.recorded(*r.inputs)
                for dst, src in zip(r.outputs, outs):
                    dst[...] = src

        self.cuda = type("cuda", (), {"Stream": Stream})

    class _Device(np.ndarray):
        def set(self, host):  # cupy.ndarray.set: a copy from the host
            np.copyto(self, host)

    @classmethod
    def asarray(cls, a):
        return np.array(a).view(cls._Device)

    @staticmethod
    def empty_like(a):
        return np.empty_like(a)

    @staticmethod
    def copyto(dst, src):
        np.copyto(dst, src)


def _graph_runner(fake, f=lambda x, y: cnp.tanh(x * y) + x):
    """A runner of `f`'s CuPy lowering, unfused (its plain calls run on NumPy arrays here)."""
    x = np.linspace(-1.0, 1.0, 64)
    program = cr.make_graph(f)(x, x)
    runner = cuda.GraphRunner(cuda.lower_cupy(program, "f", fuse=False).run,
                              lambda: cuda.lower_cupy(program, "f", False, capture=True).run,
                              "f", cupy=fake)  # fmt: skip
    fake.runner = runner
    return runner, f


def test_a_graph_is_recorded_on_the_second_call_and_replayed_after(graphs_on):
    fake = _FakeCupy()
    runner, f = _graph_runner(fake)
    xs = [np.linspace(-1.0, 1.0, 64) * k for k in (1.0, 0.5, -2.0, 3.0)]
    results = [runner(x, x) for x in xs]
    assert fake.captures == 1 and runner.graph is not None and runner.failed is None
    for x, (got,) in zip(xs, results):
        np.testing.assert_array_equal(got, f(x, x))  # the replays compute the new arguments
    kept = [r[0].copy() for r in results]
    runner(xs[0] * 7.0, xs[0])  # a later call never overwrites a result it returned
    for r, k in zip(results, kept):
        np.testing.assert_array_equal(r[0], k)
        assert not np.shares_memory(r[0], runner.outputs[0])
    assert all(not np.shares_memory(b, x) for b in runner.inputs for x in xs)


def test_graphs_are_off_unless_asked():
    fake = _FakeCupy()
    runner, f = _graph_runner(fake)
    x = np.ones(64)
    for _ in range(3):
        np.testing.assert_array_equal(runner(x, x)[0], f(x, x))
    assert fake.captures == 0 and runner.graph is None


def test_a_recording_that_fails_runs_the_program_as_it_is_with_one_warning(graphs_on):
    fake = _FakeCupy()
    fake.fail_capture = True
    runner, f = _graph_runner(fake)
    x = np.linspace(0.0, 1.0, 64)
    runner(x, x)
    with pytest.warns(RuntimeWarning, match=r"not replayed as a CUDA graph \(RuntimeError"):
        got = runner(x, x)
    np.testing.assert_array_equal(got[0], f(x, x))
    np.testing.assert_array_equal(runner(x * 2, x)[0], f(x * 2, x))  # no second warning
    assert runner.graph is None and "capturing" in runner.failed


def test_arguments_that_are_not_cupy_arrays_are_never_recorded(graphs_on):
    fake = _FakeCupy()
    fake.ndarray = type("NotThis", (), {})
    runner, f = _graph_runner(fake)
    x = np.ones(64)
    runner(x, x)
    with pytest.warns(RuntimeWarning, match="not a CuPy array"):
        runner(x, x)
    assert fake.captures == 0


def test_a_second_thread_runs_the_program_while_one_replays(graphs_on):
    fake = _FakeCupy()
    runner, f = _graph_runner(fake)
    x = np.linspace(-1.0, 1.0, 64)
    runner(x, x)
    runner(x, x)
    runner.lock.acquire()  # as if another thread were replaying
    try:
        np.testing.assert_array_equal(runner(x * 3, x)[0], f(x * 3, x))
    finally:
        runner.lock.release()


def test_the_recorded_version_keeps_every_value_it_makes():
    x = np.ones(1 << 13)
    program = cr.make_graph(lambda x: cnp.sum(cnp.exp(x) * cnp.sin(x)) + cnp.tanh(x))(x)
    plain = cuda.lower_cupy(program, "f").source
    kept = cuda.lower_cupy(program, "f", capture=True).source
    assert "del " in plain and "del " not in kept
    assert kept.rstrip().splitlines()[-1].strip() == "return _outputs((a,), (d,)), (c, b, d)"


def test_programs_that_draw_numbers_are_never_replayed(monkeypatch):
    from chainrule.transforms import jit as jit_module

    monkeypatch.setattr(cuda, "on_cupy", lambda program: True)
    x = np.ones(8)
    drawn = cr.make_graph(lambda x: x + cnp.random.normal(size=8))(x)
    plain = cr.make_graph(lambda x: cnp.sin(x) * 2.0)(x)
    assert type(jit_module._lower_foreign(plain, "f").run) is cuda.GraphRunner
    assert type(jit_module._lower_foreign(drawn, "g").run) is not cuda.GraphRunner


def test_a_captured_array_the_caller_changes_is_seen_by_the_replays(graphs_on):
    fake = _FakeCupy()
    c = np.linspace(1.0, 2.0, 64)
    runner, f = _graph_runner(fake, lambda x, y: cnp.tanh(x * y) + c)
    x = np.linspace(-1.0, 1.0, 64)
    runner(x, x)
    runner(x, x)
    assert runner.graph is not None and len(runner.consts) == 1
    c[:] = -5.0  # changed in place after the recording
    np.testing.assert_array_equal(runner(x, x)[0], np.tanh(x * x) - 5.0)


@pytest.mark.parametrize("seed", range(40))
def test_the_kernels_of_random_programs_compute_what_numpy_computes(seed):
    """tests/test_jit_fuzz.py's random programs and their gradients: every group the GPU
    plan makes (from 2 elements) is a kernel whose interpretation gives NumPy's values."""
    from test_jit_fuzz import random_program

    f = random_program(seed)
    r = np.random.default_rng(seed)
    x, y = r.uniform(-1, 1, (4, 16)), r.uniform(-1, 1, (4, 16))
    loss = lambda x, y: sum(cnp.sum(o) for o in f(x, y))  # noqa: E731
    checked = 0
    for program in (cr.jit(f).lower(x, y).program,  # after jit's passes (no dead code)
                    cr.jit(cr.grad(loss, argnums=(0, 1))).lower(x, y).program):  # fmt: skip
        env = values(program, [x, y])
        for g in groups_of(program):
            check_group(g, env, atol=1e-12)
            checked += 1
    if not checked:
        pytest.skip("no fusible chain in this program")
