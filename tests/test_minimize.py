"""`chainrule.optimize.minimize`: SciPy's minimize with chainrule's derivatives (issue 10, item 4),
and its progress display and loss history (item 6)."""

import io
import sys

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint, root  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule.optimize import minimize, plot_history  # noqa: E402

# -- the first notebook's J(x) = x³ + x² − 6x + 1, from x = 3 -----------------------------

J = lambda x: x**3 + x**2 - 6 * x + 1
X_STAR = (-1 + np.sqrt(19)) / 3  # J'(x) = 3x² + 2x − 6 = 0, the local minimum

# per method: what it needs to reach x* to 1e-8 (SciPy's default tolerances are looser)
SETTINGS = {
    "BFGS": dict(tol=1e-10),
    "CG": {},
    "Newton-CG": {},
    "L-BFGS-B": dict(tol=1e-10),
    "TNC": {},
    # SLSQP's first step uses the unit Hessian: from x = 3 it lands at 3 − J'(3) = −24, where J
    # falls without bound (SciPy alone does the same); an inactive bound keeps it in the basin
    "SLSQP": dict(tol=1e-12, bounds=[(0.0, None)]),
    "trust-ncg": {},
    "trust-krylov": {},
    "trust-exact": {},
    "dogleg": {},
    "trust-constr": {},
    "Nelder-Mead": dict(tol=1e-10),
    "Powell": {},
    "COBYLA": dict(tol=1e-10),
    "COBYQA": {},
}


@pytest.mark.parametrize("method", list(SETTINGS))
def test_notebook_cubic_each_method(method):
    res = minimize(J, 3.0, method=method, **SETTINGS[method])
    assert res.success, res.message
    assert abs(res.x - X_STAR) < 1e-8
    assert isinstance(res.x, np.float64)  # the structure of x0: a scalar
    assert res.x_flat.shape == (1,) and res.x_flat.dtype == np.float64
    assert res.fun == pytest.approx(J(X_STAR), abs=1e-12)
    assert res.loss_history[0] == 19.0 and res.loss_history[-1] == pytest.approx(res.fun)


def test_slsqp_without_bounds_diverges_as_scipy_does():
    import scipy.optimize as so

    with np.errstate(all="ignore"):
        ours = minimize(J, 3.0, method="SLSQP")
        theirs = so.minimize(lambda x: J(x[0]), [3.0], jac=lambda x: 3 * x**2 + 2 * x - 6,
                             method="SLSQP")  # fmt: skip
    assert not ours.success and not theirs.success


def test_one_forward_and_one_backward_per_evaluation():
    calls = {"forward": 0, "backward": 0, "traced": 0}

    @cr.custom_vjp
    def tap(x):
        return x

    def tap_fwd(x):
        calls["forward"] += 1
        return x, None

    def tap_bwd(_, g):
        calls["backward"] += 1
        return (g,)

    tap.defvjp(tap_fwd, tap_bwd)

    def loss(p):
        calls["traced"] += not isinstance(p["a"], np.ndarray)
        a, b = tap(p["a"]), p["b"]
        return cnp.sum((a - 1.0) ** 2) + (b + 2.0) ** 2 + cnp.sum(a**4) * 0.1

    res = minimize(loss, {"a": np.zeros(3), "b": 0.0}, method="BFGS")
    assert res.success
    assert calls["forward"] == calls["backward"] == calls["traced"] == res.nfev == res.njev


def test_hessian_and_hvp_paths_are_used():
    for method in ["trust-exact", "dogleg", "trust-ncg", "Newton-CG", "trust-krylov",
                   "trust-constr"]:  # fmt: skip
        assert minimize(J, 3.0, method=method).nhev > 0, method
    # and the other choice, for the methods that take both
    for method in ["trust-ncg", "Newton-CG", "trust-krylov", "trust-constr"]:
        for hess in ["hessian", "hvp"]:
            res = minimize(J, 3.0, method=method, hess=hess)
            assert abs(res.x - X_STAR) < 1e-8, (method, hess)
    res = minimize(J, 3.0, method="trust-constr", hess=False, tol=1e-12)  # SciPy's BFGS update
    assert abs(res.x - X_STAR) < 1e-6


# -- a chain of springs under gravity -----------------------------------------------------
# N masses between fixed ends (0, 0) and (L, 0), N + 1 springs of stiffness k and rest length
# l0, each mass pulled down by m g: minimise the potential energy over the free 2-D positions.

N, L, K, MG = 8, 2.0, 5.0, 0.3


def chain_energy(p, l0=0.0):
    x = cnp.concatenate([cnp.zeros(1), p["x"], cnp.full(1, L)])
    y = cnp.concatenate([cnp.zeros(1), p["y"], cnp.zeros(1)])
    d = cnp.sqrt((x[1:] - x[:-1]) ** 2 + (y[1:] - y[:-1]) ** 2)
    return 0.5 * K * cnp.sum((d - l0) ** 2) + MG * cnp.sum(p["y"])


def chain_gradient(xy, l0):
    """The energy's gradient written by hand (for the reference solution)."""
    pts = np.vstack([[0.0, 0.0], xy.reshape(N, 2), [L, 0.0]])
    d = pts[1:] - pts[:-1]
    r = np.linalg.norm(d, axis=1)
    f = (K * (r - l0) / r)[:, None] * d  # the tension of each spring along it
    g = f[:-1] - f[1:]
    g[:, 1] += MG
    return g.ravel()


def straight_chain():
    return {"x": np.linspace(0, L, N + 2)[1:-1], "y": np.zeros(N)}


def hanging_chain_closed_form(j=None, c=None):
    """l0 = 0: the energy is quadratic; x is evenly spaced and y a discrete parabola
    (y_i = −(mg / 2k) i (N + 1 − i)), or with mass j held at height c, one parabola on each
    side of it between the heights at its ends."""
    i = np.arange(1, N + 1, dtype=float)
    x = L * i / (N + 1)
    if j is None:
        return x, -MG / (2 * K) * i * (N + 1 - i)
    a, b = np.where(i <= j + 1, 0.0, j + 1), np.where(i <= j + 1, j + 1, N + 1.0)
    ya, yb = np.where(i <= j + 1, 0.0, c), np.where(i <= j + 1, c, 0.0)
    y = ya + (yb - ya) * (i - a) / (b - a) - MG / (2 * K) * (i - a) * (b - i)
    return x, y


@pytest.mark.parametrize(
    "method", ["BFGS", "L-BFGS-B", "CG", "Newton-CG", "trust-ncg", "trust-krylov",
               "trust-exact", "dogleg", "trust-constr"],
)  # fmt: skip
def test_spring_chain_closed_form(method):
    res = minimize(chain_energy, straight_chain(), method=method, tol=1e-10)
    x, y = hanging_chain_closed_form()
    assert set(res.x) == {"x", "y"} and res.x["y"].shape == (N,)
    np.testing.assert_allclose(res.x["x"], x, atol=1e-7)
    np.testing.assert_allclose(res.x["y"], y, atol=1e-7)
    np.testing.assert_array_equal(res.x_flat, np.concatenate([res.x["x"], res.x["y"]]))


@pytest.mark.parametrize("method", ["BFGS", "trust-exact", "Newton-CG"])
def test_spring_chain_with_rest_length_against_reference(method):
    l0 = 0.2  # stretched springs: nonlinear, no closed form
    xy0 = np.column_stack([np.linspace(0, L, N + 2)[1:-1], np.zeros(N)]).ravel()
    ref = root(lambda z: chain_gradient(z, l0), xy0, tol=1e-14)
    assert ref.success and np.abs(chain_gradient(ref.x, l0)).max() < 1e-11
    ref_xy = ref.x.reshape(N, 2)
    res = minimize(chain_energy, straight_chain(), args=(l0,), method=method, tol=1e-11)
    np.testing.assert_allclose(res.x["x"], ref_xy[:, 0], atol=1e-7)
    np.testing.assert_allclose(res.x["y"], ref_xy[:, 1], atol=1e-7)


J_HELD, C_HELD = 2, -0.2  # mass 2 (0-based) held on the line y = −0.2 (above where it hangs)


@pytest.mark.parametrize(
    "method, form", [("SLSQP", "dict"), ("trust-constr", "dict"),
                     ("SLSQP", "nonlinear"), ("trust-constr", "nonlinear")],
)  # fmt: skip
def test_spring_chain_one_mass_on_a_line(method, form):
    if form == "dict":
        con = {"type": "eq", "fun": lambda p, c: p["y"][J_HELD] - c, "args": (C_HELD,)}
    else:
        con = NonlinearConstraint(lambda p: p["y"][J_HELD], C_HELD, C_HELD)
    res = minimize(chain_energy, straight_chain(), method=method, constraints=[con], tol=1e-12)
    x, y = hanging_chain_closed_form(J_HELD, C_HELD)
    assert y[J_HELD] == pytest.approx(C_HELD)
    np.testing.assert_allclose(res.x["x"], x, atol=1e-6)
    np.testing.assert_allclose(res.x["y"], y, atol=1e-6)


def test_spring_chain_floor_bounds_and_inequalities_agree():
    floor = -0.45  # above the lowest masses of the free chain (−0.48): some rest on it
    by_bounds = {}
    pytree_bounds = {"x": (None, None), "y": (floor, None)}
    for method in ["L-BFGS-B", "TNC", "SLSQP", "trust-constr"]:
        res = minimize(chain_energy, straight_chain(), method=method, bounds=pytree_bounds,
                       tol=1e-12)  # fmt: skip
        by_bounds[method] = res.x_flat
    flat_bounds = Bounds(np.r_[np.full(N, -np.inf), np.full(N, floor)], np.inf)
    res_flat = minimize(chain_energy, straight_chain(), method="L-BFGS-B", bounds=flat_bounds,
                        tol=1e-12)  # fmt: skip
    res_ineq = minimize(
        chain_energy,
        straight_chain(),
        method="SLSQP",
        tol=1e-12,
        constraints={"type": "ineq", "fun": lambda p: p["y"] - floor},
    )
    res_nl = minimize(
        chain_energy,
        straight_chain(),
        method="trust-constr",
        tol=1e-12,
        constraints=NonlinearConstraint(lambda p: p["y"], floor, np.inf),
    )
    ref = by_bounds["L-BFGS-B"]
    assert ref[N:].min() == pytest.approx(floor) and (np.abs(ref[N:] - floor) < 1e-8).sum() > 1
    for other in [*by_bounds.values(), res_flat.x_flat, res_ineq.x_flat, res_nl.x_flat]:
        np.testing.assert_allclose(other, ref, atol=2e-5)
    # KKT: the free coordinates have zero gradient, those on the floor are pushed down on it
    g = cr.grad(chain_energy)(res_ineq.x)
    on_floor = np.abs(res_ineq.x["y"] - floor) < 1e-6
    assert np.abs(g["x"]).max() < 1e-5 and np.abs(g["y"][~on_floor]).max() < 1e-5
    assert (g["y"][on_floor] > 0).all()


def test_constraint_jacobians_come_from_chainrule():
    seen = []

    def c(p):
        seen.append(type(p["y"]))
        return p["y"][J_HELD] - C_HELD

    minimize(chain_energy, straight_chain(), method="SLSQP", constraints={"type": "eq", "fun": c})
    assert any(t is not np.ndarray for t in seen)  # traced: its Jacobian was differentiated


def test_linear_constraint_on_the_flat_vector():
    A = np.zeros((1, 2 * N))
    A[0, N + J_HELD] = 1.0
    res = minimize(chain_energy, straight_chain(), method="trust-constr", tol=1e-12,
                   constraints=[LinearConstraint(A, C_HELD, C_HELD)])  # fmt: skip
    np.testing.assert_allclose(res.x["y"], hanging_chain_closed_form(J_HELD, C_HELD)[1], atol=1e-6)


# -- pytrees, arguments, callbacks, jit ---------------------------------------------------


def test_pytree_structures_and_dtypes():
    f = lambda p: (p[0] - 1.0) ** 2 + cnp.sum((p[1]["w"] - 2.0) ** 2) + (p[1]["s"] + 3) ** 2
    x0 = [np.float32(0.0), {"w": np.zeros((2, 2), dtype=np.float32), "s": 5}]  # ints converted
    res = minimize(f, x0, method="L-BFGS-B")
    assert isinstance(res.x, list) and isinstance(res.x[1], dict)
    assert isinstance(res.x[0], np.float64) and res.x[1]["w"].shape == (2, 2)
    assert res.x[1]["w"].dtype == np.float64 and isinstance(res.x[1]["s"], np.float64)
    np.testing.assert_allclose(res.x[1]["w"], 2.0, atol=1e-6)
    assert res.x[1]["s"] == pytest.approx(-3.0, abs=1e-6)
    assert res.x_flat.shape == (6,)
    assert np.array_equal(x0[1]["w"], np.zeros((2, 2)))  # x0 untouched


def test_integer_x0_is_converted():
    res = minimize(J, 3, method="BFGS", tol=1e-10)
    assert isinstance(res.x, np.float64) and abs(res.x - X_STAR) < 1e-8
    res = minimize(lambda v: cnp.sum((v - np.array([1.0, 2.0])) ** 2), np.array([3, 4]))
    assert res.x.dtype == np.float64 and np.allclose(res.x, [1, 2])


def test_args_pass_through():
    f = lambda x, a, b: cnp.sum((x - a) ** 2) * b
    res = minimize(f, np.zeros(3), args=(np.arange(3.0), 2.0), method="Newton-CG")
    np.testing.assert_allclose(res.x, np.arange(3.0), atol=1e-8)
    res = minimize(lambda x, a: (x - a) ** 2, 0.0, args=4.0)  # one argument, not in a tuple
    assert res.x == pytest.approx(4.0)


def test_callbacks_receive_pytrees_and_can_stop():
    seen = []
    res = minimize(chain_energy, straight_chain(), method="BFGS", callback=seen.append)
    assert len(seen) == res.nit and all(set(s) == {"x", "y"} for s in seen)
    results = []

    def cb(intermediate_result):
        results.append(intermediate_result)
        if len(results) == 3:
            raise StopIteration

    res = minimize(chain_energy, straight_chain(), method="L-BFGS-B", callback=cb)
    assert len(results) == 3 and "x" in results[0].x and results[0].x_flat.shape == (2 * N,)
    assert results[-1].fun == pytest.approx(res.fun) and not res.success
    tnc_seen = []  # TNC reports x only: the loss comes from the evaluations
    res = minimize(J, 3.0, method="TNC", callback=tnc_seen.append)
    assert len(tnc_seen) >= 3 and len(res.loss_history) == len(tnc_seen) + 1


def test_loss_history():
    res = minimize(chain_energy, straight_chain(), method="BFGS")
    h = res.loss_history
    assert h.dtype == np.float64 and len(h) == res.nit + 1
    assert h[0] == pytest.approx(float(chain_energy(straight_chain())))
    assert h[-1] == pytest.approx(res.fun) and np.all(np.diff(h) <= 1e-12)


def test_jit_gives_the_same_answer_and_traces_once():
    calls = [0]

    def f(p):
        calls[0] += 1
        return chain_energy(p)

    eager = minimize(chain_energy, straight_chain(), method="trust-ncg", tol=1e-10)
    res = minimize(f, straight_chain(), method="trust-ncg", tol=1e-10, jit=True)
    np.testing.assert_allclose(res.x_flat, eager.x_flat, atol=1e-10)
    assert res.nfev > 3 and calls[0] <= 3  # value-and-grad and the Hessian traced once each


# -- errors -------------------------------------------------------------------------------


def test_non_scalar_fun_is_a_clear_error():
    with pytest.raises(TypeError, match=r"fun must return a scalar.*shape \(3,\)"):
        minimize(lambda x: x**2, np.ones(3))
    with pytest.raises(TypeError, match=r"fun must return a scalar.*shape \(3,\)"):
        minimize(lambda x: x**2, np.ones(3), method="Nelder-Mead")
    with pytest.raises(TypeError, match="fun must return a scalar loss.*tuple"):
        minimize(lambda x: (x**2, x), 1.0)


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown method 'newton'.*BFGS"):
        minimize(J, 3.0, method="newton")
    with pytest.raises(ValueError, match="minimize_scalar"):
        minimize(J, 3.0, method="brent")
    with pytest.raises(TypeError, match="method must be"):
        minimize(J, 3.0, method=3)


def test_bad_x0_is_a_clear_error():
    with pytest.raises(TypeError, match=r"x0\['b'\] is complex"):
        minimize(J, {"a": 1.0, "b": 1j})
    with pytest.raises(TypeError, match=r"x0\[1\] must hold real numbers"):
        minimize(J, [1.0, "two"])
    with pytest.raises(ValueError, match="x0 has no parameters"):
        minimize(J, {})


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="does not take bounds"):
        minimize(J, 3.0, method="BFGS", bounds=[(0, 1)])
    with pytest.raises(ValueError, match="does not take constraints"):
        minimize(J, 3.0, method="BFGS", constraints={"type": "eq", "fun": J})
    with pytest.raises(ValueError, match="uses no second derivatives"):
        minimize(J, 3.0, method="BFGS", hess="hessian")
    with pytest.raises(ValueError, match="needs the full Hessian"):
        minimize(J, 3.0, method="dogleg", hess="hvp")
    with pytest.raises(ValueError, match=r"constraints\[0\]\['type'\]"):
        minimize(J, 3.0, method="SLSQP", constraints=[{"type": "le", "fun": J}])
    with pytest.raises(ValueError, match="bounds must be"):
        minimize(chain_energy, straight_chain(), method="L-BFGS-B", bounds=[(0, 1)])


# -- progress and plotting ----------------------------------------------------------------


def test_progress_plain_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm absent: the one-line display
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    res = minimize(J, 3.0, method="BFGS", progress=True)
    out = err.getvalue()
    assert out.startswith("\rminimize (BFGS): iteration 1, loss") and out.endswith("\n")
    assert f"iteration {res.nit}, loss {res.fun:.8g}" in out
    assert minimize(J, 3.0).success and err.getvalue() == out  # off by default


def test_progress_uses_tqdm_when_installed(fake_tqdm):
    bars = fake_tqdm
    res = minimize(J, 3.0, method="CG", progress=True, options={"maxiter": 50})
    (bar,) = bars
    assert bar.desc == "minimize (CG)" and bar.total == 50 and bar.closed
    assert bar.n == res.nit and bar.postfix == f"loss={res.fun:.6g}"


def test_plot_history(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    res = minimize(chain_energy, straight_chain(), method="BFGS")
    fig = plot_history(res, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert fig.axes[0].get_xlabel() == "iteration"
    assert plot_history([1.0, 1e-3, 1e-6]).axes[0].get_yscale() == "log"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="plot_history needs matplotlib"):
        plot_history(res)


def test_custom_method_gets_value_and_gradient():
    import scipy.optimize as so

    def descent(fun, x0, args=(), jac=None, callback=None, **options):
        assert jac is not None  # SciPy's wrapper of fun's (value, gradient)
        x = np.array(x0, dtype=float)
        for _ in range(200):
            v, g = fun(x), jac(x)
            x = x - 0.1 * g
            if callback is not None:
                callback(so.OptimizeResult(x=x, fun=v))
        return so.OptimizeResult(x=x, fun=fun(x), success=True, nit=200, nfev=200)

    res = minimize(lambda p: (p["a"] - 2.0) ** 2, {"a": 0.0}, method=descent)
    assert res.x["a"] == pytest.approx(2.0) and len(res.loss_history) == 201
