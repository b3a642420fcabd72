"""Shape functions of `chainrule.numpy`: values against NumPy, gradients against an independent
oracle, finite differences, lists of traced values, tracer methods and NumPy's own functions.

Every shape function here is a gather: each output element is a copy of one input element (or
a constant). The oracle runs NumPy's own function on arrays holding each element's *position*
(1-based; 0 marks a constant), so it knows where every output element comes from without any
of chainrule's machinery. The gradient of `sum(w * f(x))` is then `w` scatter-added back to the
positions, which `np.bincount` does.
"""

import zlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def leaves(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def positions(shapes):
    """One array of 1-based positions per input shape, numbered consecutively."""
    ids, start = [], 1
    for s in shapes:
        n = int(np.prod(s))
        ids.append(np.arange(start, start + n).reshape(s))
        start += n
    return ids, start - 1


def oracle_grads(index_op, shapes, ws):
    """Gradients of sum_k sum(w_k * out_k) for the gather `index_op`, one per input."""
    ids, total = positions(shapes)
    src = leaves(index_op(np, *ids))
    flat_src = np.concatenate([np.asarray(s).ravel() for s in src])
    flat_w = np.concatenate([np.asarray(w).ravel() for w in ws])
    acc = np.bincount(flat_src, weights=flat_w, minlength=total + 1)[1:]
    out, start = [], 0
    for s in shapes:
        n = int(np.prod(s))
        out.append(acc[start : start + n].reshape(s))
        start += n
    return out


def P(op, *shapes, index_op=None, id=None):
    return pytest.param(op, shapes, index_op or op, id=id)


# op(m, *arrays) is written once and run with m = numpy and m = chainrule.numpy
CASES = [
    P(lambda m, x: m.reshape(x, (4, 6)), (2, 3, 4), id="reshape"),
    P(lambda m, x: m.reshape(x, (-1,)), (2, 3, 4), id="reshape-flat"),
    P(lambda m, x: m.reshape(x, (3, -1, 2)), (2, 3, 4), id="reshape-infer"),
    P(lambda m, x: m.reshape(x, ()), (1, 1), id="reshape-scalar"),
    P(lambda m, x: m.reshape(x, 6), (2, 3), id="reshape-int"),
    P(lambda m, x: m.ravel(x), (2, 3, 4), id="ravel"),
    P(lambda m, x: m.transpose(x), (2, 3, 4), id="transpose"),
    P(lambda m, x: m.transpose(x, (2, 0, 1)), (2, 3, 4), id="transpose-axes"),
    P(lambda m, x: m.transpose(x, (-1, 0, -2)), (2, 3, 4), id="transpose-negative"),
    P(lambda m, x: m.moveaxis(x, 0, -1), (2, 3, 4), id="moveaxis"),
    P(lambda m, x: m.moveaxis(x, [0, 1], [-1, -3]), (2, 3, 4), id="moveaxis-many"),
    P(lambda m, x: m.swapaxes(x, 0, 2), (2, 3, 4), id="swapaxes"),
    P(lambda m, x: m.swapaxes(x, -1, 1), (2, 3, 4), id="swapaxes-negative"),
    P(lambda m, x: m.squeeze(x), (1, 3, 1, 2), id="squeeze"),
    P(lambda m, x: m.squeeze(x, axis=0), (1, 3, 1, 2), id="squeeze-axis"),
    P(lambda m, x: m.squeeze(x, axis=(0, -2)), (1, 3, 1, 2), id="squeeze-axes"),
    P(lambda m, x: m.expand_dims(x, 0), (2, 3), id="expand_dims"),
    P(lambda m, x: m.expand_dims(x, -1), (2, 3), id="expand_dims-last"),
    P(lambda m, x: m.expand_dims(x, (0, 2)), (2, 3), id="expand_dims-many"),
    P(lambda m, x: m.broadcast_to(x, (2, 3)), (3,), id="broadcast_to"),
    P(lambda m, x: m.broadcast_to(x, (2, 3, 4)), (3, 1), id="broadcast_to-middle"),
    P(lambda m, x: m.broadcast_to(x, (4, 2)), (), id="broadcast_to-scalar"),
    P(lambda m, x, y: m.broadcast_arrays(x, y), (3, 1), (4,), id="broadcast_arrays"),
    P(lambda m, x: m.atleast_1d(x), (), id="atleast_1d"),
    P(lambda m, x: m.atleast_2d(x), (3,), id="atleast_2d"),
    P(lambda m, x: m.atleast_2d(x), (), id="atleast_2d-scalar"),
    P(lambda m, x: m.atleast_3d(x), (3,), id="atleast_3d-1d"),
    P(lambda m, x: m.atleast_3d(x), (2, 3), id="atleast_3d-2d"),
    P(lambda m, x: m.atleast_3d(x), (), id="atleast_3d-scalar"),
    P(lambda m, x, y: m.atleast_1d(x, y), (), (2,), id="atleast_1d-many"),
    P(lambda m, x, y: m.concatenate([x, y]), (2, 3), (1, 3), id="concatenate"),
    P(lambda m, x, y: m.concatenate([x, y], axis=1), (2, 3), (2, 1), id="concatenate-axis1"),
    P(lambda m, x, y, z: m.concatenate((x, y, z), axis=-1), (2, 1), (2, 3), (2, 2),
      id="concatenate-three"),
    P(lambda m, x, y: m.concatenate([x, y], axis=None), (2, 3), (4,), id="concatenate-None"),
    P(lambda m, x, y: m.stack([x, y]), (2, 3), (2, 3), id="stack"),
    P(lambda m, x, y: m.stack([x, y], axis=1), (2, 3), (2, 3), id="stack-axis1"),
    P(lambda m, x, y: m.stack([x, y], axis=-1), (2, 3), (2, 3), id="stack-last"),
    P(lambda m, x, y: m.stack([x, y]), (), (), id="stack-scalars"),
    P(lambda m, x, y: m.hstack([x, y]), (2,), (3,), id="hstack-1d"),
    P(lambda m, x, y: m.hstack([x, y]), (2, 1), (2, 3), id="hstack-2d"),
    P(lambda m, x, y: m.vstack([x, y]), (3,), (3,), id="vstack-1d"),
    P(lambda m, x, y: m.vstack([x, y]), (1, 3), (2, 3), id="vstack-2d"),
    P(lambda m, x, y: m.dstack([x, y]), (3,), (3,), id="dstack-1d"),
    P(lambda m, x, y: m.dstack([x, y]), (2, 3), (2, 3), id="dstack-2d"),
    P(lambda m, x, y: m.column_stack([x, y]), (3,), (3, 2), id="column_stack"),
    P(lambda m, x: m.split(x, 2), (4, 3), id="split"),
    P(lambda m, x: m.split(x, [1, 3], axis=1), (2, 5), id="split-indices"),
    P(lambda m, x: m.split(x, 3, axis=-1), (2, 6), id="split-last"),
    P(lambda m, x: m.array_split(x, 3), (7,), id="array_split"),
    P(lambda m, x: m.array_split(x, 2, axis=1), (2, 5), id="array_split-axis1"),
    P(lambda m, x: m.hsplit(x, 2), (3, 4), id="hsplit"),
    P(lambda m, x: m.hsplit(x, [1]), (5,), id="hsplit-1d"),
    P(lambda m, x: m.vsplit(x, [1, 2]), (4, 2), id="vsplit"),
    P(lambda m, x: m.repeat(x, 2), (2, 3), id="repeat"),
    P(lambda m, x: m.repeat(x, 3, axis=1), (2, 3), id="repeat-axis"),
    P(lambda m, x: m.repeat(x, [1, 0, 2], axis=0), (3, 2), id="repeat-array"),
    P(lambda m, x: m.repeat(x, [2, 1, 0, 3]), (2, 2), id="repeat-array-flat"),
    P(lambda m, x: m.repeat(x, 2, axis=-1), (2, 3), id="repeat-negative-axis"),
    P(lambda m, x: m.tile(x, 2), (3,), id="tile"),
    P(lambda m, x: m.tile(x, (2, 1)), (2, 3), id="tile-2d"),
    P(lambda m, x: m.tile(x, (2, 1, 3)), (2, 3), id="tile-more-dims"),
    P(lambda m, x: m.tile(x, 2), (2, 3), id="tile-fewer-dims"),
    P(lambda m, x: m.pad(x, 1), (2, 3), id="pad-constant"),
    P(lambda m, x: m.pad(x, ((1, 2), (0, 1))), (2, 3), id="pad-widths"),
    P(lambda m, x: m.pad(x, (2, 1)), (3,), id="pad-pair"),
    P(lambda m, x: m.pad(x, ((1, 0), (2, 1)), constant_values=2.5), (2, 3), id="pad-value",
      index_op=lambda m, x: m.pad(x, ((1, 0), (2, 1)))),
    P(lambda m, x: m.pad(x, 1, constant_values=((1.0, 2.0), (3.0, 4.0))), (2, 3),
      id="pad-values", index_op=lambda m, x: m.pad(x, 1)),
    P(lambda m, x: m.pad(x, ((1, 2), (2, 0)), mode="edge"), (2, 3), id="pad-edge"),
    P(lambda m, x: m.pad(x, ((1, 2), (2, 1)), mode="reflect"), (3, 4), id="pad-reflect"),
    P(lambda m, x: m.pad(x, ((2, 1), (1, 3)), mode="symmetric"), (3, 4), id="pad-symmetric"),
    P(lambda m, x: m.pad(x, ((2, 3), (1, 4)), mode="wrap"), (3, 4), id="pad-wrap"),
    P(lambda m, x: m.pad(x, 3, mode="reflect"), (5,), id="pad-reflect-1d"),
    P(lambda m, x: m.pad(x, (4, 2), mode="wrap"), (3,), id="pad-wrap-long"),
    P(lambda m, x: m.flip(x), (2, 3, 4), id="flip"),
    P(lambda m, x: m.flip(x, 1), (2, 3, 4), id="flip-axis"),
    P(lambda m, x: m.flip(x, (0, -1)), (2, 3, 4), id="flip-axes"),
    P(lambda m, x: m.fliplr(x), (2, 3), id="fliplr"),
    P(lambda m, x: m.flipud(x), (2, 3), id="flipud"),
    P(lambda m, x: m.roll(x, 2), (2, 3), id="roll-flat"),
    P(lambda m, x: m.roll(x, -1, axis=1), (2, 3), id="roll-axis"),
    P(lambda m, x: m.roll(x, (1, 2), axis=(0, 1)), (2, 3), id="roll-tuple"),
    P(lambda m, x: m.roll(x, (1, 1), axis=(1, 1)), (2, 3), id="roll-same-axis"),
    P(lambda m, x: m.roll(x, 7, axis=0), (3, 2), id="roll-past-length"),
    P(lambda m, x: m.roll(x, -4, axis=-1), (2, 3), id="roll-negative"),
    P(lambda m, x: m.rot90(x, 0), (2, 3), id="rot90-k0"),
    P(lambda m, x: m.rot90(x), (2, 3), id="rot90-k1"),
    P(lambda m, x: m.rot90(x, 2), (2, 3), id="rot90-k2"),
    P(lambda m, x: m.rot90(x, 3), (2, 3), id="rot90-k3"),
    P(lambda m, x: m.rot90(x, -1), (2, 3), id="rot90-k-1"),
    P(lambda m, x: m.rot90(x, 1, axes=(1, 2)), (2, 3, 4), id="rot90-axes"),
    P(lambda m, x: m.rot90(x, 1, axes=(1, 0)), (2, 3), id="rot90-reversed-axes"),
    P(lambda m, x: m.rot90(x, 3, axes=(-1, -3)), (2, 3, 4), id="rot90-negative-axes"),
    P(lambda m, x: m.diag(x), (3, 4), id="diag-extract"),
    P(lambda m, x: m.diag(x, 1), (3, 4), id="diag-extract-k1"),
    P(lambda m, x: m.diag(x, -2), (3, 4), id="diag-extract-k-2"),
    P(lambda m, x: m.diag(x, 3), (3, 4), id="diag-extract-k3"),
    P(lambda m, x: m.diag(x), (3,), id="diag-build"),
    P(lambda m, x: m.diag(x, 2), (3,), id="diag-build-k2"),
    P(lambda m, x: m.diag(x, -1), (3,), id="diag-build-k-1"),
    P(lambda m, x: m.diagonal(x), (3, 4), id="diagonal"),
    P(lambda m, x: m.diagonal(x, 1), (3, 4), id="diagonal-offset"),
    P(lambda m, x: m.diagonal(x, -1), (3, 4), id="diagonal-negative-offset"),
    P(lambda m, x: m.diagonal(x, 0, 1, 2), (2, 3, 4), id="diagonal-axes"),
    P(lambda m, x: m.diagonal(x, 1, 2, 0), (2, 3, 4), id="diagonal-axes-reversed"),
    P(lambda m, x: m.triu(x), (3, 4), id="triu"),
    P(lambda m, x: m.triu(x, 1), (3, 4), id="triu-k1"),
    P(lambda m, x: m.triu(x, -1), (2, 3, 4), id="triu-batch"),
    P(lambda m, x: m.tril(x), (3, 4), id="tril"),
    P(lambda m, x: m.tril(x, -1), (4, 3), id="tril-k-1"),
    P(lambda m, x: m.tril(x, 2), (2, 3, 4), id="tril-batch"),
]


def inputs(shapes, key):
    rng = rng_for(key, shapes)
    return [np.asarray(rng.standard_normal(s)) for s in shapes]


def _key(request):
    return request.node.callspec.id


@pytest.mark.parametrize("op, shapes, index_op", CASES)
def test_values_plain_and_traced(op, shapes, index_op, request):
    xs = inputs(shapes, _key(request))
    expected = leaves(op(np, *xs))
    plain = leaves(op(cnp, *xs))
    assert len(plain) == len(expected)
    for p, e in zip(plain, expected, strict=True):
        assert isinstance(p, (np.ndarray, np.generic))
        np.testing.assert_array_equal(p, e)
        assert np.shape(p) == np.shape(e)
    traced = leaves(cr.vjp(lambda *t: op(cnp, *t), *xs)[0])
    assert len(traced) == len(expected)
    for t, e in zip(traced, expected, strict=True):
        assert np.shape(t) == np.shape(e)
        np.testing.assert_array_equal(t, e)


@pytest.mark.parametrize("op, shapes, index_op", CASES)
def test_gradient_scatters_back_to_the_source(op, shapes, index_op, request):
    xs = inputs(shapes, _key(request))
    out, vjp_fn = cr.vjp(lambda *t: op(cnp, *t), *xs)
    rng = rng_for("w", _key(request))
    ws = [rng.standard_normal(np.shape(o)) for o in leaves(out)]
    cts = vjp_fn(type(out)(ws) if isinstance(out, (list, tuple)) else ws[0])
    expected = oracle_grads(index_op, shapes, ws)
    for c, e, s in zip(cts, expected, shapes, strict=True):
        assert np.shape(c) == s
        np.testing.assert_allclose(c, e, rtol=1e-14, atol=0)


@pytest.mark.parametrize("op, shapes, index_op", CASES)
def test_check_grads(op, shapes, index_op, request):
    xs = inputs(shapes, _key(request))
    check_grads(lambda *t: op(cnp, *t), xs, order=2)


@pytest.mark.parametrize("op, shapes, index_op", CASES)
def test_numpy_functions_on_tracers(op, shapes, index_op, request):
    """NumPy's own functions dispatch to chainrule on traced values (`__array_function__`)."""
    xs = inputs(shapes, _key(request))
    out, vjp_fn = cr.vjp(lambda *t: op(np, *t), *xs)
    for o, e in zip(leaves(out), leaves(op(np, *xs)), strict=True):
        np.testing.assert_array_equal(o, e)
    ws = [np.ones(np.shape(o)) for o in leaves(out)]
    cts = vjp_fn(type(out)(ws) if isinstance(out, (list, tuple)) else ws[0])
    for c, e in zip(cts, oracle_grads(index_op, shapes, ws), strict=True):
        np.testing.assert_allclose(c, e, rtol=1e-14, atol=0)


def test_float32_shape_ops_keep_float32():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    f = lambda t: cnp.concatenate([cnp.pad(cnp.flip(t.T, 0), 1, mode="edge").ravel(), t[0]])
    out, vjp_fn = cr.vjp(f, x)
    assert out.dtype == np.float32
    assert vjp_fn(np.ones(out.shape, np.float32))[0].dtype == np.float32


# --- mixing traced and constant operands -----------------------------------------------------


def test_concatenate_and_stack_with_constants():
    u = np.array([1.0, 2.0])
    c = np.array([10.0, 20.0, 30.0])
    out, vjp_fn = cr.vjp(lambda t: cnp.concatenate([c, t, c]), u)
    np.testing.assert_array_equal(out, np.concatenate([c, u, c]))
    w = np.arange(8.0)
    np.testing.assert_array_equal(vjp_fn(w)[0], w[3:5])
    out, vjp_fn = cr.vjp(lambda t: cnp.stack([t, c[:2]], axis=1), u)
    np.testing.assert_array_equal(out, np.stack([u, c[:2]], axis=1))
    np.testing.assert_array_equal(vjp_fn(np.array([[1.0, 2.0], [3.0, 4.0]]))[0], [1.0, 3.0])
    # Python lists and scalars among the operands
    out, vjp_fn = cr.vjp(lambda t: cnp.hstack([t, [7.0], 8.0]), u)
    np.testing.assert_array_equal(out, [1.0, 2.0, 7.0, 8.0])
    np.testing.assert_array_equal(vjp_fn(np.arange(4.0))[0], [0.0, 1.0])


def test_split_pieces_can_be_used_separately():
    x = np.arange(1.0, 7.0)
    a, b, c = None, None, None

    def f(t):
        nonlocal a, b, c
        a, b, c = cnp.split(t, 3)
        return cnp.sum(a * 1.0) + cnp.sum(c**2)

    g = cr.grad(f)(x)
    np.testing.assert_array_equal(g, [1.0, 1.0, 0.0, 0.0, 2 * 5.0, 2 * 6.0])


@pytest.mark.parametrize("name", ["triu", "tril"])
def test_triu_tril_of_a_vector_builds_a_matrix(name):
    # NumPy treats a 1-d input as a row repeated into a square matrix, then masks it
    x = np.array([1.0, 2.0, 3.0])
    f = getattr(cnp, name)
    out, vjp_fn = cr.vjp(lambda t: f(t, 1 if name == "tril" else 0), x)
    expected = getattr(np, name)(x, 1 if name == "tril" else 0)
    np.testing.assert_array_equal(out, expected)
    w = np.arange(9.0).reshape(3, 3)
    oracle = oracle_grads(lambda m, t: getattr(m, name)(t, 1 if name == "tril" else 0),
                          [(3,)], [w])[0]
    np.testing.assert_array_equal(vjp_fn(w)[0], oracle)


def test_pad_with_a_traced_constant_value():
    # d/dc sum(pad(x, 1, constant_values=c)) = number of padded cells
    x = np.arange(6.0).reshape(2, 3)
    f = lambda t, c: cnp.sum(cnp.pad(t, 1, constant_values=c) ** 2)
    out = cr.vjp(lambda c: cnp.pad(x, 1, constant_values=c), 1.5)[0]
    np.testing.assert_array_equal(out, np.pad(x, 1, constant_values=1.5))
    gx, gc = cr.grad(f, argnums=(0, 1))(x, 1.5)
    np.testing.assert_array_equal(gx, 2 * x)
    assert gc == 2 * 1.5 * (4 * 5 - 2 * 3)


# --- sort, trace -----------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1, None])
def test_sort_values_and_gradient_follow_elements(axis):
    x = rng_for("sort", axis).standard_normal((3, 4))
    expected = np.sort(x, axis=axis)
    np.testing.assert_array_equal(cnp.sort(x, axis=axis), expected)
    out, vjp_fn = cr.vjp(lambda t: cnp.sort(t, axis=axis), x)
    np.testing.assert_array_equal(out, expected)
    w = rng_for("w", axis).standard_normal(expected.shape)
    # the k-th sorted element is x at argsort position k: its cotangent goes there
    order = np.argsort(x, axis=axis)
    g = np.zeros(x.size)
    if axis is None:
        g[order] = w
    else:
        ids = np.take_along_axis(np.arange(x.size).reshape(x.shape), order, axis)
        g[ids.ravel()] = w.ravel()
    np.testing.assert_array_equal(vjp_fn(w)[0], g.reshape(x.shape))
    check_grads(lambda t: cnp.sort(t, axis=axis), (x,), order=2)


def test_sort_docstring_example():
    g = cr.grad(lambda x: cnp.sort(x)[0])(np.array([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])
    # the median of three: the middle element gets the whole gradient
    g = cr.grad(lambda x: cnp.sort(x)[1])(np.array([3.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("offset, axis1, axis2, shape", [
    (0, 0, 1, (3, 4)), (1, 0, 1, (3, 4)), (-2, 0, 1, (3, 4)), (0, 1, 2, (2, 3, 4)),
    (1, 2, 0, (2, 3, 4)),
])  # fmt: skip
def test_trace(offset, axis1, axis2, shape):
    x = rng_for("trace", shape, offset).standard_normal(shape)
    expected = np.trace(x, offset, axis1, axis2)
    np.testing.assert_allclose(cnp.trace(x, offset, axis1, axis2), expected)
    out, vjp_fn = cr.vjp(lambda t: cnp.trace(t, offset, axis1, axis2), x)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    w = rng_for("w", shape, offset).standard_normal(np.shape(expected))
    # d trace / d x is 1 exactly on the chosen diagonal; build that mask by loops
    mask = np.zeros(shape)
    for idx in np.ndindex(shape):
        if idx[axis2] - idx[axis1] == offset:
            rest = tuple(v for k, v in enumerate(idx) if k not in (axis1, axis2))
            mask[idx] = w[rest] if rest else w
    np.testing.assert_allclose(vjp_fn(w)[0], mask, rtol=1e-14)
    check_grads(lambda t: cnp.trace(t, offset, axis1, axis2), (x,), order=2)


# --- lists holding traced values -------------------------------------------------------------


def test_array_of_a_list_of_traced_values():
    # d/dx sum([x, x^2, x^3]) = 1 + 2x + 3x^2
    x = 2.0
    assert cr.grad(lambda t: cnp.sum(cnp.array([t, t**2, t**3])))(x) == 1 + 2 * x + 3 * x**2
    out, vjp_fn = cr.vjp(lambda t: cnp.array([t, t**2, t**3]), x)
    np.testing.assert_array_equal(out, [x, x**2, x**3])
    assert vjp_fn(np.array([1.0, 10.0, 100.0]))[0] == 1 + 10 * 2 * x + 100 * 3 * x**2
    assert cr.grad(lambda t: cnp.sum(cnp.asarray((t, 3.0 * t))))(x) == 4.0


def test_nested_lists_with_constants_and_tracers():
    def f(a, b):
        m = cnp.array([[a, 1.0], [2.0, b], [a * b, 0.5]])
        return m

    out, vjp_fn = cr.vjp(f, 3.0, 4.0)
    np.testing.assert_array_equal(out, [[3.0, 1.0], [2.0, 4.0], [12.0, 0.5]])
    w = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    ga, gb = vjp_fn(w)
    # d/da = w[0,0] + b w[2,0]; d/db = w[1,1] + a w[2,0]
    assert (ga, gb) == (1.0 + 4.0 * 5.0, 4.0 + 3.0 * 5.0)
    # lists of arrays
    u, v = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out, vjp_fn = cr.vjp(lambda s, t: cnp.array([s, t, s + t]), u, v)
    np.testing.assert_array_equal(out, np.array([u, v, u + v]))
    gu, gv = vjp_fn(np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(gu, [0.0 + 4.0, 1.0 + 5.0])
    np.testing.assert_array_equal(gv, [2.0 + 4.0, 3.0 + 5.0])


def test_array_dtype_and_ndmin_on_traced_lists():
    out, vjp_fn = cr.vjp(lambda t: cnp.array([t, 2 * t], dtype=np.float32), 1.5)
    assert out.dtype == np.float32
    g = vjp_fn(np.ones(2, np.float32))[0]
    assert np.result_type(g) == np.float64 and g == 3.0
    out = cr.vjp(lambda t: cnp.array([t, t], ndmin=3), 1.5)[0]
    assert out.shape == (1, 1, 2)


@pytest.mark.parametrize("fn, expected_grads", [
    (lambda a, b: cnp.mean([a, b]), (0.5, 0.5)),
    (lambda a, b: cnp.sum([a, 2.0 * b]), (1.0, 2.0)),
    (lambda a, b: cnp.prod([a, b]), (5.0, 2.0)),
    (lambda a, b: cnp.max([a, b]), (0.0, 1.0)),
    (lambda a, b: cnp.var([a, b]), (-1.5, 1.5)),  # d/da ((a-b)/2)^2 * 2 / 2 = (a - b) / 2
    (lambda a, b: cnp.sum(cnp.exp([a, b])), (np.exp(2.0), np.exp(5.0))),
    (lambda a, b: cnp.sum(cnp.maximum([a, b], 3.0)), (0.0, 1.0)),
    (lambda a, b: cnp.dot([a, b], [3.0, 4.0]), (3.0, 4.0)),
    (lambda a, b: cnp.sum(cnp.reshape([a, b, a, b], (2, 2))[0]), (1.0, 1.0)),
    (lambda a, b: cnp.sum(cnp.cumsum([a, b])), (2.0, 1.0)),
    (lambda a, b: cnp.sum(cnp.where([True, False], [a, b], 0.0)), (1.0, 0.0)),
    (lambda a, b: cnp.sum(cnp.concatenate([[a], [b, b]])), (1.0, 2.0)),
    (lambda a, b: cnp.stack([a, b])[1], (0.0, 1.0)),
    (lambda a, b: cnp.sum(cnp.clip([a, b], 0.0, 4.0)), (1.0, 0.0)),
])  # fmt: skip
def test_functions_accept_lists_of_traced_values(fn, expected_grads):
    g = cr.grad(fn, argnums=(0, 1))(2.0, 5.0)
    np.testing.assert_allclose(g, expected_grads, rtol=1e-15)


def test_concatenate_of_traced_vectors():
    u, v = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    w = np.arange(1.0, 6.0)
    gu, gv = cr.grad(lambda s, t: cnp.sum(w * cnp.concatenate([s, t]) ** 2), argnums=(0, 1))(u, v)
    np.testing.assert_array_equal(gu, 2 * w[:2] * u)
    np.testing.assert_array_equal(gv, 2 * w[2:] * v)


# --- tracer methods and attributes -----------------------------------------------------------

X23 = np.arange(1.0, 7.0).reshape(2, 3)

METHODS = [
    P(lambda m, x: x.T, (2, 3), id="T"),
    P(lambda m, x: x.mT, (2, 2, 3), id="mT"),
    P(lambda m, x: x.reshape(3, 2), (2, 3), id="reshape-varargs"),
    P(lambda m, x: x.reshape((3, 2)), (2, 3), id="reshape-tuple"),
    P(lambda m, x: x.reshape(-1), (2, 3), id="reshape-1"),
    P(lambda m, x: x.transpose(), (2, 3, 4), id="transpose"),
    P(lambda m, x: x.transpose(1, 0, 2), (2, 3, 4), id="transpose-varargs"),
    P(lambda m, x: x.transpose((2, 0, 1)), (2, 3, 4), id="transpose-tuple"),
    P(lambda m, x: x.ravel(), (2, 3), id="ravel"),
    P(lambda m, x: x.flatten(), (2, 3), id="flatten"),
    P(lambda m, x: x.squeeze(), (1, 3, 1), id="squeeze"),
    P(lambda m, x: x.swapaxes(0, 1), (2, 3), id="swapaxes"),
    P(lambda m, x: x.diagonal(), (3, 3), id="diagonal"),
    P(lambda m, x: x.repeat(2), (2, 3), id="repeat"),
    P(lambda m, x: x.repeat(2, axis=0), (2, 3), id="repeat-axis"),
    P(lambda m, x: x.take([0, 2, 2]), (2, 3), id="take"),
    P(lambda m, x: x.take([1, 0], axis=1), (2, 3), id="take-axis"),
    P(lambda m, x: x.copy(), (2, 3), id="copy"),
    P(lambda m, x: x[::-1].T.reshape(-1)[1:], (2, 3), id="chain"),
    P(lambda m, x: list(x), (3, 2), id="iteration"),
]


@pytest.mark.parametrize("op, shapes, index_op", METHODS)
def test_tracer_methods(op, shapes, index_op, request):
    xs = inputs(shapes, _key(request))
    out, vjp_fn = cr.vjp(lambda *t: op(cnp, *t), *xs)
    for o, e in zip(leaves(out), leaves(op(np, *xs)), strict=True):
        assert np.shape(o) == np.shape(e)
        np.testing.assert_array_equal(o, e)
    ws = [rng_for("w", _key(request)).standard_normal(np.shape(o)) for o in leaves(out)]
    cts = vjp_fn(type(out)(ws) if isinstance(out, (list, tuple)) else ws[0])
    for c, e in zip(cts, oracle_grads(index_op, shapes, ws), strict=True):
        np.testing.assert_allclose(c, e, rtol=1e-14, atol=0)


def test_tracer_reduction_methods_and_attributes():
    x = X23
    seen = {}

    def f(t):
        seen.update(shape=t.shape, ndim=t.ndim, size=t.size, dtype=t.dtype, len=len(t))
        return t.sum(axis=0).sum() + t.mean() + t.max() + t.trace() + t.astype(np.float32).sum()

    g = cr.grad(f)(x)
    assert seen == dict(shape=(2, 3), ndim=2, size=6, dtype=np.float64, len=2)
    expected = 1.0 + 1 / 6 + (x == x.max()) + np.eye(2, 3) + 1.0
    np.testing.assert_allclose(g, expected, rtol=1e-6)
    assert g.dtype == np.float64


def test_cnp_shape_helpers_on_tracers():
    def f(t):
        assert cnp.shape(t) == (2, 3) and cnp.ndim(t) == 2 and cnp.size(t) == 6
        assert cnp.size(t, 1) == 3
        assert cnp.shape([t, t]) == (2, 2, 3)
        return cnp.sum(t)

    np.testing.assert_array_equal(cr.grad(f)(X23), np.ones((2, 3)))


# --- NumPy integer scalars as axes, counts and shapes -----------------------------------------

I0, I1, I2 = np.int64(0), np.int64(1), np.int64(2)


@pytest.mark.parametrize("op", [
    pytest.param(lambda m, x: m.expand_dims(x, I0), id="expand_dims"),
    pytest.param(lambda m, x: m.moveaxis(x, I0, I1), id="moveaxis"),
    pytest.param(lambda m, x: m.swapaxes(x, I0, I1), id="swapaxes"),
    pytest.param(lambda m, x: m.tile(x, I2), id="tile"),
    pytest.param(lambda m, x: m.stack([x, x], axis=I1), id="stack"),
    pytest.param(lambda m, x: m.concatenate([x, x], axis=I1), id="concatenate"),
    pytest.param(lambda m, x: m.broadcast_to(x[0], (I2, 3)), id="broadcast_to"),
    pytest.param(lambda m, x: m.reshape(x, (I1 * 3, I2)), id="reshape"),
    pytest.param(lambda m, x: m.roll(x, I1, axis=I0), id="roll"),
    pytest.param(lambda m, x: m.repeat(x, I2, axis=I1), id="repeat"),
    pytest.param(lambda m, x: m.flip(x, I1), id="flip"),
    pytest.param(lambda m, x: m.rot90(x, I1), id="rot90"),
    pytest.param(lambda m, x: m.diagonal(x, I1), id="diagonal"),
    pytest.param(lambda m, x: m.split(x, I1 * 3, axis=I1), id="split"),
    pytest.param(lambda m, x: m.squeeze(x[None], axis=I0), id="squeeze"),
    pytest.param(lambda m, x: m.transpose(x, (I1, I0)), id="transpose"),
    pytest.param(lambda m, x: x[I1, I0:I2], id="getitem"),
])  # fmt: skip
def test_numpy_integer_scalars_as_arguments(op):
    """NumPy accepts np.int64 wherever an int goes (axes from np.argmax, sizes from .shape)."""
    out, vjp_fn = cr.vjp(lambda t: op(cnp, t), X23)
    for o, e in zip(leaves(out), leaves(op(np, X23)), strict=True):
        np.testing.assert_array_equal(o, e)
    ws = [np.ones(np.shape(o)) for o in leaves(out)]
    (g,) = vjp_fn(type(out)(ws) if isinstance(out, (list, tuple)) else ws[0])
    np.testing.assert_array_equal(g, oracle_grads(op, [X23.shape], ws)[0])


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [
    lambda m, x: m.reshape(x, (4, 2)),
    lambda m, x: m.squeeze(x, axis=0),
    lambda m, x: m.concatenate([x, m.ones((3, 2))]),
    lambda m, x: m.stack([x, m.ones((3, 2))]),
    lambda m, x: m.split(x, 4, axis=1),
    lambda m, x: m.broadcast_to(x, (2, 4)),
    lambda m, x: m.transpose(x, (0, 0)),
])  # fmt: skip
def test_invalid_shapes_raise_like_numpy(op):
    with pytest.raises(ValueError):
        op(np, X23)
    with pytest.raises(ValueError):
        cr.vjp(lambda t: op(cnp, t), X23)
