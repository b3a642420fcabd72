"""PyTorch-style optimizers over chainrule Tensors (see `chainrule.optim` for the overview).

Each follows the single-tensor ("foreach=False") path of `torch.optim` operation for operation:
it reads ``p.grad``, updates the values of ``p`` in place (as ``p.add_(...)`` under
``cr.no_grad()`` would: views of ``p`` see the change and its version counter moves on) and
keeps its per-parameter state, NumPy arrays named as PyTorch's (``step``, ``exp_avg``,
``exp_avg_sq``, ``max_exp_avg_sq``, ``momentum_buffer``, ``square_avg``, ``grad_avg``), in
``optimizer.state[p]``. The arithmetic runs on the NumPy arrays behind the Tensors, in place,
with scratch buffers reused from step to step.

>>> import chainrule as cr
>>> from chainrule import optim
>>> w = cr.tensor([1.0, -2.0], requires_grad=True)
>>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     opt.zero_grad()
...     (w ** 2).sum().backward()
...     opt.step()
>>> w
tensor([ 0.46, -0.92], requires_grad=True)
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from copy import deepcopy
from itertools import chain
from typing import Any

import numpy as np

from chainrule.core.trace import ForeignTracer
from chainrule.tensor import Tensor, enable_grad, no_grad
from chainrule.transforms import blocked

__all__ = ["Adam", "AdamW", "LBFGS", "Optimizer", "RMSprop", "SGD"]


class _Required:
    """A default that a parameter group must give (torch's `required`)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _to_scalar(x: Any) -> Any:
    """A learning rate (or other option) given as a 1-element Tensor or array, as a float."""
    if isinstance(x, (Tensor, np.ndarray)):
        return float(np.asarray(x).reshape(-1)[0])
    return x


def _real(a: np.ndarray) -> np.ndarray:
    """A complex array's memory as real numbers (torch's `view_as_real`); others unchanged."""
    if a.dtype.kind == "c":
        return a[..., None].view(a.real.dtype)
    return a


def _device_array(t: Tensor, who: str) -> Any:
    """A Tensor's values as an array to update in place: NumPy's, or another namespace's
    that NumPy's functions dispatch to (``__array_ufunc__``, ``__array_function__``: CuPy);
    other namespaces are refused, never copied to the host."""
    v = t._value
    if type(v) is not ForeignTracer:
        return np.asarray(v)
    a = v._value
    if not hasattr(a, "__array_ufunc__") or not hasattr(a, "__array_function__"):
        raise NotImplementedError(
            f"optim.{who} updates parameters in place with NumPy's functions, which "
            f"{type(a).__module__.split('.')[0]} arrays (on {t.device!r}) do not take; use "
            "the functional optimizers (optim.sgd, optim.adam, ...) on their values"
        )
    return a


def _zeros(p: Tensor) -> np.ndarray:
    """Zeros of a parameter's shape, dtype and device (an optimizer's state)."""
    v = p._value
    return np.zeros_like(v._value) if type(v) is ForeignTracer else np.zeros(p.shape, p.dtype)


def _copy_tree(x: Any) -> Any:
    """A deep copy of a state value: arrays copied, containers rebuilt, the rest shared."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, dict):
        return {k: _copy_tree(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_copy_tree(v) for v in x)
    return x


def _as_array(x: Any) -> Any:
    """A loaded state value as a NumPy array (from a Tensor, a torch tensor, an array)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, Tensor):
        return np.array(x._value)
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch.Tensor, without importing torch
        return np.array(x.detach().cpu().numpy())
    return x


class Optimizer:
    """The base of the PyTorch-style optimizers: parameter groups, state, `zero_grad`,
    `state_dict`/`load_state_dict` (as `torch.optim.Optimizer`).

    `params` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts (parameter
    groups: ``{"params": [...], "lr": 0.1, ...}``, each option not given taken from the
    optimizer's defaults).

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w, b = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor(0.0, requires_grad=True)
    >>> opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> isinstance(opt, optim.Optimizer), [g["lr"] for g in opt.param_groups]
    (True, [0.1, 0.5])
    >>> ((w * w).sum() + 3 * b).backward()
    >>> opt.step()
    >>> w, b
    (tensor([0.8, 1.6], requires_grad=True), tensor(-1.5, requires_grad=True))
    """

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._buffers: dict[tuple, np.ndarray] = {}
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")  # fmt: skip
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k not in ("params",
                                                                               "param_names")]
        return "\n".join(lines) + "\n)"

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._buffers = {}

    # -- parameter groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the others from the defaults).

        >>> import chainrule as cr
        >>> from chainrule import optim
        >>> opt = optim.SGD([cr.zeros(2, requires_grad=True)], lr=0.1)
        >>> opt.add_param_group({"params": [cr.zeros(3, requires_grad=True)], "lr": 0.01})
        >>> [g["lr"] for g in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; use "
                            "a list instead")  # fmt: skip
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names; some "
                                 "param names are missing")  # fmt: skip
            param_group["param_names"] = names
        param_group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__name__)  # fmt: skip
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")  # fmt: skip
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)  # fmt: skip
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                raise ValueError("all optimizer param groups should be with/without names")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients -------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (or, with ``set_to_none=False``, fill them
        with zeros in place).

        >>> import chainrule as cr
        >>> from chainrule import optim
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> (2 * w).sum().backward()
        >>> opt = optim.SGD([w], lr=0.1)
        >>> opt.zero_grad()
        >>> w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if g.grad_fn is not None:
                        g.detach_()
                    elif g.requires_grad:
                        g.requires_grad_(False)
                    with no_grad():
                        g.zero_()

    def _grads(self, group: dict[str, Any]) -> list[tuple[Tensor, np.ndarray]]:
        """The group's parameters that have a gradient, with the gradient's values (arrays
        of the parameter's device)."""
        out = []
        for p in group["params"]:
            g = p._grad
            if g is None:
                continue
            out.append((p, _device_array(g, type(self).__name__)))
        return out

    @classmethod
    def _memory(cls, p: Tensor) -> np.ndarray:
        """The parameter's values as a writable array, to be updated in place."""
        v = p._value
        if type(v) is ForeignTracer:
            return _device_array(p, cls.__name__)
        if type(v) is not np.ndarray or not v.flags.writeable:
            v = p._value = np.array(v)
        return v

    def _buffer(self, like: np.ndarray, k: int = 0) -> np.ndarray:
        """Scratch array `k` of `like`'s shape, dtype and device, reused from step to step."""
        key = (like.shape, like.dtype, type(like), k)
        b = self._buffers.get(key)
        if b is None:
            b = self._buffers[key] = np.empty_like(like)
        return b

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; `closure`, when given, is
        called first (with gradient recording on) and its loss returned."""
        raise NotImplementedError

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The state, as PyTorch lays it out: ``{"state": {param id: {...}}, "param_groups":
        [{options..., "params": [param ids]}]}``, param ids counting the parameters in group
        order. Arrays are copies (NumPy), so a saved state dict never changes afterwards.

        >>> import chainrule as cr
        >>> from chainrule import optim
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> opt = optim.Adam([w], lr=0.1)
        >>> (w * 3).sum().backward()
        >>> opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"][0]), sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], [0])
        """
        ids: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                ids.setdefault(id(p), len(ids))
            packed["params"] = [ids[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {(ids[id(p)] if isinstance(p, Tensor) else p): _copy_tree(v)
                 for p, v in self.state.items() if not isinstance(p, Tensor) or id(p) in ids}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict made by `state_dict` (here or by a PyTorch optimizer of the same
        kind, its tensors converted): the parameters are matched by position, group by group;
        arrays are copied, cast to the floating dtype of their parameter (``step`` kept)."""
        groups = self.param_groups
        saved = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved, strict=True)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")  # fmt: skip
        saved_ids = chain.from_iterable(s["params"] for s in saved)
        id_map = dict(zip(saved_ids, chain.from_iterable(g["params"] for g in groups), strict=True))

        def cast(param: Tensor, value: Any, key: Any = None) -> Any:
            value = _as_array(value)
            if isinstance(value, np.ndarray):
                if key != "step" and param.dtype.kind in "fc":
                    return value.astype(param.dtype, copy=False)
                return value
            if isinstance(value, dict):
                return {k: cast(param, v, k) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(cast(param, v) for v in value)
            return value

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                state[id_map[k]] = cast(id_map[k], v)
            else:
                state[k] = _copy_tree(v)
        new_groups = []
        for group, s in zip(groups, saved, strict=True):
            s["params"] = group["params"]
            if "param_names" in group and "param_names" not in s:
                s["param_names"] = group["param_names"]
            for name, default in self.defaults.items():
                s.setdefault(name, default)
            new_groups.append(s)
        self.state = state
        self.param_groups = new_groups
        self._after_load()

    def _after_load(self) -> None:
        """Normalise loaded state (a Python number as ``step`` becomes an array)."""
        for st in self.state.values():
            if isinstance(st, dict) and "step" in st and not isinstance(st["step"], np.ndarray):
                st["step"] = np.array(float(st["step"]))


def _lerp_(a: np.ndarray, b: np.ndarray, w: float, tmp: np.ndarray) -> None:
    """a += w * (b - a) in place, as torch's `lerp_` computes it (`tmp`: scratch)."""
    np.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1 - w
        np.subtract(b, tmp, out=a)


_SPLIT = 1 << 17  # elements: a larger update is shared among the pool's threads


def _in_parts(update: Callable, *arrays: Any) -> None:
    """``update(*arrays)``, on large C-contiguous NumPy arrays of one size split into one part
    per core, run on the pool's threads (NumPy's ufuncs release the GIL): the same operations
    on the same elements, so the same result, bit for bit. (Adam on W7's MLP: 1.2 ms a step
    on two cores, 2.0 ms whole; smaller blocks, kept in cache, lost more to the GIL.)"""
    n = arrays[0].size
    if n < _SPLIT or blocked.WORKERS == 1 or any(
            type(a) is not np.ndarray or a.size != n or not a.flags.c_contiguous
            for a in arrays):  # fmt: skip
        update(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    blocked.map_blocks(lambda s: update(*[f[s] for f in flat]),
                       blocked.slices(n, blocked.WORKERS))


def _step_count(st: dict[str, Any]) -> float:
    st["step"] += 1
    return float(st["step"])


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
    decay (L2), as `torch.optim.SGD`:

    ``g += weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on
    the first step); ``g = g + momentum * buf`` (Nesterov) or ``g = buf``; ``p -= lr * g``.

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = optim.SGD([w], lr=0.1, weight_decay=0.5)
    >>> (3 * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.65], requires_grad=True)
    """

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:  # fmt: skip
        if _to_scalar(lr) < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr = _to_scalar(group["lr"])
                wd, momentum = group["weight_decay"], group["momentum"]
                dampening, nesterov = group["dampening"], group["nesterov"]
                for p, g in self._grads(group):
                    pv = self._memory(p)  # SGD is linear: complex numbers need no real view
                    if group["maximize"]:
                        g = -g
                    if wd != 0:
                        g = g + wd * pv
                    if momentum != 0:
                        st = self.state[p]
                        buf = st.get("momentum_buffer")
                        if buf is None:
                            buf = st["momentum_buffer"] = np.empty_like(pv)
                            buf[...] = g
                        else:
                            buf *= momentum
                            if dampening == 0:  # 1 * g is g: one pass fewer
                                buf += g
                            else:
                                tmp = self._buffer(buf)
                                np.multiply(g, 1 - dampening, out=tmp)
                                buf += tmp
                        g = g + momentum * buf if nesterov else buf
                    tmp = self._buffer(pv)
                    np.multiply(g, -lr, out=tmp)
                    pv += tmp
                    p._ver[0] += 1
        return loss


class Adam(Optimizer):
    """Adam, as `torch.optim.Adam` (AMSGrad with ``amsgrad=True``; L2 weight decay added to
    the gradient, or decoupled with ``decoupled_weight_decay=True``, which is `AdamW`):

    ``m = lerp(m, g, 1 - b1)``; ``v = b2 * v + (1 - b2) * g * g``;
    ``p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)``.

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (3 * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.9], requires_grad=True)
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False) -> None:  # fmt: skip
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i in (0, 1):
            if not 0.0 <= _to_scalar(betas[i]) < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": tuple(_to_scalar(b) for b in betas), "eps": eps,
                    "weight_decay": weight_decay, "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}  # fmt: skip
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr = _to_scalar(group["lr"])
                b1, b2 = (_to_scalar(b) for b in group["betas"])
                eps, wd, amsgrad = group["eps"], group["weight_decay"], group["amsgrad"]
                for p, g in self._grads(group):
                    st = self.state[p]
                    if not st:
                        st["step"] = np.array(0.0)
                        st["exp_avg"] = _zeros(p)
                        st["exp_avg_sq"] = _zeros(p)
                        if amsgrad:
                            st["max_exp_avg_sq"] = _zeros(p)
                    pv = _real(self._memory(p))
                    g = _real(g)
                    if group["maximize"]:
                        g = -g
                    step = _step_count(st)
                    if wd != 0:
                        if group["decoupled_weight_decay"]:
                            pv *= 1 - lr * wd
                        else:
                            g = g + wd * pv
                    m, v = _real(st["exp_avg"]), _real(st["exp_avg_sq"])
                    step_size = lr / (1 - b1**step)
                    bias_correction2_sqrt = (1 - b2**step) ** 0.5

                    def update(pv, g, m, v, tmp, num, *vmax):
                        _lerp_(m, g, 1 - b1, tmp)
                        np.multiply(g, 1 - b2, out=tmp)
                        tmp *= g
                        v *= b2
                        v += tmp
                        if vmax:  # amsgrad
                            np.maximum(vmax[0], v, out=vmax[0])
                            v = vmax[0]
                        np.sqrt(v, out=tmp)
                        tmp /= bias_correction2_sqrt
                        tmp += eps  # the denominator
                        np.multiply(m, -step_size, out=num)
                        num /= tmp
                        pv += num

                    _in_parts(update, pv, g, m, v, self._buffer(pv), self._buffer(pv, 1),
                               *([_real(st["max_exp_avg_sq"])] if amsgrad else []))
                    p._ver[0] += 1
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay, as `torch.optim.AdamW`: ``p *= 1 - lr *
    weight_decay`` before Adam's update; default ``weight_decay=1e-2`` (optax's `adamw`:
    1e-4).

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (3 * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.85], requires_grad=True)
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)  # fmt: skip

    def _after_load(self) -> None:
        super()._after_load()
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class RMSprop(Optimizer):
    """RMSprop, as `torch.optim.RMSprop` (eps outside the square root, ``alpha=0.99``; optax's
    `rmsprop` differs on both):

    ``v = alpha * v + (1 - alpha) * g * g``; ``avg = sqrt(v - mean(g)**2)`` (centered) or
    ``sqrt(v)``, plus eps; ``buf = momentum * buf + g / avg``, ``p -= lr * buf`` (or ``p -=
    lr * g / avg`` without momentum).

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = optim.RMSprop([w], lr=0.01)
    >>> (3 * w).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.9], requires_grad=True)
    """

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:  # fmt: skip
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                lr = _to_scalar(group["lr"])
                alpha, eps, wd = group["alpha"], group["eps"], group["weight_decay"]
                momentum, centered = group["momentum"], group["centered"]
                for p, g in self._grads(group):
                    st = self.state[p]
                    if not st:
                        st["step"] = np.array(0.0)
                        st["square_avg"] = _zeros(p)
                        if momentum > 0:
                            st["momentum_buffer"] = _zeros(p)
                        if centered:
                            st["grad_avg"] = _zeros(p)
                    pv = _real(self._memory(p))
                    g = _real(g)
                    if group["maximize"]:
                        g = -g
                    _step_count(st)
                    if wd != 0:
                        g = g + wd * pv
                    sq = _real(st["square_avg"])
                    tmp = self._buffer(pv)
                    avg = self._buffer(pv, 1)
                    np.multiply(g, 1 - alpha, out=tmp)
                    tmp *= g
                    sq *= alpha
                    sq += tmp
                    if centered:
                        ga = _real(st["grad_avg"])
                        _lerp_(ga, g, 1 - alpha, tmp)
                        np.multiply(ga, -1, out=tmp)
                        tmp *= ga
                        np.add(sq, tmp, out=avg)
                        np.sqrt(avg, out=avg)
                    else:
                        np.sqrt(sq, out=avg)
                    avg += eps
                    if momentum > 0:
                        buf = _real(st["momentum_buffer"])
                        buf *= momentum
                        np.divide(g, avg, out=tmp)
                        buf += tmp
                        np.multiply(buf, -lr, out=tmp)
                    else:
                        np.multiply(g, -lr, out=tmp)
                        tmp /= avg
                    pv += tmp
                    p._ver[0] += 1
        return loss


# --- L-BFGS ----------------------------------------------------------------------------------


def _cubic_interpolate(x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any,
                       bounds: tuple | None = None) -> Any:  # fmt: skip
    """The minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), within `bounds`
    (torch's `_cubic_interpolate`, from minFunc's polyinterp)."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func: Callable, x: list, t: Any, d: np.ndarray, f: float, g: np.ndarray,
                  gtd: Any, c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                  max_ls: int = 25) -> tuple:  # fmt: skip
    """A line search for a step satisfying the strong Wolfe conditions (torch's
    `_strong_wolfe`, from minFunc's lswolfe): returns (f, g, t, evaluations)."""
    d_norm = np.max(np.abs(d))
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = g_new.dot(d)

    # bracket an interval containing a point satisfying the Wolfe criteria
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # interpolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))  # fmt: skip
        # next step
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

    # reached max number of iterations?
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom phase: refine the bracket until a point satisfies the criteria
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # the bracket is tiny
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])  # fmt: skip
        # too close to a boundary: move 0.1 * (bracket length) away from it
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # Armijo condition not satisfied or not lower than lowest point
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # Wolfe conditions satisfied
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # old high becomes new low
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            # new point becomes new low
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new

    t = bracket[low_pos]
    return bracket_f[low_pos], bracket_g[low_pos], t, ls_func_evals


class LBFGS(Optimizer):
    """L-BFGS, as `torch.optim.LBFGS` (its algorithm and state, after minFunc): each
    ``step(closure)`` runs up to `max_iter` iterations, `max_eval` evaluations of `closure`
    (which must zero the gradients, compute the loss, call ``backward()`` and return the
    loss); ``line_search_fn="strong_wolfe"`` searches each step's length, otherwise the
    step is `lr` (the first one scaled down by the gradient's 1-norm). One parameter group
    only; the state lives under the first parameter, as PyTorch's.

    >>> import chainrule as cr
    >>> from chainrule import optim
    >>> x = cr.tensor([1.5, -0.5], requires_grad=True)
    >>> opt = optim.LBFGS([x], line_search_fn="strong_wolfe")
    >>> def closure():
    ...     opt.zero_grad()
    ...     loss = ((x - 3.0) ** 2).sum()
    ...     loss.backward()
    ...     return loss
    >>> _ = opt.step(closure)
    >>> x.detach().numpy().round(6)
    array([3., 3.])
    """

    def __init__(self, params: Iterable[Any], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:  # fmt: skip
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError("only 'strong_wolfe' is supported as line_search_fn")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._params = self.param_groups[0]["params"]

    def _numel(self) -> int:
        return sum(p.numel() * (2 if p.dtype.kind == "c" else 1) for p in self._params)

    def _gather_flat_grad(self) -> np.ndarray:
        views = []
        for p in self._params:
            g = p._grad
            if g is None:
                views.append(_real(_zeros(p)).reshape(-1))
            else:
                views.append(_real(_device_array(g, "LBFGS")).reshape(-1))
        return np.concatenate(views, 0)

    def _add_grad(self, step_size: Any, update: np.ndarray) -> None:
        offset = 0
        for p in self._params:
            pv = _real(self._memory(p))
            n = pv.size
            pv += step_size * update[offset:offset + n].reshape(pv.shape)
            p._ver[0] += 1
            offset += n
        if offset != self._numel():
            raise AssertionError(f"LBFGS: {offset} updated values, expected {self._numel()}")

    def _clone_param(self) -> list[np.ndarray]:
        return [self._memory(p).copy() for p in self._params]

    def _set_param(self, params_data: list[np.ndarray]) -> None:
        for p, pdata in zip(self._params, params_data, strict=True):
            np.copyto(self._memory(p), pdata)
            p._ver[0] += 1

    def _directional_evaluate(self, closure: Callable, x: list, t: Any, d: np.ndarray) -> tuple:
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to `max_iter` iterations; returns the loss at the start."""
        if closure is None:
            raise RuntimeError("LBFGS.step needs a closure that reevaluates the model and "
                               "returns the loss")  # fmt: skip
        with no_grad():
            return self._step(closure)

    def _step(self, closure: Callable[[], Any]) -> Any:
        def evaluate() -> Any:
            with enable_grad():
                return closure()

        group = self.param_groups[0]
        lr = _to_scalar(group["lr"])
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        # the state is global, kept under the first parameter (as PyTorch's)
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = evaluate()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1

        flat_grad = self._gather_flat_grad()
        opt_cond = np.max(np.abs(flat_grad)) <= tolerance_grad
        if opt_cond:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the descent direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                # update the memory
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:  # shift the history by one
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / y.dot(y)  # the scale of the initial Hessian

                # the L-BFGS two-loop recursion: the approximate inverse Hessian times -grad
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    al[i] = old_stps[i].dot(q) * ro[i]
                    q += -al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(num_old):
                    be_i = old_dirs[i].dot(r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / np.sum(np.abs(flat_grad))) * lr
            else:
                t = lr

            gtd = flat_grad.dot(d)  # the directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                x_init = self._clone_param()

                def obj_func(x: list, t: Any, d: np.ndarray) -> tuple:
                    return self._directional_evaluate(evaluate, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = np.max(np.abs(flat_grad)) <= tolerance_grad
            else:
                # no line search: a fixed step
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # evaluate again, except on the last iteration
                    loss = float(evaluate())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = np.max(np.abs(flat_grad)) <= tolerance_grad
                    ls_func_evals = 1

            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # the stopping conditions
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if opt_cond:
                break
            if np.max(np.abs(d * t)) <= tolerance_change:  # lack of progress
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss

