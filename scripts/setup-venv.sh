#!/usr/bin/env bash
# Creates .venv with the test tools from PyPI (moto server, cfn-lint, the SAM CLI) and installs the npm
# asl-validator under infra/. Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO="moto[server]==5.2.5"
if [ ! -x .venv/bin/moto_server ] || [ ! -x .venv/bin/cfn-lint ] || [ ! -x .venv/bin/sam ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/pip install --quiet --disable-pip-version-check "$MOTO" cfn-lint aws-sam-cli
fi
[ -x .venv/bin/schemathesis ] || .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"

# checkov in a venv of its own: its pins (boto3, networkx, packaging) would downgrade what sam and moto need.
[ -x .venv-checkov/bin/checkov ] || { python3 -m venv .venv-checkov && .venv-checkov/bin/pip install --quiet --disable-pip-version-check "checkov==3.3.30"; }

if [ ! -x infra/node_modules/.bin/asl-validator ]; then
  (cd infra && npm install --silent --no-audit --no-fund)
fi
