#!/usr/bin/env bash
# Installs the peer frameworks `convkit bench --peers` runs: Keras (tensorflow-cpu) and
# onnxruntime from pip, for the python3 on PATH; PyTorch (Debian's python3-torch, which also
# exports the onnxruntime models) for /usr/bin/python3.
set -euo pipefail
python3 -c "import keras" 2>/dev/null || pip install -q tensorflow-cpu
python3 -c "import onnxruntime" 2>/dev/null || pip install -q onnxruntime
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-torch python3-yaml >/dev/null
fi
