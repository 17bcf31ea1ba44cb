#!/usr/bin/env bash
# Lints the deployable infrastructure: the SAM template with cfn-lint, `sam validate --lint` (offline)
# and checkov (every check it skips is skipped in the resource's Metadata with a reason), and the
# state machine definition with asl-validator (neither template linter looks inside it). Needs
# scripts/setup-venv.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."

export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
echo "-- cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml
echo "-- sam validate --lint"
.venv/bin/sam validate --lint
echo "-- checkov template.yaml"
.venv-checkov/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download
echo "-- asl-validator infra/statemachine.asl.json"
infra/node_modules/.bin/asl-validator --json-path infra/statemachine.asl.json
