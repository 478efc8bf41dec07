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
from scorekit.cli.verbs import VERBS
from scorekit.errors import ScoreKitError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorekit", description="Refine automatic CT segmentations from light feedback.")
    parser.add_argument("--version", action="version", version=f"scorekit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    VERBS.add_to(parser, "verb")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return VERBS.run(args.verb, args)
    except ScoreKitError as exc:
        if args.debug:
            raise
        print(f"scorekit {args.verb}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"scorekit {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
