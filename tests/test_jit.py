"""cr.jit: compiled results equal eager ones bit for bit; the cache; what a steady-state call
does (nothing but the compiled code); captured arrays; errors; Tensors; threads; fusion."""

from __future__ import annotations

import sys
import threading
import warnings
from functools import partial

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.compiler import check, passes, runtime
from chainrule.compiler.fusion import Group, plan
from chainrule.core.errors import ConcretizationError
from chainrule.transforms import jit as jit_module

rng = np.random.default_rng(9)


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def w5_loss(theta, x, y):
    return cnp.mean((cnp.tanh(theta @ cnp.tanh(theta @ x)) - y) ** 2)


def w10_f(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x))


def mlp_loss(params, x, labels):
    h = x
    for w, b in params[:-1]:
        h = cnp.tanh(h @ w + b)
    w, b = params[-1]
    logits = h @ w + b
    logits = logits - cnp.max(logits, axis=1, keepdims=True)
    logp = logits - cnp.log(cnp.sum(cnp.exp(logits), axis=1, keepdims=True))
    return -cnp.mean(logp[np.arange(len(labels)), labels])


THETA = rng.standard_normal((20, 20)).astype(np.float32)
XV = rng.standard_normal(20).astype(np.float32)
Y = np.float32(0.3)
PARAMS = [(rng.standard_normal((8, 16)) * 0.3, np.zeros(16)),
          (rng.standard_normal((16, 4)) * 0.3, np.zeros(4))]  # fmt: skip
XB = rng.standard_normal((5, 8))
LABELS = np.array([0, 3, 1, 2, 3])


# --- bit for bit ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["w5 value", "mlp grad", "j prime", "elementwise"])
def test_jitted_results_equal_eager_ones_bitwise(name):
    cases = {
        "w5 value": (w5_loss, (THETA, XV, Y)),
        "mlp grad": (cr.grad(mlp_loss), (PARAMS, XB, LABELS)),
        "j prime": (cr.elementwise_grad(lambda x: x**3 + x**2 - 6 * x + 1),
                    (np.linspace(-3, 3, 101),)),
        "elementwise": (lambda x: cnp.exp(-x * x) * cnp.sin(3.0 * x) / (1 + x**2),
                        (rng.standard_normal(50),)),
    }  # fmt: skip
    f, args = cases[name]
    eager = f(*args)
    jitted = cr.jit(f)
    for _ in range(2):
        got = jitted(*args)
        for a, b in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(eager)):
            assert same(a, b), name


def test_w5_gradient_merges_its_outer_products_within_rounding():
    """The one listed order-changing rewrite here: Θ's gradient, a sum of two outer
    products, is one matrix product (BLAS adds the two terms)."""
    g = cr.jit(cr.grad(w5_loss))
    got, want = g(THETA, XV, Y), cr.grad(w5_loss)(THETA, XV, Y)
    call = g._cache[next(iter(g._cache))].call
    assert call.stats["merged outer products"] == 1
    eps = np.finfo(np.float32).eps
    assert np.all(np.abs(got - want) <= 4 * eps * (np.abs(want) + 1e-30) + 4 * eps * np.abs(
        want).max())  # fmt: skip


@pytest.mark.parametrize("composition", ["jit(grad)", "grad(jit)", "vmap(jit)", "jit(vmap)",
                                         "jvp(jit)", "jit(jvp)", "hessian(jit)", "jit(hessian)",
                                         "jacfwd(jit)", "grad(grad(jit))"])  # fmt: skip
def test_jit_composes_with_every_transformation(composition):
    f = lambda x: cnp.sum(cnp.sin(x) ** 2 * x)  # noqa: E731
    x = np.array([0.3, -1.2, 2.0])
    xs = np.stack([x, 2 * x])
    t = np.array([1.0, 0.5, -2.0])
    j = cr.jit
    got, want = {
        "jit(grad)": (lambda: j(cr.grad(f))(x), lambda: cr.grad(f)(x)),
        "grad(jit)": (lambda: cr.grad(j(f))(x), lambda: cr.grad(f)(x)),
        "vmap(jit)": (lambda: cr.vmap(j(f))(xs), lambda: cr.vmap(f)(xs)),
        "jit(vmap)": (lambda: j(cr.vmap(f))(xs), lambda: cr.vmap(f)(xs)),
        "jvp(jit)": (lambda: cr.jvp(j(f), (x,), (t,)), lambda: cr.jvp(f, (x,), (t,))),
        "jit(jvp)": (lambda: j(lambda a, b: cr.jvp(f, (a,), (b,)))(x, t),
                     lambda: cr.jvp(f, (x,), (t,))),
        "hessian(jit)": (lambda: cr.hessian(j(f))(x), lambda: cr.hessian(f)(x)),
        "jit(hessian)": (lambda: j(cr.hessian(f))(x), lambda: cr.hessian(f)(x)),
        "jacfwd(jit)": (lambda: cr.jacfwd(j(lambda x: cnp.sin(x) * x))(x),
                        lambda: cr.jacfwd(lambda x: cnp.sin(x) * x)(x)),
        "grad(grad(jit))": (lambda: cr.grad(cr.grad(j(lambda s: cnp.sin(s) * s**3)))(0.7),
                            lambda: cr.grad(cr.grad(lambda s: cnp.sin(s) * s**3))(0.7)),
    }[composition]  # fmt: skip
    for a, b in zip(cr.tree_util.tree_leaves(got()), cr.tree_util.tree_leaves(want())):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


# --- the cache --------------------------------------------------------------------------------


def test_python_scalars_are_traced_not_static():
    step = cr.jit(lambda w, g, lr: w - lr * g)
    w, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    for lr in np.linspace(0.01, 1.0, 100):
        out = step(w, g, float(lr))
        assert out.dtype == np.float32  # a Python float stays weakly typed
        assert same(out, w - float(lr) * g)
    assert step.cache_info().misses == 1


def test_a_new_shape_or_dtype_compiles_again_and_a_static_value_keys_the_cache():
    f = cr.jit(lambda x, n: cnp.sum(x[:n]), static_argnums=1)
    assert f(np.arange(5.0), 2) == 1.0
    assert f(np.arange(5.0), 3) == 3.0
    assert f(np.arange(6.0), 3) == 3.0
    assert f(np.arange(6.0, dtype=np.float32), 3) == 3.0
    assert f.cache_info().misses == 4
    assert f(np.arange(5.0), 2) == 1.0
    assert f.cache_info().misses == 4


def test_a_static_argname_passed_positionally_is_static():
    """As JAX's: static_argnames marks the parameter, however it is passed (it was traced
    when passed positionally with arrays, the quick key taking every argument as traced)."""
    f = cr.jit(lambda x, n: cnp.sum(x[:n]), static_argnames="n")
    g = cr.jit(lambda ps, n: cnp.sum(ps[0][:n]), static_argnames="n")
    for n in (2, 3, 2):
        assert f(np.arange(5.0), n) == float(sum(range(n)))
        assert g([np.arange(5.0)], n) == float(sum(range(n)))
    assert f.cache_info().misses == 2 and g.cache_info().misses == 2


def test_static_argnames_and_keyword_arguments():
    f = cr.jit(lambda x, *, scale, power: cnp.sum(x**power) * scale, static_argnames="power")
    x = np.array([1.0, 2.0])
    assert f(x, scale=2.0, power=2) == 10.0
    assert f(x, scale=3.0, power=2) == 15.0
    assert f.cache_info().misses == 1


def test_pytrees_in_and_out():
    f = cr.jit(lambda p: {"sum": p["a"] + p["b"][0], "prod": p["a"] * p["b"][1]})
    out = f({"a": np.ones(2), "b": (np.full(2, 2.0), np.full(2, 3.0))})
    assert same(out["sum"], np.full(2, 3.0)) and same(out["prod"], np.full(2, 3.0))


def test_lists_and_dicts_of_arrays_take_the_quick_key_and_still_key_everything():
    """A training step's arguments (a list or a dict of arrays, one level deep) are keyed
    without building their pytree: every change that keys the cache (a length, a key, a
    shape, a dtype) still compiles again, the leaves reach the program in order, and a list
    output comes back as a list, a tuple as a tuple."""
    f = cr.jit(lambda ps, d, x: ([p * x for p in ps], tuple(d[k] - x for k in sorted(d))))
    a, b = np.arange(3.0), np.arange(3.0) + 10
    for _ in range(3):
        ws, (da, db) = f([a, b], {"b": b, "a": a}, 2.0)
        assert type(ws) is list and same(ws[0], 2 * a) and same(ws[1], 2 * b)
        assert same(da, a - 2.0) and same(db, b - 2.0)
    info = f.cache_info()
    assert (info.hits, info.misses) == (2, 1) and len(f._nested) == 1  # the quick key's entry
    for args in (([a], {"b": b, "a": a}, 2.0),  # a length
                 ([a, b], {"b": b, "c": a}, 2.0),  # a key
                 ([a, b[:2]], {"b": b, "a": a}, 2.0),  # a shape
                 ([a, b.astype(np.float32)], {"b": b, "a": a}, 2.0)):  # a dtype
        want = f.fun(*args)
        got = f(*args)
        assert cr.tree_util.tree_structure(got) == cr.tree_util.tree_structure(want)
        for g, w in zip(cr.tree_util.tree_leaves(got), cr.tree_util.tree_leaves(want)):
            assert same(g, w)
    assert f.cache_info().misses == 5
    f.clear_cache()
    f([a, b], {"b": b, "a": a}, 2.0)
    assert f.cache_info().misses == 6


def test_a_donated_list_of_parameters_on_the_quick_key():
    step = cr.jit(lambda ps, g: [p - 0.1 * g for p in ps], donate_argnums=0)
    ps = [np.ones(4), np.full(4, 2.0)]
    for _ in range(3):
        keep = [p.copy() for p in ps]
        new = step(ps, np.ones(4))
        assert all(same(n, k - 0.1) for n, k in zip(new, keep))
        assert any(np.shares_memory(n, p) for n, p in zip(new, ps))  # written in place
        ps = new


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(jit_module, "MAXSIZE", 3)
    f = cr.jit(lambda x: x + 1)
    for n in range(1, 6):
        f(np.ones(n))
    assert f.cache_info().currsize == 3


def test_grad_of_jit_compiles_its_programs_once(monkeypatch):
    made = []
    init = jit_module.JitCall.__init__

    def counting(self, *a, **k):
        made.append(a[1] if len(a) > 1 else k.get("name"))
        init(self, *a, **k)

    monkeypatch.setattr(jit_module.JitCall, "__init__", counting)
    f = cr.jit(lambda x: cnp.sum(cnp.tanh(x) ** 2))
    g = cr.grad(f)
    x = np.linspace(-1, 1, 7)
    first = g(x)
    n = len(made)
    assert n == 3  # the function, its forward program with residuals, its backward program
    second = g(2 * x)
    assert len(made) == n and f.cache_info().misses == 1
    np.testing.assert_allclose(first, cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(x))
    assert same(second, cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(2 * x))


def test_a_function_that_keeps_recompiling_is_told_why_once():
    f = cr.jit(lambda x: x * 2)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for n in range(1, jit_module.RECOMPILES_WARNED + 3):
            f(np.ones(n))
    msgs = [str(w.message) for w in seen if "compiled" in str(w.message)]
    assert len(msgs) == 1
    assert "argument 0 changed from shape" in msgs[0] and "Pass values" in msgs[0]


# --- the steady state -------------------------------------------------------------------------


def test_a_steady_state_call_runs_only_the_compiled_code():
    body_runs = []

    def f(theta, x, y):
        body_runs.append(1)
        return w5_loss(theta, x, y)

    g = cr.jit(cr.grad(f))
    g(THETA, XV, Y)
    runs = len(body_runs)
    calls: list = []

    def profile(frame, event, arg):
        if event == "call":
            calls.append((frame.f_code.co_name, frame.f_code.co_filename))

    sys.setprofile(profile)
    try:
        out = g(THETA, XV, Y)
    finally:
        sys.setprofile(None)
    assert len(body_runs) == runs  # the user's body: 0 runs
    names = {n for n, _ in calls}
    assert not names & {"bind", "bind_with", "process_primitive", "__init__", "new_trace"}
    assert not any("staging" in file or "reverse" in file for _, file in calls)
    assert same(out, g(THETA, XV, Y))


# --- captured values ----------------------------------------------------------------------------


W_GLOBAL = np.ones(3)


def uses_global(x):
    return cnp.sum(W_GLOBAL * x)


def test_a_captured_array_is_read_at_each_call_and_a_rebound_global_recompiles():
    global W_GLOBAL
    f = cr.jit(uses_global)
    assert f(np.ones(3)) == 3.0
    W_GLOBAL[0] = 10.0  # changed in place: read by reference
    assert f(np.ones(3)) == 12.0
    old = W_GLOBAL
    try:
        W_GLOBAL = np.zeros(3)  # rebound: compiled again, never stale
        assert f(np.ones(3)) == 0.0
        assert f.cache_info().misses == 2
    finally:
        W_GLOBAL = old


def test_a_captured_array_that_changes_shape_compiles_again():
    w = np.ones(4)
    f = cr.jit(lambda x: cnp.sum(w * x))
    assert f(2.0) == 8.0
    w.resize(6, refcheck=False)  # the same object, a new shape: guarded
    w[:] = 3.0
    assert f(2.0) == 36.0
    assert f.cache_info().misses == 2


def test_a_closure_variable_rebound_compiles_again():
    scale = 2.0

    def f(x):
        return x * scale

    g = cr.jit(f)
    assert g(1.0) == 2.0
    scale = 3.0  # noqa: F841  (read by f's closure)
    assert g(1.0) == 3.0


# --- errors ---------------------------------------------------------------------------------------


def test_python_control_flow_on_a_traced_value_names_the_line():
    def f(x):
        if x > 0:  # the line named
            return x
        return -x

    with pytest.raises(ConcretizationError, match=r"bool\(\).*test_jit\.py:\d+ in f.*cr\.cond"):
        cr.jit(f)(1.0)


def test_a_value_that_must_be_static_names_its_argument():
    with pytest.raises(ConcretizationError, match=r"argument 'n' of g is traced: mark it static "
                                                  r"with static_argnums=1 or static_argnames='n'"):
        def g(x, n):
            return cnp.sum(x[:n])

        cr.jit(g)(np.ones(3), 2)


def test_non_array_arguments_and_unhashable_statics_are_named():
    with pytest.raises(TypeError, match=r"is a str, not an array.*static"):
        cr.jit(lambda x, mode: x)(np.ones(2), "fast")
    with pytest.raises(TypeError, match="must be hashable"):
        cr.jit(lambda x, opts: x, static_argnums=1)(np.ones(2), {"a": 1})
    with pytest.raises(TypeError, match="expected a function"):
        cr.jit(3)


# --- Tensors ----------------------------------------------------------------------------------


def test_tensors_in_and_out_and_backward_through_a_jitted_function():
    f = cr.jit(lambda x: (x.tanh() ** 2).sum(dim=0))
    t = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = f(t)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    y.backward()
    want = cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(np.array([0.5, -1.0, 2.0]))
    np.testing.assert_allclose(t.grad.numpy(), want, rtol=1e-15)
    t.grad = None
    f(t).backward()  # compiles nothing new
    assert f.cache_info().misses == 1


def test_an_in_place_change_of_an_input_tensor_is_written_back_or_refused():
    def f(x):
        x.mul_(2.0)
        return x.sum()

    g = cr.jit(f)
    t = cr.tensor([1.0, 2.0])
    before = t._ver[0]
    assert float(g(t)) == 6.0
    assert same(t.numpy(), np.array([2.0, 4.0])) and t._ver[0] > before
    assert float(g(t)) == 12.0
    with pytest.raises(RuntimeError, match="in place.*requires grad"):
        g(cr.tensor([1.0], requires_grad=True))


# --- outputs, threads -------------------------------------------------------------------------


def test_outputs_are_fresh_arrays():
    f = cr.jit(lambda x: cnp.exp(x) * 2.0)
    x = np.ones(5000)
    a = f(x)
    a[:] = -1.0
    b = f(x)
    assert not np.shares_memory(a, b) and same(b, np.exp(x) * 2.0)


def test_two_threads_calling_one_jitted_function_get_their_own_results():
    f = cr.jit(lambda x: cnp.sum(cnp.sin(x) * cnp.cos(x)))
    inputs = [rng.standard_normal(3000) for _ in range(8)]
    want = [cr.jit(lambda x: cnp.sum(cnp.sin(x) * cnp.cos(x)))(x) for x in inputs]
    got: dict = {}

    def work(k):
        for _ in range(20):
            for i in range(k, 8, 2):
                got[i] = f(inputs[i])

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(same(got[i], want[i]) for i in range(8))


def test_views_of_an_input_never_share_a_buffer_wrongly():
    f = cr.jit(lambda x: x[1:] - x[:-1] ** 2)
    x = rng.standard_normal(10_000)
    assert same(f(x), x[1:] - x[:-1] ** 2)
    assert same(cr.jit(cr.grad(lambda x: cnp.sum((x[1:] - x[:-1] ** 2) ** 2)))(x),
                cr.grad(lambda x: cnp.sum((x[1:] - x[:-1] ** 2) ** 2))(x))  # fmt: skip


# --- fusion -----------------------------------------------------------------------------------

BIG = rng.standard_normal(1 << 21).astype(np.float32)


def test_fused_elementwise_chains_equal_unfused_ones_bitwise():
    f = lambda x: cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x)  # noqa: E731
    fused, plain = cr.jit(f), cr.jit(f, fusion=False)
    assert "_kernel0" in fused.source(BIG) and "_kernel" not in plain.source(BIG)
    assert same(fused(BIG), plain(BIG)) and same(fused(BIG), f(BIG))
    g = cr.jit(cr.grad(w10_f))
    assert same(g(BIG), cr.grad(w10_f)(BIG))


def test_an_elementwise_value_that_reads_a_fused_sum_runs_after_it():
    """`sum(exp(x) sin(x)) + tanh(x)`: the sum ends its group (its blocks all ran) before the
    addition reads it (it was put in the same group, and failed with a KeyError)."""
    for f in (lambda x: cnp.sum(cnp.exp(x) * cnp.sin(x)) + cnp.tanh(x),
              lambda x: cnp.tanh(x) * cnp.sum(cnp.exp(x)) - x):  # fmt: skip
        got, want = cr.jit(f)(BIG), f(BIG)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_tiled_sums_are_identical_across_runs_and_thread_counts(monkeypatch):
    f = cr.jit(lambda x: cnp.sum(cnp.sin(x) * x))
    first = f(BIG)
    assert same(first, f(BIG))
    monkeypatch.setattr(runtime, "THREADS", 1)
    assert same(first, f(BIG))
    eager = cnp.sum(cnp.sin(BIG) * BIG)
    n, eps = BIG.size, np.finfo(np.float32).eps
    bound = 4 * np.log2(n) * eps * np.sum(np.abs(np.sin(BIG) * BIG), dtype=np.float64)
    assert abs(float(first) - float(eager)) <= bound


def test_numpy_error_state_reaches_the_pool_threads():
    f = cr.jit(lambda x: cnp.sum(cnp.log(x)))
    x = np.ones(1 << 21, np.float32)
    x[-1] = 0.0
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        f(x)


def test_the_w10_gradient_is_one_fused_group_without_a_broadcast_of_ones():
    g = cr.jit(cr.grad(w10_f))
    program = g.lower(BIG).program
    items = plan(program)
    assert len(items) == 1 and isinstance(items[0], Group)
    assert not any(e.prim.name == "broadcast_to" for e in program.eqns)


def test_an_optimiser_step_over_interleaved_leaves_fuses_each_parameter_update():
    """The update of one leaf and its ``p + u`` are separated by other leaves' steps: each
    shape keeps its own open group, so each leaf is one group (read once, written once)."""
    opt = cr.optim.adam(1e-3)
    params = [np.ones((300, 300), np.float32), np.ones((400, 200), np.float32)]
    grads = [np.full((300, 300), 0.5, np.float32), np.full((400, 200), -2.0, np.float32)]
    state = opt.init(params)

    def step(g, s, p):
        updates, s = opt.update(g, s, p)
        return cr.optim.apply_updates(p, updates), s

    items = plan(cr.jit(step).lower(grads, state, params).program)
    groups = [it for it in items if isinstance(it, Group)]
    assert sorted(g.shape for g in groups) == [(300, 300), (400, 200)]
    assert all(any(e.prim.name == "add" and e.outvars[0] in g.outputs for e in g.eqns)
               for g in groups)  # the new parameter is written by the group itself
    fused, plain = cr.jit(step)(grads, state, params), cr.jit(step, fusion=False)(grads, state,
                                                                                 params)
    for a, b in zip(cr.tree_util.tree_leaves(fused), cr.tree_util.tree_leaves(plain)):
        assert same(a, b)
    for a, b in zip(cr.tree_util.tree_leaves(fused), cr.tree_util.tree_leaves(step(grads, state,
                                                                                   params))):
        assert same(a, b)


def test_the_buffers_of_a_call_serve_the_next_and_never_what_the_caller_holds():
    """Large intermediates come from a per-function pool of the buffers earlier calls
    finished with; an output, or a view of one, is never among them: results held across
    calls keep their values (and eager code's, bit for bit)."""
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)

    def f(x):
        h = cnp.tanh(x @ a)  # intermediates of 256 KB
        y = h @ a
        return y.T, cnp.sum(h * h), y[0]  # an output that is a view, a sum, a row view

    jf = cr.jit(f)
    x1, x2 = a * 0.5, a * -0.25
    first = jf(x1)
    kept = [np.array(v, copy=True) for v in first]
    pool = jf.lower(x1).run.__globals__["_pool"]
    spare = {id(b) for bufs in pool._state()[0].values() for b in bufs}
    assert spare, "the call gave its dead intermediates back"
    second = jf(x2)  # takes them
    for held, copy in zip(first, kept):
        np.testing.assert_array_equal(held, copy)  # untouched by the second call
    for got, want in zip(second, f(x2)):
        np.testing.assert_array_equal(got, want)
    for out in first + second:
        base = out.base if isinstance(out, np.ndarray) and out.base is not None else out
        assert id(base) not in spare


@pytest.mark.parametrize("view", ["contiguous", "strided", "reversed"])
def test_one_d_results_of_any_operands_reuse_buffers_with_eager_values(view):
    """A 1-d ufunc result is contiguous whatever its operands' strides, so the memory plan
    writes it into a dead buffer of this call or of an earlier one (``out=``) even when it
    reads the caller's arrays: values, dtype and strides stay eager code's."""
    base = np.random.default_rng(3).standard_normal(3 << 15)
    x = {"contiguous": base[: 1 << 15], "strided": base[::3], "reversed": base[::-3]}[view]

    def f(x):
        return (cnp.sin(x) * 2.0 + x) * cnp.cos(x), cnp.exp(x) - x

    jf = cr.jit(f, fusion=False)
    src = jf.source(x)
    assert "out=_pool.get((32768,)" in src and "out=" in src.split("_cos(")[1]
    for k in range(3):  # the second call takes the first one's buffers
        for got, want in zip(jf(x * (k + 1)), f(x * (k + 1))):
            assert same(got, want) and got.strides == want.strides


# --- passes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fun, args", [
    (cr.grad(w5_loss), (THETA, XV, Y)),
    (cr.grad(mlp_loss), (PARAMS, XB, LABELS)),
    (cr.grad(w10_f), (BIG[:1000],)),
    (cr.hessian(lambda x: cnp.sum(x[1:] * x[:-1] ** 2)), (np.arange(5.0),)),
])  # fmt: skip
def test_every_pass_keeps_the_program_well_typed(fun, args):
    program = cr.make_graph(fun)(*args)
    check.typecheck(program)
    stats = passes.Stats()
    for p in (passes.dce, passes.simplify, passes.merge_outer, passes.simplify):
        program = p(program, stats)
        check.typecheck(program)
    assert stats["dce"] + stats["fold"] + stats["cse"] > 0


def test_no_pass_rewrites_x_plus_zero_or_x_times_zero():
    def f(x):
        return x + 0.0, x * 0.0, x - x

    program = passes.optimize(cr.make_graph(f)(np.ones(2)))
    assert len(program.eqns) == 3
    x = np.array([-0.0, np.inf])
    for a, b in zip(cr.jit(f)(x), f(x)):
        assert same(a, b)


def test_jit_of_grad_of_checkpoint_keeps_the_recomputation():
    def block(x):
        return cnp.sin(cnp.sin(x) * 2.0)

    f = lambda x: cnp.sum(cr.checkpoint(block)(x) ** 2)  # noqa: E731
    x = rng.standard_normal(50)
    assert same(cr.jit(cr.grad(f))(x), cr.grad(f)(x))


def test_nested_jits_and_make_graph_of_a_jitted_function():
    inner = cr.jit(lambda x: x * 2.0)
    outer = cr.jit(lambda x: inner(x) + inner(x + 1.0))
    assert same(outer(np.ones(2)), np.full(2, 6.0))
    program = cr.make_graph(outer)(np.ones(2))
    assert all(e.prim.name != "jit" for e in program.eqns)


def test_source_and_lower():
    f = cr.jit(partial(w5_loss))
    src = f.source(THETA, XV, Y)
    assert src.startswith("def ") and "_matmul" in src


# --- debug_nans -------------------------------------------------------------------------------


def nan_maker(x):
    y = cnp.sqrt(x)  # NaN for x < 0: named
    return cnp.sum(y * 2.0)


def test_debug_nans_names_the_primitive_and_line_eagerly_and_jitted(debug_nans):
    x = np.array([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        for f in (cr.grad(nan_maker), cr.jit(nan_maker), cr.jit(cr.grad(nan_maker))):
            with pytest.raises(FloatingPointError, match=r"debug_nans: sqrt produced a NaN.*"
                                                         r"test_jit\.py:\d+ in nan_maker"):
                f(x)
        assert cr.jit(nan_maker)(np.array([1.0, 4.0])) == 6.0


def test_without_debug_nans_the_source_has_no_check():
    f = cr.jit(nan_maker)
    x = np.array([1.0, -1.0])
    assert "nan" not in f.source(x).split("\n", 1)[1].lower()
    cr.config.update("debug_nans", True)
    try:
        assert "check_nans" in f.source(x)
    finally:
        cr.config.update("debug_nans", False)
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(x))  # the switch keys the cache: the unchecked code again


# --- donation ---------------------------------------------------------------------------------


def test_a_donated_buffer_holds_a_same_shape_output():
    step = cr.jit(lambda p, g: p - 0.1 * g, donate_argnums=0)
    p, g = np.ones(200_000), np.full(200_000, 2.0)
    out = step(p, g)
    assert np.shares_memory(out, p) and same(out, np.full(200_000, 0.8))
    small = np.ones(10)
    out = step(small, np.ones(10))  # not fused: out= into the donated buffer
    assert np.shares_memory(out, small)


@pytest.mark.parametrize("case", ["overlap", "a view of it", "views of one array",
                                  "read-only", "non-contiguous", "captured", "under grad",
                                  "returned"])  # fmt: skip
def test_donation_is_skipped_where_it_would_be_unsafe(case):
    c = np.ones(100)
    if case in ("a view of it", "views of one array"):
        step = cr.jit(lambda p, g: p - 0.1 * g, donate_argnums=0)
        big = np.arange(150.0)
        p = np.arange(100.0) if case == "a view of it" else big[:100]
        g = p[::-1] if case == "a view of it" else big[50:]
        keep, g_keep = p.copy(), g.copy()
        out = step(p, g)
        assert not np.shares_memory(out, p) and same(p, keep) and same(g, g_keep)
        assert same(out, keep - 0.1 * g_keep)
        return
    if case == "captured":
        step = cr.jit(lambda p: p * c + c, donate_argnums=0)
        p = c
    elif case == "returned":
        step = cr.jit(lambda p: (p * 2.0, p.reshape(-1)), donate_argnums=0)
        p = np.ones(100)
    else:
        step = cr.jit(lambda p, g: p - 0.1 * g, donate_argnums=0)
        p = np.ones(200)[::2] if case == "non-contiguous" else np.ones(100)
    keep = p.copy()
    if case == "read-only":
        p.flags.writeable = False
    if case == "overlap":
        out = step(p, p)
    elif case == "under grad":
        out = cr.grad(lambda q: cnp.sum(step(q, np.ones(100))))(p)
    elif case in ("captured", "returned"):
        out = step(p)
    else:
        out = step(p, np.ones(100))
    for o in cr.tree_util.tree_leaves(out):
        if case != "returned" or o.size == 100 and not np.shares_memory(o, p):
            assert not np.shares_memory(o, p) or case == "returned"
    assert same(p, keep)


def test_a_donated_tensor_raises_on_later_use():
    t = cr.tensor(np.ones(3))
    out = cr.jit(lambda p: p * 2, donate_argnums=0)(t)
    assert same(out.numpy(), np.full(3, 2.0))
    with pytest.raises(RuntimeError, match="donated"):
        t + 1


def test_an_expression_of_a_captured_array_is_staged_not_computed_at_trace_time():
    w = np.ones(4)
    f = cr.jit(lambda x: cnp.sum(cnp.exp(w)) * x)
    assert f(2.0) == 8 * np.e
    w[:] = 0.0  # changed in place after compiling: the compiled code reads it
    assert f(2.0) == 8.0
    assert f.cache_info().misses == 1


def test_dead_buffers_are_reused_for_results_of_the_same_layout():
    def f(x):
        y = cnp.tanh(x @ x)
        return cnp.tanh(y * 2.0 + 1.0) * 3.0 - x @ x

    x = rng.standard_normal((100, 100))
    src = cr.jit(f).source(x)
    assert src.count("out=") >= 3  # intermediate buffers receive later results
    assert same(cr.jit(f)(x), f(x))
    a, b = cr.jit(f)(x), cr.jit(f)(x)
    assert not np.shares_memory(a, b)
    t = cr.jit(lambda x: cnp.tanh(x.T) * 2.0 + x)  # a transposed input: its own layout kept
    assert same(t(x), np.tanh(x.T) * 2.0 + x)


def test_an_elementwise_result_takes_the_buffer_of_an_operand_read_for_the_last_time():
    """`tanh(x @ w + b)`: the sum and the tanh are written into the product's buffer (its
    last readers), as the hand-written `np.tanh(X @ W + b)` reuses freed memory; results
    bitwise equal to eager code, across calls."""
    w = rng.standard_normal((64, 64))
    b = rng.standard_normal(64)

    def f(x):
        h = cnp.tanh(x @ w + b)
        return (h * h) @ w, cnp.sum(1.0 - h * h)

    x = rng.standard_normal((64, 64))
    jf = cr.jit(f)
    src = jf.source(x)
    prod = src.split(" = _matmul(", 1)[0].split()[-1]  # the first product's variable
    assert f"out={prod})" in src  # the sum after it writes into its buffer
    first = jf(x)
    kept = [np.array(v, copy=True) for v in first]
    second = jf(x * 0.5)
    for got, want in zip(first, kept):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(second, f(x * 0.5)):
        assert same(got, want)


def test_an_operand_is_never_overwritten_while_a_view_of_it_is_read():
    def f(x):
        y = cnp.exp(x @ x)  # fresh, square
        z = y + y.T  # y and its view read for the last time together: z is not written in y
        u = cnp.sin(z)
        return u * u[::-1] + 1.0  # the same with u

    x = rng.standard_normal((80, 80)) * 0.1
    jf = cr.jit(f)
    assert same(jf(x), f(x)) and same(jf(x * 2.0), f(x * 2.0))
    src = jf.source(x)
    for fn in ("_exp(", "_sin("):
        v = src.split(f" = {fn}", 1)[0].split()[-1]
        assert f"out={v})" not in src.split(f" = {fn}", 1)[1]


def test_an_output_never_lives_in_an_operand_buffer_from_the_pool():
    a = rng.standard_normal((256, 256)).astype(np.float32)
    jf = cr.jit(lambda x: cnp.tanh(x @ a + 1.0))  # the result is the output: a fresh array
    x = a * 0.5
    r1 = jf(x)
    keep = r1.copy()
    r2 = jf(x * 2.0)
    np.testing.assert_array_equal(r1, keep)
    assert not np.shares_memory(r1, r2)
    assert same(r2, np.tanh((x * 2.0) @ a + 1.0))


def test_staging_hint_counts_programs_being_staged_in_any_thread():
    """`core.trace.STAGING` lets the hot paths skip the thread-local staging stack: it is
    above 0 exactly while a program is being staged, in some thread, errors included; and
    another thread's eager work is never staged into that program."""
    from chainrule.core.trace import STAGING

    before = STAGING[0]
    seen = []

    def f(x):
        seen.append(STAGING[0])
        return x * 2.0

    cr.jit(f)(np.ones(3))
    assert seen == [before + 1] and STAGING[0] == before

    with pytest.raises(ConcretizationError):
        cr.jit(lambda x: x if x[0] > 0 else -x)(np.ones(3))
    assert STAGING[0] == before

    inside, leave = threading.Event(), threading.Event()

    def g(x):
        inside.set()
        assert leave.wait(10)
        return cnp.sin(x)

    worker = threading.Thread(target=lambda: cr.jit(g)(np.ones(2)))
    worker.start()
    try:
        assert inside.wait(10)
        assert STAGING[0] == before + 1
        here = cnp.cos(np.zeros(3))  # this thread stages nothing: a plain array
        assert type(here) is np.ndarray and np.array_equal(here, np.ones(3))
        t = cr.tensor([1.0], requires_grad=True)
        (t * 3.0).backward()
        assert t.grad.item() == 3.0
    finally:
        leave.set()
        worker.join()
    assert STAGING[0] == before
