#!/usr/bin/env python3
"""Writes the CIFAR-10 seed inputs of Fuzz/Corpus/cifar: a .tar.gz laid out like the official
cifar-10-binary.tar.gz but with one record per batch file (the fuzz target reads archives with
recordsPerFile 1, so a small input can be whole), two batch files, and a batches.meta.txt."""
import gzip, io, os, sys, tarfile

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "Corpus", "cifar")
os.makedirs(out, exist_ok=True)
names = "airplane automobile bird cat deer dog frog horse ship truck".split()
meta = ("\n".join(names) + "\n\n").encode()

def record(label):
    # Label byte, then 3 planes of 32x32; a simple gradient so the pixels are not all one byte.
    return bytes([label]) + bytes((label * 7 + i) % 256 for i in range(3072))

def archive(path, members):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f:
        f.write(gzip.compress(raw.getvalue(), compresslevel=9, mtime=0))

files = [(f"data_batch_{i}.bin", record(i)) for i in range(1, 6)] + [("test_batch.bin", record(9)), ("batches.meta.txt", meta)]
archive(os.path.join(out, "archive.tar.gz"), files)
archive(os.path.join(out, "archive-missing-test.tar.gz"), [m for m in files if m[0] != "test_batch.bin"])
with open(os.path.join(out, "batch-1.bin"), "wb") as f:
    f.write(record(3))
with open(os.path.join(out, "batch-2.bin"), "wb") as f:
    f.write(record(0) + record(9))
with open(os.path.join(out, "batches.meta.txt"), "wb") as f:
    f.write(meta)
