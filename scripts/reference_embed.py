#!/usr/bin/env python3
"""Python reference embedding pipeline for clipzs bundles (parity tests and benchmarks).

Images (default subcommand):
  reference_embed.py [images] --bundle DIR --images LIST_OR_DIR --out OUT.npy [--batch-size 32]
      [--threads 2] [--workers 1] [--dtype fp32|bf16] [--mode pipeline|model-bound] [--preprocessed NPY]

  --mode pipeline (default): PIL open -> torchvision Resize(S, <bundle interpolation>) [shortest side;
      Resize((S, S)) for resize_mode squash] -> CenterCrop(S) -> convert("RGB") -> ToTensor ->
      Normalize(bundle mean/std), through a torch DataLoader with --workers worker processes (0: in the
      main process); forward through the bundle's image_encoder.pt (torch.jit.load); L2-normalise; save
      an N x D float32 .npy in input order.
      --images: a directory (its image files, recursively, sorted by relative path) or a text file with
      one path per line (blank lines and lines starting with # skipped; relative paths are taken from
      the current directory). Unreadable images stop the run unless --skip-errors, which writes NaN rows
      for them and lists them on stderr.
  --preprocessed NPY: an N x 3 x S x S float32 array (already normalised) replaces --images: forward only,
      for exact parity on identical inputs.
  --mode model-bound: forward alone over resident tensors (random, or --preprocessed), --num-images of
      them (default 256 or the array's N); --out is optional.

Texts:
  reference_embed.py texts --bundle DIR --tokens TOKENS.npy --out OUT.npy [--batch-size 256] [--threads 2]
      [--dtype fp32|bf16]: forward of N x L integer token rows through text_encoder.pt, L2-normalised.

Every run prints one JSON line: mode, counts, seconds, images_per_s (texts_per_s), and the settings.
Timing starts after two warm-up forwards on a zero batch (TorchScript's profiling executor optimises
the graph on the first calls) and covers loading, preprocessing and the forwards.
"""

import argparse
import json
import os
import sys
import time
from typing import List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipzs_export  # noqa: E402,F401  (re-runs this script under a python that has torch if needed)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
WARMUP_FORWARDS = 2


def load_bundle(bundle_dir: str) -> dict:
    path = os.path.join(bundle_dir, "bundle.json")
    with open(path) as f:
        bundle = json.load(f)
    if bundle.get("schema_version") != 1:
        raise SystemExit("error: %s: unsupported schema_version %r" % (path, bundle.get("schema_version")))
    return bundle


def load_module(bundle_dir: str, file_name: str, dtype: torch.dtype) -> torch.jit.ScriptModule:
    module = torch.jit.load(os.path.join(bundle_dir, file_name), map_location="cpu")
    module.eval()
    if dtype != torch.float32:
        module = module.to(dtype)
    return module


def interpolation_mode(name: str):
    from torchvision.transforms import InterpolationMode
    return {"nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
            "bicubic": InterpolationMode.BICUBIC, "lanczos": InterpolationMode.LANCZOS,
            "box": InterpolationMode.BOX, "hamming": InterpolationMode.HAMMING}[name]


def pil_transform(image_cfg: dict):
    """The reference transform up to (not including) ToTensor: PIL image in, RGB PIL image out."""
    from torchvision import transforms as T
    size = int(image_cfg["size"])
    mode = interpolation_mode(image_cfg.get("interpolation", "bicubic"))
    if image_cfg.get("resize_mode", "shortest") == "squash":
        resize = T.Resize((size, size), interpolation=mode)
    else:
        resize = T.Resize(size, interpolation=mode)
    return T.Compose([resize, T.CenterCrop(size), lambda im: im.convert("RGB")])


def tensor_transform(image_cfg: dict):
    from torchvision import transforms as T
    return T.Compose([pil_transform(image_cfg), T.ToTensor(),
                      T.Normalize(image_cfg["mean"], image_cfg["std"])])


def list_images(spec: str) -> List[str]:
    if os.path.isdir(spec):
        found = []
        for root, dirs, files in os.walk(spec):
            dirs.sort()
            for name in files:
                if name.lower().endswith(IMAGE_EXTENSIONS):
                    found.append(os.path.relpath(os.path.join(root, name), spec))
        return [os.path.join(spec, rel) for rel in sorted(found)]
    with open(spec, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


class ImageFiles(torch.utils.data.Dataset):
    def __init__(self, paths: List[str], image_cfg: dict):
        self.paths = paths
        self.image_cfg = image_cfg
        self.transform = None
        s = int(image_cfg["size"])
        self.shape = (3, s, s)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, int, str]:
        if self.transform is None:       # built lazily: lambdas do not pickle into worker processes
            self.transform = tensor_transform(self.image_cfg)
        try:
            with Image.open(self.paths[index]) as image:
                return self.transform(image), index, ""
        except Exception as e:  # noqa: BLE001  (PIL raises many types for bad files)
            return torch.zeros(self.shape), index, "%s: %s" % (type(e).__name__, e)


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    x = x.float()
    return x / x.norm(dim=-1, keepdim=True)


def torch_dtype(name: str) -> torch.dtype:
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[name]


def warm_up(module, example: torch.Tensor) -> None:
    with torch.inference_mode():
        for _ in range(WARMUP_FORWARDS):
            module(example)


def report(**fields) -> None:
    fields["torch"] = torch.__version__
    print(json.dumps(fields), flush=True)


def run_images(args) -> int:
    bundle = load_bundle(args.bundle)
    image_cfg = bundle["image"]
    s = int(image_cfg["size"])
    dtype = torch_dtype(args.dtype)
    module = load_module(args.bundle, image_cfg["file"], dtype)
    common = {"bundle": args.bundle, "batch_size": args.batch_size, "threads": args.threads,
              "dtype": args.dtype, "model": bundle["model"]["name"]}

    given: Optional[torch.Tensor] = None
    if args.preprocessed:
        array = np.load(args.preprocessed)
        if array.ndim != 4 or tuple(array.shape[1:]) != (3, s, s):
            raise SystemExit("error: %s has shape %s, expected N x 3 x %d x %d"
                             % (args.preprocessed, array.shape, s, s))
        given = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    if args.mode == "model-bound":
        n = args.num_images or (given.shape[0] if given is not None else 256)
        if given is None:
            g = torch.Generator().manual_seed(0)
            given = torch.randn(min(n, args.batch_size), 3, s, s, generator=g)
        given = given.to(dtype)
        warm_up(module, given[:args.batch_size])
        outputs = []
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, n, args.batch_size):
                rows = torch.arange(i, min(i + args.batch_size, n)) % given.shape[0]
                outputs.append(module(given[rows]))
        seconds = time.perf_counter() - start
        if args.out:
            np.save(args.out, l2_normalise(torch.cat(outputs)).numpy())
        report(mode="model-bound", images=n, seconds=seconds, images_per_s=n / seconds, workers=0, **common)
        return 0

    if given is not None:    # pipeline mode on given tensors: forward only
        warm_up(module, given[:args.batch_size].to(dtype))
        outputs = []
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, given.shape[0], args.batch_size):
                outputs.append(module(given[i:i + args.batch_size].to(dtype)))
        seconds = time.perf_counter() - start
        n = given.shape[0]
        np.save(args.out, l2_normalise(torch.cat(outputs)).numpy())
        report(mode="preprocessed", images=n, seconds=seconds, images_per_s=n / seconds, workers=0, **common)
        return 0

    if not args.images:
        raise SystemExit("error: --images (or --preprocessed) is required")
    paths = list_images(args.images)
    if not paths:
        raise SystemExit("error: no images in %s" % args.images)
    dataset = ImageFiles(paths, image_cfg)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False,
                                         num_workers=args.workers, persistent_workers=False)
    warm_up(module, torch.zeros(min(args.batch_size, len(paths)), 3, s, s, dtype=dtype))
    out = np.full((len(paths), bundle["model"]["embed_dim"]), np.nan, dtype=np.float32)
    failed = []
    start = time.perf_counter()
    with torch.inference_mode():
        for batch, indices, errors in loader:
            ok = [i for i, e in enumerate(errors) if not e]
            for i, e in enumerate(errors):
                if e:
                    failed.append((paths[int(indices[i])], e))
            if failed and not args.skip_errors:
                path, error = failed[0]
                raise SystemExit("error: cannot read %s (%s); --skip-errors writes NaN rows instead" % (path, error))
            if ok:
                emb = l2_normalise(module(batch[ok].to(dtype)))
                out[indices[ok].numpy()] = emb.numpy()
    seconds = time.perf_counter() - start
    np.save(args.out, out)
    for path, error in failed:
        print("skipped %s: %s" % (path, error), file=sys.stderr)
    report(mode="pipeline", images=len(paths), failed=len(failed), seconds=seconds,
           images_per_s=len(paths) / seconds, workers=args.workers, **common)
    return 0


def run_texts(args) -> int:
    bundle = load_bundle(args.bundle)
    dtype = torch_dtype(args.dtype)
    module = load_module(args.bundle, bundle["text"]["file"], dtype)
    tokens = np.load(args.tokens)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise SystemExit("error: %s must be an N x L integer array, got %s %s" % (args.tokens, tokens.dtype,
                                                                               tokens.shape))
    tokens = torch.from_numpy(tokens.astype(np.int64))
    warm_up(module, tokens[:args.batch_size])
    outputs = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, tokens.shape[0], args.batch_size):
            outputs.append(l2_normalise(module(tokens[i:i + args.batch_size])))
    seconds = time.perf_counter() - start
    np.save(args.out, torch.cat(outputs).numpy())
    report(mode="texts", texts=int(tokens.shape[0]), seconds=seconds, texts_per_s=tokens.shape[0] / seconds,
           bundle=args.bundle, batch_size=args.batch_size, threads=args.threads, dtype=args.dtype)
    return 0


def main(argv: List[str]) -> int:
    texts = bool(argv) and argv[0] == "texts"
    if argv and argv[0] in ("texts", "images"):
        argv = argv[1:]
    ap = argparse.ArgumentParser(prog="reference_embed.py" + (" texts" if texts else ""), description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    if texts:
        ap.add_argument("--tokens", required=True, help="N x L integer .npy")
        ap.add_argument("--out", required=True)
        ap.add_argument("--batch-size", type=int, default=256)
    else:
        ap.add_argument("--images", help="directory or list file")
        ap.add_argument("--out", help="N x D float32 .npy (required except in model-bound mode)")
        ap.add_argument("--batch-size", type=int, default=32)
        ap.add_argument("--workers", type=int, default=1)
        ap.add_argument("--mode", choices=["pipeline", "model-bound"], default="pipeline")
        ap.add_argument("--preprocessed", help="N x 3 x S x S float32 .npy to forward as given")
        ap.add_argument("--num-images", type=int, default=0, help="model-bound: images to forward")
        ap.add_argument("--skip-errors", action="store_true", help="NaN rows for unreadable images")
    args = ap.parse_args(argv)
    if args.batch_size < 1 or args.threads < 1:
        raise SystemExit("error: --batch-size and --threads must be positive")
    torch.set_num_threads(args.threads)
    if texts:
        return run_texts(args)
    if args.mode == "pipeline" and not args.out:
        raise SystemExit("error: --out is required")
    return run_images(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
