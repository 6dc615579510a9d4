"""How long zlib takes to compress the explorer's figures under different PNG settings.

Reads the figures featuremaps wrote (default: Output/chelsea/{in_img,L1,L2,L3}.png), rebuilds each
PNG's filtered scanlines (filter None, Up or Sub) and times Python's zlib (the same libz the
image module links) on them at several levels and strategies: the cost of deflate alone, which
dominates the explorer's run time.

    swift run -c release featuremaps SampleImages/chelsea.png --out Output
    python3 Benchmarks/png_deflate_settings.py [Output/chelsea]
"""
import os
import sys
import time
import zlib

import numpy as np
from PIL import Image

folder = sys.argv[1] if len(sys.argv) > 1 else "Output/chelsea"
figures = []
for name in ("in_img", "L1", "L2", "L3"):
    rows = np.asarray(Image.open(os.path.join(folder, name + ".png")).convert("L")).astype(np.int16)
    none = rows
    up = np.vstack([rows[:1], rows[1:] - rows[:-1]]) % 256
    sub = np.hstack([rows[:, :1], rows[:, 1:] - rows[:, :-1]]) % 256
    def lines(data, kind):
        return np.hstack([np.full((data.shape[0], 1), kind), data]).astype(np.uint8).tobytes()
    figures.append({"none": lines(none, 0), "up": lines(up, 2), "sub": lines(sub, 1)})

print(f"{sum(len(f['none']) for f in figures)} bytes of scanlines in {folder}")
settings = [("level 6, no filter", 6, zlib.Z_DEFAULT_STRATEGY, "none"),
            ("level 6, Sub filter", 6, zlib.Z_DEFAULT_STRATEGY, "sub"),
            ("level 3, no filter (libpng's fast flag)", 3, zlib.Z_DEFAULT_STRATEGY, "none"),
            ("level 1, no filter", 1, zlib.Z_DEFAULT_STRATEGY, "none"),
            ("level 1, Sub filter", 1, zlib.Z_DEFAULT_STRATEGY, "sub"),
            ("RLE, Sub filter", 1, zlib.Z_RLE, "sub"),
            ("RLE, Up filter", 1, zlib.Z_RLE, "up"),
            ("Huffman only, Sub filter", 1, zlib.Z_HUFFMAN_ONLY, "sub")]
repeats = 5
for label, level, strategy, kind in settings:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        size = 0
        for figure in figures:
            compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 8, strategy)
            size += len(compressor.compress(figure[kind]) + compressor.flush())
        best = min(best, time.perf_counter() - start)
    print(f"{label:42s} {1000 * best:7.1f} ms  {size / 1000:6.0f} KB")
