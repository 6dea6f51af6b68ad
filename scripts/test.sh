#!/usr/bin/env bash
# One command on a fresh machine: install dependencies, build, and run every test in three tiers,
# then the short chaos run, the parsers under libFuzzer and the compose stack in containers.
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
  phases+=("$(printf '%-8s %5d s  %s' "$name" $(( $(date +%s) - started )) "$([ $status -eq 0 ] && echo ok || echo "FAILED ($status)")")")
  return $status
}
passed=0
failed=0
summary() {
  local rc=$?
  echo
  echo "phase      time"
  for line in "${phases[@]}"; do echo "$line"; done
  printf '%-8s %5d s\n' "total" $(( $(date +%s) - run_started ))
  echo "tests: $passed passed, $failed failed"
  exit $rc
}
trap summary EXIT

# The test classes of the files whose text matches a pattern.
classes_matching() {
  grep -l -E "$1" Tests/Orbit*Tests/*.swift 2>/dev/null \
    | xargs -r grep -h -oE '^(final )?class [A-Za-z0-9_]+: XCTestCase' | sed -E 's/.*class ([A-Za-z0-9_]+):.*/\1/' | sort -u
}
regex() { local list; list=$(paste -sd'|' -); echo "\\.(${list:-NoSuchTestClass})/"; }
system_classes=$(classes_matching 'ServiceProcess\(|ServiceProcess\.ingest')
broker_classes=$(classes_matching 'LocalBroker\(|PeerServer\.' | grep -vxF -f <(echo "$system_classes") || true)
system=$(echo "$system_classes" | regex)
broker=$(echo "$broker_classes" | regex)

# Runs one tier and adds its counts (XCTest's "Executed N tests, with M failures") to the totals.
tier() {
  local name=$1 log status=0
  shift
  log=$(mktemp)
  swift test --skip-build "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
  local counts
  counts=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)
  rm -f "$log"
  if [ -n "$counts" ]; then
    local executed failures
    executed=$(echo "$counts" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
    failures=$(echo "$counts" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
    passed=$(( passed + executed - failures ))
    failed=$(( failed + failures ))
  elif [ $status -ne 0 ]; then
    failed=$(( failed + 1 ))
  fi
  return $status
}

only=""
if [ "${1:-}" = "--tier" ]; then only=$2; shift 2; fi

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
[ -n "${ORBIT_SKIP_FUZZ:-}" ] || phase fuzz scripts/fuzz.sh
[ -n "${ORBIT_SKIP_COMPOSE_TEST:-}" ] || phase compose scripts/compose-test.sh
