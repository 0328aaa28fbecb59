"""TLS against the system trust store, and proxies, with real parts on loopback.

A CA is made here and an HTTPS TelemetryDeck receiver presents a certificate it signed. The
companion trusts that CA only through the places OpenSSL's default verify paths read
(``SSL_CERT_FILE``/``SSL_CERT_DIR``), as a company CA installed on the machine would be.
A tiny HTTP CONNECT proxy resolves a name this machine cannot, so a delivery proves the
request went through it.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.companion import Companion
from app.core.wiring import build_companion
from app.delivery import http
from app.delivery.http import HttpClient, TransportError
from app.model.wire import PreparedRequest
from app.receiver import TelemetryDeckReceiver
from app.storage.config import parse_config
from tests.raw_server import ConnectProxy

pytestmark = pytest.mark.timeout(60)

PROXIED_NAME = "receiver.test"  # reserved; only the proxy below resolves it


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(common: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common)).issuer_name(_name(common))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_server_cert(ca_key, ca_cert, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("test receiver"))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName(PROXIED_NAME),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A company CA with a server certificate, and another CA nobody should trust."""
    base = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("Test Company Root CA")
    _, stranger = make_ca("Somebody Else's CA")
    (base / "company-ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (base / "stranger-ca.pem").write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    (base / "empty-dir").mkdir()
    cert, key = make_server_cert(ca_key, ca_cert, base)
    return {"dir": base, "cert": cert, "key": key}


def trust_only(monkeypatch, pki, ca_file: str) -> None:
    """The machine's trust store holds exactly this CA file (and an empty directory)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["dir"] / ca_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki["dir"] / "empty-dir"))
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                 "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def tls_td(pki):
    """A TelemetryDeck receiver speaking HTTPS with the company CA's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["cert"], pki["key"])
    with TelemetryDeckReceiver() as rx:
        server = rx._server  # the receiver serves plain http; wrap its listening socket
        server.socket = context.wrap_socket(server.socket, server_side=True)
        yield rx


def companion_for(url: str, tmp_path: Path) -> Companion:
    config = parse_config(tmp_path / "companion.toml", f"""
[keymanager]
enabled = false
[telemetrydeck]
url = "{url}"
app_id = "APP"
timeout = 5
[[consent.category]]
id = "usage"
events = ["feature.*"]
""")
    companion = build_companion(config, tmp_path / "home", environ={}, license_key=lambda: "")
    companion.grant()
    companion.track("feature.open", kind="number", value=1)
    return companion


def test_a_company_ca_in_the_system_store_is_trusted(monkeypatch, pki, tls_td, tmp_path):
    trust_only(monkeypatch, pki, "company-ca.pem")
    companion = companion_for(f"https://127.0.0.1:{tls_td.port}/v2/", tmp_path)
    try:
        assert companion.senders["telemetrydeck"].client.trust == http.OS_TRUST
        report = companion.send()["telemetrydeck"]
        assert report.delivered == 1, report.stopped
        assert companion.outbox.counts() == {}
    finally:
        companion.close()
    assert len(tls_td.accepted_events()) == 1


def test_a_certificate_from_an_untrusted_ca_is_refused_and_the_event_kept(monkeypatch, pki,
                                                                          tls_td, tmp_path):
    trust_only(monkeypatch, pki, "stranger-ca.pem")
    companion = companion_for(f"https://127.0.0.1:{tls_td.port}/v2/", tmp_path)
    try:
        report = companion.send()["telemetrydeck"]
        assert report.delivered == 0
        assert "TLS check of 127.0.0.1 failed" in report.stopped
        assert companion.outbox.counts() == {"telemetrydeck": 1}  # kept for a later try
    finally:
        companion.close()
    assert tls_td.accepted_events() == []


def test_certifis_bundle_is_used_only_when_no_system_store_exists(monkeypatch, tmp_path):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    assert http.tls_context()[1] == http.OS_TRUST  # the distribution's bundle is found
    monkeypatch.setattr(http, "_CA_FILES", ())  # a machine with no CA bundle anywhere
    assert ssl.get_default_verify_paths().cafile is None  # SSL_CERT_FILE points nowhere
    context, trust = http.tls_context()
    assert trust == http.CERTIFI_TRUST
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


# --- proxies ---------------------------------------------------------------------------------


@pytest.fixture()
def proxy():
    server = ConnectProxy(hosts={PROXIED_NAME: "127.0.0.1"})
    yield server
    server.close()


def test_https_goes_through_the_environments_connect_proxy(monkeypatch, pki, tls_td, proxy,
                                                           tmp_path):
    trust_only(monkeypatch, pki, "company-ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    companion = companion_for(f"https://{PROXIED_NAME}:{tls_td.port}/v2/", tmp_path)
    try:
        report = companion.send()["telemetrydeck"]
        assert report.delivered == 1, report.stopped
    finally:
        companion.close()
    # This machine cannot resolve receiver.test: only the proxy could have reached it.
    assert proxy.tunnels == [f"{PROXIED_NAME}:{tls_td.port}"]
    assert len(tls_td.accepted_events()) == 1


def request_to(url: str) -> PreparedRequest:
    return PreparedRequest("telemetrydeck", "POST", url, (("Content-Type", "application/json"),),
                           b"[]")


def test_no_proxy_is_honoured_per_url(monkeypatch, pki, tls_td, proxy):
    trust_only(monkeypatch, pki, "company-ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", f"other.example,{PROXIED_NAME}")
    client = HttpClient(timeout=5)
    try:
        with pytest.raises(TransportError, match="cannot connect"):
            client.send(request_to(f"https://{PROXIED_NAME}:{tls_td.port}/v2/"))  # direct
        assert proxy.tunnels == []
        monkeypatch.setenv("NO_PROXY", "other.example")
        answer = client.send(request_to(f"https://{PROXIED_NAME}:{tls_td.port}/v2/"))
        assert answer.headers["server"] == "LicenseCompanionReceiver"  # reached, via the proxy
        assert proxy.tunnels == [f"{PROXIED_NAME}:{tls_td.port}"]
    finally:
        client.close()


def test_loopback_never_goes_through_a_proxy(monkeypatch, td, proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert http.proxies_for(td.url) == {}
    assert http.proxies_for("https://nom.telemetrydeck.com/v2/")["https"] == proxy.url


def test_a_proxy_trickling_its_connect_answer_is_cut_at_the_deadline(monkeypatch, pki):
    """The tunnel set-up is part of the exchange: a slow proxy cannot hold it either."""
    trust_only(monkeypatch, pki, "company-ca.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    answer = b"HTTP/1.1 200 Connection established\r\nX-Pad: " + b"x" * 200 + b"\r\n\r\n"
    hung_up = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            try:
                for index in range(len(answer)):
                    conn.sendall(answer[index:index + 1])
                    threading.Event().wait(0.2)  # each byte well within any read timeout
            except OSError:
                hung_up.set()

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listener.getsockname()[1]}")
    client = HttpClient(timeout=1.5)
    try:
        with pytest.raises(TransportError, match=r"within 1\.5 s"):
            client.send(request_to(f"https://{PROXIED_NAME}:9/v2/"))
        assert hung_up.wait(5)
    finally:
        client.close()
        listener.close()
