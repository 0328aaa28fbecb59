"""The offline test receiver: a local KeyManager or TelemetryDeck that checks every request.

Vendors run it (``license-companion receiver keymanager|telemetrydeck``) to see exactly what the
companion sends before pointing it at the real service; our own tests run it in-process. It is
deliberately strict, "to the letter" of KeyManager "Send Telemetry" and TelemetryDeck "Ingest API
v2", so a request that passes here is one the real services have no reason to refuse.

One module per job: ``server`` (serving, recording, shutdown), ``faults`` (scripted behaviours),
``records`` (what is kept of each request), ``keymanager`` and ``telemetrydeck`` (the two
services), ``run`` (the command line). No Qt, nothing done at import time.
"""

from app.receiver.faults import (
    BadSignature,
    Behaviour,
    Drop,
    Hang,
    Html,
    Respond,
    RetryAfter,
    TooLarge,
    Unsigned,
)
from app.receiver.keymanager import (
    ACTIVATE_PATH,
    DATA_TYPES,
    DEACTIVATE_PATH,
    KEYMANAGER,
    TELEMETRY_PATH,
    UNSIGNED_TEXT,
    VERIFY_PATH,
    KeyManagerReceiver,
    generate_private_key,
    make_envelope,
    public_key_pem,
)
from app.receiver.records import License, RecordedRequest, Reply, Validation
from app.receiver.run import iter_records, make_receiver, request_line, run_receiver
from app.receiver.server import MAX_BODY_BYTES, Receiver
from app.receiver.telemetrydeck import (
    TD_DEFAULT_PATH,
    TD_MAX_SIGNALS,
    TD_OPTIONAL,
    TD_REQUIRED,
    TD_RESERVED_PAYLOAD_KEYS,
    TELEMETRYDECK,
    TelemetryDeckReceiver,
    _strict_json,
    stored_signal,
)

__all__ = [
    "ACTIVATE_PATH", "DATA_TYPES", "DEACTIVATE_PATH", "KEYMANAGER", "MAX_BODY_BYTES",
    "TD_DEFAULT_PATH", "TD_MAX_SIGNALS", "TD_OPTIONAL", "TD_REQUIRED", "TD_RESERVED_PAYLOAD_KEYS",
    "TELEMETRYDECK", "TELEMETRY_PATH", "UNSIGNED_TEXT", "VERIFY_PATH", "BadSignature",
    "Behaviour", "Drop", "Hang", "Html", "KeyManagerReceiver", "License", "Receiver",
    "RecordedRequest", "Reply", "Respond", "RetryAfter", "TelemetryDeckReceiver", "TooLarge",
    "Unsigned", "Validation", "_strict_json", "generate_private_key", "iter_records",
    "make_envelope", "make_receiver", "public_key_pem", "request_line", "run_receiver",
    "stored_signal",
]
