#!/usr/bin/env bash
# Installs the peer frameworks `convkit bench --peers` runs, from pip, as users install them
# today: Keras (tensorflow-cpu), PyTorch (the current release; it pulls ~3 GB of CUDA libraries
# it does not use here, once), onnxruntime, and onnx and onnxscript, which PyTorch's ONNX
# export needs to write the onnxruntime peer's models.
set -euo pipefail
python3 -c "import keras" 2>/dev/null || pip install -q tensorflow-cpu
python3 -c "import torch" 2>/dev/null || pip install -q torch
python3 -c "import onnxruntime, onnx, onnxscript" 2>/dev/null || pip install -q onnxruntime onnx onnxscript
