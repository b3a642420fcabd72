"""More Tensor methods against PyTorch itself (float64, 1e-12): elementwise functions and their
aliases and in-place variants, NaN-aware reductions, products, linear algebra, lerp/addcmul/
addcdiv/addmm, and the shape methods (movedim and unflatten are views that pass in-place
changes back to their base).

Each case is written once, with `L` standing for the library (`torch` or `chainrule`), and run
with both: values, dtypes and the gradients of a weighted sum of the outputs must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")  # erf, erfc, erfinv, lgamma, digamma, logit, xlogy

RTOL = ATOL = 1e-12
rng = np.random.default_rng(7)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((3, 4))
C = rng.standard_normal((4, 5))
P = rng.uniform(0.5, 2.0, (3, 4))  # positive
U = rng.uniform(0.05, 0.95, (3, 4))  # in (0, 1)
S = rng.uniform(-0.9, 0.9, (3, 4))  # in (-1, 1)
T3 = rng.standard_normal((2, 3, 4))
V = rng.standard_normal(4)
W = rng.standard_normal(4)
X3 = rng.standard_normal((4, 3))
Y3 = rng.standard_normal((4, 3))
M = rng.standard_normal((3, 3))
SPD = M @ M.T + 3 * np.eye(3)  # positive determinant
BATCH = rng.standard_normal((2, 3, 3)) + 3 * np.eye(3)
ZEROS = A * (np.abs(A) > 0.5)  # some exact zeros
NANS = np.where(A > 0.8, np.nan, A)
NANS_B = np.where((B < -0.8) & (A <= 0.8), np.nan, B)  # never NaN where NANS is
NONFINITE = np.array([[np.nan, np.inf, -np.inf, 1.5], [0.0, -2.0, np.nan, 3.0]])
SIGNED_ZERO = np.array([-1.5, -0.0, 0.0, 2.0, -np.inf, np.inf])
# PyTorch's sgn(nan) is 0 (NumPy's and chainrule's sign: nan)
STEPS = np.array([[-2.5, -1.25, -0.75, 0.5], [1.5, 2.25, 3.75, -3.5], [0.0, 0.3, -0.3, 2.0]])
GAMMA_IN = np.array([[-2.5, -0.5, 0.3, 1.0], [2.0, 3.5, 7.25, 0.01], [10.0, -1.3, 4.0, 0.9]])


def _tensor(lib, a, grad):
    if isinstance(a, np.ndarray) and a.dtype.kind == "b":
        return lib.tensor(a)
    if lib is torch:
        t = torch.tensor(a)
        return t.requires_grad_() if grad else t
    return cr.tensor(a, requires_grad=grad)


def _np(x):
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
            if term.dtype.kind == "c" if lib is cr else term.is_complex():
                term = term.real
            loss = term if loss is None else loss + term
    gs = []
    if loss is not None and leaves:
        loss.backward()
        gs = [None if t.grad is None else t.grad.numpy() for t in leaves]
    return out, gs


def check(fn, *arrays, grads=None, rtol=RTOL, atol=ATOL):
    """fn(torch, ...) and fn(cr, ...) agree: values, dtypes, requires_grad, gradients."""
    grads = grads or [np.asarray(a).dtype.kind in "fc" for a in arrays]
    out_t, g_t = _run(torch, fn, arrays, grads)
    out_c, g_c = _run(cr, fn, arrays, grads)
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


# --- elementwise -----------------------------------------------------------------------------

ELEMENTWISE = {
    "arcsin": (lambda L, x: x.arcsin(), S), "arccos": (lambda L, x: x.arccos(), S),
    "arctan": (lambda L, x: x.arctan(), A), "arcsinh": (lambda L, x: x.arcsinh(), A),
    "arccosh": (lambda L, x: x.arccosh(), P + 1), "arctanh": (lambda L, x: x.arctanh(), S),
    "asinh": (lambda L, x: x.asinh(), A), "acosh": (lambda L, x: x.acosh(), P + 1),
    "atanh": (lambda L, x: x.atanh(), S),
    "atan2": (lambda L, y, x: y.atan2(x), A, B), "arctan2": (lambda L, y, x: y.arctan2(x), A, B),
    "atan2_fn": (lambda L, y, x: (L.atan2(y, x), L.arctan2(x, y)), A, B),
    "hypot": (lambda L, x, y: x.hypot(y), A, B),
    "logaddexp": (lambda L, x, y: x.logaddexp(y), A * 300, B * 300),
    "fmax": (lambda L, x, y: x.fmax(y), NANS, NANS_B),
    "fmin": (lambda L, x, y: x.fmin(y), NANS, NANS_B),
    "clamp_min": (lambda L, x: x.clamp_min(0.2), A),
    "clamp_max": (lambda L, x: x.clamp_max(-0.1), A),
    "clamp_min_tensor": (lambda L, x, y: x.clamp_min(y), A, B),
    "clamp_max_tensor": (lambda L, x, y: x.clamp_max(y), A, B),
    "logit": (lambda L, p: p.logit(), U), "logit_eps": (lambda L, p: p.logit(eps=0.2), U),
    "logit_eps_outside": (lambda L, p: p.logit(1e-3), np.array([0.0, 1.0, 0.5, 1e-4])),
    "xlogy": (lambda L, x, y: x.xlogy(y), A, P),
    "xlogy_zeros": (lambda L, x, y: x.xlogy(y), ZEROS, P),
    "xlogy_scalar": (lambda L, x: x.xlogy(3.0), A),
    "sinc": (lambda L, x: x.sinc(), np.array([-2.5, -0.5, 0.0, 0.25, 1.0, 3.3])),
    "deg2rad": (lambda L, x: x.deg2rad(), A * 100), "rad2deg": (lambda L, x: x.rad2deg(), A),
    "frac": (lambda L, x: x.frac(), STEPS),
    "remainder": (lambda L, x, y: x.remainder(y), STEPS, P),
    "remainder_neg": (lambda L, x, y: x.remainder(-y), STEPS, P),
    "remainder_scalar": (lambda L, x: x.remainder(-1.5), STEPS),
    "fmod": (lambda L, x, y: x.fmod(y), STEPS, P),
    "fmod_neg": (lambda L, x, y: x.fmod(-y), STEPS, P),
    "fmod_scalar": (lambda L, x: x.fmod(0.7), STEPS),
    # PyTorch records floor_divide, but its backward raises: compared without gradients
    "floor_divide": (lambda L, x, y: x.detach().floor_divide(y.detach()), STEPS, B),
    "floor_divide_scalar": (lambda L, x: x.detach().floor_divide(-0.7), STEPS),
    "logical_and": (lambda L, x, y: x.logical_and(y), ZEROS, B),
    "logical_or": (lambda L, x, y: x.logical_or(y), ZEROS, ZEROS.T.copy().reshape(3, 4)),
    "logical_xor": (lambda L, x, y: x.logical_xor(y), ZEROS, ZEROS[::-1].copy()),
    "logical_not": (lambda L, x: x.logical_not(), ZEROS),
    "logical_bool": (lambda L, m, x: m.logical_and(x).logical_or(m.logical_not()), A > 0, ZEROS),
    "erf": (lambda L, x: x.erf(), A), "erfc": (lambda L, x: x.erfc(), A * 2),
    "erfinv": (lambda L, x: x.erfinv(), S), "lgamma": (lambda L, x: x.lgamma(), GAMMA_IN),
    # PyTorch's trigamma (the gradient) differs from SciPy's polygamma(1, .) by ~1e-10
    "digamma": (lambda L, x: x.digamma(), GAMMA_IN, {"rtol": 1e-8}),
    "sgn": (lambda L, x: x.detach().sgn(), SIGNED_ZERO),
    "positive": (lambda L, x: x.positive() * 2, A),
    "float_power": (lambda L, x, y: x.float_power(y), P, B),
    "float_power_scalar": (lambda L, x: x.float_power(3), A),
    "float_power_f32": (lambda L, x: x.float_power(2.5), P.astype(np.float32)),
    "nan_to_num": (lambda L, x: x.nan_to_num(), NONFINITE),
    "nan_to_num_values": (lambda L, x: x.nan_to_num(nan=1.0, posinf=9.0, neginf=-9.0), NONFINITE),
    "nan_to_num_f32": (lambda L, x: x.nan_to_num(), NONFINITE.astype(np.float32)),
    "isclose": (lambda L, x, y: x.isclose(y), A, A + np.where(B > 0, 1e-9, 1e-3)),
    "isclose_tol": (lambda L, x, y: x.isclose(y, rtol=0.0, atol=0.5, equal_nan=True), NANS, NANS),
    "angle": (lambda L, x: x.angle(), np.array([-1.5, -0.0, 0.0, 2.0, np.nan, -np.inf])),
}  # fmt: skip


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_against_torch(name):
    fn, *arrays = ELEMENTWISE[name]
    kw = arrays.pop() if isinstance(arrays[-1], dict) else {}
    check(fn, *arrays, **kw)


INPLACE = {n + "_": (lambda n: lambda L, x: getattr(x * 1, n + "_")())(n) for n in [
    "arcsin", "arccos", "sinc", "deg2rad", "rad2deg", "frac", "erf", "erfc", "erfinv",
]}  # fmt: skip
INPLACE.update({
    "arctan_": lambda L, x: (x * 1).arctan_(), "lgamma_": lambda L, x: (x + 2).lgamma_(),
    "sgn_": lambda L, x: x.detach().clone().sgn_(),
    # PyTorch has no derivative for in-place asinh/acosh/atanh: compared without gradients
    "arcsinh_": lambda L, x: x.detach().clone().arcsinh_(),
    "asinh_": lambda L, x: x.detach().clone().asinh_(),
    "arctanh_": lambda L, x: x.detach().clone().arctanh_(),
    "atanh_": lambda L, x: x.detach().clone().atanh_(),
    "arccosh_": lambda L, x: (x.detach() + 2).arccosh_(),
    "acosh_": lambda L, x: (x.detach() + 2).acosh_(),
})  # fmt: skip
INPLACE_RTOL = {"digamma_": 1e-8}  # PyTorch's trigamma (see digamma above)
INPLACE["digamma_"] = lambda L, x: (x * 1).digamma_()


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_against_torch(name):
    check(INPLACE[name], S, rtol=INPLACE_RTOL.get(name, RTOL))


def test_complex_sgn_and_angle_against_torch():
    z = A + 1j * B
    z[0, 0] = 0.0
    check(lambda L, x: x.sgn(), z)
    check(lambda L, x: x.angle(), A[1:] + 1j * B[1:])  # PyTorch's gradient at 0 is 0
    check(lambda L, x, y: x.vdot(y), V + 1j * W, W - 2j * V)


def test_positive_is_the_tensor_itself_and_refuses_bool():
    for lib in (torch, cr):
        x = lib.tensor(A)
        assert x.positive() is x
        with pytest.raises(RuntimeError):
            lib.tensor([True]).positive()


def test_float_power_and_angle_dtypes_like_torch():
    for lib in (torch, cr):
        x = lib.tensor(P.astype(np.float32))
        assert x.float_power(2).dtype == lib.float64
        assert x.angle().dtype == lib.float32
    assert cr.arctan2 is cr.atan2 and "arctan2" in cr.torch_functions.__all__


# --- reductions, products, linear algebra ----------------------------------------------------

REDUCTIONS = {
    "nansum": (lambda L, x: x.nansum(), NANS), "nansum_dim": (lambda L, x: x.nansum(dim=1), NANS),
    "nansum_keep": (lambda L, x: x.nansum((0, 1), keepdim=True), NANS),
    "nanmean": (lambda L, x: x.nanmean(), NANS),
    "nanmean_dim": (lambda L, x: x.nanmean(-1, keepdim=True), NANS),
    "count_nonzero": (lambda L, x: x.count_nonzero(), ZEROS),
    "count_nonzero_dim": (lambda L, x: x.count_nonzero(dim=1), ZEROS),
    "count_nonzero_dims": (lambda L, x: x.count_nonzero((0, -1)), ZEROS),
    "vdot": (lambda L, u, v: u.vdot(v), V, W), "inner": (lambda L, x, y: x.inner(y), A, B),
    "inner_vec": (lambda L, x, v: x.inner(v), T3, V),
    "kron": (lambda L, x, y: x.kron(y), A, M[:2, :2].copy()),
    "cross": (lambda L, x, y: x.cross(y, dim=1), X3, Y3),
    "cross_neg": (lambda L, x, y: x.cross(y, dim=-1), X3, Y3),
    "cross_dim0": (lambda L, x, y: x.t().cross(y.t(), dim=0), X3, Y3),
    "cross_broadcast": (lambda L, x, y: x.cross(y, dim=1), X3, Y3[:1].copy()),
    "diff": (lambda L, x: x.diff(), A), "diff_n": (lambda L, x: x.diff(n=2, dim=0), A),
    "diff_3d": (lambda L, x: x.diff(1, -2), T3),
    "diff_pend": (lambda L, x, a, b: x.diff(dim=1, prepend=a, append=b), A, B[:, :1].copy(), B),
    "det": (lambda L, m: m.det(), SPD), "det_batch": (lambda L, m: m.det(), BATCH),
    "inverse": (lambda L, m: m.inverse(), M), "inverse_batch": (lambda L, m: m.inverse(), BATCH),
    "logdet": (lambda L, m: m.logdet(), SPD),
    "logdet_negative": (lambda L, m: m.detach().logdet(), np.diag([1.0, -2.0, 3.0])),
    "matrix_power": (lambda L, m: m.matrix_power(3), M),
    "matrix_power_0": (lambda L, m: m.matrix_power(0), M),
    "matrix_power_neg": (lambda L, m: m.matrix_power(-2), SPD),
    "matrix_power_batch": (lambda L, m: m.matrix_power(2), BATCH),
    "lerp": (lambda L, x, y: x.lerp(y, 0.3), A, B),
    "lerp_tensor": (lambda L, x, y, w: x.lerp(y, w), A, B, U),
    "addcmul": (lambda L, x, a, b: x.addcmul(a, b), A, B, P),
    "addcmul_value": (lambda L, x, a, b: x.addcmul(a, b, value=-0.5), A, B, P),
    "addcdiv": (lambda L, x, a, b: x.addcdiv(a, b), A, B, P),
    "addcdiv_value": (lambda L, x, a, b: x.addcdiv(a, b, value=2.5), A, B, P),
    "addmm": (lambda L, s, x, y: s.addmm(x, y), A @ C, A, C),
    "addmm_scaled": (lambda L, s, x, y: s.addmm(x, y, beta=0.5, alpha=-2.0), A @ C, A, C),
    "addmm_broadcast": (lambda L, s, x, y: s.addmm(x, y, alpha=3), C[0].copy(), A, C),
    "addmm_beta0": (lambda L, s, x, y: s.addmm(x, y, beta=0), np.full((3, 5), np.nan), A, C),
}  # fmt: skip


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_or_product_against_torch(name):
    fn, *arrays = REDUCTIONS[name]
    check(fn, *arrays)


@pytest.mark.filterwarnings("ignore:Using torch.cross without specifying the dim")
def test_cross_without_dim_takes_the_first_dimension_of_3_like_torch():
    check(lambda L, x, y: x.cross(y), X3, Y3)
    check(lambda L, x, y: x.cross(y), X3.T.copy(), Y3.T.copy())
    check(lambda L, x, y: x.cross(y), np.stack([X3[:3]] * 3), np.stack([Y3[:3]] * 3))


# --- shapes ----------------------------------------------------------------------------------

SHAPES = {
    "movedim": (lambda L, x: x.movedim(0, -1), T3),
    "movedim_neg": (lambda L, x: x.movedim(-1, 0), T3),
    "movedim_tuple": (lambda L, x: x.movedim((0, 1), (2, 0)), T3),
    "movedim_list": (lambda L, x: x.movedim([2, 0], [0, 1]), T3),
    "moveaxis": (lambda L, x: x.moveaxis(1, 2), T3),
    "unflatten": (lambda L, x: x.unflatten(1, (2, 2)), A),
    "unflatten_infer": (lambda L, x: x.unflatten(-1, (2, -1, 1)), T3),
    "unflatten_dim0": (lambda L, x: x.unflatten(0, [3, 1]), A),
    "tril": (lambda L, x: x.tril(), A), "tril_diag": (lambda L, x: x.tril(diagonal=-1), A),
    "tril_batch": (lambda L, x: x.tril(1), T3), "triu": (lambda L, x: x.triu(), A),
    "triu_diag": (lambda L, x: x.triu(diagonal=2), A), "triu_batch": (lambda L, x: x.triu(-1), T3),
    "roll": (lambda L, x: x.roll(5), A), "roll_dim": (lambda L, x: x.roll(-1, 1), A),
    "roll_dims": (lambda L, x: x.roll((1, -2), (0, 2)), T3),
    "roll_dims_kw": (lambda L, x: x.roll(shifts=2, dims=0), A),
    "rot90": (lambda L, x: x.rot90(), A), "rot90_k2": (lambda L, x: x.rot90(2), A),
    "rot90_neg": (lambda L, x: x.rot90(-1, (1, 2)), T3),
    "rot90_dims": (lambda L, x: x.rot90(k=3, dims=[2, 0]), T3),
    "fliplr": (lambda L, x: x.fliplr(), A), "flipud": (lambda L, x: x.flipud(), A),
    "flip_3d": (lambda L, x: x.fliplr().flipud(), T3),
}  # fmt: skip


@pytest.mark.parametrize("name", SHAPES)
def test_shape_method_against_torch(name):
    fn, *arrays = SHAPES[name]
    check(fn, *arrays)


def _after(z, f):
    f(z)
    return z


VIEW_WRITES = {
    "movedim_mul_": lambda L, x, y: _after(x * 1, lambda z: z.movedim(0, 1).mul_(y.t())),
    "moveaxis_add_": lambda L, x, y: _after(x * 1, lambda z: z.moveaxis(1, 0)[1].add_(y[:, 0])),
    "unflatten_mul_": lambda L, x, y: _after(x * 1, lambda z: z.unflatten(1, (2, 2)).mul_(3)),
    "unflatten_slice_": lambda L, x, y: _after(
        x * 1, lambda z: z.unflatten(-1, (2, -1))[:, 1].add_(y[:, :2])),
}  # fmt: skip


@pytest.mark.parametrize("name", VIEW_WRITES)
def test_inplace_writes_through_movedim_and_unflatten_reach_the_base(name):
    check(VIEW_WRITES[name], A, B)


def test_views_without_grad_write_through_like_torch():
    for lib in (torch, cr):
        x = lib.tensor(T3)
        x.movedim(-1, 0)[0].fill_(7.0)
        x.unflatten(1, (1, 3))[:, 0, 1].zero_()
        expected = T3.copy()
        expected[..., 0] = 7.0
        expected[:, 1] = 0.0
        np.testing.assert_array_equal(x.numpy(), expected)


def test_errors_like_torch():
    for lib in (torch, cr):
        x = lib.tensor(T3)
        with pytest.raises(IndexError, match="Dimension out of range"):
            x.movedim(3, 0)
        with pytest.raises((RuntimeError, TypeError)):  # PyTorch's: TypeError
            x.movedim((0, 1), 0)
        with pytest.raises(RuntimeError):
            x.movedim((0, 0), (1, 2))
        with pytest.raises(RuntimeError):
            x.cross(x, dim=2)
        with pytest.raises(RuntimeError):
            lib.tensor(A).vdot(lib.tensor(A))
        with pytest.raises(RuntimeError):
            lib.tensor(V).addmm(lib.tensor(V), lib.tensor(V))
