"""The About box: name, version, where the state and the vendor configuration are."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from app import NAME, __version__


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
        self.setWindowTitle(f"About {NAME}")
        if icon is not None:
            self.setWindowIcon(icon)
        layout = QVBoxLayout(self)
        text = QLabel(
            f"<h2>{html.escape(NAME)} {html.escape(__version__)}</h2>"
            f"<p>Keeps your license key for <b>{html.escape(product)}</b> in your system's "
            "keyring and sends only the usage data you agreed to.</p>"
            f"<p>State and logs: <code>{html.escape(str(state_dir))}</code><br>"
            f"Vendor configuration: <code>{html.escape(str(config))}</code></p>"
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)
        self.resize(520, 240)
