"""Makes the small CIFAR-10 archives the Training tests read (run from this folder).

cifar-tiny.tar.gz: the official layout (cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin,
batches.meta.txt, readme.html) with 2 records per batch file. Record r of file f (f = 0..5 in the
order data_batch_1..5, test_batch) has label (3*f + r) % 10 and pixel i = (31*f + 7*r + i) % 256.
cifar-missing.tar.gz: the same without test_batch.bin.
cifar-bomb.tar.gz: 4 KB of gzip that inflates to 4 MB of zeros, far more than a 2-record archive holds.
tiny.safetensors: two F32 tensors and metadata, written with struct + json as the format page describes.
"""
import gzip, io, json, struct, tarfile

NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FILES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def batch(f, records=2):
    out = bytearray()
    for r in range(records):
        out.append((3 * f + r) % 10)
        out.extend((31 * f + 7 * r + i) % 256 for i in range(3072))
    return bytes(out)


def archive(path, skip=()):
    with tarfile.open(path, "w:gz", format=tarfile.USTAR_FORMAT) as tar:
        members = [(n, batch(f)) for f, n in enumerate(FILES)]
        members.append(("batches.meta.txt", ("\n".join(NAMES) + "\n\n").encode()))
        members.append(("readme.html", b"<html></html>"))
        for name, data in members:
            if name in skip:
                continue
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def safetensors(path):
    tensors = {"conv.weight": ([2, 1, 1, 2], [1.0, -2.5, 0.125, 3.0]), "conv.bias": ([2], [0.5, -0.75])}
    header, data = {}, b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"architecture": "test", "note": "made by make_fixtures.py"}
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def bomb(path):
    with open(path, "wb") as f:
        f.write(gzip.compress(bytes(4 << 20), compresslevel=9, mtime=0))


archive("cifar-tiny.tar.gz")
archive("cifar-missing.tar.gz", skip={"test_batch.bin"})
safetensors("tiny.safetensors")
bomb("cifar-bomb.tar.gz")
