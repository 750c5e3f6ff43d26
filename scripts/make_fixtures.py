#!/usr/bin/env python3
"""Writes Tests/ConvKitTests/Fixtures/layers.json: forward values of ConvKit layers computed
independently with NumPy, by definition (window loops, scatter for transposed convolution),
with Keras/TensorFlow semantics for padding, pooling and batch normalisation.

Run: python3 scripts/make_fixtures.py   (needs numpy only)
"""
import itertools, json, math, os
import numpy as np

rng = np.random.default_rng(2026)
cases = []

def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)

def tf_pads(n, k, s, d, padding):
    """Output size and (before, after) padding per axis, as TensorFlow computes them."""
    span = d * (k - 1) + 1
    if padding == "valid":
        return (n - span) // s + 1, 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return out, total // 2, total - total // 2

def conv(x, w, b, strides, dilations, padding, groups=1):
    """x [N, *S, C], w [*K, C/groups, F] (HWIO), direct definition."""
    rank = x.ndim - 2
    geo = [tf_pads(x.shape[1 + a], w.shape[a], strides[a], dilations[a], padding) for a in range(rank)]
    out_sizes = [g[0] for g in geo]
    cg, f = w.shape[-2], w.shape[-1]
    fg = f // groups
    y = np.zeros((x.shape[0], *out_sizes, f), np.float64)
    for o in itertools.product(*[range(s) for s in out_sizes]):
        for t in itertools.product(*[range(k) for k in w.shape[:rank]]):
            pos = [o[a] * strides[a] - geo[a][1] + t[a] * dilations[a] for a in range(rank)]
            if any(p < 0 or p >= x.shape[1 + a] for a, p in enumerate(pos)):
                continue
            pixel = x[(slice(None), *pos)]  # [N, C]
            for g in range(groups):
                y[(slice(None), *o, slice(g * fg, (g + 1) * fg))] += pixel[:, g * cg:(g + 1) * cg] @ w[t][:, g * fg:(g + 1) * fg]
    if b is not None:
        y += b
    return y

def conv_transpose(x, w, b, strides, dilations, padding):
    """Keras Conv2DTranspose by scatter: x [N, H, W, Cin], w [kh, kw, F, Cin]."""
    k = w.shape[:2]
    sizes = []
    for a in range(2):
        span = dilations[a] * (k[a] - 1) + 1
        n = x.shape[1 + a]
        sizes.append(n * strides[a] if padding == "same" else n * strides[a] + max(span - strides[a], 0))
    pads = [tf_pads(sizes[a], k[a], strides[a], dilations[a], padding)[1] for a in range(2)]
    y = np.zeros((x.shape[0], *sizes, w.shape[2]), np.float64)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            for a in range(k[0]):
                for c in range(k[1]):
                    p = i * strides[0] + a * dilations[0] - pads[0]
                    q = j * strides[1] + c * dilations[1] - pads[1]
                    if 0 <= p < sizes[0] and 0 <= q < sizes[1]:
                        y[:, p, q, :] += x[:, i, j, :] @ w[a, c].T
    return y + b

def pool(x, size, strides, padding, mode):
    rank = x.ndim - 2
    geo = [tf_pads(x.shape[1 + a], size[a], strides[a], 1, padding) for a in range(rank)]
    y = np.zeros((x.shape[0], *[g[0] for g in geo], x.shape[-1]), np.float64)
    for o in itertools.product(*[range(g[0]) for g in geo]):
        cells = []
        for t in itertools.product(*[range(k) for k in size]):
            pos = [o[a] * strides[a] - geo[a][1] + t[a] for a in range(rank)]
            if all(0 <= p < x.shape[1 + a] for a, p in enumerate(pos)):
                cells.append(x[(slice(None), *pos)])
        stack = np.stack(cells)
        y[(slice(None), *o)] = stack.max(0) if mode == "max" else stack.mean(0)
    return y

def add(spec, x, y, params=None, training=False, input_shape=None):
    cases.append({
        "spec": spec, "training": training,
        "input_shape": list(input_shape or x.shape[1:]), "input": x.ravel().tolist(), "batch": x.shape[0],
        "params": {k: np.asarray(v, np.float32).ravel().tolist() for k, v in (params or {}).items()},
        "output_shape": list(y.shape), "output": np.asarray(y, np.float64).ravel().tolist(),
    })

def conv_case(spec, xshape, kshape, strides, dilations, padding, groups=1, bias=True):
    x, w = rand(*xshape), rand(*kshape) * 0.5
    b = rand(kshape[-1]) if bias else None
    params = {"kernel": w} | ({"bias": b} if bias else {})
    add(spec, x, conv(x, w, b, strides, dilations, padding, groups), params)

# Conv2D: stride 2, dilation 2, odd 'same' padding (extra pixel bottom/right), groups.
conv_case("Conv2D: {filters: 4, kernel_size: 3, strides: 2, padding: same}", (2, 7, 6, 3), (3, 3, 3, 4), (2, 2), (1, 1), "same")
conv_case("Conv2D: {filters: 3, kernel_size: 3, dilation_rate: 2}", (2, 8, 7, 2), (3, 3, 2, 3), (1, 1), (2, 2), "valid")
conv_case("Conv2D: {filters: 2, kernel_size: [2, 4], padding: same}", (1, 5, 6, 3), (2, 4, 3, 2), (1, 1), (1, 1), "same")
conv_case("Conv2D: {filters: 4, kernel_size: 3, padding: same, groups: 2}", (2, 5, 5, 4), (3, 3, 2, 4), (1, 1), (1, 1), "same", groups=2)
conv_case("Conv2D: {filters: 5, kernel_size: 1, use_bias: false}", (2, 3, 4, 3), (1, 1, 3, 5), (1, 1), (1, 1), "valid", bias=False)
conv_case("Conv2D: {filters: 3, kernel_size: 2, strides: [2, 3], padding: same}", (1, 5, 7, 2), (2, 2, 2, 3), (2, 3), (1, 1), "same")
conv_case("Conv1D: {filters: 3, kernel_size: 3, strides: 2, padding: same}", (2, 9, 2), (3, 2, 3), (2,), (1,), "same")
conv_case("Conv3D: {filters: 2, kernel_size: 2, padding: same}", (1, 3, 4, 3, 2), (2, 2, 2, 2, 2), (1, 1, 1), (1, 1, 1), "same")

# Conv2D with a fused activation.
x, w, b = rand(2, 4, 4, 2), rand(3, 3, 2, 3), rand(3)
add("Conv2D: {filters: 3, kernel_size: 3, padding: same, activation: relu}", x,
    np.maximum(conv(x, w, b, (1, 1), (1, 1), "same"), 0), {"kernel": w, "bias": b})

# DepthwiseConv2D with multiplier 2: output channel c*m + j uses kernel[:, :, c, j].
x, w, b = rand(2, 6, 5, 3), rand(3, 3, 3, 2), rand(6)
add("DepthwiseConv2D: {kernel_size: 3, strides: 2, padding: same, depth_multiplier: 2}", x,
    conv(x, w.reshape(3, 3, 1, 6), b, (2, 2), (1, 1), "same", groups=3), {"kernel": w, "bias": b})

# SeparableConv2D: depthwise (no bias) then pointwise with bias.
x, dw, pw, b = rand(1, 5, 5, 2), rand(3, 3, 2, 2), rand(1, 1, 4, 3), rand(3)
mid = conv(x, dw.reshape(3, 3, 1, 4), None, (1, 1), (1, 1), "valid", groups=2)
add("SeparableConv2D: {filters: 3, kernel_size: 3, depth_multiplier: 2}", x,
    conv(mid, pw, b, (1, 1), (1, 1), "valid"), {"depthwise_kernel": dw, "pointwise_kernel": pw, "bias": b})

# LCConv2D (ConvKit's LC-block, not a Keras layer): k×k convolution to filters·E channels
# without bias, then a 1×1 convolution to filters with bias, then the activation.
x, sk, ck, b = rand(2, 6, 5, 3), rand(3, 3, 3, 4), rand(1, 1, 4, 2), rand(2)
add("LCConv2D: {filters: 2, kernel_size: 3, expansion: 2}", x,
    conv(conv(x, sk, None, (1, 1), (1, 1), "valid"), ck, b, (1, 1), (1, 1), "valid"),
    {"spatial_kernel": sk, "combination_kernel": ck, "bias": b})
x, sk, ck, b = rand(1, 7, 6, 2), rand(5, 5, 2, 9), rand(1, 1, 9, 3), rand(3)
add("LCConv2D: {filters: 3, kernel_size: 5, expansion: 3, strides: 2, padding: same, activation: relu}", x,
    np.maximum(conv(conv(x, sk, None, (2, 2), (1, 1), "same"), ck, b, (1, 1), (1, 1), "valid"), 0),
    {"spatial_kernel": sk, "combination_kernel": ck, "bias": b})

# Conv2DTranspose, kernel [kh, kw, filters, in].
for spec, shape, k, s, pad in [
        ("Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, padding: same}", (2, 3, 4, 2), 3, 2, "same"),
        ("Conv2DTranspose: {filters: 2, kernel_size: 3, strides: 2}", (1, 3, 3, 2), 3, 2, "valid"),
        ("Conv2DTranspose: {filters: 2, kernel_size: 4, strides: 2, padding: same}", (1, 3, 3, 3), 4, 2, "same"),
        ("Conv2DTranspose: {filters: 2, kernel_size: 1, strides: 3}", (1, 2, 2, 2), 1, 3, "valid")]:
    x, w, b = rand(*shape), rand(k, k, int(spec.split("filters: ")[1][0]), shape[-1]), None
    b = rand(w.shape[2])
    add(spec, x, conv_transpose(x, w, b, (s, s), (1, 1), pad), {"kernel": w, "bias": b})

# Pooling, including odd 'same' windows that hang over the edge.
for spec, shape, size, strides, pad, mode in [
        ("MaxPooling2D: {pool_size: 2, padding: same}", (2, 5, 5, 3), (2, 2), (2, 2), "same", "max"),
        ("AveragePooling2D: {pool_size: 2, padding: same}", (2, 5, 5, 3), (2, 2), (2, 2), "same", "avg"),
        ("AveragePooling2D: {pool_size: 3, strides: 2, padding: same}", (1, 6, 5, 2), (3, 3), (2, 2), "same", "avg"),
        ("MaxPooling2D: {pool_size: 3, strides: 2}", (1, 7, 6, 2), (3, 3), (2, 2), "valid", "max"),
        ("AveragePooling2D: {pool_size: [2, 3], strides: 1}", (1, 4, 5, 2), (2, 3), (1, 1), "valid", "avg"),
        ("MaxPooling1D: {pool_size: 3, strides: 2, padding: same}", (2, 8, 3), (3,), (2,), "same", "max"),
        ("AveragePooling1D: {pool_size: 2}", (2, 7, 3), (2,), (2,), "valid", "avg"),
        ("MaxPooling3D: {pool_size: 2, padding: same}", (1, 3, 3, 4, 2), (2, 2, 2), (2, 2, 2), "same", "max"),
        ("AveragePooling3D: {pool_size: 2, padding: same}", (1, 3, 3, 4, 2), (2, 2, 2), (2, 2, 2), "same", "avg")]:
    x = rand(*shape)
    add(spec, x, pool(x, size, strides, pad, mode))

x = rand(2, 4, 3, 5)
add("GlobalAveragePooling2D", x, x.mean(axis=(1, 2)))
add("GlobalMaxPooling2D", x, x.max(axis=(1, 2)))

# BatchNormalization: training uses the batch mean and biased variance; inference the moving ones.
x, gamma, beta = rand(4, 3, 3, 5) * 2 + 1, rand(5), rand(5)
mm, mv = rand(5), np.abs(rand(5)) + 0.5
mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
add("BatchNormalization", x, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta,
    {"gamma": gamma, "beta": beta, "moving_mean": mm, "moving_variance": mv}, training=True)
add("BatchNormalization", x, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta,
    {"gamma": gamma, "beta": beta, "moving_mean": mm, "moving_variance": mv})

# Dense on a vector and on the last axis of an image; activations.
x, w, b = rand(3, 6), rand(6, 4), rand(4)
add("Dense: {units: 4, activation: tanh}", x, np.tanh(x @ w + b), {"kernel": w, "bias": b})
x, w, b = rand(2, 3, 2, 6), rand(6, 4), rand(4)
add("Dense: {units: 4}", x, x @ w + b, {"kernel": w, "bias": b})
x = rand(3, 7) * 2
erf = np.vectorize(math.erf)
for name, f in [("relu", lambda v: np.maximum(v, 0)), ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
                ("tanh", np.tanh), ("linear", lambda v: v), ("leaky_relu", lambda v: np.where(v > 0, v, 0.2 * v)),
                ("gelu", lambda v: 0.5 * v * (1 + erf(v / np.sqrt(2)))),
                ("softmax", lambda v: np.exp(v - v.max(-1, keepdims=True)) / np.exp(v - v.max(-1, keepdims=True)).sum(-1, keepdims=True))]:
    add(f"Activation: {name}", x, f(x.astype(np.float64)))

# Shape layers.
x = rand(2, 3, 4, 2)
add("Flatten", x, x.reshape(2, -1))
add("Reshape: [4, -1]", x, x.reshape(2, 4, 6))
add("ZeroPadding2D: [1, 2, 0, 3]", x, np.pad(x, ((0, 0), (1, 2), (0, 3), (0, 0))))
add("ZeroPadding2D: 1", x, np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
add("Cropping2D: [1, 0, 1, 2]", x, x[:, 1:, 1:2, :])
add("Dropout: 0.5", x, x)  # inference passes values through

# Losses (Keras rules): probabilities are rescaled to sum to one per row, then clipped to
# [1e-7, 1 - 1e-7]; label smoothing y <- y(1 - s) + s/C; the result is the mean over rows.
losses = []
def add_loss(spec, p, y, value):
    losses.append({"spec": spec, "shape": list(p.shape), "predictions": p.ravel().tolist(),
                   "targets_shape": list(y.shape), "targets": np.asarray(y, np.float32).ravel().tolist(), "value": float(value)})
eps = 1e-7
logits = rand(4, 5) * 2
probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
probs[0] = [0.0, 0.7, 0.2, 0.1, 0.0]          # exact zeros hit the clip
probs[1] *= 1.3                                # a row that does not sum to one
labels = np.array([1, 4, 0, 2])
onehot = np.eye(5)[labels]
def cce(p, y):
    q = np.clip(p / p.sum(-1, keepdims=True), eps, 1 - eps)
    return -(y * np.log(q)).sum(-1).mean()
def log_softmax(z):
    return z - z.max(-1, keepdims=True) - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True))
add_loss("categorical_crossentropy", probs, onehot, cce(probs.astype(np.float64), onehot))
add_loss("categorical_crossentropy_smoothed", probs, onehot, cce(probs.astype(np.float64), onehot * 0.9 + 0.1 / 5))
add_loss("categorical_crossentropy_logits", logits, onehot, -(onehot * log_softmax(logits.astype(np.float64))).sum(-1).mean())
add_loss("sparse_categorical_crossentropy_logits", logits, labels, -(onehot * log_softmax(logits.astype(np.float64))).sum(-1).mean())
p = 1 / (1 + np.exp(-logits.astype(np.float64)))
yb = (rng.random((4, 5)) > 0.5).astype(np.float64)
pc = np.clip(p, eps, 1 - eps)
add_loss("binary_crossentropy", p.astype(np.float32), yb, -(yb * np.log(pc) + (1 - yb) * np.log(1 - pc)).mean())
add_loss("binary_crossentropy_logits", logits, yb, (np.maximum(logits, 0) - logits * yb + np.log1p(np.exp(-np.abs(logits)))).mean())
add_loss("mean_squared_error", logits, yb, ((logits - yb) ** 2).mean())

# .npy files written by NumPy itself, for the reader.
fixtures = os.path.join(os.path.dirname(__file__), "..", "Tests", "ConvKitTests", "Fixtures")
np.save(os.path.join(fixtures, "f32.npy"), np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8)
np.save(os.path.join(fixtures, "f64.npy"), np.array([1.5, -2.25, 3.0]))
np.save(os.path.join(fixtures, "u8.npy"), np.array([[0, 255], [7, 128]], dtype=np.uint8))

with open(os.path.join(os.path.dirname(__file__), "..", "Tests", "ConvKitTests", "Fixtures", "layers.json"), "w") as f:
    json.dump({"generator": "scripts/make_fixtures.py", "cases": cases, "losses": losses}, f)
print(f"wrote {len(cases)} cases")
