"""Runs `featuremaps bench --json` and its peers back to back and prints the ratios.

Peers: OpenBLAS sgemm through NumPy (Benchmarks/gemm_peer.py, 2 threads) and PyTorch CPU eager
training of the same nets (../shared/bench/bench_torch.py: S at batch 128 NCHW, M at batch 128
channels-last, 2 threads). The machine is shared, so the order alternates (ours, peers, ours)
and each figure is the best of its runs; compare ratios from one invocation only.

    python3 Benchmarks/compare_peers.py [--binary .build/release/featuremaps]
        [--python /tmp/torch-venv/bin/python] [--shared ../shared] [--rounds 2]
"""
import argparse, json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
p = argparse.ArgumentParser()
p.add_argument('--binary', default=os.path.join(root, '.build/release/featuremaps'))
p.add_argument('--python', default='/tmp/torch-venv/bin/python')
p.add_argument('--shared', default=os.path.join(root, '..', 'shared'))
p.add_argument('--rounds', type=int, default=2)
args = p.parse_args()


def run_json(cmd, env=None, last_line=True):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    lines = [l for l in out.splitlines() if l.startswith('{')]
    return json.loads(lines[-1] if last_line else lines[0])


def best(a, b):
    if a is None:
        return b
    return {k: (best(a[k], b[k]) if isinstance(a[k], dict) else max(a[k], b[k])) for k in a}


blas_env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE')}
torch_script = os.path.join(args.shared, 'bench', 'bench_torch.py')
ours = blas = None
torch_s = torch_m = 0.0
for r in range(args.rounds):
    ours = best(ours, run_json([args.binary, 'bench', '--json']))
    blas = best(blas, run_json([args.python, os.path.join(here, 'gemm_peer.py')], env=blas_env)['gemm_gflops'])
    torch_s = max(torch_s, run_json([args.python, torch_script, '--net', 'S', '--batch', '128'])['max'])
    torch_m = max(torch_m, run_json([args.python, torch_script, '--net', 'M', '--batch', '128',
                                     '--channels-last'])['max'])
rows = [('GEMM ' + k + ' GFLOP/s', v, blas.get(k)) for k, v in ours['gemm_gflops'].items()]
rows += [('train ' + k + ' img/s', v, {'seed_b128': torch_s, 'vgg_b128': torch_m}.get(k))
         for k, v in ours['train_images_per_s'].items()]
rows += [('infer ' + k + ' img/s', v, None) for k, v in ours['infer_images_per_s'].items()]
print('| measure | featuremaps | peer | ratio |')
print('| --- | --- | --- | --- |')
for name, v, peer in rows:
    ratio = f'{v / peer:.2f}' if peer else ''
    print(f'| {name} | {v:.1f} | {peer if peer else ""} | {ratio} |')
print(f'| peak RSS MB | {ours["peak_rss_mb"]:.0f} | | |')
print(json.dumps({'featuremaps': ours, 'openblas_gflops': blas,
                  'torch_train_images_per_s': {'S_b128': torch_s, 'M_b128_channels_last': torch_m}}))
