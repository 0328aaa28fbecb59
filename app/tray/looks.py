"""Colours that follow the desktop: one variant for light palettes, one for dark ones.

Why two variants: no single colour keeps a contrast of 4.5:1 (WCAG AA for text) against both
a light and a dark window, so each state colour is picked for the palette in use; the tests
compute the ratio of every colour against both palettes' Window and Base colours. Everything
else (text, backgrounds) is left to the palette, so a dark desktop theme just works.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

# name -> (on a light window, on a dark window)
COLOURS: dict[str, tuple[str, str]] = {
    "good": ("#1b5e20", "#81c995"),
    "bad": ("#b71c1c", "#f28b82"),
    "warn": ("#7a4f00", "#fdd663"),
    "muted": ("#555a60", "#bdc1c6"),
    "neutral": ("#424242", "#e0e0e0"),
    "unknown": ("#6d4c41", "#d7ccc8"),
    "banner_text": ("#3b2f00", "#ffe9a8"),
}
# Banner backgrounds (the banner sets its own text colour above, so it stays readable).
BANNER_BACKGROUND = ("#fff4ce", "#3d3100")
BANNER_BORDER = ("#e0c060", "#8a6d00")


def palette_of(widget: QWidget | None = None) -> QPalette:
    """The palette a widget is drawn with (the application's when there is no widget)."""
    if widget is not None:
        return widget.palette()
    return QApplication.palette()


def is_dark(palette: QPalette) -> bool:
    """Whether the window background is dark."""
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def colour(name: str, widget: QWidget | None = None) -> str:
    """A state colour (``good``, ``bad``, ``warn``, ``muted``...) for the palette in use."""
    light, dark = COLOURS[name]
    return dark if is_dark(palette_of(widget)) else light


def banner_style(widget: QWidget | None = None) -> str:
    """The style of a notice banner (DO_NOT_TRACK, consent version changed)."""
    index = 1 if is_dark(palette_of(widget)) else 0
    return (f"QLabel {{ background: {BANNER_BACKGROUND[index]}; "
            f"color: {COLOURS['banner_text'][index]}; border: 1px solid {BANNER_BORDER[index]}; "
            "border-radius: 4px; padding: 8px; }")


def text_style(name: str, widget: QWidget | None = None, *, bold: bool = False,
               top: int = 0) -> str:
    """A QLabel style sheet with a state colour."""
    parts = [f"color: {colour(name, widget)};"]
    if bold:
        parts.append("font-weight: bold;")
    if top:
        parts.append(f"padding-top: {top}px;")
    return "QLabel { " + " ".join(parts) + " }"


def qcolour(name: str, widget: QWidget | None = None) -> QColor:
    """``colour`` as a QColor."""
    return QColor(colour(name, widget))


def dark_palette() -> QPalette:
    """A dark palette (the tests' dark desktop; also what a dark theme looks like to us)."""
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    for r, c in ((role.Window, "#2d2d2d"), (role.WindowText, "#eeeeee"),
                 (role.Base, "#1e1e1e"), (role.AlternateBase, "#2a2a2a"),
                 (role.Text, "#eeeeee"), (role.Button, "#3a3a3a"),
                 (role.ButtonText, "#eeeeee"), (role.ToolTipBase, "#3a3a3a"),
                 (role.ToolTipText, "#eeeeee"), (role.Highlight, "#3d7bd9"),
                 (role.HighlightedText, "#ffffff"), (role.PlaceholderText, "#a0a0a0"),
                 (role.Link, "#8ab4f8"), (role.BrightText, "#ffffff")):
        p.setColor(r, QColor(c))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#808080"))
    return p


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Open at ``width`` x ``height`` or the screen's available area, whichever is smaller
    (a 1366x768 laptop, or any screen at 2x), so the window's buttons are always on it; the
    window scrolls inside rather than growing past the screen."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        width = min(width, max(320, area.width() - 40))
        height = min(height, max(240, area.height() - 60))
    widget.resize(width, height)
