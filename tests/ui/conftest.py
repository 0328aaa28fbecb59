"""pytest-qt offscreen: the tray's windows and the worker without a display.

``QT_QPA_PLATFORM`` must be set before the ``QApplication`` exists, i.e. before pytest-qt's
``qapp`` fixture runs, so it is set at import time of this conftest.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import time
from pathlib import Path

import pytest

from app.core.identity import Identity
from app.core.license import ANSWER_KEY, LicenseState, LicenseStatus
from app.core.wiring import build_companion
from app.receiver import KeyManagerReceiver
from app.storage.config import load_config
from app.support.autostart import Autostart
from app.tray.icons import Icons
from app.tray.tray_icon import TrayIcon
from app.tray.windows import Windows
from tests.configs import keymanager, telemetrydeck, write_vendor_config

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
LICENSE = "9cc2cc83-4c74-49f9-98f5-f0e1c1eb1541"
APP_ID = "B97579B6-FFB8-4AC5-AAA7-DA5796CC5DCE"


def write_config(path: Path, km_url: str = "", td_url: str = "", pem: bytes | None = None,
                 timeout: float = 5) -> Path:
    """A vendor config pointing at the test receivers (a backend without a URL is disabled)."""
    return write_vendor_config(
        path,
        pem=pem,
        product={"version": "1.0.0"},
        keymanager=keymanager(km_url, API_KEY, timeout=timeout) if km_url else None,
        telemetrydeck=telemetrydeck(td_url, APP_ID, timeout=timeout) if td_url else None,
        consent_version=1,
    )


def license_checked(companion) -> None:
    """Store a "valid" answer about the license, as a check with the server leaves it."""
    if companion.state.get(ANSWER_KEY) is None:
        companion.state.set(ANSWER_KEY, LicenseStatus(
            LicenseState.VALID, code=200, message="License key is valid",
            checked_at=time.time(), ok=True).to_dict())


def fixed_identity() -> Identity:
    return Identity("user-id-for-tests-0001", "activation-id-0001", "test", "tester")


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key) as rx:
        yield rx


@pytest.fixture()
def home(tmp_path):
    path = tmp_path / "home"
    path.mkdir(mode=0o700)  # private, as the app keeps it: no notice for tightening it
    return path


@pytest.fixture()
def make_factory(home, tmp_path):
    """Returns ``factory(km_url=, td_url=, pem=)`` -> a Companion factory for the worker.

    ``checked`` (default): the license was confirmed valid a moment ago, as the tray's own
    check at start leaves it, so a test about something else starts from "all good".
    """

    def build(km_url: str = "", td_url: str = "", pem: bytes | None = None, timeout: float = 5,
              checked: bool = True):
        config = load_config(write_config(tmp_path / "cfg" / "companion.toml", km_url, td_url,
                                          pem, timeout))

        def factory():
            companion = build_companion(config, home, license_key=lambda: LICENSE,
                                        identity=fixed_identity)
            if checked:
                license_checked(companion)
            return companion

        factory.config = config
        return factory

    return build


def wait_answer(qtbot, submit, timeout: int = 10_000):
    """``submit(on_done, on_error)`` gives a worker command; wait for its one answer.

    Returns ``("done", result)`` or ``("error", CommandError)``.
    """
    got = []
    submit(lambda result: got.append(("done", result)), lambda error: got.append(("error", error)))
    qtbot.waitUntil(lambda: bool(got), timeout=timeout)
    assert len(got) == 1
    return got[0]


def wait_result(qtbot, submit, timeout: int = 10_000):
    """``wait_answer`` that must succeed; returns the result."""
    kind, value = wait_answer(qtbot, submit, timeout)
    assert kind == "done", value
    return value


@pytest.fixture()
def controller_for(qtbot):
    """Start a ``WorkerController`` and shut it down after the test."""
    from app.tray.worker_controller import WorkerController

    made = []

    def start(factory, interval: float = 10.0, license_factory=None):
        ctl = WorkerController(factory, license_factory, interval)
        made.append(ctl)
        with qtbot.waitSignal(ctl.ready, timeout=10_000):
            ctl.start()
        return ctl

    yield start
    for ctl in made:
        ctl.shutdown(10)


@pytest.fixture()
def tray_for(tmp_path, home, controller_for):
    """Builds a tray icon over a real worker and companion (``tray.windows`` its windows);
    every window it opened is closed afterwards."""
    made = []

    def build(factory, interval: float = 10.0, license_factory=None):
        ctl = controller_for(factory, interval, license_factory)
        icons = Icons()
        windows = Windows(ctl, "Test Product", home, factory.config.source, icons)
        autostart = Autostart(["/usr/bin/license-companion", "tray"], platform="linux",
                              environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        tray = TrayIcon(ctl, windows, icons, autostart)
        tray.update_state(ctl.snapshot)
        made.append(windows)
        return tray

    yield build
    for windows in made:
        windows.close_all()
