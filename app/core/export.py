"""``export``: everything the companion keeps about the user, in one JSON document.

What it holds: the product, the identifiers sent for the user (and TelemetryDeck's hash of
one), the consent decisions with their dates, every history entry with its request as sent
(masked: the license key and API key are never in it), and every event still queued, per
backend. The license key itself stays in the OS keyring and is not exported.
The same data backs ``license-companion export FILE`` and the History window's export.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.backends.telemetrydeck import client_user
from app.core.consent_view import consent_data, history_data
from app.storage.export_file import write_private

if TYPE_CHECKING:
    from app.core.companion import Companion

FORMAT = 1  # raised when a key changes meaning; keys are only ever added


def export_data(companion: Companion) -> dict[str, Any]:
    """The whole export as a JSON-safe dict (``history`` is exactly ``history --json``)."""
    config = companion.config
    ident = companion.identity()
    td = config.telemetrydeck
    td_on = td.enabled and not td.missing()
    queued = []
    for backend, count in sorted(companion.outbox.counts().items()):
        queued += [
            {"backend": item.backend, "category": item.category, "attempts": item.attempts,
             "event": item.event.to_dict()}
            for item in companion.outbox.peek(backend, count)
        ]
    consent = consent_data(companion)
    return {
        "format": FORMAT,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(companion.clock())),
        "product": {"id": config.product.id, "name": config.product.name,
                    "version": config.product.version},
        "identifiers": {
            "user_identifier": ident.user_identifier,
            "activation_identifier": ident.activation_identifier,
            "client_user": client_user(ident.user_identifier, td.salt) if td_on else None,
        },
        "consent": {
            "version": consent["version"],
            "decisions": [
                {"category": c["id"], "choice": c["stored"], "effective": c["choice"],
                 "decided_by": c["decided_by"], "version": c["version"],
                 "decided_at": c["decided_at"], "decided_at_iso": _iso(c["decided_at"])}
                for c in consent["categories"]
            ],
        },
        "history": history_data(companion.history()),
        "queued": queued,
        "queued_unreadable": companion.outbox.unreadable(),
    }


def export_to(companion: Companion, path: Path, *, replace: bool = False) -> dict[str, Any]:
    """Write ``export_data`` to ``path`` (0600; an existing file only when ``replace``).

    Returns what was written. Raises ``CompanionError`` (``ExportExistsError`` for a file
    that exists) when it cannot be written.
    """
    data = export_data(companion)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    write_private(path, text.encode("utf-8"), replace=replace)
    return data


def _iso(moment: float | None) -> str | None:
    return None if moment is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
