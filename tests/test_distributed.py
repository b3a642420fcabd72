"""chainrule.distributed.

In this process (a group of one, no mpiexec): `import chainrule` leaves mpi4py alone; init,
rank, size, barrier, all_reduce, broadcast, shard, DataParallel and the WORLD collectives
work trivially; the bucket plan; the deadline of a collective and the abort hook (with fake
MPI objects); DataParallel's hook machinery against a fake two-process communicator.

Under mpiexec (``@pytest.mark.mpi``, skipped unless CHAINRULE_MPI_TESTS=1: ``make test-mpi``
runs them, without xdist): the scripts of tests/mpi on two processes over loopback, each
under a hard timeout that kills the whole process group.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import buckets, comm as dcomm, launch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@pytest.fixture
def local_group(monkeypatch):
    """A fresh group of one without MPI (mpi4py made unimportable); monkeypatch restores the
    process group afterwards."""
    monkeypatch.setattr(dcomm, "_comm", None)
    monkeypatch.setattr(dcomm, "_import_mpi", lambda: None)
    for v in dcomm._SIZE_VARS + dcomm._LAUNCHER_VARS:
        monkeypatch.delenv(v, raising=False)


# --- import chainrule never initialises MPI ----------------------------------------------------


def test_import_chainrule_does_not_import_mpi4py():
    # what library code (random seeding) may ask at any time starts nothing either
    code = ("import sys, chainrule as cr, chainrule.distributed as dist\n"
            "flags = (dist.is_initialized(), dist.process_index())\n"
            "cr.manual_seed(0); cr.rand(2)\n"
            "print(sorted(m for m in sys.modules if m.startswith('mpi4py')), *flags)")  # fmt: skip
    env = {k: v for k, v in os.environ.items()
           if k not in dcomm._SIZE_VARS + dcomm._LAUNCHER_VARS}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**env, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.stdout.split() == ["[]", "False", "0"], out.stdout + out.stderr


def test_process_index_without_starting_mpi(local_group, monkeypatch):
    assert dist.process_index() == 0 and not dist.is_initialized()
    monkeypatch.setenv("PMI_RANK", "3")  # what mpiexec tells the 4th process it starts
    assert dist.process_index() == 3
    monkeypatch.delenv("PMI_RANK")
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")  # Open MPI's mpirun
    assert dist.process_index() == 1 and not dist.is_initialized()
    monkeypatch.delenv("OMPI_COMM_WORLD_RANK")
    dist.init()
    assert dist.is_initialized() and dist.process_index() == dist.rank() == 0


# --- a group of one ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["mpi4py", "no mpi4py"])
def test_single_process(backend, request):
    if backend == "mpi4py":
        pytest.importorskip("mpi4py")
    else:
        request.getfixturevalue("local_group")
    dist.init()
    assert dist.is_initialized() and dist.rank() == 0 and dist.size() == 1
    expected = "MPICommunicator" if backend == "mpi4py" else "SelfCommunicator"
    assert type(dist.communicator()).__name__ == expected
    dist.barrier()
    tree = {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(2, np.float32), "n": 3,
            "t": cr.tensor([1.0, 2.0])}  # fmt: skip
    for op in ("mean", "sum", "max", "min"):
        got = dist.all_reduce(tree, op)
        np.testing.assert_array_equal(got["w"], tree["w"])
        assert got["b"].dtype == np.float32 and isinstance(got["t"], cr.Tensor)
        assert got["w"] is not tree["w"]
    assert dist.all_reduce({"n": 3})["n"] == 3.0  # a mean of integers is float64
    got = dist.broadcast(tree)
    np.testing.assert_array_equal(got["w"], tree["w"])
    with pytest.raises(ValueError, match="root 1"):
        dist.broadcast(tree, root=1)
    with pytest.raises(ValueError, match="unknown op"):
        dist.all_reduce(tree, "median")
    x = np.arange(5.0)
    assert cr.psum(x, dist.WORLD) is x or np.array_equal(cr.psum(x, dist.WORLD), x)
    np.testing.assert_array_equal(cr.pmean(x, dist.WORLD), x)
    np.testing.assert_array_equal(cr.all_gather(x, dist.WORLD), x[None])
    assert cr.axis_index(dist.WORLD) == 0
    f = lambda w: cr.psum(cr.numpy.sum(w**2), dist.WORLD)  # noqa: E731
    np.testing.assert_array_equal(cr.grad(f)(x), 2 * x)
    np.testing.assert_array_equal(cr.jit(cr.grad(f))(x), 2 * x)
    np.testing.assert_array_equal(dist.shard(x), x)


def test_launched_without_mpi4py_is_an_error(local_group, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(ImportError, match=r"chainrule\[mpi\]"):
        dist.init()
    monkeypatch.setenv("PMI_SIZE", "1")  # mpiexec -n 1: a group of one is right
    dist.init()
    assert dist.size() == 1


def test_shared_memory_settings(monkeypatch):
    from chainrule.distributed import shm

    monkeypatch.delenv("CHAINRULE_DIST_SHM", raising=False)
    monkeypatch.delenv("CHAINRULE_DIST_SHM_MB", raising=False)
    assert shm.enabled() and shm.window_bytes() == 16 * 2**20
    monkeypatch.setenv("CHAINRULE_DIST_SHM", "0")
    monkeypatch.setenv("CHAINRULE_DIST_SHM_MB", "0.5")
    assert not shm.enabled() and shm.window_bytes() == 2**19
    monkeypatch.setenv("CHAINRULE_DIST_SHM_MB", "-1")
    with pytest.raises(ValueError, match="positive"):
        shm.window_bytes()
    c = dcomm.MPICommunicator(_FakeMPIComm(), _FakeMPI)  # off: no window is made
    assert c.enable_shared_memory() is False and c.shared is None


def test_timeout_settings(monkeypatch):
    monkeypatch.setattr(dcomm, "_timeout", None)
    monkeypatch.setenv("CHAINRULE_DIST_TIMEOUT", "7.5")
    assert dist.default_timeout() == 7.5
    monkeypatch.delenv("CHAINRULE_DIST_TIMEOUT")
    assert dist.default_timeout() == dcomm.DEFAULT_TIMEOUT == 60
    with pytest.raises(ValueError, match="positive"):
        dist.set_timeout(0)


def test_shard():
    x = np.arange(14).reshape(7, 2)
    parts = [dist.shard(x, rank=k, size=3) for k in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    assert [len(p) for p in parts] == [3, 2, 2]
    assert np.shares_memory(parts[1], x)  # views
    cols = dist.shard({"a": x, "b": [x]}, axis=-1, rank=1, size=2)
    np.testing.assert_array_equal(cols["b"][0], x[:, 1:])
    t = cr.tensor(np.arange(4.0), requires_grad=True)
    (dist.shard(t, rank=1, size=2) ** 2).sum().backward()  # Tensors stay differentiable
    np.testing.assert_array_equal(t.grad.numpy(), [0, 0, 4, 6])
    with pytest.raises(ValueError, match="scalar"):
        dist.shard(np.float64(1.0), rank=0, size=2)
    with pytest.raises(ValueError, match="rank 2"):
        dist.shard(x, rank=2, size=2)


def test_world_repr_and_pickle():
    import pickle

    assert repr(dist.WORLD) == "chainrule.distributed.WORLD"
    assert pickle.loads(pickle.dumps(dist.WORLD)) is dist.WORLD
    assert "axis_name=chainrule.distributed.WORLD" in str(
        cr.make_graph(lambda x: cr.psum(x, dist.WORLD))(1.0))


def _doc_snippets() -> list[str]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("mpi_docs", HERE / "mpi" / "mpi_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.snippets()


def test_doc_snippets_run_in_one_process(capsys):
    """docs/distributed.md's snippets are complete scripts (under mpiexec: test_mpi_docs)."""
    codes = _doc_snippets()
    assert len(codes) >= 3
    for k, code in enumerate(codes):
        exec(compile(code, f"docs/distributed.md:snippet {k}", "exec"), {"__name__": "__main__"})
    assert "1 process(es), 1 bucket(s)" in capsys.readouterr().out


def test_d1_benchmark_summary():
    from benchmarks import d1

    run = d1.parse("step  1: 5 ms\nD1 " + json.dumps(
        {"step_ms": 6.0, "allreduce_ms": 0.7, "allreduce_share": 0.12, "max_rel_diff": 2e-7}))
    s = d1.summarize([run, {**run, "allreduce_share": 0.2}, run])
    assert s["allreduce_share"] == 0.12 and s["share_status"] == "MET"
    assert d1.summarize([{**run, "allreduce_share": 0.16}])["share_status"] == "MISSED"
    assert d1.summarize([run, {**run, "max_rel_diff": 2e-6}])["param_status"] == "MISSED"
    with pytest.raises(ValueError, match="no 'D1"):
        d1.parse("crashed")


# --- buckets -------------------------------------------------------------------------------------


def test_bucket_plan():
    f32 = [np.zeros(k + 1, np.float32) for k in range(10)]  # 4..40 bytes
    f64 = [np.zeros(3), np.zeros(50)]
    arrays = [f32[0], f64[0], *f32[1:], f64[1]]
    plan = buckets.plan_buckets(arrays, 64)
    assert [b.dtype for b in plan][:1] == [np.float32]  # dtypes in order of appearance
    for b in plan:
        assert len({arrays[i].dtype for i in b.leaves}) == 1
        assert b.count * b.dtype.itemsize <= 64 or len(b.leaves) == 1
    assert sorted(i for b in plan for i in b.leaves) == list(range(len(arrays)))
    assert [b.leaves for b in plan if b.dtype == np.float64] == [[1], [11]]  # 400 B: alone
    assert len(buckets.plan_buckets(arrays, 25 * 2**20)) == 2  # one per dtype
    with pytest.raises(ValueError, match="positive"):
        buckets.bucket_bytes(0)


def test_wire_dtypes():
    assert buckets.wire_dtype(np.dtype(np.float16), "sum") == np.float32
    assert buckets.wire_dtype(np.dtype(bool), "sum") == np.int64
    assert buckets.wire_dtype(np.dtype(bool), "max") == np.uint8
    with pytest.raises(TypeError, match="dtype"):
        buckets.wire_dtype(np.dtype("U3"), "sum")


class FakePair(dcomm.Communicator):
    """Rank 0 of a pair whose partner holds the same values (so a sum doubles), counting
    messages like the real layer; `partner_tag` simulates a partner reducing another bucket."""

    rank, size = 0, 2

    def __init__(self, partner_tag=None):
        super().__init__()
        self.partner_tag = partner_tag

    def allreduce(self, buf, op="sum", what="all_reduce", timeout=None):
        self.calls["allreduce"] += 1
        if op == "sum":
            other = buf.copy()
            if self.partner_tag is not None:
                other[-2:] = (self.partner_tag, self.partner_tag**2)
            buf += other
        return buf

    def bcast(self, buf, root=0, what="broadcast", timeout=None):
        self.calls["bcast"] += 1
        return buf


def test_buffers_are_reused_and_results_are_fresh():
    """MPI moves a buffer it has seen far faster than fresh memory: the collectives send from
    the communicator's reusable buffers, and no result aliases one."""
    fake = FakePair()
    arrays = [np.arange(6.0).reshape(2, 3), np.ones(4, np.float32), np.arange(3.0)]
    first = buckets.reduce_buckets(fake, arrays, "sum", True, 2**20, "all_reduce")
    pool = list(fake._pool.values())
    assert len(pool) == 2  # one per dtype's bucket
    second = buckets.reduce_buckets(fake, arrays, "sum", False, 2**20, "all_reduce")
    assert [id(b) for b in fake._pool.values()] == [id(b) for b in pool]  # the same buffers
    for a, x, y in zip(arrays, first, second):
        np.testing.assert_array_equal(x, a)  # the mean of two equal halves
        np.testing.assert_array_equal(y, 2 * a)  # not overwritten by the second call
        assert x.dtype == a.dtype and not any(np.shares_memory(x, b) for b in pool)
    out = buckets.broadcast_buckets(fake, arrays, 0, 2**20, "broadcast")
    assert not any(np.shares_memory(o, b) for o in out for b in fake._pool.values())


def test_buffer_pool_is_bounded(monkeypatch):
    monkeypatch.setattr(dcomm, "_POOL_BYTES", 1000)
    c = dcomm.SelfCommunicator()
    a = c.scratch(np.float64, 100)  # 800 bytes: kept
    assert c.scratch(np.float64, 100) is a
    c.scratch(np.float32, 100)  # 400 more: the least recently used goes
    assert c._pool_bytes <= 1000 and c.scratch(np.float64, 100) is not a
    assert c.scratch(np.uint8, 5000) is not c.scratch(np.uint8, 5000)  # too large to keep


def test_world_collectives_give_fresh_arrays(monkeypatch):
    fake = FakePair()
    monkeypatch.setattr(dcomm, "_comm", fake)
    x = np.arange(3.0)
    a = cr.psum(x, dist.WORLD)
    b = cr.psum(2 * x, dist.WORLD)
    np.testing.assert_array_equal(a, 2 * x)  # the pair's sum, not overwritten by b
    np.testing.assert_array_equal(b, 4 * x)
    assert cr.psum(np.float32(1.5), dist.WORLD) == 3.0
    assert fake.calls["allreduce"] == 3


def test_reduce_counts_one_message_per_bucket():
    fake = FakePair()
    arrays = ([np.full((3, 4), k, np.float32) for k in range(30)]
              + [np.full(5, k, np.float64) for k in range(20)] + [np.arange(3, dtype=np.int32)])
    plan = buckets.plan_buckets(arrays, 200)
    out = buckets.reduce_buckets(fake, arrays, "sum", True, 200, "all_reduce")
    assert fake.calls["allreduce"] == len(plan) > 3
    for a, o in zip(arrays, out):
        np.testing.assert_array_equal(o, a)
        assert o.dtype == (np.float64 if a.dtype == np.int32 else a.dtype)
    with pytest.raises(RuntimeError, match="reduced different buckets"):
        buckets.reduce_buckets(FakePair(partner_tag=7), arrays, "sum", False, 200, "all_reduce")


# --- the deadline and the abort hook, with fake MPI objects ---------------------------------------


class _NeverDone:
    def Test(self):
        return False


class _FakeMPIComm:
    def __init__(self):
        self.aborted = None

    def Get_rank(self):
        return 1

    def Get_size(self):
        return 2

    def Iallreduce(self, *args):
        return _NeverDone()

    def Abort(self, code):
        self.aborted = code


class _FakeMPI:
    IN_PLACE = SUM = MAX = MIN = PROD = object()


def test_a_collective_that_never_completes_times_out():
    c = dcomm.MPICommunicator(_FakeMPIComm(), _FakeMPI)
    start = time.perf_counter()
    with pytest.raises(dist.CollectiveTimeout, match=r"all_reduce \(bucket 1 of 1.* within "
                                                      r"0\.05 s on rank 1 of 2") as err:
        buckets.reduce_buckets(c, [np.ones(3)], "sum", True, 100, "all_reduce", timeout=0.05)
    assert isinstance(err.value, TimeoutError)
    assert 0.05 <= time.perf_counter() - start < 2
    assert not c._pool  # the pending request's buffer is never handed out again


def test_abort_hook_prints_the_error_and_aborts(monkeypatch, capsys):
    monkeypatch.setattr(dcomm, "_ABORT_GRACE", 0.0)
    c = dcomm.MPICommunicator(_FakeMPIComm(), _FakeMPI)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    dcomm._install_abort_hook(c)
    try:
        raise ValueError("boom")
    except ValueError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    err = capsys.readouterr().err
    assert c.comm.aborted == 1
    assert "[rank 1] ValueError: boom" in err and "aborting every rank" in err


# --- DataParallel's machinery against a fake pair -------------------------------------------------


def _model(extra=False):
    rng = np.random.default_rng(0)
    shapes = [(4, 8), (8,), (8, 3), (3,)] + ([(2,)] if extra else [])
    return [cr.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def _loss(params, x):
    W1, b1, W2, b2 = params[:4]
    return (cr.tanh(x @ W1 + b1) @ W2 + b2).pow(2).mean()


def _local_grads(params, x):
    ref = [cr.tensor(p.detach().numpy(), requires_grad=True) for p in params[:4]]
    _loss(ref, x).backward()
    return [p.grad.numpy() for p in ref]


def test_data_parallel_hooks_average_each_bucket_once():
    fake = FakePair()
    params = _model()
    dp = dist.DataParallel(params, bucket_mb=100 / 2**20, process_group=fake)
    # rank 0's parameters: their layout (2 messages), agreed on (1), then one per bucket
    assert fake.calls["bcast"] == 2 + len(dp.buckets) and len(dp.buckets) > 1
    assert fake.calls["allreduce"] == 1
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 4)))
    for _ in range(2):
        for p in params:
            p.grad = None
        before = fake.calls["allreduce"]
        _loss(params, x).backward()
        assert fake.calls["allreduce"] - before == len(dp.buckets)
        for p, g in zip(params, _local_grads(params, x)):  # the mean of equal halves
            np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-14)
    # accumulation: .grad keeps the total (the old mean + the new gradient, averaged)
    _loss(params, x).backward()
    for p, g in zip(params, _local_grads(params, x)):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-14)
    with dp.no_sync():
        before = fake.calls["allreduce"]
        _loss(params, x).backward()
        assert fake.calls["allreduce"] == before
    dp.remove()


def test_data_parallel_complex_and_float32_parameters():
    fake = FakePair()
    z = cr.tensor(np.array([1 + 2j, -0.5j]), requires_grad=True)
    w = cr.tensor(np.array([0.5, 2.0], np.float32), requires_grad=True)
    dist.DataParallel([z, w], bucket_mb=1e-6, process_group=fake)
    fake.reset_counts()
    for _ in range(2):  # the second backward: .grad is the average of the accumulated total
        (cr.abs(z * w) ** 2).sum().backward()
    assert fake.calls["allreduce"] == 4 and w.grad.dtype == np.float32
    zr = cr.tensor(z.detach().numpy(), requires_grad=True)
    wr = cr.tensor(w.detach().numpy(), requires_grad=True)
    for _ in range(2):
        (cr.abs(zr * wr) ** 2).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), zr.grad.numpy(), rtol=1e-14)  # conj convention
    np.testing.assert_allclose(w.grad.numpy(), wr.grad.numpy(), rtol=1e-6)


def test_data_parallel_unused_parameter():
    fake = FakePair()
    params = _model(extra=True)
    dp = dist.DataParallel(params, process_group=fake)  # one bucket, never complete
    fake.reset_counts()
    x = cr.tensor(np.ones((2, 4)))
    _loss(params, x).backward()
    assert fake.calls["allreduce"] == 0
    with pytest.raises(RuntimeError, match=r"parameters #4 \(shape \(2,\)\) received no "
                                           r"gradient.*dp\.synchronize\(\)"):
        _loss(params, x).backward()
    for p in params:
        p.grad = None
    _loss(params, x).backward()
    dp.synchronize()  # reduces the pending bucket, the unused parameter's gradient as zeros
    assert fake.calls["allreduce"] == 1
    np.testing.assert_array_equal(params[4].grad.numpy(), [0.0, 0.0])
    dp.synchronize()  # nothing left: no message
    assert fake.calls["allreduce"] == 1


def test_data_parallel_manual_and_module():
    fake = FakePair()

    class Net:
        def __init__(self):
            self.ps = _model()

        def parameters(self):
            return iter(self.ps)

        def __call__(self, x):
            return _loss(self.ps, x)

    net = Net()
    dp = dist.DataParallel(net, auto=False, process_group=fake)
    fake.reset_counts()
    x = cr.tensor(np.ones((2, 4)))
    dp(x).backward()
    assert fake.calls["allreduce"] == 0
    dp.synchronize()
    assert fake.calls["allreduce"] == len(dp.buckets) == 1
    for p, g in zip(net.ps, _local_grads(net.ps, x)):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-14)
    with pytest.raises(TypeError, match="not a Tensor"):
        dist.DataParallel([np.ones(2)], process_group=fake)
    with pytest.raises(TypeError, match="not callable"):
        dist.DataParallel(net.ps, process_group=fake)(x)


def test_data_parallel_single_process_is_plain_training(local_group):
    params = _model()
    dp = dist.DataParallel(params)
    x = cr.tensor(np.ones((2, 4)))
    _loss(params, x).backward()
    for p, g in zip(params, _local_grads(params, x)):
        np.testing.assert_array_equal(p.grad.numpy(), g)
    dp.synchronize()


# --- under mpiexec: two processes over loopback ---------------------------------------------------

MPI_TESTS = os.environ.get("CHAINRULE_MPI_TESTS", "") in ("1", "true", "yes")
needs_mpi = pytest.mark.skipif(
    not MPI_TESTS, reason="launches mpiexec: set CHAINRULE_MPI_TESTS=1 (make test-mpi)")
LIMIT = 45  # seconds: the hard timeout of one launch (each takes a few seconds)


def _launch(script: str, *args: str, timeout: float = LIMIT) -> tuple[str, float, int]:
    pytest.importorskip("mpi4py", reason="CHAINRULE_MPI_TESTS=1 needs the [mpi] extra")
    if launch.mpiexec_path() is None:
        pytest.fail("mpiexec not found: pip install mpich (the [mpi] extra)")
    start = time.monotonic()
    try:
        res = launch.run([str(HERE / "mpi" / script), *args], n=2, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{script} hung: killed after {timeout} s\n{err.output}")
    return res.stdout, time.monotonic() - start, res.returncode


def _scenario(tmp_path_factory, script):
    out = tmp_path_factory.mktemp(script.removesuffix(".py"))
    text, _, rc = _launch(script, str(out))
    assert rc == 0, text
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    return ranks, text


@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    return _scenario(tmp_path_factory, "mpi_collectives.py")


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    return _scenario(tmp_path_factory, "mpi_train.py")


COLLECTIVE_CHECKS = [
    "size", "broadcast root 0", "broadcast root 1", "broadcast layout mismatch",
    "all_reduce sum (small buckets)", "all_reduce messages (small buckets)",
    "all_reduce sum (default buckets)", "all_reduce messages (default buckets)",
    "default buckets: one per dtype", "all_reduce mean", "all_reduce mean dtypes",
    "all_reduce max", "all_reduce min", "all_reduce float16", "all_reduce Tensor", "shard",
    "psum value", "pmean value", "all_gather value", "axis_index", "loss", "grad", "jit",
    "jit(grad)", "grad(jit)", "grad of all_gather, pmax, axis_index", "jit(grad) of all_gather",
    "jvp", "vmap axis + WORLD", "vmap over WORLD psum", "Tensor backward through psum",
    "psum float32 stays float32",
]  # fmt: skip

TRAINING_CHECKS = [
    f"{label}: {what}"
    for label in ("float64 DataParallel", "float32 W7-like DataParallel", "no_sync accumulation",
                  "unused parameter + synchronize")
    for what in ("broadcast at start", "2 processes = 1 process", "one message per bucket per step")
] + [
    "unused parameter without synchronize: an error",
    "functional all_reduce: 2 processes = 1 process",
    "jit with pmean over WORLD: 2 processes = 1 process",
]  # fmt: skip


def _check(ranks, text, name):
    for r, result in enumerate(ranks):
        assert name in result["checks"], f"rank {r} did not run {name!r}\n{text}"
        ok, detail = result["checks"][name]
        assert ok, f"rank {r}: {name}: {detail}"


@pytest.mark.parametrize("name", COLLECTIVE_CHECKS)
@pytest.mark.mpi
@needs_mpi
def test_mpi_collectives(collectives, name):
    _check(*collectives, name)


@pytest.mark.parametrize("name", TRAINING_CHECKS)
@pytest.mark.mpi
@needs_mpi
def test_mpi_training(training, name):
    _check(*training, name)


@pytest.mark.mpi
@needs_mpi
def test_mpi_every_check_is_listed(collectives, training):
    for (ranks, _), names in ((collectives, COLLECTIVE_CHECKS), (training, TRAINING_CHECKS)):
        for result in ranks:
            assert set(result["checks"]) == set(names)


def _shm_checks(n: int) -> set[str]:
    names = {"shared memory in use", "size mismatch: an error on every rank",
             "max of a large buffer", "all_reduce mean through shm"}  # fmt: skip
    for label in ("17000 float32", "300001 float32", "50000 float64", "40000 complex128",
                  "100000 int32", "7 float64"):
        names |= {f"sum of {label}: {what}" for what in
                  ("the rank-ordered sum", "one message", "the same on every rank", "path",
                   "the Iallreduce path agrees")}
        if n == 2:
            names.add(f"sum of {label}: MPI's sum")
    return names


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.mpi
@needs_mpi
def test_mpi_shared_memory_sums(tmp_path, n):
    pytest.importorskip("mpi4py", reason="CHAINRULE_MPI_TESTS=1 needs the [mpi] extra")
    try:
        res = launch.run([str(HERE / "mpi" / "mpi_shm.py"), str(tmp_path)], n=n, timeout=LIMIT)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"mpi_shm.py hung: killed after {LIMIT} s\n{err.output}")
    assert res.returncode == 0, res.stdout
    for r in range(n):
        checks = json.loads((tmp_path / f"rank{r}.json").read_text())["checks"]
        assert set(checks) == _shm_checks(n), sorted(set(checks) ^ _shm_checks(n))
        failed = {k: v[1] for k, v in checks.items() if not v[0]}
        assert not failed, f"rank {r} of {n}: {failed}"


@pytest.mark.mpi
@needs_mpi
def test_mpi_a_rank_that_raises_aborts_the_job():
    text, elapsed, rc = _launch("mpi_abort.py")
    assert rc != 0, text
    assert "[rank 1] ValueError: boom from rank 1" in text, text
    assert "rank 0 was not aborted" not in text
    raised = float(text.split("RAISING AT ")[1].split()[0])
    assert time.time() - raised < 10, text  # both ended within 10 s of the error
    assert elapsed < 30, text  # far below the all-reduce's 60 s deadline


@pytest.mark.mpi
@needs_mpi
def test_mpi_a_skipped_all_reduce_times_out():
    text, elapsed, rc = _launch("mpi_timeout.py")
    assert rc != 0, text
    assert "CollectiveTimeout" in text and "all_reduce (bucket 1 of 1" in text, text
    assert "did not complete within 2 s on rank 0 of 2" in text, text
    assert elapsed < 25, text  # rank 1 sleeps 30 s: the abort ended it


@pytest.mark.mpi
@needs_mpi
def test_mpi_launch_kills_a_hung_job():
    pytest.importorskip("mpi4py", reason="CHAINRULE_MPI_TESTS=1 needs the [mpi] extra")
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as err:
        launch.run([str(HERE / "mpi" / "mpi_hang.py")], n=2, timeout=3)
    assert time.monotonic() - start < 10
    pids = [int(p) for p in re.findall(r"PID (\d+)", err.value.output)]
    assert len(pids) == 2, err.value.output
    time.sleep(0.2)
    for pid in pids:  # no rank outlives the timeout
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), pid


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.mpi
@needs_mpi
def test_mpi_docs():
    text, _, rc = _launch("mpi_docs.py")
    assert rc == 0, text
    for k in range(len(_doc_snippets())):
        for r in (0, 1):
            assert f"rank {r}: snippet {k} ok" in text, text
    assert "2 process(es), 1 bucket(s)" in text, text


@pytest.mark.mpi
@needs_mpi
def test_mpi_d1_example():
    pytest.importorskip("mpi4py", reason="CHAINRULE_MPI_TESTS=1 needs the [mpi] extra")
    res = launch.run([str(ROOT / "examples" / "d1_data_parallel.py"), "--steps", "3"], n=2,
                     timeout=LIMIT)  # fmt: skip
    assert res.returncode == 0, res.stdout
    summary = json.loads(res.stdout.split("D1 ", 1)[1].split("\n")[0])
    assert summary["processes"] == 2 and summary["max_rel_diff"] <= 1e-6, res.stdout
    assert 0 < summary["allreduce_share"] < 1 and "step  3:" in res.stdout
