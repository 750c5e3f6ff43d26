/// What data-parallel `fit` adds to a training step on each process: the sum of every
/// process's gradients, in buckets started while backward is still running, and keeping
/// weights and BatchNorm statistics equal across processes.
final class GradientSynchronizer {
    let strategy: any DistributedStrategy
    private let model: Model
    private let buckets: [Bucket]
    /// Each layer's position in backward order (the reverse of the model's layer order).
    private let backwardIndex: [ObjectIdentifier: Int]

    /// Consecutive layers in backward order whose trainable gradients travel together.
    private final class Bucket {
        let parameters: [Parameter]
        /// One past the backward index of the bucket's last layer: the bucket is ready once
        /// backward has passed it.
        let readyAfter: Int
        let values: UnsafeMutableBufferPointer<Float>
        var started = false
        init(parameters: [Parameter], readyAfter: Int) {
            self.parameters = parameters
            self.readyAfter = readyAfter
            values = .allocate(capacity: parameters.reduce(0) { $0 + $1.value.count })
        }
        deinit { values.deallocate() }
    }

    init(model: Model, strategy: any DistributedStrategy) {
        self.model = model
        self.strategy = strategy
        let backwardLayers = Array(model.layers.reversed())
        backwardIndex = Dictionary(uniqueKeysWithValues: backwardLayers.enumerated().map { (ObjectIdentifier($1), $0) })
        var buckets = [Bucket](), current = [Parameter](), size = 0
        for (i, layer) in backwardLayers.enumerated() {
            for p in layer.parameters where layer.updates(p) {
                current.append(p)
                size += p.value.count
            }
            if strategy.gradientBucketSize > 0 && size >= strategy.gradientBucketSize {
                buckets.append(Bucket(parameters: current, readyAfter: i + 1))
                current = []; size = 0
            }
        }
        if !current.isEmpty { buckets.append(Bucket(parameters: current, readyAfter: backwardLayers.count)) }
        self.buckets = buckets
    }

    /// Backward on this process's part of the batch (nil when its part is empty), then the
    /// sum over processes of every trainable gradient, each first scaled by `share` (this
    /// part's fraction of the global batch), so that the sums are the global batch's gradients.
    func backward(_ gradient: Tensor?, share: Float) throws {
        for bucket in buckets { bucket.started = false }
        func startBuckets(readyBy position: Int) throws {
            for bucket in buckets where !bucket.started && bucket.readyAfter <= position {
                var offset = 0
                for p in bucket.parameters {
                    let n = p.value.count
                    if gradient == nil || p.gradient.count != n {
                        (bucket.values.baseAddress! + offset).initialize(repeating: 0, count: n)
                    } else {
                        p.gradient.scalars.withUnsafeBufferPointer { g in
                            for i in 0..<n { bucket.values[offset + i] = g[i] * share }
                        }
                    }
                    offset += n
                }
                bucket.started = true
                try strategy.startAllReduceSum(bucket.values)
            }
        }
        if let gradient {
            var failure: Error?
            try model.backward(gradient, inputGradient: false) { layer, _ in
                // `observe` comes before `layer`'s own backward: every layer before it is done.
                guard failure == nil, let position = self.backwardIndex[ObjectIdentifier(layer)] else { return }
                do {
                    try startBuckets(readyBy: position)
                    try self.strategy.progressPendingSums()
                } catch { failure = error }
            }
            if let failure { throw failure }
        }
        try startBuckets(readyBy: Int.max)
        try strategy.finishPendingSums()
        for bucket in buckets {
            var offset = 0
            for p in bucket.parameters {
                let n = p.value.count
                p.gradient = Tensor(shape: p.value.shape, scalars: Array(bucket.values[offset..<(offset + n)]))
                offset += n
            }
        }
    }

    /// Every parameter (weights and statistics) as process 0 has it.
    func broadcastParameters() throws {
        let parameters = model.parameters.map(\.parameter)
        var values = parameters.flatMap(\.value.scalars)
        try values.withUnsafeMutableBufferPointer { try strategy.broadcast($0, from: 0) }
        unpack(values, into: parameters)
    }

    /// BatchNormalization's moving statistics, averaged over processes: each process computed
    /// them from its own parts of the batches (as PyTorch's DDP does).
    func averageStatistics() throws {
        let statistics = model.parameters.map(\.parameter).filter(\.isStatistic)
        guard !statistics.isEmpty else { return }
        var values = statistics.flatMap(\.value.scalars)
        try values.withUnsafeMutableBufferPointer { try strategy.allReduceSum($0) }
        let scale = 1 / Float(strategy.worldSize)
        unpack(values.map { $0 * scale }, into: statistics)
    }

    private func unpack(_ values: [Float], into parameters: [Parameter]) {
        var offset = 0
        for p in parameters {
            p.value = Tensor(shape: p.value.shape, scalars: Array(values[offset..<(offset + p.value.count)]))
            offset += p.value.count
        }
    }
}
