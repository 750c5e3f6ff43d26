#!/usr/bin/env python3
"""Exports the onnxruntime peer's models with PyTorch (from pip): the seed-003
conv model (with its softmax, channels-last input [128, 28, 28, 1]) and the Conv2D 64→32 3×3
layer, both at batch 128. Run by onnxruntime_bench.py with the same python3; writes into DIR.

Run: python3 bench/peers/onnx_export.py DIR
"""
import os, sys
import torch
sys.path.insert(0, os.path.dirname(__file__))
from torch_bench_models import torch_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
out = sys.argv[1]
torch.manual_seed(1)

class ChannelsLast(torch.nn.Module):
    """Takes NHWC input as ConvKit and Keras do, and ends with the model's softmax."""
    def __init__(self, body):
        super().__init__(); self.body = body
    def forward(self, x):
        return torch.softmax(self.body(x.permute(0, 3, 1, 2)), dim=1)

model, _ = torch_model(os.path.join(ROOT, "models", "seed003-conv.yaml"))
model.eval()
torch.onnx.export(ChannelsLast(model), torch.rand(128, 28, 28, 1), os.path.join(out, "conv_model.onnx"), opset_version=17)
layer = torch.nn.Conv2d(64, 32, 3, padding=1).eval()
torch.onnx.export(layer, torch.rand(128, 64, 28, 28), os.path.join(out, "conv2d.onnx"), opset_version=17)
