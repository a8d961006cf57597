#!/usr/bin/env bash
# adapt linear-probe / tip-adapter / tip-adapter-f on Fashion-MNIST embedded by the tiny random-weight
# bundle: the mechanics (exit codes, state files, seeded draws, eval/infer --method), not accuracy.
source "$(dirname "$0")/lib.sh"
need_fmnist
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_train" --split train --per-class 10 >/dev/null
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_test" --split test --per-class 6 >/dev/null
CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_train" --out "$WORK/train" --threads 1 >/dev/null 2>&1 || fail "embed train images"
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_test" --out "$WORK/test" --threads 1 >/dev/null 2>&1 || fail "embed test images"
"$CLIPZS" embed texts --model "$TINY_VIT" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" \
  --dataset fashion-mnist --out "$WORK/txt" >/dev/null 2>&1 || fail "embed texts"
"$CLIPZS" embed texts --model "$TINY_RN" --classes "$CFG/classnames.json" --dataset fashion-mnist --out "$WORK/txt_rn" >/dev/null 2>&1 \
  || fail "embed texts (tiny-rn)"
# The train store doubles as validation store: the drawn shots are left out of validation.
common=(--train "$WORK/train" --val "$WORK/train" --text "$WORK/txt" --threads 1)

# numpy's own evaluation of a state on the test store (the formulas of baselines.hpp), to compare with eval.
STATE_ACC="
import json, numpy as np
def state_acc(state, store):
    s = json.load(open(state + '/state.json')); a = lambda n: np.load(state + '/' + n + '.npy').astype(np.float64)
    x = np.load(store + '/embeddings.npy').astype(np.float64)
    rows = [json.loads(l) for l in open(store + '/rows.jsonl')]
    y = np.array([s['classnames'].index(r['label'].replace('_', ' ')) for r in rows])
    p = s['parameters']
    if s['method'] == 'linear-probe':
        logits = x @ a('weights').T + a('bias')
    else:
        logits = p['logit_scale'] * x @ a('text_proxies').T + p['alpha'] * np.exp(-p['beta'] * (1 - x @ a('keys').T)) @ a('values')
    return float((logits.argmax(1) == y).mean())
"

# --- linear probe ---------------------------------------------------------------------------------
expect_exit 0 "linear-probe, K = 2" -- "$CLIPZS" adapt linear-probe "${common[@]}" --shots 2 --seed 1 --out "$WORK/lp" --max-iters 100
expect_exit 0 "linear-probe again with the same seed" -- "$CLIPZS" adapt linear-probe "${common[@]}" --shots 2 --seed 1 --out "$WORK/lp_same" --max-iters 100
expect_exit 0 "linear-probe with another seed" -- "$CLIPZS" adapt linear-probe "${common[@]}" --shots 2 --seed 2 --out "$WORK/lp_seed2" --max-iters 100
py_check "linear-probe state: files, provenance, a seeded draw" "
import json, numpy as np
s = json.load(open('$WORK/lp/state.json')); t = json.load(open('$WORK/lp_same/state.json')); u = json.load(open('$WORK/lp_seed2/state.json'))
m = json.load(open('$WORK/txt/manifest.json'))
assert s['method'] == 'linear-probe' and s['shots'] == 2 and s['seed'] == 1 and s['val_shots'] == 2, s
assert s['bundle_sha256'] == m['bundle']['sha256'] and len(s['classnames']) == 10
assert s['arrays'] == {'weights': [10, s['d']], 'bias': [1, 10]}, s['arrays']
assert s['parameters']['l2'] in [e['l2'] for e in s['l2_search']]
assert len(s['train_rows']) == 20 and len(s['val_rows']) == 20 and not set(s['train_rows']) & set(s['val_rows'])
rows = [json.loads(l) for l in open('$WORK/train/rows.jsonl')]
from collections import Counter
assert sorted(Counter(rows[r]['label'] for r in s['train_rows']).values()) == [2] * 10
for k in ['train_accuracy', 'val_accuracy', 'val_accuracy_zeroshot']: assert 0 <= s['metrics'][k] <= 1
assert s['train_rows'] == t['train_rows'] and s['val_rows'] == t['val_rows']
for n in ['weights', 'bias']: assert (np.load('$WORK/lp/%s.npy' % n) == np.load('$WORK/lp_same/%s.npy' % n)).all(), n
assert s['train_rows'] != u['train_rows']"
expect_exit 0 "eval --method linear-probe" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" --method linear-probe \
  --state "$WORK/lp" --out "$WORK/res_lp.json"
py_check "eval's acc1 is the state's own test accuracy (linear-probe)" "$STATE_ACC
r = json.load(open('$WORK/res_lp.json'))
assert r['context']['method'] == 'linear-probe' and r['context']['fewshot']['shots'] == 2, r['context']
assert r['metrics']['acc1'] == state_acc('$WORK/lp', '$WORK/test'), (r['metrics'], state_acc('$WORK/lp', '$WORK/test'))"

# --- Tip-Adapter ----------------------------------------------------------------------------------
expect_exit 0 "tip-adapter, K = 4" -- "$CLIPZS" adapt tip-adapter "${common[@]}" --shots 4 --seed 3 --out "$WORK/tip"
py_check "tip-adapter state: one key per shot, one-hot values, alpha and beta from the grid" "
import json, numpy as np
s = json.load(open('$WORK/tip/state.json')); p = s['parameters']
k = np.load('$WORK/tip/keys.npy'); v = np.load('$WORK/tip/values.npy')
assert k.shape[0] == 40 and v.shape == (40, 10) and (v.sum(1) == 1).all() and (v.sum(0) == 4).all()
assert np.allclose(np.linalg.norm(k, axis=1), 1, atol=1e-5)
assert 0.1 <= p['alpha'] < 3 and 0.1 <= p['beta'] < 7 and p['logit_scale'] == 100, p
assert s['val_shots'] == 4"
expect_exit 0 "eval --method tip-adapter" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" --method tip-adapter \
  --state "$WORK/tip" --out "$WORK/res_tip.json"
py_check "eval's acc1 is the state's own test accuracy (tip-adapter)" "$STATE_ACC
r = json.load(open('$WORK/res_tip.json'))
assert r['task'] == 'fewshot_classification'
assert r['metrics']['acc1'] == state_acc('$WORK/tip', '$WORK/test'), (r['metrics'], state_acc('$WORK/tip', '$WORK/test'))"
expect_exit 0 "infer --method tip-adapter" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/test" --method tip-adapter \
  --state "$WORK/tip" --top-k 3
py_check "infer gives one prediction per test image, from the state's classes" "
import json
rows = [json.loads(l) for l in open('$WORK/out')]; s = json.load(open('$WORK/tip/state.json'))
assert len(rows) == 60 and all(r['prediction'] in s['classnames'] and len(r['top']) == 3 for r in rows)"

# --- Tip-Adapter-F --------------------------------------------------------------------------------
for run in a b; do
  expect_exit 0 "tip-adapter-f, K = 2 (run $run)" -- "$CLIPZS" adapt tip-adapter-f "${common[@]}" --shots 2 --seed 1 --epochs 5 \
    --batch-size 8 --out "$WORK/tipf_$run"
done
py_check "tip-adapter-f: a log per epoch, identical runs for one seed" "
import json, numpy as np
a = json.load(open('$WORK/tipf_a/state.json')); b = json.load(open('$WORK/tipf_b/state.json'))
assert a['method'] == 'tip-adapter-f' and len(a['train_log']) == 5 and a['parameters']['epochs'] == 5
assert a['train_log'] == b['train_log'] and a['parameters'] == b['parameters']
assert (np.load('$WORK/tipf_a/keys.npy') == np.load('$WORK/tipf_b/keys.npy')).all()"
expect_exit 0 "eval --method tip-adapter-f" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" --method tip-adapter-f \
  --state "$WORK/tipf_a" --out "$WORK/res_tipf.json"
py_check "eval's acc1 is the state's own test accuracy (tip-adapter-f)" "$STATE_ACC
r = json.load(open('$WORK/res_tipf.json'))
assert r['metrics']['acc1'] == state_acc('$WORK/tipf_a', '$WORK/test'), (r['metrics'], state_acc('$WORK/tipf_a', '$WORK/test'))"

# --- augmented views: rows sharing "source" are one image -----------------------------------------
"$PY" - "$WORK/train" "$WORK/views" <<'PYEOF' || fail "make the views store"
import hashlib, json, os, sys
import numpy as np
src, dst = sys.argv[1:]
os.makedirs(dst)
raw = np.load(src + "/embeddings.npy"); x = raw.astype(np.float32)
rows = [json.loads(l) for l in open(src + "/rows.jsonl")]
rng = np.random.default_rng(0)
out_x, out_rows = [], []
for v, r in zip(x, rows):
    for j in range(3):
        y = v + 0.01 * rng.standard_normal(v.shape).astype(np.float32)
        out_x.append(y / np.linalg.norm(y)); out_rows.append(dict(r, index=len(out_rows), source=r["path"], view=j))
out_x.append(np.zeros_like(x[0]))
out_rows.append({"index": len(out_rows), "path": "broken.png", "label": rows[0]["label"], "status": "error", "error": "unreadable"})
np.save(dst + "/embeddings.npy", np.stack(out_x).astype(raw.dtype))
with open(dst + "/rows.jsonl", "w") as f:
    for r in out_rows: f.write(json.dumps(r) + "\n")
m = json.load(open(src + "/manifest.json"))
m["rows"] = len(out_rows)
m["files"] = {n: hashlib.sha256(open(dst + "/" + n, "rb").read()).hexdigest() for n in ["embeddings.npy", "rows.jsonl"]}
json.dump(m, open(dst + "/manifest.json", "w"))
PYEOF
expect_exit 0 "tip-adapter on a store of augmented views" -- "$CLIPZS" adapt tip-adapter --train "$WORK/views" --val "$WORK/views" \
  --text "$WORK/txt" --shots 2 --seed 1 --out "$WORK/tip_views" --threads 1
expect_stderr "1 rows of .* could not be read" "the unreadable row is left out with a warning"
py_check "all views of a drawn image are trained on; one key per image; validation images are others" "
import json, numpy as np
s = json.load(open('$WORK/tip_views/state.json')); rows = [json.loads(l) for l in open('$WORK/views/rows.jsonl')]
train = [rows[r] for r in s['train_rows']]; val = [rows[r] for r in s['val_rows']]
sources = {r['source'] for r in train}
assert len(sources) == 20 and len(train) == 60, (len(sources), len(train))
assert sorted(r['view'] for r in train) == sorted([0, 1, 2] * 20)
assert len({r['source'] for r in val}) == 20 and len(val) == 60 and not sources & {r['source'] for r in val}
assert all(r['status'] == 'ok' for r in train + val)
assert np.load('$WORK/tip_views/keys.npy').shape[0] == 20"

# --- errors ---------------------------------------------------------------------------------------
expect_exit 2 "--shots 0" -- "$CLIPZS" adapt tip-adapter "${common[@]}" --shots 0 --out "$WORK/s0"
expect_exit 3 "a class store of another model" -- "$CLIPZS" adapt linear-probe --train "$WORK/train" --val "$WORK/train" \
  --text "$WORK/txt_rn" --shots 1 --out "$WORK/s_rn"
expect_stderr "different model bundles" "the message names the bundle mismatch"
expect_exit 5 "an existing --out" -- "$CLIPZS" adapt tip-adapter "${common[@]}" --shots 1 --out "$WORK/tip"
expect_exit 0 "... replaced with --overwrite" -- "$CLIPZS" adapt tip-adapter "${common[@]}" --shots 1 --out "$WORK/tip" --overwrite
expect_exit 2 "eval --method tip-adapter without --state" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" \
  --method tip-adapter --out "$WORK/r.json"
expect_exit 3 "a state of another method" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" --method linear-probe \
  --state "$WORK/tip" --out "$WORK/r.json"
expect_exit 3 "a state used with another bundle" -- "$CLIPZS" eval --model "$TINY_RN" --store "$WORK/test" --method tip-adapter \
  --state "$WORK/tip" --out "$WORK/r.json"
expect_exit 2 "infer --subset with a few-shot state" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/test" \
  --method tip-adapter --state "$WORK/tip" --subset "t-shirt,trouser"
finish
