#!/usr/bin/env python3
"""Exports a CLIP model to a clipzs bundle (docs/bundle-format.md).

Formats:
  openai     OpenAI CLIP weights: the official .pt files (TorchScript archives; only their state dict
             is read) or a plain state dict in OpenAI's layout (.pt/.pth, optionally {"state_dict": ...}).
             A model name such as "ViT-B/32" needs OpenAI's `clip` package (which downloads it). When
             `clip` is installed, the bundle is checked against clip.load(..., jit=False); otherwise only
             against clipzs's own eager model (a save/reload check, not a conversion check).
  open_clip  --checkpoint ARCH[:PRETRAINED], e.g. ViT-B-32:laion2b_s34b_b79k, ViT-B-32:/path/weights.pt
             or hf-hub:org/repo. Needs open_clip_torch. Image size, mean, std, interpolation and resize
             mode come from the model's preprocessing config. Only CLIP-architecture models (ViT or
             ModifiedResNet image tower, CLIP text transformer with argmax pooling) are supported.
  hf         transformers CLIPModel: a hub id or a local directory. Needs transformers. HF weight names
             are mapped onto OpenAI's; vocab.json + merges.txt become the "hf_bpe" tokenizer.

The exported modules use clipzs's own model definition (scripts/clipzs_model.py). After writing, the
bundle is reloaded with torch.jit.load and compared with the source model on random images and token
rows; the max abs differences are printed and stored in bundle.json "export". The export fails (exit 1,
no bundle.json) when a difference exceeds --rtol (default 1e-4) relative to the output's max magnitude.
"""

EPILOG = """torch versions:
  A TorchScript module that calls scaled_dot_product_attention (what torch 2.x's own CLIP code and
  --attention sdpa produce) does not load in LibTorch 1.13 ("Unknown builtin op:
  aten::scaled_dot_product_attention"), and a file saved by a newer torch can carry a serialisation
  version an older LibTorch refuses. The default --attention manual writes matmul + softmax, which
  every LibTorch >= 1.13 runs. Export with the oldest torch that will run the bundle: for the CPU
  build that is Debian's python3-torch 1.13 (/usr/bin/python3). Use --attention sdpa only for
  bundles that will run on LibTorch >= 2.0.

examples:
  /usr/bin/python3 scripts/export_clip.py --format openai --checkpoint ViT-B-32.pt \\
      --vocab bpe_simple_vocab_16e6.txt.gz --out bundles/openai-vit-b32
  /usr/bin/python3 scripts/export_clip.py --format open_clip --checkpoint ViT-B-32:laion2b_s34b_b79k \\
      --out bundles/laion-vit-b32
  /usr/bin/python3 scripts/export_clip.py --format hf --checkpoint openai/clip-vit-base-patch32 \\
      --out bundles/hf-vit-b32
"""

import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipzs_export  # noqa: E402  (re-runs this script under a python that has torch if needed)

import torch  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from clipzs_export import ExportError, Reference, Vocab  # noqa: E402
from clipzs_model import OPENAI_MEAN, OPENAI_STD, infer_config  # noqa: E402

PIL_RESAMPLE_NAMES = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


class Source:
    """What a loader found: OpenAI-layout weights plus everything else the bundle needs."""

    def __init__(self, sd: Dict[str, Tensor], source: str, name: str, preprocess: Optional[Dict] = None,
                 vocab_files: Optional[Tuple[str, ...]] = None, vocab_kind: str = "clip_bpe",
                 reference: Optional[Reference] = None, config_args: Optional[Dict] = None):
        self.sd = sd
        self.source = source
        self.name = name
        self.preprocess = preprocess       # None: OpenAI's defaults at the model's size
        self.vocab_files = vocab_files     # None: --vocab, or the installed package's default
        self.vocab_kind = vocab_kind
        self.reference = reference
        self.config_args = config_args or {}


def _strip_prefix(sd: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _try_import(name: str):
    try:
        return __import__(name)
    except ImportError:
        return None


def _clip_bpe_default() -> Optional[str]:
    """The merges file shipped with the `clip` or `open_clip` package, if one is installed."""
    clip = _try_import("clip")
    if clip is not None:
        path = os.path.join(os.path.dirname(clip.__file__), "bpe_simple_vocab_16e6.txt.gz")
        if os.path.exists(path):
            return path
    open_clip = _try_import("open_clip")
    if open_clip is not None:
        try:
            from open_clip.tokenizer import default_bpe
            return default_bpe()
        except (ImportError, AttributeError):
            pass
    return None


# ----------------------------------------------------------------------------------------------------
# openai


def load_openai(checkpoint: str) -> Source:
    clip = _try_import("clip")
    if os.path.isfile(checkpoint):
        try:
            sd = torch.jit.load(checkpoint, map_location="cpu").state_dict()
            kind = "TorchScript archive"
        except RuntimeError:
            obj = torch.load(checkpoint, map_location="cpu")
            if isinstance(obj, nn.Module):
                obj = obj.state_dict()
            if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
                obj = obj["state_dict"]
            if not isinstance(obj, dict):
                raise ExportError("%s is neither a TorchScript archive nor a state dict" % checkpoint)
            sd = obj
            kind = "state dict"
        sd = _strip_prefix(dict(sd), "module.")
        print("read %d tensors from %s (%s)" % (len(sd), checkpoint, kind))
        name = os.path.splitext(os.path.basename(checkpoint))[0]
        source = "openai:" + os.path.abspath(checkpoint)
    elif clip is None:
        raise ExportError("%s is not a file; loading an OpenAI model by name needs the `clip` package "
                          "(pip install git+https://github.com/openai/CLIP)" % checkpoint)
    else:
        sd = None
        name = checkpoint.replace("/", "-")
        source = "openai:" + checkpoint
    reference = None
    if clip is not None:
        try:
            model, _ = clip.load(checkpoint, device="cpu", jit=False)
        except Exception as e:  # noqa: BLE001  (clip.load only reads OpenAI's own layouts)
            if sd is None:
                raise ExportError("clip.load(%r) failed: %s" % (checkpoint, e))
            print("note: clip.load could not read %s (%s): the bundle is checked against clipzs's own model "
                  "only" % (checkpoint, e))
        else:
            model = model.float().eval()
            if sd is None:
                sd = model.state_dict()
            reference = Reference("openai clip package (clip.load, jit=False)", model.encode_image,
                                  model.encode_text)
    else:
        print("note: the `clip` package is not installed: the bundle is checked against clipzs's own model "
              "only (save/reload), not against OpenAI's code")
    return Source(sd, source, name, reference=reference)


# ----------------------------------------------------------------------------------------------------
# open_clip


def _open_clip_preprocess(model: nn.Module, transform) -> Dict:
    cfg = getattr(model.visual, "preprocess_cfg", None)
    if isinstance(cfg, dict) and "mean" in cfg:
        size = cfg.get("size", getattr(model.visual, "image_size", None))
        if isinstance(size, (tuple, list)):
            if size[0] != size[1]:
                raise ExportError("non-square image size %r is not supported" % (size,))
            size = size[0]
        resize_mode = cfg.get("resize_mode", "shortest")
        if resize_mode not in ("shortest", "squash"):
            raise ExportError("open_clip resize_mode %r is not supported by bundles" % resize_mode)
        return {"size": int(size), "mean": list(cfg["mean"]), "std": list(cfg["std"]),
                "interpolation": cfg.get("interpolation", "bicubic"), "resize_mode": resize_mode}
    # Older open_clip: read the torchvision pipeline it returned.
    from torchvision import transforms as T
    out = {"resize_mode": "shortest", "interpolation": "bicubic", "mean": list(OPENAI_MEAN),
           "std": list(OPENAI_STD)}
    for t in getattr(transform, "transforms", []):
        if isinstance(t, T.Resize):
            size = t.size
            if isinstance(size, (tuple, list)):
                out["resize_mode"] = "squash" if len(size) == 2 else "shortest"
                size = size[0]
            out["size"] = int(size)
            out["interpolation"] = t.interpolation.value if hasattr(t.interpolation, "value") else "bicubic"
        elif isinstance(t, T.CenterCrop):
            crop = t.size[0] if isinstance(t.size, (tuple, list)) else t.size
            if "size" in out and int(crop) != out["size"]:
                raise ExportError("resize %d then crop %d is not supported by bundles" % (out["size"], crop))
            out["size"] = int(crop)
        elif isinstance(t, T.Normalize):
            out["mean"], out["std"] = list(t.mean), list(t.std)
    if "size" not in out:
        raise ExportError("could not read the image size from open_clip's preprocessing")
    return out


def load_open_clip(checkpoint: str) -> Source:
    open_clip = _try_import("open_clip")
    if open_clip is None:
        raise ExportError("--format open_clip needs the open_clip package (pip install open_clip_torch)")
    if checkpoint.startswith("hf-hub:") or ":" not in checkpoint:
        arch, pretrained = checkpoint, None
    else:
        arch, pretrained = checkpoint.split(":", 1)
    model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device="cpu",
                                                                precision="fp32")
    model = model.eval()
    visual = model.visual
    kind = type(visual).__name__
    if kind not in ("VisionTransformer", "ModifiedResNet"):
        raise ExportError("open_clip image tower %s is not supported (ViT or ModifiedResNet only)" % kind)
    if not hasattr(model, "token_embedding") or not hasattr(model, "transformer"):
        raise ExportError("open_clip model %s has a custom text tower; only CLIP's text transformer is "
                          "supported" % arch)
    for obj, attr, want in ((model, "text_pool_type", "argmax"), (visual, "pool_type", "tok"),
                            (visual, "attn_pool", None), (visual, "final_ln_after_pool", False),
                            (visual, "global_average_pool", False)):
        have = getattr(obj, attr, want)
        if (have is not None) if want is None else (have != want):
            raise ExportError("open_clip model %s has %s=%r; bundles support %r only" % (arch, attr, have, want))

    def has_quick_gelu(module: nn.Module) -> bool:
        return any(type(m).__name__ == "QuickGELU" for m in module.modules())

    config_args = {"text_heads": model.transformer.resblocks[0].attn.num_heads,
                   "text_quick_gelu": has_quick_gelu(model.transformer), "text_eps": model.ln_final.eps}
    if kind == "VisionTransformer":
        config_args.update(vision_heads=visual.transformer.resblocks[0].attn.num_heads,
                           vision_quick_gelu=has_quick_gelu(visual), vision_eps=visual.ln_pre.eps)
    else:
        config_args["vision_heads"] = visual.attnpool.num_heads
    tokenizer = open_clip.get_tokenizer(arch)
    if type(tokenizer).__name__ != "SimpleTokenizer":
        raise ExportError("open_clip model %s uses tokenizer %s; bundles support CLIP's BPE only"
                          % (arch, type(tokenizer).__name__))
    sd = {k: v for k, v in model.state_dict().items() if not k.endswith("attn_mask")}
    reference = Reference(("open_clip %s" % getattr(open_clip, "__version__", "")).strip(), model.encode_image,
                          model.encode_text)
    return Source(sd, "open_clip:" + checkpoint, arch if pretrained is None else "%s-%s" % (arch, pretrained),
                  preprocess=_open_clip_preprocess(model, transform), reference=reference,
                  config_args=config_args)


# ----------------------------------------------------------------------------------------------------
# Hugging Face transformers


def _hf_preprocess(processor) -> Dict:
    def side(value, *keys):
        if isinstance(value, dict):
            for k in keys:
                if k in value:
                    return value[k]
            return None
        return value
    size = processor.size
    crop = processor.crop_size if getattr(processor, "do_center_crop", True) else None
    shortest = side(size, "shortest_edge")
    crop_side = side(crop, "height") if crop is not None else None
    if shortest is not None:
        if crop_side is not None and int(crop_side) != int(shortest):
            raise ExportError("resize shorter side to %s then crop %s is not supported by bundles"
                              % (shortest, crop_side))
        s, mode = int(shortest), "shortest"
    else:
        h, w = side(size, "height"), side(size, "width")
        if h is None or h != w:
            raise ExportError("unsupported Hugging Face image size %r" % (size,))
        s, mode = int(h), "squash"
    resample = getattr(processor, "resample", 3)
    resample = int(getattr(resample, "value", resample))
    return {"size": s, "mean": list(processor.image_mean), "std": list(processor.image_std),
            "interpolation": PIL_RESAMPLE_NAMES.get(resample, "bicubic"), "resize_mode": mode}


def load_hf(checkpoint: str, workdir: str) -> Source:
    transformers = _try_import("transformers")
    if transformers is None:
        raise ExportError("--format hf needs the transformers package")
    from transformers import CLIPModel, CLIPTokenizer
    try:
        from transformers import CLIPImageProcessor as Processor
    except ImportError:
        from transformers import CLIPFeatureExtractor as Processor
    model = CLIPModel.from_pretrained(checkpoint, torch_dtype=torch.float32).eval()
    vc, tc = model.config.vision_config, model.config.text_config
    acts = {"quick_gelu": True, "gelu": False}
    for tower, c in (("vision", vc), ("text", tc)):
        if c.hidden_act not in acts:
            raise ExportError("%s tower activation %r is not supported" % (tower, c.hidden_act))
    sd = clipzs_export.hf_to_openai_state_dict(model.state_dict())
    config_args = {"vision_heads": vc.num_attention_heads, "text_heads": tc.num_attention_heads,
                   "vision_quick_gelu": acts[vc.hidden_act], "text_quick_gelu": acts[tc.hidden_act],
                   "vision_eps": vc.layer_norm_eps, "text_eps": tc.layer_norm_eps}
    tokenizer = CLIPTokenizer.from_pretrained(checkpoint)
    vocab_json, merges_txt = tokenizer.save_vocabulary(workdir)[:2]

    def features(out, *names):
        if isinstance(out, torch.Tensor):
            return out
        for n in names:
            if getattr(out, n, None) is not None:
                return getattr(out, n)
        raise ExportError("unexpected transformers output %s" % type(out).__name__)

    reference = Reference(
        "transformers %s CLIPModel" % transformers.__version__,
        lambda x: features(model.get_image_features(pixel_values=x), "image_embeds", "pooler_output"),
        lambda t: features(model.get_text_features(input_ids=t), "text_embeds", "pooler_output"))
    name = checkpoint.rstrip("/").split("/")[-1]
    return Source(sd, "hf:" + checkpoint, name, preprocess=_hf_preprocess(Processor.from_pretrained(checkpoint)),
                  vocab_files=(vocab_json, merges_txt), vocab_kind="hf_bpe", reference=reference,
                  config_args=config_args)


# ----------------------------------------------------------------------------------------------------


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="file, model name, or hub id (see formats above)")
    ap.add_argument("--format", required=True, choices=["openai", "open_clip", "hf"])
    ap.add_argument("--out", required=True, help="bundle directory to write")
    ap.add_argument("--vocab", help="CLIP merges file (bpe_simple_vocab_16e6.txt.gz); default: the one "
                                    "shipped with an installed clip/open_clip package. Not used with --format hf")
    ap.add_argument("--dtype", default="fp32", choices=["fp32"],
                    help="dtype of the saved modules (bundles are fp32; clipzs casts at load time)")
    ap.add_argument("--attention", default="manual", choices=["manual", "sdpa"],
                    help="manual: matmul+softmax, loads in LibTorch >= 1.13 (default); sdpa: torch >= 2 only")
    ap.add_argument("--name", help="model name stored in bundle.json (default: from the checkpoint)")
    ap.add_argument("--overwrite", action="store_true", help="replace a bundle already in --out")
    ap.add_argument("--rtol", type=float, default=clipzs_export.DEFAULT_RTOL,
                    help="largest accepted max-abs-diff relative to the output's max magnitude (default 1e-4)")
    ap.add_argument("--head-width", type=int, default=64,
                    help="openai format: heads = width / head-width (CLIP uses 64)")
    ap.add_argument("--gelu", choices=["quick", "exact"], default="quick",
                    help="openai format: the MLP activation (OpenAI's models use QuickGELU)")
    ap.add_argument("--interpolation", choices=clipzs_export.INTERPOLATIONS, help="override the source's")
    ap.add_argument("--resize-mode", choices=clipzs_export.RESIZE_MODES, help="override the source's")
    ap.add_argument("--mean", type=float, nargs=3, help="override the normalisation mean")
    ap.add_argument("--std", type=float, nargs=3, help="override the normalisation std")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    start = time.time()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            if args.format == "openai":
                src = load_openai(args.checkpoint)
                src.config_args = {"head_width": args.head_width, "quick_gelu": args.gelu == "quick"}
            elif args.format == "open_clip":
                src = load_open_clip(args.checkpoint)
            else:
                src = load_hf(args.checkpoint, workdir)
            try:
                cfg = infer_config(src.sd, **src.config_args)
            except ValueError as e:
                raise ExportError(str(e))
            if src.vocab_kind == "hf_bpe":
                vocab: Vocab = clipzs_export.hf_bpe_vocab(src.vocab_files[0], src.vocab_files[1],
                                                          cfg.text.vocab_size)
            else:
                merges = args.vocab or _clip_bpe_default()
                if merges is None:
                    raise ExportError("pass --vocab with CLIP's merges file (bpe_simple_vocab_16e6.txt.gz)")
                vocab = clipzs_export.clip_bpe_vocab(merges, cfg.text.vocab_size)
            preprocess = dict(src.preprocess or clipzs_export.default_preprocess(cfg.vision.image_size))
            for key in ("interpolation", "resize_mode", "mean", "std"):
                if getattr(args, key) is not None:
                    preprocess[key] = getattr(args, key)
            print("model: %s tower %s, text width %d x %d layers, vocab %d, embed %d"
                  % (cfg.vision.kind, cfg.vision.layers, cfg.text.width, cfg.text.layers, cfg.text.vocab_size,
                     cfg.embed_dim))
            bundle = clipzs_export.export_bundle(
                src.sd, args.out, cfg=cfg, vocab=vocab, preprocess=preprocess, name=args.name or src.name,
                source=src.source, attention=args.attention, reference=src.reference,
                tool="scripts/export_clip.py", overwrite=args.overwrite, rtol=args.rtol)
    except (ExportError, OSError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    ex = bundle["export"]
    print("max abs diff: image %.3g, text %.3g" % (ex["max_abs_diff_image"], ex["max_abs_diff_text"]))
    print("bundle written to %s in %.1f s" % (args.out, time.time() - start))
    return 0


if __name__ == "__main__":
    clipzs_export.fix_hash_seed()
    sys.exit(main(sys.argv[1:]))
