"""argparse in Russian: its own words («usage», «options», «error: unrecognized arguments») translated.

argparse looks its texts up through gettext (`argparse._`, `argparse.ngettext`) while a parser is built (the
«options» title, the -h help) and while it parses (the errors); `russian()` swaps in a catalog for exactly that
time, so nothing else in the process sees a changed argparse. An error is one line, in the command line's own
form (`otklik: ошибка: …`), with where to find the help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

_CATALOG = {
    "usage: ": "использование: ",
    "positional arguments": "аргументы",
    "options": "параметры",
    "optional arguments": "параметры",  # before Python 3.10
    "show this help message and exit": "показать эту справку и выйти",
    "show program's version number and exit": "показать версию и выйти",
    "unrecognized arguments: %s": "лишние аргументы: %s",
    "the following arguments are required: %s": "не хватает аргументов: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": "нет такого варианта: %(value)r (возможны: %(choices)s)",
    "argument %(argument_name)s: %(message)s": "аргумент %(argument_name)s: %(message)s",
    "expected one argument": "нужно одно значение",
    "expected at most one argument": "нужно не больше одного значения",
    "expected at least one argument": "нужно хотя бы одно значение",
    "invalid %(type)s value: %(value)r": "недопустимое значение %(value)r",
    "ambiguous option: %(option)s could match %(matches)s": "неоднозначный параметр %(option)s: это %(matches)s?",
    "not allowed with argument %s": "нельзя вместе с %s",
    "one of the arguments %s is required": "нужен один из аргументов: %s",
    "ignored explicit argument %r": "лишнее значение %r",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "нет такой команды: %(parser_name)r (возможны: %(choices)s)",
    "%(prog)s: error: %(message)s\n": "%(prog)s: ошибка: %(message)s\n",
}


def _gettext(message: str) -> str:
    return _CATALOG.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    if singular == "expected %s argument":
        return "нужно значений: %s"
    return singular if n == 1 else plural


@contextmanager
def russian() -> Iterator[None]:
    """argparse speaks Russian inside the block (building the parsers and parsing)."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _gettext, _ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


class RussianHelpFormatter(argparse.HelpFormatter):
    def add_usage(
        self, usage: str | None, actions: object, groups: object, prefix: str | None = None
    ) -> None:
        super().add_usage(usage, actions, groups, prefix or "использование: ")  # type: ignore[arg-type]


class Parser(argparse.ArgumentParser):
    """One line on a usage error, like every other error of the command line; exit code 2."""

    def error(self, message: str) -> NoReturn:
        root = self.prog.split()[0]
        where = f"{self.prog}: " if self.prog != root else ""
        sys.stderr.write(f"{root}: ошибка: {where}{message} (справка: {self.prog} --help)\n")
        sys.exit(2)
