"""``license-companion doctor``: why nothing arrives, one check per line, with what to do.

For a vendor's support desk as much as for the user: every check says what it found and, when
it needs attention, the fix. It changes nothing and sends no telemetry: the state database is
opened read-only, the keyring is only read (and the key itself never kept: only whether there is
one), and the backends get a bodiless ``GET`` (``doctor_net``). No secret appears in it.

Everything that needs something this layer cannot have (Qt for the tray, the OS's network
information) is passed in as a callable, so the CLI, the tray's About window and the tests each
give what they have.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import NAME, __version__
from app.backends.keymanager import TELEMETRY_PATH
from app.core.consent import do_not_track
from app.core.consent_view import policy_words
from app.delivery.network import NetworkState, Reachability, decide_for
from app.delivery.send_state import setup_fingerprint
from app.doctor.check import Check, DoctorReport, Verdict
from app.doctor.net import Probe, default_tls, environment_proxies, probe_backend
from app.doctor.state import companion_checks
from app.doctor.store import DB_NAME, check_database, check_outbox
from app.doctor.texts import check_vendor_texts
from app.model.consent import AdminPolicy
from app.model.errors import CompanionError, KeyringLockedError
from app.storage.config import VendorConfig
from app.storage.keyring.access import fix_hint
from app.storage.keyring.license_store import LicenseStore
from app.support.i18n import _

if TYPE_CHECKING:
    from app.core.status import CompanionStatus

MIN_FREE = 50 * 1024 * 1024  # below this the outbox and the log may fail to grow


@dataclass
class DoctorSetup:
    """What ``doctor`` looks at, and how.

    Attributes:
        config: loads the vendor configuration (raises ``CompanionError`` when it cannot).
        home: the state directory.
        admin: the administrator's policy in force.
        environ: the environment (``DO_NOT_TRACK``, ``DBUS_SESSION_BUS_ADDRESS``).
        license_store: the keyring-backed store for a configuration (default: the one the
            companion uses for its product).
        keyring_timeout: seconds any keyring call may take.
        tray_available: whether a system tray is there (needs Qt; None: not checked).
        network: the OS's network information (None: not available here).
        allow_metered: the user's "Send on metered connections".
        tls: the TLS context requests are verified with, and its trust store's name.
        proxies_for: the proxies for a URL.
        net_timeout: seconds per network step.
        min_free: bytes of free space below which the state dir needs attention.
        clock: seconds since the epoch.
        platform: ``sys.platform``.
        status: the companion's status, the tray's and ``status``'s (None: its checks of the
            license, pause, consent and servers are left out; the callable returns None when
            nothing ran here yet).
        offline: the license's offline grace for a status (``host_license.offline_grace``).
        tray_running: whether a tray answers for this state directory (None: not known).
    """

    config: Callable[[], VendorConfig]
    home: Path
    admin: AdminPolicy
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    license_store: Callable[[VendorConfig], LicenseStore] | None = None
    keyring_timeout: float = 5.0
    tray_available: Callable[[], bool] | None = None
    network: Callable[[], NetworkState] | None = None
    allow_metered: bool = False
    tls: Callable[[], Any] = default_tls
    proxies_for: Callable[[str], Mapping[str, str]] = environment_proxies
    net_timeout: float = 5.0
    min_free: int = MIN_FREE
    clock: Callable[[], float] = time.time
    platform: str = sys.platform
    status: Callable[[], CompanionStatus | None] | None = None
    offline: Callable[[CompanionStatus], dict[str, Any] | None] = lambda _status: None
    tray_running: Callable[[], bool | None] = lambda: None


def run_doctor(setup: DoctorSetup) -> DoctorReport:
    """Every check, in the order support reads them."""
    report = DoctorReport(title=_("{name} {version} doctor").format(name=NAME,
                                                                       version=__version__))
    checks = report.checks
    config, config_check = check_config(setup)
    checks += config_check
    checks += check_state_dir(setup)
    checks.append(check_database(setup.home / DB_NAME))
    checks.append(check_keyring(setup, config))
    checks.append(check_session_bus(setup))
    checks.append(check_tray(setup.tray_available))
    checks.append(check_policy(setup.admin))
    checks.append(check_do_not_track(setup.environ))
    checks.append(check_network(setup))
    if config is not None:
        for name, url in backend_urls(config).items():
            checks += probe_backend(Probe(name, url, setup.net_timeout, setup.tls,
                                          setup.proxies_for, setup.clock))
        setups = {name: setup_fingerprint(name, getattr(config, name), config.product)
                  for name in backend_urls(config)}
        checks += check_outbox(setup.home / DB_NAME, list(setups), setup.clock, setups)
    if setup.status is not None and config is not None:
        checks += companion_checks(setup.status, setup.offline, setup.tray_running)
    return report


def backend_urls(config: VendorConfig) -> dict[str, str]:
    """Where each enabled and configured backend sends (the same URLs the senders use)."""
    urls = {}
    if config.keymanager.enabled and not config.keymanager.missing():
        urls["keymanager"] = config.keymanager.url.rstrip("/") + TELEMETRY_PATH
    if config.telemetrydeck.enabled and not config.telemetrydeck.missing():
        urls["telemetrydeck"] = config.telemetrydeck.url
    return urls


def check_config(setup: DoctorSetup) -> tuple[VendorConfig | None, list[Check]]:
    """The vendor configuration: found, valid, and which backends it configures."""
    try:
        config = setup.config()
    except CompanionError as exc:
        return None, [Check("vendor config", Verdict.FAIL, str(exc),
                            _("correct the file and key named here (or pass --config)"))]
    checks = [Check("vendor config", Verdict.OK, _("{path} is valid").format(path=config.source))]
    for name in ("keymanager", "telemetrydeck"):
        section = getattr(config, name)
        if not section.enabled:
            checks.append(Check(f"{name} config", Verdict.OK,
                                _("disabled in the vendor configuration")))
        elif section.missing():
            keys = ", ".join(section.missing())
            checks.append(Check(f"{name} config", Verdict.FAIL,
                                _("enabled but not configured: {keys} empty").format(keys=keys),
                                _("set [{section}] {keys} in {path}").format(
                                    section=name, keys=keys, path=config.source)))
        else:
            checks.append(Check(f"{name} config", Verdict.OK, _("configured")))
    checks.append(check_vendor_texts(config))
    return config, checks


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_state_dir(setup: DoctorSetup) -> list[Check]:
    """The state directory: a directory we can write to, on a disk with room."""
    home = setup.home
    fix = _("use another state directory (--home or LICENSE_COMPANION_HOME) or fix its "
            "permissions")
    if home.exists() and not home.is_dir():
        writable = Check("state dir", Verdict.FAIL,
                         _("{path} is a file, not a directory").format(path=home),
                         _("move {path} away, or {fix}").format(path=home, fix=fix))
    elif home.is_dir():
        try:
            fd, probe = tempfile.mkstemp(prefix=".doctor-", dir=home)
            os.close(fd)
            os.unlink(probe)
            writable = Check("state dir", Verdict.OK, _("{path} is writable").format(path=home))
        except OSError as exc:
            writable = Check("state dir", Verdict.FAIL, _("{path} is not writable: {error}")
                             .format(path=home, error=exc.strerror), fix)
    else:
        parent = _existing_ancestor(home)
        if parent.is_dir() and os.access(parent, os.W_OK):
            writable = Check("state dir", Verdict.OK,
                             _("{path} does not exist yet; it will be created in {parent}")
                             .format(path=home, parent=parent))
        else:
            writable = Check("state dir", Verdict.FAIL,
                             _("{path} does not exist and cannot be created in {parent}")
                             .format(path=home, parent=parent), fix)
    try:
        usage = shutil.disk_usage(_existing_ancestor(home))
    except OSError as exc:
        return [writable, Check("free space", Verdict.WARN,
                                _("unknown: {error}").format(error=exc.strerror))]
    free = _("{mib} MiB free").format(mib=f"{usage.free / 1024 / 1024:.0f}")
    if usage.free < setup.min_free:
        space = Check("free space", Verdict.FAIL, _("{free} (at least {mib} MiB needed)").format(
            free=free, mib=f"{setup.min_free / 1024 / 1024:.0f}"),
            _("free disk space; queued events are kept but new ones may be refused"))
    else:
        space = Check("free space", Verdict.OK, free)
    return [writable, space]


def default_store(config: VendorConfig, timeout: float) -> LicenseStore:
    """The store the companion keeps this product's key in."""
    return LicenseStore(LicenseStore.service_name(config.product.id, config.product.name),
                        timeout=timeout)


def check_keyring(setup: DoctorSetup, config: VendorConfig | None) -> Check:
    """The keyring: which backend, reachable, unlocked, and whether a key is stored (never it)."""
    if config is None:
        return Check("keyring", Verdict.WARN,
                     _("not checked: the vendor configuration is invalid"),
                     _("fix the vendor configuration first"))
    store = (setup.license_store(config) if setup.license_store is not None
             else default_store(config, setup.keyring_timeout))
    try:
        backend = store.backend_name()
        present = bool(store.get())  # only whether there is one: the key itself is not kept
    except CompanionError as exc:
        hint = fix_hint(setup.platform)
        message = str(exc).replace(f"; {hint}", "")  # the hint goes on the fix line
        state = _("locked") if isinstance(exc, KeyringLockedError) else _("not usable")
        return Check("keyring", Verdict.FAIL, f"{state}: {message}", hint)
    detail = _("{backend}: reachable, unlocked; ").format(backend=backend)
    if present:
        return Check("keyring", Verdict.OK, detail + _("a license key is stored"))
    needs_key = "keymanager" in backend_urls(config)
    return Check("keyring", Verdict.WARN if needs_key else Verdict.OK,
                 detail + _("no license key stored"),
                 _("enter your license key (license-companion license set)") if needs_key else "")


def _bus_socket(address: str) -> str | None:
    """The unix socket of a D-Bus address (``unix:path=`` or ``unix:abstract=``), if any."""
    for entry in address.split(";"):
        kind, _, params = entry.partition(":")
        if kind != "unix":
            continue
        values = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        if "path" in values:
            return values["path"]
        if "abstract" in values:
            return "\0" + values["abstract"]
    return None


def check_session_bus(setup: DoctorSetup) -> Check:
    """The D-Bus session bus the Secret Service and the tray talk over (Linux only)."""
    if not setup.platform.startswith("linux"):
        return Check("session bus", Verdict.OK, _("not used on this system"))
    fix = _("start the companion from your desktop session (it provides the session bus), or "
            "run it under dbus-run-session")
    address = setup.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if not address:
        return Check("session bus", Verdict.WARN, _("DBUS_SESSION_BUS_ADDRESS is not set"), fix)
    path = _bus_socket(address)
    if path is None:
        return Check("session bus", Verdict.WARN,
                     _("the address names no unix socket; not checked"))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
    except OSError as exc:
        return Check("session bus", Verdict.FAIL,
                     _("cannot connect: {error}").format(error=exc.strerror or exc), fix)
    return Check("session bus", Verdict.OK, _("reachable"))


def check_tray(tray_available: Callable[[], bool] | None) -> Check:
    """Whether the desktop shows tray icons (asked through Qt by the caller)."""
    if tray_available is None:
        return Check("system tray", Verdict.NOT_CHECKED, _("not checked here (the tray's About "
                                                          "window checks it)"))
    if tray_available():
        return Check("system tray", Verdict.OK, _("available"))
    return Check("system tray", Verdict.WARN, _("no system tray on this desktop"),
                 _("enable a tray (e.g. the AppIndicator extension on GNOME); meanwhile use the "
                   "command line"))


def check_policy(admin: AdminPolicy) -> Check:
    """The administrator's policy in force (an invalid one fails: it turned telemetry off)."""
    if admin.error:
        return Check("policy", Verdict.FAIL, policy_words(admin),
                     _("the administrator corrects the file and key named here (until then "
                       "telemetry stays off)"))
    return Check("policy", Verdict.OK, policy_words(admin))


def check_do_not_track(environ: Mapping[str, str]) -> Check:
    """DO_NOT_TRACK: the user's "send nothing", whatever they chose in the companion."""
    if do_not_track(environ):
        return Check("DO_NOT_TRACK", Verdict.OK, _("set: nothing is sent while it is"))
    return Check("DO_NOT_TRACK", Verdict.OK, _("not set"))


def check_network(setup: DoctorSetup) -> Check:
    """What the OS says about the network, and what that means for sending."""
    state = setup.network() if setup.network is not None else NetworkState()
    decision = decide_for(state, setup.allow_metered)
    if state.reachability is Reachability.OFFLINE:
        return Check("network", Verdict.WARN, f"{state.describe()}: {decision.reason}",
                     _("connect to a network; sending resumes by itself"))
    if not decision.send:
        return Check("network", Verdict.WARN, f"{state.describe()}: {decision.reason}",
                     _("allow \"Send on metered connections\", or wait for another network"))
    return Check("network", Verdict.OK, state.describe())
