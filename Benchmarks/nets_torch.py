"""PyTorch modules for every architecture `featuremaps train-cifar` saves, with the same
state-dict names as our model files, so `load_state_dict(..., strict=True)` takes them as they are.

    build("seed")                       the seed preset (attributes conv1, conv2, fc)
    build("vgg")                        the VGG preset (nn.Sequential, "0.weight" ... "22.weight")
    build("airbench")                   airbench94's network, net_a (nn.Sequential, "0.weight" ... "7.weight")
    build("c32k3p1,bn,relu,mp2,fc10")   any model spec (Sources/Training/ModelSpec.swift's grammar)

Used by Tests/TrainingTests/torch_check.py (the accuracy cross-check) and Benchmarks/bench_torch.py
(the training-speed peer). Needs only torch.
"""
import re

import torch
from torch import nn

# ModelZoo.vggSpec in Sources/Training/ModelZoo.swift: three blocks of two 3x3 conv + BN + ReLU
# and a 2x2 max pool (32, 64, 128 channels), then a linear layer on the 128x4x4 features.
VGG_SPEC = ("c32k3p1,bn,relu,c32k3p1,bn,relu,mp2,c64k3p1,bn,relu,c64k3p1,bn,relu,mp2,"
            "c128k3p1,bn,relu,c128k3p1,bn,relu,mp2,fc10")

PRESETS = ("seed", "vgg", "airbench")


class Seed(nn.Module):
    """The seed preset: conv 5x5 3->16 (valid), ReLU, conv 5x5 16->16, ReLU, max pool 2, fc 2304->10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5)
        self.conv2 = nn.Conv2d(16, 16, 5)
        self.fc = nn.Linear(16 * 12 * 12, 10)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.max_pool2d(x, 2), 1))


class Residual(nn.Sequential):
    """x + f(x) with f the children in order. A Sequential subclass, so the children's names are
    "0.weight", ... directly under the block's index, as in our files (Kernels' Residual)."""

    def forward(self, x):
        return x + super().forward(x)


class GlobalAvgPool(nn.Module):
    """[N, C, H, W] -> [N, C]: the mean over each channel's plane (the spec's `gap`)."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def split_items(text):
    """Top-level comma-separated items of a spec (commas inside res(...) stay in their item)."""
    items, depth, current = [], 0, ""
    for ch in text:
        if ch.isspace():
            continue
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise ValueError(f"model spec {text!r}: unbalanced ')'")
        current += ch
    if depth != 0:
        raise ValueError(f"model spec {text!r}: unbalanced '('")
    return items + [current]


def parse_item(item):
    """One item -> a tuple ("conv", out, k, stride, pad, bias), ("mp"|"ap", k, stride),
    ("fc", out), ("res", [items]) or a bare name (bn, relu, gelu, gap, flatten)."""
    if item in ("bn", "relu", "gelu", "gap", "flatten"):
        return (item,)
    if item.startswith("res(") and item.endswith(")"):
        return ("res", [parse_item(i) for i in split_items(item[4:-1])])
    if not re.fullmatch(r"([a-z]+[0-9]*)+", item):
        raise ValueError(f"model spec item {item!r}: expected letters and numbers")
    values, no_bias = {}, False
    for key, digits in re.findall(r"([a-z]+)([0-9]*)", item):
        if key == "nb" and not digits:
            no_bias = True
            continue
        if not digits or (int(digits) == 0 and key != "p") or key in values:
            raise ValueError(f"model spec item {item!r}: {key!r} needs one positive number")
        values[key] = int(digits)
    keys = set(values)
    if "c" in values and "k" in values and keys <= {"c", "k", "s", "p"}:
        return ("conv", values["c"], values["k"], values.get("s", 1), values.get("p", 0), not no_bias)
    for pool in ("mp", "ap"):
        if pool in values and keys <= {pool, "s"} and not no_bias:
            return (pool, values[pool], values.get("s", values[pool]))
    if keys == {"fc"} and not no_bias:
        return ("fc", values["fc"])
    raise ValueError(f"model spec item {item!r}: not one of c<out>k<k>[s][p][nb], bn, relu, gelu, "
                     "mp<k>[s], ap<k>[s], gap, flatten, fc<out>, res(...)")


def modules(layers, shape):
    """torch modules for parsed `layers` on inputs of `shape` ([C, H, W] or [F]) and the output
    shape. A flatten goes before a linear layer whose input is still an image, as the Swift
    parser inserts one (it takes an index of its own, so the names stay aligned)."""
    out = []
    for layer in layers:
        kind = layer[0]
        if kind == "fc" and len(shape) == 3:
            out.append(nn.Flatten())
            shape = [shape[0] * shape[1] * shape[2]]
        if kind == "conv":
            _, cout, k, s, p, bias = layer
            out.append(nn.Conv2d(shape[0], cout, k, stride=s, padding=p, bias=bias))
            shape = [cout, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
        elif kind in ("mp", "ap"):
            _, k, s = layer
            out.append(nn.MaxPool2d(k, s) if kind == "mp" else nn.AvgPool2d(k, s))
            shape = [shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1]
        elif kind == "bn":
            out.append(nn.BatchNorm2d(shape[0]))
        elif kind == "relu":
            out.append(nn.ReLU())
        elif kind == "gelu":
            out.append(nn.GELU())  # exact erf form, as Kernels' GELU
        elif kind == "gap":
            out.append(GlobalAvgPool())
            shape = [shape[0]]
        elif kind == "flatten":
            out.append(nn.Flatten())
            shape = [torch.Size(shape).numel()]
        elif kind == "fc":
            out.append(nn.Linear(shape[0], layer[1]))
            shape = [layer[1]]
        elif kind == "res":
            body, body_shape = modules(layer[1], shape)
            if body_shape != shape:
                raise ValueError(f"a residual block must keep the shape {shape}, its layers give {body_shape}")
            out.append(Residual(*body))
    return out, shape


def from_spec(text):
    """An nn.Sequential for a model spec such as "c32k3p1,bn,relu,mp2,fc10"."""
    layers = [parse_item(item) for item in split_items(text.lower())]
    mods, shape = modules(layers, [3, 32, 32])
    if shape != [10]:
        raise ValueError(f"model spec {text!r}: the network outputs {shape}; it must end with 10 class scores")
    return nn.Sequential(*mods)


# ---- airbench94's network (PyPI airbench 0.1.8's make_net94), as the shared benchmark's net_a ----
# Our ModelZoo.airbench: the same modules, so the same state-dict keys, shapes and requires_grad.

class Mul(nn.Module):
    """x * s with a constant s (no parameters, nothing in the state dict)."""

    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s


def airbench_bn(channels, momentum=0.6):
    """airbench's batch norm: eps 1e-12, "momentum 0.6" (PyTorch's 0.4), scale frozen at 1."""
    bn = nn.BatchNorm2d(channels, eps=1e-12, momentum=1 - momentum)
    bn.weight.requires_grad = False
    return bn


def airbench_conv(cin, cout, k=3, padding="same", bias=False):
    """PyTorch's default init, then the first `cin` filters set to identities (dirac), bias 0."""
    conv = nn.Conv2d(cin, cout, k, padding=padding, bias=bias)
    with torch.no_grad():
        if conv.bias is not None:
            conv.bias.zero_()
        torch.nn.init.dirac_(conv.weight[:conv.weight.size(1)])
    return conv


class ConvGroup(nn.Module):
    """conv1 -> pool -> norm1 -> GELU -> conv2 -> norm2 -> GELU (Kernels' ConvGroup)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = airbench_conv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = airbench_bn(cout)
        self.conv2 = airbench_conv(cout, cout)
        self.norm2 = airbench_bn(cout)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


def airbench(widths=(64, 256, 256)):
    """2x2 whitening conv (3 -> 24, weight frozen), GELU, three groups (32 -> 31 -> 15 -> 7 -> 3),
    max pool 3, flatten, bias-free linear, x 1/9."""
    net = nn.Sequential(
        airbench_conv(3, 24, k=2, padding=0, bias=True), nn.GELU(),
        ConvGroup(24, widths[0]), ConvGroup(widths[0], widths[1]), ConvGroup(widths[1], widths[2]),
        nn.MaxPool2d(3), nn.Flatten(), nn.Linear(widths[2], 10, bias=False), Mul(1 / 9),
    )
    net[0].weight.requires_grad = False
    return net


def build(architecture):
    """The module for an architecture string as our model files store it ("architecture" metadata)."""
    if architecture == "seed":
        return Seed()
    if architecture == "vgg":
        return from_spec(VGG_SPEC)
    if architecture == "airbench":
        return airbench()
    return from_spec(architecture)
