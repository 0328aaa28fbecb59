"""The Windows lane's tests: they run only under Windows (scripts/test-windows.sh runs them with
the Windows CPython under Wine). Elsewhere they are not collected at all, because they import
Windows-only modules (``winreg``, ``_winapi``) at the top.
"""

from __future__ import annotations

import sys

if sys.platform != "win32":
    collect_ignore_glob = ["test_*.py", "*/test_*.py"]
