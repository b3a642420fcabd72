"""Under ``mpiexec -n 2``: rank 1 raises while rank 0 waits in an all-reduce (with a 60 s
deadline): the exception hook that dist.init installs prints rank 1's traceback and aborts
the job, so both processes end within seconds.

Usage: mpiexec -n 2 python tests/mpi/mpi_abort.py
"""

from __future__ import annotations


def main() -> None:
    import time

    import numpy as np

    import chainrule.distributed as dist

    dist.init(timeout=60)
    dist.barrier()
    if dist.rank() == 1:
        print(f"RAISING AT {time.time():.3f}", flush=True)
        raise ValueError("boom from rank 1 (the test's deliberate error)")
    dist.all_reduce([np.ones(3)])  # never completes: rank 1 is gone
    print("rank 0 was not aborted", flush=True)


if __name__ == "__main__":
    main()
