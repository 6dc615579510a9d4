#!/usr/bin/env bash
# Runs the libFuzzer targets of Fuzz/ (Docs/FUZZING.md), one after another, each for SECONDS.
#
#   Scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]     (default 60 s; targets: all of them)
#   targets: safetensors checkpoint cifar specs image
#
# Builds Fuzz/ in release with AddressSanitizer and libFuzzer's coverage on every module (the main
# package's too) and -enable-testing for the @testable imports that reach the byte-level readers.
# Each target starts from its committed seeds (Fuzz/Corpus/TARGET) and keeps what it finds in
# .build/fuzz/corpus/TARGET (scratch: not committed; minimise with -merge=1 before adding any to
# the seeds). A crash, a leak, an input slower than 30 s or an allocation above 512 MB (resident
# memory above 2 GB) is a finding: libFuzzer stops the target and writes the input to
# .build/fuzz/findings/TARGET/. Prints per target: executions, time, coverage and features at the
# start and the end, new corpus entries, peak memory, and the findings. Exit status 1 if any.
# Runs at nice 10: the fuzzers are background work on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
all=(safetensors checkpoint cifar specs image)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
    [[ " ${all[*]} " == *" $t "* ]] || { echo "error: unknown target '$t'; the targets are: ${all[*]}" >&2; exit 2; }
done

flags=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing
       -Xcc -fsanitize=fuzzer-no-link,address -Xswiftc -use-ld=lld)
# The commit the targets are built from (and whether Sources/ or Fuzz/ differ from it), for the summary.
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Fuzz || echo " with local changes")
echo "building Fuzz/ (swift build --package-path Fuzz ${flags[*]})"
nice -n 10 swift build --package-path Fuzz "${flags[@]}"
bin=$(swift build --package-path Fuzz "${flags[@]}" --show-bin-path)

work=.build/fuzz
found=0
summary=()
for t in "${targets[@]}"; do
    corpus=$work/corpus/$t findings=$work/findings/$t log=$work/logs/$t.log
    mkdir -p "$corpus" "$findings" "$(dirname "$log")"
    dict=()
    case $t in
        safetensors|checkpoint) dict=(-dict=Fuzz/safetensors.dict) ;;
        specs) dict=(-dict=Fuzz/specs.dict) ;;
    esac
    before=$(ls "$findings" | wc -l)
    echo
    echo "== fuzz-$t for ${seconds}s (log: $log)"
    status=0
    # Leak detection is off: the Swift runtime's caches (metadata, conformances) are reachable
    # only through the runtime and would be reported on every run; ASan still catches misuse.
    nice -n 10 "$bin/fuzz-$t" "$corpus" "Fuzz/Corpus/$t" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -malloc_limit_mb=512 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1 || status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || true)
    start=$(grep -m1 'INITED' "$log" | grep -o 'cov: [0-9]* ft: [0-9]*' || echo "?")
    end=$(grep -E '#[0-9]+' "$log" | tail -n 1 | grep -o 'cov: [0-9]* ft: [0-9]*' || echo "?")
    added=$(grep -o 'stat::new_units_added: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    new=$(( $(ls "$findings" | wc -l) - before ))
    line="fuzz-$t: $runs executions in ${took:-?} s (exit $status); coverage at start $start, at end $end; $added new inputs; peak RSS $peak MB"
    if (( status != 0 || new > 0 )); then
        found=1
        line+="; FINDING: $(grep -m1 -E 'ERROR: |==ERROR|Fatal error|deadly signal|out-of-memory|malloc\(|timeout' "$log" || echo "exit $status") -> $(ls -t "$findings" | head -n 1 | sed "s|^|$findings/|")"
    fi
    echo "$line"
    summary+=("$line")
done
echo
echo "== summary ($(date -u +%FT%TZ), built from $commit, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
printf '%s\n' "${summary[@]}"
exit $found
