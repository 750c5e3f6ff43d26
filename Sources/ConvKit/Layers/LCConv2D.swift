/// The LC-block of Gavrikov & Keuper, "The Power of Linear Combinations: Learning with Random
/// Convolutions" (2023): a k×k convolution to `filters × expansion` spatial filters followed
/// directly by a learnable 1×1 convolution down to `filters`. With `frozenSpatial`, the k×k
/// filters stay at their random initialisation and only the linear combinations learn.
///
/// Weights: `spatial_kernel` S `[kh, kw, in, filters·E]` (no bias), `combination_kernel` C
/// `[1, 1, filters·E, filters]`, and `bias` `[filters]`.
///
/// Folded computation. With nothing between the two convolutions the block is one convolution
/// with kernel W = S·C (S as `[kh·kw·in, filters·E]`, C as `[filters·E, filters]`). Every pass
/// runs that one convolution; backward turns its kernel gradient dW into the block's exact
/// gradients, dC = Sᵀ·dW and dS = dW·Cᵀ. The optimizer still updates S and C, so training
/// follows the over-parameterised block, but no `filters·E`-channel tensor is ever made and
/// the cost of E is three batch-independent matrix products (online re-parameterisation, as
/// in OREPA). `Computation.twoConvolutions` runs the block as the paper builds it (two
/// convolutions, middle tensor kept): the naive twin the folded path is tested against.
///
/// Frozen spatial filters trained by SGD cost less still: dC = Sᵀ·dW lies in S's row span,
/// and SGD's update is linear, so SGD follows C in that span (`SubspaceTrajectory`) and gives
/// this block W = S·C as (S·Sᵀ)·M. No product with the `filters·E` side of S is made until
/// C is read.
///
/// The paper's Table 3 ablation puts a ReLU, a BatchNormalization, or both between the two
/// convolutions (`intermediate`). Such a block is not linear and always runs as two
/// convolutions. Its BatchNormalization uses PyTorch's settings, as the paper's code does
/// (momentum 0.1, i.e. Keras 0.9; epsilon 1e-5), and its parameters are `intermediate_gamma`,
/// `intermediate_beta`, `intermediate_moving_mean` and `intermediate_moving_variance`.
public final class LCConv2D: Layer {
    /// What sits between the spatial and the combining convolution.
    public enum Intermediate: String, Codable, Sendable, CaseIterable {
        case none, relu, batchNorm = "batch_norm", batchNormReLU = "batch_norm_relu"
        var normalizes: Bool { self == .batchNorm || self == .batchNormReLU }
        var rectifies: Bool { self == .relu || self == .batchNormReLU }
    }

    /// How a pass computes the block.
    public enum Computation: String, Sendable, CaseIterable {
        /// One convolution with W = S·C (only for a block with nothing between its convolutions).
        case folded
        /// The spatial convolution to `filters·E` channels, then the 1×1 combination.
        case twoConvolutions = "two_convolutions"
    }

    public let filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let expansion: Int, dilationRate: SpatialSize
    public let frozenSpatial: Bool
    public let activation: ActivationFunction, useBias: Bool
    public let spatialInitializer: any Initializer, combinationInitializer: any Initializer, biasInitializer: any Initializer
    public let intermediate: Intermediate
    /// The computation asked for; nil lets the block fold whenever it is linear.
    public let requestedComputation: Computation?
    /// The computation every pass runs.
    public var computation: Computation { requestedComputation ?? (intermediate == .none ? .folded : .twoConvolutions) }

    private let intermediateNormalization: BatchNormalization?
    /// The two convolutions and their fold (`TwoStageConvolution`).
    private var stages: TwoStageConvolution?
    /// The one convolution of the folded block.
    private var foldedGeometry: ConvGeometry? { stages?.folded }
    private var cachedInput = Tensor(zeros: [0]), cachedFoldedKernel = Tensor(zeros: [0])
    /// The ablation's middle tensor before and after its ReLU, for the ReLU's gradient.
    private var cachedNormalizedMiddle = Tensor(zeros: [0]), cachedRectifiedMiddle = Tensor(zeros: [0])
    private var cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])
    /// S as the basis of dC, with S·Sᵀ, for the spatial kernel's `version` it was made from.
    private var spatialBasis: (basis: GradientBasis, version: Int)?

    public init(filters: Int, kernelSize: SpatialSize, expansion: Int = 1, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, frozenSpatial: Bool = false, intermediate: Intermediate = .none,
                computation: Computation? = nil, activation: ActivationFunction = .linear,
                useBias: Bool = true, spatialInitializer: any Initializer = .glorotUniform,
                combinationInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.filters = filters; self.kernelSize = kernelSize; self.expansion = expansion; self.strides = strides
        self.padding = padding; self.dilationRate = dilationRate; self.frozenSpatial = frozenSpatial
        self.intermediate = intermediate; self.requestedComputation = computation
        self.activation = activation; self.useBias = useBias; self.spatialInitializer = spatialInitializer
        self.combinationInitializer = combinationInitializer; self.biasInitializer = biasInitializer
        intermediateNormalization = intermediate.normalizes
            ? BatchNormalization(momentum: 0.9, epsilon: 1e-5, parameterPrefix: "intermediate_") : nil
        super.init(name: name)
    }

    public var spatialKernel: Parameter { parameter("spatial_kernel")! }
    public var combinationKernel: Parameter { parameter("combination_kernel")! }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == 3, "expects input (height, width, channels), got \(kerasShape(shape))")
        try require(filters >= 1, "filters must be positive, got \(filters)")
        try require(expansion >= 1, "expansion must be at least 1, got \(expansion)")
        try require(requestedComputation != .folded || intermediate == .none,
                    "intermediate '\(intermediate.rawValue)' sits between the two convolutions, so the block is not linear and cannot run folded")
        let (kernel, stride, dilation) = (try kernelSize.expanded(to: 2, "kernel_size"), try strides.expanded(to: 2, "strides"),
                                          try dilationRate.expanded(to: 2, "dilation_rate"))
        let stages = try TwoStageConvolution(inputShape: shape, middleChannels: filters * expansion, outputChannels: filters,
                                             kernelSize: kernel, strides: stride, dilations: dilation, padding: padding)
        self.stages = stages
        let s = try addParameter("spatial_kernel", shape: stages.spatial.kernelShape, initializer: spatialInitializer, generator: &generator)
        s.trainable = !frozenSpatial
        try addParameter("combination_kernel", shape: stages.combination.kernelShape, initializer: combinationInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        if let normalization = intermediateNormalization {
            try normalization.setUp(inputShapes: [stages.middleShape], generator: &generator)
            adoptParameters(of: normalization)
        }
        return stages.outputShape
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let x = inputs[0], bias = parameter("bias")?.value
        let z: Tensor
        switch computation {
        case .folded:
            var g = foldedGeometry!
            g.batch = x.shape[0]
            let kernel = foldedKernel()
            z = Convolution.forward(x, kernel: kernel, bias: bias, geometry: g)
            if training { cachedFoldedKernel = kernel }
        case .twoConvolutions:
            z = stages!.forward(x, spatialKernel: spatialKernel.value, combinationKernel: combinationKernel.value, bias: bias,
                                between: between, training: training)
        }
        let y = activation.apply(z)
        if training { cachedInput = x; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor, context: BackwardContext) -> [Tensor] {
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        switch computation {
        case .folded: return foldedBackward(dz, context)
        case .twoConvolutions: return twoConvolutionBackward(dz, context)
        }
    }

    /// dW of the one convolution, then the block's gradients: dC = Sᵀ·dW, dS = dW·Cᵀ.
    private func foldedBackward(_ dz: Tensor, _ context: BackwardContext) -> [Tensor] {
        var g = foldedGeometry!
        g.batch = dz.shape[0]
        let (learnsSpatial, learnsCombination) = (updates(spatialKernel), updates(combinationKernel))
        if learnsSpatial || learnsCombination {
            let dW = Convolution.backwardKernel(cachedInput, gradOutput: dz, geometry: g)
            if context.optimizerTakesGradientsInBasis, let basis = gradientBasis(of: combinationKernel) {
                combinationKernel.gradient = Tensor(zeros: [0])
                combinationKernel.gradientInBasis = (basis, dW)
            } else if learnsCombination {
                overwriteGradient(of: combinationKernel) { stages!.combinationGradient(fromFolded: dW, spatialKernel: spatialKernel.value, into: &$0) }
            }
            if learnsSpatial {
                overwriteGradient(of: spatialKernel) { stages!.spatialGradient(fromFolded: dW, combinationKernel: combinationKernel.value, into: &$0) }
            }
        }
        if !context.needsInputGradient { return [Tensor(zeros: [0])] }
        return [Convolution.backwardInput(dz, kernel: cachedFoldedKernel, geometry: g)]
    }

    private func twoConvolutionBackward(_ dz: Tensor, _ context: BackwardContext) -> [Tensor] {
        let gradients = stages!.backward(dz, spatialKernel: spatialKernel.value, combinationKernel: combinationKernel.value,
                                         between: between, spatialGradient: updates(spatialKernel),
                                         combinationGradient: updates(combinationKernel), input: context.needsInputGradient)
        if let d = gradients.combination { combinationKernel.gradient = d }
        if let d = gradients.spatial { spatialKernel.gradient = d }
        return [gradients.input ?? Tensor(zeros: [0])]
    }

    /// The ablation's operation between the two convolutions: BatchNormalization, ReLU or both.
    private var between: TwoStageConvolution.Between? {
        guard intermediate != .none else { return nil }
        return TwoStageConvolution.Between(
            forward: { [unowned self] middle, training in
                var m = middle
                if let normalization = intermediateNormalization {
                    normalization.behavesAsInference = behavesAsInference
                    normalization.trainable = trainable
                    m = normalization.forward([m], training: training)
                }
                guard intermediate.rectifies else { return m }
                let rectified = ActivationFunction.relu.apply(m)
                if training { cachedNormalizedMiddle = m; cachedRectifiedMiddle = rectified }
                return rectified
            },
            backward: { [unowned self] gradient in
                var d = gradient
                if intermediate.rectifies {
                    d = ActivationFunction.relu.gradient(input: cachedNormalizedMiddle, output: cachedRectifiedMiddle, gradOutput: d)
                }
                if let normalization = intermediateNormalization { d = normalization.backward(d)[0] }
                return d
            })
    }

    /// With frozen filters, dC = Sᵀ·dW: S as a `[kh·kw·in, filters·E]` basis, made again when
    /// S was written.
    override func gradientBasis(of p: Parameter) -> GradientBasis? {
        guard p === combinationKernel, computation == .folded, updates(p), !updates(spatialKernel) else { return nil }
        let s = spatialKernel
        if let (basis, version) = spatialBasis, version == s.version { return basis }
        let basis = GradientBasis(s.value, rows: foldedGeometry!.patchLength)
        spatialBasis = (basis, s.version)
        return basis
    }

    /// W = S·C as a kernel `[kh, kw, in, filters]`: from SGD's trajectory of C when there is
    /// one on the current S, otherwise as the product.
    private func foldedKernel() -> Tensor {
        let g = foldedGeometry!
        if let (basis, version) = spatialBasis, version == spatialKernel.version,
           let image = combinationKernel.deferredValue?.image(under: basis) {
            return image.reshaped(to: g.kernelShape)
        }
        return stages!.foldedKernel(spatialKernel: spatialKernel.value, combinationKernel: combinationKernel.value)
    }

    /// Writes `p.gradient` over the previous step's buffer: at E = 128 a new 136 MB gradient
    /// each step would fault in every page again.
    private func overwriteGradient(of p: Parameter, _ write: (inout Tensor) -> Void) {
        var gradient = p.gradient
        p.gradient = Tensor(zeros: [0])   // `gradient` is then the buffer's only owner: no copy
        write(&gradient)
        p.gradient = gradient
    }

    /// The single convolution this block computes: kernel `[kh, kw, in, filters]` =
    /// spatial `[kh·kw·in, filters·E]` × combination `[filters·E, filters]`, same bias.
    public func folded() throws -> Conv2D {
        guard foldedGeometry != nil else { throw ConvKitError("\(describe): build the layer (put it in a model) before folding it") }
        guard intermediate == .none else {
            throw ConvKitError("\(describe): intermediate '\(intermediate.rawValue)' sits between its two convolutions, so the block is not one convolution and cannot be folded")
        }
        let conv = Conv2D(filters: filters, kernelSize: kernelSize, strides: strides, padding: padding, dilationRate: dilationRate,
                          activation: activation, useBias: useBias, kernelInitializer: .values(foldedKernel()),
                          biasInitializer: parameter("bias").map { .values($0.value) } ?? .zeros, name: name)
        var scratch = SeededGenerator(seed: 0)
        try conv.setUp(inputShapes: inputShapes, generator: &scratch)
        return conv
    }

    /// Per example, the FLOPs of the computation the block runs: one convolution when folded
    /// (the fold itself, S·C, is once per batch and not counted), otherwise both convolutions
    /// and the operation between them.
    public override var flops: Int {
        guard let stages, let f = foldedGeometry else { return 0 }
        let outputs = stages.combination.outputPixels * filters
        let epilogue = (useBias ? outputs : 0) + outputs * activation.flopsPerElement
        switch computation {
        case .folded:
            return 2 * outputs * f.patchLength + epilogue
        case .twoConvolutions:
            let middle = stages.spatial.outputPixels * stages.spatial.outputChannels
            return stages.flops(betweenFlops: (intermediateNormalization?.flops ?? 0) + (intermediate.rectifies ? middle : 0)) + epilogue
        }
    }

    public override var window: Window? { stages?.spatial.window() }

    public override var configuration: [(String, ConfigurationValue)] {
        var values: [(String, ConfigurationValue)] = [
            ("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("expansion", .int(expansion)),
            ("strides", .size(strides)), ("padding", .string(paddingName(padding))), ("dilation_rate", .size(dilationRate)),
            ("frozen_spatial", .bool(frozenSpatial)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
            ("spatial_initializer", .string(spatialInitializer.name)), ("combination_initializer", .string(combinationInitializer.name)),
        ]
        // Written only when set, so files of plain blocks read as before.
        if intermediate != .none { values.append(("intermediate", .string(intermediate.rawValue))) }
        if let requestedComputation { values.append(("computation", .string(requestedComputation.rawValue))) }
        return values
    }
}
