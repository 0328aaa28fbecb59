"""Shims for the Windows test lane's Wine prefix only (never part of the product).

scripts/test-windows.sh copies this file into the prefix's site-packages. Each shim works around
a Wine 8.0 gap, not a product behaviour (the other one, WMI queries that abort the process, is
handled by removing the interpreter's ``_wmi.pyd``: ``platform`` then reads the registry, and no
module is imported here that the product would not import itself):

* ``_winapi.CopyFile2``: unimplemented in Wine 8 (the process aborts); without it ``shutil``
  copies with its portable read/write loop, as on older Pythons.
"""

import contextlib

with contextlib.suppress(ImportError):
    import _winapi

    if hasattr(_winapi, "CopyFile2"):
        del _winapi.CopyFile2
