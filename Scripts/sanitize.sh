#!/usr/bin/env bash
# Runs the test suite under a sanitizer (Docs/FUZZING.md#sanitizers).
#
#   Scripts/sanitize.sh address|thread [swift test options...]
#
# A release build (the kernels' optimised paths, as users run them; a debug build is several
# times slower again) in a build folder of its own (.build/sanitize-KIND), so the normal build
# stays as it is. Extra options go to `swift test`, e.g. `--filter KernelsTests` (what .ci/run does).
#
# What runs and what does not, and why:
# - steadyStateTrainingStepDoesNotAllocate and the bf16 no-allocation test skip themselves: their
#   malloc counter (Tests/AllocationCounter) is not installed under a sanitizer, which brings its
#   own malloc.
# - thread: the CIFAR-10 learning tests that train on the real data (EndToEndTests) are skipped:
#   they took 28 minutes under AddressSanitizer on the shared 2-core machine (Docs/FUZZING.md);
#   the same threaded code (parallelFor, the kernels, the trainer) runs in the shorter training and
#   explorer tests, which stay. `Scripts/sanitize.sh thread --filter EndToEndTests` runs them.
# - the tests that need CIFAR10_DIR or TORCH_PYTHON skip visibly without them, as in a plain run.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case $kind in
    address) skips=() ;;
    thread) skips=(--skip EndToEndTests) ;;  # unless a --filter below asks for tests by name
    *) echo "usage: Scripts/sanitize.sh address|thread [swift test options...]" >&2; exit 2 ;;
esac
shift
for option in "$@"; do [[ $option == --filter ]] && skips=(); done
scratch=.build/sanitize-$kind
# Reports are errors: stop at the first one with a non-zero exit, so a report cannot pass unseen.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}
swift build -c release --build-tests --sanitize="$kind" --scratch-path "$scratch"
swift test -c release --skip-build --sanitize="$kind" --scratch-path "$scratch" "${skips[@]}" "$@"
