import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// The data-parallel path of `fit` and `evaluate`, with ranks as threads of this process (the
/// same collectives MPI provides, without MPI). scripts/test-mpi.sh runs the real thing.
@Suite struct DistributedTests {
    /// Collectives among `size` threads: each call blocks until every rank has made it.
    final class ThreadGroup: @unchecked Sendable {
        let size: Int
        private let condition = NSCondition()
        private var slots: [[Float]], arrived = 0, generation = 0, result: [Float] = []
        init(size: Int) { self.size = size; slots = Array(repeating: [], count: size) }

        func exchange(rank: Int, _ values: [Float], _ combine: ([[Float]]) -> [Float]) -> [Float] {
            condition.lock(); defer { condition.unlock() }
            let mine = generation
            slots[rank] = values
            arrived += 1
            if arrived == size {
                result = combine(slots)
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            return result
        }
    }

    final class ThreadRank: DistributedStrategy, @unchecked Sendable {
        let rank: Int, group: ThreadGroup, gradientBucketSize: Int
        var worldSize: Int { group.size }
        init(rank: Int, group: ThreadGroup, bucketSize: Int) { self.rank = rank; self.group = group; gradientBucketSize = bucketSize }

        func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
            let total = group.exchange(rank: rank, Array(values)) { parts in
                parts.dropFirst().reduce(parts[0]) { zip($0, $1).map { $0 + $1 } }
            }
            _ = values.initialize(from: total)
        }

        func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) throws {
            _ = values.initialize(from: group.exchange(rank: rank, Array(values)) { $0[root] })
        }
    }

    final class Box<T>: @unchecked Sendable {
        var value: T
        init(_ value: T) { self.value = value }
    }

    static let modelFile = """
        input: [6, 6, 2]
        layers:
          - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
          - Conv2D: {filters: 3, kernel_size: 2, activation: tanh}
          - Flatten
          - Dense: {units: 5, activation: softmax}
        """

    private func data(_ n: Int) -> (Tensor, Tensor) {
        let x = randomTensor([n, 6, 6, 2], seed: 11)
        var g = SeededGenerator(seed: 12)
        var y = Tensor(zeros: [n, 5])
        for i in 0..<n { y.scalars[i * 5 + Int(g.next() % 5)] = 1 }
        return (x, y)
    }

    private func compiledModel(_ text: String = modelFile) throws -> Model {
        let model = try ModelFile.parse(text, seed: 5)
        model.compile(optimizer: SGD(learningRate: 0.1, momentum: 0.9), loss: CategoricalCrossentropy())
        return model
    }

    /// Trains one model per rank, each on its own thread; returns them with their histories.
    private func trainOnThreads(ranks: Int, bucketSize: Int, _ text: String = modelFile,
                                batchSize: Int = 12) throws -> [(Model, History)] {
        let (x, y) = data(60)
        let group = ThreadGroup(size: ranks)
        let results = Box([(Model, History)?](repeating: nil, count: ranks))
        let failures = Box([String]())
        let models = Box(try (0..<ranks).map { _ in try compiledModel(text) })
        let done = DispatchSemaphore(value: 0)
        let lock = NSLock()
        for rank in 0..<ranks {
            Thread {
                do {
                    let model = models.value[rank]
                    let history = try model.fit(x, y, batchSize: batchSize, epochs: 2, validationSplit: 0.2, verbose: .silent, seed: 9,
                                                distributed: ThreadRank(rank: rank, group: group, bucketSize: bucketSize))
                    lock.lock(); results.value[rank] = (model, history); lock.unlock()
                } catch {
                    lock.lock(); failures.value.append("rank \(rank): \(error)"); lock.unlock()
                }
                done.signal()
            }.start()
        }
        for _ in 0..<ranks { done.wait() }
        #expect(failures.value.isEmpty, "\(failures.value)")
        return results.value.compactMap { $0 }
    }

    private func largestDifference(_ a: Model, _ b: Model) -> Float {
        zip(a.parameters, b.parameters).map { relativeError($1.parameter.value, $0.parameter.value) }.max() ?? 0
    }

    @Test func oneRankIsExactlyTheSingleProcessRun() throws {
        let (x, y) = data(60)
        let single = try compiledModel()
        let history = try single.fit(x, y, batchSize: 12, epochs: 2, validationSplit: 0.2, verbose: .silent, seed: 9)
        for bucketSize in [0, 40] {
            let (model, distributedHistory) = try #require(trainOnThreads(ranks: 1, bucketSize: bucketSize).first)
            #expect(largestDifference(model, single) == 0, "bucket size \(bucketSize)")
            // The figures travel as Float sums; the weights are what must not change.
            for (a, b) in zip(distributedHistory.epochs, history.epochs) { #expect(abs(a.loss - b.loss) < 1e-6) }
        }
    }

    @Test(arguments: [(2, 0), (2, 40), (3, 40)])
    func ranksEndWithTheSingleProcessWeights(ranks: Int, bucketSize: Int) throws {
        let (x, y) = data(60)
        let single = try compiledModel()
        let history = try single.fit(x, y, batchSize: 12, epochs: 2, validationSplit: 0.2, verbose: .silent, seed: 9)
        let trained = try trainOnThreads(ranks: ranks, bucketSize: bucketSize)
        try #require(trained.count == ranks)
        for (model, _) in trained {
            #expect(largestDifference(model, single) < 1e-5)
            // Every rank holds exactly the same weights.
            #expect(largestDifference(model, trained[0].0) == 0)
        }
        // Loss, accuracy and validation figures are those of the whole batch, on every rank.
        for (_, h) in trained {
            for (a, b) in zip(h.epochs, history.epochs) {
                #expect(abs(a.loss - b.loss) < 1e-5 && abs(a.accuracy - b.accuracy) < 1e-6)
                #expect(abs(a.valLoss! - b.valLoss!) < 1e-5 && a.valAccuracy == b.valAccuracy)
            }
        }
    }

    @Test func batchNormStatisticsAreAveragedAcrossRanks() throws {
        let text = """
            input: [6, 6, 2]
            layers:
              - Conv2D: {filters: 4, kernel_size: 3}
              - BatchNormalization: {momentum: 0.5}
              - Activation: relu
              - Flatten
              - Dense: {units: 5, activation: softmax}
            """
        let trained = try trainOnThreads(ranks: 2, bucketSize: 0, text, batchSize: 10)
        try #require(trained.count == 2)
        let means = trained.map { $0.0.parameter("batch_normalization.moving_mean")!.value }
        #expect(means[0] == means[1])
        #expect(means[0].scalars.contains { $0 != 0 })
    }

    @Test func sharesCoverEveryItemOnce() {
        let group = ThreadGroup(size: 3)
        let shares = (0..<3).map { ThreadRank(rank: $0, group: group, bucketSize: 0).share(of: 10) }
        #expect(shares == [0..<3, 3..<6, 6..<10])
        // A batch smaller than the number of ranks leaves some ranks with nothing to do.
        #expect((0..<3).map { ThreadRank(rank: $0, group: group, bucketSize: 0).share(of: 2) } == [0..<0, 0..<1, 1..<2])
    }
}
