"""``doctor``'s check of the vendor's texts: a language started but left incomplete."""

from __future__ import annotations

from app.doctor.check import Check, Verdict
from app.storage.config_types import VendorConfig
from app.support.i18n import _


def check_vendor_texts(config: VendorConfig) -> Check:
    """Warn, naming the language and the texts, when a started language lacks some texts."""
    gaps = config.texts.missing()
    if not gaps:
        languages = ", ".join(config.texts.languages()) or _("the default texts only")
        return Check("vendor texts", Verdict.OK, _("complete: {languages}").format(
            languages=languages))
    detail = "; ".join(_("{language} lacks {keys}").format(language=lang, keys=", ".join(keys))
                       for lang, keys in sorted(gaps.items()))
    return Check("vendor texts", Verdict.WARN, detail,
                 _("add the missing texts to {path} (docs/deploying.md, \"Your texts in the "
                   "user's language\"); until then those show the default text").format(
                     path=config.source))
