/// What one backward pass asks of a layer beyond the output gradient; `Model.backward` makes
/// one per layer and pass.
public struct BackwardContext {
    /// False when nobody reads this layer's input gradient (no parameter to update before it):
    /// the layer may return empty tensors instead.
    public var needsInputGradient = true
    /// The optimizer's step when it is `w ← keep·w − rate·g` (SGD without momentum), set by
    /// `Model.backward(_:applying:)`: a layer computing a weight gradient as a matrix product
    /// may make the step in that product (`step(for:of:)`) and store no gradient.
    var foldableStep: FoldableStep?
    /// Whether the optimizer takes a gradient as coordinates in a fixed basis
    /// (`Parameter.gradientInBasis`), set by `Model.backward(_:applying:)`.
    var optimizerTakesGradientsInBasis = false
    /// The parameters whose step layers made themselves in this pass, for the model to leave
    /// out of the optimizer's apply.
    let steppedParameters = SteppedParameters()

    public init(needsInputGradient: Bool = true) { self.needsInputGradient = needsInputGradient }

    /// The step to make in the product that computes `p`'s gradient, or nil (then store the
    /// gradient as usual). A parameter stepped so is left with an empty gradient.
    func step(for p: Parameter, of layer: Layer) -> FoldableStep? {
        guard layer.updates(p), let step = foldableStep else { return nil }
        steppedParameters.parameters.append(p)
        p.gradient = Tensor(zeros: [0])
        return step
    }
}

/// The parameters a backward pass stepped inside layers (shared by the pass's contexts).
final class SteppedParameters {
    var parameters: [Parameter] = []
}
