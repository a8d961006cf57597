#!/usr/bin/env bash
# scripts/slurm: the job array script run as Slurm would (task id/count in the environment), with one
# task killed and requeued, then merged; and the one-process-per-GPU launcher (on CPU here).
source "$(dirname "$0")/lib.sh"
make_images "$WORK/a"; make_images "$WORK/b"
ls -d "$WORK"/{a,b}/*/* > "$WORK/list.txt"
SB="$CLIPZS_SOURCE_DIR/scripts/slurm/embed_array.sbatch"
expect_exit 0 "unsharded reference" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/list.txt" --batch-size 2 \
  --threads 1 --no-progress --out "$WORK/full"
for i in 0 1 2; do
  if [ "$i" -eq 1 ]; then  # task 1 dies mid-shard (node lost), then Slurm requeues it
    CLIPZS_TEST_KILL_AFTER_ROWS=2 SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 CLIPZS="$CLIPZS" \
      bash "$SB" "$TINY_VIT" "$WORK/list.txt" "$WORK/emb" --batch-size 2 >/dev/null 2>&1
    [ $? -eq 137 ] && pass "task 1 killed mid-shard" || fail "task 1 was not killed"
  fi
  expect_exit 0 "array task $i" -- env SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 CLIPZS="$CLIPZS" \
    bash "$SB" "$TINY_VIT" "$WORK/list.txt" "$WORK/emb" --batch-size 2
done
py_check "the requeued task resumed its shard; three complete shard stores" "
import glob
assert len(glob.glob('$WORK/emb.shard-*-of-3/manifest.json')) == 3"
expect_exit 0 "merge the array's shards" -- "$CLIPZS" merge "$WORK"/emb.shard-*-of-3 --out "$WORK/emb"
cmp -s "$WORK/full/embeddings.npy" "$WORK/emb/embeddings.npy" && cmp -s "$WORK/full/rows.jsonl" "$WORK/emb/rows.jsonl" \
  && pass "merged array output equals the unsharded store" || fail "merged array output differs"
expect_exit 0 "multi-GPU launcher (2 processes, on CPU)" -- env GPUS=2 DEVICE=cpu THREADS_PER_GPU=1 CLIPZS="$CLIPZS" \
  bash "$CLIPZS_SOURCE_DIR/scripts/slurm/embed_multi_gpu.sh" "$TINY_VIT" "$WORK/list.txt" "$WORK/mg" --batch-size 2 --threads 1
cmp -s "$WORK/full/embeddings.npy" "$WORK/mg/embeddings.npy" && cmp -s "$WORK/full/rows.jsonl" "$WORK/mg/rows.jsonl" \
  && pass "launcher output equals the unsharded store" || fail "launcher output differs"

# EMBED=pairs: bank shards from the array script, merged into the unsharded bank.
"$PY" -c "
import csv, sys
rows = [l.strip() for l in open('$WORK/list.txt')]
with open('$WORK/pairs.csv', 'w', newline='') as f:
    w = csv.writer(f); w.writerow(['image', 'caption'])
    for i, p in enumerate(rows): w.writerow([p, f'a photo number {i}'])"
expect_exit 0 "unsharded bank" -- "$CLIPZS" embed pairs --model "$TINY_VIT" --input "$WORK/pairs.csv" --batch-size 2 \
  --caption-batch-size 3 --threads 1 --no-progress --out "$WORK/bank"
for i in 0 1; do
  expect_exit 0 "EMBED=pairs array task $i" -- env EMBED=pairs SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=2 SLURM_CPUS_PER_TASK=1 \
    CLIPZS="$CLIPZS" bash "$SB" "$TINY_VIT" "$WORK/pairs.csv" "$WORK/pb" --batch-size 2 --caption-batch-size 3
done
expect_exit 0 "merge the bank shards" -- "$CLIPZS" merge "$WORK"/pb.shard-*-of-2 --out "$WORK/pb"
cmp -s "$WORK/bank/images/embeddings.npy" "$WORK/pb/images/embeddings.npy" && \
  cmp -s "$WORK/bank/captions/embeddings.npy" "$WORK/pb/captions/embeddings.npy" && \
  cmp -s "$WORK/bank/captions/rows.jsonl" "$WORK/pb/captions/rows.jsonl" && \
  cmp -s "$WORK/bank/images/rows.jsonl" "$WORK/pb/images/rows.jsonl" \
  && pass "merged array bank equals the unsharded bank" || fail "merged array bank differs"
py_check "merged bank.json equals the unsharded one apart from when it was written" "
import json
a, b = (json.load(open(f'$WORK/{d}/bank.json')) for d in ('bank', 'pb'))
for k in ('created',): a.pop(k); b.pop(k)
assert a == b, (a, b)"
expect_exit 2 "EMBED=texts is refused" -- env EMBED=texts SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=2 CLIPZS="$CLIPZS" \
  bash "$SB" "$TINY_VIT" "$WORK/pairs.csv" "$WORK/px"
finish
