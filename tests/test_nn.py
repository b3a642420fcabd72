"""`chainrule.nn` against PyTorch (float64, 1e-12): the functions of `nn.functional` (values
and gradients, extreme logits, every option of cross_entropy) on Tensors with backward and
on arrays under `cr.grad`, `cr.vmap`, `cr.jit`, forward mode and second derivatives; the
module kit (initialisation statistics, state_dict keys and round trips, load_state_dict
errors, repr, a small MLP trained with SGD, gradient clipping) and `functional_call` under
`jit(grad)`.
"""

from __future__ import annotations

import importlib.util

import copy
import math
import sys
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = dict(rtol=1e-12, atol=1e-12)
rng = np.random.default_rng(0)
X = rng.standard_normal((5, 4))
EXTREME = np.array([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, 1e4], [1e4, 1e4, -1e4, 1e4],
                    [-1e4, 2.0, -1e4, -1e4], [1.0, -2.0, 0.5, 0.0]])  # fmt: skip
XS = np.concatenate([X, EXTREME])  # (10, 4)


def _np(t):
    return t.detach().numpy() if isinstance(t, (torch.Tensor, cr.Tensor)) else np.asarray(t)


def _torch_run(fn, x, *rest):
    tx = torch.tensor(x, requires_grad=True)
    out = fn(tx, *[torch.tensor(r) if isinstance(r, np.ndarray) else r for r in rest])
    g = np.asarray(rng.standard_normal(out.shape)) if out.ndim else np.array(1.0)
    (out * torch.tensor(g)).sum().backward()
    return _np(out), _np(tx.grad), g


def _check(cr_fn, torch_fn, x, *rest, tol=TOL):
    """cr_fn on a Tensor (backward) and on an array (cr.grad) against torch_fn."""
    want, want_grad, g = _torch_run(torch_fn, x, *rest)
    assert np.isfinite(want).all() or not np.isfinite(x).all()
    # Tensors: Tensor in, Tensor out, backward
    cx = cr.tensor(x, requires_grad=True)
    out = cr_fn(cx, *[cr.tensor(r) if isinstance(r, np.ndarray) else r for r in rest])
    assert isinstance(out, cr.Tensor)
    (out * cr.tensor(g)).sum().backward()
    np.testing.assert_allclose(_np(out), want, **tol)
    np.testing.assert_allclose(_np(cx.grad), want_grad, **tol)
    # arrays: NumPy in, NumPy out; cr.grad
    plain = cr_fn(x, *rest)
    assert isinstance(plain, (np.ndarray, np.generic))
    np.testing.assert_allclose(plain, want, **tol)
    got = cr.grad(lambda a: cr.numpy.sum(cr_fn(a, *rest) * g))(x)
    np.testing.assert_allclose(got, want_grad, **tol)
    assert np.isfinite(got).all()
    return want


# --- the functions -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_family_matches_torch(name, dim):
    _check(lambda a: getattr(F, name)(a, dim=dim), lambda t: getattr(TF, name)(t, dim=dim), XS)
    # NumPy's spelling, and the Tensor method
    np.testing.assert_allclose(getattr(F, name)(XS, axis=dim), getattr(F, name)(XS, dim),
                               **TOL)  # fmt: skip


def test_softmax_without_dim_warns_as_torch():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        got = F.softmax(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = TF.softmax(torch.tensor(X))
    np.testing.assert_allclose(got, _np(want), **TOL)


@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, True), ((0, 1), False)])
def test_logsumexp_matches_torch(dim, keepdim):
    _check(lambda a: F.logsumexp(a, dim, keepdim), lambda t: torch.logsumexp(t, dim, keepdim),
           XS)  # fmt: skip


def test_log_softmax_is_not_log_of_softmax():
    x = np.array([0.0, -1e4])  # softmax underflows to 0; log_softmax stays finite
    assert np.array_equal(F.log_softmax(x, 0), [0.0, -1e4])
    g = cr.grad(lambda a: F.log_softmax(a, 0)[1])(x)
    np.testing.assert_array_equal(g, [-1.0, 1.0])


@pytest.mark.parametrize("name, kw", [("relu", {}), ("sigmoid", {}), ("tanh", {}),
                                      ("gelu", {}), ("gelu", {"approximate": "tanh"})])  # fmt: skip
def test_activations_match_torch(name, kw):
    x = np.concatenate([XS.ravel(), [-30.0, 30.0, 0.0, 1e-8]])
    _check(lambda a: getattr(F, name)(a, **kw), lambda t: getattr(TF, name)(t, **kw), x)


def test_gelu_checks_its_argument():
    with pytest.raises(RuntimeError, match="none or tanh"):
        F.gelu(X, approximate="erf")


def test_exact_gelu_without_scipy_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "chainrule.scipy.special", None)
    with pytest.raises(ImportError, match=r"needs SciPy.*approximate='tanh'"):
        F.gelu(X)
    F.gelu(X, approximate="tanh")  # needs no SciPy


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_mse_loss_matches_torch(reduction, weighted):
    y = rng.standard_normal(X.shape)
    w = rng.uniform(0.5, 2.0, X.shape) if weighted else None
    tw = None if w is None else torch.tensor(w)
    _check(lambda a, b: F.mse_loss(a, b, reduction=reduction, weight=w),
           lambda t, b: TF.mse_loss(t, b, reduction=reduction, weight=tw), X, y)


def test_mse_loss_broadcast_warns_as_torch():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(X, np.zeros(4))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(X, X, reduction="avg")


def test_one_hot_matches_torch():
    t = np.array([[0, 3], [2, 1]])
    for n in (-1, 5):
        want = TF.one_hot(torch.tensor(t), n).numpy()
        for got in (F.one_hot(t, n), F.one_hot(cr.tensor(t), n).numpy()):
            assert got.dtype == np.int64 and np.array_equal(got, want)
    assert isinstance(F.one_hot(cr.tensor(t)), cr.Tensor)
    assert np.array_equal(cr.vmap(lambda r: F.one_hot(r, 4))(t), F.one_hot(t, 4))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(t, 3)
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(np.array([-1]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        cr.vmap(lambda r: F.one_hot(r))(t)


ROWWISE = {
    "softmax": lambda a: F.softmax(a, dim=-1),
    "log_softmax": lambda a: F.log_softmax(a, dim=-1),
    "logsumexp": lambda a: F.logsumexp(a, -1),
    "gelu": F.gelu,
    "gelu_tanh": lambda a: F.gelu(a, approximate="tanh"),
    "sigmoid": F.sigmoid,
    "relu": F.relu,
    "mse_loss": lambda a: F.mse_loss(a, cr.numpy.ones_like(a), reduction="none"),
}


@pytest.mark.parametrize("name", list(ROWWISE))
def test_functions_under_vmap_jit_and_jvp(name):
    f = ROWWISE[name]
    want = f(XS)
    np.testing.assert_allclose(cr.vmap(f)(XS), want, **TOL)
    np.testing.assert_allclose(cr.jit(f)(XS), want, **TOL)
    g = rng.standard_normal(np.shape(want))
    loss = lambda a: cr.numpy.sum(f(a) * g)  # noqa: E731
    grad = cr.grad(loss)(XS)
    np.testing.assert_allclose(cr.jit(cr.grad(loss))(XS), grad, **TOL)
    np.testing.assert_allclose(cr.vmap(cr.grad(lambda r, gr: cr.numpy.sum(f(r) * gr)))(XS, g),
                               grad, **TOL)  # fmt: skip
    v = rng.standard_normal(XS.shape)
    _, tangent = cr.jvp(loss, (XS,), (v,))
    np.testing.assert_allclose(tangent, np.sum(grad * v), rtol=1e-10, atol=1e-10)


def test_nll_loss_matches_torch():
    logp = _np(TF.log_softmax(torch.tensor(LOGITS2), 1))
    t = _indices(N)
    for kw in ({}, {"weight": W, "ignore_index": 1}, {"reduction": "none", "weight": W}):
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        _check(lambda a, b: F.nll_loss(a, b, **kw), lambda a, b: TF.nll_loss(a, b, **tkw),
               logp, t)  # fmt: skip
        want = torch.nn.NLLLoss(**tkw)(torch.tensor(logp), torch.tensor(t))
        np.testing.assert_allclose(_np(nn.NLLLoss(**kw)(logp, t)), _np(want), **TOL)


# --- cross_entropy -------------------------------------------------------------------------------

N, C, D = 6, 4, 3
LOGITS2 = np.concatenate([rng.standard_normal((3, C)), EXTREME[:3]])  # (6, 4) with ±1e4 rows
LOGITS3 = rng.standard_normal((N, C, D))
W = np.array([0.5, 2.0, 1.0, 1.5])


def _indices(shape):
    t = rng.integers(0, C, shape)
    t.flat[1] = 1  # class 1 is present, for ignore_index=1
    return t


def _probs(shape, dim=1):
    p = rng.uniform(0.0, 1.0, shape)
    return p / p.sum(axis=dim, keepdims=True)


CE_CASES = [
    pytest.param(x, kind, reduction, weighted, ignore, smoothing,
                 id=f"{x.ndim}d-{kind}-{reduction}-w{int(weighted)}-i{ignore}-s{smoothing}")
    for x in (LOGITS2, LOGITS3)
    for kind in ("indices", "probs")
    for reduction in ("mean", "sum", "none")
    for weighted in (False, True)
    for ignore in ((-100, 1) if kind == "indices" else (-100,))
    for smoothing in (0.0, 0.2)
]  # fmt: skip


@pytest.mark.parametrize("x, kind, reduction, weighted, ignore, smoothing", CE_CASES)
def test_cross_entropy_matches_torch(x, kind, reduction, weighted, ignore, smoothing):
    shape = (x.shape[0],) + x.shape[2:]
    target = _indices(shape) if kind == "indices" else _probs(x.shape)
    kw = dict(reduction=reduction, ignore_index=ignore, label_smoothing=smoothing)
    w = W if weighted else None
    want = _check(lambda a, t: F.cross_entropy(a, t, weight=w, **kw),
                  lambda a, t: TF.cross_entropy(a, t, weight=None if w is None else
                                                torch.tensor(w), **kw), x, target)  # fmt: skip
    assert np.isfinite(want).all()
    # the module, with its weight as a buffer
    loss = nn.CrossEntropyLoss(weight=w, **kw)
    np.testing.assert_allclose(_np(loss(cr.tensor(x), cr.tensor(target))), want, **TOL)


def test_cross_entropy_one_example_and_all_ignored():
    x, t = LOGITS2[0], np.array(2)
    _check(lambda a, b: F.cross_entropy(a, b), lambda a, b: TF.cross_entropy(a, b), x, t)
    ignored = np.full(N, -100)
    got = F.cross_entropy(LOGITS2, ignored)
    want = TF.cross_entropy(torch.tensor(LOGITS2), torch.tensor(ignored))
    assert np.isnan(got) and torch.isnan(want)
    assert F.cross_entropy(LOGITS2, ignored, reduction="sum") == 0.0


def test_cross_entropy_dim_argument():
    x = np.moveaxis(LOGITS3, 1, -1)  # (N, D, C): classes last
    t = _indices((N, D))
    want = TF.cross_entropy(torch.tensor(LOGITS3), torch.tensor(t), weight=torch.tensor(W),
                            label_smoothing=0.1).item()  # fmt: skip
    for kw in ({"dim": -1}, {"axis": 2}):
        got = F.cross_entropy(x, t, weight=W, label_smoothing=0.1, **kw)
        np.testing.assert_allclose(got, want, **TOL)


def test_cross_entropy_errors():
    t = _indices(N)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(LOGITS2, np.array([0, 1, 4, 0, 0, 0]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined"):
        F.cross_entropy(LOGITS2, t, weight=np.ones(3))
    with pytest.raises(RuntimeError, match="label_smoothing must be between"):
        F.cross_entropy(LOGITS2, t, label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(LOGITS2, _probs(LOGITS2.shape), ignore_index=0)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(LOGITS2, t, reduction="avg")
    with pytest.raises(ValueError, match="expected target size"):
        F.cross_entropy(LOGITS2, t[:4])
    with pytest.raises(RuntimeError, match="integer class indices"):
        F.cross_entropy(LOGITS2, t.astype(float))


def _ce(x, t):
    return F.cross_entropy(x, t, weight=W, ignore_index=1, label_smoothing=0.1)


def test_cross_entropy_under_transformations():
    x, t = LOGITS2, _indices(N)
    g = cr.grad(_ce)(x, t)
    np.testing.assert_allclose(cr.jit(cr.grad(_ce))(x, t), g, **TOL)
    np.testing.assert_allclose(cr.grad(cr.jit(_ce))(x, t), g, **TOL)
    # vmap: one example at a time (1-D logits, 0-d targets) against reduction='none'
    per = cr.vmap(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1))(x, t)
    np.testing.assert_allclose(per, F.cross_entropy(x, t, reduction="none", label_smoothing=0.1),
                               **TOL)  # fmt: skip
    per_t = cr.vmap(lambda b: F.cross_entropy(x[0], b), in_axes=0)(t)  # only targets batched
    np.testing.assert_allclose(per_t, F.cross_entropy(np.tile(x[0], (N, 1)), t, reduction="none"),
                               **TOL)  # fmt: skip
    vg = cr.vmap(cr.grad(lambda a, b: F.cross_entropy(a, b)))(x, t)
    np.testing.assert_allclose(vg, N * cr.grad(lambda a: F.cross_entropy(a, t))(x), **TOL)
    # forward mode, and second derivatives against torch's Hessian
    v = rng.standard_normal(x.shape)
    _, tangent = cr.jvp(lambda a: _ce(a, t), (x,), (v,))
    np.testing.assert_allclose(tangent, np.sum(g * v), **TOL)
    tt, tw = torch.tensor(t), torch.tensor(W)
    want_h = torch.autograd.functional.hessian(
        lambda a: TF.cross_entropy(a, tt, weight=tw, ignore_index=1, label_smoothing=0.1),
        torch.tensor(x)).numpy()  # fmt: skip
    np.testing.assert_allclose(cr.hessian(_ce)(x, t), want_h, **TOL)
    np.testing.assert_allclose(cr.jacfwd(cr.grad(_ce))(x, t), want_h, **TOL)
    np.testing.assert_allclose(cr.jit(cr.hessian(_ce))(x, t), want_h, **TOL)
    assert np.isfinite(want_h).all()


def test_cross_entropy_double_backward_on_tensors_matches_torch():
    x, t = LOGITS2, _indices(N)
    tx = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(TF.cross_entropy(tx, torch.tensor(t), label_smoothing=0.1), tx,
                                create_graph=True)  # fmt: skip
    (tg**2).sum().backward()
    cx = cr.tensor(x, requires_grad=True)
    (cg,) = cr.autograd.grad(F.cross_entropy(cx, cr.tensor(t), label_smoothing=0.1), cx,
                             create_graph=True)  # fmt: skip
    (cg**2).sum().backward()
    np.testing.assert_allclose(_np(cx.grad), _np(tx.grad), **TOL)


def test_float32_stays_float32():
    x32 = LOGITS2.astype(np.float32)
    t = _indices(N)
    assert F.cross_entropy(x32, t, weight=W, label_smoothing=0.1).dtype == np.float32
    assert cr.grad(lambda a: F.cross_entropy(a, t))(x32).dtype == np.float32
    assert F.cross_entropy(cr.tensor(x32), cr.tensor(t)).dtype == np.float32
    for fn in (F.gelu, F.relu, F.sigmoid, lambda a: F.softmax(a, 1), lambda a: F.log_softmax(a, 1)):
        assert fn(x32).dtype == np.float32


# --- init ----------------------------------------------------------------------------------------


def test_calculate_gain_and_fans_match_torch():
    for nl, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                      ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                      ("selu", None)]:  # fmt: skip
        assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    for shape in [(3, 5), (4, 3, 2, 2)]:
        want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert nn.init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == want
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(cr.empty(3))
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(cr.empty(0, 3))


SHAPE = (300, 200)  # fan_out, fan_in


@pytest.mark.parametrize("name, kw, kind, scale", [
    ("uniform_", {"a": -0.3, "b": 0.7}, "uniform", None),
    ("normal_", {"mean": 0.5, "std": 0.2}, "normal", 0.2),
    ("xavier_uniform_", {"gain": 2.0}, "uniform", 2.0 * math.sqrt(6 / 500)),
    ("xavier_normal_", {}, "normal", math.sqrt(2 / 500)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, "uniform", 1 / math.sqrt(200)),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, "uniform",
     math.sqrt(2) * math.sqrt(3 / 300)),
    ("kaiming_normal_", {"nonlinearity": "relu"}, "normal", math.sqrt(2 / 200)),
])  # fmt: skip
def test_init_statistics_as_torch(name, kw, kind, scale):
    ours = getattr(nn.init, name)(cr.empty(*SHAPE), **kw).numpy()
    theirs = getattr(torch.nn.init, name)(torch.empty(SHAPE), **kw).numpy()
    for v in (ours, theirs):
        if kind == "uniform":
            lo, hi = (kw["a"], kw["b"]) if name == "uniform_" else (-scale, scale)
            assert lo <= v.min() < lo + 0.01 * (hi - lo) and hi - 0.01 * (hi - lo) < v.max() < hi
            np.testing.assert_allclose(v.std(), (hi - lo) / math.sqrt(12), rtol=0.02)
        else:
            np.testing.assert_allclose(v.std(), scale, rtol=0.02)
            np.testing.assert_allclose(v.mean(), kw.get("mean", 0.0), atol=4 * scale / 245)


def test_init_in_place_reproducible_and_typed():
    w = nn.Parameter(cr.empty(3, 4))
    cr.manual_seed(7)
    out = nn.init.xavier_uniform_(w)
    assert out is w and w.requires_grad and w.is_leaf and w.grad_fn is None
    first = w.detach().numpy().copy()
    cr.manual_seed(7)
    nn.init.xavier_uniform_(w)
    assert np.array_equal(first, w.detach().numpy())
    w32 = nn.init.normal_(cr.empty(3, dtype=np.float32))
    assert w32.dtype == np.float32
    a = nn.init.constant_(np.empty(3), 0.25)  # NumPy arrays too
    assert np.array_equal(a, [0.25] * 3)
    assert np.array_equal(nn.init.eye_(cr.empty(2, 2)).numpy(), np.eye(2))
    assert np.array_equal(nn.init.ones_(cr.empty(2)).numpy(), [1, 1])
    assert np.array_equal(nn.init.zeros_(cr.empty(2)).numpy(), [0, 0])


def test_linear_initialisation_as_torch():
    layer, ref = nn.Linear(200, 300), torch.nn.Linear(200, 300)
    bound = 1 / math.sqrt(200)
    for w, b in ((layer.weight.detach().numpy(), layer.bias.detach().numpy()),
                 (ref.weight.detach().numpy(), ref.bias.detach().numpy())):  # fmt: skip
        assert w.shape == (300, 200) and b.shape == (300,)
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
        np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
        assert np.abs(b).max() <= bound
    assert layer.weight.dtype == np.float64
    l32 = nn.Linear(3, 2, dtype=np.float32)
    assert l32.weight.dtype == l32.bias.dtype == np.float32
    out = l32(cr.ones(4, 3, dtype=np.float32))
    assert out.dtype == np.float32
    out.sum().backward()
    assert l32.weight.grad.dtype == np.float32
    assert nn.Linear(3, 2, bias=False).bias is None
    assert list(nn.Linear(3, 2, bias=False).state_dict()) == ["weight"]


# --- modules -------------------------------------------------------------------------------------


def _models(lib):
    """The same architecture in chainrule.nn and torch.nn."""

    class Block(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = lib.nn.Linear(4, 4)
            self.act = lib.nn.GELU()
            self.register_buffer("scale", lib.ones(4))
            self.register_buffer("cache", lib.zeros(1), persistent=False)

        def forward(self, x):
            return self.act(self.proj(x)) * self.scale

    return lib.nn.Sequential(
        lib.nn.Linear(3, 4), lib.nn.Tanh(), Block(),
        lib.nn.Sequential(lib.nn.Dropout(0.2), lib.nn.Linear(4, 2, bias=False)),
        lib.nn.LogSoftmax(dim=1),
    ).double()  # fmt: skip


def test_state_dict_keys_and_repr_as_torch():
    ours, theirs = _models(cr), _models(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == \
        [type(m).__name__ for m in theirs.children()]  # fmt: skip
    assert repr(ours) == repr(theirs)
    for m in (nn.ReLU(inplace=True), nn.Softmax(), nn.Identity(), nn.MSELoss(), nn.Module()):
        assert repr(m) == repr(getattr(torch.nn, type(m).__name__)(
            *(() if not isinstance(m, nn.ReLU) else (True,))))  # fmt: skip


def test_state_dict_round_trips():
    ours, theirs = _models(cr), _models(torch)
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert repr(ours.load_state_dict(sd)) == "<All keys matched successfully>"
    ours.eval(), theirs.eval()
    x = rng.standard_normal((5, 3))
    np.testing.assert_allclose(_np(ours(cr.tensor(x))), _np(theirs(torch.tensor(x))), **TOL)
    # torch tensors load directly; ours into a fresh copy; values shared, detached
    fresh = _models(cr)
    fresh.load_state_dict(theirs.state_dict())
    again = _models(cr)
    again.load_state_dict(fresh.state_dict())
    for (k, a), (_, b) in zip(again.state_dict().items(), ours.state_dict().items()):
        assert np.array_equal(a.numpy(), b.numpy()), k
    sd = ours.state_dict()
    assert not sd["0.weight"].requires_grad
    with cr.no_grad():
        ours[0].weight.add_(1.0)
    assert np.array_equal(sd["0.weight"].numpy(), ours[0].weight.detach().numpy())
    assert ours.state_dict(keep_vars=True)["0.weight"] is ours[0].weight
    # values of another dtype are cast to the parameter's
    l32 = nn.Linear(2, 1, dtype=np.float32)
    l32.load_state_dict({"weight": np.ones((1, 2)), "bias": np.zeros(1)})
    assert l32.weight.dtype == np.float32 and l32.weight.requires_grad
    # assign=True: the values replace the tensors (new Parameters, requires_grad kept)
    old = l32.weight
    l32.load_state_dict({"weight": np.full((1, 2), 2.0), "bias": np.zeros(1)}, assign=True)
    assert l32.weight is not old and isinstance(l32.weight, nn.Parameter)
    assert l32.weight.requires_grad and np.array_equal(l32.weight.detach().numpy(), [[2, 2]])


def test_load_state_dict_errors_as_torch():
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    bad = {"weight": np.zeros((2, 3)), "extra": np.zeros(1), "other": np.zeros(1)}
    msgs = []
    for model, sd in ((ours, bad), (theirs, {k: torch.tensor(v) for k, v in bad.items()})):
        with pytest.raises(RuntimeError) as err:
            model.load_state_dict(sd)
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]
    assert 'Missing key(s) in state_dict: "bias"' in msgs[0]
    assert 'Unexpected key(s) in state_dict: "extra", "other"' in msgs[0]
    before = ours.weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        ours.load_state_dict({"weight": np.zeros((3, 3)), "bias": np.zeros(2)}, strict=False)
    assert np.array_equal(before, ours.weight.detach().numpy())  # nothing was copied
    got = ours.load_state_dict(bad, strict=False)
    want = theirs.load_state_dict({k: torch.tensor(v) for k, v in bad.items()}, strict=False)
    assert (got.missing_keys, got.unexpected_keys) == (want.missing_keys, want.unexpected_keys)
    assert np.array_equal(ours.weight.detach().numpy(), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="dict-like"):
        ours.load_state_dict([1, 2])


def test_module_registration_and_modes():
    m = _models(cr)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m[0].weight = cr.zeros(4, 3)
    with pytest.raises(AttributeError, match="before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.w = nn.Parameter(cr.zeros(1))
        Bad()
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        m.missing  # noqa: B018
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", cr.zeros(1))
    m[0].bias = None  # a parameter may become None
    assert "0.bias" not in m.state_dict()
    m[0].note = "plain attribute"
    assert m[0].note == "plain attribute"
    del m[0].weight
    assert "0.weight" not in m.state_dict()
    assert m.training and all(s.training for s in m.modules())
    assert m.eval() is m and not any(s.training for s in m.modules())
    m.train()
    assert all(s.training for s in m.modules())
    assert m.get_submodule("3.1") is m[3][1]
    assert m.get_parameter("2.proj.weight") is m[2].proj.weight
    seq = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    del seq[0]
    assert list(seq.state_dict()) == [] and [type(s).__name__ for s in seq] == ["Tanh", "Sigmoid"]
    assert list(seq._modules) == ["0", "1"]
    seq.append(nn.ReLU())
    assert len(seq) == 3 and isinstance(seq[-1], nn.ReLU)
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.insert(0, nn.Linear(2, 3))
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_parameters_shared_and_copied():
    lin = nn.Linear(2, 2)
    tied = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(tied.parameters())) == 2
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    p = nn.Parameter(cr.ones(2))
    assert isinstance(p, cr.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p) == "Parameter containing:\ntensor([1., 1.], requires_grad=True)"
    assert type(p * 2) is cr.Tensor
    t = cr.zeros(2)
    shared = nn.Parameter(t)
    t.add_(1.0)
    assert np.array_equal(shared.detach().numpy(), [1.0, 1.0])  # shares, as torch's
    assert not nn.Parameter(cr.zeros(1), requires_grad=False).requires_grad
    model = _models(cr)
    model(cr.ones(2, 3)).sum().backward()
    clone = copy.deepcopy(model)
    for (k, a), (_, b) in zip(model.named_parameters(), clone.named_parameters()):
        assert a is not b and type(b) is nn.Parameter and b.requires_grad
        assert np.array_equal(a.detach().numpy(), b.detach().numpy()), k
        assert np.array_equal(a.grad.numpy(), b.grad.numpy()), k


def test_zero_grad_and_to():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    m(cr.ones(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert all(np.array_equal(p.grad.numpy(), np.zeros(p.shape)) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert m.to(np.float32) is m
    assert all(p.dtype == np.float32 and p.requires_grad for p in m.parameters())
    m(cr.ones(4, 3, dtype=np.float32)).sum().backward()
    assert all(p.grad.dtype == np.float32 for p in m.parameters())
    assert m.double()[0].weight.dtype == np.float64
    with pytest.raises(TypeError, match="floating point"):
        m.to(np.int32)


def test_dropout():
    drop = nn.Dropout(0.25)
    x = np.ones((200, 50))
    cr.manual_seed(3)
    y = drop(x)
    cr.manual_seed(3)
    assert np.array_equal(drop(x), y)  # reproducible
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert drop.eval()(x) is x
    t = cr.tensor(x, requires_grad=True)
    F.dropout(t, 0.5).sum().backward()
    assert set(np.unique(t.grad.numpy())) <= {0.0, 2.0}
    f = cr.jit(lambda a: F.dropout(a, 0.5))
    assert not np.array_equal(f(x), f(x))  # drawn afresh at each call
    assert np.array_equal(F.dropout(x, 1.0), np.zeros_like(x))
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


# --- training against torch ----------------------------------------------------------------------


def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 16), lib.nn.Tanh(), lib.nn.Linear(16, 16),
                             lib.nn.GELU(), lib.nn.Linear(16, 3)).double()  # fmt: skip


def test_mlp_trained_with_sgd_matches_torch():
    theirs = _mlp(torch)
    ours = _mlp(cr)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((32, 4))
    y = rng.integers(0, 3, 32)
    lr = 0.5
    for _ in range(5):
        for lib, model in ((torch, theirs), (cr, ours)):
            model.zero_grad()
            fn = TF if lib is torch else F
            loss = fn.cross_entropy(model(lib.tensor(x)), lib.tensor(y), label_smoothing=0.1)
            loss.backward()
            norm = (torch.nn.utils if lib is torch else nn.utils).clip_grad_norm_(
                model.parameters(), max_norm=1.0)  # fmt: skip
            with lib.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            if lib is torch:
                want_loss, want_norm = loss.item(), norm.item()
        np.testing.assert_allclose(loss.item(), want_loss, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(norm.item(), want_norm, rtol=1e-10, atol=1e-10)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ps = [cr.zeros(g.shape, requires_grad=True) for g in grads]
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = cr.tensor(g), torch.tensor(g)
    ps.append(cr.zeros(2, requires_grad=True))  # no gradient: left out
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert isinstance(total, cr.Tensor)
    np.testing.assert_allclose(total.item(), want.item(), **TOL)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **TOL)
    assert nn.utils.clip_grad_norm_([cr.zeros(1, requires_grad=True)], 1.0).item() == 0.0
    p = cr.zeros(2, requires_grad=True)
    p.grad = cr.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_vectors():
    g = rng.standard_normal(6) * 3
    p, tp = cr.zeros(6, requires_grad=True), torch.zeros(6, dtype=torch.float64, requires_grad=True)
    p.grad, tp.grad = cr.tensor(g), torch.tensor(g)
    nn.utils.clip_grad_value_(p, 1.0)
    torch.nn.utils.clip_grad_value_(tp, 1.0)
    assert np.array_equal(p.grad.numpy(), tp.grad.numpy())
    m = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(np.arange(8.0), m.parameters())
    assert np.array_equal(m.bias.detach().numpy(), [6.0, 7.0])


# --- functional_call -----------------------------------------------------------------------------


def test_functional_call_under_jit_grad_matches_backward():
    model = _mlp(cr)
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    params = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    def loss(p, x, y):
        return F.cross_entropy(nn.functional_call(model, p, x), y)

    grads = cr.jit(cr.grad(loss))(params, x, y)
    assert set(grads) == set(params)
    model(cr.tensor(x))  # the module is unchanged afterwards
    assert all(np.array_equal(v.numpy(), before[k]) for k, v in model.state_dict().items())
    F.cross_entropy(model(cr.tensor(x)), cr.tensor(y)).backward()
    for k, p in model.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), **TOL, err_msg=k)
    # different parameter values give different results; vmap over a batch of parameters
    shifted = {k: v + 0.1 for k, v in params.items()}
    assert not np.allclose(cr.jit(cr.grad(loss))(shifted, x, y)["4.bias"], grads["4.bias"])
    stacked = {k: np.stack([v, v + 0.1]) for k, v in params.items()}
    outs = cr.vmap(lambda p: nn.functional_call(model, p, x))(stacked)
    np.testing.assert_allclose(outs[1], nn.functional_call(model, shifted, x), **TOL)


def test_functional_call_keys_and_ties():
    lin = nn.Linear(2, 2)
    tied = nn.Sequential(lin, nn.Tanh(), lin)
    w = np.eye(2)
    out = nn.functional_call(tied, {"0.weight": w, "0.bias": np.zeros(2)}, np.ones((1, 2)))
    np.testing.assert_allclose(out, np.tanh(np.ones((1, 2))), **TOL)  # both replaced
    partial = nn.functional_call(lin, {"bias": np.zeros(2)}, (np.ones((1, 2)),))
    np.testing.assert_allclose(_np(partial), _np(lin.weight).sum(1)[None], **TOL)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        nn.functional_call(lin, {"scale": np.ones(1)}, np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.functional_call(lin, {"bias": np.zeros(2)}, np.ones((1, 2)), strict=True)
    with pytest.raises(ValueError, match="multiple dictionaries"):
        nn.functional_call(lin, ({"bias": np.zeros(2)}, {"bias": np.zeros(2)}), np.ones(2))



def test_modules_check_devices_and_to_arguments_as_tensors_do():
    layer = nn.Linear(2, 2)
    if importlib.util.find_spec("cupy") is None:  # with CuPy: tests/test_gpu.py
        for call in (lambda: layer.to("cuda"), lambda: nn.Linear(2, 2, device="cuda"),
                     lambda: layer.cuda(), lambda: cr.zeros(1).to("cuda")):  # fmt: skip
            with pytest.raises(ImportError, match=r"needs CuPy.*chainrule\[gpu\]"):
                call()
        assert layer.weight.device == "cpu"  # nothing moved
    with pytest.raises(ValueError):
        layer.to("tpu")
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['bad'\]"):
        layer.to(bad=1)
    assert layer.to("cpu", np.float32) is layer and layer.weight.dtype == np.float32
    assert layer.to(cr.zeros(1, dtype=np.float64)).weight.dtype == np.float64
