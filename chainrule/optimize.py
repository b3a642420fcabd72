"""`minimize`: SciPy's `scipy.optimize.minimize` with chainrule's exact derivatives.

`minimize(fun, x0, ...)` takes the same problem SciPy takes, with `fun` written in NumPy or
`chainrule.numpy` over a pytree of parameters, and hands SciPy what each method can use:

- the gradient, always exactly and with the value (`jac=True`: one forward and one backward
  pass per point, through `cr.value_and_grad`);
- the Hessian (`cr.hessian`, forward over reverse) for `dogleg`, `trust-exact` and
  `trust-ncg`, or Hessian-vector products (`cr.hvp`, without forming the Hessian) for
  `Newton-CG`, `trust-krylov` and `trust-constr`; `hess=` chooses otherwise;
- the Jacobians of the constraints (`{'type': 'eq' | 'ineq', 'fun': c}` or
  `NonlinearConstraint(c, lb, ub)`, `c` also over the pytree) for `SLSQP` and `trust-constr`,
  and for `trust-constr` the constraints' Hessians as exact products
  (a `LinearOperator` on `cr.hvp`);
- nothing to the derivative-free methods (`Nelder-Mead`, `Powell`, `COBYLA`, `COBYQA`), which
  call `fun` on plain NumPy arrays, at NumPy speed.

The parameters are flattened into one float64 vector for SciPy and the result's `x` is given
back with `x0`'s structure (`res.x_flat` keeps the vector); `res.loss_history` holds the loss at
`x0` and after each iteration, `plot_history(res)` draws it, `progress=True` shows it live.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.core.pytree import tree_flatten, tree_unflatten
from chainrule.tree_util import keystr, tree_flatten_with_path

__all__ = ["minimize", "plot_history"]

#: SciPy's methods, by what they use (lower case, as SciPy compares them)
_DERIVATIVE_FREE = {"nelder-mead", "powell", "cobyla", "cobyqa"}
_HESS_METHODS = {"newton-cg", "dogleg", "trust-ncg", "trust-constr", "trust-krylov",
                 "trust-exact"}  # fmt: skip
_HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-constr", "trust-krylov"}
#: what `hess=None` gives each method that uses second derivatives
_DEFAULT_HESS = {"dogleg": "hessian", "trust-exact": "hessian", "trust-ncg": "hessian",
                 "newton-cg": "hvp", "trust-krylov": "hvp", "trust-constr": "hvp"}  # fmt: skip
_BOUNDS_METHODS = {"nelder-mead", "powell", "l-bfgs-b", "tnc", "slsqp", "trust-constr",
                   "cobyla", "cobyqa"}  # fmt: skip
_CONSTRAINT_METHODS = {"cobyla", "cobyqa", "slsqp", "trust-constr"}
_SCIPY_NAMES = ("Nelder-Mead", "Powell", "CG", "BFGS", "Newton-CG", "L-BFGS-B", "TNC", "COBYLA",
                "COBYQA", "SLSQP", "trust-constr", "dogleg", "trust-ncg", "trust-exact",
                "trust-krylov")  # fmt: skip
_SCIPY_METHODS = {m.lower() for m in _SCIPY_NAMES}


def _new_callback_methods() -> set:
    """The methods that call `callback(intermediate_result)` (the others call
    `callback(xk)`): TNC's is the old form in every SciPy; SLSQP, COBYLA and COBYQA took the
    new one in SciPy 1.12 to 1.15."""
    try:
        from scipy.optimize._minimize import MINIMIZE_METHODS_NEW_CB
    except ImportError:  # pragma: no cover - a SciPy without the list
        return _SCIPY_METHODS - {"tnc", "slsqp", "cobyla", "cobyqa"}
    return set(MINIMIZE_METHODS_NEW_CB)


def _scipy_optimize():
    try:
        import scipy.optimize as so
    except ImportError:  # pragma: no cover - scipy is installed wherever this is tested
        raise ImportError(
            "chainrule.optimize.minimize needs SciPy: pip install scipy (or chainrule[scipy])"
        ) from None
    return so


# -- the parameters as one vector ---------------------------------------------------------


class _Flat:
    """The pytree `x0` as one float64 vector: `vector(tree)` and `tree(z)` (and `traced(z)`,
    the same on a traced vector, for the Hessian and the constraints' Jacobians)."""

    def __init__(self, x0: Any):
        with_path, self.treedef = tree_flatten_with_path(x0)
        if not with_path:
            raise ValueError("minimize: x0 has no parameters (an empty pytree)")
        self.shapes, self.arrays, self.slices = [], [], []
        start, leaves = 0, []
        for path, leaf in with_path:
            where = "x0" + keystr(path)
            try:
                a = np.asarray(leaf)
            except Exception as e:  # noqa: BLE001 - report which parameter, whatever it was
                raise TypeError(f"minimize: {where} is not an array ({type(leaf).__name__})") from e
            kind = a.dtype.kind
            if kind == "c":
                raise TypeError(
                    f"minimize: {where} is complex ({a.dtype}); SciPy minimizes over real "
                    "numbers: pass the real and imaginary parts as two real parameters"
                )
            if kind == "b" or kind not in "fiu":
                raise TypeError(
                    f"minimize: {where} must hold real numbers, got dtype {a.dtype} "
                    f"({type(leaf).__name__})"
                )
            self.shapes.append(a.shape)
            self.arrays.append(isinstance(leaf, np.ndarray) or a.ndim > 0)
            self.slices.append(slice(start, start + a.size))
            start += a.size
            leaves.append(a)
        self.n = start
        self.x0 = self.vector(leaves)

    def vector(self, leaves: Sequence) -> np.ndarray:
        parts = [np.ravel(np.asarray(v, dtype=np.float64)) for v in leaves]
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def vector_of(self, tree: Any) -> np.ndarray:
        return self.vector(tree_flatten(tree)[0])

    def tree(self, z: np.ndarray) -> Any:
        """The pytree of `z` (views into `z`): arrays where x0 had arrays, np.float64 scalars
        where x0 had Python or NumPy scalars."""
        leaves = [
            z[s].reshape(shape) if is_array else z[s.start]
            for s, shape, is_array in zip(self.slices, self.shapes, self.arrays)
        ]
        return tree_unflatten(self.treedef, leaves)

    def traced(self, z: Any) -> Any:
        import chainrule.numpy as cnp

        if len(self.slices) == 1:
            leaves = [cnp.reshape(z, self.shapes[0])]
        else:
            leaves = [cnp.reshape(z[s], shape) for s, shape in zip(self.slices, self.shapes)]
        return tree_unflatten(self.treedef, leaves)


def _loss_checked(fun: Callable, args: tuple) -> Callable:
    """`fun(tree, *args)`, refusing a result that is not one number."""

    def loss(tree: Any) -> Any:
        out = fun(tree, *args)
        shape = getattr(out, "shape", None)
        if shape is None:
            if isinstance(out, (int, float, np.number)) and not isinstance(out, bool):
                return out
            raise TypeError(
                f"minimize: fun must return a scalar loss, but it returned a {type(out).__name__}"
            )
        if any(d != 1 for d in shape):
            raise TypeError(
                f"minimize: fun must return a scalar loss, but it returned shape {tuple(shape)}"
                " (reduce it, e.g. with cnp.sum or cnp.mean)"
            )
        return out

    loss.__name__ = getattr(fun, "__name__", "fun")
    return loss


def _float(v: Any) -> float:
    return float(np.asarray(v, dtype=np.float64).reshape(()))


class _Objective:
    """The loss and its derivatives on SciPy's flat vector, with a small memory of the last
    points evaluated (for the history) and counts of the passes made."""

    def __init__(self, fun: Callable, args: tuple, flat: _Flat, jit: bool):
        from chainrule.transforms.jacobians import hessian, hvp
        from chainrule.transforms.jit import jit as cr_jit
        from chainrule.transforms.reverse import value_and_grad

        self.flat = flat
        loss = _loss_checked(fun, args)
        self._loss = loss
        maybe_jit = cr_jit if jit else (lambda f: f)
        self._value = maybe_jit(loss)
        self._vg = maybe_jit(value_and_grad(loss))
        self._hess = maybe_jit(hessian(lambda z: loss(flat.traced(z))))
        self._hvp = maybe_jit(lambda t, v: hvp(loss, (t,), (v,)))
        self.nfev = self.ngev = self.nhev = self.nhpev = 0
        self.recent: dict[bytes, float] = {}
        self.first: float | None = None

    def _remember(self, z: np.ndarray, v: float) -> None:
        if self.first is None:
            self.first = v
        self.recent[z.tobytes()] = v
        if len(self.recent) > 32:
            del self.recent[next(iter(self.recent))]

    def value(self, z: np.ndarray) -> float:
        z = np.array(z, dtype=np.float64)
        v = _float(self._value(self.flat.tree(z)))
        self.nfev += 1
        self._remember(z, v)
        return v

    def value_and_grad(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.array(z, dtype=np.float64)
        v, g = self._vg(self.flat.tree(z))
        v = _float(v)
        self.nfev += 1
        self.ngev += 1
        self._remember(z, v)
        return v, self.flat.vector_of(g)

    def hess(self, z: np.ndarray, *_: Any) -> np.ndarray:
        z = np.array(z, dtype=np.float64)
        self.nhev += 1
        return np.asarray(self._hess(z), dtype=np.float64).reshape(self.flat.n, self.flat.n)

    def hessp(self, z: np.ndarray, p: np.ndarray, *_: Any) -> np.ndarray:
        z = np.array(z, dtype=np.float64)
        p = np.array(p, dtype=np.float64)
        self.nhpev += 1
        return self.flat.vector_of(self._hvp(self.flat.tree(z), self.flat.tree(p)))

    def loss_at(self, z: np.ndarray) -> float:
        """The loss at a point SciPy reports (from memory; one forward pass if forgotten)."""
        z = np.asarray(z, dtype=np.float64)
        v = self.recent.get(z.tobytes())
        if v is None:
            v = _float(self._loss(self.flat.tree(np.array(z))))
        return v


# -- constraints and bounds ---------------------------------------------------------------


class _ConstraintFunction:
    """A constraint `c(tree, *args)` on the flat vector: its value, its Jacobian (reverse or
    forward mode, whichever needs fewer passes) and its Hessians' products."""

    def __init__(self, fun: Callable, args: tuple, flat: _Flat, where: str, jit: bool):
        from chainrule.transforms.jacobians import hvp, jacfwd, jacrev
        from chainrule.transforms.jit import jit as cr_jit
        import chainrule.numpy as cnp

        if not callable(fun):
            raise TypeError(f"minimize: {where} must be callable, got {type(fun).__name__}")
        self.flat, self.m = flat, None
        maybe_jit = cr_jit if jit else (lambda f: f)
        on_vector = lambda z: cnp.ravel(fun(flat.traced(z), *args))
        self._value = maybe_jit(lambda t: fun(t, *args))
        self._jacrev = maybe_jit(jacrev(on_vector))
        self._jacfwd = maybe_jit(jacfwd(on_vector))
        weighted = lambda t, v: cnp.sum(v * cnp.ravel(fun(t, *args)))
        self._hvp = maybe_jit(lambda t, v, p: hvp(lambda u: weighted(u, v), (t,), (p,)))

    def __call__(self, z: np.ndarray, *_: Any) -> np.ndarray:
        z = np.array(z, dtype=np.float64)
        out = np.ravel(np.asarray(self._value(self.flat.tree(z)), dtype=np.float64))
        self.m = out.size
        return out

    def jac(self, z: np.ndarray, *_: Any) -> np.ndarray:
        z = np.array(z, dtype=np.float64)
        if self.m is None:
            self(z)
        jac = self._jacrev if self.m <= self.flat.n else self._jacfwd
        return np.asarray(jac(z), dtype=np.float64).reshape(self.m, self.flat.n)

    def hess(self, z: np.ndarray, v: np.ndarray) -> Any:
        from scipy.sparse.linalg import LinearOperator

        z = np.array(z, dtype=np.float64)
        v = np.array(v, dtype=np.float64)
        tree = self.flat.tree(z)
        n = self.flat.n

        def matvec(p: np.ndarray) -> np.ndarray:
            p = np.array(np.ravel(p), dtype=np.float64)
            return self.flat.vector_of(self._hvp(tree, v, self.flat.tree(p)))

        return LinearOperator((n, n), matvec=matvec, dtype=np.float64)


def _user_jac(jac: Callable, flat: _Flat) -> Callable:
    """A Jacobian the user wrote (called with the pytree, returning the flat Jacobian)."""
    return lambda z, *a: np.asarray(jac(flat.tree(np.array(z, dtype=np.float64)), *a))


def _constraints(constraints: Any, flat: _Flat, meth: str, jit: bool) -> Any:
    so = _scipy_optimize()
    if constraints is None:
        return ()
    if isinstance(constraints, (dict, so.NonlinearConstraint, so.LinearConstraint)):
        constraints = [constraints]
    if not isinstance(constraints, (list, tuple)):
        raise TypeError(
            "minimize: constraints must be a dict, a NonlinearConstraint, a LinearConstraint "
            f"or a list of them, got {type(constraints).__name__}"
        )
    derivatives = meth in ("slsqp", "trust-constr", "_custom")
    out = []
    for i, con in enumerate(constraints):
        where = f"constraints[{i}]"
        if isinstance(con, so.LinearConstraint):
            out.append(con)  # A x on the flat vector: nothing to differentiate
        elif isinstance(con, dict):
            kind = con.get("type")
            if kind not in ("eq", "ineq"):
                raise ValueError(f"minimize: {where}['type'] must be 'eq' or 'ineq', got {kind!r}")
            if "fun" not in con:
                raise ValueError(f"minimize: {where} has no 'fun'")
            args = con.get("args", ())
            args = args if isinstance(args, tuple) else (args,)
            c = _ConstraintFunction(con["fun"], args, flat, f"{where}['fun']", jit)
            user_jac = con.get("jac")
            jac = _user_jac(user_jac, flat) if callable(user_jac) else c.jac
            if meth == "trust-constr":  # as SciPy would convert it, with exact derivatives
                ub = 0.0 if kind == "eq" else np.inf
                hess = c.hess if not callable(user_jac) else so.BFGS()
                out.append(so.NonlinearConstraint(c, 0.0, ub, jac=jac, hess=hess))
            else:
                new = {"type": kind, "fun": c}
                if derivatives:
                    new["jac"] = jac
                out.append(new)
        elif isinstance(con, so.NonlinearConstraint):
            c = _ConstraintFunction(con.fun, (), flat, f"{where}.fun", jit)
            jac = _user_jac(con.jac, flat) if callable(con.jac) else c.jac
            if callable(con.hess):
                user_hess = con.hess
                hess = lambda z, v, h=user_hess: h(flat.tree(np.array(z, dtype=np.float64)), v)
            elif con.hess is None or meth != "trust-constr":
                hess = con.hess
            else:  # SciPy's default quasi-Newton update or finite differences: exact instead
                hess = c.hess
            out.append(so.NonlinearConstraint(
                c, con.lb, con.ub, jac=jac if derivatives else con.jac, hess=hess,
                keep_feasible=con.keep_feasible,
            ))  # fmt: skip
        else:
            raise TypeError(
                f"minimize: {where} must be a dict {{'type': 'eq' | 'ineq', 'fun': f}}, a "
                f"NonlinearConstraint or a LinearConstraint, got {type(con).__name__}"
            )
    return out


def _bounds(bounds: Any, flat: _Flat) -> Any:
    """SciPy's bounds on the flat vector, from SciPy's forms or a pytree of (lo, hi) pairs."""
    so = _scipy_optimize()
    if bounds is None:
        return None
    n = flat.n
    if isinstance(bounds, so.Bounds):
        lb, ub = (np.asarray(b, dtype=np.float64) for b in (bounds.lb, bounds.ub))
        for name, b in (("lb", lb), ("ub", ub)):
            if b.ndim > 0 and b.size not in (1, n):
                raise ValueError(
                    f"minimize: bounds.{name} has {b.size} entries, but x0 has {n} parameters"
                )
        keep = np.asarray(bounds.keep_feasible)
        flat_or_scalar = lambda b: np.ravel(b) if b.ndim else b
        return so.Bounds(flat_or_scalar(lb), flat_or_scalar(ub), flat_or_scalar(keep))
    single_leaf = flat.treedef.num_leaves == 1 and not flat.treedef.children()
    pairs = None
    if not single_leaf:
        try:
            pairs = flat.treedef.flatten_up_to(bounds)
        except (ValueError, TypeError):
            pairs = None
        if pairs is not None and not all(_is_pair(p) for p in pairs):
            pairs = None
    elif _is_pair(bounds) and not all(_is_pair(p) for p in bounds):
        pairs = [bounds]  # one (lo, hi) pair for the whole array
    if pairs is None:  # SciPy's own form: one (lo, hi) pair per entry of the flat vector
        if (
            isinstance(bounds, (list, tuple))
            and len(bounds) == n
            and all(_is_pair(p) for p in bounds)
        ):
            return list(bounds)
        raise ValueError(
            "minimize: bounds must be a scipy.optimize.Bounds, a sequence of one (lo, hi) pair "
            f"per parameter ({n} here), or a pytree like x0 with a (lo, hi) pair in place of "
            "each array (None for no bound)"
        )
    lows, highs = [], []
    for (lo, hi), shape in zip(pairs, flat.shapes):
        lows.append(np.broadcast_to(-np.inf if lo is None else np.asarray(lo, float), shape))
        highs.append(np.broadcast_to(np.inf if hi is None else np.asarray(hi, float), shape))
    return so.Bounds(flat.vector(lows), flat.vector(highs))


def _is_pair(p: Any) -> bool:
    return isinstance(p, (list, tuple)) and len(p) == 2


# -- progress -----------------------------------------------------------------------------


def _callback_style(callback: Callable) -> str:
    try:
        params = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):
        return "x"
    return "result" if params == {"intermediate_result"} else "x"


# -- minimize -----------------------------------------------------------------------------


def minimize(
    fun: Callable,
    x0: Any,
    args: Any = (),
    method: str | Callable | None = None,
    *,
    hess: Any = None,
    bounds: Any = None,
    constraints: Any = (),
    tol: float | None = None,
    callback: Callable | None = None,
    options: dict | None = None,
    jit: bool = False,
    progress: bool | None = None,
) -> Any:
    """Minimize `fun(x, *args)` with `scipy.optimize.minimize`, given chainrule's exact
    derivatives.

    - `fun(x, *args)` returns a scalar loss; `x` has the structure of `x0`, a float or an array
      or a pytree of them (dict, list, tuple, ...), and `fun` may use NumPy's functions or
      `chainrule.numpy`. `args` are passed through as SciPy passes them.
    - `x0` is flattened into one float64 vector for SciPy; integer entries are converted to
      float64 (as SciPy does), float32 ones computed in float64; complex and non-numeric
      entries are a TypeError naming the entry.
    - `method`: any of SciPy's (`None` picks as SciPy does: BFGS, or L-BFGS-B with bounds, or
      SLSQP with constraints) or a callable (SciPy's custom method). Methods with derivatives
      get the value and the gradient from one forward and one backward pass (`jac=True`).
    - `hess`: `None` gives the full Hessian (`cr.hessian`) to dogleg, trust-exact and
      trust-ncg, Hessian-vector products (`cr.hvp`) to Newton-CG, trust-krylov and
      trust-constr; `"hessian"` or `"hvp"` chooses for a method that takes both; `False`
      gives neither (the method's own approximation); SciPy's strategies (`"2-point"`,
      `scipy.optimize.BFGS()`) pass through.
    - `bounds`: `scipy.optimize.Bounds` or SciPy's list of (lo, hi) pairs, on the flat vector;
      or a pytree like `x0` with a (lo, hi) pair in place of each array (None: unbounded).
    - `constraints`: dicts `{'type': 'eq' | 'ineq', 'fun': c, 'args': ()}`,
      `NonlinearConstraint(c, lb, ub)` (with `c(x)` over the pytree; their Jacobians, and for
      trust-constr their Hessian products, come from chainrule), `LinearConstraint` on the
      flat vector.
    - `callback(x)` receives the pytree, `callback(intermediate_result)` (SciPy's new form)
      an `OptimizeResult` with `x` as a pytree, `x_flat` and `fun`; StopIteration stops.
    - `jit=True` compiles the loss and its derivatives with `cr.jit` (worth it for a loss of
      many operations evaluated many times; `fun` must then be traceable: no Python `if` on
      values). Off by default: tracing costs time, and eager evaluation works for any `fun`.
    - `progress=True` shows the iteration and the loss as it goes (tqdm's bar when tqdm is
      installed, else one line rewritten in place on stderr); None (the default) follows
      `chainrule.progress.enabled()` (off unless turned on, as in the tour).

    Returns SciPy's `OptimizeResult`, with `x` in the structure of `x0`, `x_flat` the vector,
    `loss_history` (the loss at `x0`, then after each iteration) and `njev`/`nhev` as counted.

    >>> from chainrule.optimize import minimize
    >>> res = minimize(lambda x: x**3 + x**2 - 6*x + 1, 3.0, method="trust-exact")
    >>> round(float(res.x), 8), res.success
    (1.11963298, True)
    """
    so = _scipy_optimize()
    if not isinstance(args, tuple):
        args = (args,)
    if not callable(fun):
        raise TypeError(f"minimize: fun must be callable, got {type(fun).__name__}")
    flat = _Flat(x0)
    has_constraints = bool(constraints) if isinstance(constraints, (list, tuple)) else (
        constraints is not None
    )  # fmt: skip
    if method is None:
        method = "SLSQP" if has_constraints else ("L-BFGS-B" if bounds is not None else "BFGS")
    if callable(method):
        meth, name = "_custom", getattr(method, "__name__", "custom")
    elif isinstance(method, str):
        meth, name = method.lower(), method
        if meth not in _SCIPY_METHODS:
            hint = ""
            if meth in ("brent", "bounded", "golden"):
                hint = " (a method of scipy.optimize.minimize_scalar)"
            raise ValueError(
                f"minimize: unknown method {method!r}{hint}; method must be one of SciPy's: "
                + ", ".join(_SCIPY_NAMES)
                + ", or a callable"
            )
    else:
        raise TypeError(f"minimize: method must be a string or a callable, got {method!r}")
    if bounds is not None and meth not in _BOUNDS_METHODS | {"_custom"}:
        raise ValueError(
            f"minimize: method {name!r} does not take bounds; use L-BFGS-B, TNC, SLSQP, "
            "trust-constr, Powell, Nelder-Mead, COBYLA or COBYQA"
        )
    if has_constraints and meth not in _CONSTRAINT_METHODS | {"_custom"}:
        raise ValueError(
            f"minimize: method {name!r} does not take constraints; use SLSQP, trust-constr, "
            "COBYLA or COBYQA"
        )

    objective = _Objective(fun, args, flat, jit)
    kwargs: dict[str, Any] = {}
    if meth in _DERIVATIVE_FREE:
        if hess is not None and hess is not False:
            raise ValueError(f"minimize: method {name!r} uses no derivatives; leave hess unset")
        scipy_fun = objective.value
    else:
        scipy_fun, kwargs["jac"] = objective.value_and_grad, True
        kwargs.update(_hessian_kwargs(hess, meth, name, objective))
    if bounds is not None:
        kwargs["bounds"] = _bounds(bounds, flat)
    if has_constraints:
        kwargs["constraints"] = _constraints(constraints, flat, meth, jit)

    history: list[float] = []
    bar = None
    if progress is None or progress:
        from chainrule.progress import Progress

        maxiter = (options or {}).get("maxiter")
        bar = Progress(total=maxiter if type(maxiter) is int and maxiter >= 0 else None,
                       desc=f"minimize ({name})", enable=progress)  # fmt: skip
        if not bar.shown:
            bar = None
    style = _callback_style(callback) if callback is not None else None

    def record(xk: np.ndarray, loss: float | None, result: Any = None) -> None:
        xk = np.asarray(xk, dtype=np.float64)
        fresh = not history
        if fresh and objective.first is not None:
            history.append(objective.first)
        loss = objective.loss_at(xk) if loss is None else _float(loss)
        # trust-constr and COBYQA report x0 itself first: the history has it already
        if not (fresh and np.array_equal(xk, flat.x0)):
            history.append(loss)
            if bar is not None:
                bar.log(loss)
                bar.update()
        if callback is None:
            return
        x_tree = flat.tree(np.array(xk, dtype=np.float64))
        if style == "result":
            info = so.OptimizeResult(result if result is not None else {})
            info.x, info.x_flat, info.fun = x_tree, np.array(xk, dtype=np.float64), loss
            return callback(intermediate_result=info)
        if meth == "trust-constr":
            return callback(x_tree, result)
        return callback(x_tree)

    if meth not in _new_callback_methods() | {"_custom"}:

        def scipy_callback(xk):
            return record(xk, None)

    else:

        def scipy_callback(intermediate_result):
            r = intermediate_result
            return record(r.x, getattr(r, "fun", None), r)

    try:
        res = so.minimize(
            scipy_fun, flat.x0, args=(), method=method, tol=tol, callback=scipy_callback,
            options=options, **kwargs,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    if not history and objective.first is not None:
        history.append(objective.first)
    x_flat = np.array(np.atleast_1d(res.x), dtype=np.float64)
    res.x_flat = x_flat
    res.x = flat.tree(x_flat.copy())
    res.loss_history = np.array(history, dtype=np.float64)
    if meth not in _DERIVATIVE_FREE:
        res.njev = objective.ngev
    if objective.nhev or objective.nhpev:
        res.nhev = objective.nhev + objective.nhpev
    return res


def _hessian_kwargs(hess: Any, meth: str, name: str, objective: _Objective) -> dict:
    """What `hess=` gives SciPy for this method: `hess`, `hessp` or nothing."""
    if hess is False:
        if meth in ("dogleg", "trust-exact", "trust-ncg", "trust-krylov"):
            raise ValueError(f"minimize: method {name!r} needs second derivatives: hess=False "
                             "leaves it none")  # fmt: skip
        return {}
    if hess is None:
        kind = _DEFAULT_HESS.get(meth)
        if kind is None:
            return {}
    elif isinstance(hess, str) and hess in ("hessian", "hvp"):
        kind = hess
        if meth not in _HESS_METHODS | {"_custom"}:
            raise ValueError(
                f"minimize: method {name!r} uses no second derivatives; hess={hess!r} is for "
                "Newton-CG, dogleg, trust-ncg, trust-krylov, trust-exact and trust-constr"
            )
        if kind == "hvp" and meth not in _HESSP_METHODS | {"_custom"}:
            raise ValueError(
                f"minimize: method {name!r} needs the full Hessian, not products: use "
                "hess='hessian' (or leave hess unset)"
            )
    elif callable(hess) or isinstance(hess, str) or _is_update_strategy(hess):
        if meth not in _HESS_METHODS | {"_custom"}:
            raise ValueError(f"minimize: method {name!r} uses no second derivatives (hess=)")
        return {"hess": hess}  # SciPy's own ("2-point", BFGS(), a callable on the vector)
    else:
        raise ValueError(
            "minimize: hess must be None, 'hessian', 'hvp', False, or one of SciPy's (a "
            f"finite-difference scheme, a HessianUpdateStrategy), got {hess!r}"
        )
    return {"hess": objective.hess} if kind == "hessian" else {"hessp": objective.hessp}


def _is_update_strategy(h: Any) -> bool:
    return isinstance(h, _scipy_optimize().HessianUpdateStrategy)


# -- the history --------------------------------------------------------------------------


def plot_history(res: Any, path: Any = None, *, logy: bool | None = None, title: str | None = None):
    """Draws the loss against the iteration, from `res.loss_history` (or a sequence of losses),
    and saves the picture to `path` when given (any format matplotlib writes). The loss axis is
    logarithmic when every loss is positive and they span more than two decades, unless `logy`
    says otherwise. Returns the `matplotlib.figure.Figure`.
    """
    losses = getattr(res, "loss_history", res)
    losses = np.asarray(losses, dtype=np.float64).ravel()
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plot_history needs matplotlib: pip install matplotlib (or chainrule[viz])"
        ) from None
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(np.arange(losses.size), losses, marker="." if losses.size < 60 else None)
    if logy is None:
        positive = losses.size > 0 and bool(np.all(losses > 0))
        logy = positive and losses.max() > 100 * losses.min()
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title or "minimize: loss by iteration")
    ax.grid(True, alpha=0.3)
    if path is not None:
        fig.savefig(path)
    return fig
