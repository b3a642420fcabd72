"""Passes over staged programs. Each returns a new program (its input is not changed) and
counts its rewrites in a `Stats`.

- `dce`: dead-code elimination (which also decides what reverse mode keeps: `split`).
- `simplify`: one forward sweep doing constant folding (equations of literals only, computed
  by the implementation, so bit for bit), algebraic simplification (x·1, x/1, neg∘neg,
  transpose∘transpose, reshape∘reshape, broadcasts of scalars into elementwise operations,
  broadcasts and reshapes to the same shape) and common-subexpression elimination.
  Never x+0→x, x·0→0 or x−x→0 (wrong for −0.0, inf and NaN); never a rewrite that changes
  an equation's dtype; never across random draws (`EFFECTS`) or into a recomputation
  (an equation's `tag`: checkpoint's replay is not merged with the forward pass).
- `merge_outer`: a sum of outer products becomes one matrix product (order-changing: the
  terms are added by BLAS, within a few ulps).
- `split`: partial evaluation into the part computable from some inputs and the rest.

>>> import numpy as np, chainrule as cr
>>> p = cr.make_graph(lambda x: (x * 2.0, x + 1.0)[0])(np.ones(2))
>>> len(p.eqns), len(dce(p).eqns)
(2, 1)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from chainrule.core import primitives as P
from chainrule.core.ir import Eqn, Lit, Program, Var
from chainrule.rules.impl import impl_rules
from chainrule.rules.shape import shape_rules

#: primitives never removed, merged or moved by a pass (their results are not a function of
#: their operands alone: random draws, callbacks into Python)
EFFECTS: set = set()


class Stats(Counter):
    """Rewrites per pass: ``stats["dce"]`` equations removed, and so on."""


def _vars(xs: Any) -> list:
    return [v for v in xs if isinstance(v, Var)]


def has_effects(e: Eqn) -> bool:
    """Whether `e` is an effect, or carries a program (a loop's body) that contains one."""
    if e.prim in EFFECTS:
        return True
    for p in e.params.values():
        for q in (p if isinstance(p, tuple) else (p,)):
            if isinstance(q, Program) and any(has_effects(x) for x in q.eqns):
                return True
    return False


def dce(program: Program, stats: Stats | None = None) -> Program:
    """Drop the equations whose results are never used, and constants no one reads."""
    live = set(_vars(program.outvars))
    kept = []
    for e in reversed(program.eqns):
        if any(v in live for v in e.outvars) or has_effects(e):
            kept.append(e)
            live.update(_vars(e.invars))
    kept.reverse()
    if stats is not None:
        stats["dce"] += len(program.eqns) - len(kept)
    pairs = [(v, c) for v, c in zip(program.constvars, program.consts) if v in live]
    return program.replace(eqns=kept, constvars=[v for v, _ in pairs],
                           consts=[c for _, c in pairs])  # fmt: skip


def split(program: Program, unknown: list[bool], late: list[bool],
          consts_late: bool = False) -> tuple[Program, Program]:  # fmt: skip
    """Partial evaluation: `program` as ``early(inputs not marked unknown) -> (outputs not
    marked late, residuals)`` then ``late(residuals, inputs marked unknown) -> outputs
    marked late``. An equation goes late when it reads an unknown input (or a late result);
    the residuals are the early values the late program reads. An output marked late that
    turns out known (a zero derivative) is passed through as a residual. With `consts_late`,
    the constants the late program reads are residuals too (their values when the early
    program ran). Both programs keep only what they need (`dce`).
    """
    dirty = {v for v, u in zip(program.invars, unknown) if u}
    early_eqns, late_eqns = [], []
    for e in program.eqns:
        if any(isinstance(v, Var) and v in dirty for v in e.invars):
            late_eqns.append(e)
            dirty.update(e.outvars)
        else:
            early_eqns.append(e)
    consts = set(program.constvars)
    residuals: list[Var] = []
    seen: set = set()

    def need(v: Any) -> None:  # an early value the late program reads
        if isinstance(v, Var) and v not in dirty and v not in seen and (
                consts_late or v not in consts):  # fmt: skip
            seen.add(v)
            residuals.append(v)

    for e in late_eqns:
        for v in e.invars:
            need(v)
    late_out = [v for v, lt in zip(program.outvars, late) if lt]
    for v in late_out:
        need(v)
    early = dce(Program([v for v, u in zip(program.invars, unknown) if not u], early_eqns,
                        [v for v, lt in zip(program.outvars, late) if not lt] + residuals,
                        program.constvars, program.consts))  # fmt: skip
    res_in = [Var(v.aval) for v in residuals]
    rename = dict(zip(residuals, res_in))
    late_eqns = [Eqn(e.prim, [rename.get(v, v) if isinstance(v, Var) else v for v in e.invars],
                     e.params, e.outvars, e.where, e.tag) for e in late_eqns]  # fmt: skip
    rest = dce(Program(res_in + [v for v, u in zip(program.invars, unknown) if u], late_eqns,
                       [rename.get(v, v) if isinstance(v, Var) else v for v in late_out],
                       program.constvars, program.consts))  # fmt: skip
    return early, rest


def uses(program: Program) -> Counter:
    """How many times each variable is read (by equations and as an output)."""
    n: Counter = Counter()
    for e in program.eqns:
        n.update(_vars(e.invars))
    n.update(_vars(program.outvars))
    return n


# --- simplify: folding, algebra, common subexpressions, in one sweep --------------------------


def _lit_key(v: Lit) -> tuple:
    x = v.val
    if isinstance(x, np.generic):
        return (x.dtype.str, x.tobytes())
    return (type(x), x.hex() if type(x) is float else repr(x))


def _key(e_prim: Any, invars: list, params: dict, tag: Any) -> Any:
    try:
        ps = tuple(sorted(params.items()))
        hash(ps)
    except TypeError:
        return None
    return (e_prim, tuple(v if isinstance(v, Var) else _lit_key(v) for v in invars), ps, tag)


#: elementwise operations whose result is the same on scalars and on arrays (IEEE arithmetic)
_EXACT = frozenset({P.add_p, P.sub_p, P.mul_p, P.div_p, P.neg_p, P.square_p})


def _is_one(v: Any) -> bool:
    return type(v) is Lit and not isinstance(v.val, (bool, np.bool_)) and v.val == 1 and not (
        isinstance(v.val, (complex, np.complexfloating)) and v.val.imag != 0)  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    return (a.shape, a.dtype, a.weak_type) == (b.shape, b.dtype, b.weak_type)


class _Sweep:
    def __init__(self, stats: Stats):
        self.stats = stats
        self.subst: dict = {}  # Var -> the operand standing for it now
        self.defs: dict = {}  # Var -> the equation that assigns it (after rewriting)
        self.uniform: dict = {}  # Var -> a Lit every element of it equals (a broadcast scalar)
        self.seen: dict = {}  # CSE key -> outvars
        self.eqns: list = []

    def op(self, v: Any) -> Any:
        while isinstance(v, Var) and v in self.subst:
            v = self.subst[v]
        return v

    def alias(self, out: Var, to: Any, what: str) -> None:
        self.subst[out] = to
        self.stats[what] += 1

    def run(self, program: Program) -> Program:
        for e in program.eqns:
            self.eqn(Eqn(e.prim, [self.op(v) for v in e.invars], e.params, e.outvars, e.where,
                         e.tag))  # fmt: skip
        outs = [self.op(v) for v in program.outvars]
        return program.replace(eqns=self.eqns, outvars=outs)

    def eqn(self, e: Eqn) -> None:
        prim, ins, out = e.prim, e.invars, e.outvars[0]
        if prim.multiple_results or has_effects(e) or prim in P.COLLECTIVES:
            self.emit(e, cse=False)
            return
        # constant folding: literals in, a scalar out, computed as the program would
        if ins and all(type(v) is Lit for v in ins) and out.aval.ndim == 0 and \
                out.aval.dtype.kind in "biufc":  # fmt: skip
            with np.errstate(all="ignore"):
                val = impl_rules[prim](*[v.val for v in ins], **e.params)
            val = np.asarray(val).item() if out.aval.weak_type else out.aval.dtype.type(val)
            self.alias(out, Lit(val, out.aval), "fold")
            return
        if prim in _EXACT and any(isinstance(v, Var) for v in ins) and all(
                type(v) is Lit or v in self.uniform for v in ins):  # fmt: skip
            if self.fold_uniform(e):
                return
        if prim.elementwise and not prim.nondiff:
            ins = self.scalars_in(e)
            e = Eqn(prim, ins, e.params, e.outvars, e.where, e.tag)
        rewritten = self.algebra(e)
        if rewritten is not None:
            what, to = rewritten
            if isinstance(to, Eqn):
                self.stats[what] += 1
                e = to
            else:
                self.alias(out, to, what)
                return
        self.emit(e)

    def fold_uniform(self, e: Eqn) -> bool:
        """An exact arithmetic operation on broadcast scalars: computed once, and broadcast
        (the same bits: IEEE arithmetic does not depend on where the operands sit)."""
        out = e.outvars[0].aval
        if out.weak_type:
            return False
        lits = [v if type(v) is Lit else self.uniform[v] for v in e.invars]
        with np.errstate(all="ignore"):
            val = impl_rules[e.prim](*[v.val for v in lits], **e.params)
        if np.result_type(val) != out.dtype:
            return False
        lit = Lit(out.dtype.type(val))
        b = Eqn(P.broadcast_to_p, [lit], {"shape": out.shape}, e.outvars, e.where, e.tag)
        self.uniform[e.outvars[0]] = lit
        self.stats["fold"] += 1
        self.emit(b)
        return True

    def scalars_in(self, e: Eqn) -> list:
        """Broadcast scalars used by an elementwise operation: the scalar itself, when the
        result keeps its shape and dtype."""
        ins = list(e.invars)
        for i, v in enumerate(ins):
            lit = self.uniform.get(v) if isinstance(v, Var) else None
            if lit is None or lit.aval.dtype != v.aval.dtype or lit.aval.weak_type:
                continue
            trial = ins[:i] + [lit] + ins[i + 1:]
            if _same(shape_rules[e.prim](*[t.aval for t in trial], **e.params),
                     e.outvars[0].aval):  # fmt: skip
                ins = trial
                self.stats["scalar broadcast"] += 1
        return ins

    def algebra(self, e: Eqn) -> tuple | None:
        prim, ins, p, out = e.prim, e.invars, e.params, e.outvars[0]
        av = out.aval
        src = self.defs.get(ins[0]) if ins and isinstance(ins[0], Var) else None
        if prim is P.mul_p:
            for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
                if _is_one(b) and isinstance(a, Var) and _same(a.aval, av):
                    return "x*1", a
        elif prim is P.div_p:
            if _is_one(ins[1]) and isinstance(ins[0], Var) and _same(ins[0].aval, av):
                return "x/1", ins[0]
        elif prim is P.neg_p:
            if src is not None and src.prim is P.neg_p and _same(src.invars[0].aval, av):
                return "neg(neg)", src.invars[0]
        elif prim in (P.reshape_p, P.broadcast_to_p):
            x = ins[0]
            if isinstance(x, Var) and _same(x.aval, av):
                return f"{prim} to the same shape", x
            if type(x) is Lit or (isinstance(x, Var) and x in self.uniform):
                self.uniform[out] = x if type(x) is Lit else self.uniform[x]
            if prim is P.reshape_p and src is not None and src.prim is P.reshape_p:
                return "reshape(reshape)", Eqn(prim, [src.invars[0]], p, e.outvars, e.where,
                                               e.tag)  # fmt: skip
        elif prim is P.transpose_p:
            if src is not None and src.prim is P.transpose_p:
                inner = src.params["axes"]
                axes = tuple(inner[a] for a in p["axes"])
                x = src.invars[0]
                if axes == tuple(range(len(axes))):
                    return "transpose(transpose)", x
                return "transpose(transpose)", Eqn(prim, [x], {"axes": axes}, e.outvars,
                                                   e.where, e.tag)  # fmt: skip
        return None

    def emit(self, e: Eqn, cse: bool = True) -> None:
        if cse:
            key = _key(e.prim, e.invars, e.params, e.tag)
            if key is not None:
                prev = self.seen.get(key)
                if prev is not None:
                    for o, q in zip(e.outvars, prev):
                        self.alias(o, q, "cse")
                    return
                self.seen[key] = e.outvars
        self.eqns.append(e)
        for o in e.outvars:
            self.defs[o] = e


def simplify(program: Program, stats: Stats | None = None) -> Program:
    """Constant folding, algebraic simplification and common-subexpression elimination in
    one forward sweep, then `dce`."""
    stats = stats if stats is not None else Stats()
    return dce(_Sweep(stats).run(program), stats)


# --- merge_outer: a sum of outer products, one matrix product --------------------------------


def _outer_factors(e: Eqn, defs: dict) -> tuple | None:
    """(a, b) when `e` is mul(a[:, None], b[None, :]) of two vectors (in either order)."""
    if e.prim is not P.mul_p or len(e.outvars[0].aval.shape) != 2:
        return None
    col = row = None
    for v in e.invars:
        d = defs.get(v) if isinstance(v, Var) else None
        if d is None or d.invars[0].aval.ndim != 1 or (
                d.prim is not P.getitem_p and d.prim is not P.reshape_p) or len(d.invars) != 1:
            return None  # fmt: skip
        n = d.invars[0].aval.shape[0]
        if d.outvars[0].aval.shape == (n, 1):
            col = d.invars[0]
        elif d.outvars[0].aval.shape == (1, n):
            row = d.invars[0]
    if col is None or row is None or col.aval.dtype != row.aval.dtype:
        return None
    return col, row


def merge_outer(program: Program, stats: Stats | None = None) -> Program:
    """``add(outer(a, b), outer(c, d))`` → ``matmul(stack([a, c], 1), stack([b, d], 0))``
    (and longer sums), when the products are used only by the sum."""
    stats = stats if stats is not None else Stats()
    n_uses = uses(program)
    defs = {o: e for e in program.eqns for o in e.outvars}
    replace: dict = {}  # the add equation -> the equations standing for it
    for e in program.eqns:
        if e.prim is not P.add_p:
            continue
        terms = []
        for v in e.invars:
            d = defs.get(v) if isinstance(v, Var) else None
            f = _outer_factors(d, defs) if d is not None and n_uses[v] == 1 else None
            terms.append(f)
        if None in terms or not _same(terms[0][0].aval, terms[1][0].aval) or \
                not _same(terms[0][1].aval, terms[1][1].aval):  # fmt: skip
            continue
        (a, b), (c, d) = terms
        m, n = a.aval.shape[0], b.aval.shape[0]
        dt = a.aval.dtype
        from chainrule.core.avals import ShapeDtypeStruct as S

        cols = [Var(S((m, 1), dt)), Var(S((m, 1), dt)), Var(S((m, 2), dt))]
        rows = [Var(S((1, n), dt)), Var(S((1, n), dt)), Var(S((2, n), dt))]
        new = [
            Eqn(P.reshape_p, [a], {"shape": (m, 1)}, [cols[0]], e.where, e.tag),
            Eqn(P.reshape_p, [c], {"shape": (m, 1)}, [cols[1]], e.where, e.tag),
            Eqn(P.concatenate_p, cols[:2], {"axis": 1, "sizes": (1, 1)}, [cols[2]], e.where,
                e.tag),
            Eqn(P.reshape_p, [b], {"shape": (1, n)}, [rows[0]], e.where, e.tag),
            Eqn(P.reshape_p, [d], {"shape": (1, n)}, [rows[1]], e.where, e.tag),
            Eqn(P.concatenate_p, rows[:2], {"axis": 0, "sizes": (1, 1)}, [rows[2]], e.where,
                e.tag),
            Eqn(P.matmul_p, [cols[2], rows[2]], {}, e.outvars, e.where, e.tag),
        ]  # fmt: skip
        if not _same(shape_rules[P.matmul_p](cols[2].aval, rows[2].aval), e.outvars[0].aval):
            continue
        replace[e] = new
        stats["merged outer products"] += 1
    if not replace:
        return program
    eqns = [x for e in program.eqns for x in replace.get(e, [e])]
    return dce(program.replace(eqns=eqns), stats)


def optimize(program: Program, stats: Stats | None = None, reorder: bool = True) -> Program:
    """The passes, in order: `simplify` (to a fixed point), `merge_outer` (when `reorder`
    allows order-changing rewrites)."""
    stats = stats if stats is not None else Stats()
    for _ in range(4):
        before = sum(stats.values())
        program = simplify(program, stats)
        if sum(stats.values()) == before:
            break
    if reorder:
        program = merge_outer(program, stats)
    return program
