import Foundation

/// Keras' BatchNormalization over the last (channel) axis.
///
/// Training: normalises with the batch mean and the biased batch variance, then updates
/// `moving = moving·momentum + batch·(1 − momentum)`. Inference: uses the moving statistics.
/// Parameters: gamma and beta (trainable), moving_mean and moving_variance (statistics).
public final class BatchNormalization: Layer {
    public let momentum: Float, epsilon: Float, center: Bool, scale: Bool
    /// Put before each parameter name, for a normalisation inside another layer (`LCConv2D`).
    let parameterPrefix: String
    /// The input of the cached pass and its statistics: backward recomputes x̂ = (x − mean)·σ⁻¹
    /// as the forward pass did, instead of keeping an x̂ tensor (one write pass fewer).
    private var cachedInput = Tensor(zeros: [0]), cachedMean: [Float] = [], cachedInverseStd: [Float] = []
    /// Whether the cached pass normalised with batch statistics (whose gradient has extra terms).
    private var cachedUsedBatchStatistics = true
    /// How the cached pass's ReLU (`forwardWithReLU`) is told apart where it passed no gradient
    /// (output not positive): with a residual added, by its output kept; without, by recomputing
    /// x̂·gain + bias from the cached input (the output need not stay alive for the backward pass).
    private var cachedReLUOutput: Tensor?
    /// Set by `gatedByReLU`: the next `backward` gets the gated gradient, so it gates nothing.
    private var nextGradientIsGated = false
    private var cachedReLUAffine: (gain: [Float], bias: [Float])?
    /// After `forwardWithReLU(_:thenMaxPool:)`: the pass, and its pooled output, which backward
    /// routes the gradient with.
    private var cachedMaxPool: (pass: NormalizedMaxPool, output: Tensor)?

    public convenience init(momentum: Float = 0.99, epsilon: Float = 1e-3, center: Bool = true, scale: Bool = true, name: String? = nil) {
        self.init(momentum: momentum, epsilon: epsilon, center: center, scale: scale, parameterPrefix: "", name: name)
    }

    init(momentum: Float, epsilon: Float, center: Bool = true, scale: Bool = true, parameterPrefix: String, name: String? = nil) {
        self.momentum = momentum; self.epsilon = epsilon; self.center = center; self.scale = scale
        self.parameterPrefix = parameterPrefix
        super.init(name: name)
    }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let c = inputShapes[0].last ?? 0
        try require(c > 0, "expects input with a channel axis, got \(kerasShape(inputShapes[0]))")
        if scale { try addParameter(parameterPrefix + "gamma", shape: [c], initializer: .ones, generator: &generator) }
        if center { try addParameter(parameterPrefix + "beta", shape: [c], initializer: .zeros, generator: &generator) }
        try addParameter(parameterPrefix + "moving_mean", shape: [c], initializer: .zeros, generator: &generator, isStatistic: true)
        try addParameter(parameterPrefix + "moving_variance", shape: [c], initializer: .ones, generator: &generator, isStatistic: true)
        return inputShapes[0]
    }

    private var gamma: [Float]? { parameter(parameterPrefix + "gamma")?.value.scalars }
    private var beta: [Float]? { parameter(parameterPrefix + "beta")?.value.scalars }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        forward(inputs[0], training: training, relu: false)
    }

    /// The training pass of this layer and a ReLU reading it, in one pass over the output; the
    /// next `backward` takes the gradient with respect to the ReLU's output. `Model` runs a
    /// BatchNormalization whose only reader is a ReLU this way (`TrainingFusion.swift`): two
    /// passes over the tensor fewer forward, one fewer backward, and the same numbers. With
    /// `residual`, the ReLU reads this layer's output plus `residual` (a residual block's end:
    /// BatchNorm → Add → ReLU).
    func forwardWithReLU(_ x: Tensor, adding residual: Tensor? = nil, sums: ChannelSums? = nil) -> Tensor {
        forward(x, training: true, relu: true, residual: residual, sums: sums)
    }

    /// The training pass with the input's per-channel sums already taken (by the convolution
    /// that wrote it, `Convolution.forwardWithChannelSums`), so the input is not read for them.
    func forward(_ x: Tensor, sums: ChannelSums) -> Tensor {
        forward(x, training: true, relu: false, sums: sums)
    }

    /// The training pass of this layer, a ReLU reading it and a max pooling reading the ReLU,
    /// image by image, so that the ReLU's output is never a batch-sized tensor
    /// (`NormalizedMaxPool`); the next `backward` takes the gradient with respect to the
    /// pooling's output.
    func forwardWithReLU(_ x: Tensor, thenMaxPool pool: ConvGeometry, sums: ChannelSums? = nil) -> Tensor {
        forward(x, training: true, relu: true, maxPool: pool, sums: sums)
    }

    /// `sums`, when given, are x's per-channel sums, used for the batch statistics instead of
    /// reading x again.
    private func forward(_ x: Tensor, training: Bool, relu: Bool, residual: Tensor? = nil, maxPool: ConvGeometry? = nil,
                         sums: ChannelSums? = nil) -> Tensor {
        let c = x.shape.last!, rows = x.count / c
        nextGradientIsGated = false
        let movingMean = parameter(parameterPrefix + "moving_mean")!, movingVariance = parameter(parameterPrefix + "moving_variance")!
        var mean = [Float](repeating: 0, count: c), variance = [Float](repeating: 0, count: c)
        let useBatchStatistics = training && !behavesAsInference
        if useBatchStatistics {
            // Accumulate in Double: a batch of 128×28×28 rows loses digits in Float. Images (rank
            // 3 and up) are summed one by one, as a convolution before this layer sums them.
            let (sum, sumSquares) = sums.map { ($0.sum, $0.squares) } ?? x.scalars.withUnsafeBufferPointer { xp in
                if x.rank < 3 { return ChannelArithmetic.sums(xp.baseAddress!, times: nil, rows: rows, channels: c) }
                let byImage = ChannelArithmetic.sumsByImage(xp.baseAddress!, images: x.shape[0], rowsPerImage: rows / x.shape[0], channels: c)
                return (byImage.sum, byImage.squares)
            }
            for j in 0..<c {
                let m = sum[j] / Double(rows)
                mean[j] = Float(m)
                variance[j] = Float(max(sumSquares[j] / Double(rows) - m * m, 0))
                movingMean.value.scalars[j] = movingMean.value.scalars[j] * momentum + mean[j] * (1 - momentum)
                movingVariance.value.scalars[j] = movingVariance.value.scalars[j] * momentum + variance[j] * (1 - momentum)
            }
        } else {
            mean = movingMean.value.scalars; variance = movingVariance.value.scalars
        }
        let inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        let g = gamma ?? [Float](repeating: 1, count: c), b = beta ?? [Float](repeating: 0, count: c)
        if let pool = maxPool {
            let pass = NormalizedMaxPool(pool: pool, shift: mean, scale: inverseStd, gain: g, bias: b)
            let pooled = pass.forward(x)
            cachedInput = x; cachedMean = mean; cachedInverseStd = inverseStd; cachedUsedBatchStatistics = useBatchStatistics
            cachedReLUOutput = nil; cachedReLUAffine = (g, b); cachedMaxPool = (pass, pooled)
            return pooled
        }
        let added = residual ?? Tensor(zeros: [0])
        let y = Tensor(shape: x.shape) { yp in
            x.scalars.withUnsafeBufferPointer { xp in
                added.scalars.withUnsafeBufferPointer { rp in
                    ChannelArithmetic.normalize(xp.baseAddress!, into: yp.baseAddress!, shift: mean, scale: inverseStd, gain: g, bias: b,
                                                adding: residual == nil ? nil : rp.baseAddress!, relu: relu, rows: rows, channels: c)
                }
            }
        }
        if training {
            cachedInput = x; cachedMean = mean; cachedInverseStd = inverseStd; cachedUsedBatchStatistics = useBatchStatistics
            cachedReLUOutput = relu && residual != nil ? y : nil
            cachedReLUAffine = relu && residual == nil ? (g, b) : nil
            cachedMaxPool = nil
        }
        return y
    }

    /// `gradient` zeroed where the ReLU of the last `forwardWithReLU` passed nothing: the
    /// gradient a residual block's shortcut receives through the fused Add → ReLU. The next
    /// `backward` then takes this gated gradient and applies no gate of its own.
    func gatedByReLU(_ gradient: Tensor) -> Tensor {
        guard let output = cachedReLUOutput else { return gradient }
        nextGradientIsGated = true
        return Tensor(shape: gradient.shape) { d in
            output.scalars.withUnsafeBufferPointer { r in
                gradient.scalars.withUnsafeBufferPointer { g in
                    ChannelArithmetic.reluGradient(input: r.baseAddress!, g.baseAddress!, into: d.baseAddress!, count: gradient.count)
                }
            }
        }
    }

    /// Inference as a per-channel affine map, y = x·scale + shift, from the moving statistics.
    var inferenceAffine: (scale: [Float], shift: [Float]) {
        let mean = parameter(parameterPrefix + "moving_mean")!.value.scalars, variance = parameter(parameterPrefix + "moving_variance")!.value.scalars
        let c = mean.count, g = gamma ?? [Float](repeating: 1, count: c), b = beta ?? [Float](repeating: 0, count: c)
        let scale = (0..<c).map { g[$0] / (variance[$0] + epsilon).squareRoot() }
        return (scale, (0..<c).map { b[$0] - mean[$0] * scale[$0] })
    }

    /// The batch-statistics gradient:
    /// dx = γ·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)), per channel; after `forwardWithReLU`, dy is
    /// first zeroed where the ReLU's output is not positive.
    /// After `forwardWithReLU(_:thenMaxPool:)`, dy is the pooling's gradient routed back through
    /// the pooling and the ReLU.
    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dx = Tensor(zeros: [0])
        backward(gradOutput) { gradient, rows in
            dx = Tensor(shape: cachedInput.shape) { d in
                let dp = SharedPointer(d.baseAddress!), c = cachedInput.shape.last!
                Parallel.forEachChunk(rows, values: rows * c) { range, _ in gradient.write(rows: range, into: dp.base + range.lowerBound * c) }
            }
        }
        return [dx]
    }

    /// `backward` up to its input gradient, which `inputGradient` gets (with the number of
    /// rows) to write where and when it wants: a convolution before this layer whose own input
    /// gradient nobody needs takes it image by image (`Model.backward`). γ's and β's gradients
    /// are set.
    func backward(_ gradOutput: Tensor, inputGradient: (ChannelArithmetic.NormalizationGradient, Int) -> Void) {
        let c = cachedInput.shape.last!, rows = cachedInput.count / c
        // The kept output gates dy, unless `gatedByReLU` has gated it already.
        let keptOutput = nextGradientIsGated ? nil : cachedReLUOutput
        nextGradientIsGated = false
        let kept = keptOutput ?? Tensor(zeros: [0])
        func gate(_ keptPointer: UnsafeBufferPointer<Float>) -> ChannelArithmetic.ReLUGate? {
            if let affine = cachedReLUAffine { return .normalized(gain: affine.gain, bias: affine.bias) }
            return keptOutput == nil ? nil : .values(keptPointer.baseAddress!)
        }
        // After a fused max pooling, dy is the pooling's gradient routed back, and the sums come with it.
        let routed = cachedMaxPool.map { $0.pass.routedGradientAndSums(gradOutput, input: cachedInput, pooled: $0.output) }
        let gradOutput = routed?.routed ?? gradOutput
        let (sumDy, sumDyXhat) = routed.map { ($0.sum, $0.products) } ?? gradOutput.scalars.withUnsafeBufferPointer { dyp in
            cachedInput.scalars.withUnsafeBufferPointer { xp in
                kept.scalars.withUnsafeBufferPointer { gp in
                    ChannelArithmetic.sums(dyp.baseAddress!, times: xp.baseAddress!, normalizingB: (cachedMean, cachedInverseStd),
                                           gate: gate(gp), rows: rows, channels: c)
                }
            }
        }
        if let gammaParameter = parameter(parameterPrefix + "gamma"), updates(gammaParameter) {
            gammaParameter.gradient = Tensor(shape: [c], scalars: sumDyXhat.map(Float.init))
        }
        if let betaParameter = parameter(parameterPrefix + "beta"), updates(betaParameter) {
            betaParameter.gradient = Tensor(shape: [c], scalars: sumDy.map(Float.init))
        }
        let g = gamma ?? [Float](repeating: 1, count: c)
        // dx = scale·(dy − meanDy − x̂·meanDyXhat) with per-channel constants.
        let scale = (0..<c).map { g[$0] * cachedInverseStd[$0] }
        // With fixed (moving) statistics the normalisation is affine: dx = scale·dy.
        let meanDy = cachedUsedBatchStatistics ? sumDy.map { Float($0 / Double(rows)) } : [Float](repeating: 0, count: c)
        let meanDyXhat = cachedUsedBatchStatistics ? sumDyXhat.map { Float($0 / Double(rows)) } : [Float](repeating: 0, count: c)
        gradOutput.scalars.withUnsafeBufferPointer { dy in
            cachedInput.scalars.withUnsafeBufferPointer { xp in
                kept.scalars.withUnsafeBufferPointer { gp in
                    ChannelArithmetic.withNormalizationGradient(dy.baseAddress!, input: xp.baseAddress!, shift: cachedMean,
                                                                inverseStd: cachedInverseStd, gate: gate(gp), scale: scale, meanDy: meanDy,
                                                                meanDyXhat: meanDyXhat, channels: c) { inputGradient($0, rows) }
                }
            }
        }
    }

    public override var flops: Int { 2 * (inputShapes.first?.reduce(1, *) ?? 0) }

    public override var configuration: [(String, ConfigurationValue)] {
        [("momentum", .float(momentum)), ("epsilon", .float(epsilon)), ("center", .bool(center)), ("scale", .bool(scale))]
    }
}
