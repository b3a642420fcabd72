"""Jacobians and Hessians, built on vmap: `jacrev` pulls back every row of the identity at
once (vmap of the VJP), `jacfwd` pushes forward every column (vmap of the JVP), `hessian` is
forward over reverse, and `hvp` a Hessian-vector product without the Hessian.

Shapes follow JAX: the Jacobian of an output of shape S with respect to an input of shape T
has shape S + T (pytrees of outputs and inputs give pytrees of such blocks).
"""

from __future__ import annotations

import functools
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core.namespace import dtype_of, find
from chainrule.core.trace import leave_tree
from chainrule.core.pytree import tree_flatten, tree_map, tree_unflatten
from chainrule.transforms.batching import vmap
from chainrule.transforms.forward import jvp
from chainrule.transforms.reverse import (
    _argnums, _check_argnums, check_float, check_leaves, scalar, trace_vjp, value_and_grad,
)  # fmt: skip


def _dtype(x: Any) -> np.dtype:
    return dtype_of(x)


def _basis(leaves: list, dtype_of: Callable) -> list:
    """For each leaf, the rows of the identity over all leaves' elements that belong to it:
    leaf k gets shape (total, *shape_k)."""
    sizes = [int(np.prod(np.shape(x))) for x in leaves]
    total = sum(sizes)
    out, start = [], 0
    for x, n in zip(leaves, sizes):
        b = np.zeros((total, n), dtype_of(x))
        b[np.arange(start, start + n), np.arange(n)] = 1
        out.append(b.reshape((total, *np.shape(x))))
        start += n
    return out


def _check_holomorphic(leaves: list, holomorphic: bool, what: str, side: str) -> None:
    """JAX's rules: holomorphic=True needs complex `side` ('inputs' or 'outputs'); without
    it, complex outputs of jacrev (and complex inputs of jacfwd) are refused."""
    for x in leaves:
        kind = _dtype(x).kind
        if holomorphic and kind != "c":
            raise TypeError(f"{what} with holomorphic=True requires {side} with complex dtype, "
                            f"but got {_dtype(x)}")  # fmt: skip
        if not holomorphic and kind == "c":
            raise TypeError(
                f"{what} requires real-valued {side} (dtype {_dtype(x)}); for holomorphic "
                "functions pass holomorphic=True"
            )


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:  # fmt: skip
    """The Jacobian by reverse mode: all the VJPs with the rows of the identity, batched by
    vmap. Shape: out.shape + in.shape.

    >>> import numpy as np, chainrule as cr
    >>> cr.jacrev(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    nums, single = _argnums(argnums)

    def jac(*args: Any, **kwargs: Any) -> Any:
        f = (lambda *a: fun(*a, **kwargs)) if kwargs else fun
        _check_argnums(argnums, len(args), "jacrev")
        ns = find(tree_flatten(args)[0], "jacrev")  # another namespace's arrays
        nums_ = tuple(n % len(args) for n in nums)
        if holomorphic:
            _check_holomorphic([x for i in nums_ for x in tree_flatten(args[i])[0]], True,
                               "jacrev", "inputs")  # fmt: skip
        out, pullback, aux, _ = trace_vjp(f, args, nums_, has_aux, "jacrev",
                                          protect_leaves=True)  # fmt: skip
        out_leaves, out_tree = tree_flatten(out)
        _check_holomorphic(out_leaves, holomorphic, "jacrev", "outputs")
        sizes = [int(np.prod(np.shape(o))) for o in out_leaves]
        total = sum(sizes)
        if total == 1:  # one row: no need to batch
            rows = pullback(tree_unflatten(out_tree, [np.ones(np.shape(o), _dtype(o))
                                                      for o in out_leaves]))  # fmt: skip
            rows = tree_map(lambda r: cnp.reshape(r, (1, *np.shape(r))), rows)
        else:
            basis = _basis(out_leaves, _dtype)
            rows = vmap(lambda *b: pullback(tree_unflatten(out_tree, list(b))))(*basis)
        per_arg = []
        for a, r in zip(nums_, rows):
            in_leaves, in_tree = tree_flatten(args[a])
            r_leaves = tree_flatten(r)[0]
            blocks_per_out = []
            start = 0
            for o, n in zip(out_leaves, sizes):
                blocks = [cnp.reshape(rl[start:start + n, ...], np.shape(o) + np.shape(x))
                          for rl, x in zip(r_leaves, in_leaves)]  # fmt: skip
                blocks_per_out.append(tree_unflatten(in_tree, [scalar(b) for b in blocks]))
                start += n
            per_arg.append(blocks_per_out)
        res = leave_tree(tree_unflatten(out_tree, [
            per_arg[0][k] if single else tuple(p[k] for p in per_arg)
            for k in range(len(out_leaves))
        ]), ns)  # fmt: skip
        return (res, leave_tree(aux, ns)) if has_aux else res

    jac.__name__ = f"jacrev({getattr(fun, '__name__', 'f')})"
    return jac


jacobian = jacrev


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False) -> Callable:  # fmt: skip
    """The Jacobian by forward mode: all the JVPs with the columns of the identity, batched
    by vmap. Shape: out.shape + in.shape (as `jacrev`).

    >>> import numpy as np, chainrule as cr
    >>> cr.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    nums, single = _argnums(argnums)

    def jac(*args: Any, **kwargs: Any) -> Any:
        _check_argnums(argnums, len(args), "jacfwd")
        ns = find(tree_flatten(args)[0], "jacfwd")  # another namespace's arrays
        nums_ = tuple(n % len(args) for n in nums)
        dyn = [args[i] for i in nums_]
        leaves, tree = tree_flatten(dyn)
        leaves = [check_float(x, fun, nums_[0], "jacfwd") for x in leaves]
        _check_holomorphic(leaves, holomorphic, "jacfwd", "inputs")

        def f_dyn(*xs):
            full = list(args)
            for i, d in zip(nums_, tree_unflatten(tree, list(xs))):
                full[i] = d
            out = fun(*full, **kwargs)
            return out if has_aux else (out, None)

        def push(*ts):
            (out, aux), (t, _) = jvp(f_dyn, tuple(leaves), tuple(ts))
            return out, t, aux

        basis = _basis(leaves, _dtype)
        out, tans, aux = vmap(push, out_axes=(None, 0, None))(*basis)
        out_leaves, out_tree = tree_flatten(out)
        t_leaves = tree_flatten(tans)[0]
        per_out = []
        for o, t in zip(out_leaves, t_leaves):
            t = cnp.moveaxis(t, 0, -1) if np.ndim(t) > 1 else t  # (*out, total)
            blocks, start = [], 0
            for x in leaves:
                n = int(np.prod(np.shape(x)))
                blk = cnp.reshape(t[..., start:start + n], np.shape(o) + np.shape(x))
                blocks.append(scalar(blk))
                start += n
            per_arg = tree_unflatten(tree, blocks)
            per_out.append(per_arg[0] if single else tuple(per_arg))
        res = leave_tree(tree_unflatten(out_tree, per_out), ns)
        return (res, leave_tree(aux, ns)) if has_aux else res

    jac.__name__ = f"jacfwd({getattr(fun, '__name__', 'f')})"
    return jac


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False) -> Callable:  # fmt: skip
    """The Hessian of a scalar-valued `fun`: forward over reverse (`jacfwd(jacrev(fun))`).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.hessian(lambda x: cnp.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    h = jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

    @functools.wraps(fun)
    def hess(*args: Any, **kwargs: Any) -> Any:
        for i in nums:  # its errors name hessian and the caller's argument, not jacrev's
            if -len(args) <= i < len(args):
                check_leaves(args[i], fun, i % len(args), "hessian")
        return h(*args, **kwargs)

    return hess


def hvp(fun: Callable, primals: Sequence, tangents: Sequence) -> Any:
    """The Hessian-vector product H·v of a scalar `fun` at `primals`, without forming H
    (forward over reverse: memory and time of a few gradients).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cr.hvp(lambda x: cnp.sum(x ** 3), (np.array([1.0, 2.0]),), (np.array([1.0, 0.0]),))
    array([6., 0.])
    """
    primals, tangents = tuple(primals), tuple(tangents)
    nums = tuple(range(len(primals)))
    g = value_and_grad(fun, nums)
    _, out = jvp(lambda *a: g(*a)[1], primals, tangents)
    return out[0] if len(primals) == 1 else out

