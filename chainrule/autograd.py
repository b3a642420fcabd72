"""PyTorch's `torch.autograd` functions, on chainrule Tensors.

>>> import chainrule as cr
>>> x = cr.tensor(3.0, requires_grad=True)
>>> (dx,) = cr.autograd.grad(x ** 2, x)
>>> dx
tensor(6.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from collections.abc import Sequence

from chainrule.core import ops as cnp
from chainrule.tensor import Tensor, _tensors, enable_grad, no_grad, run_backward

__all__ = ["Function", "FunctionCtx", "backward", "enable_grad", "grad", "no_grad"]


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
    Complex tensors follow PyTorch's convention: `grad_outputs` and the results are conjugate
    Wirtinger gradients (the conjugates of `cr.vjp`'s cotangents).

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


# --- custom operations -----------------------------------------------------------------------


class FunctionCtx:
    """The `ctx` of a custom `Function`: what forward leaves for backward.

    >>> import chainrule as cr
    >>> class Square(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * g if ctx.needs_input_grad[0] else None
    >>> x = cr.tensor(3.0, requires_grad=True)
    >>> Square.apply(x).backward()
    >>> x.grad
    tensor(6.)
    """

    def __init__(self, needs: tuple):
        self.needs_input_grad = needs
        self.saved_tensors: tuple = ()
        self._nondiff: set = set()
        self._versions: list = []
        self.materialize_grads = True

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep these tensors (inputs or outputs) for `backward` (as `ctx.saved_tensors`)."""
        self.saved_tensors = tensors

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """These outputs carry no gradient (integer results, indices...)."""
        self._nondiff.update(id(o) for o in outputs)

    def set_materialize_grads(self, value: bool) -> None:
        """Whether backward receives zeros (True) or None for outputs that got no gradient."""
        self.materialize_grads = value


class Function:
    """A custom differentiable operation, as PyTorch's `torch.autograd.Function`:
    subclass it with static `forward(ctx, *args)` and `backward(ctx, *grad_outputs)`, call
    it with `.apply(*args)`.

    Called with Tensors, `forward` and `backward` see Tensors (`backward` may be recorded:
    `create_graph=True` differentiates through it); called with arrays inside a
    transformation (`cr.grad`), they see its values. Under `cr.vmap` it runs once per example.
    Arguments that are not arrays (Python numbers, options) are passed through; their
    gradient must be None.

    >>> import chainrule as cr
    >>> class Exp(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = x.exp()
    ...         ctx.save_for_backward(y)
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (y,) = ctx.saved_tensors
    ...         return g * y
    >>> x = cr.tensor(0.0, requires_grad=True)
    >>> Exp.apply(x).backward()
    >>> x.grad
    tensor(1.)
    """

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        from chainrule.core import primitives as P
        from chainrule.core.trace import Tracer, bind
        from chainrule.transforms.custom import CustomVJPCall

        # arrays, Tensors and traced values are operands; anything else passes through
        positions = [i for i, a in enumerate(args) if isinstance(a, (Tracer, np.ndarray))]
        tensors = any(isinstance(a, Tensor) for a in args)
        name = cls.__name__
        store: dict = {}

        def inputs(xs: tuple) -> list:
            """The arguments for forward: the caller's Tensors where the values are theirs
            (so that a graph through saved tensors is kept), fresh Tensors for other values
            of the Tensor face, the values themselves in the functional face."""
            full = list(args)
            for i, x in zip(positions, xs):
                a = args[i]
                if isinstance(a, Tensor) and x is a._value:
                    full[i] = a
                elif tensors and isinstance(x, (np.ndarray, np.generic)):
                    full[i] = _new_tensor(x)
                else:
                    full[i] = x
            return full

        def run_forward(ctx: FunctionCtx, xs: tuple) -> tuple:
            with no_grad():
                out = cls.forward(ctx, *inputs(xs))
            store["single"] = not isinstance(out, tuple)
            return (out,) if store["single"] else out

        def fun(*xs):
            ctx = FunctionCtx((False,) * len(args))
            return tuple(_value(o) for o in run_forward(ctx, xs))

        def fwd(needs, *xs):
            flags = [False] * len(args)
            for i, n in zip(positions, needs):
                flags[i] = n
            ctx = FunctionCtx(tuple(flags))
            outs = run_forward(ctx, xs)
            nondiff = tuple(k for k, o in enumerate(outs) if id(o) in ctx._nondiff)
            ctx._versions = [(t._ver, t._ver[0]) for t in ctx.saved_tensors
                             if isinstance(t, Tensor)]  # fmt: skip
            return tuple(_value(o) for o in outs), [ctx], nondiff

        def bwd(res, cts):
            ctx = res[0]
            for cell, v in ctx._versions:
                if cell[0] != v:
                    raise RuntimeError(
                        f"one of the variables needed for gradient computation has been "
                        f"modified by an inplace operation: a tensor {name}.forward saved with "
                        f"ctx.save_for_backward is at version {cell[0]}; expected version {v}"
                    )
            gs = [_new_tensor(c) if tensors and isinstance(c, (np.ndarray, np.generic)) else c
                  for c in cts]  # fmt: skip
            if tensors:  # PyTorch's complex convention: the conjugates of the engine's
                gs = [_conj(g) for g in gs]
            got = cls.backward(ctx, *gs)
            got = got if isinstance(got, tuple) else (got,)
            if len(got) != len(args):
                raise RuntimeError(
                    f"function {name}Backward returned an incorrect number of gradients "
                    f"(expected {len(args)}, got {len(got)})"
                )
            back = (_conj if tensors else _same)
            return [None if got[i] is None else _value(back(got[i])) for i in positions]

        call = CustomVJPCall(name, fun, fwd, bwd, per_example=True)
        outs = bind(P.custom_vjp_call_p, *[args[i] for i in positions], call=call)
        if "single" not in store:
            fun(*[args[i] for i in positions])
        return outs[0] if store["single"] else tuple(outs)


def _conj(g: Any) -> Any:
    """The conjugate of a complex gradient (PyTorch's convention <-> the engine's)."""
    return cnp.conj(g) if g is not None and np.result_type(g).kind == "c" else g


def _same(g: Any) -> Any:
    return g


def _value(o: Any) -> Any:
    """A Tensor made without recording, as its value (a recorded one stays itself)."""
    return o._value if isinstance(o, Tensor) and o._node is None else o


def _new_tensor(v: Any) -> Any:
    from chainrule.tensor import _new

    return _new(np.asarray(v), None)
