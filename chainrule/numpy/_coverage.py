"""Which of NumPy's names `chainrule.numpy` covers, and why the others are left out.

Every public name of NumPy (the names of ``numpy.__all__`` except submodules, of
``numpy.linalg`` and ``numpy.fft``, the ``ndarray`` methods and the ufunc methods) is classified
here as "supported" (chainrule's namespace has a differentiable function of that name, or NumPy's
own constant, dtype or creation function passed through) or "unsupported" with one reason from a
closed set, `REASONS`. ``tests/test_numpy_coverage.py`` keeps the table complete and true, and
``docs/numpy_support.md`` is generated from it::

    python -m chainrule.numpy._coverage > docs/numpy_support.md

Names that other modules are still being written for (``numpy.fft``, some of ``numpy.linalg``,
array methods the core may add) are classified when asked: "supported" once chainrule defines
them, "not yet" before.

>>> from chainrule.numpy._coverage import status
>>> status("numpy", "median"), status("numpy", "savetxt")
('supported', 'I/O')
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np

SUPPORTED = "supported"
#: Why a NumPy name is not differentiable in chainrule (the closed set).
REASONS = ("I/O", "introspection", "integer-valued: runs on values", "deprecated", "not yet")
IO, INTRO, INTEGER, DEPRECATED, NOT_YET = REASONS

#: numpy.* names that chainrule.numpy defines (differentiable, or NumPy's own passed through).
NUMPY_SUPPORTED = frozenset({
    "False_", "ScalarType", "True_", "abs", "absolute", "acos", "acosh", "add", "all",
    "allclose", "amax", "amin", "angle", "any", "append", "apply_along_axis", "apply_over_axes",
    "arange", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh",
    "argmax", "argmin", "argpartition", "argsort", "argwhere", "around", "array", "array_equal",
    "array_equiv", "array_split", "asanyarray", "asarray", "asarray_chkfinite",
    "ascontiguousarray", "asfortranarray", "asin", "asinh", "astype", "atan", "atan2", "atanh",
    "atleast_1d", "atleast_2d", "atleast_3d", "average", "bartlett", "bincount", "blackman",
    "block", "bool", "bool_", "broadcast_arrays", "broadcast_shapes", "broadcast_to", "byte",
    "bytes_", "c_", "cbrt", "cdouble", "ceil", "character", "choose", "clip", "clongdouble",
    "column_stack", "complex128", "complex256", "complex64", "complexfloating", "compress",
    "concat", "concatenate", "conj", "conjugate", "convolve", "copy", "copysign", "corrcoef",
    "correlate", "cos", "cosh", "count_nonzero", "cov", "cross", "csingle", "cumprod", "cumsum",
    "cumulative_prod", "cumulative_sum", "datetime64", "deg2rad", "degrees", "delete", "diag",
    "diag_indices", "diag_indices_from", "diagflat", "diagonal", "diff", "digitize", "divide",
    "divmod", "dot", "double", "dsplit", "dstack", "dtype", "e", "ediff1d", "einsum",
    "einsum_path", "empty", "empty_like", "equal", "euler_gamma", "exp", "exp2", "expand_dims",
    "expm1", "extract", "eye", "fabs", "finfo", "fix", "flatnonzero", "flexible", "flip",
    "fliplr", "flipud", "float128", "float16", "float32", "float64", "float_power", "floating",
    "floor", "floor_divide", "fmax", "fmin", "fmod", "frexp", "from_dlpack", "fromfunction",
    "fromiter", "full", "full_like", "generic", "geomspace", "gradient", "greater",
    "greater_equal", "half", "hamming", "hanning", "heaviside", "histogram_bin_edges", "hsplit",
    "hstack", "hypot", "i0", "identity", "iinfo", "imag", "index_exp", "indices", "inexact",
    "inf", "inner", "insert", "int16", "int32", "int64", "int8", "int_", "intc", "integer",
    "interp", "intersect1d", "intp", "isclose", "iscomplex", "iscomplexobj", "isfinite", "isin",
    "isinf", "isnan", "isneginf", "isposinf", "isreal", "isrealobj", "isscalar", "issubdtype",
    "ix_", "kaiser", "kron", "ldexp", "less", "less_equal", "lexsort", "linspace",
    "little_endian", "log", "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and",
    "logical_not", "logical_or", "logical_xor", "logspace", "long", "longdouble", "longlong",
    "mask_indices", "matmul", "matrix_transpose", "matvec", "max", "maximum", "mean", "median",
    "meshgrid", "mgrid", "min", "minimum", "mod", "modf", "moveaxis", "multiply", "nan",
    "nan_to_num", "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean",
    "nanmedian", "nanmin", "nanpercentile", "nanprod", "nanquantile", "nanstd", "nansum",
    "nanvar", "ndarray", "ndim", "ndindex", "negative", "newaxis", "nonzero", "not_equal",
    "number", "object_", "ogrid", "ones", "ones_like", "outer", "pad", "partition",
    "percentile", "permute_dims", "pi", "piecewise", "poly", "polyadd", "polyder", "polydiv",
    "polyfit", "polyint", "polymul", "polysub", "polyval", "positive", "pow", "power", "prod",
    "ptp", "quantile", "r_", "rad2deg", "radians", "ravel", "real", "real_if_close",
    "reciprocal", "remainder", "repeat", "require", "reshape", "resize", "result_type", "rint",
    "roll", "rollaxis", "roots", "rot90", "round", "row_stack", "s_", "sctypeDict",
    "searchsorted", "select", "setdiff1d", "setxor1d", "shape", "short", "sign", "signbit",
    "signedinteger", "sin", "sinc", "single", "sinh", "size", "sort", "sort_complex", "split",
    "sqrt", "square", "squeeze", "stack", "std", "str_", "subtract", "sum", "swapaxes", "take",
    "take_along_axis", "tan", "tanh", "tensordot", "tile", "timedelta64", "trace", "transpose",
    "trapezoid", "tri", "tril", "tril_indices", "tril_indices_from", "trim_zeros", "triu",
    "triu_indices", "triu_indices_from", "true_divide", "trunc", "typecodes", "ubyte", "ufunc",
    "uint", "uint16", "uint32", "uint64", "uint8", "uintc", "uintp", "ulong", "ulonglong",
    "union1d", "unique", "unique_all", "unique_counts", "unique_inverse", "unique_values",
    "unsignedinteger", "unstack", "unwrap", "ushort", "vander", "var", "vdot", "vecdot",
    "vecmat", "void", "vsplit", "vstack", "where", "zeros", "zeros_like"
})  # fmt: skip

#: numpy.* names chainrule.numpy leaves to NumPy, with the reason.
NUMPY_UNSUPPORTED = {
    # reading, writing and formatting
    **dict.fromkeys([
        "array2string", "array_repr", "array_str", "base_repr", "binary_repr",
        "format_float_positional", "format_float_scientific", "frombuffer", "fromfile",
        "fromregex", "fromstring", "genfromtxt", "get_printoptions", "load", "loadtxt", "memmap",
        "printoptions", "save", "savetxt", "savez", "savez_compressed", "set_printoptions",
    ], IO),
    # questions about types, memory, NumPy itself and its error state
    **dict.fromkeys([
        "__array_namespace_info__", "__version__", "broadcast", "can_cast", "common_type",
        "datetime_data", "errstate", "get_include", "getbufsize", "geterr", "geterrcall",
        "info", "isdtype", "isfortran", "iterable", "may_share_memory", "min_scalar_type",
        "mintypecode", "promote_types", "setbufsize", "seterr", "seterrcall", "shares_memory",
        "show_config", "show_runtime", "test", "typename",
    ], INTRO),
    # integers, bits, dates and counts: no derivative to take
    **dict.fromkeys([
        "bitwise_and", "bitwise_count", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
        "bitwise_or", "bitwise_right_shift", "bitwise_xor", "busday_count", "busday_offset",
        "busdaycalendar", "datetime_as_string", "gcd", "histogram", "histogram2d",
        "histogramdd", "invert", "is_busday", "isnat", "lcm", "left_shift", "packbits",
        "ravel_multi_index", "right_shift", "unpackbits", "unravel_index",
    ], INTEGER),
    # numpy.matrix is no longer recommended (PendingDeprecationWarning)
    **dict.fromkeys(["asmatrix", "bmat", "matrix"], DEPRECATED),
    # in-place updates, iterators, records, Python-function wrappers, float spacing
    **dict.fromkeys([
        "copyto", "fill_diagonal", "flatiter", "frompyfunc", "ndenumerate", "nditer",
        "nested_iters", "nextafter", "place", "poly1d", "put", "put_along_axis", "putmask",
        "recarray", "record", "spacing", "vectorize",
    ], NOT_YET),
}  # fmt: skip

#: numpy.linalg names classified when asked (being written): supported once defined.
LINALG_PENDING = frozenset({
    "eig", "eigvals", "lstsq", "tensorsolve", "tensorinv", "cond", "matrix_norm", "vector_norm",
    "svdvals", "cross", "outer", "diagonal", "trace", "matmul", "vecdot", "matrix_transpose",
    "tensordot",
})  # fmt: skip
LINALG_SUPPORTED = frozenset({
    "LinAlgError", "cholesky", "det", "eigh", "eigvalsh", "inv", "matrix_power", "matrix_rank",
    "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "svd",
})  # fmt: skip

#: ndarray methods and attributes traced values have (checked on the core's Tracer).
METHODS_SUPPORTED = frozenset({
    "T", "all", "any", "argmax", "argmin", "argsort", "astype", "clip", "conj", "conjugate",
    "copy", "cumprod", "cumsum", "diagonal", "dot", "dtype", "flat", "flatten", "imag", "max",
    "mT", "mean", "min", "ndim", "nonzero", "prod", "ravel", "real", "repeat", "reshape",
    "round", "shape", "size", "sort", "squeeze", "std", "sum", "swapaxes", "take", "trace",
    "transpose", "var", "argpartition", "partition", "searchsorted", "choose", "compress",
    "nbytes", "itemsize",
})  # fmt: skip
METHODS_UNSUPPORTED = {
    **dict.fromkeys(["dump", "dumps", "item", "tobytes", "tofile", "tolist"], IO),
    **dict.fromkeys(["base", "ctypes", "data", "device", "flags", "setflags", "strides"], INTRO),
    "byteswap": INTEGER,
    **dict.fromkeys(["fill", "getfield", "put", "resize", "setfield", "to_device", "view"],
                    NOT_YET),
}  # fmt: skip

#: NumPy's ufunc methods: on chainrule's binary ufunc functions (cnp.add.reduce, ...).
UFUNC_METHODS = ("accumulate", "at", "outer", "reduce", "reduceat")

#: Platform-dependent NumPy names (absent on some builds).
PLATFORM = frozenset({"float128", "complex256"})

_NAMESPACES = ("numpy", "numpy.linalg", "numpy.fft", "ndarray", "ufunc")


def numpy_names(namespace: str) -> list[str]:
    """The public names of NumPy's `namespace` that the table must classify."""
    if namespace == "numpy":
        return sorted(n for n in np.__all__
                      if not isinstance(getattr(np, n, None), types.ModuleType))  # fmt: skip
    if namespace == "numpy.linalg":
        return sorted(np.linalg.__all__)
    if namespace == "numpy.fft":
        return sorted(np.fft.__all__)
    if namespace == "ndarray":
        return sorted(m for m in dir(np.ndarray) if not m.startswith("_"))
    if namespace == "ufunc":
        return list(UFUNC_METHODS)
    raise ValueError(f"unknown namespace {namespace!r}; use one of {_NAMESPACES}")


def defines(module: Any, name: str) -> bool:
    """Whether `module` itself defines `name` (not its fallback `__getattr__`, which wraps
    NumPy's function for plain data only)."""
    return name in vars(module)


def _cnp() -> Any:
    import chainrule.numpy as cnp

    return cnp


def status(namespace: str, name: str) -> str:
    """"supported", or the reason (one of `REASONS`) why chainrule leaves `name` to NumPy;
    KeyError for a name the table does not know."""
    cnp = _cnp()
    if namespace == "numpy":
        if name in NUMPY_SUPPORTED:
            return SUPPORTED
        return NUMPY_UNSUPPORTED[name]
    if namespace == "numpy.linalg":
        if name in LINALG_PENDING:
            return SUPPORTED if defines(cnp.linalg, name) else NOT_YET
        if name in LINALG_SUPPORTED:
            return SUPPORTED
        raise KeyError(name)
    if namespace == "numpy.fft":
        if name not in np.fft.__all__:
            raise KeyError(name)
        return SUPPORTED if defines(cnp.fft, name) else NOT_YET
    if namespace == "ndarray":
        if name in METHODS_SUPPORTED:
            return SUPPORTED
        return METHODS_UNSUPPORTED[name]
    if namespace == "ufunc":
        if name in UFUNC_METHODS:
            return SUPPORTED
        raise KeyError(name)
    raise ValueError(f"unknown namespace {namespace!r}; use one of {_NAMESPACES}")


def is_dynamic(namespace: str, name: str) -> bool:
    """Whether the name's status follows what chainrule defines at the time of asking."""
    return namespace == "numpy.fft" or (namespace == "numpy.linalg" and name in LINALG_PENDING)


def table() -> list[tuple[str, str, str]]:
    """(namespace, name, status) for every name of NumPy the table classifies."""
    return [(ns, n, status(ns, n)) for ns in _NAMESPACES for n in numpy_names(ns)]


_TITLES = {
    "numpy": ("`numpy`", "`chainrule.numpy`"),
    "numpy.linalg": ("`numpy.linalg`", "`chainrule.numpy.linalg`"),
    "numpy.fft": ("`numpy.fft`", "`chainrule.numpy.fft`"),
    "ndarray": ("`ndarray` methods and attributes", "traced values and Tensors"),
    "ufunc": ("ufunc methods", "chainrule's binary ufunc functions (`cnp.add.reduce`, ...)"),
}


def row(namespace: str, name: str, st: str) -> str:
    """One line of the generated table."""
    shown = {"ndarray": f"ndarray.{name}", "ufunc": f"ufunc.{name}"}.get(namespace, name)
    return f"| `{shown}` | {'yes' if st == SUPPORTED else 'no'} | {'' if st == SUPPORTED else st} |"


def markdown() -> str:
    """docs/numpy_support.md."""
    rows = table()
    out = [
        "# NumPy support in chainrule",
        "",
        "Generated by `python -m chainrule.numpy._coverage > docs/numpy_support.md` from the "
        "table in",
        "`chainrule/numpy/_coverage.py`; `tests/test_numpy_coverage.py` checks that the table "
        "covers every",
        "public name of the installed NumPy and that this file is up to date.",
        "",
        "\"Supported\" means that chainrule has a function of that name that is "
        "differentiable on traced",
        "values and Tensors (integer and boolean results carry no gradient), or that the name "
        "is NumPy's own",
        "constant, dtype or creation function, passed through. Every function works on plain "
        "NumPy data",
        "exactly as NumPy's does. `numpy.random` is chainrule's: NumPy's random API, whose "
        "draws",
        "jit stages (drawn at each call), vmap batches and checkpoint replays.",
        "",
        "Reasons for the names left to NumPy (they still work on plain data and on values "
        "that need no",
        "gradient, such as `cr.stop_gradient(x)` or `t.detach()`):",
        "",
        f"- **{IO}**: reading, writing, printing and formatting;",
        f"- **{INTRO}**: questions about types, memory layout, NumPy itself or its error "
        "state;",
        f"- **{INTEGER}**: integers, bits, dates and counts, which have no derivative;",
        f"- **{DEPRECATED}**: deprecated or no longer recommended by NumPy;",
        f"- **{NOT_YET}**: differentiable in principle, not written yet.",
        "",
        "| NumPy | names | supported | I/O | introspection | integer-valued | deprecated "
        "| not yet |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ns in _NAMESPACES:
        sts = [st for n_s, _, st in rows if n_s == ns]
        counts = "".join(f"| {sts.count(s)} " for s in (SUPPORTED, *REASONS))
        out.append(f"| {_TITLES[ns][0]} | {len(sts)} {counts}|")
    for ns in _NAMESPACES:
        title, where = _TITLES[ns]
        out += ["", f"## {title}", "", f"In {where}.", "", "| name | supported | reason |",
                "|---|---|---|"]  # fmt: skip
        out += [row(n_s, n, st) for n_s, n, st in rows if n_s == ns]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
