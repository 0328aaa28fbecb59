"""``send`` SIGKILLed at random points: every event arrives, and at most a bounded few times.

A small run of ``benchmarks/kill_loop.py`` (the benchmark prints the full figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.storage.outbox import MAX_UNANSWERED
from benchmarks.kill_loop import child_env, run_kill_loop

pytestmark = pytest.mark.timeout(300)


def test_copies_per_event_stay_within_the_bound(tmp_path):
    result = run_kill_loop(tmp_path, events=6, iterations=10, latency=1.0, earliest=0.6,
                           window=2.2, add=1, seed=7)
    assert result["final_send_exit"] == 0, result
    assert result["killed"] > 0, result
    assert result["max_copies"] <= MAX_UNANSWERED, result
    assert result["missing"] == 0, result
    env = child_env(tmp_path / "home", tmp_path / "companion.toml", tmp_path)
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    shown = subprocess.run([sys.executable, "-m", "app", "history", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
    entries = json.loads(shown.stdout)
    if result["max_copies"] > 1:
        assert any(e["possible_duplicates"] for e in entries), entries
