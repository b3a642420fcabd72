"""Every primitive under every rule table.

- coverage: an impl, a shape rule, a VJP rule (or non-differentiable), a JVP rule, a batching
  rule, and a transpose rule for the linear ones;
- the shape rule agrees with the implementation (shapes, dtypes), without computing;
- a traced primal equals the plain call bit for bit (under grad, jvp and eval_shape);
- each VJP rule reads only what its declaration says it keeps;
- forward and reverse mode agree: ⟨u, J v⟩ = ⟨Jᵀ u, v⟩;
- derivatives agree with finite differences in both modes to order 2;
- vmap agrees with a Python loop over the examples (batched and unbatched operands, batch
  axis -1);
- the VJP, JVP and batching rules all run on abstract values (cr.eval_shape): branch-free.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.ops import index_spec
from chainrule.core.trace import bind
from chainrule.rules.batching import batch_rules
from chainrule.rules.impl import impl_rules
from chainrule.rules.jvp import jvp_rules
from chainrule.rules.shape import shape_rules
from chainrule.rules.transpose import transpose_rules
from chainrule.rules.vjp import vjp_rules
from chainrule.testing import check_grads
from chainrule.transforms import batching, forward, reverse, staging

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((3, 4))
Sq = rng.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = Sq @ Sq.T
pos = rng.uniform(1.1, 2.0, (3, 4))
unit = rng.uniform(-0.9, 0.9, (3, 4))
_gi, _ga = index_spec((slice(None), np.array([0, 0, 2])))
_ai, _aa = index_spec((0, np.array([1, 1])))
_si, _sa = index_spec((slice(None), 1))
_fi, _fa = index_spec((np.array([[0], [2]]), slice(1, 3)))

# One example call per primitive: (operands, params, differentiable operand indices).
EXAMPLES: dict = {
    **{getattr(P, n + "_p"): ((pos,), {}, (0,)) for n in P.UNARY},
    P.arcsin_p: ((unit,), {}, (0,)),
    P.arccos_p: ((unit,), {}, (0,)),
    P.arctanh_p: ((unit,), {}, (0,)),
    P.abs_p: ((A,), {}, (0,)),
    P.sin_p: ((A,), {}, (0,)),
    **{getattr(P, n + "_p"): ((pos, B[0]), {}, (0, 1)) for n in P.BINARY},
    P.pow_p: ((pos, B[0]), {}, (0, 1)),
    P.mod_p: ((pos[0] * (2.5 + 0.1 * unit), pos[0]), {}, (0, 1)),  # x/y away from integers
    P.fmod_p: ((-pos[0] * (2.5 + 0.1 * unit), pos[0]), {}, (0, 1)),
    **{getattr(P, n + "_p"): ((A,), {}, ()) for n in
       ("sign", "floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit",
        "logical_not")},  # fmt: skip
    P.round_p: ((A,), {"decimals": 1}, ()),
    P.integer_pow_p: ((A,), {"y": 3}, (0,)),
    **{getattr(P, n + "_p"): ((A, pos), {}, ()) for n in
       ("floor_divide", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor")},  # fmt: skip
    P.argmax_p: ((A,), {"axis": 1, "keepdims": False}, ()),
    P.argmin_p: ((A,), {"axis": None, "keepdims": False}, ()),
    P.argsort_p: ((A,), {"axis": -1, "kind": None}, ()),
    P.any_p: ((A,), {"axis": (0,), "keepdims": True}, ()),
    P.all_p: ((A,), {"axis": None, "keepdims": False}, ()),
    P.where_p: ((A > 0, A, B), {}, (1, 2)),
    P.clip_p: ((A, -0.5 * pos, 0.5 * pos), {}, (0, 1, 2)),
    P.astype_p: ((A,), {"dtype": np.dtype(np.complex128)}, (0,)),
    P.stop_gradient_p: ((A,), {}, ()),
    # a move between devices, here from the CPU to the CPU (tests/test_devices.py: between two)
    P.device_put_p: ((A,), {"device": "cpu", "src": "cpu"}, (0,)),
    P.sum_p: ((A,), {"axis": (1,), "keepdims": False}, (0,)),
    P.mean_p: ((A,), {"axis": (0,), "keepdims": True}, (0,)),
    P.prod_p: ((A,), {"axis": None, "keepdims": True}, (0,)),
    P.amax_p: ((A,), {"axis": (0,), "keepdims": False}, (0,)),
    P.amin_p: ((A,), {"axis": (0, 1), "keepdims": False}, (0,)),
    P.cumsum_p: ((A,), {"axis": 1}, (0,)),
    P.cumprod_p: ((A,), {"axis": 0}, (0,)),
    P.reshape_p: ((A,), {"shape": (4, 3)}, (0,)),
    P.transpose_p: ((A,), {"axes": (1, 0)}, (0,)),
    P.broadcast_to_p: ((A[0],), {"shape": (2, 4)}, (0,)),
    P.concatenate_p: ((A, B), {"axis": 0, "sizes": (3, 3)}, (0, 1)),
    P.pad_p: ((A,), {"pad_width": ((1, 0), (0, 2))}, (0,)),
    P.getitem_p: ((A, *_ga), {"index": _gi}, (0,)),
    P.index_add_p: ((A, B[0, :2], *_aa), {"index": _ai}, (0, 1)),
    P.index_set_p: ((A, B[:, 0], *_sa), {"index": _si}, (0, 1)),
    P.matmul_p: ((A, B.T), {}, (0, 1)),
    P.einsum_p: ((A, B), {"subscripts": "ij,kj->ik", "optimize": False}, (0, 1)),
    P.inv_p: ((Sq,), {}, (0,)),
    P.det_p: ((Sq,), {}, (0,)),
    P.slogdet_p: ((Sq,), {}, (0,)),
    P.solve_p: ((Sq, A), {}, (0, 1)),
    P.cholesky_p: ((SPD,), {}, (0,)),
    P.eigh_p: ((SPD,), {"UPLO": "L"}, (0,)),
    P.svd_p: ((A,), {}, (0,)),
    P.qr_p: ((A.T,), {}, (0,)),
    P.eig_p: ((Sq,), {}, (0,)),
    P.fft_p: ((A,), {"fft_type": "rfft", "fft_lengths": (4,)}, (0,)),
}
# primitives that need an enclosing transformation or carry functions: tested elsewhere
ELSEWHERE = {P.nonzero_p, P.psum_p, P.pmax_p, P.all_gather_p, P.axis_index_p,
             P.custom_vjp_call_p, P.custom_jvp_call_p, P.checkpoint_p, P.callback_p, P.random_p,
             P.jit_p, P.cond_p, P.while_p, P.scan_p, P.while_fwd_p, P.while_bwd_p}  # fmt: skip
DIFFERENTIABLE = [p for p, ex in EXAMPLES.items() if ex[2]]
# decompositions whose outputs are defined up to sign/phase: compare through invariant losses
DECOMP = {P.eigh_p, P.svd_p, P.qr_p, P.eig_p}


def _id(p: P.Primitive) -> str:
    return p.name


def test_every_primitive_has_an_example_or_a_reason():
    assert set(EXAMPLES) | ELSEWHERE == set(P.ALL)


def test_every_primitive_has_every_rule():
    missing = []
    for p in P.ALL:
        if p not in impl_rules:
            missing.append(f"{p}: impl")
        if p not in shape_rules:
            missing.append(f"{p}: shape")
        if p not in vjp_rules and not p.nondiff and p is not P.stop_gradient_p and \
                p not in reverse.process_rules:  # fmt: skip
            missing.append(f"{p}: vjp")
        if p not in jvp_rules and p not in forward.process_rules:
            missing.append(f"{p}: jvp")
        if p not in batch_rules and p not in batching.process_rules:
            missing.append(f"{p}: batching")
        if p.linear and p not in transpose_rules:
            missing.append(f"{p}: transpose")
    assert not missing, missing


# --- abstract evaluation ---------------------------------------------------------------------


def _plain(prim, args, params):
    return impl_rules[prim](*args, **params)


def _avals(x):
    return tuple(_avals(o) for o in x) if isinstance(x, tuple) else (np.shape(x), np.result_type(x))


@pytest.mark.parametrize("prim", list(EXAMPLES), ids=_id)
def test_shape_rule_matches_the_implementation(prim):
    args, params, _ = EXAMPLES[prim]
    got = shape_rules[prim](*[cr.ShapeDtypeStruct(np.shape(a), np.result_type(a)) for a in args],
                            **params)  # fmt: skip
    want = _avals(_plain(prim, args, params))
    as_pair = lambda s: tuple(as_pair(x) for x in s) if isinstance(s, tuple) else (s.shape,  # noqa
                                                                                   s.dtype)
    assert as_pair(got) == want


SHAPES = [((), ()), ((3,), ()), ((2, 3), (3,)), ((2, 1), (1, 4)), ((4, 1, 3), (2, 1))]
DTYPES = [np.float32, np.float64, np.int32, np.complex64, np.bool_]


@pytest.mark.parametrize("prim", [getattr(P, n + "_p") for n in
                                  ("add", "mul", "div", "pow", "maximum", "arctan2", "equal",
                                   "floor_divide", "logical_and")], ids=_id)  # fmt: skip
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_elementwise_shape_rules_on_a_grid(prim, shapes):
    for dx in DTYPES:
        for dy in DTYPES + [float, int]:
            x = np.zeros(shapes[0], dx)
            y = dy(0) if dy in (float, int) else np.ones(shapes[1], dy)
            with np.errstate(all="ignore"):
                try:
                    want = impl_rules[prim](x, y)
                except TypeError:
                    continue
            got = shape_rules[prim](cr.ShapeDtypeStruct(x.shape, x.dtype),
                                    staging._abstract(y))  # fmt: skip
            assert (got.shape, got.dtype) == (want.shape, want.dtype), (dx, dy)


def test_shape_rules_cost_nothing_for_large_operands():
    big = cr.ShapeDtypeStruct((20000, 20000), np.float64)
    out = cr.eval_shape(lambda a: (a @ a.T).sum(axis=0)[::2], big)
    assert out.shape == (10000,) and out.dtype == np.float64


@pytest.mark.parametrize("shape, index", [
    ((5, 6, 7), (0, slice(1, None), [1, 2])),
    ((5, 6, 7), ([0, 1], slice(None), [1, 2])),
    ((5, 6, 7), (Ellipsis, [[0], [1]], 2)),
    ((5, 6), (None, slice(None, None, -2), np.array([[1, 2, 3]]))),
    ((5, 6, 7), (slice(None), [1, 0], [[2], [3]])),
    ((4,), (np.array([True, False, True, True]),)),
    ((3, 4), (1, None, Ellipsis)),
])  # fmt: skip
def test_index_shape_rule_against_numpy(shape, index):
    x = np.arange(np.prod(shape), dtype=float).reshape(shape)
    spec, arrays = index_spec(index)
    avals = [cr.ShapeDtypeStruct(np.shape(a), np.result_type(a)) for a in arrays]
    got = shape_rules[P.getitem_p](cr.ShapeDtypeStruct(shape, np.float64), *avals, index=spec)
    assert got.shape == x[index].shape


# --- traced primals are the plain ones ------------------------------------------------------


def _same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and (
        np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


@pytest.mark.parametrize("prim", list(EXAMPLES), ids=_id)
def test_traced_primal_equals_the_plain_call_bitwise(prim):
    args, params, diff = EXAMPLES[prim]
    want = _plain(prim, args, params)
    d = diff[0] if diff else 0
    if diff:
        def f(x):
            a = list(args)
            a[d] = x
            return bind(prim, *a, **params)

        out, _ = cr.vjp(f, args[d])
        assert _same(out, want), "under reverse mode"
        out, _ = cr.jvp(f, (args[d],), (np.zeros_like(args[d]),))
        assert _same(out, want), "under forward mode"
    if prim in (P.pow_p, P.mul_p):  # the exponent / factor as a Python number: NumPy's result
        with np.errstate(all="ignore"):
            assert _same(cr.vjp(lambda x: bind(prim, x, 7), pos)[0], impl_rules[prim](pos, 7))


# --- what the VJP rules read ----------------------------------------------------------------


class _ShapeOnly:
    """A value that was not kept: only its shape and dtype can be read."""

    def __init__(self, x):
        self.shape, self.dtype, self.ndim = np.shape(x), np.result_type(x), np.ndim(x)

    def __getattr__(self, name):
        raise AssertionError(f"the rule read .{name} of a value it did not declare")

    def __array__(self, *a, **k):
        raise AssertionError("the rule used the value of an operand it did not declare")

    def __array_ufunc__(self, *a, **k):
        raise AssertionError("the rule used the value of an operand it did not declare")

    def __array_function__(self, *a, **k):
        raise AssertionError("the rule used the value of an operand it did not declare")


@pytest.mark.parametrize("prim", DIFFERENTIABLE, ids=_id)
def test_vjp_rules_read_only_what_they_declare(prim):
    args, params, diff = EXAMPLES[prim]
    ans = _plain(prim, args, params)
    g = tuple(np.ones(np.shape(a), np.result_type(a)) for a in ans) if isinstance(ans, tuple) \
        else np.ones(np.shape(ans), np.result_type(ans))  # fmt: skip
    for i in diff:
        bits = 1 << i
        mask = reverse.save_mask(prim, len(args), bits)
        saved = [ans if mask[0] else None] + [
            a if keep else _ShapeOnly(a) for a, keep in zip(args, mask[1:])
        ]
        node = reverse.Node(prim, params, tuple(reverse.Node(None, None, (), np.shape(a),
                                                             np.result_type(a))
                                                if k == i else None
                                                for k, a in enumerate(args)), (), None)  # fmt: skip
        with np.errstate(all="ignore"):
            ct = reverse.node_cotangents(node, g, tuple(saved))[i]
        assert ct is not None


# --- forward and reverse agree -------------------------------------------------------------


def _loss_weights(out, seed):
    r = np.random.default_rng(seed)
    if isinstance(out, tuple):
        return tuple(_loss_weights(o, seed + k) for k, o in enumerate(out))
    return r.standard_normal(np.shape(out)).astype(np.result_type(out))


def _inner(a, b):
    if isinstance(a, tuple):
        return sum(_inner(x, y) for x, y in zip(a, b))
    return float(np.sum(np.real(np.asarray(a) * np.asarray(b))))


def _diff_fun(prim, args, params, diff):
    def f(*xs):
        a = list(args)
        for i, x in zip(diff, xs):
            a[i] = x
        out = bind(prim, *a, **params)
        if prim in DECOMP:  # losses invariant to the signs of the vectors
            if prim is P.eigh_p:
                w, v = out
                return w, v * v
            if prim is P.eig_p:  # eigenvectors: unit norm, free phase
                w, v = out
                return w, cr.numpy.abs(v) ** 2
            if prim is P.svd_p:
                u, s, vh = out
                return s, u @ (s[:, None] * vh)
            q, r = out
            return q @ r, r * r
        return out

    return f


@pytest.mark.parametrize("prim", DIFFERENTIABLE, ids=_id)
def test_forward_and_reverse_mode_agree(prim):
    args, params, diff = EXAMPLES[prim]
    f = _diff_fun(prim, args, params, diff)
    primals = tuple(args[i] for i in diff)
    r = np.random.default_rng(1)
    v = tuple(r.standard_normal(np.shape(p)) for p in primals)
    if prim is P.cholesky_p or prim is P.eigh_p:
        v = tuple(0.5 * (t + t.T) for t in v)  # these read one triangle: symmetric directions
    out, jv = cr.jvp(f, primals, v)
    u = _loss_weights(out, 2)
    _, pull = cr.vjp(f, *primals)
    jtu = pull(u)
    assert _inner(u, jv) == pytest.approx(_inner(jtu, v), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("prim", DIFFERENTIABLE, ids=_id)
def test_derivatives_match_finite_differences_in_both_modes(prim):
    args, params, diff = EXAMPLES[prim]
    if prim in (P.cholesky_p, P.eigh_p):
        def f(*xs):  # a symmetric input: perturb through a symmetric parametrisation
            return _diff_fun(prim, args, params, diff)(*[0.5 * (x + x.T) for x in xs])
    else:
        f = _diff_fun(prim, args, params, diff)
    check_grads(f, tuple(args[i] for i in diff), order=2, modes=("fwd", "rev"),
                eps=1e-5, rtol=2e-4, atol=2e-5)  # fmt: skip


# --- vmap against a loop --------------------------------------------------------------------


def _loop(f, xs_list, in_axes):
    n = next(np.shape(x)[a] for x, a in zip(xs_list, in_axes) if a is not None)
    outs = []
    for b in range(n):
        ex = [x if a is None else np.take(x, b, axis=a) for x, a in zip(xs_list, in_axes)]
        outs.append(f(*ex))
    if isinstance(outs[0], tuple):
        return tuple(np.stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return np.stack(outs)


def _close(a, b):
    if isinstance(a, tuple):
        return all(_close(x, y) for x, y in zip(a, b))
    return np.allclose(np.asarray(a, complex), np.asarray(b, complex), rtol=1e-10, atol=1e-10,
                       equal_nan=True)  # fmt: skip


def _batched(x, axis, n=3):
    """n perturbed copies of x, stacked along `axis`."""
    if np.result_type(x).kind not in "fc":
        return np.stack([x] * n, axis=axis)
    r = np.random.default_rng(3)
    stack = np.stack([x + 0.01 * k * r.standard_normal(np.shape(x)) for k in range(n)])
    return np.moveaxis(stack, 0, axis)


@pytest.mark.parametrize("prim", list(EXAMPLES), ids=_id)
@pytest.mark.parametrize("axis", [0, -1])
def test_vmap_matches_a_loop_over_examples(prim, axis):
    args, params, diff = EXAMPLES[prim]
    if prim in (P.cholesky_p, P.eigh_p):
        batched = [np.stack([SPD + 0.1 * k * np.eye(3) for k in range(3)], axis % 3)]
    else:
        batched = None
    f = lambda *a: bind(prim, *a, **params)  # noqa: E731
    for which in range(len(args)):  # each operand batched alone, then all of them
        for all_ in (False, True):
            if all_ and which:
                continue
            if P.getitem_p is prim or prim in (P.index_add_p, P.index_set_p):
                if which >= prim.ndiff and not all_:
                    pass
            ins, axes = [], []
            for k, a in enumerate(args):
                if all_ or k == which:
                    ax = axis % (np.ndim(a) + 1)
                    ins.append(batched[0] if batched and k == 0 else _batched(a, ax))
                    axes.append(ax)
                else:
                    ins.append(a)
                    axes.append(None)
            with np.errstate(all="ignore"):
                want = _loop(f, ins, axes)
                got = cr.vmap(f, in_axes=tuple(axes))(*ins)
            if prim in DECOMP:
                want = _diff_fun(prim, (), {}, ())  # compare invariant forms below
                got_w = [_invariant(prim, tuple(np.take(g, b, 0) for g in got)) for b in range(3)]
                ex = [[np.take(x, b, axis=a) if a is not None else x for x, a in zip(ins, axes)]
                      for b in range(3)]  # fmt: skip
                want_w = [_invariant(prim, f(*e)) for e in ex]
                assert all(_close(a, b) for a, b in zip(got_w, want_w))
            else:
                assert _close(got, want), (which, all_)


def _invariant(prim, out):
    if prim is P.eigh_p:
        return out[0], out[1] * out[1]
    if prim is P.eig_p:
        return out[0], np.abs(out[1]) ** 2
    if prim is P.svd_p:
        return out[1], out[0] @ (out[1][:, None] * out[2])
    return out[0] @ out[1], out[1] * out[1]


@pytest.mark.parametrize("index", [
    (np.array([[0, 2], [1, 1]]),),
    (slice(None), np.array([3, 0])),
    (np.array([0, 2]), slice(1, 3), ),
    (np.array([[0], [2]]), None, np.array([1, 3])),
    (Ellipsis, 1),
])  # fmt: skip
def test_vmap_of_indexing_with_batched_index_arrays(index):
    x = rng.standard_normal((5, 3, 4))
    spec, arrays = index_spec(index)
    if not arrays:
        return
    # every example has its own index arrays (batched) and its own x
    idx_b = [np.stack([a, (a + 1) % 3, a]) for a in arrays]

    def f(xe, *ie):
        return bind(P.getitem_p, xe, *ie, index=spec)

    got = cr.vmap(f)(x[:3], *idx_b)
    want = np.stack([x[b][tuple(_sub(index, [i[b] for i in idx_b]))] for b in range(3)])
    np.testing.assert_array_equal(got, want)
    # and the scatter that is its gradient
    g = cr.vmap(cr.grad(lambda xe, *ie: cr.numpy.sum(f(xe, *ie) ** 2)))(x[:3], *idx_b)
    want_g = np.stack([cr.grad(lambda xe: cr.numpy.sum(f(xe, *[i[b] for i in idx_b]) ** 2))(
        x[b]) for b in range(3)])  # fmt: skip
    np.testing.assert_allclose(g, want_g)


def _sub(index, arrays):
    it = iter(arrays)
    return [next(it) if isinstance(i, np.ndarray) else i for i in index]


# --- rules on abstract values ----------------------------------------------------------------


@pytest.mark.parametrize("prim", DIFFERENTIABLE, ids=_id)
def test_every_rule_runs_on_abstract_values(prim):
    args, params, diff = EXAMPLES[prim]
    f = _diff_fun(prim, args, params, diff)
    primals = tuple(args[i] for i in diff)
    abstract = tuple(ShapeDtypeStruct(np.shape(p), np.result_type(p)) for p in primals)
    out = cr.eval_shape(lambda *p: cr.vjp(f, *p)[1](_ones_like(f(*p))), *abstract)
    assert [o.shape for o in out] == [np.shape(p) for p in primals]
    out = cr.eval_shape(lambda *p: cr.jvp(f, p, p)[1], *abstract)
    cr.eval_shape(cr.vmap(lambda *p: f(*p)), *[ShapeDtypeStruct((2, *a.shape), a.dtype)
                                                for a in abstract])  # fmt: skip


def _ones_like(out):
    if isinstance(out, tuple):
        return tuple(_ones_like(o) for o in out)
    return cr.numpy.ones_like(out)
