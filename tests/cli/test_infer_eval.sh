#!/usr/bin/env bash
# infer and eval end to end on real images (Fashion-MNIST PNGs from Debian's dataset-fashion-mnist):
# output formats, caching, thresholds, class subsets, and metrics recomputed independently in numpy.
source "$(dirname "$0")/lib.sh"
need_fmnist
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm" --per-class 5 >/dev/null
CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
common=(--model "$TINY_VIT" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" --dataset fashion-mnist
        --cache-dir "$WORK/cache" --threads 1)

expect_exit 0 "infer a labelled folder to CSV" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --out "$WORK/pred.csv" --top-k 3
py_check "CSV: 50 rows in listing order, top-3 sorted, probabilities in (0, 1]" "
import csv
rows = list(csv.DictReader(open('$WORK/pred.csv')))
assert len(rows) == 50, len(rows)
assert [int(r['index']) for r in rows] == list(range(50))
for r in rows:
    p = [float(r['p1']), float(r['p2']), float(r['p3'])]
    assert p == sorted(p, reverse=True) and 0 < p[0] <= 1, p
    assert r['prediction'] == r['top1'] and r['status'] == 'ok'"
expect_exit 0 "second run reuses cached embeddings" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --threshold 0.6
expect_stderr "class embeddings from cache" "class proxies came from the cache"
expect_stderr "image embeddings from" "image embeddings came from the cache"
py_check "JSONL on stdout; rows under --threshold are 'unknown'" "
import json
rows = [json.loads(l) for l in open('$WORK/out')]
assert len(rows) == 50
for r in rows:
    assert (r['prediction'] == 'unknown') == (r['probability'] < 0.6), r
    assert r['prediction'] == 'unknown' or r['prediction'] == r['top'][0]['class']"
expect_exit 0 "infer restricted to two classes" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --subset "bag,sandal"
py_check "only subset classes, probabilities over the subset sum to 1" "
import json
rows = [json.loads(l) for l in open('$WORK/out')]
for r in rows:
    assert {t['class'] for t in r['top']} == {'bag', 'sandal'}, r
    assert abs(sum(t['probability'] for t in r['top']) - 1) < 1e-5"
expect_exit 3 "--subset with a class that is not listed" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --subset "bag,zebra"
expect_stderr "zebra" "message names the class"

expect_exit 0 "eval on the labelled folder" -- "$CLIPZS" eval "${common[@]}" --input "$WORK/fm" --out "$WORK/res/a.json"
py_check "metrics equal an independent numpy computation over the same stores" "
import json, numpy as np
r = json.load(open('$WORK/res/a.json')); c = r['context']
img = np.load(c['image_store'] + '/embeddings.npy').astype(np.float64)
cls = np.load(c['class_store'] + '/embeddings.npy').astype(np.float64)
names = json.load(open('$CFG/classnames.json'))['fashion-mnist']
rows = [json.loads(l) for l in open(c['image_store'] + '/rows.jsonl')]
y = np.array([names.index(x['label']) for x in rows])
logits = 100 * img @ cls.T
order = np.argsort(-logits, axis=1)
acc1 = (order[:, 0] == y).mean(); acc5 = (order[:, :5] == y[:, None]).any(1).mean()
recall = [(order[y == k, 0] == k).mean() for k in range(10)]
m = r['metrics']
assert abs(m['acc1'] - acc1) < 1e-12 and abs(m['acc5'] - acc5) < 1e-12, (m, acc1, acc5)
assert abs(m['mean_per_class_recall'] - np.mean(recall)) < 1e-12
conf = np.zeros((10, 10), int)
for t, p in zip(y, order[:, 0]): conf[t, p] += 1
assert (np.array(r['confusion_matrix']) == conf).all()
assert r['task'] == 'zeroshot_classification' and r['dataset'] == 'fashion-mnist'
assert c['bundle']['sha256'] and c['hardware']['cpu'] and r['counts']['evaluated'] == 50
print('acc1', acc1, 'acc5', acc5)"
expect_exit 0 "--skip-existing leaves a finished result alone" -- "$CLIPZS" eval "${common[@]}" --input "$WORK/fm" --out "$WORK/res/a.json" --skip-existing
py_check "reported as skipped" "import json; assert json.loads(open('$WORK/out').read())['skipped'] is True"
expect_exit 0 "eval from an existing store" -- "$CLIPZS" eval "${common[@]}" --store "$(/usr/bin/python3 -c "import json;print(json.load(open('$WORK/res/a.json'))['context']['image_store'])")" --out "$WORK/res/b.json"
expect_exit 0 "summarize two results" -- "$CLIPZS" eval summarize "$WORK/res/a.json" "$WORK/res/b.json" --csv "$WORK/sum.csv"
py_check "CSV with one line per result, Markdown on stdout" "
lines = open('$WORK/sum.csv').read().splitlines(); assert len(lines) == 3 and lines[0].startswith('file,dataset'), lines
md = open('$WORK/out').read(); assert md.count('| fashion-mnist |') == 2, md"

expect_exit 0 "infer into a named --image-store" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --image-store "$WORK/named" --out "$WORK/p2.csv"
# --dtype aliases: float32 is fp32, parsed once; the named store made at fp32 is reused, not re-embedded.
expect_exit 0 "infer --dtype float32 over the same named --image-store" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" \
  --image-store "$WORK/named" --dtype float32 --out "$WORK/p3.csv"
expect_stderr "image embeddings from .*named" "the fp32 store is reused under the alias"
cmp -s "$WORK/p2.csv" "$WORK/p3.csv" && pass "same predictions" || fail "--dtype float32 predicted differently from fp32"
expect_exit 0 "eval --dtype float32 reuses the cached class embeddings" -- "$CLIPZS" eval "${common[@]}" --input "$WORK/fm" \
  --dtype float32 --out "$WORK/alias.json"
expect_stderr "class embeddings from cache" "the class cache is keyed on the parsed dtype"
py_check "results record the canonical dtype" "
import json; p = json.load(open('$WORK/alias.json'))['context']['parameters']; assert p['model_dtype'] == 'fp32', p"
expect_exit 2 "an unknown --dtype is a usage error" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --dtype float64
expect_stderr "float64" "the message names the value"
# Error rows in the CSV carry their reason, as the JSONL does.
{ ls "$WORK"/fm/bag/*.png | head -2; echo "$WORK/no_such.png"; } > "$WORK/with_missing.txt"
expect_exit 0 "infer to CSV over a list with a missing file" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/with_missing.txt" \
  --out "$WORK/err.csv" --top-k 2
py_check "the error row has status error and its reason in the error column; ok rows leave it empty" "
import csv
rows = list(csv.DictReader(open('$WORK/err.csv')))
assert len(rows) == 3 and 'error' in rows[0], rows[0].keys()
assert [r['status'] for r in rows] == ['ok', 'ok', 'error'], rows
assert rows[0]['error'] == '' and ('No such file' in rows[2]['error'] or 'does not exist' in rows[2]['error']), rows[2]
assert rows[2]['prediction'] == '' and rows[0]['prediction'] != ''"
mkdir -p "$WORK/fm2/bag"; cp "$WORK/fm/bag/"*.png "$WORK/fm2/bag/"
expect_exit 5 "a named --image-store holding other images is not overwritten" -- \
  "$CLIPZS" infer "${common[@]}" --input "$WORK/fm2" --image-store "$WORK/named"
py_check "the named store still holds the first run's 50 rows" "
import json; assert json.load(open('$WORK/named/manifest.json'))['rows'] == 50"
printf 'cat\ndog\n' > "$WORK/two.txt"
expect_exit 3 "labels that match no class list entry" -- "$CLIPZS" eval --model "$TINY_VIT" --classes "$WORK/two.txt" \
  --cache-dir "$WORK/cache" --input "$WORK/fm" --out "$WORK/res/c.json"
expect_stderr "row 0 .*ankle boot" "message names the row and its label"
mkdir -p "$WORK/nolabel"; cp "$WORK/fm/bag/"*.png "$WORK/nolabel/"
expect_exit 3 "eval without labels" -- "$CLIPZS" eval "${common[@]}" --input "$WORK/nolabel" --out "$WORK/res/d.json"
expect_stderr "has no label" "message says the row has no label"
expect_exit 2 "a method this version does not have" -- "$CLIPZS" infer "${common[@]}" --input "$WORK/fm" --method inmap
"$CLIPZS" embed images --model "$TINY_RN" --input "$WORK/fm" --out "$WORK/rnstore" >/dev/null 2>&1
expect_exit 3 "a store made by another bundle" -- "$CLIPZS" eval "${common[@]}" --store "$WORK/rnstore" --out "$WORK/res/e.json"
expect_stderr "random-rn-tiny" "message names the store's bundle"
finish
