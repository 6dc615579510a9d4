#!/usr/bin/env python3
"""Makes the ImageIO test fixtures from independent decoders (Pillow, pypng, NumPy).

    pip install pillow pypng numpy
    python3 Tests/ImageIOTests/Fixtures/make_fixtures.py

It reads only files in the repository: png/ beside it (PngSuite and libpng's test images) and
SampleImages/ (chelsea.png, rocket.jpg, hubble_deep_field.jpg).

The rules applied here are the ones Docs/IMAGEIO.md documents for readImage:
  * samples are the stored values: colour-space chunks (gAMA, cHRM, sRGB, iCCP) are ignored, as Pillow does;
  * bit depths below 8 scale up by bit replication (v * 255 / (2^d - 1)); palettes and tRNS expand to RGBA;
  * 8-bit alpha: out = round((v a + bg (255 - a)) / 255);
  * 16-bit: out16 = round((v a + bg*257 (65535 - a)) / 65535), then out = out16 >> 8 (Pillow's 16->8 rule).
Pixels of files with bit depth <= 8 come from Pillow and are checked against pypng; 16-bit files come from
pypng (Pillow keeps only the high byte of 16-bit RGB, so it cannot composite at 16 bits) and are checked
against Pillow where Pillow is exact (opaque files: pypng >> 8 == Pillow).
"""
import base64, glob, json, os, sys
import numpy as np
import png  # pypng, a pure-Python decoder independent of libpng
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SAMPLES = os.path.join(REPO, "SampleImages")
PNGDIR = os.path.join(HERE, "png")
OTHER_BACKGROUND = (10, 120, 250)  # a second background, so the compositing is tested off white


def pypng_rgba(path):
    """Raw samples as (h, w, 4) uint32 RGBA at the file's depth scaled to 8 or 16 bits, and that depth."""
    r = png.Reader(filename=path)
    w, h, rows, info = r.asRGBA()
    a = np.array([np.asarray(row, dtype=np.uint32) for row in rows]).reshape(h, w, 4)
    depth = info["bitdepth"]
    if depth < 8:  # pypng leaves small depths as they are; PNG and libpng scale by bit replication
        a = a * 255 // ((1 << depth) - 1)
        depth = 8
    return a, depth


SMALL = 64 * 64 * 3


def fnv1a64(data):
    """FNV-1a, 64-bit, as a decimal string (JSON numbers lose precision above 2^53)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return str(h)


def composite(rgba, depth, bg):
    maxv = (1 << depth) - 1
    bgv = np.array(bg, dtype=np.uint64) * (257 if depth == 16 else 1)
    c = rgba[..., :3].astype(np.uint64)
    a = rgba[..., 3:4].astype(np.uint64)
    out = (c * a + bgv * (maxv - a) + maxv // 2) // maxv  # round to nearest (no ties: maxv is odd)
    if depth == 16:
        out >>= 8
    return out.astype(np.uint8)


def low_depth_gray_trns(path):
    r = png.Reader(filename=path)
    r.preamble()
    return r.color_type == 0 and r.bitdepth < 8 and r.trns is not None


def pillow_rgba8(path):
    im = Image.open(path)
    im.load()
    if im.mode in ("I;16", "I;16B", "I"):
        return None  # 16-bit gray: Pillow gives the full values; compared separately below
    return np.asarray(im.convert("RGBA"), dtype=np.uint32)


def png_fixture():
    files = sorted(glob.glob(os.path.join(PNGDIR, "pngsuite", "*.png"))
                   + glob.glob(os.path.join(PNGDIR, "pngsuite", "interlaced", "*.png"))
                   + glob.glob(os.path.join(PNGDIR, "testpngs", "*.png")))
    out = {}
    for path in files:
        name = os.path.relpath(path, PNGDIR)
        raw, depth = pypng_rgba(path)
        has_alpha = bool((raw[..., 3] != (1 << depth) - 1).any())
        pil = pillow_rgba8(path)
        if depth == 8:
            if pil is not None and np.array_equal(pil, raw):
                source = "pillow (== pypng)"
            elif pil is not None and np.array_equal(pil[..., :3], raw[..., :3]) and low_depth_gray_trns(path):
                # Pillow compares the tRNS gray value with the sample after scaling to 8 bits, so it misses
                # transparency below 8 bits; the PNG spec compares raw samples, as pypng and libpng do.
                source = "pypng (Pillow ignores tRNS of gray below 8 bits; colours equal)"
            else:
                sys.exit(f"{name}: Pillow and pypng disagree")
        else:
            im = Image.open(path)
            if pil is not None and not has_alpha:
                if not np.array_equal(pil[..., :3], raw[..., :3] >> 8):
                    sys.exit(f"{name}: Pillow != pypng >> 8")
            elif im.mode.startswith("I"):
                gray = np.asarray(im, dtype=np.uint32)
                if not np.array_equal(gray, raw[..., 0]):
                    sys.exit(f"{name}: Pillow I;16 != pypng")
            source = "pypng 16-bit (checked against Pillow)" if not has_alpha or pil is None else "pypng 16-bit"
        # libpng's simplified reader hands 16-bit data back premultiplied by alpha and rounded to 16 bits,
        # so where 0 < alpha < 65535 the composited 16-bit value can be off by one, which can move its high
        # byte by one. Everything else is integer-exact.
        partial16 = depth == 16 and bool(((raw[..., 3] > 0) & (raw[..., 3] < 65535)).any())
        entry = {"width": int(raw.shape[1]), "height": int(raw.shape[0]), "source": source,
                 "tolerance": 1 if partial16 else 0}
        backgrounds = [("", (255, 255, 255))] + ([("OnOtherBackground", OTHER_BACKGROUND)] if has_alpha else [])
        for suffix, bg in backgrounds:
            rgb = composite(raw, depth, bg)
            entry["fnv1a64" + suffix] = fnv1a64(rgb.tobytes())
            if rgb.size <= SMALL:  # PngSuite's 32x32 files: every pixel, so a failure shows where
                entry["rgb" + suffix] = base64.b64encode(rgb.tobytes()).decode()
            elif partial16:  # a hash cannot allow a tolerance: every 4th pixel each way instead
                entry["sampleStep"] = 4
                entry["rgb" + suffix] = base64.b64encode(np.ascontiguousarray(rgb[::4, ::4]).tobytes()).decode()
        out[name] = entry
    return {"otherBackground": list(OTHER_BACKGROUND), "files": out}


def make_small_jpegs():
    """Small JPEGs in the colour spaces photos come in, written by Pillow into this folder."""
    y, x = np.mgrid[0:16, 0:24]
    rgb = np.stack([x * 10, y * 15, (x + y) * 6], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(os.path.join(HERE, "small-progressive.jpg"), quality=90, progressive=True)
    Image.fromarray(rgb).convert("L").save(os.path.join(HERE, "small-gray.jpg"), quality=90)
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(HERE, "small-cmyk.jpg"), quality=90)
    return ["small-progressive.jpg", "small-gray.jpg", "small-cmyk.jpg"]


def out_step(name, small):
    return 1 if name in small else 7


def jpeg_fixture():
    out = {}
    small = make_small_jpegs()
    for name in small + ["rocket.jpg", "hubble_deep_field.jpg"]:
        folder = HERE if name in small else SAMPLES
        a = np.asarray(Image.open(os.path.join(folder, name)).convert("RGB"))
        h, w, _ = a.shape
        out[name] = {"width": w, "height": h, "step": out_step(name, small),
                     "mean": [float(a[..., c].mean()) for c in range(3)],
                     "sampled": base64.b64encode(np.ascontiguousarray(a[::out_step(name, small), ::out_step(name, small)]).tobytes()).decode()}
    return out


def gray_fixture():
    """skimage.color.rgb2gray of chelsea, in NumPy (same coefficients, float64), every 3rd pixel each way."""
    a = np.asarray(Image.open(os.path.join(SAMPLES, "chelsea.png")).convert("RGB"), dtype=np.float64) / 255
    y = a @ np.array([0.2125, 0.7154, 0.0721])
    return {"width": a.shape[1], "height": a.shape[0], "step": 3, "sum": float(y.sum()),
            "sampled": base64.b64encode(np.ascontiguousarray(y[::3, ::3]).astype("<f4").tobytes()).decode()}


if __name__ == "__main__":
    fixture = {"png": png_fixture(), "jpeg": jpeg_fixture(), "chelseaGray": gray_fixture()}
    with open(os.path.join(HERE, "fixtures.json"), "w") as f:
        json.dump(fixture, f, indent=0, sort_keys=True)
    print("wrote", os.path.join(HERE, "fixtures.json"), os.path.getsize(os.path.join(HERE, "fixtures.json")), "bytes")
