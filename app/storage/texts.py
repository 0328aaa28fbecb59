"""The consent and history windows' texts: English in ``resources/texts/en.toml``, translated
through the gettext catalogs (``app.support.i18n``).

Why keep the TOML: it is the one place the windows' English is written, each text under a key
(``consent.allow_all``) that is also the text's gettext context, so two equal English words in
different places can be translated differently. A text with a count is a table
``{ one = "...", other = "..." }`` and goes through ``npgettext``, so each language's plural
rule decides, not string concatenation. A translation missing from a catalog shows English;
an unknown key shows the key (a bug the tests catch, never a blank label).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from app.storage.resources import resources_dir
from app.support import i18n

log = logging.getLogger(__name__)

FALLBACK = "en"
Message = str | tuple[str, str]  # a text, or (singular, plural)


class Texts:
    """Dotted-key lookup (``consent.allow_all``) translated by the current catalog.

    Args:
        table: the English texts (``en.toml``).
        language: the language in use (for information; the catalog is ``app.support.i18n``'s).
    """

    def __init__(self, table: Mapping[str, Any], language: str = FALLBACK) -> None:
        self.table = table
        self.language = language
        # How whole numbers are written (the windows set the locale's: 1.234 in German).
        self.number: Callable[[int], str] = str

    def english(self, key: str) -> Message | None:
        """The English text (or singular/plural pair) for ``key``."""
        node: Any = self.table
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        if isinstance(node, str):
            return node
        if isinstance(node, Mapping) and isinstance(node.get("one"), str) \
                and isinstance(node.get("other"), str):
            return node["one"], node["other"]
        return None

    def get(self, key: str, **values: object) -> str:
        """The text for ``key``, translated, placeholders filled; the key itself when unknown.

        A plural text picks its form from ``count``.
        """
        source = self.english(key)
        if source is None:
            return key
        if isinstance(source, tuple):
            count = values.get("count", 0)
            text = i18n.npgettext(key, source[0], source[1],
                                  count if isinstance(count, int) else 0)
        else:
            text = i18n.pgettext(key, source)
        values = {k: self.number(v) if isinstance(v, int) and not isinstance(v, bool) else v
                  for k, v in values.items()}
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            # A translator's typo in a placeholder must not crash the window: use English.
            english = source if isinstance(source, str) else source[0]
            try:
                return english.format(**values)
            except (KeyError, IndexError, ValueError):
                return english

    __call__ = get

    def messages(self) -> Iterator[tuple[str, Message]]:
        """Every (key, English text) in the table, for the catalog template."""
        def walk(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Message]]:
            for name, value in node.items():
                key = f"{prefix}{name}"
                found = self.english(key)
                if found is not None:
                    yield key, found
                elif isinstance(value, Mapping):
                    yield from walk(value, key + ".")
        yield from walk(self.table, "")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring the texts in %s: %s", path, exc)
        return None


def load_texts(language: str | None = None, folder: Path | None = None) -> Texts:
    """The windows' texts in the current language (``app.support.i18n.setup``).

    Args:
        language: ``en`` forces English whatever catalog is loaded; another code loads that
            language's catalog (``app.support.i18n.setup(language)``) first.
        folder: where ``en.toml`` is (default: ``resources/texts``).
    """
    folder = folder or resources_dir() / "texts"
    english = _read(folder / f"{FALLBACK}.toml") or {}
    if language == FALLBACK:
        i18n.reset()
    elif language:
        i18n.setup(language)
    return Texts(english, i18n.current_language())
