"""``status`` and ``consent``: what the companion is doing, and what the user agreed to."""

from __future__ import annotations

from app import NAME, __version__
from app.cli.context import EXIT_OK, Context, out, out_json, when
from app.cli.events import nudge_tray
from app.core import consent_view, settings
from app.core.overall import license_words, overall, status_json
from app.model.errors import ValidationError
from app.model.text import printable
from app.storage.inbox import Inbox, inbox_dir


def cmd_status(ctx: Context) -> int:
    """``status``: backends, queue, consent, license and warnings (``--json``: see
    ``CompanionStatus.to_json`` for the keys)."""
    from app.support.i18n import _, ngettext, setup

    setup()  # the words in the user's language; --json keeps its English keys and codes
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
    out(_("{name} {version} for {product}").format(name=NAME, version=__version__,
                                                    product=status.product))
    out(_("config:    {path}").format(path=status.config))
    out(_("state dir: {path}").format(path=status.state_dir))
    state = overall(status)
    out(_("state:     {code} ({summary})").format(code=state.code, summary=state.summary))
    for reason in state.reasons:
        fix = _("; fix: {fix}").format(fix=_(reason.fix)) if reason.fix else ""
        out(f"  - {reason.title}: {printable(license_words(_(reason.detail)))}{fix}")
    out(_("sending:   {state}").format(
        state=_("allowed") if status.sending == "allowed" else _(status.sending)))
    if status.identifier_reset_at is not None:
        out(f"identifier: reset {when(status.identifier_reset_at)} (identity reset)")
    consent = ", ".join(
        f"{c.id}={choice_words(c.choice)} ({_(consent_view.rule_words(c.decided_by))})"
                        for c in status.consent)
    out(_("consent:   {choices} (version {version})").format(choices=consent,
                                                           version=status.consent_version))
    out(_("policy:    {policy}").format(
        policy=consent_view.policy_words(ctx.companion.consent.admin)))
    out("           " + _("(precedence: policy › DO_NOT_TRACK › your choice)"))
    for b in status.backends:
        if not b.enabled:
            out(_("{backend}: disabled").format(backend=b.name))
            continue
        out(f"{b.name}: {_('configured') if b.configured else printable(b.problem)}")
        unreadable = (" " + _("({count} unreadable, kept aside unsent)").format(
            count=b.unreadable) if b.unreadable else "")
        out("  " + _("queued {queued}, dropped {dropped}{unreadable}, last success {success}, "
                     "last failure {failure}").format(
            queued=b.queued, dropped=b.dropped, unreadable=unreadable,
            success=when(b.state.last_success), failure=when(b.state.last_failure)))
        if b.state.last_error:  # the server's own words, quoted, never translated
            out("  " + _("last error: {error}").format(error=printable(b.state.last_error)))
        if b.waiting_because:
            out(f"  {printable(_(b.waiting_because))}")
    if status.license is not None:
        for key, value in status.license.to_json().items():
            out(f"{key}: {printable(license_words(value))}")
    if rejected:
        out(ngettext("inbox:     {count} bad line from applications kept aside in {path}",
                     "inbox:     {count} bad lines from applications kept aside in {path}",
                     rejected).format(count=rejected, path=inbox_dir(ctx.home) / "rejected"))
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
        out(_("WARNING: {warning}").format(warning=printable(_(warning))))
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
    from app.support.i18n import _, setup, vendor_text

    setup()  # the words in the user's language; --json keeps its English keys and codes
    data = consent_view.consent_data(companion)
    data["summary"] = summary.summaries(companion, companion.preview())
    if ctx.args.json:
        out_json(data)
        return EXIT_OK
    if data["blocked"]:
        out(_("{reason}: everything is treated as declined.").format(reason=data["blocked"]))
    elif data["do_not_track"]:
        out(_("DO_NOT_TRACK is set: everything is treated as declined."))
    out(_("consent version {version}; {policy}").format(
        version=data["version"], policy=consent_view.policy_words(companion.consent.admin)))
    out(_("which rule decides: policy › DO_NOT_TRACK › your choice"))
    for c in data["categories"]:
        out(f"{c['id']:14} {choice_words(c['choice']):9} {printable(vendor_text(c['title']))}: "
            f"{printable(vendor_text(c['description']))}")
        rule = _("decided by {rule}").format(rule=_(consent_view.rule_words(c["decided_by"])))
        if c["reason"]:
            rule += f": {printable(c['reason'])}"
        if c["locked"]:
            rule += _("; set by your administrator, you cannot allow it here")
        out(f"{'':14} {rule}")
        out(f"{'':14} " + _("{waiting} waiting, {declined} discarded (declined), {dropped} "
                           "dropped (undecided, over {keep} kept)").format(
            waiting=c["waiting"], declined=c["discarded_declined"],
            dropped=c["dropped_undecided"], keep=data["undecided_keep"]))
    for backend, text in data["summary"].items():
        out(f"{backend}: {printable(text)}")
    return EXIT_OK


def choice_words(choice: str) -> str:
    """A category's choice (``granted``, ``denied``, ``undecided``) in the user's language."""
    from app.support.i18n import _

    return {"granted": _("granted"), "denied": _("denied"),
            "undecided": _("undecided")}.get(choice, choice)


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
