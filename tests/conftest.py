"""Fixtures and settings shared by the test files.

Under CI=true a test skipped because a peer library (PyTorch, JAX, SciPy, SymPy, Matplotlib,
Rich) is missing fails instead: the comparisons must run in CI (`make test` installs the peers
there). A contributor without them sees the skips. CHAINRULE_FULL_TESTS=1 adds the heavy
cases that CI samples (large matrices).
"""

import gc
import os
import re
import sys
import types

import pytest

os.environ.setdefault("JAX_ENABLE_X64", "1")  # the cross-checks compare in float64

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_PEER_SKIP = re.compile(
    r"could not import '(torch|jax|jaxlib|optax|scipy|sympy|matplotlib|rich|nbclient|"
    r"nbformat|ipykernel|tqdm|array_api_strict)[.']|"
    r"(PyTorch|JAX|SciPy|SymPy|Matplotlib) is not installed"
)


def _fail_peer_skip(report) -> None:
    if CI and report.skipped and _PEER_SKIP.search(str(report.longrepr)):
        report.outcome = "failed"
        report.longrepr = (
            f"a comparison was skipped in CI ({report.longrepr}); CI=true make test installs "
            "the peers it needs"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_peer_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_peer_skip(outcome.get_result())


def switch_on(name: str):
    """A fixture that turns the ``cr.config`` switch `name` on for a test (off after)."""

    @pytest.fixture
    def fixture():
        import chainrule as cr

        cr.config.update(name, True)
        yield
        cr.config.update(name, False)

    return fixture


debug_nans = switch_on("debug_nans")
graphs_on = switch_on("jit_cuda_graphs")


@pytest.fixture
def no_gc():
    """Run the test with the cyclic garbage collector off: only reference counting frees."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# jit mode (tests/jit_mode.py): CHAINRULE_JIT_TESTS=1 runs the functional tests again with the
# transformations jitted
def pytest_configure(config):
    if os.environ.get("CHAINRULE_JIT_TESTS", "") in ("1", "true", "yes"):
        import jit_mode

        if not config.pluginmanager.is_registered(jit_mode):
            config.pluginmanager.register(jit_mode, "chainrule_jit_mode")


@pytest.fixture
def fake_tqdm(monkeypatch):
    """A stand-in `tqdm` module whose bars record what they were told (the list of bars)."""
    bars = []

    class FakeBar:
        def __init__(self, total=None, desc=None, unit=None, file=None, **kw):
            self.total, self.desc, self.unit, self.file = total, desc, unit, file
            self.n, self.postfix, self.closed = 0, "", False
            bars.append(self)

        def set_postfix_str(self, s, refresh=True):
            self.postfix = s

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    pkg, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
    auto.tqdm, pkg.auto = FakeBar, auto
    monkeypatch.setitem(sys.modules, "tqdm", pkg)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    return bars
