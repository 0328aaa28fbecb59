"""A plain summary of what one backend would receive, above the exact requests.

Two or three sentences in the user's language: who receives the data (the vendor's product and
the host of the URL), how many events of which kinds (numbers, pairs of numbers, texts) about
which categories, and when they are sent. Everything is read from the exact requests the
backend's own ``prepare`` built, so the summary cannot say something the requests do not.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from app.core import preview as preview_fmt
from app.model.errors import CompanionError
from app.model.wire import PreparedRequest
from app.support.i18n import _, ngettext, vendor_text

if TYPE_CHECKING:
    from app.core.companion import Companion
    from app.core.companion_types import BackendPreview

NUMBER, PAIR, TEXT = "number", "pair", "text"


def _kind_of_form(fields: dict[str, str]) -> str | None:
    if "numeric_data_x" in fields:
        return PAIR
    if "numeric_data_single_value" in fields:
        return NUMBER
    if "text_data" in fields:
        return TEXT
    return None


def _kind_of_item(item: dict[str, Any]) -> str | None:
    payload = item.get("payload")
    if not isinstance(payload, dict):
        return None
    if "Value.x" in payload:
        return PAIR
    if "floatValue" in payload:
        return NUMBER
    if "Value.text" in payload:
        return TEXT
    return None


def event_kinds(requests: Iterable[PreparedRequest]) -> list[tuple[str, str]]:
    """``(event name, kind)`` for every event in these request bodies, in order."""
    found: list[tuple[str, str]] = []
    for request in requests:
        ctype = (request.header("content-type") or "").lower()
        text = preview_fmt.body_text(request)
        if "x-www-form-urlencoded" in ctype:
            fields = dict(parse_qsl(text, keep_blank_values=True))
            kind = _kind_of_form(fields)
            if kind:
                found.append((fields.get("data_group", ""), kind))
        elif "json" in ctype:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            for item in data if isinstance(data, list) else [data]:
                if isinstance(item, dict) and (kind := _kind_of_item(item)):
                    found.append((str(item.get("type", "")), kind))
    return found


def _kinds_phrase(kind: str, count: int, category: str) -> str:
    if kind == PAIR:
        text = ngettext("{count} pair of numbers about {category}",
                        "{count} pairs of numbers about {category}", count)
    elif kind == TEXT:
        text = ngettext("{count} short text about {category}",
                        "{count} short texts about {category}", count)
    else:
        text = ngettext("{count} number about {category}",
                        "{count} numbers about {category}", count)
    return text.format(count=count, category=category)


def summarize(product: str, host: str, requests: Sequence[PreparedRequest],
              category_title: Callable[[str], str]) -> str:
    """The plain summary of these exact requests.

    Args:
        product: the vendor's product name from the configuration.
        host: the host name of the backend's URL.
        requests: the exact requests the backend would send now.
        category_title: the title of the consent category an event name belongs to.
    """
    kinds = event_kinds(requests)
    events = sum(len(r.event_ids) for r in requests)
    if not events:
        return _("Nothing from {product} is waiting to go to {host} now.").format(
            product=product, host=host)
    first = ngettext("{count} event from {product} goes to {host}.",
                     "{count} events from {product} go to {host}.", events)
    groups = Counter((category_title(name), kind) for name, kind in kinds)
    parts = [_kinds_phrase(kind, count, title) for (title, kind), count in groups.items()]
    second = _("It holds {contents}.").format(contents=", ".join(parts)) if parts else ""
    third = ngettext("It is sent in {count} request as soon as this computer is online.",
                     "It is sent in {count} requests as soon as this computer is online.",
                     len(requests))
    sentences = [first.format(count=events, product=product, host=host), second,
                 third.format(count=len(requests))]
    return " ".join(s for s in sentences if s)


def backend_host(companion: Companion, backend: str) -> str:
    """The host name of the URL a backend sends to ("" when not configured)."""
    config = getattr(companion.config, backend, None)
    url = str(getattr(config, "url", "") or "")
    return urlsplit(url).hostname or ""


def for_preview(companion: Companion, preview: BackendPreview) -> str:
    """The summary of one backend's preview, for this companion's product and categories."""
    host = next((urlsplit(r.url).hostname or "" for r in preview.requests), "")

    def title(name: str) -> str:  # as the consent window shows it: the vendor's own words
        try:
            return vendor_text(companion.consent.category_of(name).title)
        except CompanionError:
            return name

    return summarize(companion.config.product.name, host or backend_host(companion,
                                                                          preview.backend),
                     preview.requests, title)


def summaries(companion: Companion, previews: Iterable[BackendPreview]) -> dict[str, str]:
    """``{backend: summary}`` for these previews."""
    return {p.backend: for_preview(companion, p) for p in previews}
