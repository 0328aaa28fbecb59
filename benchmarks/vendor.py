"""The vendor config and state directory every figure uses, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path

API_KEY = "bench-api-key-0123456789"
LICENSE_KEY = "BENCH-LICENSE-KEY-0001"
EVENT = "feature.bench"
CLOSED_PORT = "http://127.0.0.1:9"  # nothing listens: a backend that is configured but idle


def write_config(folder: Path, km_url: str = "", td_url: str = "", pem: bytes | None = None,
                 timeout: float = 10.0) -> Path:
    """A ``companion.toml`` for both backends (an empty URL disables that backend)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[product]', 'name = "Bench Product"', 'id = "1"', 'version = "1.0.0"', '',
             '[keymanager]', f'enabled = {"true" if km_url else "false"}',
             f'url = "{km_url or CLOSED_PORT}"', f'api_key = "{API_KEY}"', f'timeout = {timeout}']
    if pem:
        (folder / "km.pem").write_bytes(pem)
        lines.append('public_key = "km.pem"')
    lines += ['', '[telemetrydeck]', f'enabled = {"true" if td_url else "false"}',
              f'url = "{td_url or CLOSED_PORT + "/v2/"}"', 'app_id = "BENCH-APP"',
              'salt = "pepper"', f'timeout = {timeout}', '',
              '[consent]', 'version = 1', '', '[[consent.category]]', 'id = "usage"',
              'title = "Feature usage"', 'description = "Which features you use."',
              'events = ["feature.*"]', '']
    path = folder / "companion.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
