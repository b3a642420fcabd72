"""Control flow (cond, switch, fori_loop, while_loop, scan): values against plain Python
loops, eagerly and compiled; gradients in both modes against finite differences, JAX's
``jax.lax`` and (bit for bit) the eager tape; vmap against a loop over examples; closed-over
parameters; pytrees; the while loop's checkpointed reverse mode (memory and body executions);
tracing time independent of the trip count; errors; the compiler passes."""

from __future__ import annotations

import os
import tracemalloc
from collections import namedtuple

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compiler import check, passes
from chainrule.core import primitives as P
from chainrule.core.errors import ConcretizationError
from chainrule.core.ir import evaluate
from chainrule.transforms import control
from chainrule.transforms.control import cond, fori_loop, scan, switch, while_loop
from finite_differences import central_gradient

rng = np.random.default_rng(7)
X = rng.normal(size=4)
W = rng.normal(size=4) * 0.7
XS = rng.normal(size=(5, 4))
FULL = os.environ.get("CHAINRULE_FULL_TESTS") == "1"


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def same_tree(a, b) -> bool:
    la, ta = cr.tree_util.tree_flatten(a)
    lb, tb = cr.tree_util.tree_flatten(b)
    return ta == tb and all(same(x, y) for x, y in zip(la, lb))


def jax_lax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# --- the test functions: each control-flow function, with a closed-over parameter ---------


def f_scan(x, w):
    def body(c, xi):
        h = cnp.tanh(c * w + xi)
        return h, cnp.sum(h * xi)

    c, ys = scan(body, x, XS)
    return cnp.sum(c ** 2) + cnp.sum(ys)


def f_scan_rev(x, w):
    def body(c, xi):
        h = cnp.sin(c) * w + xi
        return h, h[0]

    c, ys = scan(body, x, XS, reverse=True)
    return cnp.sum(c * ys[1]) + ys[0]


def f_fori(x, w):
    return cnp.sum(fori_loop(0, 6, lambda i, v: cnp.sin(v * w) + 0.1 * i, x) ** 2)


def f_while(x, w):
    def body(s):
        i, v = s
        return i + 1, cnp.sin(v) * w + 0.3

    return cnp.sum(while_loop(lambda s: s[0] < 7, body, (0, x))[1] ** 2)


def f_cond(x, w):
    return cond(cnp.sum(x) > 0, lambda v: cnp.sum(cnp.sin(v) * w),
                lambda v: cnp.sum(v * v * w), x)  # fmt: skip


def f_switch(x, w):
    k = cnp.astype(cnp.floor(cnp.abs(cnp.sum(x)) * 2), np.int64)
    return switch(k, [lambda v: cnp.sum(v * w), lambda v: cnp.sum(cnp.exp(v) * w),
                      lambda v: cnp.sum(cnp.tanh(v * w))], x)  # fmt: skip


FUNS = {"scan": f_scan, "scan_reverse": f_scan_rev, "fori_loop": f_fori, "while_loop": f_while,
        "cond": f_cond, "switch": f_switch}  # fmt: skip


# --- values ----------------------------------------------------------------------------------


def test_eager_values_against_python_loops():
    c, ys = scan(lambda c, x: (c + x, c * x), 1.0, np.arange(1.0, 5.0))
    ref_c, ref_ys = 1.0, []
    for x in np.arange(1.0, 5.0):
        ref_ys.append(ref_c * x)
        ref_c = ref_c + x
    assert c == ref_c and same(ys, np.array(ref_ys))
    assert fori_loop(2, 6, lambda i, v: v * i, 1.0) == 2 * 3 * 4 * 5
    assert while_loop(lambda v: v < 100, lambda v: v * 3, 1) == 243
    assert switch(1, [lambda: 0, lambda: 1, lambda: 2]) == 1


def test_eager_cond_and_switch_run_one_branch():
    calls = []
    br = [lambda v, k=k: calls.append(k) or v * k for k in range(3)]
    assert [switch(i, br, 1.0) for i in (-3, 0, 1, 2, 7)] == [0.0, 0.0, 1.0, 2.0, 2.0]
    assert calls == [0, 0, 1, 2, 2]  # the index is clamped, as JAX does
    assert cond(np.float64(0.0), lambda: "t", lambda: "f") == "f"


@pytest.mark.parametrize("name", sorted(FUNS))
def test_jit_equals_eager_bitwise(name):
    f = FUNS[name]
    for x in (X, -X, X * 0.3):
        assert same(cr.jit(f)(x, W), f(x, W))


def test_pytrees_reverse_and_length():
    Carry = namedtuple("Carry", "a b")
    xs = {"u": np.arange(6.0).reshape(3, 2), "v": np.arange(3.0)}

    def body(c, x):
        c = Carry(c.a + x["u"], c.b * 2.0 + x["v"])
        return c, {"s": cnp.sum(c.a), "p": (c.b, x["v"] * 2)}

    def run(reverse):
        return scan(body, Carry(np.zeros(2), 1.0), xs, reverse=reverse)

    for reverse in (False, True):
        eager = run(reverse)
        assert isinstance(eager[0], Carry)
        assert same_tree(cr.jit(lambda: run(reverse))(), eager)
        order = range(2, -1, -1) if reverse else range(3)
        c = Carry(np.zeros(2), 1.0)
        ys = [None] * 3
        for t in order:
            c, ys[t] = body(c, {"u": xs["u"][t], "v": xs["v"][t]})
        assert same(eager[0].a, c.a) and eager[0].b == c.b
        assert same(eager[1]["p"][0], np.array([y["p"][0] for y in ys]))
    # xs=None with a length; y None
    out = cr.jit(lambda c: scan(lambda c, _: (c * 2.0, None), c, None, length=5))(1.5)
    assert out == (48.0, None) and scan(lambda c, _: (c * 2.0, None), 1.5, None, length=5) == out
    # zero steps
    zero = lambda x: scan(lambda c, v: (c + cnp.sum(v), c * v), 1.0, x)  # noqa: E731
    for c, ys in (zero(np.zeros((0, 2))), cr.jit(zero)(np.zeros((0, 2)))):
        assert c == 1.0 and ys.shape == (0, 2) and ys.dtype == np.float64


def test_while_and_fori_pytrees_and_traced_bounds():
    def collatz(n):
        def body(s):
            k, steps = s["n"], s["steps"]
            k = cnp.where(k % 2 == 0, k // 2, 3 * k + 1)
            return {"n": k, "steps": steps + 1}

        return while_loop(lambda s: s["n"] != 1, body, {"n": n, "steps": 0})["steps"]

    assert collatz(np.int64(27)) == 111 and cr.jit(collatz)(np.int64(27)) == 111
    f = lambda x, n: fori_loop(0, n, lambda i, v: v * 0.5 + i, x)  # noqa: E731
    for n in (0, 1, 4):
        assert same(cr.jit(f)(X, n), f(X, n))
    assert same(cr.jit(f, static_argnums=1)(X, 4), f(X, 4))


def test_switch_clamps_under_jit():
    f = cr.jit(lambda i, x: switch(i, [lambda v: v + 1.0, lambda v: v * 10.0,
                                       lambda v: -v], x))  # fmt: skip
    assert [float(f(i, 2.0)) for i in (-4, 0, 1, 2, 3, 99)] == [3.0, 3.0, 20.0, -2.0, -2.0, -2.0]


def test_weak_types_promote_as_jax():
    # a Python int carry meets floats: the carry becomes a float
    assert same_tree(cr.jit(lambda: scan(lambda c, x: (c + x, c), 0, np.arange(3.0)))(),
                     scan(lambda c, x: (c + x, c), 0, np.arange(3.0)))  # fmt: skip
    x32 = np.ones(3, np.float32)
    r = cr.jit(lambda v: fori_loop(0, 3, lambda i, c: c * i + 1, v))(x32)
    assert r.dtype == np.float32 and same(r, fori_loop(0, 3, lambda i, c: c * i + 1, x32))


# --- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNS))
def test_grad_against_finite_differences_and_bitwise_across_jit(name):
    f = FUNS[name]
    for x in (X, -X * 0.7):
        gx, gw = cr.grad(f, argnums=(0, 1))(x, W)
        np.testing.assert_allclose(gx, central_gradient(lambda v: f(v, W), x), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(gw, central_gradient(lambda v: f(x, v), W), rtol=1e-6, atol=1e-8)
        for g in (cr.jit(cr.grad(f, argnums=(0, 1))), cr.grad(cr.jit(f), argnums=(0, 1))):
            hx, hw = g(x, W)
            assert same(hx, gx) and same(hw, gw), name


@pytest.mark.parametrize("name", sorted(FUNS))
def test_forward_mode(name):
    f = FUNS[name]
    t = rng.normal(size=4)
    y, dy = cr.jvp(f, (X, W), (t, t * 0.5))
    for g in (cr.jit(lambda x, w, a, b: cr.jvp(f, (x, w), (a, b))),
              lambda x, w, a, b: cr.jvp(cr.jit(f), (x, w), (a, b))):  # fmt: skip
        y2, dy2 = g(X, W, t, t * 0.5)
        assert same(y2, y)
        np.testing.assert_allclose(dy2, dy, rtol=1e-13, atol=1e-14)
    eps = 1e-6
    fd = (f(X + eps * t, W + eps * t / 2) - f(X - eps * t, W - eps * t / 2)) / (2 * eps)
    np.testing.assert_allclose(dy, fd, rtol=1e-6)


@pytest.mark.parametrize("name", ["scan", "fori_loop", "cond", "switch"])
def test_second_order_reverse_over_reverse(name):
    f = FUNS[name]
    h = cr.hessian(lambda x: f(x, W))(X)
    np.testing.assert_allclose(cr.jit(cr.jacrev(cr.grad(lambda x: f(x, W))))(X), h,
                               rtol=1e-12, atol=1e-13)  # fmt: skip
    np.testing.assert_allclose(cr.jit(cr.hessian(lambda x: f(x, W)))(X), h, rtol=1e-12,
                               atol=1e-13)  # fmt: skip


def test_while_loop_second_order_is_forward_over_reverse():
    f = lambda x: f_while(x, W)  # noqa: E731
    h = cr.hessian(f)(X)  # eagerly: the tape of the Python loop
    np.testing.assert_allclose(cr.jit(cr.jacfwd(cr.grad(f)))(X), h, rtol=1e-12, atol=1e-13)
    v = rng.normal(size=4)
    np.testing.assert_allclose(cr.jit(lambda x, v: cr.hvp(f, (x,), (v,)))(X, v), h @ v,
                               rtol=1e-12, atol=1e-13)  # fmt: skip
    with pytest.raises(NotImplementedError, match="forward over reverse"):
        cr.jit(cr.jacrev(cr.grad(f)))(X)


def test_closed_over_parameter_of_an_enclosing_jit_is_an_operand():
    p = cr.make_graph(lambda x, w: f_scan(x, w))(X, W)
    (e,) = [e for e in p.eqns if e.prim is P.scan_p]
    assert p.invars[1] in e.invars and e.params["num_consts"] == 1
    check.typecheck(p)
    check.typecheck(cr.make_graph(cr.grad(f_while, argnums=(0, 1)))(X, W))
    check.typecheck(cr.make_graph(cr.grad(f_switch, argnums=(0, 1)))(X, W))


def test_cond_gradient_is_not_a_select_of_both_branches():
    f = lambda x: cond(x > 0, lambda v: cnp.sqrt(v), lambda v: -2.0 * v, x)  # noqa: E731
    assert cr.jit(cr.grad(f))(-4.0) == -2.0 and cr.grad(cr.jit(f))(-4.0) == -2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        g = cr.jit(cr.vmap(cr.grad(f)))(np.array([-4.0, 4.0]))
    assert same(g, np.array([-2.0, 0.25]))


def test_against_jax_lax():
    jax = jax_lax()
    jnp, lax = jax.numpy, jax.lax

    def j_scan(x, w):
        def body(c, xi):
            h = jnp.tanh(c * w + xi)
            return h, jnp.sum(h * xi)

        c, ys = lax.scan(body, x, XS)
        return jnp.sum(c ** 2) + jnp.sum(ys)

    def j_fori(x, w):
        return jnp.sum(lax.fori_loop(0, 6, lambda i, v: jnp.sin(v * w) + 0.1 * i, x) ** 2)

    def j_cond(x, w):
        return lax.cond(jnp.sum(x) > 0, lambda v: jnp.sum(jnp.sin(v) * w),
                        lambda v: jnp.sum(v * v * w), x)  # fmt: skip

    def j_switch(x, w):
        k = jnp.floor(jnp.abs(jnp.sum(x)) * 2).astype(jnp.int64)
        return lax.switch(k, [lambda v: jnp.sum(v * w), lambda v: jnp.sum(jnp.exp(v) * w),
                              lambda v: jnp.sum(jnp.tanh(v * w))], x)  # fmt: skip

    def j_while(x, w):
        body = lambda s: (s[0] + 1, jnp.sin(s[1]) * w + 0.3)  # noqa: E731
        return jnp.sum(lax.while_loop(lambda s: s[0] < 7, body, (0, x))[1] ** 2)

    pairs = [(f_scan, j_scan), (f_fori, j_fori), (f_cond, j_cond), (f_switch, j_switch)]
    for x in (X, -X * 0.7):
        for ours, theirs in pairs:
            np.testing.assert_allclose(cr.jit(ours)(x, W), theirs(x, W), rtol=1e-13)
            g = cr.jit(cr.grad(ours, argnums=(0, 1)))(x, W)
            gj = jax.grad(theirs, argnums=(0, 1))(x, W)
            for a, b in zip(g, gj):
                np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12, atol=1e-14)
        # JAX's while_loop has forward mode only; ours has both
        t = np.ones(4)
        _, dj = jax.jvp(lambda v: j_while(v, W), (x,), (t,))
        np.testing.assert_allclose(cr.jvp(cr.jit(lambda v: f_while(v, W)), (x,), (t,))[1], dj,
                                   rtol=1e-12)  # fmt: skip
        np.testing.assert_allclose(cr.jit(cr.grad(f_while))(x, W) @ t, dj, rtol=1e-12)


def test_tensors_eagerly_and_under_jit():
    gx, gw = cr.grad(f_scan, argnums=(0, 1))(X, W)
    for f in (f_scan, cr.jit(f_scan), f_while, cr.jit(f_while)):
        if f is f_while:
            gx, gw = cr.grad(f_while, argnums=(0, 1))(X, W)
        x = cr.tensor(X.copy(), requires_grad=True)
        w = cr.tensor(W.copy(), requires_grad=True)
        f(x, w).backward()
        np.testing.assert_allclose(np.asarray(x.grad), gx, rtol=1e-14)
        np.testing.assert_allclose(np.asarray(w.grad), gw, rtol=1e-14)


# --- vmap ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FUNS))
def test_vmap_against_a_loop(name):
    f = FUNS[name]
    xb = np.stack([X, -X, X * 0.3, -X * 0.1])
    loop = np.array([f(x, W) for x in xb])
    np.testing.assert_allclose(cr.vmap(f, in_axes=(0, None))(xb, W), loop, rtol=1e-14)
    np.testing.assert_allclose(cr.jit(cr.vmap(f, in_axes=(0, None)))(xb, W), loop, rtol=1e-14)
    gl = np.array([cr.grad(f)(x, W) for x in xb])
    np.testing.assert_allclose(cr.jit(cr.vmap(cr.grad(f), in_axes=(0, None)))(xb, W), gl,
                               rtol=1e-13, atol=1e-15)  # fmt: skip
    np.testing.assert_allclose(cr.jit(cr.grad(lambda a: cnp.sum(cr.vmap(f, in_axes=(0, None))(
        a, W))))(xb), gl, rtol=1e-13, atol=1e-15)  # fmt: skip


def test_vmap_while_with_a_batched_predicate_selects_per_example():
    def run(x):
        return while_loop(lambda s: s[1] < 10.0, lambda s: (s[0] + 1, s[1] * 1.7 + 0.1), (0, x))

    xb = np.array([0.5, 1.5, 3.0, 20.0])
    loop = [run(x) for x in xb]
    for g in (cr.vmap(run), cr.jit(cr.vmap(run))):
        n, v = g(xb)
        assert same(n, np.array([k for k, _ in loop]))
        np.testing.assert_allclose(v, [u for _, u in loop], rtol=1e-15)
    dv = cr.vmap(cr.grad(lambda x: run(x)[1]))(xb)
    np.testing.assert_allclose(dv, [cr.grad(lambda x: run(x)[1])(x) for x in xb], rtol=1e-13)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.sum(cr.vmap(run)(a)[1]))(xb), dv,
                               rtol=1e-13)  # fmt: skip


def test_vmap_cond_batched_predicate_both_branches_selected():
    calls = []
    f = lambda x: cond(x > 0, lambda v: calls.append("t") or v * 2,  # noqa: E731
                       lambda v: calls.append("f") or -v, x)  # fmt: skip
    r = cr.vmap(f)(np.array([-1.0, 2.0]))
    assert same(r, np.array([1.0, 4.0])) and sorted(calls) == ["f", "t"]


def test_vmap_scan_over_batched_xs_and_unbatched_carry():
    xs = rng.normal(size=(3, 6, 2))  # 3 examples of 6 steps
    f = lambda xs: scan(lambda c, x: (c + x, c * x), np.zeros(2), xs)  # noqa: E731
    for g in (cr.vmap(f), cr.jit(cr.vmap(f))):
        c, ys = g(xs)
        for k in range(3):
            ck, yk = f(xs[k])
            assert same(c[k], ck) and same(ys[k], yk)


# --- the while loop's reverse mode -----------------------------------------------------------

_W128 = np.linspace(0.5, 1.0, 128)
_X128 = np.linspace(-1.0, 1.0, 128)


def _long_loop(w, x, n):
    def body(s):
        i, c = s
        return i + 1, cnp.sin(c) * w

    return cnp.sum(while_loop(lambda s: s[0] < n, body, (0, x))[1])


def _body_runs():
    return control.RUNS["while_body"] + control.RUNS["while_replay"]


def test_while_reverse_equals_the_full_tape_bitwise():
    T = 10_000
    eager = cr.grad(_long_loop, argnums=(0, 1))(_W128, _X128, T)  # the tape of T iterations
    control.RUNS.clear()
    staged = cr.jit(cr.grad(_long_loop, argnums=(0, 1)))(_W128, _X128, T)
    assert _body_runs() == 2 * T
    assert same(staged[0], eager[0]) and same(staged[1], eager[1])
    staged = cr.grad(cr.jit(_long_loop), argnums=(0, 1))(_W128, _X128, T)
    assert same(staged[0], eager[0]) and same(staged[1], eager[1])
    zero = cr.jit(cr.grad(_long_loop, argnums=(0, 1)))(_W128, _X128, 0)  # no iteration
    assert same(zero[0], np.zeros(128)) and same(zero[1], np.ones(128))


def _measure(T):
    g = cr.jit(cr.grad(_long_loop, argnums=(0, 1)))
    g(_W128, _X128, 3)  # compiled
    control.RUNS.clear()
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    g(_W128, _X128, T)
    peak = tracemalloc.get_traced_memory()[1] - base
    if not was:
        tracemalloc.stop()
    return peak, _body_runs()


def test_while_reverse_memory_is_bounded_and_the_body_runs_twice():
    T = 20_000  # the tape would keep some 40 MB here
    peak, runs = _measure(T)
    assert peak < 8 << 20, peak
    assert runs <= 3 * T


@pytest.mark.skipif(not FULL, reason="10**6 iterations under tracemalloc take 1-2 minutes "
                    "(CHAINRULE_FULL_TESTS=1 runs it)")  # fmt: skip
def test_while_reverse_a_million_iterations():
    T = 1_000_000  # a 1 KB carry: the tape would keep gigabytes
    peak, runs = _measure(T)
    assert peak < 64 << 20, peak
    assert runs <= 3 * T


# --- tracing: once, whatever the trip count --------------------------------------------------


def test_tracing_does_not_depend_on_the_trip_count():
    """The body is traced once and the program has the same size for 10 and 10**5 steps:
    tracing time cannot grow with the trip count (checked by structure, not by a clock)."""
    calls = [0]

    def body(c, x):
        calls[0] += 1
        return cnp.tanh(c * 1.1 + x), c[0]

    progs = {
        "scan": lambda n: cr.make_graph(lambda c: scan(lambda c, _: body(c, 0.5), c, None,
                                                       length=n)),  # fmt: skip
        "fori": lambda n: cr.make_graph(lambda c: fori_loop(0, n, lambda i, v: body(v, 0.1)[0],
                                                            c)),  # fmt: skip
        "while": lambda n: cr.make_graph(lambda c: while_loop(
            lambda s: s[0] < n, lambda s: (s[0] + 1, body(s[1], 0.1)[0]), (0, c))),
    }
    for name, make in progs.items():
        shapes = []
        for n in (10, 100_000):
            calls[0] = 0
            program = make(n)(X)
            assert calls[0] == 1, (name, n, calls[0])
            shapes.append((len(program.eqns), len(str(program).splitlines())))
        assert shapes[0] == shapes[1], (name, shapes)


# --- errors ----------------------------------------------------------------------------------


def test_branches_of_different_structures_name_both():
    with pytest.raises(TypeError, match=r"true_fun returns .*\(\*, \*\).* and false_fun "
                                        r"returns PyTreeDef\(\*\)"):  # fmt: skip
        cr.jit(lambda v: cond(v > 0, lambda a: (a, a), lambda a: a, v))(1.0)
    with pytest.raises(TypeError, match="branch 1 returns .* and branch 0 returns"):
        cr.jit(lambda i, v: switch(i, [lambda a: a, lambda a: [a]], v))(1, 1.0)
    with pytest.raises(TypeError, match="different types: output 0 is f32"):
        cr.jit(lambda v: cond(v > 0, lambda a: cnp.astype(a, np.float32), lambda a: a, v))(1.0)


def test_predicates_must_be_scalars():
    with pytest.raises(TypeError, match=r"predicate must be a scalar.*shape \(2,\)"):
        cond(np.array([True, False]), lambda: 1, lambda: 2)
    with pytest.raises(TypeError, match=r"predicate must be a scalar.*shape \(3,\)"):
        cr.jit(lambda v: cond(v > 0, lambda: 1.0, lambda: 2.0))(X[:3])
    with pytest.raises(TypeError, match="cond_fun must return a boolean scalar"):
        cr.jit(lambda v: while_loop(lambda c: c, lambda c: c * 2, v))(1.0)
    with pytest.raises(TypeError, match=r"cond_fun's result must be a scalar.*shape \(4,\)"):
        while_loop(lambda c: c < 2, lambda c: c * 2, X)
    with pytest.raises(TypeError, match="index must be an integer"):
        switch(1.5, [lambda: 1])


def test_carry_and_scan_errors():
    with pytest.raises(TypeError, match=r"leaf 0 of the carry is f64\[\] on input and "
                                        r"f64\[1\] on output"):  # fmt: skip
        cr.jit(lambda v: scan(lambda c, x: (c[None], x), v, XS))(1.0)
    with pytest.raises(TypeError, match="structure of its input"):
        cr.jit(lambda v: while_loop(lambda c: c < 1, lambda c: (c, c), v))(1.0)
    with pytest.raises(TypeError, match="must return a pair"):
        cr.jit(lambda v: scan(lambda c, x: c, v, XS))(1.0)
    with pytest.raises(ValueError, match="length must be given"):
        scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(ValueError, match="different lengths"):
        scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))


def test_python_control_flow_inside_a_body_names_the_line():
    def body(c, x):
        if c > 0:  # the line named
            return c, x
        return -c, x

    with pytest.raises(ConcretizationError, match=r"inside scan of body.*test_control_flow"
                                                  r"\.py:\d+ in body"):  # fmt: skip
        cr.jit(lambda v: scan(body, v, XS))(1.0)


# --- the compiler passes ---------------------------------------------------------------------


def test_passes_treat_control_flow_as_opaque_calls():
    for p in (P.cond_p, P.while_p, P.scan_p, P.while_fwd_p, P.while_bwd_p):
        assert not p.elementwise and p not in passes.EFFECTS
    prog = cr.make_graph(lambda x: (scan(lambda c, v: (c + v, c), x, XS)[0],
                                    scan(lambda c, v: (c * v, c), x, XS)[0])[0])(X)
    assert sum(e.prim is P.scan_p for e in prog.eqns) == 2
    kept = passes.dce(prog)
    assert sum(e.prim is P.scan_p for e in kept.eqns) == 1  # the unused loop is dropped
    opt = passes.optimize(prog)
    check.typecheck(opt)
    assert same(evaluate(opt, [X])[0], scan(lambda c, v: (c + v, c), X, XS)[0])


def test_depends_sees_through_control_flow():
    p = cr.make_graph(lambda x, y: scan(lambda c, _: (c * 2.0, c * y), x, None, length=3))
    assert control.depends(p(1.0, 2.0), [True, False]) == [True, True]
    assert control.depends(p(1.0, 2.0), [False, True]) == [False, True]


def test_linear_transpose_of_a_linear_loop():
    f = lambda x: scan(lambda c, v: (c * 2.0 + v, c), x[0], x)[1]  # noqa: E731
    g = lambda x: fori_loop(0, 3, lambda i, v: v[::-1] * 2.0 - v, x)  # noqa: E731
    ct = rng.normal(size=3)
    for h in (f, g):
        (t,) = cr.linear_transpose(h, X[:3])(ct)
        np.testing.assert_allclose(t, cr.vjp(h, X[:3])[1](ct)[0], rtol=1e-15)
