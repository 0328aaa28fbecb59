#!/usr/bin/env bash
# Run License Companion from a checkout: runtime system packages, a venv, then the app.
#
# Usage: scripts/run-app.sh [license-companion args...]   e.g. scripts/run-app.sh status
# Setup output goes to stderr so the app's own stdout (e.g. --json) stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-deps.sh --runtime >&2

if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c "" 2>/dev/null; then
    timeout 300 python3 -m venv --clear .venv >&2
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=60 PIP_NO_INPUT=1
timeout 1800 .venv/bin/python -m pip install -q --progress-bar off -e . >&2

exec .venv/bin/license-companion "$@"
