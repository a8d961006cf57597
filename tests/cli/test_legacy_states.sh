#!/usr/bin/env bash
# Files written before a format change still read: the stores, method states and results JSON in
# tests/fixtures/legacy-* were made by an older clipzs (scripts/make_legacy_fixtures.sh, commit in
# each folder's MADE_BY); today's infer and eval must give the predictions and metrics that binary gave.
source "$(dirname "$0")/lib.sh"
CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
found=0
for L in "$FIXTURES"/legacy-*; do
  [ -d "$L" ] || continue
  found=$((found + 1))
  tag=$(basename "$L")
  expect_exit 0 "$tag: verify the old image store" -- "$CLIPZS" verify "$L/img"
  for m in zeroshot inmap xmore linear-probe tip-adapter tip-adapter-f; do
    args=(--model "$TINY_VIT" --store "$L/img" --method "$m" --no-progress --cache-dir "$WORK/cache")
    if [ "$m" = zeroshot ]; then
      args+=(--classes "$CFG/classnames.json" --templates "$CFG/templates.json" --dataset fashion-mnist)
    else
      args+=(--state "$L/$m")
    fi
    expect_exit 0 "$tag: infer --method $m on the old state" -- "$CLIPZS" infer "${args[@]}" --top-k 3 --out "$WORK/$m.jsonl"
    py_check "$tag: $m predictions equal the old binary's (top 3 classes, probabilities within 1e-5)" "
import json
old = [json.loads(l) for l in open('$L/expected-$m.jsonl')]; new = [json.loads(l) for l in open('$WORK/$m.jsonl')]
assert len(old) == len(new) == 50, (len(old), len(new))
for a, b in zip(old, new):
    assert a['index'] == b['index'] and a['prediction'] == b['prediction'], (a, b)
    assert [t['class'] for t in a['top']] == [t['class'] for t in b['top']], (a['top'], b['top'])
    assert all(abs(s['probability'] - t['probability']) <= 1e-5 for s, t in zip(a['top'], b['top'])), (a['top'], b['top'])"
    expect_exit 0 "$tag: eval --method $m on the old state" -- "$CLIPZS" eval "${args[@]}" --out "$WORK/res-$m.json"
    py_check "$tag: $m metrics equal the old results JSON" "
import json
old = json.load(open('$L/results-$m.json'))['metrics']; new = json.load(open('$WORK/res-$m.json'))['metrics']
for k in ['acc1', 'acc5', 'mean_per_class_recall']:
    assert abs(old[k] - new[k]) < 1e-12, (k, old[k], new[k])"
  done
  expect_exit 0 "$tag: eval report over the old results JSON" -- "$CLIPZS" eval report "$L"/results-*.json --out "$WORK/report-$tag"
  [ -s "$WORK/report-$tag/report.html" ] && pass "$tag: the report was written" || fail "$tag: no report.html"
done
[ "$found" -gt 0 ] || fail "no tests/fixtures/legacy-* folder"
finish
