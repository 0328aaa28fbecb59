"""A real X session with a real tray host: Xvfb + openbox + trayer (XEmbed), seen through xdotool.

The same desktop the tray's end-to-end test uses, started here on its own free display so a
benchmark never shares one with a test run.
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


def missing_tools() -> list[str]:
    """The desktop programs that are not installed."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll until ``predicate`` returns something true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


class Desktop:
    """Xvfb + openbox + trayer on a free display; ``stop()`` ends all three."""

    def __init__(self, log: Path) -> None:
        self.display = ""
        self.log = log
        self.procs: list[subprocess.Popen] = []

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` pointed at this display."""
        return {**base, "DISPLAY": self.display}

    def _spawn(self, *cmd: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env["DISPLAY"] = self.display
        with open(self.log, "ab") as log:
            proc = subprocess.Popen(list(cmd), env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        for number in range(random.randrange(500, 800), 900):
            if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
                continue
            self.display = f":{number}"
            xvfb = self._spawn("Xvfb", self.display, "-screen", "0", "1280x800x24",
                               "-nolisten", "tcp")
            sock = Path(f"/tmp/.X11-unix/X{number}")
            wait_for(lambda x=xvfb, p=sock: x.poll() is not None or p.exists(), 10, "Xvfb")
            if xvfb.poll() is None:
                break
            self.procs.remove(xvfb)
        else:
            raise RuntimeError(f"Xvfb did not start; see {self.log}")
        wait_for(lambda: self.xdotool("getdisplaygeometry"), 10, "Xvfb to answer")
        self._spawn("openbox")
        self._spawn("trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                    "--height", "24", "--transparent", "false", "--tint", "0xd0d0d0")
        wait_for(lambda: self.xdotool("search", "--class", "trayer"), 20, "trayer")

    def xdotool(self, *args: str) -> str:
        """xdotool's output ("" when it fails)."""
        done = subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": self.display},
                              capture_output=True, text=True, timeout=20, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    def docked_icon(self, pid: int) -> str:
        """The window of ``pid`` docked in trayer's strip (top right, at most 32 px), or ""."""
        for window in self.xdotool("search", "--pid", str(pid)).split():
            shell = self.xdotool("getwindowgeometry", "--shell", window)
            values = dict(line.split("=", 1) for line in shell.split() if "=" in line)
            x, y = int(values.get("X", -1)), int(values.get("Y", -1))
            w, h = int(values.get("WIDTH", 0)), int(values.get("HEIGHT", 0))
            if 0 < w <= 32 and 0 < h <= 32 and 0 <= y < 40 and x > 600:
                return window
        return ""

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
