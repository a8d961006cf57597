#!/usr/bin/env bash
# embed images --shard i/N, then merge: byte-identical to the unsharded run, whatever the thread counts
# and the order the shards are given in; mismatched, missing or repeated shards are refused.
source "$(dirname "$0")/lib.sh"
make_images "$WORK/a"; make_images "$WORK/b"; make_images "$WORK/c"   # 18 images + 6 broken files
ls -d "$WORK"/{a,b,c}/*/* > "$WORK/list.txt"
args=(embed images --model "$TINY_VIT" --input "$WORK/list.txt" --batch-size 4 --no-progress)

expect_exit 0 "unsharded run" -- "$CLIPZS" "${args[@]}" --threads 1 --out "$WORK/full"
expect_exit 0 "shard 0/3 (1 thread)" -- "$CLIPZS" "${args[@]}" --threads 1 --workers 1 --shard 0/3 --out "$WORK/s0"
expect_exit 0 "shard 1/3 (2 threads, 2 workers)" -- "$CLIPZS" "${args[@]}" --threads 2 --workers 2 --shard 1/3 --out "$WORK/s1"
expect_exit 0 "shard 2/3 (1 thread, 3 workers)" -- "$CLIPZS" "${args[@]}" --threads 1 --workers 3 --shard 2/3 --out "$WORK/s2"
py_check "shards cover the rows once, on batch boundaries" "
import json
sh = [json.load(open(f'$WORK/s{i}/manifest.json'))['shard'] for i in range(3)]
n = json.load(open('$WORK/full/manifest.json'))['rows']
assert [s['first_row'] for s in sh] == [0, sh[0]['rows'], sh[0]['rows'] + sh[1]['rows']], sh
assert sum(s['rows'] for s in sh) == n and all(s['first_row'] % 4 == 0 for s in sh), sh"
expect_exit 0 "merge (shards given out of order)" -- "$CLIPZS" merge "$WORK/s2" "$WORK/s0" "$WORK/s1" --out "$WORK/merged"
cmp -s "$WORK/full/embeddings.npy" "$WORK/merged/embeddings.npy" && pass "embeddings.npy identical" || fail "embeddings.npy differs"
cmp -s "$WORK/full/rows.jsonl" "$WORK/merged/rows.jsonl" && pass "rows.jsonl identical" || fail "rows.jsonl differs"
py_check "manifest identical apart from the creation time" "
import json
a = json.load(open('$WORK/full/manifest.json')); b = json.load(open('$WORK/merged/manifest.json'))
a.pop('created'); b.pop('created'); assert a == b, (a, b)"
expect_exit 0 "the merged store verifies" -- "$CLIPZS" verify "$WORK/merged"

expect_exit 3 "a missing shard is refused" -- "$CLIPZS" merge "$WORK/s0" "$WORK/s2" --out "$WORK/m2"
expect_stderr "shards missing: 1 of 3" "names the missing shard"
expect_exit 3 "a repeated shard is refused" -- "$CLIPZS" merge "$WORK/s0" "$WORK/s1" "$WORK/s1" --out "$WORK/m3"
expect_exit 0 "a shard of another run (batch size 6)" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/list.txt" \
  --batch-size 6 --shard 1/3 --no-progress --out "$WORK/other1"
expect_exit 3 "shards of different runs are refused" -- "$CLIPZS" merge "$WORK/s0" "$WORK/other1" "$WORK/s2" --out "$WORK/m4"
expect_stderr "different runs \(batch_size" "names the field that differs"
expect_exit 3 "an unsharded store is not a shard" -- "$CLIPZS" merge "$WORK/full" --out "$WORK/m5"
expect_exit 2 "--shard 3/3 does not exist" -- "$CLIPZS" "${args[@]}" --shard 3/3 --out "$WORK/bad"
expect_exit 2 "--shard 1-3 is not i/N" -- "$CLIPZS" "${args[@]}" --shard 1-3 --out "$WORK/bad"

# Augmented views: each view's draw depends on (seed, image, view), so shards give the same rows too.
expect_exit 0 "augmented, unsharded" -- "$CLIPZS" "${args[@]}" --augment 3 --out "$WORK/aug"
for i in 0 1; do "$CLIPZS" "${args[@]}" --augment 3 --shard $i/2 --out "$WORK/aug$i" >/dev/null 2>&1; done
expect_exit 0 "merge the augmented shards" -- "$CLIPZS" merge "$WORK/aug0" "$WORK/aug1" --out "$WORK/augm"
cmp -s "$WORK/aug/embeddings.npy" "$WORK/augm/embeddings.npy" && cmp -s "$WORK/aug/rows.jsonl" "$WORK/augm/rows.jsonl" \
  && pass "augmented shards merge to the unsharded store" || fail "augmented merge differs"
finish
