"""The `chainrule` command line.

    chainrule explain "tanh(4*cos(x)**2)" --at x=7
    chainrule grad "x*y + sin(x - 2*y)" --at x=1 y=2
    chainrule compare "x**3 + x**2 - 6*x + 1" --at x=2 --figure errors.png
    chainrule draw "(x**2*cos(x))**2" --at x=3.14159 -o graph.svg
    chainrule tour
    chainrule --version

Every failure (a formula it cannot read, a bad point, an output it cannot write, and anything
unforeseen) is one line on stderr, "chainrule <command>: <what is wrong>", with exit status 2;
the formula's column is named where it applies. Formulas are read by
`chainrule.transparency.expr` (a whitelist over Python's `ast`; nothing is evaluated as
Python). Set CHAINRULE_DEBUG=1 to see the traceback of an unforeseen error.
"""

from __future__ import annotations

import argparse
import os
import sys

_EXAMPLES = """examples:
  chainrule explain "tanh(4*cos(x)**2)" --at x=7
  chainrule grad "x*y + sin(x - 2*y)" --at x=1 y=2
  chainrule compare "x**3 + x**2 - 6*x + 1" --at x=2
  chainrule draw "(x**2*cos(x))**2" --at x=3.14159 -o graph.svg
  chainrule tour
Formulas use numbers, variables, + - * / ** %, and functions such as sin, cos, tanh, exp,
log, sqrt, arctan (atan), maximum; nothing else is evaluated. A formula that starts with "-"
goes last, after "--": chainrule grad --at x=1 -- "-x**2"."""

_MAX_LINE = 600  # characters of an error line


class Failure(Exception):
    """A failure the command line reports as one line, with exit status 2."""


def _line(text: str) -> str:
    """One printable line: line breaks become spaces, other control characters escapes."""
    text = " ".join(str(text).split("\n"))
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 1] + "…"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "formula" in message:
            message += ' (a formula that starts with "-" goes last, after "--")'
        self.exit(2, _line(f"{self.prog}: {message}; see {self.prog} --help") + "\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="chainrule",
        description="Automatic differentiation, explained.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from chainrule import __version__  # the package is imported already (we are in it)

    p.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_ in (("explain", "the forward and backward tables of the chain rule"),
                        ("grad", "the value and the gradient"),
                        ("compare", "AD against finite differences (and SymPy)"),
                        ("draw", "the computation graph, with values and gradients")):  # fmt: skip
        s = sub.add_parser(name, help=help_)
        s.add_argument("formula", help='a formula, e.g. "tanh(4*cos(x)**2)"')
        s.add_argument("--at", nargs="*", default=[], action="extend", metavar="x=VALUE",
                       help="the point: one name=value per variable")  # fmt: skip
        if name == "compare":
            s.add_argument("--figure", metavar="PATH", help="save the error plot (.png, .svg or "
                                                            ".pdf)")  # fmt: skip
        if name == "draw":
            s.add_argument("-o", "--output", metavar="PATH", default="graph.svg",
                           help="where to write the picture: .svg, .png, .pdf or .dot")
    t = sub.add_parser("tour", help="walk through the course notebooks on chainrule")
    t.add_argument("--out", metavar="DIR", default="chainrule-tour",
                   help="folder for the figures and graphs")  # fmt: skip
    t.add_argument("--dot", action="store_true",
                   help="print the graphs' Graphviz DOT text too")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a `chainrule` command; returns the exit status (2 for bad input).

    >>> main(["grad", "x**3 + x**2 - 6*x + 1", "--at", "x=2"])
    f = 1
    df/dx = 10
    0
    """
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except (Failure, ValueError) as err:  # ExpressionError is a ValueError
        return _fail(args.command, str(err))
    except KeyboardInterrupt:
        _fail(args.command, "interrupted")
        return 130
    except BrokenPipeError:  # `chainrule explain ... | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as err:  # noqa: BLE001  # unforeseen: still one line
        if os.environ.get("CHAINRULE_DEBUG"):
            raise
        return _fail(args.command, f"{type(err).__name__}: {err}")


def _fail(command: str, message: str) -> int:
    print(_line(f"chainrule {command}: {message}"), file=sys.stderr)
    return 2


def _main(args: argparse.Namespace) -> int:
    if args.command == "tour":
        from chainrule import tour

        out = _folder(args.out)
        tour.run(out_dir=out, dot=args.dot)
        return 0
    from chainrule.transparency.expr import assignments, parse

    fun, names = parse(args.formula)
    if not names:
        raise Failure("the formula has no variable to differentiate")
    at = assignments(args.at, names)
    if args.command == "draw":
        _check_output(args.output, "graph", ("svg", "png", "pdf", "dot", "gv"))
    elif args.command == "compare" and args.figure:
        _check_output(args.figure, "figure", ("png", "svg", "pdf"))
    import warnings

    import numpy as np

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # inf and nan are printed as such
        return _run(args, fun, names, at)


def _folder(path: str) -> str:
    """The tour's folder, made if need be (checked before the tour starts)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise Failure(f"--out {path!r} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise Failure(f"cannot make the folder {path!r}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK):
        raise Failure(f"cannot write into the folder {path!r}")
    return path


def _check_output(path: str, what: str, formats: tuple[str, ...]) -> None:
    """An output path the command can write: a known extension, an existing folder."""
    if os.path.isdir(path):
        raise Failure(f"cannot write {path!r}: it is a folder")
    name = os.path.basename(path)
    stem, ext = os.path.splitext(name)
    ext = ext.lower().lstrip(".")
    known = ", ".join("." + f for f in formats)
    if not name or not stem or not ext:
        raise Failure(f"the {what} path {path!r} has no extension: name the format ({known}), "
                      f"as in {(stem or what) + '.' + formats[0]!r}")  # fmt: skip
    if ext not in formats:
        raise Failure(f"cannot write a {what} as .{ext} ({path!r}): use {known}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise Failure(f"cannot write {path!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise Failure(f"cannot write {path!r}: permission denied")
    if ext in ("dot", "gv"):
        return
    import importlib.util
    import shutil

    if importlib.util.find_spec("matplotlib") is None and (what == "figure" or
                                                           shutil.which("dot") is None):
        need = "matplotlib" if what == "figure" else "Graphviz's dot or matplotlib"
        raise Failure(f"cannot write {path!r}: .{ext} needs {need} (pip install matplotlib)"
                      + ("; a .dot file needs nothing" if what == "graph" else ""))


def _run(args: argparse.Namespace, fun, names: list, at: list) -> int:
    import chainrule as cr

    if args.command == "explain":
        e = cr.explain(fun, *at)
        try:
            if not sys.stdout.isatty():
                raise ImportError
            from rich.console import Console

            Console().print(e)
        except ImportError:
            print(e)
    elif args.command == "grad":
        value, grads = cr.value_and_grad(fun, argnums=tuple(range(len(names))))(*at)
        print(f"f = {float(value):.12g}")
        for n, g in zip(names, grads):
            print(f"df/d{n} = {float(g):.12g}")
    elif args.command == "compare":
        from chainrule.transparency.compare import compare

        result = compare(fun, at=tuple(at) if len(at) > 1 else at[0])
        print(result)
        if args.figure:
            result.figure(args.figure)
            print(f"figure written to {args.figure}")
    elif args.command == "draw":
        from chainrule.transparency.draw import draw

        path = draw(fun, *at).save(args.output)
        print(f"graph written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
