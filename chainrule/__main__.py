"""The `chainrule` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Run a `chainrule` command; returns the exit status.

    >>> main(["--help"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(prog="chainrule", description="Automatic differentiation")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tour", help="walk through the course notebooks on chainrule")
    args = parser.parse_args(argv)
    if args.command == "tour":
        from chainrule import tour

        tour.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
