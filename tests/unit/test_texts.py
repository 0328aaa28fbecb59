"""The translatable texts: English fallback, and every key the windows use exists in en.toml."""

from __future__ import annotations

import re
from pathlib import Path

from app.storage.texts import load_texts
from app.support import i18n
from tools.i18n_catalog import Entry, write_mo

UI = Path(__file__).resolve().parents[2] / "app" / "tray"


def test_unknown_language_falls_back_to_english():
    texts = load_texts("xx")
    assert texts.language == "en"
    assert texts("consent.allow_all") == "Allow &all"


def test_a_partial_catalog_falls_back_per_message(tmp_path):
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    entries = [Entry("Allow &all", "consent.allow_all", strings=["A&lle erlauben"]),
               Entry("Choose what {product} may send. Nothing in a category is sent until you "
                     "allow it. Below you see the exact requests, built by the same code that "
                     "sends them.", "consent.intro", strings=["{unknown} kaputt"])]
    (folder / f"{i18n.DOMAIN}.mo").write_bytes(write_mo("Language: de\n", entries))
    try:
        assert i18n.setup("de_AT", folder=tmp_path) == "de"
        texts = load_texts()
        assert texts("consent.allow_all") == "A&lle erlauben"
        assert texts("consent.deny_all") == "&Deny all"  # not translated: English
        # a translator's broken placeholder shows the English text, never crashes
        assert texts("consent.intro", product="X").startswith("Choose what X may send")
    finally:
        i18n.reset()


def test_a_broken_catalog_is_ignored(tmp_path):
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / f"{i18n.DOMAIN}.mo").write_bytes(b"not a catalog")
    try:
        assert i18n.setup("fr", folder=tmp_path) == "en"
        assert load_texts()("consent.allow_all") == "Allow &all"
    finally:
        i18n.reset()


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
