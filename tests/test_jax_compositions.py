"""chainrule against JAX (x64) on compositions that per-primitive tests miss: small random
programs (seeded) built from elementwise math, broadcasting between ranks, reductions with
axis/keepdims, indexing (negative steps, repeated integer indices, masks), shape operations,
matmul/einsum, linear algebra, cumsum/cumprod and sort, each run under grad, jacfwd, jacrev,
hessian, jvp, vjp, vmap (batch axis 0 and -1), vmap(grad), jit and jit(grad); ties and
boundaries where conventions could differ (max/min/maximum/sort with equal values, prod with
zeros, sqrt at 0, ``x**0``, division by zero, NaN/inf patterns); complex compositions;
control flow closing over traced values; the dtypes of float32 programs with Python and NumPy
scalars (NumPy 2 / NEP 50, checked against NumPy, whose promotion chainrule follows); and
integer inputs to the derivative transforms (a TypeError, as in JAX).

Tolerances: float64 programs of a few dozen operations agree with JAX to rounding, so 1e-9
(values, first derivatives) and 1e-8 (Hessians, which go through two rounds of rounding of
terms up to ~1e2) are tight; jit must equal eager chainrule bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
lax = pytest.importorskip("jax.lax")


@pytest.fixture(scope="module", autouse=True)
def x64():
    """x64 on for this module's tests, and the flag put back as it was afterwards."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


# JAX's side: one jax.jit per table of cases (a module-scoped fixture), computing every
# reference of the table at once. JAX's eager transformations compile each primitive as they
# go and would take minutes; under jit the numbers are the same to rounding far below the
# tolerances (the two cases where XLA's simplifications change a NaN pattern are left out).


def vjp_applied(f, primals, ct):
    out, pull = cr.vjp(f, *primals)
    return out, pull(ct)


def jax_vjp_applied(f, primals, ct):
    out, pull = jax.vjp(f, *primals)
    return out, pull(ct)


def _leaves(tree):
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(tree)]


def assert_same(ours, theirs, rtol=1e-9, atol=1e-9):
    """Same pytree structure, and each leaf of the same shape and dtype and close (NaN where
    the other has NaN, inf where it has inf of the same sign)."""
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(theirs)
    for a, b in zip(_leaves(ours), _leaves(theirs), strict=True):
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def assert_bitwise(a, b):
    for u, v in zip(_leaves(a), _leaves(b), strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)


# --- random programs ---------------------------------------------------------------------------
#
# Each step applies one operation of the pool to earlier values. The operations are written once
# against a namespace `ns` (chainrule.numpy or jax.numpy) and keep their inputs in smooth regions
# where they would have kinks or singularities, so that the derivatives are defined.


def _ax(u, p):
    return None if u.ndim == 0 else p % u.ndim


def _pos(ns, u):
    return ns.sqrt(u * u + 1.0)


def _spd(ns, u):
    v = ns.reshape(ns.tanh(u), (-1,))
    m = ns.reshape(ns.concatenate([v] * (9 // v.size + 1))[:9], (3, 3))
    return m @ m.T + 3.0 * ns.eye(3)


LINALG = [
    lambda ns, a: ns.linalg.solve(a, ns.arange(3.0) + 1),
    lambda ns, a: ns.linalg.inv(a),
    lambda ns, a: ns.linalg.det(a),
    lambda ns, a: ns.linalg.slogdet(a)[1],
    lambda ns, a: ns.linalg.cholesky(a),
    lambda ns, a: ns.linalg.eigh(a)[0],
]

UNARY = {
    "sin": lambda ns, u, p: ns.sin(u),
    "tanh": lambda ns, u, p: ns.tanh(u),
    "exp": lambda ns, u, p: ns.exp(0.3 * u),
    "square": lambda ns, u, p: u**2,
    "cube": lambda ns, u, p: u**3,
    "recip": lambda ns, u, p: 1.0 / _pos(ns, u),
    "log": lambda ns, u, p: ns.log(_pos(ns, u)),
    "log1p": lambda ns, u, p: ns.log1p(u * u),
    "powf": lambda ns, u, p: _pos(ns, u) ** 1.7,
    "abs": lambda ns, u, p: ns.abs(u),
    "neg": lambda ns, u, p: -u,
    "arctan": lambda ns, u, p: ns.arctan(u),
    "sum": lambda ns, u, p: ns.sum(u, axis=_ax(u, p), keepdims=bool(p & 4)),
    "mean": lambda ns, u, p: ns.mean(u, axis=_ax(u, p), keepdims=bool(p & 4)),
    "max": lambda ns, u, p: ns.max(u, axis=_ax(u, p), keepdims=bool(p & 4)),
    "min": lambda ns, u, p: ns.min(u, axis=_ax(u, p), keepdims=bool(p & 4)),
    "prod": lambda ns, u, p: ns.prod(ns.tanh(u), axis=_ax(u, p), keepdims=bool(p & 4)),
    "var": lambda ns, u, p: ns.var(u, axis=_ax(u, p)),
    "lse": lambda ns, u, p: ns.log(ns.sum(ns.exp(u), axis=_ax(u, p))),
    "cumsum": lambda ns, u, p: ns.cumsum(u, axis=_ax(u, p)) if u.ndim else u,
    "cumprod": lambda ns, u, p: ns.cumprod(ns.tanh(u), axis=_ax(u, p)) if u.ndim else u,
    "sort": lambda ns, u, p: ns.sort(u, axis=_ax(u, p)) if u.ndim else u,
    "flip": lambda ns, u, p: u[::-1] if u.ndim else u,
    "negstep": lambda ns, u, p: u[..., ::-2] if u.ndim else u,
    "slice": lambda ns, u, p: u[1:] if u.ndim and u.shape[0] > 1 else u,
    "fancy": lambda ns, u, p: u[ns.array([0, 0, -1, 0])] if u.ndim else u,
    "fancy_last": lambda ns, u, p: u[..., ns.array([1, 1, 0])] if u.ndim and u.shape[-1] > 1 else u,
    "mask": lambda ns, u, p: u[np.arange(u.shape[0]) % 2 == 0] if u.ndim else u,
    "T": lambda ns, u, p: u.T,
    "ravel": lambda ns, u, p: ns.reshape(u, (-1,)),
    "expand": lambda ns, u, p: ns.expand_dims(u, 0 if p % 2 else -1),
    "clip": lambda ns, u, p: ns.clip(u, -0.5, 0.7),
    "where": lambda ns, u, p: ns.where(u > 0.1, u**2, ns.sin(u)),
    "selfmm": lambda ns, u, p: u @ u.T if u.ndim == 2 else (ns.dot(u, u) if u.ndim == 1 else u * u),
    "einsum": lambda ns, u, p: ns.einsum("ij,ij->j", u, ns.cos(u)) if u.ndim == 2 else u,
    "concat": lambda ns, u, p: ns.concatenate([u, ns.sin(u)], axis=_ax(u, p)) if u.ndim else u,
    "stack": lambda ns, u, p: ns.stack([u, u**2], axis=-1 if p % 2 else 0),
    "roll": lambda ns, u, p: ns.roll(u, 1, axis=_ax(u, p)) if u.ndim else u,
    "linalg": lambda ns, u, p: LINALG[p % len(LINALG)](ns, _spd(ns, u)),
}

BINARY = {
    "add": lambda ns, u, v: u + v,
    "mul": lambda ns, u, v: u * v,
    "sub": lambda ns, u, v: u - v,
    "div": lambda ns, u, v: u / _pos(ns, v),
    "maximum": lambda ns, u, v: ns.maximum(u, v),
    "minimum": lambda ns, u, v: ns.minimum(u, v),
    "where": lambda ns, u, v: ns.where(u > v, u, v * 2.0),
    "pow": lambda ns, u, v: _pos(ns, u) ** ns.tanh(v),
    "arctan2": lambda ns, u, v: ns.arctan2(u, _pos(ns, v)),
    "hypot": lambda ns, u, v: ns.hypot(u, _pos(ns, v)),
    "scalars": lambda ns, u, v: 2.5 * u - v / 3.0,
}

SHAPES = [((3, 4), (4,)), ((3, 4), ()), ((4,), (2, 1, 4)), ((2, 3), (3, 1)), ((5,), (5,))]


def random_program(seed):
    r = np.random.default_rng(seed)
    un, bi = sorted(UNARY), sorted(BINARY)
    steps = []
    for _ in range(int(r.integers(3, 7))):
        if r.random() < 0.6:
            steps.append((UNARY[un[r.integers(len(un))]], int(r.integers(1 << 16)), None))
        else:
            steps.append((BINARY[bi[r.integers(len(bi))]], int(r.integers(1 << 16)),
                          int(r.integers(1 << 16))))  # fmt: skip

    def safe(ns, x, y):  # operands that do not broadcast are reduced to a scalar first
        vals = [x, y]
        for op, a, b in steps:
            u = vals[a % len(vals)]
            if b is None:
                vals.append(op(ns, u, a >> 3))
                continue
            v = vals[b % len(vals)]
            try:
                np.broadcast_shapes(u.shape, v.shape)
            except ValueError:
                v = ns.sum(v)
            vals.append(op(ns, u, v))
        return vals[-1]

    s1, s2 = SHAPES[seed % len(SHAPES)]
    x = r.standard_normal(s1)
    y = r.standard_normal(s2) if s2 else np.float64(r.standard_normal())
    return safe, x, y


# seeds chosen (greedily, among the first 200) so that the programs use 43 of the 49 operations
PROGRAM_SEEDS = [2, 4, 10, 29, 33, 54, 89, 143, 183]
HESSIAN_SEEDS = [10, 89]


def _program_case(seed):
    f, x, y = random_program(seed)
    r = np.random.default_rng(seed + 100)
    w = r.standard_normal(np.shape(f(np, x, y)))
    tx, ty = r.standard_normal(x.shape), r.standard_normal(np.shape(y))
    ty = np.float64(ty) if np.ndim(y) == 0 else ty
    xb = np.stack([x, 0.7 * x + 0.1, -x])
    return f, (x, y, w, tx, ty, xb)


def _program_reference(seed):
    """What JAX says about program `seed`, from one compiled function: the value, the Jacobian
    (the gradient, jvp and vjp references are contractions of it), vmap and vmap(grad)."""
    f, args = _program_case(seed)

    def ref(x, y, w, xb):
        fj = lambda x, y: f(jnp, x, y)  # noqa: E731
        lj = lambda x, y: jnp.sum(fj(x, y) * w)  # noqa: E731
        out = {
            "value": fj(x, y),
            "jacobian": jax.jacfwd(fj, argnums=(0, 1))(x, y),
            "vmap": jax.vmap(fj, in_axes=(0, None))(xb, y),
            "vmap grad": jax.vmap(jax.grad(lj), in_axes=(0, None))(xb, y),
        }
        if seed in HESSIAN_SEEDS:
            out["hessian"] = jax.hessian(lj, argnums=(0, 1))(x, y)
        return out

    x, y, w, tx, ty, xb = args
    out = jax.jit(ref)(x, y, w, xb)
    jx, jy = (np.asarray(j) for j in out["jacobian"])
    k = np.ndim(w)  # the output's rank: J has the output's axes, then the input's
    out["vjp"] = (out["value"], (np.tensordot(w, jx, k), np.tensordot(w, jy, k)))
    out["grad"] = out["vjp"][1]
    jvp = np.tensordot(jx, tx, np.ndim(tx)) + np.tensordot(jy, ty, np.ndim(ty))
    out["jvp"] = (out["value"], jvp)
    return out


@pytest.fixture(scope="module")
def program_refs():
    return {seed: _program_reference(seed) for seed in PROGRAM_SEEDS}


@pytest.mark.parametrize("seed", PROGRAM_SEEDS)
def test_random_programs_match_jax_under_every_transformation(seed, program_refs):
    want = program_refs[seed]
    f, (x, y, w, tx, ty, xb) = _program_case(seed)
    ours = lambda x, y: f(cnp, x, y)  # noqa: E731
    lo = lambda x, y: cnp.sum(ours(x, y) * w)  # noqa: E731
    value = ours(x, y)
    assert_same(value, want["value"])
    g = cr.grad(lo, argnums=(0, 1))(x, y)
    assert_same(g, want["grad"])
    assert_same(cr.jacfwd(ours, argnums=(0, 1))(x, y), want["jacobian"])
    assert_same(cr.jacrev(ours, argnums=(0, 1))(x, y), want["jacobian"])
    assert_same(cr.jvp(ours, (x, y), (tx, ty)), want["jvp"])
    assert_same(vjp_applied(ours, (x, y), w), want["vjp"])
    assert_same(cr.vmap(ours, in_axes=(0, None))(xb, y), want["vmap"])
    assert_same(cr.vmap(ours, in_axes=(-1, None), out_axes=-1)(np.moveaxis(xb, 0, -1), y),
                np.moveaxis(want["vmap"], 0, -1))  # fmt: skip
    assert_same(cr.vmap(cr.grad(lo), in_axes=(0, None))(xb, y), want["vmap grad"])
    if seed in HESSIAN_SEEDS:
        assert_same(cr.hessian(lo, argnums=(0, 1))(x, y), want["hessian"], rtol=1e-8, atol=1e-8)
    # jit repeats eager chainrule bit for bit
    assert_bitwise(cr.jit(ours)(x, y), value)
    assert_bitwise(cr.jit(cr.grad(lo, argnums=(0, 1)))(x, y), g)


@pytest.mark.parametrize("seed", range(40, 44))
def test_random_float32_programs_dtypes_and_jit(seed):
    """float32 inputs with Python scalars in the program: the value is NumPy's bit for bit (and
    of its dtype), the gradient has the inputs' dtypes and is JAX's to float32 rounding, and jit
    repeats eager chainrule bit for bit."""
    f, x, y = random_program(seed)
    x = x.astype(np.float32)
    y = y.astype(np.float32) if np.ndim(y) else np.float32(y)
    value = f(cnp, x, y)
    ref = f(np, x, y)
    assert np.asarray(value).dtype == np.asarray(ref).dtype == np.float32
    np.testing.assert_array_equal(value, ref)
    w = np.random.default_rng(seed).standard_normal(np.shape(ref)).astype(np.float32)
    lo = lambda x, y: cnp.sum(f(cnp, x, y) * w)  # noqa: E731
    g = cr.grad(lo, argnums=(0, 1))(x, y)
    gj = jax.jit(jax.grad(lambda x, y: jnp.sum(f(jnp, x, y) * w), argnums=(0, 1)))(x, y)
    for a, b in zip(g, gj, strict=True):
        assert np.asarray(a).dtype == np.asarray(b).dtype == np.float32
        # a few float32 operations: ~1e-7 relative rounding, amplified by at most ~1e3
        np.testing.assert_allclose(np.float64(a), np.float64(b), rtol=2e-4, atol=2e-4)
    assert_bitwise(cr.jit(lambda x, y: f(cnp, x, y))(x, y), value)
    assert_bitwise(cr.jit(cr.grad(lo, argnums=(0, 1)))(x, y), g)


# --- ties and boundaries -----------------------------------------------------------------------
#
# Inputs with repeated values, zeros and values on the boundaries of the operations, where the
# derivative conventions agree with JAX's (kinks chainrule documents a different subgradient for,
# abs at 0 and clip at its bounds, are left out).

TIE_X = np.array([1.0, 2.0, 2.0, -1.0, 0.0, 3.0])
RAMP = np.arange(6.0)

TIES = {
    "max_ties": lambda ns, x: ns.max(x * ns.array([1.0, 1.0, 1.0, 1.0, 1.0, 2 / 3])),
    "max_axis_keepdims": lambda ns, x: ns.sum(
        ns.max(ns.reshape(x, (2, 3)) ** 2, axis=0, keepdims=True) * ns.arange(3.0)
    ),
    "min_ties": lambda ns, x: ns.min((x - 1.5) ** 2),
    "maximum_ties": lambda ns, x: ns.sum(ns.maximum(x, 2.0) * RAMP),
    "maximum_of_flip": lambda ns, x: ns.sum(ns.maximum(x, x[::-1]) * RAMP),
    "relu_at_zero": lambda ns, x: ns.sum(ns.maximum(x, 0.0) * RAMP),
    "where_at_threshold": lambda ns, x: ns.sum(ns.where(x > 1.0, x**2, 3 * x)),
    "sort_ties": lambda ns, x: ns.sum(ns.sort(x) * RAMP),
    "sort_ties_axis0": lambda ns, x: ns.sum(
        ns.sort(ns.reshape(x, (2, 3)), axis=0) * ns.reshape(RAMP, (2, 3))
    ),
    "sqrt_of_square_at_0": lambda ns, x: ns.sum(ns.sqrt(x * x) * RAMP),
    "sqrt_at_0": lambda ns, x: ns.sqrt(x[4]),
    "x_pow_int_0": lambda ns, x: ns.sum(x**0),
    "x_pow_1p5": lambda ns, x: ns.sum(ns.power(x * x, 0.75)),
    "x_over_x_at_0": lambda ns, x: ns.sum(x / x),
    "prod_one_zero": lambda ns, x: ns.prod(x),
    "prod_two_zeros": lambda ns, x: ns.prod(x * ns.array([1, 1, 1, 1, 1, 0.0])),
    "prod_axis": lambda ns, x: ns.sum(ns.prod(ns.reshape(x, (3, 2)), axis=1)),
    "cumprod_zero": lambda ns, x: ns.sum(ns.cumprod(x)),
    "cumprod_two_zeros": lambda ns, x: ns.sum(ns.cumprod(x * ns.array([1, 0, 1, 1, 1, 1.0]))),
    "norm": lambda ns, x: ns.linalg.norm(x),
    "norm_inf": lambda ns, x: ns.linalg.norm(x, ord=np.inf),
    "log_at_0": lambda ns, x: ns.sum(ns.log(x * x)),
    "median": lambda ns, x: ns.median(x),
    "ptp": lambda ns, x: ns.ptp(x),
    "sinc_at_0": lambda ns, x: ns.sum(ns.sinc(x)),
    "sign_times_x": lambda ns, x: ns.sum(ns.sign(x) * x**2),
    "take_repeated": lambda ns, x: ns.sum(ns.take(x, ns.array([0, 0, 2, 5, 5])) ** 2),
    "fancy_repeated_negative": lambda ns, x: ns.sum(x[ns.array([1, 1, -1, 3])] ** 3),
    "bool_mask": lambda ns, x: ns.sum(x[np.array([True, False, True, True, False, True])] ** 2),
    "take_along_axis": lambda ns, x: ns.sum(
        ns.take_along_axis(ns.reshape(x, (2, 3)), ns.array([[2, 0, 0], [1, 1, 2]]), axis=1)
        * ns.reshape(RAMP, (2, 3))
    ),
}
# the Hessian (the costliest reference to compile) for the cases where a second derivative
# meets a tie, a zero or a boundary
TIE_HESSIANS = ["max_ties", "x_over_x_at_0", "prod_two_zeros"]


def _value_grad_refs(cases, hessians, x):
    """JAX's value and gradient (and Hessian, for the cases named in `hessians`) of each
    case ``f(ns, x)`` at `x`, in one jitted call."""

    def ref(x):
        out = {}
        for name, f in cases.items():
            g = lambda x, f=f: f(jnp, x)  # noqa: E731
            out[name] = {"value": g(x), "grad": jax.grad(g)(x)}
            if name in hessians:
                out[name]["hessian"] = jax.hessian(g)(x)
        return out

    return jax.jit(ref)(x)


@pytest.fixture(scope="module")
def tie_refs():
    with np.errstate(all="ignore"):
        return _value_grad_refs(TIES, TIE_HESSIANS, TIE_X)


@pytest.mark.parametrize("name", list(TIES))
def test_ties_and_boundaries_match_jax(name, tie_refs):
    want = tie_refs[name]
    ours = lambda x: TIES[name](cnp, x)  # noqa: E731
    with np.errstate(all="ignore"):
        assert_same(ours(TIE_X), want["value"])
        g = cr.grad(ours)(TIE_X)
        assert_same(g, want["grad"])
        if name in TIE_HESSIANS:
            assert_same(cr.hessian(ours)(TIE_X), want["hessian"])
        assert_bitwise(cr.jit(cr.grad(ours))(TIE_X), g)


NAN_X = np.array([-1.0, 0.0, 2.0, -np.inf, 1.0])

NAN_PATTERNS = {
    # the classic where-NaN: the unselected branch's NaN/inf derivative leaks through (0 * inf)
    "where_sqrt": lambda ns, sp, x: ns.sum(ns.where(x > 0, ns.sqrt(x), 0.0)),
    "where_log": lambda ns, sp, x: ns.sum(ns.where(x > 0, ns.log(x), x)),
    "where_reciprocal": lambda ns, sp, x: ns.sum(ns.where(x != 0, 1 / x, 1.0)),
    "logsumexp_minus_inf": lambda ns, sp, x: sp.logsumexp(x),
    "logsumexp_axis": lambda ns, sp, x: ns.sum(
        sp.logsumexp(ns.reshape(ns.concatenate([x, x[:1]]), (2, 3)), axis=1)
    ),
    "logsumexp_b": lambda ns, sp, x: sp.logsumexp(x, b=ns.array([1.0, 2.0, 0.0, 1.0, 0.5])),
    "softmax": lambda ns, sp, x: ns.sum(sp.softmax(x) * ns.arange(5.0)),
    "xlogy": lambda ns, sp, x: ns.sum(sp.xlogy(x, x * x + 1)),
    "xlogy_zero": lambda ns, sp, x: ns.sum(sp.xlogy(x * 0, x)),
    "expit": lambda ns, sp, x: ns.sum(sp.expit(x)),
    "max_with_minus_inf": lambda ns, sp, x: ns.max(x),
    "exp_minus_inf": lambda ns, sp, x: ns.sum(ns.exp(x)),
    "inf_times_zero": lambda ns, sp, x: ns.sum(x * 0.0),
}


@pytest.fixture(scope="module")
def nan_refs():
    jsp = pytest.importorskip("jax.scipy.special")

    def ref(x):
        out = {}
        for name, f in NAN_PATTERNS.items():
            g = lambda x, f=f: f(jnp, jsp, x)  # noqa: E731
            out[name] = (g(x), jax.grad(g)(x))
        return out

    return jax.jit(ref)(NAN_X)


@pytest.mark.parametrize("name", list(NAN_PATTERNS))
def test_nan_and_inf_patterns_match_jax(name, nan_refs):
    csp = pytest.importorskip("chainrule.scipy.special")
    g = lambda x: NAN_PATTERNS[name](cnp, csp, x)  # noqa: E731
    with np.errstate(all="ignore"):
        assert_same((g(NAN_X), cr.grad(g)(NAN_X)), nan_refs[name])
        assert_same(cr.jacrev(g)(NAN_X), nan_refs[name][1])


# --- vmap against JAX, with the batch axis anywhere and unbatched operands -----------------------

_r = np.random.default_rng(3)
VX = _r.standard_normal((3, 4, 5))
VM = _r.standard_normal((4, 4))
VI = np.array([[0, 3, 3], [1, 1, 0], [2, 0, 3]])
VB = _r.standard_normal((3, 4)) > 0
VS = np.einsum("bij,bkj->bik", VX, VX) + 5 * np.eye(4)

VMAPS = {
    "index_batched_indices": (lambda ns, x, i: x[i], (VX, VI), (0, 0)),
    "index_slice_then_array": (lambda ns, x, i: x[1:3, i], (VX, VI), (0, 0)),
    "index_unbatched_indices": (lambda ns, x, i: x[:, ns.array([3, 0, 3])], (VX, VI), (2, None)),
    "where_batched_mask": (lambda ns, x, m: ns.where(m[:, None], x, 0.5), (VX, VB), (0, 0)),
    "matmul_batch_in_middle": (lambda ns, x, m: m @ x.T[:4], (VX, VM), (1, None)),
    "matmul_batch_last": (lambda ns, x, m: x @ m, (VX, VM), (2, None)),
    "solve_batched": (lambda ns, s, x: ns.linalg.solve(s, x[:, 0]), (VS, VX), (0, 0)),
    "solve_unbatched_matrix": (
        lambda ns, x, s: ns.linalg.solve(s, x[:, 0]),
        (VX, VS[0]),
        (0, None),
    ),  # fmt: skip
    "solve_unbatched_rhs": (lambda ns, s, x: ns.linalg.solve(s, x), (VS, VX[0]), (0, None)),
    "slogdet": (lambda ns, s, x: tuple(ns.linalg.slogdet(s)), (VS, VX), (0, None)),
    "cholesky": (lambda ns, s, x: ns.linalg.cholesky(s), (VS, VX), (0, None)),
    "eigh_values": (lambda ns, s, x: ns.linalg.eigh(s)[0], (VS, VX), (0, None)),
    "sort_negative_axis": (lambda ns, x, m: ns.sort(x, axis=-2), (VX, VM), (2, None)),
    "cumsum_negative_axis": (lambda ns, x, m: ns.cumsum(x, axis=-1), (VX, VM), (1, None)),
    "max_keepdims": (lambda ns, x, m: ns.max(x, axis=0, keepdims=True) - x, (VX, VM), (1, None)),
    "concat_with_unbatched": (
        lambda ns, x, m: ns.concatenate([x, m], axis=-1),
        (VX, VM),
        (0, None),
    ),  # fmt: skip
    "swapaxes_matmul": (lambda ns, x, m: ns.swapaxes(x, 0, 1) @ m, (VX, VM), (0, None)),
    "flip_negative_step": (lambda ns, x, m: ns.flip(x, axis=1)[::-2], (VX, VM), (1, None)),
    "norm_axis": (lambda ns, x, m: ns.linalg.norm(x, axis=-1), (VX, VM), (0, None)),
    "tensordot": (lambda ns, x, m: ns.tensordot(x, m, axes=([0], [1])), (VX, VM), (0, None)),
}


def _vmap_loss(m, ns, name):
    f, args, in_axes = VMAPS[name]

    def loss(x):
        out = m.vmap(lambda *a: f(ns, *a), in_axes=in_axes)(x, args[1])
        out = out[1] if isinstance(out, tuple) else out  # slogdet: its log-determinant
        return ns.sum(ns.sin(out))

    return loss


# the derivative of a loss through the vmap, for the cases whose batching rule differs from the
# plain operation's most (repeated indices, linear algebra, sort, unbatched operands)
VMAP_GRADS = ["index_batched_indices", "solve_unbatched_rhs", "slogdet", "sort_negative_axis",
              "concat_with_unbatched"]  # fmt: skip


@pytest.fixture(scope="module")
def vmap_refs():
    def ref():
        out = {}
        for name, (f, args, in_axes) in VMAPS.items():
            g = lambda *a, f=f: f(jnp, *a)  # noqa: E731
            out[name] = {f"out_axes={oa}": jax.vmap(g, in_axes=in_axes, out_axes=oa)(*args)
                         for oa in (0, -1)}  # fmt: skip
            if name in VMAP_GRADS:
                out[name]["grad"] = jax.grad(_vmap_loss(jax, jnp, name))(args[0])
        return out

    return jax.jit(ref)()


@pytest.mark.parametrize("name", list(VMAPS))
def test_vmap_axes_and_unbatched_operands_match_jax(name, vmap_refs):
    f, args, in_axes = VMAPS[name]
    ours = lambda *a: f(cnp, *a)  # noqa: E731
    for out_axes in (0, -1):
        assert_same(cr.vmap(ours, in_axes=in_axes, out_axes=out_axes)(*args),
                    vmap_refs[name][f"out_axes={out_axes}"])  # fmt: skip
    g = cr.grad(_vmap_loss(cr, cnp, name))(args[0])
    assert_same(cr.jacfwd(_vmap_loss(cr, cnp, name))(args[0]), g)
    if name in VMAP_GRADS:
        assert_same(g, vmap_refs[name]["grad"])


# --- linear algebra compositions (symmetric positive definite where a triangle is read) ---------

_A0 = np.random.default_rng(5).standard_normal((4, 4))
_W16 = np.arange(16.0).reshape(4, 4)


def _spd4(ns, a):
    return a @ a.T + 4 * ns.eye(4)


LINALG_CASES = {
    "eigh_vectors_squared": lambda ns, a: ns.sum(ns.linalg.eigh(_spd4(ns, a))[1] ** 2 * _W16),
    "svd_reconstruction": lambda ns, a: ns.sum(
        ns.sin((lambda u, s, vt: (u * s) @ vt)(*ns.linalg.svd(a, full_matrices=False)))
    ),
    "slogdet_sign_times_log": lambda ns, a: ns.linalg.slogdet(a)[1] * ns.linalg.slogdet(a)[0],
    "cholesky": lambda ns, a: ns.sum(ns.linalg.cholesky(_spd4(ns, a)) * _W16),
}
LINALG_HESSIANS = ["slogdet_sign_times_log"]


@pytest.fixture(scope="module")
def linalg_refs():
    return _value_grad_refs(LINALG_CASES, LINALG_HESSIANS, _A0)


@pytest.mark.parametrize("name", list(LINALG_CASES))
def test_linalg_compositions_match_jax(name, linalg_refs):
    want = linalg_refs[name]
    ours = lambda a: LINALG_CASES[name](cnp, a)  # noqa: E731
    # decompositions: a few more roundings (eigen-gaps, 1/σ terms) than elementwise programs
    assert_same(ours(_A0), want["value"])
    assert_same(cr.grad(ours)(_A0), want["grad"], rtol=1e-8, atol=1e-8)
    assert_same(cr.jacfwd(ours)(_A0), want["grad"], rtol=1e-8, atol=1e-8)
    if name in LINALG_HESSIANS:
        assert_same(cr.hessian(ours)(_A0), want["hessian"], rtol=1e-7, atol=1e-7)


# --- complex compositions --------------------------------------------------------------------

_Z = np.array([1 + 2j, -0.5 + 0.3j, 2 - 1j])
_ZW = np.array([0.3 - 1j, 1 + 1j, -2 + 0.5j])
_ZT = np.array([0.5 - 0.2j, 1j, 1.0])

REAL_OF_COMPLEX = {
    "abs_squared": lambda ns, z: ns.sum(ns.abs(z) ** 2),
    "real_z_conj_w": lambda ns, z: ns.sum(ns.real(z * ns.conj(ns.asarray(_ZW)))),
    "abs_fft": lambda ns, z: ns.sum(ns.abs(ns.fft.fft(z)) ** 2),
    "where_on_real_part": lambda ns, z: ns.sum(ns.abs(ns.where(ns.real(z) > 0, z, 2 * z))),
    "abs_power": lambda ns, z: ns.sum(ns.abs(z**2.5)),
}

HOLOMORPHIC = {
    "square": lambda ns, z: ns.sum(z**2),
    "exp_times_z": lambda ns, z: ns.sum(ns.exp(z) * z),
    "power": lambda ns, z: ns.sum(z**2.5),
    "z_to_the_z": lambda ns, z: ns.sum(z**z),
}

REAL_TO_COMPLEX = {
    "exp_i_x": lambda ns, x: ns.exp(1j * x),
    "fft": lambda ns, x: ns.fft.fft(x),
    "rfft": lambda ns, x: ns.fft.rfft(x),
}
_XR = np.array([0.3, -1.2, 2.0])


@pytest.fixture(scope="module")
def complex_refs():
    def ref(z, w, t, x):
        out = {}
        for name, f in REAL_OF_COMPLEX.items():
            g = lambda z, f=f: f(jnp, z)  # noqa: E731
            out["real", name] = (jax.value_and_grad(g)(z), jax.jvp(g, (z,), (t,)),
                                 jax.vmap(jax.grad(g))(jnp.stack([z, w])))  # fmt: skip
        for name, f in HOLOMORPHIC.items():
            g = lambda z, f=f: f(jnp, z)  # noqa: E731
            h = lambda z, g=g: g(z) * z  # noqa: E731
            out["holomorphic", name] = (
                jax.grad(g, holomorphic=True)(z), jax.jacfwd(h, holomorphic=True)(z),
                jax_vjp_applied(h, (z,), w),
            )  # fmt: skip
            if name == "z_to_the_z":
                out["holomorphic", name] += (jax.hessian(g, holomorphic=True)(z),)
        for name, f in REAL_TO_COMPLEX.items():
            g = lambda x, f=f: f(jnp, x)  # noqa: E731
            ct = w[: g(x).shape[0]]
            out["to complex", name] = (jax_vjp_applied(g, (x,), ct), jax.jacfwd(g)(x),
                                       jax.jvp(g, (x,), (x[::-1],)))  # fmt: skip
        return out

    return jax.jit(ref)(_Z, _ZW, _ZT, _XR)


@pytest.mark.parametrize("name", list(REAL_OF_COMPLEX))
def test_real_valued_functions_of_complex_inputs_match_jax(name, complex_refs):
    ours = lambda z: REAL_OF_COMPLEX[name](cnp, z)  # noqa: E731
    got = (cr.value_and_grad(ours)(_Z), cr.jvp(ours, (_Z,), (_ZT,)),
           cr.vmap(cr.grad(ours))(np.stack([_Z, _ZW])))  # fmt: skip
    assert_same(got, complex_refs["real", name])


@pytest.mark.parametrize("name", list(HOLOMORPHIC))
def test_holomorphic_compositions_match_jax(name, complex_refs):
    g = lambda z: HOLOMORPHIC[name](cnp, z)  # noqa: E731
    h = lambda z: g(z) * z  # noqa: E731
    grad, jac, vjp, *hess = complex_refs["holomorphic", name]
    assert_same(cr.grad(g, holomorphic=True)(_Z), grad)
    assert_same(cr.jacfwd(h, holomorphic=True)(_Z), jac)
    assert_same(cr.jacrev(h, holomorphic=True)(_Z), jac)
    assert_same(vjp_applied(h, (_Z,), _ZW), vjp)
    if hess:
        assert_same(cr.hessian(g, holomorphic=True)(_Z), hess[0], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", list(REAL_TO_COMPLEX))
def test_complex_outputs_of_real_inputs_match_jax(name, complex_refs):
    g = lambda x: REAL_TO_COMPLEX[name](cnp, x)  # noqa: E731
    ct = _ZW[: np.shape(REAL_TO_COMPLEX[name](np, _XR))[0]]
    got = (vjp_applied(g, (_XR,), ct), cr.jacfwd(g)(_XR), cr.jvp(g, (_XR,), (_XR[::-1].copy(),)))
    assert_same(got, complex_refs["to complex", name])
    with pytest.raises(TypeError, match="holomorphic"):  # as jax.jacrev: a complex output
        cr.jacrev(g)(_XR)


# --- control flow closing over traced values ----------------------------------------------------


def _wrap(m, how, g):
    if m is cr:
        cond, scan, fori, whl = cr.cond, cr.scan, cr.fori_loop, cr.while_loop
    else:
        cond, scan, fori, whl = lax.cond, lax.scan, lax.fori_loop, lax.while_loop
    if how == "jit":
        return m.jit(g)
    if how == "cond":
        return lambda a: cond(True, g, lambda a: a, a)
    if how == "scan":
        return lambda a: scan(lambda c, _: (g(c), None), a, None, length=1)[0]
    if how == "fori_loop":
        return lambda a: fori(0, 1, lambda i, c: g(c), a)
    return lambda a: whl(lambda s: s[1] < 1, lambda s: (g(s[0]), s[1] + 1), (a, 0))[0]


CLOSURES = ["jit", "cond", "scan", "fori_loop", "while_loop"]
_Y0, _YT = np.array([1.5, -0.5]), np.array([1.0, 0.3])


def _closure_program(m, ns, how):
    def f(y):
        g = _wrap(m, how, lambda a: ns.sin(a * y))
        return ns.sum(g(g(y)))  # the closure and the argument traced by the same transformation

    return f


@pytest.fixture(scope="module")
def closure_refs():
    def ref(y, t):
        out = {}
        for how in CLOSURES:
            f = _closure_program(jax, jnp, how)
            batch = jnp.stack([y, 2 * y])
            out[how] = (jax.jvp(f, (y,), (t,)), jax.jacfwd(f)(y), jax.vmap(f)(batch))
            if how != "while_loop":  # JAX has no reverse mode for while_loop
                out[how] += (jax.grad(f)(y), jax.hessian(f)(y))
        return out

    return jax.jit(ref)(_Y0, _YT)


@pytest.mark.parametrize("how", CLOSURES)
def test_function_closing_over_a_traced_value_applied_to_its_output_matches_jax(how, closure_refs):
    f = _closure_program(cr, cnp, how)
    want = closure_refs[how]
    assert_same(cr.jvp(f, (_Y0,), (_YT,)), want[0])
    assert_same(cr.jacfwd(f)(_Y0), want[1])
    assert_same(cr.vmap(f)(np.stack([_Y0, 2 * _Y0])), want[2])
    if how != "while_loop":
        assert_same(cr.grad(f)(_Y0), want[3])
        assert_same(cr.hessian(f)(_Y0), want[4])
    else:  # chainrule's reverse mode of while_loop: JAX's forward-mode gradient
        assert_same(cr.grad(f)(_Y0), want[1])


# --- dtypes: NumPy 2 / NEP 50 promotion through every transformation -----------------------------

DTYPE_CASES = {
    "python_float": lambda ns, x: x * 2.5 + 1.0,
    "python_int": lambda ns, x: x * 3 + 1,
    "np_float64_scalar": lambda ns, x: x * np.float64(2.5),
    "np_float32_scalar": lambda ns, x: x * np.float32(2.5),
    "np_float64_0d_array": lambda ns, x: x * np.array(2.5),
    "np_int64_array": lambda ns, x: x * np.array([1, 2, 3]),
    "python_complex": lambda ns, x: x * (1 + 2j),
    "power_python_float": lambda ns, x: x**2.0,
    "rpow": lambda ns, x: 2.0**x,
    "reciprocal_python_int": lambda ns, x: 1 / x,
    "where_python_scalar": lambda ns, x: ns.where(x.real > 0, x, 0.0),
    "maximum_python_int": lambda ns, x: ns.maximum(x.real, 0),
    "arange_float": lambda ns, x: x * ns.arange(3.0),
    "arange_int": lambda ns, x: x * ns.arange(3),
    "ones": lambda ns, x: x * ns.ones(3),
    "full_like": lambda ns, x: x + ns.full_like(x, 2.0),
    "concatenate_float64": lambda ns, x: ns.concatenate([x, np.zeros(2)]),
    "matmul_float64": lambda ns, x: x @ np.eye(3),
    "norm": lambda ns, x: ns.linalg.norm(x),
    "einsum": lambda ns, x: ns.einsum("i,j->ij", x, x),
    "times_bool": lambda ns, x: ns.tanh(x) * (x.real > 0),
    "np_int32_scalar": lambda ns, x: x * np.int32(2),
}
DTYPE_INPUTS = {
    "float32": np.array([0.5, -1.25, 2.0], np.float32),
    "float16": np.array([0.5, -1.25, 2.0], np.float16),
    "float64": np.array([0.5, -1.25, 2.0]),
    "complex64": np.array([0.5 + 2j, -1.25 + 0j, 2.0 - 1.25j], np.complex64),
}


@pytest.mark.parametrize("kind", list(DTYPE_INPUTS))
def test_dtypes_follow_numpy_under_every_transformation(kind):
    x = DTYPE_INPUTS[kind]
    for name, f in DTYPE_CASES.items():
        ref = f(np, x)
        want = (np.asarray(ref).dtype, np.shape(ref))
        g = lambda a, f=f: f(cnp, a)  # noqa: E731
        got = {"eager": g(x), "jit": cr.jit(g)(x), "vmap": cr.vmap(g)(np.stack([x, x]))[0]}
        got["jvp primal"], got["jvp tangent"] = cr.jvp(g, (x,), (np.ones_like(x),))
        out, pull = cr.vjp(g, x)
        got["vjp primal"] = out
        for where, v in got.items():
            assert (np.asarray(v).dtype, np.shape(v)) == want, (name, where)
        np.testing.assert_array_equal(got["eager"], ref)
        assert np.asarray(pull(np.ones(want[1], want[0]))[0]).dtype == x.dtype, name
        if not np.iscomplexobj(ref):
            assert np.asarray(cr.grad(lambda a, g=g: cnp.sum(g(a)))(x)).dtype == x.dtype, name


TRANSFORMS = ["grad", "jacfwd", "jacrev", "hessian", "jvp", "vjp", "linearize"]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_inputs_to_derivatives_raise_a_type_error(transform, dtype):
    x = np.array([1, 0, 1], dtype)
    run = {
        "grad": lambda m, f: m.grad(f)(x),
        "jacfwd": lambda m, f: m.jacfwd(f)(x),
        "jacrev": lambda m, f: m.jacrev(f)(x),
        "hessian": lambda m, f: m.hessian(f)(x),
        "jvp": lambda m, f: m.jvp(f, (x,), (np.ones(3),)),
        "vjp": lambda m, f: m.vjp(f, x)[1](np.float64(1.0)),
        "linearize": lambda m, f: m.linearize(f, x)[1](np.ones(3)),
    }[transform]
    with pytest.raises(TypeError, match="dtype"):
        run(cr, lambda x: cnp.sum(cnp.sin(x)))
    if transform not in ("vjp", "linearize"):  # JAX: float0 cotangents, and a ValueError
        with pytest.raises(TypeError):
            run(jax, lambda x: jnp.sum(jnp.sin(x)))
