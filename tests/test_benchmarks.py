"""The benchmark suite's A/B mode: an old revision of chainrule, imported beside the working
tree's without sharing a module, and the table it prints."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import ab
from benchmarks.__main__ import main

needs_git = pytest.mark.skipif(not (ab.ROOT / ".git").exists(), reason="not a git checkout")


def test_rewrite_makes_imports_of_the_new_name():
    source = (
        "import chainrule\n"
        "import chainrule.numpy\n"
        "import numpy as np, chainrule.numpy as cnp  # chainrule\n"
        "    from chainrule.core import trace\n"
        "from chainrule import numpy\n"
        "import chainrulex, foo.chainrule\n"
        "_LAZY = {'explain': 'chainrule.transparency'}\n"
        'raise ValueError("chainrule.numpy.reshape: only order=C")\n'
    )
    assert ab.rewrite(source, "cr_old").splitlines() == [
        "import cr_old as chainrule",
        "import cr_old.numpy, cr_old as chainrule",
        "import numpy as np, cr_old.numpy as cnp  # chainrule",
        "    from cr_old.core import trace",
        "from cr_old import numpy",
        "import chainrulex, foo.chainrule",
        "_LAZY = {'explain': 'cr_old.transparency'}",
        'raise ValueError("chainrule.numpy.reshape: only order=C")',
    ]


@needs_git
def test_old_revision_shares_no_module_with_the_working_tree():
    import chainrule

    with ab.old_chainrule("HEAD") as old:
        assert old.package.startswith("chainrule_ab_") and old.cr is not chainrule
        assert old.cnp.sum is not chainrule.numpy.sum
        g = old.cr.grad(lambda x: old.cnp.sum(x**2))(np.arange(3.0))
        np.testing.assert_allclose(g, [0.0, 2.0, 4.0])
        for name, module in list(sys.modules.items()):
            if name.split(".")[0] == old.package and getattr(module, "__file__", None):
                assert Path(module.__file__).is_relative_to(old.path)
    assert old.path not in sys.path and old.package not in sys.modules


@needs_git
def test_ab_mode_prints_new_over_old(capsys):
    assert main(["--ab", "HEAD", "W2", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "new/old" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("W2 ")]
    assert [r[1] for r in rows] == ["elementwise_grad", "Tensor"]
    assert all(r[-1] in ("MET", "MISSED") for r in rows)
