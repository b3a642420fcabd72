"""A/B mode: an old revision's chainrule, importable beside the working tree's.

`git archive REV chainrule` is extracted into a temporary directory as the package
`chainrule_ab_<sha7>`, its absolute imports of chainrule rewritten to that name: import
statements, and the dotted module names in strings (`importlib.import_module`'s lazy imports).
The two packages then share no module, hence no state (rules, caches, tapes): `old_chainrule`
checks it in `sys.modules`.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.registry import Chainrule

ROOT = Path(__file__).resolve().parents[1]  # the repository
FROM = re.compile(r"^(\s*from\s+)chainrule\b(?=[.\s])", re.M)
IMPORT = re.compile(r"^(\s*import\s+)([^#\n]*)", re.M)
NAME = re.compile(r"(?<![\w.])chainrule\b((?:\.\w+)*)(\s+as\s+\w+)?")
MODULE_STRING = re.compile(r"""(["'])chainrule((?:\.\w+)+)\1""")
FSTRING = re.compile(r"""(\bf["'])chainrule\.""")  # f"chainrule.{name}": a lazy import


def _git(*args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True)
    if done.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode().strip()}")
    return done.stdout


def rewrite(source: str, new: str) -> str:
    """`source` with its absolute imports of `chainrule` made imports of the package `new`."""

    def name(m: re.Match[str]) -> str:
        sub, alias = m.group(1), m.group(2)
        if alias:  # import chainrule.x as y
            return f"{new}{sub}{alias}"
        if sub:  # import chainrule.x: loads x, binds chainrule
            return f"{new}{sub}, {new} as chainrule"
        return f"{new} as chainrule"

    source = FROM.sub(rf"\g<1>{new}", source)
    source = IMPORT.sub(lambda m: m.group(1) + NAME.sub(name, m.group(2)), source)
    source = FSTRING.sub(rf"\g<1>{new}.", source)
    return MODULE_STRING.sub(rf"\g<1>{new}\g<2>\g<1>", source)


def _imports_of_chainrule(source: str) -> list[int]:
    """Lines of `source` whose import statements still name the package `chainrule`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == "chainrule" or n.startswith("chainrule.") for n in names):
            lines.append(node.lineno)
    return lines


def _misplaced(package: str, folder: Path) -> list[str]:
    """The modules named `package` or `package.*` in sys.modules whose files are not in `folder`."""
    return [
        name
        for name, m in list(sys.modules.items())
        if (name == package or name.startswith(package + "."))
        and (f := getattr(m, "__file__", None))
        and not Path(f).resolve().is_relative_to(folder)
    ]


def _folder(lib: Chainrule, what: str) -> Path:
    """The folder of `lib`'s package, once it and its `numpy` are imported."""
    try:
        lib.cnp  # noqa: B018
        return Path(lib.cr.__file__).resolve().parent
    except Exception as err:
        raise RuntimeError(f"{what} does not import: {type(err).__name__}: {err}") from err


@contextmanager
def old_chainrule(rev: str) -> Iterator[Chainrule]:
    """chainrule at git revision `rev`, as the package `chainrule_ab_<sha7>` on sys.path.

    Raises RuntimeError if an import is left unrewritten, or if either package's modules in
    sys.modules come from the other's folder (checked on import and again on exit). On exit,
    the folder and the package's modules are removed."""
    sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    package = f"chainrule_ab_{sha[:7]}"
    here = _folder(Chainrule(), "the working tree's chainrule")  # imported first
    with tempfile.TemporaryDirectory(prefix=f"{package}_") as tmp:
        with tarfile.open(fileobj=io.BytesIO(_git("archive", sha, "chainrule"))) as tar:
            tar.extractall(tmp, filter="data")
        there = Path(tmp, "chainrule").rename(Path(tmp, package)).resolve()
        for py in there.rglob("*.py"):
            text = rewrite(py.read_text(encoding="utf-8"), package)
            if left := _imports_of_chainrule(text):
                raise RuntimeError(f"{py.relative_to(tmp)}: cannot rewrite the imports at {left}")
            py.write_text(text, encoding="utf-8")

        def check() -> None:
            if shared := _misplaced("chainrule", here) + _misplaced(package, there):
                raise RuntimeError(f"chainrule and {package} share modules: {shared}")

        loaded = set(sys.modules)
        sys.path.insert(0, tmp)
        try:
            old = Chainrule(package, tmp)
            _folder(old, f"chainrule at {rev}")
            check()
            if new := {n for n in set(sys.modules) - loaded if n.split(".")[0] == "chainrule"}:
                raise RuntimeError(f"importing {package} imported {sorted(new)}")
            yield old
            check()
        finally:  # its folder goes: so do its modules
            sys.path.remove(tmp)
            for name in [n for n in sys.modules if n.split(".")[0] == package]:
                del sys.modules[name]
