"""What Linux tells about a running process: memory, CPU time, wake-ups (from /proc)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of all the process's threads (``utime + stime`` of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches summed over every thread.

    A voluntary switch is the thread going to sleep (poll, a timer, a lock): after the first,
    each one is a wake-up, so their rate at idle is the wake-up rate.
    """
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # the thread ended
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


@dataclass(frozen=True)
class Snapshot:
    """CPU time and context switches at one moment."""

    cpu: float
    voluntary: int
    involuntary: int
    threads: int

    @classmethod
    def of(cls, pid: int) -> Snapshot:
        voluntary, involuntary = switches(pid)
        threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
        return cls(cpu_seconds(pid), voluntary, involuntary, threads)
