"""``status`` and ``consent``: what the companion is doing, and what the user agreed to."""

from __future__ import annotations

from app import NAME, __version__
from app.cli_context import EXIT_OK, Context, out, out_json, when
from app.model.errors import ValidationError
from app.model.text import printable
from app.service import consent_view, settings


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
    consent = ", ".join(f"{c.id}={c.choice} ({consent_view.rule_words(c.decided_by)})"
                        for c in status.consent)
    out(f"consent:   {consent} (version {status.consent_version})")
    out(f"policy:    {ctx.companion.consent.admin.describe()}")
    out("           (precedence: policy › DO_NOT_TRACK › your choice)")
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
    if action == "metered":
        return _metered(ctx)
    if action == "grant":
        ids = companion.grant(cats)  # PolicyLockedError (exit 2) names the policy's file
        out(f"granted: {', '.join(ids)}")
        skipped = sorted(set(companion.consent.admin.deny) & {c.id for c in
                                                               companion.consent.categories})
        if skipped and not cats:
            out(f"not granted: {', '.join(skipped)} (denied by policy, set by your "
                f"administrator in {companion.consent.admin.source})")
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
    if data["blocked"]:
        out(f"{data['blocked']}: everything is treated as declined.")
    elif data["do_not_track"]:
        out("DO_NOT_TRACK is set: everything is treated as declined.")
    out(f"consent version {data['version']}; {companion.consent.admin.describe()}")
    out("which rule decides: policy › DO_NOT_TRACK › your choice")
    for c in data["categories"]:
        out(f"{c['id']:14} {c['choice']:9} {printable(c['title'])}: "
            f"{printable(c['description'])}")
        rule = f"decided by {consent_view.rule_words(c['decided_by'])}"
        if c["reason"]:
            rule += f": {printable(c['reason'])}"
        if c["locked"]:
            rule += "; set by your administrator, you cannot allow it here"
        out(f"{'':14} {rule}")
        out(f"{'':14} {c['waiting']} waiting, {c['discarded_declined']} discarded (declined), "
            f"{c['dropped_undecided']} dropped (undecided, over {data['undecided_keep']} kept)")
    return EXIT_OK


def _metered(ctx: Context) -> int:
    """``consent metered [on|off]``: the user's "Send on metered connections" (off by default)."""
    state = ctx.companion.state
    words = ctx.args.categories
    if not words:
        allowed = settings.send_on_metered(state)
    elif len(words) == 1 and words[0] in ("on", "off"):
        allowed = settings.set_send_on_metered(state, words[0] == "on")
    else:
        raise ValidationError("metered", f"expected on or off, got {' '.join(words)!r}")
    if ctx.args.json:
        out_json({"send_on_metered": allowed})
    else:
        out(f"send on metered connections: {'on' if allowed else 'off'}")
    return EXIT_OK
