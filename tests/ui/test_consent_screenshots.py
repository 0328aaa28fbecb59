"""The consent window's screenshots in en, de and ja (docs/screenshots/ is made the same way by
``python -m tests.ui.consent_screenshots``): each shows the plain summary in its language,
category titles included, drawn with real glyphs."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontDatabase, QImage

from tests.ui.consent_screenshots import DOCS, LANGUAGES, make

pytestmark = pytest.mark.timeout(120)


def test_the_summary_screenshots_in_three_languages(qapp, tmp_path):
    made = make(tmp_path)
    assert set(made) == set(LANGUAGES)
    summaries = {lang: text for lang, (_path, text) in made.items()}
    assert "2 events from Example Product go to 127.0.0.1" in summaries["en"]
    assert "Feature usage" in summaries["en"]
    assert "2 Ereignisse von Example Product gehen an 127.0.0.1" in summaries["de"]
    assert "Funktionsnutzung" in summaries["de"] and "Feature usage" not in summaries["de"]
    assert "機能の使用状況" in summaries["ja"] and "Feature usage" not in summaries["ja"]
    for _lang, (path, _text) in made.items():
        image = QImage(str(path))
        assert image.width() >= 800 and image.height() >= 700
    for lang in LANGUAGES:  # the committed pictures exist and are real images
        assert not QImage(str(DOCS / f"consent-summary-{lang}.png")).isNull(), lang


def test_a_font_with_japanese_glyphs_is_installed(qapp):
    # Without one (fonts-noto-cjk) the Japanese screenshot shows boxes instead of text.
    families = QFontDatabase.families(QFontDatabase.WritingSystem.Japanese)
    assert families, "install fonts-noto-cjk (scripts/install-system-deps.sh)"
