#!/usr/bin/env bash
# The main job on the embedded default (models/fmnist-clip, a small CLIP trained on Fashion-MNIST by
# scripts/train_demo_clip.py: a demonstration model, not CLIP). Installs what is missing, builds
# clipzs, turns Fashion-MNIST into image folders (once, cached in demo-out/), and runs every method:
#   embed -> zero-shot -> InMaP -> X-MoRe (bank: training images with captions) ->
#   16-shot linear probe, Tip-Adapter, Tip-Adapter-F, relation transition -> one table + report.
#   scripts/demo.sh [--test-per-class N]   (default 1000: the whole test split, 10,000 images)
# Output: demo-out/ (or $DEMO_OUT): report.md, results/*.json, summary.csv, stores and states.
set -euo pipefail
cd "$(dirname "$0")/.."
TEST_PER_CLASS=1000
if [ "${1:-}" = "--test-per-class" ]; then TEST_PER_CLASS=$2; fi
OUT=${DEMO_OUT:-demo-out}
MODEL=${CLIPZS_MODEL:-models/fmnist-clip}
SHOTS=16
SEED=1
PY=/usr/bin/python3
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target clipzs
CLIPZS=build/clipzs
start=$(date +%s)
log() { echo "demo [$(( $(date +%s) - start ))s]: $*" >&2; }

# Images, once: the test split; from the train split, a few-shot pool (first 100 per class), a
# validation set (the next 20 per class) and a retrieval bank (the next 500 per class, with captions).
mkdir -p "$OUT"
if [ ! -f "$OUT/images/.done-$TEST_PER_CLASS" ]; then
  rm -rf "$OUT/images"
  $PY scripts/fmnist_to_images.py --out "$OUT/images/test" --split test --per-class "$TEST_PER_CLASS" >&2
  $PY scripts/fmnist_to_images.py --out "$OUT/images/pool" --split train --per-class 100 >&2
  $PY scripts/fmnist_to_images.py --out "$OUT/images/val" --split train --skip-per-class 100 --per-class 20 >&2
  $PY scripts/fmnist_to_images.py --out "$OUT/images/bank" --split train --skip-per-class 120 --per-class 500 \
      --captions "$OUT/images/bank.csv" >&2
  touch "$OUT/images/.done-$TEST_PER_CLASS"
fi

S="$OUT/stores"; R="$OUT/results"; ST="$OUT/states"
mkdir -p "$S" "$R" "$ST"
q=(--no-progress)
embed_once() {  # embed_once STORE args...: skips a store that is already complete
  local store=$1; shift
  [ -f "$store/manifest.json" ] || [ -f "$store/bank.json" ] || "$CLIPZS" embed "$@" --model "$MODEL" --out "$store" "${q[@]}" >/dev/null
}
log "embedding"
embed_once "$S/test" images --input "$OUT/images/test"
embed_once "$S/pool" images --input "$OUT/images/pool" --augment 4
embed_once "$S/val" images --input "$OUT/images/val"
embed_once "$S/classes" texts --classes configs/datasets/classnames.json --templates configs/datasets/templates.json \
  --dataset fashion-mnist
embed_once "$S/bank" pairs --input "$OUT/images/bank.csv"

ev() {  # ev NAME method-args...: one results file per method
  local name=$1; shift
  "$CLIPZS" eval --model "$MODEL" --store "$S/test" --dataset-name fashion-mnist "$@" --out "$R/$name.json" >/dev/null
}
log "zero-shot"
ev zeroshot --classes configs/datasets/classnames.json --templates configs/datasets/templates.json --dataset fashion-mnist \
  --cache-dir "$OUT/cache"
log "InMaP (unlabeled test images)"
"$CLIPZS" adapt inmap --images "$S/test" --text "$S/classes" --out "$ST/inmap" --overwrite --no-ablation >/dev/null
ev inmap --method inmap --state "$ST/inmap"
log "X-MoRe (bank of $(( 500 * 10 )) captioned training images)"
"$CLIPZS" adapt xmore --images "$S/test" --text "$S/classes" --bank "$S/bank" --out "$ST/xmore" --overwrite >/dev/null
ev xmore --method xmore --state "$ST/xmore"
few=(--train "$S/pool" --val "$S/val" --text "$S/classes" --shots "$SHOTS" --seed "$SEED" --overwrite)
for method in linear-probe tip-adapter tip-adapter-f; do
  log "$method, $SHOTS shots"
  "$CLIPZS" adapt "$method" "${few[@]}" --out "$ST/$method" >/dev/null
  ev "$method" --method "$method" --state "$ST/$method"
done
log "relation transition, $SHOTS shots"
"$CLIPZS" adapt relation "${few[@]}" --model "$MODEL" --out "$ST/relation" >/dev/null
ev relation --method relation --state "$ST/relation"

"$CLIPZS" eval summarize "$R"/*.json --csv "$OUT/summary.csv" --markdown "$OUT/summary.md" 2>/dev/null
# The page people look at: per-class recall and confusions of zero-shot, every method side by side.
"$CLIPZS" -q eval report "$R"/*.json --primary "$R/zeroshot.json" --out "$OUT/report" \
  --title "clipzs demo: Fashion-MNIST, demo model" >/dev/null
$PY - "$OUT" "$MODEL" "$(( $(date +%s) - start ))" <<'PYEOF'
import json, os, sys
out, model, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
order = ["zeroshot", "inmap", "xmore", "linear-probe", "tip-adapter", "tip-adapter-f", "relation"]
what = {"zeroshot": "zero-shot (prompt ensemble)", "inmap": "InMaP (unlabeled test images)",
        "xmore": "X-MoRe (captions of similar bank images)", "linear-probe": "linear probe, 16 shots",
        "tip-adapter": "Tip-Adapter, 16 shots", "tip-adapter-f": "Tip-Adapter-F, 16 shots",
        "relation": "relation transition, 16 shots"}
res = {m: json.load(open(f"{out}/results/{m}.json")) for m in order if os.path.exists(f"{out}/results/{m}.json")}
base = res["zeroshot"]["metrics"]["acc1"]
lines = ["| method | top-1 % | vs zero-shot | top-5 % | mean per-class recall % |", "|---|---:|---:|---:|---:|"]
for m, r in res.items():
    a = r["metrics"]
    lines.append(f"| {what[m]} | {100 * a['acc1']:.2f} | {100 * (a['acc1'] - base):+.2f} | {100 * a['acc5']:.2f} | "
                 f"{100 * a['mean_per_class_recall']:.2f} |")
table = "\n".join(lines)
n = res["zeroshot"]["counts"]["evaluated"]
report = (f"# clipzs demo: Fashion-MNIST test split ({n} images)\n\n"
          f"Model: `{model}` ({res['zeroshot']['model']}), a small CLIP trained on Fashion-MNIST by "
          "scripts/train_demo_clip.py. It is a demonstration model, not CLIP: the numbers show the toolkit "
          "working end to end, not what these methods do on real CLIP.\n\n" + table +
          f"\n\nFew-shot methods: 16 images per class (seed 1) from the train split, with 4 augmented views "
          f"each; validation: 20 other train images per class. X-MoRe's bank: 5,000 other training images with "
          f"generated captions. Total time after the build: {seconds} s.\n")
open(f"{out}/report.md", "w").write(report)
print(table)
PYEOF
log "report in $OUT/report.md and $OUT/report/report.html (charts in $OUT/report/charts/), per-method results in $OUT/results/"
