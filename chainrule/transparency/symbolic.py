"""SymPy expressions of a function and of its gradient, the gradient built by chainrule's own
reverse-mode rules: the notebooks' "show me the gradient function".

`to_sympy(fun)` runs `fun` on SymPy symbols. The symbols are the values of a `SymbolicTrace`,
a trace whose tracers (`SymTracer`) hold SymPy expressions; every primitive that reaches it is
turned into SymPy by one rule table, `sympy_rules` (``sin`` -> ``sympy.sin``, ``maximum`` ->
``sympy.Max``, ``where`` -> ``sympy.Piecewise``, ...).

The symbolic trace sits *below* every other trace (level -1: below the Tensors' level-0 eager
trace and every transformation, which start at level 1), like a world of constants. So
`cr.grad(fun)` applied to the symbols records its graph on top of them as usual, and its
backward pass runs the very VJP rules of ``chainrule.rules.vjp`` on SymPy values: the gradient
comes out as the expression those rules build (``sympy.diff`` is not involved).

Values are scalars of the symbols; arrays built from them (``cnp.array([x, y])``, ``@``, ``sum``,
indexing ...) are held as NumPy object arrays of expressions. Decompositions (``linalg``) and
data-dependent operations (``argsort``, ``nonzero``, Python ``if`` on a symbol) have no symbolic
form and raise a clear error. SymPy is an optional dependency (``pip install chainrule[sym]``):
it is imported when `to_sympy` is first called, never by ``import chainrule``.

>>> from chainrule.transparency.symbolic import to_sympy
>>> s = to_sympy(lambda x: x ** 3 + x ** 2 - 6 * x + 1)
>>> s.expr
x**3 + x**2 - 6*x + 1
>>> s.gradient
[3*x**2 + 2*x - 6]
"""

from __future__ import annotations

import inspect
import math
from fractions import Fraction
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.ops import build_index
from chainrule.core.trace import Primitive, Trace, Tracer, bind
from chainrule.transforms.reverse import grad as _grad

__all__ = ["SymTracer", "Symbolic", "SymbolicTrace", "as_expr", "sympy_rules", "symtracers",
           "to_sympy"]  # fmt: skip

#: The level of every symbolic trace: below the Tensors' eager trace (0) and below every
#: transformation (levels 1, 2, ...), so that a transformation applied to symbolic values
#: records its own graph on top of them, and its rules then run on SymPy values.
SYMBOLIC_LEVEL = -1

sp: Any = None  # the sympy module, bound by _sympy() (rules look it up when they run)

_INSTALL = "cr.to_sympy needs SymPy, an optional dependency: pip install chainrule[sym]"


def _sympy() -> Any:
    """Import SymPy (once), or say how to install it."""
    global sp
    try:
        import sympy
    except ImportError as err:
        raise ImportError(_INSTALL) from err
    sp = sympy
    return sympy


# --- SymPy values ----------------------------------------------------------------------------

_FLOAT, _COMPLEX, _BOOL = np.dtype(np.float64), np.dtype(np.complex128), np.dtype(np.bool_)
_known: dict = {}  # float -> the exact constant it is (to the last bit): math.pi -> sympy.pi


def _known_constants() -> dict:
    if not _known:
        pi, log = sp.pi, sp.log
        table = {
            math.pi: pi, math.pi / 2: pi / 2, 2 * math.pi: 2 * pi, math.pi / 180: pi / 180,
            180 / math.pi: 180 / pi, math.pi**2 / 3: pi**2 / 3, math.e: sp.E,
            math.log(2): log(2), math.log(10): log(10), 1 / math.log(2): 1 / log(2),
            1 / math.log(10): 1 / log(10), math.sqrt(2): sp.sqrt(2),
        }  # fmt: skip
        _known.update(table)
        _known.update({-k: -v for k, v in table.items()})
    return _known


def _float(f: float) -> Any:
    """A float as SymPy: integers and dyadic fractions (0.5, 0.25) exactly, the constants the
    rules use (π, π/180, ln 2, ...) as themselves, anything else as a `sympy.Float`."""
    if f != f:
        return sp.nan
    if math.isinf(f):
        return sp.oo if f > 0 else -sp.oo
    if f.is_integer() and abs(f) < 2**53:
        return sp.Integer(int(f))
    known = _known_constants().get(f)
    if known is not None:
        return known
    q = Fraction(f)
    if q.denominator <= 1024:
        return sp.Rational(q.numerator, q.denominator)
    return sp.Float(f)


def _scalar(v: Any) -> Any:
    """One scalar (SymPy object, Python or NumPy number or bool) as SymPy."""
    if isinstance(v, sp.Basic):
        return v
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, (int, np.integer)):
        return sp.Integer(int(v))
    if isinstance(v, (float, np.floating)):
        return _float(float(v))
    if isinstance(v, (complex, np.complexfloating)):
        c = complex(v)
        return _float(c.real) + sp.I * _float(c.imag)
    if isinstance(v, SymTracer):
        return _scalar(v._value)
    if isinstance(v, Tracer):
        raise TypeError(f"to_sympy: a {type(v).__name__} reached the symbolic trace")
    return sp.sympify(v)


def _clean(a: np.ndarray) -> np.ndarray:
    """An array as an object array of SymPy scalars."""
    out = np.empty(a.shape, object)
    for i, v in np.ndenumerate(a):
        out[i] = _scalar(v)
    return out


def _const(v: Any) -> Any:
    """An operand as SymPy: a scalar expression, or an object array of them."""
    if isinstance(v, SymTracer):
        return v._value
    if isinstance(v, np.ndarray):
        return _clean(v) if v.ndim else _scalar(v[()])
    if isinstance(v, (list, tuple)):
        return _clean(np.asarray(v, dtype=object))
    return _scalar(v)


def _arr(v: Any) -> np.ndarray:
    """`v` as an object array (0-d for a scalar)."""
    if isinstance(v, np.ndarray):
        return v
    a = np.empty((), object)
    a[()] = v
    return a


def _is_bool(e: Any) -> bool:
    """A SymPy truth value (a relational, true, And ...); a Symbol counts as a number."""
    return isinstance(e, sp.logic.boolalg.Boolean) and not isinstance(e, sp.Expr)


def _num(e: Any) -> Any:
    """A Boolean as the number NumPy makes of it (0 or 1); a number unchanged."""
    return sp.Piecewise((1, e), (0, True)) if _is_bool(e) else e


def _bool(e: Any) -> Any:
    """A number as the Boolean NumPy makes of it (nonzero); a Boolean unchanged."""
    return e if _is_bool(e) else sp.Ne(e, 0)


def _dtype_of(v: Any) -> np.dtype:
    if isinstance(v, np.ndarray):
        kinds = {_dtype_of(e) for e in v.flat}
        if kinds == {_BOOL}:
            return _BOOL
        return _COMPLEX if _COMPLEX in kinds else _FLOAT
    if _is_bool(v):
        return _BOOL
    return _COMPLEX if v.has(sp.I) else _FLOAT


def as_expr(value: Any) -> Any:
    """A symbolic value (a `SymTracer`, a number, an array) as SymPy: an expression, or a
    `sympy.Array` for an array.

    >>> import numpy as np
    >>> as_expr(np.float64(0.5)), as_expr(np.array([1.0, np.pi]))
    (1/2, [1, pi])
    """
    _sympy()
    v = _const(value)
    return sp.Array(v.tolist()) if isinstance(v, np.ndarray) else v


# --- the trace -------------------------------------------------------------------------------


class SymTracer(Tracer):
    """A value of the symbolic trace: a SymPy expression (shape ``()``), or an object array of
    them. Its dtype is float64 (bool for a relational, complex128 when ``I`` appears), so the
    reverse-mode machinery above it treats it as any float value."""

    __slots__ = ("_value", "_dtype")

    def __init__(self, trace: SymbolicTrace, value: Any, dtype: np.dtype | None = None):
        self._trace = trace
        self._value = value
        self._dtype = dtype

    @property
    def expr(self) -> Any:
        """The SymPy expression (a `sympy.Array` for an array value)."""
        return as_expr(self)

    @property
    def shape(self) -> tuple:
        v = self._value
        return v.shape if isinstance(v, np.ndarray) else ()

    @property
    def dtype(self) -> np.dtype:
        if self._dtype is None:
            self._dtype = _dtype_of(self._value)
        return self._dtype

    def __repr__(self) -> str:
        return f"SymTracer({self.expr})"

    def _known(self, what: str) -> Any:
        v = self._value
        if isinstance(v, np.ndarray):
            if v.size != 1:
                raise ValueError(f"the {what} of an array of {v.size} elements is ambiguous")
            v = v.flat[0]
        if v.free_symbols:
            raise TypeError(
                f"the {what} of the symbolic expression {v} depends on its symbols: Python "
                "control flow on a symbolic value (if, while, and/or, float(), math.*) cannot "
                "be traced; in a function, write it with chainrule.numpy (cnp.where)"
            )
        return v

    def __bool__(self) -> bool:
        v = self._known("truth value")
        if _is_bool(v):
            if v in (sp.true, sp.false):
                return v is sp.true
            raise TypeError(f"the truth value of {v} is not known")
        return bool(v != 0)

    def __float__(self) -> float:
        return float(self._known("float value"))

    def __int__(self) -> int:
        return int(self._known("int value"))

    def __complex__(self) -> complex:
        return complex(self._known("complex value"))

    def __index__(self) -> int:
        return int(self._known("index value"))

    # Logical operators (a reverse-mode rule writes `(x >= lo) & (x <= hi)`): as NumPy does
    # on booleans.
    def __and__(self, other: Any) -> Any:
        return bind(P.logical_and_p, self, other)

    def __rand__(self, other: Any) -> Any:
        return bind(P.logical_and_p, other, self)

    def __or__(self, other: Any) -> Any:
        return bind(P.logical_or_p, self, other)

    def __ror__(self, other: Any) -> Any:
        return bind(P.logical_or_p, other, self)

    def __xor__(self, other: Any) -> Any:
        return bind(P.logical_xor_p, self, other)

    def __rxor__(self, other: Any) -> Any:
        return bind(P.logical_xor_p, other, self)

    def __invert__(self) -> Any:
        return bind(P.logical_not_p, self)

    __hash__ = object.__hash__


class SymbolicTrace(Trace):
    """The trace of SymPy values: applies `sympy_rules` to the primitives that reach it.

    >>> x, y = symtracers("x y")
    >>> (x * y + 1).expr
    x*y + 1
    """

    __slots__ = ()

    def __init__(self, level: int = SYMBOLIC_LEVEL):
        super().__init__(level)

    def process_primitive(self, prim: Primitive, args: tuple, params: dict) -> Any:
        rule = sympy_rules.get(prim)
        if rule is None:
            raise NotImplementedError(
                f"to_sympy: the primitive '{prim.name}' has no SymPy rule (operand shapes "
                f"{' and '.join(str(np.shape(getattr(a, '_value', a))) for a in args)}): it "
                "has no symbolic form here (decompositions, data-dependent operations)"
            )
        if prim.ndiff is not None:  # index arrays stay integer arrays
            vals = tuple(_const(a) if i < prim.ndiff else np.asarray(_const_int(a))
                         for i, a in enumerate(args))  # fmt: skip
        else:
            vals = tuple(_const(a) for a in args)
        try:
            out = rule(*vals, **params)
        except Exception as err:
            err.add_note(f"(in the SymPy rule of the primitive '{prim.name}')")
            raise
        if isinstance(out, np.ndarray):
            out = _clean(out) if out.ndim else _scalar(out[()])
        elif not isinstance(out, sp.Basic):
            out = _scalar(out)
        dtype = np.dtype(params["dtype"]) if prim is P.astype_p else None
        return SymTracer(self, out, dtype)


def symtracers(*names: str | Any, real: bool = True) -> tuple[SymTracer, ...]:
    """Symbols as values of a fresh `SymbolicTrace`: feed them to `cr.grad`, `cr.vjp`, ... and
    read their results' `.expr`.

    A name with spaces or commas gives several symbols; a SymPy `Symbol` is used as it is.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> (x,) = symtracers("x")
    >>> cr.grad(lambda x: cnp.sin(x) ** 2)(x).expr
    2*sin(x)*cos(x)
    """
    _sympy()
    trace = SymbolicTrace()
    return tuple(SymTracer(trace, s) for s in _symbols(names, real))


def _symbols(names: Sequence, real: bool) -> list:
    out = []
    for n in names:
        if isinstance(n, str):
            parts = n.replace(",", " ").split()
            out += [sp.Symbol(p, real=True) if real else sp.Symbol(p) for p in parts]
        elif isinstance(n, sp.Symbol):
            out.append(n)
        else:
            raise TypeError(f"to_sympy: a symbol name must be a str or a sympy.Symbol, got {n!r}")
    return out


# --- the rules -------------------------------------------------------------------------------

#: sympy_rules[prim](*values, **params) -> SymPy value: values are SymPy scalars or object
#: arrays of them. Elementwise rules are written for scalars and mapped over arrays.
sympy_rules: dict[Primitive, Callable] = {}

def _const_int(a: Any) -> Any:
    """An integer index operand as its values."""
    if isinstance(a, SymTracer):
        return np.asarray(_const(a), dtype=np.intp)
    return a


def _map(fn: Callable, *vals: Any) -> Any:
    if any(isinstance(v, np.ndarray) for v in vals):
        return np.frompyfunc(fn, len(vals), 1)(*[_arr(v) for v in vals])
    return fn(*vals)


def _ew(fn: Callable) -> Callable:
    """An elementwise rule on numbers (NumPy's booleans count as 0 and 1)."""
    return lambda *vals: _map(lambda *e: fn(*map(_num, e)), *vals)


def _ew_raw(fn: Callable) -> Callable:
    """An elementwise rule that sees Booleans as they are."""
    return lambda *vals: _map(fn, *vals)


def _trunc(t: Any) -> Any:
    return sp.sign(t) * sp.floor(sp.Abs(t))


def _ne(x: Any, y: Any) -> Any:
    if _is_bool(x) and not _is_bool(y) and y == 0:  # cnp.where's `cond != 0`
        return x
    if _is_bool(y) and not _is_bool(x) and x == 0:
        return y
    return sp.Ne(_num(x), _num(y))


def _where(c: Any, x: Any, y: Any) -> Any:
    if _is_bool(x) and _is_bool(y):
        return sp.ITE(_bool(c), x, y)
    return sp.Piecewise((_num(x), _bool(c)), (_num(y), True))


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    x, lo, hi = _num(x), _num(lo), _num(hi)
    # NumPy's clip is minimum(maximum(x, lo), hi): hi wins when the bounds cross
    return sp.Piecewise((hi, sp.Or(x > hi, lo > hi)), (lo, x < lo), (x, True))


def _isinf(x: Any) -> Any:
    return sp.Or(sp.Eq(x, sp.oo), sp.Eq(x, -sp.oo))


def _astype(x: Any, dtype: Any) -> Any:
    kind = np.dtype(dtype).kind

    def one(e):
        if kind == "b":
            return _bool(e)
        e = _num(e)
        if kind in "iu":
            return _trunc(e)
        return sp.re(e) if kind == "f" and e.has(sp.I) else e

    return _map(one, x)


# fmt: off
_NUMERIC = {
    "neg": lambda x: -x, "exp": lambda x: sp.exp(x), "expm1": lambda x: sp.exp(x) - 1,
    "exp2": lambda x: sp.Integer(2) ** x, "log": lambda x: sp.log(x),
    "log1p": lambda x: sp.log(1 + x), "log2": lambda x: sp.log(x, 2),
    "log10": lambda x: sp.log(x, 10), "sqrt": lambda x: sp.sqrt(x),
    "cbrt": lambda x: sp.real_root(x, 3), "square": lambda x: x**2,
    "reciprocal": lambda x: 1 / x, "abs": lambda x: sp.Abs(x), "sin": lambda x: sp.sin(x),
    "cos": lambda x: sp.cos(x), "tan": lambda x: sp.tan(x), "arcsin": lambda x: sp.asin(x),
    "arccos": lambda x: sp.acos(x), "arctan": lambda x: sp.atan(x),
    "sinh": lambda x: sp.sinh(x), "cosh": lambda x: sp.cosh(x), "tanh": lambda x: sp.tanh(x),
    "arcsinh": lambda x: sp.asinh(x), "arccosh": lambda x: sp.acosh(x),
    "arctanh": lambda x: sp.atanh(x), "sinc": lambda x: sp.sinc(sp.pi * x),
    "real": lambda x: sp.re(x), "imag": lambda x: sp.im(x), "conj": lambda x: sp.conjugate(x),
    "deg2rad": lambda x: x * sp.pi / 180, "rad2deg": lambda x: x * 180 / sp.pi,

    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "pow": lambda x, y: x**y, "integer_pow": lambda x, y: x**y,
    "maximum": lambda x, y: sp.Max(x, y), "minimum": lambda x, y: sp.Min(x, y),
    "fmax": lambda x, y: sp.Max(x, y), "fmin": lambda x, y: sp.Min(x, y),
    "arctan2": lambda x, y: sp.atan2(x, y), "hypot": lambda x, y: sp.sqrt(x**2 + y**2),
    "logaddexp": lambda x, y: sp.log(sp.exp(x) + sp.exp(y)),
    "logaddexp2": lambda x, y: sp.log(sp.Integer(2) ** x + sp.Integer(2) ** y, 2),
    "mod": lambda x, y: sp.Mod(x, y), "fmod": lambda x, y: x - y * _trunc(x / y),

    "sign": lambda x: sp.sign(x), "floor": lambda x: sp.floor(x),
    "ceil": lambda x: sp.ceiling(x), "trunc": _trunc,
    "floor_divide": lambda x, y: sp.floor(x / y),
    # Symbolic values are taken as numbers, never NaN (SymPy's Max ignores NaN semantics too)
    "isnan": lambda x: sp.true if x is sp.nan else sp.false, "isinf": _isinf,
    "isfinite": lambda x: sp.false if x is sp.nan else sp.Not(_isinf(x)),
    "signbit": lambda x: sp.Lt(x, 0),
    "equal": lambda x, y: sp.Eq(x, y), "less": lambda x, y: sp.Lt(x, y),
    "less_equal": lambda x, y: sp.Le(x, y), "greater": lambda x, y: sp.Gt(x, y),
    "greater_equal": lambda x, y: sp.Ge(x, y),
}
_LOGICAL = {
    "not_equal": _ne, "where": _where, "clip": _clip, "stop_gradient": lambda x: x,
    "logical_and": lambda x, y: sp.And(_bool(x), _bool(y)),
    "logical_or": lambda x, y: sp.Or(_bool(x), _bool(y)),
    "logical_xor": lambda x, y: sp.Xor(_bool(x), _bool(y)),
    "logical_not": lambda x: sp.Not(_bool(x)),
}
# fmt: on
for _name, _fn in _NUMERIC.items():
    sympy_rules[getattr(P, _name + "_p")] = _ew(_fn)
for _name, _fn in _LOGICAL.items():
    sympy_rules[getattr(P, _name + "_p")] = _ew_raw(_fn)
sympy_rules[P.astype_p] = _astype


# Reductions: a scalar is its own sum, mean, product, max and min.
def _numeric_array(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(_num, 1, 1)(x) if x.size else x


def _fold(fn: Callable, x: np.ndarray, axis: tuple | None, keepdims: bool) -> Any:
    """Reduce `x` over `axis` with the SymPy function `fn` of any number of arguments."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(axis)
    rest = [i for i in range(x.ndim) if i not in axes]
    xt = np.transpose(x, rest + list(axes))
    lead = xt.shape[: len(rest)]
    flat = xt.reshape(lead + (-1,))
    out = np.empty(lead, object)
    for i in np.ndindex(*lead):
        out[i] = fn(*flat[i])
    if keepdims:
        out = out.reshape(tuple(1 if i in axes else s for i, s in enumerate(x.shape)))
    return out


def _reduction(scalar: Callable, array: Callable) -> Callable:
    def rule(x, axis, keepdims):
        if not isinstance(x, np.ndarray):
            return scalar(x)
        return array(x, axis, keepdims)

    return rule


def _mean(x, axis, keepdims):
    n = math.prod(x.shape) if axis is None else math.prod(x.shape[i] for i in axis)
    return np.add.reduce(_numeric_array(x), axis, keepdims=keepdims) / sp.Integer(n)


# fmt: off
sympy_rules.update({
    P.sum_p:  _reduction(_num, lambda x, axis, k:
                         np.add.reduce(_numeric_array(x), axis, keepdims=k)),
    P.mean_p: _reduction(_num, _mean),
    P.prod_p: _reduction(_num, lambda x, axis, k:
                         np.multiply.reduce(_numeric_array(x), axis, keepdims=k)),
    P.amax_p: _reduction(_num, lambda x, axis, k: _fold(sp.Max, _numeric_array(x), axis, k)),
    P.amin_p: _reduction(_num, lambda x, axis, k: _fold(sp.Min, _numeric_array(x), axis, k)),
    P.any_p:  _reduction(_bool, lambda x, axis, k:
                         _fold(sp.Or, np.frompyfunc(_bool, 1, 1)(x), axis, k)),
    P.all_p:  _reduction(_bool, lambda x, axis, k:
                         _fold(sp.And, np.frompyfunc(_bool, 1, 1)(x), axis, k)),
    P.cumsum_p:  lambda x, axis: np.cumsum(_numeric_array(_arr(x)), axis),
    P.cumprod_p: lambda x, axis: np.cumprod(_numeric_array(_arr(x)), axis),
    # Shapes, indexing and products: NumPy's own functions, on object arrays.
    P.reshape_p:      lambda x, shape: np.reshape(_arr(x), shape),
    P.transpose_p:    lambda x, axes: np.transpose(_arr(x), axes),
    P.broadcast_to_p: lambda x, shape: np.broadcast_to(_arr(x), shape).copy(),
    P.concatenate_p:  lambda *xs, axis, sizes: np.concatenate([_arr(x) for x in xs], axis),
    P.pad_p:          lambda x, pad_width: np.pad(_arr(x), pad_width),
    P.getitem_p:      lambda x, *arrays, index: _arr(x)[build_index(index, arrays)],
    P.index_add_p:    lambda x, y, *arrays, index: _index_add(x, build_index(index, arrays), y),
    P.index_set_p:    lambda x, y, *arrays, index: _index_set(x, build_index(index, arrays), y),
    P.matmul_p:       lambda x, y: np.matmul(_numeric_array(x), _numeric_array(y)),
    P.einsum_p:       lambda *xs, subscripts, optimize:
                          np.einsum(subscripts, *[_numeric_array(_arr(x)) for x in xs]),
})
# fmt: on


def _index_add(x: Any, index: Any, y: Any) -> np.ndarray:
    out = _numeric_array(_arr(x)).copy()
    np.add.at(out, index, _numeric_array(_arr(y)))
    return out


def _index_set(x: Any, index: Any, y: Any) -> np.ndarray:
    out = _arr(x).copy()
    out[index] = _arr(y)
    return out


# --- the result ------------------------------------------------------------------------------


class Symbolic:
    """A function and its gradient as SymPy expressions (see `to_sympy`).

    `expr` is the function; `gradient` (one expression per symbol) is what chainrule's
    reverse-mode rules compute, run on SymPy values: the gradient function of the AD graph.

    >>> import chainrule.numpy as cnp
    >>> s = to_sympy(lambda x, y: x * cnp.sin(y), "x", "y")
    >>> print(s)
    f(x, y) = x*sin(y)
    ∂f/∂x = sin(y)
    ∂f/∂y = x*cos(y)
    >>> s.diff("y")
    x*cos(y)
    >>> f, df = s.lambdify(), s.lambdify(gradient=True)
    >>> float(f(2.0, 0.5)), [float(d) for d in df(2.0, 0.0)]
    (0.958851077208406, [0.0, 2.0])
    """

    def __init__(self, fun: Callable, symbols: Sequence, expr: Any, name: str = "f"):
        self.fun = fun
        self.symbols: tuple = tuple(symbols)
        self.expr = expr
        self.name = name
        self._gradient: list | None = None
        self._hessian: Any = None

    @property
    def names(self) -> tuple[str, ...]:
        """The symbols' names."""
        return tuple(s.name for s in self.symbols)

    @property
    def gradient(self) -> list:
        """∂f/∂symbol for each symbol, as chainrule's reverse mode builds it (computed once)."""
        if self._gradient is None:
            self._gradient = _ad_gradient(self.fun, self.symbols, self.expr, self.name)
        return self._gradient

    def _index(self, name: str | Any) -> int:
        for i, s in enumerate(self.symbols):
            if s == name or s.name == name:
                return i
        raise KeyError(f"{name!r} is not one of the symbols {self.names}")

    def diff(self, name: str | Any) -> Any:
        """The derivative with respect to the symbol `name` (a str or the Symbol), from the
        AD graph: ``self.gradient[i]``."""
        return self.gradient[self._index(name)]

    def hessian(self) -> Any:
        """The Hessian as a `sympy.Matrix`: reverse mode over reverse mode, on SymPy values."""
        if self._hessian is None:
            self._hessian = _ad_hessian(self.fun, self.symbols, self.name)
        return self._hessian

    def lambdify(self, gradient: bool = False, modules: Any = "numpy") -> Callable:
        """A numerical function of the symbols (in order), through `sympy.lambdify`: the
        function's value, or with ``gradient=True`` the tuple of its partial derivatives."""
        if not gradient:
            return sp.lambdify(self.symbols, self.expr, modules)
        fn = sp.lambdify(self.symbols, list(self.gradient), modules)
        return lambda *args: tuple(fn(*args))

    def simplify(self) -> Symbolic:
        """A copy with `sympy.simplify` applied to the expression and the gradient (can be
        slow on large expressions)."""
        out = Symbolic(self.fun, self.symbols, sp.simplify(self.expr), self.name)
        out._gradient = [sp.simplify(g) for g in self.gradient]
        return out

    def _header(self) -> str:
        return f"{self.name}({', '.join(self.names)})"

    def __str__(self) -> str:
        lines = [f"{self._header()} = {self.expr}"]
        try:
            grads = self.gradient
        except (NotImplementedError, TypeError, ValueError) as err:
            return "\n".join(lines + [f"(gradient not available: {err})"])
        lines += [f"∂{self.name}/∂{n} = {g}" for n, g in zip(self.names, grads)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Symbolic {self._header()} = {self.expr}>"

    def _repr_latex_(self) -> str:
        latex = sp.latex
        args = ", ".join(latex(s) for s in self.symbols)
        rows = [f"{self.name}({args}) &= {latex(self.expr)}"]
        try:
            grads = self.gradient
        except (NotImplementedError, TypeError, ValueError):
            grads = []
        rows += [
            rf"\frac{{\partial {self.name}}}{{\partial {latex(s)}}} &= {latex(g)}"
            for s, g in zip(self.symbols, grads)
        ]
        return r"$\displaystyle \begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}$"


def _scalar_result(out: Any, name: str) -> Any:
    v = _const(out)
    if isinstance(v, np.ndarray):
        raise TypeError(
            f"to_sympy needs a scalar-valued function: {name} returned an array of shape {v.shape}"
        )
    return v


def _ad_gradient(fun: Callable, symbols: Sequence, expr: Any, name: str) -> list:
    """The gradient by `cr.grad`, its primal values being the symbols."""
    n = len(symbols)
    if not n:
        return []
    if _is_bool(expr) or not expr.free_symbols:
        return [sp.Integer(0)] * n  # nothing depends on the symbols: no graph to run
    xs = symtracers(*symbols)
    try:
        g = _grad(fun, argnums=tuple(range(n)))(*xs)
    except (NotImplementedError, TypeError, ValueError) as err:
        raise type(err)(
            f"to_sympy: the gradient of {name} could not be built by chainrule's reverse-mode "
            f"rules on SymPy values{_where_in_rules(err)}: {err}"
        ) from err
    return [_scalar_result(v, name) for v in g]


def _where_in_rules(err: BaseException) -> str:
    """', in the VJP rule _cumprod_vjp (chainrule/rules/vjp.py:225)' when a rule raised it."""
    import os

    rules_dir = os.path.dirname(inspect.getfile(P)).replace("core", "rules")
    found = ""
    tb = err.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(rules_dir):
            rel = os.path.relpath(code.co_filename, os.path.dirname(os.path.dirname(rules_dir)))
            found = f", in the VJP rule {code.co_name} ({rel}:{tb.tb_lineno})"
        tb = tb.tb_next
    return found


def _ad_hessian(fun: Callable, symbols: Sequence, name: str) -> Any:
    n = len(symbols)
    xs = symtracers(*symbols)
    rows = []
    for i in range(n):
        di = _grad(lambda *a, i=i: _grad(fun, argnums=i)(*a), argnums=tuple(range(n)))
        rows.append([_scalar_result(v, name) for v in di(*xs)])
    return sp.Matrix(rows)


def _names_of(fun: Callable) -> list[str]:
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError) as err:
        raise TypeError("to_sympy: give the symbols' names: to_sympy(fun, 'x', 'y')") from err
    names = []
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            raise TypeError(
                f"to_sympy: {getattr(fun, '__name__', 'fun')} takes *{p.name}: give the symbols' "
                "names, to_sympy(fun, 'x', 'y')"
            )
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            names.append(p.name)
    return names


def to_sympy(fun: Callable, *names: str | Any, real: bool = True) -> Symbolic:
    """`fun` and its gradient as SymPy expressions; the gradient built by chainrule's own
    reverse-mode rules run on SymPy values (the gradient function of the AD graph).

    `names` are the symbols, one per positional argument of `fun` (default: `fun`'s parameter
    names; "x y z" gives three; a `sympy.Symbol` is used as it is). Symbols are real unless
    ``real=False``. `fun` is written with ``chainrule.numpy`` (or NumPy's ufuncs, which
    dispatch to it) and operators, on scalars. Floats that are integers or small dyadic
    fractions become exact SymPy numbers (``2.0`` -> ``2``, ``0.5`` -> ``1/2``), and the
    constants π, π/180, 180/π, e, ln 2, ln 10 (to the last bit) become themselves.

    >>> import chainrule.numpy as cnp
    >>> s = to_sympy(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2))
    >>> s.expr
    tanh(4*cos(x)**2)
    >>> s.gradient
    [-2*(4 - 4*tanh(4*cos(x)**2)**2)*sin(x)*cos(x)]
    >>> to_sympy(lambda x: cnp.maximum(x, 0.0)).expr
    Max(0, x)
    """
    _sympy()
    if not names:
        names = tuple(_names_of(fun))
    symbols = _symbols(names, real)
    trace = SymbolicTrace()
    name = getattr(fun, "__name__", "f")
    name = "f" if not name.isidentifier() else name
    out = fun(*[SymTracer(trace, s) for s in symbols])
    return Symbolic(fun, symbols, _scalar_result(out, name), name)


def _drop_examples_without_sympy() -> None:
    """Without SymPy (an optional extra) this module's examples cannot run: keep the prose of
    its docstrings, drop their examples (which always come last), so that doctest runs skip
    them instead of failing."""
    import sys
    from importlib.util import find_spec

    try:
        if find_spec("sympy") is not None:
            return
    except (ImportError, ValueError):
        pass
    objs = [sys.modules[__name__], as_expr, symtracers, to_sympy, SymbolicTrace, Symbolic]
    for obj in objs:
        doc = obj.__doc__ or ""
        if ">>>" in doc:
            obj.__doc__ = doc[: doc.index(">>>")].rstrip() + "\n"


_drop_examples_without_sympy()
