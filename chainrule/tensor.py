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

import math
import threading
import weakref
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule import torch_functions as _F  # PyTorch's functions, which the methods call
from chainrule.core import linalg as _la
from chainrule.core import ops as cnp
from chainrule.core.errors import DeviceMismatchError
from chainrule.core.namespace import MOVED as _MOVED
from chainrule.core.namespace import Namespace, canonical_device, device_of, is_foreign
from chainrule.core.namespace import op_name, parse_device, transfer
from chainrule.core.primitives import integer_pow_p as _integer_pow_p
from chainrule.core.primitives import where_p as _where_p
from chainrule.core.trace import ForeignTracer, Tracer, bind_with, box
from chainrule.numpy import _extra as _cx
from chainrule.rules.impl import impl_rules
from chainrule.rules.vjp import LIFTED, vjp_rules
from chainrule.transforms import executor, reverse
from chainrule.transforms import jit as _jit
from chainrule.transforms.reverse import FREED, Node, NodeMeta, ReverseTrace, RTracer
from chainrule.transforms.reverse import _seq as _node_seq

# --- grad mode -------------------------------------------------------------------------------


#: One entry per thread that is not plain (recording off, or constants watched): while it is
#: empty the hot path does not read its thread's mode (a thread-local read costs as much as
#: a small call). append and pop are atomic. A thread that ends while not plain leaves its
#: entry: the hot path then reads the mode.
_NOT_PLAIN: list = []


class _Mode(threading.local):
    """This thread's grad mode and the constants its tapes watch; `plain` is True when
    recording is on and nothing is watched (what the hot path reads, once)."""

    def __init__(self) -> None:
        self._enabled = True
        self._watched: dict = {}  # id(constant) -> (constant, proxy)
        self._plain = True

    @property
    def plain(self) -> bool:
        return self._plain

    @plain.setter
    def plain(self, on: bool) -> None:
        on = bool(on)
        if on is not self._plain:
            if on:
                _NOT_PLAIN.pop()
            else:
                _NOT_PLAIN.append(None)
            self._plain = on

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, on: bool) -> None:
        self._enabled = on
        self.plain = on and not self._watched

    def off(self) -> tuple:
        """Recording off in this thread (a backward pass without create_graph); returns
        what `restore` takes. (One thread-local read: the hot path's.)"""
        d = self.__dict__  # this thread's attributes
        state = (d["_enabled"], d["_plain"])
        d["_enabled"] = False
        if state[1]:
            d["_plain"] = False
            _NOT_PLAIN.append(None)
        return state

    def restore(self, state: tuple) -> None:
        """Undo `off`."""
        d = self.__dict__
        d["_enabled"] = state[0]
        if state[1]:
            d["_plain"] = True
            _NOT_PLAIN.pop()

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
        if len(args) > 1:
            if _MOVED[0]:  # some value lives on a device other than the CPU
                _same_device(prim, args)
            if prim.elementwise and _mixed(args):
                args = _promote(prim, args)  # PyTorch's promotion of 0-d operands
        if prim.elementwise and type(impl_rules.get(prim)) is np.ufunc and _small_ints(args):
            args = _floats_of_small_ints(prim, args, params)
        if not _NOT_PLAIN or _mode.plain:
            out = ReverseTrace.process_primitive(self, prim, args, params)
        elif _mode.enabled:  # constants a tape of this thread watches: use their proxies
            w = _mode.watched
            args = tuple(w[id(a)][1] if id(a) in w and w[id(a)][0] is a else a for a in args)
            out = ReverseTrace.process_primitive(self, prim, args, params)
        else:
            out = self.wrap_all(bind_with(prim, tuple(self.lower(a) for a in args), params), prim)
        if args and isinstance(args[0], Tensor) and type(args[0]._value) is np.ndarray:
            iv = args[0]._value
            for k, o in enumerate(out if type(out) is tuple else (out,)):
                ov = o._value if isinstance(o, Tensor) else None
                if type(ov) is np.ndarray and (ov is iv or (ov.base is not None and
                                                            np.may_share_memory(ov, iv))):
                    # a view or an alias (of several results: one of them)
                    _track(args[0], o, _PRIM, (prim, params, k if type(out) is tuple else None))
                elif prim.view and isinstance(o, Tensor):
                    o._ver = args[0]._ver
        return out


_EAGER = EagerTrace(0, "the Tensor face")
_object_new = object.__new__
_GENERIC = np.generic
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def _same_device(prim: Any, args: tuple) -> None:
    """PyTorch's rule: the Tensors of one operation live on one device (a 0-d CPU Tensor
    may join tensors on a GPU, as a number does); NumPy arrays and numbers are constants,
    made arrays of the Tensors' device."""
    found = None
    for a in args:
        if not isinstance(a, Tensor):
            continue
        v = a._value
        if type(v) is ForeignTracer:
            d = device_of(v._value)
        elif isinstance(v, Tracer) or not np.ndim(v):
            continue  # a staged value (inside jit), or a 0-d CPU tensor
        else:
            d = "cpu"
        if found is None:
            found = d
        elif d != found:
            raise DeviceMismatchError(
                f"{op_name(prim)}: expected all tensors to be on the same device, but found at "
                f"least two devices, {found!r} and {d!r}; move one with t.to(device)"
            )


def _mixed(args: tuple) -> bool:
    """Whether PyTorch's promotion could differ from NumPy's for these operands: a NumPy
    scalar among them, or arrays of different dtypes (the hot path: one dtype throughout)."""
    if len(args) == 2:  # two Tensors of one dtype, or a Tensor and a Python number: False
        x, y = args
        tx, ty = type(x), type(y)
        if tx is Tensor:
            if ty is float or ty is int or (ty is Tensor and x._value.dtype is y._value.dtype):
                return False
        elif ty is Tensor and (tx is float or tx is int):
            return False
    d = None
    for a in args:
        t = type(a)
        if t is Tensor:
            dt = a._value.dtype
        elif t is float or t is int or t is bool or t is complex:
            continue
        elif isinstance(a, _GENERIC):
            return True
        else:
            dt = getattr(a, "dtype", None)
        if d is None:
            d = dt
        elif dt is not d:
            return True
    return False


def _small_ints(args: tuple) -> bool:
    """Whether the arrays among `args` are all booleans or integers, one of them of fewer
    than 4 bytes (NumPy computes float functions of those in float16 or float32)."""
    small = False
    for a in args:
        dt = getattr(a, "dtype", None)
        if dt is None:
            continue
        if dt.kind not in "biu":
            return False
        small = small or dt.itemsize < 4
    return small


_FLOAT_OF_INTS: dict = {}  # (primitive, operand dtypes) -> whether NumPy's result is a float


def _floats_of_small_ints(prim: Any, args: tuple, params: dict) -> tuple:
    """`args`, their integer and boolean arrays made float64 when `prim` gives a float of
    them: a float function of integers is float64 on Tensors (`exp` of a uint8 Tensor: not
    NumPy's float16, which overflows at 12)."""
    key = (prim, tuple(getattr(a, "dtype", None) for a in args))
    floats = _FLOAT_OF_INTS.get(key)
    if floats is None:
        try:
            trial = prim.impl(*[np.ones(1, a.dtype) if hasattr(a, "dtype") else a
                                for a in args], **params)  # fmt: skip
            floats = np.result_type(trial).kind in "fc"
        except Exception:  # (the operation itself will say what is wrong)
            floats = False
        _FLOAT_OF_INTS[key] = floats
    if not floats:
        return args
    return tuple(cnp.astype(a, np.float64) if isinstance(a, Tensor) else
                 np.asarray(a, np.float64) if isinstance(a, (np.ndarray, np.generic)) else a
                 for a in args)  # fmt: skip


def _pt_promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's `promote_types`: NumPy's within a category (and between floats and complex
    numbers), but across categories the higher one's type, unwidened: float32 with int64 is
    float32, float16 with int16 float16, int8 with bool int8."""
    ca, cb = _CATEGORY.get(a.kind, -1), _CATEGORY.get(b.kind, -1)
    if ca == cb or (ca >= 2 and cb >= 2) or min(ca, cb) < 0:
        return np.result_type(a, b)
    return a if ca > cb else b


def _combine(dim: np.dtype | None, zero: np.dtype | None) -> np.dtype | None:
    """PyTorch's result type of operands with dimensions (`dim`) and 0-d ones (`zero`): the
    0-d ones count only when of a higher category (a complex 0-d with floats: complex of the
    floats' precision)."""
    if dim is None or zero is None:
        return dim if zero is None else zero
    cd, cz = _CATEGORY.get(dim.kind, -1), _CATEGORY.get(zero.kind, -1)
    if cd < 0 or cz < 0:
        return None
    if cz <= cd:
        return dim
    if cz == 3 and cd == 2:
        return np.result_type(dim, np.complex64)
    return _pt_promote(dim, zero)


def _promote(prim: Any, args: tuple) -> tuple:
    """The operands of an elementwise operation on Tensors, cast to PyTorch's result type: a
    NumPy scalar counts as a Python scalar (weakly typed: `x32 * np.float64(2)` stays
    float32); integers and booleans never widen a floating type (`_pt_promote`); a 0-d array
    or Tensor takes part only when of a higher category than the operands with dimensions
    (`_combine`). Python numbers stay NumPy's weak scalars. The functional face keeps NumPy's
    rules."""
    first = 1 if prim is _where_p else 0  # where's condition is not promoted
    out = list(args)
    dims, zero = [], []
    for i in range(first, len(args)):
        a = args[i]
        if isinstance(a, _GENERIC):
            out[i] = a.item()
        elif isinstance(a, _ARRAYS):
            (dims if a.shape else zero).append(i)
    dim_t = zero_t = None
    for i in dims:
        dim_t = args[i].dtype if dim_t is None else _pt_promote(dim_t, args[i].dtype)
    for i in zero:
        zero_t = args[i].dtype if zero_t is None else _pt_promote(zero_t, args[i].dtype)
    target = _combine(dim_t, zero_t)
    if target is None:
        return tuple(out)
    for i in dims + zero:
        z = args[i]
        if z.dtype != target:
            out[i] = cnp.astype(z, target) if isinstance(z, Tensor) else np.asarray(z, target)
    return tuple(out)


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
    if type(data) is ForeignTracer:
        data = data._value
    if type(data) is not np.ndarray and is_foreign(data):  # stays in its namespace and device
        _MOVED[0] = True
        xp = data.__array_namespace__()
        dt = data.dtype if dtype is None else getattr(xp, np.dtype(dtype).name)
        return ForeignTracer(xp.astype(data, dt, copy=True))  # a copy, as torch.tensor's
    return np.array(data, dtype=dtype)


def _placed(value: Any, device: Any) -> Any:
    """A Tensor's value (a NumPy array, or a `ForeignTracer` of another namespace's array)
    on `device` (None: where it is); moved when it is elsewhere (the one transfer asked for)."""
    if device is None:
        return value
    dst = canonical_device(device)
    raw = value._value if type(value) is ForeignTracer else value
    src = device_of(raw)
    return value if src == dst else cnp.move(raw, dst, src)


def _host(value: Any) -> np.ndarray:
    """A Tensor's value as a NumPy array, copied from its device (an explicit transfer)."""
    return transfer(value._value, "cpu") if type(value) is ForeignTracer else np.asarray(value)


# Pickling lives here, not in chainrule.io (which imports this module): no import cycle.
def _extra_slots(cls: type) -> list[str]:
    """The attributes a Tensor subclass adds (its slots below Tensor)."""
    names: list[str] = []
    for c in cls.__mro__:
        if c is Tensor:
            break
        slots = c.__dict__.get("__slots__", ())
        for s in (slots,) if isinstance(slots, str) else slots:
            if s not in ("__weakref__", "__dict__") and s not in names:
                names.append(s)
    return names


def _reduce_tensor(t: Tensor) -> tuple:
    value = t._value
    if type(value) is ForeignTracer:  # its values from the host, loaded back onto its device
        return (_rebuild_on, (_reduced(t, _host(value)), t.device))
    if isinstance(value, Tracer):
        raise TypeError("cannot pickle or copy a Tensor inside a transformation (grad, jit, "
                        "vmap): it has no value yet")  # fmt: skip
    return _reduced(t, np.asarray(value))


def _reduced(t: Tensor, value: np.ndarray) -> tuple:
    """pickle's reduction of `t` with the NumPy array `value` as its values."""
    cls = type(t)
    attrs = None
    if cls is not Tensor:
        attrs = {s: getattr(t, s) for s in _extra_slots(cls) if hasattr(t, s)}
        attrs.update(getattr(t, "__dict__", {}))
    if value.dtype.byteorder not in "=|":  # NumPy's pickle (protocol < 5) drops it
        return (_rebuild_tensor, (value, t.requires_grad, cls, attrs, value.dtype.str))
    if cls is Tensor:
        return (_rebuild_tensor, (value, t.requires_grad))
    return (_rebuild_tensor, (value, t.requires_grad, cls, attrs))


def _rebuild_tensor(value: Any, requires_grad: bool, cls: type | None = None,
                    attrs: dict | None = None, dtype: str | None = None) -> Tensor:  # fmt: skip
    """pickle's reconstructor: a new leaf (of class `cls`) on `value`."""
    cls = Tensor if cls is None else cls
    if not (isinstance(cls, type) and issubclass(cls, Tensor)):
        raise TypeError(f"cannot rebuild a Tensor of class {cls!r}")
    t = Tensor.__new__(cls)
    Tensor.__init__(t, value, dtype)
    for k, v in (attrs or {}).items():
        setattr(t, k, v)
    if requires_grad:
        t.requires_grad_()
    return t


def _rebuild_on(reduced: tuple, device: Any) -> Tensor:
    """pickle's reconstructor of a tensor on a device other than the CPU."""
    fn, args = reduced
    t = fn(*args)
    t._value = _placed(t._value, device)
    return t


def _deepcopy_tensor(t: Tensor, memo: dict) -> Tensor:
    import copy

    if id(t) in memo:
        return memo[id(t)]
    if not t.is_leaf:
        raise RuntimeError(
            "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
            "protocol; copy t.detach() (a new leaf) instead"
        )
    fn, args = _reduce_tensor(t)
    new = fn(*copy.deepcopy(args, memo))
    memo[id(t)] = new
    if t._grad is not None:
        new._grad = copy.deepcopy(t._grad, memo)
    return new


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
    """An unknown device name is a ValueError ('cpu', 'cuda', 'cuda:N' or a namespace's device
    object are known; a GPU without CuPy is an ImportError when a tensor is put there)."""
    if device is not None and device != "cpu":
        parse_device(device)


def _is_device(a: Any) -> bool:
    """Whether `a`, an argument of ``to(...)``, is a device object (``torch.device``,
    ``cupy.cuda.Device``, ``array_api_strict.Device``, ...), not a dtype."""
    return type(a).__name__ in ("device", "Device")


def to_arguments(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """(device, dtype) of PyTorch's ``to(...)`` arguments (`Tensor.to`, `nn.Module.to`):
    ``to(dtype)``, ``to(device, dtype)``, ``to(other)`` (other's dtype), ``device=``,
    ``dtype=``; the device checked (`_check_device`). `kwargs` is consumed: a keyword left
    over is a TypeError (``non_blocking`` is accepted and ignored).

    >>> import numpy as np
    >>> to_arguments(("cpu", np.float32), {})
    ('cpu', <class 'numpy.float32'>)
    """
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, str) or a is None or _is_device(a):
            device = a
        else:
            dtype = a
    _check_device(device)
    return device, dtype


class Tensor(RTracer):
    """An array that records the operations applied to it while `requires_grad` is on.

    Methods follow PyTorch (`dim=`, `keepdim=`, `t.max(dim)` -> (values, indices), in-place
    `*_` methods); NumPy's spelling of the same methods (`axis=`, `keepdims=`, `ddof=`) keeps
    NumPy's meaning, so NumPy code runs on Tensors unchanged.

    >>> import chainrule as cr
    >>> t = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (t * t).sum().backward()
    >>> t.grad
    tensor([[2., 4.],
            [6., 8.]])
    """

    __slots__ = ("_grad", "_ver", "_base", "_views", "__weakref__")

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None):  # fmt: skip
        self._trace = _EAGER
        v = _as_array(data, dtype)
        self._value = v if device is None else _placed(v, device)
        self._node = None
        self._grad = None
        self._ver = [0]
        if requires_grad:
            self.requires_grad_()

    # -- pickle and deepcopy (PyTorch's rules; `cr.save` is the safe format) --------------------
    def __reduce_ex__(self, protocol: Any) -> tuple:
        """Pickle as PyTorch does: the value (a NumPy array) and ``requires_grad``, loaded as
        a leaf; a tensor inside a graph loads detached from it, ``.grad`` is not kept.

        >>> import pickle, chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> y = pickle.loads(pickle.dumps(x * 2))
        >>> y, y.is_leaf
        (tensor([2., 4.], requires_grad=True), True)
        """
        return _reduce_tensor(self)

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A copy of a leaf with its value, ``requires_grad`` and ``.grad`` (PyTorch's rule:
        a tensor made by a recorded operation refuses, use ``t.detach()``).

        >>> import copy, chainrule as cr
        >>> x = cr.tensor([1.0], requires_grad=True)
        >>> x.sum().backward()
        >>> copy.deepcopy(x).grad
        tensor([1.])
        """
        return _deepcopy_tensor(self, memo)

    # -- basic attributes (shape and dtype come from RTracer) ----------------------------------
    @property
    def device(self) -> Any:
        """Where the values live: "cpu" (NumPy), "cuda:N" (CuPy, GPU N), or the device object
        of another array namespace (``array_api_strict.Device("device1")``).

        >>> import chainrule as cr
        >>> cr.zeros(1).device
        'cpu'
        """
        v = self._value
        return device_of(v._value) if type(v) is ForeignTracer else "cpu"

    @property
    def data(self) -> Tensor:
        """The same values, detached from the graph (assigning it replaces the values).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> x.data.requires_grad
        False
        """
        return self.detach()

    @data.setter
    def data(self, value: Any) -> None:
        v = value._value if isinstance(value, Tensor) else np.asarray(value)
        self._value = v

    def size(self, dim: int | None = None) -> Any:  # type: ignore[override]
        """The shape (PyTorch's `size()`), or the length along `dim`.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).size(), cr.zeros(2, 3).size(-1)
        ((2, 3), 3)
        """
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        """The number of dimensions.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).dim()
        2
        """
        return self._value.ndim

    def ndimension(self) -> int:
        """The number of dimensions.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).ndimension()
        2
        """
        return self._value.ndim

    def numel(self) -> int:
        """The number of elements.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).numel()
        6
        """
        return int(self._value.size)

    nelement = numel

    def element_size(self) -> int:
        """Bytes per element.

        >>> import numpy as np, chainrule as cr
        >>> cr.zeros(2, dtype=np.float32).element_size()
        4
        """
        return self._value.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """The bytes of the values.

        >>> import chainrule as cr
        >>> cr.zeros(3).nbytes
        24
        """
        return int(self._value.nbytes)

    @property
    def itemsize(self) -> int:
        """Bytes per element.

        >>> import chainrule as cr
        >>> cr.zeros(3).itemsize
        8
        """
        return self._value.dtype.itemsize

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating-point type.

        >>> import chainrule as cr
        >>> cr.zeros(1).is_floating_point(), cr.arange(2).is_floating_point()
        (True, False)
        """
        return self._value.dtype.kind == "f"

    def is_complex(self) -> bool:
        """Whether the dtype is complex.

        >>> import chainrule as cr
        >>> cr.tensor(1j).is_complex()
        True
        """
        return self._value.dtype.kind == "c"

    @property
    def is_cuda(self) -> bool:
        """Whether the values are on a GPU (CuPy's).

        >>> import chainrule as cr
        >>> cr.zeros(1).is_cuda
        False
        """
        d = self.device
        return isinstance(d, str) and d.startswith("cuda")

    def is_contiguous(self) -> bool:
        """Whether the values are C-contiguous in memory.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).is_contiguous(), cr.zeros(2, 3).t().is_contiguous()
        (True, False)
        """
        v = self._value
        return bool(v.flags.c_contiguous) if isinstance(v, np.ndarray) else True

    def contiguous(self) -> Tensor:
        """This tensor (a C-contiguous copy, in the graph, if it is not contiguous).

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).t().contiguous().is_contiguous()
        True
        """
        if self.is_contiguous():
            return self
        if self._node is None:
            return _new(np.ascontiguousarray(self._value), None)
        return cnp.reshape(cnp.ravel(self), self.shape)  # a C-ordered copy, in the graph

    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded (settable on leaves).

        >>> import chainrule as cr
        >>> x = cr.zeros(2)
        >>> x.requires_grad = True
        >>> x.requires_grad, (x * 2).requires_grad
        (True, True)
        """
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
        """Whether this tensor was made by the user, not by a recorded operation.

        >>> import chainrule as cr
        >>> x = cr.tensor(1.0, requires_grad=True)
        >>> x.is_leaf, (x * 2).is_leaf
        (True, False)
        """
        return self._node is None or self._node.prim is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that made this tensor (None for leaves).

        >>> import chainrule as cr
        >>> (cr.tensor(1.0, requires_grad=True) * 2).grad_fn
        <MulBackward shape=() dtype=float64>
        """
        return None if self.is_leaf else self._node

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient. For a complex tensor it is PyTorch's: the conjugate
        Wirtinger gradient (the conjugate of `cr.grad`'s), so `z -= lr * z.grad` descends.

        >>> import chainrule as cr
        >>> z = cr.tensor(1 + 2j, requires_grad=True)
        >>> (abs(z) ** 2).backward()
        >>> z.grad
        tensor(2.+4.j, dtype=complex128)
        """
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        self._grad = None if value is None else (value if isinstance(value, Tensor) else
                                                 Tensor(value))  # fmt: skip

    def _accumulate(self, g: Any) -> None:
        """Add an engine cotangent (JAX's convention) into `.grad` (PyTorch's: conjugated
        for complex tensors)."""
        g = g if isinstance(g, Tensor) else _new(g, None)
        if g._value.dtype.kind == "c":
            g = cnp.conj(g)
        if self._grad is None:
            v = g._value
            if g._node is None and type(v) is np.ndarray and v.base is not None:
                g = _new(np.array(v), None)  # a view of another value: .grad gets its own
            elif g._node is None and type(v) is ForeignTracer and \
                    getattr(v._value, "base", True) is not None:  # fmt: skip
                g = _new(_as_array(v), None)  # a view (or a namespace that cannot tell)
            self._grad = g
        elif self._grad._node is None and g._node is None and \
                self._grad._value.shape == np.shape(g._value):  # fmt: skip
            # PyTorch's accumulation: the same .grad tensor takes the sum (a reference the
            # caller holds sees it); its old array is not written (another value may share it)
            s = self._grad + g
            self._grad._value = s._value if s._value.dtype == self._grad.dtype else \
                s._value.astype(self._grad.dtype)  # fmt: skip
            self._grad._ver[0] += 1
        else:  # create_graph: a new tensor in the graph, as PyTorch
            self._grad = self._grad + g

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in `.grad` during backward.

        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> h = x * 2
        >>> h.retain_grad()
        >>> (h ** 2).backward()
        >>> h.grad
        tensor(12.)
        """
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
        """Whether `retain_grad()` was called on this non-leaf tensor.

        >>> import chainrule as cr
        >>> (cr.tensor(1.0, requires_grad=True) * 2).retains_grad
        False
        """
        m = None if self._node is None else self._node.meta
        return bool(m is not None and m.retain)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call `hook(grad)` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle with `.remove()`. A complex tensor's hook sees
        and returns PyTorch's (conjugate) gradient.

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
        cplx = self._value.dtype.kind == "c"

        def raw_hook(g: Any) -> Any:
            gt = g if isinstance(g, Tensor) else _new(g, None)
            r = hook(cnp.conj(gt) if cplx else gt)
            if r is None:
                return None
            if cplx:
                r = cnp.conj(r)
            return r if isinstance(g, Tensor) else _value_of(r)

        meta.hooks.append(raw_hook)
        return _HookHandle(meta.hooks, raw_hook)

    # -- conversion ----------------------------------------------------------------------------
    def detach(self) -> Tensor:
        """A tensor sharing this one's memory and version counter, outside the graph.

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0], requires_grad=True)
        >>> x.detach().requires_grad
        False
        """
        t = _new(self._own_memory(), None)
        t._ver = self._ver
        return t

    def _own_memory(self) -> Any:
        """The values, a 0-d array in place of a NumPy scalar (immutable: an alias sharing
        it, as `detach()` and `numpy()` give, would not see in-place changes)."""
        v = self._value
        if isinstance(v, np.generic):
            v = self._value = np.array(v)
        return v

    def detach_(self) -> Tensor:
        """Detach in place: this tensor becomes a leaf that doesn't require grad.

        >>> import chainrule as cr
        >>> h = cr.tensor(1.0, requires_grad=True) * 2
        >>> h.detach_().is_leaf
        True
        """
        self._node = None
        return self

    def numpy(self, force: bool = False) -> np.ndarray:
        """The values as a NumPy array (sharing memory).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).numpy()
        array([1., 2.])
        """
        if self._node is not None and not force:
            raise RuntimeError(
                "can't call numpy() on a tensor that requires grad: use t.detach().numpy()"
            )
        if type(self._value) is ForeignTracer:
            if not force:
                raise TypeError(self._not_host("numpy()"))
            return _host(self._value)
        return np.asarray(self._own_memory())

    def _not_host(self, what: str) -> str:
        return (f"can't convert a tensor on {self.device!r} with {what}: its values are not in "
                "the host's memory; copy them there first with t.cpu()")  # fmt: skip

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._node is not None:
            raise RuntimeError(
                "can't convert a tensor that requires grad to a NumPy array: use "
                "t.detach().numpy()"
            )
        if type(self._value) is ForeignTracer:
            raise TypeError(self._not_host("NumPy (np.asarray)"))
        v = np.asarray(self._value)
        return v if dtype is None else v.astype(dtype)

    def __float__(self) -> float:  # PyTorch's: the value, outside the graph
        return float(self._value)

    def __complex__(self) -> complex:
        return complex(self._value)

    def item(self) -> Any:
        """The single value as a Python number.

        >>> import chainrule as cr
        >>> cr.tensor([2.5]).item()
        2.5
        """
        if self.numel() != 1:
            raise RuntimeError(
                f"a tensor with {self.numel()} elements cannot be converted to a scalar"
            )
        return _host(self._value).item()  # from a GPU: the transfer PyTorch's item() makes

    def tolist(self) -> Any:
        """The values as nested Python lists.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0]]).tolist()
        [[1.0, 2.0]]
        """
        return _host(self._value).tolist()

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """This tensor as `dtype` and/or on `device` ('cpu', 'cuda', 'cuda:N'): `t.to(dtype)`,
        `t.to(device, dtype)`, `t.to(other)` (other's dtype and device), `dtype=`, `device=`,
        `copy=`. Returns the tensor itself when nothing changes (as PyTorch); a cast or a
        move is recorded (the gradient goes back to this tensor's device).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor([1.0]).to(np.float32).dtype
        dtype('float32')
        """
        copy = kwargs.pop("copy", False)
        kwargs.pop("memory_format", None)
        device, dtype = to_arguments(args, kwargs)
        out = self
        if device is None and any(isinstance(a, Tensor) for a in args):
            device = next(a for a in args if isinstance(a, Tensor)).device
        if device is not None:
            out = cnp.device_put(out, device)
        if dtype is not None and np.dtype(dtype) != self.dtype:
            out = cnp.astype(out, dtype)
        return out.clone() if copy and out is self else out

    def cuda(self, device: Any = None, non_blocking: bool = False) -> Tensor:
        """This tensor on the current GPU (or GPU `device`, an index or 'cuda:N'): PyTorch's
        ``t.cuda()``, ``t.to("cuda")``; CuPy holds the values (the ``[gpu]`` extra).

        >>> import chainrule as cr
        >>> cr.zeros(1).cuda().device  # doctest: +SKIP
        'cuda:0'
        """
        return self.to("cuda" if device is None else
                       device if isinstance(device, str) else f"cuda:{device}")  # fmt: skip

    def __dlpack__(self, *, stream: Any = None, max_version: Any = None,
                   dl_device: Any = None, copy: Any = None) -> Any:
        """The DLPack capsule of the values (NumPy's, sharing memory), for
        ``np.from_dlpack``, ``torch.from_dlpack``, ``cr.from_dlpack``, ... A tensor that
        requires grad refuses, as PyTorch's does (export ``t.detach()``).

        >>> import numpy as np, chainrule as cr
        >>> np.from_dlpack(cr.tensor([1.0, 2.0]))
        array([1., 2.])
        """
        value = self._dlpack_value()
        kw = {k: v for k, v in (("stream", stream), ("max_version", max_version),
                                ("dl_device", dl_device), ("copy", copy)) if v is not None}
        return value.__dlpack__(**kw)

    def __dlpack_device__(self) -> tuple:
        """DLPack's ``(device type, device id)`` of the values: ``(1, 0)`` on the CPU,
        ``(2, N)`` on GPU N.

        >>> import chainrule as cr
        >>> cr.zeros(1).__dlpack_device__()
        (1, 0)
        """
        v = self._value
        if type(v) is ForeignTracer:
            return v._value.__dlpack_device__()
        return (1, 0)  # kDLCPU, device 0: where NumPy's arrays live

    def _dlpack_value(self) -> np.ndarray:
        if isinstance(self._value, Tracer):
            raise TypeError("cannot export a Tensor through DLPack inside a transformation "
                            "(grad, jit, vmap): it has no value yet")  # fmt: skip
        if self._node is not None:
            raise RuntimeError("Can't export tensors that require gradient, use "
                               "tensor.detach()")  # fmt: skip
        v = self._value
        return v._value if type(v) is ForeignTracer else np.asarray(v)

    def cpu(self) -> Tensor:
        """This tensor on the CPU: itself when it is there, else a recorded copy (the gradient
        goes back to its device).

        >>> import chainrule as cr
        >>> x = cr.zeros(1)
        >>> x.cpu() is x
        True
        """
        return self.to("cpu")

    def type_as(self, other: Any) -> Tensor:
        """This tensor cast to `other`'s dtype.

        >>> import numpy as np, chainrule as cr
        >>> cr.zeros(1).type_as(cr.zeros(1, dtype=np.float32)).dtype
        dtype('float32')
        """
        return self.to(other.dtype)

    def float(self) -> Tensor:  # noqa: A003
        """As float32 (PyTorch's float).

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).float().dtype
        dtype('float32')
        """
        return self.to(np.float32)

    def double(self) -> Tensor:
        """As float64.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).double().dtype
        dtype('float64')
        """
        return self.to(np.float64)

    def half(self) -> Tensor:
        """As float16.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).half().dtype
        dtype('float16')
        """
        return self.to(np.float16)

    def long(self) -> Tensor:
        """As int64 (no gradient flows through an integer result).

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).long().dtype
        dtype('int64')
        """
        return self.to(np.int64)

    def int(self) -> Tensor:  # noqa: A003
        """As int32.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).int().dtype
        dtype('int32')
        """
        return self.to(np.int32)

    def short(self) -> Tensor:
        """As int16.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).short().dtype
        dtype('int16')
        """
        return self.to(np.int16)

    def bool(self) -> Tensor:  # noqa: A003
        """As bool.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).bool().dtype
        dtype('bool')
        """
        return self.to(np.bool_)

    def cfloat(self) -> Tensor:
        """As complex64.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).cfloat().dtype
        dtype('complex64')
        """
        return self.to(np.complex64)

    def cdouble(self) -> Tensor:
        """As complex128.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).cdouble().dtype
        dtype('complex128')
        """
        return self.to(np.complex128)

    def clone(self) -> Tensor:
        """A copy, in the graph (gradients flow back to this tensor).

        >>> import chainrule as cr
        >>> x = cr.tensor(1.0, requires_grad=True)
        >>> x.clone()
        tensor(1., grad_fn=<MulBackward>)
        """
        return cnp.astype(self, self.dtype) if self._node is None else self * 1

    def new_tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """A new leaf tensor from `data`, with this tensor's dtype by default.

        >>> import numpy as np, chainrule as cr
        >>> cr.zeros(1, dtype=np.float32).new_tensor([1, 2]).dtype
        dtype('float32')
        """
        return Tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False,
                  device: Any = None) -> Tensor:  # fmt: skip
        """Zeros of shape `size`, with this tensor's dtype by default.

        >>> import chainrule as cr
        >>> cr.zeros(1).new_zeros(2, 3).shape
        (2, 3)
        """
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False,
                 device: Any = None) -> Tensor:  # fmt: skip
        """Ones of shape `size`, with this tensor's dtype by default.

        >>> import chainrule as cr
        >>> cr.zeros(1).new_ones((2,))
        tensor([1., 1.])
        """
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, requires_grad: bool = False,
                  device: Any = None) -> Tensor:  # fmt: skip
        """An uninitialised tensor of shape `size`, with this tensor's dtype by default.

        >>> import chainrule as cr
        >>> cr.zeros(1).new_empty(2).shape
        (2,)
        """
        return empty(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None,
                 requires_grad: bool = False, device: Any = None) -> Tensor:  # fmt: skip
        """`fill_value` everywhere, with this tensor's dtype by default.

        >>> import chainrule as cr
        >>> cr.zeros(1).new_full((2,), 7)
        tensor([7., 7.])
        """
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def __repr__(self) -> str:
        body = np.array2string(_host(self._value), separator=", ", prefix="tensor(")
        extra = "" if self.device == "cpu" else f", device={self.device!r}"
        if self.dtype not in (np.float64, np.float32):
            extra += f", dtype={self.dtype}"
        if self._node is not None:
            extra += (", requires_grad=True" if self.is_leaf else
                      f", grad_fn=<{self._node.name()}>")  # fmt: skip
        return f"tensor({body}{extra})"

    __str__ = __repr__

    def __getitem__(self, index: Any) -> Tensor:
        out = cnp.getitem(self, index)
        if _basic_index(index) and isinstance(out, Tensor) and out is not self:
            _track(self, out, _INDEX, index)  # a view: in-place changes reach the base
            if isinstance(out._value, np.generic) and isinstance(self._value, np.ndarray):
                # one element: a 0-d view of this tensor's memory (NumPy gives a copy)
                out._value = self._value[(*index, ...) if type(index) is tuple else
                                         (index, ...)]  # fmt: skip
        return out

    # -- in place --------------------------------------------------------------------------------
    def _check_inplace(self) -> None:
        if _mode.enabled and self._node is not None and self._node.prim is None:
            raise RuntimeError(
                "a leaf tensor that requires grad is being used in an in-place operation; "
                "do it under cr.no_grad() (as an optimizer step does)"
            )

    def _write(self, value: Any) -> None:
        """Write `value` into this tensor's memory (views see it); the graph is unchanged."""
        _refuse_read_only_view(self, "an in-place operation")
        self._ver[0] += 1
        v = self._value
        if type(v) is ForeignTracer:  # another namespace's memory: written there (views see it)
            a = v._value
            ns = Namespace(a.__array_namespace__(), a.device)
            new = cnp.astype(cnp.broadcast_to(box(_value_of(value)), v.shape), v.dtype)
            a[...] = new._value if type(new) is ForeignTracer else ns.asarray(new, v.dtype)
        elif isinstance(v, Tracer) or isinstance(value, Tracer):  # staged (inside jit): a new value
            value = cnp.broadcast_to(value, v.shape)
            self._value = value if value.dtype == v.dtype else cnp.astype(value, v.dtype)
        elif type(v) is np.ndarray and v.flags.writeable and np.shape(value) == v.shape and \
                np.can_cast(np.result_type(value), v.dtype, "same_kind"):  # fmt: skip
            np.copyto(v, value, casting="same_kind")
            _refresh_copies(self)
        else:
            self._value = np.array(np.broadcast_to(value, v.shape), dtype=v.dtype)

    def _fits(self, new: Any, what: str) -> None:
        """PyTorch's checks on the result of an in-place operation: this tensor's shape, and
        a dtype that casts to this tensor's ("same_kind")."""
        if new.shape != self.shape:
            raise RuntimeError(
                f"{what}: output with shape {list(self.shape)} doesn't match the broadcast "
                f"shape {list(new.shape)}"
            )
        if not np.can_cast(new.dtype, self.dtype, "same_kind"):
            raise RuntimeError(
                f"{what}: result type {new.dtype} can't be cast to the desired output type "
                f"{self.dtype}"
            )

    def _assign(self, new: Tensor, start: int) -> Tensor:
        """This tensor takes the value `new`, computed from it by the nodes numbered from
        `start` on (a recorded in-place operation), as in PyTorch: the new values are written
        into its memory (views and detached aliases see them), what those nodes saved of the
        old values is kept as copies, the nodes saved before see the version change, and its
        views are made again from it (their nodes lead to its new node). A view passes the
        change on to the tensor it views."""
        if new.dtype != self.dtype:
            new = cnp.astype(new, self.dtype)
        base = getattr(self, "_base", None)
        if base is not None:
            if base[1] == _COPY:
                _refuse_read_only_view(self, "an in-place operation")
            if base[1] == _PRIM:
                raise RuntimeError(
                    f"an in-place operation on a view made by {base[2][0]} (or on a tensor "
                    "sharing memory with another tensor): chainrule passes in-place changes "
                    "on to the base tensor only for views made by t[index], t.view/reshape/"
                    "flatten/squeeze/unsqueeze and t.transpose/permute/t/T methods; use the "
                    "out-of-place operation (or .clone() first), or base[index] = ..."
                )
            _write_back(base, new, start)  # the base takes it, then makes this view again
            # what the operation saved of its result is this view's memory from now on
            _renew_versions(new._node, start, (self._ver, new._ver), self._ver[0])
            return self
        old = self._value
        in_memory = type(old) is np.ndarray and old.flags.writeable and old.base is None and \
            isinstance(new._value, (np.ndarray, np.generic))  # fmt: skip
        if in_memory:
            _keep_originals(new._node, start, old)
        self._ver[0] += 1
        _renew_versions(new._node, start, (self._ver, new._ver), self._ver[0])
        if in_memory:
            np.copyto(old, new._value)
        else:  # memory that cannot be written (a scalar, another namespace's): rebound
            self._value = new._value
        _move_retain(self, self._node, new._node)
        self._node = new._node
        _regenerate(self)
        return self

    def _inplace(self, fn: Callable[[Tensor], Any], what: str = "in-place operation") -> Tensor:
        """Apply `fn(self)` in place: written into memory when nothing is recorded (under
        no_grad, or with no operand requiring grad), recorded otherwise."""
        self._check_inplace()
        start = next(_node_seq)
        new = fn(self)
        new = new if isinstance(new, Tensor) else _new(np.asarray(new), None)
        self._fits(new, what)
        if not _mode.enabled or (new._node is None and self._node is None):
            self._write(new._value)  # values change, the graph does not
            return self
        return self._assign(new, start)

    def __setitem__(self, index: Any, value: Any) -> None:
        """`t[index] = value`, differentiable in both `t` and `value` (a recorded index_set)."""
        self._check_inplace()
        v = value if isinstance(value, Tracer) else np.asarray(_value_of(value))
        if _mode.enabled and (self._node is not None or (isinstance(v, Tensor) and
                                                         v._node is not None)):  # fmt: skip
            start = next(_node_seq)
            self._assign(cnp.index_set(self, index, v), start)
        elif type(self._value) is ForeignTracer:  # the new values, written into its memory
            self._write(cnp.index_set(self.detach(), index, v)._value)
        else:
            _refuse_read_only_view(self, "t[index] = value")
            self._ver[0] += 1
            if not isinstance(self._value, np.ndarray) or not self._value.flags.writeable:
                self._value = np.array(self._value)
            self._value[_np_index(index)] = _value_of(v)
            _refresh_copies(self)

    def __pow__(self, exponent: Any) -> Tensor:
        # PyTorch's float32 and float64 kernels compute x**3 as (x*x)*x and x**-2 as 1/(x*x),
        # where NumPy's power calls pow(), an ulp or two apart: integer_pow is PyTorch's, bit
        # for bit (the gradient of x**3 too: g * (3 * (x*x))). x**2 is square, as both compute.
        if type(exponent) in _SCALAR_TYPES and (exponent == 3 or exponent == -2) and \
                self._value.dtype in _POW_DTYPES:  # fmt: skip
            return bind_with(_integer_pow_p, (self,), _IPOW_PARAMS[exponent])
        return _tracer_pow(self, exponent)

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a + other, "+=")

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a - other, "-=")

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a * other, "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a / other, "/=")

    def __ipow__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a**other, "**=")

    def __imatmul__(self, other: Any) -> Tensor:
        return self._inplace(lambda a: a @ other, "@=")

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """In-place `self += alpha * other`.

        >>> import chainrule as cr
        >>> p = cr.tensor([1.0, 2.0])
        >>> p.add_(cr.tensor([1.0, 1.0]), alpha=-0.5)
        tensor([0.5, 1.5])
        """
        return self._inplace(lambda a: _F.add(a, other, alpha=alpha), "add_")

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """In-place `self -= alpha * other`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.sub_(cr.tensor([1.0, 1.0]), alpha=2)
        tensor([-1.,  0.])
        """
        return self._inplace(lambda a: _F.sub(a, other, alpha=alpha), "sub_")

    def mul_(self, other: Any) -> Tensor:
        """In-place `self *= other`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.mul_(3)
        tensor([3., 6.])
        """
        return self._inplace(lambda a: a * other, "mul_")

    def div_(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        """In-place `self /= other` (`rounding_mode` as in `cr.div`).

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.div_(2)
        tensor([0.5, 1. ])
        """
        return self._inplace(lambda a: _F.div(a, other, rounding_mode=rounding_mode), "div_")

    def pow_(self, exponent: Any) -> Tensor:
        """In-place `self **= exponent`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.pow_(2)
        tensor([1., 4.])
        """
        return self._inplace(lambda a: a**exponent, "pow_")

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """In-place `clamp`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.clamp_(max=1.5)
        tensor([1. , 1.5])
        """
        return self._inplace(lambda a: _F.clamp(a, min, max), "clamp_")

    clip_ = clamp_

    def addcmul_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        """In-place `self += value * tensor1 * tensor2` (what optimizers use).

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.addcmul_(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), value=0.5)
        tensor([2.5, 6. ])
        """
        return self._inplace(lambda a: a + value * (tensor1 * tensor2), "addcmul_")

    def addcdiv_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        """In-place `self += value * tensor1 / tensor2` (what optimizers use).

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.addcdiv_(cr.tensor([1.0, 2.0]), cr.tensor([4.0, 4.0]))
        tensor([1.25, 2.5 ])
        """
        return self._inplace(lambda a: a + value * (tensor1 / tensor2), "addcdiv_")

    def lerp_(self, end: Any, weight: Any) -> Tensor:
        """In-place `self += weight * (end - self)`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.lerp_(cr.tensor([3.0, 4.0]), 0.5)
        tensor([2., 3.])
        """
        return self._inplace(lambda a: a + weight * (end - a), "lerp_")

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """In-place `masked_fill`.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.masked_fill_(cr.tensor([True, False]), 0.0)
        tensor([0., 2.])
        """
        return self._inplace(lambda a: _F.masked_fill(a, mask, value), "masked_fill_")

    def zero_(self) -> Tensor:
        """Fill with zeros, in place.

        >>> import chainrule as cr
        >>> t = cr.tensor([1.0, 2.0])
        >>> t.zero_()
        tensor([0., 0.])
        """
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with `value`, in place (differentiable in a 0-d Tensor `value`).

        >>> import chainrule as cr
        >>> cr.zeros(2).fill_(3.0)
        tensor([3., 3.])
        """
        return self.copy_(value if isinstance(value, Tensor) else
                          np.asarray(_value_of(value), self.dtype))  # fmt: skip

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy `src` (broadcast, cast to this dtype) into this tensor, in place;
        differentiable in `src`, and this tensor's old values get no gradient.

        >>> import chainrule as cr
        >>> cr.zeros(2, 2).copy_(cr.tensor([1.0, 2.0]))
        tensor([[1., 2.],
                [1., 2.]])
        """
        self._check_inplace()
        s = src if isinstance(src, Tensor) else np.asarray(_value_of(src))
        if isinstance(s, Tensor) and s.device != self.device:
            s = s.to(self.device)  # the copy between devices PyTorch's copy_ makes (recorded)
        if np.broadcast_shapes(np.shape(s), self.shape) != self.shape:
            raise RuntimeError(f"copy_: src of shape {list(np.shape(s))} doesn't broadcast to "
                               f"{list(self.shape)}")  # fmt: skip
        if _mode.enabled and (self._node is not None or
                              (isinstance(s, Tensor) and s._node is not None)):  # fmt: skip
            start = next(_node_seq)
            if isinstance(s, Tensor) and s.dtype != self.dtype:
                s = cnp.astype(s, self.dtype)
            return self._assign(cnp.index_set(self, Ellipsis, s), start)
        v = _value_of(s)
        self._write(v if type(v) is ForeignTracer else
                    np.broadcast_to(np.asarray(v, self.dtype), self.shape))  # fmt: skip
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        """Fill with uniform values in [a, b), in place (not recorded).

        >>> import chainrule as cr
        >>> bool((cr.zeros(5).uniform_(2.0, 3.0) >= 2.0).all())
        True
        """
        return self._fill_random(lambda rng: rng.uniform(a, b, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        """Fill with normal values, in place (not recorded).

        >>> import chainrule as cr
        >>> cr.zeros(5).normal_(0.0, 1.0).shape
        (5,)
        """
        return self._fill_random(lambda rng: rng.normal(mean, std, self.shape))

    def _fill_random(self, draw: Callable) -> Tensor:
        self._check_inplace()
        self._write(np.asarray(draw(_rng().gen), self.dtype))
        return self

    # -- backward ------------------------------------------------------------------------------
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate the gradient of this tensor (weighted by `gradient`, the vector of a
        vector-Jacobian product) into `.grad` of the leaves it depends on. For a complex
        output, `gradient` is PyTorch's: the conjugate Wirtinger gradient of a real loss
        with respect to this tensor.

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

    # -- PyTorch's methods (NumPy's come from Tracer; NumPy's spelling keeps NumPy's meaning) --
    # The elementwise functions (abs, exp, sin, sigmoid, ...) are added below the class.

    def round(self, decimals: int = 0) -> Tensor:  # noqa: A003
        """Rounded to `decimals` decimals (half to even, as NumPy and PyTorch; no gradient).

        >>> import chainrule as cr
        >>> cr.tensor([0.5, 1.5, 2.26]).round(), cr.tensor([2.26]).round(decimals=1)
        (tensor([0., 2., 2.]), tensor([2.3]))
        """
        return cnp.round(self, decimals)

    def softmax(self, dim: Any = None, dtype: Any = None) -> Tensor:
        """`cr.softmax` along `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([[0.0, 0.0]]).softmax(dim=-1)
        tensor([[0.5, 0.5]])
        """
        return _F.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: Any = None, dtype: Any = None) -> Tensor:
        """`cr.log_softmax` along `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([[0.0, 0.0]]).log_softmax(dim=1)
        tensor([[-0.693147, -0.693147]])
        """
        return _F.log_softmax(self, dim, dtype=dtype)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """`cr.logsumexp` along `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([[0.0, 0.0]]).logsumexp(dim=1)
        tensor([0.693147])
        """
        return _F.logsumexp(self, dim, keepdim)

    def pow(self, exponent: Any) -> Tensor:  # noqa: A003
        """self ** exponent.

        >>> import chainrule as cr
        >>> cr.tensor([2.0, 3.0]).pow(2)
        tensor([4., 9.])
        """
        return self**exponent

    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        """self + alpha * other.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).add(cr.tensor([2.0]), alpha=10)
        tensor([21.])
        """
        return _F.add(self, other, alpha=alpha)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        """self - alpha * other.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).sub(cr.tensor([2.0]), alpha=0.5)
        tensor([0.])
        """
        return _F.sub(self, other, alpha=alpha)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        """self * other.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).mul(3)
        tensor([3., 6.])
        """
        return self * other

    multiply = mul

    def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        """self / other; `rounding_mode` "floor" or "trunc" rounds the quotient.

        >>> import chainrule as cr
        >>> cr.tensor([7.0, -7.0]).div(2), cr.tensor([7.0, -7.0]).div(2, rounding_mode="trunc")
        (tensor([ 3.5, -3.5]), tensor([ 3., -3.]))
        """
        return _F.div(self, other, rounding_mode=rounding_mode)

    divide = true_divide = div

    def maximum(self, other: Any) -> Tensor:
        """The elementwise maximum (ties share the gradient).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 5.0]).maximum(cr.tensor([3.0, 2.0]))
        tensor([3., 5.])
        """
        return cnp.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """The elementwise minimum (ties share the gradient).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 5.0]).minimum(cr.tensor([3.0, 2.0]))
        tensor([1., 2.])
        """
        return cnp.minimum(self, other)

    def eq(self, other: Any) -> Tensor:
        """self == other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).eq(2.0)
        tensor([False,  True], dtype=bool)
        """
        return self == other

    def ne(self, other: Any) -> Tensor:
        """self != other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).ne(2.0)
        tensor([ True, False], dtype=bool)
        """
        return self != other

    def lt(self, other: Any) -> Tensor:
        """self < other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).lt(2.0)
        tensor([ True, False], dtype=bool)
        """
        return self < other

    def le(self, other: Any) -> Tensor:
        """self <= other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).le(2.0)
        tensor([ True,  True], dtype=bool)
        """
        return self <= other

    def gt(self, other: Any) -> Tensor:
        """self > other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).gt(1.0)
        tensor([False,  True], dtype=bool)
        """
        return self > other

    def ge(self, other: Any) -> Tensor:
        """self >= other, elementwise.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).ge(2.0)
        tensor([False,  True], dtype=bool)
        """
        return self >= other

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: bool = False) -> bool:  # fmt: skip
        """Whether all values are close to `other`'s (`numpy.allclose`), as a Python bool.

        >>> import chainrule as cr
        >>> cr.tensor([1.0]).allclose(cr.tensor([1.0 + 1e-9]))
        True
        """
        return _F.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Any) -> bool:
        """Whether `other` has the same shape and values.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).equal(cr.tensor([1.0, 2.0]))
        True
        """
        return _F.equal(self, other)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """`cr.clamp`: values limited to [min, max].

        >>> import chainrule as cr
        >>> cr.tensor([-2.0, 0.5, 3.0]).clamp(min=0.0, max=1.0)
        tensor([0. , 0.5, 1. ])
        """
        return _F.clamp(self, min, max)

    def clip(self, min: Any = None, max: Any = None, out: Any = None,  # noqa: A002
             **kw: Any) -> Tensor:  # fmt: skip
        """PyTorch's clip (= clamp), or NumPy's `clip(a_min, a_max)`.

        >>> import chainrule as cr
        >>> cr.tensor([-2.0, 0.5, 3.0]).clip(0.0, 1.0)
        tensor([0. , 0.5, 1. ])
        """
        _F._no_out("clip", out)
        lo = kw.pop("a_min", min)
        hi = kw.pop("a_max", max)
        if kw:
            raise TypeError(f"clip() got unexpected keyword arguments {sorted(kw)}")
        return _F.clamp(self, lo, hi)

    def where(self, condition: Any, other: Any) -> Tensor:
        """`cr.where(condition, self, other)`.

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, -2.0])
        >>> x.where(x > 0, 0.0)
        tensor([1., 0.])
        """
        return cnp.where(condition, self, other)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """`value` where `mask` is True (differentiable in self, and in a 0-d Tensor value).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, -2.0])
        >>> x.masked_fill(x < 0, 9.0)
        tensor([1., 9.])
        """
        return _F.masked_fill(self, mask, value)

    # reductions: PyTorch's dim/keepdim, or NumPy's axis/keepdims
    def sum(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:  # noqa: A003
        """The sum over `dim` (PyTorch) or `axis` (NumPy).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=-1, keepdim=True)
        tensor([[3.],
                [7.]])
        """
        return _F.sum(self, dim, keepdim, **kw)

    def mean(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The mean over `dim` (PyTorch) or `axis` (NumPy).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(0)
        tensor([2., 3.])
        """
        return _F.mean(self, dim, keepdim, **kw)

    def prod(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The product over `dim` (PyTorch) or `axis` (NumPy); exact gradients with zeros.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).prod(dim=1)
        tensor([ 2., 12.])
        """
        return _F.prod(self, dim, keepdim, **kw)

    def max(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:  # noqa: A003
        """PyTorch's max: the largest value; with `dim`, the named pair (values, indices);
        with a tensor, the elementwise maximum. NumPy's `axis=` gives the values only.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).max(dim=1)
        max(values=tensor([5., 4.]), indices=tensor([1, 0], dtype=int64))
        """
        return _F.max(self, dim, keepdim, **kw)

    def min(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Any:  # noqa: A003
        """PyTorch's min (see `max`).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).min(0).values
        tensor([1., 2.])
        """
        return _F.min(self, dim, keepdim, **kw)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """The largest values over `dim` (all by default); ties share the gradient.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).amax(dim=0)
        tensor([4., 5.])
        """
        return _F.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """The smallest values over `dim` (all by default); ties share the gradient.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).amin()
        tensor(1.)
        """
        return _F.amin(self, dim, keepdim)

    def argmax(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The index of the largest value (of the flattened values, or along `dim`).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).argmax(), cr.tensor([[1.0, 5.0]]).argmax(1)
        (tensor(1, dtype=int64), tensor([1], dtype=int64))
        """
        return _F.argmax(self, dim, keepdim, **kw)

    def argmin(self, dim: Any = None, keepdim: bool = False, **kw: Any) -> Tensor:
        """The index of the smallest value (of the flattened values, or along `dim`).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 5.0], [4.0, 2.0]]).argmin(dim=0, keepdim=True)
        tensor([[0, 1]], dtype=int64)
        """
        return _F.argmin(self, dim, keepdim, **kw)

    def std(self, dim: Any = None, *args: Any, **kw: Any) -> Tensor:
        """PyTorch's std (Bessel's correction by default: `correction=1`, or `unbiased=`);
        NumPy's spelling (`axis=`, `ddof=`) keeps NumPy's default ddof=0.

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 3.0])
        >>> x.std(), x.std(unbiased=False), x.std(axis=0)
        (tensor(1.414214), tensor(1.), tensor(1.))
        """
        return _F.std(self, dim, *args, **kw)

    def var(self, dim: Any = None, *args: Any, **kw: Any) -> Tensor:
        """PyTorch's var (see `std`).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 3.0]).var(), cr.tensor([1.0, 3.0]).var(correction=0)
        (tensor(2.), tensor(1.))
        """
        return _F.var(self, dim, *args, **kw)

    def cumsum(self, dim: Any = None, **kw: Any) -> Tensor:
        """Cumulative sums along `dim` (NumPy: over the flattened tensor without one).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).cumsum(dim=1)
        tensor([[1., 3.],
                [3., 7.]])
        """
        return _F.cumsum(self, dim, **kw)

    def cumprod(self, dim: Any = None, **kw: Any) -> Tensor:
        """Cumulative products along `dim` (exact gradients with zeros).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).cumprod(0)
        tensor([1., 2., 6.])
        """
        return _F.cumprod(self, dim, **kw)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:  # fmt: skip
        """`cr.norm`: the p-norm over all values or over `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([3.0, 4.0]).norm(), cr.tensor([[3.0, -4.0]]).norm(p=1, dim=1)
        (tensor(5.), tensor([7.]))
        """
        return _F.norm(self, p, dim, keepdim, dtype)

    # products
    def matmul(self, other: Any) -> Tensor:
        """The matrix product (`@`, broadcast over leading dimensions).

        >>> import chainrule as cr
        >>> cr.eye(2).matmul(cr.tensor([1.0, 2.0]))
        tensor([1., 2.])
        """
        return cnp.matmul(self, other)

    def mm(self, mat2: Any) -> Tensor:
        """Matrix product of two 2-D tensors.

        >>> import chainrule as cr
        >>> cr.eye(2).mm(cr.ones(2, 1))
        tensor([[1.],
                [1.]])
        """
        return _F.mm(self, mat2)

    def bmm(self, mat2: Any) -> Tensor:
        """Batched matrix product of two 3-D tensors.

        >>> import chainrule as cr
        >>> cr.ones(4, 2, 3).bmm(cr.ones(4, 3, 5)).shape
        (4, 2, 5)
        """
        return _F.bmm(self, mat2)

    def mv(self, vec: Any) -> Tensor:
        """Matrix-vector product.

        >>> import chainrule as cr
        >>> cr.eye(2).mv(cr.tensor([1.0, 2.0]))
        tensor([1., 2.])
        """
        return _F.mv(self, vec)

    def dot(self, other: Any, out: Any = None) -> Tensor:
        """Dot product (PyTorch's is for 1-D tensors; NumPy's more general one otherwise).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).dot(cr.tensor([3.0, 4.0]))
        tensor(11.)
        """
        _F._no_out("dot", out)
        return cnp.dot(self, other)

    def outer(self, vec2: Any) -> Tensor:
        """The outer product of two vectors.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).outer(cr.tensor([1.0, 10.0]))
        tensor([[ 1., 10.],
                [ 2., 20.]])
        """
        return cnp.outer(self, vec2)

    # shapes (views pass in-place changes on to the tensor they view)
    def view(self, *shape: Any) -> Tensor:
        """The values with a new shape (a view; -1 infers one dimension).

        >>> import chainrule as cr
        >>> cr.arange(6).view(2, -1)
        tensor([[0, 1, 2],
                [3, 4, 5]], dtype=int64)
        """
        return _view(self, cnp.reshape(self, _shape_args(shape)), _RESHAPE)

    def view_as(self, other: Any) -> Tensor:
        """A view with `other`'s shape.

        >>> import chainrule as cr
        >>> cr.arange(6).view_as(cr.zeros(3, 2)).shape
        (3, 2)
        """
        return self.view(other.shape)

    def reshape(self, *shape: Any, order: str = "C") -> Tensor:  # type: ignore[override]
        """The values with a new shape (varargs or a tuple).

        >>> import chainrule as cr
        >>> cr.arange(6).reshape(3, 2).shape, cr.arange(6).reshape((2, -1)).shape
        ((3, 2), (2, 3))
        """
        out = cnp.reshape(self, _shape_args(shape), order)
        return _view(self, out, _RESHAPE) if order == "C" else out

    def reshape_as(self, other: Any) -> Tensor:
        """The values with `other`'s shape.

        >>> import chainrule as cr
        >>> cr.arange(6).reshape_as(cr.zeros(2, 3)).shape
        (2, 3)
        """
        return self.reshape(other.shape)

    def flatten(self, start_dim: Any = 0, end_dim: int = -1, order: str = "C") -> Tensor:  # type: ignore[override]
        """Dimensions start_dim..end_dim merged into one (all of them by default; NumPy's
        `flatten(order)` too).

        >>> import chainrule as cr
        >>> cr.zeros(2, 3, 4).flatten(1).shape, cr.zeros(2, 3).flatten().shape
        ((2, 12), (6,))
        """
        if isinstance(start_dim, str):
            order, start_dim = start_dim, 0
        if order != "C":
            return cnp.ravel(self, order)
        return _view(self, _F.flatten(self, start_dim, end_dim), _RESHAPE)

    def ravel(self, order: str = "C") -> Tensor:  # type: ignore[override]
        """The values as one dimension.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).ravel().shape
        (6,)
        """
        return self.flatten(order=order)

    def squeeze(self, dim: Any = None, axis: Any = None) -> Tensor:  # type: ignore[override]
        """Without the dimensions of length 1 (only `dim`, if given and of length 1).

        >>> import chainrule as cr
        >>> cr.zeros(1, 3, 1).squeeze().shape, cr.zeros(1, 3).squeeze(1).shape
        ((3,), (1, 3))
        """
        return _view(self, _F.squeeze(self, dim if axis is None else axis), _RESHAPE)

    def unsqueeze(self, dim: int) -> Tensor:
        """With a new dimension of length 1 at `dim`.

        >>> import chainrule as cr
        >>> cr.zeros(3).unsqueeze(0).shape, cr.zeros(3).unsqueeze(-1).shape
        ((1, 3), (3, 1))
        """
        return _view(self, cnp.expand_dims(self, dim), _RESHAPE)

    def transpose(self, *axes: Any) -> Tensor:  # type: ignore[override]
        """PyTorch's `t.transpose(dim0, dim1)` swaps two dimensions; any other call is
        NumPy's (`t.transpose()`, `t.transpose(axes)`).

        >>> import chainrule as cr
        >>> cr.zeros(2, 3, 4).transpose(0, -1).shape, cr.zeros(2, 3, 4).transpose().shape
        ((4, 3, 2), (4, 3, 2))
        """
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            perm = list(range(self.ndim))
            a0, a1 = (a % _builtin_max(self.ndim, 1) for a in axes)
            perm[a0], perm[a1] = perm[a1], perm[a0]
        else:
            perm = None if not axes else (axes[0] if len(axes) == 1 else axes)
        return _permuted(self, perm)

    swapaxes = swapdims = transpose  # type: ignore[assignment]

    def permute(self, *dims: Any) -> Tensor:
        """The dimensions in the order `dims` (PyTorch's permute).

        >>> import chainrule as cr
        >>> cr.zeros(2, 3, 4).permute(2, 0, 1).shape
        (4, 2, 3)
        """
        one = len(dims) == 1 and not isinstance(dims[0], (int, np.integer))  # permute((2, 0, 1))
        return _permuted(self, tuple(dims[0]) if one else dims)

    def t(self) -> Tensor:
        """The transpose of a tensor of at most 2 dimensions.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).t().shape
        (3, 2)
        """
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                               f"{self.ndim}D")  # fmt: skip
        return _permuted(self, None)

    @property
    def T(self) -> Tensor:  # noqa: N802
        """The dimensions reversed.

        >>> import chainrule as cr
        >>> cr.zeros(2, 3).T.shape
        (3, 2)
        """
        return _permuted(self, None)

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The last two dimensions swapped.

        >>> import chainrule as cr
        >>> cr.zeros(4, 2, 3).mT.shape
        (4, 3, 2)
        """
        return self.transpose(-2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to `sizes` (-1 keeps a dimension); a read-only view.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).expand(2, -1)
        tensor([[1., 2.],
                [1., 2.]])
        """
        return _F.expand(self, _shape_args(sizes))

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The diagonal (the last dimension of the result), as PyTorch's `diagonal`; a
        read-only copy that follows this tensor's in-place changes (PyTorch gives a view,
        that can also be written).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal()
        tensor([1., 4.])
        """

        def diagonal(t: Tensor) -> Tensor:
            return cnp.diagonal(t, offset, dim1, dim2)

        out = diagonal(self)
        out._value = _read_only(out._value)
        _track(self, out, _COPY, diagonal)
        return out

    @property
    def real(self) -> Tensor:  # type: ignore[override]
        """The real part; a real tensor's is itself, as in PyTorch.

        >>> import chainrule as cr
        >>> cr.tensor([1 + 2j, 3 - 1j]).real
        tensor([1., 3.])
        """
        return cnp.real(self) if self.dtype.kind == "c" else self

    def expand_as(self, other: Any) -> Tensor:
        """Broadcast to `other`'s shape.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).expand_as(cr.zeros(3, 2)).shape
        (3, 2)
        """
        return _F.expand(self, tuple(other.shape))

    def broadcast_to(self, size: Any) -> Tensor:
        """Broadcast to `size`.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).broadcast_to((3, 2)).shape
        (3, 2)
        """
        return _F.expand(self, tuple(size))

    def repeat(self, *sizes: Any, **kw: Any) -> Tensor:  # type: ignore[override]
        """PyTorch's repeat: the tensor tiled `sizes` times along each dimension (NumPy's
        `repeat(repeats, axis=)`, which repeats elements, with `axis=`).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0])
        >>> x.repeat(2), x.repeat(2, axis=0)
        (tensor([1., 2., 1., 2.]), tensor([1., 1., 2., 2.]))
        """
        if kw:
            return cnp.repeat(self, sizes[0] if sizes else kw.pop("repeats"), **kw)
        return _F.tile(self, _shape_args(sizes))

    def repeat_interleave(self, repeats: Any, dim: Any = None) -> Tensor:
        """Each element repeated `repeats` times (NumPy's repeat).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).repeat_interleave(2)
        tensor([1., 1., 2., 2.])
        """
        r = repeats._value if isinstance(repeats, Tensor) else repeats
        return cnp.repeat(self, r, axis=dim)

    def tile(self, *dims: Any) -> Tensor:
        """`cr.tile`: the tensor repeated along each dimension.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).tile(2)
        tensor([1., 2., 1., 2.])
        """
        return _F.tile(self, _shape_args(dims))

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        """`cr.chunk`: `chunks` views along `dim`.

        >>> import chainrule as cr
        >>> [c.shape for c in cr.zeros(5).chunk(2)]
        [(3,), (2,)]
        """
        return _F.chunk(self, chunks, dim)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple:
        """`cr.split`: views of `split_size_or_sections` elements along `dim`.

        >>> import chainrule as cr
        >>> [c.shape for c in cr.zeros(2, 5).split([2, 3], dim=1)]
        [(2, 2), (2, 3)]
        """
        return _F.split(self, split_size_or_sections, dim)

    def unbind(self, dim: int = 0) -> tuple:
        """The slices along `dim`, without it.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).unbind(1)
        (tensor([1., 3.]), tensor([2., 4.]))
        """
        return _F.unbind(self, dim)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """The view of `length` elements from `start` along `dim`.

        >>> import chainrule as cr
        >>> cr.arange(5).narrow(0, 1, 3)
        tensor([1, 2, 3], dtype=int64)
        """
        return _F.narrow(self, dim, start, length)

    def select(self, dim: int, index: int) -> Tensor:
        """The slice at `index` along `dim`, without that dimension.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).select(1, 0)
        tensor([1., 3.])
        """
        return _F.select(self, dim, index)

    def gather(self, dim: int, index: Any) -> Tensor:
        """`cr.gather`: values at `index` along `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).gather(1, cr.tensor([[1], [0]]))
        tensor([[2.],
                [3.]])
        """
        return _F.gather(self, dim, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        """`cr.index_select`: the entries `index` along `dim`.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).index_select(0, cr.tensor([2, 0]))
        tensor([3., 1.])
        """
        return _F.index_select(self, dim, index)

    def flip(self, dims: Any) -> Tensor:
        """The order of the elements reversed along `dims`.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).flip(0)
        tensor([3., 2., 1.])
        """
        return cnp.flip(self, tuple(dims) if isinstance(dims, list) else dims)

    # -- more of PyTorch's methods: binary elementwise functions --
    def atan2(self, other: Any) -> Tensor:
        """The elementwise arctangent of self / other, in the right quadrant.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, -1.0]).atan2(cr.tensor([-1.0, -1.0]))
        tensor([ 2.356194, -2.356194])
        """
        return cnp.arctan2(self, other)

    arctan2 = atan2

    def hypot(self, other: Any) -> Tensor:
        """The elementwise sqrt(self**2 + other**2), without overflow.

        >>> import chainrule as cr
        >>> cr.tensor([3.0, 5.0]).hypot(cr.tensor([4.0, 12.0]))
        tensor([ 5., 13.])
        """
        return cnp.hypot(self, other)

    def logaddexp(self, other: Any) -> Tensor:
        """The elementwise log(exp(self) + exp(other)), without overflow.

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1000.0]).logaddexp(cr.tensor([0.0, 1000.0]))
        tensor([6.93147181e-01, 1.00069315e+03])
        """
        return cnp.logaddexp(self, other)

    def fmax(self, other: Any) -> Tensor:
        """The elementwise maximum, ignoring NaN (NaN only where both are). As PyTorch's, a
        tie gives the gradient to self (`cnp.fmax`, JAX's, shares it).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, float("nan")]).fmax(cr.tensor([2.0, 3.0]))
        tensor([2., 3.])
        """
        return cnp.where((self >= other) | cnp.isnan(other), self, other)

    def fmin(self, other: Any) -> Tensor:
        """The elementwise minimum, ignoring NaN (NaN only where both are). As PyTorch's, a
        tie gives the gradient to self (`cnp.fmin`, JAX's, shares it).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, float("nan")]).fmin(cr.tensor([2.0, 3.0]))
        tensor([1., 3.])
        """
        return cnp.where((self <= other) | cnp.isnan(other), self, other)

    def remainder(self, other: Any) -> Tensor:
        """The elementwise remainder of self / other, with the sign of `other` (Python's %).

        >>> import chainrule as cr
        >>> cr.tensor([5.0, -5.0]).remainder(3)
        tensor([2., 1.])
        """
        return cnp.remainder(self, other)

    def fmod(self, other: Any) -> Tensor:
        """The elementwise remainder of self / other, with the sign of self (C's fmod).

        >>> import chainrule as cr
        >>> cr.tensor([5.0, -5.0]).fmod(3)
        tensor([ 2., -2.])
        """
        return cnp.fmod(self, other)

    def floor_divide(self, other: Any) -> Tensor:
        """The elementwise floor(self / other) (no gradient flows through it; PyTorch's
        backward raises).

        >>> import chainrule as cr
        >>> cr.tensor([5.0, -5.0]).floor_divide(3)
        tensor([ 1., -2.])
        """
        return cnp.floor_divide(self, other)

    def logical_and(self, other: Any) -> Tensor:
        """The elementwise logical and of the truth values (a bool tensor).

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0, 2.0]).logical_and(cr.tensor([1.0, 0.0, 3.0]))
        tensor([False, False,  True], dtype=bool)
        """
        return cnp.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        """The elementwise logical or of the truth values (a bool tensor).

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0, 0.0]).logical_or(cr.tensor([1.0, 0.0, 0.0]))
        tensor([ True,  True, False], dtype=bool)
        """
        return cnp.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        """The elementwise logical exclusive or of the truth values (a bool tensor).

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 1.0, 2.0]).logical_xor(cr.tensor([1.0, 0.0, 3.0]))
        tensor([ True,  True, False], dtype=bool)
        """
        return cnp.logical_xor(self, other)

    def logical_not(self) -> Tensor:
        """The elementwise logical not of the truth values (a bool tensor).

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 2.0]).logical_not()
        tensor([ True, False], dtype=bool)
        """
        return cnp.logical_not(self)

    def xlogy(self, other: Any) -> Tensor:
        """The elementwise self * log(other), 0 where self is 0 (`chainrule.scipy.special.xlogy`;
        needs SciPy).

        >>> import chainrule as cr
        >>> cr.tensor([0.0, 2.0]).xlogy(cr.tensor([0.0, 1.0]))
        tensor([0., 0.])
        """
        from chainrule.scipy import special

        return special.xlogy(self, other)

    def logit(self, eps: float | None = None) -> Tensor:
        """The elementwise log(p / (1 - p)), with p clamped to [eps, 1 - eps] if `eps` is given
        (`chainrule.scipy.special.logit`; needs SciPy).

        >>> import chainrule as cr
        >>> cr.tensor([0.5, 0.0]).logit(eps=0.25)
        tensor([ 0.      , -1.098612])
        """
        from chainrule.scipy import special

        return special.logit(self if eps is None else _F.clamp(self, eps, 1.0 - eps))

    def float_power(self, exponent: Any) -> Tensor:
        """self ** exponent in double precision (float64, or complex128 for complex values).

        >>> import chainrule as cr
        >>> cr.tensor([2.0, 3.0], dtype=cr.float32).float_power(2)
        tensor([4., 9.])
        """
        return _cx.float_power(self, exponent)

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:  # fmt: skip
        """Elementwise |self - other| <= atol + rtol * |other| (a bool tensor).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).isclose(cr.tensor([1.0 + 1e-9, 2.1]))
        tensor([ True, False], dtype=bool)
        """
        return _cx.isclose(self, other, rtol, atol, equal_nan)

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        """`clamp(min=min)`: values below `min` raised to it.

        >>> import chainrule as cr
        >>> cr.tensor([-1.0, 2.0]).clamp_min(0.0)
        tensor([0., 2.])
        """
        return _F.clamp(self, min, None)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        """`clamp(max=max)`: values above `max` lowered to it.

        >>> import chainrule as cr
        >>> cr.tensor([-1.0, 2.0]).clamp_max(0.0)
        tensor([-1.,  0.])
        """
        return _F.clamp(self, None, max)

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:  # fmt: skip
        """NaN, +inf and -inf replaced by `nan`, `posinf` and `neginf` (by default 0 and the
        largest and smallest finite values of the dtype); the gradient is 0 there.

        >>> import chainrule as cr
        >>> cr.tensor([float("nan"), float("inf"), 1.0]).nan_to_num(posinf=9.0)
        tensor([0., 9., 1.])
        """
        return _cx.nan_to_num(self, nan=nan, posinf=posinf, neginf=neginf)

    def positive(self) -> Tensor:
        """The tensor itself (refused for a bool tensor, as in PyTorch).

        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, -2.0])
        >>> x.positive() is x
        True
        """
        if self.dtype.kind == "b":
            raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
        return self

    def angle(self) -> Tensor:
        """The elementwise argument of complex values; for real ones PyTorch's: π below 0,
        else 0 (-0.0 included, where NumPy's `angle` gives π), NaN kept, in the tensor's
        dtype, recorded with derivative 0.

        >>> import chainrule as cr
        >>> cr.tensor([1j, -1.0 + 0j]).angle(), cr.tensor([-2.0, 3.0]).angle()
        (tensor([1.570796, 3.141593]), tensor([3.141593, 0.      ]))
        """
        if self.dtype.kind == "c":  # PyTorch's gradient at 0 is 0 (JAX's, cnp.angle's, NaN)
            zero = self.detach() == 0
            return cnp.where(zero, cnp.angle(self.detach()),
                             cnp.angle(cnp.where(zero, 1.0, self)))  # fmt: skip
        d = self.detach()
        value = cnp.where(d < 0, np.pi, cnp.where(cnp.isnan(d), d, 0.0))
        return cnp._recorded_constant(self, value)

    # -- more reductions and products --
    def nansum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        """The sum over `dim` (all by default), NaN counted as 0.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, float("nan")], [2.0, 3.0]]).nansum(dim=1)
        tensor([1., 5.])
        """
        return _cx.nansum(self, _F._dim(dim), dtype, keepdims=keepdim)

    def nanmean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        """The mean over `dim` (all by default) of the values that are not NaN.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, float("nan")], [2.0, 3.0]]).nanmean(dim=1)
        tensor([1. , 2.5])
        """
        return _cx.nanmean(self, _F._dim(dim), dtype, keepdims=keepdim)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        """The number of nonzero values over `dim` (all by default), as int64.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 0.0], [2.0, 3.0]]).count_nonzero(dim=1)
        tensor([1, 2], dtype=int64)
        """
        return _cx.count_nonzero(self, _F._dim(dim))

    def vdot(self, other: Any) -> Tensor:
        """The dot product of two 1-D tensors, self conjugated.

        >>> import chainrule as cr
        >>> cr.tensor([1j, 2.0]).vdot(cr.tensor([1j, 1.0]))
        tensor(3.+0.j, dtype=complex128)
        """
        if self.ndim != 1 or _F._ndim(other) != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and "
                               f"{_F._ndim(other)}D tensors")  # fmt: skip
        return cnp.vdot(self, other)

    def inner(self, other: Any) -> Tensor:
        """The sums of products over the last dimension of both tensors.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).inner(cr.tensor([1.0, 1.0]))
        tensor([3., 7.])
        """
        return cnp.inner(self, other)

    def kron(self, other: Any) -> Tensor:
        """The Kronecker product.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 10.0]).kron(cr.tensor([1.0, 2.0]))
        tensor([ 1.,  2., 10., 20.])
        """
        return cnp.kron(self, other)

    def cross(self, other: Any, dim: int | None = None) -> Tensor:
        """The cross product of vectors of 3 along `dim` (by default, as PyTorch's method, the
        first dimension of length 3).

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 0.0, 0.0]).cross(cr.tensor([0.0, 1.0, 0.0]))
        tensor([0., 0., 1.])
        """
        shape = np.broadcast_shapes(tuple(self.shape), _F._shape(other))
        if dim is None:
            dim = next((i for i, n in enumerate(shape) if n == 3), None)
            if dim is None:
                raise RuntimeError("no dimension of size 3 in input")
        dim = _F._norm_dim(dim, len(shape))
        if shape[dim] != 3:
            raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3 "
                               f"(the broadcast shape is {shape})")  # fmt: skip
        return _cx.cross(self, other, axis=dim)

    def diff(self, n: int = 1, dim: int = -1, prepend: Any = None,
             append: Any = None) -> Tensor:  # fmt: skip
        """The `n`-th forward difference along `dim`, after `prepend` and before `append`.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 4.0, 9.0, 16.0]).diff(), cr.tensor([1.0, 4.0, 9.0]).diff(n=2)
        (tensor([3., 5., 7.]), tensor([2.]))
        """
        kw = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
        return _cx.diff(self, n, _F._norm_dim(dim, self.ndim), **kw)

    def det(self) -> Tensor:
        """The determinant of a square matrix (or of each in a batch).

        >>> import chainrule as cr
        >>> cr.tensor([[2.0, 1.0], [1.0, 3.0]]).det()
        tensor(5.)
        """
        return _la.det(self)

    def inverse(self) -> Tensor:
        """The inverse of a square matrix (or of each in a batch).

        >>> import chainrule as cr
        >>> cr.tensor([[2.0, 0.0], [0.0, 4.0]]).inverse()
        tensor([[0.5 , 0.  ],
                [0.  , 0.25]])
        """
        return _la.inv(self)

    def logdet(self) -> Tensor:
        """The log of the determinant: NaN where it is negative, -inf where it is 0 (for a
        complex matrix, the complex log).

        >>> import chainrule as cr
        >>> cr.tensor([[2.0, 1.0], [1.0, 3.0]]).logdet()
        tensor(1.609438)
        """
        sign, logabsdet = _la.slogdet(self)
        if self.dtype.kind == "c":
            return cnp.log(sign) + logabsdet
        return cnp.where(sign < 0, np.nan, logabsdet)

    def matrix_power(self, n: int) -> Tensor:
        """The matrix to the integer power `n` (negative: of its inverse).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 1.0], [0.0, 1.0]]).matrix_power(3)
        tensor([[1., 3.],
                [0., 1.]])
        """
        return _la.matrix_power(self, n)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        """self + weight * (end - self); `weight` a number or a tensor.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).lerp(cr.tensor([3.0, 4.0]), 0.5)
        tensor([2., 3.])
        """
        return self + weight * (end - self)

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 * tensor2.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).addcmul(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), value=0.5)
        tensor([2.5, 6. ])
        """
        return self + value * (tensor1 * tensor2)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Tensor:
        """self + value * tensor1 / tensor2.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).addcdiv(cr.tensor([1.0, 2.0]), cr.tensor([4.0, 4.0]))
        tensor([1.25, 2.5 ])
        """
        return self + value * (tensor1 / tensor2)

    def addmm(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        """beta * self + alpha * (mat1 @ mat2), for 2-D mat1 and mat2 (self broadcast); with
        beta = 0, self is ignored (its NaN and inf too), as in PyTorch.

        >>> import chainrule as cr
        >>> cr.ones(2, 2).addmm(cr.eye(2), cr.tensor([[1.0, 2.0], [3.0, 4.0]]), beta=0.5)
        tensor([[1.5, 2.5],
                [3.5, 4.5]])
        """
        prod = _F.mm(mat1, mat2)
        if alpha != 1:
            prod = alpha * prod
        if beta == 0:  # PyTorch's: self is not read (a NaN in it does not propagate)
            return cnp._recorded_constant(self, prod)
        return (self if beta == 1 else beta * self) + prod

    # -- more shapes --
    def movedim(self, source: Any, destination: Any) -> Tensor:
        """The dimensions `source` moved to the positions `destination` (a view).

        >>> import chainrule as cr
        >>> cr.zeros(2, 3, 4).movedim(-1, 0).shape, cr.zeros(2, 3, 4).movedim((0, 1), (2, 0)).shape
        ((4, 2, 3), (3, 4, 2))
        """
        src, dst = _F._dims(source, self.ndim), _F._dims(destination, self.ndim)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                               f"dims) should contain the same number of dims as destination "
                               f"({list(dst)} dims)")  # fmt: skip
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise RuntimeError("movedim: repeated dim in `source` or `destination`")
        perm = [d for d in range(self.ndim) if d not in src]
        for d, s in sorted(zip(dst, src)):
            perm.insert(d, s)
        return _permuted(self, tuple(perm))

    moveaxis = movedim

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        """Dimension `dim` split into dimensions of `sizes` (one may be -1; a view).

        >>> import chainrule as cr
        >>> cr.zeros(2, 12).unflatten(1, (3, -1)).shape
        (2, 3, 4)
        """
        d = _F._norm_dim(dim, self.ndim)
        shape = tuple(self.shape)
        return _view(self, cnp.reshape(self, shape[:d] + tuple(sizes) + shape[d + 1:]), _RESHAPE)

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle (on and below diagonal `diagonal`) of the last two dimensions.

        >>> import chainrule as cr
        >>> cr.ones(2, 2).tril()
        tensor([[1., 0.],
                [1., 1.]])
        """
        return cnp.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle (on and above diagonal `diagonal`) of the last two dimensions.

        >>> import chainrule as cr
        >>> cr.ones(2, 2).triu(1)
        tensor([[0., 1.],
                [0., 0.]])
        """
        return cnp.triu(self, diagonal)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        """The values shifted by `shifts` along `dims` (of the flattened tensor without),
        wrapping around.

        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0, 3.0]).roll(1)
        tensor([3., 1., 2.])
        """
        if dims is None:
            return cnp.roll(self, shifts)
        return cnp.roll(self, shifts, _F._dim(dims))

    def rot90(self, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
        """Rotated by 90 degrees `k` times, from the first of `dims` towards the second.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).rot90()
        tensor([[2., 4.],
                [1., 3.]])
        """
        return cnp.rot90(self, k, tuple(dims))

    def fliplr(self) -> Tensor:
        """The order reversed along dimension 1 (at least 2 dimensions).

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).fliplr()
        tensor([[2., 1.],
                [4., 3.]])
        """
        return cnp.fliplr(self)

    def flipud(self) -> Tensor:
        """The order reversed along dimension 0.

        >>> import chainrule as cr
        >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).flipud()
        tensor([[3., 4.],
                [1., 2.]])
        """
        return cnp.flipud(self)


# The elementwise methods: name -> (function, NumPy's reference for the example, input).
_ELEMENTWISE: dict = {
    "abs": (cnp.abs, np.abs, [-1.5, 2.0]), "exp": (cnp.exp, np.exp, [0.0, 1.0]),
    "exp2": (cnp.exp2, np.exp2, [0.0, 3.0]), "expm1": (cnp.expm1, np.expm1, [0.0, 1e-3]),
    "log": (cnp.log, np.log, [0.5, 2.0]), "log1p": (cnp.log1p, np.log1p, [0.0, 1e-3]),
    "log2": (cnp.log2, np.log2, [0.5, 8.0]), "log10": (cnp.log10, np.log10, [0.1, 100.0]),
    "sin": (cnp.sin, np.sin, [0.0, 1.0]), "cos": (cnp.cos, np.cos, [0.0, 1.0]),
    "tan": (cnp.tan, np.tan, [0.0, 1.0]), "asin": (cnp.arcsin, np.arcsin, [0.0, 0.5]),
    "acos": (cnp.arccos, np.arccos, [0.0, 0.5]), "atan": (cnp.arctan, np.arctan, [0.0, 1.0]),
    "sinh": (cnp.sinh, np.sinh, [0.0, 1.0]), "cosh": (cnp.cosh, np.cosh, [0.0, 1.0]),
    "tanh": (cnp.tanh, np.tanh, [0.0, 1.0]), "sqrt": (cnp.sqrt, np.sqrt, [0.25, 2.0]),
    "rsqrt": (_F.rsqrt, lambda v: 1 / np.sqrt(v), [0.25, 4.0]),
    "square": (cnp.square, np.square, [-1.5, 2.0]),
    "reciprocal": (cnp.reciprocal, np.reciprocal, [0.5, -4.0]),
    "neg": (cnp.negative, np.negative, [-1.5, 2.0]), "sign": (cnp.sign, np.sign, [-1.5, 0.0]),
    "floor": (cnp.floor, np.floor, [-1.5, 2.5]), "ceil": (cnp.ceil, np.ceil, [-1.5, 2.5]),
    "trunc": (cnp.trunc, np.trunc, [-1.5, 2.5]),
    "sigmoid": (_F.sigmoid, lambda v: 1 / (1 + np.exp(-v)), [0.0, 2.0]),
    "relu": (_F.relu, lambda v: np.maximum(v, 0.0), [-1.5, 2.0]),
    "isnan": (cnp.isnan, np.isnan, [np.nan, 1.0]),
    "isfinite": (cnp.isfinite, np.isfinite, [np.inf, 1.0]),
    "asinh": (cnp.arcsinh, np.arcsinh, [0.0, 1.0]),
    "acosh": (cnp.arccosh, np.arccosh, [1.0, 2.0]),
    "atanh": (cnp.arctanh, np.arctanh, [0.0, 0.5]),
    "sinc": (cnp.sinc, np.sinc, [0.0, 0.5]),
    "deg2rad": (cnp.deg2rad, np.deg2rad, [90.0, 180.0]),
    "rad2deg": (cnp.rad2deg, np.rad2deg, [np.pi / 2, np.pi]),
    "frac": (lambda x: x - cnp.trunc(x), lambda v: v - np.trunc(v), [-1.5, 2.25]),
    "sgn": (lambda x: _sgn(x), np.sign, [-1.5, 0.0]),
    "erf": (lambda x: _special("erf", x), np.vectorize(math.erf), [0.0, 0.5]),
    "erfc": (lambda x: _special("erfc", x), np.vectorize(math.erfc), [0.0, 0.5]),
    "erfinv": (lambda x: _special("erfinv", x), lambda v: np.array([0.0, 0.5]),
               [0.0, math.erf(0.5)]),
    "lgamma": (lambda x: _special("gammaln", x), np.vectorize(math.lgamma), [0.5, 3.0]),
    "digamma": (lambda x: _special("digamma", x), lambda v: v - 1.0 - np.euler_gamma,
                [1.0, 2.0]),
}  # fmt: skip
_NOTES = {
    "abs": " The gradient at 0 is 0.", "relu": " The gradient at 0 is 0, as PyTorch's.",
    "sigmoid": " 1 / (1 + exp(-x)), without overflow.",
    "sign": " No gradient flows through it.", "floor": " No gradient flows through it.",
    "ceil": " No gradient flows through it.", "trunc": " No gradient flows through it.",
    "frac": " self - trunc(self).",
    "sgn": " sign for real values, self / abs(self) (0 at 0) for complex ones.",
    "erf": " Needs SciPy (`chainrule.scipy.special.erf`).",
    "erfc": " Needs SciPy (`chainrule.scipy.special.erfc`).",
    "erfinv": " Needs SciPy (`chainrule.scipy.special.erfinv`).",
    "lgamma": " log|gamma(self)|; needs SciPy (`chainrule.scipy.special.gammaln`).",
    "digamma": " Needs SciPy (`chainrule.scipy.special.digamma`).",
}


def _special(name: str, x: Tensor) -> Tensor:
    """`chainrule.scipy.special`'s function `name` (SciPy is optional: imported when used)."""
    from chainrule.scipy import special

    return getattr(special, name)(x)


def _sgn(x: Tensor) -> Tensor:
    """PyTorch's sgn: sign for real values; for complex ones x / |x| (0 at 0, gradient too)."""
    if x.dtype.kind != "c":
        return cnp.sign(x)
    zero = x == 0
    return cnp.where(zero, 0, x / cnp.where(zero, 1, cnp.abs(x)))


def _example(name: str, call: str, ref: Callable, data: list, inplace: bool = False) -> str:
    expected = repr(_new(np.asarray(ref(np.array(data))), None))
    src = str(data).replace("nan", "float('nan')").replace("inf", "float('inf')")
    if inplace:
        return (f"    >>> import chainrule as cr\n    >>> t = cr.tensor({src})\n"
                f"    >>> _ = t.{call}\n    >>> t\n    {expected}\n")  # fmt: skip
    return f"    >>> import chainrule as cr\n    >>> cr.tensor({src}).{call}\n    {expected}\n"


def _elementwise_method(name: str, fn: Callable, ref: Callable, data: list) -> Callable:
    def method(self: Tensor) -> Tensor:
        return fn(self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"Elementwise {name}.{_NOTES.get(name, '')}\n\n"
                      + _example(name, f"{name}()", ref, data))  # fmt: skip
    return method


def _unary_inplace(name: str, ref: Callable, data: list) -> Callable:
    def method(self: Tensor) -> Tensor:
        return self._inplace(lambda a: getattr(a, name)(), name + "_")

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = (f"In-place `{name}` (recorded when a gradient flows through it).\n\n"
                      + _example(name, f"{name}_()", ref, data, inplace=True))  # fmt: skip
    return method


for _n, (_fn, _ref, _data) in _ELEMENTWISE.items():
    setattr(Tensor, _n, _elementwise_method(_n, _fn, _ref, _data))
    if _n not in ("isnan", "isfinite"):
        setattr(Tensor, _n + "_", _unary_inplace(_n, _ref, _data))
Tensor.absolute, Tensor.negative, Tensor.negative_ = Tensor.abs, Tensor.neg, Tensor.neg_
Tensor.arcsin, Tensor.arccos, Tensor.arctan = Tensor.asin, Tensor.acos, Tensor.atan
Tensor.arcsin_, Tensor.arccos_, Tensor.arctan_ = Tensor.asin_, Tensor.acos_, Tensor.atan_
Tensor.arcsinh, Tensor.arccosh, Tensor.arctanh = Tensor.asinh, Tensor.acosh, Tensor.atanh
Tensor.arcsinh_, Tensor.arccosh_, Tensor.arctanh_ = Tensor.asinh_, Tensor.acosh_, Tensor.atanh_
Tensor.round_ = _unary_inplace("round", np.round, [0.5, 1.5])
del _n, _fn, _ref, _data


def _view(base: Tensor, out: Any, kind: int) -> Any:
    """`out`, a view of `base` by reshaping or permuting: in-place changes reach `base`."""
    if isinstance(out, Tensor) and out is not base:
        _track(base, out, kind, None)
    return out


def _permuted(x: Tensor, perm: Any) -> Tensor:
    out = cnp.transpose(x, perm)
    if isinstance(out, Tensor) and out is not x:
        _track(x, out, _PERMUTE, perm)  # inverted when an in-place change passes back
    return out


# kinds of views: t[index], reshapes, permutations (passed back to the base when written),
# views made by a primitive (`_PRIM`), and copies where PyTorch gives a view (`_COPY`, read-only)
_INDEX, _RESHAPE, _PERMUTE, _PRIM, _COPY = 0, 1, 2, 3, 4
_builtin_max = max
_BASIC = (int, slice, type(None), type(Ellipsis), np.integer)


def _basic_index(index: Any) -> bool:
    """Whether `t[index]` is a view in PyTorch (no index arrays)."""
    if type(index) is tuple:
        return all(isinstance(i, _BASIC) and not isinstance(i, bool) for i in index)
    return isinstance(index, _BASIC) and not isinstance(index, bool)


def _write_back(base: tuple, new: Tensor, start: int) -> None:
    """A view took the value `new` in place: its base takes the matching value (recorded),
    and makes its views again, this one included."""
    tensor, kind, info = base
    tensor._check_inplace()
    if kind == _INDEX:
        tensor._assign(cnp.index_set(tensor, info, new), start)
    elif kind == _RESHAPE:
        tensor._assign(cnp.reshape(new, tensor.shape), start)
    else:
        nd = tensor.ndim
        p = tuple(range(nd))[::-1] if info is None else tuple(a % nd for a in info)
        tensor._assign(cnp.transpose(new, tuple(int(i) for i in np.argsort(p))), start)


def _track(base: Tensor, view: Tensor, kind: int, info: Any) -> None:
    """`view` shows `base`'s memory (made by `kind`: t[info], a reshape, a permutation, or a
    primitive `info = (prim, params)`): it shares `base`'s version counter, and is made again
    from `base` when `base` takes a recorded in-place change (`_regenerate`)."""
    old = getattr(view, "_base", None)
    view._base = (base, kind, info)
    view._ver = base._ver
    if old is not None and old[0] is base:
        return  # (registered already)
    views = getattr(base, "_views", None)
    if views is None:
        base._views = [weakref.ref(view)]
    else:
        if len(views) >= 16:
            views[:] = [r for r in views if r() is not None]
        views.append(weakref.ref(view))


def _regenerate(t: Tensor) -> None:
    """The live views of `t`, which took a recorded in-place change, made again from it (as
    PyTorch regenerates a view's grad_fn): their values show its memory, their nodes lead to
    its new node, and so on for views of views."""
    views = getattr(t, "_views", None)
    if not views:
        return
    for ref in list(views):
        v = ref()
        if v is None or getattr(v, "_base", None) is None or v._base[0] is not t:
            continue
        _, kind, info = v._base
        if kind == _INDEX:
            nv = t[info]
        elif kind == _RESHAPE:
            nv = cnp.reshape(t, v.shape)
        elif kind == _PERMUTE:
            nv = cnp.transpose(t, info)
        elif kind == _COPY:
            nv = info(t)
            nv._value = _read_only(nv._value)
        else:
            prim, params, k = info
            nv = bind_with(prim, (t,), params)
            nv = nv if k is None else nv[k]
        _move_retain(v, v._node, nv._node)
        v._value, v._node = nv._value, nv._node
        _regenerate(v)
    views[:] = [r for r in views if r() is not None]


def _move_retain(t: Tensor, old: Node | None, new: Node | None) -> None:
    """`retain_grad()` follows the tensor to the node of its new version (PyTorch: `.grad` is
    the gradient of its current value); hooks stay with the old one."""
    m = None if old is None else old.meta
    if m is None or not m.retain or m.owner is None or m.owner() is not t or new is None:
        return
    m.retain = False
    meta = new.meta or NodeMeta()
    meta.owner, meta.retain = weakref.ref(t), True
    new.meta = meta


def _keep_originals(node: Node | None, start: int, memory: np.ndarray) -> None:
    """What the nodes numbered from `start` on that lead to `node` (one in-place operation's)
    saved of `memory`, about to be overwritten: copies (PyTorch saves the original of an
    in-place operation's input)."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n is None or n.seq < start or id(n) in seen:
            continue
        seen.add(id(n))
        saved = n.saved
        if saved and any(type(a) is np.ndarray and np.may_share_memory(a, memory)
                         for a in saved):  # fmt: skip
            n.saved = tuple(a.copy() if type(a) is np.ndarray and np.may_share_memory(a, memory)
                            else a for a in saved)  # fmt: skip
        stack.extend(n.parents)


def _read_only(v: Any) -> Any:
    """`v`, made read-only when a NumPy array (a copy standing for a view: never written)."""
    if type(v) is np.ndarray:
        v.flags.writeable = False
    return v


def _refresh_copies(t: Tensor) -> None:
    """The copies standing for views of `t` (`_COPY`), whose memory was written outside the
    graph: their values made again (a view would show the new values)."""
    views = getattr(t, "_views", None)
    if not views:
        return
    for ref in views:
        v = ref()
        if v is not None and getattr(v, "_base", None) is not None and v._base[0] is t:
            if v._base[1] == _COPY:
                with no_grad():
                    v._value = _read_only(v._base[2](t.detach())._value)
            _refresh_copies(v)


def _refuse_read_only_view(t: Tensor, what: str) -> None:
    """An in-place change of a view whose memory cannot be written (an expanded tensor, a
    broadcast, or a view of one) would reach nothing: refused."""
    v, base = t._value, getattr(t, "_base", None)
    if base is not None and base[1] == _COPY:
        raise RuntimeError(
            f"{what} on the result of {base[2].__name__}(), a read-only copy in chainrule where "
            "PyTorch gives a view: write into the tensor it was taken from (t[index] = ...), "
            "or .clone() it first"
        )
    if type(v) is np.ndarray and not v.flags.writeable and base is not None:
        raise RuntimeError(
            f"{what} on a read-only view (of an expanded or broadcast tensor: several of its "
            "elements may share one memory location); use .clone() first"
        )


def _renew_versions(node: Node | None, start: int, cells: tuple, version: int) -> None:
    """The nodes numbered from `start` on that lead to `node` (those of one in-place
    operation on a tensor whose version cell is `cells[0]`, with result cell `cells[1]`):
    what they saved of the tensor's old values is never written again (the tensor now holds
    new memory: PyTorch's saved copy of the original), and their saved result is the
    tensor's memory from now on, at `version`."""
    old, res = cells
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n is None or n.seq < start or id(n) in seen:
            continue
        seen.add(id(n))
        if n.versions:
            n.versions = [(old, version) if c is res else (c, v) for c, v in n.versions
                          if c is not old] or None  # fmt: skip
        stack.extend(n.parents)


_ARRAYS = (np.ndarray, Tensor)
_tracer_pow = Tracer.__pow__  # (NumPy's power; Tensor.__pow__ takes PyTorch's kernels first)
_SCALAR_TYPES = frozenset({int, float, np.int64, np.float64, np.int32, np.float32})
_POW_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
_IPOW_PARAMS = {3: {"y": 3}, -2: {"y": -2}}  # (shared, never changed: keyed as 3.0 and -2.0)


class _HookHandle:
    def __init__(self, hooks: list, hook: Any):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


# --- running the backward pass ---------------------------------------------------------------
#
# The engine's cotangents follow JAX's convention (no conjugation); PyTorch's gradients of
# complex tensors (and TensorFlow's) are their conjugates. The conversion happens here, at the
# boundary: the `gradient=` seeds of complex outputs are conjugated on the way in, and what is
# delivered to a complex tensor (`.grad`, hooks, `autograd.grad`'s results) on the way out.


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
    cplx = t._value.dtype.kind == "c"
    if g is None:
        if t._value.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs (this output has "
                f"shape {t.shape}): pass gradient= (the vector of the vector-Jacobian product)"
            )
        if cplx:
            raise RuntimeError(
                "grad can be implicitly created only for real scalar outputs: this output is "
                "complex; pass gradient= (PyTorch's convention: the conjugate Wirtinger "
                "gradient of a real loss with respect to it), or backward a real value "
                "(abs(z) ** 2, z.real)"
            )
        one = np.array(1, t.dtype).reshape(t.shape)
        return _placed(one, t.device) if type(t._value) is ForeignTracer else one
    if isinstance(g, Tensor) and g._node is not None:
        val = cnp.conj(g) if cplx else g
    elif type(t._value) is ForeignTracer or (isinstance(g, Tensor) and
                                             type(g._value) is ForeignTracer):  # fmt: skip
        val = _placed(_as_array(g, t.dtype), t.device)  # a copy, on the output's device
        if cplx:
            val = cnp.conj(val)
    else:  # a copy: the gradients it becomes must not alias the caller's array
        val = np.array(_value_of(g), dtype=t.dtype)
        if cplx:
            val = np.conj(val)
    if val.shape != t.shape:
        raise RuntimeError(f"mismatch in shape: gradient has shape {val.shape}, output {t.shape}")
    return val


def _lift(node: Node) -> tuple:
    """The values a node saved, as Tensors in the graph (to record the backward pass)."""
    saved = node.saved
    if saved is FREED:
        return saved
    row = vjp_rules[node.prim]
    if row.joint is not None and not row.inputs:
        raise NotImplementedError(
            f"create_graph=True through {node.name()}: its backward pass cannot be recorded "
            "yet (a second derivative would be lost); use the functional cr.grad(cr.grad(f))"
        )
    if row.joint is not None and saved[0] is None:
        out = [LIFTED]
    else:
        out = [saved[0] if saved[0] is None or isinstance(saved[0], tuple) else
               _new(saved[0], node)]  # fmt: skip
    for v, p in zip(saved[1:], node.parents):
        if p is not None and not isinstance(v, Node) and not isinstance(v, Tracer):
            out.append(_new(v, p))
        else:
            out.append(v)
    out.extend(saved[1 + len(node.parents):])  # a joint rule's own values, after the operands
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
    for `inputs` (which may be intermediate tensors). Seeds and results follow PyTorch's
    complex convention (conjugates of the engine's cotangents)."""
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
        state = _mode.off()
        try:
            leaves = reverse.backward_pass(roots, retain, None, capture)
        finally:
            _mode.restore(state)
    results = []
    if inputs is not None:
        for n in targets:
            g = n.ct if n.prim is None else capture.get(n)
            results.append(g)
    handed: set = set()
    for leaf in leaves:
        g, leaf.ct = leaf.ct, None
        if id(g) in handed:  # one array reached two leaves (x + y): each gets its own
            g = g * 1 if isinstance(g, Tracer) else np.array(g)
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
        if g is not None:
            g = g if isinstance(g, Tensor) else _new(g, None)
            if g._value.dtype.kind == "c":
                g = cnp.conj(g)
        out.append(g)
    return out


# The common case of EagerTrace.process_primitive in one frame, beside it (executor.use).
executor.beside(EagerTrace, "process_primitive",
                executor.tensor_path(EagerTrace.process_primitive, Tensor, _NOT_PLAIN))


# --- creation --------------------------------------------------------------------------------


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of `data` (Python floats and lists stay float64).

    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    """
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, device=device)


def _leaf(value: Any, requires_grad: bool, device: Any = None) -> Tensor:
    """A new leaf tensor on `value` itself (no copy), moved to `device` when it is given
    (values are made by NumPy on the host, then moved: the one transfer)."""
    t = _new(value if device is None else _placed(value, device), None)
    if requires_grad:
        t.requires_grad_()
    return t


def _shape_args(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported (the result is a new tensor)")


def _factory(npfun: Callable, name: str) -> Callable:
    def make(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
             out: Any = None, **kw: Any) -> Tensor:  # fmt: skip
        _no_out(name, out)
        if "size" in kw:
            shape = (kw.pop("size"),)
        kw.pop("layout", None)
        kw.pop("pin_memory", None)
        if kw:
            raise TypeError(f"{name}() got unexpected keyword arguments {sorted(kw)}")
        return _leaf(npfun(_shape_args(shape), dtype or np.float64), requires_grad, device)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"""A new tensor of `numpy.{npfun.__name__}` values; the shape as a tuple or
    as separate integers (float64 by default, as NumPy).

    >>> import chainrule as cr
    >>> cr.{name}(2, 3).shape
    (2, 3)
    """
    return make


zeros = _factory(np.zeros, "zeros")
ones = _factory(np.ones, "ones")
empty = _factory(np.empty, "empty")


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:  # fmt: skip
    """A new tensor filled with `fill_value` (its dtype follows the value, as NumPy's).

    >>> import chainrule as cr
    >>> cr.full((2,), 3.0)
    tensor([3., 3.])
    """
    if isinstance(size, (int, np.integer)):
        size = (size,)
    return _leaf(np.full(tuple(size), _value_of(fill_value), dtype), requires_grad, device)


def _like(npfun: Callable, name: str) -> Callable:
    def make(input: Any, dtype: Any = None, requires_grad: bool = False,  # noqa: A002
             device: Any = None, **kw: Any) -> Tensor:  # fmt: skip
        kw.pop("memory_format", None)
        kw.pop("layout", None)
        v = input._value if isinstance(input, Tensor) else np.asarray(input)
        if type(v) is ForeignTracer:  # made on the host, then moved to input's device
            return _leaf(npfun(np.empty(v.shape, v.dtype), dtype=dtype, **kw), requires_grad,
                         _device_like(input, device))  # fmt: skip
        return _leaf(npfun(v, dtype=dtype, **kw), requires_grad, device)

    make.__name__ = make.__qualname__ = name
    make.__doc__ = f"""A new tensor like `input` (shape and dtype) of `numpy.{npfun.__name__}`.

    >>> import chainrule as cr
    >>> cr.{name}(cr.zeros(2)).shape
    (2,)
    """
    return make


zeros_like = _like(np.zeros_like, "zeros_like")
ones_like = _like(np.ones_like, "ones_like")
empty_like = _like(np.empty_like, "empty_like")


def full_like(input: Any, fill_value: Any, dtype: Any = None,  # noqa: A002
              requires_grad: bool = False, device: Any = None) -> Tensor:  # fmt: skip
    """A new tensor like `input` (shape and dtype) filled with `fill_value`.

    >>> import chainrule as cr
    >>> cr.full_like(cr.zeros(2), 7.0)
    tensor([7., 7.])
    """
    v = input._value if isinstance(input, Tensor) else np.asarray(input)
    if type(v) is ForeignTracer:
        v = np.empty(v.shape, v.dtype)  # made on the host, then moved to input's device
    return _leaf(np.full_like(v, _value_of(fill_value), dtype=dtype), requires_grad,
                 _device_like(input, device))  # fmt: skip


def _device_like(input: Any, device: Any) -> Any:  # noqa: A002
    """The device of a ``*_like`` result: `device`, or `input`'s (as PyTorch)."""
    return device if device is not None or not isinstance(input, Tensor) else input.device


def rand_like(input: Any, dtype: Any = None, requires_grad: bool = False,  # noqa: A002
              device: Any = None) -> Tensor:  # fmt: skip
    """Uniform values in [0, 1), shaped like `input` (its dtype by default).

    >>> import chainrule as cr
    >>> cr.rand_like(cr.zeros(3)).shape
    (3,)
    """
    return rand(*np.shape(input), dtype=dtype or input.dtype, requires_grad=requires_grad,
                device=_device_like(input, device))  # fmt: skip


def randn_like(input: Any, dtype: Any = None, requires_grad: bool = False,  # noqa: A002
               device: Any = None) -> Tensor:  # fmt: skip
    """Standard normal values shaped like `input` (its dtype by default).

    >>> import chainrule as cr
    >>> cr.randn_like(cr.zeros(3)).shape
    (3,)
    """
    return randn(*np.shape(input), dtype=dtype or input.dtype, requires_grad=requires_grad,
                 device=_device_like(input, device))  # fmt: skip


def arange(*args: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
           **kw: Any) -> Tensor:  # fmt: skip
    """`numpy.arange` as a tensor (`start`, `end`, `step` as PyTorch names them).

    >>> import chainrule as cr
    >>> cr.arange(3)
    tensor([0, 1, 2], dtype=int64)
    """
    if "end" in kw:
        args = (kw.pop("start", 0), kw.pop("end"), kw.pop("step", 1))
    if kw:
        raise TypeError(f"arange() got unexpected keyword arguments {sorted(kw)}")
    return _leaf(np.arange(*[_value_of(a) for a in args], dtype=dtype), requires_grad, device)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:  # fmt: skip
    """`steps` evenly spaced values from `start` to `end` (as `torch.linspace`).

    >>> import chainrule as cr
    >>> cr.linspace(-3, 3, 3)
    tensor([-3.,  0.,  3.])
    """
    return _leaf(np.linspace(start, end, steps, dtype=dtype), requires_grad, device)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False,
        device: Any = None) -> Tensor:  # fmt: skip
    """The identity matrix.

    >>> import chainrule as cr
    >>> cr.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    return _leaf(np.eye(n, m, dtype=dtype or np.float64), requires_grad, device)


def _rng() -> Any:
    """chainrule's default generator (chainrule.numpy.random's too), loaded on first use."""
    from chainrule.numpy.random import DEFAULT

    return DEFAULT


def _random(v: np.ndarray, dtype: Any, requires_grad: bool, device: Any) -> Tensor:
    """Values drawn on the host (chainrule's generator: the same stream on every device)."""
    if dtype is not None and np.dtype(dtype) != v.dtype:
        v = v.astype(dtype)
    return _leaf(v, requires_grad, device)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
    """Uniform values in [0, 1).

    >>> import chainrule as cr
    >>> cr.rand(2, 2).shape
    (2, 2)
    """
    _check_device(device)
    return _random(_rng().random(_shape_args(shape)), dtype, requires_grad, device)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None):
    """Standard normal values.

    >>> import chainrule as cr
    >>> cr.randn(3).shape
    (3,)
    """
    _check_device(device)
    return _random(_rng().standard_normal(_shape_args(shape)), dtype, requires_grad, device)


_F._register_face(
    Tensor=Tensor, leaf=_leaf, mode=_mode, check_device=_check_device, no_grad=no_grad,
    enable_grad=enable_grad, full_like=full_like, empty_like=empty_like, rand_like=rand_like,
    randn_like=randn_like,
)  # fmt: skip


# --- jit: Tensors in and out ------------------------------------------------------------------


class _JitTensors:
    """How `cr.jit` stages Tensor arguments (see `chainrule.transforms.jit._TensorHooks`)."""

    @staticmethod
    def is_tensor(x: Any) -> bool:
        return isinstance(x, Tensor)

    @staticmethod
    def wrap(tracer: Any, like: Any) -> Tensor:
        return _new(tracer, None)

    @staticmethod
    def value(t: Any) -> Any:
        return t._value

    @staticmethod
    def write_back(t: Tensor, value: Any, name: str) -> None:
        """An in-place change the jitted function made to its argument `t`."""
        if t._node is not None or (t.requires_grad and _mode.enabled):
            raise RuntimeError(
                f"jit of {name}: the function changes its argument in place, a Tensor that "
                "requires grad (a leaf Variable that requires grad is being used in an in-place "
                "operation); change a copy, or call it under cr.no_grad()"
            )
        value = value._value if isinstance(value, Tensor) else value
        v = t._value
        if type(v) is np.ndarray and v.flags.writeable and v.shape == np.shape(value):
            v[...] = value
        else:
            t._value = np.array(value)
        t._ver[0] += 1

    @staticmethod
    def donated(t: Tensor, name: str) -> None:
        """`t` was donated to a jitted function: any later use raises."""
        t._value = _Donated(name)
        t._ver[0] += 1


class _Donated:
    """The value of a Tensor given up to a jitted function (donate_argnums)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        name = object.__getattribute__(self, "name")
        raise RuntimeError(
            f"this Tensor was donated to the jitted function {name} (donate_argnums): its "
            "buffer belongs to the results now; use the function's output"
        )

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__getattr__("__array__")

    def __repr__(self) -> str:
        return "<donated>"


_jit.TENSORS = _JitTensors()
