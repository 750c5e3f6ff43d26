import ConvKit
import Foundation
import Yams

/// An experiment file: several models trained in turn with one recipe on one dataset,
/// then compared in one report, with the claims under test stated up front.
public struct Experiment: Codable, Sendable {
    public var name: String
    public var title: String?
    public var description: String?
    /// Model files, relative to the experiment file.
    public var models: [String]
    public var data: DataSpec
    public var recipe: Recipe
    /// Overrides of `data` and `recipe` for `--quick` (CI-sized, still real training).
    public var quick: QuickSpec?
    public var claims: [Claim]?
    /// Observations written after looking at the results (Markdown), shown in the report.
    public var notes: String?
    /// A results file from a reference framework (same recipe), relative to the experiment file.
    public var reference: String?
    /// A layer name the models share (`features`): the report tabulates, per model, that
    /// layer's output shape and receptive field, and the parameters and FLOPs of the block of
    /// layers whose names start with it (`features_1`, `features_2`, `features`).
    public var focusLayer: String?

    public struct DataSpec: Codable, Sendable {
        /// `fashion-mnist` (Debian's package) or a folder with IDX files in MNIST naming.
        public var dataset: String? = nil
        public var trainLimit: Int? = nil
        public var testLimit: Int? = nil
        public init(dataset: String? = nil, trainLimit: Int? = nil, testLimit: Int? = nil) {
            self.dataset = dataset; self.trainLimit = trainLimit; self.testLimit = testLimit
        }
        enum CodingKeys: String, CodingKey { case dataset, trainLimit = "train_limit", testLimit = "test_limit" }
    }

    /// The training recipe (`ConvKit.Recipe`), under the `recipe:` key.
    public typealias Recipe = ConvKit.Recipe

    public struct QuickSpec: Codable, Sendable {
        public var trainLimit: Int? = nil
        public var testLimit: Int? = nil
        public var epochs: Int? = nil
        public var seeds: [UInt64]? = nil
        enum CodingKeys: String, CodingKey { case trainLimit = "train_limit", testLimit = "test_limit", epochs, seeds }
    }

    /// A claim compares two models on a metric: `greater` (a beats b), `within` (|a − b| ≤
    /// tolerance) or `ratio` (a / b ≥ at_least). Metrics: test_accuracy, final val_accuracy,
    /// parameters, flops, seconds_per_epoch.
    public struct Claim: Codable, Sendable {
        public var claim: String
        public var greater: [String]? = nil
        public var within: [String]? = nil
        public var ratio: [String]? = nil
        public var metric: String
        public var tolerance: Double? = nil
        public var atLeast: Double? = nil
        enum CodingKeys: String, CodingKey { case claim, greater, within, ratio, metric, tolerance, atLeast = "at_least" }
    }

    /// Where the experiment file lives; model and reference paths are relative to it.
    public var directory = ""

    public init(name: String, title: String? = nil, description: String? = nil, models: [String], data: DataSpec,
                recipe: Recipe, quick: QuickSpec? = nil, claims: [Claim]? = nil, notes: String? = nil, reference: String? = nil) {
        self.name = name; self.title = title; self.description = description; self.models = models; self.data = data
        self.recipe = recipe; self.quick = quick; self.claims = claims; self.notes = notes; self.reference = reference
    }
    enum CodingKeys: String, CodingKey {
        case name, title, description, models, data, recipe, quick, claims, notes, reference, focusLayer = "focus_layer"
    }

    public static func load(path: String) throws -> Experiment {
        var e: Experiment = try decodeExperimentFile(path)
        e.directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return e
    }

    /// The settings with `--quick` applied.
    public func quickened() -> Experiment {
        guard let quick else { return self }
        var e = self
        e.data.trainLimit = quick.trainLimit ?? e.data.trainLimit
        e.data.testLimit = quick.testLimit ?? e.data.testLimit
        e.recipe.epochs = quick.epochs ?? e.recipe.epochs
        e.recipe.seeds = quick.seeds ?? [e.recipe.allSeeds[0]]
        return e
    }

    func resolve(_ relative: String) -> String {
        relative.hasPrefix("/") ? relative : URL(fileURLWithPath: directory).appendingPathComponent(relative).standardized.path
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
    switch error {
    case .keyNotFound(let key, let ctx): return "missing field '\(path(ctx.codingPath + [key]))'"
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "field '\(path(ctx.codingPath))': \(ctx.debugDescription)"
    case .dataCorrupted(let ctx): return "field '\(path(ctx.codingPath))': \(ctx.debugDescription)"
    @unknown default: return "\(error)"
    }
}

/// Decodes an experiment-like YAML file, with errors that name the file and field.
func decodeExperimentFile<T: Decodable>(_ path: String) throws -> T {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        throw ConvKitError("\(path): no such experiment file")
    }
    try rejectSexagesimalNumbers(in: text, source: path)
    do { return try YAMLDecoder().decode(T.self, from: text) } catch let error as DecodingError {
        throw ConvKitError("\(path): \(describe(error))")
    } catch {
        throw ConvKitError("\(path): not a valid experiment file: \(error)")
    }
}

/// Refuses top-level fields of the YAML file at `path` that are not `known` (a misspelt field
/// would otherwise be ignored and its default used without a word).
func rejectUnknownFields(in path: String, known: [String]) throws {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
          let mapping = (try? Yams.compose(yaml: text))??.mapping else { return }
    let unknown = mapping.keys.compactMap(\.string).filter { !known.contains($0) && $0 != "kind" }
    if !unknown.isEmpty {
        throw ConvKitError("\(path): unknown field(s) \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (known: \(known.joined(separator: ", ")))")
    }
}

/// An experiment file: it plans its runs, each run produces a record, and its report is built
/// from the records (`rerender` rebuilds it without training). A comparison of models
/// (`Experiment`, no `kind:`), `kind: initialization` and `kind: random-filters`.
public protocol Study {
    var name: String { get }
    /// The settings with `--quick` applied.
    func quickened() -> Self
    /// Runs the study, writes its report folder, and returns the seconds it took.
    func runAndReport(quick: Bool, folder: String, options: StudyOptions) throws -> Double
    /// Rebuilds the report from the folder's `results.json`, without training.
    func rerender(folder: String) throws
}

/// How a study runs beyond its file. Each study says which it takes and refuses the rest.
public struct StudyOptions {
    /// Which runs to train (`E=128,seed=1`): studies of separate runs (random filters).
    public var only: String?
    /// Under `mpirun`: a study of separate runs gives each rank a share of the runs; a
    /// comparison trains each model data-parallel over the ranks.
    public var distributed: (any DistributedStrategy)?
    /// Checkpoints of every model at the end of each epoch, and resuming from them:
    /// comparisons (studies of separate runs record and resume every run by themselves).
    public var checkpoints: CheckpointOptions?
    public init(only: String? = nil, distributed: (any DistributedStrategy)? = nil, checkpoints: CheckpointOptions? = nil) {
        self.only = only; self.distributed = distributed; self.checkpoints = checkpoints
    }
}

/// The study in the experiment file at `path`: a comparison of models (`Experiment`, no
/// `kind:` or `kind: comparison`), or the study its `kind:` names.
public func loadStudy(path: String) throws -> any Study {
    struct Header: Decodable { var kind: String? }
    let header: Header = try decodeExperimentFile(path)
    switch header.kind ?? "comparison" {
    case "comparison": return try Experiment.load(path: path)
    case "initialization": return try InitializationStudy.load(path: path)
    case "random-filters": return try RandomFilterStudy.load(path: path)
    case let other: throw ConvKitError("\(path): unknown experiment kind '\(other)' (comparison, initialization, random-filters)")
    }
}

/// The `results.json` of a report folder, checked to belong to `experiment`.
func readResults<T: Decodable>(folder: String, experiment: String, as type: T.Type) throws -> T {
    let path = "\(folder)/results.json"
    guard let data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): no results to re-render") }
    do {
        let header = try JSONDecoder().decode(ResultsHeader.self, from: data)
        guard header.experiment == experiment else {
            throw ConvKitError("\(path): results of experiment '\(header.experiment)', not '\(experiment)'")
        }
        return try JSONDecoder().decode(T.self, from: data)
    } catch let error as ConvKitError { throw error } catch {
        throw ConvKitError("\(path): not a results file of this experiment (\(error))")
    }
}

private struct ResultsHeader: Decodable { var experiment: String }

/// Yams decodes YAML 1.1 sexagesimal numbers (`1:30`) into integers and traps when they
/// overflow, so experiment files with such plain scalars are refused before decoding.
func rejectSexagesimalNumbers(in text: String, source: String) throws {
    let node: Yams.Node?
    do { node = try Yams.compose(yaml: text) } catch { throw ConvKitError("\(source): not valid YAML: \(error)") }
    func visit(_ node: Yams.Node) throws {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, scalar.string.range(of: #"^[-+]?[0-9][0-9_]*(:[0-9_]+)+(\.[0-9_]*)?$"#, options: .regularExpression) != nil {
                throw ConvKitError("\(source)\(node.mark.map { ", line \($0.line)" } ?? ""): '\(scalar.string)' reads as a YAML 1.1 base-60 number; write a plain number, or quote it")
            }
        case .mapping(let mapping): for (key, value) in mapping { try visit(key); try visit(value) }
        case .sequence(let sequence): for item in sequence { try visit(item) }
        }
    }
    if let node { try visit(node) }
}
