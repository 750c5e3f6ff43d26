import Foundation

/// One `fit` call in its phases: `begin` (restore a checkpoint, share the weights over
/// processes, start the callbacks), `trainEpoch` (the steps, with step checkpoints),
/// `endEpoch` (validation, the epoch's checkpoint, callbacks, the decision to stop) and `end`.
/// Holds what the phases share: the data, the shuffling generator and the history.
final class TrainingRun {
    let model: Model
    let x: Tensor, y: Tensor, validation: (x: Tensor, y: Tensor)?
    let batchSize: Int, epochs: Int, shuffle: Bool
    let optimizer: any Optimizer, loss: any Loss
    let checkpointing: Checkpointing?
    let distributed: (any DistributedStrategy)?, synchronizer: GradientSynchronizer?
    /// Only process 0 prints, writes checkpoints and runs callbacks.
    let isRoot: Bool, verbose: Verbosity, callbacks: [any Callback]
    private(set) var history = History()
    private var generator: SeededGenerator
    private var resumed: Checkpoint?
    private var bar: ProgressBar?
    var examples: Int { x.shape[0] }
    var steps: Int { (examples + batchSize - 1) / batchSize }

    init(model: Model, x: Tensor, y: Tensor, validation: (x: Tensor, y: Tensor)?, batchSize: Int, epochs: Int, shuffle: Bool,
         verbose: Verbosity, callbacks: [any Callback], seed: UInt64, checkpointing: Checkpointing?, optimizer: any Optimizer,
         loss: any Loss, distributed: (any DistributedStrategy)?) {
        self.model = model; self.x = x; self.y = y; self.validation = validation; self.batchSize = batchSize; self.epochs = epochs
        self.shuffle = shuffle; self.checkpointing = checkpointing; self.optimizer = optimizer; self.loss = loss
        self.distributed = distributed
        synchronizer = distributed.map { GradientSynchronizer(model: model, strategy: $0) }
        isRoot = (distributed?.rank ?? 0) == 0
        self.verbose = isRoot ? verbose : .silent
        self.callbacks = isRoot ? callbacks : []
        generator = SeededGenerator(seed: seed)
    }

    /// Restores the latest checkpoint with `resume`, makes every process start from the same
    /// weights, and starts the callbacks. Returns the first epoch to train (1-based).
    func begin(resume: Bool) throws -> Int {
        if resume {
            guard let checkpointing else { throw ConvKitError("model '\(model.name)': resume needs a checkpoint folder") }
            let c = try Checkpoint.restore(from: checkpointing.folder, model: model, optimizer: optimizer, examples: examples,
                                           batchSize: batchSize, epochs: epochs)
            generator = try SeededGenerator(state: c.shuffleState)
            history = c.history
            resumed = c
            if verbose == .progressBar { Console.line("Resuming from \(checkpointing.folder): epoch \(c.epoch + 1), step \(c.step) of \(steps)") }
        }
        if let distributed, let synchronizer {
            try synchronizer.broadcastParameters()
            // Process 0 keeps the single-process dropout stream; the others draw their own.
            for case let d as Dropout in model.layers where distributed.rank > 0 {
                d.generator = SeededGenerator(seed: d.generator.next() ^ UInt64(distributed.rank) &* 0x9E37_79B9_7F4A_7C15)
            }
        }
        for c in callbacks { try c.trainingWillBegin(model: model) }
        return (resumed?.epoch ?? 0) + 1
    }

    /// The epoch's optimizer steps over a fresh shuffle (from a resumed checkpoint's step when
    /// it stopped inside this epoch); checkpoints every `everySteps` steps. Returns the
    /// epoch's training figures.
    func trainEpoch(_ epoch: Int) throws -> EpochLog {
        for c in callbacks { try c.epochWillBegin(epoch - 1, model: model) }
        if verbose == .progressBar { Console.write("Epoch \(epoch)/\(epochs)\n") }
        bar = ProgressBar(steps: steps, interactive: ProgressBar.stdoutIsTerminal)
        let epochStart = generator.state
        let order = shuffle ? generator.permutation(examples) : Array(0..<examples)
        let started = Date()
        var lossSum = 0.0, correct = 0.0, firstStep = 0
        if let c = resumed, epoch == c.epoch + 1 { (lossSum, correct, firstStep) = (c.lossSum, c.correct, c.step) }
        for step in firstStep..<steps {
            let indices = Array(order[(step * batchSize)..<min((step + 1) * batchSize, examples)])
            let (stepLoss, stepCorrect) = try model.trainStep(x, y, indices, loss: loss, optimizer: optimizer,
                                                              synchronizer: synchronizer, epoch: epoch, step: step + 1)
            lossSum += stepLoss
            correct += stepCorrect
            let seen = Double(min((step + 1) * batchSize, examples))
            if verbose == .progressBar { bar?.update(step: step + 1, metrics: [("loss", lossSum / seen), ("accuracy", correct / seen)]) }
            if let every = checkpointing?.everySteps, every > 0, optimizer.iterations % every == 0, step + 1 < steps {
                try saveCheckpoint(epoch: epoch - 1, step: step + 1, shuffleState: epochStart, lossSum: lossSum, correct: correct)
            }
        }
        let seconds = Date().timeIntervalSince(started), n = Double(examples)
        return EpochLog(epoch: epoch, loss: lossSum / n, accuracy: correct / n, valLoss: nil, valAccuracy: nil,
                        learningRate: Double(optimizer.learningRate), seconds: seconds, imagesPerSecond: n / seconds)
    }

    /// Validation, the epoch in the history and a checkpoint, then the callbacks. Returns
    /// whether training stops (a callback's decision, process 0's when distributed).
    func endEpoch(_ trained: EpochLog) throws -> Bool {
        var log = trained
        try synchronizer?.averageStatistics()
        var shown = [("loss", log.loss), ("accuracy", log.accuracy)]
        if let validation {
            let (vl, va) = try model.evaluate(validation.x, validation.y, batchSize: batchSize, distributed: distributed)
            log.valLoss = Double(vl); log.valAccuracy = Double(va)
            shown += [("val_loss", Double(vl)), ("val_accuracy", Double(va))]
        }
        if verbose == .progressBar { bar?.finish(metrics: shown) }
        history.epochs.append(log)
        try saveCheckpoint(epoch: log.epoch, step: 0, shuffleState: generator.state, lossSum: 0, correct: 0)
        var stop = false
        for c in callbacks where try c.epochDidEnd(log, model: model) { stop = true }
        if let distributed {
            // Guard against rounding drifting apart on many processes, and share process 0's decision.
            try synchronizer?.broadcastParameters()
            var decision: [Float] = [stop ? 1 : 0]
            try decision.withUnsafeMutableBufferPointer { try distributed.broadcast($0, from: 0) }
            stop = decision[0] != 0
        }
        return stop
    }

    func end() throws {
        for c in callbacks { try c.trainingDidEnd(model: model) }
    }

    /// A checkpoint at `epoch` (completed epochs) and `step` (steps done in the next one).
    private func saveCheckpoint(epoch: Int, step: Int, shuffleState: [UInt64], lossSum: Double, correct: Double) throws {
        guard let checkpointing, isRoot else { return }
        var dropout = [String: [UInt64]]()
        for case let d as Dropout in model.layers { dropout[d.name!] = d.generator.state }
        try Checkpoint.save(Checkpoint(model: model.name, examples: examples, batchSize: batchSize, epochs: epochs, epoch: epoch,
                                       step: step, iterations: optimizer.iterations, shuffleState: shuffleState,
                                       dropoutStates: dropout, lossSum: lossSum, correct: correct, history: history),
                            model: model, optimizer: optimizer, in: checkpointing.folder)
    }
}
