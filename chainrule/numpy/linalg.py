"""`chainrule.numpy.linalg`: `numpy.linalg`, differentiable (see `chainrule.core.linalg`).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(cnp.linalg.det)(2 * np.eye(2))
array([[2., 0.],
       [0., 2.]])
"""

import numpy as _np

from chainrule.core.linalg import (  # noqa: F401
    LinAlgError, cholesky, cond, cross, det, diagonal, eig, eigh, eigvals, eigvalsh, inv, lstsq,
    matmul, matrix_norm, matrix_power, matrix_rank, matrix_transpose, multi_dot, norm, outer,
    pinv, qr, slogdet, solve, svd, svdvals, tensorinv, tensorsolve, trace, vecdot, vector_norm,
)
from chainrule.core.ops import _traced
from chainrule.core.ops import tensordot  # noqa: F401  (numpy.linalg.tensordot is numpy's)


def __getattr__(name: str):
    if hasattr(_np.linalg, name):
        fn = getattr(_np.linalg, name)

        def unsupported(*args, **kwargs):
            if _traced(args) or _traced(list(kwargs.values())):
                raise NotImplementedError(
                    f"chainrule.numpy.linalg.{name} is not differentiable yet; "
                    f"numpy.linalg.{name} on plain arrays works as usual"
                )
            return fn(*args, **kwargs)

        unsupported.__name__ = name
        return unsupported
    raise AttributeError(f"module 'chainrule.numpy.linalg' has no attribute {name!r}")
