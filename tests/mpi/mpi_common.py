"""Shared by the MPI scenario scripts: named checks, written per rank to a JSON file that
tests/test_distributed.py reads (``OUT/rank<r>.json``)."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import numpy as np


class Checks:
    """Named results of one rank: `check(name, ok, detail)`; `run(name, fn)` records an
    exception as a failed check (the job goes on: the other rank is not left waiting)."""

    def __init__(self) -> None:
        self.results: dict[str, list] = {}

    def check(self, name: str, ok: bool, detail: object = "") -> None:
        self.results[name] = [bool(ok), str(detail)]

    def run(self, name: str, fn) -> None:
        try:
            fn()
        except Exception:
            self.results[name] = [False, traceback.format_exc()]

    def write(self, rank: int, **extra: object) -> None:
        out = Path(sys.argv[1])
        out.mkdir(parents=True, exist_ok=True)
        (out / f"rank{rank}.json").write_text(json.dumps({"checks": self.results, **extra}))


def rel_err(a, b) -> float:
    """max |a - b| / max(max |b|, tiny) over two arrays (or lists of arrays)."""
    if isinstance(a, (list, tuple)):
        return max(rel_err(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    dtype = np.result_type(a, b, np.float64)
    a, b = a.astype(dtype), b.astype(dtype)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))
