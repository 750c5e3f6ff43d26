/// Keras' Conv2DTranspose: the adjoint of a convolution, upsampling by `strides`.
/// Kernel `[kh, kw, filters, in]`. Output size `n·s` with 'same' padding and
/// `n·s + max(k_eff − s, 0)` with 'valid' (k_eff = d·(k−1)+1), as Keras computes it.
///
/// It runs on the convolution core backwards: its forward pass is the input gradient of the
/// convolution that maps its output shape to its input shape, and vice versa.
public final class Conv2DTranspose: Layer {
    public let filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let dilationRate: SpatialSize, activation: ActivationFunction, useBias: Bool
    public let kernelInitializer: any Initializer, biasInitializer: any Initializer
    /// The geometry of the adjoint convolution: from this layer's output to its input.
    private var geometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        self.filters = filters; self.kernelSize = kernelSize; self.strides = strides; self.padding = padding
        self.dilationRate = dilationRate; self.activation = activation; self.useBias = useBias
        self.kernelInitializer = kernelInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var kernel: Parameter { parameter("kernel")! }

    public override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == 3, "expects input (height, width, channels), got \(kerasShape(shape))")
        try require(filters >= 1, "filters must be positive, got \(filters)")
        if case .explicit = padding { throw ConvKitError("padding must be 'valid' or 'same'") }
        let k = try kernelSize.expanded(to: 2, "kernel_size"), s = try strides.expanded(to: 2, "strides")
        let d = try dilationRate.expanded(to: 2, "dilation_rate")
        let outSize = (0..<2).map { axis -> Int in
            let span = d[axis] * (k[axis] - 1) + 1
            return padding == .same ? shape[axis] * s[axis] : shape[axis] * s[axis] + max(span - s[axis], 0)
        }
        let g = try ConvGeometry(batch: 1, inputSize: outSize, inputChannels: filters, outputChannels: shape[2],
                                 kernelSize: k, strides: s, dilations: d, padding: padding)
        guard Array(g.outputSize.suffix(2)) == [shape[0], shape[1]] else {
            throw ConvKitError("no output size maps back to input \(kerasShape(shape)) with this kernel and stride")
        }
        geometry = g
        try addParameter("kernel", shape: k + [filters, shape[2]], initializer: kernelInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        return outSize + [filters]
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var g = geometry!; g.batch = inputs[0].shape[0]
        var z = Convolution.backwardInput(inputs[0], kernel: kernel.value, geometry: g)
        if let bias = parameter("bias") {
            let c = filters
            for i in 0..<z.count { z.scalars[i] += bias.value.scalars[i % c] }
        }
        let y = activation.apply(z)
        if training { cachedInput = inputs[0]; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var g = geometry!; g.batch = gradOutput.shape[0]
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        if updates(kernel) { kernel.gradient = Convolution.backwardKernel(dz, gradOutput: cachedInput, geometry: g) }
        return [Convolution.forward(dz, kernel: kernel.value, bias: nil, geometry: g)]
    }

    public override var flops: Int {
        guard let g = geometry else { return 0 }
        let outputs = g.inputPixels * filters
        return 2 * g.outputPixels * g.outputChannels * g.patchLength + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    public override var window: Window? { geometry?.window(transposed: true) }

    public override var configuration: [(String, ConfigurationValue)] {
        [("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("strides", .size(strides)),
         ("padding", .string(paddingName(padding))), ("dilation_rate", .size(dilationRate)),
         ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias))]
    }
}
