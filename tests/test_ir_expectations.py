"""The programs jit compiles for the benchmarks' workloads W5, W7 and W10, after the passes,
checked in as text (tests/ir/*.txt, shown in docs/jit.md): a change to staging or to a pass
that alters them shows up here. CHAINRULE_UPDATE_IR=1 rewrites the files."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from benchmarks.workloads import w05, w07
from benchmarks.workloads import w10 as w10_
from chainrule.compiler import fusion

HERE = Path(__file__).parent / "ir"


def w5():
    d = w05.setup()
    return cr.jit(cr.grad(partial(w05.loss, cnp))), (d.theta, d.x, d.y)


def w7():
    d = w07.setup()
    step = cr.jit(w07._sgd_step(cr.grad(partial(w07.loss, cnp))))
    return step, ([p.copy() for p in d.params], d.X, d.labels, np.arange(w07.BATCH))


def w10():
    return cr.jit(cr.grad(partial(w10_.f, cnp))), (w10_.setup(),)


def text(make) -> str:
    f, args = make()
    exe = f.lower(*args)
    return (f"{exe.program}\n\nexecution plan (fused groups run block by block):\n"
            f"{fusion.describe(fusion.plan(exe.program), exe.program)}\n")


@pytest.mark.parametrize("name", ["w5", "w7", "w10"])
def test_the_compiled_program_is_the_expected_one(name):
    got = text(globals()[name])
    path = HERE / f"{name}.txt"
    if os.environ.get("CHAINRULE_UPDATE_IR") == "1":
        path.write_text(got)
    assert got == path.read_text(), f"{name}: the compiled program changed; see {path}"


def test_w10_gradient_is_one_fused_group_without_a_broadcast_of_ones():
    f, args = w10()
    program = f.lower(*args).program
    items = fusion.plan(program)
    assert len(items) == 1 and isinstance(items[0], fusion.Group)
    assert all(e.prim.name != "broadcast_to" for e in program.eqns)


def test_the_docs_show_the_checked_in_programs():
    doc = (Path(__file__).parent.parent / "docs" / "jit.md").read_text()
    for name in ("w5", "w10"):
        assert (HERE / f"{name}.txt").read_text().rstrip() in doc, name
