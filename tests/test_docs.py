"""The documentation site and the packaging around it (issue 10, item 7).

- The API reference (docs/api/*.md, written by docs/api/generate.py) is current, and every
  public name has an entry there with a signature, a docstring and an example (a ``>>>``
  line), the Tensor's methods included.
- The examples of the guides, the pitfalls page and the home page (their ``pycon`` blocks)
  run as doctests, and what they print is what chainrule does; the peers' code beside them
  (``python`` blocks: PyTorch, JAX, TensorFlow, autograd) is shown, not run.
- The program W5's gradient stages before jit's passes is checked in (tests/ir/w5_before.txt,
  as tests/test_ir_expectations.py checks the one after them) and shown in the docs.
- mkdocs.yml's navigation holds every page; the transparency tools' results display inline in
  Jupyter; `chainrule --version`, py.typed and the changelog.

Fast: nothing here builds the site. `make docs` does (`mkdocs build --strict`, then
`docs/api/generate.py --check-site site`); CHAINRULE_DOCS_BUILD=1 runs that build here too.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import os
import re
import subprocess
import sys
import tomllib
import types
from contextlib import redirect_stdout
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "api"))
import generate  # noqa: E402  (docs/api/generate.py)

#: Public names that still lack an example (or a docstring), each owned by another piece of
#: work: listed here so that the rest is checked strictly. An entry that gains what it lacked
#: must be removed (test_pending_names_are_still_pending).
PENDING: dict[str, str] = {
    "chainrule.distributed.WORLD": "chainrule.distributed (the MPI work)",
}


# --- the API reference ---------------------------------------------------------------------


def public_objects() -> list[tuple[str, str, object]]:
    """(module, name, object) for every public name of the documented modules."""
    out = []
    for module in generate.MODULES:
        mod = importlib.import_module(module)
        for name in generate.public_names(module):
            out.append((module, name, getattr(mod, name)))
    return out


def test_the_api_pages_are_current():
    pytest.importorskip("griffe", reason="the [docs] extra (make docs checks the pages too)")
    stale = [name for name, text in generate.pages().items()
             if not (DOCS / "api" / name).exists()
             or (DOCS / "api" / name).read_text() != text]  # fmt: skip
    assert not stale, (f"docs/api/{', '.join(stale)} not current: the public names changed; "
                       "run `python docs/api/generate.py`")  # fmt: skip


def test_every_public_name_has_an_entry():
    documented = generate.documented()
    by_object = {}
    for path in documented:
        module, _, name = path.rpartition(".")
        try:
            by_object.setdefault(id(getattr(importlib.import_module(module), name)), path)
        except (ImportError, AttributeError):
            pass
    missing = [f"{m}.{n}" for m, n, obj in public_objects()
               if f"{m}.{n}" not in documented and id(obj) not in by_object
               and not (isinstance(obj, types.ModuleType)  # a module: its own page
                        and obj.__name__ in generate.MODULE_PAGES)]
    assert not missing, f"public names without an entry in docs/api: {missing}"
    # the top level's names all appear by their public path
    import chainrule

    top = [n for n in chainrule.__all__
           if not isinstance(getattr(chainrule, n), types.ModuleType)
           and f"chainrule.{n}" not in documented]  # fmt: skip
    assert not top, top


def test_the_documented_modules_cover_the_contract():
    """The modules the reference must cover (shared/API.md) are among those it covers."""
    need = {"chainrule", "chainrule.numpy", "chainrule.numpy.linalg", "chainrule.numpy.fft",
            "chainrule.numpy.random", "chainrule.scipy.special", "chainrule.scipy.stats",
            "chainrule.scipy.linalg", "chainrule.nn", "chainrule.nn.functional",
            "chainrule.optim", "chainrule.distributed", "chainrule.tree_util",
            "chainrule.testing", "chainrule.errors", "chainrule.memory",
            "chainrule.autograd", "chainrule.scalar"}  # fmt: skip
    assert need <= set(generate.MODULES), need - set(generate.MODULES)
    assert "chainrule.core.config" in generate.entries() or any(
        s.module == "chainrule.core.config" for p in generate.PAGES for s in p.sections)


def test_every_config_switch_is_in_the_config_page():
    from chainrule.core import config

    switches = [n for n, v in vars(config).items() if type(v) is bool and not n.startswith("_")]
    text = (DOCS / "api" / "config.md").read_text()
    assert switches and all(f"| `{n}` |" in text for n in switches), switches


def _lacks(obj: object) -> list[str]:
    """What the entry of `obj` lacks: 'docstring', 'example', 'signature'."""
    doc = inspect.getdoc(obj) or ""
    out = []
    if not doc.strip():
        out.append("docstring")
    elif ">>>" not in doc:
        out.append("example")
    is_exception = isinstance(obj, type) and issubclass(obj, BaseException)
    if (inspect.isroutine(obj) or isinstance(obj, type)) and not is_exception:
        if generate.signature_of(obj) is None:
            out.append("signature")
    return out


def _checked() -> list[tuple[str, object]]:
    """The public objects whose entry shows a signature, a docstring and an example: not
    modules, NumPy's objects passed through, or constants (those have their own checks)."""
    return [(f"{m}.{n}", obj) for m, n, obj in public_objects()
            if not isinstance(obj, types.ModuleType) and not generate.is_constant(m, n)
            and not generate.is_foreign(obj)]  # fmt: skip


def test_every_entry_has_a_signature_a_docstring_and_an_example():
    bad = {path: lacks for path, obj in _checked()
           if (lacks := _lacks(obj)) and path not in PENDING}  # fmt: skip
    assert not bad, f"public names lacking a docstring, an example or a signature: {bad}"


def test_pending_names_are_still_pending():
    lacking = {path for path, obj in _checked() if _lacks(obj)}
    public = {path for path, _ in _checked()}
    done = [p for p in PENDING if p in public and p not in lacking]
    gone = [p for p in PENDING if p not in public]
    assert not done, f"remove from PENDING (they have a docstring and an example now): {done}"
    assert not gone, f"remove from PENDING (no longer public): {gone}"


def test_constants_are_described():
    bare = [f"{m}.{n}" for m, n, obj in public_objects()
            if generate.is_constant(m, n) and not generate.constant_doc(m, n)]  # fmt: skip
    assert not bare, f"public constants without a `#:` comment: {bare}"


def tensor_members() -> list[str]:
    return sorted(n for n in dir(cr.Tensor) if not n.startswith("_"))


def test_every_tensor_method_and_property_has_a_docstring_with_an_example():
    bad = {}
    for name in tensor_members():
        attr = inspect.getattr_static(cr.Tensor, name)
        if isinstance(attr, property):
            doc = inspect.getdoc(attr) or ""
            lacks = ["docstring"] if not doc.strip() else [] if ">>>" in doc else ["example"]
        else:
            lacks = _lacks(getattr(cr.Tensor, name))
        if lacks:
            bad[name] = lacks
    assert not bad, f"Tensor members lacking a docstring, an example or a signature: {bad}"


def test_the_tensor_entry_lists_the_inherited_methods_too():
    text = (DOCS / "api" / "tensors.md").read_text()
    block = text[text.index("::: chainrule.Tensor\n"):].split("\n\n")[0]
    assert "inherited_members: true" in block, block


def test_examples_of_tensor_methods_made_at_run_time_pass():
    """Methods installed as lambdas (`Tensor.partition`, ...) are not collected by
    --doctest-modules; their examples run here."""
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for name in tensor_members():
        fn = getattr(cr.Tensor, name)
        if "<" in getattr(fn, "__qualname__", "") and ">>>" in (fn.__doc__ or ""):
            for test in finder.find(fn, f"Tensor.{name}", globs={}):
                out = io.StringIO()
                with redirect_stdout(out):
                    result = runner.run(test, out=out.write)
                assert result.failed == 0, out.getvalue()
                ran += 1
    assert ran >= 5


# --- the guides' examples ----------------------------------------------------------------


def pages_with_examples() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md")
                  if "api" not in p.relative_to(DOCS).parts and "```pycon" in p.read_text())


def pycon_blocks(path: Path) -> str:
    """The page with everything but its ``pycon`` blocks blanked out (line numbers kept)."""
    out, inside = [], False
    for line in path.read_text().splitlines():
        s = line.strip()
        if not inside and s.startswith("```pycon"):
            inside = True
            out.append("")
        elif inside and s.startswith("```"):
            inside = False
            out.append("")
        else:
            out.append(line if inside else "")
    assert not inside, f"{path}: an unclosed ```pycon block"
    return "\n".join(out) + "\n"


#: the pages whose examples need an optional dependency
NEEDS = {"porting-from-autograd.md": "scipy"}


@pytest.mark.parametrize("page", pages_with_examples(), ids=lambda p: p.name)
def test_the_examples_of_the_guides_run(page):
    if page.name in NEEDS:
        pytest.importorskip(NEEDS[page.name])
    rel = str(page.relative_to(ROOT))
    test = doctest.DocTestParser().get_doctest(pycon_blocks(page), {"__name__": "docs"}, rel,
                                               rel, 0)  # fmt: skip
    assert test.examples, f"{rel}: no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    with redirect_stdout(out):
        result = runner.run(test, out=out.write)
    assert result.failed == 0, out.getvalue()


def test_the_guides_exist_and_show_both_sides():
    guides = DOCS / "guides"
    for peer in ("pytorch", "jax", "tensorflow", "autograd"):
        text = (guides / f"porting-from-{peer}.md").read_text()
        pairs = text.count('<div class="side-by-side" markdown>')
        assert pairs >= 5, f"{peer}: {pairs} side-by-side pairs"
        # each pair: the peer's code (shown) then chainrule's (run)
        for chunk in text.split('<div class="side-by-side" markdown>')[1:]:
            pair = chunk.split("\n</div>\n</div>")[0]
            assert pair.count("```python") == 1 and pair.count("```pycon") == 1, pair[:300]
            assert pair.index("```python") < pair.index("```pycon")
    tf = (guides / "porting-from-tensorflow.md").read_text()
    assert "import tensorflow" in tf and "import tensorflow" not in pycon_blocks(
        guides / "porting-from-tensorflow.md")


@pytest.mark.parametrize("topic, pattern", [
    ("pytorch", r"gradient=.*create_graph|create_graph.*gradient="),
    ("pytorch", r"no_grad"), ("pytorch", r"detach"), ("pytorch", r"add_\(|\+= 1"),
    ("pytorch", r"float64"), ("pytorch", r"retain_graph"),
    ("jax", r"value_and_grad"), ("jax", r"vmap"), ("jax", r"static_argnums"),
    ("jax", r"float64"), ("jax", r"index_set"),
    ("tensorflow", r"persistent=True"), ("tensorflow", r"tape\.watch"),
    ("tensorflow", r"watch_accessed_variables"), ("tensorflow", r"stop_recording"),
    ("autograd", r"elementwise_grad"), ("autograd", r"holomorphic"),
])  # fmt: skip
def test_the_guides_cover_the_differences(topic, pattern):
    text = (DOCS / "guides" / f"porting-from-{topic}.md").read_text()
    assert re.search(pattern, text, re.S), (topic, pattern)


@pytest.mark.parametrize("heading", [
    "## Integer inputs", "## float64 by default", "## NumPy 2 promotion (NEP 50)",
    "## Two complex conventions", "## An array changed after use",
    "## jit: retracing and static arguments",
])  # fmt: skip
def test_the_pitfalls_page_covers(heading):
    text = (DOCS / "pitfalls.md").read_text()
    assert heading in text
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert "```pycon" in section, f"{heading}: no runnable example"


# --- W5 before and after the passes ----------------------------------------------------------


def w5_before() -> str:
    import chainrule.numpy as cnp
    from benchmarks.workloads import w05

    d = w05.setup()
    return f"{cr.make_graph(cr.grad(partial(w05.loss, cnp)))(d.theta, d.x, d.y)}\n"


def test_w5_before_the_passes_is_the_expected_program():
    got = w5_before()
    path = ROOT / "tests" / "ir" / "w5_before.txt"
    if os.environ.get("CHAINRULE_UPDATE_IR") == "1":
        path.write_text(got)
    assert got == path.read_text(), f"the program W5 stages changed; see {path}"


def test_the_docs_show_w5_before_and_after_the_passes():
    page = (DOCS / "guides" / "jit-w5.md").read_text()
    before = (ROOT / "tests" / "ir" / "w5_before.txt").read_text().rstrip()
    after = (ROOT / "tests" / "ir" / "w5.txt").read_text().split("\n\nexecution plan")[0]
    assert before in page and after.rstrip() in page
    assert before != after.rstrip()


# --- the site ------------------------------------------------------------------------------


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names (read without a YAML parser)."""
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:"):]
    return re.findall(r"^\s*- (?:[^:\n]+: )?(\S+\.md)\s*$", nav, re.M)


def test_the_navigation_holds_every_page_and_only_pages_that_exist():
    nav = nav_pages()
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(on_disk) - set(nav)) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(set(nav) - set(on_disk)) == [], "nav entries without a page"
    assert len(nav) == len(set(nav))


def test_the_site_builds_offline_with_a_theme_that_fetches_nothing():
    text = (ROOT / "mkdocs.yml").read_text()
    theme = re.search(r"^theme:\n\s+name: (\S+)", text, re.M).group(1)
    assert theme in ("mkdocs", "readthedocs"), theme
    assert "strict: true" in text and "site_dir: site" in text
    assert not re.search(r"https?://", text), "mkdocs.yml names something to fetch"


@pytest.mark.skipif(os.environ.get("CHAINRULE_DOCS_BUILD") != "1",
                    reason="builds the site (about 10 s): CHAINRULE_DOCS_BUILD=1")
def test_the_site_builds_strictly_with_every_entry(tmp_path):
    pytest.importorskip("mkdocs")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                    str(tmp_path / "site")], cwd=ROOT, check=True, timeout=120)  # fmt: skip
    assert generate.check_site(tmp_path / "site") == []


# --- inline display in Jupyter ---------------------------------------------------------------


def test_the_transparency_results_display_inline():
    import chainrule.numpy as cnp

    f = lambda x: (x ** 2 * cnp.cos(x)) ** 2  # noqa: E731
    html = cr.explain(f, np.pi)._repr_html_()
    assert html.count("<table>") == 2 and "cos" in html
    html = cr.compare(f, at=1.0)._repr_html_()
    assert "<table>" in html
    html = cr.explain(cr.make_graph(f)(1.0))._repr_html_()
    assert "<table>" in html and "cos" in html
    d = cr.explain_gradient(lambda x: cnp.floor(x) * 2.0, 1.5)
    assert d._repr_html_().startswith("<p><b>nondifferentiable</b>: ")


def test_a_diagnosis_displays_escaped():
    from chainrule.transparency.diagnose import Diagnosis

    html = Diagnosis("unused", "f < g & h", np.array([1.0]))._repr_html_()
    assert "f &lt; g &amp; h" in html and "array([1.])" in html


def test_drawings_display_as_svg():
    pytest.importorskip("matplotlib")
    svg = cr.draw(lambda x: x * 2.0, 1.0)._repr_svg_()
    assert svg is not None and "<svg" in svg


def test_symbolic_results_display_as_latex():
    pytest.importorskip("sympy")
    assert cr.to_sympy(lambda x: x ** 3)._repr_latex_().startswith("$")


def test_every_result_type_of_the_transparency_tools_has_a_rich_display():
    from chainrule import transparency
    from chainrule.transparency import compare, diagnose, draw, program, symbolic

    for cls in (transparency.Explanation, compare.Comparison, draw.Drawing,
                symbolic.Symbolic, diagnose.Diagnosis, program.ProgramExplanation):
        assert any(hasattr(cls, m) for m in ("_repr_html_", "_repr_svg_", "_repr_latex_",
                                             "_repr_png_")), cls  # fmt: skip


# --- packaging -----------------------------------------------------------------------------


def test_the_version_everywhere_is_pyprojects():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cr.__version__ == version
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()


def test_chainrule_version_prints_the_version(capsys):
    from chainrule.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"chainrule {cr.__version__}\n"


def test_python_m_chainrule_version():
    out = subprocess.run([sys.executable, "-m", "chainrule", "--version"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and out.stdout == f"chainrule {cr.__version__}\n", out


def test_the_package_is_typed():
    assert (Path(cr.__file__).parent / "py.typed").exists()


def test_the_package_check_script_is_there():
    script = ROOT / ".ci" / "package_check.sh"
    assert script.exists() and os.access(script, os.X_OK)
    text = script.read_text()
    for needed in ("build_sdist", "build_wheel", "venv", "--no-index", "--version"):
        assert needed in text, needed
