"""Devices and DLPack: `device_put` moves arrays between the CPU (NumPy), GPUs (CuPy) and
the devices of other array namespaces; `from_dlpack` takes any DLPack producer's memory
without a copy. Loaded on first use (``cr.device_put``, ``cr.from_dlpack``).

Where arrays live decides where chainrule computes: the functional API (`grad`, `vjp`, `jvp`,
`vmap`, `jit`) keeps CuPy arrays on their GPU, forward and backward, and so do Tensors
created with ``device="cuda"``; see docs/gpu.md.

>>> import numpy as np, chainrule as cr
>>> x = cr.device_put(np.array([1.0, 2.0]), "cpu")
>>> type(x).__name__, cr.device_put(x, "cpu") is x
('ndarray', True)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core.namespace import _DL_GPU, _DL_HOST, _dl_device, cupy_module, parse_device
from chainrule.core.pytree import tree_map

__all__ = ["device_put", "from_dlpack"]


def _is_tensor(x: Any) -> bool:
    t = sys.modules.get("chainrule.tensor")
    return t is not None and isinstance(x, t.Tensor)


def device_put(x: Any, device: Any = "cpu") -> Any:
    """`x` (an array, a Python number or list, or a pytree of them) on `device`, as
    `jax.device_put`: arrays already there are returned as they are (no copy).

    - ``"cpu"``: NumPy arrays (a CuPy array is copied to the host: the one transfer you ask
      for; host DLPack producers such as CPU torch tensors are shared without a copy);
    - ``"cuda"`` or ``"cuda:N"``: CuPy arrays on the current GPU or on GPU N (an
      ImportError naming the ``[gpu]`` extra when CuPy is not installed);
    - a namespace's device object (``array_api_strict.Device("device1")``): that namespace's
      arrays on it, moved with ``to_device``.

    Inside a transformation (`grad`, `jvp`, `vmap`) the move is recorded: the derivative
    flows back to the device `x` came from. A `Tensor` goes through ``t.to(device)``.

    >>> import numpy as np, chainrule as cr
    >>> cr.device_put({"w": np.ones(2), "b": 0.5}, "cpu")
    {'b': array(0.5), 'w': array([1., 2.])}
    >>> import array_api_strict as xp
    >>> cr.device_put(np.ones(2), xp.Device("device1")).device
    array_api_strict.Device('device1')
    """
    parse_device(device)  # an unknown name is a ValueError, even for an empty tree

    def put(a: Any) -> Any:
        return a.to(device) if _is_tensor(a) else cnp.device_put(a, device)

    return tree_map(put, x)


def from_dlpack(x: Any) -> Any:
    """The array of a DLPack producer (``__dlpack__``/``__dlpack_device__``: torch, JAX,
    CuPy, NumPy, array-API libraries, chainrule's Tensors), sharing its memory: a NumPy array
    for producers on the CPU (``np.from_dlpack``), a CuPy array for producers on a GPU
    (``cupy.from_dlpack``; an ImportError naming the ``[gpu]`` extra without CuPy).

    The result is an array, for the functional API (`grad`, `jit`, ...), whichever device it
    is on; ``cr.as_tensor(cr.from_dlpack(t))`` makes a Tensor sharing the memory of a CPU
    producer.

    >>> import numpy as np, chainrule as cr
    >>> t = cr.tensor([1.0, 2.0])
    >>> a = cr.from_dlpack(t)      # no copy: a NumPy view of the tensor's memory
    >>> a[0] = 5.0
    >>> t
    tensor([5., 2.])
    """
    dl = _dl_device(x)
    if dl is None or not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: a {type(x).__name__} is not a DLPack producer (it has "
                        "no __dlpack__ and __dlpack_device__)")  # fmt: skip
    if dl[0] in _DL_HOST:
        return np.from_dlpack(x)
    if dl[0] in _DL_GPU:
        return cupy_module("from_dlpack of an array on a GPU").from_dlpack(x)
    raise ValueError(f"from_dlpack: DLPack device type {dl[0]} (device {dl[1]}) is neither "
                     "the CPU nor a CUDA/ROCm GPU")  # fmt: skip
