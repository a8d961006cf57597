#!/usr/bin/env bash
# Decode + CLIP preprocessing throughput on one CPU thread: clipzs (bench/preprocess_bench.cpp) next to
# PIL + torchvision (scripts/bench/preprocess_pil.py), on the same images; prints both JSON lines and
# the ratio.
#
#   scripts/bench/preprocess_cpu.sh [IMAGE...]
# Environment: PREPROCESS_BENCH (the built binary; default: the newest build*/preprocess_bench),
#   IMAGES_DIR (default ../shared/reference/preprocess/images, every *.jpg/*.png but truncated.jpg),
#   SIZE (224), REPEAT (5), PYTHON (/usr/bin/python3, Debian's PIL 9.4 / torchvision 0.14).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
size="${SIZE:-224}"
repeat="${REPEAT:-5}"
python="${PYTHON:-/usr/bin/python3}"

bench="${PREPROCESS_BENCH:-}"
if [[ -z "$bench" ]]; then
  # The most recently built one, when there are several build directories.
  bench="$(ls -t "$root"/build*/preprocess_bench 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$bench" || ! -x "$bench" ]]; then
  echo "preprocess_bench not found: build it (cmake --build BUILD --target preprocess_bench) or set PREPROCESS_BENCH" >&2
  exit 2
fi

images=("$@")
if [[ ${#images[@]} -eq 0 ]]; then
  dir="${IMAGES_DIR:-$root/../shared/reference/preprocess/images}"
  shopt -s nullglob
  for f in "$dir"/*.jpg "$dir"/*.png; do
    [[ "$(basename "$f")" == truncated.jpg ]] || images+=("$f")
  done
fi
if [[ ${#images[@]} -eq 0 ]]; then
  echo "no images (set IMAGES_DIR or pass paths)" >&2
  exit 2
fi

# One thread each: keep BLAS/OpenMP pools of either side from spreading out.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
ours="$("$bench" --size "$size" --repeat "$repeat" "${images[@]}")"
pil="$("$python" "$root/scripts/bench/preprocess_pil.py" --size "$size" --repeat "$repeat" "${images[@]}")"
echo "$ours"
echo "$pil"
"$python" - "$ours" "$pil" <<'PY'
import json, sys
ours, pil = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({"images": ours["images"], "size": ours["size"], "clipzs_images_per_s": ours["images_per_s"],
                  "pil_images_per_s": pil["images_per_s"],
                  "ratio": round(ours["images_per_s"] / pil["images_per_s"], 2)}))
PY
