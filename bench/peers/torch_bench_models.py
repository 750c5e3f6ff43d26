"""ConvKit model files mapped onto torch.nn modules, for the peer benchmarks."""
import torch
import yaml


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
            if a.get("padding") == "same" and k % 2 == 0:
                raise ValueError(f"{path}: even 'same' kernels are not mapped (PyTorch pads them differently)")
            # k // 2 on both sides is 'same' for odd kernels at stride 1, and exports to ONNX.
            layers.append(torch.nn.Conv2d(channels, a["filters"], k, padding=k // 2 if a.get("padding") == "same" else 0))
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
