/// CIFAR-style residual networks (He et al. 2016, section 4.2): a k×k stem convolution, three
/// stages of `n` basic blocks with `width`, `2·width` and `4·width` channels (the second and
/// third start with stride 2), global average pooling and a Dense classifier; depth = 6n + 2.
///
/// A basic block is conv–BN–ReLU–conv–BN plus a shortcut, then ReLU. The shortcut is the
/// identity, or a 1×1 convolution with stride and BatchNormalization where the shape changes
/// (option B). BatchNormalization uses PyTorch's settings (momentum 0.1, i.e. Keras 0.9,
/// epsilon 1e-5), as in the LC paper's code base.
public struct ResNet: Sendable {
    /// What every k×k convolution is.
    public enum SpatialConvolution: Sendable, Equatable {
        /// An ordinary learned convolution.
        case standard
        /// An LC-block (`LCConv2D`) with `expansion`; `frozen` keeps its k×k filters random;
        /// `intermediate` is the paper's ablation (an operation between the two convolutions).
        case linearCombination(expansion: Int, frozen: Bool, intermediate: LCConv2D.Intermediate = .none)
    }

    public var depth = 20
    public var width = 16
    public var kernelSize = 3
    public var convolution = SpatialConvolution.standard
    public var classes = 10
    /// Initialiser of every convolution and of the classifier's kernel.
    public var initializer: any Initializer = .pytorchDefault

    public init(depth: Int = 20, width: Int = 16, kernelSize: Int = 3, convolution: SpatialConvolution = .standard,
                classes: Int = 10, initializer: any Initializer = .pytorchDefault) {
        self.depth = depth; self.width = width; self.kernelSize = kernelSize; self.convolution = convolution
        self.classes = classes; self.initializer = initializer
    }

    /// The model for images of `inputShape` (height, width, channels).
    public func model(inputShape: [Int], name: String = "resnet", seed: UInt64 = 0) throws -> Model {
        guard depth >= 8, (depth - 2) % 6 == 0 else {
            throw ConvKitError("ResNet depth must be 6n + 2 with n ≥ 1 (8, 14, 20, 32, 44, 56, 110), got \(depth)")
        }
        guard width >= 1, kernelSize >= 1, kernelSize % 2 == 1, classes >= 2 else {
            throw ConvKitError("ResNet needs width ≥ 1, an odd kernel size and at least 2 classes (got width \(width), kernel \(kernelSize), \(classes) classes)")
        }
        if case .linearCombination(let e, _, _) = convolution, e < 1 { throw ConvKitError("LC expansion must be at least 1, got \(e)") }
        let blocks = (depth - 2) / 6
        let input = Input(shape: inputShape)
        var x = try batchNormalized(spatial(width, stride: 1)(input))
        x = try Activation(.relu)(x)
        for stage in 0..<3 {
            let channels = width << stage
            for block in 0..<blocks {
                let stride = stage > 0 && block == 0 ? 2 : 1
                var y = try batchNormalized(spatial(channels, stride: stride)(x))
                y = try Activation(.relu)(y)
                y = try batchNormalized(spatial(channels, stride: 1)(y))
                let shortcut = stride == 1 && x.shape.last == channels ? x
                    : try batchNormalized(Conv2D(filters: channels, kernelSize: 1, strides: SpatialSize([stride]), useBias: false,
                                                 kernelInitializer: initializer)(x))
                x = try Activation(.relu)(Add()([y, shortcut]))
            }
        }
        x = try GlobalAveragePooling2D()(x)
        let output = try Dense(units: classes, activation: .softmax, kernelInitializer: initializer)(x)
        return try Model(input: input, output: output, name: name, seed: seed)
    }

    /// `trained` (a model this builder made) with every LC-block folded into the single
    /// convolution it equals: the standard ResNet of the same shape, carrying the same weights.
    public func folded(_ trained: Model) throws -> Model {
        var plain = self
        plain.convolution = .standard
        let model = try plain.model(inputShape: trained.inputShape, name: trained.name + "-folded", seed: trained.seed)
        guard model.layers.count == trained.layers.count else {
            throw ConvKitError("model '\(trained.name)' was not made by this ResNet builder (\(trained.layers.count) layers, expected \(model.layers.count))")
        }
        for (target, source) in zip(model.layers, trained.layers) {
            let weights = try (source as? LCConv2D)?.folded().parameters ?? source.parameters
            for p in weights {
                guard let q = target.parameter(p.name), q.value.shape == p.value.shape else {
                    throw ConvKitError("model '\(trained.name)': \(source.describe) does not match \(target.describe) of the folded network")
                }
                q.value = p.value
            }
        }
        return model
    }

    private func spatial(_ filters: Int, stride: Int) -> Layer {
        switch convolution {
        case .standard:
            return Conv2D(filters: filters, kernelSize: SpatialSize([kernelSize]), strides: SpatialSize([stride]), padding: .same,
                          useBias: false, kernelInitializer: initializer)
        case .linearCombination(let expansion, let frozen, let intermediate):
            return LCConv2D(filters: filters, kernelSize: SpatialSize([kernelSize]), expansion: expansion, strides: SpatialSize([stride]),
                            padding: .same, frozenSpatial: frozen, intermediate: intermediate, useBias: false, spatialInitializer: initializer,
                            combinationInitializer: initializer)
        }
    }

    private func batchNormalized(_ node: Node) throws -> Node {
        try BatchNormalization(momentum: 0.9, epsilon: 1e-5)(node)
    }
}
