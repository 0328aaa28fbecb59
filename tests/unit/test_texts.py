"""The translatable texts: English fallback, and every key the windows use exists in en.toml."""

from __future__ import annotations

import re
from pathlib import Path

from app.storage.resources import resources_dir
from app.storage.texts import load_texts

UI = Path(__file__).resolve().parents[2] / "app" / "ui"


def test_unknown_language_falls_back_to_english():
    texts = load_texts("xx")
    assert texts.language == "en"
    assert texts("consent.allow_all") == "Allow &all"


def test_a_partial_translation_falls_back_per_key(tmp_path):
    english = (resources_dir() / "texts" / "en.toml").read_text(encoding="utf-8")
    (tmp_path / "en.toml").write_text(english, encoding="utf-8")
    (tmp_path / "de.toml").write_text('[consent]\nallow_all = "&Alle erlauben"\n'
                                      'intro = "{unknown} kaputt"\n', encoding="utf-8")
    texts = load_texts("de_AT", tmp_path)
    assert texts.language == "de"
    assert texts("consent.allow_all") == "&Alle erlauben"
    assert texts("consent.deny_all") == "&Deny all"  # not translated yet: English
    assert texts("consent.intro", product="X") == "{unknown} kaputt"  # typo does not crash


def test_a_broken_translation_is_ignored(tmp_path):
    (tmp_path / "en.toml").write_text('[a]\nb = "B"\n', encoding="utf-8")
    (tmp_path / "fr.toml").write_text("not = [toml", encoding="utf-8")
    assert load_texts("fr", tmp_path)("a.b") == "B"


def test_every_key_the_windows_use_is_in_the_english_file():
    texts = load_texts("en")
    used = set()
    for source in UI.glob("*.py"):
        used |= set(re.findall(r'texts\(\s*"([a-z_]+\.[a-z_]+)"', source.read_text()))
        used |= {f"history.outcome_{k}" for k in ("delivered", "flagged", "rejected", "retry",
                                                   "blocked", "split")}
        used |= {f"history.col_{c}" for c in ("time", "backend", "categories", "events",
                                              "outcome", "http", "message", "signature")}
    assert len(used) > 30
    missing = sorted(key for key in used if texts(key) == key)
    assert missing == []
