#!/usr/bin/env python3
"""Checks the NumPy reference values in Tests/ConvKitTests/Fixtures/layers.json against
Keras itself: each case's layer is built in Keras from the same spec (ConvKit's model-file
arguments are Keras' own), given the same weights and input, and run forward. The outcome is
recorded in results/verify-keras.json, from which README.md's line about it is rendered
(scripts/render_readme.py).

Run: make verify-keras   (installs tensorflow-cpu with pip if missing; verification only)
"""
import json, os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras_layers import keras_layer

def main():
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ConvKitTests", "Fixtures", "layers.json")
    cases = json.load(open(path))["cases"]
    worst, failures = 0.0, 0
    for c in cases:
        layer = keras_layer(c["spec"])
        x = np.array(c["input"], np.float32).reshape([c["batch"]] + c["input_shape"])
        layer.build(x.shape)
        # Keras names a weight by its role; the LC-block's two convolutions map to ConvKit's names.
        convkit_name = {"spatial/kernel": "spatial_kernel", "combination/kernel": "combination_kernel", "combination/bias": "bias"}
        for v in layer.weights:
            values = c["params"].get(convkit_name.get(v.path.split("/", 1)[-1] if v.path.count("/") > 1 else "", v.name))
            if values is None:
                raise SystemExit(f"{c['spec']}: no fixture values for Keras weight '{v.name}'")
            v.assign(np.array(values, np.float32).reshape(v.shape))
        y = np.asarray(layer(x, training=c["training"]))
        expected = np.array(c["output"]).reshape(c["output_shape"])
        if y.shape != expected.shape:
            print(f"SHAPE {c['spec']}: Keras {y.shape}, fixture {expected.shape}")
            failures += 1
            continue
        error = np.abs(y - expected).max() / max(np.abs(expected).max(), 1e-3)
        worst = max(worst, error)
        status = "ok  " if error < 1e-5 else "FAIL"
        failures += error >= 1e-5
        print(f"{status} {error:.1e}  {c['spec']}" + ("  (training)" if c["training"] else ""))
    losses = {
        "categorical_crossentropy": keras.losses.CategoricalCrossentropy(),
        "categorical_crossentropy_smoothed": keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        "categorical_crossentropy_logits": keras.losses.CategoricalCrossentropy(from_logits=True),
        "sparse_categorical_crossentropy_logits": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        "binary_crossentropy": keras.losses.BinaryCrossentropy(),
        "binary_crossentropy_logits": keras.losses.BinaryCrossentropy(from_logits=True),
        "mean_squared_error": keras.losses.MeanSquaredError(),
    }
    loss_cases = json.load(open(path))["losses"]
    for c in loss_cases:
        p = np.array(c["predictions"], np.float32).reshape(c["shape"])
        y = np.array(c["targets"], np.float32).reshape(c["targets_shape"])
        value = float(losses[c["spec"]](y, p))
        error = abs(value - c["value"]) / max(abs(c["value"]), 1e-3)
        status = "ok  " if error < 1e-5 else "FAIL"
        failures += error >= 1e-5
        print(f"{status} {error:.1e}  loss {c['spec']}: Keras {value:.6f}, fixture {c['value']:.6f}")
    total = len(cases) + len(loss_cases)
    print(f"{total - failures} passed, {failures} failed (Keras {keras.__version__}, worst layer relative error {worst:.1e})")
    record = {"keras": keras.__version__, "layer_cases": len(cases), "loss_cases": len(loss_cases), "passed": int(total - failures),
              "failed": int(failures), "worst_layer_relative_error": float(worst), "tolerance": 1e-5}
    with open(os.path.join(os.path.dirname(__file__), "..", "results", "verify-keras.json"), "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
        f.write("\n")
    sys.exit(1 if failures else 0)

main()
