"""TensorFlow-style tapes and variables, on chainrule Tensors.

A `GradientTape` is a recording context over the same graph as `Tensor.backward`: its
`gradient` is a backward pass to the requested sources, which may be variables, watched
tensors or intermediate values computed inside the tape. Tapes are per thread.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> x = cr.Variable(7.0)
>>> with cr.GradientTape() as tape:
...     t = cnp.tanh(4 * cnp.cos(x) ** 2)
>>> round(float(tape.gradient(t, x)), 6)
-0.164493
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.tensor import Tensor, _mode, _new, _tensors, no_grad, run_backward
from chainrule.transforms.reverse import Node


class _Tapes(threading.local):
    def __init__(self) -> None:
        self.stack: list = []


_tapes = _Tapes()


class Variable(Tensor):
    """A trainable value, watched by every tape automatically (TensorFlow's `tf.Variable`).

    >>> import chainrule as cr
    >>> v = cr.Variable(2.0)
    >>> v.assign(3.0).numpy()
    array(3.)
    """

    __slots__ = ("name", "trainable")

    def __init__(self, initial_value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None):  # fmt: skip
        super().__init__(initial_value, dtype=dtype, requires_grad=trainable)
        self.name = name
        self.trainable = trainable

    def assign(self, value: Any) -> Variable:
        """Set the value in place (not recorded); returns the variable."""
        v = value._value if isinstance(value, Tensor) else np.asarray(value)
        if np.shape(v) != self.shape:
            raise ValueError(f"assign: a value of shape {np.shape(v)} to a variable of shape "
                             f"{self.shape}")  # fmt: skip
        with no_grad():
            self._ver[0] += 1
            self._value = np.array(v, dtype=self.dtype)
        return self

    def assign_add(self, delta: Any) -> Variable:
        """`self.assign(self + delta)`."""
        return self.assign(self._value + (delta._value if isinstance(delta, Tensor) else delta))

    def assign_sub(self, delta: Any) -> Variable:
        """`self.assign(self - delta)`."""
        return self.assign(self._value - (delta._value if isinstance(delta, Tensor) else delta))

    def numpy(self) -> np.ndarray:
        """A copy of the value as a NumPy array (as TensorFlow gives)."""
        return np.array(self._value)

    def value(self) -> Tensor:
        """The current value, as a tensor outside the graph."""
        return self.detach()

    read_value = value

    def __repr__(self) -> str:
        return f"<Variable{' ' + repr(self.name) if self.name else ''} shape={self.shape} " \
               f"dtype={self.dtype} numpy={self._value!r}>"  # fmt: skip


class GradientTape:
    """Record operations for differentiation (TensorFlow's `tf.GradientTape`).

    `gradient(target, sources)` differentiates `target` with respect to `sources`: a tensor,
    a list or any pytree of them, including values computed inside the tape. Sources the
    target does not depend on get None (`why_none` says where the path breaks). A
    non-persistent tape gives one set of gradients.

    >>> import chainrule as cr
    >>> x = cr.Variable(7.0)
    >>> with cr.GradientTape(persistent=True) as tape:
    ...     y1 = x ** 2
    ...     z = y1 * 3
    >>> float(tape.gradient(z, y1)), float(tape.gradient(z, x))
    (3.0, 42.0)
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._watched: list = []
        self._proxies: dict = {}  # id(constant) -> (constant, proxy with a leaf node)
        self._used = False
        self._recording = False
        self._prev_mode = True

    def __enter__(self) -> GradientTape:
        _tapes.stack.append(self)
        self._recording = True
        self._prev_mode = _mode.enabled
        _mode.enabled = True
        _sync_watched()
        return self

    def __exit__(self, *exc: Any) -> None:
        _tapes.stack.remove(self)
        self._recording = False
        _mode.enabled = self._prev_mode
        _sync_watched()

    def watch(self, tensor: Any) -> None:
        """Record operations on `tensor` (a tensor or a pytree of them) from now on."""
        for t in tree_flatten(tensor)[0]:
            if not isinstance(t, Tensor):
                raise TypeError(f"watch: expected a Tensor, got {type(t).__name__} "
                                "(make it with cr.tensor or cr.Variable)")  # fmt: skip
            if t._node is None and id(t) not in self._proxies:
                # a stand-in that records for this tape only: `t` itself stays a constant
                proxy = _new(t._value, Node(None, None, (), t.shape, t.dtype))
                proxy._ver = t._ver
                self._proxies[id(t)] = (t, proxy)
                _sync_watched()
            self._watched.append(t)

    def watched_variables(self) -> list:
        """The tensors watched explicitly."""
        return list(self._watched)

    @contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Operations inside are not recorded.

        >>> import chainrule as cr
        >>> x = cr.Variable(2.0)
        >>> with cr.GradientTape() as tape:
        ...     with tape.stop_recording():
        ...         y = x * x
        >>> print(tape.gradient(y, x))
        None
        """
        with no_grad():
            yield

    def reset(self) -> None:
        """Forget what was watched (the recorded graph lives in the tensors)."""
        self._watched = []
        self._proxies = {}
        _sync_watched()

    def _source(self, s: Any) -> Any:
        """The tensor whose node stands for source `s` on this tape."""
        p = self._proxies.get(id(s))
        return p[1] if p is not None and p[0] is s else s

    def _allowed(self, t: Tensor) -> bool:
        if self.watch_accessed_variables or not isinstance(t, Variable):
            return True
        return any(t is w for w in self._watched)

    def gradient(
        self,
        target: Any,
        sources: Any,
        output_gradients: Any = None,
        unconnected_gradients: str = "none",
    ) -> Any:
        """d(sum of targets)/d(sources), shaped like `sources`; None (or zeros with
        `unconnected_gradients="zero"`) where a source is not connected.

        Complex values follow TensorFlow's convention (PyTorch's too): the gradient of a real
        target with respect to a complex source is the conjugate Wirtinger gradient, the
        direction of steepest ascent (`cr.grad`'s conjugate), and `output_gradients` of
        complex targets are read the same way.

        >>> import chainrule as cr
        >>> z = cr.Variable(3 + 4j)
        >>> with cr.GradientTape() as tape:
        ...     loss = abs(z) ** 2
        >>> tape.gradient(loss, z)
        tensor(6.+8.j, dtype=complex128)
        """
        if self._used and not self.persistent:
            raise RuntimeError(
                "a non-persistent GradientTape can compute only one set of gradients: "
                "use GradientTape(persistent=True) to call gradient() more than once"
            )
        self._used = True
        targets = _tensors(target, "target")
        if output_gradients is None:  # a non-scalar or complex target: the gradient of its sum
            grads = [None if t._value.size == 1 and t.dtype.kind != "c" else
                     np.ones(t.shape, t.dtype) for t in targets]  # fmt: skip
        elif isinstance(target, Tensor):
            grads = [output_gradients]
        else:
            grads = list(output_gradients)
            if len(grads) != len(targets):
                raise ValueError(
                    f"output_gradients has {len(grads)} entries for {len(targets)} targets"
                )
        leaves, tree = tree_flatten(sources)
        leaves_eff = [self._source(s) for s in leaves]
        live = [i for i, s in enumerate(leaves_eff) if isinstance(s, Tensor) and
                s._node is not None and self._allowed(leaves[i])]  # fmt: skip
        keep = [(t, g) for t, g in zip(targets, grads) if t._node is not None]
        result: list = [None] * len(leaves)
        if keep and live:
            outer = any(tp._recording for tp in _tapes.stack if tp is not self)
            found = run_backward(
                [t for t, _ in keep],
                [g for _, g in keep],
                retain_graph=True if self.persistent else None,
                create_graph=outer,
                inputs=[leaves_eff[i] for i in live],
                accumulate=False,
                allow_unused=True,
            )
            for i, g in zip(live, found):
                result[i] = g
        if unconnected_gradients == "zero":
            result = [Tensor(np.zeros(s.shape, s.dtype)) if g is None else g
                      for s, g in zip(leaves, result)]  # fmt: skip
        return tree_unflatten(tree, result)

    def why_none(self, target: Tensor, source: Tensor) -> str:
        """Why `gradient(target, source)` is None: a short message naming where the path
        from the source to the target breaks (or that it doesn't).

        >>> import chainrule as cr
        >>> x, y = cr.Variable(1.0), cr.tensor(2.0)
        >>> with cr.GradientTape() as tape:
        ...     z = x * 3
        >>> print(tape.why_none(z, y))
        the source is a constant: never watched (tape.watch(x)) nor a trainable Variable
        """
        source = self._source(source)
        if not isinstance(source, Tensor) or source._node is None:
            return (
                "the source is a constant: never watched (tape.watch(x)) nor a trainable Variable"
            )
        if not self._allowed(source):
            return "the source is a Variable this tape does not watch (watch_accessed_variables)"
        if not isinstance(target, Tensor) or target._node is None:
            return ("the target was computed without recording: outside any tape, under "
                    "stop_recording/no_grad, or only from constants")  # fmt: skip
        seen, stack = set(), [target._node]
        while stack:
            n = stack.pop()
            if n is source._node:
                return "the gradient is connected (it is not None)"
            if n in seen:
                continue
            seen.add(n)
            stack.extend(p for p in n.parents if p is not None)
        return ("the target does not depend on the source through recorded operations: it was "
                "computed from a copy (detach, stop_gradient, an integer or boolean result, "
                "numpy() values) or under stop_recording")  # fmt: skip

    def jacobian(self, target: Tensor, sources: Any) -> Any:
        """The Jacobian of `target` with respect to each source: target.shape + source.shape."""
        leaves, tree = tree_flatten(sources)
        n = int(np.prod(target.shape))
        rows: list = [[] for _ in leaves]
        persistent, self.persistent = self.persistent, True
        try:
            for k in range(n):
                e = np.zeros(n, target.dtype)
                e[k] = 1
                g = self.gradient(target, list(leaves), e.reshape(target.shape), "zero")
                for j, gj in enumerate(g):
                    rows[j].append(gj._value)
        finally:
            self.persistent = persistent
        out = [Tensor(np.stack(r).reshape(target.shape + s.shape)) for r, s in zip(rows, leaves)]
        return tree_unflatten(tree, out)


def _sync_watched() -> None:
    """This thread's map of watched constants: the union over its active tapes."""
    _mode.watched = {k: v for tape in _tapes.stack for k, v in tape._proxies.items()}
