"""Derivatives of one's own, and rematerialisation.

- `cr.custom_vjp` (JAX's): grad runs the user's fwd/bwd (never the body), nondiff_argnums,
  pytrees of inputs, outputs and residuals, None cotangents, clear errors for a bwd that
  returns the wrong number, structure or shapes, jvp refused (as JAX), under vmap (against a
  loop), grad∘grad through a bwd written with chainrule ops, cross-checked with
  jax.custom_vjp;
- `cr.custom_jvp` (JAX's): the stable log1pexp, jvp and grad both use the rule (the body's
  own derivative is wrong on purpose), vmap, jvp∘grad, grad∘grad, defjvps, nondiff_argnums,
  cross-checked with jax.custom_jvp;
- `cr.autograd.Function` (PyTorch's): ctx.save_for_backward, ctx.needs_input_grad,
  ctx.mark_non_differentiable, several inputs and outputs, None gradients, on Tensors and
  inside cr.grad, once per example under cr.vmap; cross-checked with torch.autograd.Function
  running the same forward/backward;
- `cr.checkpoint`: bitwise the same values and gradients as without it on a 50-layer chain,
  the body runs exactly twice under grad, saved memory, policies, static_argnums, decorator
  forms, and under vmap, grad∘grad and jvp.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import primitives as P
from chainrule.testing import check_grads


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.fixture
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


# --- custom_vjp ------------------------------------------------------------------------------


def _clip_gradient():
    @cr.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        return x, None

    def bwd(res, g):
        return (cnp.clip(g, -1.0, 1.0),)

    clip_gradient.defvjp(fwd, bwd)
    return clip_gradient


def test_custom_vjp_gradient_clipping():
    clip = _clip_gradient()
    x = np.array([0.5, -2.0, 3.0, 1.0])
    w = np.array([0.3, -4.0, 2.5, -1.0])
    np.testing.assert_array_equal(clip(x), x)  # the value is fun's
    g = cr.grad(lambda x: cnp.sum(clip(x) * w))(x)
    np.testing.assert_array_equal(g, np.clip(w, -1.0, 1.0))
    # without the custom rule the gradient would be w itself
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(x * w))(x), w)
    assert cr.grad(lambda x: 3.0 * clip(x))(2.0) == 1.0


def _scaled_sin():
    """sin(x) * y whose bwd scales the x-cotangent by 3, counting calls."""
    calls = {"fun": 0, "fwd": 0, "bwd": 0}

    @cr.custom_vjp
    def f(x, y):
        calls["fun"] += 1
        return cnp.sin(x) * y

    def f_fwd(x, y):
        calls["fwd"] += 1
        return cnp.sin(x) * y, (cnp.cos(x), cnp.sin(x), y)

    def f_bwd(res, g):
        calls["bwd"] += 1
        c, s, y = res
        return (3.0 * c * y * g, s * g)

    f.defvjp(f_fwd, f_bwd)
    return f, calls


def test_custom_vjp_grad_uses_bwd_and_plain_call_uses_fun():
    f, calls = _scaled_sin()
    assert f(0.5, 2.0) == pytest.approx(np.sin(0.5) * 2.0, rel=1e-15)
    assert calls == {"fun": 1, "fwd": 0, "bwd": 0}
    gx, gy = cr.grad(f, argnums=(0, 1))(0.5, 2.0)
    assert gx == pytest.approx(3 * np.cos(0.5) * 2.0, rel=1e-15)
    assert gy == pytest.approx(np.sin(0.5), rel=1e-15)
    assert calls == {"fun": 1, "fwd": 1, "bwd": 1}  # grad ran fwd and bwd, never fun
    v, g = cr.value_and_grad(f)(0.5, 2.0)
    assert v == pytest.approx(np.sin(0.5) * 2.0) and g == pytest.approx(6 * np.cos(0.5))
    _, f_vjp = cr.vjp(f, np.array([0.1, 0.2]), np.array([1.0, 2.0]))
    gx, gy = f_vjp(np.array([1.0, -1.0]))
    np.testing.assert_allclose(gx, 3 * np.cos([0.1, 0.2]) * [1.0, -2.0], rtol=1e-15)
    np.testing.assert_allclose(gy, np.sin([0.1, 0.2]) * [1.0, -1.0], rtol=1e-15)


def test_custom_vjp_nondiff_argnums():
    @functools.partial(cr.custom_vjp, nondiff_argnums=(0, 2))
    def apply_n(fn, x, n):
        for _ in range(n):
            x = fn(x)
        return x

    seen = []

    def fwd(fn, x, n):
        return apply_n(fn, x, n), x

    def bwd(fn, n, x, g):
        seen.append((fn, n))
        return (n * 10.0 * g,)

    apply_n.defvjp(fwd, bwd)
    assert apply_n(cnp.sin, 0.3, 2) == pytest.approx(np.sin(np.sin(0.3)), rel=1e-15)
    assert cr.grad(lambda x: apply_n(cnp.sin, x, 2))(0.3) == 20.0
    assert seen == [(cnp.sin, 2)]  # bwd got the static arguments first, as Python values
    g = cr.grad(lambda x: cnp.sum(apply_n(cnp.tanh, x, 3) * np.arange(3.0)))(np.ones(3))
    np.testing.assert_array_equal(g, 30.0 * np.arange(3.0))


def test_custom_vjp_pytrees_of_inputs_outputs_and_residuals():
    @cr.custom_vjp
    def pt(d, s):
        return {"prod": d["a"] * d["b"][0], "tot": (cnp.sum(d["a"]) * s,)}

    def fwd(d, s):
        return pt(d, s), {"a": d["a"], "b": d["b"][0], "s": (s,)}

    def bwd(res, g):
        ga = g["prod"] * res["b"] + g["tot"][0] * res["s"][0]
        gb = cnp.sum(g["prod"] * res["a"])
        gs = g["tot"][0] * cnp.sum(res["a"])
        return {"a": ga, "b": (gb,)}, gs

    pt.defvjp(fwd, bwd)
    a, b, s = np.array([1.0, 2.0]), 3.0, 0.5

    def loss(a, b, s):
        out = pt({"a": a, "b": (b,)}, s)
        return cnp.sum(out["prod"] ** 2) + 2.0 * out["tot"][0]

    ga, gb, gs = cr.grad(loss, argnums=(0, 1, 2))(a, b, s)
    # loss = sum((a b)²) + 2 s sum(a): the closed form
    np.testing.assert_allclose(ga, 2 * a * b**2 + 2 * s, rtol=1e-15)
    assert gb == pytest.approx(np.sum(2 * a**2 * b), rel=1e-15)
    assert gs == pytest.approx(2 * np.sum(a), rel=1e-15)
    out = pt({"a": a, "b": (b,)}, s)
    assert set(out) == {"prod", "tot"} and isinstance(out["tot"], tuple)
    check_grads(loss, (a, b, s), order=1, modes=("rev",))  # the bwd is the true derivative


def test_custom_vjp_bwd_none_means_zero():
    @cr.custom_vjp
    def h(x, y):
        return x * y

    h.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (r[1] * g, None))
    gx, gy = cr.grad(h, argnums=(0, 1))(2.0, 3.0)
    assert (gx, gy) == (3.0, 0.0)
    gx, gy = cr.grad(lambda x, y: cnp.sum(h(x, y)), argnums=(0, 1))(
        np.ones(2), np.full(2, 3.0, np.float32))  # fmt: skip
    np.testing.assert_array_equal(gx, [3.0, 3.0])
    assert gy.shape == (2,) and gy.dtype == np.float32 and not gy.any()

    @cr.custom_vjp
    def k(d):
        return d["a"] * d["b"]

    k.defvjp(lambda d: (k(d), d), lambda r, g: ({"a": g * r["b"], "b": None},))
    assert cr.grad(lambda a, b: k({"a": a, "b": b}), argnums=(0, 1))(1.0, 2.0) == (2.0, 0.0)


def test_custom_vjp_bwd_wrong_count_or_shape_says_what_was_expected():
    @cr.custom_vjp
    def w(x, y):
        return x * y

    w.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (r[1] * g,))
    with pytest.raises(TypeError, match=r"one cotangent per differentiable argument \(2.*length 1"):
        cr.grad(w)(2.0, 3.0)
    w.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: r[1] * g)
    with pytest.raises(TypeError, match="tuple"):
        cr.grad(w)(2.0, 3.0)

    @cr.custom_vjp
    def ws(x):
        return x * 2

    ws.defvjp(lambda x: (x * 2, None), lambda r, g: (np.ones(4),))
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        cr.grad(lambda x: cnp.sum(ws(x)))(np.ones(3))

    @cr.custom_vjp
    def k(d):
        return d["a"] * d["b"]

    k.defvjp(lambda d: (k(d), d), lambda r, g: ({"a": g * r["b"]},))
    with pytest.raises(TypeError, match="structure"):
        cr.grad(lambda a: k({"a": a, "b": 2.0}))(1.0)


def test_custom_vjp_bwd_wrong_dict_keys_raise():
    @cr.custom_vjp
    def k(d):
        return d["a"] * d["b"]

    k.defvjp(lambda d: (k(d), d), lambda r, g: ({"a": g * r["b"], "c": 100.0 * g},))
    with pytest.raises(TypeError, match="structure"):
        cr.grad(lambda a, b: k({"a": a, "b": b}), argnums=(0, 1))(1.0, 2.0)


def test_custom_vjp_forward_mode_is_refused():
    f, _ = _scaled_sin()
    with pytest.raises(TypeError, match="custom_vjp"):
        cr.jvp(f, (0.5, 2.0), (1.0, 0.0))
    with pytest.raises(TypeError, match="custom_vjp"):
        cr.jacfwd(lambda x: f(x, 2.0))(np.ones(2))
    # no tangent flows into it: fine
    out, t = cr.jvp(lambda y: y * 2.0 + f(0.5, 2.0), (1.0,), (1.0,))
    assert t == 2.0


def test_custom_vjp_under_vmap_matches_a_loop():
    f, calls = _scaled_sin()
    xs, ys = np.array([0.1, 0.5, 1.0]), np.array([1.0, 2.0, -3.0])
    np.testing.assert_allclose(cr.vmap(f)(xs, ys), np.sin(xs) * ys, rtol=1e-15)
    loop = np.array([cr.grad(f, argnums=(0, 1))(x, y) for x, y in zip(xs, ys)])
    gx, gy = cr.vmap(cr.grad(f, argnums=(0, 1)))(xs, ys)
    np.testing.assert_allclose(np.stack([gx, gy], 1), loop, rtol=1e-15)
    gx, gy = cr.grad(lambda a, b: cnp.sum(cr.vmap(f)(a, b)), argnums=(0, 1))(xs, ys)
    np.testing.assert_allclose(np.stack([gx, gy], 1), loop, rtol=1e-15)
    # an unbatched argument: per example under vmap(grad), summed under grad(vmap)
    gx, gy = cr.vmap(cr.grad(f, argnums=(0, 1)), in_axes=(0, None))(xs, 2.0)
    np.testing.assert_allclose(gx, 6 * np.cos(xs), rtol=1e-15)
    np.testing.assert_allclose(gy, np.sin(xs), rtol=1e-15)
    gx, gy = cr.grad(lambda a, b: cnp.sum(cr.vmap(f, in_axes=(0, None))(a, b)), argnums=(0, 1))(
        xs, 2.0)  # fmt: skip
    np.testing.assert_allclose(gx, 6 * np.cos(xs), rtol=1e-15)
    assert gy == pytest.approx(np.sum(np.sin(xs)), rel=1e-15)
    g2 = cr.vmap(cr.vmap(cr.grad(f)))(np.ones((2, 3)), np.full((2, 3), 2.0))
    np.testing.assert_allclose(g2, np.full((2, 3), 6 * np.cos(1.0)), rtol=1e-15)


def test_custom_vjp_grad_of_grad_through_bwd():
    f, _ = _scaled_sin()
    # d/dx of the bwd's 3 cos(x) y: -3 sin(x) y
    assert cr.grad(cr.grad(f))(0.5, 2.0) == pytest.approx(-3 * np.sin(0.5) * 2.0, rel=1e-14)
    # the mixed derivative d/dy of 3 cos(x) y: 3 cos(x)
    assert cr.grad(cr.grad(f), argnums=1)(0.5, 2.0) == pytest.approx(3 * np.cos(0.5), rel=1e-14)
    H = cr.hessian(lambda x: cnp.sum(f(x, np.full(2, 2.0))))(np.array([0.5, 1.0]))
    np.testing.assert_allclose(H, np.diag(-6 * np.sin([0.5, 1.0])), rtol=1e-14, atol=1e-15)


def test_custom_vjp_matches_jax(jax_x64):
    import jax.numpy as jnp

    def build(custom_vjp, ns):
        @custom_vjp
        def f(x, y):
            return ns.sin(x) * y

        def fwd(x, y):
            return ns.sin(x) * y, (ns.cos(x), ns.sin(x), y)

        def bwd(res, g):
            c, s, y = res
            return (3.0 * c * y * g, ns.tanh(s) * g)  # deliberately not the true derivative

        f.defvjp(fwd, bwd)
        return f

    ours, theirs = build(cr.custom_vjp, cnp), build(jax_x64.custom_vjp, jnp)
    xs, ys = _rand(4, 1), _rand(4, 2)
    for a, b in zip(cr.grad(lambda x, y: cnp.sum(ours(x, y) ** 2), argnums=(0, 1))(xs, ys),
                    jax_x64.grad(lambda x, y: jnp.sum(theirs(x, y) ** 2), argnums=(0, 1))(xs, ys)):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-13)  # fmt: skip
    a = cr.vmap(cr.grad(ours, argnums=(0, 1)), in_axes=(0, None))(xs, 1.5)
    b = jax_x64.vmap(jax_x64.grad(theirs, argnums=(0, 1)), in_axes=(0, None))(xs, 1.5)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, np.asarray(v), rtol=1e-13)
    a = cr.grad(cr.grad(ours))(0.7, 1.5)
    b = jax_x64.grad(jax_x64.grad(theirs))(0.7, 1.5)
    assert a == pytest.approx(float(b), rel=1e-13)


# --- custom_jvp ------------------------------------------------------------------------------


def _log1pexp():
    @cr.custom_jvp
    def log1pexp(x):
        return cnp.log1p(cnp.exp(x))

    @log1pexp.defjvp
    def log1pexp_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1 - 1 / (1 + cnp.exp(x)))

    return log1pexp


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_custom_jvp_stable_log1pexp():
    log1pexp = _log1pexp()
    with np.errstate(over="ignore", invalid="ignore"):  # exp(1000) = inf, as in NumPy
        g = cr.grad(log1pexp)(1000.0)
        naive = cr.grad(lambda x: cnp.log1p(cnp.exp(x)))(1000.0)
    assert g == 1.0 and np.isfinite(g)
    assert not np.isfinite(naive)  # what the rule is for: inf/inf without it
    xs = np.array([-3.0, 0.0, 2.5])
    np.testing.assert_allclose(cr.vmap(cr.grad(log1pexp))(xs), _sigmoid(xs), rtol=1e-14)
    out, t = cr.jvp(log1pexp, (3.0,), (2.0,))
    assert out == pytest.approx(np.log1p(np.exp(3.0)), rel=1e-15)
    assert t == pytest.approx(2.0 * _sigmoid(3.0), rel=1e-15)


def _square_with_wrong_body():
    """x² whose body's own derivative is x (stop_gradient): only the rule gives 2x."""
    calls = {"rule": 0}

    @cr.custom_jvp
    def sq(x):
        return cr.stop_gradient(x) * x

    @sq.defjvp
    def sq_jvp(primals, tangents):
        calls["rule"] += 1
        (x,), (t,) = primals, tangents
        return sq(x), 2 * x * t

    return sq, calls


def test_custom_jvp_grad_and_jvp_use_the_rule_never_the_body():
    sq, calls = _square_with_wrong_body()
    assert cr.grad(lambda x: cr.stop_gradient(x) * x)(3.0) == 3.0  # the body's derivative
    assert sq(3.0) == 9.0
    assert cr.grad(sq)(3.0) == 6.0
    assert cr.jvp(sq, (3.0,), (1.0,)) == (9.0, 6.0)
    assert calls["rule"] >= 2
    xs = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(cr.vmap(cr.grad(sq))(xs), 2 * xs)
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cr.vmap(sq)(x)))(xs), 2 * xs)
    np.testing.assert_array_equal(cr.jacrev(sq)(xs), np.diag(2 * xs))
    np.testing.assert_array_equal(cr.jacfwd(sq)(xs), np.diag(2 * xs))
    np.testing.assert_array_equal(cr.linearize(sq, xs)[1](np.ones(3)), 2 * xs)
    # the second derivative of the rule's 2 x t is 2 (the body would give 1)
    assert cr.grad(cr.grad(sq))(3.0) == 2.0
    np.testing.assert_array_equal(cr.hessian(lambda x: cnp.sum(sq(x)))(xs), 2 * np.eye(3))


def test_custom_jvp_higher_order_against_analytic():
    log1pexp = _log1pexp()
    x = 0.7
    s = _sigmoid(x)
    assert cr.grad(cr.grad(log1pexp))(x) == pytest.approx(s * (1 - s), rel=1e-14)
    out, t = cr.jvp(cr.grad(log1pexp), (x,), (1.0,))
    assert out == pytest.approx(s, rel=1e-15) and t == pytest.approx(s * (1 - s), rel=1e-14)
    t3 = cr.grad(cr.grad(cr.grad(log1pexp)))(x)
    assert t3 == pytest.approx(s * (1 - s) * (1 - 2 * s), rel=1e-13)
    check_grads(log1pexp, (np.array([-1.0, 0.3, 2.0]),), order=2)


def test_custom_jvp_defjvps():
    @cr.custom_jvp
    def fxy(x, y):
        return x * cnp.sin(y)

    fxy.defjvps(lambda tx, ans, x, y: tx * cnp.sin(y), lambda ty, ans, x, y: ty * x * cnp.cos(y))
    gx, gy = cr.grad(fxy, argnums=(0, 1))(2.0, 0.5)
    assert gx == pytest.approx(np.sin(0.5), rel=1e-15)
    assert gy == pytest.approx(2 * np.cos(0.5), rel=1e-15)
    assert cr.jvp(fxy, (2.0, 0.5), (1.0, 1.0))[1] == pytest.approx(np.sin(0.5) + 2 * np.cos(0.5))
    xs = np.array([-1.0, 0.5, 2.0])
    gx, gy = cr.vmap(cr.grad(fxy, argnums=(0, 1)))(xs, xs)
    np.testing.assert_allclose(gx, np.sin(xs), rtol=1e-15)
    np.testing.assert_allclose(gy, xs * np.cos(xs), rtol=1e-15)
    # None: that argument's tangent contributes nothing (a rule of one's own: not the truth)
    half = cr.custom_jvp(lambda x, y: x * cnp.sin(y))
    half.defjvps(None, lambda ty, ans, x, y: ty * x * cnp.cos(y))
    assert cr.grad(half, argnums=(0, 1))(2.0, 0.5) == (0.0, pytest.approx(2 * np.cos(0.5)))
    assert cr.jvp(half, (2.0, 0.5), (1.0, 0.0))[1] == 0.0


def test_custom_jvp_nondiff_argnums():
    @functools.partial(cr.custom_jvp, nondiff_argnums=(0,))
    def app(fn, x):
        return fn(x)

    @app.defjvp
    def app_jvp(fn, primals, tangents):
        (x,), (t,) = primals, tangents
        return fn(x), 5.0 * t

    assert cr.jvp(lambda x: app(cnp.sin, x), (0.3,), (1.0,)) == (pytest.approx(np.sin(0.3)), 5.0)
    assert cr.grad(lambda x: app(cnp.sin, x))(0.3) == 5.0
    np.testing.assert_array_equal(cr.vmap(cr.grad(lambda x: app(cnp.sin, x)))(np.ones(3)), 5.0)


def test_custom_jvp_matches_jax(jax_x64):
    import jax.numpy as jnp

    def build(custom_jvp, ns):
        @custom_jvp
        def f(x):
            return ns.log1p(ns.exp(x))

        @f.defjvp
        def f_jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            return f(x), t * ns.cos(x)  # deliberately not the true derivative

        return f

    ours, theirs = build(cr.custom_jvp, cnp), build(jax_x64.custom_jvp, jnp)
    xs = _rand(4, 3)
    np.testing.assert_allclose(cr.vmap(cr.grad(ours))(xs),
                               np.asarray(jax_x64.vmap(jax_x64.grad(theirs))(xs)), rtol=1e-14)
    a = cr.grad(cr.grad(ours))(0.4)
    assert a == pytest.approx(float(jax_x64.grad(jax_x64.grad(theirs))(0.4)), rel=1e-14)
    assert a == pytest.approx(-np.sin(0.4), rel=1e-14)


# --- autograd.Function -----------------------------------------------------------------------


def _mul_add(base, seen):
    """(x * y * k, x + y) with backward by hand; records needs_input_grad."""

    class MulAdd(base):
        @staticmethod
        def forward(ctx, x, y, k):
            ctx.save_for_backward(x, y)
            ctx.k = k
            return x * y * k, x + y

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append(tuple(ctx.needs_input_grad))
            x, y = ctx.saved_tensors
            return g1 * y * ctx.k + g2, g1 * x * ctx.k + g2, None

    return MulAdd


def _cube(base, counter):
    class Cube(base):
        @staticmethod
        def forward(ctx, x):
            counter[0] += 1
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    return Cube


def test_function_on_tensors_save_for_backward_and_needs_input_grad():
    seen = []
    MulAdd = _mul_add(cr.autograd.Function, seen)
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    x = cr.tensor(xv, requires_grad=True)
    y = cr.tensor(yv)
    a, b = MulAdd.apply(x, y, 2.0)
    np.testing.assert_array_equal(a.detach().numpy(), xv * yv * 2.0)
    np.testing.assert_array_equal(b.detach().numpy(), xv + yv)
    assert a.requires_grad and b.requires_grad
    (a.sum() + (b * b).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * yv + 2 * (xv + yv))
    assert y.grad is None
    assert seen == [(True, False, False)]
    y2 = cr.tensor(yv, requires_grad=True)
    x.grad = None
    a, b = MulAdd.apply(x, y2, 2.0)
    (a.sum() + b.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2.0 * yv + 1)
    np.testing.assert_array_equal(y2.grad.numpy(), 2.0 * xv + 1)
    assert seen[-1] == (True, True, False)


def test_function_matches_torch():
    torch = pytest.importorskip("torch")
    ours_seen, theirs_seen = [], []
    Ours, Theirs = _mul_add(cr.autograd.Function, ours_seen), _mul_add(torch.autograd.Function,
                                                                       theirs_seen)  # fmt: skip
    xv, yv = _rand(3, 5), _rand(3, 6)
    for y_requires in (False, True):
        x, y = cr.tensor(xv, requires_grad=True), cr.tensor(yv, requires_grad=y_requires)
        xt = torch.tensor(xv, requires_grad=True)
        yt = torch.tensor(yv, requires_grad=y_requires)
        a, b = Ours.apply(x, y, 1.5)
        at, bt = Theirs.apply(xt, yt, 1.5)
        ((a * a).sum() + cnp.sin(b).sum()).backward()
        ((at * at).sum() + torch.sin(bt).sum()).backward()
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-14)
        if y_requires:
            np.testing.assert_allclose(y.grad.numpy(), yt.grad.numpy(), rtol=1e-14)
        assert (y.grad is None) == (yt.grad is None)
    assert ours_seen == theirs_seen == [(True, False, False), (True, True, False)]


def test_function_mark_non_differentiable_and_none_gradient():
    class SortWithIndex(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = cr.tensor(np.argsort(x.detach().numpy()))
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x * 2.0, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            return g * 2.0

    x = cr.tensor([3.0, 1.0, 2.0], requires_grad=True)
    v, idx = SortWithIndex.apply(x)
    assert v.requires_grad and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), [1, 2, 0])
    (v * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])

    class OnlyFirst(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g * 5.0, None

    x, y = cr.tensor(2.0, requires_grad=True), cr.tensor(3.0, requires_grad=True)
    OnlyFirst.apply(x, y).backward()
    assert x.grad.item() == 5.0
    assert y.grad is None  # as PyTorch: a None gradient leaves .grad unset


def test_function_wrong_number_of_gradients():
    class Bad(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"incorrect number of gradients.*expected 2, got 1"):
        Bad.apply(cr.tensor(1.0, requires_grad=True), cr.tensor(2.0)).backward()


def test_function_inside_cr_grad_on_plain_arrays():
    n = [0]
    Cube = _cube(cr.autograd.Function, n)
    x = np.array([1.0, 2.0, -0.5])
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(Cube.apply(x)))(x), 3 * x**2)
    g = cr.grad(Cube.apply)(2.0)
    assert g == 12.0 and not isinstance(g, cr.Tensor)
    r = Cube.apply(np.array([2.0]))
    np.testing.assert_array_equal(np.asarray(r), [8.0])


def test_function_under_vmap_runs_once_per_example():
    n = [0]
    Cube = _cube(cr.autograd.Function, n)
    x = np.array([1.0, 2.0, 3.0])
    r = cr.vmap(Cube.apply)(x)
    np.testing.assert_array_equal(np.asarray(r), x**3)
    assert n[0] == 3


def test_function_grad_of_vmap():
    n = [0]
    Cube = _cube(cr.autograd.Function, n)
    x = np.array([1.0, 2.0, 3.0])
    g = cr.grad(lambda x: cnp.sum(cr.vmap(Cube.apply)(x)))(x)
    np.testing.assert_array_equal(np.asarray(g), 3 * x**2)  # gets [27, 27, 27]


def test_function_vmap_of_grad_gives_arrays():
    # grad is innermost: it runs forward once on the batched values (API: under vmap a
    # Function "may" run per example; it does when vmap meets it first, see above)
    n = [0]
    Cube = _cube(cr.autograd.Function, n)
    x = np.array([1.0, 2.0, 3.0])
    g = cr.vmap(cr.grad(Cube.apply))(x)
    np.testing.assert_array_equal(g, 3 * x**2)
    assert isinstance(g, np.ndarray) and n[0] in (1, 3)


def test_function_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    Cube, TCube = _cube(cr.autograd.Function, [0]), _cube(torch.autograd.Function, [0])
    xt = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (dt,) = torch.autograd.grad(TCube.apply(xt), xt, create_graph=True)
    (d2t,) = torch.autograd.grad(dt, xt)
    x = cr.tensor(2.0, requires_grad=True)
    (d,) = cr.autograd.grad(Cube.apply(x), x, create_graph=True)
    (d2,) = cr.autograd.grad(d, x)
    assert d2.item() == d2t.item() == 12.0


def test_function_grad_of_grad_returns_plain_values():
    Cube = _cube(cr.autograd.Function, [0])
    g2 = cr.grad(cr.grad(Cube.apply))(2.0)
    assert not isinstance(g2, cr.Tensor) and g2 == 12.0


def test_function_saved_tensor_modified_in_place_raises():
    # PyTorch: "one of the variables needed for gradient computation has been modified by an
    # inplace operation"; chainrule's own operations refuse the same way (API: "checked and
    # refused with a clear error before use")
    class Sq(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    t = cr.tensor([1.0, 2.0], requires_grad=True)
    u = t * 1.0
    y = Sq.apply(u)
    with cr.no_grad():
        u.add_(10.0)
    with pytest.raises(RuntimeError, match="in-place|inplace"):
        y.sum().backward()


def test_function_non_tensor_arguments_pass_through():
    seen = []

    class Scale(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            seen.append(type(k))
            ctx.k = k
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = cr.tensor(2.0, requires_grad=True)
    Scale.apply(x, 1.5).backward()
    assert x.grad.item() == 1.5
    assert seen == [float]


# --- checkpoint ------------------------------------------------------------------------------

L = 50
_WS = [_rand((4, 4), 100 + i) * 0.5 for i in range(L)]
_X0 = _rand(4, 99)


def _chain_counted():
    calls = [0]

    def chain(x):
        calls[0] += 1
        for W in _WS:
            x = cnp.tanh(W @ x)
        return x

    return chain, calls


def test_checkpoint_bitwise_equal_and_body_runs_twice_under_grad():
    chain, calls = _chain_counted()
    ck = cr.checkpoint(chain)
    assert np.array_equal(ck(_X0), chain(_X0))
    g_plain = cr.grad(lambda x: cnp.sum(chain(x)))(_X0)
    calls[0] = 0
    g_ck = cr.grad(lambda x: cnp.sum(ck(x)))(_X0)
    assert calls[0] == 2
    assert np.array_equal(g_plain, g_ck)
    v_plain, g_plain = cr.value_and_grad(lambda x: cnp.sum(chain(x) ** 2))(_X0)
    v_ck, g_ck = cr.value_and_grad(lambda x: cnp.sum(ck(x) ** 2))(_X0)
    assert v_plain == v_ck and np.array_equal(g_plain, g_ck)
    check_grads(lambda x: cnp.sum(ck(x)), (_X0,), order=1)


def test_checkpoint_of_a_function_closing_over_a_traced_value():
    """The traced values a checkpointed function closes over (closure cells, defaults, a
    partial's arguments, in pytrees) are operands: every transformation follows them. They
    were read as tracers of the first run: jvp returned tracers, vmap a batched garbage."""
    f = lambda y: cr.checkpoint(lambda a: a * cnp.sin(y))(y)  # noqa: E731  y sin y
    d = lambda y: np.sin(y) + y * np.cos(y)  # noqa: E731
    y0 = 0.7
    out, t = cr.jvp(f, (y0,), (1.0,))
    assert type(out) is np.float64 and type(t) is np.float64
    np.testing.assert_allclose((out, t), (y0 * np.sin(y0), d(y0)), rtol=1e-15)
    ys = np.array([0.3, 1.1])
    np.testing.assert_allclose(cr.vmap(f)(ys), ys * np.sin(ys), rtol=1e-15)
    np.testing.assert_allclose(cr.grad(f)(y0), d(y0), rtol=1e-15)
    np.testing.assert_allclose(cr.vmap(cr.grad(f))(ys), d(ys), rtol=1e-15)
    np.testing.assert_allclose(cr.jit(cr.grad(f))(y0), d(y0), rtol=1e-15)
    np.testing.assert_allclose(cr.hessian(f)(y0), 2 * np.cos(y0) - y0 * np.sin(y0), rtol=1e-14)
    g = lambda p: cr.checkpoint(functools.partial(lambda w, a: a * w["v"] ** 2, p))(p["v"])  # noqa: E731
    np.testing.assert_allclose(cr.grad(g)({"v": 2.0})["v"], 12.0, rtol=1e-15)
    h = lambda y: cr.checkpoint(lambda a, s=y: a * s)(3.0)  # noqa: E731  (a default)
    np.testing.assert_allclose(cr.grad(h)(2.0), 3.0, rtol=1e-15)
    calls = [0]

    def counted(y):
        def body(a):
            nonlocal calls  # a cell without tracers stays the same object
            calls = [calls[0] + 1]
            return a * y

        return cr.checkpoint(body)(y)

    np.testing.assert_allclose(cr.grad(counted)(3.0), 6.0, rtol=1e-15)
    assert calls[0] >= 2  # its writes landed (twice eagerly; more when jit mode stages it)
    # jacfwd: vmap of a jvp whose primal output does not vary along the axis
    np.testing.assert_allclose(cr.jacfwd(f)(y0), d(y0), rtol=1e-15)
    sq = lambda v: cr.checkpoint(lambda a: cnp.sin(a) * 2)(v)  # noqa: E731
    np.testing.assert_allclose(cr.jacfwd(sq)(ys), np.diag(2 * np.cos(ys)), rtol=1e-15)


def _sin_chain(x):
    for _ in range(L):
        x = cnp.sin(x) * 1.01
    return x


def _mat_chain(x):
    for W in _WS:
        x = cnp.tanh(W @ x)
    return x


_XBATCH = _rand((4, 64), 98)  # 64 examples: the activations outweigh the 4×4 weights


@pytest.mark.parametrize("body,x0", [(_sin_chain, _X0), (_sin_chain, _XBATCH),
                                     (_mat_chain, _XBATCH)])  # fmt: skip
def test_checkpoint_on_tensors_bitwise_equal_and_saves_less(body, x0):
    x_plain = cr.tensor(x0, requires_grad=True)
    x_ck = cr.tensor(x0, requires_grad=True)
    out_plain = body(x_plain)
    out_ck = cr.checkpoint(body)(x_ck)
    assert isinstance(out_ck, cr.Tensor) and out_ck.requires_grad
    assert np.array_equal(out_plain.detach().numpy(), out_ck.detach().numpy())
    saved_plain = cr.memory.saved_bytes(out_plain)
    saved_ck = cr.memory.saved_bytes(out_ck)
    assert saved_plain >= L * x0.nbytes  # one activation per layer at least
    assert saved_ck <= saved_plain / 4
    out_plain.sum().backward()
    out_ck.sum().backward()
    assert np.array_equal(x_plain.grad.numpy(), x_ck.grad.numpy())


def test_checkpoint_of_a_vector_chain_keeps_a_quarter_at_most():
    # the 50-layer x = tanh(W_i @ x) chain on one vector: the checkpointed output should keep
    # its input, not the weights (a changed constant can be detected and refused instead)
    x_plain, x_ck = cr.tensor(_X0, requires_grad=True), cr.tensor(_X0, requires_grad=True)
    saved_plain = cr.memory.saved_bytes(_mat_chain(x_plain))
    saved_ck = cr.memory.saved_bytes(cr.checkpoint(_mat_chain)(x_ck))
    assert saved_ck <= saved_plain / 4


def test_checkpoint_policies_equal_gradients_and_what_they_keep():
    chain, calls = _chain_counted()
    g_plain = cr.grad(lambda x: cnp.sum(chain(x)))(_X0)
    pols = cr.checkpoint_policies
    for pol in (pols.dots_saveable, pols.nothing_saveable, pols.everything_saveable,
                pols.dots_with_no_batch_dims_saveable):  # fmt: skip
        calls[0] = 0
        g = cr.grad(lambda x, pol=pol: cnp.sum(cr.checkpoint(chain, policy=pol)(x)))(_X0)
        assert np.array_equal(g, g_plain), pol.__name__
        assert calls[0] == 2
    # what each keeps, on the Tensor face: the input, + the L matmul results, + every result
    saved = {}
    for pol in (pols.nothing_saveable, pols.dots_saveable, pols.everything_saveable):
        x = cr.tensor(_X0, requires_grad=True)
        saved[pol.__name__] = cr.memory.saved_bytes(cr.checkpoint(_mat_chain, policy=pol)(x))
    assert saved["dots_saveable"] == saved["nothing_saveable"] + L * _X0.nbytes
    assert saved["everything_saveable"] == saved["nothing_saveable"] + 2 * L * _X0.nbytes


def test_checkpoint_dots_saveable_does_not_recompute_matmuls(monkeypatch):
    # count the executions of the matmul primitive's implementation
    impl = P.matmul_p.impl
    count = [0]

    def counting(*args, **params):
        count[0] += 1
        return impl(*args, **params)

    monkeypatch.setattr(P.matmul_p, "impl", counting)
    runs = {}
    for pol in (cr.checkpoint_policies.nothing_saveable, cr.checkpoint_policies.dots_saveable):
        count[0] = 0
        cr.grad(lambda x, pol=pol: cnp.sum(cr.checkpoint(_mat_chain, policy=pol)(x)))(_X0)
        runs[pol.__name__] = count[0]
    assert runs["nothing_saveable"] - runs["dots_saveable"] == L  # the L forward matmuls


def test_checkpoint_static_argnums_and_decorator_forms():
    def power_chain(x, n):
        for _ in range(n):
            x = cnp.sin(x)
        return x

    ck = cr.checkpoint(power_chain, static_argnums=(1,))
    assert np.array_equal(cr.grad(ck)(0.7, 3), cr.grad(power_chain)(0.7, 3))
    ck = cr.checkpoint(power_chain, static_argnums=1)
    assert np.array_equal(cr.grad(ck)(0.7, 2), cr.grad(power_chain)(0.7, 2))
    assert cr.grad(ck)(0.7, 1) == pytest.approx(np.cos(0.7), rel=1e-15)

    calls = [0]

    @cr.checkpoint
    def f(x):
        calls[0] += 1
        return cnp.sin(cnp.sin(x))

    @cr.checkpoint(policy=cr.checkpoint_policies.dots_saveable)
    def g(x):
        calls[0] += 1
        return cnp.sin(x) * x

    assert f.__name__ == "f" and g.__name__ == "g"
    assert cr.grad(f)(0.7) == pytest.approx(np.cos(np.sin(0.7)) * np.cos(0.7), rel=1e-15)
    assert cr.grad(g)(0.7) == pytest.approx(np.cos(0.7) * 0.7 + np.sin(0.7), rel=1e-15)
    assert calls[0] == 4
    assert cr.remat is cr.checkpoint


def test_checkpoint_with_integer_argument():
    idx = np.array([0, 2])
    x = np.array([0.1, 0.5, 1.0])
    g = cr.grad(lambda x: cnp.sum(cr.checkpoint(lambda x, i: cnp.sin(x[i]))(x, idx)))(x)
    np.testing.assert_allclose(g, [np.cos(0.1), 0.0, np.cos(1.0)], rtol=1e-15)


def test_checkpoint_body_creating_tensors():
    W = np.eye(4) * 0.5
    x = cr.tensor(np.full(4, 0.3), requires_grad=True)
    out = cr.checkpoint(lambda v: cnp.tanh(cr.tensor(W) @ v))(x)
    repr(out)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 0.5 * (1 - np.tanh(0.15) ** 2), rtol=1e-14)


def test_checkpoint_recomputation_ignores_later_changes_to_constants():
    # the API: "a gradient never depends on what the user does to an array after using it"
    # (protected, or checked and refused with a clear error); without checkpoint it holds
    x = np.array([0.1, 0.2])
    want = np.cos(x) * [1.0, 2.0]
    for wrap in (lambda f: f, cr.checkpoint):
        C = np.array([1.0, 2.0])
        t = cr.tensor(x, requires_grad=True)
        out = wrap(lambda v, C=C: cnp.sin(v) * C)(t)
        C[:] = 100.0
        try:
            out.sum().backward()
        except (RuntimeError, ValueError):
            continue  # refused clearly: allowed
        np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-15)
        C = np.array([1.0, 2.0])
        _, f_vjp = cr.vjp(wrap(lambda v, C=C: cnp.sin(v) * C), x)
        C[:] = 100.0
        np.testing.assert_allclose(f_vjp(np.ones(2))[0], want, rtol=1e-15)


def test_checkpoint_under_vmap_grad_grad_and_jvp():
    calls = [0]

    @cr.checkpoint
    def f(x):
        calls[0] += 1
        return cnp.sin(cnp.sin(x))

    xs = np.array([0.1, 0.5, 1.0])
    df = lambda x: np.cos(np.sin(x)) * np.cos(x)
    d2f = lambda x: -np.sin(np.sin(x)) * np.cos(x) ** 2 - np.cos(np.sin(x)) * np.sin(x)
    np.testing.assert_allclose(cr.vmap(f)(xs), np.sin(np.sin(xs)), rtol=1e-15)
    loop = np.array([cr.grad(f)(x) for x in xs])
    np.testing.assert_array_equal(cr.vmap(cr.grad(f))(xs), loop)
    np.testing.assert_allclose(loop, df(xs), rtol=1e-15)
    np.testing.assert_array_equal(cr.grad(lambda x: cnp.sum(cr.vmap(f)(x)))(xs), loop)
    assert cr.grad(cr.grad(f))(0.7) == pytest.approx(d2f(0.7), rel=1e-14)
    out, t = cr.jvp(f, (0.7,), (2.0,))
    assert out == np.sin(np.sin(0.7)) and t == pytest.approx(2 * df(0.7), rel=1e-15)
    out, t = cr.jvp(cr.grad(f), (0.7,), (1.0,))
    assert t == pytest.approx(d2f(0.7), rel=1e-14)
    assert cr.grad(lambda x: cr.jvp(f, (x,), (1.0,))[1])(0.7) == pytest.approx(d2f(0.7), rel=1e-14)
    calls[0] = 0
    cr.jvp(f, (0.7,), (1.0,))
    assert calls[0] == 1  # forward mode runs the (checkpointed) JVP once

    @cr.checkpoint
    def pt(d):
        return {"y": cnp.sin(d["a"]) * d["b"]}

    ga, gb = cr.grad(lambda a, b: cnp.sum(pt({"a": a, "b": b})["y"]), argnums=(0, 1))(xs, 2.0)
    np.testing.assert_allclose(ga, 2 * np.cos(xs), rtol=1e-15)
    assert gb == pytest.approx(np.sum(np.sin(xs)), rel=1e-15)
