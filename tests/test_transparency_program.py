"""`cr.explain` and `cr.draw` of a staged program (`cr.make_graph`): with arguments, values
and gradients as for any function; without, the forward and backward programs side by side,
and the forward program's data flow with types."""

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core.ir import evaluate


def f(x, y):
    return cnp.sum(cnp.tanh(x) * y)


X, Y = np.array([0.3, -1.2]), np.array([2.0, 0.5])


def test_explain_with_arguments_matches_the_function():
    prog = cr.make_graph(f)(X, Y)
    e, ref = cr.explain(prog, X, Y), cr.explain(f, X, Y)
    assert e.value == ref.value
    np.testing.assert_array_equal(e.gradient, cr.grad(f)(X, Y))
    ref_rows = [tuple(c.replace("x", "a").replace("y", "b") for c in r)
                for r in ref.forward_rows()]  # the same steps, the inputs named a, b
    assert e.forward_rows() == ref_rows
    assert "df/da = " in e.result() and "df/db = " in e.result()


def test_explain_without_arguments_shows_both_programs_and_the_backward_one_is_grad():
    prog = cr.make_graph(f)(X, Y)
    e = cr.explain(prog)
    text = str(e)
    head, *rows = text.splitlines()
    assert head.startswith("Forward program") and head.endswith("Backward program (grad)")
    assert all(" | " in r or r.endswith(" |") for r in rows), text
    assert str(prog).splitlines()[1].strip() in rows[1]
    gx, gy = evaluate(e.backward, [X, Y])
    want = cr.grad(f, argnums=(0, 1))(X, Y)
    np.testing.assert_array_equal(gx, want[0])
    np.testing.assert_array_equal(gy, want[1])
    assert "<table>" in e._repr_html_() and "tanh" in e._repr_html_()


def test_explain_without_arguments_of_several_outputs_stages_the_vjp():
    prog = cr.make_graph(lambda x: (cnp.sin(x), x * 2))(X)
    e = cr.explain(prog)
    assert e.backward_kind.startswith("vjp")
    ct1, ct2 = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    (g,) = evaluate(e.backward, [X, ct1, ct2])
    np.testing.assert_allclose(g, np.cos(X) * ct1 + 2 * ct2, rtol=1e-15)


def test_explain_of_an_integer_program_says_there_is_nothing_to_differentiate():
    e = cr.explain(cr.make_graph(lambda n: n * 2)(3))
    assert e.backward is None and "nothing to differentiate" in str(e)


def test_draw_without_arguments_shows_types_and_with_arguments_values_and_gradients():
    prog = cr.make_graph(f)(X, Y)
    d = cr.draw(prog)
    assert "type f64[2]" in d.dot and "\\ngrad " not in d.dot
    assert "v1 = tanh(a)" in d.dot and "0 reverse edges" in repr(d)
    d2 = cr.draw(prog, X, Y)
    assert "4 reverse edges" in repr(d2) and "\\ngrad " in d2.dot and "type f64" not in d2.dot


def test_a_program_called_with_the_wrong_number_of_arguments_says_so():
    prog = cr.make_graph(f)(X, Y)
    with pytest.raises(TypeError, match=r"takes 2 argument\(s\) \(f64\[2\], f64\[2\]\), not 1"):
        cr.explain(prog, X)
