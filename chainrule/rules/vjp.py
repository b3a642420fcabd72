"""Reverse-mode rules: one row per primitive, one rule per differentiable operand.

A row is ``defvjp(prim, reads_0, rule_0, reads_1, rule_1, ...)``. Rule i gives the cotangent
of operand i: it is called as ``rule(g, ans, *operands, **params)`` and `reads_i` declares,
by the rule's own parameter names, which of ``ans`` and the operands it reads (``"arrays"``
stands for all the integer index operands). The recording trace keeps exactly the declared
values, so ``mul`` by a constant keeps the constant and not both operands. A value a rule
does not declare is given to it as a placeholder that has only ``.shape``, ``.dtype`` and
``.ndim`` (``tests/test_rules.py`` runs every rule that way). Rules are written with
``core.ops``, so they are themselves differentiable (higher derivatives come free), and they
never branch on values (they run on abstract values too: ``cr.eval_shape`` of a gradient).

The backward pass un-broadcasts and casts what a rule returns to its operand's shape and
dtype; rules don't. Complex numbers follow JAX's (and HIPS autograd's) convention: for a
holomorphic f the rule is ``g * f'(x)``, without conjugation.
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import linalg as la
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.ops import count, has_arrays
from chainrule.core.trace import bind


class VJP:
    """The reverse-mode row of one primitive: per-operand `rules` and what each reads.

    `reads[i]` is a frozenset of positions in ``(ans, *operands)``; ``-1`` stands for all
    operands from `first_array` on (the index arrays). A `varargs` row has one function
    ``fn(i, g, ans, *operands, **params)`` for any number of operands; a `joint` row one
    function ``joint(g, *saved, **params)`` giving every operand's cotangent at once (the
    primitives that carry functions, whose nodes save what their own processing chose).

    A joint row with `inputs` saves ``(ans, *operands, *more)``: to record a backward pass
    (create_graph on Tensors), the operands can be lifted into the graph, and the joint then
    gets ``ans`` as `LIFTED` (when it was None) and must compute from the operands only.
    """

    __slots__ = ("rules", "reads", "varargs", "fn", "varargs_reads", "joint", "simple",
                 "inputs")

    def __init__(self, rules: tuple = (), reads: tuple = (), fn: Callable | None = None,
                 varargs_reads: str = "", joint: Callable | None = None,
                 inputs: bool = False):  # fmt: skip
        self.inputs = inputs
        self.rules = rules
        self.reads = reads
        self.varargs = fn is not None
        self.fn = fn
        self.varargs_reads = varargs_reads
        self.joint = joint
        self.simple = None if (fn is not None or joint is not None) else self.rules


class _Lifted:
    """The `ans` a joint rule gets while a backward pass is recorded (its operands are
    values in the graph: what it saved besides them does not depend on them)."""

    def __repr__(self) -> str:
        return "LIFTED"


LIFTED = _Lifted()

#: vjp_rules[prim] -> VJP
vjp_rules: dict[P.Primitive, VJP] = {}


def same(g: Any, *_: Any) -> Any:
    """The rule of an operand that passes into the result unchanged (add's): the cotangent
    itself. The fast backward pass knows it and skips the call.

    >>> same(1.5, None, 2.0, 3.0)
    1.5
    """
    return g


def _positions(rule: Callable, reads: str) -> frozenset:
    """Positions in (ans, *operands) of the names in `reads`, by `rule`'s parameter names."""
    code = rule.__code__
    names = list(code.co_varnames[1 : code.co_argcount])  # the positional parameters after g
    out = set()
    for word in reads.split():
        if word == "arrays":
            out.add(-1)
        elif word not in names:
            raise ValueError(f"defvjp: {word!r} is not a parameter of the rule {names}")
        else:
            out.add(names.index(word))
    return frozenset(out)


def defvjp(prim: P.Primitive, *pairs: Any) -> None:
    """Register `prim`'s rules: ``reads, rule`` per operand (``None, None``: no gradient)."""
    reads, rules = [], []
    for r, rule in zip(pairs[::2], pairs[1::2]):
        rules.append(rule)
        reads.append(frozenset() if rule is None else _positions(rule, r))
    vjp_rules[prim] = VJP(tuple(rules), tuple(reads))


def defvjp_varargs(prim: P.Primitive, reads: str, fn: Callable) -> None:
    """Register one rule ``fn(i, g, ans, *operands)`` for every operand; `reads` is ""
    (nothing), "operands" or "ans operands"."""
    vjp_rules[prim] = VJP(fn=fn, varargs_reads=reads)


_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _is_complex(x: Any) -> bool:
    return x.dtype.kind == "c"


def _safe(x: Any, bad: Any, fill: float) -> Any:
    return cnp.where(bad, fill, x)


def _T(x: Any) -> Any:
    return x.mT


def _abs(g, ans, x):
    if _is_complex(x):  # g · conj(x)/|x|, 0 at 0
        return g * cnp.conj(x) / _safe(ans, ans == 0, 1.0)
    return g * cnp.sign(x)


def _sinc(g, ans, x):
    zero = x == 0
    # at 0 the derivative is 0; written as -π²x/3 there so that its own derivative is right
    return g * cnp.where(zero, x * (-np.pi**2 / 3),
                         (cnp.cos(np.pi * x) - ans) / _safe(x, zero, 1.0))  # fmt: skip


def _pow_x(g, ans, x, y):
    if isinstance(y, (int, float)):  # a Python exponent: known while tracing
        if y == 0:
            return g * 0.0
        if y == 2:
            return g * (2 * x)
        return g * (y * x ** (y - 1))
    return g * cnp.where(y == 0, 0.0, y * x ** (y - 1))


def _pow_y(g, ans, x, y):
    zero = x == 0
    return g * cnp.where(zero, 0.0, ans * cnp.log(_safe(x, zero, 1.0)))


def _tie(x: Any, y: Any, first: Any) -> Any:
    """Weight of x when max/min picks between x and y: 1 chosen, 0 not, 0.5 on ties."""
    return cnp.where(first, 1.0, cnp.where(x == y, 0.5, 0.0))


def _fminmax_weight(x, y, first):
    return cnp.where(cnp.isnan(y), 1.0, cnp.where(cnp.isnan(x), 0.0, _tie(x, y, first)))


# fmt: off
#       primitive        reads  rule
defvjp(P.neg_p,          "",    lambda g, ans, x: -g)
defvjp(P.exp_p,          "ans", lambda g, ans, x: g * ans)
defvjp(P.expm1_p,        "ans", lambda g, ans, x: g * (ans + 1))
defvjp(P.exp2_p,         "ans", lambda g, ans, x: g * (ans * _LN2))
defvjp(P.log_p,          "x",   lambda g, ans, x: g / x)
defvjp(P.log1p_p,        "x",   lambda g, ans, x: g / (x + 1))
defvjp(P.log2_p,         "x",   lambda g, ans, x: g / (x * _LN2))
defvjp(P.log10_p,        "x",   lambda g, ans, x: g / (x * _LN10))
defvjp(P.sqrt_p,         "ans", lambda g, ans, x: g / (2 * ans))
defvjp(P.cbrt_p,         "ans", lambda g, ans, x: g / (3 * (ans * ans)))
defvjp(P.square_p,       "x",   lambda g, ans, x: g * (2 * x))
defvjp(P.reciprocal_p,   "ans", lambda g, ans, x: -g * (ans * ans))
defvjp(P.abs_p,          "ans x", _abs)
defvjp(P.sin_p,          "x",   lambda g, ans, x: g * cnp.cos(x))
defvjp(P.cos_p,          "x",   lambda g, ans, x: -g * cnp.sin(x))
defvjp(P.tan_p,          "ans", lambda g, ans, x: g * (1 + ans * ans))
defvjp(P.arcsin_p,       "x",   lambda g, ans, x: g / cnp.sqrt((1 - x) * (1 + x)))
defvjp(P.arccos_p,       "x",   lambda g, ans, x: -g / cnp.sqrt((1 - x) * (1 + x)))
defvjp(P.arctan_p,       "x",   lambda g, ans, x: g / (1 + x * x))
defvjp(P.sinh_p,         "x",   lambda g, ans, x: g * cnp.cosh(x))
defvjp(P.cosh_p,         "x",   lambda g, ans, x: g * cnp.sinh(x))
defvjp(P.tanh_p,         "ans", lambda g, ans, x: g * (1 - ans * ans))
defvjp(P.arcsinh_p,      "x",   lambda g, ans, x: g / cnp.sqrt(x * x + 1))
defvjp(P.arccosh_p,      "x",   lambda g, ans, x: g / (cnp.sqrt(x - 1) * cnp.sqrt(x + 1)))
defvjp(P.arctanh_p,      "x",   lambda g, ans, x: g / ((1 - x) * (1 + x)))
defvjp(P.sinc_p,         "ans x", _sinc)
defvjp(P.real_p,         "",    same)
# (imag: g first, as -1j * np.float64(g) would be a Python complex)
defvjp(P.imag_p,         "",    lambda g, ans, x: g * -1j)
defvjp(P.conj_p,         "",    lambda g, ans, x: cnp.conj(g))
defvjp(P.deg2rad_p,      "",    lambda g, ans, x: g * (np.pi / 180))
defvjp(P.rad2deg_p,      "",    lambda g, ans, x: g * (180 / np.pi))

defvjp(P.add_p,          "",    same,
                         "",    same)
defvjp(P.sub_p,          "",    same,
                         "",    lambda g, ans, x, y: -g)
defvjp(P.mul_p,          "y",   lambda g, ans, x, y: g * y,
                         "x",   lambda g, ans, x, y: g * x)
defvjp(P.div_p,          "y",   lambda g, ans, x, y: g / y,
                         "ans y", lambda g, ans, x, y: -g * ans / y)
defvjp(P.integer_pow_p,  "x",   lambda g, ans, x, y: g * (y * cnp.integer_pow(x, y - 1)))
defvjp(P.pow_p,          "x y", _pow_x,
                         "ans x", _pow_y)
defvjp(P.maximum_p,      "x y", lambda g, ans, x, y: g * _tie(x, y, x > y),
                         "x y", lambda g, ans, x, y: g * _tie(y, x, y > x))
defvjp(P.minimum_p,      "x y", lambda g, ans, x, y: g * _tie(x, y, x < y),
                         "x y", lambda g, ans, x, y: g * _tie(y, x, y < x))
defvjp(P.fmax_p,         "x y", lambda g, ans, x, y: g * _fminmax_weight(x, y, x > y),
                         "x y", lambda g, ans, x, y: g * _fminmax_weight(y, x, y > x))
defvjp(P.fmin_p,         "x y", lambda g, ans, x, y: g * _fminmax_weight(x, y, x < y),
                         "x y", lambda g, ans, x, y: g * _fminmax_weight(y, x, y < x))
defvjp(P.arctan2_p,      "x y", lambda g, ans, x, y: g * y / (x * x + y * y),
                         "x y", lambda g, ans, x, y: -g * x / (x * x + y * y))
defvjp(P.hypot_p,        "ans x", lambda g, ans, x, y: g * x / ans,
                         "ans y", lambda g, ans, x, y: g * y / ans)
defvjp(P.logaddexp_p,    "ans x", lambda g, ans, x, y: g * cnp.exp(x - ans),
                         "ans y", lambda g, ans, x, y: g * cnp.exp(y - ans))
defvjp(P.logaddexp2_p,   "ans x", lambda g, ans, x, y: g * cnp.exp2(x - ans),
                         "ans y", lambda g, ans, x, y: g * cnp.exp2(y - ans))
defvjp(P.mod_p,          "",    same,
                         "x y", lambda g, ans, x, y: -g * cnp.floor_divide(x, y))
defvjp(P.fmod_p,         "",    same,
                         "x y", lambda g, ans, x, y: -g * cnp.trunc(x / y))

defvjp(P.where_p,        None,  None,
                         "c",   lambda g, ans, c, x, y: cnp.where(c, g, 0.0),
                         "c",   lambda g, ans, c, x, y: cnp.where(c, 0.0, g))
defvjp(P.clip_p,         "x lo hi", lambda g, ans, x, lo, hi: g * ((x >= lo) & (x <= hi)),
                         "x lo hi", lambda g, ans, x, lo, hi: g * ((x < lo) & (lo <= hi)),
                         "x lo hi", lambda g, ans, x, lo, hi: g * ((x > hi) | (lo > hi)))
defvjp(P.astype_p,       "",    lambda g, ans, x, dtype: g)
defvjp(P.stop_gradient_p, None, None)
defvjp(P.device_put_p,   "",    lambda g, ans, x, device, src: cnp.move(g, src, device))
# fmt: on


# --- reductions and scans --------------------------------------------------------------------


def _keep(g: Any, shape: tuple, axis: tuple | None) -> Any:
    """`g`, reduced over `axis` of `shape`, reshaped as if with keepdims=True."""
    if axis is None:  # (all axes: the common case of a loss)
        return g.reshape((1,) * len(shape))
    return g.reshape(tuple(1 if i in axis else s for i, s in enumerate(shape)))


def _expand(g: Any, shape: tuple, axis: tuple | None) -> Any:
    """`g`, reduced over `axis`, broadcast back to `shape` (a view for large shapes)."""
    g = _keep(g, shape, axis)
    if type(g) is np.ndarray and math.prod(shape) < 1 << 14:
        out = np.empty(shape, g.dtype)  # small: a plain array beats numpy's broadcast_to
        out[...] = g
        return out
    return cnp.broadcast_to(g, shape)


def _minmax(g, ans, x, axis, keepdims):
    mask = x == _keep(ans, x.shape, axis)
    ties = cnp.astype(cnp.sum(mask, axis=axis, keepdims=True), g.dtype)
    return _keep(g, x.shape, axis) * mask / ties  # in g's dtype (an integer count: float64)


def prod_others(x: Any) -> Any:
    """For each i along the last axis, the product of all the other entries: by exclusive
    cumulative products from both sides, exact with zeros (no division)."""
    if x.shape[-1] == 0:
        return cnp.zeros_like(x)
    one = cnp.ones_like(x[..., :1])
    left = cnp.cumprod(cnp.concatenate([one, x[..., :-1]], axis=-1), axis=-1)
    right = cnp.flip(cnp.cumprod(cnp.concatenate([one, cnp.flip(x, -1)[..., :-1]], -1), -1), -1)
    return left * right


def _prod(g, ans, x, axis, keepdims):
    axes = tuple(range(x.ndim)) if axis is None else axis
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    perm = rest + axes
    xt = cnp.transpose(x, perm)
    lead = xt.shape[: len(rest)]
    others = prod_others(cnp.reshape(xt, lead + (math.prod(xt.shape[len(rest) :]),)))
    res = cnp.reshape(cnp.reshape(g, lead + (1,)) * others, xt.shape)
    return cnp.transpose(res, tuple(int(i) for i in np.argsort(perm)))


def _rev_cumsum(x: Any, axis: int) -> Any:
    return cnp.flip(cnp.cumsum(cnp.flip(x, axis), axis=axis), axis)


def reverse_recurrence(a: Any, b: Any) -> Any:
    """r with r[i] = b[i] + a[i] * r[i+1] along the last axis (r[n] = 0), by a doubling scan:
    log2(n) rounds of vectorised products and sums, exact with zeros, no branches."""
    n = b.shape[-1]
    s = 1
    while s < n:
        pad_b = cnp.concatenate([b[..., s:], cnp.zeros_like(b[..., :s])], axis=-1)
        pad_a = cnp.concatenate([a[..., s:], cnp.zeros_like(a[..., :s])], axis=-1)
        b = b + a * pad_b
        a = a * pad_a
        s *= 2
    return b


def _cumprod(g, ans, x, axis):
    """d ans_j / d x_i = prod_{k<=j, k!=i} x_k for i <= j. The cotangent of x_i is
    L_i * R_i with L_i = prod_{k<i} x_k and R_i = sum_{j>=i} g_j prod_{i<k<=j} x_k, the
    solution of R_i = g_i + x_{i+1} R_{i+1}: O(n log n) work, exact with zeros."""
    xm, gm = cnp.moveaxis(x, axis, -1), cnp.moveaxis(g, axis, -1)
    if xm.shape[-1] == 0:
        return g
    one = cnp.ones_like(xm[..., :1])
    left = cnp.cumprod(cnp.concatenate([one, xm[..., :-1]], axis=-1), axis=-1)
    nxt = cnp.concatenate([xm[..., 1:], cnp.zeros_like(xm[..., :1])], axis=-1)
    res = left * reverse_recurrence(nxt, gm)
    return cnp.moveaxis(res, -1, axis)


# fmt: off
defvjp(P.sum_p,     "x",   lambda g, ans, x, axis, keepdims: _expand(g, x.shape, axis))
defvjp(P.mean_p,    "x",   lambda g, ans, x, axis, keepdims:
                               _expand(g / count(x.shape, axis), x.shape, axis))
defvjp(P.prod_p,    "x",   _prod)
defvjp(P.amax_p,    "ans x", _minmax)
defvjp(P.amin_p,    "ans x", _minmax)
defvjp(P.cumsum_p,  "",    lambda g, ans, x, axis: _rev_cumsum(g, axis))
defvjp(P.cumprod_p, "x",   _cumprod)
# fmt: on
# sum and mean read x for its shape only: the placeholder gives it (nothing is kept)
vjp_rules[P.sum_p].reads = (frozenset(),)
vjp_rules[P.mean_p].reads = (frozenset(),)


# --- shapes and indexing ---------------------------------------------------------------------


def _concatenate(i, g, ans, *xs, axis, sizes):
    start = sum(sizes[:i])
    return g[(slice(None),) * axis + (slice(start, start + sizes[i]),)]


def _pad(g, ans, x, pad_width):
    return g[tuple(slice(lo, g.shape[k] - hi) for k, (lo, hi) in enumerate(pad_width))]


def _zeros(g: Any, shape: tuple) -> Any:
    """Zeros of `shape` in `g`'s dtype, and namespace (another namespace's, on its device)."""
    return np.zeros(shape, g.dtype) if type(g) is np.ndarray else cnp.zeros_like(g, shape=shape)


def _gather(g: Any, arrays: tuple, index: tuple) -> Any:
    return bind(P.getitem_p, g, *arrays, index=index)


def _scatter_add(x: Any, y: Any, arrays: tuple, index: tuple) -> Any:
    return bind(P.index_add_p, x, y, *arrays, index=index)


def _written(g: Any, shape: tuple, arrays: tuple, index: tuple) -> Any:
    """`g[index]`, where a repeated index counts only for its last write (NumPy's rule)."""
    if not has_arrays(index):
        return _gather(g, arrays, index)
    sel = _gather(np.zeros(shape, np.int8), arrays, index)  # the selection's shape
    ids = cnp.reshape(np.arange(math.prod(sel.shape)), sel.shape)
    last = bind(P.index_set_p, np.zeros(shape, np.intp), ids, *arrays, index=index)
    return cnp.where(_gather(last, arrays, index) == ids, _gather(g, arrays, index), 0.0)


# fmt: off
defvjp(P.reshape_p,      "x",  lambda g, ans, x, shape: cnp.reshape(g, x.shape))
defvjp(P.transpose_p,    "",   lambda g, ans, x, axes:
                                   cnp.transpose(g, tuple(int(i) for i in np.argsort(axes))))
defvjp(P.broadcast_to_p, "",   lambda g, ans, x, shape: g)
defvjp_varargs(P.concatenate_p, "", _concatenate)
defvjp(P.pad_p,          "",   _pad)
defvjp(P.getitem_p,      "x arrays", lambda g, ans, x, *arrays, index:
                                   _scatter_add(_zeros(g, x.shape), g, arrays, index))
defvjp(P.index_add_p,    "",   lambda g, ans, x, y, *arrays, index: g,
                         "arrays", lambda g, ans, x, y, *arrays, index: _gather(g, arrays, index))
defvjp(P.index_set_p,    "arrays", lambda g, ans, x, y, *arrays, index:
                                   _zero_at(g, arrays, index),
                         "arrays", lambda g, ans, x, y, *arrays, index:
                                   _written(g, g.shape, arrays, index))
# fmt: on
# reshape and getitem read x for its shape only
vjp_rules[P.reshape_p].reads = (frozenset(),)
vjp_rules[P.getitem_p].reads = (frozenset({-1}),)
vjp_rules[P.index_set_p].reads = (frozenset({-1}), frozenset({-1}))


def _zero_at(g: Any, arrays: tuple, index: tuple) -> Any:
    return bind(P.index_set_p, g, 0.0, *arrays, index=index)


# --- products --------------------------------------------------------------------------------


def _outer(a: Any, b: Any) -> Any:
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == b.ndim == 1:
        return np.dot(a[:, None], b[None, :])  # BLAS: faster than broadcasting, and exact
    return a[..., None] * b[..., None, :]


def _matmul_x(g, ans, x, y):
    if y.ndim == 1:
        return _outer(g, y) if x.ndim > 1 else g * y
    if x.ndim == 1:
        return g @ _T(y) if y.ndim == 2 else (y @ g[..., None])[..., 0]
    return g @ _T(y)


def _matmul_y(g, ans, x, y):
    if x.ndim == 1:
        return _outer(x, g) if y.ndim > 1 else g * x
    if y.ndim == 1:
        return g @ x if x.ndim == 2 else (_T(x) @ g[..., None])[..., 0]
    return _T(x) @ g


def _einsum(i, g, ans, *ops, subscripts, optimize):
    ins, out = subscripts.split("->")
    ins = ins.split(",")
    shape = ops[i].shape
    free = iter(c for c in cnp._LETTERS if c not in subscripts)
    subs = [s for j, s in enumerate(ins) if j != i] + [out]
    operands = [o for j, o in enumerate(ops) if j != i] + [g]
    target = ""
    for pos, c in enumerate(ins[i]):
        if c in target:  # repeated index (a diagonal): link a fresh letter through an identity
            f = next(free)
            subs.append(c + f)
            operands.append(np.eye(shape[pos], dtype=g.dtype))
            c = f
        target += c
    present = set("".join(subs))
    for pos, c in enumerate(target):
        if c not in present:  # summed only within this operand: broadcast back with ones
            subs.append(c)
            operands.append(np.ones(shape[pos], g.dtype))
    return cnp.einsum(",".join(subs) + "->" + target, *operands, optimize=len(operands) > 2)


defvjp(P.matmul_p, "x y", _matmul_x, "x y", _matmul_y)
defvjp_varargs(P.einsum_p, "operands", _einsum)


# --- linear algebra --------------------------------------------------------------------------


def _solve_b(g, ans, a, b):
    if ans.ndim == a.ndim - 1:  # b was a vector (or a batch of them)
        return la.solve(_T(a), g[..., None])[..., 0]
    return la.solve(_T(a), g)


def _solve_a(g, ans, a, b):
    gb = _solve_b(g, ans, a, None)
    if ans.ndim == a.ndim - 1:
        return -gb[..., :, None] * ans[..., None, :]
    return -cnp.matmul(gb, _T(ans))


def cofactor(x: Any) -> Any:
    """The cofactor matrix of `x` (the transposed adjugate; det(x) inv(x)ᵀ when x is
    invertible), through the SVD: det(U) det(Vh) conj(U) diag(products of the other singular
    values) conj(Vh). Exact at singular matrices, no branch; about three times the cost of an
    inverse."""
    u, s, vh = la.svd(x, full_matrices=False)
    sign = la.det(u) * la.det(vh)
    return sign[..., None, None] * cnp.matmul(cnp.conj(u) * prod_others(s)[..., None, :],
                                              cnp.conj(vh))  # fmt: skip


def _H(x: Any) -> Any:
    """The conjugate transpose of the last two axes (the transpose, for real values)."""
    return cnp.conj(x).mT if x.dtype.kind == "c" else x.mT


def _conj(x: Any) -> Any:
    return cnp.conj(x) if x.dtype.kind == "c" else x


def _herm(x: Any) -> Any:
    """The Hermitian part (x + xᴴ)/2: what a function reading one triangle sees."""
    return 0.5 * (x + _H(x))


def _diag_embed(d: Any) -> Any:
    n = d.shape[-1]
    return d[..., :, None] * np.eye(n, dtype=bool)


# The decompositions' rules below are the transposes of their JVPs (rules/jvp.py), step by
# step, under the pairing Re Σ ct·dx (JAX's convention, which makes the real case the usual
# formulas): the transpose of X ↦ A X B is G ↦ Aᵀ G Bᵀ, of X ↦ Xᴴ is G ↦ Gᴴ, of X ↦ F∘X is
# G ↦ F∘G, of X ↦ Re X is G ↦ G.


def _cholesky(g, L, x):
    """dL = L Φ(L⁻¹ dA L⁻ᴴ) with Φ the lower triangle, halved diagonal; so
    ct_A = herm(L⁻ᵀ Φ(Lᵀ g) conj(L⁻¹))."""
    n = L.shape[-1]
    phi = cnp.tril(cnp.matmul(L.mT, g)) * (1 - 0.5 * np.eye(n, dtype=L.real.dtype))
    Linv = la.inv(L)
    return _herm(cnp.matmul(cnp.matmul(Linv.mT, phi), _conj(Linv)))


def _eigh(g, ans, x, UPLO):
    """dw = Re diag(C), dV = V (F∘C) with C = Vᴴ dA V and F_ij = 1/(w_j − w_i); so
    ct_A = herm(conj(V) (diag(gw) + F∘(Vᵀ gV)) Vᵀ)."""
    w, v = ans
    gw, gv = g
    n = w.shape[-1]
    diff = w[..., None, :] - w[..., :, None]
    F = 1.0 / cnp.where(np.eye(n, dtype=bool), np.inf, diff)
    inner = _diag_embed(gw) + F * cnp.matmul(v.mT, gv)
    return _herm(cnp.matmul(cnp.matmul(_conj(v), inner), v.mT))


def _svd(g, ans, x):
    """The transpose of the SVD's JVP (rules/jvp.py) with P = Uᴴ dA V; for real values the
    usual formula, for complex ones with the phase term of the diagonal."""
    u, s, vh = ans
    gu, gs, gvh = g
    m, n = x.shape[-2:]
    k = s.shape[-1]
    s2 = s * s
    F = 1.0 / cnp.where(np.eye(k, dtype=bool), np.inf, s2[..., None, :] - s2[..., :, None])
    cJ = cnp.matmul(u.mT, gu)  # the cotangent of U's inner term
    cK = cnp.matmul(_conj(vh), _H(gvh))  # Vᵀ gV, with V = vhᴴ and gV = gvhᴴ
    FJ, FK = F * cJ, F * cK
    cP = (FJ + _H(FJ)) * s[..., None, :] + s[..., :, None] * (FK + _H(FK)) + _diag_embed(gs)
    if u.dtype.kind == "c":  # the phases of U's columns
        cP = cP + _diag_embed((cnp.diagonal(cJ, 0, -2, -1) - cnp.conj(
            cnp.diagonal(cJ, 0, -2, -1))) / (2 * s))  # fmt: skip
    res = cnp.matmul(cnp.matmul(_conj(u), cP), _conj(vh))
    sinv = 1.0 / s
    if m > k:
        comp = gu - cnp.matmul(_conj(u), cnp.matmul(u.mT, gu))
        res = res + cnp.matmul(comp * sinv[..., None, :], _conj(vh))
    if n > k:
        comp = gvh - cnp.matmul(cnp.matmul(gvh, vh.mT), _conj(vh))
        res = res + cnp.matmul(_conj(u) * sinv[..., None, :], comp)
    return res


def _qr(g, ans, x):
    """The transpose of the QR's JVP: with G_O = Qᵀ gQ − gR Rᵀ,
    ct_C = −G_O + tril(G_O − G_Oᴴ, −1) (+ i Im diag(G_O) for complex values) and
    ct_A = (gQ + conj(Q) ct_C) R⁻ᵀ."""
    q, r = ans
    gq, gr = g
    GO = cnp.matmul(q.mT, gq) - cnp.matmul(gr, r.mT)
    cC = cnp.tril(GO - _H(GO), -1) - GO
    if q.dtype.kind == "c":
        cC = cC + _diag_embed(1j * cnp.imag(cnp.diagonal(GO, 0, -2, -1)))
    b = gq + cnp.matmul(_conj(q), cC)
    return la.solve(r, b.mT).mT


def _eig(g, ans, x):
    """The transpose of eig's JVP (rules/jvp.py): eigenvectors of unit norm, so
    ct_X = gV − conj(V) Re(Σᵢ gV∘V); ct_C = diag(gw) + F∘(Vᵀ ct_X); ct_A = V⁻ᵀ ct_C Vᵀ."""
    w, v = ans
    gw, gv = g
    n = w.shape[-1]
    F = 1.0 / cnp.where(np.eye(n, dtype=bool), np.inf, w[..., None, :] - w[..., :, None])
    cX = gv - cnp.conj(v) * cnp.real(cnp.sum(gv * v, axis=-2, keepdims=True))
    cC = _diag_embed(gw) + F * cnp.matmul(v.mT, cX)
    return cnp.matmul(la.solve(v.mT, cC), v.mT)


# fmt: off
defvjp(P.inv_p,      "ans",   lambda g, ans, x: -cnp.matmul(cnp.matmul(_T(ans), g), _T(ans)))
defvjp(P.det_p,      "x",     lambda g, ans, x: g[..., None, None] * cofactor(x))
defvjp(P.slogdet_p,  "x",     lambda g, ans, x: g[1][..., None, None] * _T(la.inv(x)))
defvjp(P.solve_p,    "ans a", _solve_a,
                     "ans a", _solve_b)
defvjp(P.cholesky_p, "L",     _cholesky)
defvjp(P.eigh_p,     "ans",   _eigh)
defvjp(P.svd_p,      "ans x", _svd)
defvjp(P.qr_p,       "ans",   _qr)
defvjp(P.eig_p,      "ans",   _eig)
# fmt: on
vjp_rules[P.svd_p].reads = (frozenset({0}),)  # x for its shape only


# --- collectives (JAX's semantics: psum's transpose is psum) ----------------------------------


def psum(x: Any, axis_name: Any) -> Any:
    return bind(P.psum_p, x, axis_name=axis_name)


def _pmax(g, ans, x, axis_name):
    mask = x == ans
    return cnp.where(mask, psum(g, axis_name) / psum(cnp.astype(mask, g.dtype), axis_name),
                     0.0)  # fmt: skip


def _all_gather(g, ans, x, axis_name):
    return cnp.getitem(psum(g, axis_name), bind(P.axis_index_p, axis_name=axis_name))


# fmt: off
defvjp(P.psum_p,       "",      lambda g, ans, x, axis_name: psum(g, axis_name))
defvjp(P.pmax_p,       "ans x", _pmax)
defvjp(P.all_gather_p, "",      _all_gather)
# fmt: on
