"""The ``license-companion`` command line, over ``app.service``: every subcommand, listed here.

Exit codes: 0 done; 1 done but something remains or failed (e.g. events still queued);
2 bad usage or configuration; 70 a bug (details in the log file).

The commands live in small modules (``cli_events``, ``cli_status``, ``cli_license``,
``cli_tray``); this one builds the parser, maps each command to its function and runs it with
one error policy. ``tray`` and ``show`` need Qt: the entry point (``app.main``) runs them with
the tray's functions, so nothing here imports ``app.ui``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

from app import APP_ID, NAME, __version__
from app.cli_context import EXIT_BUG, EXIT_OK, EXIT_REMAINS, EXIT_USAGE, Context
from app.cli_plain import read_plain_track
from app.logsetup import setup_logging
from app.model.errors import CompanionError
from app.model.text import printable
from app.storage.files import environment_problem

if TYPE_CHECKING:
    from app.wiring import CompanionBuilder

log = logging.getLogger(__name__)

__all__ = ["COMMANDS", "DEFAULT_COMMAND", "EXIT_BUG", "EXIT_OK", "EXIT_REMAINS", "EXIT_USAGE",
           "build_parser", "main", "parse_args", "run"]

DEFAULT_COMMAND = "tray"  # no command given: the tray (run by the entry point, app.main)



def _command(module: str, name: str) -> Callable[[Context], int]:
    """The command ``name`` of ``module``, imported when it runs.

    Why: each process runs one command, and ``track`` (called once per event by a vendor's
    product) must not import what ``license`` or ``status`` need (the keyring, HTTP, crypto).
    """

    def command(ctx: Context) -> int:
        function: Callable[[Context], int] = getattr(importlib.import_module(module), name)
        return function(ctx)

    command.__name__ = command.__qualname__ = name
    return command


# Every command that runs without Qt. ``tray`` and ``show`` are in ``cli_tray.TRAY_COMMANDS``.
COMMANDS: dict[str, Callable[[Context], int]] = {
    "track": _command("app.cli_events", "cmd_track"),
    "preview": _command("app.cli_events", "cmd_preview"),
    "send": _command("app.cli_events", "cmd_send"),
    "history": _command("app.cli_events", "cmd_history"),
    "status": _command("app.cli_status", "cmd_status"),
    "consent": _command("app.cli_status", "cmd_consent"),
    "receiver": _command("app.cli_events", "cmd_receiver"),
    "license": _command("app.cli_license", "cmd_license"),
    "id": _command("app.cli_license", "cmd_id"),
    "host-info": _command("app.cli_status", "cmd_host_info"),
    "doctor": _command("app.cli_doctor", "cmd_doctor"),
}


class _Parser(argparse.ArgumentParser):
    """Never echoes arguments it did not expect: one of them may be a pasted license key."""

    def error(self, message: str) -> NoReturn:
        """Print usage and a message without the unexpected arguments, exit 2."""
        if message.startswith("unrecognized arguments:"):
            count = len(message.split(":", 1)[1].split())
            message = (f"{count} unexpected argument(s), not shown in case one is a secret "
                       "(a license key is read from stdin or a hidden prompt, never the command "
                       "line); see --help")
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    from app.cli_tray import WINDOWS
    parser = _Parser(
        prog=APP_ID, description=f"{NAME}: your license and the usage data you agreed to send."
    )
    parser.add_argument("--version", action="version", version=f"{APP_ID} {__version__}")
    parser.add_argument("--home", metavar="DIR",
                        help="state directory (default: $LICENSE_COMPANION_HOME or the platform's)")
    parser.add_argument("--config", metavar="FILE",
                        help="vendor configuration (default: $LICENSE_COMPANION_CONFIG or built-in)")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="level of the log file in the state directory")
    parser.add_argument("--self-test", action="store_true",
                        help="check Qt, keyring, config and state dir; print JSON; exit 0/1")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("track", help="enqueue one event (or, with --jsonl, many)")
    p.add_argument("name", nargs="?", help="event name, e.g. feature.export")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--value", type=float, metavar="N", help="a number")
    group.add_argument("--xy", type=float, nargs=2, metavar=("X", "Y"), help="a pair of numbers")
    group.add_argument("--text", metavar="S", help="a text")
    p.add_argument("--payload", action="append", metavar="KEY=VALUE",
                   help="extra dimension (TelemetryDeck only); repeatable")
    p.add_argument("--session", metavar="ID", help="session id (default: a new one)")
    p.add_argument("--jsonl", metavar="FILE", help="events as JSON lines (host protocol "
                   "'track' objects) from FILE or - (stdin), in one process")
    p.add_argument("--json", action="store_true", help="with --jsonl: print the report as JSON")

    p = sub.add_parser("preview", help="the exact requests that would be sent now")
    p.add_argument("--json", action="store_true")
    p.add_argument("--reveal", action="store_true", help="show license_key and api_key")
    p.add_argument("--limit", type=int, default=20, help="at most this many requests per backend")

    sub.add_parser("send", help="deliver what is queued now")

    p = sub.add_parser("history", help="what was sent, when, with what outcome")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=None)

    p = sub.add_parser("status", help="backends, queue, consent, warnings")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("consent", help="show or change what you agree to send")
    p.add_argument("action", choices=["show", "grant", "revoke", "metered"], nargs="?",
                   default="show", help="metered on|off: send on metered connections")
    p.add_argument("categories", nargs="*", metavar="CATEGORY",
                   help="default: all (for metered: on or off)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("receiver", help="run an offline test receiver for one backend")
    p.add_argument("kind", choices=["keymanager", "telemetrydeck"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="default: any free port")
    p.add_argument("--public-key-out", metavar="FILE",
                   help="keymanager: write the signing public key (PEM) here")
    p.add_argument("--record", metavar="FILE", help="append every request as a JSON line")
    p.add_argument("--quiet", action="store_true", help="do not print a line per request")

    p = sub.add_parser("license", help="your license key (in the OS keyring) and its status")
    actions = p.add_subparsers(dest="license_action", metavar="ACTION", required=True)
    s = actions.add_parser(
        "set", help="store the key: read from stdin, or a hidden prompt on a terminal"
    )
    s.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    s = actions.add_parser("show", help="the stored key, masked")
    s.add_argument("--reveal", action="store_true", help="print the whole key")
    actions.add_parser("clear", help="remove the key from the OS keyring")
    s = actions.add_parser("status", help="valid / invalid / unknown, asking the server")
    s.add_argument("--json", action="store_true")
    s.add_argument("--offline", action="store_true", help="only the last answer, no network")
    for name, text in (("activate", "take a seat for this computer"),
                       ("deactivate", "free this computer's seat (moving to another one)")):
        s = actions.add_parser(name, help=text)
        s.add_argument("--json", action="store_true")
    p = sub.add_parser("id", help="the identifiers sent for you, and where they come from")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("host-info", help="where your application reaches the companion "
                       "(socket, protocol, inbox)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("doctor", help="check everything sending needs; each problem with its fix")
    p.add_argument("--json", action="store_true")
    p.add_argument("--min-free", type=int, default=None, metavar="BYTES",
                   help=argparse.SUPPRESS)  # tests: the free space below which the disk is "full"

    p = sub.add_parser("tray", help="the tray icon (the default when no command is given)")
    p.add_argument("--send-interval", type=float, default=None, metavar="SECONDS",
                   help=argparse.SUPPRESS)  # tuning and tests; 10 s by default
    p.add_argument("--show", choices=WINDOWS, default=None,
                   help="also open this window at start")
    p = sub.add_parser("show", help="open a window of the running tray (or on its own)")
    p.add_argument("window", choices=WINDOWS)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, ``command`` filled in with the default (exits 2 on bad usage)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    plain = read_plain_track(raw)  # the common ``track`` line, without building the parser
    args = argparse.Namespace(**plain) if plain is not None else build_parser().parse_args(raw)
    args.command = args.command or DEFAULT_COMMAND
    return args


def run(args: argparse.Namespace, command: Callable[[Context], int],
        build: CompanionBuilder | None = None) -> int:
    """Run one parsed command with the error policy of every command; returns the exit code.

    Args:
        args: from ``parse_args``.
        command: the command's function.
        build: builds the companion (default: ``app.wiring.build_companion``).
    """
    ctx = Context(args, build)
    if args.command == "receiver":
        setup_logging(None, args.log_level, stderr_level="INFO")
    elif args.command == "doctor":
        setup_logging(None, args.log_level)  # doctor writes nothing, not even a log file
    else:
        setup_logging(ctx.home, args.log_level)
    try:
        return command(ctx)
    except CompanionError as exc:
        print(f"{APP_ID}: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except sqlite3.Error as exc:
        # A read that failed (the writes already say so as StorageError): the environment,
        # not a bug, e.g. a disk that went away.
        problem = environment_problem(ctx.home / "companion.db", exc)
        print(f"{APP_ID}: error: {printable(problem)}" if problem else
              f"{APP_ID}: error: the state database in {ctx.home} failed: {printable(exc)}",
              file=sys.stderr)
        return EXIT_REMAINS
    except BrokenPipeError:
        # `license-companion history | head`: the reader left; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        log.exception("internal error in %s", args.command)
        print(f"{APP_ID}: internal error ({type(exc).__name__}); this is a bug. "
              f"Details are in {ctx.home / 'logs' / 'companion.log'}", file=sys.stderr)
        return EXIT_BUG
    finally:
        ctx.close()


def main(argv: Sequence[str] | None = None, *, build: CompanionBuilder | None = None) -> int:
    """Run one command of the command line; returns the exit code.

    The program's entry point is ``app.main.main``; this is for callers that want the command
    line with their own ``build`` (tests, scripts). ``tray``, ``show`` and ``--self-test`` are
    handed to the entry point, which alone decides to load Qt (a ``license-companion`` script
    installed when it still pointed here keeps starting the tray that way).

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        build: builds the companion (default: ``app.wiring.build_companion``).
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.command not in COMMANDS or args.self_test:  # ``tray`` or ``show`` (Qt)
        from app.main import main as entry_point

        return entry_point(raw)
    return run(args, COMMANDS[args.command], build)
