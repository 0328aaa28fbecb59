"""The whole ``license-companion`` command line as an ``argparse`` parser.

Apart from ``app.cli`` so that a plain ``track`` line (read by ``app.cli.plain``) never
imports ``argparse``; every other line, and every mistake in a ``track`` line, is read here.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from app import APP_ID, NAME, __version__
from app.cli.plain import LOG_LEVELS
from app.cli.tray import WINDOWS


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
    parser = _Parser(
        prog=APP_ID, description=f"{NAME}: your license and the usage data you agreed to send."
    )
    parser.add_argument("--version", action="version", version=f"{APP_ID} {__version__}")
    parser.add_argument("--home", metavar="DIR",
                        help="state directory (default: $LICENSE_COMPANION_HOME or the platform's)")
    parser.add_argument("--config", metavar="FILE",
                        help="vendor configuration (default: $LICENSE_COMPANION_CONFIG or built-in)")
    parser.add_argument("--log-level", default="INFO",
                        choices=LOG_LEVELS,
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
    p.add_argument("--json", action="store_true", help="print the answer as JSON (with --jsonl: the report)")

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
    p = sub.add_parser("export", help="write everything kept about you to one JSON file "
                       "(history, queued events, consent decisions, identifiers)")
    p.add_argument("file", metavar="FILE", help="the file to write (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p = sub.add_parser("identity", help="your user identifier: reset it")
    actions = p.add_subparsers(dest="identity_action", metavar="ACTION", required=True)
    s = actions.add_parser("reset", help="send a new user identifier from now on; the current "
                           "one can no longer be derived (deletes what is queued)")
    s.add_argument("--yes", action="store_true", help="confirm without being asked")
    p = sub.add_parser("forget", help="decline everything, delete the queue and the history, "
                       "reset your identifier (the license key stays)")
    p.add_argument("--yes", action="store_true", help="confirm without being asked")
    p = sub.add_parser("host-info", help="where your application reaches the companion "
                       "(socket, protocol, inbox)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("doctor", help="check everything sending needs; each problem with its fix")
    p.add_argument("--json", action="store_true")
    p.add_argument("--min-free", type=int, default=None, metavar="BYTES",
                   help=argparse.SUPPRESS)  # tests: the free space below which the disk is "full"

    p = sub.add_parser("demo", help="the whole flow offline: test receivers, a demo setup, "
                       "the tray with the consent window open")
    p.add_argument("--no-tray", action="store_true",
                   help="the same on the command line: consent granted, send, then history")
    p.add_argument("--keep", action="store_true",
                   help="keep the demo's folder and demo license key afterwards")

    p = sub.add_parser("tray", help="the tray icon (the default when no command is given)")
    p.add_argument("--send-interval", type=float, default=None, metavar="SECONDS",
                   help=argparse.SUPPRESS)  # tuning and tests; 10 s by default
    p.add_argument("--show", choices=WINDOWS, default=None,
                   help="also open this window at start")
    p = sub.add_parser("show", help="open a window of the running tray (or on its own)")
    p.add_argument("window", choices=WINDOWS)
    return parser
