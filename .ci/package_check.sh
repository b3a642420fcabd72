#!/usr/bin/env bash
# The packages users install: build the wheel and the sdist, install the wheel into a clean
# virtual environment (nothing but NumPy), and run a smoke test there (import, a gradient, a
# Tensor's backward, the command line's --version, py.typed). `make package-check`.
#
# Offline by design: the packages are built with the setuptools of the build environment
# (PEP 517 hooks called directly, i.e. `python -m build --no-isolation` without needing
# `build`), and the clean environment gets NumPy without an index. By default that NumPy is
# the build environment's own, linked into a folder of its own (NumPy's files only) that the
# clean environment's site-packages names in a .pth file; set WHEELHOUSE=dir to install NumPy
# from a folder of wheels instead (pip --no-index --find-links), or PACKAGE_CHECK_NUMPY=index
# to let pip fetch it from the package index.
#
#   PYTHON=.venv/bin/python .ci/package_check.sh      (the default PYTHON)
#   KEEP=1 ...                                         keep the temporary folder
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
case "$PY" in
    */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;;  # absolute: we cd below
    *) PY=$(command -v "$PY") ;;
esac
WORK=$(mktemp -d "${TMPDIR:-/tmp}/chainrule-package-check.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "package-check: working in $WORK" || trap 'rm -rf "$WORK"' EXIT
DIST=$WORK/dist
mkdir -p "$DIST"
step() { printf 'package-check: %s\n' "$*"; }

step "building the sdist, then the wheel from the sdist (setuptools $("$PY" -c 'import setuptools; print(setuptools.__version__)'), no isolation)"
# As `python -m build --no-isolation` does, without needing `build`: the sdist from the tree
# (setuptools refreshes the gitignored chainrule.egg-info/ there), the wheel from the unpacked
# sdist (so the sdist is known to be complete, and no build/ folder is left in the tree).
"$PY" -c 'import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))' \
    "$DIST" >"$WORK/sdist.log" 2>&1 || { cat "$WORK/sdist.log"; exit 1; }
SDIST=$(ls "$DIST"/chainrule-*.tar.gz)
mkdir -p "$WORK/src"
tar -xzf "$SDIST" -C "$WORK/src"
(cd "$WORK"/src/chainrule-*/ &&
    "$PY" -c 'import sys; from setuptools import build_meta as b; print(b.build_wheel(sys.argv[1]))' \
    "$DIST" >"$WORK/wheel.log" 2>&1) || { cat "$WORK/wheel.log"; exit 1; }
WHEEL=$(ls "$DIST"/chainrule-*.whl)
step "built $(basename "$SDIST") and $(basename "$WHEEL")"

step "checking what the packages hold"
"$PY" - "$WHEEL" "$SDIST" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1], sys.argv[2]
names = zipfile.ZipFile(wheel).namelist()
need = ["chainrule/__init__.py", "chainrule/__main__.py", "chainrule/py.typed",
        "chainrule/numpy/linalg.py", "chainrule/nn/functional.py", "chainrule/optim/__init__.py"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
stray = [n for n in names if not n.startswith(("chainrule/", "chainrule-"))]
assert not stray, f"the wheel holds files outside the package: {stray[:5]}"
assert not [n for n in names if n.endswith(".pyc")], "the wheel holds bytecode"
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(wheel).read(meta).decode()
assert "Requires-Dist: numpy" in text, "numpy is not a requirement"
ep = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
assert "chainrule = chainrule.__main__:main" in zipfile.ZipFile(wheel).read(ep).decode()
members = [m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m]
for n in ("pyproject.toml", "README.md", "chainrule/py.typed", "chainrule/__init__.py"):
    assert n in members, f"the sdist lacks {n}"
print(f"package-check: wheel: {len(names)} files; sdist: {len(members)} entries")
PY

step "a clean virtual environment"
"$PY" -m venv "$WORK/venv"   # pip comes from ensurepip (bundled with Python: no download)
VPY=$WORK/venv/bin/python
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -n "${WHEELHOUSE:-}" ]; then
    step "NumPy from $WHEELHOUSE"
    "$VPY" -m pip install -q --no-index --find-links "$WHEELHOUSE" numpy
elif [ "${PACKAGE_CHECK_NUMPY:-link}" = index ]; then
    step "NumPy from the package index"
    "$VPY" -m pip install -q numpy
else
    # NumPy's own files (the package, its bundled libraries, its metadata) and nothing else
    NP=$WORK/numpy-only
    mkdir -p "$NP"
    "$PY" - "$NP" <<'PY'
import os, sys
from importlib import metadata
dist = metadata.distribution("numpy")
root = dist.locate_file("")
tops = {str(f).split("/")[0] for f in dist.files or ()} - {"..", ""}
tops = {t for t in tops if not t.endswith(".pth") and t != "bin"}
for top in sorted(tops):
    src = os.path.join(root, top)
    if os.path.exists(src):
        os.symlink(src, os.path.join(sys.argv[1], top))
print("package-check: NumPy", dist.version, "linked from", root, "(" + ", ".join(sorted(tops)) + ")")
PY
    echo "$NP" > "$SITE/numpy-only.pth"
fi
step "installing the wheel (no index, no dependencies fetched)"
"$VPY" -m pip install -q --no-index --no-deps "$WHEEL"
"$VPY" -m pip check

step "smoke test"
cd "$WORK"   # away from the source tree: the installed package is the one imported
"$VPY" - "$SITE" <<'PY'
import os, subprocess, sys
site = sys.argv[1]
import numpy as np
import chainrule as cr
import chainrule.numpy as cnp

assert os.path.realpath(cr.__file__).startswith(os.path.realpath(site)), cr.__file__
assert os.path.exists(os.path.join(os.path.dirname(cr.__file__), "py.typed"))
assert cr.grad(lambda x: x ** 3 + x ** 2 - 6 * x + 1)(2.0) == 10.0
x = cr.tensor(np.linspace(-1, 1, 5), requires_grad=True)
(cnp.tanh(x) ** 2).sum().backward()
assert np.allclose(x.grad.numpy(), 2 * np.tanh(x.detach().numpy()) / np.cosh(x.detach().numpy()) ** 2)
f = cr.jit(cr.grad(lambda w: cnp.sum(cnp.sin(w) ** 2)))
assert np.allclose(f(np.arange(3.0)), np.sin(2 * np.arange(3.0)))
import chainrule.nn, chainrule.optim  # noqa: E401  (the lazily loaded subpackages)
cli = os.path.join(os.path.dirname(sys.executable), "chainrule")
out = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True).stdout
assert out.strip() == f"chainrule {cr.__version__}", out
out = subprocess.run([cli, "grad", "x**2", "--at", "x=3"], capture_output=True, text=True,
                     check=True).stdout
assert "df/dx = 6" in out, out
others = sorted({d.metadata["Name"].lower() for d in __import__("importlib.metadata").metadata.distributions()} - {"pip", "setuptools", "numpy", "chainrule"})
assert not others, f"the clean environment holds more than NumPy: {others}"
print(f"package-check: chainrule {cr.__version__} from the wheel works (numpy {np.__version__})")
PY
step "ok"
