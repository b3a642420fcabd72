"""I1: wall time of `python -c "import chainrule"` in a fresh process, against other imports.

Every package is imported from compiled bytecode, as after a normal install: chainrule's own
bytecode is written once first (an editable install has none, and PYTHONDONTWRITEBYTECODE
would otherwise make each run compile the sources again).
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.registry import Call, Chainrule, Contender, Variant, Workload, register


def _run(module: str, env: dict[str, str] | None = None) -> Call:
    cmd = [sys.executable, "-c", f"import {module}"]
    return lambda: subprocess.run(cmd, check=True, env=env)


def chainrule_import(lib: Chainrule, _: None) -> Call:
    compileall.compile_dir(Path(lib.cr.__file__).parent, quiet=1)
    env = None
    if lib.path is not None:  # an old revision (A/B mode), found first on PYTHONPATH
        paths = [p for p in (lib.path, os.getenv("PYTHONPATH")) if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return _run(lib.package, env)


def _importer(module: str) -> Contender:
    return Contender(lambda _: _run(module), (module,))


register(
    Workload(
        id="I1",
        title="import time in a fresh interpreter (µs of wall time)",
        setup=lambda: None,
        variants={
            "import": Variant(
                chainrule=chainrule_import,
                peers={
                    "import numpy": _importer("numpy"),
                    "import torch": _importer("torch"),
                    "import jax": _importer("jax"),
                },
                targets={"import numpy": 1.5},
                rtol=None,
            ),
        },
        rounds=9,
        quick_rounds=3,
    )
)
