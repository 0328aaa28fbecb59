"""``demo``: the whole flow offline in one command, without touching the user's own setup.

``Demo`` makes a private folder (a demo configuration, the KeyManager receiver's public key, a
state directory), starts both offline test receivers on free local ports (their live lines go
to the terminal), stores a demo license key in the keyring under the demo product id (so its
service name, ``license-companion:demo``, is no real product's) and queues example events of
every category. ``cmd_demo`` then starts the tray on it with the consent window open, or with
``--no-tray`` grants consent, sends and prints ``history``. At the end (Quit, Ctrl-C, SIGTERM)
the receivers stop and the folder and the demo key are removed, unless ``--keep``.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from types import FrameType, SimpleNamespace, TracebackType
from typing import TYPE_CHECKING, Any, TextIO, cast

from app.cli.context import EXIT_OK, Context
from app.model.errors import CompanionError
from app.model.text import printable
from app.support.logsetup import setup_logging

if TYPE_CHECKING:
    import argparse

    from app.core.companion import Companion
    from app.receiver.records import RecordedRequest
    from app.receiver.server import Receiver

PRODUCT_ID = "demo"  # the keyring service is license-companion:demo, not a real product's
PRODUCT_NAME = "License Companion demo"
API_KEY = "0d3e5c1a-5b7e-4c2f-9a61-2f4b8d0c6e17"  # accepted only by the demo's own receiver
APP_ID = "DEMO-APP"
SALT = "demo-salt"
# (name, kind, value, payload): two of each category of the embedded configuration.
EXAMPLE_EVENTS: tuple[tuple[str, str, Any, dict[str, Any] | None], ...] = (
    ("app.started", "number", 1, None),
    ("feature.export", "number", 3, {"format": "pdf"}),
    ("perf.startup_ms", "number", 812, None),
    ("perf.render_ms", "number", 41.5, None),
    ("error.code", "text", "E-DEMO-42", None),
    ("diag.retries", "number", 2, None),
)
CONFIG = """\
# The demo's configuration, made by `license-companion demo` (removed when it ends).
[product]
name = "{name}"
id = "{product}"
version = "1.0.0"

[keymanager]
url = "{km_url}"
api_key = "{api_key}"
public_key = "keymanager-public.pem"
timeout = 5

[telemetrydeck]
url = "{td_url}"
app_id = "{app_id}"
salt = "{salt}"
timeout = 5

[[consent.category]]
id = "usage"
title = "Feature usage"
description = "Which features you use and how often. No file names or content."
events = ["feature.*", "session.*", "app.*"]

[[consent.category]]
id = "performance"
title = "Performance"
description = "How long operations take and how much memory they use, as numbers."
events = ["perf.*"]

[[consent.category]]
id = "diagnostics"
title = "Diagnostics"
description = "Short error codes when something fails, to fix the most common problems first."
events = ["error.*", "diag.*"]
"""


class Demo:
    """The demo's folder, receivers and keyring entry, for the length of a ``with`` block.

    Args:
        keep: leave the folder and the demo key in place at the end.
        stream: where the receivers' lines and the demo's own messages go.
        log_level: the level of the log file in the demo's state directory (None: the
            process's logging is left as it is).
    """

    def __init__(self, *, keep: bool = False, stream: TextIO | None = None,
                 log_level: str | None = "INFO") -> None:
        self.keep = keep
        self.stream = stream if stream is not None else sys.stdout
        self.log_level = log_level
        self.folder = Path()
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()

    @property
    def config_path(self) -> Path:
        """The demo's vendor configuration."""
        return self.folder / "companion.toml"

    @property
    def state(self) -> Path:
        """The demo's state directory."""
        return self.folder / "state"

    def __enter__(self) -> Demo:
        from app.receiver.keymanager import KeyManagerReceiver
        from app.receiver.records import License
        from app.receiver.telemetrydeck import TelemetryDeckReceiver

        self.folder = Path(tempfile.mkdtemp(prefix="license-companion-demo-"))  # 0700
        self.license_key = str(uuid.uuid4())
        try:
            km = self._serve(KeyManagerReceiver(api_key=API_KEY,
                                                licenses={self.license_key: License()}))
            td = self._serve(TelemetryDeckReceiver(app_ids=[APP_ID]))
            self._write(self.folder / "keymanager-public.pem", km.public_key_pem)
            self._write(self.config_path, CONFIG.format(
                name=PRODUCT_NAME, product=PRODUCT_ID, km_url=km.url, api_key=API_KEY,
                td_url=td.url, app_id=APP_ID, salt=SALT).encode())
            self.state.mkdir(mode=0o700)
            if self.log_level is not None:
                setup_logging(self.state, self.log_level)
        except BaseException:
            self._stack.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.km, self.td = km, td
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()  # the receivers finish their requests and stop
        if self.keep:
            self.say(f"demo: kept {self.folder} and the demo license key; see it again with "
                     f"license-companion --home {self.state} --config {self.config_path} history")
            return
        forgotten = self._forget_key()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.say("demo: receivers stopped, demo state " +
                 ("and demo license key removed" if forgotten else "removed"))

    def say(self, line: str) -> None:
        """One line on the demo's terminal (never interleaved with a receiver's)."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            print(printable(line), file=self.stream, flush=True)

    def context(self, command: str, **args: Any) -> Context:
        """A command line context on the demo's configuration and state directory."""
        namespace = SimpleNamespace(home=str(self.state), config=str(self.config_path),
                                    command=command, log_level=self.log_level or "INFO", json=False,
                                    limit=None, **args)
        return Context(cast("argparse.Namespace", namespace))

    def prepare(self, companion: Companion) -> None:
        """Store the demo license key and queue the example events (undecided: held)."""
        try:
            assert companion.license is not None  # KeyManager is configured
            companion.license.set_key(self.license_key)
        except CompanionError as exc:
            self.say(f"demo: the demo license key could not be stored ({printable(exc)}); "
                     "KeyManager events wait for one, TelemetryDeck's do not")
        for name, kind, value, payload in EXAMPLE_EVENTS:
            companion.track(name, kind=kind, value=value, payload=payload)
        categories = ", ".join(c.id for c in companion.consent.categories)
        self.say(f"demo: queued {len(EXAMPLE_EVENTS)} example events ({categories}) in "
                 f"{self.state}")
        if companion.consent.do_not_track:
            self.say("demo: DO_NOT_TRACK is set, so nothing is sent while it is")

    def _serve(self, rx: Receiver) -> Any:
        from app.receiver.run import request_line

        def show(rec: RecordedRequest) -> None:
            self.say(request_line(rx, rec))

        rx.on_request = show
        self._stack.enter_context(rx)
        self.say(rx.banner())
        return rx

    def _write(self, path: Path, data: bytes) -> None:
        path.touch(mode=0o600)
        path.write_bytes(data)

    def _forget_key(self) -> bool:
        from app.storage.keyring.license_store import LicenseStore

        try:
            LicenseStore(LicenseStore.service_name(PRODUCT_ID, PRODUCT_NAME)).clear()
        except CompanionError as exc:
            self.say(f"demo: the demo license key could not be removed: {printable(exc)}")
            return False
        return True


def _stop_on_sigterm() -> Any:
    """SIGTERM ends the demo as Ctrl-C does (the tray installs its own while it runs)."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


def cmd_demo(ctx: Context, ui: Any) -> int:
    """``demo [--no-tray] [--keep]``: the tray (or, with ``ui`` None, the command line) on a
    private demo setup; see the module's docstring. ``ui`` is the entry point's
    ``app.cli.tray.TrayUi``, or None."""
    from app.cli.events import cmd_history, cmd_send
    from app.core.wiring import license_of

    previous = _stop_on_sigterm()
    try:
        with Demo(keep=ctx.args.keep, log_level=ctx.args.log_level) as demo:
            setup = demo.context("demo")
            try:
                demo.prepare(setup.companion)
                if ui is None:
                    granted = setup.companion.grant(None)
                    demo.say(f"demo: consent granted for the demo: {', '.join(granted)}")
                    code = cmd_send(setup)
                    cmd_history(setup)
                    return code
            finally:
                setup.close()
            demo.say("demo: the tray starts with the consent window open; allow a category "
                     "to send its events, Quit the tray to end the demo")
            tray = demo.context("tray")
            try:
                return int(ui.run_tray(demo.state, tray.build_companion, license_of,
                                       PRODUCT_NAME, demo.config_path, show="consent"))
            finally:
                tray.close()
    except KeyboardInterrupt:
        return EXIT_OK  # Ctrl-C (or SIGTERM) is a way to end the demo
    finally:
        signal.signal(signal.SIGTERM, previous)
