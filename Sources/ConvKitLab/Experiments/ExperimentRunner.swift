import ConvKit
import Foundation

/// The outcome of training one model: for several seeds, the means, with the per-seed test
/// accuracies kept and the history averaged epoch by epoch.
public struct RunResult: Codable, Sendable {
    public var model: String
    public var seeds: [UInt64] = [0]
    public var testAccuracies: [Double] = []
    public var parameters: Int
    public var trainableParameters: Int
    public var flops: Int
    public var history: History
    public var testLoss: Double
    public var testAccuracy: Double
    public var secondsPerEpoch: Double
    public var imagesPerSecond: Double
    public var summary: String
    /// Each layer's output shape, parameters, FLOPs and receptive field (absent in results
    /// recorded before it existed).
    public var layers: [LayerFacts]?

    /// One row of a model's summary, as data.
    public struct LayerFacts: Codable, Sendable {
        public var name: String, type: String
        public var outputShape: [Int]
        public var parameters: Int, flops: Int
        public var receptiveField: String
        enum CodingKeys: String, CodingKey {
            case name, type, outputShape = "output_shape", parameters, flops, receptiveField = "receptive_field"
        }
    }

    enum CodingKeys: String, CodingKey {
        case layers
        case model, seeds, testAccuracies = "test_accuracies", parameters, trainableParameters = "trainable_parameters", flops, history
        case testLoss = "test_loss", testAccuracy = "test_accuracy", secondsPerEpoch = "seconds_per_epoch"
        case imagesPerSecond = "images_per_second", summary
    }

    /// Standard deviation of the test accuracy over seeds (0 for one seed).
    public var testAccuracySpread: Double {
        let n = Double(testAccuracies.count)
        guard n > 1 else { return 0 }
        let mean = testAccuracies.reduce(0, +) / n
        return (testAccuracies.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
    }

    /// One result from runs of the same model with different seeds.
    static func averaging(_ runs: [RunResult]) -> RunResult {
        guard var out = runs.first, runs.count > 1 else { return runs[0] }
        let n = Double(runs.count)
        func mean(_ f: (RunResult) -> Double) -> Double { runs.map(f).reduce(0, +) / n }
        func meanOptional(_ values: [Double?]) -> Double? {
            values.contains(nil) ? nil : values.map { $0! }.reduce(0, +) / Double(values.count)
        }
        out.seeds = runs.flatMap(\.seeds)
        out.testAccuracies = runs.flatMap(\.testAccuracies)
        out.testAccuracy = mean(\.testAccuracy); out.testLoss = mean(\.testLoss)
        out.secondsPerEpoch = mean(\.secondsPerEpoch); out.imagesPerSecond = mean(\.imagesPerSecond)
        let epochs = runs.map(\.history.epochs.count).min() ?? 0
        out.history.epochs = (0..<epochs).map { e in
            let logs = runs.map { $0.history.epochs[e] }
            func m(_ f: (EpochLog) -> Double) -> Double { logs.map(f).reduce(0, +) / n }
            return EpochLog(epoch: e + 1, loss: m(\.loss), accuracy: m(\.accuracy), valLoss: meanOptional(logs.map(\.valLoss)),
                            valAccuracy: meanOptional(logs.map(\.valAccuracy)), learningRate: m(\.learningRate),
                            seconds: m(\.seconds), imagesPerSecond: m(\.imagesPerSecond))
        }
        return out
    }

    /// A metric by name, for claims and reference comparisons. The `block_…` metrics describe
    /// the block of layers named by `focusLayer` (see `Experiment.focusLayer`).
    public func value(of metric: String, focusLayer: String? = nil) -> Double? {
        if metric.hasPrefix("block_") {
            guard let focusLayer, let layers, let layer = layers.first(where: { $0.name == focusLayer }) else { return nil }
            let block = layers.filter { $0.name.hasPrefix(focusLayer) }
            switch metric {
            case "block_parameters": return Double(block.map(\.parameters).reduce(0, +))
            case "block_flops": return Double(block.map(\.flops).reduce(0, +))
            case "block_output_pixels": return Double(layer.outputShape.dropLast().reduce(1, *))
            case "block_receptive_field": return Double(String(layer.receptiveField.prefix { $0.isNumber }))
            default: return nil
            }
        }
        switch metric {
        case "test_accuracy": return testAccuracy
        case "test_loss": return testLoss
        case "val_accuracy": return history.epochs.last?.valAccuracy
        case "accuracy": return history.epochs.last?.accuracy
        case "parameters": return Double(parameters)
        case "flops": return Double(flops)
        case "seconds_per_epoch": return secondsPerEpoch
        case "images_per_second": return imagesPerSecond
        default: return nil
        }
    }
}

/// A claim with what was measured and whether it held.
public struct ClaimResult: Codable, Sendable {
    public var claim: String
    public var measured: String
    public var held: Bool
    /// False when the outcome is inside the seed-to-seed noise (several seeds only).
    public var settled: Bool? = nil
}

/// Checkpointing for experiment runs: every epoch, and every `everySteps` steps if set;
/// `resume` continues runs that have a checkpoint.
public struct CheckpointOptions: Sendable {
    public var everySteps: Int?
    public var resume: Bool
    public init(everySteps: Int? = nil, resume: Bool = false) { self.everySteps = everySteps; self.resume = resume }
}

public enum ExperimentRunner {
    /// Loads the data, trains every model with the recipe once per seed, evaluates on the test
    /// split. With `saveIn`, each model trained with the first seed is saved in `saveIn/<model>/`
    /// (`Model.save`: `model.json` and `weights.safetensors`), which `convkit evaluate` and
    /// `convkit predict` read.
    ///
    /// With `checkpoints` (and `saveIn`), every run saves checkpoints in
    /// `saveIn/<model>/checkpoint` (`checkpoint-seed<n>` with several seeds); with `resume`, each
    /// run continues from its checkpoint, and a finished run is not trained again.
    ///
    /// With `distributed`, every process runs this with the same experiment: training and
    /// evaluation are shared out (`fit(distributed:)`), and only process 0 saves.
    public static func run(_ e: Experiment, verbose: Verbosity = .progressBar, saveIn folder: String? = nil,
                           checkpoints: CheckpointOptions? = nil, distributed: (any DistributedStrategy)? = nil) throws -> [RunResult] {
        try validate(e)
        let (trainX, trainTargets, testX, testTargets) = try loadData(e.data, relativeTo: e.directory)
        return try e.models.map { file in
            let path = e.resolve(file)
            let runs = try e.recipe.allSeeds.enumerated().map { index, seed -> RunResult in
                let model = try ModelFile.load(path: path, seed: seed)
                if verbose == .progressBar {
                    let of = e.recipe.allSeeds.count > 1 ? ", seed \(seed) (\(index + 1) of \(e.recipe.allSeeds.count))" : ""
                    Console.line("\n== \(model.name): \(groupedDigits(model.parameterCount)) parameters\(of) ==")
                }
                let checkpointing = checkpoints.flatMap { options in
                    folder.map { Checkpointing(folder: "\($0)/\(model.name)/" + (e.recipe.allSeeds.count > 1 ? "checkpoint-seed\(seed)" : "checkpoint"),
                                               everySteps: options.everySteps) }
                }
                let resume = checkpoints?.resume == true && checkpointing.map { FileManager.default.fileExists(atPath: "\($0.folder)/latest") } == true
                let history = try train(model, recipe: e.recipe, x: trainX, y: trainTargets, seed: seed, verbose: verbose,
                                        checkpointing: checkpointing, resume: resume, distributed: distributed)
                let (testLoss, testAccuracy) = try model.evaluate(testX, testTargets, batchSize: 256, distributed: distributed)
                if verbose == .progressBar { Console.line("test_loss: \(String(format: "%.4f", testLoss)) - test_accuracy: \(String(format: "%.4f", testAccuracy))") }
                if let folder, index == 0, (distributed?.rank ?? 0) == 0 {
                    try model.save(to: "\(folder)/\(model.name)")
                }
                let seconds = history.epochs.map(\.seconds).reduce(0, +) / Double(max(history.epochs.count, 1))
                let rate = history.epochs.map(\.imagesPerSecond).reduce(0, +) / Double(max(history.epochs.count, 1))
                return RunResult(model: model.name, seeds: [seed], testAccuracies: [Double(testAccuracy)], parameters: model.parameterCount,
                                 trainableParameters: model.trainableParameterCount, flops: model.flops, history: history,
                                 testLoss: Double(testLoss), testAccuracy: Double(testAccuracy), secondsPerEpoch: seconds,
                                 imagesPerSecond: rate, summary: model.summary(),
                                 layers: model.layerReports.map {
                                     .init(name: $0.name, type: $0.type, outputShape: $0.outputShape, parameters: $0.parameters,
                                           flops: $0.flops, receptiveField: $0.receptiveField.description)
                                 })
            }
            return RunResult.averaging(runs)
        }
    }

    /// Compiles `model` with the recipe's optimizer, schedule and loss, and fits it.
    @discardableResult
    public static func train(_ model: Model, recipe: Experiment.Recipe, x: Tensor, y: Tensor, seed: UInt64,
                             verbose: Verbosity = .progressBar, checkpointing: Checkpointing? = nil, resume: Bool = false,
                             callbacks: [any Callback] = [], distributed: (any DistributedStrategy)? = nil) throws -> History {
        let steps = (Int((Double(x.shape[0]) * (1 - (recipe.validationSplit ?? 0))).rounded(.up)) + recipe.batchSize - 1) / recipe.batchSize
        model.compile(optimizer: try recipe.makeOptimizer(totalSteps: steps * recipe.epochs),
                      loss: recipe.makeLoss())
        return try model.fit(x, y, batchSize: recipe.batchSize, epochs: recipe.epochs, validationSplit: recipe.validationSplit ?? 0,
                             verbose: verbose, callbacks: callbacks, seed: seed, checkpointing: checkpointing, resume: resume,
                             distributed: distributed)
    }

    /// The training and test images (scaled to [0, 1]) and one-hot targets of `spec`; a
    /// relative dataset folder is taken relative to `directory` (the experiment file's).
    public static func loadData(_ spec: Experiment.DataSpec, relativeTo directory: String)
        throws -> (trainX: Tensor, trainY: Tensor, testX: Tensor, testY: Tensor) {
        let folder = spec.dataset.flatMap { name -> String? in
            if name == "fashion-mnist" { return nil }
            return name.hasPrefix("/") ? name : URL(fileURLWithPath: directory).appendingPathComponent(name).standardized.path
        } ?? FashionMNIST.defaultDirectory
        var (trainX, trainY) = try FashionMNIST.load(.train, directory: folder)
        var (testX, testY) = try FashionMNIST.load(.test, directory: folder)
        if let n = spec.trainLimit { trainX = trainX.slice(batch: 0..<min(n, trainX.shape[0])); trainY = trainY.slice(batch: 0..<trainX.shape[0]) }
        if let n = spec.testLimit { testX = testX.slice(batch: 0..<min(n, testX.shape[0])); testY = testY.slice(batch: 0..<testX.shape[0]) }
        return (trainX, try OneHot.encode(trainY, classes: 10), testX, try OneHot.encode(testY, classes: 10))
    }

    /// Checks what can be checked before any training: the model files parse, the recipe
    /// names a known optimizer and schedule, and every claim names models and metrics that exist.
    public static func validate(_ e: Experiment) throws {
        guard !e.models.isEmpty else { throw ConvKitError("experiment '\(e.name)': no models") }
        guard e.recipe.epochs >= 1, e.recipe.batchSize >= 1, !e.recipe.allSeeds.isEmpty else {
            throw ConvKitError("experiment '\(e.name)': epochs, batch_size and the seed list must be positive")
        }
        let names = try e.models.map { file -> String in
            let model = try ModelFile.load(path: e.resolve(file))
            guard model.outputShape == [10] else {
                throw ConvKitError("\(e.resolve(file)): model '\(model.name)' outputs \(kerasShape(model.outputShape)); a classifier of the 10 classes must output (None, 10)")
            }
            return model.name
        }
        try e.recipe.validate()
        var metrics = ["test_accuracy", "test_loss", "val_accuracy", "accuracy", "parameters", "flops", "seconds_per_epoch", "images_per_second"]
        if e.focusLayer != nil { metrics += ["block_parameters", "block_flops", "block_output_pixels", "block_receptive_field"] }
        for c in e.claims ?? [] {
            let pair = c.greater ?? c.within ?? c.ratio ?? []
            guard pair.count == 2 else { throw ConvKitError("claim '\(c.claim)': needs greater, within or ratio with two model names") }
            if let unknown = pair.first(where: { !names.contains($0) }) {
                throw ConvKitError("claim '\(c.claim)': no model named '\(unknown)' (models: \(names.joined(separator: ", ")))")
            }
            guard metrics.contains(c.metric) else {
                throw ConvKitError("claim '\(c.claim)': unknown metric '\(c.metric)' (\(metrics.joined(separator: ", ")))")
            }
        }
    }

    /// Evaluates each claim against the results.
    public static func check(_ claims: [Experiment.Claim], _ results: [RunResult], focusLayer: String? = nil) throws -> [ClaimResult] {
        try claims.map { c in
            guard let pair = c.greater ?? c.within ?? c.ratio, pair.count == 2 else {
                throw ConvKitError("claim '\(c.claim)': needs greater, within or ratio with two model names")
            }
            func value(_ model: String) throws -> Double {
                guard let r = results.first(where: { $0.model == model }) else { throw ConvKitError("claim '\(c.claim)': no model named '\(model)'") }
                guard let v = r.value(of: c.metric, focusLayer: focusLayer) else {
                    throw ConvKitError("claim '\(c.claim)': model '\(model)' has no metric '\(c.metric)'")
                }
                return v
            }
            let (a, b) = (try value(pair[0]), try value(pair[1]))
            // With several seeds, say when a test-accuracy difference is inside the noise.
            var noise = ""
            if c.metric == "test_accuracy", let ra = results.first(where: { $0.model == pair[0] }),
               let rb = results.first(where: { $0.model == pair[1] }), ra.testAccuracies.count > 1, rb.testAccuracies.count > 1 {
                let error = (pow(ra.testAccuracySpread, 2) / Double(ra.testAccuracies.count)
                             + pow(rb.testAccuracySpread, 2) / Double(rb.testAccuracies.count)).squareRoot()
                if abs(a - b) < 2 * error {
                    noise = String(format: "; within 2 standard errors (%.2f points) of the seed-to-seed spread, so not settled", 2 * error * 100)
                }
            }
            let show = { (v: Double) in c.metric.contains("accuracy") ? String(format: "%.2f%%", v * 100) : String(format: "%.4g", v) }
            if c.greater != nil {
                let margin = c.metric.contains("accuracy") ? String(format: "%+.2f points", (a - b) * 100) : String(format: "%+.4g", a - b)
                return ClaimResult(claim: c.claim, measured: "\(pair[0]) \(show(a)) vs \(pair[1]) \(show(b)) (\(margin))\(noise)", held: a > b, settled: noise.isEmpty ? nil : false)
            }
            if c.within != nil {
                let tolerance = c.tolerance ?? 0.01
                return ClaimResult(claim: c.claim, measured: "\(pair[0]) \(show(a)) vs \(pair[1]) \(show(b)) (difference \(show(abs(a - b))), tolerance \(show(tolerance)))\(noise)",
                                   held: abs(a - b) <= tolerance, settled: noise.isEmpty ? nil : false)
            }
            let ratio = a / b
            return ClaimResult(claim: c.claim, measured: "\(pair[0]) / \(pair[1]) on \(c.metric) = \(String(format: "%.2f", ratio))×",
                               held: ratio >= (c.atLeast ?? 1))
        }
    }
}
