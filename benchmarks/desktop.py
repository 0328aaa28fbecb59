"""A real X session with a real tray host: Xvfb + openbox + trayer (XEmbed), seen through xdotool.

The one desktop the tray benchmarks and the tray's end-to-end tests both start, each on a free
display of its own so a benchmark never shares one with a test run.

Xvfb runs with ``-noreset``. An X server otherwise resets itself when its last client
disconnects, and refuses connections while it does: the ``xdotool`` probe that finds the server
ready is such a client, so openbox and trayer, started right after it, could fail with "cannot
open display". A helper that exits while the desktop starts is started again, and when the
desktop still does not come up, the error quotes the end of its log.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOOLS = ("Xvfb", "openbox", "trayer", "xdotool")
TRAYER = ("trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
          "--height", "24", "--transparent", "false", "--tint", "0xd0d0d0")
# What a process started on this desktop must not inherit: another platform, display or bus.
NOT_INHERITED = ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
START_TRIES = 3


def missing_tools(extra: tuple[str, ...] = ()) -> list[str]:
    """The desktop programs (and ``extra`` ones) that are not installed."""
    return [tool for tool in (*TOOLS, *extra) if shutil.which(tool) is None]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll until ``predicate`` returns something true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class Desktop:
    """Xvfb + openbox + trayer on a free display; ``stop()`` ends all three.

    ``env`` is the environment for a process on this display: this one's, pointed at the
    display, without a Qt platform, Wayland display or session bus of its own.
    """

    def __init__(self, log: Path, displays: range = range(100, 900)) -> None:
        self.display = ""
        self.log = log
        self.displays = displays
        self.procs: list[subprocess.Popen] = []
        self.env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}

    def _spawn(self, *cmd: str) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(list(cmd), env=self.env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def _log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-12:])

    def _fail(self, what: str) -> RuntimeError:
        return RuntimeError(f"{what}; the end of {self.log}:\n{self._log_tail()}")

    def _start_server(self) -> None:
        first = random.randrange(self.displays.start, self.displays.stop)
        for number in (*range(first, self.displays.stop), *range(self.displays.start, first)):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.display = f":{number}"
            self.env["DISPLAY"] = self.display
            # Another run may take the number meanwhile: then this Xvfb exits, and we go on.
            xvfb = self._spawn("Xvfb", self.display, "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp", "-noreset")
            sock = Path(f"/tmp/.X11-unix/X{number}")
            wait_for(lambda x=xvfb, p=sock: x.poll() is not None or p.exists(), 10, "Xvfb")
            if xvfb.poll() is None:
                wait_for(lambda: self.xdotool("getdisplaygeometry"), 10, "Xvfb to answer")
                return
            self.procs.remove(xvfb)
        raise self._fail("Xvfb did not start on any free display")

    def _start_helper(self, cmd: tuple[str, ...], ready: Callable[[], Any], what: str) -> None:
        """Start ``cmd`` until ``ready()`` holds, again if it exits meanwhile (a few times)."""
        for _ in range(START_TRIES):
            proc = self._spawn(*cmd)
            try:
                wait_for(lambda p=proc: ready() or p.poll() is not None, 20, what)
            except TimeoutError:
                raise self._fail(f"{what} did not come up in 20 s") from None
            if ready():
                return
            self.procs.remove(proc)
        raise self._fail(f"{what} exited {START_TRIES} times as it started")

    def start(self) -> None:
        try:
            self._start_server()
            # openbox's own (unmapped) window carries its class once it manages the screen.
            self._start_helper(("openbox",), lambda: self.xdotool("search", "--class", "openbox"),
                               "openbox")
            self._start_helper(TRAYER, lambda: self.xdotool("search", "--class", "trayer"),
                               "trayer")
        except BaseException:
            self.stop()
            raise

    def on_display(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` pointed at this display."""
        return {**base, "DISPLAY": self.display}

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a program on this display and capture its output."""
        return subprocess.run(list(cmd), env=self.env, capture_output=True, text=True,
                              timeout=20, check=check)

    def xdotool(self, *args: str) -> str:
        """xdotool's output ("" when it fails)."""
        done = self.run("xdotool", *args, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    def windows_of(self, pid: int) -> list[str]:
        return self.xdotool("search", "--pid", str(pid)).split()

    def geometry(self, window: str) -> tuple[int, int, int, int]:
        """x, y, width and height of ``window`` (-1, -1, 0, 0 once it is gone)."""
        values = dict(line.split("=", 1)
                      for line in self.xdotool("getwindowgeometry", "--shell", window).split()
                      if "=" in line)
        return (int(values.get("X", -1)), int(values.get("Y", -1)), int(values.get("WIDTH", 0)),
                int(values.get("HEIGHT", 0)))

    def docked_icon(self, pid: int) -> str:
        """The window of ``pid`` docked in trayer's strip (top right, at most 32 px), or ""."""
        for window in self.windows_of(pid):
            x, y, w, h = self.geometry(window)
            if 0 < w <= 32 and 0 < h <= 32 and 0 <= y < 40 and x > 600:
                return window
        return ""

    def find_name(self, name: str) -> str:
        """The first visible window whose title holds ``name``, or ""."""
        found = self.xdotool("search", "--onlyvisible", "--name", name).split()
        return found[0] if found else ""

    def screenshot(self, path: Path) -> Path:
        """The whole screen as a PNG (ImageMagick's ``import``), once drawing has settled."""
        time.sleep(0.6)  # an X server without a compositor may still be drawing
        self.run("import", "-window", "root", str(path))
        return path

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()

    def __enter__(self) -> Desktop:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
