#!/usr/bin/env bash
# Ingress, side by side: `airlock serve` (release build, with the AWS adapters as `cargo build --release`
# makes it, and `airlock-local`: the local-only build, `--no-default-features`) vs Bolt for Python
# (async, aiohttp) and Bolt for JavaScript, each answering the same signed `/access aws-prod` slash commands with the same work
# (signature check, users.info, views.open, ack) against one fake Slack Web API (nginx, canned JSON).
# Load: wrk cycling unique pre-signed requests. Prints a Markdown table and the ratios.
#
#   bash bench/ingress/run.sh                 # all four, 10 s per load level
#   DURATION=5s ONLY=airlock bash bench/ingress/run.sh
#
# Needs: nginx (nginx-light), wrk, python3, node/npm; installs the peers' dependencies into
# bench/.venv and bench/ingress/peers/js/node_modules on first use. AIRLOCK_BIN=path and
# AIRLOCK_LOCAL_BIN=path skip the two builds.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${OUT:-$ROOT/bench/out/ingress}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-64}"
WRK_THREADS="${WRK_THREADS:-2}"
REQUESTS="${REQUESTS:-200000}"
USERS="${USERS:-1000}"
ONLY="${ONLY:-airlock airlock-local bolt-python bolt-js}"
SECRET="bench-signing-secret"
SLACK_PORT="${SLACK_PORT:-18080}"
APP_PORT="${APP_PORT:-18081}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

mkdir -p "$OUT"
rm -f "$OUT"/*.result
for tool in nginx wrk python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nginx-light wrk)" >&2; exit 1; }
done

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

wait_port() { # wait until something answers HTTP on port $1 (up to 60 s)
    for _ in $(seq 600); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# The fake Slack.
sed -e "s|@PORT@|$SLACK_PORT|g" -e "s|@DIR@|$OUT|g" "$HERE/fake-slack.conf" >"$OUT/nginx.conf"
nginx -c "$OUT/nginx.conf" -p "$OUT" &
pids+=($!)
wait_port "$SLACK_PORT"
export SLACK_API_URL="http://127.0.0.1:$SLACK_PORT/api/" SLACK_SIGNING_SECRET="$SECRET" SLACK_BOT_TOKEN="xoxb-bench"

start_airlock() { # $1: extra cargo flags (e.g. --no-default-features), $2: the binary's name in $OUT, $3: a given binary
    local bin="${3:-}"
    if [ -z "$bin" ]; then
        # shellcheck disable=SC2086 # $1 is a list of flags
        (cd "$ROOT" && cargo build --release -q -p airlock-cli --bin airlock $1 >&2)
        # Both builds write target/release/airlock: each contender runs its own copy.
        cp "$CARGO_TARGET_DIR/release/airlock" "$OUT/$2"
        bin="$OUT/$2"
        sync # the fresh binary's pages written back before the load, not during it
    fi
    rm -f "$OUT"/airlock.db*
    AIRLOCK_ADDR="127.0.0.1:$APP_PORT" AIRLOCK_DATA="$OUT/airlock.db" "$bin" serve >"$OUT/$2.log" 2>&1 &
    echo $!
}

start_bolt_python() {
    if [ ! -x "$ROOT/bench/.venv/bin/python" ]; then
        python3 -m venv "$ROOT/bench/.venv"
    fi
    "$ROOT/bench/.venv/bin/pip" install -q -r "$HERE/peers/python/requirements.txt" >&2
    PORT="$APP_PORT" "$ROOT/bench/.venv/bin/python" "$HERE/peers/python/app.py" >"$OUT/bolt-python.log" 2>&1 &
    echo $!
}

start_bolt_js() {
    (cd "$HERE/peers/js" && { [ -d node_modules/@slack/bolt ] || npm install --no-audit --no-fund --silent >&2; })
    PORT="$APP_PORT" node "$HERE/peers/js/app.js" >"$OUT/bolt-js.log" 2>&1 &
    echo $!
}

load() { # name threads connections duration -> the RESULT json line
    local name=$1 threads=$2 conns=$3 duration=$4
    REQUESTS_FILE="$OUT/requests.tsv" wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s \
        -s "$HERE/requests.lua" "http://127.0.0.1:$APP_PORT" >"$OUT/$name.wrk" 2>&1
    grep '^RESULT ' "$OUT/$name.wrk" | sed 's/^RESULT //'
}

for contender in $ONLY; do
    echo "== $contender" >&2
    case "$contender" in
        airlock) pid=$(start_airlock "" airlock-bin "${AIRLOCK_BIN:-}") ;;
        airlock-local) pid=$(start_airlock --no-default-features airlock-local-bin "${AIRLOCK_LOCAL_BIN:-}") ;;
        bolt-python) pid=$(start_bolt_python) ;;
        bolt-js) pid=$(start_bolt_js) ;;
        *) echo "unknown contender $contender" >&2; exit 1 ;;
    esac
    pids+=("$pid")
    wait_port "$APP_PORT"
    # Signed now: every request stays within Slack's 5-minute window for this contender's runs.
    python3 "$HERE/gen_requests.py" "$SECRET" "$REQUESTS" "$USERS" "$OUT/requests.tsv"
    load "$contender-warmup" 1 8 3s >/dev/null
    sleep 1.5 # the fake's call log is flushed every second
    : >"$OUT/slack-calls.log"
    serial=$(load "$contender-serial" 1 1 "$DURATION")
    loaded=$(load "$contender-loaded" "$WRK_THREADS" "$CONNECTIONS" "$DURATION")
    rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    # Where the memory is, for bench/README.md: the process status and its mappings after the load.
    cp "/proc/$pid/status" "$OUT/$contender.status"
    cp "/proc/$pid/smaps" "$OUT/$contender.smaps"
    sleep 1.5
    users_info=$(grep -c '^/api/users.info$' "$OUT/slack-calls.log" || true)
    views_open=$(grep -c '^/api/views.open$' "$OUT/slack-calls.log" || true)
    echo "{\"name\":\"$contender\",\"serial\":$serial,\"loaded\":$loaded,\"rss_kib\":$rss,\"users_info\":$users_info,\"views_open\":$views_open}" \
        >"$OUT/$contender.result"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done

python3 "$HERE/report.py" "$OUT" "$CONNECTIONS" $ONLY
