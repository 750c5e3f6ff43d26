import Foundation

/// The optimizers a recipe names.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case sgd, adam
    /// Keras' default learning rate for the optimizer.
    public var defaultLearningRate: Float { self == .adam ? 0.001 : 0.01 }
}

/// The learning-rate schedules a recipe names: constant, or cosine annealed to 0 over the run.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable { case constant, cosine }

/// How a recipe's weight decay enters the update: `decoupled` (Keras, AdamW: w ← w − lr·rate·w)
/// or `coupled` (PyTorch's SGD: rate·w added to the gradient, so momentum carries it).
public enum WeightDecayMode: String, Codable, CaseIterable, Sendable { case decoupled, coupled }

/// How a model is trained: the one place where the optimizer, schedule and loss, their
/// defaults and their description are decided. Experiment files hold one (`recipe:`), the
/// CLI builds one, and every report prints `description` of the recipe that trained.
public struct Recipe: Codable, Sendable, Equatable {
    public var epochs: Int
    public var batchSize: Int
    /// The fraction of the training images kept for validation (the last part).
    public var validationSplit: Double? = nil
    public var optimizer: OptimizerKind = .sgd
    /// nil: the optimizer's default (`OptimizerKind.defaultLearningRate`).
    public var learningRate: Float? = nil
    public var momentum: Float = 0
    public var nesterov = false
    public var weightDecay: Float? = nil
    public var weightDecayMode: WeightDecayMode = .decoupled
    public var schedule: ScheduleKind = .constant
    public var labelSmoothing: Float = 0
    public var seed: UInt64? = nil
    /// Train once per seed and report means; overrides `seed`.
    public var seeds: [UInt64]? = nil

    public init(epochs: Int, batchSize: Int, validationSplit: Double? = nil, optimizer: OptimizerKind = .sgd, learningRate: Float? = nil,
                momentum: Float = 0, nesterov: Bool = false, weightDecay: Float? = nil, weightDecayMode: WeightDecayMode = .decoupled,
                schedule: ScheduleKind = .constant, labelSmoothing: Float = 0, seed: UInt64? = nil, seeds: [UInt64]? = nil) {
        self.epochs = epochs; self.batchSize = batchSize; self.validationSplit = validationSplit; self.optimizer = optimizer
        self.learningRate = learningRate; self.momentum = momentum; self.nesterov = nesterov; self.weightDecay = weightDecay
        self.weightDecayMode = weightDecayMode; self.schedule = schedule; self.labelSmoothing = labelSmoothing
        self.seed = seed; self.seeds = seeds
    }

    /// The seeds to run: `seeds`, else `[seed]`, else `[0]`.
    public var allSeeds: [UInt64] { seeds ?? [seed ?? 0] }
    public var initialLearningRate: Float { learningRate ?? optimizer.defaultLearningRate }

    /// The optimizer for a run of `totalSteps` optimizer steps (the cosine schedule spans them).
    public func makeOptimizer(totalSteps: Int) throws -> any Optimizer {
        try validate()
        let schedule: any LearningRateSchedule = switch self.schedule {
        case .constant: ConstantSchedule(initialLearningRate)
        case .cosine: CosineSchedule(initial: initialLearningRate, decaySteps: totalSteps)
        }
        let decay: WeightDecay = switch (weightDecay, weightDecayMode) {
        case (nil, _): .none
        case (let rate?, .decoupled): .decoupled(rate)
        case (let rate?, .coupled): .coupled(rate)
        }
        return switch optimizer {
        case .sgd: SGD(schedule: schedule, momentum: momentum, nesterov: nesterov, weightDecay: decay)
        case .adam: Adam(schedule: schedule, weightDecay: decay)
        }
    }

    public func makeLoss() -> CategoricalCrossentropy { CategoricalCrossentropy(labelSmoothing: labelSmoothing) }

    /// Settings that contradict each other or cannot train, named.
    public func validate() throws {
        guard epochs >= 1 else { throw ConvKitError("recipe: epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw ConvKitError("recipe: batch_size must be at least 1, got \(batchSize)") }
        guard initialLearningRate > 0, initialLearningRate.isFinite else { throw ConvKitError("recipe: learning_rate must be positive, got \(initialLearningRate)") }
        guard (0..<1).contains(momentum) else { throw ConvKitError("recipe: momentum must be in [0, 1), got \(momentum)") }
        guard optimizer == .sgd || (momentum == 0 && !nesterov) else {
            throw ConvKitError("recipe: momentum and nesterov are SGD settings; Adam has its own moments")
        }
        guard !nesterov || momentum > 0 else { throw ConvKitError("recipe: nesterov needs a momentum above 0") }
        guard (0..<1).contains(labelSmoothing) else { throw ConvKitError("recipe: label_smoothing must be in [0, 1), got \(labelSmoothing)") }
        if let validationSplit, !(0..<1).contains(validationSplit) {
            throw ConvKitError("recipe: validation_split must be in [0, 1), got \(validationSplit)")
        }
    }

    /// The optimizer, schedule and loss in words, as reports print them:
    /// "SGD, learning rate 0.01, momentum 0.9 (Nesterov), weight decay 0.01 (coupled), cosine
    /// schedule, categorical cross-entropy with label smoothing 0.1".
    public var description: String {
        var text = "\(optimizer == .sgd ? "SGD" : "Adam"), learning rate \(initialLearningRate)"
        if momentum > 0 { text += ", momentum \(momentum)\(nesterov ? " (Nesterov)" : "")" }
        if let weightDecay { text += ", weight decay \(weightDecay) (\(weightDecayMode.rawValue))" }
        text += ", \(schedule.rawValue) schedule, categorical cross-entropy"
        if labelSmoothing > 0 { text += " with label smoothing \(labelSmoothing)" }
        return text
    }

    enum CodingKeys: String, CodingKey {
        case epochs, batchSize = "batch_size", validationSplit = "validation_split", optimizer
        case learningRate = "learning_rate", momentum, nesterov, weightDecay = "weight_decay", weightDecayMode = "weight_decay_mode", schedule
        case labelSmoothing = "label_smoothing", seed, seeds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func choice<T: RawRepresentable & CaseIterable>(_ key: CodingKeys, _ fallback: T) throws -> T where T.RawValue == String {
            guard let name = try c.decodeIfPresent(String.self, forKey: key) else { return fallback }
            guard let value = T(rawValue: name) else {
                throw ConvKitError("recipe: unknown \(key.rawValue) '\(name)' (\(T.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return value
        }
        epochs = try c.decode(Int.self, forKey: .epochs)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        validationSplit = try c.decodeIfPresent(Double.self, forKey: .validationSplit)
        optimizer = try choice(.optimizer, OptimizerKind.sgd)
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate)
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum) ?? 0
        nesterov = try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? false
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay)
        weightDecayMode = try choice(.weightDecayMode, WeightDecayMode.decoupled)
        schedule = try choice(.schedule, ScheduleKind.constant)
        labelSmoothing = try c.decodeIfPresent(Float.self, forKey: .labelSmoothing) ?? 0
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds)
    }
}
