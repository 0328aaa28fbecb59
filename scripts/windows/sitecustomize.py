"""Shims for the Windows test lane's Wine prefix only (never part of the product).

scripts/test-windows.sh copies this file into the prefix's site-packages. Each shim works around
a Wine 8.0 gap, not a product behaviour:

* ``platform._wmi_query``: WMI queries abort the process under Wine 8 (a missing
  ``propsys.VariantToString``); without it ``platform`` reads the version from the registry,
  as it does on Windows versions without WMI.
* ``_winapi.CopyFile2``: unimplemented in Wine 8 (the process aborts); without it ``shutil``
  copies with its portable read/write loop, as on older Pythons.
"""

import contextlib

with contextlib.suppress(ImportError):
    import platform

    def _no_wmi(*_args: object, **_kwargs: object) -> object:
        raise OSError("WMI is not available in this Wine prefix")

    platform._wmi_query = _no_wmi  # type: ignore[attr-defined]

with contextlib.suppress(ImportError):
    import _winapi

    if hasattr(_winapi, "CopyFile2"):
        del _winapi.CopyFile2
