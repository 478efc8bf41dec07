"""How a verb is declared: its name, its help, its arguments and its handler, side by side.

A module of this package declares each verb as::

    def _info_arguments(parser): ...

    @VERBS.verb("info", "describe a volume ...", _info_arguments)
    def info(args) -> int: ...

Handlers parse nothing themselves, call one library function and print its result.
"""

from __future__ import annotations

import argparse
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
