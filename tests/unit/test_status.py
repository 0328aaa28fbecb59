"""CompanionStatus: built once from a real companion (real SQLite), printed as ``status --json``.

No Qt and no server: the backends point at a closed port, and the send state a sender would
leave behind is written into the real state database the way the sender writes it.
"""

from __future__ import annotations

import functools
import json

import pytest

from app import cli
from app.core.license import ANSWER_KEY, LicenseState, LicenseStatus
from app.core.overall import status_json
from app.core.status import BackendState, warning_key
from app.core.wiring import build_companion
from app.storage.config import load_config
from tests.ui.conftest import APP_ID, LICENSE, fixed_identity, write_config

TOP_KEYS = ["product", "config", "state_dir", "consent_version", "do_not_track", "consent",
            "policy", "sending", "backends", "warnings", "license_keyring", "license_key", "license_status",
            "paused", "waiting_consent", "identifier_reset_at", "state"]
BACKEND_KEYS = ["enabled", "configured", "problem", "url", "queued", "dropped",
                "dropped_by_reason", "unreadable",
                "blocked",
                "next_attempt_in", "waiting_because", "failures", "last_success", "last_failure",
                "last_error", "signature_warning", "last_rejection", "rejected_total",
                "failing_since"]
CLOSED = "http://127.0.0.1:9"


@pytest.fixture()
def make(tmp_path):
    made = []

    def build(km_url: str = CLOSED, td_url: str = CLOSED + "/v2/", key: str = LICENSE):
        config = load_config(write_config(tmp_path / "cfg" / "companion.toml", km_url, td_url))
        companion = build_companion(config, tmp_path / "home", license_key=lambda: key,
                                    identity=fixed_identity, environ={})
        made.append(companion)
        return companion

    yield build
    for companion in made:
        companion.close()


def sender_left(companion, backend: str, **state) -> None:
    """The state a sender leaves in the database (same key, same JSON object)."""
    companion.state.update(companion.senders[backend].state_key, state)


def test_json_has_exactly_the_documented_keys_in_order(make):
    companion = make(td_url="")
    data = status_json(companion.status())
    assert list(data) == TOP_KEYS
    assert list(data["backends"]) == ["keymanager", "telemetrydeck"]
    assert list(data["backends"]["keymanager"]) == BACKEND_KEYS
    assert data["backends"]["telemetrydeck"] == {
        "enabled": False, "configured": False, "problem": "disabled in the vendor configuration"}
    assert list(data["consent"]) == ["usage", "performance"]
    assert data["consent"]["usage"] == {"choice": "undecided", "stored": "undecided", "reason": "",
                                        "decided_by": "undecided", "locked": False}
    assert data["policy"] == {"source": "", "enabled": True, "deny": [], "locked": False,
                              "error": ""}
    assert data["license_key"] == "set (9cc2…1541)"
    assert data["license_status"] == "unknown: not checked with the server yet"
    json.dumps(data)  # plain JSON, nothing that needs default=str


def test_every_key_is_named_in_the_to_json_docstring():
    from app.core.status import CompanionStatus

    doc = CompanionStatus.to_json.__doc__ or ""
    missing = [k for k in TOP_KEYS + BACKEND_KEYS if f"``{k}``" not in doc]
    assert missing == []


def test_problems_are_built_once_and_warnings_keep_their_order(make, tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o700)  # private already: no notice for tightening it
    (home / "companion.db").write_bytes(b"not a database " * 100)  # moved aside: a notice
    companion = make()
    sender_left(companion, "keymanager", blocked="HTTP 401: API key refused",
                signature_warning="the answer is unsigned")
    sender_left(companion, "telemetrydeck", last_rejection="HTTP 403", rejected_total=2)
    status = companion.status()

    assert [w.split(":")[0] for w in status.warnings[1:]] == [
        "KeyManager stopped", "SECURITY", "TelemetryDeck refused events for good (2 so far)"]
    assert "moved" in status.warnings[0]
    # The tray's problems are the same objects that gave the warning lines: nothing to re-match.
    assert [p.warning for p in status.problems if p.warning] == [
        *status.warnings[1:], status.warnings[0]]
    keys = [p.key for p in status.problems]
    assert keys[:3] == ["blocked:keymanager", "signature:keymanager",
                        warning_key(status.warnings[3])]
    assert keys[3] == warning_key(status.warnings[0])
    km = status.backend("keymanager")
    assert km.state.blocked == "HTTP 401: API key refused" and km.configured
    assert status.to_json()["warnings"] == list(status.warnings)


def test_an_unconfigured_backend_with_an_old_stop_shows_both(tmp_path):
    path = write_config(tmp_path / "cfg" / "companion.toml", CLOSED, CLOSED + "/v2/")
    path.write_text(path.read_text().replace(f'app_id = "{APP_ID}"', 'app_id = ""'))
    companion = build_companion(load_config(path), tmp_path / "home", license_key=lambda: LICENSE,
                                identity=fixed_identity, environ={})
    sender_left(companion, "telemetrydeck", blocked="HTTP 401")  # left from before the edit
    status = companion.status()
    companion.close()
    td = status.backend("telemetrydeck")
    assert not td.configured and "app_id" in td.problem
    problems = {p.key: p for p in td.problems}
    assert problems["config:telemetrydeck"].notify is False
    assert problems["config:telemetrydeck"].warning == ""
    assert "TelemetryDeck stopped: HTTP 401" in status.warnings
    assert "blocked:telemetrydeck" not in problems


def test_backend_state_reads_the_stored_object():
    state = BackendState.from_dict({"failures": 3, "blocked": "x", "from_a_newer_version": 1})
    assert (state.failures, state.blocked, state.rejected_total) == (3, "x", 0)
    assert BackendState.from_dict({"failures": None}).failures == 0
    with pytest.raises(TypeError):
        BackendState(**{"unknown": 1})  # type: ignore[arg-type]


def test_an_invalid_license_is_a_problem_and_no_key_is_said_so(make):
    companion = make()
    companion.state.set(ANSWER_KEY, LicenseStatus(
        "invalid", code=202, message="The license key is invalid.", checked_at=1.0).to_dict())
    status = companion.status()
    (problem,) = [p for p in status.problems if p.key == "license"]
    assert problem.message == "The license key is invalid." and problem.warning == ""
    assert status.license is not None and status.license.status.state is LicenseState.INVALID
    assert status.warnings == ()

    empty = make(key="")
    data = status_json(empty.status())
    assert data["license_key"] == "not set (license-companion license set)"
    assert data["license_status"] == "no license key stored (license-companion license set)"
    assert empty.status().license.status.state is LicenseState.NO_KEY


def test_without_reading_the_keyring_the_key_lines_are_left_out(make):
    status = make().status(read_keyring=False)
    data = status_json(status)
    assert "license_key" not in data and "license_keyring" not in data
    assert data["license_status"] == "unknown: not checked with the server yet"


def test_license_states_are_one_vocabulary():
    assert [s.value for s in LicenseState] == ["valid", "invalid", "unknown", "no-key"]
    assert LicenseStatus("no-key").state is LicenseState.NO_KEY
    assert json.loads(json.dumps(LicenseStatus(LicenseState.VALID).to_dict()))["state"] == "valid"
    with pytest.raises(ValueError, match="'none'"):
        LicenseStatus("none")


def test_status_command_prints_the_typed_status(make, tmp_path, capsys):
    companion = make()
    sender_left(companion, "keymanager", blocked="HTTP 401: API key refused", failures=1,
                last_error="HTTP 401: API key refused")
    build = functools.partial(build_companion, license_key=lambda: LICENSE,
                              identity=fixed_identity, environ={})
    argv = ["--home", str(companion.home), "--config", str(companion.config.source), "status"]
    capsys.readouterr()
    assert cli.main([*argv, "--json"], build=build) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {**json.loads(json.dumps(status_json(companion.status()))), "inbox_rejected": 0,
                       "quarantined": {"inbox": 0, "outbox": 0},
                       "inbox": {"rejected": 0, "rejected_removed": 0, "foreign_owner": 0,
                                 "not_regular": 0}}
    assert cli.main(argv, build=build) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  last error: HTTP 401: API key refused" in lines
    assert lines[-4:] == ["license_keyring: given by the caller (in memory)",
                          "license_key: set (9cc2…1541)",
                          "license_status: unknown: not checked with the server yet",
                          "WARNING: KeyManager stopped: HTTP 401: API key refused"]


def test_status_of_a_missing_config_is_a_usage_error(tmp_path, capsys):
    code = cli.main(["--home", str(tmp_path), "--config", str(tmp_path / "nope.toml"), "status"])
    assert code == 2
    assert "nope.toml" in capsys.readouterr().err

