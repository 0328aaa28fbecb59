"""The smallest PySide6 tray app: an icon and a Quit menu. The baseline of the tray figures.

No timer and no signal handler (either would wake it up): SIGTERM ends it the default way.

Run as ``python -m benchmarks.smallest_tray`` (or ``python benchmarks/smallest_tray.py``).
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QMenu, QSystemTrayIcon


def main() -> int:
    app = QApplication(sys.argv)
    app.setQuitOnLastWindowClosed(False)
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor("#2e7d32"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    menu = QMenu()
    quit_action = QAction("Quit", menu)
    quit_action.triggered.connect(app.quit)
    menu.addAction(quit_action)
    tray.setContextMenu(menu)
    tray.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
