"""The callback primitive: a NumPy-level function (SciPy's kernels, user code) called on
concrete values, carrying its own derivative rules, so that it works under every
transformation without being re-implemented.

``callback_p(*xs, cb)`` where `cb` is a `Callback`: its `fun` computes the results from
NumPy arrays; `shapes` gives their abstract values from the operands'; `jvp` and `vjp`
(optional) are its derivative rules, written with ``core.ops`` (so they are themselves
differentiable, and may call other callbacks); `vectorized` says that `fun` broadcasts over
leading axes as an elementwise function does (vmap then calls it once on the whole batch;
otherwise once per example). This module holds the primitive's row of every table.

>>> import numpy as np
>>> from chainrule.core.trace import bind
>>> from chainrule.core import primitives as P
>>> cb = elementwise("double", lambda x: 2 * x, [lambda ans, x: 2.0])
>>> bind(P.callback_p, np.array([1.0, 2.0]), cb=cb)
(array([2., 4.]),)
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct, is_weak, stand_in
from chainrule.core.trace import bind
from chainrule.rules.batching import batch_rules, elementwise as _ew_batch, front
from chainrule.rules.impl import defimpl
from chainrule.rules.jvp import instantiate, jvp_rules
from chainrule.rules.shape import shape_rules
from chainrule.rules.vjp import VJP, vjp_rules


class Callback:
    """What callback_p carries (hashable by identity: make one per function, once).

    `fun(*arrays) -> tuple of arrays`; `shapes(*avals) -> tuple of ShapeDtypeStruct`;
    `jvp(primals, tangents) -> tuple of tangents` (None tangents are zeros, already made);
    `vjp(cts, outs, *primals) -> one cotangent per operand (None: no gradient)`;
    `vectorized`: `fun` broadcasts over leading axes (elementwise, or batched like NumPy's
    linear algebra).
    """

    def __init__(self, name: str, fun: Callable, shapes: Callable, jvp: Callable | None = None,
                 vjp: Callable | None = None, vectorized: bool = False):  # fmt: skip
        self.name, self.fun, self.shapes = name, fun, shapes
        self.jvp, self.vjp, self.vectorized = jvp, vjp, vectorized

    def __repr__(self) -> str:
        return self.name


def call(cb: Callback, *args: Any) -> tuple:
    """Apply the callback `cb` to `args` (through `bind`: every transformation sees it)."""
    return bind(P.callback_p, *args, cb=cb)


def elementwise(name: str, fun: Callable, derivatives: Sequence[Callable | None]) -> Callback:
    """A callback for an elementwise function of NumPy arrays (a SciPy ufunc), whose partial
    derivative with respect to operand i is ``derivatives[i](ans, *args)`` (None: none), so
    that JVP and VJP are ``t * ∂f/∂xᵢ`` and ``g * ∂f/∂xᵢ`` (holomorphic convention).

    >>> sinh = elementwise("sinh", np.sinh, [lambda ans, x: cnp.cosh(x)])
    >>> call(sinh, np.array([0.0]))
    (array([0.]),)
    """
    dtypes: dict = {}

    def shapes(*avals: ShapeDtypeStruct) -> tuple:
        key = tuple((a.dtype, a.weak_type) for a in avals)
        dt = dtypes.get(key)
        if dt is None:
            with np.errstate(all="ignore"):
                dt = dtypes[key] = np.result_type(fun(*[
                    stand_in(a) if a.weak_type else np.zeros((), a.dtype) for a in avals]))
        shape = np.broadcast_shapes(*[a.shape for a in avals])
        return (ShapeDtypeStruct(shape, dt, is_weak(*avals)),)

    def jvp(primals: list, tangents: list) -> tuple:
        (ans,) = call(cb, *primals)
        out = None
        for d, t in zip(derivatives, tangents):
            if d is not None and t is not None:
                term = t * d(ans, *primals)
                out = term if out is None else out + term
        return (out,)

    def vjp(cts: tuple, outs: tuple, *primals: Any) -> list:
        (g,), (ans,) = cts, outs
        return [None if d is None else g * d(ans, *primals) for d in derivatives]

    cb = Callback(name, lambda *xs: (fun(*xs),), shapes, jvp, vjp, vectorized=True)
    return cb


# --- the rows of callback_p ------------------------------------------------------------------


def _impl(*args: Any, cb: Callback) -> tuple:
    out = cb.fun(*args)
    return tuple(np.asarray(o) if not isinstance(o, np.ndarray) else o for o in out)


def _shape(*avals: Any, cb: Callback) -> tuple:
    return tuple(cb.shapes(*avals))


def _no_rule(cb: Callback, mode: str) -> Exception:
    return TypeError(
        f"the callback {cb.name!r} has no {mode}-mode rule: it cannot be differentiated "
        "(give it jvp=/vjp= rules, or wrap its use in cr.stop_gradient)"
    )


def _jvp(primals: list, tangents: list, cb: Callback) -> tuple:
    if cb.jvp is None:
        raise _no_rule(cb, "forward")
    outs = call(cb, *primals)
    ts = [instantiate(t, p) if t is not None else None for t, p in zip(tangents, primals)]
    return outs, tuple(cb.jvp(primals, ts))


def _vjp(g: tuple, ans: tuple, *primals: Any, cb: Callback) -> list:
    if cb.vjp is None:
        raise _no_rule(cb, "reverse")
    return list(cb.vjp(tuple(g), tuple(ans), *primals))


def _batch(axis: Any, vals: list, dims: list, cb: Callback) -> tuple:
    if cb.vectorized:  # one call on the whole batch, operands aligned as elementwise
        outs, _ = _ew_batch(P.callback_p)(axis, vals, dims, cb=cb)
        return outs, (0,) * len(outs)
    rows = []  # once per example
    for b in range(axis.size):
        ex = [v if d is None else front(v, d, axis.size)[b] for v, d in zip(vals, dims)]
        rows.append(call(cb, *ex))
    return tuple(cnp.stack([r[k] for r in rows]) for k in range(len(rows[0]))), \
        (0,) * len(rows[0])  # fmt: skip


defimpl(P.callback_p, _impl)
shape_rules[P.callback_p] = _shape
jvp_rules[P.callback_p] = _jvp
vjp_rules[P.callback_p] = VJP(joint=_vjp, varargs_reads="ans operands", inputs=True)
batch_rules[P.callback_p] = _batch


# --- pure_callback (JAX's name) ---------------------------------------------------------------


def pure_callback(callback: Callable, result_shape_dtypes: Any, *args: Any,
                  vmap_method: str = "sequential", jvp: Callable | None = None,
                  vjp: Callable | None = None) -> Any:  # fmt: skip
    """Call the NumPy function `callback(*args)` on concrete values from inside any
    transformation, as `jax.pure_callback`: `result_shape_dtypes` (a ShapeDtypeStruct or a
    pytree of them) says what it returns. Under vmap it runs once per example
    (``vmap_method="sequential"``) or once on the batch (``"broadcast_all"``: it must then
    broadcast over leading axes). It has no derivative unless `jvp` and/or `vjp` are given
    (see `chainrule.rules.callback.Callback` for their signatures).

    >>> import numpy as np, chainrule as cr
    >>> out = cr.ShapeDtypeStruct((2,), np.float64)
    >>> cr.vmap(lambda x: cr.pure_callback(np.cumsum, out, x))(np.ones((3, 2)))[0]
    array([1., 2.])
    """
    from chainrule.core.pytree import tree_flatten, tree_unflatten

    leaves, tree = tree_flatten(result_shape_dtypes)
    if vmap_method not in ("sequential", "broadcast_all", "expand_dims"):
        raise ValueError(f"pure_callback: unknown vmap_method {vmap_method!r}")

    def fun(*xs: Any) -> tuple:
        out_leaves, out_tree = tree_flatten(callback(*xs))
        if out_tree != tree:
            raise TypeError(f"pure_callback: the callback returned structure {out_tree}, "
                            f"expected {tree}")  # fmt: skip
        return tuple(np.asarray(o, dtype=s.dtype) for o, s in zip(out_leaves, leaves))

    def shapes(*avals: Any) -> tuple:
        batch = ()
        if vmap_method != "sequential" and avals:
            extra = [a.shape[: a.ndim - len(s.shape)] for a in avals for s in leaves
                     if a.ndim > len(s.shape)][:1]  # fmt: skip
            batch = extra[0] if extra else ()
        return tuple(ShapeDtypeStruct(batch + tuple(s.shape), s.dtype) for s in leaves)

    cb = Callback(getattr(callback, "__name__", "callback"), fun, shapes, jvp, vjp,
                  vectorized=vmap_method != "sequential")  # fmt: skip
    return tree_unflatten(tree, list(call(cb, *args)))
