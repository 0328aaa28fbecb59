"""The tray's icons: one per state, drawn as SVG and shipped as PNGs in ``resources/icons``.

Each state has its own outline, not only its own colour, so colour-blind users tell them
apart: OK a circle with a check, sending a diamond with an arrow, attention a triangle with
"!", paused a square with two bars; the tooltip says the same in words.

PNGs (rendered from the SVGs at 16-128 px) rather than the SVGs themselves, so the icons do not
depend on Qt's SVG icon-engine plugin, which the frozen build may leave out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QIcon

from app.storage.resources import resources_dir

if TYPE_CHECKING:  # the tray's first icon is drawn before the service layer is imported
    from app.core.tray_state import Level

SIZES = (16, 22, 24, 32, 44, 48, 64, 128, 256)  # 44, 256: 2x of 22, 128


class Icons:
    """Loads the icons once.

    Args:
        folder: where ``ok-22.png`` etc. live (default: ``resources/icons``).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or resources_dir() / "icons"
        self._cache: dict[str, QIcon] = {}

    def named(self, name: str) -> QIcon:
        """``ok``, ``sending``, ``attention``, ``paused`` or ``app``."""
        icon = self._cache.get(name)
        if icon is None:
            icon = QIcon()
            for size in SIZES:
                path = self.folder / f"{name}-{size}.png"
                if path.is_file():
                    icon.addFile(str(path))
            self._cache[name] = icon
        return icon

    def for_level(self, level: Level) -> QIcon:
        """The tray icon for a state."""
        return self.named(level.value)

    def app(self) -> QIcon:
        """The application's own icon (windows, About)."""
        return self.named("app")
