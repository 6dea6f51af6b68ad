#!/usr/bin/env bash
# One command on a fresh machine: install dependencies, build, and run every test in three tiers,
# then the short chaos run, the compose stack in containers and the parsers under libFuzzer (last:
# its build recompiles Orbit's modules in .build with the sanitizers, reusing the dependencies).
# Prints each phase's time at the end, and a closing line of the tests' counts.
#
#   scripts/test.sh                      # everything (what CI runs)
#   scripts/test.sh --tier unit          # one tier: unit, broker or system (no chaos, fuzzing, compose)
#   scripts/test.sh --filter NAME        # extra arguments go to `swift test` (and skip the rest)
#
# Tiers, found from what each test file uses (so a new test lands in the right one by itself):
#   unit    in process, no broker: pure rules, processors and whole topologies under OrbitTestKit;
#   broker  the local broker over TCP (LocalBroker) or a local mail/webhook peer, in process;
#   system  Orbit's executables as child processes (ServiceProcess): SIGKILL, scaling, broker faults.
# ORBIT_SKIP_CHAOS=1, ORBIT_SKIP_FUZZ=1 and ORBIT_SKIP_COMPOSE_TEST=1 skip those phases.
set -euo pipefail
cd "$(dirname "$0")/.."

phases=()
run_started=$(date +%s)
phase() {  # phase NAME COMMAND...: runs the command, keeps its time for the summary
  local name=$1 started status=0
  shift
  started=$(date +%s)
  echo "== $name" >&2
  "$@" || status=$?
  phases+=("$(printf '%-16s %5d s  %s' "$name" $(( $(date +%s) - started )) "$([ $status -eq 0 ] && echo ok || echo "FAILED ($status)")")")
  return $status
}
passed=0
failed=0
summary() {
  local rc=$?
  echo
  echo "phase              time"
  for line in "${phases[@]}"; do echo "$line"; done
  printf '%-16s %5d s\n' "total" $(( $(date +%s) - run_started ))
  echo "tests: $passed passed, $failed failed"
  rm -rf "${logs:-/nonexistent}"
  exit $rc
}
trap summary EXIT

# The test classes of the files whose text matches a pattern.
classes_matching() {
  { grep -rl -E "$1" Tests --include='*.swift' || true; } \
    | xargs -r grep -h -oE '^\s*(final )?class [A-Za-z0-9_]+: XCTestCase' | sed -E 's/.*class ([A-Za-z0-9_]+):.*/\1/' | sort -u
}
regex() { local list; list=$(paste -sd'|' -); echo "\\.(${list:-NoSuchTestClass})/"; }
system_classes=$(classes_matching 'ServiceProcess\(|ServiceProcess\.ingest')
broker_classes=$(classes_matching 'LocalBroker\(|PeerServer\.' | grep -vxF -f <(echo "$system_classes") || true)
system=$(echo "$system_classes" | regex)
broker=$(echo "$broker_classes" | regex)

# Runs one tier with its output in LOG, and appends its counts to LOG's last line: the tests
# XCTest ran in all (the line after its 'All tests' or 'Selected tests' suite), less those it
# skipped, less the tests that failed (each 'Test Case ... failed' line); a run that failed
# without a failed test (a crash) counts one failure.
run_tier() {  # run_tier NAME LOG swift-test-arguments...
  local name=$1 log=$2 status=0 started total executed skipped failures
  shift 2
  started=$(date +%s)
  swift test --skip-build "$@" >"$log" 2>&1 || status=$?
  total=$(grep -A1 -E "^Test Suite '(All|Selected) tests' (passed|failed)" "$log" | grep -E "Executed [0-9]+ tests?" | tail -1 || true)
  executed=$(echo "$total" | sed -nE 's/.*Executed ([0-9]+) tests?.*/\1/p')
  skipped=$(echo "$total" | sed -nE 's/.*with ([0-9]+) tests? skipped.*/\1/p')
  failures=$(grep -cE "^Test Case '.*' failed" "$log" || true)
  if [ $status -ne 0 ] && [ "${failures:-0}" -eq 0 ]; then failures=1; fi
  echo "tier-counts $name $(( ${executed:-0} - ${skipped:-0} - ${failures:-0} )) ${failures:-0} $(( $(date +%s) - started ))" >>"$log"
  return $status
}

# Shows a tier's log and adds its counts to the totals (and its time to the summary).
report_tier() {  # report_tier LOG
  local counts
  grep -v '^tier-counts ' "$1" || true
  counts=$(grep '^tier-counts ' "$1" | tail -1 || true)
  [ -n "$counts" ] || { failed=$(( failed + 1 )); return; }
  set -- $counts
  passed=$(( passed + $3 ))
  failed=$(( failed + $4 ))
  phases+=("$(printf '  %-14s %4d s  %d passed, %d failed' "$2" "$5" "$3" "$4")")
}

logs=$(mktemp -d)
tier() {  # tier NAME swift-test-arguments...: one tier in the foreground
  local name=$1 status=0
  shift
  run_tier "$name" "$logs/$name" "$@" || status=$?
  report_tier "$logs/$name"
  return $status
}

only=""
if [ "${1:-}" = "--tier" ]; then
  [ $# -eq 2 ] || { echo "test.sh: --tier takes one of unit, broker or system, and nothing after it" >&2; exit 64; }
  only=$2
  shift 2
fi

phase install scripts/install-deps.sh --test
phase build swift build --build-tests
if [ $# -gt 0 ]; then
  phase tests tier custom "$@"
  exit 0
fi
case "$only" in
  "") ;;
  unit) phase unit tier unit --skip "$system" --skip "$broker"; exit 0 ;;
  broker) phase broker tier broker --filter "$broker"; exit 0 ;;
  system) phase system tier system --filter "$system"; exit 0 ;;
  *) echo "test.sh: --tier takes unit, broker or system" >&2; exit 64 ;;
esac
phase unit tier unit --skip "$system" --skip "$broker"
phase broker tier broker --filter "$broker"
phase system tier system --filter "$system"
[ -n "${ORBIT_SKIP_CHAOS:-}" ] || phase chaos scripts/chaos.sh --short
[ -n "${ORBIT_SKIP_COMPOSE_TEST:-}" ] || phase compose env ORBIT_COMPOSE_BUILD="${ORBIT_COMPOSE_BUILD:-debug}" scripts/compose-test.sh
[ -n "${ORBIT_SKIP_FUZZ:-}" ] || phase fuzz scripts/fuzz.sh --scratch-path .build
