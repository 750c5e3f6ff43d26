#!/usr/bin/env python3
"""PyTorch's side of `convkit bench --peers`: the same workloads as Benchmark.swift, timed the
same way, from the same model files (mapped onto torch.nn modules; channels-last memory
format for the convolutional models; BatchNorm momentum 0.01 = Keras' 0.99, eps 1e-3).
Prints one JSON object {workload: value}. Needs Debian's python3-torch, for /usr/bin/python3,
which convkit runs it with (`scripts/install-peers.sh` installs it; `make bench` calls that).

Run: /usr/bin/python3 bench/peers/torch_bench.py STEPS REPEATS [ONLY]
(ONLY: a workload-name prefix; the JSON then also holds the process's peak_memory in MB.)
"""
import json, os, resource, sys, time
import torch
sys.path.insert(0, os.path.dirname(__file__))
from torch_bench_models import torch_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
STEPS, REPEATS = int(sys.argv[1]), int(sys.argv[2])
ONLY = sys.argv[3] if len(sys.argv) > 3 else ""  # run only the workloads whose name starts with this
BATCH = 128
torch.manual_seed(1)

def best(fn):
    fn(); fn()
    fastest = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(STEPS): fn()
        fastest = min(fastest, (time.perf_counter() - start) / STEPS)
    return fastest

results = {}
loss_fn = torch.nn.CrossEntropyLoss()   # on logits: the softmax is folded into the loss
y = torch.arange(BATCH) % 10
for name, file in [("conv_model", "seed003-conv"), ("pool_model", "seed003-conv-maxpool"), ("dense_model", "seed003-dense")]:
    model, shape = torch_model(os.path.join(ROOT, "models", file + ".yaml"))
    x = torch.rand(BATCH, shape[2], shape[0], shape[1])
    if name != "dense_model":
        model = model.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    model.train()
    if f"{name}/train".startswith(ONLY):
        results[f"{name}/train"] = BATCH / best(step)
    if name == "conv_model" and "conv_model/infer".startswith(ONLY):
        model.eval()
        with torch.no_grad():
            results["conv_model/infer"] = BATCH / best(lambda: model(x))

flops = 2.0 * 128 * 28 * 28 * 32 * (3 * 3 * 64)
layer = torch.nn.Conv2d(64, 32, 3, padding="same").to(memory_format=torch.channels_last)
inp = torch.rand(BATCH, 64, 28, 28).contiguous(memory_format=torch.channels_last)
if "conv2d_64_32/forward".startswith(ONLY):
    with torch.no_grad():
        results["conv2d_64_32/forward"] = flops / best(lambda: layer(inp)) / 1e9
inp.requires_grad_(True)
def forward_backward():
    layer.zero_grad(set_to_none=True); inp.grad = None
    layer(inp).sum().backward()
if "conv2d_64_32/forward_backward".startswith(ONLY):
    results["conv2d_64_32/forward_backward"] = 3 * flops / best(forward_backward) / 1e9
if ONLY and results:  # peak memory only says something about the workloads asked for
    results["peak_memory"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(results))
