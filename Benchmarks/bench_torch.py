"""PyTorch CPU training speed of our presets' nets: the peer of `featuremaps bench`'s
"train_images_per_s" (seed_b128, vgg_b128, ...).

    python Benchmarks/bench_torch.py --net vgg --batch 128 --threads 2 [--channels-last] [--bf16]

The step is the one `featuremaps bench` times (Sources/Training/Benchmarks.swift): forward,
softmax cross-entropy, backward and an SGD step (lr 0.01, momentum 0.9) on one fixed batch of
unit-normal 3x32x32 images, in eager mode. The nets are Benchmarks/nets_torch.py's, the same
modules our model files load into. --bf16 runs forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16) (weights and optimiser stay float32), which oneDNN
runs on AVX512-BF16 or AMX where the CPU has them; --channels-last stores the weights and the
batch NHWC. Timing as ours, with more warm-up (--warmup steps: oneDNN builds its kernels in the first
steps): one timed step to size the rounds, then the best of
--rounds rounds of about --round-seconds each. Prints one JSON line with the configuration, the
CPU and the figures.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_info import cpu_description  # noqa: E402
from nets_torch import PRESETS, build  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", required=True, choices=PRESETS)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="NHWC weights and batch")
    parser.add_argument("--bf16", action="store_true", help="torch.autocast('cpu', dtype=torch.bfloat16)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (oneDNN builds its kernels in the first ones)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--round-seconds", type=float, default=1.0)
    args = parser.parse_args()
    if args.batch < 1 or args.threads < 1 or args.rounds < 1:
        sys.exit("--batch, --threads and --rounds must be at least 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = build(args.net).train()
    x = torch.randn(args.batch, 3, 32, 32)
    y = torch.arange(args.batch) * 7 % 10  # the labels ours use
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(max(1, args.warmup)):
        step()
    start = time.perf_counter()
    step()
    reps = max(1, int(args.round_seconds / max(time.perf_counter() - start, 1e-6)))
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(reps):
            step()
        rates.append(reps * args.batch / (time.perf_counter() - start))

    print(json.dumps({
        "peer": "pytorch-eager", "net": args.net, "batch": args.batch, "threads": torch.get_num_threads(),
        "channels_last": args.channels_last, "bf16": args.bf16, "torch": torch.__version__,
        "cpu": cpu_description(), "steps_per_round": reps,
        "rounds": [round(r, 1) for r in rates], "best": round(max(rates), 1),
        "median": round(statistics.median(rates), 1),
    }), flush=True)


if __name__ == "__main__":
    main()
