import Foundation

/// How weight decay enters an update.
public enum WeightDecay: Sendable, Equatable {
    case none
    /// Keras 3 and AdamW: `w ← w − lr·rate·w` before the gradient step.
    case decoupled(Float)
    /// PyTorch's `weight_decay` for SGD (L2 regularisation): `g ← g + rate·w`.
    case coupled(Float)
}

/// Updates a model's trainable parameters from their gradients. State (momentum, moments)
/// is kept per parameter key, so an optimizer follows one model. A parameter without a
/// gradient (empty: no backward pass reached it) is left as it is, as PyTorch skips `grad=None`.
public protocol Optimizer: AnyObject {
    var schedule: any LearningRateSchedule { get set }
    /// Optimizer steps taken so far.
    var iterations: Int { get }
    func apply(to parameters: [(key: String, parameter: Parameter)])
    /// The per-parameter state (momentum, moments) as tensors named `<key>/<slot>`, for checkpoints.
    func exportState() -> [(String, Tensor)]
    /// Restores what `exportState` wrote and the step count; throws on a mismatched state.
    func importState(_ tensors: [String: Tensor], iterations: Int) throws
    /// This step's update when it is `w ← keep·w − rate·g` for every parameter (SGD without
    /// momentum), so that a layer computing `g` as a matrix product can write the step straight
    /// into `w` (`Model.backward(_:applying:)`); nil when the update needs more state.
    func foldableStep() -> FoldableStep?
    /// Whether the optimizer follows a parameter whose gradient comes as coordinates in a fixed
    /// basis (`Parameter.gradientInBasis`) without building the gradient itself.
    var takesGradientsInBasis: Bool { get }
    /// After `importState` and the weights are loaded into `model`: hands state kept in
    /// another form (SGD's trajectories in a basis) back to the parameters it belongs to, so
    /// that the first step computes what the uninterrupted run computed.
    func reattach(to model: Model)
}

/// An optimizer step `w ← keep·w − rate·g` that a matrix product `g = Aᵀ·B` can carry out
/// itself, as `w ← keep·w + (−rate)·Aᵀ·B`: no gradient is stored, zeroed or read back.
public struct FoldableStep: Sendable, Equatable {
    public let rate: Float, keep: Float
    public init(rate: Float, keep: Float = 1) { self.rate = rate; self.keep = keep }
}

/// Splits `<key>/<slot>` tensors into per-key slot arrays, checking the slot names.
func optimizerSlots(_ tensors: [String: Tensor], slots: [String]) throws -> [String: [String: [Float]]] {
    var out = [String: [String: [Float]]]()
    for (name, tensor) in tensors {
        guard let cut = name.lastIndex(of: "/"), slots.contains(String(name[name.index(after: cut)...])) else {
            throw ConvKitError("optimizer state '\(name)' is not one of this optimizer's slots (\(slots.joined(separator: ", ")))")
        }
        out[String(name[..<cut]), default: [:]][String(name[name.index(after: cut)...])] = tensor.scalars
    }
    return out
}

extension Optimizer {
    public var learningRate: Float { schedule.rate(at: iterations) }
    public func foldableStep() -> FoldableStep? { nil }
    public var takesGradientsInBasis: Bool { false }
    public func reattach(to model: Model) {}
    public func apply(to model: Model) { apply(to: model.trainableParameters) }
}

extension WeightDecay {
    /// The rate of coupled (L2) decay, added to each gradient as `g + rate·w`; 0 otherwise.
    var coupledRate: Float {
        if case .coupled(let rate) = self { rate } else { 0 }
    }

    /// The factor decoupled decay scales the weights by before a step at learning rate `rate`,
    /// `1 − rate·decay`; 1 otherwise.
    func keep(rate: Float) -> Float {
        if case .decoupled(let decay) = self { 1 - rate * decay } else { 1 }
    }
}

/// Keras' SGD: `v ← μ·v − lr·g; w ← w + v`, or with Nesterov `w ← w + μ·v − lr·g`.
public final class SGD: Optimizer {
    public var schedule: any LearningRateSchedule
    public let momentum: Float, nesterov: Bool, weightDecay: WeightDecay
    public private(set) var iterations = 0
    private var velocity = [String: [Float]]()
    /// Parameters followed in their gradients' basis (`SubspaceTrajectory`), by key; their
    /// velocity lives there instead of in `velocity`.
    private var trajectories = [String: SubspaceTrajectory]()
    /// Trajectories read from a checkpoint, taken up at the parameter's next step.
    private var restoredTrajectories = [String: SubspaceTrajectory.State]()

    public convenience init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false, weightDecay: WeightDecay = .none) {
        self.init(schedule: ConstantSchedule(learningRate), momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
    }

    public init(schedule: any LearningRateSchedule, momentum: Float = 0, nesterov: Bool = false, weightDecay: WeightDecay = .none) {
        self.schedule = schedule; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
    }

    public var takesGradientsInBasis: Bool { true }

    public func apply(to parameters: [(key: String, parameter: Parameter)]) {
        let lr = learningRate
        for (key, p) in parameters {
            if let (basis, coordinates) = p.gradientInBasis {
                p.gradientInBasis = nil
                stepInBasis(key, p, basis, coordinates: coordinates.scalars, lr: lr)
                continue
            }
            guard p.gradient.count == p.count else { continue }
            if let trajectory = trajectories.removeValue(forKey: key), momentum != 0 {
                velocity[key] = trajectory.currentVelocity()   // back to the dense update
            }
            // The per-path C loop (channel_kernels.c), across the cores; coupled decay is added
            // inside it rather than to a copy of the gradient (LC-blocks at E = 128 have 34M
            // spatial weights).
            let (keep, decay, count) = (weightDecay.keep(rate: lr), weightDecay.coupledRate, p.gradient.count)
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                p.gradient.scalars.withUnsafeBufferPointer { g in
                    guard momentum != 0 else {
                        ChannelArithmetic.sgdStep(weights: w.baseAddress!, gradient: g.baseAddress!, velocity: nil, count: count, rate: lr,
                                                  keep: keep, decay: decay, momentum: 0, nesterov: nesterov)
                        return
                    }
                    velocity[key, default: [Float](repeating: 0, count: count)].withUnsafeMutableBufferPointer { v in
                        ChannelArithmetic.sgdStep(weights: w.baseAddress!, gradient: g.baseAddress!, velocity: v.baseAddress!, count: count,
                                                  rate: lr, keep: keep, decay: decay, momentum: momentum, nesterov: nesterov)
                    }
                }
            }
        }
        iterations += 1
    }

    /// The step of a parameter whose gradient is Sᵀ·h, made in S's span. The trajectory starts
    /// anew, from the weights and velocity reached, when S changed or the weights were written
    /// since it started; a checkpoint's trajectory goes on where it stopped.
    private func stepInBasis(_ key: String, _ p: Parameter, _ basis: GradientBasis, coordinates: [Float], lr: Float) {
        var trajectory = trajectories[key]
        if let t = trajectory, t.basis !== basis || t.startVersion != p.version { trajectory = nil }
        if trajectory == nil, let state = restoredTrajectories.removeValue(forKey: key) {
            trajectory = SubspaceTrajectory(basis: basis, shape: p.shape, version: p.version, state: state)
        }
        if trajectory == nil {
            let v = trajectories[key].map { $0.currentVelocity() } ?? velocity[key]
            trajectory = SubspaceTrajectory(basis: basis, value: p.value, velocity: momentum == 0 ? nil : v, version: p.version)
        }
        velocity[key] = nil
        trajectories[key] = trajectory
        trajectory!.step(coordinates: coordinates, rate: lr, momentum: momentum, nesterov: nesterov,
                         coupledDecay: weightDecay.coupledRate, keep: weightDecay.keep(rate: lr))
        p.deferValue(to: trajectory!)
    }

    /// Without momentum, either weight decay also scales `w`: `w − lr·(g + r·w)` and
    /// `(w − lr·r·w) − lr·g` are both `(1 − lr·r)·w − lr·g`.
    public func foldableStep() -> FoldableStep? {
        guard momentum == 0 else { return nil }
        let decay: Float = switch weightDecay {
        case .none: 0
        case .coupled(let rate), .decoupled(let rate): rate
        }
        return FoldableStep(rate: learningRate, keep: 1 - learningRate * decay)
    }

    public func reattach(to model: Model) {
        for (key, p, layer) in model.parameters where layer.updates(p) {
            guard let state = restoredTrajectories[key], let basis = layer.gradientBasis(of: p),
                  let trajectory = SubspaceTrajectory(basis: basis, shape: p.shape, version: p.version, state: state) else { continue }
            restoredTrajectories[key] = nil
            trajectories[key] = trajectory
            p.deferValue(to: trajectory)
        }
    }

    /// `<key>/velocity` for every parameter with momentum; for one followed in a basis also
    /// its trajectory (`SubspaceTrajectory.State.slots`), so that resuming continues it exactly.
    public func exportState() -> [(String, Tensor)] {
        var out = velocity.map { ("\($0.key)/velocity", Tensor(shape: [$0.value.count], scalars: $0.value)) }
        for (key, trajectory) in trajectories {
            if momentum != 0 {
                let v = trajectory.currentVelocity()
                out.append(("\(key)/velocity", Tensor(shape: [v.count], scalars: v)))
            }
            out += zip(SubspaceTrajectory.State.slots, trajectory.state.tensors).map { ("\(key)/\($0)", $1) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    public func importState(_ tensors: [String: Tensor], iterations: Int) throws {
        let slots = try optimizerSlots(tensors, slots: ["velocity"] + SubspaceTrajectory.State.slots)
        velocity = slots.compactMapValues { $0["velocity"] }
        restoredTrajectories = [:]
        for (key, values) in slots where values.keys.contains(where: SubspaceTrajectory.State.slots.contains) {
            guard let state = SubspaceTrajectory.State(slots: values) else {
                throw ConvKitError("optimizer state of '\(key)': the trajectory slots (\(SubspaceTrajectory.State.slots.joined(separator: ", "))) are incomplete")
            }
            restoredTrajectories[key] = state
        }
        trajectories = [:]   // a parameter still deferred to one rebuilds its weights from it
        self.iterations = iterations
    }
}

/// Keras' Adam (defaults 0.001, 0.9, 0.999, ε 1e-7); with `.decoupled` decay it is AdamW.
public final class Adam: Optimizer {
    public var schedule: any LearningRateSchedule
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: WeightDecay
    public private(set) var iterations = 0
    private var moments = [String: (m: [Float], v: [Float])]()

    public convenience init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                weightDecay: WeightDecay = .none) {
        self.init(schedule: ConstantSchedule(learningRate), beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
    }

    public init(schedule: any LearningRateSchedule, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                weightDecay: WeightDecay = .none) {
        self.schedule = schedule; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.weightDecay = weightDecay
    }

    public func apply(to parameters: [(key: String, parameter: Parameter)]) {
        let lr = learningRate, t = Float(iterations + 1)
        let stepSize = lr * (1 - pow(beta2, t)).squareRoot() / (1 - pow(beta1, t))
        for (key, p) in parameters where p.gradient.count == p.count {
            let count = p.gradient.count
            var (m, v) = moments.removeValue(forKey: key) ?? ([Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
            p.value.scalars.withUnsafeMutableBufferPointer { w in
                p.gradient.scalars.withUnsafeBufferPointer { g in
                    m.withUnsafeMutableBufferPointer { m in
                        v.withUnsafeMutableBufferPointer { v in
                            ChannelArithmetic.adamStep(weights: w.baseAddress!, gradient: g.baseAddress!, m: m.baseAddress!, v: v.baseAddress!,
                                                       count: count, stepSize: stepSize, keep: weightDecay.keep(rate: lr),
                                                       decay: weightDecay.coupledRate, beta1: beta1, beta2: beta2, epsilon: epsilon)
                        }
                    }
                }
            }
            moments[key] = (m, v)
        }
        iterations += 1
    }

    public func exportState() -> [(String, Tensor)] {
        moments.keys.sorted().flatMap { key -> [(String, Tensor)] in
            let (m, v) = moments[key]!
            return [("\(key)/m", Tensor(shape: [m.count], scalars: m)), ("\(key)/v", Tensor(shape: [v.count], scalars: v))]
        }
    }

    public func importState(_ tensors: [String: Tensor], iterations: Int) throws {
        moments = try optimizerSlots(tensors, slots: ["m", "v"]).mapValues { slots in
            guard let m = slots["m"], let v = slots["v"], m.count == v.count else {
                throw ConvKitError("optimizer state: Adam needs m and v of one size for every parameter")
            }
            return (m, v)
        }
        self.iterations = iterations
    }
}

/// The learning rate as a function of the optimizer step.
public protocol LearningRateSchedule: Sendable {
    func rate(at step: Int) -> Float
}

public struct ConstantSchedule: LearningRateSchedule {
    public let value: Float
    public init(_ value: Float) { self.value = value }
    public func rate(at step: Int) -> Float { value }
}

/// Multiplies the rate by `factor` every `every` steps.
public struct StepSchedule: LearningRateSchedule {
    public let initial: Float, factor: Float, every: Int
    public init(initial: Float, factor: Float = 0.1, every: Int) {
        self.initial = initial; self.factor = factor; self.every = max(every, 1)
    }
    public func rate(at step: Int) -> Float { initial * pow(factor, Float(step / every)) }
}

/// Keras' CosineDecay: from `initial` down to `initial·alpha` over `decaySteps`, then flat.
public struct CosineSchedule: LearningRateSchedule {
    public let initial: Float, decaySteps: Int, alpha: Float
    public init(initial: Float, decaySteps: Int, alpha: Float = 0) {
        self.initial = initial; self.decaySteps = max(decaySteps, 1); self.alpha = alpha
    }
    public func rate(at step: Int) -> Float {
        let progress = Float(min(step, decaySteps)) / Float(decaySteps)
        return initial * ((1 - alpha) * 0.5 * (1 + cos(Float.pi * progress)) + alpha)
    }
}
