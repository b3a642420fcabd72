"""`chainrule.numpy.linalg`: values against NumPy, derivatives against finite differences,
closed forms and PyTorch; unsupported functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

la = cnp.linalg


def _rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _well(shape, seed):
    """A well-conditioned square (batch of) matrix."""
    n = shape[-1]
    return _rand(shape, seed) + 3 * np.eye(n)


def _traced_value(f, *args):
    out, _ = cr.vjp(f, *args)
    return out


def _spd(X):
    """A symmetric positive definite matrix built from any square X (inside the function)."""
    n = X.shape[-1]
    return cnp.matmul(X, cnp.swapaxes(X, -1, -2)) + n * np.eye(n)


def _sym(X):
    return X + cnp.swapaxes(X, -1, -2)


# --- values: the traced path gives NumPy's result ---------------------------------------------

VALUE_CASES = [
    ("inv", lambda a: la.inv(a), lambda a: np.linalg.inv(a), [(4, 4)]),
    ("inv-batched", lambda a: la.inv(a), lambda a: np.linalg.inv(a), [(2, 3, 3)]),
    ("det", lambda a: la.det(a), lambda a: np.linalg.det(a), [(4, 4)]),
    ("det-batched", lambda a: la.det(a), lambda a: np.linalg.det(a), [(2, 3, 3)]),
    ("slogdet", lambda a: tuple(la.slogdet(a)), lambda a: tuple(np.linalg.slogdet(a)), [(4, 4)]),
    ("solve-vec", lambda a, b: la.solve(a, b), lambda a, b: np.linalg.solve(a, b),
     [(4, 4), (4,)]),
    ("solve-mat", lambda a, b: la.solve(a, b), lambda a, b: np.linalg.solve(a, b),
     [(4, 4), (4, 2)]),
    ("solve-batched-mat", lambda a, b: la.solve(a, b), lambda a, b: np.linalg.solve(a, b),
     [(2, 3, 3), (2, 3, 2)]),
    ("solve-batched-vec", lambda a, b: la.solve(a, b), lambda a, b: np.linalg.solve(a, b),
     [(2, 3, 3), (3,)]),
    ("cholesky", lambda x: la.cholesky(_spd(x)),
     lambda x: np.linalg.cholesky(x @ x.T + 4 * np.eye(4)), [(4, 4)]),
    ("cholesky-upper", lambda x: la.cholesky(_spd(x), upper=True),
     lambda x: np.linalg.cholesky(x @ x.T + 4 * np.eye(4), upper=True), [(4, 4)]),
    ("eigh", lambda x: tuple(la.eigh(_sym(x))), lambda x: tuple(np.linalg.eigh(x + x.T)),
     [(4, 4)]),
    ("eigvalsh", lambda x: la.eigvalsh(_sym(x)), lambda x: np.linalg.eigvalsh(x + x.T),
     [(4, 4)]),
    ("svd-tall", lambda x: tuple(la.svd(x, full_matrices=False)),
     lambda x: tuple(np.linalg.svd(x, full_matrices=False)), [(5, 3)]),
    ("svd-wide", lambda x: tuple(la.svd(x, full_matrices=False)),
     lambda x: tuple(np.linalg.svd(x, full_matrices=False)), [(3, 5)]),
    ("svd-s", lambda x: la.svd(x, compute_uv=False),
     lambda x: np.linalg.svd(x, compute_uv=False), [(5, 3)]),
    ("qr", lambda x: tuple(la.qr(x)), lambda x: tuple(np.linalg.qr(x)), [(5, 3)]),
    ("qr-r", lambda x: la.qr(x, mode="r"), lambda x: np.linalg.qr(x, mode="r"), [(5, 3)]),
    ("pinv-tall", lambda x: la.pinv(x), lambda x: np.linalg.pinv(x), [(5, 3)]),
    ("pinv-wide", lambda x: la.pinv(x), lambda x: np.linalg.pinv(x), [(3, 5)]),
    ("multi_dot", lambda a, b, c: la.multi_dot([a, b, c]),
     lambda a, b, c: np.linalg.multi_dot([a, b, c]), [(2, 3), (3, 4), (4, 2)]),
    ("multi_dot-vec-ends", lambda a, b, c, d: la.multi_dot([a, b, c, d]),
     lambda a, b, c, d: np.linalg.multi_dot([a, b, c, d]), [(3,), (3, 4), (4, 2), (2,)]),
]  # fmt: skip


def _args_for(name, shapes):
    args = []
    for k, s in enumerate(shapes):
        if name.startswith(("inv", "det", "slogdet", "solve")) and k == 0:
            args.append(_well(s, 20 + k))
        else:
            args.append(_rand(s, 20 + k))
    return tuple(args)


@pytest.mark.parametrize("name,f,npf,shapes", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_match_numpy(name, f, npf, shapes):
    args = _args_for(name, shapes)
    got, exp = _traced_value(f, *args), npf(*args)
    for g, e in zip(*(([got], [exp]) if not isinstance(exp, tuple) else (got, exp))):
        assert np.shape(g) == np.shape(e)
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


# --- derivatives against finite differences ---------------------------------------------------

GRAD_CASES = [
    ("inv", lambda a: la.inv(a), [(4, 4)], True),
    ("inv-batched", lambda a: la.inv(a), [(2, 3, 3)], True),
    ("det", lambda a: la.det(a), [(4, 4)], True),
    ("det-batched", lambda a: la.det(a), [(2, 3, 3)], True),
    ("slogdet-pos", lambda a: la.slogdet(a)[1], [(4, 4)], True),
    ("slogdet-neg", lambda a: la.slogdet(-a[..., ::-1, :])[1], [(3, 3)], True),
    ("solve-vec", lambda a, b: la.solve(a, b), [(4, 4), (4,)], True),
    ("solve-mat", lambda a, b: la.solve(a, b), [(4, 4), (4, 2)], True),
    ("solve-batched-mat", lambda a, b: la.solve(a, b), [(2, 3, 3), (2, 3, 2)], True),
    ("solve-batched-vec", lambda a, b: la.solve(a, b), [(2, 3, 3), (3,)], True),
    ("solve-bcast-a", lambda a, b: la.solve(a, b), [(3, 3), (2, 3, 2)], True),
    ("cholesky", lambda x: la.cholesky(_spd(x)), [(4, 4)], False),
    ("cholesky-batched", lambda x: la.cholesky(_spd(x)), [(2, 3, 3)], False),
    ("cholesky-upper", lambda x: la.cholesky(_spd(x), upper=True), [(3, 3)], False),
    ("eigh-w2", lambda x: cnp.sum(la.eigh(_sym(x))[0] ** 2), [(4, 4)], False),
    ("eigh-w", lambda x: la.eigh(_sym(x))[0], [(4, 4)], False),
    ("eigh-abs-v", lambda x: cnp.sum(cnp.abs(la.eigh(_sym(x))[1])), [(4, 4)], False),
    ("eigh-vdiagwvT", lambda x: (lambda w, v: v @ cnp.diag(w) @ v.T)(*la.eigh(_sym(x))),
     [(4, 4)], False),
    ("eigh-batched", lambda x: cnp.sum(la.eigh(_sym(x))[0] ** 3), [(2, 3, 3)], False),
    ("eigh-UPLO-U", lambda x: la.eigh(_sym(x), UPLO="U")[0], [(3, 3)], False),
    ("eigvalsh", lambda x: la.eigvalsh(_sym(x)), [(4, 4)], False),
    ("svd-usvh-tall", lambda x: (lambda u, s, vh: (u * s) @ vh)(*la.svd(x, full_matrices=False)),
     [(5, 3)], False),
    ("svd-usvh-wide", lambda x: (lambda u, s, vh: (u * s) @ vh)(*la.svd(x, full_matrices=False)),
     [(3, 5)], False),
    ("svd-sum-s-tall", lambda x: cnp.sum(la.svd(x, full_matrices=False)[1]), [(5, 3)], False),
    ("svd-sum-s-wide", lambda x: cnp.sum(la.svd(x, full_matrices=False)[1]), [(3, 5)], False),
    ("svd-s-only-tall", lambda x: la.svd(x, compute_uv=False), [(5, 3)], False),
    ("svd-s-only-wide", lambda x: la.svd(x, compute_uv=False), [(3, 5)], False),
    ("svd-abs-u-tall", lambda x: cnp.sum(cnp.abs(la.svd(x, full_matrices=False)[0])), [(5, 3)],
     False),
    ("svd-abs-vh-wide", lambda x: cnp.sum(cnp.abs(la.svd(x, full_matrices=False)[2])),
     [(3, 5)], False),
    ("svd-batched", lambda x: la.svd(x, compute_uv=False), [(2, 4, 3)], False),
    ("qr-tall", lambda x: tuple(la.qr(x)), [(5, 3)], False),
    ("qr-square", lambda x: tuple(la.qr(x)), [(3, 3)], False),
    ("qr-r", lambda x: la.qr(x, mode="r"), [(4, 2)], False),
    ("qr-batched", lambda x: tuple(la.qr(x)), [(2, 4, 3)], False),
    ("pinv-tall", lambda x: la.pinv(x), [(5, 3)], False),
    ("pinv-wide", lambda x: la.pinv(x), [(3, 5)], False),
    ("pinv-square", lambda x: la.pinv(x), [(3, 3)], False),
    ("multi_dot", lambda a, b, c: la.multi_dot([a, b, c]), [(2, 3), (3, 4), (4, 2)], False),
    ("multi_dot-vec-ends", lambda a, b, c, d: la.multi_dot([a, b, c, d]),
     [(3,), (3, 4), (4, 2), (2,)], False),
]  # fmt: skip


@pytest.mark.parametrize("name,f,shapes,well", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_check_grads(name, f, shapes, well):
    args = tuple(
        _well(s, 30 + k) if (well and k == 0) else _rand(s, 30 + k) for k, s in enumerate(shapes)
    )
    check_grads(f, args, order=2)


@pytest.mark.parametrize("n", [-3, -2, -1, 0, 1, 2, 3, 5])
def test_matrix_power(n):
    A = _rand((3, 3), 1) / 3 + np.eye(3)
    np.testing.assert_allclose(
        _traced_value(lambda a: la.matrix_power(a, n), A), np.linalg.matrix_power(A, n),
        rtol=1e-12, atol=1e-12,
    )  # fmt: skip
    check_grads(lambda a: la.matrix_power(a, n), (A,), order=2)


def test_matrix_power_batched_and_zero_gradient_for_n0():
    A = _rand((2, 3, 3), 2) / 3 + np.eye(3)
    np.testing.assert_allclose(
        _traced_value(lambda a: la.matrix_power(a, -2), A), np.linalg.matrix_power(A, -2),
        rtol=1e-12,
    )  # fmt: skip
    check_grads(lambda a: la.matrix_power(a, 3), (A,), order=1)
    g = cr.grad(lambda a: cnp.sum(la.matrix_power(a, 0)))(A)
    np.testing.assert_array_equal(g, np.zeros_like(A))


def test_matrix_power_closed_form():
    A = _rand((3, 3), 3)
    W = _rand((3, 3), 4)
    g = cr.grad(lambda a: cnp.sum(W * la.matrix_power(a, 3)))(A)
    # d tr(W^T A^3) = tr(W^T (dA A^2 + A dA A + A^2 dA)) -> W A^2T + A^T W A^T + A^2T W
    A2 = A @ A
    np.testing.assert_allclose(g, W @ A2.T + A.T @ W @ A.T + A2.T @ W, rtol=1e-12)


# --- closed forms -----------------------------------------------------------------------------


def test_inv_det_slogdet_closed_forms():
    A = _well((4, 4), 5)
    Ainv = np.linalg.inv(A)
    W = _rand((4, 4), 6)
    np.testing.assert_allclose(
        cr.grad(lambda a: cnp.sum(W * la.inv(a)))(A), -Ainv.T @ W @ Ainv.T, rtol=1e-12
    )
    np.testing.assert_allclose(
        cr.grad(la.det)(A), np.linalg.det(A) * Ainv.T, rtol=1e-12
    )
    np.testing.assert_allclose(cr.grad(lambda a: la.slogdet(a)[1])(A), Ainv.T, rtol=1e-12)
    # a negative determinant: log|det| still has gradient inv(A).T, the sign none
    B = A[[1, 0, 2, 3]]  # one row swap: det(B) = -det(A)
    assert np.linalg.det(B) < 0
    np.testing.assert_allclose(
        cr.grad(lambda a: la.slogdet(a)[1])(B), np.linalg.inv(B).T, rtol=1e-12
    )
    g = cr.grad(lambda a: la.slogdet(a)[0] * cnp.exp(la.slogdet(a)[1]))(B)
    np.testing.assert_allclose(g, np.linalg.det(B) * np.linalg.inv(B).T, rtol=1e-12)


def _cofactor(A):
    n = A.shape[0]
    C = np.empty_like(A)
    for i, j in itertools.product(range(n), range(n)):
        minor = np.delete(np.delete(A, i, 0), j, 1)
        C[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return C


@pytest.mark.parametrize(
    "A",
    [np.array([[1.0, 2.0], [2.0, 4.0]]),
     np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]),
     np.zeros((3, 3))],
    ids=["2x2-rank1", "3x3-rank2", "3x3-zero"],
)  # fmt: skip
def test_det_gradient_at_singular_matrix_is_the_cofactor_matrix(A):
    """d det(A)/dA = cof(A) holds for every A (JAX and PyTorch give it at singular A too)."""
    g = cr.grad(la.det)(A)
    np.testing.assert_allclose(g, _cofactor(A), atol=1e-12)


def test_solve_closed_form():
    A, b = _well((4, 4), 7), _rand((4,), 8)
    w = _rand((4,), 9)
    x = np.linalg.solve(A, b)
    lam = np.linalg.solve(A.T, w)
    gA, gb = cr.grad(lambda a, b: cnp.sum(w * la.solve(a, b)), argnums=(0, 1))(A, b)
    np.testing.assert_allclose(gb, lam, rtol=1e-12)
    np.testing.assert_allclose(gA, -np.outer(lam, x), rtol=1e-12)


def test_cholesky_logdet_closed_form():
    X = _rand((4, 4), 10)
    A = X @ X.T + 4 * np.eye(4)
    f = lambda x: 2 * cnp.sum(cnp.log(cnp.diagonal(la.cholesky(_spd(x)))))
    assert float(_traced_value(f, X)) == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    np.testing.assert_allclose(cr.grad(f)(X), 2 * np.linalg.solve(A, X), rtol=1e-10)


def test_eigh_closed_forms():
    X = _rand((4, 4), 11)
    A = X + X.T
    # sum(w**2) = ||A||_F^2 -> d/dA = 2A -> d/dX = 4A
    g = cr.grad(lambda x: cnp.sum(la.eigh(_sym(x))[0] ** 2))(X)
    np.testing.assert_allclose(g, 4 * A, rtol=1e-10)
    # d w_k / dA = v_k v_k^T (for the symmetric perturbations A = X + X^T sees)
    w, V = np.linalg.eigh(A)
    gk = cr.grad(lambda x: la.eigvalsh(_sym(x))[2])(X)
    np.testing.assert_allclose(gk, 2 * np.outer(V[:, 2], V[:, 2]), rtol=1e-10, atol=1e-12)
    # v diag(w) v^T = A: its gradient is that of the identity map
    W = _rand((4, 4), 12)
    recon = lambda x: cnp.sum(W * (lambda w, v: v @ cnp.diag(w) @ v.T)(*la.eigh(_sym(x))))
    np.testing.assert_allclose(cr.grad(recon)(X), W + W.T, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4)], ids=["tall", "wide", "square"])
def test_svd_closed_forms(shape):
    X = _rand(shape, 13)
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    # nuclear norm: d sum(s) = U V^T
    g = cr.grad(lambda x: cnp.sum(la.svd(x, full_matrices=False)[1]))(X)
    np.testing.assert_allclose(g, U @ Vh, rtol=1e-10, atol=1e-12)
    g = cr.grad(lambda x: cnp.sum(la.svd(x, compute_uv=False)))(X)
    np.testing.assert_allclose(g, U @ Vh, rtol=1e-10, atol=1e-12)
    # largest singular value: d s_0 = u_0 v_0^T
    g = cr.grad(lambda x: la.svd(x, compute_uv=False)[0])(X)
    np.testing.assert_allclose(g, np.outer(U[:, 0], Vh[0]), rtol=1e-10, atol=1e-12)
    # (u * s) @ vh = X: the identity map
    W = _rand(shape, 14)
    f = lambda x: cnp.sum(W * (lambda u, s, vh: (u * s) @ vh)(*la.svd(x, full_matrices=False)))
    np.testing.assert_allclose(cr.grad(f)(X), W, rtol=1e-9, atol=1e-10)


def test_svd_full_matrices_on_nonsquare_traced_is_a_clear_error():
    with pytest.raises(NotImplementedError, match="full_matrices"):
        cr.grad(lambda x: cnp.sum(la.svd(x)[0]))(_rand((4, 3), 0))


def test_qr_values_and_reconstruction_gradient():
    X = _rand((5, 3), 15)
    q, r = _traced_value(lambda x: tuple(la.qr(x)), X)
    np.testing.assert_allclose(q @ r, X, atol=1e-12)
    np.testing.assert_allclose(np.triu(r), r)
    W = _rand((5, 3), 16)
    g = cr.grad(lambda x: cnp.sum(W * cnp.matmul(*la.qr(x))))(X)
    np.testing.assert_allclose(g, W, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "fname,field",
    [("qr", "Q"), ("qr", "R"), ("eigh", "eigenvalues"), ("eigh", "eigenvectors"),
     ("svd", "S"), ("slogdet", "logabsdet")],
)  # fmt: skip
def test_decompositions_return_numpys_named_results_on_traced_values(fname, field):
    """NumPy returns QRResult/EighResult/SVDResult/SlogdetResult: code reading `.Q`, `.S`,
    `.eigenvalues` ... must stay differentiable, and `check_grads(cnp.linalg.qr, ...)` must see
    the same output structure traced and untraced."""
    X = _well((3, 3), 17)
    prep = {"eigh": lambda x: _sym(x), "svd": lambda x: x, "qr": lambda x: x,
            "slogdet": lambda x: x}[fname]  # fmt: skip
    kwargs = {"svd": {"full_matrices": False}}.get(fname, {})
    f = lambda x: cnp.sum(cnp.abs(getattr(getattr(la, fname)(prep(x), **kwargs), field)))
    plain = getattr(getattr(np.linalg, fname)(X + X.T if fname == "eigh" else X, **kwargs), field)
    val, g = cr.value_and_grad(f)(X)
    assert val == pytest.approx(np.sum(np.abs(plain)), rel=1e-12)
    assert g.shape == X.shape


def test_check_grads_directly_on_qr_output():
    check_grads(la.qr, (_rand((4, 3), 18),), order=1)


# --- norm -------------------------------------------------------------------------------------

VEC = np.array([0.3, -1.2, 2.5, -0.7, 1.9])


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 0, 3, 0.5, -1])
def test_vector_norm_values_and_grads(ord):
    f = lambda x: la.norm(x, ord=ord)
    assert float(_traced_value(f, VEC)) == pytest.approx(np.linalg.norm(VEC, ord), rel=1e-13)
    if ord != 0:
        check_grads(f, (VEC,), order=2)


@pytest.mark.parametrize(
    "ord,expected",
    [(None, VEC / np.linalg.norm(VEC)), (2, VEC / np.linalg.norm(VEC)), (1, np.sign(VEC)),
     (np.inf, np.array([0, 0, 1.0, 0, 0])), (-np.inf, np.array([1.0, 0, 0, 0, 0])),
     (0, np.zeros(5)),
     (3, np.abs(VEC) ** 2 * np.sign(VEC) / np.linalg.norm(VEC, 3) ** 2)],
)  # fmt: skip
def test_vector_norm_grad_closed_form(ord, expected):
    np.testing.assert_allclose(cr.grad(lambda x: la.norm(x, ord=ord))(VEC), expected, rtol=1e-12)


@pytest.mark.parametrize("ord", [None, 2])
def test_two_norm_gradient_is_zero_at_zero_vector(ord):
    g = cr.grad(lambda x: la.norm(x, ord=ord))(np.zeros(4))
    np.testing.assert_array_equal(g, np.zeros(4))
    g = cr.grad(lambda x: cnp.sum(la.norm(x, axis=1)))(np.zeros((2, 3)))
    np.testing.assert_array_equal(g, np.zeros((2, 3)))
    # elsewhere in the same batch the gradient is the usual one
    X = np.array([[0.0, 0.0], [3.0, 4.0]])
    g = cr.grad(lambda x: cnp.sum(la.norm(x, ord=ord, axis=1)))(X)
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-14)


MAT = _rand((4, 3), 40)


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, 2, np.inf, -1, -2, -np.inf, None])
def test_matrix_norm_values_and_grads(ord):
    f = lambda x: la.norm(x, ord=ord)
    assert float(_traced_value(f, MAT)) == pytest.approx(np.linalg.norm(MAT, ord), rel=1e-12)
    check_grads(f, (MAT,), order=2)


def test_matrix_norm_grad_closed_forms():
    X = MAT
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    np.testing.assert_allclose(cr.grad(lambda x: la.norm(x, "fro"))(X), X / np.sqrt(np.sum(X**2)))
    np.testing.assert_allclose(cr.grad(lambda x: la.norm(x, "nuc"))(X), U @ Vh, atol=1e-12)
    np.testing.assert_allclose(
        cr.grad(lambda x: la.norm(x, 2))(X), np.outer(U[:, 0], Vh[0]), atol=1e-12
    )
    j = np.argmax(np.abs(X).sum(axis=0))
    exp = np.zeros_like(X)
    exp[:, j] = np.sign(X[:, j])
    np.testing.assert_array_equal(cr.grad(lambda x: la.norm(x, 1))(X), exp)
    i = np.argmax(np.abs(X).sum(axis=1))
    exp = np.zeros_like(X)
    exp[i] = np.sign(X[i])
    np.testing.assert_array_equal(cr.grad(lambda x: la.norm(x, np.inf))(X), exp)


T3 = _rand((2, 3, 4), 41)


@pytest.mark.parametrize(
    "ord,axis,keepdims",
    [(None, None, False), (None, 1, False), (None, -1, True), (2, 0, True), (1, 2, False),
     (np.inf, 1, True), (3, 1, False), ("fro", (1, 2), False), ("fro", (0, 2), True),
     ("nuc", (1, 2), False), ("nuc", (2, 0), True), (2, (1, 2), False), (1, (2, 1), True),
     (np.inf, (0, 1), False), (-2, (1, 2), True)],
)  # fmt: skip
def test_norm_axis_keepdims(ord, axis, keepdims):
    f = lambda x: la.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    exp = np.linalg.norm(T3, ord=ord, axis=axis, keepdims=keepdims)
    got = _traced_value(f, T3)
    assert np.shape(got) == np.shape(exp)
    np.testing.assert_allclose(got, exp, rtol=1e-12)
    check_grads(f, (T3,), order=1)


def test_norm_accepts_numpy_integer_axis():
    f = lambda x: la.norm(x, axis=np.int64(1))
    np.testing.assert_allclose(_traced_value(f, T3), np.linalg.norm(T3, axis=1), rtol=1e-13)
    f = lambda x: la.norm(x, ord="fro", axis=(np.int64(1), np.int64(2)))
    np.testing.assert_allclose(_traced_value(f, T3), np.linalg.norm(T3, axis=(1, 2)), rtol=1e-13)


@pytest.mark.parametrize(
    "x,ord,axis",
    [(VEC, "fro", None), (VEC, "nuc", None), (MAT, 3, None), (T3, 2, None), (T3, None, (0, 1, 2))],
    ids=["vec-fro", "vec-nuc", "mat-3", "3d-ord2", "3-axes"],
)  # fmt: skip
def test_invalid_norm_order_or_dims_raise_value_error_like_numpy(x, ord, axis):
    with pytest.raises(ValueError):
        np.linalg.norm(x, ord=ord, axis=axis)
    with pytest.raises(ValueError):
        cr.grad(lambda x: cnp.sum(la.norm(x, ord=ord, axis=axis)))(x)


# --- comparisons with PyTorch (float64) -------------------------------------------------------

TORCH_CASES = [
    ("inv", lambda x, m: cnp.sum(cnp.sin(m.inv(x))), lambda x, t: t.sin(t.linalg.inv(x)).sum(),
     (4, 4)),
    ("det", lambda x, m: m.det(x), lambda x, t: t.linalg.det(x), (4, 4)),
    ("slogdet", lambda x, m: m.slogdet(x)[1], lambda x, t: t.linalg.slogdet(x)[1], (4, 4)),
    ("solve", lambda x, m: cnp.sum(m.solve(x, np.arange(1.0, 5.0)) ** 2),
     lambda x, t: (t.linalg.solve(x, t.arange(1.0, 5.0, dtype=t.float64)) ** 2).sum(), (4, 4)),
    ("cholesky", lambda x, m: cnp.sum(cnp.sin(m.cholesky(x @ x.T + 4 * np.eye(4)))),
     lambda x, t: t.sin(t.linalg.cholesky(x @ x.T + 4 * t.eye(4, dtype=t.float64))).sum(),
     (4, 4)),
    ("eigh", lambda x, m: cnp.sum(m.eigh(x + x.T)[0] ** 3)
     + cnp.sum(cnp.abs(m.eigh(x + x.T)[1][:, 0])),
     lambda x, t: (t.linalg.eigh(x + x.T)[0] ** 3).sum()
     + t.linalg.eigh(x + x.T)[1][:, 0].abs().sum(), (4, 4)),
    ("svd", lambda x, m: (lambda u, s, vh: cnp.sum(s**2) + cnp.sum(cnp.abs(u)))(
         *m.svd(x, full_matrices=False)),
     lambda x, t: (lambda u, s, vh: (s**2).sum() + u.abs().sum())(
         *t.linalg.svd(x, full_matrices=False)), (5, 3)),
    ("qr", lambda x, m: cnp.sum(cnp.abs(m.qr(x)[0])) + cnp.sum(cnp.abs(m.qr(x)[1])),
     lambda x, t: t.linalg.qr(x)[0].abs().sum() + t.linalg.qr(x)[1].abs().sum(), (5, 3)),
    ("norm-nuc", lambda x, m: m.norm(x, "nuc"), lambda x, t: t.linalg.norm(x, "nuc"), (4, 3)),
    ("norm-2", lambda x, m: m.norm(x, 2), lambda x, t: t.linalg.norm(x, 2), (4, 3)),
    ("norm-vec3", lambda x, m: m.norm(x.ravel(), 3),
     lambda x, t: t.linalg.norm(x.ravel(), 3), (4, 3)),
    ("pinv", lambda x, m: cnp.sum(cnp.sin(m.pinv(x))), lambda x, t: t.sin(t.linalg.pinv(x)).sum(),
     (5, 3)),
    ("matrix_power", lambda x, m: cnp.sum(m.matrix_power(x, -3)),
     lambda x, t: t.linalg.matrix_power(x, -3).sum(), (3, 3)),
    ("multi_dot", lambda x, m: cnp.sum(m.multi_dot([x, x.T, x])),
     lambda x, t: t.linalg.multi_dot([x, x.T, x]).sum(), (4, 3)),
]  # fmt: skip


@pytest.mark.parametrize("name,f,tf,shape", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_grads_match_torch(name, f, tf, shape):
    torch = pytest.importorskip("torch")
    X = _rand(shape, 50)
    if shape[0] == shape[1]:
        X = X + 2 * np.eye(shape[0])
    got = cr.grad(lambda x: f(x, la))(X)
    tx = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    tf(tx, torch).backward()
    np.testing.assert_allclose(got, tx.grad.numpy(), rtol=1e-9, atol=1e-11)


# --- NumPy's own linalg functions on traced values; unsupported functions ---------------------


def test_numpy_linalg_functions_dispatch_on_traced_values():
    A = _well((3, 3), 60)
    Ainv = np.linalg.inv(A)
    np.testing.assert_allclose(cr.grad(np.linalg.det)(A), np.linalg.det(A) * Ainv.T, rtol=1e-12)
    np.testing.assert_allclose(
        cr.grad(lambda a: np.sum(np.linalg.inv(a)))(A), -Ainv.T @ np.ones((3, 3)) @ Ainv.T,
        rtol=1e-12,
    )  # fmt: skip
    v = np.array([3.0, 4.0])
    np.testing.assert_allclose(cr.grad(np.linalg.norm)(v), [0.6, 0.8], rtol=1e-14)
    b = np.ones(3)
    np.testing.assert_allclose(
        cr.grad(lambda b: np.sum(np.linalg.solve(A, b)))(b), np.linalg.solve(A.T, np.ones(3)),
        rtol=1e-12,
    )  # fmt: skip


@pytest.mark.parametrize(
    "name,call",
    [("eig", lambda m, a: m.eig(a)[0]), ("eigvals", lambda m, a: m.eigvals(a)),
     ("lstsq", lambda m, a: m.lstsq(a, np.ones(3), rcond=None)[0]),
     ("matrix_rank", None)],
)  # fmt: skip
def test_more_linalg_differentiates_on_traced_and_passes_through_on_plain(name, call):
    A = _well((3, 3), 61)
    if call is None:  # matrix_rank is integer-valued: it works on traced values, no gradient
        assert int(la.matrix_rank(A)) == 3
        assert cr.grad(lambda a: cnp.sum(a) * 0 + la.matrix_rank(a))(A).shape == A.shape
        return
    check_grads(lambda a: cnp.sum(cnp.real(call(la, a) ** 2)), (A,), order=2,
                modes=("fwd", "rev"))  # fmt: skip
    plain = call(la, A)
    np.testing.assert_array_equal(plain, call(np.linalg, A))


def test_numpy_eig_on_traced_value_is_differentiable():
    # the sum of the eigenvalues is the trace: its gradient is the identity
    g = cr.grad(lambda a: np.sum(np.real(np.linalg.eig(a)[0])))(_well((3, 3), 62))
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)


def test_linalg_on_non_square_is_a_clear_error():
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        cr.grad(lambda a: la.det(a))(np.ones((2, 3)))
