"""Test-only owners for the consent and history windows: they call a ``Companion`` directly.

The product feeds the windows through its worker (off the GUI thread; app/tray/windows.py). These
adapters answer the same signals at once on the calling thread, so the window tests need no
worker thread. They would block a real GUI on disk and keyring, which is why they live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from app.core import summary
from app.core.commands import export_history
from app.core.consent_view import version_changed
from app.model.consent import Choice
from app.storage.texts import Texts, load_texts
from app.tray.consent_window import ConsentWindow
from app.tray.history_window import HistoryWindow
from app.tray.qt_emit import emit

if TYPE_CHECKING:
    from app.core.companion import Companion


class ConsentController(QObject):
    """Wires a ``ConsentWindow`` to a ``Companion`` on the GUI thread.

    Args:
        companion: the service object.
        window: the window to drive (a new one with the default texts when None).
        texts: texts for a new window.
        limit: at most this many requests per backend in the preview.

    Signals:
        applied(dict, int): a decision was stored; the decision and how many queued events
            the denied categories lost.
    """

    applied = Signal(dict, int)

    def __init__(
        self,
        companion: Companion,
        window: ConsentWindow | None = None,
        texts: Texts | None = None,
        limit: int = 20,
    ) -> None:
        super().__init__()
        self.companion = companion
        self.limit = limit
        self.window = window or ConsentWindow(
            texts or load_texts(), companion.config.product.name
        )
        self.window.previewWanted.connect(self.on_preview_wanted)
        self.window.decided.connect(self.on_decided)

    def refresh(self) -> None:
        """Load the categories and stored decisions into the window and preview them now."""
        policy = self.companion.consent
        self.window.set_categories(
            policy.states(), policy.do_not_track,
            version_changed=version_changed(self.companion),
            version=self.companion.config.consent.version,
        )
        self.window.flush_preview()

    def show(self) -> ConsentWindow:
        """Fill and show the window (non-modal); returns it."""
        self.refresh()
        self.window.show()
        return self.window

    def on_preview_wanted(self, granted: list, reveal: bool) -> None:
        """Answer the window with the backends' own requests for these hypothetical grants."""
        previews = self.companion.preview(reveal=reveal, limit=self.limit, granted=list(granted))
        self.window.set_preview(previews, summary.summaries(self.companion, previews))

    def on_decided(self, decision: dict) -> None:
        """Store the decision; denied categories lose their queued events at once."""
        grant = [c for c, v in decision.items() if v == Choice.GRANTED.value]
        deny = [c for c, v in decision.items() if v == Choice.DENIED.value]
        deleted = 0
        if grant:
            self.companion.grant(grant)
        if deny:
            _ids, deleted = self.companion.revoke(deny)
        self.refresh()
        emit(self.applied, dict(decision), deleted)


class HistoryController(QObject):
    """Wires a ``HistoryWindow`` to a ``Companion`` on the GUI thread.

    Args:
        companion: the service object.
        window: the window to drive (a new one with the default texts when None).
        texts: texts for a new window.
    """

    def __init__(
        self, companion: Companion, window: HistoryWindow | None = None, texts: Texts | None = None
    ) -> None:
        super().__init__()
        self.companion = companion
        self.window = window or HistoryWindow(
            texts or load_texts(), companion.config.product.name
        )
        self.window.refreshWanted.connect(self.refresh)
        self.window.exportWanted.connect(self.export)

    def export(self, path: str) -> None:
        """Write the whole history to ``path`` as ``history --json`` prints it."""
        self.window.export_done(export_history(self.companion, path))

    def refresh(self) -> None:
        """Load the history (newest first) into the window."""
        self.window.set_entries(self.companion.history())

    def show(self) -> HistoryWindow:
        """Fill and show the window; returns it."""
        self.refresh()
        self.window.show()
        return self.window
