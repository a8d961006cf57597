#!/usr/bin/env python3
"""Trains the small demonstration CLIP on Fashion-MNIST's training split and exports it as a bundle.

This is NOT OpenAI's CLIP: a few-megabyte model trained from scratch, on CPU, in well under an hour, so
that clipzs ships a default bundle whose zero-shot predictions mean something (docs/demo-model.md).

  - Images: Debian's dataset-fashion-mnist (60,000 training images). Each 28x28 grayscale image goes
    through the bundle's own preprocessing (PIL bicubic resize to --image-size, centre crop, RGB, CLIP
    mean/std), so the tensors seen in training are the ones clipzs computes from a PNG of the image.
  - Captions: generated from the label as template x synonym x attribute ("a grayscale photo of a small
    trainer."). Some templates and synonyms are held out of training (HELD_OUT_* below), and so is the
    exact wording of every evaluation prompt (configs/datasets/templates.json, "fashion-mnist").
  - Tokenizer: CLIP's byte-level BPE over merges learned here from the training captions.
  - Model: clipzs_model's ModifiedResNet image tower and CLIP text transformer, trained with a symmetric
    InfoNCE loss and a learnable logit scale; exported with clipzs_export.export_bundle.
  - Evaluation: zero-shot top-1 on the 10,000 test images, on the exported bundle reloaded with
    torch.jit.load, with clipzs's prompt ensembling (normalise each prompt embedding, mean, normalise).

  nice -n 10 /usr/bin/python3 scripts/train_demo_clip.py --out models/fmnist-clip --overwrite

Seeded (--seed) with a fixed data order; --threads (default 2) fixes the thread count, on which float
results can depend. --epochs sets the schedule; --minutes stops training early if it runs over (the
learning-rate schedule is then cut short, and the script says so).
"""

import argparse
import collections
import gzip
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipzs_export  # noqa: E402  (re-runs this script under a python that has torch if needed)
from make_tiny_merges import bytes_to_unicode  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from clipzs_model import OPENAI_MEAN, OPENAI_STD, ClipConfig, TextConfig, VisionConfig  # noqa: E402
from clipzs_model import infer_config, make_encoders  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DATA = "/usr/share/datasets/fashion-mnist"
DATASET_KEY = "fashion-mnist"
MERGES_NAME = "fmnist_merges.txt"
LOG_NAME = "train_log.json"

# ----------------------------------------------------------------------------------------------------
# Captions. Class order and evaluation names come from configs/datasets/classnames.json; each training
# synonym list starts with that name (zero-shot cannot name a class by a word it never saw).

TRAIN_SYNONYMS: Dict[str, List[str]] = {
    "t-shirt": ["t-shirt", "tee shirt", "top", "short-sleeved top"],
    "trouser": ["trouser", "trousers", "pants"],
    "pullover": ["pullover", "sweater", "sweatshirt"],
    "dress": ["dress", "gown", "sundress"],
    "coat": ["coat", "jacket", "raincoat"],
    "sandal": ["sandal", "sandals", "flip-flop"],
    "shirt": ["shirt", "blouse", "button-down shirt"],
    "sneaker": ["sneaker", "sneakers", "trainer"],
    "bag": ["bag", "handbag", "purse"],
    "ankle boot": ["ankle boot", "ankle boots", "boot"],
}
# Never trained on as names; only a diagnostic ("tee" and "shirt" still occur as words in training captions).
HELD_OUT_SYNONYMS: Dict[str, List[str]] = {
    "t-shirt": ["tee"],
    "trouser": ["slacks"],
    "pullover": ["jumper"],
    "dress": ["frock"],
    "coat": ["overcoat"],
    "sandal": ["slipper"],
    "shirt": ["collared shirt"],
    "sneaker": ["running shoe"],
    "bag": ["tote"],
    "ankle boot": ["bootie"],
}
TRAIN_TEMPLATES = [
    "a grayscale photo of a {}.",
    "a low-resolution picture of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a photo of my {}.",
    "a close-up photo of a {}.",
    "a blurry photo of the {}.",
    "a monochrome image of the {}.",
    "a black and white picture of the {}.",
    "a low resolution image of the {}.",
    "a small photo of a {}.",
    "a product photo of a {}.",
    "a centered photo of one {}.",
    "a scan of a {}.",
    "a thumbnail of the {}.",
    "a {} on a dark background.",
    "a {} in grayscale.",
    "this is a {}.",
    "a {}.",
    "a picture of a {}, a piece of clothing.",
    "a photo of a {}, an item of apparel.",
    "an image of the {}, something to wear.",
]
# Never trained on, besides the evaluation templates themselves (checked in caption_check()).
HELD_OUT_TEMPLATES = [
    "a snapshot of a {}.",
    "a cropped photo of the {}.",
    "a tiny image of a {}.",
    "a dim picture of my {}.",
]
ATTRIBUTES = ["", "small ", "plain ", "grey ", "simple ", "single "]
P_CLASS_NAME = 0.5   # chance that a caption uses the evaluation class name rather than another synonym
P_NO_ATTRIBUTE = 0.5


def load_eval_prompts() -> Tuple[List[str], List[str]]:
    with open(os.path.join(ROOT, "configs", "datasets", "classnames.json")) as f:
        classes = json.load(f)[DATASET_KEY]
    with open(os.path.join(ROOT, "configs", "datasets", "templates.json")) as f:
        templates = [t.replace("{c}", "{}") for t in json.load(f)[DATASET_KEY]]
    if list(TRAIN_SYNONYMS) != classes or [s[0] for s in TRAIN_SYNONYMS.values()] != classes:
        raise SystemExit("TRAIN_SYNONYMS must list the classes of classnames.json in order, each name first")
    return classes, templates


def class_captions(names: Sequence[str], templates: Sequence[str], attributes: Sequence[str]) -> List[str]:
    return [t.format(a + n) for t in templates for n in names for a in attributes]


def caption_check(classes: List[str], eval_templates: List[str]) -> Dict:
    """Which evaluation prompts (and held-out templates/synonyms) occur verbatim in the training captions."""
    train = {c for k in classes for c in class_captions(TRAIN_SYNONYMS[k], TRAIN_TEMPLATES, ATTRIBUTES)}
    words = {w for c in train for w in pre_tokenize(c)}
    eval_prompts = [t.format(k) for t in eval_templates for k in classes]
    overlap = [p for p in eval_prompts if p in train]
    template_overlap = [t for t in eval_templates + HELD_OUT_TEMPLATES if t in TRAIN_TEMPLATES]
    synonym_leak = [s for k in classes for s in HELD_OUT_SYNONYMS[k] if s in train or
                    any(s == t for v in TRAIN_SYNONYMS.values() for t in v)]
    unseen = sorted({w for t in eval_templates for w in pre_tokenize(t.format("")) if w not in words})
    return {"train_captions": len(train), "eval_prompts": len(eval_prompts),
            "eval_prompts_in_training": overlap, "templates_in_training": template_overlap,
            "held_out_synonyms_in_training": synonym_leak, "eval_template_words_unseen_in_training": unseen}


# ----------------------------------------------------------------------------------------------------
# CLIP's byte-level BPE: learning a merges file and encoding with it (ASCII captions; CLIP's ftfy and
# html cleaning leave those unchanged).

PRE_TOKEN_RE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")


BYTE_SYMBOL = bytes_to_unicode()  # CLIP's byte -> symbol table, shared with make_tiny_merges.py
SYMBOL_BYTE = {s: b for b, s in BYTE_SYMBOL.items()}


def pre_tokenize(text: str) -> List[str]:
    if not text.isascii():
        raise ValueError("captions are ASCII here (the python tokenizer does no Unicode cleaning): %r" % text)
    return PRE_TOKEN_RE.findall(" ".join(text.lower().split()))


def word_symbols(word: str) -> Tuple[str, ...]:
    s = [BYTE_SYMBOL[b] for b in word.encode("ascii")]
    return tuple(s[:-1] + [s[-1] + "</w>"])


def learn_bpe(texts: Sequence[str], num_merges: int) -> List[Tuple[str, str]]:
    """Standard BPE: merge the most frequent adjacent pair (ties: smallest pair text), repeatedly.
    A pair whose concatenation is already a symbol is skipped, so the vocabulary has no duplicates."""
    words = collections.Counter(word_symbols(w) for t in texts for w in pre_tokenize(t))
    known = set(BYTE_SYMBOL.values()) | {s + "</w>" for s in BYTE_SYMBOL.values()}
    merges: List[Tuple[str, str]] = []
    while len(merges) < num_merges:
        pairs: Dict[Tuple[str, str], int] = collections.Counter()
        for w, n in words.items():
            for p in zip(w, w[1:]):
                pairs[p] += n
        ranked = sorted((-n, p) for p, n in pairs.items() if n >= 2 and p[0] + p[1] not in known)
        if not ranked:
            break
        best = ranked[0][1]
        merges.append(best)
        known.add(best[0] + best[1])
        merged: Dict[Tuple[str, ...], int] = collections.Counter()
        for w, n in words.items():
            merged[tuple(apply_merge(list(w), best))] += n
        words = merged
    return merges


def apply_merge(symbols: List[str], pair: Tuple[str, str]) -> List[str]:
    out: List[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(pair[0] + pair[1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def write_merges(path: str, merges: Sequence[Tuple[str, str]]) -> None:
    lines = ["#version: 0.2 - fmnist-clip-demo merges (%d, scripts/train_demo_clip.py)" % len(merges)]
    lines += ["%s %s" % m for m in merges]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))  # no final newline: CLIP's reader would take it for an empty merge


class Tokenizer:
    """CLIP's SimpleTokenizer over `merges`: [sot] + ids + [eot], zero-padded to the context length."""

    def __init__(self, merges: Sequence[Tuple[str, str]]):
        base = list(BYTE_SYMBOL.values())
        vocab = base + [s + "</w>" for s in base] + [a + b for a, b in merges]
        self.encoder = {s: i for i, s in enumerate(vocab)}
        self.decoder = vocab
        self.rank = {m: i for i, m in enumerate(merges)}
        self.vocab_size = len(vocab) + 2
        self.sot, self.eot = self.vocab_size - 2, self.vocab_size - 1
        self.cache: Dict[str, List[int]] = {}

    def bpe(self, word: str) -> List[int]:
        if word not in self.cache:
            parts = list(word_symbols(word))
            while len(parts) > 1:
                pair = min(zip(parts, parts[1:]), key=lambda p: self.rank.get(p, math.inf))
                if pair not in self.rank:
                    break
                parts = apply_merge(parts, pair)
            self.cache[word] = [self.encoder[p] for p in parts]
        return self.cache[word]

    def ids(self, text: str) -> List[int]:
        return [self.sot] + [i for w in pre_tokenize(text) for i in self.bpe(w)] + [self.eot]

    def encode(self, texts: Sequence[str], context_length: int) -> Tensor:
        rows = torch.zeros(len(texts), context_length, dtype=torch.long)
        for r, t in enumerate(texts):
            ids = self.ids(t)
            if len(ids) > context_length:
                raise ValueError("%r needs %d tokens, more than the context length %d" % (t, len(ids), context_length))
            rows[r, :len(ids)] = torch.tensor(ids)
        return rows

    def decode(self, ids: Sequence[int]) -> str:
        """CLIP's decode of the ids between sot and eot (padding and specials dropped)."""
        ids = list(ids)
        body = ids[1:ids.index(self.eot)] if ids and ids[0] == self.sot and self.eot in ids else ids
        text = "".join(self.decoder[i] for i in body)
        return bytes(SYMBOL_BYTE[c] for c in text).decode("utf-8", "replace").replace("</w>", " ")


# ----------------------------------------------------------------------------------------------------
# Images


def read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(split: str) -> Tuple[np.ndarray, np.ndarray]:
    prefix = "t10k" if split == "test" else "train"
    path = os.path.join(DATA, prefix + "-images-idx3-ubyte.gz")
    if not os.path.exists(path):
        raise SystemExit("%s not found: install the Debian package dataset-fashion-mnist" % path)
    return read_idx(path), read_idx(os.path.join(DATA, prefix + "-labels-idx1-ubyte.gz"))


def preprocess_gray(images: np.ndarray, size: int) -> Tensor:
    """The bundle's preprocessing up to the uint8 crop, as clipzs (and CLIP's torchvision transform) do it
    for a grayscale PNG: PIL resizes the L image (shorter side to `size`, bicubic), centre crop, then
    convert("RGB") copies the one channel three times, so one channel is kept here. -> [N, size, size]."""
    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, a in enumerate(images):
        im = Image.fromarray(a, mode="L")
        w, h = im.size
        if min(w, h) != size:  # torchvision Resize(size): shorter side to size, longer truncated
            s = size / min(w, h)
            im = im.resize((size if w <= h else int(w * s), size if h <= w else int(h * s)), Image.BICUBIC)
        w, h = im.size
        left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
        out[i] = np.asarray(im.crop((left, top, left + size, top + size)))
    return torch.from_numpy(out)


MEAN = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
STD = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)


def normalise(gray_u8: Tensor) -> Tensor:
    """[B, S, S] uint8 -> [B, 3, S, S] float32, as clipzs normalises the RGB crop."""
    x = gray_u8.float().div(255.0).unsqueeze(1).expand(-1, 3, -1, -1)
    return (x - MEAN) / STD


def random_shift(batch: Tensor, max_shift: int, g: torch.Generator) -> Tensor:
    """Light augmentation: translate each image by up to max_shift pixels, zero (black) fill."""
    if max_shift <= 0:
        return batch
    n, s = batch.size(0), batch.size(-1)
    padded = F.pad(batch, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=g).tolist()
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=g).tolist()
    return torch.stack([padded[i, dy[i]:dy[i] + s, dx[i]:dx[i] + s] for i in range(n)])


# ----------------------------------------------------------------------------------------------------
# Model


def model_config(args, vocab_size: int) -> ClipConfig:
    vision = VisionConfig(kind="resnet", image_size=args.image_size, width=args.vision_width,
                          layers=[1, 1, 1, 1], heads=args.vision_width * 32 // 64)
    text = TextConfig(vocab_size=vocab_size, context_length=args.context_length, width=args.text_width,
                      layers=args.text_layers, heads=args.text_width // 32, mlp_dim=4 * args.text_width)
    return ClipConfig(embed_dim=args.embed_dim, vision=vision, text=text)


def init_weights(image: nn.Module, text: nn.Module) -> None:
    """CLIP's initialisation (make_encoders leaves the CLIP-specific parameters at zero)."""
    v = image.visual
    pool = v.attnpool
    std = pool.c_proj.in_features ** -0.5
    nn.init.normal_(pool.positional_embedding, std=pool.positional_embedding.size(1) ** -0.5)
    for lin in (pool.q_proj, pool.k_proj, pool.v_proj, pool.c_proj):
        nn.init.normal_(lin.weight, std=std)
        nn.init.zeros_(lin.bias)
    for stage in (v.layer1, v.layer2, v.layer3, v.layer4):
        for block in stage:
            nn.init.zeros_(block.bn3.weight)  # each residual block starts as the identity
    width = text.token_embedding.weight.size(1)
    layers = len(text.transformer.resblocks)
    nn.init.normal_(text.token_embedding.weight, std=0.02)
    nn.init.normal_(text.positional_embedding, std=0.01)
    for block in text.transformer.resblocks:
        nn.init.normal_(block.attn.in_proj_weight, std=width ** -0.5)
        nn.init.zeros_(block.attn.in_proj_bias)
        nn.init.normal_(block.attn.out_proj.weight, std=width ** -0.5 * (2 * layers) ** -0.5)
        nn.init.zeros_(block.attn.out_proj.bias)
        nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
        nn.init.normal_(block.mlp.c_proj.weight, std=width ** -0.5 * (2 * layers) ** -0.5)
    nn.init.normal_(text.text_projection, std=width ** -0.5)


def state_dict_openai(image: nn.Module, text: nn.Module, logit_scale: Tensor) -> Dict[str, Tensor]:
    """ImageEncoder's keys are already visual.*, TextEncoder's the OpenAI top-level text keys."""
    sd = dict(image.state_dict())
    sd.update(text.state_dict())
    sd["logit_scale"] = logit_scale.detach().clone()
    return sd


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return 0.5 * peak * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


# ----------------------------------------------------------------------------------------------------
# Zero-shot evaluation, as clipzs does it


@torch.no_grad()
def class_weights(encode_text, tok: Tokenizer, names: List[List[str]], templates: List[str],
                  context_length: int) -> Tensor:
    """One unit vector per class: each prompt embedding normalised, mean over prompts, normalised.
    names[c] may hold several names; their prompts are pooled into one ensemble."""
    rows = []
    for class_names in names:
        prompts = [t.format(n) for n in class_names for t in templates]
        e = F.normalize(encode_text(tok.encode(prompts, context_length)).float(), dim=-1)
        rows.append(F.normalize(e.mean(0), dim=-1))
    return torch.stack(rows)


@torch.no_grad()
def image_features(encode_image, gray_u8: Tensor, batch: int = 500) -> Tensor:
    return torch.cat([F.normalize(encode_image(normalise(gray_u8[i:i + batch])).float(), dim=-1)
                      for i in range(0, len(gray_u8), batch)])


def accuracy(feats: Tensor, weights: Tensor, labels: Tensor) -> Tuple[float, List[float]]:
    pred = (feats @ weights.t()).argmax(1)
    per_class = [float((pred[labels == c] == c).float().mean()) for c in range(weights.size(0))]
    return float((pred == labels).float().mean()), per_class


# ----------------------------------------------------------------------------------------------------
# Checks against the C++ front-ends (skipped when the clipzs binary is absent)


def check_clipzs_tokenizer(clipzs: str, bundle: str, tok: Tokenizer, texts: List[str], context: int) -> Dict:
    run = subprocess.run([clipzs, "tokenize", "--model", bundle], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, check=True)
    rows = [json.loads(line)["ids"] for line in run.stdout.splitlines()]
    if len(rows) != len(texts):
        raise RuntimeError("clipzs tokenize returned %d rows for %d texts" % (len(rows), len(texts)))
    mismatch = [t for t, r in zip(texts, rows) if r != tok.encode([t], context)[0].tolist()]
    squash = lambda s: "".join(s.split())  # noqa: E731  (decoding puts a space after every word)
    no_round_trip = [t for t, r in zip(texts, rows) if squash(tok.decode(r)) != squash(t.lower())]
    return {"texts": len(texts), "ids_differ": mismatch[:10], "ids_differ_count": len(mismatch),
            "round_trip_fails": no_round_trip[:10], "round_trip_fail_count": len(no_round_trip)}


def check_clipzs_preprocess(clipzs: str, bundle: str, raw: np.ndarray, ours: Tensor) -> Dict:
    worst_crop, worst_tensor = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, a in enumerate(raw):
            png = os.path.join(tmp, "%d.png" % i)
            Image.fromarray(a, mode="L").save(png)  # as scripts/fmnist_to_images.py writes them
            crop, tensor = os.path.join(tmp, "%d.npy" % i), os.path.join(tmp, "%d.t.npy" % i)
            subprocess.run([clipzs, "preprocess", "--model", bundle, png, "--out", crop, "--tensor-out", tensor],
                           check=True, capture_output=True)
            c = torch.from_numpy(np.load(crop).astype(np.int32))
            worst_crop = max(worst_crop, int((c - ours[i].int().unsqueeze(-1)).abs().max()))
            t = torch.from_numpy(np.load(tensor))
            worst_tensor = max(worst_tensor, float((t - normalise(ours[i:i + 1])[0]).abs().max()))
    return {"images": len(raw), "max_abs_diff_uint8_crop": worst_crop, "max_abs_diff_tensor": worst_tensor}


# ----------------------------------------------------------------------------------------------------


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "fmnist-clip"), help="bundle directory")
    ap.add_argument("--overwrite", action="store_true", help="replace a bundle already in --out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=38.0, help="stop training after this many minutes")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=200, help="warm-up steps")
    ap.add_argument("--shift", type=int, default=2, help="random translation in pixels (0: none)")
    ap.add_argument("--loss", choices=["multi-positive", "clip"], default="multi-positive",
                    help="clip: only the diagonal pairs match; multi-positive: every same-class pair in the "
                         "batch matches (captions come from labels, so those are true pairs)")
    ap.add_argument("--num-merges", type=int, default=300)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--vision-width", type=int, default=16)
    ap.add_argument("--text-width", type=int, default=128)
    ap.add_argument("--text-layers", type=int, default=3)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--context-length", type=int, default=32)
    ap.add_argument("--train-limit", type=int, default=0, help="use the first N training images (development)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clipzs", default=os.path.join(ROOT, "build", "clipzs"),
                    help="clipzs binary for the tokenizer/preprocessing checks (skipped if missing)")
    args = ap.parse_args(argv)

    t_start = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    log: Dict = {"args": vars(args), "torch": torch.__version__}

    # Captions and tokenizer.
    classes, eval_templates = load_eval_prompts()
    train_caps = [class_captions(TRAIN_SYNONYMS[k], TRAIN_TEMPLATES, ATTRIBUTES) for k in classes]
    corpus = sorted({c for caps in train_caps for c in caps})
    check = caption_check(classes, eval_templates)
    print("captions: %d distinct training captions; eval prompts in training: %d of %d; eval/held-out "
          "templates in training: %s; eval-template words never in training: %s"
          % (len(corpus), len(check["eval_prompts_in_training"]), check["eval_prompts"],
             check["templates_in_training"] or "none", ", ".join(check["eval_template_words_unseen_in_training"])))
    if check["held_out_synonyms_in_training"]:
        raise SystemExit("held-out synonyms occur in training captions: %s" % check["held_out_synonyms_in_training"])
    log["captions"] = check
    merges = learn_bpe(corpus, args.num_merges)
    tok = Tokenizer(merges)
    tmp_dir = tempfile.mkdtemp(prefix="fmnist-clip-")
    merges_path = os.path.join(tmp_dir, MERGES_NAME)
    write_merges(merges_path, merges)
    longest = max(len(tok.ids(c)) for c in corpus)
    print("bpe: %d merges learned, vocab_size %d; longest training caption %d tokens (context %d)"
          % (len(merges), tok.vocab_size, longest, args.context_length))
    cap_tokens = [tok.encode(caps, args.context_length) for caps in train_caps]
    log["tokenizer"] = {"num_merges": len(merges), "vocab_size": tok.vocab_size, "longest_caption": longest}

    # Images through the bundle's preprocessing.
    t0 = time.time()
    raw_train, y_train = load_split("train")
    raw_test, y_test = load_split("test")
    if args.train_limit:
        raw_train, y_train = raw_train[:args.train_limit], y_train[:args.train_limit]
    x_train = preprocess_gray(raw_train, args.image_size)
    x_test = preprocess_gray(raw_test, args.image_size)
    y_train_t = torch.from_numpy(y_train.astype(np.int64))
    y_test_t = torch.from_numpy(y_test.astype(np.int64))
    print("data: %d train, %d test images at %d px (%.1f s)"
          % (len(x_train), len(x_test), args.image_size, time.time() - t0))

    # Caption sampling tables: index (template, synonym, attribute) -> row of cap_tokens[class].
    n_t, n_a = len(TRAIN_TEMPLATES), len(ATTRIBUTES)

    def sample_captions(labels: List[int], g: torch.Generator) -> Tensor:
        u = torch.rand(len(labels), 5, generator=g).tolist()
        rows = []
        for c, (ut, us, us2, ua, ua2) in zip(labels, u):
            n_s = len(TRAIN_SYNONYMS[classes[c]])
            t = int(ut * n_t)
            s = 0 if us < P_CLASS_NAME else 1 + int(us2 * (n_s - 1))
            a = 0 if ua < P_NO_ATTRIBUTE else 1 + int(ua2 * (n_a - 1))
            rows.append(cap_tokens[c][(t * n_s + s) * n_a + a])
        toks = torch.stack(rows)
        return toks[:, :int((toks > 0).sum(1).max())]  # causal mask: trailing padding changes nothing

    # Model.
    cfg = model_config(args, tok.vocab_size)
    image, text = make_encoders(cfg)
    init_weights(image, text)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    named = [("visual." + n, p) for n, p in image.visual.named_parameters()] + list(text.named_parameters())
    decay = [p for n, p in named if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in named if not (p.ndim >= 2 and "embedding" not in n)] + [logit_scale]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    n_params = sum(p.numel() for _, p in named)
    print("model: %s; %.2fM parameters" % (json.dumps(cfg.to_dict()), n_params / 1e6))

    # Training.
    g = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = len(x_train) // args.batch_size
    total = args.epochs * steps_per_epoch
    step, stopped_early = 0, False
    history = []
    t_train = time.time()
    image.train()
    text.train()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_train), generator=g)
        loss_sum, hit_sum, t_epoch = 0.0, 0.0, time.time()
        for b in range(steps_per_epoch):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            labels = y_train_t[idx]
            imgs = normalise(random_shift(x_train[idx], args.shift, g))
            toks = sample_captions(labels.tolist(), g)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, args.warmup, args.lr)
            img_e = F.normalize(image(imgs), dim=-1)
            txt_e = F.normalize(text(toks), dim=-1)
            logits = logit_scale.exp() * img_e @ txt_e.t()
            if args.loss == "clip":
                target = torch.eye(len(labels))
            else:
                target = (labels[:, None] == labels[None, :]).float()
                target = target / target.sum(1, keepdim=True)
            loss = 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean()
                          - (target * logits.t().log_softmax(1)).sum(1).mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                logit_scale.clamp_(0, math.log(100.0))
                hit_sum += float((labels[logits.argmax(1)] == labels).float().mean())
            loss_sum += float(loss)
            step += 1
            if (time.time() - t_train) / 60.0 > args.minutes:
                stopped_early = True
                break
        done = b + 1
        row = {"epoch": epoch + 1, "steps": done, "loss": loss_sum / done, "in_batch_acc": hit_sum / done,
               "logit_scale": float(logit_scale.exp()), "lr_end": opt.param_groups[0]["lr"],
               "seconds": time.time() - t_epoch}
        history.append(row)
        print("epoch %2d: loss %.4f, in-batch image->caption class acc %.4f, logit scale %.1f, %.0f s "
              "(%.1f min so far)" % (row["epoch"], row["loss"], row["in_batch_acc"], row["logit_scale"],
                                     row["seconds"], (time.time() - t_train) / 60), flush=True)
        if stopped_early:
            print("warning: --minutes %.1f reached after %d of %d steps; the schedule was cut short"
                  % (args.minutes, step, total))
            break
    train_seconds = time.time() - t_train
    log["training"] = {"epochs": history, "steps": step, "planned_steps": total, "stopped_early": stopped_early,
                       "seconds": train_seconds, "parameters": n_params}

    # Export.
    image.eval()
    text.eval()
    sd = state_dict_openai(image, text, logit_scale)
    cfg_read = infer_config(sd, vision_heads=cfg.vision.heads, text_heads=cfg.text.heads)
    if cfg_read != cfg:
        raise SystemExit("infer_config reads %s, trained %s" % (cfg_read, cfg))
    if os.path.exists(os.path.join(args.out, LOG_NAME)) and args.overwrite:
        os.remove(os.path.join(args.out, LOG_NAME))  # export_bundle refuses files it does not know
    try:
        bundle = clipzs_export.export_bundle(
            sd, args.out, cfg=cfg, vocab=clipzs_export.clip_bpe_vocab(merges_path, tok.vocab_size),
            preprocess=clipzs_export.default_preprocess(args.image_size), name="fmnist-clip-demo",
            source="scripts/train_demo_clip.py, seed %d, Fashion-MNIST train" % args.seed,
            tool="scripts/train_demo_clip.py", overwrite=args.overwrite)
    except clipzs_export.ExportError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print("bundle: %s, %d bytes" % (args.out, size))

    # Zero-shot evaluation of the reloaded bundle.
    t0 = time.time()
    jit_image = torch.jit.load(os.path.join(args.out, "image_encoder.pt"), map_location="cpu").eval()
    jit_text = torch.jit.load(os.path.join(args.out, "text_encoder.pt"), map_location="cpu").eval()
    ctx = bundle["text"]["context_length"]
    feats = image_features(jit_image, x_test)
    eval_names = [[k] for k in classes]
    held_names = [HELD_OUT_SYNONYMS[k] for k in classes]
    settings = [
        ("eval prompts (configs/datasets/templates.json, held-out wording)", eval_names, eval_templates),
        ("training templates, class names", eval_names, TRAIN_TEMPLATES),
        ("held-out templates, class names", eval_names, HELD_OUT_TEMPLATES),
        ("eval prompts, held-out synonyms instead of class names", held_names, eval_templates),
    ]
    results = {}
    for label, names, templates in settings:
        acc, per_class = accuracy(feats, class_weights(jit_text, tok, names, templates, ctx), y_test_t)
        results[label] = {"acc1": acc, "per_class": dict(zip(classes, per_class))}
        print("zero-shot top-1 on the %d test images, %s: %.4f" % (len(x_test), label, acc))
    print("per-class recall (eval prompts): " + ", ".join(
        "%s %.3f" % kv for kv in results[settings[0][0]]["per_class"].items()))
    log["zero_shot_test"] = results
    log["eval_seconds"] = time.time() - t0

    # Front-end parity with the C++ binary, if there is one.
    if os.path.exists(args.clipzs):
        texts = corpus + [t.format(k) for t in eval_templates + HELD_OUT_TEMPLATES for k in classes] + \
            [t.format(s) for t in eval_templates for k in classes for s in HELD_OUT_SYNONYMS[k]]
        log["clipzs_tokenize_check"] = check_clipzs_tokenizer(args.clipzs, args.out, tok, texts, ctx)
        log["clipzs_preprocess_check"] = check_clipzs_preprocess(args.clipzs, args.out, raw_test[:8], x_test[:8])
        print("clipzs tokenize check: %s" % json.dumps(log["clipzs_tokenize_check"]))
        print("clipzs preprocess check: %s" % json.dumps(log["clipzs_preprocess_check"]))
    else:
        print("note: %s not found; C++ tokenizer/preprocessing checks skipped" % args.clipzs)

    log["bundle_bytes"] = size
    log["wall_seconds"] = time.time() - t_start
    with open(os.path.join(args.out, LOG_NAME), "w") as f:
        json.dump(log, f, indent=1)
        f.write("\n")
    print("total wall time %.1f min (training %.1f min); log in %s"
          % (log["wall_seconds"] / 60, train_seconds / 60, os.path.join(args.out, LOG_NAME)))
    return 0


if __name__ == "__main__":
    clipzs_export.fix_hash_seed()
    sys.exit(main(sys.argv[1:]))
