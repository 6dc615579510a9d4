"""Makes chelsea_layer1.json: layer-1 maps of chelsea.png computed independently in NumPy.

Independent of the Swift code: Pillow decodes the PNG, NumPy does rgb2gray (scikit-image's
weights), the valid cross-correlation as a float64 sum of shifted slices, ReLU, and 2x2/2 max
pooling by reshaping. The fixture keeps per-map statistics and a few sampled values, not the
whole arrays, so it stays small.

Run from the repository root:
    python3 Tests/FeatureMapsTests/Fixtures/make_chelsea_fixture.py [path/to/chelsea.png]
"""
import json
import os
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT = os.path.join(ROOT, "SampleImages", "chelsea.png")

VERTICAL = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64)
HORIZONTAL = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], dtype=np.float64)
SAMPLES_PER_MAP = 40


def correlate_valid(planes, kernel):
    """sum over channels c and offsets (a, b) of planes[c, y+a, x+b] * kernel[a, b]."""
    channels, height, width = planes.shape
    k = kernel.shape[0]
    out = np.zeros((height - k + 1, width - k + 1))
    for c in range(channels):
        for a in range(k):
            for b in range(k):
                out += kernel[a, b] * planes[c, a:a + out.shape[0], b:b + out.shape[1]]
    return out


def pool2x2(plane):
    h, w = plane.shape[0] // 2, plane.shape[1] // 2
    return plane[:2 * h, :2 * w].reshape(h, 2, w, 2).max(axis=(1, 3))


def describe(plane, rng):
    h, w = plane.shape
    corners = [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)]
    picks = corners + [(int(y), int(x)) for y, x in zip(rng.integers(0, h, SAMPLES_PER_MAP),
                                                         rng.integers(0, w, SAMPLES_PER_MAP))]
    return {
        "height": h, "width": w,
        "sum": float(plane.sum()), "abs_sum": float(np.abs(plane).sum()),
        "min": float(plane.min()), "max": float(plane.max()),
        "samples": [[y, x, float(plane[y, x])] for y, x in picks],
    }


def layer1(planes, rng):
    result = {"conv": [], "relu": [], "pool": []}
    for kernel in (VERTICAL, HORIZONTAL):
        conv = correlate_valid(planes, kernel)
        relu = np.maximum(conv, 0)
        pool = pool2x2(relu)
        for name, plane in (("conv", conv), ("relu", relu), ("pool", pool)):
            result[name].append(describe(plane, rng))
    return result


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    gray = rgb @ np.array([0.2125, 0.7154, 0.0721])
    rng = np.random.default_rng(2026)
    fixture = {
        "source": "chelsea.png (scikit-image's data.chelsea), made by make_chelsea_fixture.py",
        "height": int(gray.shape[0]), "width": int(gray.shape[1]),
        "gray": describe(gray, rng),
        "gray_layer1": layer1(gray[None, :, :], rng),
        "color_layer1": layer1(np.transpose(rgb, (2, 0, 1)), rng),
    }
    with open(os.path.join(HERE, "chelsea_layer1.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
