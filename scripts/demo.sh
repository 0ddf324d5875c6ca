#!/usr/bin/env bash
# Set up the environment (once) and run the demo: render the built-in scene with Cycles, run Postpass on it,
# write results and a side-by-side comparison PNG. Extra arguments go to `python -m bench.demo`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$(bash "$root/scripts/env.sh" | tail -n 1)
cd "$root"
exec "$python" -m bench.demo "$@"
