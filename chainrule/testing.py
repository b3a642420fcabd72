"""Checking derivatives against finite differences.

`check_grads` compares forward- and reverse-mode derivatives with central differences along
random directions, and recurses to check derivatives of derivatives up to `order`. Arguments
may be arrays of another array-API namespace: the directions are made there, on their device.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core import ops as cnp
from chainrule.core.namespace import Namespace, dtype_of, find, is_foreign, to_namespace
from chainrule.core.pytree import tree_flatten, tree_map
from chainrule.transforms.forward import jvp
from chainrule.transforms.reverse import vjp

_DEFAULTS = {  # dtype kind -> (eps, rtol, atol)
    np.dtype(np.float64): (1e-6, 1e-5, 1e-6),
    np.dtype(np.complex128): (1e-6, 1e-5, 1e-6),
    np.dtype(np.float32): (3e-3, 3e-2, 3e-2),
    np.dtype(np.complex64): (3e-3, 3e-2, 3e-2),
}


def _random_like(x: Any, rng: np.random.Generator, ns: Namespace | None = None) -> Any:
    """A random direction shaped like `x` (in `x`'s namespace `ns`, when not NumPy's)."""
    dt, shape = dtype_of(x), tuple(np.shape(x))
    d = rng.standard_normal(shape)
    if dt.kind == "c":
        d = d + 1j * rng.standard_normal(shape)
    return to_namespace(ns if is_foreign(x) else None, d.astype(dt))


def _array(x: Any) -> Any:
    return x if is_foreign(x) else np.asarray(x)


def _inner(a: Any, b: Any) -> complex:
    la, _ = tree_flatten(a)
    lb, _ = tree_flatten(b)
    return complex(sum(complex(cnp.sum(_array(x) * _array(y))) for x, y in zip(la, lb)))


def _axpy(alpha: float, u: Any, x: Any) -> Any:
    return tree_map(lambda ui, xi: cnp.astype(xi + alpha * ui, dtype_of(xi)) if is_foreign(xi)
                    else np.asarray(xi + alpha * ui, dtype=np.result_type(xi)), u, x)  # fmt: skip


def _numeric_dir(f: Callable, args: tuple, u: tuple, eps: float) -> Any:
    plus = f(*_axpy(eps, u, args))
    minus = f(*_axpy(-eps, u, args))
    return tree_map(lambda p, m: (_array(p) - _array(m)) / (2 * eps), plus, minus)


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
    args = tree_map(lambda a: a if isinstance(a, np.ndarray) or is_foreign(a) else
                    np.asarray(a), args)  # fmt: skip
    leaves, _ = tree_flatten(args)
    ns = find(leaves, "check_grads")
    dt = np.result_type(*[dtype_of(x) for x in leaves]) if leaves else np.float64
    d_eps, d_rtol, d_atol = _DEFAULTS.get(np.dtype(dt), _DEFAULTS[np.dtype(np.float64)])
    eps = d_eps if eps is None else eps
    rtol = d_rtol if rtol is None else rtol
    atol = d_atol if atol is None else atol
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {m!r}; use 'fwd' and/or 'rev'")
    rng = np.random.default_rng(seed)
    _check(fun, args, order, tuple(modes), eps, rtol, atol, rng, 1, ns)


def _check(fun, args, order, modes, eps, rtol, atol, rng, level, ns=None):
    if order < 1:
        return
    u = tree_map(lambda a: _random_like(a, rng, ns), args)
    fd = _numeric_dir(fun, args, u, eps)
    w = tree_map(lambda o: _random_like(o, rng, ns), fd)
    nd = _inner(w, fd)
    if "fwd" in modes:
        _, t = jvp(fun, args, u)
        ad = _inner(w, t)
        if not _close(ad, nd, rtol, atol):
            raise AssertionError(_report("forward", level, ad, nd, eps, rtol, atol, fun))
    if "rev" in modes:  # real parts: a real input's cotangent is real (JAX's convention)
        _, vjp_fn = vjp(fun, *args)
        ad = _inner(vjp_fn(w), u).real
        if not _close(ad, nd.real, rtol, atol):
            raise AssertionError(_report("reverse", level, ad, nd.real, eps, rtol, atol, fun))
    if order > 1:  # derivatives of the derivative: the VJP as a function of (args, w)

        def vjp_of(*a):
            return vjp(fun, *a[:-1])[1](a[-1])

        _check(vjp_of, (*args, w), order - 1, modes, eps, rtol, atol, rng, level + 1, ns)


# --- the Taylor remainder test ---------------------------------------------------------------


class TaylorResult:
    """What `taylor_test` observed: the remainders, their rates, and the verdict.

    `eps`: the step lengths used (halving from `eps0`); `r1`, `r2`: the zeroth- and first-order
    Taylor remainders at each; `rates1`, `rates2`: log2 of the ratios of successive remainders
    (the observed local orders); `order`: the observed order of `r2` (the median of its last
    three rates, nan when r2 is at round-off level from the start); `ok`: whether that order is
    at least 2 − `tol`; `grad_error`: r2/eps at the smallest eps, which estimates
    |⟨∇f − g, v⟩| when the order is 1; `direction`: the unit v used, flattened; `report`: a
    readable table (also `str(result)`).

    >>> import numpy as np, chainrule.numpy as cnp
    >>> from chainrule.testing import taylor_test
    >>> result = taylor_test(lambda x: cnp.sum(cnp.sin(x)), np.array([0.3, 0.7]))
    >>> result
    TaylorResult(order=2, ok=True)
    >>> bool(result.ok), round(float(result.order))
    (True, 2)
    """

    def __init__(self, eps, r1, r2, order: float, ok: bool, grad_error: float, note: str,
                 name: str, direction: np.ndarray):  # fmt: skip
        self.eps, self.r1, self.r2 = eps, r1, r2
        self.direction = direction
        with np.errstate(all="ignore"):
            self.rates1 = np.log2(r1[:-1] / r1[1:])
            self.rates2 = np.log2(r2[:-1] / r2[1:])
        self.order = order
        self.ok = ok
        self.grad_error = grad_error
        self.note = note
        self.name = name

    @property
    def report(self) -> str:
        head = ("eps", "r1 = |f(x+eps v) - f(x)|", "rate", "r2 = |... - eps <g, v>|", "rate")
        rows = []
        for k, e in enumerate(self.eps):
            rate1 = f"{self.rates1[k - 1]:.2f}" if k else ""
            rate2 = f"{self.rates2[k - 1]:.2f}" if k else ""
            rows.append((f"{e:.3e}", f"{self.r1[k]:.3e}", rate1, f"{self.r2[k]:.3e}", rate2))
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        line = lambda r: " | ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip()
        table = [line(head), "-+-".join("-" * w for w in widths)] + [line(r) for r in rows]
        verdict = "passed" if self.ok else "FAILED"
        order = "not measurable" if not np.isfinite(self.order) else f"{self.order:.2f}"
        return "\n".join(
            [f"taylor_test {verdict} for {self.name}: observed order of r2 {order} "
             "(expected 2: r1 = O(eps), r2 = O(eps²) when g is the gradient)"]
            + ([self.note] if self.note else []) + (table if rows else [])
        )  # fmt: skip

    def __str__(self) -> str:
        return self.report

    def __repr__(self) -> str:
        return f"TaylorResult(order={self.order:.3g}, ok={self.ok})"

    def __bool__(self) -> bool:
        return self.ok


def taylor_test(
    fun: Callable,
    x: Any,
    direction: Any = None,
    eps0: float | None = None,
    n: int = 20,
    grad: Callable | None = None,
    tol: float = 0.3,
    assert_order: bool = False,
    seed: int = 0,
) -> TaylorResult:
    """The Taylor remainder test of the gradient of a scalar `fun` at `x`.

    Along a direction v, for a decreasing sequence of eps,

    - r1(eps) = |f(x + eps v) − f(x)| is O(eps), and
    - r2(eps) = |f(x + eps v) − f(x) − eps ⟨g, v⟩| is O(eps²) exactly when g is the gradient;
      a wrong g leaves a term eps ⟨∇f − g, v⟩, and r2 falls at rate 1 only.

    The rates are log2 of the ratios of successive remainders; the observed order is the
    median of the last three rates of r2. No eps needs choosing: eps halves from
    ``eps0 = 0.01 · max(1, max |x|)`` for at most `n` steps, and stops before round-off, at the
    first eps where r2 falls below 1000 ε (|f(x)| + |f(x + eps v)| + |eps ⟨g, v⟩|) (ε: the
    machine epsilon); only the steps above that are used. `ok` is ``order >= 2 - tol``
    (higher orders are fine: ⟨v, ∇²f v⟩ = 0 gives 3); when r2 is at round-off level from the
    first eps on, nothing contradicts g and `ok` is True (with a note).

    `x` is one argument (number, array or pytree) or a tuple of arguments. `direction`
    defaults to a random one (``np.random.default_rng(seed)``, standard normal entries), shaped
    like `x`; it is normalised to unit length. `grad(*args)` gives the gradient to test, shaped
    like the arguments (a tuple for several); by default ``cr.grad`` with respect to all of
    them. `assert_order=True` raises `AssertionError` with the report when the test fails.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> from chainrule.testing import taylor_test
    >>> f = lambda x: cnp.sum(cnp.sin(x) * x ** 2)
    >>> t = taylor_test(f, np.array([0.3, 1.2, -0.7]))
    >>> t.ok, round(t.order)
    (True, 2)
    >>> wrong = taylor_test(f, np.array([0.3, 1.2, -0.7]), grad=lambda x: 2 * x * np.sin(x))
    >>> wrong.ok, round(wrong.order)
    (False, 1)
    >>> taylor_test(f, np.array([0.3, 1.2]), grad=lambda x: 2 * x * np.sin(x),
    ...             assert_order=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: taylor_test FAILED for f: observed order of r2 1.00 ...
    """
    import math

    from chainrule.core.pytree import tree_unflatten
    from chainrule.transforms.reverse import grad as _grad

    args = x if isinstance(x, tuple) else (x,)
    leaves, tree = tree_flatten(args)
    if not leaves:
        raise ValueError("taylor_test: no inputs")
    leaves = [np.asarray(a, np.float64) if np.asarray(a).dtype.kind in "iub" else np.asarray(a)
              for a in leaves]  # fmt: skip
    args = tree_unflatten(tree, leaves)
    name = getattr(fun, "__name__", "f")
    name = "f" if name == "<lambda>" else name
    if direction is None:
        rng = np.random.default_rng(seed)
        v_leaves = [rng.standard_normal(a.shape) for a in leaves]
    else:
        direction = direction if isinstance(x, tuple) else (direction,)
        v_leaves = [np.asarray(d, np.float64) for d in tree_flatten(direction)[0]]
        if [v.shape for v in v_leaves] != [a.shape for a in leaves]:
            raise ValueError("taylor_test: direction must have the structure and shapes of x")
    norm = float(np.sqrt(sum(np.sum(np.abs(v) ** 2) for v in v_leaves)))
    if norm == 0:
        raise ValueError("taylor_test: the direction is zero")
    v_leaves = [v / norm for v in v_leaves]
    if grad is None:
        g = _grad(fun, argnums=tuple(range(len(args))))(*args)
    else:
        g = grad(*args)
        g = g if isinstance(x, tuple) else (g,)
    g_leaves, _ = tree_flatten(g)
    if len(g_leaves) != len(leaves):
        raise ValueError("taylor_test: the gradient does not have the structure of x")
    gv = float(np.real(sum(np.sum(np.asarray(gl) * v) for gl, v in zip(g_leaves, v_leaves))))
    eps_m = float(np.finfo(np.result_type(*leaves, np.float32)).eps)

    def f_at(e: float) -> float:
        out = fun(*tree_unflatten(tree, [a + e * v for a, v in zip(leaves, v_leaves)]))
        return float(np.real(np.asarray(out).reshape(())))

    f0 = f_at(0.0)
    scale = max([1.0] + [float(np.max(np.abs(a))) for a in leaves if a.size])
    e = 1e-2 * scale if eps0 is None else float(eps0)
    eps, r1, r2 = [], [], []
    for _ in range(n):
        fe = f_at(e)
        rem2 = abs(fe - f0 - e * gv)
        if rem2 <= 1e3 * eps_m * (abs(f0) + abs(fe) + abs(e * gv)):
            break  # round-off from here on
        eps.append(e)
        r1.append(abs(fe - f0))
        r2.append(rem2)
        e /= 2
    eps, r1, r2 = np.array(eps), np.array(r1), np.array(r2)
    note = ""
    if len(eps) < 2:
        order, ok, grad_err = math.nan, True, 0.0
        note = ("r2 is at round-off level from eps0 on: f is numerically linear along v there "
                "and nothing contradicts the gradient")  # fmt: skip
    else:
        rates = np.log2(r2[:-1] / r2[1:])
        order = float(np.median(rates[-3:]))
        ok = bool(order >= 2 - tol)
        grad_err = float(r2[-1] / eps[-1])
        if not ok:
            note = (f"the gradient looks wrong along v: |<grad f - g, v>| ≈ r2/eps ≈ "
                    f"{grad_err:.3g} (<g, v> = {gv:.6g})")  # fmt: skip
    v = np.concatenate([np.ravel(v) for v in v_leaves])
    res = TaylorResult(eps, r1, r2, order, ok, grad_err, note, name, v)
    if assert_order and not ok:
        raise AssertionError(res.report)
    return res


__all__ = ["TaylorResult", "check_grads", "taylor_test"]
