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


def thread_switches(pid: int) -> dict[int, tuple[int, int]]:
    """Voluntary and involuntary context switches of every live thread, by thread id.

    A voluntary switch is the thread going to sleep (poll, a timer, a lock): after the first,
    each one is a wake-up, so their rate at idle is the wake-up rate.
    """
    counts: dict[int, tuple[int, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        voluntary = involuntary = 0
        try:
            text = (task / "status").read_text()
        except OSError:
            continue  # the thread ended
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary = int(line.split()[1])
        counts[int(task.name)] = (voluntary, involuntary)
    return counts


def thread_names(pid: int) -> dict[int, str]:
    """Each live thread's name (``comm``: Qt names its threads, Python's show as the program)."""
    names = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names[int(task.name)] = (task / "comm").read_text().strip()
        except OSError:
            continue
    return names


@dataclass(frozen=True)
class Snapshot:
    """CPU time and per-thread context switches at one moment."""

    cpu: float
    threads: dict[int, tuple[int, int]]
    names: dict[int, str]

    @classmethod
    def of(cls, pid: int) -> Snapshot:
        return cls(cpu_seconds(pid), thread_switches(pid), thread_names(pid))

    def busiest(self, before: Snapshot, count: int = 3) -> list[tuple[str, int]]:
        """The threads that woke up most since ``before``: (name, voluntary switches)."""
        woke = [(self.names.get(tid, str(tid)), vol - before.threads.get(tid, (0, 0))[0])
                for tid, (vol, _invol) in self.threads.items()]
        return sorted(woke, key=lambda item: -item[1])[:count]

    def since(self, before: Snapshot) -> tuple[int, int]:
        """Switches since ``before`` of the threads alive now (a new thread counts from 0).

        A thread that ended in between takes its last switches with it: undercounted, never
        negative; ``churn`` says whether that happened.
        """
        voluntary = involuntary = 0
        for tid, (vol, invol) in self.threads.items():
            old = before.threads.get(tid, (0, 0))
            voluntary += vol - old[0]
            involuntary += invol - old[1]
        return voluntary, involuntary

    def churn(self, before: Snapshot) -> tuple[int, int]:
        """Threads started and ended between ``before`` and now."""
        return (len(self.threads.keys() - before.threads.keys()),
                len(before.threads.keys() - self.threads.keys()))
