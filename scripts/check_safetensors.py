#!/usr/bin/env python3
"""Checks ConvKit's weights files with the reference `safetensors` package (verification only).

1. Trains seed003-conv-maxpool briefly with ConvKit, reads its weights.safetensors with
   safetensors.numpy: every key is a dotted layer.parameter name, float32, in Keras' layout.
2. Writes the same tensors back with safetensors' own writer (a file ConvKit did not make),
   points the saved model at it, and checks that `convkit evaluate` gives the same accuracy.

Run: make verify-safetensors   (installs the safetensors package with pip if missing)
"""
import json, os, shutil, subprocess, sys
import numpy as np
from safetensors.numpy import load_file, save_file

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
convkit = os.path.join(root, ".build", "release", "convkit")
folder = os.path.join(root, ".build", "safetensors-check")
shutil.rmtree(folder, ignore_errors=True)
run = lambda *args: subprocess.run([convkit, *args], check=True, capture_output=True, text=True).stdout
run("train", os.path.join(root, "models", "seed003-conv-maxpool.yaml"), "--limit", "1000", "--test-limit", "500",
    "--epochs", "1", "--out", folder)
model = os.path.join(folder, "seed003-conv-maxpool")
weights = load_file(os.path.join(model, "weights.safetensors"))
expected = {  # Keras layouts: Conv2D kernel HWIO, Dense kernel (in, out), BatchNormalization vectors
    "conv2d.kernel": (3, 3, 1, 64), "conv2d.bias": (64,), "batch_normalization.gamma": (64,),
    "batch_normalization.moving_variance": (64,), "conv2d_1.kernel": (3, 3, 64, 32),
    "dense.kernel": (14 * 14 * 32, 32), "dense_1.kernel": (32, 10), "dense_1.bias": (10,),
}
failures = 0
for key, shape in expected.items():
    t = weights.get(key)
    ok = t is not None and t.dtype == np.float32 and t.shape == shape and np.isfinite(t).all()
    failures += not ok
    print(("ok  " if ok else "FAIL"), key, None if t is None else (t.dtype, t.shape))
print(f"{len(weights)} tensors, all float32: {all(t.dtype == np.float32 for t in weights.values())}")

before = json.loads(run("evaluate", model, "--limit", "500", "--json"))
save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, os.path.join(model, "weights.safetensors"))
after = json.loads(run("evaluate", model, "--limit", "500", "--json"))
same = abs(before["accuracy"] - after["accuracy"]) < 1e-9 and abs(before["loss"] - after["loss"]) < 1e-6
failures += not same
print(("ok  " if same else "FAIL"), f"weights rewritten by safetensors {__import__('safetensors').__version__}: "
      f"accuracy {before['accuracy']:.4f} -> {after['accuracy']:.4f}, loss {before['loss']:.6f} -> {after['loss']:.6f}")
sys.exit(1 if failures else 0)
