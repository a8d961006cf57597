#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang into build-fuzz/ and runs each for a fixed time.
#
#   scripts/fuzz.sh [TARGET...]          default: every fuzz/fuzz_*.cpp
#
# Environment:
#   FUZZ_TIME=600    seconds per target (-max_total_time)
#   JOBS=1           targets run at the same time (each is one process; JOBS=2 on a 2-core machine)
#   FUZZ_OUT=DIR     scratch folder for working corpora, logs and crash files
#                    (default /tmp/clipzs-fuzz-<date>); the committed seeds in fuzz/corpus/ are copied
#                    there and never written to
#   BUILD=0          skip configure + build (use the harnesses already in build-fuzz/)
#   NICE=10          niceness of the build and the fuzzers
#   FUZZ_ARGS=...    extra libFuzzer flags for every target
#   FUZZ_BIN_DIR=DIR harnesses to run (default build-fuzz/fuzz), e.g. a build with a patch under test
#
# Needs clang and the libFuzzer runtime (Debian: apt install clang-14 libclang-rt-14-dev) and the
# build dependencies of clipzs_base (scripts/install-deps.sh). Prints, per target: seconds, executions,
# exec/s, coverage (cov/ft: libFuzzer's covered edges and features), corpus size (files/KiB) and crash
# files; exits 1 if any target crashed. The table is also written to $FUZZ_OUT/summary.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="$ROOT/build-fuzz"
FUZZ_TIME="${FUZZ_TIME:-600}"
JOBS="${JOBS:-1}"
NICE="${NICE:-10}"
FUZZ_OUT="${FUZZ_OUT:-/tmp/clipzs-fuzz-$(date +%Y%m%d-%H%M%S)}"
CC_BIN="${CC:-clang}"
CXX_BIN="${CXX:-clang++}"

if ! command -v "$CXX_BIN" >/dev/null || ! "$CXX_BIN" --version 2>/dev/null | grep -qi clang; then
  echo "fuzz.sh: needs clang ('$CXX_BIN' not found or not clang): apt install clang-14 libclang-rt-14-dev" >&2
  exit 2
fi
if ! echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, long) { return 0; }' |
    "$CXX_BIN" -x c++ -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
  echo "fuzz.sh: $CXX_BIN cannot link -fsanitize=fuzzer: apt install libclang-rt-14-dev" >&2
  exit 2
fi

if [[ "${BUILD:-1}" != 0 ]]; then
  CC="$CC_BIN" CXX="$CXX_BIN" nice -n "$NICE" cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCLIPZS_FUZZ=ON \
    -DCLIPZS_BUILD_TESTS=OFF -DCLIPZS_PCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  nice -n "$NICE" cmake --build "$BUILD_DIR" --target clipzs_fuzzers
fi

if [[ $# -gt 0 ]]; then
  TARGETS=("$@")
else
  TARGETS=()
  for f in "$ROOT"/fuzz/fuzz_*.cpp; do TARGETS+=("$(basename "$f" .cpp)"); done
fi

mkdir -p "$FUZZ_OUT"
# The harnesses write their inputs under $CLIPZS_FUZZ_TMPDIR; a crashed process leaves its folder,
# so all of them go into one folder removed on exit.
export CLIPZS_FUZZ_TMPDIR
CLIPZS_FUZZ_TMPDIR="$(mktemp -d /dev/shm/clipzs-fuzz-run.XXXXXX 2>/dev/null || mktemp -d)"
trap 'rm -rf "$CLIPZS_FUZZ_TMPDIR"' EXIT

run_target() {
  local t="$1" dir="$FUZZ_OUT/$1" extra=()
  local bin="${FUZZ_BIN_DIR:-$BUILD_DIR/fuzz}/$t"
  [[ -x "$bin" ]] || { echo "fuzz.sh: no harness $bin" >&2; return 1; }
  rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$ROOT/fuzz/corpus/$t/"* "$dir/corpus/" 2>/dev/null || true
  [[ -f "$ROOT/fuzz/dict/$t.dict" ]] && extra+=("-dict=$ROOT/fuzz/dict/$t.dict")
  [[ "$t" == fuzz_tar_shard ]] && extra+=(-max_len=16384)  # several 512-byte blocks per member
  echo "fuzz.sh: $t for ${FUZZ_TIME}s -> $dir/fuzz.log"
  local rc=0 start=$SECONDS
  nice -n "$NICE" "$bin" "$dir/corpus" -max_total_time="$FUZZ_TIME" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${extra[@]}" ${FUZZ_ARGS:-} \
    >"$dir/fuzz.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
  echo $((SECONDS - start)) >"$dir/seconds"
}

running=0
for t in "${TARGETS[@]}"; do
  if (( running >= JOBS )); then wait -n || true; running=$((running - 1)); fi
  run_target "$t" &
  running=$((running + 1))
done
wait || true

# Summary from each log: the final stats and the last coverage line libFuzzer printed.
status=0
{
  printf '%-22s %7s %12s %8s %7s %7s %9s %s\n' target seconds executions exec/s cov ft corpus crashes
  for t in "${TARGETS[@]}"; do
    dir="$FUZZ_OUT/$t" log="$FUZZ_OUT/$t/fuzz.log"
    [[ -f "$log" ]] || continue
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # libFuzzer's own figure when it finished ("Done N runs in S seconds"), else the wall time.
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    [[ -n "$secs" ]] || secs=$(cat "$dir/seconds" 2>/dev/null || true)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus="$(find "$dir/corpus" -type f | wc -l)/$(find "$dir/corpus" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s / 1024}')K"
    crashes=$(find "$dir/artifacts" -type f | wc -l)
    rc=$(cat "$dir/rc" 2>/dev/null || echo '?')
    [[ "$crashes" != 0 || "$rc" != 0 ]] && status=1
    crash_txt="$crashes"
    [[ "$crashes" != 0 ]] && crash_txt="$crashes ($(find "$dir/artifacts" -type f -printf '%f ' | head -c 200))"
    [[ "$rc" != 0 ]] && crash_txt="$crash_txt rc=$rc"
    printf '%-22s %7s %12s %8s %7s %7s %9s %s\n' "$t" "${secs:-?}" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
      "$corpus" "$crash_txt"
  done
} | tee "$FUZZ_OUT/summary.txt"
echo "fuzz.sh: logs, corpora and crash files in $FUZZ_OUT"
exit $status
