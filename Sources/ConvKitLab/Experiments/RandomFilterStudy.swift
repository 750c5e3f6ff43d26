import ConvKit
import Foundation

/// Seed 002, Gavrikov & Keuper, "The Power of Linear Combinations: Learning with Random
/// Convolutions" (2023): a CIFAR-style ResNet whose k×k convolutions are learned (baseline),
/// LC-blocks with learned spatial filters, or LC-blocks whose spatial filters stay at their
/// random initialisation.
///
/// The study is a plan of runs, each a (variant, k, E, seed, budget): the paper's Table 1 row
/// (every seed), the expansion sweep at k = 3 (every seed at the E values the paper makes
/// claims about), the k × E grid, and the Table 3 ablation (an operation between the block's two
/// convolutions). Every run writes its own record (`runs/<id>.json`) when
/// it finishes; running the study again skips recorded runs, continues an interrupted run from
/// its checkpoint, and the report is rebuilt from the records alone. `--only` picks a subset,
/// and under `mpirun` each rank trains its own share of the runs.
public struct RandomFilterStudy: Codable, Sendable, Study {
    public var name: String
    public var title: String?
    public var description: String?
    /// How this tier differs from the paper's conditions, for the report.
    public var tier: String?
    public var data: Experiment.DataSpec
    /// Images are resized to `resize × resize` (the paper upscales Fashion-MNIST to 32×32).
    public var resize: Int?
    /// The ResNet's depth (6n + 2) and width.
    public var depth = 20
    public var width = 16
    /// The recipe of the Table 1 runs; `recipe.seeds` are the seeds of the study.
    public var recipe: Experiment.Recipe
    /// Table 1: baseline, LC learned and LC frozen at k = 3 and this E, every seed.
    public var table1Expansion: Int
    /// The expansion sweep at k = 3 (learned and frozen), on the `sweep` budget: the first
    /// seed, and every seed at `claimExpansions`.
    public var expansions: [Int]
    public var claimExpansions: [Int]?
    var claimPoints: [Int] { claimExpansions ?? [] }
    public var sweep: Budget?
    /// The k × E grid (learned and frozen, and each k's baseline), first seed, on the `grid` budget;
    /// the first k's baseline also on the other seeds, for the grid's seed noise.
    public var kernelSizes: [Int]
    public var kernelExpansions: [Int]
    public var grid: Budget?
    /// Table 3: LC-blocks with an operation between their convolutions, learned and frozen.
    public var ablation: Ablation?
    /// FGSM step in pixel units ([0, 1] images): 1/255 in the paper.
    public var fgsmEpsilon: Float = 1.0 / 255
    /// Test images attacked with FGSM; all of them when absent.
    public var fgsmImages: Int?
    /// The paper's numbers for the report (Table 1, Fashion-MNIST row).
    public var paper: PaperRow?
    public var quick: Quick?
    public var notes: String?
    public var directory = ""

    /// Epochs and training images of a group of runs that uses less than the recipe.
    public struct Budget: Codable, Sendable, Equatable {
        public var epochs: Int?
        public var trainLimit: Int?
        enum CodingKeys: String, CodingKey { case epochs, trainLimit = "train_limit" }
    }

    /// The paper's Table 3 ablation, at k = 3 and one E, on its own budget (the blocks cannot
    /// fold, so they train as two convolutions and cost E times a plain one).
    public struct Ablation: Codable, Sendable, Equatable {
        public var expansion: Int
        public var intermediates: [LCConv2D.Intermediate]
        public var epochs: Int?
        public var trainLimit: Int?
        var budget: Budget { Budget(epochs: epochs, trainLimit: trainLimit) }
        enum CodingKeys: String, CodingKey { case expansion, intermediates, epochs, trainLimit = "train_limit" }
    }

    public struct PaperRow: Codable, Sendable {
        public var baseline: Double, lcLearned: Double, lcFrozen: Double
        public var baselineStd: Double?, lcLearnedStd: Double?, lcFrozenStd: Double?
        public var expansion: Int
        public var conditions: String
        enum CodingKeys: String, CodingKey {
            case baseline, lcLearned = "lc_learned", lcFrozen = "lc_frozen", expansion, conditions
            case baselineStd = "baseline_std", lcLearnedStd = "lc_learned_std", lcFrozenStd = "lc_frozen_std"
        }
    }

    public struct Quick: Codable, Sendable {
        public var trainLimit: Int?, testLimit: Int?, epochs: Int?, batchSize: Int?, seeds: [UInt64]?
        public var table1Expansion: Int?, expansions: [Int]?, claimExpansions: [Int]?
        public var kernelSizes: [Int]?, kernelExpansions: [Int]?
        public var ablation: Ablation?
        public var fgsmImages: Int?
        enum CodingKeys: String, CodingKey {
            case trainLimit = "train_limit", testLimit = "test_limit", epochs, batchSize = "batch_size", seeds, table1Expansion = "table1_expansion"
            case expansions, claimExpansions = "claim_expansions", kernelSizes = "kernel_sizes"
            case kernelExpansions = "kernel_expansions", ablation, fgsmImages = "fgsm_images"
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, title, description, tier, data, resize, depth, width, recipe, table1Expansion = "table1_expansion"
        case expansions, claimExpansions = "claim_expansions", sweep, kernelSizes = "kernel_sizes"
        case kernelExpansions = "kernel_expansions", grid, ablation, fgsmEpsilon = "fgsm_epsilon", fgsmImages = "fgsm_images"
        case paper, quick, notes
    }

    public static func load(path: String) throws -> RandomFilterStudy {
        try rejectUnknownFields(in: path, known: CodingKeys.allCases.map(\.rawValue))
        var study: RandomFilterStudy = try decodeExperimentFile(path)
        study.directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try study.validate(path)
        return study
    }

    func validate(_ path: String) throws {
        let all = [table1Expansion] + expansions + claimPoints + kernelExpansions + [ablation?.expansion].compactMap { $0 }
        guard all.allSatisfy({ $0 >= 1 }) else { throw ConvKitError("\(path): every expansion must be at least 1") }
        guard !expansions.isEmpty else { throw ConvKitError("\(path): 'expansions' must list at least one E") }
        guard Set(claimPoints).isSubset(of: expansions) else {
            throw ConvKitError("\(path): 'claim_expansions' must be among 'expansions'")
        }
        guard !kernelSizes.isEmpty, kernelSizes.allSatisfy({ $0 >= 1 && $0 % 2 == 1 }) else {
            throw ConvKitError("\(path): 'kernel_sizes' must list odd positive integers")
        }
        if let ablation, ablation.intermediates.isEmpty || Set(ablation.intermediates).count != ablation.intermediates.count {
            throw ConvKitError("\(path): 'ablation.intermediates' must list distinct operations among \(LCConv2D.Intermediate.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for budget in [sweep, grid, ablation?.budget].compactMap({ $0 }) {
            guard (budget.epochs ?? 1) >= 1, (budget.trainLimit ?? 1) >= 1 else {
                throw ConvKitError("\(path): a budget's epochs and train_limit must be positive")
            }
        }
        try recipe.validate()
        _ = try ResNet(depth: depth, width: width).model(inputShape: [resize ?? 28, resize ?? 28, 1])
    }

    public func quickened() -> RandomFilterStudy {
        guard let quick else { return self }
        var s = self
        s.data.trainLimit = quick.trainLimit ?? s.data.trainLimit
        s.data.testLimit = quick.testLimit ?? s.data.testLimit
        s.recipe.epochs = quick.epochs ?? s.recipe.epochs
        s.recipe.batchSize = quick.batchSize ?? s.recipe.batchSize
        s.recipe.seeds = quick.seeds ?? s.recipe.seeds
        s.table1Expansion = quick.table1Expansion ?? s.table1Expansion
        s.expansions = quick.expansions ?? s.expansions
        s.claimExpansions = quick.claimExpansions ?? s.claimPoints.filter(s.expansions.contains)
        s.kernelSizes = quick.kernelSizes ?? s.kernelSizes
        s.kernelExpansions = quick.kernelExpansions ?? s.kernelExpansions
        s.ablation = quick.ablation.map { Ablation(expansion: $0.expansion, intermediates: $0.intermediates) }
        s.fgsmImages = quick.fgsmImages ?? s.fgsmImages
        s.sweep = nil; s.grid = nil
        return s
    }

    // MARK: The plan

    public enum Variant: String, Codable, Sendable, CaseIterable {
        case baseline = "baseline", lcLearned = "LC learned", lcFrozen = "LC frozen"
        var slug: String { switch self { case .baseline: "baseline"; case .lcLearned: "lc-learned"; case .lcFrozen: "lc-frozen" } }
    }

    /// One run of the study. Its id names its record and checkpoint: two groups that plan the
    /// same run with the same budget share it.
    public struct RunSpec: Codable, Sendable, Hashable {
        public var variant: Variant
        public var kernelSize: Int
        /// 1 for the baseline.
        public var expansion: Int
        /// The ablation's operation between an LC-block's convolutions; nil for none (the
        /// paper's block), so that such a run shares its record with the same plain LC run.
        public var intermediate: LCConv2D.Intermediate?
        public var seed: UInt64
        public var epochs: Int
        /// Training images (after any limit).
        public var trainImages: Int
        enum CodingKeys: String, CodingKey {
            case variant, kernelSize = "kernel_size", expansion, intermediate, seed, epochs, trainImages = "train_images"
        }
        public var id: String {
            "\(variant.slug)-k\(kernelSize)" + (variant == .baseline ? "" : "-e\(expansion)") + (intermediate.map { "-\($0.rawValue)" } ?? "")
                + "-s\(seed)-ep\(epochs)-n\(trainImages)"
        }
        public var label: String {
            (variant == .baseline ? "baseline k=\(kernelSize)" : "\(variant.rawValue) k=\(kernelSize) E=\(expansion)")
                + (intermediate.map { " with \($0.rawValue) between" } ?? "") + " seed \(seed)"
        }
    }

    /// Epochs and training images that a group of runs trains with.
    public struct RunBudget: Codable, Sendable, Equatable {
        public var epochs: Int
        public var trainImages: Int
        enum CodingKeys: String, CodingKey { case epochs, trainImages = "train_images" }
    }

    /// The budgets of the Table 1 runs (the recipe's), the sweep, the grid and the ablation.
    public struct Budgets: Codable, Sendable {
        public var table1: RunBudget, sweep: RunBudget, grid: RunBudget
        public var ablation: RunBudget?
    }

    func budgets(availableTrainImages available: Int) -> Budgets {
        func images(_ limit: Int?) -> Int { min(limit ?? available, available) }
        let main = RunBudget(epochs: recipe.epochs, trainImages: images(data.trainLimit))
        func budget(_ b: Budget?) -> RunBudget {
            RunBudget(epochs: b?.epochs ?? main.epochs, trainImages: images(b?.trainLimit ?? data.trainLimit))
        }
        return Budgets(table1: main, sweep: budget(sweep), grid: budget(grid), ablation: ablation.map { budget($0.budget) })
    }

    /// Every run, in the order they train, so that a partial study answers the most: the
    /// Table 1 row seed by seed (whole rows first); the sweep's claim points with the baseline
    /// for two seeds; the rest of the sweep on the first seed, from small E up; the claim
    /// points' other seeds; the grid's first baseline on the other seeds (the grid's seed
    /// noise, which judges its one-seed cells); the grid; the ablation.
    public func plan(availableTrainImages available: Int) -> [RunSpec] {
        let seeds = recipe.allSeeds
        let budgets = self.budgets(availableTrainImages: available)
        let (main, sweepBudget, gridBudget) = (budgets.table1, budgets.sweep, budgets.grid)
        var runs = [RunSpec]()
        func add(_ v: Variant, _ k: Int, _ e: Int, _ seed: UInt64, _ b: RunBudget, _ op: LCConv2D.Intermediate? = nil) {
            let spec = RunSpec(variant: v, kernelSize: k, expansion: v == .baseline ? 1 : e, intermediate: op == LCConv2D.Intermediate.none ? nil : op,
                               seed: seed, epochs: b.epochs, trainImages: b.trainImages)
            if !runs.contains(spec) { runs.append(spec) }
        }
        func claimRuns(_ seed: UInt64) {
            add(.baseline, 3, 1, seed, sweepBudget)
            for e in claimPoints { add(.lcLearned, 3, e, seed, sweepBudget); add(.lcFrozen, 3, e, seed, sweepBudget) }
        }
        for seed in seeds { for v in Variant.allCases { add(v, 3, table1Expansion, seed, main) } }
        seeds.prefix(2).forEach(claimRuns)
        for e in expansions.sorted() { add(.lcLearned, 3, e, seeds[0], sweepBudget); add(.lcFrozen, 3, e, seeds[0], sweepBudget) }
        seeds.dropFirst(2).forEach(claimRuns)
        if let k = kernelSizes.first { for seed in seeds.dropFirst() { add(.baseline, k, 1, seed, gridBudget) } }
        for k in kernelSizes {
            add(.baseline, k, 1, seeds[0], gridBudget)
            for e in kernelExpansions { add(.lcLearned, k, e, seeds[0], gridBudget); add(.lcFrozen, k, e, seeds[0], gridBudget) }
        }
        if let ablation, let budget = budgets.ablation {
            for op in ablation.intermediates { add(.lcLearned, 3, ablation.expansion, seeds[0], budget, op); add(.lcFrozen, 3, ablation.expansion, seeds[0], budget, op) }
        }
        return runs
    }

    func builder(_ spec: RunSpec) -> ResNet {
        ResNet(depth: depth, width: width, kernelSize: spec.kernelSize,
               convolution: spec.variant == .baseline ? .standard
                   : .linearCombination(expansion: spec.expansion, frozen: spec.variant == .lcFrozen, intermediate: spec.intermediate ?? .none))
    }

    // MARK: Records

    /// What one finished run measured, with the configuration that produced it.
    public struct RunRecord: Codable, Sendable {
        public var spec: RunSpec
        public var experiment: String
        public var depth: Int, width: Int, resize: Int?
        public var recipe: Experiment.Recipe
        public var testImages: Int, fgsmImages: Int
        public var parameters: Int, trainableParameters: Int, flops: Int
        public var testAccuracy: Double
        public var robustAccuracy: Double
        /// Mean filter-variance entropy over the k×k layers: of the spatial filters as they are,
        /// and of the effective filters (LC-blocks folded; nil for blocks that cannot fold).
        public var spatialEntropy: Double, effectiveEntropy: Double?
        /// Per epoch (0: at initialisation), the spatial filters' entropy of each k×k layer.
        public var entropyByEpoch: [[Double]]
        public var secondsPerEpoch: Double
        public var history: History
        /// The run's training time had every epoch taken as long as its fastest: the time on a
        /// machine doing nothing else (other work and benchmark pauses only ever slow an epoch).
        public var secondsAtFastestEpoch: Double {
            (history.epochs.map(\.seconds).min() ?? secondsPerEpoch) * Double(spec.epochs)
        }
        /// For the first seed's frozen Table 1 network: the same network folded into plain
        /// convolutions, checked against the LC network.
        public var folding: Folding?
        public var machine: String
        public var finished: String
        enum CodingKeys: String, CodingKey {
            case spec, experiment, depth, width, resize, recipe, testImages = "test_images", fgsmImages = "fgsm_images"
            case parameters, trainableParameters = "trainable_parameters", flops, testAccuracy = "test_accuracy"
            case robustAccuracy = "robust_accuracy", spatialEntropy = "spatial_entropy", effectiveEntropy = "effective_entropy"
            case entropyByEpoch = "entropy_by_epoch", secondsPerEpoch = "seconds_per_epoch", history, folding, machine, finished
        }
    }

    public struct Folding: Codable, Sendable {
        public var images: Int
        public var maxAbsoluteDifference: Double
        public var foldedAccuracy: Double
        public var foldedParameters: Int
        enum CodingKeys: String, CodingKey {
            case images, maxAbsoluteDifference = "max_absolute_difference", foldedAccuracy = "folded_accuracy"
            case foldedParameters = "folded_parameters"
        }
    }

    /// What `results.json` holds: the plan and the records found for it.
    public struct Results: Codable, Sendable {
        public var experiment: String
        public var quick: Bool
        public var budgets: Budgets
        public var planned: [RunSpec]
        public var runs: [RunRecord]
        /// The paper's claims with their verdicts, computed from `runs` when the report is written.
        public var claims: [ClaimVerdict]?
    }

    public struct ClaimVerdict: Codable, Sendable {
        public var claim: String, measured: String, verdict: String
        /// nil: not measured, or inside the noise.
        public var held: Bool?
    }

    static func recordPath(_ folder: String, _ spec: RunSpec) -> String { "\(folder)/runs/\(spec.id).json" }

    /// The records in `folder/runs` of the runs in `plan`.
    func records(folder: String, plan: [RunSpec]) throws -> [RunRecord] {
        try plan.compactMap { spec in
            let path = Self.recordPath(folder, spec)
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            do { return try JSONDecoder().decode(RunRecord.self, from: data) } catch {
                throw ConvKitError("\(path): not a run record (\(error)); delete it to train that run again")
            }
        }
    }

    // MARK: Running

    /// A subset of the runs: `E=128`, `seed=1`, `k=5`, `variant=frozen|learned|baseline`,
    /// `between=none|relu|batch_norm|batch_norm_relu` (the ablation's operation), several
    /// joined by commas (all must hold).
    public struct RunFilter: Sendable {
        var conditions: [(key: String, value: String)]

        public init(_ text: String) throws {
            conditions = try text.split(separator: ",").map { part in
                let pieces = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard pieces.count == 2, ["e", "k", "seed", "variant", "between"].contains(pieces[0]) else {
                    throw ConvKitError("--only: '\(part)' is not KEY=VALUE with KEY one of E, k, seed, variant, between")
                }
                if pieces[0] == "variant" && !["baseline", "learned", "frozen"].contains(pieces[1]) {
                    throw ConvKitError("--only: variant must be baseline, learned or frozen, got '\(pieces[1])'")
                }
                if pieces[0] == "between" && LCConv2D.Intermediate(rawValue: pieces[1]) == nil {
                    throw ConvKitError("--only: between must be one of \(LCConv2D.Intermediate.allCases.map(\.rawValue).joined(separator: ", ")), got '\(pieces[1])'")
                }
                if !["variant", "between"].contains(pieces[0]) && UInt64(pieces[1]) == nil {
                    throw ConvKitError("--only: \(pieces[0]) must be a whole number, got '\(pieces[1])'")
                }
                return (pieces[0], pieces[1])
            }
        }

        func admits(_ spec: RunSpec) -> Bool {
            conditions.allSatisfy { key, value in
                switch key {
                case "e": spec.variant != .baseline && String(spec.expansion) == value
                case "k": String(spec.kernelSize) == value
                case "seed": String(spec.seed) == value
                case "between": spec.variant != .baseline && (spec.intermediate ?? .none).rawValue == value
                default: spec.variant.slug.hasSuffix(value)
                }
            }
        }
    }

    public func runAndReport(quick: Bool, folder: String, options: StudyOptions) throws -> Double {
        guard options.checkpoints == nil else {
            throw ConvKitError("\(name): --checkpoint and --resume apply to model comparisons; this study records and resumes every run by itself")
        }
        let started = Date()
        let filter = try options.only.map(RunFilter.init)
        var (trainX, trainY, testX, testY) = try ExperimentRunner.loadData(dataForLoading, relativeTo: directory)
        if let size = resize {
            trainX = Augmentation.resize(trainX, height: size, width: size)
            testX = Augmentation.resize(testX, height: size, width: size)
        }
        let plan = self.plan(availableTrainImages: trainX.shape[0])
        let selected = plan.filter { filter?.admits($0) ?? true }
        if let options = options.only, selected.isEmpty { throw ConvKitError("--only \(options): no planned run matches") }
        let (rank, ranks) = (options.distributed?.rank ?? 0, options.distributed?.worldSize ?? 1)
        let mine = selected.enumerated().filter { $0.offset % ranks == rank }.map(\.element)
        // Standardise with the statistics of the images each run trains on (the first N); FGSM's
        // ε and the valid pixel range move into the same units.
        try makeDirectory("\(folder)/runs")
        for (index, spec) in mine.enumerated() {
            let path = Self.recordPath(folder, spec)
            if let recorded = try records(folder: folder, plan: [spec]).first {
                try checkMatches(recorded, path: path)
                Console.line("== \(spec.label): recorded (\(path)) ==")
                continue
            }
            Console.line("\n== \(spec.label), \(spec.epochs) epochs on \(groupedDigits(spec.trainImages)) images (\(index + 1) of \(mine.count)\(ranks > 1 ? " on rank \(rank)" : "")) ==")
            let record = try train(spec, trainX: trainX.slice(batch: 0..<spec.trainImages), trainY: trainY.slice(batch: 0..<spec.trainImages),
                                   testX: testX, testY: testY, folder: folder)
            try writeText(json(record), to: path)
            // The report follows the records as they land (one process: no other rank writes it).
            if ranks == 1 {
                try writeReport(Results(experiment: name, quick: quick, budgets: budgets(availableTrainImages: trainX.shape[0]), planned: plan,
                                        runs: try records(folder: folder, plan: plan)), folder: folder)
            }
        }
        if let distributed = options.distributed {
            // Wait for every rank's share before rank 0 writes the report.
            var token: [Float] = [1]
            try token.withUnsafeMutableBufferPointer { try distributed.allReduceSum($0) }
        }
        if rank == 0 {
            try writeReport(Results(experiment: name, quick: quick, budgets: budgets(availableTrainImages: trainX.shape[0]), planned: plan,
                                    runs: try records(folder: folder, plan: plan)), folder: folder)
        }
        return Date().timeIntervalSince(started)
    }

    /// The data spec with every budget's training images: the largest limit of all groups.
    var dataForLoading: Experiment.DataSpec {
        var spec = data
        let limits = [data.trainLimit, sweep?.trainLimit ?? data.trainLimit, grid?.trainLimit ?? data.trainLimit]
            + (ablation.map { [$0.trainLimit ?? data.trainLimit] } ?? [])
        spec.trainLimit = limits.contains { $0 == nil } ? nil : limits.compactMap { $0 }.max()
        return spec
    }

    /// The recipe a run of `spec` trains with: the study's, with the run's epochs and seed.
    func runRecipe(_ spec: RunSpec) -> Experiment.Recipe {
        var r = recipe
        r.epochs = spec.epochs
        r.seed = spec.seed; r.seeds = nil
        return r
    }

    /// A record is only reused for the configuration it was trained with.
    func checkMatches(_ record: RunRecord, path: String) throws {
        let now = (try json(runRecipe(record.spec)), depth, width, resize)
        let then = (try json(record.recipe), record.depth, record.width, record.resize)
        guard now.0 == then.0 && now.1 == then.1 && now.2 == then.2 && now.3 == then.3 else {
            throw ConvKitError("\(path): recorded with another configuration (recipe \(then.0.filter { !$0.isWhitespace }), ResNet-\(then.1) width \(then.2)) than the experiment file now gives; move the record away to train the run again, or report into another folder (--out)")
        }
    }

    func train(_ spec: RunSpec, trainX rawTrainX: Tensor, trainY: Tensor, testX rawTestX: Tensor, testY: Tensor, folder: String) throws -> RunRecord {
        let standardization = Standardization(fitting: rawTrainX)
        let trainX = standardization.apply(rawTrainX), testX = standardization.apply(rawTestX)
        let (mean, std) = (standardization.mean[0], standardization.std[0])
        let epsilon = fgsmEpsilon / std, bounds = ((0 - mean) / std)...((1 - mean) / std)
        let attackCount = min(fgsmImages ?? testX.shape[0], testX.shape[0])

        let resnet = builder(spec)
        let model = try resnet.model(inputShape: Array(trainX.shape.dropFirst()), name: "resnet\(depth)", seed: spec.seed)
        let runRecipe = self.runRecipe(spec)
        let checkpoints = "\(folder)/runs/\(spec.id).checkpoint"
        let resume = FileManager.default.fileExists(atPath: "\(checkpoints)/latest")
        if resume { Console.line("Resuming from \(checkpoints)") }
        let recorder = try EntropyRecorder(path: "\(checkpoints)-entropy.json", study: self, resume: resume)
        let history = try ExperimentRunner.train(model, recipe: runRecipe, x: trainX, y: trainY, seed: spec.seed,
                                                 checkpointing: Checkpointing(folder: checkpoints), resume: resume, callbacks: [recorder])
        let testAccuracy = Double(try model.evaluate(testX, testY, batchSize: 256).accuracy)
        let robust = try AdversarialAttack.robustAccuracy(model, testX.slice(batch: 0..<attackCount), targets: testY.slice(batch: 0..<attackCount),
                                                          epsilon: epsilon, bounds: bounds)
        let (spatial, effective) = try entropies(model)
        Console.line(String(format: "test accuracy %.2f%%, FGSM (ε = %.4g) accuracy %.2f%%", testAccuracy * 100, fgsmEpsilon, robust * 100))
        var folding: Folding?
        if spec.variant == .lcFrozen, spec.kernelSize == 3, spec.expansion == table1Expansion, spec.seed == recipe.allSeeds[0] {
            let folded = try resnet.folded(model)
            let probe = testX.slice(batch: 0..<min(256, testX.shape[0]))
            let a = try model.predict(probe), b = try folded.predict(probe)
            folded.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
            folding = Folding(images: probe.shape[0], maxAbsoluteDifference: Double(a.maxAbsDifference(b)),
                              foldedAccuracy: Double(try folded.evaluate(testX, testY, batchSize: 256).accuracy),
                              foldedParameters: folded.parameterCount)
        }
        let record = RunRecord(
            spec: spec, experiment: name, depth: depth, width: width, resize: resize, recipe: runRecipe,
            testImages: testX.shape[0], fgsmImages: attackCount, parameters: model.parameterCount,
            trainableParameters: model.trainableParameterCount, flops: model.flops, testAccuracy: testAccuracy,
            robustAccuracy: robust, spatialEntropy: spatial, effectiveEntropy: effective, entropyByEpoch: recorder.byEpoch,
            secondsPerEpoch: history.epochs.map(\.seconds).reduce(0, +) / Double(max(history.epochs.count, 1)), history: history,
            folding: folding, machine: Benchmark.machine["cpu"] ?? "unknown", finished: ISO8601DateFormatter().string(from: Date()))
        try? FileManager.default.removeItem(atPath: checkpoints)
        try? FileManager.default.removeItem(atPath: "\(checkpoints)-entropy.json")
        return record
    }

    /// Entropy of each k×k layer's spatial filters (k > 1), in model order.
    func layerEntropies(_ model: Model) throws -> [Double] {
        try model.layers.compactMap { layer in
            if let lc = layer as? LCConv2D, lc.kernelSize.values[0] > 1 { return try FilterStatistics.varianceEntropy(lc.spatialKernel.value) }
            if let conv = layer as? Conv2D, conv.kernel.value.shape[0] > 1 { return try FilterStatistics.varianceEntropy(conv.kernel.value) }
            return nil
        }
    }

    /// Mean variance entropy over the k×k layers (k > 1), of the spatial kernels and of the
    /// effective (folded) kernels; nil for the latter when a block has an operation between
    /// its convolutions and so has no single kernel.
    func entropies(_ model: Model) throws -> (spatial: Double, effective: Double?) {
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : Statistics.mean(v) }   // 0 for a network without k×k layers
        var effective = [Double]()
        for layer in model.layers {
            if let lc = layer as? LCConv2D, lc.kernelSize.values[0] > 1 {
                guard lc.intermediate == .none else { return (mean(try layerEntropies(model)), nil) }
                effective.append(try FilterStatistics.varianceEntropy(try lc.folded().kernel.value))
            } else if let conv = layer as? Conv2D, conv.kernel.value.shape[0] > 1 {
                effective.append(try FilterStatistics.varianceEntropy(conv.kernel.value))
            }
        }
        return (mean(try layerEntropies(model)), mean(effective))
    }

    /// Records each layer's filter entropy at the start and after every epoch, in a side file
    /// beside the checkpoint so that a resumed run keeps the epochs before the interruption.
    final class EntropyRecorder: Callback {
        let path: String, study: RandomFilterStudy
        private(set) var byEpoch: [[Double]]

        init(path: String, study: RandomFilterStudy, resume: Bool) throws {
            self.path = path; self.study = study
            byEpoch = resume ? FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode([[Double]].self, from: $0) } ?? [] : []
        }

        func trainingWillBegin(model: Model) throws {
            if byEpoch.isEmpty { byEpoch = [try study.layerEntropies(model)] }
        }

        func epochDidEnd(_ log: EpochLog, model: Model) throws -> Bool {
            byEpoch = Array(byEpoch.prefix(log.epoch)) + [try study.layerEntropies(model)]
            try writeText(json(byEpoch), to: path)
            return false
        }
    }

    // MARK: Report

    /// Rebuilds the report of `folder` from its run records with the texts of this file as
    /// they are now: no training needed.
    /// Without a `results.json` (a study still running), the plan comes from the experiment
    /// file and the size of the training set.
    public func rerender(folder: String) throws {
        if FileManager.default.fileExists(atPath: "\(folder)/results.json") {
            let previous: Results = try readResults(folder: folder, experiment: name, as: Results.self)
            try writeReport(Results(experiment: name, quick: previous.quick, budgets: previous.budgets, planned: previous.planned,
                                    runs: try records(folder: folder, plan: previous.planned)), folder: folder)
            return
        }
        let available = try ExperimentRunner.loadData(dataForLoading, relativeTo: directory).0.shape[0]
        let plan = self.plan(availableTrainImages: available)
        try writeReport(Results(experiment: name, quick: false, budgets: budgets(availableTrainImages: available), planned: plan,
                                runs: try records(folder: folder, plan: plan)), folder: folder)
    }
}
