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

    enum CodingKeys: String, CodingKey {
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

    /// A metric by name, for claims and reference comparisons.
    public func value(of metric: String) -> Double? {
        switch metric {
        case "test_accuracy": testAccuracy
        case "test_loss": testLoss
        case "val_accuracy": history.epochs.last?.valAccuracy
        case "accuracy": history.epochs.last?.accuracy
        case "parameters": Double(parameters)
        case "flops": Double(flops)
        case "seconds_per_epoch": secondsPerEpoch
        case "images_per_second": imagesPerSecond
        default: nil
        }
    }
}

/// A claim with what was measured and whether it held.
public struct ClaimResult: Codable, Sendable {
    public var claim: String
    public var measured: String
    public var held: Bool
}

public enum ExperimentRunner {
    /// Loads the data, trains every model with the recipe once per seed, evaluates on the test
    /// split. With `saveIn`, each model trained with the first seed goes to `saveIn/<model>/` as
    /// `model.yaml` and `weights.safetensors`, which `convkit evaluate` and `convkit predict` read.
    public static func run(_ e: Experiment, verbose: Verbosity = .progressBar, saveIn folder: String? = nil) throws -> [RunResult] {
        try validate(e)
        let directory = e.data.dataset.flatMap { $0 == "fashion-mnist" ? nil : e.resolve($0) } ?? FashionMNIST.defaultDirectory
        var (trainX, trainY) = try FashionMNIST.load(split: "train", directory: directory)
        var (testX, testY) = try FashionMNIST.load(split: "t10k", directory: directory)
        if let n = e.data.trainLimit { trainX = trainX.slice(batch: 0..<min(n, trainX.shape[0])); trainY = trainY.slice(batch: 0..<trainX.shape[0]) }
        if let n = e.data.testLimit { testX = testX.slice(batch: 0..<min(n, testX.shape[0])); testY = testY.slice(batch: 0..<testX.shape[0]) }
        let classes = 10
        let trainTargets = try OneHot.encode(trainY, classes: classes), testTargets = try OneHot.encode(testY, classes: classes)

        return try e.models.map { file in
            let path = e.resolve(file)
            let runs = try e.recipe.allSeeds.enumerated().map { index, seed -> RunResult in
                let model = try ModelFile.load(path: path, seed: seed)
                if verbose == .progressBar {
                    let of = e.recipe.allSeeds.count > 1 ? ", seed \(seed) (\(index + 1) of \(e.recipe.allSeeds.count))" : ""
                    Console.line("\n== \(model.name): \(groupedDigits(model.parameterCount)) parameters\(of) ==")
                }
                let steps = (Int((Double(trainX.shape[0]) * (1 - (e.recipe.validationSplit ?? 0))).rounded(.up)) + e.recipe.batchSize - 1) / e.recipe.batchSize
                model.compile(optimizer: try makeOptimizer(e.recipe, totalSteps: steps * e.recipe.epochs),
                              loss: CategoricalCrossentropy(labelSmoothing: e.recipe.labelSmoothing ?? 0))
                let history = try model.fit(trainX, trainTargets, batchSize: e.recipe.batchSize, epochs: e.recipe.epochs,
                                            validationSplit: e.recipe.validationSplit ?? 0, verbose: verbose, seed: seed)
                let (testLoss, testAccuracy) = try model.evaluate(testX, testTargets, batchSize: 256)
                if verbose == .progressBar { Console.line("test_loss: \(String(format: "%.4f", testLoss)) - test_accuracy: \(String(format: "%.4f", testAccuracy))") }
                if let folder, index == 0 {
                    let dir = "\(folder)/\(model.name)"
                    try makeDirectory(dir)
                    try writeText(try String(contentsOfFile: path, encoding: .utf8), to: "\(dir)/model.yaml")
                    try model.saveWeights(to: "\(dir)/weights.safetensors")
                }
                let seconds = history.epochs.map(\.seconds).reduce(0, +) / Double(max(history.epochs.count, 1))
                let rate = history.epochs.map(\.imagesPerSecond).reduce(0, +) / Double(max(history.epochs.count, 1))
                return RunResult(model: model.name, seeds: [seed], testAccuracies: [Double(testAccuracy)], parameters: model.parameterCount,
                                 trainableParameters: model.trainableParameterCount, flops: model.flops, history: history,
                                 testLoss: Double(testLoss), testAccuracy: Double(testAccuracy), secondsPerEpoch: seconds,
                                 imagesPerSecond: rate, summary: model.summary())
            }
            return RunResult.averaging(runs)
        }
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
        _ = try makeOptimizer(e.recipe, totalSteps: 1)
        let metrics = ["test_accuracy", "test_loss", "val_accuracy", "accuracy", "parameters", "flops", "seconds_per_epoch", "images_per_second"]
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

    static func makeOptimizer(_ r: Experiment.Recipe, totalSteps: Int) throws -> any Optimizer {
        let schedule: any LearningRateSchedule
        switch r.schedule ?? "constant" {
        case "constant": schedule = ConstantSchedule(r.learningRate ?? (r.optimizer == "adam" ? 0.001 : 0.01))
        case "cosine": schedule = CosineSchedule(initial: r.learningRate ?? 0.01, decaySteps: totalSteps)
        case let other: throw ConvKitError("recipe: unknown schedule '\(other)' (constant, cosine)")
        }
        let decay: WeightDecay = r.weightDecay.map { .decoupled($0) } ?? .none
        switch r.optimizer ?? "sgd" {
        case "sgd": return SGD(schedule: schedule, momentum: r.momentum ?? 0, nesterov: r.nesterov ?? false, weightDecay: decay)
        case "adam": return Adam(schedule: schedule, weightDecay: decay)
        case let other: throw ConvKitError("recipe: unknown optimizer '\(other)' (sgd, adam)")
        }
    }

    /// Evaluates each claim against the results.
    public static func check(_ claims: [Experiment.Claim], _ results: [RunResult]) throws -> [ClaimResult] {
        try claims.map { c in
            guard let pair = c.greater ?? c.within ?? c.ratio, pair.count == 2 else {
                throw ConvKitError("claim '\(c.claim)': needs greater, within or ratio with two model names")
            }
            func value(_ model: String) throws -> Double {
                guard let r = results.first(where: { $0.model == model }) else { throw ConvKitError("claim '\(c.claim)': no model named '\(model)'") }
                guard let v = r.value(of: c.metric) else { throw ConvKitError("claim '\(c.claim)': unknown metric '\(c.metric)'") }
                return v
            }
            let (a, b) = (try value(pair[0]), try value(pair[1]))
            let show = { (v: Double) in c.metric.contains("accuracy") ? String(format: "%.2f%%", v * 100) : String(format: "%.4g", v) }
            if c.greater != nil {
                let margin = c.metric.contains("accuracy") ? String(format: "%+.2f points", (a - b) * 100) : String(format: "%+.4g", a - b)
                return ClaimResult(claim: c.claim, measured: "\(pair[0]) \(show(a)) vs \(pair[1]) \(show(b)) (\(margin))", held: a > b)
            }
            if c.within != nil {
                let tolerance = c.tolerance ?? 0.01
                return ClaimResult(claim: c.claim, measured: "\(pair[0]) \(show(a)) vs \(pair[1]) \(show(b)) (difference \(show(abs(a - b))), tolerance \(show(tolerance)))",
                                   held: abs(a - b) <= tolerance)
            }
            let ratio = a / b
            return ClaimResult(claim: c.claim, measured: "\(pair[0]) / \(pair[1]) on \(c.metric) = \(String(format: "%.2f", ratio))×",
                               held: ratio >= (c.atLeast ?? 1))
        }
    }
}
