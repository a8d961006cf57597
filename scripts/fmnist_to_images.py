#!/usr/bin/env python3
"""Writes Fashion-MNIST images (Debian package dataset-fashion-mnist) as PNG files in an ImageFolder
layout (OUT/<class>/<split>_<index>.png), so clipzs can read them like any photo folder.

  fmnist_to_images.py --out DIR [--split test|train] [--per-class N] [--skip-per-class M] [--captions CSV]
Class folder names are the names in configs/datasets/classnames.json ("fashion-mnist"), so labels match class names.
--skip-per-class leaves out the first M images of each class (for disjoint sets from one split).
--captions also writes an image,caption CSV (a retrieval bank for `clipzs embed pairs`): one caption per
image in the style the demo model was trained on (scripts/train_demo_clip.py's training templates,
synonyms and attributes, never its held-out ones), drawn with a generator seeded by the image index.
"""
import argparse
import gzip
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", choices=["test", "train"], default="test")
    ap.add_argument("--per-class", type=int, default=0, help="first N images of each class (0: all)")
    ap.add_argument("--skip-per-class", type=int, default=0, help="leave out the first M images of each class")
    ap.add_argument("--captions", help="also write an image,caption CSV here")
    args = ap.parse_args()
    caption_for = make_captioner() if args.captions else None
    rows = []
    prefix = "t10k" if args.split == "test" else "train"
    images_path = os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz")
    if not os.path.exists(images_path):
        sys.exit(f"{images_path} not found: install the Debian package dataset-fashion-mnist")
    images = read_idx(images_path)
    labels = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz"))
    classes = json.load(open(os.path.join(HERE, "..", "configs", "datasets", "classnames.json")))["fashion-mnist"]
    counts = [0] * len(classes)
    seen = [0] * len(classes)
    written = 0
    for i, (img, label) in enumerate(zip(images, labels)):
        seen[label] += 1
        if seen[label] <= args.skip_per_class:
            continue
        if args.per_class and counts[label] >= args.per_class:
            continue
        folder = os.path.join(args.out, classes[label])
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{args.split}_{i:05d}.png")
        Image.fromarray(img, mode="L").save(path)
        if caption_for:
            rows.append((os.path.relpath(path, os.path.dirname(os.path.abspath(args.captions))), caption_for(classes[label], i)))
        counts[label] += 1
        written += 1
    if caption_for:
        import csv
        with open(args.captions + ".tmp", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "caption"])
            w.writerows(rows)
        os.replace(args.captions + ".tmp", args.captions)
    print(json.dumps({"out": args.out, "split": args.split, "images": written, "captions": args.captions}))


def make_captioner():
    sys.path.insert(0, HERE)
    import train_demo_clip as t  # the demo model's caption vocabulary

    def caption(classname, index):
        rng = np.random.default_rng(index)
        names = t.TRAIN_SYNONYMS[classname]
        name = names[0] if rng.random() < t.P_CLASS_NAME else names[int(rng.integers(1, len(names)))]
        attribute = "" if rng.random() < t.P_NO_ATTRIBUTE else t.ATTRIBUTES[int(rng.integers(1, len(t.ATTRIBUTES)))]
        template = t.TRAIN_TEMPLATES[int(rng.integers(len(t.TRAIN_TEMPLATES)))]
        return template.format(attribute + name)
    return caption


if __name__ == "__main__":
    main()
