"""The frozen executable's entry point: the same ``app.main.main`` as ``license-companion``.

PyInstaller needs a script, not a ``module:function`` reference; keeping it here (not in
``app/``) means the package has no code that only exists for the freezer.
"""

import sys

from app.main import main

if __name__ == "__main__":
    if sys.platform == "win32":
        # Without it a frozen Windows build that ever spawns a process re-runs main. Elsewhere
        # the import alone would cost every start ~15 ms (and the app never spawns one).
        import multiprocessing

        multiprocessing.freeze_support()
    sys.exit(main())
