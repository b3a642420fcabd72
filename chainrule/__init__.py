"""chainrule: automatic differentiation for NumPy code, with three faces on one engine.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(lambda x: x ** 3 + x ** 2 - 6 * x + 1)(2.0)
np.float64(10.0)
"""

from chainrule.core import primitives as _primitives  # noqa: F401  (the one list)
from chainrule.rules import impl as _impl  # noqa: F401  (fills impl_rules)
from chainrule.rules import shape as _shape  # noqa: F401  (fills shape_rules)
from chainrule import numpy  # noqa: F401
from chainrule.rules import vjp as _vjp  # noqa: F401  (fills vjp_rules)
from chainrule import tree_util
from chainrule.transforms.reverse import (
    elementwise_grad, grad, hessian, jacfwd, jacobian, jacrev, jvp, stop_gradient,
    value_and_grad, vjp,
)  # fmt: skip

from chainrule import autograd, memory
from chainrule.tape import GradientTape, Variable
from chainrule.tensor import (
    Tensor, arange, empty, enable_grad, eye, full, is_grad_enabled, linspace, manual_seed,
    no_grad, ones, ones_like, rand, randn, tensor, zeros, zeros_like,
)  # fmt: skip

__version__ = "0.1.0"

__all__ = [
    "GradientTape", "Tensor", "Variable", "arange", "autograd", "compare", "draw",
    "elementwise_grad", "empty",
    "enable_grad", "explain", "explain_gradient", "eye", "full", "grad", "hessian",
    "is_grad_enabled", "jacfwd", "jacobian", "jacrev", "jvp", "linspace", "manual_seed",
    "memory", "no_grad", "numpy", "ones", "ones_like", "rand", "randn", "stop_gradient",
    "tensor", "to_sympy", "tree_util", "value_and_grad", "vjp", "zeros", "zeros_like",
]  # fmt: skip

# The transparency tools load on first use: `import chainrule` stays light.
_LAZY = {
    "explain": "chainrule.transparency", "compare": "chainrule.transparency.compare",
    "explain_gradient": "chainrule.transparency.diagnose", "draw": "chainrule.transparency.draw",
    "to_sympy": "chainrule.transparency.symbolic",
}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
