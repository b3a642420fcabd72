"""`chainrule.progress`: a progress bar and a loss curve for long work (training loops,
`cr.minimize`, `cr.compare` sweeps), with optional dependencies only.

- `progress(iterable, total=None, desc=None, enable=None)` wraps a loop in a `Progress`:
  tqdm's bar when tqdm is installed (``tqdm.auto``: a widget in Jupyter), else one line on
  stderr rewritten in place at most ten times a second. ``bar.log(loss)`` shows the loss
  and records it in ``bar.curve``, whether the bar is shown or not.
- `LossCurve` records losses by step; ``.plot()`` returns a matplotlib ``Figure`` (a clear
  ImportError without matplotlib), and in Jupyter the curve displays itself as a picture.
- The display is off by default (scripts and CI logs stay clean): ``enable=True`` turns it
  on for one bar, `set_enabled(True)` (or the environment variable
  ``CHAINRULE_PROGRESS=1``) for every bar whose `enable` is None, those of `cr.minimize`
  and `cr.compare` included (their ``progress=None`` default); the tour turns it on.

>>> from chainrule.progress import progress
>>> bar = progress(range(3), desc="train")   # not shown: off by default
>>> for step in bar:
...     bar.log(1.0 / (step + 1))
>>> bar.curve.losses
array([1.        , 0.5       , 0.33333333])
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["LossCurve", "Progress", "enabled", "progress", "set_enabled"]

_enabled: bool | None = None  # set_enabled's choice; None: the environment decides


def enabled() -> bool:
    """Whether bars with ``enable=None`` are shown: `set_enabled`'s choice, else the
    environment variable ``CHAINRULE_PROGRESS`` (``1``, ``true``, ``yes`` or ``on``), else
    False.

    >>> from chainrule.progress import enabled, set_enabled
    >>> set_enabled(True); enabled()
    True
    >>> set_enabled(None)   # back to the environment's default
    """
    if _enabled is not None:
        return _enabled
    return os.environ.get("CHAINRULE_PROGRESS", "").strip().lower() in ("1", "true", "yes", "on")


def set_enabled(flag: bool | None) -> None:
    """Show (True) or hide (False) every bar whose `enable` is None, `cr.minimize`'s and
    `cr.compare`'s included; None gives the choice back to ``CHAINRULE_PROGRESS``.

    >>> from chainrule.progress import set_enabled, progress
    >>> set_enabled(False)
    >>> progress(range(2)).shown
    False
    >>> set_enabled(None)
    """
    global _enabled
    if flag is not None and not isinstance(flag, bool):
        raise TypeError(f"set_enabled: flag must be True, False or None, got {flag!r}")
    _enabled = flag


def _as_loss(loss: Any) -> float:
    """A loss (a Python or NumPy number, a 0-d or 1-element array or Tensor) as a float."""
    if isinstance(loss, (str, bytes)):
        raise TypeError(f"a loss must be a number (or a 0-d array or Tensor), got {loss!r:.60}")
    item = getattr(loss, "item", None)
    try:
        value = item() if callable(item) and not isinstance(loss, (int, float)) else loss
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"a loss must be a number (or a 0-d array or Tensor), got "
                        f"{type(loss).__name__} {loss!r:.60}") from None  # fmt: skip


# -- the loss curve ---------------------------------------------------------------------------


class LossCurve:
    """Losses recorded by step, drawn with `plot` (matplotlib, optional).

    `losses`: values to start with (steps 0, 1, ...), e.g. ``res.loss_history`` of
    `cr.minimize`. `title`, `logy`: the defaults of `plot`. In Jupyter the curve displays
    as its picture (``_repr_png_``/``_repr_svg_``; the text repr without matplotlib).

    >>> from chainrule.progress import LossCurve
    >>> curve = LossCurve([4.0, 2.0])
    >>> curve.append(1.0)
    >>> curve
    LossCurve(3 losses, last 1 at step 2, min 1 at step 2)
    >>> curve.steps, curve.losses
    (array([0, 1, 2]), array([4., 2., 1.]))
    """

    def __init__(self, losses: Iterable[Any] | None = None, *, title: str | None = None,
                 logy: bool | None = None) -> None:  # fmt: skip
        self._steps: list[int] = []
        self._losses: list[float] = []
        self.title = title
        self.logy = logy
        if losses is not None:
            self.extend(losses)

    def append(self, loss: Any, step: int | None = None) -> None:
        """Record `loss` at `step` (default: the step after the last one, 0 for the first).

        >>> from chainrule.progress import LossCurve
        >>> c = LossCurve(); c.append(2.0, step=10); c.append(1.5)
        >>> c.steps
        array([10, 11])
        """
        if step is None:
            step = self._steps[-1] + 1 if self._steps else 0
        elif isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"LossCurve.append: step must be an int, got {step!r}")
        self._steps.append(int(step))
        self._losses.append(_as_loss(loss))

    def extend(self, losses: Iterable[Any]) -> None:
        """Record each of `losses` at the following steps.

        >>> from chainrule.progress import LossCurve
        >>> c = LossCurve(); c.extend([3.0, 2.0]); len(c)
        2
        """
        if isinstance(losses, np.ndarray):
            losses = losses.ravel()
        for loss in losses:
            self.append(loss)

    @property
    def losses(self) -> np.ndarray:
        """The losses, as a float64 array (a copy).

        >>> from chainrule.progress import LossCurve
        >>> LossCurve([1, 2]).losses
        array([1., 2.])
        """
        return np.array(self._losses, dtype=np.float64)

    @property
    def steps(self) -> np.ndarray:
        """The steps of the losses, as an int array (a copy).

        >>> from chainrule.progress import LossCurve
        >>> LossCurve([1, 2]).steps
        array([0, 1])
        """
        return np.array(self._steps, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._losses)

    def __repr__(self) -> str:
        n = len(self._losses)
        if n == 0:
            return "LossCurve(empty)"
        finite = [i for i, v in enumerate(self._losses) if not math.isnan(v)]
        k = min(finite, key=self._losses.__getitem__) if finite else n - 1
        return (f"LossCurve({n} loss{'es' if n != 1 else ''}, last {self._losses[-1]:.6g} at "
                f"step {self._steps[-1]}, min {self._losses[k]:.6g} at step {self._steps[k]})")

    def plot(self, path: Any = None, *, logy: bool | None = None, title: str | None = None) -> Any:
        """Draw the loss against the step; save the picture to `path` when given (any format
        matplotlib writes). The loss axis is logarithmic when every loss is positive and they
        span more than two decades, unless `logy` (or the curve's `logy`) says otherwise.
        Returns the ``matplotlib.figure.Figure`` (made without pyplot: no window opens).

        >>> from chainrule.progress import LossCurve
        >>> fig = LossCurve([1.0, 1e-2, 1e-4]).plot()   # doctest: +SKIP
        >>> fig.axes[0].get_yscale()                    # doctest: +SKIP
        'log'
        """
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("LossCurve.plot needs matplotlib: pip install matplotlib (or "
                              "chainrule[viz])") from None  # fmt: skip
        losses, steps = self.losses, self.steps
        fig = Figure(figsize=(6, 4), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(steps, losses, marker="." if losses.size < 60 else None)
        logy = self.logy if logy is None else logy
        if logy is None:
            finite = losses[np.isfinite(losses)]
            logy = (finite.size > 0 and bool(np.all(finite > 0))
                    and finite.max() > 100 * finite.min())  # fmt: skip
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(title or self.title or "loss by step")
        ax.grid(True, alpha=0.3)
        if path is not None:
            fig.savefig(path)
        return fig

    def _picture(self, fmt: str) -> bytes | None:
        if not self._losses:
            return None
        try:
            fig = self.plot()
        except ImportError:
            return None  # Jupyter then shows the text repr
        import io

        buf = io.BytesIO()
        fig.savefig(buf, format=fmt)
        return buf.getvalue()

    def _repr_png_(self) -> bytes | None:
        return self._picture("png")

    def _repr_svg_(self) -> str | None:
        data = self._picture("svg")
        return None if data is None else data.decode("utf-8")


# -- the bar ----------------------------------------------------------------------------------


class Progress:
    """A progress display over a loop (see `progress`, which makes one): iterate over it, or
    call `update` yourself; `log` shows the loss and records it in `curve`. Closed at the end
    of the loop, by `close`, or on leaving a ``with`` block.

    Attributes: `n` (the updates so far), `total`, `desc`, `curve` (a `LossCurve`), `shown`
    (whether it is displayed), `backend` (``"tqdm"``, ``"plain"`` or None when hidden).

    >>> from chainrule.progress import Progress
    >>> with Progress(total=2, desc="solve") as bar:
    ...     bar.log(3.0); bar.update(); bar.log(1.0); bar.update()
    >>> bar.n, bar.curve.losses
    (2, array([3., 1.]))
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 desc: str | None = None, enable: bool | None = None, file: Any = None,
                 unit: str = "it") -> None:  # fmt: skip
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except (TypeError, AttributeError):
                total = None
        if total is not None and (isinstance(total, bool)
                                  or not isinstance(total, (int, np.integer)) or total < 0):
            raise ValueError(f"progress: total must be a non-negative int or None, got {total!r}")
        self.iterable = iterable
        self.total = None if total is None else int(total)
        self.desc = desc
        self.unit = unit
        self.n = 0
        self.curve = LossCurve(title=desc)
        self.shown = enabled() if enable is None else bool(enable)
        self.closed = False
        self._bar: Any = None
        self._file = file
        self._loss: float | None = None
        self._start = time.monotonic()
        self._last = -math.inf
        self._width = 0
        self.backend: str | None = None
        if self.shown:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.backend = "plain"
            else:
                self._bar = tqdm(total=self.total, desc=desc, unit=unit, file=file)
                self.backend = "tqdm"

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("this Progress wraps no iterable: give one to progress(), or call "
                            "update() yourself")  # fmt: skip
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("this Progress has no total")
        return self.total

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count `n` more steps done (and refresh the display).

        >>> from chainrule.progress import Progress
        >>> bar = Progress(total=10); bar.update(3); bar.n
        3
        """
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.backend == "plain":
            now = time.monotonic()
            if now - self._last >= 0.1:
                self._last = now
                self._write()

    def log(self, loss: Any, step: int | None = None) -> None:
        """Record `loss` in `curve` at `step` (default `n`, the steps done so far: in a loop
        over the bar, the index of the current iteration) and show it.

        >>> from chainrule.progress import Progress
        >>> bar = Progress(); bar.log(0.5); bar.curve.steps
        array([0])
        """
        self.curve.append(loss, self.n if step is None else step)
        self._loss = self.curve._losses[-1]
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss={self._loss:.6g}", refresh=False)

    def _line(self) -> str:
        head = f"{self.desc}: " if self.desc else ""
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        word = "iteration" if self.unit == "it" else self.unit
        loss = f", loss {self._loss:.8g}" if self._loss is not None else ""
        return f"{head}{word} {count}{loss} ({time.monotonic() - self._start:.1f} s)"

    def _write(self) -> None:
        stream = sys.stderr if self._file is None else self._file
        line = self._line()
        stream.write("\r" + line.ljust(self._width))
        stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """End the display (the plain line is written a last time, then a newline); safe to
        call twice.

        >>> from chainrule.progress import Progress
        >>> bar = Progress(); bar.close(); bar.closed
        True
        """
        if self.closed:
            return
        self.closed = True
        if self._bar is not None:
            self._bar.close()
        elif self.backend == "plain":
            self._write()
            stream = sys.stderr if self._file is None else self._file
            stream.write("\n")
            stream.flush()


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None,
             desc: str | None = None, enable: bool | None = None, file: Any = None,
             unit: str = "it") -> Progress:  # fmt: skip
    """A `Progress` over `iterable` (its length is the `total` unless given): iterate over it
    as over the iterable; ``bar.log(loss)`` shows the loss and records it in ``bar.curve``.
    `enable`: show it (True), hide it (False), or follow `enabled()` (None, the default: off
    unless `set_enabled(True)` or ``CHAINRULE_PROGRESS=1``). `file`: where the bar is written
    (stderr by default). tqdm draws it when installed; otherwise a plain line.

    >>> import io, chainrule as cr, chainrule.numpy as cnp
    >>> from chainrule.progress import progress
    >>> w = cr.tensor([1.0, -2.0], requires_grad=True)
    >>> out = io.StringIO()
    >>> bar = progress(range(20), desc="descent", enable=True, file=out)
    >>> for step in bar:
    ...     loss = (w ** 2).sum()
    ...     w.grad = None; loss.backward()
    ...     with cr.no_grad():
    ...         w -= 0.25 * w.grad
    ...     bar.log(loss)
    >>> len(bar.curve), bool(bar.curve.losses[-1] < 1e-3)
    (20, True)
    """
    return Progress(iterable, total=total, desc=desc, enable=enable, file=file, unit=unit)
