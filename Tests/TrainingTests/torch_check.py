"""Loads a featuremaps model.safetensors into the matching PyTorch module and scores it on the
official CIFAR-10 test set, to compare with `featuremaps evaluate` (plain forward pass, no flip
averaging: evaluate without --tta). Not part of `swift test`: it needs torch.

    python3 -m venv .venv && .venv/bin/pip install torch safetensors numpy
    .venv/bin/python Tests/TrainingTests/torch_check.py MODEL.safetensors [CIFAR10_DIR] [--per-class per-class.csv]

Every architecture train-cifar saves has a module in Benchmarks/nets_torch.py: the seed and vgg
presets and any model spec (rebuilt from the "architecture" string in the file's metadata). The
weights load with strict=True, so a missing, extra or mis-shaped tensor is an error. Inputs are
normalised with the mean and std stored in the file. With --per-class (the per-class.csv that
`featuremaps evaluate` writes), the per-class correct counts must equal ours image for image
in total; the script exits 1 when they differ. With --logits (a safetensors file holding our
logits [N, 10] of the first N test images, tensor "logits"), PyTorch's logits of those images
must be within --logits-tolerance of ours (relative to max(1, |logit|)) and their argmax equal.
With --gradients (a safetensors file holding our gradients "grad.<parameter>" of one training-mode
step on the first N test images, N and the label smoothing in its metadata), PyTorch's float64 gradients
of the mean cross-entropy of that step must be within --gradients-tolerance of ours, relative to
each tensor's largest magnitude (frozen parameters too: both sides compute their gradients).
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Benchmarks"))
from nets_torch import build  # noqa: E402


def load_test_set(folder):
    """(images float32 [N,3,32,32] in 0..1, labels int64 [N]) from test_batch.bin."""
    path = os.path.join(folder, "test_batch.bin")
    if not os.path.exists(path):
        sys.exit(f"{path}: missing; pass the CIFAR-10 binary folder (cifar-10-batches-bin) or set $CIFAR10_DIR")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 3073:
        sys.exit(f"{path}: {raw.size} bytes is not a whole number of 3,073-byte records")
    raw = raw.reshape(-1, 3073)
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255
    return images, torch.from_numpy(raw[:, 0].astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("data", nargs="?", default=os.environ.get("CIFAR10_DIR"),
                        help="CIFAR-10 binary folder (default: $CIFAR10_DIR)")
    parser.add_argument("--per-class", help="per-class.csv from `featuremaps evaluate` (without --tta) to compare")
    parser.add_argument("--logits", help="safetensors file with our plain-forward logits [N, 10] of the first N test images")
    parser.add_argument("--logits-tolerance", type=float, default=1e-4,
                        help="largest |ours - pytorch| / max(1, |pytorch|) allowed (default 1e-4)")
    parser.add_argument("--gradients", help="safetensors file with our parameter gradients of one training step (grad.<name>)")
    parser.add_argument("--gradients-tolerance", type=float, default=1e-3,
                        help="largest |ours - pytorch| / max |pytorch| per tensor allowed (default 1e-3)")
    args = parser.parse_args()
    if not args.data:
        sys.exit("no CIFAR-10 data: pass the cifar-10-batches-bin folder or set CIFAR10_DIR")

    with safe_open(args.model, "pt") as f:
        meta = f.metadata() or {}
    if "architecture" not in meta:
        sys.exit(f"{args.model}: no \"architecture\" in the safetensors metadata; expected a model written by train-cifar")
    tensors = load_file(args.model)
    net = build(meta["architecture"])
    # Our files store num_batches_tracked as F32; PyTorch's buffer is int64 (copy_ converts it).
    net.load_state_dict(tensors, strict=True)
    net.eval()

    mean = torch.tensor(json.loads(meta["mean"]), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(json.loads(meta["std"]), dtype=torch.float32).view(1, 3, 1, 1)
    images, labels = load_test_set(args.data)
    with torch.no_grad():
        logits = torch.cat([net((images[i:i + 500] - mean) / std) for i in range(0, len(images), 500)])
    predictions = logits.argmax(1)
    correct = predictions == labels
    print(f"architecture: {meta['architecture']}")
    print("pytorch test accuracy (plain forward pass, no flip averaging): %.4f on %d images"
          % (correct.float().mean().item(), len(labels)))

    if args.per_class:
        classes = json.loads(meta["classes"])
        ours = {row["class"]: int(row["correct"]) for row in csv.DictReader(open(args.per_class))}
        theirs = {name: int(correct[labels == k].sum()) for k, name in enumerate(classes)}
        differ = [f"{name}: featuremaps {ours.get(name)}, pytorch {theirs[name]}" for name in classes if ours.get(name) != theirs[name]]
        if differ:
            print("per-class correct counts differ: " + "; ".join(differ))
            sys.exit(1)
        print(f"per-class correct counts equal {args.per_class} for all {len(classes)} classes")

    if args.logits:
        ours = load_file(args.logits)["logits"]
        theirs = logits[:len(ours)]
        if ours.shape != theirs.shape:
            sys.exit(f"{args.logits}: logits of shape {list(ours.shape)}; the test set gives {list(theirs.shape)}")
        difference = ((ours - theirs).abs() / theirs.abs().clamp(min=1)).max().item()
        same = int((ours.argmax(1) == theirs.argmax(1)).sum())
        print("logits: largest relative difference %.3g on %d images (tolerance %.3g); predictions equal on %d of %d"
              % (difference, len(ours), args.logits_tolerance, same, len(ours)))
        if difference > args.logits_tolerance or same != len(ours):
            sys.exit(1)

    if args.gradients:
        with safe_open(args.gradients, "pt") as f:
            step = f.metadata() or {}
        ours = load_file(args.gradients)
        count, smoothing = int(step["images"]), float(step["label_smoothing"])
        # The reference step runs in float64, so PyTorch's own float32 rounding is not part of
        # the difference. The step stays discontinuous where max pooling meets near-ties: a
        # rounding-sized change of the input can flip a tie and reroute an image's gradient
        # (the caller sets --gradients-tolerance with that in mind).
        net.train()
        net.double()
        for parameter in net.parameters():
            parameter.requires_grad_(True)
            parameter.grad = None
        loss = nn.functional.cross_entropy(net(((images[:count] - mean) / std).double()), labels[:count],
                                           label_smoothing=smoothing)
        loss.backward()
        worst, worst_name = 0.0, ""
        for name, parameter in net.named_parameters():
            mine = ours.get("grad." + name)
            if mine is None or mine.shape != parameter.grad.shape:
                sys.exit(f"{args.gradients}: no gradient grad.{name} of shape {list(parameter.grad.shape)}")
            error = ((mine.double() - parameter.grad).abs().max() / parameter.grad.abs().max().clamp(min=1e-30)).item()
            if error > worst:
                worst, worst_name = error, name
        print("gradients: largest relative difference %.3g (%s) over %d tensors, %d images (tolerance %.3g)"
              % (worst, worst_name, len(list(net.parameters())), count, args.gradients_tolerance))
        if worst > args.gradients_tolerance:
            sys.exit(1)


if __name__ == "__main__":
    main()
