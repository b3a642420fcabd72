"""Under ``mpiexec -n 2``: rank 1 skips an all-reduce that rank 0 makes; rank 0's raises
CollectiveTimeout (a 2 s deadline here) naming the collective, instead of hanging, and the
uncaught error aborts the job (rank 1 is still asleep).

Usage: mpiexec -n 2 python tests/mpi/mpi_timeout.py
"""

from __future__ import annotations


def main() -> None:
    import time

    import numpy as np

    import chainrule.distributed as dist

    dist.init(timeout=2)
    dist.barrier()
    if dist.rank() == 0:
        start = time.perf_counter()
        try:
            dist.all_reduce({"w": np.ones(3)})
        except dist.CollectiveTimeout as err:
            print(f"rank 0 timed out after {time.perf_counter() - start:.2f} s: {err}",
                  flush=True)
            raise
    else:  # skips the all-reduce (and makes no other collective call: a different one would
        time.sleep(30)  # be matched with it by MPI, and caught by the bucket check instead)


if __name__ == "__main__":
    main()
