#!/usr/bin/env bash
# Chaos for the whole pipeline (scripts/chaos.py): the four services and the local broker as
# processes, waves of events and membership commands from an outside client, random SIGKILLs of
# every service (each at least twice) with restarts, then the outputs checked against an
# independent recomputation and an uninterrupted run of the same input. Prints a table; exit 1
# on any mismatch.
#
#   scripts/chaos.sh                 # full: 200,000 events, 20,000 commands, 12 kills (release build)
#   scripts/chaos.sh --short         # CI: 20,000 events, 2,000 commands, 8 kills (debug build)
#   scripts/chaos.sh --events N --commands N --kills N --seed S --keep
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--short" ]; then
  shift
  swift build
  exec python3 scripts/chaos.py --events 20000 --commands 2000 --kills 8 --window 40 --timeout 300 --partitions 64 --bin-dir .build/debug "$@"
fi
scripts/install-deps.sh --test >/dev/null
swift build -c release
exec python3 scripts/chaos.py --bin-dir .build/release "$@"
