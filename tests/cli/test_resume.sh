#!/usr/bin/env bash
# kill -9 in the middle of `embed images`, then --resume: the store equals an uninterrupted run's.
source "$(dirname "$0")/lib.sh"
make_images "$WORK/a"; make_images "$WORK/b"; make_images "$WORK/c"   # 18 images
ls -d "$WORK"/{a,b,c}/*/* > "$WORK/list.txt"
common=(embed images --model "$TINY_VIT" --input "$WORK/list.txt" --threads 1 --workers 2)
args=("${common[@]}" --batch-size 4)

expect_exit 0 "uninterrupted run" -- "$CLIPZS" "${args[@]}" --out "$WORK/full"
CLIPZS_TEST_KILL_AFTER_ROWS=8 "$CLIPZS" "${args[@]}" --out "$WORK/resumed" >/dev/null 2>&1
code=$?
[ "$code" -eq 137 ] && pass "killed with SIGKILL after 8 rows" || fail "expected death by SIGKILL (137), got $code"
[ ! -f "$WORK/resumed/manifest.json" ] && pass "killed run left no manifest" || fail "killed run has a manifest"
expect_exit 3 "an unfinished store is not readable as complete" -- "$CLIPZS" info --store "$WORK/resumed"
expect_exit 5 "rerun without --resume is refused" -- "$CLIPZS" "${args[@]}" --out "$WORK/resumed"
expect_stderr "--resume" "hint names --resume"
expect_exit 5 "--resume with another batch size is refused" -- "$CLIPZS" "${common[@]}" --batch-size 5 --out "$WORK/resumed" --resume
expect_exit 0 "resume finishes the run" -- "$CLIPZS" "${args[@]}" --out "$WORK/resumed" --resume
py_check "resume reports the rows it found done" "
import json; s = json.loads(open('$WORK/out').read()); assert s['resumed_rows'] == 8, s"
cmp -s "$WORK/full/embeddings.npy" "$WORK/resumed/embeddings.npy" && pass "embeddings.npy identical" || fail "embeddings.npy differs"
cmp -s "$WORK/full/rows.jsonl" "$WORK/resumed/rows.jsonl" && pass "rows.jsonl identical" || fail "rows.jsonl differs"
# A job killed after its manifest was written and requeued with --resume finds its work done.
cp "$WORK/resumed/manifest.json" "$WORK/manifest.before"
expect_exit 0 "--resume of a complete store of the same run is a no-op" -- "$CLIPZS" "${args[@]}" --out "$WORK/resumed" --resume
py_check "it reports every row as resumed" "
import json; s = json.loads(open('$WORK/out').read()); assert s['resumed_rows'] == s['rows'] == 18, s"
cmp -s "$WORK/manifest.before" "$WORK/resumed/manifest.json" && pass "the store is untouched" || fail "the store was rewritten"
expect_exit 5 "--resume of a complete store of another run is refused" -- "$CLIPZS" "${common[@]}" --batch-size 6 --out "$WORK/resumed" --resume
finish
