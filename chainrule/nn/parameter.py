"""`Parameter`: a Tensor that a `Module` registers as one of its parameters (PyTorch's
`torch.nn.Parameter`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor, _rebuild_on

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A leaf Tensor that requires grad (unless ``requires_grad=False``) and that a `Module`
    registers when assigned as an attribute. Given a Tensor, it shares its values (and
    version counter), detached from any graph, as PyTorch's; given an array or a list, it
    copies it (NumPy's dtypes: floats stay float64 or float32). Operations on a Parameter
    give plain Tensors.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn import Parameter
    >>> p = Parameter(cr.zeros(2))
    >>> p
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    >>> isinstance(p, cr.Tensor), type(p * 2).__name__
    (True, 'Tensor')
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0)
        if isinstance(data, Tensor):
            src = data.detach()
            Tensor.__init__(self, np.empty(0, src.dtype))
            self._value, self._ver = src._value, src._ver  # shared, as torch.nn.Parameter
        else:
            Tensor.__init__(self, data)
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        new = Parameter(self.detach().clone(), self.requires_grad)  # on this one's device
        if self.grad is not None:
            new.grad = self.grad.detach().clone()
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        reduced = (Parameter, (np.array(self.detach().cpu().numpy()), self.requires_grad))
        return reduced if self.device == "cpu" else (_rebuild_on, (reduced, self.device))
