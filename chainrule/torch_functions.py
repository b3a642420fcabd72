"""PyTorch's top-level functions (`cr.cat`, `cr.clamp`, ...) for the Tensor face."""

__all__: list = []
