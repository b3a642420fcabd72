"""Automatic differentiation side by side with finite differences and symbolic derivation.

`compare(f, x)` computes the derivative of a scalar function `f` at `x` by reverse-mode AD
(`cr.grad`) and by three finite-difference formulas over a sweep of step sizes h, and, when SymPy
is installed and an expression is available, symbolically:

- forward differences ``(f(x + h) - f(x)) / h``: truncation error O(h), order 1;
- central differences ``(f(x + h) - f(x - h)) / 2h``: truncation error O(h²), order 2;
- the complex step ``Im f(x + ih) / h``: O(h²) too, but with no subtraction, hence no round-off
  growth as h shrinks: for small h it agrees with AD to machine precision. It needs `f` to
  accept complex input and to be complex-analytic (no `abs`, `real`, casts to float); when it
  is not, the method is reported as not applicable, with the reason.

For the first two, the error |FD − AD| first falls like hᵖ (truncation) and then rises like
ε/h (round-off: ε is the machine epsilon), the V shape of the notebook's experiment: with
``dx = 0.01`` the forward difference of J(x) = x³ + x² − 6x + 1 at x = 1 is off by about
4·10⁻², with ``dx = 0.001`` by about 4·10⁻³ (order 1).

>>> import chainrule.numpy as cnp
>>> c = compare(lambda x: x ** 3 + x ** 2 - 6 * x + 1, 1.0)
>>> c.ad
-1.0
>>> print(f"{c.errors['forward'][1]:.4f} {c.errors['forward'][2]:.5f}")  # h = 1e-2, 1e-3
0.0401 0.00400
>>> {m: round(p, 1) for m, p in c.orders.items()}
{'forward': 1.0, 'central': 2.0, 'complex': 2.0}
>>> print(c)  # doctest: +ELLIPSIS
Derivative of f at x = 1 ...
"""

from __future__ import annotations

import html
import inspect
import math
import warnings
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.transforms.reverse import value_and_grad

__all__ = ["DEFAULT_STEPS", "Comparison", "SymbolicCheck", "compare"]

#: The default step sizes: 10⁻¹, 10⁻², …, 10⁻¹².
DEFAULT_STEPS = 10.0 ** -np.arange(1, 13)

_METHODS = ("forward", "central", "complex")
_TABLE_TITLE = "Error |FD - AD| of each finite difference, per step size h:"
_NOISE_FACTOR = 100.0  # an error counts as truncation when it is 100x above the round-off model


@dataclass
class SymbolicCheck:
    """The exact derivative from SymPy, evaluated at the point, against AD.

    `derivative` is the SymPy expression of the derivative (one scalar argument) or the list of
    partial derivatives, one per scalar input in flattened order; `value` is the compared
    quantity (the derivative, or the directional derivative along `Comparison.direction`),
    evaluated with 30 significant digits; `error` is |AD − value|; `source` says where the
    expression came from ("sympy_fun" or "chainrule.to_sympy").
    """

    derivative: Any
    value: float
    error: float
    source: str


@dataclass
class Comparison:
    """AD against finite differences (and SymPy) for one function at one point; see `compare`.

    Attributes: `ad` (the AD value compared), `gradient` (the full `cr.grad` result), `value`
    (f at the point), `direction` (the unit direction, flattened like the inputs; ``None`` for
    one scalar argument), `steps` (the step sizes, largest first), `estimates` and `errors`
    ({method: array over `steps`} of finite-difference values and of |FD − AD|), `orders`
    ({method: observed convergence order}, nan when it cannot be measured), `fit_range`
    ({method: (largest h, smallest h) of the points the order was measured on}), `best`
    ({method: (h, error)} at the smallest error), `symbolic` (a `SymbolicCheck` or ``None``)
    and `notes` ({method or "symbolic": why it is not applicable or was skipped}).
    """

    name: str
    point: str
    ad: float
    gradient: Any
    value: float
    direction: np.ndarray | None
    steps: np.ndarray
    estimates: dict[str, np.ndarray] = field(default_factory=dict)
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    orders: dict[str, float] = field(default_factory=dict)
    fit_range: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    best: dict[str, tuple[float, float]] = field(default_factory=dict)
    symbolic: SymbolicCheck | None = None
    notes: dict[str, str] = field(default_factory=dict)
    eps: float = float(np.finfo(np.float64).eps)

    # --- text ------------------------------------------------------------------------------

    def _what(self) -> str:
        if self.direction is None:
            return f"Derivative of {self.name} at {self.point}"
        return (f"Directional derivative <grad {self.name}, v> at {self.point}, along a random "
                f"unit v")  # fmt: skip

    def _summary(self) -> list[str]:
        rows = [("f(x)", f"{self.value:.16g}"), ("AD (cr.grad)", f"{self.ad:.16g}")]
        s = self.symbolic
        if s is not None:
            rel = s.error / abs(s.value) if s.value else (0.0 if s.error == 0 else math.inf)
            rows.append((f"symbolic ({s.source})", f"{s.value:.16g}   |AD - symbolic| = "
                         f"{s.error:.2e} (relative {rel:.1e})"))  # fmt: skip
        w = max(len(k) for k, _ in rows)
        return [self._what()] + [f"  {k.ljust(w)} = {v}" for k, v in rows]

    def _head(self) -> tuple[str, ...]:
        return ("h",) + tuple(self.errors)

    def _rows(self) -> list[tuple[str, ...]]:
        rows = [(f"{h:.0e}",) + tuple(f"{e[k]:.2e}" for e in self.errors.values())
                for k, h in enumerate(self.steps)]  # fmt: skip
        rows.append(("observed order",) + tuple(_fmt_order(self.orders[m]) for m in self.errors))
        rows.append(("fitted on h in",) + tuple(
            "—" if self.fit_range[m] is None else
            f"[{self.fit_range[m][1]:.0e}, {self.fit_range[m][0]:.0e}]" for m in self.errors
        ))  # fmt: skip
        rows.append(("best h (error)",) + tuple(
            f"{h:.0e} ({e:.1e})" for h, e in (self.best[m] for m in self.errors)
        ))  # fmt: skip
        return rows

    def _footer(self) -> list[str]:
        return [f"{m}: not applicable ({why})" if m in _METHODS else f"{m}: {why}"
                for m, why in self.notes.items()]  # fmt: skip

    def __str__(self) -> str:
        from chainrule.transparency import _text_table  # late: chainrule.explain may import us

        out = self._summary() + ["", _TABLE_TITLE, _text_table(self._head(), self._rows())]
        footer = self._footer()
        return "\n".join(out + ([""] + footer if footer else []))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from chainrule.transparency import _html_table

        summary = "<br>".join(html.escape(s.strip()) for s in self._summary())
        footer = "".join(f"<p>{html.escape(s)}</p>" for s in self._footer())
        title = f"<p>{html.escape(_TABLE_TITLE)}</p>"
        return f"<p>{summary}</p>{title}" + _html_table(self._head(), self._rows()) + footer

    # --- figure ----------------------------------------------------------------------------

    def figure(self, path: str | None = None) -> Any:
        """Error against step size on log-log axes; saved to `path` when given.

        One line per method, the AD round-off level ε·|AD| as a horizontal line, and dashed
        reference lines of slope 1 and 2. Errors that are exactly 0 are drawn at half the
        round-off level (a log axis cannot show 0). Returns the `matplotlib.figure.Figure`
        (made without pyplot, so no window opens and no global state is touched).
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as err:
            raise ImportError(
                "Comparison.figure needs matplotlib: pip install chainrule[viz] "
                "(or pip install matplotlib)"
            ) from err
        fig = Figure(figsize=(7.5, 5.2), layout="constrained")
        ax = fig.add_subplot()
        h = self.steps
        floor = self.eps * max(abs(self.ad), 1e-300)
        markers = {"forward": "o", "central": "s", "complex": "^"}
        for m, e in self.errors.items():
            ax.loglog(h, np.maximum(e, floor / 2), marker=markers.get(m, "."), lw=1.6,
                      label=f"{m} (observed order {_fmt_order(self.orders[m])})")  # fmt: skip
        ax.axhline(floor, color="0.35", lw=1.2, label=f"AD round-off level ε·|AD| = {floor:.1e}")
        top = max((float(np.nanmax(e)) for e in self.errors.values() if np.isfinite(e).any()),
                  default=1.0)  # fmt: skip
        for p, color, anchor in ((1, "tab:blue", "forward"), (2, "tab:orange", "central")):
            e = self.errors.get(anchor)
            y0 = 3 * (e[0] if e is not None and np.isfinite(e[0]) and e[0] > 0 else top)
            hs = np.geomspace(h.max(), h.min(), 200)
            ys = y0 * (hs / h.max()) ** p
            keep = ys >= floor
            ax.loglog(hs[keep], ys[keep], ls="--", color=color, lw=1, alpha=0.6,
                      label=f"reference slope {p}")  # fmt: skip
        ax.set_xlabel("step size h")
        ax.set_ylabel("|finite difference − AD|")
        what = self._what().replace("<grad", "⟨∇").replace(", v>", ", v⟩")
        ax.set_title(f"{what}\nfinite differences against AD", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _fmt_order(p: float) -> str:
    return "—" if not np.isfinite(p) else f"{p:.2f}"


# --- the computation ---------------------------------------------------------------------------


def _as_float(x: Any) -> Any:
    a = np.asarray(x)
    if a.dtype.kind in "fc":
        return a if isinstance(x, np.ndarray) else a[()]
    if a.dtype.kind in "iub":
        return a.astype(np.float64) if isinstance(x, np.ndarray) else np.float64(a)
    raise TypeError(f"compare: inputs must be numbers or arrays of numbers, got {a.dtype}")


def _scalar_out(out: Any, name: str) -> complex:
    a = np.asarray(out)
    if a.size != 1:
        raise TypeError(f"compare needs a scalar-valued function; {name} returned shape {a.shape}")
    return a.reshape(())[()]


def _describe(args: tuple, leaves: list, names: list[str]) -> str:
    if len(args) == len(leaves) and all(np.ndim(x) == 0 for x in leaves):
        return ", ".join(f"{n} = {float(np.real(x)):.6g}" for n, x in zip(names, leaves))
    parts = []
    for n, a in zip(names, args):
        ls, _ = tree_flatten(a)
        if len(ls) == 1 and np.ndim(ls[0]) == 0:
            parts.append(f"{n} = {float(np.real(ls[0])):.6g}")
        elif len(ls) == 1:
            parts.append(f"{n} of shape {np.shape(ls[0])}")
        else:
            parts.append(f"{n} ({len(ls)} arrays)")
    return ", ".join(parts)


def _param_names(fun: Callable, n: int) -> list[str]:
    try:
        ps = [p.name for p in inspect.signature(fun).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]  # fmt: skip
    except (TypeError, ValueError):
        ps = []
    if n == 1 and not ps:
        return ["x"]
    return [ps[i] if i < len(ps) else f"x{i}" for i in range(n)]


def _order(steps: np.ndarray, errors: np.ndarray, noise: np.ndarray):
    """The observed order: the median local slope over the truncation-dominated points.

    A point is truncation-dominated when its error is 100x above the round-off model `noise`.
    The first run of consecutive such points, starting from the largest h, is used; the order
    is the median of log(e_k / e_k+1) / log(h_k / h_k+1) over it (the median ignores a stray
    pair, e.g. a pre-asymptotic largest h). Fewer than two points: nan.
    """
    good = np.isfinite(errors) & (errors > _NOISE_FACTOR * noise)
    idx = np.flatnonzero(good)
    if idx.size < 2:
        return math.nan, None
    start = end = int(idx[0])
    while end + 1 < len(good) and good[end + 1]:
        end += 1
    if end == start:
        return math.nan, None
    le, lh = np.log(errors[start : end + 1]), np.log(steps[start : end + 1])
    return float(np.median(np.diff(le) / np.diff(lh))), (float(steps[start]), float(steps[end]))


def compare(
    fun: Callable,
    at: Any,
    steps: Sequence[float] | np.ndarray | None = None,
    methods: Sequence[str] = _METHODS,
    symbolic: bool = True,
    sympy_fun: Callable | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> Comparison:
    """Compare `fun`'s AD derivative at `at` with finite differences and (optionally) SymPy.

    `fun` is a scalar-valued function written with `chainrule.numpy`; `at` is a number, an
    array, or a tuple of arguments (each a number, array or pytree of them; integers become
    float64). With one scalar argument the derivative f'(x) is compared. Otherwise it is the
    directional derivative ⟨∇f(x), v⟩ along a random unit direction v over all inputs
    (standard normal entries from ``np.random.default_rng(seed)``, normalised), so that each
    finite difference costs one or two evaluations whatever the size of the inputs.

    `steps` (default `DEFAULT_STEPS`: 10⁻¹ … 10⁻¹², sorted from the largest) are absolute
    steps along v. `methods` chooses among "forward", "central" and "complex". The observed
    order of each method is the median of the local slopes of log error against log h over
    the first run, from the largest h, of points whose error is 100x above a round-off model
    (ε·(|f(x+h)| + |f(x)|)/h for forward, ε·(|f(x+h)| + |f(x−h)|)/2h for central differences,
    plus ε·|AD| for all), i.e. before round-off takes over; nan when fewer than two points
    qualify (the method is exact for this f, or every step is too small).

    `symbolic=True` also derives the exact derivative with SymPy when it is installed: from
    `sympy_fun`, the same function written with SymPy operations (called with one
    `sympy.Symbol` per scalar argument, or a NumPy object array of symbols per array
    argument), or else, for scalar arguments, from the expression `chainrule.to_sympy(fun)`
    builds when the package provides it. The expression is differentiated by SymPy (``diff``)
    and evaluated with 30 digits. Otherwise, and on any failure,
    `Comparison.notes["symbolic"]` says why it was skipped.

    `progress=True` shows a bar over the evaluations of `fun` the sweep makes (tqdm's when
    installed, see `chainrule.progress`); None (the default) follows
    `chainrule.progress.enabled()`, off unless turned on.

    >>> import chainrule.numpy as cnp
    >>> c = compare(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2), 7.0, symbolic=False)
    >>> round(c.orders["forward"], 1), round(c.orders["central"], 1)
    (1.0, 2.0)
    >>> bool(c.best["complex"][1] <= 1e-15 * abs(c.ad))
    True

    With SymPy (the `[sym]` extra), against the exact derivative:

    >>> import sympy  # doctest: +SKIP
    >>> c = compare(lambda x: cnp.tanh(4 * cnp.cos(x) ** 2), 7.0,
    ...             sympy_fun=lambda x: sympy.tanh(4 * sympy.cos(x) ** 2))  # doctest: +SKIP
    >>> bool(c.symbolic.error < 1e-15)  # doctest: +SKIP
    True
    >>> c = compare(lambda x: cnp.hypot(x, 1.0), 3.0, symbolic=False)  # no complex hypot
    >>> print(c.notes["complex"])  # doctest: +ELLIPSIS
    f does not accept complex input: TypeError: ufunc 'hypot' not supported ...
    """
    for m in methods:
        if m not in _METHODS:
            raise ValueError(f"compare: unknown method {m!r}; choose among {_METHODS}")
    args = at if isinstance(at, tuple) else (at,)
    leaves, tree = tree_flatten(args)
    if not leaves:
        raise ValueError("compare: no inputs to differentiate")
    leaves = [_as_float(x) for x in leaves]
    args = tree_unflatten(tree, leaves)
    names = _param_names(fun, len(args))
    name = getattr(fun, "__name__", "f")
    name = "f" if name == "<lambda>" else name
    dtype = np.result_type(*leaves)
    eps = float(np.finfo(dtype).eps)

    value, g = value_and_grad(fun, argnums=tuple(range(len(args))))(*args)
    g_leaves, _ = tree_flatten(g)
    single = len(leaves) == 1 and np.ndim(leaves[0]) == 0
    if single:
        v_leaves = [1.0]
        direction = None
        ad = float(np.real(g_leaves[0]))
    else:
        rng = np.random.default_rng(seed)
        v_leaves = [rng.standard_normal(np.shape(x)) for x in leaves]
        norm = math.sqrt(sum(float(np.sum(v**2)) for v in v_leaves))
        v_leaves = [v / norm for v in v_leaves]
        direction = np.concatenate([np.ravel(v) for v in v_leaves])
        ad = float(sum(np.sum(np.real(gl) * v) for gl, v in zip(g_leaves, v_leaves)))
    gradient = g[0] if len(args) == 1 else g

    bar = None

    def f_at(step: complex) -> complex:
        xs = [x + step * v for x, v in zip(leaves, v_leaves)]
        out = _scalar_out(fun(*tree_unflatten(tree, xs)), name)
        if bar is not None:
            bar.update()
        return out

    steps = DEFAULT_STEPS if steps is None else np.asarray(steps, np.float64)
    steps = np.sort(steps)[::-1]
    if steps.size == 0 or steps[-1] <= 0:
        raise ValueError("compare: steps must be positive")
    if progress is None or progress:
        from chainrule.progress import Progress

        evaluations = sum(2 if m == "central" else 1 for m in methods) * steps.size
        bar = Progress(total=evaluations, desc=f"compare ({name})", enable=progress,
                       unit="evaluation")  # fmt: skip
        if not bar.shown:
            bar = None
    f0 = float(np.real(_scalar_out(value, name)))
    res = Comparison(name=name, point=_describe(args, leaves, names), ad=ad, gradient=gradient,
                     value=f0, direction=direction, steps=steps, eps=eps)  # fmt: skip
    floor = eps * abs(ad) + np.finfo(np.float64).tiny
    try:
        _sweep(res, f_at, f0, ad, steps, methods, eps, floor)
    finally:
        if bar is not None:
            bar.close()
    if symbolic:
        _symbolic(res, fun, sympy_fun, args, leaves, tree, v_leaves, names)
    return res


def _sweep(res: Comparison, f_at: Callable, f0: float, ad: float, steps: np.ndarray,
           methods: Sequence[str], eps: float, floor: float) -> None:  # fmt: skip
    """The finite differences of each method at each step, their errors and orders."""
    with np.errstate(all="ignore"):
        for m in methods:
            if m == "complex":
                est = _complex_step(f_at, steps, res.notes)
                if est is None:
                    continue
                noise = np.full_like(steps, floor)
            else:
                fp = np.array([float(np.real(f_at(h))) for h in steps])
                if m == "forward":
                    est = (fp - f0) / steps
                    noise = eps * (np.abs(fp) + abs(f0)) / steps + floor
                else:
                    fm = np.array([float(np.real(f_at(-h))) for h in steps])
                    est = (fp - fm) / (2 * steps)
                    noise = eps * (np.abs(fp) + np.abs(fm)) / (2 * steps) + floor
            err = np.abs(est - ad)
            res.estimates[m], res.errors[m] = est, err
            res.orders[m], res.fit_range[m] = _order(steps, err, noise)
            k = int(np.nanargmin(err)) if np.isfinite(err).any() else 0
            res.best[m] = (float(steps[k]), float(err[k]))


def _complex_step(f_at: Callable, steps: np.ndarray, notes: dict) -> np.ndarray | None:
    """Im f(x + ih) / h for each h, or None with the reason in `notes["complex"]`."""
    out = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            for h in steps:
                z = f_at(1j * h)
                if not np.iscomplexobj(z):
                    notes["complex"] = (
                        f"f returned a real {np.asarray(z).dtype} value for complex input: the "
                        "imaginary part is discarded (abs, real, a cast...), so f is not "
                        "complex-analytic there"
                    )
                    return None
                out.append(float(np.imag(z)) / h)
    except Exception as err:  # anything: the method simply does not apply
        notes["complex"] = f"f does not accept complex input: {type(err).__name__}: {err}"
        return None
    return np.array(out)


# --- SymPy ---------------------------------------------------------------------------------------


def _symbolic(res: Comparison, fun, sympy_fun, args, leaves, tree, v_leaves, names) -> None:
    try:
        import sympy as sp
    except ImportError:
        res.notes["symbolic"] = "skipped: SymPy is not installed (pip install chainrule[sym])"
        return
    try:
        if sympy_fun is not None:
            source = "sympy_fun"
            base = names if len(names) == len(leaves) else [f"x{i}" for i in range(len(leaves))]
            sym_leaves = []
            for b, x in zip(base, leaves):
                if np.ndim(x) == 0:
                    sym_leaves.append(sp.Symbol(b, real=True))
                else:
                    flat = [sp.Symbol(f"{b}_{j}", real=True) for j in range(np.size(x))]
                    sym_leaves.append(np.array(flat, dtype=object).reshape(np.shape(x)))
            expr = sympy_fun(*tree_unflatten(tree, sym_leaves))
            if isinstance(expr, np.ndarray):
                expr = expr.reshape(()).item() if expr.size == 1 else expr
            expr = sp.sympify(expr)
            syms = [s for sl in sym_leaves for s in np.ravel(np.asarray(sl, dtype=object))]
        else:
            import chainrule

            to_sympy = getattr(chainrule, "to_sympy", None)
            if to_sympy is None:
                res.notes["symbolic"] = (
                    "skipped: pass sympy_fun (chainrule.to_sympy is not available)"
                )
                return
            if not (len(leaves) == len(args) and all(np.ndim(x) == 0 for x in leaves)):
                res.notes["symbolic"] = (
                    "skipped: chainrule.to_sympy takes scalar arguments; pass sympy_fun"
                )
                return
            source = "chainrule.to_sympy"
            expr, syms = _from_to_sympy(to_sympy(fun), leaves)
        vals = [sp.Float(float(np.real(x)), 30) for xl in leaves for x in np.ravel(xl)]
        vs = [float(v) for vl in v_leaves for v in np.ravel(vl)]
        subs = dict(zip(syms, vals))
        partials = [sp.diff(expr, s) for s in syms]
        total = sum(
            (sp.Float(v, 30) * d.evalf(30, subs=subs) for v, d in zip(vs, partials) if v),
            sp.Float(0),
        )
        value = float(total)
    except Exception as err:  # a symbolic failure must not hide the numerical comparison
        res.notes["symbolic"] = f"skipped: {type(err).__name__}: {err}"
        return
    derivative = partials[0] if len(partials) == 1 else partials
    res.symbolic = SymbolicCheck(derivative=derivative, value=value, error=abs(res.ad - value),
                                 source=source)  # fmt: skip


def _from_to_sympy(out: Any, leaves: list) -> tuple[Any, list]:
    """(expression, symbols in the order of the inputs) from `to_sympy(fun)`'s result.

    `to_sympy` returns a `Symbolic` with ``.expr`` and ``.symbols`` (one per argument); a pair
    ``(expr, symbols)`` or a bare expression of at most one symbol are accepted too. Only the
    expression is used: it is differentiated by SymPy itself, not through `Symbolic.gradient`
    (which chainrule's own rules build), so that the check stays independent of AD.
    """
    import sympy as sp

    syms = None
    if isinstance(out, tuple) and len(out) == 2:
        out, syms = out
    elif hasattr(out, "expr"):
        out, syms = out.expr, getattr(out, "symbols", None)
    expr = sp.sympify(out)
    n = sum(int(np.size(x)) for x in leaves)
    if syms is None:
        free = sorted(expr.free_symbols, key=str)
        if n != 1 or len(free) > 1:
            raise ValueError("cannot match chainrule.to_sympy's symbols to the inputs; pass "
                             "sympy_fun")  # fmt: skip
        syms = free or [sp.Symbol("x")]
    syms = [s for s in np.ravel(np.asarray(syms, dtype=object))]
    if len(syms) != n:
        raise ValueError(f"chainrule.to_sympy gave {len(syms)} symbols for {n} scalar inputs")
    return expr, syms
