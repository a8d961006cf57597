#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds clipzs, turns Fashion-MNIST
# test images (Debian's dataset-fashion-mnist) into a folder of PNGs, and caches image and class-prompt
# embeddings with the bundled model. Output in demo-out/ (or $DEMO_OUT).
#   scripts/demo.sh [--per-class N]      (default 100 images per class, 1,000 images)
# The bundled model is a small random-weight CLIP made by scripts/make_test_bundle.py until a trained
# default lands: its embeddings are real forward passes, its predictions are not meaningful yet.
set -euo pipefail
cd "$(dirname "$0")/.."
PER_CLASS=100
if [ "${1:-}" = "--per-class" ]; then PER_CLASS=$2; fi
OUT=${DEMO_OUT:-demo-out}
MODEL=${CLIPZS_MODEL:-tests/fixtures/bundles/tiny-vit}
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLIPZS_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target clipzs
rm -rf "$OUT/images"
/usr/bin/python3 scripts/fmnist_to_images.py --out "$OUT/images" --per-class "$PER_CLASS" >&2
build/clipzs info --model "$MODEL" >/dev/null
build/clipzs embed images --model "$MODEL" --input "$OUT/images" --out "$OUT/image-store" --overwrite --dtype fp32
build/clipzs embed texts --model "$MODEL" --classes configs/datasets/classnames.json \
  --templates configs/datasets/templates.json --dataset fashion-mnist --out "$OUT/text-store" --overwrite
echo "demo: image embeddings in $OUT/image-store, class proxies in $OUT/text-store" >&2
