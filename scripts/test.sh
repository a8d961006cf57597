#!/usr/bin/env bash
# The test command: installs what is missing, builds clipzs and runs every test with CTest, in two builds:
#   build/       Debian's LibTorch 1.13 (CPU)                         always
#   build-cuda/  LibTorch 2.11 with CUDA 13.0 (PyPI's torch wheel)    where a CUDA toolkit (nvcc) is present
# Both run the whole suite (the CUDA build on the CPU where there is no GPU; its GPU-only tests then
# count as skipped). The last line counts both: "total: N passed, N failed, N skipped".
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # a CTest label subset (unit, base, core, gpu, cli, python), in each build
# Env: CLIPZS_BUILDS (auto: cpu, plus cuda where the toolkit is; or "cpu", "cuda", "cpu cuda"),
#      BUILD_DIR (build), CUDA_BUILD_DIR (build-cuda), JOBS (cores), CLIPZS_CXX_STANDARD (17 or 20),
#      CI or CLIPZS_STRICT_SKIPS=1 (a skipped test that is not GPU-only fails the run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The torch 2.11 venv: LibTorch of the CUDA build, and the torch 2.x that exports bundles for the
# cross-version tests of both builds.
torch_prefix=$(bash scripts/install-torch.sh)
venv_python=$(dirname "$(dirname "$(dirname "$(dirname "$torch_prefix")")")")/bin/python
JOBS=${JOBS:-$(nproc)}
BUILDS=${CLIPZS_BUILDS:-auto}
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ "$BUILDS" = auto ]; then
  BUILDS=cpu
  if [ -n "$nvcc" ]; then
    BUILDS="cpu cuda"
  else
    echo "test.sh: no CUDA toolkit (nvcc not on PATH nor in /usr/local/cuda/bin): the LibTorch 2.11 CUDA build is SKIPPED" >&2
  fi
fi

results=()  # "name passed failed skipped"
status=0
SKIPPED_LIST=$(mktemp)
trap 'rm -f "$SKIPPED_LIST"' EXIT
STRICT_SKIPS=0
case "${CI:-}" in ""|0|false|False|FALSE|no) ;; *) STRICT_SKIPS=1 ;; esac
if [ "${CLIPZS_STRICT_SKIPS:-0}" = 1 ]; then STRICT_SKIPS=1; fi

run_build() {  # name build-dir cmake-args... -- ctest-args...
  local name=$1 dir=$2; shift 2
  local cmake_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
  shift
  echo "test.sh: === $name build in $dir ===" >&2
  local ok=1
  mkdir -p "$dir"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCLIPZS_CXX_STANDARD="${CLIPZS_CXX_STANDARD:-17}" \
        -DCLIPZS_BUILD_TESTS=ON -DCLIPZS_WITH_FAISS=ON -DCLIPZS_WITH_FREETYPE=ON -DCLIPZS_TORCH2_PYTHON="$venv_python" "${cmake_args[@]}" >"$dir/configure.log" 2>&1 ||
    { ok=0; cat "$dir/configure.log" >&2; }
  if [ $ok -eq 1 ] && ! cmake --build "$dir" -j "$JOBS"; then ok=0; fi
  if [ $ok -eq 0 ]; then
    echo "test.sh: $name build FAILED to configure or compile" >&2
    results+=("$name 0 1 0")
    status=1
    return
  fi
  "$dir/clipzs" info -q >&2 || true
  local junit=$dir/ctest-junit.xml rc=0
  rm -f "$junit"
  (cd "$dir" && ctest --output-on-failure -j "$JOBS" --output-junit "$(pwd)/ctest-junit.xml" "$@") || rc=$?
  [ $rc -ne 0 ] && status=1
  # Which tests may skip: those labelled gpu (they need a device). Every other skip means something
  # the suite needs is missing; scripts/install-deps.sh installs all of it, so in CI (CI set, as CI
  # services do, or CLIPZS_STRICT_SKIPS=1) such a skip fails the run.
  (cd "$dir" && ctest --show-only=json-v1 "$@") >"$dir/ctest-tests.json" 2>/dev/null || true
  local counts
  counts=$(python3 scripts/ctest_summary.py "$junit" "$dir/ctest-tests.json" "$name" "$dir/skipped.txt")
  results+=("$name $counts")
  cat "$dir/skipped.txt" >> "$SKIPPED_LIST"
}

for b in $BUILDS; do
  case $b in
    cpu) run_build "cpu (Debian LibTorch 1.13)" "${BUILD_DIR:-build}" -- "$@" ;;
    cuda)
      if [ -z "$nvcc" ]; then
        echo "test.sh: CLIPZS_BUILDS names cuda but no CUDA toolkit (nvcc) was found" >&2; status=1; continue
      fi
      run_build "cuda (LibTorch 2.11, CUDA 13.0)" "${CUDA_BUILD_DIR:-build-cuda}" \
        -DCMAKE_PREFIX_PATH="$torch_prefix" -DCLIPZS_REQUIRE_CUDA=ON -DCLIPZS_TEST_PYTHON="$venv_python" -- "$@" ;;
    *) echo "test.sh: unknown build '$b' in CLIPZS_BUILDS (cpu, cuda)" >&2; exit 2 ;;
  esac
done

echo "test.sh: summary" >&2
tp=0; tf=0; ts=0
for r in "${results[@]}"; do
  read -r -a f <<<"$r"
  n=${#f[@]}
  p=${f[$((n - 3))]} fl=${f[$((n - 2))]} s=${f[$((n - 1))]}
  echo "  ${f[*]:0:$((n - 3))}: $p passed, $fl failed, $s skipped" >&2
  tp=$((tp + p)); tf=$((tf + fl)); ts=$((ts + s))
done
python3 scripts/ctest_summary.py --skips "$SKIPPED_LIST" "$STRICT_SKIPS" || status=1
echo "total: $tp passed, $tf failed, $ts skipped"
exit $status
