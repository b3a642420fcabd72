"""Products: dot, matmul/@, vdot, inner, outer, tensordot, einsum, kron.

Every case is checked three ways: the traced value against NumPy's own result, the plain-array
path against NumPy (pass-through), and derivatives up to order 2 in every operand against
finite differences (`check_grads`), in float64 and float32. A few gradients are also compared
with closed forms and with PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def _rand(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _traced_value(f, *args):
    """f(*args) computed with every argument traced (the recording path)."""
    out, _ = cr.vjp(f, *args)
    return out


# (id, chainrule function, NumPy function, operand shapes)
CASES = [
    # dot
    ("dot-0d-0d", cnp.dot, np.dot, [(), ()]),
    ("dot-0d-2d", cnp.dot, np.dot, [(), (3, 4)]),
    ("dot-2d-0d", cnp.dot, np.dot, [(3, 4), ()]),
    ("dot-1d-1d", cnp.dot, np.dot, [(4,), (4,)]),
    ("dot-2d-1d", cnp.dot, np.dot, [(3, 4), (4,)]),
    ("dot-1d-2d", cnp.dot, np.dot, [(3,), (3, 4)]),
    ("dot-2d-2d", cnp.dot, np.dot, [(3, 4), (4, 2)]),
    ("dot-3d-1d", cnp.dot, np.dot, [(2, 3, 4), (4,)]),
    ("dot-1d-3d", cnp.dot, np.dot, [(3,), (2, 3, 4)]),
    ("dot-3d-2d", cnp.dot, np.dot, [(2, 3, 4), (4, 5)]),
    ("dot-3d-3d", cnp.dot, np.dot, [(2, 3, 4), (5, 4, 2)]),
    ("dot-2d-4d", cnp.dot, np.dot, [(2, 3), (2, 1, 3, 2)]),
    # matmul
    ("matmul-1d-2d", cnp.matmul, np.matmul, [(3,), (3, 4)]),
    ("matmul-2d-1d", cnp.matmul, np.matmul, [(3, 4), (4,)]),
    ("matmul-1d-1d", cnp.matmul, np.matmul, [(4,), (4,)]),
    ("matmul-2d-2d", cnp.matmul, np.matmul, [(3, 4), (4, 2)]),
    ("matmul-batched-bcast", cnp.matmul, np.matmul, [(2, 1, 3, 4), (5, 4, 2)]),
    ("matmul-2d-3d", cnp.matmul, np.matmul, [(3, 4), (2, 4, 5)]),
    ("matmul-1d-3d", cnp.matmul, np.matmul, [(4,), (2, 4, 3)]),
    ("matmul-3d-1d", cnp.matmul, np.matmul, [(2, 3, 4), (4,)]),
    ("matmul-op", lambda a, b: a @ b, lambda a, b: a @ b, [(2, 1, 3, 4), (5, 4, 2)]),
    # vdot, inner, outer
    ("vdot-1d", cnp.vdot, np.vdot, [(5,), (5,)]),
    ("vdot-2d", cnp.vdot, np.vdot, [(2, 3), (3, 2)]),
    ("inner-1d", cnp.inner, np.inner, [(4,), (4,)]),
    ("inner-2d-2d", cnp.inner, np.inner, [(3, 4), (2, 4)]),
    ("inner-3d-1d", cnp.inner, np.inner, [(2, 3, 4), (4,)]),
    ("inner-0d-2d", cnp.inner, np.inner, [(), (2, 3)]),
    ("outer-1d", cnp.outer, np.outer, [(3,), (4,)]),
    ("outer-2d-1d", cnp.outer, np.outer, [(2, 2), (3,)]),
    # tensordot
    ("tensordot-0", lambda a, b: cnp.tensordot(a, b, 0),
     lambda a, b: np.tensordot(a, b, 0), [(2, 3), (4,)]),
    ("tensordot-1", lambda a, b: cnp.tensordot(a, b, 1),
     lambda a, b: np.tensordot(a, b, 1), [(2, 3), (3, 4)]),
    ("tensordot-2", lambda a, b: cnp.tensordot(a, b),
     lambda a, b: np.tensordot(a, b), [(2, 3, 4), (3, 4, 5)]),
    ("tensordot-lists", lambda a, b: cnp.tensordot(a, b, axes=([0, 2], [2, 0])),
     lambda a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), [(2, 3, 4), (4, 5, 2)]),
    ("tensordot-neg", lambda a, b: cnp.tensordot(a, b, axes=([-1], [0])),
     lambda a, b: np.tensordot(a, b, axes=([-1], [0])), [(2, 3), (3, 4)]),
    ("tensordot-ints", lambda a, b: cnp.tensordot(a, b, axes=(1, 0)),
     lambda a, b: np.tensordot(a, b, axes=(1, 0)), [(2, 3), (3, 4)]),
    # kron
    ("kron-2d-2d", cnp.kron, np.kron, [(2, 3), (3, 2)]),
    ("kron-1d-1d", cnp.kron, np.kron, [(2,), (3,)]),
    ("kron-1d-2d", cnp.kron, np.kron, [(2,), (2, 3)]),
    ("kron-3d-2d", cnp.kron, np.kron, [(2, 1, 2), (2, 3)]),
]  # fmt: skip

EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),  # explicit
    ("ij,jk", [(3, 4), (4, 2)]),  # implicit output
    ("ji", [(3, 4)]),  # implicit output: a transpose
    ("ij->ji", [(3, 4)]),
    ("i,i->", [(4,)]*2),
    ("i,j->ij", [(3,), (4,)]),
    ("ij,ij->ij", [(3, 4)]*2),
    ("ii->", [(4, 4)]),  # trace
    ("ii->i", [(4, 4)]),  # diagonal
    ("iji->j", [(3, 2, 3)]),  # repeated index, not adjacent
    ("ii,ij->j", [(3, 3), (3, 2)]),
    ("ij->i", [(3, 4)]),  # sum-only index
    ("ijk->", [(2, 3, 4)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),  # three operands
    ("i,i,i->", [(4,)]*3),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),  # ellipsis with broadcasting
    ("...ij,jk", [(2, 3, 4), (4, 5)]),  # ellipsis, implicit output
    ("i...j->j...i", [(2, 3, 4, 5)]),
    ("i...->...", [(3, 2, 4)]),
    ("...i,...i", [(3, 2), (3, 2)]),
]  # fmt: skip

for _sub, _shapes in EINSUM:
    CASES.append(
        (f"einsum[{_sub}]", (lambda s: lambda *ops: cnp.einsum(s, *ops))(_sub),
         (lambda s: lambda *ops: np.einsum(s, *ops))(_sub), _shapes)
    )  # fmt: skip

IDS = [c[0] for c in CASES]


def _args(shapes, dtype=np.float64):
    return tuple(_rand(s, 10 + k, dtype) for k, s in enumerate(shapes))


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_value_traced_matches_numpy(name, f, npf, shapes):
    args = _args(shapes)
    expected = npf(*args)
    got = _traced_value(f, *args)
    assert np.shape(got) == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_plain_arrays_pass_through(name, f, npf, shapes):
    args = _args(shapes)
    got = f(*args)
    assert isinstance(got, (np.ndarray, np.generic))
    np.testing.assert_array_equal(got, npf(*args))


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_check_grads_order2_float64(name, f, npf, shapes):
    check_grads(f, _args(shapes), order=2)


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_check_grads_order2_float32(name, f, npf, shapes):
    args = _args(shapes, np.float32)
    check_grads(f, args, order=2)


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_float32_stays_float32(name, f, npf, shapes):
    args = _args(shapes, np.float32)
    out, f_vjp = cr.vjp(f, *args)
    assert np.result_type(out) == np.float32
    cts = f_vjp(np.ones(np.shape(out), np.float32))
    for a, c in zip(args, cts):
        assert np.shape(c) == a.shape
        assert np.result_type(c) == np.float32
    np.testing.assert_allclose(out, npf(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,f,npf,shapes", CASES, ids=IDS)
def test_constant_operands(name, f, npf, shapes):
    """Differentiating in one operand, the others plain NumPy constants (not traced)."""
    args = _args(shapes)
    for k in range(len(args)):
        def g(x, k=k):
            full = list(args)
            full[k] = x
            return f(*full)

        np.testing.assert_allclose(_traced_value(g, args[k]), npf(*args), rtol=1e-12, atol=1e-12)
        check_grads(g, (args[k],), order=1)


# --- closed forms ----------------------------------------------------------------------------


def test_matmul_grad_closed_form_2d():
    A, B, W = _rand((3, 4), 0), _rand((4, 2), 1), _rand((3, 2), 2)
    gA, gB = cr.grad(lambda a, b: cnp.sum(W * (a @ b)), argnums=(0, 1))(A, B)
    np.testing.assert_allclose(gA, W @ B.T, rtol=1e-13)
    np.testing.assert_allclose(gB, A.T @ W, rtol=1e-13)


def test_matmul_grad_closed_form_batched_broadcast():
    A, B = _rand((2, 1, 3, 4), 0), _rand((5, 4, 2), 1)
    W = _rand((2, 5, 3, 2), 2)
    gA, gB = cr.grad(lambda a, b: cnp.sum(W * cnp.matmul(a, b)), argnums=(0, 1))(A, B)
    assert gA.shape == A.shape and gB.shape == B.shape
    # dL/dA[i,0] = sum_j W[i,j] @ B[j].T ; dL/dB[j] = sum_i A[i,0].T @ W[i,j]
    expA = np.einsum("ijab,jcb->iac", W, B)[:, None]
    expB = np.einsum("iac,ijab->jcb", A[:, 0], W)
    np.testing.assert_allclose(gA, expA, rtol=1e-12)
    np.testing.assert_allclose(gB, expB, rtol=1e-12)


def test_matmul_vector_cases_closed_form():
    v, M, u = _rand((3,), 0), _rand((3, 4), 1), _rand((4,), 2)
    # v @ M @ u is bilinear: gradient in v is M @ u, in u is M.T @ v, in M is outer(v, u)
    gv, gM, gu = cr.grad(lambda a, b, c: a @ b @ c, argnums=(0, 1, 2))(v, M, u)
    np.testing.assert_allclose(gv, M @ u, rtol=1e-13)
    np.testing.assert_allclose(gu, M.T @ v, rtol=1e-13)
    np.testing.assert_allclose(gM, np.outer(v, u), rtol=1e-13)


def test_ndarray_on_the_left_of_matmul_operator():
    """`ndarray @ tracer` goes through NumPy's __array_ufunc__ and stays differentiable."""
    M, x = _rand((2, 3), 0), _rand((3,), 1)
    g = cr.grad(lambda x: cnp.sum(M @ x))(x)
    np.testing.assert_allclose(g, M.sum(axis=0), rtol=1e-13)


def test_dot_scalar_operand_grad():
    A = _rand((3, 4), 0)
    g_s, g_A = cr.grad(lambda s, a: cnp.sum(cnp.dot(s, a) ** 2), argnums=(0, 1))(2.0, A)
    np.testing.assert_allclose(g_s, 2 * 2.0 * np.sum(A**2), rtol=1e-13)
    np.testing.assert_allclose(g_A, 2 * 4.0 * A, rtol=1e-13)


def test_einsum_trace_and_diag_closed_form():
    A = _rand((4, 4), 0)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.einsum("ii->", a))(A), np.eye(4))
    w = _rand((4,), 1)
    g = cr.grad(lambda a: cnp.sum(w * cnp.einsum("ii->i", a)))(A)
    np.testing.assert_allclose(g, np.diag(w))


def test_tensordot_grad_closed_form():
    A, B = _rand((2, 3, 4), 0), _rand((4, 3, 5), 1)
    W = _rand((2, 5), 2)
    f = lambda a, b: cnp.sum(W * cnp.tensordot(a, b, axes=([1, 2], [1, 0])))
    gA, gB = cr.grad(f, argnums=(0, 1))(A, B)
    np.testing.assert_allclose(gA, np.einsum("im,kjm->ijk", W, B), rtol=1e-12)
    np.testing.assert_allclose(gB, np.einsum("im,ijk->kjm", W, A), rtol=1e-12)


def test_kron_grad_closed_form():
    A, B = _rand((2, 3), 0), _rand((3, 2), 1)
    gA, gB = cr.grad(lambda a, b: cnp.sum(cnp.kron(a, b)), argnums=(0, 1))(A, B)
    np.testing.assert_allclose(gA, np.full(A.shape, B.sum()), rtol=1e-13)
    np.testing.assert_allclose(gB, np.full(B.shape, A.sum()), rtol=1e-13)


def test_outer_vdot_inner_grads_closed_form():
    a, b = _rand((3,), 0), _rand((4,), 1)
    W = _rand((3, 4), 2)
    ga, gb = cr.grad(lambda a, b: cnp.sum(W * cnp.outer(a, b)), argnums=(0, 1))(a, b)
    np.testing.assert_allclose(ga, W @ b, rtol=1e-13)
    np.testing.assert_allclose(gb, W.T @ a, rtol=1e-13)
    c = _rand((3,), 3)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.vdot(x, c))(a), c, rtol=1e-13)
    np.testing.assert_allclose(cr.grad(lambda x: cnp.inner(x, x))(a), 2 * a, rtol=1e-13)


@pytest.mark.parametrize(
    "sub,shapes",
    [("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
     ("ii->i", [(4, 4)]), ("ij->i", [(3, 4)])],
)  # fmt: skip
def test_einsum_grads_match_torch(sub, shapes):
    torch = pytest.importorskip("torch")
    args = _args(shapes)
    W = _rand(np.einsum(sub, *args).shape, 99)
    f = lambda *ops: cnp.sum(W * cnp.einsum(sub, *ops))
    got = cr.grad(f, argnums=tuple(range(len(args))))(*args)
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    (torch.tensor(W) * torch.einsum(sub, *ts)).sum().backward()
    for g, t in zip(got, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_matmul_batched_grads_match_torch():
    torch = pytest.importorskip("torch")
    A, B = _rand((2, 1, 3, 4), 0), _rand((5, 4, 2), 1)
    got = cr.grad(lambda a, b: cnp.sum(cnp.tanh(a @ b)), argnums=(0, 1))(A, B)
    ta, tb = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    torch.tanh(ta @ tb).sum().backward()
    np.testing.assert_allclose(got[0], ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1], tb.grad.numpy(), rtol=1e-12)


def test_products_accept_lists_of_traced_values():
    """`cnp.dot([x, 2x], [3, 4])`: array-likes holding traced values stay differentiable."""
    g = cr.grad(lambda x: cnp.dot([x, 2 * x], [3.0, 4.0]))(1.5)
    assert g == pytest.approx(11.0, rel=1e-14)
    g = cr.grad(lambda x: cnp.sum(cnp.outer([x, x**2], [1.0, 2.0])))(2.0)
    assert g == pytest.approx(3 * (1 + 2 * 2.0), rel=1e-14)


def test_matmul_shape_mismatch_is_a_clear_error():
    def f(a):
        return cnp.sum(a @ np.ones((3, 2)))

    with pytest.raises(ValueError, match="matmul"):
        cr.grad(f)(np.ones((2, 4)))


def test_same_primitive_with_different_operand_counts_in_one_session():
    """Recording einsum/concatenate with 1, then 2, then 3 operands (some constant) in a row:
    nothing recorded for one call may leak into the next."""
    A = _rand((3, 3), 0)
    B = _rand((3, 3), 1)
    np.testing.assert_allclose(cr.grad(lambda a: cnp.einsum("ii->", a))(A), np.eye(3))
    g = cr.grad(lambda a: cnp.sum(cnp.einsum("ij,jk->ik", a, B)))(A)
    np.testing.assert_allclose(g, np.outer(np.ones(3), B.sum(axis=1)), rtol=1e-13)
    g = cr.grad(lambda a: cnp.sum(cnp.einsum("ij,jk,kl->il", a, B, B)))(A)
    np.testing.assert_allclose(g, np.outer(np.ones(3), (B @ B).sum(axis=1)), rtol=1e-13)
    g = cr.grad(lambda a: cnp.sum(cnp.einsum("ij,jk->ik", a, B)))(A)
    np.testing.assert_allclose(g, np.outer(np.ones(3), B.sum(axis=1)), rtol=1e-13)
    v = np.arange(3.0)
    for k in (1, 2, 3, 1, 2):
        g = cr.grad(lambda x, k=k: cnp.sum(cnp.concatenate([x] + [v] * (k - 1)) ** 2))(v + 1)
        np.testing.assert_allclose(g, 2 * (v + 1))
