"""The errors users catch (`cr.errors`).

>>> import chainrule as cr
>>> sorted(n for n in dir(cr.errors) if n.endswith("Error"))
['ConcretizationError', 'UnexpectedTracerError']
"""

from chainrule.core.errors import ConcretizationError, UnexpectedTracerError

__all__ = ["ConcretizationError", "UnexpectedTracerError"]
