#!/usr/bin/env bash
# The measurements behind Docs/DISTRIBUTED.md, for a quiet machine (it trains short runs; run
# nothing else meanwhile). For the seed, VGG and airbench nets, training img/s of
#   1 process x 1 thread, 1 process x T threads, and T processes x 1 thread under mpirun,
# where T is the number of cores (default 2; --cores T), each with the recipe's global batch,
# then the multi-host model of Docs/DISTRIBUTED.md filled in with the measured 1-host step time.
#
#   Scripts/measure_mpi.sh [--cores T] [--alpha-us 10] > mpi-measurements.md
#   Scripts/measure_mpi.sh --smoke    # a few steps per run: checks the script, its figures mean nothing
#
# Needs OpenMPI and CIFAR10_DIR; builds with the MPI trait (.build-mpi). Prints a Markdown
# report with the commit, the CPU and every command.
set -euo pipefail
cd "$(dirname "$0")/.."

cores=2
alpha_us=10
smoke=0
while (( $# )); do
    case $1 in
        --cores) cores=$2; shift 2 ;;
        --alpha-us) alpha_us=$2; shift 2 ;;
        --smoke) smoke=1; shift ;;
        *) echo "usage: Scripts/measure_mpi.sh [--cores T] [--alpha-us MICROSECONDS]" >&2; exit 2 ;;
    esac
done
[[ -n ${CIFAR10_DIR:-} ]] || { echo "error: set CIFAR10_DIR to the CIFAR-10 binary folder" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "error: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }

swift build -c release --traits MPI --scratch-path .build-mpi >&2
bin="$(swift build -c release --traits MPI --scratch-path .build-mpi --show-bin-path)/featuremaps"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo "+changes")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 '^model\s*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')

echo "# MPI measurements"
echo
echo "Commit $commit, $cpu (family $family model $model), $(nproc) cores online, $(date -u +%FT%TZ)."
echo "OpenMPI $(mpirun --version | head -n 1 | awk '{print $NF}'), shared memory between the processes of one host."
echo

# Short runs: enough steps for a steady rate, the recipe's global batch. Training img/s is
# run.json's training_images_per_second (training steps only: no data loading, whitening or
# evaluation).
declare -A args=(
    [seed]="--arch seed --limit 10000 --epochs 1"
    [vgg]="--arch vgg --limit 5120 --epochs 1"
    [airbench]="--arch airbench --limit 10240 --epochs 1"
)
declare -A batch=([seed]=64 [vgg]=128 [airbench]=1024)
if (( smoke )); then
    args=([seed]="--arch seed --limit 640 --epochs 1" [vgg]="--arch vgg --limit 256 --epochs 1"
          [airbench]="--arch airbench --limit 2048 --epochs 1")
    echo "**Smoke run (--smoke): two to ten steps per run; these figures are not measurements.**"
    echo
fi
rate() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["training_images_per_second"])' "$1/run.json"; }
params() { "$bin" gradient-check --arch "$1" --batch-size 2 --threads 1 | sed -E 's/.*\(([0-9]+) parameters.*/\1/'; }

echo "## One host: $cores processes x 1 thread against 1 process x $cores threads"
echo
echo "| net | global batch | parameters | 1 x 1 thread img/s | 1 x $cores threads img/s | $cores processes x 1 thread img/s | efficiency ($cores proc / (1 x 1 thread x $cores)) | $cores proc / 1 x $cores threads |"
echo "|---|---|---|---|---|---|---|---|"
declare -A single_rate
commands=()
for net in seed vgg airbench; do
    common="train-cifar ${args[$net]} --no-tta --seed 0 --data $CIFAR10_DIR"
    one="$bin $common --threads 1 -o $work/$net-1x1"
    threaded="$bin $common --threads $cores -o $work/$net-1x$cores"
    ranks="mpirun --allow-run-as-root -np $cores --bind-to core $bin $common --threads 1 -o $work/$net-${cores}x1"
    for c in "$one" "$threaded" "$ranks"; do
        commands+=("$c")
        $c >"$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    done
    r1=$(rate "$work/$net-1x1"); rt=$(rate "$work/$net-1x$cores"); rn=$(rate "$work/$net-${cores}x1")
    single_rate[$net]=$rt
    p=$(params "$net")
    printf '| %s | %d | %d | %.0f | %.0f | %.0f | %.2f | %.2f |\n' "$net" "${batch[$net]}" "$p" "$r1" "$rt" "$rn" \
        "$(python3 -c "print($rn / ($r1 * $cores))")" "$(python3 -c "print($rn / $rt)")"
    echo "$net $p ${batch[$net]} $rt" >>"$work/model-input"
done
echo
echo "Commands (in this order for each net):"
echo
printf '    %s\n' "${commands[@]//$work/OUT}"
echo

echo "## Model for N hosts (ring all-reduce, the recipe's global batch split over the hosts)"
echo
echo "Per step: compute (B/N) / R, with R the 1-host img/s measured above with $cores threads, and"
echo "communication 2 (N-1)/N x S / bandwidth + 2 (N-1) x buckets x alpha, S = 4 x parameters bytes,"
echo "1 MiB buckets, alpha = $alpha_us us per message (an assumption for TCP; measure it with a ping-pong)."
echo "No overlap of communication with the backward pass (a bound: --overlap-gradients hides part of it). Efficiency = compute / (compute + communication)."
echo
python3 - "$work/model-input" "$alpha_us" <<'EOF'
import math, sys
alpha = float(sys.argv[2]) * 1e-6
print("| net | bytes per step | Gbit/s | all-reduce ms at N=2 / 8 / 32 | efficiency at N=2 / 8 / 32 |")
print("|---|---|---|---|---|")
for line in open(sys.argv[1]):
    net, params, batch, rate = line.split()
    size, batch, rate = 4 * int(params), int(batch), float(rate)
    buckets = math.ceil(int(params) / (1 << 18))
    for gbit in (10, 100):
        times, effs = [], []
        for n in (2, 8, 32):
            comm = 2 * (n - 1) / n * size / (gbit * 1e9 / 8) + 2 * (n - 1) * buckets * alpha
            compute = batch / n / rate
            times.append(f"{comm * 1e3:.2f}")
            effs.append(f"{compute / (compute + comm):.2f}")
        print(f"| {net} | {size:,} | {gbit} | {' / '.join(times)} | {' / '.join(effs)} |")
EOF
