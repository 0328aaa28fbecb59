"""The About box: name, version, where things are, and ``doctor``'s report with "Copy report".

The window only shows a report it is given: whoever owns it (``app.tray.windows``) answers
``reportWanted`` by running the checks on the worker thread (``WorkerController.run``), never
on the GUI thread, since they wait for the network and the keyring.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app import NAME, __version__
from app.storage.texts import Texts, load_texts
from app.support.i18n import _
from app.tray import looks
from app.tray.qt_emit import emit


class AboutWindow(QWidget):
    """Non-modal About window.

    Args:
        product: the vendor's product name.
        state_dir: the state directory (queue, history, logs).
        config: the vendor configuration file in use.
        icon: the application icon.
        texts: the user-visible texts (default: the system language's).

    Signals:
        reportWanted(): the window wants a fresh report; answer with ``set_report``.
    """

    reportWanted = Signal()

    def __init__(self, product: str, state_dir: Path, config: Path, icon: QIcon | None = None,
                 texts: Texts | None = None) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.texts = texts or load_texts()
        self.setObjectName("about-window")
        self.setWindowTitle(_("About {name}").format(name=NAME))
        if icon is not None:
            self.setWindowIcon(icon)
        layout = QVBoxLayout(self)
        keeps = _("Keeps your license key for {product} in your system's keyring and sends only "
                  "the usage data you agreed to.")
        state = _("State and logs: {path}")
        vendor = _("Vendor configuration: {path}")
        text = QLabel(
            f"<h2>{html.escape(NAME)} {html.escape(__version__)}</h2>"
            f"<p>{html.escape(keeps).replace('{product}', '<b>{product}</b>')}</p>"
            f"<p>{html.escape(state)}<br>{html.escape(vendor)}</p>"
        )
        text.setText(text.text().replace("{product}", html.escape(product), 1)
                     .replace("{path}", f"<code>{html.escape(str(state_dir))}</code>", 1)
                     .replace("{path}", f"<code>{html.escape(str(config))}</code>", 1))
        text.setObjectName("about-text")
        text.setAccessibleName(self.windowTitle())
        text.setAccessibleDescription(
            " ".join((keeps.format(product=product), state.format(path=state_dir),
                      vendor.format(path=config))))
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(text)
        heading = QLabel(self.texts("about.report_heading"))
        layout.addWidget(heading)
        self.report = QPlainTextEdit()
        self.report.setObjectName("doctor-report")
        self.report.setReadOnly(True)
        self.report.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report.setAccessibleName(heading.text())
        heading.setBuddy(self.report)
        layout.addWidget(self.report, 1)
        row = QHBoxLayout()
        self.copy_button = QPushButton(self.texts("about.copy_report"))
        self.copy_button.setObjectName("copy-report")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_report)
        self.rerun_button = QPushButton(self.texts("about.rerun"))
        self.rerun_button.setObjectName("rerun-report")
        self.rerun_button.clicked.connect(self.ask_report)
        self.copied = QLabel()
        row.addWidget(self.copy_button)
        row.addWidget(self.rerun_button)
        row.addWidget(self.copied, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setText(_("&Close"))
        close.setAccessibleName(_("Close"))
        close.setAccessibleDescription(_("Close this window"))
        self.close_button = close
        for button in (self.copy_button, self.rerun_button):
            button.setAccessibleName(button.text().replace("&", ""))
        self.copy_button.setAccessibleDescription(self.texts("about.copy_report_tooltip"))
        self.copy_button.setToolTip(self.texts("about.copy_report_tooltip"))
        self.rerun_button.setAccessibleDescription(self.texts("about.rerun_tooltip"))
        self.rerun_button.setToolTip(self.texts("about.rerun_tooltip"))
        self.report.setAccessibleDescription(self.texts("about.copy_report_tooltip"))
        self.copied.setObjectName("copied")
        self.copied.setAccessibleName(self.texts("about.copied"))
        row.addWidget(buttons)
        layout.addLayout(row)
        self.report_text = ""
        looks.fit_to_screen(self, 820, 620)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape closes; Enter presses the focused button, or else Close."""
        if event.key() == Qt.Key.Key_Escape:
            self.close()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            focused = self.focusWidget()
            if isinstance(focused, QPushButton) and focused.isEnabled():
                focused.click()
            else:
                self.close()
        else:
            super().keyPressEvent(event)

    def ask_report(self) -> None:
        """Show "Checking…" and ask the owner for a report."""
        self.report.setPlainText(self.texts("about.report_running"))
        self.copy_button.setEnabled(False)
        self.rerun_button.setEnabled(False)
        self.copied.clear()
        emit(self.reportWanted)

    def set_report(self, text: str) -> None:
        """Show the report (``DoctorReport.to_text``); "Copy report" copies exactly this."""
        self.report_text = text
        self.report.setPlainText(text)
        self.copy_button.setEnabled(True)
        self.rerun_button.setEnabled(True)

    def set_report_failed(self, error: str) -> None:
        """The checks could not run at all (the worker is gone, say)."""
        self.report_text = ""
        self.report.setPlainText(self.texts("about.report_failed", error=error))
        self.rerun_button.setEnabled(True)

    def copy_report(self) -> None:
        """Put the report on the clipboard, for the user to paste to support."""
        if self.report_text:
            QGuiApplication.clipboard().setText(self.report_text)
            self.copied.setText(self.texts("about.copied"))
