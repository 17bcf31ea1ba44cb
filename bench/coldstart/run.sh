#!/usr/bin/env bash
# Cold start of every Lambda binary, the Bolt-for-Python peer and the lambda_http floor, each started
# RUNS times (default 20) under the Runtime API emulator in coldstart.py: process start to the first
# answer, median/min/max, peak RSS, and the start-up phases Airlock logs. Prints a Markdown table
# (also written to bench/coldstart/results.md). See bench/coldstart/README.md.
#
#   bash bench/coldstart/run.sh            # RUNS=20 LATENCY_MS=20 by default
#   RUNS=3 PROFILE=dev bash bench/coldstart/run.sh     # a smoke run of the harness (figures meaningless)
#   BIN=/tmp/old-release bash bench/coldstart/run.sh   # measure the binaries in that directory (not built)
#
# Every run is bounded (TIMEOUT seconds, default 30; a process that exits without answering fails at
# once). A row that fails is reported in the table with its reason and the other rows still run; the
# script then exits 1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
RUNS=${RUNS:-20}
LATENCY_MS=${LATENCY_MS:-20}
PROFILE=${PROFILE:-release}
TIMEOUT=${TIMEOUT:-30}
target="${CARGO_TARGET_DIR:-$root/target}"
# BIN: a directory holding the binaries to measure instead (e.g. copies from another commit); not built.
bin="${BIN:-$target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${BIN:-}" ]; then
  echo "== building the functions and the floor ($PROFILE, $(uname -m))" >&2
  cargo build --profile "$PROFILE" --locked -q -p coldstart-floor -p airlock-fn-slack-ingress -p airlock-fn-request \
    -p airlock-fn-approve -p airlock-fn-escalate -p airlock-fn-deescalate -p airlock-fn-prefetch -p airlock-fn-notify
fi

echo "== peers: Bolt for Python under awslambdaric (bench/coldstart/.peers, gitignored)" >&2
peers="$here/.peers/venv"
if [ ! -x "$peers/bin/python" ] || ! "$peers/bin/python" -c 'import awslambdaric, slack_bolt, boto3' 2>/dev/null; then
  python3 -m venv "$peers"
  # boto3: the Lambda Python runtime ships it, and Bolt's Lambda adapter imports it.
  "$peers/bin/pip" install --quiet --disable-pip-version-check slack_bolt==1.30.0 awslambdaric==4.2.2 boto3
fi

echo "== moto, and a proxy adding ${LATENCY_MS} ms to every AWS call" >&2
bash scripts/setup-venv.sh >&2
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
moto_port=$(free_port)
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
up=
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null && up=1 && break; sleep 0.2; done
[ -n "$up" ] || { echo "moto did not start on port $moto_port within 20 s:" >&2; cat "$work/moto.log" >&2; exit 1; }
moto="http://127.0.0.1:$moto_port"
python3 "$here/latency_proxy.py" "$moto" "$LATENCY_MS" >"$work/proxy.url" &
pids+=($!)
for _ in $(seq 1 50); do [ -s "$work/proxy.url" ] && break; sleep 0.1; done
[ -s "$work/proxy.url" ] || { echo "the latency proxy did not start within 5 s" >&2; exit 1; }
slow=$(cat "$work/proxy.url")

port=$(free_port)
emulator="http://127.0.0.1:$port"
sed "s#EMULATOR#$emulator#g" "$here/airlock.yaml" >"$work/airlock.yaml"
arn=$(.venv/bin/python "$here/setup_aws.py" "$moto" "$work/airlock.yaml" /airlock-bench)

results="$work/results.jsonl"
failures=0
# A measured row: its JSON line (or its failure) goes to the results; a failure does not stop the rest.
cold() { python3 "$here/coldstart.py" run --port "$port" --runs "$RUNS" --timeout "$TIMEOUT" "$@" >>"$results" || failures=$((failures + 1)); }
# A preparing run or step whose failure shows in the rows that need it (they find no events).
prep() { "$@" || echo "coldstart: a preparing step failed (the rows that need it fail): ${*:1:4} ..." >&2; }
runs() { python3 "$here/coldstart.py" run --port "$port" --timeout "$TIMEOUT" "$@"; }
# What the stack sets, with the secrets in the environment (the SSM case follows).
common=(--env AWS_REGION=us-east-1 --env AWS_ACCESS_KEY_ID=testing --env AWS_SECRET_ACCESS_KEY=testing
  --env AWS_ENDPOINT_URL="$moto" --env AIRLOCK_TABLE=airlock-bench --env AIRLOCK_CONFIG="$work/airlock.yaml"
  --env SLACK_BOT_TOKEN=xoxb-bench --env SLACK_API_URL="$emulator/api/" --env BILLING_HOOK_SECRET=s
  --env AIRLOCK_SSO_INSTANCE_ARN=arn:aws:sso:::instance/ssoins-1111111111111111
  --env AIRLOCK_IDENTITY_STORE_ID=d-1111111111 --env RUST_LOG=info,airlock::startup=debug)
ingress=("${common[@]}" --env SLACK_SIGNING_SECRET=bench-signing-secret --env STATE_MACHINE_ARN="$arn"
  --env AIRLOCK_API_TOKENS=bench:bench-token:admin)
n=$((RUNS + 1))

echo "== floor and peer" >&2
cold --name "floor (lambda_http hello)" --event signed-help --note "any request: hello" \
  "${common[@]}" -- "$bin/coldstart-floor"
cold --name "Bolt for Python (awslambdaric)" --event signed-help --cwd "$here/bolt" \
  --note "signed /access help (+ Bolt's auth.test to the fake Slack)" \
  --env SLACK_SIGNING_SECRET=bench-signing-secret --env SLACK_BOT_TOKEN=xoxb-bench \
  --env SLACK_API_URL="$emulator/api/" --env AWS_REGION=us-east-1 -- "$peers/bin/python" -m awslambdaric app.handler

echo "== Airlock's functions against moto" >&2
cold --name slack-ingress --event signed-help --note "signed /access help (no AWS or Slack call)" \
  "${ingress[@]}" -- "$bin/slack-ingress"
python3 "$here/coldstart.py" api-events --count 1 --tag create >"$work/create.jsonl"
prep runs --name "create the table" --runs 1 --warmup 0 --event "$work/create.jsonl" \
  "${ingress[@]}" --env AIRLOCK_CREATE_TABLE=1 -- "$bin/slack-ingress" >/dev/null
python3 "$here/coldstart.py" api-events --count "$n" --tag auto --urgency Emergency >"$work/auto.jsonl"
python3 "$here/coldstart.py" api-events --count "$n" --tag card >"$work/card.jsonl"
cold --name slack-ingress --event "$work/auto.jsonl" --answers "$work/auto.answers" \
  --note "POST /api/v1/requests (DynamoDB transaction, StartExecution)" "${ingress[@]}" -- "$bin/slack-ingress"
prep runs --name "requests needing approval" --runs "$RUNS" --event "$work/card.jsonl" \
  --answers "$work/card.answers" "${ingress[@]}" -- "$bin/slack-ingress" >/dev/null

prep python3 "$here/coldstart.py" step-events "$work/auto.answers" Request >"$work/request.jsonl"
cold --name request --event "$work/request.jsonl" --note "Request: a rule auto-approves (read, conditional write)" \
  "${common[@]}" -- "$bin/request"
prep python3 "$here/coldstart.py" step-events "$work/auto.answers" Escalate \
  --state '{"route": "auto_approved", "decision": "approved"}' >"$work/escalate.jsonl"
cold --name escalate --event "$work/escalate.jsonl" --note "Escalate: grant a record target (read, write)" \
  "${common[@]}" -- "$bin/escalate"
prep python3 "$here/coldstart.py" step-events "$work/auto.answers" Deescalate \
  --state '{"route": "auto_approved", "decision": "approved", "hold": "done"}' >"$work/deescalate.jsonl"
cold --name deescalate --event "$work/deescalate.jsonl" --note "Deescalate: remove the grant (read, write)" \
  "${common[@]}" -- "$bin/deescalate"
prep python3 "$here/coldstart.py" step-events "$work/card.answers" AwaitDecision --token >"$work/approve.jsonl"
cold --name approve --event "$work/approve.jsonl" \
  --note "AwaitDecision: keep the token, queue the cards (read, write)" "${common[@]}" -- "$bin/approve"
# The cards queued above go out first, at Slack's pace (one message a second per channel), uncounted.
prep runs --name "deliver the queued cards" --runs 1 --warmup 0 --timeout 300 --event '{"deliver": true}' \
  "${common[@]}" -- "$bin/notify" >/dev/null
cold --name notify --event '{"deliver": true}' --note "deliver the outbox (empty: the cards went out before)" \
  "${common[@]}" -- "$bin/notify"
cold --name prefetch --event events/prefetch.json --note "options of a URL field (from the emulator)" \
  "${common[@]}" -- "$bin/prefetch"

echo "== with the config and secrets in SSM, ${LATENCY_MS} ms added to every AWS call" >&2
ssm=(--env AWS_REGION=us-east-1 --env AWS_ACCESS_KEY_ID=testing --env AWS_SECRET_ACCESS_KEY=testing
  --env AWS_ENDPOINT_URL="$slow" --env AIRLOCK_TABLE=airlock-bench --env SLACK_API_URL="$emulator/api/"
  --env AIRLOCK_CONFIG_PARAM=/airlock-bench/config --env SLACK_BOT_TOKEN_PARAM=/airlock-bench/slack-bot-token
  --env BILLING_HOOK_SECRET=s --env AIRLOCK_SSO_INSTANCE_ARN=arn:aws:sso:::instance/ssoins-1111111111111111
  --env AIRLOCK_IDENTITY_STORE_ID=d-1111111111 --env RUST_LOG=info,airlock::startup=debug)
cold --name "slack-ingress, SSM +${LATENCY_MS} ms" --event signed-help \
  --note "signed /access help; 4 parameters in SSM" "${ssm[@]}" \
  --env SLACK_SIGNING_SECRET_PARAM=/airlock-bench/slack-signing-secret \
  --env AIRLOCK_API_TOKENS_PARAM=/airlock-bench/api-tokens --env STATE_MACHINE_ARN="$arn" -- "$bin/slack-ingress"
python3 "$here/coldstart.py" api-events --count "$n" --tag slow --urgency Emergency >"$work/slow.jsonl"
prep runs --name "requests for the SSM rows" --runs "$RUNS" --event "$work/slow.jsonl" \
  --answers "$work/slow.answers" "${ingress[@]}" -- "$bin/slack-ingress" >/dev/null
prep python3 "$here/coldstart.py" step-events "$work/slow.answers" Request >"$work/slow-request.jsonl"
cold --name "request, SSM +${LATENCY_MS} ms" --event "$work/slow-request.jsonl" \
  --note "as above; 2 parameters in SSM" "${ssm[@]}" -- "$bin/request"

{
  echo "Cold start, $(date -u +%Y-%m-%d), $(nproc) cores ($(uname -m)), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each."
  echo
  python3 "$here/coldstart.py" table "$results"
} | tee "$here/results.md"
if [ "$failures" -gt 0 ]; then
  echo "coldstart: $failures row(s) failed; see the table" >&2
  exit 1
fi
