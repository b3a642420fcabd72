"""`nn.LayerNorm`, `nn.BatchNorm1d/2d`, `nn.Embedding` and their functions against PyTorch
(float64 to 1e-12, float32 to 1e-5): values and gradients of `F.layer_norm` (input, weight,
bias; one and two normalised dimensions; second derivatives), `F.batch_norm` (training and
eval, running statistics), `F.embedding` (repeated indices, 2-D indices, padding_idx,
max_norm, errors), the modules' parameters, repr, state_dict and loading PyTorch's weights,
and `cr.grad`/`cr.jit`/`cr.vmap` on NumPy inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}
rng = np.random.default_rng(7)


def _np(t):
    return t.detach().numpy() if isinstance(t, (torch.Tensor, cr.Tensor)) else np.asarray(t)


def _close(a, b, dtype=np.float64):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, **TOL[dtype])


def _on_tensors_against_torch(fn, x, w, b, g, dtype):
    """fn(L, input, weight, bias) with L = chainrule.nn.functional and torch's, on Tensors:
    the values and the gradients of sum(g * out) (input, and weight and bias when given)
    agree; torch's output and gradients are returned."""
    out = []
    for L, lib in ((F, cr), (TF, torch)):
        ts = [None if a is None else lib.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = fn(L, *ts)
        assert isinstance(y, cr.Tensor if lib is cr else torch.Tensor)
        (y * lib.tensor(g)).sum().backward()
        out.append([y] + [None if t is None else t.grad for t in ts])
    for a, c in zip(*out):
        if a is not None:
            _close(a, c, dtype)
    return out[1]


# --- layer_norm ------------------------------------------------------------------------------

CASES = [((5, 4), (4,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(("shape", "ns"), CASES)
def test_layer_norm_values_and_gradients(shape, ns, affine, dtype):
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype) if affine else None
    b = rng.standard_normal(ns).astype(dtype) if affine else None
    g = rng.standard_normal(shape).astype(dtype)
    want, tgx, tgw, tgb = _on_tensors_against_torch(
        lambda L, x, w, b: L.layer_norm(x, ns, w, b, eps=1e-5), x, w, b, g, dtype)
    # NumPy arrays and cr.grad
    _close(F.layer_norm(x, ns, w, b), want, dtype)
    if affine:
        gx, gw, gb = cr.grad(lambda x, w, b: cr.numpy.sum(F.layer_norm(x, ns, w, b) * g),
                             argnums=(0, 1, 2))(x, w, b)  # fmt: skip
        _close(gw, tgw, dtype)
        _close(gb, tgb, dtype)
    else:
        gx = cr.grad(lambda x: cr.numpy.sum(F.layer_norm(x, ns) * g))(x)
    _close(gx, tgx, dtype)


@pytest.mark.parametrize(("shape", "ns"), CASES)
def test_layer_norm_second_order_matches_torch_double_backward(shape, ns):
    x, w, b = rng.standard_normal(shape), rng.standard_normal(ns), rng.standard_normal(ns)
    g, v = rng.standard_normal(shape), rng.standard_normal(shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = (TF.layer_norm(tx, ns, tw, tb) * torch.tensor(g)).sum()
    (tgx,) = torch.autograd.grad(out, tx, create_graph=True)
    want_x, want_w = torch.autograd.grad((tgx * torch.tensor(v)).sum(), (tx, tw))

    def grad_x(x, w):
        return cr.grad(lambda x: cr.numpy.sum(F.layer_norm(x, ns, w, b) * g))(x)

    hx, hw = cr.grad(lambda x, w: cr.numpy.sum(grad_x(x, w) * v), argnums=(0, 1))(x, w)
    _close(hx, want_x)
    _close(hw, want_w)
    # and on Tensors: backward of a gradient made with create_graph
    cx, cw = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    (F.layer_norm(cx, ns, cw, cr.tensor(b)) * cr.tensor(g)).sum().backward(create_graph=True)
    gx = cx.grad
    cx.grad = cw.grad = None
    (gx * cr.tensor(v)).sum().backward()
    _close(cx.grad, want_x)
    _close(cw.grad, want_w)


def test_layer_norm_under_grad_jit_and_vmap_on_arrays():
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal(5), rng.standard_normal(5)
    y = rng.standard_normal((6, 5))

    def loss(x, w, b):
        return cr.numpy.mean((F.layer_norm(x, (5,), w, b) - y) ** 2)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    want = ((TF.layer_norm(tx, (5,), tw, tb) - torch.tensor(y)) ** 2).mean()
    want.backward()
    assert isinstance(loss(x, w, b), (np.ndarray, np.generic))
    _close(loss(x, w, b), want)
    _close(cr.jit(loss)(x, w, b), want)
    grads = cr.grad(loss, argnums=(0, 1, 2))(x, w, b)
    for got, t in zip(grads, (tx, tw, tb)):
        _close(got, t.grad)
    for got, t in zip(cr.jit(cr.grad(loss, argnums=(0, 1, 2)))(x, w, b), (tx, tw, tb)):
        _close(got, t.grad)
    rows = cr.vmap(lambda r: F.layer_norm(r, 5, w, b))(x)
    _close(rows, TF.layer_norm(torch.tensor(x), (5,), torch.tensor(w), torch.tensor(b)))


def test_layer_norm_errors():
    x = np.zeros((2, 3))
    for ns in ([4], [2, 3, 4], [3, 3]):
        with pytest.raises(RuntimeError, match=r"expected an input of shape \[\*, "
                                               + ", ".join(map(str, ns))):  # fmt: skip
            F.layer_norm(x, ns)
    with pytest.raises(RuntimeError, match="at least one dimension"):
        F.layer_norm(x, [])
    with pytest.raises(RuntimeError, match=r"weight must have the shape.*\[3\], got \[4\]"):
        F.layer_norm(x, [3], weight=np.ones(4))
    with pytest.raises(RuntimeError, match=r"bias must have the shape.*\[3\], got \[2\]"):
        F.layer_norm(x, [3], bias=np.ones(2))


# --- embedding -------------------------------------------------------------------------------


def _embedding_both(idx, w, **kw):
    """(ours, torch's) value and weight gradient for a random incoming gradient."""
    tw = torch.tensor(w, requires_grad=True)
    want = TF.embedding(torch.tensor(idx), tw, **kw)
    g = rng.standard_normal(tuple(want.shape))
    (want * torch.tensor(g)).sum().backward()
    cw = cr.tensor(w, requires_grad=True)
    got = F.embedding(cr.tensor(idx), cw, **kw)
    (got * cr.tensor(g)).sum().backward()
    _close(got, want)
    _close(cw.grad, tw.grad)
    # NumPy arrays under cr.grad
    _close(F.embedding(idx, w, **kw), want)
    _close(cr.grad(lambda w: cr.numpy.sum(F.embedding(idx, w, **kw) * g))(w), tw.grad)
    return tw.grad.numpy()


@pytest.mark.parametrize("idx", [np.array([3, 1, 3, 3, 0]), np.array([[4, 4, 0], [1, 4, 2]]),
                                 np.array(2)])  # fmt: skip
@pytest.mark.parametrize("padding_idx", [None, 4, -1, 0, -5])
def test_embedding_values_and_weight_gradient(idx, padding_idx):
    w = rng.standard_normal((5, 3))
    grad = _embedding_both(idx, w, padding_idx=padding_idx)
    if padding_idx is not None and (idx == padding_idx % 5).any():
        assert not grad[padding_idx].any()  # the padding row got no gradient
    if padding_idx is None and (idx == 4).sum() > 1:
        assert grad[4].any()  # repeated indices accumulate (checked against torch above)


def test_embedding_gradient_accumulates_repeated_indices():
    w = np.zeros((3, 2))
    got = cr.grad(lambda w: cr.numpy.sum(F.embedding(np.array([[2, 2], [2, 0]]), w)))(w)
    np.testing.assert_array_equal(got, [[1.0, 1.0], [0.0, 0.0], [3.0, 3.0]])


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_embedding_max_norm_renormalises_in_place(norm_type, dtype):
    w = (3 * rng.standard_normal((6, 3))).astype(dtype)
    idx = np.array([[0, 2, 2], [5, 0, 1]])
    tw = torch.tensor(w, requires_grad=True)
    want = TF.embedding(torch.tensor(idx), tw, max_norm=1.5, norm_type=norm_type)
    want.sum().backward()
    cw = cr.tensor(w, requires_grad=True)
    got = F.embedding(cr.tensor(idx), cw, max_norm=1.5, norm_type=norm_type)
    got.sum().backward()
    _close(got, want, dtype)
    _close(cw, tw, dtype)  # the looked-up rows of the weight itself, rescaled
    _close(cw.grad, tw.grad, dtype)
    assert not np.array_equal(_np(cw), w)
    arr = w.copy()
    _close(F.embedding(idx, arr, max_norm=1.5, norm_type=norm_type), want, dtype)
    _close(arr, tw, dtype)
    with pytest.raises(NotImplementedError, match="max_norm"):
        cr.grad(lambda a: cr.numpy.sum(F.embedding(idx, a, max_norm=1.0)))(w)


def test_embedding_errors():
    w = np.zeros((5, 3))
    with pytest.raises(RuntimeError, match="integer indices, got float64"):
        F.embedding(np.array([1.0]), w)
    with pytest.raises(RuntimeError, match="integer indices, got bool"):
        F.embedding(cr.tensor([True]), w)
    for bad in (5, -1):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for 5 embeddings"):
            F.embedding(cr.tensor([[0, bad]]), cr.tensor(w))
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        F.embedding(np.array([1]), w, padding_idx=5)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        F.embedding(np.array([1]), w, padding_idx=-6)
    with pytest.raises(RuntimeError, match="must be 2-D"):
        F.embedding(np.array([1]), np.zeros(5))
    for kw in ({"scale_grad_by_freq": True}, {"sparse": True}):
        with pytest.raises(NotImplementedError, match=next(iter(kw))):
            F.embedding(np.array([1]), w, **kw)


# --- the modules -----------------------------------------------------------------------------

LAYER_NORMS = [((4,), {}), ((3, 4), {"eps": 1e-3}), (4, {"elementwise_affine": False}),
               ((4,), {"bias": False})]  # fmt: skip


@pytest.mark.parametrize(("ns", "kw"), LAYER_NORMS)
def test_layer_norm_module_matches_torch(ns, kw):
    ours, theirs = nn.LayerNorm(ns, **kw), torch.nn.LayerNorm(ns, **kw).double()
    assert repr(ours) == repr(theirs)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]  # fmt: skip
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.normalized_shape == theirs.normalized_shape
    for p in ours.parameters():
        assert p.dtype == np.float64 and p.requires_grad
    with torch.no_grad():  # trained-looking values, loaded into ours
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    ours.load_state_dict(theirs.state_dict())
    x = rng.standard_normal((2, 3, 4))
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    theirs(tx).pow(2).sum().backward()
    ours(cx).pow(2).sum().backward()
    _close(ours(cx), theirs(tx))
    _close(cx.grad, tx.grad)
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        _close(p.grad, q.grad)


def test_layer_norm_module_init_and_dtype():
    ln = nn.LayerNorm([2, 3], dtype=np.float32)
    np.testing.assert_array_equal(_np(ln.weight), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(_np(ln.bias), np.zeros((2, 3), np.float32))
    assert ln.weight.dtype == np.float32
    assert nn.LayerNorm(4).weight.dtype == np.float64
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    _close(ln(cr.tensor(x)), torch.nn.LayerNorm([2, 3])(torch.tensor(x)), np.float32)


EMBEDDINGS = [(10, 3, {}), (10, 3, {"padding_idx": 0}), (10, 3, {"padding_idx": -1}),
              (6, 2, {"max_norm": 1.0, "norm_type": 1.0}),
              (6, 2, {"scale_grad_by_freq": True, "sparse": True})]  # fmt: skip


@pytest.mark.parametrize(("n", "d", "kw"), EMBEDDINGS)
def test_embedding_module_matches_torch(n, d, kw):
    ours, theirs = nn.Embedding(n, d, **kw), torch.nn.Embedding(n, d, **kw).double()
    assert repr(ours) == repr(theirs)
    assert ours.padding_idx == theirs.padding_idx
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]  # fmt: skip
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.weight.dtype == np.float64
    if ours.padding_idx is not None:
        assert not _np(ours.weight)[ours.padding_idx].any()
    if kw.get("sparse"):
        return  # (forward refuses sparse gradients)
    with torch.no_grad():  # large rows, so that max_norm rescales some
        theirs.weight.copy_(torch.tensor(3 * rng.standard_normal((n, d))))
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[1, 5, 0], [5, 5, n - 1]])
    want = theirs(torch.tensor(idx))
    (want * 2).sum().backward()
    got = ours(cr.tensor(idx))
    (got * 2).sum().backward()
    _close(got, want)
    _close(ours.weight.grad, theirs.weight.grad)


def test_embedding_module_init_is_standard_normal_from_chainrules_generator():
    _ = cr.manual_seed(3)
    a = _np(nn.Embedding(400, 50, padding_idx=7).weight)
    _ = cr.manual_seed(3)
    b = _np(nn.Embedding(400, 50, padding_idx=7).weight)
    np.testing.assert_array_equal(a, b)
    assert not a[7].any()
    rest = np.delete(a, 7, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02
    assert abs((abs(rest) > 2).mean() - 0.0455) < 0.01  # N(0, 1)'s tails, not a uniform's
    assert nn.Embedding(4, 2, dtype=np.float32).weight.dtype == np.float32


@pytest.mark.parametrize("freeze", [True, False])
def test_embedding_from_pretrained(freeze):
    table = rng.standard_normal((4, 3))
    ours = nn.Embedding.from_pretrained(cr.tensor(table), freeze=freeze, padding_idx=-2)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=freeze,
                                                padding_idx=-2)  # fmt: skip
    assert repr(ours) == repr(theirs) == "Embedding(4, 3, padding_idx=2)"
    assert ours.weight.requires_grad is theirs.weight.requires_grad is (not freeze)
    _close(ours.weight, theirs.weight)  # the padding row keeps its pretrained values
    idx = np.array([2, 0, 2, 3])
    _close(ours(idx), theirs(torch.tensor(idx)))
    if not freeze:
        ours(idx).sum().backward()
        theirs(torch.tensor(idx)).sum().backward()
        _close(ours.weight.grad, theirs.weight.grad)
        assert not _np(ours.weight.grad)[2].any()
    # a Tensor is shared, as PyTorch's; an array is copied
    t = cr.tensor(table)
    assert np.shares_memory(_np(nn.Embedding.from_pretrained(t).weight), _np(t))
    with pytest.raises(AssertionError, match="2-dimensional"):
        nn.Embedding.from_pretrained(np.zeros(3))


def test_embedding_module_errors():
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(10, 3, padding_idx=-11)
    with pytest.raises(AssertionError, match="Shape of weight does not match"):
        nn.Embedding(10, 3, _weight=np.zeros((3, 3)))


def test_modules_under_functional_call_grad_and_jit():
    model = nn.Sequential(nn.Embedding(7, 4, padding_idx=0), nn.LayerNorm(4), nn.Linear(4, 2))
    params = {k: v.numpy() for k, v in model.state_dict().items()}
    idx = np.array([[0, 3, 3], [6, 1, 0]])

    def loss(p):
        return cr.numpy.sum(nn.functional_call(model, p, idx) ** 2)

    grads = cr.grad(loss)(params)
    jitted = cr.jit(cr.grad(loss))(params)
    assert sorted(grads) == sorted(params)
    for k in grads:
        np.testing.assert_allclose(jitted[k], grads[k], **TOL[np.float64])
    assert not grads["0.weight"][0].any() and grads["0.weight"][3].any()
    theirs = torch.nn.Sequential(torch.nn.Embedding(7, 4, padding_idx=0), torch.nn.LayerNorm(4),
                                 torch.nn.Linear(4, 2)).double()  # fmt: skip
    theirs.load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    (theirs(torch.tensor(idx)) ** 2).sum().backward()
    for name, p in theirs.named_parameters():
        _close(grads[name], p.grad)


# --- batch_norm, BatchNorm1d, BatchNorm2d ------------------------------------------------------
# values and gradients (input, weight, bias) while training and in eval mode, the running
# statistics updated in place over several steps (Tensors and NumPy arrays), momentum=None,
# track_running_stats=False, affine=False, the modules' repr, state_dict and loading
# PyTorch's, the errors, second derivatives, and cr.grad/cr.jit on NumPy inputs

bn_rng = np.random.default_rng(11)
SHAPES = [(6, 3), (4, 3, 5), (3, 3, 2, 4)]


def _batch(shape, dtype=np.float64):
    # channels with different means and scales, so that each statistic matters
    c = shape[1]
    along = (1, c) + (1,) * (len(shape) - 2)
    x = bn_rng.standard_normal(shape) * bn_rng.uniform(0.5, 3, c).reshape(along)
    return (x + bn_rng.uniform(-2, 2, c).reshape(along)).astype(dtype)


# --- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_training_values_gradients_and_running_stats(shape, affine, dtype):
    c = shape[1]
    w = bn_rng.standard_normal(c).astype(dtype) if affine else None
    b = bn_rng.standard_normal(c).astype(dtype) if affine else None
    tm, tv = torch.zeros(c, dtype=torch.tensor(np.zeros(0, dtype)).dtype), None
    tv = torch.ones_like(tm)
    cm, cv = cr.tensor(np.zeros(c, dtype)), cr.tensor(np.ones(c, dtype))
    am, av = np.zeros(c, dtype), np.ones(c, dtype)  # NumPy arrays: updated in place too
    for _ in range(3):
        x, g = _batch(shape, dtype), bn_rng.standard_normal(shape).astype(dtype)
        want = _on_tensors_against_torch(
            lambda L, x, w, b: L.batch_norm(x, cm if L is F else tm, cv if L is F else tv, w, b,
                                            training=True, momentum=0.3, eps=1e-4),
            x, w, b, g, dtype)[0]  # fmt: skip
        _close(cm, tm, dtype)
        _close(cv, tv, dtype)
        assert cm.grad_fn is None and cv.grad_fn is None and not cm.requires_grad
        _close(F.batch_norm(x, am, av, w, b, True, 0.3, 1e-4), want, dtype)
        _close(am, tm, dtype)
        _close(av, tv, dtype)
    assert not np.allclose(_np(tm), 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_eval_uses_the_running_stats_as_constants(shape, dtype):
    c = shape[1]
    x, g = _batch(shape, dtype), bn_rng.standard_normal(shape).astype(dtype)
    m, v = bn_rng.standard_normal(c).astype(dtype), bn_rng.uniform(0.5, 2, c).astype(dtype)
    w, b = bn_rng.standard_normal(c).astype(dtype), bn_rng.standard_normal(c).astype(dtype)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tm, tv = torch.tensor(m), torch.tensor(v)
    want = TF.batch_norm(tx, tm, tv, tw, tb, training=False, eps=1e-3)
    (want * torch.tensor(g)).sum().backward()
    cx, cw, cb = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    cm, cv = cr.tensor(m, requires_grad=True), cr.tensor(v, requires_grad=True)
    got = F.batch_norm(cx, cm, cv, cw, cb, eps=1e-3)
    (got * cr.tensor(g)).sum().backward()
    _close(got, want, dtype)
    for ours, theirs in ((cx, tx), (cw, tw), (cb, tb)):
        _close(ours.grad, theirs.grad, dtype)
    assert cm.grad is None and cv.grad is None  # no gradient to the running statistics
    _close(cm, m, dtype)  # and they are not updated
    _close(F.batch_norm(x, m, v, w, b, eps=1e-3), want, dtype)


def test_batch_norm_second_order_matches_torch_double_backward():
    shape = (4, 3, 5)
    x, w, b = _batch(shape), bn_rng.standard_normal(3), bn_rng.standard_normal(3)
    g, v = bn_rng.standard_normal(shape), bn_rng.standard_normal(shape)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = (TF.batch_norm(tx, None, None, tw, tb, training=True) * torch.tensor(g)).sum()
    (tgx,) = torch.autograd.grad(out, tx, create_graph=True)
    want_x, want_w = torch.autograd.grad((tgx * torch.tensor(v)).sum(), (tx, tw))

    def grad_x(x, w):
        return cr.grad(lambda x: cr.numpy.sum(F.batch_norm(x, None, None, w, b, True) * g))(x)

    hx, hw = cr.grad(lambda x, w: cr.numpy.sum(grad_x(x, w) * v), argnums=(0, 1))(x, w)
    _close(hx, want_x)
    _close(hw, want_w)
    # and on Tensors: backward of a gradient made with create_graph (running stats updated)
    cx, cw = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    rm, rv = cr.zeros(3, dtype=np.float64), cr.ones(3, dtype=np.float64)
    out = F.batch_norm(cx, rm, rv, cw, cr.tensor(b), training=True) * cr.tensor(g)
    out.sum().backward(create_graph=True)
    gx = cx.grad
    cx.grad = cw.grad = None
    (gx * cr.tensor(v)).sum().backward()
    _close(cx.grad, want_x)
    _close(cw.grad, want_w)
    tm, tv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    TF.batch_norm(torch.tensor(x), tm, tv, training=True)
    _close(rm, tm)
    _close(rv, tv)


def test_batch_norm_under_grad_and_jit_on_arrays():
    x, w, b = _batch((6, 4)), bn_rng.standard_normal(4), bn_rng.standard_normal(4)
    y = bn_rng.standard_normal((6, 4))

    def loss(x, w, b):
        return cr.numpy.mean((F.batch_norm(x, None, None, w, b, training=True) - y) ** 2)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    want = ((TF.batch_norm(tx, None, None, tw, tb, training=True) - torch.tensor(y)) ** 2).mean()
    want.backward()
    assert isinstance(loss(x, w, b), (np.ndarray, np.generic))
    _close(loss(x, w, b), want)
    _close(cr.jit(loss)(x, w, b), want)
    for grads in (cr.grad(loss, argnums=(0, 1, 2))(x, w, b),
                  cr.jit(cr.grad(loss, argnums=(0, 1, 2)))(x, w, b)):  # fmt: skip
        for got, t in zip(grads, (tx, tw, tb)):
            _close(got, t.grad)


def test_batch_norm_running_arrays_under_grad_are_updated_and_refused_under_jit():
    x = _batch((5, 3))
    rm, rv = np.zeros(3), np.ones(3)
    gx = cr.grad(lambda x: cr.numpy.sum(F.batch_norm(x, rm, rv, training=True) ** 3))(x)
    tx = torch.tensor(x, requires_grad=True)
    tm, tv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    (TF.batch_norm(tx, tm, tv, training=True) ** 3).sum().backward()
    _close(gx, tx.grad)
    _close(rm, tm)  # the values behind cr.grad's tracers update the arrays
    _close(rv, tv)
    with pytest.raises(NotImplementedError, match="updates running_mean in place"):
        cr.jit(lambda x: F.batch_norm(x, rm, rv, training=True))(x)


def test_batch_norm_errors():
    x = np.zeros((4, 3))
    for shape in ((1, 3), (1, 3, 1), (1, 3, 1, 1)):
        with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when "
                                             r"training, got input size \[1, 3"):  # fmt: skip
            F.batch_norm(np.zeros(shape), None, None, training=True)
    F.batch_norm(np.zeros((1, 3, 2)), None, None, training=True)  # two values per channel
    F.batch_norm(np.zeros((1, 3)), np.zeros(3), np.ones(3))  # fine in eval mode
    for name in ("running_mean", "running_var", "weight", "bias"):
        kw = dict(running_mean=np.zeros(3), running_var=np.ones(3), training=True)
        kw[name] = np.ones(5)
        with pytest.raises(RuntimeError, match=rf"{name} should contain 3 elements not 5.*"
                                               rf"\[4, 3\].*shape \[5\]"):  # fmt: skip
            F.batch_norm(x, **kw)
    with pytest.raises(RuntimeError, match="running_mean must be defined in evaluation mode"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match="must either both be None or neither be None"):
        F.batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(ValueError, match="eps must be positive during training, but got 0.0"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    with pytest.raises(ValueError, match="eps must be non-negative, but got -1"):
        F.batch_norm(x, np.zeros(3), np.ones(3), eps=-1)
    with pytest.raises(ValueError, match=r"shape \(N, C, \*\).*got one of shape \[3\]"):
        F.batch_norm(np.zeros(3), None, None, training=True)
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        nn.BatchNorm1d(3)(np.zeros((2, 3, 2, 2)))
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 1D input\\)"):
        nn.BatchNorm1d(3)(np.zeros(3))
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        nn.BatchNorm2d(3)(cr.zeros(2, 3, 2))


# --- the modules -------------------------------------------------------------------------------

MODULES = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 4)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (5, 4, 3)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 4, 2, 5)),
]
KWARGS = [{}, {"momentum": None}, {"track_running_stats": False}, {"affine": False},
          {"eps": 1e-3, "momentum": 0.25}, {"bias": False}]  # fmt: skip


def _run(ours, theirs, x, dtype=np.float64):
    """One forward and backward of both, compared: output, input and parameter gradients."""
    g = bn_rng.standard_normal(x.shape).astype(dtype)
    tx, cx = torch.tensor(x, requires_grad=True), cr.tensor(x, requires_grad=True)
    want, got = theirs(tx), ours(cx)
    (want * torch.tensor(g)).sum().backward()
    (got * cr.tensor(g)).sum().backward()
    _close(got, want, dtype)
    _close(cx.grad, tx.grad, dtype)
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        _close(p.grad, q.grad, dtype)
        p.grad, q.grad = None, None


def _same_buffers(ours, theirs, dtype=np.float64):
    a, b = dict(ours.named_buffers()), dict(theirs.named_buffers())
    assert list(a) == list(b)
    for k in a:
        if k == "num_batches_tracked":
            assert a[k].dtype == np.int64 and a[k].shape == ()
            assert int(_np(a[k])) == int(b[k])
        else:
            _close(a[k], b[k], dtype)


@pytest.mark.parametrize("kw", KWARGS)
@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), MODULES)
def test_batch_norm_modules_match_torch(ours_cls, torch_cls, shape, kw):
    c = shape[1]
    ours, theirs = ours_cls(c, **kw), torch_cls(c, **kw).double()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]  # fmt: skip
    for p in ours.parameters():
        assert p.dtype == np.float64 and p.requires_grad
    if ours.affine:  # trained-looking parameters, the same in both
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, dtype=torch.float64))
        ours.load_state_dict(theirs.state_dict())
    for _ in range(3):  # training: batch statistics, the running ones updated
        _run(ours, theirs, _batch(shape))
        _same_buffers(ours, theirs)
    if ours.track_running_stats:
        assert int(_np(ours.num_batches_tracked)) == 3
        assert not np.allclose(_np(ours.running_mean), 0)
    ours.eval(), theirs.eval()
    assert not ours.training
    for _ in range(2):  # eval: the running statistics, which stay as they are
        _run(ours, theirs, _batch(shape))
        _same_buffers(ours, theirs)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), MODULES)
def test_loading_torchs_state_dict_gives_its_eval_outputs(ours_cls, torch_cls, shape):
    c = shape[1]
    theirs = torch_cls(c).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64))
    for _ in range(4):
        theirs(torch.tensor(_batch(shape)))
    theirs.eval()
    ours = ours_cls(c).eval()
    ours.load_state_dict(theirs.state_dict())
    _same_buffers(ours, theirs)
    x = _batch(shape)
    _close(ours(x), theirs(torch.tensor(x)))
    _run(ours, theirs, x)


def test_momentum_none_is_a_cumulative_average():
    ours, theirs = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    xs = [_batch((6, 3)) for _ in range(4)]
    for x in xs:
        ours(x), theirs.double()(torch.tensor(x))
    _same_buffers(ours, theirs)
    _close(ours.running_mean, np.mean([x.mean(0) for x in xs], axis=0))


def test_track_running_stats_false_uses_batch_stats_in_eval_mode_too():
    bn = nn.BatchNorm1d(3, track_running_stats=False).eval()
    assert bn.running_mean is None and bn.running_var is None
    assert bn.num_batches_tracked is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = _batch((6, 3))
    _close(bn(x), F.batch_norm(x, None, None, training=True))
    # buffers given afterwards are used in eval mode but, untracked, never updated (torch's)
    ours = nn.BatchNorm1d(3, track_running_stats=False)
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=False).double()
    ours.running_mean, ours.running_var = cr.tensor(_batch((1, 3))[0]), cr.ones(3) * 2.0
    theirs.running_mean = torch.tensor(_np(ours.running_mean).copy())
    theirs.running_var = torch.tensor(_np(ours.running_var).copy())
    _run(ours, theirs, x)
    _same_buffers(ours, theirs)
    ours.eval(), theirs.eval()
    _run(ours, theirs, x)


def test_eval_mode_with_buffers_set_to_none_uses_batch_stats():
    ours, theirs = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3).double()
    ours.running_mean = ours.running_var = None
    theirs.running_mean = theirs.running_var = None
    ours.eval(), theirs.eval()
    x = _batch((6, 3))
    _close(ours(x), theirs(torch.tensor(x)))


def test_module_float32_reset_and_to():
    bn = nn.BatchNorm2d(3, dtype=np.float32)
    theirs = torch.nn.BatchNorm2d(3)
    for name, t in bn.state_dict().items():
        want = theirs.state_dict()[name]
        assert t.dtype == (np.int64 if name == "num_batches_tracked" else np.float32)
        np.testing.assert_array_equal(_np(t), want.numpy())
    for _ in range(2):
        _run(bn, theirs, _batch((4, 3, 3, 3), np.float32), np.float32)
        _same_buffers(bn, theirs, np.float32)
    bn.eval(), theirs.eval()
    _run(bn, theirs, _batch((4, 3, 3, 3), np.float32), np.float32)
    assert nn.BatchNorm1d(2).running_var.dtype == np.float64
    assert nn.BatchNorm1d(2).to(np.float32).num_batches_tracked.dtype == np.int64
    # reset_running_stats and reset_parameters, as torch's (the same buffers, in place)
    mean = bn.running_mean
    with cr.no_grad():
        bn.weight.fill_(3.0)
    bn.reset_running_stats()
    assert bn.running_mean is mean
    np.testing.assert_array_equal(_np(bn.running_mean), np.zeros(3, np.float32))
    np.testing.assert_array_equal(_np(bn.running_var), np.ones(3, np.float32))
    assert int(_np(bn.num_batches_tracked)) == 0
    np.testing.assert_array_equal(_np(bn.weight), np.full(3, 3.0, np.float32))
    bn.reset_parameters()
    np.testing.assert_array_equal(_np(bn.weight), np.ones(3, np.float32))
    nn.BatchNorm1d(2, track_running_stats=False).reset_running_stats()  # nothing to reset


def test_module_under_functional_call_and_grad():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh())
    params = {k: v.detach().numpy().copy() for k, v in model.named_parameters()}
    x = _batch((7, 3))

    def loss(p):
        return cr.numpy.sum(nn.functional_call(model, p, x) ** 2)

    grads = cr.grad(loss)(params)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.Tanh()).double()  # fmt: skip
    theirs.load_state_dict({k: torch.tensor(v) for k, v in params.items()}, strict=False)
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    for name, p in theirs.named_parameters():
        _close(grads[name], p.grad)
    _same_buffers(model, theirs)  # the module's own running statistics, updated
