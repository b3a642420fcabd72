"""Fusion: elementwise chains over large arrays, with the sums that end them, grouped to run
block by block (`runtime.tiles`): each block's intermediate values stay in the cache and
the blocks run on a thread pool.

A group is a set of equations, in program order, each an elementwise ufunc whose result has
the group's shape and whose operands have that shape or are scalars, plus whole-array sums
of its values; one group is open per shape, so that the steps over one array that other
arrays' steps interleave with (an optimiser's update, then the parameter's ``p + u``) join
one group. A group runs where it closes: when an equation outside it reads one of its
values, or at the program's end (its members move later, never earlier, past equations that
do not read them). Values read outside the group are written to whole
arrays (`outputs`); the others live only in per-thread scratch blocks.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> p = cr.make_graph(lambda x: cnp.sum(cnp.sin(x) * cnp.cos(x)))(np.ones(1 << 21, np.float32))
>>> [type(item).__name__ for item in plan(p)]
['Group']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.ir import Eqn, Lit, Program, Var
from chainrule.rules.impl import impl_rules

#: arrays of at least this many elements are fused and tiled (smaller ones run straight)
FUSE_MIN = 1 << 16
#: a chain of fewer than SHORT equations is fused only over arrays of SHORT_MIN elements or
#: more (those the thread pool shares: `runtime.THREAD_MIN`)
SHORT, SHORT_MIN = 4, 1 << 20


@dataclass
class Group:
    """Fused equations over arrays of `shape`: `eqns` (elementwise, in order), `sums`
    (whole-array sums of group values, each ending as a partial sum per block), `inputs`
    (values from outside), `outputs` (group values needed outside, as whole arrays)."""

    shape: tuple
    eqns: list = field(default_factory=list)
    sums: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def defines(self) -> set:
        return {e.outvars[0] for e in self.eqns + self.sums}

    def __repr__(self) -> str:
        return f"Group({self.shape}, {len(self.eqns)} elementwise, {len(self.sums)} sums)"


def _fusible(e: Eqn, min_size: int = FUSE_MIN) -> tuple | None:
    """The shape a fusible elementwise equation runs over, or None."""
    if not (e.prim.elementwise and not e.params and isinstance(impl_rules.get(e.prim), np.ufunc)):
        return None
    out = e.outvars[0].aval
    if out.size < min_size:
        return None
    for v in e.invars:
        if isinstance(v, Var) and v.aval.shape not in (out.shape, ()):
            return None
    return out.shape


def _sum_of(e: Eqn, group: Group | None) -> bool:
    """Whether `e` sums a value of `group` over all its axes, to a scalar."""
    if group is None or e.prim is not P.sum_p or e.params.get("keepdims"):
        return False
    x = e.invars[0]
    axis = e.params.get("axis")
    return (isinstance(x, Var) and x in group.defines() and x.aval.shape == group.shape and
            (axis is None or tuple(sorted(axis)) == tuple(range(len(group.shape)))))  # fmt: skip


def plan(program: Program, fuse: bool = True, min_size: int = FUSE_MIN,
         short_min: int = SHORT_MIN) -> list:  # fmt: skip
    """The program's equations, with fusible runs replaced by `Group`s (in execution
    order). Without `fuse`, the equations as they are. `min_size`: the fewest elements a
    fused equation has (a GPU fuses much smaller arrays than the CPU's tiles need); a group
    of fewer than `SHORT` equations and no sum over fewer than `short_min` elements runs as
    its equations (0: never)."""
    if not fuse:
        return list(program.eqns)
    items: list = []
    groups: dict[tuple, Group] = {}  # the open groups, one per shape

    def close(g: Group) -> None:
        del groups[g.shape]
        items.append(g)

    def close_readers_of(e: Eqn, keep: Group | None = None) -> None:
        """Close the open groups (but `keep`) that define one of `e`'s operands: `e` runs
        after them."""
        used = {v for v in e.invars if isinstance(v, Var)}
        for g in list(groups.values()):
            if g is not keep and not used.isdisjoint(g.defines()):
                close(g)

    for e in program.eqns:
        shape = _fusible(e, min_size)
        if shape is not None:
            group = groups.get(shape)
            if group is not None and any(s.outvars[0] in e.invars for s in group.sums):
                close(group)  # `e` reads one of its sums: known only once all blocks ran
                group = None
            close_readers_of(e, keep=group)
            if group is None:
                group = groups[shape] = Group(shape)
            group.eqns.append(e)
            continue
        group = next((g for g in groups.values() if _sum_of(e, g)), None)
        if group is not None:
            group.sums.append(e)
        else:
            close_readers_of(e)
            items.append(e)
    for g in list(groups.values()):
        close(g)
    out: list = []
    for it in items:
        if isinstance(it, Group) and it.size < short_min and len(it.eqns) < SHORT and \
                not it.sums:  # fmt: skip
            out.extend(it.eqns)  # a short chain on an array the pool's threads would not
        else:  # share: its whole-array calls cost less than the blocks' Python
            out.append(it)
    return [_finish(it, out, program) if isinstance(it, Group) else it for it in out]


def _finish(g: Group, items: list, program: Program) -> Any:
    """Fill in the group's inputs and outputs; a group of one equation and no sum is left
    as that equation."""
    if len(g.eqns) == 1 and not g.sums:
        return g.eqns[0]
    inside = g.defines()
    needed_outside: set = {v for v in program.outvars if isinstance(v, Var)}
    for it in items:
        if it is g:
            continue
        for e in (it.eqns + it.sums if isinstance(it, Group) else [it]):
            needed_outside.update(v for v in e.invars if isinstance(v, Var))
    seen: set = set()
    for e in g.eqns + g.sums:
        for v in e.invars:
            if isinstance(v, Var) and v not in inside and v not in seen:
                seen.add(v)
                g.inputs.append(v)
    g.outputs = [e.outvars[0] for e in g.eqns if e.outvars[0] in needed_outside]
    return g


def describe(items: list, program: Program | None = None) -> str:
    """The plan as text: equations, and groups with their members (with the names that
    printing `program` gives its variables)."""
    from chainrule.core.ir import _eqn_text, _Names

    names = _Names()
    if program is not None:  # the same names as the program's own listing
        for v in program.constvars + program.invars:
            names(v)
        for e in program.eqns:
            for v in e.invars:
                if isinstance(v, Var):
                    names(v)
            for v in e.outvars:
                names(v)
    lines = []
    for it in items:
        if isinstance(it, Group):
            ins = " ".join(names(v) for v in it.inputs)
            lines.append(f"fused over {it.shape} (inputs {ins}) {{")
            for e in it.eqns + it.sums:
                lines.append("    " + _eqn_text(e, names))
            outs = " ".join(names(v) for v in it.outputs + [e.outvars[0] for e in it.sums])
            lines.append(f"}} -> {outs}")
        else:
            lines.append(_eqn_text(it, names))
    return "\n".join(lines)


def is_lit(v: Any) -> bool:
    return type(v) is Lit
