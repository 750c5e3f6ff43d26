import ArgumentParser
import ConvKit
import ConvKitLab
import Foundation

struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Train the models of an experiment in turn and write one report (tables, curves, claims checked).")

    @Argument(help: "An experiment name (experiments/NAME.yaml) or the path of an experiment file.")
    var name: String

    @Flag(help: "A reduced run for CI: fewer images and epochs, still real training on real data.")
    var quick = false

    @Option(help: "Report folder (default: reports/NAME, or reports/NAME-quick).")
    var out: String?

    @Flag(help: "Save a checkpoint of every model at the end of each epoch (model comparisons).")
    var checkpoint = false

    @Flag(help: "Continue from the checkpoints in the report folder: finished models are not trained again.")
    var resume = false

    @Option(help: "Studies of separate runs (seed002): train only these runs, e.g. E=128 or seed=1,variant=frozen (keys E, k, seed, variant, and between=none|relu|batch_norm|batch_norm_relu for the ablation).")
    var only: String?

    func run() throws {
        var study = try loadStudy(path: try locateExperiment(name))
        if quick { study = study.quickened() }
        let folder = out ?? "reports/\(study.name)\(quick ? "-quick" : "")"
        // Under mpirun a study of separate runs shares its runs over the ranks; a comparison
        // trains each model data-parallel.
        try withDistribution(gradientBucketSize: nil, announce: study is Experiment ? "Data-parallel training on" : "Study runs shared over") { distributed in
            let options = StudyOptions(only: only, distributed: distributed,
                                       checkpoints: checkpoint || resume ? CheckpointOptions(resume: resume) : nil)
            let seconds = try study.runAndReport(quick: quick, folder: folder, options: options)
            if (distributed?.rank ?? 0) == 0 {
                Console.line("\nDone in \(Int(seconds))s. Report: \(folder)/report.html (also report.md, results.json, figures)")
            }
        }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Rebuild an experiment's report from its results.json (after editing the experiment's notes), without training.")

    @Argument(help: "An experiment name or file.") var name: String
    @Option(help: "Report folder (default: reports/NAME).") var out: String?

    func run() throws {
        let study = try loadStudy(path: try locateExperiment(name))
        let folder = out ?? "reports/\(study.name)"
        try study.rerender(folder: folder)
        Console.line("Report: \(folder)/report.html")
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train one model file on Fashion-MNIST (or an IDX folder) and write a report; checkpoints every epoch.",
        discussion: """
            The report folder keeps the settings (train.json) and a checkpoint of the model, the optimizer and the \
            position in the data. `convkit train --resume DIR` continues a killed run from its last checkpoint with \
            those settings, and ends with the same weights as a run that was never interrupted (same seed, same threads).
            """)

    @Argument(help: "A model description file (not with --resume).") var file: String?
    @Option(help: "Epochs.") var epochs = 10
    @Option(help: "Batch size.") var batchSize = 128
    @Option(help: "Use the first N training images.") var limit: Int?
    @Option(help: "Use the first N test images.") var testLimit: Int?
    @Option(help: "Fraction of the training images kept for validation (the last part).") var validationSplit = 0.2
    @Option(help: "sgd or adam.") var optimizer = OptimizerKind.sgd
    @Option(help: "Learning rate (default 0.01 for SGD, 0.001 for Adam).") var learningRate: Float?
    @Option(help: "SGD momentum.") var momentum: Float = 0
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "Weight decay rate.") var weightDecay: Float?
    @Option(help: "decoupled (Keras, AdamW) or coupled (PyTorch's SGD: added to the gradient).") var weightDecayMode = WeightDecayMode.decoupled
    @Option(help: "constant or cosine (annealed to 0 over the run).") var schedule = ScheduleKind.constant
    @Option(help: "Label smoothing of the cross-entropy.") var labelSmoothing: Float = 0
    @Option(help: "Seed for weights and shuffling.") var seed: UInt64 = 0
    @Option(help: "A folder of IDX files in MNIST naming (default: Debian's Fashion-MNIST).") var data: String?
    @Option(help: "Report folder (default: reports/MODEL).") var out: String?
    @Option(help: "Also checkpoint every N optimizer steps (a checkpoint is always saved at the end of each epoch).")
    var checkpointEvery: Int?
    @Option(help: "Continue the run whose report folder is DIR from its last checkpoint, with the settings saved there.")
    var resume: String?
    @Option(help: "Under mpirun: sum gradients in buckets of at least N floats, started during backward; 0 sums once after backward (the default when all ranks share one machine; 262144 across machines).")
    var bucketSize: Int?

    func run() throws {
        let job: TrainingJob, folder: String
        if let resume {
            guard file == nil else { throw ValidationError("--resume takes the model and settings from \(resume)/train.json; give no model file") }
            (job, folder) = (try TrainingJob.load(from: resume), resume)
        } else {
            guard let file else { throw ValidationError("give a model file, or --resume DIR") }
            let recipe = Recipe(epochs: epochs, batchSize: batchSize, validationSplit: validationSplit, optimizer: optimizer,
                                learningRate: learningRate, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay,
                                weightDecayMode: weightDecayMode, schedule: schedule, labelSmoothing: labelSmoothing, seed: seed)
            try recipe.validate()
            job = TrainingJob(file: file, recipe: recipe, limit: limit, testLimit: testLimit, data: data, checkpointEvery: checkpointEvery)
            folder = out ?? "reports/\(job.name)"
        }
        try withDistribution(gradientBucketSize: bucketSize) { distributed in
            let isRoot = (distributed?.rank ?? 0) == 0
            if resume == nil && isRoot { try job.save(in: folder) }
            let seconds = try job.run(folder: folder, resume: resume != nil, distributed: distributed)
            if isRoot { Console.line("Done in \(Int(seconds))s. Report: \(folder)/report.html (also report.md, results.json, figures)") }
        }
    }
}

/// `NAME` as a path, or `experiments/NAME.yaml` here or beside the repository the binary was built in.
func locateExperiment(_ name: String) throws -> String {
    if FileManager.default.fileExists(atPath: name) { return name }
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let candidates = ["experiments/\(name).yaml",
                      executable.deletingLastPathComponent().appendingPathComponent("../../experiments/\(name).yaml").standardized.path]
    guard let found = candidates.first(where: FileManager.default.fileExists(atPath:)) else {
        throw ConvKitError("no experiment '\(name)': looked for \(candidates.joined(separator: " and "))")
    }
    return found
}

extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension WeightDecayMode: ExpressibleByArgument {}
