import ConvKit
import Foundation

/// `convkit train`: one model file trained with one recipe into a report folder. The job is
/// saved there as `train.json`, so that a killed run resumes from its last checkpoint with the
/// same settings (`load(from:)`, then `run(resume: true)`).
public struct TrainingJob: Codable, Sendable {
    public var file: String, epochs: Int, batchSize: Int, limit: Int?, testLimit: Int?, validationSplit: Double
    public var optimizer: OptimizerKind, learningRate: Float?, momentum: Float, seed: UInt64, data: String?, checkpointEvery: Int?
    // Optional so that the train.json of earlier versions still resumes.
    public var nesterov: Bool?, weightDecay: Float?, weightDecayMode: WeightDecayMode?, schedule: ScheduleKind?, labelSmoothing: Float?

    /// `file` and `data` are made absolute, so that the saved job resumes from anywhere.
    public init(file: String, recipe: Recipe, limit: Int?, testLimit: Int?, data: String?, checkpointEvery: Int?) {
        self.file = URL(fileURLWithPath: file).standardized.path
        epochs = recipe.epochs; batchSize = recipe.batchSize; self.limit = limit; self.testLimit = testLimit
        validationSplit = recipe.validationSplit ?? 0; optimizer = recipe.optimizer; learningRate = recipe.learningRate
        momentum = recipe.momentum; seed = recipe.seed ?? 0; self.data = data.map { URL(fileURLWithPath: $0).standardized.path }
        self.checkpointEvery = checkpointEvery; nesterov = recipe.nesterov; weightDecay = recipe.weightDecay
        weightDecayMode = recipe.weightDecayMode; schedule = recipe.schedule; labelSmoothing = recipe.labelSmoothing
    }

    public var recipe: Recipe {
        Recipe(epochs: epochs, batchSize: batchSize, validationSplit: validationSplit, optimizer: optimizer, learningRate: learningRate,
               momentum: momentum, nesterov: nesterov ?? false, weightDecay: weightDecay, weightDecayMode: weightDecayMode ?? .decoupled,
               schedule: schedule ?? .constant, labelSmoothing: labelSmoothing ?? 0, seed: seed)
    }

    /// The model file's name: the report's title and default folder.
    public var name: String { URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent }

    /// The job saved by `save(in:)` in a report folder.
    public static func load(from folder: String) throws -> TrainingJob {
        let path = "\(folder)/train.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvKitError("\(path): missing; --resume needs the report folder of a `convkit train` run")
        }
        do { return try JSONDecoder().decode(TrainingJob.self, from: data) } catch {
            throw ConvKitError("\(path): not the settings of a `convkit train` run (\(error))")
        }
    }

    public func save(in folder: String) throws {
        try makeDirectory(folder)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeDurably([UInt8](try encoder.encode(self)), to: "\(folder)/train.json")
    }

    /// Trains and writes the report into `folder`; returns the seconds it took. Under mpirun
    /// (`distributed`) the model trains data-parallel and rank 0 reports.
    public func run(folder: String, resume: Bool, distributed: (any DistributedStrategy)?) throws -> Double {
        try recipe.validate()
        let experiment = Experiment(name: name, title: "Training \(name)", models: [file],
                                    data: .init(dataset: data, trainLimit: limit, testLimit: testLimit), recipe: recipe)
        return try experiment.runAndReport(quick: false, folder: folder, options: StudyOptions(
            distributed: distributed, checkpoints: CheckpointOptions(everySteps: checkpointEvery, resume: resume)))
    }
}
