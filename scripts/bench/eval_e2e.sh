#!/usr/bin/env bash
# `clipzs eval --store` end to end at ImageNet size (50,000 x 768 image rows, 1,000 classes): process
# start to exit, reading the store and checking its sha256s, the class embeddings from the cache, the
# scores, and the results JSON with its 1000 x 1000 confusion matrix. Beside it, CLIP_benchmark's
# zero-shot loop on the same features (its metrics: top-1/top-5 accuracy and mean per-class recall from
# `100 * image @ classifier.T`, in its batch size of 64 rows, results JSON written), also timed as a
# whole process.
#   scripts/bench/eval_e2e.sh [THREADS] [REPEAT]
# Data: bench-out/synth-imagenet (scripts/make_synthetic_features.py, as the InMaP benchmark) written as a
# clipzs image store of bundle vit-tiny-d768 (tiny towers, 768-wide embedding; scripts/make_test_bundle.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
T=${1:-$(nproc)}
REPEAT=${2:-2}
PY=/usr/bin/python3
CLIPZS=${CLIPZS:-build/clipzs}
DATA=bench-out/synth-imagenet
OUT=bench-out/eval_e2e
BUNDLE=bench-out/bundles/vit-tiny-d768
mkdir -p "$OUT"
[ -f "$DATA/features.npy" ] || $PY scripts/make_synthetic_features.py --out "$DATA" >&2
[ -f "$BUNDLE/bundle.json" ] || $PY scripts/make_test_bundle.py --arch vit-tiny-d768 --seed 0 \
  --vocab tests/fixtures/bundles/tiny-vit/tiny_merges.txt --out "$BUNDLE" >&2
# A one-image store made by clipzs gives the manifest of this bundle; the 50,000 rows replace its data.
if [ ! -f "$OUT/store/manifest.json" ]; then
  rm -rf "$OUT/seed" "$OUT/store"
  mkdir -p "$OUT/img"; $PY -c "from PIL import Image; Image.new('RGB', (64, 64), (90, 120, 30)).save('$OUT/img/a.png')"
  $CLIPZS embed images --model "$BUNDLE" --input "$OUT/img" --out "$OUT/seed" --threads "$T" --no-progress >/dev/null
  $PY - "$DATA" "$OUT/seed" "$OUT/store" <<'PY'
import hashlib, json, os, sys, numpy as np
data, seed, out = sys.argv[1:4]
x = np.load(data + "/features.npy").astype(np.float32); y = np.load(data + "/labels.npy")
os.makedirs(out)
np.save(out + "/embeddings.npy", x)
with open(out + "/rows.jsonl", "w") as f:
    for i, label in enumerate(y):
        f.write(json.dumps({"index": i, "label": str(int(label)), "path": "synthetic/%05d.jpg" % i, "status": "ok"},
                           separators=(",", ":"), sort_keys=True) + "\n")
m = json.load(open(seed + "/manifest.json"))
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
m.update(rows=len(x), dim=x.shape[1], ok_rows=len(x), error_rows=0,
         files={"embeddings.npy": sha(out + "/embeddings.npy"), "rows.jsonl": sha(out + "/rows.jsonl")})
m["run"].update(rows=len(x), dim=x.shape[1], inputs_sha256="synthetic")
json.dump(m, open(out + "/manifest.json", "w"), indent=1, sort_keys=True)
PY
fi
# 1,000 class names: CLIP_benchmark's ImageNet list where ../shared has it (labels are indices, so its two
# repeated names do not matter), else "class N".
CLASSES=$OUT/classes.txt
if [ -f ../shared/reference/datasets/en_classnames.json ]; then
  $PY -c "import json; print('\n'.join(json.load(open('../shared/reference/datasets/en_classnames.json'))['imagenet1k']))" > "$CLASSES"
else
  seq 0 999 | sed 's/^/class /' > "$CLASSES"
fi
eval_cmd=("$CLIPZS" eval --model "$BUNDLE" --store "$OUT/store" --classes "$CLASSES" --label-rule index
          --cache-dir "$OUT/cache" --threads "$T" --out "$OUT/clipzs.json" --dataset-name synthetic-imagenet)
rm -rf "$OUT/cache"
"${eval_cmd[@]}" >/dev/null 2>"$OUT/fill.err" || { cat "$OUT/fill.err" >&2; exit 1; }  # fills the class cache; not timed
CLS=$(ls -d "$OUT"/cache/text/*/ | head -1)embeddings.npy
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads=$T"
for r in $(seq 1 "$REPEAT"); do
  /usr/bin/time -f '%e %M' -o "$OUT/clipzs.time" "${eval_cmd[@]}" >/dev/null 2>"$OUT/clipzs.err"
  read -r s kb < "$OUT/clipzs.time"
  echo "{\"impl\": \"clipzs eval --store\", \"run\": $r, \"seconds\": $s, \"maxrss_mb\": $((kb / 1024))}"
  /usr/bin/time -f '%e %M' -o "$OUT/ref.time" $PY - "$OUT/store" "$CLS" "$T" "$OUT/reference.json" <<'PY'
import json, sys, time
import numpy as np, torch
store, cls_path, threads, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
feats = torch.from_numpy(np.load(store + "/embeddings.npy"))
target = torch.tensor([int(json.loads(l)["label"]) for l in open(store + "/rows.jsonl")])
classifier = torch.from_numpy(np.load(cls_path)).T  # d x C, as CLIP_benchmark's zero_shot_classifier returns
logits_all, pred_all = [], []
with torch.no_grad():
    for i in range(0, len(feats), 64):  # CLIP_benchmark's default --batch_size
        logits = 100.0 * feats[i:i + 64] @ classifier
        logits_all.append(logits); pred_all.append(logits.argmax(1))
logits = torch.cat(logits_all); pred = torch.cat(pred_all)
top5 = logits.topk(5, 1).indices
acc1 = (top5[:, 0] == target).float().mean().item(); acc5 = (top5 == target[:, None]).any(1).float().mean().item()
C = classifier.shape[1]
recall = [((pred == c) & (target == c)).sum().item() / max(1, (target == c).sum().item()) for c in range(C)]
json.dump({"metrics": {"acc1": acc1, "acc5": acc5, "mean_per_class_recall": float(np.mean(recall))}}, open(out, "w"))
PY
  read -r s kb < "$OUT/ref.time"
  echo "{\"impl\": \"CLIP_benchmark loop (torch $($PY -c 'import torch; print(torch.__version__)'))\", \"run\": $r, \"seconds\": $s, \"maxrss_mb\": $((kb / 1024))}"
done
$PY - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
a = json.load(open(out + "/clipzs.json")); b = json.load(open(out + "/reference.json"))
ma = a["metrics"]; mb = b["metrics"]
print(json.dumps({"clipzs": {k: ma.get(k) for k in ("acc1", "acc5", "mean_per_class_recall")}, "reference": mb,
                  "confusion_matrix_cells": sum(len(r) for r in a["confusion_matrix"]),
                  "results_json_bytes": len(open(out + "/clipzs.json", "rb").read())}))
PY
