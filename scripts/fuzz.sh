#!/usr/bin/env bash
# Fuzzes Orbit's parsers of outside input with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz.sh                      # a fixed number of executions per target (about a minute in all)
#   scripts/fuzz.sh --seconds 600        # longer: each target for 600 s
#   scripts/fuzz.sh --runs 2000000 json  # some targets, a given number of executions each
#   scripts/fuzz.sh --scratch-path .build  # CI: reuse the test build's compiled dependencies
#
# Targets (Tests/Fuzz/OrbitFuzzTargets): json, validator, command, config, template. Each starts
# from its committed seeds (Tests/Fuzz/corpus/<target>); what the fuzzer learns goes to
# .build/fuzz-work/<target>, never into the repository. A crash or broken invariant stops the
# run, keeps the input in .build/fuzz-artifacts, and exits non-zero: minimise it, commit it under
# Tests/Fuzz/regressions/<target>/, fix the bug, and `swift test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=""
seconds=""
# Its own scratch path by default, so fuzzing never touches the normal build. scripts/test.sh runs
# it last with the test build's path instead: SwiftPM then recompiles only Orbit's modules (the
# ones the sanitizer flags change) and reuses every dependency the tests compiled (SwiftNIO,
# swift-crypto's BoringSSL, Yams), which is most of the 3 minutes a separate path costs cold. The
# next normal build recompiles Orbit's modules without the flags.
scratch=.build/fuzz
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --scratch-path) scratch="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(json validator command config template)
# CI default: executions per target, sized for about a minute in all on the 2-core CI machine
# (ASan, debug build: json and command run ~30,000/s, the validator ~5,000/s, config and
# templates ~1,000/s because each input builds YAML trees and settings).
ci_runs() {
    case "$1" in
        json|command) echo 200000 ;;
        validator) echo 50000 ;;
        *) echo 20000 ;;
    esac
}

swiftc_path="$(readlink -f "$(command -v swiftc)")"
runtime="$(ls "$(dirname "$swiftc_path")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1 || true)"
if [ -z "$runtime" ]; then
    echo "fuzz.sh: the Swift toolchain has no libclang_rt.fuzzer_no_main (libFuzzer); cannot fuzz" >&2
    exit 1
fi

echo "== building orbit-fuzz (libFuzzer + AddressSanitizer, scratch path $scratch)"
build_start=$(date +%s)
ORBIT_FUZZ=1 ORBIT_FUZZ_RUNTIME="$runtime" swift build --scratch-path "$scratch" --product orbit-fuzz 2>&1 \
    | grep -v -E "Cannot export local symbol|^\s*$" | grep -E "error|warning: unre|Compiling|Build|Linking" | tail -3
binary=$scratch/debug/orbit-fuzz
[ -x "$binary" ] || { echo "fuzz.sh: build failed" >&2; exit 1; }
echo "   built in $(( $(date +%s) - build_start )) s"

mkdir -p .build/fuzz-artifacts
summary=()
failed=0
for target in "${targets[@]}"; do
    work=".build/fuzz-work/$target"
    mkdir -p "$work"
    limit=()
    [ -n "$runs" ] && limit+=("-runs=$runs")
    [ -n "$seconds" ] && limit+=("-max_total_time=$seconds")
    [ -z "$runs" ] && [ -z "$seconds" ] && limit+=("-runs=$(ci_runs "$target")")
    log=".build/fuzz-work/$target.log"
    start=$(date +%s)
    set +e
    ORBIT_FUZZ_TARGET="$target" "$binary" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=".build/fuzz-artifacts/$target-" "$work" "Tests/Fuzz/corpus/$target" >"$log" 2>&1
    status=$?
    set -e
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(ls "$work" | wc -l)
    elapsed=$(( $(date +%s) - start ))
    if [ $status -eq 0 ]; then
        summary+=("$(printf '%-10s %12s executions %6s s   corpus %5s   ok' "$target" "$executions" "$elapsed" "$corpus")")
    else
        failed=1
        summary+=("$(printf '%-10s %12s executions %6s s   corpus %5s   FAILED (exit %s)' "$target" "$executions" "$elapsed" "$corpus" "$status")")
        echo "--- $target failed; the end of its log ($log):" >&2
        grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' "$log" | tail -40 >&2
        ls -1 .build/fuzz-artifacts/"$target"-* 2>/dev/null | sed 's/^/    artifact: /' >&2 || true
    fi
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit $failed
