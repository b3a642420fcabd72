"""Fuzzing the command line's formulas: hostile text never hangs, crashes or runs.

In-process (hypothesis, derandomized, fixed numbers of examples; about a second together
here; no formula may take more than 10 s, a bound against hangs, not a speed target):
`parse` reads random strings of tokens and the text of random syntax trees built from
Python's expression grammar (numbers up to 400 digits and floats such as 1e308, names,
every operator including ``**``, calls of known and unknown functions with wrong numbers of
arguments, keywords and stars, attributes, subscripts, lambdas, comprehensions, strings,
bytes, f-strings, comparisons, conditionals, walrus, await and yield). It must return a
formula, whose value at 0.5 is then computed, or raise its own `ExpressionError`, and nothing
else.

In subprocesses: 25 of those formulas (a fixed, deterministic choice, about half of them
readable) go through ``python -c <prelude> explain --at NAME=0.5 ... -- FORMULA``, with a
2 s timeout each (a run that times out is tried once more, so that a slow start of Python
is not taken for a hang). Each must exit with status 0 or 2, print no "Traceback", print at
most one line on stderr (exactly one when it fails), and pass the audit policy below.

The audit policy. The prelude imports the command line and the modules it uses
(`chainrule`, `chainrule.__main__`, `chainrule.transparency` and its `expr`, `graph`,
`draw`), then installs a `sys.addaudithook` hook, then calls `chainrule.__main__.main(argv)`;
the hook records only while `main` runs, and the events are checked afterwards:

* no process is started: no ``subprocess.Popen``, ``os.system``, ``os.exec*``,
  ``os.posix_spawn*``, ``os.spawn*``, ``os.fork``, ``os.forkpty``, ``pty.spawn`` or
  ``os.startfile`` event at all;
* no code object that did not come from a file runs: every ``exec`` event's code object has
  a ``co_filename`` that is an existing file (a module imported lazily) or a frozen module of
  Python's own (``<frozen ...>``); an `eval`/`exec` of text (``<string>``, ``<unknown>``, or
  anything derived from the formula) fails the test;
* the formula is compiled only into a syntax tree: every ``compile`` event whose source
  contains the formula has the filename ``<unknown>``, the one `ast.parse` gives (that
  compile only builds a tree, and by the rule above no code object from it ever runs; a
  module's own source compiled on import, without a .pyc, is a file and may contain it);
* no module that starts processes, opens sockets or runs code is imported while the formula
  is handled: no ``import`` event for ``subprocess``, ``pty``, ``socket``, ``ctypes``,
  ``webbrowser``, ``multiprocessing``, ``code``, ``codeop``, ``runpy``, ``pdb`` or
  ``pickle`` (lazy imports of other modules, such as `chainrule.scalar`, are fine: they are
  files, and run as such).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import zlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainrule.transparency.expr import ARITY, FUNCTIONS, ExpressionError, parse

SEEN: dict[str, list[str] | None] = {}  # formula -> its variables, or None when refused

FUZZ = settings(derandomize=True, database=None, deadline=None, print_blob=False,
                suppress_health_check=list(HealthCheck))  # fmt: skip
TIMEOUT = 2  # seconds for one run of the command line

# --- random strings of tokens -----------------------------------------------------------------

NUMBERS = ["0", "1", "2", "3", "9", "0.5", "2.5e-3", ".5", "5.", "00", "1_000", "0x1F", "0o7",
           "0b11", "1e308", "1e999", "1e-400", "9" * 400, "1" * 5000, "1j", "3.14J"]  # fmt: skip
NAMES = ["x", "y", "z", "pi", "π", "e", "inf", "nan", "sin", "cos", "maximum", "arctan2",
         "floor", "relu", "exp", "log", "foo", "_x", "__import__", "__builtins__", "eval",
         "exec", "open", "os", "print", "True", "None", "lambda", "if", "else", "for", "in",
         "await", "yield", "not", "and", "or", "is"]  # fmt: skip
OPERATORS = ["+", "-", "*", "/", "**", "%", "//", "@", "^", "&", "|", "~", "<", "<=", "==",
             "!=", ">>", "<<", ":=", "=", "->", "..."]  # fmt: skip
PUNCTUATION = ["(", ")", "(", ")", "[", "]", "{", "}", ",", ".", ":", ";", "'", '"', "f'",
               "'''", "\\", "#", "!", "?", "$", "`", " ", "  ", "\t", "\n", "\x00", "\x1b",
               "é", "\u2028", "\u00a0", "\ud800", "\U0001f600"]  # fmt: skip
TOKENS = NUMBERS + NAMES + OPERATORS + PUNCTUATION


@st.composite
def token_strings(draw) -> str:
    tokens = draw(st.lists(st.sampled_from(TOKENS), max_size=24))
    return draw(st.sampled_from(["", " "])).join(tokens)


# --- random syntax trees ----------------------------------------------------------------------

_BINOPS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.Mod, ast.FloorDiv, ast.MatMult,
           ast.BitXor, ast.BitAnd, ast.BitOr, ast.LShift, ast.RShift]  # fmt: skip
_UNARYOPS = [ast.USub, ast.UAdd, ast.Invert, ast.Not]
_CALLED = sorted(FUNCTIONS) + ["foo", "x", "pi", "eval", "__import__", "getattr", "open"]

constants = st.one_of(
    st.integers(-(10**400), 10**400),
    st.integers(-10, 10),
    st.sampled_from([9**99, 10**308, 2**1023, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, 1e-320, 9.0, 0.5]),
    st.complex_numbers(max_magnitude=10),
    st.text(max_size=3),
    st.binary(max_size=2),
    st.sampled_from([None, True, False, ...]),
)


def _leaf(draw) -> ast.expr:
    k = draw(st.integers(0, 5))
    if k == 0:
        return ast.Constant(draw(constants))
    if k == 1:
        return ast.Name(draw(st.sampled_from(NAMES[:20])), ast.Load())
    if k == 2:
        return ast.Constant(draw(st.integers(-3, 3) | st.floats(-10, 10)))
    return ast.Name(draw(st.sampled_from(["x", "x", "x", "y", "pi"])), ast.Load())


def _args() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[ast.arg("x")], vararg=None, kwonlyargs=[],
                         kw_defaults=[], kwarg=None, defaults=[])  # fmt: skip


def _generators(it: ast.expr) -> list[ast.comprehension]:
    return [ast.comprehension(ast.Name("x", ast.Store()), it, [], 0)]


@st.composite
def syntax_trees(draw) -> ast.expr:
    """A tree of up to 5 levels; each operation in it is, with a probability drawn for the
    whole tree (0, 5, 30 or 70 %), one of the grammar's constructs a formula may not use."""
    hostile = draw(st.sampled_from([0, 5, 30, 70]))
    return _tree(draw, 4, hostile)


_HOSTILE = ["bin", "bin", "unary", "call", "call", "attr", "subscript", "lambda", "listcomp",
            "genexp", "setcomp", "dictcomp", "fstring", "ifexp", "compare", "boolop", "tuple",
            "list", "dict", "set", "walrus", "starred", "await", "yield", "slice"]  # fmt: skip


def _tree(draw, depth: int, hostile: int) -> ast.expr:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw)
    sub = lambda: _tree(draw, depth - 1, hostile)  # noqa: E731
    if draw(st.integers(0, 99)) < hostile:
        kind = draw(st.sampled_from(_HOSTILE))
    else:
        kind = draw(st.sampled_from(["formula"] * 6 + ["math"] * 3 + ["pow"]))
    if kind == "formula":  # + - * / ** % and unary minus
        if draw(st.integers(0, 5)) == 0:
            return ast.UnaryOp(ast.USub(), sub())
        return ast.BinOp(sub(), draw(st.sampled_from(_BINOPS[:6]))(), sub())
    if kind == "math":  # a known function, with its number of arguments
        name = draw(st.sampled_from(sorted(FUNCTIONS)))
        return ast.Call(ast.Name(name, ast.Load()), [sub() for _ in range(ARITY[name])], [])
    if kind == "pow":  # towers of powers, the old hang
        return ast.BinOp(sub(), ast.Pow(), ast.BinOp(ast.Constant(9), ast.Pow(), sub()))
    if kind == "bin":
        return ast.BinOp(sub(), draw(st.sampled_from(_BINOPS))(), sub())
    if kind == "unary":
        return ast.UnaryOp(draw(st.sampled_from(_UNARYOPS))(), sub())
    if kind == "call":
        name = draw(st.sampled_from(_CALLED))
        func: ast.expr = ast.Name(name, ast.Load())
        if draw(st.integers(0, 9)) == 0:
            func = ast.Attribute(sub(), "real", ast.Load())
        args = [sub() for _ in range(draw(st.integers(0, 3)))]
        keywords = []
        if draw(st.integers(0, 5)) == 0:
            keywords = [ast.keyword(draw(st.sampled_from(["k", None])), sub())]
        if args and draw(st.integers(0, 5)) == 0:
            args[-1] = ast.Starred(args[-1], ast.Load())
        return ast.Call(func, args, keywords)
    if kind == "attr":
        return ast.Attribute(sub(), draw(st.sampled_from(["real", "__class__", "x"])),
                             ast.Load())  # fmt: skip
    if kind == "subscript":
        return ast.Subscript(sub(), sub(), ast.Load())
    if kind == "slice":
        return ast.Subscript(sub(), ast.Slice(sub(), None, None), ast.Load())
    if kind == "lambda":
        return ast.Lambda(_args(), sub())
    if kind == "listcomp":
        return ast.ListComp(sub(), _generators(sub()))
    if kind == "genexp":
        return ast.Call(ast.Name("sum", ast.Load()), [ast.GeneratorExp(sub(), _generators(sub()))],
                        [])  # fmt: skip
    if kind == "setcomp":
        return ast.SetComp(sub(), _generators(sub()))
    if kind == "dictcomp":
        return ast.DictComp(sub(), sub(), _generators(sub()))
    if kind == "fstring":
        return ast.JoinedStr([ast.FormattedValue(sub(), -1, None)])
    if kind == "ifexp":
        return ast.IfExp(sub(), sub(), sub())
    if kind == "compare":
        return ast.Compare(sub(), [ast.Lt()], [sub()])
    if kind == "boolop":
        return ast.BoolOp(draw(st.sampled_from([ast.And, ast.Or]))(), [sub(), sub()])
    if kind in ("tuple", "list", "set"):
        elts = [sub() for _ in range(draw(st.integers(1, 3)))]
        return {"tuple": ast.Tuple, "list": ast.List, "set": ast.Set}[kind](
            *([elts, ast.Load()] if kind != "set" else [elts]))
    if kind == "dict":
        return ast.Dict([sub()], [sub()])
    if kind == "walrus":
        return ast.NamedExpr(ast.Name("y", ast.Store()), sub())
    if kind == "starred":
        return ast.Tuple([ast.Starred(sub(), ast.Load())], ast.Load())
    if kind == "await":
        return ast.Await(sub())
    return ast.Yield(sub())


def _text(tree: ast.expr) -> str | None:
    try:
        return ast.unparse(tree)
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None  # a tree that has no text (a dict in an f-string's braces, ...)


# --- the parser, in-process -------------------------------------------------------------------


SLOWEST = [0.0]  # the longest time one formula took, in seconds


def _check(text: str) -> None:
    """`parse` returns a formula (that evaluates) or raises ExpressionError, nothing else."""
    start = time.perf_counter()
    try:
        _parse_and_evaluate(text)
    finally:
        SLOWEST[0] = max(SLOWEST[0], time.perf_counter() - start)


def _parse_and_evaluate(text: str) -> None:
    try:
        fun, names = parse(text)
    except ExpressionError as err:
        assert "\n" not in str(err) and 1 <= err.column <= len(text) + 1, (text, err)
        SEEN.setdefault(text, None)
        return
    with np.errstate(all="ignore"):
        value = fun(*[np.float64(0.5)] * len(names))
    assert np.ndim(value) == 0 and isinstance(float(value), float), (text, value)
    SEEN.setdefault(text, names)


@settings(FUZZ, max_examples=300)
@given(token_strings())
def _fuzz_token_strings(text):
    _check(text)


@settings(FUZZ, max_examples=300)
@given(syntax_trees())
def _fuzz_syntax_trees(tree):
    text = _text(tree)
    if text is not None:
        _check(text)
        if not text.startswith("-"):  # the same text, tightly spaced
            _check(text.replace(" ", ""))


def _fuzz() -> float:
    """Both fuzzers, once: the longest time one formula took, in seconds."""
    SEEN.clear()
    SLOWEST[0] = 0.0
    _fuzz_token_strings()
    _fuzz_syntax_trees()
    return SLOWEST[0]


def test_the_parser_on_random_formulas():
    """600 examples (300 token strings, 300 syntax trees, and the trees' text without
    blanks), at least 500 different formulas, none of them taking 10 s (a hang)."""
    slowest = _fuzz()
    readable = sum(v is not None for v in SEEN.values())
    assert len(SEEN) >= 500 and readable >= 50, (len(SEEN), readable)
    assert slowest < 10, slowest


# --- the command line, in subprocesses --------------------------------------------------------

PRELUDE = r"""
import json, sys
import chainrule, chainrule.__main__ as cli
import chainrule.transparency, chainrule.transparency.expr
import chainrule.transparency.graph, chainrule.transparency.draw
events, on = [], [False]
PROCESS = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.fork",
           "os.forkpty", "pty.spawn", "os.startfile")
def hook(event, args):
    if not on[0]:
        return
    if event == "exec":
        code = args[0]
        events.append(["exec", str(getattr(code, "co_filename", repr(code)))])
    elif event == "compile":
        src = args[0]
        if isinstance(src, bytes):
            src = src.decode("utf-8", "replace")
        events.append(["compile", str(args[1]), src if isinstance(src, str) else repr(src)])
    elif event == "import":
        events.append(["import", str(args[0])])
    elif event.startswith(PROCESS) or event.startswith("os.exec"):
        events.append(["process", event])
sys.addaudithook(hook)
on[0] = True
try:
    status = cli.main(sys.argv[1:])
finally:
    on[0] = False
    print("\n@@audit " + json.dumps(events))
sys.exit(status)
"""
FORBIDDEN_IMPORTS = {"subprocess", "pty", "socket", "ctypes", "webbrowser", "multiprocessing",
                     "code", "codeop", "runpy", "pdb", "pickle"}  # fmt: skip


def _runnable(text: str) -> bool:
    """Text that can be a command-line argument."""
    try:
        os.fsencode(text)
    except UnicodeError:
        return False
    return "\x00" not in text and len(text) < 4000


def _choose(n: int = 25) -> list[tuple[str, list[str] | None]]:
    """A fixed choice: the formulas in the order of their CRC-32, about half readable."""
    if len(SEEN) < 500:  # run alone: fuzz first
        _fuzz()
    pool = sorted((t for t in SEEN if _runnable(t)), key=lambda t: (zlib.crc32(t.encode()), t))
    good = [t for t in pool if SEEN[t]]
    bad = [t for t in pool if SEEN[t] is None]
    picked = good[: n // 2]
    picked += bad[: n - len(picked)]
    return [(t, SEEN[t]) for t in picked]


def _run_cli(argv: list[str]) -> subprocess.CompletedProcess | None:
    cmd = [sys.executable, "-c", PRELUDE, *argv]
    env = {k: v for k, v in os.environ.items() if k != "CHAINRULE_DEBUG"}
    for _ in range(2):  # a slow start of Python is not a hang: one more try
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env,
                                  errors="replace")  # fmt: skip
        except subprocess.TimeoutExpired:
            continue
    return None


def _audit_violations(text: str, events: list) -> list:
    bad = []
    # the formula as typed, and as the parser hands it to ast.parse (blanks made spaces)
    forms = {text.strip(), "".join(" " if c.isspace() else c for c in text).strip()} - {""}
    for ev in events:
        if ev[0] == "process":
            bad.append(ev)
        elif ev[0] == "exec":
            name = ev[1]
            if not (name.startswith("<frozen ") or os.path.isfile(name)):
                bad.append(ev)
        elif ev[0] == "compile":
            # a module's source compiled on import (no .pyc yet, as in a fresh clone) may
            # contain the formula's text by chance: a file, not the formula
            if any(f in ev[2] for f in forms) and ev[1] != "<unknown>" and not (
                os.path.isfile(ev[1]) and ev[1].endswith(".py")
            ):
                bad.append(ev)
        elif ev[0] == "import" and ev[1].split(".")[0] in FORBIDDEN_IMPORTS:
            bad.append(ev)
    return bad


def test_the_command_line_on_fuzzed_formulas():
    chosen = _choose()
    assert len(chosen) == 25 and sum(names is not None for _, names in chosen) >= 10
    for text, names in chosen:
        at = [f"{n}=0.5" for n in names] if names else ["x=0.5"]
        r = _run_cli(["explain", "--at", *at, "--", text])
        assert r is not None, f"{text!r} hangs (more than 2 s, twice)"
        out, _, audit = r.stdout.rpartition("\n@@audit ")
        assert audit, (text, r.stdout, r.stderr)
        assert r.returncode in (0, 2), (text, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and "Traceback" not in out, (text, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == (r.returncode == 2), (text, r.stderr)
        if names:  # a formula the parser reads is explained
            assert r.returncode == 0 and "\nResult: d" in out, (text, r.stderr)
        else:
            assert lines[0].startswith("chainrule explain: "), (text, r.stderr)
        events = json.loads(audit)
        assert any(ev[0] == "compile" for ev in events) or not text.strip()
        violations = _audit_violations(text, events)
        assert not violations, (text, violations)


def test_the_audit_policy_catches_eval():
    """The policy is not vacuous: an eval of the formula, a process and a forbidden import
    are all violations."""
    r = subprocess.run(
        [sys.executable, "-c", PRELUDE.replace("status = cli.main(sys.argv[1:])",
                                               "eval(sys.argv[1]); status = 0"), "1+1"],
        capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    events = json.loads(r.stdout.rpartition("\n@@audit ")[2])
    assert _audit_violations("1+1", events)
    assert _audit_violations("x", [["process", "os.system"]])
    assert _audit_violations("x", [["import", "subprocess"]])
    assert not _audit_violations("x", [["exec", os.path.abspath(__file__)],
                                       ["compile", "<unknown>", "x"]])  # fmt: skip
