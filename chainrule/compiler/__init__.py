"""The compiler behind `cr.jit`: checks, optimising passes and lowering of staged programs
(`chainrule.core.ir`) to Python over NumPy. It sits between the rules and the transforms:
it reads the rule tables, and `transforms/jit.py` drives it."""
