"""``status`` and ``consent``: what the companion is doing, and what the user agreed to."""

from __future__ import annotations

from app import NAME, __version__
from app.cli_context import EXIT_OK, Context, out, out_json, when
from app.model.text import printable
from app.service import consent_view


def cmd_status(ctx: Context) -> int:
    """``status``: backends, queue, consent, license and warnings (``--json``: see
    ``CompanionStatus.to_json`` for the keys)."""
    status = ctx.companion.status()
    if ctx.args.json:
        out_json(status.to_json())
        return EXIT_OK
    out(f"{NAME} {__version__} for {status.product}")
    out(f"config:    {status.config}")
    out(f"state dir: {status.state_dir}")
    out(f"sending:   {status.sending}")
    consent = ", ".join(f"{c.id}={c.choice}" for c in status.consent)
    out(f"consent:   {consent} (version {status.consent_version})")
    for b in status.backends:
        if not b.enabled:
            out(f"{b.name}: disabled")
            continue
        out(f"{b.name}: {'configured' if b.configured else printable(b.problem)}")
        unreadable = (f" ({b.unreadable} unreadable, kept aside unsent)" if b.unreadable
                      else "")
        out(f"  queued {b.queued}, dropped {b.dropped}{unreadable}, last success "
            f"{when(b.state.last_success)}, last failure {when(b.state.last_failure)}")
        if b.state.last_error:
            out(f"  last error: {printable(b.state.last_error)}")
        if b.waiting_because:
            out(f"  {printable(b.waiting_because)}")
    if status.license is not None:
        for key, value in status.license.to_json().items():
            out(f"{key}: {printable(value)}")
    for warning in status.warnings:
        out(f"WARNING: {printable(warning)}")
    return EXIT_OK


def cmd_consent(ctx: Context) -> int:
    """``consent [show|grant|revoke] [CATEGORY...]``."""
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
        out(f"{c['id']:14} {c['choice']:9} {printable(c['title'])}: "
            f"{printable(c['description'])}")
        out(f"{'':14} {c['waiting']} waiting, {c['discarded_declined']} discarded (declined), "
            f"{c['dropped_undecided']} dropped (undecided, over {data['undecided_keep']} kept)")
    return EXIT_OK
