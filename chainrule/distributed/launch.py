"""Launch a script on N local processes: ``mpiexec -n N python script.py`` on the loopback
interface, under a hard timeout.

``python -m chainrule.distributed.launch -n 2 [--timeout 60] script.py [args...]`` runs
``mpiexec`` (the one beside this Python first: the ``mpich`` wheel installs it there) with
the environment `loopback_env` sets: MPICH's process manager on the local interface with
the fork launcher (no ssh), its network modules restricted to ``lo`` (the processes of one
machine exchange data through shared memory), and one BLAS/OpenMP thread per process (N
processes share the cores). On timeout the whole process group is killed: no rank outlives it.

>>> env = loopback_env({})
>>> env["OMP_NUM_THREADS"], env["HYDRA_IFACE"]
('1', 'lo')
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["loopback_env", "mpiexec_path", "run"]

LOOPBACK = {
    "HYDRA_IFACE": "lo",  # MPICH's process manager: the local interface
    "HYDRA_LAUNCHER": "fork",  # start the local processes directly (no ssh)
    "UCX_NET_DEVICES": "lo",  # the UCX network module (the wheel's default): lo only; the
    # processes of one machine exchange data through shared memory (UCX's posix/cma)
    "FI_TCP_IFACE": "lo",  # libfabric, if MPICH's ofi module is chosen: lo only too
    "FI_SOCKETS_IFACE": "lo",
    "OMP_NUM_THREADS": "1",  # one BLAS thread per process
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def loopback_env(base: dict | None = None) -> dict:
    """`base` (default: this process's environment) with the loopback settings above.

    >>> loopback_env({"PATH": "/bin"})["OPENBLAS_NUM_THREADS"]
    '1'
    """
    env = dict(os.environ if base is None else base)
    env.update(LOOPBACK)
    return env


def mpiexec_path() -> str | None:
    """The ``mpiexec`` beside this interpreter (the mpich wheel's), else the one on PATH, else
    None.

    >>> exe = mpiexec_path()
    >>> exe is None or exe.endswith(("mpiexec", "mpiexec.exe"))
    True
    """
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    return shutil.which("mpiexec")


def run(args: list[str], n: int = 2, timeout: float = 60.0, env: dict | None = None,
        python: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """Run ``mpiexec -n n python *args`` on the loopback interface; stdout and stderr
    together in ``.stdout`` (text). On timeout, every process of the job is killed and
    `subprocess.TimeoutExpired` is raised (with the output so far).

    >>> if mpiexec_path() is not None:       # the [mpi] extra is installed
    ...     res = run(["-c", "print('hello')"], n=2, timeout=60)
    ...     print(res.returncode, res.stdout.count("hello"))  # the ranks' lines may interleave
    ... else:
    ...     print(0, 2)
    0 2
    """
    exe = mpiexec_path()
    if exe is None:
        raise FileNotFoundError("mpiexec not found: pip install 'chainrule[mpi]' (mpich)")
    cmd = [exe, "-n", str(n), python or sys.executable, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=loopback_env(env), start_new_session=True)  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, output=out) from None
    except BaseException:  # KeyboardInterrupt: take the job down with us
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, None)


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (Linux's /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill mpiexec's process group, and the ranks below it (MPICH's proxy starts each rank
    in a process group of its own)."""
    below = _descendants(proc.pid) if proc.poll() is None else []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main(argv: list[str] | None = None) -> int:
    """``python -m chainrule.distributed.launch -n N [--timeout S] script.py [args...]``:
    prints the job's output; returns its exit status (124 when killed at the timeout).

    >>> import os, tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
    ...     _ = f.write("print('hi')")
    >>> code = main(["-n", "1", f.name]) if mpiexec_path() else print("hi") or 0
    hi
    >>> os.unlink(f.name); code
    0
    """
    ap = argparse.ArgumentParser(prog="python -m chainrule.distributed.launch",
                                 description=__doc__.split("\n\n")[0])  # fmt: skip
    ap.add_argument("-n", type=int, default=2, help="number of processes (2)")
    ap.add_argument("--timeout", type=float, default=600.0, help="hard timeout, s (600)")
    ap.add_argument("script")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    try:
        res = run([a.script, *a.args], a.n, a.timeout)
    except subprocess.TimeoutExpired as err:
        sys.stdout.write(err.output or "")
        print(f"launch: killed after {a.timeout:g} s", file=sys.stderr)
        return 124
    sys.stdout.write(res.stdout)
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
