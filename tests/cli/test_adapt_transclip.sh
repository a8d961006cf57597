#!/usr/bin/env bash
# adapt transclip from stores (parity with the official solver: tests/unit/core/test_transclip.cpp),
# the state read back by infer/eval through the method registry, and bad inputs.
source "$(dirname "$0")/lib.sh"
fmnist_stores 8

expect_exit 0 "TransCLIP from stores, labels from the folders" -- "$CLIPZS" adapt transclip --images "$WORK/img" --text "$WORK/txt" \
  --out "$WORK/state" --threads 1
py_check "state: files, shapes, assignments that sum to 1, predictions = argmax z, the bundle's logit scale" "
import json, numpy as np
s = json.load(open('$WORK/state/state.json'))
assert s['method'] == 'transclip' and s['state_version'] == 1, s
assert s['parameters']['logit_scale'] == 100.0 and s['parameters']['logit_scale_from'] == 'bundle', s['parameters']
z = np.load('$WORK/state/assignments.npy'); p = np.load('$WORK/state/predictions.npy')
assert z.shape == (80, 10) and np.allclose(z.sum(1), 1, atol=1e-5)
assert (p == z.argmax(1)).all()
assert set(s['metrics']) == {'acc1_transclip', 'acc1_zeroshot'}, s['metrics']
ti = np.load('$WORK/state/transclip_top_index.npy'); assert ti.shape == (80, 5) and (ti[:, 0] == p).all()"
expect_exit 0 "eval --method transclip" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/img" --method transclip \
  --state "$WORK/state" --out "$WORK/res.json"
py_check "eval's acc1 is adapt's, and the zero-shot ablation is reported beside it" "
import json
s = json.load(open('$WORK/state/state.json')); r = json.load(open('$WORK/res.json'))
assert abs(r['metrics']['acc1'] - s['metrics']['acc1_transclip']) < 1e-12, (r['metrics'], s['metrics'])
assert abs(r['compare']['zeroshot']['acc1'] - s['metrics']['acc1_zeroshot']) < 1e-12, r['compare']
assert r['context']['method'] == 'transclip' and r['task'] == 'zeroshot_classification'"
expect_exit 0 "eval --method zeroshot on the same store" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/img" \
  --classes "$CFG/classnames.json" --templates "$CFG/templates.json" --dataset fashion-mnist --out "$WORK/res_zs.json"
py_check "TransCLIP's zero-shot start is clipzs's zero-shot result" "
import json
r = json.load(open('$WORK/res.json')); z = json.load(open('$WORK/res_zs.json'))
assert abs(r['compare']['zeroshot']['acc1'] - z['metrics']['acc1']) < 1e-12, (r['compare'], z['metrics'])"
expect_exit 0 "infer --method transclip" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/img" --method transclip \
  --state "$WORK/state" --top-k 2
py_check "infer's predictions are the state's" "
import json, numpy as np
rows = [json.loads(l) for l in open('$WORK/out')]; s = json.load(open('$WORK/state/state.json'))
p = np.load('$WORK/state/predictions.npy')
assert [r['prediction'] for r in rows] == [s['classnames'][k] for k in p]"
expect_exit 0 "--logit-scale overrides the bundle's" -- "$CLIPZS" adapt transclip --images "$WORK/img" --text "$WORK/txt" \
  --out "$WORK/state_s" --logit-scale 50 --iters 2
py_check "the override is recorded" "
import json; p = json.load(open('$WORK/state_s/state.json'))['parameters']
assert p['logit_scale'] == 50 and p['iterations'] == 2, p"

# Bad inputs.
expect_exit 5 "an existing state is not overwritten silently" -- "$CLIPZS" adapt transclip --images "$WORK/img" --text "$WORK/txt" --out "$WORK/state"
expect_exit 2 "--method with an unknown name lists the known ones" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/img" \
  --method coop --state "$WORK/state" --out "$WORK/never.json"
expect_stderr "transclip" "the message lists the known methods"
expect_exit 3 "a TransCLIP state is not read as InMaP" -- "$CLIPZS" infer --model "$TINY_VIT" --store "$WORK/img" --method inmap --state "$WORK/state"
expect_stderr "holds a transclip state, not inmap" "the message names both methods"
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm2" --per-class 3 >/dev/null
"$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm2" --out "$WORK/img2" --threads 1 >/dev/null 2>&1 || fail "embed images (2)"
expect_exit 3 "the state of one store is not used for another" -- "$CLIPZS" eval --model "$TINY_VIT" --store "$WORK/img2" \
  --method transclip --state "$WORK/state" --out "$WORK/never.json"
expect_stderr "made for other images" "the message says the state belongs to other images"
expect_exit 0 "a class store of the ResNet bundle" -- "$CLIPZS" embed texts --model "$TINY_RN" --classes "$CFG/classnames.json" \
  --dataset fashion-mnist --out "$WORK/txt_rn"
expect_exit 3 "image and class stores of different bundles" -- "$CLIPZS" adapt transclip --images "$WORK/img" --text "$WORK/txt_rn" --out "$WORK/s2"
expect_stderr "made by different model bundles" "the message says the stores come from different bundles"
finish
