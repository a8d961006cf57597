#!/usr/bin/env bash
# Progress on stderr: plain log lines when stderr is not a terminal (every --progress-every seconds and
# one per completed stage), a line redrawn in place on a terminal, nothing with --quiet; stdout keeps
# only the JSON result in every mode.
source "$(dirname "$0")/lib.sh"
make_images "$WORK/a"; make_images "$WORK/b"; make_images "$WORK/c"   # 18 images
ls -d "$WORK"/{a,b,c}/*/* > "$WORK/list.txt"
args=(embed images --model "$TINY_VIT" --input "$WORK/list.txt" --batch-size 4 --threads 1)

expect_exit 0 "embed, stderr a file, a log line per batch (--progress-every 0.001)" -- "$CLIPZS" "${args[@]}" \
  --progress-every 0.001 --out "$WORK/s1"
py_check "periodic lines count up with rate and ETA; one completion line; stdout is one JSON line" "
import json, re
err = open('$WORK/err').read()
assert '\r' not in err and '\x1b' not in err, 'terminal codes in a log'
mid = re.findall(r'\] embed: (\d+)/18 rows \(([\d.]+)%\), ([\d.]+) rows/s, ETA (\d\d:\d\d)', err)
counts = [int(m[0]) for m in mid]  # batches closer than 1 ms apart share a line
assert counts and counts == sorted(set(counts)) and all(c % 4 == 0 and c < 18 for c in counts), mid
assert all(abs(float(m[1]) - 100 * int(m[0]) / 18) < 0.06 for m in mid), mid
done = re.findall(r'\] embed: 18/18 rows done in \d\d:\d\d \(([\d.]+) rows/s\)', err)
assert len(done) == 1 and float(done[0]) > 0, err
lines = open('$WORK/out').read().splitlines(); assert len(lines) == 1 and json.loads(lines[0])['rows'] == 18"
expect_exit 0 "embed, default interval (30 s)" -- "$CLIPZS" "${args[@]}" --out "$WORK/s2"
py_check "a short run logs only its completion line" "
import re
err = open('$WORK/err').read()
assert not re.search(r'embed: \d+/18 rows \(', err), err
assert len(re.findall(r'embed: 18/18 rows done in', err)) == 1, err"

expect_exit 0 "--quiet after the subcommand" -- "$CLIPZS" "${args[@]}" --out "$WORK/s3" --quiet --progress-every 0.001
[ ! -s "$WORK/err" ] && pass "--quiet: stderr is empty" || { fail "--quiet printed on stderr"; cat "$WORK/err" >&2; }
[ "$(wc -l < "$WORK/out")" -eq 1 ] && pass "--quiet: the JSON result is still on stdout" || fail "--quiet: no result"
expect_exit 0 "-q before the subcommand" -- "$CLIPZS" -q "${args[@]}" --out "$WORK/s4"
[ ! -s "$WORK/err" ] && pass "-q: stderr is empty" || fail "-q printed on stderr"
expect_exit 0 "--no-progress keeps the logs, drops the progress" -- "$CLIPZS" "${args[@]}" --out "$WORK/s5" --no-progress
grep -q "images listed" "$WORK/err" && ! grep -q "rows done" "$WORK/err" && pass "--no-progress: logs without progress" \
  || fail "--no-progress: wrong stderr"
expect_exit 2 "--progress-every must be positive" -- "$CLIPZS" "${args[@]}" --out "$WORK/s6" --progress-every 0

# A terminal (script(1) gives the process a pseudo-terminal): one line redrawn with \r, ended once.
# (Skipped where script(1) or a pseudo-terminal is missing, e.g. a chroot without /dev/pts.)
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
  script -qec "\"$CLIPZS\" ${args[*]} --out \"$WORK/t1\" 2>&1 >/dev/null" /dev/null > "$WORK/tty.txt" 2>&1
  py_check "on a terminal: a bar redrawn in place, the last state 18/18 with the time taken" "
t = open('$WORK/tty.txt', encoding='utf-8', errors='replace').read()
frames = [f for f in t.replace('\r\n', '\n').split('\r') if 'embed [' in f]
assert len(frames) >= 1, t
last = frames[-1]
assert 'embed [####################] 18/18 rows 100.0%' in last and ' in 00:0' in last, last
assert '\x1b[K' in last"
else
  skip_part "the terminal case: no script(1) (bsdutils) or no pseudo-terminal here"
fi

# Other long commands report steps: InMaP (iterations), FAISS index build (rows added).
"$CLIPZS" -q embed texts --model "$TINY_VIT" --classes <(printf 'cat\ndog\n') --out "$WORK/txt" >/dev/null
expect_exit 0 "adapt inmap reports its steps" -- "$CLIPZS" adapt inmap --images "$WORK/s1" --text "$WORK/txt" --iters 300 \
  --no-ablation --out "$WORK/state" --progress-every 0.001
grep -qE "inmap: 300/300 steps done in" "$WORK/err" && pass "inmap completion line" || fail "no inmap progress line"
grep -qE "inmap: [0-9]+/300 steps \([0-9.]+%\)" "$WORK/err" && pass "inmap periodic lines" || fail "no periodic inmap line"
expect_exit 0 "adapt inmap --fast (stops early)" -- "$CLIPZS" adapt inmap --images "$WORK/s1" --text "$WORK/txt" --iters 5000 \
  --fast --no-ablation --out "$WORK/state_fast"
py_check "an early stop still ends with one completion line, at the steps taken" "
import json, re
done = re.findall(r'inmap: (\d+)/(\d+) steps done in', open('$WORK/err').read())
steps = json.load(open('$WORK/state_fast/state.json'))['steps_taken']
assert steps < 5000, 'InMaP --fast did not stop early: the case tests nothing'
assert len(done) == 1 and done[0][0] == done[0][1] == str(steps), (done, steps)"

# embed pairs: two stages, each named, each with its completion line (one batch each here).
"$PY" -c "
import csv
rows = [l.strip() for l in open('$WORK/list.txt')]
with open('$WORK/pairs.csv', 'w', newline='') as f:
    w = csv.writer(f); w.writerow(['image', 'caption'])
    for i, p in enumerate(rows): w.writerow([p, f'photo {i}'])"
expect_exit 0 "embed pairs, one batch per stage" -- "$CLIPZS" embed pairs --model "$TINY_VIT" --input "$WORK/pairs.csv" \
  --batch-size 32 --threads 1 --out "$WORK/bank"
grep -qE "pairs images: 18/18 rows done in" "$WORK/err" && grep -qE "pairs captions: 18/18 rows done in" "$WORK/err" \
  && pass "both stages named and completed" || { fail "pairs stage lines"; cat "$WORK/err" >&2; }
finish
