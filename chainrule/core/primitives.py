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
  integer index arrays.

>>> sin_p, sin_p.elementwise, reshape_p.linear, getitem_p.view
(sin, True, True, True)
"""

from __future__ import annotations

from typing import Any


class Primitive:
    """An operation, as data. `impl` is filled by the impl table (a cached copy of its row).

    >>> Primitive("my_op")
    my_op
    """

    __slots__ = ("name", "elementwise", "nondiff", "linear", "view", "multiple_results",
                 "ndiff", "impl", "__weakref__")  # fmt: skip

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

#: primitives whose results carry no gradient
NONDIFF = frozenset(p for p in ALL if p.nondiff)
ELEMENTWISE = frozenset(p for p in ALL if p.elementwise)
COLLECTIVES = frozenset({psum_p, pmax_p, all_gather_p, axis_index_p})
