import Foundation

/// Seed 002, Gavrikov & Keuper, "The Power of Linear Combinations: Learning with Random
/// Convolutions" (2023), at a size this CPU affords: a CIFAR-style ResNet whose k×k
/// convolutions are learned (baseline), LC-blocks with learned spatial filters, or LC-blocks
/// whose spatial filters stay at their random initialisation; swept over the expansion E and
/// the kernel size k, with FGSM robustness, filter diversity, and the folding of a trained
/// LC network back into plain convolutions.
public struct RandomFilterStudy: Codable, Sendable, Study {
    public var name: String
    public var title: String?
    public var description: String?
    public var data: Experiment.DataSpec
    /// Images are resized to `resize × resize` (the paper upscales Fashion-MNIST to 32×32).
    public var resize: Int?
    /// The ResNet's depth (6n + 2) and width.
    public var depth = 20
    public var width = 16
    public var recipe: Experiment.Recipe
    /// The expansion sweep (at kernel size 3), and the kernel sweep (at `kernelSweepExpansion`).
    public var expansions: [Int]
    public var kernelSizes: [Int]
    public var kernelSweepExpansion = 1
    /// FGSM step in pixel units ([0, 1] images): 1/255 in the paper.
    public var fgsmEpsilon: Float = 1.0 / 255
    /// Test images attacked with FGSM.
    public var fgsmImages = 2000
    /// The paper's numbers for the report (Table 1, Fashion-MNIST row).
    public var paper: PaperRow?
    public var quick: Quick?
    public var notes: String?
    public var directory = ""

    public struct PaperRow: Codable, Sendable {
        public var baseline: Double, lcLearned: Double, lcFrozen: Double
        public var expansion: Int
        public var conditions: String
        enum CodingKeys: String, CodingKey { case baseline, lcLearned = "lc_learned", lcFrozen = "lc_frozen", expansion, conditions }
    }

    public struct Quick: Codable, Sendable {
        public var trainLimit: Int?, testLimit: Int?, epochs: Int?
        public var expansions: [Int]?, kernelSizes: [Int]?
        public var fgsmImages: Int?
        enum CodingKeys: String, CodingKey {
            case trainLimit = "train_limit", testLimit = "test_limit", epochs, expansions, kernelSizes = "kernel_sizes", fgsmImages = "fgsm_images"
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, title, description, data, resize, depth, width, recipe, expansions, kernelSizes = "kernel_sizes"
        case kernelSweepExpansion = "kernel_sweep_expansion", fgsmEpsilon = "fgsm_epsilon", fgsmImages = "fgsm_images"
        case paper, quick, notes
    }

    public static func load(path: String) throws -> RandomFilterStudy {
        var study: RandomFilterStudy = try decodeExperimentFile(path)
        study.directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try study.validate(path)
        return study
    }

    func validate(_ path: String) throws {
        guard !expansions.isEmpty, expansions.allSatisfy({ $0 >= 1 }) else { throw ConvKitError("\(path): 'expansions' must list positive integers") }
        guard !kernelSizes.isEmpty, kernelSizes.allSatisfy({ $0 >= 1 && $0 % 2 == 1 }) else {
            throw ConvKitError("\(path): 'kernel_sizes' must list odd positive integers")
        }
        _ = try ExperimentRunner.makeOptimizer(recipe, totalSteps: 1)
        _ = try ResNet(depth: depth, width: width).model(inputShape: [resize ?? 28, resize ?? 28, 1])
    }

    public func quickened() -> RandomFilterStudy {
        guard let quick else { return self }
        var s = self
        s.data.trainLimit = quick.trainLimit ?? s.data.trainLimit
        s.data.testLimit = quick.testLimit ?? s.data.testLimit
        s.recipe.epochs = quick.epochs ?? s.recipe.epochs
        s.expansions = quick.expansions ?? s.expansions
        s.kernelSizes = quick.kernelSizes ?? s.kernelSizes
        s.fgsmImages = quick.fgsmImages ?? s.fgsmImages
        return s
    }

    // MARK: Runs

    public enum Variant: String, Codable, Sendable {
        case baseline = "baseline", lcLearned = "LC learned", lcFrozen = "LC frozen"
    }

    public struct RunResult: Codable, Sendable {
        public var variant: Variant
        public var kernelSize: Int, expansion: Int
        public var parameters: Int, trainableParameters: Int, flops: Int
        public var testAccuracy: Double
        public var robustAccuracy: Double
        /// Mean filter-variance entropy over the k×k layers: of the spatial filters as they are,
        /// and of the effective filters (LC-blocks folded).
        public var spatialEntropy: Double, effectiveEntropy: Double
        public var secondsPerEpoch: Double
        public var history: History
        enum CodingKeys: String, CodingKey {
            case variant, kernelSize = "kernel_size", expansion, parameters, trainableParameters = "trainable_parameters", flops
            case testAccuracy = "test_accuracy", robustAccuracy = "robust_accuracy", spatialEntropy = "spatial_entropy"
            case effectiveEntropy = "effective_entropy", secondsPerEpoch = "seconds_per_epoch", history
        }
        public var label: String { variant == .baseline ? "baseline k=\(kernelSize)" : "\(variant.rawValue) k=\(kernelSize) E=\(expansion)" }
    }

    public struct Folding: Codable, Sendable {
        public var run: String
        public var images: Int
        public var maxAbsoluteDifference: Double
        public var lcAccuracy: Double, foldedAccuracy: Double
        public var lcParameters: Int, foldedParameters: Int
        enum CodingKeys: String, CodingKey {
            case run, images, maxAbsoluteDifference = "max_absolute_difference", lcAccuracy = "lc_accuracy", foldedAccuracy = "folded_accuracy"
            case lcParameters = "lc_parameters", foldedParameters = "folded_parameters"
        }
    }

    public struct Results: Codable, Sendable {
        public var experiment: String
        public var quick: Bool
        public var runs: [RunResult]
        public var folding: Folding?
        public var seconds: Double
    }

    /// The runs in order: the baseline, the E sweep at k = 3 (learned and frozen), then the
    /// k sweep at `kernelSweepExpansion`.
    public var plannedRuns: [(variant: Variant, kernelSize: Int, expansion: Int)] {
        var runs: [(Variant, Int, Int)] = [(.baseline, 3, 1)]
        for e in expansions { runs += [(.lcLearned, 3, e), (.lcFrozen, 3, e)] }
        for k in kernelSizes where k != 3 || !expansions.contains(kernelSweepExpansion) {
            runs += [(.lcLearned, k, kernelSweepExpansion), (.lcFrozen, k, kernelSweepExpansion)]
        }
        return runs
    }

    func builder(_ variant: Variant, kernelSize: Int, expansion: Int) -> ResNet {
        ResNet(depth: depth, width: width, kernelSize: kernelSize,
               convolution: variant == .baseline ? .standard : .linearCombination(expansion: expansion, frozen: variant == .lcFrozen))
    }

    /// Trains every planned run and writes the report folder.
    public func run(quick: Bool, folder: String) throws -> Results {
        let started = Date()
        let seed = recipe.allSeeds[0]
        var (trainX, trainY, testX, testY) = try ExperimentRunner.loadData(data, relativeTo: directory)
        if let size = resize {
            trainX = Augmentation.resize(trainX, height: size, width: size)
            testX = Augmentation.resize(testX, height: size, width: size)
        }
        // Standardise with the training set's statistics; FGSM's ε and the valid pixel range
        // are moved into the same units.
        let standardization = Standardization(fitting: trainX)
        trainX = standardization.apply(trainX); testX = standardization.apply(testX)
        let (mean, std) = (standardization.mean[0], standardization.std[0])
        let epsilon = fgsmEpsilon / std, bounds = ((0 - mean) / std)...((1 - mean) / std)
        let attackCount = min(fgsmImages, testX.shape[0])
        let (attackX, attackY) = (testX.slice(batch: 0..<attackCount), testY.slice(batch: 0..<attackCount))
        try makeDirectory(folder)

        var runs = [RunResult](), folding: Folding?
        let planned = plannedRuns
        for (index, plan) in planned.enumerated() {
            let resnet = builder(plan.variant, kernelSize: plan.kernelSize, expansion: plan.expansion)
            let model = try resnet.model(inputShape: Array(trainX.shape.dropFirst()), name: "resnet\(depth)", seed: seed)
            var result = RunResult(variant: plan.variant, kernelSize: plan.kernelSize, expansion: plan.expansion,
                                   parameters: model.parameterCount, trainableParameters: model.trainableParameterCount,
                                   flops: model.flops, testAccuracy: 0, robustAccuracy: 0, spatialEntropy: 0, effectiveEntropy: 0,
                                   secondsPerEpoch: 0, history: History())
            Console.line("\n== \(result.label) (\(index + 1) of \(planned.count)): \(groupedDigits(model.parameterCount)) parameters, \(groupedDigits(model.trainableParameterCount)) trainable ==")
            result.history = try ExperimentRunner.train(model, recipe: recipe, x: trainX, y: trainY, seed: seed)
            result.secondsPerEpoch = result.history.epochs.map(\.seconds).reduce(0, +) / Double(max(result.history.epochs.count, 1))
            result.testAccuracy = Double(try model.evaluate(testX, testY, batchSize: 256).accuracy)
            result.robustAccuracy = try AdversarialAttack.robustAccuracy(model, attackX, targets: attackY, epsilon: epsilon, bounds: bounds)
            (result.spatialEntropy, result.effectiveEntropy) = try entropies(model)
            Console.line(String(format: "test accuracy %.2f%%, FGSM (ε = %.4g) accuracy %.2f%%", result.testAccuracy * 100, fgsmEpsilon, result.robustAccuracy * 100))
            runs.append(result)

            // Fold the widest frozen LC network of the E sweep back into plain convolutions.
            if plan.variant == .lcFrozen, plan.kernelSize == 3, plan.expansion == expansions.max() {
                let folded = try resnet.folded(model)
                folded.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
                let probe = testX.slice(batch: 0..<min(256, testX.shape[0]))
                let a = try model.predict(probe), b = try folded.predict(probe)
                folding = Folding(run: result.label, images: probe.shape[0],
                                  maxAbsoluteDifference: Double(zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0),
                                  lcAccuracy: result.testAccuracy,
                                  foldedAccuracy: Double(try folded.evaluate(testX, testY, batchSize: 256).accuracy),
                                  lcParameters: model.parameterCount, foldedParameters: folded.parameterCount)
            }
        }
        let results = Results(experiment: name, quick: quick, runs: runs, folding: folding, seconds: Date().timeIntervalSince(started))
        try writeReport(results, folder: folder)
        return results
    }

    /// Mean variance entropy over the k×k layers (k > 1), of the spatial kernels and of the
    /// effective (folded) kernels.
    func entropies(_ model: Model) throws -> (spatial: Double, effective: Double) {
        var spatial = [Double](), effective = [Double]()
        for layer in model.layers {
            if let lc = layer as? LCConv2D {
                spatial.append(try FilterStatistics.varianceEntropy(lc.spatialKernel.value))
                effective.append(try FilterStatistics.varianceEntropy(try lc.folded().kernel.value))
            } else if let conv = layer as? Conv2D, conv.kernel.value.shape[0] > 1 {
                let h = try FilterStatistics.varianceEntropy(conv.kernel.value)
                spatial.append(h); effective.append(h)
            }
        }
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        return (mean(spatial), mean(effective))
    }

    public func runAndReport(quick: Bool, folder: String) throws -> Double { try run(quick: quick, folder: folder).seconds }

    // MARK: Report

    /// Rebuilds the report of `folder` from its `results.json` with the texts of this file as
    /// they are now: no training needed.
    public func rerender(folder: String) throws {
        let results: Results = try readResults(folder: folder, experiment: name, as: Results.self)
        try writeReport(results, folder: folder)
    }

    func writeReport(_ r: Results, folder: String) throws {
        try writeText(json(r), to: "\(folder)/results.json")
        let sweepE = r.runs.filter { $0.kernelSize == 3 && $0.variant != .baseline }
        let baseline = r.runs.first { $0.variant == .baseline }
        let eValues = Array(Set(sweepE.map(\.expansion))).sorted()
        func byE(_ v: Variant, _ metric: (RunResult) -> Double) -> [(x: Double, y: Double)] {
            sweepE.filter { $0.variant == v }.sorted { $0.expansion < $1.expansion }.map { (Double($0.expansion), metric($0)) }
        }
        func baselineLine(_ metric: (RunResult) -> Double) -> [LineChart.Series] {
            guard let baseline, let lo = eValues.first, let hi = eValues.last else { return [] }
            return [.init(label: "baseline (learned k×k)", points: [(Double(lo), metric(baseline)), (Double(hi), metric(baseline))], colorIndex: 2, dashed: true)]
        }
        try LineChart(title: "Test accuracy against expansion E (k = 3)", xLabel: "expansion E (log scale)", yLabel: "test accuracy",
                      series: [.init(label: "LC learned", points: byE(.lcLearned, \.testAccuracy), colorIndex: 0, markers: true),
                               .init(label: "LC frozen random", points: byE(.lcFrozen, \.testAccuracy), colorIndex: 1, markers: true)]
                          + baselineLine(\.testAccuracy), logX: true).write(to: "\(folder)/accuracy-expansion")
        try LineChart(title: "FGSM accuracy (ε = \(String(format: "%.4g", fgsmEpsilon))) against expansion E (k = 3)",
                      xLabel: "expansion E (log scale)", yLabel: "accuracy on FGSM examples",
                      series: [.init(label: "LC learned", points: byE(.lcLearned, \.robustAccuracy), colorIndex: 0, markers: true),
                               .init(label: "LC frozen random", points: byE(.lcFrozen, \.robustAccuracy), colorIndex: 1, markers: true)]
                          + baselineLine(\.robustAccuracy), logX: true).write(to: "\(folder)/robustness-expansion")
        let sweepK = r.runs.filter { $0.expansion == kernelSweepExpansion && $0.variant != .baseline }
        func byK(_ v: Variant) -> [(x: Double, y: Double)] {
            sweepK.filter { $0.variant == v }.sorted { $0.kernelSize < $1.kernelSize }.map { (Double($0.kernelSize), $0.testAccuracy) }
        }
        try LineChart(title: "Test accuracy against kernel size k (E = \(kernelSweepExpansion))", xLabel: "kernel size k", yLabel: "test accuracy",
                      series: [.init(label: "LC learned", points: byK(.lcLearned), colorIndex: 0, markers: true),
                               .init(label: "LC frozen random", points: byK(.lcFrozen), colorIndex: 1, markers: true)])
            .write(to: "\(folder)/accuracy-kernel")
        let md = markdown(r)
        try writeText(md, to: "\(folder)/report.md")
        try writeText(try HTMLReport.render(markdown: md, title: title ?? name, folder: folder), to: "\(folder)/report.html")
    }

    /// Learned minus frozen test accuracy for the pair at (k, E), if both ran.
    func gap(_ r: Results, kernelSize: Int, expansion: Int) -> Double? {
        func acc(_ v: Variant) -> Double? { r.runs.first { $0.variant == v && $0.kernelSize == kernelSize && $0.expansion == expansion }?.testAccuracy }
        guard let learned = acc(.lcLearned), let frozen = acc(.lcFrozen) else { return nil }
        return learned - frozen
    }

    func markdown(_ r: Results) -> String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "–" }
        func pts(_ v: Double?) -> String { v.map { String(format: "%+.2f", $0 * 100) } ?? "–" }
        var md = "# \(title ?? name)\n\n"
        if let d = description { md += d.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" }
        md += "## Setup\n\n"
        md += "- Network: CIFAR-style ResNet-\(depth), width \(width) (stages \(width)/\(2 * width)/\(4 * width)), BatchNorm (PyTorch settings), global average pooling, Dense(10); PyTorch's default init. "
        md += "In the LC variants every k×k convolution is an LC-block (`LCConv2D`): k×k to c_out·E filters, then a learnable 1×1 to c_out; the 1×1 shortcut projections stay plain.\n"
        md += "- Data: Fashion-MNIST, first \(data.trainLimit.map(groupedDigits) ?? "all") training and \(data.testLimit.map(groupedDigits) ?? "all") test images"
        md += resize.map { ", resized to \($0)×\($0) (bilinear)" } ?? ", 28×28"
        md += ", standardised with the training set's mean and std.\n"
        let rc = recipe
        md += "- Recipe: \(rc.epochs) epochs, batch \(rc.batchSize), \(rc.optimizer ?? "sgd") lr \(rc.learningRate ?? 0.01)"
        md += (rc.momentum ?? 0) > 0 ? ", momentum \(rc.momentum!)\((rc.nesterov ?? false) ? " (Nesterov)" : "")" : ""
        md += rc.weightDecay.map { ", weight decay \($0) (\(rc.weightDecayMode ?? "decoupled"))" } ?? ""
        md += ", \(rc.schedule ?? "constant") schedule, label smoothing \(rc.labelSmoothing ?? 0), seed \(rc.allSeeds[0]).\n"
        md += "- FGSM: ε = \(String(format: "%.4g", fgsmEpsilon)) in pixel units on the first \(groupedDigits(min(fgsmImages, data.testLimit ?? fgsmImages))) test images, gradient in inference mode, clipped to the valid pixel range.\n"
        md += "- Time: \(Int(r.seconds)) s on this machine.\(r.quick ? " **Quick run** (`--quick`): fewer images, epochs and sweep points, for CI; the numbers are not the experiment's." : "")\n\n"

        md += "## All runs\n\n| Run | Params | Trainable | FLOPs/image | Test acc % | FGSM acc % | Spatial entropy | Effective entropy | s/epoch |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for x in r.runs {
            md += "| \(x.label) | \(groupedDigits(x.parameters)) | \(groupedDigits(x.trainableParameters)) | \(groupedDigits(x.flops)) | \(pct(x.testAccuracy)) | \(pct(x.robustAccuracy)) | \(String(format: "%.3f", x.spatialEntropy)) | \(String(format: "%.3f", x.effectiveEntropy)) | \(String(format: "%.1f", x.secondsPerEpoch)) |\n"
        }
        md += "\nEntropy: the filter-variance entropy (0 = all filters multiples of one pattern, 1 = spread evenly like i.i.d. random filters), averaged over the k×k layers; \"effective\" folds each LC-block into the single convolution it equals.\n\n"
        md += "![accuracy against E](accuracy-expansion.svg)\n\n![FGSM against E](robustness-expansion.svg)\n\n![accuracy against k](accuracy-kernel.svg)\n\n"

        md += "## Against the paper\n\n"
        if let p = paper {
            let maxE = expansions.max() ?? 1
            func acc(_ v: Variant) -> Double? { r.runs.first { $0.variant == v && $0.kernelSize == 3 && $0.expansion == (v == .baseline ? 1 : maxE) }?.testAccuracy }
            md += "| | Baseline | LC learned | LC frozen |\n|---|---:|---:|---:|\n"
            md += "| Paper, Table 1 (E = \(p.expansion)) | \(String(format: "%.2f", p.baseline)) | \(String(format: "%.2f", p.lcLearned)) | \(String(format: "%.2f", p.lcFrozen)) |\n"
            md += "| Here (E = \(maxE)) | \(pct(acc(.baseline))) | \(pct(acc(.lcLearned))) | \(pct(acc(.lcFrozen))) |\n\n"
            md += "Differences in conditions: \(p.conditions.trimmingCharacters(in: .whitespacesAndNewlines))\n\n"
        }

        md += "## The paper's claims, checked here\n\n| Claim | Measured | Held here |\n|---|---|---|\n"
        for c in claims(r) { md += "| \(c.claim) | \(c.measured) | \(c.held.map { $0 ? "yes" : "**no**" } ?? "not measured") |\n" }

        if let f = r.folding {
            md += "\n## Folding an LC network into plain convolutions\n\n"
            md += "The trained \(f.run) network, every LC-block replaced by one k×k convolution with kernel = spatial · combination (BatchNorm, shortcuts and classifier copied): "
            md += "\(groupedDigits(f.lcParameters)) parameters become \(groupedDigits(f.foldedParameters)). "
            md += String(format: "Largest difference between the two networks' output probabilities on %d test images: %.2g. ", f.images, f.maxAbsoluteDifference)
            md += "Test accuracy \(pct(f.lcAccuracy))% unfolded, \(pct(f.foldedAccuracy))% folded.\n"
        }
        if let notes, !r.quick { md += "\n## Notes\n\n" + notes.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" }
        return md
    }

    /// The seed's claims, each with what was measured; `held` is nil when the runs needed are missing.
    func claims(_ r: Results) -> [(claim: String, measured: String, held: Bool?)] {
        func pct(_ v: Double) -> String { String(format: "%.2f%%", v * 100) }
        func run(_ v: Variant, _ k: Int, _ e: Int) -> RunResult? { r.runs.first { $0.variant == v && $0.kernelSize == k && $0.expansion == e } }
        var out = [(String, String, Bool?)]()
        let maxE = expansions.max() ?? 1, minE = expansions.min() ?? 1
        if let base = run(.baseline, 3, 1), let frozen = run(.lcFrozen, 3, maxE) {
            let d = frozen.testAccuracy - base.testAccuracy
            out.append(("Frozen random spatial filters with learned combinations come close to the learned baseline (within 1 point)",
                        "LC frozen E=\(maxE) \(pct(frozen.testAccuracy)) vs baseline \(pct(base.testAccuracy)) (\(String(format: "%+.2f", d * 100)) points)", d >= -0.01))
        }
        if expansions.contains(8), let l = run(.lcLearned, 3, 8), let f = run(.lcFrozen, 3, 8) {
            out.append(("Frozen random LC beats learnable LC from E = 8", "E=8: frozen \(pct(f.testAccuracy)) vs learned \(pct(l.testAccuracy))", f.testAccuracy > l.testAccuracy))
        } else {
            out.append(("Frozen random LC beats learnable LC from E = 8", "E = 8 not in this sweep", nil))
        }
        if maxE > minE, let lo = run(.lcFrozen, 3, minE), let hi = run(.lcFrozen, 3, maxE) {
            out.append(("Robustness to FGSM grows with E (frozen LC)", "FGSM accuracy E=\(minE) \(pct(lo.robustAccuracy)) → E=\(maxE) \(pct(hi.robustAccuracy))",
                        hi.robustAccuracy > lo.robustAccuracy))
        }
        let ks = kernelSizes.sorted()
        if let kLo = ks.first, let kHi = ks.last, kHi > kLo,
           let gLo = gap(r, kernelSize: kLo, expansion: kernelSweepExpansion), let gHi = gap(r, kernelSize: kHi, expansion: kernelSweepExpansion) {
            out.append(("The learned-vs-frozen gap grows with the kernel size",
                        String(format: "learned − frozen at E=%d: k=%d %+.2f points, k=%d %+.2f points", kernelSweepExpansion, kLo, gLo * 100, kHi, gHi * 100), gHi > gLo))
        }
        if maxE > minE, let gLo = gap(r, kernelSize: 3, expansion: minE), let gHi = gap(r, kernelSize: 3, expansion: maxE) {
            out.append(("The learned-vs-frozen gap shrinks as E grows",
                        String(format: "learned − frozen at k=3: E=%d %+.2f points, E=%d %+.2f points", minE, gLo * 100, maxE, gHi * 100), gHi < gLo))
        }
        return out
    }
}
