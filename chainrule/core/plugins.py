"""Where a lower layer reaches a tool of a higher one: by name, loaded on first use.

The faces offer conveniences whose work is done by a layer above them (`Tensor.explain()` and
`Node.explain()` are `chainrule.transparency`'s). Importing that layer from theirs would make
an import cycle (transparency imports the faces), so they ask for it here, by the names in
one table: the dependency is declared once, and the layer above loads only when used.

>>> load("explain").__name__
'explain'
"""

from __future__ import annotations

import importlib
from typing import Any

#: tool name -> (module, attribute): the higher-layer tools the lower layers use
TOOLS = {
    "explain": ("chainrule.transparency", "explain"),
    "explain_node": ("chainrule.transparency", "explain_node"),
    "scipy_special": ("chainrule.scipy.special", "__name__"),
}


def load(name: str) -> Any:
    """The tool `name` of `TOOLS`, its module imported on first use."""
    module, attr = TOOLS[name]
    return getattr(importlib.import_module(module), attr)
