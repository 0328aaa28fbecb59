"""``track`` says when an undecided category's oldest events make room (bounded hold)."""

from __future__ import annotations

import functools

import app.core.intake as intake_module
from app import cli
from app.core.wiring import build_companion
from tests.ui.conftest import LICENSE, fixed_identity, write_config


def test_track_says_when_older_undecided_events_were_dropped(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(intake_module, "UNDECIDED_KEEP", 2)
    config = write_config(tmp_path / "companion.toml", "http://127.0.0.1:9", "")
    build = functools.partial(build_companion, license_key=lambda: LICENSE,
                              identity=fixed_identity, environ={})
    argv = ["--home", str(tmp_path / "home"), "--config", str(config), "track"]
    outputs = []
    for i in range(3):
        assert cli.main([*argv, f"feature.f{i}", "--value", str(i)], build=build) == 0
        outputs.append(capsys.readouterr().out)
    assert all("dropped" not in text for text in outputs[:2])
    assert ("note: 1 older event(s) of 'usage' dropped: until you decide, only the newest are "
            "kept (license-companion consent)") in outputs[2].splitlines()
