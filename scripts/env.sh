#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned packages.
# Idempotent: a second run only checks a stamp; it reinstalls when pyproject.toml or constraints.txt changed.
# Usage: bash scripts/env.sh            -> prints the venv's python path on the last line
# Env:   POSTPASS_VENV (default .venv in the repo), PYTHON (default python3.11)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${POSTPASS_VENV:-$root/.venv}
py=${PYTHON:-}
if [ -z "$py" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py=$cand; break
    fi
  done
fi
[ -n "$py" ] || { echo "postpass: Python 3.11 is required (bpy 5.0.1 wheels exist only for 3.11); set PYTHON=/path/to/python3.11" >&2; exit 1; }

want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -c1-16)
stamp="$venv/.postpass-env"
if [ ! -x "$venv/bin/python" ]; then
  echo "postpass: creating $venv" >&2
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "postpass: installing pinned packages into $venv (a few minutes the first time)" >&2
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -c "$root/constraints.txt" -e "$root[train,farm,dev]" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
