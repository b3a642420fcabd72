"""`linear_transpose`: the transpose of a linear function, by staging it and running its
equations backwards with the transposition rules (``rules/transpose.py``).

>>> import numpy as np, chainrule as cr
>>> f_t = cr.linear_transpose(lambda x: 2.0 * x[::2], np.zeros(4))
>>> f_t(np.array([1.0, 1.0]))
(array([2., 0., 2., 0.]),)
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.core.trace import bind_with
from chainrule.rules.transpose import LINEAR_IN, transpose_rules
from chainrule.transforms.reverse import fit, scalar
from chainrule.core.ir import Var, read
from chainrule.transforms.staging import _abstract, stage


def linear_transpose(fun: Callable, *primals: Any) -> Callable:
    """The transpose of the linear function `fun` at the shapes and dtypes of `primals`:
    ``f_t(ct)`` returns ``Jᵀ ct`` as a tuple with one entry per primal (as JAX).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.linear_transpose(lambda x: A @ x, np.zeros(2))(np.array([1.0, 0.0]))
    (array([1., 2.]),)
    """
    leaves, in_tree = tree_flatten(primals)
    avals = [_abstract(x) for x in leaves]
    program, out_tree = stage(lambda *xs: fun(*tree_unflatten(in_tree, list(xs))), avals,
                              "linear_transpose")  # fmt: skip

    def f_transpose(out_ct: Any) -> tuple:
        ct_leaves, ct_tree = tree_flatten(out_ct)
        if ct_tree != out_tree:
            raise TypeError(f"linear_transpose: cotangent structure {ct_tree}, expected "
                            f"{out_tree}")  # fmt: skip
        linear = set(program.invars)
        env: dict = dict(zip(program.constvars, program.consts))
        lin_eqns = []
        for e in program.eqns:  # constants forward, linear equations kept for the way back
            if any(isinstance(v, Var) and v in linear for v in e.invars):
                lin_eqns.append(e)
                linear.update(e.outvars)
            else:
                ins = tuple(read(env, v) for v in e.invars)
                out = bind_with(e.prim, ins, e.params)
                env.update(zip(e.outvars, out if e.prim.multiple_results else (out,)))
        cts: dict = {}
        for v, c in zip(program.outvars, ct_leaves):
            if isinstance(v, Var) and v in linear:
                cts[v] = c if v not in cts else cts[v] + c
        for e in reversed(lin_eqns):
            if e.prim.multiple_results:
                if any(v in cts for v in e.outvars):
                    raise NotImplementedError(f"linear_transpose: no transposition rule for "
                                              f"{e.prim} (several results)")  # fmt: skip
                continue
            if e.outvars[0] not in cts:
                continue
            ct = cts.pop(e.outvars[0])
            idx = tuple(i for i, v in enumerate(e.invars) if isinstance(v, Var) and v in linear)
            which = LINEAR_IN.get(e.prim)
            if which is None or (which == "one" and len(idx) != 1) or (
                isinstance(which, tuple) and not set(idx) <= set(which)
            ) or (isinstance(which, tuple) and len(idx) > 1 and not e.prim.linear):
                raise TypeError(f"linear_transpose: the function is not linear in its inputs "
                                f"(it applies {e.prim} to them)")  # fmt: skip
            operands = [v.aval if (isinstance(v, Var) and v in linear) else read(env, v)
                        for v in e.invars]  # fmt: skip
            for i, c in zip(idx, transpose_rules[e.prim](ct, *operands, linear=idx, **e.params)):
                v = e.invars[i]
                c = fit(c, v.aval)
                cts[v] = c if v not in cts else cts[v] + c
        res = [scalar(cts[v]) if v in cts else np.zeros(v.aval.shape, v.aval.dtype)
               for v in program.invars]  # fmt: skip
        return tuple(tree_unflatten(in_tree, res))

    return f_transpose
