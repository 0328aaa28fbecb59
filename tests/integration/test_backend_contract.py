"""Both backends keep the promises of ``tests/backend_contract.py``, each against its receiver."""

from __future__ import annotations

import contextlib

import pytest

from app.backends.keymanager import KeyManagerBackend
from app.backends.telemetrydeck import TelemetryDeckBackend
from app.receiver import KeyManagerReceiver, License, TelemetryDeckReceiver, public_key_pem
from tests.backend_contract import API_KEY, LICENSE_KEY, SALT, BackendContract

pytestmark = pytest.mark.timeout(60)

APP_ID = "AAAA-BBBBBBBB-CCCC-DDDD"


class TestKeyManagerBackend(BackendContract):
    @pytest.fixture(autouse=True)
    def _signing_key(self, signing_key):
        self.signing_key = signing_key

    def make_backend(self, url):
        return KeyManagerBackend(url, "1", "1.0.1", public_key_pem(self.signing_key))

    @contextlib.contextmanager
    def receiver(self):
        # As strict as it gets: our API key, product and license only, signatures checked.
        with KeyManagerReceiver(private_key=self.signing_key, api_key=API_KEY,
                                product_ids={"1"}, licenses={LICENSE_KEY: License()},
                                check_license_keys=True) as rx:
            yield rx


class TestTelemetryDeckBackend(BackendContract):
    def make_backend(self, url):
        return TelemetryDeckBackend(url, APP_ID, SALT, test_mode=True)

    @contextlib.contextmanager
    def receiver(self):
        with TelemetryDeckReceiver(app_ids={APP_ID}) as rx:
            yield rx
