"""The tests that do not run (or do not fully run) under jit mode (tests/jit_mode.py), each
with its reason. Keys are node ids, ``*`` matching anything (parametrisations included).

- `SKIP`: not run in jit mode;
- `NOT_JITTABLE`: run, but some calls are ones jit refuses by design: they fall back to the
  eager call and the test is reported as skipped ("not jittable: ..."); a listed test whose
  calls are all jitted fails (remove its entry), and so does an unlisted test that falls back;
- `NO_BITWISE`: run jitted, without the bitwise check (the extra eager run the check makes
  would change what the test counts or sees); not skipped;
- `XFAIL`: jit bugs, ``xfail(strict=True)``: remove the entry with the fix.

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
}

NOT_JITTABLE: dict[str, str] = {
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
    _T + "numpy_extra.py::test_derivatives_of_order_two_match_finite_differences[trim_zeros]":
        "trim_zeros: the result's shape depends on values",
    _T + "numpy_extra.py::test_jvp_of_a_quantile_in_q_is_the_slope_between_order_statistics":
        "quantile in q: the order statistics used are chosen from q's value (needed "
        "concretely)",
    _T + "custom_rules.py::test_checkpoint_static_argnums_and_decorator_forms":
        "passes a Python int that is a loop count (range(n)) to the differentiated function: "
        "jit traces Python ints (weakly typed operands), by design",
}

_COUNTS = ("counts the calls of the function, its rules or its branches: the eager run of the "
           "bitwise check would add to them")  # fmt: skip

NO_BITWISE: dict[str, str] = {
    _T + "custom_rules.py::test_checkpoint_bitwise_equal_and_body_runs_twice_under_grad": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_policies_equal_gradients_and_what_they_keep": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_under_vmap_grad_grad_and_jvp": _COUNTS,
    _T + "custom_rules.py::test_checkpoint_static_argnums_and_decorator_forms": _COUNTS,
    _T + "custom_rules.py::test_custom_vjp_grad_uses_bwd_and_plain_call_uses_fun": _COUNTS,
    _T + "custom_rules.py::test_custom_vjp_nondiff_argnums": _COUNTS,
    _T + "custom_rules.py::test_function_under_vmap_runs_once_per_example": _COUNTS,
    _T + "custom_rules.py::test_function_vmap_of_grad_gives_arrays": _COUNTS,
    _T + "forward_mode.py::test_jvp_and_jacfwd_create_no_reverse_trace":
        "counts the reverse traces made: the eager run of the bitwise check would add one",
    _T + "transforms.py::test_cond_under_vmap_runs_both_and_selects": _COUNTS,
    _T + "protection.py::test_two_different_constants_get_two_copies[*]":
        "the function zeroes the arrays it closes over: a second (eager) run sees zeros",
}

_CAPTURED = ("jit bug: jit inside jvp/vmap of a function closing over the enclosing "
             "transformation's tracers: UnexpectedTracerError")  # fmt: skip
_COLLECTIVE = ("jit bug: collectives on values not batched along the axis (axis_index, psum of "
               "a constant, cotangents) inside jit(vmap(..., axis_name)): unbound axis name")
_CUSTOM = ("jit bug: grad/jvp of a jitted function differentiate custom_jvp/custom_vjp "
           "functions' bodies, not their rules")  # fmt: skip
_BY_REFERENCE = ("jit bug: an array the function closes over, changed after its use while the "
                 "function runs, is read by the compiled program with its new values")
_EINSUM = "jit bug: einsum's shape rule does not broadcast size-1 ellipsis dimensions"

_CJ = _T + "transforms.py::test_collective_derivatives_match_jax"

XFAIL: dict[str, str] = {
    _T + "linalg.py::test_more_linalg_differentiates_on_traced_and_passes_through_on_plain"
         "[lstsq-<lambda>]": _CAPTURED,
    _T + "transforms.py::test_collective_derivatives_closed_forms": _COLLECTIVE,
    _T + "transforms.py::test_collectives_match_bulk_numpy": _COLLECTIVE,
    _T + "transforms.py::test_collectives_of_unbatched_values": _COLLECTIVE,
    _T + "transforms.py::test_nested_named_vmaps": _COLLECTIVE,
    _CJ + "[all_gather-vmap(grad)]": _COLLECTIVE,
    _CJ + "[all_gather-vmap(jvp)]": _COLLECTIVE,
    _CJ + "[pmean-vmap(jvp)]": _COLLECTIVE,
    _CJ + "[psum-vmap(jvp)]": _COLLECTIVE,
    _CJ + "[sin(psum x*)-vmap(grad)]": _COLLECTIVE,
    _CJ + "[x*psum-vmap(jvp)]": _COLLECTIVE,
    _CJ + "[x-pmean-vmap(jvp)]": _COLLECTIVE,
    _CJ + "[x/psum-vmap(jvp)]": _COLLECTIVE,
    _T + "custom_rules.py::test_custom_jvp_grad_and_jvp_use_the_rule_never_the_body": _CUSTOM,
    _T + "custom_rules.py::test_custom_vjp_under_vmap_matches_a_loop": _CUSTOM,
    _T + "products.py::test_check_grads_order2_float32[einsum[...ij,...jk->...ik]]": _EINSUM,
    _T + "products.py::test_check_grads_order2_float64[einsum[...ij,...jk->...ik]]": _EINSUM,
    _T + "products.py::test_constant_operands[einsum[...ij,...jk->...ik]]": _EINSUM,
    _T + "products.py::test_einsum_grads_match_torch[...ij,...jk->...ik-shapes0]": _EINSUM,
    _T + "products.py::test_float32_stays_float32[einsum[...ij,...jk->...ik]]": _EINSUM,
    _T + "numpy_extra.py::test_nan_reductions_all_nan_slices_and_gradients":
        "jit bug: nanargmax of an all-NaN slice returns 0 where eager (NumPy) raises",
    _T + "protection.py::test_constant_changed_inside_function_after_use[*]": _BY_REFERENCE,
    _T + "protection.py::test_reused_buffer_distinct_values_per_step[*]": _BY_REFERENCE,
    _T + "protection.py::test_index_array_changed_after_getitem[*]": _BY_REFERENCE,
    _T + "protection.py::test_index_array_changed_after_take[*]": _BY_REFERENCE,
    _T + "protection.py::test_index_array_changed_after_take_along_axis[*]": _BY_REFERENCE,
    _T + "protection.py::test_cond_and_vmap_and_nested_grad_constant_changed[*]": _BY_REFERENCE,
    _T + "protection.py::test_copies_are_per_call[*]":
        "jit bug: after a closed-over array changes between calls, jit(grad(f)) mixes its old "
        "values (a copy made while staging) with its new ones (read by reference)",
    _T + "protection.py::test_grad_argument_changed_*[*]":
        "jit bug: the function's body runs (staging) before the compiled program reads the "
        "arguments: a body writing into an argument array changes the inputs, silently",
    _T + "protection.py::test_grad_has_aux_mutated_does_not_touch_graph[*]":
        "jit bug: two outputs can be one array object (common subexpressions): changing one "
        "changes the other",
    _T + "protection.py::test_pullback_result_mutated_does_not_change_next_call[*]":
        "jit bug: results can be read-only views (broadcast_to) where eager returns "
        "writeable arrays",
}
