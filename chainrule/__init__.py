"""chainrule: automatic differentiation for NumPy code, with three faces on one engine.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> cr.grad(lambda x: x ** 3 + x ** 2 - 6 * x + 1)(2.0)
np.float64(10.0)
"""

# The layers, lowest first: core (primitives, traces, bind, ops) -> rules (one table per
# transformation) -> transforms -> the public faces.
from chainrule.core import linalg as _linalg  # noqa: F401
from chainrule.rules import impl as _impl, shape as _shape, vjp as _vjp  # noqa: F401
from chainrule.rules import jvp as _jvp, batching as _batching_rules  # noqa: F401
from chainrule.rules import transpose as _transpose_rules  # noqa: F401
from chainrule.rules import fft as _fft_rules  # noqa: F401
from chainrule.rules.callback import pure_callback
from chainrule.transforms import executor as _executor  # noqa: F401  (the fast paths)
from chainrule import numpy  # noqa: F401
from chainrule import errors, tree_util  # noqa: F401
from chainrule.core import config
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.transforms.reverse import (
    elementwise_grad, grad, stop_gradient, value_and_grad, vjp,
)  # fmt: skip
from chainrule.transforms.forward import jvp, linearize
from chainrule.transforms.staging import eval_shape, make_graph
from chainrule.transforms.batching import all_gather, axis_index, pmax, pmean, psum, vmap
from chainrule.transforms.jacobians import hessian, hvp, jacfwd, jacobian, jacrev
from chainrule.transforms.custom import custom_jvp, custom_vjp
from chainrule.transforms.checkpoint import checkpoint, checkpoint_policies, remat
from chainrule.transforms.control import cond, fori_loop, scan, switch, while_loop
from chainrule.transforms.transpose import linear_transpose
from chainrule.transforms.jit import jit

from chainrule import autograd, memory
from chainrule import torch_functions as _torch_functions
from chainrule.tape import GradientTape, Variable
from chainrule.tensor import (
    Tensor, arange, empty, enable_grad, eye, full, is_grad_enabled, linspace, no_grad, ones,
    ones_like, rand, randn, tensor, zeros, zeros_like,
)  # fmt: skip

__version__ = "0.1.0"

__all__ = [
    "GradientTape", "ShapeDtypeStruct", "Tensor", "Variable", "all_gather", "arange",
    "autograd", "axis_index", "checkpoint", "checkpoint_policies", "compare", "cond", "config",
    "custom_jvp", "custom_vjp", "device_put", "draw", "elementwise_grad", "empty",
    "enable_grad", "errors",
    "eval_shape", "explain", "explain_gradient", "eye", "fori_loop", "from_dlpack", "full",
    "get_rng_state",
    "grad", "hessian",
    "hvp",
    "is_grad_enabled", "jacfwd", "jacobian", "jacrev", "jit", "jvp", "linear_transpose",
    "linearize", "linspace", "load", "make_graph", "minimize",
    "manual_seed", "memory", "nn", "no_grad", "numpy", "ones", "ones_like", "optim", "pmax",
    "pmean", "progress",
    "psum",
    "pure_callback",
    "rand", "randn", "remat", "save", "scan", "set_rng_state", "stop_gradient", "switch",
    "tensor", "to_sympy",
    "tree_util", "value_and_grad", "vjp", "vmap", "while_loop", "zeros", "zeros_like",
]  # fmt: skip

# PyTorch's top-level functions (cr.cat, cr.clamp, ...), with the Tensor face
globals().update({n: getattr(_torch_functions, n) for n in _torch_functions.__all__})
# torch.float and torch.int as attributes, left out of __all__: a star import must not
# shadow Python's float and int
globals().update(float=_torch_functions.float, int=_torch_functions.int)
__all__ += [n for n in _torch_functions.__all__ if n not in __all__]

# The transparency tools load on first use: `import chainrule` stays light.
_LAZY = {
    "explain": "chainrule.transparency", "compare": "chainrule.transparency.compare",
    "explain_gradient": "chainrule.transparency.diagnose", "draw": "chainrule.transparency.draw",
    "to_sympy": "chainrule.transparency.symbolic",
    "minimize": "chainrule.optimize",
    # saving and seeding (chainrule.io loads json and zipfile: on first use)
    "save": "chainrule.io", "load": "chainrule.io", "manual_seed": "chainrule.io",
    "get_rng_state": "chainrule.io", "set_rng_state": "chainrule.io",
    # devices and DLPack
    "device_put": "chainrule.devices", "from_dlpack": "chainrule.devices",
}  # fmt: skip


# subpackages and modules loaded on first use
_LAZY_MODULES = ("nn", "optim", "distributed", "scipy", "io", "progress")


def __getattr__(name: str):
    if name in _LAZY or name in _LAZY_MODULES:
        import importlib

        if name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name]), name)
        else:
            value = importlib.import_module(f"chainrule.{name}")
        globals()[name] = value
        return value
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
