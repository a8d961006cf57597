#!/usr/bin/env bash
# Few-shot sweep over cached embeddings: for each K and seed, every few-shot method is trained on K
# shots of --train (validation draws from --val), evaluated on --test, and the mean ± std top-1 per
# method and K is printed as Markdown, with each method's gain over zero-shot.
#
#   fewshot_sweep.sh --model BUNDLE --train STORE --val STORE --test STORE --text STORE \
#                    --classes FILE [--templates FILE] [--dataset KEY] --out DIR \
#                    [--shots "1 2 4 8 16"] [--seeds "1 2 3"] [--methods "linear-probe tip-adapter tip-adapter-f relation"]
#                    [--label-rule auto] [--threads N] [--clipzs BIN]
#
# Zero-shot is a plain `clipzs eval` with --classes/--templates/--dataset: give the ones --text was
# embedded with, so both use the same class proxies. `relation` runs only if this clipzs has
# `adapt relation`. Finished states and results are kept in DIR and skipped on a rerun, so an
# interrupted sweep resumes. The test store never takes part in any choice (K, seed, hyper-parameters).
set -euo pipefail

CLIPZS=${CLIPZS:-clipzs}
PY=/usr/bin/python3
SHOTS="1 2 4 8 16"
SEEDS="1 2 3"
METHODS="linear-probe tip-adapter tip-adapter-f relation"
MODEL= TRAIN= VAL= TEST= TEXT= CLASSES= TEMPLATES= DATASET= OUT= LABEL_RULE=auto THREADS=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --train) TRAIN=$2; shift 2 ;;
    --val) VAL=$2; shift 2 ;;
    --test) TEST=$2; shift 2 ;;
    --text) TEXT=$2; shift 2 ;;
    --classes) CLASSES=$2; shift 2 ;;
    --templates) TEMPLATES=$2; shift 2 ;;
    --dataset) DATASET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --shots) SHOTS=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --methods) METHODS=$2; shift 2 ;;
    --label-rule) LABEL_RULE=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --clipzs) CLIPZS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown option: $1" >&2; usage 2 ;;
  esac
done
for v in MODEL TRAIN VAL TEST TEXT CLASSES OUT; do
  [ -n "${!v}" ] || { echo "missing --$(echo "$v" | tr 'A-Z' 'a-z')" >&2; usage 2; }
done
mkdir -p "$OUT/states" "$OUT/results" "$OUT/logs"

# Methods this clipzs has (`adapt X --help` succeeds even for an unknown X: read the list instead).
RUN_METHODS=
ADAPT_HELP=$("$CLIPZS" adapt --help 2>&1 || true)
for m in $METHODS; do
  if grep -qE "^ +$m( |\$)" <<<"$ADAPT_HELP"; then RUN_METHODS="$RUN_METHODS $m"
  else echo "note: \`clipzs adapt $m\` is not available; skipped" >&2; fi
done

zs_args=(--classes "$CLASSES")
[ -n "$TEMPLATES" ] && zs_args+=(--templates "$TEMPLATES")
[ -n "$DATASET" ] && zs_args+=(--dataset "$DATASET")
echo "zeroshot" >&2
"$CLIPZS" eval --model "$MODEL" --store "$TEST" "${zs_args[@]}" --label-rule "$LABEL_RULE" --threads "$THREADS" \
  --out "$OUT/results/zeroshot.json" --skip-existing >"$OUT/logs/zeroshot.json" 2>"$OUT/logs/zeroshot.err" \
  || { echo "zero-shot eval failed: see $OUT/logs/zeroshot.err" >&2; exit 1; }

for k in $SHOTS; do
  for seed in $SEEDS; do
    for m in $RUN_METHODS; do
      name="$m-K$k-s$seed"
      state="$OUT/states/$name"
      echo "$name" >&2
      extra=()
      [ "$m" = relation ] && extra=(--model "$MODEL")  # its text encoder embeds the anchors
      if [ ! -f "$state/state.json" ]; then
        "$CLIPZS" adapt "$m" "${extra[@]}" --train "$TRAIN" --val "$VAL" --text "$TEXT" --shots "$k" --seed "$seed" \
          --label-rule "$LABEL_RULE" --threads "$THREADS" --out "$state" --overwrite \
          >"$OUT/logs/$name.adapt.json" 2>"$OUT/logs/$name.adapt.err" \
          || { echo "adapt $name failed: see $OUT/logs/$name.adapt.err" >&2; exit 1; }
      fi
      "$CLIPZS" eval --model "$MODEL" --store "$TEST" --method "$m" --state "$state" --label-rule "$LABEL_RULE" \
        --threads "$THREADS" --out "$OUT/results/$name.json" --skip-existing \
        >"$OUT/logs/$name.eval.json" 2>"$OUT/logs/$name.eval.err" \
        || { echo "eval $name failed: see $OUT/logs/$name.eval.err" >&2; exit 1; }
    done
  done
done

"$PY" - "$OUT/results" "$SHOTS" "$SEEDS" "$RUN_METHODS" <<'PYEOF' | tee "$OUT/summary.md"
import json, os, statistics, sys
results, shots, seeds, methods = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
acc = lambda path: 100 * json.load(open(path))["metrics"]["acc1"]
zs = acc(os.path.join(results, "zeroshot.json"))
def cell(values):
    if not values: return "–", None
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.2f} ± {sd:.2f}", mean
rows, gains = [], []
for m in methods:
    row, gain = [m], [m]
    for k in shots:
        vals = [acc(p) for s in seeds if os.path.exists(p := os.path.join(results, f"{m}-K{k}-s{s}.json"))]
        text, mean = cell(vals)
        row.append(text + ("" if len(vals) == len(seeds) else f" (n={len(vals)})"))
        gain.append("–" if mean is None else f"{mean - zs:+.2f}")
    rows.append(row); gains.append(gain)
head = "| method | " + " | ".join(f"K={k}" for k in shots) + " |\n|---|" + "---:|" * len(shots)
print(f"Top-1 accuracy (%) on the test store, mean ± sample std over seeds {', '.join(seeds)}.\n")
print(head)
print("| zeroshot | " + " | ".join(f"{zs:.2f}" for _ in shots) + " |")
for r in rows: print("| " + " | ".join(r) + " |")
print("\nGain over zero-shot (points of top-1, mean over seeds).\n")
print(head)
for g in gains: print("| " + " | ".join(g) + " |")
PYEOF
