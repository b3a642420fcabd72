"""`chainrule.progress` (issue 10, item 6): the bar over training loops, `cr.minimize` and
`cr.compare` sweeps (tqdm when installed, a plain line without it, off by default), and the
loss curve with its figure (matplotlib optional, a clear error without it)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import progress as P
from chainrule.progress import LossCurve, Progress, progress


@pytest.fixture(autouse=True)
def _default_switch(monkeypatch):
    """Each test starts from the default: no set_enabled choice, no environment variable."""
    monkeypatch.setattr(P, "_enabled", None)
    monkeypatch.delenv("CHAINRULE_PROGRESS", raising=False)


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)




def _quadratic_descent(bar, w):
    for _ in bar:
        loss = (w**2).sum()
        w.grad = None
        loss.backward()
        with cr.no_grad():
            w -= 0.25 * w.grad
        bar.log(loss)


# -- the switch -------------------------------------------------------------------------------


def test_off_by_default_and_nothing_is_written(capsys, fake_tqdm):
    bar = progress(range(5), desc="train")
    assert not bar.shown and bar.backend is None and len(bar) == 5
    assert [i for i in bar] == [0, 1, 2, 3, 4]
    assert bar.n == 5 and bar.closed and fake_tqdm == []
    assert capsys.readouterr() == ("", "")


def test_set_enabled_and_the_environment_variable(monkeypatch, no_tqdm):
    assert not P.enabled()
    monkeypatch.setenv("CHAINRULE_PROGRESS", "1")
    assert P.enabled() and progress(range(1), file=io.StringIO()).shown
    P.set_enabled(False)  # the explicit choice wins over the environment
    assert not P.enabled() and not progress(range(1)).shown
    assert progress(range(1), enable=True, file=io.StringIO()).shown  # and enable= over both
    P.set_enabled(None)
    assert P.enabled()
    monkeypatch.setenv("CHAINRULE_PROGRESS", "off")
    assert not P.enabled()
    with pytest.raises(TypeError, match="True, False or None"):
        P.set_enabled("yes")


# -- the plain line (tqdm missing) -----------------------------------------------------------------


def test_plain_line_without_tqdm(no_tqdm):
    out = io.StringIO()
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    bar = progress(range(12), desc="train", enable=True, file=out)
    assert bar.backend == "plain"
    _quadratic_descent(bar, w)
    text = out.getvalue()
    assert text.startswith("\rtrain: iteration 1/12, loss 5 (") and text.endswith(" s)\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert last.startswith(f"train: iteration 12/12, loss {bar.curve.losses[-1]:.8g} (")
    assert bar.closed and len(bar.curve) == 12 and list(bar.curve.steps) == list(range(12))
    assert np.allclose(bar.curve.losses, 5 * 0.25 ** np.arange(12))


def test_plain_line_refreshes_at_most_ten_times_a_second(no_tqdm):
    out = io.StringIO()
    bar = Progress(total=5000, enable=True, file=out)
    for _ in range(5000):
        bar.update()
    bar.close()
    seconds = float(out.getvalue().split("(")[-1].split(" s)")[0])
    assert out.getvalue().count("\r") <= 2 + 10 * (seconds + 0.1)


def test_plain_line_to_stderr_without_total(no_tqdm, capsys):
    with Progress(enable=True) as bar:
        bar.update(3)
    err = capsys.readouterr().err
    assert err.startswith("\riteration 3 (") and err.endswith("\n")
    bar.close()  # a second close writes nothing more
    assert capsys.readouterr().err == ""


# -- tqdm ---------------------------------------------------------------------------------------


def test_tqdm_when_installed(fake_tqdm):
    out = io.StringIO()
    w = cr.tensor([3.0], requires_grad=True)
    bar = progress(range(4), desc="fit", enable=True, file=out)
    _quadratic_descent(bar, w)
    (tq,) = fake_tqdm
    assert bar.backend == "tqdm" and (tq.total, tq.desc, tq.unit, tq.file) == (4, "fit", "it", out)
    assert tq.n == 4 and tq.closed and tq.postfix == f"loss={bar.curve.losses[-1]:.6g}"


def test_the_real_tqdm(monkeypatch):
    pytest.importorskip("tqdm")
    out = io.StringIO()
    bar = progress(range(3), desc="real", enable=True, file=out)
    for step in bar:
        bar.log(1.0 / (step + 1))
    assert bar.backend == "tqdm" and "real" in out.getvalue() and "3/3" in out.getvalue()


# -- cr.minimize and cr.compare -----------------------------------------------------------------


def J(x):
    return x**3 + x**2 - 6 * x + 1


def test_minimize_follows_the_switch(no_tqdm, monkeypatch):
    pytest.importorskip("scipy")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    res = cr.minimize(J, 3.0, method="BFGS")
    assert res.success and err.getvalue() == ""  # off by default
    P.set_enabled(True)
    res = cr.minimize(J, 3.0, method="BFGS")
    out = err.getvalue()
    assert out.startswith("\rminimize (BFGS): iteration 1, loss") and out.endswith("\n")
    assert f"iteration {res.nit}, loss {res.fun:.8g}" in out
    n = len(out)
    cr.minimize(J, 3.0, method="BFGS", progress=False)  # an explicit False wins
    assert len(err.getvalue()) == n


def test_minimize_with_tqdm_and_a_maxiter(fake_tqdm):
    pytest.importorskip("scipy")
    res = cr.minimize(J, 3.0, method="CG", progress=True, options={"maxiter": 50})
    (bar,) = fake_tqdm
    assert bar.desc == "minimize (CG)" and bar.total == 50 and bar.closed
    assert bar.n == res.nit and bar.postfix == f"loss={res.fun:.6g}"


def test_compare_sweep_shows_its_evaluations(no_tqdm, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    f = lambda x: cnp.tanh(4 * cnp.cos(x) ** 2)  # noqa: E731
    quiet = cr.compare(f, 7.0, symbolic=False)
    assert err.getvalue() == ""
    c = cr.compare(f, 7.0, symbolic=False, progress=True, steps=[1e-1, 1e-2, 1e-3])
    total = 3 * (1 + 2 + 1)  # forward, central (two sides), complex step
    last = err.getvalue().rstrip("\n").split("\r")[-1]
    assert last.startswith(f"compare (f): evaluation {total}/{total} (")
    assert c.ad == quiet.ad


def test_compare_with_tqdm(fake_tqdm):
    cr.compare(lambda x: x**3, 2.0, symbolic=False, progress=True, methods=("central",),
               steps=[1e-2, 1e-3])  # fmt: skip
    (bar,) = fake_tqdm
    assert bar.total == 4 and bar.n == 4 and bar.closed and bar.unit == "evaluation"


# -- the loss curve -------------------------------------------------------------------------------


def test_loss_curve_records_numbers_arrays_and_tensors():
    c = LossCurve()
    assert repr(c) == "LossCurve(empty)" and len(c) == 0
    c.append(cr.tensor(2.0, requires_grad=True) * 2)
    c.append(np.float32(1.5))
    c.append(np.array([0.5]), step=10)
    c.extend(np.array([[0.25, 0.125]]))
    assert list(c.steps) == [0, 1, 10, 11, 12] and c.steps.dtype == np.int64
    assert list(c.losses) == [4.0, 1.5, 0.5, 0.25, 0.125]
    assert repr(c) == "LossCurve(5 losses, last 0.125 at step 12, min 0.125 at step 12)"
    c.append(float("nan"))
    assert "min 0.125 at step 12" in repr(c)
    for bad in ("1.0", [1.0, 2.0], None):
        with pytest.raises(TypeError, match="a loss must be a number"):
            c.append(bad)
    with pytest.raises(TypeError, match="step must be an int"):
        c.append(1.0, step=1.5)
    assert len(LossCurve(iter([3.0, 2.0]))) == 2


def test_loss_curve_plot(tmp_path):
    pytest.importorskip("matplotlib")
    c = LossCurve([1.0, 1e-2, 1e-4, 1e-6], title="fit")
    fig = c.plot(tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step" and ax.get_title() == "fit"
    assert np.array_equal(ax.lines[0].get_ydata(), c.losses)
    assert LossCurve([3.0, 2.0, 1.0]).plot().axes[0].get_yscale() == "linear"
    assert c.plot(logy=False, title="t").axes[0].get_yscale() == "linear"
    assert LossCurve([-1.0, 1e3]).plot().axes[0].get_yscale() == "linear"
    assert c._repr_png_().startswith(b"\x89PNG")
    assert "<svg" in c._repr_svg_()
    assert LossCurve()._repr_png_() is None  # nothing to draw: the text repr


def test_loss_curve_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    c = LossCurve([1.0, 0.5])
    with pytest.raises(ImportError, match=r"LossCurve.plot needs matplotlib: pip install"):
        c.plot()
    assert c._repr_png_() is None and c._repr_svg_() is None  # Jupyter shows the text


def test_minimize_history_as_a_curve():
    pytest.importorskip("scipy")
    res = cr.minimize(J, 3.0, method="BFGS")
    c = LossCurve(res.loss_history, title="J")
    assert len(c) == res.nit + 1 and c.losses[-1] == res.fun


# -- the Progress object ---------------------------------------------------------------------------


def test_progress_object_errors_and_iterables():
    with pytest.raises(ValueError, match="total must be a non-negative int"):
        Progress(total=-1)
    with pytest.raises(ValueError, match="total must be a non-negative int"):
        Progress(total=2.5)
    with pytest.raises(TypeError, match="wraps no iterable"):
        iter(Progress(total=3)).__next__()
    with pytest.raises(TypeError, match="no total"):
        len(progress(x for x in range(3)))
    gen_bar = progress((x for x in range(3)), total=3)
    assert list(gen_bar) == [0, 1, 2] and gen_bar.total == 3
    bar = progress(range(10))
    for i in bar:
        if i == 3:
            break
    del i
    assert bar.n == 3  # the update after a break does not happen: three iterations done
    with pytest.raises(ZeroDivisionError):
        with Progress(total=2) as b:
            b.update(1 // 0)
    assert b.closed
