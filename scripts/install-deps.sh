#!/usr/bin/env bash
# Installs the Debian bookworm packages clipzs needs to build, test and run, if any are missing.
# Runs apt-get only when something is missing (as root, or through sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-openmp
  libopencv-dev libopencv-contrib-dev libpng-dev libjpeg-dev libgif-dev libwebp-dev zlib1g-dev libssl-dev libutf8proc-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libgtest-dev libfaiss-dev
  python3 python3-venv python3-torch python3-numpy python3-pil python3-torchvision
  dataset-fashion-mnist wordnet-base fonts-dejavu-core
  bsdutils util-linux
  slurmctld slurmd slurm-client munge
)
# bsdutils: script(1), the pseudo-terminal of the progress test; util-linux: setpriv, which runs the
# permission tests as an unprivileged user under root; slurm*/munge: the single-node Slurm of the
# cluster-script test (the test starts and stops the daemons itself).

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
