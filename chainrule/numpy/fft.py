"""`chainrule.numpy.fft`: `numpy.fft`, differentiable."""

import numpy as _np

from chainrule.core.ops import _traced


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
