"""Run-time hook of the frozen build: where Qt finds its plugins, without loading Qt.

It replaces PyInstaller's own PySide6 hook, which also imports ``PySide6.QtCore`` at every start
to create an embedded ``qt.conf`` when the bindings did not: PySide6's wheels create it
themselves, and importing Qt there cost every command-line call (``track`` from a host
application) about 0.1 s of CPU for a library it never uses. Qt is loaded when the tray or
``--self-test`` imports it, and finds its plugins through this variable.
"""

import os
import sys

os.environ["QT_PLUGIN_PATH"] = os.path.join(
    sys._MEIPASS, "PySide6", *([] if sys.platform.startswith("win") else ["Qt"]), "plugins")
