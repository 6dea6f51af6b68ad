#!/usr/bin/env bash
# One command on a fresh machine: install dependencies, build, and run `orbit demo` on the embedded
# local broker (no Docker, no Kafka installation). Extra arguments go to `orbit demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build
exec .build/debug/orbit demo "$@"
