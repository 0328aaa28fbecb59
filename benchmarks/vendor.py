"""The vendor config and state directory every figure uses, written into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def prepare_home(tmp: Path, python: str, env_base: dict[str, str]) -> dict[str, str]:
    """A config (backends enabled, nothing listening) and a state dir where consent is granted.

    Returns the environment that points ``python -m app`` at both. Consent is granted through
    the CLI so no window opens at start and ``track`` stores events as a consenting user's.
    """
    import subprocess

    config = write_config(tmp / "cfg", CLOSED_PORT, CLOSED_PORT + "/v2/")
    env = {**env_base, "LICENSE_COMPANION_HOME": str(tmp / "home"),
           "LICENSE_COMPANION_CONFIG": str(config), "XDG_CONFIG_HOME": str(tmp / "xdg"),
           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp}/no-session-bus"}
    done = subprocess.run([python, "-m", "app", "consent", "grant"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`python -m app consent grant` failed: {done.stderr.strip()[-300:]}")
    return env


def open_service(config_path: Path, home: Path, **kwargs: Any) -> Any:
    """The companion service object, built as the product builds it, its database open.

    ``app.core.wiring.build_companion`` where the app has it, else ``open_companion``; with a fixed
    identity and license key so no keyring is needed in process.
    """
    from app.storage.config import load_config

    try:
        from app.core.wiring import build_companion as build
    except ImportError:
        from app.core.companion import open_companion as build
    kwargs.setdefault("identity", identity)
    kwargs.setdefault("license_key", lambda: LICENSE_KEY)
    kwargs.setdefault("environ", {})
    return build(load_config(config_path), home, **kwargs)


def identity() -> Any:
    """A fixed user identity (deriving the real one reads the machine id)."""
    from app.core.identity import Identity

    return Identity("bench-user-identifier-000000001", "bench-activation-0000000001",
                    "bench", "bench")
