import ConvKit
import Foundation

/// Results of the same recipe in a reference framework (made by a script in `scripts/`).
public struct ReferenceResults: Codable, Sendable {
    public struct ModelResult: Codable, Sendable {
        public var testAccuracy: Double
        /// One per seed, when the reference ran several.
        public var testAccuracies: [Double]?
        public var accuracy: [Double]?
        public var valAccuracy: [Double]?
        public var secondsPerEpoch: Double?
        enum CodingKeys: String, CodingKey {
            case testAccuracy = "test_accuracy", testAccuracies = "test_accuracies", accuracy, valAccuracy = "val_accuracy", secondsPerEpoch = "seconds_per_epoch"
        }
    }
    public var framework: String
    public var command: String?
    public var settings: String?
    public var models: [String: ModelResult]
}

/// Writes an experiment's report folder: per model `history.csv`, `history.json` and
/// `summary.txt`; then `results.json`, accuracy and loss figures (SVG and PNG), `report.md`
/// and a self-contained `report.html`.
public struct ExperimentReport {
    public var experiment: Experiment
    public var quick: Bool
    public var results: [RunResult]
    public var claims: [ClaimResult]
    public var reference: ReferenceResults?

    public init(experiment: Experiment, quick: Bool, results: [RunResult], claims: [ClaimResult], reference: ReferenceResults?) {
        self.experiment = experiment; self.quick = quick; self.results = results; self.claims = claims; self.reference = reference
    }

    public func write(to folder: String) throws {
        try makeDirectory(folder)
        for r in results {
            let dir = "\(folder)/\(r.model)"
            try makeDirectory(dir)
            try writeText(r.history.csv, to: "\(dir)/history.csv")
            try writeText(json(r.history), to: "\(dir)/history.json")
            try writeText(r.summary + "\n", to: "\(dir)/summary.txt")
        }
        try writeText(json(ResultsFile(experiment: experiment.name, quick: quick, recipe: experiment.recipe, data: experiment.data,
                                       models: results, claims: claims, reference: reference)), to: "\(folder)/results.json")
        try curves("accuracy", "val_accuracy", title: "Accuracy", axis: "accuracy").write(to: "\(folder)/accuracy")
        try curves("loss", "val_loss", title: "Loss", axis: "categorical cross-entropy").write(to: "\(folder)/loss")
        if results.count > 1 { try parametersAgainstAccuracy().write(to: "\(folder)/parameters-accuracy") }
        try writeText(markdown(), to: "\(folder)/report.md")
        try writeText(html(folder: folder), to: "\(folder)/report.html")
    }

    /// Rebuilds the report of `folder` from its `results.json`, with the texts (title,
    /// description, notes) and claims of `experiment` as they are now: no training needed.
    public static func rerender(folder: String, experiment: Experiment) throws {
        let saved = try readResults(folder: folder, experiment: experiment.name, as: ResultsFile.self)
        var e = experiment
        e.recipe = saved.recipe; e.data = saved.data
        let claims = try ExperimentRunner.check(experiment.claims ?? [], saved.models, focusLayer: experiment.focusLayer)
        try ExperimentReport(experiment: e, quick: saved.quick, results: saved.models, claims: claims,
                             reference: saved.reference).write(to: folder)
    }

    private struct ResultsFile: Codable {
        var experiment: String, quick: Bool, recipe: Experiment.Recipe, data: Experiment.DataSpec
        var models: [RunResult], claims: [ClaimResult], reference: ReferenceResults?
    }

    /// Train solid, validation dashed, one colour per model.
    private func curves(_ train: String, _ validation: String, title: String, axis: String) -> LineChart {
        var series = [LineChart.Series]()
        for (i, r) in results.enumerated() {
            let epochs = r.history.epochs
            series.append(.init(label: "\(r.model) train", points: epochs.map { (Double($0.epoch), $0.value(of: train) ?? .nan) }, colorIndex: i))
            if epochs.contains(where: { $0.value(of: validation) != nil }) {
                series.append(.init(label: "\(r.model) val", points: epochs.map { (Double($0.epoch), $0.value(of: validation) ?? .nan) },
                                    colorIndex: i, dashed: true))
            }
        }
        return LineChart(title: "\(experiment.title ?? experiment.name): \(title.lowercased())", xLabel: "epoch", yLabel: axis, series: series)
    }

    /// One dot per model: what its parameters buy.
    private func parametersAgainstAccuracy() -> LineChart {
        LineChart(title: "\(experiment.title ?? experiment.name): parameters against test accuracy", xLabel: "parameters (log scale)",
                  yLabel: "test accuracy",
                  series: results.enumerated().map { i, r in
                      .init(label: r.model, points: [(Double(r.parameters), r.testAccuracy)], colorIndex: i, markers: true, line: false)
                  }, logX: true)
    }

    private func percent(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "–" }

    /// Mean test accuracy in %, with ± the spread over seeds when there are several.
    private func testAccuracy(_ mean: Double, _ runs: [Double]?) -> String {
        guard let runs, runs.count > 1 else { return percent(mean) }
        let m = runs.reduce(0, +) / Double(runs.count)
        let sd = (runs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(runs.count - 1)).squareRoot()
        return "\(percent(mean)) ± \(String(format: "%.2f", sd * 100))"
    }

    func markdown() -> String {
        let r = experiment.recipe
        var md = "# \(experiment.title ?? experiment.name)\n\n"
        if let d = experiment.description { md += d.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" }
        md += "## Setup\n\n"
        md += "- Data: \(experiment.data.dataset ?? "fashion-mnist"), \(experiment.data.trainLimit.map { "the first \(groupedDigits($0))" } ?? "all") training images"
        md += " (validation split \(r.validationSplit ?? 0), the last part before shuffling), \(experiment.data.testLimit.map(groupedDigits) ?? "all") test images.\n"
        md += "- Recipe: \(r.epochs) epochs, batch \(r.batchSize), \(r.description)"
        let seeds = r.allSeeds
        md += seeds.count > 1 ? ", \(seeds.count) seeds (\(seeds.map(String.init).joined(separator: ", "))): tables and curves show means, test accuracy ± its standard deviation over seeds." : ", seed \(seeds[0])."
        md += "\(quick ? " **Quick run** (`--quick`): reduced data and epochs, for CI; the figures are not the experiment's." : "")\n\n"

        md += "## Results\n\n| Model | Params | FLOPs/image | Train acc % | Val acc % | Test acc % | Test loss | s/epoch | images/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for x in results {
            let last = x.history.epochs.last
            md += "| \(x.model) | \(groupedDigits(x.parameters)) | \(groupedDigits(x.flops)) | \(percent(last?.accuracy)) | \(percent(last?.valAccuracy)) | \(testAccuracy(x.testAccuracy, x.testAccuracies)) | \(String(format: "%.4f", x.testLoss)) | \(String(format: "%.1f", x.secondsPerEpoch)) | \(String(format: "%.0f", x.imagesPerSecond)) |\n"
        }
        md += "\n### Accuracy per epoch (train / validation, %)\n\n| Epoch | " + results.map(\.model).joined(separator: " | ") + " |\n|---|" + String(repeating: "---:|", count: results.count) + "\n"
        for e in 0..<(results.map(\.history.epochs.count).max() ?? 0) {
            md += "| \(e + 1) | " + results.map { x in
                guard e < x.history.epochs.count else { return "" }
                let log = x.history.epochs[e]
                return "\(percent(log.accuracy)) / \(percent(log.valAccuracy))"
            }.joined(separator: " | ") + " |\n"
        }
        if let focus = experiment.focusLayer {
            md += "\n### The compared layers\n\nLayer `\(focus)` in each model, and the block of layers whose names start with `\(focus)` (one layer, or a stack).\n\n"
            md += "| Model | Block | Output shape | Receptive field | Block params | Block FLOPs/image | Model params | Test acc % |\n|---|---|---|---|---:|---:|---:|---:|\n"
            for x in results {
                guard let layers = x.layers, let layer = layers.first(where: { $0.name == focus }) else { continue }
                let block = layers.filter { $0.name.hasPrefix(focus) }
                md += "| \(x.model) | \(block.map { "\($0.name) (\($0.type))" }.joined(separator: " → ")) | \(kerasShape(layer.outputShape)) | \(layer.receptiveField) | \(groupedDigits(block.map(\.parameters).reduce(0, +))) | \(groupedDigits(block.map(\.flops).reduce(0, +))) | \(groupedDigits(x.parameters)) | \(testAccuracy(x.testAccuracy, x.testAccuracies)) |\n"
            }
        }
        md += "\n![accuracy](accuracy.svg)\n\n![loss](loss.svg)\n"
        if results.count > 1 { md += "\n![parameters against accuracy](parameters-accuracy.svg)\n" }

        if let reference {
            md += "\n## Against \(reference.framework)\n\nThe same models and recipe trained in \(reference.framework)"
            md += reference.command.map { " (`\($0)`)" } ?? ""
            md += reference.settings.map { "; \($0)" } ?? ""
            md += ".\n\n| Model | ConvKit test acc % | \(reference.framework) test acc % | Difference (points) | Within 2 points |\n|---|---:|---:|---:|---|\n"
            for x in results {
                guard let ref = reference.models[x.model] else { continue }
                let diff = (x.testAccuracy - ref.testAccuracy) * 100
                md += "| \(x.model) | \(testAccuracy(x.testAccuracy, x.testAccuracies)) | \(testAccuracy(ref.testAccuracy, ref.testAccuracies)) | \(String(format: "%+.2f", diff)) | \(abs(diff) <= 2 ? "yes" : "**no**") |\n"
            }
            if quick { md += "\nThe reference ran the full recipe; a quick run is not comparable with it.\n" }
        }

        if !claims.isEmpty {
            md += "\n## The seed's claims, checked here\n\n| Claim | Measured | Held here |\n|---|---|---|\n"
            for c in claims {
                let verdict = (c.held ? "yes" : "**no**") + (c.settled == false ? " (within noise)" : "")
                md += "| \(c.claim) | \(c.measured) | \(verdict) |\n"
            }
        }
        if let notes = experiment.notes, !quick {
            md += "\n## Notes\n\n" + notes.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
        }
        md += "\nEach model's layer table is in `<model>/summary.txt`, and its per-epoch history in `<model>/history.csv`.\n"
        return md
    }

    /// The Markdown as HTML, with the SVG figures inlined so the file stands alone.
    func html(folder: String) throws -> String {
        try HTMLReport.render(markdown: markdown(), title: experiment.title ?? experiment.name, folder: folder)
    }
}
