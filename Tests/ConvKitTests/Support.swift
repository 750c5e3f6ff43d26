import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// The repository root, for the shipped model files.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

struct LayerCase: Decodable {
    let spec: String, training: Bool
    let input_shape: [Int], input: [Float], batch: Int
    let params: [String: [Float]]
    let output_shape: [Int], output: [Double]
}

struct LossCase: Decodable {
    let spec: String, shape: [Int], predictions: [Float], targets_shape: [Int], targets: [Float], value: Double
}

struct Fixtures: Decodable {
    let cases: [LayerCase]
    let losses: [LossCase]

    static let shared: Fixtures = {
        let url = Bundle.module.url(forResource: "Fixtures/layers", withExtension: "json")!
        return try! JSONDecoder().decode(Fixtures.self, from: Data(contentsOf: url))
    }()
}

/// A one-layer model from a model-file layer entry.
func singleLayerModel(_ spec: String, inputShape: [Int], seed: UInt64 = 1) throws -> Model {
    try ModelFile.parse("input: \(inputShape)\nlayers:\n  - \(spec)\n", seed: seed)
}

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var g = SeededGenerator(seed: seed)
    return Tensor(shape: shape) { _ in scale * Float(g.nextNormal()) }
}

/// Largest |a − b| divided by the largest |b| (at least 1e-3): a scale-free error.
func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
    let scale = max(b.scalars.map(abs).max() ?? 0, 1e-3)
    return a.maxAbsDifference(b) / scale
}

/// Central-difference check of every input and parameter gradient of `model` for the
/// loss Σ y·r with a fixed random r, at up to `samples` positions per tensor.
/// Returns a description of each mismatch.
func gradientMismatches(_ model: Model, input: Tensor, samples: Int = 10, step: Float = 1e-3,
                        tolerance: Float = 1e-2) throws -> [String] {
    let r = randomTensor([input.shape[0]] + model.outputShape, seed: 99)
    func loss(_ x: Tensor) throws -> Double {
        let y = try model.forward(x, training: true)
        return zip(y.scalars, r.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    _ = try model.forward(input, training: true)
    let dx = try model.backward(r)
    var failures = [String]()
    func check(_ name: String, count: Int, analytic: (Int) -> Float, perturb: (Int, Float) -> Void,
               evaluate: () throws -> Double) throws {
        var g = SeededGenerator(seed: 5)
        let positions = count <= samples ? Array(0..<count) : (0..<samples).map { _ in Int(g.next() % UInt64(count)) }
        var pairs = [(Int, Float, Float)]()
        for i in positions {
            perturb(i, step); let plus = try evaluate()
            perturb(i, -2 * step); let minus = try evaluate()
            perturb(i, step)
            pairs.append((i, Float((plus - minus) / Double(2 * step)), analytic(i)))
        }
        let scale = max(pairs.map { abs($0.2) }.max() ?? 0, 1e-2)
        for (i, numeric, exact) in pairs where abs(numeric - exact) > tolerance * scale + 1e-3 {
            failures.append("\(name)[\(i)]: numeric \(numeric), analytic \(exact)")
        }
    }
    var x = input
    try check("input", count: x.count, analytic: { dx.scalars[$0] }, perturb: { x.scalars[$0] += $1 }, evaluate: { try loss(x) })
    for (key, p, layer) in model.parameters where !p.isStatistic && layer.updates(p) {
        let grad = p.gradient
        try check(key, count: p.value.count, analytic: { grad.scalars[$0] }, perturb: { p.value.scalars[$0] += $1 },
                  evaluate: { try loss(input) })
    }
    return failures
}
