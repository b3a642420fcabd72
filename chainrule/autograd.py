"""PyTorch's `torch.autograd` functions, on chainrule Tensors.

>>> import chainrule as cr
>>> x = cr.tensor(3.0, requires_grad=True)
>>> (dx,) = cr.autograd.grad(x ** 2, x)
>>> dx
tensor(6.)
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

from chainrule.tensor import Tensor, _tensors, enable_grad, no_grad, run_backward

__all__ = ["backward", "enable_grad", "grad", "no_grad"]


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """The sum over `outputs` of their vector-Jacobian products with `grad_outputs`, with
    respect to each of `inputs` (leaves or intermediate tensors). Returns a tuple; `.grad`
    attributes are not touched. With `create_graph=True` the result is itself differentiable.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> (d,) = cr.autograd.grad(x ** 3, x, create_graph=True)
    >>> (d2,) = cr.autograd.grad(d, x)
    >>> d, d2
    (tensor(12., grad_fn=<MulBackward>), tensor(12.))
    """
    outs = _tensors(outputs, "outputs")
    ins = _tensors(inputs, "inputs")
    gs = [None] * len(outs) if grad_outputs is None else _tensors(grad_outputs, "grad_outputs")
    if len(gs) != len(outs):
        raise RuntimeError(f"grad_outputs has {len(gs)} tensors for {len(outs)} outputs")
    return tuple(
        run_backward(outs, gs, retain_graph, create_graph, ins, accumulate=False,
                     allow_unused=allow_unused)  # fmt: skip
    )


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    """Accumulate into the leaves' `.grad` the sum of the vector-Jacobian products of
    `tensors` with `grad_tensors`.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> cr.autograd.backward([x * 2, x * x], [cr.ones(2), cr.ones(2)])
    >>> x.grad
    tensor([4., 6.])
    """
    ts = _tensors(tensors, "tensors")
    gs = [None] * len(ts) if grad_tensors is None else _tensors(grad_tensors, "grad_tensors")
    if len(gs) != len(ts):
        raise RuntimeError(f"grad_tensors has {len(gs)} tensors for {len(ts)} tensors")
    run_backward(ts, gs, retain_graph, create_graph, inputs)
