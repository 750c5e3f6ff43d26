import ConvKit
import CKernels
import Foundation

/// Throughput of ConvKit's workloads, measured the same way the peer scripts in
/// `bench/peers/` measure theirs: warm-up steps, then the best of several timed runs.
public enum Benchmark {
    public struct Result: Codable, Sendable {
        public var workload: String
        public var value: Double
        public var unit: String
        /// For training workloads: MB of parameter state (values, gradients, optimizer slots).
        public var parameterStateMB: Double?

        public init(workload: String, value: Double, unit: String, parameterStateMB: Double? = nil) {
            self.workload = workload; self.value = value; self.unit = unit; self.parameterStateMB = parameterStateMB
        }
    }

    /// The machine, as the bench record names it: CPU model and the vector extensions that
    /// matter here, ConvKit's kernel path and OpenBLAS's kernels.
    public static var machine: [String: String] {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        func field(_ name: String) -> String? {
            info.split(separator: "\n").first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        let isa = ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx2", "fma"].filter(flags.contains)
        return ["cpu": field("model name") ?? "unknown", "cpu_family": field("cpu family") ?? "?", "cpu_model": field("model") ?? "?",
                "isa": isa.joined(separator: " "), "cores": String(ProcessInfo.processInfo.activeProcessorCount),
                "convkit_threads": String(Parallel.workers),
                "convkit_kernels": InstructionSet.active.rawValue,
                "openblas_kernels": BLASCore.current]
    }

    /// The seed-003 model files, relative to the repository root.
    public static let models = ["conv_model": "models/seed003-conv.yaml", "pool_model": "models/seed003-conv-maxpool.yaml",
                                "dense_model": "models/seed003-dense.yaml"]
    public static let batch = 128
    /// FLOPs of one forward pass of Conv2D(32, 3×3, same) on 128×28×28×64: 2·MACs.
    public static let convLayerFlops: Double = 2 * 128 * 784 * 32 * 576

    /// Runs the workloads whose name starts with one of `only` (all when nil); `steps` timed
    /// steps per repetition, best of `repeats`.
    public static func run(root: String, steps: Int, repeats: Int, only: [String]? = nil) throws -> [Result] {
        func wanted(_ workload: String) -> Bool { only.map { $0.contains(where: workload.hasPrefix) } ?? true }
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
        results += try residualNetworks(steps: steps, repeats: repeats, only: only)
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

    /// The seed-002 networks: ResNet-20-16 on 32×32×1 images, plain and with LC-blocks at
    /// E = 8 and 128 (frozen and learned spatial filters), trained with the paper's recipe (SGD with
    /// Nesterov momentum 0.9, coupled weight decay 1e-2, label smoothing 0.1) at batch 128.
    /// `lc_resnet20_e1_*` are there for the memory comparison (`--only`), not in the full run.
    public static let residualWorkloads: [(name: String, convolution: ResNet.SpatialConvolution)] = [
        ("resnet20/train", .standard),
        ("lc_resnet20_e8_frozen/train", .linearCombination(expansion: 8, frozen: true)),
        ("lc_resnet20_e8_learned/train", .linearCombination(expansion: 8, frozen: false)),
        ("lc_resnet20_e128_frozen/train", .linearCombination(expansion: 128, frozen: true)),
        ("lc_resnet20_e128_learned/train", .linearCombination(expansion: 128, frozen: false)),
        ("lc_resnet20_e1_frozen/train", .linearCombination(expansion: 1, frozen: true)),
        ("lc_resnet20_e1_learned/train", .linearCombination(expansion: 1, frozen: false)),
    ]

    static func residualNetworks(steps: Int, repeats: Int, only: [String]?) throws -> [Result] {
        var g = SeededGenerator(seed: 2)
        let x = Tensor(shape: [batch, 32, 32, 1]) { _ in Float(g.nextNormal()) }
        let y = try OneHot.encode(Tensor(shape: [batch]) { Float($0 % 10) }, classes: 10)
        let loss = CategoricalCrossentropy(labelSmoothing: 0.1)
        var results = [Result]()
        // The E = 1 networks only when asked for by name.
        for (name, convolution) in residualWorkloads where only.map({ $0.contains(where: name.hasPrefix) }) ?? !name.contains("_e1_") {
            let model = try ResNet(depth: 20, width: 16, convolution: convolution).model(inputShape: [32, 32, 1], seed: 1)
            let optimizer = SGD(learningRate: 0.01, momentum: 0.9, nesterov: true, weightDecay: .coupled(0.01))
            let seconds = try best(steps: steps, repeats: repeats) {
                let p = try model.forward(x, training: true)
                try model.backward(try loss.compute(predictions: p, targets: y).gradient, applying: optimizer)
            }
            // Values for every parameter; a gradient and a velocity for each trainable one.
            let state = Double(model.parameterCount + 2 * model.trainableParameterCount) * 4 / 1_048_576
            results.append(Result(workload: name, value: Double(batch) / seconds, unit: "img/s", parameterStateMB: state))
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
