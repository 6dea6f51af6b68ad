#!/usr/bin/env bash
# One command on a fresh machine: install dependencies, build, and run every test (unit tests,
# integration tests against the embedded broker, multi-process tests), then the parsers under
# libFuzzer for about a minute (scripts/fuzz.sh; ORBIT_SKIP_FUZZ=1 skips it), then the compose
# stack in containers (scripts/compose-test.sh; ORBIT_SKIP_COMPOSE_TEST=1 skips it). Between
# them, the short chaos run (scripts/chaos.sh --short, about 3 minutes; ORBIT_SKIP_CHAOS=1 skips
# it). Extra arguments go to `swift test` (for example --filter IngestServiceTests) and skip all three.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build "$@"
if [ $# -eq 0 ] && [ -z "${ORBIT_SKIP_CHAOS:-}" ]; then
  scripts/chaos.sh --short
fi
if [ $# -eq 0 ] && [ -z "${ORBIT_SKIP_FUZZ:-}" ]; then
  scripts/fuzz.sh
fi
if [ $# -eq 0 ] && [ -z "${ORBIT_SKIP_COMPOSE_TEST:-}" ]; then
  scripts/compose-test.sh
fi
