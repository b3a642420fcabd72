r"""Pictures of the chain rule: the computation graph with its values and gradients.

`draw(f, *args)` evaluates `f`, runs the backward pass (as `explain` does) and returns a
`Drawing`: one node per step, labelled with its operation, value and gradient; inputs as red
ellipses, operations as blue boxes, the output green, constants as small grey boxes; black
forward edges (labelled by operand position when an operation has two operands or more) and,
with ``reverse=True``, the reverse sweep as red dashed edges from each value back to its
operands, labelled with the contribution that edge adds to the operand's gradient.

`Drawing.dot` is Graphviz DOT text and needs nothing installed. `Drawing.save("g.png")` (or
``.svg``, ``.pdf``, ``.dot``) renders with Graphviz's ``dot`` executable when it is on PATH, and
otherwise with matplotlib and a small layered (Sugiyama-style) layout of its own, so that a
fresh machine with nothing but pip can draw. In Jupyter a Drawing shows itself as SVG.

>>> import chainrule.numpy as cnp
>>> d = draw(lambda x: (x ** 2 * cnp.cos(x)) ** 2, 3.14159)
>>> print(d.dot, end="")  # doctest: +ELLIPSIS
digraph chainrule {
  // chainrule.draw: 5 steps, 0 constants; 5 nodes, 5 forward edges, 5 reverse edges
  graph [rankdir=TB, ...];
  node [...];
  edge [...];
  s0 [label="x\nvalue 3.14\ngrad 124", shape=ellipse, color="red", fillcolor="#ffe4e1"];
  s1 [label="v1 = x²\nvalue 9.87\ngrad 19.7", shape=box, color="blue", fillcolor="#e3edff"];
  s2 [label="v2 = cos(x)\nvalue −1\ngrad −195", shape=box, color="blue", fillcolor="#e3edff"];
  s3 [label="v3 = v1 × v2\nvalue −9.87\ngrad −19.7", shape=box, color="blue", ...];
  s4 [label="f = v3²\nvalue 97.4\ngrad 1", shape=box, color="darkgreen", fillcolor="#c8f2c8"];
  {rank=min; s0}
  // forward pass
  s0 -> s1;
  s0 -> s2;
  s1 -> s3 [label="1"];
  s2 -> s3 [label="2"];
  s3 -> s4;
  // reverse sweep, ...
  ...
  s3 -> s4 [dir=back, label="−19.7", color="red", fontcolor="red", style=dashed];
  s1 -> s3 [dir=back, label="19.7", color="red", fontcolor="red", style=dashed];
  s2 -> s3 [dir=back, label="−195", color="red", fontcolor="red", style=dashed];
  s0 -> s2 [dir=back, label="0.000517", color="red", fontcolor="red", style=dashed];
  s0 -> s1 [dir=back, label="124", color="red", fontcolor="red", style=dashed];
}

The two contributions into x, 124 and 0.000517, add up to its gradient 4π³ ≈ 124.03.

Large graphs are summarised so that the picture keeps at most `max_nodes` nodes (see `draw`).
"""

from __future__ import annotations

import copy
import io
import math
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.transparency.graph import Graph, TypeOnly

__all__ = ["Drawing", "draw"]

FORMATS = ("dot", "svg", "png", "pdf")

# kind -> (DOT shape, border colour, fill colour); the colours are names or hex codes that both
# Graphviz and matplotlib know.
_STYLE = {
    "input": ("ellipse", "red", "#ffe4e1"),
    "op": ("box", "blue", "#e3edff"),
    "group": ("box3d", "blue", "#cbdaff"),
    "output": ("box", "darkgreen", "#c8f2c8"),
    "const": ("box", "grey", "#f2f2f2"),
    "ref": ("ellipse", "red", "#ffe4e1"),
}
_REVERSE_COLOUR = "red"
_MAX_LINE = 44  # characters of a label line before it is cut with "…"
_PERIOD = 8  # the longest repeated block of operations that summarising looks for
_REACH = 2  # an input's edge down more layers than this is drawn from a copy of the input
_LEGEND_FWD = "forward pass (edge label: operand position)"
_LEGEND_REV = "reverse sweep: each edge's contribution to its operand's gradient"


# --- numbers ----------------------------------------------------------------------------------


def _num(v: Any) -> str:
    """A value as a picture shows it: 3 significant digits, a true minus sign, and arrays as
    their few elements or their shape and range."""
    if v is None:
        return "—"
    a = np.asarray(v)
    if a.ndim == 0:
        x = a.item()
        s = f"{x:.3g}" if isinstance(x, float | complex) else str(x)
    elif a.size <= 3:
        s = "[" + ", ".join(_num(e) for e in a.ravel()) + "]"
    elif a.size == 0 or not np.issubdtype(a.dtype, np.number) or np.iscomplexobj(a):
        s = f"{a.dtype}[{'×'.join(map(str, a.shape))}]"
    else:
        s = f"[{'×'.join(map(str, a.shape))}] in [{a.min():.3g}, {a.max():.3g}]"
    return s.replace("-", "−")


def _total(values: list) -> Any:
    """The sum of several contributions to one gradient (None when they do not add up)."""
    try:
        out = values[0]
        for v in values[1:]:
            out = out + v
        return out
    except Exception:  # shapes that do not broadcast: say how many instead
        return None


def _cut(line: str) -> str:
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 1] + "…"


# --- what is drawn ----------------------------------------------------------------------------


@dataclass
class _Node:
    id: str
    kind: str  # input | op | output | const | group | ref (an input drawn again)
    lines: list[str]


@dataclass
class _Edge:
    src: str
    dst: str
    label: str = ""


@dataclass
class _Scene:
    nodes: list[_Node]
    forward: list[_Edge]
    backward: list[_Edge] = field(default_factory=list)
    steps: int = 0
    constants: int = 0  # constant operands (drawn as nodes unless summarised)
    summarised: bool = False
    collapsed: int = 0  # steps folded into group nodes
    groups: int = 0
    notes: list[str] = field(default_factory=list)  # the graph's notes, under the legend

    @property
    def refs(self) -> int:
        return sum(nd.kind == "ref" for nd in self.nodes)

    def summary(self) -> str:
        """One line saying what was drawn, and what was collapsed."""
        text = f"{self.steps} steps, {self.constants} constants; {len(self.nodes)} nodes"
        if self.refs:
            text += f" ({self.refs} of them copies of inputs)"
        text += f", {len(self.forward)} forward edges, {len(self.backward)} reverse edges"
        if self.summarised:
            text += "; " + self.collapse_note()
        return text

    def collapse_note(self) -> str:
        return (f"summarised: {self.collapsed} of {self.steps} steps collapsed into "
                f"{self.groups} group node{'s' * (self.groups != 1)}, constants folded into "
                f"the labels")  # fmt: skip

    def legend(self) -> list[tuple[str | None, str]]:
        """(line style, text) rows explaining the picture."""
        rows: list[tuple[str | None, str]] = [("fwd", _LEGEND_FWD)]
        if self.backward:
            rows.append(("rev", _LEGEND_REV))
        if self.refs:
            rows.append(("ref", "dashed red ellipse: an input drawn again, near a distant use"))
        if self.summarised:
            rows.append((None, self.collapse_note()))
        rows += [(None, n) for n in self.notes]
        return rows


def _operands(graph: Graph) -> list[list[int | str]]:
    """For each step, its operands: the index of the step it reads, or a constant's text."""
    index = {id(s.node): s.index for s in graph.steps if s.node is not None}
    by_name: dict[str, int] = {}
    out: list[list[int | str]] = []
    for s in graph.steps:
        parents = getattr(s.node, "parents", None)
        if s.op == "input":
            ops: list[int | str] = []
        elif parents is not None and len(parents) == len(s.inputs):
            ops = [
                index[id(p)] if p is not None and id(p) in index else a
                for p, a in zip(parents, s.inputs)
            ]
        else:
            ops = [by_name.get(a, a) for a in s.inputs]
        by_name[s.name] = s.index
        out.append(ops)
    return out


def _is_ellipse(nd: _Node) -> bool:
    """Inputs are ellipses, and so is an output that is an input (f(x) = x)."""
    return nd.kind in ("input", "ref") or (nd.kind == "output" and " = " not in nd.lines[0])


def _step_node(graph: Graph, i: int) -> _Node:
    s = graph.steps[i]
    kind = "output" if i == graph.output else "input" if s.op == "input" else "op"
    head = s.name if s.op == "input" else f"{s.name} = {s.label}"
    if isinstance(s.value, TypeOnly):  # a program drawn without arguments
        return _Node(f"s{i}", kind, [_cut(head), f"type {s.value}"])
    grad = _num(s.grad)
    if s.grad is None:
        used = any(s.name in t.inputs for t in graph.steps)
        grad = "0 (no gradient reaches it)" if used else "0 (unused)"
    return _Node(f"s{i}", kind, [_cut(head), f"value {_num(s.value)}", f"grad {grad}"])


def _scene(graph: Graph, reverse: bool, max_nodes: int) -> _Scene:
    """What to draw: every step (and constant) when that fits in max_nodes nodes, else a
    summary that does."""
    operands = _operands(graph)
    n_const = sum(isinstance(o, str) for ops in operands for o in ops)
    if len(graph.steps) + n_const <= max_nodes:
        scene = _full_scene(graph, operands, reverse, n_const)
        _shorten(scene)
        if len(scene.nodes) <= max_nodes:
            return _untangle(scene, max_nodes)
    budget = max_nodes
    while True:
        scene = _summary_scene(graph, operands, reverse, n_const, max_nodes, budget)
        _shorten(scene)
        over = len(scene.nodes) - max_nodes
        if over <= 0 or budget <= 3:
            return scene
        budget = max(3, budget - over)


def _full_scene(graph: Graph, operands: list, reverse: bool, n_const: int) -> _Scene:
    nodes: list[_Node] = []
    forward: list[_Edge] = []
    k = 0
    for s in graph.steps:
        ops = operands[s.index]
        srcs = []
        for o in ops:
            if isinstance(o, str):
                nodes.append(_Node(f"c{k}", "const", [_cut(o)]))
                srcs.append(f"c{k}")
                k += 1
            else:
                srcs.append(f"s{o}")
        nodes.append(_step_node(graph, s.index))
        for pos, src in enumerate(srcs, 1):
            forward.append(_Edge(src, f"s{s.index}", str(pos) if len(ops) > 1 else ""))
    backward = [
        _Edge(f"s{c.child}", f"s{c.parent}", _num(c.product))
        for c in (graph.contributions if reverse else [])
    ]
    return _Scene(nodes, forward, backward, len(graph.steps), n_const)


# A unit is a run of steps drawn as one node: (start, stop, pattern, repeats); pattern is None
# for a single step, the repeated block of operation names for a periodic run, and () for a
# chunk of mixed operations.
_Unit = tuple[int, int, tuple | None, int]


def _periodic(ops: list[str], fixed: set[int]) -> list[_Unit]:
    """Collapse runs of consecutive steps whose operations repeat a block of at most _PERIOD
    operations (mul mul mul ..., or mul add mul add ...): greedily from the first step, the
    block that covers the most steps wins, the shorter block on a tie."""
    units: list[_Unit] = []
    i, n = 0, len(ops)
    while i < n:
        best, best_p = 0, 1
        if i not in fixed:
            for p in range(1, _PERIOD + 1):
                if i + 2 * p > n or any(j in fixed for j in range(i, i + p)):
                    break
                j = i + p
                while j < n and j not in fixed and ops[j] == ops[j - p]:
                    j += 1
                cover = (j - i) // p * p
                if cover >= 2 * p and cover > best:
                    best, best_p = cover, p
        if best:
            units.append((i, i + best, tuple(ops[i : i + best_p]), best // best_p))
            i += best
        else:
            units.append((i, i + 1, None, 1))
            i += 1
    return units


def _chunks(units: list[_Unit], fixed: set[int], budget: int) -> list[_Unit]:
    """Merge consecutive units (never the inputs or the output) into chunks of mixed
    operations, of as few units each as keeps their number within the budget."""
    segments: list[list[_Unit] | _Unit] = []
    for u in units:
        if u[0] in fixed:
            segments.append(u)
        elif segments and isinstance(segments[-1], list):
            segments[-1].append(u)
        else:
            segments.append([u])
    n_fixed = sum(not isinstance(s, list) for s in segments)
    runs = [s for s in segments if isinstance(s, list)]

    def count(size: int) -> int:
        return n_fixed + sum(math.ceil(len(r) / size) for r in runs)

    lo, hi = 1, max([len(r) for r in runs], default=1)
    while lo < hi:  # the smallest chunk size that fits
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if count(mid) <= budget else (mid + 1, hi)
    out: list[_Unit] = []
    for s in segments:
        if not isinstance(s, list):
            out.append(s)
            continue
        for k in range(0, len(s), lo):
            part = s[k : k + lo]
            out.append(part[0] if len(part) == 1 else (part[0][0], part[-1][1], (), 0))
    return out


def _group_node(graph: Graph, uid: str, unit: _Unit) -> _Node:
    start, stop, pattern, reps = unit
    steps = graph.steps
    first, last = steps[start], steps[stop - 1]
    if pattern:
        what = pattern[0] if len(pattern) == 1 else f"({', '.join(pattern)})"
        what = f"{what} × {reps}"
    else:
        counts = Counter(s.op for s in steps[start:stop]).most_common()
        what = ", ".join(f"{op} {c}" for op, c in counts[:3]) + (", …" if len(counts) > 3 else "")
        what = f"{stop - start} steps: {what}"
    grad = "0 (unused)" if last.grad is None else _num(last.grad)
    lines = [f"{first.name} … {last.name}", _cut(what),
             f"value {_num(last.value)} ({last.name})", f"grad {grad} ({last.name})"]  # fmt: skip
    return _Node(uid, "group", lines)


def _summary_scene(graph: Graph, operands: list, reverse: bool, n_const: int, max_nodes: int,
                   budget: int) -> _Scene:  # fmt: skip
    """Constants fold into their consumers' labels; if there are still too many nodes,
    repeated blocks of operations become group nodes, then, if need be, chunks of steps."""
    n = len(graph.steps)
    fixed = set(graph.inputs) | {graph.output}
    units: list[_Unit] = [(i, i + 1, None, 1) for i in range(n)]
    if n > max_nodes or budget < max_nodes:
        units = _periodic([s.op for s in graph.steps], fixed)
    if len(units) > budget:
        units = _chunks(units, fixed, budget)
    unit_of = [0] * n
    nodes: list[_Node] = []
    collapsed = groups = 0
    for u, unit in enumerate(units):
        start, stop = unit[0], unit[1]
        unit_of[start:stop] = [u] * (stop - start)
        if stop - start == 1:
            nodes.append(_step_node(graph, start))
        else:
            nodes.append(_group_node(graph, f"g{groups}", unit))
            collapsed += stop - start
            groups += 1
    ids = [nd.id for nd in nodes]
    fwd: dict[tuple[int, int], list[int]] = {}
    for s in graph.steps:
        for pos, o in enumerate(operands[s.index], 1):
            if isinstance(o, int) and unit_of[o] != unit_of[s.index]:
                fwd.setdefault((unit_of[o], unit_of[s.index]), []).append(pos)
    forward = []
    for (a, b), positions in fwd.items():
        single = units[b][1] - units[b][0] == 1
        if single and len(operands[units[b][0]]) > 1:
            label = ", ".join(map(str, positions))
        else:
            label = f"{len(positions)} edges" if len(positions) > 1 else ""
        forward.append(_Edge(ids[a], ids[b], label))
    rev: dict[tuple[int, int], list] = {}
    for c in graph.contributions if reverse else []:
        if unit_of[c.child] != unit_of[c.parent]:
            rev.setdefault((unit_of[c.child], unit_of[c.parent]), []).append(c.product)
    backward = []
    for (a, b), products in rev.items():
        total = _total(products)
        label = "" if total is None else _num(total)
        if len(products) > 1:
            label = f"{label} ({len(products)} edges)".strip()
        backward.append(_Edge(ids[a], ids[b], label))
    return _Scene(nodes, forward, backward, n, n_const, True, collapsed, groups)


def _layers(nodes: list[_Node], forward: list[_Edge]) -> dict[str, int]:
    """Longest-path layers from the inputs (nodes come in an evaluation order); constants and
    copies of inputs go just above their consumer."""
    preds: dict[str, list[str]] = {nd.id: [] for nd in nodes}
    succs: dict[str, list[str]] = {nd.id: [] for nd in nodes}
    for e in forward:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)
    above = ("const", "ref")
    layer: dict[str, int] = {}
    for nd in nodes:
        if nd.kind not in above:
            layer[nd.id] = 1 + max((layer[p] for p in preds[nd.id] if p in layer), default=-1)
    for nd in nodes:
        if nd.kind in above:
            layer[nd.id] = max(0, min((layer[s] for s in succs[nd.id]), default=1) - 1)
    for nd in nodes:  # every edge goes down at least one layer
        layer[nd.id] = max([layer[nd.id]] + [layer[p] + 1 for p in preds[nd.id]])
    return layer


def _shorten(scene: _Scene, reach: int = _REACH) -> None:
    """Draw an input again next to each consumer more than `reach` layers below it, instead
    of a long edge (an input read by every step of a loop would otherwise fan out over the
    whole picture); the reverse edges into it go to the copy too."""
    layer = _layers(scene.nodes, scene.forward)
    kind = {nd.id: nd for nd in scene.nodes}
    copies: dict[tuple[str, str], str] = {}
    for e in scene.forward:
        if kind[e.src].kind == "input" and layer[e.dst] - layer[e.src] > reach:
            e.src = copies.setdefault((e.src, e.dst), f"r{len(copies)}")
    if not copies:
        return
    for e in scene.backward:
        e.dst = copies.get((e.dst, e.src), e.dst)
    before: dict[str, list[_Node]] = {}
    for (src, dst), rid in copies.items():
        before.setdefault(dst, []).append(_Node(rid, "ref", [kind[src].lines[0]]))
    scene.nodes = [m for nd in scene.nodes for m in before.get(nd.id, []) + [nd]]


def _untangle(scene: _Scene, max_nodes: int) -> _Scene:
    """When the layered layout cannot avoid crossing edges, try drawing each input again
    next to every consumer more than one layer below it (a long edge from an input is what
    usually crosses, as in x*y + sin(x - 2*y)): the scene with fewer crossings wins."""
    before = _ordering(scene).crossings
    if before == 0:
        return scene
    alt = copy.deepcopy(scene)
    _shorten(alt, reach=1)
    if alt.refs == scene.refs or len(alt.nodes) > max_nodes:
        return scene
    return alt if _ordering(alt).crossings < before else scene


# --- DOT --------------------------------------------------------------------------------------


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_LEGEND_WORDS = {"fwd": "black", "rev": "red dashed", "ref": None, None: None}


def _dot(scene: _Scene) -> str:
    caption = "\n".join(
        (f"{_LEGEND_WORDS[style]}: {text}" if _LEGEND_WORDS[style] else text)
        for style, text in scene.legend()
    )
    out = [
        "digraph chainrule {",
        f"  // chainrule.draw: {scene.summary()}",
        f"  graph [rankdir=TB, nodesep=0.6, ranksep=0.55, fontname=\"Helvetica\", fontsize=10, "
        f"fontcolor=\"dimgray\", labelloc=b, label={_q(caption)}];",
        '  node [fontname="Helvetica", fontsize=11, style=filled, penwidth=1.4];',
        '  edge [fontname="Helvetica", fontsize=9, color="black", arrowsize=0.7];',
    ]
    for nd in scene.nodes:
        shape, colour, fill = _STYLE[nd.kind]
        extra = ""
        if nd.kind == "const":
            extra = (', fontsize=9, fontcolor="dimgray", penwidth=0.8, height=0.22, width=0.3, '
                     'margin="0.05,0.02"')  # fmt: skip
        elif nd.kind == "ref":
            extra = ', style="filled,dashed", fontsize=9, height=0.3, margin="0.04,0.02"'
        elif _is_ellipse(nd):
            shape = "ellipse"  # the output is an input: f(x) = x
        out.append(f"  {nd.id} [label={_q(chr(10).join(nd.lines))}, shape={shape}, "
                   f"color=\"{colour}\", fillcolor=\"{fill}\"{extra}];")  # fmt: skip
    inputs = [nd.id for nd in scene.nodes if nd.kind == "input"]
    if inputs:
        out.append(f"  {{rank=min; {'; '.join(inputs)}}}")
    out.append("  // forward pass")
    for e in scene.forward:
        out.append(f"  {e.src} -> {e.dst}" + (f" [label={_q(e.label)}];" if e.label else ";"))
    if scene.backward:
        out.append("  // reverse sweep, from each value back to its operands, labelled with the")
        out.append("  // contribution (local derivative × incoming gradient); written operand ->")
        out.append("  // value with dir=back, so that dot ranks them as it ranks the forward")
        out.append("  // edges, and draws the arrow from the value back to the operand")
    for e in scene.backward:
        out.append(f"  {e.dst} -> {e.src} [dir=back, label={_q(e.label)}, "
                   f"color=\"{_REVERSE_COLOUR}\", fontcolor=\"{_REVERSE_COLOUR}\", style=dashed];")
    out.append("}")
    return "\n".join(out) + "\n"


# --- the layered layout (for the matplotlib renderer) -----------------------------------------


@dataclass
class _Layout:
    pos: dict[str, tuple[float, float]]  # centres, in points, y upwards
    chains: list[list[str]]  # for each forward edge, the dummy nodes it passes through
    width: float
    height: float


def _isotonic(z: list[float], w: list[float]) -> list[float]:
    """The non-decreasing sequence nearest to z in weighted least squares: pool adjacent
    violators."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for v, wv in zip(z, w):
        blocks.append([v * wv, wv, 1])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] > blocks[-1][0] * blocks[-2][1]:
            s, c, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
            blocks[-1][2] += n
    out: list[float] = []
    for s, c, n in blocks:
        out += [s / c] * int(n)
    return out


def _place(row: list[str], want: dict[str, float], width: dict[str, float],
           gap: Callable[[str, str], float], weight: dict[str, float]) -> None:  # fmt: skip
    """Put the nodes of one layer as near to `want` as their order and widths allow (the
    heavier nodes nearer)."""
    offs, acc = [], 0.0
    for i, v in enumerate(row):
        if i:
            acc += (width[row[i - 1]] + width[v]) / 2 + gap(row[i - 1], v)
        offs.append(acc)
    z = _isotonic([want[v] - o for v, o in zip(row, offs)], [weight[v] for v in row])
    for v, zv, o in zip(row, z, offs):
        want[v] = zv + o


def _crossings(order: list[list[str]], down: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(order, order[1:]):
        at = {v: i for i, v in enumerate(lower)}
        es = sorted((i, at[w]) for i, v in enumerate(upper) for w in down[v])
        for k, (a, b) in enumerate(es):
            total += sum(1 for a2, b2 in es[k + 1 :] if a2 > a and b2 < b)
    return total


@dataclass
class _Order:
    """The layers of a scene, each in the order the layout draws it (dummy nodes `_d…` on
    the long edges), and how many pairs of forward edges cross."""

    order: list[list[str]]
    chains: list[list[str]]  # for each forward edge, the dummy nodes it passes through
    up: dict[str, list[str]]
    down: dict[str, list[str]]
    crossings: int


def _ordering(scene: _Scene) -> _Order:
    """Longest-path layers from the inputs (constants just above their consumer), dummy nodes
    on long edges, then barycenter ordering: sweeps down and up with adjacent swaps, from
    three starting orders, keeping the order with the fewest crossings, mirrored if that puts
    more operands in order."""
    ids = [nd.id for nd in scene.nodes]
    layer = _layers(scene.nodes, scene.forward)
    n_layers = 1 + max(layer.values(), default=0)
    order: list[list[str]] = [[] for _ in range(n_layers)]
    for i in ids:
        order[layer[i]].append(i)
    down: dict[str, list[str]] = {i: [] for i in ids}
    up: dict[str, list[str]] = {i: [] for i in ids}
    chains: list[list[str]] = []
    for k, e in enumerate(scene.forward):
        chain, prev = [], e.src
        for lay in range(layer[e.src] + 1, layer[e.dst]):
            d = f"_d{k}_{lay}"
            chain.append(d)
            order[lay].append(d)
            down[d], up[d] = [], []
            down[prev].append(d)
            up[d].append(prev)
            prev = d
        down[prev].append(e.dst)
        up[e.dst].append(prev)
        chains.append(chain)

    def sweep(rows: range, nbrs: dict[str, list[str]], adjacent: int) -> None:
        for lay in rows:
            at = {v: i for i, v in enumerate(order[lay + adjacent])}
            here = {v: i for i, v in enumerate(order[lay])}

            def key(v: str) -> tuple[float, int]:
                ns = [at[w] for w in nbrs[v]]
                return (sum(ns) / len(ns) if ns else here[v], here[v])

            order[lay].sort(key=key)

    def operands_reversed(u: str, v: str) -> bool:
        """Whether v is an earlier operand than u of a value both feed."""
        return any(up[w].index(v) < up[w].index(u) for w in down[u] if w in down[v])

    def transpose(tidy: bool = False) -> None:
        """Swap neighbours in a layer while that removes crossings with the adjacent layers
        (with `tidy`: while that puts operands in order without adding crossings)."""
        for _ in range(8):
            improved = False
            for lay, row in enumerate(order):
                near = [
                    ({v: i for i, v in enumerate(order[lay + d])}, nbrs)
                    for d, nbrs in ((-1, up), (1, down))
                    if 0 <= lay + d < n_layers
                ]
                for k in range(len(row) - 1):
                    u, v = row[k], row[k + 1]
                    keep = swap = 0
                    for at, nbrs in near:
                        for a in nbrs[u]:
                            for b in nbrs[v]:
                                keep += at[a] > at[b]
                                swap += at[a] < at[b]
                    if swap < keep or (tidy and swap == keep and operands_reversed(u, v)):
                        row[k], row[k + 1] = v, u
                        improved = True
            if not improved:
                return

    def dfs_order(flip: bool) -> list[list[str]]:
        """Each layer in the order a depth-first walk up from the output first meets it."""
        seen: set[str] = set()
        rank: dict[str, int] = {}
        nbrs = lambda v: iter(up[v][::-1] if flip else up[v])
        for root in (v for row in reversed(order) for v in row):
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, nbrs(root))]
            while stack:
                v, it = stack[-1]
                w = next((w for w in it if w not in seen), None)
                if w is None:
                    stack.pop()
                    rank[v] = len(rank)
                else:
                    seen.add(w)
                    stack.append((w, nbrs(w)))
        return [sorted(row, key=rank.__getitem__) for row in order]

    best, best_c = [list(r) for r in order], _crossings(order, down)
    for start in ([list(r) for r in order], dfs_order(False), dfs_order(True)):
        order = start
        for _ in range(4):
            if best_c == 0:
                break
            sweep(range(1, n_layers), up, -1)
            sweep(range(n_layers - 2, -1, -1), down, +1)
            transpose()
            c = _crossings(order, down)
            if c < best_c:
                best, best_c = [list(r) for r in order], c
    # mirror the picture if that puts more operands in order, first on the left; then swap
    # neighbours that are operands out of order where that adds no crossing
    at = {v: i for row in best for i, v in enumerate(row)}
    score = sum((at[a] < at[b]) - (at[a] > at[b])
                for v in ids for i, a in enumerate(up[v]) for b in up[v][i + 1 :])  # fmt: skip
    order = [row[::-1] for row in best] if score < 0 else best
    transpose(tidy=True)
    return _Order(order, chains, up, down, best_c)


def _layout(scene: _Scene, size: dict[str, tuple[float, float]], lane: float = 2.0,
            gap: float = 22.0, rank_gap: float = 46.0) -> _Layout:  # fmt: skip
    """A Sugiyama-style layout, top to bottom: the layers and their order from `_ordering`
    (dummy nodes `lane` points wide on long edges), then x positions pulled towards the
    neighbours' mean while keeping each layer's order and spacing."""
    ids = [nd.id for nd in scene.nodes]
    o = _ordering(scene)
    order, chains, up, down = o.order, o.chains, o.up, o.down
    n_layers = len(order)
    width = {i: size[i][0] for i in ids}
    height = {i: size[i][1] for i in ids}
    for row in order:
        for v in row:
            if v not in width:
                width[v], height[v] = lane, 0.0

    real = set(ids)
    space = lambda u, v: gap if u in real and v in real else 12.0 if u in real or v in real else 6.0
    source = {nd.id for nd in scene.nodes if nd.kind in ("const", "ref")}
    pull = {v: [w for w in ws if w not in source] or ws for v, ws in up.items()}
    weight = {v: 0.05 if v in source else 1.0 if v in real else 0.5 for v in width}
    x: dict[str, float] = {}
    for row in order:
        x.update({v: 0.0 for v in row})
        _place(row, x, width, space, weight)
    for it in range(12):
        rows = range(1, n_layers) if it % 2 == 0 else range(n_layers - 2, -1, -1)
        nbrs = pull if it % 2 == 0 else down
        for lay in rows:
            want = {v: (sum(x[w] for w in nbrs[v]) / len(nbrs[v]) if nbrs[v] else x[v])
                    for v in order[lay]}  # fmt: skip
            _place(order[lay], want, width, space, weight)
            x.update(want)
    left = min(x[v] - width[v] / 2 for v in x)
    right = max(x[v] + width[v] / 2 for v in x)
    pos: dict[str, tuple[float, float]] = {}
    y = 0.0
    for row in order:
        h = max((height[v] for v in row), default=0.0)
        for v in row:
            pos[v] = (x[v] - left, -(y + h / 2))
        y += h + rank_gap
    total = y - rank_gap
    pos = {v: (px, py + total) for v, (px, py) in pos.items()}
    return _Layout(pos, chains, right - left, total)


# --- the matplotlib renderer ------------------------------------------------------------------

_FONT = 10.0  # points
_SMALL = 8.5


def _render_matplotlib(scene: _Scene, fmt: str) -> bytes:
    """Draw the scene with matplotlib: the layered layout above; forward edges leave a node's
    bottom and enter the next one's top, each reverse edge runs just right of its forward
    edge, bowed a little, red and dashed."""
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.font_manager import FontProperties
        from matplotlib.lines import Line2D
        from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch
        from matplotlib.path import Path as MPath
    except ImportError as err:
        raise ImportError(
            f"cannot render {fmt.upper()}: Graphviz's `dot` executable is not on PATH (install "
            "the system package `graphviz`) and the Python package `matplotlib` is not "
            "installed (pip install matplotlib); Drawing.dot has the DOT text",
            name="matplotlib",
        ) from err

    font = FontProperties(family="DejaVu Sans", size=_FONT)
    small = FontProperties(family="DejaVu Sans", size=_SMALL)
    measure = FigureCanvasAgg(Figure(dpi=72)).get_renderer()  # 72 dpi: pixels are points

    def text_size(lines: list[str], prop: FontProperties) -> tuple[float, float]:
        w = max(measure.get_text_width_height_descent(ln or " ", prop, ismath=False)[0]
                for ln in lines)  # fmt: skip
        return w, prop.get_size() * (1.3 * len(lines) - 0.1)

    size: dict[str, tuple[float, float]] = {}
    for nd in scene.nodes:
        w, h = text_size(nd.lines, small if nd.kind in ("const", "ref") else font)
        if nd.kind == "const":
            size[nd.id] = (w + 10, h + 6)
        elif _is_ellipse(nd):
            size[nd.id] = (w * 1.3 + 14, h * 1.4 + (6 if nd.kind == "ref" else 8))
        else:
            size[nd.id] = (w + 18, h + 12)
    side = 8.0 if scene.backward else 0.0  # long edges: forward and reverse side by side
    lay = _layout(scene, size, lane=2 * side + 6)
    rows = scene.legend()
    margin, legend = 24.0, 22.0 + 14.0 * len(rows)
    legend_w = text_size([t for _, t in rows], small)[0] + 60
    width = max(lay.width, legend_w) + 2 * margin
    height = lay.height + 2 * margin + legend
    dx = margin + (width - 2 * margin - lay.width) / 2
    pos = {v: (px + dx, py + margin + legend) for v, (px, py) in lay.pos.items()}
    node = {nd.id: nd for nd in scene.nodes}

    fig = Figure(figsize=(width / 72, height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    for nd in scene.nodes:
        (cx, cy), (w, h) = pos[nd.id], size[nd.id]
        _shape, edge, fill = _STYLE[nd.kind]
        lw = 0.8 if nd.kind == "const" else 1.4
        box = {"boxstyle": "round,pad=0,rounding_size=4", "lw": lw, "ec": edge, "fc": fill}
        if nd.kind == "group":  # a stack of boxes
            ax.add_patch(FancyBboxPatch((cx - w / 2 + 4, cy - h / 2 - 4), w, h, zorder=2, **box))
        if _is_ellipse(nd):
            ls = "--" if nd.kind == "ref" else "-"
            ax.add_patch(Ellipse((cx, cy), w, h, lw=lw, ec=edge, fc=fill, ls=ls, zorder=3))
        else:
            ax.add_patch(FancyBboxPatch((cx - w / 2, cy - h / 2), w, h, zorder=3, **box))
        ax.text(cx, cy, "\n".join(nd.lines), ha="center", va="center", zorder=4,
                fontproperties=small if nd.kind in ("const", "ref") else font, linespacing=1.3,
                color="dimgray" if nd.kind == "const" else "black", parse_math=False)  # fmt: skip

    # ports: where each forward edge leaves its source's bottom and enters its target's top,
    # spread in the order of where the edges go
    def rim(v: str, ox: float, sign: int) -> tuple[float, float]:
        (cx, cy), (w, h) = pos[v], size[v]
        hh = h / 2
        if _is_ellipse(node[v]):
            hh *= math.sqrt(max(0.0, 1 - (2 * ox / w) ** 2))
        return cx + ox, cy + sign * hh

    paths = [[(pos[d][0] - side, pos[d][1]) for d in chain] for chain in lay.chains]
    outs: dict[str, list] = {}
    ins: dict[str, list] = {}
    for k, (e, via) in enumerate(zip(scene.forward, paths)):
        outs.setdefault(e.src, []).append(((via[0] if via else pos[e.dst])[0], k))
        ins.setdefault(e.dst, []).append(((via[-1] if via else pos[e.src])[0], k))
    out_x: dict[int, float] = {}
    in_x: dict[int, float] = {}
    shift: dict[tuple[str, int], float] = {}  # (node, edge) -> the reverse edge's offset
    for ports, place in ((outs, out_x), (ins, in_x)):
        for v, items in ports.items():
            items.sort()
            m = len(items)
            step = min(16.0, 0.6 * size[v][0] / m)
            for i, (_x, k) in enumerate(items):
                place[k] = (i - (m - 1) / 2) * step
                shift[(v, k)] = min(7.0, step / 2) if m > 1 else 7.0

    def curve(pts: list, colour: str, style: str, lw: float) -> list:
        """An arrow through the points: a straight line, or a quadratic B-spline. Returns
        points along it (for placing its label)."""
        verts, codes = [pts[0]], [MPath.MOVETO]
        if len(pts) == 2:
            verts.append(pts[1])
            codes.append(MPath.LINETO)
        for k in range(1, len(pts) - 1):
            nxt = pts[k + 1]
            end = nxt if k == len(pts) - 2 else ((pts[k][0] + nxt[0]) / 2, (pts[k][1] + nxt[1]) / 2)
            verts += [pts[k], end]
            codes += [MPath.CURVE3, MPath.CURVE3]
        ax.add_patch(FancyArrowPatch(path=MPath(verts, codes), arrowstyle="-|>", color=colour,
                                     lw=lw, linestyle=style, mutation_scale=10, zorder=1))
        along = [verts[0]]
        for k in range(1, len(verts), 2 if len(pts) > 2 else 1):
            if len(pts) == 2:  # a straight line: a control point halfway
                (x0, y0), (x1, y1) = verts
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            else:
                (x0, y0), (cx, cy), (x1, y1) = along[-1], verts[k], verts[k + 1]
            for i in range(1, 9):
                t = i / 8
                along.append(((1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t * t * x1,
                              (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t * t * y1))  # fmt: skip
        return along

    # labels go where they cover no node and no other label, if they can
    taken = [(pos[v][0] - w / 2 - 2, pos[v][1] - h / 2 - 2, pos[v][0] + w / 2 + 2,
              pos[v][1] + h / 2 + 2) for v, (w, h) in size.items()]  # fmt: skip
    label_box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}

    def label(along: list, fractions: list[float], text: str, colour: str, beside: bool) -> None:
        lengths = [0.0]
        for (x0, y0), (x1, y1) in zip(along, along[1:]):
            lengths.append(lengths[-1] + math.hypot(x1 - x0, y1 - y0))
        total = lengths[-1] or 1.0
        w, h = text_size([text], small)
        w, h = w + 4, h + 3
        choice = None
        for f in fractions:
            k = next((i for i, c in enumerate(lengths) if c >= f * total), len(along) - 1)
            x, y = along[k]
            x0 = x + 3 if beside else x - w / 2
            rect = (x0, y - h / 2, x0 + w, y + h / 2)
            free = not any(r[0] < rect[2] and rect[0] < r[2] and r[1] < rect[3] and rect[1] < r[3]
                           for r in taken)  # fmt: skip
            if choice is None or free:
                choice = (x0, y, rect)
            if free:
                break
        x0, y, rect = choice
        taken.append(rect)
        ax.text(x0 + w / 2, y, text, ha="center", va="center", fontproperties=small, zorder=5,
                color=colour, bbox=label_box)  # fmt: skip

    first_of: dict[tuple[str, str], list[int]] = {}
    for k, (e, via) in enumerate(zip(scene.forward, paths)):
        first_of.setdefault((e.src, e.dst), []).append(k)
        a = rim(e.src, out_x[k], -1)
        b = rim(e.dst, in_x[k], +1)
        along = curve([a, *via, b], "black", "-", 1.1)
        if e.label:  # on the last stretch, just above the arrowhead
            last = math.hypot(b[0] - along[-2][0], b[1] - along[-2][1]) if via else 0.0
            length = sum(math.hypot(q[0] - p[0], q[1] - p[1]) for p, q in zip(along, along[1:]))
            f = max(0.5, 1 - min(16.0, 0.45 * (last or length)) / (length or 1.0))
            label(along, [f, f - 0.1, f - 0.2, 0.5], e.label, "black", False)
    used: Counter = Counter()
    for e in scene.backward:  # e goes from a child back to its parent
        ks = first_of.get((e.dst, e.src), [])
        if not ks:
            continue
        k = ks[used[(e.dst, e.src)] % len(ks)]
        used[(e.dst, e.src)] += 1
        a = rim(e.src, in_x[k] + shift[(e.src, k)], +1)
        b = rim(e.dst, out_x[k] + shift[(e.dst, k)], -1)
        via = [(px + 2 * side, py) for px, py in reversed(paths[k])]
        if not via:  # bowed to the right of the straight forward edge
            L = math.hypot(b[0] - a[0], b[1] - a[1]) or 1.0
            bow = min(10.0, 0.2 * L)
            mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
            via = [(mid[0] + 2 * bow * (b[1] - a[1]) / L, mid[1] - 2 * bow * (b[0] - a[0]) / L)]
        along = curve([a, *via, b], _REVERSE_COLOUR, "--", 1.3)
        if e.label:
            label(along, [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8], e.label, _REVERSE_COLOUR, True)

    # the legend, under the graph
    y = margin / 2 + legend - 16
    for style, text in rows:
        if style == "ref":
            ax.add_patch(Ellipse((margin + 15, y), 26, 11, lw=1.2, ec="red", fc=_STYLE["ref"][2],
                                 ls="--"))  # fmt: skip
        elif style:
            colour, ls = ("black", "-") if style == "fwd" else (_REVERSE_COLOUR, "--")
            ax.add_line(Line2D([margin, margin + 30], [y, y], color=colour, ls=ls, lw=1.3))
        ax.text(margin + 38, y, text, va="center", fontproperties=small, color="dimgray")
        y -= 14

    buf = io.BytesIO()
    dpi = min(150.0, 8000 * 72 / max(width, height))
    meta = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.hashsalt": "chainrule"}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta, facecolor="white")
    return buf.getvalue()


# --- the Graphviz renderer --------------------------------------------------------------------


def _render_dot(dot: str, fmt: str, exe: str) -> bytes:
    """Run Graphviz's dot: through the `graphviz` package when it is installed, else directly."""
    try:
        import graphviz
    except ImportError:
        graphviz = None
    if graphviz is not None:
        try:
            return graphviz.Source(dot).pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            pass  # the package looks for `dot` its own way: run the one found on PATH
        except graphviz.CalledProcessError as err:
            raise RuntimeError(f"Graphviz's dot failed: {err.stderr!r}") from err
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              timeout=120, check=False)  # fmt: skip
    except OSError as err:
        raise RuntimeError(f"could not run Graphviz's dot ({exe}): {err}") from err
    if done.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


# --- the public face --------------------------------------------------------------------------


def _fmt(format: str | None) -> str | None:
    if format is None:
        return None
    f = str(format).lower().lstrip(".")
    f = "dot" if f == "gv" else f
    if f not in FORMATS:
        raise ValueError(f"draw: unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return f


class Drawing:
    """The picture of one computation: DOT text, and renderings of it.

    `dot` is the Graphviz text; `render(fmt)` gives the bytes of an SVG, PNG or PDF picture,
    `save(path)` writes one (the format from the file's extension), and Jupyter shows the
    Drawing as SVG. `graph` is the captured computation (see `chainrule.transparency.graph`);
    `collapsed` counts the steps folded into group nodes when the graph was summarised.
    """

    def __init__(self, graph: Graph, *, reverse: bool = True, max_nodes: int = 60,
                 format: str | None = None) -> None:  # fmt: skip
        self.graph = graph
        self.format = _fmt(format)
        self._scene = _scene(graph, reverse, max_nodes)
        self._scene.notes = list(graph.notes)
        self.dot: str = _dot(self._scene)
        self.collapsed: int = self._scene.collapsed

    def __repr__(self) -> str:
        return f"<Drawing: {self._scene.summary()}>"

    def engine(self) -> str:
        """Which renderer `render` uses: 'dot' when Graphviz's dot is on PATH, else
        'matplotlib'."""
        return "dot" if shutil.which("dot") else "matplotlib"

    def render(self, format: str | None = None, engine: str | None = None) -> bytes:
        """The picture as bytes: format 'svg' (the default), 'png', 'pdf' or 'dot'. engine:
        'dot' (Graphviz), 'matplotlib' (the built-in layered layout), or None for dot when
        it is on PATH and matplotlib otherwise."""
        fmt = _fmt(format) or self.format or "svg"
        if fmt == "dot":
            return self.dot.encode()
        if engine not in (None, "dot", "matplotlib"):
            raise ValueError(f"draw: unknown engine {engine!r}; use 'dot' or 'matplotlib'")
        exe = shutil.which("dot") if engine != "matplotlib" else None
        if engine == "dot" and exe is None:
            raise RuntimeError("draw: Graphviz's `dot` executable is not on PATH (install the "
                               "system package `graphviz`, e.g. apt-get install graphviz)")
        if exe is not None:
            return _render_dot(self.dot, fmt, exe)
        return _render_matplotlib(self._scene, fmt)

    def save(self, path: str | os.PathLike, format: str | None = None,
             engine: str | None = None) -> Path:  # fmt: skip
        """Write the picture to `path`, in the format its extension names (.dot, .svg, .png,
        .pdf) or `format`; a path without an extension gets the format's. Returns the path."""
        p = Path(path)
        fmt = _fmt(format) or _fmt(p.suffix or None) or self.format
        if fmt is None:
            raise ValueError(f"draw: {str(path)!r} has no extension; name a format "
                             f"({', '.join(FORMATS)})")  # fmt: skip
        if not p.suffix:
            p = p.with_suffix("." + fmt)
        data = self.render(fmt, engine)
        p.write_bytes(data)
        return p

    def _repr_svg_(self) -> str | None:
        try:
            return self.render("svg").decode()
        except Exception:  # Jupyter then shows the repr
            return None


def draw(
    fun: Callable,
    *args: Any,
    output: str | os.PathLike | None = None,
    format: str | None = None,
    reverse: bool = True,
    max_nodes: int = 60,
) -> Drawing:
    r"""The computation graph of `fun(*args)` with every value and gradient, as a `Drawing`.

    Each step is a node labelled with its operation, value and gradient (the adjoint
    d(output)/d(step)): inputs red ellipses, operations blue boxes, the output green, constants
    small grey boxes. Forward edges are black, labelled 1, 2, ... by operand position when an
    operation has several operands. With `reverse` the reverse sweep is drawn too: a red dashed
    edge from each value back to each of its operands, labelled with the contribution it adds
    to the operand's gradient (the local derivative times the incoming gradient); the
    contributions into a node add up to its gradient.

    `output`: a file to write (.png, .svg, .pdf or .dot; `format` names the format when the
    file has no extension). Rendering uses Graphviz's ``dot`` when it is on PATH, else
    matplotlib.

    `max_nodes`: a larger graph is summarised so that the picture has at most this many
    nodes: first constants fold into their consumers' labels; if there are still more steps
    than `max_nodes`, each run of consecutive steps whose operations repeat a block of up to
    8 operations (``sin sin sin ...``, ``mul add mul add ...``) becomes one group node,
    labelled like ``v1 … v998`` / ``(mul, add) × 499`` with the value and gradient of the
    run's last step; if that is still too many, consecutive steps are merged into chunks
    (``40 steps: mul 20, add 20``). The inputs and the output always keep their own nodes.
    The DOT text's first comment and caption say how many steps were collapsed. An input
    read more than two layers below it (an input used by every step of a loop) is drawn
    again, as a small dashed red ellipse next to that use, rather than with a long edge; the
    reverse edge from that use goes to the copy, so the contributions into an input and its
    copies add up to its gradient. When the layered layout would have crossing edges, inputs
    read two layers below are drawn again too, if that leaves fewer crossings (as it does for
    ``x*y + sin(x - 2*y)``).

    >>> d = draw(lambda x: x ** 3 + x ** 2 - 6 * x + 1, 2.0)
    >>> d
    <Drawing: 7 steps, 3 constants; 10 nodes, 11 forward edges, 8 reverse edges>
    >>> [ln.strip() for ln in d.dot.splitlines() if ln.lstrip().startswith("s0 [")]
    ['s0 [label="x\\nvalue 2\\ngrad 10", shape=ellipse, color="red", fillcolor="#ffe4e1"];']

    A long loop is summarised:

    >>> import chainrule.numpy as cnp
    >>> def f(x):
    ...     for _ in range(1000):
    ...         x = cnp.sin(x) * 1.5
    ...     return x
    >>> d = draw(f, 0.5)
    >>> d
    <Drawing: 2001 steps, 1000 constants; 4 nodes, 3 forward edges, 3 reverse edges;
     summarised: 1998 of 2001 steps collapsed into 1 group node, constants folded into the
     labels>
    >>> print(next(ln for ln in d.dot.splitlines() if "g0 [" in ln))  # doctest: +ELLIPSIS
      g0 [label="v1 … v1998\n(sin, mul) × 999\nvalue 1.5 (v1998)\ngrad 0.112 (v1998)", ...];
    """
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 3:
        raise ValueError(f"draw: max_nodes must be an integer of at least 3, not {max_nodes!r}")
    fmt = _fmt(format)
    from chainrule.transparency import graph_of  # a Tensor or scalar Node works too

    drawing = Drawing(graph_of(fun, *args), reverse=reverse, max_nodes=max_nodes, format=fmt)
    if output is not None:
        drawing.save(output, fmt)
    return drawing
