#!/usr/bin/env python3
"""Keras' side of `convkit bench --peers`: the same workloads as ConvKit's Benchmark.swift
(seed-003 models from their model files, batch 128, random data; one Conv2D 64→32 3×3 layer),
timed the same way (two warm-up steps, best mean of REPEATS runs of STEPS steps).
Prints one JSON object {workload: value}. Installs tensorflow-cpu with pip if missing.

Run: python3 bench/peers/keras_bench.py STEPS REPEATS [ONLY]
(ONLY: a workload-name prefix; the JSON then also holds the process's peak_memory in MB.)
"""
import json, os, resource, subprocess, sys, time
try:
    import keras  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "tensorflow-cpu"])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras
import tensorflow as tf
THREADS = int(os.environ.get("CONVKIT_PEER_THREADS", os.cpu_count()))  # the same count as ConvKit's
tf.config.threading.set_intra_op_parallelism_threads(THREADS)
tf.config.threading.set_inter_op_parallelism_threads(THREADS)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from keras_layers import keras_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
STEPS, REPEATS = int(sys.argv[1]), int(sys.argv[2])
ONLY = sys.argv[3] if len(sys.argv) > 3 else ""  # run only the workloads whose name starts with one of these (comma-separated)
def wanted(workload):
    return any(workload.startswith(prefix) for prefix in ONLY.split(","))
BATCH = 128

def best(fn):
    fn(); fn()
    fastest = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS): fn()
        fastest = min(fastest, (time.perf_counter() - start) / STEPS)
    return fastest

rng = np.random.default_rng(1)
x = rng.random((BATCH, 28, 28, 1), dtype=np.float32)
y = keras.utils.to_categorical(np.arange(BATCH) % 10, 10)
results = {}
for name, file in [("conv_model", "seed003-conv"), ("pool_model", "seed003-conv-maxpool"), ("dense_model", "seed003-dense")]:
    _, model = keras_model(os.path.join(ROOT, "models", file + ".yaml"))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    if wanted(f"{name}/train"):
        results[f"{name}/train"] = BATCH / best(lambda: model.train_on_batch(x, y))
    if name == "conv_model" and wanted("conv_model/infer"):
        results["conv_model/infer"] = BATCH / best(lambda: model.predict_on_batch(x))

flops = 2.0 * 128 * 28 * 28 * 32 * (3 * 3 * 64)
layer = keras.layers.Conv2D(32, 3, padding="same")
inp = tf.constant(rng.random((BATCH, 28, 28, 64), dtype=np.float32))
layer.build(inp.shape)
forward = tf.function(lambda t: layer(t))
if wanted("conv2d_64_32/forward"):
    # No .numpy(): on the CPU the call returns once the output exists, and copying it out
    # (12.8 MB) is work ConvKit's side does not do.
    results["conv2d_64_32/forward"] = flops / best(lambda: forward(inp)) / 1e9

# The output is returned with the gradients: the gradients of a sum do not need the forward
# convolution's values, so a tf.function that returned only them ran no forward pass (TF
# pruned it; the workload then timed 2 of its 3 convolutions and read about 1.4× too fast).
@tf.function
def forward_backward(t):
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = tf.reduce_sum(layer(t))
    return out, tape.gradient(out, [t] + layer.trainable_variables)

if wanted("conv2d_64_32/forward_backward"):
    results["conv2d_64_32/forward_backward"] = 3 * flops / best(lambda: forward_backward(inp)) / 1e9
if ONLY and "," not in ONLY and results:  # peak memory only says something about one workload asked for
    results["peak_memory"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
results.update({"_version": f"Keras {keras.__version__} / TF {tf.__version__}", "_threads": THREADS})
print(json.dumps(results))
