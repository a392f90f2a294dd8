#!/usr/bin/env bash
# Creates .venv (if missing), installs the pinned requirements into it, then the
# project itself (editable: `core`, `datasets`, `augment`, `cli`, `research` import
# from this checkout, from any directory).
# Usage: bash scripts/setup.sh        (a few minutes and about 2.7 GB on a fresh machine)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/python -c "import tensorflow as tf, official.vision, core, datasets; print('tensorflow', tf.__version__, 'ready')" 2>&1 | tail -1
