"""cr.explain: the tables' numbers are the chain rule's (closed-form partials) and the
accumulation rule's (each adjoint is the sum of its edges' products)."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def _adjoints(e):
    return {s.name: float(s.grad) for s in e.graph.steps}


def test_polynomial_adjoints_are_the_closed_form_partials():
    x = 2.0
    e = cr.explain(lambda x: x**3 + x**2 - 6 * x + 1, x)
    names = [s.label for s in e.graph.steps]
    assert names == ["x", "x³", "x²", "v1 + v2", "6 × x", "v3 − v4", "v5 + 1"]
    adj = _adjoints(e)
    # J = ((v1 + v2) − v4) + 1: every sum passes the adjoint 1, the subtraction −1
    assert adj == {"v1": 1.0, "v2": 1.0, "v3": 1.0, "v4": -1.0, "v5": 1.0, "f": 1.0,
                   "x": 3 * x**2 + 2 * x - 6}  # fmt: skip
    assert float(e.value) == x**3 + x**2 - 6 * x + 1


def test_the_notebooks_diamond_at_pi():
    x = np.pi
    e = cr.explain(lambda x: (x**2 * cnp.cos(x)) ** 2, x)
    v1, v2 = x**2, np.cos(x)
    v3 = v1 * v2
    adj = _adjoints(e)
    assert adj["f"] == 1.0
    assert adj["v3"] == pytest.approx(2 * v3)  # dz/dy = 2y = −2π²
    assert adj["v1"] == pytest.approx(2 * v3 * v2)  # dz/da = 2π²
    assert adj["v2"] == pytest.approx(2 * v3 * v1)  # dz/db = −2π⁴
    assert adj["x"] == pytest.approx(4 * np.pi**3)  # the accumulation of both paths
    assert float(e.gradient) == pytest.approx(4 * np.pi**3)


@pytest.mark.parametrize(
    "f,x",
    [
        (lambda x: cnp.tanh(4 * cnp.cos(x) ** 2), 7.0),
        (lambda x: x**2 * cnp.cos(x) / cnp.arctan(x), 7.0),
        (lambda x: cnp.exp(cnp.sin(x)) * x - cnp.log(x), 1.3),
    ],
)
def test_edges_multiply_and_accumulate(f, x):
    e = cr.explain(f, x)
    steps = e.graph.steps
    last = {}
    for c in e.graph.contributions:
        assert float(c.product) == pytest.approx(float(c.local) * float(c.incoming))
        assert float(c.incoming) == pytest.approx(float(steps[c.child].grad))
        last[c.parent] = c.accumulated
    for i, acc in last.items():  # the last contribution leaves the complete adjoint
        assert float(acc) == pytest.approx(float(steps[i].grad))
    assert float(e.gradient) == pytest.approx(float(cr.grad(f)(x)), rel=1e-12)


def test_tables_as_text_and_html():
    e = cr.explain(lambda x, y: x * y + cnp.sin(x), 1.0, 2.0)
    text = str(e)
    assert "Forward pass" in text and "Backward pass" in text
    assert "df/dx = " in text and "df/dy = 1" in text
    assert f"{2 + np.cos(1.0):.6g}" in text
    h = e._repr_html_()
    assert h.count("<table>") == 2 and "∂f/∂v1" in h


def test_explain_needs_a_connected_output():
    with pytest.raises(ValueError, match="does not depend"):
        cr.explain(lambda x: 3.0, 1.0)


def test_powers_read_the_same_everywhere():
    """One notation: a superscript for a small integer exponent, ** otherwise."""
    e = cr.explain(lambda x: x**3 * x**-1 + x**2 + cnp.square(x) + x**2.5 + 2.0**x + x**100, 1.5)
    labels = [s.label for s in e.graph.steps]
    assert labels[1:3] == ["x³", "x⁻¹"] and labels.count("x²") == 2
    assert "x ** 2.5" in labels and "2 ** x" in labels and "x ** 100" in labels
    assert not any("**" in lb and lb.split("** ")[1].lstrip("-").isdigit() and
                   len(lb.split("** ")[1].lstrip("-")) <= 2 for lb in labels)  # fmt: skip


def test_a_zero_gradient_through_floor_is_explained():
    """floor carries no gradient: the tables go on past it, and say why df/dx is 0."""
    e = cr.explain(lambda x: cnp.floor(x) * 2.0, 1.5)
    assert [(s.name, s.label) for s in e.graph.steps] == [("x", "x"), ("v1", "floor(x)"),
                                                          ("f", "v1 × 2")]  # fmt: skip
    assert float(e.gradient) == 0.0 and float(e.value) == 2.0
    assert [r[0] for r in e.backward_rows()] == ["∂f/∂v1"]  # no edge back into x
    text = str(e)
    assert "Result: df/dx = 0\n" in text and "Note: v1 = floor(x) passes no gradient" in text
    assert "Result: df/dx = 0" in e._repr_html_()
    # connected through another path, the gradient is that path's
    e = cr.explain(lambda x: x * cnp.floor(x), 2.5)
    assert float(e.gradient) == 2.0 and e.graph.notes
    assert float(cr.explain(lambda x: x * cnp.sign(x), -3.0).gradient) == -1.0


# --- why is my gradient zero or None ---------------------------------------------------------


@pytest.mark.parametrize(
    "f,args,argnum,cause,words",
    [
        (lambda x: cnp.floor(x) * 2.0, (1.5,), 0, "nondifferentiable", ["floor(x)"]),
        (lambda x: cnp.round(x) + 1.0, (1.5,), 0, "nondifferentiable", ["round(x)"]),
        (lambda x: cnp.sign(x * 2.0), (1.5,), 0, "nondifferentiable", ["sign(v1)"]),
        (lambda x: cr.stop_gradient(x) * 3.0, (1.0,), 0, "stop_gradient", ["stop_gradient(x)"]),
        (lambda x: cnp.astype(x, int) * 3.0, (1.0,), 0, "integer", ["cast to int64"]),
        (lambda x, y: x * 2.0, (1.0, 2.0), 1, "unused", ["does not depend on y"]),
        (lambda x: cnp.maximum(x, 0.0), (-2.0,), 0, "zero_derivative", ["dead ReLU", "x = -2"]),
        (lambda x: cnp.where(x > 0, x, 0.0) * 3.0, (-1.0,), 0, "zero_derivative", ["where"]),
        (lambda x: x - x, (1.0,), 0, "zero_derivative", ["cancel"]),
        (lambda x: x * x, (3.0,), 0, "connected", ["connected"]),
    ],
)
def test_explain_gradient_names_the_cause(f, args, argnum, cause, words):
    d = cr.explain_gradient(f, *args, argnum=argnum)
    assert d.cause == cause, d.reason
    for w in words:
        assert w in d.reason
    expected = cr.grad(f, argnums=argnum)(*args)
    assert (d.gradient is None and expected == 0) or float(d.gradient) == float(expected)


def test_explain_gradient_on_tensors():
    a = cr.tensor(1.0, requires_grad=True)
    with cr.no_grad():
        b = a * 2
    assert cr.explain_gradient(b, a).cause == "no_grad"
    assert cr.explain_gradient(a * 3, cr.tensor(2.0)).cause == "detached"
    c = cr.tensor(3.0, requires_grad=True)
    assert cr.explain_gradient(c * 3 + a.detach(), a).cause == "unused"
    assert cr.explain_gradient(a * c, a).cause == "connected"


def test_scalar_node_explain_matches_the_engine():
    from chainrule.scalar import Node, backward

    x = Node(np.pi, "x")
    z = (x**2 * x.cos()) ** 2
    e = z.explain()
    backward(z)
    assert float(e.gradient) == pytest.approx(x.grad) == pytest.approx(4 * np.pi**3)
    assert float(e.value) == pytest.approx(z.value)
    labels = [s.label for s in e.graph.steps]
    assert "cos(x)" in labels and "v1 × v2" in labels


def test_numbers_the_scalar_engine_wraps_are_constants_of_the_tables():
    from chainrule.scalar import Node

    x = Node(2.0, "x")
    e = (x**3 + x**2 - x * 6 + 1).explain()
    assert [s.name for s in e.graph.steps if s.op == "input"] == ["x"]
    assert "x × 6" in [s.label for s in e.graph.steps]
    assert e.result() == "df/dx = 10"
    assert "Node" not in str(e) and "Node" not in cr.draw(x * 6 + 1).dot
    both = (Node(3.0) * 2).explain()  # no leaf has a name: the leaves stay the inputs
    assert both.result() == "df/dNode = 2, df/dNode2 = 3"


def test_tensor_explain_and_draw_show_the_recorded_graph():
    x = cr.tensor(np.pi, requires_grad=True)
    z = (x**2 * cnp.cos(x)) ** 2
    e = z.explain()
    assert float(e.gradient) == pytest.approx(4 * np.pi**3)
    values = {s.name: s.value for s in e.graph.steps}
    assert float(values["v1"]) == pytest.approx(np.pi**2)  # kept by the product's rule
    assert float(values["f"]) == pytest.approx(np.pi**4)
    assert x.grad is None  # explaining touches no .grad
    assert f"{len(e.graph.contributions)} reverse edges" in cr.draw(z).dot
    z.backward()  # the explanation left the graph intact
    assert float(x.grad) == pytest.approx(4 * np.pi**3)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        z.explain()  # now freed
    with pytest.raises(ValueError, match="not recorded"):
        cr.tensor(1.0).explain()


def test_rich_tables_when_rich_is_installed():
    rich = pytest.importorskip("rich")
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(cr.explain(lambda x: x * cnp.sin(x), 1.0))
    text = console.export_text()
    assert "Forward pass" in text and "Backward pass" in text
    assert f"{np.sin(1.0) + np.cos(1.0):.6g}" in text
    del rich
