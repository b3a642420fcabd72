"""`chainrule.numpy.fft` and the fft primitive (``chainrule/rules/fft.py``).

- every public function has NumPy's signature, and on traced values gives NumPy's result (bit
  for bit where NumPy computes it the same way; see the module docstring for the cases where
  NumPy scales inside its kernel) for several shapes, `n`/`s` shorter and longer than the
  input, every axis (negative ones too) and every norm;
- derivatives match finite differences in both modes to order 2, forward and reverse mode
  agree (⟨u, J v⟩ = ⟨Jᵀ u, v⟩), `linear_transpose` is the VJP, and gradients match JAX's;
- vmap matches a Python loop; eval_shape matches NumPy's shapes and dtypes;
- NumPy's own functions called on traced values dispatch here.
"""

from __future__ import annotations

import inspect
import itertools

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import primitives as P
from chainrule.core import trace
from chainrule.core.trace import bind
from chainrule.rules.fft import in_lengths
from chainrule.rules.impl import impl_rules
from chainrule.rules.shape import shape_rules
from chainrule.rules.vjp import vjp_rules
from chainrule.testing import check_grads

rng = np.random.default_rng(0)

ONE_D = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_D = ["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn"]
HELPERS = ["fftshift", "ifftshift", "fftfreq", "rfftfreq"]
ALL = ONE_D + N_D + HELPERS
NORMS = [None, "backward", "ortho", "forward"]
#: the transform each public function is (hfft/ihfft: with the norm swapped)
KIND = {"fft": "fft", "ifft": "ifft", "rfft": "rfft", "irfft": "irfft", "hfft": "irfft",
        "ihfft": "rfft", "fft2": "fft", "fftn": "fft", "ifft2": "ifft", "ifftn": "ifft",
        "rfft2": "rfft", "rfftn": "rfft", "irfft2": "irfft", "irfftn": "irfft"}  # fmt: skip
SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}
REAL_ONLY = {"rfft", "ihfft", "rfft2", "rfftn"}


def _data(shape, complex_, dtype=np.float64):
    x = rng.standard_normal(shape)
    if complex_:
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(np.result_type(dtype, 1j) if complex_ else dtype)


def _bitwise(name, norm, dtype) -> bool:
    """Where the traced result is NumPy's bit for bit: the default normalisation (after
    hfft/ihfft's swap), and the forward transforms of float64 data with any norm (NumPy
    multiplies by its factor at the end of its kernel, as the traced path does)."""
    eff = SWAP[norm] if name in ("hfft", "ihfft") else norm
    if eff in (None, "backward"):
        return True
    return KIND[name] in ("fft", "rfft") and np.dtype(dtype) in (np.float64, np.complex128)


def _traced(f, x):
    """f(x) computed on a traced x (recorded for reverse mode)."""
    return cr.vjp(f, x)[0]


def _same(got, want, bitwise, rtol=1e-14):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype,
                                                                 got.shape, want.shape)
    if bitwise:
        assert np.array_equal(got, want)
    else:  # NumPy scales inside its kernel: equal to rounding
        scale = np.max(np.abs(want)) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


# --- signatures and dispatch ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_signature_is_numpys(name):
    ours = inspect.signature(getattr(cnp.fft, name)).parameters
    theirs = inspect.signature(getattr(np.fft, name)).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == \
        [(p.name, p.kind, p.default) for p in theirs.values()]  # fmt: skip
    assert getattr(cnp.fft, name).__doc__ and ">>>" in getattr(cnp.fft, name).__doc__


def test_numpys_functions_on_traced_values_dispatch_here():
    for name in ONE_D + N_D + ["fftshift", "ifftshift"]:
        assert trace.function_handlers[getattr(np.fft, name)] is getattr(cnp.fft, name)
    x = _data((4, 6), False)

    def f(x):
        out = np.fft.rfft2(x) + np.fft.fft(x)[:, :4] + np.fft.fftshift(x)[:, :4]
        return cnp.sum(cnp.abs(out) ** 2)

    def g(x):
        out = cnp.fft.rfft2(x) + cnp.fft.fft(x)[:, :4] + cnp.fft.fftshift(x)[:, :4]
        return cnp.sum(cnp.abs(out) ** 2)

    assert np.array_equal(cr.grad(f)(x), cr.grad(g)(x))
    # and under forward mode, vmap and eval_shape
    assert np.array_equal(cr.jvp(lambda x: np.fft.ifft(x), (x,), (x,))[1], np.fft.ifft(x))
    assert np.array_equal(cr.vmap(np.fft.fft)(x), np.fft.fft(x))
    assert cr.eval_shape(np.fft.irfft, x).shape == (4, 10)


def test_plain_data_is_numpys_call():
    x = _data((3, 8), True)
    for name in ONE_D + N_D:
        y = x.real if name in REAL_ONLY else x
        assert np.array_equal(getattr(cnp.fft, name)(y), getattr(np.fft, name)(y))
    out = np.empty((3, 8), complex)
    assert cnp.fft.fft(x, out=out) is out  # out= works on plain data
    assert np.array_equal(cnp.fft.fftfreq(5, 0.1), np.fft.fftfreq(5, 0.1))
    # the rest of numpy.fft: NumPy's own, on plain data
    assert cnp.fft.__getattr__("test") is not None
    with pytest.raises(AttributeError):
        cnp.fft.not_a_function  # noqa: B018


# --- values against numpy.fft --------------------------------------------------------------

SHAPES_1D = [(8,), (7,), (3, 4, 5)]


def _one_d_cases(name):
    for shape in SHAPES_1D:
        for axis in range(-len(shape), len(shape)):
            m = shape[axis]
            ns = [None, max(1, m - 3), m + 2]
            if name in ("irfft", "hfft"):
                ns.append(2 * m - 1)  # odd output: no Nyquist entry
            for n in ns:
                yield shape, axis, n


@pytest.mark.parametrize("name", ONE_D)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_d_values_match_numpy(name, dtype):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    for (shape, axis, n), norm in itertools.product(_one_d_cases(name), NORMS):
        for complex_ in ((False,) if name in REAL_ONLY else (False, True)):
            x = _data(shape, complex_, dtype)
            want = npfn(x, n, axis, norm)
            got = _traced(lambda x: fn(x, n, axis, norm), x)
            _same(got, want, _bitwise(name, norm, dtype), 1e-14 if dtype == np.float64 else 3e-6)
            # keywords, and the tracer under forward mode
            got = cr.jvp(lambda x: fn(x, n=n, axis=axis, norm=norm), (x,), (x,))[0]
            _same(got, want, _bitwise(name, norm, dtype), 1e-14 if dtype == np.float64 else 3e-6)


ND_CASES = [  # (shape, s, axes)
    ((4, 6), None, None),
    ((3, 4, 5), None, None),
    ((3, 4, 5), (2, 7), (0, -1)),
    ((3, 4, 5), (5, 3), (-1, 0)),
    ((3, 4, 5), None, (2, 0, 1)),
    ((3, 4, 5), (4, -1, 2), (1, 2, 0)),
    ((3, 4, 5), None, (1,)),
    ((3, 4, 5), (6, 3), (1, 1)),  # a repeated axis transforms twice
    ((3, 4, 5), None, (-2, -2)),
    ((2, 3, 4, 5), (3, 6), (-3, -1)),
]


@pytest.mark.parametrize("name", ["fftn", "ifftn", "rfftn", "irfftn"])
def test_n_d_values_match_numpy(name):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    for (shape, s, axes), norm in itertools.product(ND_CASES, NORMS):
        for complex_ in ((False,) if name in REAL_ONLY else (False, True)):
            x = _data(shape, complex_)
            want = npfn(x, s, axes, norm)
            got = _traced(lambda x: fn(x, s, axes, norm), x)
            _same(got, want, _bitwise(name, norm, np.float64))


@pytest.mark.parametrize("name", ["fft2", "ifft2", "rfft2", "irfft2"])
def test_two_d_values_match_numpy(name):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    cases = [((4, 6), None, (-2, -1)), ((3, 4, 5), (3, 8), (-2, -1)), ((3, 4, 5), None, (0, 2)),
             ((3, 4, 5), (2, 2), (2, -3)), ((3, 4, 5), (5, 6), (1, 0))]  # fmt: skip
    for (shape, s, axes), norm in itertools.product(cases, NORMS):
        x = _data(shape, name not in REAL_ONLY)
        want = npfn(x, s, axes, norm)
        got = _traced(lambda x: fn(x, s=s, axes=axes, norm=norm), x)
        _same(got, want, _bitwise(name, norm, np.float64))
    x = _data((3, 4, 5), name not in REAL_ONLY)  # the default axes
    _same(_traced(fn, x), npfn(x), True)


def test_n_d_deprecated_arguments_warn_as_numpy():
    x = _data((3, 4, 5), True)
    for fn, s, axes in [("fftn", (2, 6), None), ("irfftn", (None, 6), (0, 2)),
                        ("fftn", (None, 6), (1, 1)), ("irfftn", (3, None), (2, 1))]:  # fmt: skip
        with pytest.warns(DeprecationWarning):
            want = getattr(np.fft, fn)(x, s=s, axes=axes)
        with pytest.warns(DeprecationWarning):
            got = _traced(lambda x: getattr(cnp.fft, fn)(x, s=s, axes=axes), x)
        _same(got, want, True)


def test_empty_axes_as_numpy():
    x = _data((3, 4), True)
    assert np.array_equal(_traced(lambda x: cnp.fft.fftn(x, axes=()), x), np.fft.fftn(x, axes=()))
    for name in ("rfftn", "irfftn"):
        with pytest.raises(IndexError):
            getattr(np.fft, name)(x.real, axes=())
        with pytest.raises(IndexError):
            _traced(lambda x: getattr(cnp.fft, name)(x, axes=()), x.real)


@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts_match_numpy(name):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    for shape in [(5,), (4,), (3, 4, 5)]:
        x = _data(shape, False)
        axes_list = [None] + list(range(-len(shape), len(shape))) + ([(0, -1), [2, 0]]
                                                                      if len(shape) == 3 else [])
        for axes in axes_list:
            assert np.array_equal(_traced(lambda x: fn(x, axes), x), npfn(x, axes))
    # 0-d: nothing to shift (NumPy's own roll fails on a 0-d array with axes=())
    assert _traced(fn, np.float64(2.0)) == 2.0
    # a roll's transpose is the opposite roll
    x, w = _data((3, 5), False), _data((3, 5), False)
    inverse = cnp.fft.ifftshift if name == "fftshift" else cnp.fft.fftshift
    assert np.array_equal(cr.grad(lambda x: cnp.sum(fn(x) * w))(x), inverse(w))
    y = np.arange(15.0).reshape(3, 5)
    np.testing.assert_array_equal(cnp.fft.ifftshift(cnp.fft.fftshift(y)), y)


@pytest.mark.parametrize("name", ["fftfreq", "rfftfreq"])
def test_frequencies_match_numpy(name):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    for n, d in itertools.product([1, 4, 7, np.int64(8)], [1.0, 0.1, np.float32(0.3)]):
        assert np.array_equal(fn(n, d), npfn(n, d))
        got = _traced(lambda d: fn(n, d), np.asarray(d))
        want = npfn(n, np.asarray(d))
        assert got.dtype == want.dtype and np.array_equal(got, want)
    # d/dd (k / (n d)) = -k / (n d²)
    np.testing.assert_allclose(cr.jacobian(lambda d: fn(6, d))(0.5), -npfn(6, 0.5) / 0.5)
    with pytest.raises(ValueError, match="integer"):
        cr.grad(lambda d: fn(4.0, d)[1])(0.5)
    assert np.array_equal(fn(5, 0.5, device="cpu"), npfn(5, 0.5, device="cpu"))


# --- dtypes and abstract evaluation -------------------------------------------------------

DTYPES = [np.float16, np.float32, np.float64, np.complex64, np.complex128, np.int32,
          np.bool_, np.longdouble, np.clongdouble]  # fmt: skip


@pytest.mark.parametrize("name", ONE_D + N_D + ["fftshift", "ifftshift"])
def test_eval_shape_matches_numpy(name):
    fn, npfn = getattr(cnp.fft, name), getattr(np.fft, name)
    kwargs = {"n": 5} if name in ONE_D else ({"axes": (0, 2)} if name not in HELPERS else {})
    for dt in DTYPES:
        x = np.ones((3, 4, 6), dt)
        spec = cr.ShapeDtypeStruct(x.shape, x.dtype)
        try:
            want = npfn(x, **kwargs)
        except TypeError:  # rfft of complex data
            with pytest.raises(TypeError):
                cr.eval_shape(lambda x: fn(x, **kwargs), spec)
            continue
        got = cr.eval_shape(lambda x: fn(x, **kwargs), spec)
        assert (got.shape, got.dtype) == (want.shape, want.dtype), dt
        if dt in (np.float32, np.float64, np.complex128):  # traced values have it too
            assert _traced(lambda x: fn(x, **kwargs), x).dtype == want.dtype


def test_eval_shape_of_frequencies_and_of_gradients():
    for name in ("fftfreq", "rfftfreq"):
        spec = cr.ShapeDtypeStruct((), np.float32)
        out = cr.eval_shape(lambda d: getattr(cnp.fft, name)(9, d), spec)
        want = getattr(np.fft, name)(9, np.float32(1))
        assert (out.shape, out.dtype) == (want.shape, want.dtype)
    for name in ONE_D + N_D:
        fn = getattr(cnp.fft, name)
        spec = cr.ShapeDtypeStruct((3, 4, 6), np.float64)
        g = cr.eval_shape(cr.grad(lambda x: cnp.sum(cnp.real(fn(x)) ** 2)), spec)
        assert (g.shape, g.dtype) == ((3, 4, 6), np.float64)
        t = cr.eval_shape(lambda x: cr.jvp(fn, (x,), (x,))[1], spec)
        assert t.shape == np.shape(getattr(np.fft, name)(np.ones((3, 4, 6))))


# --- derivatives ---------------------------------------------------------------------------

W = {}


def _weights(shape, k):
    key = (shape, k)
    if key not in W:
        W[key] = np.random.default_rng(10 + k).standard_normal(shape)
    return W[key]


def _loss(xp, out):
    """A real, non-linear loss of a transform's (complex or real) result."""
    re, im = xp.real(out), xp.imag(out)
    return (xp.sum(_weights(out.shape, 0) * re ** 2) + xp.sum(_weights(out.shape, 1) * im ** 2)
            + xp.sum(_weights(out.shape, 2) * re))  # fmt: skip


# (name, input shape, complex input, kwargs)
GRAD_CASES = [
    ("fft", (6,), True, {}),
    ("fft", (3, 5), False, {"n": 3, "axis": 0, "norm": "ortho"}),
    ("fft", (4, 5), True, {"n": 7, "norm": "forward"}),
    ("ifft", (6,), True, {}),
    ("ifft", (3, 5), False, {"n": 8, "axis": -2, "norm": "ortho"}),
    ("rfft", (6,), False, {}),
    ("rfft", (3, 7), False, {"n": 5, "axis": 1, "norm": "forward"}),
    ("rfft", (4, 3), False, {"n": 6, "axis": 0}),
    ("irfft", (4,), True, {}),
    ("irfft", (3, 4), True, {"n": 7, "norm": "ortho"}),
    ("irfft", (5, 3), False, {"n": 4, "axis": 0}),
    ("irfft", (2, 6), True, {"n": 5, "norm": "forward"}),
    ("hfft", (4,), True, {}),
    ("hfft", (3, 4), True, {"n": 5, "axis": -1, "norm": "ortho"}),
    ("ihfft", (6,), False, {}),
    ("ihfft", (3, 5), False, {"n": 4, "axis": 0, "norm": "forward"}),
    ("fft2", (3, 4), True, {}),
    ("fft2", (2, 3, 4), False, {"s": (4, 2), "axes": (0, 2), "norm": "ortho"}),
    ("ifft2", (3, 4), True, {"s": (2, 5)}),
    ("rfft2", (3, 4), False, {}),
    ("rfft2", (2, 3, 4), False, {"s": (3, 5), "axes": (-1, 0), "norm": "forward"}),
    ("irfft2", (3, 3), True, {}),
    ("irfft2", (2, 3, 4), True, {"s": (4, 5), "axes": (1, 2), "norm": "ortho"}),
    ("fftn", (2, 3, 4), True, {}),
    ("fftn", (2, 3, 4), True, {"s": (3, 3), "axes": (2, 2)}),
    ("ifftn", (2, 3, 4), False, {"axes": (-1, 0), "norm": "ortho"}),
    ("rfftn", (2, 3, 4), False, {}),
    ("rfftn", (2, 3, 5), False, {"s": (4, 3, 3), "axes": (2, 0, 1)}),
    ("irfftn", (2, 3, 4), True, {}),
    ("irfftn", (2, 3, 4), True, {"s": (3, 5), "axes": (0, -1), "norm": "forward"}),
    ("fftshift", (3, 4), False, {}),
    ("ifftshift", (3, 5), True, {"axes": 1}),
]


def _case_id(case):
    return f"{case[0]}-{case[1]}-{'c' if case[2] else 'r'}-{case[3]}"


@pytest.mark.parametrize("case", GRAD_CASES, ids=_case_id)
def test_derivatives_match_finite_differences_in_both_modes(case):
    name, shape, complex_, kwargs = case
    fn = getattr(cnp.fft, name)
    x = _data(shape, complex_)
    check_grads(lambda x: _loss(cnp, fn(x, **kwargs)), (x,), order=2, modes=("fwd", "rev"))


def test_derivatives_of_frequencies_in_d():
    for fn in (cnp.fft.fftfreq, cnp.fft.rfftfreq):
        check_grads(lambda d: _loss(cnp, fn(7, d)), (0.7,), order=2, modes=("fwd", "rev"))


def _inner(a, b):
    return float(np.sum(np.real(np.asarray(a) * np.asarray(b))))


@pytest.mark.parametrize("case", GRAD_CASES, ids=_case_id)
def test_forward_and_reverse_mode_agree(case):
    """⟨u, J v⟩ = ⟨Jᵀ u, v⟩ (real part of the bilinear pairing), and linear_transpose is Jᵀ."""
    name, shape, complex_, kwargs = case
    f = lambda x: getattr(cnp.fft, name)(x, **kwargs)  # noqa: E731
    x, v = _data(shape, complex_), _data(shape, complex_)
    out, jv = cr.jvp(f, (x,), (v,))
    u = _data(out.shape, out.dtype.kind == "c")
    _, pull = cr.vjp(f, x)
    (jtu,) = pull(u)
    assert jtu.dtype == x.dtype
    assert _inner(u, jv) == pytest.approx(_inner(jtu, v), rel=1e-12, abs=1e-12)
    (tu,) = cr.linear_transpose(f, x)(u)
    np.testing.assert_allclose(tu, jtu, rtol=1e-13, atol=1e-13)


def test_transposes_against_the_dense_matrices():
    """Each fft_type's VJP against Aᵀ of its dense (real-linear) matrix."""
    for fft_type, n in itertools.product(["fft", "ifft", "rfft", "irfft"], [5, 6]):
        m = in_lengths(fft_type, (n,))[0]
        real_in = fft_type == "rfft"

        def f(x):
            return bind(P.fft_p, x, fft_type=fft_type, fft_lengths=(n,))

        # columns: the images of the real basis (and of i·basis for complex inputs)
        basis = [np.eye(m)[k] for k in range(m)]
        if not real_in:
            basis += [1j * b for b in basis]
        cols = [np.asarray(f(b), complex) for b in basis]
        u = _data(cols[0].shape, True)
        x0 = np.zeros(m, float if real_in else complex)
        (jtu,) = cr.vjp(f, x0)[1](u if fft_type != "irfft" else u.real)
        uu = u if fft_type != "irfft" else u.real
        # ⟨u, A b⟩ = Re Σ (Aᵀu) b for each basis vector b: Re (Aᵀu)_k, and -Im (Aᵀu)_k
        coords = np.array([np.sum(np.real(uu * c)) for c in cols])
        want = coords[:m] - (0 if real_in else 1j * coords[m:])
        np.testing.assert_allclose(jtu, want, rtol=1e-12, atol=1e-12)


# --- against JAX ---------------------------------------------------------------------------

JAX_CASES = [c for c in GRAD_CASES if c[0] in
             ("fft", "ifft", "rfft", "irfft", "fft2", "rfftn", "irfftn", "hfft", "ihfft")]


@pytest.fixture(scope="module")
def jax():
    return pytest.importorskip("jax")


@pytest.mark.parametrize("case", JAX_CASES, ids=_case_id)
def test_gradients_match_jax(case, jax):
    name, shape, complex_, kwargs = case
    x = _data(shape, complex_)
    ours = cr.grad(lambda x: _loss(cnp, getattr(cnp.fft, name)(x, **kwargs)))(x)
    jnp = jax.numpy
    with jax.enable_x64(True):
        theirs = jax.jit(jax.grad(lambda x: _loss(jnp, getattr(jnp.fft, name)(x, **kwargs))))(
            jnp.asarray(x))  # fmt: skip
        theirs = np.asarray(theirs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_tensor_gradients_match_pytorch():
    torch = pytest.importorskip("torch")
    x = _data((3, 6), False)
    t = cr.tensor(x, requires_grad=True)
    out = np.fft.rfft2(t, s=(4, 5), norm="ortho")
    (out.real ** 2 + 3 * out.imag).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    o = torch.fft.rfft2(tt, s=(4, 5), norm="ortho")
    (o.real ** 2 + 3 * o.imag).sum().backward()
    np.testing.assert_allclose(np.asarray(t.grad), tt.grad.numpy(), rtol=1e-12, atol=1e-12)


# --- vmap ----------------------------------------------------------------------------------

VMAP_CASES = GRAD_CASES + [("irfftn", (2, 3, 4), True, {"axes": (-1, 1)}),
                           ("fftshift", (4, 5), True, {"axes": -2})]  # fmt: skip


@pytest.mark.parametrize("case", VMAP_CASES, ids=_case_id)
def test_vmap_matches_a_loop(case):
    name, shape, complex_, kwargs = case
    f = lambda x: getattr(cnp.fft, name)(x, **kwargs)  # noqa: E731
    for axis in (0, -1):
        xs = np.stack([_data(shape, complex_) for _ in range(3)], axis=axis)
        want = np.stack([f(np.take(xs, b, axis=axis)) for b in range(3)])
        got = cr.vmap(f, in_axes=axis)(xs)
        _same(got, want, False, 1e-13)
        # and the gradient of each example's loss
        g = cr.vmap(cr.grad(lambda x: _loss(cnp, f(x))), in_axes=axis, out_axes=axis)(xs)
        want_g = np.stack([cr.grad(lambda x: _loss(cnp, f(x)))(np.take(xs, b, axis=axis))
                           for b in range(3)], axis=axis)  # fmt: skip
        np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-12)


def test_vmap_of_frequencies_over_d():
    ds = np.array([0.5, 1.0, 2.0])
    for name in ("fftfreq", "rfftfreq"):
        got = cr.vmap(lambda d: getattr(cnp.fft, name)(6, d))(ds)
        assert np.array_equal(got, np.stack([getattr(np.fft, name)(6, d) for d in ds]))


# --- the primitive's rows ------------------------------------------------------------------

PRIM_CASES = [("fft", (5,)), ("ifft", (4, 3)), ("rfft", (6,)), ("rfft", (3, 5)),
              ("irfft", (7,)), ("irfft", (2, 4)), ("fft", (2, 2, 3))]  # fmt: skip


@pytest.mark.parametrize("fft_type, lengths", PRIM_CASES)
def test_primitive_rows(fft_type, lengths):
    x = _data((2, *in_lengths(fft_type, lengths)), fft_type != "rfft")
    params = {"fft_type": fft_type, "fft_lengths": lengths}
    out = impl_rules[P.fft_p](x, **params)
    k = len(lengths)
    want = getattr(np.fft, KIND[fft_type] + "n")(x, lengths, tuple(range(-k, 0)))
    assert np.array_equal(out, want)
    for dt in DTYPES:
        if fft_type == "rfft" and np.dtype(dt).kind == "c":
            continue  # a TypeError (tested below)
        xd = np.ones(x.shape, dt)
        got = shape_rules[P.fft_p](cr.ShapeDtypeStruct(xd.shape, xd.dtype), **params)
        ref = impl_rules[P.fft_p](xd, **params)
        assert (got.shape, got.dtype) == (ref.shape, ref.dtype), dt
    # the VJP reads neither the operand nor the result (linear: it is the transpose)
    g = _data(out.shape, out.dtype.kind == "c")
    ct = vjp_rules[P.fft_p].rules[0](g, None, None, **params)
    assert ct.shape == x.shape
    # the rules run on abstract values, and batch
    f = lambda x: bind(P.fft_p, x, **params)  # noqa: E731
    spec = cr.ShapeDtypeStruct(x.shape, x.dtype)
    assert cr.eval_shape(lambda x: cr.vjp(f, x)[1](f(x))[0], spec).shape == x.shape
    assert cr.eval_shape(cr.vmap(f), spec).shape == out.shape
    check_grads(lambda x: _loss(cnp, f(x)), (x,), order=2, modes=("fwd", "rev"))


def test_shape_rule_rejects_inconsistent_operands():
    rule = shape_rules[P.fft_p]
    with pytest.raises(ValueError, match="last axes"):
        rule(cr.ShapeDtypeStruct((3, 4), np.float64), fft_type="irfft", fft_lengths=(4,))
    with pytest.raises(ValueError, match="unknown fft_type"):
        rule(cr.ShapeDtypeStruct((3, 4), np.float64), fft_type="dct", fft_lengths=(4,))
    with pytest.raises(TypeError, match="real"):
        rule(cr.ShapeDtypeStruct((3, 4), np.complex64), fft_type="rfft", fft_lengths=(4,))
    assert rule(cr.ShapeDtypeStruct((3, 3), np.complex64), fft_type="irfft",
                fft_lengths=(5,)).dtype == np.float32  # fmt: skip


# --- errors --------------------------------------------------------------------------------


def test_errors_on_traced_values_are_numpys():
    x = _data((3, 4), False)
    z = _data((3, 4), True)
    for name in ONE_D + N_D:
        y = x if name in REAL_ONLY else z
        with pytest.raises(NotImplementedError, match="out="):
            _traced(lambda y: getattr(cnp.fft, name)(y, out=np.empty(1)), y)
        with pytest.raises(ValueError, match="Invalid norm"):
            getattr(np.fft, name)(y, norm="bad")
        with pytest.raises(ValueError, match="Invalid norm"):
            _traced(lambda y: getattr(cnp.fft, name)(y, norm="bad"), y)
    for name in ("fft", "rfft", "irfft", "hfft", "ihfft"):
        with pytest.raises(ValueError, match="Invalid number of FFT data points"):
            getattr(np.fft, name)(x, 0)
        with pytest.raises(ValueError, match="Invalid number of FFT data points"):
            _traced(lambda x: getattr(cnp.fft, name)(x, 0), x)
    with pytest.raises(np.exceptions.AxisError):
        _traced(lambda x: cnp.fft.fft(x, axis=2), x)
    with pytest.raises(TypeError):  # rfft of complex data, as NumPy
        np.fft.rfft(z)
    with pytest.raises(TypeError, match="real"):
        _traced(cnp.fft.rfft, z)
    with pytest.raises(ValueError, match="different lengths"):
        _traced(lambda x: cnp.fft.fftn(x, s=(2,), axes=(0, 1)), x)
