#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds clipzs, turns Fashion-MNIST
# test images (Debian's dataset-fashion-mnist) into a folder of PNGs, labels them zero-shot with the
# bundled model and evaluates the labels. Output in demo-out/ (or $DEMO_OUT).
#   scripts/demo.sh [--per-class N]      (default 100 images per class, 1,000 images)
# The bundled model is a small random-weight CLIP made by scripts/make_test_bundle.py until a trained
# default lands: its embeddings are real forward passes, its predictions are at chance level (about 10 %) until then.
set -euo pipefail
cd "$(dirname "$0")/.."
PER_CLASS=100
if [ "${1:-}" = "--per-class" ]; then PER_CLASS=$2; fi
OUT=${DEMO_OUT:-demo-out}
MODEL=${CLIPZS_MODEL:-tests/fixtures/bundles/tiny-vit}
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target clipzs
rm -rf "$OUT/images"
/usr/bin/python3 scripts/fmnist_to_images.py --out "$OUT/images" --per-class "$PER_CLASS" >&2
build/clipzs info --model "$MODEL" >/dev/null
common=(--model "$MODEL" --classes configs/datasets/classnames.json --templates configs/datasets/templates.json
        --dataset fashion-mnist --cache-dir "$OUT/cache")
# Label the folder (top-3 classes per image) ...
build/clipzs infer "${common[@]}" --input "$OUT/images" --top-k 3 --out "$OUT/labels.csv"
# ... and score it against the folder labels (acc1, acc5, mean per-class recall, confusion matrix).
build/clipzs eval "${common[@]}" --input "$OUT/images" --out "$OUT/results/fashion-mnist.json"
build/clipzs eval summarize "$OUT/results/fashion-mnist.json"
echo "demo: labels in $OUT/labels.csv, results in $OUT/results/, embeddings cached in $OUT/cache" >&2
