"""The benchmark suite: its A/B mode (an old revision of chainrule, imported beside the working
tree's without sharing a module, and the table it prints), and its jit variants, skipped while
`cr.jit` is missing, checked against their peers with a stand-in `jit`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import benchmarks.__main__ as bench
from benchmarks import ab, harness
from benchmarks.__main__ import main
from benchmarks.registry import (
    JIT_ROUNDS, REGISTRY, Chainrule, Contender, Variant, Workload, chainrule_peer, jit_variant,
)  # fmt: skip
from benchmarks.workloads import w07

JIT_VARIANTS = {
    "W2": ["jit"],
    "W5": ["jit"],
    "W7": ["jit"],
    "W10": ["jit", "jit value_and_grad", "jit fusion off"],
    "W12": ["jit"],
    "W13": ["jit"],
    "C1": ["W5 loss", "W7 loss"],
}
ALL_JIT = [(wid, name) for wid, names in JIT_VARIANTS.items() for name in names]

needs_git = pytest.mark.skipif(not (ab.ROOT / ".git").exists(), reason="not a git checkout")


def test_rewrite_makes_imports_of_the_new_name():
    source = (
        "import chainrule\n"
        "import chainrule.numpy\n"
        "import numpy as np, chainrule.numpy as cnp  # chainrule\n"
        "    from chainrule.core import trace\n"
        "from chainrule import numpy\n"
        "import chainrulex, foo.chainrule\n"
        "_LAZY = {'explain': 'chainrule.transparency'}\n"
        'raise ValueError("chainrule.numpy.reshape: only order=C")\n'
        'importlib.import_module(f"chainrule.{name}")\n'
    )
    assert ab.rewrite(source, "cr_old").splitlines() == [
        "import cr_old as chainrule",
        "import cr_old.numpy, cr_old as chainrule",
        "import numpy as np, cr_old.numpy as cnp  # chainrule",
        "    from cr_old.core import trace",
        "from cr_old import numpy",
        "import chainrulex, foo.chainrule",
        "_LAZY = {'explain': 'cr_old.transparency'}",
        'raise ValueError("chainrule.numpy.reshape: only order=C")',
        'importlib.import_module(f"cr_old.{name}")',
    ]


@needs_git
def test_old_revision_shares_no_module_with_the_working_tree():
    import chainrule

    with ab.old_chainrule("HEAD") as old:
        assert old.package.startswith("chainrule_ab_") and old.cr is not chainrule
        assert old.cnp.sum is not chainrule.numpy.sum
        g = old.cr.grad(lambda x: old.cnp.sum(x**2))(np.arange(3.0))
        np.testing.assert_allclose(g, [0.0, 2.0, 4.0])
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == old.package and getattr(module, "__file__", None):
                assert Path(module.__file__).is_relative_to(old.path)
    assert old.path not in sys.path and old.package not in sys.modules


@needs_git
def test_ab_mode_prints_new_over_old(capsys):
    assert main(["--ab", "HEAD", "W2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "new/old" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("W2 ")]
    assert [r[1] for r in rows] == ["elementwise_grad", "Tensor", "jit"]
    assert all(r[-1] in ("MET", "MISSED", "skipped") for r in rows)
    import chainrule

    if not hasattr(chainrule, "jit"):  # neither package has it: skipped, with the reason
        assert rows[-1][-1] == "skipped" and "cr.jit is not available yet" in out


# --- jit variants: a view of chainrule with `jit` hidden, or replaced by a stand-in ---------


class _CrView:
    """chainrule's module, with `jit` hidden (`jit=None`) or replaced; everything else is the
    real module's (the module itself is never patched)."""

    def __init__(self, module: ModuleType, jit: Callable[..., Any] | None) -> None:
        self._module, self._jit = module, jit

    def __getattr__(self, name: str) -> Any:
        if name == "jit":
            if self._jit is None:
                raise AttributeError("jit")
            return self._jit
        return getattr(self._module, name)


@dataclass(frozen=True)
class _Lib(Chainrule):
    """The working tree's chainrule, seen through `_CrView`."""

    jit: Callable[..., Any] | None = None

    @property
    def cr(self) -> Any:
        return _CrView(super().cr, self.jit)


class StandIn:
    """A stand-in `cr.jit(f, **kw)` that returns `f` unchanged, recording the keywords."""

    def __init__(self) -> None:
        self.keywords: list[dict[str, Any]] = []

    def __call__(self, f: Callable[..., Any], **kw: Any) -> Callable[..., Any]:
        self.keywords.append(kw)
        return f


NO_JIT = _Lib()


def test_registry_lists_the_jit_variants_and_c1(capsys):
    for wid, names in JIT_VARIANTS.items():
        for name in names:
            v = REGISTRY[wid].variants[name]
            assert v.requires == ("jit",) and v.min_rounds >= JIT_ROUNDS >= 15, (wid, name)
            assert v.targets or name == "jit fusion off", (wid, name)
    assert REGISTRY["W10"].variants["value_and_grad"].targets == {"torch eager": 1.0}
    assert "numpy by hand" in REGISTRY["W7"].variants["grad"].peers
    assert REGISTRY["C1"].batch == 1 and REGISTRY["C1"].quick_rounds >= 15
    # chainrule contenders as peers of chainrule variants: fusion on ≥ 1.5 × faster than off
    w10 = REGISTRY["W10"].variants["jit"]
    assert w10.targets["cr.jit(fusion=False)"] == pytest.approx(1 / 1.5, abs=1e-3)
    assert w10.peers["cr.jit(fusion=False)"].on_chainrule
    assert REGISTRY["W12"].variants["jit"].peers["cr.hessian (eager)"].on_chainrule
    assert main(["--list"]) == 0
    listed = {tuple(line.split()[:2]) for line in capsys.readouterr().out.splitlines()}
    assert ("C1", "W5") in listed and ("C1", "W7") in listed and ("W10", "jit") in listed


@pytest.mark.parametrize(("wid", "name"), ALL_JIT)
def test_without_cr_jit_a_jit_row_is_skipped(wid, name, capsys):
    w = REGISTRY[wid]
    v = w.variants[name]
    # skipped before anything is built: the data is not even looked at
    bench.run_variant(w, name, v, None, rounds=1, target_s=1e-4, lib=NO_JIT)
    out = capsys.readouterr().out
    assert "- chainrule skipped (cr.jit is not available yet)" in out
    rows = [line for line in out.splitlines() if not line.startswith("  -")]
    assert rows[0].split()[:3] == [wid, *name.split(), "skipped"][:3]
    assert "MET" not in out and "MISSED" not in out and "ERROR" not in out
    for bound in v.targets.values():  # every target waits, visibly
        assert any(f"≤ {bound:g}" in r and r.endswith("skipped") for r in rows)


def test_ab_mode_skips_a_jit_row_when_a_package_lacks_jit(capsys):
    w = REGISTRY["W2"]
    v = w.variants["jit"]
    data = w.setup()
    bench.run_ab_variant(w, "jit", v, data, {"new": _Lib(jit=StandIn()), "old": NO_JIT}, 2, 1e-4)
    out = capsys.readouterr().out
    row = out.splitlines()[0].split()
    assert row[:3] == ["W2", "jit", "skipped"] and row[-1] == "skipped"
    assert "- old chainrule (chainrule) skipped (cr.jit is not available yet)" in out
    assert "- new" not in out
    # both have one: timed as usual
    both = {"new": _Lib(jit=StandIn()), "old": _Lib(jit=StandIn())}
    bench.run_ab_variant(w, "jit", v, data, both, 2, 1e-4)
    row = capsys.readouterr().out.splitlines()[0].split()
    assert row[:2] == ["W2", "jit"] and row[-1] in ("MET", "MISSED")


def _small(wid: str, data: Any) -> Any:
    """W10's 4M floats cut to 4096: the check is of the results, not of the time."""
    return data[:4096] if wid == "W10" else data


@pytest.mark.parametrize(("wid", "name"), [*ALL_JIT, ("W10", "value_and_grad")])
def test_each_jit_contender_agrees_with_its_peers(wid, name, capsys):
    w = REGISTRY[wid]
    v = w.variants[name]
    for peer in v.peers.values():
        for module in peer.needs:
            pytest.importorskip(module)
    jit = StandIn()
    _, skipped, wrong = bench._prepare(w, name, v, _small(wid, w.setup()), _Lib(jit=jit))
    assert skipped == {} and wrong == [], (skipped, capsys.readouterr().out)  # (the reasons)
    donated = {"W7": {"donate_argnums": 0}, "W14": {"donate_argnums": (0, 1)}}
    if name == "jit fusion off" or (wid, name) == ("W10", "jit"):
        assert {"fusion": False} in jit.keywords
    elif wid in donated and name == "jit":  # training steps donate what they replace
        assert jit.keywords and all(kw == donated[wid] for kw in jit.keywords)
    elif v.requires:
        assert jit.keywords and all(kw == {} for kw in jit.keywords)


def test_numpy_sgd_step_by_hand_matches_torch():
    pytest.importorskip("torch")
    d = w07.setup()
    by_hand, torch_step = w07.numpy_by_hand(d), w07.torch_eager(d)
    for _ in range(2):  # two steps: the second from updated parameters
        mine, theirs = harness.to_numpy(by_hand()), harness.to_numpy(torch_step())
    assert all(p.dtype == np.float32 for p in mine)
    assert harness.mismatch(theirs, mine, rtol=1e-5, atol=1e-7) is None
    assert harness.mismatch(d.params, mine, rtol=1e-5, atol=1e-7) is not None  # it moved


def _toy(jit_peer_needs_jit: bool = True) -> Workload:
    """A tiny workload whose jit variant has chainrule's eager grad and jit as peers."""

    def f(cnp: Any, x: Any) -> Any:
        return cnp.sum(cnp.sin(x) * x)

    def eager(lib: Chainrule, x: np.ndarray) -> Any:
        g = lib.cr.grad(lambda v: f(lib.cnp, v))
        return lambda: g(x)

    def jitted(lib: Chainrule, x: np.ndarray) -> Any:
        g = lib.cr.jit(lib.cr.grad(lambda v: f(lib.cnp, v)), fusion=False)
        return lambda: g(x)

    peers = {
        "cr.grad": chainrule_peer(eager),
        "cr.jit(fusion=False)": chainrule_peer(jitted, ("jit",) if jit_peer_needs_jit else ()),
        "numpy": Contender(lambda x: lambda: np.sin(x) + x * np.cos(x)),
    }
    targets = {"cr.grad": 0.3, "cr.jit(fusion=False)": 0.667}
    variants = {"jit": jit_variant(eager, peers, targets, 1e-12, 1e-12)}
    return Workload("T1", "toy", lambda: np.linspace(0, 1, 16), variants, rounds=3)


def test_a_chainrule_contender_can_be_the_peer_of_a_chainrule_variant(capsys):
    w = _toy()
    v = w.variants["jit"]
    bench.run_variant(w, "jit", v, w.setup(), rounds=2, target_s=1e-4, lib=_Lib(jit=StandIn()))
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if not line.startswith(("  -", "  ~"))]
    assert rows[0][:2] == ["T1", "jit"] and rows[0][4] == "cr.grad"
    assert [r[0] for r in rows[1:]] == ["cr.jit(fusion=False)", "numpy"]
    assert rows[0][-1] in ("MET", "MISSED") and rows[1][-1] in ("MET", "MISSED")
    assert "WARNING" not in out and "skipped" not in out
    assert "~ 2 rounds: these targets are gated over at least 15" in out


def test_a_chainrule_peer_that_needs_jit_is_skipped_without_it(capsys):
    w = _toy()
    v = Variant(w.variants["jit"].peers["cr.grad"].make, w.variants["jit"].peers, {"cr.grad": 1.0})
    bench.run_variant(w, "eager", v, w.setup(), rounds=1, target_s=1e-4, lib=NO_JIT)
    out = capsys.readouterr().out
    assert "- cr.jit(fusion=False) skipped (cr.jit is not available yet)" in out
    assert "ERROR" not in out


def test_jit_rows_run_at_least_15_rounds_unless_told(monkeypatch, capsys):
    used: dict[str, int] = {}

    def interleaved(calls, rounds, target_s, batch=None):  # no timing: record the rounds
        used[next(iter(calls))] = rounds
        return {name: [1.0] * rounds for name in calls}

    w = _toy()
    monkeypatch.setitem(REGISTRY, "T1", w)
    monkeypatch.setattr(bench, "Chainrule", lambda: _Lib(jit=StandIn()))
    monkeypatch.setattr(harness, "interleaved", interleaved)
    assert main(["T1", "--quick"]) == 0
    assert used == {"chainrule": 15}
    assert main(["T1", "--rounds", "4"]) == 0
    assert used == {"chainrule": 4} and "~ 4 rounds" in capsys.readouterr().out
