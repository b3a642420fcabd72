"""Complex numbers through the functional face (JAX's convention: the VJP of a holomorphic
function is g·f'(z), no conjugation; a real loss of complex inputs gets the conjugate of
∂L/∂z̄ times two, as `jax.grad`): elementwise functions and every linear-algebra function,
in both modes, against finite differences and against JAX."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

rng = np.random.default_rng(7)


def crand(*shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


A = crand(3, 3) + 3 * np.eye(3)
HPD = A @ A.conj().T
TALL, WIDE = crand(4, 3), crand(3, 4)
B = crand(3, 2)

# real losses of complex inputs, written once for chainrule.numpy and jax.numpy
LOSSES = {
    "inv": (lambda m, x: m.sum(m.abs(m.linalg.inv(x)) ** 2), A),
    "det": (lambda m, x: m.abs(m.linalg.det(x)) ** 2, A),
    "slogdet": (lambda m, x: m.linalg.slogdet(x)[1], A),
    "solve": (lambda m, x: m.sum(m.abs(m.linalg.solve(x, B)) ** 2), A),
    "svdvals": (lambda m, x: m.sum(m.linalg.svd(x, compute_uv=False) ** 3), WIDE),
    "svd": (lambda m, x: m.sum(m.abs(_usv(m, x)) ** 3), TALL),
    "svd u": (lambda m, x: m.sum(m.abs(m.linalg.svd(x, full_matrices=False)[0]) ** 4), TALL),
    "eigh w": (lambda m, x: m.sum(m.linalg.eigh(x)[0] * m.arange(3.0)), HPD),
    "eigh v": (lambda m, x: m.sum(m.abs(m.linalg.eigh(x)[1]) ** 4), HPD),
    "cholesky": (lambda m, x: m.sum(m.abs(m.linalg.cholesky(x)) ** 2 * m.arange(9.0).reshape(3, 3)),
                 HPD),
    "qr": (lambda m, x: m.sum(m.abs(m.linalg.qr(x)[1]) ** 2 * m.arange(9.0).reshape(3, 3))
           + m.sum(m.abs(m.linalg.qr(x)[0]) ** 4), TALL),
    "eigvals": (lambda m, x: m.sum(m.abs(m.linalg.eigvals(x)) ** 2), A),
    "norm fro": (lambda m, x: m.linalg.norm(x), A),
    "norm nuc": (lambda m, x: m.linalg.norm(x, "nuc"), A),
    "norm 2": (lambda m, x: m.linalg.norm(x, 2), A),
    "pinv": (lambda m, x: m.sum(m.abs(m.linalg.pinv(x)) ** 2), TALL),
    "sqrt": (lambda m, x: m.sum(m.abs(m.sqrt(x))), A),
    "log": (lambda m, x: m.sum(m.abs(m.log(x)) ** 2), A),
    "exp": (lambda m, x: m.sum(m.real(m.exp(x)) * m.imag(x)), A),
    "power": (lambda m, x: m.sum(m.abs(x**2.5)), A),
    "angle": (lambda m, x: m.sum(m.angle(x) * m.arange(9.0).reshape(3, 3)), A),
    "abs": (lambda m, x: m.sum(m.abs(x) ** 3), A),
    "conj": (lambda m, x: m.sum(m.real(m.conj(x) * x * (1 + 2j))), A),
    "var": (lambda m, x: m.var(x) + m.std(x, axis=0).sum(), A),
}


def _usv(m, x):
    u, s, vh = m.linalg.svd(x, full_matrices=False)
    return u @ (s[:, None] * vh)


HERMITIAN = {"eigh w", "eigh v", "cholesky"}  # they read one triangle: Hermitian directions


@pytest.mark.parametrize("name", list(LOSSES))
def test_real_losses_of_complex_inputs_match_finite_differences(name):
    f, x = LOSSES[name]
    if name in HERMITIAN:
        g = lambda x: f(cnp, 0.5 * (x + cnp.conj(x).T))  # noqa: E731
    else:
        g = lambda x: f(cnp, x)  # noqa: E731
    check_grads(g, (x,), order=1, modes=("fwd", "rev"), eps=1e-6, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def jax_x64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("name", list(LOSSES))
def test_real_losses_of_complex_inputs_match_jax(name, jax_x64):
    jnp = jax_x64.numpy
    f, x = LOSSES[name]
    ours = cr.grad(lambda x: f(cnp, x))(x)
    theirs = np.asarray(jax_x64.grad(lambda x: f(jnp, x))(jnp.asarray(x)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-11)
    t = crand(*x.shape)
    _, ours_t = cr.jvp(lambda x: f(cnp, x), (x,), (t,))
    _, theirs_t = jax_x64.jvp(lambda x: f(jnp, x), (jnp.asarray(x),), (jnp.asarray(t),))
    np.testing.assert_allclose(ours_t, np.asarray(theirs_t), rtol=1e-9, atol=1e-11)


HOLOMORPHIC = {
    "inv": (lambda m, x: m.sum(m.linalg.inv(x)), A),
    "det": (lambda m, x: m.linalg.det(x), A),
    "solve": (lambda m, x: m.sum(m.linalg.solve(x, B)), A),
    "poly": (lambda m, x: m.sum(x**3 + 2j * x), A),
    "exp sin": (lambda m, x: m.sum(m.exp(m.sin(x))), A),
    "sqrt log": (lambda m, x: m.sum(m.sqrt(x) * m.log(x)), A),
}


@pytest.mark.parametrize("name", list(HOLOMORPHIC))
def test_holomorphic_derivatives_match_jax(name, jax_x64):
    jnp = jax_x64.numpy
    f, x = HOLOMORPHIC[name]
    ours = cr.grad(lambda x: f(cnp, x), holomorphic=True)(x)
    theirs = jax_x64.grad(lambda x: f(jnp, x), holomorphic=True)(jnp.asarray(x))
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-9, atol=1e-11)
    J = cr.jacfwd(lambda x: f(cnp, x), holomorphic=True)(x)
    np.testing.assert_allclose(J, ours, rtol=1e-9, atol=1e-11)


def test_holomorphic_derivative_closed_form():
    z = np.array([1 + 2j, -0.5 + 0.1j])
    g = cr.elementwise_grad(lambda z: z**3 + 2j * z)(z)  # VJP with ones: f'(z), no conjugate
    np.testing.assert_allclose(g, 3 * z**2 + 2j, rtol=1e-14)
    # a real loss: jax.grad's convention gives 2 * conj(z) for |z|^2
    np.testing.assert_allclose(cr.grad(lambda z: cnp.sum(cnp.abs(z) ** 2))(z), 2 * np.conj(z),
                               rtol=1e-14)  # fmt: skip


def test_complex_outputs_under_vmap_and_jacobians():
    x = crand(4, 3, 3) + 3 * np.eye(3)
    f = lambda a: cnp.sum(cnp.abs(cnp.linalg.svd(a, compute_uv=False)) ** 2)  # noqa: E731
    got = cr.vmap(cr.grad(f))(x)
    want = np.stack([cr.grad(f)(a) for a in x])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_imag_of_a_scalar_in_a_grad_gives_an_array_cotangent():
    # -1j * np.float64(g) is a Python complex: the rule must keep NumPy types
    g = cr.grad(lambda x: cnp.angle(x * 1j + 1.0))(0.0)
    assert float(g) == 1.0
    g = cr.grad(lambda x: cnp.imag(x * (1 + 2j)))(np.float64(3.0))
    assert float(g) == 2.0


# the decompositions at larger sizes: losses invariant to the eigenvectors' phases; CI
# samples n = 4, CHAINRULE_FULL_TESTS=1 adds the heavy ones
DECOMPOSITIONS = {
    "svd": lambda x: cnp.sum(cnp.abs(_usv(cnp, x) * cnp.linalg.svd(x, compute_uv=False)[0]) ** 2),
    "svd u": lambda x: cnp.sum(cnp.abs(cnp.linalg.svd(x)[0]) ** 4),
    "eigh": lambda x: cnp.sum(cnp.abs(cnp.linalg.eigh(0.5 * (x + cnp.conj(x).T))[1]) ** 4)
    + cnp.sum(cnp.linalg.eigh(0.5 * (x + cnp.conj(x).T))[0] ** 3),
    "eig": lambda x: cnp.sum(cnp.abs(cnp.linalg.eig(x)[1]) ** 4)
    + cnp.sum(cnp.abs(cnp.linalg.eigvals(x)) ** 2),
}


@pytest.mark.parametrize("n", (4, 8, 16) if os.environ.get("CHAINRULE_FULL_TESTS") == "1" else (4,))
@pytest.mark.parametrize("name", list(DECOMPOSITIONS))
def test_decompositions_at_larger_sizes(name, n):
    x = crand(n, n) + n * np.eye(n) * (name == "eig")
    check_grads(DECOMPOSITIONS[name], (x,), order=1, modes=("fwd", "rev"), eps=1e-6,
                rtol=1e-4, atol=1e-6)  # fmt: skip


def test_vjp_refuses_a_complex_cotangent_for_a_real_output():
    """Its imaginary part would be dropped without a word (JAX refuses it too); a complex
    output takes one."""
    x = np.array([1.0, 2.0])
    _, pull = cr.vjp(cnp.sin, x)
    with pytest.raises(TypeError, match="complex cotangent"):
        pull(np.array([1j, 2j]))
    np.testing.assert_allclose(pull(np.array([1.0, 2.0]))[0], np.cos(x) * [1.0, 2.0])
    _, pull_c = cr.vjp(lambda v: v * (1 + 1j), x)
    (g,) = pull_c(np.array([1j, 1j]))
    assert np.all(np.isfinite(g))
