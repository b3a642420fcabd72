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


class DeviceMismatchError(ValueError):
    """Arrays on two devices (or of two array namespaces) in one operation: chainrule never
    moves them; the message names both devices and the operation.

    >>> import array_api_strict as xp, chainrule as cr, chainrule.numpy as cnp
    >>> a = xp.ones(2, device=xp.Device("device1"))
    >>> try:
    ...     cnp.add(a, xp.ones(2, device=xp.Device("device2")))
    ... except cr.errors.DeviceMismatchError as e:
    ...     print(str(e)[:42])
    chainrule.numpy.add: operands on different
    """


class NumPyOnlyError(NotImplementedError):
    """An operation that runs on NumPy arrays only (docs/namespaces.md lists them) applied to
    arrays of another namespace: chainrule never copies them to the host silently.

    >>> import array_api_strict as xp, chainrule as cr, chainrule.numpy as cnp
    >>> a = xp.ones((2, 2), device=xp.Device("device1"))
    >>> try:
    ...     cnp.einsum("ij,jk->ik", a, a)
    ... except cr.errors.NumPyOnlyError as e:
    ...     print(str(e)[:80])
    chainrule.numpy.einsum runs on NumPy arrays only; its operands are array_api_str
    """


_INSIDE: dict = {}  # a code object's file name -> whether it is chainrule's (or Python's own)


def _inside(name: str) -> bool:
    inside = _INSIDE.get(name)
    if inside is None:
        inside = _INSIDE[name] = (os.path.abspath(name).startswith(_PACKAGE + os.sep)
                                  or "<frozen" in name)  # fmt: skip
    return inside


def user_frame() -> tuple[str, int, str] | None:
    """(file, line, function) of the innermost frame outside the chainrule package."""
    f: Any = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_filename
        if not _inside(name):
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


def _library(frame: Any) -> str | None:
    """The installed package a frame runs in ('scipy'), or None for the user's own code."""
    name = frame.f_globals.get("__name__", "")
    file = frame.f_code.co_filename
    if "site-packages" in file or "dist-packages" in file or name.startswith("scipy."):
        return name.partition(".")[0] or None
    return None


def conversion_error() -> TypeError:
    """The error for a traced value turned into a NumPy array. When a library did it (SciPy,
    scikit-learn, ...), the error names the library's function and, for SciPy, chainrule's
    differentiable replacement."""
    f: Any = sys._getframe(2)
    while f is not None and f.f_globals.get("__name__", "").startswith("numpy"):
        f = f.f_back
    lib = _library(f) if f is not None else None
    if lib is None or lib in ("chainrule", "numpy"):
        return TypeError(
            "a traced value cannot become a NumPy array (its derivative would be lost); use "
            "chainrule.numpy functions on it, or cr.stop_gradient(x) to drop the derivative"
        )
    entry = f  # the library's outermost frame: the function the user called
    while f is not None and _library(f) in (lib, "numpy"):
        entry = f if _library(f) == lib else entry
        f = f.f_back
    fn = entry.f_code.co_name
    owner = entry.f_locals.get("self")
    if isinstance(getattr(owner, "name", None), str):  # a SciPy distribution: norm.logpdf
        fn = f"{owner.name}.{fn}"
    public = ".".join(p for p in entry.f_globals["__name__"].split(".")[:2]
                      if not p.startswith("_"))  # fmt: skip
    called = f"{public}.{fn}" if "wrapper" not in fn and not fn.startswith("_") else public
    advice = "cr.stop_gradient(x) gives it a value without derivative"
    if lib == "scipy":
        import importlib
        import importlib.util

        target = "chainrule." + public
        if importlib.util.find_spec(target) is not None:
            found: Any = importlib.import_module(target)
            for part in called.split(".")[len(public.split(".")):]:
                found = getattr(found, part, None)
            advice = (f"use chainrule.{called}, which differentiates it" if found is not None
                      and called != public else f"{target} lists the functions it "
                      "differentiates; or " + advice)  # fmt: skip
    at = f"{os.path.basename(f.f_code.co_filename)}:{f.f_lineno}" if f is not None else ""
    return TypeError(
        f"{called}{' (at ' + at + ')' if at else ''} turned a traced value into a NumPy array, "
        f"which would lose its derivative: {advice}"
    )
