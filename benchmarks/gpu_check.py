"""The GPU check: ``python -m benchmarks.gpu_check [--out REPORT] [--budget SECONDS]``.

Run from the repository root with the project on ``PYTHONPATH``; it installs nothing (a GPU
machine may have no network) and uses the Python, CuPy, PyTorch and JAX already there:

1. versions (Python, NumPy, CuPy, torch, JAX) and the GPU;
2. the GPU test files (tests/test_gpu.py, tests/test_gpu_jit.py when present) under pytest,
   with a timeout;
3. G1 (BENCHMARKS.md): W10 and W7 in float32 on the GPU, chainrule's functional ``grad``
   and ``jit`` on CuPy arrays against torch CUDA eager and ``jax.jit`` on the GPU (when
   present), the device synchronised before each clock reading, calls interleaved, medians;
4. the notebook's GPU memory cells and G2: ``ones(1024)`` in float32 and float64, sizes
   1023/1024/1025 (allocation rounding), and ``some_calculus(True/False, 10/100)``, read
   with ``cr.memory`` on CuPy's pool beside ``torch.cuda.max_memory_allocated``.

All of it in under 4 minutes (``--budget``, default 230 s: later parts are skipped, and said
so, when time runs out). A short report is printed and written to ``--out``. Without a CUDA
device (or without CuPy) it says "no CUDA device: nothing to check" and exits 0 at once. The
exit status is 1 when a GPU test fails or G2's bytes differ from torch's; G1's ratios are
reported (timings are noisy), not enforced.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from importlib import metadata
from pathlib import Path
from collections.abc import Callable
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GPU_TESTS = ("tests/test_gpu.py", "tests/test_gpu_jit.py")
NO_GPU = "no CUDA device: nothing to check"

# JAX takes 75% of the GPU's memory at its first use unless told not to: CuPy and torch
# share the device with it here.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _cupy_version() -> str:
    for dist in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy"):
        v = _version(dist)
        if v != "absent":
            return f"{v} ({dist})"
    return "absent"


class Report:
    """Lines printed as they come and kept for --out."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.failed = False

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def write(self, path: str | None) -> None:
        if path:
            Path(path).write_text("\n".join(self.lines) + "\n")


# --- the device ----------------------------------------------------------------------------------


def find_gpu() -> tuple[Any, str]:
    """(cupy, a description of GPU 0), or (None, why there is none)."""
    try:
        import cupy
    except ImportError:
        return None, "CuPy is not installed (pip install 'chainrule[gpu]')"
    except Exception as err:  # a broken CUDA install
        return None, f"CuPy does not import: {type(err).__name__}: {err}"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:
        return None, f"CuPy finds no CUDA runtime or device: {type(err).__name__}: {err}"
    if n < 1:
        return None, "CuPy sees no CUDA device"
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    mem = props.get("totalGlobalMem", 0) / 2**30
    return cupy, (f"{name}, {mem:.0f} GiB, {n} device(s), CUDA runtime "
                  f"{cupy.cuda.runtime.runtimeGetVersion()}")  # fmt: skip


def torch_cuda() -> Any:
    """torch when it has CUDA, else None."""
    try:
        import torch
    except Exception:
        return None
    return torch if torch.cuda.is_available() else None


def jax_gpu() -> Any:
    """(jax, its first GPU device) when JAX has a GPU backend, else None."""
    try:
        import jax

        return jax, jax.devices("gpu")[0]
    except Exception:
        return None


# --- 2. the GPU tests -----------------------------------------------------------------------------


def run_tests(report: Report, timeout: float) -> None:
    files = [f for f in GPU_TESTS if (ROOT / f).exists()]
    missing = [f for f in GPU_TESTS if f not in files]
    report("## GPU tests")
    if missing:
        report(f"(absent: {', '.join(missing)})")
    try:
        import pytest  # noqa: F401
    except ImportError:
        report("pytest is not installed here: GPU tests not run")
        return
    if timeout < 20:
        report("no time left: GPU tests not run")
        report.failed = True
        return
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *files]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"")
        out = out.decode() if isinstance(out, bytes) else out
        report(f"TIMEOUT after {timeout:.0f} s; last lines:")
        for line in out.strip().splitlines()[-10:]:
            report("    " + line)
        report.failed = True
        return
    lines = (r.stdout + r.stderr).strip().splitlines()
    failed = r.returncode not in (0, 5)  # 5: no test collected
    shown = lines if failed else [ln for ln in lines if "passed" in ln or "skipped" in ln
                                  or "SKIPPED" in ln or "error" in ln.lower()][-8:]  # fmt: skip
    for line in shown[-60:]:
        report("    " + line)
    report(f"{'FAILED' if failed else 'ok'} (exit {r.returncode}, "
           f"{time.perf_counter() - t0:.0f} s)")  # fmt: skip
    report.failed |= failed


# --- 3. G1 ----------------------------------------------------------------------------------------


def _median_us(calls: dict[str, Callable[[], Any]], syncs: dict[str, Callable[[], Any]],
               rounds: int, deadline: float) -> dict[str, float]:  # fmt: skip
    """Interleaved rounds of each call, each followed by its device's synchronisation
    before the clock is read: the median in µs per contender."""
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for k, call in calls.items():
            t0 = time.perf_counter()
            call()
            syncs[k]()
            times[k].append(time.perf_counter() - t0)
        if time.perf_counter() > deadline:
            break
    return {k: statistics.median(v) * 1e6 for k, v in times.items() if v}


def _prepare(calls: dict, syncs: dict, report: Report) -> tuple[dict, dict]:
    """Warm each contender (jit's compilation, kernels' first launch) twice; drop and report
    those that fail."""
    ok_calls, ok_syncs = {}, {}
    for k, make in calls.items():
        try:
            call = make()
            t0 = time.perf_counter()
            call()
            syncs[k]()
            first = time.perf_counter() - t0
            call()
            syncs[k]()
            ok_calls[k], ok_syncs[k] = call, syncs[k]
            if first > 1.0:
                report(f"    ({k}: first call {first:.1f} s)")
        except Exception as err:
            msg = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            report(f"    {k}: ERROR {type(err).__name__}: {msg}")
    return ok_calls, ok_syncs


def _g1_w10(cupy: Any, torch: Any, jaxd: Any) -> tuple[dict, dict]:
    import chainrule as cr
    import chainrule.numpy as cnp
    from benchmarks.workloads import w10

    x = w10.setup()
    cu_sync = cupy.cuda.Device().synchronize
    calls: dict[str, Callable] = {}
    syncs: dict[str, Callable] = {}

    def cr_grad() -> Callable:
        g, xg = cr.grad(partial(w10.f, cnp)), cupy.asarray(x)
        return lambda: g(xg)

    def cr_jit() -> Callable:
        g, xg = cr.jit(cr.grad(partial(w10.f, cnp))), cupy.asarray(x)
        return lambda: g(xg)

    calls["chainrule grad"], syncs["chainrule grad"] = cr_grad, cu_sync
    calls["chainrule jit"], syncs["chainrule jit"] = cr_jit, cu_sync
    if torch is not None:
        def torch_eager() -> Callable:
            xt = torch.tensor(x, device="cuda").requires_grad_()

            def call() -> Any:
                xt.grad = None
                w10.f(torch, xt).backward()
                return xt.grad

            return call

        calls["torch CUDA eager"], syncs["torch CUDA eager"] = torch_eager, torch.cuda.synchronize
    if jaxd is not None:
        jax, dev = jaxd

        def jax_jit() -> Callable:
            g, xj = jax.jit(jax.grad(partial(w10.f, jax.numpy))), jax.device_put(x, dev)
            return lambda: g(xj).block_until_ready()

        calls["jax.jit"], syncs["jax.jit"] = jax_jit, (lambda: None)
    return calls, syncs


def _g1_w7(cupy: Any, torch: Any, jaxd: Any) -> tuple[dict, dict]:
    import numpy as np

    import chainrule as cr
    import chainrule.numpy as cnp
    from benchmarks.workloads import w07

    d = w07.setup()
    cu_sync = cupy.cuda.Device().synchronize
    calls: dict[str, Callable] = {}
    syncs: dict[str, Callable] = {}

    def cr_step(jit: bool) -> Callable:
        step = w07._sgd_step(cr.grad(partial(w07.loss, cnp)))
        step = cr.jit(step) if jit else step
        state = [cupy.asarray(p) for p in d.params]
        X, labels = cupy.asarray(d.X), cupy.asarray(d.labels)
        rows = cupy.arange(w07.BATCH)

        def call() -> Any:
            state[:] = step(state, X, labels, rows)
            return state

        return call

    def cr_graph_step() -> Callable:  # the jitted step replayed as a CUDA graph
        inner = cr_step(True)

        def call() -> Any:
            cr.config.update("jit_cuda_graphs", True)
            try:
                return inner()
            finally:
                cr.config.update("jit_cuda_graphs", False)

        return call

    calls["chainrule grad"], syncs["chainrule grad"] = partial(cr_step, False), cu_sync
    calls["chainrule jit"], syncs["chainrule jit"] = partial(cr_step, True), cu_sync
    calls["chainrule jit+graph"], syncs["chainrule jit+graph"] = cr_graph_step, cu_sync
    if torch is not None:
        def torch_eager() -> Callable:
            params = [torch.tensor(p, device="cuda").requires_grad_() for p in d.params]
            X = torch.tensor(d.X, device="cuda")
            labels = torch.tensor(d.labels, device="cuda")
            rows = torch.arange(w07.BATCH, device="cuda")

            def call() -> Any:
                for p in params:
                    p.grad = None
                w07.loss(torch, params, X, labels, rows).backward()
                with torch.no_grad():
                    for p in params:
                        p.add_(p.grad, alpha=-w07.LR)
                return params

            return call

        calls["torch CUDA eager"], syncs["torch CUDA eager"] = torch_eager, torch.cuda.synchronize
    if jaxd is not None:
        jax, dev = jaxd

        def jax_jit() -> Callable:
            step = jax.jit(w07._sgd_step(jax.grad(partial(w07.loss, jax.numpy))))
            state = [jax.device_put(p, dev) for p in d.params]
            X, labels, rows = (jax.device_put(a, dev)
                               for a in (d.X, d.labels, np.arange(w07.BATCH)))  # fmt: skip

            def call() -> Any:
                state[:] = jax.block_until_ready(step(state, X, labels, rows))
                return state

            return call

        calls["jax.jit"], syncs["jax.jit"] = jax_jit, (lambda: None)
    return calls, syncs


#: G1's targets: (workload, chainrule contender, peer) -> the highest ratio
G1_TARGETS = {("W10", "chainrule grad", "torch CUDA eager"): 1.0,
              ("W10", "chainrule jit", "jax.jit"): 1.0,
              ("W7", "chainrule grad", "torch CUDA eager"): 1.0,
              ("W7", "chainrule jit", "jax.jit"): 1.5}  # fmt: skip
#: reported without a target: whether CUDA graphs pay (cr.config.jit_cuda_graphs, off by default)
G1_REPORTED = (("W7", "chainrule jit+graph", "chainrule jit"),
               ("W7", "chainrule jit+graph", "jax.jit"))


def run_g1(report: Report, cupy: Any, torch: Any, jaxd: Any, deadline: float,
           rounds: int = 30) -> None:  # fmt: skip
    report("## G1: W10 and W7, float32 on the GPU (median µs per call, device synchronised)")
    for wid, build in (("W10", _g1_w10), ("W7", _g1_w7)):
        if time.perf_counter() > deadline:
            report(f"{wid}: no time left, skipped")
            continue
        report(f"{wid}:")
        try:
            calls, syncs = _prepare(*build(cupy, torch, jaxd), report)
        except Exception as err:
            report(f"    ERROR setting up: {type(err).__name__}: {err}")
            continue
        med = _median_us(calls, syncs, rounds, deadline)
        for k, us in med.items():
            report(f"    {k:<18} {us:>12,.0f} µs")
        for (w, mine, peer), target in G1_TARGETS.items():
            if w != wid:
                continue
            if mine in med and peer in med:
                ratio = med[mine] / med[peer]
                verdict = "ok" if ratio <= target else "MISS"
                report(f"    {mine} / {peer}: {ratio:.2f} (target ≤ {target}) {verdict}")
            else:
                report(f"    {mine} / {peer}: not measured")
        for w, mine, peer in G1_REPORTED:
            if w == wid and mine in med and peer in med:
                report(f"    {mine} / {peer}: {med[mine] / med[peer]:.2f}")


# --- 4. the notebook's memory cells and G2 ------------------------------------------------------


def chainrule_cells(cupy: Any) -> dict[str, int]:
    """The notebook's cells with CuPy arrays, read with cr.memory on 'cuda'."""
    import chainrule as cr

    out: dict[str, int] = {}
    cr.memory.reset_peak("cuda")
    out["start"] = cr.memory.max_allocated("cuda")
    for dt, name in ((cupy.float32, "float32"), (cupy.float64, "float64")):
        cr.memory.reset_peak("cuda")
        before = cr.memory.allocated("cuda")
        A = cupy.ones(1024, dtype=dt)
        out[f"ones(1024) {name}"] = cr.memory.max_allocated("cuda") - before
        del A
    for n in (1023, 1024, 1025):
        cr.memory.reset_peak("cuda")
        before = cr.memory.allocated("cuda")
        A = cupy.ones(n, dtype=cupy.float32)
        out[f"ones({n}) float32"] = cr.memory.max_allocated("cuda") - before
        del A
    for requires_grad in (True, False):
        for n in (10, 100):
            cr.memory.reset_peak("cuda")
            before = cr.memory.allocated("cuda")
            A = some_calculus_cupy(cupy, requires_grad, n)
            out[f"some_calculus({requires_grad}, {n})"] = (cr.memory.max_allocated("cuda")
                                                          - before)  # fmt: skip
            del A
            cr.memory.reset_peak("cuda")
            before = cr.memory.allocated("cuda")
            A = some_calculus_tensor(requires_grad, n)
            out[f"Tensor some_calculus({requires_grad}, {n})"] = (
                cr.memory.max_allocated("cuda") - before)  # fmt: skip
            del A
    return out


def some_calculus_tensor(requires_grad: bool, n: int) -> Any:
    """The notebook's `some_calculus` as written for PyTorch, on chainrule's CUDA Tensors."""
    import numpy as np

    import chainrule as cr

    A = cr.rand(1000, device="cuda", dtype=np.float32, requires_grad=requires_grad)
    for _ in range(n):
        A = A * cr.rand(1000, device="cuda", dtype=np.float32)
    return A


def some_calculus_cupy(cupy: Any, requires_grad: bool, n: int) -> Any:
    """The notebook's `some_calculus` on CuPy arrays (float32, as torch.rand): recording is
    `cr.vjp`, whose pullback keeps what the backward pass needs, as torch's graph does behind
    `A`; without it chainrule computes eagerly on CuPy arrays and keeps nothing."""
    import chainrule as cr
    import chainrule.numpy as cnp

    def chain(A: Any) -> Any:
        for _ in range(n):
            A = cnp.multiply(A, cupy.random.rand(1000, dtype=cupy.float32))
        return A

    A = cupy.random.rand(1000, dtype=cupy.float32)
    if requires_grad:
        return cr.vjp(chain, A)  # (the result, the pullback): both alive, as torch's A
    return chain(A)


def torch_cells(torch: Any) -> dict[str, int]:
    """The notebook's cells as written, with torch.cuda."""
    out: dict[str, int] = {}
    torch.cuda.reset_peak_memory_stats()
    out["start"] = torch.cuda.max_memory_allocated()

    def measure(make: Callable[[], Any]) -> int:
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        A = make()
        peak = torch.cuda.max_memory_allocated() - before
        del A
        return peak

    out["ones(1024) float32"] = measure(lambda: torch.ones(1024, device="cuda"))
    out["ones(1024) float64"] = measure(lambda: torch.ones(1024, dtype=torch.float64,
                                                           device="cuda"))  # fmt: skip
    for n in (1023, 1024, 1025):
        out[f"ones({n}) float32"] = measure(lambda n=n: torch.ones(n, device="cuda"))

    def some_calculus(requires_grad: bool, n: int) -> Any:
        A = torch.rand(1000, device="cuda", requires_grad=requires_grad)
        for _ in range(n):
            A = A * torch.rand(1000, device="cuda")
        return A

    for requires_grad in (True, False):
        for n in (10, 100):
            out[f"some_calculus({requires_grad}, {n})"] = measure(
                lambda r=requires_grad, n=n: some_calculus(r, n))
    return out


def requires_copy(cell: str) -> bool:
    """Whether a functional `some_calculus` cell records (`cr.vjp`): the random CuPy arrays it
    multiplies by are the caller's constants, which a backward pass keeps as copies (they
    could be changed in place later; a CUDA Tensor is protected by its version counter, as
    torch's, and is not copied)."""
    return cell.startswith("some_calculus(True")


def run_memory(report: Report, cupy: Any, torch: Any) -> None:
    report("## The notebook's GPU memory cells (bytes; G2: some_calculus on CUDA Tensors, equal "
           "to torch's)")
    try:
        mine = chainrule_cells(cupy)
    except Exception as err:
        report(f"ERROR: {type(err).__name__}: {err}")
        report.failed = True
        return
    theirs = torch_cells(torch) if torch is not None else {}
    report(f"    {'cell':<28} {'chainrule':>10} {'torch.cuda':>11}")
    for k, v in mine.items():
        t = theirs.get(k.removeprefix("Tensor "))
        g2 = k.startswith("Tensor some_calculus")
        mark = "" if t is None else ("  equal" if v == t else "  DIFFERENT")
        if t is not None and v != t and k.startswith("some_calculus") and requires_copy(k):
            mark = "  (vjp copies its primal and the CuPy constants it keeps)"
        report(f"    {k:<28} {v:>10,} {'' if t is None else f'{t:>11,}'}{mark}")
        if g2 and t is not None and v != t:
            report.failed = True
    if torch is None:
        report("    (torch has no CUDA here: G2 not compared)")
    import chainrule as cr

    cr.memory.stop("cuda")  # CuPy's own allocator back


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="also write the report to this file")
    ap.add_argument("--budget", type=float, default=230.0, help="seconds in all (230)")
    ap.add_argument("--no-tests", action="store_true", help="skip the GPU pytest files")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    deadline = t_start + args.budget
    report = Report()
    report("# chainrule GPU check")
    report(f"Python {platform.python_version()}, NumPy {_version('numpy')}, CuPy "
           f"{_cupy_version()}, torch {_version('torch')}, JAX {_version('jax')}")  # fmt: skip
    cupy, gpu = find_gpu()
    if cupy is None:
        report(f"{NO_GPU} ({gpu})")
        report.write(args.out)
        return 0
    report(f"GPU: {gpu}")
    report(f"CuPy arrays have __array_namespace__: "
           f"{hasattr(cupy.ndarray, '__array_namespace__')}")  # fmt: skip
    torch = torch_cuda()
    report(f"torch CUDA: {'yes' if torch is not None else 'no'}")
    if not args.no_tests:
        run_tests(report, timeout=max(0.0, min(150.0, deadline - time.perf_counter() - 60)))
    jaxd = jax_gpu()
    report(f"JAX GPU: {jaxd[1] if jaxd else 'no'}")
    try:
        run_g1(report, cupy, torch, jaxd, deadline=deadline - 15)
    except Exception as err:
        report(f"G1 ERROR: {type(err).__name__}: {err}")
    run_memory(report, cupy, torch)
    report(f"done in {time.perf_counter() - t_start:.0f} s: "
           f"{'FAILED' if report.failed else 'ok'}")  # fmt: skip
    report.write(args.out)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
