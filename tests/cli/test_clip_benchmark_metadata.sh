#!/usr/bin/env bash
# CLIP_benchmark's own metadata (../shared/reference/datasets: en_classnames.json and
# en_zeroshot_classification_templates.json, MIT, LAION-AI/CLIP_benchmark): read by embed/infer/eval as
# users pass them, ImageNet's 1000 names x 80 templates, its repeated names included.
source "$(dirname "$0")/lib.sh"
DS="$CLIPZS_SHARED_DIR/reference/datasets"
CN="$DS/en_classnames.json" TP="$DS/en_zeroshot_classification_templates.json"
if [ ! -f "$CN" ] || [ ! -f "$TP" ]; then
  skip_part "$DS is absent (../shared/reference): CLIP_benchmark's metadata not tested"
  finish
fi
expect_exit 0 "embed texts: imagenet1k, 1000 classes x 80 templates" -- "$CLIPZS" embed texts --model "$TINY_VIT" \
  --classes "$CN" --templates "$TP" --dataset imagenet1k --out "$WORK/in1k" --threads 2
expect_stderr "'missile' appears more than once" "the repeated name 'missile' is reported"
expect_stderr "'sunglasses' appears more than once" "the repeated name 'sunglasses' is reported"
py_check "one unit-norm row per class, in the file's order, repeated names kept as separate classes" "
import json, numpy as np
names = json.load(open('$CN'))['imagenet1k']; tmpl = json.load(open('$TP'))['imagenet1k']
assert len(names) == 1000 and len(tmpl) == 80
e = np.load('$WORK/in1k/embeddings.npy'); assert e.shape[0] == 1000, e.shape
assert np.allclose(np.linalg.norm(e.astype(np.float64), axis=1), 1, atol=1e-3)
rows = [json.loads(l) for l in open('$WORK/in1k/rows.jsonl')]
assert [r['label'] for r in rows] == names, [r for r in rows[:3]]
dups = [i for i, n in enumerate(names) if names.count(n) > 1]
assert len(dups) == 4, dups
a, b = [i for i in dups if names[i] == 'missile']
assert np.allclose(e[a], e[b], atol=1e-6), 'the same name and prompts gave different rows'
"
expect_exit 3 "a dataset key the class file lacks (cifar10 is in the templates only)" -- "$CLIPZS" embed texts \
  --model "$TINY_VIT" --classes "$CN" --templates "$TP" --dataset cifar10 --out "$WORK/c10"
expect_stderr "has no key 'cifar10'" "the message names the missing key"

# infer and eval over images labelled by ImageNet class index (CLIP_benchmark's order), with the class
# file alone (one prompt per class: the 80-template ensemble above already costs a minute on 2 cores).
make_images "$WORK/imgs"
"$PY" - "$WORK/imgs" "$WORK/labels.csv" <<'PYEOF'
import csv, glob, sys
files = sorted(glob.glob(sys.argv[1] + "/*/*.*"))
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f); w.writerow(["path", "label"])
    for i, p in enumerate(files): w.writerow([p, [281, 285, 657, 744, 836, 837][i % 6]])  # cats, missile x2, sunglasses x2
PYEOF
common=(--model "$TINY_VIT" --classes "$CN" --dataset imagenet1k --cache-dir "$WORK/cache" --threads 2)
expect_exit 0 "infer with the imagenet1k metadata" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/labels.csv" --top-k 5 \
  --out "$WORK/pred.jsonl"
py_check "every prediction is one of the 1000 names, top-5 per row" "
import json
names = set(json.load(open('$CN'))['imagenet1k'])
rows = [json.loads(l) for l in open('$WORK/pred.jsonl')]
assert len(rows) == 6, len(rows)
for r in rows:
    assert r['prediction'] in names, r
    assert len(r['top']) == 5 and all(t['class'] in names for t in r['top']), r"
expect_exit 0 "eval with index labels" -- "$CLIPZS" eval "${common[@]}" --input "$WORK/labels.csv" --label-rule index \
  --out "$WORK/res.json"
py_check "eval counts 1000 classes and 6 rows, names in the file's order, a 1000 x 1000 confusion matrix" "
import json
r = json.load(open('$WORK/res.json')); names = json.load(open('$CN'))['imagenet1k']
assert r['counts']['classes'] == 1000 and r['counts']['evaluated'] == 6, r['counts']
assert [c['class'] for c in r['per_class']] == names
cm = r['confusion_matrix']; assert len(cm) == 1000 and all(len(row) == 1000 for row in cm) and sum(map(sum, cm)) == 6
assert [c['count'] for c in r['per_class'] if c['count']] == [1, 1, 1, 1, 1, 1], 'one image per label index'
assert 0 <= r['metrics']['acc1'] <= 1 and r['metrics']['acc5'] >= r['metrics']['acc1']"
finish
