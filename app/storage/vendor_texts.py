"""The vendor's words per language: product name, category titles and descriptions.

A text the user sees may be given once per language next to its default::

    title = "Feature usage"
    "title.de" = "Funktionsnutzung"

or, when every language is written together, as a table whose ``default`` (or ``en``) entry is
the default text::

    title = { default = "Feature usage", de = "Funktionsnutzung", ja = "機能の使用状況" }

The language shown is the user's exact one (``de_AT``), then its base (``de``), then the
default (``app.support.i18n.vendor_text``). ``VendorTexts.missing`` tells which texts a
language the vendor started still lacks, for ``doctor``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.model.errors import ConfigError

DEFAULT_KEYS = ("default", "en")


def is_language(code: str) -> bool:
    """``de``, ``pt_BR``, ``zh_CN``, ``zh-Hans``: letters, one optional region or script."""
    parts = code.replace("-", "_").split("_")
    return 2 <= len(parts[0]) <= 3 and parts[0].isalpha() and parts[0].islower() and \
        len(parts) <= 2 and all(p.isalnum() for p in parts)


def localized(data: Mapping[str, Any], key: str,
              error: Callable[[str, str], ConfigError]) -> tuple[str, dict[str, str]]:
    """A vendor text and its translations: ``key`` plus ``"key.<lang>"``, or a ``key`` table.

    Args:
        data: the TOML table holding the text.
        key: the text's name (``title``).
        error: builds the config error for a key and a problem.

    Raises:
        ConfigError: a language code that is none, or a value that is not a text.
    """
    value = data.get(key, "")
    translations: dict[str, str] = {}
    if isinstance(value, dict):
        for lang, text in value.items():
            if lang not in DEFAULT_KEYS and not is_language(lang):
                raise error(f"{key}.{lang}", "is not a language code (e.g. de, pt_BR)")
            if not isinstance(text, str):
                raise error(f"{key}.{lang}", f"must be a text, got {type(text).__name__}")
            translations[lang.replace("-", "_")] = text.strip()
        default = translations.pop("default", "") or translations.get("en", "")
    elif isinstance(value, str | int) and not isinstance(value, bool):
        default = str(value).strip()
    else:
        raise error(key, f"must be a text, got {type(value).__name__}")
    for name, text in data.items():
        base, dot, lang = name.partition(".")
        if dot and base == key:
            if not is_language(lang):
                raise error(name, "is not a language code (e.g. de, pt_BR)")
            if not isinstance(text, str):
                raise error(name, f"must be a text, got {type(text).__name__}")
            translations[lang.replace("-", "_")] = text.strip()
    return default, {lang: text for lang, text in translations.items() if text}


class VendorTexts:
    """Every vendor text the user sees: (where, default, ((language, text), ...)), in order.

    ``optional`` texts (the product name: often the same word everywhere) count as missing in a
    language only when the vendor translated them into some language at all.
    """

    __slots__ = ("entries", "optional")

    def __init__(self, entries: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (),
                 optional: frozenset[str] = frozenset()) -> None:
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "optional", optional)

    entries: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    optional: frozenset[str]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VendorTexts):
            return NotImplemented
        return (self.entries, self.optional) == (other.entries, other.optional)

    def __hash__(self) -> int:
        return hash((self.entries, self.optional))

    def __repr__(self) -> str:
        return f"VendorTexts({len(self.entries)} texts, languages={self.languages()})"

    def by_default(self) -> dict[str, dict[str, str]]:
        """Default text -> language -> text (``app.support.i18n.add_vendor_texts``)."""
        found: dict[str, dict[str, str]] = {}
        for _where, default, translations in self.entries:
            if translations:
                found.setdefault(default, {}).update(translations)
        return found

    def languages(self) -> list[str]:
        """The languages the vendor wrote any text in, sorted."""
        return sorted({lang for _w, _d, translations in self.entries for lang, _t in translations})

    def missing(self) -> dict[str, list[str]]:
        """Language -> the texts it lacks (neither the exact language nor its base has one)."""
        gaps: dict[str, list[str]] = {}
        for lang in self.languages():
            base = lang.split("_")[0]
            for where, _default, translations in self.entries:
                given = {code for code, _text in translations}
                if where in self.optional and not given:
                    continue
                if lang not in given and base not in given:
                    gaps.setdefault(lang, []).append(where)
        return gaps
