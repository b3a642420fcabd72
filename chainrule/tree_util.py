"""Pytree utilities (nested tuples, lists, dicts and registered types), as in `jax.tree_util`.

>>> from chainrule.tree_util import keystr, tree_flatten_with_path, tree_map
>>> tree_map(lambda x: 2 * x, {"a": 1.0, "b": (2.0,)})
{'a': 2.0, 'b': (4.0,)}
>>> [keystr(path) for path, _ in tree_flatten_with_path({"a": [1.0, 2.0]})[0]]
["['a'][0]", "['a'][1]"]
"""

from chainrule.core.pytree import (  # noqa: F401
    DictKey, FlattenedIndexKey, GetAttrKey, KeyEntry, KeyPath, Partial, PyTreeDef, SequenceKey,
    all_leaves, flatten_one_level, flatten_one_level_with_keys, is_tree_node, keystr,
    register_dataclass, register_pytree_node, register_pytree_node_class,
    register_pytree_with_keys, register_pytree_with_keys_class, register_static, tree_all,
    tree_broadcast, tree_flatten, tree_flatten_with_path, tree_leaves, tree_leaves_with_path,
    tree_map, tree_map_with_path, tree_reduce, tree_reduce_associative, tree_structure,
    tree_transpose, tree_unflatten, treedef_children, treedef_is_leaf, treedef_tuple,
)  # fmt: skip

__all__ = [
    "DictKey", "FlattenedIndexKey", "GetAttrKey", "KeyEntry", "KeyPath", "Partial", "PyTreeDef",
    "SequenceKey", "all_leaves", "flatten_one_level", "flatten_one_level_with_keys",
    "is_tree_node", "keystr", "register_dataclass", "register_pytree_node",
    "register_pytree_node_class", "register_pytree_with_keys", "register_pytree_with_keys_class",
    "register_static", "tree_all", "tree_broadcast", "tree_flatten", "tree_flatten_with_path",
    "tree_leaves", "tree_leaves_with_path", "tree_map", "tree_map_with_path", "tree_reduce",
    "tree_reduce_associative", "tree_structure", "tree_transpose", "tree_unflatten",
    "treedef_children", "treedef_is_leaf", "treedef_tuple",
]  # fmt: skip
