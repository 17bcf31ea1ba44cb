#!/usr/bin/env bash
# Sweep, App Home and request list with 1k and 100k requests in the SQLite store.
#   bash bench/scale/run.sh            # SIZES=1000,100000 ROUNDS=50 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -q -p airlock-cli --bench scale
