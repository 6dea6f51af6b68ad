#!/usr/bin/env bash
# Benchmarks, built in release mode: scripts/bench.sh ingest [options of `orbit bench ingest`].
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product orbit
exec .build/release/orbit bench "$@"
