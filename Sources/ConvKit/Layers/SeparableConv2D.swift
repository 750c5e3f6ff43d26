/// Keras' SeparableConv2D: a depthwise convolution (`[kh, kw, in, multiplier]`, no bias)
/// followed by a pointwise 1×1 convolution (`[1, 1, in·multiplier, filters]`) with bias.
public final class SeparableConv2D: Layer {
    public let filters: Int, kernelSize: SpatialSize, strides: SpatialSize, padding: Padding
    public let depthMultiplier: Int, dilationRate: SpatialSize
    public let activation: ActivationFunction, useBias: Bool
    public let depthwiseInitializer: any Initializer, pointwiseInitializer: any Initializer, biasInitializer: any Initializer
    private var depthwiseGeometry: ConvGeometry?, pointwiseGeometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedMiddle = Tensor(zeros: [0])
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
        let c = shape[2], mid = c * depthMultiplier
        let dw = try ConvGeometry(batch: 1, inputSize: [shape[0], shape[1]], inputChannels: c, outputChannels: mid,
                                  kernelSize: kernelSize.expanded(to: 2, "kernel_size"), strides: strides.expanded(to: 2, "strides"),
                                  dilations: dilationRate.expanded(to: 2, "dilation_rate"), padding: padding, groups: c)
        let pw = try ConvGeometry(batch: 1, inputSize: Array(dw.outputSize.suffix(2)), inputChannels: mid, outputChannels: filters,
                                  kernelSize: [1, 1], strides: [1, 1], dilations: [1, 1], padding: .valid)
        depthwiseGeometry = dw; pointwiseGeometry = pw
        try addParameter("depthwise_kernel", shape: Array(dw.kernelSize.suffix(2)) + [c, depthMultiplier],
                     initializer: depthwiseInitializer, generator: &generator)
        try addParameter("pointwise_kernel", shape: [1, 1, mid, filters], initializer: pointwiseInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        return Array(pw.outputShape.dropFirst())
    }

    public override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var dw = depthwiseGeometry!, pw = pointwiseGeometry!
        dw.batch = inputs[0].shape[0]; pw.batch = dw.batch
        let middle = Convolution.forward(inputs[0], kernel: depthwiseKernel.value.reshaped(to: dw.kernelShape), bias: nil, geometry: dw)
        let z = Convolution.forward(middle, kernel: pointwiseKernel.value, bias: parameter("bias")?.value, geometry: pw)
        let y = activation.apply(z)
        if training { cachedInput = inputs[0]; cachedMiddle = middle; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    public override func backward(_ gradOutput: Tensor) -> [Tensor] {
        var dw = depthwiseGeometry!, pw = pointwiseGeometry!
        dw.batch = gradOutput.shape[0]; pw.batch = dw.batch
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if let bias = parameter("bias"), updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        if updates(pointwiseKernel) {
            pointwiseKernel.gradient = Convolution.backwardKernel(cachedMiddle, gradOutput: dz, geometry: pw)
        }
        let dMiddle = Convolution.backwardInput(dz, kernel: pointwiseKernel.value, geometry: pw)
        if updates(depthwiseKernel) {
            depthwiseKernel.gradient = Convolution.backwardKernel(cachedInput, gradOutput: dMiddle, geometry: dw)
                .reshaped(to: depthwiseKernel.value.shape)
        }
        return [Convolution.backwardInput(dMiddle, kernel: depthwiseKernel.value.reshaped(to: dw.kernelShape), geometry: dw)]
    }

    public override var flops: Int {
        guard let dw = depthwiseGeometry, let pw = pointwiseGeometry else { return 0 }
        let outputs = pw.outputPixels * filters
        return 2 * dw.outputPixels * dw.outputChannels * dw.kernelTaps + 2 * outputs * pw.inputChannels
            + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    public override var window: Window? { depthwiseGeometry?.window() }

    public override var configuration: [(String, ConfigurationValue)] {
        [("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("strides", .size(strides)),
         ("padding", .string(paddingName(padding))), ("depth_multiplier", .int(depthMultiplier)),
         ("dilation_rate", .size(dilationRate)), ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias))]
    }
}
