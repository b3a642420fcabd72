"""`chainrule.nn` against PyTorch, on what tests/test_nn.py leaves out (float64, 1e-12).

Losses: cross_entropy on (N, C, d1, d2) inputs with every option, unbatched inputs,
gradients with respect to the class weight and to probability targets, -inf logits, empty
batches, the legacy `size_average`/`reduce` arguments and result dtypes; nll_loss on 1-D
inputs and on values that are not log-probabilities. Activations at NaN, 0 and large |x|
(values and gradients). `Linear` on 1-D, 2-D, 3-D and empty batches. Dropout's identities
and its gradient. Module bookkeeping: parameter order and names (shared parameters,
prefixes, registration over an existing name), `train`/`eval` propagation, `zero_grad`,
`requires_grad_`, `state_dict` memory sharing and `load_state_dict` (strict=False keys,
casts, `assign`). `nn.init`: gains, fans and the spread of each initialisation. Gradient
clipping for every norm order, non-finite norms and mixed dtypes; parameter vectors. An
end-to-end training loop written once against a namespace `L` and run with both libraries.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = dict(rtol=1e-12, atol=1e-12)
rng = np.random.default_rng(20260)


def _np(t):
    return t.detach().numpy() if isinstance(t, (torch.Tensor, cr.Tensor)) else np.asarray(t)


def _close(a, b, **kw):
    a, b = _np(a), _np(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, equal_nan=True, **(kw or TOL))


def _both(x):
    """The same float64 values as a chainrule and a torch leaf that require grad."""
    return cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


# --- losses --------------------------------------------------------------------------------------

X4 = rng.standard_normal((2, 3, 4, 5))
T4 = rng.integers(0, 3, (2, 4, 5))
W3 = np.array([0.3, 1.0, 2.0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("ignore", [-100, 2])
def test_cross_entropy_4d_indices(reduction, smoothing, ignore):
    cx, tx = _both(X4)
    kw = dict(reduction=reduction, label_smoothing=smoothing, ignore_index=ignore)
    a = F.cross_entropy(cx, cr.tensor(T4), weight=cr.tensor(W3), **kw)
    b = TF.cross_entropy(tx, torch.tensor(T4), weight=torch.tensor(W3), **kw)
    _close(a, b)
    g = rng.standard_normal(b.shape)
    (a * cr.tensor(g)).sum().backward()
    (b * torch.tensor(g)).sum().backward()
    _close(cx.grad, tx.grad)
    # the modules, with the same settings
    _close(nn.CrossEntropyLoss(weight=W3, **kw)(X4, T4),
           torch.nn.CrossEntropyLoss(weight=torch.tensor(W3), **kw)(torch.tensor(X4),
                                                                     torch.tensor(T4)))
    lp = _np(TF.log_softmax(torch.tensor(X4), 1))
    nkw = dict(reduction=reduction, ignore_index=ignore)
    _close(nn.NLLLoss(weight=W3, **nkw)(lp, T4),
           torch.nn.NLLLoss(weight=torch.tensor(W3), **nkw)(torch.tensor(lp), torch.tensor(T4)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_4d_probabilities(reduction):
    p = rng.uniform(size=X4.shape)
    p /= p.sum(1, keepdims=True)
    cx, tx = _both(X4)
    a = F.cross_entropy(cx, cr.tensor(p), weight=cr.tensor(W3), reduction=reduction,
                        label_smoothing=0.15)
    b = TF.cross_entropy(tx, torch.tensor(p), weight=torch.tensor(W3), reduction=reduction,
                         label_smoothing=0.15)
    _close(a, b)
    a.sum().backward()
    b.sum().backward()
    _close(cx.grad, tx.grad)


def test_cross_entropy_unbatched_with_weight_and_smoothing():
    x = rng.standard_normal(4)
    w = np.array([1.0, 2.0, 3.0, 4.0])
    for t in (np.array(2), np.array(-100)):
        for red in ("mean", "sum", "none"):
            a = F.cross_entropy(x, t, weight=w, label_smoothing=0.2, reduction=red)
            b = TF.cross_entropy(torch.tensor(x), torch.tensor(t), weight=torch.tensor(w),
                                 label_smoothing=0.2, reduction=red)
            _close(a, b)


def test_cross_entropy_gradient_wrt_weight_and_probability_target():
    x = rng.standard_normal((3, 4))
    p = rng.uniform(size=(3, 4))
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2.0, 4)
    cw, tw = _both(w)
    cp, tp = _both(p)
    a = F.cross_entropy(cr.tensor(x), cp, weight=cw, label_smoothing=0.1)
    b = TF.cross_entropy(torch.tensor(x), tp, weight=tw, label_smoothing=0.1)
    _close(a, b)
    a.backward()
    b.backward()
    _close(cw.grad, tw.grad)
    _close(cp.grad, tp.grad)


def test_nll_loss_unbatched_and_raw_inputs():
    lp = np.log(np.array([0.2, 0.3, 0.5]))
    w = np.array([1.0, 2.0, 3.0])
    _close(F.nll_loss(lp, np.array(1), weight=w),
           TF.nll_loss(torch.tensor(lp), torch.tensor(1), weight=torch.tensor(w)))
    x = rng.standard_normal((5, 3))  # not log-probabilities: nll_loss just picks -x[t]
    t = np.array([0, 2, 1, 2, 0])
    for kw in ({"ignore_index": 2, "reduction": "none"}, {"ignore_index": 0},
               {"ignore_index": 0, "weight": w}, {"weight": w, "reduction": "sum"}):
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        cx, tx = _both(x)
        a, b = F.nll_loss(cx, cr.tensor(t), **kw), TF.nll_loss(tx, torch.tensor(t), **tkw)
        _close(a, b)
        a.sum().backward()
        b.sum().backward()
        _close(cx.grad, tx.grad)


def test_cross_entropy_with_minus_inf_logits():
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 1.0, -np.inf]])
    t = np.array([0, 1])
    with np.errstate(all="ignore"):
        for smoothing in (0.0, 0.1):
            cx, tx = _both(x)
            a = F.cross_entropy(cx, cr.tensor(t), label_smoothing=smoothing)
            b = TF.cross_entropy(tx, torch.tensor(t), label_smoothing=smoothing)
            _close(a, b)
            if smoothing == 0.0:
                a.backward()
                b.backward()
                _close(cx.grad, tx.grad)


@pytest.mark.parametrize("v", [[-np.inf, -np.inf], [-np.inf, 1.0, 2.0], [np.nan, 1.0],
                               [np.inf, 1.0, 2.0], [np.inf, np.inf], [np.inf, -np.inf]])
def test_softmax_family_with_non_finite_entries(v):
    v = np.array(v)
    with np.errstate(all="ignore"):
        _close(F.softmax(v, 0), TF.softmax(torch.tensor(v), 0))
        # NaN throughout where the max is +inf (log_softmax gave -inf beside it)
        _close(F.log_softmax(v, 0), TF.log_softmax(torch.tensor(v), 0))
        for k in range(len(v)):  # each class as the target: NaN where torch's is
            _close(F.cross_entropy(v[None], np.array([k])),
                   TF.cross_entropy(torch.tensor(v[None]), torch.tensor([k])))
        cx, tx = _both(v)
        a, b = F.logsumexp(cx, 0), torch.logsumexp(tx, 0)
        _close(a, b)
        a.backward()
        b.backward()
        _close(cx.grad, tx.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_of_an_empty_batch(reduction):
    x, t = np.zeros((0, 3)), np.zeros(0, np.int64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        tx, tt = torch.tensor(x), torch.tensor(t)
        _close(F.cross_entropy(x, t, reduction=reduction),
               TF.cross_entropy(tx, tt, reduction=reduction))
        _close(F.cross_entropy(x, x, reduction=reduction),
               TF.cross_entropy(tx, tx, reduction=reduction))
        _close(F.nll_loss(x, t, reduction=reduction), TF.nll_loss(tx, tt, reduction=reduction))
        _close(F.mse_loss(x, x, reduction=reduction), TF.mse_loss(tx, tx, reduction=reduction))


@pytest.mark.parametrize("size_average", [None, True, False])
@pytest.mark.parametrize("reduce", [None, True, False])
def test_legacy_reduction_arguments(size_average, reduce):
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    t = np.array([0, 2, 1, 2])
    kw = dict(size_average=size_average, reduce=reduce)
    tx, ty, tt = torch.tensor(x), torch.tensor(y), torch.tensor(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert nn.MSELoss(**kw).reduction == torch.nn.MSELoss(**kw).reduction
        pairs = [
            (F.mse_loss(x, y, **kw), TF.mse_loss(tx, ty, **kw)),
            (nn.MSELoss(**kw)(x, y), torch.nn.MSELoss(**kw)(tx, ty)),
            (nn.CrossEntropyLoss(reduction="sum", **kw)(x, t),
             torch.nn.CrossEntropyLoss(reduction="sum", **kw)(tx, tt)),
            (F.nll_loss(x, t, reduction="none", **kw),
             TF.nll_loss(tx, tt, reduction="none", **kw)),
            (nn.NLLLoss(**kw)(x, t), torch.nn.NLLLoss(**kw)(tx, tt)),
        ]
    for a, b in pairs:
        _close(a, b)


def test_loss_result_dtypes_as_torch():
    x = rng.standard_normal((3, 4))
    p = rng.uniform(size=(3, 4))
    x32 = x.astype(np.float32)
    cases = [
        (lambda L, T: L.cross_entropy(T(x32), T(p)), "f32 logits, f64 probabilities"),
        (lambda L, T: L.mse_loss(T(x32), T(x)), "f32 input, f64 target"),
        (lambda L, T: L.mse_loss(T(x32), T(np.ones((3, 4), np.int64))), "int64 target"),
        (lambda L, T: L.softmax(T(x32), 1, dtype=np.float64 if L is F else torch.float64),
         "softmax dtype="),
        (lambda L, T: L.log_softmax(T(x32), 1), "log_softmax f32"),
    ]
    for fn, what in cases:
        a, b = fn(F, cr.tensor), fn(TF, torch.tensor)
        assert str(a.dtype) == str(b.dtype).replace("torch.", ""), what
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, err_msg=what)


def test_loss_modules_keep_weight_as_a_buffer():
    w = np.array([1.0, 2.0, 3.0])
    for ours, theirs in ((nn.CrossEntropyLoss(weight=w), torch.nn.CrossEntropyLoss(
            weight=torch.tensor(w))), (nn.NLLLoss(weight=w), torch.nn.NLLLoss(
            weight=torch.tensor(w))), (nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss())):
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
        assert list(ours.parameters()) == list(theirs.parameters()) == []
    loss = nn.CrossEntropyLoss(weight=w).to(np.float32)
    assert loss.weight.dtype == np.float32
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert loss(cr.tensor(x), cr.tensor(np.array([0, 1, 2, 1]))).dtype == np.float32


# --- activations and layers ----------------------------------------------------------------------


@pytest.mark.parametrize("name, kw", [("relu", {}), ("sigmoid", {}), ("tanh", {}),
                                      ("gelu", {}), ("gelu", {"approximate": "tanh"})])
def test_activations_at_nan_zero_and_far_out(name, kw):
    v = np.array([0.0, np.nan, -1.0, 2.0, -1e3, 1e3, -40.0, 40.0, 5.5, -0.0])
    cx, tx = _both(v)
    with np.errstate(all="ignore"):
        a, b = getattr(F, name)(cx, **kw), getattr(TF, name)(tx, **kw)
        _close(a, b)
        a.sum().backward()
        b.sum().backward()
    _close(cx.grad, tx.grad)


def test_activation_modules_as_torch():
    x = rng.standard_normal((2, 3, 4))
    for make in (lambda L: L.nn.ReLU(), lambda L: L.nn.Tanh(), lambda L: L.nn.Sigmoid(),
                 lambda L: L.nn.GELU(approximate="tanh"), lambda L: L.nn.Softmax(dim=1),
                 lambda L: L.nn.LogSoftmax(dim=-1), lambda L: L.nn.Identity(),
                 lambda L: L.nn.Flatten(), lambda L: L.nn.Flatten(0, 1),
                 lambda L: L.nn.Flatten(-2, -1), lambda L: L.nn.Dropout(0.3).eval()):
        cx, tx = _both(x)
        a, b = make(cr)(cx), make(torch)(tx)
        _close(a, b)
        g = rng.standard_normal(b.shape)
        (a * cr.tensor(g)).sum().backward()
        (b * torch.tensor(g)).sum().backward()
        _close(cx.grad, tx.grad)


def test_implicit_softmax_dim_for_each_rank():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for nd in (1, 2, 3, 4):
            x = rng.standard_normal((2, 3, 4, 5)[:nd])
            _close(nn.Softmax()(x), torch.nn.Softmax()(torch.tensor(x)))
            _close(nn.LogSoftmax()(x), torch.nn.LogSoftmax()(torch.tensor(x)))


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_copied_weights(shape, bias):
    theirs = torch.nn.Linear(3, 2, bias=bias).double()
    ours = nn.Linear(3, 2, bias=bias)
    assert ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal(shape)
    cx, tx = _both(x)
    a, b = ours(cx), theirs(tx)
    _close(a, b)
    g = rng.standard_normal(b.shape)
    (a * cr.tensor(g)).sum().backward()
    (b * torch.tensor(g)).sum().backward()
    _close(cx.grad, tx.grad)
    for (n, p), (m, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == m
        _close(p.grad, q.grad)


def test_dropout_identities_and_gradient():
    for lib, fn in ((cr, F.dropout), (torch, TF.dropout)):
        t = lib.ones(3)
        assert fn(t, 0.0, True) is t and fn(t, 0.5, False) is t
    cx, tx = _both(np.ones(3))
    F.dropout(cx, 1.0).sum().backward()
    TF.dropout(tx, 1.0).sum().backward()
    _close(cx.grad, tx.grad)
    # train mode: kept elements scaled by 1/(1-p); the gradient is the same mask and scale
    x = rng.uniform(1.0, 2.0, (50, 40))
    cx = cr.tensor(x, requires_grad=True)
    cr.manual_seed(5)
    out = F.dropout(cx, 0.2)
    out.sum().backward()
    ratio = _np(out) / x
    assert set(np.round(np.unique(ratio), 12)) == {0.0, round(1 / 0.8, 12)}
    np.testing.assert_allclose(_np(cx.grad), ratio, **TOL)
    # in place on a non-leaf, the gradient follows the mask written into it
    cx = cr.tensor(x, requires_grad=True)
    y = cx * 2.0
    cr.manual_seed(6)
    z = F.dropout(y, 0.5, inplace=True)
    assert z is y
    z.sum().backward()
    np.testing.assert_allclose(_np(cx.grad), _np(z) / x, **TOL)
    # a Dropout inside a model in eval mode
    seq = nn.Sequential(nn.Dropout(0.9), nn.Sequential(nn.Dropout(0.9))).eval()
    np.testing.assert_array_equal(_np(seq(cr.tensor(x))), x)


# --- module bookkeeping --------------------------------------------------------------------------


def _net(L):
    class Net(L.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = L.nn.Linear(1, 1)
            self.p = L.nn.Parameter(L.zeros(2))
            self.b = L.nn.Sequential(L.nn.Linear(1, 2), L.nn.Tanh(), L.nn.Linear(2, 1))
            self.q = L.nn.Parameter(L.zeros(1))

    return Net()


def _names(m, **kw):
    return [n for n, _ in m.named_parameters(**kw)]


def test_parameter_order_and_names_as_torch():
    ours, theirs = _net(cr), _net(torch)
    for kw in ({}, {"prefix": "m"}, {"recurse": False}, {"remove_duplicate": False}):
        assert _names(ours, **kw) == _names(theirs, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    # registering again under an existing name keeps the position
    ours.register_parameter("p", nn.Parameter(cr.ones(2)))
    theirs.register_parameter("p", torch.nn.Parameter(torch.ones(2)))
    ours.add_module("a", nn.Linear(1, 1))
    theirs.add_module("a", torch.nn.Linear(1, 1))
    assert _names(ours) == _names(theirs)
    ours.p, theirs.p = None, None
    assert _names(ours) == _names(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_shared_parameters_and_containers_as_torch():
    def tied(L):
        lin = L.nn.Linear(2, 2)
        return L.nn.Sequential(lin, L.nn.Tanh(), lin)

    ours, theirs = tied(cr), tied(torch)
    for kw in ({}, {"remove_duplicate": False}, {"prefix": "x"}):
        assert _names(ours, **kw) == _names(theirs, **kw)
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    # Sequential: assignment by index keeps the place, deletion renumbers
    s = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 3))
    ts = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3))
    s[0], ts[0] = nn.Linear(1, 2), torch.nn.Linear(1, 2)
    assert list(s.state_dict()) == list(ts.state_dict())
    del s[1]
    del ts[1]
    assert list(s.state_dict()) == list(ts.state_dict()) == ["0.weight", "0.bias", "1.weight",
                                                             "1.bias"]
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2)])
    tml = torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.Linear(1, 2)])
    ml[-2], tml[-2] = nn.Linear(1, 3), torch.nn.Linear(1, 3)
    assert [m.out_features for m in ml] == [m.out_features for m in tml] == [3, 2]
    assert list(ml.state_dict()) == list(tml.state_dict())


def test_train_eval_propagation_as_torch():
    def build(L):
        return L.nn.Sequential(L.nn.Linear(1, 1), L.nn.Sequential(
            L.nn.Dropout(), L.nn.ModuleList([L.nn.Dropout(), L.nn.ReLU()])))

    ours, theirs = build(cr), build(torch)

    def flags(m):
        return [x.training for x in m.modules()]

    assert flags(ours) == flags(theirs)
    for step in (lambda m: m.eval(), lambda m: m.train(), lambda m: m[1].eval(),
                 lambda m: m.train(False), lambda m: m[1][1].train()):
        assert step(ours) is not None and step(theirs) is not None
        assert flags(ours) == flags(theirs)
    assert nn.MSELoss().training and nn.Sequential().eval().training is False


def test_zero_grad_and_requires_grad_as_torch():
    theirs = torch.nn.Linear(2, 1).double()
    ours = nn.Linear(2, 1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((3, 2))
    for m, T in ((ours, cr.tensor), (theirs, torch.tensor)):
        m(T(x)).sum().backward()
        m.zero_grad(set_to_none=False)
        assert not m.weight.grad.requires_grad and not m.weight.grad.any()
        m(T(x)).sum().backward()  # accumulates from zero
    _close(ours.weight.grad, theirs.weight.grad)
    ours.zero_grad()
    theirs.zero_grad()
    assert ours.weight.grad is None and theirs.weight.grad is None
    # frozen parameters get no gradient; the input still does
    cx, tx = _both(x)
    for m, t in ((ours, cx), (theirs, tx)):
        assert m.requires_grad_(False) is m
        m(t).sum().backward()
        assert m.weight.grad is None and m.bias.grad is None
    _close(cx.grad, tx.grad)
    assert [p.requires_grad for p in ours.requires_grad_().parameters()] == [True, True]


def test_state_dict_shares_memory_and_load_options_as_torch():
    theirs = torch.nn.Linear(2, 1).double()
    ours = nn.Linear(2, 1)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for m in (ours, theirs):
        sd = m.state_dict()
        assert not sd["weight"].requires_grad
        assert m.state_dict(keep_vars=True)["weight"] is m.weight
        with (cr if m is ours else torch).no_grad():
            sd["weight"].add_(1.0)  # writes through to the parameter
    _close(ours.weight, theirs.weight)
    # integer values cast to the parameters' dtype
    src = {"weight": np.array([[1, 2]]), "bias": np.array([3])}
    ours.load_state_dict(src)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in src.items()})
    assert ours.weight.dtype == np.float64
    _close(ours.weight, theirs.weight)
    _close(ours.bias, theirs.bias)
    # assign: the source's dtype, the parameter's requires_grad
    for m in (ours, theirs):
        m.requires_grad_(False)
    ours.load_state_dict({k: v.astype(np.float32) for k, v in src.items()}, assign=True)
    theirs.load_state_dict({k: torch.tensor(v, dtype=torch.float32) for k, v in src.items()},
                           assign=True)
    assert isinstance(ours.weight, nn.Parameter) and isinstance(theirs.weight, torch.nn.Parameter)
    assert ours.weight.dtype == np.float32 and theirs.weight.dtype == torch.float32
    assert ours.weight.requires_grad is theirs.weight.requires_grad is False
    # assign shares the given tensor's memory (a Parameter: the object itself), as torch's
    for L, m in ((cr, ours), (torch, theirs)):
        w = L.tensor([[1.0, 2.0]], dtype=L.float32)
        b = (nn.Parameter if L is cr else torch.nn.Parameter)(L.tensor([3.0], dtype=L.float32))
        m.load_state_dict({"weight": w, "bias": b}, assign=True)
        with L.no_grad():
            w[0, 0] = 5.0
        assert m.bias is b and m.weight.requires_grad is b.requires_grad is False
    _close(ours.weight, theirs.weight)
    arr = np.array([[7.0, 8.0]])  # an array: a tensor on its memory (torch.from_numpy's)
    ours.load_state_dict({"weight": arr, "bias": np.zeros(1)}, assign=True)
    theirs.load_state_dict({"weight": torch.from_numpy(arr), "bias": torch.zeros(1)},
                           assign=True)
    arr[0, 1] = -1.0
    _close(ours.weight, theirs.weight)
    assert ours.weight.detach().numpy()[0, 1] == -1.0


def test_load_state_dict_not_strict_reports_keys_as_torch():
    def build(L):
        return L.nn.Sequential(L.nn.Linear(2, 2), L.nn.ReLU(), L.nn.Sequential(L.nn.Linear(2, 1)))

    ours, theirs = build(cr), build(torch)
    sd = {"2.0.extra": np.zeros(1), "zzz": np.zeros(1), "1.foo": np.zeros(1),
          "0.weight": np.full((2, 2), 0.5)}
    a = ours.load_state_dict(sd, strict=False)
    b = theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=False)
    assert a.missing_keys == b.missing_keys
    assert sorted(a.unexpected_keys) == sorted(b.unexpected_keys)
    _close(ours[0].weight, np.full((2, 2), 0.5))
    m = nn.Module()
    m.register_buffer("a", cr.zeros(1), persistent=False)
    tm = torch.nn.Module()
    tm.register_buffer("a", torch.zeros(1), persistent=False)
    assert list(m.state_dict()) == list(tm.state_dict()) == []
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()] == ["a"]


# --- init ----------------------------------------------------------------------------------------

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


def test_calculate_gain_for_every_nonlinearity_and_param():
    for nl in NONLINEARITIES:
        for param in (None, 0, 0.3, 1, -0.5, 2):
            assert nn.init.calculate_gain(nl, param) == torch.nn.init.calculate_gain(nl, param)
    for bad in (True, "x"):
        for lib in (nn.init, torch.nn.init):
            with pytest.raises(ValueError, match="not a valid number"):
                lib.calculate_gain("leaky_relu", bad)
    for name in ("LINEAR", "Relu", "gelu"):
        for lib in (nn.init, torch.nn.init):
            with pytest.raises(ValueError, match="Unsupported nonlinearity"):
                lib.calculate_gain(name)


def test_fans_and_init_errors_as_torch():
    for shape in [(3, 5), (2, 3, 4), (4, 3, 2, 2), (5, 2, 3, 1, 2), (0, 3), (3, 0), (1, 1, 0)]:
        assert nn.init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for ours, theirs, err in (
            (lambda: nn.init.eye_(cr.empty(2, 2, 2)), lambda: torch.nn.init.eye_(
                torch.empty(2, 2, 2)), ValueError),
            (lambda: nn.init.kaiming_uniform_(cr.empty(2, 2), mode="fan_avg"),
             lambda: torch.nn.init.kaiming_uniform_(torch.empty(2, 2), mode="fan_avg"),
             ValueError),
            (lambda: nn.init.kaiming_normal_(cr.empty(3)),
             lambda: torch.nn.init.kaiming_normal_(torch.empty(3)), ValueError),
            (lambda: nn.init.xavier_uniform_(cr.empty(0, 0)),
             lambda: torch.nn.init.xavier_uniform_(torch.empty(0, 0)), ZeroDivisionError)):
        with pytest.raises(err):
            ours()
        with pytest.raises(err):
            theirs()
    ints = nn.init.constant_(cr.zeros(2, dtype=np.int64), 1.7)
    _close(ints, torch.nn.init.constant_(torch.zeros(2, dtype=torch.int64), 1.7))
    p = nn.Parameter(cr.zeros(2, 3))
    p.grad = cr.ones(2, 3)
    assert nn.init.kaiming_normal_(p) is p and p.requires_grad and p.grad is not None


def _gain(nonlinearity, a):
    return torch.nn.init.calculate_gain(nonlinearity, a)


SHAPE = (400, 50, 3)  # fan_in 150, fan_out 1200
KAIMING = [
    ({"a": 0.2, "mode": "fan_out"}, _gain("leaky_relu", 0.2) / math.sqrt(1200)),
    ({"nonlinearity": "tanh"}, (5 / 3) / math.sqrt(150)),
    ({"nonlinearity": "selu", "mode": "FAN_IN"}, 0.75 / math.sqrt(150)),
    ({"a": 1, "nonlinearity": "leaky_relu"}, 1 / math.sqrt(150)),
    ({"nonlinearity": "sigmoid", "a": 3}, 1 / math.sqrt(150)),
    ({"nonlinearity": "conv_transpose2d", "mode": "fan_out"}, 1 / math.sqrt(1200)),
]


@pytest.mark.parametrize("kw, std", KAIMING)
@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_kaiming_spread_on_conv_shapes(kw, std, kind):
    cr.manual_seed(1)
    ours = getattr(nn.init, f"kaiming_{kind}_")(cr.empty(*SHAPE), **kw).numpy()
    theirs = getattr(torch.nn.init, f"kaiming_{kind}_")(torch.empty(SHAPE), **kw).numpy()
    for v in (ours, theirs):
        np.testing.assert_allclose(v.std(), std, rtol=0.02)
        assert abs(v.mean()) < 4 * std / math.sqrt(v.size)
        if kind == "uniform":  # U(-bound, bound), bound = sqrt(3) std
            bound = math.sqrt(3) * std
            assert np.abs(v).max() <= bound and np.abs(v).max() > 0.999 * bound


@pytest.mark.parametrize("kind", ["uniform", "normal"])
def test_xavier_spread_on_conv_shapes(kind):
    std = 0.5 * math.sqrt(2 / (150 + 1200))
    cr.manual_seed(2)
    ours = getattr(nn.init, f"xavier_{kind}_")(cr.empty(*SHAPE), gain=0.5).numpy()
    theirs = getattr(torch.nn.init, f"xavier_{kind}_")(torch.empty(SHAPE), gain=0.5).numpy()
    for v in (ours, theirs):
        np.testing.assert_allclose(v.std(), std, rtol=0.02)
        if kind == "uniform":
            assert np.abs(v).max() <= math.sqrt(3) * std


def test_degenerate_init_ranges():
    for ours, theirs in ((nn.init.normal_(cr.empty(4, 3), 0.5, 0.0),
                          torch.nn.init.normal_(torch.empty(4, 3, dtype=torch.float64), 0.5, 0.0)),
                         (nn.init.uniform_(cr.empty(4, 3), 2.0, 2.0),
                          torch.nn.init.uniform_(torch.empty(4, 3, dtype=torch.float64), 2., 2.))):
        _close(ours, theirs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(nn.Linear(0, 3).bias, torch.nn.Linear(0, 3).double().bias)


# --- utils ---------------------------------------------------------------------------------------

GRADS = [rng.standard_normal((3, 4)), rng.standard_normal(5), np.array([0.0, -7.0])]


def _with_grads(lib, grads):
    ps = []
    for g in grads:
        p = lib.zeros(g.shape, dtype=lib.float64 if lib is torch else np.float64,
                      requires_grad=True)
        p.grad = lib.tensor(g)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [0, 0.5, 1, 2, 3, -1, math.inf, -math.inf, "inf", 2.5])
@pytest.mark.parametrize("max_norm", [0.1, 1e9, 0.0, -1.0])
def test_clip_grad_norm_every_order(norm_type, max_norm):
    ours, theirs = _with_grads(cr, GRADS), _with_grads(torch, GRADS)
    before = ours[0].grad
    with np.errstate(divide="ignore"):  # 0 ** -1 inside the -1 norm
        a = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    b = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    _close(a, b)
    assert a.dtype == np.float64 and a.shape == ()
    assert ours[0].grad is before  # in place
    for p, q in zip(ours, theirs):
        _close(p.grad, q.grad)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_clip_grad_norm_non_finite(bad):
    g = [np.array([bad, 1.0]), np.array([2.0])]
    ours, theirs = _with_grads(cr, g), _with_grads(torch, g)
    with np.errstate(all="ignore"):
        _close(nn.utils.clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0))
    for p, q in zip(ours, theirs):
        _close(p.grad, q.grad)
    ours, theirs = _with_grads(cr, g), _with_grads(torch, g)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    for p, q in zip(ours, theirs):  # left as they were
        _close(p.grad, q.grad)


def test_clip_grad_norm_mixed_dtypes_and_value_clipping():
    ours = [cr.zeros(2, dtype=np.float32, requires_grad=True), cr.zeros(2, requires_grad=True)]
    theirs = [torch.zeros(2, requires_grad=True),
              torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    ours[0].grad = cr.tensor(np.array([3.0, 4.0], np.float32))
    ours[1].grad = cr.tensor([1e-8, 1.0])
    theirs[0].grad = torch.tensor([3.0, 4.0])
    theirs[1].grad = torch.tensor([1e-8, 1.0], dtype=torch.float64)
    _close(nn.utils.clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0),
           rtol=1e-7)
    for p, q in zip(ours, theirs):
        assert str(p.grad.dtype) == str(q.grad.dtype).replace("torch.", "")
        _close(p.grad, q.grad, rtol=1e-6)
    for clip in (0.5, -0.5, 0, 3):
        a, b = _with_grads(cr, GRADS + [np.array([np.nan])]), _with_grads(torch, GRADS + [
            np.array([np.nan])])
        before = a[0].grad
        nn.utils.clip_grad_value_(a, clip)
        torch.nn.utils.clip_grad_value_(b, clip)
        assert a[0].grad is before
        for p, q in zip(a, b):
            _close(p.grad, q.grad)


def test_parameter_vectors_as_torch():
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(),
                                 torch.nn.Linear(3, 1)).double()
    ours = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    v = nn.utils.parameters_to_vector(ours.parameters())
    tv = torch.nn.utils.parameters_to_vector(theirs.parameters())
    _close(v, tv)
    assert v.requires_grad and tv.requires_grad
    g = rng.standard_normal(13)
    (v * cr.tensor(g)).sum().backward()
    (tv * torch.tensor(g)).sum().backward()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _close(p.grad, q.grad)
    long = np.arange(15.0)  # extra entries are ignored
    nn.utils.vector_to_parameters(cr.tensor(long), ours.parameters())
    torch.nn.utils.vector_to_parameters(torch.tensor(long), theirs.parameters())
    for p, q in zip(ours.parameters(), theirs.parameters()):
        _close(p, q)


# --- one program, both libraries -----------------------------------------------------------------


def _program(L, state):
    """A classifier on (N, 2, 3, 3) inputs with per-pixel labels, trained by hand-written SGD."""
    nnL = L.nn
    Fn = nnL.functional

    class Head(nnL.Module):
        def __init__(self):
            super().__init__()
            self.proj = nnL.Linear(4, 3)
            self.scale = nnL.Parameter(L.tensor(np.array([1.5, 0.5, 1.0])))

        def forward(self, x):
            return self.proj(x) * self.scale

    model = nnL.Sequential(nnL.Linear(2, 4), nnL.GELU(approximate="tanh"), nnL.Dropout(0.5),
                           Head())
    model = model.double() if L is torch else model
    model.load_state_dict({k: L.tensor(v) for k, v in state.items()})
    model.eval()  # dropout off
    x = L.tensor(np.moveaxis(X_PROG, 1, -1))  # channels last for Linear
    t = L.tensor(T_PROG)
    crit = nnL.CrossEntropyLoss(weight=L.tensor(W3), ignore_index=1, label_smoothing=0.1)
    losses = []
    for _ in range(4):
        model.zero_grad()
        logits = model(x).permute(0, 3, 1, 2)
        loss = crit(logits, t) + 0.1 * Fn.mse_loss(logits, L.zeros(logits.shape,
                                                                   dtype=logits.dtype))
        loss.backward()
        L.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        with L.no_grad():
            for p in model.parameters():
                p -= 0.3 * p.grad
        losses.append(loss.item())
    return losses, {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


X_PROG = rng.standard_normal((3, 2, 3, 3))
T_PROG = rng.integers(0, 3, (3, 3, 3))


def test_training_program_matches_torch():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.GELU(), torch.nn.Dropout(),
                              torch.nn.Linear(4, 3)).double()
    state = {"0.weight": ref[0].weight.detach().numpy(), "0.bias": ref[0].bias.detach().numpy(),
             "3.proj.weight": ref[3].weight.detach().numpy(),
             "3.proj.bias": ref[3].bias.detach().numpy(), "3.scale": np.array([1.5, 0.5, 1.0])}
    state = {k: np.array(v) for k, v in state.items()}
    want_losses, want_state = _program(torch, state)
    got_losses, got_state = _program(cr, state)
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-11, atol=1e-12)
    assert list(got_state) == list(want_state) == ["0.weight", "0.bias", "3.scale",
                                                   "3.proj.weight", "3.proj.bias"]
    for k in want_state:
        np.testing.assert_allclose(got_state[k], want_state[k], rtol=1e-11, atol=1e-12,
                                   err_msg=k)


def test_reassigning_a_submodule_or_parameter_keeps_its_place_like_torch():
    """It moved to the end: a Sequential ran its layers in another order, and parameters(),
    state_dict() and optimizer state lined up differently."""
    from collections import OrderedDict

    out = []
    for L in (torch, cr):
        s = L.nn.Sequential(OrderedDict(lin=L.nn.Linear(2, 2, bias=False), act=L.nn.ReLU()))
        s.lin = L.nn.Linear(2, 2, bias=False)
        with L.no_grad():
            s.lin.weight.copy_(L.tensor([[-1.0, 0.0], [0.0, 2.0]]))
        y = s(L.ones(1, 2))  # (each library's default float type)
        m = L.nn.Module()
        m.a, m.p = L.nn.Linear(1, 1), L.nn.Parameter(L.zeros(1))
        m.b, m.q = L.nn.Linear(1, 1), L.nn.Parameter(L.zeros(1))
        m.a, m.p = L.nn.Linear(1, 1), L.nn.Parameter(L.ones(1))
        names = [n for n, _ in m.named_parameters()]
        out.append((list(s._modules), y.detach().numpy().copy(), names, list(m.state_dict())))
    (tm, ty, tn, ts), (cm, cy, cn, cs) = out
    assert cm == tm == ["lin", "act"]
    np.testing.assert_array_equal(cy, ty)
    assert cn == tn and cs == ts


def test_zero_grad_without_set_to_none_zeroes_the_same_grad_tensor():
    for L in (torch, cr):
        m = L.nn.Linear(2, 1)
        m(L.ones(1, 2)).sum().backward()
        g = m.weight.grad
        m.zero_grad(set_to_none=False)
        m(L.ones(1, 2)).sum().backward()
        assert m.weight.grad is g
        np.testing.assert_array_equal(g.detach().numpy(), [[1.0, 1.0]])


def test_softmax_of_a_0d_tensor_and_of_an_infinite_logit_and_mse_dtype_like_torch():
    import warnings

    out = []
    for L, FF in ((torch, torch.nn.functional), (cr, F)):
        x = L.tensor([float("inf"), 1.0], dtype=L.float64)
        z = L.tensor(2.0, dtype=L.float64, requires_grad=True)
        s = FF.softmax(z, 0)
        s.backward()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mse = FF.mse_loss(L.ones(3, dtype=L.float32), L.tensor(2.0, dtype=L.float64))
        out.append((FF.softmax(x, 0).numpy(), s.detach().numpy(), FF.log_softmax(z, -1).item(),
                    z.grad.numpy(), str(mse.dtype).replace("torch.", "")))  # fmt: skip
    (a, b, c, d, e), (a2, b2, c2, d2, e2) = out
    np.testing.assert_array_equal(a2, a)  # [nan, nan]: no finite-max shortcut
    np.testing.assert_array_equal(b2, b)
    assert c2 == c and e2 == e == "float64"
    np.testing.assert_array_equal(d2, d)
