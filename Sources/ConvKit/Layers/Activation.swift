/// Keras' Activation layer: applies one `ActivationFunction` element-wise
/// (softmax over the last axis).
public final class Activation: Layer {
    public let function: ActivationFunction
    private var cachedInput = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(_ function: ActivationFunction, name: String? = nil) {
        self.function = function
        super.init(name: name)
    }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] { inputShapes[0] }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let y = function.apply(inputs[0])
        if training { cachedInput = inputs[0]; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        [function.gradient(input: cachedInput, output: cachedOutput, gradOutput: gradOutput)]
    }

    public override var flops: Int { (inputShapes.first?.reduce(1, *) ?? 0) * function.flopsPerElement }
    public override var configuration: [(String, ConfigurationValue)] { [("activation", .string(function.rawValue))] }
}

/// Keras' Dropout: in training, zeroes each value with probability `rate` and scales the
/// rest by 1/(1 − rate); at inference it passes values through. The mask comes from a
/// generator seeded when the model is built, so runs with one seed drop the same units.
public final class Dropout: Layer {
    public let rate: Float
    /// Where the mask stream is; checkpoints save it so a resumed run drops the same units.
    var generator = SeededGenerator(seed: 0)
    private var mask: [Float] = []

    public init(rate: Float, name: String? = nil) {
        self.rate = rate
        super.init(name: name)
    }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        try require(rate >= 0 && rate < 1, "rate must be in [0, 1), got \(rate)")
        self.generator = generator.split()
        return inputShapes[0]
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        guard training, rate > 0, !behavesAsInference else { mask = []; return inputs[0] }
        let keep = 1 / (1 - rate)
        mask = (0..<inputs[0].count).map { _ in generator.nextUnit() < Double(rate) ? 0 : keep }
        var y = inputs[0]
        for i in 0..<y.count { y.scalars[i] *= mask[i] }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        guard !mask.isEmpty else { return [gradOutput] }
        var dx = gradOutput
        for i in 0..<dx.count { dx.scalars[i] *= mask[i] }
        return [dx]
    }

    public override var configuration: [(String, ConfigurationValue)] { [("rate", .float(rate))] }
}
