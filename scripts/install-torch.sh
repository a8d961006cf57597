#!/usr/bin/env bash
# Installs LibTorch 2.11 (CUDA 13.0) from PyPI's torch wheel into the project-local, git-ignored venv
# .venv, and prints the CMake prefix of its LibTorch (one line on stdout; everything else on stderr):
#
#   cmake -S . -B build-cuda -DCMAKE_PREFIX_PATH="$(bash scripts/install-torch.sh)"
#
# Idempotent: when .venv already holds exactly scripts/requirements-torch.txt (the one place the
# versions are pinned), nothing is downloaded or run beyond reading a stamp file. pip keeps the wheels
# in its cache (~/.cache/pip), so a rebuilt venv does not download them again.
# Env: CLIPZS_VENV (default <repo>/.venv), PYTHON (default python3; 3.10 to 3.13).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${CLIPZS_VENV:-$root/.venv}
req=$root/scripts/requirements-torch.txt
stamp=$venv/.clipzs-requirements
python=${PYTHON:-python3}

die() { echo "install-torch: $1" >&2; [ -n "${2:-}" ] && echo "  fix: $2" >&2; exit 1; }

prefix_of() {  # the folder holding share/cmake/Torch, read from the venv's files (no torch import)
  local site
  site=$(ls -d "$venv"/lib/python3*/site-packages 2>/dev/null | head -n 1)
  [ -n "$site" ] && [ -f "$site/torch/share/cmake/Torch/TorchConfig.cmake" ] && echo "$site/torch"
}

if [ -f "$stamp" ] && cmp -s "$stamp" "$req" && prefix=$(prefix_of); then
  echo "install-torch: $venv already holds scripts/requirements-torch.txt" >&2
  echo "$prefix"
  exit 0
fi

command -v "$python" >/dev/null 2>&1 || die "no '$python' on PATH" "apt-get install python3 python3-venv (or PYTHON=/path/to/python3)"
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$pyver" in
  3.10|3.11|3.12|3.13) ;;
  *) die "$python is Python $pyver; the pinned torch wheel exists for Python 3.10 to 3.13" "PYTHON=/usr/bin/python3.11 bash scripts/install-torch.sh" ;;
esac
if [ ! -x "$venv/bin/python" ]; then
  echo "install-torch: creating $venv (Python $pyver)" >&2
  "$python" -m venv "$venv" >&2 || die "could not create a venv with $python" "apt-get install python3-venv"
fi
echo "install-torch: installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2 ||
  die "pip could not install scripts/requirements-torch.txt (is PyPI reachable?)" "bash scripts/install-torch.sh once PyPI is reachable"
got=$("$venv/bin/python" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>/dev/null) ||
  die "torch does not import in $venv" "rm -rf $venv && bash scripts/install-torch.sh"
echo "install-torch: torch $got" >&2
prefix=$(prefix_of) || die "$venv has torch but no share/cmake/Torch (not a wheel with LibTorch?)" "rm -rf $venv && bash scripts/install-torch.sh"
cp "$req" "$stamp"
echo "$prefix"
