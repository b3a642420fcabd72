"""Arrays of other array-API namespaces (CuPy, `array_api_strict`, ...): where they live and
how a primitive runs on them. The namespace logic is here; the per-primitive implementations
(the name shim) are rows of ``rules/impl.py``.

A *foreign* array is an object with ``__array_namespace__`` that is not a NumPy array or
scalar. NumPy's data keeps NumPy's own fast paths everywhere; a foreign array takes the path
tracers take: the wrappers of ``core/ops.py`` bind a primitive, and `apply` runs the
primitive's namespace implementation (``prim.xp_impl``) with the operands' namespace and
device. Inside a transformation a foreign array travels as a tracer of the namespace trace
(``core/trace.py``: `ForeignTracer`), so that the rules, written with ``core/ops``, run on it
as on any traced value; transformations return the arrays themselves.

- NumPy arrays, NumPy scalars and Python scalars meeting foreign arrays are constants: they
  are made arrays of the foreign namespace, on the foreign operands' device (never the other
  way: a foreign array is never converted to NumPy).
- Foreign operands on two devices (or of two namespaces) are a `DeviceMismatchError` naming
  both and the operation; so is a value a transformation traces from NumPy arrays meeting a
  foreign array (a constant of the function: NumPy would convert it).
- A primitive that runs on NumPy only (``prim.xp == "numpy_only"``) raises
  `NumPyOnlyError` naming the operation and the namespace.

>>> import numpy as np
>>> is_foreign(np.ones(2)), is_foreign(1.0)
(False, False)
>>> print(table().splitlines()[2])
| primitive | on another namespace | there |
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from chainrule.core.avals import np_dtype
from chainrule.core.errors import DeviceMismatchError, NumPyOnlyError

_KIND: dict[type, bool] = {t: False for t in (np.ndarray, bool, int, float, complex,
                                               type(None), list, tuple, dict, str)}  # fmt: skip


def is_foreign(x: Any) -> bool:
    """Whether `x` is an array of another array-API namespace (not NumPy's).

    >>> import numpy as np
    >>> is_foreign(np.float32(1.0)), is_foreign([1.0])
    (False, False)
    """
    t = type(x)
    r = _KIND.get(t)
    if r is None:
        r = _KIND[t] = hasattr(t, "__array_namespace__") and not issubclass(
            t, (np.ndarray, np.generic)) and hasattr(t, "device")  # fmt: skip
    return r


def foreign_in(args: Any) -> bool:
    """Whether any of `args` is a foreign array (NumPy's arrays checked first, in one test).

    >>> import array_api_strict as xp
    >>> foreign_in((np.ones(2), 2.0)), foreign_in((np.ones(2), xp.ones(2)))
    (False, True)
    """
    for a in args:
        t = type(a)
        if t is not np.ndarray and (_KIND.get(t) is True or (t not in _KIND and is_foreign(a))):
            return True
    return False


# --- dtypes (NumPy's: `np_dtype` in core/avals.py) ----------------------------------------


def dtype_of(x: Any) -> np.dtype:
    """NumPy's dtype of any value: an array of any namespace, a tracer, a scalar.

    >>> dtype_of(2.0), dtype_of(np.ones(2, np.float32))
    (dtype('float64'), dtype('float32'))
    """
    dt = getattr(x, "dtype", None)
    if dt is None:
        return np.result_type(x)
    return dt if isinstance(dt, np.dtype) else np_dtype(dt)


# --- a namespace and a device ------------------------------------------------------------------


class Namespace:
    """An array namespace (`xp`) and a device: where the arrays of a computation live. Its
    methods make arrays there, in NumPy's dtypes.

    >>> import array_api_strict as xp
    >>> ns = Namespace(xp, xp.Device("device1"))
    >>> ns.zeros((2,), np.float32).device
    array_api_strict.Device('device1')
    """

    __slots__ = ("xp", "device")

    def __init__(self, xp: Any, device: Any):
        self.xp = xp
        self.device = device

    @property
    def name(self) -> str:
        return getattr(self.xp, "__name__", type(self.xp).__name__)

    def dtype(self, dt: Any) -> Any:
        """The namespace's dtype for NumPy's `dt`."""
        return getattr(self.xp, np.dtype(dt).name)

    def asarray(self, v: Any, dtype: Any = None) -> Any:
        """`v` (a NumPy array or scalar, a Python scalar, an array here) as an array here."""
        if dtype is None and type(v) is bool:
            dtype = np.bool_
        return self.xp.asarray(v, dtype=None if dtype is None else self.dtype(dtype),
                               device=self.device)  # fmt: skip

    def astype(self, x: Any, dtype: Any) -> Any:
        """`x` (an array here) as `dtype`, or itself when it has it."""
        if np_dtype(x.dtype, self.xp) == dtype:
            return x
        return self.xp.astype(x, self.dtype(dtype))

    def zeros(self, shape: tuple, dtype: Any) -> Any:
        return self.xp.zeros(shape, dtype=self.dtype(dtype), device=self.device)

    def full(self, shape: tuple, fill: Any, dtype: Any) -> Any:
        return self.xp.full(shape, fill, dtype=self.dtype(dtype), device=self.device)

    def arange(self, n: int) -> Any:
        return self.xp.arange(n, device=self.device)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and (self.xp, self.device) == (other.xp,
                                                                          other.device)  # fmt: skip

    def __hash__(self) -> int:
        return hash((id(self.xp), self.device))

    def __repr__(self) -> str:
        return f"Namespace({self.name}, {self.device!r})"


def _where(x: Any) -> tuple:
    return x.__array_namespace__(), x.device


def find(values: Any, what: str = "this operation") -> Namespace | None:
    """The namespace and device of the foreign arrays among `values` (None when there are
    none); two devices or namespaces are a `DeviceMismatchError` naming both and `what`.

    >>> find([np.ones(2), 1.0]) is None
    True
    """
    found = None
    for v in values:
        if not is_foreign(v):
            continue
        xp, dev = _where(v)
        if found is None:
            found = (xp, dev)
        elif found[0] is not xp or found[1] != dev:
            a, b = (f"{_ns_name(found[0])} device {found[1]!r}",
                    f"{_ns_name(xp)} device {dev!r}")  # fmt: skip
            raise DeviceMismatchError(
                f"{what}: operands on different devices: {a} and {b}; move them to one device "
                "first (x.to_device(...))"
            )
    return None if found is None else Namespace(*found)


def _ns_name(xp: Any) -> str:
    return getattr(xp, "__name__", type(xp).__name__)


# --- devices by name ("cpu", "cuda", "cuda:N") and CuPy ------------------------------------------

#: how to install CuPy, for messages (the extras of pyproject.toml)
GPU_EXTRA = ("pip install 'chainrule[gpu]' (CuPy for CUDA 12; 'chainrule[gpu-cuda13]' for "
             "CUDA 13)")  # fmt: skip


def parse_device(device: Any) -> tuple[str, Any]:
    """A device as ``(kind, which)``: ``("cpu", None)``, ``("cuda", index or None)``, or
    ``("other", device)`` for a namespace's own device object (``array_api_strict.Device``,
    ``cupy.cuda.Device``: CuPy's is read as ``("cuda", its id)``).

    >>> parse_device(None), parse_device("cpu"), parse_device("cuda"), parse_device("cuda:1")
    (('cpu', None), ('cpu', None), ('cuda', None), ('cuda', 1))
    >>> parse_device("tpu")
    Traceback (most recent call last):
    ...
    ValueError: unknown device 'tpu': expected 'cpu', 'cuda', 'cuda:N' or a device object
    of an array namespace
    """
    if device is None:
        return ("cpu", None)
    if isinstance(device, str):
        name, _, index = device.partition(":")
        if name == "cpu" and index in ("", "0"):
            return ("cpu", None)
        if name in ("cuda", "gpu") and (index == "" or index.isdigit()):
            return ("cuda", int(index) if index else None)
        raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or a "
                         "device object of an array namespace")  # fmt: skip
    if type(device).__module__.startswith("cupy") and hasattr(device, "id"):
        return ("cuda", int(device.id))
    if type(device).__module__.startswith("torch") and getattr(device, "type", None) in (
            "cpu", "cuda"):  # a torch.device: read as its name  # fmt: skip
        i = getattr(device, "index", None)
        return parse_device(device.type if i is None else f"{device.type}:{i}")
    return ("other", device)


def cupy_module(what: str = "device='cuda'") -> Any:
    """CuPy, imported on first use; without it an ImportError saying `what` needs it and how
    to install it (``GPU_EXTRA``)."""
    try:
        import cupy
    except ImportError:
        raise ImportError(f"{what} needs CuPy, which is not installed: {GPU_EXTRA}") from None
    return cupy


def is_cupy(x: Any) -> bool:
    """Whether `x` is a CuPy array (by its type's module: CuPy is not imported).

    >>> is_cupy(np.ones(2))
    False
    """
    return type(x).__module__.startswith("cupy") and hasattr(x, "__cuda_array_interface__")


# --- moving arrays between devices (DLPack, CuPy, a namespace's to_device) -----------------

# DLPack's device types (dlpack.h: DLDeviceType)
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_ROCM, _DL_ROCM_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 10, 11, 13
_DL_HOST = (_DL_CPU, _DL_CUDA_HOST, _DL_ROCM_HOST)
_DL_GPU = (_DL_CUDA, _DL_ROCM, _DL_CUDA_MANAGED)


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
    cupy = cupy_module(f"moving an array to {device!r}")
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
        raise TypeError(f"cannot tell which array namespace device {device!r} "
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


#: [True] once a NumPy value has been moved to another namespace's device (`transfer`) or a
#: Tensor holds another namespace's array: from then on the transformations unbox the results
#: of calls on NumPy inputs too (a device_put inside them may have made them foreign:
#: ``core.trace.leave_tree``) and Tensor operations check their operands' devices; until
#: then both skip that work
MOVED = [False]


def device_of(x: Any) -> Any:
    """Where the array `x` lives, as `transfer` takes it: ``"cpu"`` for NumPy's data (and
    Python numbers), ``"cuda:N"`` for a CuPy array on GPU N, the namespace's own device
    object for other foreign arrays (``core.ops.device_put`` looks through tracers).

    >>> device_of(np.ones(2)), device_of(1.0)
    ('cpu', 'cpu')
    """
    if not is_foreign(x):
        return "cpu"
    if is_cupy(x):
        return f"cuda:{x.device.id}"
    return x.device


def canonical_device(device: Any) -> Any:
    """`device` as `device_of` names it: ``"cpu"``, ``"cuda:N"`` (the current GPU's N for
    ``"cuda"``), or a namespace's device object.

    >>> canonical_device(None), canonical_device("cpu:0")
    ('cpu', 'cpu')
    """
    kind, which = parse_device(device)
    if kind == "cpu":
        return "cpu"
    if kind == "cuda":
        return f"cuda:{_cuda_index(cupy_module(f'device={device!r}'), which)}"
    return device


def copy(x: Any) -> Any:
    """A new array with the values of `x`, an array of another namespace, in its namespace
    and on its device (the array API's ``astype(x, x.dtype, copy=True)``).

    >>> import array_api_strict as xp
    >>> a = xp.ones(2)
    >>> copy(a) is a
    False
    """
    return x.__array_namespace__().astype(x, x.dtype, copy=True)


def transfer(x: Any, device: Any) -> Any:
    """The array `x` (NumPy's, CuPy's, another namespace's, a DLPack producer, a Python
    number or list) on `device` (as `parse_device` reads it); returned as it is when it is
    there already (no copy).

    >>> a = np.ones(2)
    >>> transfer(a, "cpu") is a
    True
    """
    kind, which = parse_device(device)
    if kind == "cpu":
        return _to_host(x)
    if not MOVED[0] and not is_foreign(x):
        MOVED[0] = True
    if kind == "cuda":
        return _to_cuda(x, which, device)
    return _to_other(x, device)


# --- running a primitive -----------------------------------------------------------------------

#: what users call, for the primitives whose name is not chainrule.numpy's
_PUBLIC = {"callback": "this SciPy function (a NumPy-level callback)",
           "random": "chainrule.numpy.random", "eig": "chainrule.numpy.linalg.eig",
           "while_fwd": "the reverse mode of a staged cr.while_loop",
           "while_bwd": "the reverse mode of a staged cr.while_loop"}  # fmt: skip


def op_name(prim: Any, params: dict | None = None) -> str:
    """The name users know `prim` by, for messages.

    >>> from chainrule.core import primitives as P
    >>> op_name(P.einsum_p), op_name(P.eig_p)
    ('chainrule.numpy.einsum', 'chainrule.numpy.linalg.eig')
    """
    if prim.name == "callback" and params:
        cb = params.get("cb")
        name = getattr(cb, "name", None) or getattr(getattr(cb, "fun", None), "__name__", None)
        if name:
            return f"{name} (a SciPy function, called through NumPy)"
    return _PUBLIC.get(prim.name, f"chainrule.numpy.{prim.name}")


def numpy_only(prim: Any, ns: Namespace, params: dict | None = None) -> NumPyOnlyError:
    """The error of a NumPy-only primitive applied to arrays of namespace `ns`.

    >>> import array_api_strict as xp
    >>> from chainrule.core import primitives as P
    >>> str(numpy_only(P.einsum_p, Namespace(xp, xp.Device("device1"))))[:48]
    'chainrule.numpy.einsum runs on NumPy arrays only'
    """
    return NumPyOnlyError(
        f"{op_name(prim, params)} runs on NumPy arrays only; its operands are {ns.name} arrays "
        f"(on {ns.device!r}). chainrule never copies them to the host silently: convert them "
        "explicitly if that is what you want (docs/namespaces.md lists what runs where)"
    )


def traced_numpy_meets(what: str, x: Any) -> DeviceMismatchError:
    """The error of a value traced from NumPy arrays meeting `x`, another namespace's array
    (a closed-over constant): the arrays a transformation follows decide where it computes,
    and NumPy would convert `x` (or refuse to).

    >>> import array_api_strict as xp
    >>> str(traced_numpy_meets("chainrule.numpy.mul", xp.ones(2)))[:60]
    'chainrule.numpy.mul: a value traced from NumPy arrays meets '
    """
    ns = Namespace(*_where(x))
    return DeviceMismatchError(
        f"{what}: a value traced from NumPy arrays meets an {ns.name} array (on "
        f"{ns.device!r}), a constant of the function: the arrays a transformation follows "
        f"decide where it computes. Pass the {ns.name} array as an argument (or make the "
        "followed arrays its namespace's), or convert one of them explicitly"
    )


def apply(prim: Any, args: tuple, params: dict) -> Any:
    """Run `prim` on `args`, some of them foreign arrays: its namespace implementation, with
    NumPy arrays and NumPy scalars among the operands made arrays of that namespace on that
    device (Python scalars are left to the implementation: they are weakly typed).

    >>> import array_api_strict as xp
    >>> from chainrule.core import primitives as P
    >>> apply(P.mul_p, (xp.asarray([1.0, 2.0]), np.float64(3.0)), {})
    Array([3., 6.], dtype=array_api_strict.float64)
    """
    ns = find(args, op_name(prim, params))
    fn = prim.xp_impl
    if fn is None:
        raise numpy_only(prim, ns, params)
    vals = tuple(ns.asarray(a) if isinstance(a, (np.ndarray, np.generic)) and a.dtype.kind != "O"
                 else a for a in args)  # (object arrays: the engine's own bookkeeping)
    try:
        return fn(ns, *vals, **params)
    except (ValueError, IndexError) as err:
        if isinstance(err, DeviceMismatchError):
            raise
        shapes = " and ".join(str(tuple(a.shape) if hasattr(a, "shape") else ()) for a in args)
        raise type(err)(f"{prim.name}: {err} (operand shapes {shapes}, {ns.name})") from None


def to_namespace(ns: Namespace | None, x: Any) -> Any:
    """A result of a computation on `ns`'s arrays: NumPy arrays and scalars (constants, zero
    gradients) made arrays of `ns` on its device; anything else as it is.

    >>> import array_api_strict as xp
    >>> to_namespace(Namespace(xp, xp.Device("device1")), np.zeros(2)).device
    array_api_strict.Device('device1')
    >>> to_namespace(None, 1.0)
    1.0
    """
    if ns is not None and isinstance(x, (np.ndarray, np.generic)):
        return ns.asarray(x)
    return x


# --- the table of docs/namespaces.md -----------------------------------------------------------

HOW = ("array_api", "composition", "numpy_only")


def table() -> str:
    """The Markdown table of docs/namespaces.md: how each primitive runs on a namespace other
    than NumPy's (`document` writes the page)."""
    from chainrule.core import primitives as P

    lines = [
        "# Array namespaces: what runs where",
        "",
        "| primitive | on another namespace | there |",
        "|---|---|---|",
    ]
    for p in sorted(P.ALL, key=lambda p: (HOW.index(p.xp), p.name)):
        there = {"array_api": f"`xp.{p.xp_name}`", "composition": p.xp_name or "",
                 "numpy_only": "error naming the namespace"}[p.xp]  # fmt: skip
        lines.append(f"| `{p.name}` | {p.xp.replace('_', ' ')} | {there} |")
    return "\n".join(lines) + "\n"


def document() -> str:
    """docs/namespaces.md: an introduction and `table()`.

    >>> document().startswith("# Array namespaces")
    True
    """
    intro = (
        "Generated from the primitives' metadata (`Primitive.xp`, `Primitive.xp_name`) by "
        "`chainrule.core.namespace.document()`; `tests/test_namespaces.py` checks it is up to "
        "date and says how to write it again.\n\n"
        "Arrays of another array-API namespace (CuPy, `array_api_strict`, ...) take the code "
        "path of traced values: each primitive runs with the operands' namespace `xp`, on "
        "their device, with NumPy's dtype rules; inside a transformation they travel as "
        "tracers of a namespace trace, so that every rule runs on them unchanged. Outputs, "
        "gradients, the values a graph saves and `jit` results stay in the inputs' namespace "
        "and on their device. NumPy arrays and scalars meeting them are constants, made arrays "
        "of that namespace on that device; a foreign array is never converted to NumPy. "
        "Operands on two devices are a `cr.errors.DeviceMismatchError` naming both devices "
        "and the operation.\n\n"
        "- **array api**: one function of the array API standard (its name there is given), "
        "the operands first cast to the dtypes of NumPy's loop;\n"
        "- **composition**: composed of array-API functions or of other primitives (the "
        "formula is given);\n"
        "- **numpy only**: a `cr.errors.NumPyOnlyError` naming the operation and the "
        "namespace.\n\n"
        "Limits, as they stand:\n\n"
        "- Indexing with integer arrays, and its transpose (scatter-add), are compositions: a "
        "gather by flat positions (`xp.take`), and a scatter through a one-hot product "
        "(memory O(selected × size): the array API has no scatter).\n"
        "- `jit` compiles a program called on such arrays to plain calls of these "
        "implementations (no `out=` buffers, no fused blocks), cached apart from NumPy's (the "
        "device is part of the key).\n"
        "- The arrays' own operators and indexing are their namespace's (`array_api_strict` "
        "refuses `x[0]` on a matrix, or a float array times a boolean one); chainrule.numpy's "
        "functions, and any code inside a transformation, follow NumPy's rules on them.\n"
        "- A transformation computes where the arrays it follows live: a value traced from "
        "NumPy arrays that meets another namespace's array (a closed-over constant) is a "
        "`DeviceMismatchError` (pass that array as an argument instead). Eager reverse "
        "mode's fast path (NumPy's own path, kept free of checks) finds it when NumPy refuses "
        "the array, as it refuses CuPy's and array_api_strict's on device1: an array NumPy "
        "converts implicitly (array_api_strict's default device) is converted there.\n"
        "- A constant of another namespace that a backward pass keeps (an array the "
        "function closes over, a vjp primal) is copied when it is saved, at each save (NumPy's "
        "are copied once per call, unless they changed): changing the array afterwards never "
        "changes a gradient. vjp's outputs are copies too.\n"
        "- Tensors hold another namespace's arrays as they hold NumPy's (`cr.tensor(x)`, "
        "`device=`, `t.to(device)`): their operations, backward pass and gradients stay on "
        "the device; PyTorch's optimizers update them where NumPy's functions dispatch to "
        "the namespace (CuPy), and refuse the others (docs/gpu.md).\n\n"
    )
    return table().replace("\n\n", "\n\n" + intro, 1)
