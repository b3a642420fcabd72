"""vmap: the batching trace, named axes and collectives.

A `BatchTracer` carries a value with one extra dimension, `bdim`, along which the examples
lie. Each primitive is processed by its batching rule (``rules/batching.py``), which computes
the whole batch at once. A named vmap (`axis_name`) registers its axis so that `psum`, `pmean`,
`pmax`, `all_gather` and `axis_index` inside it reduce or gather along the examples
(``core/axes.py``; the distributed module adds an axis that spans processes).

Derivatives of collectives follow JAX: a collective is a bulk operation on the named axis,
so ``psum``'s transpose is ``psum`` (the gradient of one example's output with respect to
every example's input is summed over the axis), ``pmean``'s is ``pmean``, ``all_gather``'s is
``psum`` followed by taking this example's slice, and ``pmax`` sends the cotangent to the
examples that hold the maximum (shared evenly between ties).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

import numpy as np

from chainrule.core import axes
from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.errors import concretization_error
from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.core import namespace
from chainrule.core.trace import (
    Primitive, Trace, Tracer, bind, bind_with, box, end_trace, is_plain, leave,
    namespace_constants, new_trace,
)  # fmt: skip
from chainrule.core.avals import aval_of
from chainrule.rules.batching import batch_rules
from chainrule.rules import random as _random
from chainrule.rules.shape import shape_rules

#: primitives whose batching is their own (they carry functions): handler(trace, args, params)
process_rules: dict[Primitive, Callable] = {}


class BatchTracer(Tracer):
    """A batch of values: `val` with the examples along dimension `bdim`."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace: BatchTrace, val: Any, bdim: int):
        self._trace = trace
        self.val = val
        self.bdim = bdim

    def _below(self) -> Any:
        return self.val

    @property
    def aval(self) -> ShapeDtypeStruct:
        v = self.val
        s = list(np.shape(v))
        del s[self.bdim]
        return ShapeDtypeStruct(s, v.dtype)

    @property
    def shape(self) -> tuple:
        s = self.val.shape
        d = self.bdim
        return s[:d] + s[d + 1 :]

    @property
    def dtype(self) -> np.dtype:
        return self.val.dtype

    def __repr__(self) -> str:
        return f"BatchTracer(val={self.val!r}, bdim={self.bdim})"


class BatchTrace(Trace):
    """Processes each primitive with its batching rule; `size` examples, axis `name`."""

    __slots__ = ("size", "axis_name")

    def __init__(self, level: int, name: str, fun: Any, size: int, axis_name: Any):
        super().__init__(level, name, fun)
        self.size = size
        self.axis_name = axis_name

    @property
    def axis(self) -> BatchTrace:
        return self

    def concrete(self, tracer: Tracer, what: str) -> Any:
        raise concretization_error(
            what, f"a value that differs between the examples of {self.describe()}"
        )

    def wrap(self, val: Any, bdim: int | None) -> Any:
        return val if bdim is None else BatchTracer(self, val, bdim)

    def unpack(self, args: tuple, front: bool = False, prim: Any = None) -> tuple[list, list]:
        """The values and batch dimensions of `args` (None where not batched); with `front`,
        the batched values with their examples first (and dims 0). Another namespace's
        arrays among the constants: see `namespace_constants` (`prim` names the operation)."""
        vals, dims = [], []
        plain = True
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                v, d = a.val, a.bdim
                if front and d != 0:
                    v, d = cnp.moveaxis(v, d, 0), 0
            else:
                v, d = a, None
                plain = plain and (isinstance(a, Tracer) or is_plain(a))
            vals.append(v)
            dims.append(d)
        if not plain:
            vals = namespace_constants(prim or P.stop_gradient_p, vals)
        return vals, dims

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        if prim in process_rules:
            if prim is P.random_p:
                return process_rules[prim](self, args, params)
            with _random.drawn_below(self.level):  # what the rule runs is batched already
                return process_rules[prim](self, args, params)
        vals, dims = self.unpack(args, prim=prim)
        if all(d is None for d in dims):
            return bind_with(prim, tuple(vals), params)
        try:
            out, out_dim = batch_rules[prim](self, vals, dims, **params)
        except (ValueError, IndexError) as err:  # say it with the shapes of one example
            avals = [a.aval if isinstance(a, Tracer) else aval_of(a) for a in args]
            try:  # the shape rule states the problem per example
                shape_rules[prim](*avals, **params)
                msg = str(err).split(" (operand shapes ")[0]
            except (ValueError, IndexError) as per_example:
                msg = str(per_example)
            if msg.startswith(f"{prim.name}: "):
                msg = msg[len(prim.name) + 2 :]
            shapes = " and ".join(str(a.shape) for a in avals)
            raise type(err)(f"{prim.name}: {msg} (operand shapes {shapes}, per example of "
                            f"{self.describe()})") from None  # fmt: skip
        if prim.multiple_results:
            return tuple(self.wrap(o, d) for o, d in zip(out, out_dim))
        return self.wrap(out, out_dim)

    # collectives of values that do not vary along this axis (core.axes handlers)
    def psum(self, x: Any) -> Any:
        return x * self.size

    def pmax(self, x: Any) -> Any:
        return x

    def all_gather(self, x: Any) -> Any:
        return cnp.broadcast_to(x, (self.size, *np.shape(x)))

    def axis_index(self) -> Any:
        return BatchTracer(self, np.arange(self.size), 0)


# --- vmap ------------------------------------------------------------------------------------


def _broadcast_prefix(prefix: Any, full: Any) -> list:
    """Leaves of `prefix` repeated over the subtrees of `full` (prefix semantics)."""
    from chainrule.core.pytree import tree_structure

    ptree = tree_structure(prefix, is_leaf=lambda x: x is None)
    subtrees = ptree.flatten_up_to(full)
    pleaves = tree_flatten(prefix, is_leaf=lambda x: x is None)[0]
    out: list = []
    for p, sub in zip(pleaves, subtrees):
        out.extend([p] * len(tree_flatten(sub)[0]))
    return out


def _in_axes_leaves(in_axes: Any, args: tuple) -> list:
    if in_axes is None or isinstance(in_axes, int):
        return [in_axes] * len(tree_flatten(args)[0])
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if not isinstance(in_axes, tuple):
        raise TypeError(
            f"vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
            f"positional arguments passed to the function, but got {in_axes!r} (a "
            f"{type(in_axes).__name__}); for a dict argument write in_axes=({in_axes!r},)"
        )
    if len(in_axes) != len(args):
        raise ValueError(
            f"vmap in_axes must be an int, None, or a tuple of entries corresponding to the "
            f"positional arguments passed to the function, but got len(in_axes)="
            f"{len(in_axes) if isinstance(in_axes, tuple) else 'n/a'}, len(args)={len(args)}"
        )
    try:
        return _broadcast_prefix(in_axes, args)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"vmap in_axes specification must be a tree prefix of the corresponding value: "
            f"{err}"
        ) from None


def vmap(
    fun: Callable,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_name: Any = None,
    axis_size: int | None = None,
) -> Callable:
    """Vectorise `fun` over a new axis: `fun` is written for one example, the result
    computes the whole batch at once.

    `in_axes` says where the examples lie in each argument (an int, negative ints too; None
    for an argument shared by all examples; a pytree prefix of the arguments); `out_axes`
    where they go in the results. `axis_name` names the axis for the collectives `cr.psum`,
    `cr.pmean`, `cr.pmax`, `cr.all_gather` and `cr.axis_index` inside `fun`; `axis_size` is
    needed only when no argument is batched.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(cr.grad(lambda x: x ** 2))(np.linspace(-1.0, 1.0, 5))
    array([-2., -1.,  0.,  1.,  2.])
    """

    def batched(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                "vmap: keyword arguments are not batched; pass them positionally with in_axes, "
                "or close over them (functools.partial)"
            )
        leaves, tree = tree_flatten(args)
        ns = namespace.find(leaves, "vmap")
        dims = _in_axes_leaves(in_axes, args)
        sizes = {}
        for i, (x, d) in enumerate(zip(leaves, dims)):
            if d is None:
                continue
            if not isinstance(d, int):
                raise TypeError(f"vmap in_axes must contain ints or None, got {d!r}")
            if not (hasattr(x, "shape") or isinstance(x, (int, float, complex, list, tuple))):
                raise TypeError(
                    f"vmap: the argument leaf at {_path_of(args, i)} is a {type(x).__name__}, "
                    "which is not an array: give it in_axes None (shared by all examples), or "
                    "close over it"
                )
            nd = np.ndim(x)
            if not -nd <= d < nd:
                raise ValueError(
                    f"vmap was requested to map its argument along axis {d}, which implies "
                    f"that its rank should be at least {max(d + 1, -d)}, but is only {nd} "
                    f"(its shape is {np.shape(x)}; argument leaf {i})"
                )
            sizes[i] = np.shape(x)[d % nd]
        if len(set(sizes.values())) > 1:
            detail = "; ".join(f"argument leaf {i} of shape {np.shape(leaves[i])} has size {s} "
                               f"along axis {dims[i]}" for i, s in sizes.items())  # fmt: skip
            raise ValueError(f"vmap got inconsistent sizes for the mapped axis: {detail}")
        if sizes:
            size = next(iter(sizes.values()))
            if axis_size is not None and axis_size != size:
                raise ValueError(f"vmap: axis_size={axis_size} but the arguments have {size}")
        elif axis_size is not None:
            size = axis_size
        else:
            raise ValueError(
                "vmap must have at least one non-None value in in_axes, or be given axis_size"
            )
        trace = new_trace(BatchTrace, "vmap", fun, size, axis_name)
        frame = axes.AxisFrame(axis_name, size, trace) if axis_name is not None else None
        if frame is not None:
            axes.push(frame)
        try:
            ins = [
                box(x) if d is None else BatchTracer(trace, _as_array(box(x)), d % np.ndim(x))
                for x, d in zip(leaves, dims)
            ]
            out = fun(*tree_unflatten(tree, ins))
        finally:
            if frame is not None:
                axes.pop(frame)
            end_trace(trace)
        out_leaves, otree = tree_flatten(out)
        if out_axes is None or isinstance(out_axes, int):
            odims = [out_axes] * len(out_leaves)
        else:
            try:
                odims = _broadcast_prefix(out_axes, out)
            except (ValueError, TypeError):
                raise ValueError(
                    f"vmap out_axes specification must be a tree prefix of the function's "
                    f"output, got out_axes={out_axes!r} for an output of structure {otree}"
                ) from None
        res = []
        for o, d in zip(out_leaves, odims):
            if isinstance(o, Tracer) and o._trace is trace:
                val, bd = o.val, o.bdim
                if d is None:
                    raise ValueError(
                        "vmap has mapped output but out_axes is None: an output that varies "
                        "along the axis needs an out_axes entry"
                    )
            else:
                if d is None:
                    res.append(o)
                    continue
                val = cnp.broadcast_to(o, (size, *np.shape(o)))
                bd = 0
            nd = np.ndim(val)
            if not isinstance(d, int) or not -nd <= d < nd:
                raise ValueError(
                    f"vmap out_axes={d!r} is out of bounds for an output of dimension {nd} "
                    f"(its shape per example is {np.shape(val)[:bd] + np.shape(val)[bd + 1:]})"
                )
            res.append(cnp.moveaxis(val, bd, d % nd) if bd != d % nd else val)
        return tree_unflatten(otree, [leave(r, ns) for r in res])

    batched.__name__ = f"vmap({getattr(fun, '__name__', 'f')})"
    batched.__wrapped__ = fun
    return batched


def _path_of(tree: Any, k: int) -> str:
    """The key path of leaf `k` of `tree`, as text: "args[0]['a']"."""
    from chainrule.core.pytree import keystr, tree_flatten_with_path

    return "args" + keystr(tree_flatten_with_path(tree)[0][k][0])


def _as_array(x: Any) -> Any:
    return x if isinstance(x, (np.ndarray, Tracer)) or hasattr(x, "shape") else np.asarray(x)


# --- collectives -----------------------------------------------------------------------------


def psum(x: Any, axis_name: Any) -> Any:
    """The sum of `x` over the examples of the named axis (a pytree of arrays works too).

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: x / cr.psum(x, "i"), axis_name="i")(np.array([1.0, 3.0]))
    array([0.25, 0.75])
    """
    return _tree(lambda v: bind(P.psum_p, v, axis_name=axis_name), x)


def pmean(x: Any, axis_name: Any) -> Any:
    """The mean of `x` over the examples of the named axis.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: x - cr.pmean(x, "i"), axis_name="i")(np.array([1.0, 3.0]))
    array([-1.,  1.])
    """
    n = 1
    for name in axes.names(axis_name):
        n *= axes.lookup(name).size
    return _tree(lambda v: bind(P.psum_p, v, axis_name=axis_name) / n, x)


def pmax(x: Any, axis_name: Any) -> Any:
    """The maximum of `x` over the examples of the named axis.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: cr.pmax(x, "i"), axis_name="i")(np.array([1.0, 3.0]))
    array([3., 3.])
    """
    return _tree(lambda v: bind(P.pmax_p, v, axis_name=axis_name), x)


def all_gather(x: Any, axis_name: Any) -> Any:
    """The values of `x` of every example of the named axis, stacked along a new first axis.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: cr.all_gather(x, "i"), axis_name="i")(np.array([1.0, 3.0]))
    array([[1., 3.],
           [1., 3.]])
    """
    return _tree(lambda v: bind(P.all_gather_p, v, axis_name=axis_name), x)


def axis_index(axis_name: Any) -> Any:
    """The index of the current example along the named axis.

    >>> import numpy as np, chainrule as cr
    >>> cr.vmap(lambda x: x * cr.axis_index("i"), axis_name="i")(np.ones(3))
    array([0., 1., 2.])
    """
    return bind(P.axis_index_p, axis_name=axis_name)


def _tree(f: Callable, x: Any) -> Any:
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [f(v) for v in leaves])

