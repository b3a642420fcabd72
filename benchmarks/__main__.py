"""`python -m benchmarks [IDS...] [--rounds N] [--quick] [--profile] [--list] [--ab REV]`.

With `--ab REV`, every variant of the chosen workloads is timed on chainrule only: the working
tree's package ("new") against git revision REV's ("old", extracted with `git archive` and
imported beside it as `chainrule_ab_<sha7>`), interleaved, after checking that both give the
same result; each row reports new/old (target: ≤ 1.10).

A variant that needs what a package lacks (`cr.jit`, before it exists) is reported as skipped,
with the reason, in both modes. jit variants run at least 15 rounds (also with `--quick`); an
explicit `--rounds N` is obeyed, with a note when it is fewer.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import platform
import pstats
import sys
import time
from importlib import metadata
from typing import Any

import benchmarks.workloads  # noqa: F401  (fills REGISTRY)
from benchmarks import ab, harness
from benchmarks.registry import REGISTRY, Call, Chainrule, Variant, Workload

Columns = tuple[tuple[str, int, str], ...]  # (title, width, alignment: "<" text, ">" numbers)
COLUMNS: Columns = (("id", 4, "<"), ("variant", 18, "<"), ("chainrule µs", 17, ">"),
    ("peer", 23, "<"), ("peer µs", 17, ">"), ("ratio", 7, ">"), ("target", 7, ">"),
    ("status", 8, "<"))  # fmt: skip
AB_COLUMNS: Columns = (("id", 4, "<"), ("variant", 18, "<"), ("new µs", 17, ">"),
    ("old µs", 17, ">"), ("new/old", 7, ">"), ("target", 7, ">"), ("status", 8, "<"))  # fmt: skip
AB_TARGET = 1.10  # new/old: the rebuilt core may be at most 10% slower than the old one
NOISY = 0.25  # a spread above this flags the figures as unreliable


def _row(columns: Columns, *cells: str) -> str:
    return "  ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, columns, strict=True)).rstrip()


def _header(columns: Columns) -> None:
    print(_row(columns, *(c for c, _, _ in columns)))
    print(_row(columns, *("-" * w for _, w, _ in columns)))


def _warn_noisy(samples: dict[str, list[float]]) -> None:
    if noisy := [n for n, xs in samples.items() if harness.spread(xs) > NOISY]:
        names = ", ".join(noisy)
        print(f"  ~ noisy (spread > {NOISY:.0%}): {names}; rerun when the machine is quiet")


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
    w: Workload, name: str, v: Variant, data: Any, lib: Chainrule
) -> tuple[dict[str, Call], dict[str, str], list[str]]:
    """Build and check every contender: (calls, peer -> why skipped, peers with wrong results).

    chainrule's contender and the peers that are chainrule contenders run on `lib`."""
    calls: dict[str, Call] = {"chainrule": v.chainrule(lib, data)}
    ref = harness.to_numpy(calls["chainrule"]())
    skipped: dict[str, str] = {}
    wrong: list[str] = []
    for peer, c in v.peers.items():
        if why := c.unavailable(lib):
            skipped[peer] = why
            continue
        try:
            call = c.build(lib, data)
            out = harness.to_numpy(call())
        except Exception as err:  # a broken peer is reported, never counted as a pass
            skipped[peer] = f"failed: {type(err).__name__}: {err}"
            continue
        calls[peer] = call
        if v.rtol is not None and (why := harness.mismatch(ref, out, v.rtol, v.atol)):
            print(f"  ! WARNING {w.id} {name}: chainrule's result differs from {peer}'s: {why}")
            wrong.append(peer)
    return calls, skipped, wrong


def _target(bound: float | None) -> str:
    return f"≤ {bound:g}" if bound is not None else ""


def _few_rounds(v: Variant, rounds: int) -> None:
    if rounds < v.min_rounds:
        print(f"  ~ {rounds} rounds: these targets are gated over at least {v.min_rounds}")


def run_variant(
    w: Workload, name: str, v: Variant, data: Any, rounds: int, target_s: float,
    lib: Chainrule | None = None,
) -> None:  # fmt: skip
    """Check and time the variant's contenders on `lib` (default: the working tree's chainrule),
    and print its rows: one per peer."""
    lib = Chainrule() if lib is None else lib
    if why := v.unavailable(lib):  # e.g. no cr.jit yet: every target of the variant waits
        for i, peer in enumerate(v.peers):
            head = (w.id, name, "skipped") if i == 0 else ("", "", "")
            bound = v.targets.get(peer)
            status = "skipped" if bound is not None else ""
            print(_row(COLUMNS, *head, peer, "", "", _target(bound), status))
        print(f"  - chainrule skipped ({why})")
        sys.stdout.flush()
        return
    try:
        calls, skipped, wrong = _prepare(w, name, v, data, lib)
    except Exception as err:
        print(_row(COLUMNS, w.id, name, "ERROR", "", "", "", "", "MISSED"))
        print(f"  ! chainrule failed: {type(err).__name__}: {err}")
        return
    # each peer head to head with chainrule, alone, in alternating rounds (see the README)
    samples: dict[str, list[float]] = {"chainrule": []}
    ratios: dict[str, float] = {}
    for peer in [p for p in calls if p != "chainrule"]:
        two = harness.interleaved({"chainrule": calls["chainrule"], peer: calls[peer]},
                                  rounds, target_s, w.batch)  # fmt: skip
        samples["chainrule"] += two["chainrule"]
        samples[peer] = two[peer]
        ratios[peer] = harness.paired_ratio(two["chainrule"], two[peer])
    if len(calls) == 1:  # no peer ran: chainrule's time alone
        samples["chainrule"] = harness.interleaved(calls, rounds, target_s, w.batch)["chainrule"]
    mine = samples["chainrule"]
    first = True
    for peer in v.peers:
        bound = v.targets.get(peer)
        target = _target(bound)
        if peer in skipped:
            cells = [peer, "skipped", "", target, "skipped" if bound is not None else ""]
        else:
            ratio = ratios[peer]
            status = "" if bound is None else "MET" if ratio <= bound else "MISSED"
            if peer in wrong and bound is not None:
                status = "WRONG"
            cells = [peer, _us(samples[peer]), f"{ratio:.2f}", target, status]
        head = (w.id, name, _us(mine)) if first else ("", "", "")
        print(_row(COLUMNS, *head, *cells))
        first = False
    for peer, why in skipped.items():
        print(f"  - {peer} skipped ({why[:120]})")
    _few_rounds(v, rounds)
    _warn_noisy(samples)
    sys.stdout.flush()


def run_ab_variant(
    w: Workload, name: str, v: Variant, data: Any, libs: dict[str, Chainrule], rounds: int,
    target_s: float,
) -> None:  # fmt: skip
    """Time the variant's chainrule contender on each package of `libs` ("new", "old").

    Its peers are not run, chainrule contenders among them included (each is, or can be, a
    variant of its own). When a package lacks what the variant needs, the row is skipped."""
    if lacks := {side: why for side, lib in libs.items() if (why := v.unavailable(lib))}:
        cells = ["skipped" if side in lacks else "" for side in libs]
        print(_row(AB_COLUMNS, w.id, name, *cells, "", f"≤ {AB_TARGET:.2f}", "skipped"))
        for side, why in lacks.items():
            print(f"  - {side} chainrule ({libs[side].package}) skipped ({why})")
        sys.stdout.flush()
        return
    calls: dict[str, Call] = {}
    outs: dict[str, Any] = {}
    errors = []
    for side, lib in libs.items():
        try:
            calls[side] = v.chainrule(lib, data)
            outs[side] = harness.to_numpy(calls[side]())
        except Exception as err:
            why = f"{type(err).__name__}: {err}"
            errors.append(f"  ! {side} chainrule ({lib.package}) failed: {why}")
    if errors:
        print(_row(AB_COLUMNS, w.id, name, "ERROR", "", "", "", "MISSED"), *errors, sep="\n")
        return
    status = ""
    if v.rtol is not None and (why := harness.mismatch(outs["old"], outs["new"], v.rtol, v.atol)):
        print(f"  ! WARNING {w.id} {name}: the new result differs from the old one: {why}")
        status = "WRONG"
    samples = harness.interleaved(calls, rounds + rounds % 2, target_s, w.batch)  # pairs
    ratio = harness.paired_ratio(samples["new"], samples["old"])
    status = status or ("MET" if ratio <= AB_TARGET else "MISSED")
    us = (_us(samples["new"]), _us(samples["old"]))
    print(_row(AB_COLUMNS, w.id, name, *us, f"{ratio:.2f}", f"≤ {AB_TARGET:.2f}", status))
    _few_rounds(v, rounds)
    _warn_noisy(samples)
    sys.stdout.flush()


def profile_variant(w: Workload, name: str, v: Variant, data: Any, seconds: float) -> None:
    if why := v.unavailable(Chainrule()):
        print(f"\n=== {w.id} {name}: chainrule skipped ({why})")
        return
    call = v.chainrule(Chainrule(), data)
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
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    ap.add_argument("ids", nargs="*", help=f"workloads (default: all of {', '.join(REGISTRY)})")
    ap.add_argument("--rounds", type=int, help="rounds per workload (default: per workload)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and shorter batches")
    ap.add_argument("--profile", action="store_true", help="cProfile chainrule's calls instead")
    ap.add_argument("--list", action="store_true", help="list workloads and variants")
    ap.add_argument("--ab", metavar="REV", help="A/B mode: the working tree's chainrule against "
                    "git revision REV's (e.g. HEAD), new/old ≤ 1.10")  # fmt: skip
    args = ap.parse_args(argv)

    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.ab and args.profile:
        ap.error("--ab and --profile do not combine")
    ids = [i.upper() for i in args.ids] or list(REGISTRY)
    if unknown := [i for i in ids if i not in REGISTRY]:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    if args.list:
        for w in REGISTRY.values():
            for name, v in w.variants.items():
                needs = f"; needs {', '.join(f'cr.{r}' for r in v.requires)}" if v.requires else ""
                print(f"{w.id:4}  {name:18}  {w.title}  (peers: {', '.join(v.peers)}{needs})")
        return 0

    with contextlib.ExitStack() as stack:
        libs: dict[str, Chainrule] = {}
        if args.ab:
            try:
                libs = {"new": Chainrule(), "old": stack.enter_context(ab.old_chainrule(args.ab))}
            except RuntimeError as err:
                ap.error(f"--ab {args.ab}: {err}")
        _print_header(args, libs)
        target_s = 0.005 if args.quick else 0.01
        for wid in ids:
            w = REGISTRY[wid]
            rounds = args.rounds or (w.quick_rounds if args.quick else w.rounds)
            data = w.setup()
            for name, v in w.variants.items():
                n = rounds if args.rounds else max(rounds, v.min_rounds)  # jit: at least 15
                if libs:
                    run_ab_variant(w, name, v, data, libs, n, target_s)
                elif args.profile:
                    profile_variant(w, name, v, data, seconds=1.0 if args.quick else 3.0)
                else:
                    run_variant(w, name, v, data, n, target_s)
    return 0


def _print_header(args: argparse.Namespace, libs: dict[str, Chainrule]) -> None:
    print(f"# {platform.python_implementation()} {platform.python_version()}, {_versions()}")
    load = os.getloadavg()[0]
    fresh, again = harness.first_touch_ms()
    print(f"# {os.cpu_count()} CPUs, load average {load:.2f}; writing 16 MB of fresh memory: "
          f"{fresh:.1f} ms, again: {again:.1f} ms")  # fmt: skip
    if load > 0.5:
        print("# ! the machine is busy: multithreaded peers (torch, BLAS, XLA) suffer most from it")
    if os.environ.get("OPENBLAS_CORETYPE"):  # `make bench` unsets it
        print(f"# ! OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} holds NumPy's OpenBLAS "
              "(and so chainrule) to an older kernel than this processor's; unset it and "
              "OPENBLAS_L2_SIZE for this command (make bench does)")  # fmt: skip
    if libs:
        for side, lib in libs.items():
            print(f"# A/B {side}: {lib.package} from {os.path.dirname(lib.cr.__file__)}")
        print("# median µs per call ± half-IQR; new/old = median over pairs of rounds (each "
              "package first once) of new/old")  # fmt: skip
        _header(AB_COLUMNS)
    elif not args.profile:
        print("# median µs per call ± half-IQR; ratio = median over rounds of chainrule/peer")
        _header(COLUMNS)


if __name__ == "__main__":
    sys.exit(main())
