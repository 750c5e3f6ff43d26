#!/usr/bin/env python3
"""Trains an experiment's models in Keras with the same data and recipe, and writes
reference/<name>-keras.json for ConvKit's report to show beside its own numbers.

Run: python3 scripts/keras_experiment.py experiments/seed003.yaml
(installs tensorflow-cpu with pip if missing; verification only, never part of `make test`).
"""
import gzip, json, os, subprocess, sys, time
try:
    import keras
except ImportError:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "tensorflow-cpu"])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import yaml
import keras
import tensorflow as tf
sys.path.insert(0, os.path.dirname(__file__))
from keras_layers import keras_model

def idx(path):
    data = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    rank = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(shape)

class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.start = time.time()
    def on_epoch_end(self, epoch, logs=None): self.times.append(time.time() - self.start)

def main(path):
    exp = yaml.safe_load(open(path))
    here = os.path.dirname(os.path.abspath(path))
    data = exp.get("data", {})
    folder = data.get("dataset", "fashion-mnist")
    folder = "/usr/share/datasets/fashion-mnist" if folder == "fashion-mnist" else folder
    def load(split, limit):
        x = idx(f"{folder}/{split}-images-idx3-ubyte.gz")[:limit].astype(np.float32)[..., None] / 255
        y = keras.utils.to_categorical(idx(f"{folder}/{split}-labels-idx1-ubyte.gz")[:limit], 10)
        return x, y
    (x, y), (tx, ty) = load("train", data.get("train_limit")), load("t10k", data.get("test_limit"))
    r = exp["recipe"]
    results = {}
    seeds = r.get("seeds") or [r.get("seed", 0)]
    for file in exp["models"]:
        runs = []
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            name, model = keras_model(os.path.join(here, file))
            opt = (keras.optimizers.SGD(learning_rate=r.get("learning_rate", 0.01), momentum=r.get("momentum", 0.0),
                                        nesterov=r.get("nesterov", False))
                   if r.get("optimizer", "sgd") == "sgd" else keras.optimizers.Adam(learning_rate=r.get("learning_rate", 0.001)))
            model.compile(optimizer=opt, loss=keras.losses.CategoricalCrossentropy(label_smoothing=r.get("label_smoothing", 0.0)),
                          metrics=["accuracy"])
            timer = EpochTimer(); timer.times = []
            h = model.fit(x, y, batch_size=r["batch_size"], epochs=r["epochs"], validation_split=r.get("validation_split", 0.0),
                          shuffle=True, verbose=2, callbacks=[timer])
            _, test_accuracy = model.evaluate(tx, ty, batch_size=256, verbose=0)
            print(f"{name} seed {seed}: test accuracy {test_accuracy:.4f}")
            runs.append((float(test_accuracy), h.history, float(np.mean(timer.times))))
        mean = lambda key: [float(v) for v in np.mean([run[1][key] for run in runs], axis=0)] if key in runs[0][1] else []
        results[name] = {"test_accuracy": float(np.mean([run[0] for run in runs])),
                         "test_accuracies": [run[0] for run in runs],
                         "accuracy": mean("accuracy"), "val_accuracy": mean("val_accuracy"),
                         "seconds_per_epoch": float(np.mean([run[2] for run in runs]))}
    out = os.path.join(os.path.dirname(__file__), "..", "reference", f"{exp['name']}-keras.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    json.dump({"framework": f"Keras {keras.__version__} (TensorFlow {tf.__version__})",
               "command": f"python3 scripts/keras_experiment.py {os.path.relpath(path)}",
               "settings": "same images, recipe and validation split; Keras' own initial weights and shuffling "
                           f"(seeds {', '.join(map(str, seeds))}); CPU, 2 cores",
               "models": results}, open(out, "w"), indent=2)
    print(f"wrote {out}")

main(sys.argv[1])
