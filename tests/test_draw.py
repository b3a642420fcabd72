"""cr.draw: the DOT text's structure and numbers (checked against closed forms), determinism,
the matplotlib fallback and the Graphviz renderer, summaries of long computations, errors."""

import math
import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule.numpy as cnp
from chainrule.transparency.draw import Drawing, draw

NODE = re.compile(
    r'^  (\w+) \[label="(.*?)", shape=(\w+), color="(\w+)", fillcolor="(#\w+)"(.*)\];$'
)
EDGE = re.compile(r"^  (\w+) -> (\w+)(?: \[(.*)\])?;$")


def parse(dot: str):
    """nodes {id: (lines, shape, colour, rest)}, forward [(src, dst, label)], reverse
    [(child, parent, label)] (reverse edges are written parent -> child with dir=back)."""
    nodes, fwd, rev = {}, [], []
    for line in dot.splitlines():
        if m := NODE.match(line):
            nodes[m[1]] = (m[2].split("\\n"), m[3], m[4], m[6])
        elif m := EDGE.match(line):
            attrs = m[3] or ""
            label = re.search(r'label="(.*?)"', attrs)
            label = label[1] if label else ""
            if "dir=back" in attrs:
                assert 'color="red"' in attrs and "style=dashed" in attrs
                rev.append((m[2], m[1], label))
            else:
                assert "red" not in attrs and "dashed" not in attrs
                fwd.append((m[1], m[2], label))
    return nodes, fwd, rev


def num(text: str) -> float:
    return float(text.replace("−", "-"))


def value_grad(lines):
    vals = dict(line.split(" ", 1) for line in lines[1:])
    return num(vals["value"]), num(vals["grad"])


def close(shown: float, exact: float) -> bool:  # the pictures show 3 significant digits
    return shown == pytest.approx(exact, rel=6e-3, abs=1e-12)


def poly(x):
    return x**3 + x**2 - 6 * x + 1


def diamond(x):
    return (x**2 * cnp.cos(x)) ** 2


def test_polynomial_nodes_edges_colours_values_and_gradients():
    x = 1.7
    nodes, fwd, rev = parse(draw(poly, x).dot)
    steps = {k: v for k, v in nodes.items() if k.startswith("s")}
    consts = {k: v for k, v in nodes.items() if k.startswith("c")}
    assert (len(nodes), len(steps), len(consts), len(fwd), len(rev)) == (10, 7, 3, 11, 8)
    assert sorted(v[0][0] for v in consts.values()) == ["1", "3", "6"]
    assert all(v[1:3] == ("box", "grey") and "fontsize=9" in v[3] for v in consts.values())
    assert steps["s0"][1:3] == ("ellipse", "red")
    assert all(steps[f"s{i}"][1:3] == ("box", "blue") for i in range(1, 6))
    assert steps["s6"][1:3] == ("box", "darkgreen")
    heads = [steps[f"s{i}"][0][0] for i in range(7)]
    assert heads == ["x", "v1 = x³", "v2 = x²", "v3 = v1 + v2", "v4 = 6 × x", "v5 = v3 − v4",
                     "f = v5 + 1"]  # fmt: skip
    values = [x, x**3, x**2, x**3 + x**2, 6 * x, x**3 + x**2 - 6 * x, poly(x)]
    grads = [3 * x**2 + 2 * x - 6, 1, 1, 1, -1, 1, 1]
    for i in range(7):
        v, g = value_grad(steps[f"s{i}"][0])
        assert close(v, values[i]) and close(g, grads[i]), (i, v, g)
    # operand positions on two-operand operations, none on x²
    assert ("s0", "s1", "1") in fwd and ("s0", "s2", "") in fwd and ("s0", "s4", "2") in fwd
    assert ("s3", "s5", "1") in fwd and ("s4", "s5", "2") in fwd
    # the reverse sweep: from each value back to its operands, labelled with the contribution
    contrib = {(c, p): num(label) for c, p, label in rev}
    exact = {
        ("s6", "s5"): 1, ("s5", "s3"): 1, ("s5", "s4"): -1, ("s4", "s0"): -6,
        ("s3", "s1"): 1, ("s3", "s2"): 1, ("s2", "s0"): 2 * x, ("s1", "s0"): 3 * x**2,
    }  # fmt: skip
    assert contrib.keys() == exact.keys()
    assert all(close(contrib[k], exact[k]) for k in exact)
    # the contributions into x add up to its gradient
    assert sum(v for (c, p), v in contrib.items() if p == "s0") == pytest.approx(grads[0], rel=1e-2)


def test_diamond_nodes_edges_values_and_gradients():
    x = 2.0
    v1, v2 = x**2, math.cos(x)
    v3 = v1 * v2
    nodes, fwd, rev = parse(draw(diamond, x).dot)
    assert (len(nodes), len(fwd), len(rev)) == (5, 5, 5)
    assert [n[0][0] for n in nodes.values()] == ["x", "v1 = x²", "v2 = cos(x)", "v3 = v1 × v2",
                                                 "f = v3²"]  # fmt: skip
    assert [n[2] for n in nodes.values()] == ["red", "blue", "blue", "blue", "darkgreen"]
    dx = 2 * v3 * v2 * 2 * x - 2 * v3 * v1 * math.sin(x)
    exact = {"s0": (x, dx), "s1": (v1, 2 * v3 * v2), "s2": (v2, 2 * v3 * v1),
             "s3": (v3, 2 * v3), "s4": (v3**2, 1.0)}  # fmt: skip
    for k, (v, g) in exact.items():
        shown = value_grad(nodes[k][0])
        assert close(shown[0], v) and close(shown[1], g), (k, shown)
    assert sorted(fwd) == [("s0", "s1", ""), ("s0", "s2", ""), ("s1", "s3", "1"),
                           ("s2", "s3", "2"), ("s3", "s4", "")]  # fmt: skip
    contrib = {(c, p): num(label) for c, p, label in rev}
    exact_c = {
        ("s4", "s3"): 2 * v3, ("s3", "s1"): 2 * v3 * v2, ("s3", "s2"): 2 * v3 * v1,
        ("s2", "s0"): -2 * v3 * v1 * math.sin(x), ("s1", "s0"): 2 * v3 * v2 * 2 * x,
    }  # fmt: skip
    assert contrib.keys() == exact_c.keys() and all(close(contrib[k], exact_c[k]) for k in exact_c)
    assert [c for c, _, _ in rev] == ["s4", "s3", "s3", "s2", "s1"]  # backward order
    assert parse(draw(diamond, x, reverse=False).dot)[2] == []


def test_the_dot_text_is_deterministic():
    a = draw(poly, 2.0).dot
    assert draw(poly, 2.0).dot == a
    assert draw(lambda x: x**3 + x**2 - 6 * x + 1, 2.0).dot == a
    assert draw(diamond, np.pi).dot == draw(diamond, np.pi).dot
    assert a.startswith("digraph chainrule {\n") and a.endswith("}\n")


def test_an_input_read_far_below_is_drawn_again_near_its_use():
    def loop(x):
        h = x
        for _ in range(5):
            h = cnp.sin(h) * x
        return h

    d = draw(loop, 0.8)
    nodes, fwd, rev = parse(d.dot)
    copies = [k for k in nodes if k.startswith("r")]
    assert copies and all(nodes[k][0] == ["x"] and "dashed" in nodes[k][3] for k in copies)
    assert all(src != "s0" or int(dst[1:]) <= 4 for src, dst, _ in fwd)
    # the contributions into x and into its copies add up to x's gradient
    into_x = sum(num(label) for _, p, label in rev if p == "s0" or p in copies)
    assert into_x == pytest.approx(value_grad(nodes["s0"][0])[1], rel=2e-2)


def test_the_two_variable_graph_has_no_crossing_edges():
    """x*y + sin(x - 2*y): with both inputs on top, x's long edge into x − 2y must cross
    y's edge into x × y; drawing x again next to its distant use removes the crossing."""
    from chainrule.transparency.draw import _ordering

    d = draw(lambda x, y: x * y + cnp.sin(x - 2 * y), 1.0, 2.0)
    assert _ordering(d._scene).crossings == 0
    nodes, fwd, rev = parse(d.dot)
    copies = [k for k in nodes if k.startswith("r")]
    assert len(copies) == 1 and nodes[copies[0]][0] == ["x"]
    v3 = next(k for k, n in nodes.items() if n[0][0] == "v3 = x − v2")
    assert (copies[0], v3, "1") in fwd
    # the contributions into x and its copy still add up to x's gradient
    into_x = sum(num(lb) for _, p, lb in rev if p in ("s0", copies[0]))
    assert into_x == pytest.approx(value_grad(nodes["s0"][0])[1], rel=2e-2)
    # graphs without crossings are drawn as before, without copies
    for f, x in ((poly, 2.0), (diamond, 2.0)):
        scene = draw(f, x)._scene
        assert _ordering(scene).crossings == 0 and scene.refs == 0


def test_operands_are_drawn_in_order_when_that_costs_no_crossing():
    from chainrule.transparency.draw import _ordering

    for f, args in ((poly, (2.0,)), (lambda x, y: x * y + cnp.sin(x - 2 * y), (1.0, 2.0))):
        o = _ordering(draw(f, *args)._scene)
        at = {v: i for row in o.order for i, v in enumerate(row)}
        # the steps' operands: the first operand left of the second
        for v, ups in o.up.items():
            steps = [u for u in ups if u.startswith("s") or u.startswith("r")]
            if v.startswith("s") and len(steps) == 2:
                assert at[steps[0]] < at[steps[1]], (v, steps)


def test_a_zero_gradient_graph_is_drawn(tmp_path):
    d = draw(lambda x: cnp.floor(x) * 2.0, 1.5)
    nodes, fwd, rev = parse(d.dot)
    heads = [n[0][0] for n in nodes.values()]
    assert "v1 = floor(x)" in heads and "f = v1 × 2" in heads
    assert nodes["s0"][0][2] == "grad 0 (no gradient reaches it)"
    assert ("s0", "s1", "") in fwd and not any(p == "s0" for _, p, _ in rev)
    assert "floor is integer-valued" in d.dot  # the note, in the caption


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)


def test_matplotlib_fallback_png_and_svg(no_dot, tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    d = draw(diamond, np.pi)
    png = d.save(tmp_path / "diamond.png")
    w, h = _png_size(png.read_bytes())
    assert w > 300 and h > 300
    img = imread(png)[..., :3]
    red = (img[..., 0] > 0.9) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2)
    blue = (img[..., 2] > 0.9) & (img[..., 0] < 0.2) & (img[..., 1] < 0.2)
    assert red.sum() > 500 and blue.sum() > 500  # the reverse sweep and the operation boxes
    svg = d.save(tmp_path / "diamond.svg").read_text()
    assert ET.fromstring(svg).tag.endswith("svg")
    assert d._repr_svg_().lstrip().startswith("<?xml")
    out = tmp_path / "poly"
    drawing = draw(poly, 2.0, output=out, format="png")
    assert isinstance(drawing, Drawing) and _png_size((tmp_path / "poly.png").read_bytes())


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_graphviz_renders_png_and_svg(tmp_path, monkeypatch):
    d = draw(poly, 2.0)
    svg = d.render("svg").decode()
    assert "grad 10" in svg and "value 2" in svg and ET.fromstring(svg).tag.endswith("svg")
    _png_size(d.save(tmp_path / "poly.png").read_bytes())
    monkeypatch.setitem(sys.modules, "graphviz", None)  # without the Python package: dot itself
    _png_size(d.render("png", engine="dot"))


def test_a_thousand_step_chain_is_summarised():
    def chain(x):
        for _ in range(1000):
            x = cnp.sin(x)
        return x

    d = draw(chain, 0.5)
    nodes, fwd, rev = parse(d.dot)
    assert len(nodes) <= 60 and len(nodes) == 3
    assert d.collapsed == 999
    assert "999 of 1001 steps collapsed" in d.dot.splitlines()[1]
    group = next(n for k, n in nodes.items() if k.startswith("g"))
    assert group[0][:2] == ["v1 … v999", "sin × 999"] and group[1] == "box3d"
    assert [(s, t) for s, t, _ in fwd] == [("s0", "g0"), ("g0", "s1000")]
    assert [(c, p) for c, p, _ in rev] == [("s1000", "g0"), ("g0", "s0")]
    small = draw(chain, 0.5, max_nodes=1001, reverse=False)
    assert len(parse(small.dot)[0]) == 1001 and small.collapsed == 0


def test_mixed_operations_are_chunked_within_max_nodes():
    fs = [cnp.sin, cnp.cos, cnp.tanh, cnp.exp, cnp.arctan, cnp.sqrt, cnp.log1p]

    def mixed(x):
        y = x
        for i in range(300):
            y = fs[(i * i + 3 * i) % 7](y) if i % 4 else y * 0.5 + x
        return y

    for max_nodes in (60, 12):
        d = draw(mixed, 0.3, max_nodes=max_nodes)
        nodes, fwd, rev = parse(d.dot)
        assert len(nodes) <= max_nodes
        assert "s0" in nodes and any(n[2] == "darkgreen" for n in nodes.values())
        assert d.collapsed > 0 and "collapsed" in d.dot.splitlines()[1]


def test_summary_renders_with_matplotlib(no_dot):
    pytest.importorskip("matplotlib")

    def chain(x):
        for _ in range(300):
            x = cnp.tanh(x * 1.1 + 0.2) + x
        return x

    d = draw(chain, 0.1, max_nodes=20)
    assert len(parse(d.dot)[0]) <= 20
    _png_size(d.render("png"))


def test_errors(no_dot, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="max_nodes"):
        draw(poly, 2.0, max_nodes=2)
    with pytest.raises(ValueError, match="unknown format"):
        draw(poly, 2.0, format="jpg")
    d = draw(poly, 2.0)
    with pytest.raises(ValueError, match="unknown format"):
        d.save(tmp_path / "graph.gb")
    with pytest.raises(ValueError, match="no extension"):
        d.save(tmp_path / "graph")
    with pytest.raises(ValueError, match="engine"):
        d.render("png", engine="neato")
    with pytest.raises(RuntimeError, match="graphviz"):
        d.render("png", engine="dot")
    with pytest.raises(ValueError, match="does not depend"):
        draw(lambda x: 3.0 + 0 * np.ones(()), 2.0)
    assert d.save(tmp_path / "graph.dot").read_text() == d.dot  # always possible
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="matplotlib") as err:
        d.save(tmp_path / "graph.png")
    assert "graphviz" in str(err.value) and not (tmp_path / "graph.png").exists()
    assert d._repr_svg_() is None
