#!/usr/bin/env bash
# adapt relation on Fashion-MNIST embedded by the tiny random-weight bundle, with augmented training
# views: the mechanics (state files, numpy re-evaluation of the module, determinism, training-free mode,
# bad inputs), not accuracy.
source "$(dirname "$0")/lib.sh"
need_fmnist
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_train" --split train --per-class 6 >/dev/null
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_test" --split test --per-class 4 >/dev/null
CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
expect_exit 0 "embed images --augment 3" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_train" --augment 3 \
  --augment-seed 5 --out "$WORK/train_aug" --threads 1 --no-progress
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_train" --augment 3 --augment-seed 5 --out "$WORK/train_aug2" \
  --threads 1 --no-progress >/dev/null 2>&1 || fail "second augmented embed"
py_check "augmented store: 3 views per image, same seed same views, views differ from each other" "
import json, numpy as np
rows = [json.loads(l) for l in open('$WORK/train_aug/rows.jsonl')]; e = np.load('$WORK/train_aug/embeddings.npy')
assert len(rows) == 180 and [r['view'] for r in rows[:4]] == [0, 1, 2, 0] and rows[4]['source'] == 1, rows[:5]
assert np.array_equal(e, np.load('$WORK/train_aug2/embeddings.npy'))
assert not np.array_equal(e[0], e[1])
m = json.load(open('$WORK/train_aug/manifest.json')); assert m['augment']['views'] == 3 and m['augment']['seed'] == 5"
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_train" --out "$WORK/val" --threads 1 --no-progress >/dev/null 2>&1 || fail "embed val"
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm_test" --out "$WORK/test" --threads 1 --no-progress >/dev/null 2>&1 || fail "embed test"
"$CLIPZS" embed texts --model "$TINY_VIT" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" \
  --dataset fashion-mnist --out "$WORK/txt" >/dev/null 2>&1 || fail "embed texts"
printf '# anchors\napple\nriver\nhouse\nchair\ncloud\nstone\nmusic\npaper\nshirt\n' >"$WORK/anchors.txt"
common=(--model "$TINY_VIT" --train "$WORK/train_aug" --val "$WORK/val" --text "$WORK/txt" --anchors "$WORK/anchors.txt"
        --threads 1 --epochs 3 --batch-size 16 --heads 2)

expect_exit 0 "adapt relation, K = 2" -- "$CLIPZS" adapt relation "${common[@]}" --shots 2 --seed 1 --out "$WORK/rel"
expect_exit 0 "the same again" -- "$CLIPZS" adapt relation "${common[@]}" --shots 2 --seed 1 --out "$WORK/rel_same"
py_check "relation state: all views of 2 images per class, anchors without class words, learned tokens, deterministic" "
import json, numpy as np
s = json.load(open('$WORK/rel/state.json'))
assert s['method'] == 'relation' and len(s['train_rows']) == 2 * 10 * 3, len(s['train_rows'])
assert s['parameters']['anchors'] == ['apple', 'river', 'house', 'chair', 'cloud', 'stone', 'music', 'paper'], s['parameters']['anchors']
assert len(s['history']) == 3 and np.load('$WORK/rel/anchor_tokens.npy').shape[1] == 64
for n in ['anchor_features', 'w_q', 'w_k', 'anchor_tokens']:
    assert np.array_equal(np.load('$WORK/rel/%s.npy' % n), np.load('$WORK/rel_same/%s.npy' % n)), n"

py_check "validation never uses an image drawn as a shot (--val holds the same files as the augmented --train)" "
import json
s = json.load(open('$WORK/rel/state.json'))
tr = [json.loads(l)['path'] for l in open('$WORK/train_aug/rows.jsonl')]; va = [json.loads(l)['path'] for l in open('$WORK/val/rows.jsonl')]
shots = {tr[r] for r in s['train_rows']}; chosen = {va[r] for r in s['val_rows']}
assert len(shots) == 20 and len(chosen) == 20 and not (shots & chosen), (len(shots), len(chosen), shots & chosen)"

expect_exit 0 "eval --method relation" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/test" --method relation \
  --state "$WORK/rel" --out "$WORK/eval.json"
py_check "eval's accuracy equals numpy's evaluation of the module from the state files" "
import json, numpy as np
d = '$WORK/rel'; s = json.load(open(d + '/state.json')); p = s['parameters']; a = lambda n: np.load(d + '/' + n + '.npy').astype(np.float64)
x = np.load('$WORK/test/embeddings.npy').astype(np.float64); T, F, Wq, Wk = a('text_proxies'), a('anchor_features'), a('w_q'), a('w_k')
def softmax(z, ax): z = z - z.max(ax, keepdims=True); e = np.exp(z); return e / e.sum(ax, keepdims=True)
R = softmax(T @ F.T / p['tau_r'], 1); H = p['heads']; q = (x @ Wq).reshape(len(x), H, -1); k = (F @ Wk).reshape(len(F), H, -1)
q /= np.linalg.norm(q, axis=2, keepdims=True); k /= np.linalg.norm(k, axis=2, keepdims=True)
A = softmax(np.einsum('bhd,mhd->hbm', q, k) / p['tau_a'], 2); o = (A @ R.T).mean(0)
logits = p['logit_scale'] * x @ T.T + p['gamma'] * (len(F) * o - 1)
rows = [json.loads(l) for l in open('$WORK/test/rows.jsonl')]
y = np.array([s['classnames'].index(r['label'].replace('_', ' ')) for r in rows])
r = json.load(open('$WORK/eval.json')); assert abs(r['metrics']['acc1'] - (logits.argmax(1) == y).mean()) < 1e-9, (r['metrics'], (logits.argmax(1) == y).mean())
assert r['task'] == 'fewshot_classification'"

expect_exit 0 "adapt relation --training-free" -- "$CLIPZS" adapt relation "${common[@]}" --shots 2 --seed 1 --training-free --out "$WORK/rel_tf"
py_check "training-free: identity projections, word anchors, gamma from the grid" "
import json, numpy as np
s = json.load(open('$WORK/rel_tf/state.json'))
assert np.array_equal(np.load('$WORK/rel_tf/w_q.npy'), np.eye(32, dtype=np.float32))
assert s['parameters']['gamma'] in [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]"

expect_exit 2 "heads that do not divide the width" -- "$CLIPZS" adapt relation "${common[@]}" --shots 1 --heads 5 --out "$WORK/bad_heads"
expect_exit 3 "a bundle other than the stores'" -- "$CLIPZS" adapt relation --model "$TINY_RN" --train "$WORK/train_aug" \
  --val "$WORK/val" --text "$WORK/txt" --shots 1 --out "$WORK/bad_model"
expect_stderr "not made by --model" "the message names the mismatch"
finish
