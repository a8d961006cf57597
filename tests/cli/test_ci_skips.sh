#!/usr/bin/env bash
# scripts/ctest_summary.py, which scripts/test.sh uses to count a CTest run and to fail a CI run in which
# anything but a GPU-only test was skipped: fed a JUnit file and a test listing made here.
source "$(dirname "$0")/lib.sh"
S="$CLIPZS_SOURCE_DIR/scripts/ctest_summary.py"
cat > "$WORK/junit.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="x" tests="5" failures="1" skipped="2">
  <testcase name="Units.Pass" status="run"><system-out>ok</system-out></testcase>
  <testcase name="Units.Fail" status="fail"><failure message="Failed"/></testcase>
  <testcase name="GpuSmoke.Fp32MatchesCpu" status="notrun"><skipped message="Skipped"/><system-out>[  SKIPPED ] no CUDA device</system-out></testcase>
  <testcase name="cli.test_needs_reference" status="notrun"><skipped message="Skipped"/><system-out>SKIP: ../shared/reference absent</system-out></testcase>
  <testcase name="cli.test_pass" status="run"/>
</testsuite>
XML
cat > "$WORK/tests.json" <<'JSON'
{"tests": [{"name": "GpuSmoke.Fp32MatchesCpu", "properties": [{"name": "LABELS", "value": ["unit", "gpu"]}]},
           {"name": "cli.test_needs_reference", "properties": [{"name": "LABELS", "value": ["cli"]}]}]}
JSON
expect_exit 0 "counts" -- "$PY" "$S" "$WORK/junit.xml" "$WORK/tests.json" cpu "$WORK/skipped.txt"
grep -qx "2 1 2" "$WORK/out" && pass "2 passed, 1 failed, 2 skipped" || fail "counts: $(cat "$WORK/out")"
py_check "the GPU test is marked gpu, the other skip other, with their reasons" "
rows = [l.rstrip('\n').split('\t') for l in open('$WORK/skipped.txt')]
assert [r[:3] for r in rows] == [['gpu', 'cpu', 'GpuSmoke.Fp32MatchesCpu'], ['other', 'cpu', 'cli.test_needs_reference']], rows
assert 'shared/reference' in rows[1][3], rows"
expect_exit 1 "in CI (strict), a skip that is not GPU-only fails the run" -- "$PY" "$S" --skips "$WORK/skipped.txt" 1
expect_stderr "NOT ALLOWED IN CI.*cli.test_needs_reference" "the offending test is named"
expect_exit 0 "outside CI the same skips are listed, not failed" -- "$PY" "$S" --skips "$WORK/skipped.txt" 0
expect_stderr "needs something missing here.*cli.test_needs_reference" "listed with its reason"
grep -v '^other' "$WORK/skipped.txt" > "$WORK/gpu_only.txt"
expect_exit 0 "in CI, GPU-only skips pass" -- "$PY" "$S" --skips "$WORK/gpu_only.txt" 1
expect_stderr "needs a GPU.*GpuSmoke" "and are listed as needing a GPU"
echo "not xml" > "$WORK/broken.xml"
expect_exit 0 "an unreadable JUnit file" -- "$PY" "$S" "$WORK/broken.xml" "$WORK/tests.json" cpu "$WORK/s2.txt"
grep -qx "0 1 0" "$WORK/out" && pass "counts as one failure" || fail "unreadable JUnit: $(cat "$WORK/out")"
finish
