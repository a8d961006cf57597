#!/usr/bin/env python3
"""Synthetic CLIP-like features with a modality gap, for InMaP benchmarks at any scale.

  make_synthetic_features.py --out DIR [--n 50000] [--d 768] [--classes 1000] [--seed 0]
                             [--gap 0.8] [--spread 3.5] [--text-noise 1.8] [--imbalance 0]

Model: each class c has a unit direction mu_c. An image of class c is normalise(mu_c + spread * e / sqrt(d))
(e standard normal); its text proxy is normalise(mu_c + text_noise * f / sqrt(d) + gap * g), with one
shared offset g (unit) for all text proxies: CLIP's modality gap, the reason image and text
embeddings of the same class are far apart. Defaults give a text-proxy (zero-shot) accuracy in the
60-70% range at ImageNet size, like CLIP ViT-B models on ImageNet; --imbalance > 0 draws class sizes
from a power law. Writes features.npy (n x d float32, unit rows), text_proxies.npy (d x C, unit columns),
labels.npy (int64) and meta.json; prints the text-proxy accuracy.
"""
import argparse
import json
import os

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", type=float, default=0.8)
    ap.add_argument("--spread", type=float, default=3.5)
    ap.add_argument("--text-noise", type=float, default=1.8)
    ap.add_argument("--imbalance", type=float, default=0.0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    mu = rng.standard_normal((a.classes, a.d)).astype(np.float32)
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    if a.imbalance > 0:
        weights = np.arange(1, a.classes + 1, dtype=np.float64) ** (-a.imbalance)
        labels = rng.choice(a.classes, size=a.n, p=weights / weights.sum())
    else:
        labels = np.arange(a.n) % a.classes
    labels = labels.astype(np.int64)
    x = np.empty((a.n, a.d), np.float32)
    for start in range(0, a.n, 10000):  # chunks keep peak memory low at ImageNet size
        idx = labels[start:start + 10000]
        block = mu[idx] + a.spread * rng.standard_normal((len(idx), a.d)).astype(np.float32) / np.sqrt(a.d)
        x[start:start + len(idx)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    g = rng.standard_normal(a.d).astype(np.float32)
    g /= np.linalg.norm(g)
    t = mu + a.text_noise * rng.standard_normal((a.classes, a.d)).astype(np.float32) / np.sqrt(a.d) + a.gap * g
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "features.npy"), x)
    np.save(os.path.join(a.out, "text_proxies.npy"), np.ascontiguousarray(t.T))
    np.save(os.path.join(a.out, "labels.npy"), labels)
    acc = float(((x @ t.T).argmax(1) == labels).mean())
    meta = dict(vars(a), text_proxy_accuracy=acc)
    json.dump(meta, open(os.path.join(a.out, "meta.json"), "w"), indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
