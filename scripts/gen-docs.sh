#!/usr/bin/env bash
# Regenerates the committed shell completions (completions/) and man pages (man/)
# from the dag binary, and the README's DAG file key tables from the one description
# of the format (src/engine/format.rs); the tests fail while any is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
dag="${CARGO_TARGET_DIR:-target}/debug/dag"
mkdir -p completions
"$dag" completions bash > completions/dag.bash
"$dag" completions zsh > completions/_dag
"$dag" completions fish > completions/dag.fish
"$dag" completions powershell > completions/_dag.ps1
"$dag" completions elvish > completions/dag.elv
rm -rf man
"$dag" man --out man >/dev/null
DAG_BLESS=1 cargo test --quiet --lib readme_key_tables_are_generated >/dev/null
echo "regenerated completions/, man/ and the README's key tables"
