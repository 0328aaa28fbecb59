"""The product without Qt: track, preview, send, status, consent, history.

The CLI and the tray's worker both drive this one object; it is the only place that wires the
vendor config, the state database, the backends and the senders together.

Why the backends, the senders and the license service are built on first use: ``track`` only
validates an event and writes it to the outbox, and a command line ``track`` is a process of its
own. Importing the HTTP stack, the signature code and the keyring for it would cost more than the
write itself; ``send``, ``preview`` and ``status`` build them when they first need them.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.consent import ConsentPolicy, enforce_policy
from app.core.intake import check_event, store_checked
from app.core.track_result import TrackResult
from app.delivery.lazy_http import LazyHttpClient
from app.delivery.parallel import run_each
from app.model.consent import NO_POLICY, AdminPolicy, Choice
from app.model.errors import (
    NO_KEY_REASON,
    NO_KEY_SKIP_REASON,
    CompanionError,
    NoLicenseKeyError,
    ValidationError,
)
from app.model.ids import uuid4_text
from app.storage import drops, identity_reset
from app.storage.config import VendorConfig
from app.storage.db import Database, EnvironmentProblem
from app.storage.event_ids import EventIds
from app.storage.history import History, HistoryEntry
from app.storage.outbox import Outbox
from app.storage.state import StateStore

if TYPE_CHECKING:  # imported where used: ``track`` needs none of them
    from app.backends.base import Backend
    from app.core.companion_types import BackendPreview, RoundReport
    from app.core.identity import Identity
    from app.core.license import LicenseService
    from app.core.status import CompanionStatus, LicenseSummary
    from app.delivery.sender import Sender
    from app.model.wire import PreparedRequest, SendContext

log = logging.getLogger(__name__)

DB_NAME = "companion.db"
PAUSE_KEY = "tray:paused"
PAUSED_REASON = "paused in the tray (choose Resume sending in its menu)"
# Every backend ``status`` lists, enabled or not, with its name for people.
BACKEND_TITLES = {"keymanager": "KeyManager", "telemetrydeck": "TelemetryDeck"}


def enabled_backends(config: VendorConfig) -> tuple[str, ...]:
    """The names of the backends the vendor config enables, in sending order."""
    return tuple(name for name in BACKEND_TITLES if getattr(config, name).enabled)


def _derive(product_id: str) -> Callable[[], Identity]:
    """Derive this user's identifiers when first asked (reading the machine id costs a little)."""

    def identity() -> Identity:
        from app.core.identity import derive_identity

        return derive_identity(product_id)

    return identity


def _backends(config: VendorConfig) -> dict[str, tuple[Backend, list[str]]]:
    """Every enabled backend with the settings it still misses (empty = configured)."""
    from app.backends.keymanager import KeyManagerBackend
    from app.backends.telemetrydeck import TelemetryDeckBackend

    result: dict[str, tuple[Backend, list[str]]] = {}
    km = config.keymanager
    if km.enabled:
        result["keymanager"] = (
            KeyManagerBackend(km.url, config.product.id, config.product.version,
                              km.public_key_pem),
            km.missing(),
        )
    td = config.telemetrydeck
    if td.enabled:
        result["telemetrydeck"] = (
            TelemetryDeckBackend(td.url, td.app_id, td.salt, td.test_mode),
            td.missing(),
        )
    return result


class Companion:
    """Everything the product does, for one vendor config and one state directory.

    Built by ``app.core.wiring.build_companion``, which makes the state database and the license
    service on it first, so the companion is handed both whole (they share one database and
    the notices recorded when opening it).

    Args:
        config: the validated vendor configuration.
        home: the state directory (``db`` lives in it).
        db: the state database (not necessarily open yet: it opens on first use).
        license: the license service: its ``key`` is the license key sent to KeyManager, and
            its last answer is part of ``status``. None: no license key at all (the key is
            sent empty; TelemetryDeck-only products).
        license_factory: builds the license service on first use instead (``app.core.wiring``
            passes this, so a process that only tracks never opens the keyring).
        identity: returns this user's identifiers (derived from the product id by default).
        environ: environment (``DO_NOT_TRACK``).
        clock: seconds since the epoch.
        session_id: this app session's id (a new UUID by default).
        admin: the administrator's policy in force (``app.core.wiring`` reads the system's).
    """

    def __init__(
        self,
        config: VendorConfig,
        home: Path,
        db: Database,
        *,
        license: LicenseService | None = None,
        license_factory: Callable[[], LicenseService | None] | None = None,
        identity: Callable[[], Identity] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        session_id: str | None = None,
        admin: AdminPolicy = NO_POLICY,
    ) -> None:
        self.config = config
        self.home = home
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self.session_id = session_id or uuid4_text()
        self._session_salt: str | None = None  # the reset generation ``session_id`` belongs to
        self.db = db
        self.state = StateStore(self.db)
        self.outbox = Outbox(self.db, cap={name: config.limits.cap_of(name)
                                           for name in BACKEND_TITLES}, clock=clock)
        self.event_ids = EventIds()  # the ids hosts chose, each stored at most once
        self.history_store = History(
            self.db, config.limits.history_days, config.limits.history_max_rows, clock
        )
        self.consent = ConsentPolicy(config.consent, self.state, self.environ, clock, admin=admin)
        self._identity_source = identity or _derive(config.product.id)
        self._identity: Identity | None = None
        self._license = license
        self._license_factory = None if license is not None else license_factory
        self._license_lock = threading.Lock()
        self.backend_names = enabled_backends(config)

    @property
    def license(self) -> LicenseService | None:
        """The license service (built on first use when the wiring gave a factory)."""
        with self._license_lock:  # the tray's worker and its host door may ask at once
            if self._license_factory is not None:
                factory, self._license_factory = self._license_factory, None
                self._license = factory()
        return self._license

    @functools.cached_property
    def backends(self) -> dict[str, tuple[Backend, list[str]]]:
        """Every enabled backend and the settings it still misses (built on first use)."""
        return _backends(self.config)

    @functools.cached_property
    def senders(self) -> dict[str, Sender]:
        """One sender per enabled backend, each with its own kept-alive HTTP client."""
        from app.delivery.send_state import setup_fingerprint
        from app.delivery.sender import Sender

        senders: dict[str, Sender] = {}
        for name, (backend, _missing) in self.backends.items():
            timeout = getattr(self.config, name).timeout
            senders[name] = Sender(
                backend, self.outbox, self.state, self.history_store,
                LazyHttpClient(timeout),  # type: ignore[arg-type]
                functools.partial(self.send_context, with_license=backend.needs_license),
                clock=self.clock, setup=setup_fingerprint(name, getattr(self.config, name),
                                                           self.config.product),
            )
        return senders

    # identity and secrets ---------------------------------------------------------------

    def identity(self) -> Identity:
        """This user's identifiers (derived once per process), of the reset generation stored
        now: a reset made by another process counts from its next call."""
        from app.core.identity import reset_identity

        if self._identity is None:
            self._identity = self._identity_source()
        return reset_identity(self._identity, identity_reset.salt(self.db))

    def _current_session(self) -> str:
        """This app session's id; a new one once the identifier was reset (in any process),
        so no event after a reset shares its session with the events sent before it."""
        salt = identity_reset.salt(self.db)
        if salt != self._session_salt:
            if self._session_salt is not None:
                self.session_id = uuid4_text()
            self._session_salt = salt
        return self.session_id

    def _license_key(self) -> str:
        return self.license.key() if self.license is not None else ""

    def send_context(self, with_license: bool = True) -> SendContext:
        """Identity and secrets, attached at send time and never stored with the events.

        Args:
            with_license: read the license key (KeyManager needs it; TelemetryDeck does not, so
                a locked keyring never holds TelemetryDeck back).

        Raises:
            NoLicenseKeyError: ``with_license`` and no key is stored: KeyManager would take an
                empty key for a pirated copy, so nothing is sent to it until there is one.
            CompanionError: the keyring cannot be read (the key is not guessed or sent empty).
        """
        from app.model.wire import SendContext

        ident = self.identity()
        key = self._license_key() if with_license else ""
        if with_license and not key.strip():
            raise NoLicenseKeyError()
        return SendContext(
            user_identifier=ident.user_identifier,
            activation_identifier=ident.activation_identifier,
            license_key=key,
            api_key=self.config.keymanager.api_key,
        )

    # the door ---------------------------------------------------------------------------

    def track(
        self,
        name: object,
        *,
        kind: str,
        value: object,
        payload: object = None,
        timestamp: float | None = None,
        session_id: str | None = None,
    ) -> TrackResult:
        """Validate an event and put it on disk for every enabled backend before returning.

        Raises:
            ValidationError: naming the field; nothing was stored.
        """
        result = self.track_many([dict(name=name, kind=kind, value=value, payload=payload,
                                       timestamp=timestamp, session_id=session_id)])[0]
        if isinstance(result, ValidationError):
            raise result
        return result

    def track_many(self, events: Iterable[Mapping[str, Any]]
                   ) -> list[TrackResult | ValidationError]:
        """``track`` for several events (``track``'s keyword arguments each) in one transaction.

        Each event is validated alone: a refused one comes back as its ``ValidationError`` and
        leaves no trace. See ``app.core.intake.store_checked`` for the rest.

        Raises:
            StorageError: nothing of the group was stored.
        """
        events = list(events)
        session = self._current_session()
        checked = [check_event(args, self.consent, self.clock, session) for args in events]
        host_ids = {str(args["event_id"]) for args in events if args.get("event_id")}
        return store_checked(self.db, self.consent, self.outbox, self.backend_names, checked,
                             self.history_store, host_ids, self.event_ids, self._skipped())

    def _skipped(self) -> dict[str, str]:
        """Backends not to keep new events for now: KeyManager without a license key when the
        vendor configuration says ``without_key = "skip"``."""
        if self.config.keymanager.without_key != "skip" or "keymanager" not in self.backend_names:
            return {}
        from app.core.key_presence import key_missing

        if key_missing(self.state, self.license, self.clock()):
            return {"keymanager": drops.NO_LICENSE_KEY}
        return {}

    # consent ----------------------------------------------------------------------------

    def grant(self, categories: list[str] | None = None) -> list[str]:
        """The user agrees to sending these categories (None or empty: all)."""
        return self.consent.set(Choice.GRANTED, categories)

    def revoke(self, categories: list[str] | None = None) -> tuple[list[str], int]:
        """The user says no: store it and delete what is queued of those categories at once."""
        ids = self.consent.set(Choice.DENIED, categories)
        return ids, self._purger(drops.CONSENT_REVOKED).discard(ids)

    def _purger(self, reason: str) -> drops.Purger:
        return drops.Purger(self.db, self.outbox, self.history_store, reason)

    def dropped_by_reason(self) -> dict[str, dict[str, int]]:
        """Per backend: queued events removed unsent, per reason (``app.storage.drops``)."""
        return drops.dropped_by_reason(self.db.connection())

    # sending ----------------------------------------------------------------------------

    def enforce_policy(self) -> int:
        """Delete what is queued that the administrator's policy forbids; how many were.

        Each deletion is counted and in the history (``policy_denied``). Called at a send and a
        send round, and when the tray starts; never by a read such as ``status``. On a
        read-only or full disk nothing can be deleted now; nothing is sent of it either
        (the consent gate reads the same policy), so it waits for a writable disk.
        """
        if self.db.read_only:
            return 0
        try:
            return enforce_policy(self.consent, self._purger(drops.POLICY_DENIED))
        except EnvironmentProblem as exc:
            log.warning("the policy's deletions wait for a writable disk: %s", exc)
            return 0

    def backend_problem(self, name: str) -> str:
        """Why a backend cannot send at all ("" when it can)."""
        missing = getattr(self.config, name).missing()
        if missing:
            return f"not configured: [{name}] {', '.join(missing)} empty in {self.config.source}"
        return ""

    def why_not_sending(self) -> str:
        """Why nothing will be sent now, in words ("" when something may be sent)."""
        blocked = self.consent.blocked_reason()  # policy, then DO_NOT_TRACK
        if blocked:
            return blocked
        if not self.consent.granted():
            return "you have not agreed to sending any data (license-companion consent grant)"
        if not self.backend_names:
            return "no backend is enabled in the vendor configuration"
        if all(self.backend_problem(name) for name in self.backend_names):
            return "no backend is configured"
        return ""

    def send(self, force: bool = False, backends: list[str] | None = None) -> dict[str, RoundReport]:
        """Deliver what is queued and consented, backend by backend.

        Args:
            force: the user's "try now": skips our backoff timer (never a server's Retry-After)
                and retries a backend stopped by a configuration problem once.
            backends: only these backends (default: all enabled).
        """
        from app.core.companion_types import RoundReport

        self.enforce_policy()
        granted = self.consent.granted()
        reports: dict[str, RoundReport] = {}
        jobs: dict[str, Callable[[], RoundReport]] = {}
        for name, sender in self.senders.items():
            if backends is not None and name not in backends:
                continue
            report = RoundReport(name)
            problem = self.backend_problem(name) or self.why_not_sending()
            if problem:
                report.stopped = problem
            else:
                jobs[name] = functools.partial(sender.drain, granted, force=force)
            reports[name] = report
        # Side by side: a stalled backend never delays another.
        reports.update(run_each(jobs, on_thread_exit=self.db.close))
        return reports

    def send_round(self, force: bool = False, backends: Iterable[str] | None = None
                   ) -> dict[str, RoundReport]:
        """One batch per backend if its backoff allows (the tray's timer calls this).

        Args:
            force: the user's "Send now": past our backoff and a configuration stop, never
                past a server's Retry-After.
            backends: only these (default: all); the tray leaves out those the network state
                says not to try, so their backoff does not grow.
        """
        self.enforce_policy()
        if self.why_not_sending():
            return {}
        granted = self.consent.granted()
        return run_each({
            name: functools.partial(sender.send_round, granted, force=force)
            for name, sender in self.senders.items()
            if not self.backend_problem(name) and (backends is None or name in backends)
        }, on_thread_exit=self.db.close)

    # what the user can see --------------------------------------------------------------

    def preview(
        self, reveal: bool = False, limit: int = 20, granted: Iterable[str] | None = None
    ) -> list[BackendPreview]:
        """The exact requests each backend would send now, built by its own ``prepare``.

        The events are chosen by the sender's own ``next_batches`` (the same rounds, the same
        batch size, also after a 413), and the secrets are hidden by ``PreparedRequest.masked``,
        the masking the history keeps: everything else is byte for byte what is sent.

        Args:
            reveal: show license_key and api_key in clear.
            limit: at most this many requests per backend (and as many held back).
            granted: categories to treat as granted (the consent window's switches before the
                user saves them); default: the stored decisions.
        """
        from app.core.companion_types import BackendPreview
        from app.delivery.batches import requests_for

        allowed = set(self.consent.granted() if granted is None
                      else self.consent.allowed(granted))
        counts = self.outbox.counts()
        keyring_problem = ""
        try:
            ctx = self.send_context()
        except CompanionError as exc:
            # Show what would be sent without the key; KeyManager will not send until it is read.
            keyring_problem = str(exc)
            ctx = self.send_context(with_license=False)

        def shown(requests: list[PreparedRequest]) -> list[PreparedRequest]:
            return requests if reveal else [r.masked(ctx.secrets) for r in requests]

        previews = []
        for name, (backend, _missing) in self.backends.items():
            sender = self.senders[name]
            problem = self.backend_problem(name)
            if not problem and keyring_problem and backend.needs_license:
                problem = keyring_problem
            if not problem and not allowed:
                problem = self.why_not_sending() or "you have not agreed to sending any data"
            # What the next rounds send (oldest allowed first), and separately the oldest of
            # what is held back, so neither hides the other.
            sendable = sender.next_batches(allowed, rounds=limit)
            others = sender.next_batches(None, exclude=allowed, rounds=limit)
            requests = shown(requests_for(backend, sendable, ctx, limit))
            previews.append(
                BackendPreview(
                    backend=name,
                    title=backend.title,
                    problem=problem,
                    requests=requests,
                    will_send=not problem and bool(requests),
                    queued=counts.get(name, 0),
                    held_back=self.outbox.counts_by_category(backend=name, exclude=allowed),
                    held_requests=shown(requests_for(backend, others, ctx, limit)),
                )
            )
        return previews

    def history(self, limit: int | None = None) -> list[HistoryEntry]:
        """What was sent, newest first, each entry with the request as it was sent (masked)."""
        return self.history_store.entries(limit)

    def status(self, *, read_keyring: bool = True) -> CompanionStatus:
        """Everything ``status`` shows, with its problems built once (``status.py``).

        Args:
            read_keyring: read the license key for the ``license_keyring``/``license_key``
                lines. The tray passes False: it asks for its state after every round and
                probes the keyring on its own schedule, so a hanging keyring never stalls it.
        """
        from app.core.status import (
            BackendState,
            BackendStatus,
            CategoryStatus,
            CompanionStatus,
            backend_problems,
            collect_problems,
            disabled_backend,
        )

        paused = self.paused
        counts = self.outbox.counts()
        dropped = self.dropped_by_reason()
        unreadable = self.outbox.unreadable()
        license = self._license_summary(read_keyring) if self.license is not None else None
        no_key = license is None or license.status.state == "no-key"
        backends: list[BackendStatus] = []
        for name, sender in self.senders.items():
            state = BackendState.from_dict(sender.info())
            wait, why = sender.wait_time()
            if sender.backend.needs_license and no_key:
                wait, why = float("inf"), NO_KEY_REASON  # nothing goes to it without a key
            if why == NO_KEY_REASON and self.config.keymanager.without_key == "skip":
                why = NO_KEY_SKIP_REASON
            problem = self.backend_problem(name)
            title = sender.backend.title
            backends.append(BackendStatus(
                name=name, title=title, enabled=True, problem=problem, url=sender.backend.url,
                queued=counts.get(name, 0), dropped=sum(dropped.get(name, {}).values()),
                dropped_by_reason=dropped.get(name, {}),
                unreadable=unreadable.get(name, 0), state=state,
                next_attempt_in=None if wait in (0, float("inf")) else round(wait, 1),
                waiting_because=why, problems=backend_problems(name, title, problem, state),
            ))
        for name, title in BACKEND_TITLES.items():
            if name not in self.senders:
                backends.append(disabled_backend(name, title))
        problems, warnings = collect_problems(tuple(self.db.notices), tuple(backends), license)
        from app.core import tray_panel

        if tray_panel.waiting_for_panel(self.state):
            warnings = (*warnings, tray_panel.NO_PANEL)
        return CompanionStatus(
            product=self.config.product.name,
            config=str(self.config.source),
            state_dir=str(self.home),
            consent_version=self.config.consent.version,
            do_not_track=self.consent.do_not_track,
            consent=tuple(CategoryStatus(s.category.id, s.effective.value,
                                         s.decision.choice.value, s.reason,
                                         s.decided_by.value, s.locked)
                          for s in self.consent.states()),
            sending=self.why_not_sending() or (PAUSED_REASON if paused else "allowed"),
            backends=tuple(backends),
            license=license,
            consent_needed=not self.consent.ever_decided() and not self.consent.blocked_reason(),
            problems=problems,
            warnings=(self.consent.admin.error, *warnings) if self.consent.admin.error
            else warnings,
            policy=self.consent.admin.to_dict(),
            paused=paused,
            waiting_consent=self._waiting_consent(),
            identifier_reset_at=getattr(identity_reset.current(self.db), "at", None),
        )

    # the tray's pause, stored so that ``status`` in another process knows it ---------------

    @property
    def paused(self) -> bool:
        """The user paused the tray's sending (``send`` and "Send now" still send)."""
        stored = self.state.get(PAUSE_KEY)
        return bool(isinstance(stored, dict) and stored.get("paused"))

    def set_paused(self, paused: bool) -> None:
        """Store the tray's pause (the tray clears it when it starts and when it quits)."""
        if paused != self.paused and not self.db.read_only:
            self.state.set(PAUSE_KEY, {"paused": paused, "at": self.clock()})

    def _waiting_consent(self) -> int:
        """Queued events held for a category the user has not decided (most of any backend)."""
        states = self.consent.states()
        undecided = [s.category.id for s in states if s.decided_by.value == "undecided"]
        if not undecided:
            return 0
        exclude = [s.category.id for s in states if s.category.id not in undecided]
        return max((sum(self.outbox.counts_by_category(backend=name, exclude=exclude).values())
                    for name in self.backend_names), default=0)

    def _license_summary(self, read_keyring: bool) -> LicenseSummary:
        """The license lines; a broken keyring is reported, never fatal."""
        from app.core.license import NO_KEY, LicenseStatus
        from app.core.status import LicenseSummary

        service = self.license
        assert service is not None
        now = service.clock()
        if not read_keyring:
            status = service.cached_status(check_key=False)
            return LicenseSummary(status, status.describe(now))
        keyring = "unavailable"
        try:
            keyring = service.store.backend_name()
            key = service.key()
        except CompanionError as exc:
            # One failure is enough: a hanging keyring must not cost a second timeout.
            status = service.cached_status(check_key=False)
            return LicenseSummary(status, status.describe(now), keyring, f"unknown: {exc}")
        from app.model.wire import mask_secret

        key_line = (f"set ({mask_secret(key)})" if key
                    else "not set (license-companion license set)")
        status = (service.cached_status(check_key=False, key_known=True) if key
                  else LicenseStatus(NO_KEY))
        return LicenseSummary(status, status.describe(now), keyring, key_line)

    def close(self) -> None:
        """Close network sessions and this thread's database connection (builds nothing)."""
        for sender in self.__dict__.get("senders", {}).values():
            sender.client.close()
        if self._license is not None:
            self._license.close()
        self.db.close()
