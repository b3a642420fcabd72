"""Under ``mpiexec -n 2``: every ```python snippet of docs/distributed.md, each a complete
script, run in a fresh namespace; prints ``rank r: snippet k ok`` for each.

Usage: mpiexec -n 2 python tests/mpi/mpi_docs.py
"""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "distributed.md"


def snippets() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def main() -> None:
    import chainrule.distributed as dist

    dist.init(timeout=30)
    for k, code in enumerate(snippets()):
        exec(compile(code, f"{DOC}:snippet {k}", "exec"), {"__name__": "__main__"})
        print(f"rank {dist.rank()}: snippet {k} ok", flush=True)
    dist.barrier()


if __name__ == "__main__":
    main()
