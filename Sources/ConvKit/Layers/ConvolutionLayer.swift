/// The one convolution layer behind Conv1D, Conv2D and Conv3D (Keras' BaseConv): a kernel
/// `[spatial…, in/groups, filters]`, optional bias, optional fused activation.
open class ConvolutionLayer: Layer {
    public let rank: Int
    public let filters: Int
    public let kernelSize: SpatialSize
    public let strides: SpatialSize
    public let padding: Padding
    public let dilationRate: SpatialSize
    public let groups: Int
    public let activation: ActivationFunction
    public let useBias: Bool
    public let kernelInitializer: any Initializer
    public let biasInitializer: any Initializer

    public private(set) var geometry: ConvGeometry?
    private var cachedInput = Tensor(zeros: [0]), cachedPreActivation = Tensor(zeros: [0]), cachedOutput = Tensor(zeros: [0])

    public init(rank: Int, filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1,
                padding: Padding = .valid, dilationRate: SpatialSize = 1, groups: Int = 1,
                activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform,
                biasInitializer: any Initializer = .zeros, name: String? = nil) {
        self.rank = rank; self.filters = filters; self.kernelSize = kernelSize; self.strides = strides
        self.padding = padding; self.dilationRate = dilationRate; self.groups = groups
        self.activation = activation; self.useBias = useBias
        self.kernelInitializer = kernelInitializer; self.biasInitializer = biasInitializer
        super.init(name: name)
    }

    public var kernel: Parameter { parameter("kernel")! }
    public var bias: Parameter? { parameter("bias") }

    open override func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        let shape = inputShapes[0]
        try require(shape.count == rank + 1,
                    "expects input of rank \(rank + 1) (spatial…, channels), got \(kerasShape(shape))")
        try require(filters >= 1, "filters must be positive, got \(filters)")
        let g = try ConvGeometry(
            batch: 1, inputSize: Array(shape.prefix(rank)), inputChannels: shape[rank], outputChannels: filters,
            kernelSize: kernelSize.expanded(to: rank, "kernel_size"), strides: strides.expanded(to: rank, "strides"),
            dilations: dilationRate.expanded(to: rank, "dilation_rate"), padding: padding, groups: groups)
        geometry = g
        try addParameter("kernel", shape: g.kernelShape, initializer: kernelInitializer, generator: &generator)
        if useBias { try addParameter("bias", shape: [filters], initializer: biasInitializer, generator: &generator) }
        return Array(g.outputShape.dropFirst())
    }

    open override func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        var g = geometry!
        g.batch = inputs[0].shape[0]
        let z = Convolution.forward(inputs[0], kernel: kernel.value, bias: bias?.value, geometry: g)
        let y = activation.apply(z)
        if training { cachedInput = inputs[0]; cachedPreActivation = z; cachedOutput = y }
        return y
    }

    /// The training pass that also returns the output's per-channel sums, for the
    /// BatchNormalization reading it (`TrainingFusion.swift`). The activation must be linear.
    func forwardWithChannelSums(_ x: Tensor) -> (output: Tensor, sums: ChannelSums) {
        precondition(activation == .linear, "channel sums are the BatchNorm's input: a linear convolution's output")
        var g = geometry!
        g.batch = x.shape[0]
        let (z, sums) = Convolution.forwardWithChannelSums(x, kernel: kernel.value, bias: bias?.value, geometry: g)
        cachedInput = x; cachedPreActivation = z; cachedOutput = z
        return (z, sums)
    }

    /// True when `backwardParameters(imageGradient:)` can run for a batch of `batch`.
    func takesImageGradients(batch: Int) -> Bool {
        guard var g = geometry else { return false }
        g.batch = batch
        return activation == .linear && Convolution.takesImageGradients(g)
    }

    /// The backward pass of a convolution whose input gradient nobody needs, from an output
    /// gradient written image by image (`Convolution.backwardParameters`): sets the kernel's and
    /// the bias's gradients.
    func backwardParameters(imageGradient: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) {
        var g = geometry!
        g.batch = cachedInput.shape[0]
        let (dw, db) = Convolution.backwardParameters(cachedInput, imageGradient: imageGradient, geometry: g)
        if updates(kernel) { kernel.gradient = dw }
        if let bias, updates(bias) { bias.gradient = db }
    }

    /// Inference with a per-channel affine map `y·scale + shift` folded into the kernel and bias
    /// (a BatchNormalization after this layer), and a ReLU applied as the output is written.
    /// The layer's own activation must be linear, or relu with no affine map.
    func inferenceForward(_ x: Tensor, affine: (scale: [Float], shift: [Float])?, relu: Bool) -> Tensor {
        var g = geometry!
        g.batch = x.shape[0]
        guard let affine else {
            return Convolution.forward(x, kernel: kernel.value, bias: bias?.value, geometry: g, relu: relu)
        }
        let c = filters
        let foldedKernel = Tensor(shape: kernel.value.shape, scalars: kernel.value.scalars.enumerated().map { i, w in w * affine.scale[i % c] })
        let foldedBias = Tensor(shape: [c], scalars: (0..<c).map { j in (bias?.value.scalars[j] ?? 0) * affine.scale[j] + affine.shift[j] })
        return Convolution.forward(x, kernel: foldedKernel, bias: foldedBias, geometry: g, relu: relu)
    }

    open override func backward(_ gradOutput: Tensor, context: BackwardContext) -> [Tensor] {
        var g = geometry!
        g.batch = gradOutput.shape[0]
        let dz = activation.gradient(input: cachedPreActivation, output: cachedOutput, gradOutput: gradOutput)
        if updates(kernel) { kernel.gradient = Convolution.backwardKernel(cachedInput, gradOutput: dz, geometry: g) }
        if let bias, updates(bias) { bias.gradient = Convolution.backwardBias(dz) }
        if !context.needsInputGradient { return [Tensor(zeros: [0])] }
        return [Convolution.backwardInput(dz, kernel: kernel.value, geometry: g)]
    }

    open override var flops: Int {
        guard let g = geometry else { return 0 }
        let outputs = g.outputPixels * g.outputChannels
        return 2 * outputs * g.patchLength + (useBias ? outputs : 0) + outputs * activation.flopsPerElement
    }

    open override var window: Window? { geometry?.window() }

    open override var configuration: [(String, ConfigurationValue)] {
        [("filters", .int(filters)), ("kernel_size", .size(kernelSize)), ("strides", .size(strides)),
         ("padding", .string(paddingName(padding))), ("dilation_rate", .size(dilationRate)), ("groups", .int(groups)),
         ("activation", .string(activation.rawValue)), ("use_bias", .bool(useBias)),
         ("kernel_initializer", .string(kernelInitializer.name)), ("bias_initializer", .string(biasInitializer.name))]
    }
}

func paddingName(_ p: Padding) -> String {
    switch p {
    case .valid: "valid"
    case .same: "same"
    case .explicit(let b, let a): "explicit(\(b), \(a))"
    }
}

public final class Conv1D: ConvolutionLayer {
    public init(filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, groups: Int = 1, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        super.init(rank: 1, filters: filters, kernelSize: kernelSize, strides: strides, padding: padding,
                   dilationRate: dilationRate, groups: groups, activation: activation, useBias: useBias,
                   kernelInitializer: kernelInitializer, biasInitializer: biasInitializer, name: name)
    }
}

public final class Conv2D: ConvolutionLayer {
    public init(filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, groups: Int = 1, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        super.init(rank: 2, filters: filters, kernelSize: kernelSize, strides: strides, padding: padding,
                   dilationRate: dilationRate, groups: groups, activation: activation, useBias: useBias,
                   kernelInitializer: kernelInitializer, biasInitializer: biasInitializer, name: name)
    }
}

public final class Conv3D: ConvolutionLayer {
    public init(filters: Int, kernelSize: SpatialSize, strides: SpatialSize = 1, padding: Padding = .valid,
                dilationRate: SpatialSize = 1, groups: Int = 1, activation: ActivationFunction = .linear, useBias: Bool = true,
                kernelInitializer: any Initializer = .glorotUniform, biasInitializer: any Initializer = .zeros,
                name: String? = nil) {
        super.init(rank: 3, filters: filters, kernelSize: kernelSize, strides: strides, padding: padding,
                   dilationRate: dilationRate, groups: groups, activation: activation, useBias: useBias,
                   kernelInitializer: kernelInitializer, biasInitializer: biasInitializer, name: name)
    }
}
