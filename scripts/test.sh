#!/usr/bin/env bash
# Runs every test: formatting, clippy, the whole workspace's tests (unit, adapter tests against a
# local moto server, end-to-end tests against the local server and a fake Slack), and the infra lints.
# Installs what it needs itself (a Python venv with moto, cfn-lint and sam; asl-validator from npm).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup-venv.sh

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MOTO_PORT=$port .venv/bin/moto_server -H 127.0.0.1 -p "$port" >/tmp/airlock-moto.log 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port"
echo "== moto server on $MOTO_ENDPOINT"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo clippy (airlock without AWS, the quick start's build)"
cargo clippy -p airlock-cli --no-default-features --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== cargo test (airlock without AWS: the demo, and what needs AWS is refused)"
cargo test -p airlock-cli --no-default-features --locked --test no_aws

echo "== infra lint"
bash scripts/lint-infra.sh

echo "== all tests passed"
