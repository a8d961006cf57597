#!/usr/bin/env bash
# The test command: installs missing Debian packages, builds clipzs and runs every test with CTest.
#   scripts/test.sh                 # everything
#   scripts/test.sh -L unit         # a CTest label subset (unit, base, core, cli, python)
# Env: BUILD_DIR (default build), JOBS (default: cores), CLIPZS_CXX_STANDARD (17 or 20).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCLIPZS_CXX_STANDARD="${CLIPZS_CXX_STANDARD:-17}" -DCLIPZS_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" "$@"
