import ConvKit
/// How large the signal is at each layer: the standard deviation of a layer's output on a
/// batch, and of the loss gradient with respect to that output. He et al. ask of an
/// initialisation that neither shrinks nor grows exponentially with depth.
public struct LayerScale: Codable, Sendable, Equatable {
    public var layer: String
    public var activationStd: Double
    public var gradientStd: Double
    enum CodingKeys: String, CodingKey { case layer, activationStd = "activation_std", gradientStd = "gradient_std" }
}

extension Model {
    /// The scales at every layer with weights (convolutions and Dense), from one forward and
    /// backward pass over `x` in training mode. Parameter gradients are left in place.
    public func layerScales(_ x: Tensor, targets: Tensor, loss: any Loss) throws -> [LayerScale] {
        var activations = [String: Double](), gradients = [String: Double]()
        let weighted = Set(layers.filter { !$0.parameters.isEmpty && !($0 is BatchNormalization) }.map { $0.name! })
        let predictions = try forward(x, training: true) { layer, y in
            if weighted.contains(layer.name!) { activations[layer.name!] = y.standardDeviation }
        }
        let (_, gradient) = try loss.compute(predictions: predictions, targets: targets)
        try backward(gradient) { layer, g in
            if weighted.contains(layer.name!) { gradients[layer.name!] = g.standardDeviation }
        }
        return layers.compactMap { layer in
            activations[layer.name!].map { LayerScale(layer: layer.name!, activationStd: $0, gradientStd: gradients[layer.name!] ?? 0) }
        }
    }
}

extension Tensor {
    /// The population standard deviation of all values, accumulated in Double.
    public var standardDeviation: Double {
        guard count > 0 else { return 0 }
        var sum = 0.0, squares = 0.0
        for v in scalars { sum += Double(v); squares += Double(v) * Double(v) }
        let mean = sum / Double(count)
        return max(squares / Double(count) - mean * mean, 0).squareRoot()
    }
}
