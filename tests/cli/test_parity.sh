#!/usr/bin/env bash
# Parity with the Python reference: `clipzs embed` equals the Python forward of the same bundle on the
# same preprocessed inputs (cosine >= 0.9999 per row), and the whole Python pipeline (PIL +
# torchvision transforms + DataLoader) on the same image files.
source "$(dirname "$0")/lib.sh"
"$PY" -c "import torch, torchvision" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks torch/torchvision (scripts/install-deps.sh installs them)"; exit 77; }
make_images "$WORK/imgs"
ls -d "$WORK"/imgs/*/* | sort > "$WORK/list.txt"
for bundle in "$TINY_VIT" "$TINY_RN"; do
  name=$(basename "$bundle")
  rm -rf "$WORK/t"; mkdir -p "$WORK/t"
  i=0
  while read -r img; do
    "$CLIPZS" preprocess --model "$bundle" "$img" --out "$WORK/t/crop$i.npy" --tensor-out "$WORK/t/$(printf %03d $i).npy" >/dev/null \
      || fail "$name: preprocess $img"
    i=$((i + 1))
  done < "$WORK/list.txt"
  "$PY" -c "
import numpy as np, glob
np.save('$WORK/t/stack.npy', np.stack([np.load(f) for f in sorted(glob.glob('$WORK/t/[0-9]*.npy'))]).astype(np.float32))"
  expect_exit 0 "$name: clipzs embed" -- "$CLIPZS" embed images --model "$bundle" --input "$WORK/list.txt" \
    --out "$WORK/store-$name" --store-dtype float32 --threads 1
  expect_exit 0 "$name: Python forward on clipzs's preprocessed tensors" -- \
    "$PY" "$CLIPZS_SOURCE_DIR/scripts/reference_embed.py" --bundle "$bundle" --preprocessed "$WORK/t/stack.npy" \
    --out "$WORK/ref-$name.npy" --threads 1
  expect_exit 0 "$name: Python pipeline (PIL + torchvision + DataLoader)" -- \
    "$PY" "$CLIPZS_SOURCE_DIR/scripts/reference_embed.py" --bundle "$bundle" --images "$WORK/list.txt" \
    --out "$WORK/pipe-$name.npy" --threads 1 --workers 0
  py_check "$name: per-row cosine >= 0.9999 against both references" "
import numpy as np
c = np.load('$WORK/store-$name/embeddings.npy')
for ref in ['$WORK/ref-$name.npy', '$WORK/pipe-$name.npy']:
    r = np.load(ref)
    assert r.shape == c.shape, (r.shape, c.shape)
    cos = (c * r).sum(1) / np.linalg.norm(c, axis=1) / np.linalg.norm(r, axis=1)
    print(ref, 'min cosine', cos.min())
    assert cos.min() >= 0.9999, cos"
  cat "$WORK/py.out" >&2
done
finish
