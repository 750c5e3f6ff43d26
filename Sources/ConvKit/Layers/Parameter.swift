/// One named weight tensor of a layer, with its gradient from the last backward pass.
public final class Parameter {
    public let name: String
    public var value: Tensor
    /// The last backward pass's gradient. Empty before any backward pass, for parameters no
    /// pass updates (frozen ones: an LC-block's 34M frozen weights at E = 128 would otherwise
    /// hold 136 MB of zeros), and when that pass made the optimizer's step itself
    /// (`Model.backward(_:applying:)`). Optimizers skip a parameter whose gradient is empty.
    public var gradient: Tensor
    /// False freezes this parameter alone: it keeps its value, gradients still flow
    /// through its layer. Moving statistics of BatchNormalization are never trainable.
    public var trainable: Bool
    /// Statistics updated by the forward pass (moving mean/variance), not by an optimizer.
    public let isStatistic: Bool

    public init(name: String, value: Tensor, trainable: Bool = true, isStatistic: Bool = false) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: [0])
        self.trainable = trainable && !isStatistic
        self.isStatistic = isStatistic
    }
}
