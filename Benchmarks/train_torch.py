"""PyTorch time-to-accuracy peer: the presets' training recipe on CIFAR-10, timed, for the
comparisons in Docs/TRAINING.md (Results).

    python Benchmarks/train_torch.py --net seed --epochs 20 --bs 64 --lr 0.02 --channels-last [--bf16]
    python Benchmarks/train_torch.py --net vgg --epochs 15 --bs 128 --lr 0.1 --channels-last [--bf16]

The nets are Benchmarks/nets_torch.py's build("seed") / build("vgg") (S / M accepted as aliases).
Recipe: PyTorch default init; per-channel normalisation from the training images used (0..255
units); optional random crop (4-px zero padding on the raw pixels) + horizontal flip, batched on
the uint8 images once per epoch; shuffled each epoch, last partial batch kept; mean cross-entropy;
SGD with Nesterov momentum and weight decay on all parameters; one-cycle lr per step: linear
0 -> peak over the first --warmup fraction of the steps, then linear peak -> 0. After every epoch
it evaluates on --val held-out training images (split by a fixed permutation, seed 12345) or, with
--val 0, on the official test set. train_wall_s covers augmentation, normalisation and the steps
(not the disk load, not evaluation). Appends one JSON line (configuration, per-epoch history,
figures, torch version, CPU) to --out and prints it.

This is the repository's copy of the reference recipe script with which the published figures
were measured; with the same seed it gives the same loss trajectory.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cpu_info import cpu_description  # noqa: E402
from nets_torch import build  # noqa: E402

# The reference recipe's names for the two presets.
ALIASES = {"S": "seed", "M": "vgg"}


def load_batch(folder, name):
    """(uint8 [N,3,32,32], int64 [N]) from one official CIFAR-10 binary batch file."""
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        sys.exit(f"{path}: missing; pass the CIFAR-10 binary folder (cifar-10-batches-bin) with --data or set $CIFAR10_DIR")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        sys.exit(f"{path}: {raw.size} bytes is not a whole number of 3,073-byte records")
    raw = raw.reshape(-1, 3073)
    if int(raw[:, 0].max()) > 9:
        sys.exit(f"{path}: a label above 9; not a CIFAR-10 batch file")
    return torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy()), torch.from_numpy(raw[:, 0].astype(np.int64))


def load_train(folder):
    images, labels = zip(*[load_batch(folder, f"data_batch_{i}.bin") for i in range(1, 6)])
    return torch.cat(images), torch.cat(labels)


def channel_stats(x_u8):
    """Per-channel mean and std in 0..255 units, accumulated in float64."""
    xf = x_u8.to(torch.float64)
    return xf.mean(dim=(0, 2, 3)).float(), xf.std(dim=(0, 2, 3)).float()


def augment_crop_flip(x_u8, pad=4):
    """Random crop with `pad`-px zero padding + random horizontal flip, batched, on uint8. The
    padding is on the raw pixels (black), as torchvision's RandomCrop(32, padding=4)."""
    n, c, h, w = x_u8.shape
    xp = F.pad(x_u8, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,))
    ox = torch.randint(0, 2 * pad + 1, (n,))
    flip = torch.rand(n) < 0.5
    ar = torch.arange(w)
    rows = oy[:, None] + torch.arange(h)
    cols = torch.where(flip[:, None], ox[:, None] + (w - 1) - ar, ox[:, None] + ar)
    # Two gathers, rows then columns: one index tensor per image instead of a loop over images.
    xr = torch.gather(xp, 2, rows[:, None, :, None].expand(n, c, h, w + 2 * pad))
    return torch.gather(xr, 3, cols[:, None, None, :].expand(n, c, h, w))


def normalize(x_u8, mean, std, channels_last):
    x = (x_u8.float() - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def evaluate(net, x_u8, y, mean, std, channels_last, bs=1000):
    """Top-1 accuracy in eval mode (batch-norm running statistics); leaves the net in train mode."""
    net.eval()
    correct = 0
    for i in range(0, len(x_u8), bs):
        out = net(normalize(x_u8[i:i + bs], mean, std, channels_last))
        correct += (out.argmax(1) == y[i:i + bs]).sum().item()
    net.train()
    return correct / len(x_u8)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", required=True, choices=["seed", "vgg", *ALIASES])
    p.add_argument("--data", default=os.environ.get("CIFAR10_DIR"), help="CIFAR-10 binary folder (default: $CIFAR10_DIR)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--bs", type=int, default=64)
    p.add_argument("--lr", type=float, required=True, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--warmup", type=float, default=0.15, help="fraction of the steps for the linear warm-up")
    p.add_argument("--no-aug", action="store_true", help="no crop + flip")
    p.add_argument("--val", type=int, default=0, help="hold out N training images and evaluate on them (0: the test set)")
    p.add_argument("--channels-last", action="store_true", help="NHWC weights and batches")
    p.add_argument("--bf16", action="store_true", help="forward and loss under torch.autocast('cpu', bfloat16); float32 weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tag", default="")
    p.add_argument("--out", default="results_train_torch.jsonl", help="JSON lines log (appended), in the current folder by default")
    p.add_argument("--eval-subset", type=int, default=0, help="per-epoch eval on the first K eval images only; full eval after the last epoch")
    p.add_argument("--max-steps", type=int, default=0, help="smoke test: stop after N steps")
    a = p.parse_args()
    if not a.data:
        p.error("no CIFAR-10 data: pass --data cifar-10-batches-bin or set CIFAR10_DIR")
    if min(a.epochs, a.bs, a.threads) < 1 or not 0 <= a.val < 50000 or min(a.eval_subset, a.max_steps) < 0:
        p.error("--epochs, --bs and --threads must be at least 1, --val in 0..49999, --eval-subset and --max-steps not negative")
    if not 0 <= a.warmup < 1:
        p.error("--warmup must be in [0, 1)")
    a.net = ALIASES.get(a.net, a.net)
    return a


def main():
    a = parse_args()
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    X, Y = load_train(a.data)
    if a.val:
        perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(12345))
        Xe, Ye = X[perm[:a.val]], Y[perm[:a.val]]
        X, Y = X[perm[a.val:]], Y[perm[a.val:]]
        eval_name = f"val{a.val}"
    else:
        Xe, Ye = load_batch(a.data, "test_batch.bin")
        eval_name = "test"
    mean, std = channel_stats(X)
    load_s = time.perf_counter() - t0

    # The seed governs init, then the per-epoch shuffles and augmentation, in that order.
    torch.manual_seed(a.seed)
    net = build(a.net).train()
    cl = a.channels_last
    if cl:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=a.momentum, nesterov=True, weight_decay=a.wd)
    N = len(X)
    steps_per_epoch = (N + a.bs - 1) // a.bs
    T = steps_per_epoch * a.epochs
    W = max(1, int(a.warmup * T))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / W if s < W else max(0.0, (T - s) / (T - W)))
    lossf = nn.CrossEntropyLoss()

    hist = []
    train_s = eval_s = 0.0
    step = 0
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(N)
        xs = X[perm] if a.no_aug else augment_crop_flip(X[perm])
        ys = Y[perm]
        tot_loss = 0.0
        correct = 0
        for i in range(0, N, a.bs):
            xb = normalize(xs[i:i + a.bs], mean, std, cl)
            yb = ys[i:i + a.bs]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                out = net(xb)
                loss = lossf(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            tot_loss += loss.item() * len(yb)
            correct += (out.argmax(1) == yb).sum().item()
            if a.max_steps and step >= a.max_steps:
                break
        ep_train = time.perf_counter() - t0
        train_s += ep_train
        t0 = time.perf_counter()
        K = a.eval_subset or len(Xe)
        acc = evaluate(net, Xe[:K], Ye[:K], mean, std, cl)
        ep_eval = time.perf_counter() - t0
        eval_s += ep_eval
        seen = min(N, step * a.bs) if a.max_steps else N
        hist.append({"epoch": ep + 1, "train_loss": round(tot_loss / seen, 4), "train_acc": round(correct / seen, 4),
                     f"{eval_name}{K if a.eval_subset else ''}_acc": acc,
                     "epoch_train_s": round(ep_train, 2), "epoch_eval_s": round(ep_eval, 2)})
        print(hist[-1], flush=True)
        if a.max_steps and step >= a.max_steps:
            break

    if a.eval_subset:
        t0 = time.perf_counter()
        final_acc = evaluate(net, Xe, Ye, mean, std, cl)
        final_eval_s = time.perf_counter() - t0
        eval_s += final_eval_s
        best_epoch = None
    else:
        final_acc = hist[-1][f"{eval_name}_acc"]
        final_eval_s = hist[-1]["epoch_eval_s"]
        best_epoch = max(h[f"{eval_name}_acc"] for h in hist)
    record = {
        "tag": a.tag, "net": a.net, "epochs": a.epochs, "batch": a.bs, "peak_lr": a.lr, "momentum": a.momentum,
        "nesterov": True, "wd": a.wd,
        "schedule": f"one-cycle linear warm-up {a.warmup} of steps then linear to 0, per step",
        "aug": not a.no_aug, "channels_last": cl, "bf16": a.bf16, "train_images": N, "eval_set": eval_name,
        "seed": a.seed, "steps": step, "load_s": round(load_s, 2), "train_wall_s": round(train_s, 1),
        "eval_wall_s": round(eval_s, 1),
        "train_img_per_s": round(step * a.bs / train_s, 1) if not a.max_steps else None,
        "final_acc": final_acc, "final_eval_s": round(final_eval_s, 2), "best_epoch_acc": best_epoch,
        "eval_subset": a.eval_subset or None, "per_epoch": hist,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "numpy": np.__version__,
        "cpu": cpu_description(),
    }
    line = json.dumps(record)
    with open(a.out, "a") as f:
        f.write(line + "\n")
    print(line, flush=True)


if __name__ == "__main__":
    main()
