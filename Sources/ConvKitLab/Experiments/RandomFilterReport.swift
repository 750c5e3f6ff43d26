import ConvKit
import Foundation

/// Seed 002's report, built from the run records alone: Table 1 with mean ± std over seeds,
/// the expansion sweep, the k × E grid, filter diversity over training, and the paper's claims
/// with verdicts that take the seed-to-seed spread into account.
extension RandomFilterStudy {
    /// Accuracies (or another metric) of the recorded runs matching a cell of a table.
    struct Cell {
        var values: [Double]
        var mean: Double { Statistics.mean(values) }
        var std: Double? { Statistics.standardDeviation(values) }
        var text: String {
            guard !values.isEmpty else { return "–" }
            return String(format: "%.2f", mean * 100) + (std.map { String(format: " ± %.2f", $0 * 100) } ?? "") + " (n = \(values.count))"
        }
    }

    /// `between`: the ablation's operation (nil: the paper's block, and every baseline).
    func cell(_ r: Results, _ v: Variant, k: Int, e: Int, budget: RunBudget, between: LCConv2D.Intermediate? = nil,
              _ metric: (RunRecord) -> Double = \.testAccuracy) -> Cell {
        Cell(values: r.runs.filter {
            $0.spec.variant == v && $0.spec.kernelSize == k && (v == .baseline || $0.spec.expansion == e) && $0.spec.intermediate == between
                && $0.spec.epochs == budget.epochs && $0.spec.trainImages == budget.trainImages
        }.map(metric))
    }

    /// The recorded Table 1 runs of variant `v`, the first seed's first (plan order).
    func table1Runs(_ r: Results, _ v: Variant) -> [RunRecord] {
        r.runs.filter { $0.spec.variant == v && $0.spec.kernelSize == 3 && (v == .baseline || $0.spec.expansion == table1Expansion)
            && $0.spec.intermediate == nil && $0.spec.epochs == r.budgets.table1.epochs && $0.spec.trainImages == r.budgets.table1.trainImages }
    }
    func table1Run(_ r: Results, _ v: Variant) -> RunRecord? { table1Runs(r, v).first }

    /// The seed-to-seed standard deviation of test accuracy, pooled over every cell of `budget`
    /// that has several seeds: the noise a cell with one run is judged by.
    func seedNoise(_ r: Results, budget: RunBudget) -> (value: Double, degreesOfFreedom: Double)? {
        let runs = r.runs.filter { $0.spec.epochs == budget.epochs && $0.spec.trainImages == budget.trainImages }
        let cells = Dictionary(grouping: runs) { "\($0.spec.variant)-\($0.spec.kernelSize)-\($0.spec.variant == .baseline ? 1 : $0.spec.expansion)-\(String(describing: $0.spec.intermediate))" }
        return Statistics.pooledStandardDeviation(cells.values.map { $0.map(\.testAccuracy) })
    }

    /// Learned minus frozen accuracy at (k, E) (nil when a side is missing), judged by Welch's
    /// test, or by the budget's pooled seed noise where a side has one run.
    func gap(_ r: Results, k: Int, e: Int, budget: RunBudget) -> Statistics.Difference? {
        let learned = cell(r, .lcLearned, k: k, e: e, budget: budget), frozen = cell(r, .lcFrozen, k: k, e: e, budget: budget)
        guard !learned.values.isEmpty, !frozen.values.isEmpty else { return nil }
        return Statistics.difference(learned.values, frozen.values, pooled: seedNoise(r, budget: budget))
    }

    func writeReport(_ r: Results, folder: String) throws {
        var r = r
        r.claims = claims(r).map { ClaimVerdict(claim: $0.claim, measured: $0.measured, verdict: $0.verdict, held: $0.held) }
        try writeText(json(r), to: "\(folder)/results.json")
        let b = r.budgets
        // A figure whose runs are not recorded yet is left out, and the report says so.
        var drawn = Set<String>()
        func draw(_ chart: LineChart, _ name: String) throws {
            guard !chart.isEmpty else { return }
            try chart.write(to: "\(folder)/\(name)")
            drawn.insert(name)
        }
        let sweepE = expansions.sorted()
        func series(_ v: Variant, _ metric: @escaping (RunRecord) -> Double, color: Int) -> LineChart.Series {
            let cells = sweepE.map { (e: $0, c: cell(r, v, k: 3, e: $0, budget: b.sweep, metric)) }.filter { !$0.c.values.isEmpty }
            return .init(label: v == .lcLearned ? "LC learned" : "LC frozen random", points: cells.map { (Double($0.e), $0.c.mean) },
                         colorIndex: color, markers: true, errors: cells.map { $0.c.std ?? 0 })
        }
        func baselineLine(_ metric: @escaping (RunRecord) -> Double) -> [LineChart.Series] {
            let base = cell(r, .baseline, k: 3, e: 1, budget: b.sweep, metric)
            guard !base.values.isEmpty, let lo = sweepE.first, let hi = sweepE.last, hi > lo else { return [] }
            // With several seeds, its ± one standard deviation as a band.
            let spread = base.std.map { [$0, $0] }
            return [.init(label: spread == nil ? "baseline (learned k×k)" : "baseline (learned k×k), ± s.d.",
                          points: [(Double(lo), base.mean), (Double(hi), base.mean)], colorIndex: 2, dashed: true, errors: spread, band: spread != nil)]
        }
        /// The paper's Table 1 row as marks at its E, set a little apart along the (log) axis so
        /// that equal values stay visible; only beside runs of this study.
        func paperMarks(beside drawn: [LineChart.Series]) -> [LineChart.Series] {
            guard let p = paper, drawn.contains(where: { !$0.points.isEmpty }) else { return [] }
            let marks: [(String, Double, Double?, Double)] = [("baseline", p.baseline, p.baselineStd, 0.9), ("LC learned", p.lcLearned, p.lcLearnedStd, 1.0),
                                                               ("LC frozen", p.lcFrozen, p.lcFrozenStd, 1.1)]
            return marks.enumerated().map { index, mark in
                .init(label: "paper, Table 1: \(mark.0)", points: [(Double(p.expansion) * mark.3, mark.1 / 100)], colorIndex: 3 + index,
                      markers: true, line: false, errors: [(mark.2 ?? 0) / 100])
            }
        }
        let ticks = sweepE.map(Double.init)
        let accuracySeries = [series(.lcLearned, \.testAccuracy, color: 0), series(.lcFrozen, \.testAccuracy, color: 1)]
        try draw(LineChart(title: "Test accuracy against expansion E (k = 3)", xLabel: "expansion E (log scale)", yLabel: "test accuracy",
                           series: accuracySeries + baselineLine(\.testAccuracy) + paperMarks(beside: accuracySeries),
                           logX: true, xTicks: ticks), "accuracy-expansion")
        try draw(LineChart(title: "FGSM accuracy (ε = \(String(format: "%.4g", fgsmEpsilon))) against expansion E (k = 3)",
                           xLabel: "expansion E (log scale)", yLabel: "accuracy on FGSM examples",
                           series: [series(.lcLearned, \.robustAccuracy, color: 0), series(.lcFrozen, \.robustAccuracy, color: 1)]
                               + baselineLine(\.robustAccuracy), logX: true, xTicks: ticks), "robustness-expansion")
        let gapSeries = kernelExpansions.enumerated().map { index, e -> LineChart.Series in
            let points = kernelSizes.sorted().compactMap { k in gap(r, k: k, e: e, budget: b.grid).map { (Double(k), $0.value) } }
            return .init(label: "E = \(e)", points: points, colorIndex: index, markers: true)
        }
        try draw(LineChart(title: "Learned minus frozen spatial filters against kernel size k", xLabel: "kernel size k",
                           yLabel: "test accuracy, learned − frozen", series: gapSeries, xTicks: kernelSizes.sorted().map(Double.init)), "gap-kernel")
        let diversity = Variant.allCases.enumerated().compactMap { index, v -> LineChart.Series? in
            guard let run = table1Run(r, v) else { return nil }
            // Frozen dashed: at large E learned filters barely move, and the two lines coincide.
            return .init(label: v.rawValue, points: run.entropyByEpoch.enumerated().map { (Double($0), Statistics.mean($1)) },
                         colorIndex: [2, 0, 1][index], dashed: v == .lcFrozen, markers: true)
        }
        try draw(LineChart(title: "Filter diversity during training (k = 3, E = \(table1Expansion), first seed)", xLabel: "epoch",
                           yLabel: "variance entropy of the spatial filters", series: diversity,
                           xTicks: (0...max(diversity.map { $0.points.count - 1 }.max() ?? 0, 0)).map(Double.init)), "entropy-training")
        let md = markdown(r, figures: drawn)
        try writeText(md, to: "\(folder)/report.md")
        try writeText(try HTMLReport.render(markdown: md, title: title ?? name, folder: folder), to: "\(folder)/report.html")
    }

    func markdown(_ r: Results, figures: Set<String>) -> String {
        let b = r.budgets
        func figure(_ name: String, _ alt: String) -> String {
            figures.contains(name) ? "![\(alt)](\(name).svg)\n\n" : "*(\(alt): no recorded runs to draw yet)*\n\n"
        }
        func pct(_ v: Double?) -> String { v.map { String(format: "%.2f", $0 * 100) } ?? "–" }
        func budgetText(_ x: RunBudget) -> String { "\(x.epochs) epochs on \(groupedDigits(x.trainImages)) training images" }
        var md = "# \(title ?? name)\n\n"
        if let d = description { md += d.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" }
        if let tier { md += "**This tier:** " + tier.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" }
        if r.quick { md += "**Quick run** (`--quick`): fewer images, epochs and runs, for CI; the numbers are not the experiment's.\n\n" }

        md += "## Setup\n\n"
        md += "- Network: CIFAR-style ResNet-\(depth), width \(width) (stages \(width)/\(2 * width)/\(4 * width)), BatchNorm (PyTorch settings), global average pooling, Dense(10); PyTorch's default init. "
        md += "In the LC variants every k×k convolution is an LC-block (`LCConv2D`): k×k to c_out·E filters, then a learnable 1×1 to c_out, trained folded (exact gradients of both); the 1×1 shortcut projections stay plain.\n"
        md += "- Data: Fashion-MNIST, \(data.testLimit.map { "the first \(groupedDigits($0))" } ?? "all") test images"
        md += resize.map { ", every image resized to \($0)×\($0) (bilinear)" } ?? ", 28×28"
        md += ", standardised with the mean and std of the images each run trains on.\n"
        let rc = recipe
        md += "- Recipe: batch \(rc.batchSize), \(rc.description), over each run; the last epoch is evaluated. Seeds \(rc.allSeeds.map(String.init).joined(separator: ", ")).\n"
        md += "- Budgets: Table 1, \(budgetText(b.table1)); expansion sweep, \(budgetText(b.sweep)); k × E grid, \(budgetText(b.grid))"
        md += (b.ablation.map { "; ablation, \(budgetText($0))" } ?? "") + ".\n"
        md += "- FGSM: ε = \(String(format: "%.4g", fgsmEpsilon)) in pixel units, \(fgsmImages.map { "the first \(groupedDigits($0))" } ?? "all") test images, gradient in inference mode, clipped to the valid pixel range.\n"
        let missing = r.planned.filter { spec in !r.runs.contains { $0.spec == spec } }
        md += "- Runs recorded: \(r.runs.count) of \(r.planned.count) planned"
        let hours = r.runs.map { $0.secondsPerEpoch * Double($0.spec.epochs) }.reduce(0, +) / 3600
        let unloadedHours = r.runs.map(\.secondsAtFastestEpoch).reduce(0, +) / 3600
        md += String(format: " (%.1f hours of training on %@; %.1f hours if every epoch had run as fast as its run's fastest, "
                     + "an estimate for a machine doing nothing else)", hours, Set(r.runs.map(\.machine)).sorted().joined(separator: ", "),
                     unloadedHours)
        if !missing.isEmpty {
            md += "; not yet: " + missing.prefix(12).map { "`\($0.id)`" }.joined(separator: ", ") + (missing.count > 12 ? ", and \(missing.count - 12) more" : "")
            md += ". Rerun the experiment (or a part of it with `--only`) to add them; recorded runs are kept"
        }
        md += ".\n\n"

        md += "## Table 1: Fashion-MNIST, k = 3, E = \(table1Expansion)\n\n"
        md += "Test accuracy %, mean ± standard deviation over seeds (n runs).\n\n| | Baseline | LC learned | LC frozen |\n|---|---:|---:|---:|\n"
        if let p = paper {
            func paperText(_ m: Double, _ s: Double?) -> String { String(format: "%.2f", m) + (s.map { String(format: " ± %.2f", $0) } ?? "") }
            md += "| Paper (E = \(p.expansion)) | \(paperText(p.baseline, p.baselineStd)) | \(paperText(p.lcLearned, p.lcLearnedStd)) | \(paperText(p.lcFrozen, p.lcFrozenStd)) |\n"
        }
        md += "| Here | " + Variant.allCases.map { cell(r, $0, k: 3, e: table1Expansion, budget: b.table1).text }.joined(separator: " | ") + " |\n\n"
        if let p = paper { md += "Conditions: \(p.conditions.trimmingCharacters(in: .whitespacesAndNewlines))\n\n" }

        md += "## Expansion sweep (k = 3)\n\n| E | LC learned | LC frozen | learned − frozen | FGSM learned | FGSM frozen |\n|---:|---:|---:|---:|---:|---:|\n"
        for e in expansions.sorted() {
            let g = gap(r, k: 3, e: e, budget: b.sweep)
            md += "| \(e) | \(cell(r, .lcLearned, k: 3, e: e, budget: b.sweep).text) | \(cell(r, .lcFrozen, k: 3, e: e, budget: b.sweep).text) | "
            md += g.map { Self.signed($0.value * 100) } ?? "–"
            md += " | \(cell(r, .lcLearned, k: 3, e: e, budget: b.sweep, \.robustAccuracy).text) | \(cell(r, .lcFrozen, k: 3, e: e, budget: b.sweep, \.robustAccuracy).text) |\n"
        }
        md += "\nBaseline (learned 3×3, same budget): \(cell(r, .baseline, k: 3, e: 1, budget: b.sweep).text), FGSM \(cell(r, .baseline, k: 3, e: 1, budget: b.sweep, \.robustAccuracy).text). Error bars in the figures, and the shaded band around the baseline: ± one standard deviation over seeds."
        if let p = paper {
            md += " The marks without lines at E = \(p.expansion) are the paper's Table 1 (± its standard deviation), set a little apart so that equal values stay visible; its budget differs from the sweep's (see Setup)."
        }
        md += "\n\n"
        md += figure("accuracy-expansion", "accuracy against E") + figure("robustness-expansion", "FGSM accuracy against E")

        md += "## Kernel size × expansion\n\n| k | baseline | " + kernelExpansions.map { "learned E=\($0) | frozen E=\($0) | gap E=\($0)" }.joined(separator: " | ") + " |\n"
        md += "|---:|---:|" + String(repeating: "---:|---:|---:|", count: kernelExpansions.count) + "\n"
        for k in kernelSizes.sorted() {
            let baseline = cell(r, .baseline, k: k, e: 1, budget: b.grid).values
            md += "| \(k) | \(pct(baseline.isEmpty ? nil : Statistics.mean(baseline))) | "
            md += kernelExpansions.map { e in
                let g = gap(r, k: k, e: e, budget: b.grid)
                return "\(pct(cell(r, .lcLearned, k: k, e: e, budget: b.grid).values.first)) | \(pct(cell(r, .lcFrozen, k: k, e: e, budget: b.grid).values.first)) | \(g.map { Self.signed($0.value * 100) } ?? "–")"
            }.joined(separator: " | ") + " |\n"
        }
        let noiseSeeds = kernelSizes.first.map { cell(r, .baseline, k: $0, e: 1, budget: b.grid).values.count } ?? 0
        md += "\nOne seed per cell" + (noiseSeeds > 1 ? ", but the baseline at k = \(kernelSizes[0]): the mean of \(noiseSeeds) seeds, whose spread is the grid's seed noise" : "")
        md += "; gap = learned − frozen, in points.\n\n" + figure("gap-kernel", "gap against k")

        if let ablation, let budget = b.ablation {
            md += "## Table 3: an operation between the two convolutions (k = 3, E = \(ablation.expansion))\n\n"
            md += "The paper's ablation puts a ReLU, a BatchNorm, or both between an LC-block's k×k and 1×1 convolutions. Such a block is no longer linear: it cannot fold and trains as two convolutions, so this part uses a smaller E than the paper's 64 and the budget above. Test accuracy % (FGSM accuracy %), one seed.\n\n"
            md += "| Between the convolutions | LC learned | LC frozen | learned − frozen |\n|---|---:|---:|---:|\n"
            for op in ablation.intermediates {
                let between = op == .none ? nil : op
                let learned = cell(r, .lcLearned, k: 3, e: ablation.expansion, budget: budget, between: between)
                let frozen = cell(r, .lcFrozen, k: 3, e: ablation.expansion, budget: budget, between: between)
                func text(_ c: Cell, _ v: Variant) -> String {
                    guard let acc = c.values.first else { return "–" }
                    return "\(pct(acc)) (\(pct(cell(r, v, k: 3, e: ablation.expansion, budget: budget, between: between, \.robustAccuracy).values.first)))"
                }
                let gap = learned.values.first.flatMap { l in frozen.values.first.map { Self.signed((l - $0) * 100) } } ?? "–"
                md += "| \(op == .none ? "nothing (the paper's block)" : op.rawValue.replacingOccurrences(of: "_", with: " ")) | \(text(learned, .lcLearned)) | \(text(frozen, .lcFrozen)) | \(gap) |\n"
            }
            md += "\n"
        }

        md += "## Filter diversity\n\nThe variance entropy of each layer's spatial filters (0: every filter a multiple of one pattern; 1: spread evenly, like i.i.d. random filters), averaged over the k×k layers, at initialisation and after every epoch of the first seed's Table 1 runs (the paper's Fig. 5). An LC-block's k×k layer holds c_out · E filters drawn i.i.d., and the claims below judge it twice: on those filters, and on the effective filters of the folded block (spatial · combination), the c_out filters the network convolves with.\n\n"
        md += "| Variant | at init | after training | effective filters (LC folded) |\n|---|---:|---:|---:|\n"
        for v in Variant.allCases {
            guard let run = table1Run(r, v) else { continue }
            md += "| \(v.rawValue) | \(String(format: "%.3f", Statistics.mean(run.entropyByEpoch.first ?? []))) | \(String(format: "%.3f", run.spatialEntropy)) | \(run.effectiveEntropy.map { String(format: "%.3f", $0) } ?? "–") |\n"
        }
        md += "\n" + figure("entropy-training", "entropy during training")

        md += "## The paper's claims, checked here\n\nA verdict is *held* or *not held* when the difference is outside the 95% interval of the seed-to-seed spread (Welch's t for two groups with several seeds each, the slope's t for trends); *inside the noise* when it is not; *one seed* when there is no spread to judge by, and then the sign alone is reported."
        // Where one side of a comparison has a single run, the budget's pooled seed noise judges it.
        let noise = [("expansion sweep", b.sweep), ("k × E grid", b.grid)].compactMap { name, budget in
            seedNoise(r, budget: budget).map { String(format: "%@: %.2f points, %d degree%@ of freedom", name, $0.value * 100, Int($0.degreesOfFreedom), $0.degreesOfFreedom == 1 ? "" : "s") }
        }
        if !noise.isEmpty {
            md += " Where a group has one seed, its spread is taken as the standard deviation of test accuracy between seeds, pooled over the cells of the same budget that have several (\(noise.joined(separator: "; ")))."
        }
        md += "\n\n| Claim | Measured | Verdict |\n|---|---|---|\n"
        for c in r.claims ?? [] { md += "| \(c.claim) | \(c.measured) | \(c.verdict) |\n" }

        if let f = r.runs.compactMap({ run in run.folding.map { (run, $0) } }).first {
            md += "\n## Folding an LC network into plain convolutions\n\n"
            md += "The trained \(f.0.spec.label) network, every LC-block replaced by one k×k convolution with kernel = spatial · combination (BatchNorm, shortcuts and classifier copied): "
            md += "\(groupedDigits(f.0.parameters)) parameters become \(groupedDigits(f.1.foldedParameters)). "
            md += String(format: "Largest difference between the two networks' output probabilities on %d test images: %.2g. ", f.1.images, f.1.maxAbsoluteDifference)
            md += "Test accuracy \(pct(f.0.testAccuracy))% unfolded, \(pct(f.1.foldedAccuracy))% folded.\n"
        }
        md += "\n## All runs\n\n| Run | Epochs | Images | Params | Trainable | Test acc % | FGSM acc % | Entropy | s/epoch |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for x in r.runs {
            md += "| \(x.spec.label) | \(x.spec.epochs) | \(groupedDigits(x.spec.trainImages)) | \(groupedDigits(x.parameters)) | \(groupedDigits(x.trainableParameters)) | \(pct(x.testAccuracy)) | \(pct(x.robustAccuracy)) | \(String(format: "%.3f", x.spatialEntropy)) | \(String(format: "%.1f", x.secondsPerEpoch)) |\n"
        }
        if let notes, !r.quick { md += "\n## Notes\n\n" + notes.trimmingCharacters(in: .whitespacesAndNewlines) + "\n" }
        return md
    }

    public enum Expectation: Sendable { case atLeast, greater, less }

    /// A signed figure to two decimals: "+0.41", "-0.92", and "0.00" for anything that rounds
    /// to zero (never "-0.00").
    static func signed(_ value: Double) -> String {
        let text = String(format: "%+.2f", value)
        return Double(text) == 0 ? "0.00" : text
    }

    /// The verdict on "difference `d` is ≥ 0 / > 0 / < 0", judged against its spread.
    static func verdict(_ d: Statistics.Difference, _ expectation: Expectation) -> (text: String, held: Bool?) {
        guard d.value.isFinite else { return ("not measured", nil) }
        let rightSign: Bool = switch expectation {
        case .atLeast: d.value >= 0
        case .greater: d.value > 0
        case .less: d.value < 0
        }
        guard let significant = d.significant else { return (rightSign ? "held (one seed)" : "**not held** (one seed)", rightSign) }
        // "At least": a gain, or no difference at all, holds; a shortfall is judged by the spread.
        if expectation == .atLeast && rightSign { return ("held", true) }
        if !significant { return ("inside the noise", nil) }
        return rightSign ? ("held", true) : ("**not held**", false)
    }

    /// The verdict on a claim that must hold at several points: not held if it fails clearly
    /// at one; held if it holds at all; otherwise inside the noise, or judged by the sign alone
    /// where points have one seed.
    static func verdict(all differences: [Statistics.Difference], _ expectation: Expectation) -> (text: String, held: Bool?) {
        let verdicts = differences.map { verdict($0, expectation) }
        let seedCount = verdicts.allSatisfy { $0.text.contains("one seed") } ? " (one seed)"
            : verdicts.contains { $0.text.contains("one seed") } ? " (one seed at some points)" : ""
        if verdicts.isEmpty { return ("not measured", nil) }
        if verdicts.contains(where: { $0.held == false && !$0.text.contains("one seed") }) { return ("**not held**", false) }
        if verdicts.allSatisfy({ $0.held == true }) { return ("held" + seedCount, true) }
        if verdicts.contains(where: { $0.text == "inside the noise" }) { return ("inside the noise", nil) }
        return ("**not held**" + seedCount, false)
    }

    /// The seed's claims, each with what was measured and its verdict.
    func claims(_ r: Results) -> [(claim: String, measured: String, verdict: String, held: Bool?)] {
        let b = r.budgets
        var out = [(String, String, String, Bool?)]()
        func add(_ claim: String, _ measured: String, _ d: Statistics.Difference?, _ expectation: Expectation) {
            let v: (text: String, held: Bool?) = d.map { Self.verdict($0, expectation) } ?? ("not measured", nil)
            out.append((claim, measured, v.text, v.held))
        }
        /// The standard error, and the half-width of the 95% interval (Student's t at the
        /// difference's degrees of freedom) that the verdict compares the value with.
        func uncertainty(_ d: Statistics.Difference, scale: Double = 100, format: String = "%.2f") -> String {
            guard let se = d.standardError else { return "" }
            var text = " (standard error " + String(format: format, se * scale)
            if let df = d.degreesOfFreedom, df.isFinite, df >= 1 {
                text += "; 95% interval ±" + String(format: format, Statistics.tCritical(df) * se * scale)
                    + String(format: " at %.3g degree%@ of freedom", df, df == 1 ? "" : "s")
            }
            return text + ")"
        }
        func points(_ d: Statistics.Difference) -> String {
            Self.signed(d.value * 100) + " points" + uncertainty(d)
        }
        // 1. Frozen random filters reach the learned baseline.
        let base = cell(r, .baseline, k: 3, e: 1, budget: b.table1), frozen = cell(r, .lcFrozen, k: 3, e: table1Expansion, budget: b.table1)
        let d1 = base.values.isEmpty || frozen.values.isEmpty ? nil : Statistics.welch(frozen.values, base.values)
        add("Frozen random spatial filters with learned combinations are at least as accurate as the learned baseline (E = \(table1Expansion))",
            d1.map { "frozen − baseline " + points($0) } ?? "runs missing", d1, .atLeast)
        // 1b. Table 1's order: learned LC below the baseline.
        let learned1 = cell(r, .lcLearned, k: 3, e: table1Expansion, budget: b.table1)
        let d1b = base.values.isEmpty || learned1.values.isEmpty ? nil : Statistics.welch(learned1.values, base.values)
        add("Learnable LC is less accurate than the baseline (Table 1, E = \(table1Expansion))",
            d1b.map { "learned − baseline " + points($0) } ?? "runs missing", d1b, .less)
        // 1c. Learned LC below the baseline at every E of the sweep: held only if it holds at
        // every recorded E, not held if it fails clearly at one.
        let sweepBase = cell(r, .baseline, k: 3, e: 1, budget: b.sweep), sweepNoise = seedNoise(r, budget: b.sweep)
        let below = expansions.sorted().compactMap { e -> (Int, Statistics.Difference)? in
            let learned = cell(r, .lcLearned, k: 3, e: e, budget: b.sweep)
            return learned.values.isEmpty || sweepBase.values.isEmpty ? nil
                : (e, Statistics.difference(learned.values, sweepBase.values, pooled: sweepNoise))
        }
        let everyE = Self.verdict(all: below.map(\.1), .less)
        out.append(("Learnable LC is below the baseline at every E (k = 3)",
                    below.isEmpty ? "runs missing" : "learned − baseline: " + below.map { "E=\($0.0) " + Self.signed($0.1.value * 100) }.joined(separator: ", ") + " points",
                    everyE.text, everyE.held))
        // 1d. ... and that shortfall shrinks as E grows: learned accuracy rises with log2 E.
        let learnedSweep = r.runs.filter { $0.spec.variant == .lcLearned && $0.spec.kernelSize == 3 && $0.spec.intermediate == nil
            && expansions.contains($0.spec.expansion) && $0.spec.epochs == b.sweep.epochs && $0.spec.trainImages == b.sweep.trainImages }
        let learnedSlope = Set(learnedSweep.map(\.spec.expansion)).count >= 2
            ? Statistics.slope(x: learnedSweep.map { log2(Double($0.spec.expansion)) }, y: learnedSweep.map(\.testAccuracy)) : nil
        add("The learnable-LC shortfall against the baseline shrinks as E grows (k = 3)",
            learnedSlope.map { "learned accuracy " + Self.signed($0.value * 100) + " points per doubling of E" + uncertainty($0) } ?? "fewer than two E recorded",
            learnedSlope, .greater)
        // 2. Frozen LC beats learned LC from E = 8.
        for e in Set([table1Expansion] + claimPoints).filter({ $0 >= 8 }).sorted() {
            let budget = e == table1Expansion ? b.table1 : b.sweep
            let d = gap(r, k: 3, e: e, budget: budget).map { Statistics.Difference(value: -$0.value, standardError: $0.standardError, degreesOfFreedom: $0.degreesOfFreedom) }
            add("Frozen random LC beats learnable LC from E = 8 (here E = \(e))", d.map { "frozen − learned " + points($0) } ?? "runs missing", d, .greater)
        }
        // 3. FGSM robustness grows with E (frozen LC): the slope against log2 E over every recorded sweep run.
        let frozenSweep = r.runs.filter { $0.spec.variant == .lcFrozen && $0.spec.kernelSize == 3 && $0.spec.intermediate == nil && expansions.contains($0.spec.expansion)
            && $0.spec.epochs == b.sweep.epochs && $0.spec.trainImages == b.sweep.trainImages }
        let robustSlope = Set(frozenSweep.map(\.spec.expansion)).count >= 2
            ? Statistics.slope(x: frozenSweep.map { log2(Double($0.spec.expansion)) }, y: frozenSweep.map(\.robustAccuracy)) : nil
        add("Robustness to FGSM grows with E (frozen LC)", robustSlope.map { Self.signed($0.value * 100) + " points per doubling of E" + uncertainty($0) } ?? "fewer than two E recorded", robustSlope, .greater)
        // 4. The learned-vs-frozen gap grows with k, at each grid E.
        for e in kernelExpansions {
            let gaps = kernelSizes.sorted().compactMap { k in gap(r, k: k, e: e, budget: b.grid).map { (x: Double(k), y: $0) } }
            // Two k leave no residual spread, so their gaps' own (seed-noise) errors judge the slope.
            let slope = gaps.count == 2 ? Statistics.slope(from: gaps[0], to: gaps[1])
                : gaps.count > 2 ? Statistics.slope(x: gaps.map(\.x), y: gaps.map(\.y.value)) : nil
            add("The learned-vs-frozen gap grows with the kernel size (E = \(e))",
                slope.map { s in gaps.map { "k=\(Int($0.x)) " + Self.signed($0.y.value * 100) }.joined(separator: ", ") + " points"
                    + "; slope " + Self.signed(s.value * 100) + " points per k" + uncertainty(s) }
                    ?? "fewer than two k recorded",
                slope, .greater)
        }
        // 5. The gap shrinks as E grows (k = 3).
        let sweepGaps = expansions.sorted().compactMap { e in gap(r, k: 3, e: e, budget: b.sweep).map { (log2(Double(e)), $0.value, e) } }
        let gapSlope = sweepGaps.count >= 2 ? Statistics.slope(x: sweepGaps.map(\.0), y: sweepGaps.map(\.1)) : nil
        add("The learned-vs-frozen gap shrinks as E grows (k = 3)",
            gapSlope.map { s in sweepGaps.map { "E=\($0.2) " + Self.signed($0.1 * 100) }.joined(separator: ", ") + " points"
                + "; slope " + Self.signed(s.value * 100) + " points per doubling of E" + uncertainty(s) } ?? "fewer than two E recorded",
            gapSlope, .less)
        // 6. Learned LC has the least filter diversity (Table 1 runs, after training), read two
        // ways: the k×k layer's own filters, and the effective filters of the folded block
        // (spatial · combination), which are what the network convolves with.
        let measures: [(name: String, of: (RunRecord) -> Double?)] = [
            ("spatial filters", { $0.spatialEntropy }),
            ("effective filters (LC folded)", { $0.effectiveEntropy })]
        for measure in measures {
            let entropy = Dictionary(uniqueKeysWithValues: Variant.allCases.map { v in (v, table1Runs(r, v).compactMap(measure.of)) })
            for other in [Variant.baseline, .lcFrozen] {
                let (l, o) = (entropy[.lcLearned] ?? [], entropy[other] ?? [])
                let d = l.isEmpty || o.isEmpty ? nil : Statistics.welch(l, o)
                add("Learnable LC has the least diverse \(measure.name): less than \(other.rawValue) (Table 1, E = \(table1Expansion))",
                    d.map { String(format: "variance entropy, learned − %@ %+.2g", other.rawValue, $0.value) + uncertainty($0, scale: 1, format: "%.2g") } ?? "runs missing",
                    d, .less)
            }
        }
        return out
    }
}
