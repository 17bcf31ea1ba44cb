#!/usr/bin/env bash
# Click to access on the local server: Approve click -> webhook `escalate`, expiry -> `deescalate`.
#   bash bench/click/run.sh            # CLICKS=30 by default
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo bench -q -p airlock-cli --bench click
