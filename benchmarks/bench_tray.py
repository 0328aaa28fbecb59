"""The tray in a real X session: start → icon docked, idle RSS, idle CPU and wake-ups.

Ours is ``python -m app tray`` with a vendor config whose two backends are enabled (nothing
listens at their URLs) but have nothing to send (consent granted beforehand, queue empty, so no
window opens at start); the baseline is benchmarks/smallest_tray.py. Runs alternate A/B in the
same Xvfb + openbox + trayer session, both in the same user session (benchmarks/session.py: a
private bus and keyring holding the license key).

Both run with a bytecode cache of this run's, as an installed product does (the warm-up
start of each writes it). Start → icon is the time from ``Popen`` to the moment xdotool sees
the process's icon window docked in trayer's strip (polled every 20 ms, which costs both sides
the same). RSS is VmRSS 3 s after the icon docked. Idle runs both side by side for the window
and reads utime+stime and the voluntary context switches of every thread from /proc.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.core import Row, Settings, Stat, alternate, clean_env, failed, with_bytecode
from benchmarks.desktop import Desktop, missing_tools, wait_for
from benchmarks.procstat import TICK, Snapshot, rss_kib
from benchmarks.session import user_session

SETTLE = 3.0  # seconds after the icon docked before RSS is read
GOALS = {"start": "≤ 1.3×", "rss": "≤ 1.4×",
         "idle": "no timer fires while nothing to send; CPU ≈ 0"}


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, a bounded wait, then SIGKILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class TrayRunner:
    """Starts a tray command on the desktop and measures it."""

    def __init__(self, desktop: Desktop, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.desktop, self.cmd, self.env, self.log = desktop, cmd, env, log
        self.rss: list[float] = []

    def spawn(self) -> subprocess.Popen:
        with open(self.log, "ab") as log:
            return subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=log)

    def start_to_icon(self) -> float:
        """One cold start: seconds to the docked icon (and its RSS after ``SETTLE``)."""
        started = time.perf_counter()
        proc = self.spawn()
        try:
            def docked() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.cmd[-1]} exited ({proc.returncode}); see {self.log}")
                return bool(self.desktop.docked_icon(proc.pid))

            wait_for(docked, 60, f"the icon of {' '.join(self.cmd[-2:])}")
            elapsed = time.perf_counter() - started
            time.sleep(SETTLE)
            self.rss.append(rss_kib(proc.pid) / 1024)
            return elapsed
        finally:
            stop(proc)


def idle(runners: list[TrayRunner], window: float) -> list[tuple[Snapshot, Snapshot]]:
    """Start every runner, let them settle, and read /proc over ``window`` seconds."""
    procs = [r.spawn() for r in runners]
    try:
        for runner, proc in zip(runners, procs, strict=True):
            wait_for(lambda r=runner, p=proc: r.desktop.docked_icon(p.pid), 60, "an icon")
        time.sleep(SETTLE)
        before = [Snapshot.of(p.pid) for p in procs]
        time.sleep(window)
        after = [Snapshot.of(p.pid) for p in procs]
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError("a tray exited during the idle window")
        return list(zip(before, after, strict=True))
    finally:
        for proc in procs:
            stop(proc)


def run(s: Settings) -> list[Row]:
    """Start → icon and idle RSS (alternating), then idle CPU and wake-ups side by side."""
    names = ("tray start → icon docked", "tray idle RSS (3 s after icon)",
             f"tray idle CPU over {s.idle_window:g} s, queue empty",
             f"tray idle wake-ups/min over {s.idle_window:g} s, queue empty")
    goals = (GOALS["start"], GOALS["rss"], GOALS["idle"], GOALS["idle"])
    missing = missing_tools()
    if missing:
        return [failed(n, "not available", f"needs {', '.join(missing)} (Debian: xvfb openbox "
                                              "trayer xdotool)", g) for n, g in zip(names, goals,
                                                                                     strict=True)]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lc-bench-tray-") as tmp_text:
        tmp = Path(tmp_text)
        with user_session(tmp, s.python, clean_env()) as (env, session), \
                Desktop(tmp / "desktop.log", displays=range(500, 900)) as desktop:
            env = with_bytecode(desktop.on_display(env), tmp / "pyc")
            ours = TrayRunner(desktop, [s.python, "-m", "app", "tray"], env, tmp / "ours.log")
            base = TrayRunner(desktop, [s.python, "-m", "benchmarks.smallest_tray"], env,
                              tmp / "smallest.log")
            base.start_to_icon()  # warm the page cache for both (Qt's libraries are shared)
            ours.start_to_icon()
            ours.rss.clear()
            base.rss.clear()
            a, b = alternate(s.runs, ours.start_to_icon, base.start_to_icon)
            setup = ("python -m app tray (consent granted, queue empty, backends idle) vs "
                     "benchmarks/smallest_tray.py; Xvfb+openbox+trayer, XEmbed; " + session)
            rows.append(Row(names[0], Stat(a, "s"), Stat(b, "s"), "smallest PySide6 tray",
                            goals[0], note=setup))
            rows.append(Row(names[1], Stat(ours.rss, "MiB"), Stat(base.rss, "MiB"),
                            "smallest PySide6 tray", goals[1], note="VmRSS"))
            try:
                (ob, oa), (bb, ba) = idle([ours, base], s.idle_window)
            except Exception as exc:
                rows.append(failed(names[2], "error", f"{type(exc).__name__}: {exc}", goals[2]))
                return rows
            per_min = 60.0 / s.idle_window
            cpu = Row(names[2], Stat([(oa.cpu - ob.cpu) / s.idle_window * 100], "%"),
                      Stat([(ba.cpu - bb.cpu) / s.idle_window * 100], "%"),
                      "smallest PySide6 tray (reference)", goals[2],
                      note=f"utime+stime from /proc, resolution 1/{TICK} s; one window, both side by side")
            o_vol, o_invol = oa.since(ob)
            b_vol, b_invol = ba.since(bb)
            o_new, o_gone = oa.churn(ob)
            b_new, b_gone = ba.churn(bb)
            wake = Row(names[3], Stat([o_vol * per_min], "/min"), Stat([b_vol * per_min], "/min"),
                       "smallest PySide6 tray (reference)", goals[3],
                       note=(f"voluntary context switches of every thread from /proc "
                             f"(threads: ours {len(oa.threads)}, {o_new} started / {o_gone} "
                             f"ended in the window; smallest {len(ba.threads)}, {b_new} / "
                             f"{b_gone}); involuntary: ours {o_invol * per_min:.0f}/min, "
                             f"smallest {b_invol * per_min:.0f}/min; ours' busiest threads: "
                             + ", ".join(f"{name} {n * per_min:.0f}/min"
                                         for name, n in oa.busiest(ob))))
            rows += [cpu, wake]
    return rows
