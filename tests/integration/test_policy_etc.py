"""The real /etc/license-companion/policy.toml against a real companion and both receivers.

Runs as root (CI does) and removes the file afterwards; skipped cleanly otherwise. The
companion here is given the policy the shipped reader found at the fixed path.
"""

from __future__ import annotations

import os

import pytest

from app.core import consent_view
from app.core.consent import ConsentPolicy, PolicyLockedError, enforce_policy, system_policy
from app.core.wiring import build_companion
from app.model.consent import Choice, DecidedBy
from app.receiver import KeyManagerReceiver
from app.storage.config import parse_config
from app.storage.policy import LINUX_POLICY_PATH, read_policy_file
from tests.configs import API_KEY, keymanager, telemetrydeck, vendor_config
from tests.integration.test_consent_receivers import IDENTITY, LICENSE

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                       reason="writes the real /etc/license-companion/policy.toml: needs root"),
]


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"}) as rx:
        yield rx


@pytest.fixture()
def companion(tmp_path, km, td):
    config = parse_config(tmp_path / "companion.toml",
                          vendor_config(keymanager=keymanager(km.url), telemetrydeck=telemetrydeck(
                              td.url, test_mode=True), consent_version=1))
    made = build_companion(config, tmp_path / "state", license_key=lambda: LICENSE,
                          identity=lambda: IDENTITY, environ={})
    yield made
    made.close()


def with_policy(companion):
    """Give the companion the policy the shipped reader finds at the fixed path."""
    admin = system_policy()
    assert admin == read_policy_file(LINUX_POLICY_PATH)
    companion.consent = ConsentPolicy(companion.config.consent, companion.state,
                                      companion.environ, companion.clock, admin=admin)
    return enforce_policy(companion.consent, companion.outbox)


def test_telemetry_off_deletes_the_queue_and_sends_nothing(etc_policy, companion, km, td):
    companion.grant()
    companion.track("feature.export", kind="number", value=1)
    companion.track("perf.start", kind="number", value=2)
    etc_policy("[telemetry]\nenabled = false\n")

    assert with_policy(companion) == 4  # two events, each queued for two backends
    assert companion.outbox.counts() == {}
    result = companion.track("feature.import", kind="number", value=3)
    assert result.stored is False
    assert "off by policy" in companion.consent.blocked_reason()
    assert str(LINUX_POLICY_PATH) in companion.consent.blocked_reason()
    with pytest.raises(PolicyLockedError):
        companion.grant(["usage"])

    companion.send(force=True)
    assert km.requests == [] and td.requests == []
    assert not any(p.will_send for p in companion.preview())
    shown = consent_view.consent_data(companion)["categories"]
    assert {c["choice"] for c in shown} == {"denied"}


def test_a_denied_category_cannot_be_allowed(etc_policy, companion, km, td):
    etc_policy('[telemetry]\ndeny = ["performance"]\n')
    with_policy(companion)
    with pytest.raises(PolicyLockedError, match="performance"):
        companion.grant(["performance"])
    assert companion.grant() == ["usage"]
    states = {s.category.id: s for s in companion.consent.states()}
    assert states["performance"].decided_by is DecidedBy.POLICY and states["performance"].locked
    assert states["usage"].decided_by is DecidedBy.USER

    assert companion.track("perf.start", kind="number", value=1).stored is False
    companion.track("feature.export", kind="number", value=1)
    companion.send(force=True)
    assert [e["data_group"] for e in km.accepted_events()] == ["feature.export"]
    assert [e["type"] for e in td.accepted_events()] == ["feature.export"]
    companion.revoke(["performance"])  # no error: the user's "no" is always taken
    assert companion.consent.decision("performance").choice is Choice.DENIED


def test_an_invalid_file_turns_telemetry_off_and_names_the_key(etc_policy, companion, td):
    etc_policy("[telemetry]\nenabled = no\n")
    companion.grant()
    with_policy(companion)
    reason = companion.consent.blocked_reason()
    assert str(LINUX_POLICY_PATH) in reason and "not valid TOML" in reason
    assert companion.consent.granted() == []
    companion.track("feature.export", kind="number", value=1)
    companion.send(force=True)
    assert td.requests == []
