"""The seat notice after replacing a key is in the user's language; the license server's own
answer (its code and message) is shown as it came, never translated."""

from __future__ import annotations

import pytest

from app.support import i18n
from tests.integration.test_license_seats import OTHER, private_key, rx, service  # noqa: F401
from tests.integration.test_license_service import LICENSE

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(60)]


@pytest.fixture()
def german():
    i18n.setup("de")
    yield
    i18n.reset()


def test_the_freed_seat_is_told_in_german_with_the_servers_words(service, german):  # noqa: F811
    service.replace_key(LICENSE)
    change = service.replace_key(OTHER)
    assert not change.seat_kept
    assert change.notice.startswith("Der Platz dieses Computers für den vorherigen Schlüssel "
                                    "(9cc2…1541) wurde freigegeben"), change.notice
    assert "der Lizenzserver antwortete: 400" in change.notice
    assert "seat" not in change.notice and "freed" not in change.notice
