"""The host's ``license`` answer: the cached status and an offline grace that cannot be stretched.

A host asks "may I run?" many times a day, mostly without the network. The answer is the
license service's cached status (the same words as ``license status --json``) plus ``offline``:
whether a license last confirmed valid still counts, and until when (``[license]
offline_grace_days`` after the server's answer).

Why the signed time: KeyManager signs its answer including a ``timestamp``. Without that, a
captured "valid" answer replayed by a fake local server, or an answer fetched once and the
clock then set back, would restart the grace forever. So, with a public key configured:
- the grace starts at the *signed* time of the last valid answer, and only when that time was
  within ``SKEW`` seconds of this computer's clock when the answer arrived (else "not fresh");
- a clock earlier than that signed time (beyond ``SKEW``) ends the grace, and it stays ended
  until a new fresh answer arrives (set back and forward again does not revive it).
Without a public key nothing is signed: the grace counts from the local arrival time and the
answer says ``signed: false`` (anyone able to answer for the server can also fake that).

``SignedTimeRecorder`` wraps the license service's HTTP client to note each answer's signed
time in the state database, next to (never inside) the service's own cached answer.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Callable
from typing import Any

from app.backends.keymanager import read_envelope, response_code
from app.core.license import NO_KEY, VALID, LicenseService, LicenseState, LicenseStatus
from app.model.errors import CompanionError, KeyringUnavailableError
from app.model.wire import HttpResponse, PreparedRequest, SignatureStatus
from app.storage.state import StateStore

SKEW = 600.0  # seconds a signed time may differ from the local clock and still be fresh
MATCH = 5.0  # seconds between our record of an answer and the service's checked_at
RECORDS_KEY = "host:license-signed-times"
ENDED_KEY = "host:license-grace-ended"
# The latest local time seen since the answer a grace counts from: a clock moved forward past
# the grace's end and back again does not bring the grace back.
SEEN_KEY = "host:license-grace-latest-seen"
SEEN_STEP = 60.0  # seconds the clock must pass the stored time before it is written again
KEEP = 8
LICENSE_BACKEND = "keymanager-license"


class SignedTimeRecorder:
    """An HTTP client that records the signed ``timestamp`` of every license answer.

    Args:
        client: the real client (``send``, ``close``).
        state: where the records go.
        public_key_pem: the vendor's key; without it times are recorded as unsigned.
        clock: the license service's clock (so records and ``checked_at`` compare).
    """

    def __init__(self, client: Any, state: StateStore, public_key_pem: bytes | None,
                 clock: Callable[[], float]) -> None:
        self.client = client
        self.state = state
        self.public_key_pem = public_key_pem
        self.clock = clock

    def send(self, request: PreparedRequest) -> HttpResponse:
        """Send, then note the answer's signed time (a failure to note never fails the call)."""
        response: HttpResponse = self.client.send(request)
        if request.backend == LICENSE_BACKEND:
            try:
                self._record(response)
            except Exception:  # noqa: S110 - a missing record only means "not fresh"
                pass
        return response

    def _record(self, response: HttpResponse) -> None:
        body = response.json()
        if not isinstance(body, dict):
            return
        inner, signature, _problem = read_envelope(body, self.public_key_pem)
        if inner is None:
            return
        stamp = inner.get("timestamp")
        signed_at = float(stamp) if isinstance(stamp, int | float) and not isinstance(
            stamp, bool) and math.isfinite(stamp) else None
        entry = {"at": self.clock(), "signed_at": signed_at, "code": response_code(inner),
                 "signature": signature.value}
        records = self.state.get(RECORDS_KEY, [])
        records = [*(records if isinstance(records, list) else []), entry][-KEEP:]
        self.state.set(RECORDS_KEY, records)

    def close(self) -> None:
        """Close the real client."""
        self.client.close()


def install_recorder(service: LicenseService) -> None:
    """Wrap the service's HTTP client once (idempotent)."""
    if not isinstance(service.client, SignedTimeRecorder):
        recorder = SignedTimeRecorder(service.client, service.state,
                                      service.config.keymanager.public_key_pem, service.clock)
        service.client = recorder  # type: ignore[assignment]  # a drop-in: the same send()


def _matching_record(state: StateStore, status: LicenseStatus) -> dict[str, Any] | None:
    records = state.get(RECORDS_KEY, [])
    if status.checked_at is None or not isinstance(records, list):
        return None
    for entry in reversed(records):
        if (isinstance(entry, dict) and entry.get("code") == status.code
                and abs(float(entry.get("at", 0)) - status.checked_at) <= MATCH):
            return entry
    return None


def offline_grace(service: LicenseService, status: LicenseStatus, grace_days: float,
                  now: float) -> dict[str, Any]:
    """Whether the last confirmed-valid answer still counts offline, until when, and why.

    Returns:
        ``counts_as_valid``, ``until`` (epoch seconds or None), ``grace_days``, ``signed``,
        ``fresh``, ``clock_set_back`` and ``reason`` (one line for people).
    """
    answer: dict[str, Any] = {"grace_days": grace_days, "counts_as_valid": False, "until": None,
                              "signed": False, "fresh": False, "clock_set_back": False,
                              "reason": ""}
    if status.state == NO_KEY:
        answer["reason"] = "no license key is stored"
        return answer
    base = status.state if status.state != "unknown" else status.last_state
    if base != VALID:
        said = getattr(base, "value", base)  # a state, never its Python repr
        answer["reason"] = ("the server has never confirmed this license" if not base
                            else f"the server's last answer was '{said}', not valid")
        return answer
    signed_required = service.config.keymanager.public_key_pem is not None
    record = _matching_record(service.state, status)
    assert status.checked_at is not None  # a real answer always has its time
    anchor = status.checked_at
    if signed_required:
        signed_at = record.get("signed_at") if record else None
        if record is None or record.get("signature") != SignatureStatus.VALID.value \
                or signed_at is None:
            answer["reason"] = ("the last valid answer carries no signed time, so it cannot "
                                "start an offline grace; connect to the server once")
            return answer
        answer["signed"] = True
        drift = float(signed_at) - float(record["at"])
        if abs(drift) > SKEW:
            answer["reason"] = (f"the server's signed time was {abs(drift) / 60:.0f} min "
                                f"{'ahead of' if drift > 0 else 'behind'} this computer's clock "
                                "when the answer arrived: a replayed or backdated answer is not "
                                "taken as fresh; check the computer's clock and connect again")
            return answer
        anchor = float(signed_at)
    answer["fresh"] = True
    if service.state.get(ENDED_KEY) == anchor or now < anchor - SKEW:
        service.state.set(ENDED_KEY, anchor)
        answer["clock_set_back"] = True
        answer["reason"] = ("this computer's clock was set back before the last answer from the "
                            "server, so the offline grace has ended; set the clock right and "
                            "connect to the server once")
        return answer
    until = anchor + grace_days * 86400
    seen = _latest_seen(service.state, anchor, now)
    answer["until"] = until
    answer["counts_as_valid"] = seen <= until
    if status.state == VALID and seen <= until:
        answer["reason"] = "confirmed valid by the server"
    elif seen <= until:
        answer["reason"] = (f"the server cannot be asked now ({status.problem or 'offline'}); "
                            f"the license was confirmed valid and counts until the grace ends")
    elif now <= until:
        answer["reason"] = (f"the offline grace of {grace_days:g} days since the last valid "
                            "answer ended when this computer's clock was later than now; only a "
                            "new answer from the server starts another: connect to the server")
    else:
        answer["reason"] = (f"the offline grace of {grace_days:g} days since the last valid "
                            "answer is over; connect to the server")
    return answer


def _latest_seen(state: StateStore, anchor: float, now: float) -> float:
    """The latest local time seen since the answer at ``anchor`` (``now`` included).

    Once a grace has ended, moving the clock back does not start it again: only a new server
    answer (a new ``anchor``) does. Remembering is best effort: a read-only database (``doctor``)
    still answers from what is stored.
    """
    record = state.get(SEEN_KEY)
    if not isinstance(record, dict) or record.get("anchor") != anchor:
        stored = None
        seen = now
    else:
        stored = float(record.get("seen", now))
        seen = max(now, stored)
    if stored is None or now > stored + SEEN_STEP:
        with contextlib.suppress(CompanionError, sqlite3.Error):
            state.set(SEEN_KEY, {"anchor": anchor, "seen": seen})
    return seen


def license_answer(service: LicenseService | None, grace_days: float, now: float,
                   refresh: bool = False) -> dict[str, Any]:
    """The ``license`` answer: ``license`` (as ``license status --json``) and ``offline``.

    Never contains the key. A keyring that cannot be read is reported in ``keyring`` and the
    cached answer is still given (a locked keyring is not an invalid license).

    Args:
        service: the license service (None: this companion has no license handling).
        grace_days: ``[license] offline_grace_days``.
        now: the local clock.
        refresh: ask the server first (waits up to the KeyManager timeout).
    """
    if service is None:
        status = LicenseStatus(LicenseState.UNKNOWN,
                               problem="this companion has no license service")
        return {"license": status.to_dict(now),
                "offline": offline_grace_service_less(grace_days), "keyring": ""}
    keyring = ""
    try:
        status = service.verify() if refresh else service.cached_status()
    except KeyringUnavailableError as exc:
        keyring = str(exc)
        status = service.cached_status(check_key=False)
    return {"license": status.to_dict(now), "offline": offline_grace(service, status, grace_days,
                                                                     now), "keyring": keyring}


def offline_grace_service_less(grace_days: float) -> dict[str, Any]:
    """The ``offline`` part when there is no license service at all."""
    return {"grace_days": grace_days, "counts_as_valid": False, "until": None, "signed": False,
            "fresh": False, "clock_set_back": False,
            "reason": "this companion has no license service"}


def grace_left(answer: Any, now: float) -> float | None:
    """Seconds until a ``license`` answer's offline grace ends (a watcher is told then), or
    None when it does not count offline or ends beyond any sensible wait."""
    try:
        offline = answer["offline"]
        until = offline["until"] if offline["counts_as_valid"] else None
    except (KeyError, TypeError):
        return None
    if isinstance(until, bool) or not isinstance(until, int | float):
        return None
    left = float(until) - now
    return left if 0 < left < 400 * 86400 else None
