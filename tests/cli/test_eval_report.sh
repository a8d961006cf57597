#!/usr/bin/env bash
# eval --report and eval report on real runs (Fashion-MNIST through the tiny random-weight bundle:
# zero-shot, InMaP, Tip-Adapter at K = 1 and 2 with two seeds): the files exist and are well-formed
# (HTML parsed, every chart a decodable PNG, the inlined charts byte-equal to charts/*.png), and the
# figures in summary.md are the results' own, recomputed here from the results JSON. No browser needed.
source "$(dirname "$0")/lib.sh"
need_fmnist
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

# The report folder is replaced as a whole, so only a new, empty or earlier report folder is taken:
# refused before anything is evaluated or removed.
mkdir -p res && cp res_zs.json res/keep.json
expect_exit 2 "--report DIR that holds other files" -- "$CLIPZS" eval --model "$TINY_VIT" --store test \
  --classes "$CFG/classnames.json" --dataset fashion-mnist --out zs_elsewhere.json --report res
expect_stderr "report folder 'res' holds 'res/keep.json', which is not part of a report" "names the file it would remove"
[ -e res/keep.json ] && [ ! -e zs_elsewhere.json ] && pass "nothing removed, nothing evaluated" || fail "a refused --report touched res/"
expect_exit 2 "--report over the folder of --out" -- "$CLIPZS" eval --model "$TINY_VIT" --store test \
  --classes "$CFG/classnames.json" --dataset fashion-mnist --out fresh/zs.json --report fresh
expect_stderr "'fresh/zs.json' lies in the report folder 'fresh'" "names the results file"
expect_exit 2 "--report . (the working folder)" -- "$CLIPZS" eval report res_zs.json --out .
expect_stderr "is the working folder or one above it" "says why"
expect_exit 2 "eval report --out / " -- "$CLIPZS" eval report res_zs.json --out /
[ -e res_zs.json ] && [ -d test ] && pass "the working folder is intact" || fail "the working folder lost files"
expect_exit 2 "eval report over the folder of a results file" -- "$CLIPZS" eval report res/keep.json --out res
expect_exit 0 "eval report over an earlier report folder" -- "$CLIPZS" eval report res_zs.json --out report2
[ ! -e report2/charts/methods.png ] && [ -e report2/charts/confusion.png ] && pass "the earlier report was replaced" \
  || fail "report2 not replaced"

# eval's own options are not silently ignored by its subcommands.
expect_exit 2 "eval summarize with --out (an eval option)" -- "$CLIPZS" eval summarize res_zs.json --out t.md
expect_stderr "does not take --out \\(an option of .clipzs eval.\\)" "names the option"
[ ! -e t.md ] && pass "nothing written" || fail "t.md written"
expect_exit 2 "eval report with --report-with (an eval option)" -- "$CLIPZS" eval report res_zs.json --out r6 --report-with res_inmap.json
expect_stderr "does not take --report-with" "names the option"
expect_exit 2 "--primary that does not exist" -- "$CLIPZS" eval report res_zs.json --primary nowhere.json --out r7
expect_stderr "nowhere.json" "names the missing file"

# Repeats are counted once; one dataset on two splits, or one model name with two weights, are told apart.
"$PY" - <<'PYEOF'
import json
r = json.load(open("res_tip_2_1.json")); json.dump(r, open("res_tip_2_1_again.json", "w"))
z = json.load(open("res_zs.json")); z["context"]["split"] = "val"; z["metrics"]["acc1"] = 0.5; json.dump(z, open("res_zs_val.json", "w"))
z = json.load(open("res_zs.json")); z["context"]["split"] = "test"; z["metrics"]["acc1"] = 0.75; json.dump(z, open("res_zs_test.json", "w"))
z = json.load(open("res_zs.json")); z["compare"] = {"x": {"acc1": "high"}}; json.dump(z, open("res_bad_compare.json", "w"))
z = json.load(open("res_zs.json")); z["pretrained"] = "other-weights"; z["metrics"]["acc1"] = 0.25; json.dump(z, open("res_zs_other.json", "w"))
bad = json.load(open("res_zs.json")); bad["dataset"] = 7; json.dump(bad, open("res_bad_type.json", "w"))
PYEOF
expect_exit 0 "eval report with repeats" -- "$CLIPZS" eval report res_zs.json res_zs.json res_tip_2_1.json res_tip_2_1_again.json \
  res_tip_2_2.json --out r8
py_check "a file given twice and a repeated K and seed are counted once, and said so" "
import json, re
from statistics import mean, stdev
md = open('r8/summary.md').read()
tip = [json.load(open(f))['metrics']['acc1'] for f in ('res_tip_2_1.json', 'res_tip_2_2.json')]
assert f'| fashion-mnist | tip-adapter K=2 | {100 * mean(tip):.2f} \u00b1 {100 * stdev(tip):.2f} | 2 |' in md, md
assert re.search(r'\| fashion-mnist \| zeroshot \| [0-9.]+ \| 1 \|', md), md
assert \"Note: 'res_zs.json' is given more than once\" in md, md
assert \"Note: 'res_tip_2_1_again.json' repeats tip-adapter K=2 seed 1 of 'res_tip_2_1.json'\" in md, md
notes = json.loads(open('$WORK/out').read())['report']['notes']; assert len(notes) == 2, notes"
expect_stderr "repeats tip-adapter K=2 seed 1" "the repeat is logged"
expect_exit 0 "eval report over two splits and two weights" -- "$CLIPZS" eval report res_zs.json res_zs_val.json res_zs_test.json \
  res_zs_other.json --out r9
py_check "splits and weights get bars of their own (a result naming no split joins the others)" "
md = open('r9/summary.md').read()
assert '| fashion-mnist (val) | zeroshot | 50.00 | 1 |' in md, md
assert '| fashion-mnist (test) | zeroshot | 75.00 | 1 |' in md, md
assert 'other-weights): zeroshot | 25.00 | 1 |' in md, md
assert '| fashion-mnist | ' in md, md"
expect_exit 3 "a results file with a field of the wrong type" -- "$CLIPZS" eval report res_bad_type.json --out r10
expect_stderr "res_bad_type.json' is not a clipzs eval results file" "names the file"
expect_exit 3 "a compare entry of the wrong type" -- "$CLIPZS" eval report res_zs.json res_bad_compare.json --out r11
expect_stderr "res_bad_compare.json': compare.x.acc1 is not a number" "names the file and the field"

# Spellings of one folder are one folder; a symbolic link is refused (replacing it would not replace the
# folder it points to).
expect_exit 0 "eval report --out report2/." -- "$CLIPZS" eval report res_zs.json res_inmap.json --out report2/.
[ -e report2/charts/methods.png ] && ! ls -d report2/*tmp* report2.tmp* 2>/dev/null && pass "report2/. is report2" || fail "report2/. went wrong"
expect_exit 0 "eval report --out ./report2/../report2" -- "$CLIPZS" eval report res_zs.json --out ./report2/../report2
[ -e report2/report.html ] && [ ! -e report2/charts/methods.png ] && ! ls -d report2.tmp* 2>/dev/null \
  && pass "./report2/../report2 is report2" || fail "./report2/../report2 went wrong"
ln -s report2 replink
expect_exit 2 "a report folder that is a symbolic link" -- "$CLIPZS" eval report res_zs.json --out replink
expect_stderr "is a symbolic link \\(to 'report2'\\)" "says so, and where it points"
[ -L replink ] && [ -e report2/report.html ] && pass "the link and its folder are untouched" || fail "replink changed"
expect_exit 2 "adapt --overwrite over the working folder" -- "$CLIPZS" adapt inmap --images test --text txt --out . --overwrite
expect_exit 2 "adapt --overwrite over a folder that is not a state" -- "$CLIPZS" adapt inmap --images test --text txt --out fm_test \
  --overwrite --no-ablation
expect_stderr "holds files but no state.json" "says it is not a state folder"
[ -d fm_test ] && [ -d test ] && pass "nothing removed" || fail "adapt --overwrite removed a folder"
expect_exit 0 "adapt --overwrite over a state folder" -- "$CLIPZS" adapt inmap --images test --text txt --out inmap --overwrite \
  --iters 10 --no-ablation
finish
