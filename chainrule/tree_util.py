"""Pytree utilities (nested tuples, lists, dicts and registered types), as in `jax.tree_util`.

>>> from chainrule.tree_util import tree_map
>>> tree_map(lambda x: 2 * x, {"a": 1.0, "b": (2.0,)})
{'a': 2.0, 'b': (4.0,)}
"""

from chainrule.core.pytree import (  # noqa: F401
    PyTreeDef, register_pytree_node, tree_flatten, tree_leaves, tree_map, tree_structure,
    tree_unflatten,
)  # fmt: skip

__all__ = [
    "PyTreeDef", "register_pytree_node", "tree_flatten", "tree_leaves", "tree_map",
    "tree_structure", "tree_unflatten",
]  # fmt: skip
