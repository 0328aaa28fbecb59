"""``status`` and ``consent``: what the companion is doing, and what the user agreed to."""

from __future__ import annotations

from app import NAME, __version__
from app.cli.context import EXIT_OK, Context, out, out_json, when
from app.cli.events import nudge_tray
from app.core import consent_view, settings
from app.core.overall import overall, status_json
from app.model.errors import ValidationError
from app.model.text import printable
from app.storage.inbox import Inbox, inbox_dir


def cmd_status(ctx: Context) -> int:
    """``status``: backends, queue, consent, license and warnings (``--json``: see
    ``CompanionStatus.to_json`` for the keys)."""
    status = ctx.companion.status()
    inbox = Inbox(inbox_dir(ctx.home))
    rejected = inbox.rejected_count()
    # What the inbox kept aside (bad lines), removed to stay within the cap of rejected/, and
    # never read (another user's files, symlinks: not this user's events).
    inbox_info = {"rejected": rejected, "rejected_removed": inbox.removed(), **inbox.left_alone()}
    if ctx.args.json:
        # Items kept aside per entry path, so one bad item never blocks the others: inbox lines
        # refused (in inbox/rejected/) and stored rows that no longer read back (the socket
        # and ``track --jsonl`` refuse in their answer, so nothing of theirs is kept aside).
        quarantined = {"inbox": rejected, "outbox": sum(b.unreadable for b in status.backends)}
        out_json({**status_json(status), "inbox_rejected": rejected, "quarantined": quarantined,
                  "inbox": inbox_info})
        return EXIT_OK
    out(f"{NAME} {__version__} for {status.product}")
    out(f"config:    {status.config}")
    out(f"state dir: {status.state_dir}")
    state = overall(status)
    out(f"state:     {state.code} ({state.summary})")
    for reason in state.reasons:
        fix = f"; fix: {reason.fix}" if reason.fix else ""
        out(f"  - {reason.title}: {printable(reason.detail)}{fix}")
    out(f"sending:   {status.sending}")
    if status.identifier_reset_at is not None:
        out(f"identifier: reset {when(status.identifier_reset_at)} (identity reset)")
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
    if rejected:
        out(f"inbox:     {rejected} bad line(s) from applications kept aside in "
            f"{inbox_dir(ctx.home) / 'rejected'}")
    if inbox_info["rejected_removed"]:
        out(f"inbox:     {inbox_info['rejected_removed']} file(s) of bad lines removed, oldest "
            "first, to keep the rejected folder within its limit")
    if inbox_info["foreign_owner"]:
        out(f"inbox:     {inbox_info['foreign_owner']} file(s) owned by another user left unread "
            f"in {inbox_dir(ctx.home)}: only this user's files are taken; remove them")
    if inbox_info["not_regular"]:
        out(f"inbox:     {inbox_info['not_regular']} symlink(s) or other non-file(s) left unread "
            f"in {inbox_dir(ctx.home)}: only regular files are taken; remove them")
    for warning in status.warnings:
        out(f"WARNING: {printable(warning)}")
    return EXIT_OK


def cmd_host_info(ctx: Context) -> int:
    """``host-info [--json]``: where a host (the vendor's application) reaches the companion:
    the socket, the protocol version, whether a companion answers there, and the inbox."""
    from app.door.endpoint import host_info

    info = host_info(ctx.config, ctx.home)
    if ctx.args.json:
        out_json(info)
        return EXIT_OK
    out(f"address:   {printable(info['address'])} ({info['transport']})")
    if info.get("problem"):
        out(f"note:      {info['problem']}")
    out(f"product:   {printable(info['product'])} (in paths: {info['product_slug']})")
    out(f"protocol:  {info['protocol']}")
    out(f"running:   {'yes' if info['running'] else 'no (events go to the inbox)'}")
    out(f"inbox:     {printable(info['inbox'])}")
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
        nudge_tray(ctx)  # a running tray tells watching applications
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
        nudge_tray(ctx)
        out(f"revoked: {', '.join(ids)}; {deleted} queued event(s) deleted")
        return EXIT_OK
    from app.core import summary
    from app.support import i18n

    data = consent_view.consent_data(companion)
    i18n.setup()  # the summaries in the user's language; the rest stays English
    data["summary"] = summary.summaries(companion, companion.preview())
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
    for backend, text in data["summary"].items():
        out(f"{backend}: {printable(text)}")
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
