"""Formulas typed on the command line, parsed safely into differentiable functions.

Only numbers, variable names, `+ - * / ** %`, parentheses and calls of a fixed list of
mathematical functions are accepted (a whitelist over Python's `ast`); nothing is ever passed
to `eval`. A formula outside it is an `ExpressionError` naming the column.

>>> f, names = parse("tanh(4*cos(x)**2)")
>>> names
['x']
>>> round(float(f(7.0)), 6)
0.979023
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import numpy as cnp

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
CONSTANTS = {"pi": np.pi, "e": np.e}
_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
           ast.Pow: lambda a, b: a**b, ast.Mod: lambda a, b: a % b}  # fmt: skip
_UNARY = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a}


class ExpressionError(ValueError):
    """A formula that can't be read, with the column (1-based) where the problem is."""

    def __init__(self, text: str, column: int, message: str):
        self.text, self.column = text, column
        pointer = " " * (column - 1) + "^"
        super().__init__(f"{message} (column {column})\n  {text}\n  {pointer}")


def _check(node: ast.AST, text: str, names: list) -> None:
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Expression):
        _check(node.body, text, names)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, text, names)
        _check(node.right, text, names)
    elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _check(node.operand, text, names)
    elif isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise ExpressionError(text, col, f"only numbers are allowed, not {node.value!r}")
    elif isinstance(node, ast.Name):
        n = node.id
        if n.startswith("_"):
            raise ExpressionError(text, col, f"the name {n!r} is not allowed")
        if n in FUNCTIONS:
            raise ExpressionError(text, col, f"{n} is a function: call it, as in {n}(x)")
        if n not in CONSTANTS and n not in names:
            names.append(n)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(text, col, "only the known mathematical functions can be called")
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(
                text, col,
                f"{node.func.id} is not a known function; known: {', '.join(sorted(FUNCTIONS))}",
            )
        if node.keywords:
            raise ExpressionError(text, col, "keyword arguments are not allowed")
        for a in node.args:
            _check(a, text, names)
    else:
        kind = type(getattr(node, "op", node)).__name__
        raise ExpressionError(text, col, f"{kind} is not allowed in a formula")


def parse(text: str) -> tuple[Callable[..., Any], list[str]]:
    """A function of the formula's variables (in order of first appearance), and their names."""
    if len(text) > 10_000:
        raise ExpressionError(text[:40] + "...", 1, "the formula is too long")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ExpressionError(text, err.offset or 1, f"not a formula: {err.msg}") from None
    names: list[str] = []
    _check(tree, text, names)

    def evaluate(node: ast.AST, env: dict) -> Any:
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](evaluate(node.left, env), evaluate(node.right, env))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](evaluate(node.operand, env))
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else CONSTANTS[node.id]
        return FUNCTIONS[node.func.id](*[evaluate(a, env) for a in node.args])  # ast.Call

    def fun(*values: Any) -> Any:
        if len(values) != len(names):
            raise TypeError(f"the formula takes {len(names)} values ({', '.join(names)})")
        return evaluate(tree.body, dict(zip(names, values)))

    fun.__name__ = "formula"
    fun.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names]
    )
    return fun, names


def assignments(items: list[str], names: list[str]) -> list[float]:
    """Values for `names` from ['x=7', 'y=2'] (a bare number when there is one variable)."""
    values: dict[str, float] = {}
    for item in items:
        if "=" not in item:
            if len(names) != 1:
                raise ValueError(f"--at {item!r}: say which variable, as in --at x={item}")
            item = f"{names[0]}={item}"
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in names:
            raise ValueError(f"--at {item!r}: the formula has no variable {name!r} "
                             f"(it has {', '.join(names) or 'none'})")  # fmt: skip
        try:
            values[name] = float(number)
        except ValueError:
            raise ValueError(f"--at {item!r}: {number!r} is not a number") from None
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"give a value for {', '.join(missing)} with --at, as in --at "
                         f"{missing[0]}=1.0")  # fmt: skip
    return [values[n] for n in names]
