"""Transposition rules: how a primitive that is linear in some operands maps a cotangent of
its result back to those operands.

For a linear operand, a primitive's VJP rule *is* its transpose: it maps the cotangent to
the operand without reading the operand's value (the save declarations of ``rules/vjp.py``
say so, and ``tests/test_rules.py`` checks it). So this table is made from the VJP rows, one
piece of code for one idea: ``transpose_rules[prim](ct, *operands, linear, **params)``
returns one cotangent per operand index in `linear` (operands not in `linear` are the known
constants, such as the other factor of a product).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from chainrule.core import primitives as P
from chainrule.rules.vjp import vjp_rules

#: transpose_rules[prim](ct, *operands, linear=(indices), **params) -> [ct per linear operand]
transpose_rules: dict[P.Primitive, Callable] = {}

#: operands in which each primitive is linear (when the others are constants)
LINEAR_IN: dict[P.Primitive, Any] = {}


def from_vjp(prim: P.Primitive) -> Callable:
    row = vjp_rules[prim]

    def rule(ct: Any, *operands: Any, linear: tuple, **params: Any) -> list:
        out = []
        for i in linear:
            if row.varargs:
                out.append(row.fn(i, ct, None, *operands, **params))
            else:
                out.append(row.rules[i](ct, None, *operands, **params))
        return out

    return rule


for _p in P.ALL:
    if _p.linear and _p in vjp_rules:
        transpose_rules[_p] = from_vjp(_p)
        n = _p.ndiff
        LINEAR_IN[_p] = "all" if n is None else tuple(range(n))
# bilinear: linear in one operand when the other is a constant
for _p, _which in ((P.mul_p, (0, 1)), (P.matmul_p, (0, 1)), (P.einsum_p, "one"),
                   (P.div_p, (0,))):  # fmt: skip
    transpose_rules[_p] = from_vjp(_p)
    LINEAR_IN[_p] = _which
LINEAR_IN[P.where_p] = (1, 2)
transpose_rules[P.where_p] = from_vjp(P.where_p)
