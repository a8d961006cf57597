#!/usr/bin/env bash
# Exact k-NN retrieval over an X-MoRe-size bank: clipzs exact_knn (bf16-screened, and fp32 products
# only) next to FAISS IndexFlatIP, in one process, on the same synthetic clustered fp16 bank, the same
# queries and the same thread budget (bench/knn_bench.cpp). Prints the JSON lines, then the ratios.
#   scripts/bench/knn_cpu.sh [ROWS=1000000] [QUERIES=10000] [THREADS=all cores]
# Environment: KNN_BENCH (the built binary; default: the newest build*/knn_bench), DIM (512), K (128),
#   METHODS (clipzs,clipzs-fp32,faiss), SEED (1), REPEAT (1: rounds of the method list, interleaved;
#   the summary takes each method's best round, which on a shared machine is its least disturbed one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rows=${1:-1000000}
queries=${2:-10000}
threads=${3:-$(nproc)}
bench="${KNN_BENCH:-}"
if [[ -z "$bench" ]]; then
  bench="$(ls -t "$root"/build*/knn_bench 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$bench" || ! -x "$bench" ]]; then
  echo "knn_bench not found: build it (cmake --build BUILD --target knn_bench) or set KNN_BENCH" >&2
  exit 2
fi
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
out="$("$bench" --rows "$rows" --dim "${DIM:-512}" --queries "$queries" --k "${K:-128}" --threads "$threads" \
  --seed "${SEED:-1}" --methods "${METHODS:-clipzs,clipzs-fp32,faiss}" --repeat "${REPEAT:-1}")"
echo "$out"
/usr/bin/python3 - "$out" <<'PY'
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines() if l.startswith("{")]
best = {}
for l in lines:
    if "seconds" in l and "method" in l:
        m = l["method"]
        if m not in best or l["seconds"] < best[m]["seconds"]:
            best[m] = l
for m, l in best.items():
    print(json.dumps({"best_of_rounds": m, "seconds": round(l["seconds"], 2), "queries_per_s": round(l["queries_per_s"], 1),
                      "cpu_seconds": round(l["cpu_seconds"], 1), "peak_rss_gb": round(l["peak_rss_gb"], 2)}))
if "faiss" in best:
    for m in ("clipzs", "clipzs-fp32"):
        if m in best:
            print(json.dumps({"ratio": f"{m} speed / faiss IndexFlatIP speed (best rounds)",
                              "value": round(best["faiss"]["seconds"] / best[m]["seconds"], 3)}))
PY
