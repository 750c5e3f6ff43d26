#!/usr/bin/env python3
"""PyTorch's side of `convkit bench --peers`: the same workloads as Benchmark.swift, timed the
same way, from the same model files (mapped onto torch.nn modules; channels-last memory
format for the convolutional models; BatchNorm momentum 0.01 = Keras' 0.99, eps 1e-3).
Prints one JSON object {workload: value}. Needs Debian's python3-torch, for /usr/bin/python3,
which convkit runs it with (`scripts/install-peers.sh` installs it; `make bench` calls that).

Run: /usr/bin/python3 bench/peers/torch_bench.py STEPS REPEATS
"""
import json, os, sys, time
import torch
import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
STEPS, REPEATS = int(sys.argv[1]), int(sys.argv[2])
BATCH = 128
torch.manual_seed(1)

def entry_args(entry):
    if isinstance(entry, str): return entry, {}
    (name, args), = entry.items()
    if not isinstance(args, dict):
        key = {"Activation": "activation", "Dense": "units", "MaxPooling2D": "pool_size", "AveragePooling2D": "pool_size"}[name]
        args = {key: args}
    return name, args

def activation(name):
    return {"relu": torch.nn.ReLU(), "softmax": torch.nn.Identity(), "linear": torch.nn.Identity()}[name]

def torch_model(path):
    spec = yaml.safe_load(open(path))
    shape = spec["input"]                     # [h, w, c]
    channels, layers, flat = shape[-1], [], None
    h, w = shape[0], shape[1]
    for entry in spec["layers"]:
        name, a = entry_args(entry)
        if name == "Conv2D":
            k = a["kernel_size"] if isinstance(a["kernel_size"], int) else a["kernel_size"][0]
            layers.append(torch.nn.Conv2d(channels, a["filters"], k, padding="same" if a.get("padding") == "same" else 0))
            channels = a["filters"]
            if a.get("padding") != "same": h, w = h - k + 1, w - k + 1
            layers.append(activation(a.get("activation", "linear")))
        elif name == "BatchNormalization":
            layers.append(torch.nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01) if flat is None
                          else torch.nn.BatchNorm1d(flat, eps=1e-3, momentum=0.01))
        elif name == "Activation":
            layers.append(activation(a["activation"]))
        elif name in ("MaxPooling2D", "AveragePooling2D"):
            p = a.get("pool_size", 2)
            layers.append((torch.nn.MaxPool2d if name == "MaxPooling2D" else torch.nn.AvgPool2d)(p))
            h, w = h // p, w // p
        elif name == "Flatten":
            layers.append(torch.nn.Flatten()); flat = channels * h * w
        elif name == "Dense":
            layers.append(torch.nn.Linear(flat, a["units"])); flat = a["units"]
            layers.append(activation(a.get("activation", "linear")))
        else:
            raise ValueError(f"{path}: {name} is not mapped for the PyTorch benchmark")
    return torch.nn.Sequential(*layers), shape

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
    results[f"{name}/train"] = BATCH / best(step)
    if name == "conv_model":
        model.eval()
        with torch.no_grad():
            results["conv_model/infer"] = BATCH / best(lambda: model(x))

flops = 2.0 * 128 * 28 * 28 * 32 * (3 * 3 * 64)
layer = torch.nn.Conv2d(64, 32, 3, padding="same").to(memory_format=torch.channels_last)
inp = torch.rand(BATCH, 64, 28, 28).contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    results["conv2d_64_32/forward"] = flops / best(lambda: layer(inp)) / 1e9
inp.requires_grad_(True)
def forward_backward():
    layer.zero_grad(set_to_none=True); inp.grad = None
    layer(inp).sum().backward()
results["conv2d_64_32/forward_backward"] = 3 * flops / best(forward_backward) / 1e9
print(json.dumps(results))
