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
    """The `ctx` of a custom `Function`: what forward leaves for backward."""

    def __init__(self, needs: tuple):
        self.needs_input_grad = needs
        self.saved_tensors: tuple = ()
        self._nondiff: set = set()
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

    Under `cr.vmap` it runs once per example.

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
        from chainrule.core.trace import bind
        from chainrule.transforms.custom import CustomVJPCall

        positions = [i for i, a in enumerate(args) if _is_array(a)]
        store: dict = {}
        name = cls.__name__

        def wrap(v: Any) -> Any:  # forward and backward see Tensors, as in PyTorch
            return _new_tensor(v) if _concrete(v) else v

        def unwrap(v: Any) -> Any:
            return v._value if isinstance(v, Tensor) and v._node is None else v

        def call_forward(ctx: FunctionCtx, xs: tuple) -> tuple:
            full = list(args)
            for i, x in zip(positions, xs):
                full[i] = wrap(x)
            with no_grad():
                out = cls.forward(ctx, *full)
            single = not isinstance(out, tuple)
            outs = (out,) if single else out
            store["single"] = single
            return outs

        def fun(*xs):
            return tuple(unwrap(o) for o in call_forward(FunctionCtx((False,) * len(xs)), xs))

        def fwd(needs, *xs):
            ctx = FunctionCtx(tuple(needs))
            outs = call_forward(ctx, xs)
            nondiff = tuple(k for k, o in enumerate(outs) if id(o) in ctx._nondiff)
            store["ctx"] = ctx
            return tuple(unwrap(o) for o in outs), [], nondiff

        def bwd(res, cts):
            ctx = store["ctx"]
            got = cls.backward(ctx, *[wrap(c) for c in cts])
            got = got if isinstance(got, tuple) else (got,)
            if len(got) != len(args):
                raise RuntimeError(
                    f"function {name}Backward returned an incorrect number of gradients "
                    f"(expected {len(args)}, got {len(got)})"
                )
            return [None if got[i] is None else unwrap(got[i]) for i in positions]

        call = CustomVJPCall(name, fun, fwd, bwd, per_example=True)
        outs = bind(P.custom_vjp_call_p, *[args[i] for i in positions], call=call)
        if "single" not in store:
            fun(*[args[i] for i in positions])
        return outs[0] if store["single"] else tuple(outs)


def _is_array(a: Any) -> bool:
    import numpy as np

    from chainrule.core.trace import Tracer

    return isinstance(a, (Tracer, np.ndarray)) or (
        isinstance(a, float) and not isinstance(a, bool)
    )


def _concrete(v: Any) -> bool:
    import numpy as np

    return isinstance(v, (np.ndarray, np.generic, float))


def _new_tensor(v: Any) -> Any:
    from chainrule.tensor import _new

    import numpy as np

    return _new(np.asarray(v), None)
