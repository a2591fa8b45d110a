#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# runs every unit, integration, snapshot and doc test.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
for tool in bash make; do need "$tool" || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "missing tools: ${missing[*]} (install them, then run again)" >&2
    exit 1
  fi
fi

# Snapshots must match exactly in CI; never write new ones there.
export INSTA_UPDATE=no
# Unit, integration and doc tests; examples are built as programs, and a test runs
# examples/embed.
cargo test --locked
