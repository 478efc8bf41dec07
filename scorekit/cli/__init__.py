"""``scorekit <verb>``: a thin front end over the library calls.

Each verb lives, arguments beside handler, in one module of this package (``data``,
``workflows``, ``refinement``, ``experiments``, ``web``, ``weakstat``, ``worker``). Bad input (a
:class:`ScoreKitError`) prints one line on stderr and exits 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from scorekit import __version__
from scorekit.cli import (  # noqa: F401 (each module declares verbs)
    data,
    experiments,
    refinement,
    weakstat,
    web,
    worker,
    workflows,
)
from scorekit.cli.verbs import VERBS, OneLineParser
from scorekit.errors import ScoreKitError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="scorekit", description="Refine automatic CT segmentations from light feedback.")
    parser.add_argument("--version", action="version", version=f"scorekit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    VERBS.add_to(parser, "verb")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return VERBS.run(args.verb, args)
    except (ScoreKitError, OSError) as exc:  # OSError: a folder one may not write, ...
        if args.debug:
            raise
        print(f"scorekit {args.verb}: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"scorekit {args.verb}: interrupted", file=sys.stderr)
        return 130


def describe_error(exc: Exception) -> str:
    """One line: ScoreKitError's message, or the file and the system's reason."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    raise SystemExit(main())
