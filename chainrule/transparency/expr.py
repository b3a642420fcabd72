"""Formulas typed on the command line, parsed safely into differentiable functions.

Only numbers, variable names, `+ - * / ** %`, parentheses and calls of a fixed list of
mathematical functions are accepted (a whitelist over Python's `ast`); nothing is ever passed
to `eval`, `exec` or `compile` beyond `ast.parse`, which only builds a syntax tree. A formula
outside the whitelist is an `ExpressionError` naming the column.

Hostile input is bounded: the text is at most `MAX_LENGTH` characters, every number is a
float (a Python integer is never computed with, so `9**9**9` cannot hang), the parts of a
formula without variables are computed once, as floats, when it is parsed (an overflow, a
division by zero or a non-real result is an `ExpressionError` at its column), functions are
called with their number of arguments, and the tree is walked without recursion.

>>> f, names = parse("tanh(4*cos(x)**2)")
>>> names
['x']
>>> round(float(f(7.0)), 6)
0.979023
>>> parse("x * 9**9**9")
Traceback (most recent call last):
...
chainrule.transparency.expr.ExpressionError: 9**9**9 is too large for a float (column 5)
"""

from __future__ import annotations

import ast
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import numpy as cnp

__all__ = ["CONSTANTS", "FUNCTIONS", "ExpressionError", "MAX_LENGTH", "assignments", "parse"]

FUNCTIONS: dict[str, Callable] = {
    name: getattr(cnp, name)
    for name in (
        "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
        "arccosh", "arctanh", "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "sqrt",
        "cbrt", "square", "abs", "sign", "floor", "ceil", "sinc", "arctan2", "hypot",
        "maximum", "minimum", "logaddexp", "reciprocal",
    )
}  # fmt: skip
FUNCTIONS.update(asin=cnp.arcsin, acos=cnp.arccos, atan=cnp.arctan, atan2=cnp.arctan2,
                 asinh=cnp.arcsinh, acosh=cnp.arccosh, atanh=cnp.arctanh, ln=cnp.log,
                 relu=lambda x: cnp.maximum(x, 0.0))  # fmt: skip
CONSTANTS = {"pi": np.pi, "π": np.pi, "e": np.e}
MAX_LENGTH = 10_000  # characters of a formula
_MAX_NAME = 40  # characters of a name quoted in a message


def _arity(f: Callable) -> int:
    """How many positional arguments `f` takes (its parameters without defaults)."""
    params = inspect.signature(f).parameters.values()
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in params)  # fmt: skip


ARITY = {name: _arity(f) for name, f in FUNCTIONS.items()}

_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.Pow: lambda a, b: a**b, ast.Mod: lambda a, b: a % b}  # fmt: skip
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.Mod: "%",
           ast.FloorDiv: "//", ast.MatMult: "@", ast.BitXor: "^", ast.BitAnd: "&",
           ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>"}  # fmt: skip
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}
_HINTS = {
    "BitXor": "; use ** for powers",
    "FloorDiv": "; use floor(a / b)",
    "Compare": "; a formula is a number, not a test",
    "IfExp": "; use maximum, minimum, abs or relu for a piecewise formula",
    "Subscript": "; a formula's variables are numbers",
}


class ExpressionError(ValueError):
    """A formula that can't be read, with the column (1-based) where the problem is.

    `str(err)` is one line, "<message> (column N)"; `err.pointer()` adds the formula with a
    caret under the column."""

    def __init__(self, text: str, column: int, message: str):
        self.text, self.column, self.message = text, column, message
        super().__init__(f"{message} (column {column})")

    def pointer(self) -> str:
        """The message, the formula and a caret under the column (three lines)."""
        shown = "".join(c if c.isprintable() else " " for c in self.text)
        return f"{self}\n  {shown}\n  {' ' * (self.column - 1)}^"


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 1] + "…"


class _Source:
    """The formula's text and the conversion of `ast` offsets (UTF-8 bytes in the line parsed,
    after leading blanks were cut) into 1-based columns of the text as typed."""

    def __init__(self, text: str):
        self.text = text
        flat = "".join(" " if c.isspace() else c for c in text)  # one line
        self.parsed = flat.strip()
        self.lead = len(flat) - len(flat.lstrip())
        self.raw = self.parsed.encode("utf-8", "surrogatepass")

    def column(self, byte_offset: int | None) -> int:
        if byte_offset is None:
            return 1 + self.lead
        chars = len(self.raw[:byte_offset].decode("utf-8", "replace"))
        return 1 + self.lead + chars

    def at(self, node: ast.AST) -> int:
        return self.column(getattr(node, "col_offset", 0))

    def segment(self, node: ast.AST) -> str:
        a, b = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", None)
        seg = self.raw[a:b].decode("utf-8", "replace")
        return seg if len(seg) <= 30 else seg[:29] + "…"

    def operator(self, node: ast.BinOp) -> int:
        """The column of a binary operator's symbol (after its left operand)."""
        start = getattr(node.left, "end_col_offset", None)
        if start is None:
            return self.at(node)
        text = self.raw[start:].decode("utf-8", "replace")
        k = len(text) - len(text.lstrip(" )"))
        return self.column(start) + k

    def error(self, node_or_column: ast.AST | int, message: str) -> ExpressionError:
        col = node_or_column if isinstance(node_or_column, int) else self.at(node_or_column)
        return ExpressionError(self.text, max(1, min(col, len(self.text) + 1)), message)


# A checked formula is a small tree of tuples: ("num", value) | ("var", name) |
# ("bin", op, left, right) | ("neg", operand) | ("call", name, args).


def _number(src: _Source, node: ast.Constant) -> float | int:
    v = node.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise src.error(node, f"only numbers are allowed, not {_short(repr(v))}")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise src.error(node, f"the number {src.segment(node)} is too large for a float")
    return _tidy(f)


def _tidy(f: float) -> float | int:
    """A constant as the formula uses it: a small integral value as an int (so that x**2 is
    a square), anything else a float."""
    return int(f) if f.is_integer() and abs(f) <= 2**31 else f


def _fold(src: _Source, node: ast.AST, kind: str, args: list) -> float | int:
    """A part of the formula without variables, computed once, in float64 arithmetic."""
    vals = [np.float64(a) for a in args]
    what = src.segment(node)
    try:
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            if kind == "bin":
                v = _BINARY[type(node.op)](*vals)  # type: ignore[attr-defined]
            elif kind == "neg":
                v = -vals[0]
            else:
                v = FUNCTIONS[node.func.id](*vals)  # type: ignore[attr-defined]
            v = float(v)
    except (FloatingPointError, OverflowError, ZeroDivisionError) as err:
        why = str(err).split(" encountered")[0]
        if "overflow" in why or isinstance(err, OverflowError):
            raise src.error(node, f"{what} is too large for a float") from None
        raise src.error(node, f"{what} is not a finite real number ({why})") from None
    if math.isnan(v):
        raise src.error(node, f"{what} is not a real number")
    if not math.isfinite(v):
        raise src.error(node, f"{what} is too large for a float")
    return _tidy(v)


def _leave(src: _Source, node: ast.AST, parts: list, names: list) -> tuple:
    """The checked form of `node`, whose operands are checked already (`parts`)."""
    if isinstance(node, ast.Constant):
        return ("num", _number(src, node))
    if isinstance(node, ast.Name):
        n = node.id
        if n in CONSTANTS:
            return ("num", CONSTANTS[n])
        if n not in names:
            names.append(n)
        return ("var", n)
    constant = all(p[0] == "num" for p in parts)
    if isinstance(node, ast.BinOp):
        if constant:
            return ("num", _fold(src, node, "bin", [p[1] for p in parts]))
        return ("bin", type(node.op), parts[0], parts[1])
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return parts[0]
        return ("num", _fold(src, node, "neg", [parts[0][1]])) if constant else ("neg", parts[0])
    name = node.func.id  # type: ignore[attr-defined]  # a checked ast.Call
    if constant:
        return ("num", _fold(src, node, "call", [p[1] for p in parts]))
    return ("call", name, parts)


def _children(src: _Source, node: ast.AST) -> list[ast.AST]:
    """The operands of an allowed node (an ExpressionError for anything else)."""
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            kind = type(node.op).__name__
            raise src.error(src.operator(node), f"{kind} ({_SYMBOL.get(type(node.op), '?')}) is "
                                                f"not allowed in a formula{_HINTS.get(kind, '')}")
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise src.error(node, f"{type(node.op).__name__} is not allowed in a formula")
        return [node.operand]
    if isinstance(node, ast.Constant):
        return []
    if isinstance(node, ast.Name):
        n = node.id
        if n.startswith("_"):
            raise src.error(node, f"the name {_short(n)!r} is not allowed")
        if n in FUNCTIONS:
            raise src.error(node, f"{n} is a function: call it, as in {n}(x)")
        return []
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise src.error(node, "only the known mathematical functions can be called")
        name = node.func.id
        if name not in FUNCTIONS:
            raise src.error(node, f"{_short(name)} is not a known function; known: "
                                  f"{', '.join(sorted(FUNCTIONS))}")  # fmt: skip
        if node.keywords:
            raise src.error(node.keywords[0].value if node.keywords[0].arg is None
                            else node.keywords[0], "keyword arguments are not allowed")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise src.error(a, "Starred (*) is not allowed in a formula")
        n = ARITY[name]
        if len(node.args) != n:
            given = len(node.args)
            raise src.error(node, f"{name} takes {n} argument{'s' * (n != 1)}, not {given}")
        return list(node.args)
    kind = type(node).__name__
    raise src.error(node, f"{kind} is not allowed in a formula{_HINTS.get(kind, '')}")


def _checked(src: _Source, root: ast.AST, names: list) -> tuple:
    """Check and simplify the tree, iteratively (a long formula is a deep tree)."""
    stack: list[tuple[ast.AST, list[ast.AST] | None]] = [(root, None)]
    done: list[tuple] = []
    while stack:
        node, kids = stack.pop()
        if kids is None:
            kids = _children(src, node)
            stack.append((node, kids))
            stack.extend((k, None) for k in reversed(kids))
        else:
            parts = done[len(done) - len(kids):] if kids else []
            del done[len(done) - len(kids):]
            done.append(_leave(src, node, parts, names))
    return done[0]


def _evaluate(tree: tuple, env: dict) -> Any:
    """The formula's value: operands before operations, without recursion."""
    stack: list[tuple[tuple, bool]] = [(tree, False)]
    vals: list[Any] = []
    while stack:
        t, ready = stack.pop()
        kind = t[0]
        if kind == "num":
            vals.append(t[1])
        elif kind == "var":
            vals.append(env[t[1]])
        elif not ready:
            stack.append((t, True))
            operands = (t[2], t[3]) if kind == "bin" else (t[1],) if kind == "neg" else t[2]
            stack.extend((o, False) for o in reversed(operands))
        elif kind == "bin":
            b = vals.pop()
            a = vals.pop()
            vals.append(_BINARY[t[1]](a, b))
        elif kind == "neg":
            vals.append(-vals.pop())
        else:
            n = len(t[2])
            args = vals[len(vals) - n:]
            del vals[len(vals) - n:]
            vals.append(FUNCTIONS[t[1]](*args))
    return vals[0]


def parse(text: str) -> tuple[Callable[..., Any], list[str]]:
    """A function of the formula's variables (in order of first appearance), and their names.

    Any formula it cannot read, or that is not bounded, is an `ExpressionError` (a
    `ValueError`) with the column; nothing else is raised."""
    if not isinstance(text, str):
        raise ExpressionError(str(type(text).__name__), 1, "a formula is a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(text[:40] + "...", 1,
                              f"the formula is too long (more than {MAX_LENGTH:,} characters)")
    src = _Source(text)
    if not src.parsed:
        raise ExpressionError(text, 1, "the formula is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of odd literals: errors follow
            tree = ast.parse(src.parsed, mode="eval")
    except SyntaxError as err:
        col = src.lead + (err.offset or 1) if (err.lineno or 1) == 1 else 1
        msg = str(err.msg).splitlines()[0] if err.msg else "invalid syntax"
        if "integer string conversion" in msg:  # a literal of thousands of digits
            msg = "a number with too many digits"
        raise src.error(col, f"not a formula: {msg}") from None
    except (RecursionError, MemoryError):
        raise src.error(1, "the formula is nested too deeply") from None
    except ValueError as err:  # e.g. a NUL character, on some versions
        raise src.error(1, f"not a formula: {err}") from None
    names: list[str] = []
    checked = _checked(src, tree.body, names)

    def fun(*values: Any) -> Any:
        if len(values) != len(names):
            raise TypeError(f"the formula takes {len(names)} values ({', '.join(names)})")
        # plain Python numbers become float64: NumPy's arithmetic (x % 0 is nan, not an error)
        values = tuple(np.float64(v) if type(v) in (int, float) else v for v in values)
        return _evaluate(checked, dict(zip(names, values)))

    fun.__name__ = "formula"
    fun.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names]
    )
    return fun, names


def assignments(items: list[str], names: list[str]) -> list[float]:
    """Values for `names` from ['x=7', 'y=2'] (a bare number when there is one variable).

    A ValueError (one line) for a name the formula does not have, a name given twice, a
    value that is not a number, or a missing name."""
    values: dict[str, float] = {}
    for item in items:
        shown = _short(repr(item))
        if "=" not in item:
            if len(names) != 1:
                raise ValueError(f"--at {shown}: say which variable, as in --at "
                                 f"{names[0] if names else 'x'}={_short(item)}")  # fmt: skip
            item = f"{names[0]}={item}"
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in names:
            raise ValueError(f"--at {shown}: the formula has no variable {_short(name)!r} "
                             f"(it has {', '.join(names) or 'none'})")  # fmt: skip
        if name in values:
            raise ValueError(f"--at {shown}: {name} is given twice")
        try:
            values[name] = float(number)
        except ValueError:
            raise ValueError(f"--at {shown}: {_short(repr(number))} is not a number") from None
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"give a value for {', '.join(missing)} with --at, as in --at "
                         f"{missing[0]}=1.0")  # fmt: skip
    return [values[n] for n in names]
