"""The Fourier transform primitive's rows in every rule table (impl, shape, vjp, jvp,
batching, transpose): see `chainrule.core.primitives.fft_p`."""
