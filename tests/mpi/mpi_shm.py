"""Under ``mpiexec -n N``: sums through the shared-memory window (chainrule.distributed.shm),
with a small window (CHAINRULE_DIST_SHM_MB=0.25: slots of 84 KB for two processes, 60 KB for
three) so that large buffers go in several chunks: bitwise MPI's sum (for two processes) or
the rank-ordered sum of every process's buffer (gathered), one message per call, identical
results on every rank, a size mismatch an error on every rank, and the small sums, maxima and
DataParallel's buckets still right.

Usage: mpiexec -n N python tests/mpi/mpi_shm.py OUT_DIR
"""

from __future__ import annotations


def main() -> None:
    import os

    os.environ["CHAINRULE_DIST_SHM_MB"] = "0.25"

    import numpy as np

    import chainrule.distributed as dist
    from chainrule.distributed import shm
    from mpi_common import Checks

    checks = Checks()
    dist.init(timeout=20)
    comm = dist.communicator()
    r, n = dist.rank(), dist.size()
    checks.check("shared memory in use", comm.shared is not None
                 and comm.shared.slot_bytes < 100_000, comm.shared)  # fmt: skip

    def data(size, dtype, rank):
        rng = np.random.default_rng(1000 + rank + size)
        if np.dtype(dtype).kind == "c":
            return (rng.standard_normal(size) + 1j * rng.standard_normal(size)).astype(dtype)
        if np.dtype(dtype).kind == "i":
            return rng.integers(-1000, 1000, size).astype(dtype)
        return rng.standard_normal(size).astype(dtype)

    def sums():
        for size, dtype in [(17_000, np.float32), (300_001, np.float32), (50_000, np.float64),
                            (40_000, np.complex128), (100_000, np.int32), (7, np.float64)]:
            mine = data(size, dtype, r)
            want = data(size, dtype, 0)
            for k in range(1, n):  # the rank-ordered sum
                want = want + data(size, dtype, k)
            before = comm.calls["allreduce"]
            got = comm.allreduce(mine.copy(), "sum")
            label = f"sum of {size} {np.dtype(dtype).name}"
            used = mine.nbytes >= shm.MIN_BYTES
            checks.check(f"{label}: the rank-ordered sum", np.array_equal(got, want),
                         np.max(np.abs(got - want)))  # fmt: skip
            checks.check(f"{label}: one message", comm.calls["allreduce"] - before == 1)
            everywhere = comm.allgather(got)  # (through MPI) the same bits on every rank
            checks.check(f"{label}: the same on every rank",
                         all(np.array_equal(e, got) for e in everywhere))  # fmt: skip
            saved, comm.shared = comm.shared, None  # the Iallreduce path, for comparison
            try:
                via_mpi = comm.allreduce(mine.copy(), "sum")
            finally:
                comm.shared = saved
            checks.check(f"{label}: the Iallreduce path agrees",
                         np.allclose(via_mpi, want, rtol=1e-5, atol=1e-4))  # fmt: skip
            if n == 2:  # MPI's own sum: a + b, the same bits
                ref = mine.copy()
                comm.comm.Allreduce(comm.MPI.IN_PLACE, ref, comm.MPI.SUM)
                checks.check(f"{label}: MPI's sum", np.array_equal(got, ref))
            checks.check(f"{label}: path", used == (size * np.dtype(dtype).itemsize >= 65536))

    checks.run("sums", sums)

    def mismatch():
        try:
            comm.allreduce(np.ones(100_000 + 1000 * r, np.float32), "sum")
            checks.check("size mismatch: an error on every rank", False, "no error")
        except ValueError as err:
            checks.check("size mismatch: an error on every rank", "different sizes" in str(err),
                         err)  # fmt: skip

    checks.run("size mismatch", mismatch)

    def others():  # maxima go through MPI; all_reduce's mean of a large tree through shm
        mx = comm.allreduce(np.full(100_000, float(r)), "max")
        checks.check("max of a large buffer", np.all(mx == n - 1))
        tree = {"w": np.full((300, 300), r + 1.0, np.float32), "b": np.arange(3.0)}
        got = dist.all_reduce(tree)
        checks.check("all_reduce mean through shm", np.all(got["w"] == (n + 1) / 2)
                     and np.array_equal(got["b"], np.arange(3.0)))  # fmt: skip

    checks.run("others", others)
    dist.barrier()
    checks.write(r, size=n)


if __name__ == "__main__":
    main()
