"""I1: wall time of `python -c "import chainrule"` in a fresh process, against other imports.

Every package is imported from compiled bytecode, as after a normal install: chainrule's own
bytecode is written once first (an editable install has none, and PYTHONDONTWRITEBYTECODE
would otherwise make each run compile the sources again).
"""

from __future__ import annotations

import compileall
import subprocess
import sys
from pathlib import Path

from benchmarks.registry import Call, Contender, Variant, Workload, register


def _compiled() -> None:
    import chainrule

    compileall.compile_dir(Path(chainrule.__file__).parent, quiet=1)


def _importer(module: str) -> Contender:
    def make(_: None) -> Call:
        cmd = [sys.executable, "-c", f"import {module}"]
        return lambda: subprocess.run(cmd, check=True)

    return Contender(make, (module,))


register(
    Workload(
        id="I1",
        title="import time in a fresh interpreter (µs of wall time)",
        setup=_compiled,
        variants={
            "import": Variant(
                chainrule=_importer("chainrule"),
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
