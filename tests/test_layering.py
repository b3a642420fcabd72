"""The package's architecture, checked on its source.

- no import cycles between chainrule's modules, counting the imports inside functions;
- the layers, lowest first: core -> rules -> compiler -> transforms -> the public faces;
  nothing in the engine imports a face;
- every primitive's static parameters are hashable (they key caches and staged programs);
- `process_primitive` is called by `bind` only, and by traces delegating to a base class.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

import chainrule

ROOT = Path(chainrule.__file__).resolve().parent
PKG = "chainrule"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


SOURCES = _sources()
MODULES = set(SOURCES)
TREES = {m: ast.parse(p.read_text(), str(p)) for m, p in SOURCES.items()}


def _is_package(mod: str) -> bool:
    return SOURCES[mod].name == "__init__.py"


def _resolve_relative(mod: str, level: int, name: str | None) -> str:
    pkg = mod if _is_package(mod) else mod.rpartition(".")[0]
    for _ in range(level - 1):
        pkg = pkg.rpartition(".")[0]
    return f"{pkg}.{name}" if name else pkg


def _walk(tree: ast.AST, module_level: bool):
    """ast.walk, not entering functions when `module_level`."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if module_level and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                   ast.Lambda)):  # fmt: skip
                continue
            todo.append(child)


def imports_of(mod: str, module_level: bool = False) -> list[tuple[str, int]]:
    """The chainrule modules that `mod` imports, anywhere in it (or at module level only):
    (module, line)."""
    out = []
    for node in _walk(TREES[mod], module_level):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PKG or alias.name.startswith(PKG + "."):
                    out.append((_longest_module(alias.name), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(mod, node.level, node.module) if node.level else node.module
            if base is None or not (base == PKG or base.startswith(PKG + ".")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from chainrule.core import ops`: the module ops
                    out.append((sub, node.lineno))
                else:  # a name defined in `base`
                    out.append((_longest_module(base), node.lineno))
    return out


def _longest_module(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    assert name in MODULES, name
    return name


GRAPH = {m: sorted({t for t, _ in imports_of(m) if t != m}) for m in MODULES}


def _find_cycle(graph: dict) -> list | None:
    """A cycle of `graph` as a list of nodes (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        color[start] = GREY
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                color[node] = BLACK
                stack.pop()
                path.pop()
            elif color[nxt] == GREY:
                return path[path.index(nxt):] + [nxt]
            elif color[nxt] == WHITE:
                color[nxt] = GREY
                stack.append((nxt, iter(graph[nxt])))
                path.append(nxt)
    return None


# --- the analysis itself is right ----------------------------------------------------------------


def test_every_module_is_seen():
    for m in ("chainrule", "chainrule.core.trace", "chainrule.transforms.reverse",
              "chainrule.tensor", "chainrule.numpy", "chainrule.rules.vjp"):  # fmt: skip
        assert m in MODULES
    assert len(MODULES) > 40


def test_imports_are_resolved_to_modules():
    assert "chainrule.core.ops" in GRAPH["chainrule.transforms.reverse"]  # from x import mod
    assert "chainrule.core.trace" in GRAPH["chainrule.transforms.reverse"]  # from x.y import f
    assert "chainrule.transforms.blocked" in GRAPH["chainrule.memory"]  # inside a function
    assert "chainrule.transforms.reverse" in GRAPH["chainrule.memory"]


def test_relative_imports_resolve():
    tree = ast.parse("from . import trace\nfrom .ops import bind\nfrom .. import tensor\n")
    mod = "chainrule.core.avals"
    got = [_resolve_relative(mod, n.level, n.module) for n in tree.body]
    assert got == ["chainrule.core", "chainrule.core.ops", "chainrule"]


def test_cycle_finder_finds_cycles():
    assert _find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


# --- 1. no cycles ----------------------------------------------------------------------------


def _cycles_report(graph: dict) -> str:
    """Every strongly connected component of more than one module, with its edges."""
    index: dict = {}
    low: dict = {}
    stack: list = []
    on: set = set()
    comps = []
    counter = [0]

    def connect(v):  # Tarjan's algorithm (the graph is small: recursion is fine)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    lines = []
    for comp in comps:
        lines.append("cycle among " + ", ".join(comp) + ":")
        for m in comp:
            for t, line in imports_of(m):
                if t in comp and t != m:
                    lines.append(f"    {SOURCES[m].relative_to(ROOT.parent)}:{line} -> {t}")
    return "\n".join(lines)


def test_no_import_cycles():
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle) + "\n" + _cycles_report(GRAPH)


def test_no_import_cycles_at_module_level_either():
    graph = {m: sorted({t for t, _ in imports_of(m, module_level=True) if t != m})
             for m in MODULES}  # fmt: skip
    assert "chainrule.transforms.blocked" not in graph["chainrule.memory"]  # in a function
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# --- 2. layers -------------------------------------------------------------------------------

FACES = ("chainrule.numpy", "chainrule.tensor", "chainrule.tape", "chainrule.autograd",
         "chainrule.transparency")  # fmt: skip


def _under(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def _violations(layer: str, allowed: tuple) -> list:
    bad = []
    for m in sorted(MODULES):
        if not _under(m, layer):
            continue
        for t, line in imports_of(m):
            if not any(_under(t, a) for a in allowed):
                bad.append(f"{SOURCES[m].relative_to(ROOT.parent)}:{line} imports {t}")
    return bad


@pytest.mark.parametrize("layer, allowed", [
    ("chainrule.core", ("chainrule.core",)),
    ("chainrule.rules", ("chainrule.core", "chainrule.rules")),
    ("chainrule.compiler", ("chainrule.core", "chainrule.rules", "chainrule.compiler")),
    ("chainrule.transforms", ("chainrule.core", "chainrule.rules", "chainrule.compiler",
                              "chainrule.transforms")),
], ids=["core", "rules", "compiler", "transforms"])  # fmt: skip
def test_layers(layer, allowed):
    assert [m for m in MODULES if _under(m, layer)], layer
    bad = _violations(layer, allowed)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", ["chainrule.core", "chainrule.rules", "chainrule.compiler",
                                   "chainrule.transforms"])  # fmt: skip
def test_engine_imports_no_face(layer):
    bad = []
    for m in sorted(MODULES):
        if _under(m, layer):
            for t, line in imports_of(m):
                if any(_under(t, f) for f in FACES) or t == PKG:
                    bad.append(f"{SOURCES[m].relative_to(ROOT.parent)}:{line} imports {t}")
    assert not bad, "\n".join(bad)


def test_layer_check_would_see_a_violation():
    """The layer check is not vacuous: the faces do import the engine."""
    assert _violations("chainrule.tensor", ("chainrule.core",))
    assert any(t.startswith("chainrule.transforms") for t in GRAPH["chainrule.tensor"])


# --- 3. static parameters are hashable -------------------------------------------------------


def _examples():
    import importlib

    try:
        return importlib.import_module("tests.test_rules").EXAMPLES
    except ImportError:  # tests/ itself on sys.path
        return importlib.import_module("test_rules").EXAMPLES


def test_every_primitive_params_are_hashable():
    examples = _examples()
    assert len(examples) > 60
    bad = []
    for prim, (_, params, _) in examples.items():
        try:
            hash(tuple(sorted(params.items())))
        except TypeError as err:
            bad.append(f"{prim}: {err}")
    assert not bad, bad


def test_params_recorded_by_ops_are_hashable():
    """The parameters the public functions bind, as recorded in a staged program."""
    import numpy as np

    import chainrule as cr
    import chainrule.numpy as cnp
    from chainrule.transforms import staging

    def f(x):
        y = cnp.sum(x, axis=0, keepdims=True) + cnp.mean(x, axis=(0, 1))
        y = cnp.reshape(y, (2,)) + cnp.transpose(x)[:, 0] + x[1:, np.array([0, 0])].sum()
        y = y + cnp.pad(x, ((1, 0), (0, 0)))[:2].sum() + cnp.einsum("ij,ij->", x, x)
        return cnp.concatenate([y, cnp.cumsum(y, axis=0)]) + cnp.max(x) + cnp.round(x[0], 1)[0]

    program, _ = staging.stage(f, [cr.ShapeDtypeStruct((3, 2), np.float64)])
    assert len(program.eqns) > 10
    for e in program.eqns:
        hash((e.prim, tuple(sorted(e.params.items()))))


# --- 4. process_primitive is called by bind only -------------------------------------------------


def _enclosing(tree: ast.AST) -> dict:
    """node -> (enclosing class, enclosing function) for every Call."""
    out = {}

    def visit(node, cls, fn):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child, None)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, cls, child)
            else:
                if isinstance(child, ast.Call):
                    out[child] = (cls, fn)
                visit(child, cls, fn)

    visit(tree, None, None)
    return out


def process_primitive_calls() -> list[dict]:
    calls = []
    for m in sorted(MODULES):
        for call, (cls, fn) in _enclosing(TREES[m]).items():
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "process_primitive":
                calls.append({
                    "module": m, "line": call.lineno, "receiver": ast.unparse(f.value),
                    "first_arg": ast.unparse(call.args[0]) if call.args else None,
                    "class": cls.name if cls else None,
                    "bases": [ast.unparse(b) for b in cls.bases] if cls else [],
                    "function": fn.name if fn else None,
                })  # fmt: skip
    return calls


CALLS = process_primitive_calls()


def _ancestors(cls_name: str) -> set:
    """Names of the classes `cls_name` derives from, across the package (by name)."""
    classes = {}
    for tree in TREES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).extend(ast.unparse(b) for b in node.bases)
    seen: set = set()
    todo = [cls_name]
    while todo:
        for b in classes.get(todo.pop(), []):
            short = b.rpartition(".")[2]
            if short not in seen:
                seen.add(short)
                todo.append(short)
    return seen


def test_process_primitive_call_sites():
    listing = "\n".join(f"{c['module']}:{c['line']} {c['receiver']}.process_primitive("
                        f"{c['first_arg']}, ...) in {c['class']}.{c['function']}"
                        for c in CALLS)  # fmt: skip
    in_bind = [c for c in CALLS if c["module"] == "chainrule.core.trace"]
    assert in_bind and all(c["function"] in ("bind", "bind_with") for c in in_bind), listing
    bad = []
    for c in CALLS:
        if c["module"] == "chainrule.core.trace":
            continue
        base = c["receiver"].rpartition(".")[2]
        delegating = (
            c["function"] == "process_primitive"
            and c["first_arg"] == "self"
            and c["class"] is not None
            and base in _ancestors(c["class"])
        )
        if not delegating:
            bad.append(f"{c['module']}:{c['line']}")
    assert not bad, f"calls outside bind that are not delegation: {bad}\nall:\n{listing}"


def test_process_primitive_delegations_are_listed():
    """The known delegating subclasses (a new call site shows up here for review)."""
    found = sorted(
        (c["module"], c["class"], c["receiver"].rpartition(".")[2])
        for c in CALLS if c["module"] != "chainrule.core.trace"
    )
    assert found, CALLS
    for mod, cls, base in found:
        assert mod.startswith(("chainrule.tensor", "chainrule.transparency",
                               "chainrule.transforms")), (mod, cls, base)  # fmt: skip


def test_ancestors_helper():
    assert "ReverseTrace" in _ancestors("EagerTrace")
    assert "Trace" in _ancestors("EagerTrace")


def test_this_file_runs_from_the_repository_root():
    assert os.path.isdir(ROOT.parent / "tests")
