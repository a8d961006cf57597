#!/usr/bin/env bash
# clipzs embed against the Python reference pipeline, side by side on the same images, bundle and
# thread budget, plus the model-bound rate (forward alone on resident tensors) of both engines.
#   scripts/bench/embed_cpu.sh [N_IMAGES] [THREADS]        (defaults: 256 images, all cores)
# Needs: build/clipzs and build/embed_model_bound (cmake --build build), the ViT-B/32-size random
# bundle in bench-out/bundles/vit-b32 (made on demand below), and images: the real photos of
# ../shared/reference/preprocess/images if present, else Fashion-MNIST PNGs.
# Prints JSON lines, then a summary; everything lands in bench-out/embed_cpu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-256}
THREADS=${2:-$(nproc)}
BATCH=32
PY=/usr/bin/python3
OUT=bench-out/embed_cpu
BUNDLE=bench-out/bundles/vit-b32
mkdir -p "$OUT"
if [ ! -f "$BUNDLE/bundle.json" ]; then
  vocab=../shared/reference/tokenizer/bpe_simple_vocab_16e6.txt.gz
  [ -f "$vocab" ] || vocab=tests/fixtures/bundles/tiny-vit/tiny_merges.txt
  $PY scripts/make_test_bundle.py --arch vit-b32 --seed 0 --vocab "$vocab" --out "$BUNDLE" >&2
fi
# Image sets: "imagenet-like" (default): each real photo of ../shared/reference/preprocess/images (or
# Fashion-MNIST, if that folder is absent) resized by PIL to 500 px on the long side and saved as a
# JPEG (quality 90, 4:2:0), the typical size and format of ImageNet validation images; "reference": those
# files as they are (PNGs and JPEGs up to 3000x2000, much more decoding per image).
IMAGE_SET=${IMAGE_SET:-imagenet-like}
SRC=../shared/reference/preprocess/images
if [ -d "$SRC" ]; then
  ls "$SRC"/*.jpg "$SRC"/*.png | grep -v truncated > "$OUT/source.txt"
else
  $PY scripts/fmnist_to_images.py --out "$OUT/fmnist" --per-class 3 >&2
  find "$OUT/fmnist" -name '*.png' | sort > "$OUT/source.txt"
fi
if [ "$IMAGE_SET" = "imagenet-like" ]; then
  mkdir -p "$OUT/imagenet-like"
  $PY - "$OUT/source.txt" "$OUT/imagenet-like" > "$OUT/pool.txt" <<'PYEOF'
import sys, os
from PIL import Image
for line in open(sys.argv[1]):
    src = line.strip()
    im = Image.open(src).convert("RGB")
    scale = 500 / max(im.size)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BICUBIC)
    dst = os.path.join(sys.argv[2], os.path.splitext(os.path.basename(src))[0] + ".jpg")
    im.save(dst, quality=90, subsampling="4:2:0")
    print(os.path.abspath(dst))
PYEOF
else
  cp "$OUT/source.txt" "$OUT/pool.txt"
fi
# N paths, cycling through the pool (the page cache holds the files: decoding is what is measured).
$PY - "$OUT/pool.txt" "$N" > "$OUT/list.txt" <<'PYEOF'
import sys, os
pool = [os.path.abspath(l.strip()) for l in open(sys.argv[1]) if l.strip()]
for i in range(int(sys.argv[2])): print(pool[i % len(pool)])
PYEOF

run() { echo "+ $*" >&2; "$@"; }
{
  echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# N=$N threads=$THREADS batch=$BATCH bundle=$BUNDLE image_set=$IMAGE_SET"
  run build/embed_model_bound "$BUNDLE" --dtype fp32 --threads "$THREADS" --batch $BATCH --batches 4
  run $PY scripts/reference_embed.py --bundle "$BUNDLE" --mode model-bound --threads "$THREADS" --batch-size $BATCH --num-images 128
  run $PY scripts/reference_embed.py --bundle "$BUNDLE" --images "$OUT/list.txt" --out "$OUT/python_fp32.npy" \
      --threads "$THREADS" --workers 1 --batch-size $BATCH
  run build/clipzs embed images --model "$BUNDLE" --input "$OUT/list.txt" --out "$OUT/clipzs_fp32" --overwrite \
      --threads "$THREADS" --batch-size $BATCH --store-dtype float32 --no-progress
  run build/embed_model_bound "$BUNDLE" --dtype bf16 --threads "$THREADS" --batch $BATCH --batches 4
  run build/clipzs embed images --model "$BUNDLE" --input "$OUT/list.txt" --out "$OUT/clipzs_bf16" --overwrite \
      --threads "$THREADS" --batch-size $BATCH --store-dtype float32 --dtype bf16 --no-progress
} 2>"$OUT/stderr.log" | tee "$OUT/results.jsonl"

$PY - "$OUT" <<'PYEOF'
import json, sys, numpy as np
out = sys.argv[1]
lines = [json.loads(l) for l in open(out + "/results.jsonl") if l.startswith("{")]
mb32, py_mb, py_pipe, cz32, mb16, cz16 = lines
rate = lambda d: d.get("images_per_second") or d.get("images_per_s") or d.get("rows_per_second")
c32 = np.load(out + "/clipzs_fp32/embeddings.npy"); c16 = np.load(out + "/clipzs_bf16/embeddings.npy")
p32 = np.load(out + "/python_fp32.npy")
cos = lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
summary = {
  "clipzs_model_bound_fp32": rate(mb32), "python_model_bound_fp32": rate(py_mb),
  "python_pipeline_fp32": rate(py_pipe), "clipzs_embed_fp32": rate(cz32),
  "clipzs_model_bound_bf16": rate(mb16), "clipzs_embed_bf16": rate(cz16),
}
summary["fp32_embed_vs_clipzs_model_bound"] = summary["clipzs_embed_fp32"] / summary["clipzs_model_bound_fp32"]
summary["fp32_embed_vs_python_model_bound"] = summary["clipzs_embed_fp32"] / summary["python_model_bound_fp32"]
summary["fp32_embed_vs_python_pipeline"] = summary["clipzs_embed_fp32"] / summary["python_pipeline_fp32"]
summary["bf16_embed_vs_python_pipeline"] = summary["clipzs_embed_bf16"] / summary["python_pipeline_fp32"]
summary["min_cosine_clipzs_fp32_vs_python_fp32"] = float(cos(c32, p32).min())
summary["min_cosine_clipzs_bf16_vs_fp32"] = float(cos(c16, c32).min())
print(json.dumps({k: (round(v, 7 if "cosine" in k else 4) if isinstance(v, float) else v) for k, v in summary.items()}, indent=1))
PYEOF
