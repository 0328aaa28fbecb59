"""app/door/client.py on Windows: the pipe's owner check and the inbox when nothing listens."""

from __future__ import annotations

import json
import os

import pytest

from app.door.client import (
    Client,
    ClientError,
    nudge,
    pipe_name,
    win_check_server,
    win_connect,
    win_user_sid,
)
from app.door.pipe import PipeTransport

pytestmark = pytest.mark.timeout(60)

FOREIGN = "S-1-5-21-1111111111-2222222222-3333333333-1001"


@pytest.fixture()
def bare_pipe():
    """A real pipe served by this process (no protocol needed to ask who serves it)."""
    transport = PipeTransport(pipe_name(f"client-test-{os.urandom(6).hex()}"))
    transport.open()
    yield transport
    transport.close()


def test_our_sid_looks_like_a_user_sid():
    assert win_user_sid().startswith("S-1-5-")


def test_a_server_of_our_user_passes_the_check(bare_pipe):
    pipe = win_connect(bare_pipe.name, 5)
    pipe.close()


def test_a_server_run_by_another_user_is_refused_before_anything_is_sent(bare_pipe):
    with pytest.raises(ClientError) as refused:
        win_connect(bare_pipe.name, 5, expected_sid=FOREIGN)
    assert refused.value.code == "untrusted_endpoint"
    assert "nothing was sent" in refused.value.message
    from app.door.client import _win_open

    bare_pipe.select(5)  # the refused client took the first instance: make the next one
    assert bare_pipe.accept() is not None
    handle = _win_open(bare_pipe.name, 5)
    try:
        with pytest.raises(ClientError):
            win_check_server(handle, FOREIGN)
        win_check_server(handle)  # our own: no error
    finally:
        import _winapi

        _winapi.CloseHandle(handle)


def test_nothing_listens_events_go_to_the_inbox(tmp_path):
    name = pipe_name(f"nobody-{os.urandom(6).hex()}")
    c = Client(socket_path=name, inbox=tmp_path / "inbox")
    with pytest.raises(ClientError) as caught:
        c.consent()
    assert caught.value.code == "not_running"
    answer = c.track("App.offline", 1)
    assert answer["queued"] == "inbox"
    lines = [p.read_bytes() for p in (tmp_path / "inbox").glob("*.jsonl")]
    assert len(lines) == 1 and lines[0].endswith(b"}\n") and b"\r" not in lines[0]
    event = json.loads(lines[0])
    assert event["name"] == "App.offline" and event["value"] == 1
    assert event["event_id"]  # the client's own id: a copy that also arrived is stored once
    assert nudge(socket_path=name) is False
