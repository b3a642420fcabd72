"""`chainrule.nn.functional`: PyTorch's `torch.nn.functional` (the part a ported training
script needs), on Tensors, on values traced by `cr.grad`/`cr.vmap`/`cr.jit`, and on NumPy
arrays.

Each function takes PyTorch's arguments and meanings (`input`, `dim`, `reduction=`,
`weight=`, `ignore_index=`, `label_smoothing=`) and accepts NumPy's `axis=` too. A Tensor in
gives a Tensor out (recorded for `backward`, PyTorch's promotion of 0-d operands); NumPy
arrays in give NumPy arrays out; traced values give traced values.

Numerically stable: `softmax`, `log_softmax` and `logsumexp` shift by the maximum (held
constant in the derivative: they do not depend on it), `log_softmax` is never log(softmax),
`cross_entropy` is built on `log_softmax` and `sigmoid` only ever exponentiates -|x|, so
logits of ±1e4 give finite values and gradients. Their derivatives are those of these
compositions, which are the closed forms (d log_softmax = g - softmax * sum(g)); they work
under every transformation, forward mode, `jit`, `grad` of `grad` and a Tensor's
``backward(create_graph=True)``. They are deliberately not `cr.custom_jvp` rules: with the
same values and gradients, the compositions run 20-30% faster in reverse mode (a custom_jvp
rule also evaluates its tangent map in the forward pass), and a custom rule's backward is
not itself recorded on Tensors (no double backward there).

`layer_norm` and `batch_norm` are such compositions too (mean, biased variance, scale and
shift), so they have second derivatives and work under every transformation (`batch_norm`'s
in-place update of running statistics needs their values: see it); `embedding` is indexing, whose
gradient scatter-adds (repeated indices accumulate).

`softmax`, `log_softmax`, `logsumexp`, `relu` and `sigmoid` are the PyTorch face's own
functions (`cr.softmax`, ...): one implementation each.

>>> import numpy as np, chainrule as cr
>>> import chainrule.nn.functional as F
>>> logits = np.array([[2.0, 0.5, -1.0], [1e4, -1e4, 0.0]])
>>> F.cross_entropy(logits, np.array([0, 0]))
np.float64(0.120656)
>>> cr.grad(lambda z: F.cross_entropy(z, np.array([0, 0])))(logits)[1]
array([-0.,  0.,  0.])
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

import chainrule.numpy as cnp
from chainrule import torch_functions as _tf
from chainrule.core.trace import Tracer
from chainrule.numpy import random as _random
from chainrule.tensor import Tensor, no_grad
from chainrule.transforms.reverse import stop_gradient as _stop_gradient

__all__ = [
    "softmax", "log_softmax", "logsumexp", "cross_entropy", "nll_loss", "mse_loss", "relu",
    "gelu", "sigmoid", "tanh", "one_hot", "linear", "dropout", "layer_norm", "batch_norm",
    "embedding",
]  # fmt: skip

# PyTorch's functions of the Tensor face (the same objects as cr.relu, cr.sigmoid, ...)
relu = _tf.relu
sigmoid = _tf.sigmoid
tanh = _tf.tanh
logsumexp = _tf.logsumexp

_SQRT1_2 = math.sqrt(0.5)
_GELU_BETA = math.sqrt(2.0) * (2.0 / math.sqrt(math.pi)) * 0.5  # sqrt(2/pi), as PyTorch
_GELU_KAPPA = 0.044715


# --- helpers -----------------------------------------------------------------------------------


def _array(x: Any) -> Any:
    """Tensors, traced values and arrays unchanged; lists and numbers as arrays."""
    return _tf._array(x)


def _shape(x: Any) -> tuple:
    return tuple(x.shape) if isinstance(x, (Tracer, np.ndarray)) else np.shape(x)


def _concrete(x: Any) -> np.ndarray | None:
    """The values of `x` as a NumPy array, or None where they are known only abstractly
    (a value traced by a transformation, a Tensor staged by `jit`)."""
    if isinstance(x, Tensor):
        try:
            return np.asarray(x.detach().numpy())
        except TypeError:  # a Tensor whose value is staged
            return None
    if isinstance(x, Tracer):
        return None
    return np.asarray(x)


def _reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """PyTorch's legacy `size_average`/`reduce` arguments, as a `reduction` string."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      "reduction='mean' (or 'sum', 'none') instead.", UserWarning,
                      stacklevel=3)  # fmt: skip
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        return "none" if not reduce else ("mean" if size_average else "sum")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _implicit_dim(name: str) -> None:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)  # fmt: skip


# --- softmax and friends -----------------------------------------------------------------------


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,  # noqa: A002
            axis: int | None = None) -> Any:  # fmt: skip
    """exp(input) normalised to sum 1 along `dim`, shifted by the maximum (`cr.softmax`).
    Without `dim`, PyTorch's implicit choice, with its warning. `dtype` casts first.

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.softmax(np.array([0.0, 1e4, -1e4]), dim=0)
    array([0., 1., 0.])
    """
    if dim is None and axis is None:
        _implicit_dim("softmax")
    return _tf.softmax(input, dim, dtype, axis=axis)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None,  # noqa: A002
                *, axis: int | None = None) -> Any:  # fmt: skip
    """log(softmax(input)) along `dim`, as x - logsumexp(x) (never the log of a softmax, so
    it stays finite where the softmax underflows; `cr.log_softmax`).

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.log_softmax(np.array([0.0, 1e4]), dim=0)
    array([-10000.,      0.])
    """
    if dim is None and axis is None:
        _implicit_dim("log_softmax")
    return _tf.log_softmax(input, dim, dtype, axis=axis)


# --- losses ------------------------------------------------------------------------------------


def _class_dim(input: Any, dim: Any, axis: Any) -> int:
    nd = len(_shape(input))
    if nd == 0:
        raise ValueError("cross_entropy/nll_loss: the input must have at least one dimension "
                         "(the classes)")  # fmt: skip
    d = _tf._dim(dim, axis)
    if d is None:
        return 0 if nd == 1 else 1  # PyTorch's class dimension
    return _tf._norm_dim(d, nd)


def _class_weight(weight: Any, n_classes: int, dtype: Any) -> Any:
    """`weight` as a 1-D array of the input's dtype (None stays None)."""
    if weight is None:
        return None
    w = _array(weight)
    if _shape(w) != (n_classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes "
                           f"or no classes but got weight tensor of shape: {list(_shape(w))}")
    return w if w.dtype == dtype else cnp.astype(w, dtype)


def _along(w: Any, cd: int, nd: int) -> Any:
    """A 1-D class weight shaped to broadcast along the class dimension `cd`."""
    return cnp.reshape(w, tuple(-1 if i == cd else 1 for i in range(nd)))


def _index_target(target: Any, input_shape: tuple, cd: int, ignore_index: int,
                  what: str) -> Any:  # fmt: skip
    """Class indices, checked as PyTorch checks them (values only where they are known)."""
    t = _array(target)
    if np.dtype(t.dtype).kind not in "iu":
        raise RuntimeError(f"{what}: expected integer class indices as the target (of shape "
                           f"{list(input_shape[:cd] + input_shape[cd + 1:])}), got "
                           f"{t.dtype} of shape {list(_shape(t))}")  # fmt: skip
    expected = input_shape[:cd] + input_shape[cd + 1:]
    if _shape(t) != expected:
        raise ValueError(f"{what}: expected target size {list(expected)}, got "
                         f"{list(_shape(t))}")  # fmt: skip
    v = _concrete(t)
    if v is not None:
        n = input_shape[cd]
        bad = (v != ignore_index) & ((v < 0) | (v >= n))
        if bad.any():
            raise IndexError(f"Target {int(v[bad].flat[0])} is out of bounds.")
    return t


def _nll_parts(logp: Any, t: Any, w: Any, cd: int, ignore_index: int) -> tuple:
    """(the loss of each element, its weight, which elements count), from log-probabilities
    `logp` and class indices `t`. The target's entry is picked by a one-hot mask (a `where`,
    so a -inf elsewhere in the row gives no NaN), which works for any mix of Tensors, traced
    values and arrays; ignored elements get loss 0 and weight 0."""
    shape = _shape(logp)
    valid = t != ignore_index
    classes = np.arange(shape[cd]).reshape(tuple(-1 if i == cd else 1 for i in range(len(shape))))
    hot = cnp.logical_and(cnp.expand_dims(t, cd) == classes, cnp.expand_dims(valid, cd))
    picked = cnp.sum(cnp.where(hot, logp, 0.0), axis=cd)
    if w is None:
        return 0.0 - picked, cnp.astype(valid, picked.dtype), valid
    wt = cnp.sum(cnp.where(hot, _along(w, cd, len(shape)), 0.0), axis=cd)
    return 0.0 - wt * picked, wt, valid


def _reduce(loss: Any, reduction: str, total: Any) -> Any:
    if reduction == "none":
        return loss
    s = cnp.sum(loss)
    if reduction == "sum":
        return s
    with np.errstate(invalid="ignore", divide="ignore"):  # every element ignored: nan, as PyTorch
        return s / total


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
             ignore_index: int = -100, reduce: Any = None, reduction: str = "mean", *,
             dim: int | None = None, axis: int | None = None) -> Any:  # fmt: skip
    """The negative log-likelihood of class indices `target` under log-probabilities
    `input` (classes along `dim`: PyTorch's dimension 1, or 0 for a 1-D input), weighted by
    `weight[target]`; elements whose target is `ignore_index` count for nothing. 'mean'
    divides by the total weight of the elements counted (PyTorch's).

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.nll_loss(np.log(np.array([[0.5, 0.5], [0.25, 0.75]])), np.array([0, 1]))
    np.float64(0.4904)
    """
    reduction = _reduction(size_average, reduce, reduction)
    x = _array(input)
    cd = _class_dim(x, dim, axis)
    t = _index_target(target, _shape(x), cd, ignore_index, "nll_loss")
    w = _class_weight(weight, _shape(x)[cd], x.dtype)
    loss, wt, _ = _nll_parts(x, t, w, cd, ignore_index)
    return _reduce(loss, reduction, None if reduction != "mean" else cnp.sum(wt))


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0, *, dim: int | None = None,
                  axis: int | None = None) -> Any:  # fmt: skip
    """PyTorch's cross entropy between the logits `input` (classes along `dim`: PyTorch's
    dimension 1, or 0 for a 1-D input; NumPy's `axis=` too) and `target`, which holds either
    class indices (integers; the input's shape without the class dimension) or class
    probabilities (floats; the input's shape).

    `weight` (one per class) weights each element by its target's class (indices) or each
    class's term (probabilities); `ignore_index` (indices only) leaves elements out;
    `label_smoothing` ε mixes the target with the uniform distribution, (1-ε) target + ε/C.
    'mean' divides by the total weight of the elements counted for indices, and by the number
    of elements for probabilities, as PyTorch.

    Computed from `log_softmax`: finite values and gradients for any finite logits.

    >>> import numpy as np, chainrule.nn.functional as F
    >>> x = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    >>> F.cross_entropy(x, np.array([0, 2]), reduction="none")
    array([0.16984602, 0.0133859 ])
    >>> F.cross_entropy(x, np.array([0, -100]))  # the second is ignored
    np.float64(0.16984)
    >>> F.cross_entropy(x, np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), label_smoothing=0.1)
    np.float64(0.341616)
    """
    reduction = _reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x = _array(input)
    if np.dtype(x.dtype).kind != "f":
        raise TypeError(f"cross_entropy: the logits must be real floating point, got {x.dtype}")
    shape = _shape(x)
    cd = _class_dim(x, dim, axis)
    n_classes = shape[cd]
    w = _class_weight(weight, n_classes, x.dtype)
    logp = _tf.log_softmax(x, cd)
    tgt = _array(target)
    if _shape(tgt) == shape:  # class probabilities
        if np.dtype(tgt.dtype).kind != "f":
            raise RuntimeError("Expected floating point type for target with class "
                               f"probabilities, got {tgt.dtype}")  # fmt: skip
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if label_smoothing > 0.0:
            tgt = tgt * (1 - label_smoothing) + label_smoothing / n_classes
        prod = logp * tgt
        if w is not None:
            prod = prod * _along(w, cd, len(shape))
        if reduction == "none":
            return -cnp.sum(prod, axis=cd)
        total = -cnp.sum(prod)
        if reduction == "sum":
            return total
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / (math.prod(shape) / n_classes)
    t = _index_target(tgt, shape, cd, ignore_index, "cross_entropy")
    loss, wt, valid = _nll_parts(logp, t, w, cd, ignore_index)
    den = cnp.sum(wt) if reduction == "mean" else None
    out = _reduce(loss, reduction, den)
    if label_smoothing == 0.0:
        return out
    smooth = -cnp.sum(logp if w is None else logp * _along(w, cd, len(shape)), axis=cd)
    smooth = _reduce(cnp.where(valid, smooth, 0.0), reduction, den)
    return (1 - label_smoothing) * out + smooth * (label_smoothing / n_classes)


def mse_loss(input: Any, target: Any, size_average: Any = None, reduce: Any = None,  # noqa: A002
             reduction: str = "mean", weight: Any = None) -> Any:  # fmt: skip
    """The squared error (input - target)², averaged ('mean'), summed ('sum') or per element
    ('none'); with `weight` (the input's shape), weighted and, for 'mean', divided by the
    weights' sum (PyTorch's). Different shapes broadcast, with PyTorch's warning.

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    np.float64(2.5)
    """
    x, y = _array(input), _array(target)
    if _shape(x) != _shape(y):
        warnings.warn(f"Using a target size ({list(_shape(y))}) that is different to the input "
                      f"size ({list(_shape(x))}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", UserWarning,
                      stacklevel=2)  # fmt: skip
        x, y = cnp.broadcast_arrays(x, y)  # first, as PyTorch: the dtypes then promote fully
    reduction = _reduction(size_average, reduce, reduction)
    sq = (x - y) ** 2
    if weight is not None:
        w = _array(weight)
        if _shape(w) != _shape(x):
            raise ValueError("Weights and input must have the same size.")
        sq = sq * w
        if reduction == "mean":
            return cnp.sum(sq) / cnp.sum(w)
    if reduction == "none":
        return sq
    return cnp.sum(sq) if reduction == "sum" else cnp.mean(sq)


# --- activations -------------------------------------------------------------------------------


def _erf() -> Any:
    import importlib

    try:
        special = importlib.import_module("chainrule.scipy.special")
    except ImportError as err:
        raise ImportError(
            "chainrule.nn.functional.gelu(approximate='none') needs SciPy for erf, which is "
            "not installed: pip install scipy (or chainrule[scipy]), or use "
            "approximate='tanh'"
        ) from err
    return special.erf


def gelu(input: Any, approximate: str = "none") -> Any:  # noqa: A002
    """The Gaussian error linear unit x Φ(x), PyTorch's formulas: exact,
    ``x * 0.5 * (1 + erf(x / sqrt(2)))`` (erf is `chainrule.scipy.special.erf`: it needs
    SciPy), or with ``approximate="tanh"``,
    ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x³)))``.

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.gelu(np.array([-1.0, 0.0, 1.0]))
    array([-0.15865525,  0.        ,  0.84134475])
    >>> F.gelu(np.array([1.0]), approximate="tanh")
    array([0.84119199])
    """
    x = _array(input)
    if approximate == "tanh":
        inner = _GELU_BETA * (x + _GELU_KAPPA * (x * x * x))
        return 0.5 * x * (1 + cnp.tanh(inner))
    if approximate != "none":
        raise RuntimeError("approximate argument must be either none or tanh.")
    return x * 0.5 * (1 + _erf()(x * _SQRT1_2))


def one_hot(tensor: Any, num_classes: int = -1) -> Any:
    """Class indices as one-hot rows: a result of shape ``(*tensor.shape, num_classes)``
    holding int64 0s and 1s (`num_classes=-1`: the largest index + 1, which needs concrete
    values). A Tensor gives a Tensor, an array an array.

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.one_hot(np.array([0, 2]), 3)
    array([[1, 0, 0],
           [0, 0, 1]])
    """
    t = _array(tensor)
    if np.dtype(t.dtype).kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    v = _concrete(t)
    if num_classes == -1:
        if v is None:
            raise ValueError("one_hot: pass num_classes for a traced input (the number of "
                             "classes can't be inferred from abstract values)")
        if v.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(v.max()) + 1
    if v is not None and v.size:
        if v.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if v.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    hot = cnp.expand_dims(t, -1) == np.arange(num_classes)
    return cnp.astype(hot, np.int64)


# --- layers ------------------------------------------------------------------------------------


def linear(input: Any, weight: Any, bias: Any = None) -> Any:  # noqa: A002
    """input @ weight.T + bias, with PyTorch's weight layout (out_features, in_features).

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.linear(np.ones((1, 2)), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, 0.5]))
    array([[3.5, 7.5]])
    """
    w = _array(weight)
    out = cnp.matmul(_array(input), cnp.swapaxes(w, -1, -2) if w.ndim == 2 else w)
    return out if bias is None else out + bias


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:  # noqa: A002
    """Zero each element with probability `p` and scale the others by 1/(1-p) while
    `training` (the identity otherwise). The mask comes from chainrule's default generator
    (seeded by `cr.manual_seed`); inside `cr.jit` it is drawn afresh at each call, and under
    `cr.vmap` each example draws its own.

    >>> import numpy as np, chainrule as cr, chainrule.nn.functional as F
    >>> _ = cr.manual_seed(0)
    >>> F.dropout(np.ones(6), p=0.5)
    array([2., 0., 0., 0., 2., 2.])
    >>> F.dropout(np.ones(2), p=0.5, training=False)
    array([1., 1.])
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _array(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        out = x * 0.0
    else:
        keep = _random.DEFAULT.random(_shape(x)) >= p
        out = x * (cnp.astype(keep, x.dtype) / (1 - p))
    if inplace and isinstance(input, Tensor):
        return input.copy_(out)
    return out


def layer_norm(input: Any, normalized_shape: int | tuple[int, ...] | list[int],  # noqa: A002
               weight: Any = None, bias: Any = None, eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise over the last ``len(normalized_shape)`` dimensions, as PyTorch's: (x - mean)
    / sqrt(var + eps) with the biased variance (the mean of the squared deviations), then
    ``* weight + bias`` where they are given (each of shape `normalized_shape`). A
    composition of differentiable operations: gradients of any order, under `cr.grad`,
    `cr.vmap` and `cr.jit` alike. `normalized_shape` may be an int (PyTorch's function wants
    a sequence; its module takes an int too).

    >>> import numpy as np, chainrule.nn.functional as F
    >>> F.layer_norm(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 6.0]]), [3], eps=0.0)
    array([[-1.22474487,  0.        ,  1.22474487],
           [-0.70710678, -0.70710678,  1.41421356]])
    >>> F.layer_norm(np.array([1.0, 3.0]), (2,), np.array([2.0, 2.0]), np.array([0.0, 1.0]), 0.0)
    array([-2.,  3.])
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else \
        tuple(int(n) for n in normalized_shape)  # fmt: skip
    if not shape:
        raise RuntimeError("layer_norm: normalized_shape must have at least one dimension, "
                           "got []")  # fmt: skip
    x = _array(input)
    x_shape = _shape(x)
    if len(x_shape) < len(shape) or x_shape[len(x_shape) - len(shape):] != shape:
        raise RuntimeError(f"layer_norm: normalized_shape={list(shape)} must be the input's "
                           f"last dimensions: expected an input of shape [*, "
                           f"{', '.join(map(str, shape))}], got one of shape {list(x_shape)}")
    w, b = (None if p is None else _array(p) for p in (weight, bias))
    for name, p in (("weight", w), ("bias", b)):
        if p is not None and _shape(p) != shape:
            raise RuntimeError(f"layer_norm: {name} must have the shape normalized_shape="
                               f"{list(shape)}, got {list(_shape(p))}")  # fmt: skip
    axes = tuple(range(-len(shape), 0))
    d = x - cnp.mean(x, axis=axes, keepdims=True)
    out = d / cnp.sqrt(cnp.mean(d * d, axis=axes, keepdims=True) + eps)
    if w is not None:
        out = out * w
    return out if b is None else out + b


def _primal(v: Any) -> np.ndarray | None:
    """The values of `v` as a NumPy array, through the tracers of `cr.grad` and forward mode
    (whose values are concrete), or None where they are known only abstractly (`cr.jit`,
    `cr.vmap`, a Tensor staged by `jit`)."""
    c = _concrete(v)
    while c is None and isinstance(v, Tracer):
        try:
            v = v._concrete("batch_norm's update of the running statistics")
        except TypeError:  # (ConcretizationError): abstract here
            return None
        c = _concrete(v)
    return c


def _update_running_(stat: Any, batch: Any, momentum: float, name: str) -> None:
    """stat = (1 - momentum) * stat + momentum * batch, in place and outside any graph, as
    PyTorch updates its running statistics. `stat` is a Tensor or a NumPy array; `batch`
    (the batch's statistic, of the channels' shape) may be traced: its values are used where
    they are known (under `cr.grad` too), and a Tensor staged by `cr.jit` takes the traced
    value (jit writes it back after the call)."""
    src = _primal(batch)
    if isinstance(stat, Tensor):
        with no_grad():
            if src is not None:
                stat.copy_((1 - momentum) * stat.detach() + momentum * src.astype(stat.dtype))
                return
            if isinstance(stat._value, Tracer):  # staged by jit: a staged update
                stat.copy_((1 - momentum) * stat.detach() + momentum * _stop_gradient(batch))
                return
    elif isinstance(stat, np.ndarray) and src is not None:
        stat[...] = (1 - momentum) * stat + momentum * src
        return
    elif not isinstance(stat, (np.ndarray, Tracer)):
        raise TypeError(f"batch_norm: {name} is updated in place while training: it must be a "
                        f"Tensor or a NumPy array, got {type(stat).__name__}")  # fmt: skip
    raise NotImplementedError(
        f"batch_norm(training=True) updates {name} in place, which needs the batch's "
        "statistics and the running ones as concrete values (or as Tensors staged by cr.jit): "
        "not values traced by cr.jit or cr.vmap, nor running statistics traced by cr.grad "
        "(pass running_mean=running_var=None there, or give functional_call only the "
        "parameters, so that the module's own buffers are updated)")


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None,  # noqa: A002
               bias: Any = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Any:  # fmt: skip
    """Normalise each channel (dimension 1 of an input of shape (N, C), (N, C, L),
    (N, C, H, W), ...) as PyTorch's: (x - mean) / sqrt(var + eps), then ``* weight + bias``
    where they are given (each of shape (C,)).

    While `training`, mean and var are the batch's (over every dimension but 1; the biased
    variance), and the running statistics, when given (Tensors or NumPy arrays), are updated
    in place outside the graph: ``running_mean = (1 - momentum) * running_mean + momentum *
    mean`` and the same for `running_var` with the unbiased variance (n / (n - 1) times the
    biased one, n the values per channel). Otherwise (evaluation) `running_mean` and
    `running_var` normalise, as constants (no gradient reaches them). The normalisation is a
    composition of differentiable operations: gradients of any order, under `cr.grad`,
    `cr.vmap` and `cr.jit` alike (the in-place update needs the batch's statistics as
    values: under `cr.grad`, or Tensors staged by `cr.jit`; pass None for the running
    statistics elsewhere).

    >>> import numpy as np, chainrule.nn.functional as F
    >>> x = np.array([[1.0, 0.0], [3.0, 4.0]])
    >>> mean, var = np.zeros(2), np.ones(2)
    >>> F.batch_norm(x, mean, var, training=True)
    array([[-0.999995  , -0.99999875],
           [ 0.999995  ,  0.99999875]])
    >>> mean, var  # updated in place: 0.9 * old + 0.1 * (batch mean, unbiased variance)
    (array([0.2, 0.2]), array([1.1, 1.7]))
    >>> F.batch_norm(x, mean, var, np.array([2.0, 1.0]), np.array([0.0, 1.0]))
    array([[1.52553321, 0.84660745],
           [5.33936623, 3.91445839]])
    """
    x = _array(input)
    shape = _shape(x)
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, *) (channels on "
                         f"dimension 1), got one of shape {list(shape)}")  # fmt: skip
    c = shape[1]
    n = shape[0] * math.prod(shape[2:])  # the values of each channel
    if training and n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input "
                         f"size {list(shape)}")  # fmt: skip
    # (0 would divide by zero: the batch's variance, or a zero running variance)
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither "
                         "be None")  # fmt: skip
    if not training and running_mean is None:
        raise RuntimeError("running_mean must be defined in evaluation mode (batch_norm with "
                           "training=False normalises with the running statistics)")
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if p is not None and _shape(p) != (c,):
            raise RuntimeError(f"{name} should contain {c} elements not "
                               f"{math.prod(_shape(p))}: batch_norm needs one value per channel "
                               f"(dimension 1 of the input, of shape {list(shape)}), got "
                               f"{name} of shape {list(_shape(p))}")  # fmt: skip
    # the per-channel values, shaped (1, C, 1, ...) to broadcast along dimension 1
    along = (1, c) + (1,) * (len(shape) - 2)
    if training:
        axes = (0,) + tuple(range(2, len(shape)))
        mean = cnp.mean(x, axis=axes, keepdims=True)
        d = x - mean
        var = cnp.mean(d * d, axis=axes, keepdims=True)
        out = d / cnp.sqrt(var + eps)
        if running_mean is not None:
            _update_running_(running_mean, cnp.reshape(mean, (c,)), momentum, "running_mean")
            _update_running_(running_var, cnp.reshape(var, (c,)) * (n / (n - 1)), momentum,
                             "running_var")  # fmt: skip
    else:
        # the running statistics are constants here, as PyTorch's (they get no gradient)
        rm = cnp.reshape(_stop_gradient(_array(running_mean)), along)
        rv = cnp.reshape(_stop_gradient(_array(running_var)), along)
        out = (x - rm) / cnp.sqrt(rv + eps)
    if weight is not None:
        out = out * cnp.reshape(_array(weight), along)
    return out if bias is None else out + cnp.reshape(_array(bias), along)


def _renorm_(weight: Any, indices: Any, max_norm: float, norm_type: float) -> None:
    """PyTorch's `embedding_renorm_`: each row of `weight` that `indices` looks up and whose
    `norm_type`-norm exceeds `max_norm` is scaled, in place and outside any graph, by
    max_norm / (norm + 1e-7)."""
    w, v = _concrete(weight), _concrete(indices)
    if w is None or v is None:
        raise NotImplementedError(
            "embedding(max_norm=...) rescales rows of the weight in place, as PyTorch's, which "
            "needs a concrete weight and concrete indices: not values traced by cr.grad, "
            "cr.vmap or cr.jit (leave max_norm out there, or renormalise beforehand)")
    if not isinstance(weight, (Tensor, np.ndarray)):
        raise TypeError(f"embedding(max_norm=...) rescales the weight in place: it must be a "
                        f"Tensor or a NumPy array, got {type(weight).__name__}")  # fmt: skip
    rows = np.unique(v)
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1).astype(np.float64)
    big = norms > max_norm
    if not big.any():
        return
    new = np.array(w)
    new[rows[big]] *= (max_norm / (norms[big] + 1e-7)).astype(w.dtype)[:, None]
    if isinstance(weight, Tensor):
        with no_grad():
            weight.copy_(new)
    else:
        weight[...] = new  # an array too is changed in place, as PyTorch changes its weight


def embedding(input: Any, weight: Any, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Any:  # fmt: skip
    """The rows of `weight` (num_embeddings, embedding_dim) at the integer indices `input`
    (any shape): ``weight[input]``, of shape ``input.shape + (embedding_dim,)``. The
    gradient of `weight` scatter-adds the incoming gradient (repeated indices accumulate);
    the row `padding_idx` (negative: counted from the end) gets none, as PyTorch's.
    Indices must lie in [0, num_embeddings), checked where their values are known.

    `max_norm` first rescales, in place and outside the graph, each looked-up row whose
    `norm_type`-norm exceeds it to that norm (PyTorch's `embedding_renorm_`): only for a
    weight and indices with concrete values. `scale_grad_by_freq` and `sparse` (sparse
    gradients) are not supported.

    >>> import numpy as np, chainrule as cr, chainrule.nn.functional as F
    >>> w = np.arange(6.0).reshape(3, 2)
    >>> F.embedding(np.array([[2, 0], [2, 2]]), w)
    array([[[4., 5.],
            [0., 1.]],
    <BLANKLINE>
           [[4., 5.],
            [4., 5.]]])
    >>> cr.grad(lambda w: cr.numpy.sum(F.embedding(np.array([2, 0, 2]), w, padding_idx=0)))(w)
    array([[0., 0.],
           [0., 0.],
           [2., 2.]])
    """
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq=True and sparse=True are not "
                                  "supported (chainrule's gradients are dense and unscaled)")
    w = _array(weight)
    if len(_shape(w)) != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                           f"got shape {list(_shape(w))}")  # fmt: skip
    n = _shape(w)[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise AssertionError(f"Padding_idx must be within num_embeddings: got "
                                 f"padding_idx={padding_idx} for {n} embeddings")  # fmt: skip
        padding_idx %= n
    t = _array(input)
    if np.dtype(t.dtype).kind not in "iu":
        raise RuntimeError(f"embedding: expected integer indices, got {t.dtype}")
    v = _concrete(t)
    if v is not None and v.size:
        bad = (v < 0) | (v >= n)
        if bad.any():
            raise IndexError(f"embedding: index {int(v[bad].flat[0])} is out of range for "
                             f"{n} embeddings (indices must lie in [0, {n}))")  # fmt: skip
    if max_norm is not None:
        _renorm_(weight, t, max_norm, norm_type)
    out = cnp.take(w, t, axis=0)
    if padding_idx is None:
        return out
    # the padding row's value, seen as a constant: no gradient reaches it
    pad = cnp.expand_dims(t == padding_idx, -1)
    return cnp.where(pad, _stop_gradient(out), out)
