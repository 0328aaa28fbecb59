"""The ``license-companion`` command line, over ``app.core``: every subcommand, listed here.

Exit codes: 0 done; 1 done but something remains or failed (e.g. events still queued);
2 bad usage or configuration; 70 a bug (details in the log file).

The commands live in small modules (``cli_events``, ``cli_status``, ``cli_license``,
``cli_tray``); this one reads the command line (``cli_plain`` for a plain ``track``,
``cli_parser`` for everything else), maps each command to its function and runs it with
one error policy. ``tray`` and ``show`` need Qt: the entry point (``app.main``) runs them with
the tray's functions, so nothing here imports ``app.tray``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

from app import APP_ID
from app.cli.context import EXIT_BUG, EXIT_OK, EXIT_REMAINS, EXIT_USAGE, Context
from app.cli.plain import read_plain_track
from app.model.errors import CompanionError
from app.model.text import printable
from app.storage.files import environment_problem
from app.support.logsetup import setup_logging

if TYPE_CHECKING:
    import argparse

    from app.core.wiring import CompanionBuilder

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
    "track": _command("app.cli.events", "cmd_track"),
    "preview": _command("app.cli.events", "cmd_preview"),
    "send": _command("app.cli.events", "cmd_send"),
    "history": _command("app.cli.events", "cmd_history"),
    "status": _command("app.cli.status", "cmd_status"),
    "consent": _command("app.cli.status", "cmd_consent"),
    "receiver": _command("app.cli.events", "cmd_receiver"),
    "license": _command("app.cli.license", "cmd_license"),
    "id": _command("app.cli.license", "cmd_id"),
    "export": _command("app.cli.export", "cmd_export"),
    "identity": _command("app.cli.rights", "cmd_identity"),
    "forget": _command("app.cli.rights", "cmd_forget"),
    "host-info": _command("app.cli.status", "cmd_host_info"),
    "doctor": _command("app.cli.doctor", "cmd_doctor"),
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (``app.cli.parser``: only what ``track`` leaves to it imports
    ``argparse``)."""
    from app.cli.parser import build_parser as whole

    return whole()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, ``command`` filled in with the default (exits 2 on bad usage)."""
    raw = list(sys.argv[1:] if argv is None else argv)
    plain = read_plain_track(raw)  # the common ``track`` line, without building the parser
    # The same attributes either way; the plain line's holder is not argparse's own class,
    # so that such a ``track`` never imports argparse.
    args = cast("argparse.Namespace", SimpleNamespace(**plain)) if plain is not None \
        else build_parser().parse_args(raw)
    args.command = args.command or DEFAULT_COMMAND
    return args


def run(args: argparse.Namespace, command: Callable[[Context], int],
        build: CompanionBuilder | None = None) -> int:
    """Run one parsed command with the error policy of every command; returns the exit code.

    Args:
        args: from ``parse_args``.
        command: the command's function.
        build: builds the companion (default: ``app.core.wiring.build_companion``).
    """
    ctx = Context(args, build)
    if args.command == "receiver":
        setup_logging(None, args.log_level, stderr_level="INFO")
    elif args.command in ("doctor", "demo"):
        # doctor writes nothing, not even a log file; the demo logs into its own state dir
        setup_logging(None, args.log_level)
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
    line with their own ``build`` (tests, scripts). ``tray``, ``show`` and ``--self-test`` load
    Qt, which only the entry point does: here they are a usage error that says so.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        build: builds the companion (default: ``app.core.wiring.build_companion``).
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(raw)
    if args.command not in COMMANDS or args.self_test:  # ``tray`` or ``show`` (Qt)
        print(f"{APP_ID}: error: {args.command or '--self-test'} starts from the program's entry "
              f"point ({APP_ID}, python -m app), not app.cli.main", file=sys.stderr)
        return EXIT_USAGE
    return run(args, COMMANDS[args.command], build)
