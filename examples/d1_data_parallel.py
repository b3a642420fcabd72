"""D1: the W7 MLP (784-512-512-10, tanh, softmax cross-entropy, float32, global batch 256)
trained data-parallel with SGD for 10 steps, the global batch split between the processes.

    mpiexec -n 2 python examples/d1_data_parallel.py
    python -m chainrule.distributed.launch -n 2 examples/d1_data_parallel.py   # loopback

Each step: every process computes the gradient of its shard (128 rows each on two
processes), the gradients are averaged across the processes, and every process takes the same
SGD step. ``--style tensor`` (default) is PyTorch's way: Tensors, ``loss.backward()``,
`dist.DataParallel` averaging ``.grad`` in buckets, ``optim.SGD``; ``--style jit`` is JAX's:
one `cr.jit`-compiled step with ``cr.pmean(grads, dist.WORLD)`` inside.

Printed per step: the step's wall time (the slowest rank's), the all-reduce's time and its
share of the step, and the all-reduce's time with the wait for the slower rank. The
all-reduce's time is what the last rank to reach it spends in it (the minimum over the ranks):
an earlier rank's extra time is waiting for that one (imbalance between the processes, large
on a loaded machine), not communication. Then the medians, the time of a bare all-reduce of
the same bytes (the transfer alone), and the largest relative difference between the
parameters and those of one process trained on the whole batch (D1's targets: all-reduce
≤ 15% of the step; parameters within 1e-6 relative). The last line,
``D1 {json}``, is for programs (``python -m benchmarks.d1`` runs the example several times
and reports the medians against the targets).

Under a launcher, each process uses cores / processes BLAS threads (set below, before NumPy
loads, unless ``OMP_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` is set already).
"""

from __future__ import annotations

import os

# Processes that share a machine share its cores: give each one BLAS thread per core it has
# (set before NumPy loads its BLAS; `python -m chainrule.distributed.launch` sets 1). Left
# to its default, each rank's BLAS starts a thread per core of the machine, N ranks then run
# N times too many threads, and their steps slow down and drift apart (on 2 cores: 20-80 ms
# steps instead of 5-10, and an all-reduce that mostly waits for the descheduled peer).
_local = os.environ.get("MPI_LOCALNRANKS") or os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
if _local and _local.isdigit() and int(_local) > 1 and not any(map(os.getenv, _THREAD_VARS)):
    for _var in _THREAD_VARS:
        os.environ[_var] = str(max(1, (os.cpu_count() or 1) // int(_local)))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.distributed as dist  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402

SIZES = (784, 512, 512, 10)
BATCH = 256
LR = 0.01


def setup(seed: int = 7) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """W7's data (benchmarks/workloads/w07.py): parameters [W1, b1, W2, b2, W3, b3], X, labels."""
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(SIZES, SIZES[1:]):
        params.append((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32))
        params.append(np.zeros(n_out, np.float32))
    X = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    return params, X, rng.integers(0, SIZES[-1], BATCH)


def loss(params, X, labels):
    """W7's loss: mean softmax cross-entropy of a tanh MLP (stable log-softmax)."""
    W1, b1, W2, b2, W3, b3 = params
    h = cnp.tanh(X @ W1 + b1)
    h = cnp.tanh(h @ W2 + b2)
    z = h @ W3 + b3
    s = z - cnp.max(z, axis=1, keepdims=True)
    logp = s - cnp.log(cnp.sum(cnp.exp(s), axis=1, keepdims=True))
    return -cnp.mean(logp[np.arange(len(labels)), labels])


def sgd_step(params, X, labels):
    return [p - LR * g for p, g in zip(params, cr.grad(loss)(params, X, labels))]


class TensorStyle:
    """Tensors, backward, DataParallel (bucketed all-reduce of .grad), SGD."""

    def __init__(self, values, X, labels, bucket_mb=None):
        self.params = [cr.tensor(v, requires_grad=True) for v in values]
        self.dp = dist.DataParallel(self.params, bucket_mb=bucket_mb)  # rank 0's values too
        try:
            from chainrule import optim

            self.opt = optim.SGD(self.params, lr=LR)
        except ImportError:  # pragma: no cover - chainrule.optim not there
            self.opt = None
        self.X, self.labels = cr.tensor(dist.shard(X)), dist.shard(labels)

    def step(self):
        for p in self.params:
            p.grad = None
        loss(self.params, self.X, self.labels).backward()
        if self.opt is not None:
            self.opt.step()
        else:
            with cr.no_grad():
                for p in self.params:
                    p -= LR * p.grad

    def values(self):
        return [p.detach().numpy() for p in self.params]


class JitStyle:
    """One compiled step: gradient, pmean over dist.WORLD, update."""

    def __init__(self, values, X, labels, bucket_mb=None):
        self.params = dist.broadcast(values)

        def step(params, X, labels):
            g = cr.pmean(cr.grad(loss)(params, X, labels), dist.WORLD)
            return [p - LR * gp for p, gp in zip(params, g)]

        self.compiled = cr.jit(step)
        self.X, self.labels = dist.shard(X), dist.shard(labels)

    def step(self):
        self.params = self.compiled(self.params, self.X, self.labels)

    def values(self):
        return self.params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--style", choices=("tensor", "jit"), default="tensor")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--bucket-mb", type=float, default=None,
                    help="DataParallel's bucket size (25 MB: one bucket for W7)")
    ap.add_argument("--no-check", action="store_true", help="skip the one-process comparison")
    a = ap.parse_args()

    dist.init()
    rank, size = dist.rank(), dist.size()
    comm = dist.communicator()
    values, X, labels = setup()
    model = (TensorStyle if a.style == "tensor" else JitStyle)(values, X, labels, a.bucket_mb)
    out = (lambda *s: print(*s, flush=True)) if rank == 0 else (lambda *s: None)
    out(f"D1: W7 data-parallel, {size} processes, {BATCH // size} rows each, style {a.style}")
    model.step()  # the first step warms up (jit compiles); not timed
    times = np.zeros((a.steps, 2))  # this rank's (step, all-reduce) seconds
    for k in range(a.steps):
        dist.barrier()  # every process starts the step together
        before = comm.seconds["allreduce"]
        t0 = time.perf_counter()
        model.step()
        times[k] = time.perf_counter() - t0, comm.seconds["allreduce"] - before
    # every rank's times: a step lasts as long as its slowest rank's; the all-reduce costs
    # what the last rank to reach it spends in it (the others' extra is waiting for that
    # rank: imbalance, not communication)
    every = comm.allgather(times, "D1 timings")  # (ranks, steps, 2)
    step = every[:, :, 0].max(0)
    comm_s = every[:, :, 1].min(0)
    waited = every[:, :, 1].max(0)
    for k in range(a.steps):
        out(f"step {k + 1:2d}: {step[k] * 1e3:7.2f} ms, all-reduce {comm_s[k] * 1e3:6.2f} ms "
            f"({100 * comm_s[k] / step[k]:4.1f}%; {waited[k] * 1e3:6.2f} ms with the wait for "
            "the slower rank)")  # fmt: skip
    # the transfer alone: an all-reduce of the gradient's bytes, processes already together
    nbytes = sum(v.nbytes for v in values)
    buf = np.zeros(nbytes // 4, np.float32)
    bare = []
    for _ in range(10):
        dist.barrier()
        t0 = time.perf_counter()
        comm.allreduce(buf, "sum", "D1 bare all-reduce")
        bare.append(time.perf_counter() - t0)
    summary = {
        "processes": size, "style": a.style, "steps": a.steps,
        "step_ms": 1e3 * float(np.median(step)),
        "allreduce_ms": 1e3 * float(np.median(comm_s)),
        "allreduce_share": float(np.median(comm_s / step)),
        "allreduce_with_wait_ms": 1e3 * float(np.median(waited)),
        "allreduce_with_wait_share": float(np.median(waited / step)),
        "bare_allreduce_ms": 1e3 * float(np.median(bare)), "gradient_mb": nbytes / 2**20,
    }  # fmt: skip
    if not a.no_check:  # one process, the whole batch, the same steps from the same start
        ref = [v.copy() for v in values]
        one = cr.jit(sgd_step)
        for _ in range(a.steps + 1):
            ref = one(ref, X, labels)
        got = model.values()
        summary["max_rel_diff"] = max(float(np.max(np.abs(g - r)) / np.max(np.abs(r)))
                                      for g, r in zip(got, ref))  # fmt: skip
    out(f"median step {summary['step_ms']:.2f} ms, all-reduce {summary['allreduce_ms']:.2f} ms "
        f"= {100 * summary['allreduce_share']:.1f}% of the step (target <= 15%); with the wait "
        f"for the slower rank {summary['allreduce_with_wait_ms']:.2f} ms "
        f"({100 * summary['allreduce_with_wait_share']:.1f}%); a bare all-reduce of the "
        f"{summary['gradient_mb']:.2f} MB gradient: {summary['bare_allreduce_ms']:.2f} ms")
    if "max_rel_diff" in summary:
        out(f"parameters vs one process on the whole batch: max relative difference "
            f"{summary['max_rel_diff']:.2e} (target <= 1e-6)")  # fmt: skip
    out("D1 " + json.dumps(summary))


if __name__ == "__main__":
    main()
