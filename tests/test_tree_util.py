"""chainrule.tree_util: the public API of jax.tree_util, with JAX's semantics."""

import collections
import copy
import dataclasses
import functools
import pickle
from typing import NamedTuple

import numpy as np
import pytest

import chainrule.tree_util as tu
from chainrule.core import pytree
from chainrule.core.pytree import _LEAF
from chainrule.tree_util import (
    DictKey, FlattenedIndexKey, GetAttrKey, Partial, SequenceKey, keystr,
    register_dataclass, register_pytree_node, register_pytree_node_class,
    register_pytree_with_keys, tree_flatten, tree_flatten_with_path, tree_leaves,
    tree_leaves_with_path, tree_map, tree_map_with_path, tree_structure, tree_unflatten,
)  # fmt: skip


class Point(NamedTuple):
    x: object
    y: object


Pair = collections.namedtuple("Pair", "first second")


class Opaque:
    """An unregistered type: a leaf."""


class Box:
    def __init__(self, value, tag):
        self.value, self.tag = value, tag


register_pytree_node(Box, lambda b: ((b.value,), b.tag), lambda tag, ch: Box(ch[0], tag))


@register_pytree_node_class
class Linear:
    def __init__(self, w, b, name="lin"):
        self.w, self.b, self.name = w, b, name

    def tree_flatten(self):
        return (self.w, self.b), self.name

    @classmethod
    def tree_unflatten(cls, name, children):
        return cls(*children, name=name)


@register_dataclass
@dataclasses.dataclass
class Params:
    w: object
    b: object
    act: str = dataclasses.field(default="relu", metadata=dict(static=True))


def paths(tree, **kw):
    return [keystr(p) for p, _ in tree_leaves_with_path(tree, **kw)]


# ------------------------------------------------------------------- the module


def test_tree_util_exports_every_public_name():
    assert len(tu.__all__) == len(set(tu.__all__)) == 35
    for name in tu.__all__:
        assert getattr(tu, name) is getattr(pytree, name)


def test_a_leaf_flattens_to_the_leaf_singleton():
    x = np.ones(3)
    leaves, td = tree_flatten(x)
    assert leaves == [x] and leaves[0] is x and td is _LEAF
    assert tree_structure(1.0) is _LEAF and tree_structure(Opaque()) is _LEAF
    assert tree_structure((1, 2), is_leaf=lambda t: isinstance(t, tuple)) is _LEAF
    assert tree_structure([x, (x,)]).children()[0] is _LEAF
    assert tree_unflatten(_LEAF, [x]) is x
    assert copy.deepcopy(_LEAF) is _LEAF and pickle.loads(pickle.dumps(_LEAF)) is _LEAF


def test_tuple_list_and_dict_with_sorted_keys():
    tree = {"b": [1, 2], "a": (3, {"d": 4, "c": 5})}
    leaves, td = tree_flatten(tree)
    assert leaves == [3, 5, 4, 1, 2]
    assert repr(td) == "PyTreeDef({'a': (*, {'c': *, 'd': *}), 'b': [*, *]})"
    back = tree_unflatten(td, leaves)
    assert back == tree and list(back) == ["a", "b"]  # rebuilt in sorted order
    assert type(back["a"]) is tuple and type(back["b"]) is list
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure(((), [], {}))) == "PyTreeDef(((), [], {}))"


def test_none_is_an_empty_node_not_a_leaf():
    leaves, td = tree_flatten([1, None, {"a": None}])
    assert leaves == [1]
    assert repr(td) == "PyTreeDef([*, None, {'a': None}])"
    assert tree_unflatten(td, [7]) == [7, None, {"a": None}]
    none = tree_structure(None)
    assert repr(none) == "PyTreeDef(None)" and none is not _LEAF
    assert (none.num_leaves, none.num_nodes) == (0, 1)
    assert tree_leaves(None) == [] and tree_map(lambda x: x + 1, (1, None)) == (2, None)
    assert tu.treedef_is_leaf(none) and tu.is_tree_node(type(None))
    # is_leaf can make None a leaf
    assert tree_leaves([1, None], is_leaf=lambda x: x is None) == [1, None]


def test_namedtuples_keep_field_order_and_type():
    p = Point(x=2.0, y=(1.0, None))
    leaves, td = tree_flatten(p)
    assert leaves == [2.0, 1.0]
    assert repr(td) == "PyTreeDef(CustomNode(namedtuple[Point], [*, (*, None)]))"
    back = tree_unflatten(td, [5.0, 6.0])
    assert type(back) is Point and back == Point(5.0, (6.0, None))
    assert paths(p) == [".x", ".y[0]"]
    assert tree_structure(Point(1, 2)) != tree_structure(Pair(1, 2)) != tree_structure((1, 2))
    assert tree_map(lambda v: v * 10, Pair(1, 2)) == Pair(10, 20)


def test_ordereddict_keeps_insertion_order():
    od = collections.OrderedDict([("b", 1), ("a", 2)])
    leaves, td = tree_flatten(od)
    assert leaves == [1, 2]
    assert repr(td) == "PyTreeDef(CustomNode(OrderedDict[('b', 'a')], [*, *]))"
    back = tree_unflatten(td, [10, 20])
    assert type(back) is collections.OrderedDict and list(back.items()) == [("b", 10), ("a", 20)]
    assert tree_structure(od) != tree_structure(collections.OrderedDict([("a", 1), ("b", 2)]))
    assert paths(od) == ["['b']", "['a']"]


def test_defaultdict_sorts_keys_and_keeps_its_factory():
    dd = collections.defaultdict(list, {"b": 1, "a": 2})
    leaves, td = tree_flatten(dd)
    assert leaves == [2, 1]
    assert repr(td) == "PyTreeDef(CustomNode(defaultdict[(<class 'list'>, ('a', 'b'))], [*, *]))"
    back = tree_unflatten(td, [20, 10])
    assert type(back) is collections.defaultdict and back.default_factory is list
    assert dict(back) == {"a": 20, "b": 10}
    assert back["new"] == []  # the factory still works
    assert paths(dd) == ["['a']", "['b']"]


def test_unregistered_objects_and_subclasses_are_leaves():
    o = Opaque()

    class MyTuple(tuple):
        pass

    class MyDict(dict):
        pass

    for leaf in [o, MyTuple((1, 2)), MyDict(a=1), "str", b"bytes", 3, np.float64(1.0), {1, 2}]:
        leaves, td = tree_flatten([leaf])
        assert leaves == [leaf] and leaves[0] is leaf and td == tree_structure([0])
    assert not tu.is_tree_node(MyTuple) and tu.is_tree_node(Point) and tu.is_tree_node(dict)


def test_unsortable_dict_keys_raise_like_jax():
    with pytest.raises(ValueError, match="Comparator raised exception while sorting"):
        tree_flatten({1: "a", "b": 2})
    assert tree_leaves({2: "x", 1: "y"}) == ["y", "x"]


# ------------------------------------------------------------------- PyTreeDef


def test_treedef_equality_hash_and_counts():
    a = tree_structure((1, {"a": 2, "b": [3, None]}))
    b = tree_structure(("x", {"a": "y", "b": ["z", None]}))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != tree_structure((1, {"a": 2, "c": [3, None]}))
    assert a != tree_structure((1, {"a": 2, "b": (3, None)}))
    assert a != tree_structure([1, {"a": 2, "b": [3, None]}])
    assert (a == "not a treedef") is False
    assert (a.num_leaves, a.num_nodes) == (3, 7)
    assert a.children() == [_LEAF, tree_structure({"a": 0, "b": [0, None]})]
    assert tu.treedef_children(a) == a.children()
    assert a.node_data() == (tuple, None) and _LEAF.node_data() is None
    assert tree_structure({"b": 1, "a": 2}).node_data() == (dict, ["a", "b"])
    assert pickle.loads(pickle.dumps(a)) == a and copy.copy(a) is a


def test_treedef_unflatten_checks_the_leaf_count():
    td = tree_structure({"a": 1, "b": (2, 3)})
    assert td.unflatten(iter([4, 5, 6])) == {"a": 4, "b": (5, 6)}
    with pytest.raises(ValueError, match=r"Too few leaves for PyTreeDef; expected 3, got 2"):
        tree_unflatten(td, [1, 2])
    with pytest.raises(ValueError, match=r"Too many leaves for PyTreeDef; expected 3, got 4"):
        tree_unflatten(td, [1, 2, 3, 4])
    with pytest.raises(ValueError, match="expected 1, got 0"):
        tree_unflatten(_LEAF, [])


def test_flatten_up_to_and_its_errors():
    td = tree_structure((0, {"a": 0}))
    assert td.flatten_up_to(([1, 2], {"a": (3, None)})) == [[1, 2], (3, None)]
    cases = [
        ((1, {"a": 2}, 3), "Tuple arity mismatch: 3 != 2; tuple: (1, {'a': 2}, 3)."),
        ([1, {"a": 2}], "Expected tuple, got [1, {'a': 2}]."),
        ((1, [2]), "Expected dict, got [2]."),
        ((1, {"b": 2}), "Dict key mismatch; expected keys: ['a']; present keys: ['b']."),
        ((1, collections.OrderedDict(a=2)), "Expected dict, got OrderedDict"),
    ]
    for tree, msg in cases:
        with pytest.raises(ValueError) as e:
            td.flatten_up_to(tree)
        assert str(e.value).startswith(msg)
    with pytest.raises(ValueError, match="Expected None, got 3"):
        tree_structure([None]).flatten_up_to([3])
    with pytest.raises(ValueError, match="Expected named tuple, got"):
        tree_structure(Point(1, 2)).flatten_up_to((1, 2))
    with pytest.raises(ValueError, match="Named tuple type mismatch"):
        tree_structure(Point(1, 2)).flatten_up_to(Pair(1, 2))
    with pytest.raises(ValueError, match="Custom node type mismatch"):
        tree_structure(Box(1, "t")).flatten_up_to(3)
    with pytest.raises(ValueError, match=r"Mismatch custom node data: 't' != 'u'"):
        tree_structure(Box(1, "t")).flatten_up_to(Box(1, "u"))


def test_treedef_reprs_match_jax():
    assert repr(_LEAF) == str(_LEAF) == "PyTreeDef(*)"
    assert repr(tree_structure((1, {"a": 2}))) == "PyTreeDef((*, {'a': *}))"
    assert repr(tree_structure(Box([1, 2], "t"))) == "PyTreeDef(CustomNode(Box[t], [[*, *]]))"
    assert repr(tree_structure({1: None})) == "PyTreeDef({1: None})"


def test_treedef_tuple_compose_and_is_leaf():
    t = tu.treedef_tuple([tree_structure(1), tree_structure([1, 2])])
    assert t == tree_structure((0, [0, 0])) and t.num_leaves == 3
    c = tree_structure((0, 0)).compose(tree_structure([0, 0]))
    assert c == tree_structure(([0, 0], [0, 0])) and c.num_leaves == 4
    assert tu.treedef_is_leaf(_LEAF) and not tu.treedef_is_leaf(tree_structure([1]))
    assert tu.treedef_is_leaf(tree_structure(()))  # an empty node is a single node too


# ------------------------------------------------------------------- tree_map & friends


def test_tree_map_over_several_trees():
    a = {"x": (1, 2), "y": [3]}
    b = {"x": (10, 20), "y": [30]}
    assert tree_map(lambda u, v: u + v, a, b) == {"x": (11, 22), "y": [33]}
    assert tree_map(lambda u: -u, 5) == -5
    assert tree_map(lambda u, v: (u, v), 1, [2, 3]) == (1, [2, 3])  # a leaf matches a subtree


def test_tree_map_first_tree_is_a_prefix_of_the_rest():
    out = tree_map(lambda x, sub: (x, sub), (1, 2), ([3, 4], {"a": 5}))
    assert out == ((1, [3, 4]), (2, {"a": 5}))
    out = tree_map(lambda x, y: x + len(y), {"a": 1, "b": 2}, {"a": [0], "b": (0, 0)})
    assert out == {"a": 2, "b": 4}
    # None in the first tree needs None in the others (JAX: an empty node, not a prefix)
    assert tree_map(lambda x, y: x + y, (1, None), (2, None)) == (3, None)
    with pytest.raises(ValueError, match="different types at key path"):
        tree_map(lambda x, y: x, (1, None), (2, 3))


def test_tree_map_structure_mismatch_names_both_structures_and_where():
    with pytest.raises(ValueError) as e:
        tree_map(lambda x, y: x, (1, [2, 3]), (1, [2, 3, 4]))
    msg = str(e.value)
    assert "pytree structure error: different lengths of list at key path" in msg
    assert "tree_map tree[1]" in msg
    assert "PyTreeDef((*, [*, *]))" in msg and "PyTreeDef((*, [*, *, *]))" in msg
    with pytest.raises(ValueError) as e:
        tree_map(lambda x, y: x, {"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"d": 2}})
    msg = str(e.value)
    assert "different pytree metadata at key path\n    tree_map tree['b']" in msg
    assert "PyTreeDef({'a': *, 'b': {'c': *}})" in msg
    assert "PyTreeDef({'a': *, 'b': {'d': *}})" in msg
    with pytest.raises(ValueError, match=r"different types at key path\n    tree_map tree\[0\]"):
        tree_map(lambda x, y: x, [(1,)], [[1]])
    with pytest.raises(ValueError, match="different numbers of pytree children"):
        tree_map(lambda x, y: x, [{"a": 1}], [{"a": 1, "b": 2}])
    with pytest.raises(ValueError, match=r"rest\[1\]"):
        tree_map(lambda x, y, z: x, [1], [1], [1, 2])


def test_tree_map_with_is_leaf():
    tree = [1, (2, 3), [4, (5,)]]
    out = tree_map(lambda t: "T" if isinstance(t, tuple) else t, tree,
                   is_leaf=lambda t: isinstance(t, tuple))  # fmt: skip
    assert out == [1, "T", [4, "T"]]
    out = tree_map(lambda x, y: (x, y), [None, 1], [0, 2], is_leaf=lambda x: x is None)
    assert out == [(None, 0), (1, 2)]
    calls = []
    tree_flatten({"a": [1]}, is_leaf=lambda x: calls.append(x) or False)
    assert calls == [{"a": [1]}, [1], 1]  # called on every subtree, root first


def test_reduce_all_and_associative():
    assert tu.tree_reduce(lambda a, b: a + b, {"a": 1, "b": (2, 3)}) == 6
    assert tu.tree_reduce(lambda a, b: a + b, [1, 2], 10) == 13
    assert tu.tree_reduce(lambda a, b: a + b, [], initializer=0) == 0
    with pytest.raises(TypeError):
        tu.tree_reduce(lambda a, b: a + b, [None])
    assert tu.tree_reduce(lambda a, b: a + [b], [(1, 2)], [], is_leaf=lambda t: type(t) is tuple) \
        == [(1, 2)]  # fmt: skip
    assert tu.tree_reduce_associative(lambda a, b: f"({a}{b})", list("abcd")) == "((ab)(cd))"
    assert tu.tree_reduce_associative(max, [], identity=-1) == -1
    with pytest.raises(TypeError, match="identity"):
        tu.tree_reduce_associative(max, [])
    assert tu.tree_all([True, (1, "x")]) and tu.tree_all(None) and tu.tree_all([])
    assert not tu.tree_all({"a": [1, 0]})
    assert tu.tree_all([[], 1], is_leaf=lambda x: x == []) is False


def test_tree_transpose():
    outer, inner = tree_structure([0, 0, 0]), tree_structure({"a": 0, "b": 0})
    tree = [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}]
    expected = {"a": [1, 3, 5], "b": [2, 4, 6]}
    assert tu.tree_transpose(outer, inner, tree) == expected
    assert tu.tree_transpose(outer, None, tree) == expected
    assert tu.tree_transpose(inner, outer, expected) == tree
    with pytest.raises(TypeError, match="Mismatch"):
        tu.tree_transpose(outer, tree_structure((0,)), tree)


def test_tree_broadcast_and_all_leaves():
    assert tu.tree_broadcast((1, 2), ((3, 4), [5, {"a": 6}])) == ((1, 1), [2, {"a": 2}])
    assert tu.tree_broadcast(0, {"a": (1, 2)}) == {"a": (0, 0)}
    with pytest.raises(ValueError, match="tree_broadcast tree"):
        tu.tree_broadcast((1, 2), (1, 2, 3))
    assert tu.all_leaves([1.0, "a", Opaque()])
    assert not tu.all_leaves([1.0, (2.0,)]) and not tu.all_leaves([None])
    assert tu.all_leaves([(1,)], is_leaf=lambda x: isinstance(x, tuple))


def test_flatten_one_level():
    assert tu.flatten_one_level({"b": 1, "a": [2]}) == ((([2], 1)), ("a", "b"))
    assert tu.flatten_one_level(Point(1, 2)) == ([1, 2], Point)
    assert tu.flatten_one_level(Box(1, "t")) == ((1,), "t")
    children, aux = tu.flatten_one_level((1, 2))
    assert tuple(children) == (1, 2) and aux is None
    with pytest.raises(ValueError, match="can't tree-flatten type"):
        tu.flatten_one_level(1.0)
    pairs, aux = tu.flatten_one_level_with_keys(Point(1, 2))
    assert list(pairs) == [(GetAttrKey("x"), 1), (GetAttrKey("y"), 2)] and aux is Point


# ------------------------------------------------------------------- registration


def test_register_pytree_node_round_trip_and_children_tuple():
    seen = []

    class Triple:
        def __init__(self, a, b, c):
            self.abc = (a, b, c)

    def unflatten(aux, children):
        seen.append((aux, children))
        return Triple(*children)

    register_pytree_node(Triple, lambda t: (list(t.abc), "aux"), unflatten)
    leaves, td = tree_flatten(Triple(1, [2], None))
    assert leaves == [1, 2]
    assert repr(td) == "PyTreeDef(CustomNode(Triple[aux], [*, [*], None]))"
    back = tree_unflatten(td, [10, 20])
    assert back.abc == (10, [20], None) and seen == [("aux", (10, [20], None))]
    assert paths(Triple(1, 2, 3)) == ["[<flat index 0>]", "[<flat index 1>]", "[<flat index 2>]"]
    with pytest.raises(ValueError, match="Duplicate custom PyTreeDef type registration"):
        register_pytree_node(Triple, lambda t: ((), None), lambda a, c: None)
    with pytest.raises(ValueError, match="Duplicate"):
        register_pytree_node(list, lambda t: ((), None), lambda a, c: None)


def test_register_pytree_node_class_round_trip():
    m = Linear(np.ones(2), 3.0, name="enc")
    leaves, td = tree_flatten(m)
    assert len(leaves) == 2 and repr(td) == "PyTreeDef(CustomNode(Linear[enc], [*, *]))"
    back = tree_map(lambda v: v * 2, m)
    assert isinstance(back, Linear) and back.name == "enc" and back.b == 6.0
    np.testing.assert_array_equal(back.w, [2.0, 2.0])
    assert tree_structure(m) == tree_structure(Linear(0, 0, name="enc"))
    assert tree_structure(m) != tree_structure(Linear(0, 0, name="dec"))


def test_register_pytree_with_keys_and_class():
    class Two:
        def __init__(self, x, y):
            self.x, self.y = x, y

    register_pytree_with_keys(
        Two, lambda t: (((GetAttrKey("x"), t.x), (GetAttrKey("y"), t.y)), None),
        lambda _, c: Two(*c),
    )  # fmt: skip
    assert paths(Two(1, {"k": 2})) == [".x", ".y['k']"]
    assert tree_leaves(Two(1, {"k": 2})) == [1, 2]
    assert tree_map(lambda v: v + 1, Two(1, 2)).y == 3

    @tu.register_pytree_with_keys_class
    class Named:
        def __init__(self, **kw):
            self.kw = kw

        def tree_flatten_with_keys(self):
            keys = sorted(self.kw)
            return [(DictKey(k), self.kw[k]) for k in keys], tuple(keys)

        @classmethod
        def tree_unflatten(cls, keys, children):
            return cls(**dict(zip(keys, children)))

    n = Named(b=1, a=2)
    assert paths(n) == ["['a']", "['b']"] and tree_leaves(n) == [2, 1]
    assert tree_map(lambda v: -v, n).kw == {"a": -2, "b": -1}


def test_register_dataclass_inferred_fields_round_trip():
    p = Params(w=np.zeros(2), b=[1.0, 2.0], act="tanh")
    leaves, td = tree_flatten(p)
    assert len(leaves) == 3
    assert repr(td) == "PyTreeDef(CustomNode(Params[('tanh',)], [*, [*, *]]))"
    back = tree_unflatten(td, [1, 2, 3])
    assert back == Params(w=1, b=[2, 3], act="tanh")
    assert paths(p) == [".w", ".b[0]", ".b[1]"]
    assert tree_structure(p) != tree_structure(Params(0, [0, 0], act="relu"))


def test_register_dataclass_explicit_fields_and_errors():
    @functools.partial(register_dataclass, data_fields=["x"], meta_fields=["op"])
    @dataclasses.dataclass
    class S:
        x: object
        op: str

    assert tree_flatten(S(1, "add")) == ([1], tree_structure(S(2, "add")))
    assert tree_map(lambda v: v + 1, S(1, "add")) == S(2, "add")

    class Plain:  # not a dataclass: fields must be given, the constructor takes them as kwargs
        def __init__(self, a, k):
            self.a, self.k = a, k

    register_dataclass(Plain, data_fields=["a"], meta_fields=["k"])
    back = tree_map(lambda v: v * 3, Plain(2, "m"))
    assert (back.a, back.k) == (6, "m")

    @dataclasses.dataclass
    class D:
        a: int
        b: int

    with pytest.raises(ValueError, match="Missing fields"):
        register_dataclass(D, data_fields=["a"], meta_fields=[])
    with pytest.raises(TypeError, match="must both be specified"):
        register_dataclass(D, data_fields=["a", "b"])
    with pytest.raises(TypeError, match="not a dataclass"):
        register_dataclass(type("NotDC", (), {}))


def test_register_static():
    @tu.register_static
    class Mode(str):
        pass

    leaves, td = tree_flatten([1.0, Mode("train")])
    assert leaves == [1.0] and tree_unflatten(td, [2.0]) == [2.0, "train"]
    assert td != tree_structure([1.0, Mode("eval")])


# ------------------------------------------------------------------- key paths


def test_key_classes_repr_str_eq_hash_match():
    keys = [SequenceKey(0), DictKey("a"), GetAttrKey("w"), FlattenedIndexKey(1)]
    assert [repr(k) for k in keys] == [
        "SequenceKey(idx=0)", "DictKey(key='a')", "GetAttrKey(name='w')",
        "FlattenedIndexKey(key=1)",
    ]  # fmt: skip
    assert [str(k) for k in keys] == ["[0]", "['a']", ".w", "[<flat index 1>]"]
    assert SequenceKey(0) == SequenceKey(idx=0) and hash(DictKey("a")) == hash(DictKey("a"))
    assert SequenceKey(0) != FlattenedIndexKey(0) and SequenceKey(0) != 0
    assert (SequenceKey(3).idx, DictKey(1).key, GetAttrKey("n").name) == (3, 1, "n")
    assert pickle.loads(pickle.dumps(DictKey("z"))) == DictKey("z")
    match DictKey("k"):
        case DictKey(key=k):
            assert k == "k"
    match SequenceKey(2):
        case SequenceKey(i):
            assert i == 2


def test_flatten_with_path_and_keystr():
    tree = {"a": [1, Point(2, 3)], "b": (None, 4), "c": Box(5, "t")}
    pairs, td = tree_flatten_with_path(tree)
    assert td == tree_structure(tree)
    assert [x for _, x in pairs] == tree_leaves(tree)
    assert [keystr(p) for p, _ in pairs] == [
        "['a'][0]", "['a'][1].x", "['a'][1].y", "['b'][1]", "['c'][<flat index 0>]",
    ]  # fmt: skip
    assert pairs[1][0] == (DictKey("a"), SequenceKey(1), GetAttrKey("x"))
    path = (DictKey("a"), SequenceKey(0), GetAttrKey("b"))
    assert keystr(path) == "['a'][0].b"
    assert keystr(path, simple=True, separator="/") == "a/0/b"
    assert keystr(()) == "" and keystr((0, "a"), separator=".") == "0.a"
    assert tree_flatten_with_path(7) == ([((), 7)], _LEAF)


def test_paths_with_is_leaf():
    tree = [1, (2, 3)]
    assert paths(tree, is_leaf=lambda x: isinstance(x, tuple)) == ["[0]", "[1]"]
    pairs = tree_leaves_with_path(tree, is_leaf=lambda p, x: len(p) == 1, is_leaf_takes_path=True)
    assert pairs == [((SequenceKey(0),), 1), ((SequenceKey(1),), (2, 3))]


def test_tree_map_with_path():
    out = tree_map_with_path(lambda p, x, y: f"{keystr(p)}:{x + y}", {"a": 1, "b": (2,)},
                             {"a": 10, "b": (20,)})  # fmt: skip
    assert out == {"a": "['a']:11", "b": ("['b'][0]:22",)}
    assert tree_map_with_path(lambda p, x: (p, x), 5) == ((), 5)
    with pytest.raises(ValueError, match="tree_map_with_path tree"):
        tree_map_with_path(lambda p, x, y: x, [1], [1, 2])


# ------------------------------------------------------------------- Partial


def test_partial_is_a_pytree():
    def f(a, b, *, c):
        return a * b + c

    p = Partial(f, 2.0, c=1.0)
    assert p(3.0) == 7.0
    leaves, td = tree_flatten(p)
    assert leaves == [2.0, 1.0]
    assert repr(td).startswith("PyTreeDef(CustomNode(Partial[<function")
    q = tree_map(lambda v: v * 10, p)
    assert isinstance(q, Partial) and q.func is f and q(3.0) == 70.0
    assert tree_structure(p) == tree_structure(Partial(f, 0, c=0))
    assert tree_structure(p) != tree_structure(Partial(max, 0, c=0))
    assert p != Partial(f, 2.0, c=1.0) and p == p  # identity, as functools.partial / JAX
    assert tree_leaves(Partial(max)) == []


def test_partial_of_a_partial_keeps_only_its_own_arguments():
    inner = functools.partial(lambda a, b, c: (a, b, c), 1)
    p = Partial(inner, 2)
    assert p(3) == (1, 2, 3)
    assert tree_leaves(p) == [2]
    assert tree_map(lambda v: v * 10, p)(3) == (1, 20, 3)


# ------------------------------------------------------------------- limits


def test_deep_trees_raise_a_clear_recursion_error():
    deep = []
    for _ in range(5000):
        deep = [deep]
    for fn in (tree_flatten, tree_leaves, tree_flatten_with_path, lambda t: tree_map(id, t)):
        with pytest.raises(RecursionError, match="nested too deeply"):
            fn(deep)
    cyclic = [1]
    cyclic.append(cyclic)
    with pytest.raises(RecursionError, match="reference cycle"):
        tree_leaves(cyclic)


def test_moderately_deep_trees_work():
    deep = 1.0
    for _ in range(400):
        deep = [deep]
    leaves, td = tree_flatten(deep)
    assert leaves == [1.0] and td.num_nodes == 401 and td == tree_structure(deep)
    assert hash(td) == hash(tree_structure(deep)) and tree_unflatten(td, [1.0]) == deep
    assert len(keystr(tree_leaves_with_path(deep)[0][0])) == 3 * 400


# ------------------------------------------------------------------- JAX cross-check


def test_agrees_with_jax():
    jtu = pytest.importorskip("jax.tree_util")
    missing = {n for n in dir(jtu) if not n.startswith("_")} - set(tu.__all__)
    assert missing == {"default_registry"}  # JAX's C++ registry object has no counterpart

    trees = [
        1.0,
        None,
        (),
        [1, (2, None), {"b": 3, "a": [4, 5]}],
        {"z": {"y": (1,), "x": []}, "w": None},
        Point(1, [2, Pair(3, 4)]),
        collections.OrderedDict([("b", [1, 2]), ("a", 3)]),
        collections.defaultdict(list, {"q": 1, "p": (2, 3)}),
        [{"k": (None, 1)}, Point(x=None, y=2), [[[]], [[3]]]],
        {1: "a", 2: ("b", "c")},
    ]
    for tree in trees:
        ours_leaves, ours_td = tree_flatten(tree)
        jax_leaves, jax_td = jtu.tree_flatten(tree)
        assert ours_leaves == jax_leaves, tree
        assert ours_td.num_leaves == jax_td.num_leaves, tree
        assert ours_td.num_nodes == jax_td.num_nodes, tree
        assert repr(ours_td) == repr(jax_td), tree
        ours_paths = [keystr(p) for p, _ in tree_leaves_with_path(tree)]
        jax_paths = [jtu.keystr(p) for p, _ in jtu.tree_leaves_with_path(tree)]
        assert ours_paths == jax_paths, tree
        assert tree_leaves(tree, is_leaf=lambda x: isinstance(x, list)) == jtu.tree_leaves(
            tree, is_leaf=lambda x: isinstance(x, list)
        )
    for k_ours, k_jax in [(SequenceKey(0), jtu.SequenceKey(0)), (DictKey("a"), jtu.DictKey("a")),
                          (GetAttrKey("n"), jtu.GetAttrKey("n")),
                          (FlattenedIndexKey(2), jtu.FlattenedIndexKey(2))]:  # fmt: skip
        assert (repr(k_ours), str(k_ours)) == (repr(k_jax), str(k_jax))
