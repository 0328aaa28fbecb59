"""What every telemetry backend promises, written once and run against each backend.

A backend is two pure halves (``prepare`` and ``interpret``); the sender, the preview and the
history rely on the same few promises from both, so they are tested here once. Each backend's
test module subclasses ``BackendContract`` and says how to build the backend and its receiver;
pytest collects the subclasses (their names start with ``Test``), never this base.

The promises:

* the requests' ``event_ids`` cover the batch exactly, in order, each event once;
* no request carries more than ``max_batch`` events;
* an HTML page answered with 200 (a captive portal) and every 5xx are retries, never deliveries;
* a 5xx (and 429) with ``Retry-After`` passes the wait on, in seconds or as an HTTP date;
* the reprs of the backend and of its requests show no secret (license key, API key, salt);
* every request it prepares is accepted by the strict test receiver, and the receiver's real
  answer is read as delivered.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from app.model.event import Event, make_event
from app.model.wire import HttpResponse, PreparedRequest, SendContext, Verdict

LICENSE_KEY = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
SALT = "pepper-0b7f3c9d1e"
CTX = SendContext(user_identifier="u" * 32, activation_identifier="a" * 32,
                  license_key=LICENSE_KEY, api_key=API_KEY)
CAPTIVE_PORTAL = (b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
                  b"<body>Accept the terms to continue</body></html>")


def events(count: int) -> list[Event]:
    """``count`` events of all three kinds, with a payload, in a known order."""
    kinds: list[tuple[str, Any]] = [("number", 1.5), ("xy", (1, 2)), ("text", "hello")]
    return [
        make_event(f"feature.n{i}", kind=kinds[i % 3][0], value=kinds[i % 3][1],
                   payload={"App.index": i})
        for i in range(count)
    ]


def sizes(max_batch: int) -> list[int]:
    """Batch sizes around the limits: one, a full batch, and more than two batches."""
    return [1, max_batch - 1, max_batch, 2 * max_batch + 1]


class BackendContract:
    """The base class: subclass it and implement ``make_backend`` and ``receiver``."""

    secrets: tuple[str, ...] = (LICENSE_KEY, API_KEY)

    def make_backend(self, url: str) -> Any:
        """A backend sending to ``url`` (a receiver's URL)."""
        raise NotImplementedError

    def receiver(self) -> Iterator[Any]:
        """A context manager yielding a running receiver for this backend."""
        raise NotImplementedError

    def received_events(self, rx: Any) -> int:
        """How many events the receiver stored as correct."""
        return len(rx.accepted_events())

    @pytest.fixture()
    def backend(self) -> Any:
        return self.make_backend("https://example.invalid/")

    def prepare(self, backend: Any, batch: list[Event]) -> list[PreparedRequest]:
        return backend.prepare(batch, CTX)

    def request(self, backend: Any) -> PreparedRequest:
        return self.prepare(backend, events(1))[0]

    # -- the requests --------------------------------------------------------------------

    def test_request_ids_cover_the_batch_in_order(self, backend):
        for size in sizes(backend.max_batch):
            batch = events(size)
            ids = [i for req in self.prepare(backend, batch) for i in req.event_ids]
            assert ids == [event.id for event in batch], size

    def test_no_request_exceeds_max_batch(self, backend):
        assert backend.max_batch >= 1
        for size in sizes(backend.max_batch):
            reqs = self.prepare(backend, events(size))
            assert reqs, size
            assert all(1 <= len(req.event_ids) <= backend.max_batch for req in reqs), size

    def test_requests_are_posts_to_the_configured_url(self, backend):
        for req in self.prepare(backend, events(3)):
            assert req.method == "POST"
            assert req.url.startswith("https://example.invalid/")
            assert req.backend == backend.name

    # -- the answers ---------------------------------------------------------------------

    @pytest.mark.parametrize("ctype", ["text/html; charset=utf-8", ""])
    def test_an_html_200_is_a_retry(self, backend, ctype):
        headers = {"content-type": ctype} if ctype else {}
        outcome = backend.interpret(self.request(backend), HttpResponse(200, CAPTIVE_PORTAL,
                                                                        headers))
        assert outcome.verdict is Verdict.RETRY
        assert "HTML" in outcome.message

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_a_5xx_is_a_retry(self, backend, status):
        outcome = backend.interpret(self.request(backend), HttpResponse(status, b"oops"))
        assert outcome.verdict is Verdict.RETRY
        assert outcome.http_status == status
        assert outcome.retry_after is None

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_retry_after_seconds_are_honoured(self, backend, status):
        response = HttpResponse(status, b"", {"retry-after": "120"})
        outcome = backend.interpret(self.request(backend), response)
        assert outcome.verdict is Verdict.RETRY
        assert outcome.retry_after == 120

    def test_retry_after_as_an_http_date_is_honoured(self, backend):
        when = email.utils.formatdate(time.time() + 600, usegmt=True)
        response = HttpResponse(503, b"", {"retry-after": when})
        outcome = backend.interpret(self.request(backend), response)
        assert outcome.verdict is Verdict.RETRY
        assert outcome.retry_after is not None and 500 < outcome.retry_after <= 600

    # -- secrets -------------------------------------------------------------------------

    def test_reprs_hide_secrets(self, backend):
        reqs = self.prepare(backend, events(3))
        assert any(secret.encode() in req.body for req in reqs for secret in self.secrets) or (
            not backend.needs_license
        ), "the requests are expected to carry at least one secret; the check would be empty"
        shown = [repr(backend), repr(CTX), *map(repr, reqs), str(reqs)]
        for text in shown:
            for secret in (*self.secrets, SALT):
                assert secret not in text, (secret, text)

    # -- against the strict receiver -----------------------------------------------------

    def test_the_receiver_accepts_every_request_and_the_answer_is_a_delivery(self):
        with self.receiver() as rx:
            backend = self.make_backend(rx.url)
            batch = events(backend.max_batch + 2)
            for req in self.prepare(backend, batch):
                resp = requests.post(req.url, data=req.body, headers=dict(req.headers),
                                     timeout=10)
                answer = HttpResponse(resp.status_code, resp.content,
                                      {k.lower(): v for k, v in resp.headers.items()})
                outcome = backend.interpret(req, answer)
                assert outcome.verdict is Verdict.DELIVERED, (outcome, rx.requests[-1].validation)
            assert self.received_events(rx) == len(batch)
