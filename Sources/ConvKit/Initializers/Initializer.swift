import Foundation

/// Makes a parameter tensor of a given shape, drawing from a seeded generator.
///
/// Fans follow Keras: for a kernel `[spatial…, in, out]` the receptive field is the product
/// of the spatial sizes, `fanIn = receptive·in`, `fanOut = receptive·out`; for a 2-D matrix
/// `[in, out]` they are its sizes; for a vector both are its length.
public protocol Initializer: Sendable {
    func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor
    /// The Keras name, for summaries and model files.
    var name: String { get }
}

public func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    switch shape.count {
    case 0: return (1, 1)
    case 1: return (shape[0], shape[0])
    case 2: return (shape[0], shape[1])
    default:
        let receptive = shape.dropLast(2).reduce(1, *)
        return (receptive * shape[shape.count - 2], receptive * shape[shape.count - 1])
    }
}

public struct Constant: Initializer {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public var name: String { value == 0 ? "zeros" : value == 1 ? "ones" : "constant" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        Tensor(repeating: value, shape: shape)
    }
}

/// Hand-set values, for filters designed by hand (an edge detector, an X shape).
public struct FromValues: Initializer {
    public let values: Tensor
    public init(_ values: Tensor) { self.values = values }
    public var name: String { "values" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        precondition(values.count == shape.reduce(1, *),
                     "hand-set values have \(values.count) entries, the parameter needs shape \(shape)")
        return values.reshaped(to: shape)
    }
}

public struct RandomNormal: Initializer {
    public let mean: Float, stddev: Float
    public init(mean: Float = 0, stddev: Float = 0.05) { self.mean = mean; self.stddev = stddev }
    public var name: String { "random_normal" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { _ in mean + stddev * Float(generator.nextNormal()) }
    }
}

public struct RandomUniform: Initializer {
    public let minval: Float, maxval: Float
    public init(minval: Float = -0.05, maxval: Float = 0.05) { self.minval = minval; self.maxval = maxval }
    public var name: String { "random_uniform" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { _ in Float(generator.nextUniform(Double(minval), Double(maxval))) }
    }
}

/// Normal draws outside two standard deviations are drawn again.
public struct TruncatedNormal: Initializer {
    public let mean: Float, stddev: Float
    public init(mean: Float = 0, stddev: Float = 0.05) { self.mean = mean; self.stddev = stddev }
    public var name: String { "truncated_normal" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape) { _ in mean + stddev * Float(truncatedStandardNormal(&generator)) }
    }
}

func truncatedStandardNormal(_ generator: inout SeededGenerator) -> Double {
    while true {
        let z = generator.nextNormal()
        if abs(z) <= 2 { return z }
    }
}

/// Keras' VarianceScaling: variance `scale / n`, n the fan in, out or their average.
/// Every Glorot, He and LeCun initializer is one of these.
public struct VarianceScaling: Initializer {
    public enum Mode: String, Sendable { case fanIn = "fan_in", fanOut = "fan_out", fanAvg = "fan_avg" }
    public enum Distribution: String, Sendable {
        case truncatedNormal = "truncated_normal", untruncatedNormal = "untruncated_normal", uniform
    }
    public let scale: Double, mode: Mode, distribution: Distribution
    public let name: String

    public init(scale: Double = 1, mode: Mode = .fanIn, distribution: Distribution = .truncatedNormal,
                name: String = "variance_scaling") {
        self.scale = scale; self.mode = mode; self.distribution = distribution; self.name = name
    }

    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        let (fanIn, fanOut) = fans(of: shape)
        let n: Double = switch mode {
        case .fanIn: Double(fanIn)
        case .fanOut: Double(fanOut)
        case .fanAvg: Double(fanIn + fanOut) / 2
        }
        let variance = scale / max(1, n)
        switch distribution {
        case .uniform:
            let limit = (3 * variance).squareRoot()
            return Tensor(shape: shape) { _ in Float(generator.nextUniform(-limit, limit)) }
        case .untruncatedNormal:
            return Tensor(shape: shape) { _ in Float(variance.squareRoot() * generator.nextNormal()) }
        case .truncatedNormal:
            // The std of a standard normal truncated to ±2 is 0.8796…; divide it out.
            let std = variance.squareRoot() / 0.879_625_661_034_239_78
            return Tensor(shape: shape) { _ in Float(std * truncatedStandardNormal(&generator)) }
        }
    }
}

/// Keras' Orthogonal: a random orthogonal matrix (QR of a normal matrix, signs fixed by R's
/// diagonal) over the shape flattened to `[prod(all but last), last]`, times `gain`.
public struct Orthogonal: Initializer {
    public let gain: Double
    public init(gain: Double = 1) { self.gain = gain }
    public var name: String { "orthogonal" }
    public func make(shape: [Int], using generator: inout SeededGenerator) -> Tensor {
        let cols = shape.last ?? 1, rows = shape.dropLast().reduce(1, *)
        // Orthonormalise the columns of a tall n×k matrix (k ≤ n) by modified Gram–Schmidt.
        let (n, k) = (max(rows, cols), min(rows, cols))
        var q = (0..<(n * k)).map { _ in generator.nextNormal() }   // column-major: q[j*n + i]
        for j in 0..<k {
            for p in 0..<j {
                var dot = 0.0
                for i in 0..<n { dot += q[p * n + i] * q[j * n + i] }
                for i in 0..<n { q[j * n + i] -= dot * q[p * n + i] }
            }
            var norm = 0.0
            for i in 0..<n { norm += q[j * n + i] * q[j * n + i] }
            norm = norm.squareRoot()
            for i in 0..<n { q[j * n + i] /= norm }
        }
        // Gram–Schmidt's R has a positive diagonal, which matches Keras' sign fix-up.
        return Tensor(shape: shape) { flat in
            let (r, c) = (flat / cols, flat % cols)
            let value = rows >= cols ? q[c * n + r] : q[r * n + c]
            return Float(gain * value)
        }
    }
}

extension Initializer where Self == Constant {
    public static var zeros: Constant { Constant(0) }
    public static var ones: Constant { Constant(1) }
    public static func constant(_ value: Float) -> Constant { Constant(value) }
}

extension Initializer where Self == VarianceScaling {
    public static var glorotUniform: VarianceScaling { VarianceScaling(scale: 1, mode: .fanAvg, distribution: .uniform, name: "glorot_uniform") }
    public static var glorotNormal: VarianceScaling { VarianceScaling(scale: 1, mode: .fanAvg, distribution: .truncatedNormal, name: "glorot_normal") }
    public static var heNormal: VarianceScaling { VarianceScaling(scale: 2, mode: .fanIn, distribution: .truncatedNormal, name: "he_normal") }
    public static var heUniform: VarianceScaling { VarianceScaling(scale: 2, mode: .fanIn, distribution: .uniform, name: "he_uniform") }
    public static var lecunNormal: VarianceScaling { VarianceScaling(scale: 1, mode: .fanIn, distribution: .truncatedNormal, name: "lecun_normal") }
    public static var lecunUniform: VarianceScaling { VarianceScaling(scale: 1, mode: .fanIn, distribution: .uniform, name: "lecun_uniform") }
    /// PyTorch's default for conv and linear weights: kaiming_uniform(a=√5), which is
    /// U(−1/√fanIn, +1/√fanIn), i.e. variance 1/(3·fanIn).
    public static var pytorchDefault: VarianceScaling { VarianceScaling(scale: 1.0 / 3.0, mode: .fanIn, distribution: .uniform, name: "pytorch_default") }
}

extension Initializer where Self == RandomNormal {
    public static func randomNormal(mean: Float = 0, stddev: Float = 0.05) -> RandomNormal { RandomNormal(mean: mean, stddev: stddev) }
}

extension Initializer where Self == RandomUniform {
    public static func randomUniform(minval: Float = -0.05, maxval: Float = 0.05) -> RandomUniform { RandomUniform(minval: minval, maxval: maxval) }
}

extension Initializer where Self == TruncatedNormal {
    public static func truncatedNormal(mean: Float = 0, stddev: Float = 0.05) -> TruncatedNormal { TruncatedNormal(mean: mean, stddev: stddev) }
}

extension Initializer where Self == Orthogonal {
    public static var orthogonal: Orthogonal { Orthogonal() }
}

extension Initializer where Self == FromValues {
    public static func values(_ tensor: Tensor) -> FromValues { FromValues(tensor) }
}

/// Well-known hand-set 3×3 filters, as `[3, 3]` tensors (row, column).
public enum HandSetFilter {
    /// Sobel operator responding to horizontal gradients (vertical edges).
    public static let sobelX = Tensor(shape: [3, 3], scalars: [-1, 0, 1, -2, 0, 2, -1, 0, 1])
    /// Sobel operator responding to vertical gradients (horizontal edges).
    public static let sobelY = Tensor(shape: [3, 3], scalars: [-1, -2, -1, 0, 0, 0, 1, 2, 1])
    /// The "X" of the classic CNN animation: ones on both diagonals, −1 elsewhere.
    public static let xShape = Tensor(shape: [3, 3], scalars: [1, -1, 1, -1, 1, -1, 1, -1, 1])
}
