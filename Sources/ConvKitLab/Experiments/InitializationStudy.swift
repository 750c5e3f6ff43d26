import ConvKit
import Foundation

/// Seed 001's questions about initialising filters, answered by measurement:
/// 1. **Scale by depth**: the standard deviation of activations and of gradients at every
///    layer of a deep plain CNN (no BatchNorm) at initialisation, for each scheme.
/// 2. **Which schemes train**: a short training run of that CNN per scheme.
/// 3. **Symmetry**: with all-equal weights, every filter of a layer gets the same gradient,
///    so the filters are still identical after training (measured against a random init).
/// 4. **Filters before and after training**, as pictures, with their diversity.
/// 5. **Hand-set filters** (Sobel, the X shape) and their feature maps on a real image.
public struct InitializationStudy: Codable, Sendable, Study {
    public var name: String
    public var title: String?
    public var description: String?
    public var data: Experiment.DataSpec
    /// The deep plain CNN: `depth` × Conv2D(width, 3×3, same, ReLU), global average pooling, Dense.
    public var depth = 20
    public var width = 16
    /// Training images in the one batch that measures the scales.
    public var scalesBatch = 128
    public var schemes: [Scheme]
    /// Used by every training run of the study.
    public var recipe: Experiment.Recipe
    /// The all-equal initialiser of the symmetry test, and the random one it is compared with.
    public var symmetric: String
    public var asymmetric: String
    /// The model whose first-layer filters are pictured before and after training, and the
    /// name of that layer.
    public var filtersModel: String
    public var filtersLayer: String
    public var quick: Experiment.QuickSpec?
    public var notes: String?
    public var directory = ""

    /// A named initialiser, written as in model files (`he_normal`, `{random_normal: {stddev: 0.01}}`).
    public struct Scheme: Codable, Sendable {
        public var label: String
        public var initializer: String
    }

    enum CodingKeys: String, CodingKey {
        case name, title, description, data, depth, width, scalesBatch = "scales_batch", schemes, recipe, symmetric, asymmetric
        case filtersModel = "filters_model", filtersLayer = "filters_layer", quick, notes
    }

    public static func load(path: String) throws -> InitializationStudy {
        var study: InitializationStudy = try decodeExperimentFile(path)
        study.directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return study
    }

    public func quickened() -> InitializationStudy {
        guard let quick else { return self }
        var s = self
        s.data.trainLimit = quick.trainLimit ?? s.data.trainLimit
        s.data.testLimit = quick.testLimit ?? s.data.testLimit
        s.recipe.epochs = quick.epochs ?? s.recipe.epochs
        s.scalesBatch = min(s.scalesBatch, 32)
        return s
    }

    /// The plain CNN with every kernel drawn from `initializer`, as a model file.
    public func plainNetwork(_ initializer: String, name: String) -> String {
        var text = "name: \(name)\ninput: [28, 28, 1]\nlayers:\n"
        for i in 1...depth {
            text += "  - Conv2D: {filters: \(width), kernel_size: 3, padding: same, activation: relu, kernel_initializer: \(initializer), name: conv\(i)}\n"
        }
        text += "  - GlobalAveragePooling2D\n  - Dense: {units: 10, activation: softmax, kernel_initializer: \(initializer), name: classifier}\n"
        return text
    }

    /// The small CNN of the symmetry test.
    public func symmetryNetwork(_ initializer: String, name: String) -> String {
        """
        name: \(name)
        input: [28, 28, 1]
        layers:
          - Conv2D: {filters: 8, kernel_size: 3, activation: relu, kernel_initializer: \(initializer), name: conv1}
          - MaxPooling2D: 2
          - Conv2D: {filters: 8, kernel_size: 3, activation: relu, kernel_initializer: \(initializer), name: conv2}
          - MaxPooling2D: 2
          - Flatten
          - Dense: {units: 10, activation: softmax, kernel_initializer: \(initializer), name: classifier}
        """
    }

    // MARK: Results

    public struct SchemeResult: Codable, Sendable {
        public var label: String, initializer: String
        public var scales: [LayerScale]
        public var history: History
        public var testAccuracy: Double
        /// Why training stopped early (a NaN loss), if it did.
        public var failure: String?
        enum CodingKeys: String, CodingKey { case label, initializer, scales, history, testAccuracy = "test_accuracy", failure }
    }

    public struct SymmetryResult: Codable, Sendable {
        public var initializer: String
        /// Per convolution layer: the largest distance between two of its filters, relative to
        /// the largest filter norm, before and after training.
        public var spreadBefore: [String: Double], spreadAfter: [String: Double]
        public var testAccuracy: Double
        enum CodingKeys: String, CodingKey { case initializer, spreadBefore = "spread_before", spreadAfter = "spread_after", testAccuracy = "test_accuracy" }
    }

    public struct Results: Codable, Sendable {
        public var experiment: String
        public var quick: Bool
        public var schemes: [SchemeResult]
        public var symmetry: [SymmetryResult]
        public var filtersEntropyBefore: Double, filtersEntropyAfter: Double
        /// `FilterStatistics.edgeLikeness` of the pictured filters (absent for kernels under 3×3).
        public var filtersEdgeLikenessBefore: Double?, filtersEdgeLikenessAfter: Double?
        public var filtersTestAccuracy: Double
        public var seconds: Double
        enum CodingKeys: String, CodingKey {
            case experiment, quick, schemes, symmetry, filtersEntropyBefore = "filters_entropy_before"
            case filtersEntropyAfter = "filters_entropy_after", filtersTestAccuracy = "filters_test_accuracy", seconds
            case filtersEdgeLikenessBefore = "filters_edge_likeness_before", filtersEdgeLikenessAfter = "filters_edge_likeness_after"
        }
    }

    // MARK: Running

    /// Runs every part and writes the report folder.
    public func run(quick: Bool, folder: String) throws -> Results {
        let started = Date()
        let seed = recipe.allSeeds[0]
        let (trainX, trainY, testX, testY) = try ExperimentRunner.loadData(data, relativeTo: directory)
        try makeDirectory(folder)

        // 1 and 2: scales at initialisation, then a short training run, per scheme.
        let batch = min(scalesBatch, trainX.shape[0])
        let (scaleX, scaleY) = (trainX.slice(batch: 0..<batch), trainY.slice(batch: 0..<batch))
        var schemeResults = [SchemeResult]()
        for scheme in schemes {
            let model = try ModelFile.parse(plainNetwork(scheme.initializer, name: "plain\(depth)"),
                                            source: "scheme '\(scheme.label)'", seed: seed)
            let scales = try model.layerScales(scaleX, targets: scaleY, loss: CategoricalCrossentropy())
            Console.line("\n== \(scheme.label): activation std layer 1 \(format(scales.first?.activationStd)), layer \(depth) \(format(scales.dropLast().last?.activationStd)) ==")
            // A scheme that makes the loss explode is a result, not the end of the study.
            var history = History(), failure: String?
            do { history = try ExperimentRunner.train(model, recipe: recipe, x: trainX, y: trainY, seed: seed) } catch let error as ConvKitError {
                failure = error.description
                Console.line("stopped: \(error.description)")
            }
            let accuracy = failure == nil ? Double(try model.evaluate(testX, testY, batchSize: 256).accuracy) : 0
            schemeResults.append(SchemeResult(label: scheme.label, initializer: scheme.initializer, scales: scales,
                                              history: history, testAccuracy: accuracy, failure: failure))
        }

        // 3: symmetry.
        var symmetry = [SymmetryResult]()
        for initializer in [symmetric, asymmetric] {
            Console.line("\n== symmetry: every kernel \(initializer) ==")
            let model = try ModelFile.parse(symmetryNetwork(initializer, name: "symmetry"), source: "symmetry test", seed: seed)
            let convs = ["conv1", "conv2"]
            func spreads() -> [String: Double] {
                Dictionary(uniqueKeysWithValues: convs.map { ($0, FilterStatistics.filterSpread(model.parameter("\($0).kernel")!.value)) })
            }
            let before = spreads()
            try ExperimentRunner.train(model, recipe: recipe, x: trainX, y: trainY, seed: seed)
            symmetry.append(SymmetryResult(initializer: initializer, spreadBefore: before, spreadAfter: spreads(),
                                           testAccuracy: Double(try model.evaluate(testX, testY, batchSize: 256).accuracy)))
        }

        // 4: filters before and after training.
        let filtersPath = filtersModel.hasPrefix("/") ? filtersModel
            : URL(fileURLWithPath: directory).appendingPathComponent(filtersModel).standardized.path
        let pictured = try ModelFile.load(path: filtersPath, seed: seed)
        guard let kernel = pictured.parameter("\(filtersLayer).kernel"), kernel.value.rank == 4 else {
            throw ConvKitError("\(filtersPath): no 2-D convolution layer named '\(filtersLayer)' to picture")
        }
        Console.line("\n== filters of \(pictured.name), layer \(filtersLayer) ==")
        let before = kernel.value
        try ExperimentRunner.train(pictured, recipe: recipe, x: trainX, y: trainY, seed: seed)
        let after = kernel.value
        let columns = min(8, before.shape[3])
        try ImageGrid(title: "\(pictured.name) layer '\(filtersLayer)' at initialisation", tiles: ImageGrid.filters(of: before),
                      columns: columns).write(to: "\(folder)/filters-before")
        try ImageGrid(title: "\(pictured.name) layer '\(filtersLayer)' after training", tiles: ImageGrid.filters(of: after),
                      columns: columns).write(to: "\(folder)/filters-after")
        let filtersAccuracy = Double(try pictured.evaluate(testX, testY, batchSize: 256).accuracy)

        // 5: hand-set filters on a real test image.
        try handSetFigures(image: testX.slice(batch: 0..<1), folder: folder)

        let results = Results(experiment: name, quick: quick, schemes: schemeResults, symmetry: symmetry,
                              filtersEntropyBefore: try FilterStatistics.varianceEntropy(before),
                              filtersEntropyAfter: try FilterStatistics.varianceEntropy(after),
                              filtersEdgeLikenessBefore: try? FilterStatistics.edgeLikeness(before),
                              filtersEdgeLikenessAfter: try? FilterStatistics.edgeLikeness(after),
                              filtersTestAccuracy: filtersAccuracy, seconds: Date().timeIntervalSince(started))
        try writeReport(results, folder: folder)
        return results
    }

    private func handSetFigures(image: Tensor, folder: String) throws {
        let filters = [("Sobel x", HandSetFilter.sobelX), ("Sobel y", HandSetFilter.sobelY), ("X shape", HandSetFilter.xShape)]
        var kernel = [Float](repeating: 0, count: 9 * filters.count)
        for (f, (_, values)) in filters.enumerated() { for t in 0..<9 { kernel[t * filters.count + f] = values.scalars[t] } }
        let conv = try Model(sequential: [Conv2D(filters: filters.count, kernelSize: 3, padding: .same, useBias: false,
                                                 kernelInitializer: .values(Tensor(shape: [3, 3, 1, filters.count], scalars: kernel)))],
                             inputShape: [28, 28, 1])
        let maps = try conv.predict(image)
        try ImageGrid(title: "Hand-set 3×3 filters", tiles: filters.map { .init(height: 3, width: 3, values: $0.1.scalars, caption: $0.0) },
                      columns: 3, pixel: 24).write(to: "\(folder)/handset-filters")
        try ImageGrid(title: "A test image and its feature maps", tiles: [ImageGrid.image(image, caption: "input")]
                      + filters.indices.map { ImageGrid.image(maps, channel: $0, caption: filters[$0].0) },
                      columns: 4, pixel: 5).write(to: "\(folder)/handset-maps")
    }

    public func runAndReport(quick: Bool, folder: String, options: StudyOptions) throws -> Double {
        guard options.only == nil, options.distributed == nil, options.checkpoints == nil else {
            throw ConvKitError("\(name): --only, mpirun, --checkpoint and --resume do not apply to this study")
        }
        return try run(quick: quick, folder: folder).seconds
    }

    // MARK: Report

    /// Rebuilds the report of `folder` from its `results.json` with the texts of this file as
    /// they are now: no training needed.
    public func rerender(folder: String) throws {
        let results: Results = try readResults(folder: folder, experiment: name, as: Results.self)
        try writeReport(results, folder: folder)
    }

    private func format(_ v: Double?) -> String { v.map { String(format: "%.3g", $0) } ?? "–" }

    func writeReport(_ r: Results, folder: String) throws {
        try writeText(json(r), to: "\(folder)/results.json")
        func depthChart(_ title: String, _ axis: String, _ value: (LayerScale) -> Double) -> LineChart {
            LineChart(title: title, xLabel: "layer (conv1 … conv\(depth), then the classifier)", yLabel: axis,
                      series: r.schemes.enumerated().map { i, s in
                          .init(label: s.label, points: s.scales.enumerated().map { (Double($0.offset + 1), value($0.element)) },
                                colorIndex: i, dashed: i >= LineChart.palette.count, markers: true)
                      }, logY: true)
        }
        try depthChart("Activation scale by depth at initialisation", "std of the layer output (log scale)", \.activationStd)
            .write(to: "\(folder)/activation-std")
        try depthChart("Gradient scale by depth at initialisation", "std of ∂loss/∂output (log scale)", \.gradientStd)
            .write(to: "\(folder)/gradient-std")
        try LineChart(title: "Training the plain \(depth)-layer CNN: loss per epoch", xLabel: "epoch", yLabel: "training loss",
                      series: r.schemes.enumerated().map { i, s in
                          .init(label: s.label, points: s.history.epochs.map { (Double($0.epoch), $0.loss) }, colorIndex: i,
                                dashed: i >= LineChart.palette.count, markers: true)
                      }).write(to: "\(folder)/training-loss")
        try writeText(markdown(r), to: "\(folder)/report.md")
        try writeText(try HTMLReport.render(markdown: markdown(r), title: title ?? name, folder: folder), to: "\(folder)/report.html")
    }

    func markdown(_ r: Results) -> String {
        var md = "# \(title ?? name)\n\n"
        if let d = description { md += d.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" }
        md += "## Setup\n\n"
        md += "- Plain CNN: \(depth) × Conv2D(\(width), 3×3, same, ReLU, no BatchNorm), global average pooling, Dense(10, softmax); every kernel from the scheme, biases zero.\n"
        md += "- Scales: one batch of \(scalesBatch) training images, categorical cross-entropy, training-mode forward and backward at initialisation.\n"
        md += "- Training runs: \(data.trainLimit.map { "the first \(groupedDigits($0))" } ?? "all") Fashion-MNIST training images (validation split \(recipe.validationSplit ?? 0)), \(recipe.epochs) epoch(s), batch \(recipe.batchSize), \(recipe.description)"
        md += "; test accuracy on \(data.testLimit.map(groupedDigits) ?? "all") test images; seed \(recipe.allSeeds[0]).\(r.quick ? " **Quick run** (`--quick`): fewer images and epochs, for CI." : "")\n"
        md += "- Time: \(Int(r.seconds)) s on this machine.\n\n"

        md += "## 1. Activation and gradient scale by depth\n\n"
        let probes = [1, depth / 4, depth / 2, depth].filter { $0 >= 1 }
        md += "| Scheme | Initializer | " + probes.map { "act std L\($0)" }.joined(separator: " | ") + " | grad std L1 | grad std L\(depth) | act L\(depth)/L1 |\n"
        md += "|---|---|" + String(repeating: "---:|", count: probes.count + 3) + "\n"
        for s in r.schemes {
            let act = { (i: Int) in i - 1 < s.scales.count ? s.scales[i - 1].activationStd : .nan }
            let ratio = act(1) > 0 ? String(format: "%.3g", act(depth) / act(1)) : "–"
            md += "| \(s.label) | `\(s.initializer)` | " + probes.map { format(act($0)) }.joined(separator: " | ")
            md += " | \(format(s.scales.first?.gradientStd)) | \(format(depth - 1 < s.scales.count ? s.scales[depth - 1].gradientStd : nil)) | \(ratio) |\n"
        }
        md += "\nZero is not drawn on a log scale: a scheme whose line stops has reached exactly 0.\n\n"
        md += "![activation std](activation-std.svg)\n\n![gradient std](gradient-std.svg)\n\n"

        md += "## 2. Which schemes train\n\n| Scheme | Train loss epoch 1 | Train loss last | Train acc % | Val acc % | Test acc % | Trains? |\n|---|---:|---:|---:|---:|---:|---|\n"
        for s in r.schemes {
            let first = s.history.epochs.first, last = s.history.epochs.last
            let trains = s.testAccuracy > 0.2 ? "yes" : s.failure != nil ? "**no** (diverged: \(s.failure!))" : "**no**"
            md += "| \(s.label) | \(format(first?.loss)) | \(format(last?.loss)) | \(percent(last?.accuracy)) | \(percent(last?.valAccuracy)) | \(percent(s.testAccuracy)) | \(trains) |\n"
        }
        md += "\n\"Trains\" means a test accuracy above 20% (chance is 10%).\n\n![training loss](training-loss.svg)\n\n"

        md += "## 3. Symmetry: all-equal weights never break it\n\n"
        md += "A small CNN (Conv2D(8, 3×3) → max-pool → Conv2D(8, 3×3) → max-pool → Dense) trained with the same recipe, every kernel from one initializer. "
        md += "Spread = the largest distance between two filters of the layer divided by the largest filter norm; 0 means every filter is the same.\n\n"
        md += "| Initializer | conv1 spread before | conv1 spread after | conv2 spread before | conv2 spread after | Test acc % |\n|---|---:|---:|---:|---:|---:|\n"
        for s in r.symmetry {
            md += "| `\(s.initializer)` | \(format(s.spreadBefore["conv1"])) | \(format(s.spreadAfter["conv1"])) | \(format(s.spreadBefore["conv2"])) | \(format(s.spreadAfter["conv2"])) | \(percent(s.testAccuracy)) |\n"
        }
        if let equal = r.symmetry.first {
            let kept = (equal.spreadAfter.values.max() ?? 1) == 0
            md += "\nMeasured: with `\(equal.initializer)` the filters of each layer are \(kept ? "still exactly identical" : "no longer identical (largest spread \(format(equal.spreadAfter.values.max())))") after training.\n\n"
        }

        md += "## 4. Filters before and after training\n\n"
        md += "Layer `\(filtersLayer)` of `\(URL(fileURLWithPath: filtersModel).lastPathComponent)`, input channel 0, each filter scaled to its own range (black = lowest weight). "
        md += "Filter-variance entropy (1 = spread evenly over all directions, as random filters are; lower = fewer distinct patterns): "
        md += String(format: "%.3f before, %.3f after", r.filtersEntropyBefore, r.filtersEntropyAfter)
        md += ". Test accuracy after training: \(percent(r.filtersTestAccuracy))%."
        if let b = r.filtersEdgeLikenessBefore, let a = r.filtersEdgeLikenessAfter {
            md += " Edge likeness (the best |cosine| with an oriented edge detector, averaged over the filters; a Sobel filter scores 0.996, random 7×7 filters about 0.2): "
            md += String(format: "%.3f before, %.3f after.", b, a)
        }
        md += "\n\n"
        md += "![filters before](filters-before.svg)\n\n![filters after](filters-after.svg)\n\n"

        md += "## 5. Hand-set filters\n\nThe filters are set, not learned: Sobel x responds to vertical edges, Sobel y to horizontal ones, and the X shape to diagonal crossings. Below, their responses on the first Fashion-MNIST test image (bright = strong positive response).\n\n"
        md += "![hand-set filters](handset-filters.svg)\n\n![feature maps](handset-maps.svg)\n"
        md += "\n## The seed's claims, checked here\n\n| Claim | Measured | Held here |\n|---|---|---|\n"
        for c in claims(r) { md += "| \(c.claim) | \(c.measured) | \(c.held.map { $0 ? "yes" : "**no**" } ?? "shown, not scored") |\n" }
        if let notes, !r.quick { md += "\n## Notes\n\n" + notes.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" }
        return md
    }

    private func percent(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "–" }

    /// The seed's statements, each with what was measured; `held` is nil for what the report
    /// shows as pictures only.
    func claims(_ r: Results) -> [(claim: String, measured: String, held: Bool?)] {
        var out = [(String, String, Bool?)]()
        if let equal = r.symmetry.first, let random = r.symmetry.last, r.symmetry.count == 2 {
            let spread = equal.spreadAfter.values.max() ?? 0, other = random.spreadAfter.values.min() ?? 0
            out.append(("All-equal weights never break the symmetry: every filter of a layer learns the same thing",
                        "largest filter spread after training: \(format(spread)) with `\(equal.initializer)`, at least \(format(other)) with `\(random.initializer)`",
                        spread == 0 && other > 0))
        }
        /// The factor by which the activation scale changes from the first to the last conv layer.
        func drift(_ label: String) -> Double? {
            guard let s = r.schemes.first(where: { $0.label == label }), s.scales.count >= depth, s.scales[0].activationStd > 0 else { return nil }
            return s.scales[depth - 1].activationStd / s.scales[0].activationStd
        }
        let kept = { (d: Double) in d > 0.1 && d < 10 }
        for label in ["He normal", "He uniform"] {
            if let d = drift(label) {
                out.append(("\(label) neither shrinks nor grows the signal exponentially with depth (He et al.)",
                            "activation std conv\(depth) / conv1 = \(format(d))", kept(d)))
            }
        }
        for label in ["Glorot uniform", "Glorot normal"] {
            if let d = drift(label) {
                out.append(("\(label) keeps the activation scale through \(depth) ReLU layers",
                            "activation std conv\(depth) / conv1 = \(format(d)) (Glorot & Bengio derived it for symmetric activations; ReLU halves the variance per layer)", kept(d)))
            }
        }
        for label in ["normal σ=0.01", "normal σ=0.005"] {
            if let d = drift(label) {
                out.append(("A Gaussian with \(label.dropFirst(7)) works as an initialisation",
                            "activation std conv\(depth) / conv1 = \(format(d)); test accuracy \(percent(r.schemes.first { $0.label == label }?.testAccuracy))%", kept(d)))
            }
        }
        let trained = r.schemes.filter { $0.testAccuracy > 0.2 }.map(\.label)
        out.append(("Only a scheme that keeps the scale trains this deep plain network",
                    trained.isEmpty ? "no scheme reached 20% test accuracy in this run" : "reached 20% test accuracy: \(trained.joined(separator: ", "))",
                    trained.isEmpty ? false : trained.allSatisfy { label in drift(label).map(kept) ?? false }))
        if let b = r.filtersEdgeLikenessBefore, let a = r.filtersEdgeLikenessAfter {
            out.append(("Learned filters find edge-like shapes by themselves",
                        String(format: "edge likeness of the first-layer filters %.3f at initialisation, %.3f after training", b, a), a > b + 0.05))
        } else {
            out.append(("Learned filters find edge-like shapes by themselves", "see the filter pictures before and after training", nil))
        }
        return out
    }
}
