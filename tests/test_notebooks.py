"""The two notebooks of notebooks/ run as a reader would run them: in a Jupyter kernel, cell by
cell (nbclient, 60 s per cell), with chainrule, NumPy, SymPy and Matplotlib only.

Each notebook runs in a fresh kernel started with this interpreter (a kernel spec written for
the test, so a `python3` kernel registered elsewhere on the machine is never picked up), in a
temporary working directory (whatever a cell writes stays out of the repository) and with a
temporary IPython directory (no user startup file runs). A cell that raises fails the test
with its traceback. Beyond "no cell fails", the numbers the notebooks show are checked: the
descent reaches (-1 + sqrt(19))/3, the automatic derivatives equal SymPy's and the hand-derived
ones, the memory kept for the backward pass is n x 1000 x 4 bytes, and the graphs and tables
display inline (SVG, HTML). Some checks read printed outputs, others run one extra cell,
appended by the test (not stored in the notebook), in the kernel the notebook ran in.

The notebooks are stored without outputs; `test_stored_without_outputs` keeps it that way
(in Jupyter: "Clear All Outputs" before saving; or
`jupyter nbconvert --clear-output --inplace notebooks/*.ipynb`).

Needs nbclient, nbformat and ipykernel (the dev extra), SymPy and Matplotlib.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NB1 = NOTEBOOKS / "01_automatic_differentiation.ipynb"
NB2 = NOTEBOOKS / "02_chain_rule.ipynb"
CELL_TIMEOUT = 60  # seconds, per cell
X_STAR = (-1 + math.sqrt(19)) / 3  # the minimum of J(x) = x^3 + x^2 - 6x + 1
CHECK = "CHECK-JSON "  # prefix of the line the appended check cell prints

NEED = "the notebook tests need nbclient, nbformat and ipykernel (the dev extra)"
nbformat = pytest.importorskip("nbformat", reason=f"could not import 'nbformat': {NEED}")
pytest.importorskip("nbclient", reason=f"could not import 'nbclient': {NEED}")
pytest.importorskip("ipykernel", reason=f"could not import 'ipykernel': {NEED}")
pytest.importorskip("sympy", reason="could not import 'sympy': the notebooks use SymPy")
pytest.importorskip("matplotlib", reason="could not import 'matplotlib': the notebooks plot")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (after the skips)
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402


def run_notebook(path: Path, tmp_path: Path, extra: str | None = None):
    """Execute the notebook at `path` (plus `extra`, a code cell appended at the end) in a
    fresh kernel of this interpreter, working in tmp_path; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    if extra is not None:
        nb.cells.append(nbformat.v4.new_code_cell(extra))

    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
            "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (test)", "language": "python"}))
    km = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(tmp_path / "kernels")], ensure_native_kernel=False),
    )

    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures inline

    client = NotebookClient(
        nb, km=km, kernel_name="python3", timeout=CELL_TIMEOUT, startup_timeout=60,
        resources={"metadata": {"path": str(workdir)}},
        extra_arguments=["--InteractiveShell.colors=nocolor"],  # readable tracebacks in logs
    )
    client.execute(env=env)  # raises CellExecutionError, with the traceback, if a cell fails
    return nb


# --- reading the outputs ---------------------------------------------------------------------


def cell(nb, snippet: str):
    """The one code cell whose source contains `snippet`."""
    hits = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(hits) == 1, f"{len(hits)} code cells contain {snippet!r}"
    return hits[0]


def stdout(c) -> str:
    return "".join(o.get("text", "") for o in c.outputs
                   if o.output_type == "stream" and o.name == "stdout")


def data(c, mime: str) -> list[str]:
    return [o.data[mime] for o in c.outputs
            if o.output_type in ("display_data", "execute_result") and mime in o.data]


def number_after(text: str, label: str) -> float:
    m = re.search(re.escape(label) + r"\s*([-+0-9.eE]+|nan|inf)", text)
    assert m, f"{label!r} not in output:\n{text}"
    return float(m.group(1))


def checks(nb, tmp_path: Path) -> dict:
    """What the appended check cell printed; and the kernel ran this interpreter, in tmp."""
    out = stdout(nb.cells[-1])
    lines = [line for line in out.splitlines() if line.startswith(CHECK)]
    assert len(lines) == 1, out
    got = json.loads(lines[0][len(CHECK):])
    assert got["executable"] == sys.executable
    assert Path(got["cwd"]).resolve() == (tmp_path / "cwd").resolve()
    return got


def assert_clean(nb) -> None:
    """No errors, and nothing on stderr but from the optional peer-library cells."""
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        assert not [o for o in c.outputs if o.output_type == "error"], c.source
        peers = any(f"import {lib}" in c.source for lib in ("torch", "jax", "tensorflow"))
        err = "".join(o.get("text", "") for o in c.outputs
                      if o.output_type == "stream" and o.name == "stderr")
        assert peers or not err, f"stderr from the cell\n{c.source}\n---\n{err}"


# --- notebook 01 -----------------------------------------------------------------------------

CHECK_01 = f"""
import json as _json, os as _os, sys as _sys
import numpy as _np
_grid = _np.linspace(-3, 3, 101)
_ad = _np.array([float(cr.grad(J)(float(t))) for t in _grid])
print({CHECK!r} + _json.dumps({{
    "executable": _sys.executable, "cwd": _os.getcwd(),
    "to_sympy_minus_sympy": str(sp.simplify(cr.to_sympy(J, sp.Symbol("x")).gradient[0] - DJ)),
    "grad_vs_lambdify": float(_np.abs(_ad - dJ(_grid)).max()),
    "node_descent": float(xa),
}}))
"""


def test_01_automatic_differentiation(tmp_path):
    nb = run_notebook(NB1, tmp_path, CHECK_01)
    assert_clean(nb)
    got = checks(nb, tmp_path)

    # the first cell cites the original by title and author
    assert "Différentiation Automatique" in nb.cells[0].source
    assert "BUFFAT" in nb.cells[0].source

    # SymPy's derivative, and chainrule's reverse-mode rules run on a symbol, are the same
    c = cell(nb, "sp.Derivative(expr, x).doit()")
    shown = data(c, "text/plain")
    assert shown == ["x**3 + x**2 - 6*x + 1", "3*x**2 + 2*x - 6", "3*x**2 + 2*x - 6"]
    assert stdout(c) == "difference from SymPy's derivative: 0\n"
    assert got["to_sympy_minus_sympy"] == "0"
    assert got["grad_vs_lambdify"] <= 1e-12

    # gradient descent with the exact derivative reaches (-1 + sqrt(19))/3
    text = stdout(cell(nb, "x_star = (-1 + np.sqrt(19)) / 3"))
    assert abs(number_after(text, "minimum found at x =") - X_STAR) <= 1e-14
    assert len(text.splitlines()) == 20 + 2

    # finite differences: first order (dividing dx by 10 divides the errors by about 10)
    text = stdout(cell(nb, "for dx in (1e-2, 1e-3):"))
    e2, e3 = (float(v) for v in re.findall(r"\|x - x\*\| = ([0-9.e+-]+)", text))
    assert 3e-3 < e2 < 8e-3 and 8 < e2 / e3 < 12

    # the finite-difference study and the graph pictures display inline
    assert data(cell(nb, "cr.compare(J, at=1.0)"), "text/html")
    for snippet in ("cr.draw(J, 2.0, reverse=False)", "cr.draw(J, 2.0)", "cr.draw(y)"):
        svg = data(cell(nb, snippet), "image/svg+xml")
        assert svg and "<svg" in svg[0], snippet
    assert data(cell(nb, "cr.explain(y)"), "text/html")
    assert data(cell(nb, "plt.title(\"J(x) = x³ + x² − 6x + 1\")"), "image/png")

    # the scalar engine: J(2) = 1, J'(2) = 10, at 101 points equal to the exact derivative,
    # and its descent lands on the same minimum
    text = stdout(cell(nb, "from chainrule.scalar import Node, backward"))
    assert "J(2) = 1.0, J'(2) = 10.0" in text
    text = stdout(cell(nb, "visit(y)"))
    assert number_after(text, "dJ/dx at x = 2:") == 10.0
    text = stdout(cell(nb, "dY = np.zeros(X.size)"))
    assert number_after(text, "largest difference:") <= 1e-12
    assert abs(got["node_descent"] - X_STAR) <= 1e-14

    # tensors: backward(gradient=1) is the derivative at each point, both inputs of J(x, y)
    # and the second derivatives through create_graph=True are exact
    text = stdout(cell(nb, "dYt = Xt.grad\nprint("))
    assert number_after(text, "largest error:") <= 1e-12
    text = stdout(cell(nb, "mean error dJ/dx"))
    assert all(float(v) <= 1e-12 for v in re.findall(r"largest: ([0-9.e+-]+)", text))
    text = stdout(cell(nb, "gxx, gxy = cr.autograd.grad"))
    assert all(float(v) <= 1e-12 for v in re.findall(r"largest error: ([0-9.e+-]+)", text))


def _exact(nb, source: str):
    """The one code cell whose whole source is `source`."""
    hits = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == source]
    assert len(hits) == 1, f"{len(hits)} code cells are {source!r}"
    return hits[0]


# --- notebook 02 -----------------------------------------------------------------------------

# after the notebook's `%reset -f`: the loss of the jit section, differentiated by hand
CHECK_02 = f"""
import json as _json, os as _os, sys as _sys
import numpy as _np
_u = Θ @ x; _a = _np.tanh(_u); _v = Θ @ _a; _f = _np.tanh(_v)
_dv = 2 * (_f - y) / _f.size * (1 - _f**2)
_du = (Θ.T @ _dv) * (1 - _a**2)
_by_hand = _np.outer(_dv, _a) + _np.outer(_du, x)
_jitted = jit(loss_grad)(Θ, x, y)
print({CHECK!r} + _json.dumps({{
    "executable": _sys.executable, "cwd": _os.getcwd(),
    "grad_vs_hand": float(_np.abs(_np.asarray(dΘ) - _by_hand).max()),
    "jit_vs_hand": float(_np.abs(_np.asarray(_jitted) - _by_hand).max()),
    "value_and_grad": [float(value), float(_np.abs(_np.asarray(dΘ2) - _by_hand).max())],
    "loss": float(_np.mean((_f - y)**2)),
}}))
"""


def test_02_chain_rule(tmp_path):
    nb = run_notebook(NB2, tmp_path, CHECK_02)
    assert_clean(nb)
    got = checks(nb, tmp_path)

    assert "Dérivation" in nb.cells[0].source  # the original, by its title

    # d/dx tanh(4 cos(x)^2) at 7 = f'(x) g'(y) h'(z), in the three styles
    x = 7.0
    y = math.cos(x)
    z = 4 * y**2
    exact = -math.sin(x) * 8 * y * (1 - math.tanh(z) ** 2)
    for snippet, digits in (("# TensorFlow style", 1e-15), ("# JAX style", 1e-15),
                            ("# PyTorch style", 1e-8)):  # a tensor prints 8 digits
        text = stdout(cell(nb, snippet)).replace("tensor(", "").replace(")", "")
        assert abs(float(text) - exact) <= digits, (snippet, text)
    assert data(cell(nb, "cr.explain(fn, 7.0)"), "text/html")

    # the affine exercise: g(f(x + eps)) - g(f(x)) = a c eps
    assert data(cell(nb, "sp.expand(g(f(X + eps))"), "text/plain") == ["a*c*epsilon"]

    # accumulation rule: dz/dx from the tape = the sum over the three paths
    direct, summed = (float(v) for v in stdout(cell(nb, "persistent=True")).split())
    assert abs(direct - summed) <= 1e-12 * abs(direct)

    # the tape's partial derivatives equal SymPy's (printed to 15 digits), and so do
    # chainrule's symbolic ones (cr.to_sympy)
    # (the first three lines; %%time adds its own)
    tape = [float(v) for v in
            stdout(cell(nb, "= tape.gradient(f, [x, y, z])")).splitlines()[:3]]
    sym = [float(v) for v in stdout(cell(nb, "df_dx = sympy.Derivative")).splitlines()[:3]]
    assert all(abs(a - b) <= 1e-12 * max(1, abs(b)) for a, b in zip(tape, sym))
    pairs = [line.split() for line in stdout(cell(nb, "s = cr.to_sympy(")).splitlines()]
    assert len(pairs) == 3
    assert all(abs(float(a) - float(b)) <= 1e-12 * max(1, abs(float(b))) for a, b in pairs)
    text = data(cell(nb, "cr.compare(fonction_complexe"), "text/plain")[0]
    assert number_after(text, "(relative") <= 1e-12

    # the worked diamond at pi: dz/dx = 4 pi^3, tabulated and drawn inline
    text = data(cell(nb, "cr.explain(z_of_x, np.pi)"), "text/plain")[0]
    assert abs(number_after(text, "df/dx =") - 4 * math.pi**3) <= 1e-3
    svg = data(cell(nb, "cr.draw(z_of_x, np.pi)"), "image/svg+xml")
    assert svg and "<svg" in svg[0]

    # memory: the device is said, the bytes kept for the backward pass are exact,
    # and recording keeps memory growing with n while no_grad does not
    assert re.search(r"GPU", stdout(cell(nb, "device = pick_device()")))
    assert int(data(cell(nb, "with m:\n    pass"), "text/plain")[0]) == 0
    text = stdout(cell(nb, "for requires_grad in (True, False):\n    for n in (10, 100):"))
    rows = re.findall(r"requires_grad=(True|False)\s+n=\s*(\d+):\s+peak\s+(\d+) bytes,"
                      r"\s+kept for backward\s+(\d+) bytes", text)
    assert len(rows) == 4, text
    kept = {(r, int(n)): int(k) for r, n, _, k in rows}
    peak = {(r, int(n)): int(p) for r, n, p, _ in rows}
    assert kept == {("True", 10): 40_000, ("True", 100): 400_000,
                    ("False", 10): 0, ("False", 100): 0}
    assert peak[("True", 100)] >= 400_000 > 4 * peak[("False", 100)]

    # the functional style: grad of a vector output is refused with a pointer to vmap(grad);
    # the jitted function prints once (while tracing) and agrees with the eager one; the
    # gradient (eager, jitted, value_and_grad) equals the one derived by hand
    assert "scalar output" in stdout(cell(nb, "grad(f_of_x)(xV)"))
    assert data(cell(nb, "ax.plot(xV, f_of_xV(xV)"), "image/png")
    assert stdout(cell(nb, "= jit(compute_loss_and_dΘ)")) == "(100, 100)\n"
    assert "(100, 100)" not in stdout(_exact(nb, "%%time\n_ = compute_loss_and_dΘ_jit()"))
    text = stdout(cell(nb, "eager, jitted ="))
    assert "same loss: True" in text
    assert number_after(text, "largest gradient difference:") <= 1e-12
    assert stdout(cell(nb, "value, dΘ2 = loss_value_and_grad")).split() == ["True", "True"]
    assert got["grad_vs_hand"] <= 1e-12 and got["jit_vs_hand"] <= 1e-12
    assert got["value_and_grad"][1] <= 1e-12
    assert abs(got["value_and_grad"][0] - got["loss"]) <= 1e-12 * got["loss"]


# --- stored form -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [NB1, NB2], ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    """The repository keeps the notebooks' sources only: small diffs, nothing stale."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, c.source
    assert nb.metadata.kernelspec.name == "python3"
