"""The command line: formulas parsed safely, clear errors with the column, the numbers."""

import subprocess
import sys

import numpy as np
import pytest

from chainrule.__main__ import main
from chainrule.transparency.expr import ExpressionError, parse


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_grad_prints_value_and_partials(capsys):
    code, out, _ = run(capsys, "grad", "x*y + sin(x - 2*y)", "--at", "x=1", "y=2")
    assert code == 0
    x, y = 1.0, 2.0
    assert f"f = {x * y + np.sin(x - 2 * y):.12g}" in out
    assert f"df/dx = {y + np.cos(x - 2 * y):.12g}" in out
    assert f"df/dy = {x - 2 * np.cos(x - 2 * y):.12g}" in out


def test_explain_shows_the_chain_rule(capsys):
    code, out, _ = run(capsys, "explain", "tanh(4*cos(x)**2)", "--at", "x=7")
    assert code == 0
    x = 7.0
    dfdx = (1 - np.tanh(4 * np.cos(x) ** 2) ** 2) * (-8 * np.cos(x) * np.sin(x))
    assert f"df/dx = {dfdx:.6g}" in out
    assert "cos(x)" in out and "tanh(v3)" in out


def test_a_bare_number_for_one_variable(capsys):
    assert run(capsys, "grad", "x**3", "--at", "2")[1].splitlines()[1] == "df/dx = 12"


@pytest.mark.parametrize(
    "formula,column,words",
    [
        ("tanh(4*cos(x)**2", 5, "never closed"),
        ("x +* 2", 4, "not a formula"),
        ("foo(x)", 1, "foo is not a known function"),
        ("exp + x", 1, "exp is a function"),
        ("x + 'a'", 5, "only numbers"),
        ("x.real", 1, "Attribute is not allowed"),
    ],
)
def test_bad_formulas_name_the_column(capsys, formula, column, words):
    code, _, err = run(capsys, "explain", formula, "--at", "x=1")
    assert code == 2
    assert f"(column {column})" in err and words in err
    assert err.splitlines()[2].index("^") == 2 + column - 1  # the pointer sits under it


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('os').system('echo pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "(lambda: 1)()",
        "open('/etc/passwd')",
        "eval('1+1')",
        "[x for x in (1, 2)]",
        "x if x else x",
        "__builtins__",
        "getattr(x, 'real')",
    ],
)
def test_code_cannot_run_through_a_formula(capsys, attack):
    code, out, err = run(capsys, "grad", attack, "--at", "x=1")
    assert code == 2 and out == "" and "column" in err
    with pytest.raises(ExpressionError):
        parse(attack)


@pytest.mark.parametrize(
    "at,words",
    [(["y=1"], "no variable 'y'"), (["x=abc"], "not a number"), ([], "give a value for x")],
)
def test_bad_points(capsys, at, words):
    code, _, err = run(capsys, "grad", "x**2", "--at", *at)
    assert code == 2 and words in err


def test_a_formula_without_variables(capsys):
    code, _, err = run(capsys, "grad", "2 + pi", "--at")
    assert code == 2 and "no variable" in err


def test_parsed_functions_are_differentiable_everywhere():
    import chainrule as cr

    f, names = parse("atan(x/y) * exp(-x) + hypot(x, y) - relu(y - 3)")
    assert names == ["x", "y"]
    x, y = 0.7, 1.9
    gx, gy = cr.grad(f, argnums=(0, 1))(x, y)
    r = np.hypot(x, y)
    assert gx == pytest.approx(
        (y / (x * x + y * y)) * np.exp(-x) - np.arctan(x / y) * np.exp(-x) + x / r
    )
    assert gy == pytest.approx((-x / (x * x + y * y)) * np.exp(-x) + y / r)


def test_the_tour_runs_as_a_command():
    r = subprocess.run([sys.executable, "-m", "chainrule", "tour", "--out", "/tmp/cr-tour-test"],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "1.1196329811802" in r.stdout  # the minimum of J
    assert "800,000 bytes" in r.stdout  # the memory experiment
