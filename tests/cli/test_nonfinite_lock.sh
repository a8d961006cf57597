#!/usr/bin/env bash
# NaN/Inf from a model or in stored features is an error naming the rows; two runs writing one store:
# the second is refused by the lock, never interleaved; `verify` names truncated or edited files.
source "$(dirname "$0")/lib.sh"
make_images "$WORK/imgs"

# A bundle whose image encoder returns NaN for bright images (mean input > 0): wraps the fixture's
# TorchScript encoder and re-hashes the bundle.
cp -r "$TINY_VIT" "$WORK/nan"
"$PY" - "$WORK/nan" <<'PYEOF' || { fail "making the NaN bundle"; finish; }
import hashlib, json, os, sys, torch
d = sys.argv[1]
inner = torch.jit.load(os.path.join(d, "image_encoder.pt"))
class NaNForBright(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        bright = x.mean(dim=(1, 2, 3)) > 0.0
        return torch.where(bright[:, None], torch.full_like(y, float("nan")), y)
size = json.load(open(os.path.join(d, "bundle.json")))["image"]["size"]
# traced, not scripted: scripting needs the class's source file, and this runs from stdin
torch.jit.trace(NaNForBright(inner), torch.zeros(2, 3, size, size)).save(os.path.join(d, "image_encoder.pt"))
p = os.path.join(d, "bundle.json"); b = json.load(open(p))
b["files"]["image_encoder.pt"] = hashlib.sha256(open(os.path.join(d, "image_encoder.pt"), "rb").read()).hexdigest()
json.dump(b, open(p, "w"), indent=2)
PYEOF
"$PY" - "$WORK/bright" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
os.makedirs(sys.argv[1], exist_ok=True)
for i, v in enumerate([20, 30, 250, 40]):  # the third is bright
    Image.fromarray(np.full((40, 40, 3), v, np.uint8)).save(os.path.join(sys.argv[1], f"im{i}.png"))
PYEOF
expect_exit 4 "NaN from the model stops the run (model error)" -- \
  "$CLIPZS" embed images --model "$WORK/nan" --input "$WORK/bright" --out "$WORK/nanstore" --batch-size 2 --no-progress
expect_stderr "image encoder returned NaN or Inf for row 2 \(.*im2.png\)" "the message names the store row and the file"
py_check "the batch before it was kept (resumable), nothing complete" "
import os
assert not os.path.exists('$WORK/nanstore/manifest.json')
assert len(open('$WORK/nanstore/rows.partial.jsonl').read().splitlines()) == 2"

# Features with NaN: a store edited after the fact (hash fixed up, so only the values are wrong).
expect_exit 0 "a good store" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/s" --no-progress
"$PY" - "$WORK/s" <<'PYEOF'
import hashlib, json, numpy as np, os, sys
d = sys.argv[1]; a = np.load(os.path.join(d, "embeddings.npy")); a[4, 0] = np.inf; np.save(os.path.join(d, "embeddings.npy"), a)
m = json.load(open(os.path.join(d, "manifest.json")))
m["files"]["embeddings.npy"] = hashlib.sha256(open(os.path.join(d, "embeddings.npy"), "rb").read()).hexdigest()
json.dump(m, open(os.path.join(d, "manifest.json"), "w"))
PYEOF
"$CLIPZS" embed texts --model "$TINY_VIT" --classes <(printf 'cat\ndog\n') --templates <(printf 'a photo of a {c}.\n') --out "$WORK/t" >/dev/null 2>&1
expect_exit 3 "adapt over a store holding Inf refuses it" -- "$CLIPZS" adapt inmap --images "$WORK/s" --text "$WORK/t" --out "$WORK/i0"
expect_stderr "NaN or Inf values in row 4 \(.*\)" "the message names the row and its file"
expect_exit 3 "verify names the row too" -- "$CLIPZS" verify "$WORK/s"
expect_stderr "NaN or Inf in row 4" "verify lists the row"
"$PY" -c "import numpy as np; a = np.ones((3, 4), np.float32); a[1, 2] = np.nan; np.save('$WORK/f.npy', a)"
expect_exit 3 "adapt inmap --features with NaN" -- "$CLIPZS" adapt inmap --features "$WORK/f.npy" --text "$WORK/t" --out "$WORK/inmap"
expect_stderr "f.npy: .*NaN or Inf values in row 1" "the message names the file and row"

# verify: truncated .npy, edited rows.jsonl, manifest that disagrees, bundle changed since.
cp -r "$WORK/s" "$WORK/v0"
expect_exit 0 "embed a fresh store to damage" -- "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/imgs" --out "$WORK/v1" --no-progress
cp -r "$WORK/v1" "$WORK/v2"; cp -r "$WORK/v1" "$WORK/v3"; cp -r "$WORK/v1" "$WORK/v4"
truncate -s -64 "$WORK/v1/embeddings.npy"
expect_exit 3 "verify: truncated embeddings.npy" -- "$CLIPZS" verify "$WORK/v1"
expect_stderr "embeddings.npy: [0-9]+ bytes, .*\(truncated\)" "names the file and says truncated"
sed -i '3s/"ok"/"error"/' "$WORK/v2/rows.jsonl"
expect_exit 3 "verify: edited rows.jsonl" -- "$CLIPZS" verify "$WORK/v2"
expect_stderr "rows.jsonl does not match its sha256" "names rows.jsonl"
"$PY" -c "
import json; p = '$WORK/v3/manifest.json'; m = json.load(open(p)); m['rows'] += 1; json.dump(m, open(p, 'w'))"
expect_exit 3 "verify: manifest disagrees with the data" -- "$CLIPZS" verify "$WORK/v3"
expect_stderr "shape ([0-9]+) x [0-9]+, manifest.json says [0-9]+ x" "names the shape disagreement"
cp -r "$TINY_VIT" "$WORK/changed"; printf 'x' >> "$WORK/changed/tiny_merges.txt"
expect_exit 3 "verify: bundle changed since the store was made" -- "$CLIPZS" verify "$WORK/v4" --model "$WORK/changed"
expect_stderr "changed or is damaged since the store was made.*tiny_merges.txt" "names the changed bundle file"
expect_exit 0 "verify: the untouched bundle passes" -- "$CLIPZS" verify "$WORK/v4" --model "$TINY_VIT"

# Lock: while one run writes a store, a second run into it is refused (exit 5), and the first
# finishes with a store identical to a run that was never disturbed.
"$PY" - "$WORK/many" <<'PYEOF'
import os, sys, numpy as np
from PIL import Image
os.makedirs(sys.argv[1], exist_ok=True)
rng = np.random.default_rng(3)
for i in range(400):
    Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(os.path.join(sys.argv[1], f"{i:04d}.png"))
PYEOF
args=(embed images --model "$TINY_VIT" --input "$WORK/many" --threads 1 --workers 1 --batch-size 4 --no-progress)
"$CLIPZS" "${args[@]}" --out "$WORK/locked" >/dev/null 2>&1 &
first=$!
for _ in $(seq 1500); do [ -s "$WORK/locked/rows.partial.jsonl" ] && break; sleep 0.02; done  # up to 30 s on a loaded machine
kill -STOP "$first"  # hold the first run mid-write, whatever the machine's speed
[ ! -f "$WORK/locked/manifest.json" ] && pass "the first run is mid-write" || fail "the first run finished too soon to test the lock"
expect_exit 5 "a second run into the same store is refused" -- "$CLIPZS" "${args[@]}" --out "$WORK/locked" --overwrite
expect_stderr "another clipzs process is writing" "the message says why"
expect_exit 5 "also with --resume" -- "$CLIPZS" "${args[@]}" --out "$WORK/locked" --resume
kill -CONT "$first"
wait "$first" && pass "the first run finished" || fail "the first run failed"
"$CLIPZS" "${args[@]}" --out "$WORK/undisturbed" >/dev/null 2>&1
cmp -s "$WORK/locked/embeddings.npy" "$WORK/undisturbed/embeddings.npy" && cmp -s "$WORK/locked/rows.jsonl" "$WORK/undisturbed/rows.jsonl" \
  && pass "the first run's store is identical to an undisturbed run" || fail "the locked store differs"
finish
