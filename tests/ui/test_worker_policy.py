"""A policy change is applied once by the tray when it starts, with its record; a read
(``status``) before it deletes nothing."""

from __future__ import annotations

import pytest

from app.core.wiring import build_companion
from app.model.consent import AdminPolicy
from app.storage.config import load_config
from tests.ui.conftest import LICENSE, fixed_identity, write_config

pytestmark = pytest.mark.timeout(60)


def test_the_tray_start_applies_the_policy_and_records_it(tmp_path, home, km, controller_for):
    config = load_config(write_config(tmp_path / "cfg" / "companion.toml", km.url))
    deny = AdminPolicy(source="/etc/x/policy.toml", deny=frozenset({"usage"}))

    def open_with(admin: AdminPolicy):
        return build_companion(config, home, license_key=lambda: LICENSE,
                               identity=fixed_identity, environ={}, admin=admin)

    first = open_with(AdminPolicy())
    first.grant()
    for i in range(2):
        first.track("feature.a", kind="number", value=i)
    first.close()
    reader = open_with(deny)
    status = reader.status(read_keyring=False).backend("keymanager")
    assert (status.queued, status.dropped) == (2, 0)  # a read never deletes
    reader.close()

    controller_for(lambda: open_with(deny))
    after = open_with(AdminPolicy())
    try:
        status = after.status(read_keyring=False).backend("keymanager")
        assert (status.queued, status.dropped) == (0, 2)
        assert dict(status.dropped_by_reason) == {"policy_denied": 2}
        [entry] = [e for e in after.history() if e.verdict == "dropped"]
        assert (entry.backend, entry.event_count, entry.errors["reason"]) == (
            "keymanager", 2, "policy_denied")
    finally:
        after.close()
