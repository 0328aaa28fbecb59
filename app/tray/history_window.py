"""The History window: every request that left the machine, what came of it, and an export.

Data-driven like the consent window: the owner calls ``set_entries`` with ``Companion.history()``
and answers ``refreshWanted``. The export is the owner's too (``exportWanted``): it writes the
whole history, exactly what ``history --json`` prints, not just the entries shown here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QDateTime, QLocale, Qt, Signal
from PySide6.QtGui import QBrush, QFontDatabase, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.consent_view import event_names_text
from app.core.preview import render
from app.core.results import HistoryExport
from app.model.text import printable
from app.storage.history import HistoryEntry
from app.storage.texts import Texts
from app.support.i18n import _
from app.tray import looks
from app.tray.qt_emit import emit

COLUMNS = ("time", "backend", "categories", "events", "outcome", "http", "message", "signature")
OUTCOME_KEYS = ("delivered", "flagged", "rejected", "retry", "blocked", "split", "dropped")
SIGNATURE_KEYS = {"valid": "valid", "invalid": "invalid", "unsigned": "unsigned",
                  "not-checked": "not_checked", "n/a": "na"}
OUTCOME_COLOURS = {"delivered": "good", "flagged": "warn", "rejected": "bad", "blocked": "bad",
                   "dropped": "warn"}


def _when(ts: float) -> str:
    """Date and time in ISO 8601 order (``2026-12-07 10:02:17``): never ambiguous, in any
    locale ("12/7/26" reads as July in most of the world)."""
    moment = QDateTime.fromMSecsSinceEpoch(int(ts * 1000))
    return moment.toString("yyyy-MM-dd HH:mm:ss")


def _message(entry: HistoryEntry) -> str:
    """The outcome's words without the HTTP status the column beside it already shows."""
    message = entry.message
    prefix = f"HTTP {entry.http_status}" if entry.http_status else ""
    if prefix and message == prefix:
        return ""
    if prefix and message.startswith(prefix + ": "):
        return message[len(prefix) + 2:]
    return message


def _events(entry: HistoryEntry) -> str:
    """The number of events, then their names (``3: feature.export ×2, app.start``)."""
    names = printable(event_names_text(entry.event_names))
    count = QLocale().toString(entry.event_count)
    return f"{count}: {names}" if names else count


class HistoryWindow(QWidget):
    """Non-modal window listing what was sent, newest first, with filters and details.

    Args:
        texts: the user-visible texts (``resources/texts/<lang>.toml``).
        product: the product's name, for the title.
        parent: optional parent widget (the window stays a top-level window).

    Signals:
        refreshWanted(): the user asked for fresh data; the owner calls ``set_entries``.
        exportWanted(str): the user chose a file to export to; the owner writes the *whole*
            history there (not just the entries loaded here) and calls ``export_done``.
    """

    refreshWanted = Signal()
    exportWanted = Signal(str)

    def __init__(self, texts: Texts, product: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.texts = texts
        texts.number = lambda n: QLocale().toString(n)
        self.setObjectName("history-window")
        self.setWindowTitle(texts("history.window_title", product=product or _("this product")))
        looks.fit_to_screen(self, 1100, 640)
        self._entries: list[HistoryEntry] = []
        # Asks where to save; replaced in tests so no modal dialog opens.
        self.ask_export_path: Callable[[], str] = self._ask_export_path

        outer = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.backend_filter = QComboBox()
        self.backend_filter.setObjectName("backend-filter")
        self.outcome_filter = QComboBox()
        self.outcome_filter.setObjectName("outcome-filter")
        for label_key, combo in (("history.filter_backend", self.backend_filter),
                                 ("history.filter_outcome", self.outcome_filter)):
            label = QLabel(texts(label_key))
            label.setBuddy(combo)
            combo.setAccessibleName(texts(label_key).replace("&", "").rstrip(":： "))
            bar.addWidget(label)
            combo.setMinimumContentsLength(14)
            bar.addWidget(combo)
            bar.addSpacing(12)
        self.outcome_filter.addItem(texts("history.all"), "")
        for key in OUTCOME_KEYS:
            self.outcome_filter.addItem(texts(f"history.outcome_{key}"), key)
        bar.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setObjectName("count")
        self.count_label.setAccessibleName(texts("history.table_name"))
        bar.addWidget(self.count_label)
        self.refresh_button = QPushButton(texts("history.refresh"))
        self.refresh_button.setObjectName("refresh")
        self.refresh_button.clicked.connect(self.refreshWanted)
        self.refresh_button.setToolTip(texts("history.refresh_tooltip"))
        self.refresh_button.setAccessibleName(texts("history.refresh").replace("&", ""))
        self.refresh_button.setAccessibleDescription(texts("history.refresh_tooltip"))
        bar.addWidget(self.refresh_button)
        self.export_button = QPushButton(texts("history.export"))
        self.export_button.setObjectName("export")
        self.export_button.clicked.connect(self._on_export)
        self.export_button.setToolTip(texts("history.export_tooltip"))
        self.export_button.setAccessibleName(texts("history.export").replace("&", ""))
        self.export_button.setAccessibleDescription(texts("history.export_tooltip"))
        bar.addWidget(self.export_button)
        outer.addLayout(bar)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("history-table")
        self.table.setAccessibleName(texts("history.table_name"))
        self.table.setAccessibleDescription(texts("history.table_description"))
        self.table.setHorizontalHeaderLabels([texts(f"history.col_{c}") for c in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab moves on to the details, arrows move rows
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setAccessibleName(texts("history.table_name"))
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("message"), QHeaderView.ResizeMode.Stretch)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_details(row))
        splitter.addWidget(self.table)

        details_box = QWidget()
        details_layout = QVBoxLayout(details_box)
        details_layout.setContentsMargins(0, 0, 0, 0)
        heading = QLabel(texts("history.details_heading"))
        heading.setStyleSheet("QLabel { font-weight: bold; }")
        details_layout.addWidget(heading)
        self.details = QPlainTextEdit()
        self.details.setObjectName("details")
        self.details.setAccessibleName(texts("history.details_heading"))
        heading.setBuddy(self.details)
        self.details.setReadOnly(True)
        self.details.setTabChangesFocus(True)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        details_layout.addWidget(self.details)
        splitter.addWidget(details_box)
        splitter.setSizes([420, 180])
        outer.addWidget(splitter, 1)
        self.empty_label = QLabel(texts("history.empty"))
        self.empty_label.setObjectName("empty")
        self.empty_label.setAccessibleName(texts("history.empty"))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        outer.addWidget(self.empty_label)
        self.status_label = QLabel()
        self.status_label.setObjectName("status")
        self.status_label.setAccessibleName(texts("history.details_heading"))
        outer.addWidget(self.status_label)
        # Connected last: filling the combo boxes above must not filter a table not yet built.
        self.backend_filter.currentIndexChanged.connect(self._apply_filter)
        self.outcome_filter.currentIndexChanged.connect(self._apply_filter)

    # data in ---------------------------------------------------------------------------

    def set_entries(self, entries: Sequence[HistoryEntry]) -> None:
        """Show these entries (newest first), keeping the filters the user chose."""
        self._entries = list(entries)
        wanted = self.backend_filter.currentData() or ""
        self.backend_filter.blockSignals(True)
        self.backend_filter.clear()
        self.backend_filter.addItem(self.texts("history.all"), "")
        for name in sorted({e.backend for e in self._entries}):
            self.backend_filter.addItem(name, name)
        index = self.backend_filter.findData(wanted)
        self.backend_filter.setCurrentIndex(max(index, 0))
        self.backend_filter.blockSignals(False)

        self.table.setRowCount(len(self._entries))
        for row, entry in enumerate(self._entries):
            for column, text in enumerate(self._cells(entry)):
                item = QTableWidgetItem(text)
                if COLUMNS[column] == "outcome" and entry.verdict in OUTCOME_COLOURS:
                    item.setData(Qt.ItemDataRole.ForegroundRole,
                                 _colour(OUTCOME_COLOURS[entry.verdict], self))
                if COLUMNS[column] == "signature" and entry.signature == "invalid":
                    item.setData(Qt.ItemDataRole.ForegroundRole, _colour("bad", self))
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.empty_label.setVisible(not self._entries)
        self._apply_filter()

    def visible_entries(self) -> list[HistoryEntry]:
        """The entries the filters let through, in table order."""
        return [e for row, e in enumerate(self._entries) if not self.table.isRowHidden(row)]

    def export_done(self, result: HistoryExport) -> None:
        """Say where the export went, or why it failed."""
        self.export_button.setEnabled(True)
        if result.error:
            self.status_label.setText(
                self.texts("history.export_failed", path=printable(result.path),
                           error=printable(result.error)))
        else:
            self.status_label.setText(
                self.texts("history.exported", count=result.count, path=result.path))

    # internals ------------------------------------------------------------------------

    def _cells(self, entry: HistoryEntry) -> list[str]:
        http = str(entry.http_status) if entry.http_status else "—"
        if entry.code is not None:
            http += f" / {entry.code}"
        outcome = self.texts(f"history.outcome_{entry.verdict}")
        if entry.verdict == "flagged" and entry.code is not None:
            outcome += f" ({entry.code})"
        signature = self.texts(f"history.signature_{SIGNATURE_KEYS.get(entry.signature, 'na')}")
        return [
            _when(entry.at),
            printable(entry.backend),
            printable(", ".join(entry.categories)),
            _events(entry),
            outcome,
            http,
            printable(_message(entry)),
            signature,
        ]

    def _apply_filter(self) -> None:
        backend = self.backend_filter.currentData() or ""
        outcome = self.outcome_filter.currentData() or ""
        shown = 0
        for row, entry in enumerate(self._entries):
            hide = bool(backend and entry.backend != backend) or bool(
                outcome and entry.verdict != outcome
            )
            self.table.setRowHidden(row, hide)
            shown += not hide
        self.count_label.setText(self.texts("history.shown", shown=shown,
                                            total=len(self._entries)))
        first = next((r for r in range(len(self._entries)) if not self.table.isRowHidden(r)), -1)
        if first >= 0 and (self.table.currentRow() < 0 or self.table.isRowHidden(
                self.table.currentRow())):
            self.table.setCurrentCell(first, 0)
        self._show_details(self.table.currentRow() if first >= 0 else -1)

    def _show_details(self, row: int) -> None:
        if not 0 <= row < len(self._entries) or self.table.isRowHidden(row):
            self.details.setPlainText("")
            return
        entry = self._entries[row]
        cells = dict(zip(COLUMNS, self._cells(entry), strict=True))
        lines = [f"{self.texts(f'history.col_{c}')}: {cells[c]}" for c in COLUMNS]
        lines.append("")
        if entry.errors:
            lines.append(self.texts("history.server_errors"))
            lines.append(json.dumps(entry.errors, indent=2, ensure_ascii=False))
        else:
            lines.append(self.texts("history.no_errors"))
        lines.append("")
        if entry.request is not None:  # as it was sent, secrets masked
            lines += [self.texts("history.request_sent"), render(entry.request)]
        else:
            lines.append(self.texts("history.request_not_kept"))
        self.details.setPlainText(printable("\n".join(lines), keep_newlines=True))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape closes the window (keys a child did not use end up here)."""
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        else:
            super().keyPressEvent(event)

    def _ask_export_path(self) -> str:
        path, _filter = QFileDialog.getSaveFileName(
            self, self.texts("history.export_title"), "history.json", "JSON (*.json)"
        )
        return path

    def _on_export(self) -> None:
        chosen = self.ask_export_path()
        if not chosen:
            return
        self.export_button.setEnabled(False)  # until export_done
        emit(self.exportWanted, str(Path(chosen)))


def _colour(name: str, widget: QWidget) -> QBrush:
    return QBrush(looks.qcolour(name, widget))
