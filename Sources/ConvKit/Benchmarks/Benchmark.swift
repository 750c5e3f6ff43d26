import Foundation

/// Throughput of ConvKit's workloads, measured the same way the peer scripts in
/// `bench/peers/` measure theirs: warm-up steps, then the best of several timed runs.
public enum Benchmark {
    public struct Result: Codable, Sendable {
        public var workload: String
        public var value: Double
        public var unit: String

        public init(workload: String, value: Double, unit: String) {
            self.workload = workload; self.value = value; self.unit = unit
        }
    }

    /// The seed-003 model files, relative to the repository root.
    public static let models = ["conv_model": "models/seed003-conv.yaml", "pool_model": "models/seed003-conv-maxpool.yaml",
                                "dense_model": "models/seed003-dense.yaml"]
    public static let batch = 128
    /// FLOPs of one forward pass of Conv2D(32, 3×3, same) on 128×28×28×64: 2·MACs.
    public static let convLayerFlops: Double = 2 * 128 * 784 * 32 * 576

    /// Runs the workloads whose name starts with `only` (all when nil); `steps` timed steps per
    /// repetition, best of `repeats`.
    public static func run(root: String, steps: Int, repeats: Int, only: String? = nil) throws -> [Result] {
        func wanted(_ workload: String) -> Bool { only.map { workload.hasPrefix($0) } ?? true }
        var results = [Result]()
        var g = SeededGenerator(seed: 1)
        let x = Tensor(shape: [batch, 28, 28, 1]) { _ in Float(g.nextUnit()) }
        let y = try OneHot.encode(Tensor(shape: [batch]) { Float($0 % 10) }, classes: 10)
        for name in ["conv_model", "pool_model", "dense_model"] {
            let model = try ModelFile.load(path: "\(root)/\(models[name]!)")
            if wanted("\(name)/train") {
                let loss = CategoricalCrossentropy(), optimizer = SGD(learningRate: 0.01)
                let train = try best(steps: steps, repeats: repeats) {
                    let p = try model.forward(x, training: true)
                    try model.backward(try loss.compute(predictions: p, targets: y).gradient, applying: optimizer)
                }
                results.append(Result(workload: "\(name)/train", value: Double(batch) / train, unit: "img/s"))
            }
            if name == "conv_model" && wanted("conv_model/infer") {
                let infer = try best(steps: steps, repeats: repeats) { _ = try model.predict(x) }
                results.append(Result(workload: "conv_model/infer", value: Double(batch) / infer, unit: "img/s"))
            }
        }
        let layer = try Model(sequential: [Conv2D(filters: 32, kernelSize: 3, padding: .same)], inputShape: [28, 28, 64])
        let input = Tensor(shape: [batch, 28, 28, 64]) { _ in Float(g.nextUnit()) }
        if wanted("conv2d_64_32/forward") {
            let forward = try best(steps: steps, repeats: repeats) { _ = try layer.predict(input) }
            results.append(Result(workload: "conv2d_64_32/forward", value: convLayerFlops / forward / 1e9, unit: "GFLOP/s"))
        }
        if wanted("conv2d_64_32/forward_backward") {
            let gradient = Tensor(repeating: 1, shape: [batch, 28, 28, 32])
            let both = try best(steps: steps, repeats: repeats) {
                _ = try layer.forward(input, training: true)
                try layer.backward(gradient)
            }
            results.append(Result(workload: "conv2d_64_32/forward_backward", value: 3 * convLayerFlops / both / 1e9, unit: "GFLOP/s"))
        }
        return results
    }

    /// Seconds per step: two warm-up steps, then the best mean over `repeats` runs of `steps`.
    static func best(steps: Int, repeats: Int, _ body: () throws -> Void) throws -> Double {
        try body(); try body()
        var fastest = Double.infinity
        for _ in 0..<repeats {
            let start = Date()
            for _ in 0..<steps { try body() }
            fastest = min(fastest, Date().timeIntervalSince(start) / Double(steps))
        }
        return fastest
    }
}
