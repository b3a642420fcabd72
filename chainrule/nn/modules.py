"""`Module` and the layers a ported PyTorch script needs, with PyTorch's behaviour:
attribute registration of parameters, buffers and submodules, `state_dict` with PyTorch's
key names, `load_state_dict` with its errors, `train`/`eval`, `zero_grad`, `to(dtype)`, and
PyTorch's `repr`. Parameters default to float64 (chainrule's default dtype).

Modules also run functionally, as `torch.func.functional_call`: `functional_call(model,
params, x)` runs `model` with the values of `params` (a dict keyed as `state_dict`: arrays,
traced values or Tensors) in place of its own, so ``cr.jit(cr.grad(loss))`` differentiates
a pytree of parameters.

>>> import numpy as np, chainrule as cr
>>> from chainrule import nn
>>> _ = cr.manual_seed(0)
>>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> model
Sequential(
  (0): Linear(in_features=3, out_features=4, bias=True)
  (1): ReLU()
  (2): Linear(in_features=4, out_features=2, bias=True)
)
>>> list(model.state_dict())
['0.weight', '0.bias', '2.weight', '2.bias']
>>> params = {k: v.numpy() for k, v in model.state_dict().items()}
>>> loss = lambda p, x: cr.numpy.sum(nn.functional_call(model, p, x) ** 2)
>>> cr.grad(loss)(params, np.ones((5, 3)))["2.bias"].shape
(2,)
"""

from __future__ import annotations

import math
from collections import OrderedDict, namedtuple
from typing import Any
from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np

from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule import torch_functions as _F
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor, _check_device, no_grad, tensor, to_arguments

__all__ = [
    "Module", "Sequential", "ModuleList", "Identity", "Linear", "ReLU", "Tanh", "Sigmoid",
    "GELU", "Softmax", "LogSoftmax", "Flatten", "Dropout", "LayerNorm", "BatchNorm1d",
    "BatchNorm2d", "Embedding", "MSELoss", "CrossEntropyLoss", "NLLLoss", "functional_call",
]  # fmt: skip


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class _IncompatibleKeys(namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What `load_state_dict` returns: the missing and the unexpected keys."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _value(v: Any) -> Any:
    """A state-dict entry as something `Tensor.copy_` takes: a Tensor as it is; anything
    else (a NumPy array, a list, a PyTorch tensor) as a NumPy array."""
    if isinstance(v, Tensor):
        return v.detach()
    if hasattr(v, "detach") and hasattr(v, "numpy"):  # a PyTorch tensor
        return np.asarray(v.detach().cpu().numpy())
    return np.asarray(v)


def _to_arguments(args: tuple, kwargs: dict) -> tuple[Any, Any]:
    """The (device, dtype) of `Module.to(...)`'s arguments (None: unchanged), read as a
    Tensor's are; a `Tensor` argument gives its device too."""
    device, dtype = to_arguments(args, kwargs)
    if device is None:
        device = next((a.device for a in args if isinstance(a, Tensor)), None)
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "fc":
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but "
                            f"got desired dtype={dtype}")  # fmt: skip
    return device, dtype


class Module:
    """The base class of layers and models (PyTorch's `torch.nn.Module`).

    Subclasses call ``super().__init__()`` first, assign `Parameter`s, submodules and
    buffers (`register_buffer`) as attributes, and define `forward`; calling the module
    calls `forward`. Parameters, buffers and submodules are kept in registration order, and
    named as PyTorch names them (``"0.weight"``, ``"encoder.layer.bias"``).

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> class Affine(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.scale = nn.Parameter(cr.ones(2))
    ...         self.shift = nn.Parameter(cr.zeros(2))
    ...     def forward(self, x):
    ...         return x * self.scale + self.shift
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['scale', 'shift']
    >>> m(cr.tensor([1.0, 2.0])).sum().backward()
    >>> m.scale.grad
    tensor([1., 2.])
    """

    training: bool
    _parameters: dict
    _buffers: dict
    _modules: dict

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"Module.__init__() takes no arguments (got {len(args)} positional "
                            f"and the keywords {sorted(kwargs)})")  # fmt: skip
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- registration --------------------------------------------------------------------------
    def _initialized(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call")

    def _check_name(self, name: Any, what: str, table: dict) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{what} name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError(f'{what} name can\'t be empty string ""')
        if hasattr(self, name) and name not in table:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register `param` (a `Parameter`, or None for an absent one) as `name`.

        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> m = nn.Module(); m.register_parameter("w", nn.Parameter(cr.zeros(1)))
        >>> list(m.state_dict())
        ['w']
        """
        self._initialized("parameters")
        self._check_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (chainrule.nn.Parameter or None required)")  # fmt: skip
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a Tensor that is part of the state but not a parameter (in `state_dict`
        unless `persistent=False`; cast by `to`).

        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> m = nn.Module(); m.register_buffer("mean", cr.zeros(3))
        >>> list(m.state_dict()), list(m.parameters())
        (['mean'], [])
        """
        self._initialized("buffers")
        self._check_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(chainrule.Tensor or None required)")  # fmt: skip
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register `module` as the submodule `name` (as assigning the attribute does).

        >>> from chainrule import nn
        >>> m = nn.Module(); m.add_module("act", nn.ReLU()); m
        Module(
          (act): ReLU()
        )
        """
        self._initialized("module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module", self._modules)
        self._modules[name] = module

    register_module = add_module

    def _forget(self, name: str, keep: dict | None = None) -> None:
        """Drop `name` from every table but `keep`, where a reassignment keeps its place (the
        order of parameters, state_dict and a Sequential's layers), as in PyTorch."""
        for table in (self.__dict__, self._parameters, self._buffers, self._modules):
            if table is not keep:
                table.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._initialized("parameters")
            self._forget(name, keep=self._parameters)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(chainrule.nn.Parameter or None expected)")  # fmt: skip
            params[name] = None
        elif isinstance(value, Module):
            self._initialized("module")
            self._forget(name, keep=self._modules)
            self._modules[name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (chainrule.nn.Module or None expected)")  # fmt: skip
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(chainrule.Tensor or None expected)")  # fmt: skip
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            t = d.get(table)
            if t is not None and name in t:
                return t[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list:
        keys = list(super().__dir__()) + list(self._parameters) + list(self._modules) + \
            list(self._buffers)  # fmt: skip
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    # -- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:  # fmt: skip
        """(name, module) for this module ("") and every submodule, depth first.

        >>> from chainrule import nn
        >>> [n for n, _ in nn.Sequential(nn.Linear(1, 1), nn.ReLU()).named_modules()]
        ['', '0', '1']
        """
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every submodule."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct submodules."""
        memo = set()
        for name, m in self._modules.items():
            if m is not None and m not in memo:
                memo.add(m)
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules.

        >>> from chainrule import nn
        >>> [type(m).__name__ for m in nn.Sequential(nn.Linear(1, 1), nn.ReLU()).children()]
        ['Linear', 'ReLU']
        """
        for _, m in self.named_children():
            yield m

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:  # fmt: skip
        memo: set = set()
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else [(prefix, self)])  # fmt: skip
        for mod_prefix, mod in mods:
            for k, v in getattr(mod, table).items():
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:  # fmt: skip
        """(name, parameter) pairs, named as in `state_dict`; a shared parameter once.

        >>> from chainrule import nn
        >>> [(n, tuple(p.shape)) for n, p in nn.Linear(3, 2).named_parameters()]
        [('weight', (2, 3)), ('bias', (2,))]
        """
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (what an optimizer takes).

        >>> from chainrule import nn
        >>> sum(p.numel() for p in nn.Linear(3, 2).parameters())
        8
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:  # fmt: skip
        """(name, buffer) pairs."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path `target` ("" is this module).

        >>> from chainrule import nn
        >>> nn.Sequential(nn.Sequential(nn.ReLU())).get_submodule("0.0")
        ReLU()
        """
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path `target`."""
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return mod._parameters[name]

    def _state_slots(self, prefix: str = "", with_non_persistent: bool = False) -> list:
        """[(key, module, table, name)] of every parameter and (persistent) buffer, in
        `state_dict` order, shared ones under each of their names."""
        out = []
        for name, p in self._parameters.items():
            if p is not None:
                out.append((prefix + name, self, "_parameters", name))
        for name, b in self._buffers.items():
            if b is not None and (with_non_persistent or
                                  name not in self._non_persistent_buffers_set):  # fmt: skip
                out.append((prefix + name, self, "_buffers", name))
        for name, m in self._modules.items():
            if m is not None:
                out.extend(m._state_slots(prefix + name + ".", with_non_persistent))
        return out

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self, *, destination: Any = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:  # fmt: skip
        """The parameters and persistent buffers by name (PyTorch's keys and order), as
        Tensors detached from the graph that share memory with them (the Parameters
        themselves with `keep_vars=True`).

        >>> from chainrule import nn
        >>> list(nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)).state_dict())
        ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        out = OrderedDict() if destination is None else destination
        for key, mod, table, name in self._state_slots(prefix):
            v = getattr(mod, table)[name]
            out[key] = v if keep_vars else v.detach()
        return out

    def load_state_dict(self, state_dict: Mapping, strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:  # fmt: skip
        """Copy the values of `state_dict` (Tensors, NumPy arrays, PyTorch tensors) into the
        parameters and buffers of the same names, cast to their dtypes. With `strict`,
        missing and unexpected keys are errors; a shape mismatch always is. The errors are
        PyTorch's, all of them in one RuntimeError; nothing is copied when one is raised.
        With `assign`, the given tensors replace the module's (a Parameter stays the same
        object; an array or a PyTorch tensor becomes a tensor on its memory, as PyTorch's
        `assign` shares storage), keeping their dtypes and the module's `requires_grad`.
        Returns the missing and unexpected keys.

        >>> import numpy as np
        >>> from chainrule import nn
        >>> m = nn.Linear(2, 1)
        >>> m.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])})
        <All keys matched successfully>
        >>> try:
        ...     m.load_state_dict({"weight": np.zeros((1, 2)), "scale": np.ones(1)})
        ... except RuntimeError as e:
        ...     print(e)
        Error(s) in loading state_dict for Linear:
            Missing key(s) in state_dict: "bias".
            Unexpected key(s) in state_dict: "scale".
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        slots = self._state_slots()
        expected = {key for key, *_ in slots}
        missing = [key for key, *_ in slots if key not in state_dict]
        unexpected = [key for key in state_dict if key not in expected]
        errors, todo = [], []
        for key, mod, table, name in slots:
            if key not in state_dict:
                continue
            cur = getattr(mod, table)[name]
            v = _value(state_dict[key])
            if tuple(np.shape(v)) != tuple(cur.shape):
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{tuple(np.shape(v))} from checkpoint, the shape in current "
                              f"model is {tuple(cur.shape)}.")  # fmt: skip
                continue
            todo.append((mod, table, name, cur, v, state_dict[key]))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        with no_grad():
            for mod, table, name, cur, v, given in todo:
                if assign:  # the given tensor itself (an array: a tensor on its memory)
                    new = given if isinstance(given, Tensor) else _F.from_numpy(
                        v if type(v) is np.ndarray else np.asarray(v))  # fmt: skip
                    if table == "_parameters":
                        if isinstance(new, Parameter):
                            new.requires_grad_(cur.requires_grad)
                        else:  # (sharing its memory and version counter)
                            new = Parameter(new, requires_grad=cur.requires_grad)
                    getattr(mod, table)[name] = new
                else:
                    cur.copy_(v)
        return _IncompatibleKeys(missing, unexpected)

    # -- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (`training`) on this module and its submodules; returns it.

        >>> from chainrule import nn
        >>> nn.Sequential(nn.Dropout()).train(False)[0].training
        False
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)`` (Dropout becomes the identity)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradient recording of every parameter on or off; returns the module."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients (`.grad = None`; zeros with
        `set_to_none=False`).

        >>> import chainrule as cr
        >>> from chainrule import nn
        >>> m = nn.Linear(2, 1); m(cr.ones(2)).sum().backward()
        >>> m.zero_grad(); m.weight.grad is None
        True
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():  # the same tensor, zeroed in place (a reference sees it)
                    p.grad.detach_()
                    p.grad.zero_()

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call `fn` on every submodule, then on this module; returns it."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- dtypes --------------------------------------------------------------------------------
    def _convert(self, device: Any, dtype: np.dtype | None) -> Module:
        """Parameters and buffers moved to `device` (None: where they are) and, the
        floating-point ones, cast to `dtype` (None: unchanged), in place: the Parameter
        objects stay (optimizers hold them), their values and gradients are replaced."""

        def new(t: Tensor) -> Tensor:
            t = t.detach()
            if device is not None:
                t = t.to(device)
            return t.to(dtype) if dtype is not None and t.dtype.kind in "fc" else t

        for mod in self.modules():
            for p in mod._parameters.values():
                if p is None:
                    continue
                v = new(p)
                if v.device == p.device and v.dtype == p.dtype:
                    continue
                rg = p.requires_grad
                p.requires_grad_(False)  # the leaf is made again, with its new value
                p.data = v
                p.requires_grad_(rg)
                if p.grad is not None:
                    p.grad = new(p.grad)
            for name, b in mod._buffers.items():
                v = None if b is None else new(b)
                if v is not None and (v.device != b.device or v.dtype != b.dtype):
                    mod._buffers[name] = v
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Move the parameters and buffers to a device and/or cast the floating-point ones
        to a dtype, in place (`to(np.float32)`, `to("cuda")`, `to("cpu", np.float32)`,
        `to(dtype=...)`, `to(device=...)`, `to(tensor)`); returns the module.

        >>> import numpy as np
        >>> from chainrule import nn
        >>> nn.Linear(2, 2).to(np.float32).weight.dtype
        dtype('float32')
        """
        device, dtype = _to_arguments(args, dict(kwargs))
        if device is None and dtype is None:
            return self
        return self._convert(device, dtype)

    def float(self) -> Module:
        """Cast the floating-point parameters and buffers to float32."""
        return self._convert(None, np.dtype(np.float32))

    def double(self) -> Module:
        """Cast the floating-point parameters and buffers to float64."""
        return self._convert(None, np.dtype(np.float64))

    def cpu(self) -> Module:
        """Move the parameters and buffers to the CPU, in place (as PyTorch).

        >>> from chainrule import nn
        >>> nn.Linear(2, 2).cpu().weight.device
        'cpu'
        """
        return self._convert("cpu", None)

    def cuda(self, device: Any = None) -> Module:
        """Move the parameters and buffers to the current GPU (or GPU `device`), in place.

        >>> from chainrule import nn
        >>> nn.Linear(2, 2).cuda().weight.device  # doctest: +SKIP
        'cuda:0'
        """
        name = device if isinstance(device, str) else f"cuda:{device}"
        return self._convert("cuda" if device is None else name, None)

    # -- repr ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The module's own settings, shown in its repr (override it)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]  # fmt: skip
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


# --- containers ----------------------------------------------------------------------------------


class Sequential(Module):
    """Modules applied one after the other; indexable (a slice is a Sequential), iterable,
    with `len` and `append`. Built from modules (named "0", "1", ...) or an OrderedDict.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    >>> len(net), net[-1], net[:2]
    (3, Linear(in_features=3, out_features=1, bias=True), Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Tanh()
    ))
    >>> net(cr.ones(4, 2)).shape
    (4, 1)
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def _key(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._key(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for k in keys:
            del self._modules[k]
        # PyTorch keeps the numbering
        items = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add `module` at the end; returns the Sequential."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """Add `modules` at the end; returns the Sequential."""
        for m in modules:
            self.append(m)
        return self

    def forward(self, input: Any) -> Any:  # noqa: A002
        for module in self:
            input = module(input)
        return input


class ModuleList(Module):
    """A list of modules, registered (their parameters are the owner's).

    >>> from chainrule import nn
    >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters()))
    (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _key(self, idx: int) -> str:
        n = len(self._modules)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return str(idx % n)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[self._key(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._key(idx), module)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        """Add `module` at the end; returns the list."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add `modules` at the end; returns the list."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert `module` before position `index`."""
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)


# --- layers ------------------------------------------------------------------------------------


class Identity(Module):
    """Returns its input.

    >>> from chainrule import nn
    >>> nn.Identity()(3.0)
    3.0
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:  # noqa: A002
        return input


class Linear(Module):
    """y = x Wᵀ + b, PyTorch's layout (`weight` of shape (out_features, in_features)) and
    initialisation: `weight` from kaiming_uniform_ with a = √5, so U(-1/√in, 1/√in), and
    `bias` from U(-1/√in, 1/√in). float64 unless `dtype` says otherwise; random values from
    chainrule's generator (`cr.manual_seed`).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> layer = nn.Linear(4, 3, dtype=np.float32)
    >>> layer.weight.shape, layer.weight.dtype, layer(cr.ones(2, 4, dtype=np.float32)).shape
    ((3, 4), dtype('float32'), (2, 3))
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        _check_device(device)
        dt = np.dtype(np.float64 if dtype is None else dtype)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(np.empty((out_features, in_features), dt))
        if bias:
            self.bias = Parameter(np.empty(out_features, dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()  # drawn on the host (one stream for every device), then moved
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Draw the weight and the bias again (PyTorch's initialisation)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")  # fmt: skip


class ReLU(Module):
    """max(x, 0) (`F.relu`).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.ReLU()(np.array([-1.0, 2.0]))
    array([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """tanh(x).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.Tanh()(np.array([0.0]))
    array([0.])
    """

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.tanh(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)) (`F.sigmoid`, without overflow).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.Sigmoid()(np.array([0.0, -1e4]))
    array([0.5, 0. ])
    """

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.sigmoid(input)


class GELU(Module):
    """`F.gelu` (exact, or ``approximate="tanh"``).

    >>> from chainrule import nn
    >>> nn.GELU(approximate="tanh")
    GELU(approximate='tanh')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """`F.softmax` along `dim`.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.Softmax(dim=-1)(np.zeros((1, 2)))
    array([[0.5, 0.5]])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """`F.log_softmax` along `dim`.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.LogSoftmax(dim=1)(np.zeros((1, 2)))
    array([[-0.69314718, -0.69314718]])
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Flatten(Module):
    """Dimensions `start_dim` to `end_dim` merged into one (by default all but the batch).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.Flatten()(np.zeros((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Any) -> Any:  # noqa: A002
        from chainrule import torch_functions as _tf

        return _tf.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """`F.dropout` while training (mask from chainrule's generator, `cr.manual_seed`), the
    identity in eval mode.

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> drop = nn.Dropout(p=0.5)
    >>> _ = cr.manual_seed(0); drop(np.ones(4))
    array([2., 0., 0., 0.])
    >>> drop.eval()(np.ones(4))
    array([1., 1., 1., 1.])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


def _affine(m: Module, on: bool, bias: bool, shape: tuple, dtype: Any) -> None:
    """Register `m`'s `weight` and `bias` Parameters of `shape` (float64 unless `dtype`; their
    values set by `reset_parameters`), in PyTorch's order; None where `on` (or `bias`) is
    off, as PyTorch registers them."""
    dt = np.dtype(np.float64 if dtype is None else dtype)
    m.register_parameter("weight", Parameter(np.empty(shape, dt)) if on else None)
    m.register_parameter("bias", Parameter(np.empty(shape, dt)) if on and bias else None)


class LayerNorm(Module):
    """`F.layer_norm` over the last dimensions, `normalized_shape` (an int or a tuple), with
    learnt `weight` (ones) and `bias` (zeros) of that shape while `elementwise_affine`
    (`bias=False`: no bias). float64 unless `dtype` says otherwise.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> ln = nn.LayerNorm(3)
    >>> ln
    LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> [(n, tuple(p.shape)) for n, p in ln.named_parameters()]
    [('weight', (3,)), ('bias', (3,))]
    >>> ln(np.array([[1.0, 2.0, 3.0]])).detach().numpy()
    array([[-1.22473569,  0.        ,  1.22473569]])
    """

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        _check_device(device)
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine(self, elementwise_affine, bias, self.normalized_shape, dtype)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Set the weight to ones and the bias to zeros.

        >>> from chainrule import nn
        >>> ln = nn.LayerNorm(2); ln.reset_parameters(); ln.weight
        Parameter containing:
        tensor([1., 1.], requires_grad=True)
        """
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")  # fmt: skip


class _BatchNorm(Module):
    """What `BatchNorm1d` and `BatchNorm2d` share (PyTorch's `_BatchNorm`): the parameters,
    the running statistics and `forward`; a subclass checks the input's dimensions."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:  # fmt: skip
        super().__init__()
        _check_device(device)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = np.dtype(np.float64 if dtype is None else dtype)
        # registered in PyTorch's order, so that state_dict has its keys in its order
        _affine(self, affine, bias, (num_features,), dtype)
        if track_running_stats:
            self.register_buffer("running_mean", tensor(np.zeros(num_features, dt)))
            self.register_buffer("running_var", tensor(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked", tensor(np.array(0, np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_running_stats(self) -> None:
        """Running mean zeros, running variance ones, `num_batches_tracked` 0 (where the
        running statistics are tracked).

        >>> import numpy as np
        >>> from chainrule import nn
        >>> bn = nn.BatchNorm1d(2)
        >>> _ = bn(np.array([[1.0, 2.0], [3.0, 5.0]]))
        >>> bn.running_mean, bn.num_batches_tracked
        (tensor([0.2 , 0.35]), tensor(1, dtype=int64))
        >>> bn.reset_running_stats(); bn.running_mean, bn.num_batches_tracked
        (tensor([0., 0.]), tensor(0, dtype=int64))
        """
        if self.track_running_stats:
            with no_grad():  # in place: the same buffers (a state_dict holding them sees it)
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """`reset_running_stats`, then the weight to ones and the bias to zeros.

        >>> from chainrule import nn
        >>> bn = nn.BatchNorm2d(2); bn.reset_parameters(); bn.weight
        Parameter containing:
        tensor([1., 1.], requires_grad=True)
        """
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Any) -> None:  # noqa: A002
        raise NotImplementedError

    def forward(self, input: Any) -> Any:  # noqa: A002
        self._check_input_dim(input)
        # PyTorch's logic: the factor of the running average (momentum, or 1 / the number of
        # batches seen for a cumulative average) and which statistics normalise
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            count = self.num_batches_tracked
            if isinstance(count, Tensor):
                with no_grad():
                    count.add_(1)
            elif isinstance(count, np.ndarray):  # given as an array (functional_call)
                count += 1
            else:  # traced (functional_call under a transformation): not counted
                count = count + 1
            if self.momentum is None:
                factor = 1.0 / float(np.asarray(count.detach().numpy() if
                                                isinstance(count, Tensor) else count))  # fmt: skip
        # eval mode without running statistics normalises with the batch's, as PyTorch
        batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None,
                            self.running_var if use_running else None, self.weight, self.bias,
                            batch_stats, factor, self.eps)  # fmt: skip

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


def _ndim(input: Any) -> int:  # noqa: A002
    return len(input.shape) if hasattr(input, "shape") else np.ndim(input)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation (`F.batch_norm`) of an input of shape (N, C) or (N, C, L), C =
    `num_features`, PyTorch's: while training, each channel is normalised with the batch's
    mean and biased variance, and the running statistics (buffers `running_mean`, zeros, and
    `running_var`, ones) move towards the batch's mean and unbiased variance by `momentum`
    (None: a cumulative average, 1 / `num_batches_tracked`); in eval mode the running
    statistics normalise. Then ``* weight + bias`` (ones and zeros) while `affine` (with
    ``bias=False``, a keyword as in PyTorch 2.13: no bias). With
    ``track_running_stats=False`` there are no buffers and the batch's statistics normalise
    in both modes. float64 unless `dtype` says otherwise.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> bn
    BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> bn(x).detach().numpy()
    array([[-0.999995  , -0.99999875],
           [ 0.999995  ,  0.99999875]])
    >>> bn.running_mean, bn.running_var
    (tensor([0.2000, 0.4000]), tensor([1.1000, 1.7000]))
    >>> bn.eval()(x).detach().numpy()
    array([[0.7627666 , 1.22714037],
           [2.66968311, 4.29499131]])
    """

    def _check_input_dim(self, input: Any) -> None:  # noqa: A002
        nd = _ndim(input)
        if nd != 2 and nd != 3:
            raise ValueError(f"expected 2D or 3D input (got {nd}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation (`F.batch_norm`) of an input of shape (N, C, H, W), C =
    `num_features`, over N, H and W for each channel: as `BatchNorm1d` otherwise.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> bn = nn.BatchNorm2d(3, momentum=None)
    >>> _ = cr.manual_seed(0)
    >>> y = bn(cr.randn(8, 3, 4, 4))
    >>> y.shape, bool(abs(y.mean(dim=(0, 2, 3))).max() < 1e-12), bn.num_batches_tracked
    ((8, 3, 4, 4), True, tensor(1, dtype=int64))
    """

    def _check_input_dim(self, input: Any) -> None:  # noqa: A002
        nd = _ndim(input)
        if nd != 4:
            raise ValueError(f"expected 4D input (got {nd}D input)")


class Embedding(Module):
    """A table of `num_embeddings` vectors of size `embedding_dim`, looked up by integer
    indices (`F.embedding`): `weight` is drawn from N(0, 1) (chainrule's generator,
    `cr.manual_seed`), with the row `padding_idx` (negative: counted from the end) zeroed;
    that row gets no gradient. `_weight` gives the initial table instead (a Tensor is
    shared, an array copied; the padding row is kept as it is), `_freeze` makes it not
    require grad. float64 unless `dtype` says otherwise. `max_norm` renormalises looked-up
    rows in place, as PyTorch's; `scale_grad_by_freq` and `sparse` are kept for the repr,
    but `forward` refuses them (`F.embedding`).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> _ = cr.manual_seed(0)
    >>> emb = nn.Embedding(10, 3, padding_idx=-10)
    >>> emb
    Embedding(10, 3, padding_idx=0)
    >>> emb(cr.tensor([[0, 4], [4, 9]])).shape
    (2, 2, 3)
    >>> emb.weight[0].detach()
    tensor([0., 0., 0.])
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight: Any = None,
                 _freeze: bool = False, device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        _check_device(device)
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(f"Padding_idx must be within num_embeddings: got "
                                     f"padding_idx={padding_idx} for {num_embeddings} "
                                     "embeddings")  # fmt: skip
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            dt = np.dtype(np.float64 if dtype is None else dtype)
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dt),
                                    requires_grad=not _freeze)  # fmt: skip
            self.reset_parameters()
        else:
            if tuple(np.shape(_weight)) != (num_embeddings, embedding_dim):
                raise AssertionError(f"Shape of weight does not match num_embeddings and "
                                     f"embedding_dim: got {tuple(np.shape(_weight))}, expected "
                                     f"{(num_embeddings, embedding_dim)}")  # fmt: skip
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.sparse = sparse
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Draw the weight again from N(0, 1), the row `padding_idx` zeroed.

        >>> from chainrule import nn
        >>> emb = nn.Embedding(3, 2, padding_idx=1); emb.reset_parameters(); emb.weight[1].detach()
        tensor([0., 0.])
        """
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Any) -> Any:  # noqa: A002
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm,
                           self.norm_type, self.scale_grad_by_freq, self.sparse)  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:  # fmt: skip
        """An Embedding whose table is `embeddings` (2-D: a Tensor is shared, an array
        copied), not trained while `freeze`; the row `padding_idx` keeps its values.

        >>> import numpy as np
        >>> from chainrule import nn
        >>> emb = nn.Embedding.from_pretrained(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb, emb.weight.requires_grad
        (Embedding(2, 2), False)
        >>> emb(np.array([1, 1]))
        tensor([[3., 4.],
                [3., 4.]])
        """
        if len(np.shape(embeddings)) != 2:
            raise AssertionError(f"Embeddings parameter is expected to be 2-dimensional, got "
                                 f"shape {tuple(np.shape(embeddings))}")  # fmt: skip
        rows, cols = np.shape(embeddings)
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)  # fmt: skip


# --- losses ------------------------------------------------------------------------------------


class _Loss(Module):
    def __init__(self, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = F._reduction(size_average, reduce, reduction)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Any = None, size_average: Any = None, reduce: Any = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if weight is not None and not isinstance(weight, Tensor):
            weight = tensor(weight)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """`F.mse_loss` with this module's `reduction`.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.MSELoss(reduction="sum")(np.array([1.0, 2.0]), np.zeros(2))
    np.float64(5.0)
    """

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """`F.cross_entropy` with this module's settings (`weight` is a buffer, as PyTorch's).

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.CrossEntropyLoss(label_smoothing=0.1)(np.zeros((2, 4)), np.array([1, 3]))
    np.float64(1.38629)
    """

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                 reduce: Any = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """`F.nll_loss` with this module's settings.

    >>> import numpy as np
    >>> from chainrule import nn
    >>> nn.NLLLoss()(np.log(np.full((1, 2), 0.5)), np.array([1]))
    np.float64(0.69314)
    """

    def __init__(self, weight: Any = None, size_average: Any = None, ignore_index: int = -100,
                 reduce: Any = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Any:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


# --- running a module functionally -------------------------------------------------------------


def functional_call(module: Module, parameter_and_buffer_dicts: Mapping | Iterable[Mapping],
                    args: Any = None, kwargs: dict | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:  # fmt: skip
    """Call `module` with the given values in place of its parameters and buffers
    (`torch.func.functional_call`): a dict (or several) keyed as `state_dict`, whose values
    may be NumPy arrays, traced values or Tensors. The module is unchanged afterwards. Keys
    left out keep the module's own values (with `strict`, that is an error); a parameter
    shared under several names follows the value given for any of them (`tie_weights`). A
    key the module does not have is an error. `args` is one argument or a tuple of them.

    So a module is a function of a pytree of parameters, for `cr.grad`, `cr.jit`, `cr.vmap`
    (as with any Python state, a jitted function sees the module as it was when traced:
    call `train()`/`eval()` before jitting, or jit one function per mode).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule import nn
    >>> model = nn.Linear(2, 1)
    >>> params = {"weight": np.array([[1.0, 2.0]]), "bias": np.array([0.5])}
    >>> nn.functional_call(model, params, np.ones((1, 2)))
    array([[3.5]])
    >>> loss = lambda p, x: cr.numpy.sum(nn.functional_call(model, p, x))
    >>> cr.jit(cr.grad(loss))(params, np.ones((3, 2)))["weight"]
    array([[3., 3.]])
    """
    dicts = ([parameter_and_buffer_dicts] if isinstance(parameter_and_buffer_dicts, Mapping)
             else list(parameter_and_buffer_dicts))  # fmt: skip
    given: dict = {}
    for d in dicts:
        for k, v in d.items():
            if k in given:
                raise ValueError(f"{k} appeared in multiple dictionaries; behavior of "
                                 "functional call is ambiguous")  # fmt: skip
            given[k] = v
    slots = module._state_slots(with_non_persistent=True)
    known = {key for key, *_ in slots}
    unexpected = [k for k in given if k not in known]
    missing = [k for k, *_ in slots if k not in given]
    errors = []
    if unexpected:
        errors.append("Unexpected key(s): {}.".format(", ".join(map(repr, unexpected))))
    if strict and missing:
        errors.append("Missing key(s): {}.".format(", ".join(map(repr, missing))))
    if errors:
        raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t"
                           + "\n\t".join(errors))  # fmt: skip
    by_object: dict = {}
    if tie_weights:
        for key, mod, table, name in slots:
            if key in given:
                by_object[id(getattr(mod, table)[name])] = given[key]
    saved = []
    try:
        for key, mod, table, name in slots:
            t = getattr(mod, table)
            if key in given:
                new = given[key]
            elif id(t[name]) in by_object:
                new = by_object[id(t[name])]
            else:
                continue
            saved.append((t, name, t[name]))
            t[name] = new
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **(kwargs or {}))
    finally:
        for t, name, old in reversed(saved):
            t[name] = old

