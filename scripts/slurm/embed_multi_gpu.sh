#!/usr/bin/env bash
# One clipzs process per GPU on one node, each embedding one shard, then merged into one store.
#
#   scripts/slurm/embed_multi_gpu.sh BUNDLE INPUT OUT [clipzs embed images|pairs options...]
# Env: EMBED (images, the default, or pairs: bank shards merged into one bank), GPUS (default: every GPU nvidia-smi lists), CLIPZS (default build/clipzs), DEVICE (default cuda;
#      cpu runs the same plan without GPUs, as the tests do),
#      THREADS_PER_GPU (default: cores / GPUs, for decoding and preprocessing).
# A process that fails is reported and the script exits non-zero without merging; rerun the script
# as it was: finished shards are found complete, interrupted ones continue (--resume).
set -uo pipefail
if [ $# -lt 3 ]; then echo "usage: $0 BUNDLE INPUT OUT [clipzs embed images|pairs options...]" >&2; exit 2; fi
EMBED=${EMBED:-images}
case "$EMBED" in images|pairs) ;; *) echo "EMBED must be images or pairs, not '$EMBED'" >&2; exit 2 ;; esac
BUNDLE=$1; INPUT=$2; OUT=$3; shift 3
CLIPZS=${CLIPZS:-$(dirname "$0")/../../build/clipzs}
if [ -z "${GPUS:-}" ]; then GPUS=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l); fi
[ "${GPUS:-0}" -ge 1 ] || { echo "no GPU found (set GPUS=N to force)" >&2; exit 2; }
THREADS=${THREADS_PER_GPU:-$(( $(nproc) / GPUS > 0 ? $(nproc) / GPUS : 1 ))}
pids=(); shards=()
for ((g = 0; g < GPUS; g++)); do
  shard="$OUT.shard-$(printf '%05d' "$g")-of-$GPUS"
  shards+=("$shard")
  # Each process sees one GPU (its cuda:0), so no process touches another's memory.
  CUDA_VISIBLE_DEVICES=$g "$CLIPZS" embed "$EMBED" --model "$BUNDLE" --input "$INPUT" --out "$shard" \
    --shard "$g/$GPUS" --device "${DEVICE:-cuda}" --workers "$THREADS" --resume "$@" \
    > "$shard.log.json" 2> "$shard.log" &
  pids+=($!)
done
failed=0
for ((g = 0; g < GPUS; g++)); do
  if ! wait "${pids[$g]}"; then echo "shard $g failed; see ${shards[$g]}.log" >&2; failed=1; fi
done
[ "$failed" -eq 0 ] || exit 1
exec "$CLIPZS" merge "${shards[@]}" --out "$OUT"
