"""The fast paths and the readable paths agree.

``transforms/executor.py`` installs fast versions of `ReverseTrace.process_primitive` and
of the backward pass (unrolled arities, parallel chunks, blocked regions for arrays of at
least 1 << 20 elements); `executor.use(False)` / `executor.readable()` switch back to the
readable definitions in ``transforms/reverse.py``. Every case below runs both ways: the
results must be bit for bit identical, and right against a closed form.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.transforms import blocked, executor, reverse

BIG = 1 << 21  # elements: over blocked.BIG, so the blocked backward path is taken
MODES = ["fast", "readable"]


@pytest.fixture(params=MODES)
def mode(request):
    """The test body runs on the fast paths, then (second parameter) on the readable ones."""
    assert executor.enabled()
    if request.param == "fast":
        yield request.param
    else:
        with executor.readable():
            assert not executor.enabled()
            yield request.param
    assert executor.enabled()


@pytest.fixture
def regions(monkeypatch):
    """The sizes of the regions the blocked backward path ran."""
    ran: list = []
    real = blocked.run_region

    def counting(nodes, *args):
        out = real(nodes, *args)
        if out is not None:
            ran.append(len(nodes))
        return out

    monkeypatch.setattr(blocked, "run_region", counting)
    return ran


def _both(case):
    """Run `case()` on both paths: {mode: result}."""
    out = {"fast": case()}
    with executor.readable():
        out["readable"] = case()
    return out


def _identical(a, b, path="result"):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _identical(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _identical(a[k], b[k], f"{path}[{k!r}]")
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, (path, a.dtype, b.dtype)
        assert np.array_equal(a, b), path


def _np(t):
    return t.detach().numpy() if isinstance(t, cr.Tensor) else np.asarray(t)


# --- the cases: each returns its results and the closed forms they must match ----------------

X101 = np.linspace(-3, 3, 101)
RNG = np.random.default_rng(5)
THETA = RNG.standard_normal((100, 100)).astype(np.float32)
XV = RNG.standard_normal(100).astype(np.float32)
YS = np.float32(RNG.standard_normal())
XBIG = np.linspace(-2.0, 2.0, BIG)


def J(x):
    return x**3 + x**2 - 6 * x + 1


def dJ(x):
    return 3 * x**2 + 2 * x - 6


def w5_loss(xp, theta, x, y):
    return xp.mean((xp.tanh(theta @ xp.tanh(theta @ x)) - y) ** 2)


def w5_by_hand(theta, x, y):
    a1 = np.tanh(theta @ x)
    a2 = np.tanh(theta @ a1)
    g2 = (2 / a2.size) * (a2 - y) * (1 - a2 * a2)
    g1 = (theta.T @ g2) * (1 - a1 * a1)
    return np.outer(g2, a1) + np.outer(g1, x)


def w10(x):
    return cnp.sum(cnp.sin(x) * cnp.cos(x) + 0.5 * cnp.exp(-(x**2)) + cnp.tanh(x))


def dw10(x):
    return np.cos(2 * x) - x * np.exp(-x * x) + 1 - np.tanh(x) ** 2


def case_w2_elementwise_grad():
    return cr.elementwise_grad(J)(X101), {"close": (dJ(X101), 1e-12)}


def case_w2_grad_vmap():
    return cr.vmap(cr.grad(J))(X101), {"close": (dJ(X101), 1e-12)}


def case_w2_tensor():
    Xt = cr.tensor(X101, requires_grad=True)
    Y = J(Xt)
    Y.backward(gradient=cr.ones_like(Y))
    return Xt.grad.numpy(), {"close": (dJ(X101), 1e-12)}


def case_w5_grad():
    g = cr.grad(lambda th: w5_loss(cnp, th, XV, YS))(THETA)
    assert g.dtype == np.float32
    return g, {"close": (w5_by_hand(THETA, XV, YS), 1e-4), "dtype": np.float32}


def case_w5_tensor():
    theta = cr.tensor(THETA, requires_grad=True)
    w5_loss(cnp, theta, cr.tensor(XV), cr.tensor(YS)).backward()
    return theta.grad.numpy(), {"close": (w5_by_hand(THETA, XV, YS), 1e-4), "dtype": np.float32}


def case_big_chain_grad():
    return cr.grad(w10)(XBIG), {"close": (dw10(XBIG), 1e-12)}


def case_big_chain_vjp():
    out, pb = cr.vjp(lambda x: cnp.tanh(cnp.exp(x * 0.5) - x) * x, XBIG)
    (g,) = pb(np.full(BIG, 2.0))
    u = np.exp(0.5 * XBIG) - XBIG
    expected = 2.0 * ((1 - np.tanh(u) ** 2) * (0.5 * np.exp(0.5 * XBIG) - 1) * XBIG + np.tanh(u))
    return (out, g), {"close": (expected, 1e-12), "pick": 1}


def case_big_chain_tensor():
    x = cr.tensor(XBIG, requires_grad=True)
    w10(x).backward()
    return x.grad.numpy(), {"close": (dw10(XBIG), 1e-12)}


def case_big_float32_chain():
    x32 = XBIG.astype(np.float32)
    g = cr.grad(lambda x: cnp.sum(cnp.sin(x) * x * 0.5))(x32)
    assert g.dtype == np.float32
    expected = 0.5 * (np.cos(XBIG) * XBIG + np.sin(XBIG))
    return g, {"close": (expected, 1e-5), "dtype": np.float32}


def case_register_hook():
    x = cr.tensor(XBIG, requires_grad=True)
    a = cnp.exp(x * 0.5)
    b = cnp.sin(a)
    b.register_hook(lambda g: g * 3)
    c = cnp.tanh(b) * a
    c.sum().backward()
    ea = np.exp(0.5 * XBIG)
    sb = np.sin(ea)
    expected = (3 * (1 - np.tanh(sb) ** 2) * ea * np.cos(ea) + np.tanh(sb)) * 0.5 * ea
    return x.grad.numpy(), {"close": (expected, 1e-12)}


def case_register_hook_small():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))  # observes, returns None
    y.register_hook(lambda g: g + 1.0)
    (y * y).sum().backward()
    # dy = 2y = [6, 12]; the second hook adds 1; dx = 3 dy
    return (x.grad.numpy(), seen[0]), {"close": ([21.0, 39.0], 1e-15), "pick": 0}


def case_retain_grad():
    x = cr.tensor(XBIG, requires_grad=True)
    y = x * 2.0
    z = cnp.sin(y)
    z.retain_grad()
    w = cnp.exp(z) * 3.0
    w.sum().backward()
    ez = 3.0 * np.exp(np.sin(2.0 * XBIG))
    return (z.grad.numpy(), x.grad.numpy()), {
        "close": ((ez, ez * np.cos(2.0 * XBIG) * 2.0), 1e-12)
    }


def case_backward_inputs():
    x = cr.tensor(XBIG, requires_grad=True)
    w = cr.tensor(np.full(BIG, 0.5), requires_grad=True)
    y = cnp.sin(x * w) * w
    y.sum().backward(inputs=[x])
    assert w.grad is None
    expected = np.cos(XBIG * 0.5) * 0.25
    return x.grad.numpy(), {"close": (expected, 1e-12)}


def case_autograd_grad_create_graph():
    x = cr.tensor(X101, requires_grad=True)
    (g,) = cr.autograd.grad(J(x).sum(), x, create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), x)
    assert x.grad is None
    return (_np(g), _np(h)), {"close": ((dJ(X101), 6 * X101 + 2), 1e-12)}


def case_autograd_grad_create_graph_big():
    x = cr.tensor(XBIG, requires_grad=True)
    y = cnp.sin(x) * x
    (g,) = cr.autograd.grad(y.sum(), x, create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), x)
    return (_np(g), _np(h)), {"close": (
        (np.cos(XBIG) * XBIG + np.sin(XBIG), 2 * np.cos(XBIG) - np.sin(XBIG) * XBIG), 1e-12)}


def case_retain_graph():
    x = cr.tensor(XBIG, requires_grad=True)
    loss = cnp.exp(cnp.sin(x) * 2.0).sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward(retain_graph=True)
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    d = np.exp(np.sin(XBIG) * 2.0) * 2.0 * np.cos(XBIG)
    return (x.grad.numpy(), first), {"close": ((3 * d, d), 1e-12)}


def case_retain_graph_small():
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    loss = (cnp.exp(x) * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
    xs = np.array([0.5, 1.5])
    return x.grad.numpy(), {"close": (2 * np.exp(xs) * (1 + xs), 1e-15)}


def _version_error(modify):
    x = cr.tensor(XBIG, requires_grad=True)
    y = x * 2.0
    z = cnp.sin(y)  # keeps y
    w = cnp.exp(z)  # keeps its result
    modify(y, w)
    with pytest.raises(RuntimeError, match="modified by an in-place operation") as info:
        (w * 2.0).sum().backward()
    return str(info.value)


def case_version_error_input():
    def modify(y, w):
        with cr.no_grad():
            y.mul_(1.5)

    msg = _version_error(modify)
    return msg, {"contains": "SinBackward"}


def case_version_error_output():
    def modify(y, w):
        with cr.no_grad():
            w[3] = 0.0

    msg = _version_error(modify)
    return msg, {"contains": "ExpBackward"}


def case_version_error_view():
    x = cr.tensor(XBIG, requires_grad=True)
    y = x * 2.0
    z = cnp.cos(y)
    v = y.reshape(2, -1)  # a view: shares y's version
    with cr.no_grad():
        v[0, 0] = 1.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation") as info:
        z.sum().backward()
    return str(info.value), {"contains": "CosBackward"}


# --- the one-frame path of the functional face (executor.reverse_process) -------------------


def case_grad_constants_of_every_kind():
    """Constants of each kind beside a traced value: an array the node keeps, a NumPy
    scalar, a Python bool, int and complex, on either side."""
    c = np.linspace(1.0, 2.0, 101)

    def f(x):
        y = c * x * np.float32(2.0) - True * x + 3 / (x * x + 1) + (x * 1j).real
        return cnp.sum(y * c)

    expected = c * 2 * c - c - 6 * X101 / (X101 * X101 + 1) ** 2 * c + c * 0
    return cr.grad(f)(X101), {"close": (expected, 1e-13)}


def case_grad_of_grad():
    """Operands of an outer trace (values that are tracers) leave the one-frame path."""
    d2 = cr.grad(lambda x: cr.grad(lambda y: y * y * x)(x))
    return np.array([d2(1.5), d2(-2.0)]), {"close": (np.array([6.0, -8.0]), 1e-15)}  # 4x


def case_grad_saved_constant_changed():
    """An array the node keeps is a copy: changed after use, the gradient is unchanged."""
    c = np.array([3.0, 4.0])

    def f(x):
        y = x * c
        c[0] = 100.0
        return cnp.sum(y * x)

    out = cr.grad(f)(np.array([1.0, 2.0]))
    c[0] = 3.0
    return out, {"close": (np.array([6.0, 16.0]), 0.0)}


# --- the Tensor face's common case (executor.tensor_path) and what leaves it ------------------


def case_tensor_small_ops():
    """Tensor and number both ways, two Tensors, unary ops: the one-frame path."""
    x = cr.tensor(X101, requires_grad=True)
    w = cr.tensor(X101[::-1].copy(), requires_grad=True)
    y = cnp.tanh(2.0 * x - w / 3) * x + cnp.exp(-w) - 1
    y.backward(gradient=cr.ones_like(y))
    a, b = X101, X101[::-1]
    t = np.tanh(2 * a - b / 3)
    gx = (1 - t * t) * 2 * a + t
    gw = (1 - t * t) * (-1 / 3) * a - np.exp(-b)
    return (x.grad.numpy(), w.grad.numpy()), {"close": ((gx, gw), 1e-13)}


def case_tensor_zero_d_chain():
    """0-d Tensors (values become NumPy scalars after the first operation), as W11."""
    x = cr.tensor(1.5, requires_grad=True)
    y = x
    for _ in range(50):
        y = y * 1.01 + 0.5
    y.backward()
    return x.grad.numpy(), {"close": (np.float64(1.01**50), 1e-13)}


def case_tensor_promotion():
    """Operands of two dtypes, a NumPy scalar, a bool, a constant Tensor: the general path
    (PyTorch's promotion), through the same switch."""
    x = cr.tensor(np.linspace(0, 1, 5, dtype=np.float32), requires_grad=True)
    c = cr.tensor(np.arange(5.0))  # float64, no grad
    y = x * np.float64(3.0) + x * c + x * True
    y.sum().backward()
    return (x.grad.numpy(), y.detach().numpy().dtype.name), {
        "close": ((np.float32(4.0) + np.arange(5.0, dtype=np.float32)), 1e-7), "pick": 0}


def case_tensor_constant_operand_saved():
    """A Tensor without grad whose value a node saves: changed in place, the backward
    pass refuses it (its version is checked), on both paths."""
    x = cr.tensor(X101, requires_grad=True)
    c = cr.tensor(X101 + 1.0)
    y = x * c
    with cr.no_grad():
        c.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation") as info:
        y.sum().backward()
    return str(info.value), {"contains": "MulBackward"}


def case_tensor_matmul():
    """Matrix products of Tensors (the Tensor path), a constant Tensor and a vector."""
    w = cr.tensor(THETA, requires_grad=True)
    v = cr.tensor(XV)
    loss = cnp.sum(cnp.tanh(w @ cnp.tanh(w @ v)))
    loss.backward()
    a1 = np.tanh(THETA @ XV)
    a2 = np.tanh(THETA @ a1)
    g2 = 1 - a2 * a2
    g1 = (THETA.T @ g2) * (1 - a1 * a1)
    return w.grad.numpy(), {"close": (np.outer(g2, a1) + np.outer(g1, XV), 2e-5)}


def case_tensor_matmul_error():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError) as info:
        x @ cr.tensor(np.ones((4, 2)))
    return str(info.value), {"contains": "operand shapes (2, 3) and (4, 2)"}


def case_tensor_shape_error():
    x = cr.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError) as info:
        x + cr.tensor(np.ones(4))
    return str(info.value), {"contains": "operand shapes (3,) and (4,)"}


def case_tensor_no_grad_inside():
    """Recording off for a part: no node there, on both paths."""
    x = cr.tensor(X101, requires_grad=True)
    with cr.no_grad():
        c = x * 3.0
    y = x * c
    y.sum().backward()
    return (x.grad.numpy(), c.requires_grad), {"close": (3 * X101, 1e-15), "pick": 0}


CASES = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}
BLOCKED = {"big_chain_grad", "big_chain_vjp", "big_chain_tensor", "register_hook",
           "retain_grad", "retain_graph", "big_float32_chain"}  # fmt: skip


def _check(name, result, spec):
    if "contains" in spec:
        assert spec["contains"] in result, result
        return
    expected, rtol = spec["close"]
    got = result[spec["pick"]] if "pick" in spec else result
    if isinstance(got, tuple):
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol * 1e-2)
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * 1e-2)
        if "dtype" in spec:
            assert got.dtype == spec["dtype"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_is_right(name, mode, regions):
    result, spec = CASES[name]()
    _check(name, result, spec)
    if name in BLOCKED:
        assert bool(regions) == (mode == "fast"), regions  # the blocked path was exercised


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_and_readable_agree(name):
    runs = _both(CASES[name])
    _identical(runs["fast"][0], runs["readable"][0])


# --- known gaps -----------------------------------------------------------------------------


def test_backward_inputs_non_leaf_gets_grad(mode):
    """As PyTorch: a non-leaf tensor passed in `inputs` gets its .grad."""
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    cnp.sin(y).sum().backward(inputs=[x, y])
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), np.cos([3.0, 8.0]) * [3.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(y.grad.numpy(), np.cos([3.0, 8.0]), rtol=1e-15)


# --- the switch itself ----------------------------------------------------------------------


def test_switch_installs_and_removes_the_fast_paths():
    assert executor.enabled()
    assert reverse.backward_pass is executor.backward_pass
    assert reverse.ReverseTrace.process_primitive is executor.reverse_process
    with executor.readable():
        assert not executor.enabled()
        assert reverse.backward_pass is not executor.backward_pass
        assert reverse.ReverseTrace.process_primitive is reverse.ReverseTrace.readable_process
    assert executor.enabled()
    assert reverse.backward_pass is executor.backward_pass
    assert reverse.ReverseTrace.process_primitive is executor.reverse_process


def test_switch_installs_and_removes_the_tensor_path():
    from chainrule.tensor import EagerTrace

    fast = EagerTrace.process_primitive
    assert fast.__qualname__.endswith("(fast)")
    with executor.readable():
        assert EagerTrace.process_primitive is not fast
        assert EagerTrace.process_primitive is EagerTrace.__dict__["process_primitive"]
        x = cr.tensor(2.0, requires_grad=True)
        (x * 3.0).backward()  # the readable path records
        assert x.grad.item() == 3.0
    assert EagerTrace.process_primitive is fast


def test_one_frame_paths_are_installed_for_both_faces():
    from chainrule.tensor import EagerTrace

    assert reverse.ReverseTrace.process_primitive is executor.reverse_process
    assert EagerTrace.process_primitive.__qualname__.endswith("(fast)")
    x = cr.tensor(np.ones(3), requires_grad=True)
    t = reverse.new_trace(reverse.ReverseTrace, "test")
    try:  # a Tensor given to the functional face's path: handed to its general path
        out = executor.reverse_process(t, reverse.P.add_p, (x, 1.0), {})
    finally:
        reverse.end_trace(t)
    assert isinstance(out, cr.Tensor)


def test_tensor_path_primitives_have_no_process_rule():
    """The Tensor path records its primitives itself: none may have a process rule (a
    transformation's own recording), registered by any module of the package."""
    import chainrule.nn  # noqa: F401  (modules imported on demand: rules they may add)
    import chainrule.scipy  # noqa: F401

    assert executor._FAST
    assert not executor._FAST & set(reverse.process_rules)


def test_the_one_frame_path_makes_its_results_as_wrap_does():
    """`one_frame` makes its tracers itself (wrap, inlined): the fields `wrap` sets, and no
    trace that runs it defines another wrap."""
    import chainrule.transparency.graph  # noqa: F401  (subclasses of ReverseTrace)
    from chainrule.tensor import EagerTrace

    def subclasses(c):
        return [c] + [s for k in c.__subclasses__() for s in subclasses(k)]

    fast_paths = (executor.reverse_process, EagerTrace.__dict__["process_primitive"])
    for cls in subclasses(reverse.ReverseTrace):
        if cls.process_primitive in fast_paths:
            assert cls.wrap in (reverse.ReverseTrace.wrap, EagerTrace.wrap), cls
    fields = ("_trace", "_value", "_node", "_grad", "_ver")
    x = cr.tensor(X101, requires_grad=True)
    fast = x * 2.0
    slow = EagerTrace.wrap(x._trace, X101 * 2.0, fast._node)
    assert [getattr(fast, k) is None for k in fields] == [getattr(slow, k) is None
                                                         for k in fields]  # fmt: skip
    assert fast._ver == slow._ver == [0] and fast._trace is slow._trace
    t = reverse.new_trace(reverse.ReverseTrace, "test")
    try:
        y = reverse.RTracer(t, X101, reverse.Node(None, None, (), X101.shape, X101.dtype))
        out = executor.reverse_process(t, reverse.P.mul_p, (y, 2.0), {})
        assert type(out) is reverse.RTracer and out._trace is t and out._node is not None
    finally:
        reverse.end_trace(t)


def _fields(node):
    return {k: getattr(node, k) for k in reverse.Node.__slots__ if k != "__weakref__"}


@pytest.mark.parametrize("build", [
    lambda: cr.tensor(X101, requires_grad=True) * 2.0,  # the Tensor path, two operands
    lambda: cnp.exp(cr.tensor(X101, requires_grad=True)),  # the Tensor path, one operand
    lambda: cr.tensor(X101, requires_grad=True)[1:],  # the executor's general path
])  # fmt: skip
def test_nodes_made_inline_have_every_field_of_node_init(build):
    """The fast paths make nodes without Node.__init__: every field is set, as it sets it."""
    fast = build()._node
    with executor.readable():
        slow = build()._node
    f, s = _fields(fast), _fields(slow)
    assert f.keys() == s.keys()
    for k in f:
        if k == "seq":
            assert f[k] < s[k]
        elif k in ("saved", "parents", "versions"):
            assert len(f[k] or ()) == len(s[k] or ()), k
        else:
            assert f[k] == s[k] or (f[k] is None and s[k] is None), k


def test_tensor_path_keeps_tape_watching():
    """A tape watching a constant Tensor (the thread is then not plain): the general path
    uses the tape's proxy, so the gradient with respect to the constant is found."""
    c = cr.tensor(X101)
    with cr.GradientTape() as tape:
        tape.watch(c)
        y = cnp.sum(c * 3.0)
    np.testing.assert_array_equal(tape.gradient(y, c).numpy(), np.full(101, 3.0))


def test_not_plain_counts_threads_that_are_not():
    """The hint the Tensor path reads: one entry per thread with recording off."""
    import threading

    from chainrule.tensor import _NOT_PLAIN

    before = len(_NOT_PLAIN)
    inside = threading.Event()
    leave = threading.Event()

    def worker():
        with cr.no_grad():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(10)
    assert len(_NOT_PLAIN) == before + 1
    x = cr.tensor(1.0, requires_grad=True)
    assert (x * 2.0).requires_grad  # this thread still records
    leave.set()
    t.join()
    assert len(_NOT_PLAIN) == before
    with cr.no_grad():
        assert len(_NOT_PLAIN) == before + 1
        assert not (x * 2.0).requires_grad
    assert len(_NOT_PLAIN) == before


def test_readable_restores_after_an_exception():
    assert executor.enabled()
    with pytest.raises(KeyError):
        with executor.readable():
            assert not executor.enabled()
            raise KeyError("inside the block")
    assert executor.enabled()
    assert reverse.backward_pass is executor.backward_pass


def test_readable_restores_after_an_error_inside_a_gradient():
    with pytest.raises(TypeError):
        with executor.readable():
            cr.grad(lambda x: x * 2.0)(np.ones(3))  # non-scalar output
    assert executor.enabled()


def test_readable_nests_and_restores_the_previous_state():
    executor.use(False)
    try:
        with executor.readable():
            assert not executor.enabled()
        assert not executor.enabled()  # it was off before: it stays off
        executor.use(True)
        with executor.readable():
            with executor.readable():
                assert not executor.enabled()
            assert not executor.enabled()
        assert executor.enabled()
    finally:
        executor.use(True)
    assert executor.enabled()


def test_use_is_idempotent():
    executor.use(True)
    executor.use(True)
    assert executor.enabled()
    assert reverse.backward_pass is executor.backward_pass
    executor.use(False)
    executor.use(False)
    try:
        assert not executor.enabled()
        assert reverse.ReverseTrace.process_primitive is reverse.ReverseTrace.readable_process
    finally:
        executor.use(True)
    assert executor.enabled()
