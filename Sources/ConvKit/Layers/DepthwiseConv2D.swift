/// Keras' DepthwiseConv2D: each input channel convolved with its own `depthMultiplier`
/// filters. The weight is named `kernel` as in Keras 3, shape `[kh, kw, in, multiplier]`; output channel `c·multiplier + j` uses
/// `kernel[:, :, c, j]`. Runs on the convolution core as a grouped convolution (groups = in).
public final class DepthwiseConv2D: Layer {
    public let kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let depthMultiplier: Int, dilationRate: SpatialSize
    public let activation: ActivationFunction, useBias: Bool
    public let depthwiseInitializer: any Initializer, biasInitializer: any Initializer
    private var geometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid, depthMultiplier: Int = 1,
                dilationRate: SpatialSize = 1, activation: ActivationFunction = .linear, useBias: Bool = true,
                depthwiseInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.kernelSize = kernelSize; self.strides = strides; self.padding = padding
        self.depthMultiplier = depthMultiplier; self.dilationRate = dilationRate
        self.activation = activation; self.useBias = useBias
        self.depthwiseInitializer = depthwiseInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var kernel: Parameter { parameter("kernel")! }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == 3, "expects input (height, width, channels), got \(kerasShape(shape))")
        try require(depthMultiplier >= 1, "depth_multiplier must be positive, got \(depthMultiplier)")
        let c = shape[2]
        let g = try ConvGeometry(batch: 1, inputSize: [shape[0], shape[1]], inputChannels: c,
                                 outputChannels: c * depthMultiplier, kernelSize: kernelSize.expanded(to: 2, "kernel_size"),
                                 strides: strides.expanded(to: 2, "strides"),
                                 dilations: dilationRate.expanded(to: 2, "dilation_rate"), padding: padding, groups: c)
        geometry = g
        let k = g.kernelSize.suffix(2)
        try addParameter("kernel", shape: Array(k) + [c, depthMultiplier], initializer: depthwiseInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [c * depthMultiplier], initializer: biasInitializer, generator: &generator) }
        return Array(g.outputShape.dropFirst())
    }

    /// The kernel as the core sees it: `[kh, kw, 1, in·multiplier]`, the same memory.
    private var coreKernel: Tensor { kernel.value.reshaped(to: geometry!.kernelShape) }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var g = geometry!; g.batch = inputs[0].shape[0]
        let z = Convolution.forward(inputs[0], kernel: coreKernel, bias: parameter("bias")?.value, geometry: g)
        let y = activation.apply(z)
        if training { cachedInput = inputs[0]; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var g = geometry!; g.batch = gradOutput.shape[0]
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if updates(kernel) {
            kernel.gradient = Convolution.backwardKernel(cachedInput, gradOutput: dz, geometry: g)
                .reshaped(to: kernel.value.shape)
        }
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        return [Convolution.backwardInput(dz, kernel: coreKernel, geometry: g)]
    }

    public override var flops: Int {
        guard let g = geometry else { return 0 }
        let outputs = g.outputPixels * g.outputChannels
        return 2 * outputs * g.kernelTaps + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    public override var window: Window? { geometry?.window() }

    public override var configuration: [(String, ConfigurationValue)] {
        [("kernel_size", .size(kernelSize)), ("strides", .size(strides)), ("padding", .string(paddingName(padding))),
         ("depth_multiplier", .int(depthMultiplier)), ("dilation_rate", .size(dilationRate)),
         ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias))]
    }
}
