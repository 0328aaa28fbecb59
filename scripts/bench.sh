#!/usr/bin/env bash
# Every benchmark figure beside its baseline: a table on stdout, the same as JSON under
# benchmarks/results/. Usage: scripts/bench.sh [--quick] [--only tray,cli,...] [--runs N]
# [--build | --no-build]. The frozen figures measure dist/: a full run first builds it with
# PyInstaller (~30 s of CPU, timed apart) when it is missing or older than the sources; --quick
# measures what is there unless --build is given.
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
