"""The jit mode of the test suite (tests/jit_mode.py, CHAINRULE_JIT_TESTS=1) works: its sample
(tests/jit_sample/) runs with the transformations jitted and its lists honoured, the real
lists (tests/jit_skips.py) name collected tests only and skip at most 5% of the selection, and
the bitwise comparison tells what differs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jit_mode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = "tests/jit_sample/sample_jit.py::"


def _pytest(tmp_path, *args, skips=None):
    """Run pytest in jit mode in a subprocess: (its report, its output)."""
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINRULE_JIT")}
    env.update(CHAINRULE_JIT_TESTS="1", CHAINRULE_JIT_REPORT=str(report), CI="")
    if skips:
        env["CHAINRULE_JIT_SKIPS"] = skips
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(report.read_text()), proc.stdout


def test_the_sample_runs_jitted_and_honours_its_lists(tmp_path):
    report, out = _pytest(tmp_path, "-rs", "tests/jit_sample/sample_jit.py",
                          skips="tests/jit_sample/skips.py")  # fmt: skip
    outcomes = {k.removeprefix(SAMPLE): v for k, v in report["outcomes"].items()}
    assert outcomes == {
        "test_grad_is_jitted": "passed",
        "test_every_transformation": "passed",
        "test_no_bitwise": "passed",
        "test_listed_skip": "skipped",
        "test_listed_xfail": "xfailed",
        "test_listed_not_jittable": "skipped",  # ran, with the eager call, reported skipped
        "test_unlisted_not_jittable": "failed",  # fell back but is not listed
        "test_listed_not_jittable_but_jitted": "failed",  # a stale entry
    }, out
    rec = {k.removeprefix(SAMPLE): v for k, v in report["records"].items()}
    assert rec["test_grad_is_jitted"]["misses"] == 1 and rec["test_grad_is_jitted"]["calls"] == 2
    assert rec["test_grad_is_jitted"]["compared"] == 2
    every = rec["test_every_transformation"]
    assert every["calls"] >= 15 and every["misses"] >= 15 and every["compared"] >= 10, every
    assert every["mismatches"] == [] and every["fallbacks"] == {}
    assert rec["test_no_bitwise"]["compared"] == 0 and rec["test_no_bitwise"]["calls"] == 1
    assert list(rec["test_listed_not_jittable"]["fallbacks"]) == [
        "an argument is a str, not an array"]  # fmt: skip
    assert "not jittable: a string argument" in out
    assert "bool()" in next(iter(rec["test_unlisted_not_jittable"]["fallbacks"]))
    assert "jit mode" in out and "jitted calls" in out  # the summary


def test_the_lists_name_selected_tests_and_skip_at_most_5_percent(tmp_path):
    files = [f"tests/{f}" for f in jit_mode.FILES]
    report, out = _pytest(tmp_path, "--co", *files)
    selection = report["selection"]
    assert {k.split("::")[0] for k in selection} == set(files), out[-2000:]
    for name, entries in jit_mode._LISTS.items():
        for rx, pattern, reason in entries:
            assert reason, pattern
            assert any(rx.fullmatch(k) for k in selection), f"{name}: {pattern!r} matches no test"
            if name == "XFAIL":
                assert reason.startswith("jit bug: "), pattern
    skipped = sum(v in ("skip", "not jittable") for v in selection.values())
    assert skipped <= jit_mode.MAX_SKIPPED * len(selection), (skipped, len(selection))


def test_the_plugin_is_loaded_only_in_jit_mode(pytestconfig):
    import chainrule as cr
    from chainrule.transforms import reverse

    assert os.environ.get("CHAINRULE_JIT_TESTS") or not pytestconfig.pluginmanager.has_plugin(
        "chainrule_jit_mode")  # fmt: skip
    assert cr.grad is reverse.grad


@pytest.mark.parametrize("a,b,kind", [
    (np.array([1.0, np.nan]), np.array([1.0, np.nan]), None),
    (np.float64(2.0), np.float64(2.0), None),
    ((np.ones(2), {"a": 1.0}), (np.ones(2), {"a": 1.0}), None),
    (np.array([0.0]), np.array([-0.0]), "signs"),
    (np.array([complex(1.0, 0.0)]), np.array([complex(1.0, -0.0)]), "signs"),
    (np.array(2.0), np.float64(2.0), "type"),
    (np.ones(2, np.float32), np.ones(2), "dtype"),
    (np.ones(2), np.ones(3), "shape"),
    ((np.ones(2),), [np.ones(2)], "structure"),
    (np.array([1.0, 2.0]), np.array([1.0, np.nextafter(2.0, 3.0)]), "values"),
])  # fmt: skip
def test_the_bitwise_comparison(a, b, kind):
    got = jit_mode._difference(a, b)
    assert (got if got is None else got.split(":")[0]) == kind, got


def test_the_patterns():
    rx = jit_mode._pattern("tests/test_x.py::test_a[*]")
    assert rx.fullmatch("tests/test_x.py::test_a[1-2]")
    assert not rx.fullmatch("tests/test_x.py::test_ab[1]")
    assert jit_mode._pattern("t.py::f[a-b]").fullmatch("t.py::f[a-b]")  # brackets are literal
