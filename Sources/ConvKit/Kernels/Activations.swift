import Foundation

/// Element-wise activations with Keras names and defaults, plus softmax over the last axis.
public enum ActivationFunction: String, CaseIterable, Sendable {
    case linear, relu, sigmoid, tanh, softmax
    case leakyRelu = "leaky_relu"
    case gelu

    /// Keras' `leaky_relu` default slope.
    public static let leakySlope: Float = 0.2

    public init(named name: String) throws {
        guard let a = ActivationFunction(rawValue: name) else {
            throw ConvKitError("unknown activation '\(name)' (known: \(ActivationFunction.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self = a
    }

    public func apply(_ x: Tensor) -> Tensor {
        switch self {
        case .linear: return x
        case .relu:
            return Tensor(shape: x.shape) { y in
                x.scalars.withUnsafeBufferPointer { ChannelArithmetic.relu($0.baseAddress!, into: y.baseAddress!, count: y.count) }
            }
        case .sigmoid: return x.map { 1 / (1 + exp(-$0)) }
        case .tanh: return x.map { Foundation.tanh($0) }
        case .leakyRelu: return x.map { $0 > 0 ? $0 : ActivationFunction.leakySlope * $0 }
        case .gelu: return x.map { 0.5 * $0 * (1 + erf($0 / Float(2).squareRoot())) }
        case .softmax: return ActivationFunction.softmax(x)
        }
    }

    /// The input gradient, given the forward input `x`, its output `y` and the output gradient.
    public func gradient(input x: Tensor, output y: Tensor, gradOutput dy: Tensor) -> Tensor {
        if self == .relu {
            return Tensor(shape: dy.shape) { d in
                x.scalars.withUnsafeBufferPointer { xp in dy.scalars.withUnsafeBufferPointer { g in
                    ChannelArithmetic.reluGradient(input: xp.baseAddress!, g.baseAddress!, into: d.baseAddress!, count: d.count)
                }}
            }
        }
        var dx = dy
        switch self {
        case .linear, .relu: break
        case .sigmoid: for i in 0..<dx.count { let s = y.scalars[i]; dx.scalars[i] *= s * (1 - s) }
        case .tanh: for i in 0..<dx.count { let t = y.scalars[i]; dx.scalars[i] *= 1 - t * t }
        case .leakyRelu: for i in 0..<dx.count where x.scalars[i] <= 0 { dx.scalars[i] *= ActivationFunction.leakySlope }
        case .gelu:
            for i in 0..<dx.count {
                let v = x.scalars[i]
                let cdf = 0.5 * (1 + erf(v / Float(2).squareRoot()))
                let pdf = exp(-0.5 * v * v) / (2 * Float.pi).squareRoot()
                dx.scalars[i] *= cdf + v * pdf
            }
        case .softmax:
            // dx = y ⊙ (dy − Σ dy·y) per row.
            let c = x.shape.last!
            for row in 0..<(dx.count / c) {
                var dot: Float = 0
                for j in 0..<c { dot += dy.scalars[row * c + j] * y.scalars[row * c + j] }
                for j in 0..<c { dx.scalars[row * c + j] = y.scalars[row * c + j] * (dy.scalars[row * c + j] - dot) }
            }
        }
        return dx
    }

    /// FLOPs per element, for summaries (a comparison or multiply counts one).
    var flopsPerElement: Int {
        switch self {
        case .linear: return 0
        case .relu, .leakyRelu: return 1
        case .sigmoid, .tanh, .gelu: return 4
        case .softmax: return 3
        }
    }

    /// Numerically stable softmax over the last axis.
    public static func softmax(_ x: Tensor) -> Tensor {
        let c = x.shape.last!
        var y = x
        for row in 0..<(x.count / c) {
            var m = -Float.infinity
            for j in 0..<c { m = max(m, x.scalars[row * c + j]) }
            var sum: Float = 0
            for j in 0..<c { let e = exp(x.scalars[row * c + j] - m); y.scalars[row * c + j] = e; sum += e }
            for j in 0..<c { y.scalars[row * c + j] /= sum }
        }
        return y
    }
}
