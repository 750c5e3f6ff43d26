import Foundation
import Synchronization
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Checkpoints and resume: a run interrupted mid-epoch and resumed ends exactly where an
/// uninterrupted run ends. (`scripts/test-resume.sh` does the same by killing a real process.)
@Suite struct CheckpointTests {
    /// Cross-entropy that throws on its `limit`-th call, like a process killed mid-epoch.
    final class InterruptingLoss: Loss {
        let limit: Int
        let calls = Mutex(0)
        init(after limit: Int) { self.limit = limit }
        var name: String { "interrupting" }
        func compute(predictions: Tensor, targets: Tensor) throws -> (value: Float, gradient: Tensor) {
            let n = calls.withLock { $0 += 1; return $0 }
            if n == limit { throw ConvKitError("interrupted") }
            return try CategoricalCrossentropy().compute(predictions: predictions, targets: targets)
        }
    }

    /// With `frozenLC`, the convolution is an LC-block with frozen filters, whose combination
    /// kernel SGD follows in the filters' span between checkpoints (`SubspaceTrajectory`).
    private func model(frozenLC: Bool = false) throws -> Model {
        let convolution = frozenLC ? "LCConv2D: {filters: 4, kernel_size: 3, expansion: 8, frozen_spatial: true, activation: relu}"
            : "Conv2D: {filters: 4, kernel_size: 3, activation: relu}"
        return try ModelFile.parse("""
            name: resumable
            input: [6, 6, 1]
            layers:
              - \(convolution)
              - BatchNormalization
              - Flatten
              - Dropout: 0.3
              - Dense: {units: 3, activation: softmax}
            """, seed: 7)
    }

    private func data() throws -> (Tensor, Tensor) {
        let x = randomTensor([40, 6, 6, 1], seed: 3)
        return (x, try OneHot.encode(Tensor(shape: [40], scalars: (0..<40).map { Float($0 % 3) }), classes: 3))
    }

    private func temporaryFolder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("convkit-checkpoint-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test(arguments: ["sgd", "adam", "sgd frozen LC"])
    func resumedRunEndsWithTheWeightsOfAnUninterruptedOne(_ optimizerName: String) throws {
        let (x, y) = try data()
        func model() throws -> Model { try self.model(frozenLC: optimizerName.hasSuffix("LC")) }
        func optimizer() -> any Optimizer {
            optimizerName.hasPrefix("sgd") ? SGD(schedule: CosineSchedule(initial: 0.1, decaySteps: 20), momentum: 0.9, nesterov: true)
                : Adam(learningRate: 0.01, weightDecay: .decoupled(0.01))
        }
        let reference = try model()
        reference.compile(optimizer: optimizer(), loss: CategoricalCrossentropy())
        let expectedHistory = try reference.fit(x, y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent, seed: 1)

        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let checkpointing = Checkpointing(folder: folder, everySteps: 3)
        let interrupted = try model()
        interrupted.compile(optimizer: optimizer(), loss: InterruptingLoss(after: 11))   // epoch 3, step 1 of 4
        #expect(throws: ConvKitError.self) {
            try interrupted.fit(x, y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent, seed: 1, checkpointing: checkpointing)
        }
        // The interrupted run's checkpoints, kept for the checks below (resuming writes newer ones).
        let snapshot = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: snapshot) }
        func restoreSnapshot() throws -> Checkpointing {
            let copy = temporaryFolder()
            try FileManager.default.removeItem(atPath: copy)
            try FileManager.default.copyItem(atPath: snapshot, toPath: copy)
            return Checkpointing(folder: copy, everySteps: 3)
        }
        try FileManager.default.removeItem(atPath: snapshot)
        try FileManager.default.copyItem(atPath: folder, toPath: snapshot)
        let resumed = try model()   // a fresh process: new model, new optimizer
        resumed.compile(optimizer: optimizer(), loss: CategoricalCrossentropy())
        let history = try resumed.fit(x, y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent, seed: 1,
                                      checkpointing: checkpointing, resume: true)
        for (a, b) in zip(resumed.parameters, reference.parameters) {
            #expect(a.parameter.value == b.parameter.value, "\(a.key) differs after resuming")
        }
        #expect(history.epochs.map(\.loss) == expectedHistory.epochs.map(\.loss))
        #expect(history.epochs.map(\.valAccuracy) == expectedHistory.epochs.map(\.valAccuracy))
        #expect(resumed.optimizer!.iterations == reference.optimizer!.iterations)

        // Training is deterministic, so a "resume" that silently started again from scratch
        // would end at the same weights. The checkpoint holds the step count and a non-zero
        // optimizer state; the resumed run trains only the steps after it; and a checkpoint
        // whose optimizer state is zeroed ends elsewhere, so the state is really used.
        let state = try JSONDecoder().decode(Checkpoint.self, from: Data(contentsOf: URL(fileURLWithPath: "\(snapshot)/\(try latest(snapshot))/state.json")))
        // Losses: 4 training + 1 validation per epoch; the 11th, epoch 3's first step, failed,
        // so the newest checkpoint is the end of epoch 2 (8 steps).
        #expect(state.iterations == 8 && state.epoch == 2 && state.step == 0, "\(state.iterations) \(state.epoch) \(state.step)")
        let slots = try SafeTensors.decode([UInt8](Data(contentsOf: URL(fileURLWithPath: "\(snapshot)/\(try latest(snapshot))/optimizer.safetensors"))), source: "optimizer")
        #expect(!slots.isEmpty && slots.values.contains { $0.scalars.contains { $0 != 0 } })
        let counting = InterruptingLoss(after: .max)
        let again = try model()
        again.compile(optimizer: optimizer(), loss: counting)
        _ = try again.fit(x, y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent, seed: 1, checkpointing: try restoreSnapshot(), resume: true)
        // 16 steps in all, 8 done before the checkpoint: 8 training losses, plus the validation
        // losses of the 2 epochs left (1 batch each).
        #expect(counting.calls.withLock { $0 } == 8 + 2)

        let zeroed = try model()
        zeroed.compile(optimizer: optimizer(), loss: CategoricalCrossentropy())
        let zeros = slots.mapValues { Tensor(zeros: $0.shape) }
        let zeroedCheckpoints = try restoreSnapshot()
        try writeDurably(try SafeTensors.encode(zeros.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: ["format": "convkit-optimizer"]),
                         to: "\(zeroedCheckpoints.folder)/\(try latest(zeroedCheckpoints.folder))/optimizer.safetensors")
        _ = try zeroed.fit(x, y, batchSize: 8, epochs: 4, validationSplit: 0.2, verbose: .silent, seed: 1, checkpointing: zeroedCheckpoints, resume: true)
        #expect(zip(zeroed.parameters, reference.parameters).contains { $0.parameter.value != $1.parameter.value },
                "resuming with zeroed optimizer state ended at the same weights: the state is not used")
    }

    private func latest(_ folder: String) throws -> String {
        try String(contentsOfFile: "\(folder)/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func checkpointsBelongToOneModelAndOneSetUp() throws {
        let (x, y) = try data()
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let m = try model()
        m.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        try m.fit(x, y, batchSize: 8, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder))
        let latest = try String(contentsOfFile: "\(folder)/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(latest == "step-5")
        #expect(FileManager.default.fileExists(atPath: "\(folder)/step-5/weights.safetensors"))
        let other = try model()
        other.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        #expect(throws: ConvKitError.self) {      // another batch size
            try other.fit(x, y, batchSize: 4, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder), resume: true)
        }
        #expect(throws: ConvKitError.self) {      // nothing to resume from
            try other.fit(x, y, batchSize: 8, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder + "/none"), resume: true)
        }
        // A corrupt state file is named, not trusted.
        try "{".write(toFile: "\(folder)/step-5/state.json", atomically: true, encoding: .utf8)
        let error = #expect(throws: ConvKitError.self) {
            try other.fit(x, y, batchSize: 8, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder), resume: true)
        }
        #expect(error?.description.contains("state.json") == true)
    }

    @Test func nonFiniteWeightsStopTrainingAndKeepTheLastGoodCheckpoint() throws {
        let (x, y) = try data()
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let m = try model()
        m.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        try m.fit(x, y, batchSize: 8, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder))
        // Training uses batch statistics, so an infinite moving mean leaves the loss finite:
        // only the check before saving can catch it.
        m.parameter("batch_normalization.moving_mean")!.value.scalars[0] = .infinity
        let error = #expect(throws: ConvKitError.self) {
            try m.fit(x, y, batchSize: 8, epochs: 1, verbose: .silent, checkpointing: Checkpointing(folder: folder))
        }
        #expect(error?.description.contains("batch_normalization.moving_mean") == true)
        #expect(try String(contentsOfFile: "\(folder)/latest", encoding: .utf8) == "step-5\n")
        #expect(FileManager.default.fileExists(atPath: "\(folder)/step-5/weights.safetensors"))
    }

    @Test func generatorStateContinuesTheStream() throws {
        var a = SeededGenerator(seed: 9)
        _ = (0..<5).map { _ in a.next() }
        var b = try SeededGenerator(state: a.state)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        #expect(throws: ConvKitError.self) { try SeededGenerator(state: [0, 0, 0, 0]) }
    }
}
