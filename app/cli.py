"""The ``license-companion`` command line, over ``app.service``.

Exit codes: 0 done; 1 done but something remains or failed (e.g. events still queued);
2 bad usage or configuration; 70 a bug (details in the log file).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from app import APP_ID, NAME, __version__
from app.logsetup import SECRETS, setup_logging
from app.model.errors import CompanionError, ValidationError
from app.service import consent_view
from app.service import preview as preview_fmt
from app.service.companion import Companion, open_companion
from app.storage.config import VendorConfig, load_config
from app.storage.paths import state_dir

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REMAINS, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 70


class Context:
    """What every command gets: parsed args, config, state dir, and the companion on demand."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home: Path = state_dir(args.home)
        self._config: VendorConfig | None = None
        self._companion: Companion | None = None

    @property
    def config(self) -> VendorConfig:
        """The vendor configuration (loaded on first use)."""
        if self._config is None:
            self._config = load_config(self.args.config)
            SECRETS.add(self._config.keymanager.api_key)
        return self._config

    @property
    def companion(self) -> Companion:
        """The service object (opened on first use)."""
        if self._companion is None:
            self._companion = open_companion(self.config, self.home, **companion_options(self))
        return self._companion

    def close(self) -> None:
        """Release what was opened."""
        if self._companion is not None:
            self._companion.close()


# Other modules (license, tray) add keyword arguments for Companion here, e.g. the keyring-backed
# license key source, so this module does not import them.
COMPANION_OPTIONS: list[Callable[[Context], dict[str, Any]]] = []


def companion_options(ctx: Context) -> dict[str, Any]:
    """Collect extra Companion arguments from the registered providers."""
    options: dict[str, Any] = {}
    for provider in COMPANION_OPTIONS:
        options.update(provider(ctx))
    return options


def out(text: str = "") -> None:
    """Print to stdout."""
    print(text)


def out_json(data: Any) -> None:
    """Print JSON to stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def when(ts: float | None) -> str:
    """A timestamp for people: local time, or "never"."""
    if not ts:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


# --- track -------------------------------------------------------------------------------


def parse_payload_item(item: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE becomes true/false, a whole number, a number, or stays text."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ValidationError("payload", f"{item!r} is not KEY=VALUE")
    if raw in ("true", "false"):
        return key, raw == "true"
    try:
        return key, int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        return key, raw
    return key, number if math.isfinite(number) else raw


def cmd_track(ctx: Context) -> int:
    args = ctx.args
    if args.value is not None:
        kind, value = "number", args.value
    elif args.xy is not None:
        kind, value = "xy", tuple(args.xy)
    else:
        kind, value = "text", args.text
    payload = dict(parse_payload_item(item) for item in args.payload or [])
    companion = ctx.companion
    result = companion.track(args.name, kind=kind, value=value, payload=payload,
                             session_id=args.session)
    if not result.stored:
        out(f"discarded {result.event.name}: you declined {result.category!r} "
            "(nothing was stored)")
        return EXIT_OK
    where = ", ".join(result.backends) or "no backend (none is enabled)"
    out(f"queued {result.event.name} ({result.category}) for {where} [id {result.event.id}]")
    if result.dropped:
        out(f"warning: the outbox was full; {result.dropped} oldest event(s) dropped")
    reason = companion.why_not_sending()
    if reason:
        out(f"not sent yet: {reason}")
    return EXIT_OK


# --- preview -----------------------------------------------------------------------------


def cmd_preview(ctx: Context) -> int:
    previews = ctx.companion.preview(reveal=ctx.args.reveal, limit=ctx.args.limit)
    if ctx.args.json:
        out_json(consent_view.preview_data(previews))
        return EXIT_OK
    if not previews:
        out("No backend is enabled in the vendor configuration: nothing would be sent.")
    for p in previews:
        state = "will send" if p.will_send else "will NOT send"
        out(f"=== {p.title}: {state} {len(p.requests)} request(s) now; {p.queued} queued ===")
        if p.problem:
            out(f"why not: {p.problem}")
        for category, count in sorted(p.held_back.items()):
            out(f"held back: {count} event(s) of {category!r} (not agreed to)")
        for request in p.requests:
            out()
            out(preview_fmt.render(request))
        if p.held_requests:
            out()
            out(f"--- {p.title}: will NOT be sent (not agreed to) ---")
        for request in p.held_requests:
            out()
            out(preview_fmt.render(request))
        meanings = consent_view.field_meanings([*p.requests, *p.held_requests])
        if meanings:
            out()
            out("What the fields mean:")
            for name, text in meanings:
                out(f"  {name}: {text}")
        out()
    if not ctx.args.reveal:
        out("(license_key and api_key are masked; --reveal shows them)")
    return EXIT_OK


# --- send --------------------------------------------------------------------------------


def cmd_send(ctx: Context) -> int:
    companion = ctx.companion
    reports = companion.send(force=True)
    for name, report in reports.items():
        line = (f"{name}: {report.requests} request(s), {report.delivered} delivered, "
                f"{report.flagged} flagged by the server, {report.rejected} rejected")
        if report.stopped:
            line += f"; {report.stopped}"
        out(line)
    counts = companion.outbox.counts()
    remaining = sum(counts.values())
    out(f"{remaining} event(s) remain queued" if remaining else "outbox empty")
    return EXIT_REMAINS if remaining else EXIT_OK


# --- history -----------------------------------------------------------------------------


def cmd_history(ctx: Context) -> int:
    entries = ctx.companion.history(ctx.args.limit)
    if ctx.args.json:
        out(consent_view.history_json(entries))
        return EXIT_OK
    limits = ctx.config.limits
    out(f"(kept for {limits.history_days} days, at most {limits.history_max_rows} entries; "
        "[history] in the vendor configuration)")
    if not entries:
        out("Nothing has been sent yet.")
    for e in entries:
        cats = ",".join(e.categories)
        status = f"HTTP {e.http_status}" if e.http_status else "no answer"
        sig = consent_view.signature_words(e)
        sig = f"; signature {sig}" if sig else ""
        out(f"{when(e.at)}  {e.backend:13} {e.event_count:4} event(s) [{cats}]  "
            f"{consent_view.outcome_words(e)}  {status}: {e.message}{sig}")
        if e.errors:
            out(f"    server errors: {json.dumps(e.errors, ensure_ascii=False)}")
    return EXIT_OK


# --- status ------------------------------------------------------------------------------


def cmd_status(ctx: Context) -> int:
    data = ctx.companion.status()
    for provider in STATUS_EXTRAS:
        data.update(provider(ctx))
    if ctx.args.json:
        out_json(data)
        return EXIT_OK
    out(f"{NAME} {__version__} for {data['product']}")
    out(f"config:    {data['config']}")
    out(f"state dir: {data['state_dir']}")
    out(f"sending:   {data['sending']}")
    consent = ", ".join(f"{k}={v['choice']}" for k, v in data["consent"].items())
    out(f"consent:   {consent} (version {data['consent_version']})")
    for name, b in data["backends"].items():
        if not b["enabled"]:
            out(f"{name}: disabled")
            continue
        out(f"{name}: {'configured' if b['configured'] else b['problem']}")
        out(f"  queued {b['queued']}, dropped {b['dropped']}, last success "
            f"{when(b['last_success'])}, last failure {when(b['last_failure'])}")
        if b["last_error"]:
            out(f"  last error: {b['last_error']}")
        if b["waiting_because"]:
            out(f"  {b['waiting_because']}")
    for key, value in data.items():
        if key.startswith("license") and isinstance(value, str):
            out(f"{key}: {value}")
    for warning in data["warnings"]:
        out(f"WARNING: {warning}")
    return EXIT_OK


STATUS_EXTRAS: list[Callable[[Context], dict[str, Any]]] = []


# --- consent -----------------------------------------------------------------------------


def cmd_consent(ctx: Context) -> int:
    companion = ctx.companion
    action = ctx.args.action
    cats = ctx.args.categories or None
    if action == "grant":
        ids = companion.grant(cats)
        out(f"granted: {', '.join(ids)}")
        if companion.consent.do_not_track:
            out("note: DO_NOT_TRACK is set, so nothing is sent while it is")
        return EXIT_OK
    if action == "revoke":
        ids, deleted = companion.revoke(cats)
        out(f"revoked: {', '.join(ids)}; {deleted} queued event(s) deleted")
        return EXIT_OK
    data = consent_view.consent_data(companion)
    if ctx.args.json:
        out_json(data)
        return EXIT_OK
    if data["do_not_track"]:
        out("DO_NOT_TRACK is set: everything is treated as declined.")
    out(f"consent version {data['version']}")
    for c in data["categories"]:
        out(f"{c['id']:14} {c['choice']:9} {c['title']}: {c['description']}")
        out(f"{'':14} {c['waiting']} waiting, {c['discarded_declined']} discarded (declined), "
            f"{c['dropped_undecided']} dropped (undecided, over {data['undecided_keep']} kept)")
    return EXIT_OK


# --- receiver ----------------------------------------------------------------------------


def cmd_receiver(ctx: Context) -> int:
    from app.receiver import run_receiver  # the offline receiver is not needed otherwise

    args = ctx.args
    try:
        return run_receiver(
            args.kind, args.host, args.port,
            public_key_out=Path(args.public_key_out) if args.public_key_out else None,
            record=Path(args.record) if args.record else None,
            quiet=args.quiet,
        )
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C is how a receiver is meant to stop


# --- parser ------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[[Context], int]] = {
    "track": cmd_track,
    "preview": cmd_preview,
    "send": cmd_send,
    "history": cmd_history,
    "status": cmd_status,
    "consent": cmd_consent,
    "receiver": cmd_receiver,
}
# Other modules register (add_parser(subparsers), {command: handler}) here.
EXTENSIONS: list[Callable[[Any], dict[str, Callable[[Context], int]]]] = []


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
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="level of the log file in the state directory")
    parser.add_argument("--self-test", action="store_true",
                        help="check Qt, keyring, config and state dir; print JSON; exit 0/1")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("track", help="enqueue one event")
    p.add_argument("name", help="event name, e.g. feature.export")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--value", type=float, metavar="N", help="a number")
    group.add_argument("--xy", type=float, nargs=2, metavar=("X", "Y"), help="a pair of numbers")
    group.add_argument("--text", metavar="S", help="a text")
    p.add_argument("--payload", action="append", metavar="KEY=VALUE",
                   help="extra dimension (TelemetryDeck only); repeatable")
    p.add_argument("--session", metavar="ID", help="session id (default: a new one)")

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
    p.add_argument("action", choices=["show", "grant", "revoke"], nargs="?", default="show")
    p.add_argument("categories", nargs="*", metavar="CATEGORY", help="default: all")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("receiver", help="run an offline test receiver for one backend")
    p.add_argument("kind", choices=["keymanager", "telemetrydeck"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="default: any free port")
    p.add_argument("--public-key-out", metavar="FILE",
                   help="keymanager: write the signing public key (PEM) here")
    p.add_argument("--record", metavar="FILE", help="append every request as a JSON line")
    p.add_argument("--quiet", action="store_true", help="do not print a line per request")

    for extension in EXTENSIONS:
        COMMANDS.update(extension(sub))
    return parser


def _load_extensions() -> None:
    # Imported for their registrations; each adds its commands to EXTENSIONS.
    import importlib

    for module in ("app.cli_license", "app.cli_tray"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--self-test" in raw:  # before the subcommands: it must work even if an extension is broken
        from app.selftest import run_self_test

        return run_self_test(raw)
    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or DEFAULT_COMMAND
    ctx = Context(args)
    if command not in ("receiver",):
        setup_logging(ctx.home, args.log_level)
    else:
        setup_logging(None, args.log_level, stderr_level="INFO")
    try:
        return COMMANDS[command](ctx)
    except CompanionError as exc:
        print(f"{APP_ID}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except sqlite3.Error as exc:
        # A read that failed (the writes already say so as StorageError): the environment,
        # not a bug, e.g. a disk that went away.
        print(f"{APP_ID}: error: the state database in {ctx.home} failed: {exc}", file=sys.stderr)
        return EXIT_REMAINS
    except BrokenPipeError:
        # `license-companion history | head`: the reader left; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        log.exception("internal error in %s", command)
        print(f"{APP_ID}: internal error ({type(exc).__name__}); this is a bug. "
              f"Details are in {ctx.home / 'logs' / 'companion.log'}", file=sys.stderr)
        return EXIT_BUG
    finally:
        ctx.close()


DEFAULT_COMMAND = "status"
