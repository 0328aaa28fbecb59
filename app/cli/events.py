"""``track``, ``preview``, ``send``, ``history`` and ``receiver``: an event's way out, on the CLI."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.context import EXIT_OK, EXIT_REMAINS, EXIT_USAGE, Context, out, out_json, when
from app.model.errors import ValidationError
from app.model.text import printable
from app.storage.drops import CONSENT_DENIED, DO_NOT_TRACK, NO_BACKEND, POLICY_DENIED, describe

if TYPE_CHECKING:
    from app.core.companion import Companion
    from app.core.track_result import TrackResult


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


def nudge_tray(ctx: Context) -> None:
    """Tell a running tray that events are waiting (best effort, at most ~50 ms, silent)."""
    from app.door.client import nudge
    from app.door.endpoint import endpoint_path

    nudge(socket_path=endpoint_path(ctx.config))


def cmd_track_jsonl(ctx: Context) -> int:
    """``track --jsonl FILE|-``: every line one event (the host protocol's ``track`` object).

    Good lines are committed even when others are refused; exit 2 when any line was refused
    (each named with its line number and field on stderr), else 0.
    """
    from app.door.companion_side import CompanionHost
    from app.door.ingest import ingest_jsonl

    args = ctx.args
    if args.name or args.value is not None or args.xy is not None or args.text is not None \
            or args.payload or args.session:
        raise ValidationError("jsonl", "give either --jsonl FILE or NAME with --value/--xy/"
                              "--text, not both (each line carries its own fields)")
    try:
        report = ingest_jsonl(args.jsonl, CompanionHost(ctx.companion))
    except OSError as exc:
        raise ValidationError("jsonl", f"cannot read {args.jsonl}: "
                              f"{exc.strerror or exc}") from None
    if report.stored:
        nudge_tray(ctx)
    if args.json:
        out_json(report.to_dict())
    else:
        not_kept = ", ".join(f"{n} {reason}" for reason, n in sorted(report.not_kept.items()))
        out(f"{report.accepted} event(s) taken ({report.stored} queued, "
            f"{report.accepted - report.stored} not kept{f': {not_kept}' if not_kept else ''}), "
            f"{report.rejected} line(s) refused")
        for error in report.errors:
            print(f"line {error.get('line')}: {printable(str(error.get('message')))}",
                  file=sys.stderr)
        if report.rejected > len(report.errors):
            print(f"... and {report.rejected - len(report.errors)} more", file=sys.stderr)
    return EXIT_USAGE if report.rejected else EXIT_OK


def cmd_track(ctx: Context) -> int:
    """``track NAME --value N | --xy X Y | --text S``: validate and enqueue one event."""
    args = ctx.args
    if getattr(args, "jsonl", None):
        return cmd_track_jsonl(ctx)
    if not args.name:
        raise ValidationError("name", "the event name is missing (track NAME --value N, or "
                              "track --jsonl FILE)")
    if args.value is None and args.xy is None and args.text is None:
        raise ValidationError("value", "one of --value N, --xy X Y or --text S is needed")
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
    if result.stored:
        nudge_tray(ctx)
    if args.json:
        out_json(result.answer())
        return EXIT_OK
    if not result.stored:
        out(f"discarded {result.event.name}: {_why_not_kept(companion, result)} "
            "(nothing was stored)")
        return EXIT_OK
    kept = [name for name in result.backends if name not in result.not_kept]
    out(f"queued {result.event.name} ({result.category}) for {', '.join(kept)} "
        f"[id {result.event.id}]")
    for name, reason in result.not_kept.items():
        out(f"not kept for {name}: {reason} ({describe(reason)})")
    if result.dropped:
        out(f"warning: the outbox was full; {result.dropped} oldest event(s) dropped")
    if result.held_dropped:
        out(f"note: {result.held_dropped} older event(s) of {result.category!r} dropped: until "
            "you decide, only the newest are kept (license-companion consent)")
    reason = companion.why_not_sending()
    if reason:
        out(f"not sent yet: {reason}")
    return EXIT_OK


def _why_not_kept(companion: Companion, result: TrackResult) -> str:
    """``track``'s words for an event kept for no backend, with the reason's name."""
    if result.reason in (CONSENT_DENIED, DO_NOT_TRACK, POLICY_DENIED):
        blocked = companion.consent.blocked_reason()
        rule = companion.consent.effective_decision(result.category)
        why = (blocked or (rule.reason if rule.decided_by.value == "policy" else "")
               or f"you declined {result.category!r}")
    elif result.reason == NO_BACKEND:
        why = "no backend is enabled in the vendor configuration"
    else:
        why = describe(result.reason)
    return f"{why} [{result.reason}]"


def cmd_preview(ctx: Context) -> int:
    """``preview``: the exact requests each backend would send now."""
    from app.core import consent_view, summary
    from app.core import preview as preview_fmt
    from app.support.i18n import _, ngettext, setup, vendor_text

    setup()  # the words in the user's language; --json keeps its English keys and codes
    companion = ctx.companion
    previews = companion.preview(reveal=ctx.args.reveal, limit=ctx.args.limit)
    summaries = summary.summaries(companion, previews)
    if ctx.args.json:
        out_json(consent_view.preview_data(previews, summaries))
        return EXIT_OK
    out(_("Which rule decided (policy › DO_NOT_TRACK › your choice):"))
    for line in consent_view.decided_lines(companion.consent):
        out(f"  {line}")
    out()
    if not previews:
        out(_("No backend is enabled in the vendor configuration: nothing would be sent."))
    for p in previews:
        title = vendor_text(p.title)
        state = (_("will send {count} request(s) now") if p.will_send
                 else _("will NOT send {count} request(s) now"))
        out("=== " + _("{title}: {state}; {queued} queued").format(
            title=title, state=state.format(count=len(p.requests)), queued=p.queued) + " ===")
        out(printable(summaries[p.backend]))
        if p.problem:
            out(_("why not: {problem}").format(problem=printable(_(p.problem))))
        for category, count in sorted(p.held_back.items()):
            out(ngettext("held back: {count} event of '{category}' ({reason})",
                         "held back: {count} events of '{category}' ({reason})", count).format(
                count=count, category=printable(category),
                reason=printable(consent_view.held_reason(companion.consent, category))))
        for request in p.requests:
            out()
            out(preview_fmt.render(request))
        if p.held_requests:
            out()
            out("--- " + _("{title}: will NOT be sent (not agreed to)").format(title=title)
                + " ---")
        for request in p.held_requests:
            out()
            out(preview_fmt.render(request))
        meanings = consent_view.field_meanings([*p.requests, *p.held_requests])
        if meanings:
            out()
            out(_("What the fields mean:"))
            for name, text in meanings:
                out(f"  {name}: {_(text)}")
        out()
    if not ctx.args.reveal:
        out(_("(license_key and api_key are masked; --reveal shows them)"))
    return EXIT_OK


def cmd_send(ctx: Context) -> int:
    """``send``: deliver what is queued and consented now; 1 when events remain."""
    from app.door.ingest import take_inbox

    companion = ctx.companion
    take_inbox(companion)  # what hosts left while no companion answered goes with this send
    reports = companion.send(force=True)
    for name, report in reports.items():
        line = (f"{name}: {report.requests} request(s), {report.delivered} delivered, "
                f"{report.flagged} flagged by the server, {report.rejected} rejected")
        if report.stopped:
            line += f"; {printable(report.stopped)}"
        out(line)
    counts = companion.outbox.counts()
    remaining = sum(counts.values())
    out(f"{remaining} event(s) remain queued" if remaining else "outbox empty")
    return EXIT_REMAINS if remaining else EXIT_OK


def cmd_history(ctx: Context) -> int:
    """``history``: what was sent, when, with what outcome."""
    from app.core import consent_view

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
        cats = printable(",".join(e.categories))
        status = f"HTTP {e.http_status}" if e.http_status else "no answer"
        sig = consent_view.signature_words(e)
        sig = f"; signature {sig}" if sig else ""
        dup = (f"  (possible duplicate: {e.possible_duplicates} event(s) sent before without "
               "an answer)" if e.possible_duplicates else "")
        names = printable(consent_view.event_names_text(e.event_names))
        names = f" ({names})" if names else ""
        out(f"{when(e.at)}  {e.backend:13} {e.event_count:4} event(s){names} [{cats}]  "
            f"{consent_view.outcome_words(e)}  {status}: {printable(e.message)}{sig}{dup}")
        if e.errors:
            label = "removed" if e.verdict == "dropped" else "server errors"
            out(f"    {label}: {printable(json.dumps(e.errors, ensure_ascii=False))}")
    return EXIT_OK


def cmd_receiver(ctx: Context) -> int:
    """``receiver KIND``: an offline test receiver, until Ctrl-C."""
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
