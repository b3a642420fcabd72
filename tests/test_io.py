"""`cr.save`/`cr.load` (issue 10, item 3): exact round trips of pytrees of arrays, Tensors, state
dicts and random state; a training run resumed from a checkpoint continues bit for bit (Adam,
SGD with momentum); crafted files are refused without running anything; clear errors naming
the path and the key; nothing the user passed is mutated. Tensors pickle and deepcopy as
PyTorch's do. `cr.manual_seed` makes a run reproducible, with one stream per MPI process."""

from __future__ import annotations

import copy
import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import types
import zipfile
from collections import OrderedDict
from typing import NamedTuple

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn, optim
from chainrule.io import MANIFEST, load, register_namedtuple, save

# -- helpers ----------------------------------------------------------------------------------


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    save(obj, buf, **kw)
    buf.seek(0)
    return load(buf)


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def assert_same(a, b, where="obj"):
    """`b` is `a` exactly: types, dtypes (byte order too), shapes, bits, key order."""
    assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype.str == b.dtype.str and a.dtype == b.dtype, where
        assert a.shape == b.shape, where
        assert _bits(a) == _bits(b), where
        assert a.flags.f_contiguous == b.flags.f_contiguous or a.ndim < 2 or not (
            a.flags.c_contiguous or a.flags.f_contiguous), where  # fmt: skip
    elif isinstance(a, np.generic):
        assert a.dtype.str == b.dtype.str and _bits(np.asarray(a)) == _bits(np.asarray(b)), where
    elif isinstance(a, cr.Tensor):
        assert a.requires_grad == b.requires_grad and b.is_leaf, where
        assert_same(np.asarray(a._value), np.asarray(b._value), where)
        if isinstance(a, cr.Variable):
            assert (a.name, a.trainable) == (b.name, b.trainable), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert struct.pack(">d", a) == struct.pack(">d", b), where
    elif isinstance(a, complex):
        assert struct.pack(">dd", a.real, a.imag) == struct.pack(">dd", b.real, b.imag), where
    else:
        assert a == b, where


def _nan_with_payload(payload: int, sign: int = 0) -> float:
    bits = (sign << 63) | (0x7FF << 52) | payload
    return struct.unpack(">d", bits.to_bytes(8, "big"))[0]


ARRAYS = {
    "f16": np.array([1.5, -0.0, np.inf, 65504.0], dtype=np.float16),
    "f32": np.array([[1e-38, np.nan], [-np.inf, 3.25]], dtype=np.float32),
    "f64": np.array([np.pi, _nan_with_payload(0xABCDE, 1), 5e-324, -0.0]),
    "c64": np.array([1 + 2j, np.nan * 1j], dtype=np.complex64),
    "c128": np.array([[1e300 - 1e-300j]]),
    "bool": np.array([True, False, True]),
    "i8": np.array([-128, 127], dtype=np.int8),
    "u64": np.array([2**64 - 1, 0], dtype=np.uint64),
    "i64": np.arange(-3, 3),
    "zero_d": np.array(2.5),
    "zero_d_int": np.array(7, dtype=np.int32),
    "empty": np.zeros((0,)),
    "empty_3d": np.ones((2, 0, 3), dtype=np.float32),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "transposed": np.arange(6.0).reshape(2, 3).T,
    "strided": np.arange(20.0)[::3],
    "big_endian_f8": np.arange(4, dtype=">f8"),
    "big_endian_i4": np.array([1, -2, 3], dtype=">i4"),
    "big_endian_c16": np.array([1 - 1j], dtype=">c16"),
    "longdouble": np.array([1.0, 1 / 3], dtype=np.longdouble),
    "unicode": np.array(["α", "βγ", ""]),
    "bytes": np.array([b"ab", b"\x00\xff"]),
    "datetime": np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"),
    "structured": np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", ">f8")]),
    "readonly": np.frombuffer(b"\x00\x00\x80?", dtype=np.float32),
}


# -- exact round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_arrays_round_trip_bit_for_bit(name):
    a = ARRAYS[name]
    out = _roundtrip({"x": a})["x"]
    assert_same(a, out)
    assert out.flags.writeable  # a fresh array, not the file's buffer


def test_python_and_numpy_scalars_and_containers():
    obj = OrderedDict(
        [
            ("none", None), ("t", True), ("f", False), ("small", -3), ("big", 3**2000),
            ("huge", -(2**20000) + 1), ("float", 0.1), ("neg_zero", -0.0),
            ("inf", -math.inf), ("nan", _nan_with_payload(1)), ("complex", complex(-0.0, 1e-310)),
            ("str", "héllo \u2603 \ud800"), ("np_f32", np.float32(1.1)), ("np_i16", np.int16(-7)),
            ("np_bool", np.bool_(True)), ("np_c64", np.complex64(1j)),
            ("np_dt", np.datetime64("2020-01-01")),
            ("list", [1, [2.0, (3, "x")], []]), ("tuple", ()), ("empty_dict", {}),
        ]
    )  # fmt: skip
    obj["keys"] = {1: "int", "1": "str", 1.5: "float", None: "none", False: "bool"}
    out = _roundtrip(obj)
    assert_same(obj, out)
    assert [type(k) for k in out["keys"]] == [int, str, float, type(None), bool]
    assert type(out) is OrderedDict and type(out["keys"]) is dict


def test_compressed_files_round_trip_and_are_smaller(tmp_path):
    obj = {"zeros": np.zeros(100_000), "x": ARRAYS["f64"]}
    save(obj, tmp_path / "plain.npz")
    save(obj, tmp_path / "small.npz", compress=True)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 10
    assert_same(obj, load(tmp_path / "small.npz"))
    assert_same(obj, load(str(tmp_path / "plain.npz")))


def test_the_file_is_an_npz_that_numpy_reads(tmp_path):
    path = tmp_path / "ckpt"  # no suffix is added
    save({"w": np.arange(3.0), "step": 4}, path)
    assert os.listdir(tmp_path) == ["ckpt"]
    with np.load(path, allow_pickle=False) as npz:
        manifest = json.loads(npz[MANIFEST].tobytes())
        assert manifest["format"] == "chainrule.save" and manifest["version"] == 1
        assert np.array_equal(npz["a0"], np.arange(3.0))


def test_tensors_parameters_and_variables():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    y = x * 3  # not a leaf: saved as a leaf with requires_grad, as torch.save does
    obj = {
        "x": x, "again": x, "y": y, "f32": cr.tensor([1.5], dtype=np.float32),
        "i": cr.arange(4), "b": cr.tensor([True, False]), "z": cr.tensor(1 + 2j),
        "p": nn.Parameter(cr.ones(2, 3)), "frozen": nn.Parameter(cr.zeros(1), requires_grad=False),
        "v": cr.Variable(np.float32(2.5), name="scale"), "const": cr.Variable(1.0, trainable=False),
        "t_fortran": cr.tensor(np.asfortranarray(np.ones((2, 3)))),
    }  # fmt: skip
    out = _roundtrip(obj)
    assert_same(obj, out)
    assert out["x"] is out["again"] and out["x"] is not x and out["x"].grad is None
    assert out["y"].is_leaf and out["y"].requires_grad
    assert type(out["p"]) is nn.Parameter and type(out["v"]) is cr.Variable
    assert out["v"].name == "scale" and out["v"].trainable and not out["const"].trainable
    assert out["f32"].dtype == np.float32 and out["i"].dtype == np.int64
    (out["x"] ** 2).sum().backward()  # the loaded leaf works
    assert np.array_equal(out["x"].grad.detach().numpy(), [2.0, 4.0])


def test_shared_arrays_load_shared():
    a = np.arange(3.0)
    out = _roundtrip({"a": a, "b": [a, a]})
    assert out["a"] is out["b"][0] is out["b"][1]


def test_module_state_dict_round_trip(tmp_path):
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    path = tmp_path / "model.npz"
    cr.save(model.state_dict(), path)
    sd = cr.load(path)
    assert type(sd) is OrderedDict and list(sd) == list(model.state_dict())
    cr.manual_seed(2)
    other = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    other.load_state_dict(sd)
    for (k, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        assert _bits(p.detach().numpy()) == _bits(q.detach().numpy()), k


# -- resuming a training run bit for bit ----------------------------------------------------------


def _setup(opt_name: str, seed: int):
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    if opt_name == "adam":
        opt = optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-3)
    else:
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, sched


def _train(model, opt, sched, steps: int) -> list[float]:
    losses = []
    for _ in range(steps):
        x = cnp.random.standard_normal((16, 4))  # data from chainrule's generator
        y = np.sin(x.sum(axis=1, keepdims=True))
        opt.zero_grad()
        loss = ((model(cr.tensor(x)) - cr.tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
    return losses


@pytest.mark.parametrize("opt_name", ["adam", "sgd_momentum"])
def test_training_resumed_from_a_checkpoint_continues_bit_for_bit(tmp_path, opt_name):
    ref_model, ref_opt, ref_sched = _setup(opt_name, 0)
    straight = _train(ref_model, ref_opt, ref_sched, 10)

    model, opt, sched = _setup(opt_name, 0)
    first = _train(model, opt, sched, 5)
    path = tmp_path / "ckpt.npz"
    checkpoint = {"model": model.state_dict(), "opt": opt.state_dict(),
                  "sched": sched.state_dict(), "rng": cr.get_rng_state(), "step": 5}  # fmt: skip
    cr.save(checkpoint, path)
    assert_same(checkpoint["opt"], cr.load(path)["opt"])  # the optimizer state exactly

    # a new process would start from other values: a different seed, fresh objects
    model2, opt2, sched2 = _setup(opt_name, 12345)
    cnp.random.standard_normal(7)
    ck = cr.load(path)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    cr.set_rng_state(ck["rng"])
    assert ck["step"] == 5
    rest = _train(model2, opt2, sched2, 5)

    assert first + rest == straight  # the losses, bit for bit
    for (k, p), (_, q) in zip(ref_model.named_parameters(), model2.named_parameters()):
        assert _bits(p.detach().numpy()) == _bits(q.detach().numpy()), k
    assert_same(ref_opt.state_dict(), opt2.state_dict())
    assert ref_sched.get_last_lr() == sched2.get_last_lr()


def test_functional_optimizer_state_round_trips_as_its_namedtuples():
    params = {"w": np.array([1.0, -2.0]), "b": np.array(0.5)}
    opt = optim.adam(0.1)
    state = opt.init(params)
    grads = {"w": np.array([0.3, 0.1]), "b": np.array(-1.0)}
    updates, state = opt.update(grads, state, params)
    loaded = _roundtrip({"state": state})["state"]
    assert type(loaded[0]) is optim.ScaleByAdamState and type(loaded[1]) is optim.EmptyState
    assert_same(state, loaded)
    u1, s1 = opt.update(grads, state, params)
    u2, s2 = opt.update(grads, loaded, params)
    assert all(_bits(u1[k]) == _bits(u2[k]) for k in u1)


# -- random state -----------------------------------------------------------------------------


def test_generators_load_in_the_state_they_were_saved_in():
    gens = {
        "cr": cnp.random.default_rng(3),
        "np": np.random.default_rng(4),
        **{name: np.random.Generator(getattr(np.random, name)(5))
           for name in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")},
    }  # fmt: skip
    for g in gens.values():
        g.standard_normal(3)  # mid-stream
    gens["np"].random(dtype=np.float32)  # a buffered half-word (PCG64's has_uint32)
    out = _roundtrip({"g": gens, "bg": gens["np"].bit_generator, "ss": np.random.SeedSequence(9)})
    assert type(out["g"]["cr"]) is cnp.random.Generator
    for name, g in gens.items():
        h = out["g"][name]
        assert type(h.bit_generator) is type(g.bit_generator), name
        assert np.array_equal(h.random(5), g.random(5)), name
        assert h.integers(0, 2**62, dtype=np.int64) == g.integers(0, 2**62, dtype=np.int64)
    # seed sequences too: the children are the same
    kids = [c.generate_state(2) for c in np.random.SeedSequence(9).spawn(2)]
    assert all(np.array_equal(a, c.generate_state(2)) for a, c in zip(kids, out["ss"].spawn(2)))
    child = gens["np"].bit_generator.seed_seq.spawn(1)[0]
    twin = _roundtrip(gens["np"])  # n_children_spawned is kept: the next child is the same
    assert np.array_equal(twin.bit_generator.seed_seq.spawn(1)[0].generate_state(4),
                          gens["np"].bit_generator.seed_seq.spawn(1)[0].generate_state(4))
    assert not np.array_equal(child.generate_state(4),
                              twin.bit_generator.seed_seq.spawn(1)[0].generate_state(4))


def test_rng_state_functions():
    cr.manual_seed(11)
    state = cr.get_rng_state()
    assert state["bit_generator"] == "PCG64" and isinstance(state["state"]["state"], int)
    a = cnp.random.random(4)
    state2 = _roundtrip(state)
    assert state2 == state
    cr.set_rng_state(state2)
    assert np.array_equal(cnp.random.random(4), a)
    box = cnp.random.DEFAULT
    mt = np.random.Generator(np.random.MT19937(1))
    cr.set_rng_state(mt.bit_generator.state)  # another bit generator: the box stays
    assert cnp.random.DEFAULT is box and type(box.gen.bit_generator) is np.random.MT19937
    assert cnp.random.random() == np.random.Generator(np.random.MT19937(1)).random()
    cr.set_rng_state(_roundtrip(cnp.random.default_rng(5)))  # a loaded generator
    assert cnp.random.random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match="give a state dict"):
        cr.set_rng_state(5)
    with pytest.raises(ValueError, match="bit generator 'os.system'"):
        cr.set_rng_state({"bit_generator": "os.system", "state": {}})
    with pytest.raises(ValueError, match="NumPy refuses"):
        cr.set_rng_state({"bit_generator": "PCG64", "state": {"state": "x"}})


# -- manual_seed --------------------------------------------------------------------------------


def _training_run(seed: int) -> list[np.ndarray]:
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        x = cnp.random.uniform(-1, 1, size=(8, 3))
        opt.zero_grad()
        ((model(cr.tensor(x)) - cr.tensor(x[:, :1] ** 2)) ** 2).mean().backward()
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


def test_manual_seed_makes_a_training_run_reproducible():
    a, b, c = _training_run(0), _training_run(0), _training_run(1)
    assert all(_bits(x) == _bits(y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c))


def test_manual_seed_returns_the_default_generator():
    g = cr.manual_seed(3)
    assert g is cnp.random.DEFAULT and isinstance(g, cnp.random.Generator)
    assert g.random() == np.random.default_rng(3).random()
    legacy = np.random.get_state()[1].copy()
    cr.manual_seed(4)
    assert np.array_equal(np.random.get_state()[1], legacy)  # NumPy's global state untouched
    f = cr.jit(lambda x: x + cnp.random.random())
    cr.manual_seed(5)
    assert f(0.0) == np.random.default_rng(5).random()  # compiled programs see the reseed
    cr.manual_seed(np.int64(5))
    for bad, err in ((1.5, TypeError), (True, TypeError), ("1", TypeError), (-1, ValueError)):
        with pytest.raises(err, match="manual_seed: the seed must be"):
            cr.manual_seed(bad)


@pytest.fixture
def fake_group(monkeypatch):
    """A process of an MPI job of 4 as the launcher starts it (PMI_RANK; no MPI needed), with
    no process group of an earlier test in this process."""
    import chainrule.distributed.comm as comm

    monkeypatch.setattr(comm, "_comm", None)
    state = {"rank": 0}

    def rank(r):
        state["rank"] = r
        monkeypatch.setenv("PMI_RANK", str(r))

    state["set"] = rank
    return state


def test_manual_seed_gives_each_mpi_process_its_own_stream(fake_group):
    draws = []
    for r in range(4):
        fake_group["set"](r)
        cr.manual_seed(42)
        draws.append(cnp.random.random(3))
    # rank 0: the single-process stream; rank r: the r-th child of SeedSequence(42)
    assert np.array_equal(draws[0], np.random.default_rng(42).random(3))
    for r in range(1, 4):
        ss = np.random.SeedSequence(42).spawn(4)[r]
        assert np.array_equal(draws[r], np.random.default_rng(ss).random(3))
    assert len({d.tobytes() for d in draws}) == 4
    fake_group["set"](3)
    cr.manual_seed(42, per_process=False)  # the same stream everywhere, on request
    assert np.array_equal(cnp.random.random(3), draws[0])


def test_manual_seed_imports_no_mpi():
    code = ("import sys, chainrule as cr; cr.manual_seed(0); "
            "print('chainrule.distributed' in sys.modules, 'mpi4py' in sys.modules)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "OMPI_"))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)  # fmt: skip
    assert out.stdout.split() == ["False", "False"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**env, "PMI_RANK": "1"})  # fmt: skip
    assert out.stdout.split() == ["True", "False"]  # the rank read, MPI not started


def test_import_chainrule_stays_light():
    code = ("import sys, chainrule as cr; print('chainrule.io' in sys.modules, "
            "'chainrule.progress' in sys.modules, 'json' in sys.modules); "
            "print(cr.save.__module__, cr.load.__module__, cr.manual_seed.__module__)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"] * 3 + ["chainrule.io"] * 3


# -- safety: crafted files --------------------------------------------------------------------

RAN = []


def _ran(*args):  # what a malicious pickle would call
    RAN.append(args)
    return "pwned"


class _Evil:
    def __reduce__(self):
        return (_ran, ("unpickled",))


def _crafted(tmp_path, tree, arrays=(), name="crafted.npz", manifest=None):
    m = manifest if manifest is not None else {
        "format": "chainrule.save", "version": 1, "arrays": len(arrays), "tree": tree}
    members = {MANIFEST: np.frombuffer(json.dumps(m).encode(), np.uint8)}
    members.update({f"a{k}": a for k, a in enumerate(arrays)})
    path = tmp_path / name
    np.savez(path, **members)  # NumPy pickles object arrays here
    return path


def test_a_pickled_object_array_is_refused_and_nothing_runs(tmp_path):
    RAN.clear()
    evil = np.array([_Evil()], dtype=object)
    path = _crafted(tmp_path, {"t": "dict", "items": [[{"t": "str", "v": "w"},
                                                        {"t": "array", "a": 0}]]}, [evil])
    with pytest.raises(ValueError, match=r"obj\['w'\]: the member a0.npy holds pickled Python "
                                         r"objects, which load refuses"):
        load(path)
    with pytest.raises(ValueError):  # the manifest itself as an object array
        np.savez(tmp_path / "m.npz", **{MANIFEST: np.array([_Evil()], dtype=object)})
        load(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="not a file chainrule.save wrote"):  # a plain pickle
        (tmp_path / "p.pt").write_bytes(pickle.dumps({"w": _Evil()}))
        load(tmp_path / "p.pt")
    assert RAN == []


def test_a_manifest_naming_a_class_or_module_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    RAN.clear()

    class Trap(tuple):  # a "NamedTuple" whose construction would run code
        _fields = ("cmd",)

        @classmethod
        def _make(cls, values):
            return _ran("constructed", values)

    mod = types.ModuleType("trapmod")
    mod.Trap = Trap
    mod.system = _ran
    monkeypatch.setitem(sys.modules, "trapmod", mod)
    s = {"t": "str", "v": "echo hi"}
    crafted = {
        "object": {"t": "object", "module": "trapmod", "class": "system", "args": [s]},
        "reduce": {"t": "pickle", "data": "gASV"},
        "namedtuple": {"t": "namedtuple", "name": "trapmod:Trap", "fields": ["cmd"],
                       "items": [s]},
        "module_nt": {"t": "namedtuple", "name": "os:system", "fields": ["cmd"], "items": [s]},
        "bitgen": {"t": "generator", "obj": 0, "kind": "numpy", "bit_generator": "trapmod.system",
                   "state": s, "seed_seq": None},
        "kind": {"t": "generator", "obj": 0, "kind": "trapmod", "bit_generator": "PCG64",
                 "state": s, "seed_seq": None},
    }  # fmt: skip
    messages = {
        "object": "unknown node type 'object'", "reduce": "unknown node type 'pickle'",
        "namedtuple": "NamedTuple 'trapmod:Trap': no class is registered under that name",
        "module_nt": "NamedTuple 'os:system'", "bitgen": "unknown bit generator",
        "kind": "a generator of kind 'trapmod'",
    }  # fmt: skip
    for key, node in crafted.items():
        path = _crafted(tmp_path, {"t": "list", "items": [node]}, name=f"{key}.npz")
        with pytest.raises(ValueError, match=messages[key]) as info:
            load(path)
        assert "obj[0]" in str(info.value) and str(path) in str(info.value), key
    assert RAN == []


def test_namedtuples_load_only_as_registered_classes(tmp_path):
    class Point(NamedTuple):
        x: float
        y: float

    path = tmp_path / "p.npz"
    save({"p": Point(1.0, 2.0)}, path)
    with pytest.raises(ValueError, match=r"obj\['p'\] is the NamedTuple '.*Point'.*"
                                         "register_namedtuple"):
        load(path)
    register_namedtuple(Point)
    assert load(path)["p"] == Point(1.0, 2.0) and type(load(path)["p"]) is Point

    class Point3(NamedTuple):
        x: float
        y: float
        z: float

    register_namedtuple(Point3, name="shapes:Point")  # another class under a name ...
    save(Point3(1.0, 2.0, 3.0), path)
    with open(path, "rb") as f:
        assert b"shapes:Point" in f.read()
    assert load(path) == Point3(1.0, 2.0, 3.0)
    register_namedtuple(Point, name="shapes:Point")  # ... replaced by one with other fields
    with pytest.raises(ValueError, match=r"has the fields \['x', 'y'\], the file has "
                                         r"\['x', 'y', 'z'\]"):
        load(path)
    with pytest.raises(TypeError, match="not a NamedTuple class"):
        register_namedtuple(tuple)


@pytest.mark.parametrize("damage", ["truncated", "bad_json", "not_chainrule", "newer",
                                    "no_manifest", "npy", "missing_member", "bad_ref",
                                    "bad_float", "empty"])  # fmt: skip
def test_damaged_or_foreign_files_are_clear_value_errors(tmp_path, damage):
    path = tmp_path / "f.npz"
    good = {"t": "list", "items": [{"t": "array", "a": 0}]}
    messages = {
        "truncated": "not a file chainrule.save wrote, or it is damaged",
        "bad_json": "the manifest cannot be read", "not_chainrule": "not chainrule's",
        "newer": "written by a newer chainrule", "no_manifest": "has no chainrule manifest",
        "npy": "a single .npy array", "missing_member": r"obj\[0\]: the member a0.npy is missing",
        "bad_ref": "a reference to an unknown object", "bad_float": "a float is written",
        "empty": "not a file chainrule.save wrote",
    }  # fmt: skip
    if damage == "truncated":
        save({"x": np.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "bad_json":
        np.savez(path, **{MANIFEST: np.frombuffer(b"{not json", np.uint8)})
    elif damage == "not_chainrule":
        _crafted(tmp_path, good, [np.zeros(1)], "f.npz", {"format": "other", "tree": good})
    elif damage == "newer":
        _crafted(tmp_path, good, [np.zeros(1)], "f.npz",
                 {"format": "chainrule.save", "version": 99, "arrays": 1, "tree": good})
    elif damage == "no_manifest":
        np.savez(path, x=np.zeros(1))
    elif damage == "npy":
        np.save(tmp_path / "f.npy", np.zeros(1))
        path = tmp_path / "f.npy"
    elif damage == "missing_member":
        _crafted(tmp_path, good, [], "f.npz",
                 {"format": "chainrule.save", "version": 1, "arrays": 1, "tree": good})
    elif damage == "bad_ref":
        _crafted(tmp_path, {"t": "ref", "obj": 3})
        path = tmp_path / "crafted.npz"
    elif damage == "bad_float":
        path = _crafted(tmp_path, {"t": "float", "v": "__import__('os')"})
    elif damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(ValueError, match=messages[damage]) as info:
        load(path)
    assert repr(str(path)) in str(info.value)


# -- errors on bad input ------------------------------------------------------------------------


def test_unsaveable_values_are_type_errors_naming_the_key():
    model = nn.Linear(2, 1)
    cases = [
        ({"opt": [0, 1, 2, lambda: 0]}, r"obj\['opt'\]\[3\]: a builtins.function"),
        ({"m": model}, r"obj\['m'\]: a chainrule.nn.modules.Linear.*save x.state_dict\(\)"),
        ({"a": [np.array([object()])]}, r"obj\['a'\]\[0\]: an array of dtype object"),
        ({(1, 2): 0}, r"cannot save obj: a key of type tuple \(\(1, 2\)\)"),
        ({"s": {1, 2}}, r"obj\['s'\]: a builtins.set \(save sorted\(x\)"),
        ({"b": b"raw"}, r"obj\['b'\]: a builtins.bytes"),
        ({"d": types.SimpleNamespace()}, r"obj\['d'\]: a types.SimpleNamespace"),
        ({"m": np.ma.array([1.0])}, r"obj\['m'\]: a numpy.ma.MaskedArray \(an ndarray subclass"),
    ]
    for obj, pattern in cases:
        with pytest.raises(TypeError, match=pattern) as info:
            save(obj, io.BytesIO())
        text = str(info.value)
        assert "_Saver" not in text and "_Corrupt" not in text and "chainrule.io" not in text

    class MyTensor(cr.Tensor):
        __slots__ = ()

    with pytest.raises(TypeError, match=r"obj\[0\]: a .*MyTensor \(a Tensor subclass"):
        save([MyTensor([1.0])], io.BytesIO())
    cyc: list = []
    cyc.append({"again": cyc})
    with pytest.raises(ValueError, match=r"obj\[0\]\['again'\] contains itself"):
        save(cyc, io.BytesIO())

    def inside(x):
        save({"x": x}, io.BytesIO())
        return x

    with pytest.raises(TypeError, match=r"obj\['x'\]: a traced value"):
        cr.grad(inside)(1.0)


def test_path_errors_name_the_path(tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "ckpt.npz"
    with pytest.raises(FileNotFoundError, match=f"cannot write '{missing}'.*does not exist"):
        save({}, missing)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        save({}, tmp_path)
    with pytest.raises(FileNotFoundError, match=f"no such file '{tmp_path / 'nope.npz'}'"):
        load(tmp_path / "nope.npz")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load(tmp_path)
    with pytest.raises(TypeError, match="path must be a file name"):
        save({}, 3)
    with pytest.raises(TypeError, match="path must be a file name"):
        load(None)


def test_an_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"v": 1}, path)
    with pytest.raises(TypeError):
        save({"v": 2, "bad": object()}, path)  # refused before writing
    assert load(path) == {"v": 1}

    def broken(f, **members):
        f.write(b"PK partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        save({"v": 3}, path)
    monkeypatch.undo()
    assert load(path) == {"v": 1} and os.listdir(tmp_path) == ["ckpt.npz"]
    save({"v": 4}, path)  # replaced whole
    assert load(path) == {"v": 4}


# -- nothing the user passed is mutated ----------------------------------------------------------


def test_save_and_load_mutate_nothing(tmp_path):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    arr = np.arange(6.0).reshape(2, 3).T
    arr_ro = np.arange(3.0)
    arr_ro.flags.writeable = False
    gen = cnp.random.default_rng(1)
    obj = {"x": x, "arr": arr, "ro": arr_ro, "gen": gen, "list": [1, 2],
           "od": OrderedDict(b=1, a=2)}  # fmt: skip
    before = (x.grad.detach().numpy().copy(), x._ver[0], arr.copy(), arr.strides,
              gen.gen.bit_generator.state)  # fmt: skip
    snapshot = copy.deepcopy({k: v for k, v in obj.items() if k not in ("x", "gen")})
    path = tmp_path / "c.npz"
    save(obj, path)
    assert np.array_equal(x.grad.detach().numpy(), before[0]) and x._ver[0] == before[1]
    assert x.is_leaf
    assert x.requires_grad and arr.strides == before[3] and not arr_ro.flags.writeable
    assert gen.gen.bit_generator.state == before[4]  # saving does not draw
    assert_same(snapshot, {k: v for k, v in obj.items() if k not in ("x", "gen")})
    one, two = load(path), load(path)  # each load is new: changing one changes no other
    one["arr"][0, 0] = 99.0
    one["x"].data = cr.tensor([5.0, 5.0])
    one["list"].append(3)
    assert two["arr"][0, 0] == 0.0 and np.array_equal(two["x"].detach().numpy(), [1.0, 2.0])
    assert two["list"] == [1, 2] and arr[0, 0] == 0.0
    with open(path, "rb") as f:
        stamp = f.read()
    load(path)
    with open(path, "rb") as f:
        assert f.read() == stamp


# -- pickle and deepcopy of Tensors (PyTorch's rules) -------------------------------------------


@pytest.mark.parametrize("value", [
    np.array([1.0, -0.0, np.nan]), np.float32([1.5]), np.array(3.0), np.zeros((0, 2)),
    np.array([1 + 2j], np.complex64), np.array([True]), np.arange(3), np.arange(4, dtype=">f8"),
    np.asfortranarray(np.ones((2, 3))),
], ids=["f64", "f32", "0d", "empty", "c64", "bool", "int", "big_endian", "fortran"])  # fmt: skip
def test_tensors_pickle_with_value_dtype_and_requires_grad(value):
    rg = value.dtype.kind in "fc"
    t = cr.tensor(value, requires_grad=rg)
    for out in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t),
                pickle.loads(pickle.dumps(t, protocol=2))):  # fmt: skip
        assert type(out) is cr.Tensor and out is not t and out.is_leaf
        assert out.requires_grad == rg and out.dtype == t.dtype and out.shape == t.shape
        assert _bits(out.detach().numpy()) == _bits(t.detach().numpy())


def test_pickle_and_deepcopy_follow_pytorch_on_grads_and_graphs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    p = pickle.loads(pickle.dumps(x))
    assert p.grad is None  # pickle drops .grad, as torch's
    d = copy.deepcopy(x)  # deepcopy keeps it
    assert np.array_equal(d.grad.detach().numpy(), [2.0, 2.0]) and d.grad is not x.grad
    d.grad.data = cr.tensor([0.0, 0.0])
    assert np.array_equal(x.grad.detach().numpy(), [2.0, 2.0])
    q = pickle.loads(pickle.dumps(y))  # a non-leaf pickles as a leaf that requires grad
    assert q.is_leaf and q.requires_grad and q.grad_fn is None
    assert np.array_equal(q.detach().numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(y)
    both = copy.deepcopy({"a": x, "b": [x]})
    assert both["a"] is both["b"][0]
    (d * d).sum().backward()  # the copy is a working leaf of its own
    assert np.array_equal(d.grad.detach().numpy(), [2.0, 4.0])  # 0 + 2d
    assert np.array_equal(x.grad.detach().numpy(), [2.0, 2.0])
    c = copy.copy(x)
    assert c.is_leaf and c.requires_grad and c.grad is None


def test_pickled_subclasses_and_modules():
    v = cr.Variable(np.float32(2.0), name="v")
    w = pickle.loads(pickle.dumps(v))
    assert type(w) is cr.Variable and w.name == "v" and w.trainable and w.dtype == np.float32
    p = pickle.loads(pickle.dumps(nn.Parameter(cr.ones(2))))
    assert type(p) is nn.Parameter and p.requires_grad
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    clone = pickle.loads(pickle.dumps(model))
    x = cr.tensor(np.ones((4, 2)))
    assert np.array_equal(model(x).detach().numpy(), clone(x).detach().numpy())
    assert all(q.requires_grad and q.is_leaf for q in clone.parameters())


def test_non_leaf_pickle_matches_torch():
    torch = pytest.importorskip("torch")
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    theirs = pickle.loads(pickle.dumps(a * 2))
    ours = pickle.loads(pickle.dumps(cr.tensor([1.0, 2.0], requires_grad=True) * 2))
    assert (theirs.is_leaf, theirs.requires_grad) == (ours.is_leaf, ours.requires_grad)
    with pytest.raises(RuntimeError, match="Only Tensors created explicitly by the user"):
        copy.deepcopy(a * 2)
    a.grad = torch.ones(2)
    assert pickle.loads(pickle.dumps(a)).grad is None and copy.deepcopy(a).grad is not None


def test_zipfile_members_are_npy(tmp_path):
    path = tmp_path / "c.npz"
    save({"a": np.ones(2), "t": cr.ones(3)}, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == [f"{MANIFEST}.npy", "a0.npy", "a1.npy"]


# -- under mpiexec (CHAINRULE_MPI_TESTS=1, as tests/test_distributed.py's; no xdist) -------------

MPI_SCRIPT = '''
import json, sys
import numpy as np
import chainrule as cr, chainrule.numpy as cnp
import chainrule.distributed as dist
from chainrule import nn

dist.init()
cr.manual_seed(7)
draw = cnp.random.random(3)
weight = dist.broadcast({"w": nn.Linear(3, 2).weight.detach().numpy()})["w"]
r, n = dist.rank(), dist.size()
child = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(r,))).random(3)
json.dump({"rank": r, "size": n, "draw": draw.tolist(), "child": child.tolist(),
           "weight": weight.tolist()}, open(f"{sys.argv[1]}/rank{r}.json", "w"))
'''


@pytest.mark.mpi
@pytest.mark.skipif(os.environ.get("CHAINRULE_MPI_TESTS", "") not in ("1", "true", "yes"),
                    reason="launches mpiexec: set CHAINRULE_MPI_TESTS=1 (make test-mpi)")
def test_manual_seed_under_mpiexec(tmp_path):
    pytest.importorskip("mpi4py", reason="CHAINRULE_MPI_TESTS=1 needs the [mpi] extra")
    from chainrule.distributed import launch

    if launch.mpiexec_path() is None:
        pytest.fail("mpiexec not found: pip install mpich (the [mpi] extra)")
    script = tmp_path / "seed.py"
    script.write_text(MPI_SCRIPT)
    try:
        res = launch.run([str(script), str(tmp_path)], n=2, timeout=45)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"the seeding script hung: killed after 45 s\n{err.output}")
    assert res.returncode == 0, res.stdout
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["draw"] == np.random.default_rng(7).random(3).tolist()  # one process's
    assert ranks[1]["draw"] == ranks[1]["child"] != ranks[0]["draw"]  # its own stream
    cr.manual_seed(7, per_process=False)
    cnp.random.random(3)
    single = nn.Linear(3, 2).weight.detach().numpy().tolist()
    assert ranks[0]["weight"] == ranks[1]["weight"] == single  # broadcast: one process's init
