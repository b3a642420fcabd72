"""The one list of primitives. Everything in ``chainrule.numpy`` is built from these.

Each transformation has one rule table keyed by these objects (``chainrule/rules``):
``impl_rules`` (evaluation), ``shape_rules`` (abstract evaluation) and ``vjp_rules``
(reverse mode). ``tests/test_rule_coverage.py`` fails when a primitive lacks a rule.
"""

from chainrule.core.trace import Primitive

# fmt: off
# Elementwise, one operand, differentiable.
UNARY = [
    "neg", "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt", "cbrt", "square",
    "reciprocal", "abs", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh",
    "tanh", "arcsinh", "arccosh", "arctanh", "sinc", "real", "imag", "conj", "deg2rad",
    "rad2deg",
]
# Elementwise, two operands, differentiable.
BINARY = [
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmax", "fmin", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "mod", "fmod",
]
# Elementwise and integer-valued or boolean: their output carries no gradient.
NONDIFF = [
    "sign", "floor", "ceil", "trunc", "rint", "round", "floor_divide", "isnan", "isinf",
    "isfinite", "signbit", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or", "logical_xor", "logical_not",
    "argmax", "argmin", "argsort", "any", "all", "nonzero",
]
# fmt: on

_g = globals()
for _name in UNARY + BINARY + NONDIFF:
    _g[_name + "_p"] = Primitive(_name)

# Selection, conversion and the rest of the differentiable primitives.
where_p = Primitive("where")  # where(cond, x, y)
clip_p = Primitive("clip")  # clip(x, lo, hi)
astype_p = Primitive("astype")  # astype(x, dtype)
sum_p = Primitive("sum")  # sum(x, axis, keepdims)
mean_p = Primitive("mean")
prod_p = Primitive("prod")
amax_p = Primitive("amax")
amin_p = Primitive("amin")
cumsum_p = Primitive("cumsum")  # cumsum(x, axis)
cumprod_p = Primitive("cumprod")
reshape_p = Primitive("reshape")  # reshape(x, shape)
transpose_p = Primitive("transpose")  # transpose(x, axes)
broadcast_to_p = Primitive("broadcast_to")  # broadcast_to(x, shape)
concatenate_p = Primitive("concatenate")  # concatenate(*xs, axis)
pad_p = Primitive("pad")  # pad(x, pad_width) with zeros
getitem_p = Primitive("getitem")  # getitem(x, index)
index_add_p = Primitive("index_add")  # index_add(x, index, y): x with y added at index
index_set_p = Primitive("index_set")  # index_set(x, index, y): x with y written at index
matmul_p = Primitive("matmul")
einsum_p = Primitive("einsum")  # einsum(*operands, subscripts)
inv_p = Primitive("inv")
det_p = Primitive("det")
slogdet_p = Primitive("slogdet", multiple_results=True)
solve_p = Primitive("solve")
cholesky_p = Primitive("cholesky")
eigh_p = Primitive("eigh", multiple_results=True)
svd_p = Primitive("svd", multiple_results=True)
qr_p = Primitive("qr", multiple_results=True)
stop_gradient_p = Primitive("stop_gradient")

ALL = [p for p in _g.values() if isinstance(p, Primitive)]
NONDIFF_PRIMS = frozenset(_g[n + "_p"] for n in NONDIFF)
