"""Traces, tracers and the one door every operation goes through: `bind`.

A transformation in flight is a `Trace`; the values it follows are its `Tracer` objects.
Traces are *tagged*: each call of a transformation creates a fresh trace whose ``level`` is
its nesting depth in this thread, so a tracer captured from an outer transformation is told
apart from the inner one's own (no perturbation confusion). When the transformation ends its
trace is marked dead, and `bind` refuses its tracers from then on (`UnexpectedTracerError`).

`bind(prim, *args, **params)` finds the highest-level trace among the arguments and lets it
process the primitive; arguments that are not its tracers (plain values, tracers of lower
traces) are its constants or are lifted by it. With no tracer among them, the primitive's
implementation runs.

Every tracer has an abstract value (`aval`: shape, dtype, weak type). `bool()`, `float()`,
`int()` and `operator.index()` of a tracer ask its trace, which gives a concrete value or
raises (`ConcretizationError` where only the abstract value is known).

>>> from chainrule.core import primitives as P
>>> bind(P.add_p, 1.0, 2.0)
np.float64(3.0)
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

from chainrule.core import config
from chainrule.core import namespace as _ns
from chainrule.core.avals import ShapeDtypeStruct, aval_of
from chainrule.core.errors import (
    NumPyOnlyError, UnexpectedTracerError, concretization_error, conversion_error,
)  # fmt: skip
from chainrule.core import primitives as _P
from chainrule.core.primitives import Primitive


class _State(threading.local):
    def __init__(self) -> None:
        self.depth = 0  # transformations in flight in this thread: a new trace's level is one more
        self.staging: list = []  # the programs being staged (jit) in this thread, innermost last
        self.traces: list = []  # the transformations in flight in this thread, innermost last
        self.below = -1  # the depth when an enclosing transformation began to process a
        # primitive while a program was being staged (programs staged since take constants)


_state = _State()

#: How many programs are being staged (jit), in all threads. While it is 0 the hot paths do
#: not read this thread's `_state.staging`: a thread-local read costs as much as a small call.
STAGING = [0]
_staging_lock = threading.Lock()


def begin_staging(trace: Trace) -> None:
    """Make `trace` the innermost program being staged in this thread (pair with
    `end_staging`, in a `finally`)."""
    with _staging_lock:
        STAGING[0] += 1
    _state.staging.append(trace)


def end_staging(trace: Trace) -> None:
    """`trace` is no longer being staged."""
    _state.staging.remove(trace)
    with _staging_lock:
        STAGING[0] -= 1


class Trace:
    """One transformation in flight. Subclasses implement `process_primitive` and, when their
    tracers have concrete values, `concrete`."""

    __slots__ = ("level", "alive", "name", "fun", "stack", "copies", "__weakref__")

    def __init__(self, level: int, name: str = "a transformation", fun: Any = None):
        self.level = level
        self.alive = True
        self.name = name
        self.fun = fun
        self.stack = _stack() if config.debug_tracer_leaks else None
        self.copies: dict | None = None  # id(a caller's array) -> (array, its protected copy)

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        raise NotImplementedError  # pragma: no cover

    def concrete(self, tracer: Tracer, what: str) -> Any:
        """The concrete value behind `tracer`, for `what` ('bool()', 'float()', ...)."""
        raise concretization_error(what, f"inside {self.describe()}")

    def carries_derivative(self, tracer: Tracer) -> bool:
        """Whether a derivative flows through `tracer` (what running NumPy on its value
        would lose)."""
        return True

    def describe(self) -> str:
        """'grad of f (defined at file.py:3)'."""
        fun = self.fun
        if fun is None:
            return self.name
        name = getattr(fun, "__name__", type(fun).__name__)
        code = getattr(fun, "__code__", None)
        at = f" (defined at {code.co_filename}:{code.co_firstlineno})" if code else ""
        return f"{self.name} of {name}{at}"


def _stack() -> list:
    import traceback

    return traceback.format_stack(limit=12)[:-3]


def new_trace(cls: type, name: str, fun: Any = None, *args: Any) -> Any:
    """Start a transformation: a fresh trace one level above everything in flight. Pair every
    call with `end_trace` (in a `finally`)."""
    state = _state.__dict__  # this thread's (one thread-local read: a call of grad's path)
    depth = state["depth"] = state["depth"] + 1
    trace = cls(depth, name, fun, *args)
    state["traces"].append(trace)  # random draws look for the transformations in flight
    return trace


def full(shape: tuple, dtype: Any, fill: Any, like: Any = None) -> Any:
    """An array of `fill` made by the engine itself (a gradient's seed): while a program is
    being staged in this thread, a staged value (a literal the compiler can simplify), else
    an array, in the namespace and on the device of `like` when that is another namespace's
    array (a `ForeignTracer`: inside a transformation).

    >>> full((2,), np.float32, 1)
    array([1., 1.], dtype=float32)
    """
    if STAGING[0] and _state.staging:
        return _state.staging[-1].full(shape, dtype, fill)
    if type(like) is ForeignTracer:
        v = like._value
        return ForeignTracer(_ns.Namespace(*_ns._where(v)).full(shape, fill, dtype))
    out = np.empty(shape, dtype)  # (np.full's Python costs as much as a small backward step)
    out.fill(fill)
    return out


def end_trace(trace: Trace) -> None:
    """End a transformation: its tracers are refused from now on."""
    trace.alive = False
    state = _state.__dict__
    state["depth"] -= 1
    traces = state["traces"]
    if traces and traces[-1] is trace:
        traces.pop()
    elif trace in traces:
        traces.remove(trace)


def _leaked(t: Tracer) -> UnexpectedTracerError:
    trace = t._trace
    where = "".join(trace.stack) if trace.stack else ""
    return UnexpectedTracerError(
        f"a value traced by {trace.describe()} was used after that transformation ended: it "
        "escaped (stored in a global, a closure, a list or an attribute while the "
        "transformation ran, or returned through a side channel). Pass it to the function as "
        "an argument and return it as an output instead."
        + (f"\nThe transformation was called here:\n{where}" if where else
           "\n(cr.config.update('debug_tracer_leaks', True) records where it was called.)")
    )


def _fail(prim: Primitive, args: tuple, err: Exception) -> None:
    """Re-raise `err` naming the primitive and its operands' shapes (once)."""
    msg = str(err)
    if msg.startswith(f"{prim.name}: ") and "operand shapes" in msg:
        raise err
    shapes = " and ".join(str(a.shape if hasattr(a, "shape") else np.shape(a)) for a in args)
    raise type(err)(f"{prim.name}: {err} (operand shapes {shapes})") from None


def _top(args: tuple) -> Trace | None:
    """The highest trace among the tracers in `args` (None: no tracer); a tracer of a
    finished transformation is refused."""
    top = None
    for a in args:
        if isinstance(a, Tracer):
            t = a._trace
            if not t.alive:
                raise _leaked(a)
            if top is None or t.level > top.level:
                top = t
    return top


def bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Apply `prim` to `args`: the highest live trace among them processes it, else its
    implementation runs. The only door: every operation of every face goes through here."""
    return bind_with(prim, args, params)


def bind_with(prim: Primitive, args: tuple, params: dict) -> Any:
    """`bind` with the operands and parameters already packed (what the operators call)."""
    n = len(args)
    if n == 2:  # the common cases, unrolled
        x, y = args
        if isinstance(x, Tracer):
            top = x._trace
            if isinstance(y, Tracer) and y._trace is not top:
                top = _top(args)
        else:
            top = y._trace if isinstance(y, Tracer) else None
    elif n == 1:
        x = args[0]
        top = x._trace if isinstance(x, Tracer) else None
    else:
        top = _top(args)
    if top is not None:
        if not top.alive:  # (every tracer's trace: those of other traces were checked)
            raise _leaked(next(a for a in args if isinstance(a, Tracer) and a._trace is top))
        if STAGING[0] and (staging := _state.staging) and top.level < staging[-1].level:
            # a transformation enclosing the program being staged works on its own values:
            # what it binds on constants belongs to no program staged so far (only to those
            # it starts)
            below = _state.below
            _state.below = _state.depth
            try:
                return top.process_primitive(prim, args, params)
            finally:
                _state.below = below
        return top.process_primitive(prim, args, params)
    if (STAGING[0] and (staging := _state.staging) and staging[-1].level > _state.below
            and prim not in _AXIS_PRIMS):
        # a program being staged (jit) records operations on constants too (collectives
        # find their vmap by axis name, as eagerly)
        return staging[-1].process_primitive(prim, args, params)
    if _ns.foreign_in(args):  # arrays of another namespace: its implementation
        return _ns.apply(prim, args, params)
    try:
        return prim.impl(*args, **params)
    except (ValueError, IndexError) as err:
        _fail(prim, args, err)


_AXIS_PRIMS = _P.COLLECTIVES

# NumPy's functions called on tracers are routed through these tables, which the public
# namespace (chainrule.numpy) fills: numpy ufunc -> function, numpy function -> function.
ufunc_handlers: dict = {}
function_handlers: dict = {}


def _is_scipy_ufunc(ufunc: Any) -> bool:
    """Whether `ufunc` is one of scipy.special's (they carry no `__module__`)."""
    sp = sys.modules.get("scipy.special")
    return sp is not None and getattr(sp, ufunc.__name__, None) is ufunc


def _scipy_ufunc(ufunc: Any) -> Any:
    """SciPy's special functions dispatch to chainrule.scipy.special's, loaded on first use."""
    from chainrule.core.plugins import load

    try:
        load("scipy_special")
    except ImportError:
        return None
    return ufunc_handlers.get(ufunc)


_INTEGRAL = "biu"


def _integral(out: Any) -> bool:
    """Whether a result holds only integers, booleans, None or strings (nothing a
    derivative could flow through)."""
    if out is None or isinstance(out, (bool, int, str, bytes, np.bool_, np.integer)):
        return True
    if isinstance(out, np.ndarray):
        return out.dtype.kind in _INTEGRAL or out.dtype.kind in "SUV"
    if isinstance(out, (tuple, list)):
        return all(_integral(o) for o in out)
    if isinstance(out, dict):
        return all(_integral(o) for o in out.values())
    return False


def on_values(name: str, func: Any, args: tuple, kwargs: dict) -> Any:
    """Run a NumPy function chainrule does not differentiate on the values of its traced
    arguments, as NumPy would on arrays. Allowed when no derivative is lost: every traced
    argument needs none (a Tensor without requires_grad), or every result is an integer, a
    boolean, None (a file written) or text; otherwise a NotImplementedError names it.

    The function sees copies: one that changes an argument in place (np.fill_diagonal,
    np.copyto) writes into a Tensor that needs no gradient as its own in-place operation
    (version bumped), and is refused on a value being differentiated."""
    carried: list = []
    copies: list = []  # (tracer, its array, the copy the function gets)

    def lower(x: Any) -> Any:
        if isinstance(x, Tracer):
            t = x._trace
            if not t.alive:
                raise _leaked(x)
            carried.append(t.carries_derivative(x))
            try:
                v = lower(t.concrete(x, name + "()"))
            except TypeError as err:
                raise NotImplementedError(
                    f"{name} is not supported on this traced value ({err}); chainrule.numpy "
                    "lists what is (docs/numpy_support.md)"
                ) from None
            if type(v) is np.ndarray:
                c = v.copy()
                copies.append((x, v, c))
                return c
            return v
        if type(x) in (list, tuple):
            return type(x)(lower(e) for e in x)
        if type(x) is dict:
            return {k: lower(v) for k, v in x.items()}
        return x

    out = func(*lower(args), **lower(kwargs))
    for x, v, c in copies:
        if c.shape == v.shape and c.dtype == v.dtype and (c == v).all() or (
            c.dtype.kind in "fc" and np.array_equal(c, v, equal_nan=True)
        ):
            continue
        if x._trace.carries_derivative(x) or getattr(x, "_ver", None) is None:
            raise NotImplementedError(
                f"{name} changes its argument in place, which a traced value cannot be (the "
                "graph keeps it); write the result to a new value with chainrule.numpy"
            )
        v[...] = c  # a Tensor that needs no gradient: an in-place operation on it
        x._ver[0] += 1
    if any(carried) and not _integral(out):
        raise NotImplementedError(
            f"{name} is not differentiable in chainrule (docs/numpy_support.md lists what is): "
            "on a value being differentiated it would drop the derivative. Use the "
            "chainrule.numpy function if there is one, or apply it to cr.stop_gradient(x)"
        )
    return out


class Tracer:
    """A value followed by a trace. Array operators and methods are those of `core.ops`
    (installed on this class there); NumPy's own functions dispatch to chainrule.numpy."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    def _below(self) -> Any:
        """The value this tracer follows, one transformation down (a lower tracer or an
        array); None where there is none (a staged value: only its type is known)."""
        return None

    @property
    def aval(self) -> ShapeDtypeStruct:
        """The abstract value: shape, dtype and weak type (what transformations see).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor(np.ones((2, 3), np.float32)).aval
        ShapeDtypeStruct(shape=(2, 3), dtype=float32)
        """
        raise NotImplementedError  # pragma: no cover

    @property
    def shape(self) -> tuple:
        """The shape, a tuple of ints (known under every transformation).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.tensor(np.ones((2, 3))).shape
        (2, 3)
        >>> cr.grad(lambda x: x.shape[0] * cnp.sum(x))(np.ones(3))
        array([3., 3., 3.])
        """
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (float64 unless made otherwise).

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor([1.0, 2.0]).dtype, cr.tensor(np.ones(2, np.float32)).dtype
        (dtype('float64'), dtype('float32'))
        """
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        """The number of dimensions.

        >>> import numpy as np, chainrule as cr
        >>> cr.tensor(np.ones((2, 3))).ndim
        2
        """
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d value)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d value")
        return (self[i] for i in range(self.shape[0]))

    def _concrete(self, what: str) -> Any:
        t = self._trace
        if not t.alive:
            raise _leaked(self)
        return t.concrete(self, what)

    def __bool__(self) -> bool:
        return bool(self._concrete("bool()"))

    def __float__(self) -> float:
        return float(self._concrete("float()"))

    def __int__(self) -> int:
        return int(self._concrete("int()"))

    def __complex__(self) -> complex:
        return complex(self._concrete("complex()"))

    def __index__(self) -> int:
        return self._concrete("operator.index()").__index__()

    def item(self, *args: Any) -> Any:
        """NumPy's `item`: a Python number (the value leaves the computation)."""
        return np.asarray(self._concrete("item()")).item(*args)

    def tolist(self) -> Any:
        """NumPy's `tolist`: nested Python numbers (the values leave the computation)."""
        return np.asarray(self._concrete("tolist()")).tolist()

    __hash__ = object.__hash__

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = ufunc_handlers.get(ufunc)
        if method != "__call__":  # reduce, accumulate, outer, reduceat, at: the function's
            fn = getattr(fn, method, None)
        if fn is None and method == "__call__" and _is_scipy_ufunc(ufunc):
            fn = _scipy_ufunc(ufunc)
        if fn is None:
            name = f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method}"
            return on_values(name, getattr(ufunc, method), inputs, kwargs)
        return fn(*inputs, **kwargs)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        fn = function_handlers.get(func)
        if fn is None:
            return on_values(f"numpy.{func.__name__}", func, args, kwargs)
        return fn(*args, **kwargs)

    def backward(self, *args: Any, **kwargs: Any) -> None:
        """Tensors have `.backward()`; a value inside a transformation does not."""
        raise TypeError(
            f".backward() on a value traced by {self._trace.describe()}: inside cr.vmap, "
            "cr.jvp and the other transformations, differentiate a function instead, with "
            "cr.grad(f), cr.vjp(f, x) or cr.jacrev(f)"
        )

    def register_hook(self, hook: Any) -> None:
        """Tensors have hooks; a value inside a transformation does not."""
        raise TypeError(
            f"register_hook on a value traced by {self._trace.describe()}: hooks belong to "
            "Tensors outside transformations; inside one, use cr.custom_vjp to change a "
            "gradient, or cr.grad(f) to compute one"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise conversion_error()


# NumPy's functions that only read shapes and dtypes work on tracers as on arrays.
def _meta(x: Any) -> Any:
    if isinstance(x, Tracer):
        a = x.aval
        return np.empty((0,) * 0, a.dtype) if a.ndim == 0 else np.empty((0,), a.dtype)
    return x


function_handlers.update({
    np.shape: lambda a: a.shape if isinstance(a, Tracer) else np.shape(a),
    np.ndim: lambda a: a.ndim if isinstance(a, Tracer) else np.ndim(a),
    np.size: lambda a, axis=None: (a.size if axis is None else a.shape[axis])
    if isinstance(a, Tracer) else np.size(a, axis),
    np.result_type: lambda *xs: np.result_type(
        *[x.dtype if isinstance(x, Tracer) else x for x in xs]),
    np.iscomplexobj: lambda x: x.dtype.kind == "c" if isinstance(x, Tracer) else
    np.iscomplexobj(x),
    np.isrealobj: lambda x: x.dtype.kind != "c" if isinstance(x, Tracer) else np.isrealobj(x),
})  # fmt: skip
del _meta


# --- arrays of another namespace inside a transformation -------------------------------------


class NamespaceTrace(Trace):
    """The trace of foreign arrays (``core/namespace.py``) inside transformations: level 0,
    below every transformation, never ended. It runs each primitive with the operands'
    namespace (`namespace.apply`) and gives back `ForeignTracer` results.

    >>> import array_api_strict as xp
    >>> y = box(xp.asarray([1.0, 2.0])) * 2.0  # the operators of core/ops, bound here
    >>> type(y).__name__, unbox(y)
    ('ForeignTracer', Array([2., 4.], dtype=array_api_strict.float64))
    """

    __slots__ = ()

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        vals = tuple(a._value if type(a) is ForeignTracer else a for a in args)
        out = _ns.apply(prim, vals, params)
        if prim.multiple_results:
            return tuple(box(o) for o in out)
        return box(out)

    def concrete(self, tracer: Tracer, what: str) -> Any:
        if what in _SCALAR_CONVERSIONS:
            return tracer._value  # a Python number of a 0-d array: the namespace's own
        ns = _ns.Namespace(*_ns._where(tracer._value))
        name = what[:-2] if what.endswith("()") else what
        raise NumPyOnlyError(
            f"{name} runs on NumPy arrays only; its operand is an {ns.name} array (on "
            f"{ns.device!r}). chainrule never copies it to the host silently"
        )

    def carries_derivative(self, tracer: Tracer) -> bool:
        return False

    def describe(self) -> str:
        return "the array namespace"


_SCALAR_CONVERSIONS = frozenset({"bool()", "float()", "int()", "complex()", "operator.index()"})
FOREIGN = NamespaceTrace(0, "the array namespace")


class ForeignTracer(Tracer):
    """An array of another namespace while a transformation runs (its tracers' values, the
    values a graph saves, cotangents): the rules, written with ``core/ops``, run on it as on
    any traced value, with NumPy's dtypes. Transformations give back the array itself.

    >>> import array_api_strict as xp
    >>> t = ForeignTracer(xp.ones((2, 3), dtype=xp.float32))
    >>> t.shape, t.dtype, t.mT.shape
    ((2, 3), dtype('float32'), (3, 2))
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any):
        self._trace = FOREIGN
        self._value = value

    def _below(self) -> Any:
        return self._value

    @property
    def aval(self) -> ShapeDtypeStruct:
        return aval_of(self._value)

    @property
    def shape(self) -> tuple:
        return tuple(self._value.shape)

    @property
    def dtype(self) -> np.dtype:
        return _ns.np_dtype(self._value.dtype)

    @property
    def device(self) -> Any:
        return self._value.device

    def __repr__(self) -> str:
        return f"Foreign<{self._value!r}>"


def box(x: Any) -> Any:
    """`x` as it travels inside a transformation: a foreign array as a `ForeignTracer`.

    >>> box(1.0), type(box(np.ones(2)))
    (1.0, <class 'numpy.ndarray'>)
    """
    return ForeignTracer(x) if _ns.is_foreign(x) else x


def box_tree(x: Any) -> Any:
    """`x` (an argument a transformation does not follow) with another namespace's arrays
    among its leaves boxed, so that the function's own code (``X @ W`` with ``X`` a CuPy
    array and ``W`` a tracer) meets tracer operators, as NumPy arrays defer to them; NumPy's
    data and Python values as they are.

    >>> a = np.ones(2)
    >>> box_tree(a) is a, box_tree([a, 1.0])[1]
    (True, 1.0)
    """
    t = type(x)
    if t is np.ndarray or t is float or t is int or isinstance(x, (Tracer, np.generic)):
        return x
    if _ns.is_foreign(x):
        return ForeignTracer(x)
    if t is list or t is tuple or t is dict or hasattr(x, "_fields"):
        from chainrule.core.pytree import tree_flatten, tree_map

        if _ns.foreign_in(tree_flatten(x)[0]):
            return tree_map(box, x)
    return x


def unbox(x: Any) -> Any:
    """A value leaving a transformation: the array behind a `ForeignTracer`.

    >>> import array_api_strict as xp
    >>> a = xp.ones(2)
    >>> unbox(box(a)) is a, unbox(1.0)
    (True, 1.0)
    """
    return x._value if type(x) is ForeignTracer else x


def boxing(fn: Any, name: str) -> Any:
    """`fn` (a function composed of primitives) called on another namespace's arrays (CuPy,
    array_api_strict) as inside a transformation: its arguments boxed, so that it computes
    with that namespace's primitives, and its results unboxed there. On anything else `fn`
    runs as it is. `name` is the function in errors (two devices).

    >>> import array_api_strict as xp
    >>> from chainrule.core import ops
    >>> def sum_of_squares(x):
    ...     return ops.sum(x * x)
    >>> boxing(sum_of_squares, "sum_of_squares")(xp.asarray([1.0, 2.0]))
    Array(5., dtype=array_api_strict.float64)
    """
    import functools

    is_foreign = _ns.is_foreign

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not any(map(is_foreign, args)) and not any(map(is_foreign, kwargs.values())):
            return fn(*args, **kwargs)
        where = _ns.find([*args, *kwargs.values()], name)
        out = fn(*map(box, args), **{k: box(v) for k, v in kwargs.items()})
        return leave_tree(out, where)

    return call


def leave(x: Any, ns: Any) -> Any:
    """A result of a transformation called on arrays of namespace `ns` (the call that boxed
    them; None: NumPy's): the array behind a `ForeignTracer`; a NumPy constant (a zero
    gradient, a constant output) made an array of `ns` on its device.

    >>> import array_api_strict as xp
    >>> from chainrule.core.namespace import Namespace
    >>> leave(np.zeros(2), Namespace(xp, xp.Device("device1"))).device
    array_api_strict.Device('device1')
    """
    if type(x) is ForeignTracer:
        return x._value
    if ns is None:
        return x
    return _ns.to_namespace(ns, x)


def leave_tree(tree: Any, ns: Any) -> Any:
    """`leave` on every leaf of a pytree.

    >>> leave_tree({"a": 1.0}, None)
    {'a': 1.0}
    """
    if ns is None and not _ns.MOVED[0]:
        return tree
    from chainrule.core.pytree import tree_map

    return tree_map(lambda x: leave(x, ns), tree)


def namespace_constants(prim: Primitive, vals: list) -> list:
    """The operand values of a trace's primitive (a transformation's), with another
    namespace's arrays among its constants boxed (`ForeignTracer`) when the values it
    follows are that namespace's too (the rules then see them as they see its values);
    refused when those are NumPy's, which would convert them (`traced_numpy_meets`). Called
    by the traces when a constant is not NumPy's (`is_plain` false).

    >>> from chainrule.core import primitives as P
    >>> namespace_constants(P.add_p, [np.ones(2), 1.0])
    [array([1., 1.]), 1.0]
    """
    if not _ns.foreign_in(vals):
        return vals
    if not any(isinstance(v, Tracer) for v in vals):
        raise _ns.traced_numpy_meets(_ns.op_name(prim), next(
            v for v in vals if _ns.is_foreign(v)))  # fmt: skip
    return [box(v) for v in vals]


def is_plain(x: Any) -> bool:
    """Whether `x` (a constant operand) is surely not another namespace's array: a NumPy
    array or a type seen before as not one (the test a trace makes for each constant).

    >>> is_plain(np.ones(2)), is_plain(2.0)
    (True, True)
    """
    return type(x) is np.ndarray or _ns._KIND.get(type(x)) is False
