#!/usr/bin/env bash
# Regenerates the committed shell completions (completions/) and man pages (man/)
# from the dag binary; the tests fail while they are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
dag=target/debug/dag
mkdir -p completions
"$dag" completions bash > completions/dag.bash
"$dag" completions zsh > completions/_dag
"$dag" completions fish > completions/dag.fish
"$dag" completions powershell > completions/_dag.ps1
"$dag" completions elvish > completions/dag.elv
rm -rf man
"$dag" man --out man >/dev/null
echo "regenerated completions/ and man/"
