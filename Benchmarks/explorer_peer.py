"""The feature-map explorer's job as a plain Pillow + NumPy script: the peer in Docs/EXPLORER.md.

For every PNG/JPEG under the given paths: decode (Pillow), rgb2gray (scikit-image's weights),
the notebook's default stack (the two 3x3 edge filters, 3 random 5x5, 1 random 7x7; each layer
valid cross-correlation -> ReLU -> 2x2/2 max pool), vectorised in NumPy (a float32 sum of shifted
slices per kernel tap), then in_img.png and one labelled grid per layer, L1.png ... L3.png, laid out
like featuremaps' grids (tiles min-max scaled to 0-255, nearest-neighbour enlargement, labels with
Pillow's built-in font) and saved as PNG. One process, like a script a user would write; it prints
images/s.

The PNG settings (--png) decide most of the run time, since deflate dominates both programs:
  pillow       Pillow's defaults: the filter chosen per row (Pillow's libpng-style heuristic),
               zlib level 6, default strategy. What a plain script gets.
  featuremaps  the settings featuremaps writes its figures with (PNGCompression.fastest): the Up
               filter on every row, zlib level 1 with the Z_RLE strategy, written with NumPy and
               Python's zlib (Pillow has no option to fix the filter). Equal settings on both sides.

    python3 Benchmarks/explorer_peer.py --make-photos /tmp/fm-photos    # the 42-photo benchmark folder
    python3 Benchmarks/explorer_peer.py /tmp/fm-photos --out /tmp/peer-out [--png featuremaps]
"""
import argparse
import os
import struct
import sys
import time
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

EDGES = np.array([[[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
                  [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]], dtype=np.float32)
EXTENSIONS = (".png", ".jpg", ".jpeg")
MIN_TILE_SIDE = 200

# What each --png choice writes; FEATUREMAPS_PNG is also how explorer_bench.py states our side
# (Sources/ImageIO/PNG.swift, encodePNGRunLength: PNG_FILTER_UP, level 1, FM_PNG_STRATEGY_RLE).
FEATUREMAPS_PNG = "Up filter on every row, zlib level 1, Z_RLE strategy"
PNG_SETTINGS = {
    "pillow": f"Pillow {Image.__version__} defaults: filter chosen per row, zlib level 6, default strategy",
    "featuremaps": FEATUREMAPS_PNG + " (NumPy + Python's zlib " + zlib.ZLIB_RUNTIME_VERSION + ")",
}


def save_png_up_rle(image, path):
    """`image` as PNG with featuremaps' settings: Up-filtered rows, zlib level 1, Z_RLE."""
    rows = np.asarray(image, dtype=np.uint8)
    height, width = rows.shape[:2]
    channels = 1 if rows.ndim == 2 else rows.shape[2]
    rows = rows.reshape(height, width * channels)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps mod 256, as the filter defines
    scanlines = np.hstack([np.full((height, 1), 2, dtype=np.uint8), up]).tobytes()
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    idat = deflate.compress(scanlines) + deflate.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def save_png(image, path, png):
    if png == "featuremaps":
        save_png_up_rle(image, path)
    else:
        image.save(path)


def make_filters(seed):
    rng = np.random.default_rng(seed)
    return [EDGES[:, None, :, :],
            rng.random((3, 2, 5, 5), dtype=np.float32),
            rng.random((1, 3, 7, 7), dtype=np.float32)]


def conv_valid(x, w):
    """x [C,H,W], w [F,C,k,k] -> [F,H-k+1,W-k+1]: valid cross-correlation, summed over channels."""
    f, c, k, _ = w.shape
    h, wd = x.shape[1] - k + 1, x.shape[2] - k + 1
    out = np.zeros((f, h, wd), dtype=np.float32)
    for ci in range(c):
        for a in range(k):
            for b in range(k):
                out += w[:, ci, a, b][:, None, None] * x[ci, a:a + h, b:b + wd][None]
    return out


def pool2x2(x):
    f, h, w = x.shape
    h2, w2 = h // 2, w // 2
    return x[:, :2 * h2, :2 * w2].reshape(f, h2, 2, w2, 2).max(axis=(2, 4))


def levels(plane):
    low, high = float(plane.min()), float(plane.max())
    if high <= low:
        return np.zeros(plane.shape, dtype=np.uint8)
    return np.minimum(255, ((plane - low) * (256.0 / (high - low))).astype(np.int64)).astype(np.uint8)


def grid(number, conv, relu, pool, font):
    rows = [(conv, ""), (relu, "ReLU"), (pool, "ReLUPool")]
    h, w = conv.shape[1], conv.shape[2]
    longer = max(h, w)
    enlarge = 1 if longer >= MIN_TILE_SIDE else -(-MIN_TILE_SIDE // longer)
    th, tw = h * enlarge, w * enlarge
    labels = [[f"L{number}-Map{i + 1}{suffix}" for i in range(maps.shape[0])] for maps, suffix in rows]
    label_w = max(int(font.getlength(t)) for row in labels for t in row)
    cell_w, margin, gap, band = max(tw, label_w), 12, 12, 22
    row_h = band + th + 8
    columns = conv.shape[0]
    canvas = Image.new("L", (2 * margin + columns * cell_w + (columns - 1) * gap, 2 * margin + 3 * row_h), 255)
    draw = ImageDraw.Draw(canvas)
    for r, (maps, _) in enumerate(rows):
        top = margin + r * row_h
        for c in range(maps.shape[0]):
            left = margin + c * (cell_w + gap)
            text = labels[r][c]
            draw.text((left + (cell_w - font.getlength(text)) / 2, top + 4), text, fill=0, font=font)
            plane = maps[c]
            ys = np.arange(th) * plane.shape[0] // th
            xs = np.arange(tw) * plane.shape[1] // tw
            tile = levels(plane)[ys[:, None], xs[None, :]]
            canvas.paste(Image.fromarray(tile, "L"), (left + (cell_w - tw) // 2, top + band))
    return canvas


def explore(path, out_dir, filters, font, png):
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    gray = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    os.makedirs(out_dir, exist_ok=True)
    save_png(Image.fromarray(np.round(gray * 255).astype(np.uint8), "L"), os.path.join(out_dir, "in_img.png"), png)
    x = gray[None]
    for n, w in enumerate(filters, start=1):
        conv = conv_valid(x, w)
        relu = np.maximum(conv, 0)
        pool = pool2x2(relu)
        save_png(grid(n, conv, relu, pool, font), os.path.join(out_dir, f"L{n}.png"), png)
        x = pool


def find_images(paths):
    found = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if name.lower().endswith(EXTENSIONS) and not name.startswith("."):
                        rel = os.path.relpath(os.path.join(root, name), p)
                        found.append((os.path.join(root, name), os.path.splitext(rel)[0]))
        else:
            found.append((p, os.path.splitext(os.path.basename(p))[0]))
    return found


def make_photos(folder, source):
    """42 photos: the 6 sample photos at 7 sizes each (JPEGs stay JPEG)."""
    os.makedirs(folder, exist_ok=True)
    names = sorted(n for n in os.listdir(source) if n.lower().endswith(EXTENSIONS))
    count = 0
    for name in names:
        image = Image.open(os.path.join(source, name)).convert("RGB")
        stem, ext = os.path.splitext(name)
        for i, scale in enumerate((1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4)):
            if count >= 42:
                break
            size = (max(64, int(image.width * scale)), max(64, int(image.height * scale)))
            variant = image.resize(size, Image.LANCZOS) if scale != 1.0 else image
            variant.save(os.path.join(folder, f"{stem}_{i}{ext.lower()}"), quality=92)
            count += 1
    print(f"{count} photos in {folder}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--out", default="PeerOutput")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--png", choices=sorted(PNG_SETTINGS), default="pillow", help="PNG settings (see above)")
    parser.add_argument("--make-photos", metavar="FOLDER")
    parser.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "SampleImages"))
    args = parser.parse_args()
    if args.make_photos:
        make_photos(args.make_photos, args.source)
        return
    filters = make_filters(args.seed)
    font = ImageFont.load_default()
    images = find_images(args.paths)
    start = time.perf_counter()
    failed = 0
    for path, rel in images:
        try:
            explore(path, os.path.join(args.out, rel), filters, font, args.png)
        except Exception as error:  # one bad file does not stop the batch
            failed += 1
            print(f"{path}: {error}", file=sys.stderr)
    seconds = time.perf_counter() - start
    print(f"PNG: {PNG_SETTINGS[args.png]}")
    print(f"{len(images)} images in {seconds:.3f} s ({len(images) / seconds:.1f} images/s), {failed} failed")


if __name__ == "__main__":
    main()
