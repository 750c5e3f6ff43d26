import Foundation

/// A loss over a batch: the mean over rows (every axis but the last) of a per-row loss,
/// as Keras' default `sum_over_batch_size` reduction. `compute` returns the loss and its
/// gradient with respect to the predictions.
public protocol Loss: Sendable {
    func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor)
    var name: String { get }
}

/// Keras clips probabilities to [ε, 1 − ε] with ε = 1e-7 before taking logarithms.
public let probabilityEpsilon: Float = 1e-7

func checkShapes(_ predictions: Tensor, _ targets: Tensor, _ loss: String) throws {
    guard predictions.shape == targets.shape else {
        throw ConvKitError("\(loss): predictions have shape \(predictions.shape) but targets have shape \(targets.shape)")
    }
}

/// Cross-entropy against one-hot (or soft) targets over the last axis, optionally with
/// label smoothing `y ← y·(1 − s) + s/C`. From probabilities, Keras' rule: rescale rows to
/// sum to one, clip, take −Σ y·log p. From logits: a stable log-softmax.
public struct CategoricalCrossentropy: Loss {
    public let fromLogits: Bool, labelSmoothing: Float
    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.fromLogits = fromLogits; self.labelSmoothing = labelSmoothing
    }
    public var name: String { "categorical_crossentropy" }

    public func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try checkShapes(predictions, targets, name)
        let c = predictions.shape.last!, rows = predictions.count / c
        let y = labelSmoothing == 0 ? targets : targets.map { $0 * (1 - labelSmoothing) + labelSmoothing / Float(c) }
        var total = 0.0
        var grad = Tensor(zeros: predictions.shape)
        for r in 0..<rows {
            let base = r * c
            if fromLogits {
                var m = -Float.infinity
                for j in 0..<c { m = max(m, predictions.scalars[base + j]) }
                var sum: Double = 0
                for j in 0..<c { sum += exp(Double(predictions.scalars[base + j] - m)) }
                let logSum = Double(m) + log(sum)
                var ySum: Float = 0
                for j in 0..<c { ySum += y.scalars[base + j] }
                for j in 0..<c {
                    let logP = Double(predictions.scalars[base + j]) - logSum
                    total -= Double(y.scalars[base + j]) * logP
                    grad.scalars[base + j] = (Float(exp(logP)) * ySum - y.scalars[base + j]) / Float(rows)
                }
            } else {
                var s: Float = 0
                for j in 0..<c { s += predictions.scalars[base + j] }
                // L = −Σ y_j log clip(p_j/S): ∂L/∂p_k = −y_k/p_k·[k unclipped] + Σ_j y_j·[j unclipped]/S.
                var shared: Float = 0
                for j in 0..<c {
                    let q = predictions.scalars[base + j] / s
                    let clipped = min(max(q, probabilityEpsilon), 1 - probabilityEpsilon)
                    total -= Double(y.scalars[base + j]) * log(Double(clipped))
                    if clipped == q {
                        grad.scalars[base + j] = -y.scalars[base + j] / predictions.scalars[base + j]
                        shared += y.scalars[base + j]
                    }
                }
                for j in 0..<c { grad.scalars[base + j] = (grad.scalars[base + j] + shared / s) / Float(rows) }
            }
        }
        return (Float(total / Double(rows)), grad)
    }
}

/// Cross-entropy against integer class labels `[batch]` (stored as Floats).
public struct SparseCategoricalCrossentropy: Loss {
    public let fromLogits: Bool
    public init(fromLogits: Bool = false) { self.fromLogits = fromLogits }
    public var name: String { "sparse_categorical_crossentropy" }

    public func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        let oneHot = try OneHot.encode(targets, classes: predictions.shape.last!)
        guard oneHot.shape == predictions.shape else {
            throw ConvKitError("\(name): \(targets.count) labels for predictions of shape \(predictions.shape)")
        }
        return try CategoricalCrossentropy(fromLogits: fromLogits).compute(predictions: predictions, targets: oneHot)
    }
}

public enum OneHot {
    /// Labels `[n…]` of class indices → `[n…, classes]`.
    public static func encode(_ labels: Tensor, classes: Int) throws -> Tensor {
        var out = Tensor(zeros: labels.shape + [classes])
        for (i, v) in labels.scalars.enumerated() {
            let k = Int(v)
            guard Float(k) == v, (0..<classes).contains(k) else {
                throw ConvKitError("label \(v) at position \(i) is not a class index in 0..<\(classes)")
            }
            out.scalars[i * classes + k] = 1
        }
        return out
    }
}

/// Binary cross-entropy, averaged over the last axis then over rows (Keras).
public struct BinaryCrossentropy: Loss {
    public let fromLogits: Bool, labelSmoothing: Float
    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.fromLogits = fromLogits; self.labelSmoothing = labelSmoothing
    }
    public var name: String { "binary_crossentropy" }

    public func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try checkShapes(predictions, targets, name)
        let n = Float(predictions.count)
        var total = 0.0
        var grad = Tensor(zeros: predictions.shape)
        for i in 0..<predictions.count {
            let y = targets.scalars[i] * (1 - labelSmoothing) + 0.5 * labelSmoothing
            let x = predictions.scalars[i]
            if fromLogits {
                total += Double(max(x, 0) - x * y) + log1p(exp(-Double(abs(x))))
                grad.scalars[i] = (1 / (1 + exp(-x)) - y) / n
            } else {
                let p = min(max(x, probabilityEpsilon), 1 - probabilityEpsilon)
                total -= Double(y) * log(Double(p)) + Double(1 - y) * log(Double(1 - p))
                grad.scalars[i] = p == x ? (-(y / p) + (1 - y) / (1 - p)) / n : 0
            }
        }
        return (Float(total / Double(n)), grad)
    }
}

public struct MeanSquaredError: Loss {
    public init() {}
    public var name: String { "mean_squared_error" }

    public func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
        try checkShapes(predictions, targets, name)
        let n = Float(predictions.count)
        var total = 0.0
        var grad = predictions
        for i in 0..<predictions.count {
            let d = predictions.scalars[i] - targets.scalars[i]
            total += Double(d * d)
            grad.scalars[i] = 2 * d / n
        }
        return (Float(total / Double(n)), grad)
    }
}

/// Keras' `accuracy` for classifiers: the share of rows whose highest prediction is the
/// target class. Targets are one-hot rows of the predictions' shape, or class indices.
public enum Accuracy {
    public static func compute(predictions: Tensor, targets: Tensor) throws -> Float {
        let c = predictions.shape.last!, rows = predictions.count / c
        let sparse = targets.count == rows
        guard sparse || targets.shape == predictions.shape else {
            throw ConvKitError("accuracy: targets of shape \(targets.shape) do not fit predictions of shape \(predictions.shape)")
        }
        var correct = 0
        for r in 0..<rows {
            let predicted = argmax(predictions.scalars, r * c, c)
            let truth = c == 1 ? (targets.scalars[r] >= 0.5 ? 1 : 0)
                : sparse ? Int(targets.scalars[r]) : argmax(targets.scalars, r * c, c)
            let guess = c == 1 ? (predictions.scalars[r] >= 0.5 ? 1 : 0) : predicted
            if guess == truth { correct += 1 }
        }
        return Float(correct) / Float(max(rows, 1))
    }

    static func argmax(_ v: [Float], _ start: Int, _ count: Int) -> Int {
        var best = 0
        for j in 1..<max(count, 1) where v[start + j] > v[start + best] { best = j }
        return best
    }
}
