"""The errors users catch (`cr.errors`).

>>> import chainrule as cr
>>> sorted(n for n in dir(cr.errors) if n.endswith("Error"))
['ConcretizationError', 'DeviceMismatchError', 'NumPyOnlyError', 'UnexpectedTracerError']
"""

from chainrule.core.errors import (
    ConcretizationError, DeviceMismatchError, NumPyOnlyError, UnexpectedTracerError,
)  # fmt: skip

__all__ = ["ConcretizationError", "DeviceMismatchError", "NumPyOnlyError",
           "UnexpectedTracerError"]  # fmt: skip
