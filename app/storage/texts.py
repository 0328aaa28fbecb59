"""Texts shown to the user, loaded from ``resources/texts/<lang>.toml`` so vendors can translate.

English is the reference: a missing language file, a broken one, or a key missing from a
translation falls back to ``en.toml``, so a half-done translation never shows a blank label.
"""

from __future__ import annotations

import locale
import logging
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.storage.resources import resources_dir

log = logging.getLogger(__name__)

FALLBACK = "en"


class Texts:
    """Dotted-key lookup (``consent.allow_all``) with English fallback and ``{name}`` fill-in.

    Args:
        table: the chosen language's texts.
        fallback: the English texts.
        language: the language actually used.
    """

    def __init__(
        self, table: Mapping[str, Any], fallback: Mapping[str, Any], language: str = FALLBACK
    ) -> None:
        self.table = table
        self.fallback = fallback
        self.language = language

    @staticmethod
    def _lookup(table: Mapping[str, Any], key: str) -> str | None:
        node: Any = table
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, str) else None

    def get(self, key: str, **values: object) -> str:
        """The text for ``key`` with placeholders filled; the key itself when unknown."""
        text = self._lookup(self.table, key)
        if text is None:
            text = self._lookup(self.fallback, key)
        if text is None:
            return key
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            # A translator's typo in a placeholder must not crash the window.
            return text

    __call__ = get


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("ignoring the texts in %s: %s", path, exc)
        return None


def system_language() -> str:
    """The user's language code (``de`` from ``de_DE.UTF-8``), or English."""
    try:
        name = locale.getlocale(locale.LC_MESSAGES)[0] or ""
    except (AttributeError, ValueError):  # LC_MESSAGES does not exist on Windows
        name = ""
    return (name.split("_")[0] or FALLBACK).lower()


def load_texts(language: str | None = None, folder: Path | None = None) -> Texts:
    """The texts for ``language`` (default: the system's), falling back to English.

    Args:
        language: a code like ``de``; ``de_AT`` tries ``de_AT`` then ``de``.
        folder: where the ``.toml`` files are (default: ``resources/texts``).
    """
    folder = folder or resources_dir() / "texts"
    english = _read(folder / f"{FALLBACK}.toml") or {}
    wanted = language or system_language()
    for candidate in dict.fromkeys([wanted, wanted.split("_")[0]]):
        if candidate == FALLBACK:
            break
        table = _read(folder / f"{candidate}.toml")
        if table is not None:
            return Texts(table, english, candidate)
    return Texts(english, english, FALLBACK)
