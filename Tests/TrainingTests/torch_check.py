"""Loads a featuremaps model.safetensors into the matching PyTorch module and reports its test
accuracy, to compare with `featuremaps evaluate` (not part of CI: it needs torch).

usage: python torch_check.py MODEL.safetensors [CIFAR10_DIR]

seed: a module with attributes conv1, conv2, fc (the issue's names); vgg: nets_torch.py's net_m
(index names "0.weight" ... "22.weight"), loaded with strict=True. The file is parsed with json +
numpy as the safetensors format page describes (no safetensors package needed).
"""
import json, os, struct, sys
import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "..", "shared")
sys.path.insert(0, os.path.join(SHARED, "bench"))


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").copy().reshape(info["shape"]))
    return tensors, meta


class Seed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5)
        self.conv2 = nn.Conv2d(16, 16, 5)
        self.fc = nn.Linear(2304, 10)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.max_pool2d(x, 2), 1))


def main():
    tensors, meta = read_safetensors(sys.argv[1])
    data = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("CIFAR10_DIR", os.path.join(SHARED, "data", "cifar-10-batches-bin"))
    if meta["architecture"] == "seed":
        net = Seed()
    elif meta["architecture"] == "vgg":
        from nets_torch import net_m
        net = net_m()
    else:
        sys.exit("only the seed and vgg presets have a PyTorch module here")
    net.load_state_dict(tensors, strict=True)
    net.eval()
    mean = torch.tensor(json.loads(meta["mean"])).view(1, 3, 1, 1)
    std = torch.tensor(json.loads(meta["std"])).view(1, 3, 1, 1)
    raw = np.fromfile(os.path.join(data, "test_batch.bin"), dtype=np.uint8).reshape(-1, 3073)
    x = (torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255 - mean) / std
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    print("pytorch test accuracy: %.4f on %d images" % ((pred == y).float().mean().item(), len(y)))


main()
