#!/usr/bin/env bash
# The whole check, as CI runs it: system packages, a venv, lint, then the test suite.
#
# Usage: scripts/test.sh [pytest args...]   e.g. scripts/test.sh tests/unit -x
# Exit code: pytest's when it fails; otherwise ruff's, so a lint error still fails CI but never
# hides the test results. TEST_TIMEOUT (default 3600 s) bounds the pytest run as a whole;
# pytest-timeout bounds each test (pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh

# Recreate a venv whose interpreter is gone (e.g. the system Python was upgraded).
if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c "" 2>/dev/null; then
    timeout 300 python3 -m venv --clear .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=60 PIP_NO_INPUT=1
timeout 1800 .venv/bin/python -m pip install -q --progress-bar off -e '.[dev]'

# Lint only the folders that exist (ruff reports a missing path as an error).
lint_paths=()
for dir in app tests benchmarks scripts installer tools; do
    [[ -e "$dir" ]] && lint_paths+=("$dir")
done
ruff_rc=0
.venv/bin/ruff check "${lint_paths[@]}" || ruff_rc=$?
# Types (pyproject.toml [tool.mypy]: strict for model, storage, backends, service).
.venv/bin/mypy || ruff_rc=$?

export QT_QPA_PLATFORM=offscreen
# SIGINT first so pytest prints its summary; KILL if it does not stop. `timeout` puts itself in
# its own process group, so a signal to this script would orphan the run: forward it instead.
timeout --signal=INT --kill-after=60 "${TEST_TIMEOUT:-3600}" \
    .venv/bin/python -m pytest "$@" </dev/null &
child=$!
trap 'kill -INT "$child" 2>/dev/null || true' INT
trap 'kill -TERM "$child" 2>/dev/null || true' TERM HUP
while true; do
    pytest_rc=0
    wait "$child" || pytest_rc=$?
    # A trapped signal interrupts `wait` while the run is still going: wait again.
    kill -0 "$child" 2>/dev/null || break
done
trap - INT TERM HUP

if [[ $pytest_rc -ne 0 ]]; then
    exit "$pytest_rc"
fi
exit "$ruff_rc"
