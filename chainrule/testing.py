"""Checking derivatives against finite differences.

`check_grads` compares forward- and reverse-mode derivatives with central differences along
random directions, and recurses to check derivatives of derivatives up to `order`.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_map
from chainrule.transforms.reverse import jvp, vjp

_DEFAULTS = {  # dtype kind -> (eps, rtol, atol)
    np.dtype(np.float64): (1e-6, 1e-5, 1e-6),
    np.dtype(np.complex128): (1e-6, 1e-5, 1e-6),
    np.dtype(np.float32): (3e-3, 3e-2, 3e-2),
    np.dtype(np.complex64): (3e-3, 3e-2, 3e-2),
}


def _random_like(x: Any, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(x)
    d = rng.standard_normal(x.shape)
    if np.iscomplexobj(x):
        d = d + 1j * rng.standard_normal(x.shape)
    return d.astype(x.dtype)


def _inner(a: Any, b: Any) -> complex:
    la, _ = tree_flatten(a)
    lb, _ = tree_flatten(b)
    return complex(sum(np.sum(np.asarray(x) * np.asarray(y)) for x, y in zip(la, lb)))


def _axpy(alpha: float, u: Any, x: Any) -> Any:
    return tree_map(lambda ui, xi: np.asarray(xi + alpha * ui, dtype=np.result_type(xi)), u, x)


def _numeric_dir(f: Callable, args: tuple, u: tuple, eps: float) -> Any:
    plus = f(*_axpy(eps, u, args))
    minus = f(*_axpy(-eps, u, args))
    return tree_map(lambda p, m: (np.asarray(p) - np.asarray(m)) / (2 * eps), plus, minus)


def _close(ad: complex, fd: complex, rtol: float, atol: float) -> bool:
    return abs(ad - fd) <= atol + rtol * abs(fd)


def _report(what: str, order: int, ad: complex, fd: complex, eps: float, rtol: float, atol: float,
            fun: Callable) -> str:  # fmt: skip
    name = getattr(fun, "__name__", repr(fun))
    err = abs(ad - fd)
    rel = err / abs(fd) if fd else float("inf")

    def show(z: complex) -> str:
        return f"{z.real:.12g}" if z.imag == 0 else f"{z:.12g}"

    return (
        f"check_grads failed for {name}: {what} derivative (order {order}) disagrees with "
        f"central finite differences along a random direction\n"
        f"  automatic:  {show(ad)}\n  numerical:  {show(fd)}\n"
        f"  abs error {err:.3g}, rel error {rel:.3g}; eps={eps:g}, rtol={rtol:g}, atol={atol:g}"
    )


def check_grads(
    fun: Callable,
    args: Sequence,
    order: int = 2,
    modes: Sequence[str] = ("fwd", "rev"),
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Check `fun`'s derivatives at `args` against central differences, up to `order`.

    Raises `AssertionError` with a readable report on disagreement. `modes` picks forward
    ("fwd", J·u) and/or reverse ("rev", vᵀJ) checks; each is done along a random direction.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> from chainrule.testing import check_grads
    >>> check_grads(lambda x: cnp.sin(x) * x, (np.array([0.3, 1.2]),))
    """
    args = tuple(args) if isinstance(args, (tuple, list)) else (args,)
    args = tree_map(lambda a: a if isinstance(a, np.ndarray) else np.asarray(a), args)
    leaves, _ = tree_flatten(args)
    dt = np.result_type(*[np.asarray(x).dtype for x in leaves]) if leaves else np.float64
    d_eps, d_rtol, d_atol = _DEFAULTS.get(np.dtype(dt), _DEFAULTS[np.dtype(np.float64)])
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    rng = np.random.default_rng(seed)
    _check(fun, args, order, tuple(modes), eps, rtol, atol, rng, 1)


def _check(fun, args, order, modes, eps, rtol, atol, rng, level):
    if order < 1:
        return
    u = tree_map(lambda a: _random_like(a, rng), args)
    fd = _numeric_dir(fun, args, u, eps)
    w = tree_map(lambda o: _random_like(o, rng), fd)
    nd = _inner(w, fd)
    if "fwd" in modes:
        _, t = jvp(fun, args, u)
        ad = _inner(w, t)
        if not _close(ad, nd, rtol, atol):
            raise AssertionError(_report("forward", level, ad, nd, eps, rtol, atol, fun))
    if "rev" in modes:
        _, vjp_fn = vjp(fun, *args)
        ad = _inner(vjp_fn(w), u)
        if not _close(ad, nd, rtol, atol):
            raise AssertionError(_report("reverse", level, ad, nd, eps, rtol, atol, fun))
    if order > 1:  # derivatives of the derivative: the VJP as a function of (args, w)

        def vjp_of(*a):
            return vjp(fun, *a[:-1])[1](a[-1])

        _check(vjp_of, (*args, w), order - 1, modes, eps, rtol, atol, rng, level + 1)


__all__ = ["check_grads"]
