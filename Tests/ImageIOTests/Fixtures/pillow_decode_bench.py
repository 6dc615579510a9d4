#!/usr/bin/env python3
"""Pillow's decode time for the sample images, to print beside `IMAGEIO_BENCH=1 swift test -c release --filter DecodeBenchmark`.

    python3 Tests/ImageIOTests/Fixtures/pillow_decode_bench.py
"""
import os, time
import PIL
from PIL import Image

SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "SampleImages")
print("Pillow", PIL.__version__)
for name in ["chelsea.png", "coffee.png", "astronaut.png", "camera.png", "rocket.jpg", "hubble_deep_field.jpg"]:
    path = os.path.join(SAMPLES, name)
    Image.open(path).convert("RGB")
    times = []
    for _ in range(30):
        start = time.perf_counter()
        Image.open(path).convert("RGB")
        times.append((time.perf_counter() - start) * 1000)
    print(f"decode {name}: best {min(times):.2f} ms, mean {sum(times) / len(times):.2f} ms over 30 runs")
