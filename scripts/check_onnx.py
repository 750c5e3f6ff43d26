"""Exports models with `convkit export --onnx`, runs them in onnxruntime and compares the
outputs with ConvKit's own predictions (`convkit predict`) on the same random inputs.

The models cover every layer type ConvKit exports: the Keras fixtures (imported from .keras,
with random weights and BatchNormalization statistics), model files written here for what
those do not reach (the LC-block, folded into one Conv, and its ablation blocks with an
operation between two Convs; Dense on a sequence, softmax over conv channels,
concatenation along a spatial axis, transposed convolutions with stride above the kernel),
a ResNet built from the `architecture:` field, and the seed-003 models.

    pip install onnxruntime onnx && python3 scripts/check_onnx.py
"""
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CONVKIT = os.path.join(ROOT, ".build", "release", "convkit")
WORK = os.path.join(ROOT, ".build", "onnx-check")
KERAS = os.path.join(ROOT, "Tests", "ConvKitTests", "Fixtures", "keras")
TOLERANCE = 1e-4

MODEL_FILES = {
    "lc_residual": """
name: lc_residual
input: [10, 10, 3]
layers:
  - LCConv2D: {filters: 4, kernel_size: 3, expansion: 2, padding: same, name: lc}
  - BatchNormalization: {name: bn}
  - Activation: {activation: gelu, name: act}
  - Conv2D: {filters: 4, kernel_size: 1, activation: tanh, name: mix}
  - Add: {inputs: [act, mix], name: sum}
  - Conv2D: {filters: 3, kernel_size: 3, strides: 2, activation: softmax, name: spatial_softmax}
  - GlobalAveragePooling2D: {name: pool}
  - Dense: {units: 4, activation: softmax, name: head}
""",
    "sequence_dense": """
name: sequence_dense
input: [6, 4]
layers:
  - Conv1D: {filters: 3, kernel_size: 2, activation: leaky_relu}
  - Dense: {units: 5, activation: sigmoid}
  - Dropout: 0.5
  - Reshape: [5, 5]
  - Dense: {units: 2}
  - Flatten
  - BatchNormalization
  - Dense: {units: 3, activation: softmax}
""",
    "spatial_concat": """
name: spatial_concat
input: [8, 8, 2]
layers:
  - Conv2D: {filters: 2, kernel_size: 3, padding: same, name: c1}
  - Concatenate: {axis: 1, inputs: [input, c1], name: rows}
  - Conv2D: {filters: 4, kernel_size: [3, 2], strides: [2, 1], dilation_rate: [1, 2], name: c2}
  - AveragePooling2D: {pool_size: 3, strides: 1, padding: same, name: avg}
  - MaxPooling2D: {pool_size: 3, strides: 2, padding: same, name: max}
  - Concatenate: {inputs: [avg, avg], name: channels}
  - DepthwiseConv2D: {kernel_size: 2, depth_multiplier: 3, padding: same, name: dw}
  - Flatten: {name: flat}
  - Dense: {units: 5, activation: softmax, name: out}
""",
    "transposed": """
name: transposed
input: [5, 4, 3]
layers:
  - Conv2DTranspose: {filters: 2, kernel_size: 2, strides: 3, activation: relu}
  - Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, padding: same, dilation_rate: 1}
  - Conv2DTranspose: {filters: 2, kernel_size: 3, dilation_rate: 2}
  - ZeroPadding2D: [1, 2, 0, 3]
  - Cropping2D: [2, 0, 1, 1]
  - SeparableConv2D: {filters: 3, kernel_size: 3, strides: 2, depth_multiplier: 2}
  - GlobalMaxPooling2D
""",
    "volume": """
name: volume
input: [5, 6, 4, 2]
layers:
  - Conv3D: {filters: 4, kernel_size: [2, 3, 3], padding: same, groups: 2, activation: relu}
  - AveragePooling3D: {pool_size: 2, padding: same}
  - MaxPooling3D: {pool_size: [1, 2, 2]}
  - Flatten
  - Dense: {units: 3}
""",
    "lc_ablation": """
name: lc_ablation
input: [9, 9, 2]
layers:
  - LCConv2D: {filters: 3, kernel_size: 3, expansion: 4, strides: 2, padding: same, intermediate: batch_norm_relu, activation: relu, name: lc_bn_relu}
  - LCConv2D: {filters: 3, kernel_size: 3, expansion: 2, intermediate: relu, name: lc_relu}
  - LCConv2D: {filters: 2, kernel_size: 1, expansion: 3, intermediate: batch_norm, name: lc_bn}
  - LCConv2D: {filters: 2, kernel_size: 3, expansion: 5, padding: same, name: lc_plain}
  - GlobalAveragePooling2D
""",
    "resnet_lc": """
name: resnet_lc
input: [16, 16, 3]
architecture:
  ResNet: {depth: 8, width: 8, block: lc, expansion: 2, classes: 5}
""",
}


# Conv nodes each LC-block must export to: one for a plain (linear, folded) block, two with
# the operation between them for an ablation block.
EXPECTED_NODES = {
    "lc_ablation": {"lc_bn_relu.spatial/Conv": 1, "lc_bn_relu.combination/Conv": 1, "lc_bn_relu.intermediate/BatchNormalization": 1,
                    "lc_bn_relu.intermediate/Relu": 1, "lc_relu.spatial/Conv": 1, "lc_relu.intermediate/Relu": 1,
                    "lc_relu.combination/Conv": 1, "lc_bn.intermediate/BatchNormalization": 1, "lc_bn.intermediate/Relu": 0,
                    "lc_plain/Conv": 1, "lc_plain.spatial/Conv": 0},
    "lc_residual": {"lc/Conv": 1, "lc.spatial/Conv": 0},
}


def run(*args):
    result = subprocess.run([CONVKIT, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"convkit {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


def check(name, source):
    onnx_path = os.path.join(WORK, f"{name}.onnx")
    run("export", source, "--onnx", onnx_path)
    try:
        import onnx
        onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    except ImportError:
        pass
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    shape = [3] + list(session.get_inputs()[0].shape[1:])
    x = np.random.default_rng(len(name)).normal(0, 1, shape).astype("float32")
    x_path, y_path = os.path.join(WORK, f"{name}.input.npy"), os.path.join(WORK, f"{name}.convkit.npy")
    np.save(x_path, x)
    run("predict", source, x_path, "--out", y_path, "--show", "0")
    expected = np.load(y_path)
    (got,) = session.run(None, {"input": x})
    difference = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    ops = sorted({n.op_type for n in onnx.load(onnx_path).graph.node}) if "onnx" in sys.modules else []
    print(f"{name:22s} output {tuple(got.shape)}  max |onnxruntime − ConvKit| = {difference:.2e}  {' '.join(ops)}")
    nodes = [n.name for n in onnx.load(onnx_path).graph.node] if "onnx" in sys.modules else []
    wrong = {node: (sum(n == node or n.startswith(node + "_") for n in nodes), count)
             for node, count in EXPECTED_NODES.get(name, {}).items()}
    wrong = {node: counts for node, counts in wrong.items() if counts[0] != counts[1]}
    if wrong:
        print(f"{name}: ONNX nodes (found, expected): {wrong}; the graph has {nodes}")
    return difference <= TOLERANCE and not wrong


def main():
    os.makedirs(WORK, exist_ok=True)
    sources = {n: os.path.join(KERAS, f"{n}.keras") for n in ("sequential_conv", "functional_residual", "conv1d", "conv3d")}
    for name, text in MODEL_FILES.items():
        path = os.path.join(WORK, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(text)
        sources[name] = path
    for name in ("seed003-conv", "seed003-conv-maxpool", "seed003-dense"):
        sources[name] = os.path.join(ROOT, "models", f"{name}.yaml")
    failed = [name for name, source in sources.items() if not check(name, source)]
    print(f"onnxruntime {ort.__version__}: {len(sources) - len(failed)}/{len(sources)} models agree within {TOLERANCE}")
    if failed:
        sys.exit(f"disagree: {', '.join(failed)}")


if __name__ == "__main__":
    main()
