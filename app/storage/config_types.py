"""The vendor configuration's values, once ``app.storage.config`` has validated them.

Immutable records, written out rather than made with ``@dataclass(frozen=True)``: a dataclass
compiles its methods when its module is imported (about a millisecond a class), and every
``track``, a process of its own, reads the configuration. They behave as frozen dataclasses
do where it is used: keyword or positional construction, equality and hashing by value, a
``repr`` that leaves the secrets out, and ``FrozenInstanceError`` on assignment.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any, ClassVar

from app.model.consent import Category
from app.storage.vendor_texts import VendorTexts


class _Record:
    """Fields named in ``_fields``, set once by ``__init__``; ``_hidden`` ones not in repr."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def _init(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields
                          if name not in self._hidden)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


class ProductConfig(_Record):
    """``[product]``: what the vendor sells. ``id`` is KeyManager's ``product_id``;
    ``privacy_contact`` is where a user asks the vendor about their data (an e-mail address
    or a web page; "" when the vendor gave none)."""

    _fields = ("name", "id", "version", "privacy_contact")
    name: str
    id: str
    version: str
    privacy_contact: str

    def __init__(self, name: str, id: str, version: str, privacy_contact: str = "") -> None:
        self._init(name=name, id=id, version=version, privacy_contact=privacy_contact)


class KeyManagerConfig(_Record):
    """``[keymanager]``. ``api_key`` is a secret: never logged, never shown unmasked."""

    _fields = ("enabled", "url", "api_key", "public_key_pem", "public_key_path", "timeout",
               "without_key")
    _hidden = frozenset({"api_key", "public_key_pem"})
    enabled: bool
    url: str
    api_key: str
    public_key_pem: bytes | None
    public_key_path: str | None
    timeout: float
    # while no license key is stored: "wait" keeps the events until one is, "skip" keeps none
    without_key: str

    def __init__(self, enabled: bool, url: str, api_key: str, public_key_pem: bytes | None,
                 public_key_path: str | None, timeout: float, without_key: str = "wait") -> None:
        self._init(enabled=enabled, url=url, api_key=api_key, public_key_pem=public_key_pem,
                   public_key_path=public_key_path, timeout=timeout, without_key=without_key)

    def missing(self) -> list[str]:
        """The settings still empty; a backend with any missing is "not configured"."""
        return [name for name, value in (("url", self.url), ("api_key", self.api_key)) if not value]


class TelemetryDeckConfig(_Record):
    """``[telemetrydeck]``. ``salt`` goes into the clientUser hash and nowhere else."""

    _fields = ("enabled", "url", "app_id", "salt", "test_mode", "timeout")
    _hidden = frozenset({"salt"})
    enabled: bool
    url: str
    app_id: str
    salt: str
    test_mode: bool
    timeout: float

    def __init__(self, enabled: bool, url: str, app_id: str, salt: str, test_mode: bool,
                 timeout: float) -> None:
        self._init(enabled=enabled, url=url, app_id=app_id, salt=salt, test_mode=test_mode,
                   timeout=timeout)

    def missing(self) -> list[str]:
        """The settings still empty; a backend with any missing is "not configured"."""
        return [name for name, value in (("app_id", self.app_id),) if not value]


class ConsentConfig(_Record):
    """``[consent]``: the categories the vendor declares and the version they were declared at."""

    _fields = ("version", "categories")
    version: int
    categories: tuple[Category, ...]

    def __init__(self, version: int, categories: tuple[Category, ...]) -> None:
        self._init(version=version, categories=categories)


class LimitsConfig(_Record):
    """``[outbox]`` and ``[history]`` bounds."""

    _fields = ("outbox_cap", "history_days", "history_max_rows", "backend_caps")
    outbox_cap: int
    history_days: int
    history_max_rows: int
    # (backend, most events kept for it), sorted; ``outbox_cap`` for a backend not named
    backend_caps: tuple[tuple[str, int], ...]

    def __init__(self, outbox_cap: int, history_days: int, history_max_rows: int,
                 backend_caps: tuple[tuple[str, int], ...] = ()) -> None:
        self._init(outbox_cap=outbox_cap, history_days=history_days,
                   history_max_rows=history_max_rows, backend_caps=tuple(sorted(backend_caps)))

    def cap_of(self, backend: str) -> int:
        """Most events kept queued for ``backend``."""
        return dict(self.backend_caps).get(backend, self.outbox_cap)


class LicenseConfig(_Record):
    """``[license]``: how long a license last confirmed valid still counts while offline, and
    how often the tray asks the server again (``check_every_hours``; 0: only at start)."""

    _fields = ("offline_grace_days", "check_every_hours")
    offline_grace_days: float
    check_every_hours: float

    def __init__(self, offline_grace_days: float = 7.0, check_every_hours: float = 24.0) -> None:
        self._init(offline_grace_days=offline_grace_days, check_every_hours=check_every_hours)


class VendorConfig(_Record):
    """The whole validated vendor configuration, and the file it came from."""

    _fields = ("source", "product", "keymanager", "telemetrydeck", "consent", "limits",
               "license", "texts")
    source: Path
    product: ProductConfig
    keymanager: KeyManagerConfig
    telemetrydeck: TelemetryDeckConfig
    consent: ConsentConfig
    limits: LimitsConfig
    license: LicenseConfig
    texts: VendorTexts  # the product's and categories' words per language

    def __init__(self, source: Path, product: ProductConfig, keymanager: KeyManagerConfig,
                 telemetrydeck: TelemetryDeckConfig, consent: ConsentConfig,
                 limits: LimitsConfig, license: LicenseConfig | None = None,
                 texts: VendorTexts | None = None) -> None:
        self._init(source=source, product=product, keymanager=keymanager,
                   telemetrydeck=telemetrydeck, consent=consent, limits=limits,
                   license=LicenseConfig() if license is None else license,
                   texts=VendorTexts() if texts is None else texts)
