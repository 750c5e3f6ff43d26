import Foundation

/// How much `fit` prints.
public enum Verbosity: Sendable {
    case silent
    /// The Keras-2 progress bar, redrawn in place on a terminal; one line per epoch otherwise.
    case progressBar
}

extension Model {
    /// Keras' `compile`: the optimizer and loss that `fit` and `evaluate` use.
    public func compile(optimizer: any Optimizer, loss: any Loss) {
        self.optimizer = optimizer
        self.loss = loss
    }

    /// Keras' `fit`. `y` holds one-hot rows or class indices, as the loss expects.
    /// `validationSplit` takes the *last* fraction of the examples before shuffling (as Keras
    /// does); `validationData` takes precedence over it. Shuffling draws from `seed` (by
    /// default the model's seed), so one seed on one thread gives one history.
    ///
    /// With `checkpointing`, a checkpoint is saved at the end of every epoch (and every
    /// `everySteps` steps); with `resume`, training continues from the latest checkpoint in
    /// that folder, and ends with the same weights as a run that was never interrupted.
    /// Callbacks start their own bookkeeping afresh on resume.
    ///
    /// With `distributed`, every process calls `fit` with the same data and seed: each trains
    /// on its share of every batch, the gradients are summed across processes, and every
    /// process takes the same step, so the weights stay equal everywhere. The loss, accuracy
    /// and validation figures are the global batch's. BatchNormalization computes its batch
    /// statistics on each process's share (as PyTorch's DDP does) and the moving statistics are
    /// averaged at the end of every epoch; Dropout draws different masks on each process.
    /// Only process 0 prints, writes checkpoints and runs the callbacks (its decision to stop
    /// is shared).
    @discardableResult
    public func fit(_ x: Tensor, _ y: Tensor, batchSize: Int = 32, epochs: Int = 1, validationSplit: Double = 0,
                    validationData: (x: Tensor, y: Tensor)? = nil, shuffle: Bool = true, verbose: Verbosity = .progressBar,
                    callbacks: [any Callback] = [], seed: UInt64? = nil, checkpointing: Checkpointing? = nil,
                    resume: Bool = false, distributed: (any DistributedStrategy)? = nil) throws -> History {
        guard let optimizer, let loss else { throw ConvKitError("model '\(name)': call compile(optimizer:loss:) before fit") }
        try checkData(x, y, "training")
        guard batchSize >= 1, epochs >= 0 else { throw ConvKitError("batch size must be positive and epochs non-negative") }
        guard (0..<1).contains(validationSplit) else { throw ConvKitError("validation split must be in [0, 1), got \(validationSplit)") }
        var (trainX, trainY) = (x, y)
        var validation = validationData
        if validation == nil && validationSplit > 0 {
            let n = x.shape[0], splitAt = Int((Double(n) * (1 - validationSplit)).rounded(.up))
            guard splitAt > 0 && splitAt < n else {
                throw ConvKitError("validation split \(validationSplit) of \(n) examples leaves an empty part")
            }
            trainX = x.slice(batch: 0..<splitAt); trainY = y.slice(batch: 0..<splitAt)
            validation = (x.slice(batch: splitAt..<n), y.slice(batch: splitAt..<n))
        }
        if let validation { try checkData(validation.x, validation.y, "validation") }

        let run = TrainingRun(model: self, x: trainX, y: trainY, validation: validation, batchSize: batchSize, epochs: epochs,
                              shuffle: shuffle, verbose: verbose, callbacks: callbacks, seed: seed ?? self.seed &+ 0x5EED,
                              checkpointing: checkpointing, optimizer: optimizer, loss: loss, distributed: distributed)
        let firstEpoch = try run.begin(resume: resume)
        for epoch in stride(from: firstEpoch, through: epochs, by: 1) {
            let log = try run.trainEpoch(epoch)
            if try run.endEpoch(log) { break }
        }
        try run.end()
        return run.history
    }

    /// One optimizer step on a batch: forward, backward (on this process's share of the batch,
    /// with `synchronizer`, and the gradients summed over processes) and the update, which a
    /// non-finite loss stops before it touches the weights. Returns the batch's summed loss and
    /// correct count.
    func trainStep(_ x: Tensor, _ y: Tensor, _ indices: [Int], loss: any Loss, optimizer: any Optimizer,
                           synchronizer: GradientSynchronizer?, epoch: Int, step: Int) throws -> (loss: Double, correct: Double) {
        func checkFinite(_ lossSum: Double) throws {
            let value = lossSum / Double(indices.count)
            guard value.isFinite else {
                throw ConvKitError("model '\(name)': the loss became \(value) at epoch \(epoch), step \(step); lower the learning rate or check the data")
            }
        }
        let part = synchronizer.map { Array(indices[$0.strategy.share(of: indices.count)]) } ?? indices
        var lossSum = 0.0, correct = 0.0, gradient: Tensor?
        if !part.isEmpty {
            let (bx, by) = (x.gather(batch: part), y.gather(batch: part))
            let predictions = try forward(bx, training: true)
            let (value, g) = try loss.compute(predictions: predictions, targets: by)
            lossSum = Double(value) * Double(part.count)
            correct = Double(try Accuracy.compute(predictions: predictions, targets: by)) * Double(part.count)
            gradient = g
        }
        guard let synchronizer else {
            try checkFinite(lossSum)
            try backward(gradient!, applying: optimizer)
            return (lossSum, correct)
        }
        try synchronizer.backward(gradient, share: Float(part.count) / Float(indices.count))
        let total = try synchronizer.strategy.sum([Float(lossSum), Float(correct)])
        try checkFinite(Double(total[0]))
        optimizer.apply(to: self)
        return (Double(total[0]), Double(total[1]))
    }

    /// Mean loss and accuracy over `x`, in inference mode, batch by batch. With `distributed`,
    /// each process evaluates its share of the examples and all get the overall figures.
    public func evaluate(_ x: Tensor, _ y: Tensor, batchSize: Int = 32,
                         distributed: (any DistributedStrategy)? = nil) throws -> (loss: Float, accuracy: Float) {
        guard let loss else { throw ConvKitError("model '\(name)': call compile(optimizer:loss:) before evaluate") }
        try checkData(x, y, "evaluation")
        let n = x.shape[0], part = distributed?.share(of: n) ?? 0..<n
        var lossSum = 0.0, correct = 0.0
        for start in stride(from: part.lowerBound, to: part.upperBound, by: max(batchSize, 1)) {
            let range = start..<min(start + batchSize, part.upperBound)
            let (bx, by) = (x.slice(batch: range), y.slice(batch: range))
            let p = try predict(bx)
            lossSum += Double(try loss.compute(predictions: p, targets: by).value) * Double(range.count)
            correct += Double(try Accuracy.compute(predictions: p, targets: by)) * Double(range.count)
        }
        if let distributed {
            let total = try distributed.sum([Float(lossSum), Float(correct)])
            (lossSum, correct) = (Double(total[0]), Double(total[1]))
        }
        return (Float(lossSum / Double(n)), Float(correct / Double(n)))
    }

    /// Inference on many examples, `batchSize` at a time.
    public func predict(_ x: Tensor, batchSize: Int) throws -> Tensor {
        let n = x.shape[0]
        var scalars = [Float]()
        for start in stride(from: 0, to: n, by: max(batchSize, 1)) {
            scalars += try predict(x.slice(batch: start..<min(start + batchSize, n))).scalars
        }
        return Tensor(shape: [n] + outputShape, scalars: scalars)
    }

    func checkData(_ x: Tensor, _ y: Tensor, _ what: String) throws {
        guard x.rank >= 1, x.shape[0] > 0 else { throw ConvKitError("\(what) data is empty") }
        guard Array(x.shape.dropFirst()) == inputShape else {
            throw ConvKitError("\(what) examples have shape \(kerasShape(Array(x.shape.dropFirst()))), model '\(name)' expects \(kerasShape(inputShape))")
        }
        guard y.rank >= 1, y.shape[0] == x.shape[0] else {
            throw ConvKitError("\(what) data has \(x.shape[0]) examples but \(y.rank >= 1 ? y.shape[0] : 0) targets")
        }
        try x.requireFinite("\(what) inputs")
        try y.requireFinite("\(what) targets")
    }
}
