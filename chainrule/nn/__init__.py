"""`chainrule.nn`: PyTorch's `torch.nn` kit for training on chainrule's Tensors.

- `chainrule.nn.functional` (softmax, log_softmax, logsumexp, cross_entropy, nll_loss,
  mse_loss, relu, gelu, sigmoid, tanh, one_hot, linear, dropout, layer_norm, batch_norm,
  embedding), on Tensors, traced values and NumPy arrays;
- `Module`, `Parameter`, the containers `Sequential` and `ModuleList`, the layers `Linear`,
  `Identity`, `Flatten`, `Dropout`, `LayerNorm`, `BatchNorm1d`, `BatchNorm2d`, `Embedding`,
  the activations `ReLU`, `Tanh`, `Sigmoid`, `GELU`, `Softmax`, `LogSoftmax`, the losses
  `MSELoss`, `CrossEntropyLoss`, `NLLLoss`;
- `init` (PyTorch's initialisations) and `utils` (`clip_grad_norm_`, `clip_grad_value_`);
- `functional_call(module, params, args)`: a module as a function of a pytree of
  parameters, for `cr.grad`, `cr.jit` and `cr.vmap`.

Where it follows NumPy rather than PyTorch: parameters default to float64 (chainrule's
default dtype), and random initial values come from chainrule's generator (`cr.manual_seed`),
so they have PyTorch's distributions, not its numbers.

>>> import numpy as np, chainrule as cr
>>> from chainrule import nn
>>> import chainrule.nn.functional as F
>>> _ = cr.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
>>> x, y = cr.randn(16, 2), cr.tensor(np.arange(16) % 3)
>>> for step in range(3):
...     model.zero_grad()
...     loss = F.cross_entropy(model(x), y)
...     loss.backward()
...     with cr.no_grad():
...         for p in model.parameters():
...             p -= 0.1 * p.grad
>>> loss.shape, loss.dtype
((), dtype('float64'))
"""

from chainrule.nn import functional, init, utils  # noqa: F401
from chainrule.nn.modules import (
    GELU, BatchNorm1d, BatchNorm2d, CrossEntropyLoss, Dropout, Embedding, Flatten, Identity,
    LayerNorm, Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, ReLU, Sequential,
    Sigmoid, Softmax, Tanh, functional_call,
)  # fmt: skip
from chainrule.nn.parameter import Parameter

__all__ = [
    "functional", "init", "utils", "Parameter", "Module", "Sequential", "ModuleList",
    "Identity", "Linear", "ReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax", "Flatten",
    "Dropout", "LayerNorm", "BatchNorm1d", "BatchNorm2d", "Embedding", "MSELoss",
    "CrossEntropyLoss", "NLLLoss", "functional_call",
]  # fmt: skip
