"""The TensorFlow-style face: `cr.Variable` and `cr.GradientTape`, with the notebook's
TensorFlow cells (seed 001) checked against closed forms and SymPy."""

from __future__ import annotations

import gc
import math
import threading
import weakref

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def val(t):
    """The value of a chainrule Tensor (gradients from a tape are Tensors) as NumPy."""
    assert isinstance(t, cr.Tensor), type(t)
    return t.detach().numpy()


# --- Variable --------------------------------------------------------------------------------


def test_variable_basics():
    x = cr.Variable(7.0)
    assert isinstance(x, cr.Tensor)
    assert x.dtype == np.float64 and x.shape == ()
    assert x.requires_grad and x.is_leaf and x.trainable
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a == 7.0
    a[...] = 1.0  # a copy, as TensorFlow gives
    assert x.numpy() == 7.0
    v = cr.Variable([1.0, 2.0])
    assert v.shape == (2,) and v.dtype == np.float64
    assert cr.Variable(np.float32(7.0)).dtype == np.float32


def test_variable_assign():
    v = cr.Variable([1.0, 2.0])
    assert v.assign([3.0, 4.0]) is v
    np.testing.assert_array_equal(v.numpy(), [3.0, 4.0])
    v.assign_add([1.0, -1.0])
    np.testing.assert_array_equal(v.numpy(), [4.0, 3.0])
    v.assign_add(cr.tensor([0.5, 0.5]))
    np.testing.assert_array_equal(v.numpy(), [4.5, 3.5])
    v.assign_sub([0.5, 0.5])
    np.testing.assert_array_equal(v.numpy(), [4.0, 3.0])
    assert v.requires_grad and v.is_leaf
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    # a gradient step with assign_sub, then the tape sees the new value
    with cr.GradientTape() as tape:
        y = (v * v).sum()
    v.assign_sub(0.25 * tape.gradient(y, v))
    np.testing.assert_array_equal(v.numpy(), [2.0, 1.5])
    with cr.GradientTape() as tape:
        y = (v**3).sum()
    np.testing.assert_allclose(val(tape.gradient(y, v)), 3 * np.array([2.0, 1.5]) ** 2)


def test_variable_watched_automatically():
    x = cr.Variable([1.0, -2.0, 3.0])
    with cr.GradientTape() as tape:
        y = (x**2).sum()
    g = tape.gradient(y, x)
    assert isinstance(g, cr.Tensor) and not g.requires_grad
    np.testing.assert_array_equal(val(g), [2.0, -4.0, 6.0])


def test_non_trainable_variable_is_not_watched():
    c = cr.Variable(3.0, trainable=False)
    x = cr.Variable(2.0)
    with cr.GradientTape() as tape:
        y = c * x
    gc_, gx = tape.gradient(y, [c, x])
    assert gc_ is None
    assert float(gx) == 3.0


def test_notebook_tanh_4cos2_at_7():
    th = math.tanh(4 * math.cos(7.0) ** 2)
    expect = (1 - th**2) * 8 * math.cos(7.0) * -math.sin(7.0)
    x = cr.Variable(7.0)
    with cr.GradientTape(persistent=False) as tape:
        t = cnp.tanh(4 * cnp.cos(x) ** 2)
    assert float(tape.gradient(t, x)) == pytest.approx(expect, rel=1e-13)
    x32 = cr.Variable(np.float32(7.0))
    with cr.GradientTape() as tape:
        t = cnp.tanh(4 * cnp.cos(x32) ** 2)
    g = tape.gradient(t, x32)
    assert g.dtype == np.float32
    assert float(g) == pytest.approx(expect, rel=1e-5)


# --- persistence ---------------------------------------------------------------------------


def test_non_persistent_tape_second_gradient_is_a_clear_error():
    x = cr.Variable(2.0)
    with cr.GradientTape() as tape:
        y = x**3
    assert float(tape.gradient(y, x)) == 12.0
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, x)


def test_persistent_tape_gives_several_gradients():
    x = cr.Variable(2.0)
    with cr.GradientTape(persistent=True) as tape:
        y = x**3
        z = cnp.sin(y)
    assert float(tape.gradient(y, x)) == 12.0
    assert float(tape.gradient(y, x)) == 12.0
    assert float(tape.gradient(z, x)) == pytest.approx(math.cos(8.0) * 12.0, rel=1e-14)
    assert float(tape.gradient(z, y)) == pytest.approx(math.cos(8.0), rel=1e-14)


# --- watch ---------------------------------------------------------------------------------


def test_watch_a_constant():
    c = cr.tensor([1.0, 2.0])
    with cr.GradientTape() as tape:
        tape.watch(c)
        y = (c**2).sum()
    np.testing.assert_array_equal(val(tape.gradient(y, c)), [2.0, 4.0])
    d = cr.tensor(3.0)
    with cr.GradientTape() as tape:
        y = d**2
    assert tape.gradient(y, d) is None  # never watched
    with pytest.raises(TypeError, match="Tensor"):
        with cr.GradientTape() as tape:
            tape.watch(3.0)


def test_watch_does_not_change_the_constant_outside_the_tape():
    # In TensorFlow a watched constant stays a constant: after the tape it converts to NumPy
    # and computations on it record nothing.
    c = cr.tensor([1.0, 2.0])
    with cr.GradientTape() as tape:
        tape.watch(c)
        y = (c**2).sum()
    np.testing.assert_array_equal(val(tape.gradient(y, c)), [2.0, 4.0])
    np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
    assert not (c * 2).requires_grad


def test_watch_accessed_variables_false():
    a, b = cr.Variable(2.0), cr.Variable(3.0)
    with cr.GradientTape(watch_accessed_variables=False, persistent=True) as tape:
        tape.watch(a)
        f = a * a * b
    ga, gb = tape.gradient(f, [a, b])
    assert float(ga) == 12.0
    assert gb is None
    assert "watch" in tape.why_none(f, b)
    with cr.GradientTape(watch_accessed_variables=False) as tape:
        f = a * b
    assert tape.gradient(f, [a, b]) == [None, None]


# --- sources and targets -------------------------------------------------------------------


def test_sources_as_a_value_a_list_a_tuple_and_a_dict_pytree():
    a, b = cr.Variable(2.0), cr.Variable([1.0, 3.0])
    with cr.GradientTape(persistent=True) as tape:
        f = a * a * cnp.sum(b**2)
    da, db = 2 * 2.0 * 10.0, 4.0 * 2 * np.array([1.0, 3.0])
    assert float(tape.gradient(f, a)) == da
    g = tape.gradient(f, [a, b])
    assert isinstance(g, list) and len(g) == 2
    assert float(g[0]) == da
    np.testing.assert_array_equal(val(g[1]), db)
    g = tape.gradient(f, (b, a))
    assert isinstance(g, tuple)
    np.testing.assert_array_equal(val(g[0]), db)
    g = tape.gradient(f, {"a": a, "rest": [b, {"again": a}]})
    assert set(g) == {"a", "rest"}
    assert float(g["a"]) == da and float(g["rest"][1]["again"]) == da
    np.testing.assert_array_equal(val(g["rest"][0]), db)


def test_several_targets_are_summed():
    x = cr.Variable([1.0, 2.0])
    with cr.GradientTape() as tape:
        y1 = (x**2).sum()
        y2 = (x**3).sum()
    np.testing.assert_array_equal(val(tape.gradient([y1, y2], x)), [2 + 3, 4 + 12])


def test_non_scalar_target_gives_the_gradient_of_its_sum():
    # TensorFlow: the gradient of a non-scalar target is that of the sum of its elements
    x = cr.Variable([1.0, 2.0, 3.0])
    with cr.GradientTape() as tape:
        y = x * x
    np.testing.assert_array_equal(val(tape.gradient(y, x)), [2.0, 4.0, 6.0])


def test_output_gradients():
    xv = np.array([1.0, 2.0, 3.0])
    x = cr.Variable(xv)
    with cr.GradientTape() as tape:
        y = cnp.sin(x) * x
    w = np.array([1.0, 0.0, 2.0])
    g = tape.gradient(y, x, output_gradients=cr.tensor(w))
    np.testing.assert_allclose(val(g), w * (np.cos(xv) * xv + np.sin(xv)), rtol=1e-14)


def test_output_gradients_as_a_numpy_array():
    xv = np.array([1.0, 2.0, 3.0])
    x = cr.Variable(xv)
    with cr.GradientTape() as tape:
        y = x * x
    w = np.array([1.0, 0.0, 2.0])
    np.testing.assert_array_equal(val(tape.gradient(y, x, output_gradients=w)), 2 * xv * w)


def test_output_gradients_must_match_the_targets():
    x = cr.Variable([1.0, 2.0])
    with cr.GradientTape() as tape:
        y1 = x * 2
        y2 = x * 3
    with pytest.raises((RuntimeError, ValueError), match="output_gradients"):
        tape.gradient([y1, y2], x, output_gradients=[cr.ones(2)])


def test_notebook_accumulation_rule_through_intermediate_values():
    x = cr.Variable(7.0)
    with cr.GradientTape(persistent=True) as tape:
        y1 = x**2
        y2 = cnp.cos(x)
        y3 = cnp.arctan(x)
        z = y1 * y2 / y3
    dz = float(tape.gradient(z, x))
    dz_dy = [float(tape.gradient(z, y)) for y in (y1, y2, y3)]
    dy_dx = [float(tape.gradient(y, x)) for y in (y1, y2, y3)]
    # closed forms
    v1, v2, v3 = 49.0, math.cos(7.0), math.atan(7.0)
    assert dz_dy == pytest.approx([v2 / v3, v1 / v3, -v1 * v2 / v3**2], rel=1e-14)
    assert dy_dx == pytest.approx([14.0, -math.sin(7.0), 1 / 50], rel=1e-14)
    assert dz == pytest.approx(sum(a * b for a, b in zip(dz_dy, dy_dx)), rel=1e-13)
    closed = (14 * v2 - 49 * math.sin(7.0)) / v3 - 49 * v2 / v3**2 / 50
    assert dz == pytest.approx(closed, rel=1e-13)
    # all of them in one call, with the intermediates as sources
    g = tape.gradient(z, [x, y1, y2, y3])
    assert [float(t) for t in g] == pytest.approx([dz, *dz_dy], rel=1e-14)


def fonction_complexe(x, y, z, atan, cos):
    a = atan(x / y)
    b = cos(z**2 - x)
    return x * y * a * b / z + a - b


def test_notebook_fonction_complexe_against_sympy():
    sympy = pytest.importorskip("sympy")
    xs, ys, zs = sympy.symbols("x y z")
    f = fonction_complexe(xs, ys, zs, sympy.atan, sympy.cos)
    subs = {xs: 7, ys: 5, zs: 2}
    expect = [float(sympy.diff(f, s).evalf(subs=subs, n=30)) for s in (xs, ys, zs)]
    x, y, z = cr.Variable(7.0), cr.Variable(5.0), cr.Variable(2.0)
    with cr.GradientTape() as tape:
        f = fonction_complexe(x, y, z, cnp.arctan, cnp.cos)
    df_dx, df_dy, df_dz = tape.gradient(f, [x, y, z])
    assert [float(df_dx), float(df_dy), float(df_dz)] == pytest.approx(expect, rel=1e-13)
    assert float(f) == pytest.approx(float(fonction_complexe(7.0, 5.0, 2.0, math.atan, math.cos)))


# --- stop_recording, unconnected sources, why_none -----------------------------------------


def test_stop_recording():
    v = cr.Variable([1.0, 2.0, 3.0])
    with cr.GradientTape(persistent=True) as tape:
        with tape.stop_recording():
            y = v * v
        z = (y * v).sum()  # y is a constant here
        assert cr.is_grad_enabled()
    assert not y.requires_grad
    assert tape.gradient(y, v) is None
    np.testing.assert_array_equal(val(tape.gradient(z, v)), [1.0, 4.0, 9.0])


def test_unconnected_sources():
    v, u = cr.Variable([1.0, 2.0]), cr.Variable([[1.0, 2.0, 3.0]])
    with cr.GradientTape(persistent=True) as tape:
        y = (v * v).sum()
    gv, gu = tape.gradient(y, [v, u])
    np.testing.assert_array_equal(val(gv), [2.0, 4.0])
    assert gu is None
    gv, gu = tape.gradient(y, [v, u], unconnected_gradients="zero")
    np.testing.assert_array_equal(val(gv), [2.0, 4.0])
    assert isinstance(gu, cr.Tensor) and gu.shape == (1, 3) and gu.dtype == np.float64
    np.testing.assert_array_equal(val(gu), np.zeros((1, 3)))


def test_why_none_names_the_reason():
    x = cr.Variable(2.0)
    unrelated = cr.Variable(5.0)
    const = cr.tensor(3.0)
    with cr.GradientTape(persistent=True) as tape:
        y = x * const
        with tape.stop_recording():
            s = x * 2
    assert tape.gradient(y, const) is None
    assert tape.gradient(s, x) is None
    assert tape.gradient(y, unrelated) is None
    m_const = tape.why_none(y, const)
    m_stop = tape.why_none(s, x)
    m_unrel = tape.why_none(y, unrelated)
    assert "constant" in m_const and "watch" in m_const
    assert "stop_recording" in m_stop
    assert "does not depend" in m_unrel
    assert len({m_const, m_stop, m_unrel}) == 3
    assert "connected" in tape.why_none(y, x)


# --- higher order, jacobian ----------------------------------------------------------------


def test_nested_tapes_for_second_derivatives():
    x = cr.Variable(2.0)
    with cr.GradientTape() as t2:
        with cr.GradientTape() as t1:
            y = x**3
        dy = t1.gradient(y, x)
    d2y = t2.gradient(dy, x)
    assert float(dy) == 12.0
    assert float(d2y) == 12.0


def test_three_nested_tapes():
    xv = 0.7
    x = cr.Variable(xv)
    with cr.GradientTape() as t3:
        with cr.GradientTape() as t2:
            with cr.GradientTape() as t1:
                y = cnp.sin(x) * x
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    s, c = math.sin(xv), math.cos(xv)
    assert float(d1) == pytest.approx(c * xv + s, rel=1e-14)
    assert float(d2) == pytest.approx(2 * c - s * xv, rel=1e-14)
    assert float(d3) == pytest.approx(-3 * s - c * xv, rel=1e-14)


def test_tape_jacobian():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((2, 3))
    vv = np.array([1.0, 2.0, 3.0])
    v = cr.Variable(vv)
    with cr.GradientTape(persistent=True) as tape:
        y = v**2
        z = cr.tensor(A) @ v
    np.testing.assert_array_equal(val(tape.jacobian(y, v)), np.diag(2 * vv))
    jz = tape.jacobian(z, v)
    assert jz.shape == (2, 3)
    np.testing.assert_allclose(val(jz), A, rtol=1e-15)


def test_tape_jacobian_non_persistent():
    vv = np.array([0.5, 1.5])
    v = cr.Variable(vv)
    with cr.GradientTape() as tape:
        y = cnp.sin(v) * v[0]
    expect = np.diag(np.cos(vv) * vv[0])
    expect[:, 0] += np.sin(vv)
    np.testing.assert_allclose(val(tape.jacobian(y, v)), expect, rtol=1e-14)


# --- tapes and grad mode -------------------------------------------------------------------


def test_tape_records_inside_no_grad_and_restores_the_mode():
    x = cr.Variable(3.0)
    with cr.no_grad():
        with cr.GradientTape() as tape:
            y = x * x
        assert not cr.is_grad_enabled()
        assert not (x * x).requires_grad
    assert float(tape.gradient(y, x)) == 6.0
    assert cr.is_grad_enabled()


def test_persistent_tape_graph_dies_with_its_last_reference():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        x = cr.Variable([1.0, 2.0])
        with cr.GradientTape(persistent=True) as tape:
            h = cnp.sin(x)
            y = (h * h).sum()
        np.testing.assert_allclose(val(tape.gradient(y, x)), np.sin([2.0, 4.0]), rtol=1e-14)
        w_node, w_tape = weakref.ref(h.grad_fn), weakref.ref(tape)
        del h, y, tape
        assert w_tape() is None
        assert w_node() is None
    finally:
        if was:
            gc.enable()


# --- tapes are per thread ------------------------------------------------------------------


def _run_threads(*targets):
    errors = []

    def wrap(f):
        def run():
            try:
                f()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        return run

    threads = [threading.Thread(target=wrap(f)) for f in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_tapes_are_per_thread():
    barrier = threading.Barrier(2, timeout=10)
    v = cr.Variable([1.0, 2.0])
    out = {}

    def a():
        with cr.no_grad():
            barrier.wait()  # 1: b has opened its tape
            out["a_records"] = (v * v).requires_grad
            out["a_mode"] = cr.is_grad_enabled()
            barrier.wait()  # 2

    def b():
        with cr.GradientTape() as tape:
            barrier.wait()  # 1
            barrier.wait()  # 2
            y = (v**3).sum()
        out["b_grad"] = val(tape.gradient(y, v))
        out["b_stack_mode"] = cr.is_grad_enabled()

    _run_threads(a, b)
    assert out["a_records"] is False and out["a_mode"] is False
    np.testing.assert_array_equal(out["b_grad"], [3.0, 12.0])
    assert out["b_stack_mode"] is True


def test_two_threads_with_their_own_tapes_at_once():
    barrier = threading.Barrier(2, timeout=10)
    out = {}

    def worker(name, xv, power):
        def run():
            x = cr.Variable(xv)
            with cr.GradientTape(persistent=True) as tape:
                barrier.wait()
                y = x**power
                barrier.wait()
            out[name] = float(tape.gradient(y, x))

        return run

    _run_threads(worker("a", 2.0, 3), worker("b", 5.0, 2))
    assert out == {"a": 12.0, "b": 10.0}


def test_watch_in_one_thread_does_not_affect_another():
    barrier = threading.Barrier(2, timeout=10)
    c = cr.tensor(3.0)
    out = {}

    def a():
        with cr.GradientTape() as tape:
            tape.watch(c)
            y = c * c
            barrier.wait()  # 1: c is watched here
            barrier.wait()  # 2: b has finished
        out["a"] = float(tape.gradient(y, c))

    def b():
        barrier.wait()  # 1
        out["b_records"] = (c * 2).requires_grad
        with cr.GradientTape() as tape:  # this tape does not watch c
            y = c * c
        out["b_grad"] = tape.gradient(y, c)
        barrier.wait()  # 2

    _run_threads(a, b)
    assert out["a"] == 6.0
    assert out["b_records"] is False
    assert out["b_grad"] is None
