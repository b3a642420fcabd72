"""Under ``mpiexec -n 2``: both ranks print their process ids and hang (no MPI at all), for
the launcher's hard timeout to kill.

Usage: mpiexec -n 2 python tests/mpi/mpi_hang.py
"""

from __future__ import annotations

if __name__ == "__main__":
    import os
    import time

    print(f"PID {os.getpid()}", flush=True)
    time.sleep(300)
