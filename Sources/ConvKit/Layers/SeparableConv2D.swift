/// Keras' SeparableConv2D: a depthwise convolution (`[kh, kw, in, multiplier]`, no bias)
/// followed by a pointwise 1×1 convolution (`[1, 1, in·multiplier, filters]`) with bias, the
/// two stages of `TwoStageConvolution`.
public final class SeparableConv2D: Layer {
    public let filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let depthMultiplier: Int, dilationRate: SpatialSize
    public let activation: ActivationFunction, useBias: Bool
    public let depthwiseInitializer: any Initializer, pointwiseInitializer: any Initializer, biasInitializer: any Initializer
    private var stages: TwoStageConvolution?
    private var cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid,
                depthMultiplier: Int = 1, dilationRate: SpatialSize = 1, activation: ActivationFunction = .linear,
                useBias: Bool = true, depthwiseInitializer: any Initializer = .glorotUniform,
                pointwiseInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.filters = filters; self.kernelSize = kernelSize; self.strides = strides; self.padding = padding
        self.depthMultiplier = depthMultiplier; self.dilationRate = dilationRate
        self.activation = activation; self.useBias = useBias; self.depthwiseInitializer = depthwiseInitializer
        self.pointwiseInitializer = pointwiseInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var depthwiseKernel: Parameter { parameter("depthwise_kernel")! }
    public var pointwiseKernel: Parameter { parameter("pointwise_kernel")! }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == 3, "expects input (height, width, channels), got \(kerasShape(shape))")
        try require(depthMultiplier >= 1 && filters >= 1, "filters and depth_multiplier must be positive")
        let c = shape[2]
        let stages = try TwoStageConvolution(
            inputShape: shape, middleChannels: c * depthMultiplier, outputChannels: filters,
            kernelSize: kernelSize.expanded(to: 2, "kernel_size"), strides: strides.expanded(to: 2, "strides"),
            dilations: dilationRate.expanded(to: 2, "dilation_rate"), padding: padding, groups: c)
        self.stages = stages
        try addParameter("depthwise_kernel", shape: Array(stages.spatial.kernelSize.suffix(2)) + [c, depthMultiplier],
                         initializer: depthwiseInitializer, generator: &generator)
        try addParameter("pointwise_kernel", shape: stages.combination.kernelShape, initializer: pointwiseInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        return stages.outputShape
    }

    /// The depthwise kernel as the core sees it: `[kh, kw, 1, in·multiplier]`, the same memory.
    private var coreDepthwiseKernel: Tensor { depthwiseKernel.value.reshaped(to: stages!.spatial.kernelShape) }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        let z = stages!.forward(inputs[0], spatialKernel: coreDepthwiseKernel, combinationKernel: pointwiseKernel.value,
                                bias: parameter("bias")?.value, training: training)
        let y = activation.apply(z)
        if training { cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor, context: BackwardContext) -> [Tensor] {
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        let gradients = stages!.backward(dz, spatialKernel: coreDepthwiseKernel, combinationKernel: pointwiseKernel.value,
                                         spatialGradient: updates(depthwiseKernel), combinationGradient: updates(pointwiseKernel),
                                         input: context.needsInputGradient)
        if let d = gradients.combination { pointwiseKernel.gradient = d }
        if let d = gradients.spatial { depthwiseKernel.gradient = d.reshaped(to: depthwiseKernel.shape) }
        return [gradients.input ?? Tensor(zeros: [0])]
    }

    public override var flops: Int {
        guard let stages else { return 0 }
        let outputs = stages.combination.outputPixels * filters
        return stages.flops() + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    public override var window: Window? { stages?.spatial.window() }

    public override var configuration: [(String, ConfigurationValue)] {
        [("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("strides", .size(strides)),
         ("padding", .string(paddingName(padding))), ("depth_multiplier", .int(depthMultiplier)),
         ("dilation_rate", .size(dilationRate)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias))]
    }
}
