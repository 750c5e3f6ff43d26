import Foundation

/// Where and how often `fit` saves a checkpoint: at the end of every epoch, and every
/// `everySteps` optimizer steps if set.
public struct Checkpointing: Sendable {
    public var folder: String
    public var everySteps: Int?
    public init(folder: String, everySteps: Int? = nil) {
        self.folder = folder; self.everySteps = everySteps
    }
}

/// Everything a resumed `fit` needs to continue exactly where a run stopped: the weights
/// (moving statistics included), the optimizer's state and step count, the position in the
/// epoch, the shuffling generator as it was when the epoch began, the dropout generators,
/// the running sums of the epoch, and the history so far.
///
/// A checkpoint is a folder `step-<n>` of three files written durably; the file `latest`
/// names the newest complete one and is replaced last, by a rename. A run killed at any
/// moment leaves the previous checkpoint intact and named by `latest`.
struct Checkpoint: Codable {
    var model: String
    var examples: Int, batchSize: Int, epochs: Int
    /// Completed epochs, and steps done in the epoch after them.
    var epoch: Int, step: Int
    var iterations: Int
    /// The shuffling generator at the start of epoch `epoch + 1`.
    var shuffleState: [UInt64]
    var dropoutStates: [String: [UInt64]]
    var lossSum: Double, correct: Double
    var history: History

    static func save(_ c: Checkpoint, model: Model, optimizer: any Optimizer, in folder: String) throws {
        // Never replace a good checkpoint with a broken model.
        if let bad = model.parameters.first(where: { $0.parameter.value.scalars.contains { !$0.isFinite } }) {
            throw ConvKitError("model '\(model.name)': '\(bad.key)' holds NaN or infinite values at epoch \(c.epoch + 1), step \(c.step); training stopped, the last good checkpoint in \(folder) is kept")
        }
        try makeDirectory(folder)
        let name = "step-\(c.iterations)", directory = "\(folder)/\(name)"
        try makeDirectory(directory)
        try model.saveWeights(to: "\(directory)/weights.safetensors")
        try writeDurably(try SafeTensors.encode(optimizer.exportState(), metadata: ["format": "convkit-optimizer"]),
                         to: "\(directory)/optimizer.safetensors")
        try writeDurably(Array(try json(c).utf8), to: "\(directory)/state.json")
        let previous = try? String(contentsOfFile: "\(folder)/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try writeDurably(Array((name + "\n").utf8), to: "\(folder)/latest")
        if let previous, previous != name, previous.hasPrefix("step-") {
            try? FileManager.default.removeItem(atPath: "\(folder)/\(previous)")
        }
    }

    /// Loads the latest checkpoint of `folder` into `model` and `optimizer`, after checking
    /// that it belongs to this model and this training set-up.
    static func restore(from folder: String, model: Model, optimizer: any Optimizer, examples: Int, batchSize: Int,
                        epochs: Int) throws -> Checkpoint {
        guard let latest = try? String(contentsOfFile: "\(folder)/latest", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), latest.hasPrefix("step-"), !latest.contains("/") else {
            throw ConvKitError("\(folder): no checkpoint to resume from (the file 'latest' is missing or invalid)")
        }
        let directory = "\(folder)/\(latest)"
        guard let data = FileManager.default.contents(atPath: "\(directory)/state.json") else {
            throw ConvKitError("\(directory)/state.json: missing")
        }
        let c: Checkpoint
        do { c = try JSONDecoder().decode(Checkpoint.self, from: data) } catch {
            throw ConvKitError("\(directory)/state.json: not a ConvKit checkpoint (\(error))")
        }
        guard c.model == model.name else { throw ConvKitError("\(directory): a checkpoint of model '\(c.model)', not '\(model.name)'") }
        guard c.examples == examples, c.batchSize == batchSize else {
            throw ConvKitError("\(directory): saved while training on \(c.examples) examples in batches of \(c.batchSize); this run has \(examples) in batches of \(batchSize)")
        }
        guard c.epochs == epochs else {
            throw ConvKitError("\(directory): saved for a run of \(c.epochs) epochs; this run asks for \(epochs)")
        }
        try model.loadWeights(from: "\(directory)/weights.safetensors")
        guard let state = FileManager.default.contents(atPath: "\(directory)/optimizer.safetensors") else {
            throw ConvKitError("\(directory)/optimizer.safetensors: missing")
        }
        do {
            try optimizer.importState(try SafeTensors.decode([UInt8](state), source: "\(directory)/optimizer.safetensors"),
                                      iterations: c.iterations)
        } catch let error as ConvKitError { throw ConvKitError("\(directory): \(error.description)") }
        optimizer.reattach(to: model)
        for case let dropout as Dropout in model.layers {
            guard let words = c.dropoutStates[dropout.name!] else { throw ConvKitError("\(directory): no dropout state for '\(dropout.name!)'") }
            dropout.generator = try SeededGenerator(state: words)
        }
        return c
    }
}
