"""`chainrule.optim`: optimizers, in PyTorch's style over Tensors and in optax's over pytrees.

**PyTorch style** (`SGD`, `Adam`, `AdamW`, `RMSprop`, `LBFGS`, and `lr_scheduler`): made from
Tensors that require grad (or parameter groups, dicts with their own options); ``step()``
reads ``p.grad`` and updates ``p`` in place, with PyTorch's formulas (its single-tensor path),
state names and `state_dict` layout (arrays are NumPy arrays, copied in and out).

>>> import chainrule as cr
>>> from chainrule import optim
>>> w = cr.tensor([1.0, -2.0], requires_grad=True)
>>> opt = optim.Adam([w], lr=0.1)
>>> for _ in range(3):
...     opt.zero_grad()
...     ((w - 1.0) ** 2).sum().backward()
...     opt.step()
>>> w.detach().numpy().round(4)
array([ 1.    , -1.7003])

**Functional, optax style** (`sgd`, `adam`, `adamw`, `rmsprop`, `apply_updates`, and the
building blocks `chain`, `scale_by_adam`, `trace`, ...): ``opt.init(params)``,
``opt.update(grads, state, params)``, pure functions of pytrees that compile under `cr.jit`,
with optax's definitions and state layout.

The two families follow their own references, which differ:

====================  ===============================  ====================================
                      PyTorch style (``torch.optim``)  functional (optax)
====================  ===============================  ====================================
RMSprop epsilon       outside the root:                inside (``eps_in_sqrt=True``):
                      ``g / (sqrt(v) + eps)``          ``g / sqrt(v + eps)``
RMSprop decay         ``alpha=0.99``                   ``decay=0.9``
RMSprop centered      ``sqrt(v - m**2) + eps``         ``sqrt(v - m**2 + eps)``
RMSprop momentum      ``buf = mom*buf + g/avg``,       ``t = -lr*g/avg + mom*t`` (equal
                      ``p -= lr*buf``                  while lr is constant); Nesterov
AdamW weight decay    default ``1e-2``;                default ``1e-4``;
                      ``p *= 1 - lr*wd``, then Adam    ``u = -lr*(adam + wd*p)``
Adam denominator      ``sqrt(v)/sqrt(1-b2**t) + eps``  ``sqrt(v/(1-b2**t) + eps_root)``
                                                       ``+ eps``
L2 ``weight_decay``   an option (SGD, Adam, RMSprop)   none: chain `add_decayed_weights`
SGD momentum          ``buf = mom*buf + (1-damp)*g``   ``t = g + mom*t`` (no dampening)
amsgrad, maximize     options                          not offered
step counter          ``state[p]["step"]``, float      ``count``, int32, saturating
schedules             `lr_scheduler` objects           ``learning_rate(count)``
====================  ===============================  ====================================

Deviations from the references, all on purpose: `Optimizer.state_dict` returns copies (PyTorch
returns the live state tensors, so a dict saved mid-run changes as training goes on); ``step``
is a float64 array (PyTorch: a float32 tensor, which stops counting at 2**24); the functional
bias corrections are computed in float64, then cast (JAX without x64: in float32). The
PyTorch options ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are not offered
(one implementation, on NumPy).
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.functional import (
    AddDecayedWeightsState, EmptyState, GradientTransformation, ScaleByAdamState,
    ScaleByRmsState, ScaleByRmsWithCountState, ScaleByRStdDevState, ScaleByRStdDevWithCountState,
    ScaleByScheduleState, TraceState, WeightDecaySchedule, add_decayed_weights, adam, adamw,
    apply_updates, chain, identity, rmsprop, scale, scale_by_adam, scale_by_learning_rate,
    scale_by_rms, scale_by_schedule, scale_by_stddev, sgd, trace,
)  # fmt: skip
from chainrule.optim.optimizers import LBFGS, SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "LBFGS", "SGD", "Adam", "AdamW", "AddDecayedWeightsState", "EmptyState",
    "GradientTransformation", "Optimizer", "RMSprop", "ScaleByAdamState", "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState", "ScaleByRmsState", "ScaleByRmsWithCountState",
    "ScaleByScheduleState", "TraceState", "WeightDecaySchedule", "add_decayed_weights", "adam",
    "adamw", "apply_updates", "chain", "identity", "lr_scheduler", "rmsprop", "scale",
    "scale_by_adam", "scale_by_learning_rate", "scale_by_rms", "scale_by_schedule",
    "scale_by_stddev", "sgd", "trace",
]  # fmt: skip
