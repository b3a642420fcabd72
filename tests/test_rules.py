"""Rule coverage: every primitive has an implementation, an abstract evaluation and a VJP rule
(or is declared non-differentiable), the abstract evaluation agrees with the implementation,
and every VJP rule respects the `_` convention (it reads only what it keeps)."""

import dis

import numpy as np
import pytest

import chainrule  # noqa: F401  (fills the tables)
from chainrule.core import primitives as P
from chainrule.core.trace import impl_rules
from chainrule.rules.shape import ShapeDtype, shape_rules
from chainrule.rules.vjp import VarArgs, vjp_rules

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
Sq = rng.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = Sq @ Sq.T
pos = rng.uniform(1.1, 2.0, (3, 4))
unit = rng.uniform(-0.9, 0.9, (3, 4))

# One example call per primitive: (args, params).
EXAMPLES = {
    **{getattr(P, n + "_p"): ((pos,), {}) for n in P.UNARY},
    P.arcsin_p: ((unit,), {}),
    P.arccos_p: ((unit,), {}),
    P.arctanh_p: ((unit,), {}),
    **{getattr(P, n + "_p"): ((pos, A[0]), {}) for n in P.BINARY},
    **{getattr(P, n + "_p"): ((A,), {}) for n in
       ("sign", "floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit",
        "logical_not")},  # fmt: skip
    P.round_p: ((A,), {"decimals": 1}),
    **{getattr(P, n + "_p"): ((A, pos), {}) for n in
       ("floor_divide", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor")},  # fmt: skip
    P.argmax_p: ((A,), {"axis": 1, "keepdims": False}),
    P.argmin_p: ((A,), {"axis": None, "keepdims": False}),
    P.argsort_p: ((A,), {"axis": -1, "kind": None}),
    P.any_p: ((A,), {"axis": 0, "keepdims": True}),
    P.all_p: ((A,), {"axis": None, "keepdims": False}),
    P.nonzero_p: ((A > 0,), {}),
    P.where_p: ((A > 0, A, 0.0), {}),
    P.clip_p: ((A, -0.5, 0.5), {}),
    P.astype_p: ((A,), {"dtype": np.dtype(np.float32)}),
    P.sum_p: ((A,), {"axis": (1,), "keepdims": False}),
    P.mean_p: ((A,), {"axis": (0,), "keepdims": True}),
    P.prod_p: ((A,), {"axis": None, "keepdims": True}),
    P.amax_p: ((A,), {"axis": (0,), "keepdims": False}),
    P.amin_p: ((A,), {"axis": (0, 1), "keepdims": False}),
    P.cumsum_p: ((A,), {"axis": 1}),
    P.cumprod_p: ((A,), {"axis": 0}),
    P.reshape_p: ((A,), {"shape": (4, 3)}),
    P.transpose_p: ((A,), {"axes": (1, 0)}),
    P.broadcast_to_p: ((A[0],), {"shape": (2, 4)}),
    P.concatenate_p: ((A, A), {"axis": 0, "sizes": (3, 3)}),
    P.pad_p: ((A,), {"pad_width": ((1, 0), (0, 2))}),
    P.getitem_p: ((A,), {"index": (slice(None), np.array([0, 0, 2]))}),
    P.index_add_p: ((A, (0, np.array([1, 1])), 1.0), {}),
    P.index_set_p: ((A, (slice(None), 1), A[:, 0]), {}),
    P.matmul_p: ((A, A.T), {}),
    P.einsum_p: ((A, A), {"subscripts": "ij,kj->ik"}),
    P.inv_p: ((Sq,), {}),
    P.det_p: ((Sq,), {}),
    P.slogdet_p: ((Sq,), {}),
    P.solve_p: ((Sq, A), {}),
    P.cholesky_p: ((SPD,), {}),
    P.eigh_p: ((SPD,), {"UPLO": "L"}),
    P.svd_p: ((A,), {}),
    P.qr_p: ((A.T,), {}),
    P.stop_gradient_p: ((A,), {}),
}


def test_every_primitive_has_every_rule():
    missing = []
    for p in P.ALL:
        for table, name in ((impl_rules, "impl"), (shape_rules, "shape"), (vjp_rules, "vjp")):
            if p not in table and not (name == "vjp" and p in P.NONDIFF_PRIMS):
                missing.append(f"{p}: {name}")
        if p not in EXAMPLES:
            missing.append(f"{p}: example in this test")
    assert not missing, "primitives lacking rules: " + ", ".join(missing)


def _avals(x):
    if isinstance(x, np.ndarray):
        return ShapeDtype(x.shape, x.dtype)
    if isinstance(x, tuple):
        return tuple(_avals(e) for e in x)
    return x


@pytest.mark.parametrize("prim", P.ALL, ids=str)
def test_shape_rule_matches_impl(prim):
    args, params = EXAMPLES[prim]
    out = impl_rules[prim](*args, **params)
    if prim is P.nonzero_p:
        with pytest.raises(NotImplementedError, match="depends on the data"):
            shape_rules[prim](_avals(args[0]))
        return
    abstract = shape_rules[prim](*[_avals(a) if isinstance(a, np.ndarray) else a for a in args],
                                 **params)  # fmt: skip
    outs = out if isinstance(out, tuple) else (out,)
    abstracts = abstract if isinstance(abstract, tuple) else (abstract,)
    assert len(outs) == len(abstracts)
    for o, a in zip(outs, abstracts):
        assert (np.shape(o), np.result_type(o)) == (a.shape, a.dtype), prim


def _reads(rule):
    """(parameter names read as values, names read only for .shape/.ndim/.dtype)."""
    code = rule.__code__
    params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    ins = list(dis.get_instructions(rule))
    whole, attr_only = set(), set()
    for k, ins_ in enumerate(ins):
        if ins_.opname.startswith("LOAD_FAST") and ins_.argval in params:
            nxt = ins[k + 1] if k + 1 < len(ins) else None
            if nxt is not None and nxt.opname == "LOAD_ATTR" and nxt.argval in (
                "shape", "ndim", "dtype", "size"
            ):  # fmt: skip
                attr_only.add(ins_.argval)
            else:
                whole.add(ins_.argval)
    return whole, attr_only


def _all_rules():
    for p, rules in vjp_rules.items():
        if isinstance(rules, VarArgs):
            continue
        for i, r in enumerate(rules):
            if r is not None:
                yield f"{p}[{i}]", r


@pytest.mark.parametrize(
    "name,rule", list(_all_rules()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_rules_read_only_what_they_keep(name, rule):
    whole, _ = _reads(rule)
    bad = sorted(n for n in whole if n.startswith("_"))
    assert not bad, f"{name} reads {bad} whole, but '_' marks values the graph does not keep"
