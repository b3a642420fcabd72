"""Functional optimizers over pytrees, with optax's definitions (see `chainrule.optim`).

An optimizer is a `GradientTransformation`: ``init(params) -> state`` and
``update(grads, state, params=None) -> (updates, state)``; `apply_updates(params, updates)`
adds the updates. Everything is a pure function of pytrees of arrays with no Python control
flow on values, so a whole training step compiles under `cr.jit`:

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> from chainrule import optim
>>> opt = optim.adam(0.1)
>>> params = {"w": np.array([1.0, -2.0])}
>>> state = opt.init(params)
>>> @cr.jit
... def step(params, state):
...     grads = cr.grad(lambda p: cnp.sum(p["w"] ** 2))(params)
...     updates, state = opt.update(grads, state, params)
...     return optim.apply_updates(params, updates), state
>>> params, state = step(params, state)
>>> params["w"]
array([ 0.9, -1.9])

The states are NamedTuples laid out as optax's (``adam``'s is ``(ScaleByAdamState(count, mu,
nu), EmptyState())``), so ``state[0].mu`` reads the same in both libraries; ``count`` is an
int32 that saturates instead of wrapping, as optax's. A learning rate (or AdamW's weight
decay) may be a schedule: a function of the int32 step count, traceable under `jit`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from chainrule import numpy as cnp
from chainrule.core.pytree import tree_flatten, tree_map

__all__ = [
    "AddDecayedWeightsState", "EmptyState", "GradientTransformation", "ScaleByAdamState",
    "ScaleByRStdDevState", "ScaleByRStdDevWithCountState", "ScaleByRmsState",
    "ScaleByRmsWithCountState", "ScaleByScheduleState", "TraceState", "WeightDecaySchedule",
    "add_decayed_weights", "adam", "adamw", "apply_updates", "chain", "identity", "rmsprop",
    "scale", "scale_by_adam", "scale_by_learning_rate", "scale_by_rms", "scale_by_schedule",
    "scale_by_stddev", "sgd", "trace",
]  # fmt: skip

_INT32_MAX = np.iinfo(np.int32).max


class GradientTransformation(NamedTuple):
    """A pair of pure functions: ``init(params) -> state``, ``update(grads, state,
    params=None) -> (updates, new_state)`` (optax's `GradientTransformation`).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> double = optim.GradientTransformation(lambda params: optim.EmptyState(),
    ...                                       lambda g, state, params=None: (2 * g, state))
    >>> opt = optim.chain(double, optim.scale(-0.1))
    >>> updates, state = opt.update(np.array([1.0]), opt.init(np.array([0.0])))
    >>> updates
    array([-0.2])
    """

    init: Callable[[Any], Any]
    update: Callable[..., tuple[Any, Any]]


class EmptyState(NamedTuple):
    """The state of a stateless transformation (`AddDecayedWeightsState` too, as in optax).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale(0.5).init(np.zeros(2))
    EmptyState()
    """


class ScaleByAdamState(NamedTuple):
    """`scale_by_adam`'s state: the update count (int32) and the first and second moments,
    pytrees like the parameters.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_adam().init(np.zeros(2))
    ScaleByAdamState(count=array(0, dtype=int32), mu=array([0., 0.]), nu=array([0., 0.]))
    """

    count: Any  # int32 scalar: the number of updates made
    mu: Any  # first moments, a pytree like the parameters
    nu: Any  # second moments


class ScaleByRmsState(NamedTuple):
    """`scale_by_rms`'s state: the running mean of the squared gradients.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_rms(initial_scale=1.0).init(np.zeros(2))
    ScaleByRmsState(nu=array([1., 1.]))
    """

    nu: Any


class ScaleByRmsWithCountState(NamedTuple):
    """`scale_by_rms`'s state with ``bias_correction=True``: the count, and the running mean
    of the squared gradients.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_rms(bias_correction=True).init(np.zeros(1))
    ScaleByRmsWithCountState(count=array(0, dtype=int32), nu=array([0.]))
    """

    count: Any
    nu: Any


class ScaleByRStdDevState(NamedTuple):
    """`scale_by_stddev`'s state: the running means of the gradients and of their squares.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_stddev().init(np.zeros(1))
    ScaleByRStdDevState(mu=array([0.]), nu=array([0.]))
    """

    mu: Any
    nu: Any


class ScaleByRStdDevWithCountState(NamedTuple):
    """`scale_by_stddev`'s state with ``bias_correction=True``: the count, and the running
    means of the gradients and of their squares.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_stddev(bias_correction=True).init(np.zeros(1))
    ScaleByRStdDevWithCountState(count=array(0, dtype=int32), mu=array([0.]), nu=array([0.]))
    """

    count: Any
    mu: Any
    nu: Any


class TraceState(NamedTuple):
    """`trace`'s state: the momentum buffer, a pytree like the parameters.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.trace(0.9)
    >>> updates, state = opt.update(np.array([0.5]), opt.init(np.zeros(1)))
    >>> state
    TraceState(trace=array([0.5]))
    """

    trace: Any


class ScaleByScheduleState(NamedTuple):
    """`scale_by_schedule`'s state: the number of updates made (int32).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.scale_by_schedule(lambda count: 0.5 ** count)
    >>> updates, state = opt.update(np.array([1.0]), opt.init(np.zeros(1)))
    >>> state
    ScaleByScheduleState(count=array(1, dtype=int32))
    """

    count: Any


class WeightDecaySchedule(NamedTuple):
    """`add_decayed_weights`'s state when the decay is a schedule: the number of updates made.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.add_decayed_weights(lambda count: 1e-4 / (count + 1)).init(np.zeros(1))
    WeightDecaySchedule(count=array(0, dtype=int32))
    """

    count: Any


AddDecayedWeightsState = EmptyState


# --- helpers -------------------------------------------------------------------------------


def _is_none(x: Any) -> bool:
    return x is None


def _map(f: Callable, tree: Any, *rest: Any) -> Any:
    """`tree_map` that keeps None leaves of `tree` (optax's ``is_leaf=lambda x: x is None``)."""
    return tree_map(lambda x, *r: None if x is None else f(x, *r), tree, *rest, is_leaf=_is_none)


def _dtype(x: Any) -> np.dtype:
    d = getattr(x, "dtype", None)
    return np.dtype(d) if d is not None else np.asarray(x).dtype


def _full_like(tree: Any, value: float, dtype: Any = None) -> Any:
    return _map(lambda p: np.full(np.shape(p), value, dtype if dtype is not None else _dtype(p)),
                tree)  # fmt: skip


def _count0() -> np.ndarray:
    return np.zeros((), np.int32)


def _safe_increment(count: Any) -> Any:
    """count + 1, saturating at int32's maximum (optax's `safe_increment`)."""
    return cnp.where(count < _INT32_MAX, count + 1, np.int32(_INT32_MAX))


def _correction(decay: float, count: Any) -> Any:
    """1 - decay**count, in float64 (optax's bias correction, before its cast per moment)."""
    return 1 - decay ** cnp.astype(count, np.float64)


def _corrected(t: Any, correction: Any) -> Any:
    """t / correction, the correction cast to t's dtype (optax's `tree_bias_correction`)."""
    return t / cnp.astype(correction, _dtype(t))


def _abs_sq(x: Any) -> Any:
    return cnp.real(cnp.conj(x) * x) if np.issubdtype(_dtype(x), np.complexfloating) else x * x


def _cast(x: Any, dtype: Any) -> Any:
    return x if dtype is None or _dtype(x) == np.dtype(dtype) else cnp.astype(x, dtype)


def _rsqrt(x: Any) -> Any:
    return 1 / cnp.sqrt(x)


# --- leafwise transformations ----------------------------------------------------------------
#
# Each building block is written leaf by leaf: `prepare` computes, once per update, the scalars
# it needs (step counts, bias corrections, scheduled values); `leaf` maps one leaf of the
# updates (with the parameter and the block's state arrays for that leaf) to the new update
# and new state arrays; `finish` assembles the new state. `chain` runs every block on one leaf
# before going to the next, so under `jit` each leaf's arithmetic is one run of elementwise
# operations (which the compiler fuses) instead of one pass per block. The arithmetic is
# optax's, operation for operation.


class _Leafwise(NamedTuple):
    fields: tuple[str, ...]  # the state's fields that hold one array per parameter leaf
    prepare: Callable[[Any, Any, Any], Any]  # (state, params, treedef) -> ctx
    leaf: Callable[..., tuple]  # (ctx, index, g, p, *field leaves) -> (u, *new field leaves)
    finish: Callable[[Any, Any, dict], Any]  # (ctx, state, {field: new tree}) -> new state


def _run(blocks: list[_Leafwise], updates: Any, states: list, params: Any) -> tuple[Any, list]:
    """Apply `blocks` in turn, leaf by leaf; returns the updates and the blocks' new states."""
    leaves, td = tree_flatten(updates, _is_none)
    n = len(leaves)
    ctxs = [b.prepare(s, params, td) for b, s in zip(blocks, states, strict=True)]
    p_leaves = [None] * n if params is None else td.flatten_up_to(params)
    old = [[td.flatten_up_to(getattr(s, f)) for f in b.fields]
           for b, s in zip(blocks, states, strict=True)]  # fmt: skip
    new = [[list(fl) for fl in fls] for fls in old]
    out = []
    for i, g in enumerate(leaves):
        if g is not None:
            for k, b in enumerate(blocks):
                g, *fresh = b.leaf(ctxs[k], i, g, p_leaves[i], *(fl[i] for fl in old[k]))
                for j, v in enumerate(fresh):
                    new[k][j][i] = v
        out.append(g)
    new_states = [b.finish(ctx, s, {f: td.unflatten(nl) for f, nl in zip(b.fields, nls,
                                                                          strict=True)})
                  for b, ctx, s, nls in zip(blocks, ctxs, states, new, strict=True)]  # fmt: skip
    return td.unflatten(out), new_states


def _transformation(init: Callable, block: _Leafwise) -> GradientTransformation:
    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        updates, (state,) = _run([block], updates, [state], params)
        return updates, state

    update._leafwise = block  # type: ignore[attr-defined]  (read by `chain`)
    return GradientTransformation(init, update)


def _no_ctx(state: Any, params: Any, td: Any) -> None:
    return None


def _same_state(ctx: Any, state: Any, new: dict) -> Any:
    return state


# --- the building blocks -------------------------------------------------------------------


def identity() -> GradientTransformation:
    """Updates unchanged, no state.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.identity().update(np.array([1.5]), optim.EmptyState())
    (array([1.5]), EmptyState())
    """
    return _transformation(lambda params: EmptyState(),
                           _Leafwise((), _no_ctx, lambda ctx, i, g, p: (g,), _same_state))


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply `transforms` in turn; the state is the tuple of their states (optax's `chain`).
    The building blocks of this module run leaf by leaf together (see `_run`); any other
    transformation runs on the whole pytree, in its turn.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.chain(optim.scale_by_adam(), optim.scale(-0.1))
    >>> updates, state = opt.update({"x": np.array(2.0)}, opt.init({"x": np.array(1.0)}))
    >>> float(updates["x"])
    -0.1
    """
    inits = [t.init for t in transforms]
    fns = [t.update for t in transforms]
    blocks = [getattr(fn, "_leafwise", None) for fn in fns]

    def init(params: Any) -> tuple:
        return tuple(fn(params) for fn in inits)

    def update(updates: Any, state: tuple, params: Any = None) -> tuple[Any, tuple]:
        if len(state) != len(fns):
            raise ValueError("chain: the state has one entry per transformation; call init "
                             "first")  # fmt: skip
        new_state: list = []
        k = 0
        while k < len(fns):
            if blocks[k] is None:
                updates, s = fns[k](updates, state[k], params)
                new_state.append(s)
                k += 1
                continue
            j = k
            while j < len(fns) and blocks[j] is not None:
                j += 1
            updates, states = _run(blocks[k:j], updates, list(state[k:j]), params)
            new_state += states
            k = j
        return updates, tuple(new_state)

    return GradientTransformation(init, update)


def scale(step_size: Any) -> GradientTransformation:
    """Multiply the updates by `step_size`.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale(-0.1).update(np.array([0.5]), optim.EmptyState())
    (array([-0.05]), EmptyState())
    """
    return _transformation(lambda params: EmptyState(),
                           _Leafwise((), _no_ctx, lambda ctx, i, g, p: (step_size * g,),
                                     _same_state))  # fmt: skip


def scale_by_schedule(step_size_fn: Callable[[Any], Any]) -> GradientTransformation:
    """Multiply the updates by ``step_size_fn(count)`` (count: updates made so far, int32).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.scale_by_schedule(lambda count: 0.5 ** count)
    >>> state = opt.init(np.zeros(1))
    >>> for _ in range(3):
    ...     updates, state = opt.update(np.array([1.0]), state)
    >>> updates
    array([0.25])
    """

    def prepare(state: ScaleByScheduleState, params: Any, td: Any) -> tuple:
        return step_size_fn(state.count), _safe_increment(state.count)

    def leaf(ctx: tuple, i: int, g: Any, p: Any) -> tuple:
        return (cnp.astype(ctx[0], _dtype(g)) * g,)

    return _transformation(lambda params: ScaleByScheduleState(_count0()),
                           _Leafwise((), prepare, leaf,
                                     lambda ctx, state, new: ScaleByScheduleState(ctx[1])))


def scale_by_learning_rate(learning_rate: Any, *, flip_sign: bool = True) -> GradientTransformation:
    """Multiply by -learning_rate (a number or a schedule).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.scale_by_learning_rate(0.1).update(np.array([0.5]), optim.EmptyState())
    (array([-0.05]), EmptyState())
    """
    m = -1 if flip_sign else 1
    if callable(learning_rate):
        return scale_by_schedule(lambda count: m * learning_rate(count))
    return scale(m * learning_rate)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, eps_root: float = 0.0,
                  mu_dtype: Any = None, *, nesterov: bool = False) -> GradientTransformation:
    """Adam's rescaling: ``mu_hat / (sqrt(nu_hat + eps_root) + eps)`` with bias-corrected
    moments (optax's `scale_by_adam`, Nesterov's variant with `nesterov`).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.scale_by_adam()
    >>> updates, state = opt.update(np.array([0.5, -2.0]), opt.init(np.zeros(2)))
    >>> updates.round(6)  # the first step is about sign(g)
    array([ 1., -1.])
    """
    mu_dtype = None if mu_dtype is None else np.dtype(mu_dtype)

    def init(params: Any) -> ScaleByAdamState:
        return ScaleByAdamState(_count0(), _full_like(params, 0.0, mu_dtype),
                                _full_like(params, 0.0))  # fmt: skip

    def prepare(state: ScaleByAdamState, params: Any, td: Any) -> tuple:
        count = _safe_increment(state.count)
        c1 = _correction(b1, count)
        c1_next = _correction(b1, _safe_increment(count)) if nesterov else None
        return count, c1, _correction(b2, count), c1_next

    def leaf(ctx: tuple, i: int, g: Any, p: Any, mu: Any, nu: Any) -> tuple:
        _, c1, c2, c1_next = ctx
        nu_dtype = _dtype(nu)
        mu = (1 - b1) * g + b1 * mu
        nu = (1 - b2) * _abs_sq(g) + b2 * nu
        if nesterov:
            mu_hat = b1 * _corrected(mu, c1_next) + (1 - b1) * _corrected(g, c1)
        else:
            mu_hat = _corrected(mu, c1)
        nu_hat = _corrected(nu, c2)
        # sqrt(v + 0.0) + eps == sqrt(v) + eps, also for v = -0.0: optax's eps_root=0 exactly
        root = cnp.sqrt(nu_hat if isinstance(eps_root, (int, float)) and eps_root == 0
                        else nu_hat + eps_root)  # fmt: skip
        return mu_hat / (root + eps), _cast(mu, mu_dtype), _cast(nu, nu_dtype)

    def finish(ctx: tuple, state: ScaleByAdamState, new: dict) -> ScaleByAdamState:
        return ScaleByAdamState(ctx[0], new["mu"], new["nu"])

    return _transformation(init, _Leafwise(("mu", "nu"), prepare, leaf, finish))


def _counted(bias_correction: bool, decay: float) -> Callable:
    def prepare(state: Any, params: Any, td: Any) -> tuple:
        if not bias_correction:
            return None, None
        count = _safe_increment(state.count)
        return count, _correction(decay, count)

    return prepare


def scale_by_rms(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                 eps_in_sqrt: bool = True, bias_correction: bool = False) -> GradientTransformation:
    """RMSprop's rescaling, ``g / sqrt(nu + eps)`` (or ``g / (sqrt(nu) + eps)``).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.scale_by_rms(decay=0.75)
    >>> updates, state = opt.update(np.array([0.5]), opt.init(np.zeros(1)))
    >>> updates.round(6), state.nu  # 0.5 / sqrt(0.25 * 0.5**2)
    (array([2.]), array([0.0625]))
    """

    def init(params: Any) -> Any:
        nu = _full_like(params, initial_scale)
        return ScaleByRmsWithCountState(_count0(), nu) if bias_correction else ScaleByRmsState(nu)

    def leaf(ctx: tuple, i: int, g: Any, p: Any, nu: Any) -> tuple:
        nu = (1 - decay) * _abs_sq(g) + decay * nu
        nu_hat = _corrected(nu, ctx[1]) if bias_correction else nu
        scaling = _rsqrt(nu_hat + eps) if eps_in_sqrt else 1 / (cnp.sqrt(nu_hat) + eps)
        return scaling * g, nu

    def finish(ctx: tuple, state: Any, new: dict) -> Any:
        if bias_correction:
            return ScaleByRmsWithCountState(ctx[0], new["nu"])
        return ScaleByRmsState(new["nu"])

    return _transformation(init, _Leafwise(("nu",), _counted(bias_correction, decay), leaf,
                                           finish))  # fmt: skip


def scale_by_stddev(decay: float = 0.9, eps: float = 1e-8, initial_scale: float = 0.0,
                    eps_in_sqrt: bool = True,
                    bias_correction: bool = False) -> GradientTransformation:  # fmt: skip
    """Centered RMSprop's rescaling, ``g / sqrt(nu - |mu|**2 + eps)``.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.scale_by_stddev(decay=0.75)
    >>> updates, state = opt.update(np.array([0.5]), opt.init(np.zeros(1)))
    >>> state  # the means of g and of g**2
    ScaleByRStdDevState(mu=array([0.125]), nu=array([0.0625]))
    >>> updates.round(6)  # 0.5 / sqrt(0.0625 - 0.125**2)
    array([2.309401])
    """

    def init(params: Any) -> Any:
        mu, nu = _full_like(params, 0.0), _full_like(params, initial_scale)
        if bias_correction:
            return ScaleByRStdDevWithCountState(_count0(), mu, nu)
        return ScaleByRStdDevState(mu, nu)

    def leaf(ctx: tuple, i: int, g: Any, p: Any, mu: Any, nu: Any) -> tuple:
        mu = (1 - decay) * g + decay * mu
        nu = (1 - decay) * _abs_sq(g) + decay * nu
        if bias_correction:
            mu_hat, nu_hat = _corrected(mu, ctx[1]), _corrected(nu, ctx[1])
        else:
            mu_hat, nu_hat = mu, nu
        if eps_in_sqrt:
            scaling = _rsqrt(nu_hat - _abs_sq(mu_hat) + eps)
        else:
            scaling = 1 / (cnp.sqrt(nu_hat - _abs_sq(mu_hat)) + eps)
        return scaling * g, mu, nu

    def finish(ctx: tuple, state: Any, new: dict) -> Any:
        if bias_correction:
            return ScaleByRStdDevWithCountState(ctx[0], new["mu"], new["nu"])
        return ScaleByRStdDevState(new["mu"], new["nu"])

    return _transformation(init, _Leafwise(("mu", "nu"), _counted(bias_correction, decay), leaf,
                                           finish))  # fmt: skip


def trace(decay: float, nesterov: bool = False,
          accumulator_dtype: Any = None) -> GradientTransformation:  # fmt: skip
    """Momentum: ``t = g + decay * t``; the update is `t` (``g + decay * t`` with Nesterov).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.trace(0.9)
    >>> state = opt.init(np.zeros(1))
    >>> for _ in range(2):
    ...     updates, state = opt.update(np.array([1.0]), state)
    >>> updates  # 1 + 0.9 * 1
    array([1.9])
    """
    accumulator_dtype = None if accumulator_dtype is None else np.dtype(accumulator_dtype)

    def leaf(ctx: None, i: int, g: Any, p: Any, t: Any) -> tuple:
        t = g + decay * t
        return (g + decay * t if nesterov else t), _cast(t, accumulator_dtype)

    return _transformation(lambda params: TraceState(_full_like(params, 0.0, accumulator_dtype)),
                           _Leafwise(("trace",), _no_ctx, leaf,
                                     lambda ctx, state, new: TraceState(new["trace"])))


def add_decayed_weights(weight_decay: Any = 0.0, mask: Any = None) -> GradientTransformation:
    """``updates + weight_decay * params`` (`weight_decay` a number or a schedule); `mask`, a
    pytree of booleans like the parameters (or a function of them returning one), limits the
    decay to the True leaves.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> params = {"w": np.array([1.0, -2.0]), "b": np.array([3.0])}
    >>> grads = {"w": np.zeros(2), "b": np.zeros(1)}
    >>> opt = optim.add_decayed_weights(0.1, mask={"w": True, "b": False})
    >>> updates, state = opt.update(grads, opt.init(params), params)
    >>> updates["w"], updates["b"]
    (array([ 0.1, -0.2]), array([0.]))
    """
    scheduled = callable(weight_decay)
    nothing = isinstance(weight_decay, (int, float)) and weight_decay == 0.0

    def init(params: Any) -> Any:
        return WeightDecaySchedule(_count0()) if scheduled else EmptyState()

    def prepare(state: Any, params: Any, td: Any) -> tuple:
        if params is None:
            raise ValueError("add_decayed_weights (adamw) needs the parameters: call "
                             "update(grads, state, params)")  # fmt: skip
        s = weight_decay(state.count) if scheduled else weight_decay
        keep = None
        if mask is not None:
            keep = td.flatten_up_to(mask(params) if callable(mask) else mask)
        return s, keep, _safe_increment(state.count) if scheduled else None

    def leaf(ctx: tuple, i: int, g: Any, p: Any) -> tuple:
        s, keep, _ = ctx
        if nothing or (keep is not None and not keep[i]):
            return (g,)
        return (g + s * p,)

    def finish(ctx: tuple, state: Any, new: dict) -> Any:
        return WeightDecaySchedule(ctx[2]) if scheduled else state

    return _transformation(init, _Leafwise((), prepare, leaf, finish))


# --- the optimizers --------------------------------------------------------------------------


def sgd(learning_rate: Any, momentum: float | None = None, nesterov: bool = False,
        accumulator_dtype: Any = None) -> GradientTransformation:  # fmt: skip
    """Stochastic gradient descent, with optional (Nesterov) momentum: optax's `sgd`.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.sgd(0.1, momentum=0.9)
    >>> params = np.array([1.0])
    >>> updates, state = opt.update(np.array([2.0]), opt.init(params))
    >>> optim.apply_updates(params, updates)
    array([0.8])
    """
    t = trace(momentum, nesterov, accumulator_dtype) if momentum is not None else identity()
    return chain(t, scale_by_learning_rate(learning_rate))


def adam(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
         eps_root: float = 0.0, mu_dtype: Any = None, *,
         nesterov: bool = False) -> GradientTransformation:  # fmt: skip
    """Adam: optax's `adam` (state ``(ScaleByAdamState(count, mu, nu), EmptyState())``).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.adam(0.1)
    >>> params = np.array([1.0])
    >>> updates, state = opt.update(np.array([2.0]), opt.init(params))
    >>> optim.apply_updates(params, updates)
    array([0.9])
    """
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))  # fmt: skip


def adamw(learning_rate: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          eps_root: float = 0.0, mu_dtype: Any = None, weight_decay: Any = 1e-4,
          mask: Any = None, *, nesterov: bool = False) -> GradientTransformation:  # fmt: skip
    """Adam with decoupled weight decay: optax's `adamw`. Note optax's default
    ``weight_decay=1e-4`` (PyTorch's `AdamW`: 1e-2); `update` needs the parameters.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.adamw(0.1, weight_decay=0.5)
    >>> params = np.array([1.0])
    >>> updates, state = opt.update(np.array([2.0]), opt.init(params), params)
    >>> optim.apply_updates(params, updates)
    array([0.85])
    """
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))  # fmt: skip


def rmsprop(learning_rate: Any, decay: float = 0.9, eps: float = 1e-8,
            initial_scale: float = 0.0, eps_in_sqrt: bool = True, centered: bool = False,
            momentum: float | None = None, nesterov: bool = False,
            bias_correction: bool = False) -> GradientTransformation:  # fmt: skip
    """RMSprop: optax's `rmsprop`. Note optax's ``eps`` inside the square root and
    ``decay=0.9`` (PyTorch's `RMSprop`: outside, ``alpha=0.99``).

    >>> import numpy as np
    >>> from chainrule import optim
    >>> opt = optim.rmsprop(0.1)
    >>> params = np.array([1.0])
    >>> updates, state = opt.update(np.array([2.0]), opt.init(params))
    >>> optim.apply_updates(params, updates).round(6)
    array([0.683772])
    """
    scaler = scale_by_stddev if centered else scale_by_rms
    return chain(
        scaler(decay, eps, initial_scale, eps_in_sqrt, bias_correction),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov) if momentum is not None else identity(),
    )


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates`` leaf by leaf, each result in its parameter's dtype (None leaves
    stay None): optax's `apply_updates`.

    >>> import numpy as np
    >>> from chainrule import optim
    >>> optim.apply_updates({"w": np.float32([1.0])}, {"w": np.array([0.5])})
    {'w': array([1.5], dtype=float32)}
    """
    return tree_map(lambda p, u: None if p is None else _cast(cnp.asarray(p + u), _dtype(p)),
                    params, updates, is_leaf=_is_none)  # fmt: skip
