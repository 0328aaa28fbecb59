"""Every desktop look: state colours readable on light and dark palettes, screenshots in the
light and a dark palette, at 2x, and in German and Japanese, with no clipped text."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QLocale
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QStyleFactory, QWidget

from app.support import i18n
from app.tray import looks
from tests.ui.artifacts import REPO, save_screenshot, screenshot_dir
from tests.ui.window_kit import build_windows, close_all, license_window

pytestmark = pytest.mark.timeout(120)


def luminance(colour: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    return (0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF()))


def contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def light_palette() -> QPalette:
    return QStyleFactory.create("Fusion").standardPalette()


def test_contrast_math_is_wcag():
    assert round(contrast(QColor("#000000"), QColor("#ffffff")), 1) == 21.0
    assert round(contrast(QColor("#777777"), QColor("#ffffff")), 2) == 4.48


@pytest.mark.parametrize("dark", [False, True])
def test_every_state_colour_keeps_4_5_to_1_on_window_and_base(qapp, dark):
    palette = looks.dark_palette() if dark else light_palette()
    assert looks.is_dark(palette) is dark
    for name, variants in looks.COLOURS.items():
        colour = QColor(variants[1 if dark else 0])
        for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
            ratio = contrast(colour, palette.color(role))
            assert ratio >= 4.5, (name, "dark" if dark else "light", role, round(ratio, 2))
        banner = QColor(looks.BANNER_BACKGROUND[1 if dark else 0])
        assert contrast(QColor(looks.COLOURS["banner_text"][1 if dark else 0]), banner) >= 4.5


def clipped(window) -> list[str]:
    """Labels and buttons whose text does not fit (non-wrapping text wider than the widget)."""
    found = []
    for widget in window.findChildren(QWidget):
        if not isinstance(widget, (QLabel, QAbstractButton)):
            continue
        if not widget.isVisibleTo(window) or not widget.text():
            continue
        if isinstance(widget, QLabel) and (widget.wordWrap() or "<" in widget.text()):
            continue
        if widget.width() + 1 < widget.minimumSizeHint().width():
            found.append(f"{type(widget).__name__} {widget.text()[:40]!r} "
                         f"{widget.width()} < {widget.minimumSizeHint().width()}")
    return found


@pytest.fixture()
def dressed(qtbot, tmp_path, home, km, td):
    """build(lang, dark) -> the four windows in that language and palette."""
    made = []
    app = QApplication.instance()
    before = app.palette()

    def build(lang: str, dark: bool = False):
        i18n.setup(lang)
        QLocale.setDefault(QLocale(lang))
        app.setPalette(looks.dark_palette() if dark else light_palette())
        windows = build_windows(tmp_path / f"{lang}-{dark}", home, km.url, td.url)
        for window in windows.values():
            qtbot.addWidget(window)
            qtbot.waitExposed(window)
        made.append(windows)
        return windows

    yield build
    for windows in made:
        close_all(windows)
    app.setPalette(before)
    QLocale.setDefault(QLocale("en_US"))
    i18n.reset()


@pytest.mark.parametrize(("lang", "dark"), [("en", False), ("en", True), ("de", False),
                                            ("ja", False)])
def test_screenshots_without_clipped_text(dressed, lang, dark):
    windows = dressed(lang, dark)
    look = "dark" if dark else "light"
    names = ("consent", "license", "history", "about") if lang == "en" else ("consent", "license")
    windows["consent"].dnt_banner.show()  # to see the banner's colours in each look
    for name in names:
        window = windows[name]
        path = save_screenshot(window, f"look-{name}-{lang}-{look}")
        assert path.exists()
        assert clipped(window) == [], (name, lang)
    if lang != "en":
        assert windows["consent"].windowTitle() != "What Example Product sends — your choice"


def test_the_dark_palette_reaches_the_state_colours(dressed):
    windows = dressed("en", True)
    assert looks.colour("good", windows["license"]) == looks.COLOURS["good"][1]
    assert looks.COLOURS["good"][1] in windows["license"].status_label.text()


def test_the_clipping_check_catches_a_clipped_label(qtbot, qapp):
    window = license_window()
    qtbot.addWidget(window)
    window.show()
    window.product_label.setText("Donaudampfschifffahrtsgesellschaftskapitän" * 4)
    window.resize(200, 200)
    QApplication.processEvents()
    window.product_label.setMinimumWidth(0)
    window.product_label.setFixedWidth(60)
    assert clipped(window) != []


SCALED = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.support import i18n
from tests.ui.window_kit import license_window
from tests.ui.artifacts import save_screenshot
for lang in ("en", "ja"):
    i18n.setup(lang)
    window = license_window()
    window.show()
    app.processEvents()
    assert window.devicePixelRatio() == 2.0, window.devicePixelRatio()
    image = window.grab()
    assert image.devicePixelRatio() == 2.0
    save_screenshot(window, f"look-license-{lang}-2x")
print("ok")
"""


def test_screenshots_at_twice_the_scale():
    env = {**os.environ, "QT_SCALE_FACTOR": "2", "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SCALED], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=90)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]
    assert (screenshot_dir() / "look-license-ja-2x.png").stat().st_size > 1000
