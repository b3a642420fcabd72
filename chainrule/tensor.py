"""PyTorch-style tensors on the reverse-mode engine.

A `Tensor` is a tracer of one global, per-thread `EagerTrace` at level 0: the same primitives,
rules and backward pass as `cr.grad`, recorded eagerly while `requires_grad` is on. Functional
transforms nest above it (``cr.grad(f)(tensor)`` works), and NumPy's functions return Tensors.

>>> import chainrule as cr
>>> x = cr.tensor(2.0, requires_grad=True)
>>> y = x ** 3 + x ** 2 - 6 * x + 1
>>> y.backward()
>>> x.grad
tensor(10.)
"""

from __future__ import annotations

import threading
import weakref
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import linalg as _linalg
from chainrule.core import ops as cnp
from chainrule.core.trace import Tracer, bind_with
from chainrule.rules.vjp import vjp_rules
from chainrule.transforms import reverse
from chainrule.transforms.reverse import FREED, Node, NodeMeta, ReverseTrace, RTracer

# --- grad mode -------------------------------------------------------------------------------


class _Mode(threading.local):
    """This thread's grad mode and the constants its tapes watch; `plain` is True when
    recording is on and nothing is watched (what the hot path reads, once)."""

    def __init__(self) -> None:
        self._enabled = True
        self._watched: dict = {}  # id(constant) -> (constant, proxy)
        self.plain = True

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self._enabled = on
        self.plain = on and not self._watched

    @property
    def watched(self) -> dict:
        return self._watched

    @watched.setter
    def watched(self, w: dict) -> None:
        self._watched = w
        self.plain = self._enabled and not w


_mode = _Mode()


class _GradMode:
    """Base of `no_grad` and `enable_grad`: a context manager and a decorator."""

    _value = True

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        _mode.enabled = self._value

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        mode = type(self)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """Operations inside record nothing (context manager or decorator).

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _value = False


class enable_grad(_GradMode):
    """Recording on again, inside `no_grad` (context manager or decorator).

    >>> import chainrule as cr
    >>> x = cr.tensor(1.0, requires_grad=True)
    >>> with cr.no_grad():
    ...     with cr.enable_grad():
    ...         y = x * 2
    >>> y.requires_grad
    True
    """

    _value = True


def is_grad_enabled() -> bool:
    """Whether Tensor operations are being recorded in this thread.

    >>> import chainrule as cr
    >>> cr.is_grad_enabled()
    True
    """
    return _mode.enabled


# --- the trace -------------------------------------------------------------------------------

class EagerTrace(ReverseTrace):
    """The level-0 trace every Tensor belongs to; records while grad mode is on."""

    __slots__ = ()
    versioned = True

    def wrap(self, value: Any, node: Node | None) -> Tensor:
        t = _object_new(Tensor)  # _new, inlined: this is the hot path
        t._trace = self
        t._value = value
        t._node = node
        t._grad = None
        t._ver = [0]
        return t

    def concrete(self, tracer: Tracer, what: str) -> Any:
        return tracer._value  # PyTorch's float(t), bool(t): the value, outside the graph

    def protect(self, v: Any) -> Any:
        """A NumPy array a Tensor operation saves: copied (Tensors have version counters)."""
        return np.array(v, copy=True)

    def process_primitive(self, prim: Any, args: tuple, params: dict) -> Any:
        mode = _mode
        if mode.plain:
            out = ReverseTrace.process_primitive(self, prim, args, params)
        elif mode.enabled:  # constants a tape of this thread watches: use their proxies
            w = mode.watched
            args = tuple(w[id(a)][1] if id(a) in w and w[id(a)][0] is a else a for a in args)
            out = ReverseTrace.process_primitive(self, prim, args, params)
        else:
            out = self.wrap_all(bind_with(prim, tuple(self.lower(a) for a in args), params), prim)
        if prim.view and isinstance(args[0], Tensor):
            out._ver = args[0]._ver
        return out


_EAGER = EagerTrace(0, "the Tensor face")
_object_new = object.__new__


# --- the tensor ------------------------------------------------------------------------------


def _new(value: Any, node: Node | None) -> Tensor:
    t = object.__new__(Tensor)
    t._trace = _EAGER
    t._value = value
    t._node = node
    t._grad = None
    t._ver = [0]
    return t


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._value
    elif isinstance(data, (list, tuple)) and cnp._has_tracer(data):
        data = cnp.array([_value_of(d) for d in data])
    return np.array(data, dtype=dtype)


def _value_of(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x._value
    if isinstance(x, (list, tuple)):
        return [_value_of(e) for e in x]
    return x


def _np_index(index: Any) -> Any:
    """An index with Tensors (integer or boolean) replaced by their values."""
    if type(index) is tuple:
        return tuple(_np_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._value
    if isinstance(index, list):
        return np.asarray(_value_of(index))
    return index


def _check_device(device: Any) -> None:
    if device not in (None, "cpu"):
        raise NotImplementedError(
            f"device={device!r}: only 'cpu' for now (CuPy-backed 'cuda' tensors are planned)"
        )


class Tensor(RTracer):
    """An array that records the operations applied to it while `requires_grad` is on.

    >>> import chainrule as cr
    >>> t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (t * t).sum().backward()
    >>> t.grad
    tensor([[2., 4.],
            [6., 8.]])
    """

    __slots__ = ("_grad", "_ver", "__weakref__")

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False):
        self._trace = _EAGER
        self._value = _as_array(data, dtype)
        self._node = None
        self._grad = None
        self._ver = [0]
        if requires_grad:
            self.requires_grad_()

    # -- basic attributes (shape and dtype come from RTracer) ----------------------------------
    @property
    def device(self) -> str:
        return "cpu"

    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph."""
        return self.detach()

    def size(self, dim: int | None = None) -> Any:  # type: ignore[override]
        """The shape (PyTorch's `size()`), or the length along `dim`."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        """The number of dimensions."""
        return self._value.ndim

    def numel(self) -> int:
        """The number of elements."""
        return int(self._value.size)

    @property
    def requires_grad(self) -> bool:
        return self._node is not None

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Turn gradient recording on (or off) for a leaf; returns the tensor.

        >>> import chainrule as cr
        >>> cr.zeros(2).requires_grad_().requires_grad
        True
        """
        if not self.is_leaf:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf tensors; use "
                "t.detach().requires_grad_() for a new leaf"
            )
        if requires_grad:
            if self._value.dtype.kind not in "fc":
                raise RuntimeError(
                    f"only floating point and complex tensors can require gradients, "
                    f"got {self._value.dtype}"
                )
            if self._node is None:
                node = Node(None, None, (), self._value.shape, self._value.dtype)
                node.meta = NodeMeta(weakref.ref(self))
                self._node = node
        else:
            self._node = None
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None or self._node.prim is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that made this tensor (None for leaves)."""
        return None if self.is_leaf else self._node

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        self._grad = None if value is None else (value if isinstance(value, Tensor) else
                                                 Tensor(value))  # fmt: skip

    def _accumulate(self, g: Any) -> None:
        g = g if isinstance(g, Tensor) else _new(g, None)
        if self._grad is None:
            self._grad = g if g._node is not None or g._value.base is None else _new(
                np.array(g._value), None
            )
        else:
            self._grad = self._grad + g

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` during backward."""
        if self._node is None:
            raise RuntimeError("can't retain_grad on a Tensor that has requires_grad=False")
        if self.is_leaf:
            return
        meta = self._node.meta or NodeMeta()
        meta.owner = weakref.ref(self)
        meta.retain = True
        self._node.meta = meta

    @property
    def retains_grad(self) -> bool:
        m = None if self._node is None else self._node.meta
        return bool(m is not None and m.retain)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle with `.remove()`.

        >>> import chainrule as cr
        >>> x = cr.tensor(1.0, requires_grad=True)
        >>> h = x.register_hook(lambda g: g * 2)
        >>> (3 * x).backward()
        >>> x.grad
        tensor(6.)
        """
        if self._node is None:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require grad")
        meta = self._node.meta or NodeMeta()
        self._node.meta = meta

        def raw_hook(g: Any) -> Any:
            r = hook(g if isinstance(g, Tensor) else _new(g, None))
            if r is None:
                return None
            return r if isinstance(g, Tensor) else _value_of(r)

        meta.hooks.append(raw_hook)
        return _HookHandle(meta.hooks, raw_hook)

    # -- conversion ----------------------------------------------------------------------------
    def detach(self) -> Tensor:
        """A tensor sharing this one's memory and version counter, outside the graph."""
        t = _new(self._value, None)
        t._ver = self._ver
        return t

    def detach_(self) -> Tensor:
        """Detach in place: this tensor becomes a leaf that doesn't require grad."""
        self._node = None
        return self

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (sharing memory).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        if self._node is not None:
            raise RuntimeError(
                "can't call numpy() on a tensor that requires grad: use t.detach().numpy()"
            )
        return np.asarray(self._value)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._node is not None:
            raise RuntimeError(
                "can't convert a tensor that requires grad to a NumPy array: use "
                "t.detach().numpy()"
            )
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self) -> float:  # PyTorch's: the value, outside the graph
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def item(self) -> Any:
        """The single value as a Python number."""
        if self._value.size != 1:
            raise RuntimeError(
                f"a tensor with {self._value.size} elements cannot be converted to a scalar"
            )
        return self._value.item()

    def tolist(self) -> Any:
        """The values as nested Python lists."""
        return self._value.tolist()

    def to(self, device: Any = None, dtype: Any = None) -> Tensor:
        """This tensor on `device` ('cpu') and/or as `dtype` (a recorded cast)."""
        if isinstance(device, (np.dtype, type)) and dtype is None:
            device, dtype = None, device
        _check_device(device)
        return self if dtype is None else cnp.astype(self, dtype)

    def cpu(self) -> Tensor:
        """This tensor (already on the CPU)."""
        return self

    def float(self) -> Tensor:  # noqa: A003
        """As float32 (PyTorch's float)."""
        return cnp.astype(self, np.float32)

    def double(self) -> Tensor:
        """As float64."""
        return cnp.astype(self, np.float64)

    def clone(self) -> Tensor:
        """A copy, in the graph (gradients flow back to this tensor)."""
        return cnp.astype(self, self.dtype) if self._node is None else self * 1

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", prefix="tensor(")
        extra = ""
        if self._value.dtype not in (np.float64, np.float32):
            extra += f", dtype={self._value.dtype}"
        if self._node is not None:
            extra += (", requires_grad=True" if self.is_leaf else
                      f", grad_fn=<{self._node.name()}>")  # fmt: skip
        return f"tensor({body}{extra})"

    __str__ = __repr__

    # -- in place --------------------------------------------------------------------------------
    def _check_inplace(self) -> None:
        if _mode.enabled and self._node is not None and self._node.prim is None:
            raise RuntimeError(
                "a leaf tensor that requires grad is being used in an in-place operation; "
                "do it under cr.no_grad() (as an optimizer step does)"
            )

    def _write(self, value: Any) -> None:
        """Write `value` into this tensor's memory (views see it); the graph is unchanged."""
        self._ver[0] += 1
        v = self._value
        if type(v) is np.ndarray and v.flags.writeable and np.shape(value) == v.shape and \
                np.can_cast(np.result_type(value), v.dtype, "same_kind"):  # fmt: skip
            np.copyto(v, value, casting="same_kind")
        else:
            self._value = np.asarray(value, dtype=v.dtype)

    def __setitem__(self, index: Any, value: Any) -> None:
        """`t[index] = value`, differentiable in both `t` and `value` (a recorded index_set)."""
        self._check_inplace()
        v = value if isinstance(value, Tracer) else np.asarray(_value_of(value))
        if _mode.enabled and (self._node is not None or (isinstance(v, Tensor) and
                                                         v._node is not None)):  # fmt: skip
            new = cnp.index_set(self, index, v)
            self._ver[0] += 1
            if self._value.flags.writeable and new._value.dtype == self._value.dtype:
                self._value[_np_index(index)] = _value_of(v)  # views of this tensor see it
            else:
                self._value = new._value
            self._node = new._node
        else:
            self._ver[0] += 1
            if not self._value.flags.writeable:
                self._value = np.array(self._value)
            self._value[_np_index(index)] = _value_of(v)

    def _inplace(self, op: Callable, other: Any) -> Tensor:
        self._check_inplace()
        if not _mode.enabled or (self._node is None and not (isinstance(other, Tensor) and
                                                             other._node is not None)):  # fmt: skip
            with no_grad():  # not recorded: the values change, the graph does not
                self._write(op(self, other)._value)
            return self
        new = op(self, other)
        self._ver[0] += 1
        self._value, self._node = new._value, new._node
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(lambda a, b: a + b, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(lambda a, b: a - b, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(lambda a, b: a * b, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(lambda a, b: a / b, other)

    def __ipow__(self, other: Any) -> Tensor:
        return self._inplace(lambda a, b: a**b, other)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place `self += alpha * other`."""
        return self._inplace(lambda a, b: a + alpha * b, other)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place `self -= alpha * other`."""
        return self._inplace(lambda a, b: a - alpha * b, other)

    def mul_(self, other: Any) -> Tensor:
        """In-place `self *= other`."""
        return self._inplace(lambda a, b: a * b, other)

    def zero_(self) -> Tensor:
        """Fill with zeros, in place."""
        return self._inplace(lambda a, b: a * 0, None)

    def fill_(self, value: float) -> Tensor:
        """Fill with `value`, in place."""
        return self._inplace(lambda a, b: a * 0 + value, None)

    def copy_(self, src: Any) -> Tensor:
        """Copy `src` into this tensor, in place (differentiable in `src`)."""
        return self._inplace(lambda a, b: a * 0 + b, src)

    # -- backward ------------------------------------------------------------------------------
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate the gradient of this tensor (weighted by `gradient`, the vector of a
        vector-Jacobian product) into `.grad` of the leaves it depends on.

        >>> import numpy as np, chainrule as cr
        >>> X = cr.tensor(np.linspace(-3, 3, 5), requires_grad=True)
        >>> Y = X ** 3 + X ** 2 - 6 * X + 1
        >>> Y.backward(gradient=cr.ones_like(Y))
        >>> X.grad
        tensor([15.  , -2.25, -6.  ,  3.75, 27.  ])
        """
        run_backward([self], [gradient], retain_graph, create_graph, inputs)

    def explain(self) -> Any:
        """The forward and backward tables of the chain rule behind this tensor (see
        `cr.explain`); intermediate values the graph did not keep show as —.

        >>> import chainrule as cr
        >>> x = cr.tensor(2.0, requires_grad=True)
        >>> print(str((x ** 3 + x).explain()).splitlines()[-1])
        Result: df/dx = 13
        """
        from chainrule.core.plugins import load

        return load("explain")(self)

    # reductions etc. come from Tracer's NumPy methods; PyTorch's names too:
    def abs(self) -> Tensor:  # noqa: A003
        return cnp.abs(self)

    def exp(self) -> Tensor:
        return cnp.exp(self)

    def log(self) -> Tensor:
        return cnp.log(self)

    def sin(self) -> Tensor:
        return cnp.sin(self)

    def cos(self) -> Tensor:
        return cnp.cos(self)

    def tanh(self) -> Tensor:
        return cnp.tanh(self)

    def sqrt(self) -> Tensor:
        return cnp.sqrt(self)

    def sigmoid(self) -> Tensor:
        return 0.5 * (cnp.tanh(self * 0.5) + 1)

    def relu(self) -> Tensor:
        return cnp.maximum(self, 0)

    def pow(self, exponent: Any) -> Tensor:  # noqa: A003
        return self**exponent

    def transpose(self, *axes: Any) -> Tensor:  # type: ignore[override]
        """PyTorch's `t.transpose(dim0, dim1)` swaps two dimensions; any other call is
        NumPy's (`t.transpose()`, `t.transpose(axes)`)."""
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            return cnp.swapaxes(self, *axes)
        return cnp.transpose(self, None if not axes else (axes[0] if len(axes) == 1 else axes))

    def permute(self, *dims: Any) -> Tensor:
        """The dimensions in the order `dims` (PyTorch's permute)."""
        return cnp.transpose(self, dims[0] if len(dims) == 1 else dims)

    def _reduce(self, fn: Callable, dim: Any, keepdim: bool, kwargs: dict) -> Tensor:
        axis = kwargs.pop("axis", dim)
        keepdims = kwargs.pop("keepdims", keepdim)
        return fn(self, axis=axis, keepdims=keepdims, **kwargs)

    def sum(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:  # noqa: A003
        """The sum over `dim` (PyTorch) or `axis` (NumPy)."""
        return self._reduce(cnp.sum, dim, keepdim, kw)

    def mean(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The mean over `dim` (PyTorch) or `axis` (NumPy)."""
        return self._reduce(cnp.mean, dim, keepdim, kw)

    def view(self, *shape: Any) -> Tensor:
        return cnp.reshape(self, shape[0] if len(shape) == 1 else shape)

    def t(self) -> Tensor:
        return cnp.transpose(self)

    def norm(self) -> Tensor:
        return _linalg.norm(self)

    def matmul(self, other: Any) -> Tensor:
        return cnp.matmul(self, other)

    def unsqueeze(self, dim: int) -> Tensor:
        return cnp.expand_dims(self, dim)

    def flatten(self) -> Tensor:  # type: ignore[override]
        return cnp.ravel(self)


class _HookHandle:
    def __init__(self, hooks: list, hook: Any):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# --- running the backward pass ---------------------------------------------------------------


def _tensors(x: Any, name: str) -> list:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    raise TypeError(f"{name} must be a Tensor or a sequence of Tensors, got {type(x).__name__}")


def _seed(t: Tensor, g: Any, i: int) -> Any:
    if t._node is None:
        raise RuntimeError(
            f"element {i} of tensors does not require grad and does not have a grad_fn"
        )
    if g is None:
        if t._value.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs (this output has "
                f"shape {t.shape}): pass gradient= (the vector of the vector-Jacobian product)"
            )
        return np.array(1, t.dtype).reshape(t.shape)
    if isinstance(g, Tensor) and g._node is not None:
        val = g
    else:  # a copy: the gradients it becomes must not alias the caller's array
        val = np.array(_value_of(g), dtype=t.dtype)
    if val.shape != t.shape:
        raise RuntimeError(f"mismatch in shape: gradient has shape {val.shape}, output {t.shape}")
    return val


def _lift(node: Node) -> tuple:
    """The values a node saved, as Tensors in the graph (to record the backward pass)."""
    saved = node.saved
    if saved is FREED or vjp_rules[node.prim].joint is not None:
        return saved
    out = [saved[0] if saved[0] is None or isinstance(saved[0], tuple) else _new(saved[0], node)]
    for v, p in zip(saved[1:], node.parents):
        if p is not None and not isinstance(v, Node) and not isinstance(v, Tracer):
            out.append(_new(v, p))
        else:
            out.append(v)
    return tuple(out)


def run_backward(
    outputs: list,
    grads: list,
    retain_graph: bool | None,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
    accumulate: bool = True,
    allow_unused: bool = True,
) -> list:
    """The backward pass from Tensors: into `.grad` of the leaves (`accumulate`), or returned
    for `inputs` (which may be intermediate tensors)."""
    retain = create_graph if retain_graph is None else retain_graph
    roots = [(t._node, _seed(t, g, i)) for i, (t, g) in enumerate(zip(outputs, grads))]
    if create_graph:
        roots = [(n, g if isinstance(g, Tensor) else _new(g, None)) for n, g in roots]
    capture = None
    targets = []
    if inputs is not None:
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor) or t._node is None:
                raise RuntimeError(f"input {i} does not require grad")
            targets.append(t._node)
        capture = {n: None for n in targets}
    if create_graph:  # the backward pass records itself
        with enable_grad():
            leaves = reverse.backward_pass(roots, retain, _lift, capture)
    else:  # on raw arrays; what custom backward functions do on Tensors is not recorded
        mode = _mode
        prev, plain = mode._enabled, mode.plain
        mode._enabled = mode.plain = False
        try:
            leaves = reverse.backward_pass(roots, retain, None, capture)
        finally:
            mode._enabled, mode.plain = prev, plain
    results = []
    if inputs is not None:
        for n in targets:
            g = n.ct if n.prim is None else capture.get(n)
            results.append(g)
    handed: set = set()
    for leaf in leaves:
        g, leaf.ct = leaf.ct, None
        if id(g) in handed:  # one array reached two leaves (x + y): each gets its own
            g = g * 1 if isinstance(g, Tensor) else np.array(g)
        handed.add(id(g))
        if accumulate and (inputs is None or leaf in targets):
            meta = leaf.meta
            if meta is not None:
                for h in meta.hooks:
                    r = h(g)
                    if r is not None:
                        g = r
                t = meta.owner() if meta.owner is not None else None
                if t is not None:
                    t._accumulate(g)
    if accumulate and inputs is not None:  # non-leaf inputs get their .grad too (PyTorch)
        for t, n, g in zip(inputs, targets, results):
            if n.prim is not None and g is not None:
                t._accumulate(g)
    out = []
    for g in results:
        if g is None and not allow_unused:
            raise RuntimeError(
                "one of the differentiated tensors appears to not have been used in the graph; "
                "set allow_unused=True if this is the desired behavior"
            )
        out.append(None if g is None else (g if isinstance(g, Tensor) else _new(g, None)))
    return out


# --- creation --------------------------------------------------------------------------------


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of `data` (Python floats and lists stay float64).

    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    _check_device(device)
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _shape_args(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _factory(npfun: Callable, name: str) -> Callable:
    def make(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
        _check_device(device)
        return Tensor(npfun(_shape_args(shape), dtype or np.float64), requires_grad=requires_grad)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"""A new tensor of `numpy.{npfun.__name__}` values; the shape as a tuple or
    as separate integers.

    >>> import chainrule as cr
    >>> cr.{name}(2, 3).shape
    (2, 3)
    """
    return make


zeros = _factory(np.zeros, "zeros")
ones = _factory(np.ones, "ones")
empty = _factory(np.empty, "empty")


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:  # fmt: skip
    """A new tensor filled with `fill_value`.

    >>> import chainrule as cr
    >>> cr.full((2,), 3.0)
    tensor([3., 3.])
    """
    _check_device(device)
    return Tensor(np.full(shape, fill_value, dtype), requires_grad=requires_grad)


def _like(npfun: Callable, name: str) -> Callable:
    def make(t: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
        _check_device(device)
        v = t._value if isinstance(t, Tensor) else np.asarray(t)
        return Tensor(npfun(v, dtype=dtype), requires_grad=requires_grad)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"""A new tensor like `t` (shape and dtype) of `numpy.{npfun.__name__}`.

    >>> import chainrule as cr
    >>> cr.{name}(cr.zeros(2)).shape
    (2,)
    """
    return make


zeros_like = _like(np.zeros_like, "zeros_like")
ones_like = _like(np.ones_like, "ones_like")


def arange(*args: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
    """`numpy.arange` as a tensor.

    >>> import chainrule as cr
    >>> cr.arange(3)
    tensor([0, 1, 2], dtype=int64)
    """
    _check_device(device)
    return Tensor(np.arange(*args, dtype=dtype), requires_grad=requires_grad)


def linspace(start: float, stop: float, steps: int, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:  # fmt: skip
    """`steps` evenly spaced values from `start` to `stop` (as `torch.linspace`).

    >>> import chainrule as cr
    >>> cr.linspace(-3, 3, 3)
    tensor([-3.,  0.,  3.])
    """
    _check_device(device)
    return Tensor(np.linspace(start, stop, steps, dtype=dtype), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
        device: Any = None) -> Tensor:  # fmt: skip
    """The identity matrix.

    >>> import chainrule as cr
    >>> cr.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    _check_device(device)
    return Tensor(np.eye(n, m, dtype=dtype or np.float64), requires_grad=requires_grad)


_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind `rand` and `randn`.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); a = cr.rand(2); cr.manual_seed(0)
    >>> bool((a.numpy() == cr.rand(2).numpy()).all())
    True
    """
    global _rng
    _rng = np.random.default_rng(seed)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
    """Uniform values in [0, 1).

    >>> import chainrule as cr
    >>> cr.rand(2, 2).shape
    (2, 2)
    """
    _check_device(device)
    v = _rng.random(_shape_args(shape))
    return Tensor(v, dtype=dtype, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
    """Standard normal values.

    >>> import chainrule as cr
    >>> cr.randn(3).shape
    (3,)
    """
    _check_device(device)
    v = _rng.standard_normal(_shape_args(shape))
    return Tensor(v, dtype=dtype, requires_grad=requires_grad)

