#!/usr/bin/env bash
# Benchmarks, built in release mode: scripts/bench.sh ingest [options of `orbit bench ingest`].
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product orbit
# Benches that run the services as processes need them built in release beside orbit.
case "${1:-}" in
  pipeline|query) for product in orbit-ingest orbit-scorer orbit-members orbit-notify; do swift build -c release --product "$product"; done ;;
esac
exec .build/release/orbit bench "$@"
