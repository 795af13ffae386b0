#!/usr/bin/env python3
"""Regenerates the seed corpora in tests/fuzz/corpus/ from the repository's real files.

Run from the repository root after `make` (the safetensors seeds are weights
and a checkpoint written by bin/cnn-train):  python3 tests/fuzz/make_seeds.py

  fuzz_model        every model in models/, tests/models/ (good and bad),
                    tests/train/
  fuzz_idx          the first records of data/*.gz (plain and gzip) and small
                    sets of every element type and ranks 1 to 4; the first byte
                    is the harness's route byte (odd: gzip the rest first)
  fuzz_png          every colour type and bit depth, with and without tRNS,
                    Adam7 interlace, and a few damaged files
  fuzz_safetensors  a cnn-train weights file and checkpoint of tests/train/tiny.json,
                    and tensors of every dtype, a scalar and an empty tensor
Seeds stay small (the whole corpus well under 1 MB)."""
import glob, gzip, json, os, shutil, struct, subprocess, sys, tempfile, zlib

ROOT = os.getcwd()
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- models
def models():
    files = (glob.glob("models/*.json") + glob.glob("tests/models/*.json") +
             glob.glob("tests/models/bad/*.json") + glob.glob("tests/train/*.json"))
    for p in files:
        name = p.replace("/", "_")
        with open(p, "rb") as f:
            put("fuzz_model", name, f.read())


# ---------------------------------------------------------------- IDX
def idx_bytes(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_head(path, records):
    """The header and first `records` records of an IDX .gz file, as a new IDX."""
    raw = gzip.open(path).read()
    code, rank = raw[2], raw[3]
    dims = list(struct.unpack(">%dI" % rank, raw[4:4 + 4 * rank]))
    per = 1
    for d in dims[1:]:
        per *= d
    size = {8: 1, 9: 1, 11: 2, 12: 4, 13: 4, 14: 8}[code]
    start = 4 + 4 * rank
    dims[0] = records
    return idx_bytes(code, dims, raw[start:start + records * per * size])


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx():
    images = idx_head("data/mnist-train-images-idx3-ubyte.gz", 3)
    labels = idx_head("data/mnist-train-labels-idx1-ubyte.gz", 20)
    for name, data in [("mnist-images-3", images), ("mnist-labels-20", labels)]:
        put("fuzz_idx", name + ".plain", b"\0" + data)
        put("fuzz_idx", name + ".gz-by-harness", b"\1" + data)
        put("fuzz_idx", name + ".gz", b"\0" + gz(data))
    small = [
        ("u8-rank1", idx_bytes(0x08, [5], bytes([0, 1, 2, 9, 255]))),
        ("i8-rank2", idx_bytes(0x09, [2, 3], bytes([0x80, 0xff, 0, 1, 2, 0x7f]))),
        ("i16-rank2", idx_bytes(0x0B, [2, 2], struct.pack(">4h", -1, 2, 300, -32768))),
        ("i32-rank1", idx_bytes(0x0C, [3], struct.pack(">3i", 0, 9, -5))),
        ("f32-rank3", idx_bytes(0x0D, [2, 2, 2], struct.pack(">8f", 0, 1, 2.5, -1, 3, 4, 5, 6))),
        ("f64-rank1", idx_bytes(0x0E, [3], struct.pack(">3d", 1, 2.0, 7))),
        ("u8-rank4", idx_bytes(0x08, [2, 2, 2, 3], bytes(range(24)))),
        ("f32-nan-label", idx_bytes(0x0D, [2], struct.pack(">2f", float("nan"), 1.5))),
    ]
    for name, data in small:
        put("fuzz_idx", name + ".plain", b"\0" + data)
        put("fuzz_idx", name + ".gz", b"\0" + gz(data))
    # Two gzip members back to back, and a truncated stream.
    put("fuzz_idx", "two-members.gz", b"\0" + gz(images[:100]) + gz(images[100:]))
    put("fuzz_idx", "truncated.gz", b"\0" + gz(images)[:-12])


# ---------------------------------------------------------------- PNG
def chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def pack_row(samples, depth):
    """Samples (ints) of one row into bytes at `depth` bits per sample."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = acc << depth | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def png(w, h, color, depth, interlace=0, extra=b"", palette=None):
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    maxv = (1 << depth) - 1

    def sample(x, y, c):
        return (x * 7 + y * 13 + c * 5) % (maxv + 1)

    def rows(xs, ys):
        raw = b""
        for y in ys:
            s = [sample(x, y, c) for x in xs for c in range(chans)]
            raw += b"\0" + pack_row(s, depth)
        return raw

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            xs, ys = list(range(x0, w, dx)), list(range(y0, h, dy))
            if xs and ys:
                raw += rows(xs, ys)
    else:
        raw = rows(list(range(w)), list(range(h)))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0,
                                                               interlace))
    if color == 3:
        pal = palette or bytes(v for i in range(maxv + 1) for v in (i * 40 % 256, i * 90 % 256,
                                                                   255 - i * 20 % 256))
        out += chunk(b"PLTE", pal)
    out += extra + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    return out


def pngs():
    cases = []
    for depth in (1, 2, 4, 8, 16):
        cases.append(("gray%d" % depth, png(5, 4, 0, depth)))
    cases.append(("gray8-trns", png(4, 3, 0, 8, extra=chunk(b"tRNS", b"\0\x07"))))
    cases.append(("gray16-adam7", png(9, 9, 0, 16, interlace=1)))
    for depth in (8, 16):
        cases.append(("rgb%d" % depth, png(4, 3, 2, depth)))
        cases.append(("graya%d" % depth, png(3, 3, 4, depth)))
        cases.append(("rgba%d" % depth, png(3, 2, 6, depth)))
    cases.append(("rgb8-trns", png(3, 3, 2, 8, extra=chunk(b"tRNS", b"\0\x07\0\x0e\0\x15"))))
    cases.append(("rgb8-adam7", png(10, 7, 2, 8, interlace=1)))
    for depth in (1, 2, 4, 8):
        cases.append(("palette%d" % depth, png(6, 3, 3, depth)))
    cases.append(("palette8-trns", png(4, 4, 3, 8, extra=chunk(b"tRNS", b"\x80\0\xff"))))
    cases.append(("palette4-adam7", png(11, 5, 3, 4, interlace=1)))
    cases.append(("gamma-srgb", png(2, 2, 2, 8, extra=chunk(b"gAMA", struct.pack(">I", 45455)) +
                                    chunk(b"sRGB", b"\0"))))
    cases.append(("mnist-28x28", png(28, 28, 0, 8)))
    good = png(4, 4, 2, 8)
    cases.append(("bad-crc", good[:30] + b"\0" + good[31:]))
    cases.append(("truncated", good[:-20]))
    cases.append(("huge-claim", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")))
    for name, data in cases:
        put("fuzz_png", name + ".png", data)


# ---------------------------------------------------------------- safetensors
def st(tensors, meta=None):
    """tensors: [(name, dtype, shape, bytes)] -> safetensors bytes."""
    hdr, buf = {}, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dtype, shape, data in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + buf


def safetensors():
    put("fuzz_safetensors", "dtypes.safetensors", st([
        ("a", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
        ("b", "F64", [3], struct.pack("<3d", 1e300, -0.0, 2)),
        ("c", "F16", [2], struct.pack("<2H", 0x3c00, 0x7c00)),
        ("d", "BF16", [1, 2], struct.pack("<2H", 0x3f80, 0xffc0)),
        ("scalar", "F32", [], struct.pack("<f", 7)),
        ("empty", "F32", [0, 4], b""),
    ], {"format": "pt"}))
    put("fuzz_safetensors", "no-metadata.safetensors", st([("x", "F32", [1], b"\0\0\x80\x3f")]))
    put("fuzz_safetensors", "empty.safetensors", st([]))
    # The real thing: a weights file and a checkpoint written by cnn-train.
    tmp = tempfile.mkdtemp()
    try:
        imgs = idx_head("data/mnist-train-images-idx3-ubyte.gz", 20)
        labs = idx_head("data/mnist-train-labels-idx1-ubyte.gz", 20)
        for n, d in (("i", imgs), ("l", labs)):
            with open(os.path.join(tmp, n), "wb") as f:
                f.write(d)
        w = os.path.join(tmp, "w.safetensors")
        subprocess.run([os.path.join("bin", "cnn-train"), "tests/train/tiny.json", "--train-images",
                        os.path.join(tmp, "i"), "--train-labels", os.path.join(tmp, "l"),
                        "--epochs", "1", "--batch-size", "10", "--threads", "1", "-q", "-o", w],
                       check=True)
        for src, name in ((w, "tiny-weights.safetensors"), (w + ".ckpt", "tiny-checkpoint.safetensors")):
            with open(src, "rb") as f:
                put("fuzz_safetensors", name, f.read())
        # The model's metadata alone, with a tiny all-dense model matching its tensors.
        model = {"name": "m", "input_shape": [2, 2, 1], "layers": [
            {"type": "Flatten"}, {"type": "Dense", "name": "dense", "units": 2}]}
        put("fuzz_safetensors", "dense-model.safetensors", st([
            ("dense.bias", "F32", [2], struct.pack("<2f", 0.5, -0.5)),
            ("dense.kernel", "F32", [2, 4], struct.pack("<8f", *range(8))),
        ], {"format": "pt", "cnn.model": json.dumps(model)}))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    models()
    idx()
    pngs()
    safetensors()
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "*", "*")))
    print("tests/fuzz/corpus: %d files, %d bytes" % (len(glob.glob(os.path.join(OUT, "*", "*"))), total))
