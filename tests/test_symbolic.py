"""cr.to_sympy: the function and its gradient as SymPy expressions, the gradient built by
chainrule's own reverse-mode rules run on SymPy values (a symbolic trace below the reverse
trace), checked against sympy.diff, against cr.grad and through lambdify."""

import subprocess
import sys

import numpy as np
import pytest

sp = pytest.importorskip("sympy")

import chainrule as cr  # noqa: E402
import chainrule.numpy as cnp  # noqa: E402
from chainrule.core import primitives as P  # noqa: E402
from chainrule.transparency.symbolic import (  # noqa: E402
    SymbolicTrace, SymTracer, Symbolic, sympy_rules, symtracers, to_sympy,
)  # fmt: skip
from chainrule.tensor import _EAGER  # noqa: E402

RNG = np.random.default_rng(0)


def _close(a, b, rtol=1e-12, atol=1e-12):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


def _same_numerically(e1, e2, symbols, points):
    """e1 == e2 at each point, to 1e-12 (evaluated by SymPy at 30 digits)."""
    for p in points:
        at = dict(zip(symbols, p))
        v1, v2 = complex(e1.evalf(30, subs=at)), complex(e2.evalf(30, subs=at))
        if abs(v1 - v2) > 1e-12 * (1 + abs(v2)):
            return False
    return True


def fonction_complexe(x, y, z):  # the notebook's, with chainrule.numpy's atan and cos
    a = cnp.arctan(x / y)
    b = cnp.cos(z**2 - x)
    return x * y * a * b / z + a - b


# --- the notebook's functions ----------------------------------------------------------------


def test_polynomial_expression_and_gradient_are_exact():
    s = to_sympy(lambda x: x**3 + x**2 - 6 * x + 1)
    (x,) = s.symbols
    assert isinstance(s, Symbolic) and s.names == ("x",)
    assert s.expr == x**3 + x**2 - 6 * x + 1
    assert sp.expand(s.gradient[0] - (3 * x**2 + 2 * x - 6)) == 0
    assert s.simplify().gradient[0] == 3 * x**2 + 2 * x - 6
    assert s.diff("x") is s.gradient[0] and s.diff(x) is s.gradient[0]
    assert float(s.gradient[0].subs(x, 2)) == float(cr.grad(lambda x: x**3 + x**2 - 6 * x + 1)(2.0))


def test_tanh_of_four_cos_squared():
    f = lambda x: cnp.tanh(4 * cnp.cos(x) ** 2)  # noqa: E731
    s = to_sympy(f)
    (x,) = s.symbols
    assert s.expr == sp.tanh(4 * sp.cos(x) ** 2)
    assert sp.simplify(s.gradient[0] - sp.diff(s.expr, x)) == 0
    assert float(s.gradient[0].subs(x, 7)) == pytest.approx(float(cr.grad(f)(7.0)), rel=1e-12)


def test_fonction_complexe_gradient_from_the_ad_graph_equals_sympy_diff():
    s = to_sympy(fonction_complexe)
    x, y, z = s.symbols
    a, b = sp.atan(x / y), sp.cos(z**2 - x)
    assert sp.simplify(s.expr - (x * y * a * b / z + a - b)) == 0
    for sym, g in zip(s.symbols, s.gradient):
        assert sp.simplify(g - sp.diff(s.expr, sym)) == 0
    expected = cr.grad(fonction_complexe, argnums=(0, 1, 2))(7.0, 5.0, 2.0)
    at = {x: 7, y: 5, z: 2}
    for g, e in zip(s.gradient, expected):
        assert float(g.evalf(subs=at)) == pytest.approx(float(e), rel=1e-12)
    assert _close(s.lambdify(gradient=True)(7.0, 5.0, 2.0), expected)


def test_numpy_ufuncs_dispatch_to_the_same_expression():
    def with_numpy(x, y, z):  # the notebook's code, written with NumPy's own functions
        a = np.arctan(x / y)
        b = np.cos(z**2 - x)
        return x * y * a * b / z + a - b

    assert to_sympy(with_numpy).expr == to_sympy(fonction_complexe).expr


# --- lambdify round trips --------------------------------------------------------------------

FUNCTIONS = [
    lambda x: x**3 + x**2 - 6 * x + 1,
    lambda x: cnp.tanh(4 * cnp.cos(x) ** 2),
    lambda x: (x**2 * cnp.cos(x)) ** 2,
    lambda x, y: cnp.exp(-(x**2) - y**2) * cnp.sin(x * y) + cnp.log1p(x * x),
    lambda x, y: cnp.sqrt(x * x + y * y) / (1 + cnp.abs(y)) + cnp.arctan2(y, x),
    lambda x, y: cnp.logaddexp(x, y) - cnp.hypot(x, 2.0) + x**y,
    lambda x, y: cnp.sum(cnp.array([x, y, x * y]) ** 2) + cnp.mean(cnp.array([x, y])),
    lambda x, y: cnp.array([x, y]) @ cnp.array([[1.0, x], [y, 2.0]]) @ cnp.array([x, 1.0]),
    fonction_complexe,
]


@pytest.mark.parametrize("f", FUNCTIONS)
def test_lambdify_round_trips_values_and_gradients(f):
    s = to_sympy(f)
    n = len(s.symbols)
    value, gradient = s.lambdify(), s.lambdify(gradient=True)
    for _ in range(4):
        p = tuple(float(v) for v in RNG.uniform(0.3, 2.0, n))
        assert _close(value(*p), f(*p))
        assert _close(gradient(*p), cr.grad(f, argnums=tuple(range(n)))(*p))


@pytest.mark.parametrize("f", FUNCTIONS[:6])
def test_gradient_is_sympy_diff_numerically(f):
    s = to_sympy(f)
    points = [tuple(RNG.uniform(0.3, 2.0, len(s.symbols))) for _ in range(5)]
    for sym, g in zip(s.symbols, s.gradient):
        assert _same_numerically(g, sp.diff(s.expr, sym), s.symbols, points)


def test_where_maximum_abs_clip_become_piecewise_max_abs():
    def f(x, y):
        return cnp.where(x > y, cnp.abs(x) * y, cnp.maximum(x, 0.5) - cnp.minimum(y, x)) + \
            cnp.clip(y, -1.0, 1.0)  # fmt: skip

    s = to_sympy(f)
    x, y = s.symbols
    for kind in (sp.Piecewise, sp.Max, sp.Min, sp.Abs):
        assert s.expr.has(kind)
    value, gradient = s.lambdify(), s.lambdify(gradient=True)
    for p in [(2.0, 1.0), (-2.0, 0.3), (0.1, 0.7), (-3.0, -2.0), (0.2, 5.0), (1.5, -4.0)]:
        assert _close(value(*p), f(*p))
        assert _close(gradient(*p), cr.grad(f, argnums=(0, 1))(*p))
    # the AD rules' tie-breaking is in the expression: d max(x, y)/dx = 1/2 at x == y
    m = to_sympy(lambda x, y: cnp.maximum(x, y))
    assert m.gradient[0].subs({m.symbols[0]: 1, m.symbols[1]: 1}) == sp.Rational(1, 2)


# --- every scalar primitive ------------------------------------------------------------------

_AT = {"arccosh": 1.7, "arcsin": 0.3, "arccos": 0.3, "arctanh": 0.3}


def test_every_elementwise_primitive_has_a_rule():
    names = P.UNARY + P.BINARY + [
        "where", "clip", "sum", "mean", "prod", "amax", "amin", "sign", "floor", "ceil",
        "trunc", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
        "logical_and", "logical_or", "logical_xor", "logical_not", "astype", "stop_gradient",
    ]  # fmt: skip
    missing = [n for n in names if getattr(P, n + "_p") not in sympy_rules]
    assert missing == []


@pytest.mark.parametrize("name", P.UNARY)
def test_unary_rules_values_and_gradients(name):
    fn = getattr(cnp, {"neg": "negative", "abs": "absolute", "conj": "conjugate"}.get(name, name))
    s = to_sympy(lambda x: fn(x))
    x0 = _AT.get(name, 0.7)
    assert _close(s.lambdify()(x0), fn(x0))
    assert _close(s.lambdify(gradient=True)(x0)[0], cr.grad(fn)(x0))
    if s.expr.free_symbols:  # real, imag, conj of a real symbol: x, 0, x
        (x,) = s.symbols
        assert _same_numerically(s.gradient[0], sp.diff(s.expr, x), (x,), [(x0,), (x0 * 1.1,)])


@pytest.mark.parametrize("name", P.BINARY)
def test_binary_rules_values_and_gradients(name):
    fn = getattr(cnp, {"sub": "subtract", "mul": "multiply", "div": "divide", "pow": "power",
                       "mod": "remainder"}.get(name, name))  # fmt: skip
    s = to_sympy(lambda x, y: fn(x, y))
    for p in [(2.3, 0.7), (0.6, 1.9)]:
        assert _close(s.lambdify()(*p), fn(*p))
        assert _close(s.lambdify(gradient=True)(*p), cr.grad(fn, argnums=(0, 1))(*p))


def test_comparisons_and_rounding_become_relationals_and_integer_functions():
    x, y = sp.symbols("x y", real=True)
    assert to_sympy(lambda x, y: cnp.where(x <= y, 1.0, 0.0)).expr == \
        sp.Piecewise((1, x <= y), (0, True))  # fmt: skip
    e = to_sympy(lambda x: cnp.sign(x) + cnp.floor(x) + cnp.ceil(x)).expr
    assert e == sp.sign(x) + sp.floor(x) + sp.ceiling(x)
    t = to_sympy(lambda x, y: cnp.where((x > 0) & ~(y > 0), x, y))
    assert t.lambdify()(1.0, -1.0) == 1.0 and t.lambdify()(1.0, 1.0) == 1.0


def test_constants_are_exact():
    x = sp.Symbol("x", real=True)
    assert to_sympy(lambda x: 0.5 * x + 2.0).expr == x / 2 + 2
    assert to_sympy(lambda x: np.pi * x).expr == sp.pi * x
    assert to_sympy(lambda x: cnp.deg2rad(x)).gradient == [sp.pi / 180]
    assert to_sympy(lambda x: cnp.exp2(x)).gradient == [2**x * sp.log(2)]
    assert to_sympy(lambda x: 0.1 * x).expr == sp.Float(0.1) * x


# --- the design: levels, higher order, arrays --------------------------------------------------


def test_the_symbolic_trace_sits_below_every_other_trace():
    (x,) = symtracers("x")
    assert x._trace.level < _EAGER.level and x._trace.level < 1
    g = cr.grad(lambda x: cnp.sin(x) * x)(x)  # the reverse trace records on top of it
    assert isinstance(g, SymTracer) and isinstance(x._trace, SymbolicTrace)
    assert g.expr == sp.sin(x.expr) + x.expr * sp.cos(x.expr)
    out, f_vjp = cr.vjp(lambda x: x**2, x)
    assert out.expr == x.expr**2 and f_vjp(3.0)[0].expr == 6 * x.expr


def test_grad_inside_the_function_and_the_hessian():
    s = to_sympy(lambda x: cr.grad(lambda u: u**3 * cnp.sin(u))(x))
    (x,) = s.symbols
    assert sp.simplify(s.expr - sp.diff(x**3 * sp.sin(x), x)) == 0
    assert sp.simplify(s.gradient[0] - sp.diff(x**3 * sp.sin(x), x, 2)) == 0
    h = to_sympy(fonction_complexe).hessian()
    e = to_sympy(fonction_complexe)
    expected = sp.hessian(e.expr, e.symbols)
    assert h.shape == (3, 3)
    points = [(7.0, 5.0, 2.0), (1.3, 0.8, 0.6)]
    for i in range(3):
        for j in range(3):
            assert _same_numerically(h[i, j], expected[i, j], e.symbols, points)


def test_arrays_built_from_symbols():
    s = to_sympy(lambda x, y: cnp.sum(cnp.array([x, y]) ** 2) + cnp.prod(cnp.array([x, y])))
    x, y = s.symbols
    assert s.expr == x**2 + y**2 + x * y
    assert s.gradient == [2 * x + y, 2 * y + x]
    m = to_sympy(lambda x, y: cnp.max(cnp.stack([x, y, 1.0])))
    assert m.expr == sp.Max(1, x, y)
    assert _close(m.lambdify(gradient=True)(3.0, 2.0), (1.0, 0.0))


# --- errors ----------------------------------------------------------------------------------


def test_unsupported_primitives_raise_not_implemented_naming_them():
    with pytest.raises(NotImplementedError, match="'det'"):
        to_sympy(lambda x, y: cnp.linalg.det(cnp.array([[x, y], [y, x]])))
    with pytest.raises(NotImplementedError, match="'eigh'"):
        to_sympy(lambda x, y: cnp.sum(cnp.linalg.eigvalsh(cnp.array([[x, y], [y, x]]))))
    with pytest.raises(NotImplementedError, match="'argsort'"):
        to_sympy(lambda x, y: cnp.sum(cnp.sort(cnp.array([x, y]))))
    (x,) = symtracers("x")
    with pytest.raises(NotImplementedError, match="'svd'"):
        SymbolicTrace().process_primitive(P.svd_p, (x,), {})


def test_branch_free_rules_give_symbolic_gradients():
    # cumprod's rule used to branch on zeros; it is branch-free now (a doubling scan)
    s = to_sympy(lambda x: cnp.sum(cnp.cumprod(cnp.array([x, x, 2.0]))))
    x = s.symbols[0]
    assert s.expr == 3 * x ** 2 + x
    assert sp.simplify(s.gradient[0] - (6 * x + 1)) == 0


def test_python_control_flow_on_a_symbol_is_a_clear_error():
    def f(x):
        return x if x > 0 else -x

    with pytest.raises(TypeError, match="cnp.where"):
        to_sympy(f)
    with pytest.raises(TypeError, match="float value"):
        to_sympy(lambda x: float(x))


def test_names_and_outputs():
    assert to_sympy(fonction_complexe).names == ("x", "y", "z")
    assert to_sympy(lambda *a: a[0] * a[1], "u v").names == ("u", "v")
    t = sp.Symbol("t", positive=True)
    assert to_sympy(lambda a: cnp.sqrt(a**2), t).expr == t
    assert to_sympy(lambda x: x, real=False).symbols[0].is_real is None
    assert to_sympy(lambda x, scale=2.0: scale * x).expr == 2 * sp.Symbol("x", real=True)
    with pytest.raises(TypeError, match="names"):
        to_sympy(lambda *a: a[0])
    with pytest.raises(TypeError, match="scalar"):
        to_sympy(lambda x, y: cnp.array([x, y]))
    c = to_sympy(lambda x: 3.0)
    assert c.expr == 3 and c.gradient == [0]


def test_str_and_latex():
    s = to_sympy(fonction_complexe)
    text = str(s)
    assert text.splitlines()[0].startswith("fonction_complexe(x, y, z) = ")
    assert "∂fonction_complexe/∂z = " in text
    latex = s._repr_latex_()
    assert latex.startswith("$") and r"\frac{\partial fonction_complexe}{\partial x}" in latex
    assert "Symbolic" in repr(s)


def test_sympy_is_optional():
    code = (
        "import sys, importlib; import chainrule\n"
        "m = importlib.import_module('chainrule.transparency.symbolic')\n"
        "assert 'sympy' not in sys.modules\n"
        "sys.modules['sympy'] = None\n"
        "try:\n"
        "    m.to_sympy(lambda x: x)\n"
        "except ImportError as e:\n"
        "    assert 'pip install chainrule[sym]' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    # without SymPy, the module's examples are dropped (doctest runs skip them)
    code = (
        "import sys; sys.modules['sympy'] = None\n"
        "from chainrule.transparency import symbolic as m\n"
        "assert '>>>' not in m.__doc__ and '>>>' not in m.to_sympy.__doc__\n"
        "assert 'SymPy' in m.to_sympy.__doc__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
