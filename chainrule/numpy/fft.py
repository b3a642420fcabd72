"""`chainrule.numpy.fft`: `numpy.fft`, differentiable.

Each function has NumPy's name and signature. On plain NumPy data it calls `numpy.fft`
itself (NumPy's result, NumPy's speed); on traced values (or lists holding them) it records
the one Fourier primitive (``core.primitives.fft_p``, rules in ``chainrule/rules/fft.py``)
after moving the transformed axes last and cropping or zero-padding them to `n`/`s` as NumPy
does, then scales for `norm`. ``np.fft.fft(x)`` on a traced `x` dispatches here.

Traced results are NumPy's bit for bit with the default ``norm`` ("backward"), except for
`hfft` (an unscaled inverse) and, on float32 data, `ihfft` (a scaled forward transform); on
float64 data the forward transforms (`fft`, `rfft`, their n-d forms, `ihfft`) are bit for bit
with "ortho" and "forward" too. In the other cases NumPy scales inside its FFT kernel, where
the primitive (fixed to the default normalisation) cannot follow, and the traced result is
NumPy's to rounding (within an ulp or two of the largest entry): the inverse transforms with
"ortho"/"forward", `hfft`, and the scaled forward transforms of float32 data.
With a non-default norm an n-d transform is recorded one axis at a time, scaled after each,
as NumPy computes it; repeated axes (which NumPy transforms again) are too.

Derivatives follow JAX's conventions (``jax.numpy.fft``: no conjugation, the real part for a
real input).

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> x = np.array([1.0, 2.0, 3.0, 4.0])
>>> cr.grad(lambda x: cnp.sum(cnp.abs(cnp.fft.fft(x)) ** 2))(x)  # Parseval: 2 n x
array([ 8., 16., 24., 32.])
"""

from __future__ import annotations

import math as _math
import operator as _operator
import warnings as _warnings
from typing import Any as _Any

import numpy as _np
from numpy.lib.array_utils import normalize_axis_index as _normalize_axis_index

from chainrule.core import ops as _cnp
from chainrule.core import primitives as _P
from chainrule.core.namespace import dtype_of as _dtype_of
from chainrule.core.ops import _lift, _no_out, _traced
from chainrule.core.trace import bind as _bind
from chainrule.rules.fft import in_lengths as _in_lengths, real_dtype as _real_dtype

ArrayLike = _Any

__all__ = [
    "fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
    "rfftn", "irfftn", "hfft", "ihfft", "fftshift", "ifftshift", "fftfreq", "rfftfreq",
]  # fmt: skip

_NORMS = (None, "backward", "ortho", "forward")
_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


# --- the traced path ---------------------------------------------------------------------


def _check_norm(norm: _Any) -> None:
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or '
                         '"forward".')  # fmt: skip


def _swap_direction(norm: _Any) -> str:
    _check_norm(norm)
    return _SWAP[norm]


def _scale(out: _Any, norm: str | None, forward: bool, n: int, rdt: _np.dtype) -> _Any:
    """`out` (NumPy's default normalisation over `n` points) scaled to `norm`'s, with the
    factors computed as NumPy computes them (in the input's real dtype)."""
    if norm is None or norm == "backward":
        return out
    if forward:  # NumPy multiplies by fct = 1/sqrt(n) or 1/n
        fct = _np.reciprocal(_np.sqrt(n, dtype=rdt)) if norm == "ortho" else \
            _np.reciprocal(n, dtype=rdt)  # fmt: skip
    else:  # the primitive divided by n; NumPy's inverse divides by sqrt(n) or nothing
        fct = _np.sqrt(n, dtype=rdt) if norm == "ortho" else rdt.type(n)
    return out * fct


def _resize(x: _Any, lengths: tuple) -> _Any:
    """The last ``len(lengths)`` axes of `x` cropped or zero-padded (at the end) to
    `lengths`, as NumPy's `n`/`s` do."""
    k = len(lengths)
    have = x.shape[x.ndim - k :]
    if any(n < h for n, h in zip(lengths, have)):
        x = x[(Ellipsis, *[slice(0, min(n, h)) for n, h in zip(lengths, have)])]
    if any(n > h for n, h in zip(lengths, have)):
        width = [(0, 0)] * (x.ndim - k) + [(0, max(n - h, 0)) for n, h in zip(lengths, have)]
        x = _cnp.pad(x, width)
    return x


def _length(n: _Any) -> int:
    n = _operator.index(n)
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _transform(a: _Any, s: _Any, axes: _Any, fft_type: str, norm: str | None) -> _Any:
    """The traced transform of `a` over `axes` (sizes `s`; for "irfft" the output sizes;
    None: the 1-d transform's default), applied as NumPy's n-d functions apply their 1-d
    ones."""
    _check_norm(norm)
    if fft_type == "rfft" and _dtype_of(a).kind == "c":
        raise TypeError(f"rfft: the input must be real, got {_dtype_of(a)} (as NumPy's rfft; "
                        "take the real part, or use fft)")  # fmt: skip
    k = len(axes)
    if k == 0:
        if fft_type in ("rfft", "irfft"):
            raise IndexError("list index out of range")  # NumPy's rfftn/irfftn with axes=()
        return a  # NumPy's fftn/ifftn with axes=() return the input
    axes = tuple(_normalize_axis_index(_operator.index(ax), a.ndim) for ax in axes)
    if k > 1 and (len(set(axes)) < k or norm not in (None, "backward")):
        return _one_axis_at_a_time(a, s, axes, fft_type, norm)
    # each axis is transformed once, so its length when NumPy reaches it is its length now
    s = list(s)
    for i, ax in enumerate(axes):
        if s[i] is None:
            s[i] = (a.shape[ax] - 1) * 2 if fft_type == "irfft" and i == k - 1 else a.shape[ax]
    s = tuple(_length(n) for n in s)
    nd = a.ndim
    last = tuple(range(nd - k, nd))
    x = _resize(_cnp.moveaxis(a, axes, last), _in_lengths(fft_type, s))
    out = _bind(_P.fft_p, x, fft_type=fft_type, fft_lengths=s)
    out = _scale(out, norm, fft_type in ("fft", "rfft"), _math.prod(s),
                 _real_dtype(_dtype_of(x)))
    return _cnp.moveaxis(out, last, axes)


def _one_axis_at_a_time(a: _Any, s: tuple, axes: tuple, fft_type: str, norm: _Any) -> _Any:
    """NumPy's loop of 1-d transforms: for repeated axes (each transforms again), and for
    the non-default norms (NumPy scales after each axis)."""
    k = len(axes)

    def one(x: _Any, ii: int, kind: str) -> _Any:
        return _transform(x, (s[ii],), (axes[ii],), kind, norm)

    if fft_type in ("fft", "ifft"):
        for ii in reversed(range(k)):
            a = one(a, ii, fft_type)
    elif fft_type == "rfft":
        a = one(a, k - 1, "rfft")
        for ii in range(k - 2, -1, -1):
            a = one(a, ii, "fft")
    else:
        for ii in range(k - 1):
            a = one(a, ii, "ifft")
        a = one(a, k - 1, "irfft")
    return a


def _cook(a: _Any, s: _Any, axes: _Any, invreal: bool = False) -> tuple:
    """NumPy's ``_cook_nd_args``: the sizes and axes of an n-d transform (with its
    deprecation warnings)."""
    shapeless = s is None
    if shapeless:
        s = list(a.shape) if axes is None else [a.shape[ax] for ax in axes]
    s = list(s)
    if axes is None:
        if not shapeless:
            _warnings.warn(
                "`axes` should not be `None` if `s` is not `None` (Deprecated in NumPy 2.0). "
                "In a future version of NumPy, this will raise an error and `s[i]` will "
                "correspond to the size along the transformed axis specified by `axes[i]`. "
                "To retain current behaviour, pass a sequence [0, ..., k-1] to `axes` for an "
                "array of dimension k.", DeprecationWarning, stacklevel=4)  # fmt: skip
        axes = list(range(-len(s), 0))
    axes = list(axes)
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if invreal and shapeless:
        s[-1] = (a.shape[axes[-1]] - 1) * 2
    if None in s:
        _warnings.warn(
            "Passing an array containing `None` values to `s` is deprecated in NumPy 2.0 and "
            "will raise an error in a future version of NumPy. To use the default behaviour "
            "of the corresponding 1-D transform, pass the value matching the default for its "
            "`n` parameter. To use the default behaviour for every axis, the `s` argument can "
            "be omitted.", DeprecationWarning, stacklevel=4)  # fmt: skip
    s = [a.shape[ax] if n == -1 else n for n, ax in zip(s, axes)]
    return s, axes


def _one_d(a: _Any, n: _Any, axis: int, fft_type: str, norm: _Any, name: str,
           out: _Any) -> _Any:  # fmt: skip
    _no_out(f"fft.{name}", out)
    a = _lift(a)
    ax = _normalize_axis_index(_operator.index(axis), a.ndim)
    return _transform(a, (n,), (ax,), fft_type, norm)


def _n_d(a: _Any, s: _Any, axes: _Any, fft_type: str, norm: _Any, name: str,
         out: _Any) -> _Any:  # fmt: skip
    _no_out(f"fft.{name}", out)
    a = _lift(a)
    s, axes = _cook(a, s, axes, invreal=fft_type == "irfft")
    return _transform(a, s, axes, fft_type, norm)


# --- one dimension -----------------------------------------------------------------------


def fft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
        out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.fft`: the discrete Fourier transform along `axis` (cropped or zero-padded
    to `n` points), differentiable. Its transpose is itself (the DFT matrix is symmetric).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.fft(np.array([1.0, 2.0, 3.0, 4.0]))
    array([10.+0.j, -2.+2.j, -2.+0.j, -2.-2.j])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.fft(x, n=3))[1])(np.array([1.0, 2.0, 3.0, 4.0]))
    array([ 1. , -0.5, -0.5,  0. ])
    """
    if not _traced(a):
        return _np.fft.fft(a, n=n, axis=axis, norm=norm, out=out)
    return _one_d(a, n, axis, "fft", norm, "fft", out)


def ifft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
         out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.ifft`: the inverse discrete Fourier transform along `axis` (``1/n``
    scaled by default), differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.ifft(np.array([4.0, 0.0, 0.0, 0.0]))
    array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.ifft(x))[0])(np.array([1.0, 2.0, 3.0, 4.0]))
    array([0.25, 0.25, 0.25, 0.25])
    """
    if not _traced(a):
        return _np.fft.ifft(a, n=n, axis=axis, norm=norm, out=out)
    return _one_d(a, n, axis, "ifft", norm, "ifft", out)


def rfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
         out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.rfft`: the discrete Fourier transform of real data, its ``n//2 + 1``
    non-negative frequencies, differentiable (complex input is a TypeError, as in NumPy).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.rfft(np.array([1.0, 2.0, 3.0, 4.0]))
    array([10.+0.j, -2.+2.j, -2.+0.j])
    >>> cr.grad(lambda x: cnp.imag(cnp.fft.rfft(x))[1])(np.array([1.0, 2.0, 3.0, 4.0]))
    array([ 0., -1.,  0.,  1.])
    """
    if not _traced(a):
        return _np.fft.rfft(a, n=n, axis=axis, norm=norm, out=out)
    return _one_d(a, n, axis, "rfft", norm, "rfft", out)


def irfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.irfft`: the inverse of `rfft`, a real signal of `n` points (default
    ``2 * (m - 1)``) from its ``n//2 + 1`` non-negative frequencies, differentiable. As in
    NumPy, the imaginary parts of the frequencies 0 and (n even) n/2 are ignored.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.irfft(np.array([10.0, -2 + 2j, -2.0]))
    array([1., 2., 3., 4.])
    >>> cr.grad(lambda c: cnp.fft.irfft(c)[0])(np.array([1.0, 1.0, 1.0]))
    array([0.25, 0.5 , 0.25])
    """
    if not _traced(a):
        return _np.fft.irfft(a, n=n, axis=axis, norm=norm, out=out)
    return _one_d(a, n, axis, "irfft", norm, "irfft", out)


def hfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
         out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.hfft`: the (real) FFT of a signal with Hermitian symmetry given by its
    first half, ``irfft(conj(a), n, norm=<swapped>)`` as NumPy defines it; differentiable.
    Unscaled by default (NumPy's kernel does no scaling; the traced result multiplies the
    primitive's ``1/n``-scaled inverse by n, so it agrees with NumPy's to rounding).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.hfft(np.array([1.0, 1.0, 1.0]))
    array([4., 0., 0., 0.])
    >>> cr.grad(lambda c: cnp.fft.hfft(c)[0])(np.array([1.0, 1.0, 1.0]))
    array([1., 2., 1.])
    """
    if not _traced(a):
        return _np.fft.hfft(a, n=n, axis=axis, norm=norm, out=out)
    _no_out("fft.hfft", out)
    a = _lift(a)
    ax = _normalize_axis_index(_operator.index(axis), a.ndim)
    if n is None:
        n = (a.shape[ax] - 1) * 2
    new_norm = _swap_direction(norm)
    return irfft(_cnp.conj(a) if _dtype_of(a).kind == "c" else a, n, ax, norm=new_norm)


def ihfft(a: ArrayLike, n: int | None = None, axis: int = -1, norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.ihfft`: the inverse of `hfft`, ``conj(rfft(a, n, norm=<swapped>))`` as
    NumPy defines it (``1/n`` scaled by default); differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.ihfft(np.array([4.0, 0.0, 0.0, 0.0]))
    array([1.-0.j, 1.-0.j, 1.-0.j])
    >>> cr.grad(lambda x: cnp.imag(cnp.fft.ihfft(x))[1])(np.array([1.0, 2.0, 3.0, 4.0]))
    array([ 0.  ,  0.25,  0.  , -0.25])
    """
    if not _traced(a):
        return _np.fft.ihfft(a, n=n, axis=axis, norm=norm, out=out)
    _no_out("fft.ihfft", out)
    a = _lift(a)
    ax = _normalize_axis_index(_operator.index(axis), a.ndim)
    if n is None:
        n = a.shape[ax]
    return _cnp.conj(rfft(a, n, ax, norm=_swap_direction(norm)))


# --- n dimensions ------------------------------------------------------------------------


def fftn(a: ArrayLike, s: _Any = None, axes: _Any = None, norm: str | None = None,
         out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.fftn`: the n-dimensional discrete Fourier transform over `axes` (all by
    default; sizes `s`), differentiable. Repeated axes transform again, as in NumPy.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.fftn(np.ones((2, 2)))
    array([[4.+0.j, 0.+0.j],
           [0.+0.j, 0.+0.j]])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.fftn(x))[0, 0])(np.ones((2, 3)))
    array([[1., 1., 1.],
           [1., 1., 1.]])
    """
    if not _traced(a):
        return _np.fft.fftn(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "fft", norm, "fftn", out)


def ifftn(a: ArrayLike, s: _Any = None, axes: _Any = None, norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.ifftn`: the n-dimensional inverse discrete Fourier transform,
    differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.ifftn(np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1.+0.j, 1.+0.j],
           [1.+0.j, 1.+0.j]])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.ifftn(x))[0, 0])(np.ones((2, 2)))
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    if not _traced(a):
        return _np.fft.ifftn(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "ifft", norm, "ifftn", out)


def rfftn(a: ArrayLike, s: _Any = None, axes: _Any = None, norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.rfftn`: the n-dimensional FFT of real data (half spectrum along the last
    of `axes`), differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.rfftn(np.ones((2, 4))).shape
    (2, 3)
    >>> cr.grad(lambda x: cnp.real(cnp.fft.rfftn(x))[0, 0])(np.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """
    if not _traced(a):
        return _np.fft.rfftn(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "rfft", norm, "rfftn", out)


def irfftn(a: ArrayLike, s: _Any = None, axes: _Any = None, norm: str | None = None,
           out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.irfftn`: the inverse of `rfftn` (`s` gives the output sizes; the last
    defaults to ``2 * (m - 1)``), differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.irfftn(np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1., 1.],
           [1., 1.]])
    >>> cr.grad(lambda c: cnp.fft.irfftn(c)[0, 0])(np.ones((2, 2)))
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    if not _traced(a):
        return _np.fft.irfftn(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "irfft", norm, "irfftn", out)


def fft2(a: ArrayLike, s: _Any = None, axes: _Any = (-2, -1), norm: str | None = None,
         out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.fft2`: `fftn` over the last two axes by default, differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.fft2(np.eye(2))
    array([[2.+0.j, 0.+0.j],
           [0.+0.j, 2.+0.j]])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.fft2(x))[0, 1])(np.ones((2, 2)))
    array([[ 1., -1.],
           [ 1., -1.]])
    """
    if not _traced(a):
        return _np.fft.fft2(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "fft", norm, "fft2", out)


def ifft2(a: ArrayLike, s: _Any = None, axes: _Any = (-2, -1), norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.ifft2`: `ifftn` over the last two axes by default, differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.ifft2(2 * np.eye(2))
    array([[1.+0.j, 0.+0.j],
           [0.+0.j, 1.+0.j]])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.ifft2(x))[1, 1])(np.ones((2, 2)))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    if not _traced(a):
        return _np.fft.ifft2(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "ifft", norm, "ifft2", out)


def rfft2(a: ArrayLike, s: _Any = None, axes: _Any = (-2, -1), norm: str | None = None,
          out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.rfft2`: `rfftn` over the last two axes by default, differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.rfft2(np.eye(2))
    array([[2.+0.j, 0.+0.j],
           [0.+0.j, 2.+0.j]])
    >>> cr.grad(lambda x: cnp.real(cnp.fft.rfft2(x))[1, 1])(np.ones((2, 2)))
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    if not _traced(a):
        return _np.fft.rfft2(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "rfft", norm, "rfft2", out)


def irfft2(a: ArrayLike, s: _Any = None, axes: _Any = (-2, -1), norm: str | None = None,
           out: _Any = None) -> _Any:  # fmt: skip
    """`numpy.fft.irfft2`: `irfftn` over the last two axes by default, differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.irfft2(np.array([[2.0, 0.0], [0.0, 2.0]]))
    array([[1., 0.],
           [0., 1.]])
    >>> cr.grad(lambda c: cnp.fft.irfft2(c)[0, 0])(np.ones((2, 2)))
    array([[0.25, 0.25],
           [0.25, 0.25]])
    """
    if not _traced(a):
        return _np.fft.irfft2(a, s=s, axes=axes, norm=norm, out=out)
    return _n_d(a, s, axes, "irfft", norm, "irfft2", out)


# --- helpers: shifts and frequencies ----------------------------------------------------


def _shifts(x: _Any, axes: _Any, sign: int) -> tuple:
    if axes is None:
        return [sign * (d // 2) for d in x.shape], tuple(range(x.ndim))
    if isinstance(axes, (int, _np.integer)):
        return sign * (x.shape[axes] // 2), axes
    return [sign * (x.shape[ax] // 2) for ax in axes], axes


def fftshift(x: ArrayLike, axes: _Any = None) -> _Any:
    """`numpy.fft.fftshift`: the zero frequency moved to the centre (a roll by half of
    each axis in `axes`, all by default); differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.fftshift(np.fft.fftfreq(4))
    array([-0.5 , -0.25,  0.  ,  0.25])
    >>> cr.grad(lambda x: cnp.fft.fftshift(x)[0])(np.zeros(4))
    array([0., 0., 1., 0.])
    """
    if not _traced(x):
        return _np.fft.fftshift(x, axes)
    x = _lift(x)
    shift, axes = _shifts(x, axes, 1)
    return _cnp.roll(x, shift, axes)


def ifftshift(x: ArrayLike, axes: _Any = None) -> _Any:
    """`numpy.fft.ifftshift`: the inverse of `fftshift` (they differ for odd lengths);
    differentiable.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.ifftshift(np.array([-1.0, 0.0, 1.0]))
    array([ 0.,  1., -1.])
    >>> cr.grad(lambda x: cnp.fft.ifftshift(x)[0])(np.zeros(3))
    array([0., 1., 0.])
    """
    if not _traced(x):
        return _np.fft.ifftshift(x, axes)
    x = _lift(x)
    shift, axes = _shifts(x, axes, -1)
    return _cnp.roll(x, shift, axes)


def _check_freq_args(n: _Any, device: _Any) -> None:
    if not isinstance(n, (int, _np.integer)):
        raise ValueError("n should be an integer")
    if device not in (None, "cpu"):
        raise ValueError(f"Device not understood. Only \"cpu\" is allowed, but received: "
                         f"{device}")  # fmt: skip


def fftfreq(n: int, d: _Any = 1.0, device: str | None = None) -> _Any:
    """`numpy.fft.fftfreq`: the sample frequencies of a length-n FFT with sample spacing
    `d` (a constant; differentiable in a traced `d`).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.fftfreq(4, d=0.5)
    array([ 0. ,  0.5, -1. , -0.5])
    >>> cr.grad(lambda d: cnp.fft.fftfreq(4, d)[1])(0.5)  # d/dd 1/(4d)
    np.float64(-1.0)
    """
    if not _traced(d):
        return _np.fft.fftfreq(n, d, device=device)
    _check_freq_args(n, device)
    val = 1.0 / (n * _lift(d))
    m = (n - 1) // 2 + 1
    results = _np.concatenate([_np.arange(0, m, dtype=int), _np.arange(-(n // 2), 0, dtype=int)])
    return results * val


def rfftfreq(n: int, d: _Any = 1.0, device: str | None = None) -> _Any:
    """`numpy.fft.rfftfreq`: the ``n//2 + 1`` non-negative sample frequencies of a
    length-n `rfft` with sample spacing `d` (differentiable in a traced `d`).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.fft.rfftfreq(4, d=0.5)
    array([0. , 0.5, 1. ])
    >>> cr.grad(lambda d: cnp.fft.rfftfreq(4, d)[2])(0.5)  # d/dd 2/(4d)
    np.float64(-2.0)
    """
    if not _traced(d):
        return _np.fft.rfftfreq(n, d, device=device)
    _check_freq_args(n, device)
    val = 1.0 / (n * _lift(d))
    return _np.arange(0, n // 2 + 1, dtype=int) * val


# --- the rest of numpy.fft: NumPy's own on plain data -------------------------------------


def __getattr__(name: str):
    if hasattr(_np.fft, name):
        fn = getattr(_np.fft, name)

        def unsupported(*args, **kwargs):
            if _traced(args) or _traced(list(kwargs.values())):
                raise NotImplementedError(
                    f"chainrule.numpy.fft.{name} is not differentiable yet; numpy.fft.{name} "
                    "on plain arrays works as usual"
                )
            return fn(*args, **kwargs)

        unsupported.__name__ = name
        return unsupported
    raise AttributeError(f"module 'chainrule.numpy.fft' has no attribute {name!r}")
