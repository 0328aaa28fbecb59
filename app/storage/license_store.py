"""The user's license key, kept only in the OS keyring (Secret Service, Credential Manager, Keychain).

Why every call runs on a keyring thread with a deadline: the ``keyring`` package passes no
timeout to the OS. A locked Secret Service collection may wait for a prompt that never comes, a
stopped or frozen daemon can stall a D-Bus call for two minutes, and the tray must never freeze.
A call that misses its deadline is reported as ``KeyringUnavailableError``. Each store has one
keyring thread (a daemon thread, so a hung call never blocks the process from exiting); while a
call that missed its deadline is still stuck on it, further calls fail at once ("the keyring is
not answering") instead of starting one more thread per call that would hang too.

Why there is no fallback: a license key quietly written to a file is exactly what this product
promises not to do ("no silent fallback"). When the keyring cannot be used the error
says which backend ``keyring`` picked and how to fix it on this OS. Backends that store secrets in
plain files (``keyrings.alt``) or store nothing (``fail``/``null``) are refused outright.

Nothing here puts the key into an exception, a log line or a repr: errors are built from the
exception *type* and a scrubbed, shortened text, and never chain the original exception.
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

from app.model.errors import KeyringUnavailableError, ValidationError

log = logging.getLogger(__name__)

T = TypeVar("T")

SERVICE_PREFIX = "license-companion"
KEY_USERNAME = "license-key"
MAX_KEY_LENGTH = 512
KEY_LOOKS_LIKE = (
    "a license key is one line of letters and digits, usually with dashes, such as "
    "9cc2cc83-1f5d-4c3e-a7d1-f0e1c1eb1541; copy it from your purchase e-mail or account page"
)
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2}){8,}$")
# Backends that would keep the key in a plain file or not at all: never acceptable.
_REFUSED_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def normalise_key(raw: str) -> str:
    """The key as the user meant it, or ``ValidationError`` for obvious garbage.

    Pasting adds whitespace, line breaks and invisible format characters (zero-width spaces, a
    byte order mark); those are removed everywhere, not just at the ends. Case is folded only
    where the format is known to be case-insensitive (UUIDs, hex), so two spellings of one UUID
    key are one key. Anything else is kept exactly: the vendor decides what is valid, and a
    format we did not foresee must still reach the server.

    Raises:
        ValidationError: empty, control characters, longer than 512 characters, or no letter or
            digit at all. The message says what a key looks like and never repeats the input.
    """
    if not isinstance(raw, str):
        raise ValidationError("license key", f"must be text; {KEY_LOOKS_LIKE}")
    kept = []
    for char in raw:
        if char.isspace():
            continue
        category = unicodedata.category(char)
        if category == "Cf":  # zero-width space, BOM, soft hyphen...: paste artefacts
            continue
        if category == "Cc":
            raise ValidationError("license key", f"contains control characters; {KEY_LOOKS_LIKE}")
        kept.append(char)
    key = "".join(kept)
    if not key:
        raise ValidationError("license key", f"is empty; {KEY_LOOKS_LIKE}")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError(
            "license key", f"is {len(key)} characters long (at most {MAX_KEY_LENGTH}); "
            f"{KEY_LOOKS_LIKE}"
        )
    if not any(char.isalnum() for char in key):
        raise ValidationError("license key", f"has no letters or digits; {KEY_LOOKS_LIKE}")
    if _UUID.match(key) or _HEX.match(key):
        key = key.lower()
    return key


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fix_hint(platform: str | None = None) -> str:
    """How to get a working keyring on this OS, in one clause."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return ("sign in to Windows with your own account so Credential Manager is available "
                "(Control Panel > Credential Manager)")
    if platform == "darwin":
        return "unlock your login keychain in Keychain Access (or log out and in again)"
    return ("start a Secret Service (gnome-keyring-daemon, or KeePassXC with Secret Service "
            "integration enabled) in your desktop session and unlock its \"login\" collection")


class LicenseStore:
    """Set, read, replace and remove one product's license key in the OS keyring.

    Args:
        service: the keyring service name; use ``service_name()`` so two vendors' companions
            never share an entry.
        timeout: seconds any single keyring call may take before it counts as unavailable.
    """

    def __init__(self, service: str, *, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout
        self._runner = _KeyringThread(f"keyring-{service}")

    @staticmethod
    def service_name(product_id: str, product_name: str) -> str:
        """``license-companion:<product id>`` (or a slug of the name when there is no id yet).

        Keyed by the product, not by the app, because several vendors may ship this companion to
        the same user; each must see only its own key.
        """
        ident = product_id.strip() or _slug(product_name) or "default"
        return f"{SERVICE_PREFIX}:{ident}"

    # -- the four operations ------------------------------------------------------------------

    def get(self) -> str:
        """The stored key, or "" when none is stored.

        Raises:
            KeyringUnavailableError: the keyring cannot be used (message says how to fix it).
        """
        import keyring

        value = self._call("read the license key",
                           lambda: keyring.get_password(self.service, KEY_USERNAME))
        return value or ""

    def set(self, raw: str) -> str:
        """Normalise ``raw``, store it (replacing any previous key) and return what was stored.

        Raises:
            ValidationError: ``raw`` is obviously not a key (nothing was stored).
            KeyringUnavailableError: the keyring cannot be used.
        """
        import keyring

        key = normalise_key(raw)
        self._call("store the license key",
                   lambda: keyring.set_password(self.service, KEY_USERNAME, key), secret=key)
        return key

    def clear(self) -> bool:
        """Remove the stored key; True when there was one.

        Raises:
            KeyringUnavailableError: the keyring cannot be used.
        """
        import keyring
        from keyring.errors import PasswordDeleteError

        def delete() -> bool:
            try:
                keyring.delete_password(self.service, KEY_USERNAME)
            except PasswordDeleteError:
                return False
            return True

        return self._call("remove the license key", delete)

    def backend_name(self) -> str:
        """The keyring backend ``keyring`` chose, e.g. "SecretService Keyring".

        Raises:
            KeyringUnavailableError: choosing the backend itself failed or timed out.
        """
        return self._call("find the keyring", lambda: _describe(_backend()), check=False)

    # -- the one door to the OS -----------------------------------------------------------------

    def _call(
        self, what: str, func: Callable[[], T], *, secret: str = "", check: bool = True
    ) -> T:
        """Run ``func`` in a daemon thread; turn every failure into ``KeyringUnavailableError``.

        Args:
            what: the action, for the message ("store the license key").
            func: the keyring call.
            secret: scrubbed from any message built here (the key being stored).
            check: refuse plaintext/no-op backends first (off for ``backend_name``).
        """
        if self._runner.stuck():
            raise KeyringUnavailableError(
                f"the keyring is not answering (an earlier call has been waiting for more than "
                f"{self.timeout:g} s), so cannot {what} (backend: {self._backend_name_quick()}); "
                f"{fix_hint()}"
            )

        def run() -> Any:
            if check:
                _refuse_unsafe(_backend())
            return func()

        call = self._runner.submit(run)
        if not call.done.wait(self.timeout):
            self._runner.mark_stuck(call)
            raise KeyringUnavailableError(
                f"the keyring did not answer within {self.timeout:g} s when trying to {what} "
                f"(backend: {self._backend_name_quick()}); {fix_hint()}"
            )
        if call.error is not None:
            error, call.error = call.error, None
            message = _explain(what, error, secret, self._backend_name_quick())
            del error  # its traceback frames hold the key being stored
            raise KeyringUnavailableError(message)
        return call.value

    def _backend_name_quick(self) -> str:
        """The backend's name without touching the OS (keyring caches its choice)."""
        try:
            import keyring.core

            chosen = getattr(keyring.core, "_keyring_backend", None)
            return _describe(chosen) if chosen is not None else "not chosen yet"
        except Exception:  # a name for a message must never fail
            return "unknown"

    def __repr__(self) -> str:
        return f"LicenseStore({self.service!r})"


class _Call:
    """One keyring call handed to the keyring thread."""

    def __init__(self, func: Callable[[], Any]) -> None:
        self.func: Callable[[], Any] | None = func
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _KeyringThread:
    """One daemon thread running a store's keyring calls in order.

    Started on first use and ended after ``IDLE_EXIT`` seconds without work, so idle stores
    (tests make many) hold no thread. ``mark_stuck`` records a call that missed its deadline;
    ``stuck`` stays true until that call returns.
    """

    IDLE_EXIT = 30.0

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stuck: _Call | None = None

    def submit(self, func: Callable[[], Any]) -> _Call:
        call = _Call(func)
        with self._lock:
            self._queue.put(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
        return call

    def mark_stuck(self, call: _Call) -> None:
        with self._lock:
            self._stuck = call

    def stuck(self) -> bool:
        with self._lock:
            call = self._stuck
            if call is not None and call.done.is_set():
                call.value = call.error = None  # late results may hold the key: drop them
                self._stuck = call = None
            return call is not None

    def _loop(self) -> None:
        while True:
            try:
                call = self._queue.get(timeout=self.IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            func, call.func = call.func, None
            try:
                call.value = func() if func is not None else None
            except BaseException as exc:  # reported in the caller's thread
                call.error = exc
            del func  # the closure holds the key being stored
            call.done.set()


def _backend() -> Any:
    import keyring

    return keyring.get_keyring()


def _describe(backend: Any) -> str:
    name = getattr(backend, "name", "") or type(backend).__name__
    inner = getattr(backend, "backends", None)
    if inner:
        return f"{name} ({', '.join(_describe(b) for b in inner)})"
    return str(name)


def _refuse_unsafe(backend: Any) -> None:
    """Raise when the chosen backend would store nothing or store in a plain file."""
    members = list(getattr(backend, "backends", None) or [backend])
    for member in members:
        module = type(member).__module__
        if module.startswith(_REFUSED_BACKENDS):
            from keyring.errors import NoKeyringError

            raise NoKeyringError(f"{type(member).__name__} from {module} is not a secure keyring")


def _explain(what: str, error: BaseException, secret: str, backend: str) -> str:
    """One line for the user: what failed, which backend, how to fix it. Never the key."""
    from keyring.errors import InitError, KeyringLocked, NoKeyringError

    detail = " ".join(str(error).split())[:160]
    if secret and secret in detail:
        detail = detail.replace(secret, "<license key>")
    kind = type(error).__name__
    if isinstance(error, KeyringLocked):
        return (f"the keyring is locked, so cannot {what} (backend: {backend}); unlock it "
                f"(on Linux: the \"login\" collection in Passwords and Keys / KeePassXC) and try "
                f"again")
    if isinstance(error, NoKeyringError):
        # keyring's own text suggests installing keyrings.alt (plaintext files): not our advice
        return f"no OS keyring is available, so cannot {what} (backend: {backend}); {fix_hint()}"
    elif isinstance(error, InitError) or (
        # keyring's SecretService priority check, in a process that has not chosen yet
        isinstance(error, RuntimeError) and "Secret Service" in str(error)
    ):
        why = "the keyring service is not running"
    elif isinstance(error, OSError):
        why = "no session bus / keyring service to talk to"
    else:
        why = "the keyring failed"
    return f"{why}, so cannot {what} (backend: {backend}; {kind}: {detail}); {fix_hint()}"


class KeyringSecretStore:
    """Small named values in the OS keyring, with the same timeout and errors as the key.

    Used by ``app.service.identity`` to keep a generated machine id where a reinstall of the app
    cannot lose it (the OS has none readable, e.g. in a container).

    Args:
        service: keyring service name.
        timeout: seconds per keyring call.
    """

    def __init__(self, service: str, *, timeout: float = 10.0) -> None:
        self._store = LicenseStore(service, timeout=timeout)

    @property
    def where(self) -> str:
        """Where values go, for ``id`` output."""
        return f"the OS keyring ({self._store.service})"

    def get(self, name: str) -> str:
        """The stored value, "" when none."""
        import keyring

        service = self._store.service
        return self._store._call("read the generated machine id",
                                 lambda: keyring.get_password(service, name)) or ""

    def set(self, name: str, value: str) -> None:
        """Store a value."""
        import keyring

        service = self._store.service
        self._store._call("store the generated machine id",
                          lambda: keyring.set_password(service, name, value), secret=value)
