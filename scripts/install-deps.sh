#!/usr/bin/env bash
# Installs the Debian packages ConvKit builds and runs with, and any named as arguments
# (`make test` adds openmpi-bin), if one is missing.
set -euo pipefail
packages=(libopenblas-dev zlib1g-dev libpng-dev libcairo2-dev libhdf5-dev fonts-dejavu-core dataset-fashion-mnist "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing ${missing[*]} …"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
