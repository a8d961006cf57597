#!/usr/bin/env python3
"""CLIP's reference preprocessing through PIL on one thread; prints images/s as one JSON line.

PIL open -> torchvision Resize(size, BICUBIC) -> CenterCrop(size) -> convert("RGB"), the transform that
bench/preprocess_bench.cpp reproduces. Needs PIL and torchvision (Debian: python3-pil, python3-torchvision).

    preprocess_pil.py [--size N] [--repeat N] IMAGE...
"""
import argparse
import json
import time

import torch
from PIL import Image
import torchvision
import torchvision.transforms as T


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()

    torch.set_num_threads(1)
    transform = T.Compose([T.Resize(args.size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(args.size)])

    def run(path):
        with Image.open(path) as im:
            return transform(im).convert("RGB")

    for p in args.images:  # warm-up: page cache, imports, and a check that every file decodes
        run(p)
    start = time.perf_counter()
    for _ in range(args.repeat):
        for p in args.images:
            run(p)
    seconds = time.perf_counter() - start
    n = len(args.images) * args.repeat
    print(json.dumps({
        "impl": "pil", "size": args.size, "images": len(args.images), "repeat": args.repeat, "processed": n,
        "seconds": round(seconds, 4), "images_per_s": round(n / seconds, 2),
        "pil": Image.__version__, "torchvision": torchvision.__version__,
    }))


if __name__ == "__main__":
    main()
