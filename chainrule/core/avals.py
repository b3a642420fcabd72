"""Abstract values: what every transformation knows about an array without its data.

An abstract value (`ShapeDtypeStruct`, JAX's name) is a shape, a dtype and a *weak type*
flag. Weak types are NumPy 2's rule for Python scalars (NEP 50): in ``x32 * 2.0`` the Python
float adopts float32, while ``x32 * np.float64(2.0)`` is float64. A Python scalar has a weak
abstract value; every array and NumPy scalar a strong one.

>>> import numpy as np
>>> aval_of(np.ones((2, 3), np.float32))
ShapeDtypeStruct(shape=(2, 3), dtype=float32)
>>> aval_of(2.0)
ShapeDtypeStruct(shape=(), dtype=float64, weak_type=True)
>>> result_dtype(aval_of(np.float32(1)), aval_of(2.0))
dtype('float32')
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_PY_SCALARS = (bool, int, float, complex)
#: a Python value of each kind, standing for a weakly typed operand in `np.result_type`
_WEAK_STAND_IN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


class ShapeDtypeStruct:
    """The abstract value of an array: shape, dtype and weak type (and, later, its device).

    >>> s = ShapeDtypeStruct((2, 3), np.float32)
    >>> s.shape, s.dtype, s.ndim, s.size
    ((2, 3), dtype('float32'), 2, 6)
    """

    __slots__ = ("shape", "dtype", "weak_type", "device")

    def __init__(self, shape: Any, dtype: Any, weak_type: bool = False, device: Any = None):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np_dtype(dtype)
        self.weak_type = bool(weak_type)
        self.device = device  # None: the default (NumPy) namespace; the GPU issue adds others

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShapeDtypeStruct) and (
            self.shape, self.dtype, self.weak_type, self.device
        ) == (other.shape, other.dtype, other.weak_type, other.device)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type, self.device))

    def __repr__(self) -> str:
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{weak})"

    def str_short(self) -> str:
        """The compact form used in printed programs: ``f32[2,3]``.

        >>> ShapeDtypeStruct((2, 3), np.float32).str_short()
        'f32[2,3]'
        """
        kind = {"f": "f", "c": "c", "i": "i", "u": "u", "b": "bool"}.get(self.dtype.kind, "?")
        name = "bool" if kind == "bool" else f"{kind}{self.dtype.itemsize * 8}"
        return f"{name}[{','.join(map(str, self.shape))}]"


_NAMES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128")  # fmt: skip
_TO_NP: dict = {}  # a namespace's dtype object -> NumPy's


def np_dtype(dt: Any, xp: Any = None) -> np.dtype:
    """NumPy's dtype for a dtype of any array namespace (`xp`: its namespace, when known):
    CuPy's are NumPy's; array_api_strict's are matched by their array-API names.

    >>> np_dtype(np.float32), np_dtype("float64")
    (dtype('float32'), dtype('float64'))
    """
    if isinstance(dt, np.dtype):
        return dt
    r = _TO_NP.get(dt)
    if r is not None:
        return r
    try:
        r = np.dtype(dt)  # NumPy's own dtypes and names, and CuPy's (NumPy's)
    except TypeError:
        r = None
        for name in _NAMES:  # the namespace's dtype objects, by their array-API names
            if xp is not None and getattr(xp, name, None) == dt:
                r = np.dtype(name)
                break
        if r is None:
            text = str(dt).rsplit(".", 1)[-1]
            if text not in _NAMES:
                raise TypeError(f"{dt!r} is not a dtype of the array API") from None
            r = np.dtype(text)
    _TO_NP[dt] = r
    return r


def aval_of(x: Any) -> ShapeDtypeStruct:
    """The abstract value of a concrete value or a tracer.

    >>> aval_of(3)
    ShapeDtypeStruct(shape=(), dtype=int64, weak_type=True)
    """
    aval = getattr(x, "aval", None)
    if isinstance(aval, ShapeDtypeStruct):
        return aval
    if type(x) in _PY_SCALARS:
        return ShapeDtypeStruct((), np.result_type(type(x)), weak_type=True)
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapeDtypeStruct(x.shape, x.dtype)
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # another array namespace's array
        return ShapeDtypeStruct(tuple(x.shape), np_dtype(x.dtype), device=getattr(x, "device",
                                                                                  None))
    a = np.asarray(x)
    return ShapeDtypeStruct(a.shape, a.dtype)


def stand_in(aval: ShapeDtypeStruct) -> Any:
    """What `np.result_type` should see for this abstract value: a Python scalar of the same
    kind when weakly typed (NEP 50), else the dtype."""
    if aval.weak_type:
        return _WEAK_STAND_IN.get(aval.dtype.kind, aval.dtype)
    return aval.dtype


def result_dtype(*avals: ShapeDtypeStruct) -> np.dtype:
    """NumPy 2's result dtype of an elementwise operation on these abstract values."""
    return np.result_type(*[stand_in(a) for a in avals])


def is_weak(*avals: ShapeDtypeStruct) -> bool:
    """An elementwise result is weakly typed when every operand is."""
    return all(a.weak_type for a in avals)


def inexact(dtype: Any) -> bool:
    """Float or complex: the dtypes that carry derivatives."""
    return np.dtype(dtype).kind in "fc"
