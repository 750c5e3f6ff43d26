/// The LC-block of Gavrikov & Keuper, "The Power of Linear Combinations: Learning with Random
/// Convolutions" (2023): a k×k convolution to `filters × expansion` spatial filters followed
/// directly (nothing between) by a learnable 1×1 convolution down to `filters`. With
/// `frozenSpatial`, the k×k filters stay at their random initialisation and only the linear
/// combinations learn.
///
/// Weights: `spatial_kernel` `[kh, kw, in, filters·E]` (no bias), `combination_kernel`
/// `[1, 1, filters·E, filters]`, and `bias` `[filters]`. Because nothing sits between the two
/// convolutions, the block equals one convolution whose filters are linear combinations of
/// the spatial ones: `folded()` builds that Conv2D.
public final class LCConv2D: Layer {
    public let filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let expansion: Int, dilationRate: SpatialSize
    public let frozenSpatial: Bool
    public let activation: ActivationFunction, useBias: Bool
    public let spatialInitializer: any Initializer, combinationInitializer: any Initializer, biasInitializer: any Initializer
    private var spatialGeometry: ConvGeometry?, combinationGeometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedMiddle = Tensor(zeros: [0])
    private var cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(filters: Int, kernelSize: SpatialSize, expansion: Int = 1, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, frozenSpatial: Bool = false, activation: ActivationFunction = .linear,
                useBias: Bool = true, spatialInitializer: any Initializer = .glorotUniform,
                combinationInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.filters = filters; self.kernelSize = kernelSize; self.expansion = expansion; self.strides = strides
        self.padding = padding; self.dilationRate = dilationRate; self.frozenSpatial = frozenSpatial
        self.activation = activation; self.useBias = useBias; self.spatialInitializer = spatialInitializer
        self.combinationInitializer = combinationInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var spatialKernel: Parameter { parameter("spatial_kernel")! }
    public var combinationKernel: Parameter { parameter("combination_kernel")! }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == 3, "expects input (height, width, channels), got \(kerasShape(shape))")
        try require(filters >= 1 && expansion >= 1, "filters and expansion must be positive")
        let middle = filters * expansion
        let spatial = try ConvGeometry(
            batch: 1, inputSize: [shape[0], shape[1]], inputChannels: shape[2], outputChannels: middle,
            kernelSize: kernelSize.expanded(to: 2, "kernel_size"), strides: strides.expanded(to: 2, "strides"),
            dilations: dilationRate.expanded(to: 2, "dilation_rate"), padding: padding)
        let combination = try ConvGeometry(
            batch: 1, inputSize: Array(spatial.outputSize.suffix(2)), inputChannels: middle, outputChannels: filters,
            kernelSize: [1, 1], strides: [1, 1], dilations: [1, 1], padding: .valid)
        spatialGeometry = spatial; combinationGeometry = combination
        let s = try addParameter("spatial_kernel", shape: spatial.kernelShape, initializer: spatialInitializer, generator: &generator)
        s.trainable = !frozenSpatial
        try addParameter("combination_kernel", shape: combination.kernelShape, initializer: combinationInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        return Array(combination.outputShape.dropFirst())
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var s = spatialGeometry!, c = combinationGeometry!
        s.batch = inputs[0].shape[0]; c.batch = s.batch
        let middle = Convolution.forward(inputs[0], kernel: spatialKernel.value, bias: nil, geometry: s)
        let z = Convolution.forward(middle, kernel: combinationKernel.value, bias: parameter("bias")?.value, geometry: c)
        let y = activation.apply(z)
        if training { cachedInput = inputs[0]; cachedMiddle = middle; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var s = spatialGeometry!, c = combinationGeometry!
        s.batch = gradOutput.shape[0]; c.batch = s.batch
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        if updates(combinationKernel) {
            combinationKernel.gradient = Convolution.backwardKernel(cachedMiddle, gradOutput: dz, geometry: c)
        }
        let dMiddle = Convolution.backwardInput(dz, kernel: combinationKernel.value, geometry: c)
        if updates(spatialKernel) {
            spatialKernel.gradient = Convolution.backwardKernel(cachedInput, gradOutput: dMiddle, geometry: s)
        }
        return [Convolution.backwardInput(dMiddle, kernel: spatialKernel.value, geometry: s)]
    }

    /// The single convolution this block computes: kernel `[kh, kw, in, filters]` =
    /// spatial `[kh·kw·in, filters·E]` × combination `[filters·E, filters]`, same bias.
    public func folded() throws -> Conv2D {
        guard let s = spatialGeometry else { throw ConvKitError("\(describe): build the layer (put it in a model) before folding it") }
        let rows = s.kernelShape.dropLast().reduce(1, *), middle = filters * expansion
        let spatial = spatialKernel.value.scalars, combination = combinationKernel.value.scalars
        var folded = [Float](repeating: 0, count: rows * filters)
        for r in 0..<rows {
            for m in 0..<middle where spatial[r * middle + m] != 0 {
                for o in 0..<filters { folded[r * filters + o] += spatial[r * middle + m] * combination[m * filters + o] }
            }
        }
        let kernel = Tensor(shape: Array(s.kernelShape.dropLast()) + [filters], scalars: folded)
        let conv = Conv2D(filters: filters, kernelSize: kernelSize, strides: strides, padding: padding, dilationRate: dilationRate,
                          activation: activation, useBias: useBias, kernelInitializer: .values(kernel),
                          biasInitializer: parameter("bias").map { .values($0.value) } ?? .zeros, name: name)
        var scratch = SeededGenerator(seed: 0)
        try conv.setUp(inputShapes: inputShapes, generator: &scratch)
        return conv
    }

    public override var flops: Int {
        guard let s = spatialGeometry, let c = combinationGeometry else { return 0 }
        let outputs = c.outputPixels * filters
        return 2 * s.outputPixels * s.outputChannels * s.patchLength + 2 * outputs * c.inputChannels
            + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    public override var window: Window? { spatialGeometry?.window() }

    public override var configuration: [(String, ConfigurationValue)] {
        [("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("expansion", .int(expansion)),
         ("strides", .size(strides)), ("padding", .string(paddingName(padding))), ("dilation_rate", .size(dilationRate)),
         ("frozen_spatial", .bool(frozenSpatial)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("spatial_initializer", .string(spatialInitializer.name)), ("combination_initializer", .string(combinationInitializer.name))]
    }
}
