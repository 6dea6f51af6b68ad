#!/usr/bin/env bash
# One command on a fresh machine: install dependencies, build, and run every test (unit tests,
# integration tests against the embedded broker, multi-process tests). Extra arguments go to
# `swift test` (for example --filter IngestServiceTests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
