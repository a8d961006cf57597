# Shared helpers for the CLI cases (sourced). CTest sets CLIPZS, CLIPZS_SOURCE_DIR and CLIPZS_SHARED_DIR.
set -uo pipefail
: "${CLIPZS:?run through ctest, which sets CLIPZS to the built binary}"
PY=/usr/bin/python3
FIXTURES="$CLIPZS_SOURCE_DIR/tests/fixtures"
TINY_VIT="$FIXTURES/bundles/tiny-vit"
TINY_RN="$FIXTURES/bundles/tiny-rn"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/clipzs-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILURES=0

SKIPPED=()

fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
pass() { echo "ok: $*" >&2; }

# expect_exit CODE DESCRIPTION -- COMMAND...   runs COMMAND, stdout to $WORK/out, stderr to $WORK/err
expect_exit() {
  local want=$1 what=$2; shift 3
  "$@" >"$WORK/out" 2>"$WORK/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then pass "$what (exit $got)"; else
    fail "$what: exit $got, expected $want"; sed 's/^/  stderr: /' "$WORK/err" >&2; fi
  # A library name marked for the front end (clipzs/util/error.hpp) must never reach the user unrendered.
  if grep -q $'\x01' "$WORK/err" "$WORK/out"; then fail "$what: a marked name reached the output unrendered"; fi
}

# expect_stderr PATTERN DESCRIPTION: the last command's stderr matches PATTERN (grep -E)
expect_stderr() {
  if grep -qE -- "$1" "$WORK/err"; then pass "$2"; else fail "$2: stderr lacks /$1/"; sed 's/^/  stderr: /' "$WORK/err" >&2; fi
}

# Python assertion over files: py_check DESCRIPTION CODE (CODE raises/asserts on failure)
py_check() {
  local what=$1
  if "$PY" -c "$2" >"$WORK/py.out" 2>&1; then pass "$what"; else fail "$what"; sed 's/^/  python: /' "$WORK/py.out" >&2; fi
}

# make_images DIR: a small ImageFolder of real-looking images in several formats and modes, plus
# two broken files (zero bytes, truncated JPEG) under DIR/broken.
make_images() {
  "$PY" - "$1" <<'PYEOF'
import sys, os, numpy as np
from PIL import Image
root = sys.argv[1]
rng = np.random.default_rng(0)
def smooth(h, w, c):
    base = rng.integers(0, 256, size=(h // 8 + 2, w // 8 + 2, c)).astype(np.uint8)
    img = Image.fromarray(base.squeeze() if c == 1 else base).resize((w, h), Image.BICUBIC)
    return img
for cls, specs in {"cat": [(120, 90, "RGB", "jpg"), (64, 64, "L", "png"), (300, 200, "RGB", "png")],
                   "dog": [(90, 160, "RGBA", "png"), (33, 47, "RGB", "jpg"), (200, 200, "RGB", "jpg")]}.items():
    os.makedirs(os.path.join(root, cls), exist_ok=True)
    for i, (w, h, mode, ext) in enumerate(specs):
        img = smooth(h, w, {"L": 1, "RGB": 3, "RGBA": 4}[mode])
        img.save(os.path.join(root, cls, f"{cls}{i}.{ext}"))
PYEOF
}

# skip_part REASON: a block of checks cannot run here (a prerequisite is missing). The other checks
# still run, but the test then ends as SKIPPED (exit 77, CTest's SKIP_RETURN_CODE), never as passed;
# scripts/test.sh fails a CI run in which anything but a GPU-only test is skipped.
skip_part() { echo "SKIP: $*" >&2; SKIPPED+=("$*"); }

# need_fmnist: the rest of the test needs Fashion-MNIST; without it the test ends here, skipped.
need_fmnist() {
  [ -d /usr/share/datasets/fashion-mnist ] && return 0
  skip_part "dataset-fashion-mnist is not installed (bash scripts/install-deps.sh installs it)"
  finish
}

# fmnist_stores PER_CLASS: Fashion-MNIST test images in $WORK/fm (PER_CLASS per class, class folders),
# their image store $WORK/img and the class store $WORK/txt (CLIP_benchmark templates), both by the tiny
# ViT bundle; CFG names the dataset configs. Skips the test where Fashion-MNIST is absent.
fmnist_stores() {
  need_fmnist
  CFG="$CLIPZS_SOURCE_DIR/configs/datasets"
  "$PY" "$CLIPZS_SOURCE_DIR/scripts/fmnist_to_images.py" --out "$WORK/fm" --per-class "$1" >/dev/null
  "$CLIPZS" embed images --model "$TINY_VIT" --input "$WORK/fm" --out "$WORK/img" --threads 1 >/dev/null 2>&1 || fail "embed images"
  "$CLIPZS" embed texts --model "$TINY_VIT" --classes "$CFG/classnames.json" --templates "$CFG/templates.json" \
    --dataset fashion-mnist --out "$WORK/txt" >/dev/null 2>&1 || fail "embed texts"
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES check(s) failed" >&2; exit 1; fi
  if [ "${#SKIPPED[@]}" -gt 0 ]; then
    echo "every check that ran passed, but ${#SKIPPED[@]} part(s) were skipped:" >&2
    printf '  SKIPPED: %s\n' "${SKIPPED[@]}" >&2
    exit 77
  fi
  echo "all checks passed" >&2
  exit 0
}
