"""`chainrule.nn.init`: PyTorch's initialisation functions (`torch.nn.init`), with its
formulas. Each fills a Tensor (or a NumPy array) in place, without recording anything (as
under `cr.no_grad`), and returns it. Random values come from chainrule's default generator,
seeded by `cr.manual_seed` (so they are not PyTorch's numbers, only its distributions).

>>> import numpy as np, chainrule as cr
>>> from chainrule.nn import init
>>> w = cr.empty(3, 5)
>>> _ = init.xavier_uniform_(w)
>>> bool((abs(w.numpy()) <= np.sqrt(6 / (3 + 5))).all())
True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from chainrule.numpy import random as _random
from chainrule.tensor import Tensor, no_grad

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]  # fmt: skip


def _shape(tensor: Any) -> tuple:
    return tuple(np.shape(tensor)) if not isinstance(tensor, Tensor) else tuple(tensor.shape)


def _fill(tensor: Any, values: Any) -> Any:
    """Write `values` into `tensor` (a Tensor or a NumPy array), outside any graph."""
    if isinstance(tensor, Tensor):
        with no_grad():
            tensor.copy_(np.asarray(values, tensor.dtype))
    elif isinstance(tensor, np.ndarray):
        tensor[...] = values
    else:
        raise TypeError(f"chainrule.nn.init: expected a Tensor or a NumPy array, got "
                        f"{type(tensor).__name__}")  # fmt: skip
    return tensor


def _gen() -> np.random.Generator:
    return _random.DEFAULT.gen


def calculate_gain(nonlinearity: str, param: Any = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's values): 1 for linear, the
    convolutions and sigmoid, 5/3 for tanh, √2 for relu, √(2 / (1 + slope²)) for leaky_relu
    (slope `param`, default 0.01), 3/4 for selu.

    >>> from chainrule.nn import init
    >>> init.calculate_gain("relu"), init.calculate_gain("leaky_relu", 1)
    (1.4142135623730951, 1.0)
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d"]  # fmt: skip
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    shape = _shape(tensor)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")  # fmt: skip
    receptive_field_size = math.prod(shape[2:])
    return shape[1] * receptive_field_size, shape[0] * receptive_field_size


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Any:
    """Fill with values drawn uniformly from [a, b).

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> bool((init.uniform_(cr.empty(4), -1, 1).numpy() < 1).all())
    True
    """
    gen = _gen() if generator is None else generator
    return _fill(tensor, gen.uniform(a, b, _shape(tensor)))


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Any:
    """Fill with values drawn from N(mean, std²).

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.normal_(cr.empty(2, 3), std=0.02).shape
    (2, 3)
    """
    gen = _gen() if generator is None else generator
    return _fill(tensor, gen.normal(mean, std, _shape(tensor)))


def constant_(tensor: Any, val: float) -> Any:
    """Fill with `val`.

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.constant_(cr.empty(2), 0.5)
    tensor([0.5, 0.5])
    """
    return _fill(tensor, val)


def ones_(tensor: Any) -> Any:
    """Fill with ones.

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.ones_(cr.empty(2))
    tensor([1., 1.])
    """
    return _fill(tensor, 1)


def zeros_(tensor: Any) -> Any:
    """Fill with zeros.

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.zeros_(cr.empty(2))
    tensor([0., 0.])
    """
    return _fill(tensor, 0)


def eye_(tensor: Any) -> Any:
    """Fill a 2-D tensor with the identity matrix.

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.eye_(cr.empty(2, 3))
    tensor([[1., 0., 0.],
            [0., 1., 0.]])
    """
    shape = _shape(tensor)
    if len(shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _fill(tensor, np.eye(*shape))


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
    """Glorot's uniform initialisation: U(-a, a) with a = gain √(6 / (fan_in + fan_out)).

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.xavier_uniform_(cr.empty(3, 5)).shape
    (3, 5)
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
    """Glorot's normal initialisation: N(0, std²) with std = gain √(2 / (fan_in + fan_out)).

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.xavier_normal_(cr.empty(3, 5)).shape
    (3, 5)
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Any, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in _shape(tensor):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Any, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator: Any = None) -> Any:  # fmt: skip
    """He's uniform initialisation: U(-bound, bound) with bound = gain √(3 / fan), the gain
    of `nonlinearity` (with slope `a` for leaky_relu) and the fan of `mode`. `nn.Linear`
    uses it with a = √5: bound = 1 / √fan_in.

    >>> import math, chainrule as cr
    >>> from chainrule.nn import init
    >>> w = init.kaiming_uniform_(cr.empty(4, 9), a=math.sqrt(5))
    >>> bool((abs(w.numpy()) <= 1 / 3).all())
    True
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator: Any = None) -> Any:  # fmt: skip
    """He's normal initialisation: N(0, std²) with std = gain / √fan.

    >>> import chainrule as cr
    >>> from chainrule.nn import init
    >>> init.kaiming_normal_(cr.empty(4, 9), nonlinearity="relu").shape
    (4, 9)
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)

