"""The language of the tray and its windows: gettext catalogs, chosen from the system locale.

Why gettext: it is the format translators' tools (Weblate, Transifex, Crowdin) read, and the
standard library loads its compiled ``.mo`` files, so the app needs nothing extra at run time.
Catalogs live in ``resources/locale/<lang>/LC_MESSAGES/license-companion.mo``.

Until ``setup`` is called every text is English: the tray calls it once at start, before any
text is built; ``status``, ``doctor``, ``preview`` and ``consent show`` call it before they build
their words (``track`` and the other commands never load a catalog). ``--json`` keeps its keys,
codes and check names in English; a server's own words are shown as they came.

The language: ``LICENSE_COMPANION_LANGUAGE`` if set (``de``, ``ja``, ``zh_CN``; ``en`` forces
English), else the first of ``LANGUAGE`` (a colon list), ``LC_ALL``, ``LC_MESSAGES``, ``LANG``,
else the locale Qt reports for the desktop (passed in by the UI, so this module needs no Qt).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path

from app.model.errors import ConfigError
from app.storage.resources import resources_dir

DOMAIN = "license-companion"
ENGLISH = "en"
OVERRIDE_ENV = "LICENSE_COMPANION_LANGUAGE"
LOCALE_ENVS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
SHIPPED = ("de", "fr", "es", "ja", "zh_CN")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = ENGLISH
# Vendor texts (category titles, descriptions) per language: default text -> {lang: text}.
_vendor: dict[str, dict[str, str]] = {}


def locale_dir() -> Path:
    """Where the compiled catalogs are."""
    return resources_dir() / "locale"


def _normalise(name: str) -> str:
    """``de_DE.UTF-8`` -> ``de_DE``; ``zh-Hans-CN``/``zh-CN`` -> ``zh_CN``; ``C`` -> ``en``."""
    name = name.split(".")[0].split("@")[0].replace("-", "_").strip()
    if name in ("", "C", "POSIX"):
        return ENGLISH
    parts = name.split("_")
    lang = parts[0].lower()
    if lang == "zh":
        # Simplified Chinese unless the region or script says Traditional.
        rest = {p.upper() for p in parts[1:]}
        return "zh_TW" if rest & {"TW", "HK", "MO", "HANT"} else "zh_CN"
    region = next((p.upper() for p in parts[1:] if len(p) == 2), "")
    return f"{lang}_{region}" if region else lang


def choose_language(environ: Mapping[str, str] | None = None, system: str = "") -> str:
    """The language to show, from the override, the locale variables, or ``system``.

    Args:
        environ: the environment (default: ``os.environ``).
        system: the desktop's locale name (``QLocale.system().name()``), used last.

    Returns:
        A name like ``de_DE``, ``ja``, ``zh_CN`` or ``en`` (not necessarily shipped:
        ``catalog_for`` falls back).
    """
    env = os.environ if environ is None else environ
    override = env.get(OVERRIDE_ENV, "").strip()
    if override:
        return _normalise(override)
    for var in LOCALE_ENVS:
        value = env.get(var, "").strip()
        if var == "LANGUAGE":
            value = value.split(":")[0]
        if value:
            return _normalise(value)
    return _normalise(system) if system else ENGLISH


def candidates(language: str) -> list[str]:
    """Catalog names to try for a language: ``de_AT`` -> ``de_AT``, ``de``."""
    found = [language]
    base = language.split("_")[0]
    if base != language:
        found.append(base)
    return found


def catalog_for(language: str, folder: Path | None = None) -> tuple[str, gettext.NullTranslations]:
    """The catalog for ``language`` and the language it is for; English when none is shipped."""
    try:
        folder = folder or locale_dir()
    except ConfigError:  # an incomplete installation: English, and the config error elsewhere
        return ENGLISH, gettext.NullTranslations()
    for name in candidates(language):
        if name == ENGLISH:
            break
        path = folder / name / "LC_MESSAGES" / f"{DOMAIN}.mo"
        try:
            with path.open("rb") as handle:
                return name, gettext.GNUTranslations(handle)
        except (OSError, ValueError):  # missing, or damaged: never crash over a language
            continue
    return ENGLISH, gettext.NullTranslations()


def setup(language: str | None = None, *, system: str = "",
          environ: Mapping[str, str] | None = None, folder: Path | None = None) -> str:
    """Choose and load the language for every text built from now on; returns its name."""
    global _translation, _language
    wanted = language or choose_language(environ, system)
    _language, _translation = catalog_for(wanted, folder)
    return _language


def reset() -> None:
    """Back to English (tests; and what the CLI always uses)."""
    global _translation, _language
    _translation, _language = gettext.NullTranslations(), ENGLISH


def current_language() -> str:
    """The language in use (``en`` until ``setup``)."""
    return _language


def _(message: str) -> str:
    """Translate one message; the English text itself when the catalog lacks it."""
    return _translation.gettext(message) or message


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a count: the catalog's plural rule picks the form."""
    return _translation.ngettext(singular, plural, n) or (singular if n == 1 else plural)


def pgettext(context: str, message: str) -> str:
    """Translate a message that needs a context to be told apart (``consent.close``)."""
    return _translation.pgettext(context, message) or message


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """``ngettext`` with a context."""
    return _translation.npgettext(context, singular, plural, n) or (
        singular if n == 1 else plural)


def N_(message: str) -> str:
    """Mark a text for translation where it is defined; translate it with ``_`` where shown."""
    return message


def add_vendor_texts(texts: Mapping[str, Mapping[str, str]]) -> None:
    """Register the vendor configuration's per-language texts (default text -> lang -> text)."""
    for default, by_language in texts.items():
        _vendor.setdefault(default, {}).update(by_language)


def vendor_text(default: str) -> str:
    """A vendor text in the current language, falling back to the vendor's default."""
    by_language = _vendor.get(default)
    if not by_language:
        return default
    for name in candidates(_language):
        if by_language.get(name):
            return by_language[name]
    return default
