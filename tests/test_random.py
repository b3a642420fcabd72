"""chainrule.numpy.random: eager draws are NumPy's, bit for bit; a draw inside cr.jit is the
random primitive, drawn afresh at each call (never frozen at trace time, removed, merged or
folded by a pass) and giving the eager sequence; under vmap each example draws its own
numbers; checkpoint's recomputation replays the first run's draws; the reparametrised
distributions are differentiable; the Tensor face's generator is unchanged."""

from __future__ import annotations


import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compiler import passes
from chainrule.core import primitives as P
from chainrule.testing import check_grads



def same(a, b) -> bool:
    """Equal bit for bit, with the same type, dtype and shape."""
    if type(a) is not type(b) and not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)


def state(g):
    return g.bit_generator.state


A = np.arange(10.0) * 1.5
A2 = np.arange(12.0).reshape(3, 4)
LOC32 = np.array([1.0, -2.0, 3.5], np.float32)
P4 = np.array([0.1, 0.2, 0.3, 0.4])

# (method, args, kwargs): each called on cnp.random.default_rng(s) and on NumPy's
CALLS = [
    ("random", (), {}),
    ("random", (3,), {}),
    ("random", ((2, 3),), {"dtype": np.float32}),
    ("standard_normal", (4,), {}),
    ("standard_normal", (), {"size": (2, 2), "dtype": np.float32}),
    ("standard_normal", (), {"size": ()}),
    ("normal", (), {}),
    ("normal", (1.5, 2.0, 5), {}),
    ("normal", ([1.0, 2.0, 3.0], [0.5, 1.0, 2.0]), {}),
    ("normal", (LOC32, np.float32(2.0)), {"size": (2, 3)}),
    ("normal", (np.array(1.0),), {}),
    ("uniform", (), {}),
    ("uniform", (-1, 2, 6), {}),
    ("uniform", ([0.0, 1.0], [1.0, 3.0]), {}),
    ("uniform", (np.float32(0.1), np.float32(0.7), 4), {}),
    ("uniform", (LOC32, 7), {"size": (2, 3)}),
    ("integers", (10,), {}),
    ("integers", (5, 10), {"size": 8}),
    ("integers", (0, 3), {"size": (2, 2), "dtype": np.int8}),
    ("integers", (1, 6), {"size": 10, "endpoint": True}),
    ("integers", ([1, 10], [5, 20]), {}),
    ("integers", (2,), {"size": 5, "dtype": bool}),
    ("exponential", (2.0, 5), {}),
    ("exponential", ([1.0, 3.0],), {}),
    ("standard_exponential", (3,), {}),
    ("standard_exponential", (), {"size": 3, "method": "inv", "dtype": np.float32}),
    ("gamma", (2.0, 3.0, 4), {}),
    ("gamma", ([0.5, 2.0], 2.0), {}),
    ("gamma", (0.5, [1.0, 2.0, 3.0]), {}),
    ("standard_gamma", (1.5, 3), {}),
    ("choice", (5,), {}),
    ("choice", (10, 3), {}),
    ("choice", (np.int64(10), (2, 2)), {"replace": False}),
    ("choice", (A, 4), {}),
    ("choice", (A, 3), {"p": np.full(10, 0.1), "replace": False}),
    ("choice", (A2, 2), {"axis": 1}),
    ("choice", (A,), {}),
    ("choice", (A, ()), {}),
    ("choice", ([1.0, 2.0, 3.0], 2), {"shuffle": False, "replace": False}),
    ("permutation", (10,), {}),
    ("permutation", (A,), {}),
    ("permutation", (A2,), {"axis": 1}),
    ("binomial", (10, 0.3, 5), {}),
    ("binomial", ([5, 50], P4[:2]), {}),
    ("poisson", (3.0, 4), {}),
    ("poisson", (), {}),
    ("beta", (2, 3, 3), {}),
    ("laplace", (), {"size": 3}),
    ("triangular", (0, 1, 3, 4), {}),
    ("hypergeometric", (5, 5, 3, 4), {}),
    ("zipf", (2.0, 3), {}),
    ("standard_cauchy", (2,), {}),
    ("multinomial", (10, [0.2, 0.8]), {}),  # NumPy's own, eagerly
    ("dirichlet", ([1.0, 2.0],), {"size": 2}),
]


@pytest.mark.parametrize("name, args, kwargs", CALLS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CALLS)])  # fmt: skip
def test_eager_draws_are_numpys(name, args, kwargs):
    for seed in (0, 1):
        g, ng = cnp.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(2):  # and the generator is where NumPy's is
            ours, theirs = getattr(g, name)(*args, **kwargs), getattr(ng, name)(*args, **kwargs)
            assert same(ours, theirs), (ours, theirs)
        assert state(g) == state(ng)


def test_generators_share_a_numpy_generator_and_spawn():
    ng = np.random.default_rng(4)
    g = cnp.random.default_rng(ng)  # wraps, sharing the state
    assert g.bit_generator is ng.bit_generator
    assert cnp.random.default_rng(g) is g
    assert repr(g) == "Generator(PCG64)"
    first = g.random()
    assert first != ng.random()
    assert same(cnp.random.Generator(cnp.random.PCG64(3)).random(2),
                np.random.Generator(np.random.PCG64(3)).random(2))
    kids, theirs = g.spawn(2), np.random.default_rng(4).spawn(2)
    assert [type(k).__name__ for k in kids] == ["Generator", "Generator"]
    assert same(kids[1].normal(size=2), theirs[1].normal(size=2))


def test_numpys_errors():
    g = cnp.random.default_rng(0)
    with pytest.raises(ValueError, match="scale < 0"):
        g.normal(0.0, -1.0)
    with pytest.raises(ValueError, match="scale < 0"):
        g.exponential([1.0, -1.0])
    with pytest.raises(OverflowError):
        g.uniform(-np.inf, 0.0)
    with pytest.raises(TypeError, match="Unsupported dtype"):
        g.random(dtype=np.int32)
    with pytest.raises(TypeError, match="Unsupported dtype"):
        g.integers(3, dtype=np.float64)
    with pytest.raises(TypeError, match="out="):
        g.random(3, out=np.empty(3))
    with pytest.raises(IndexError, match="at least 1-dimensional"):
        g.permutation(np.array(3.0))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        g.normal([0.0, 1.0], 1.0, size=3)
    with pytest.raises(ValueError):
        g.binomial(-1, 0.5)


def test_module_functions_draw_from_the_default_generator():
    cr.manual_seed(0)
    ng = np.random.default_rng(0)
    assert same(cnp.random.normal(size=3), ng.normal(size=3))
    assert same(cnp.random.rand(2, 3), ng.random((2, 3)))
    assert same(cnp.random.randn(), ng.standard_normal())
    assert same(cnp.random.randint(0, 5, size=4), ng.integers(0, 5, size=4))
    assert same(cnp.random.random_sample(2), ng.random(2))
    assert same(cnp.random.uniform(1.0, 2.0), ng.uniform(1.0, 2.0))
    assert same(cnp.random.choice(A, 3), ng.choice(A, 3))
    cnp.random.seed(5)
    assert same(cnp.random.random(), np.random.default_rng(5).random())
    assert cnp.random.RandomState is np.random.RandomState  # NumPy's legacy names, as they are
    assert cnp.random.get_state is np.random.get_state
    with pytest.raises(AttributeError):
        cnp.random.no_such_thing  # noqa: B018


def test_tensor_face_is_unchanged():
    cr.manual_seed(0)
    ng = np.random.default_rng(0)
    a = cr.randn(3)
    b = cr.rand(2, 2, dtype=np.float32, requires_grad=True)
    c = cr.zeros(4).normal_(1.0, 2.0)
    assert isinstance(a, cr.Tensor) and same(a.numpy(), ng.standard_normal(3))
    assert b.requires_grad and same(b.detach().numpy(), ng.random((2, 2)).astype(np.float32))
    assert same(c.numpy(), ng.normal(1.0, 2.0, 4))
    assert same(cnp.random.random(2), ng.random(2))  # one generator for both faces


# --- jit: a random primitive, drawn afresh at each call ----------------------------------------


def test_jit_draws_afresh_and_matches_the_eager_sequence():
    def f(x):
        return x + cnp.random.normal(size=x.shape)

    jf = cr.jit(f)
    x = np.zeros(3)
    cr.manual_seed(0)
    eager = [f(x) for _ in range(3)]
    cr.manual_seed(0)
    jitted = [jf(x) for _ in range(3)]
    assert all(same(a, b) for a, b in zip(eager, jitted))
    assert not np.array_equal(jitted[0], jitted[1])
    assert jf.cache_info().misses == 1
    cr.manual_seed(9)  # reseeding reaches programs compiled before
    assert same(jf(x), np.random.default_rng(9).normal(size=3))


def test_jit_with_a_generator_closed_over_or_passed():
    g = cnp.random.default_rng(7)
    jf = cr.jit(lambda x: x * g.standard_normal(x.shape) + g.uniform(x, 2.0))
    x = np.linspace(0.0, 1.0, 4)
    ng = np.random.default_rng(7)
    for _ in range(2):
        assert same(jf(x), x * ng.standard_normal(4) + ng.uniform(x, 2.0))
    jg = cr.jit(lambda x, g: x + g.integers(0, 100, size=x.shape))
    g1, g2 = cnp.random.default_rng(1), cnp.random.default_rng(2)
    n1, n2 = np.random.default_rng(1), np.random.default_rng(2)
    assert same(jg(x, g=g1), x + n1.integers(0, 100, size=4))
    assert same(jg(x, g1), x + n1.integers(0, 100, size=4))
    assert same(jg(x, g=g1), x + n1.integers(0, 100, size=4))
    assert same(jg(x, g=g2), x + n2.integers(0, 100, size=4))
    assert jg.cache_info().misses == 3  # a generator is static, keyed by identity


def test_jit_with_a_generator_passed_first():
    jg = cr.jit(lambda g, x: x + g.random(x.shape))
    g = cnp.random.default_rng(1)
    assert same(jg(g, np.zeros(2)), np.random.default_rng(1).random(2))


def test_a_discarded_draw_still_advances_the_generator():
    g = cnp.random.default_rng(1)

    def f(x):
        g.normal(size=3)  # drawn and dropped
        return x * 2.0

    jf = cr.jit(f)
    jf(np.ones(2))
    ng = np.random.default_rng(1)
    ng.normal(size=3)
    assert same(g.normal(size=3), ng.normal(size=3))
    program = jf.lower(np.ones(2)).program
    draws = [e for e in program.eqns if e.prim is P.random_p]
    assert len(draws) == 1 and len(passes.dce(program).eqns) == len(program.eqns)
    assert P.random_p in passes.EFFECTS


def test_identical_draws_are_not_merged():
    g = cnp.random.default_rng(2)
    jf = cr.jit(lambda x: (x + g.random(3), x + g.random(3)))
    a, b = jf(np.zeros(3))
    ng = np.random.default_rng(2)
    assert same(a, ng.random(3)) and same(b, ng.random(3))
    program = jf.lower(np.zeros(3)).program
    assert sum(e.prim is P.random_p for e in program.eqns) == 2


def test_make_graph_stages_the_draw_reading_the_generator():
    g = cnp.random.default_rng(0)
    program = cr.make_graph(lambda x: x + g.normal(size=3))(np.zeros(3))
    (draw,) = [e for e in program.eqns if e.prim is P.random_p]
    assert draw.params["dist"] == "standard_normal" and draw.params["size"] == (3,)
    assert g in program.consts  # held by reference: read at each run
    assert "random" in str(program)
    assert state(g) == state(np.random.default_rng(0))  # staging drew nothing


def test_grad_and_jvp_of_jit_draw_once_per_call():
    g1, g2 = cnp.random.default_rng(3), cnp.random.default_rng(3)

    def loss(g):
        return lambda loc: cnp.sum(cnp.sin(g.normal(loc, 2.0, size=5)))

    jl = cr.jit(loss(g2))
    for _ in range(2):
        assert same(cr.grad(loss(g1))(0.5), cr.grad(jl)(0.5))
        assert all(same(a, b) for a, b in zip(cr.jvp(loss(g1), (0.5,), (1.0,)),
                                              cr.jvp(jl, (0.5,), (1.0,))))  # fmt: skip
    assert state(g1) == state(g2)


def test_eager_only_methods_are_refused_under_jit():
    g = cnp.random.default_rng(0)
    with pytest.raises(NotImplementedError, match="multinomial"):
        cr.jit(lambda x: x + g.multinomial(3, [0.5, 0.5]))(np.zeros(2))
    with pytest.raises(NotImplementedError, match="shuffle"):
        cr.jit(lambda x: g.shuffle(x))(np.zeros(2))
    x = np.arange(5.0)
    g.shuffle(x)  # on a NumPy array, eagerly: NumPy's
    y = np.arange(5.0)
    np.random.default_rng(0).shuffle(y)
    assert same(x, y)


def test_debug_nans_leaves_draws_alone():
    cr.config.update("debug_nans", True)
    try:
        g = cnp.random.default_rng(0)
        out = cr.jit(lambda x: x + g.normal(size=2))(np.zeros(2))
    finally:
        cr.config.update("debug_nans", False)
    assert same(out, np.random.default_rng(0).normal(size=2))


# --- vmap: each example draws its own numbers --------------------------------------------------


def _vmapped(name):
    g = cnp.random.default_rng(3)
    return cr.vmap(lambda x: x + g.normal(size=x.shape), axis_name=name)(np.zeros((4, 3)))


def test_vmap_named_axis_each_example_draws():
    out = _vmapped("i")
    assert same(out, np.random.default_rng(3).normal(size=(4, 3)))  # as a loop over examples


def test_vmap_each_example_draws():
    assert same(_vmapped(None), np.random.default_rng(3).normal(size=(4, 3)))


def test_eval_shape_draws_nothing():
    g = cnp.random.default_rng(0)
    assert cr.eval_shape(lambda x: x + g.normal(size=3), np.zeros(3)).shape == (3,)
    assert state(g) == state(np.random.default_rng(0))


@pytest.mark.parametrize("name", ["i", None])
def test_vmap_batched_parameters_and_loops(name):
    g, ng = cnp.random.default_rng(2), np.random.default_rng(2)
    his = np.array([5, 10, 100, 1000])
    out = cr.vmap(lambda hi: g.integers(0, hi, size=2), axis_name=name)(his)
    assert same(out, np.stack([ng.integers(0, hi, size=2) for hi in his]))
    out = cr.vmap(lambda x: g.permutation(x), axis_name=name)(np.tile(A, (3, 1)))
    assert same(out, np.stack([ng.permutation(A) for _ in range(3)]))
    out = cr.vmap(lambda x: x + g.choice(10, 3, replace=False), axis_name=name)(np.zeros((3, 3)))
    assert same(out, np.stack([ng.choice(10, 3, replace=False) for _ in range(3)]) + 0.0)
    out = cr.vmap(lambda p: g.binomial(10, p), axis_name=name)(P4)
    assert same(out, np.stack([ng.binomial(10, p) for p in P4]))
    assert state(g) == state(ng)


@pytest.mark.parametrize("name", ["i", None])
def test_jit_of_vmap(name):
    g = cnp.random.default_rng(3)
    jf = cr.jit(cr.vmap(lambda x: x + g.normal(size=x.shape), axis_name=name))
    ng = np.random.default_rng(3)
    for _ in range(2):
        assert same(jf(np.zeros((4, 3))), ng.normal(size=(4, 3)))


@pytest.mark.parametrize("name", ["i", None])
def test_vmap_of_jit(name):
    g = cnp.random.default_rng(3)
    out = cr.vmap(cr.jit(lambda x: x + g.normal(size=x.shape)), axis_name=name)(np.zeros((4, 3)))
    assert same(out, np.random.default_rng(3).normal(size=(4, 3)))


# --- checkpoint: the recomputation replays the draws -----------------------------------------

rng = np.random.default_rng(11)
W, X = rng.standard_normal((3, 4)), rng.standard_normal((5, 3))


def _dropout_loss(g, checkpointed, policy=None):
    def layer(w, x):
        h = x @ w
        keep = g.random(h.shape) < 0.5
        return cnp.tanh(cnp.where(keep, h / 0.5, 0.0))

    if checkpointed:
        layer = cr.checkpoint(layer, policy=policy)
    return lambda w: cnp.sum(layer(w, X) ** 2)


POLICIES = [None, cr.checkpoint_policies.dots_saveable, cr.checkpoint_policies.everything_saveable]


@pytest.mark.parametrize("policy", POLICIES, ids=["nothing", "dots", "everything"])
def test_checkpointed_dropout_has_the_unchecked_gradient(policy):
    g1, g2 = cnp.random.default_rng(0), cnp.random.default_rng(0)
    plain, ckpt = cr.grad(_dropout_loss(g1, False)), cr.grad(_dropout_loss(g2, True, policy))
    for _ in range(2):
        assert same(plain(W), ckpt(W))
    assert state(g1) == state(g2)  # the recomputation drew nothing


@pytest.mark.parametrize("policy", POLICIES, ids=["nothing", "dots", "everything"])
def test_checkpointed_dropout_under_jit(policy):
    g1, g2, g3 = (cnp.random.default_rng(0) for _ in range(3))
    plain = cr.grad(_dropout_loss(g1, False))
    jit_of_grad = cr.jit(cr.grad(_dropout_loss(g2, True, policy)))
    grad_of_jit = cr.grad(cr.jit(_dropout_loss(g3, True, policy)))
    for _ in range(2):
        want = plain(W)
        assert same(want, jit_of_grad(W)) and same(want, grad_of_jit(W))
    assert state(g1) == state(g2) == state(g3)


@pytest.mark.parametrize("name", ["i", None])
def test_checkpoint_and_vmap_replay_per_example_draws(name):
    def drop(g):
        return lambda r: cnp.sin(cnp.where(g.random(r.shape) < 0.5, r * 2.0, 0.0))

    gs = [cnp.random.default_rng(0) for _ in range(3)]
    losses = [
        lambda x: cnp.sum(cr.vmap(drop(gs[0]), axis_name=name)(x)),
        lambda x: cnp.sum(cr.vmap(cr.checkpoint(drop(gs[1])), axis_name=name)(x)),
        lambda x: cnp.sum(cr.checkpoint(cr.vmap(drop(gs[2]), axis_name=name))(x)),
    ]
    a, b, c = (cr.grad(f)(X) for f in losses)
    assert same(a, b) and same(a, c)
    assert state(gs[0]) == state(gs[1]) == state(gs[2])


def test_checkpoint_under_jvp():
    g1, g2 = cnp.random.default_rng(0), cnp.random.default_rng(0)

    def f(g):
        return lambda x: cnp.sin(cnp.where(g.random(x.shape) < 0.5, x * 2.0, 0.0))

    t = np.ones_like(X)
    a, b = cr.jvp(f(g1), (X,), (t,)), cr.jvp(cr.checkpoint(f(g2)), (X,), (t,))
    assert same(a[0], b[0]) and same(a[1], b[1])


# --- derivatives ----------------------------------------------------------------------------


def test_reparametrised_gradients_match_finite_differences():
    def normal(loc, scale):
        return cnp.sin(cnp.random.default_rng(3).normal(loc, scale, size=(2, 3)))

    def uniform(low, high):
        return cnp.cos(cnp.random.default_rng(4).uniform(low, high, size=3))

    def exponential(scale):
        return cnp.tanh(cnp.random.default_rng(5).exponential(scale, size=4))

    def gamma(scale):
        return cnp.sin(cnp.random.default_rng(6).gamma(2.5, scale, size=4))

    def choice(x):
        return cnp.random.default_rng(7).choice(x, 6) ** 2

    check_grads(normal, (np.array([0.3, -0.2, 0.8]), np.array(1.7)))
    check_grads(uniform, (np.array([-1.0, 0.0, 0.5]), np.array(2.0)))
    check_grads(exponential, (np.array(0.7),))
    check_grads(gamma, (np.array([0.3, 0.9, 1.1, 0.4]),))
    check_grads(choice, (np.array([0.5, -1.0, 2.0]),))


def test_the_gradient_is_the_reparametrised_one():
    loc, scale = 0.5, 1.5
    z = np.random.default_rng(3).standard_normal(4)
    dloc, dscale = cr.grad(lambda m, s: cnp.sum(cnp.random.default_rng(3).normal(m, s, size=4)),
                           argnums=(0, 1))(loc, scale)  # fmt: skip
    assert dloc == 4.0 and np.isclose(dscale, z.sum(), rtol=1e-15, atol=0)


def test_parameters_without_a_reparametrisation_refuse_derivatives():
    def beta(a):
        return cnp.sum(cnp.random.default_rng(0).beta(a, 2.0, size=3))

    with pytest.raises(TypeError, match="no derivative"):
        cr.grad(beta)(1.5)
    with pytest.raises(TypeError, match="no derivative"):
        cr.jvp(beta, (1.5,), (1.0,))
    with pytest.raises(TypeError, match="no derivative"):
        cr.grad(lambda k: cnp.sum(cnp.random.default_rng(0).gamma(k, 1.0, size=2)))(2.0)
    # an integer result has no derivative to lose (as floor's): none flows through the draw
    counts = np.random.default_rng(0).binomial(5, 0.5, size=3)
    assert cr.grad(lambda p: cnp.sum(cnp.random.default_rng(0).binomial(5, p, size=3) * p))(
        0.5) == counts.sum()
    assert same(cr.grad(lambda a: beta(cr.stop_gradient(a)) + a)(1.5), np.float64(1.0))


def test_linearize_draws_once():
    g = cnp.random.default_rng(0)
    y, f_jvp = cr.linearize(lambda loc: g.normal(loc, 2.0, size=3), 0.5)
    assert same(y, np.random.default_rng(0).normal(0.5, 2.0, size=3))
    assert same(f_jvp(1.0), np.ones(3))
    assert same(g.random(), _second_random(0))


def _second_random(seed):
    ng = np.random.default_rng(seed)
    ng.normal(size=3)
    return ng.random()
