/// The base of every layer. A layer describes an operation; the arithmetic lives in `Kernels`.
///
/// Life cycle: a layer is created with its settings only; `build(inputShapes:)` infers the
/// output shape and creates the parameters once the input shapes are known (shapes exclude the
/// batch axis, as in Keras); `forward` caches what `backward` needs; `backward` returns the
/// gradient for each input and stores parameter gradients in `Parameter.gradient`.
open class Layer {
    /// Unique within a model; `nil` until set by the user or assigned by the model.
    public var name: String?
    /// False freezes every parameter of the layer (Keras' `trainable`); gradients still flow.
    public var trainable = true
    public private(set) var parameters: [Parameter] = []
    public private(set) var inputShapes: [[Int]] = []
    public private(set) var outputShape: [Int] = []
    public private(set) var isBuilt = false
    /// Set by `Model.inputGradient`: a training pass (caching for `backward`) that computes what
    /// inference computes — BatchNormalization uses its moving statistics, Dropout keeps all.
    var behavesAsInference = false

    public init(name: String? = nil) { self.name = name }

    /// The Keras class name (`Conv2D`), shown in summaries and used in model files.
    open var typeName: String { String(describing: type(of: self)) }

    /// How many inputs the layer takes; `nil` means two or more.
    open var arity: Int? { 1 }

    /// Infers the output shape (no batch axis) and creates the parameters.
    open func build(inputShapes: [[Int]], generator: inout SeededGenerator) throws -> [Int] {
        fatalError("\(typeName) must override build(inputShapes:generator:)")
    }

    open func forward(_ inputs: [Tensor], training: Bool) -> Tensor {
        fatalError("\(typeName) must override forward(_:training:)")
    }

    /// A layer overrides this or `backward(_:context:)`; each calls the other by default.
    open func backward(_ gradOutput: Tensor) -> [Tensor] {
        precondition(!inDefaultBackward, "\(typeName) must override backward(_:) or backward(_:context:)")
        inDefaultBackward = true
        defer { inDefaultBackward = false }
        return backward(gradOutput, context: BackwardContext())
    }

    /// `backward(_:)` with what the pass asks beyond the output gradient (`BackwardContext`):
    /// whether anyone needs the input gradient, and which optimizer step a layer may make
    /// itself. Layers that use none of it override `backward(_:)` only.
    open func backward(_ gradOutput: Tensor, context: BackwardContext) -> [Tensor] {
        precondition(!inDefaultBackward, "\(typeName) must override backward(_:) or backward(_:context:)")
        inDefaultBackward = true
        defer { inDefaultBackward = false }
        return backward(gradOutput)
    }
    private var inDefaultBackward = false

    /// Floating-point operations of one forward pass for one example.
    open var flops: Int { 0 }

    /// The sliding window of a spatial layer, for receptive-field arithmetic.
    open var window: Window? { nil }

    /// True for layers whose every output depends on the whole input (Dense, Flatten, global pooling).
    open var mixesSpatialAxes: Bool { false }

    /// The layer's arguments under their model-file (Keras) names, in order: what
    /// `Model.save` writes so that `ModelFile` can build the same layer again.
    open var configuration: [(String, ConfigurationValue)] { [] }

    /// Builds the layer for `inputShapes` with a check of the number of inputs; called by models.
    public final func setUp(inputShapes: [[Int]], generator: inout SeededGenerator) throws {
        if let arity, inputShapes.count != arity {
            throw ConvKitError("\(describe): takes \(arity) input(s), got \(inputShapes.count)")
        }
        if arity == nil && inputShapes.count < 2 {
            throw ConvKitError("\(describe): takes two or more inputs, got \(inputShapes.count)")
        }
        parameters = []
        do {
            outputShape = try build(inputShapes: inputShapes, generator: &generator)
        } catch let error as ConvKitError {
            throw ConvKitError("\(describe): \(error.description)")
        }
        self.inputShapes = inputShapes
        isBuilt = true
    }

    /// "layer 'conv2d' (Conv2D)", for error messages.
    public var describe: String { name.map { "layer '\($0)' (\(typeName))" } ?? "layer \(typeName)" }

    /// Creates and registers a parameter; call from `build`.
    @discardableResult
    public final func addParameter(_ name: String, shape: [Int], initializer: any Initializer,
                                   generator: inout SeededGenerator, isStatistic: Bool = false) throws -> Parameter {
        if let handSet = initializer as? FromValues, handSet.values.count != shape.reduce(1, *) {
            throw ConvKitError("\(name): hand-set values have \(handSet.values.count) entries, the shape \(shape) needs \(shape.reduce(1, *))")
        }
        let p = Parameter(name: name, value: initializer.make(shape: shape, using: &generator), isStatistic: isStatistic)
        parameters.append(p)
        return p
    }

    /// Registers the parameters of a layer this one runs inside itself (built in `build`), so
    /// that models, optimizers and files see them as this layer's.
    final func adoptParameters(of inner: Layer) {
        parameters += inner.parameters
    }

    public final func parameter(_ name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }

    /// Whether an optimizer updates `p`: the layer and the parameter must both be trainable.
    public final func updates(_ p: Parameter) -> Bool { trainable && p.trainable }

    /// The fixed basis S in which this layer gives `p`'s gradient (`Parameter.gradientInBasis`)
    /// when the optimizer takes it so; nil for gradients given whole.
    func gradientBasis(of p: Parameter) -> GradientBasis? { nil }

    public var trainableParameterCount: Int { parameters.filter(updates).reduce(0) { $0 + $1.count } }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Makes a parameter-free layer's shape check read naturally.
    public final func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConvKitError(message()) }
    }
}

/// One argument value of a layer, as model files write it.
public enum ConfigurationValue: Sendable, Equatable {
    case int(Int), float(Float), bool(Bool), string(String), ints([Int])

    /// A size: one number, or one per axis.
    static func size(_ s: SpatialSize) -> ConfigurationValue { s.values.count == 1 ? .int(s.values[0]) : .ints(s.values) }

    var jsonObject: Any {
        switch self {
        case .int(let v): v
        case .float(let v): Double(v)
        case .bool(let v): v
        case .string(let v): v
        case .ints(let v): v
        }
    }
}

/// Formats a shape the Keras way: `(None, 28, 28, 64)`.
public func kerasShape(_ shape: [Int]) -> String {
    "(" + (["None"] + shape.map(String.init)).joined(separator: ", ") + ")"
}
