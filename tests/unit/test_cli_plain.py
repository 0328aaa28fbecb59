"""The plain ``track`` reader reads every line it accepts exactly as the whole parser does.

Whatever it does not accept goes to the whole parser, so the only way it could change the
command line is by accepting a line differently; this holds the two side by side on the
common spellings and on many random lines built from tricky tokens.
"""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import Sequence

import pytest

from app import cli
from app.cli.plain import read_plain_track

COMMON = [
    ["track", "feature.export", "--value", "1"],
    ["track", "feature.export", "--value", "-1.5"],
    ["track", "feature.export", "--value", "-3"],
    ["track", "perf.load", "--xy", "1", "2"],
    ["track", "perf.load", "--xy", "-1", ".5"],
    ["track", "feature.search", "--text", "hello world", "--payload", "a=1", "--payload",
     "b=x", "--session", "s-1"],
    ["track", "feature.export", "--payload", "k=v", "--value", "1e3"],
    ["--home", "/tmp/h", "--config", "/tmp/c.toml", "--log-level", "DEBUG", "track", "x.y",
     "--value", "0"],
    ["--config", "c.toml", "track", "track", "--text", ""],
    ["track", "", "--value", "1"],  # an empty name: refused by the command, not the parser
    ["track", "x", "--jsonl", "events.jsonl", "--json"],
]
# Lines the reader leaves to the whole parser (help, mistakes, anything unusual).
LEFT = [
    ["track"], ["track", "--value", "1"], ["track", "x", "--value", "abc"],
    ["track", "x", "--value", "1", "--text", "t"], ["track", "x", "--value"],
    ["track", "x", "--val", "1"], ["track", "x", "--value=1"], ["track", "x", "-h"],
    ["track", "--help"], ["--help", "track"], ["--version"], ["status"], [],
    ["track", "x", "--value", "1", "extra"], ["track", "x", "--text", "-dash"],
    ["--home", "track"], ["--log-level", "debug", "track", "x", "--value", "1"],
    ["--self-test", "track", "x", "--value", "1"], ["track", "x", "--value", "1", "--value", "2"],
    ["consent", "grant"], ["--h", "/x", "track", "x", "--value", "1"],
]
TOKENS = ["track", "feature.x", "--value", "1", "-1", "-1.5", "-.5", "-1e5", "nan", "inf",
          "abc", "--xy", "2", "--text", "hi", "-h", "--help", "--payload", "k=v", "--session",
          "s1", "--jsonl", "-", "f.jsonl", "--json", "--home", "/tmp/h", "--config", "c.toml",
          "--log-level", "DEBUG", "debug", "--val", "--value=3", "status", "", "--", "-x y",
          "--self-test", "--version", "\u0661", "-\u0661", "-1\n", "1_0", " 7 "]


def full(argv: Sequence[str]) -> list[tuple[str, str]] | None:
    """What the whole parser makes of ``argv`` (None: it exits, e.g. with an error)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return same(vars(cli.build_parser().parse_args(list(argv))))
    except SystemExit:
        return None


def same(values: dict[str, object] | None) -> list[tuple[str, str]] | None:
    """Comparable values: NaN is not equal to itself, its repr is; the type counts too."""
    return None if values is None else sorted((k, repr(v)) for k, v in values.items())


@pytest.mark.parametrize("argv", COMMON, ids=" ".join)
def test_the_common_track_lines_are_read_plainly_and_alike(argv):
    plain = read_plain_track(argv)
    assert plain is not None, "the common spelling must not need the whole parser"
    assert same(plain) == full(argv)
    assert vars(cli.parse_args(argv)) == plain


@pytest.mark.parametrize("argv", LEFT, ids=lambda a: " ".join(a) or "(nothing)")
def test_anything_else_is_left_to_the_whole_parser(argv):
    assert read_plain_track(argv) is None


def random_line(rng: random.Random) -> list[str]:
    """A line shaped like a track (options with values), with tricky tokens mixed in."""
    values = ["1", "-1", "-1.5", "-.5", "-1e5", "nan", "inf", "abc", "k=v", "", "-", "-x y",
              "\u0661", "-\u0661", "-1\n", "1_0", " 7 ", "track", "--value", "DEBUG"]
    options = ["--value", "--xy", "--text", "--payload", "--session", "--jsonl", "--json"]
    line: list[str] = []
    for _ in range(rng.randint(0, 2)):
        line += [rng.choice(["--home", "--config", "--log-level"]),
                 rng.choice(["/tmp/h", "DEBUG", "INFO", "debug", "-", "track"])]
    line += ["track", rng.choice(["feature.x", "a", "track", "", "-n"])]
    for _ in range(rng.randint(0, 4)):
        option = rng.choice(options)
        count = {"--xy": 2, "--json": 0}.get(option, 1)
        line += [option, *(rng.choice(values) if rng.random() < 0.3 else "2"
                           for _ in range(count))]
    if rng.random() < 0.2:
        line.insert(rng.randrange(len(line) + 1), rng.choice(TOKENS))
    return line


def test_random_lines_are_either_left_alone_or_read_as_the_whole_parser_reads_them():
    rng = random.Random(20261201)
    accepted = 0
    for _ in range(2000):
        argv = random_line(rng) if rng.random() < 0.8 else \
            [rng.choice(TOKENS) for _ in range(rng.randint(1, 8))]
        plain = read_plain_track(argv)
        if plain is None:
            continue
        accepted += 1
        assert same(plain) == full(argv), argv
    assert accepted > 200  # the check did compare lines, not only skip them


def test_a_mistake_in_a_track_line_still_gets_the_whole_parsers_message(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(["track", "feature.x", "--value", "abc"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: license-companion track" in err
    assert "argument --value: invalid float value: 'abc'" in err
    with pytest.raises(SystemExit):
        cli.parse_args(["track", "feature.x", "--value", "1", "AB12-CD34-SECRET"])
    err = capsys.readouterr().err
    assert "1 unexpected argument(s), not shown" in err and "AB12" not in err
