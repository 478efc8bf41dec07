"""How a verb is declared: its name, its help, its arguments and its handler, side by side.

A module of this package declares each verb as::

    def _info_arguments(parser): ...

    @VERBS.verb("info", "describe a volume ...", _info_arguments)
    def info(args) -> int: ...

Handlers parse nothing themselves, call one library function and print its result.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from scorekit import registry

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    arguments: Arguments
    handler: Handler


class Verbs:
    """A set of verbs (the top level, or a verb's own actions such as ``weakstat train``)."""

    def __init__(self) -> None:
        self._verbs: dict[str, Verb] = {}

    def verb(self, name: str, help: str, arguments: Arguments):
        def register(handler: Handler) -> Handler:
            self._verbs[name] = Verb(name, help, arguments, handler)
            return handler
        return register

    def add_to(self, parser: argparse.ArgumentParser, dest: str) -> None:
        commands = parser.add_subparsers(dest=dest, metavar=dest.upper(), required=True)
        for verb in self._verbs.values():
            verb.arguments(commands.add_parser(verb.name, help=verb.help))

    def run(self, name: str, args: argparse.Namespace) -> int:
        return self._verbs[name].handler(args)


VERBS = Verbs()


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help=f"{', '.join(registry.DEVICES)} or cuda:N (auto: CUDA when "
                             "present)")


def add_json_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json-progress", action="store_true",
                        help="report progress as JSON lines on stdout")


def comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line on stderr (``scorekit <verb>: error: ...``) and exit 2, as
    every other bad input does; ``--help`` still shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


# -- argument types: a value outside its range is refused by argparse, naming the option ---
def count(minimum: int = 1):
    def whole(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value
    return whole


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a finite number")
    return value


def positive(text: str) -> float:
    if (value := _finite(text)) <= 0:
        raise argparse.ArgumentTypeError(f"{value} is not above 0")
    return value


def non_negative(text: str) -> float:
    if (value := _finite(text)) < 0:
        raise argparse.ArgumentTypeError(f"{value} is below 0")
    return value


def fraction(text: str) -> float:
    """Strictly between 0 and 1."""
    if not 0 < (value := _finite(text)) < 1:
        raise argparse.ArgumentTypeError(f"{value} is not strictly between 0 and 1")
    return value


def port(text: str) -> int:
    value = count(1)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1..65535)")
    return value


def patch_edge(text: str) -> int:
    """A cubic patch edge the 4-level network can halve three times: a multiple of 8."""
    value = count(8)(text)
    if value % 8:
        raise argparse.ArgumentTypeError(f"{value} is not a multiple of 8")
    return value
