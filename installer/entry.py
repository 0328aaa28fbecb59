"""The frozen executable's entry point: the same ``app.main.main`` as ``license-companion``.

PyInstaller needs a script, not a ``module:function`` reference; keeping it here (not in
``app/``) means the package has no code that only exists for the freezer.
"""

import multiprocessing
import sys

from app.main import main

if __name__ == "__main__":
    # Harmless when unused; without it a frozen Windows build that ever spawns a process re-runs main.
    multiprocessing.freeze_support()
    sys.exit(main())
