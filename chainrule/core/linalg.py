"""`numpy.linalg`, differentiable: inv, det, slogdet, solve, cholesky, eigh, eigvalsh, svd, qr,
norm, pinv, matrix_power, multi_dot. Batched over leading axes as NumPy is. (The core's linear
algebra functions: the rules are written with them; ``chainrule.numpy.linalg`` exports them.)

Decompositions take NumPy's values: `eigh` and `cholesky` read one triangle. Their gradients
are given for symmetric perturbations (symmetrised), as JAX's, so on a non-symmetric input
they are those of the symmetric matrix it stands for, not of the triangle read (JAX
symmetrises the input's values too); `svd` and `eigh` gradients are defined where the
singular values / eigenvalues are distinct; `qr` needs m >= n.
"""

from __future__ import annotations

import builtins

import numpy as np
from numpy.linalg._linalg import EigResult, EighResult, QRResult, SlogdetResult, SVDResult

from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.ops import _lift, _traced
from chainrule.core.trace import Tracer, bind, boxing

LinAlgError = np.linalg.LinAlgError


def _square(a, name: str):
    a = _lift(a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(
            f"{name}: last 2 dimensions of the array must be square, got shape {a.shape}"
        )
    return a


def inv(a):
    """`numpy.linalg.inv`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.inv(2 * np.eye(2))
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    if not _traced(a):
        return np.linalg.inv(a)
    return bind(P.inv_p, _square(a, "inv"))


def det(a):
    """`numpy.linalg.det`.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.linalg.det)(2 * np.eye(2))
    array([[2., 0.],
           [0., 2.]])
    """
    if not _traced(a):
        return np.linalg.det(a)
    return bind(P.det_p, _square(a, "det"))


def slogdet(a):
    """`numpy.linalg.slogdet` -> (sign, logabsdet); the sign carries no gradient.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> sign, logdet = cnp.linalg.slogdet(np.eye(2))
    >>> float(sign), float(logdet)
    (1.0, 0.0)
    """
    if not _traced(a):
        return np.linalg.slogdet(a)
    sign, logdet = bind(P.slogdet_p, _square(a, "slogdet"))
    return SlogdetResult(bind(P.stop_gradient_p, sign), logdet)


def solve(a, b):
    """`numpy.linalg.solve` (b is a vector when 1-d, as in NumPy 2).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.solve(2 * np.eye(2), np.ones(2))
    array([0.5, 0.5])
    """
    if not _traced(a, b):
        return np.linalg.solve(a, b)
    return bind(P.solve_p, _square(a, "solve"), _lift(b))


def cholesky(a, upper=False):
    """`numpy.linalg.cholesky` (lower factor; `upper=True` for its transpose).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.cholesky(4 * np.eye(2))
    array([[2., 0.],
           [0., 2.]])
    """
    if not _traced(a):
        return np.linalg.cholesky(a, upper=upper) if upper else np.linalg.cholesky(a)
    L = bind(P.cholesky_p, _square(a, "cholesky"))
    return cnp.swapaxes(cnp.conj(L), -1, -2) if upper else L


def eigh(a, UPLO="L"):
    """`numpy.linalg.eigh` -> (eigenvalues, eigenvectors).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.eigh(np.diag([2.0, 1.0]))[0]
    array([1., 2.])
    """
    if not _traced(a):
        return np.linalg.eigh(a, UPLO)
    return EighResult(*bind(P.eigh_p, _square(a, "eigh"), UPLO=UPLO))


def eigvalsh(a, UPLO="L"):
    """`numpy.linalg.eigvalsh`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.eigvalsh(np.diag([2.0, 1.0]))
    array([1., 2.])
    """
    if not _traced(a):
        return np.linalg.eigvalsh(a, UPLO)
    return eigh(a, UPLO)[0]


def eig(a):
    """`numpy.linalg.eig` -> (eigenvalues, eigenvectors of unit norm). On traced values both
    are always complex (NumPy gives real arrays when every eigenvalue is real: the same
    values); the eigenvectors' phases are NumPy's, their derivatives keep the unit norm, so
    differentiate losses that do not depend on the phases.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> A = np.array([[2.0, 1.0], [0.0, 3.0]])
    >>> np.round(cr.grad(lambda a: cnp.sum(cnp.real(cnp.linalg.eig(a)[0] ** 2)))(A), 12)
    array([[4., 0.],
           [2., 6.]])
    """
    if not _traced(a):
        return np.linalg.eig(a)
    return EigResult(*bind(P.eig_p, _square(a, "eig")))


def eigvals(a):
    """`numpy.linalg.eigvals` (complex on traced values; see `eig`).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.eigvals(np.diag([2.0, 1.0]))
    array([2., 1.])
    """
    if not _traced(a):
        return np.linalg.eigvals(a)
    return eig(a)[0]


def svdvals(x, /):
    """`numpy.linalg.svdvals`: the singular values.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.svdvals(np.diag([3.0, 4.0]))
    array([4., 3.])
    """
    if not _traced(x):
        return np.linalg.svdvals(x)
    return svd(x, compute_uv=False)


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """`numpy.linalg.svd`. Traced values need `full_matrices=False` (the reduced SVD) unless
    only the singular values are asked for.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.svd(np.diag([3.0, 2.0]), compute_uv=False)
    array([3., 2.])
    """
    if not _traced(a):
        return np.linalg.svd(a, full_matrices, compute_uv, hermitian)
    a = _lift(a)
    if a.ndim < 2:
        raise np.linalg.LinAlgError(f"svd: needs at least 2 dimensions, got shape {a.shape}")
    u, s, vh = bind(P.svd_p, a)
    if not compute_uv:
        return s
    if full_matrices and a.shape[-1] != a.shape[-2]:
        raise NotImplementedError(
            "chainrule.numpy.linalg.svd: full_matrices=True on a non-square traced matrix "
            "(its extra columns have no defined gradient); pass full_matrices=False"
        )
    return SVDResult(u, s, vh)


def qr(a, mode="reduced"):
    """`numpy.linalg.qr` (reduced mode; traced values need m >= n).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> q, r = cnp.linalg.qr(np.eye(2))
    >>> r.shape
    (2, 2)
    """
    if not _traced(a):
        return np.linalg.qr(a, mode)
    a = _lift(a)
    if mode not in ("reduced", "r"):
        raise NotImplementedError(f"chainrule.numpy.linalg.qr: mode={mode!r} on traced values")
    if a.ndim < 2 or a.shape[-2] < a.shape[-1]:
        raise NotImplementedError(
            f"chainrule.numpy.linalg.qr: traced matrices need m >= n, got shape {a.shape}"
        )
    q, r = bind(P.qr_p, a)
    return r if mode == "r" else QRResult(q, r)


def norm(x, ord=None, axis=None, keepdims=False):
    """`numpy.linalg.norm`: vector norms (any p, inf, -inf, 0) and matrix norms ('fro',
    'nuc', 1, -1, 2, -2, inf, -inf). The 2-norm's gradient at 0 is 0 (a subgradient).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.grad(cnp.linalg.norm)(np.array([3.0, 4.0]))
    array([0.6, 0.8])
    """
    if not _traced(x):
        return np.linalg.norm(x, ord, axis, keepdims)
    x = _lift(x)
    if axis is None:
        if ord is None:
            return _two_norm(x, None, keepdims)
        axis = tuple(range(x.ndim)) if x.ndim <= 2 else None
        if axis is None:
            raise ValueError("norm: improper number of dimensions to norm")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    axes = tuple(a % x.ndim for a in axes)
    a = cnp.abs(x)
    if len(axes) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
        if ord is None or ord == 2:
            return _two_norm(x, axes, keepdims)
        if ord == np.inf:
            return cnp.max(a, axis=axes, keepdims=keepdims)
        if ord == -np.inf:
            return cnp.min(a, axis=axes, keepdims=keepdims)
        if ord == 0:
            return cnp.sum(cnp.astype(x != 0, x.real.dtype), axis=axes, keepdims=keepdims)
        if ord == 1:
            return cnp.sum(a, axis=axes, keepdims=keepdims)
        # (cnp.power, not **: NumPy's pow() also on Tensors, whose a ** 3 is PyTorch's)
        return cnp.power(cnp.sum(cnp.power(a, ord), axis=axes, keepdims=keepdims), 1.0 / ord)
    if len(axes) != 2:
        raise ValueError("norm: improper number of dimensions to norm")
    r, c = axes
    if ord is None or ord == "fro":
        return _two_norm(x, axes, keepdims)
    if ord in (2, -2, "nuc"):
        moved = cnp.moveaxis(x, (r, c), (-2, -1))
        s = svd(moved, compute_uv=False)
        res = cnp.sum(s, -1) if ord == "nuc" else (cnp.max if ord == 2 else cnp.min)(s, axis=-1)
    elif ord in (1, -1):
        cs = cnp.sum(a, axis=r, keepdims=True)
        res = (cnp.max if ord == 1 else cnp.min)(cs, axis=c, keepdims=True)
        res = cnp.squeeze(res, axis=(r, c))
    elif ord in (np.inf, -np.inf):
        rs = cnp.sum(a, axis=c, keepdims=True)
        res = (cnp.max if ord == np.inf else cnp.min)(rs, axis=r, keepdims=True)
        res = cnp.squeeze(res, axis=(r, c))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        shape = [1 if i in axes else s for i, s in enumerate(x.shape)]
        res = cnp.reshape(res, tuple(shape))
    return res


def _two_norm(x, axes, keepdims):
    sq = cnp.real(x * cnp.conj(x)) if x.dtype.kind == "c" else x * x
    s = cnp.sum(sq, axis=axes, keepdims=keepdims)
    # sqrt with a zero-safe gradient: where s == 0 the norm's subgradient 0 is used.
    zero = s == 0
    safe = cnp.where(zero, 1.0, s)
    return cnp.where(zero, 0.0, cnp.sqrt(safe))


def pinv(a, rcond=None, hermitian=False):
    """`numpy.linalg.pinv`, through the reduced SVD (differentiable where the rank is
    constant and singular values are distinct).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.pinv(2 * np.eye(2))
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    if not _traced(a):
        return np.linalg.pinv(a, rcond=1e-15 if rcond is None else rcond, hermitian=hermitian)
    a = _lift(a)
    u, s, vh = svd(a, full_matrices=False)
    if rcond is None:
        rcond = builtins.max(a.shape[-2:]) * np.finfo(a.dtype).eps
    smax = cnp.max(s, axis=-1, keepdims=True)
    keep = s > rcond * smax
    sinv = cnp.where(keep, 1.0 / cnp.where(keep, s, 1.0), 0.0)
    return cnp.matmul(cnp.swapaxes(cnp.conj(vh), -1, -2) * sinv[..., None, :],
                      cnp.swapaxes(cnp.conj(u), -1, -2))  # fmt: skip


def matrix_power(a, n):
    """`numpy.linalg.matrix_power` (by repeated squaring; negative n through `inv`).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.matrix_power(2 * np.eye(2), 3)[0, 0]
    np.float64(8.0)
    """
    if not _traced(a):
        return np.linalg.matrix_power(a, n)
    a = _square(a, "matrix_power")
    if n < 0:
        a, n = inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else cnp.matmul(result, a)
        n >>= 1
        if n:
            a = cnp.matmul(a, a)
    if result is None:  # n = 0: the identities, traced (their derivative is 0)
        return cnp._recorded_constant(a, np.eye(a.shape[-1], dtype=a.dtype))
    return result


def multi_dot(arrays):
    """`numpy.linalg.multi_dot` (left to right).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.multi_dot([np.eye(2), np.ones((2, 1))]).shape
    (2, 1)
    """
    if not _traced(arrays):
        return np.linalg.multi_dot(arrays)
    out = arrays[0]
    for b in arrays[1:]:
        out = cnp.dot(out, b)
    return out


def matrix_rank(A, tol=None, hermitian=False):
    """`numpy.linalg.matrix_rank` (integer: no gradient).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> int(cnp.linalg.matrix_rank(np.eye(3)))
    3
    """
    return np.linalg.matrix_rank(_concrete(_lift(A)), tol, hermitian)


def _concrete(x):
    while isinstance(x, Tracer):
        x = x._trace.concrete(x, "matrix_rank (an integer)")
    return x


def lstsq(a, b, rcond=None):
    """`numpy.linalg.lstsq` -> (x, residuals, rank, s): the least-squares solution through
    the pseudo-inverse (differentiable where the rank is constant; NumPy's LAPACK path may
    differ in the last digits); rank carries no gradient.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> np.round(cnp.linalg.lstsq(A, np.array([1.0, 2.0, 3.0]))[0], 12)
    array([1., 2.])
    """
    if not _traced(a, b):
        return np.linalg.lstsq(a, b, rcond=rcond)
    a, b = _lift(a), _lift(b)
    m, n = a.shape[-2:]
    s = svd(a, compute_uv=False)
    if rcond is None:
        rcond = np.finfo(a.dtype if a.dtype.kind in "fc" else np.float64).eps * max(m, n)
    rank = int(np.sum(_concrete(s) > rcond * np.max(_concrete(s))))
    x = cnp.matmul(pinv(a, rcond=rcond), b)
    if rank == n and m > n:
        r = b - cnp.matmul(a, x)
        residuals = cnp.sum(cnp.abs(r) ** 2, axis=0)
        residuals = residuals if b.ndim > 1 else cnp.reshape(residuals, (1,))
    else:
        residuals = np.empty((0,), s.dtype)
    return x, residuals, rank, s


def tensorinv(a, ind=2):
    """`numpy.linalg.tensorinv`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.tensorinv(np.eye(4).reshape(4, 2, 2), ind=1).shape
    (2, 2, 4)
    """
    if not _traced(a):
        return np.linalg.tensorinv(a, ind)
    a = _lift(a)
    old = a.shape
    prod = int(np.prod(old[:ind]))
    return cnp.reshape(inv(cnp.reshape(a, (prod, -1))), old[ind:] + old[:ind])


def tensorsolve(a, b, axes=None):
    """`numpy.linalg.tensorsolve`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.tensorsolve(np.eye(6).reshape(2, 3, 6), np.ones((2, 3))).shape
    (6,)
    """
    if not _traced(a, b):
        return np.linalg.tensorsolve(a, b, axes)
    a, b = _lift(a), _lift(b)
    if axes is not None:
        allaxes = list(range(a.ndim))
        for k in axes:
            allaxes.remove(k)
            allaxes.insert(a.ndim, k)
        a = cnp.transpose(a, allaxes)
    oldshape = a.shape[-(a.ndim - b.ndim):]
    prod = int(np.prod(oldshape))
    x = solve(cnp.reshape(a, (-1, prod)), cnp.ravel(b))
    return cnp.reshape(x, oldshape)


def cond(x, p=None):
    """`numpy.linalg.cond`: s_max/s_min for p None or ±2, else norm(x, p) norm(inv(x), p).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> float(cnp.linalg.cond(np.diag([1.0, 4.0])))
    4.0
    """
    if not _traced(x):
        return np.linalg.cond(x, p)
    x = _lift(x)
    if p is None or p in (2, -2):
        s = svd(x, compute_uv=False)
        r = s[..., 0] / s[..., -1]
        return 1 / r if p == -2 else r
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """`numpy.linalg.matrix_norm` (the last two axes).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> float(cnp.linalg.matrix_norm(np.eye(2)))
    1.4142135623730951
    """
    if not _traced(x):
        return np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """`numpy.linalg.vector_norm` (all elements by default).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> float(cnp.linalg.vector_norm(np.ones((2, 2))))
    2.0
    """
    if not _traced(x):
        return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    x = _lift(x)
    if axis is None:
        flat = cnp.ravel(x)
        out = norm(flat, ord)
        return cnp.reshape(out, (1,) * x.ndim) if keepdims else out
    if isinstance(axis, tuple) and len(axis) > 1:  # several axes: flatten them together
        axes = tuple(a % x.ndim for a in axis)
        rest = [i for i in range(x.ndim) if i not in axes]
        moved = cnp.reshape(cnp.transpose(x, rest + list(axes)),
                            tuple(x.shape[i] for i in rest) + (-1,))  # fmt: skip
        out = norm(moved, ord, axis=-1)
        if keepdims:
            out = cnp.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
        return out
    return norm(x, ord, axis=axis, keepdims=keepdims)


def matmul(x1, x2, /):
    """`numpy.linalg.matmul` (as `numpy.matmul`).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.matmul(np.eye(2), np.ones(2))
    array([1., 1.])
    """
    return cnp.matmul(x1, x2)


def matrix_transpose(x, /):
    """`numpy.linalg.matrix_transpose`: the last two axes swapped.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.matrix_transpose(np.ones((2, 3))).shape
    (3, 2)
    """
    return cnp.swapaxes(x, -1, -2) if _traced(x) else np.linalg.matrix_transpose(x)


def diagonal(x, /, *, offset=0):
    """`numpy.linalg.diagonal`: the diagonal of the last two axes.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.diagonal(np.eye(2))
    array([1., 1.])
    """
    if not _traced(x):
        return np.linalg.diagonal(x, offset=offset)
    return cnp.diagonal(x, offset, -2, -1)


def trace(x, /, *, offset=0, dtype=None):
    """`numpy.linalg.trace`: over the last two axes.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> float(cnp.linalg.trace(np.eye(3)))
    3.0
    """
    if not _traced(x):
        return np.linalg.trace(x, offset=offset, dtype=dtype)
    return cnp.trace(x, offset, -2, -1, dtype=dtype)


def outer(x1, x2, /):
    """`numpy.linalg.outer` (1-d operands).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.outer(np.ones(2), np.ones(3)).shape
    (2, 3)
    """
    return cnp.outer(x1, x2) if _traced(x1, x2) else np.linalg.outer(x1, x2)


def vecdot(x1, x2, /, *, axis=-1):
    """`numpy.linalg.vecdot`: sum(conj(x1) * x2) along `axis`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> float(cnp.linalg.vecdot(np.ones(3), np.ones(3)))
    3.0
    """
    if not _traced(x1, x2):
        return np.linalg.vecdot(x1, x2, axis=axis)
    return cnp.sum(cnp.conj(_lift(x1)) * _lift(x2), axis=axis)


def cross(x1, x2, /, *, axis=-1):
    """`numpy.linalg.cross` (3-element vectors).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.linalg.cross(np.array([1.0, 0, 0]), np.array([0.0, 1, 0]))
    array([0., 0., 1.])
    """
    if not _traced(x1, x2):
        return np.linalg.cross(x1, x2, axis=axis)
    a = cnp.moveaxis(_lift(x1), axis, -1)
    b = cnp.moveaxis(_lift(x2), axis, -1)
    c = cnp.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1],
                   a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                   a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)  # fmt: skip
    return cnp.moveaxis(c, -1, axis)


# The compositions that read NumPy dtypes or values compute with another namespace's
# primitives when called on its arrays (eagerly, as they do inside a transformation).
norm, pinv, lstsq, matrix_norm, vector_norm = (
    boxing(f, f"chainrule.numpy.linalg.{f.__name__}")
    for f in (norm, pinv, lstsq, matrix_norm, vector_norm))  # fmt: skip
