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
        ("  x ^ 2", 5, "use ** for powers"),  # columns count the blanks typed
        ("π*x ^ 2", 5, "BitXor"),  # and characters, not bytes
    ],
)
def test_bad_formulas_name_the_column(capsys, formula, column, words):
    code, out, err = run(capsys, "explain", formula, "--at", "x=1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("chainrule explain: ")  # one line
    assert f"(column {column})" in err and words in err
    with pytest.raises(ExpressionError) as info:
        parse(formula)
    assert info.value.column == column and "\n" not in str(info.value)
    lines = info.value.pointer().splitlines()  # the caret sits under the column
    assert lines[0] == str(info.value) and lines[2].index("^") == 2 + column - 1


def one_line_failure(capsys, *argv, words=()):
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize(
    "formula,words",
    [
        ("sin(x, 2)", ["sin takes 1 argument, not 2", "(column 1)"]),
        ("maximum(x)", ["maximum takes 2 arguments, not 1"]),
        ("sin()", ["sin takes 1 argument, not 0"]),
        ("x+1/0", ["1/0 is not a finite real number", "(column 3)"]),
        ("x*9.0**999", ["9.0**999 is too large for a float", "(column 3)"]),
        ("x*9**9**9", ["9**9**9 is too large", "(column 3)"]),
        ("x + 1e999", ["1e999 is too large"]),
        ("x + " + "9" * 400, ["is too large for a float"]),
        ("x + " + "9" * 5000, ["too many digits"]),
        ("x + log(0)", ["log(0) is not a finite real number"]),
        ("x + (-8)**(1/3)", ["is not a finite real number"]),
        ("x+" + "-" * 3000 + "x", ["nested too deeply"]),
        ("x**" * 3000 + "x", ["nested too deeply"]),
        ("x" * 10_001, ["too long"]),
        ("", ["empty"]),
        ("x\x00", ["null"]),
        ("sin(*x)", ["Starred"]),
        ("sin(x=1)", ["keyword"]),
        ("x // 2", ["use floor(a / b)"]),
        ("x if x else 1", ["IfExp"]),
        ("f'{x}'", ["JoinedStr"]),
        ("x\x1b[2J", ["U+001B"]),  # a control character is named, not sent to the terminal
    ],
)
def test_hostile_formulas_fail_on_one_line(capsys, formula, words):
    one_line_failure(capsys, "explain", formula, "--at", "x=1", words=words)


def test_a_huge_power_does_not_hang():
    """9**9**9 used to be computed as a Python integer (minutes, gigabytes)."""
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", "x*9**9**9", "--at", "x=1"],
                       capture_output=True, text=True, timeout=20)  # fmt: skip
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1


def test_constants_are_floats_computed_once():
    f, names = parse("x * 2**10 + 3 % 2 - sin(0) + 2**-2000")
    assert names == ["x"] and float(f(1.0)) == 1025.0
    with np.errstate(invalid="ignore"):
        assert np.isnan(parse("x % 0")[0](1.0))  # NumPy's arithmetic: nan, not an error
    assert parse("π*x")[1] == ["x"]


def test_bad_command_lines_fail_on_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--at", "x=1"])  # no formula
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and '"--"' in err
    with pytest.raises(SystemExit) as exit_:
        main(["frob"])
    assert exit_.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    # a formula that starts with "-" goes after "--"
    assert run(capsys, "grad", "--at", "x=3", "--", "-x**2")[1] == "f = -9\ndf/dx = -6\n"


def test_an_unforeseen_error_is_one_line_too(capsys, monkeypatch):
    import chainrule.__main__ as cli

    def boom(*a):
        raise RuntimeError("something\nwent wrong")

    monkeypatch.setattr(cli, "_run", boom)
    err = one_line_failure(capsys, "grad", "x", "--at", "x=1", words=["RuntimeError"])
    assert "something went wrong" in err
    monkeypatch.setenv("CHAINRULE_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["grad", "x", "--at", "x=1"])


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
    [
        (["y=1"], "no variable 'y'"),
        (["x=abc"], "not a number"),
        ([], "give a value for x"),
        (["x=1", "x=2"], "x is given twice"),
        (["2", "x=2"], "x is given twice"),
    ],
)
def test_bad_points(capsys, at, words):
    one_line_failure(capsys, "grad", "x**2", "--at", *at, words=[words])


def test_at_can_be_repeated(capsys):
    code, out, _ = run(capsys, "grad", "x*y", "--at", "x=3", "--at", "y=2")
    assert code == 0 and out.splitlines() == ["f = 6", "df/dx = 2", "df/dy = 3"]
    one_line_failure(capsys, "grad", "x*y", "--at", "x=3", "--at", "x=2", "y=1",
                     words=["twice"])  # fmt: skip


def test_a_formula_without_variables(capsys):
    code, _, err = run(capsys, "grad", "2 + pi", "--at")
    assert code == 2 and "no variable" in err
    # with a point given anyway, the same sentence (not "no variable 'x'")
    one_line_failure(capsys, "grad", "2 + pi", "--at", "x=1", words=["no variable to differ"])


@pytest.mark.parametrize("command", ["explain", "draw", "grad"])
def test_a_zero_gradient_formula_is_explained(capsys, tmp_path, command):
    extra = ["-o", str(tmp_path / "g.dot")] if command == "draw" else []
    code, out, err = run(capsys, command, "floor(x)*2", "--at", "x=1.5", *extra)
    assert code == 0 and err == ""
    if command == "explain":
        assert "v1   | floor(x)" in out and "f    | v1 × 2" in out
        assert "Result: df/dx = 0" in out and "floor is integer-valued" in out
    elif command == "draw":
        dot = (tmp_path / "g.dot").read_text()
        assert "floor(x)" in dot and "grad 0 (no gradient reaches it)" in dot
    else:
        assert out.splitlines() == ["f = 2", "df/dx = 0"]


@pytest.mark.parametrize(
    "command,option,path,words",
    [
        ("draw", "-o", "missing/g.svg", ["folder", "does not exist"]),
        ("draw", "-o", "g.jpg", [".jpg", "use .svg, .png, .pdf, .dot"]),
        ("draw", "-o", "g", ["no extension", "'g.svg'"]),
        ("draw", "-o", ".", ["is a folder"]),
        ("compare", "--figure", "missing/e.png", ["does not exist"]),
        ("compare", "--figure", "e.gif", [".gif"]),
        ("compare", "--figure", "e", ["no extension"]),
    ],
)
def test_outputs_are_checked_before_the_work(capsys, monkeypatch, tmp_path, command, option,
                                             path, words):  # fmt: skip
    import chainrule.__main__ as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_run", lambda *a: pytest.fail("the work started"))
    one_line_failure(capsys, command, "x**2", "--at", "x=1", option, path, words=words)
    assert list(tmp_path.iterdir()) == []


def test_draw_writes_the_format_its_extension_names(capsys, tmp_path):
    code, out, _ = run(capsys, "draw", "x*y", "--at", "x=1", "y=2", "-o", str(tmp_path / "g.gv"))
    assert code == 0 and (tmp_path / "g.gv").read_text().startswith("digraph chainrule {")


def test_the_tour_folder_is_checked_first(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    one_line_failure(capsys, "tour", "--out", str(tmp_path / "file"), words=["not a folder"])


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


def test_the_tour_runs_as_a_command(tmp_path):
    out = tmp_path / "tour"
    r = subprocess.run([sys.executable, "-m", "chainrule", "tour", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "1.1196329811802" in r.stdout  # the minimum of J
    assert "800,000 bytes" in r.stdout  # the memory experiment
    text, closing = r.stdout.split("\nFigures and graphs written into ")
    # section 9 shows where the picture is (no DOT text unless asked), sentences start with a
    # capital letter (tables aside), and the files are listed one per line
    assert f"The picture: {out / 'graph_J.png'}" in text and "digraph" not in text
    for line in text.splitlines():
        s = line.strip()
        if s[:1].isalpha() and "|" not in s:
            assert s[0].isupper(), line
    files = [ln.strip() for ln in closing.splitlines()[1:]]
    assert files == ["compare_J.png", "J_and_dJ.png", "descent.png", "graph_J.png",
                     "graph_x2cos.png", "graph_J.svg", "graph_J.dot"]  # fmt: skip
    assert all((out / f).stat().st_size > 0 for f in files) and "['" not in closing


def test_the_tour_prints_dot_when_asked_or_without_pictures(tmp_path, monkeypatch):
    import io
    import shutil

    from chainrule import tour

    def section9(*args, **kwargs) -> str:
        buf = io.StringIO()
        tour._Figures(*args, lambda *a: print(*a, file=buf), **kwargs).graphs()
        return buf.getvalue()

    text = section9(str(tmp_path / "a"))  # the picture, and where it is
    assert "The picture: " in text and "digraph" not in text
    text = section9(str(tmp_path / "b"), dot=True)  # asked for
    assert "The picture: " in text and "digraph chainrule {" in text
    assert text.rstrip().endswith("}")
    text = section9(None)  # no folder: no picture
    assert "digraph chainrule {" in text and "no picture could be made" in text
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # nor without matplotlib
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    text = section9(str(tmp_path / "c"))
    assert "No graph_J.png" in text and "digraph chainrule {" in text
    assert (tmp_path / "c" / "graph_J.dot").read_text().startswith("digraph")
