"""Pytrees: nested tuples, lists, dicts (and registered types) whose leaves are arrays.

A complete, pure-Python implementation of the public API of `jax.tree_util`, with the
same semantics: dicts flatten in sorted-key order, ``None`` is an empty node (no
children, not a leaf), namedtuples, ``OrderedDict`` and ``defaultdict`` are nodes, and
an object of an unregistered type is a leaf.

>>> leaves, tree = tree_flatten({"a": (1.0, 2.0), "b": [3.0]})
>>> leaves
[1.0, 2.0, 3.0]
>>> tree
PyTreeDef({'a': (*, *), 'b': [*]})
>>> tree_unflatten(tree, [x * 10 for x in leaves])
{'a': (10.0, 20.0), 'b': [30.0]}

Speed notes: flattening a single leaf is one dict look-up and a return (the structure
is the module-level singleton `_LEAF`, so callers may test ``treedef is _LEAF``), and
flattening recurses once per node, never once per leaf.
"""

from __future__ import annotations

import collections
import functools
import operator
import sys
import textwrap
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Typ = TypeVar("Typ", bound=type)
KeyEntry = Any
"""One step of a key path: usually a `SequenceKey`, `DictKey`, `GetAttrKey` or
`FlattenedIndexKey` (a custom ``flatten_with_keys`` may return any hashable object)."""
KeyPath = tuple[Any, ...]
"""A tuple of `KeyEntry` objects: where a leaf sits in its pytree."""

# ----------------------------------------------------------------------------------------
# Node kinds and the registry
# ----------------------------------------------------------------------------------------

# Codes of the node kinds the traversals handle inline (the first three share the
# "children are the elements of the sequence itself" path: `code < _DICT`).
_TUPLE, _LIST, _NAMEDTUPLE, _DICT, _NONE, _CUSTOM = range(6)


class _NodeKind:
    """How to take apart and rebuild one node type (one object per registered type)."""

    __slots__ = ("type", "code", "flatten", "unflatten", "flatten_with_keys")

    def __init__(self, type_, code, flatten=None, unflatten=None, flatten_with_keys=None):
        self.type = type_
        self.code = code
        self.flatten = flatten
        self.unflatten = unflatten
        self.flatten_with_keys = flatten_with_keys

    def __repr__(self) -> str:
        return f"_NodeKind({self.type.__name__})"


_kinds: dict[type, _NodeKind] = {}
_kinds_get = _kinds.get


def _namedtuple_kind(t: type) -> _NodeKind:
    """The kind of namedtuple class `t`, made (and cached in the registry) on first sight."""
    kind = _NodeKind(t, _NAMEDTUPLE)
    _kinds[t] = kind
    return kind


def _kind_of(x: Any) -> _NodeKind | None:
    """The node kind of `x`, or None when `x` is a leaf."""
    t = type(x)
    kind = _kinds_get(t)
    if kind is None and isinstance(x, tuple) and hasattr(t, "_fields"):
        kind = _namedtuple_kind(t)
    return kind


def _register(nodetype, code, flatten=None, unflatten=None, flatten_with_keys=None) -> None:
    old = _kinds_get(nodetype)
    if old is not None and old.code != _NAMEDTUPLE:
        raise ValueError(f"Duplicate custom PyTreeDef type registration for {nodetype}.")
    _kinds[nodetype] = _NodeKind(nodetype, code, flatten, unflatten, flatten_with_keys)


_register(tuple, _TUPLE)
_register(list, _LIST)
_register(dict, _DICT)
_register(type(None), _NONE)


def _dict_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        raise ValueError(
            "Comparator raised exception while sorting pytree dictionary keys."
        ) from None


def _too_deep(what: str) -> RecursionError:
    return RecursionError(
        f"{what}: the pytree is nested too deeply (more levels than Python's recursion "
        f"limit, {sys.getrecursionlimit()}, allows) or contains a reference cycle"
    )


# ----------------------------------------------------------------------------------------
# PyTreeDef
# ----------------------------------------------------------------------------------------


class PyTreeDef:
    """The structure of a pytree: its nodes (type and auxiliary data) with the leaves left out.

    Hashable and comparable with ``==``; made by `tree_flatten` / `tree_structure`.

    >>> td = tree_structure((1.0, {"a": 2.0, "b": None}))
    >>> td
    PyTreeDef((*, {'a': *, 'b': None}))
    >>> td.num_leaves, td.num_nodes
    (2, 5)
    >>> td.unflatten([10, 20])
    (10, {'a': 20, 'b': None})
    >>> td == tree_structure((3, {"a": 4, "b": None})), td == tree_structure((3, 4))
    (True, False)
    """

    __slots__ = ("_kind", "_aux", "_children", "_nl", "_nn", "_hash")

    def __init__(self, kind: _NodeKind | None, aux: Any, children: tuple, num_leaves: int):
        self._kind = kind
        self._aux = aux
        self._children = children
        self._nl = num_leaves

    # -- size --------------------------------------------------------------------------
    @property
    def num_leaves(self) -> int:
        """Number of leaves.

        >>> tree_structure([1, (2, None)]).num_leaves
        2
        """
        return self._nl

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves included (``None`` counts as one node with no leaves).

        >>> tree_structure([1, (2, None)]).num_nodes
        5
        """
        try:
            return self._nn
        except AttributeError:
            pass
        n = 0
        stack = [self]
        while stack:  # iterative: deep trees must not hit the recursion limit here
            td = stack.pop()
            n += 1
            stack.extend(td._children)
        self._nn = n
        return n

    # -- rebuilding --------------------------------------------------------------------
    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Build the pytree of this structure with the given leaves (inverse of flattening).

        >>> tree_structure({"x": 0, "y": (0, 0)}).unflatten([1, 2, 3])
        {'x': 1, 'y': (2, 3)}
        """
        if type(leaves) is not list and type(leaves) is not tuple:
            leaves = list(leaves)
        if len(leaves) != self._nl:
            _wrong_leaf_count(self, len(leaves))
        if self is _LEAF:
            return leaves[0]
        try:
            return _unflat(self, iter(leaves))
        except RecursionError:
            raise _too_deep("unflatten") from None

    def flatten_up_to(self, tree: Any) -> list[Any]:
        """Flatten `tree` only as far as this structure goes: each leaf of this structure
        takes the whole corresponding subtree of `tree`.

        Raises ValueError when `tree` does not have this structure as a prefix.

        >>> tree_structure((0, 0)).flatten_up_to(([1, 2], {"a": 3}))
        [[1, 2], {'a': 3}]
        >>> tree_structure((0, 0)).flatten_up_to((1, 2, 3))
        Traceback (most recent call last):
        ...
        ValueError: Tuple arity mismatch: 3 != 2; tuple: (1, 2, 3).
        """
        if self is _LEAF:
            return [tree]
        out: list = []
        try:
            _up_to(self, tree, out)
        except RecursionError:
            raise _too_deep("flatten_up_to") from None
        return out

    # -- inspection --------------------------------------------------------------------
    def children(self) -> list[PyTreeDef]:
        """The structures of the root's children.

        >>> tree_structure([(1, 2), 3, {"a": 4}]).children()
        [PyTreeDef((*, *)), PyTreeDef(*), PyTreeDef({'a': *})]
        """
        return list(self._children)

    def node_data(self) -> tuple[type, Any] | None:
        """``(node type, auxiliary data)`` of the root, or None for a leaf.

        >>> tree_structure({"b": 1, "a": 2}).node_data()
        (<class 'dict'>, ['a', 'b'])
        >>> tree_structure(1.0).node_data() is None
        True
        """
        kind = self._kind
        if kind is None:
            return None
        if kind.code == _DICT:
            return dict, list(self._aux)
        return kind.type, self._aux

    def compose(self, inner: PyTreeDef) -> PyTreeDef:
        """This structure with every leaf replaced by the structure `inner`.

        >>> tree_structure((0, 0)).compose(tree_structure([0, 0]))
        PyTreeDef(([*, *], [*, *]))
        """
        if not isinstance(inner, PyTreeDef):
            raise TypeError(f"compose expects a PyTreeDef, got {type(inner).__name__}")

        def rec(td: PyTreeDef) -> PyTreeDef:
            if td is _LEAF:
                return inner
            ch = []
            for c in td._children:
                ch.append(rec(c))
            return PyTreeDef(td._kind, td._aux, tuple(ch), td._nl * inner._nl)

        return rec(self)

    # -- comparison, hashing, printing --------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not PyTreeDef:
            return NotImplemented
        stack = [(self, other)]
        while stack:  # iterative, like num_nodes and hash
            a, b = stack.pop()
            if a is b:
                continue
            if (
                a._kind is not b._kind
                or a._nl != b._nl
                or len(a._children) != len(b._children)
                or not a._aux == b._aux
            ):
                return False
            stack.extend(zip(a._children, b._children))
        return True

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            pass
        items = []
        stack = [self]
        while stack:  # the nodes in preorder determine the structure
            td = stack.pop()
            items.append((td._kind, td._aux, len(td._children)))
            stack.extend(reversed(td._children))
        h = hash(tuple(items))
        self._hash = h
        return h

    def __repr__(self) -> str:
        return f"PyTreeDef({_repr(self)})"

    __str__ = __repr__

    def __copy__(self) -> PyTreeDef:
        return self  # immutable: copies keep `treedef is _LEAF` true

    def __deepcopy__(self, memo: Any) -> PyTreeDef:
        return self

    def __reduce__(self) -> tuple:
        if self is _LEAF:
            return (_leaf_treedef, ())
        return (_rebuild, (self._kind.type, self._aux, self._children))


_LEAF = PyTreeDef(None, None, (), 1)  # the structure of a lone leaf: one object, test with `is`
_NONE_DEF = PyTreeDef(_kinds[type(None)], None, (), 0)


def _leaf_treedef() -> PyTreeDef:
    return _LEAF


def _rebuild(nodetype: type, aux: Any, children: tuple) -> PyTreeDef:
    kind = _kinds_get(nodetype)
    if kind is None:
        if not (issubclass(nodetype, tuple) and hasattr(nodetype, "_fields")):
            raise ValueError(f"cannot unpickle a PyTreeDef: {nodetype} is not registered")
        kind = _namedtuple_kind(nodetype)
    if kind.code == _NONE:
        return _NONE_DEF
    return PyTreeDef(kind, aux, children, sum(c._nl for c in children))


def _wrong_leaf_count(td: PyTreeDef, got: int):
    if got < td._nl:
        raise ValueError(f"Too few leaves for PyTreeDef; expected {td._nl}, got {got}")
    raise ValueError(f"Too many leaves for PyTreeDef; expected {td._nl}, got {got}.")


def _repr(td: PyTreeDef) -> str:
    kind = td._kind
    if kind is None:
        return "*"
    code = kind.code
    parts = []
    for c in td._children:
        parts.append(_repr(c))
    if code == _TUPLE:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if code == _LIST:
        return "[" + ", ".join(parts) + "]"
    if code == _DICT:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(td._aux, parts)) + "}"
    if code == _NONE:
        return "None"
    if code == _NAMEDTUPLE:
        head = f"namedtuple[{kind.type.__name__}]"
    else:
        head = f"{kind.type.__name__}[{td._aux}]"
    return f"CustomNode({head}, [{', '.join(parts)}])"


# ----------------------------------------------------------------------------------------
# The traversals (one Python frame per node; leaves are handled inline)
# ----------------------------------------------------------------------------------------


def _flat(x: Any, kind: _NodeKind, leaves: list, is_leaf: Any) -> PyTreeDef:
    """Flatten node `x` of kind `kind`, appending its leaves; return its structure."""
    code = kind.code
    if code < _DICT:  # tuple, list, namedtuple
        children = x
        aux = None
    elif code == _DICT:
        aux = _dict_keys(x)
        children = [x[k] for k in aux]
    elif code == _NONE:
        return _NONE_DEF
    else:
        children, aux = kind.flatten(x)
    n0 = len(leaves)
    subs = []
    for c in children:
        if is_leaf is not None and is_leaf(c):
            leaves.append(c)
            subs.append(_LEAF)
            continue
        k = _kinds_get(type(c))
        if k is None:
            if not (isinstance(c, tuple) and hasattr(c, "_fields")):
                leaves.append(c)
                subs.append(_LEAF)
                continue
            k = _namedtuple_kind(type(c))
        subs.append(_flat(c, k, leaves, is_leaf))
    return PyTreeDef(kind, aux, tuple(subs), len(leaves) - n0)


def _leaves(x: Any, kind: _NodeKind, leaves: list, is_leaf: Any) -> None:
    """`_flat` without building the structure."""
    code = kind.code
    if code < _DICT:
        children = x
    elif code == _DICT:
        children = [x[k] for k in _dict_keys(x)]
    elif code == _NONE:
        return
    else:
        children = kind.flatten(x)[0]
    for c in children:
        if is_leaf is not None and is_leaf(c):
            leaves.append(c)
            continue
        k = _kinds_get(type(c))
        if k is None:
            if not (isinstance(c, tuple) and hasattr(c, "_fields")):
                leaves.append(c)
                continue
            k = _namedtuple_kind(type(c))
        _leaves(c, k, leaves, is_leaf)


def _unflat(td: PyTreeDef, it: Any) -> Any:
    vals = []
    for c in td._children:
        vals.append(next(it) if c is _LEAF else _unflat(c, it))
    kind = td._kind
    code = kind.code
    if code == _TUPLE:
        return tuple(vals)
    if code == _LIST:
        return vals
    if code == _DICT:
        return dict(zip(td._aux, vals))
    if code == _NONE:
        return None
    if code == _NAMEDTUPLE:
        return kind.type(*vals)
    return kind.unflatten(td._aux, tuple(vals))


_NONE_HINT = (
    "\n\nAs in JAX, None is an empty pytree node, not a prefix of non-None values. To map "
    "over None as if it were a leaf, write for example:\n"
    "  tree_map(lambda x, y: None if x is None else f(x, y), a, b, "
    "is_leaf=lambda x: x is None)"
)


def _up_to(td: PyTreeDef, x: Any, out: list) -> None:
    """Append to `out` the subtrees of `x` that sit at the leaves of structure `td`."""
    kind = td._kind
    code = kind.code
    n = len(td._children)
    if code == _TUPLE:
        if type(x) is not tuple:
            raise ValueError(f"Expected tuple, got {x!r}.")
        if len(x) != n:
            raise ValueError(f"Tuple arity mismatch: {len(x)} != {n}; tuple: {x!r}.")
        children = x
    elif code == _LIST:
        if type(x) is not list:
            raise ValueError(f"Expected list, got {x!r}.")
        if len(x) != n:
            raise ValueError(f"List arity mismatch: {len(x)} != {n}; list: {x!r}.")
        children = x
    elif code == _DICT:
        if type(x) is not dict:
            raise ValueError(f"Expected dict, got {x!r}.")
        keys = _dict_keys(x)
        if keys != td._aux:
            raise ValueError(
                f"Dict key mismatch; expected keys: {list(td._aux)}; present keys: {list(keys)}."
            )
        children = [x[k] for k in keys]
    elif code == _NONE:
        if x is not None:
            raise ValueError(f"Expected None, got {x!r}.{_NONE_HINT}")
        return
    elif code == _NAMEDTUPLE:
        if not (isinstance(x, tuple) and hasattr(x, "_fields")):
            raise ValueError(f"Expected named tuple, got {x!r}.")
        if type(x) is not kind.type:
            raise ValueError(
                f"Named tuple type mismatch: expected type: {kind.type!r}, tuple: {x!r}."
            )
        if len(x) != n:
            raise ValueError(f"Named tuple arity mismatch: {len(x)} != {n}; tuple: {x!r}.")
        children = x
    else:
        if type(x) is not kind.type:
            raise ValueError(
                f"Custom node type mismatch: expected type: {kind.type!r}, value: {x!r}."
            )
        children, aux = kind.flatten(x)
        children = tuple(children)
        if aux != td._aux:
            raise ValueError(f"Mismatch custom node data: {td._aux!r} != {aux!r}; value: {x!r}.")
        if len(children) != n:
            raise ValueError(
                f"Custom node arity mismatch: expected {n} children, got {len(children)}; "
                f"value: {x!r}."
            )
    for c, s in zip(children, td._children):
        if s is _LEAF:
            out.append(c)
        else:
            _up_to(s, c, out)


def _one_level_with_keys(x: Any, kind: _NodeKind) -> tuple[list, Any]:
    """``([(key, child), ...], aux)`` for node `x`; aux as in the node's structure."""
    code = kind.code
    if code < _NAMEDTUPLE:
        return [(SequenceKey(i), c) for i, c in enumerate(x)], None
    if code == _NAMEDTUPLE:
        return [(GetAttrKey(f), c) for f, c in zip(type(x)._fields, x)], None
    if code == _DICT:
        keys = _dict_keys(x)
        return [(DictKey(k), x[k]) for k in keys], keys
    if code == _NONE:
        return [], None
    if kind.flatten_with_keys is not None:
        pairs, aux = kind.flatten_with_keys(x)
        return list(pairs), aux
    children, aux = kind.flatten(x)
    return [(FlattenedIndexKey(i), c) for i, c in enumerate(children)], aux


def _flat_path(x: Any, kind: _NodeKind, path: tuple, out: list, is_leaf: Any) -> PyTreeDef:
    """`_flat` that records each leaf's key path: appends ``(path, leaf)`` to `out`."""
    if kind.code == _NONE:
        return _NONE_DEF
    pairs, aux = _one_level_with_keys(x, kind)
    n0 = len(out)
    subs = []
    for key, c in pairs:
        p = (*path, key)
        if is_leaf is not None and is_leaf(p, c):
            out.append((p, c))
            subs.append(_LEAF)
            continue
        k = _kind_of(c)
        if k is None:
            out.append((p, c))
            subs.append(_LEAF)
        else:
            subs.append(_flat_path(c, k, p, out, is_leaf))
    return PyTreeDef(kind, aux, tuple(subs), len(out) - n0)


# ----------------------------------------------------------------------------------------
# Flattening and rebuilding
# ----------------------------------------------------------------------------------------


def tree_flatten(
    tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], PyTreeDef]:
    """The leaves of `tree` (dicts in sorted-key order) and its structure.

    `is_leaf(x)`, called on every subtree from the root down, may return True to stop
    there and treat `x` (a whole subtree) as one leaf.

    >>> tree_flatten([1.0, (2.0, None), {"b": 3.0, "a": 4.0}])
    ([1.0, 2.0, 4.0, 3.0], PyTreeDef([*, (*, None), {'a': *, 'b': *}]))
    >>> tree_flatten([1.0, (2.0, 3.0)], is_leaf=lambda x: isinstance(x, tuple))
    ([1.0, (2.0, 3.0)], PyTreeDef([*, *]))
    """
    if is_leaf is None:
        kind = _kinds_get(type(tree))
        if kind is None:
            if not isinstance(tree, tuple) or not hasattr(tree, "_fields"):
                return [tree], _LEAF
            kind = _namedtuple_kind(type(tree))
    elif is_leaf(tree):
        return [tree], _LEAF
    else:
        kind = _kind_of(tree)
        if kind is None:
            return [tree], _LEAF
    leaves: list = []
    try:
        return leaves, _flat(tree, kind, leaves, is_leaf)
    except RecursionError:
        raise _too_deep("tree_flatten") from None


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a pytree from its structure and leaves (inverse of `tree_flatten`).

    >>> leaves, td = tree_flatten({"a": 1, "b": (2, 3)})
    >>> tree_unflatten(td, [x * 10 for x in leaves])
    {'a': 10, 'b': (20, 30)}
    >>> tree_unflatten(td, [1, 2])
    Traceback (most recent call last):
    ...
    ValueError: Too few leaves for PyTreeDef; expected 3, got 2
    """
    return treedef.unflatten(leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of `tree`, in flattening order.

    >>> tree_leaves({"b": [1, 2], "a": None, "c": 3})
    [1, 2, 3]
    """
    if is_leaf is None:
        kind = _kinds_get(type(tree))
        if kind is None:
            if not isinstance(tree, tuple) or not hasattr(tree, "_fields"):
                return [tree]
            kind = _namedtuple_kind(type(tree))
    elif is_leaf(tree):
        return [tree]
    else:
        kind = _kind_of(tree)
        if kind is None:
            return [tree]
    leaves: list = []
    try:
        _leaves(tree, kind, leaves, is_leaf)
    except RecursionError:
        raise _too_deep("tree_leaves") from None
    return leaves


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The structure of `tree`.

    >>> tree_structure((1.0, {"a": 2.0}))
    PyTreeDef((*, {'a': *}))
    """
    return tree_flatten(tree, is_leaf)[1]


# ----------------------------------------------------------------------------------------
# Mapping and reducing
# ----------------------------------------------------------------------------------------


def tree_map(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Apply `f` leafwise: ``f(x, *xs)`` for each leaf `x` of `tree`, where `xs` are the
    corresponding subtrees of `rest`.

    `tree` must be a prefix of each tree in `rest`: a leaf of `tree` matches a whole
    subtree of the others. A structure mismatch raises ValueError naming where the
    trees differ and both structures.

    >>> tree_map(lambda a, b: a + b, (1, [2]), (10, [20]))
    (11, [22])
    >>> tree_map(lambda x, sub: (x, sub), (1, 2), ([3, 4], {"a": 5}))
    ((1, [3, 4]), (2, {'a': 5}))
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if treedef is _LEAF:
        return f(tree, *rest)
    if not rest:
        return _unflat(treedef, iter([f(x) for x in leaves]))
    others = _up_to_all(treedef, tree, rest, _with_path(is_leaf), "tree_map")
    return _unflat(treedef, iter(list(map(f, leaves, *others))))


def _up_to_all(treedef: PyTreeDef, tree: Any, rest: tuple, is_leaf_kp: Any, fname: str) -> list:
    """``treedef.flatten_up_to(r)`` for each `r` in `rest`, with JAX's diagnosis on failure
    (`is_leaf_kp(path, x)` is the is_leaf that flattened `tree`, or None)."""
    others = []
    for i, r in enumerate(rest):
        try:
            others.append(treedef.flatten_up_to(r))
        except ValueError as e:
            raise _structure_error(fname, treedef, tree, r, i, is_leaf_kp, e) from None
    return others


def _with_path(is_leaf: Any) -> Any:
    return None if is_leaf is None else (lambda _, x: is_leaf(x))


class _NoInit:
    def __repr__(self) -> str:
        return "<no initializer>"


_NO_INIT: Any = _NoInit()


def tree_reduce(
    function: Callable[[Any, Any], Any],
    tree: Any,
    initializer: Any = _NO_INIT,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """``functools.reduce(function, tree_leaves(tree), initializer)``.

    >>> tree_reduce(lambda a, b: a + b, {"a": 1, "b": (2, 3)})
    6
    >>> tree_reduce(max, [], initializer=-1)
    -1
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INIT:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_reduce_associative(
    operation: Callable[[Any, Any], Any],
    tree: Any,
    *,
    identity: Any = _NO_INIT,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Reduce the leaves with an associative `operation`, as a balanced binary tree.

    `identity` is returned for a tree with no leaves (a TypeError if not given).

    >>> tree_reduce_associative(lambda a, b: a + b, [1, (2, 3), {"x": 4}])
    10
    """
    leaves = tree_leaves(tree, is_leaf)

    def rec(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return leaves[lo]
        mid = (lo + hi) // 2
        return operation(rec(lo, mid), rec(mid, hi))

    if not leaves:
        if identity is _NO_INIT:
            raise TypeError("Must specify identity for parallel reduction of empty sequence.")
        return identity
    return rec(0, len(leaves))


def tree_all(tree: Any, *, is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every leaf is truthy (True for a tree with no leaves).

    >>> tree_all([True, (1, "x")]), tree_all({"a": [0]}), tree_all(None)
    (True, False, True)
    """
    return all(tree_leaves(tree, is_leaf))


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef | None, pytree_to_transpose: Any
) -> Any:
    """Turn a tree of structure ``outer`` of trees of structure ``inner`` inside out.

    With `inner_treedef` None, the inner structure is taken from the first outer leaf.

    >>> outer, inner = tree_structure([0, 0]), tree_structure((0, 0))
    >>> tree_transpose(outer, inner, [(1, 2), (3, 4)])
    ([1, 3], [2, 4])
    """
    flat, treedef = tree_flatten(pytree_to_transpose)
    if inner_treedef is None:
        inner_treedef = tree_structure(outer_treedef.flatten_up_to(pytree_to_transpose)[0])
    inner_size = inner_treedef._nl
    outer_size = outer_treedef._nl
    if treedef._nl != inner_size * outer_size:
        expected = outer_treedef.compose(inner_treedef)
        raise TypeError(f"Mismatch\n{treedef}\n != \n{expected}")
    it = iter(flat)
    lol = [[next(it) for _ in range(inner_size)] for __ in range(outer_size)]
    subtrees = [outer_treedef.unflatten(col) for col in zip(*lol)]
    return inner_treedef.unflatten(subtrees)


def tree_broadcast(
    prefix_tree: Any, full_tree: Any, is_leaf: Callable[[Any], bool] | None = None
) -> Any:
    """`full_tree`'s structure, each leaf taken from the leaf of `prefix_tree` above it.

    >>> tree_broadcast((1, 2), ((3, 4), [5, {"a": 6}]))
    ((1, 1), [2, {'a': 2}])
    """
    result: list = []
    prefix_leaves, prefix_def = tree_flatten(prefix_tree, is_leaf)
    subtrees = (
        [full_tree]
        if prefix_def is _LEAF
        else _up_to_all(
            prefix_def, prefix_tree, (full_tree,), _with_path(is_leaf), "tree_broadcast"
        )[0]
    )
    for x, sub in zip(prefix_leaves, subtrees):
        result.extend([x] * tree_structure(sub)._nl)
    return tree_structure(full_tree).unflatten(result)


# ----------------------------------------------------------------------------------------
# Structure errors (JAX's messages, plus both structures)
# ----------------------------------------------------------------------------------------


def _key_value(k: Any) -> Any:
    for attr in ("idx", "key", "name"):
        if hasattr(k, attr):
            return getattr(k, attr)
    return k


def _prefix_error(path: tuple, prefix: Any, full: Any, is_leaf_kp: Any) -> Callable | None:
    """The first place where `prefix` is not a tree prefix of `full`, as a function of the
    prefix tree's name that makes the message; None when no difference is found."""
    if is_leaf_kp is not None and is_leaf_kp(path, prefix):
        return None
    pkind = _kind_of(prefix)
    if pkind is None:  # a leaf is a prefix of anything
        return None
    where = lambda name: f"    {name}{keystr(path)}\n"
    if type(prefix) is not type(full):
        return lambda name: (
            "pytree structure error: different types at key path\n"
            + where(name)
            + f"At that key path, the prefix pytree {name} has a subtree of type\n"
            f"    {type(prefix)}\n"
            "but at the same key path the full pytree has a subtree of different type\n"
            f"    {type(full)}."
        )
    p_pairs, p_meta = _one_level_with_keys(prefix, pkind)
    f_pairs, f_meta = _one_level_with_keys(full, pkind)
    if pkind.code == _NAMEDTUPLE:
        p_meta = f_meta = type(prefix)
    if isinstance(prefix, (list, tuple)) and len(prefix) != len(full):
        ty = type(prefix).__name__
        return lambda name: (
            f"pytree structure error: different lengths of {ty} at key path\n"
            + where(name)
            + f"At that key path, the prefix pytree {name} has a subtree of type {ty} of "
            f"length {len(prefix)}, but the full pytree has a subtree of the same type but "
            f"of length {len(full)}."
        )
    p_keys = [k for k, _ in p_pairs]
    f_keys = [k for k, _ in f_pairs]
    if len(p_pairs) != len(f_pairs):
        try:
            diff = " ".join(str(_key_value(k)) for k in set(p_keys) ^ set(f_keys))
        except TypeError:
            diff = None
        return lambda name: (
            "pytree structure error: different numbers of pytree children at key path\n"
            + where(name)
            + f"At that key path, the prefix pytree {name} has a subtree of type\n"
            f"    {type(prefix)}\n"
            f"with {len(p_keys)} child keys\n"
            f"    {' '.join(str(_key_value(k)) for k in p_keys)}\n"
            "but at the same key path the full pytree has a subtree of the same type but "
            f"with {len(f_keys)} child keys\n"
            f"    {' '.join(str(_key_value(k)) for k in f_keys)}"
            + ("" if diff is None else f"\nso the symmetric difference on key sets is\n    {diff}")
        )
    if p_meta != f_meta:
        p_str, f_str = str(p_meta), str(f_meta)
        import difflib

        diff = textwrap.indent(
            "\n".join(difflib.ndiff(p_str.splitlines(), f_str.splitlines())), prefix="    "
        )
        return lambda name: (
            "pytree structure error: different pytree metadata at key path\n"
            + where(name)
            + f"At that key path, the prefix pytree {name} has a subtree of type\n"
            f"    {type(prefix)}\n"
            f"with metadata\n    {p_str}\n"
            "but at the same key path the full pytree has a subtree of the same type but "
            f"with metadata\n    {f_str}\n"
            f"so the diff in the metadata at these pytree nodes is\n{diff}"
        )
    for (k, pc), (_, fc) in zip(p_pairs, f_pairs):
        err = _prefix_error((*path, k), pc, fc, is_leaf_kp)
        if err is not None:
            return err
    return None


def _structure_error(
    fname: str, treedef: PyTreeDef, tree: Any, other: Any, i: int, is_leaf_kp: Any, e: Exception
) -> ValueError:
    name = f"{fname} tree"
    try:
        make = _prefix_error((), tree, other, is_leaf_kp)
    except Exception:  # the diagnosis itself failed: fall back on flatten_up_to's message
        make = None
    msg = make(name) if make is not None else f"pytree structure error: {e}"
    try:
        other_def = repr(tree_structure(other))
    except Exception as e2:  # e.g. a reference cycle
        other_def = f"<unavailable: {e2}>"
    return ValueError(
        f"{msg}\nThe prefix pytree {name} has structure\n    {treedef}\n"
        f"and the full pytree ({fname} rest[{i}]) has structure\n    {other_def}"
    )


# ----------------------------------------------------------------------------------------
# Registering node types
# ----------------------------------------------------------------------------------------


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_with_keys_func: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Hashable]]
    | None = None,
) -> None:
    """Teach the pytree functions a container type.

    ``flatten_func(obj) -> (children, aux_data)``; ``unflatten_func(aux_data, children)
    -> obj`` (children arrive as a tuple); aux_data must be hashable and comparable.
    The optional ``flatten_with_keys_func(obj) -> (((key, child), ...), aux_data)`` names
    the children in key paths. Registering a type twice raises ValueError. The exact type
    is registered: subclasses are not nodes unless registered too.

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> tree_leaves(Pair(1.0, (2.0, 3.0)))
    [1.0, 2.0, 3.0]
    """
    if not isinstance(nodetype, type):
        raise TypeError(f"register_pytree_node expects a type, got {nodetype!r}")
    _register(nodetype, _CUSTOM, flatten_func, unflatten_func, flatten_with_keys_func)


def register_pytree_node_class(cls: Typ) -> Typ:
    """Class decorator: register `cls` via its ``tree_flatten`` method and its
    ``tree_unflatten(aux_data, children)`` classmethod.

    >>> @register_pytree_node_class
    ... class Box:
    ...     def __init__(self, x, tag): self.x, self.tag = x, tag
    ...     def tree_flatten(self): return (self.x,), self.tag
    ...     @classmethod
    ...     def tree_unflatten(cls, tag, children): return cls(children[0], tag)
    >>> tree_map(lambda v: v + 1, Box(1, "t")).x
    2
    """
    register_pytree_node(cls, operator.methodcaller("tree_flatten"), cls.tree_unflatten)
    return cls


def register_pytree_with_keys(
    nodetype: type,
    flatten_with_keys: Callable[[Any], tuple[Iterable[tuple[Any, Any]], Hashable]],
    unflatten_func: Callable[[Any, Iterable[Any]], Any],
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]] | None = None,
) -> None:
    """Register a container type whose flatten function names its children:
    ``flatten_with_keys(obj) -> (((key, child), ...), aux_data)``.

    `flatten_func`, optional, is a faster key-less equivalent (same order, same aux).

    >>> class Two:
    ...     def __init__(self, x, y): self.x, self.y = x, y
    >>> register_pytree_with_keys(
    ...     Two,
    ...     lambda t: (((GetAttrKey("x"), t.x), (GetAttrKey("y"), t.y)), None),
    ...     lambda _, c: Two(*c))
    >>> [keystr(p) for p, _ in tree_leaves_with_path(Two(1, [2]))]
    ['.x', '.y[0]']
    """
    if flatten_func is None:

        def flatten_func(tree: Any) -> tuple[list, Any]:
            pairs, aux = flatten_with_keys(tree)
            return [c for _, c in pairs], aux

    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_with_keys_class(cls: Typ) -> Typ:
    """Class decorator: register `cls` via its ``tree_flatten_with_keys`` method (and
    ``tree_flatten`` if defined) and its ``tree_unflatten`` classmethod.

    >>> @register_pytree_with_keys_class
    ... class Special:
    ...     def __init__(self, x, y): self.x, self.y = x, y
    ...     def tree_flatten_with_keys(self):
    ...         return ((GetAttrKey("x"), self.x), (GetAttrKey("y"), self.y)), None
    ...     @classmethod
    ...     def tree_unflatten(cls, aux, children): return cls(*children)
    >>> [keystr(p) for p, _ in tree_leaves_with_path(Special(1, 2))]
    ['.x', '.y']
    """
    flatten_func = operator.methodcaller("tree_flatten") if hasattr(cls, "tree_flatten") else None
    register_pytree_with_keys(
        cls, operator.methodcaller("tree_flatten_with_keys"), cls.tree_unflatten, flatten_func
    )
    return cls


def register_dataclass(
    nodetype: Typ,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
    drop_fields: Sequence[str] = (),
) -> Typ:
    """Register a dataclass-like type: `data_fields` are children, `meta_fields` static
    aux data; rebuilt with ``nodetype(**fields)``.

    On a dataclass both lists may be left out: fields declared with
    ``field(metadata=dict(static=True))`` are meta fields, the others data fields.
    Usable as a decorator.

    >>> from dataclasses import dataclass, field
    >>> @register_dataclass
    ... @dataclass
    ... class Layer:
    ...     w: float
    ...     b: float
    ...     name: str = field(default="dense", metadata=dict(static=True))
    >>> tree_flatten(Layer(1.0, 2.0))
    ([1.0, 2.0], PyTreeDef(CustomNode(Layer[('dense',)], [*, *])))
    """
    import dataclasses

    if data_fields is None or meta_fields is None:
        if (data_fields is None) != (meta_fields is None):
            raise TypeError(
                "register_dataclass: data_fields and meta_fields must both be specified"
                f" when either is specified. Got {data_fields=} {meta_fields=}."
            )
        if not dataclasses.is_dataclass(nodetype):
            raise TypeError(
                "register_dataclass: data_fields and meta_fields are required when"
                f" nodetype is not a dataclass. Got {nodetype=}."
            )
        fields = [f for f in dataclasses.fields(nodetype) if f.name not in drop_fields]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    if dataclasses.is_dataclass(nodetype):
        init_fields = {f.name for f in dataclasses.fields(nodetype) if f.init}
        init_fields.difference_update(drop_fields)
        if {*meta_fields, *data_fields} != init_fields:
            msg = (
                "data_fields and meta_fields must include all dataclass fields with"
                " ``init=True`` and only them."
            )
            if missing := init_fields - {*meta_fields, *data_fields}:
                msg += (
                    f" Missing fields: {missing}. Add them to drop_fields to suppress this error."
                )
            if unexpected := {*meta_fields, *data_fields} - init_fields:
                msg += f" Unexpected fields: {unexpected}."
            raise ValueError(msg)
    if overlap := set(data_fields) & set(meta_fields):
        raise ValueError(
            f"data_fields and meta_fields must not overlap. Overlapping fields: {overlap}."
        )
    data_keys = tuple(GetAttrKey(n) for n in data_fields)

    def flatten_func(x: Any) -> tuple[tuple, tuple]:
        return (
            tuple(getattr(x, n) for n in data_fields),
            tuple(getattr(x, n) for n in meta_fields),
        )

    def flatten_with_keys(x: Any) -> tuple[tuple, tuple]:
        return (
            tuple((k, getattr(x, n)) for k, n in zip(data_keys, data_fields)),
            tuple(getattr(x, n) for n in meta_fields),
        )

    def unflatten_func(meta: tuple, data: Iterable[Any]) -> Any:
        return nodetype(**dict(zip(meta_fields, meta)), **dict(zip(data_fields, data)))

    register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)
    return nodetype


def register_static(cls: Typ) -> Typ:
    """Register `cls` as a node with no children: instances are kept whole as aux data
    (so they must be hashable).

    >>> @register_static
    ... class Mode(str):
    ...     pass
    >>> tree_flatten([1.0, Mode("train")])
    ([1.0], PyTreeDef([*, CustomNode(Mode[train], [])]))
    """
    register_pytree_with_keys(cls, lambda obj: ((), obj), lambda obj, _: obj)
    return cls


def _flatten_defaultdict_with_keys(d: collections.defaultdict) -> tuple[tuple, tuple]:
    keys = _dict_keys(d)
    return tuple((DictKey(k), d[k]) for k in keys), (d.default_factory, keys)


register_pytree_node(
    collections.OrderedDict,
    lambda d: (tuple(d.values()), tuple(d)),
    lambda keys, values: collections.OrderedDict(zip(keys, values)),
    lambda d: (tuple((DictKey(k), v) for k, v in d.items()), tuple(d)),
)


def _flatten_defaultdict(d: collections.defaultdict) -> tuple[tuple, tuple]:
    keys = _dict_keys(d)
    return tuple(d[k] for k in keys), (d.default_factory, keys)


register_pytree_node(
    collections.defaultdict,
    _flatten_defaultdict,
    lambda aux, values: collections.defaultdict(aux[0], zip(aux[1], values)),
    _flatten_defaultdict_with_keys,
)


# ----------------------------------------------------------------------------------------
# Small helpers on structures and nodes
# ----------------------------------------------------------------------------------------


def treedef_tuple(treedefs: Iterable[PyTreeDef]) -> PyTreeDef:
    """The structure of a tuple whose children have the given structures.

    >>> treedef_tuple([tree_structure(1), tree_structure([1, 2])])
    PyTreeDef((*, [*, *]))
    """
    children = tuple(treedefs)
    return PyTreeDef(_kinds[tuple], None, children, sum(c._nl for c in children))


def treedef_children(treedef: PyTreeDef) -> list[PyTreeDef]:
    """The structures of the root's children (``treedef.children()``).

    >>> treedef_children(tree_structure({"a": (1, 2), "b": 3}))
    [PyTreeDef((*, *)), PyTreeDef(*)]
    """
    return treedef.children()


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """Whether the structure has a single node (a leaf, or an empty node like None).

    >>> treedef_is_leaf(tree_structure(1.0)), treedef_is_leaf(tree_structure([1.0]))
    (True, False)
    """
    return treedef.num_nodes == 1


def all_leaves(iterable: Iterable[Any], is_leaf: Callable[[Any], bool] | None = None) -> bool:
    """Whether every element of `iterable` is a leaf.

    >>> all_leaves([1.0, "a"]), all_leaves([1.0, (2.0,)]), all_leaves([None])
    (True, False, False)
    """
    if is_leaf is None:
        return all(_kind_of(x) is None for x in iterable)
    items = list(iterable)
    leaves = tree_leaves(items, is_leaf)
    return len(leaves) == len(items) and all(a is b for a, b in zip(items, leaves))


def is_tree_node(typ: type) -> bool:
    """Whether `typ` is a pytree node type (built in, registered, or a namedtuple).

    >>> is_tree_node(dict), is_tree_node(type(None)), is_tree_node(float)
    (True, True, False)
    """
    return typ in _kinds or (
        isinstance(typ, type) and issubclass(typ, tuple) and hasattr(typ, "_fields")
    )


def flatten_one_level(tree: Any) -> tuple[Iterable[Any], Hashable]:
    """The children and aux data of the node `tree` (ValueError for a leaf).

    >>> flatten_one_level({"a": [1, 2], "b": {"c": 3}})
    (([1, 2], {'c': 3}), ('a', 'b'))
    """
    kind = _kind_of(tree)
    if kind is None:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    code = kind.code
    if code < _NAMEDTUPLE:
        return tree, None
    if code == _NAMEDTUPLE:
        return list(tree), type(tree)
    if code == _DICT:
        keys = _dict_keys(tree)
        return tuple(tree[k] for k in keys), keys
    if code == _NONE:
        return (), None
    return kind.flatten(tree)


def flatten_one_level_with_keys(tree: Any) -> tuple[Iterable[tuple[Any, Any]], Hashable]:
    """Like `flatten_one_level`, each child paired with its key.

    >>> flatten_one_level_with_keys([1, 2])
    ([(SequenceKey(idx=0), 1), (SequenceKey(idx=1), 2)], None)
    """
    kind = _kind_of(tree)
    if kind is None:
        raise ValueError(f"can't tree-flatten type: {type(tree)}")
    pairs, aux = _one_level_with_keys(tree, kind)
    if kind.code == _NAMEDTUPLE:
        aux = type(tree)
    return pairs, aux


# ----------------------------------------------------------------------------------------
# Key paths
# ----------------------------------------------------------------------------------------


class _Key:
    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def _value(self) -> Any:
        return getattr(self, self.__match_args__[0])

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._value() == other._value()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__match_args__[0]}={self._value()!r})"

    def __reduce__(self) -> tuple:
        return (type(self), (self._value(),))


class SequenceKey(_Key):
    """Key of a tuple or list element: ``str`` gives ``[0]``.

    >>> SequenceKey(0), str(SequenceKey(0))
    (SequenceKey(idx=0), '[0]')
    """

    __slots__ = ("idx",)
    __match_args__ = ("idx",)

    def __init__(self, idx: int):
        self.idx = idx

    def __str__(self) -> str:
        return f"[{self.idx!r}]"


class DictKey(_Key):
    """Key of a dict entry: ``str`` gives ``['a']``.

    >>> DictKey("a"), str(DictKey("a"))
    (DictKey(key='a'), "['a']")
    """

    __slots__ = ("key",)
    __match_args__ = ("key",)

    def __init__(self, key: Hashable):
        self.key = key

    def __str__(self) -> str:
        return f"[{self.key!r}]"


class GetAttrKey(_Key):
    """Key of an attribute (namedtuple or dataclass field): ``str`` gives ``.name``.

    >>> GetAttrKey("w"), str(GetAttrKey("w"))
    (GetAttrKey(name='w'), '.w')
    """

    __slots__ = ("name",)
    __match_args__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __str__(self) -> str:
        return f".{self.name}"


class FlattenedIndexKey(_Key):
    """Key of the i-th child of a custom node registered without keys.

    >>> FlattenedIndexKey(1), str(FlattenedIndexKey(1))
    (FlattenedIndexKey(key=1), '[<flat index 1>]')
    """

    __slots__ = ("key",)
    __match_args__ = ("key",)

    def __init__(self, key: int):
        self.key = key

    def __str__(self) -> str:
        return f"[<flat index {self.key}>]"


def keystr(keys: KeyPath, *, simple: bool = False, separator: str = "") -> str:
    """A key path as a string: ``str`` of each key, joined by `separator`; with
    ``simple=True`` only the bare index, key or name of each.

    >>> path = (DictKey("a"), SequenceKey(0), GetAttrKey("b"))
    >>> keystr(path), keystr(path, simple=True, separator="/")
    ("['a'][0].b", 'a/0/b')
    """
    if simple:
        return separator.join(str(_key_value(k)) if isinstance(k, _Key) else str(k) for k in keys)
    return separator.join(map(str, keys))


def tree_flatten_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> tuple[list[tuple[KeyPath, Any]], PyTreeDef]:
    """Like `tree_flatten`, each leaf paired with its key path.

    With ``is_leaf_takes_path=True``, `is_leaf` is called as ``is_leaf(path, x)``.

    >>> pairs, td = tree_flatten_with_path({"a": [1, 2], "b": 3})
    >>> [(keystr(p), x) for p, x in pairs]
    [("['a'][0]", 1), ("['a'][1]", 2), ("['b']", 3)]
    """
    is_leaf_kp = is_leaf
    if is_leaf is not None and not is_leaf_takes_path:
        is_leaf_kp = lambda _, x: is_leaf(x)
    if is_leaf_kp is not None and is_leaf_kp((), tree):
        return [((), tree)], _LEAF
    kind = _kind_of(tree)
    if kind is None:
        return [((), tree)], _LEAF
    out: list = []
    try:
        return out, _flat_path(tree, kind, (), out, is_leaf_kp)
    except RecursionError:
        raise _too_deep("tree_flatten_with_path") from None


def tree_leaves_with_path(
    tree: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> list[tuple[KeyPath, Any]]:
    """The ``(key path, leaf)`` pairs of `tree`.

    >>> [(keystr(p), x) for p, x in tree_leaves_with_path([1, (2,)])]
    [('[0]', 1), ('[1][0]', 2)]
    """
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


def tree_map_with_path(
    f: Callable[..., Any],
    tree: Any,
    *rest: Any,
    is_leaf: Callable[..., bool] | None = None,
    is_leaf_takes_path: bool = False,
) -> Any:
    """Like `tree_map`, with ``f(path, x, *xs)`` given each leaf's key path.

    >>> tree_map_with_path(lambda p, x: f"{keystr(p)}={x}", {"a": 1, "b": (2,)})
    {'a': "['a']=1", 'b': ("['b'][0]=2",)}
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    if treedef is _LEAF:
        return f((), tree, *rest)
    il = is_leaf if is_leaf_takes_path else _with_path(is_leaf)
    others = _up_to_all(treedef, tree, rest, il, "tree_map_with_path")
    return _unflat(treedef, iter([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)]))


# ----------------------------------------------------------------------------------------
# Partial
# ----------------------------------------------------------------------------------------


class _HashableCallableShim:
    """Wraps a `functools.partial` given to `Partial`, so that the two do not merge."""

    def __init__(self, fun: Callable):
        self.fun = fun

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return self.fun(*args, **kw)

    def __hash__(self) -> int:
        return hash(self.fun)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _HashableCallableShim):
            return self.fun == other.fun
        return self.fun == other

    def __repr__(self) -> str:
        return f"_HashableCallableShim({self.fun!r})"


class Partial(functools.partial):
    """A `functools.partial` that is a pytree: the function is static aux data, the bound
    positional and keyword arguments are children.

    Equality and hashing are `functools.partial`'s (by identity), as in JAX; the
    structures of two Partials of the same function are equal.

    >>> add = Partial(lambda a, b: a + b, 1.0)
    >>> add(2.0)
    3.0
    >>> tree_leaves(add)
    [1.0]
    >>> tree_map(lambda x: 10 * x, add)(2.0)
    12.0
    """

    def __new__(klass, func: Callable, *args: Any, **kw: Any) -> Partial:
        # functools.partial merges a partial `func` into the new one; box it so that exactly
        # the arguments given here are the children.
        if isinstance(func, functools.partial):
            original = func
            func = _HashableCallableShim(original)
            out = super().__new__(klass, func, *args, **kw)
            func.func = original.func
            func.args = original.args
            func.keywords = original.keywords
            return out
        return super().__new__(klass, func, *args, **kw)


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, xs: Partial(func, *xs[0], **xs[1]),
)
