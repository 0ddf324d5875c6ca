#!/usr/bin/env bash
# Set up the environment (once) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$(bash "$root/scripts/env.sh" | tail -n 1)
cd "$root"
exec "$python" -m pytest tests "$@"
