"""The arguments every benchmark takes: ``--device`` and ``--quick``."""

from __future__ import annotations

import argparse


def bench_parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """A parser described by the script's docstring; ``quick`` says what --quick shrinks to."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser
