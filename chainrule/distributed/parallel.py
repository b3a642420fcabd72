"""`DataParallel`: PyTorch's DistributedDataParallel for chainrule's Tensors.

At construction every rank receives rank 0's parameter values (one broadcast per bucket).
Then, after ``loss.backward()``, each parameter's ``.grad`` is the mean over the processes of
the gradients they computed, so with the global batch split between the processes
(`shard`), every process takes the step one process would take on the whole batch.

How: a hook on each parameter sees its gradient as the backward pass delivers it; the
parameters are grouped into buckets (by dtype, ~25 MB each) and a bucket is all-reduced,
in one message, as soon as all of its parameters have their gradient. (chainrule's engine
delivers the leaves' gradients, and runs their hooks, once the backward pass has computed
them all, so the reduction follows the backward pass rather than overlapping with it as in
PyTorch: with W7's 2.5 MB of gradients in one bucket, that is one message per step.)

The all-reduced value is the parameter's whole ``.grad`` (what it held before the backward
pass plus the new gradient), as DistributedDataParallel does. So every parameter must
receive a gradient in each backward pass (on every rank); when some may not (a branch not
taken), call ``dp.synchronize()`` after the backward pass, which reduces the buckets still
waiting, counting a missing gradient as zero. Forgetting it is an error at the next forward or
backward pass (never a silent step on local gradients). ``auto=False`` drops the hooks:
``dp.synchronize()`` then averages every ``.grad``; ``with dp.no_sync():`` accumulates
gradients locally (the next synchronised backward pass averages the total).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.distributed import buckets
from chainrule.distributed.comm import Communicator, communicator
from chainrule.tensor import Tensor, _new


class DataParallel:
    """Data parallelism over the process group for a Module-like object (anything with
    ``parameters()``; calling the wrapper calls it) or a list of Tensors.

    `broadcast`: start from rank 0's parameter values; `bucket_mb`: the size of the buckets
    (25 MB); `auto`: average in the backward pass (else call `synchronize()`); `timeout`:
    the deadline of its collectives (the group's by default); `process_group`: a
    `Communicator` (the process group's by default).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> dp = DataParallel([w])                 # one process here: nothing to average
    >>> (w * w).sum().backward()
    >>> w.grad
    tensor([2., 4.])
    """

    def __init__(self, module: Any, *, broadcast: bool = True, bucket_mb: float | None = None,
                 auto: bool = True, timeout: float | None = None,
                 process_group: Communicator | None = None) -> None:  # fmt: skip
        params = module.parameters() if callable(getattr(module, "parameters", None)) else module
        self.module = module if params is not module else None
        if isinstance(params, Tensor):
            params = [params]
        seen: set = set()
        self._params: list[Tensor] = []
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"DataParallel: parameter {i} is a {type(p).__name__}, not a "
                                "Tensor (give a Module or a list of Tensors)")  # fmt: skip
            if not p.requires_grad or id(p) in seen:
                continue
            if not p.is_leaf:
                raise ValueError(f"DataParallel: parameter {i} is not a leaf tensor (its "
                                 "gradient is never stored in .grad)")  # fmt: skip
            seen.add(id(p))
            self._params.append(p)
        self.comm = communicator() if process_group is None else process_group
        self.timeout = timeout
        self._max_bytes = buckets.bucket_bytes(bucket_mb)
        self._plan = buckets.plan_buckets([np.asarray(p._value) for p in self._params],
                                          self._max_bytes)  # fmt: skip
        self._bucket_of = {}
        for b, bucket in enumerate(self._plan):
            for i in bucket.leaves:
                self._bucket_of[i] = b
        self._totals: dict[int, np.ndarray] = {}  # this round's .grad totals, by parameter
        self._waiting = [len(b.leaves) for b in self._plan]  # per bucket, this round
        self._done: set[int] = set()  # buckets averaged in this round
        self._complete = True  # the last round is over (every bucket averaged)
        self._sync = True
        self._handles = []
        if broadcast:
            self.broadcast_parameters()
        if auto and self.comm.size > 1:  # one process: nothing to average
            for i, p in enumerate(self._params):
                self._handles.append(p.register_hook(self._hook(i)))

    # -- the PyTorch surface ------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.module is None:
            raise TypeError("DataParallel over a list of Tensors is not callable (wrap a Module)")
        self._check_round("forward")
        return self.module(*args, **kwargs)

    def parameters(self) -> Iterator[Tensor]:
        """The parameters averaged (those that require grad, each once).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> list(DataParallel([w, w]).parameters()) == [w]
        True
        """
        return iter(self._params)

    @property
    def buckets(self) -> list[buckets.Bucket]:
        """The bucket plan: which parameters (by index) share a message.

        >>> import chainrule as cr
        >>> ps = [cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor(3.0, requires_grad=True)]
        >>> [b.leaves for b in DataParallel(ps).buckets]    # 25 MB: one bucket
        [[0, 1]]
        """
        return self._plan

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate local gradients; the next one outside
        averages the accumulated total (gradient accumulation without a message per
        micro-batch).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> dp = DataParallel([w])
        >>> with dp.no_sync():
        ...     (w * w).sum().backward()        # local
        >>> (w * w).sum().backward()            # the total, averaged over the processes
        >>> w.grad
        tensor([4., 8.])
        """
        prev, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = prev

    def remove(self) -> None:
        """Stop averaging (removes the hooks).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0], requires_grad=True)
        >>> dp = DataParallel([w]); dp.remove()
        """
        for h in self._handles:
            h.remove()
        self._handles = []

    def broadcast_parameters(self, root: int = 0) -> None:
        """Overwrite every rank's parameter values with rank `root`'s (done at construction;
        again after loading a checkpoint on one rank).

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> dp = DataParallel([w], broadcast=False)
        >>> dp.broadcast_parameters(); w
        tensor([1., 2.], requires_grad=True)
        """
        values = [np.asarray(p._value) for p in self._params]
        if self.comm.size == 1:
            return
        what = "DataParallel: broadcast of the parameters"
        buckets.check_same_layout(self.comm, f"{len(values)} parameters", values, root,
                                  self.timeout, what)  # fmt: skip
        new = buckets.broadcast_buckets(self.comm, values, root, self._max_bytes,
                                        what, self.timeout)  # fmt: skip
        for p, v in zip(self._params, new):
            p._value = v  # its own memory (optimizers update it in place)
            p._ver[0] += 1

    def synchronize(self) -> None:
        """Average, now, the gradients of the buckets not yet averaged in this round (every
        ``.grad`` with ``auto=False``); a parameter without a gradient counts as zero. Call it
        after ``loss.backward()`` when some parameters may receive no gradient.

        >>> import chainrule as cr
        >>> a = cr.tensor([1.0], requires_grad=True)
        >>> unused = cr.tensor([5.0], requires_grad=True)
        >>> dp = DataParallel([a, unused])
        >>> (3 * a).sum().backward(); dp.synchronize()
        >>> a.grad
        tensor([3.])
        """
        if self.comm.size == 1 or (self._handles and self._complete):
            return
        for b, bucket in enumerate(self._plan):
            if b in self._done:
                continue
            for i in bucket.leaves:
                if i not in self._totals:
                    p = self._params[i]
                    self._totals[i] = (np.zeros_like(p._value) if p._grad is None
                                       else np.asarray(p._grad._value))  # fmt: skip
            self._reduce(b)
        self._end_round()

    # -- the machinery ------------------------------------------------------------------------
    def _end_round(self) -> None:
        self._totals.clear()
        self._done.clear()
        self._waiting = [len(b.leaves) for b in self._plan]
        self._complete = True

    def _check_round(self, where: str) -> None:
        """Raise if the last round is incomplete (some buckets never averaged)."""
        if self._complete or not (self._totals or self._done):
            return
        missing = [i for b, bucket in enumerate(self._plan) if b not in self._done
                   for i in bucket.leaves if i not in self._totals]  # fmt: skip
        names = ", ".join(f"#{i} (shape {tuple(self._params[i].shape)})" for i in missing)
        self._end_round()
        raise RuntimeError(
            f"DataParallel: {where} pass before the previous backward pass's gradients were "
            f"all averaged: the parameters {names} received no gradient, so their buckets were "
            "never all-reduced. Every parameter must receive a gradient in each backward "
            "pass; when some may not, call dp.synchronize() after loss.backward() (it "
            "counts a missing gradient as zero)"
        )

    def _hook(self, i: int) -> Any:
        p = self._params[i]
        b = self._bucket_of[i]

        def hook(g: Tensor) -> Tensor | None:
            if not self._sync:
                return None
            if self._complete:  # a new round
                self._complete = False
            elif i in self._totals or b in self._done:
                self._check_round("backward")
                self._complete = False
            old = p._grad
            gv = np.asarray(g._value)
            self._totals[i] = gv if old is None else np.asarray(old._value) + gv
            self._waiting[b] -= 1
            if self._waiting[b]:
                return None  # accumulated locally for now; replaced when the bucket is done
            mine = self._reduce(b, skip=i)
            if len(self._done) == len(self._plan):
                self._end_round()
            p._grad = None  # the engine accumulates what the hook returns: the mean itself
            return _new(mine, None)

        return hook

    def _reduce(self, b: int, skip: int = -1) -> np.ndarray | None:
        """All-reduce bucket `b`'s totals (mean) in one message; set its parameters' .grad
        (all but `skip`'s, which is returned)."""
        bucket = self._plan[b]
        arrays: list = [None] * len(self._params)
        for i in bucket.leaves:
            arrays[i] = self._totals.pop(i)
        out: list = [None] * len(self._params)
        buckets.reduce_bucket(self.comm, arrays, bucket, b, len(self._plan), "sum", True,
                              "DataParallel: all_reduce of the gradients", out,
                              self.timeout)  # fmt: skip
        self._done.add(b)
        mine = None
        for i in bucket.leaves:
            if i == skip:
                mine = out[i]
            else:
                self._params[i]._grad = _new(out[i], None)
        return mine
