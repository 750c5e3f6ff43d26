"""Makes the small Keras 3 models that `convkit import` is tested against.

For each model it writes, under Tests/ConvKitTests/Fixtures/keras/:
  NAME.keras          the archive Keras saves (config.json + model.weights.h5)
  NAME.input.npy      a batch of inputs
  NAME.output.npy     what Keras predicts for them
Every weight, BatchNormalization's moving statistics included, is set to random values so
that a wrong layout or a swapped variable cannot go unnoticed.

    pip install tensorflow-cpu && python3 scripts/make_keras_models.py
"""
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
from keras import layers  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ConvKitTests", "Fixtures", "keras")
rng = np.random.default_rng(7)


def randomize(model):
    for layer in model.layers:
        for w in layer.weights:
            shape = tuple(w.shape)
            if "moving_variance" in w.path:
                value = rng.uniform(0.5, 1.5, shape)
            else:
                value = rng.normal(0, 0.4, shape)
            w.assign(value.astype("float32"))


def sequential_conv():
    return keras.Sequential([
        keras.Input((12, 12, 3)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.DepthwiseConv2D(3, depth_multiplier=2, activation="tanh"),
        layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2),
        layers.MaxPooling2D(2),
        layers.ZeroPadding2D(((1, 0), (0, 2))),
        layers.Cropping2D(((0, 1), (1, 0))),
        layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid"),
        layers.AveragePooling2D(3, strides=2, padding="same"),
        layers.Conv2D(6, (2, 3), strides=(1, 2), use_bias=False),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax"),
    ], name="sequential_conv")


def functional_residual():
    x = keras.Input((10, 10, 4), name="image")
    a = layers.Conv2D(4, 3, padding="same", name="branch")(x)
    s = layers.Add()([x, a])
    s = layers.ReLU()(s)
    b = layers.Conv2D(6, 3, padding="same", dilation_rate=2, groups=2, activation="gelu")(s)
    c = layers.Concatenate()([s, b])
    c = layers.BatchNormalization(center=False, epsilon=1e-2)(c)
    c = layers.LeakyReLU(negative_slope=0.2)(c)
    g = layers.GlobalMaxPooling2D()(c)
    h = layers.GlobalAveragePooling2D()(c)
    m = layers.Concatenate(axis=-1)([g, h])
    y = layers.Dense(3)(m)
    y = layers.Softmax()(y)
    return keras.Model(x, y, name="functional_residual")


def conv1d():
    return keras.Sequential([
        keras.Input((16, 3)),
        layers.Conv1D(4, 3, strides=2, padding="same", activation="relu"),
        layers.MaxPooling1D(2, padding="same"),
        layers.Conv1D(5, 2, dilation_rate=2),
        layers.AveragePooling1D(2, strides=1),
        layers.Flatten(),
        layers.Dense(4, activation="sigmoid"),
    ], name="conv1d")


def conv3d():
    return keras.Sequential([
        keras.Input((6, 6, 6, 2)),
        layers.Conv3D(3, 3, padding="same", activation="relu"),
        layers.MaxPooling3D(2),
        layers.AveragePooling3D(1),
        layers.Reshape((27, 3)),
        layers.Flatten(),
        layers.Dense(2),
    ], name="conv3d")


def main():
    os.makedirs(OUT, exist_ok=True)
    keras.utils.set_random_seed(1)
    for make in (sequential_conv, functional_residual, conv1d, conv3d):
        model = make()
        randomize(model)
        x = rng.normal(0, 1, (3,) + tuple(model.input_shape[1:])).astype("float32")
        y = model.predict(x, verbose=0)
        name = make.__name__
        model.save(os.path.join(OUT, f"{name}.keras"))
        np.save(os.path.join(OUT, f"{name}.input.npy"), x)
        np.save(os.path.join(OUT, f"{name}.output.npy"), y.astype("float32"))
        print(f"{name}: {model.count_params()} parameters, output {y.shape}")
    print(f"keras {keras.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
