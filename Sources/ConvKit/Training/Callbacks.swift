import Foundation

/// Hooks into `fit`. Every method has an empty default.
public protocol Callback: AnyObject {
    func trainingWillBegin(model: Model) throws
    func epochWillBegin(_ epoch: Int, model: Model) throws
    /// Return true to stop training after this epoch.
    func epochDidEnd(_ log: EpochLog, model: Model) throws -> Bool
    func trainingDidEnd(model: Model) throws
}

extension Callback {
    public func trainingWillBegin(model: Model) throws {}
    public func epochWillBegin(_ epoch: Int, model: Model) throws {}
    public func epochDidEnd(_ log: EpochLog, model: Model) throws -> Bool { false }
    public func trainingDidEnd(model: Model) throws {}
}

/// Keras' CSVLogger: one row per epoch, written as the epoch ends.
public final class CSVLogger: Callback {
    public let path: String
    private var handle: FileHandle?

    public init(path: String) { self.path = path }

    public func trainingWillBegin(model: Model) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data((History.csvHeader + "\n").utf8)),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw ConvKitError("\(path): cannot create the CSV log")
        }
        try handle.seekToEnd()
        self.handle = handle
    }

    public func epochDidEnd(_ log: EpochLog, model: Model) throws -> Bool {
        do { try handle?.write(contentsOf: Data((History.csvRow(log) + "\n").utf8)) } catch {
            throw ConvKitError("\(path): cannot write the CSV log (\(error.localizedDescription))")
        }
        return false
    }

    public func trainingDidEnd(model: Model) throws { try handle?.close(); handle = nil }
}

/// Keras' EarlyStopping: stops when `monitor` has not improved by `minDelta` for `patience`
/// epochs; optionally puts back the weights of the best epoch.
public final class EarlyStopping: Callback {
    public let monitor: String, patience: Int, minDelta: Double, restoreBestWeights: Bool
    public private(set) var bestEpoch: Int?
    private var best: Double?, wait = 0, bestWeights: [Tensor] = []

    public init(monitor: String = "val_loss", patience: Int = 0, minDelta: Double = 0, restoreBestWeights: Bool = false) {
        self.monitor = monitor; self.patience = patience; self.minDelta = minDelta; self.restoreBestWeights = restoreBestWeights
    }

    private var lowerIsBetter: Bool { monitor.hasSuffix("loss") }

    public func trainingWillBegin(model: Model) throws { best = nil; wait = 0; bestEpoch = nil }

    public func epochDidEnd(_ log: EpochLog, model: Model) throws -> Bool {
        guard let value = log.value(of: monitor) else {
            throw ConvKitError("EarlyStopping: metric '\(monitor)' is not available (loss, accuracy, val_loss, val_accuracy; val_ needs validation data)")
        }
        let improved = best.map { lowerIsBetter ? value < $0 - minDelta : value > $0 + minDelta } ?? true
        if improved {
            best = value; bestEpoch = log.epoch; wait = 0
            if restoreBestWeights { bestWeights = model.parameters.map(\.parameter.value) }
            return false
        }
        wait += 1
        return wait > patience
    }

    public func trainingDidEnd(model: Model) throws {
        guard restoreBestWeights, !bestWeights.isEmpty else { return }
        for (p, value) in zip(model.parameters.map(\.parameter), bestWeights) { p.value = value }
    }
}

/// Keras' LearningRateScheduler: sets the rate at the start of each epoch from
/// `(epoch, current rate)`; epochs count from 0 as in Keras.
public final class LearningRateScheduler: Callback {
    private let rule: (Int, Float) -> Float
    public init(_ rule: @escaping (Int, Float) -> Float) { self.rule = rule }

    public func epochWillBegin(_ epoch: Int, model: Model) throws {
        guard let optimizer = model.optimizer else { return }
        optimizer.schedule = ConstantSchedule(rule(epoch, optimizer.learningRate))
    }
}
