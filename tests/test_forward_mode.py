"""Forward mode stands alone: jvp and jacfwd record no reverse-mode graph, and a
Hessian-vector product costs memory linear in the size of the input (n = 10⁶)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.transforms import reverse


@pytest.fixture
def reverse_traces(monkeypatch):
    """Counts the reverse-mode traces created."""
    made = []
    init = reverse.ReverseTrace.__init__

    def counting(self, *a, **k):
        made.append(self)
        init(self, *a, **k)

    monkeypatch.setattr(reverse.ReverseTrace, "__init__", counting)
    return made


def f(x):
    return cnp.sum(cnp.sin(x) * x**2)


def test_jvp_and_jacfwd_create_no_reverse_trace(reverse_traces):
    x = np.linspace(-1.0, 1.0, 5)
    _, t = cr.jvp(f, (x,), (np.ones(5),))
    J = cr.jacfwd(lambda v: cnp.sin(v) * v)(x)
    _, f_jvp = cr.linearize(f, x)
    f_jvp(np.ones(5))
    assert reverse_traces == []
    np.testing.assert_allclose(t, np.sum(np.cos(x) * x**2 + 2 * x * np.sin(x)), rtol=1e-14)
    np.testing.assert_allclose(J, np.diag(np.cos(x) * x + np.sin(x)), rtol=1e-14)
    cr.grad(f)(x)  # and the fixture does see reverse mode when it is used
    assert len(reverse_traces) == 1


def test_hvp_memory_is_linear_at_a_million():
    n = 1_000_000
    x = np.linspace(-1.0, 1.0, n)
    v = np.ones(n)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        hv = cr.hvp(f, (x,), (v,))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # d²/dx² of sin(x) x² is (2 - x²) sin(x) + 4 x cos(x); the Hessian is diagonal
    np.testing.assert_allclose(hv, (2 - x * x) * np.sin(x) + 4 * x * np.cos(x), rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    assert peak < 40 * 8 * n, f"peak {peak / 8 / n:.1f} vectors of n"  # O(n): tens of vectors


def test_einsum_traced_equals_plain_bitwise():
    # the traced call once passed optimize=True where the plain call did not
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((5, 7)), rng.standard_normal((7, 3)), rng.standard_normal(3)
    for opt in (False, True, "greedy"):
        plain = cnp.einsum("ij,jk,k->i", a, b, c, optimize=opt)
        traced, _ = cr.vjp(lambda a: cnp.einsum("ij,jk,k->i", a, b, c, optimize=opt), a)
        assert np.array_equal(plain, traced)


def test_backward_and_hooks_inside_transformations_point_to_grad():
    t = cr.tensor(np.ones((3, 2)), requires_grad=True)
    with pytest.raises(TypeError, match=r"cr\.grad"):
        cr.vmap(lambda r: (r * 2).sum().backward())(t)
    with pytest.raises(TypeError, match=r"cr\.grad"):
        cr.jvp(lambda x: x.register_hook(print), (1.0,), (1.0,))
