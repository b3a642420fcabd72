"""Pytrees: nested tuples, lists, dicts (and registered types) whose leaves are arrays.

>>> leaves, tree = tree_flatten({"a": (1.0, 2.0), "b": [3.0]})
>>> leaves
[1.0, 2.0, 3.0]
>>> tree_unflatten(tree, [x * 10 for x in leaves])
{'a': (10.0, 20.0), 'b': [30.0]}
"""

from __future__ import annotations

from typing import Any, NamedTuple
from collections.abc import Callable

_registry: dict[type, tuple[Callable, Callable]] = {}


def register_pytree_node(
    cls: type, flatten: Callable[[Any], tuple[list, Any]], unflatten: Callable[[Any, list], Any]
) -> None:
    """Teach the pytree functions a container type.

    `flatten(obj) -> (children, aux)`; `unflatten(aux, children) -> obj`.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ([p.a, p.b], None), lambda _, c: Pair(*c))
    >>> tree_leaves(Pair(1.0, (2.0, 3.0)))
    [1.0, 2.0, 3.0]
    """
    _registry[cls] = (flatten, unflatten)


register_pytree_node(tuple, lambda t: (list(t), None), lambda _, c: tuple(c))
register_pytree_node(list, lambda t: (list(t), None), lambda _, c: list(c))
register_pytree_node(
    dict,
    lambda d: ([d[k] for k in sorted(d)], tuple(sorted(d))),
    lambda keys, c: dict(zip(keys, c)),
)
register_pytree_node(type(None), lambda _: ([], None), lambda _, c: None)


class PyTreeDef(NamedTuple):
    """The structure of a pytree: its node type, auxiliary data and children (None for a leaf)."""

    kind: Any
    aux: Any
    children: tuple

    @property
    def num_leaves(self) -> int:
        if self.kind is None:
            return 1
        return sum(c.num_leaves for c in self.children)

    def __repr__(self) -> str:
        if self.kind is None:
            return "*"
        name = getattr(self.kind, "__name__", str(self.kind))
        return f"{name}({', '.join(map(repr, self.children))})"


_LEAF = PyTreeDef(None, None, ())


def _node_type(x: Any) -> Any:
    t = type(x)
    if t in _registry:
        return t
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # namedtuple
        return "namedtuple"
    return None


def tree_flatten(tree: Any) -> tuple[list, PyTreeDef]:
    """Leaves in a fixed order (dicts by sorted key) and the structure to rebuild the tree."""
    if type(tree) not in _registry and not isinstance(tree, tuple):
        return [tree], _LEAF
    leaves: list = []

    def rec(x: Any) -> PyTreeDef:
        kind = _node_type(x)
        if kind is None:
            leaves.append(x)
            return _LEAF
        if kind == "namedtuple":
            return PyTreeDef(kind, type(x), tuple(rec(c) for c in x))
        children, aux = _registry[kind][0](x)
        return PyTreeDef(kind, aux, tuple(rec(c) for c in children))

    return leaves, rec(tree)


def tree_unflatten(treedef: PyTreeDef, leaves: Any) -> Any:
    """Inverse of `tree_flatten`."""
    if treedef is _LEAF:
        return leaves[0]
    it = iter(leaves)

    def rec(td: PyTreeDef) -> Any:
        if td.kind is None:
            return next(it)
        children = [rec(c) for c in td.children]
        if td.kind == "namedtuple":
            return td.aux(*children)
        return _registry[td.kind][1](td.aux, children)

    return rec(treedef)


def tree_leaves(tree: Any) -> list:
    """The leaves of `tree`, in flattening order."""
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> PyTreeDef:
    """The structure of `tree`."""
    return tree_flatten(tree)[1]


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply `f` leafwise across `tree` and trees of the same structure.

    >>> tree_map(lambda a, b: a + b, (1, [2]), (10, [20]))
    (11, [22])
    """
    leaves, td = tree_flatten(tree)
    if td is _LEAF and not rest:
        return f(tree)
    others = [tree_flatten(r) for r in rest]
    for _, otd in others:
        if otd != td:
            raise ValueError(f"tree_map: structures differ: {td} and {otd}")
    return tree_unflatten(td, [f(*xs) for xs in zip(leaves, *(o[0] for o in others))])
