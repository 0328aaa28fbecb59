"""The one place that talks HTTP: urllib3 pools per backend, a total deadline on every call.

- Why urllib3 and not a ``requests`` session: a request here is already exact bytes (the
  preview shows them), so requests' per-call work (merging settings, re-preparing the URL,
  headers and body, hooks) bought nothing and cost about as much CPU per request as the rest
  of sending one event. ``requests.utils`` still chooses the proxy, as it always did.

- Deadline: ``requests`` only bounds each socket operation, so a server trickling one byte a
  second could hold a request for as long as it liked. Every exchange here (connect, proxy
  tunnel, TLS handshake, request, headers, body) ends by its deadline: each socket call is
  given at most the time left (``app/delivery/deadline.py``), the same way on every OS.
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

import functools
import http.client
import os
import socket
import ssl
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

import certifi
import requests.utils
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from app.delivery.deadline import DeadlineExceeded, Exchange, bound
from app.model.wire import HttpResponse, PreparedRequest
from app.storage.config import is_loopback as _is_loopback

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


@functools.lru_cache(maxsize=64)
def is_loopback(host: str) -> bool:
    """``app.storage.config.is_loopback``, remembered: asked twice per request, always the same."""
    return _is_loopback(host)


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

    The plain socket is bound as soon as it is connected (so a proxy tunnel and the TLS
    handshake are covered), and again whatever TLS layer replaces it (``deadline.bound``).
    """

    def _new_conn(self) -> Any:
        return bound(super()._new_conn())  # type: ignore[misc]

    def _connect_tls_proxy(self, hostname: str, sock: Any) -> Any:
        return bound(super()._connect_tls_proxy(hostname, sock))  # type: ignore[misc]

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        sock = getattr(self, "sock", None)
        if isinstance(sock, socket.socket):  # not a TLS-in-TLS layer: its socket is bound
            self.sock = bound(sock)


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


def _proxy_headers(proxy: str) -> dict[str, str]:
    """Basic credentials written in the proxy's URL (``http://user:pass@proxy:3128``)."""
    parts = urlsplit(proxy)
    if not parts.username:
        return {}
    auth = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return dict(urllib3.util.make_headers(proxy_basic_auth=auth))


class HttpClient:
    """Sends prepared requests exactly as built (no extra default headers).

    One kept-alive connection per destination (direct, or through each proxy in use).

    Args:
        timeout: seconds the whole exchange may take, connect to last byte of the body (the
            connect alone at most 10 s).

    Attributes:
        trust: which certificates TLS is verified against, in words.
    """

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = (min(timeout, 10.0), timeout)
        self.deadline = timeout
        self._context, self.trust = tls_context()
        self._direct: urllib3.PoolManager = self._manager(None)
        self._proxied: dict[str, urllib3.ProxyManager] = {}

    def _manager(self, proxy: str | None) -> Any:
        """A pool manager with our TLS context and watched connections; never retries."""
        kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": 1, "retries": False,
                                  "ssl_context": self._context, "cert_reqs": "CERT_REQUIRED"}
        if proxy is None:
            return _watched_pools(urllib3.PoolManager(**kwargs))
        return _watched_pools(urllib3.ProxyManager(proxy, proxy_headers=_proxy_headers(proxy),
                                                   **kwargs))

    def _pools_for(self, url: str, proxies: dict[str, str]) -> Any:
        proxy = requests.utils.select_proxy(url, proxies)
        if not proxy:
            return self._direct
        if "://" not in proxy:
            proxy = "http://" + proxy  # as requests reads a bare "host:port"
        if not proxy.lower().startswith(("http://", "https://")):
            raise TransportError(f"the proxy scheme of {urlsplit(proxy).scheme}:// is not "
                                 "supported; set HTTPS_PROXY to an http:// proxy")
        manager = self._proxied.get(proxy)
        if manager is None:
            manager = self._proxied[proxy] = self._manager(proxy)
        return manager

    def send(self, request: PreparedRequest) -> HttpResponse:
        """Send one request; raises ``TransportError`` when no complete answer arrives in time."""
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
            raise TransportError(f"refusing to send over {parts.scheme}:// to {host}")
        proxies = proxies_for(request.url)
        exchange = Exchange(self.deadline, per_call=self.timeout[1])
        try:
            return self._send(request, proxies, exchange)
        finally:
            if exchange.expired:
                # The cut connection may sit in the pool half-closed; start afresh next time.
                self._clear()

    def _send(self, request: PreparedRequest, proxies: dict[str, str],
              exchange: Exchange) -> HttpResponse:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        try:
            with exchange:
                result = self._exchange(request, proxies, exchange)
        except SSLError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"TLS check of {host} failed (verified against {self.trust})")\
                from None
        except ProxyError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"the proxy for {host} refused or failed the connection")\
                from None
        except (ReadTimeoutError, DeadlineExceeded):
            raise self._late(host) from None
        except NewConnectionError:
            if exchange.expired:
                raise self._late(host) from None
            raise TransportError(f"cannot connect to {host}:{parts.port or ''}") from None
        except Urllib3Timeout:
            raise self._late(host) from None
        except (HTTPError, OSError, http.client.HTTPException) as exc:
            if exchange.expired:
                raise self._late(host) from None
            if isinstance(exc, ProtocolError | ConnectionError):
                raise TransportError(f"the connection to {host} was closed before a whole "
                                     "answer came") from None
            raise TransportError(f"{type(exc).__name__} talking to {host}") from None
        return result

    def _exchange(self, request: PreparedRequest, proxies: dict[str, str],
                  exchange: Exchange) -> HttpResponse:
        connect, read = self.timeout
        left = max(0.05, exchange.remaining())
        response = self._pools_for(request.url, proxies).urlopen(
            request.method,
            request.url,
            body=request.body,
            headers=dict(request.headers),
            timeout=urllib3.Timeout(connect=min(connect, left), read=min(read, left)),
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
        )
        try:
            body = response.read(MAX_BODY + 1, decode_content=True)
            headers = {k.lower(): v for k, v in response.headers.items()}
            return HttpResponse(response.status, body[:MAX_BODY], headers)
        finally:
            # A body read to its end gave the connection back to the pool already; one cut
            # short (over MAX_BODY) is closed, never reused half-read.
            response.close()
            response.release_conn()

    def _clear(self) -> None:
        self._direct.clear()
        for manager in self._proxied.values():
            manager.clear()

    def _late(self, host: str) -> TransportError:
        return TransportError(f"no answer from {host} within {self.deadline:g} s")

    def close(self) -> None:
        """Close pooled connections."""
        self._clear()
