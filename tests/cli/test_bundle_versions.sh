#!/usr/bin/env bash
# Bundles across LibTorch versions. Bundles are exported by the venv's torch 2.11
# (scripts/install-torch.sh) with --attention manual and sdpa, and checked against the LibTorch this
# clipzs runs on:
#  - bundle.json records the exporting torch and the oldest LibTorch that loads it (requires.libtorch);
#  - a manual-attention bundle loads everywhere (1.13 and 2.11), and its embeddings equal the exporting
#    torch's own forward of the saved module on clipzs's preprocessed tensor (rtol 1e-4);
#  - an sdpa bundle loads in LibTorch >= 2.11 (same parity, and equal to the manual bundle of the same
#    weights); LibTorch 1.13 refuses it before loading (exit 6) naming the version it needs;
#  - the committed fixtures, exported by Debian's torch 1.13, load in this LibTorch.
source "$(dirname "$0")/lib.sh"
TORCH2_PY=${CLIPZS_TORCH2_PYTHON:-}
if [ -z "$TORCH2_PY" ] || ! [ -x "$TORCH2_PY" ]; then
  echo "SKIP: no torch 2.x Python (CLIPZS_TORCH2_PYTHON='$TORCH2_PY'); run bash scripts/install-torch.sh and reconfigure" >&2
  exit 77
fi
SCRIPTS="$CLIPZS_SOURCE_DIR/scripts"
MERGES="$FIXTURES/bundles/tiny-vit/tiny_merges.txt"

"$CLIPZS" info -q > "$WORK/runtime.json" || fail "clipzs info failed"
libtorch=$("$PY" -c "import json; print(json.load(open('$WORK/runtime.json'))['runtime']['libtorch'])")
torch2=$("$TORCH2_PY" -c "import torch; print(torch.__version__.split('+')[0])")
echo "clipzs runs on LibTorch $libtorch; exporting with torch $torch2 ($TORCH2_PY)" >&2
new_enough=$("$PY" -c "
a = tuple(int(x) for x in '$libtorch'.split('.')[:2]); b = tuple(int(x) for x in '$torch2'.split('.')[:2])
print(int(a >= b))")

for mode in manual sdpa; do
  expect_exit 0 "export tiny-vit with torch $torch2, --attention $mode" -- \
    "$TORCH2_PY" "$SCRIPTS/make_test_bundle.py" --arch vit-tiny --seed 3 --vocab "$MERGES" --num-merges 400 \
    --attention $mode --out "$WORK/b-$mode"
done
torch2_mm=$(echo "$torch2" | cut -d. -f1,2)
py_check "bundle.json: exporting torch and requires.libtorch (manual 1.13, sdpa $torch2_mm)" "
import json
m = json.load(open('$WORK/b-manual/bundle.json')); s = json.load(open('$WORK/b-sdpa/bundle.json'))
assert m['export']['torch_version'].startswith('$torch2') and s['export']['torch_version'].startswith('$torch2')
assert m['requires'] == {'libtorch': '1.13'}, m['requires']
assert s['requires'] == {'libtorch': '$torch2_mm'}, s['requires']
assert s['export']['attention'] == 'sdpa'"

make_images "$WORK/imgs"
img="$WORK/imgs/cat/cat0.jpg"
"$CLIPZS" preprocess --model "$WORK/b-manual" "$img" --out "$WORK/crop.npy" --tensor-out "$WORK/x.npy" 2>/dev/null ||
  fail "preprocess failed"
echo "$img" > "$WORK/one.txt"

# parity BUNDLE DESCRIPTION: clipzs's embedding of one image vs the exporting torch's forward of the same file.
parity() {
  expect_exit 0 "$2: embeds in LibTorch $libtorch" -- \
    "$CLIPZS" embed images --model "$1" --input "$WORK/one.txt" --out "$1-store" --store-dtype float32 --threads 1
  cat > "$WORK/parity.py" <<PYEOF
import numpy as np, torch
x = torch.from_numpy(np.load("$WORK/x.npy"))[None]
m = torch.jit.load("$1/image_encoder.pt")
with torch.no_grad():
    ref = m(x).double()
ref = (ref / ref.norm(dim=1, keepdim=True)).numpy()
got = np.load("$1-store/embeddings.npy").astype(np.float64)
rel = np.abs(got - ref).max() / np.abs(ref).max()
assert rel <= 1e-4, rel
print("max relative difference", rel)
PYEOF
  if "$TORCH2_PY" "$WORK/parity.py" > "$WORK/py.out" 2>&1; then pass "$2: equals torch $torch2's forward ($(cat "$WORK/py.out"))"
  else fail "$2: differs from torch $torch2's forward"; sed 's/^/  python: /' "$WORK/py.out" >&2; fi
}

parity "$WORK/b-manual" "manual-attention bundle exported by torch $torch2"
if [ "$new_enough" -eq 1 ]; then
  parity "$WORK/b-sdpa" "sdpa bundle exported by torch $torch2"
  py_check "sdpa and manual bundles of the same weights embed alike (rtol 1e-4)" "
import numpy as np
a = np.load('$WORK/b-manual-store/embeddings.npy'); b = np.load('$WORK/b-sdpa-store/embeddings.npy')
assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max(), np.abs(a - b).max()"
else
  expect_exit 6 "LibTorch $libtorch refuses the sdpa bundle" -- \
    "$CLIPZS" embed images --model "$WORK/b-sdpa" --input "$WORK/one.txt" --out "$WORK/refused" --threads 1
  expect_stderr "needs LibTorch >= $torch2_mm \\(exported by torch $torch2" "the message names the LibTorch version it needs"
  expect_stderr "runs on LibTorch $libtorch" "and the one it runs on"
  [ -e "$WORK/refused" ] && fail "a refused bundle left an output folder" || pass "nothing written for the refused bundle"
  expect_exit 0 "info --no-forward still describes it" -- "$CLIPZS" info --model "$WORK/b-sdpa" --no-forward
fi

# An sdpa bundle written before requires.libtorch existed: the reader infers LibTorch >= 2.0.
cp -r "$WORK/b-sdpa" "$WORK/b-old"
"$PY" - "$WORK/b-old" <<'PYEOF'
import hashlib, json, sys
path = sys.argv[1] + "/bundle.json"
b = json.load(open(path)); del b["requires"]
json.dump(b, open(path, "w"), indent=2)
PYEOF
if [ "${libtorch%%.*}" -lt 2 ]; then
  expect_exit 6 "an older sdpa bundle without requires is refused by LibTorch $libtorch" -- \
    "$CLIPZS" info --model "$WORK/b-old"
  expect_stderr "needs LibTorch >= 2.0" "inferred from export.attention"
fi

py_check "the committed fixtures were exported by torch 1.13" "
import json
for n in ('tiny-vit', 'tiny-rn'):
    v = json.load(open('$FIXTURES/bundles/' + n + '/bundle.json'))['export']['torch_version']
    assert v.startswith('1.13'), (n, v)"
for n in tiny-vit tiny-rn; do
  expect_exit 0 "the torch 1.13 fixture $n loads and runs a forward in LibTorch $libtorch" -- \
    "$CLIPZS" info --model "$FIXTURES/bundles/$n"
done
finish
