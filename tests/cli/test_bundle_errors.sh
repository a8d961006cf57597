#!/usr/bin/env bash
# info validates bundles; damaged or incomplete bundles give exit 4 and name the file.
source "$(dirname "$0")/lib.sh"
expect_exit 0 "info on the tiny ViT fixture" -- "$CLIPZS" info --model "$TINY_VIT"
py_check "info prints the bundle with verified hashes and a dry forward" "
import json; d = json.loads(open('$WORK/out').read())
assert d['hashes_verified'] and d['forward_checked'] and d['model']['embed_dim'] > 0, d"
expect_exit 0 "info on the tiny ResNet fixture" -- "$CLIPZS" info --model "$TINY_RN"

cp -r "$TINY_VIT" "$WORK/b1"; rm "$WORK/b1/bundle.json"
expect_exit 4 "bundle without bundle.json" -- "$CLIPZS" info --model "$WORK/b1"
expect_stderr "bundle.json" "message names bundle.json"

cp -r "$TINY_VIT" "$WORK/b2"; printf 'x' >> "$WORK/b2/image_encoder.pt"
expect_exit 4 "tampered encoder" -- "$CLIPZS" info --model "$WORK/b2"
expect_stderr "image_encoder.pt.*sha256" "message names the file and the hash"

cp -r "$TINY_VIT" "$WORK/b3"; rm "$WORK/b3/text_encoder.pt"
expect_exit 4 "missing text encoder" -- "$CLIPZS" info --model "$WORK/b3"
expect_stderr "text_encoder.pt" "message names the missing file"

cp -r "$TINY_VIT" "$WORK/b4"; "$PY" - "$WORK/b4/bundle.json" <<'PYEOF'
import json, sys; p = sys.argv[1]; d = json.load(open(p)); d['model']['embed_dim'] += 1; json.dump(d, open(p, 'w'))
PYEOF
expect_exit 4 "embed_dim that contradicts the encoder" -- "$CLIPZS" info --model "$WORK/b4"
expect_stderr "shape" "message names the shape mismatch"

cp -r "$TINY_VIT" "$WORK/b5"; echo '{"schema_version": 1, "model": ' > "$WORK/b5/bundle.json"
expect_exit 4 "malformed bundle.json" -- "$CLIPZS" info --model "$WORK/b5"
expect_stderr "not valid JSON" "message says the JSON is malformed"

cp -r "$TINY_VIT" "$WORK/b6"; "$PY" - "$WORK/b6" <<'PYEOF'
import json, sys, hashlib, os
d = sys.argv[1]; p = os.path.join(d, 'bundle.json'); b = json.load(open(p))
# a text encoder file that is not TorchScript, with a matching hash: the loader must say so, not crash
open(os.path.join(d, 'text_encoder.pt'), 'wb').write(b'not a zip archive')
b['files']['text_encoder.pt'] = hashlib.sha256(b'not a zip archive').hexdigest(); json.dump(b, open(p, 'w'))
PYEOF
expect_exit 4 "text encoder that is not TorchScript" -- "$CLIPZS" info --model "$WORK/b6"
expect_stderr "text_encoder.pt" "message names the file"
expect_exit 2 "info takes --model or --store, not both" -- "$CLIPZS" info --model "$TINY_VIT" --store "$WORK"
expect_exit 0 "info alone describes the runtime" -- "$CLIPZS" info
py_check "runtime: LibTorch version, CUDA compiled or not, devices, and a summary that says the same" "
import json; r = json.load(open('$WORK/out'))['runtime']
assert r['libtorch'].count('.') == 2 and isinstance(r['cuda_compiled'], bool) and r['cuda_devices'] >= 0, r
if not r['cuda_compiled']: assert 'CPU only (no CUDA compiled in)' in r['summary'], r
elif r['cuda_devices'] == 0: assert ('CUDA %s compiled, no device visible' % r['cuda_version']) in r['summary'], r
else: assert ('CUDA %s compiled, %d device' % (r['cuda_version'], r['cuda_devices'])) in r['summary'], r
assert r['summary'].startswith('LibTorch ' + r['libtorch']), r"
finish
