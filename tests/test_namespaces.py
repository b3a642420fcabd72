"""One code path for every array namespace, proved on `array_api_strict` arrays on device1
(where conversion to NumPy is refused, so a hidden NumPy call raises): the core of the suite
run on them, compared with the same computations on NumPy arrays.

- every primitive says how it runs on another namespace (`Primitive.xp`), and
  docs/namespaces.md is that table;
- every primitive's implementation on device1 equals NumPy's (bit for bit when it is one
  array-API function, which array_api_strict computes with NumPy's own; to rounding for the
  compositions); NumPy-only primitives raise an error naming the namespace;
- grad, vjp, jvp, vmap, jacfwd, jacrev, hessian, check_grads, and their compositions
  (vmap(grad), jit(grad), jit(vmap(grad)), grad(grad)) on elementwise chains, reductions,
  products, indexing, shapes, where, broadcasting and control flow: results, gradients and
  the values a graph saves are strict arrays on device1 equal to NumPy's;
- jit lowers such calls to plain calls (no out=), cached apart from NumPy's;
- operands on two devices are an error naming both devices and the operation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from strict_mode import DEVICE, DEVICE2, Array, check_strict, on_device1, to_strict

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import namespace
from chainrule.core import primitives as P
from chainrule.core.trace import ForeignTracer, bind
from chainrule.rules.impl import impl_rules
from chainrule.testing import check_grads
from chainrule.transforms import executor, reverse
from test_rules import ELSEWHERE, EXAMPLES

DOCS = Path(__file__).resolve().parents[1] / "docs" / "namespaces.md"


# --- metadata and the table ------------------------------------------------------------------


def test_every_primitive_says_how_it_runs_on_another_namespace():
    bad = []
    for p in P.ALL:
        if p.xp not in namespace.HOW:
            bad.append(f"{p}: no namespace metadata (Primitive.xp)")
        elif p.xp == "numpy_only" and p.xp_impl is not None:
            bad.append(f"{p}: numpy_only but has a namespace implementation")
        elif p.xp != "numpy_only" and (p.xp_impl is None or not p.xp_name):
            bad.append(f"{p}: {p.xp} without a namespace implementation or a name")
    assert not bad, "\n".join(bad)


def test_the_table_in_the_docs_is_up_to_date():
    want = namespace.document()
    have = DOCS.read_text() if DOCS.exists() else ""
    assert have == want, (
        "docs/namespaces.md is out of date; write it again with\n  .venv/bin/python -c "
        "\"import chainrule, chainrule.core.namespace as n; "
        "open('docs/namespaces.md', 'w').write(n.document())\""
    )


# --- every primitive's implementation ------------------------------------------------------

_STRICT_EXAMPLES = {p: ex for p, ex in EXAMPLES.items() if p.xp != "numpy_only"}
_STRICT_EXAMPLES[P.nonzero_p] = ((np.array([[0.0, 1.0], [2.0, 0.0]]),), {}, ())
# a move from device1 to device1 (the moves between devices: tests/test_devices.py)
_STRICT_EXAMPLES[P.device_put_p] = (EXAMPLES[P.device_put_p][0], {"device": DEVICE, "src": DEVICE},
                                    (0,))  # fmt: skip
# NumPy's fancy indexing rules: arrays apart (their dims first), adjacent, with ints, None
_FANCY = [
    np.s_[np.array([[0], [2]]), 1:3],
    np.s_[:, np.array([3, 0, 0])],
    np.s_[1, np.array([0, -1])],
    np.s_[np.array([0, 2]), None, np.array([1, 3])],
    np.s_[..., np.array([True, False, True, True])],
    np.s_[-1, ::-2],
    np.s_[np.array([2, 0])],
]


@pytest.mark.parametrize("prim", list(_STRICT_EXAMPLES), ids=lambda p: p.name)
def test_each_primitive_runs_on_device1_as_on_numpy(prim):
    args, params, _ = _STRICT_EXAMPLES[prim]
    want = impl_rules[prim](*args, **params)
    got = bind(prim, *to_strict(args), **params)
    exact = prim.xp == "array_api" and prim not in (P.argsort_p, P.fft_p)
    check_strict(got, want, exact=exact)


@pytest.mark.parametrize("index", _FANCY, ids=str)
def test_numpy_indexing_rules_on_device1(index):
    a = np.arange(12.0).reshape(3, 4)
    check_strict(cnp.getitem(to_strict(a), index), a[index], exact=True)
    y = np.ones(a[index].shape)
    for f in (cnp.index_add, cnp.index_set):
        check_strict(f(to_strict(a), index, to_strict(y)), f(a, index, y), exact=True)


def test_repeated_indices_accumulate_or_the_last_write_wins():
    a = np.zeros(4)
    idx, y = np.array([1, 1, 3, 1]), np.array([1.0, 2.0, 3.0, 4.0])
    check_strict(cnp.index_add(to_strict(a), idx, to_strict(y)), cnp.index_add(a, idx, y))
    check_strict(cnp.index_set(to_strict(a), idx, to_strict(y)), cnp.index_set(a, idx, y))


def test_numpy_dtype_rules_hold_on_another_namespace():
    x32 = np.array([1.5, -2.0], np.float32)
    mask = np.array([True, False])
    ints = np.array([3, 4])
    for f in (lambda a, m, i: cnp.multiply(a, 2.0), lambda a, m, i: cnp.multiply(a, m),
              lambda a, m, i: cnp.multiply(a, np.float64(2.0)), lambda a, m, i: a * 2.0,
              lambda a, m, i: cnp.multiply(a, i), lambda a, m, i: cnp.divide(i, 2),
              lambda a, m, i: cnp.sqrt(i), lambda a, m, i: cnp.where(m, a, 0),
              lambda a, m, i: cnp.sum(m), lambda a, m, i: cnp.mean(i),
              lambda a, m, i: cnp.concatenate([a, i]), lambda a, m, i: cnp.logical_and(a, m),
              lambda a, m, i: cnp.cumsum(m), lambda a, m, i: cnp.power(i, 2)):  # fmt: skip
        check_strict(f(*to_strict((x32, mask, ints))), f(x32, mask, ints))


# --- NumPy-only primitives, devices ---------------------------------------------------------


def test_numpy_only_operations_name_the_namespace_and_never_copy_to_the_host():
    a = to_strict(np.ones((2, 2)))
    with pytest.raises(namespace.NumPyOnlyError,
                       match=r"chainrule\.numpy\.einsum runs on NumPy arrays only; its "
                             r"operands are array_api_strict arrays"):  # fmt: skip
        cnp.einsum("ij,jk->ik", a, a)
    with pytest.raises(namespace.NumPyOnlyError, match="linalg.eig .*array_api_strict"):
        cnp.linalg.eig(a)
    with pytest.raises(namespace.NumPyOnlyError, match="einsum .*array_api_strict"):
        cr.grad(lambda x: cnp.sum(cnp.einsum("ij,jk->ik", x, x)))(a)


def test_a_numpy_function_needing_values_names_the_namespace():
    a = to_strict(np.ones((2, 2)))
    with pytest.raises(namespace.NumPyOnlyError, match="partition .*array_api_strict"):
        cr.grad(lambda x: cnp.sum(np.partition(x, 1)))(a)  # the values, on the host: refused


def test_scipy_functions_name_themselves_and_the_namespace():
    pytest.importorskip("scipy")
    import chainrule.scipy.special as csp

    with pytest.raises(namespace.NumPyOnlyError, match=r"^gammaln \(a SciPy function.*"
                                                         r"array_api_strict"):  # fmt: skip
        csp.gammaln(to_strict(np.array([1.5, 2.5])))


def test_two_devices_in_one_operation_are_an_error_naming_both():
    a, b = to_strict(np.ones(3)), to_strict(np.ones(3), DEVICE2)
    msg = r"device1.* and .*device2"
    with pytest.raises(namespace.DeviceMismatchError, match=r"chainrule\.numpy\.add: .*" + msg):
        cnp.add(a, b)
    with pytest.raises(namespace.DeviceMismatchError, match=msg):
        cr.grad(lambda x, y: cnp.sum(x * y))(a, b)
    with pytest.raises(namespace.DeviceMismatchError, match=msg):
        cr.vmap(lambda x, y: x * y)(a, b)
    with pytest.raises(namespace.DeviceMismatchError, match=msg):
        cr.grad(lambda x: cnp.sum(x * b))(a)  # a closed-over array on another device


def test_a_value_traced_from_numpy_meeting_another_namespace_s_array_is_refused():
    w = to_strict(np.ones(3))
    x = np.ones(3)
    for call in (lambda: cr.grad(lambda v: cnp.sum(v * w))(x),
                 lambda: cr.jvp(lambda v: v * w, (x,), (x,)),
                 lambda: cr.vmap(lambda v: v * w)(np.ones((2, 3))),
                 lambda: cr.jit(lambda v: v * w)(x)):  # fmt: skip
        with pytest.raises(namespace.DeviceMismatchError,
                           match="traced from NumPy arrays meets an array_api_strict array"):
            call()
    with executor.readable():
        with pytest.raises(namespace.DeviceMismatchError, match="traced from NumPy"):
            cr.grad(lambda v: cnp.sum(v * w))(x)


def test_tensors_of_strict_arrays_stay_on_device1():
    for data in (to_strict(np.ones(2)), [to_strict(np.ones(2))]):
        t = cr.tensor(data, requires_grad=True)
        assert t.device == DEVICE
        (t * t).sum().backward()
        assert t.grad.device == DEVICE
        np.testing.assert_array_equal(t.grad.cpu().numpy(), np.full(t.shape, 2.0))


# --- transformations on a representative set of functions -------------------------------------

rng = np.random.default_rng(7)
X = rng.uniform(0.2, 1.5, (4, 3))
V = rng.standard_normal(3)
W = rng.standard_normal((2, 3))

# The functions below are written as array-API code (check_grads also calls them on the
# strict arrays themselves, whose own indexing and operators follow the standard strictly).


def f_elementwise(x):
    return cnp.sum(cnp.tanh(x) * cnp.exp(-x * x) + cnp.log1p(x * x) / 3.0
                   - cnp.sqrt(cnp.abs(x) + 1.0) + x ** 3 + cnp.sin(x) ** 2)  # fmt: skip


def f_reductions(x):
    return (cnp.sum(cnp.mean(x, axis=0) ** 2) + cnp.sum(cnp.max(x, axis=1)) + cnp.var(x)
            + cnp.prod(x[0, ...]) + cnp.sum(cnp.cumsum(x, axis=1)) + cnp.min(x))  # fmt: skip


def f_matmul(x):
    h = cnp.tanh(cnp.matmul(W, cnp.transpose(x)))  # (2, 4)
    return cnp.sum(cnp.matmul(h, x) ** 2) + cnp.sum(cnp.dot(x[0, ...], x[1, ...]))


def f_indexing(x):
    return (cnp.sum(x[1:, ::2] * 2.0) + cnp.sum(cnp.getitem(x, np.s_[[0, 2, 2], :]) ** 2)
            + cnp.sum(x[:, 1]) * x[3, 2] + cnp.sum(cnp.take(x, [2, 0], axis=1))
            + cnp.sum(cnp.getitem(x, (np.array([[3], [0]]), np.array([1, 2])))))  # fmt: skip


def f_shapes(x):
    flat = cnp.concatenate([cnp.reshape(x, (-1,)), cnp.ravel(cnp.transpose(x))])
    st = cnp.stack([x[0, ...], x[1, ...] * 2.0], axis=1)
    return cnp.sum(flat * cnp.sin(flat)) + cnp.sum(cnp.moveaxis(st, 0, 1) ** 3) + cnp.sum(
        cnp.expand_dims(x, 1) * cnp.squeeze(cnp.expand_dims(x, 0)))  # fmt: skip


def f_where(x):
    return cnp.sum(cnp.where(x > 0.7, x ** 2, -x) + cnp.clip(x, 0.5, 1.0) + cnp.maximum(x, 0.9))


def f_broadcast(x):
    b = x[0, ...]  # (3,) against (4, 3)
    return cnp.sum((x + b) * (x - b[None, :]) / (1.0 + x[:, :1]))


def f_cond(x):
    return cnp.sum(cr.cond(cnp.sum(x) > 1.0, lambda v: cnp.sin(v) * v, lambda v: v ** 2, x))


def f_scan(x):
    def step(c, row):
        c = cnp.tanh(c * row + 0.5)
        return c, cnp.sum(c ** 2)

    c, ys = cr.scan(step, x[0, ...], x)
    return cnp.sum(c) + cnp.sum(ys)


def f_fori(x):
    return cnp.sum(cr.fori_loop(0, 3, lambda i, v: cnp.sin(v) * 1.5 + v * 0.1, x))


FUNCS = [f_elementwise, f_reductions, f_matmul, f_indexing, f_shapes, f_where, f_broadcast,
         f_cond, f_scan, f_fori]  # fmt: skip
ids = [f.__name__[2:] for f in FUNCS]


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_value_and_grad(f):
    check_strict(cr.value_and_grad(f)(to_strict(X)), cr.value_and_grad(f)(X))


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_value_and_grad_on_the_readable_paths(f):
    with executor.readable():  # the recording and backward pass without the fast paths
        check_strict(cr.value_and_grad(f)(to_strict(X)), cr.value_and_grad(f)(X))


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_vjp_and_jvp(f):
    out, pull = cr.vjp(f, to_strict(X))
    out_n, pull_n = cr.vjp(f, X)
    check_strict(out, out_n)
    check_strict(pull(to_strict(np.float64(1.5))), pull_n(np.float64(1.5)))
    t = np.cos(X)
    check_strict(cr.jvp(f, (to_strict(X),), (to_strict(t),)), cr.jvp(f, (X,), (t,)))


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_vmap_of_grad_and_its_jit(f):
    xs = np.stack([X, X * 0.7, X + 0.1])
    want = cr.vmap(cr.grad(f))(xs)
    check_strict(cr.vmap(cr.grad(f))(to_strict(xs)), want)
    check_strict(cr.jit(cr.vmap(cr.grad(f)))(to_strict(xs)), want)


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_jit_of_grad(f):
    g = cr.jit(cr.grad(f))
    check_strict(g(to_strict(X)), g(X))


@pytest.mark.parametrize("f", FUNCS, ids=ids)
def test_check_grads_on_device1(f):
    check_grads(f, (to_strict(X),), order=1)


@pytest.mark.parametrize("f", [f_elementwise, f_matmul, f_shapes, f_scan],
                         ids=lambda f: f.__name__[2:])
def test_jacobians_and_hessian(f):
    def vec(x):  # a vector-valued function of a vector
        return cnp.stack([f(cnp.reshape(x, X.shape)), cnp.sum(x ** 2)])

    x = X.reshape(-1)
    for jac in (cr.jacfwd, cr.jacrev):
        check_strict(jac(vec)(to_strict(x)), jac(vec)(x))
    check_strict(cr.hessian(f)(to_strict(X[:2])), cr.hessian(f)(X[:2]), rtol=1e-9)


def test_second_order_check_grads_and_grad_of_grad():
    f = lambda x: cnp.sum(cnp.sin(x) * x ** 2) + cnp.sum(cnp.tanh(cnp.matmul(W, x)))  # noqa
    check_grads(f, (to_strict(V),), order=2)
    gg = cr.grad(lambda x: cnp.sum(cr.grad(f)(x) ** 2))
    check_strict(gg(to_strict(V)), gg(V))


def test_vmap_axes_and_several_arguments():
    def f(x, w):
        return cnp.sum(cnp.tanh(cnp.matmul(w, x)))

    xs = rng.standard_normal((3, 5))
    g = cr.vmap(cr.grad(f, argnums=(0, 1)), in_axes=(1, None))
    check_strict(g(to_strict(xs), to_strict(W)), g(xs, W))
    h = cr.vmap(lambda x: cnp.sin(x) * 2.0, in_axes=1, out_axes=1)
    check_strict(h(to_strict(xs)), h(xs), exact=True)


def test_unused_inputs_get_zero_gradients_in_their_namespace():
    g = cr.grad(lambda x, y: cnp.sum(x * 2.0), argnums=(0, 1))
    check_strict(g(to_strict(V), to_strict(W)), g(V, W), exact=True)
    check_strict(cr.jit(lambda x: (x, cnp.zeros(3)))(to_strict(V)), (V, np.zeros(3)))


@cr.custom_vjp
def _cube(x):
    return x ** 3


_cube.defvjp(lambda x: (x ** 3, x), lambda x, g: (3.0 * x * x * g,))


@cr.custom_jvp
def _square(x):
    return x * x


_square.defjvp(lambda p, t: (p[0] * p[0], 2.0 * p[0] * t[0]))


def _while(x):
    return cr.while_loop(lambda c: cnp.sum(c) < 10.0, lambda c: c * 1.5, x)


def _scan_pairs(x):
    return cr.scan(lambda c, r: (c * r, c + r), x[0, ...], x)


# more transformations and their compositions: name -> function of one (2, 3) array
MORE = {
    "checkpoint": lambda x: cr.grad(cr.checkpoint(f_elementwise))(x),
    "custom_vjp": lambda x: cr.grad(lambda v: cnp.sum(_cube(v)))(x),
    "custom_jvp": lambda x: (cr.grad(lambda v: cnp.sum(_square(v)))(x),
                             cr.jvp(_square, (x,), (x,))),
    "grad_has_aux": lambda x: cr.grad(lambda v: (f_elementwise(v), cnp.cos(v)), has_aux=True)(x),
    "jvp_has_aux": lambda x: cr.jvp(lambda v: (f_elementwise(v), v * 2.0), (x,), (x,),
                                    has_aux=True),
    "linearize": lambda x: cr.linearize(f_elementwise, x)[1](x),
    "hvp": lambda x: cr.hvp(f_elementwise, (x,), (x,)),
    "elementwise_grad": lambda x: cr.elementwise_grad(cnp.tanh)(x),
    "two_argnums": lambda x: cr.value_and_grad(lambda a, b: cnp.sum(a * b), argnums=(0, 1))(x, x),
    "while": lambda x: (_while(x), cr.jit(_while)(x), cr.vmap(_while)(x)),
    "grad_while": lambda x: (cr.grad(lambda v: cnp.sum(_while(v)))(x),
                             cr.jit(cr.grad(lambda v: cnp.sum(_while(v))))(x)),
    "switch": lambda x: cr.jit(lambda v: cr.switch(1, [lambda u: u, cnp.sin], v))(x),
    "vmap_cond_per_example": lambda x: cr.vmap(lambda v: cr.cond(
        cnp.sum(v) > 1.0, lambda u: u * 2.0, lambda u: -u, v))(x),
    "psum": lambda x: cr.vmap(lambda v: v / cr.psum(v, "i"), axis_name="i")(x),
    "jit_scan_and_its_grad": lambda x: (cr.jit(_scan_pairs)(x), cr.jit(cr.grad(
        lambda v: cnp.sum(_scan_pairs(v)[1])))(x)),
    "jit_inside_grad_and_vmap": lambda x: (
        cr.grad(lambda v: cnp.sum(cr.jit(cnp.sin)(v) * v))(x),
        cr.vmap(cr.jit(lambda v: cnp.sin(v) * 2.0))(x)),
    "slogdet_solve": lambda x: cr.grad(lambda a: cnp.linalg.slogdet(
        cnp.matmul(a, cnp.transpose(a)) + 1.0)[1] + cnp.sum(cnp.linalg.solve(
            cnp.matmul(a, cnp.transpose(a)) + 1.0, a)))(x),
    "fft": lambda x: cr.grad(lambda a: cnp.sum(cnp.abs(cnp.fft.rfft(a)) ** 2))(x),
    "sort": lambda x: cr.grad(lambda a: cnp.sum(cnp.sort(a, axis=1)[:, :2]))(x),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MORE))
def test_more_transformations(name):
    x = X[:2]
    check_strict(MORE[name](to_strict(x)), MORE[name](x))


def test_closed_over_arrays_and_abstract_evaluation():
    w = rng.standard_normal((3, 2))
    f = cr.jit(lambda x: cnp.matmul(x, to_strict(w)))
    check_strict(f(to_strict(X)), X @ w)
    out = cr.eval_shape(f_elementwise, to_strict(X))
    assert out.shape == () and out.dtype == np.float64
    assert "sin" in str(cr.make_graph(f_elementwise)(to_strict(X)))


def test_boolean_masks_on_device1():
    f = lambda x: cnp.sum(cnp.getitem(x, x > 0.8) ** 2)  # noqa: E731
    check_strict(cr.value_and_grad(f)(to_strict(X)), cr.value_and_grad(f)(X))
    check_strict(cr.vjp(f, to_strict(X))[0], cr.vjp(f, X)[0])


def test_the_graph_saves_arrays_on_device1():
    def f(x):
        return cnp.sum(cnp.tanh(cnp.matmul(x, cnp.transpose(x))) * cnp.exp(x[:, :1]))

    _, _, _, nodes = reverse.trace_vjp(f, (to_strict(X),), (0,), False, "vjp")
    seen, todo, saved = set(), [n for n in nodes if n is not None], []
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        saved += [s for s in (n.saved or ()) if hasattr(s, "shape") and not hasattr(s, "prim")]
        todo += [p for p in n.parents if p is not None]
    assert saved and all(type(s) is ForeignTracer and on_device1(s._value) for s in saved), [
        type(s).__name__ for s in saved]


# --- jit ------------------------------------------------------------------------------------


def test_jit_lowers_calls_on_another_namespace_without_out_and_caches_them_apart():
    f = cr.jit(lambda x: cnp.sum(cnp.sin(x) * x + x ** 2))
    x = rng.standard_normal(1000)
    check_strict(f(to_strict(x)), f(x), exact=True)
    assert f.cache_info().misses == 2
    src = f.lower(to_strict(x)).source
    assert "out=" not in src and "tiles" not in src and "_call(" in src, src
    assert "out=" in f.lower(np.ones(1 << 16)).source  # NumPy's lowering: buffers reused
    check_strict(f(to_strict(x, DEVICE)), f(x), exact=True)
    assert f.cache_info().misses == 3  # a new shape for NumPy above; device1 again: a hit


def test_a_jitted_pullback_gives_the_namespace_s_arrays():
    out, pull = cr.vjp(f_matmul, to_strict(X))  # the graph's saved values are captured
    check_strict(cr.jit(pull)(to_strict(np.float64(2.0))), cr.vjp(f_matmul, X)[1](2.0))


def test_jit_keys_on_the_device():
    f = cr.jit(lambda x: x * 2.0)
    a, b = to_strict(V), to_strict(V, DEVICE2)
    assert f(a).device == DEVICE and f(b).device == DEVICE2
    assert f.cache_info().misses == 2


def test_eager_calls_on_device1():
    x = to_strict(X)
    check_strict(cnp.sort(x, axis=1), np.sort(X, axis=1), exact=True)
    check_strict(cnp.linalg.inv(to_strict(X[:3] + 3 * np.eye(3))),
                 np.linalg.inv(X[:3] + 3 * np.eye(3)), exact=True)  # fmt: skip
    check_strict(cnp.zeros_like(x), np.zeros_like(X), exact=True)
    check_strict(cnp.fft.rfft(x), np.fft.rfft(X))
    check_strict(cr.scan(lambda c, r: (c + r, c * r), x[0, ...], x), cr.scan(
        lambda c, r: (c + r, c * r), X[0], X), exact=True)  # fmt: skip


def test_all_primitives_with_examples_are_covered():
    numpy_only = {p for p in P.ALL if p.xp == "numpy_only"}
    assert set(_STRICT_EXAMPLES) | ELSEWHERE | numpy_only >= set(P.ALL)


# --- compositions called eagerly on another namespace's arrays --------------------------------

_X = np.array([[1.0, 2.0, 3.5, -0.25], [0.5, -1.0, 4.0, np.nan]])
_A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


@pytest.mark.parametrize("name, call", [
    ("median", lambda m, x: m.median(x[:, :3], axis=1)),
    ("percentile", lambda m, x: m.percentile(x[:, :3], 30.0, axis=0)),
    ("quantile", lambda m, x: m.quantile(x[0, :3], 0.75)),
    ("nansum", lambda m, x: m.nansum(x, axis=1)),
    ("nanmean", lambda m, x: m.nanmean(x)),
    ("nanmax", lambda m, x: m.nanmax(x, axis=1)),
    ("polyval", lambda m, x: m.polyval(x[0, :3], 2.0)),
    ("convolve", lambda m, x: m.convolve(x[0, :3], x[1, :3])),
    ("diff", lambda m, x: m.diff(x[:, :3], axis=1)),
    ("trapezoid", lambda m, x: m.trapezoid(x[:, :3])),
    ("linalg.norm", lambda m, a: m.linalg.norm(a[:3, :3])),
    ("linalg.norm(ord=1)", lambda m, a: m.linalg.norm(a[:3, :3], ord=1)),
    ("linalg.vector_norm", lambda m, a: m.linalg.vector_norm(a[0, :3])),
    ("linalg.matrix_norm", lambda m, a: m.linalg.matrix_norm(a[:3, :3])),
    ("linalg.pinv", lambda m, a: m.linalg.pinv(a[:3, :3])),
])  # fmt: skip
def test_compositions_run_eagerly_on_another_namespace(name, call):
    """NumPy-style compositions (reading dtypes, sorting, polynomial helpers, norms) called
    outside any transformation compute with the namespace's primitives, as they do inside
    one: a result on device1 equal to NumPy's."""
    data = _A if name.startswith("linalg") else _X
    want, got = call(np, data), call(cnp, to_strict(data))
    assert on_device1(got), type(got)
    check_strict(got, want, rtol=1e-12)


def test_a_composition_on_two_devices_names_itself():
    with pytest.raises(namespace.DeviceMismatchError, match="chainrule.numpy.median"):
        cnp.median(to_strict(_A), axis=to_strict(np.asarray(0), DEVICE2))


def test_scipy_compositions_run_on_another_namespace_and_kernels_say_they_cannot():
    scipy_special = pytest.importorskip("scipy.special")
    scipy_stats = pytest.importorskip("scipy.stats")
    import chainrule.scipy.special as csp
    import chainrule.scipy.stats as cst

    x = np.array([0.5, 1.0, -2.0])
    check_strict(csp.logsumexp(to_strict(x)), np.float64(scipy_special.logsumexp(x)),
                 rtol=1e-14)  # fmt: skip
    check_strict(csp.softmax(to_strict(x)), scipy_special.softmax(x), rtol=1e-14)
    check_strict(cst.norm.logpdf(to_strict(x), 0.5, 2.0), scipy_stats.norm.logpdf(x, 0.5, 2.0),
                 rtol=1e-14)  # fmt: skip
    with pytest.raises(namespace.NumPyOnlyError, match=r"^ndtr \(a SciPy function"):
        cst.norm.cdf(to_strict(x))


@pytest.mark.parametrize("add", [True, False])
def test_scatters_repeat_positions_as_numpy_in_blocks_and_through_ufunc_at(add, monkeypatch):
    """index_add / index_set with repeated positions: accumulated, or the last write wins.
    On array_api_strict, through one-hot blocks (made small here, so that several are
    needed); on a namespace with ``add.at`` / ``maximum.at`` (NumPy itself stands in for
    CuPy), through them, without a one-hot matrix."""
    from chainrule.rules import impl

    x = np.arange(12.0).reshape(3, 4)
    rows, cols = np.array([0, 2, 0, 1, 0]), np.array([1, 3, 1, 0, 1])
    y = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    want = x.copy()
    if add:
        np.add.at(want, (rows, cols), y)
    else:
        want[rows, cols] = y  # NumPy: the last write wins
    index = (("a", 0), ("a", 1))
    monkeypatch.setattr(impl, "SCATTER_CHUNK", 8)  # 2 positions per block of 12 columns
    strict = impl._scatter(namespace.Namespace(*namespace._where(to_strict(x))), to_strict(x),
                           to_strict(y), (to_strict(rows), to_strict(cols)), index, add)
    check_strict(strict, want, exact=True)
    with_at = impl._scatter(namespace.Namespace(np, "cpu"), x, y, (rows, cols), index, add)
    np.testing.assert_array_equal(with_at, want)
    assert x[0, 1] == 1.0  # the input is not written into


# --- W7 on device1: no trip to the host ------------------------------------------------------


def test_w7_grad_vmap_and_jit_make_no_host_transfer(monkeypatch):
    """W7's step (an MLP's SGD step) by grad, per-example gradients by vmap(grad), and jit,
    on device1 arrays: every way a strict array reaches the host (``float``, ``bool``,
    ``int``, ``__index__``, ``__array__``, ``__dlpack__``, ``to_device``, ``tolist``) is
    counted, and none is taken; the results are device1 arrays equal to NumPy's."""
    import sys
    from functools import partial
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.workloads import w07

    rng = np.random.default_rng(7)
    sizes = (12, 8, 8, 4)  # W7's layers, smaller
    params = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        params += [rng.standard_normal((n_in, n_out)) / np.sqrt(n_in), np.zeros(n_out)]
    X, labels, rows = rng.standard_normal((6, 12)), rng.integers(0, 4, 6), np.arange(6)
    loss = partial(w07.loss, cnp)
    step = w07._sgd_step(cr.grad(loss))
    per_example = cr.vmap(cr.grad(lambda p, x, lab: loss(p, x[None], lab[None],
                                                         np.arange(1))),  # fmt: skip
                          in_axes=(None, 0, 0))
    want = (step(params, X, labels, rows), per_example(params, X, labels),
            cr.jit(step)(params, X, labels, rows))  # fmt: skip

    taken: list = []
    for name in ("__float__", "__bool__", "__int__", "__index__", "__array__", "__dlpack__",
                 "to_device", "tolist", "__complex__"):  # fmt: skip
        original = getattr(Array, name, None)
        if original is None:
            continue

        def counted(self, *args, _name=name, _original=original, **kw):
            taken.append(_name)
            return _original(self, *args, **kw)

        monkeypatch.setattr(Array, name, counted)
    s_params, s_X, s_labels, s_rows = to_strict((params, X, labels, rows))
    got = (step(s_params, s_X, s_labels, s_rows), per_example(s_params, s_X, s_labels),
           cr.jit(step)(s_params, s_X, s_labels, s_rows))  # fmt: skip
    assert taken == [], f"host transfers: {taken}"
    monkeypatch.undo()
    check_strict(got, want)


# --- saved values of another namespace are protected, as NumPy's are ------------------------


def test_a_constant_changed_after_use_does_not_change_the_gradient():
    """Issue 7's silently wrong cases, on device1 arrays: a closed-over constant, a buffer
    refilled in a loop, a vjp primal and the output vjp returns, each changed in place after
    the computation saved it (the gradient read the new values: [103, 16] for [6, 16])."""
    c = to_strict(np.array([3.0, 4.0]))
    x = to_strict(np.array([1.0, 2.0]))
    out, pullback = cr.vjp(lambda x: cnp.sum(x * c * x), x)
    c[0] = 100.0
    check_strict(pullback(1.0), (np.array([6.0, 16.0]),))

    buf = to_strict(np.zeros(2))

    def loop(x):
        total = 0.0
        for k in range(3):
            buf[...] = float(k + 1)  # refilled in place
            total = total + cnp.sum(x * buf)
        return total

    out, pullback = cr.vjp(loop, x)
    check_strict(pullback(1.0), (np.array([6.0, 6.0]),))  # 1 + 2 + 3, not 3 * 3

    x = to_strict(np.array([1.0, 2.0]))
    out, pullback = cr.vjp(cnp.exp, x)
    x[0] = 50.0  # the primal
    out[1] = 1000.0  # the output the caller got
    check_strict(pullback(to_strict(np.ones(2))), (np.exp([1.0, 2.0]),))

    idx = to_strict(np.array([0, 0]))
    out, pullback = cr.vjp(lambda x: x[idx], to_strict(np.array([1.0, 2.0, 3.0])))
    idx[0] = 2  # the index array, after the gather
    check_strict(pullback(to_strict(np.array([1.0, 10.0]))), (np.array([11.0, 0.0, 0.0]),))
