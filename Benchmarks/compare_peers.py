"""Runs `featuremaps bench --json` and its peers in one invocation, alternating, and prints ratios.

Peers: OpenBLAS sgemm through NumPy (Benchmarks/gemm_peer.py) for the GEMM shapes, and PyTorch
CPU eager training of the same nets (Benchmarks/bench_torch.py, seed and vgg at batch 128, the airbench net at 256) for
the training figures, fp32 and bf16 (ours: `train_images_per_s_bf16`). PyTorch runs in each configuration that can be its best on this CPU:
float32 NCHW and channels-last, and, where the CPU has avx512_bf16 or AMX, bf16 autocast NCHW and
channels-last. Each training row is then compared twice: with PyTorch's best float32
configuration (our arithmetic is float32) and with its strongest configuration overall; the
table names the configuration that won and the CPU. The machine may be shared, so each round
alternates the order (ours first, then peers first) and each figure is the best of its rounds;
compare ratios from one invocation only.

    python3 Benchmarks/compare_peers.py [--binary .build/release/featuremaps]
        [--python .venv/bin/python] [--rounds 2] [--threads 2] [--quick]

--python is an interpreter with torch, numpy and threadpoolctl (`python3 -m venv .venv &&
.venv/bin/pip install torch numpy threadpoolctl`). --quick (a smoke test of the
script, not a measurement) runs one short round of the training rows only.
"""
import argparse
import json
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from cpu_info import cpu_description, has_bf16  # noqa: E402

root = os.path.dirname(here)
p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument('--binary', default=os.path.join(root, '.build/release/featuremaps'))
venv_python = os.path.join(root, '.venv', 'bin', 'python')
p.add_argument('--python', default=venv_python if os.path.exists(venv_python) else sys.executable,
               help='an interpreter with torch, numpy and threadpoolctl (default: .venv/bin/python, else this one)')
p.add_argument('--rounds', type=int, default=2)
p.add_argument('--threads', type=int, default=os.cpu_count())
p.add_argument('--quick', action='store_true', help='one short round of the training rows: checks the script, measures nothing')
args = p.parse_args()
if args.quick:
    args.rounds = 1

cpu = cpu_description()
# Each net at the batch of its bench key (airbench94's net at 256, where its recipe takes 1,024).
BATCHES = {'seed': 128, 'vgg': 128, 'airbench': 256}
NETS = tuple(BATCHES)
configs = [(False, False), (False, True)] + ([(True, False), (True, True)] if has_bf16(cpu) else [])  # (bf16, channels-last)


def config_name(bf16, channels_last):
    return ('bf16 autocast' if bf16 else 'fp32') + (', channels-last' if channels_last else ', NCHW')


def run_json(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads([l for l in out.splitlines() if l.startswith('{')][-1])


def best(a, b):
    if a is None:
        return b
    def pick(x, y):
        if isinstance(x, dict):
            return best(x, y)
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            return max(x, y)
        return y  # descriptions (the cpu object's strings, nulls) are the same every round
    return {k: pick(a[k], b[k]) for k in a}


def ours():
    cmd = [args.binary, 'bench', '--json', '--threads', str(args.threads)]
    if args.quick:
        cmd += ['--only', 'train', '--nets', ','.join(f'{n}_b{b}' for n, b in BATCHES.items())]
    return run_json(cmd)


def peers():
    result = {}
    if not args.quick:
        blas_env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
        result['openblas_gflops'] = run_json([args.python, os.path.join(here, 'gemm_peer.py'),
                                              '--threads', str(args.threads)], env=blas_env)['gemm_gflops']
    for net in NETS:
        for bf16, channels_last in configs:
            cmd = [args.python, os.path.join(here, 'bench_torch.py'), '--net', net, '--batch', str(BATCHES[net]),
                   '--threads', str(args.threads)]
            cmd += (['--bf16'] if bf16 else []) + (['--channels-last'] if channels_last else [])
            if args.quick:
                cmd += ['--rounds', '1', '--round-seconds', '0.2', '--warmup', '2']
            record = run_json(cmd)
            result.setdefault('torch', {})[f'{net}_b{BATCHES[net]}|{config_name(bf16, channels_last)}'] = record['best']
            result['torch_version'] = record['torch']
    return result


our_best = peer_best = None
for r in range(args.rounds):
    # Alternate the order, so neither side always runs right after the other's load.
    if r % 2 == 0:
        our_best = best(our_best, ours())
        peer_best = best(peer_best, peers())
    else:
        peer_best = best(peer_best, peers())
        our_best = best(our_best, ours())

torch_version = peer_best.pop('torch_version', '?')


def strongest(net, float32_only):
    """(configuration name, images/s) of PyTorch's best configuration for `net`."""
    rows = [(key.split('|')[1], v) for key, v in peer_best['torch'].items()
            if key.startswith(f'{net}_b{BATCHES[net]}|') and not (float32_only and 'bf16' in key)]
    return max(rows, key=lambda kv: kv[1])


print(f'CPU: {cpu["model"]} (family/model {cpu["family_model"]}; flags {", ".join(cpu["flags"])}); '
      f'{args.threads} threads both sides; PyTorch {torch_version} eager; best of {args.rounds} round(s)')
print('PyTorch configurations measured (img/s): ' + '; '.join(f'{k.replace("|", " ")} {v:.1f}' for k, v in peer_best['torch'].items()))
print('| measure | featuremaps | peer | peer configuration | ratio |')
print('| --- | --- | --- | --- | --- |')
for k, v in our_best.get('gemm_gflops', {}).items():
    peer = peer_best.get('openblas_gflops', {}).get(k)
    print(f'| GEMM {k} GFLOP/s | {v:.1f} | {peer or ""} | OpenBLAS (NumPy) | {f"{v / peer:.2f}" if peer else ""} |')
for key, label in (('train_images_per_s', 'fp32'), ('train_images_per_s_bf16', 'bf16')):
    for k, v in our_best.get(key, {}).items():
        net, batch = k.split('_b')
        if BATCHES.get(net) != int(batch):
            print(f'| train {k} {label} img/s | {v:.1f} | | | |')
            continue
        # Our fp32 beside PyTorch's best fp32 configuration; both ours beside its strongest.
        for float32_only in ((True, False) if label == 'fp32' else (False,)):
            name, peer = strongest(net, float32_only)
            peer_label = 'best fp32' if float32_only else 'strongest'
            print(f'| train {k} {label} img/s | {v:.1f} | {peer:.1f} | PyTorch {peer_label}: {name} | {v / peer:.2f} |')
if 'cpu' in our_best:
    print(f'| bf16 path, peak GFLOP/s | {our_best["cpu"].get("bf16_path")}, {our_best["cpu"].get("bf16_peak_gflops")} | | | |')
    print(f'| fp32 FMA peak GFLOP/s | {our_best["cpu"].get("fp32_peak_gflops")} | | | |')
for k, v in our_best.get('infer_images_per_s', {}).items():
    print(f'| infer {k} img/s | {v:.1f} | | | |')
if 'peak_rss_mb' in our_best:
    print(f'| peak RSS MB | {our_best["peak_rss_mb"]:.0f} | | | |')
print(json.dumps({'cpu': cpu, 'threads': args.threads, 'rounds': args.rounds, 'featuremaps': our_best,
                  'openblas_gflops': peer_best.get('openblas_gflops'), 'torch_version': torch_version,
                  'torch_train_images_per_s': peer_best['torch']}))
