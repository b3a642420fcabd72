"""The one list of primitives, with what is known about each of them.

A `Primitive` is plain data: a name and metadata. What it *does* under each transformation is
a row in that transformation's rule table (``chainrule/rules``): ``impl`` (evaluation),
``shape`` (abstract evaluation), ``vjp`` (reverse mode), ``jvp`` (forward mode), ``batching``
(vmap) and ``transpose`` (for the linear ones). ``tests/test_rules.py`` fails when a primitive
lacks a rule.

Metadata:
- ``elementwise``: the result has the broadcast shape of the operands, and element i of it
  depends on element i of each operand only;
- ``nondiff``: integer or boolean result: no derivative flows through it;
- ``linear``: linear in its differentiable operands (its VJP is its transpose);
- ``view``: the result may share memory with the first operand (Tensors share its version);
- ``multiple_results``: returns a tuple;
- ``ndiff``: how many leading operands are differentiable (None: all of them); the rest are
  integer index arrays;
- ``xp``: how it runs on arrays of another array-API namespace (``core/namespace.py``):
  "array_api" (one function of the standard, named ``xp_name`` there), "composition" (of
  array-API functions or other primitives; ``xp_name`` gives the formula) or "numpy_only"
  (an error naming the namespace); docs/namespaces.md is the table.

>>> sin_p, sin_p.elementwise, reshape_p.linear, getitem_p.view
(sin, True, True, True)
>>> arcsin_p.xp, arcsin_p.xp_name, einsum_p.xp
('array_api', 'asin', 'numpy_only')
"""

from __future__ import annotations

from typing import Any


class Primitive:
    """An operation, as data. `impl` is filled by the impl table (a cached copy of its row).

    >>> Primitive("my_op")
    my_op
    """

    __slots__ = ("name", "elementwise", "nondiff", "linear", "view", "multiple_results",
                 "ndiff", "impl", "xp", "xp_name", "xp_impl", "__weakref__")  # fmt: skip

    def __init__(self, name: str, *, elementwise: bool = False, nondiff: bool = False,
                 linear: bool = False, view: bool = False, multiple_results: bool = False,
                 ndiff: int | None = None):  # fmt: skip
        self.name = name
        self.elementwise = elementwise
        self.nondiff = nondiff
        self.linear = linear
        self.view = view
        self.multiple_results = multiple_results
        self.ndiff = ndiff
        self.impl: Any = None
        self.xp: str | None = None  # "array_api", "composition" or "numpy_only"
        self.xp_name: str | None = None
        self.xp_impl: Any = None  # impl(ns, *values, **params) on a namespace's arrays

    def __repr__(self) -> str:
        return self.name


ALL: list[Primitive] = []


def _def(name: str, **meta: Any) -> Primitive:
    p = Primitive(name, **meta)
    ALL.append(p)
    globals()[name + "_p"] = p
    return p


# fmt: off
#: Elementwise, one operand, differentiable.
UNARY = [
    "neg", "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "cbrt", "square",
    "reciprocal", "abs", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "arcsinh", "arccosh", "arctanh", "sinc", "real", "imag", "conj", "deg2rad",
    "rad2deg",
]
#: Elementwise, two operands, differentiable.
BINARY = [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmax", "fmin", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "mod", "fmod",
]
#: Elementwise, integer-valued or boolean: no gradient.
NONDIFF_ELEMENTWISE = [
    "sign", "floor", "ceil", "trunc", "rint", "round", "floor_divide", "isnan", "isinf",
    "isfinite", "signbit", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
]
_LINEAR_EW = {"neg", "real", "imag", "conj", "deg2rad", "rad2deg", "add", "sub"}
# fmt: on

for _n in UNARY + BINARY:
    _def(_n, elementwise=True, linear=_n in _LINEAR_EW, view=_n in ("real", "imag"))
for _n in NONDIFF_ELEMENTWISE:
    _def(_n, elementwise=True, nondiff=True)
# integer_pow(x, y): x**y for a static Python int y, by multiplications (square and multiply,
# JAX's lax.integer_pow): PyTorch's x**3 and x**-2 on Tensors, bit for bit. NumPy's `power`,
# which `cnp.power` and traced values keep, calls pow() instead (an ulp or two apart).
integer_pow_p = _def("integer_pow", elementwise=True)

# Integer or boolean results of whole arrays.
argmax_p = _def("argmax", nondiff=True)  # argmax(x, axis, keepdims)
argmin_p = _def("argmin", nondiff=True)
argsort_p = _def("argsort", nondiff=True)  # argsort(x, axis, kind)
any_p = _def("any", nondiff=True)  # any(x, axis, keepdims)
all_p = _def("all", nondiff=True)
nonzero_p = _def("nonzero", nondiff=True, multiple_results=True)  # data-dependent shape

# Selection and conversion.
where_p = _def("where", elementwise=True, ndiff=None)  # where(cond, x, y): cond carries none
clip_p = _def("clip", elementwise=True)  # clip(x, lo, hi)
astype_p = _def("astype", elementwise=True, linear=True)  # astype(x, dtype)
stop_gradient_p = _def("stop_gradient", elementwise=True, view=True)  # stop_gradient(x)
# device_put(x, device, src): x moved from device `src` to `device` (core.namespace.transfer)
device_put_p = _def("device_put", linear=True)

# Reductions and scans (axis: a sorted tuple of axes, or None for all).
sum_p = _def("sum", linear=True)  # sum(x, axis, keepdims)
mean_p = _def("mean", linear=True)
prod_p = _def("prod")
amax_p = _def("amax")
amin_p = _def("amin")
cumsum_p = _def("cumsum", linear=True)  # cumsum(x, axis)
cumprod_p = _def("cumprod")

# Shapes.
reshape_p = _def("reshape", linear=True, view=True)  # reshape(x, shape)
transpose_p = _def("transpose", linear=True, view=True)  # transpose(x, axes)
broadcast_to_p = _def("broadcast_to", linear=True, view=True)  # broadcast_to(x, shape)
concatenate_p = _def("concatenate", linear=True)  # concatenate(*xs, axis)
pad_p = _def("pad", linear=True)  # pad(x, pad_width): zeros around

# Indexing: index arrays are operands after the differentiable ones; `index` is the static
# part (see core.ops.index_spec).
getitem_p = _def("getitem", linear=True, view=True, ndiff=1)  # getitem(x, *arrays, index)
index_add_p = _def("index_add", linear=True, ndiff=2)  # index_add(x, y, *arrays, index)
index_set_p = _def("index_set", linear=True, ndiff=2)  # index_set(x, y, *arrays, index)

# Products.
matmul_p = _def("matmul")
einsum_p = _def("einsum")  # einsum(*xs, subscripts): explicit form, no ellipsis

# Linear algebra (batched over leading axes).
inv_p = _def("inv")
det_p = _def("det")
slogdet_p = _def("slogdet", multiple_results=True)
solve_p = _def("solve")
cholesky_p = _def("cholesky")
eigh_p = _def("eigh", multiple_results=True)
svd_p = _def("svd", multiple_results=True)
qr_p = _def("qr", multiple_results=True)
eig_p = _def("eig", multiple_results=True)  # (w, v), always complex (as JAX)

# Fourier transforms: fft(x, fft_type, fft_lengths) over the last len(fft_lengths) axes;
# fft_type is "fft", "ifft", "rfft" or "irfft" (unnormalised forward, 1/n inverse, as NumPy's
# norm="backward"); the public functions move axes and scale (rules: rules/fft.py).
fft_p = _def("fft", linear=True)

# A NumPy-level function (SciPy's kernels) called on concrete values, carrying its derivative
# rules: callback(*xs, spec) (rules: rules/callback.py).
callback_p = _def("callback", multiple_results=True)
random_p = _def("random", nondiff=True)  # random(source, *params, dist, size, dtype, kw)

# Collectives over a named axis (vmap's axis_name; later, processes).
psum_p = _def("psum", linear=True)  # psum(x, axis_name)
pmax_p = _def("pmax")
all_gather_p = _def("all_gather", linear=True)  # all_gather(x, axis_name)
axis_index_p = _def("axis_index", nondiff=True)  # axis_index(axis_name)

# Primitives that carry functions (custom rules, checkpointing).
custom_vjp_call_p = _def("custom_vjp_call", multiple_results=True)
custom_jvp_call_p = _def("custom_jvp_call", multiple_results=True)
checkpoint_p = _def("checkpoint", multiple_results=True)
jit_p = _def("jit", multiple_results=True)  # jit(*xs, call): a compiled program (transforms/jit)
# Control flow (transforms/control.py): programs as parameters, closed-over values as operands.
cond_p = _def("cond", multiple_results=True)  # cond(index, *args, branches)
while_p = _def("while", multiple_results=True)  # while(*cconsts, *bconsts, *carry, cond, body, ...)
scan_p = _def("scan", multiple_results=True)  # scan(*consts, *carry, *xs, body, length, ...)
while_fwd_p = _def("while_fwd", multiple_results=True)  # keeps carry checkpoints (reverse)
while_bwd_p = _def("while_bwd", multiple_results=True)  # its backward: replays segments

# How each primitive runs on arrays of another array-API namespace: its name in the array API
# (where it has one), or the composition that computes it, or NumPy only (docs/namespaces.md).
# fmt: off
_ARRAY_API = {
    "neg": "negative", "exp": "exp", "expm1": "expm1", "log": "log", "log1p": "log1p",
    "log2": "log2", "log10": "log10", "sqrt": "sqrt", "square": "square",
    "reciprocal": "reciprocal", "abs": "abs", "sin": "sin", "cos": "cos", "tan": "tan",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh",
    "tanh": "tanh", "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
    "real": "real", "imag": "imag", "conj": "conj",
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "pow": "pow",
    "maximum": "maximum", "minimum": "minimum", "arctan2": "atan2", "hypot": "hypot",
    "logaddexp": "logaddexp", "mod": "remainder",
    "sign": "sign", "floor": "floor", "ceil": "ceil", "trunc": "trunc", "rint": "round",
    "floor_divide": "floor_divide", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite", "signbit": "signbit", "equal": "equal", "not_equal": "not_equal",
    "less": "less", "less_equal": "less_equal", "greater": "greater",
    "greater_equal": "greater_equal", "logical_and": "logical_and",
    "logical_or": "logical_or", "logical_xor": "logical_xor", "logical_not": "logical_not",
    "argmax": "argmax", "argmin": "argmin", "argsort": "argsort", "any": "any",
    "all": "all", "nonzero": "nonzero", "where": "where", "astype": "astype",
    "sum": "sum", "mean": "mean", "prod": "prod", "amax": "max", "amin": "min",
    "cumsum": "cumulative_sum", "cumprod": "cumulative_prod", "reshape": "reshape",
    "transpose": "permute_dims", "broadcast_to": "broadcast_to", "concatenate": "concat",
    "matmul": "matmul", "inv": "linalg.inv", "det": "linalg.det", "slogdet": "linalg.slogdet",
    "solve": "linalg.solve", "cholesky": "linalg.cholesky", "svd": "linalg.svd",
    "qr": "linalg.qr", "fft": "fft.fftn / ifftn / rfftn / irfftn",
}
_COMPOSITION = {
    "exp2": "`pow(2, x)`", "integer_pow": "`multiply` repeated, `1 / ...` for y < 0",
    "cbrt": "`sign(x) * abs(x) ** (1/3)`",
    "sinc": "`sin(πx) / (πx)`, 1 at 0", "deg2rad": "`x * (π/180)`", "rad2deg": "`x * (180/π)`",
    "fmax": "`maximum` ignoring NaNs (`where(isnan(y), x, ...)`)",
    "fmin": "`minimum` ignoring NaNs (`where(isnan(y), x, ...)`)",
    "logaddexp2": "`logaddexp(x ln2, y ln2) / ln2`",
    "fmod": "`sign(x) * remainder(abs(x), abs(y))`",
    "round": "`round(x * 10**d) / 10**d` (NumPy's formula)",
    "clip": "`minimum(maximum(x, lo), hi)` (NumPy's order)", "stop_gradient": "the identity",
    "device_put": "`asarray` on the other device (`to_device`, DLPack or the host)",
    "pad": "`zeros` and a slice assignment",
    "getitem": "basic indices as they are; integer arrays by flat positions and `take`",
    "index_add": "slice assignment; with integer arrays a one-hot product (`matmul`)",
    "index_set": "slice assignment; with integer arrays a one-hot selection of the last write",
    "eigh": "`linalg.eigh` of the triangle `UPLO` names, made Hermitian",
    "psum": "the named axis's handler", "pmax": "the named axis's handler",
    "all_gather": "the named axis's handler", "axis_index": "the named axis's handler",
    "custom_vjp_call": "its function's primitives", "custom_jvp_call": "its function's primitives",
    "checkpoint": "its function's primitives", "jit": "its program, lowered to plain calls",
    "cond": "its branch's program", "while": "its programs, in a Python loop",
    "scan": "its body's program in a Python loop, `stack`",
    "while_fwd": "its programs in a Python loop, checkpoints by slice assignment",
    "while_bwd": "its programs in a Python loop",
}
_NUMPY_ONLY = {"einsum", "eig", "callback", "random"}
# fmt: on
for _p in ALL:
    if _p.name in _ARRAY_API:
        _p.xp, _p.xp_name = "array_api", _ARRAY_API[_p.name]
    elif _p.name in _COMPOSITION:
        _p.xp, _p.xp_name = "composition", _COMPOSITION[_p.name]
    elif _p.name in _NUMPY_ONLY:
        _p.xp = "numpy_only"

#: primitives whose results carry no gradient
NONDIFF = frozenset(p for p in ALL if p.nondiff)
ELEMENTWISE = frozenset(p for p in ALL if p.elementwise)
COLLECTIVES = frozenset({psum_p, pmax_p, all_gather_p, axis_index_p})
