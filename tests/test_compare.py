"""cr.compare (AD against finite differences and SymPy) and chainrule.testing.taylor_test."""

import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.transparency.compare import DEFAULT_STEPS, Comparison, compare
from chainrule.testing import taylor_test


def J(x):
    return x**3 + x**2 - 6 * x + 1


def dJ(x):
    return 3 * x**2 + 2 * x - 6


def g(x):
    return cnp.tanh(4 * cnp.cos(x) ** 2)


def _check_orders(c: Comparison):
    assert c.orders["forward"] == pytest.approx(1, abs=0.3)
    assert c.orders["central"] == pytest.approx(2, abs=0.3)
    # the complex step: no cancellation, so machine precision for small h
    err = c.errors["complex"]
    assert c.best["complex"][1] <= 1e-15 * abs(c.ad)
    assert np.all(err[c.steps <= 1e-8] <= 3e-15 * abs(c.ad))
    # forward and central differences lose digits to round-off as h shrinks (the V shape)
    for m in ("forward", "central"):
        assert c.errors[m][-1] > 1e3 * c.best[m][1]
        assert 1e-12 < c.best[m][0] < 1e-1


@pytest.mark.parametrize("x", [-2.5, 0.5, 1.0, 3.0])
def test_polynomial_orders(x):
    c = compare(J, x, symbolic=False)
    assert c.ad == dJ(x)
    assert c.direction is None
    np.testing.assert_array_equal(c.steps, DEFAULT_STEPS)
    _check_orders(c)


def test_tanh_cos_at_7():
    c = compare(g, 7.0, symbolic=False)
    assert c.ad == pytest.approx(-8 * np.cos(7) * np.sin(7) / np.cosh(4 * np.cos(7) ** 2) ** 2)
    _check_orders(c)


def test_the_notebooks_numbers():
    # forward differences of J at x = 1: ≈ 4e-2 with dx = 0.01, ≈ 4e-3 with dx = 0.001: order 1
    c = compare(J, 1, methods=("forward",), symbolic=False)
    e = dict(zip(c.steps, c.errors["forward"]))
    assert e[1e-2] == pytest.approx(4e-2, rel=0.05)
    assert e[1e-3] == pytest.approx(4e-3, rel=0.05)
    assert e[1e-2] / e[1e-3] == pytest.approx(10, rel=0.05)
    assert list(c.errors) == ["forward"]


def test_array_argument_directional_derivative():
    x = np.array([0.3, 1.2, -0.7, 2.0])
    f = lambda x: cnp.sum(cnp.sin(x) * x**2)
    c = compare(f, x, symbolic=False)
    v = c.direction
    assert v.shape == (4,) and np.linalg.norm(v) == pytest.approx(1)
    assert np.array_equal(v, compare(f, x, symbolic=False).direction)  # seeded
    assert not np.array_equal(v, compare(f, x, symbolic=False, seed=1).direction)
    exact = np.cos(x) * x**2 + 2 * x * np.sin(x)
    np.testing.assert_allclose(c.gradient, exact, rtol=1e-14)
    assert c.ad == pytest.approx(exact @ v, rel=1e-14)
    _check_orders(c)


def test_several_arguments():
    f = lambda w, b: cnp.sum(cnp.tanh(w * 0.5 + b))
    c = compare(f, (np.array([1.0, -2.0]), 0.3), symbolic=False)
    assert c.direction.shape == (3,)
    gw, gb = c.gradient
    assert c.ad == pytest.approx(np.concatenate([np.ravel(gw), [gb]]) @ c.direction, rel=1e-14)
    _check_orders(c)
    assert "w of shape (2,), b = 0.3" in str(c)


def test_symbolic_agreement():
    sp = pytest.importorskip("sympy")
    c = compare(J, 1.7, sympy_fun=J)
    s = c.symbolic
    x = sp.Symbol("x", real=True)
    assert sp.simplify(s.derivative - (3 * x**2 + 2 * x - 6)) == 0
    assert s.source == "sympy_fun"
    assert s.error <= 1e-15 * abs(s.value)
    c = compare(g, 7.0, sympy_fun=lambda x: sp.tanh(4 * sp.cos(x) ** 2))
    assert c.symbolic.error <= 2e-15 * abs(c.ad)
    assert "|AD - symbolic|" in str(c)


def test_symbolic_array_argument():
    sp = pytest.importorskip("sympy")
    x = np.array([0.3, 1.2, -0.7])
    c = compare(lambda x: cnp.sum(cnp.sin(x) * x**2), x,
                sympy_fun=lambda x: sum(sp.sin(t) * t**2 for t in x))  # fmt: skip
    assert len(c.symbolic.derivative) == 3
    assert c.symbolic.error <= 1e-14 * abs(c.ad)


def test_symbolic_through_to_sympy_when_present(monkeypatch):
    sp = pytest.importorskip("sympy")
    monkeypatch.setattr(cr, "to_sympy", None, raising=False)  # as if absent
    c = compare(J, 2.0)
    assert c.symbolic is None and "sympy_fun" in c.notes["symbolic"]
    x = sp.Symbol("x")
    monkeypatch.setattr(cr, "to_sympy", lambda f, *a: J(x), raising=False)
    c = compare(J, 2.0)
    assert c.symbolic.source == "chainrule.to_sympy" and c.symbolic.value == 10.0
    try:  # the real one, when the package has it
        from chainrule.transparency.symbolic import to_sympy
    except Exception:  # absent (or not importable): that part is skipped
        to_sympy = None
    if to_sympy is not None:
        monkeypatch.setattr(cr, "to_sympy", to_sympy, raising=False)
        c = compare(lambda x, y: x * cnp.sin(y) + y**2, (2.0, 0.5))
        assert c.symbolic.source == "chainrule.to_sympy"
        assert c.symbolic.error <= 1e-15 * abs(c.ad)
    c = compare(lambda x: cnp.sum(x**2), np.ones(2))  # arrays: not for to_sympy
    assert c.symbolic is None and "scalar arguments" in c.notes["symbolic"]
    monkeypatch.setattr(cr, "to_sympy", lambda f, *a: 1 / 0, raising=False)
    c = compare(J, 2.0)  # a failing converter is reported, not raised
    assert c.symbolic is None and "ZeroDivisionError" in c.notes["symbolic"]
    assert c.orders["central"] == pytest.approx(2, abs=0.3)


def test_complex_step_not_applicable():
    # hypot has no complex loop in NumPy (cnp.maximum, by contrast, orders complex numbers
    # lexicographically and works): TypeError
    c = compare(lambda x: cnp.hypot(x, 1.0), 1.5, symbolic=False)
    assert "complex" not in c.errors and "complex" not in c.orders
    assert "TypeError" in c.notes["complex"] and "hypot" in c.notes["complex"]
    assert "complex: not applicable" in str(c)
    assert c.orders["central"] == pytest.approx(2, abs=0.3)  # the others still run
    # float() of a NumPy complex warns (ComplexWarning, taken as an error) instead of raising
    c = compare(lambda x: float(cr.stop_gradient(x)) * 0.0 + x**2, 3.0, symbolic=False)
    assert "ComplexWarning" in c.notes["complex"]
    # abs() silently drops the imaginary part: the complex step would give 0, so it is refused
    c = compare(lambda x: cnp.abs(x) ** 3, 1.5, symbolic=False)
    assert "complex" not in c.errors and "real" in c.notes["complex"]


def test_text_and_html():
    c = compare(J, 1.0, symbolic=False)
    s = str(c)
    table = [ln for ln in s.splitlines() if " | " in ln]
    assert len(table) == 1 + len(c.steps) + 3  # header, one row per h, order, range, best
    bars = {tuple(i for i, ch in enumerate(ln) if ch == "|" and ln[i - 1] == " ") for ln in table}
    assert len(bars) == 1  # aligned columns
    assert "observed order | 1.00" in s
    h = c._repr_html_()
    assert h.count("<tr>") == len(table) and "<th>forward</th>" in h


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown method"):
        compare(J, 1.0, methods=("backward",))
    with pytest.raises(TypeError, match="scalar output"):
        compare(lambda x: cnp.sin(x) + 0 * cnp.sum(x), np.ones(2), methods=("forward",))


def test_figure(tmp_path):
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    c = compare(g, 7.0, symbolic=False)
    path = tmp_path / "compare.png"
    fig = c.figure(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [lb.split()[0] for lb in labels[:3]] == ["forward", "central", "complex"]
    assert any("round-off" in lb for lb in labels)
    assert {"reference slope 1", "reference slope 2"} <= set(labels)
    assert ax.get_xlabel() == "step size h"


def test_figure_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install chainrule\[viz\]"):
        compare(J, 1.0, symbolic=False).figure()


# --- taylor_test ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f,x",
    [
        (J, 1.0),
        (g, 7.0),
        (lambda x: cnp.sum(cnp.sin(x) * x**2), np.array([0.3, 1.2, -0.7])),
        (lambda x: cnp.sum(cnp.exp(x)), np.full(3, 20.0)),
        (lambda w, b: cnp.sum(cnp.tanh(w * 0.5 + b)), (np.array([1.0, -2.0]), 0.3)),
    ],
)
def test_taylor_test_passes_for_the_gradient(f, x):
    t = taylor_test(f, x, assert_order=True)
    assert t.ok and bool(t)
    assert t.order == pytest.approx(2, abs=0.1)
    assert np.median(t.rates1) == pytest.approx(1, abs=0.1)  # r1 = O(eps)
    assert len(t.eps) >= 5 and np.all(np.diff(t.eps) < 0)
    assert "passed" in str(t)


def test_taylor_test_catches_a_wrong_gradient():
    x = np.array([0.3, 1.2, -0.7])
    f = lambda x: cnp.sum(cnp.sin(x) * x**2)
    wrong = lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x) + 1e-3  # off by 1e-3 in each entry
    t = taylor_test(f, x, grad=wrong)
    assert not t.ok
    assert t.order == pytest.approx(1, abs=0.1)
    assert t.grad_error == pytest.approx(1e-3 * abs(np.sum(t.direction)), rel=0.05)
    with pytest.raises(AssertionError, match=r"FAILED .* order of r2 1\.0") as info:
        taylor_test(f, x, grad=wrong, assert_order=True)
    assert "the gradient looks wrong" in str(info.value)
    # the right gradient supplied by hand passes
    right = lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert taylor_test(f, x, grad=right, assert_order=True).ok


def test_taylor_test_direction_and_linear_functions():
    f = lambda x: cnp.sum(x**2)
    x = np.array([1.0, 2.0])
    t = taylor_test(f, x, direction=np.array([3.0, 0.0]))  # normalised to (1, 0)
    assert t.ok and t.r1[0] == pytest.approx(2 * t.eps[0] + t.eps[0] ** 2)
    lin = taylor_test(lambda x: 3.0 * x, 2.0)  # r2 is round-off from the start: nothing to fault
    assert lin.ok and np.isnan(lin.order) and "round-off" in str(lin)
    assert not taylor_test(lambda x: 3.0 * x, 2.0, grad=lambda x: 2.9).ok
    with pytest.raises(ValueError, match="direction"):
        taylor_test(f, x, direction=np.ones(3))
