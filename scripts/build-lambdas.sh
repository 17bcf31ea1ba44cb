#!/usr/bin/env bash
# Builds the seven Lambda artifacts for arm64 (provided.al2023) with cargo-lambda and prints each
# zipped size; fails if one is over 8 MB. Not part of the test run (a release build takes minutes).
# `sam build` does the same through BuildMethod: rust-cargolambda; this script needs no SAM.
set -euo pipefail
cd "$(dirname "$0")/.."

# cargo-lambda cross-compiles with zig; both come from PyPI into the project's venv.
if [ ! -x .venv/bin/cargo-lambda ] || ! .venv/bin/python -c 'import ziglang' 2>/dev/null; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check cargo-lambda ziglang
fi
export PATH="$PWD/.venv/bin:$PATH"
rustup target add aarch64-unknown-linux-gnu >/dev/null

bins=(slack-ingress request approve escalate deescalate prefetch notify)
args=()
for bin in "${bins[@]}"; do args+=(--bin "$bin"); done
cargo lambda build --release --arm64 --output-format zip "${args[@]}"

limit=$((8 * 1024 * 1024))
status=0
printf '%-14s %10s\n' function "zip bytes"
for bin in "${bins[@]}"; do
  zip="target/lambda/$bin/bootstrap.zip"
  size=$(stat -c %s "$zip")
  printf '%-14s %10d\n' "$bin" "$size"
  if [ "$size" -gt "$limit" ]; then
    echo "  $bin is over 8 MB" >&2
    status=1
  fi
done
exit $status
