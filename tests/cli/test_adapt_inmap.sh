#!/usr/bin/env bash
# adapt inmap: the official reference case through the CLI, the store-to-infer/eval path on real
# images, and bad inputs.
source "$(dirname "$0")/lib.sh"
REF="$CLIPZS_SHARED_DIR/reference/inmap/case_b"
if [ -d "$REF" ]; then
  expect_exit 0 "InMaP on the official case_b features" -- "$CLIPZS" adapt inmap --features "$REF/features.npy" \
    --text-proxies "$REF/text_proxies.npy" --labels "$REF/labels.npy" --out "$WORK/state_b" \
    --tau-i 0.03 --alpha 0.7 --gamma 0.5 --iters 600 --threads 1
  py_check "accuracies within 0.05 points of the official run; state files complete" "
import json, numpy as np
s = json.load(open('$WORK/state_b/state.json')); e = json.load(open('$REF/expected.json')); m = s['metrics']
for k in ['acc_text_proxy', 'acc_vision_proxy_no_sinkhorn', 'acc_vision_proxy']:
    assert abs(m[k] - e[k]) <= 0.0005, (k, m[k], e[k])
w = np.load('$WORK/state_b/vision_proxies.npy'); assert w.shape == (96, 30)
assert np.allclose(np.linalg.norm(w, axis=0), 1, atol=1e-5)
assert np.abs(w - np.load('$REF/vision_proxies.npy')).max() < 1e-2
p = np.load('$WORK/state_b/predictions.npy'); assert (p == np.load('$REF/predictions.npy')).mean() >= 0.999
log = [json.loads(l) for l in open('$WORK/state_b/log.jsonl')]
assert len(log) == 600 and all(a['lr'] >= b['lr'] for a, b in zip(log, log[1:]))
assert log[-1]['loss'] < log[0]['loss'], (log[0], log[-1])"
  expect_exit 5 "an existing state is not overwritten silently" -- "$CLIPZS" adapt inmap --features "$REF/features.npy" \
    --text-proxies "$REF/text_proxies.npy" --out "$WORK/state_b"
  "$PY" -c "import numpy as np; x = np.load('$REF/features.npy'); x[7, 3] = np.nan; np.save('$WORK/nan.npy', x)"
  expect_exit 3 "NaN features" -- "$CLIPZS" adapt inmap --features "$WORK/nan.npy" --text-proxies "$REF/text_proxies.npy" --out "$WORK/s_nan"
  expect_stderr "row 7" "message names the row"
  "$PY" -c "import numpy as np; np.save('$WORK/w_bad.npy', np.ones((95, 30), np.float32))"
  expect_exit 3 "text proxies of another width" -- "$CLIPZS" adapt inmap --features "$REF/features.npy" --text-proxies "$WORK/w_bad.npy" --out "$WORK/s_bad"
else
  skip_part "$REF is absent (../shared/reference): the official InMaP case not tested"
fi

fmnist_stores 8
expect_exit 0 "InMaP from stores, labels from the folders" -- "$CLIPZS" adapt inmap --images "$WORK/img" --text "$WORK/txt" \
  --out "$WORK/state" --iters 200 --no-ablation
expect_exit 0 "eval with --method inmap" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/img" --method inmap \
  --state "$WORK/state" --out "$WORK/res.json"
py_check "eval's acc1 equals the accuracy adapt measured, and its predictions" "
import json, numpy as np
s = json.load(open('$WORK/state/state.json')); r = json.load(open('$WORK/res.json'))
assert abs(r['metrics']['acc1'] - s['metrics']['acc_vision_proxy']) < 1e-12, (r['metrics'], s['metrics'])
assert r['context']['method'] == 'inmap' and r['context']['parameters']['method_parameters']['iters_proxy'] == 200"
expect_exit 0 "infer with --method inmap" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/img" --method inmap --state "$WORK/state" --top-k 2
py_check "infer's predictions are the state's predictions" "
import json, numpy as np
rows = [json.loads(l) for l in open('$WORK/out')]; s = json.load(open('$WORK/state/state.json'))
p = np.load('$WORK/state/predictions.npy')
assert [r['prediction'] for r in rows] == [s['classnames'][k] for k in p]"
expect_exit 2 "--method inmap without --state" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/img" --method inmap
expect_exit 3 "a state used with another bundle" -- "$CLIPZS" infer --model "$TINY_RN" --store "$WORK/img" --method inmap --state "$WORK/state"
expect_exit 0 "a class store of the ResNet bundle" -- "$CLIPZS" embed texts --model "$TINY_RN" --classes "$CFG/classnames.json" \
  --dataset fashion-mnist --out "$WORK/txt_rn"
expect_exit 3 "image and class stores of different bundles" -- "$CLIPZS" adapt inmap --images "$WORK/img" --text "$WORK/txt_rn" --out "$WORK/s2"
expect_stderr "made by different model bundles" "the message says the stores come from different bundles"
# An existing empty folder (mkdir -p / mktemp -d) is a free --out: no --overwrite needed.
mkdir -p "$WORK/empty_out"
expect_exit 0 "adapt inmap into an existing empty folder" -- "$CLIPZS" adapt inmap --images "$WORK/img" --text "$WORK/txt" \
  --out "$WORK/empty_out" --iters 20 --no-ablation
[ -f "$WORK/empty_out/state.json" ] && pass "the state is in the folder" || fail "no state.json in the empty folder"
expect_exit 5 "the same folder, now holding a state, still needs --overwrite" -- "$CLIPZS" adapt inmap --images "$WORK/img" \
  --text "$WORK/txt" --out "$WORK/empty_out" --iters 20 --no-ablation
finish
