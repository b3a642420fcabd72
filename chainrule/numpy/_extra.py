"""More of NumPy: functions composed of the core's (see `chainrule.numpy`)."""

__all__: list = []
