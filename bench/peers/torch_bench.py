#!/usr/bin/env python3
"""PyTorch's side of `convkit bench --peers`: the same workloads as Benchmark.swift, timed the
same way, from the same model files (mapped onto torch.nn modules; channels-last memory
format for the convolutional models; BatchNorm momentum 0.01 = Keras' 0.99, eps 1e-3).
Prints one JSON object {workload: value}. Needs PyTorch from pip, as users install it
(`scripts/install-peers.sh` installs it; `make bench` calls that).

Run: python3 bench/peers/torch_bench.py STEPS REPEATS [ONLY]
(ONLY: a workload-name prefix; the JSON then also holds the process's peak_memory in MB.)
"""
import json, os, resource, sys, time
import torch
sys.path.insert(0, os.path.dirname(__file__))
from torch_bench_models import torch_model

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
STEPS, REPEATS = int(sys.argv[1]), int(sys.argv[2])
ONLY = sys.argv[3] if len(sys.argv) > 3 else ""  # run only the workloads whose name starts with one of these (comma-separated)
def wanted(workload):
    return any(workload.startswith(prefix) for prefix in ONLY.split(","))
BATCH = 128
torch.manual_seed(1)
THREADS = int(os.environ.get("CONVKIT_PEER_THREADS", os.cpu_count()))  # the same count as ConvKit's
torch.set_num_threads(THREADS)

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
    if wanted(f"{name}/train"):
        results[f"{name}/train"] = BATCH / best(step)
    if name == "conv_model" and wanted("conv_model/infer"):
        model.eval()
        with torch.no_grad():
            results["conv_model/infer"] = BATCH / best(lambda: model(x))

flops = 2.0 * 128 * 28 * 28 * 32 * (3 * 3 * 64)
layer = torch.nn.Conv2d(64, 32, 3, padding="same").to(memory_format=torch.channels_last)
inp = torch.rand(BATCH, 64, 28, 28).contiguous(memory_format=torch.channels_last)
if wanted("conv2d_64_32/forward"):
    with torch.no_grad():
        results["conv2d_64_32/forward"] = flops / best(lambda: layer(inp)) / 1e9
inp.requires_grad_(True)
def forward_backward():
    layer.zero_grad(set_to_none=True); inp.grad = None
    layer(inp).sum().backward()
if wanted("conv2d_64_32/forward_backward"):
    results["conv2d_64_32/forward_backward"] = 3 * flops / best(forward_backward) / 1e9
# Seed 002's networks: CIFAR-style ResNet-20-16 (option-B shortcuts, BatchNorm momentum 0.1,
# eps 1e-5) on 32×32×1, with the paper's recipe (SGD, Nesterov 0.9, weight decay 1e-2, label
# smoothing 0.1). LC variants build the block as the paper does: a k×k Conv2d to c·E channels,
# then a 1×1 Conv2d to c, the middle tensor kept for backward. At E = 128 the step takes
# seconds per image, so it runs at batch 16 with one warm-up and one timed step (img/s as measured).
def spatial_conv(cin, cout, stride, expansion, frozen):
    if expansion == 0:
        return torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    spatial = torch.nn.Conv2d(cin, cout * expansion, 3, stride, 1, bias=False)
    spatial.weight.requires_grad_(not frozen)
    return torch.nn.Sequential(spatial, torch.nn.Conv2d(cout * expansion, cout, 1, bias=False))

class Block(torch.nn.Module):
    def __init__(self, cin, cout, stride, expansion, frozen):
        super().__init__()
        self.conv1, self.bn1 = spatial_conv(cin, cout, stride, expansion, frozen), torch.nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = spatial_conv(cout, cout, 1, expansion, frozen), torch.nn.BatchNorm2d(cout)
        self.shortcut = torch.nn.Identity() if stride == 1 and cin == cout else torch.nn.Sequential(
            torch.nn.Conv2d(cin, cout, 1, stride, bias=False), torch.nn.BatchNorm2d(cout))
    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))

def resnet20(expansion=0, frozen=False, width=16):
    layers = [spatial_conv(1, width, 1, expansion, frozen), torch.nn.BatchNorm2d(width), torch.nn.ReLU()]
    cin = width
    for stage in range(3):
        for block in range(3):
            cout = width << stage
            layers.append(Block(cin, cout, 2 if stage > 0 and block == 0 else 1, expansion, frozen))
            cin = cout
    layers += [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(cin, 10)]
    return torch.nn.Sequential(*layers).to(memory_format=torch.channels_last)

smoothed = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
for name, expansion, frozen in [("resnet20/train", 0, False),
                                ("lc_resnet20_e8_frozen/train", 8, True), ("lc_resnet20_e8_learned/train", 8, False),
                                ("lc_resnet20_e128_frozen/train", 128, True), ("lc_resnet20_e128_learned/train", 128, False)]:
    if not wanted(name):
        continue
    batch = 16 if expansion == 128 else BATCH
    model = resnet20(expansion, frozen).train()
    x = torch.randn(batch, 1, 32, 32).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(batch) % 10
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=0.01)
    def step():
        opt.zero_grad(set_to_none=True)
        smoothed(model(x), labels).backward()
        opt.step()
    if expansion == 128:
        step()
        start = time.perf_counter(); step()
        results[name] = batch / (time.perf_counter() - start)
    else:
        results[name] = batch / best(step)

if ONLY and "," not in ONLY and results:  # peak memory only says something about one workload asked for
    results["peak_memory"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
results.update({"_version": f"PyTorch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()})", "_threads": THREADS})
print(json.dumps(results))
