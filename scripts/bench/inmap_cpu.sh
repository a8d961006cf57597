#!/usr/bin/env bash
# InMaP at ImageNet scale (synthetic: n=50,000, d=768, C=1,000), clipzs exact and --fast next to the
# official Python functions (idstcv/InMaP main.py: sinkhorn + image_opt) on the same features, same
# thread count, same number of steps.
#   scripts/bench/inmap_cpu.sh [ITERS=20] [THREADS=cores]
# Env: MODES (default "exact fast": the clipzs modes run; "exact" alone for a long side-by-side).
# The official main.py is not part of this repository: point INMAP_OFFICIAL at a checkout's main.py
# (default bench-out/InMaP/main.py); its `import clip` is stubbed, only its two functions are called.
set -euo pipefail
cd "$(dirname "$0")/../.."
ITERS=${1:-20}
THREADS=${2:-$(nproc)}
OFFICIAL=${INMAP_OFFICIAL:-bench-out/InMaP/main.py}
DATA=bench-out/synth-imagenet
OUT=bench-out/inmap_cpu
mkdir -p "$OUT"
[ -f "$DATA/features.npy" ] || /usr/bin/python3 scripts/make_synthetic_features.py --out "$DATA" >&2
echo "# $(date -u +%FT%TZ) $(nproc) cores $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); iters=$ITERS threads=$THREADS"
MODES=${MODES:-exact fast}
rm -f "$OUT/exact.json" "$OUT/fast.json" "$OUT/official.json"
for mode in $MODES; do
  flag=""; [ $mode = fast ] && flag=--fast
  /usr/bin/time -f '{"maxrss_kb": %M}' -o "$OUT/$mode.rss" build/clipzs adapt inmap --features "$DATA/features.npy" \
    --text-proxies "$DATA/text_proxies.npy" --labels "$DATA/labels.npy" --out "$OUT/state-$mode" --overwrite \
    --iters "$ITERS" --no-ablation --loss-every 0 --threads "$THREADS" $flag 2>/dev/null > "$OUT/$mode.json"
  echo "{\"impl\": \"clipzs $mode\", \"result\": $(cat "$OUT/$mode.json"), \"rss\": $(cat "$OUT/$mode.rss")}"
done
if [ -f "$OFFICIAL" ]; then
  /usr/bin/time -f '{"maxrss_kb": %M}' -o "$OUT/official.rss" /usr/bin/python3 - "$OFFICIAL" "$DATA" "$ITERS" "$THREADS" > "$OUT/official.json" <<'PY'
import importlib.util, json, sys, time, types
import numpy as np, torch
sys.modules.setdefault("clip", types.ModuleType("clip"))  # main.py imports clip at the top
spec = importlib.util.spec_from_file_location("inmap_official", sys.argv[1]); m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
torch.set_num_threads(int(sys.argv[4]))
x = torch.from_numpy(np.load(sys.argv[2] + "/features.npy")); w = torch.from_numpy(np.load(sys.argv[2] + "/text_proxies.npy"))
y = torch.from_numpy(np.load(sys.argv[2] + "/labels.npy"))
with torch.no_grad():
    t = time.time()
    logits_t = x @ w
    plabel = m.sinkhorn(logits_t, 0.01, 0.0, 20)
    wi = m.image_opt(x, w, plabel, 10, int(sys.argv[3]), 0.04, 0.6)
    seconds = time.time() - t
    acc = ((x @ wi).argmax(1) == y).float().mean().item(); acc_t = (logits_t.argmax(1) == y).float().mean().item()
print(json.dumps({"seconds": seconds, "acc_text_proxy": acc_t, "acc_vision_proxy": acc}))
PY
  echo "{\"impl\": \"official python\", \"result\": $(cat "$OUT/official.json"), \"rss\": $(cat "$OUT/official.rss")}"
else
  echo "official main.py not found at $OFFICIAL: set INMAP_OFFICIAL" >&2
fi
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
try:
    ex = json.load(open(out + "/exact.json"))
    s = {"clipzs_exact_s": round(ex["seconds"], 2), "acc_exact": ex["metrics"]["acc_vision_proxy"]}
except FileNotFoundError:
    ex, s = None, {}
try:
    fa = json.load(open(out + "/fast.json"))
    s.update(clipzs_fast_s=round(fa["seconds"], 2), acc_fast=fa["metrics"]["acc_vision_proxy"])
except FileNotFoundError:
    fa = None
try:
    of = json.load(open(out + "/official.json"))
    s.update(official_s=round(of["seconds"], 2), acc_official=of["acc_vision_proxy"],
             **({"speedup_exact_vs_official": round(of["seconds"] / ex["seconds"], 2)} if ex else {}))
    if fa: s.update(speedup_fast_vs_official=round(of["seconds"] / fa["seconds"], 2))
except FileNotFoundError:
    pass
print(json.dumps(s))
PY
