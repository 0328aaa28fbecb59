#!/usr/bin/env bash
# Every benchmark figure beside its baseline: a table on stdout, the same as JSON under
# benchmarks/results/. Usage: scripts/bench.sh [--quick] [--only tray,cli,...] [--runs N]
# Uses $PYTHON, else the repository's .venv, else python3. Never fails on a number: the exit
# status is non-zero only when the run itself could not happen.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
else
    py=python3
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
unset QT_QPA_PLATFORM  # the tray figures need the real X server they start
exec "$py" -m benchmarks "$@"
