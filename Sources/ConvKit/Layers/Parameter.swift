/// One named weight tensor of a layer, with its gradient from the last backward pass.
public final class Parameter {
    public let name: String
    /// The weights. Reading it rebuilds a value an optimizer keeps in another form
    /// (`deferredValue`); every write counts in `version`.
    public var value: Tensor {
        _read { materialize(); yield storedValue }
        _modify { materialize(); deferredValue = nil; version &+= 1; yield &storedValue }
    }
    /// The last backward pass's gradient. Empty before any backward pass, for parameters no
    /// pass updates (frozen ones: an LC-block's 34M frozen weights at E = 128 would otherwise
    /// hold 136 MB of zeros), and when that pass made the optimizer's step itself
    /// (`Model.backward(_:applying:)`) or gave the gradient in a basis (`gradientInBasis`).
    /// Optimizers skip a parameter whose gradient is empty.
    public var gradient: Tensor
    /// The gradient as coordinates h in a fixed basis S, g = Sᵀ·h, for an optimizer that can
    /// follow the whole update there (SGD: `Optimizer.takesGradientsInBasis`); nil otherwise.
    var gradientInBasis: (basis: GradientBasis, coordinates: Tensor)?
    /// False freezes this parameter alone: it keeps its value, gradients still flow
    /// through its layer. Moving statistics of BatchNormalization are never trainable.
    public var trainable: Bool
    /// Statistics updated by the forward pass (moving mean/variance), not by an optimizer.
    public let isStatistic: Bool
    /// Counts writes to `value`, so that what is derived from it (a Gram matrix, an
    /// optimizer's other form of it) can tell that it is stale.
    public private(set) var version = 0

    private var storedValue: Tensor
    /// Set by an optimizer that keeps the value in another form between steps; the first
    /// read of `value` then asks it for the value, once. It stays until `value` is written,
    /// so that what is derived from it (`image(under:)`) does not depend on who read.
    private(set) var deferredValue: (any DeferredParameterValue)?
    private var isMaterialized = true

    public init(name: String, value: Tensor, trainable: Bool = true, isStatistic: Bool = false) {
        self.name = name
        self.storedValue = value
        self.gradient = Tensor(zeros: [0])
        self.trainable = trainable && !isStatistic
        self.isStatistic = isStatistic
    }

    /// The shape and size of `value`, without rebuilding a deferred value.
    public var shape: [Int] { storedValue.shape }
    public var count: Int { storedValue.count }

    /// Hands the value to `deferred` until the next read. Not a write: `version` stays.
    func deferValue(to deferred: any DeferredParameterValue) { deferredValue = deferred; isMaterialized = false }

    private func materialize() {
        guard !isMaterialized, let deferred = deferredValue else { return }
        storedValue = deferred.currentValue()
        isMaterialized = true
    }
}

/// A parameter's value kept by an optimizer in another form (see `SubspaceTrajectory`).
protocol DeferredParameterValue: AnyObject {
    /// The value now, in the parameter's shape.
    func currentValue() -> Tensor
    /// `basis · value` when it is cheap to give (the form is built on that basis), else nil.
    func image(under basis: GradientBasis) -> Tensor?
}
