"""Qt's ``QNetworkInformation`` as ``NetworkState`` readings, for the worker and ``doctor``.

In the tray's room because it needs Qt; the decision itself is the pure
``app.delivery.network.decide``. Where Qt has no backend for the platform (no NetworkManager on
the session, a minimal container) every reading is "unknown" with no backend named, and the
companion behaves as it did without network awareness.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QNetworkInformation

from app.delivery.network import UNKNOWN_NETWORK, NetworkState, Reachability

_REACHABILITY = {
    QNetworkInformation.Reachability.Online: Reachability.ONLINE,
    QNetworkInformation.Reachability.Disconnected: Reachability.OFFLINE,
    # Connected, but the OS's internet check failed: often a company proxy. Not "offline".
    QNetworkInformation.Reachability.Local: Reachability.UNKNOWN,
    QNetworkInformation.Reachability.Site: Reachability.UNKNOWN,
    QNetworkInformation.Reachability.Unknown: Reachability.UNKNOWN,
}


def to_reachability(value: QNetworkInformation.Reachability) -> Reachability:
    """Qt's reachability in our three words."""
    return _REACHABILITY.get(value, Reachability.UNKNOWN)


class NetworkWatcher(QObject):
    """Loads Qt's default network-information backend and reports each change.

    Signals:
        changed(object): a new ``NetworkState`` (on the thread this object lives in).
    """

    changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._info: QNetworkInformation | None = None
        if QNetworkInformation.loadDefaultBackend():
            self._info = QNetworkInformation.instance()
        if self._info is not None:
            self._info.reachabilityChanged.connect(self._emit)
            self._info.isMeteredChanged.connect(self._emit)

    def state(self) -> NetworkState:
        """The current reading (``UNKNOWN_NETWORK`` without a backend)."""
        info = self._info
        if info is None:
            return UNKNOWN_NETWORK
        metered = info.isMetered() if info.supports(QNetworkInformation.Feature.Metered) else None
        return NetworkState(to_reachability(info.reachability()), metered, info.backendName())

    def _emit(self, *_args: object) -> None:
        self.changed.emit(self.state())


def current_state() -> NetworkState:
    """One reading now, for ``doctor`` on the command line (no event loop needed)."""
    return NetworkWatcher().state()
