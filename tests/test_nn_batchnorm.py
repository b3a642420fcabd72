"""`nn.BatchNorm1d`, `nn.BatchNorm2d` and `F.batch_norm` against PyTorch (float64 to 1e-12,
float32 to 1e-5): values and gradients (input, weight, bias) while training and in eval
mode, the running statistics updated in place over several steps (Tensors and NumPy
arrays), momentum=None, track_running_stats=False, affine=False, the modules' repr,
state_dict and loading PyTorch's, the errors, second derivatives, and `cr.grad`/`cr.jit`
on NumPy inputs.
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
rng = np.random.default_rng(11)
SHAPES = [(6, 3), (4, 3, 5), (3, 3, 2, 4)]


def _np(t):
    return t.detach().numpy() if isinstance(t, (torch.Tensor, cr.Tensor)) else np.asarray(t)


def _close(a, b, dtype=np.float64):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, **TOL[dtype])


def _batch(shape, dtype=np.float64):
    # channels with different means and scales, so that each statistic matters
    c = shape[1]
    along = (1, c) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, c).reshape(along)
    return (x + rng.uniform(-2, 2, c).reshape(along)).astype(dtype)


# --- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_norm_training_values_gradients_and_running_stats(shape, affine, dtype):
    c = shape[1]
    w = rng.standard_normal(c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    tm, tv = torch.zeros(c, dtype=torch.tensor(np.zeros(0, dtype)).dtype), None
    tv = torch.ones_like(tm)
    cm, cv = cr.tensor(np.zeros(c, dtype)), cr.tensor(np.ones(c, dtype))
    am, av = np.zeros(c, dtype), np.ones(c, dtype)  # NumPy arrays: updated in place too
    for _ in range(3):
        x, g = _batch(shape, dtype), rng.standard_normal(shape).astype(dtype)
        tx = torch.tensor(x, requires_grad=True)
        tw, tb = [None if a is None else torch.tensor(a, requires_grad=True) for a in (w, b)]
        want = TF.batch_norm(tx, tm, tv, tw, tb, training=True, momentum=0.3, eps=1e-4)
        (want * torch.tensor(g)).sum().backward()
        cx = cr.tensor(x, requires_grad=True)
        cw, cb = [None if a is None else cr.tensor(a, requires_grad=True) for a in (w, b)]
        got = F.batch_norm(cx, cm, cv, cw, cb, training=True, momentum=0.3, eps=1e-4)
        assert isinstance(got, cr.Tensor)
        (got * cr.tensor(g)).sum().backward()
        _close(got, want, dtype)
        _close(cx.grad, tx.grad, dtype)
        if affine:
            _close(cw.grad, tw.grad, dtype)
            _close(cb.grad, tb.grad, dtype)
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
    x, g = _batch(shape, dtype), rng.standard_normal(shape).astype(dtype)
    m, v = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
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
    x, w, b = _batch(shape), rng.standard_normal(3), rng.standard_normal(3)
    g, v = rng.standard_normal(shape), rng.standard_normal(shape)
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
    x, w, b = _batch((6, 4)), rng.standard_normal(4), rng.standard_normal(4)
    y = rng.standard_normal((6, 4))

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
    g = rng.standard_normal(x.shape).astype(dtype)
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
