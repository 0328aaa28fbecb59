"""The catalogs: complete, placeholders kept, up to date; English fallback; language choice."""

from __future__ import annotations

import pytest

from app.core.status import BackendState
from app.core.tray_state import snapshot
from app.storage.texts import load_texts
from app.support import i18n
from tests.unit.test_tray_state import status_with
from tools.i18n_catalog import build, parse_po, placeholders, po_files, source_messages

SHIPPED = set(i18n.SHIPPED)


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.reset()


def catalogs():
    return {lang: parse_po(path.read_text(encoding="utf-8")) for lang, path in po_files().items()}


def test_every_shipped_language_has_a_catalog():
    assert set(po_files()) == SHIPPED


@pytest.mark.parametrize("lang", sorted(SHIPPED))
def test_every_catalog_covers_every_message_and_keeps_every_placeholder(lang):
    header, entries = catalogs()[lang]
    assert "Plural-Forms:" in header
    by_id = {e.ident: e for e in entries}
    messages = source_messages()
    assert len(messages) > 150
    for message in messages:
        entry = by_id.get(message.ident)
        assert entry is not None, (lang, message.ident)
        assert entry.strings and all(s.strip() for s in entry.strings), (lang, message.ident)
        assert not entry.fuzzy, (lang, message.ident)
        wanted = placeholders(message.msgid + message.plural)
        for text in entry.strings:
            assert placeholders(text) == wanted, (lang, message.msgid, text)
            assert text.count("&") - 2 * text.count("&&") == message.msgid.count("&") \
                - 2 * message.msgid.count("&&"), (lang, "mnemonic", text)


def test_the_compiled_catalogs_and_the_template_are_up_to_date():
    assert build(check=True) == []  # `python -m tools.i18n_catalog` rewrites them


@pytest.mark.parametrize(("environ", "wanted"), [
    ({"LANG": "de_DE.UTF-8"}, "de_DE"),
    ({"LC_ALL": "ja_JP.UTF-8", "LANG": "de_DE.UTF-8"}, "ja_JP"),
    ({"LANGUAGE": "fr:en", "LANG": "de_DE.UTF-8"}, "fr"),
    ({"LC_MESSAGES": "es_ES.UTF-8"}, "es_ES"),
    ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
    ({"LANG": "C"}, "en"),
    ({i18n.OVERRIDE_ENV: "ja", "LANG": "de_DE.UTF-8"}, "ja"),
    ({}, "en"),
])
def test_the_language_follows_the_locale_and_the_override(environ, wanted):
    assert i18n.choose_language(environ) == wanted


def test_the_desktop_locale_is_used_last():
    assert i18n.choose_language({}, system="zh_Hans_CN") == "zh_CN"
    assert i18n.setup(environ={"LANG": "de_AT.UTF-8"}) == "de"


def test_an_unshipped_language_is_english_never_a_key_or_empty():
    assert i18n.setup("xx_YY") == "en"
    texts = load_texts()
    for key, _text in texts.messages():
        shown = texts(key, count=2, product="P", index=1, title="T", version=2, path="p",
                      error="e", choice="c", reason="r", problem="p", category="c", send=1,
                      held=0, method="GET", url="u", description="d", state="s", shown=1,
                      total=2)
        assert shown and shown != key


def test_plural_forms_come_from_the_catalog():
    i18n.setup("de")
    texts = load_texts()
    assert texts("consent.queued", count=1) == "1 Ereignis wartet auf diesem Computer"
    assert texts("consent.queued", count=3) == "3 Ereignisse warten auf diesem Computer"
    i18n.setup("fr")
    assert i18n.ngettext("{count} event queued", "{count} events queued", 0) == \
        "{count} événement en attente"  # French: 0 is singular


def test_the_tray_tooltip_is_translated_without_qt():
    i18n.setup("ja")
    refused = status_with(("keymanager", BackendState()), queued=2,
                          sending="you have not agreed to sending any data "
                                  "(license-companion consent grant)")
    snap = snapshot(refused)
    assert "送信していません" in snap.summary and "license-companion" not in snap.summary
    assert snap.details[0] == "2 件のイベントが待機中"
    i18n.reset()
    assert snapshot(refused).summary == "Not sending: you have not allowed any kind of data yet"


def test_the_windows_never_name_a_command():
    for lang in ("en", *sorted(SHIPPED)):
        i18n.setup(lang)
        texts = load_texts() if lang != "en" else load_texts("en")
        for key, _text in texts.messages():
            assert "license-companion" not in texts(key)
        _header, entries = catalogs().get(lang, ("", []))
        for entry in entries:  # the command line's own messages may name its commands
            if "license-companion" not in entry.msgid + entry.plural:
                assert all("license-companion" not in s for s in entry.strings)


def test_vendor_texts_per_language(tmp_path):
    from app.storage.config import load_config
    from tests.configs import write_vendor_config

    path = write_vendor_config(tmp_path / "companion.toml")
    # A title of its own: vendor texts are looked up by their default text, and the embedded
    # configuration (loaded by other tests in this process) translates "Feature usage".
    text = path.read_text(encoding="utf-8").replace('"Feature usage"', '"Feature usage (ours)"')
    marker = text.index("[[consent.category]]")
    end = text.index("\n", text.index("title", marker))
    text = text[:end] + '\n"title.de" = "Funktionsnutzung-DE"\n' + text[end:]
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    title = config.consent.categories[0].title
    i18n.setup("de")
    assert i18n.vendor_text(title) == "Funktionsnutzung-DE"
    i18n.setup("ja")
    assert i18n.vendor_text(title) == title  # no Japanese: the vendor's default


def _with_category_lines(tmp_path, old: str, new: str):
    from tests.configs import write_vendor_config

    path = write_vendor_config(tmp_path / "companion.toml")
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_vendor_texts_as_a_table_and_typos_named(tmp_path):
    from app.model.errors import ConfigError
    from app.storage.config import load_config
    from tests.configs import write_vendor_config

    text = write_vendor_config(tmp_path / "probe.toml").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("title = "))
    title = line.split("=", 1)[1].strip().strip('"')
    table = f'title = {{ default = "{title}", fr = "Utilisation-FR" }}'
    config = load_config(_with_category_lines(tmp_path / "a", line, table))
    assert config.consent.categories[0].title == title
    i18n.setup("fr")
    assert i18n.vendor_text(title) == "Utilisation-FR"
    with pytest.raises(ConfigError, match=r"titel\.de.*did you mean"):
        load_config(_with_category_lines(tmp_path / "b", line, line + '\n"titel.de" = "x"'))
    with pytest.raises(ConfigError, match=r"title\.de.*must be a text"):
        load_config(_with_category_lines(tmp_path / "c", line, line + '\n"title.de" = 3'))


def test_numbers_in_the_windows_follow_the_locale(qapp):
    from PySide6.QtCore import QLocale

    from app.tray.history_window import HistoryWindow

    i18n.setup("de")
    QLocale.setDefault(QLocale("de_DE"))
    try:
        texts = load_texts()
        HistoryWindow(texts, "P").deleteLater()  # the window sets the locale's number format
        assert texts("consent.queued", count=1234) == "1.234 Ereignisse warten auf diesem Computer"
    finally:
        QLocale.setDefault(QLocale("en_US"))


@pytest.mark.parametrize("lang", sorted(SHIPPED | {"en"}))
def test_consent_switch_labels_start_with_words_not_a_digit_or_mnemonic(lang):
    i18n.setup(lang)
    texts = load_texts() if lang != "en" else load_texts("en")
    label = texts("consent.switch_label", title="Usage")
    assert label.strip() and "Usage" in label, (lang, label)
    assert not label[0].isdigit() and "&" not in label, (lang, label)
