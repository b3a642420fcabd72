"""The PyTorch face against PyTorch itself (float64, 1e-12): top-level functions, Tensor
methods with `dim`/`keepdim`, named returns, in-place methods and their errors, dtype
promotion of 0-d operands, and PyTorch's complex convention.

Each case is written once, with `L` standing for the library (`torch` or `chainrule`), and run
with both: values and the gradients of a weighted sum of the outputs must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

RTOL = ATOL = 1e-12
rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((3, 4))
C = rng.standard_normal((4, 5))
P = rng.uniform(0.5, 2.0, (3, 4))  # positive
T3 = rng.standard_normal((2, 3, 4))
T3b = rng.standard_normal((2, 4, 5))
V = rng.standard_normal(4)
W = rng.standard_normal(4)
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, -1.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
IDX = np.array([[0, 3, 1, 1], [2, 2, 0, 1]])  # for gather along dim 1 (2 of 3 rows)
MASK = A > 0.3


def _tensor(lib, a, grad):
    if isinstance(a, np.ndarray) and a.dtype.kind == "b":
        return lib.tensor(a)
    if lib is torch:
        t = torch.tensor(a)
        return t.requires_grad_() if grad else t
    return cr.tensor(a, requires_grad=grad)


def _np(x):
    if isinstance(x, (tuple, list)):
        return [_np(e) for e in x]
    if isinstance(x, (torch.Tensor, cr.Tensor)):
        return x.detach().numpy()
    return np.asarray(x)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for e in out for o in _flat(e)]
    return [out]


def _run(lib, fn, arrays, grads):
    ins = [_tensor(lib, a, g) for a, g in zip(arrays, grads)]
    out = fn(lib, *ins)
    leaves = [t for t, g in zip(ins, grads) if g]
    loss = None
    wrng = np.random.default_rng(1)
    for o in _flat(out):
        if isinstance(o, (torch.Tensor, cr.Tensor)) and o.requires_grad:
            w = wrng.standard_normal(tuple(o.shape))
            term = (o * lib.tensor(w)).sum()
            loss = term if loss is None else loss + term
    gs = []
    if loss is not None and leaves:
        loss.backward()
        gs = [None if t.grad is None else t.grad.numpy() for t in leaves]
    return out, gs


def check(fn, *arrays, grads=None, rtol=RTOL, atol=ATOL):
    """fn(torch, ...) and fn(cr, ...) agree: values, dtypes, named fields, gradients."""
    grads = grads or [np.asarray(a).dtype.kind == "f" for a in arrays]
    out_t, g_t = _run(torch, fn, arrays, grads)
    out_c, g_c = _run(cr, fn, arrays, grads)
    if hasattr(out_t, "_fields") or type(out_t).__module__ == "torch.return_types":
        assert out_c.values is out_c[0] and out_c.indices is out_c[1]
    ft, fc = _flat(out_t), _flat(out_c)
    assert len(ft) == len(fc)
    for t, c in zip(ft, fc):
        if isinstance(t, torch.Tensor):
            assert isinstance(c, cr.Tensor), type(c)
            assert tuple(c.shape) == tuple(t.shape)
            assert c.dtype == t.detach().numpy().dtype, (c.dtype, t.dtype)
            assert c.requires_grad == t.requires_grad
        np.testing.assert_allclose(_np(c), _np(t), rtol=rtol, atol=atol)
    assert len(g_t) == len(g_c)
    for t, c in zip(g_t, g_c):
        if t is None:
            assert c is None or not np.any(c)
        else:
            np.testing.assert_allclose(c, t, rtol=rtol, atol=atol)


# --- top-level functions ---------------------------------------------------------------------

FUNCTIONS = {
    "sin": (lambda L, x: L.sin(x), A), "cos": (lambda L, x: L.cos(x), A),
    "tan": (lambda L, x: L.tan(x), A), "exp": (lambda L, x: L.exp(x), A),
    "log": (lambda L, x: L.log(x), P), "log1p": (lambda L, x: L.log1p(x), P),
    "expm1": (lambda L, x: L.expm1(x), A), "sqrt": (lambda L, x: L.sqrt(x), P),
    "rsqrt": (lambda L, x: L.rsqrt(x), P), "tanh": (lambda L, x: L.tanh(x), A),
    "sigmoid": (lambda L, x: L.sigmoid(x), A * 10), "relu": (lambda L, x: L.relu(x), A),
    "abs": (lambda L, x: L.abs(x), A), "neg": (lambda L, x: L.neg(x), A),
    "exp2": (lambda L, x: L.exp2(x), A), "square": (lambda L, x: L.square(x), A),
    "pow_scalar": (lambda L, x: L.pow(x, 3), A), "pow_tensor": (lambda L, x, y: L.pow(x, y), P, B),
    "add_alpha": (lambda L, x, y: L.add(x, y, alpha=2.5), A, B),
    "sub_alpha": (lambda L, x, y: L.sub(x, y, alpha=0.5), A, B),
    "mul": (lambda L, x, y: L.mul(x, y), A, B), "div": (lambda L, x, y: L.div(x, y), A, P),
    "div_floor": (lambda L, x, y: L.div(x.detach(), y.detach(), rounding_mode="floor"), A, P),
    "div_trunc": (lambda L, x, y: L.div(x.detach(), y.detach(), rounding_mode="trunc"), A, P),
    "maximum": (lambda L, x, y: L.maximum(x, y), A, B),
    "minimum": (lambda L, x, y: L.minimum(x, y), A, B),
    "matmul": (lambda L, x, y: L.matmul(x, y), A, C), "mm": (lambda L, x, y: L.mm(x, y), A, C),
    "bmm": (lambda L, x, y: L.bmm(x, y), T3, T3b), "matmul_3d": (lambda L, x, y: x @ y, T3, C),
    "mv": (lambda L, x, v: L.mv(x, v), A, V), "dot": (lambda L, u, v: L.dot(u, v), V, W),
    "outer": (lambda L, u, v: L.outer(u, v), V, W),
    "einsum": (lambda L, x, y: L.einsum("ij,jk->ik", x, y), A, C),
    "einsum_list": (lambda L, x, y: L.einsum("bij,bjk->bk", [x, y]), T3, T3b),
    "cat0": (lambda L, x, y: L.cat([x, y]), A, B),
    "cat_neg": (lambda L, x, y: L.cat((x, y, x), dim=-1), A, B),
    "stack1": (lambda L, x, y: L.stack([x, y], dim=1), A, B),
    "stack_neg": (lambda L, x, y: L.stack([x, y], -1), A, B),
    "where": (lambda L, x, y: L.where(x > 0, x, y), A, B),
    "where_scalar": (lambda L, x: L.where(x > 0, x, 0.0), A),
    "clamp": (lambda L, x: L.clamp(x, min=-0.5, max=0.5), A),
    "clamp_min": (lambda L, x: L.clamp(x, min=0.1), A),
    "clamp_max_pos": (lambda L, x: L.clamp(x, None, 0.2), A),
    "clamp_tensors": (lambda L, x, lo, hi: L.clamp(x, lo, hi), A, B - 1, B + 0.5),
    "clip": (lambda L, x: L.clip(x, -1, 1), A),
    "sum": (lambda L, x: L.sum(x), A), "sum_dim": (lambda L, x: L.sum(x, dim=1), A),
    "sum_keep": (lambda L, x: L.sum(x, 1, keepdim=True), A),
    "sum_dims": (lambda L, x: L.sum(x, dim=(0, -1)), T3),
    "sum_axis": (lambda L, x: L.sum(x, axis=1, keepdims=True), A),
    "mean": (lambda L, x: L.mean(x, dim=-1), T3), "mean_all": (lambda L, x: L.mean(x), A),
    "prod": (lambda L, x: L.prod(x, 1), A), "prod_all": (lambda L, x: L.prod(x), A),
    "max_all": (lambda L, x: L.max(x), A), "max_ties": (lambda L, x: L.max(x), TIES),
    "max_dim": (lambda L, x: L.max(x, dim=1), A),
    "max_dim_keep": (lambda L, x: L.max(x, 0, keepdim=True), A),
    "max_dim_neg": (lambda L, x: L.max(x, -2), T3),
    "max_other": (lambda L, x, y: L.max(x, y), A, B),
    "min_dim": (lambda L, x: L.min(x, dim=-1), A), "min_all": (lambda L, x: L.min(x), A),
    "min_other": (lambda L, x, y: L.min(x, y), A, B),
    "amax": (lambda L, x: L.amax(x, dim=(0, 1)), T3),
    "amax_ties": (lambda L, x: L.amax(x, dim=1, keepdim=True), TIES),
    "amin": (lambda L, x: L.amin(x, -1), TIES), "amax_all": (lambda L, x: L.amax(x), TIES),
    "argmax": (lambda L, x: L.argmax(x, dim=1), A), "argmax_all": (lambda L, x: L.argmax(x), A),
    "argmin_keep": (lambda L, x: L.argmin(x, dim=0, keepdim=True), A),
    "std": (lambda L, x: L.std(x, dim=1), A), "std_all": (lambda L, x: L.std(x), A),
    "var": (lambda L, x: L.var(x, 0, unbiased=False), A),
    "var_correction": (lambda L, x: L.var(x, dim=-1, correction=0, keepdim=True), T3),
    "cumsum": (lambda L, x: L.cumsum(x, dim=1), A),
    "cumprod": (lambda L, x: L.cumprod(x, -2), A),
    "softmax": (lambda L, x: L.softmax(x, dim=1), A * 3),
    "softmax_neg": (lambda L, x: L.softmax(x, -1), T3),
    "log_softmax": (lambda L, x: L.log_softmax(x, dim=0), A * 3),
    "logsumexp": (lambda L, x: L.logsumexp(x, dim=1), A * 50),
    "logsumexp_keep": (lambda L, x: L.logsumexp(x, (0, 2), keepdim=True), T3),
    "norm": (lambda L, x: L.norm(x), A), "norm_p1": (lambda L, x: L.norm(x, p=1), A),
    "norm_p3_dim": (lambda L, x: L.norm(x, p=3, dim=1), A),
    "norm_inf": (lambda L, x: L.norm(x, p=float("inf"), dim=0, keepdim=True), A),
    "norm_fro_dims": (lambda L, x: L.norm(x, "fro", dim=(1, 2)), T3),
    "norm_nuc": (lambda L, x: L.norm(x, "nuc"), A),
    "reshape": (lambda L, x: L.reshape(x, (4, -1)), A),
    "transpose": (lambda L, x: L.transpose(x, 0, -1), T3),
    "permute": (lambda L, x: L.permute(x, (2, 0, 1)), T3),
    "flatten": (lambda L, x: L.flatten(x, 1), T3),
    "flatten_range": (lambda L, x: L.flatten(x, 0, 1), T3),
    "squeeze": (lambda L, x: L.squeeze(L.unsqueeze(x, 1), 1), A),
    "squeeze_noop": (lambda L, x: L.squeeze(x, 0), A),
    "unsqueeze_neg": (lambda L, x: L.unsqueeze(x, -1), A),
    "chunk": (lambda L, x: L.chunk(x, 3, dim=1), A),
    "split_int": (lambda L, x: L.split(x, 3, dim=-1), A),
    "split_list": (lambda L, x: L.split(x, [1, 2], dim=0), A),
    "unbind": (lambda L, x: L.unbind(x, 1), A),
    "narrow": (lambda L, x: L.narrow(x, 1, 1, 2), A),
    "select": (lambda L, x: L.select(x, 0, -1), A),
    "gather": (lambda L, x: L.gather(x, 1, L.tensor(IDX)), A),
    "index_select": (lambda L, x: L.index_select(x, -1, L.tensor([3, 0, 0])), A),
    "masked_fill": (lambda L, x: L.masked_fill(x, L.tensor(MASK), -1.0), A),
    "tile": (lambda L, x: L.tile(x, (2, 1, 3)), A),
    "zeros_like": (lambda L, x: L.zeros_like(x) + x, A),
    "full_like": (lambda L, x: L.full_like(x, 2.5) * x, A),
}  # fmt: skip


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_against_torch(name):
    fn, *arrays = FUNCTIONS[name]
    check(fn, *arrays)


# --- Tensor methods --------------------------------------------------------------------------

METHODS = {
    "sum": (lambda L, x: x.sum(dim=1, keepdim=True), A),
    "sum_neg": (lambda L, x: x.sum(-1), T3), "mean": (lambda L, x: x.mean((0, 2)), T3),
    "prod": (lambda L, x: x.prod(dim=0, keepdim=True), A),
    "max": (lambda L, x: x.max(), A), "max_dim": (lambda L, x: x.max(dim=1), A),
    "max_values": (lambda L, x: x.max(1, keepdim=True).values, A),
    "max_indices": (lambda L, x: x.max(dim=-1).indices, A),
    "min_dim": (lambda L, x: x.min(0), A), "amax": (lambda L, x: x.amax(dim=-1), TIES),
    "amin": (lambda L, x: x.amin(), TIES), "argmax": (lambda L, x: x.argmax(dim=1), A),
    "argmin": (lambda L, x: x.argmin(), A),
    "std": (lambda L, x: x.std(dim=1), A), "std_keep": (lambda L, x: x.std(0, keepdim=True), A),
    "var": (lambda L, x: x.var(), A), "var_unbiased": (lambda L, x: x.var(1, unbiased=False), A),
    "var_correction": (lambda L, x: x.var(dim=0, correction=2), A),
    "norm": (lambda L, x: x.norm(), A), "norm_p": (lambda L, x: x.norm(p=1, dim=1), A),
    "norm_keep": (lambda L, x: x.norm(2, dim=-1, keepdim=True), T3),
    "softmax": (lambda L, x: x.softmax(dim=-1), A),
    "log_softmax": (lambda L, x: x.log_softmax(0), A),
    "logsumexp": (lambda L, x: x.logsumexp(dim=1, keepdim=True), A),
    "cumsum": (lambda L, x: x.cumsum(dim=0), A), "cumprod": (lambda L, x: x.cumprod(1), A),
    "mm": (lambda L, x, y: x.mm(y), A, C), "bmm": (lambda L, x, y: x.bmm(y), T3, T3b),
    "matmul": (lambda L, x, y: x.matmul(y), T3, C), "dot": (lambda L, u, v: u.dot(v), V, W),
    "clamp": (lambda L, x: x.clamp(min=-0.3), A), "clamp_both": (lambda L, x: x.clamp(-1, 0.2), A),
    "clip": (lambda L, x: x.clip(-0.3, 0.3), A),
    "expand": (lambda L, v: v.expand(3, -1), V),
    "expand_as": (lambda L, v, x: v.expand_as(x), V, A),
    "expand_new_dims": (lambda L, x: x.unsqueeze(0).expand(2, 3, 4), A),
    "repeat": (lambda L, x: x.repeat(2, 3), A), "repeat_more": (lambda L, v: v.repeat(2, 2), V),
    "view": (lambda L, x: x.view(2, 6), A), "view_neg": (lambda L, x: x.view(-1), A),
    "view_as": (lambda L, x, y: x.view_as(y), A, A.reshape(6, 2)),
    "reshape": (lambda L, x: x.reshape(6, -1), A),
    "reshape_tuple": (lambda L, x: x.reshape((12,)), A),
    "permute": (lambda L, x: x.permute(1, 2, 0), T3),
    "permute_tuple": (lambda L, x: x.permute((2, 1, 0)), T3),
    "transpose": (lambda L, x: x.transpose(0, 1), A),
    "transpose_neg": (lambda L, x: x.transpose(-1, -3), T3),
    "t": (lambda L, x: x.t(), A), "T": (lambda L, x: x.T, A), "mT": (lambda L, x: x.mT, T3),
    "squeeze": (lambda L, x: x.unsqueeze(1).squeeze(1), A),
    "squeeze_all": (lambda L, x: x.view(3, 1, 4, 1).squeeze(), A),
    "unsqueeze": (lambda L, x: x.unsqueeze(-2), A), "flatten": (lambda L, x: x.flatten(), T3),
    "flatten_start": (lambda L, x: x.flatten(start_dim=1), T3),
    "flatten_range": (lambda L, x: x.flatten(1, 2), T3),
    "contiguous": (lambda L, x: x.t().contiguous(), A),
    "chunk": (lambda L, x: x.chunk(2, dim=-1), A), "chunk_uneven": (lambda L, x: x.chunk(2), A),
    "split": (lambda L, x: x.split(2, dim=1), A),
    "split_list": (lambda L, x: x.split([3, 1], 1), A),
    "narrow": (lambda L, x: x.narrow(-1, 0, 3), A), "select": (lambda L, x: x.select(1, 2), A),
    "unbind": (lambda L, x: x.unbind(), A),
    "gather": (lambda L, x: x.gather(1, L.tensor(IDX)), A),
    "gather_dim0": (lambda L, x: x.gather(0, L.tensor([[2, 0, 1, 1]])), A),
    "index_select": (lambda L, x: x.index_select(0, L.tensor([2, 0])), A),
    "masked_fill": (lambda L, x: x.masked_fill(L.tensor(MASK), 0.5), A),
    "masked_fill_row": (lambda L, x: x.masked_fill(L.tensor([True, False, False, True]), 2.0), A),
    "where": (lambda L, x, y: x.where(x > y, y), A, B),
    "type_as": (lambda L, x, y: x.type_as(y) * y, A, B),
    "to_dtype": (lambda L, x: x.to(L.float32).to(L.float64), A),
    "float_double": (lambda L, x: x.float().double(), A),
    "long": (lambda L, x: (x * 3).long(), A), "int": (lambda L, x: (x * 3).int(), A),
    "bool": (lambda L, x: x.bool(), A), "half": (lambda L, x: x.half().double(), A),
    "abs": (lambda L, x: x.abs(), A), "exp": (lambda L, x: x.exp(), A),
    "log": (lambda L, x: x.log(), P), "sin": (lambda L, x: x.sin(), A),
    "cos": (lambda L, x: x.cos(), A), "tanh": (lambda L, x: x.tanh(), A),
    "sigmoid": (lambda L, x: x.sigmoid(), A), "relu": (lambda L, x: x.relu(), A),
    "sqrt": (lambda L, x: x.sqrt(), P), "rsqrt": (lambda L, x: x.rsqrt(), P),
    "pow": (lambda L, x: x.pow(2.5), P), "neg": (lambda L, x: x.neg(), A),
    "reciprocal": (lambda L, x: x.reciprocal(), P), "square": (lambda L, x: x.square(), A),
    "floor": (lambda L, x: (x * 3).detach().floor(), A),
    "ceil": (lambda L, x: (x * 3).detach().ceil(), A),
    "round": (lambda L, x: (x * 3).detach().round(), A),
    "sign": (lambda L, x: x.detach().sign(), A),
    "add": (lambda L, x, y: x.add(y, alpha=3), A, B), "sub": (lambda L, x, y: x.sub(y), A, B),
    "mul_div": (lambda L, x, y: x.mul(y).div(y + 3), A, P),
    "comparisons": (lambda L, x, y: (x.lt(y), x.le(y), x.gt(y), x.ge(y), x.eq(x), x.ne(y)), A, B),
}  # fmt: skip


@pytest.mark.parametrize("name", METHODS)
def test_method_against_torch(name):
    fn, *arrays = METHODS[name]
    check(fn, *arrays)


def test_sizes_and_conversions_against_torch():
    for lib in (torch, cr):
        x = _tensor(lib, T3, True)
        assert x.size() == (2, 3, 4) and x.size(-1) == 4 and x.shape == (2, 3, 4)
        assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24
        assert lib.numel(x) == 24 and lib.is_tensor(x) and not lib.is_tensor(T3)
        assert x.is_floating_point() and not x.is_complex()
        assert x.sum().item() == pytest.approx(T3.sum(), rel=1e-14)
        assert x.detach()[0, 0].tolist() == T3[0, 0].tolist()
        assert x.allclose(x * (1 + 1e-9)) and not x.allclose(x + 1)
        assert lib.allclose(x, x + 1e-10)
        assert x.to(lib.float64) is x and x.double() is x and x.type_as(x) is x
        assert x.contiguous() is x
        assert x.element_size() == 8


def test_max_with_dim_is_a_named_pair():
    x = cr.tensor(A, requires_grad=True)
    res = x.max(dim=1)
    values, indices = res
    assert res.values is values and res.indices is indices
    assert type(res).__name__ == "max" and type(x.min(1)).__name__ == "min"
    assert isinstance(res, tuple) and cr.return_types.max is type(res)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), A.argmax(1))


def test_max_with_ties_sends_the_gradient_to_the_index_returned_like_torch():
    check(lambda L, x: L.max(x, 1).values, TIES)
    check(lambda L, x: x.min(dim=0, keepdim=True), TIES)


def test_numpy_spelling_keeps_numpy_meaning():
    x = cr.tensor(A)
    np.testing.assert_allclose(x.max(axis=1).numpy(), A.max(axis=1))
    np.testing.assert_allclose(cr.max(x, axis=0, keepdims=True).numpy(), A.max(0, keepdims=True))
    np.testing.assert_allclose(x.std(axis=0).numpy(), A.std(axis=0), rtol=1e-14)
    np.testing.assert_allclose(x.var(ddof=1).numpy(), A.var(ddof=1), rtol=1e-14)
    np.testing.assert_allclose(x.std().numpy(), A.std(ddof=1), rtol=1e-14)  # PyTorch's default
    np.testing.assert_allclose(x.repeat(2, axis=0).numpy(), A.repeat(2, axis=0))
    np.testing.assert_allclose(x.sum(axis=1, keepdims=True).numpy(), A.sum(1, keepdims=True))
    np.testing.assert_allclose(x.clip(a_min=0).numpy(), A.clip(0))
    np.testing.assert_allclose(x.flatten().numpy(), A.flatten())
    np.testing.assert_allclose(cr.sin(A), np.sin(A))  # NumPy in, NumPy out
    assert cr.sin is cr.numpy.sin and cr.where is cr.numpy.where and cr.exp is cr.numpy.exp


def test_dims_out_of_range_and_out_are_refused():
    x = cr.tensor(A)
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.max(dim=2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        cr.softmax(x, dim=-3)
    with pytest.raises(TypeError, match="out="):
        cr.sum(x, 0, out=cr.zeros(4))
    with pytest.raises(RuntimeError, match="at least one"):
        cr.clamp(x)
    with pytest.raises(RuntimeError, match="2-D"):
        cr.mm(cr.tensor(V), x)
    with pytest.raises(TypeError, match="sequence"):
        cr.cat(x)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
def test_softmax_and_logsumexp_are_stable():
    for lib in (torch, cr):
        x = lib.tensor([[1000.0, 1000.0, -np.inf], [-1e4, 0.0, 1e4]], dtype=lib.float64)
        s = lib.softmax(x, dim=1)
        assert np.isfinite(s.numpy()).all()
        np.testing.assert_allclose(s.numpy()[0], [0.5, 0.5, 0.0])
        lse = lib.logsumexp(lib.tensor([-np.inf, -np.inf], dtype=lib.float64), dim=0)
        assert lse.item() == -np.inf


def test_sigmoid_and_relu_at_extremes_and_kinks_like_torch():
    xs = np.array([-800.0, -40.0, -1e-3, 0.0, 1e-3, 40.0, 800.0])
    check(lambda L, x: L.sigmoid(x), xs, rtol=1e-14, atol=1e-17)
    check(lambda L, x: (L.relu(x), x.relu(), L.abs(x)), xs)
    check(lambda L, x: (L.clamp(x, 0.0, 1e-3), L.maximum(x, L.zeros_like(x))), xs)


# --- in-place methods ------------------------------------------------------------------------

INPLACE = {
    "add_": lambda L, x, y: (x * 1).add_(y, alpha=2),
    "sub_": lambda L, x, y: (x * 1).sub_(y, alpha=0.5),
    "mul_": lambda L, x, y: (x * 1).mul_(y),
    "div_": lambda L, x, y: (x * 1).div_(y.abs() + 1),
    "pow_": lambda L, x, y: (x.abs() + 1).pow_(1.5),
    "clamp_": lambda L, x, y: (x * 1).clamp_(min=-0.2, max=0.4),
    "clip_": lambda L, x, y: (x * 1).clip_(-0.2),
    "neg_": lambda L, x, y: (x * y).neg_(),
    "exp_": lambda L, x, y: (x * y).exp_(),
    "zero_": lambda L, x, y: (x * 1).zero_() + y,
    "fill_": lambda L, x, y: (x * 1).fill_(2.0) * y,
    "fill_tensor": lambda L, x, y: (x * 1).fill_(y.sum()),
    "copy_": lambda L, x, y: (x * 2).copy_(y) * x,
    "copy_broadcast": lambda L, x, y: (x * 2).copy_(y[0]),
    "constant_mul_": lambda L, x, y: L.ones(3, 4, dtype=L.float64).mul_(x).add_(y),
    "iadd_chain": lambda L, x, y: _iops(x * 1, y),
    "masked_fill_": lambda L, x, y: (x * 1).masked_fill_(y > 0, 0.0),
    "addcmul_": lambda L, x, y: (x * 1).addcmul_(x, y, value=0.5),
    "addcdiv_": lambda L, x, y: (x * 1).addcdiv_(x, y.abs() + 1, value=-2),
    "lerp_": lambda L, x, y: (x * 1).lerp_(y, 0.25),
    "view_mul_": lambda L, x, y: _after(x * 1, lambda z: z[0].mul_(y[0])),
    "view_slice_": lambda L, x, y: _after(x * 1, lambda z: z[:, 1:3].add_(y[:, :2])),
    "view_reshape_": lambda L, x, y: _after(x * 1, lambda z: z.view(2, 6).mul_(3)),
    "view_t_": lambda L, x, y: _after(x * 1, lambda z: z.t().mul_(y.t())),
    "setitem_view": lambda L, x, y: _after(x * 1, lambda z: _set(z[1], slice(0, 2), y[0, :2])),
    "iadd_view": lambda L, x, y: _after(L.zeros(3, 4, dtype=L.float64), lambda z: _iadd_item(z, x)),
}  # fmt: skip


def _iops(z, y):
    z += y
    z *= y
    z -= 1
    z /= 2
    z **= 2
    return z


def _after(z, f):
    f(z)
    return z


def _set(view, index, value):
    view[index] = value


def _iadd_item(z, x):
    z[:, 0] += x[:, 0]
    z[1] += x[1] * 2


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_against_torch(name):
    check(INPLACE[name], A, B)


def test_inplace_version_counter_errors_like_torch():
    for lib in (torch, cr):
        x = lib.tensor(A, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            x.add_(1)
        with pytest.raises(RuntimeError, match="leaf"):
            x.mul_(2)
        y = x.exp()  # saves its result
        y.add_(1)
        with pytest.raises(RuntimeError, match="in-?place"):
            y.sum().backward()
        z = x * 1
        w = z * z  # saves z
        z.zero_()
        with pytest.raises(RuntimeError, match="in-?place"):
            w.sum().backward()
        with lib.no_grad():  # an optimizer step
            x.sub_(0.1 * lib.ones_like(x))
        np.testing.assert_allclose(x.detach().numpy(), A - 0.1)


def test_inplace_bumps_the_version_counter():
    x = cr.tensor(A)
    v = x._ver[0]
    x.add_(1)
    x.mul_(2)
    x[0] = 0.0
    assert x._ver[0] == v + 3
    d = x.detach()
    d.zero_()
    assert x._ver[0] == v + 4 and not x.numpy().any()  # shared memory and counter


def test_inplace_dtype_and_shape_rules_like_torch():
    for lib in (torch, cr):
        i = lib.ones(3, dtype=lib.int64)
        with pytest.raises(RuntimeError, match="can't be cast"):
            i.mul_(0.5)
        f = lib.ones(3, dtype=lib.float32)
        f.add_(lib.ones(3, dtype=lib.float64))
        assert f.dtype == lib.float32
        with pytest.raises(RuntimeError, match="shape"):
            f.add_(lib.ones(2, 3, dtype=lib.float32))
        i.fill_(2.7)
        assert i.tolist() == [2, 2, 2]


def test_inplace_on_a_view_of_a_leaf_is_refused():
    x = cr.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0].mul_(2)
    with pytest.raises(RuntimeError, match="leaf"):
        x.view(-1).add_(1)


def test_no_grad_writes_through_views():
    x = cr.tensor(A)
    x[0].mul_(0)
    x.view(-1)[-1].fill_(7.0)
    x.t()[1].add_(1)
    expected = A.copy()
    expected[0] = 0
    expected[-1, -1] = 7
    expected[:, 1] += 1
    np.testing.assert_array_equal(x.numpy(), expected)


def test_data_assignment_and_grad_zero():
    x = cr.tensor(V, requires_grad=True)
    (x * x).sum().backward()
    x.data -= 0.5 * x.grad
    np.testing.assert_allclose(x.detach().numpy(), V - V)
    x.grad.zero_()
    assert not x.grad.numpy().any()


# --- dtype promotion -------------------------------------------------------------------------


def _promotions(lib):
    f32 = lib.ones(3, dtype=lib.float32)
    i32 = lib.ones(3, dtype=lib.int32)
    i64 = lib.ones(3, dtype=lib.int64)
    s64 = lib.tensor(0.5, dtype=lib.float64)
    return {
        "f32*float": f32 * 0.5, "float*f32": 0.5 * f32,
        "f32*np.float64": f32 * np.float64(0.5), "np.float64*f32": np.float64(0.5) * f32,
        "f32*1/sqrt3": f32 * (1 / np.sqrt(3)), "f32/np.float64": f32 / np.float64(3),
        "f32*np.float32": f32 * np.float32(2), "f32+np.int64": f32 + np.int64(2),
        "f32*0d_f64": f32 * s64, "0d_f64*f32": s64 * f32, "f32*0d_i64": f32 * lib.tensor(2),
        "f32*1j": f32 * 1j, "f32*np.complex128": f32 * np.complex128(1j),
        "f32*0d_c128": f32 * lib.tensor(1j, dtype=lib.complex128),
        "i32*int": i32 * 2, "i32*np.int64": i32 * np.int64(2), "i32*0d_i64": i32 * lib.tensor(2),
        "i32*0d_f64": i32 * s64, "i64*0d_bool": i64 * lib.tensor(True),
        "f32+f64": f32 + lib.ones(3, dtype=lib.float64), "i32+i64": i32 + i64,
        "0d_f32*np.float64": lib.tensor(1.0, dtype=lib.float32) * np.float64(2),
        "0d_f32*0d_f64": lib.tensor(1.0, dtype=lib.float32) * s64,
        "where_0d": lib.where(f32 > 0, f32, s64), "maximum_0d": lib.maximum(f32, s64),
        "clamp_0d": lib.clamp(f32, min=s64), "pow_np": f32 ** np.float64(2),
        "cmp_np": f32 > np.float64(0.5), "f16*np.float64": f32.half() * np.float64(3),
    }  # fmt: skip


def test_zero_dim_promotion_like_torch():
    t, c = _promotions(torch), _promotions(cr)
    for name in t:
        assert c[name].dtype == t[name].numpy().dtype, (name, c[name].dtype, t[name].dtype)
        np.testing.assert_allclose(c[name].numpy(), t[name].numpy(), rtol=1e-6, err_msg=name)


def test_float32_tensor_with_numpy_scalars_stays_float32_and_grads_too():
    x = cr.randn(3, 4, dtype=np.float32, requires_grad=True)
    y = x * (1 / np.sqrt(3)) + np.float64(0.25) * x - cr.tensor(1.0) * x
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 1 / np.sqrt(3) - 0.75), rtol=1e-6)


def test_zero_dim_tensor_requiring_grad_gets_its_own_dtype_back():
    for lib in (torch, cr):
        s = lib.tensor(2.0, dtype=lib.float64, requires_grad=True)
        x = lib.ones(3, dtype=lib.float32)
        y = x * s
        assert y.dtype == lib.float32
        y.sum().backward()
        assert s.grad.dtype == lib.float64 and s.grad.item() == 3.0


def test_deliberate_differences_from_torch_defaults():
    # Python floats, lists and float64 stay float64 (NumPy), where PyTorch makes float32
    assert cr.tensor(1.0).dtype == np.float64 and cr.zeros(2).dtype == np.float64
    assert (cr.ones(3, dtype=np.int64) * 0.5).dtype == np.float64
    assert (torch.ones(3, dtype=torch.int64) * 0.5).dtype == torch.float32
    # the functional face keeps NumPy 2's rule
    out = cr.grad(lambda v: (v * np.float64(2.0)).sum())(np.ones(3, np.float32))
    assert out.dtype == np.float32
    assert (np.ones(3, np.float32) * np.float64(2.0)).dtype == np.float64


# --- creation --------------------------------------------------------------------------------


def test_factories_allocate_once():
    import tracemalloc

    cr.ones(10)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        t = cr.ones(1000, dtype=np.float32)
        peak = tracemalloc.get_traced_memory()[1] - before
        for f in (cr.zeros, cr.empty):
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            u = f(1000, dtype=np.float32, requires_grad=True)
            assert tracemalloc.get_traced_memory()[1] - before < 6000
            del u
    finally:
        tracemalloc.stop()
    assert 4000 <= peak < 6000, peak
    assert t.dtype == np.float32


def test_creation_functions():
    a = np.arange(3.0)
    t = cr.from_numpy(a)
    a[0] = 9.0
    assert t[0].item() == 9.0  # shared memory
    with pytest.raises(TypeError):
        cr.from_numpy([1.0])
    assert cr.as_tensor(a).numpy() is a and cr.as_tensor(t) is t
    assert cr.as_tensor([1, 2], dtype=cr.float32).dtype == np.float32
    assert cr.full((2, 2), 3).dtype == np.int64 and cr.full(3, 1.5).shape == (3,)
    assert cr.empty_like(t).shape == (3,) and cr.rand_like(t).dtype == np.float64
    assert cr.randn_like(cr.zeros(2, dtype=cr.float32)).dtype == np.float32
    assert cr.arange(start=1, end=4).tolist() == [1, 2, 3]
    assert cr.zeros(size=(2, 3)).shape == (2, 3)
    x = cr.zeros(2, dtype=cr.float32)
    assert x.new_zeros(3).dtype == np.float32 and x.new_ones((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 4.0).tolist() == [4.0, 4.0] and x.new_tensor([1]).dtype == np.float32
    assert cr.float32 is np.float32 and cr.long is np.int64 and cr.bool is np.bool_
    assert cr.torch_functions.float is np.float32 and cr.torch_functions.int is np.int32


def test_set_grad_enabled():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

    @cr.set_grad_enabled(False)
    def f(v):
        return v * 2

    assert cr.is_grad_enabled() and not f(x).requires_grad


# --- complex numbers: PyTorch's convention ---------------------------------------------------

Z = np.array([0.3 + 1.2j, -0.7 + 0.1j, 2.0 - 0.5j])
Zb = np.array([1.0 - 1.0j, 0.5 + 0.25j, -1.5 + 2.0j])
X3 = np.array([0.2, -1.1, 0.6])

COMPLEX = {
    "abs2": (lambda L, z: (L.abs(z) ** 2).sum(), Z),
    "abs": (lambda L, z: L.abs(z).sum(), Z),
    "real": (lambda L, z: z.real.sum(), Z),
    "imag": (lambda L, z: (z.imag * L.tensor([1.0, 2.0, 3.0], dtype=L.float64)).sum(), Z),
    "z_conj_z": (lambda L, z: (z * z.conj()).real.sum(), Z),
    "holomorphic_inside": (lambda L, z: L.abs(L.exp(z) * z**2 + 1j * L.sin(z)).sum(), Z),
    "two_leaves": (lambda L, z, w: (L.abs(z * w - 1) ** 2).sum() + (z / w).real.sum(), Z, Zb),
    "matmul": (lambda L, z, w: L.abs(L.outer(z, w) @ w).sum(), Z, Zb),
    "complex_intermediate_of_real_leaf": (
        lambda L, x: L.abs(L.exp(x * (1 + 2j)) + x**2 * 1j).sum(), X3),
    "real_leaf_through_complex": (lambda L, x: (x * (2 - 1j)).imag.sum(), X3),
}  # fmt: skip


@pytest.mark.parametrize("name", COMPLEX)
def test_complex_real_loss_against_torch(name):
    fn, *arrays = COMPLEX[name]
    grads = [True] * len(arrays)
    out_t, g_t = _run(torch, fn, arrays, grads)
    out_c, g_c = _run(cr, fn, arrays, grads)
    assert out_c.item() == pytest.approx(out_t.item(), rel=1e-13)
    for t, c in zip(g_t, g_c):
        assert c.dtype == t.dtype
        np.testing.assert_allclose(c, t, rtol=1e-12, atol=1e-13)


def test_complex_grad_is_the_conjugate_of_the_functional_face():
    z = cr.tensor(Z, requires_grad=True)
    (cr.abs(z - (3 + 1j)) ** 2).sum().backward()
    functional = cr.grad(lambda v: (cr.numpy.abs(v - (3 + 1j)) ** 2).sum())(Z)
    np.testing.assert_allclose(z.grad.numpy(), np.conj(functional), rtol=1e-14)
    np.testing.assert_allclose(z.grad.numpy(), 2 * (Z - (3 + 1j)), rtol=1e-14)


def test_complex_gradient_descent_converges():
    z = cr.tensor(0j, requires_grad=True)
    for _ in range(100):
        loss = cr.abs(z - (3 + 1j)) ** 2
        loss.backward()
        with cr.no_grad():
            z -= 0.1 * z.grad
        z.grad = None
    assert abs(z.item() - (3 + 1j)) < 1e-8


def _complex_vjps(lib):
    z = lib.tensor(Z, requires_grad=True)
    w = lib.tensor(Zb, requires_grad=True)
    out = z**2 * w + lib.exp(z).conj()
    v = lib.tensor(Zb * 0.5 + 0.1j)
    gz, gw = lib.autograd.grad(out, (z, w), grad_outputs=v, retain_graph=True)
    out.backward(gradient=v, retain_graph=True)
    (hz,) = lib.autograd.grad(out, z, v, create_graph=True)
    (h2,) = lib.autograd.grad(lib.abs(hz).sum(), z, retain_graph=True)
    h = out * 1
    seen = []
    h.register_hook(lambda g: seen.append(g.detach().clone()))
    h.retain_grad()
    z.grad = None
    (lib.abs(h) ** 2).sum().backward()
    return [a.detach().numpy() for a in (gz, gw, w.grad, hz, h2, seen[0], h.grad, z.grad)]


def test_complex_outputs_grad_outputs_hooks_and_create_graph_against_torch():
    for a, b in zip(_complex_vjps(cr), _complex_vjps(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_complex_hook_that_changes_the_gradient_against_torch():
    def run(lib):
        z = lib.tensor(Z, requires_grad=True)
        h = lib.sin(z)
        h.register_hook(lambda g: g * (1 + 1j))
        (lib.abs(h) ** 2).sum().backward()
        return z.grad.numpy()

    np.testing.assert_allclose(run(cr), run(torch), rtol=1e-12)


def test_complex_output_without_gradient_is_refused_like_torch():
    for lib in (torch, cr):
        z = lib.tensor(1 + 1j, requires_grad=True)
        with pytest.raises(RuntimeError, match="real scalar"):
            (z * z).backward()


def test_custom_function_on_complex_tensors_sees_torch_convention():
    def run(lib):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * 2 * x.conj()  # PyTorch's rule for a holomorphic function

        z = lib.tensor(Z, requires_grad=True)
        (lib.abs(Square.apply(z)) ** 2).sum().backward()
        return z.grad.numpy()

    np.testing.assert_allclose(run(cr), run(torch), rtol=1e-12)


def test_gradient_tape_complex_follows_tensorflow():
    # TensorFlow's convention is PyTorch's: for a real loss, the direction of steepest ascent
    z = cr.Variable(np.array([0.3 + 1.2j, -2.0 + 0.5j]))
    with cr.GradientTape(persistent=True) as tape:
        loss = cr.numpy.sum(cr.numpy.abs(z) ** 2)
        sq = z * z
    np.testing.assert_allclose(tape.gradient(loss, z).numpy(), 2 * z.numpy(), rtol=1e-14)
    # d(sum z²)/dz = 2z, delivered conjugated: TensorFlow gives -0.2j for z*z at 0.1j
    np.testing.assert_allclose(tape.gradient(sq, z).numpy(), np.conj(2 * z.numpy()), rtol=1e-14)
    w = cr.Variable(0.1j)
    with cr.GradientTape() as tape:
        y = w * w
    assert complex(tape.gradient(y, w)) == pytest.approx(-0.2j)
    v = cr.Variable(np.array([1.0 + 1.0j]))
    with cr.GradientTape() as tape:
        y = v * (2 + 1j)
    g = tape.gradient(y, v, output_gradients=np.array([1j]))
    np.testing.assert_allclose(g.numpy(), [1j * np.conj(2 + 1j)], rtol=1e-14)


# --- x ** 3 and x ** -2: PyTorch's kernels, bit for bit ---------------------------------------


def _pow_pair(values, dtype, exponent, how):
    """(chainrule's, torch's) value and gradient of sum(g * x ** exponent), `how` spelling it."""
    g = np.random.default_rng(1).standard_normal(values.shape).astype(dtype)
    out = []
    for lib in (cr, torch):
        x = lib.tensor(values.astype(dtype), requires_grad=True)
        y = {"op": lambda: x**exponent, "method": lambda: x.pow(exponent),
             "function": lambda: lib.pow(x, exponent)}[how]()  # fmt: skip
        y.backward(gradient=lib.tensor(g))
        out.append((y.detach().numpy(), x.grad.numpy()))
    return out


@pytest.mark.parametrize("how", ["op", "method", "function"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exponent", [3, 3.0, np.int64(3), -2, -2.0])
def test_cube_and_inverse_square_are_pytorchs_bit_for_bit(exponent, dtype, how):
    # PyTorch computes them by multiplications, (x*x)*x and 1/(x*x): NumPy's power (pow())
    # differs by an ulp or two, which made x**3 on Tensors differ from torch's
    values = np.random.default_rng(0).standard_normal(10_000) * 10
    values[:4] = [0.0, -0.0, 1e-3, -7.0]
    if exponent < 0:
        values[:2] = [0.5, -0.25]  # (1/0: inf in both; kept out of the gradient check)
    (v, gv), (tv, tg) = _pow_pair(values, dtype, exponent, how)
    assert v.dtype == tv.dtype == dtype
    np.testing.assert_array_equal(v, tv)
    if exponent == 3:  # PyTorch's gradient g * (3 * (x*x)), also bit for bit
        np.testing.assert_array_equal(gv, tg)
    else:  # PyTorch's -2 * x.pow(-3) calls pow(): an ulp apart
        np.testing.assert_allclose(gv, tg, rtol=4 * np.finfo(dtype).eps)
    if dtype == np.float64:  # NumPy's power differs on these values: the test can fail
        assert not np.array_equal(v, np.power(values, float(exponent)))


def test_cube_second_derivative_is_pytorchs():
    values = np.random.default_rng(2).standard_normal(1000)
    hs = []
    for lib in (cr, torch):
        x = lib.tensor(values, requires_grad=True)
        (g,) = lib.autograd.grad((x**3).sum(), x, create_graph=True)
        (h,) = lib.autograd.grad(g.sum(), x)
        hs.append(h.numpy())
    np.testing.assert_array_equal(*hs)


def test_other_powers_and_the_functional_face_keep_numpys_power():
    values = np.random.default_rng(3).standard_normal(1000) * 10
    # float16 (PyTorch computes it in float32, as NumPy), complex, other exponents: np.power
    for v, e in [(values.astype(np.float16), 3), (values + 1j * values[::-1], 3), (values, 4)]:
        np.testing.assert_array_equal((cr.tensor(v) ** e).numpy(), np.power(v, e))
    # a value traced by a functional transformation is NumPy's, bit for bit
    traced = []
    cr.grad(lambda x: traced.append(cr.stop_gradient(x**3)) or (x**3).sum())(values)
    np.testing.assert_array_equal(np.asarray(traced[0]), np.power(values, 3))


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_ties_nans_and_signed_zeros_as_torch(name):
    # PyTorch gives a tie's gradient to self (chainrule shared it); NaN is ignored, and a
    # tie of zeros keeps self's sign
    nan = float("nan")
    xs, ys = [1.0, 2.0, nan, nan, 3.0, -0.0, 0.0], [1.0, 3.0, 1.0, nan, nan, 0.0, -0.0]
    out = []
    for lib in (cr, torch):
        x, y = lib.tensor(xs, requires_grad=True), lib.tensor(ys, requires_grad=True)
        z = getattr(x, name)(y)
        (z * lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])).sum().backward()
        out.append([z.detach().numpy(), x.grad.numpy(), y.grad.numpy()])
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
    # the functional face keeps JAX's convention: a tie shares the gradient
    g = cr.grad(lambda x, y: getattr(cr.numpy, name)(x, y), argnums=(0, 1))(1.0, 1.0)
    assert g == (0.5, 0.5)


def test_angle_of_complex_zero_has_pytorchs_zero_gradient():
    # PyTorch's gradient of angle at 0 is 0; chainrule's was NaN (arctan2 at the origin), which
    # poisons a training loop. Values at ±0 keep their angles (0, π, -0).
    vals = [0j, complex(-0.0, 0.0), complex(0.0, -0.0), 1 + 1j, -2 + 0.5j, complex(-3, -0.0)]
    out = []
    for lib in (cr, torch):
        z = lib.tensor(vals, dtype=lib.complex128, requires_grad=True)
        a = z.angle()
        (a * lib.tensor(np.arange(1.0, 7.0))).sum().backward()
        out.append((a.detach().numpy(), z.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-15, atol=0)
    assert np.isfinite(out[0][1]).all()
