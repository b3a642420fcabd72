"""`chainrule.numpy.random`: NumPy's random API, each draw the random primitive.

``default_rng(seed)`` gives a `Generator` with the methods of NumPy's: `random`,
`standard_normal`, `normal`, `uniform`, `integers`, `choice`, `permutation`, `exponential`,
`gamma`, `binomial`, `poisson`, and every other distribution with scalar parameters. Called
on plain values, a method returns what NumPy's Generator returns for the same seed, bit for
bit. Inside ``cr.jit`` (or ``cr.make_graph``) a draw is staged, never frozen: the compiled
function draws afresh at each call, from the generator as it is then, so a jitted function
gives the numbers the eager one gives for the same sequence of calls. Under ``cr.vmap`` each
example draws its own numbers; under ``cr.checkpoint`` the recomputation sees the draws of
the first run.

`normal`, `uniform`, `exponential` and `gamma` (in its scale) are differentiable in their
parameters: they are NumPy's own formulas over a standard draw (``loc + scale *
standard_normal()``), reparametrised. `choice` and `permutation` of an array are
differentiable in the array. The other distributions' parameters carry no derivative (an
error says so). `dirichlet`, `multinomial`, `multivariate_normal`, `multivariate_hypergeometric`,
`permuted`, `bytes` and the in-place `shuffle` are NumPy's, drawn at once: they are refused
inside jit, vmap and checkpoint.

The module's functions (``normal(size=3)``, `rand`, `randn`, `randint`, `seed`, ...) draw
from chainrule's default Generator, the one behind ``cr.rand`` and ``cr.randn``, seeded by
``cr.manual_seed(s)`` or ``seed(s)`` (not from NumPy's legacy global `RandomState`). The names
this module lacks (`RandomState`, `get_state`, ...) are NumPy's.

A `Generator` passed to a jitted function is static, keyed by identity: the compiled function
draws from it at each call.

>>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
>>> bool((cnp.random.default_rng(0).normal(size=3) ==
...       np.random.default_rng(0).normal(size=3)).all())
True
>>> f = cr.jit(lambda x: x + cnp.random.normal(size=x.shape))
>>> bool((f(np.zeros(2)) != f(np.zeros(2))).all())
True
"""

from __future__ import annotations

import inspect
import operator
from typing import Any

import numpy as np
from numpy.random import (  # noqa: F401  (NumPy's bit generators and seeds)
    MT19937, PCG64, PCG64DXSM, SFC64, BitGenerator, Philox, RandomState, SeedSequence,
)

from chainrule.core import ops as _ops
from chainrule.core.pytree import register_static
from chainrule.rules import random as _random
from chainrule.rules.random import Source

_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)


def _size(size: Any) -> tuple | None:
    if size is None:
        return None
    if isinstance(size, (tuple, list)):
        return tuple(operator.index(s) for s in size)
    return (operator.index(size),)


def _param(x: Any) -> Any:
    """A distribution parameter as an operand (a list becomes an array)."""
    return _ops.asarray(x) if isinstance(x, (list, tuple)) else x


def _draw(source: Source, dist: str, args: tuple = (), size: Any = None, dtype: Any = _F64,
          kw: tuple = ()) -> Any:  # fmt: skip
    """The draw of `dist` (`kw`: its static keyword arguments, as sorted pairs)."""
    return _random.draw(source, tuple(_param(a) for a in args) if args else (), dist,
                        _size(size), np.dtype(dtype), kw)  # fmt: skip


def _float_dtype(dtype: Any, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), _F64):
        raise TypeError(f"Unsupported dtype {dt!r} for {name}")
    return dt


def _no_out(out: Any) -> None:
    if out is not None:
        raise TypeError("chainrule.numpy.random: out= is not supported (the result is a new "
                        "array)")  # fmt: skip


def _out_size(size: Any, *params: Any) -> tuple | None:
    """The size of the standard draw under a distribution with these parameters: `size`, or
    their broadcast shape (None for scalars, as NumPy: a Python float)."""
    size = _size(size)
    shapes = {() if isinstance(p, (int, float)) else np.shape(p) for p in params}
    shape = shapes.pop() if len(shapes) == 1 else np.broadcast_shapes(*shapes)
    if size is None:
        return shape or None
    if np.broadcast_shapes(size, shape) != size:
        raise ValueError(f"shape mismatch: parameters of shape {shape} cannot be broadcast to "
                         f"size {size}")  # fmt: skip
    return size


def _like_numpy(out: Any, size: tuple | None) -> Any:
    """A scalar draw as NumPy gives it: a Python float (not a NumPy scalar)."""
    return float(out) if size is None and isinstance(out, (float, np.floating)) else out


def _non_negative(x: Any, name: str) -> None:
    """NumPy's check of a parameter (on values; a traced one is not checked)."""
    if isinstance(x, (int, float)):
        bad = x < 0
    else:
        bad = not _ops._traced(x) and np.any(np.less(x, 0))
    if bad:
        raise ValueError(f"{name} < 0")


def _f64(x: Any) -> Any:
    """`x` as float64 (NumPy converts a distribution's parameters before computing)."""
    if isinstance(x, (bool, int, float, np.generic)):
        return float(x)
    return x if x.dtype == _F64 else _ops.astype(x, _F64)


def _refuse_traced(name: str, args: Any) -> None:
    if _ops._traced(args) or _random.in_flight():
        raise NotImplementedError(
            f"chainrule.numpy.random: Generator.{name} is NumPy's, drawn at once: it cannot be "
            "staged, batched or replayed (inside cr.jit, cr.vmap or cr.checkpoint, or on "
            "traced values). Use a distribution chainrule draws through its primitive "
            "(normal, uniform, integers, choice, permutation, binomial, ...)"
        )


class Generator(Source):
    """NumPy's ``numpy.random.Generator``, drawing through the random primitive (see the
    module). Built from a bit generator as NumPy's, or from a NumPy Generator (sharing its
    state); usually made by `default_rng`.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> g = cnp.random.default_rng(1)
    >>> bool(g.integers(10, size=4).tolist() == np.random.default_rng(1).integers(10, size=4)
    ...      .tolist())
    True
    """

    __slots__ = ()

    def __init__(self, bit_generator: Any):
        if isinstance(bit_generator, Source):
            gen = bit_generator.gen
        elif isinstance(bit_generator, np.random.Generator):
            gen = bit_generator
        else:
            gen = np.random.Generator(bit_generator)
        super().__init__(gen)

    def __repr__(self) -> str:
        return f"Generator({type(self.gen.bit_generator).__name__})"

    @property
    def bit_generator(self) -> BitGenerator:
        """The NumPy bit generator underneath."""
        return self.gen.bit_generator

    def spawn(self, n_children: int) -> list:
        """Independent child generators (NumPy's `spawn`)."""
        return [Generator(g) for g in self.gen.spawn(n_children)]

    # -- the standard draws: primitives --------------------------------------------------------

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        """Uniform floats in [0, 1).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> a = cnp.random.default_rng(0).random(3)
        >>> bool((a == np.random.default_rng(0).random(3)).all())
        True
        """
        _no_out(out)
        return _draw(self, "random", size=size, dtype=_float_dtype(dtype, "random"))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        """Standard normal floats.

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> a = cnp.random.default_rng(0).standard_normal(3)
        >>> bool((a == np.random.default_rng(0).standard_normal(3)).all())
        True
        """
        _no_out(out)
        return _draw(self, "standard_normal", size=size,
                     dtype=_float_dtype(dtype, "standard_normal"))  # fmt: skip

    def standard_exponential(self, size: Any = None, dtype: Any = np.float64,
                             method: str = "zig", out: Any = None) -> Any:  # fmt: skip
        """Standard exponential floats.

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> a = cnp.random.default_rng(0).standard_exponential(3)
        >>> bool((a == np.random.default_rng(0).standard_exponential(3)).all())
        True
        """
        _no_out(out)
        if method not in ("zig", "inv"):
            raise ValueError("'method' argument must be either 'zig' or 'inv'")
        return _draw(self, "standard_exponential", (), size,
                     _float_dtype(dtype, "standard_exponential"), (("method", method),))

    def standard_gamma(self, shape: Any, size: Any = None, dtype: Any = np.float64,
                       out: Any = None) -> Any:  # fmt: skip
        """Standard gamma floats of shape `shape` (no derivative in `shape`).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> a = cnp.random.default_rng(0).standard_gamma(2.0, 3)
        >>> bool((a == np.random.default_rng(0).standard_gamma(2.0, 3)).all())
        True
        """
        _no_out(out)
        return _draw(self, "standard_gamma", (shape,), size=size,
                     dtype=_float_dtype(dtype, "standard_gamma"))  # fmt: skip

    def integers(self, low: Any, high: Any = None, size: Any = None, dtype: Any = np.int64,
                 endpoint: bool = False) -> Any:  # fmt: skip
        """Integers in [low, high) ([0, low) without `high`; `endpoint` includes it).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cnp.random.default_rng(0).integers(0, 10, size=5)
        array([8, 6, 5, 2, 3])
        >>> np.random.default_rng(0).integers(0, 10, size=5)
        array([8, 6, 5, 2, 3])
        """
        dt = np.dtype(dtype)
        if dt.kind not in "biu":
            raise TypeError(f"Unsupported dtype {dt!r} for integers")
        bounds = (low,) if high is None else (low, high)
        return _draw(self, "integers", bounds, size, dt, (("endpoint", bool(endpoint)),))

    # -- differentiable: NumPy's formulas over a standard draw -------------------------------

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Any = None) -> Any:
        """Normal floats: ``loc + scale * standard_normal()``, differentiable in both.

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> draw = lambda loc, scale: cnp.random.default_rng(0).normal(loc, scale)
        >>> cr.grad(draw, argnums=(0, 1))(1.0, 2.0)  # (1, the standard draw)
        (np.float64(1.0), np.float64(0.1257302210933933))
        >>> np.random.default_rng(0).standard_normal()
        0.1257302210933933
        """
        loc, scale = _param(loc), _param(scale)
        _non_negative(scale, "scale")
        size = _out_size(size, loc, scale)
        return _like_numpy(loc + scale * _draw(self, "standard_normal", size=size), size)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        """Uniform floats in [low, high): ``low + (high - low) * random()``, differentiable
        in both.

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.grad(lambda high: cnp.random.default_rng(0).uniform(0.0, high))(2.0)
        np.float64(0.6369616873214543)
        >>> np.random.default_rng(0).random()
        0.6369616873214543
        """
        low, high = _f64(_param(low)), _f64(_param(high))
        span = high - low
        if not _ops._traced(span) and not np.all(np.isfinite(span)):
            raise OverflowError("high - low range exceeds valid bounds" if np.ndim(span) == 0
                                else "Range exceeds valid bounds")  # fmt: skip
        size = _out_size(size, low, high)
        return _like_numpy(low + span * _draw(self, "random", size=size), size)

    def exponential(self, scale: Any = 1.0, size: Any = None) -> Any:
        """Exponential floats: ``scale * standard_exponential()``, differentiable in
        `scale`.

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.grad(lambda scale: cnp.random.default_rng(0).exponential(scale))(2.0)
        np.float64(0.6799319039689096)
        >>> np.random.default_rng(0).standard_exponential()
        0.6799319039689096
        """
        scale = _param(scale)
        _non_negative(scale, "scale")
        size = _out_size(size, scale)
        draw = _draw(self, "standard_exponential", (), size, _F64, (("method", "zig"),))
        return _like_numpy(scale * draw, size)

    def gamma(self, shape: Any, scale: Any = 1.0, size: Any = None) -> Any:
        """Gamma floats: ``scale * standard_gamma(shape)``, differentiable in `scale` (not
        in `shape`).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cr.grad(lambda scale: cnp.random.default_rng(0).gamma(3.0, scale))(2.0)
        np.float64(2.877297699433438)
        >>> np.random.default_rng(0).standard_gamma(3.0)
        2.877297699433438
        """
        shape, scale = _param(shape), _param(scale)
        _non_negative(shape, "shape")
        _non_negative(scale, "scale")
        size = _out_size(size, shape, scale)
        return _like_numpy(scale * _draw(self, "standard_gamma", (shape,), size), size)

    # -- indices, and arrays indexed by them ---------------------------------------------------

    def choice(self, a: Any, size: Any = None, replace: bool = True, p: Any = None,
               axis: int = 0, shuffle: bool = True) -> Any:  # fmt: skip
        """Samples of ``arange(a)`` (an integer `a`) or of `a` along `axis`; differentiable
        in the array `a` (not in `p`).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cnp.random.default_rng(0).choice(5, size=3), np.random.default_rng(0).choice(5, size=3)
        (array([4, 3, 2]), array([4, 3, 2]))
        >>> pick = lambda a: cnp.sum(cnp.random.default_rng(0).choice(a, size=4))
        >>> cr.grad(pick)(np.array([1.0, 2.0, 3.0]))  # how often each element was drawn
        array([1., 2., 1.])
        """
        probs = () if p is None else (p,)
        if np.ndim(a) == 0:  # an integer
            n = operator.index(a if _ops._traced(a) else np.asarray(a).item())
            return _draw(self, "choice", probs, size, _I64,
                         (("a", n), ("replace", bool(replace)), ("shuffle", bool(shuffle))))
        a = _ops.asarray(a)
        axis = operator.index(axis) % a.ndim
        idx = Generator.choice(self, a.shape[axis], size, replace, p, 0, shuffle)
        out = _ops.getitem(a, (slice(None),) * axis + (idx,))
        if _size(size) == () and a.ndim == 1 and not _ops._traced(out):
            out = np.asarray(out)  # NumPy: a 0-d array, not a scalar
        return out

    def permutation(self, x: Any, axis: int = 0) -> Any:
        """A permutation of ``arange(x)`` (an integer `x`), or of `x` along `axis` (a copy;
        differentiable in `x`).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> cnp.random.default_rng(0).permutation(5)
        array([2, 4, 3, 0, 1])
        >>> np.random.default_rng(0).permutation(5)
        array([2, 4, 3, 0, 1])
        >>> weigh = lambda x: cnp.sum(cnp.random.default_rng(0).permutation(x) * np.arange(3.0))
        >>> cr.grad(weigh)(np.array([1.0, 2.0, 3.0]))
        array([1., 2., 0.])
        """
        if isinstance(x, (int, np.integer)):
            return _draw(self, "permutation", (), None, _I64, (("n", operator.index(x)),))
        x = _ops.asarray(x)
        if x.ndim < 1:
            raise IndexError("x must be an integer or at least 1-dimensional")
        axis = operator.index(axis) % x.ndim
        idx = Generator.permutation(self, x.shape[axis])
        return _ops.getitem(x, (slice(None),) * axis + (idx,))

    def shuffle(self, x: Any, axis: int = 0) -> None:
        """NumPy's in-place shuffle, on a NumPy array, outside transformations (elsewhere:
        ``x = g.permutation(x)``).

        >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
        >>> x = np.arange(5)
        >>> cnp.random.default_rng(0).shuffle(x)
        >>> x
        array([2, 4, 3, 0, 1])
        """
        _refuse_traced("shuffle", x)
        self.gen.shuffle(x, axis)


# The other distributions with scalar parameters: primitives, with NumPy's signatures.
_FLOAT_DISTRIBUTIONS = (
    "beta", "chisquare", "f", "gumbel", "laplace", "logistic", "lognormal",
    "noncentral_chisquare", "noncentral_f", "pareto", "power", "rayleigh", "standard_cauchy",
    "standard_t", "triangular", "vonmises", "wald", "weibull",
)  # fmt: skip
_INTEGER_DISTRIBUTIONS = (
    "binomial", "geometric", "hypergeometric", "logseries", "negative_binomial", "poisson",
    "zipf",
)  # fmt: skip
#: NumPy's own methods, drawn at once (outside transformations only)
_EAGER = ("bytes", "dirichlet", "multinomial", "multivariate_hypergeometric",
          "multivariate_normal", "permuted")  # fmt: skip


#: the arguments of each generated method's example (its docstring's)
_EXAMPLE_ARGS = {
    "beta": "2.0, 3.0, size=3", "chisquare": "3.0, size=3", "f": "3.0, 5.0, size=3",
    "gumbel": "size=3", "laplace": "size=3", "logistic": "size=3", "lognormal": "size=3",
    "noncentral_chisquare": "3.0, 1.0, size=3", "noncentral_f": "3.0, 5.0, 1.0, size=3",
    "pareto": "3.0, size=3", "power": "3.0, size=3", "rayleigh": "size=3",
    "standard_cauchy": "size=3", "standard_t": "5.0, size=3",
    "triangular": "0.0, 0.5, 1.0, size=3", "vonmises": "0.0, 1.0, size=3",
    "wald": "1.0, 2.0, size=3", "weibull": "2.0, size=3", "binomial": "10, 0.5, size=3",
    "geometric": "0.3, size=3", "hypergeometric": "10, 5, 6, size=3",
    "logseries": "0.5, size=3", "negative_binomial": "5, 0.5, size=3", "poisson": "3.0, size=3",
    "zipf": "2.0, size=3", "bytes": "4", "dirichlet": "[1.0, 2.0], size=2",
    "multinomial": "10, [0.2, 0.8], size=2", "multivariate_hypergeometric": "[3, 2], 2, size=2",
    "multivariate_normal": "[0.0, 0.0], np.eye(2), size=2", "permuted": "np.arange(5)",
}  # fmt: skip


def _example(name: str) -> str:
    """The docstring example of a generated method: the same draws as NumPy's."""
    a = _EXAMPLE_ARGS[name]
    return ("\n\n>>> import numpy as np, chainrule.numpy as cnp\n"
            f">>> ours = cnp.random.default_rng(0).{name}({a})\n"
            f">>> bool(np.array_equal(ours, np.random.default_rng(0).{name}({a})))\n"
            "True\n")


def _distribution(name: str, dtype: np.dtype) -> Any:
    sig = inspect.signature(getattr(np.random.Generator, name))
    names = [p for p in sig.parameters if p not in ("self", "size")]

    def method(self: Source, *args: Any, **kwargs: Any) -> Any:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        return _draw(self, name, tuple(a[p] for p in names), a["size"], dtype)

    method.__name__, method.__qualname__ = name, f"Generator.{name}"
    method.__signature__ = sig
    method.__doc__ = (f"NumPy's ``Generator.{name}`` (its parameters carry no derivative; "
                      f"{'integer' if dtype.kind == 'i' else 'float'} results)."
                      + _example(name))  # fmt: skip
    return method


def _eager(name: str) -> Any:
    def method(self: Source, *args: Any, **kwargs: Any) -> Any:
        _refuse_traced(name, (args, list(kwargs.values())))
        return getattr(self.gen, name)(*args, **kwargs)

    method.__name__, method.__qualname__ = name, f"Generator.{name}"
    method.__doc__ = (f"NumPy's ``Generator.{name}``, drawn at once (outside transformations)."
                      + _example(name))
    return method


for _n in _FLOAT_DISTRIBUTIONS:
    setattr(Generator, _n, _distribution(_n, _F64))
for _n in _INTEGER_DISTRIBUTIONS:
    setattr(Generator, _n, _distribution(_n, _I64))
for _n in _EAGER:
    setattr(Generator, _n, _eager(_n))

# A Generator in a jitted function's arguments is static: a node without leaves, keyed by
# identity (the compiled function draws from it at each call).
register_static(Generator)


def default_rng(seed: Any = None) -> Generator:
    """A new `Generator` (NumPy's `default_rng`; a chainrule Generator is returned as it is,
    a NumPy one is wrapped, sharing its state).

    >>> import chainrule.numpy as cnp
    >>> cnp.random.default_rng(0)
    Generator(PCG64)
    """
    if isinstance(seed, Generator):
        return seed
    if isinstance(seed, np.random.Generator):
        return Generator(seed)
    return Generator(np.random.default_rng(seed))


#: chainrule's default generator: the module's functions, ``cr.rand`` and ``cr.randn``
DEFAULT = Generator(np.random.default_rng())


def seed(seed: Any = None) -> None:
    """Seed chainrule's default generator (as ``cr.manual_seed``): the module's functions
    then draw what ``numpy.random.default_rng(seed)`` draws.

    >>> import numpy as np, chainrule.numpy as cnp
    >>> cnp.random.seed(3)
    >>> cnp.random.random() == np.random.default_rng(3).random()
    True
    """
    _random.reseed(DEFAULT, seed)


def rand(*dims: int) -> Any:
    """Uniform floats in [0, 1) of shape `dims` (NumPy's legacy signature).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.random.seed(0)
    >>> bool((cnp.random.rand(2, 3) == np.random.default_rng(0).random((2, 3))).all())
    True
    """
    return DEFAULT.random(dims or None)


def randn(*dims: int) -> Any:
    """Standard normal floats of shape `dims` (NumPy's legacy signature).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.random.seed(0)
    >>> bool((cnp.random.randn(2) == np.random.default_rng(0).standard_normal(2)).all())
    True
    """
    return DEFAULT.standard_normal(dims or None)


def random_sample(size: Any = None) -> Any:
    """Uniform floats in [0, 1) (NumPy's legacy name).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.random.seed(0)
    >>> bool((cnp.random.random_sample(3) == np.random.default_rng(0).random(3)).all())
    True
    """
    return DEFAULT.random(size)


ranf = sample = random_sample


def randint(low: Any, high: Any = None, size: Any = None, dtype: Any = int) -> Any:
    """Integers in [low, high) (NumPy's legacy name of `integers`).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> cnp.random.seed(0)
    >>> cnp.random.randint(0, 10, size=4)
    array([8, 6, 5, 2])
    """
    return DEFAULT.integers(low, high, size, dtype)


_METHODS = ("random", "standard_normal", "standard_exponential", "standard_gamma", "integers",
            "normal", "uniform", "exponential", "gamma", "choice", "permutation", "shuffle",
            *_FLOAT_DISTRIBUTIONS, *_INTEGER_DISTRIBUTIONS, *_EAGER)  # fmt: skip
globals().update({_n: getattr(DEFAULT, _n) for _n in _METHODS})


def __getattr__(name: str) -> Any:
    if hasattr(np.random, name):  # NumPy's legacy global state and the rest: NumPy's own
        return getattr(np.random, name)
    raise AttributeError(f"module 'chainrule.numpy.random' has no attribute {name!r}")
