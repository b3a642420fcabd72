"""The tests that do not run (or do not fully run) under jit mode (tests/jit_mode.py), each
with its reason. Keys are node ids, ``*`` matching anything (parametrisations included).

- `SKIP`: not run in jit mode;
- `NOT_JITTABLE`: run, but some calls are ones jit refuses by design: they fall back to the
  eager call and the test is reported as skipped ("not jittable: ..."); a listed test whose
  calls are all jitted fails (remove its entry), and so does an unlisted test that falls back;
- `NO_BITWISE`: run jitted, without the bitwise check (the extra eager run the check makes
  would change what the test counts or sees); not skipped;
- `XFAIL`: jit bugs, ``xfail(strict=True)``: remove the entry with the fix;
- `SCALAR_MATH`: tests whose eager run multiplies or divides complex NumPy scalars (0-d
  values: NumPy's scalar math, without fused multiply-adds), which the compiled program does
  on 0-d arrays (NumPy's array loops, with them): a difference of a rounding or two is
  reported apart (`tests/jit_mode.py`), not as a mismatch.

At most 5% of the tests selected by jit mode are skipped (SKIP and NOT_JITTABLE together).
"""

_T = "tests/test_"

SKIP: dict[str, str] = {
    _T + "transforms.py::test_grad_through_cond":
        "counts the branches cr.cond runs: under jit both branches are staged (by design; "
        "the taken one is selected when the program runs)",
    _T + "dispatch.py::test_a_numpy_function_that_would_drop_the_derivative_is_named":
        "tests an eager-only error message (a NumPy function on a value with a derivative); "
        "under jit the value is abstract and the message says so",
    _T + "dispatch.py::test_in_place_numpy_function_on_a_differentiated_value_is_refused":
        "tests an eager-only error message (a NumPy function writing into a value with a "
        "derivative); under jit the value is abstract and the message says so",
    _T + "protection.py::test_constant_used_many_times_is_copied_once[*]":
        "inspects the copies eager grad makes of constants; jit makes none (it reads them "
        "by reference and fixes their values when they change while staged)",
    _T + "protection.py::test_two_different_constants_get_two_copies[*]":
        "inspects the copies eager grad makes of constants; jit makes none",
    _T + "custom_rules.py::test_function_under_vmap_runs_once_per_example":
        "counts the calls of a function with a custom rule: jit traces it (for the program "
        "transformations derive from, and inlined for the code that runs)",
    _T + "namespaces.py::test_a_numpy_function_needing_values_names_the_namespace":
        "tests an eager-only error (NumPy's partition needs the values, on the host); under "
        "jit partition is staged from chainrule.numpy's and runs on the namespace",
    _T + "numpy_extra.py::test_nan_reductions_all_nan_slices_and_gradients":
        "nanargmax of an all-NaN slice: NumPy raises, an error that depends on the values, "
        "which a compiled program cannot raise (it returns 0; JAX likewise does not raise)",
}

NOT_JITTABLE: dict[str, str] = {
    _T + "namespaces.py::test_boolean_masks_on_device1":
        "a boolean mask's selection has a shape that depends on the values",
    _T + "elementwise.py::test_unary_value_inside_grad[*]":
        "reads a traced intermediate's value inside the function "
        "(float(cr.stop_gradient(y))): jit has no values while staging, by design",
    _T + "indexing.py::test_mask_from_the_traced_value_is_a_constant":
        "a boolean mask computed from the argument: the result's shape depends on values",
    _T + "indexing.py::test_nonzero_and_one_argument_where_give_constant_indices":
        "nonzero of the argument: the result's shape depends on values",
    _T + "linalg.py::test_more_linalg_differentiates_on_traced_and_passes_through_on_plain"
         "[matrix_rank-None]":
        "matrix_rank is an integer computed from the values (needed concretely)",
    _T + "linalg.py::test_more_linalg_differentiates_on_traced_and_passes_through_on_plain"
         "[lstsq-<lambda>]":
        "lstsq returns the rank, an integer computed from the values (needed concretely)",
    _T + "numpy_extra.py::test_derivatives_of_order_two_match_finite_differences[trim_zeros]":
        "trim_zeros: the result's shape depends on values",
    _T + "custom_rules.py::test_checkpoint_static_argnums_and_decorator_forms":
        "passes a Python int that is a loop count (range(n)) to the differentiated function: "
        "jit traces Python ints (weakly typed operands), by design",
}

_COUNTS = ("counts the calls of the function, its rules or its branches: the eager run of the "
           "bitwise check would add to them")  # fmt: skip

_OVERWRITES = ("the function overwrites the arrays it closes over: a second (eager) run sees "
               "the new values")

NO_BITWISE: dict[str, str] = {
    _T + "namespaces.py::test_w7_grad_vmap_and_jit_make_no_host_transfer":
        "counts the ways to the host: the bitwise check compares the results there",
    _T + "custom_rules.py::test_checkpoint_bitwise_equal_and_body_runs_twice_under_grad": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_policies_equal_gradients_and_what_they_keep": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_under_vmap_grad_grad_and_jvp": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_static_argnums_and_decorator_forms": _COUNTS,
    _T + "custom_rules.py::test_custom_vjp_grad_uses_bwd_and_plain_call_uses_fun": _COUNTS,
    _T + "custom_rules.py::test_custom_vjp_nondiff_argnums": _COUNTS,
    _T + "custom_rules.py::test_function_vmap_of_grad_gives_arrays": _COUNTS,
    _T + "forward_mode.py::test_jvp_and_jacfwd_create_no_reverse_trace":
        "counts the reverse traces made: the eager run of the bitwise check would add one",
    _T + "transforms.py::test_cond_under_vmap_runs_both_and_selects": _COUNTS,
    _T + "protection.py::test_cond_and_vmap_and_nested_grad_constant_changed[*]": _OVERWRITES,
    _T + "protection.py::test_constant_changed_inside_function_after_use[*]": _OVERWRITES,
}

XFAIL: dict[str, str] = {
}

_COMPLEX_0D = "complex products of 0-d values (holomorphic derivatives at a complex scalar)"
_DET = ("complex det's rules multiply 0-d determinants (det(U) * det(Vh), the cofactor's "
        "scale)")

SCALAR_MATH: dict[str, str] = {
    _T + "elementwise.py::test_holomorphic_vjp_has_no_conjugation[*]": _COMPLEX_0D,
    _T + "elementwise.py::test_holomorphic_against_jax": _COMPLEX_0D,
    _T + "elementwise.py::test_real_valued_functions_of_complex_follow_jax_convention":
        _COMPLEX_0D,
    _T + "complex.py::test_holomorphic_derivatives_match_jax[det]": _DET,
    _T + "complex.py::test_real_losses_of_complex_inputs_match_jax[det]": _DET,
    _T + "complex.py::test_real_losses_of_complex_inputs_match_finite_differences[det]": _DET,
}
