import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct InitializerTests {
    @Test func generatorIsBitReproducible() {
        // Golden values: any change to the generator changes every seeded experiment.
        var g = SeededGenerator(seed: 42)
        #expect([g.next(), g.next(), g.next()] == SeededGenerator.golden42)
        var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
        #expect((0..<100).map { _ in a.nextNormal() } == (0..<100).map { _ in b.nextNormal() })
        var p = SeededGenerator(seed: 3)
        #expect(p.permutation(10).sorted() == Array(0..<10))
    }

    private func sample(_ initializer: any Initializer, _ shape: [Int], seed: UInt64 = 1) -> (std: Double, maxAbs: Float, mean: Double) {
        var g = SeededGenerator(seed: seed)
        let t = initializer.make(shape: shape, using: &g)
        let mean = t.scalars.reduce(0.0) { $0 + Double($1) } / Double(t.count)
        let variance = t.scalars.reduce(0.0) { $0 + pow(Double($1) - mean, 2) } / Double(t.count)
        return (variance.squareRoot(), t.scalars.map(abs).max()!, mean)
    }

    @Test func fansFollowKeras() {
        #expect(fans(of: [3, 3, 1, 64]) == (9, 576))
        #expect(fans(of: [784, 1000]) == (784, 1000))
        #expect(fans(of: [3, 3, 3, 16, 32]) == (27 * 16, 27 * 32))
    }

    @Test func varianceScalingFamiliesHaveTheirVariance() {
        let shape = [3, 3, 64, 32]     // fanIn 576, fanOut 288
        let glorotLimit = Float((6.0 / (576 + 288)).squareRoot())
        let glorot = sample(.glorotUniform, shape)
        #expect(glorot.maxAbs <= glorotLimit && abs(glorot.std - Double(glorotLimit) / 3.0.squareRoot()) < 0.02 * Double(glorotLimit))
        let expected: [(VarianceScaling, Double)] = [
            (.heNormal, 2.0 / 576), (.lecunNormal, 1.0 / 576), (.glorotNormal, 2.0 / 864), (.heUniform, 2.0 / 576), (.lecunUniform, 1.0 / 576)]
        for (initializer, variance) in expected {
            let std = variance.squareRoot()
            let s = sample(initializer, shape)
            #expect(abs(s.std - std) < 0.03 * std, "\(initializer.name): std \(s.std), expected \(std)")
            #expect(abs(s.mean) < 0.05 * std)
        }
        // Truncated normals never exceed two (untruncated) standard deviations.
        #expect(Double(sample(.heNormal, shape).maxAbs) <= 2 * (2.0 / 576).squareRoot() / 0.87962566103423978 + 1e-6)
        // PyTorch's default for a conv weight: U(−1/√fanIn, 1/√fanIn).
        let torch = sample(.pytorchDefault, shape)
        #expect(torch.maxAbs <= Float(1 / 576.0.squareRoot()) && torch.maxAbs > Float(0.99 / 576.0.squareRoot()))
    }

    @Test func simpleDistributions() {
        let normal = sample(RandomNormal(stddev: 0.01), [100, 100])
        #expect(abs(normal.std - 0.01) < 0.0003)
        let truncated = sample(TruncatedNormal(stddev: 0.05), [100, 100])
        #expect(truncated.maxAbs <= 0.1)
        let uniform = sample(RandomUniform(minval: -0.2, maxval: 0.2), [100, 100])
        #expect(uniform.maxAbs <= 0.2 && abs(uniform.std - 0.2 / 3.0.squareRoot()) < 0.005)
        var g = SeededGenerator(seed: 0)
        #expect(Constant(0.5).make(shape: [2, 2], using: &g).scalars == [0.5, 0.5, 0.5, 0.5])
    }

    @Test(arguments: [[64, 32], [16, 48], [3, 3, 8, 8]])
    func orthogonalHasOrthonormalColumnsOrRows(_ shape: [Int]) {
        var g = SeededGenerator(seed: 4)
        let t = Orthogonal().make(shape: shape, using: &g)
        let cols = shape.last!, rows = t.count / cols
        let (n, k, tall) = rows >= cols ? (rows, cols, true) : (cols, rows, false)
        func v(_ i: Int, _ j: Int) -> Double { Double(tall ? t.scalars[i * cols + j] : t.scalars[j * cols + i]) }
        for a in 0..<k { for b in 0..<k {
            let dot = (0..<n).reduce(0.0) { $0 + v($1, a) * v($1, b) }
            #expect(abs(dot - (a == b ? 1 : 0)) < 1e-4)
        }}
    }

    @Test func allEqualWeightsNeverBreakSymmetry() throws {
        // With every weight equal, every hidden unit gets the same gradient, so they stay equal.
        let model = try Model(sequential: [Dense(units: 4, activation: .tanh, kernelInitializer: .constant(0.1)),
                                           Dense(units: 3, activation: .softmax, kernelInitializer: .constant(0.1))],
                              inputShape: [5], seed: 2)
        let x = randomTensor([8, 5], seed: 1)
        let y = try OneHot.encode(Tensor(shape: [8]) { Float($0 % 3) }, classes: 3)
        let sgd = SGD(learningRate: 0.5)
        for _ in 0..<10 {
            let p = try model.forward(x, training: true)
            try model.backward(try CategoricalCrossentropy().compute(predictions: p, targets: y).gradient)
            sgd.apply(to: model)
        }
        let w = model.parameter("dense.kernel")!.value
        #expect(w.scalars[0] != 0.1)   // it did learn
        for row in 0..<5 { for unit in 1..<4 { #expect(w.scalars[row * 4 + unit] == w.scalars[row * 4]) } }
    }
}

extension SeededGenerator {
    /// From a Python transcription of SplitMix64 + xoshiro256** (seed 42).
    static let golden42: [UInt64] = [1546998764402558742, 6990951692964543102, 12544586762248559009]
}

@Suite struct TensorTests {
    @Test func batchSlicingAndGathering() {
        let t = Tensor(shape: [3, 2]) { Float($0) }
        #expect(t.slice(batch: 1..<3) == Tensor(shape: [2, 2], scalars: [2, 3, 4, 5]))
        #expect(t.gather(batch: [2, 0]) == Tensor(shape: [2, 2], scalars: [4, 5, 0, 1]))
        #expect(t.reshaped(to: [6]).shape == [6])
        #expect((t + t).scalars == t.scalars.map { 2 * $0 } && (t * 0.5).sum() == 7.5)
    }
}
