"""Builds Keras layers and models from ConvKit model-file entries (the arguments are Keras' own).
Shared by the verification scripts; never used at run time."""
import yaml
import keras

POSITIONAL = {"Activation": "activation", "Reshape": "target_shape", "ZeroPadding2D": "padding",
              "Cropping2D": "cropping", "Dropout": "rate", "Dense": "units", "MaxPooling2D": "pool_size",
              "AveragePooling2D": "pool_size", "Concatenate": "axis"}

def margins(v):
    if isinstance(v, int): return v
    if len(v) == 2: return tuple(v)
    return ((v[0], v[1]), (v[2], v[3]))

def keras_layer(entry):
    """A Keras layer from one `layers:` entry (a parsed YAML value or its text)."""
    if isinstance(entry, str) and (":" in entry):
        entry = yaml.safe_load(entry)
    if isinstance(entry, str):
        name, args = entry, {}
    else:
        (name, args), = entry.items()
        if not isinstance(args, dict):
            args = {POSITIONAL[name]: args}
    args = dict(args)
    for key in ("inputs", "freeze"):
        if key in args:
            raise ValueError(f"{name}: graph models are not supported by this script")
    if name in ("ZeroPadding2D", "Cropping2D"):
        key = POSITIONAL[name]
        args[key] = margins(args[key])
    if "target_shape" in args:
        args["target_shape"] = tuple(args["target_shape"])
    if name == "LCConv2D":
        return lc_block(**args)
    return getattr(keras.layers, name)(**args)

def lc_block(filters, kernel_size, expansion=1, strides=1, padding="valid", activation=None, use_bias=True):
    """ConvKit's LCConv2D as the two Keras convolutions it is made of; its weights, in
    order, are spatial_kernel, combination_kernel and bias."""
    return keras.Sequential([
        keras.layers.Conv2D(filters * expansion, kernel_size, strides=strides, padding=padding, use_bias=False, name="spatial"),
        keras.layers.Conv2D(filters, 1, activation=activation, use_bias=use_bias, name="combination")])

def keras_model(path):
    spec = yaml.safe_load(open(path))
    model = keras.Sequential([keras.Input(shape=tuple(spec["input"]))] + [keras_layer(e) for e in spec["layers"]],
                             name=spec.get("name"))
    return spec.get("name"), model
