"""D1: W7 trained data-parallel (SGD, 10 steps) over 2 MPI processes with the global batch
split: the time per step, the all-reduce's share of it, and the parameters against one process
trained on the whole batch (BENCHMARKS.md's targets: all-reduce <= 15% of the step; parameters
within 1e-6 relative, float32).

    .venv/bin/python -m benchmarks.d1                      # 5 runs of each style, 2 processes
    .venv/bin/python -m benchmarks.d1 --runs 9 --style tensor

D1 is not a workload of the interleaved harness (`python -m benchmarks`): its figures come from
two processes under ``mpiexec``, not from a call timed in this process. Each run launches
``examples/d1_data_parallel.py`` with `chainrule.distributed.launch` (loopback, one BLAS thread
per process, a hard timeout), alternating the styles (``tensor``: `DataParallel` and
``optim.SGD``; ``jit``: one compiled step with ``cr.pmean(grads, dist.WORLD)``), and reads the
example's last line, ``D1 {json}``. Printed: each run's medians, then the median over the runs,
with MET/MISSED. The peer, "one process, same global batch", is the example run without
``mpiexec`` (its BLAS with its default threads, one per core): its step time is printed beside
the processes', as their ratio. Needs the ``[mpi]`` extra (mpi4py and the mpich wheel's
``mpiexec``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "d1_data_parallel.py"
SHARE_TARGET = 0.15  # all-reduce time / step time
PARAM_TARGET = 1e-6  # max relative difference from one process (float32)


def parse(stdout: str) -> dict:
    """The example's summary: the JSON after its last ``D1 `` line.

    >>> parse('step  1: ...\\nD1 {"step_ms": 5.0, "allreduce_share": 0.1}\\n')
    {'step_ms': 5.0, 'allreduce_share': 0.1}
    """
    lines = [line for line in stdout.splitlines() if line.startswith("D1 {")]
    if not lines:
        raise ValueError(f"no 'D1 {{...}}' line in the example's output:\n{stdout}")
    return json.loads(lines[-1][3:])


def summarize(runs: list[dict]) -> dict:
    """The medians over runs of one style, and the targets' status (MISSED when any run's
    parameters differ by more than the tolerance).

    >>> s = summarize([{"step_ms": 6.0, "allreduce_ms": 0.6, "allreduce_share": 0.1,
    ...                 "max_rel_diff": 2e-7}] * 3)
    >>> s["allreduce_share"], s["share_status"], s["param_status"]
    (0.1, 'MET', 'MET')
    """
    med = {k: statistics.median(r[k] for r in runs)
           for k in ("step_ms", "allreduce_ms", "allreduce_share")}  # fmt: skip
    worst = max(r.get("max_rel_diff", float("inf")) for r in runs)
    return {
        **med, "runs": len(runs), "max_rel_diff": worst,
        "share_status": "MET" if med["allreduce_share"] <= SHARE_TARGET else "MISSED",
        "param_status": "MET" if worst <= PARAM_TARGET else "MISSED",
    }  # fmt: skip


def run_once(style: str, n: int, steps: int, timeout: float) -> dict:
    """One launch of the example: its summary."""
    from chainrule.distributed import launch

    res = launch.run([str(EXAMPLE), "--style", style, "--steps", str(steps)], n=n,
                     timeout=timeout)  # fmt: skip
    if res.returncode != 0:
        raise RuntimeError(f"the D1 example failed (exit {res.returncode}):\n{res.stdout}")
    return parse(res.stdout)


def run_single(style: str, steps: int, timeout: float) -> dict:
    """The example in one process (no launcher, default BLAS threads): the peer's figures."""
    cmd = [sys.executable, str(EXAMPLE), "--style", style, "--steps", str(steps), "--no-check"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"the D1 example failed in one process:\n{res.stdout}{res.stderr}")
    return parse(res.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.d1", description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="launches per style (5)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per launch (10)")
    ap.add_argument("--style", choices=("tensor", "jit", "both"), default="both")
    ap.add_argument("-n", type=int, default=2, help="processes (2)")
    ap.add_argument("--timeout", type=float, default=300.0, help="hard timeout per launch, s")
    a = ap.parse_args(argv)
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        print("D1 skipped: mpi4py is not installed (pip install 'chainrule[mpi]')")
        return 0
    styles = ("tensor", "jit") if a.style == "both" else (a.style,)
    load = os.getloadavg()[0]
    print(f"# D1: W7 data-parallel, {a.n} processes (loopback, 1 BLAS thread each), "
          f"{a.steps} steps per run, {a.runs} runs per style; {os.cpu_count()} CPUs, load "
          f"average {load:.2f}")  # fmt: skip
    if load > 0.5:
        print("# ! the machine is busy: the processes wait for each other, and the all-reduce "
              "with them")  # fmt: skip
    results: dict[str, list[dict]] = {s: [] for s in styles}
    single: dict[str, list[float]] = {s: [] for s in styles}
    for k in range(a.runs):  # the styles, and one process, interleaved
        for style in styles:
            single[style].append(run_single(style, a.steps, a.timeout)["step_ms"])
            r = run_once(style, a.n, a.steps, a.timeout)
            results[style].append(r)
            print(f"  run {k + 1} {style:6s}: step {r['step_ms']:6.2f} ms, all-reduce "
                  f"{r['allreduce_ms']:5.2f} ms ({100 * r['allreduce_share']:4.1f}%), bare "
                  f"{r['bare_allreduce_ms']:4.2f} ms, params vs 1 process "
                  f"{r.get('max_rel_diff', float('nan')):.1e}")  # fmt: skip
            sys.stdout.flush()
    print(f"{'style':8s}{'step ms':>9s}{'all-reduce ms':>15s}{'share':>8s}  {'≤ 15%':8s}"
          f"{'params':>9s}  {'≤ 1e-6':8s}{'1 process ms':>14s}{f'{a.n} / 1':>8s}")  # fmt: skip
    for style in styles:
        s = summarize(results[style])
        one = statistics.median(single[style])
        print(f"{style:8s}{s['step_ms']:9.2f}{s['allreduce_ms']:15.2f}"
              f"{100 * s['allreduce_share']:7.1f}%  {s['share_status']:8s}"
              f"{s['max_rel_diff']:9.1e}  {s['param_status']:8s}{one:14.2f}"
              f"{s['step_ms'] / one:8.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.TimeoutExpired as err:
        print(f"D1: a launch hung and was killed after {err.timeout} s", file=sys.stderr)
        sys.exit(124)
