#!/usr/bin/env bash
# Prints the path of Jenkins' JUnit schema (`junit-10.xsd`, from the xUnit plugin,
# MIT licence), fetching it first if needed. No registry serves the schema alone;
# pytest's source distribution on PyPI carries a copy for its own tests, so it is
# taken from there (the archive's checksum is pinned) and kept under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/schemas"
xsd="$dir/junit-10.xsd"
archive_sha256=965370d062bce11e73868e0335abac31b4d3de0e82f4007408d242b4f8610761
if [ ! -s "$xsd" ]; then
  mkdir -p "$dir"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: -d "$tmp" pytest==8.3.4 >&2
  echo "$archive_sha256  $tmp/pytest-8.3.4.tar.gz" | sha256sum --check --quiet >&2
  tar -xzf "$tmp/pytest-8.3.4.tar.gz" -C "$tmp" pytest-8.3.4/testing/example_scripts/junit-10.xsd
  mv "$tmp/pytest-8.3.4/testing/example_scripts/junit-10.xsd" "$xsd"
fi
realpath "$xsd"
