#!/usr/bin/env python3
"""onnxruntime's side of `convkit bench --peers`, inference workloads only: the seed-003 conv
model at batch 128 (img/s) and the Conv2D 64→32 3×3 layer forward (GFLOP/s), timed like
Benchmark.swift. The ONNX files are exported by onnx_export.py with PyTorch from pip.
Prints one JSON object {workload: value}. Installs onnxruntime with pip if missing.

Run: python3 bench/peers/onnxruntime_bench.py STEPS REPEATS [ONLY]
(ONLY: a workload-name prefix; the JSON then also holds the process's peak_memory in MB.)
"""
import json, os, resource, subprocess, sys, tempfile, time
try:
    import onnxruntime  # noqa: F401
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "onnxruntime"])
import numpy as np
import onnxruntime as ort
THREADS = int(os.environ.get("CONVKIT_PEER_THREADS", os.cpu_count()))  # the same count as ConvKit's
options = ort.SessionOptions()
options.intra_op_num_threads = THREADS
options.inter_op_num_threads = 1

STEPS, REPEATS = int(sys.argv[1]), int(sys.argv[2])
ONLY = sys.argv[3] if len(sys.argv) > 3 else ""  # run only the workloads whose name starts with one of these (comma-separated)
def wanted(workload):
    return any(workload.startswith(prefix) for prefix in ONLY.split(","))
here = os.path.dirname(os.path.abspath(__file__))

def best(fn):
    fn(); fn()
    fastest = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS): fn()
        fastest = min(fastest, (time.perf_counter() - start) / STEPS)
    return fastest

with tempfile.TemporaryDirectory() as folder:
    subprocess.check_call([sys.executable, os.path.join(here, "onnx_export.py"), folder],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng = np.random.default_rng(1)
    model = ort.InferenceSession(os.path.join(folder, "conv_model.onnx"), sess_options=options, providers=["CPUExecutionProvider"])
    x = rng.random((128, 28, 28, 1), dtype=np.float32)
    name = model.get_inputs()[0].name
    results = {}
    if wanted("conv_model/infer"):
        results["conv_model/infer"] = 128 / best(lambda: model.run(None, {name: x}))
    layer = ort.InferenceSession(os.path.join(folder, "conv2d.onnx"), sess_options=options, providers=["CPUExecutionProvider"])
    inp = rng.random((128, 64, 28, 28), dtype=np.float32)
    lname = layer.get_inputs()[0].name
    flops = 2.0 * 128 * 28 * 28 * 32 * (3 * 3 * 64)
    if wanted("conv2d_64_32/forward"):
        results["conv2d_64_32/forward"] = flops / best(lambda: layer.run(None, {lname: inp})) / 1e9
if ONLY and "," not in ONLY and results:  # peak memory only says something about one workload asked for
    results["peak_memory"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
results.update({"_version": f"onnxruntime {ort.__version__}", "_threads": THREADS})
print(json.dumps(results))
