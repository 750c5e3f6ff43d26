import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct FitTests {
    /// 96 Fashion-MNIST test images at 14×14 (every other pixel) keep the debug build quick.
    static let data: (x: Tensor, y: Tensor, labels: Tensor) = {
        let (images, labels) = try! FashionMNIST.load(.test)
        let n = 96
        let x = Tensor(shape: [n, 14, 14, 1]) { i in
            let (b, r, c) = (i / 196, (i % 196) / 14, i % 14)
            return images.scalars[b * 784 + (2 * r) * 28 + 2 * c]
        }
        let l = labels.slice(batch: 0..<n)
        return (x, try! OneHot.encode(l, classes: 10), l)
    }()

    static func smallModel(seed: UInt64 = 1) throws -> Model {
        let model = try Model(sequential: [Conv2D(filters: 4, kernelSize: 3, padding: .same), BatchNormalization(),
                                           Activation(.relu), MaxPooling2D(), Flatten(), Dropout(rate: 0.1),
                                           Dense(units: 10, activation: .softmax)], inputShape: [14, 14, 1], seed: seed)
        model.compile(optimizer: SGD(learningRate: 0.05, momentum: 0.9), loss: CategoricalCrossentropy())
        return model
    }

    private func scores(_ h: History) -> [[Double?]] {
        h.epochs.map { [$0.loss, $0.accuracy, $0.valLoss, $0.valAccuracy, $0.learningRate] }
    }

    @Test func sameSeedGivesTheSameHistory() throws {
        let (x, y, _) = Self.data
        let a = try Self.smallModel().fit(x, y, batchSize: 16, epochs: 3, validationSplit: 0.25, verbose: .silent)
        let b = try Self.smallModel().fit(x, y, batchSize: 16, epochs: 3, validationSplit: 0.25, verbose: .silent)
        #expect(scores(a) == scores(b))
        let c = try Self.smallModel(seed: 2).fit(x, y, batchSize: 16, epochs: 3, validationSplit: 0.25, verbose: .silent)
        #expect(scores(a) != scores(c))
        #expect(a.epochs.count == 3 && a.epochs.last!.loss < a.epochs.first!.loss)
    }

    @Test func validationSplitTakesTheLastFractionBeforeShuffling() throws {
        let (x, y, _) = Self.data
        let model = try Self.smallModel()
        let h = try model.fit(x, y, batchSize: 32, epochs: 1, validationSplit: 0.3, verbose: .silent)
        // Keras: split at ⌈96·0.7⌉ = 68; validation is examples 68..<96.
        let (loss, accuracy) = try model.evaluate(x.slice(batch: 68..<96), y.slice(batch: 68..<96), batchSize: 7)
        #expect(abs(h.epochs[0].valLoss! - Double(loss)) < 1e-5 && abs(h.epochs[0].valAccuracy! - Double(accuracy)) < 1e-6)
        #expect(h.epochs[0].imagesPerSecond > 0 && abs(h.epochs[0].learningRate - 0.05) < 1e-7)
    }

    @Test func callbacksLogStopAndSchedule() throws {
        let (x, y, _) = Self.data
        let csv = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString).csv").path
        let stopper = EarlyStopping(monitor: "loss", patience: 0, minDelta: 100)   // nothing improves by 100
        let model = try Self.smallModel()
        let h = try model.fit(x, y, batchSize: 32, epochs: 5, verbose: .silent,
                              callbacks: [CSVLogger(path: csv), stopper, LearningRateScheduler { epoch, _ in 0.01 / Float(epoch + 1) }])
        #expect(h.epochs.count == 2 && stopper.bestEpoch == 1)
        #expect(abs(h.epochs[1].learningRate - 0.005) < 1e-9)
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 && lines[0] == Substring(History.csvHeader) && lines[2].hasPrefix("2,"))
        #expect(throws: ConvKitError.self) {
            try Self.smallModel().fit(x, y, epochs: 1, verbose: .silent, callbacks: [EarlyStopping(monitor: "val_loss")])
        }
    }

    @Test func divergingTrainingStopsWithANamedError() throws {
        let (x, y, _) = Self.data
        let model = try Model(sequential: [Flatten(), Dense(units: 10)], inputShape: [14, 14, 1])
        model.compile(optimizer: SGD(learningRate: 1e30), loss: MeanSquaredError())
        do {
            try model.fit(x, y, batchSize: 8, epochs: 3, verbose: .silent)
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("the loss became") && "\(error)".contains("epoch 1"), "\(error)")
        }
        // The step whose loss overflowed was not taken: the weights stay finite.
        #expect(model.parameters.allSatisfy { $0.parameter.value.scalars.allSatisfy(\.isFinite) })
    }

    @Test func misuseIsReported() throws {
        let (x, y, _) = Self.data
        let model = try Model(sequential: [Flatten(), Dense(units: 10)], inputShape: [14, 14, 1])
        #expect(throws: ConvKitError.self) { try model.fit(x, y, verbose: .silent) }            // not compiled
        model.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        #expect(throws: ConvKitError.self) { try model.fit(x, y.slice(batch: 0..<5), verbose: .silent) }
        #expect(throws: ConvKitError.self) { try model.fit(x.reshaped(to: [96, 196]), y, verbose: .silent) }
        #expect(throws: ConvKitError.self) { try model.fit(x, y, validationSplit: 1, verbose: .silent) }
        #expect(try model.predict(x, batchSize: 10).shape == [96, 10])
    }

    @Test func progressBarMatchesKeras() {
        let bar = ProgressBar(steps: 55, interactive: false)
        #expect(bar.bar(55) == "55/55 [==============================]")
        #expect(bar.bar(11) == "11/55 [=====>........................]")
        #expect(ProgressBar.format([("loss", 0.45123), ("accuracy", 0.84209)]) == " - loss: 0.4512 - accuracy: 0.8421")
    }

    @Test func reportFolderHasEveryFile() throws {
        let (x, y, _) = Self.data
        let model = try Self.smallModel()
        let h = try model.fit(x, y, batchSize: 32, epochs: 2, validationSplit: 0.25, verbose: .silent)
        let (tl, ta) = try model.evaluate(x, y)
        let result = RunResult(model: "small", parameters: model.parameterCount, trainableParameters: model.trainableParameterCount,
                               flops: model.flops, history: h, testLoss: Double(tl), testAccuracy: Double(ta),
                               secondsPerEpoch: 1, imagesPerSecond: 72, summary: model.summary())
        var other = result; other.model = "other"; other.testAccuracy = Double(ta) - 0.2
        let experiment = Experiment(name: "t", models: [], data: .init(), recipe: .init(epochs: 2, batchSize: 32),
                                    claims: [.init(claim: "small beats other", greater: ["small", "other"], metric: "test_accuracy")])
        let claims = try ExperimentRunner.check(experiment.claims!, [result, other])
        #expect(claims.count == 1 && claims[0].held && claims[0].measured.contains("+20.00 points"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-report-\(UUID().uuidString)").path
        try ExperimentReport(experiment: experiment, quick: false, results: [result, other], claims: claims, reference: nil).write(to: folder)
        for file in ["results.json", "report.md", "report.html", "accuracy.svg", "accuracy.png", "loss.svg", "loss.png",
                     "small/history.csv", "small/history.json", "small/summary.txt"] {
            #expect(FileManager.default.fileExists(atPath: "\(folder)/\(file)"), "\(file)")
        }
        let png = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/accuracy.png"))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let html = try String(contentsOfFile: "\(folder)/report.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("<td>small</td>") && !html.contains("src=\""))
        #expect(try String(contentsOfFile: "\(folder)/report.md", encoding: .utf8).contains("| small beats other |"))
    }

    @Test func badExperimentFilesAreNamed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-\(UUID().uuidString).yaml").path
        try "name: x\nmodels: [a.yaml]\ndata: {}\nrecipe: {epochs: ten, batch_size: 4}\n".write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try Experiment.load(path: path); Issue.record("accepted") } catch {
            #expect("\(error)".hasPrefix(path) && "\(error)".contains("recipe.epochs"), "\(error)")
        }
        try "name: x\nmodels: [a.yaml]\ndata: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConvKitError("\(path): missing field 'recipe'")) { try Experiment.load(path: path) }
    }
}

@Suite struct SeedAveragingTests {
    @Test func runsOfSeveralSeedsAverageEpochByEpoch() {
        func run(_ seed: UInt64, _ acc: Double, _ val: Double) -> RunResult {
            let log = EpochLog(epoch: 1, loss: acc, accuracy: acc, valLoss: val, valAccuracy: val, learningRate: 0.01, seconds: 2, imagesPerSecond: 100)
            return RunResult(model: "m", seeds: [seed], testAccuracies: [acc], parameters: 10, trainableParameters: 10, flops: 1,
                             history: History(epochs: [log]), testLoss: 1, testAccuracy: acc, secondsPerEpoch: 2, imagesPerSecond: 100, summary: "")
        }
        let mean = RunResult.averaging([run(0, 0.80, 0.5), run(1, 0.84, 0.7), run(2, 0.82, 0.6)])
        #expect(mean.seeds == [0, 1, 2] && mean.testAccuracies == [0.80, 0.84, 0.82])
        #expect(abs(mean.testAccuracy - 0.82) < 1e-12 && abs(mean.history.epochs[0].valAccuracy! - 0.6) < 1e-12)
        #expect(abs(mean.testAccuracySpread - 0.02) < 1e-12)   // sample standard deviation
        #expect(RunResult.averaging([run(5, 0.9, 0.9)]).testAccuracySpread == 0)
    }
}

@Suite struct ExperimentValidationTests {
    /// Every experiment file in experiments/ reads with its recipe and passes validation.
    @Test func shippedExperimentFilesLoad() throws {
        let folder = repositoryRoot.appendingPathComponent("experiments").path
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 5)
        for file in files {
            let path = "\(folder)/\(file)"
            let study = try loadStudy(path: path)
            #expect(study.name == String(file.dropLast(5)), "\(file)")
            if let comparison = study as? Experiment { try ExperimentRunner.validate(comparison) }
        }
    }

    @Test func mistakesAreFoundBeforeTraining() throws {
        let seed003 = try Experiment.load(path: repositoryRoot.appendingPathComponent("experiments/seed003.yaml").path)
        try ExperimentRunner.validate(seed003)
        var typo = seed003
        typo.claims![0].greater = ["seed003-conv", "seed003-dens"]
        #expect(throws: ConvKitError.self) { try ExperimentRunner.validate(typo) }
        var metric = seed003
        metric.claims![0].metric = "test_acc"
        #expect(throws: ConvKitError.self) { try ExperimentRunner.validate(metric) }
        var adamWithMomentum = seed003
        adamWithMomentum.recipe.optimizer = .adam
        adamWithMomentum.recipe.momentum = 0.9
        #expect(throws: ConvKitError.self) { try ExperimentRunner.validate(adamWithMomentum) }
        var missing = seed003
        missing.models.append("nowhere.yaml")
        #expect(throws: ConvKitError.self) { try ExperimentRunner.validate(missing) }
        var notClassifier = seed003
        notClassifier.models = ["../models/seed000-conv3x3-64.yaml"]
        #expect(throws: ConvKitError.self) { try ExperimentRunner.validate(notClassifier) }
        let quick = seed003.quickened()
        #expect(quick.recipe.allSeeds == [0] && quick.recipe.epochs == 3 && quick.data.trainLimit == 4000)
    }
}

@Suite struct ChartTests {
    @Test func ticksAreRoundAndLabelledAlike() {
        #expect(LineChart.ticks(0.42, 2.31) == [0.5, 1.0, 1.5, 2.0])
        #expect(LineChart.labels([0.5, 1.0, 1.5, 2.0]) == ["0.5", "1.0", "1.5", "2.0"])
        #expect(LineChart.labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"])
        #expect(LineChart.labels([2, 4, 6]) == ["2", "4", "6"])
        #expect(LineChart.ticks(1, 10, count: 9).first == 1 && LineChart.ticks(1, 10, count: 9).last == 10)
    }
}

/// What a report says was trained is what trained: one recipe decides the optimizer, the
/// schedule and the loss, and the reports print its description.
@Suite struct RecipeReportTests {
    @Test(arguments: OptimizerKind.allCases, ScheduleKind.allCases)
    func reportsPrintWhatTrained(_ kind: OptimizerKind, _ schedule: ScheduleKind) throws {
        var recipe = Recipe(epochs: 1, batchSize: 8, optimizer: kind, schedule: schedule, labelSmoothing: 0.1)
        if kind == .sgd { recipe.momentum = 0.9; recipe.nesterov = true; recipe.weightDecay = 0.01; recipe.weightDecayMode = .coupled }
        let optimizer = try recipe.makeOptimizer(totalSteps: 10)
        let expected: Float = kind == .adam ? 0.001 : 0.01
        #expect(optimizer.learningRate == expected)
        switch optimizer {
        case let sgd as SGD:
            #expect(kind == .sgd && sgd.momentum == 0.9 && sgd.nesterov && sgd.weightDecay == .coupled(0.01))
        case is Adam: #expect(kind == .adam)
        default: Issue.record("unexpected optimizer \(type(of: optimizer))")
        }
        // The schedule that trained: cosine ends at 0 after the run's 10 steps.
        #expect(optimizer.schedule.rate(at: 10) == (schedule == .cosine ? 0 : expected))
        #expect(recipe.makeLoss().labelSmoothing == 0.1)
        let text = kind == .sgd
            ? "SGD, learning rate 0.01, momentum 0.9 (Nesterov), weight decay 0.01 (coupled), \(schedule.rawValue) schedule, categorical cross-entropy with label smoothing 0.1"
            : "Adam, learning rate 0.001, \(schedule.rawValue) schedule, categorical cross-entropy with label smoothing 0.1"
        #expect(recipe.description == text)
        let experiment = Experiment(name: "x", models: [], data: .init(trainLimit: 500), recipe: recipe)
        let report = ExperimentReport(experiment: experiment, quick: false, results: [], claims: [], reference: nil).markdown()
        #expect(report.contains("- Recipe: 1 epochs, batch 8, \(text), seed 0."), "\(report.prefix(600))")
        #expect(report.contains("the first 500 training images"))
        let all = ExperimentReport(experiment: Experiment(name: "x", models: [], data: .init(), recipe: recipe), quick: false,
                                   results: [], claims: [], reference: nil).markdown()
        #expect(all.contains("fashion-mnist, all training images"))
    }

    @Test func recipeFilesNameTheirMistakes() throws {
        func message(_ json: String) -> String {
            do { _ = try JSONDecoder().decode(Recipe.self, from: Data(json.utf8)); return "no error" } catch { return "\(error)" }
        }
        #expect(message(#"{"epochs": 1, "batch_size": 8, "optimizer": "rmsprop"}"#).contains("unknown optimizer 'rmsprop' (sgd, adam)"))
        #expect(message(#"{"epochs": 1, "batch_size": 8, "schedule": "step"}"#).contains("unknown schedule 'step' (constant, cosine)"))
        #expect(message(#"{"epochs": 1, "batch_size": 8, "weight_decay_mode": "l2"}"#).contains("unknown weight_decay_mode 'l2' (decoupled, coupled)"))
        let defaults = try JSONDecoder().decode(Recipe.self, from: Data(#"{"epochs": 2, "batch_size": 16}"#.utf8))
        #expect(defaults == Recipe(epochs: 2, batchSize: 16))
        for bad in [Recipe(epochs: 0, batchSize: 8), Recipe(epochs: 1, batchSize: 8, learningRate: -1),
                    Recipe(epochs: 1, batchSize: 8, nesterov: true), Recipe(epochs: 1, batchSize: 8, optimizer: .adam, momentum: 0.9),
                    Recipe(epochs: 1, batchSize: 8, labelSmoothing: 1)] {
            #expect(throws: ConvKitError.self) { try bad.makeOptimizer(totalSteps: 1) }
        }
    }
}
