#!/usr/bin/env bash
# embed images: store layout, numpy-readable output, error rows, --on-error fail, refusal to overwrite.
source "$(dirname "$0")/lib.sh"
make_images "$WORK/imgs"
mkdir -p "$WORK/imgs/cat"
: > "$WORK/imgs/cat/empty.jpg"
head -c 300 "$WORK/imgs/dog/dog2.jpg" > "$WORK/imgs/dog/truncated.jpg"

expect_exit 0 "embed a folder with two broken files" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/store" --batch-size 3 --threads 1
cp "$WORK/out" "$WORK/summary.json"
py_check "summary counts 8 rows, 2 errors" "
import json; s = json.load(open('$WORK/summary.json'))
assert s['rows'] == 8 and s['errors'] == 2 and s['ok'] == 6, s"
py_check "store: float16 N x D, unit rows, zero error rows, labels from folders" "
import json, numpy as np
e = np.load('$WORK/store/embeddings.npy'); m = json.load(open('$WORK/store/manifest.json'))
rows = [json.loads(l) for l in open('$WORK/store/rows.jsonl')]
assert e.dtype == np.float16 and e.shape == (8, m['dim']), (e.dtype, e.shape)
norms = np.linalg.norm(e.astype(np.float32), axis=1)
for r, n in zip(rows, norms):
    if r['status'] == 'ok': assert abs(n - 1) < 2e-3, (r, n)
    else: assert n == 0 and r['error'], r
bad = sorted(r['path'].split('/')[-1] for r in rows if r['status'] == 'error')
assert bad == ['empty.jpg', 'truncated.jpg'], bad
assert [r['label'] for r in rows].count('cat') == 4
assert m['rows'] == 8 and m['error_rows'] == 2 and m['bundle']['sha256'] and m['files']['embeddings.npy']
"
expect_exit 5 "a complete store is not overwritten silently" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/store"
expect_stderr "--overwrite" "hint names --overwrite"
expect_exit 3 "--on-error fail stops on the first broken file" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/store2" --on-error fail
expect_stderr "empty.jpg" "the message names the broken file"
expect_exit 0 "info --store verifies the finished store" -- "$CLIPZS" info --store "$WORK/store"

# A CSV list with labels, and a text list with a missing file.
printf 'path,label\n%s,first\n%s,second\n' "$WORK/imgs/cat/cat0.jpg" "imgs/dog/dog0.png" > "$WORK/list.csv"
expect_exit 0 "CSV input with a relative path" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/list.csv" --out "$WORK/csvstore" --store-dtype float32
py_check "CSV labels kept, float32 store" "
import json, numpy as np
rows = [json.loads(l) for l in open('$WORK/csvstore/rows.jsonl')]
assert [r['label'] for r in rows] == ['first', 'second'] and all(r['status'] == 'ok' for r in rows), rows
assert np.load('$WORK/csvstore/embeddings.npy').dtype == np.float32"
printf '%s\n/nonexistent/x.jpg\n' "$WORK/imgs/cat/cat0.jpg" > "$WORK/list.txt"
expect_exit 0 "text list with a missing file" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/list.txt" --out "$WORK/txtstore"
py_check "missing file recorded as an error row" "
import json; rows = [json.loads(l) for l in open('$WORK/txtstore/rows.jsonl')]
assert rows[1]['status'] == 'error' and 'x.jpg' in rows[1]['error'], rows"

expect_exit 3 "missing input folder" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/nope" --out "$WORK/s3"
expect_exit 2 "unknown dtype is a usage error" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/s4" --dtype fp64
# --device cuda: decided from the devices this build actually sees. With a GPU the same images are embedded
# there and compared with the CPU (fp32 cosine >= 0.9999, fp16 >= 0.999); without one, exit 6 and a
# message that says why (no CUDA in this LibTorch, or no device visible).
"$CLIPZS" info -q > "$WORK/runtime.json" || fail "clipzs info (runtime) failed"
read -r cuda_compiled cuda_devices < <("$PY" -c "
import json; r = json.load(open('$WORK/runtime.json'))['runtime']; print(int(r['cuda_compiled']), r['cuda_devices'])")
if [ -z "${cuda_devices:-}" ]; then
  fail "clipzs info printed no runtime.cuda_devices"
elif [ "$cuda_devices" -gt 0 ]; then
  run_cuda() {  # $1 out folder, $2 device, $3 dtype
    "$CLIPZS" -q embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$1" --device "$2" --dtype "$3" \
      --store-dtype float32 --threads 1 > /dev/null
  }
  run_cuda "$WORK/s5cpu" cpu fp32 && run_cuda "$WORK/s5gpu" cuda fp32 && run_cuda "$WORK/s5half" cuda fp16 ||
    fail "embedding on the GPU failed"
  py_check "GPU embeddings equal the CPU's (fp32 cosine >= 0.9999, fp16 >= 0.999)" "
import numpy as np
c = np.load('$WORK/s5cpu/embeddings.npy'); g = np.load('$WORK/s5gpu/embeddings.npy'); h = np.load('$WORK/s5half/embeddings.npy')
ok = np.linalg.norm(c, axis=1) > 0
cos = lambda a, b: (a[ok] * b[ok]).sum(1).min()
assert cos(c, g) >= 0.9999 and cos(c, h) >= 0.999, (cos(c, g), cos(c, h))
print('worst cosine fp32', cos(c, g), 'fp16', cos(c, h))"
else
  expect_exit 6 "--device cuda where no CUDA device is visible" -- \
    "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/s5" --device cuda
  if [ "$cuda_compiled" -eq 1 ]; then
    expect_stderr "no CUDA device is visible" "the message says no device is visible (CUDA LibTorch)"
  else
    expect_stderr "needs a CUDA build of LibTorch" "the message says this LibTorch has no CUDA"
  fi
fi
# Unwritable output. Root writes anywhere (and CI runs as root), so there the case runs as nobody.
run_as=()
if [ "$(id -u)" -eq 0 ]; then run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
mkdir -p "$WORK/ro"; chmod 755 "$WORK"; chmod 555 "$WORK/ro"; chmod -R a+rX "$WORK/imgs"
if "${run_as[@]}" "$CLIPZS" --version >/dev/null 2>&1 && "${run_as[@]}" test -r "$TINY_VIT/bundle.json" &&
   ! "${run_as[@]}" test -w "$WORK/ro"; then
  expect_exit 5 "unwritable output${run_as:+ (as nobody)}" -- "${run_as[@]}" "$CLIPZS" embed images --model "$TINY_VIT" \
    --input "$WORK/imgs" --out "$WORK/ro/store" --no-progress
  expect_stderr "ro/store" "the message names the output folder"
  [ -e "$WORK/ro/store" ] && fail "something was left in the unwritable folder" || pass "nothing left behind"
else
  skip_part "the unwritable-output case: cannot run clipzs as an unprivileged user here (setpriv, from util-linux)"
fi
chmod 700 "$WORK"
expect_exit 5 "output path under a regular file" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/summary.json/store"
finish
