"""OpenBLAS (NumPy's bundled build) sgemm GFLOP/s at the shapes `featuremaps bench` measures.

Prints one JSON object shaped like featuremaps bench's "gemm_gflops". Run it beside the Swift
benchmark (same machine, same minute) and compare ratios, not absolute figures:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /tmp/torch-venv/bin/python Benchmarks/gemm_peer.py

Timing follows featuremaps bench: one warm-up call, then the best of 3 rounds of ~0.4 s.
"""
import argparse, json, time
import numpy as np
from threadpoolctl import threadpool_limits, threadpool_info

SHAPES = [(1024, 1024, 1024), (2048, 2048, 2048), (16, 75, 100352), (64, 576, 131072), (128, 1152, 32768)]

p = argparse.ArgumentParser()
p.add_argument('--threads', type=int, default=2)
p.add_argument('--rounds', type=int, default=3)
p.add_argument('--round-seconds', type=float, default=0.4)
p.add_argument('--cpu-time', action='store_true',
               help='time by process CPU time (with --threads 1: ignores time other processes take)')
args = p.parse_args()
clock = time.process_time if args.cpu_time else time.perf_counter

out = {}
with threadpool_limits(limits=args.threads):
    for m, k, n in SHAPES:
        a = np.random.rand(m, k).astype(np.float32)
        b = np.random.rand(k, n).astype(np.float32)
        c = np.empty((m, n), np.float32)
        np.matmul(a, b, out=c)
        t0 = clock(); np.matmul(a, b, out=c); one = max(clock() - t0, 1e-6)
        reps = max(1, int(args.round_seconds / one))
        best = 0.0
        for _ in range(args.rounds):
            t0 = clock()
            for _ in range(reps):
                np.matmul(a, b, out=c)
            best = max(best, 2.0 * m * k * n * reps / (clock() - t0) / 1e9)
        out[f"{m}x{k}x{n}"] = round(best, 1)
    lib = [d.get('internal_api') + ' ' + str(d.get('version')) + ' ' + str(d.get('architecture'))
           for d in threadpool_info()]
print(json.dumps({"gemm_gflops": out, "threads": args.threads, "blas": lib}))
