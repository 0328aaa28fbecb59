"""The QNetworkInformation adapter on this machine (whatever backend Qt finds, or none)."""

from __future__ import annotations

from PySide6.QtNetwork import QNetworkInformation

from app.delivery.network import NetworkState, Reachability, decide_for
from app.tray.netinfo import NetworkWatcher, to_reachability


def test_mapping_never_turns_a_failed_internet_check_into_offline():
    R = QNetworkInformation.Reachability
    assert to_reachability(R.Online) is Reachability.ONLINE
    assert to_reachability(R.Disconnected) is Reachability.OFFLINE
    for value in (R.Local, R.Site, R.Unknown):
        assert to_reachability(value) is Reachability.UNKNOWN


def test_a_reading_here(qapp):
    watcher = NetworkWatcher()
    state = watcher.state()
    assert isinstance(state, NetworkState)
    if not state.backend:  # no backend on this machine: behave as without network awareness
        assert state.reachability is Reachability.UNKNOWN and state.metered is None
        assert decide_for(state, allow_metered=False).send
    else:
        assert state.backend == QNetworkInformation.instance().backendName()


def test_one_reading_for_doctor_without_an_event_loop():
    from app.tray.netinfo import current_state

    assert isinstance(current_state(), NetworkState)
