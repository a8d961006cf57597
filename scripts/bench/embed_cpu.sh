#!/usr/bin/env bash
# clipzs embed against the Python reference pipeline, side by side on the same images, bundle and
# thread budget, plus the model-bound rate (forward alone on resident tensors) of both engines.
#   scripts/bench/embed_cpu.sh [N_IMAGES] [THREADS]        (defaults: 256 images, all cores)
#   BUILDS="build build-cuda" PYTHONS="/usr/bin/python3 .venv/bin/python"   (the defaults: both LibTorch versions)
# Needs: <build>/clipzs and <build>/embed_model_bound (cmake --build), the ViT-B/32-size random
# bundle in bench-out/bundles/vit-b32 (made on demand below), and images: the real photos of
# ../shared/reference/preprocess/images if present, else Fashion-MNIST PNGs.
# Prints JSON lines, then a summary; everything lands in bench-out/embed_cpu/.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-256}
THREADS=${2:-$(nproc)}
BATCH=32
# bf16 runs on fewer images: on a CPU without AMX, bf16 matmuls are slower than fp32 under LibTorch 2.11
# (about 6x here) and far slower under Debian's 1.13 (about 90x: its bf16 GEMM has no optimised kernel),
# so the full N would take over half an hour. Rates are per image, so the rows stay comparable.
N_BF16=${N_BF16:-16}
PY=/usr/bin/python3
# Each clipzs build and each Python reference runs on the same images: Debian's LibTorch 1.13 (build/)
# and LibTorch 2.11 (build-cuda/, on the CPU here), PIL + torchvision under torch 1.13 and the venv's 2.11.
BUILDS=${BUILDS:-build build-cuda}
PYTHONS=${PYTHONS:-/usr/bin/python3 .venv/bin/python}
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
head -n "$N_BF16" "$OUT/list.txt" > "$OUT/list_bf16.txt"

run() { echo "+ $*" >&2; "$@"; }
# label KEY: the next JSON line printed is tagged with KEY (the summary reads lines by key, not by order).
label() { printf '{"key": "%s"}\n' "$1"; }
{
  echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# N=$N (bf16: $N_BF16) threads=$THREADS batch=$BATCH bundle=$BUNDLE image_set=$IMAGE_SET builds=$BUILDS"
  for b in $BUILDS; do
    [ -x "$b/clipzs" ] && [ -x "$b/embed_model_bound" ] || { echo "# $b: not built, skipped" >&2; continue; }
    lt=$("$b/clipzs" info -q | $PY -c 'import json,sys; print(json.load(sys.stdin)["runtime"]["libtorch"])')
    for dt in fp32 bf16; do
      list="$OUT/list.txt" mb="--batch $BATCH --batches 4"
      [ $dt = bf16 ] && list="$OUT/list_bf16.txt" mb="--batch 8 --batches 1"
      label "clipzs_model_bound_${dt}@$lt"
      run "$b/embed_model_bound" "$BUNDLE" --dtype $dt --threads "$THREADS" $mb
      label "clipzs_embed_${dt}@$lt"
      run "$b/clipzs" embed images --model "$BUNDLE" --input "$list" --out "$OUT/clipzs_${dt}_$lt" --overwrite \
          --threads "$THREADS" --batch-size $BATCH --store-dtype float32 --dtype $dt --no-progress
    done
  done
  for py in $PYTHONS; do
    [ -x "$py" ] || { echo "# $py: absent, skipped" >&2; continue; }
    tv=$($py -c 'import torch; print(torch.__version__.split("+")[0])')
    label "python_model_bound_fp32@$tv"
    run $py scripts/reference_embed.py --bundle "$BUNDLE" --mode model-bound --threads "$THREADS" --batch-size $BATCH --num-images 128
    label "python_pipeline_fp32@$tv"
    run $py scripts/reference_embed.py --bundle "$BUNDLE" --images "$OUT/list.txt" --out "$OUT/python_fp32_$tv.npy" \
        --threads "$THREADS" --workers 1 --batch-size $BATCH
  done
} 2>"$OUT/stderr.log" | tee "$OUT/results.jsonl"

$PY - "$OUT" <<'PYEOF'
import glob, json, os, sys, numpy as np
out = sys.argv[1]
rates, key = {}, None
for line in open(out + "/results.jsonl"):
    if not line.startswith("{"): continue
    d = json.loads(line)
    if set(d) == {"key"}: key = d["key"]; continue
    rates[key] = d.get("images_per_second") or d.get("images_per_s") or d.get("rows_per_second")
    key = None
print("| run | LibTorch / torch | images/s |")
print("|---|---|---:|")
for k, v in rates.items():
    name, ver = k.split("@")
    print("| %s | %s | %.2f |" % (name, ver, v))
summary = {}
pipes = sorted(k for k in rates if k.startswith("python_pipeline_fp32@"))
for k in rates:
    if k.startswith("clipzs_embed_"):
        for p in pipes:
            summary["%s / %s" % (k, p)] = rates[k] / rates[p]
        mb = k.replace("clipzs_embed_", "clipzs_model_bound_")
        if mb in rates: summary["%s / %s" % (k, mb)] = rates[k] / rates[mb]
vers = sorted({k.split("@")[1] for k in rates if k.startswith("clipzs_")})
if len(vers) == 2:
    for dt in ("fp32", "bf16"):
        a, b = "clipzs_embed_%s@%s" % (dt, vers[1]), "clipzs_embed_%s@%s" % (dt, vers[0])
        if a in rates and b in rates: summary["%s / %s" % (a, b)] = rates[a] / rates[b]
cos = lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
stores = {os.path.basename(d): np.load(d + "/embeddings.npy") for d in sorted(glob.glob(out + "/clipzs_*_*")) if os.path.isdir(d)}
refs = {os.path.basename(f)[:-4]: np.load(f) for f in sorted(glob.glob(out + "/python_fp32_*.npy"))}
for name, e in stores.items():
    for rname, r in refs.items():
        summary["min cosine %s vs %s" % (name, rname)] = float(cos(e, r[:len(e)]).min())
print(json.dumps({k: round(v, 7 if "cosine" in k else 3) for k, v in summary.items()}, indent=1))
PYEOF
