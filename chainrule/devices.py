"""Devices and DLPack: `device_put` moves arrays between the CPU (NumPy), GPUs (CuPy) and
the devices of other array namespaces; `from_dlpack` takes any DLPack producer's memory
without a copy. Loaded on first use (``cr.device_put``, ``cr.from_dlpack``).

Where arrays live decides where chainrule computes: the functional API (`grad`, `vjp`, `jvp`,
`vmap`, `jit`) keeps CuPy arrays on their GPU, forward and backward. Tensors hold NumPy arrays
(``device="cpu"``); see docs/gpu.md.

>>> import numpy as np, chainrule as cr
>>> x = cr.device_put(np.array([1.0, 2.0]), "cpu")
>>> type(x).__name__, cr.device_put(x, "cpu") is x
('ndarray', True)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from chainrule.core.namespace import cupy_module, is_cupy, is_foreign, parse_device
from chainrule.core.pytree import tree_map

__all__ = ["device_put", "from_dlpack"]

# DLPack's device types (dlpack.h: DLDeviceType)
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_ROCM, _DL_ROCM_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 10, 11, 13
_DL_HOST = (_DL_CPU, _DL_CUDA_HOST, _DL_ROCM_HOST)
_DL_GPU = (_DL_CUDA, _DL_ROCM, _DL_CUDA_MANAGED)


def _is_tensor(x: Any) -> bool:
    t = sys.modules.get("chainrule.tensor")
    return t is not None and isinstance(x, t.Tensor)


def _dl_device(x: Any) -> tuple[int, int] | None:
    f = getattr(x, "__dlpack_device__", None)
    if f is None:
        return None
    dev_type, dev_id = f()
    return int(dev_type), int(dev_id)


def _to_host(x: Any) -> Any:
    """`x` as a NumPy array (no copy for NumPy arrays and host DLPack producers)."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (np.generic, bool, int, float, complex, list, tuple)):
        return np.asarray(x)
    if is_cupy(x):
        return x.get()  # the one transfer asked for
    dl = _dl_device(x)
    if dl is not None and dl[0] in _DL_HOST:
        return np.from_dlpack(x)
    if dl is not None:  # a GPU producer other than CuPy: ask it for a host copy
        try:
            return np.from_dlpack(x, device="cpu", copy=True)
        except (TypeError, ValueError, BufferError, NotImplementedError):
            pass
    return np.asarray(x)


def _cuda_index(cupy: Any, which: int | None) -> int:
    return cupy.cuda.Device().id if which is None else which


def _to_cuda(x: Any, which: int | None, device: Any) -> Any:
    cupy = cupy_module(f"device_put(x, {device!r})")
    idx = _cuda_index(cupy, which)
    if is_cupy(x) and x.device.id == idx:
        return x
    with cupy.cuda.Device(idx):
        if is_cupy(x):
            return x.copy()  # a copy onto the current device (peer to peer)
        dl = _dl_device(x)
        if dl is not None and dl[0] in _DL_GPU and dl[1] == idx:
            return cupy.from_dlpack(x)  # another library's GPU array: shared, no copy
        return cupy.asarray(_to_host(x))


def _namespace_of_device(device: Any) -> Any:
    """The array namespace a device object belongs to (``array_api_strict`` for
    ``array_api_strict.Device``): the top-level module of its class."""
    mod = sys.modules.get(type(device).__module__.split(".")[0])
    if mod is None or not hasattr(mod, "asarray"):
        raise TypeError(f"device_put: cannot tell which array namespace device {device!r} "
                        "belongs to; pass 'cpu', 'cuda', 'cuda:N' or a namespace's device "
                        "object")  # fmt: skip
    return mod


def _to_other(x: Any, device: Any) -> Any:
    if is_foreign(x) and hasattr(x, "to_device"):
        xp = x.__array_namespace__()
        if type(device).__module__.split(".")[0] == getattr(xp, "__name__", "").split(".")[0]:
            return x if x.device == device else x.to_device(device)
    xp = _namespace_of_device(device)
    return xp.asarray(_to_host(x), device=device)


def device_put(x: Any, device: Any = "cpu") -> Any:
    """`x` (an array, a Python number or list, or a pytree of them) on `device`, as
    `jax.device_put`: arrays already there are returned as they are (no copy).

    - ``"cpu"``: NumPy arrays (a CuPy array is copied to the host: the one transfer you ask
      for; host DLPack producers such as CPU torch tensors are shared without a copy);
    - ``"cuda"`` or ``"cuda:N"``: CuPy arrays on the current GPU or on GPU N (an
      ImportError naming the ``[gpu]`` extra when CuPy is not installed);
    - a namespace's device object (``array_api_strict.Device("device1")``): that namespace's
      arrays on it, moved with ``to_device``.

    A `Tensor` goes through ``t.to(device)``: Tensors hold NumPy arrays, so only ``"cpu"``
    works for them (docs/gpu.md).

    >>> import numpy as np, chainrule as cr
    >>> cr.device_put({"w": np.ones(2), "b": 0.5}, "cpu")
    {'b': array(0.5), 'w': array([1., 2.])}
    >>> import array_api_strict as xp
    >>> cr.device_put(np.ones(2), xp.Device("device1")).device
    array_api_strict.Device('device1')
    """
    kind, which = parse_device(device)

    def put(a: Any) -> Any:
        if _is_tensor(a):
            return a.to(device)
        if kind == "cpu":
            return _to_host(a)
        if kind == "cuda":
            return _to_cuda(a, which, device)
        return _to_other(a, device)

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
