"""``doctor`` against real parts: loopback receivers, a real keyring, real files and sockets."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import re
import socket
import ssl
import threading
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.wiring import build_companion
from app.delivery.network import NetworkState, Reachability
from app.doctor.check import Verdict
from app.doctor.net import Probe, probe_backend
from app.doctor.report import DoctorSetup, run_doctor
from app.model.consent import NO_POLICY
from app.receiver import KeyManagerReceiver, Respond, TelemetryDeckReceiver
from app.storage.config import parse_config
from app.storage.keyring.license_store import LicenseStore
from app.storage.policy import read_policy_file
from tests.configs import API_KEY, keymanager, telemetrydeck, vendor_config
from tests.integration.test_consent_receivers import IDENTITY
from tests.raw_server import ConnectProxy

pytestmark = pytest.mark.timeout(90)

REAL_KEY = "7f3e1c2a-5b6d-4e8f-9a0b-1c2d3e4f5a6b"
PROXY_PASSWORD = "s3cret-proxy-pass"


@pytest.fixture(autouse=True)
def _no_proxy_from_outside(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def km(signing_key):
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key, product_ids={"1"}) as rx:
        yield rx


def config_text(km_url: str, td_url: str) -> str:
    return vendor_config(keymanager=keymanager(km_url), telemetrydeck=telemetrydeck(td_url, test_mode=True),
                         consent_version=1)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def by_name(report):
    return {c.name: c for c in report.checks}


@pytest.mark.keyring
def test_healthy_setup_passes_shows_no_secret_and_sends_no_telemetry(tmp_path, km, td,
                                                                     keyring_env):
    config = parse_config(tmp_path / "companion.toml", config_text(km.url, td.url))
    store = LicenseStore(f"license-companion:doctor-{uuid.uuid4().hex[:8]}", timeout=5)
    store.set(REAL_KEY)
    home = tmp_path / "state"
    companion = build_companion(config, home, license_key=lambda: REAL_KEY,
                               identity=lambda: IDENTITY, environ={})
    companion.grant()
    companion.track("feature.export", kind="number", value=1)
    companion.send(force=True)
    companion.track("feature.import", kind="number", value=2)  # one waiting, just queued
    companion.close()
    sent_before = (len(km.requests), len(td.requests))

    report = run_doctor(DoctorSetup(
        config=lambda: config, home=home, admin=NO_POLICY, environ=dict(os.environ),
        license_store=lambda _config: store, tray_available=lambda: True,
        network=lambda: NetworkState(Reachability.ONLINE, False, "test"),
    ))
    text, data = report.to_text(), report.to_json()
    problems = [c for c in report.checks if c.verdict is not Verdict.OK]
    assert problems == [] and report.exit_code == 0, text
    checks = by_name(report)
    assert "a license key is stored" in checks["keyring"].detail
    assert "SecretService" in checks["keyring"].detail
    assert checks["keymanager outbox"].detail.startswith("1 queued")
    assert "last success" in checks["keymanager outbox"].detail
    assert "HTTP 405" in checks["telemetrydeck HTTP"].detail
    assert checks["session bus"].detail == "reachable"
    for secret in (REAL_KEY, API_KEY, "pepper"):
        assert secret not in text and secret not in data
    # doctor reached both servers, but never with telemetry: no POST, nothing accepted
    new = km.requests[sent_before[0]:] + td.requests[sent_before[1]:]
    assert {r.method for r in new} == {"GET"}
    assert [e["data_group"] for e in km.accepted_events()] == ["feature.export"]
    assert len(td.accepted_events()) == 1
    assert json.loads(data)["exit_code"] == 0


@pytest.mark.keyring
def test_broken_setup_names_each_problem_and_its_fix(tmp_path, td, keyring_env):
    home = tmp_path / "state"
    home.write_text("not a directory")  # works as root too, unlike a chmod
    bad_policy = tmp_path / "policy.toml"
    bad_policy.write_text("[telemetry]\nenabeld = false\n")
    bad_policy.chmod(0o644)
    dead = f"http://127.0.0.1:{closed_port()}"
    config = parse_config(tmp_path / "companion.toml", config_text(dead, td.url))
    keyring_env.stop_keyring()  # no Secret Service on the bus any more
    store = LicenseStore(f"license-companion:doctor-{uuid.uuid4().hex[:8]}", timeout=5)

    report = run_doctor(DoctorSetup(
        config=lambda: config, home=home, admin=read_policy_file(bad_policy),
        environ=dict(os.environ), license_store=lambda _config: store,
        tray_available=lambda: False,
        network=lambda: NetworkState(Reachability.ONLINE, True, "test"),
        min_free=1 << 60,  # more than any disk: the "disk full" verdict, on the real disk
    ))
    checks = by_name(report)
    assert report.exit_code == 1
    expect = {
        "state dir": (Verdict.FAIL, "is a file, not a directory"),
        "free space": (Verdict.FAIL, "MiB free"),
        "keyring": (Verdict.FAIL, "not usable"),
        "policy": (Verdict.FAIL, "enabeld"),
        "system tray": (Verdict.WARN, "no system tray"),
        "network": (Verdict.WARN, "metered"),
        "keymanager TCP": (Verdict.FAIL, "cannot connect to 127.0.0.1"),
    }
    for name, (verdict, words) in expect.items():
        check = checks[name]
        assert check.verdict is verdict and words in check.detail, check
        assert check.fix, check
    assert "keymanager HTTP" not in checks  # later steps are not run after a failure
    assert checks["telemetrydeck HTTP"].verdict is Verdict.OK
    text = report.to_text()
    assert "fix: " in text and "FAIL  keyring" in text


def test_invalid_config_fails_and_skips_what_needs_it(tmp_path):
    from app.model.errors import ConfigError

    def broken():
        raise ConfigError(str(tmp_path / "companion.toml"), "[keymanager] url", "must be https")

    report = run_doctor(DoctorSetup(config=broken, home=tmp_path / "state", admin=NO_POLICY,
                                    environ={}))
    checks = by_name(report)
    assert checks["vendor config"].verdict is Verdict.FAIL
    assert "[keymanager] url" in checks["vendor config"].detail
    assert checks["keyring"].verdict is Verdict.WARN
    assert not any(name.endswith(" HTTP") for name in checks)


def test_failed_deliveries_show_in_the_outbox_check(tmp_path, km, td):
    config = parse_config(tmp_path / "companion.toml", config_text(km.url, td.url))
    home = tmp_path / "state"
    companion = build_companion(config, home, license_key=lambda: "k-1", identity=lambda: IDENTITY,
                               environ={})
    companion.grant()
    companion.track("feature.export", kind="number", value=1)
    td.script(Respond(503))
    companion.send(force=True)
    companion.close()
    report = run_doctor(DoctorSetup(config=lambda: config, home=home, admin=NO_POLICY,
                                    environ={}, license_store=lambda _c: _NoKeyring()))
    outbox = by_name(report)["telemetrydeck outbox"]
    assert outbox.verdict is Verdict.WARN and "1 queued" in outbox.detail
    assert "last error" in outbox.detail and outbox.fix
    assert by_name(report)["keymanager outbox"].verdict is Verdict.OK


def test_a_stop_the_vendor_has_since_mended_is_not_reported(tmp_path):
    """A server that refused the app ID stops sending (doctor says so); once the vendor's
    configuration names the right one, doctor no longer calls it stopped, as the sender does
    not: its next round tries the new setup."""
    home = tmp_path / "state"

    def config_for(app_id: str, url: str):
        return parse_config(tmp_path / "companion.toml", vendor_config(
            keymanager=keymanager("http://127.0.0.1:9", enabled=False),
            telemetrydeck=telemetrydeck(url, app_id)))

    def outbox_check(config):
        report = run_doctor(DoctorSetup(config=lambda: config, home=home, admin=NO_POLICY,
                                        environ={}, license_store=lambda _c: _NoKeyring()))
        return by_name(report)["telemetrydeck outbox"]

    with TelemetryDeckReceiver(app_ids={"RIGHT-APP"}, app_id_status=401) as rx:
        wrong = config_for("WRONG-APP", rx.url)
        companion = build_companion(wrong, home, license_key=lambda: "", identity=lambda: IDENTITY,
                                   environ={})
        companion.grant()
        companion.track("feature.export", kind="number", value=1)
        assert companion.send(force=True)["telemetrydeck"].stopped.startswith("stopped: HTTP 401")
        companion.close()
        stopped = outbox_check(wrong)
        assert stopped.verdict is Verdict.FAIL and "stopped: HTTP 401" in stopped.fix, stopped
        mended = outbox_check(config_for("RIGHT-APP", rx.url))
        assert mended.verdict is not Verdict.FAIL and "stopped" not in mended.fix, mended
        assert "1 queued" in mended.detail and "last error" in mended.detail


class _NoKeyring:
    """Stands in only where the keyring is not what a test is about."""

    def backend_name(self):
        return "test"

    def get(self):
        return ""


def test_a_proxy_is_shown_without_its_password(tmp_path):
    proxy = f"http://user:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    checks = probe_backend(Probe("telemetrydeck", "https://nom.example.invalid/v2/", timeout=3,
                                 proxies_for=lambda url: {"https": proxy}))
    text = "\n".join(f"{c.name} {c.detail} {c.fix}" for c in checks)
    assert PROXY_PASSWORD not in text
    assert "via http://127.0.0.1:" in checks[0].detail and "credentials, not shown" in text
    assert checks[-1].name == "telemetrydeck TCP" and checks[-1].verdict is Verdict.FAIL
    assert "(the proxy)" in checks[-1].detail


def test_dns_failure(tmp_path):
    checks = probe_backend(Probe("keymanager", "https://no-such-host.invalid/api", timeout=5))
    assert checks[-1].name == "keymanager DNS" and checks[-1].verdict is Verdict.FAIL


# --- TLS against a CA made here --------------------------------------------------------------


def _name(text):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Doctor Test CA")).issuer_name(
        _name("Doctor Test CA")).public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(
        cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return folder


@pytest.fixture()
def https_server(tls_files):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "server.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/v2/"
    server.shutdown()
    server.server_close()


def test_tls_verified_against_the_trust_store_in_use(https_server, tls_files):
    def trusting():
        return ssl.create_default_context(cafile=str(tls_files / "ca.pem")), "the test CA"

    checks = {c.name: c for c in probe_backend(Probe("td", https_server, timeout=5, tls=trusting))}
    assert checks["td TLS"].verdict is Verdict.OK and "the test CA" in checks["td TLS"].detail
    assert checks["td HTTP"].verdict is Verdict.OK and "HTTP 404" in checks["td HTTP"].detail
    assert checks["td clock"].verdict is Verdict.OK


def test_an_untrusted_certificate_fails_with_the_fix(https_server):
    checks = probe_backend(Probe("td", https_server, timeout=5))  # the default trust store
    assert checks[-1].name == "td TLS" and checks[-1].verdict is Verdict.FAIL
    assert "not trusted" in checks[-1].detail and "trust store" in checks[-1].fix


def test_clock_skew_from_the_servers_date(https_server, tls_files):
    import time

    def trusting():
        return ssl.create_default_context(cafile=str(tls_files / "ca.pem")), "the test CA"

    checks = probe_backend(Probe("td", https_server, timeout=5, tls=trusting,
                                 clock=lambda: time.time() + 3600))
    assert checks[-1].name == "td clock" and checks[-1].verdict is Verdict.WARN
    skew = int(re.search(r"([+-]\d+) s", checks[-1].detail).group(1))
    assert 3598 <= skew <= 3602  # the Date header has whole seconds


# --- through a real HTTP CONNECT proxy on loopback -------------------------------------------


def test_through_a_connect_proxy(https_server, tls_files):
    def trusting():
        return ssl.create_default_context(cafile=str(tls_files / "ca.pem")), "the test CA"

    proxy = ConnectProxy()
    try:
        url = f"http://127.0.0.1:{proxy.port}"
        checks = {c.name: c for c in probe_backend(Probe(
            "td", https_server, timeout=5, tls=trusting, proxies_for=lambda _url: {"https": url}))}
    finally:
        proxy.close()
    assert checks["td proxy"].detail == f"via {url}"
    assert checks["td TCP"].detail.startswith(f"connected to 127.0.0.1:{proxy.port} (the proxy)")
    assert checks["td TLS"].verdict is Verdict.OK
    assert checks["td HTTP"].verdict is Verdict.OK and "HTTP 404" in checks["td HTTP"].detail
    port = https_server.split(":")[2].split("/")[0]
    assert proxy.targets == [f"CONNECT 127.0.0.1:{port}"]  # the request really went through it


def test_a_proxy_that_refuses_the_tunnel(https_server):
    proxy = ConnectProxy(refuse=407)
    try:
        checks = probe_backend(Probe("td", https_server, timeout=5, proxies_for=lambda _url: {
            "https": f"http://127.0.0.1:{proxy.port}"}))
    finally:
        proxy.close()
    assert checks[-1].name == "td tunnel" and checks[-1].verdict is Verdict.FAIL
    assert "407" in checks[-1].detail and "proxy" in checks[-1].fix


@pytest.mark.keyring
def test_a_locked_keyring_is_named(tmp_path, td, keyring_env):
    config = parse_config(tmp_path / "companion.toml", config_text("", td.url))
    store = LicenseStore(f"license-companion:doctor-{uuid.uuid4().hex[:8]}", timeout=3)
    store.set(REAL_KEY)
    keyring_env.lock_login()
    report = run_doctor(DoctorSetup(config=lambda: config, home=tmp_path / "state",
                                    admin=NO_POLICY, environ=dict(os.environ),
                                    license_store=lambda _c: store))
    check = by_name(report)["keyring"]
    assert check.verdict is Verdict.FAIL and check.fix
    assert REAL_KEY not in report.to_text() + report.to_json()
    assert check.detail.startswith("locked: the keyring is locked")
