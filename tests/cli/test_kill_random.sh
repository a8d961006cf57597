#!/usr/bin/env bash
# SIGKILL/SIGINT at random moments, then --resume: byte-identical to an uninterrupted run (a few trials;
# scripts/bench/kill_resume.sh runs 20+ for docs/reliability.md). The trials must really interrupt work:
# at least one kill lands while rows are being embedded and at least one while a --resume runs.
source "$(dirname "$0")/lib.sh"
if CLIPZS="$CLIPZS" MODEL="$TINY_VIT" WORK="$WORK" SEED=7 SIGINT_TRIALS=2 MIN_MID_KILLS=1 MIN_RESUME_KILLS=1 \
   bash "$CLIPZS_SOURCE_DIR/scripts/bench/kill_resume.sh" 8 160 >"$WORK/kill.log" 2>&1; then
  pass "8 random kills, every resumed store identical: $(grep summary "$WORK/kill.log")"
else
  fail "random kill trials"; sed 's/^/  /' "$WORK/kill.log" >&2
fi
finish
