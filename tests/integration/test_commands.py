"""The tray's commands (``app.core.commands``) on a real companion, without Qt or a thread."""

from __future__ import annotations

import json
import stat
import sys

import pytest

from app.core import commands
from app.core.consent_view import history_json
from app.core.wiring import build_companion
from app.model.errors import ValidationError
from app.model.wire import Outcome, Verdict
from app.storage.config import load_config
from tests.ui.conftest import fixed_identity, write_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def companion(tmp_path, monkeypatch):
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    config = load_config(write_config(tmp_path / "cfg" / "companion.toml",
                                      km_url="http://127.0.0.1:9/"))
    made = build_companion(config, tmp_path / "home", license_key=lambda: "",
                          identity=fixed_identity)
    yield made
    made.close()


def test_consent_view_and_the_decisions(companion):
    view = commands.consent_view(companion)
    assert [s.category.id for s in view.states] == ["usage", "performance"]
    assert (view.do_not_track, view.version_changed, view.version) == (False, False, 1)
    granted = commands.grant(companion, ["usage"])
    assert (granted.granted, granted.categories) == (True, ("usage",))
    effective = {s.category.id: s.effective.value for s in commands.consent_view(companion).states}
    assert effective["usage"] == "granted" and effective["performance"] != "granted"


def test_revoke_deletes_the_queue_and_clears_the_round_interrupt(companion):
    commands.grant(companion, None)
    for i in range(3):
        companion.track("feature.export", kind="number", value=i)
    sender = companion.senders["keymanager"]
    sender.interrupt.set()  # what the worker does to end a round before the revoke runs
    result = commands.revoke(companion, ["usage"])
    assert (result.granted, result.categories, result.deleted) == (False, ("usage",), 3)
    assert not sender.interrupt.is_set()
    sender.interrupt.set()
    with pytest.raises(ValidationError):
        commands.revoke(companion, ["no-such-category"])
    assert not sender.interrupt.is_set()  # cleared even when the revoke fails


def test_export_writes_the_whole_history_or_says_why_not(companion, tmp_path):
    for i in range(3):
        companion.history_store.record("keymanager", ["usage"], [f"e{i}"],
                                       Outcome(Verdict.DELIVERED, "ok", 200))
    target = tmp_path / "all.json"
    result = commands.export_history(companion, str(target))
    assert (result.path, result.count, result.error) == (str(target), 3, "")
    assert target.read_text(encoding="utf-8") == history_json(companion.history(None)) + "\n"
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 3
    if sys.platform != "win32":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the user's data, not the umask's
    missing = tmp_path / "no-such-dir" / "all.json"
    result = commands.export_history(companion, str(missing))
    assert result.count == 0 and "No such file" in result.error
    assert not missing.exists()


def test_license_commands_without_a_license_service(companion):
    info = commands.license_command(companion, None, "set", "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541")
    assert not info.available and "not available" in info.error
    assert info.user_identifier == fixed_identity().user_identifier
    assert commands.license_info(companion, None).available is False
    assert commands.keyring_problem(None) == ""
    with pytest.raises(ValueError, match="unknown license operation 'steal'"):
        commands.license_command(companion, None, "steal")
