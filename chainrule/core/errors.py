"""The errors users catch, and how they name the user's own line of code.

>>> import chainrule as cr
>>> issubclass(cr.errors.ConcretizationError, TypeError)
True
"""

from __future__ import annotations

import os
import sys
from typing import Any

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ConcretizationError(TypeError):
    """A Python `if`, `bool()`, `float()`, `int()` or index on a value that is only known
    abstractly (under `eval_shape`, staging, or per example under `vmap`).

    >>> import chainrule as cr
    >>> try:
    ...     cr.eval_shape(lambda x: 1.0 if x > 0 else 2.0, 1.0)
    ... except cr.errors.ConcretizationError as e:
    ...     print(type(e).__name__)
    ConcretizationError
    """


class UnexpectedTracerError(Exception):
    """A traced value used after its transformation ended: it was stored in a global, a
    closure or an attribute while the transformation ran, and used later.

    >>> import chainrule as cr
    >>> leaked = []
    >>> _ = cr.grad(lambda x: leaked.append(x) or x * 2.0)(1.0)
    >>> try:
    ...     cr.grad(lambda y: y * leaked[0])(3.0)
    ... except cr.errors.UnexpectedTracerError as e:
    ...     print("grad" in str(e))
    True
    """


def user_frame() -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost frame outside the chainrule package."""
    f: Any = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if not os.path.abspath(name).startswith(_PACKAGE + os.sep) and "<frozen" not in name:
            return name, f.f_lineno, f.f_code.co_name
        f = f.f_back
    return None


def where() -> str:
    """'file.py:12 in f' for the user's innermost frame (or '' if none)."""
    fr = user_frame()
    if fr is None:
        return ""
    file, line, fn = fr
    return f"{os.path.basename(file)}:{line} in {fn}"


def concretization_error(what: str, context: str) -> ConcretizationError:
    """The error for `what` ('bool()', 'float()', ...) on a value known only abstractly."""
    at = where()
    return ConcretizationError(
        f"{what} needs a concrete value, but this value is only known abstractly here "
        f"({context}){', at ' + at if at else ''}. Python control flow (if/while/and/or) and "
        "conversions cannot depend on it: use cnp.where(cond, a, b) for a choice made per "
        "element, or cr.cond(pred, true_fun, false_fun, *operands) for a branch; a value that "
        "must be known while tracing should be passed as a static argument."
    )
