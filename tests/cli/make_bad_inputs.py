#!/usr/bin/env python3
"""Writes the bad-input corpus of the reliability tests (Debian python3 + PIL + numpy).

    make_bad_inputs.py OUT_DIR

OUT_DIR/corpus/<class>/...   every file a user's uncurated folder may hold, under two class folders
OUT_DIR/expect.json          per file (path relative to corpus/): "status" ("ok" | "error"), "reason"
                             (a regular expression the row's error must match), and "pil": true when
                             clipzs's preprocessed crop must equal PIL's (OUT_DIR/pil/<n>.npy)

Nothing here is random without a seed, so the corpus is the same on every run.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

out = sys.argv[1]
corpus = os.path.join(out, "corpus")
SIZE = int(sys.argv[2]) if len(sys.argv) > 2 else 64  # the test bundle's input size
rng = np.random.default_rng(7)
expect = {}


def smooth(w, h, channels=3):
    base = rng.integers(0, 256, size=(h // 6 + 2, w // 6 + 2, channels)).astype(np.uint8)
    img = Image.fromarray(base if channels > 1 else base[:, :, 0])
    return img.resize((w, h), Image.BICUBIC)


def put(rel, data=None, status="ok", reason="", pil=False, image=None, **save_args):
    path = os.path.join(corpus, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if image is not None:
        image.save(path, **save_args)
    elif data is not None:
        with open(path, "wb") as f:
            f.write(data)
    expect[rel] = {"status": status, "reason": reason, "pil": pil}
    return path


def encoded(image, fmt, **args):
    buf = io.BytesIO()
    image.save(buf, fmt, **args)
    return buf.getvalue()


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


# --- readable images in unusual modes: must embed, and match PIL pixel for pixel -------------------
put("a/normal.jpg", image=smooth(120, 90), quality=90, pil=True)
put("a/one_pixel.png", image=Image.new("RGB", (1, 1), (200, 30, 60)), pil=True)
put("a/one_pixel.jpg", image=Image.new("L", (1, 1), 90), pil=True)
# PIL cannot write 16-bit RGB: the PNG is put together by hand.
rgb16 = (rng.integers(0, 65536, size=(40, 50, 3))).astype(">u2")
raw = b"".join(b"\x00" + row.tobytes() for row in rgb16)
put("a/rgb16.png", data=b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50, 40, 16, 2, 0, 0, 0))
    + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""), pil=True)
gray16 = Image.fromarray((rng.integers(0, 65536, size=(30, 30))).astype(np.uint16))
# PIL opens 16-bit grey as mode I and clips on conversion; clipzs keeps the high byte (image.hpp).
put("a/gray16.png", image=gray16)
cmyk = smooth(64, 48).convert("CMYK")
put("a/cmyk.jpg", image=cmyk, quality=92, pil=True)
put("a/lossy.webp", image=smooth(80, 60), quality=80, pil=True)
put("a/alpha.webp", image=smooth(70, 50, 4), lossless=True, pil=True)
frames = [smooth(60, 40).quantize(32) for _ in range(3)]
put("a/animated.gif", image=frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0, pil=True)
put("a/transparent.gif", image=smooth(33, 21).quantize(16), transparency=3, pil=True)
put("a/interlaced.gif", image=smooth(37, 29).quantize(64), interlace=True, pil=True)
grey_gif = Image.fromarray(np.tile(np.arange(0, 256, dtype=np.uint8), (20, 1)))
put("a/grey.gif", image=grey_gif, pil=True)
webp_frames = [smooth(48, 36) for _ in range(3)]
put("a/animated.webp", image=webp_frames[0], save_all=True, append_images=webp_frames[1:], duration=80, lossless=False,
    quality=70, pil=True)
put("a/palette.bmp", image=smooth(30, 20).quantize(16), pil=True)
# a GIF whose first frame sits inside a larger logical screen (giflib-level layout, written by hand)
small = smooth(10, 8).quantize(8)
pal = small.getpalette()[: 8 * 3]
idx = np.asarray(small, dtype=np.uint8)
lzw = encoded(small, "GIF")
put("a/offset_frame.gif", data=lzw, pil=True)  # PIL writes the frame at (0, 0); the offset variant follows
blob = bytearray(lzw)
# logical screen 24 x 20 (bytes 6..9), frame at (5, 4): the image descriptor follows the palette
gct = 3 << ((blob[10] & 7) + 1) if blob[10] & 0x80 else 0
pos = 13 + gct
while blob[pos] == 0x21:  # skip extensions
    pos += 2
    while blob[pos]:
        pos += blob[pos] + 1
    pos += 1
assert blob[pos] == 0x2C
blob[6:10] = struct.pack("<HH", 24, 20)
blob[pos + 1:pos + 5] = struct.pack("<HH", 5, 4)
put("a/offset_frame.gif", data=bytes(blob), pil=True)

# --- names that break naive tools: must embed, path kept exactly -----------------------------------
put("b/with space.png", image=smooth(40, 40), pil=True)
put("b/ünïcødé 猫.png", image=smooth(41, 39), pil=True)
put("b/new\nline.png", image=smooth(39, 41), pil=True)
put("b/UPPER.JPEG", image=smooth(50, 30), quality=85, pil=True)

# --- unreadable: a row with status error and a reason ----------------------------------------------
put("b/zero_bytes.jpg", data=b"", status="error", reason="empty")
jpg = encoded(smooth(200, 150), "JPEG", quality=90)
put("b/truncated.jpg", data=jpg[: len(jpg) // 2], status="error", reason="truncat|JPEG")
png = encoded(smooth(200, 150), "PNG")
put("b/truncated.png", data=png[: len(png) // 2], status="error", reason="truncat|PNG|IDAT")
webp = encoded(smooth(200, 150), "WEBP", quality=80)
put("b/truncated.webp", data=webp[: len(webp) // 2], status="error", reason="WEBP")
gif = encoded(smooth(100, 80).quantize(64), "GIF")
put("b/truncated.gif", data=gif[: len(gif) // 2], status="error", reason="GIF|truncat")
put("b/random_bytes.png", data=rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes(), status="error", reason="PNG|identify")
put("b/random_bytes.jpg", data=b"\xff\xd8\xff" + rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes(),
    status="error", reason="JPEG")
put("b/text_file.jpg", data=b"this is a text file, not a picture\n" * 20, status="error", reason="cannot identify")
# Headers that claim 50,000 x 50,000 pixels (2.5e9): refused before any pixel memory is allocated.
put("b/huge_header.png", data=b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0))
    + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""), status="error", reason="exceeds the limit")
sof = bytearray(jpg)
at = sof.find(b"\xff\xc0")
sof[at + 5:at + 9] = struct.pack(">HH", 50000, 50000)
put("b/huge_header.jpg", data=bytes(sof), status="error", reason="exceeds the limit")
g = bytearray(gif)
g[6:10] = struct.pack("<HH", 50000, 50000)
put("b/huge_header.gif", data=bytes(g), status="error", reason="exceeds the limit")
bmp = bytearray(encoded(smooth(20, 20), "BMP"))
bmp[18:26] = struct.pack("<ii", 50000, 50000)
put("b/huge_header.bmp", data=bytes(bmp), status="error", reason="exceeds the limit")
vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0, 0, 0, 0]) + (16383).to_bytes(3, "little") + (16383).to_bytes(3, "little")
put("b/huge_header.webp", data=b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x, status="error",
    reason="exceeds the limit")
tif = bytearray(encoded(smooth(20, 20), "TIFF"))  # IFD0's ImageWidth/ImageLength patched to 50,000
le = tif[:2] == b"II"
fmt = "<" if le else ">"
ifd = struct.unpack(fmt + "I", tif[4:8])[0]
count = struct.unpack(fmt + "H", tif[ifd:ifd + 2])[0]
for i in range(count):
    e = ifd + 2 + 12 * i
    tag, typ = struct.unpack(fmt + "HH", tif[e:e + 4])
    if tag in (256, 257):
        tif[e + 2:e + 4] = struct.pack(fmt + "H", 4)
        tif[e + 8:e + 12] = struct.pack(fmt + "I", 50000)
put("b/huge_header.tif", data=bytes(tif), status="error", reason="exceeds the limit")
# Not files: a broken symlink, a folder and a FIFO, each named like an image.
os.symlink("does_not_exist.jpg", os.path.join(corpus, "b", "broken_link.jpg"))
expect["b/broken_link.jpg"] = {"status": "error", "reason": "broken symbolic link", "pil": False}
os.makedirs(os.path.join(corpus, "b", "folder.jpg"))
expect["b/folder.jpg"] = {"status": "error", "reason": "a folder", "pil": False}
os.mkfifo(os.path.join(corpus, "b", "fifo.png"))
expect["b/fifo.png"] = {"status": "error", "reason": "not a regular file", "pil": False}
# A symlink loop back to the root: listed once, never followed forever.
os.symlink("..", os.path.join(corpus, "b", "loop"))

# PIL's crop for every file that must match (torchvision Resize(SIZE, BICUBIC) + CenterCrop + RGB,
# written out here so the test needs no torchvision).
os.makedirs(os.path.join(out, "pil"), exist_ok=True)
for n, (rel, e) in enumerate(sorted(expect.items())):
    if not e["pil"]:
        continue
    img = Image.open(os.path.join(corpus, rel))
    w, h = img.size
    if w <= h:
        nw, nh = SIZE, int(SIZE * h / w)
    else:
        nw, nh = int(SIZE * w / h), SIZE
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = int(round((nw - SIZE) / 2.0)), int(round((nh - SIZE) / 2.0))
    img = img.crop((left, top, left + SIZE, top + SIZE)).convert("RGB")
    e["pil_file"] = f"pil/{n}.npy"
    np.save(os.path.join(out, e["pil_file"]), np.asarray(img))
with open(os.path.join(out, "expect.json"), "w") as f:
    json.dump(expect, f, indent=1, ensure_ascii=False)
print(len(expect), "corpus entries", file=sys.stderr)
