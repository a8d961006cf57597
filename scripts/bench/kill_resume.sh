#!/usr/bin/env bash
# Kill `clipzs embed images` at random moments (SIGKILL, and SIGINT), then --resume: the finished store
# must be byte-identical to an uninterrupted run's, and a killed store must never read as complete.
#
#   scripts/bench/kill_resume.sh [TRIALS] [IMAGES]        # defaults: 20 trials, 240 images
# Env: CLIPZS (default build/clipzs), MODEL (default the tiny-vit test bundle), SEED (default 1),
#      BATCH (default 8), SIGINT_TRIALS (default TRIALS/4), WORK (default a temp folder, removed),
#      MIN_MID_KILLS, MIN_RESUME_KILLS (default 0): fail unless at least this many kills landed while
#      rows were being embedded (some rows kept, store unfinished) and while a --resume was running.
# Prints one line per trial and a summary line; exits 1 on any failed check. tests/cli/test_kill_random.sh
# runs it with a few trials in CI.
set -uo pipefail
# Job control: background jobs of a non-interactive shell otherwise start with SIGINT ignored, which
# no terminal user's clipzs has.
set -m
cd "$(dirname "$0")/../.."
TRIALS=${1:-20}
IMAGES=${2:-240}
CLIPZS=${CLIPZS:-build/clipzs}
MODEL=${MODEL:-tests/fixtures/bundles/tiny-vit}
BATCH=${BATCH:-8}
SIGINT_TRIALS=${SIGINT_TRIALS:-$((TRIALS / 4))}
RANDOM=${SEED:-1}
PY=/usr/bin/python3
OWN_WORK=0
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d "${TMPDIR:-/tmp}/clipzs-kill.XXXXXX"); OWN_WORK=1; fi
trap '[ "$OWN_WORK" = 1 ] && rm -rf "$WORK"' EXIT
failures=0
bad() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# Images of several formats and sizes (so decode times vary), plus two broken files.
"$PY" - "$WORK/images" "$IMAGES" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
root, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(n):
    cls = os.path.join(root, f"class{i % 4}")
    os.makedirs(cls, exist_ok=True)
    w, h = int(rng.integers(40, 400)), int(rng.integers(40, 400))
    base = rng.integers(0, 256, size=(h // 8 + 2, w // 8 + 2, 3)).astype(np.uint8)
    img = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    img.save(os.path.join(cls, f"img{i:05d}." + ("jpg" if i % 3 else "png")))
open(os.path.join(root, "class0", "broken.jpg"), "wb").write(b"\xff\xd8\xff\xe0 cut")
open(os.path.join(root, "class1", "empty.png"), "wb").close()
PYEOF

args=(embed images --model "$MODEL" --input "$WORK/images" --threads 1 --workers 1 --batch-size "$BATCH" --no-progress)
start=$(date +%s.%N)
"$CLIPZS" "${args[@]}" --out "$WORK/reference" >/dev/null 2>"$WORK/ref.err" || { cat "$WORK/ref.err" >&2; exit 1; }
full_s=$("$PY" -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
total_rows=$(wc -l < "$WORK/reference/rows.jsonl")
echo "uninterrupted run: $total_rows rows in ${full_s} s" >&2

same_as_reference() {  # store dir: data and rows byte-identical, and it verifies
  cmp -s "$WORK/reference/embeddings.npy" "$1/embeddings.npy" && cmp -s "$WORK/reference/rows.jsonl" "$1/rows.jsonl" &&
    "$CLIPZS" verify "$1" >/dev/null 2>&1
}

# How a trigger is printed: "0.871 s" or "rows>=12".
when() { case $1 in rows*) echo "$1" ;; *) echo "$1 s" ;; esac; }

# A random delay in [0, 1.2 x the uninterrupted run's time], in seconds.
random_delay() { "$PY" -c "import sys; print(f'{float(sys.argv[1]) * 1.2 * int(sys.argv[2]) / 32767:.3f}')" "$full_s" "$RANDOM"; }

# Runs the command in the background and sends SIGNAL after DELAY seconds, or, for DELAY "rows>=N", as
# soon as the store's partial rows file holds N rows (polled every 10 ms: the signal lands while the run
# is embedding, whatever its start-up time). Prints the exit status.
run_and_signal() {
  local signal=$1 delay=$2 out=$3; shift 3
  "$CLIPZS" "$@" --out "$out" >/dev/null 2>>"$WORK/runs.err" &
  local pid=$!
  case $delay in
    rows\>=*)
      local want=${delay#rows>=}
      while kill -0 "$pid" 2>/dev/null; do
        if [ -f "$out/rows.partial.jsonl" ] && [ "$(wc -l < "$out/rows.partial.jsonl")" -ge "$want" ]; then break; fi
        sleep 0.01
      done ;;
    *) sleep "$delay" ;;
  esac
  kill -s "$signal" "$pid" 2>/dev/null
  wait "$pid"
  echo $?
}

killed_mid_run=0; killed_mid_embedding=0; finished_before_kill=0; kills_during_resume=0; rows_at_kill_total=0; sigint_clean=0
for trial in $(seq 1 "$TRIALS"); do
  store="$WORK/trial$trial"
  signal=KILL
  [ "$trial" -le "$SIGINT_TRIALS" ] && signal=INT
  # Every third trial waits for a random number of rows instead of a random time, so that some kills
  # land mid-embedding however long start-up takes.
  if [ $((trial % 3)) -eq 0 ] && [ "$total_rows" -gt "$BATCH" ]; then delay="rows>=$((1 + RANDOM % (total_rows - BATCH)))"
  else delay=$(random_delay); fi
  code=$(run_and_signal "$signal" "$delay" "$store" "${args[@]}")
  rows_at_kill=0
  [ -f "$store/rows.partial.jsonl" ] && rows_at_kill=$(wc -l < "$store/rows.partial.jsonl")
  if [ -f "$store/manifest.json" ]; then
    # Finished before the signal, or killed after its manifest was written (exit 137): either way the
    # store is complete, and a --resume (a requeued job) must accept it as done and leave it untouched.
    finished_before_kill=$((finished_before_kill + 1))
    case "$code" in 0|130|137) ;; *) bad "trial $trial: a complete store but exit $code" ;; esac
    same_as_reference "$store" || bad "trial $trial: finished before the kill, but differs from the reference"
    "$CLIPZS" "${args[@]}" --out "$store" --resume >/dev/null 2>>"$WORK/runs.err" || bad "trial $trial: --resume of a complete store failed"
    same_as_reference "$store" || bad "trial $trial: --resume changed a complete store"
    echo "trial $trial: SIG$signal at $(when "$delay"): run had finished (exit $code); --resume accepts it" >&2
    rm -rf "$store"
    continue
  fi
  killed_mid_run=$((killed_mid_run + 1))
  [ "$rows_at_kill" -gt 0 ] && killed_mid_embedding=$((killed_mid_embedding + 1))
  rows_at_kill_total=$((rows_at_kill_total + rows_at_kill))
  if [ "$signal" = INT ]; then
    # SIGINT: a clean stop after the current batch, exit 130, finished rows kept on a batch boundary
    # (or all of them, when the last, shorter batch was done). Anything else is a failure.
    if [ "$code" -ne 130 ]; then bad "trial $trial: SIGINT gave exit $code, expected 130"
    elif [ $((rows_at_kill % BATCH)) -ne 0 ] && [ "$rows_at_kill" -ne "$total_rows" ]; then
      bad "trial $trial: SIGINT stop kept $rows_at_kill rows, not a whole number of batches of $BATCH (a half-written batch)"
    else sigint_clean=$((sigint_clean + 1)); fi
  elif [ "$code" -ne 137 ]; then
    bad "trial $trial: SIGKILL gave exit $code, expected 137"
  fi
  # Never readable as complete before it is.
  "$CLIPZS" info --store "$store" >/dev/null 2>&1 && bad "trial $trial: a killed store reads as complete"
  "$CLIPZS" verify "$store" >/dev/null 2>&1 && bad "trial $trial: a killed store verifies"
  # Every other SIGKILL trial: kill the resume too, at a random moment.
  second=""
  if [ "$signal" = KILL ] && [ $((trial % 2)) -eq 0 ]; then
    d2="rows>=$((rows_at_kill + 1))"  # once the resume has added a batch of its own
    c2=$(run_and_signal KILL "$d2" "$store" "${args[@]}" --resume)
    if [ ! -f "$store/manifest.json" ]; then
      # Only a resume the signal stopped counts; one that ended by itself (refused, crashed) is a failure.
      if [ "$c2" -eq 137 ]; then kills_during_resume=$((kills_during_resume + 1)); second=", resume killed at $(when "$d2") (exit $c2)"
      else bad "trial $trial: the --resume ended by itself with exit $c2 and left the store unfinished"; fi
    fi
  fi
  if [ ! -f "$store/manifest.json" ]; then
    "$CLIPZS" "${args[@]}" --out "$store" --resume >/dev/null 2>>"$WORK/runs.err" || bad "trial $trial: --resume failed: $(tail -2 "$WORK/runs.err")"
  fi
  if same_as_reference "$store"; then verdict="identical"; else verdict="DIFFERENT"; bad "trial $trial: resumed store differs"; fi
  echo "trial $trial: SIG$signal at $(when "$delay") (exit $code, $rows_at_kill rows kept)$second; resumed store $verdict" >&2
  rm -rf "$store"
done

echo "summary: trials=$TRIALS killed_mid_run=$killed_mid_run killed_mid_embedding=$killed_mid_embedding finished_before_signal=$finished_before_kill" \
     "kills_during_resume=$kills_during_resume sigint_trials=$SIGINT_TRIALS sigint_clean=$sigint_clean" \
     "mean_rows_kept=$([ "$killed_mid_run" -gt 0 ] && echo $((rows_at_kill_total / killed_mid_run)) || echo 0)" \
     "failures=$failures"
if [ "$killed_mid_embedding" -lt "${MIN_MID_KILLS:-0}" ]; then
  echo "FAIL: only $killed_mid_embedding kill(s) landed mid-embedding, fewer than MIN_MID_KILLS=$MIN_MID_KILLS (more images or trials)" >&2
  failures=$((failures + 1))
fi
if [ "$kills_during_resume" -lt "${MIN_RESUME_KILLS:-0}" ]; then
  echo "FAIL: only $kills_during_resume kill(s) landed during a --resume, fewer than MIN_RESUME_KILLS=$MIN_RESUME_KILLS (more images or trials)" >&2
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ]
