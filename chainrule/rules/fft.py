"""The Fourier transform primitive's rows in every rule table (impl, shape, vjp, jvp,
batching, transpose): see `chainrule.core.primitives.fft_p`.

``fft(x, fft_type, fft_lengths)`` transforms the last ``k = len(fft_lengths)`` axes of `x`
with NumPy's default normalisation (unscaled forward, ``1/n`` inverse). For "fft", "ifft" and
"rfft" the last axes of `x` have the lengths `fft_lengths`; for "irfft" the lengths are those
of the result (the last axis of `x` has ``fft_lengths[-1] // 2 + 1`` entries, NumPy's `n`/`s`).
The public functions (``chainrule.numpy.fft``) move axes, crop or zero-pad and scale.

The primitive is linear, so its VJP is its transpose (JAX's complex convention: ``Aᵀ g``,
no conjugation, the real part for a real operand):
- the DFT matrix ``F`` is symmetric, so the transpose of "fft" is "fft", of "ifft" "ifft";
- "rfft" is the first ``n//2+1`` rows of ``F`` applied to a real vector: its transpose is
  ``Re(Fᵀ pad(g)) = N · irfft(w · conj g)`` with the Hermitian weights ``w = 1/2`` except on
  the entries that have no mirror image (frequency 0 and, n even, n/2), where ``w = 1``;
- "irfft" reads each such mirrored entry twice (``c_k`` and its conjugate): its transpose is
  ``conj(λ/N · rfft(g))`` with ``λ = 2`` on the mirrored entries and 1 on the others.

>>> import numpy as np
>>> from chainrule.core.trace import bind
>>> from chainrule.core import primitives as P
>>> bind(P.fft_p, np.array([1.0, 2.0, 3.0, 4.0]), fft_type="rfft", fft_lengths=(4,))
array([10.+0.j, -2.+2.j, -2.+0.j])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core import primitives as P
from chainrule.core.avals import ShapeDtypeStruct
from chainrule.core.trace import bind
from chainrule.rules.batching import batch_rules, front
from chainrule.core.namespace import np_dtype
from chainrule.rules.impl import defimpl, defxp
from chainrule.rules.jvp import jvp_rules, linear
from chainrule.rules.shape import shape_rules
from chainrule.rules.transpose import LINEAR_IN, from_vjp, transpose_rules
from chainrule.rules.vjp import defvjp

FFT_TYPES = ("fft", "ifft", "rfft", "irfft")

# --- impl: NumPy's own functions over the last axes (the n-d ones apply the 1-d transforms
# in the order NumPy's public functions do, so that a traced result is the plain one) ------

_ONE_D = {"fft": np.fft.fft, "ifft": np.fft.ifft, "rfft": np.fft.rfft, "irfft": np.fft.irfft}
_N_D = {"fft": np.fft.fftn, "ifft": np.fft.ifftn, "rfft": np.fft.rfftn, "irfft": np.fft.irfftn}


def _impl(x: Any, fft_type: str, fft_lengths: tuple) -> Any:
    k = len(fft_lengths)
    if k == 1:
        return _ONE_D[fft_type](x, fft_lengths[0], -1)
    return _N_D[fft_type](x, fft_lengths, tuple(range(-k, 0)))


def _xp_impl(ns: Any, x: Any, fft_type: str, fft_lengths: tuple) -> Any:
    """The same transform with the namespace's `fft` extension (in NumPy's dtypes)."""
    fft = getattr(ns.xp, "fft", None)
    if fft is None:
        raise NotImplementedError(f"{ns.name} has no fft extension: chainrule.numpy.fft needs it")
    k = len(fft_lengths)
    dt = np_dtype(x.dtype, ns.xp)
    x = ns.astype(x, real_dtype(dt) if fft_type == "rfft" else out_dtype("fft", dt, k))
    if k == 1:
        return getattr(fft, fft_type)(x, n=fft_lengths[0], axis=-1)
    return getattr(fft, fft_type + "n")(x, s=fft_lengths, axes=tuple(range(-k, 0)))


# --- shape ---------------------------------------------------------------------------------


def real_dtype(dtype: Any) -> np.dtype:
    """The real dtype NumPy's FFTs compute a dtype's transform in (its scaling factors'):
    ``result_type(a.real.dtype, 1.0)``.

    >>> real_dtype(np.complex64), real_dtype(np.int32), real_dtype(np.float16)
    (dtype('float32'), dtype('float64'), dtype('float16'))
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return np.finfo(dtype).dtype
    return np.result_type(dtype, 1.0)


def out_dtype(fft_type: str, dtype: Any, k: int = 1) -> np.dtype:
    """The dtype of NumPy's result over `k` axes: complex for "fft", "ifft" and "rfft"
    (``result_type(x, 1j)``: complex64 for float16/float32/complex64), real for "irfft"
    (`real_dtype`; of the complex intermediate when k > 1: float16 gives float16 over one
    axis, float32 over several). "rfft" of complex data is NumPy's TypeError.

    >>> out_dtype("fft", np.float32), out_dtype("irfft", np.complex128)
    (dtype('complex64'), dtype('float64'))
    >>> out_dtype("irfft", np.float16), out_dtype("irfft", np.float16, k=2)
    (dtype('float16'), dtype('float32'))
    """
    dtype = np.dtype(dtype)
    if fft_type == "irfft":
        return real_dtype(dtype if k == 1 else np.result_type(dtype, 1j))
    if fft_type == "rfft" and dtype.kind == "c":
        raise TypeError(f"rfft: the input must be real, got {dtype} (NumPy's rfft raises too; "
                        "take the real part, or use fft)")  # fmt: skip
    return np.result_type(dtype, 1j)


def half(n: int) -> int:
    """The number of entries of a real signal's spectrum of length n: ``n // 2 + 1``."""
    return n // 2 + 1


def in_lengths(fft_type: str, fft_lengths: tuple) -> tuple:
    """The lengths of the operand's last axes."""
    if fft_type == "irfft":
        return (*fft_lengths[:-1], half(fft_lengths[-1]))
    return tuple(fft_lengths)


def out_lengths(fft_type: str, fft_lengths: tuple) -> tuple:
    """The lengths of the result's last axes."""
    if fft_type == "rfft":
        return (*fft_lengths[:-1], half(fft_lengths[-1]))
    return tuple(fft_lengths)


def _shape(x: ShapeDtypeStruct, fft_type: str, fft_lengths: tuple) -> ShapeDtypeStruct:
    if fft_type not in FFT_TYPES:
        raise ValueError(f"fft: unknown fft_type {fft_type!r}; expected one of {FFT_TYPES}")
    k = len(fft_lengths)
    if k == 0 or min(fft_lengths) < 1:
        raise ValueError(f"fft: fft_lengths {fft_lengths} must be one or more positive lengths")
    want = in_lengths(fft_type, fft_lengths)
    if x.ndim < k or x.shape[x.ndim - k :] != want:
        raise ValueError(f"fft: an {fft_type} with fft_lengths {fft_lengths} needs an operand "
                         f"whose last axes are {want}, got shape {x.shape}")  # fmt: skip
    shape = x.shape[: x.ndim - k] + out_lengths(fft_type, fft_lengths)
    return ShapeDtypeStruct(shape, out_dtype(fft_type, x.dtype, k))


# --- vjp (and so transpose) --------------------------------------------------------------


def _fft(x: Any, fft_type: str, fft_lengths: tuple) -> Any:
    return bind(P.fft_p, x, fft_type=fft_type, fft_lengths=fft_lengths)


def _edges(n: int, inner: float, edge: float, dtype: np.dtype) -> np.ndarray:
    """A weight per entry of a half spectrum of a length-n signal: `edge` on the entries
    that have no mirror image (0 and, n even, n/2), `inner` on the others."""
    w = np.full(half(n), inner, dtype)
    w[0] = edge
    if n % 2 == 0:
        w[-1] = edge
    return w


def _vjp(g: Any, ans: Any, x: Any, fft_type: str, fft_lengths: tuple) -> Any:
    if fft_type in ("fft", "ifft"):  # the DFT matrix is symmetric
        return _fft(g, fft_type, fft_lengths)
    N = math.prod(fft_lengths)
    rd = real_dtype(g.dtype)
    if fft_type == "rfft":  # N · irfft(w · conj g): irfft's 1/N undone, mirrors halved
        w = _edges(fft_lengths[-1], 0.5 * N, N, rd)
        return _fft(cnp.conj(g) * w, "irfft", fft_lengths)
    # irfft: conj(λ/N · rfft(g)), λ = 2 on the entries irfft reads twice
    w = _edges(fft_lengths[-1], 2.0 / N, 1.0 / N, rd)
    return cnp.conj(_fft(g, "rfft", fft_lengths) * w)


# --- batching: the transformed axes are the last ones; the batch axis goes first ---------


def _batch(axis: Any, vals: list, dims: list, fft_type: str, fft_lengths: tuple) -> tuple:
    (x,), (d,) = vals, dims
    return _fft(front(x, d, axis.size), fft_type, fft_lengths), 0


defimpl(P.fft_p, _impl)
defxp(P.fft_p, _xp_impl)
shape_rules[P.fft_p] = _shape
defvjp(P.fft_p, "", _vjp)
jvp_rules[P.fft_p] = linear(P.fft_p)
batch_rules[P.fft_p] = _batch
transpose_rules[P.fft_p] = from_vjp(P.fft_p)
LINEAR_IN[P.fft_p] = "all"
