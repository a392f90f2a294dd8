#!/usr/bin/env bash
# Creates .venv (if missing) and installs the pinned requirements into it.
# Usage: bash scripts/setup.sh        (about a minute and 2.7 GB on a fresh machine)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/python -c "import tensorflow as tf, official.vision; print('tensorflow', tf.__version__, 'ready')" 2>&1 | tail -1
