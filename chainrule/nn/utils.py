"""`chainrule.nn.utils`: gradient clipping and flattening (PyTorch's `torch.nn.utils`),
over the `.grad` of Tensors, in place and outside any graph (as under `cr.no_grad`).

>>> import chainrule as cr
>>> from chainrule.nn.utils import clip_grad_norm_
>>> p = cr.tensor([3.0, 4.0], requires_grad=True)
>>> (p * p).sum().backward()          # p.grad = [6, 8], norm 10
>>> clip_grad_norm_([p], max_norm=1.0)
tensor(10.)
>>> p.grad
tensor([0.6, 0.8])
"""

from __future__ import annotations

import math
from typing import Any
from collections.abc import Iterable

import numpy as np

import chainrule.numpy as cnp
from chainrule import torch_functions as _tf
from chainrule.tensor import Tensor, no_grad, tensor

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
    "parameters_to_vector", "vector_to_parameters",
]  # fmt: skip


def _tensors(parameters: Any) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def get_total_norm(tensors: Any, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: Any = None) -> Tensor:  # fmt: skip
    """The `norm_type`-norm of the tensors taken together (the norm of their norms; "inf"
    or math.inf for the largest absolute value), a 0-d Tensor (0 for none).

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import get_total_norm
    >>> get_total_norm([cr.tensor([3.0]), cr.tensor([4.0])])
    tensor(5.)
    """
    ts = _tensors(tensors)
    norm_type = float(norm_type)
    if not ts:
        return tensor(0.0)
    with no_grad():
        norms = [_tf.norm(t.detach() if isinstance(t, Tensor) else tensor(t), norm_type)
                 for t in ts]  # fmt: skip
        total = _tf.norm(_tf.stack(norms), norm_type)
    if error_if_nonfinite and not np.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(parameters: Any, max_norm: float, total_norm: Any,
                          foreach: Any = None) -> None:  # fmt: skip
    """Scale the gradients by min(max_norm / (total_norm + 1e-6), 1), in place (PyTorch's
    formula: they are always multiplied, by 1 when the norm is small enough).

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import clip_grads_with_norm_
    >>> p = cr.tensor([1.0], requires_grad=True); p.grad = cr.tensor([4.0])
    >>> clip_grads_with_norm_([p], 2.0, cr.tensor(4.0)); p.grad
    tensor([1.9999995])
    """
    grads = [p.grad for p in _tensors(parameters) if p.grad is not None]
    if not grads:
        return
    with no_grad():
        coef = _tf.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef)


def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Any = None) -> Tensor:  # fmt: skip
    """Rescale the `.grad` of `parameters` (a Tensor or an iterable of them) in place so
    that their total `norm_type`-norm is at most `max_norm`; returns the total norm before
    clipping, as PyTorch (`norm_type` may be inf: the largest absolute value).

    >>> import math, chainrule as cr
    >>> from chainrule.nn.utils import clip_grad_norm_
    >>> p = cr.tensor([-3.0, 1.0], requires_grad=True); p.grad = cr.tensor([-3.0, 1.0])
    >>> clip_grad_norm_(p, 1.5, norm_type=math.inf)
    tensor(3.)
    >>> p.grad
    tensor([-1.4999995 ,  0.49999983])
    """
    params = _tensors(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters: Any, clip_value: float, foreach: Any = None) -> None:
    """Clamp every `.grad` of `parameters` to [-clip_value, clip_value], in place.

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import clip_grad_value_
    >>> p = cr.tensor([0.0, 0.0], requires_grad=True); p.grad = cr.tensor([-3.0, 0.5])
    >>> clip_grad_value_(p, 1.0); p.grad
    tensor([-1. ,  0.5])
    """
    clip_value = float(clip_value)
    with no_grad():
        for p in _tensors(parameters):
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable) -> Any:
    """The parameters flattened and concatenated into one vector (differentiable).

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import parameters_to_vector
    >>> parameters_to_vector([cr.ones(2, 2), cr.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    return _tf.cat([cnp.reshape(p, (-1,)) for p in parameters])


def vector_to_parameters(vec: Any, parameters: Iterable) -> None:
    """Copy consecutive slices of `vec` into the parameters, in place (their values; the
    graph is not recorded).

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import vector_to_parameters
    >>> ps = [cr.zeros(2), cr.zeros(1)]
    >>> vector_to_parameters(cr.tensor([1.0, 2.0, 3.0]), ps); ps[1]
    tensor([3.])
    """
    v = vec.detach() if isinstance(vec, Tensor) else tensor(vec)
    if v.ndim != 1:
        raise TypeError(f"expected a 1-D vector, got shape {tuple(v.shape)}")
    offset = 0
    with no_grad():
        for p in parameters:
            n = int(math.prod(p.shape))
            p.copy_(cnp.reshape(v[offset:offset + n], p.shape))
            offset += n
