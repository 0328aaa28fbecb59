"""The one door to the OS keyring: every call on a keyring thread, with a deadline.

Why every call runs on a keyring thread with a deadline: the ``keyring`` package passes no
timeout to the OS. A locked Secret Service collection may wait for a prompt that never comes, a
stopped or frozen daemon can stall a D-Bus call for two minutes, and the tray must never freeze.
A call that misses its deadline is reported as ``KeyringUnavailableError``. Each ``Keyring`` has
one keyring thread (a daemon thread, so a hung call never blocks the process from exiting);
while a call that missed its deadline is still stuck on it, further calls fail at once ("the
keyring is not answering") instead of starting one more thread per call that would hang too.

Why there is no fallback: a secret quietly written to a file is exactly what this product
promises not to do. When the keyring cannot be used the error says which backend ``keyring``
picked and how to fix it on this OS. Backends that store secrets in plain files
(``keyrings.alt``) or store nothing (``fail``/``null``) are refused outright.

Nothing here puts a secret into an exception, a log line or a repr: errors are built from the
exception *type* and a scrubbed, shortened text, and never chain the original exception.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from app.model.errors import KeyringLockedError, KeyringUnavailableError
from app.support.i18n import _

log = logging.getLogger(__name__)

T = TypeVar("T")

# Backends that would keep a secret in a plain file or not at all: never acceptable.
_REFUSED_BACKENDS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


def fix_hint(platform: str | None = None) -> str:
    """How to get a working keyring on this OS, in one clause."""
    platform = platform or sys.platform
    if platform.startswith("win"):
        return _("sign in to Windows with your own account so Credential Manager is available "
                 "(Control Panel > Credential Manager)")
    if platform == "darwin":
        return _("unlock your login keychain in Keychain Access (or log out and in again)")
    return _("start a Secret Service (gnome-keyring-daemon, or KeePassXC with Secret Service "
             "integration enabled) in your desktop session and unlock its \"login\" collection")


class Keyring:
    """Named secrets under one keyring service, each call bounded by ``timeout``.

    Args:
        service: the keyring service name (e.g. ``license-companion:<product id>``).
        timeout: seconds any single keyring call may take before it counts as unavailable.
    """

    def __init__(self, service: str, *, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout
        self._runner = _KeyringThread(f"keyring-{service}")

    def get(self, name: str, what: str) -> str:
        """The value stored under ``name``, or "" when none is.

        Args:
            name: the entry's user name in the service.
            what: the action in the user's words, for a failure's message
                ("read the license key").

        Raises:
            KeyringUnavailableError: the keyring cannot be used (the message says how to fix it).
        """
        import keyring

        service = self.service
        return self._run(what, lambda: keyring.get_password(service, name)) or ""

    def set(self, name: str, value: str, what: str) -> None:
        """Store ``value`` under ``name``, replacing what was there.

        Raises:
            KeyringUnavailableError: the keyring cannot be used; ``value`` is not in the message.
        """
        import keyring

        service = self.service
        self._run(what, lambda: keyring.set_password(service, name, value), secret=value)

    def delete(self, name: str, what: str) -> bool:
        """Remove the entry ``name``; True when there was one.

        Raises:
            KeyringUnavailableError: the keyring cannot be used.
        """
        import keyring
        from keyring.errors import PasswordDeleteError

        service = self.service

        def delete() -> bool:
            try:
                keyring.delete_password(service, name)
            except PasswordDeleteError:
                return False
            return True

        return self._run(what, delete)

    def backend_name(self) -> str:
        """The keyring backend ``keyring`` chose, e.g. "SecretService Keyring".

        Raises:
            KeyringUnavailableError: choosing the backend itself failed or timed out.
        """
        return self._run("find the keyring", lambda: _describe(_backend()), check=False)

    def _run(
        self, what: str, func: Callable[[], T], *, secret: str = "", check: bool = True
    ) -> T:
        """Run ``func`` in a daemon thread; turn every failure into ``KeyringUnavailableError``.

        Args:
            what: the action, for the message ("store the license key").
            func: the keyring call.
            secret: scrubbed from any message built here (the value being stored).
            check: refuse plaintext/no-op backends first (off for ``backend_name``).
        """
        if self._runner.stuck():
            raise KeyringUnavailableError(
                _("the keyring is not answering (an earlier call has been waiting for more than "
                  "{seconds} s), so cannot {what} (backend: {backend}); {fix}").format(
                    seconds=f"{self.timeout:g}", what=_(what),
                    backend=self.quick_backend_name(), fix=fix_hint()))

        def guarded() -> Any:
            if check:
                _refuse_unsafe(_backend())
            return func()

        call = self._runner.submit(guarded)
        if not call.done.wait(self.timeout):
            self._runner.mark_stuck(call)
            raise KeyringUnavailableError(
                _("the keyring did not answer within {seconds} s when trying to {what} "
                  "(backend: {backend}); {fix}").format(
                    seconds=f"{self.timeout:g}", what=_(what),
                    backend=self.quick_backend_name(), fix=fix_hint()))
        if call.error is not None:
            error, call.error = call.error, None
            message = _explain(_(what), error, secret, self.quick_backend_name())
            locked = _is_locked(error)
            del error  # its traceback frames hold the key being stored
            raise (KeyringLockedError if locked else KeyringUnavailableError)(message)
        value: T = call.value
        return value

    def quick_backend_name(self) -> str:
        """The backend's name without touching the OS (keyring caches its choice)."""
        try:
            import keyring.core

            chosen = getattr(keyring.core, "_keyring_backend", None)
            return _describe(chosen) if chosen is not None else "not chosen yet"
        except Exception:  # a name for a message must never fail
            return "unknown"

    def __repr__(self) -> str:
        return f"Keyring({self.service!r})"


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
    """The backend ``keyring`` uses, chosen by this OS the first time (see ``_platform_backend``)."""
    import keyring.core

    if getattr(keyring.core, "_keyring_backend", None) is None:
        chosen = _platform_backend()
        if chosen is not None:
            keyring.core.set_keyring(chosen)
    return keyring.get_keyring()


def _platform_backend(platform: str | None = None) -> Any:
    """This OS's own keyring, or None to let ``keyring`` choose by its own rules.

    Why: ``keyring``'s discovery imports every backend it ships (the macOS and Windows ones
    on Linux too) to ask each for its priority. The OS's own store is what it would pick
    anyway; when the user configured a backend (``PYTHON_KEYRING_BACKEND``, keyringrc.cfg),
    on another OS, or when this OS's store cannot be used here (e.g. KWallet without a
    Secret Service), ``keyring`` decides as before.
    """
    import os

    platform = platform or sys.platform
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return None
    from keyring.util import platform_ as keyring_platform

    if (keyring_platform.config_root() / "keyringrc.cfg").exists():
        return None
    if platform.startswith("linux"):
        from keyring.backends import SecretService

        backend: Any = SecretService.Keyring
    elif platform == "win32":
        from keyring.backends import Windows

        backend = Windows.WinVaultKeyring
    elif platform == "darwin":
        from keyring.backends import macOS

        backend = macOS.Keyring
    else:
        return None
    try:
        backend.priority  # noqa: B018 - raises when this store cannot be used here
    except Exception:
        return None
    return backend()


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
        return _("the keyring is locked, so cannot {what} (backend: {backend}); unlock it "
                 "(on Linux: the \"login\" collection in Passwords and Keys / KeePassXC) and try "
                 "again").format(what=what, backend=backend)
    if isinstance(error, NoKeyringError):
        # keyring's own text suggests installing keyrings.alt (plaintext files): not our advice
        return _("no OS keyring is available, so cannot {what} (backend: {backend}); "
                 "{fix}").format(what=what, backend=backend, fix=fix_hint())
    elif isinstance(error, InitError) or (
        # keyring's SecretService priority check, in a process that has not chosen yet
        isinstance(error, RuntimeError) and "Secret Service" in str(error)
    ):
        why = _("the keyring service is not running")
    elif isinstance(error, OSError):
        why = _("no session bus / keyring service to talk to")
    else:
        why = _("the keyring failed")
    # The keyring library's own words stay as they are (after the kind of error).
    return _("{why}, so cannot {what} (backend: {backend}; {kind}: {detail}); {fix}").format(
        why=why, what=what, backend=backend, kind=kind, detail=detail, fix=fix_hint())


def _is_locked(error: BaseException) -> bool:
    from keyring.errors import KeyringLocked

    return isinstance(error, KeyringLocked)
