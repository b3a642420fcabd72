"""Jit mode: the functional tests run again with every transformation jitted.

Loaded by ``tests/conftest.py`` when ``CHAINRULE_JIT_TESTS=1``::

    CHAINRULE_JIT_TESTS=1 .venv/bin/python -m pytest -q -p no:cacheprovider -n 4 tests

For the duration of each test, the functional face's transformations are replaced by jitted
versions (monkeypatch: nothing leaks between tests):

- ``cr.grad(f, ...)`` returns ``cr.jit(cr.grad(f, ...))``; likewise ``value_and_grad``,
  ``elementwise_grad``, ``jacobian``, ``jacrev``, ``jacfwd``, ``hessian``, ``vmap`` and
  ``linear_transpose`` (the arguments of the transformation, argnums, has_aux, in_axes, ...,
  stay arguments of the transformation, not of the jitted function);
- ``cr.jvp(f, primals, tangents)`` computes ``cr.jit(lambda p, t: cr.jvp(f, p, t))(primals,
  tangents)``, and ``cr.hvp`` likewise;
- ``cr.vjp`` and ``cr.linearize`` compute their outputs as usual and return a jitted
  pullback / a jitted ``f_jvp``;
- ``chainrule.testing.check_grads`` uses the jitted ``jvp`` and ``vjp`` (its higher orders
  then nest jitted functions inside transformations: ``jit_p`` under ``jvp``).

Transformations nest: ``cr.grad(cr.grad(f))`` is ``jit(grad(jit(grad(f))))``, the inner one
called with tracers (``jit_p`` under reverse mode).

A call that jit refuses by design (an argument that is not an array or a number: a string,
a callable; Python control flow or a NumPy conversion on a value that is traced under jit
but concrete in the eager call) runs eagerly instead and is recorded: the test is then
reported as skipped ("not jittable: ..."), never silently passed, and it must be listed in
``tests/jit_skips.py`` (`NOT_JITTABLE`). When the eager call raises too, its error is the
call's (nothing is recorded: both refuse). The other lists there: `SKIP` (tests that do not
run in jit mode, with the reason), `NO_BITWISE` (tests that count calls: run jitted, without
the bitwise check's extra eager run) and `XFAIL` (jit bugs, strict: fixed ones must be
removed).

Bitwise check: each outermost jitted call (concrete arguments, no program being staged) is
also run eagerly, once, and the results must be equal bit for bit (structure, dtype, shape,
values with NaNs equal, signs of zeros; a different Python type with equal bits, a 0-d array
for a NumPy scalar, is reported as a "type" difference), unless an order-changing rewrite
applied to one of its programs: the passes named in `ORDER_CHANGING` (merged outer products;
tiled reductions when the compiler has them) are wrapped to count their rewrites. The tests
in `SCALAR_MATH` compute with complex NumPy scalars in their eager run: NumPy multiplies and
divides those with its scalar math, and 0-d arrays (the compiled program's) with its array
loops, which use fused multiply-adds, so the two differ by a rounding; their differences
within `SCALAR_MATH_ULPS` eps are reported apart, larger ones as mismatches.
Mismatches are collected and printed at the end of the session (``CHAINRULE_JIT_BITWISE=fail``
makes them test failures, ``CHAINRULE_JIT_BITWISE=off`` turns the check off).
``CHAINRULE_JIT_REPORT=path.json`` writes the per-test records (jitted calls, compilations,
fallbacks, mismatches) and the selection.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import os
import re
import threading
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.testing as cr_testing
from chainrule.compiler import passes
from chainrule.core.errors import ConcretizationError
from chainrule.core.namespace import is_foreign
from chainrule.core.pytree import tree_flatten
from chainrule.core import trace as core_trace
from chainrule.core.trace import Tracer

ENV = "CHAINRULE_JIT_TESTS"
REPORT_ENV = "CHAINRULE_JIT_REPORT"
BITWISE_ENV = "CHAINRULE_JIT_BITWISE"
SKIPS_ENV = "CHAINRULE_JIT_SKIPS"  # another file of lists (tests/test_jit_mode.py's sample)
MAX_SKIPPED = 0.05  # share of the selected tests that may be skipped (SKIP + NOT_JITTABLE)

#: the test files that run in jit mode (the functional tests of the earlier issues) and why
FILES = {
    "test_transforms.py": "the functional transformations and their composition",
    "test_functional.py": "the functional face end to end",
    "test_elementwise.py": "elementwise operations' derivatives",
    "test_reductions.py": "reductions' derivatives",
    "test_indexing.py": "indexing and index updates",
    "test_linalg.py": "linear algebra and decompositions",
    "test_products.py": "matmul, einsum, tensordot, ...",
    "test_shapes.py": "shape operations",
    "test_complex.py": "complex numbers' conventions",
    "test_forward_mode.py": "forward mode",
    "test_custom_rules.py": "custom_jvp / custom_vjp under every transformation",
    "test_fft.py": "FFTs",
    "test_numpy_extra.py": "the rest of chainrule.numpy",
    "test_scipy.py": "chainrule.scipy",
    "test_weak_types.py": "weak types of Python scalars (jit traces them as weak operands)",
    "test_broadcasting_hypothesis.py": "broadcasting, property-based",
    "test_rules.py": "every primitive's rules (those tests that go through cr.*)",
    "test_seeds.py": "the notebooks' computations with the functional API",
    "test_dispatch.py": "NumPy's own functions on traced values (jit's tracers too)",
    "test_protection.py": "mutating arrays after use (jit holds constants by reference)",
    "test_namespaces.py": "another array namespace's arrays (array_api_strict on device1)",
}
# Not selected (each is about something jit does not replace): the imperative faces
# (test_tensor, test_tape, test_torch_face, test_torch_notebooks, test_scalar), the CLI
# (test_cli, test_cli_fuzz), drawings and explanations (test_draw, test_explain,
# test_symbolic, test_compare), benchmarks, memory accounting (test_memory), the package's
# layering, the NumPy coverage table, pytrees (test_tree_util: no transformation), the eager
# executor's own paths (test_executor, test_blocked: thresholds of the eager engine), the eager
# engine's error messages (test_errors, test_core_errors: jit's own are in test_jit*), and
# the jit tests themselves (test_jit*).

#: transformations replaced by jitted versions, and where
PATCHED = ("grad", "value_and_grad", "elementwise_grad", "jacobian", "jacrev", "jacfwd",
           "hessian", "hvp", "vmap", "jvp", "vjp", "linearize", "linear_transpose")  # fmt: skip

#: passes that change the order of floating-point operations (results within a few ulps):
#: a program one of them rewrote is exempt from the bitwise check
ORDER_CHANGING = ("merge_outer", "tile_reductions", "tiled_reductions")

EAGER = {name: getattr(cr, name) for name in PATCHED}
EAGER_TESTING = {"jvp": cr_testing.jvp, "vjp": cr_testing.vjp}


# --- per-test records ------------------------------------------------------------------------


class Record:
    """What happened in one test: jitted calls, compilations, fallbacks, bitwise checks."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.calls = 0  # jitted calls
        self.misses = 0  # compilations (cache misses) of those calls
        self.compared = 0  # outermost calls also run eagerly and compared
        self.fallbacks: dict[str, int] = {}  # reason -> calls
        self.mismatches: list[str] = []  # bitwise mismatches (no order-changing rewrite)
        self.reordered: list[str] = []  # mismatches where an order-changing rewrite applied
        self.scalar_math: list[str] = []  # listed: NumPy's complex scalar math in eager
        self.compare = True  # run the bitwise check (off for the tests in NO_BITWISE)

    def as_dict(self) -> dict:
        return {"calls": self.calls, "misses": self.misses, "compared": self.compared,
                "fallbacks": dict(self.fallbacks), "mismatches": list(self.mismatches),
                "reordered": list(self.reordered),
                "scalar_math": list(self.scalar_math)}  # fmt: skip


class _State(threading.local):
    eager = False  # running the eager reference of a jitted call (inner ones eager too)
    depth = 0  # jitted calls in progress


_state = _State()
_current: Record | None = None
_reorders = [0]  # order-changing rewrites made so far (counted by the wrapped passes)


# --- the jitted transformations ----------------------------------------------------------------


def _not_jittable(e: BaseException) -> str | None:
    """Why jit refused a call by design, or None for any other error."""
    msg = str(e)
    if isinstance(e, ConcretizationError):  # (the eager call must succeed: see the caller)
        what = msg.split(" needs a concrete value")[0].split(": the shape of the result")[0]
        return ("a value jit traces (concrete in the eager call) is needed concretely: "
                f"{what[:120]}")  # fmt: skip
    if isinstance(e, TypeError) and msg.startswith("jit of ") and "not an array or a number" \
            in msg:  # fmt: skip
        kind = re.search(r"is an? (\w+), not an array", msg)
        return f"an argument is a {kind.group(1) if kind else 'non-array'}, not an array"
    if isinstance(e, TypeError) and msg.startswith("jit of ") and "is not an array" in msg:
        return "an output is not an array"
    if isinstance(e, TypeError) and msg.startswith("a traced value cannot become a NumPy array"):
        return "a NumPy conversion of an argument jit traces (concrete in the eager call)"
    return None


def _traced(tree: Any) -> bool:
    return any(isinstance(x, Tracer) for x in tree_flatten(tree)[0])


def _where(fun: Any) -> str:
    f = inspect.unwrap(fun) if callable(fun) else fun
    name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None) or repr(f)
    try:
        file = os.path.basename(inspect.getsourcefile(f) or "?")
        line = inspect.getsourcelines(f)[1]
        return f"{name} ({file}:{line})"
    except (TypeError, OSError):
        return name


def _signature(args: tuple, kwargs: dict) -> str:
    def one(x: Any) -> str:
        if isinstance(x, (np.ndarray, np.generic)):
            return f"{x.dtype}{list(np.shape(x))}"
        return type(x).__name__

    leaves, _ = tree_flatten((args, kwargs))
    return ", ".join(one(x) for x in leaves)


class JittedTransform:
    """A transformed function (`eager`) whose calls run through ``cr.jit``, once compiled
    per kind of arguments; outside a test, or while the eager reference runs, it is the
    eager function."""

    def __init__(self, what: str, eager: Any, fun: Any = None):
        self.what = what
        self.eager = eager
        self.fun = fun if fun is not None else eager
        self._jitted: Any = None
        self.reordered = False  # an order-changing rewrite applied to one of its programs
        functools.update_wrapper(self, eager)
        if hasattr(eager, "__wrapped__"):  # grad(f).__wrapped__ is f, as in eager mode
            self.__wrapped__ = eager.__wrapped__
        else:
            del self.__wrapped__

    def jitted(self) -> Any:
        if self._jitted is None:
            self._jitted = cr.jit(self.eager)
            self._jitted._warned = True  # the tests call with many shapes on purpose
        return self._jitted

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rec = _current
        if rec is None or _state.eager:
            return self.eager(*args, **kwargs)
        outermost = _state.depth == 0 and not core_trace._state.staging and not _traced(
            (args, kwargs))  # (inside a test's own jit, jit on constants runs at once)
        j = self.jitted()
        misses, reorders = j._misses, _reorders[0]
        _state.depth += 1
        try:
            out = j(*args, **kwargs)
        except Exception as e:
            why = _not_jittable(e)
            if why is None:
                raise
            out = self.eager(*args, **kwargs)  # when it raises too, jit's refusal was moot
            rec.fallbacks[why] = rec.fallbacks.get(why, 0) + 1
            return out
        finally:
            _state.depth -= 1
            rec.calls += 1
            rec.misses += j._misses - misses
            if _reorders[0] != reorders:
                self.reordered = True
        if outermost and rec.compare and not _traced(out):
            self._compare(rec, out, args, kwargs)
        return out

    def _compare(self, rec: Record, out: Any, args: tuple, kwargs: dict) -> None:
        rec.compared += 1
        _state.eager = True
        try:
            ref = self.eager(*args, **kwargs)
        except Exception as e:
            problem = f"raises: the eager call raised {type(e).__name__}: {str(e)[:200]}"
        else:
            problem = _difference(out, ref)
        finally:
            _state.eager = False
        if problem is None:
            return
        kind, _, problem = problem.partition(": ")
        text = (f"[{kind}] {self.what} of {_where(self.fun)} on ({_signature(args, kwargs)}): "
                f"{problem}")  # fmt: skip
        if self.reordered:
            rec.reordered.append(text)
        elif kind == "values" and listed(rec.nodeid, "SCALAR_MATH") and _close(out, ref):
            rec.scalar_math.append(text)
        else:
            rec.mismatches.append(text)


SCALAR_MATH_ULPS = 16  # how far (in eps of the dtype, relative to a leaf's largest value)


def _close(out: Any, ref: Any) -> bool:
    """Whether every inexact leaf of `out` is within `SCALAR_MATH_ULPS` of `ref`'s (the
    bound of a `SCALAR_MATH` difference: a rounding or two, amplified by a few operations)."""
    for a, b in zip(tree_flatten(out)[0], tree_flatten(ref)[0]):
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype.kind not in "fc":
            if not np.array_equal(x, y):
                return False
            continue
        scale = np.max(np.abs(y), initial=np.finfo(y.dtype).tiny)
        if not np.all(np.abs(x - y) <= SCALAR_MATH_ULPS * np.finfo(y.dtype).eps * scale):
            return False
    return True


def _difference(out: Any, ref: Any) -> str | None:
    """How the jitted result `out` differs from the eager `ref`, as "kind: text" (kinds:
    values, signs, dtype, shape, structure, type), or None when they are equal bit for bit
    (a "type" difference has equal bits: a 0-d array against a NumPy scalar, say)."""
    lo, to = tree_flatten(out)
    lr, tr = tree_flatten(ref)
    if to != tr:
        return f"structure: {to} (jit) vs {tr} (eager)"
    typed = None
    for k, (a, b) in enumerate(zip(lo, lr)):
        at = f"output leaf {k}: " if len(lo) > 1 else ""
        if is_foreign(a) or is_foreign(b):  # another namespace's arrays (test_namespaces.py)
            if type(a) is not type(b) or a.device != b.device:
                return f"type: {at}{a!r} (jit) vs {b!r} (eager)"
            from strict_mode import to_numpy  # the only namespace the tests use

            a, b = to_numpy(a), to_numpy(b)
        if not isinstance(a, (np.ndarray, np.generic, int, float, complex)) or \
                not isinstance(b, (np.ndarray, np.generic, int, float, complex)):  # fmt: skip
            if type(a) is not type(b) or (a is not b and a != b):
                return f"values: {at}{a!r} (jit) vs {b!r} (eager)"
            continue
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype != y.dtype:
            return f"dtype: {at}{x.dtype} (jit) vs {y.dtype} (eager)"
        if x.shape != y.shape:
            return f"shape: {at}{x.shape} (jit) vs {y.shape} (eager)"
        if x.dtype.kind in "biufc":
            same = np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
            if not same:
                with np.errstate(all="ignore"):
                    d = np.abs(x.astype(complex if x.dtype.kind == "c" else float) - y)
                    rel = d / np.maximum(np.abs(y), np.finfo(float).tiny)
                bad = int(np.sum(~((x == y) | (np.isnan(x) & np.isnan(y)))))
                return (f"values: {at}{x.dtype}{list(x.shape)} differs in {bad} of {x.size} "
                        f"elements, max |diff| {np.nanmax(d):.3g}, max rel "
                        f"{np.nanmax(rel):.3g}")  # fmt: skip
            if x.dtype.kind in "fc":
                parts = ((x.real, y.real), (x.imag, y.imag)) if x.dtype.kind == "c" else ((x, y),)
                for p, q in parts:
                    real = ~(np.isnan(p) & np.isnan(q))
                    if not np.array_equal(np.signbit(p)[real], np.signbit(q)[real]):
                        return f"signs: {at}signs of zeros differ"
        if type(a) is not type(b) and typed is None:
            typed = f"type: {at}{type(a).__name__} (jit) vs {type(b).__name__} (eager)"
    return typed


def _transformation(name: str) -> Any:
    eager = EAGER[name]

    def transform(fun: Any, *args: Any, **kwargs: Any) -> Any:
        return JittedTransform(name, eager(fun, *args, **kwargs), fun)

    functools.update_wrapper(transform, eager)
    return transform


def jvp(fun: Any, primals: Any, tangents: Any, has_aux: bool = False) -> Any:
    """``cr.jit(lambda p, t: cr.jvp(fun, p, t))(primals, tangents)``."""
    eager = EAGER["jvp"]
    return JittedTransform("jvp", lambda p, t: eager(fun, p, t, has_aux=has_aux), fun)(
        primals, tangents)  # fmt: skip


def hvp(fun: Any, primals: Any, tangents: Any) -> Any:
    """``cr.jit(lambda p, t: cr.hvp(fun, p, t))(primals, tangents)``."""
    eager = EAGER["hvp"]
    return JittedTransform("hvp", lambda p, t: eager(fun, p, t), fun)(primals, tangents)


def vjp(fun: Any, *primals: Any, has_aux: bool = False) -> Any:
    """``cr.vjp``, with a jitted pullback."""
    res = EAGER["vjp"](fun, *primals, has_aux=has_aux)
    if _current is None or _state.eager:
        return res
    return (res[0], JittedTransform("vjp's pullback", res[1], fun), *res[2:])


def linearize(fun: Any, *primals: Any, has_aux: bool = False) -> Any:
    """``cr.linearize``, with a jitted ``f_jvp``."""
    res = EAGER["linearize"](fun, *primals, has_aux=has_aux)
    if _current is None or _state.eager:
        return res
    return (res[0], JittedTransform("linearize's f_jvp", res[1], fun), *res[2:])


REPLACEMENTS = {name: _transformation(name) for name in PATCHED}
REPLACEMENTS.update(jvp=jvp, hvp=hvp, vjp=vjp, linearize=linearize)
for _n in ("jvp", "hvp", "vjp", "linearize"):
    functools.update_wrapper(REPLACEMENTS[_n], EAGER[_n], updated=())


def _counting(pass_: Any) -> Any:
    @functools.wraps(pass_)
    def counted(program: Any, *args: Any, **kwargs: Any) -> Any:
        out = pass_(program, *args, **kwargs)
        if out is not program:
            _reorders[0] += 1
        return out

    return counted


# --- the lists in jit_skips.py -----------------------------------------------------------------


def _pattern(p: str) -> re.Pattern:
    return re.compile(".*".join(re.escape(part) for part in p.split("*")))


def _load_lists() -> Any:
    path = os.environ.get(SKIPS_ENV)
    if not path:
        import jit_skips

        return jit_skips
    spec = importlib.util.spec_from_file_location("_jit_skips_" + str(abs(hash(path))), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LISTS = _load_lists()
_LISTS = {name: [(_pattern(p), p, r) for p, r in getattr(LISTS, name, {}).items()]
          for name in ("SKIP", "NOT_JITTABLE", "XFAIL", "NO_BITWISE", "SCALAR_MATH")}  # fmt: skip


def listed(nodeid: str, which: str) -> tuple[str, str] | None:
    """(pattern, reason) of the entry of list `which` matching the test, or None."""
    for rx, p, reason in _LISTS[which]:
        if rx.fullmatch(nodeid):
            return p, reason
    return None


def selected(nodeid: str) -> bool:
    """Whether the test runs in jit mode: it is in one of `FILES` (or in tests/jit_sample/,
    the sample tests/test_jit_mode.py runs)."""
    path = nodeid.split("::")[0]
    return os.path.basename(path) in FILES or "jit_sample/" in path.replace(os.sep, "/")


# --- hooks -------------------------------------------------------------------------------------

_records: dict[str, dict] = {}  # nodeid -> Record.as_dict() (from the reports)
_selection: dict[str, str] = {}  # nodeid -> "run" / "skip" / "not jittable" / "xfail"
_outcomes: dict[str, str] = {}
_used: set[str] = set()  # patterns that matched a collected test


def pytest_collection_modifyitems(session: Any, config: Any, items: list) -> None:
    keep, drop = [], []
    for item in items:
        (keep if selected(item.nodeid) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    for item in items:
        kind = "run"
        if (hit := listed(item.nodeid, "SKIP")) is not None:
            item.add_marker(pytest.mark.skip(reason=f"jit mode: {hit[1]}"))
            kind = "skip"
        elif (hit := listed(item.nodeid, "XFAIL")) is not None:
            item.add_marker(pytest.mark.xfail(strict=True, reason=hit[1]))
            kind = "xfail"
        elif (hit := listed(item.nodeid, "NOT_JITTABLE")) is not None:
            kind = "not jittable"
        if hit is not None:
            _used.add(hit[0])
        _selection[item.nodeid] = kind


@pytest.fixture(autouse=True)
def _jit_mode(request: Any, monkeypatch: Any) -> Any:
    """The transformations of `cr` (and those check_grads uses) jitted for this test."""
    global _current
    for name, fun in REPLACEMENTS.items():
        monkeypatch.setattr(cr, name, fun)
    for name in EAGER_TESTING:
        monkeypatch.setattr(cr_testing, name, REPLACEMENTS[name])
    for name in ORDER_CHANGING:
        if hasattr(passes, name):
            monkeypatch.setattr(passes, name, _counting(getattr(passes, name)))
    rec = Record(request.node.nodeid)
    rec.compare = listed(request.node.nodeid, "NO_BITWISE") is None and \
        os.environ.get(BITWISE_ENV) != "off"  # fmt: skip
    request.node._jit_record = rec
    _current, _state.depth, _state.eager = rec, 0, False
    try:
        yield rec
    finally:
        _current = None


def _skip_longrepr(item: Any, reason: str) -> tuple:
    path, line, _ = item.location
    return (str(item.path), (line or 0) + 1, f"Skipped: {reason}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    rep = outcome.get_result()
    rec = getattr(item, "_jit_record", None)
    if rep.when != "call" or rec is None:
        return
    rep.user_properties.append(("jit", json.dumps(rec.as_dict())))
    if hasattr(rep, "wasxfail"):
        return
    entry = listed(item.nodeid, "NOT_JITTABLE")
    why = "; ".join(f"{r} ({n} call{'s' * (n != 1)})" for r, n in rec.fallbacks.items())
    if rep.passed and rec.fallbacks:
        if entry is not None:
            rep.outcome = "skipped"
            rep.longrepr = _skip_longrepr(item, f"jit mode: not jittable: {entry[1]} [{why}]")
        else:
            rep.outcome = "failed"
            rep.longrepr = (f"jit mode: calls jit refuses by design ran eagerly ({why}); if "
                            "that is right, list the test in tests/jit_skips.py NOT_JITTABLE "
                            "with the reason")  # fmt: skip
    elif rep.passed and entry is not None:
        rep.outcome = "failed"
        rep.longrepr = (f"jit mode: listed in tests/jit_skips.py NOT_JITTABLE ({entry[0]!r}) "
                        "but every call was jitted: remove the entry")  # fmt: skip
    elif rep.passed and rec.mismatches and os.environ.get(BITWISE_ENV) == "fail":
        rep.outcome = "failed"
        rep.longrepr = "jit mode: not bitwise equal to eager:\n" + "\n".join(rec.mismatches)


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call" or (report.when == "setup" and not report.passed):
        _outcomes[report.nodeid] = ("xfailed" if hasattr(report, "wasxfail") and
                                    report.skipped else report.outcome)  # fmt: skip
    for key, value in report.user_properties:
        if key == "jit":
            _records[report.nodeid] = json.loads(value)


def _summary_lines() -> list[str]:
    recs = _records
    calls = sum(r["calls"] for r in recs.values())
    misses = sum(r["misses"] for r in recs.values())
    compared = sum(r["compared"] for r in recs.values())
    counts: dict[str, int] = {}
    for o in _outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    lines = [f"{len(_outcomes)} tests: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())),
             f"{calls} jitted calls, {misses} compilations, {compared} compared with eager "
             "bit for bit"]  # fmt: skip
    n = len(_outcomes)
    skipped = counts.get("skipped", 0)
    if n:
        lines.append(f"skipped: {skipped / n:.1%} (at most {MAX_SKIPPED:.0%})")
    for title, key in (("bitwise mismatches", "mismatches"),
                       ("mismatches where an order-changing rewrite applied", "reordered"),
                       ("listed differences of NumPy's complex scalar math (within "
                        f"{SCALAR_MATH_ULPS} eps)", "scalar_math")):
        seen: dict[str, list] = {}  # the same call in several tests (or examples): once
        for k, r in sorted(recs.items()):
            for m in r.get(key, ()):
                seen.setdefault(m, []).append(k)
        kinds: dict[str, int] = {}
        for m in seen:
            kind = m[1:m.index("]")]
            kinds[kind] = kinds.get(kind, 0) + 1
        lines.append(f"{title}: {len(seen)} distinct" + (" (" + ", ".join(
            f"{n} {kind}" for kind, n in sorted(kinds.items())) + ")" if kinds else ""))
        for m, where in sorted(seen.items()):
            more = f" (and {len(set(where)) - 1} more tests)" if len(set(where)) > 1 else ""
            lines.append(f"  {where[0]}{more}: {m}")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: Any, config: Any) -> None:
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    terminalreporter.section("jit mode")
    for line in _summary_lines():
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: Any, exitstatus: Any) -> None:
    path = os.environ.get(REPORT_ENV)
    if not path or hasattr(session.config, "workerinput"):
        return
    with open(path, "w") as f:
        json.dump({"records": _records, "outcomes": _outcomes, "selection": _selection,
                   "summary": _summary_lines()}, f, indent=1, sort_keys=True)  # fmt: skip
