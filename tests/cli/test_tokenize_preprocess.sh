#!/usr/bin/env bash
# tokenize and preprocess subcommands: stdin/JSONL handling, errors, and the .npy outputs.
source "$(dirname "$0")/lib.sh"
printf 'a photo of a cat\n\n' > "$WORK/texts.txt"
expect_exit 0 "tokenize plain lines with the bundle vocabulary" -- sh -c "'$CLIPZS' tokenize --model '$TINY_VIT' < '$WORK/texts.txt'"
py_check "one row of 77 ids per line, framed by the bundle's start/end ids" "
import json
rows = [json.loads(l) for l in open('$WORK/out')]
assert len(rows) == 2, rows
b = json.load(open('$TINY_VIT/bundle.json'))['text']
for r in rows:
    assert len(r['ids']) == 77 and r['ids'][0] == b['sot_id'] and not r['truncated']
assert rows[1]['ids'][:3] == [b['sot_id'], b['eot_id'], 0]"
VOCAB="$CLIPZS_SHARED_DIR/reference/tokenizer/bpe_simple_vocab_16e6.txt.gz"
if [ -f "$VOCAB" ]; then
  echo '{"text": "a photo of a fox"}' > "$WORK/t.jsonl"
  expect_exit 0 "tokenize JSONL with CLIP's merges file" -- sh -c "'$CLIPZS' tokenize --vocab '$VOCAB' --jsonl < '$WORK/t.jsonl'"
  py_check "golden ids for 'a photo of a fox'" "
import json; r = json.loads(open('$WORK/out').read())
assert r['ids'][:7] == [49406, 320, 1125, 539, 320, 3240, 49407] and r['ids'][7] == 0, r"
else
  skip_part "$VOCAB is absent (../shared/reference): the CLIP-vocabulary case not tested"
fi
echo 'not json' > "$WORK/bad.jsonl"
expect_exit 3 "tokenize --jsonl with a line that is not JSON" -- sh -c "'$CLIPZS' tokenize --model '$TINY_VIT' --jsonl < '$WORK/bad.jsonl'"
expect_stderr "line 1" "message names the line"

make_images "$WORK/imgs"
expect_exit 0 "preprocess writes the crop and the tensor" -- \
  "$CLIPZS" preprocess --model "$TINY_VIT" "$WORK/imgs/dog/dog0.png" --out "$WORK/crop.npy" --tensor-out "$WORK/x.npy"
py_check "crop is uint8 S x S x 3; tensor is its normalisation" "
import json, numpy as np
b = json.load(open('$TINY_VIT/bundle.json'))['image']; s = b['size']
c = np.load('$WORK/crop.npy'); x = np.load('$WORK/x.npy')
assert c.dtype == np.uint8 and c.shape == (s, s, 3), c.shape
assert x.dtype == np.float32 and x.shape == (3, s, s), x.shape
want = (c.transpose(2, 0, 1) / 255.0 - np.array(b['mean'])[:, None, None]) / np.array(b['std'])[:, None, None]
assert np.abs(x - want).max() < 1e-5"
REF="$CLIPZS_SHARED_DIR/reference/preprocess"
if [ -d "$REF" ]; then
  expect_exit 0 "preprocess a reference image at 336" -- \
    "$CLIPZS" preprocess --model "$TINY_VIT" --size 336 "$REF/images/chelsea_q75_420.jpg" --out "$WORK/c336.npy"
  py_check "identical to PIL + torchvision's output" "
import numpy as np
assert (np.load('$WORK/c336.npy') == np.load('$REF/expected/chelsea_q75_420.336.npy')).all()"
  expect_exit 3 "preprocess a truncated JPEG" -- "$CLIPZS" preprocess --model "$TINY_VIT" "$REF/images/truncated.jpg" --out "$WORK/t.npy"
  expect_stderr "truncated.jpg" "message names the file"
else
  skip_part "$REF is absent (../shared/reference): the PIL-parity preprocess case not tested"
fi
finish
