"""The one place that talks HTTP: a ``requests`` session per backend, a timeout on every call.

TLS verification is always on; plain http is refused unless the host is loopback (the vendor's
offline receiver, tests). Errors come back as ``TransportError`` with a message free of secrets.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
import urllib3

from app.model.wire import HttpResponse, PreparedRequest
from app.storage.config import is_loopback

MAX_BODY = 1 << 20  # a telemetry answer is small; never read an endless body into memory


class TransportError(Exception):
    """No HTTP answer: refused, reset, timed out, TLS failure. Always retried later."""


class HttpClient:
    """Sends prepared requests exactly as built (no extra default headers).

    Args:
        timeout: (connect, read) seconds for every request.
    """

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = (min(timeout, 10.0), timeout)
        self.session = requests.Session()
        # requests would add its own User-Agent, Accept and Accept-Encoding; the preview promises
        # the headers we built, so start from none (http.client still adds Host/Content-Length).
        self.session.headers.clear()
        # No trust_env: it would also read ~/.netrc (adding an Authorization header the preview
        # never showed) and CA-bundle variables. Proxies from the environment are still honoured,
        # passed explicitly per request below.
        self.session.trust_env = False

    def send(self, request: PreparedRequest) -> HttpResponse:
        """Send one request; raises ``TransportError`` when no HTTP answer arrives."""
        parts = urlsplit(request.url)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and is_loopback(parts.hostname or "")
        ):
            raise TransportError(f"refusing to send over {parts.scheme}:// to {parts.hostname}")
        proxies = requests.utils.get_environ_proxies(request.url)
        try:
            with self.session.request(
                request.method,
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
                verify=True,
                proxies=proxies,
            ) as response:
                body = response.raw.read(MAX_BODY + 1, decode_content=True)
                headers = {k.lower(): v for k, v in response.headers.items()}
                return HttpResponse(response.status_code, body[:MAX_BODY], headers)
        except requests.exceptions.Timeout:
            raise TransportError(f"no answer from {parts.hostname} within {self.timeout[1]:g} s")\
                from None
        except requests.exceptions.SSLError:
            raise TransportError(f"TLS check of {parts.hostname} failed") from None
        except requests.exceptions.ConnectionError:
            raise TransportError(f"cannot connect to {parts.hostname}:{parts.port or ''}") from None
        except urllib3.exceptions.ReadTimeoutError:
            # Raised while reading the body (stream=True), outside requests' own wrapping.
            raise TransportError(f"{parts.hostname} stopped answering in the middle of a response")\
                from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(f"{type(exc).__name__} talking to {parts.hostname}") from None

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()
