#!/usr/bin/env bash
# embed texts: CLIP_benchmark JSON and plain-text inputs, the proxy is the normalised mean of prompts.
source "$(dirname "$0")/lib.sh"
cat > "$WORK/classes.json" <<'J'
{"toy": ["cat", "dog", "t-shirt/top"], "other": ["a", "b"]}
J
cat > "$WORK/templates.json" <<'J'
{"toy": ["a photo of a {c}.", "itap of a {c}.", "a bad photo of the {c}."]}
J
expect_exit 0 "embed texts from CLIP_benchmark JSON" -- \
  "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$WORK/classes.json" --templates "$WORK/templates.json" \
  --dataset toy --out "$WORK/t"
py_check "3 class proxies = normalised mean of 9 normalised prompt embeddings" "
import json, numpy as np
e = np.load('$WORK/t/embeddings.npy'); p = np.load('$WORK/t/prompts.npy')
rows = [json.loads(l) for l in open('$WORK/t/rows.jsonl')]
assert e.shape[0] == 3 and p.shape == (9, e.shape[1]), (e.shape, p.shape)
assert rows[2]['label'] == 't-shirt/top' and rows[2]['prompts'][0] == 'a photo of a t-shirt/top.'
for c in range(3):
    m = p[3*c:3*c+3].mean(0); m /= np.linalg.norm(m)
    assert np.abs(m - e[c]).max() < 1e-5, c
assert np.allclose(np.linalg.norm(p, axis=1), 1, atol=1e-5)"
expect_exit 3 "a JSON with several datasets needs --dataset" -- \
  "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$WORK/classes.json" --out "$WORK/t2"
expect_stderr "--dataset" "hint names --dataset"
printf 'cat\ndog\n' > "$WORK/classes.txt"; printf 'a photo of a {}.\n' > "$WORK/templates.txt"
expect_exit 0 "plain text class and template files ({} placeholder)" -- \
  "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$WORK/classes.txt" --templates "$WORK/templates.txt" --out "$WORK/t3"
printf 'no placeholder here\n' > "$WORK/bad_templates.txt"
expect_exit 3 "a template without {c}" -- \
  "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$WORK/classes.txt" --templates "$WORK/bad_templates.txt" --out "$WORK/t4"
expect_stderr "bad_templates.txt" "message names the file"

# Line files that open like JSON: decided by parsing, not by the first character.
# templates_case EXIT DESCRIPTION NAME CONTENT: writes CONTENT (printf format) to $WORK/NAME and embeds the
# two classes with it as --templates into $WORK/out-NAME.
templates_case() {
  printf "$4" > "$WORK/$3"
  expect_exit "$1" "$2" -- "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$WORK/classes.txt" \
    --templates "$WORK/$3" --out "$WORK/out-$3"
}
templates_case 0 "a one-per-line template file whose first line is {c}" brace_templates.txt '{c}\n{c} in the wild\na photo of a {c}.\n'
expect_stderr "brace_templates.txt' is not JSON .*read as 3 templates, one per line" "the message says which reading was used"
py_check "3 prompts per class, the first the bare class name" "
import json
m = json.load(open('$WORK/out-brace_templates.txt/manifest.json'))
assert m['rows'] == 2, m"
templates_case 0 "a line file opening with '['" bracket_templates.txt '[c] x {c}\n'
templates_case 3 "JSON with a trailing comma is still refused as broken JSON, not read as lines" broken.json \
  '{"fashion-mnist": [\n  "a photo of a {c}.",\n  "art of the {c}.",\n]}\n'
expect_stderr "broken.json' is not valid JSON" "the message says it is broken JSON"
templates_case 3 "one-line JSON with a trailing comma is refused too" broken1.json '["a photo of a {c}.", "art of the {c}.",]\n'
expect_stderr "broken1.json' is not valid JSON" "the message says it is broken JSON"
templates_case 0 "a line file whose first template is the bare {} placeholder" empty_placeholder.txt '{}\na photo of a {}.\n'
templates_case 0 "a JSON list after a byte-order mark" bom.json '\xef\xbb\xbf["a {c}", "the {c}"]\n'
finish
