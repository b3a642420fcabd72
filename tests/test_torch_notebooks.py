"""The course notebooks' PyTorch cells and the W7 training step, run twice: with PyTorch and
with chainrule in its place (the code takes the library as `torch`, so each cell is written
once, as in the notebooks). Float64 throughout; the results agree to 1e-12.

Notebook 000 (torch.autograd: backward with gradient=, a vector function built by index
assignment, directional derivatives by the choice of dl, two variables, autograd.grad with
create_graph) and notebook 001 (tanh(4 cos(x)^2) at 7).
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

real_torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-12, 1e-12


@pytest.fixture
def torch64():
    """PyTorch with float64 as its default dtype (chainrule's: NumPy's float64)."""
    old = real_torch.get_default_dtype()
    real_torch.set_default_dtype(real_torch.float64)
    try:
        yield real_torch
    finally:
        real_torch.set_default_dtype(old)


def both(run, torch64):
    """run(chainrule) and run(torch), compared leaf by leaf."""
    mine, theirs = run(cr), run(torch64)
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        if isinstance(b, real_torch.Tensor):
            assert isinstance(a, cr.Tensor)
            a, b = a.detach().numpy(), b.detach().numpy()
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)
    return mine


def dJn(x):
    return 3 * x**2 + 2 * x - 6


# --- notebook 000 ----------------------------------------------------------------------------


def cell_one_variable(torch):
    X = np.linspace(-3, 3, 101)

    Xt = torch.tensor(X, requires_grad=True)
    Yt = Xt**3 + Xt**2 - 6 * Xt + 1

    dl = torch.ones_like(Yt)
    Yt.backward(gradient=dl)

    dYt = Xt.grad
    return [Yt, dYt, np.asarray(X) - Xt.detach().numpy(), dYt.numpy() - dJn(X)]


def test_notebook_000_one_variable(torch64):
    Yt, dYt, _, err = both(cell_one_variable, torch64)
    np.testing.assert_allclose(dYt.numpy(), dJn(np.linspace(-3, 3, 101)), rtol=1e-13)
    assert Yt.grad_fn is not None and np.abs(err).max() < 1e-12


def cell_vector_function(torch, which):
    X = np.linspace(-3, 3, 101)
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.zeros(X.size, 2)
    Yt[:, 0] = Xt**3 + Xt**2 - 6 * Xt + 1
    Yt[:, 1] = Xt**2 - 2
    dl = torch.ones_like(Yt)
    if which is not None:
        dl[:, which] = 0
    Yt.backward(gradient=dl)
    return [Yt, Xt.grad, Yt.shape]


@pytest.mark.parametrize("which", [None, 1, 0], ids=["dY", "dY1", "dY2"])
def test_notebook_000_vector_function(torch64, which):
    Yt, dY, shape = both(lambda lib: cell_vector_function(lib, which), torch64)
    X = np.linspace(-3, 3, 101)
    expected = {None: dJn(X) + 2 * X, 1: dJn(X), 0: 2 * X}[which]
    np.testing.assert_allclose(dY.numpy(), expected, rtol=1e-13, atol=1e-13)
    assert tuple(shape) == (101, 2)


def test_notebook_000_dY1_plus_dY2_is_dY(torch64):
    parts = [cell_vector_function(cr, w)[1].numpy() for w in (None, 1, 0)]
    np.testing.assert_allclose(parts[1] + parts[2], parts[0], rtol=1e-14)


def _points():
    rng = np.random.default_rng(51)
    return -2 + 4 * rng.random(51), -2 + 4 * rng.random(51)


def cell_two_variables(torch):
    X, Y = _points()
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.tensor(Y, requires_grad=True)
    Jt = Xt * Yt + torch.sin(Xt - 2 * Yt)
    dJdx = Y + np.cos(X - 2 * Y)
    dJdy = X - 2 * np.cos(X - 2 * Y)

    Jt = Xt * Yt + torch.sin(Xt - 2 * Yt)
    dl = torch.ones_like(Jt)
    Jt.backward(gradient=dl)
    dJtdX = Xt.grad
    dJtdY = Yt.grad
    text = (str(dJtdX), str(dJtdY))  # print(dJtdX)
    err = (np.mean(dJdx - dJtdX.numpy()), np.mean(dJdy - dJtdY.numpy()))

    Jt = Xt * Yt + torch.sin(Xt - 2 * Yt)
    dl = torch.ones_like(Jt)
    gx, gy = torch.autograd.grad(Jt, (Xt, Yt), dl, create_graph=True)
    (hxx,) = torch.autograd.grad(gx.sum(), Xt, retain_graph=True)
    (hxy,) = torch.autograd.grad(gx.sum(), Yt)
    return [dJtdX, dJtdY, gx, gy, hxx, hxy, err[0], err[1], len(text[0]) > 0]


def test_notebook_000_two_variables_backward_and_autograd_grad(torch64):
    dx, dy, gx, gy, hxx, hxy, ex, ey, _ = both(cell_two_variables, torch64)
    X, Y = _points()
    np.testing.assert_allclose(dx.numpy(), Y + np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dy.numpy(), X - 2 * np.cos(X - 2 * Y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(gx.detach().numpy(), dx.numpy(), rtol=1e-14)
    assert gx.requires_grad and gx.grad_fn is not None  # create_graph=True
    np.testing.assert_allclose(hxx.numpy(), -np.sin(X - 2 * Y), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hxy.numpy(), 1 + 2 * np.sin(X - 2 * Y), rtol=1e-12, atol=1e-14)
    assert abs(ex) < 1e-14 and abs(ey) < 1e-14


# --- notebook 001 ----------------------------------------------------------------------------


def cell_tanh_4cos2(torch):
    x = torch.tensor(7.0, requires_grad=True)
    t = torch.tanh(4 * torch.cos(x) ** 2)
    t.backward()
    return [t, x.grad, str(x.grad)]


def test_notebook_001_tanh_4cos2_at_7(torch64):
    mine, theirs = cell_tanh_4cos2(cr), cell_tanh_4cos2(torch64)
    np.testing.assert_allclose(mine[1].item(), theirs[1].item(), rtol=1e-14)
    np.testing.assert_allclose(mine[0].item(), theirs[0].item(), rtol=1e-15)
    c, s = np.cos(7.0), np.sin(7.0)
    closed = (1 - np.tanh(4 * c**2) ** 2) * 8 * c * -s
    assert mine[1].item() == pytest.approx(closed, rel=1e-14)
    assert mine[2].startswith("tensor(-0.16449")  # what print(x.grad) shows


def cell_some_calculus(torch, requires_grad, n):
    """Notebook 001's memory experiment, on the CPU (no cuda)."""
    torch.manual_seed(0)
    A = torch.rand(1000, requires_grad=requires_grad)
    for _ in range(n):
        A = A * torch.rand(1000)
    return A


def test_notebook_001_some_calculus_keeps_what_the_gradient_needs():
    assert cr.memory.saved_bytes(cell_some_calculus(cr, True, 10)) == 10 * 8000
    assert cr.memory.saved_bytes(cell_some_calculus(cr, False, 10)) == 0


# --- W7: one SGD step of an MLP 784-512-512-10 -----------------------------------------------

w07 = pytest.importorskip("benchmarks.workloads.w07")


def _w7_data():
    d = w07.setup()
    return [p.astype(np.float64) for p in d.params], d.X.astype(np.float64), d.labels


def w7_steps(torch, steps=2):
    """benchmarks/workloads/w07.py's `torch_eager` contender, with `torch` the library."""
    params0, X0, labels0 = _w7_data()
    params = [torch.from_numpy(p.copy()).requires_grad_() for p in params0]
    X, labels = torch.from_numpy(X0), torch.from_numpy(labels0)
    rows = torch.arange(w07.BATCH)
    losses = []
    for _ in range(steps):
        for p in params:
            p.grad = None
        loss = w07.loss(torch, params, X, labels, rows)
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-w07.LR)
    return [*params, *[p.grad for p in params], np.array(losses)]


def test_w7_sgd_step_as_in_the_benchmark(torch64):
    out = both(w7_steps, torch64)
    assert all(isinstance(p, cr.Tensor) and p.is_leaf for p in out[:6])


def w7_idiomatic(torch, steps=2):
    """The same step as a PyTorch user writes it: log_softmax, gather, `p -= lr * p.grad`."""
    params0, X0, labels0 = _w7_data()
    W1, b1, W2, b2, W3, b3 = params = [torch.tensor(p, requires_grad=True) for p in params0]
    X, labels = torch.tensor(X0), torch.tensor(labels0)
    losses = []
    for _ in range(steps):
        h = torch.tanh(X @ W1 + b1)
        h = torch.tanh(torch.matmul(h, W2) + b2)
        z = h.mm(W3) + b3
        logp = torch.log_softmax(z, dim=1)
        loss = -logp.gather(1, labels.unsqueeze(1)).mean()
        loss.backward()
        losses.append(loss.item())
        with torch.no_grad():
            for p in params:
                p -= w07.LR * p.grad
                p.grad.zero_()
    probs = torch.softmax(z, dim=-1).detach()
    return [*params, np.array(losses), probs, probs.argmax(dim=1), probs.max(dim=1).values]


def test_w7_sgd_step_written_the_pytorch_way(torch64):
    both(w7_idiomatic, torch64)


def test_w7_tensor_face_matches_the_functional_face():
    params0, X0, labels0 = _w7_data()
    rows = np.arange(w07.BATCH)
    grads = cr.grad(lambda ps: w07.loss(cr.numpy, ps, X0, labels0, rows))(params0)
    params = [cr.tensor(p, requires_grad=True) for p in params0]
    w07.loss(cr, params, cr.tensor(X0), cr.tensor(labels0), cr.arange(w07.BATCH)).backward()
    for g, p in zip(grads, params):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-13, atol=1e-15)


def test_w7_in_float32_keeps_float32(torch64):
    d = w07.setup()
    params = [cr.from_numpy(p.copy()).requires_grad_() for p in d.params]
    loss = w07.loss(cr, params, cr.from_numpy(d.X), cr.from_numpy(d.labels), cr.arange(w07.BATCH))
    loss.backward()
    assert loss.dtype == np.float32 and all(p.grad.dtype == np.float32 for p in params)
    tparams = [real_torch.from_numpy(p.copy()).requires_grad_() for p in d.params]
    tl = w07.loss(real_torch, tparams, real_torch.from_numpy(d.X),
                  real_torch.from_numpy(d.labels), real_torch.arange(w07.BATCH))  # fmt: skip
    tl.backward()
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-6)
