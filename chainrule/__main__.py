"""The `chainrule` command line.

    chainrule explain "tanh(4*cos(x)**2)" --at x=7
    chainrule grad "x*y + sin(x - 2*y)" --at x=1 y=2
    chainrule compare "x**3 + x**2 - 6*x + 1" --at x=2 --figure errors.png
    chainrule draw "(x**2*cos(x))**2" --at x=3.14159 -o graph.svg
    chainrule tour
"""

from __future__ import annotations

import argparse
import sys

_EXAMPLES = """examples:
  chainrule explain "tanh(4*cos(x)**2)" --at x=7
  chainrule grad "x*y + sin(x - 2*y)" --at x=1 y=2
  chainrule compare "x**3 + x**2 - 6*x + 1" --at x=2
  chainrule draw "(x**2*cos(x))**2" --at x=3.14159 -o graph.svg
  chainrule tour
Formulas use numbers, variables, + - * / ** %, and functions such as sin, cos, tanh, exp,
log, sqrt, arctan (atan), maximum; nothing else is evaluated."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="Automatic differentiation, explained.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for name, help_ in (("explain", "the forward and backward tables of the chain rule"),
                        ("grad", "the value and the gradient"),
                        ("compare", "AD against finite differences (and SymPy)"),
                        ("draw", "the computation graph, with values and gradients")):  # fmt: skip
        s = sub.add_parser(name, help=help_)
        s.add_argument("formula", help='a formula, e.g. "tanh(4*cos(x)**2)"')
        s.add_argument("--at", nargs="*", default=[], metavar="x=VALUE",
                       help="the point: one name=value per variable")  # fmt: skip
        if name == "compare":
            s.add_argument("--figure", metavar="PATH", help="save the error plot (PNG/SVG)")
        if name == "draw":
            s.add_argument("-o", "--output", metavar="PATH", default="graph.svg",
                           help="where to write the picture: .svg, .png or .dot")  # fmt: skip
    t = sub.add_parser("tour", help="walk through the course notebooks on chainrule")
    t.add_argument("--out", metavar="DIR", default="chainrule-tour",
                   help="folder for the figures and graphs")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a `chainrule` command; returns the exit status (2 for bad input).

    >>> main(["grad", "x**3 + x**2 - 6*x + 1", "--at", "x=2"])
    f = 1
    df/dx = 10
    0
    """
    args = _parser().parse_args(argv)
    if args.command == "tour":
        from chainrule import tour

        tour.run(out_dir=args.out)
        return 0
    from chainrule.transparency.expr import ExpressionError, assignments, parse

    try:
        fun, names = parse(args.formula)
        at = assignments(args.at, names)
    except (ExpressionError, ValueError) as err:
        print(f"chainrule {args.command}: {err}", file=sys.stderr)
        return 2
    if not names:
        print(f"chainrule {args.command}: the formula has no variable to differentiate",
              file=sys.stderr)  # fmt: skip
        return 2
    return _run(args, fun, names, at)


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

        draw(fun, *at, output=args.output)
        print(f"graph written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
