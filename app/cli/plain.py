"""A plain ``track`` command line read without building the parser.

A vendor's product runs ``license-companion track NAME --value N`` once per event, each call a
process of its own, and building the whole ``argparse`` parser (every subcommand, its help
texts and their translations) costs more than storing the event. ``read_plain_track`` reads
the common, unambiguous spelling of ``track`` directly and gives up (returns None) on
anything else: another command, ``--help``, an abbreviated option, ``--opt=value``, a value
that starts with ``-`` (unless argparse, too, would take it for a negative number), a
repeated option, a value that is not a number where one is needed, any mistake at all. Given
up, the command line goes to the whole parser (``app.cli.build_parser``), so every help
text, error message and exit code stays that parser's own. A unit test holds the two to the
same reading of every line this one accepts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

COMMAND = "track"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # --log-level, for both parsers
# argparse takes a token starting with "-" for a value only when it looks like a negative
# number and no option of the parser does (none of ours does); this is its own pattern.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
# What each option of ``track`` takes: the number of values and whether they are numbers.
_TRACK_OPTIONS: dict[str, tuple[str, int, bool]] = {
    "--value": ("value", 1, True),
    "--xy": ("xy", 2, True),
    "--text": ("text", 1, False),
    "--payload": ("payload", 1, False),
    "--session": ("session", 1, False),
    "--jsonl": ("jsonl", 1, False),
    "--json": ("json", 0, False),
}
_GLOBAL_OPTIONS = {"--home": "home", "--config": "config", "--log-level": "log_level"}
_ONE_OF = ("value", "xy", "text")  # argparse's mutually exclusive group


class _NotPlain(Exception):
    """Not a plain ``track`` line: the whole parser reads it."""


def _is_value(token: str) -> bool:
    """Whether argparse would take ``token`` for a value, not an option."""
    return not token.startswith("-") or _NEGATIVE_NUMBER.match(token) is not None


def _number(token: str) -> float:
    try:
        return float(token)  # what argparse's ``type=float`` calls
    except ValueError:
        raise _NotPlain from None


def _global_options(argv: Sequence[str]) -> tuple[dict[str, Any], int]:
    """The options before the command and the index of the command."""
    values: dict[str, Any] = {"home": None, "config": None, "log_level": "INFO",
                              "self_test": False}
    seen: set[str] = set()
    index = 0
    while index < len(argv) and argv[index] != COMMAND:
        dest = _GLOBAL_OPTIONS.get(argv[index])
        if dest is None or dest in seen or index + 1 >= len(argv) \
                or argv[index + 1].startswith("-"):
            raise _NotPlain
        value = argv[index + 1]
        if dest == "log_level" and value not in LOG_LEVELS:
            raise _NotPlain
        seen.add(dest)
        values[dest] = value
        index += 2
    if index >= len(argv):
        raise _NotPlain
    return values, index


def _track_arguments(argv: Sequence[str]) -> dict[str, Any]:
    """``NAME`` and the options after it, as argparse would store them."""
    if not argv or argv[0].startswith("-"):
        raise _NotPlain  # no name, or an option first: left to the whole parser
    values: dict[str, Any] = {"name": argv[0], "value": None, "xy": None, "text": None,
                              "payload": None, "session": None, "jsonl": None, "json": False}
    seen: set[str] = set()
    index = 1
    while index < len(argv):
        spec = _TRACK_OPTIONS.get(argv[index])
        if spec is None:
            raise _NotPlain
        dest, count, numeric = spec
        if dest in seen and dest != "payload":
            raise _NotPlain
        seen.add(dest)
        tokens = argv[index + 1:index + 1 + count]
        if len(tokens) < count or not all(_is_value(t) for t in tokens):
            raise _NotPlain
        if count == 0:
            values[dest] = True
        elif dest == "payload":
            values[dest] = [*(values[dest] or []), tokens[0]]
        elif dest == "xy":
            values[dest] = [_number(t) for t in tokens]
        else:
            values[dest] = _number(tokens[0]) if numeric else tokens[0]
        index += 1 + count
    if sum(1 for dest in _ONE_OF if dest in seen) > 1:
        raise _NotPlain
    return values


def read_plain_track(argv: Sequence[str]) -> dict[str, Any] | None:
    """The parsed values of a plain ``track`` command line, as the whole parser would give
    them (``command`` included); None for anything else."""
    if COMMAND not in argv:
        return None
    try:
        values, at = _global_options(argv)
        values.update(_track_arguments(argv[at + 1:]), command=COMMAND)
    except _NotPlain:
        return None
    return values
