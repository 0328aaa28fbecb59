"""Copies per event at the receiver when ``send`` is killed at random points.

Run on demand: ``.venv/bin/python benchmarks/kill_loop.py [--events N] [--iterations K]
[--latency S] [--seed X]``. Nothing here is a test: it prints numbers (and ``--json`` prints
them as JSON). The test suite runs a small version and asserts the bound.

What it does: queues ``--events`` events for a local TelemetryDeck receiver that answers after
``--latency`` seconds (it stores a request before waiting, as a real server would), then
``--iterations`` times queues ``--add`` more events, starts ``python -m app send`` and SIGKILLs
it after a random delay between ``--earliest`` and ``--window`` seconds (long enough for the
process to start and send, so kills land before, during and after the request). A last
``send`` runs to its end. Then every
event's copies at the receiver are counted. At-least-once delivery means copies ≥ 1 for every
event; what this measures is how many more.

``--repo`` runs another checkout's ``app`` in the child processes (e.g. the code before a
change), with ``PYTHONPATH`` pointing at it for the parent too.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path and not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(ROOT))

from app.core.identity import Identity  # noqa: E402
from app.core.wiring import build_companion  # noqa: E402
from app.receiver import TelemetryDeckReceiver  # noqa: E402
from app.storage.config import load_config  # noqa: E402

CONFIG = """
[product]
name = "Kill loop"
id = "1"
version = "1.0.0"
[keymanager]
enabled = false
[telemetrydeck]
url = "{url}"
app_id = "KILL"
salt = "s"
timeout = 10
[[consent.category]]
id = "usage"
title = "Usage"
description = "Which features are used"
events = ["feature.*"]
"""
IDENTITY = Identity("u" * 32, "a" * 32, "bench", "bench")


def child_env(home: Path, config: Path, repo: Path) -> dict[str, str]:
    """The environment of each ``send``: our state dir and config, no keyring needed."""
    env = {k: v for k, v in os.environ.items() if k != "DO_NOT_TRACK"}
    env.update(LICENSE_COMPANION_HOME=str(home), LICENSE_COMPANION_CONFIG=str(config),
               PYTHONPATH=str(repo), QT_QPA_PLATFORM="offscreen",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return env


def run_kill_loop(work: Path, *, events: int = 20, iterations: int = 20, latency: float = 1.0,
                  window: float = 2.5, earliest: float = 0.5, add: int = 2, seed: int = 1,
                  repo: Path = ROOT) -> dict[str, Any]:
    """Queue, kill ``send`` ``iterations`` times, finish, count copies; returns the figures."""
    rng = random.Random(seed)
    with TelemetryDeckReceiver() as receiver:
        receiver.slow = latency
        config = work / "companion.toml"
        config.write_text(CONFIG.format(url=receiver.url))
        home = work / "home"
        companion = build_companion(load_config(config), home, identity=lambda: IDENTITY,
                                    environ={})
        try:
            companion.grant()
            for i in range(events):
                companion.track(f"feature.e{i:04d}", kind="number", value=i)
        finally:
            companion.close()
        total = events
        env = child_env(home, config, repo)
        command = [sys.executable, "-m", "app", "send"]
        kills = 0
        started = time.monotonic()
        for _ in range(iterations):
            if add:
                more = build_companion(load_config(config), home, identity=lambda: IDENTITY,
                                       environ={})
                try:
                    for i in range(total, total + add):
                        more.track(f"feature.e{i:04d}", kind="number", value=i)
                finally:
                    more.close()
                total += add
            proc = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            try:
                proc.wait(rng.uniform(earliest, window))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
        final = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True,
                               timeout=120)
        elapsed = time.monotonic() - started
        copies = collections.Counter(s.get("type") for s in receiver.accepted_events())
    per_event = [copies.get(f"feature.e{i:04d}", 0) for i in range(total)]
    return {
        "events": total,
        "iterations": iterations,
        "killed": kills,
        "latency_s": latency,
        "kill_after_s": [earliest, window],
        "seed": seed,
        "final_send_exit": final.returncode,
        "missing": sum(1 for c in per_event if c == 0),
        "max_copies": max(per_event),
        "mean_copies": round(sum(per_event) / len(per_event), 2),
        "copies_histogram": dict(sorted(collections.Counter(per_event).items())),
        "seconds": round(elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--earliest", type=float, default=0.5)
    parser.add_argument("--window", type=float, default=2.5)
    parser.add_argument("--add", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_kill_loop(Path(tmp), events=args.events, iterations=args.iterations,
                               latency=args.latency, window=args.window,
                               earliest=args.earliest, add=args.add, seed=args.seed,
                               repo=args.repo.resolve())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:18} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
