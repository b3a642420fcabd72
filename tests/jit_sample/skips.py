"""The lists of the sample (the format of tests/jit_skips.py)."""

_S = "tests/jit_sample/sample_jit.py::"

SKIP = {_S + "test_listed_skip": "a sample skip"}
NOT_JITTABLE = {
    _S + "test_listed_not_jittable": "a string argument",
    _S + "test_listed_not_jittable_but_jitted": "a stale entry",
}
XFAIL = {_S + "test_listed_xfail": "jit bug: a sample"}
NO_BITWISE = {_S + "test_no_bitwise": "counts the calls"}
