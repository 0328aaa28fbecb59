"""The vendor's configuration: a TOML file shipped with the app, validated once at start.

Every problem is reported as one ``ConfigError`` naming the file, the key and what is wrong.
The validated values are the records of ``app.storage.config_types``, importable from here.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.model.consent import DEFAULT_CATEGORY, Category
from app.model.errors import ConfigError
from app.storage.config_types import (
    ConsentConfig,
    KeyManagerConfig,
    LicenseConfig,
    LimitsConfig,
    ProductConfig,
    TelemetryDeckConfig,
    VendorConfig,
)
from app.storage.paths import CONFIG_ENV
from app.storage.vendor_texts import VendorTexts, is_language, localized

__all__ = ["ConsentConfig", "KeyManagerConfig", "LicenseConfig", "LimitsConfig",
           "ProductConfig", "TelemetryDeckConfig", "VendorConfig", "check_url", "config_path",
           "is_loopback", "load_config", "parse_config", "read_regular_file"]

TELEMETRYDECK_DEFAULT_URL = "https://nom.telemetrydeck.com/v2/"

MAX_CONFIG_BYTES = 1 << 20  # a vendor config is a few kilobytes; refuse /dev/zero, not wait on it
MAX_PEM_BYTES = 64 << 10  # an RSA public key in PEM is under 1 KiB even at 8192 bits

# Most events queued per backend when ``[outbox]`` names no cap, sized from what each takes:
# KeyManager one event a request (~100/s on a fast link: 30,000 is five minutes of sending),
# TelemetryDeck 100 a request (100,000 is 1,000 requests); docs/deploying.md, "Queue caps".
DEFAULT_CAPS = {"keymanager": 30_000, "telemetrydeck": 100_000}

# Every table and key the configuration may hold. A key not listed is an error (a typo would
# otherwise silently leave a setting at its default); add new settings here.
KNOWN_KEYS: dict[str, frozenset[str]] = {
    "product": frozenset({"name", "id", "version", "privacy_contact"}),
    "keymanager": frozenset({"enabled", "url", "api_key", "public_key", "timeout",
                             "without_key"}),
    "telemetrydeck": frozenset({"enabled", "url", "app_id", "salt", "test_mode", "timeout"}),
    "consent": frozenset({"version", "category"}),
    "consent.category": frozenset({"id", "title", "description", "events"}),
    "outbox": frozenset({"cap", "keymanager_cap", "telemetrydeck_cap"}),
    "history": frozenset({"days", "max_rows"}),
    "license": frozenset({"offline_grace_days", "check_every_hours"}),
}
# Per-language vendor texts: ``"title.de" = "..."`` next to ``title``, or ``title.de`` when
# ``title`` is a table (``title.default``/``title.en`` is then the default text).
LOCALIZED_KEYS: dict[str, frozenset[str]] = {
    "product": frozenset({"name"}),
    "consent.category": frozenset({"title", "description"}),
}


class _Reader:
    """Typed access to one TOML table that reports errors as ``ConfigError``."""

    def __init__(self, source: Path, table: str, data: Mapping[str, Any]) -> None:
        self.source = source
        self.table = table
        self.data = data

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(str(self.source), f"[{self.table}] {key}", problem)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) and kind is not bool and kind != (bool,):
            raise self.error(key, f"must be {_kind_name(kind)}, got a boolean")
        if not isinstance(value, kind):
            raise self.error(key, f"must be {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def text(self, key: str, default: str = "") -> str:
        value = self.get(key, (str, int), default)
        return str(value).strip()

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, bool, default))

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        """One of ``allowed`` (the first is the default)."""
        value = str(self.get(key, str, allowed[0])).strip()
        if value not in allowed:
            shown = " or ".join(f'"{a}"' for a in allowed)
            raise self.error(key, f"must be {shown}, got {value!r}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.get(key, (int, float), default)
        if not low <= value <= high:
            raise self.error(key, f"must be between {low:g} and {high:g}, got {value}")
        return float(value)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a text", int: "a whole number", float: "a number", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _table(source: Path, raw: Mapping[str, Any], name: str) -> _Reader:
    data = raw.get(name, {})
    if not isinstance(data, dict):
        raise ConfigError(str(source), f"[{name}]", "must be a table")
    return _Reader(source, name, data)


def _did_you_mean(word: str, known: frozenset[str] | set[str]) -> str:
    import difflib  # only a config with a mistake needs it

    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else f"; known: {', '.join(sorted(known))}"


def check_known_keys(source: Path, raw: Mapping[str, Any]) -> None:
    """Refuse any table or key not in ``KNOWN_KEYS``, naming it and the closest known one."""
    tables = {name for name in KNOWN_KEYS if "." not in name}
    for name, data in raw.items():
        if name not in tables:
            raise ConfigError(str(source), f"[{name}]",
                              "is not a known table" + _did_you_mean(name, tables))
        if not isinstance(data, dict):
            continue  # "must be a table" is reported where the table is read
        _check_table_keys(source, name, data)
    entries = raw.get("consent", {}).get("category", []) if isinstance(raw.get("consent"), dict) \
        else []
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict):
            _check_table_keys(source, "consent.category", entry, f"consent.category[{index}]")


def _check_table_keys(source: Path, table: str, data: Mapping[str, Any], shown: str = "") -> None:
    known = KNOWN_KEYS[table]
    for key in data:
        base, dot, lang = key.partition(".")
        if dot and base in LOCALIZED_KEYS.get(table, ()):
            if is_language(lang):
                continue
            raise ConfigError(str(source), f"[{shown or table}] {key}",
                              f"`{lang}` is not a language code (e.g. de, pt_BR)")
        if key not in known:
            raise ConfigError(str(source), f"[{shown or table}] {key}",
                              "is not a known setting" + _did_you_mean(key, known))


def check_url(reader: _Reader, key: str, url: str) -> str:
    """Accept a complete https URL anywhere and plain http only for loopback addresses.

    Everything a request would trip over later is refused now, at load: a port out of range,
    a missing or malformed host, credentials, spaces. Otherwise the mistake shows up only as a
    retry that never succeeds.
    """
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of 0..65535 or not a number
    except ValueError as exc:
        raise reader.error(key, f"is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https"):
        raise reader.error(key, f"must start with https:// (or http:// for loopback), got {url!r}")
    host = parts.hostname or ""
    if not host:
        raise reader.error(key, f"has no host name: {url!r}")
    if port == 0:
        raise reader.error(key, f"port 0 is not a port to connect to: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise reader.error(key, "must not carry a user name or password; use api_key")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise reader.error(key, f"must not have a query (?...) or fragment (#...): {url!r}")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise reader.error(key, f"must not contain spaces or control characters: {url!r}")
    if not _valid_host(host):
        raise reader.error(key, f"host {host!r} is not a valid host name or IP address")
    if parts.scheme == "http" and not is_loopback(host):
        raise reader.error(key, "plain http is allowed only for 127.0.0.1/localhost; use https")
    return url


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    return len(ascii_host) <= 253 and all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
        and all(c.isalnum() or c in "-_" for c in label)
        for label in labels
    )


def read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    A FIFO would block the open or the read forever and a device such as /dev/zero never ends,
    so the file is opened without blocking and checked on the open descriptor before a byte is
    read (no window between the check and the read).

    Raises:
        OSError: the file cannot be opened or read (``strerror`` says why).
        ValueError: not a regular file, or larger than ``limit``; the message says which.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"is {_file_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise ValueError(f"is {info.st_size} bytes; the limit is {limit}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as handle:  # buffered: read() loops until n bytes or EOF
        data = handle.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"is larger than the limit of {limit} bytes")
        return data


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on this machine (plain http is allowed only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_public_key(reader: _Reader, path_text: str) -> tuple[bytes | None, str | None]:
    if not path_text:
        return None, None
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = reader.source.parent / path
    try:
        pem = read_regular_file(path, MAX_PEM_BYTES)
    except OSError as exc:
        raise reader.error("public_key", f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise reader.error("public_key", f"{path} {exc}") from None
    # Imported here: only a configured public key needs it, and ``track`` should not pay for it.
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise reader.error("public_key", f"{path} is not a PEM public key (BEGIN PUBLIC KEY)") \
            from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise reader.error("public_key", f"{path} holds a {type(key).__name__.removeprefix('_')}; "
                           "KeyManager signs with RSA")
    return pem, str(path)


def _consent(source: Path, raw: Mapping[str, Any],
             texts: list[tuple[str, str, tuple[tuple[str, str], ...]]]) -> ConsentConfig:
    reader = _table(source, raw, "consent")
    version = int(reader.number("version", 1, 1, 1_000_000))
    entries = reader.data.get("category", [])
    if not isinstance(entries, list):
        raise reader.error("category", "must be an array of tables ([[consent.category]])")
    categories: list[Category] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise reader.error(f"category[{index}]", "must be a table")
        item = _Reader(source, f"consent.category[{index}]", entry)
        cat_id = item.text("id")
        if not cat_id or not cat_id.replace("-", "").replace("_", "").isalnum():
            raise item.error("id", "must be a non-empty id of letters, digits, - and _")
        if any(c.id == cat_id for c in categories):
            raise item.error("id", f"{cat_id!r} is declared twice")
        patterns = entry.get("events", [])
        if not isinstance(patterns, list) or not patterns or not all(
            isinstance(p, str) and p for p in patterns
        ):
            raise item.error("events", "must be a non-empty list of event-name patterns")
        title, titles = localized(item.data, "title", item.error)
        description, descriptions = localized(item.data, "description", item.error)
        title = title or cat_id
        where = f"consent.category[{cat_id}]"
        texts.append((f"{where}.title", title, tuple(sorted(titles.items()))))
        if description:
            texts.append((f"{where}.description", description,
                          tuple(sorted(descriptions.items()))))
        categories.append(
            Category(
                id=cat_id,
                title=title,
                description=description,
                events=tuple(patterns),
            )
        )
    return ConsentConfig(version=version, categories=tuple(categories) or (DEFAULT_CATEGORY,))


def parse_config(source: Path, text: str) -> VendorConfig:
    """Validate the TOML text of a vendor configuration file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(source), None, f"is not valid TOML: {exc}") from None
    check_known_keys(source, raw)

    product = _table(source, raw, "product")
    km = _table(source, raw, "keymanager")
    td = _table(source, raw, "telemetrydeck")
    outbox = _table(source, raw, "outbox")
    history = _table(source, raw, "history")
    license_table = _table(source, raw, "license")

    name, names = localized(product.data, "name", product.error)
    texts: list[tuple[str, str, tuple[tuple[str, str], ...]]] = [
        ("product.name", name or "this product", tuple(sorted(names.items())))]
    product_cfg = ProductConfig(
        name=name or "this product",
        id=product.text("id"),
        version=product.text("version"),
        privacy_contact=product.text("privacy_contact"),
    )
    pem, pem_path = _read_public_key(km, km.text("public_key"))
    km_cfg = KeyManagerConfig(
        enabled=km.flag("enabled", True),
        url=check_url(km, "url", km.text("url")).rstrip("/"),
        api_key=km.text("api_key"),
        public_key_pem=pem,
        public_key_path=pem_path,
        timeout=km.number("timeout", 15, 1, 120),
        without_key=km.choice("without_key", ("wait", "skip")),
    )
    if km_cfg.enabled and km_cfg.url and not product_cfg.id:
        raise product.error("id", "is required when [keymanager] has a url (KeyManager product_id)")
    td_url = check_url(td, "url", td.text("url", TELEMETRYDECK_DEFAULT_URL))
    td_cfg = TelemetryDeckConfig(
        enabled=td.flag("enabled", True),
        url=td_url or TELEMETRYDECK_DEFAULT_URL,
        app_id=td.text("app_id"),
        salt=td.text("salt"),
        test_mode=td.flag("test_mode", False),
        timeout=td.number("timeout", 15, 1, 120),
    )
    cap = int(outbox.number("cap", 10_000, 10, 10_000_000))
    given = "cap" in outbox.data
    limits = LimitsConfig(
        outbox_cap=cap,
        backend_caps=tuple(
            (name, int(outbox.number(f"{name}_cap", cap if given else default, 10, 10_000_000)))
            for name, default in DEFAULT_CAPS.items()),
        history_days=int(history.number("days", 90, 1, 3650)),
        history_max_rows=int(history.number("max_rows", 50_000, 100, 10_000_000)),
    )
    consent = _consent(source, raw, texts)
    vendor_texts = VendorTexts(tuple(texts), optional=frozenset({"product.name"}))
    if vendor_texts.languages():  # translations given: the tray shows them
        from app.support import i18n

        i18n.add_vendor_texts(vendor_texts.by_default())
    return VendorConfig(
        source=source,
        product=product_cfg,
        keymanager=km_cfg,
        telemetrydeck=td_cfg,
        consent=consent,
        limits=limits,
        license=LicenseConfig(license_table.number("offline_grace_days", 7, 0, 365),
                              license_table.number("check_every_hours", 24, 0, 24 * 30)),
        texts=vendor_texts,
    )


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` wins over ``LICENSE_COMPANION_CONFIG``, which wins over the embedded default."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    from app.storage.resources import resource  # the built-in one

    return resource("companion.toml")


def load_config(explicit: str | os.PathLike[str] | None = None) -> VendorConfig:
    """Read and validate the vendor configuration; raises ``ConfigError`` with one clear line."""
    path = config_path(explicit)
    try:
        text = read_regular_file(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), None, "is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), None, "is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(str(path), None, str(exc)) from None
    return parse_config(path.resolve(), text)
