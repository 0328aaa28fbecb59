"""The tray process: QApplication, one instance per user and state directory, quit handling.

Single instance: a ``QLockFile`` in the state directory decides who runs (Qt treats the lock of
a dead process as stale, so a crash never blocks the next start); the running instance listens
on a local socket (``app.ui.local_socket`` on POSIX, ``QLocalServer`` on Windows) so a second
start can ask it to show a window, then exits 0.

Start order: the lock, the application, the icon shown, the event loop; everything else (the
worker, the windows, the local server, the host door, the network watcher) is built by
``app.ui.session.TraySession`` once the loop runs, so this module imports none of it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QLockFile, QObject, Signal

from app import APP_ID, NAME, ORGANIZATION, __version__
from app.storage.paths import ensure_dir

if TYPE_CHECKING:  # Qt's network module is loaded after the icon is shown
    from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

LOCK_NAME = "tray.lock"
SEND_INTERVAL = 10.0  # seconds before retrying events that are due but were not sent
SHUTDOWN_TIMEOUT = 5.0  # seconds an in-flight request may take to finish at quit
EXIT_OK, EXIT_CONFIG = 0, 2


def server_name(state_dir: Path) -> str:
    """The local socket name for this user and state directory."""
    import hashlib

    from app.service.identity import os_user_name

    digest = hashlib.sha256(str(state_dir.resolve()).encode("utf-8")).hexdigest()[:16]
    # The account of the real uid, not $USER: the environment may differ between a terminal
    # and the session that starts the tray, and two names would mean two "single" instances.
    user = re.sub(r"[^A-Za-z0-9._-]", "_", os_user_name()[0])
    return f"{APP_ID}-{user}-{digest}"


class SingleInstance(QObject):
    """Decides whether this process is the one tray for a state directory.

    Args:
        state_dir: the state directory (lock file, socket name).

    Signals:
        messageReceived(str): another start asked for something (``show``, ``show consent``...).
    """

    messageReceived = Signal(str)

    def __init__(self, state_dir: Path) -> None:
        super().__init__()
        self.state_dir = state_dir
        self._name = ""
        self.lock = QLockFile(str(state_dir / LOCK_NAME))
        # 0: never stale by age; a lock whose process is gone is still detected as stale.
        self.lock.setStaleLockTime(0)
        self.server: QLocalServer | None = None
        self.unix_server: Any = None  # app.ui.local_socket.UnixLineServer (POSIX)

    @property
    def name(self) -> str:
        """The local socket's name (``server_name``), worked out when first needed."""
        if not self._name:
            self._name = server_name(self.state_dir)
        return self._name

    def acquire(self) -> bool:
        """Take the lock; False when another live instance holds it. The lock file holds our
        pid and host name: private (0600), like every file of the state directory."""
        if not self.lock.tryLock(200):
            return False
        with contextlib.suppress(OSError):
            os.chmod(self.state_dir / LOCK_NAME, 0o600)
        return True

    def holder_pid(self) -> int | None:
        """The pid of the instance holding the lock, if known."""
        info = self.lock.getLockInfo()  # PySide6: (pid, hostname, appname); pid 0 if unknown
        pid = info[0] if isinstance(info, tuple) and info else 0
        return int(pid) if pid else None

    def listen(self) -> None:
        """Accept messages from later starts (we hold the lock, so a leftover socket is stale)."""
        if os.name == "posix":
            from app.ui.local_socket import UnixLineServer, socket_path

            try:
                self.unix_server = UnixLineServer(socket_path(self.name), self._on_line, self)
            except OSError as exc:
                log.warning("cannot listen on %s: %s", self.name, exc.strerror or exc)
            return
        from PySide6.QtNetwork import QLocalServer

        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            log.warning("cannot listen on %s: %s", self.name, server.errorString())
            return
        server.newConnection.connect(self._on_connection)
        self.server = server

    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._on_ready_read(s))

    def _on_ready_read(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        from app.qt_emit import emit

        message = bytes(sock.readLine().data()).decode("utf-8", "replace").strip()
        sock.write(b"ok\n")
        sock.flush()
        sock.disconnectFromServer()
        emit(self.messageReceived, message)

    def _on_line(self, message: str) -> None:
        from app.qt_emit import emit

        emit(self.messageReceived, message)

    def send(self, message: str, timeout_ms: int = 3000) -> bool:
        """Deliver a message to the running instance; True when it acknowledged."""
        if os.name == "posix":
            from app.ui.local_socket import send_line, socket_path

            return send_line(socket_path(self.name), message, timeout_ms / 1000)
        from PySide6.QtNetwork import QLocalSocket

        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(message.encode("utf-8") + b"\n")
        sock.flush()
        if not sock.waitForReadyRead(timeout_ms):
            return False
        answer = bytes(sock.readAll().data()).strip()
        sock.disconnectFromServer()
        return answer == b"ok"

    def release(self) -> None:
        """Stop listening and unlock."""
        if self.unix_server is not None:
            self.unix_server.close()
            self.unix_server = None
        if self.server is not None:
            self.server.close()
            self.server = None
        self.lock.unlock()


def display_available() -> bool:
    """A display to show an icon on (not Qt's offscreen platform); changes nothing."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                    or os.environ.get("QT_QPA_PLATFORM"))
    return True


def _ensure_display() -> bool:
    """On X11/Wayland desktops without any display, fall back to Qt's offscreen platform."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return False
    return os.environ.get("QT_QPA_PLATFORM") != "offscreen"


def setup_language() -> str:
    """The tray's texts, numbers and dates in the user's language (``app.i18n``); returns it.

    Numbers and dates follow the chosen language, with the desktop's own formats when that is
    the desktop's language (a German desktop in Austria keeps its Austrian formats).
    """
    from PySide6.QtCore import QLocale

    from app import i18n

    system = QLocale.system()
    chosen = i18n.choose_language(system=system.name())
    language = i18n.setup(chosen)
    same = chosen.split("_")[0] == system.name().split("_")[0] and system.name() != "C"
    QLocale.setDefault(system if same else QLocale(chosen))
    log.info("language: %s (catalog %s)", chosen, language)
    return language


def forward(state_dir: Path, message: str) -> tuple[bool, int | None]:
    """If a tray runs for this state directory, hand it ``message``.

    Returns:
        (running, pid): whether another instance holds the lock, and its pid.
    """
    instance = SingleInstance(state_dir)
    if instance.acquire():
        instance.release()
        return False, None
    pid = instance.holder_pid()
    app = QCoreApplication.instance() or QCoreApplication([APP_ID])
    delivered = instance.send(message)
    del app
    if not delivered:
        log.info("the running instance (pid %s) did not answer %r", pid, message)
    return True, pid


def _quit_on_signals(app: QCoreApplication) -> Callable[[], None]:
    """Quit the event loop on SIGINT/SIGTERM without a polling timer; returns the undo.

    Python runs signal handlers only between bytecodes, and Qt's loop runs none while idle. The
    signal module writes the signal's number to a socket Qt watches, so the loop wakes exactly
    when a signal arrives (no periodic wake-up to let the handler run).
    """
    import socket

    from PySide6.QtCore import QSocketNotifier

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: quitting", signum)
        app.quit()

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    try:
        previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread: fall back to handlers alone
        previous_fd = None
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read)

    def drain() -> None:
        try:
            reader.recv(64)  # the handler itself has run (or runs right after this slot)
        except OSError:
            pass

    notifier.activated.connect(drain)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        notifier.setEnabled(False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()

    return restore


def run_tray(
    state_dir: Path,
    companion_factory: Callable[[], Any],
    license_factory: Callable[[Any], Any] | None,
    product: str,
    config_path: Path,
    *,
    show: str | None = None,
    interval: float = SEND_INTERVAL,
    windows_only: bool = False,
    out: Callable[[str], None] = print,
    login_args: Sequence[str] = (),
) -> int:
    """Run the tray (or, with ``windows_only``, just the window ``show``) until Quit.

    Args:
        state_dir: the state directory.
        companion_factory: builds the Companion (on the worker thread).
        license_factory: builds the license service for it, or None.
        product: the product's name.
        config_path: the vendor configuration in use (About).
        show: a window to open at start (``license``, ``consent``, ``history``, ``about``).
        interval: seconds between send rounds.
        windows_only: no tray and no send timer; quit when the last window closes.
        out: where to print messages for the user.
        login_args: options for "Start at login" to start us with (``--home``/``--config``
            as given, absolute; see ``app.service.autostart.login_args``).
    """
    from app.ui import first

    prepared = first.take(state_dir, windows_only)
    if prepared is not None:  # the icon is shown and the loop runs (app.ui.first)
        prepared.session = _session(prepared.app, prepared.instance, prepared.tray,
                                    prepared.icons, state_dir, companion_factory,
                                    license_factory, product, config_path, show, interval,
                                    windows_only, out, prepared.started, login_args)
        log.info("tray icon shown after %.2f s, before the command line was read",
                 prepared.shown_after)
        return EXIT_OK  # the session ends with the loop, in app.ui.first
    started = time.monotonic()
    ensure_dir(state_dir)
    instance = SingleInstance(state_dir)
    if not instance.acquire():
        pid = instance.holder_pid()
        app = QCoreApplication.instance() or QCoreApplication([APP_ID])
        message = f"show {show}" if show else "show"
        if instance.send(message):
            out(f"{NAME} is already running (pid {pid}); brought its window forward.")
        else:
            out(f"{NAME} is already running (pid {pid}).")
        del app
        return EXIT_OK
    try:
        return _run(instance, state_dir, companion_factory, license_factory, product,
                    config_path, show, interval, windows_only, out, started, login_args)
    finally:
        instance.release()


def application(windows_only: bool = False) -> Any:
    """The ``QApplication``, named, in the user's language, with the application icon set.

    Returns:
        (app, icons): the application and the ``app.ui.icons.Icons`` it uses.
    """
    from PySide6.QtWidgets import QApplication

    from app.ui.icons import Icons

    app = QApplication.instance() or QApplication([APP_ID])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_ID)
    app.setApplicationDisplayName(NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationVersion(__version__)
    app.setQuitOnLastWindowClosed(windows_only)
    setup_language()
    icons = Icons()
    app.setWindowIcon(icons.app())
    return app, icons


def show_icon(app: Any, icons: Any) -> Any:
    """The tray icon, shown now with a menu of Quit alone (``TraySession`` attaches the rest)."""
    from app.ui.tray import TrayIcon

    tray = TrayIcon(None, None, icons)
    tray.quitRequested.connect(app.quit)
    tray.show()
    return tray


def _session(app: Any, instance: SingleInstance, tray: Any, icons: Any, state_dir: Path,
             companion_factory: Callable[[], Any], license_factory: Callable[[Any], Any] | None,
             product: str, config_path: Path, show: str | None, interval: float,
             windows_only: bool, out: Callable[[str], None], started: float,
             login_args: Sequence[str]) -> Any:
    """The session that builds everything beyond the icon once the loop runs (started)."""
    from app.ui.session import TraySession

    session = TraySession(app, instance, tray, icons, state_dir, companion_factory,
                          license_factory, product, config_path, show=show, interval=interval,
                          windows_only=windows_only, out=out, started=started,
                          login_args=login_args)
    session.start_soon()
    return session


def loop(app: Any, tray: Any, end: Callable[[], int]) -> int:
    """Run the event loop until Quit (or SIGINT/SIGTERM); then hide the icon and ``end()``."""
    restore_signals = _quit_on_signals(app)
    try:
        app.exec()
    finally:
        restore_signals()
        if tray is not None:
            tray.hide()
        exit_code = end()
    return exit_code


def _run(instance: SingleInstance, state_dir: Path, companion_factory: Callable[[], Any],
         license_factory: Callable[[Any], Any] | None, product: str, config_path: Path,
         show: str | None, interval: float, windows_only: bool, out: Callable[[str], None],
         started: float, login_args: Sequence[str] = ()) -> int:
    from PySide6.QtWidgets import QSystemTrayIcon

    has_display = _ensure_display()
    app, icons = application(windows_only)
    tray = None
    if not windows_only:
        if QSystemTrayIcon.isSystemTrayAvailable():
            tray = show_icon(app, icons)
            log.info("tray icon shown after %.2f s", time.monotonic() - started)
        else:
            why = "no display" if not has_display else "no system tray on this desktop"
            out(f"{NAME}: {why}: running without an icon; sending continues. "
                f"Open the windows with `{APP_ID} show license|consent|history`.")
            log.warning("%s: running headless", why)
    session = _session(app, instance, tray, icons, state_dir, companion_factory,
                       license_factory, product, config_path, show, interval, windows_only,
                       out, started, login_args)
    return loop(app, tray, lambda: session.close(SHUTDOWN_TIMEOUT))
