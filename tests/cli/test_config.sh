#!/usr/bin/env bash
# --config: CLI11's own TOML/INI reader. configs/methods/ files set a method's options, a flag on the
# command line wins over the file, and the state / results record the options that took effect.
source "$(dirname "$0")/lib.sh"
CFG="$CLIPZS_SOURCE_DIR/configs/methods"
"$PY" - "$WORK" <<'PYEOF'
import sys, numpy as np
rng = np.random.default_rng(0)
w = rng.normal(size=(32, 5)).astype(np.float32); w /= np.linalg.norm(w, axis=0)
y = rng.integers(0, 5, size=200)
x = (w.T[y] * 2 + rng.normal(size=(200, 32))).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
np.save(sys.argv[1] + "/x.npy", x); np.save(sys.argv[1] + "/w.npy", w); np.save(sys.argv[1] + "/y.npy", y.astype(np.int64))
PYEOF
inmap=(adapt inmap --features "$WORK/x.npy" --text-proxies "$WORK/w.npy" --labels "$WORK/y.npy" --no-ablation --threads 1)
expect_exit 0 "adapt inmap --config inmap-imagenet.toml, --iters on the command line" -- \
  "$CLIPZS" "${inmap[@]}" --config "$CFG/inmap-imagenet.toml" --iters 25 --out "$WORK/s1"
py_check "the file's values took effect, the flag beat the file, and state.json records both" "
import json
s = json.load(open('$WORK/s1/state.json')); p = s['parameters']; cli = s['cli']
assert p['tau_i'] == 0.04 and p['alpha'] == 0.6 and p['lr'] == 10.0, p
assert len([json.loads(l) for l in open('$WORK/s1/log.jsonl')]) == 25
assert cli['command'] == 'adapt inmap' and cli['config'].endswith('inmap-imagenet.toml'), cli
assert cli['options']['iters'] == '25' and float(cli['options']['tau-i']) == 0.04, cli['options']"
printf '[adapt.inmap]\ntau-i = 0.05\niters = 40\nalpha = 0.5\n' > "$WORK/mine.toml"
expect_exit 0 "a user's TOML file, the config flag before the subcommand" -- \
  "$CLIPZS" --config "$WORK/mine.toml" "${inmap[@]}" --alpha 0.7 --out "$WORK/s2"
py_check "file values for tau-i and iters, the flag's alpha" "
import json
p = json.load(open('$WORK/s2/state.json'))['parameters']
assert abs(p['tau_i'] - 0.05) < 1e-12 and abs(p['alpha'] - 0.7) < 1e-12, p
assert len(open('$WORK/s2/log.jsonl').read().splitlines()) == 40"
printf '[adapt.inmap]\ntau-i = 0.05\nno-such-option = 3\n' > "$WORK/bad.toml"
expect_exit 2 "a config key that is no option of the command" -- "$CLIPZS" "${inmap[@]}" --config "$WORK/bad.toml" --out "$WORK/s3"
expect_stderr "no-such-option" "the message names the key"
[ -e "$WORK/s3" ] && fail "a refused config still wrote a state" || pass "nothing written"
expect_exit 2 "a config file that does not exist" -- "$CLIPZS" "${inmap[@]}" --config "$WORK/none.toml" --out "$WORK/s4"
expect_stderr "none.toml" "the message names the file"
# Every file in configs/methods/ parses, and names only options its subcommands have.
for f in "$CFG"/*.toml; do
  for sub in $(grep -o '^\[adapt\.[a-z-]*\]' "$f" | tr -d '[]' | sed 's/^adapt\.//'); do
    "$CLIPZS" adapt "$sub" --config "$f" --help >/dev/null 2>"$WORK/err" && pass "$(basename "$f") [adapt.$sub] is read by adapt $sub" \
      || { fail "$(basename "$f") [adapt.$sub]"; cat "$WORK/err" >&2; }
  done
done
finish
