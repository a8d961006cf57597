#!/usr/bin/env bash
# SIGKILL/SIGINT at random moments, then --resume: byte-identical to an uninterrupted run (a few trials;
# scripts/bench/kill_resume.sh runs 20+ for docs/reliability.md).
source "$(dirname "$0")/lib.sh"
if CLIPZS="$CLIPZS" MODEL="$TINY_VIT" WORK="$WORK" SEED=7 SIGINT_TRIALS=1 \
   bash "$CLIPZS_SOURCE_DIR/scripts/bench/kill_resume.sh" 5 64 2>"$WORK/kill.log"; then
  pass "5 random kills, every resumed store identical: $(grep summary "$WORK/kill.log")"
else
  fail "random kill trials"; sed 's/^/  /' "$WORK/kill.log" >&2
fi
finish
