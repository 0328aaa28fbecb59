"""The one place that talks HTTP: a ``requests`` session per backend, a total deadline on every call.

- Deadline: ``requests`` only bounds each socket operation, so a server trickling one byte a
  second could hold a request for as long as it liked. Every exchange here (connect, proxy
  tunnel, TLS handshake, request, headers, body) ends by its deadline: the watchdog
  (``app/service/deadline.py``) shuts the connection's socket down when the time is up.
- Trust: TLS verifies against the operating system's trust store (``truststore``), so a company
  CA installed on the machine works without configuration; certifi's bundle is used only where
  no system store can be found. Verification is never switched off.
- Plain http is refused unless the host is loopback (the vendor's offline receiver, tests).
- Proxies come from the environment and the OS settings (what ``urllib.request.getproxies``
  reads: the registry on Windows, the system configuration on macOS), chosen per request URL;
  ``NO_PROXY`` is honoured and loopback never goes through a proxy. PAC scripts (proxy
  auto-config) are not evaluated: where a network uses one, set ``HTTPS_PROXY`` to the proxy
  it names.
- Not covered by the deadline: the name lookup (``getaddrinfo`` cannot be interrupted); the
  resolver's own timeouts bound it.

Errors come back as ``TransportError`` with a message free of secrets.
"""

from __future__ import annotations

import os
import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
import requests.adapters
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from app.model.wire import HttpResponse, PreparedRequest
from app.service.deadline import Exchange, Watchdog, release, sent, watch
from app.storage.config import is_loopback

try:  # imported here, not where used, so the frozen build finds it
    import truststore
except ImportError:  # an unusual platform or a build without it: certifi's bundle instead
    truststore = None  # type: ignore[assignment]

MAX_BODY = 1 << 20  # a telemetry answer is small; never read an endless body into memory

OS_TRUST = "the operating system's trust store"
CERTIFI_TRUST = "certifi's CA bundle (no system trust store was found)"

# Where Linux and BSD distributions keep their CA bundle, for when OpenSSL's compiled-in
# default (or SSL_CERT_FILE / SSL_CERT_DIR) points nowhere.
_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
)


class TransportError(Exception):
    """No HTTP answer: refused, reset, timed out, TLS failure. Always retried later."""


def _system_store_found() -> bool:
    """Whether OpenSSL (as ``truststore`` uses it on Linux) will find any CA certificate."""
    if sys.platform in ("win32", "darwin"):
        return True  # truststore asks the OS itself there
    paths = ssl.get_default_verify_paths()
    if paths.cafile:
        return True
    if paths.capath and os.path.isdir(paths.capath) and any(
        name[:8].isalnum() and name[8:9] == "." for name in os.listdir(paths.capath)
    ):
        return True
    return any(os.path.isfile(candidate) for candidate in _CA_FILES)


def tls_context() -> tuple[ssl.SSLContext, str]:
    """A verifying TLS context and the name of the trust it uses (for ``doctor``/``status``).

    Read when a client is made, so ``SSL_CERT_FILE``/``SSL_CERT_DIR`` set for this process are
    honoured, as OpenSSL's default verify paths read them.
    """
    if truststore is not None and _system_store_found():
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT), OS_TRUST
    return ssl.create_default_context(cafile=certifi.where()), CERTIFI_TRUST


def proxies_for(url: str) -> dict[str, str]:
    """The proxies for this URL: environment and OS settings, ``NO_PROXY`` honoured.

    Loopback never goes through a proxy: a proxy cannot reach this machine's own receiver.
    """
    if is_loopback(urlsplit(url).hostname or ""):
        return {}
    return dict(requests.utils.get_environ_proxies(url))


class _Watched:
    """Mixin for urllib3 connections: every socket is put under the current exchange's deadline.

    A duplicate of the socket's descriptor is kept so the watchdog can shut the connection down
    whatever wraps it later (a TLS layer replaces the socket object, not the connection).
    """

    _deadline_dup: Any = None

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        self._drop_dup()
        self._deadline_dup = sock.dup()
        watch(self._deadline_dup)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self._deadline_dup is not None:  # a kept-alive connection serving a new exchange
            watch(self._deadline_dup)
        result = super().request(*args, **kwargs)  # type: ignore[misc]
        sent()  # written: from here on this thread only waits (``deadline.when_sent``)
        return result

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        self._drop_dup()

    def _drop_dup(self) -> None:
        dup, self._deadline_dup = self._deadline_dup, None
        if dup is not None:
            release(dup)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _watched_pools(manager: Any) -> Any:
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


class _Adapter(requests.adapters.HTTPAdapter):
    """Our TLS context and watched connections, for direct and proxied requests alike."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context  # before super(): it builds the pool manager
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        """The direct pool manager, with our context and connection classes."""
        super().init_poolmanager(connections, maxsize, block, ssl_context=self._context,
                                 **pool_kwargs)
        _watched_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """A proxy's pool manager, with the same context and connection classes."""
        fresh = proxy not in self.proxy_manager
        manager = super().proxy_manager_for(proxy, ssl_context=self._context, **proxy_kwargs)
        return _watched_pools(manager) if fresh else manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """Trust comes from our context alone; requests would add certifi's bundle to it."""
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


class HttpClient:
    """Sends prepared requests exactly as built (no extra default headers).

    Args:
        timeout: seconds the whole exchange may take, connect to last byte of the body (the
            connect alone at most 10 s).

    Attributes:
        trust: which certificates TLS is verified against, in words.
    """

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = (min(timeout, 10.0), timeout)
        self.deadline = timeout
        self._watchdog = Watchdog()
        context, self.trust = tls_context()
        self.session = requests.Session()
        # requests would add its own User-Agent, Accept and Accept-Encoding; the preview promises
        # the headers we built, so start from none (http.client still adds Host/Content-Length).
        self.session.headers.clear()
        # No trust_env: it would also read ~/.netrc (adding an Authorization header the preview
        # never showed) and CA-bundle variables. Proxies are still honoured, chosen per request.
        self.session.trust_env = False
        adapter = _Adapter(context)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def send(self, request: PreparedRequest) -> HttpResponse:
        """Send one request; raises ``TransportError`` when no complete answer arrives in time."""
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
            raise TransportError(f"refusing to send over {parts.scheme}:// to {host}")
        proxies = proxies_for(request.url)
        exchange = Exchange(self.deadline, self._watchdog)
        try:
            return self._send(request, proxies, exchange)
        finally:
            if exchange.expired:
                # The cut connection may sit in the pool half-closed; start afresh next time.
                self.session.close()

    def _send(self, request: PreparedRequest, proxies: dict[str, str],
              exchange: Exchange) -> HttpResponse:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        try:
            with exchange:
                result = self._exchange(request, proxies, exchange)
        except requests.exceptions.SSLError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"TLS check of {host} failed (verified against {self.trust})")\
                from None
        except requests.exceptions.ProxyError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"the proxy for {host} refused or failed the connection")\
                from None
        except requests.exceptions.Timeout:
            raise self._late(host) from None
        except requests.exceptions.ConnectionError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"cannot connect to {host}:{parts.port or ''}") from None
        except urllib3.exceptions.ReadTimeoutError:
            # Raised while reading the body (stream=True), outside requests' own wrapping.
            raise TransportError(f"{host} stopped answering in the middle of a response")\
                from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"{type(exc).__name__} talking to {host}") from None
        if exchange.expired:
            # The watchdog cut the connection; what was read may look whole but is not.
            raise self._late(host)
        return result

    def _exchange(self, request: PreparedRequest, proxies: dict[str, str],
                  exchange: Exchange) -> HttpResponse:
        connect, read = self.timeout
        left = max(0.05, exchange.remaining())
        with self.session.request(
            request.method,
            request.url,
            data=request.body,
            headers=dict(request.headers),
            timeout=(min(connect, left), min(read, left)),
            allow_redirects=False,
            stream=True,
            verify=True,
            proxies=proxies,
        ) as response:
            body = response.raw.read(MAX_BODY + 1, decode_content=True)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return HttpResponse(response.status_code, body[:MAX_BODY], headers)

    def _late(self, host: str) -> TransportError:
        return TransportError(f"no answer from {host} within {self.deadline:g} s")

    def close(self) -> None:
        """Close pooled connections and end the deadline thread."""
        self.session.close()
        self._watchdog.stop()
