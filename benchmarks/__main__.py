"""`python -m benchmarks [IDS...] [--rounds N] [--quick] [--profile] [--list]`."""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from importlib import metadata
from typing import Any

import benchmarks.workloads  # noqa: F401  (fills REGISTRY)
from benchmarks import harness
from benchmarks.registry import REGISTRY, Call, Variant, Workload

COLUMNS = (("id", 4), ("variant", 16), ("chainrule µs", 17), ("peer", 19), ("peer µs", 17),
           ("ratio", 7), ("target", 7), ("status", 8))  # fmt: skip
NOISY = 0.25  # a spread above this flags the figures as unreliable
LEFT = {0, 1, 3, 7}  # text columns; the others are numbers


def _row(*cells: str) -> str:
    padded = (
        c.ljust(w) if i in LEFT else c.rjust(w)
        for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True))
    )
    return "  ".join(padded).rstrip()


def _us(samples: list[float]) -> str:
    m = harness.median(samples)
    return (f"{m:,.1f}" if m < 1000 else f"{m:,.0f}") + f" ±{harness.spread(samples):.0%}"


def _versions() -> str:
    found = []
    for pkg in ("numpy", "chainrule", "torch", "jax", "autograd", "micrograd"):
        try:
            found.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            found.append(f"{pkg} (not installed)")
    return ", ".join(found)


def _prepare(
    w: Workload, name: str, v: Variant, data: Any
) -> tuple[dict[str, Call], dict[str, str], list[str]]:
    """Build and check every contender: (calls, peer -> why skipped, peers with wrong results)."""
    calls: dict[str, Call] = {"chainrule": v.chainrule.make(data)}
    ref = harness.to_numpy(calls["chainrule"]())
    skipped: dict[str, str] = {}
    wrong: list[str] = []
    for peer, c in v.peers.items():
        if missing := c.missing():
            skipped[peer] = f"not installed: {', '.join(missing)}"
            continue
        try:
            call = c.make(data)
            out = harness.to_numpy(call())
        except Exception as err:  # a broken peer is reported, never counted as a pass
            skipped[peer] = f"failed: {type(err).__name__}: {err}"
            continue
        calls[peer] = call
        if v.rtol is not None and (why := harness.mismatch(ref, out, v.rtol, v.atol)):
            print(f"  ! WARNING {w.id} {name}: chainrule's result differs from {peer}'s: {why}")
            wrong.append(peer)
    return calls, skipped, wrong


def run_variant(
    w: Workload, name: str, v: Variant, data: Any, rounds: int, target_s: float
) -> None:
    try:
        calls, skipped, wrong = _prepare(w, name, v, data)
    except Exception as err:
        print(_row(w.id, name, "ERROR", "", "", "", "", "MISSED"))
        print(f"  ! chainrule failed: {type(err).__name__}: {err}")
        return
    samples = harness.interleaved(calls, rounds, target_s)
    mine = samples["chainrule"]
    first = True
    for peer in v.peers:
        bound = v.targets.get(peer)
        target = f"≤ {bound:g}" if bound is not None else ""
        if peer in skipped:
            cells = [peer, "skipped", "", target, "skipped" if bound is not None else ""]
        else:
            ratio = harness.paired_ratio(mine, samples[peer])
            status = "" if bound is None else "MET" if ratio <= bound else "MISSED"
            if peer in wrong and bound is not None:
                status = "WRONG"
            cells = [peer, _us(samples[peer]), f"{ratio:.2f}", target, status]
        head = (w.id, name, _us(mine)) if first else ("", "", "")
        print(_row(*head, *cells))
        first = False
    for peer, why in skipped.items():
        print(f"  - {peer} skipped ({why[:120]})")
    noisy = [n for n, xs in samples.items() if harness.spread(xs) > NOISY]
    if noisy:
        names = ", ".join(noisy)
        print(f"  ~ noisy (spread > {NOISY:.0%}): {names}; rerun when the machine is quiet")
    sys.stdout.flush()


def profile_variant(w: Workload, name: str, v: Variant, data: Any, seconds: float) -> None:
    call = v.chainrule.make(data)
    call()
    t0 = time.perf_counter()
    call()
    n = max(1, round(seconds / (time.perf_counter() - t0)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        call()
    prof.disable()
    print(f"\n=== {w.id} {name}: chainrule, cProfile over {n} calls, top 15 by tottime")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("ids", nargs="*", help=f"workloads (default: all of {', '.join(REGISTRY)})")
    ap.add_argument("--rounds", type=int, help="rounds per workload (default: per workload)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and shorter batches")
    ap.add_argument("--profile", action="store_true", help="cProfile chainrule's calls instead")
    ap.add_argument("--list", action="store_true", help="list workloads and variants")
    args = ap.parse_args(argv)

    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    ids = [i.upper() for i in args.ids] or list(REGISTRY)
    if unknown := [i for i in ids if i not in REGISTRY]:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    if args.list:
        for w in REGISTRY.values():
            for name, v in w.variants.items():
                print(f"{w.id:4}  {name:16}  {w.title}  (peers: {', '.join(v.peers)})")
        return 0

    target_s = 0.005 if args.quick else 0.01
    print(f"# {platform.python_implementation()} {platform.python_version()}, {_versions()}")
    load = os.getloadavg()[0]
    fresh, again = harness.first_touch_ms()
    print(f"# {os.cpu_count()} CPUs, load average {load:.2f}; writing 16 MB of fresh memory: "
          f"{fresh:.1f} ms, again: {again:.1f} ms")  # fmt: skip
    if load > 0.5:
        print("# ! the machine is busy: multithreaded peers (torch, BLAS, XLA) suffer most from it")
    if not args.profile:
        print("# median µs per call ± half-IQR; ratio = median over rounds of chainrule/peer")
        print(_row(*(c for c, _ in COLUMNS)))
        print(_row(*("-" * w for _, w in COLUMNS)))
    for wid in ids:
        w = REGISTRY[wid]
        rounds = args.rounds or (w.quick_rounds if args.quick else w.rounds)
        data = w.setup()
        for name, v in w.variants.items():
            if args.profile:
                profile_variant(w, name, v, data, seconds=1.0 if args.quick else 3.0)
            else:
                run_variant(w, name, v, data, rounds, target_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
