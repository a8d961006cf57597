#!/usr/bin/env bash
# TransCLIP (zero-shot) on the CPU at ImageNet size (synthetic: d=768, C=1,000; the first N of 50,000
# rows), clipzs next to the official solver on the same features, same threads. Wall time and peak
# resident memory (GNU time) of each process; the official one under an address-space cap (AS_CAP_GB,
# default 20) so that its dense n x n affinity cannot take the machine down: a run that exceeds it is
# reported as such. Its predictions are compared with clipzs's at each size both finish.
#   scripts/bench/transclip_cpu.sh [THREADS=cores] [SIZES="10000 25000 50000"]
# Env: TRANSCLIP_OFFICIAL (a checkout of MaxZanella/transduction-for-vlms; default
#      bench-out/transduction-for-vlms), OFFICIAL_TIMEOUT (s, default 3600), AS_CAP_GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-$(nproc)}
SIZES=${2:-"10000 25000 50000"}
OFFICIAL=${TRANSCLIP_OFFICIAL:-bench-out/transduction-for-vlms}
DATA=bench-out/synth-imagenet
OUT=bench-out/transclip_cpu
BENCH=${BENCH:-build/transclip_bench}
mkdir -p "$OUT"
[ -f "$DATA/features.npy" ] || /usr/bin/python3 scripts/make_synthetic_features.py --out "$DATA" >&2
echo "# $(date -u +%FT%TZ) $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads=$THREADS; official at $(git -C "$OFFICIAL" rev-parse --short HEAD 2>/dev/null || echo '?')"
for n in $SIZES; do
  /usr/bin/time -f '%M' -o "$OUT/clipzs-$n.rss" "$BENCH" "$DATA/features.npy" "$DATA/text_proxies.npy" "$DATA/labels.npy" \
    --threads "$THREADS" --rows "$n" --z "$OUT/z-clipzs-$n.npy" > "$OUT/clipzs-$n.json"
  echo "{\"result\": $(cat "$OUT/clipzs-$n.json"), \"maxrss_mb\": $(( $(cat "$OUT/clipzs-$n.rss") / 1024 ))}"
  if [ -d "$OFFICIAL/TransCLIP_solver" ]; then
    set +e
    /usr/bin/time -f '%M' -o "$OUT/official-$n.rss" timeout "${OFFICIAL_TIMEOUT:-3600}" \
      prlimit --as=$(( ${AS_CAP_GB:-20} * 1024 * 1024 * 1024 )) /usr/bin/python3 scripts/bench/transclip_official.py \
      "$OFFICIAL" "$DATA/features.npy" "$DATA/text_proxies.npy" "$DATA/labels.npy" "$THREADS" "$n" "$OUT/z-official-$n.npy" \
      > "$OUT/official-$n.json" 2> "$OUT/official-$n.err"
    rc=$?
    set -e
    rss=$(tail -1 "$OUT/official-$n.rss" | grep -Eo '^[0-9]+' || echo 0)
    if [ $rc -eq 0 ]; then
      echo "{\"result\": $(cat "$OUT/official-$n.json"), \"maxrss_mb\": $(( rss / 1024 ))}"
      /usr/bin/python3 -c "
import numpy as np, json
a = np.load('$OUT/z-clipzs-$n.npy'); b = np.load('$OUT/z-official-$n.npy')
print(json.dumps({'n': $n, 'same_predictions': float((a.argmax(1) == b.argmax(1)).mean()), 'max_abs_z_diff': float(np.abs(a - b).max())}))"
    else
      echo "{\"result\": {\"impl\": \"official\", \"n\": $n, \"failed\": \"exit $rc\", \"stderr\": $(tail -c 300 "$OUT/official-$n.err" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}, \"maxrss_mb\": $(( rss / 1024 )), \"as_cap_gb\": ${AS_CAP_GB:-20}}"
    fi
  else
    echo "no official checkout at $OFFICIAL: git clone https://github.com/MaxZanella/transduction-for-vlms $OFFICIAL" >&2
  fi
done
