#!/usr/bin/env python3
"""Makes a random-weight clipzs bundle through the same export path as export_clip.py.

It builds a random state dict in OpenAI CLIP's layout for one of the architectures below, then calls
clipzs_export.export_bundle(), which infers the architecture back from the weights, scripts, saves,
reloads and checks the two encoders. The weights are a deterministic function of --arch, --seed and the
vocabulary size: with the same torch the .pt files come out byte-identical (bundle.json has a timestamp).

  vit-tiny  ViT: 64 px, patch 16, width 64, 2 layers, 2 heads, QuickGELU; embed 32       (test fixture)
  rn-tiny   ModifiedResNet: 64 px, width 4, stages 1-2-1-1, 2-head attention pool; embed 32;
            its text tower uses exact GELU                                               (test fixture)
  vit-b32   ViT-B/32 sizes: 224 px, patch 32, width 768, 12 layers, 12 heads; text width 512,
            12 layers, 8 heads; embed 512; about 600 MB: for benchmarks, never commit it
  The tiny text towers: width 64, 2 layers, 2 heads, context 77.

The tokenizer is CLIP's over the first num_merges merges of --vocab: 514 + num_merges token ids
(num_merges: --num-merges, else every merge in the file up to CLIP's 48,894).

  make_test_bundle.py --arch vit-tiny --seed 0 --vocab tiny_merges.txt --out tests/fixtures/bundles/tiny-vit
  make_test_bundle.py --arch vit-b32 --seed 0 \\
      --vocab ../shared/reference/tokenizer/bpe_simple_vocab_16e6.txt.gz --out bench-out/bundles/vit-b32
"""

import argparse
import math
import os
import sys
import time
from collections import OrderedDict
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipzs_export  # noqa: E402  (re-runs this script under a python that has torch if needed)

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from clipzs_export import CLIP_NUM_MERGES, ExportError  # noqa: E402
from clipzs_model import infer_config  # noqa: E402

ARCHES: Dict[str, Dict] = {
    "vit-tiny": {
        "embed_dim": 32,
        "vision": {"kind": "vit", "image_size": 64, "patch_size": 16, "width": 64, "layers": 2, "heads": 2,
                   "quick_gelu": True},
        "text": {"width": 64, "layers": 2, "heads": 2, "context_length": 77, "quick_gelu": True},
    },
    "rn-tiny": {
        "embed_dim": 32,
        "vision": {"kind": "resnet", "image_size": 64, "width": 4, "layers": [1, 2, 1, 1], "heads": 2},
        "text": {"width": 64, "layers": 2, "heads": 2, "context_length": 77, "quick_gelu": False},
    },
    # Benchmark-only: tiny towers with ViT-L/14's 768-wide embedding (eval over ImageNet-size stores).
    "vit-tiny-d768": {
        "embed_dim": 768,
        "vision": {"kind": "vit", "image_size": 64, "patch_size": 16, "width": 64, "layers": 2, "heads": 2,
                   "quick_gelu": True},
        "text": {"width": 64, "layers": 2, "heads": 2, "context_length": 77, "quick_gelu": True},
    },
    "vit-b32": {
        "embed_dim": 512,
        "vision": {"kind": "vit", "image_size": 224, "patch_size": 32, "width": 768, "layers": 12,
                   "heads": 12, "quick_gelu": True},
        "text": {"width": 512, "layers": 12, "heads": 8, "context_length": 77, "quick_gelu": True},
    },
}


class _Filler:
    """Adds tensors to an ordered state dict, each drawn from one seeded generator in turn."""

    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)
        self.sd: "OrderedDict[str, Tensor]" = OrderedDict()

    def normal(self, key: str, shape: List[int], std: float, mean: float = 0.0) -> None:
        self.sd[key] = torch.randn(shape, generator=self.g) * std + mean

    def layer_norm(self, prefix: str, width: int) -> None:
        self.normal(prefix + ".weight", [width], 0.05, 1.0)
        self.normal(prefix + ".bias", [width], 0.02)

    def linear(self, prefix: str, out_f: int, in_f: int, std: float) -> None:
        self.normal(prefix + ".weight", [out_f, in_f], std)
        self.normal(prefix + ".bias", [out_f], 0.02)

    def conv(self, key: str, out_c: int, in_c: int, k: int) -> None:
        self.normal(key, [out_c, in_c, k, k], math.sqrt(2.0 / (in_c * k * k)))

    def batch_norm(self, prefix: str, channels: int) -> None:
        self.normal(prefix + ".weight", [channels], 0.1, 1.0)
        self.normal(prefix + ".bias", [channels], 0.05)
        self.normal(prefix + ".running_mean", [channels], 0.05)
        self.sd[prefix + ".running_var"] = 1.0 + 0.2 * torch.rand([channels], generator=self.g)
        self.sd[prefix + ".num_batches_tracked"] = torch.tensor(0, dtype=torch.long)

    def transformer(self, prefix: str, width: int, layers: int) -> None:
        attn_std = width ** -0.5
        proj_std = width ** -0.5 * (2 * layers) ** -0.5
        fc_std = (2 * width) ** -0.5
        for i in range(layers):
            p = "%s.resblocks.%d." % (prefix, i)
            self.normal(p + "attn.in_proj_weight", [3 * width, width], attn_std)
            self.normal(p + "attn.in_proj_bias", [3 * width], 0.02)
            self.linear(p + "attn.out_proj", width, width, proj_std)
            self.layer_norm(p + "ln_1", width)
            self.linear(p + "mlp.c_fc", 4 * width, width, fc_std)
            self.linear(p + "mlp.c_proj", width, 4 * width, proj_std)
            self.layer_norm(p + "ln_2", width)


def random_state_dict(arch: str, vocab_size: int, seed: int) -> "OrderedDict[str, Tensor]":
    """A random CLIP state dict with OpenAI's names and shapes, written out here independently of
    clipzs_model (so that exporting it also tests the architecture inference)."""
    spec = ARCHES[arch]
    d = spec["embed_dim"]
    v, t = spec["vision"], spec["text"]
    f = _Filler(seed)
    if v["kind"] == "vit":
        w, p, s = v["width"], v["patch_size"], v["image_size"]
        f.normal("visual.class_embedding", [w], w ** -0.5)
        f.normal("visual.positional_embedding", [(s // p) ** 2 + 1, w], w ** -0.5)
        f.normal("visual.proj", [w, d], w ** -0.5)
        f.normal("visual.conv1.weight", [w, 3, p, p], (3 * p * p) ** -0.5)
        f.layer_norm("visual.ln_pre", w)
        f.transformer("visual.transformer", w, v["layers"])
        f.layer_norm("visual.ln_post", w)
    else:
        w = v["width"]
        f.conv("visual.conv1.weight", w // 2, 3, 3)
        f.batch_norm("visual.bn1", w // 2)
        f.conv("visual.conv2.weight", w // 2, w // 2, 3)
        f.batch_norm("visual.bn2", w // 2)
        f.conv("visual.conv3.weight", w, w // 2, 3)
        f.batch_norm("visual.bn3", w)
        inplanes = w
        for stage, blocks in enumerate(v["layers"]):
            planes = w * 2 ** stage
            for b in range(blocks):
                p = "visual.layer%d.%d." % (stage + 1, b)
                stride = 2 if (stage > 0 and b == 0) else 1
                f.conv(p + "conv1.weight", planes, inplanes, 1)
                f.batch_norm(p + "bn1", planes)
                f.conv(p + "conv2.weight", planes, planes, 3)
                f.batch_norm(p + "bn2", planes)
                f.conv(p + "conv3.weight", planes * 4, planes, 1)
                f.batch_norm(p + "bn3", planes * 4)
                if stride > 1 or inplanes != planes * 4:
                    f.conv(p + "downsample.0.weight", planes * 4, inplanes, 1)
                    f.batch_norm(p + "downsample.1", planes * 4)
                inplanes = planes * 4
        e = w * 32
        f.normal("visual.attnpool.positional_embedding", [(v["image_size"] // 32) ** 2 + 1, e], e ** -0.5)
        for name in ("k_proj", "q_proj", "v_proj"):
            f.linear("visual.attnpool." + name, e, e, e ** -0.5)
        f.linear("visual.attnpool.c_proj", d, e, e ** -0.5)
    tw = t["width"]
    f.normal("token_embedding.weight", [vocab_size, tw], 0.02)
    f.normal("positional_embedding", [t["context_length"], tw], 0.01)
    f.transformer("transformer", tw, t["layers"])
    f.layer_norm("ln_final", tw)
    f.normal("text_projection", [tw, d], tw ** -0.5)
    f.sd["logit_scale"] = torch.tensor(math.log(100.0))
    return f.sd


def make_bundle(arch: str, seed: int, vocab_path: str, out_dir: str, num_merges: int = -1,
                overwrite: bool = False, log=print, attention: str = "manual") -> Dict:
    if arch not in ARCHES:
        raise ExportError("unknown --arch %r (one of %s)" % (arch, ", ".join(ARCHES)))
    available = clipzs_export.count_merges(vocab_path)
    if num_merges < 0:
        num_merges = min(available, CLIP_NUM_MERGES)
    vocab_size = 514 + num_merges
    spec = ARCHES[arch]
    sd = random_state_dict(arch, vocab_size, seed)
    cfg = infer_config(sd, vision_heads=spec["vision"]["heads"], text_heads=spec["text"]["heads"],
                       vision_quick_gelu=spec["vision"].get("quick_gelu", True),
                       text_quick_gelu=spec["text"]["quick_gelu"])
    return clipzs_export.export_bundle(
        sd, out_dir, cfg=cfg, vocab=clipzs_export.clip_bpe_vocab(vocab_path, vocab_size),
        preprocess=clipzs_export.default_preprocess(cfg.vision.image_size), name="random-" + arch,
        source="random:arch=%s,seed=%d" % (arch, seed), tool="scripts/make_test_bundle.py",
        attention=attention, overwrite=overwrite, log=log)


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=sorted(ARCHES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="bundle directory to write")
    ap.add_argument("--vocab", required=True, help="CLIP merges file (.txt or .txt.gz), copied into the bundle")
    ap.add_argument("--num-merges", type=int, default=-1,
                    help="merges of --vocab the tokenizer uses (default: all, at most 48894)")
    ap.add_argument("--overwrite", action="store_true", help="replace a bundle already in --out")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--attention", default="manual", choices=["manual", "sdpa"],
                    help="attention as matmul + softmax (loads in LibTorch 1.13 and later) or torch 2.x's "
                         "scaled_dot_product_attention (needs the exporting torch's LibTorch version)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.time()
    try:
        bundle = make_bundle(args.arch, args.seed, args.vocab, args.out, args.num_merges, args.overwrite,
                             attention=args.attention)
    except (ExportError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print("bundle %s: %s, embed %d, vocab %d; %d bytes in all; %.1f s"
          % (args.out, bundle["model"]["name"], bundle["model"]["embed_dim"], bundle["text"]["vocab_size"],
             total, time.time() - start))
    return 0


if __name__ == "__main__":
    clipzs_export.fix_hash_seed()
    sys.exit(main(sys.argv[1:]))
