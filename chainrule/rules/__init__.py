"""The rule tables, one per transformation (impl, shape, vjp, jvp, batching, transpose),
each keyed by primitive; domain modules (fft, callback) add their primitives' rows."""

import warnings

# A derivative rule computes inf or nan where the derivative is infinite or undefined (sqrt
# at 0, log at 0): that is its value, not a warning about the user's code (JAX and PyTorch
# do not warn either). The forward computation warns as NumPy does.
warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"chainrule\.rules\.(vjp|jvp)$")
