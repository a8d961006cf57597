#!/usr/bin/env bash
# What a broken CUDA set-up prints: each case stops at configure (or in scripts/install-torch.sh) with one
# message that names what is missing and the command that fixes it. Configures the real project against a
# stand-in LibTorch prefix (version.py + an empty libtorch_cuda.so: the checks run before LibTorch's own
# config, which the stand-in would fail loudly if it were reached).
source "$(dirname "$0")/lib.sh"
SRC=$CLIPZS_SOURCE_DIR
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc" ]; then
  echo "SKIP: no CUDA toolkit (nvcc) on this machine: the configure checks need one to compare against" >&2
  exit 77
fi
toolkit_major=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\..*/\1/p')

fake_torch() {  # DIR CUDA_VERSION
  mkdir -p "$1/torch/share/cmake/Torch" "$1/torch/lib"
  echo 'message(FATAL_ERROR "the stand-in LibTorch config was reached: clipzs did not stop first")' \
    > "$1/torch/share/cmake/Torch/TorchConfig.cmake"
  : > "$1/torch/lib/libtorch_cuda.so"
  printf "__version__ = '2.11.0'\ncuda: Optional[str] = '%s'\n" "$2" > "$1/torch/version.py"
}

# configure DESCRIPTION PATTERN ARGS...: cmake must fail with exactly one CMake Error, matching PATTERN.
configure() {
  local what=$1 pattern=$2; shift 2
  local dir; dir=$(mktemp -d "$WORK/cfg.XXXX")
  if cmake -S "$SRC" -B "$dir" -G Ninja "$@" >"$WORK/err" 2>&1; then
    fail "$what: configure succeeded"; return
  fi
  local errors; errors=$(grep -c "CMake Error" "$WORK/err")
  if [ "$errors" -eq 1 ] && grep -qE -- "$pattern" <(tr '\n' ' ' < "$WORK/err" | tr -s ' '); then
    pass "$what"
  else
    fail "$what: $errors CMake errors, or no /$pattern/"; sed 's/^/  cmake: /' "$WORK/err" >&2
  fi
}

other=$((toolkit_major - 1))
fake_torch "$WORK/t-other" "$other.8"
configure "a toolkit of another CUDA major: both versions named" \
  "CUDA toolkit at .* is CUDA $toolkit_major\.[0-9.]*, but LibTorch at .* was built for CUDA $other\.8: the majors must agree" \
  -DCMAKE_PREFIX_PATH="$WORK/t-other/torch"

fake_torch "$WORK/t-same" "$toolkit_major.0"
configure "no toolkit: says so and how to give one" \
  "built for CUDA $toolkit_major\.0, but no CUDA toolkit was found .*CLIPZS_CUDA_ROOT=$WORK/nope.* -DCLIPZS_CUDA_ROOT=" \
  -DCMAKE_PREFIX_PATH="$WORK/t-same/torch" -DCLIPZS_CUDA_ROOT="$WORK/nope"
configure "no cuDNN: says so and how to install it" \
  "cuDNN not found .*bash scripts/install-torch.sh.* -DCLIPZS_CUDNN_ROOT=" \
  -DCMAKE_PREFIX_PATH="$WORK/t-same/torch" -DCLIPZS_CUDNN_ROOT="$WORK/nope"
mkdir -p "$WORK/empty-venv/lib/python3.11/site-packages"
configure "a venv without torch for a CUDA build: says which prefix and what to run" \
  "CLIPZS_REQUIRE_CUDA is ON, but the LibTorch found .* has no CUDA .*empty-venv.*bash scripts/install-torch.sh" \
  -DCMAKE_PREFIX_PATH="$WORK/empty-venv/lib/python3.11/site-packages" -DCLIPZS_REQUIRE_CUDA=ON

# install-torch.sh into a venv without torch, with PyPI out of reach: one message and the fix.
python3 -m venv "$WORK/venv" >/dev/null 2>&1 || fail "python3 -m venv failed"
expect_exit 1 "install-torch.sh without PyPI fails" -- \
  env CLIPZS_VENV="$WORK/venv" PIP_NO_INDEX=1 PIP_FIND_LINKS="$WORK/nope" bash "$SRC/scripts/install-torch.sh"
expect_stderr "pip could not install scripts/requirements-torch.txt \(is PyPI reachable\?\)" "names what failed"
expect_stderr "fix: bash scripts/install-torch.sh" "and the command that fixes it"
[ -s "$WORK/out" ] && fail "printed a CMake prefix although it failed" || pass "no prefix printed"
[ -e "$WORK/venv/.clipzs-requirements" ] && fail "stamp written after a failure" || pass "no stamp after a failure"
finish
