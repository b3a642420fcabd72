"""A griffe extension for the API reference.

- The doctest examples of chainrule's docstrings (runs of ``>>>`` lines and their output)
  become ``pycon`` code blocks, so that Markdown renders them as code instead of nested block
  quotes, and indexing such as ``a[i][j]`` is not read as a reference link. Nothing else in a
  docstring changes.
- Methods a class receives as functions made elsewhere (a lambda installed with `setattr`,
  as `Tensor.partition`), which griffe would record as aliases to a ``<locals>`` path it
  cannot resolve (and mkdocstrings would then leave out), are documented as the functions
  they are: their signature and docstring read from the live object.

Loaded by mkdocs.yml (``extensions: [docs/api/griffe_doctest.py]``).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import griffe

_CODE_SPAN = re.compile(r"(`+).*?\1")


def fence_doctests(text: str) -> str:
    """`text` with every doctest example fenced as a ``pycon`` block.

    >>> print(fence_doctests("Twice.\\n\\n>>> 2 * 2\\n4\\n\\nDone."))
    Twice.
    <BLANKLINE>
    ```pycon
    >>> 2 * 2
    4
    ```
    <BLANKLINE>
    Done.
    """
    lines = text.split("\n")
    out: list[str] = []
    i, fence = 0, False
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fence = not fence
        if fence or not stripped.startswith(">>>"):
            out.append(line if fence else _escape_references(line))
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        if out and out[-1].strip():
            out.append("")
        out.append(indent + "```pycon")
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            out.append(lines[i])
            i += 1
        out.append(indent + "```")
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


def _escape_references(line: str) -> str:
    """``a[i][j]`` outside code spans, written so that Markdown does not read ``[i][j]`` as a
    reference link (the docstrings are text: brackets are indexing)."""
    parts, last = [], 0
    for m in _CODE_SPAN.finditer(line):
        parts.append(line[last:m.start()].replace("][", "]\\["))
        parts.append(m.group(0))
        last = m.end()
    parts.append(line[last:].replace("][", "]\\["))
    return "".join(parts)


class DoctestFences(griffe.Extension):
    """Fences the doctest examples of every docstring griffe loads, and documents the
    methods that are unresolvable aliases (see the module's docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)

    def on_class_members(self, *, node: Any, cls: griffe.Class, **kwargs: Any) -> None:
        runtime = getattr(node, "obj", None)  # an ObjectNode when griffe inspects
        if not isinstance(runtime, type):
            return
        for name, member in list(cls.members.items()):
            if not (member.is_alias and "<" in member.target_path):
                continue
            fn = vars(runtime).get(name)
            if callable(fn):
                cls.set_member(name, _function(name, fn))


def _function(name: str, fn: Any) -> griffe.Function:
    """A griffe Function for the live function `fn`: its signature and docstring."""
    params = []
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    for p in (sig.parameters.values() if sig is not None else ()):
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        params.append(griffe.Parameter(p.name, kind=griffe.ParameterKind(p.kind.description),
                                       default=default))  # fmt: skip
    out = griffe.Function(name, parameters=griffe.Parameters(*params))
    doc = inspect.getdoc(fn)
    if doc:
        out.docstring = griffe.Docstring(fence_doctests(doc), parent=out)
    return out
