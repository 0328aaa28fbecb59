"""The demo's consent window (offscreen): the example events are real requests to read."""

from __future__ import annotations

import io

import pytest

from app.cli.demo import EXAMPLE_EVENTS, Demo
from app.storage.texts import load_texts
from tests.ui.controllers import ConsentController

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]


def test_the_demo_consent_window_shows_its_queued_requests(qtbot, keyring_env):
    lines = io.StringIO()
    with Demo(stream=lines, log_level=None) as demo:
        ctx = demo.context("tray")
        try:
            demo.prepare(ctx.companion)
            controller = ConsentController(ctx.companion, texts=load_texts("en"))
            qtbot.addWidget(controller.window)
            controller.show()
            qtbot.waitExposed(controller.window)
            window = controller.window
            assert window.selected() == []  # undecided: nothing goes before the user says so
            for backend in ("keymanager", "telemetrydeck"):
                assert window.preview_text(backend) == "Nothing."
                held = window.preview_text(backend, "will-not-send")
                for name, *_ in EXAMPLE_EVENTS:
                    assert name in held, (backend, name, held)
            assert "POST " in window.preview_text("keymanager", "will-not-send")
        finally:
            ctx.close()
        folder = demo.folder
    assert not folder.exists()
    assert "telemetrydeck receiver listening on http://127.0.0.1:" in lines.getvalue()
