"""``doctor``'s backend check: the way a request would go, one step at a time.

Each step is a line of the report, so support sees where it breaks: which proxy is used, DNS,
TCP, TLS (against which trust store), an HTTP answer and its time, and the clock's skew from the
server's ``Date``. The HTTP step is a bodiless ``GET`` of the backend's URL: it reaches the same
server through the same proxy, and since both services take telemetry only by ``POST`` it can
never count as telemetry.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from app import APP_ID, __version__
from app.doctor.check import Check, Verdict
from app.support.i18n import N_, _

MAX_SKEW = 300.0  # seconds; beyond this TLS validity and signed answers start to fail
SERVER_DOWN = {500, 502, 503, 504}
FIREWALL_FIX = N_("check the URL in the vendor configuration, that the server is up, and that "
                  "a firewall lets this computer reach it")


def default_tls() -> tuple[ssl.SSLContext, str]:
    """The trust store requests are verified against, and its name for the report.

    The very context the senders use (``app.delivery.http.tls_context``): the OS store through
    ``truststore`` (a company CA then works), certifi's bundle only where no system store exists.
    """
    from app.delivery.http import tls_context

    return tls_context()


def environment_proxies(url: str) -> dict[str, str]:
    """Proxies for this URL as ``requests`` finds them (environment, OS settings, NO_PROXY)."""
    return dict(requests.utils.get_environ_proxies(url))


def without_credentials(url: str) -> str:
    """A URL safe to show: any ``user:password@`` removed (a proxy's password is a secret)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)) + \
        " (with credentials, not shown)"


def _bounded(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` with a deadline (``getaddrinfo`` takes none); raises TimeoutError."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # reported in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="doctor-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@dataclass
class Probe:
    """The inputs of one backend's check.

    Attributes:
        name: the backend ("keymanager").
        url: where it sends.
        timeout: seconds per step.
        tls: builds the TLS context and names its trust store.
        proxies_for: the proxies for a URL.
        clock: seconds since the epoch (compared with the server's Date).
    """

    name: str
    url: str
    timeout: float = 5.0
    tls: Callable[[], tuple[ssl.SSLContext, str]] = default_tls
    proxies_for: Callable[[str], Mapping[str, str]] = environment_proxies
    clock: Callable[[], float] = time.time

    def check(self, step: str, verdict: Verdict, detail: str, fix: str = "") -> Check:
        return Check(f"{self.name} {step}", verdict, detail, fix)


def probe_backend(probe: Probe) -> list[Check]:
    """Every step for one backend; the first failing step ends it (later ones are not run)."""
    parts = urlsplit(probe.url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    proxies = probe.proxies_for(probe.url)
    proxy = proxies.get(parts.scheme) or proxies.get("all") or ""
    shown_proxy = without_credentials(proxy) if proxy else ""
    checks = [probe.check("proxy", Verdict.OK,
                          _("via {proxy}").format(proxy=shown_proxy) if proxy
                          else _("direct (no proxy for this URL)"))]
    hop_host, hop_port = host, port
    if proxy:
        pp = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        hop_host, hop_port = pp.hostname or "", pp.port or 8080
    hop = f"{hop_host}:{hop_port}" + (" " + _("(the proxy)") if proxy else "")

    started = time.monotonic()
    try:
        infos = _bounded(lambda: socket.getaddrinfo(hop_host, hop_port, type=socket.SOCK_STREAM),
                         probe.timeout)
    except (OSError, TimeoutError) as exc:
        checks.append(probe.check("DNS", Verdict.FAIL, _("{host} does not resolve: {error}")
                                  .format(host=hop_host, error=exc),
                                  _("check the host name and this computer's DNS settings")))
        return checks
    addresses = sorted({info[4][0] for info in infos})
    checks.append(probe.check("DNS", Verdict.OK, _("{host} is {addresses} ({time})").format(
        host=hop_host, addresses=", ".join(addresses[:4]), time=_ms(time.monotonic() - started))))

    started = time.monotonic()
    try:
        socket.create_connection((hop_host, hop_port), timeout=probe.timeout).close()
    except OSError as exc:
        checks.append(probe.check("TCP", Verdict.FAIL, _("cannot connect to {address}: {error}")
                                  .format(address=hop, error=exc.strerror or exc),
                                  _(FIREWALL_FIX)))
        return checks
    checks.append(probe.check("TCP", Verdict.OK, _("connected to {address} ({time})").format(
        address=hop, time=_ms(time.monotonic() - started))))
    return checks + _tls_and_http(probe, parts, host, port, proxy, hop_host, hop_port)


def _tls_and_http(probe: Probe, parts: Any, host: str, port: int, proxy: str,
                  hop_host: str, hop_port: int) -> list[Check]:
    checks: list[Check] = []
    https = parts.scheme == "https"
    conn: http.client.HTTPConnection
    if https:
        context, store = probe.tls()
        conn = http.client.HTTPSConnection(hop_host, hop_port, timeout=probe.timeout,
                                           context=context)
        if proxy:
            conn.set_tunnel(host, port)
    else:
        store = ""
        conn = http.client.HTTPConnection(hop_host, hop_port, timeout=probe.timeout)
    try:
        started = time.monotonic()
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            checks.append(probe.check(
                "TLS", Verdict.FAIL, _("the certificate of {host} is not trusted by {store}: "
                                       "{error}").format(host=host, store=store,
                                                         error=exc.verify_message),
                _("if your network inspects TLS, install its CA in the system's trust store; TLS "
                  "checks are never switched off")))
            return checks
        except ssl.SSLError as exc:
            checks.append(probe.check("TLS", Verdict.FAIL, _("TLS with {host} failed: {error}")
                                      .format(host=host, error=exc.reason or exc),
                                      _(FIREWALL_FIX)))
            return checks
        except OSError as exc:  # a proxy refusing the CONNECT tunnel lands here
            step = "tunnel" if proxy and https else "TLS"
            where = (_("no connection to {address} through the proxy") if proxy
                     else _("no connection to {address}")).format(address=f"{host}:{port}")
            checks.append(probe.check(step, Verdict.FAIL, f"{where}: {exc}",
                                      _("check the proxy settings (and its credentials)") if proxy
                                      else _(FIREWALL_FIX)))
            return checks
        if https:
            version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else "?"
            checks.append(probe.check(
                "TLS", Verdict.OK, _("{version}, certificate of {host} verified against {store} "
                                     "({time})").format(version=version, host=host, store=store,
                                                        time=_ms(time.monotonic() - started))))
        else:
            checks.append(probe.check("TLS", Verdict.OK,
                                      _("plain http to this computer (no TLS)")))
        checks += _http(probe, conn, parts, proxy)
    finally:
        conn.close()
    return checks


def _http(probe: Probe, conn: http.client.HTTPConnection, parts: Any, proxy: str) -> list[Check]:
    target = parts.path or "/"
    if proxy and parts.scheme == "http":
        target = urlunsplit((parts.scheme, parts.netloc, target, "", ""))
    started = time.monotonic()
    try:
        conn.request("GET", target, headers={"User-Agent": f"{APP_ID}-doctor/{__version__}",
                                             "Accept": "*/*", "Connection": "close"})
        response = conn.getresponse()
        elapsed = time.monotonic() - started
        received = probe.clock()
        response.read(64 * 1024)
    except (OSError, http.client.HTTPException) as exc:
        return [probe.check("HTTP", Verdict.FAIL, _("no HTTP answer: {error}").format(
            error=f"{type(exc).__name__}: {exc}"), _(FIREWALL_FIX))]
    status = response.status
    # The server's reason phrase is its own word, shown as it came.
    detail = _("HTTP {status} in {time}").format(status=f"{status} {response.reason}",
                                                 time=_ms(elapsed))
    if status == 407:
        checks = [probe.check("HTTP", Verdict.FAIL, detail, _(
            "the proxy wants credentials: put them in the proxy setting "
            "(https_proxy=http://user:pass@host:port)"))]
    elif status in SERVER_DOWN:
        checks = [probe.check("HTTP", Verdict.WARN,
                              detail + ": " + _("the server answers with an error"),
                              _("the service may be down; events stay queued and are retried"))]
    else:
        checks = [probe.check("HTTP", Verdict.OK,
                              detail + " " + _("(the server answers)"))]
    return [*checks, _skew(probe, response.getheader("Date"), received - elapsed / 2)]


def _skew(probe: Probe, date: str | None, local: float) -> Check:
    if not date:
        return probe.check("clock", Verdict.OK, _("the server sent no Date; skew not checked"))
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return probe.check("clock", Verdict.OK, _("the server's Date ({date}) is unreadable")
                           .format(date=repr(date[:40])))
    skew = local - server
    detail = _("this computer's clock is {seconds} s from the server's").format(
        seconds=f"{skew:+.0f}")
    if abs(skew) > MAX_SKEW:
        return probe.check("clock", Verdict.WARN, detail, _(
            "set the clock automatically (NTP); a wrong clock breaks TLS and the server's "
            "signed answers"))
    return probe.check("clock", Verdict.OK, detail)
