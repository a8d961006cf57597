#!/usr/bin/env bash
# The bad-input corpus (make_bad_inputs.py): every file gets a row with its status and reason, the
# summary counts them, readable oddities match PIL pixel for pixel, and the exit codes are the documented ones.
source "$(dirname "$0")/lib.sh"
"$PY" "$(dirname "$0")/make_bad_inputs.py" "$WORK/bad" 64 2>/dev/null || { fail "corpus generation"; finish; }
C="$WORK/bad/corpus"

expect_exit 0 "embed over the corpus finishes (default --on-error record)" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$C" --out "$WORK/store" --threads 1 --batch-size 8 --no-progress
py_check "one row per entry, status and reason as expected, paths kept exactly, summary counts" "
import json, re, numpy as np
expect = json.load(open('$WORK/bad/expect.json'))
rows = [json.loads(l) for l in open('$WORK/store/rows.jsonl', encoding='utf-8')]
s = json.loads(open('$WORK/out').read())
by_path = {r['path'][len('$C') + 1:]: r for r in rows}
assert sorted(by_path) == sorted(expect), (sorted(set(by_path) ^ set(expect)))
for rel, e in expect.items():
    r = by_path[rel]
    assert r['status'] == e['status'], (rel, r)
    if e['status'] == 'error':
        assert re.search(e['reason'], r['error']), (rel, r['error'])
        assert rel.split('/')[-1] in r['error'] or 'corpus' in r['error'], ('reason names the file', rel, r['error'])
errors = sum(e['status'] == 'error' for e in expect.values())
assert s['rows'] == len(expect) and s['errors'] == errors and s['ok'] == len(expect) - errors, (s, errors)
emb = np.load('$WORK/store/embeddings.npy').astype(np.float32)
for i, r in enumerate(rows):
    n = np.linalg.norm(emb[i])
    assert (abs(n - 1) < 1e-2) if r['status'] == 'ok' else n == 0, (r, n)
print(len(expect), 'entries,', errors, 'errors')
"
cat "$WORK/py.out" >&2
expect_exit 0 "verify accepts the store" -- "$CLIPZS" verify "$WORK/store"

# Readable oddities (GIF first frames, animated WebP, CMYK, 16-bit RGB, 1x1, odd names): same crop as PIL.
mismatch=0; compared=0
while IFS=$'\t' read -r -d '' rel ref; do
  compared=$((compared + 1))
  if ! "$CLIPZS" preprocess --model "$TINY_VIT" "$C/$rel" --out "$WORK/crop.npy" >/dev/null 2>"$WORK/err"; then
    mismatch=$((mismatch + 1)); echo "  preprocess failed: $rel: $(cat "$WORK/err")" >&2; continue
  fi
  "$PY" -c "import numpy as np, sys; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); sys.exit(0 if a.shape == b.shape and (a == b).all() else 1)" \
    "$WORK/crop.npy" "$WORK/bad/$ref" || { mismatch=$((mismatch + 1)); echo "  differs from PIL: $rel" >&2; }
done < <("$PY" -c "
import json, sys
for rel, e in sorted(json.load(open('$WORK/bad/expect.json')).items()):
    if e['pil']: sys.stdout.write(rel + '\t' + e['pil_file'] + '\0')")
[ "$mismatch" -eq 0 ] && [ "$compared" -ge 15 ] && pass "$compared crops equal PIL's" || fail "$mismatch of $compared crops differ from PIL"

expect_exit 3 "--on-error fail stops at the first unreadable file" -- \
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$C" --out "$WORK/store_fail" --threads 1 --on-error fail --no-progress
expect_stderr "cannot read image|broken symbolic|folder" "the message names the file"
[ ! -f "$WORK/store_fail/manifest.json" ] && pass "a failed run leaves no complete store" || fail "failed run left a manifest"

# --max-pixels: a 120 x 90 image (10,800 pixels) over a 10,000 limit is refused from its header.
echo "$C/a/normal.jpg" > "$WORK/one.txt"; echo "$C/a/one_pixel.png" >> "$WORK/one.txt"
expect_exit 0 "--max-pixels 10000" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/one.txt" --out "$WORK/small" --max-pixels 10000 --no-progress
py_check "the large image is an error row naming the limit, the 1x1 one is ok" "
import json
rows = [json.loads(l) for l in open('$WORK/small/rows.jsonl')]
assert rows[0]['status'] == 'error' and '120x90 exceeds the limit of 10000' in rows[0]['error'], rows[0]
assert rows[1]['status'] == 'ok', rows[1]"

# Unreadable permissions: root reads anything, so run as nobody where the test runs as root.
cp "$C/a/normal.jpg" "$WORK/locked.jpg"; chmod 000 "$WORK/locked.jpg"; echo "$WORK/locked.jpg" > "$WORK/locked.txt"
chmod 755 "$WORK"; chmod 644 "$WORK/locked.txt"; mkdir -m 777 "$WORK/nobody"
run_as=()
if [ "$(id -u)" -eq 0 ]; then run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups); fi
if "${run_as[@]}" "$CLIPZS" --version >/dev/null 2>&1 && "${run_as[@]}" test -r "$TINY_VIT/bundle.json"; then
  expect_exit 0 "an unreadable file is an error row" -- "${run_as[@]}" "$CLIPZS" embed images --model "$TINY_VIT" \
    --input "$WORK/locked.txt" --out "$WORK/nobody/s" --no-progress
  grep -q "Permission denied" "$WORK/nobody/s/rows.jsonl" && pass "reason: Permission denied" || fail "no 'Permission denied' row"
else
  skip_part "the permission case: cannot run clipzs as an unprivileged user here (setpriv, from util-linux)"
fi
finish
