"""One builder for the vendor config (``companion.toml``) every test writes.

Tests differ only in a few values (which receivers, which key, a timeout), so each says just
those and the builder writes the rest the same way everywhere. A backend given as None is
written as ``enabled = false``.

    write_vendor_config(path, keymanager=keymanager(km.url), telemetrydeck=telemetrydeck(td.url))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

API_KEY = "2964c3c9-0b5d-4d89-b3ac-4668f30bc492"
APP_ID = "B97579B6-FFB8-4AC5-AAA7-DA5796CC5DCE"
PRODUCT = {"name": "Test Product", "id": "1", "version": "1.0.1"}

USAGE = {"id": "usage", "title": "Feature usage", "description": "Which features you use.",
         "events": ["feature.*"]}
PERFORMANCE = {"id": "performance", "title": "Performance",
               "description": "How long things take.", "events": ["perf.*"]}
DIAGNOSTICS = {"id": "diagnostics", "events": ["diag.*"]}
CATEGORIES = (USAGE, PERFORMANCE)


def keymanager(url: str, api_key: str = API_KEY, **extra: Any) -> dict[str, Any]:
    """A ``[keymanager]`` table: url and api_key, plus e.g. ``public_key=``, ``timeout=``."""
    return {"url": url, "api_key": api_key, **extra}


def telemetrydeck(url: str, app_id: str = APP_ID, salt: str = "pepper",
                  **extra: Any) -> dict[str, Any]:
    """A ``[telemetrydeck]`` table: url, app_id and salt, plus e.g. ``test_mode=``."""
    return {"url": url, "app_id": app_id, "salt": salt, **extra}


def vendor_config(
    *,
    product: Mapping[str, Any] | None = None,
    keymanager: Mapping[str, Any] | None = None,
    telemetrydeck: Mapping[str, Any] | None = None,
    consent_version: int | None = None,
    categories: Sequence[Mapping[str, Any]] = CATEGORIES,
) -> str:
    """The TOML text; ``product`` entries override the defaults, None values are left out."""
    disabled = {"enabled": False}
    lines = _table("product", {**PRODUCT, **(product or {})})
    lines += _table("keymanager", keymanager if keymanager is not None else disabled)
    lines += _table("telemetrydeck", telemetrydeck if telemetrydeck is not None else disabled)
    if consent_version is not None:
        lines += _table("consent", {"version": consent_version})
    for category in categories:
        lines += _table("[consent.category]", category)
    return "\n".join(lines)


def write_vendor_config(path: Path, *, pem: bytes | None = None, **kwargs: Any) -> Path:
    """Write ``vendor_config(**kwargs)`` to ``path``; ``pem`` goes beside it as ``km.pem``.

    With ``pem`` the ``[keymanager]`` table gets ``public_key = "km.pem"`` (relative to the
    config, as a vendor would write it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if pem is not None and kwargs.get("keymanager") is not None:
        (path.parent / "km.pem").write_bytes(pem)
        kwargs["keymanager"] = {**kwargs["keymanager"], "public_key": "km.pem"}
    path.write_text(vendor_config(**kwargs), encoding="utf-8")
    return path


def _table(name: str, values: Mapping[str, Any]) -> list[str]:
    lines = [f"[{name}]"]
    lines += [f"{key} = {_value(value)}" for key, value in values.items() if value is not None]
    return [*lines, ""]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def offline_companion(tmp_path: Path, **sections: Any) -> Any:
    """A real Companion in ``tmp_path/home`` whose TelemetryDeck is a closed local port, so
    what is tracked stays queued; a fixed identity, no license key (the door tests' setup).
    ``sections`` go to ``write_vendor_config`` (e.g. ``keymanager=keymanager(...)``)."""
    from app.core.identity import Identity
    from app.core.wiring import build_companion
    from app.storage.config import load_config

    sections.setdefault("telemetrydeck", telemetrydeck("http://127.0.0.1:9/v2/"))
    config = write_vendor_config(tmp_path / "companion.toml", consent_version=1, **sections)
    return build_companion(load_config(config), tmp_path / "home", environ={},
                           identity=lambda: Identity("u" * 32, "a" * 32, "test", "tester"),
                           license_key=lambda: "")
