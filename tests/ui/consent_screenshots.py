"""The consent window with its plain summary, in English, German and Japanese, as PNG files.

``QT_QPA_PLATFORM=offscreen .venv/bin/python -m tests.ui.consent_screenshots`` rewrites
``docs/screenshots/consent-summary-{en,de,ja}.png``; ``tests/ui/test_consent_screenshots.py``
makes the same pictures in a temporary folder. Everything is real: the shipped vendor
configuration (its texts per language) pointed at the offline test receivers, a companion with
events queued, the window fed by the backends' own ``prepare``. The Japanese text needs a font
with CJK glyphs (fonts-noto-cjk, installed by scripts/install-system-deps.sh).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QApplication

from app.core.wiring import build_companion
from app.receiver import KeyManagerReceiver, TelemetryDeckReceiver, generate_private_key
from app.storage.config import load_config
from app.storage.resources import resources_dir
from app.storage.texts import load_texts
from app.support import i18n
from tests.configs import API_KEY, APP_ID
from tests.ui.conftest import LICENSE, fixed_identity
from tests.ui.controllers import ConsentController

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "screenshots"
LANGUAGES = ("en", "de", "ja")
SIZE = (860, 760)


def shipped_config(path: Path, km_url: str, td_url: str) -> Path:
    """The shipped ``companion.toml`` (its categories and their texts per language), pointed
    at the test receivers."""
    text = (resources_dir() / "companion.toml").read_text(encoding="utf-8")
    for old, new in (
        ('id = ""', 'id = "1"'),
        ('url = ""', f'url = "{km_url}"'),
        ('api_key = ""', f'api_key = "{API_KEY}"'),
        ('url = "https://nom.telemetrydeck.com/v2/"', f'url = "{td_url}"'),
        ('app_id = ""', f'app_id = "{APP_ID}"'),
        ('salt = ""', 'salt = "pepper"'),
    ):
        assert old in text, old
        text = text.replace(old, new, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def make(folder: Path, languages: tuple[str, ...] = LANGUAGES) -> dict[str, tuple[Path, str]]:
    """One screenshot per language in ``folder``; ``{lang: (png, the first tab's summary)}``.
    Usage allowed, the rest undecided, so the summary says what goes and the requests below
    show it."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, tuple[Path, str]] = {}
    with KeyManagerReceiver(api_key=API_KEY, private_key=generate_private_key()) as km, \
            TelemetryDeckReceiver() as td, tempfile.TemporaryDirectory() as tmp:
        config = load_config(shipped_config(Path(tmp) / "cfg" / "companion.toml", km.url,
                                            td.url))
        try:
            for lang in languages:
                i18n.setup(lang)
                QLocale.setDefault(QLocale(lang))
                home = Path(tmp) / f"home-{lang}"
                home.mkdir(mode=0o700)
                companion = build_companion(config, home, license_key=lambda: LICENSE,
                                            identity=fixed_identity, environ={})
                try:
                    companion.track("feature.export", kind="number", value=3)
                    companion.track("feature.export", kind="number", value=5)
                    companion.track("perf.startup", kind="number", value=812)
                    consent = ConsentController(companion, texts=load_texts())
                    window = consent.show()
                    window.resize(*SIZE)
                    window.switch("usage").setChecked(True)
                    window.flush_preview()
                    app.processEvents()
                    path = folder / f"consent-summary-{lang}.png"
                    assert window.grab().save(str(path)), path
                    made[lang] = (path, window.tabs.widget(0).summary.text())
                    window.close()
                    window.deleteLater()
                    app.processEvents()
                finally:
                    companion.close()
        finally:
            i18n.reset()
            QLocale.setDefault(QLocale("en_US"))
    return made


if __name__ == "__main__":
    for written, _summary in make(DOCS).values():
        print(f"wrote {written.relative_to(ROOT)}")
