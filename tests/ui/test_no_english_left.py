"""No English left for a German or Japanese user: every window and the CLI's human output.

With the language set to ``de`` and to ``ja``, this opens every window offscreen (consent, the
consent window of a first run, license, history, about), runs ``consent show``, ``status``,
``doctor`` and ``preview`` as real ``python -m app`` processes (``LANGUAGE`` set, the private
Secret Service, the test receivers), collects every visible text, and fails when one of them is
a message of the English catalog left untranslated. Messages that are rightly the same in a
language (product names, codes, a bare placeholder) are in ``SAME_IN``, each named.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTabWidget,
    QWidget,
)

from app.receiver import KeyManagerReceiver, License
from app.support import i18n
from tests.configs import keymanager, telemetrydeck, write_vendor_config
from tests.ui.conftest import API_KEY, LICENSE, write_config
from tests.ui.controllers import ConsentController
from tests.ui.window_kit import build_windows, close_all
from tools.i18n_catalog import PLACEHOLDER, source_messages

pytestmark = [pytest.mark.keyring, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("de", "ja")
# Messages a language rightly writes as English does (the allow-list; keep it short and named).
SAME_IN: dict[str, set[str]] = {
    # German writes "Status:", "Details" and "HTTP … in …" the same; the rest in both are the
    # name of an environment variable and of network protocols.
    "de": {"Status:", "Details", "HTTP {status} in {time}", "DO_NOT_TRACK", "{backend} DNS",
           "{backend} TCP", "{backend} TLS", "{backend} HTTP"},
    "ja": {"DO_NOT_TRACK", "{backend} DNS", "{backend} TCP", "{backend} TLS", "{backend} HTTP"},
}
MIN_WORDS_FOR_SEARCH = 3  # shorter messages must be a whole text (a label, a line part) to count
# A server's own words, shown as they came (quoted as the server's, never translated).
SERVER_TEXTS = ("License key is valid",)


def _pattern(message: str) -> re.Pattern[str] | None:
    """A regular expression for a message, its placeholders standing for any text."""
    pieces = PLACEHOLDER.split(message)
    words = re.findall(r"[A-Za-z]{2,}", "".join(pieces))
    if not words or (len(pieces) > 1 and len(words) < 2):
        return None  # nothing English in it, or too little to tell ("{name} for {product}")
    body = ".+?".join(re.escape(p) for p in pieces)
    return re.compile(body)


def english_messages(lang: str) -> list[tuple[str, re.Pattern[str], bool]]:
    """``(message, pattern, search)`` for every English message not rightly the same in ``lang``;
    ``search``: long enough to be found inside a longer text."""
    found = []
    for entry in source_messages():
        for message in filter(None, (entry.msgid, entry.plural)):
            message = message.replace("&&", "\0").replace("&", "").replace("\0", "&")
            if message in SAME_IN[lang]:
                continue
            pattern = _pattern(message)
            if pattern is not None:
                words = len(PLACEHOLDER.sub(" ", message).split())
                found.append((message, pattern, words >= MIN_WORDS_FOR_SEARCH))
    return found


def _plain(text: str) -> str:
    if "<" in text and ">" in text:
        doc = QTextDocument()
        doc.setHtml(text)
        return doc.toPlainText()
    return text


def widget_texts(window: QWidget) -> list[str]:
    """Every text a user sees or hears (screen readers) in a window and its children."""
    texts = [window.windowTitle()]
    for widget in [window, *window.findChildren(QWidget)]:
        if widget is not window and not widget.isVisibleTo(window):
            continue
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLabel):
            texts.append(_plain(widget.text()))
        elif isinstance(widget, QAbstractButton):
            texts.append(widget.text().replace("&", ""))
        elif isinstance(widget, QPlainTextEdit):
            texts += [widget.toPlainText(), widget.placeholderText()]
        elif isinstance(widget, QLineEdit):
            texts += [widget.text(), widget.placeholderText()]
        elif isinstance(widget, QGroupBox):
            texts.append(widget.title())
        elif isinstance(widget, QTabWidget):
            texts += [widget.tabText(i) for i in range(widget.count())]
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            for col in range(model.columnCount()):
                texts.append(str(model.headerData(col, Qt.Orientation.Horizontal) or ""))
                for row in range(model.rowCount()):
                    texts.append(str(model.index(row, col).data() or ""))
    return [t for t in texts if t]


def parts(text: str) -> set[str]:
    """A text, its lines, and the pieces of each line between ``: ``, ``; `` and brackets."""
    found = {text.strip()}
    for line in text.splitlines():
        found.add(line.strip())
        found.update(p.strip(" .:()[]-") for p in re.split(r": |; | \(|\) |\)$|\s{2,}", line))
    return {p for p in found if p}


def leftovers(lang: str, where: str, texts: list[str]) -> list[str]:
    """``where: message  <-  text`` for every English message found in these texts."""
    for server in SERVER_TEXTS:
        texts = [t.replace(server, "") for t in texts]
    pieces = set().union(*(parts(t) for t in texts)) if texts else set()
    whole = "\n".join(texts)
    found = []
    for message, pattern, search in english_messages(lang):
        if search:
            hit = pattern.search(whole)
            if hit:
                found.append(f"{where}: {message!r}  <-  {hit.group(0)!r}")
        else:
            hit_piece = next((p for p in pieces if pattern.fullmatch(p)), None)
            if hit_piece is not None:
                found.append(f"{where}: {message!r}  <-  {hit_piece!r}")
    return found


@pytest.fixture()
def in_language(monkeypatch):
    def use(lang: str) -> None:
        monkeypatch.setenv("LANGUAGE", lang)
        assert i18n.setup(lang) == lang

    yield use
    i18n.reset()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_window_is_in_the_language(qtbot, in_language, tmp_path, home, km, td, lang):
    in_language(lang)
    windows = build_windows(tmp_path, home, km.url, td.url)
    from app.core.wiring import build_companion
    from app.storage.config import load_config
    from tests.ui.conftest import fixed_identity

    first_home = tmp_path / "first-home"
    first_home.mkdir(mode=0o700)
    fresh = build_companion(load_config(write_config(tmp_path / "cfg2" / "companion.toml",
                                                     km.url, td.url)),
                            first_home, license_key=lambda: LICENSE, identity=fixed_identity,
                            environ={})
    first = ConsentController(fresh)  # a first run: nothing decided, nothing queued
    first.show()
    first.window.flush_preview()
    windows["first-run"] = first.window
    try:
        for window in windows.values():
            qtbot.waitExposed(window)
        QApplication.processEvents()
        found = []
        for name, window in windows.items():
            found += leftovers(lang, name, widget_texts(window))
        assert not found, "\n".join(found)
    finally:
        first.window.close()
        fresh.close()
        close_all(windows)


@pytest.fixture()
def km(signing_key):
    """The KeyManager test receiver, knowing the test license (a seat for this computer)."""
    with KeyManagerReceiver(api_key=API_KEY, private_key=signing_key,
                            licenses={LICENSE: License(max_activations=2)}) as rx:
        yield rx


@pytest.fixture()
def cli_setup(tmp_path, keyring_env, km, td):
    """A product using both test receivers, its license key in the private Secret Service, two
    events queued (one allowed category, one undecided), and its real CLI."""
    config = write_vendor_config(
        tmp_path / "cfg" / "companion.toml", pem=km.public_key_pem,
        product={"id": f"words-{os.getpid()}", "version": "1.0"},
        keymanager=keymanager(km.url, API_KEY, timeout=2),
        telemetrydeck=telemetrydeck(td.url, test_mode=True))
    env = dict(keyring_env.client_env(), PYTHONPATH=str(ROOT))
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", i18n.OVERRIDE_ENV, "DO_NOT_TRACK"):
        env.pop(var, None)

    def cli(*args: str, lang: str = "en", stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "--home", str(tmp_path / "home"), "--config",
             str(config), *args], input=stdin, text=True, capture_output=True, timeout=60,
            env=dict(env, LANGUAGE=lang), cwd=ROOT)

    assert cli("license", "set", stdin=LICENSE + "\n").returncode == 0
    assert cli("license", "activate").returncode == 0  # a real answer, with its time
    assert cli("consent", "grant", "usage").returncode == 0
    assert cli("track", "feature.export", "--value", "3").returncode == 0
    assert cli("track", "perf.startup", "--value", "812").returncode == 0
    yield cli
    cli("license", "clear")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_cli_speaks_the_language(cli_setup, lang):
    found = []
    for command in (("consent", "show"), ("status",), ("doctor",), ("preview",)):
        proc = cli_setup(*command, lang=lang)
        assert proc.returncode in (0, 1), proc.stderr
        found += leftovers(lang, " ".join(command), [proc.stdout, proc.stderr])
    assert not found, "\n".join(found)


def test_json_keeps_its_english_keys_and_codes(cli_setup):
    import json

    english = json.loads(cli_setup("status", "--json").stdout)
    german = json.loads(cli_setup("status", "--json", lang="de").stdout)
    assert set(german) == set(english)
    assert german["state"]["code"] == english["state"]["code"]
    doctor = json.loads(cli_setup("doctor", "--json", lang="ja").stdout)
    assert {c["name"] for c in doctor["checks"]} == {
        c["name"] for c in json.loads(cli_setup("doctor", "--json").stdout)["checks"]}
