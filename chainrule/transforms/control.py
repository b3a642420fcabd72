"""Control flow that every transformation understands: `cond` (more comes with `jit`).

>>> import chainrule as cr
>>> cr.cond(2.0 > 1.0, lambda x: x * 2, lambda x: -x, 3.0)
6.0
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from chainrule.core import ops as cnp
from chainrule.core.errors import ConcretizationError
from chainrule.core.pytree import tree_flatten, tree_unflatten


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`.

    Where `pred` has a value (eagerly, under grad and jvp) only the chosen branch runs. Where
    it is known only abstractly, or differs between the examples of a `vmap`, both branches
    run and each output element is selected with `where` (both branches must then return the
    same structure, shapes and dtypes).

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: cr.cond(x > 0, lambda v: v, lambda v: -v, x))(np.array([-1.0, 2.0]))
    array([1., 2.])
    """
    try:
        chosen = bool(pred)
    except ConcretizationError:
        t_leaves, t_tree = tree_flatten(true_fun(*operands))
        f_leaves, f_tree = tree_flatten(false_fun(*operands))
        if t_tree != f_tree:
            raise TypeError(
                f"cond: the branches return different structures: {t_tree} and {f_tree}"
            ) from None
        return tree_unflatten(t_tree, [cnp.where(pred, a, b) for a, b in zip(t_leaves, f_leaves)])
    return true_fun(*operands) if chosen else false_fun(*operands)
