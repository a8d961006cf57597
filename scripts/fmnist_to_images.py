#!/usr/bin/env python3
"""Writes Fashion-MNIST images (Debian package dataset-fashion-mnist) as PNG files in an ImageFolder
layout (OUT/<class>/<split>_<index>.png), so clipzs can read them like any photo folder.

  fmnist_to_images.py --out DIR [--split test|train] [--per-class N]
Class folder names are the names in configs/datasets/classnames.json ("fashion-mnist"), so labels match class names.
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
    args = ap.parse_args()
    prefix = "t10k" if args.split == "test" else "train"
    images_path = os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz")
    if not os.path.exists(images_path):
        sys.exit(f"{images_path} not found: install the Debian package dataset-fashion-mnist")
    images = read_idx(images_path)
    labels = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz"))
    classes = json.load(open(os.path.join(HERE, "..", "configs", "datasets", "classnames.json")))["fashion-mnist"]
    counts = [0] * len(classes)
    written = 0
    for i, (img, label) in enumerate(zip(images, labels)):
        if args.per_class and counts[label] >= args.per_class:
            continue
        folder = os.path.join(args.out, classes[label])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(img, mode="L").save(os.path.join(folder, f"{args.split}_{i:05d}.png"))
        counts[label] += 1
        written += 1
    print(json.dumps({"out": args.out, "split": args.split, "images": written}))


if __name__ == "__main__":
    main()
