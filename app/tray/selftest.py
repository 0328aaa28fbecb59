"""``license-companion --self-test``: can this installation run here? One JSON report, exit 0/1.

It exists for packaging: the build runs it on the frozen binary before making an installer, and
CI runs it again on the installed ``/usr/bin/license-companion``. It answers the questions a
broken bundle raises (is Qt's platform plugin there, which keyring backend did we get, is the
vendor config found and valid, can we write our state) without a display or a user.

It imports PySide6, as the rest of ``app/tray`` does, and deliberately: it is a diagnostic of the
whole bundle. The Qt import happens inside ``check_qt`` only, so importing this module (or
running any other command) never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from app import APP_ID, NAME, __version__

KEYRING_SERVICE = f"{APP_ID}-selftest"


def check_qt() -> dict[str, Any]:
    """Start a QApplication on the requested platform (offscreen when there is no display).

    A missing platform plugin makes Qt abort the process (qFatal), which no ``try`` catches: the
    non-zero exit code and Qt's message on stderr are then the report.
    """
    requested = os.environ.get("QT_QPA_PLATFORM")
    if not requested and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
            and sys.platform.startswith("linux"):
        requested = os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import qVersion
    from PySide6.QtNetwork import QNetworkInformation
    from PySide6.QtWidgets import QApplication, QSystemTrayIcon

    # QApplication (a QGuiApplication with widgets) because the tray needs QtWidgets: this also
    # proves the widgets library made it into the bundle.
    qt_app = QApplication.instance() or QApplication([APP_ID])
    # The tray's modules, imported not run: a frozen build missing a Qt module they use
    # (e.g. QtNetwork for the single-instance socket) fails here instead of at the first login.
    ui_modules = [m for m in ("app.tray.app", "app.tray.tray_icon") if importlib.util.find_spec(m)]
    for module in ui_modules:
        importlib.import_module(module)
    return {
        "ok": True,
        "ui_modules": ui_modules,
        "qt_version": qVersion(),
        "pyside_version": pyside_version,
        "platform_requested": requested or "(Qt default)",
        "platform": qt_app.platformName(),  # type: ignore[attr-defined]  # a QApplication
        "tray_available": QSystemTrayIcon.isSystemTrayAvailable(),
        # The plugins app/tray/netinfo.py loads; none means "network state unknown" for good.
        "network_backends": sorted(QNetworkInformation.availableBackends()),
        **check_text_services(),
    }


def check_text_services() -> dict[str, Any]:
    """What Qt gets from its text library (ICU on Linux), which the Linux build trims.

    Collation in the root order ("a" < "A" < "b", not code-point order) and an English time-zone
    name both need ICU's data: wrong answers here mean the bundle's ICU data did not load.
    """
    from PySide6.QtCore import QCollator, QLocale, QTimeZone

    english = QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)
    order = sorted(["b", "A", "a"], key=QCollator(english).sortKey)
    zone = QTimeZone(b"Europe/Berlin").displayName(
        QTimeZone.TimeType.StandardTime, QTimeZone.NameType.LongName, english)
    return {"collation": "ok" if order == ["a", "A", "b"] else f"code-point order {order}",
            "timezone_name": zone}


def _with_timeout(fn: Callable[[], Any], timeout: float) -> tuple[bool, Any]:
    """Run ``fn`` in a daemon thread; (finished, result-or-exception).

    keyring passes no timeout to D-Bus (a locked or half-started Secret Service can stall for
    two minutes), so the call may be abandoned; a daemon thread does not keep the process alive.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # reported, not raised: this is a diagnostic
            box["error"] = exc

    thread = threading.Thread(target=target, name="selftest-keyring", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return False, None
    return True, box.get("error", box.get("result"))


def check_keyring(roundtrip: bool, timeout: float) -> dict[str, Any]:
    """The backend keyring chose, and whether set/get/delete of a throwaway entry works.

    The entry lives under its own service name, so the user's license is never touched.
    """
    import keyring

    report: dict[str, Any] = {"ok": False}
    finished, backend = _with_timeout(keyring.get_keyring, timeout)
    if not finished:
        report["error"] = f"choosing a backend took more than {timeout:g} s"
        return report
    if isinstance(backend, BaseException):
        report["error"] = f"{type(backend).__name__}: {backend}"
        return report
    report["backend"] = f"{type(backend).__module__}.{type(backend).__name__}"
    if not roundtrip:
        report.update(ok=True, roundtrip="skipped (--no-keyring)")
        return report
    user, secret = f"probe-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex

    def probe() -> bool:
        backend.set_password(KEYRING_SERVICE, user, secret)
        try:
            return backend.get_password(KEYRING_SERVICE, user) == secret
        finally:
            backend.delete_password(KEYRING_SERVICE, user)

    started = time.monotonic()
    finished, result = _with_timeout(probe, timeout)
    report["seconds"] = round(time.monotonic() - started, 3)
    if not finished:
        report["roundtrip"] = f"timed out after {timeout:g} s (keyring locked or not answering?)"
    elif isinstance(result, BaseException):
        report["roundtrip"] = f"failed: {type(result).__name__}: {result}"
    elif result is not True:
        report["roundtrip"] = "failed: read back a different secret"
    else:
        report.update(ok=True, roundtrip="set/get/delete ok")
    return report


def check_config(explicit: str | None) -> dict[str, Any]:
    """The vendor config the app would use, and whether it validates."""
    from app.model.errors import ConfigError
    from app.storage.config import config_path, load_config

    report: dict[str, Any] = {"ok": False}
    try:
        report["path"] = str(config_path(explicit))
        config = load_config(explicit)
    except (ConfigError, FileNotFoundError) as exc:
        report["error"] = str(exc)
        return report
    report.update(ok=True, product=config.product.name)
    return report


def check_state_dir(home: str | None) -> dict[str, Any]:
    """Whether the state directory can be created and written (a file is made and removed)."""
    from app.storage.paths import ensure_dir, state_dir

    path = state_dir(home)
    report: dict[str, Any] = {"ok": False, "path": str(path)}
    try:
        ensure_dir(path)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".selftest-"):
            pass
    except OSError as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
        return report
    report["ok"] = True
    return report


def check_resources() -> dict[str, Any]:
    """Where resources/ was found (inside the bundle when frozen) and what is in it."""
    from app.storage.resources import resources_dir

    try:
        folder = resources_dir()
    except FileNotFoundError as exc:
        return {"ok": False, "error": str(exc)}
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    return {"ok": True, "path": str(folder), "files": len(files),
            "icons": [f for f in files if f.startswith("icons")][:20]}


def _guarded(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return fn()
    except Exception as exc:  # one broken check must not hide the others
        return {"ok": False, "error": f"{name}: {type(exc).__name__}: {exc}"}


def build_report(argv: Sequence[str]) -> dict[str, Any]:
    """Run every check.

    Args:
        argv: the command line; ``--home``, ``--config``, ``--no-keyring`` and
            ``--keyring-timeout`` are used, the rest ignored.
    """
    parser = argparse.ArgumentParser(prog=f"{APP_ID} --self-test", add_help=False)
    parser.add_argument("--home")
    parser.add_argument("--config")
    parser.add_argument("--no-keyring", action="store_true",
                        help="report the backend but do not write a throwaway entry")
    parser.add_argument("--keyring-timeout", type=float, default=10.0)
    args, _ = parser.parse_known_args(list(argv))
    started = time.monotonic()
    report: dict[str, Any] = {
        "app": {"name": NAME, "id": APP_ID, "version": __version__},
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "frozen": bool(getattr(sys, "frozen", False)),
        "executable": sys.executable,
    }
    qt_started = time.monotonic()
    report["qt"] = _guarded("qt", check_qt)
    report["qt"]["seconds"] = round(time.monotonic() - qt_started, 3)
    report["keyring"] = _guarded("keyring", lambda: check_keyring(not args.no_keyring, args.keyring_timeout))
    report["config"] = _guarded("config", lambda: check_config(args.config))
    report["state_dir"] = _guarded("state_dir", lambda: check_state_dir(args.home))
    report["resources"] = _guarded("resources", check_resources)
    failed = [k for k in ("qt", "keyring", "config", "state_dir", "resources") if not report[k]["ok"]]
    report["failed"] = failed
    report["ok"] = not failed
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def run_self_test(argv: Sequence[str]) -> int:
    """Print the report as JSON on stdout; 0 when every check passed, else 1."""
    report = build_report(argv)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    sys.stdout.flush()
    return 0 if report["ok"] else 1
