"""`chainrule.scipy`: SciPy's special functions, distributions and linear algebra,
differentiable (SciPy is an optional dependency: ``pip install chainrule[scipy]``)."""
