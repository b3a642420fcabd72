"""`chainrule.optim`: the PyTorch-style optimizers against `torch.optim` on recorded gradients,
state dicts saved mid-run continuing bit for bit, L-BFGS against PyTorch's, the schedulers
against PyTorch's, and the functional optimizers against optax (eagerly and under `cr.jit`)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.tree_util import tree_leaves, tree_map

SHAPES = [(3, 4), (5,), ()]
STEPS = 20


def _recorded(seed: int = 0, dtype=np.float64, steps: int = STEPS):
    """Initial parameters and a fixed sequence of gradients (one list per step)."""
    rng = np.random.default_rng(seed)

    def draw(shape):
        x = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            x = x + 1j * rng.standard_normal(shape)
        return np.asarray(x, dtype)

    return [draw(s) for s in SHAPES], [[draw(s) for s in SHAPES] for _ in range(steps)]


def _close(ours, theirs, what: str, tol: float = 1e-10) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    bound = tol * np.maximum(1.0, np.abs(theirs))
    err = np.abs(ours - theirs)
    assert np.all(err <= bound), f"{what}: max error {err.max():.3g}"


def _groups(params, spec):
    """The optimizer's first argument: the params, or `spec(params)` (parameter groups)."""
    return params if spec is None else spec(params)


def _run_both(name, kw, spec=None, dtype=np.float64, skip=None, add_group=None):
    """Run torch's optimizer and ours on the same recorded gradients; compare each step.

    `skip`: (step, param index) pairs whose gradient is None; `add_group`: (step, spec) adding
    a parameter group of the last parameter at that step (it is left out of the first ones).
    """
    torch = pytest.importorskip("torch")
    init, grads = _recorded(dtype=dtype)
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    cp = [cr.tensor(a, requires_grad=True) for a in init]
    first = slice(None) if add_group is None else slice(0, len(SHAPES) - 1)
    t_opt = getattr(torch.optim, name)(_groups(tp[first], spec), foreach=False, **kw)
    c_opt = getattr(optim, name)(_groups(cp[first], spec), **kw)
    for k, gs in enumerate(grads):
        if add_group is not None and k == add_group[0]:
            t_opt.add_param_group(dict(add_group[1], params=[tp[-1]]))
            c_opt.add_param_group(dict(add_group[1], params=[cp[-1]]))
        for i, (t, c, g) in enumerate(zip(tp, cp, gs, strict=True)):
            none = skip is not None and (k, i) in skip
            t.grad = None if none else torch.tensor(g)
            c.grad = None if none else g.copy()
        t_opt.step()
        c_opt.step()
        for i, (t, c) in enumerate(zip(tp, cp, strict=True)):
            _close(c.detach().numpy(), t.detach().numpy(), f"{name} {kw} step {k} param {i}")
    return t_opt, c_opt


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1,
             "maximize": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "betas": (0.5, 0.6), "eps": 1e-3, "maximize": True}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.1}),
    ("AdamW", {"lr": 0.1, "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "eps": 1e-2, "maximize": True}),
]  # fmt: skip


def _id(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_matches_torch_on_recorded_gradients(case):
    _run_both(*case)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_complex_parameters_match_torch(name):
    kw = {"lr": 0.05, "momentum": 0.5} if name != "Adam" else {"lr": 0.05, "amsgrad": True}
    _run_both(name, kw, dtype=np.complex128)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
def test_param_groups_match_torch(name):
    per_group = {
        "SGD": ({"lr": 0.05, "momentum": 0.5}, {"nesterov": True, "momentum": 0.9}),
        "Adam": ({"lr": 0.05, "amsgrad": True}, {"betas": (0.8, 0.9), "weight_decay": 0.1}),
        "AdamW": ({"weight_decay": 0.5}, {"lr": 0.2, "eps": 1e-4}),
        "RMSprop": ({"centered": True}, {"momentum": 0.7, "alpha": 0.5}),
    }[name]

    def spec(ps):
        return [dict(per_group[0], params=ps[:1]), dict(per_group[1], params=ps[1:])]

    _run_both(name, {"lr": 0.1}, spec)


def test_add_param_group_mid_run_and_missing_gradients_match_torch():
    _run_both("Adam", {"lr": 0.1}, skip={(2, 0), (3, 1), (7, 0)},
              add_group=(5, {"lr": 0.01, "amsgrad": True}))  # fmt: skip
    _run_both("SGD", {"lr": 0.1, "momentum": 0.9}, skip={(0, 1), (4, 0)},
              add_group=(3, {"lr": 0.3, "nesterov": True}))  # fmt: skip


def test_float32_parameters_stay_float32_and_match_torch():
    torch = pytest.importorskip("torch")
    init, grads = _recorded(dtype=np.float32)
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    cp = [cr.tensor(a, requires_grad=True) for a in init]
    t_opt, c_opt = torch.optim.Adam(tp, lr=0.1, foreach=False), optim.Adam(cp, lr=0.1)
    for gs in grads:
        for t, c, g in zip(tp, cp, gs, strict=True):
            t.grad, c.grad = torch.tensor(g), g.copy()
        t_opt.step()
        c_opt.step()
    for t, c in zip(tp, cp, strict=True):
        assert c.dtype == np.float32 and c_opt.state[c]["exp_avg"].dtype == np.float32
        _close(c.detach().numpy(), t.detach().numpy(), "float32 Adam", tol=1e-5)


# --- state dicts ---------------------------------------------------------------------------------


def _train(opt_fn, params, grads, sched_fn=None):
    opt = opt_fn(params)
    sched = None if sched_fn is None else sched_fn(opt)
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = g.copy()
        opt.step()
        if sched is not None:
            sched.step()
    return opt, sched


STATE_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, "StepLR"),
    ("Adam", {"lr": 0.1, "amsgrad": True, "weight_decay": 0.1}, "CosineAnnealingLR"),
    ("AdamW", {"lr": 0.1}, "ExponentialLR"),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}, "LambdaLR"),
]
SCHEDULERS = {
    "StepLR": lambda o: optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "CosineAnnealingLR": lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
    "ExponentialLR": lambda o: optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "LambdaLR": lambda o: optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)),
}


@pytest.mark.parametrize("name,kw,sched", STATE_CASES, ids=[c[0] + "-" + str(c[2])
                                                            for c in STATE_CASES])  # fmt: skip
def test_state_dict_saved_mid_run_continues_bitwise(name, kw, sched):
    init, grads = _recorded(seed=1)
    half = STEPS // 2

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": kw["lr"] / 2}]

    def make(ps):
        return getattr(optim, name)(groups(ps), **kw)

    sched_fn = SCHEDULERS.get(sched)
    whole = [cr.tensor(a, requires_grad=True) for a in init]
    _train(make, whole, grads, sched_fn)

    first = [cr.tensor(a, requires_grad=True) for a in init]
    opt, sch = _train(make, first, grads[:half], sched_fn)
    values = [p.detach().numpy().copy() for p in first]
    sd = opt.state_dict()
    ssd = None if sch is None else sch.state_dict()
    snapshot = [np.array(a) for a in tree_leaves(sd["state"]) if isinstance(a, np.ndarray)]
    # the first optimizer goes on with other gradients: the saved dict must not change
    for p in first:
        p.grad = np.ones(p.shape)
    opt.step()
    after = [a for a in tree_leaves(sd["state"]) if isinstance(a, np.ndarray)]
    assert all(np.array_equal(a, b) for a, b in zip(snapshot, after, strict=True))

    resumed = [cr.tensor(v, requires_grad=True) for v in values]
    opt2 = getattr(optim, name)(groups(resumed), **dict(kw, lr=123.0))  # lr from the state dict
    sch2 = None
    if sched_fn is not None:
        sch2 = sched_fn(opt2)
        sch2.load_state_dict(ssd)
    opt2.load_state_dict(sd)
    for gs in grads[half:]:
        for p, g in zip(resumed, gs, strict=True):
            p.grad = g.copy()
        opt2.step()
        if sch2 is not None:
            sch2.step()
    for a, b in zip(resumed, whole, strict=True):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())


def test_state_dict_layout_is_torchs():
    torch = pytest.importorskip("torch")
    t_opt, c_opt = _run_both("Adam", {"lr": 0.1, "amsgrad": True},
                             lambda ps: [{"params": ps[:2]}, {"params": ps[2:], "lr": 0.2}])
    t_sd, c_sd = t_opt.state_dict(), c_opt.state_dict()
    assert c_sd["state"].keys() == t_sd["state"].keys() == {0, 1, 2}
    for k in t_sd["state"]:
        assert c_sd["state"][k].keys() == t_sd["state"][k].keys()
        for name, v in t_sd["state"][k].items():
            assert isinstance(c_sd["state"][k][name], np.ndarray)
            _close(c_sd["state"][k][name], v.numpy(), name)
    for cg, tg in zip(c_sd["param_groups"], t_sd["param_groups"], strict=True):
        assert cg["params"] == tg["params"]
        for key, v in cg.items():
            assert tg[key] == v, key
    assert torch  # used


def test_torch_state_dict_loads_and_continues_like_torch():
    torch = pytest.importorskip("torch")
    init, grads = _recorded(seed=2)
    tp = [torch.tensor(a, requires_grad=True) for a in init]
    t_opt = torch.optim.RMSprop(tp, lr=0.01, momentum=0.5, centered=True, foreach=False)
    for k, gs in enumerate(grads):
        if k == STEPS // 2:
            cp = [cr.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
            c_opt = optim.RMSprop(cp, lr=0.01, momentum=0.5, centered=True)
            c_opt.load_state_dict(t_opt.state_dict())
        for i, (t, g) in enumerate(zip(tp, gs, strict=True)):
            t.grad = torch.tensor(g)
            if k >= STEPS // 2:
                cp[i].grad = g.copy()
        t_opt.step()
        if k >= STEPS // 2:
            c_opt.step()
    for t, c in zip(tp, cp, strict=True):
        _close(c.detach().numpy(), t.detach().numpy(), "resumed from torch")


# --- behaviour -----------------------------------------------------------------------------------


def test_step_updates_in_place_and_bumps_the_version():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    alias = w.detach()  # shares memory and version counter
    memory = alias.numpy()
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    v0 = w._ver[0]
    opt.step()
    assert w._ver[0] > v0 and alias._ver[0] == w._ver[0]
    np.testing.assert_allclose(memory, [0.9, 1.9])
    assert w.requires_grad and w.is_leaf


def test_graph_saved_before_a_step_refuses_backward():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    y = (w * w).sum()
    opt.step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_zero_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and np.array_equal(g.numpy(), [0.0, 0.0])
    opt.zero_grad()
    assert w.grad is None
    opt.step()  # no gradient: nothing happens
    assert np.array_equal(w.detach().numpy(), [1.0, 2.0])


def test_training_a_model_with_closure():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((32, 3)), rng.standard_normal(32)
    w = cr.zeros(3, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((cr.tensor(X) @ w - cr.tensor(y)) ** 2).mean()
        loss.backward()
        return loss

    first = float(opt.step(closure))
    for _ in range(200):
        last = float(opt.step(closure))
    assert last < first
    np.testing.assert_allclose(w.detach().numpy(), np.linalg.lstsq(X, y, rcond=None)[0],
                               atol=1e-3)  # fmt: skip


def test_errors():
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([], lr=0.1)
    with pytest.raises(TypeError):
        optim.Adam(w, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="beta"):
        optim.Adam([w], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [w]}, {"params": [cr.zeros(1, requires_grad=True)]}])
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="different number"):
        opt.load_state_dict({"state": {}, "param_groups": []})


# --- L-BFGS --------------------------------------------------------------------------------------


def _rosen(x: np.ndarray) -> tuple[float, np.ndarray]:
    """Rosenbrock's function and its gradient, by hand in NumPy."""
    a, b = x[:-1], x[1:]
    f = float(np.sum(100 * (b - a**2) ** 2 + (1 - a) ** 2))
    g = np.zeros_like(x)
    g[:-1] = -400 * a * (b - a**2) - 2 * (1 - a)
    g[1:] += 200 * (b - a**2)
    return f, g


X0 = np.array([-1.2, 1.0, -0.5, 0.8, 1.3])


def _lbfgs_both(kw, steps, split=False, autodiff=False):
    """Run torch's and our L-BFGS on Rosenbrock; compare after each `step(closure)`.

    `split`: the 5 values as two parameters (2 and 3 values); `autodiff`: each library's own
    gradient of the function instead of the same hand-written one."""
    torch = pytest.importorskip("torch")
    parts = [X0[:2], X0[2:]] if split else [X0]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in parts]
    cp = [cr.tensor(a.copy(), requires_grad=True) for a in parts]
    t_opt, c_opt = torch.optim.LBFGS(tp, **kw), optim.LBFGS(cp, **kw)

    def closure_for(lib, ps, opt):
        def closure():
            opt.zero_grad()
            if autodiff:
                x = lib.cat(ps) if len(ps) > 1 else ps[0]
                a, b = x[:-1], x[1:]
                loss = (100 * (b - a**2) ** 2 + (1 - a) ** 2).sum()
                loss.backward()
                return loss
            x = np.concatenate([p.detach().numpy() for p in ps])
            f, g = _rosen(x)
            for p, gp in zip(ps, np.split(g, [2]) if split else [g], strict=True):
                p.grad = lib.tensor(gp.copy())
            return lib.tensor(np.float64(f))

        return closure

    t_closure, c_closure = closure_for(torch, tp, t_opt), closure_for(cr, cp, c_opt)
    for k in range(steps):
        t_loss, c_loss = t_opt.step(t_closure), c_opt.step(c_closure)
        _close(float(c_loss), float(t_loss.detach()), f"loss at step {k}")
        for t, c in zip(tp, cp, strict=True):
            _close(c.detach().numpy(), t.detach().numpy(), f"LBFGS {kw} step {k}")
    t_state, c_state = t_opt.state[tp[0]], c_opt.state[cp[0]]
    assert t_state["n_iter"] == c_state["n_iter"]
    assert t_state["func_evals"] == c_state["func_evals"]
    return c_opt, cp, c_closure


LBFGS_CASES = [
    {"line_search_fn": "strong_wolfe"},
    {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 7},
    {"lr": 0.05, "history_size": 4, "max_iter": 10},
    {"lr": 0.1, "max_iter": 5, "max_eval": 4, "history_size": 2},
    {"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-3, "tolerance_change": 1e-4},
]


@pytest.mark.parametrize("kw", LBFGS_CASES, ids=[str(i) for i in range(len(LBFGS_CASES))])
def test_lbfgs_matches_torch(kw):
    _lbfgs_both(kw, steps=4)


def test_lbfgs_several_parameters_and_autodiff_closures_match_torch():
    _lbfgs_both({"line_search_fn": "strong_wolfe", "history_size": 5, "max_iter": 5}, steps=3,
                split=True, autodiff=True)  # fmt: skip


def test_lbfgs_converges_and_stops_at_the_optimum():
    x = cr.tensor(X0.copy(), requires_grad=True)
    opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=100, tolerance_grad=1e-10,
                      tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        f, g = _rosen(x.detach().numpy())
        x.grad = g
        return cr.tensor(f)

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.ones(5), atol=1e-6)
    evals = opt.state[x]["func_evals"]
    x.detach().numpy()[:] = 1.0  # the exact optimum: the gradient is 0
    before = x.detach().numpy().copy()
    opt.step(closure)
    assert opt.state[x]["func_evals"] == evals + 1
    assert np.array_equal(x.detach().numpy(), before)


def test_lbfgs_state_dict_continues_bitwise():
    kw = {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 4}

    def run(x, opt, steps):
        def closure():
            opt.zero_grad()
            f, g = _rosen(x.detach().numpy())
            x.grad = g
            return cr.tensor(f)

        for _ in range(steps):
            opt.step(closure)

    whole = cr.tensor(X0.copy(), requires_grad=True)
    run(whole, optim.LBFGS([whole], **kw), 6)
    x = cr.tensor(X0.copy(), requires_grad=True)
    opt = optim.LBFGS([x], **kw)
    run(x, opt, 3)
    sd = opt.state_dict()
    x2 = cr.tensor(x.detach().numpy().copy(), requires_grad=True)
    opt2 = optim.LBFGS([x2], **kw)
    opt2.load_state_dict(sd)
    run(x2, opt2, 3)
    assert np.array_equal(x2.detach().numpy(), whole.detach().numpy())


# --- schedulers ----------------------------------------------------------------------------------


SCHED_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.95**e / (1 + e)}),
    ("CosineAnnealingLR", {"T_max": 7}),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
]


SCHED_IDS = [c[0] + str(i) for i, c in enumerate(SCHED_CASES)]


@pytest.mark.parametrize("name,kw", SCHED_CASES, ids=SCHED_IDS)
def test_schedulers_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    t_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                             {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
    c_opt = optim.SGD([{"params": [cr.zeros(1, requires_grad=True)]},
                       {"params": [cr.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
    t_s = getattr(torch.optim.lr_scheduler, name)(t_opt, **kw)
    c_s = getattr(optim.lr_scheduler, name)(c_opt, **kw)
    _close(c_s.get_last_lr(), t_s.get_last_lr(), "initial lr", 1e-12)
    for epoch in range(30):
        t_opt.step()
        c_opt.step()
        t_s.step()
        c_s.step()
        _close(c_s.get_last_lr(), t_s.get_last_lr(), f"{name} epoch {epoch}", 1e-12)
        _close([g["lr"] for g in c_opt.param_groups], t_s.get_last_lr(), "group lr", 1e-12)
        if epoch == 10:  # a scheduler restored mid-run continues identically
            sd = c_s.state_dict()
            c_opt2 = optim.SGD([{"params": [cr.zeros(1, requires_grad=True)]},
                                {"params": [cr.zeros(1, requires_grad=True)]}], lr=0.1)
            c_opt2.load_state_dict(c_opt.state_dict())
            c_s2 = getattr(optim.lr_scheduler, name)(c_opt2, **kw)
            c_s2.load_state_dict(sd)
    for _ in range(19):
        c_s2.step()
    assert c_s2.get_last_lr() == c_s.get_last_lr()


def test_scheduler_closed_form_epoch():
    opt = optim.SGD([cr.zeros(1, requires_grad=True)], lr=1.0)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    sched.step(5)
    assert sched.get_last_lr() == [0.25]


# --- functional, against optax -------------------------------------------------------------------


def _tree_grads(seed=4):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 4)), "b": (rng.standard_normal(5), np.float64(0.5))}
    params["b"] = (params["b"][0], np.asarray(params["b"][1]))
    grads = [tree_map(lambda p: rng.standard_normal(np.shape(p)), params) for _ in range(STEPS)]
    return params, grads


FUNCTIONAL_CASES = [
    ("sgd", {"learning_rate": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("adam", {"learning_rate": 0.1}),
    ("adam", {"learning_rate": 0.1, "b1": 0.5, "b2": 0.7, "eps": 1e-3, "eps_root": 1e-4}),
    ("adam", {"learning_rate": 0.1, "nesterov": True}),
    ("adam", {"learning_rate": "schedule"}),
    ("adam", {"learning_rate": 0.1, "mu_dtype": "float32"}),
    ("adamw", {"learning_rate": 0.1}),
    ("adamw", {"learning_rate": 0.1, "weight_decay": 0.3}),
    ("adamw", {"learning_rate": 0.1, "weight_decay": 0.3, "mask": "mask"}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "eps_in_sqrt": False, "initial_scale": 0.1}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5,
                 "bias_correction": True}),
    ("rmsprop", {"learning_rate": 0.01, "bias_correction": True}),
]  # fmt: skip


def _functional_kw(kw, lib):
    kw = dict(kw)
    if kw.get("learning_rate") == "schedule":
        kw["learning_rate"] = lambda count: 0.1 * 0.9**count
    if kw.get("mask") == "mask":
        kw["mask"] = lambda params: {"w": True, "b": (False, True)}
    return kw


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name,kw", FUNCTIONAL_CASES, ids=[_id(c) for c in FUNCTIONAL_CASES])
def test_functional_matches_optax(name, kw, jit):
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    params, grads = _tree_grads()
    ours = getattr(optim, name)(**_functional_kw(kw, cr))
    theirs = getattr(optax, name)(**_functional_kw(kw, jax))

    def step(p, s, g):
        updates, s = ours.update(g, s, p)
        return optim.apply_updates(p, updates), s

    step = cr.jit(step) if jit else step
    p_ours, s_ours = params, ours.init(params)
    p_theirs = jax.tree.map(jax.numpy.asarray, params)
    s_theirs = theirs.init(p_theirs)
    assert len(tree_leaves(s_ours)) == len(jax.tree.leaves(s_theirs))
    for k, g in enumerate(grads):
        p_ours, s_ours = step(p_ours, s_ours, g)
        u, s_theirs = theirs.update(jax.tree.map(jax.numpy.asarray, g), s_theirs, p_theirs)
        p_theirs = optax.apply_updates(p_theirs, u)
        for a, b in zip(tree_leaves(p_ours), jax.tree.leaves(p_theirs), strict=True):
            _close(a, np.asarray(b), f"{name} {kw} step {k}", 1e-12)
    for a, b in zip(tree_leaves(s_ours), jax.tree.leaves(s_theirs), strict=True):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        _close(a, np.asarray(b), "state", 1e-12)


def test_functional_chain_with_other_transformations_matches_optax():
    optax = pytest.importorskip("optax")
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)

    def clip(c):  # a transformation from outside this module (no leafwise form), stateless
        return optim.GradientTransformation(
            lambda params: optim.EmptyState(),
            lambda u, s, p=None: (tree_map(lambda g: g * c, u), s))  # fmt: skip

    params, grads = _tree_grads(seed=5)
    ours = optim.chain(optim.add_decayed_weights(lambda count: 0.1 / (1 + count)), clip(0.5),
                       optim.scale_by_adam(b1=0.8), optim.trace(0.5, nesterov=True),
                       optim.scale_by_learning_rate(lambda count: 0.1 * 0.95**count))  # fmt: skip
    theirs = optax.chain(optax.add_decayed_weights(lambda count: 0.1 / (1 + count)),
                         optax.scale(0.5), optax.scale_by_adam(b1=0.8),
                         optax.trace(0.5, nesterov=True),
                         optax.scale_by_learning_rate(lambda count: 0.1 * 0.95**count))  # fmt: skip
    step = cr.jit(lambda p, s, g: (lambda u, s: (optim.apply_updates(p, u), s))(
        *ours.update(g, s, p)))  # fmt: skip
    p_ours, s_ours = params, ours.init(params)
    p_theirs = jax.tree.map(jax.numpy.asarray, params)
    s_theirs = theirs.init(p_theirs)
    for g in grads:
        p_ours, s_ours = step(p_ours, s_ours, g)
        u, s_theirs = theirs.update(jax.tree.map(jax.numpy.asarray, g), s_theirs, p_theirs)
        p_theirs = optax.apply_updates(p_theirs, u)
    for a, b in zip(tree_leaves((p_ours, s_ours)), jax.tree.leaves((p_theirs, s_theirs)),
                    strict=True):  # fmt: skip
        _close(a, np.asarray(b), "chain", 1e-12)


def test_functional_keeps_dtypes_and_state_layout():
    params = {"w": np.ones((2, 2), np.float32), "b": np.zeros(2, np.float32)}
    opt = optim.adam(1e-2)
    state = opt.init(params)
    assert isinstance(state[0], optim.ScaleByAdamState) and state[0].count.dtype == np.int32
    grads = tree_map(lambda p: np.full_like(p, 0.5), params)
    step = cr.jit(lambda p, s, g: (lambda u, s: (optim.apply_updates(p, u), s))(
        *opt.update(g, s, p)))  # fmt: skip
    for _ in range(3):
        params, state = step(params, state, grads)
    assert all(leaf.dtype == np.float32 for leaf in tree_leaves((params, state[0].mu)))
    assert int(state[0].count) == 3
    np.testing.assert_allclose(params["w"], 1 - 3e-2, rtol=1e-5)


def test_functional_count_saturates():
    opt = optim.adam(0.1)
    state = opt.init(np.zeros(1))
    state = (state[0]._replace(count=np.asarray(np.iinfo(np.int32).max, np.int32)), state[1])
    _, state = opt.update(np.ones(1), state)
    assert int(state[0].count) == np.iinfo(np.int32).max


def test_adamw_needs_params():
    opt = optim.adamw(0.1)
    with pytest.raises(ValueError, match="parameters"):
        opt.update(np.ones(1), opt.init(np.zeros(1)))


@pytest.mark.parametrize("kw", [{}, {"amsgrad": True, "weight_decay": 0.1},
                                {"maximize": True}, {"decoupled_weight_decay": True,
                                                     "weight_decay": 0.01}])  # fmt: skip
def test_adam_on_large_parameters_is_split_among_threads_bit_for_bit(monkeypatch, kw):
    """A large parameter's update runs in parts on the pool's threads: the same result, bit
    for bit, as the whole update (a transposed, non-contiguous gradient: whole)."""
    from chainrule.optim import optimizers

    rng = np.random.default_rng(3)
    shapes = [(600, 500), (500,), (700, 300)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    grads[1][2] = np.ascontiguousarray(grads[1][2].T).T  # F-ordered: not split

    calls = []
    original = optimizers.blocked.map_blocks
    monkeypatch.setattr(optimizers.blocked, "WORKERS", 2)  # (split on one core too)
    monkeypatch.setattr(optimizers.blocked, "map_blocks",
                        lambda fn, items: calls.append(len(items)) or original(fn, items))

    def run(split):
        monkeypatch.setattr(optimizers, "_SPLIT", split)
        ps = [cr.tensor(a, requires_grad=True) for a in init]
        opt = optim.Adam(ps, lr=1e-2, **kw)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = cr.tensor(g)
            opt.step()
        return [p.detach().numpy().copy() for p in ps] + [
            opt.state[p][k].copy() for p in ps for k in ("exp_avg", "exp_avg_sq")]

    parts = run(1 << 10)
    # two large parameters, three steps, less the F-ordered gradient (which L2 weight decay
    # replaces by a new, C-ordered one)
    n = 6 if kw.get("weight_decay") and not kw.get("decoupled_weight_decay") else 5
    assert calls == [2] * n
    whole = run(1 << 40)
    assert calls == [2] * n
    for a, b in zip(parts, whole):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(parts[0], init[0])  # (it did update)
