"""A sample for tests/test_jit_mode.py: run with CHAINRULE_JIT_TESTS=1 and
CHAINRULE_JIT_SKIPS=tests/jit_sample/skips.py (not collected by the normal suite: its name
does not start with test_)."""

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def f(x):
    return cnp.sum(cnp.sin(x) * x)


X = np.array([0.3, -1.2, 2.0])


def test_grad_is_jitted():
    g = cr.grad(f)
    assert hasattr(g, "jitted")  # the jit mode's wrapper
    np.testing.assert_allclose(g(X), np.cos(X) * X + np.sin(X), rtol=1e-15)
    g(X)  # a second call: a cache hit
    assert g.jitted().cache_info().misses == 1
    assert g.jitted().cache_info().hits == 1


def test_every_transformation():
    cr.value_and_grad(f)(X)
    cr.elementwise_grad(cnp.sin)(X)
    cr.jacobian(cnp.sin)(X), cr.jacrev(cnp.sin)(X), cr.jacfwd(cnp.sin)(X)
    cr.hessian(f)(X)
    cr.hvp(f, (X,), (X,))
    cr.vmap(cr.grad(f))(X[:, None])
    out, t = cr.jvp(f, (X,), (X,))
    out, pullback = cr.vjp(f, X)
    (g,) = pullback(1.0)
    np.testing.assert_allclose(g, np.cos(X) * X + np.sin(X), rtol=1e-15)
    check_grads(f, (X,), order=2)


def test_listed_skip():
    raise AssertionError("skipped in jit mode (tests/jit_sample/skips.py)")


def test_listed_xfail():
    assert cr.grad(lambda x: x * 2.0)(1.0) == 3.0  # "a jit bug"


def test_listed_not_jittable():
    def h(x, mode):
        return cnp.sum(x) if mode == "sum" else cnp.sum(x * x)

    assert cr.grad(h)(X, "sum")[0] == 1.0  # a string argument: the eager call


def test_unlisted_not_jittable():
    assert cr.grad(lambda x: x * 2.0 if x > 0 else -x)(1.0) == 2.0  # control flow on x


def test_listed_not_jittable_but_jitted():
    assert cr.grad(lambda x: x * 2.0)(1.0) == 2.0


def test_no_bitwise():
    calls = []
    cr.grad(lambda x: calls.append(1) or x * 2.0)(1.0)
    assert len(calls) == 1  # staged once; the bitwise check would have run it again
