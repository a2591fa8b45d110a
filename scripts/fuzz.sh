#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets) for SECONDS (default 60), starting
# from the committed corpus, and prints its final figures. A crash fails the script;
# libFuzzer leaves the input under fuzz/artifacts/TARGET/. CI runs this short form;
# the README records the 10-minute runs (`scripts/fuzz.sh 600`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzzing needs Rust's nightly toolchain (libFuzzer's sanitizer flags)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi

cd fuzz
cargo +nightly fuzz build -O
for target in dag_file wire; do
  # New inputs go to a scratch directory; the committed corpus is only read.
  scratch=$(mktemp -d)
  log=$(mktemp)
  if ! cargo +nightly fuzz run -O "$target" "$scratch" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz target $target failed; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | tr -s '[:space:]' ' ')
  echo "$target: ${seconds}s, ${done_line}"
  rm -rf "$scratch" "$log"
done
