"""Benchmark figure for the feature-map explorer beside its Pillow+NumPy peer, in one run.

    swift build -c release
    python3 Benchmarks/explorer_peer.py --make-photos /tmp/fm-photos     # 42 photos, once
    python3 Benchmarks/explorer_bench.py --photos /tmp/fm-photos [--runs 5] [--png featuremaps]

Measures, alternating the two programs so both see the same machine load:
  1. one image, SampleImages/chelsea.png with the default stack, load to written PNGs: each
     program's own timing of its work (from its summary line), and the wall time of the whole
     processes (start-up and imports included);
  2. batch throughput over the photo folder: images / wall time of the whole run.
Prints medians (and best) of --runs runs, the machine load, and the CPU time (user + system) per
image of both programs: on a machine shared with other jobs, wall-clock ratios understate a
program that uses both cores, so both figures are given.

Deflate dominates both programs, so the PNG settings are stated for both sides: ours are
featuremaps' (the Up filter, zlib level 1, Z_RLE); the peer's are Pillow's defaults, or with
--png featuremaps the same settings as ours (explorer_peer.py). The script also reads the PNGs
both sides wrote and prints the row filters and the zlib header's level class they hold.
"""
import argparse
import collections
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zlib

from explorer_peer import FEATUREMAPS_PNG, PNG_SETTINGS

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BINARY = os.path.join(ROOT, ".build", "release", "featuremaps")
PEER = os.path.join(ROOT, "Benchmarks", "explorer_peer.py")
CHELSEA = os.path.join(ROOT, "SampleImages", "chelsea.png")


CPU = []  # (program, CPU seconds) of every timed run


def timed(command, out):
    """Wall seconds and stdout of `command`; its CPU time (user + system) goes to CPU."""
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr}")
    CPU.append((command[0], after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    return seconds, result.stdout + result.stderr


def work_seconds(output):
    # Both programs end with "N image(s) in S s (R images/s)...": their own timing of the work.
    line = [l for l in output.strip().splitlines() if " in " in l and " s (" in l][-1]
    return float(line.split(" in ")[1].split(" s ")[0])


FILTERS = {0: "None", 1: "Sub", 2: "Up", 3: "Average", 4: "Paeth"}
LEVEL_CLASSES = {0: "level 0-1", 1: "level 2-5", 2: "level 6", 3: "level 7-9"}  # zlib header FLEVEL


def png_settings_found(folder):
    """The row filters (share of rows) and zlib level classes in the 8-bit PNGs under `folder`."""
    filters, levels = collections.Counter(), collections.Counter()
    for base, _, names in os.walk(folder):
        for name in names:
            if not name.endswith(".png"):
                continue
            data = open(os.path.join(base, name), "rb").read()
            pos, idat, width, channels = 8, b"", 0, 1
            while pos < len(data):
                length = int.from_bytes(data[pos:pos + 4], "big")
                kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
                if kind == b"IHDR":
                    width, channels = int.from_bytes(body[:4], "big"), {0: 1, 2: 3, 4: 2, 6: 4}.get(body[9], 1)
                elif kind == b"IDAT":
                    idat += body
                pos += 12 + length
            levels[LEVEL_CLASSES[idat[1] >> 6]] += 1
            rows = zlib.decompress(idat)
            stride = 1 + width * channels
            filters.update(FILTERS.get(rows[i], "?") for i in range(0, len(rows), stride))
    rows = sum(filters.values()) or 1
    return (", ".join(f"{name} {100 * n / rows:.0f}%" for name, n in filters.most_common())
            + "; zlib " + ", ".join(f"{name} ({n} files)" for name, n in levels.items()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", default="/tmp/fm-photos")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--png", choices=sorted(PNG_SETTINGS), default="pillow",
                        help="the peer's PNG settings: Pillow's defaults, or featuremaps' own (equal settings)")
    args = parser.parse_args()
    count = sum(1 for n in os.listdir(args.photos) if n.lower().endswith((".png", ".jpg", ".jpeg")))
    ours_one, ours_one_work, peer_one, peer_one_process, ours_batch, peer_batch = [], [], [], [], [], []
    ours_cpu, peer_cpu = [], []
    for _ in range(args.runs):
        seconds, output = timed([BINARY, CHELSEA, "--out", "/tmp/bench-ours"], "/tmp/bench-ours")
        ours_one.append(seconds)
        ours_one_work.append(work_seconds(output))
        seconds, stdout = timed([sys.executable, PEER, CHELSEA, "--out", "/tmp/bench-peer", "--png", args.png], "/tmp/bench-peer")
        peer_one_process.append(seconds)
        peer_one.append(work_seconds(stdout))
        seconds, _ = timed([BINARY, args.photos, "--out", "/tmp/bench-ours", "--quiet"], "/tmp/bench-ours")
        ours_batch.append(count / seconds)
        ours_cpu.append(CPU[-1][1])
        seconds, stdout = timed([sys.executable, PEER, args.photos, "--out", "/tmp/bench-peer", "--png", args.png], "/tmp/bench-peer")
        peer_batch.append(count / seconds)
        peer_cpu.append(CPU[-1][1])
    med = statistics.median
    print(f"PNG settings: featuremaps {FEATUREMAPS_PNG} (PNGCompression.fastest, libpng); peer {PNG_SETTINGS[args.png]}")
    print(f"  found in the written files: featuremaps {png_settings_found('/tmp/bench-ours')}")
    print(f"                              peer {png_settings_found('/tmp/bench-peer')}")
    print(f"machine: {os.cpu_count()} cores, load average before/after: {os.getloadavg()[0]:.2f} (1 min)")
    print(f"one image (chelsea.png 451x300, default stack), load to written PNGs, median of {args.runs}:")
    print(f"  featuremaps (whole process)      {1000 * med(ours_one):8.1f} ms   best {1000 * min(ours_one):.1f} ms")
    print(f"  featuremaps (work only)          {1000 * med(ours_one_work):8.1f} ms   best {1000 * min(ours_one_work):.1f} ms")
    print(f"  peer script (work only)          {1000 * med(peer_one):8.1f} ms   best {1000 * min(peer_one):.1f} ms")
    print(f"  peer script (whole process)      {1000 * med(peer_one_process):8.1f} ms")
    print(f"  ratio (work only)                {med(peer_one) / med(ours_one_work):8.1f} x")
    print(f"  ratio (peer work / our process)  {med(peer_one) / med(ours_one):8.1f} x")
    print(f"batch of {count} photos ({args.photos}), median of {args.runs}:")
    print(f"  featuremaps                      {med(ours_batch):8.1f} images/s   best {max(ours_batch):.1f}")
    print(f"  peer script                      {med(peer_batch):8.1f} images/s   best {max(peer_batch):.1f}")
    print(f"  ratio                            {med(ours_batch) / med(peer_batch):8.1f} x")
    print(f"  CPU time per image (user+system): featuremaps {1000 * med(ours_cpu) / count:.1f} ms, "
          f"peer {1000 * med(peer_cpu) / count:.1f} ms, ratio {med(peer_cpu) / med(ours_cpu):.1f} x")


if __name__ == "__main__":
    main()
