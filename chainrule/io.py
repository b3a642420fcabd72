"""`chainrule.io`: `save` and `load` for pytrees of arrays, Tensors, state dicts and random
generators, in a safe format (no code is unpickled on load), and the seeding of chainrule's
random numbers (`manual_seed`, `get_rng_state`, `set_rng_state`).

`save(obj, path)` writes one ``.npz`` file (NumPy's zip of ``.npy`` files): every array is a
member ``a0.npy``, ``a1.npy``, ..., and the member ``__chainrule__.npy`` (a 1-d ``uint8``
array) is a UTF-8 JSON manifest describing the structure. `load(path)` reads it with
``numpy.load(..., allow_pickle=False)``, checks the manifest and rebuilds the object from a
fixed list of node types; nothing in the file can name code to run. Round trips are exact:
values bit for bit (NaN payloads too), dtypes (byte order included), shapes, C or Fortran
order (other strides load as a compact copy), key order and container types. The format is
in docs/saving.md.

What can be saved (anything else is a TypeError naming where it is, e.g. ``obj['opt'][3]``):

- ``None``, Python's ``bool``, ``int`` (any size), ``float``, ``complex``, ``str``;
- NumPy arrays (any dtype without Python objects) and NumPy scalars (``np.float32(1)``);
- ``dict`` and ``OrderedDict`` (keys ``str``, ``int``, ``bool``, ``float`` or ``None``),
  ``list``, ``tuple`` and NamedTuples;
- `cr.Tensor` (value and ``requires_grad``, as a leaf; ``.grad`` is not saved),
  `cr.nn.Parameter` and `cr.Variable` (its ``name`` and ``trainable`` too);
- random state: ``chainrule.numpy.random.Generator`` (`cnp.random.default_rng`, and the
  default one `manual_seed` returns), NumPy's ``Generator``, its bit generators (PCG64,
  PCG64DXSM, MT19937, Philox, SFC64) and ``SeedSequence``: a generator loads back in the
  state it was saved in (its seed sequence too, so that ``spawn`` gives the same children);
  `get_rng_state` gives a plain dict of ints.

So a module's ``state_dict()``, an optimizer's ``state_dict()``, an ``lr_scheduler``'s, the
functional optimizers' states and `get_rng_state()` save as they are: a checkpoint is a dict
of them, and a run resumed from it continues bit for bit (docs/saving.md shows the loop).

An object that appears several times (a Tensor, a generator, an array) is saved once and
loads back as one object, referenced as often. A NamedTuple is saved with its class's name
and fields; `load` rebuilds it only as a class registered under that name
(`register_namedtuple`; chainrule's own optimizer states are known), never by importing or
looking up what the file names: an unknown name is a ValueError that says to register it.

>>> import os, tempfile, numpy as np, chainrule as cr
>>> from chainrule.io import save, load
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> save({"w": cr.tensor([1.0, 2.0], requires_grad=True), "step": 3}, path)
>>> load(path)
{'w': tensor([1., 2.], requires_grad=True), 'step': 3}
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import sys
import threading
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from chainrule.core.trace import ForeignTracer, Tracer
from chainrule.rules.random import Source
from chainrule.tensor import Tensor
from chainrule.tensor import _host as tensor_host

__all__ = ["FORMAT", "VERSION", "get_rng_state", "load", "manual_seed", "register_namedtuple",
           "save", "set_rng_state"]

#: the manifest's ``format`` field
FORMAT = "chainrule.save"
#: the version of the layout this module writes (`load` reads this one and older ones)
VERSION = 1
#: the manifest's member name in the ``.npz`` (``__chainrule__.npy``)
MANIFEST = "__chainrule__"

#: the bit generators a file may name (NumPy's own, looked up in numpy.random)
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")

_namedtuples: dict[str, type] = {}  # registered name -> class
_namedtuple_names: dict[type, str] = {}  # class -> registered name


def register_namedtuple(cls: type, name: str | None = None) -> type:
    """Let `load` rebuild the NamedTuple class `cls` from files that name it: `save` writes
    a NamedTuple with its class's name (the registered one, by default ``module:qualname``)
    and `load` rebuilds only registered classes (chainrule's optimizer states are known).
    Register the class before `load`, under the same name on both sides (give `name` to read
    a file saved from another module, e.g. from a script's ``__main__``). Returns `cls`, so
    it works as a decorator.

    >>> import io
    >>> from typing import NamedTuple
    >>> @register_namedtuple
    ... class State(NamedTuple):
    ...     step: int
    ...     loss: float
    >>> buf = io.BytesIO(); save(State(3, 0.5), buf); _ = buf.seek(0)
    >>> load(buf)
    State(step=3, loss=0.5)
    """
    if not (isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_fields")):
        raise TypeError(f"register_namedtuple: {cls!r} is not a NamedTuple class")
    name = _default_name(cls) if name is None else name
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_namedtuple: the name must be a non-empty str, got {name!r}")
    old = _namedtuples.get(name)
    if old is not None and old is not cls:
        _namedtuple_names.pop(old, None)
    _namedtuples[name] = cls
    _namedtuple_names[cls] = name
    return cls


def _default_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


# -- numbers as text --------------------------------------------------------------------------

_INT = re.compile(r"-?(0x[0-9a-f]+|[0-9]+)\Z")


def _int_text(x: int) -> str:
    # decimal up to 1024 bits; beyond, hexadecimal (Python limits decimal conversions)
    if x.bit_length() <= 1024:
        return str(x)
    return ("-" if x < 0 else "") + hex(abs(x))


def _text_int(s: Any) -> int:
    if not isinstance(s, str) or not _INT.match(s):
        raise _Corrupt(f"an int is written {s!r}")
    neg = s.startswith("-")
    body = s[1:] if neg else s
    v = int(body, 16) if body.startswith("0x") else int(body)
    return -v if neg else v


def _float_text(x: float) -> str:
    """`x` exactly: float.hex, or the bits of a NaN (its sign and payload kept)."""
    if math.isnan(x):
        return "nan:" + struct.pack(">d", x).hex()
    return x.hex()


def _text_float(s: Any) -> float:
    if not isinstance(s, str):
        raise _Corrupt(f"a float is written {s!r}")
    try:
        if s.startswith("nan:"):
            (v,) = struct.unpack(">d", bytes.fromhex(s[4:]))
            if not math.isnan(v):
                raise ValueError
            return v
        return float.fromhex(s)
    except (ValueError, OverflowError, struct.error):
        raise _Corrupt(f"a float is written {s!r}") from None


# -- saving ---------------------------------------------------------------------------------

_SUPPORTED = (
    "None, bool, int, float, complex, str, NumPy arrays and scalars, dict/OrderedDict (keys "
    "str, int, bool, float or None), list, tuple, NamedTuple, cr.Tensor, cr.nn.Parameter, "
    "cr.Variable, random generators (chainrule's or NumPy's), NumPy bit generators and "
    "SeedSequence"
)


def _host(value: Any, where: str) -> np.ndarray:
    """A Tensor's value as a NumPy array (a GPU's or another device's copied to the host:
    files hold host arrays, and `load` gives CPU tensors)."""
    if isinstance(value, Tracer) and type(value) is not ForeignTracer:
        raise TypeError(f"{where}: a traced value (inside grad, jit or vmap) has no value to "
                        "save")  # fmt: skip
    return tensor_host(value)


def _is_namedtuple(x: Any) -> bool:
    t = type(x)
    return t is not tuple and isinstance(x, tuple) and isinstance(getattr(t, "_fields", None),
                                                                  tuple)  # fmt: skip


def _tensor_kinds() -> dict:
    """The Tensor classes `save` knows, by exact type (Parameter only once chainrule.nn is
    imported: a Parameter cannot exist before)."""
    from chainrule.tape import Variable

    kinds = {Tensor: "tensor", Variable: "variable"}
    param = getattr(sys.modules.get("chainrule.nn.parameter"), "Parameter", None)
    if param is not None:
        kinds[param] = "parameter"
    return kinds


class _Saver:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.array_index: dict[int, int] = {}  # id(array) -> member number
        self.objects: dict[int, int] = {}  # id(Tensor or generator) -> object number
        self.alive: list = []  # what the ids above refer to, kept alive while saving
        self.path: set[int] = set()  # the containers being encoded (a cycle is an error)
        self.tensor_kinds = _tensor_kinds()

    def array(self, a: np.ndarray, where: str) -> int:
        k = self.array_index.get(id(a))
        if k is not None:
            return k
        if a.dtype.hasobject:
            raise TypeError(f"chainrule.save: cannot save {where}: an array of dtype "
                            f"{a.dtype} holds Python objects (only arrays of numbers, bools, "
                            "str, bytes, datetimes and structured dtypes are saved)")  # fmt: skip
        k = len(self.arrays)
        self.arrays.append(a)
        self.array_index[id(a)] = k
        self.alive.append(a)
        return k

    def shared(self, x: Any) -> dict | None:
        """A reference to `x` if it was saved already (else None, and `x` gets a number)."""
        j = self.objects.get(id(x))
        if j is not None:
            return {"t": "ref", "obj": j}
        self.objects[id(x)] = len(self.objects)
        self.alive.append(x)
        return None

    def encode(self, x: Any, where: str) -> dict:
        t = type(x)
        if x is None:
            return {"t": "none"}
        if t is bool:
            return {"t": "bool", "v": x}
        if t is int:
            return {"t": "int", "v": _int_text(x)}
        if t is float:
            return {"t": "float", "v": _float_text(x)}
        if t is complex:
            return {"t": "complex", "v": [_float_text(x.real), _float_text(x.imag)]}
        if t is str:
            return {"t": "str", "v": x}
        if isinstance(x, np.ndarray):
            if t is not np.ndarray and t is not np.memmap:
                raise TypeError(f"chainrule.save: cannot save {where}: a {t.__module__}."
                                f"{t.__qualname__} (an ndarray subclass; save np.asarray(x) "
                                "and what else it holds)")  # fmt: skip
            return {"t": "array", "a": self.array(x, where)}
        if isinstance(x, np.generic):
            return {"t": "npscalar", "a": self.array(np.asarray(x), where)}
        if isinstance(x, Tensor):
            return self.tensor(x, where)
        if t is dict or t is OrderedDict:
            return self.mapping(x, where)
        if t is list or t is tuple:
            return self.sequence(x, where)
        if _is_namedtuple(x):
            return self.namedtuple(x, where)
        if isinstance(x, (Source, np.random.Generator, np.random.BitGenerator,
                          np.random.SeedSequence)):  # fmt: skip
            return self.random(x, where)
        if isinstance(x, Tracer):
            raise TypeError(f"chainrule.save: cannot save {where}: a traced value (inside "
                            "grad, jit or vmap) has no value to save")  # fmt: skip
        hint = ""
        if isinstance(x, dict):
            hint = " (a dict subclass: save dict(x) or OrderedDict(x))"
        elif isinstance(x, (list, tuple)):
            hint = " (a list or tuple subclass: save list(x) or tuple(x))"
        elif isinstance(x, (bool, int, float, complex, str)):
            hint = f" (a subclass of {t.__mro__[1].__name__}: save {t.__mro__[1].__name__}(x))"
        elif callable(getattr(x, "state_dict", None)):
            hint = (" (objects are not saved, their state is: save x.state_dict() and give "
                    "what load returns to x.load_state_dict())")  # fmt: skip
        elif isinstance(x, (set, frozenset)):
            hint = " (save sorted(x) or list(x))"
        elif isinstance(x, (bytes, bytearray)):
            hint = " (save np.frombuffer(x, np.uint8))"
        raise TypeError(f"chainrule.save: cannot save {where}: a {t.__module__}."
                        f"{t.__qualname__}{hint}. What can be saved: {_SUPPORTED}")  # fmt: skip

    def enter(self, x: Any, where: str) -> None:
        if id(x) in self.path:
            raise ValueError(f"chainrule.save: {where} contains itself (a cycle)")
        self.path.add(id(x))

    def mapping(self, d: dict, where: str) -> dict:
        self.enter(d, where)
        items = []
        for k, v in d.items():
            if k is not None and type(k) not in (str, int, bool, float):
                raise TypeError(f"chainrule.save: cannot save {where}: a key of type "
                                f"{type(k).__qualname__} ({k!r}); keys are str, int, bool, "
                                "float or None")  # fmt: skip
            items.append([self.encode(k, where), self.encode(v, f"{where}[{k!r}]")])
        self.path.discard(id(d))
        return {"t": "dict" if type(d) is dict else "odict", "items": items}

    def sequence(self, s: list | tuple, where: str) -> dict:
        self.enter(s, where)
        items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(s)]
        self.path.discard(id(s))
        return {"t": "list" if type(s) is list else "tuple", "items": items}

    def namedtuple(self, x: tuple, where: str) -> dict:
        cls = type(x)
        fields = list(cls._fields)
        if len(fields) != len(x) or not all(isinstance(f, str) for f in fields):
            raise TypeError(f"chainrule.save: cannot save {where}: a {cls.__qualname__} whose "
                            "fields do not match its values")  # fmt: skip
        self.enter(x, where)
        items = [self.encode(v, f"{where}.{f}") for f, v in zip(fields, x, strict=True)]
        self.path.discard(id(x))
        name = _namedtuple_names.get(cls) or _default_name(cls)
        return {"t": "namedtuple", "name": name, "fields": fields, "items": items}

    def tensor(self, x: Tensor, where: str) -> dict:
        kind = self.tensor_kinds.get(type(x))
        if kind is None:
            raise TypeError(f"chainrule.save: cannot save {where}: a {type(x).__qualname__} "
                            "(a Tensor subclass chainrule.save does not know; save "
                            "x.detach() or cr.tensor(x))")  # fmt: skip
        ref = self.shared(x)
        if ref is not None:
            return ref
        value = _host(x._value, f"chainrule.save: cannot save {where}")
        node = {"t": kind, "obj": self.objects[id(x)], "a": self.array(value, where),
                "requires_grad": bool(x.requires_grad)}  # fmt: skip
        if kind == "variable":
            if x.name is not None and type(x.name) is not str:
                raise TypeError(f"chainrule.save: cannot save {where}: a Variable named "
                                f"{x.name!r} (names are str)")  # fmt: skip
            node["name"] = x.name
            node["trainable"] = bool(x.trainable)
        return node

    def random(self, x: Any, where: str) -> dict:
        ref = self.shared(x)
        if ref is not None:
            return ref
        j = self.objects[id(x)]
        if isinstance(x, np.random.SeedSequence):
            return {"t": "seed_sequence", "obj": j, **self.seed_sequence(x, where)}
        if isinstance(x, np.random.BitGenerator):
            return {"t": "bit_generator", "obj": j, **self.bit_generator(x, where)}
        if isinstance(x, Source):
            from chainrule.numpy.random import Generator

            if type(x) is not Generator and type(x) is not Source:
                raise TypeError(f"chainrule.save: cannot save {where}: a "
                                f"{type(x).__qualname__} (a Generator subclass)")  # fmt: skip
            kind, gen = "chainrule", x.gen
        else:
            if type(x) is not np.random.Generator:
                raise TypeError(f"chainrule.save: cannot save {where}: a "
                                f"{type(x).__qualname__} (a Generator subclass)")  # fmt: skip
            kind, gen = "numpy", x
        return {"t": "generator", "obj": j, "kind": kind,
                **self.bit_generator(gen.bit_generator, f"{where}.bit_generator")}  # fmt: skip

    def bit_generator(self, bg: Any, where: str) -> dict:
        name = type(bg).__name__
        if name not in BIT_GENERATORS or type(bg) is not getattr(np.random, name):
            raise TypeError(f"chainrule.save: cannot save {where}: a {type(bg).__qualname__} "
                            f"(the bit generators saved are NumPy's {', '.join(BIT_GENERATORS)})")
        ss = getattr(bg, "seed_seq", None)
        seed = (self.seed_sequence(ss, f"{where}.seed_seq")
                if type(ss) is np.random.SeedSequence else None)  # fmt: skip
        return {"bit_generator": name, "state": self.encode(bg.state, f"{where}.state"),
                "seed_seq": seed}  # fmt: skip

    def seed_sequence(self, ss: np.random.SeedSequence, where: str) -> dict:
        if type(ss) is not np.random.SeedSequence:
            raise TypeError(f"chainrule.save: cannot save {where}: a {type(ss).__qualname__}")
        entropy = ss.entropy
        if isinstance(entropy, np.ndarray):
            entropy = entropy.copy()
        return {"entropy": self.encode(entropy, f"{where}.entropy"),
                "spawn_key": [_int_text(int(k)) for k in ss.spawn_key],
                "pool_size": int(ss.pool_size), "n_children_spawned": int(ss.n_children_spawned)}


def save(obj: Any, path: Any, *, compress: bool = False) -> None:
    """Write `obj` (a pytree of what the module lists) to `path`: a ``.npz`` file, whatever
    the name (no suffix is added), or a binary file object. A file at `path` is replaced
    whole (written beside it, then renamed), so an interrupted save leaves the previous one.
    `compress`: zip-deflate the arrays (``numpy.savez_compressed``).

    >>> import io, chainrule as cr
    >>> from chainrule import nn
    >>> buf = io.BytesIO()
    >>> save({"model": nn.Linear(2, 1).state_dict(), "rng": cr.get_rng_state()}, buf)
    """
    saver = _Saver()
    try:
        tree = saver.encode(obj, "obj")
    except RecursionError:
        raise ValueError("chainrule.save: the object is nested too deeply") from None
    manifest = {"format": FORMAT, "version": VERSION, "arrays": len(saver.arrays),
                "tree": tree}  # fmt: skip
    try:
        text = json.dumps(manifest, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise ValueError("chainrule.save: the object is nested too deeply") from None
    members = {MANIFEST: np.frombuffer(text.encode("ascii"), dtype=np.uint8)}
    for k, a in enumerate(saver.arrays):
        members[f"a{k}"] = a
    # no allow_pickle argument (NumPy 2.0's savez lacks it): object arrays are refused above
    write = np.savez_compressed if compress else np.savez
    if hasattr(path, "write"):
        write(path, **members)
        return
    path = _fspath(path, "save")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"chainrule.save: cannot write {path!r}: the folder {folder!r} "
                                "does not exist")  # fmt: skip
    if os.path.isdir(path):
        raise IsADirectoryError(f"chainrule.save: {path!r} is a folder; give a file name, such "
                                f"as {os.path.join(path, 'checkpoint.npz')!r}")  # fmt: skip
    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        with open(tmp, "wb") as f:
            write(f, **members)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _fspath(path: Any, fn: str) -> str:
    try:
        p = os.fspath(path)
    except TypeError:
        raise TypeError(f"chainrule.{fn}: path must be a file name (str or os.PathLike) or a "
                        f"binary file object, got {type(path).__name__}") from None  # fmt: skip
    return os.fsdecode(p) if isinstance(p, bytes) else p


# -- loading --------------------------------------------------------------------------------


class _Corrupt(Exception):
    """A manifest that does not describe an object (turned into a ValueError)."""


class _Refused(Exception):
    """A well-formed manifest that names a class `load` will not rebuild (a ValueError)."""


_SCALAR_KEYS = ("none", "bool", "int", "float", "str")


class _Loader:
    def __init__(self, npz: Any, n_arrays: int, name: str) -> None:
        self.npz = npz
        self.n_arrays = n_arrays
        self.name = name
        self.arrays: dict[int, np.ndarray] = {}
        self.objects: dict[int, Any] = {}

    def array(self, node: dict, where: str) -> np.ndarray:
        k = node.get("a")
        if type(k) is not int or not 0 <= k < self.n_arrays:
            raise _Corrupt(f"{where}: no array {k!r}")
        a = self.arrays.get(k)
        if a is None:
            try:
                a = self.npz[f"a{k}"]
            except KeyError:
                raise _Corrupt(f"{where}: the member a{k}.npy is missing") from None
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                if "pickle" in str(e):
                    raise _Refused(f"{where}: the member a{k}.npy holds pickled Python objects, "
                                   "which load refuses (unpickling can run code)") from None
                raise _Corrupt(f"{where}: the member a{k}.npy cannot be read ({e})") from None
            self.arrays[k] = a
        return a

    def new_object(self, node: dict, value: Any, where: str) -> Any:
        j = node.get("obj")
        if type(j) is not int or j in self.objects:
            raise _Corrupt(f"{where}: a bad object number {j!r}")
        self.objects[j] = value
        return value

    def decode(self, node: Any, where: str) -> Any:
        if type(node) is not dict:
            raise _Corrupt(f"{where}: a node is {type(node).__name__}, not an object")
        t = node.get("t")
        if t == "none":
            return None
        if t == "bool":
            v = node.get("v")
            if type(v) is not bool:
                raise _Corrupt(f"{where}: a bool is written {v!r}")
            return v
        if t == "int":
            return _text_int(node.get("v"))
        if t == "float":
            return _text_float(node.get("v"))
        if t == "complex":
            v = node.get("v")
            if type(v) is not list or len(v) != 2:
                raise _Corrupt(f"{where}: a complex is written {v!r}")
            return complex(_text_float(v[0]), _text_float(v[1]))
        if t == "str":
            v = node.get("v")
            if type(v) is not str:
                raise _Corrupt(f"{where}: a str is written {v!r}")
            return v
        if t == "array":
            return self.array(node, where)
        if t == "npscalar":
            a = self.array(node, where)
            if a.ndim != 0:
                raise _Corrupt(f"{where}: a NumPy scalar of shape {a.shape}")
            return a[()]
        if t in ("dict", "odict"):
            return self.mapping(node, t, where)
        if t in ("list", "tuple"):
            items = self.items(node, where)
            out = [self.decode(v, f"{where}[{i}]") for i, v in enumerate(items)]
            return out if t == "list" else tuple(out)
        if t == "namedtuple":
            return self.namedtuple(node, where)
        if t in ("tensor", "parameter", "variable"):
            return self.tensor(node, t, where)
        if t == "ref":
            j = node.get("obj")
            if type(j) is not int or j not in self.objects:
                raise _Corrupt(f"{where}: a reference to an unknown object {j!r}")
            return self.objects[j]
        if t == "seed_sequence":
            return self.new_object(node, self.seed_sequence(node, where), where)
        if t == "bit_generator":
            return self.new_object(node, self.bit_generator(node, where), where)
        if t == "generator":
            kind = node.get("kind")
            if kind not in ("chainrule", "numpy"):
                raise _Corrupt(f"{where}: a generator of kind {kind!r}")
            gen = np.random.Generator(self.bit_generator(node, f"{where}.bit_generator"))
            if kind == "chainrule":
                from chainrule.numpy.random import Generator

                gen = Generator(gen)
            return self.new_object(node, gen, where)
        raise _Corrupt(f"{where}: an unknown node type {t!r}")

    def items(self, node: dict, where: str) -> list:
        items = node.get("items")
        if type(items) is not list:
            raise _Corrupt(f"{where}: the items are {type(items).__name__}, not a list")
        return items

    def mapping(self, node: dict, t: str, where: str) -> dict:
        out: dict = {} if t == "dict" else OrderedDict()
        for pair in self.items(node, where):
            if type(pair) is not list or len(pair) != 2:
                raise _Corrupt(f"{where}: an item is not a [key, value] pair")
            kn, vn = pair
            if type(kn) is not dict or kn.get("t") not in _SCALAR_KEYS:
                raise _Corrupt(f"{where}: a key is not a str, int, bool, float or None")
            k = self.decode(kn, where)
            if k in out:
                raise _Corrupt(f"{where}: the key {k!r} appears twice")
            out[k] = self.decode(vn, f"{where}[{k!r}]")
        return out

    def namedtuple(self, node: dict, where: str) -> Any:
        name, fields = node.get("name"), node.get("fields")
        items = self.items(node, where)
        if type(name) is not str or type(fields) is not list or len(fields) != len(items) \
                or not all(type(f) is str for f in fields) or len(set(fields)) != len(fields):
            raise _Corrupt(f"{where}: a NamedTuple without a name or with bad fields")
        cls = _find_namedtuple(name, fields)
        if cls is None:
            known = _namedtuples.get(name)
            why = (f"the class registered under that name has the fields "
                   f"{list(known._fields)}, the file has {fields}" if known is not None else
                   "no class is registered under that name")  # fmt: skip
            raise _Refused(f"{where} is the NamedTuple {name!r}: {why}. load rebuilds only "
                           "registered classes (it never imports what a file names): call "
                           "chainrule.io.register_namedtuple(YourClass) first, or register a "
                           "NamedTuple with these fields under that name")  # fmt: skip
        return cls._make([self.decode(v, f"{where}.{f}")
                          for f, v in zip(fields, items, strict=True)])  # fmt: skip

    def tensor(self, node: dict, t: str, where: str) -> Tensor:
        value = self.array(node, where)
        rg = node.get("requires_grad")
        if type(rg) is not bool:
            raise _Corrupt(f"{where}: requires_grad is {rg!r}")
        if rg and value.dtype.kind not in "fc":
            raise _Corrupt(f"{where}: a tensor of dtype {value.dtype} requires grad")
        if t == "tensor":
            out = Tensor(value, requires_grad=rg)
        elif t == "parameter":
            from chainrule.nn.parameter import Parameter

            out = Parameter(value, requires_grad=rg)
        else:
            from chainrule.tape import Variable

            name, trainable = node.get("name"), node.get("trainable")
            if (name is not None and type(name) is not str) or type(trainable) is not bool:
                raise _Corrupt(f"{where}: a Variable with name {name!r}, trainable {trainable!r}")
            out = Variable(value, trainable=False, name=name)
            out.trainable = trainable
            if rg:
                out.requires_grad_()
        return self.new_object(node, out, where)

    def seed_sequence(self, node: dict, where: str) -> np.random.SeedSequence:
        entropy = self.decode(node.get("entropy"), f"{where}.entropy")
        spawn_key, pool_size, n = (node.get("spawn_key"), node.get("pool_size"),
                                   node.get("n_children_spawned"))  # fmt: skip
        if type(spawn_key) is not list or type(pool_size) is not int or type(n) is not int:
            raise _Corrupt(f"{where}: a SeedSequence with bad fields")
        try:
            return np.random.SeedSequence(entropy, spawn_key=[_text_int(k) for k in spawn_key],
                                          pool_size=pool_size, n_children_spawned=n)  # fmt: skip
        except (TypeError, ValueError, OverflowError) as e:
            raise _Corrupt(f"{where}: a SeedSequence that NumPy refuses ({e})") from None

    def bit_generator(self, node: dict, where: str) -> np.random.BitGenerator:
        name = node.get("bit_generator")
        if name not in BIT_GENERATORS:
            raise _Corrupt(f"{where}: an unknown bit generator {name!r}")
        cls = getattr(np.random, name)
        seed = node.get("seed_seq")
        ss = None if seed is None else self.seed_sequence(seed, f"{where}.seed_seq") \
            if type(seed) is dict else None  # fmt: skip
        if seed is not None and ss is None:
            raise _Corrupt(f"{where}: a bad seed_seq")
        state = self.decode(node.get("state"), f"{where}.state")
        bg = cls(ss) if ss is not None else cls()
        try:
            bg.state = state
        except (TypeError, ValueError, KeyError, OverflowError) as e:
            raise _Corrupt(f"{where}: a {name} state that NumPy refuses ({e})") from None
        return bg


#: chainrule's own NamedTuples (the functional optimizers' states), known to `load` without
#: registration: the module is imported (it is chainrule's) and the class must be defined there
_OWN_NAMEDTUPLE_MODULES = ("chainrule.optim.functional",)


def _find_namedtuple(name: str, fields: list) -> type | None:
    """The NamedTuple class registered under `name` (or chainrule's own), with these fields;
    None when there is none. What the file names is never imported or looked up elsewhere."""
    cls = _namedtuples.get(name)
    if cls is None and ":" in name:
        module, qualname = name.split(":", 1)
        if module in _OWN_NAMEDTUPLE_MODULES:
            import chainrule.optim.functional as own

            candidate = vars(own).get(qualname)
            if isinstance(candidate, type) and candidate.__module__ == module \
                    and candidate.__qualname__ == qualname:  # fmt: skip
                cls = candidate
    if isinstance(cls, type) and issubclass(cls, tuple) and hasattr(cls, "_make") \
            and list(getattr(cls, "_fields", ())) == fields:  # fmt: skip
        return cls
    return None


def load(path: Any) -> Any:
    """Read what `save` wrote to `path` (a file name or a binary file object). Nothing is
    unpickled (``numpy.load(..., allow_pickle=False)``) and the manifest is checked: a file
    `save` did not write, or a damaged one, is a ValueError saying so; a NamedTuple whose
    class is not registered (`register_namedtuple`) is a ValueError too. Tensors load on the
    CPU, as leaves; random generators in the state they were saved in. Every call returns
    new objects (nothing is cached or shared with an earlier load).

    >>> import io, numpy as np, chainrule as cr
    >>> buf = io.BytesIO()
    >>> gen = cr.numpy.random.default_rng(0)
    >>> save({"x": np.arange(3, dtype=np.float32), "lr": 0.1, "gen": gen}, buf)
    >>> _ = buf.seek(0); out = load(buf)
    >>> out["x"], out["lr"], out["gen"].random() == gen.random()
    (array([0., 1., 2.], dtype=float32), 0.1, True)
    """
    if hasattr(path, "read"):
        name = "the file object"
    else:
        path = _fspath(path, "load")
        name = repr(path)
        if os.path.isdir(path):
            raise IsADirectoryError(f"chainrule.load: {name} is a folder, not a file")
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"chainrule.load: no such file {name}") from None
    except (IsADirectoryError, PermissionError):
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"chainrule.load: {name} is not a file chainrule.save wrote, or it is "
                         f"damaged ({type(e).__name__}: {e})") from None  # fmt: skip
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"chainrule.load: {name} is a single .npy array, not a file "
                         "chainrule.save wrote (read it with numpy.load)")  # fmt: skip
    with npz:
        return _load_npz(npz, name)


def _load_npz(npz: Any, name: str) -> Any:
    if MANIFEST not in npz.files:
        raise ValueError(f"chainrule.load: {name} has no chainrule manifest ({MANIFEST}.npy): "
                         "it is a .npz file chainrule.save did not write (read it with "
                         "numpy.load)")  # fmt: skip
    try:
        raw = npz[MANIFEST]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"the manifest is an array of dtype {raw.dtype} and shape "
                             f"{raw.shape}, not bytes")  # fmt: skip
        manifest = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError, OSError, EOFError,
            zipfile.BadZipFile) as e:  # fmt: skip
        raise ValueError(f"chainrule.load: {name}: the manifest cannot be read, the file is "
                         f"damaged ({type(e).__name__}: {e})") from None  # fmt: skip
    if type(manifest) is not dict or manifest.get("format") != FORMAT:
        raise ValueError(f"chainrule.load: {name}: the manifest is not chainrule's (format "
                         f"{manifest.get('format') if type(manifest) is dict else None!r})")
    version = manifest.get("version")
    if type(version) is not int or version < 1:
        raise ValueError(f"chainrule.load: {name}: a bad format version {version!r}")
    if version > VERSION:
        raise ValueError(f"chainrule.load: {name} was written by a newer chainrule (format "
                         f"version {version}; this one reads up to {VERSION})")  # fmt: skip
    n = manifest.get("arrays")
    if type(n) is not int or n < 0 or "tree" not in manifest:
        raise ValueError(f"chainrule.load: {name}: the manifest is damaged (no tree or array "
                         "count)")  # fmt: skip
    loader = _Loader(npz, n, name)
    try:
        return loader.decode(manifest["tree"], "obj")
    except _Corrupt as e:
        raise ValueError(f"chainrule.load: {name} is damaged: {e}") from None
    except _Refused as e:
        raise ValueError(f"chainrule.load: {name}: {e}") from None
    except RecursionError:
        raise ValueError(f"chainrule.load: {name}: the object is nested too deeply") from None


# -- seeding ----------------------------------------------------------------------------------


def _seed_int(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: the seed must be an int, got {type(seed).__name__} "
                        f"({seed!r})")  # fmt: skip
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"manual_seed: the seed must be a non-negative int (NumPy's "
                         f"SeedSequence takes no negative entropy), got {seed}")  # fmt: skip
    return seed


def _seed_sequence(seed: int, per_process: bool) -> np.random.SeedSequence:
    """The seed sequence of this process's stream: ``SeedSequence(seed)`` on rank 0 (and in
    a single process), ``SeedSequence(seed, spawn_key=(rank,))`` (the rank-th child of
    ``SeedSequence(seed).spawn``) on rank > 0 of an MPI job. The rank is known without
    starting MPI (`chainrule.distributed.comm.process_index`: the launcher's environment
    before ``dist.init()``), so seeding before or after ``init`` gives the same streams."""
    rank = 0
    launched = any(k.startswith(("PMI_", "PMIX_", "OMPI_")) for k in os.environ)
    if per_process and (launched or "chainrule.distributed" in sys.modules):
        from chainrule.distributed.comm import process_index  # never imports mpi4py

        rank = process_index()
    if rank == 0:
        return np.random.SeedSequence(seed)
    return np.random.SeedSequence(seed, spawn_key=(rank,))


def manual_seed(seed: int, *, per_process: bool = True) -> Any:
    """Seed chainrule's default random generator and return it (as ``torch.manual_seed``
    returns ``torch.default_generator``): the generator behind `cr.rand`, `cr.randn`, the
    functions of `chainrule.numpy.random`, the initial values of `chainrule.nn` (its
    layers and `nn.init`) and dropout. After ``cr.manual_seed(n)``, a training run that
    draws only from them (model, data, dropout) is reproducible bit for bit. NumPy's own
    global state (``np.random.rand``) and generators you make with `default_rng` are not
    touched.

    The generator draws what ``numpy.random.default_rng(seed)`` draws. Under MPI (a process
    that ``mpiexec`` started, before or after ``dist.init()``), each process gets its own
    stream (`per_process`, the default): rank 0 draws the stream of a single process, rank r > 0
    that of ``SeedSequence(seed, spawn_key=(r,))``, the r-th child of
    ``SeedSequence(seed).spawn``, statistically independent of the others. Broadcast the
    initial parameters from rank 0 (``dist.broadcast``, as DistributedDataParallel does)
    and N processes start from the parameters one process would have. ``per_process=False``
    gives every process the same stream.

    Returns the default generator (a `chainrule.numpy.random.Generator`; it stays the same
    object across calls, so programs compiled earlier draw from the new seed).

    >>> import numpy as np, chainrule as cr
    >>> g = cr.manual_seed(0)
    >>> a = cr.randn(3)
    >>> _ = cr.manual_seed(0)
    >>> bool((cr.randn(3).numpy() == a.numpy()).all())
    True
    >>> bool(a.numpy()[0] == np.random.default_rng(0).standard_normal())
    True
    """
    from chainrule.numpy import random as cnp_random
    from chainrule.rules.random import reseed

    reseed(cnp_random.DEFAULT, _seed_sequence(_seed_int(seed), per_process))
    return cnp_random.DEFAULT


def get_rng_state() -> dict:
    """The state of chainrule's default generator (the one `manual_seed` seeds), as a plain
    dict (NumPy's ``bit_generator.state``: ints, no code), that `save` writes and
    `set_rng_state` restores; save it with a checkpoint to resume a run bit for bit.

    >>> import chainrule as cr
    >>> state = cr.get_rng_state()
    >>> a = cr.rand(2)
    >>> cr.set_rng_state(state)
    >>> bool((cr.rand(2).numpy() == a.numpy()).all())
    True
    """
    from chainrule.numpy import random as cnp_random

    return _copy_state(cnp_random.DEFAULT.gen.bit_generator.state)


def _copy_state(state: Any) -> Any:
    if isinstance(state, dict):
        return {k: _copy_state(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return state.copy()
    return state


def set_rng_state(state: Any) -> None:
    """Restore chainrule's default generator to `state`: a dict from `get_rng_state` (or
    any NumPy ``bit_generator.state``), or a generator (chainrule's or NumPy's, e.g. one
    `load` returned) whose state is copied. The default generator stays the same object.

    >>> import numpy as np, chainrule as cr
    >>> cr.set_rng_state(np.random.default_rng(5))
    >>> cr.numpy.random.random() == np.random.default_rng(5).random()
    True
    """
    from chainrule.numpy import random as cnp_random

    if isinstance(state, Source):
        state = state.gen
    if isinstance(state, np.random.Generator):
        state = state.bit_generator
    if isinstance(state, np.random.BitGenerator):
        state = state.state
    if not isinstance(state, dict):
        raise TypeError("set_rng_state: give a state dict from cr.get_rng_state() (or a "
                        f"random generator), got {type(state).__name__}")  # fmt: skip
    name = state.get("bit_generator")
    if name not in BIT_GENERATORS:
        raise ValueError(f"set_rng_state: the state names the bit generator {name!r}; the "
                         f"known ones are NumPy's {', '.join(BIT_GENERATORS)}")  # fmt: skip
    box = cnp_random.DEFAULT
    bg = box.gen.bit_generator
    if type(bg) is not getattr(np.random, name):
        bg = getattr(np.random, name)()
    try:
        bg.state = _copy_state(state)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise ValueError(f"set_rng_state: NumPy refuses this {name} state ({e})") from None
    if bg is not box.gen.bit_generator:
        box.gen = np.random.Generator(bg)
