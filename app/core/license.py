"""Verify, activate and deactivate the user's license with KeyManager, without Qt.

The requests are built and their answers read by the KeyManager backend
(``app.backends.keymanager.KeyManagerLicense``), next to telemetry and by the same envelope
rules; this service decides what an answer means for the user. A vendor API key KeyManager
refuses (100-103, 150) leaves the license *unknown*, not invalid.

Why the result is cached in the state database with its time: the tray and ``status`` show the
last answer without the network, and offline the user sees "unknown" with the age of the last
real answer instead of a false "invalid". The key itself is never cached there.

Telemetry never waits for any of this: ``Companion`` only reads the key (``key()``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from app.model.errors import CompanionError
from app.model.wire import PreparedRequest, SignatureStatus, Verdict, mask_secret
from app.storage.config import VendorConfig
from app.storage.keyring.license_store import LicenseStore, normalise_key
from app.storage.state import StateStore
from app.support.i18n import _

if TYPE_CHECKING:  # imported where used: the tray and ``status`` need LicenseState, not HTTP
    from app.backends.keymanager import KeyManagerLicense
    from app.core.identity import Identity
    from app.delivery.http import HttpClient

log = logging.getLogger(__name__)

ANSWER_KEY = "license:answer"  # the last real answer about the license (never the key)
ATTEMPT_KEY = "license:attempt"  # the last attempt that got no usable answer
NO_KEY_SEEN = "license:no-key"  # the last check found no key stored (cleared by storing one)
KEY_SEEN = "license:key-seen"  # a key was seen stored (``app.core.key_presence``)
KEYMANAGER_STATE = "backend:keymanager"  # KeyManager's send state (``Sender.state_key``)



class LicenseState(StrEnum):
    """What is known about the license: the one vocabulary of the CLI, the tray and the windows.

    The values are what ``license status --json`` prints as ``state`` (and ``last_state``).
    A ``StrEnum``, so a value read back from the state database or compared with a plain string
    is the same thing.
    """

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # no usable answer now (offline, API key refused, bad signature...)
    NO_KEY = "no-key"  # no license key is stored


# Short names for the members, used throughout this module.
VALID, INVALID, UNKNOWN, NO_KEY = (LicenseState.VALID, LicenseState.INVALID,
                                   LicenseState.UNKNOWN, LicenseState.NO_KEY)


@dataclass(frozen=True)
class LicenseStatus:
    """What we know about the license on this machine.

    Attributes:
        state: a ``LicenseState`` (a plain string given here is converted, so a bad value fails
            at once, naming it).
        code: KeyManager's ``response.code`` of the answer this is based on.
        message: the server's own message for that answer ("" when there is none).
        checked_at: when that answer arrived (None: never).
        signature: ``SignatureStatus`` value of that answer.
        action: "verify", "activate" or "deactivate": what produced it.
        ok: the action did what was asked (verify: valid; activate: seat taken; deactivate:
            seat freed).
        problem: why there is no fresh answer (offline, API key refused, bad signature...).
        last_state: with state "unknown", what the last real answer said (a ``LicenseState``
            value, "" when none).
    """

    state: LicenseState
    code: int | None = None
    message: str = ""
    checked_at: float | None = None
    signature: str = SignatureStatus.NOT_CHECKED.value
    action: str = "verify"
    ok: bool = False
    problem: str = ""
    last_state: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", LicenseState(self.state))

    def age(self, now: float) -> float | None:
        """Seconds since the answer this is based on (None: never answered)."""
        return None if self.checked_at is None else max(0.0, now - self.checked_at)

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        """JSON-safe form (``--json``, the state database); ``age`` added when ``now`` given."""
        data = asdict(self)
        if now is not None:
            data["age_seconds"] = None if self.checked_at is None else round(self.age(now) or 0, 1)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LicenseStatus:
        """Rebuild from ``to_dict`` output, ignoring unknown keys (older/newer versions)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def describe(self, now: float) -> str:
        """One line for people: ``valid: License key is valid (checked 5 min ago)``."""
        age = self.age(now)
        when = (_("checked {age} ago").format(age=human_age(age)) if age is not None
                else _("never checked"))
        if self.state == NO_KEY:
            return "no license key stored (license-companion license set)"
        if self.state == UNKNOWN:  # "unknown:" is a marker; app.core.overall.license_words
            line = f"unknown: {self.problem or 'not checked yet'}"
            if self.last_state:
                line += "; " + _("last answer {age} ago: {state}").format(
                    age=human_age(age), state=self.last_state)
                if self.message:  # the server's own words
                    line += f" ({self.message})"
            return line
        text = f"{self.state}: {self.message}" if self.message else self.state
        return f"{text} ({when})"


@dataclass(frozen=True)
class SeatChange:
    """What replacing or removing the key did to the seat the previous key held here.

    Attributes:
        notice: one sentence for the user ("" when the previous key held no seat here).
        seat_kept: the seat could not be freed and stays taken (``notice`` says how to free it).
    """

    notice: str = ""
    seat_kept: bool = False


def human_age(seconds: float | None) -> str:
    """``42 s``, ``5 min``, ``3 h``, ``2 days``."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _unknown(
    last: LicenseStatus | None, action: str, problem: str, signature: str
) -> LicenseStatus:
    """No usable answer now: "unknown", carrying the last real answer (if any) and its time."""
    return LicenseStatus(
        state=UNKNOWN,
        code=last.code if last else None,
        message=last.message if last else "",
        checked_at=last.checked_at if last else None,
        signature=signature,
        action=action,
        problem=problem,
        last_state=last.state if last else "",
    )


class LicenseService:
    """The license key (in the keyring) and its status with KeyManager.

    Args:
        config: the vendor configuration (``[keymanager]`` url, api_key, public key).
        store: the keyring-backed key store.
        state: where the last answer is cached.
        identity: returns this user's identifiers (``activation_identifier`` is sent).
        client: the HTTP client (a real one against a loopback server in tests).
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        config: VendorConfig,
        store: LicenseStore,
        state: StateStore,
        identity: Callable[[], Identity],
        client: HttpClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.state = state
        self.identity = identity
        self.client = client
        self.clock = clock

    # -- the key --------------------------------------------------------------------------

    def key(self) -> str:
        """The stored key ("" when none); the Companion's license key source.

        Raises:
            KeyringUnavailableError: the keyring cannot be used.
        """
        return self.store.get()

    def set_key(self, raw: str) -> str:
        """Normalise and store a key; returns it masked. Forgets the old key's status.

        Raises:
            ValidationError: obviously not a key.
            KeyringUnavailableError: the keyring cannot be used.
        """
        key = self.store.set(raw)
        self._forget()
        self.state.set(KEY_SEEN, {"at": self.clock()})
        return mask_secret(key)

    def clear_key(self) -> bool:
        """Remove the key and its cached status; True when a key was stored."""
        removed = self.store.clear()
        self._forget()
        self.state.set(NO_KEY_SEEN, {"at": self.clock()})  # known now: no key is stored
        return removed

    def _forget(self) -> None:
        self.state.delete(ANSWER_KEY)
        self.state.delete(ATTEMPT_KEY)
        self.state.delete(NO_KEY_SEEN)
        self.state.delete(KEY_SEEN)
        # KeyManager telemetry waiting for a key looks again at once (``Sender.wait_time``).
        if self.state.get(KEYMANAGER_STATE, {}).get("waiting_key_at"):
            self.state.update(KEYMANAGER_STATE, {"waiting_key_at": None})

    # -- the seat policy ------------------------------------------------------------------

    def replace_key(self, raw: str) -> SeatChange:
        """Store a new key the way the License window's "Save and activate" promises.

        In order: refuse garbage (before anything changes), free the seat the previous key
        holds on this computer, store the new key, then take a seat with it. Activating at once
        tells the user straight away whether the server accepts the key; its answer is cached
        (``cached_status``), and a keyring failure while activating is logged, not raised,
        because the key itself was stored.

        Raises:
            ValidationError: obviously not a key (nothing was changed).
            KeyringUnavailableError: the keyring cannot be used.
        """
        new_key = normalise_key(raw)
        change = self._free_seat(new_key)
        self.set_key(new_key)
        try:
            self.activate()
        except CompanionError as exc:
            log.info("activate after storing a new key: %s", exc)
        return change

    def remove_key(self) -> SeatChange:
        """Free this computer's seat for the stored key (if it holds one), then remove the key.

        Raises:
            KeyringUnavailableError: the keyring cannot be used (nothing was changed).
        """
        change = self._free_seat(None)
        self.clear_key()
        return change

    def _free_seat(self, new_key: str | None) -> SeatChange:
        """Before the stored key is replaced or removed, free the seat it holds here.

        Without this the old key's seat stays taken on the server with no key left on this
        computer to free it. A seat is held when the last real answer said "valid" (also when
        the latest attempt got no answer); storing the same key again frees nothing.

        Raises:
            KeyringUnavailableError: the stored key cannot be read (nothing was changed).
        """
        old = self.key()
        if not old or old == new_key:
            return SeatChange()
        status = self.cached_status(check_key=False, key_known=True)
        if not (status.state == VALID or (status.state == UNKNOWN and status.last_state == VALID)):
            return SeatChange()
        answer = self.deactivate()
        masked = mask_secret(old)
        said = f"{answer.code} {answer.message}".strip()  # the server's words, as they came
        if answer.ok:
            return SeatChange(_("This computer's seat for the previous key ({key}) was freed "
                                "(the license server answered: {answer}).").format(
                key=masked, answer=said))
        why = (answer.problem.strip() if answer.problem else
               _("the license server answered: {answer}").format(answer=said))
        return SeatChange(_(
            "This computer's seat for the previous key ({key}) could not be freed ({why}), so "
            "it stays taken. To free it later, enter that key again and use \"Free this "
            "computer's seat\" while online, or release it on your account page at the "
            "vendor.").format(key=masked, why=why), seat_kept=True)

    # -- the server -----------------------------------------------------------------------

    def verify(self) -> LicenseStatus:
        """Ask KeyManager whether the key is valid for this machine's activation id."""
        return self._ask("verify")

    def activate(self) -> LicenseStatus:
        """Take a seat for this machine (``ok`` with 300/301; 302: the limit is reached)."""
        return self._ask("activate")

    def deactivate(self) -> LicenseStatus:
        """Free this machine's seat so the license can move to another computer."""
        return self._ask("deactivate")

    def problem(self) -> str:
        """Why the server cannot be asked at all ("" when it can)."""
        km = self.config.keymanager
        if not km.enabled:
            return "KeyManager is disabled in the vendor configuration"
        missing = km.missing()
        if missing:
            return f"KeyManager is not configured: [keymanager] {', '.join(missing)} empty"
        return ""

    def request(self, action: str, license_key: str) -> PreparedRequest:
        """The exact request for ``action`` (what is sent; the preview masks the secrets)."""
        return self._api().prepare(action, license_key, self.identity().activation_identifier)

    def _api(self) -> KeyManagerLicense:
        from app.backends.keymanager import KeyManagerLicense

        km = self.config.keymanager
        return KeyManagerLicense(km.url, km.api_key, km.public_key_pem)

    def _ask(self, action: str) -> LicenseStatus:
        key = self.store.get()  # KeyringUnavailableError propagates: the caller shows it
        if not key:
            if not self.state.get(NO_KEY_SEEN):
                self.state.set(NO_KEY_SEEN, {"at": self.clock()})  # until a key is stored
            return LicenseStatus(NO_KEY, action=action)
        problem = self.problem()
        if problem:
            return self._no_answer(action, problem)
        try:
            request = self.request(action, key)
        except CompanionError as exc:  # e.g. the identity needs the keyring
            return self._no_answer(action, str(exc))
        from app.delivery.http import TransportError

        try:
            response = self.client.send(request)
        except TransportError as exc:
            return self._no_answer(action, str(exc))
        answer = self._api().interpret(action, response)
        outcome = answer.outcome
        if outcome.signature is SignatureStatus.INVALID:
            return self._no_answer(action, "SECURITY: the answer's signature does not match the "
                                   "configured public key; it was ignored", outcome.signature)
        if outcome.verdict not in (Verdict.DELIVERED, Verdict.REJECTED) or outcome.code is None:
            if outcome.verdict is Verdict.BLOCKED:
                why = (f"KeyManager refused the vendor's API key ({outcome.message}); "
                       "the vendor must fix [keymanager] api_key")
            else:
                why = outcome.message
            return self._no_answer(action, why, outcome.signature)
        ok = outcome.verdict is Verdict.DELIVERED
        # After a deactivation this machine holds no seat: verify would answer 202.
        state = VALID if ok and action != "deactivate" else INVALID
        status = LicenseStatus(
            state=state,
            code=outcome.code,
            message=answer.message,
            checked_at=self.clock(),
            signature=outcome.signature.value,
            action=action,
            ok=ok,
        )
        self.state.set(ANSWER_KEY, status.to_dict())
        self.state.delete(ATTEMPT_KEY)
        log.info("license %s: %s %s", action, status.code, status.state)
        return status

    def _no_answer(
        self, action: str, problem: str, signature: SignatureStatus = SignatureStatus.NOT_CHECKED
    ) -> LicenseStatus:
        """No usable answer: unknown, carrying the last real answer and its time."""
        self.state.set(ATTEMPT_KEY, {"at": self.clock(), "action": action, "problem": problem,
                                     "signature": signature.value})
        log.info("license %s: no usable answer: %s", action, problem)
        return _unknown(self._last_answer(), action, problem, signature.value)

    def _last_answer(self) -> LicenseStatus | None:
        data = self.state.get(ANSWER_KEY)
        return LicenseStatus.from_dict(data) if isinstance(data, dict) else None

    def cached_status(self, *, check_key: bool = True, key_known: bool = False) -> LicenseStatus:
        """The status without the network: the last answer, or unknown after a failed attempt.

        Args:
            check_key: read the keyring first, so "no key" is reported as such (status calls it
                with True; a caller that already failed to read the keyring passes False).
            key_known: the caller has just read a key, so an earlier "no key" is stale.

        Raises:
            KeyringUnavailableError: ``check_key`` and the keyring cannot be used.
        """
        if check_key and not self.store.get():
            return LicenseStatus(NO_KEY)
        if not check_key and not key_known and self.state.get(NO_KEY_SEEN):
            return LicenseStatus(NO_KEY)  # the last check found no key (the tray's status)
        last = self._last_answer()
        attempt = self.state.get(ATTEMPT_KEY)
        if isinstance(attempt, dict) and (last is None or
                                          attempt.get("at", 0) >= (last.checked_at or 0)):
            return _unknown(
                last,
                action=str(attempt.get("action", "verify")),
                problem=str(attempt.get("problem", "")),
                signature=str(attempt.get("signature", SignatureStatus.NOT_CHECKED.value)),
            )
        if last is None:
            return LicenseStatus(UNKNOWN, problem="not checked with the server yet")
        return last

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()
