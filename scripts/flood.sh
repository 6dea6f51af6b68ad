#!/usr/bin/env bash
# A flood at 10x the rate the whole pipeline sustains, for 60 s (scripts/flood.py): prints every
# service's idle, peak and after resident memory and the catch-up time; exit 1 if events are lost.
#   scripts/flood.sh [--users N] [--factor 10] [--seconds 60] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test >/dev/null
swift build -c release
exec python3 scripts/flood.py --bin-dir .build/release "$@"
