#!/usr/bin/env bash
# A benchmark sweep from a shell loop: models x datasets x methods, one results JSON per run,
# resumable (--skip-existing), summarised at the end.
#   MODELS="bundles/vit-b32 bundles/rn50" DATASETS="cifar10:/data/cifar10/test" scripts/sweep_example.sh
# DATASETS: space-separated KEY:FOLDER pairs; KEY is the CLIP_benchmark key of the class names and
# templates in $METADATA (scripts/import_metadata.py writes them), FOLDER holds one subfolder per class.
set -euo pipefail
cd "$(dirname "$0")/.."
METADATA=${METADATA:-metadata}
OUT=${OUT:-results}
METHODS=${METHODS:-zeroshot}
for model in $MODELS; do
  for entry in $DATASETS; do
    key=${entry%%:*}; folder=${entry#*:}
    for method in $METHODS; do
      build/clipzs eval --model "$model" --input "$folder" --dataset "$key" --method "$method" \
        --classes "$METADATA/en_classnames.json" --templates "$METADATA/en_zeroshot_classification_templates.json" \
        --out "$OUT/$(basename "$model")__${key}__${method}.json" --skip-existing
    done
  done
done
build/clipzs eval summarize "$OUT"/*.json --csv "$OUT/summary.csv" --markdown "$OUT/summary.md"
cat "$OUT/summary.md"
