#!/usr/bin/env bash
# Data-parallel training under MPI (Docs/DISTRIBUTED.md), as .ci/run checks it:
#   0. OpenMPI (Debian's openmpi-bin and libopenmpi-dev) installed with apt-get if mpirun or mpi.h
#      is missing; where that cannot be done, one SKIP line with the reason, and exit 0;
#   1. the build with the MPI trait (.build-mpi);
#   2. the gradient arithmetic: under mpirun -np 2, the gradient of a global batch on the seed net
#      (no batch norm) equals the one-process gradient of the same batch within 1e-5 relative
#      (featuremaps gradient-check, which exits 1 above its tolerance); on a net with batch norm,
#      the same with --sync-bn and a global batch that does not split evenly (31), and without
#      --sync-bn it must fail (per-process statistics are another computation); and the gradient
#      summed during the backward pass (--overlap-gradients, 4,096-value buckets) must be the same
#      bits as the one summed after it;
#   3. learning: 2 processes x 1 thread for 1 epoch on 10,000 CIFAR-10 images reach the test
#      accuracy of 1 process within 2 points (same seed, same global batch); then --resume with
#      another process count is refused with one line, and with the same count it resumes; the
#      2-process run with --overlap-gradients writes the same model tensors;
#   4. a dead rank: SIGKILL to rank 1 mid-run ends the job within seconds with a message naming it
#      and a non-zero exit status (not a hang).
# Needs CIFAR10_DIR (set by .ci/run). Runs in about a minute after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "SKIP: the MPI checks (Scripts/check_mpi.sh): $1"; exit 0; }

if ! command -v mpirun >/dev/null 2>&1 || ! pkg-config --exists mpi 2>/dev/null; then
    if (( EUID == 0 )); then as_root=""; elif sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root="no"; fi
    [[ $as_root == no ]] && skip "OpenMPI is not installed and apt-get needs root (not root, no password-less sudo)"
    mkdir -p .build
    install_log=.build/openmpi-install.log
    echo "installing openmpi-bin and libopenmpi-dev with apt-get (log: $install_log)"
    apt_install() { $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev; }
    if ! { apt_install || { $as_root apt-get update -q && apt_install; }; } >"$install_log" 2>&1; then
        skip "apt-get install openmpi-bin libopenmpi-dev failed: $(tail -n 1 "$install_log")"
    fi
    command -v mpirun >/dev/null 2>&1 || skip "apt-get installed OpenMPI, but mpirun is not on PATH ($PATH)"
    pkg-config --exists mpi || skip "apt-get installed OpenMPI, but pkg-config finds no mpi.pc"
fi
[[ -n ${CIFAR10_DIR:-} ]] || { echo "error: CIFAR10_DIR is not set (the learning check reads CIFAR-10)" >&2; exit 1; }

echo "\$ swift build -c release --traits MPI --scratch-path .build-mpi"
swift build -c release --traits MPI --scratch-path .build-mpi
bin="$(swift build -c release --traits MPI --scratch-path .build-mpi --show-bin-path)/featuremaps"
mpi=(mpirun --allow-run-as-root --oversubscribe -np 2)
work=.build-mpi/check
rm -rf "$work"
mkdir -p "$work"
failures=()

echo "== gradient of a 2-process step against 1 process (seed net, global batch 32)"
"${mpi[@]}" "$bin" gradient-check --arch seed --batch-size 32 --tolerance 1e-5 || failures+=("gradient check (exit status $?)")
echo "== the gradient summed during the backward pass: the same bits as after it (8 buckets)"
"${mpi[@]}" "$bin" gradient-check --arch seed --batch-size 32 --tolerance 1e-5 --overlap-gradients --bucket-floats 4096 \
    || failures+=("gradient check with --overlap-gradients (exit status $?)")
echo "== the same with batch norm: --sync-bn matches 1 process, per-process statistics do not"
bn=(gradient-check --arch "c8k3p1,bn,relu,mp2,c16k3p1,bn,relu,mp2,fc10" --batch-size 31 --tolerance 1e-5)
"${mpi[@]}" "$bin" "${bn[@]}" --sync-bn || failures+=("gradient check with --sync-bn (exit status $?)")
if "${mpi[@]}" "$bin" "${bn[@]}" >"$work/no-sync.log" 2>&1; then
    failures+=("gradient check without --sync-bn passed on a batch-norm net: the check cannot tell the statistics apart")
else
    echo "without --sync-bn: $(grep -m1 -o 'largest relative difference [^ ]* ([^)]*)' "$work/no-sync.log"), refused as expected"
fi

echo "== 1 epoch on 10,000 images: 1 process x 1 thread, then 2 processes x 1 thread"
# --threads 1 in both: the runs differ only in the process count, and --resume below compares arguments.
train=(train-cifar --data "$CIFAR10_DIR" --limit 10000 --epochs 1 --no-tta --seed 0 --batch-size 64 --threads 1)
"$bin" "${train[@]}" -o "$work/one" | tail -n 2
"${mpi[@]}" "$bin" "${train[@]}" -o "$work/two" | tail -n 2
accuracy() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["test_accuracy"])' "$1/run.json"; }
one=$(accuracy "$work/one"); two=$(accuracy "$work/two")
if python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.02 else 1)' "$one" "$two"; then
    echo "test accuracy: 1 process $one, 2 processes $two: within 2 points"
else
    failures+=("test accuracy: 1 process $one, 2 processes $two: more than 2 points apart")
fi

echo "== the same 2-process run with the gradient sums during the backward pass: the same model"
"${mpi[@]}" "$bin" "${train[@]}" --overlap-gradients -o "$work/two-overlap" | tail -n 1
# The tensors' bytes (after the safetensors header, whose metadata records the command line).
tensors() { python3 -c 'import sys,struct; b=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",b[:8])[0]; sys.stdout.buffer.write(b[8+n:])' "$1/model.safetensors" | sha256sum; }
if [[ $(tensors "$work/two") == $(tensors "$work/two-overlap") ]]; then
    echo "model tensors identical with and without --overlap-gradients"
else
    failures+=("2-process run with --overlap-gradients: the model's tensors differ from the run without it")
fi

echo "== --resume of the 2-process run by 1 process (refused), then by 2 (resumes)"
set +e
refusal=$("$bin" "${train[@]}" -o "$work/two" --resume 2>&1); status=$?
set -e
echo "$refusal"
if (( status != 1 )) || [[ $(wc -l <<<"$refusal") != 1 || $refusal != *"mpirun -np (ranks): 2 then, 1 now"* ]]; then
    failures+=("resume with 1 process: expected one line naming mpirun -np and exit status 1, got status $status")
fi
"${mpi[@]}" "$bin" "${train[@]}" -o "$work/two" --resume | tail -n 1 || failures+=("resume with 2 processes (exit status $?)")

echo "== SIGKILL to rank 1 mid-run"
log="$work/kill.log"
# `timeout` turns a hang into a failure of this check rather than of the CI job's clock.
timeout 120 "${mpi[@]}" "$bin" "${train[@]}" --epochs 5 -o "$work/kill" >"$log" 2>&1 &
job=$!
victim=""
for _ in $(seq 1 300); do
    # Rank 1 is the featuremaps process whose environment says so; kill it once training runs.
    if grep -q "^training " "$log" 2>/dev/null; then
        for pid in $(pgrep -f -- "$bin train-cifar" || true); do
            if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$pid; fi
        done
        [[ -n $victim ]] && break
    fi
    sleep 0.1
done
if [[ -z $victim ]]; then
    kill "$job" 2>/dev/null || true
    failures+=("kill test: rank 1 never started training (log: $log)")
else
    sleep 1
    killed_at=$(date +%s.%N)
    kill -KILL "$victim"
    set +e; wait "$job"; status=$?; set -e
    seconds=$(python3 -c "import sys,time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$killed_at")
    message=$(tr '\r' '\n' <"$log" | grep -m1 -i "rank 1.*signal 9" || true)
    echo "after SIGKILL to rank 1 (pid $victim): exit status $status after $seconds s; mpirun: ${message:-no message}"
    if (( status == 0 || status == 124 )) || [[ -z $message ]]; then
        failures+=("kill test: exit status $status (124: hung until timeout), message '${message}' (log: $log)")
    elif python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 10 else 1)' "$seconds"; then :; else
        failures+=("kill test: the job took $seconds s to end")
    fi
fi

if (( ${#failures[@]} )); then
    printf 'error: %s\n' "${failures[@]}" >&2
    exit 1
fi
echo "MPI checks passed"
