#!/usr/bin/env bash
# eval --report and eval report on real runs (Fashion-MNIST through the tiny random-weight bundle:
# zero-shot, InMaP, Tip-Adapter at K = 1 and 2 with two seeds): the files exist and are well-formed
# (HTML parsed, every chart a decodable PNG, the inlined charts byte-equal to charts/*.png), and the
# figures in summary.md are the results' own, recomputed here from the results JSON. No browser needed.
source "$(dirname "$0")/lib.sh"
[ -d /usr/share/datasets/fashion-mnist ] || { echo "SKIP: dataset-fashion-mnist not installed"; exit 77; }
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_train" --split train --per-class 6 >/dev/null
"$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm_test" --split test --per-class 6 >/dev/null
CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
cd "$WORK" || exit 1
"$CLIPZS" -q embed images --model "$TINY_VIT" --input fm_train --out train --threads 1 >/dev/null || fail "embed train"
"$CLIPZS" -q embed images --model "$TINY_VIT" --input fm_test --out test --threads 1 >/dev/null || fail "embed test"
"$CLIPZS" -q embed texts --model "$TINY_VIT" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" \
  --dataset fashion-mnist --out txt >/dev/null || fail "embed texts"
"$CLIPZS" -q adapt inmap --images test --text txt --out inmap --iters 100 --no-ablation >/dev/null || fail "adapt inmap"
"$CLIPZS" -q eval --model "$TINY_VIT" --store test --method inmap --state inmap --dataset-name fashion-mnist \
  --out res_inmap.json >/dev/null || fail "eval inmap"
for k in 1 2; do for s in 1 2; do
  "$CLIPZS" -q adapt tip-adapter --train train --val train --text txt --shots $k --seed $s --out tip_${k}_$s >/dev/null \
    || fail "adapt tip-adapter K=$k seed $s"
  "$CLIPZS" -q eval --model "$TINY_VIT" --store test --method tip-adapter --state tip_${k}_$s --dataset-name fashion-mnist \
    --out res_tip_${k}_$s.json >/dev/null || fail "eval tip-adapter K=$k seed $s"
done; done

expect_exit 0 "eval --report with --report-with" -- "$CLIPZS" eval --model "$TINY_VIT" --store test --classes "$CFG/classnames.json" \
  --templates "$CFG/templates.json" --dataset fashion-mnist --out res_zs.json --report report \
  --report-with res_inmap.json res_tip_1_1.json res_tip_1_2.json res_tip_2_1.json res_tip_2_2.json
CHECK='
import base64, glob, html.parser, json, os, re, sys, zlib
from statistics import mean, stdev
from PIL import Image
d, files = sys.argv[1], sys.argv[2:]
res = {f: json.load(open(f)) for f in files}
primary = res[files[0]]
charts = sorted(os.listdir(d + "/charts"))
assert charts == sorted(["per_class_recall.png", "confusion.png", "methods.png", "fewshot_fashion-mnist.png"]), charts
for c in charts:
    raw = open(f"{d}/charts/{c}", "rb").read()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", c
    im = Image.open(f"{d}/charts/{c}"); im.load()
    assert im.size[0] >= 800 and im.size[1] >= 300, (c, im.size)
    lo, hi = im.convert("L").getextrema(); assert lo < 100 and hi == 255, (c, lo, hi)
# The page: parses, tags balance, no external references, each inlined image is a chart file.
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.images = []; s.external = []
    def handle_starttag(s, tag, attrs):
        a = dict(attrs)
        if tag == "img": s.images.append(a["src"])
        for k in ("src", "href"):
            if k in a and re.match(r"(https?:)?//", a[k]): s.external.append(a[k])
        if tag not in ("meta", "img", "br", "link"): s.stack.append(tag)
    def handle_endtag(s, tag):
        assert s.stack and s.stack[-1] == tag, (tag, s.stack[-3:]); s.stack.pop()
p = P(); p.feed(open(d + "/report.html", encoding="utf-8").read()); p.close()
assert not p.stack, p.stack
assert not p.external, p.external
inlined = [base64.b64decode(s.split(",", 1)[1]) for s in p.images]
assert sorted(inlined) == sorted(open(f"{d}/charts/{c}", "rb").read() for c in charts), "inlined images differ from charts/"
# summary.md: headline, comparison (mean +- sample std over seeds at the largest K), curve table, confusions.
md = open(d + "/summary.md", encoding="utf-8").read()
pc = lambda v: f"{100 * v:.2f}"
M = primary["metrics"]; a1, a5, mr = pc(M["acc1"]), pc(M["acc5"]), pc(M["mean_per_class_recall"])
assert f"| top-1 accuracy | {a1} % |" in md, md
assert f"| top-5 accuracy | {a5} % |" in md
assert f"| mean per-class recall | {mr} % |" in md
tip = {k: [r["metrics"]["acc1"] for f, r in res.items() if r["context"]["method"] == "tip-adapter" and r["context"]["fewshot"]["shots"] == k] for k in (1, 2)}
assert all(len(v) == 2 for v in tip.values()), tip
fmt = lambda v: f"{pc(mean(v))} \u00b1 {pc(stdev(v))}"
zs = pc([r for r in res.values() if r["context"]["method"] == "zeroshot"][0]["metrics"]["acc1"])
inm = pc([r for r in res.values() if r["context"]["method"] == "inmap"][0]["metrics"]["acc1"])
assert f"| fashion-mnist | zeroshot | {zs} | 1 |" in md, md
assert f"| fashion-mnist | inmap | {inm} | 1 |" in md, md
assert f"| fashion-mnist | tip-adapter K=2 | {fmt(tip[2])} | 2 |" in md, md
assert f"| tip-adapter | {fmt(tip[1])} | {fmt(tip[2])} |" in md, md
# Top confusion: the largest off-diagonal count of the primary confusion matrix.
cm = primary["confusion_matrix"]; names = [c["class"] for c in primary["per_class"]]
best = max((cm[i][j], -i, -j) for i in range(len(cm)) for j in range(len(cm)) if i != j)
i, j = -best[1], -best[2]
if best[0] > 0:
    assert re.search(rf"\| 1 \| {re.escape(names[i])} \| {re.escape(names[j])} \| {best[0]} \|", md), (names[i], names[j], best, md)
'
py_check "report files well-formed; the figures are the results' own" "import sys; sys.argv = ['', 'report', 'res_zs.json', 'res_inmap.json', 'res_tip_1_1.json', 'res_tip_1_2.json', 'res_tip_2_1.json', 'res_tip_2_2.json']
$CHECK"
py_check "the JSON result names the report" "
import json; r = json.loads(open('$WORK/out').read()); assert r['report']['html'] == 'report/report.html' and len(r['report']['charts']) == 4, r"

# eval report over saved results, primary chosen: the same checks with the InMaP run's confusions.
expect_exit 0 "eval report FILES --primary" -- "$CLIPZS" eval report res_tip_*.json res_zs.json res_inmap.json --primary res_inmap.json \
  --out report2 --title "Fashion-MNIST sweep"
py_check "eval report: well-formed, InMaP as the primary result" "import sys; sys.argv = ['', 'report2', 'res_inmap.json', 'res_zs.json', 'res_tip_1_1.json', 'res_tip_1_2.json', 'res_tip_2_1.json', 'res_tip_2_2.json']
$CHECK
assert md.startswith('# Fashion-MNIST sweep\n'), md[:80]"

expect_exit 0 "--skip-existing still writes the report" -- "$CLIPZS" eval --model "$TINY_VIT" --store test \
  --classes "$CFG/classnames.json" --dataset fashion-mnist --out res_zs.json --skip-existing --report report5 --report-with res_inmap.json
py_check "the skipped run's report is made from the results already there" "
import json
r = json.loads(open('$WORK/out').read()); assert r['skipped'] and r['report']['html'] == 'report5/report.html', r
md = open('$WORK/report5/summary.md').read(); a = json.load(open('$WORK/res_zs.json'))['metrics']['acc1']
assert f'| top-1 accuracy | {100 * a:.2f} % |' in md and '| inmap |' in md, md"

echo '{"not": "results"}' > junk.json
expect_exit 3 "--report-with a file that is not a results file" -- "$CLIPZS" eval --model "$TINY_VIT" --store test \
  --classes "$CFG/classnames.json" --dataset fashion-mnist --out res2.json --report report3 --report-with junk.json
expect_stderr "junk.json' is not a clipzs eval results file" "names the file"
[ ! -e report3 ] && [ ! -e res2.json ] && pass "nothing written" || fail "output left after a refused --report-with"
expect_exit 2 "--primary not among the files" -- "$CLIPZS" eval report res_zs.json --primary res_inmap.json --out report4
expect_exit 2 "--report-with without --report" -- "$CLIPZS" eval --model "$TINY_VIT" --store test \
  --classes "$CFG/classnames.json" --dataset fashion-mnist --out res3.json --report-with res_zs.json
finish
