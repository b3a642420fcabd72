"""The table of NumPy names chainrule covers (`chainrule/numpy/_coverage.py`) is complete and
true, and `docs/numpy_support.md` is generated from it.

- every public name of the installed NumPy (``numpy.__all__`` without submodules,
  ``numpy.linalg``, ``numpy.fft``, ``ndarray`` methods, ufunc methods) is classified, once;
- a "supported" name exists in chainrule's namespace (not only through the fallback that runs
  NumPy's function on plain data), and NumPy's function dispatches to it on traced values;
- every other name has a reason from the closed set, and nothing the API contract or the
  issue names is "not yet";
- fft and the linalg names being written are classified by what chainrule defines when the
  test runs (the test passes either way);
- the committed docs equal the generated text.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import trace as _trace
from chainrule.core.trace import Tracer
from chainrule.numpy import _coverage as cov

NAMESPACES = ("numpy", "numpy.linalg", "numpy.fft", "ndarray", "ufunc")
DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "numpy_support.md"

# What the API contract ("Values and dtypes") and the issue name: never "not yet".
NAMED = {
    "numpy": """diff ediff1d gradient cross interp trapezoid convolve correlate polyval polyadd
        polysub polymul polyder polyint median percentile quantile nanmedian nanpercentile
        nanquantile nansum nanmean nanvar nanstd nanprod nanmax nanmin nanargmax nanargmin
        nancumsum nancumprod nan_to_num append insert delete r_ c_ select piecewise partition
        argpartition rollaxis dsplit hsplit vsplit linspace logspace geomspace ldexp frexp average
        ptp cov corrcoef outer flatnonzero where dot matmul einsum tensordot concatenate stack
        array asarray mean sum prod var std max min sin cos exp log sqrt tanh add multiply
        reshape transpose allclose savetxt""".split(),
    "numpy.linalg": "inv det slogdet solve cholesky eigh svd norm".split(),
    "ndarray": "sum mean reshape transpose".split(),
    "ufunc": list(cov.UFUNC_METHODS),
}


def _is_fallback(obj) -> bool:
    return "__getattr__.<locals>" in getattr(obj, "__qualname__", "")


@pytest.mark.parametrize("ns", NAMESPACES)
def test_every_numpy_name_is_classified(ns):
    missing = []
    for name in cov.numpy_names(ns):
        try:
            cov.status(ns, name)
        except KeyError:
            missing.append(name)
    assert not missing, f"{ns}: classify these NumPy names in _coverage.py: {missing}"


def test_no_name_is_in_both_lists_and_no_list_names_what_numpy_lacks():
    assert not cov.NUMPY_SUPPORTED & set(cov.NUMPY_UNSUPPORTED)
    assert not cov.METHODS_SUPPORTED & set(cov.METHODS_UNSUPPORTED)
    assert not cov.LINALG_SUPPORTED & cov.LINALG_PENDING
    have = set(cov.numpy_names("numpy")) | cov.PLATFORM
    assert not (cov.NUMPY_SUPPORTED | set(cov.NUMPY_UNSUPPORTED)) - have
    assert not (cov.LINALG_SUPPORTED | cov.LINALG_PENDING) - set(np.linalg.__all__)
    assert not (cov.METHODS_SUPPORTED | set(cov.METHODS_UNSUPPORTED)) - \
        set(cov.numpy_names("ndarray"))


def test_reasons_are_from_the_closed_set():
    for ns, name, st in cov.table():
        assert st == cov.SUPPORTED or st in cov.REASONS, (ns, name, st)
    assert set(cov.NUMPY_UNSUPPORTED.values()) <= set(cov.REASONS)
    assert set(cov.METHODS_UNSUPPORTED.values()) <= set(cov.REASONS)
    assert cov.REASONS == ("I/O", "introspection", "integer-valued: runs on values",
                           "deprecated", "not yet")


def test_supported_names_exist_in_chainrules_namespaces():
    missing = []
    for ns, name, st in cov.table():
        if st != cov.SUPPORTED:
            continue
        if ns == "numpy":
            ok = cov.defines(cnp, name) and not _is_fallback(getattr(cnp, name))
        elif ns == "numpy.linalg":
            ok = cov.defines(cnp.linalg, name)
        elif ns == "numpy.fft":
            ok = cov.defines(cnp.fft, name)
        elif ns == "ndarray":
            ok = hasattr(Tracer, name)
        else:
            ok = all(hasattr(getattr(cnp, u), name) for u in ("add", "multiply", "maximum",
                                                               "subtract", "arctan2", "hypot"))
        if not ok:
            missing.append(f"{ns}.{name}")
    assert not missing, f"classified as supported, but chainrule lacks: {missing}"


def test_numpys_functions_dispatch_to_the_supported_ones():
    missing = []
    for name in sorted(cov.NUMPY_SUPPORTED):
        ours, theirs = getattr(cnp, name, None), getattr(np, name, None)
        if ours is None or theirs is None or ours is theirs or isinstance(theirs, type):
            continue
        table = _trace.ufunc_handlers if isinstance(theirs, np.ufunc) else \
            _trace.function_handlers  # fmt: skip
        if callable(theirs) and hasattr(theirs, "__name__") and theirs not in table:
            missing.append(name)
    assert not missing, f"numpy.<name>(tracer) does not reach chainrule for: {missing}"


@pytest.mark.parametrize("ns", [n for n in NAMED])
def test_names_in_the_contract_and_the_issue_are_never_not_yet(ns):
    for name in NAMED[ns]:
        assert cov.status(ns, name) != cov.NOT_YET, (ns, name)
        if name not in ("savetxt", "allclose"):
            assert cov.status(ns, name) == cov.SUPPORTED, (ns, name)


def test_fft_and_pending_linalg_follow_what_chainrule_defines(monkeypatch):
    for name in cov.numpy_names("numpy.fft"):
        expected = cov.SUPPORTED if name in vars(cnp.fft) else cov.NOT_YET
        assert cov.status("numpy.fft", name) == expected
        assert cov.is_dynamic("numpy.fft", name)
    for name in cov.LINALG_PENDING:
        expected = cov.SUPPORTED if name in vars(cnp.linalg) else cov.NOT_YET
        assert cov.status("numpy.linalg", name) == expected
    # either way: a name that is not (or no longer) defined reads "not yet"
    monkeypatch.setitem(vars(cnp.fft), "rfftfreq", None)
    monkeypatch.delitem(vars(cnp.fft), "rfftfreq")
    monkeypatch.setitem(vars(cnp.linalg), "eig", None)
    monkeypatch.delitem(vars(cnp.linalg), "eig")
    assert cov.status("numpy.fft", "rfftfreq") == cov.NOT_YET
    assert cov.status("numpy.linalg", "eig") == cov.NOT_YET
    monkeypatch.setitem(vars(cnp.fft), "rfftfreq", lambda n, d=1.0: np.fft.rfftfreq(n, d))
    assert cov.status("numpy.fft", "rfftfreq") == cov.SUPPORTED


def test_unsupported_names_still_run_numpy_on_plain_data_and_refuse_tracers():
    assert cnp.gcd(12, 18) == 6
    assert cnp.bitwise_and(6, 3) == 2
    with pytest.raises(NotImplementedError, match="not differentiable yet"):
        cr.grad(lambda x: cnp.nextafter(x, 2.0))(1.0)


def test_dtypes_and_constants_are_numpys_own_objects():
    for name in ("float64", "uint16", "intp", "bool", "pi", "newaxis", "ndarray", "ScalarType"):
        assert getattr(cnp, name) is getattr(np, name)
    assert isinstance(np.float32(1), cnp.floating)


def _sections(text: str) -> list[tuple[str, str]]:
    """(section, line) for every line of the generated markdown."""
    out, section = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line
        out.append((section, line))
    return out


def _varying(section: str, line: str) -> bool:
    """A line whose content follows what chainrule defines at generation time."""
    for ns in ("numpy.linalg", "numpy.fft"):
        title = cov._TITLES[ns][0]
        if line.startswith(f"| {title} |"):  # the summary row
            return True
        if section == f"## {title}" and line.startswith("| `"):
            name = line.split("`")[1]
            return cov.is_dynamic(ns, name)
    return False


def test_committed_docs_are_the_generated_text():
    generated = cov.markdown()
    assert DOCS.exists(), "run: python -m chainrule.numpy._coverage > docs/numpy_support.md"
    committed = DOCS.read_text()
    if committed == generated:
        return
    a, b = _sections(committed), _sections(generated)
    stale = len(a) != len(b) or any(
        la != lb and not (sa == sb and _varying(sb, lb) and la.split("|")[1] == lb.split("|")[1])
        for (sa, la), (sb, lb) in zip(a, b)
    )  # fmt: skip
    assert not stale, ("docs/numpy_support.md is stale: run "
                       "python -m chainrule.numpy._coverage > docs/numpy_support.md")


def test_the_module_prints_the_docs():
    out = subprocess.run([sys.executable, "-m", "chainrule.numpy._coverage"], check=True,
                         capture_output=True, text=True).stdout
    assert out == cov.markdown()
    assert out.startswith("# NumPy support in chainrule\n")


def test_modules_are_not_in_the_table_and_random_is_chainrules():
    assert all(not isinstance(getattr(np, n), types.ModuleType) for n in cov.numpy_names("numpy"))
    assert cnp.random.__name__ == "chainrule.numpy.random"
    assert cnp.random.RandomState is np.random.RandomState  # what it lacks: NumPy's
