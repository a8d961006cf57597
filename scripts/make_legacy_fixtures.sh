#!/usr/bin/env bash
# Writes tests/fixtures/legacy-<tag>/: stores, method states and results JSON made by a given clipzs
# binary, with the predictions that binary printed for each. tests/cli/test_legacy_states.sh reads them
# with today's binary and requires the same predictions, so a change to a state or store format that
# breaks old files fails a test. Made once per format change, not in CI:
#   scripts/make_legacy_fixtures.sh build/clipzs 0.x-69e7916
# Needs Fashion-MNIST (Debian's python3 package set: scripts/fmnist_to_images.py) and the tiny bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIPZS=$(realpath "$1")
TAG=$2
OUT=tests/fixtures/legacy-$TAG
PY=/usr/bin/python3
TINY=tests/fixtures/bundles/tiny-vit
CFG=configs/datasets
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT"
q() { "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; exit 1; }; }

"$PY" scripts/fmnist_to_images.py --out "$WORK/fm" --split test --per-class 5 >/dev/null
"$PY" scripts/fmnist_to_images.py --out "$WORK/fm_train" --split train --per-class 6 >/dev/null
q "$CLIPZS" embed images --model "$TINY" --input "$WORK/fm" --out "$OUT/img" --threads 1 --no-progress
q "$CLIPZS" embed images --model "$TINY" --input "$WORK/fm_train" --out "$WORK/train" --threads 1 --no-progress
q "$CLIPZS" embed texts --model "$TINY" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" \
  --dataset fashion-mnist --out "$OUT/txt" --no-progress

# A caption bank from the train images (captions name the class), for X-MoRe.
"$PY" - "$WORK" <<'PYEOF'
import sys, os, csv
root = sys.argv[1]
with open(f"{root}/pairs.csv", "w", newline="") as f:
    w = csv.writer(f); w.writerow(["image", "caption"])
    for cls in sorted(os.listdir(f"{root}/fm_train")):
        for name in sorted(os.listdir(f"{root}/fm_train/{cls}")):
            w.writerow([f"fm_train/{cls}/{name}", f"a photo of a {cls.replace('_', ' ')}, item {name}"])
PYEOF
q "$CLIPZS" embed pairs --model "$TINY" --input "$WORK/pairs.csv" --out "$WORK/bank" --threads 1 --no-progress

q "$CLIPZS" adapt inmap --images "$OUT/img" --text "$OUT/txt" --out "$OUT/inmap" --iters 50 --threads 1
q "$CLIPZS" adapt xmore --images "$OUT/img" --text "$OUT/txt" --bank "$WORK/bank" --out "$OUT/xmore" --k 4 --neighbours 16 --threads 1
common=(--train "$WORK/train" --val "$WORK/train" --text "$OUT/txt" --threads 1 --shots 2 --seed 1)
q "$CLIPZS" adapt linear-probe "${common[@]}" --out "$OUT/linear-probe" --max-iters 50
q "$CLIPZS" adapt tip-adapter "${common[@]}" --out "$OUT/tip-adapter"
q "$CLIPZS" adapt tip-adapter-f "${common[@]}" --out "$OUT/tip-adapter-f" --epochs 2

for m in zeroshot inmap xmore linear-probe tip-adapter tip-adapter-f; do
  state=(); [ "$m" = zeroshot ] || state=(--state "$OUT/$m")
  cls=(); [ "$m" = zeroshot ] && cls=(--classes "$CFG/classnames.json" --templates "$CFG/templates.json" --dataset fashion-mnist)
  q "$CLIPZS" infer --model "$TINY" --store "$OUT/img" --method "$m" "${state[@]}" "${cls[@]}" --top-k 3 \
    --out "$OUT/expected-$m.jsonl" --no-progress --cache-dir "$WORK/cache"
  q "$CLIPZS" eval --model "$TINY" --store "$OUT/img" --method "$m" "${state[@]}" "${cls[@]}" \
    --out "$OUT/results-$m.json" --no-progress --cache-dir "$WORK/cache"
done
# Paths inside the files are of a temporary folder; what the test reads does not depend on them.
"$CLIPZS" --version > "$OUT/MADE_BY" 2>&1 || true
echo "made by $CLIPZS at $(git rev-parse --short HEAD) on $(date -u +%F)" >> "$OUT/MADE_BY"
du -sh "$OUT"
