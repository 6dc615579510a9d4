#!/usr/bin/env bash
# The loopback test of Docs/DISTRIBUTED.md: ranks in separate network namespaces on this machine,
# each joined to a bridge in the root namespace by a veth link whose rate `tc` limits (default
# 10 Gbit/s), so MPI's traffic crosses a rate-limited TCP link as between two hosts. mpirun
# starts its daemons through OpenMPI's rsh launcher with a tiny agent that runs
# `ip netns exec <namespace> ...` instead of ssh.
#
#   Scripts/netns_mpi.sh [--rate 10gbit] [--hosts 2] -- featuremaps-arguments...
#   Scripts/netns_mpi.sh -- gradient-check --arch vgg --batch-size 64
#   Scripts/netns_mpi.sh -- train-cifar --arch vgg --limit 5120 --epochs 1 --no-tta --threads 1 -o /tmp/netns-vgg
#
# Needs root (ip netns, tc), OpenMPI and the MPI build (.build-mpi). Removes its namespaces,
# links and bridge on exit. Timing figures from it belong on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

rate=10gbit
hosts=2
while (( $# )); do
    case $1 in
        --rate) rate=$2; shift 2 ;;
        --hosts) hosts=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "usage: Scripts/netns_mpi.sh [--rate 10gbit] [--hosts N] -- featuremaps-arguments..." >&2; exit 2 ;;
    esac
done
(( $# )) || { echo "error: give the featuremaps arguments after --" >&2; exit 2; }
(( EUID == 0 )) || { echo "error: needs root (ip netns, tc)" >&2; exit 1; }
bin="$(pwd)/.build-mpi/release/featuremaps"
[[ -x $bin ]] || { echo "error: $bin missing: swift build -c release --traits MPI --scratch-path .build-mpi" >&2; exit 1; }

bridge=fmbr0
remove_links() {
    for i in $(seq 1 "$hosts"); do ip netns del "fmh$i" 2>/dev/null || true; ip link del "fmv$i" 2>/dev/null || true; done
    ip link del "$bridge" 2>/dev/null || true
}
remove_links  # left over from a run that was killed
work=$(mktemp -d)
trap 'remove_links; rm -rf "$work"' EXIT

# The bridge (10.77.0.1) in the root namespace, where mpirun runs; host i is 10.77.0.(10+i).
ip link add "$bridge" type bridge
ip addr add 10.77.0.1/24 dev "$bridge"
ip link set "$bridge" up
: >"$work/hostfile"
for i in $(seq 1 "$hosts"); do
    ns=fmh$i
    ip netns add "$ns"
    ip link add "fmv$i" type veth peer name eth0 netns "$ns"
    ip link set "fmv$i" master "$bridge" up
    ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    # Both directions limited: egress of the namespace's end and of the bridge's end.
    # An HTB class paces the link at the rate with a small burst (15 KB: MTU-sized). A token
    # bucket (tbf) with a burst of megabytes let a step's whole all-reduce through at memory speed,
    # since the bucket refills during the step's compute (at 1 Gbit/s VGG's 1.2 MB per step cost
    # 1.6 ms, not 10); netem's pacing is not in this kernel.
    shape() {  # shape DEVICE [netns]
        local run=(tc); [[ -n ${2:-} ]] && run=(ip netns exec "$2" tc)
        "${run[@]}" qdisc add dev "$1" root handle 1: htb default 10
        "${run[@]}" class add dev "$1" parent 1: classid 1:10 htb rate "$rate" ceil "$rate" burst 15k cburst 15k
    }
    shape eth0 "$ns"
    shape "fmv$i"
    echo "10.77.0.$((10 + i)) slots=1" >>"$work/hostfile"
done

# The "ssh" OpenMPI uses to start its daemon on a host: run it in that host's namespace
# (10.77.0.(10+i) is fmh$i). OpenMPI passes the host first, after any options.
cat >"$work/agent" <<'EOF'
#!/bin/sh
while [ "${1#-}" != "$1" ]; do shift; done
host=$1; shift
exec ip netns exec "fmh$(( ${host##*.} - 10 ))" sh -c "$*"
EOF
chmod +x "$work/agent"

echo "$hosts namespaces at $rate; running: featuremaps $*"
# --bind-to none: each namespace's daemon sees every core of this machine and would bind its
# one rank to core 0, so all the "hosts" would share one core.
mpirun --allow-run-as-root --hostfile "$work/hostfile" -np "$hosts" --map-by node --bind-to none \
    --mca plm_rsh_agent "$work/agent" --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
    --mca oob_tcp_if_include 10.77.0.0/24 "$bin" "$@"
