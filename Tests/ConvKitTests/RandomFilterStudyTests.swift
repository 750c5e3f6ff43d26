import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Seed 002's study: its plan of runs, the records that make it resumable, `--only`, and the
/// statistics behind its verdicts.
@Suite struct RandomFilterStudyTests {
    static func study(_ extra: String = "") throws -> RandomFilterStudy {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("study-\(UInt64.random(in: 0...UInt64.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("tiny.yaml").path
        try """
            name: tiny
            kind: random-filters
            data: {dataset: fashion-mnist, train_limit: 96, test_limit: 40}
            resize: 12
            depth: 8
            width: 2
            recipe: {epochs: 1, batch_size: 32, optimizer: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true,
                     weight_decay: 0.01, weight_decay_mode: coupled, schedule: cosine, label_smoothing: 0.1, seeds: [0, 1]}
            table1_expansion: 4
            expansions: [1, 4]
            claim_expansions: [4]
            kernel_sizes: [3, 5]
            kernel_expansions: [1]
            grid: {train_limit: 64}
            ablation: {expansion: 2, intermediates: [none, batch_norm_relu], train_limit: 64}
            fgsm_images: 20
            fgsm_epsilon: 0.00392156862745098
            \(extra)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try RandomFilterStudy.load(path: path)
    }

    @Test func thePlanPutsTable1FirstAndSharesRunsBetweenGroups() throws {
        let plan = try Self.study().plan(availableTrainImages: 60_000)
        // Table 1 (3 variants × 2 seeds), the claim point E = 4 is Table 1's, the sweep adds
        // E = 1 (learned, frozen) on seed 0; the grid (64 images) adds its first baseline on
        // seed 1 (its seed noise), then k 3 and 5: a baseline and E = 1 each; the ablation (64
        // images) the plain and the BatchNorm+ReLU block at E = 2.
        #expect(plan.prefix(6).map(\.id) == [
            "baseline-k3-s0-ep1-n96", "lc-learned-k3-e4-s0-ep1-n96", "lc-frozen-k3-e4-s0-ep1-n96",
            "baseline-k3-s1-ep1-n96", "lc-learned-k3-e4-s1-ep1-n96", "lc-frozen-k3-e4-s1-ep1-n96",
        ])
        #expect(plan.count == 6 + 2 + 1 + 6 + 4)
        #expect(Set(plan.map(\.id)).count == plan.count)
        #expect(plan.filter { $0.trainImages == 64 }.map(\.id) == [
            "baseline-k3-s1-ep1-n64", "baseline-k3-s0-ep1-n64", "lc-learned-k3-e1-s0-ep1-n64", "lc-frozen-k3-e1-s0-ep1-n64",
            "baseline-k5-s0-ep1-n64", "lc-learned-k5-e1-s0-ep1-n64", "lc-frozen-k5-e1-s0-ep1-n64",
            "lc-learned-k3-e2-s0-ep1-n64", "lc-frozen-k3-e2-s0-ep1-n64",
            "lc-learned-k3-e2-batch_norm_relu-s0-ep1-n64", "lc-frozen-k3-e2-batch_norm_relu-s0-ep1-n64",
        ])
        #expect(plan.last?.intermediate == .batchNormReLU && plan[plan.count - 3].intermediate == nil)
        // A limit above the data set is the data set.
        #expect(try Self.study().plan(availableTrainImages: 80).first?.trainImages == 80)
    }

    /// With a sweep budget of its own and three seeds: the claim points (and their baseline)
    /// for two seeds come before the rest of the sweep, which runs from small E up; the third
    /// seed's claim runs follow it.
    @Test func theSweepTrainsTwoSeedsAtClaimPointsBeforeTheRest() throws {
        var study = try Self.study()
        study.recipe.seeds = [0, 1, 2]
        study.expansions = [4, 1]; study.claimExpansions = [4]
        study.sweep = .init(epochs: 2)
        let sweep = study.plan(availableTrainImages: 60_000).filter { $0.epochs == 2 }.map(\.id)
        #expect(sweep == [
            "baseline-k3-s0-ep2-n96", "lc-learned-k3-e4-s0-ep2-n96", "lc-frozen-k3-e4-s0-ep2-n96",
            "baseline-k3-s1-ep2-n96", "lc-learned-k3-e4-s1-ep2-n96", "lc-frozen-k3-e4-s1-ep2-n96",
            "lc-learned-k3-e1-s0-ep2-n96", "lc-frozen-k3-e1-s0-ep2-n96",
            "baseline-k3-s2-ep2-n96", "lc-learned-k3-e4-s2-ep2-n96", "lc-frozen-k3-e4-s2-ep2-n96",
        ])
    }

    @Test func onlySelectsRunsAndNamesBadFilters() throws {
        let plan = try Self.study().plan(availableTrainImages: 60_000)
        let frozenSeed1 = try RandomFilterStudy.RunFilter("variant=frozen, seed=1")
        #expect(plan.filter(frozenSeed1.admits).map(\.id) == ["lc-frozen-k3-e4-s1-ep1-n96"])
        #expect(plan.filter(try RandomFilterStudy.RunFilter("E=1").admits).count == 6)   // sweep 2, grid 4
        #expect(plan.filter(try RandomFilterStudy.RunFilter("k=5").admits).count == 3)
        #expect(plan.filter(try RandomFilterStudy.RunFilter("between=batch_norm_relu").admits).map(\.id) == [
            "lc-learned-k3-e2-batch_norm_relu-s0-ep1-n64", "lc-frozen-k3-e2-batch_norm_relu-s0-ep1-n64"])
        #expect(plan.filter(try RandomFilterStudy.RunFilter("between=none, variant=learned, E=2").admits).map(\.id) == ["lc-learned-k3-e2-s0-ep1-n64"])
        for bad in ["E", "colour=red", "variant=random", "seed=one", "between=tanh"] {
            #expect(throws: ConvKitError.self) { try RandomFilterStudy.RunFilter(bad) }
        }
    }

    @Test func badStudyFilesGetNamedErrors() throws {
        do { _ = try Self.study("claim_expansion: [4]"); Issue.record("a misspelt field was accepted") } catch let error as ConvKitError {
            #expect(error.description.contains("unknown field(s) 'claim_expansion'"))
        }
        do {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(UInt64.random(in: 0...UInt64.max)).yaml").path
            try (try String(contentsOfFile: try Self.study().directory + "/tiny.yaml", encoding: .utf8))
                .replacingOccurrences(of: "claim_expansions: [4]", with: "claim_expansions: [8]").write(toFile: path, atomically: true, encoding: .utf8)
            _ = try RandomFilterStudy.load(path: path)
            Issue.record("a claim expansion outside the sweep was accepted")
        } catch let error as ConvKitError {
            #expect(error.description.contains("'claim_expansions' must be among 'expansions'"))
        }
    }

    /// Trains a subset, then the rest: recorded runs are not trained again, and the report is
    /// built from the records.
    @Test func runsAreRecordedSkippedAndReported() throws {
        let study = try Self.study()
        let folder = study.directory + "/report"
        _ = try study.runAndReport(quick: false, folder: folder, options: StudyOptions(only: "seed=1"))
        let first = try FileManager.default.contentsOfDirectory(atPath: folder + "/runs").filter { $0.hasSuffix(".json") }.sorted()
        #expect(first == ["baseline-k3-s1-ep1-n64.json", "baseline-k3-s1-ep1-n96.json", "lc-frozen-k3-e4-s1-ep1-n96.json",
                          "lc-learned-k3-e4-s1-ep1-n96.json"])
        let recordPath = folder + "/runs/lc-frozen-k3-e4-s1-ep1-n96.json"
        let before = try Data(contentsOf: URL(fileURLWithPath: recordPath))
        let record = try JSONDecoder().decode(RandomFilterStudy.RunRecord.self, from: before)
        #expect(record.spec.seed == 1 && record.recipe.seed == 1 && record.history.epochs.count == 1)
        #expect(record.entropyByEpoch.count == 2 && record.entropyByEpoch[0].count == 7)
        #expect(record.fgsmImages == 20 && record.testImages == 40)
        #expect(record.testAccuracy > 0 && record.testAccuracy <= 1)
        // The unloaded-time estimate takes the fastest epoch for every epoch of the run.
        var timed = record
        timed.spec.epochs = 3
        timed.history.epochs = [5.0, 2.0, 9.0].map { var e = record.history.epochs[0]; e.seconds = $0; return e }
        #expect(timed.secondsAtFastestEpoch == 6)
        _ = try study.runAndReport(quick: false, folder: folder, options: StudyOptions())
        // The seed-1 record was kept as it was, not trained again.
        #expect(try Data(contentsOf: URL(fileURLWithPath: recordPath)) == before)
        let runs = try FileManager.default.contentsOfDirectory(atPath: folder + "/runs")
        #expect(runs.filter { $0.hasSuffix(".json") }.count == 19)
        #expect(!runs.contains { $0.hasSuffix(".checkpoint") })
        let ablated = try JSONDecoder().decode(RandomFilterStudy.RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/runs/lc-frozen-k3-e2-batch_norm_relu-s0-ep1-n64.json")))
        #expect(ablated.spec.intermediate == .batchNormReLU && ablated.spec.expansion == 2)
        // The operation is in the network: BatchNorm's 4 parameters per middle channel, c_out · E
        // in each of the 7 k×k layers (stem 2, stages 2, 2, 4, 4, 8, 8 filters).
        let plain = try JSONDecoder().decode(RandomFilterStudy.RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/runs/lc-frozen-k3-e2-s0-ep1-n64.json")))
        #expect(ablated.parameters - plain.parameters == 4 * 2 * (2 + 2 + 2 + 4 + 4 + 8 + 8))
        let report = try String(contentsOfFile: folder + "/report.md", encoding: .utf8)
        #expect(report.contains("Runs recorded: 19 of 19 planned"))
        // The grid's two baseline seeds give its seed noise, which judges the gap's slope over k.
        #expect(report.contains("the mean of 2 seeds, whose spread is the grid's seed noise"))
        #expect(report.contains("points per k (standard error"))
        // A trend's verdict shows the slope it was decided by, beside the points.
        let gapRow = try #require(report.split(separator: "\n").first { $0.hasPrefix("| The learned-vs-frozen gap shrinks as E grows") })
        #expect(gapRow.contains(" points; slope ") && gapRow.contains(" points per doubling of E"))
        // Filter diversity is judged on the k×k filters and on the folded blocks' effective filters.
        for measure in ["spatial filters", "effective filters (LC folded)"] {
            for other in ["baseline", "LC frozen"] {
                #expect(report.contains("| Learnable LC has the least diverse \(measure): less than \(other) (Table 1, E = 4) | variance entropy, learned − \(other) "))
            }
        }
        // Each verdict's yardstick is printed beside it: the 95% interval at the error's degrees of freedom.
        #expect(report.contains("; 95% interval ±") && report.contains(" degrees of freedom)"))
        #expect(report.contains("(n = 2)"))
        #expect(report.contains("## Table 3: an operation between the two convolutions (k = 3, E = 2)"))
        #expect(report.contains("| batch norm relu | "))
        // Rebuilt from the records alone, the report is the same.
        try study.rerender(folder: folder)
        #expect(try String(contentsOfFile: folder + "/report.md", encoding: .utf8) == report)
        #expect(throws: ConvKitError.self) { try study.runAndReport(quick: false, folder: folder, options: StudyOptions(only: "E=64")) }
    }

    // MARK: Statistics, against SciPy (scripts/statistics_values.py)

    @Test func welchMatchesScipy() {
        // scipy.stats.ttest_ind(a, b, equal_var=False): t = 2.449489742783164, df = 4.0
        let d = Statistics.welch([0.93, 0.935, 0.94], [0.92, 0.925, 0.93])
        #expect(abs(d.value - 0.01) < 1e-12)
        #expect(abs(d.value / d.standardError! - 2.4494897427831783) < 1e-9)
        #expect(abs(d.degreesOfFreedom! - 4.0) < 1e-9)
        #expect(d.significant == false)   // t 2.45 < t(0.975, 4) = 2.776
        let spread = Statistics.welch([0.90, 0.95, 0.80, 0.85], [0.91, 0.99, 0.70])
        #expect(abs(spread.value / spread.standardError! - 0.09028448318226741) < 1e-9)
        #expect(abs(spread.degreesOfFreedom! - 2.5628616352801) < 1e-9)
        #expect(Statistics.welch([0.9], [0.8]).significant == nil)
    }

    @Test func slopeMatchesScipy() {
        // scipy.stats.linregress([0, 1, 2, 3], [0.1, 0.3, 0.2, 0.5]): slope 0.11, stderr 0.05196152422706634
        let s = Statistics.slope(x: [0, 1, 2, 3], y: [0.1, 0.3, 0.2, 0.5])
        #expect(abs(s.value - 0.11) < 1e-12)
        #expect(abs(s.standardError! - 0.05196152422706634) < 1e-12)
        #expect(s.degreesOfFreedom == 2)
        #expect(s.significant == false)   // t 2.12 < t(0.975, 2) = 4.303
        #expect(Statistics.slope(x: [1, 2], y: [1, 3]).standardError == nil)
    }

    /// Two one-seed points judged by their own errors: slope (y₂ − y₁)/(x₂ − x₁), error
    /// √(se₁² + se₂²)/(x₂ − x₁), the fewer degrees of freedom (worked by hand: a 3-4-5 triangle).
    @Test func twoPointSlopeCarriesThePointsErrors() {
        typealias D = Statistics.Difference
        let s = Statistics.slope(from: (3, D(value: 0.05, standardError: 0.012, degreesOfFreedom: 2)),
                                 to: (5, D(value: 0.09, standardError: 0.009, degreesOfFreedom: 4)))
        #expect(abs(s.value - 0.02) < 1e-12)
        #expect(abs(s.standardError! - 0.0075) < 1e-12)   // √(0.012² + 0.009²) = 0.015, over 2
        #expect(s.degreesOfFreedom == 2)
        #expect(s.significant == false)   // t 2.67 < t(0.975, 2) = 4.303
        let clear = Statistics.slope(from: (3, D(value: 0, standardError: 0.003, degreesOfFreedom: 6)),
                                     to: (5, D(value: 0.05, standardError: 0.004, degreesOfFreedom: 6)))
        #expect(abs(clear.standardError! - 0.0025) < 1e-12 && clear.significant == true)   // t 10 > 2.447
        #expect(Statistics.slope(from: (3, D(value: 0)), to: (5, D(value: 1, standardError: 0.1, degreesOfFreedom: 3))).standardError == nil)
    }

    @Test func pooledSeedNoiseMatchesScipy() throws {
        // scipy.stats.ttest_ind(g1, g2, equal_var=True) pools the two groups: s = 0.00733143914930758, df 5.
        let (g1, g2) = ([0.93, 0.935, 0.94], [0.92, 0.925, 0.93, 0.91])
        let pooled = try #require(Statistics.pooledStandardDeviation([g1, g2, [0.5]]))   // a single run adds nothing
        #expect(abs(pooled.value - 0.00733143914930758) < 1e-12)
        #expect(pooled.degreesOfFreedom == 5)
        #expect(Statistics.pooledStandardDeviation([[0.5], [0.7]]) == nil)
        // One run against a group: standard error s·√(1 + 1/3) = 0.008465616732800184, t 1.77 < t(0.975, 5) = 2.571.
        let single = Statistics.difference([0.95], g1, pooled: pooled)
        #expect(abs(single.value - 0.015) < 1e-12)
        #expect(abs(single.standardError! - 0.008465616732800184) < 1e-12)
        #expect(single.degreesOfFreedom == 5)
        #expect(single.significant == false)
        #expect(Statistics.difference([0.97], g1, pooled: pooled).significant == true)
        // Both sides with a spread: Welch's test, as before; no pooled noise: no error.
        #expect(abs(Statistics.difference(g1, g2, pooled: pooled).standardError! - Statistics.welch(g1, g2).standardError!) < 1e-15)
        #expect(Statistics.difference([0.95], g1, pooled: nil).standardError == nil)
    }

    @Test func verdictsReadTheSpread() {
        typealias D = Statistics.Difference
        let small = D(value: -0.001, standardError: 0.01, degreesOfFreedom: 4)
        let large = D(value: -0.05, standardError: 0.01, degreesOfFreedom: 4)
        // "At least": a shortfall inside the noise is reported as such; a clear one does not hold.
        #expect(RandomFilterStudy.verdict(small, .atLeast).text == "inside the noise")
        #expect(RandomFilterStudy.verdict(D(value: 0.01, standardError: 0.01, degreesOfFreedom: 4), .atLeast).held == true)
        #expect(RandomFilterStudy.verdict(large, .atLeast).held == false)
        // "Greater": inside the noise is no verdict; a clear gain holds.
        #expect(RandomFilterStudy.verdict(D(value: 0.001, standardError: 0.01, degreesOfFreedom: 4), .greater).text == "inside the noise")
        #expect(RandomFilterStudy.verdict(D(value: 0.05, standardError: 0.01, degreesOfFreedom: 4), .greater).held == true)
        #expect(RandomFilterStudy.verdict(large, .less).held == true)
        #expect(RandomFilterStudy.verdict(D(value: 0.002), .greater).text == "held (one seed)")
        #expect(RandomFilterStudy.verdict(D(value: 0), .greater).held == false)
        #expect(RandomFilterStudy.verdict(D(value: 0), .atLeast).held == true)
        // At every point: one clear failure decides; noise anywhere leaves it open; one-seed points are named.
        #expect(RandomFilterStudy.verdict(all: [large, large], .less).text == "held")
        #expect(RandomFilterStudy.verdict(all: [large, D(value: -0.01)], .less).text == "held (one seed at some points)")
        #expect(RandomFilterStudy.verdict(all: [large, small], .less).text == "inside the noise")
        #expect(RandomFilterStudy.verdict(all: [small, D(value: 0.05, standardError: 0.01, degreesOfFreedom: 4)], .less).held == false)
        #expect(RandomFilterStudy.verdict(all: [large, D(value: 0.01)], .less).text == "**not held** (one seed at some points)")
        #expect(RandomFilterStudy.verdict(all: [D(value: -0.01), D(value: -0.02)], .less).text == "held (one seed)")
        #expect(RandomFilterStudy.verdict(all: [], .less).held == nil)
    }

    @Test func signedFiguresNeverReadMinusZero() {
        #expect(RandomFilterStudy.signed(0.414) == "+0.41")
        #expect(RandomFilterStudy.signed(-0.926) == "-0.93")
        #expect(RandomFilterStudy.signed(-0.004) == "0.00")
        #expect(RandomFilterStudy.signed(0.004) == "0.00")
        #expect(RandomFilterStudy.signed(-0.006) == "-0.01")
    }
}

/// The HTML report inlines every figure; ids must stay unique across them, or later figures
/// draw with the first one's glyphs.
@Suite struct HTMLReportTests {
    @Test func inlinedFiguresHaveUniqueIDsAndParagraphsJoinTheirLines() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("html-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["a", "b"] {
            try LineChart(title: "Figure \(name)", xLabel: "x", yLabel: "y",
                          series: [.init(label: name, points: [(1, 2), (2, 3)], colorIndex: 0, markers: true)]).write(to: "\(folder)/\(name)")
        }
        #expect(throws: ConvKitError.self) {
            try LineChart(title: "empty", xLabel: "x", yLabel: "y", series: [.init(label: "none", points: [], colorIndex: 0)]).write(to: "\(folder)/c")
        }
        let html = try HTMLReport.render(markdown: "# T\n\nfirst line\nsecond line\n\n![a](a.svg)\n\n![b](b.svg)\n", title: "T", folder: folder)
        let ids = html.matches(of: /id="([^"]+)"/).map { String($0.1) }
        #expect(ids.count > 20)
        #expect(Set(ids).count == ids.count, "duplicate ids: \(Dictionary(grouping: ids, by: { $0 }).filter { $1.count > 1 }.keys.prefix(5))")
        #expect(html.matches(of: /href="#([^"]+)"/).allSatisfy { ids.contains(String($0.1)) })
        #expect(html.contains("<p>first line second line</p>"))
        // Inline spans: bold, italic and code, with nothing inside code read as emphasis.
        #expect(HTMLReport.inline("a *held* or **not held** verdict, `*x*` and 2 * 3 * 4")
                == "a <em>held</em> or <strong>not held</strong> verdict, <code>*x*</code> and 2 * 3 * 4")
        #expect(HTMLReport.inline("an unpaired ` backtick and `code`") == "an unpaired <code> backtick and </code>code`")
    }

    /// Tables follow their separator row: `---:` columns (numbers) are right-aligned, `---`
    /// columns (text) left-aligned, and the header row is the table's first row.
    @Test func tablesAlignColumnsAsTheirSeparatorSays() throws {
        let html = try HTMLReport.render(markdown: "| Claim | n | Verdict |\n|---|---:|---|\n| *a* | 3 | held |\n\nafter\n", title: "T", folder: "/nonexistent")
        #expect(html.contains("<table>\n<tr><th>Claim</th><th class=\"r\">n</th><th>Verdict</th></tr>\n"
                              + "<tr><td><em>a</em></td><td class=\"r\">3</td><td>held</td></tr>\n</table>\n<p>after</p>"))
        // A table without a separator keeps its header, every column left-aligned.
        #expect(try HTMLReport.render(markdown: "| a | b |\n| 1 | 2 |\n", title: "T", folder: "/nonexistent")
                    .contains("<table>\n<tr><th>a</th><th>b</th></tr>\n<tr><td>1</td><td>2</td></tr>\n</table>"))
    }

    /// A series drawn as a band shades ± its errors along the line; drawn with bars, the same
    /// place between the bars stays white.
    @Test func bandsShadeTheSpreadAroundALine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("band-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func pixel(band: Bool) throws -> [Float] {
            try LineChart(title: "band", xLabel: "x", yLabel: "y",
                          series: [.init(label: "level", points: [(0, 0), (2, 0)], colorIndex: 2, dashed: true, errors: [1, 1], band: band)])
                .write(to: "\(folder)/chart")
            let image = try ImageFile.read(path: "\(folder)/chart.png", channels: 3), width = image.shape[2]
            // Above the line, half-way to the band's edge, a third of the way across the plot.
            let (x, y) = (250, 120), at = (y * width + x) * 3
            return Array(image.scalars[at..<(at + 3)])
        }
        let shaded = try pixel(band: true), plain = try pixel(band: false)
        #expect(plain == [1, 1, 1])
        #expect(shaded[1] < 0.99 && shaded[1] > shaded[0] && shaded[1] > shaded[2], "a light green: \(shaded)")
    }
}
