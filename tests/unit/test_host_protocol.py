"""The host protocol's parser and dispatcher: every line gets an answer, errors name the field."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.door import protocol as hp
from app.door.dispatch import (
    Commit,
    Dispatcher,
    HostUnavailable,
    Query,
    Session,
    TrackOutcome,
    run_commits,
    run_query,
)
from app.door.protocol import ErrorReply, Request, parse_line


def line(obj) -> bytes:
    return json.dumps(obj).encode()


def test_track_is_parsed_with_the_cli_rules():
    req = parse_line(line({"op": "track", "name": "feature.export", "value": 3,
                           "payload": {"format": "pdf"}, "session": "s1"}))
    assert isinstance(req, Request)
    (item,) = req.items
    assert (item.name, item.kind, item.value, item.payload, item.session) == \
        ("feature.export", "number", 3, {"format": "pdf"}, "s1")


def test_xy_and_text_kinds():
    assert parse_line(line({"op": "track", "name": "a", "xy": [1, 2]})).items[0].kind == "xy"
    assert parse_line(line({"op": "track", "name": "a", "text": "hi"})).items[0].kind == "text"


def err(obj_or_bytes) -> ErrorReply:
    data = obj_or_bytes if isinstance(obj_or_bytes, bytes) else line(obj_or_bytes)
    result = parse_line(data)
    assert isinstance(result, ErrorReply), result
    return result


def test_field_errors_name_the_field():
    assert err({"op": "track", "value": 1}).field == "name"
    assert err({"op": "track", "name": "a"}).field == "value"
    assert err({"op": "track", "name": "a", "value": 1, "text": "x"}).field == "value"
    assert err({"op": "track", "name": "a", "value": True}).field == "value"
    assert err({"op": "track", "name": "a", "xy": [1, "x"]}).field == "xy.y"
    assert err({"op": "track", "name": "a", "value": 1, "payload": {"n": {"x": 1}}}).field == \
        "payload.n"
    assert err({"op": "track", "name": "a", "value": 1, "payload": {"type": 1}}).field == \
        "payload.type"
    assert err({"op": "track", "name": "a", "value": 1, "timestamp": -5}).field == "timestamp"
    assert err({"op": "track", "name": "a", "value": 1, "session": 5}).field == "session"
    assert err({"op": "track", "name": "a", "value": 1, "paylod": {}}).field == "paylod"
    assert err({"op": "track", "name": "a", "value": 2**60}).code == hp.INVALID_FIELD


def test_stream_errors_have_stable_codes():
    assert err(b"\xff\xfe{}").code == hp.BAD_UTF8
    assert err(b'{"op": "track", "name": "\\ud800", "value": 1}').code == hp.BAD_UTF8
    assert err(b"{not json").code == hp.BAD_JSON
    assert err(b"[1, 2]").code == hp.NOT_AN_OBJECT
    assert err(b"[" * 100_000).code == hp.TOO_DEEP
    assert err(line({"op": "track", "name": "a", "value": 1,
                     "payload": {"a": [[[[[[[[1]]]]]]]]}})).code == hp.TOO_DEEP
    assert err(b'{"op": "track", "name": "a", "value": ' + b"9" * 5000 + b"}").code == \
        hp.BAD_NUMBER
    assert err(b'{"op": "track", "name": "a", "value": 1e999}').code == hp.BAD_NUMBER
    assert err(b'{"op": "track", "name": "a", "value": NaN}').code == hp.BAD_NUMBER
    long = err(b'{"op":"hello","x":"' + b"a" * (hp.MAX_LINE + 10) + b'"}')
    assert long.code == hp.LINE_TOO_LONG and long.close


def test_unknown_op_and_newer_protocol_are_clear_errors():
    unknown = err({"op": "teleport", "id": 7})
    assert unknown.code == hp.UNKNOWN_OP and unknown.to_dict()["id"] == 7
    assert "track" in unknown.message
    newer = err({"op": "hello", "protocol": 2})
    assert newer.code == hp.UNSUPPORTED_PROTOCOL and "protocol 1" in newer.message
    assert err({"name": "a"}).field == "op"
    assert err({"op": "show", "window": "settings"}).field == "window"


def test_batch_limit_and_per_event_errors():
    too_many = err({"op": "track_batch", "events": [{"name": "a", "value": 1}] * 1001})
    assert too_many.code == hp.BATCH_TOO_LARGE
    req = parse_line(line({"op": "track_batch", "events": [
        {"name": "a", "value": 1}, {"name": "", "value": 1}, 5, {"name": "b", "text": "t"}]}))
    assert isinstance(req, Request)
    assert len(req.items) == 2 and set(req.item_errors) == {1, 2}
    assert req.item_errors[1].field == "events[1].name"


# -- the parser never raises and always gives a request or an answer ----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)


def answer_of(result) -> bytes:
    if isinstance(result, ErrorReply):
        return hp.encode(result.to_dict())
    return b"ok"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_get_an_answer(data):
    result = parse_line(data)
    assert isinstance(result, Request | ErrorReply)
    encoded = answer_of(result)
    assert encoded.endswith(b"\n") or encoded == b"ok"


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["op", "name", "value", "xy", "text", "payload",
                                        "timestamp", "session", "events", "id", "window"]),
                       json_values, max_size=6),
       st.sampled_from(list(hp.OPS)))
def test_any_request_shape_gets_an_answer(body, op):
    body = {"op": op, **body} if "op" not in body else body
    result = parse_line(json.dumps(body).encode())
    assert isinstance(result, Request | ErrorReply)
    if isinstance(result, ErrorReply):
        json.loads(hp.encode(result.to_dict()))


# -- the dispatcher -----------------------------------------------------------------------


class FakeHost:
    """A host side recording calls (the real one is tested against a real Companion)."""

    def __init__(self):
        self.shown: list[str] = []
        self.flushed = 0
        self.fail: Exception | None = None

    def hello(self):
        return {"product": {"id": "p"}, "companion": "0"}

    def commit(self, items):
        if self.fail:
            raise self.fail
        return [TrackOutcome(f"id{i}", "usage", True) for i, _ in enumerate(items)]

    def license(self, refresh=False):
        return {"license": {"state": "valid"}}

    def consent(self):
        return {"categories": {}}

    def show(self, window):
        if window == "history":
            raise HostUnavailable("no tray")
        self.shown.append(window)

    def flush(self):
        self.flushed += 1


def run(dispatcher, data, session=None):
    work = dispatcher.dispatch(parse_line(line(data)), session or Session())
    if isinstance(work, Query):
        return run_query(work)
    if isinstance(work, Commit):
        return run_commits(dispatcher.host, [work])[0]
    return work


def test_dispatch_answers_and_actions():
    host = FakeHost()
    d = Dispatcher(host)
    hello = run(d, {"op": "hello", "id": "h"})
    assert hello["ok"] and hello["protocol"] == hp.PROTOCOL and hello["id"] == "h"
    assert hello["limits"]["max_batch"] == hp.MAX_BATCH
    assert run(d, {"op": "show", "window": "consent"})["action"] == "show"
    assert host.shown == ["consent"]
    unavailable = run(d, {"op": "show", "window": "history"})
    assert unavailable["error"]["code"] == hp.NOT_AVAILABLE
    assert run(d, {"op": "flush"})["started"] and host.flushed == 1
    session = Session()
    assert run(d, {"op": "watch"}, session)["watching"] and session.watching


def test_commits_of_many_requests_answered_in_order():
    host = FakeHost()
    d = Dispatcher(host)
    one = d.dispatch(parse_line(line({"op": "track", "name": "a", "value": 1, "id": 1})),
                     Session())
    batch = d.dispatch(parse_line(line({"op": "track_batch", "id": 2, "events": [
        {"name": "a", "value": 1}, {"value": 1}, {"name": "b", "value": 2}]})), Session())
    first, second = run_commits(host, [one, batch])
    assert first == {"ok": True, "event_id": "id0", "category": "usage", "stored": True,
                     "backends": {}, "id": 1}
    assert second["accepted"] == 2 and second["refused"] == 1
    assert [r["ok"] for r in second["results"]] == [True, False, True]
    assert [r.get("event_id") for r in second["results"]] == ["id1", None, "id2"]


def test_a_failed_commit_fails_every_request_of_the_group():
    from app.model.errors import StorageError

    host = FakeHost()
    host.fail = StorageError("disk full")
    d = Dispatcher(host)
    work = d.dispatch(parse_line(line({"op": "track", "name": "a", "value": 1})), Session())
    (answer,) = run_commits(host, [work])
    assert answer["error"]["code"] == hp.STORAGE
