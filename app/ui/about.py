"""The About box: name, version, where the state and the vendor configuration are."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QKeyEvent
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import NAME, __version__
from app.i18n import _


class AboutWindow(QWidget):
    """Non-modal About window.

    Args:
        product: the vendor's product name.
        state_dir: the state directory (queue, history, logs).
        config: the vendor configuration file in use.
        icon: the application icon.
    """

    def __init__(self, product: str, state_dir: Path, config: Path, icon: QIcon | None = None
                 ) -> None:
        super().__init__(None, Qt.WindowType.Window)
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setText(_("&Close"))
        close.setAccessibleName(_("Close"))
        close.setAccessibleDescription(_("Close this window"))
        close.setDefault(True)
        layout.addWidget(buttons)
        self.resize(520, 240)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape and Enter close the window (Close is its only, default, action)."""
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close()
        else:
            super().keyPressEvent(event)
