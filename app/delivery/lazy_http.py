"""An HTTP client made on its first request.

Why: the HTTP stack (requests, urllib3, the TLS setup) is a large part of the tray's memory and
of a command's start, and most of the time nothing is sent: ``status``, ``preview``, the tray at
rest. The senders and the license service hold one of these and pay for the real client only
when they send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # named in annotations only
    from app.model.wire import PreparedRequest


class LazyHttpClient:
    """An ``HttpClient`` made on the first request: ``status``, the tray at rest and ``preview``
    never send, and the HTTP stack (requests, urllib3, TLS) is a large part of the tray's memory.

    Args:
        timeout: the backend's timeout in seconds, as ``HttpClient`` takes it.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        # HttpClient's own (connect, read) for this timeout; a unit test keeps the two the same.
        self.timeout = (min(timeout, 10.0), timeout)
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The real client (made now if needed)."""
        if self._client is None:
            from app.delivery.http import HttpClient

            self._client = HttpClient(self._timeout)
        return self._client

    def send(self, request: PreparedRequest) -> Any:
        """``HttpClient.send``."""
        return self.client.send(request)

    def close(self) -> None:
        """Close the real client if one was made."""
        if self._client is not None:
            self._client.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)  # ``trust``, ``session``: as the real client's
