import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Filter statistics, FGSM, inference-mode input gradients and layer scales.
@Suite struct AnalysisTests {
    /// A kernel `[3, 3, 1, n]` whose filters are the given 9-vectors.
    private func kernel(_ filters: [[Float]]) -> Tensor {
        var values = [Float](repeating: 0, count: 9 * filters.count)
        for (f, filter) in filters.enumerated() { for t in 0..<9 { values[t * filters.count + f] = filter[t] } }
        return Tensor(shape: [3, 3, 1, filters.count], scalars: values)
    }
    private func unit(_ i: Int, _ scale: Float = 1) -> [Float] { (0..<9).map { $0 == i ? scale : 0 } }

    @Test func varianceEntropyOfHandMadeFilterSets() throws {
        // Multiples of one pattern: one non-zero singular value, entropy 0.
        #expect(try FilterStatistics.varianceEntropy(kernel([unit(4), unit(4, -2), unit(4, 3)])) < 1e-12)
        // The 9 unit filters: nine equal singular values, entropy ln 9 / ln 9 = 1.
        #expect(abs(try FilterStatistics.varianceEntropy(kernel((0..<9).map { unit($0) })) - 1) < 1e-9)
        // e1, e1, e2: Gram diag(2, 1), σ = (√2, 1), p = σ / (1 + √2).
        let s = 2.0.squareRoot(), p = [s / (1 + s), 1 / (1 + s)]
        let expected = -(p[0] * log(p[0]) + p[1] * log(p[1])) / log(9)
        #expect(abs(try FilterStatistics.varianceEntropy(kernel([unit(0), unit(0), unit(1)])) - expected) < 1e-9)
        #expect(try FilterStatistics.varianceEntropy(Tensor(zeros: [3, 3, 2, 2])) == 0)
        #expect(throws: ConvKitError.self) { try FilterStatistics.varianceEntropy(Tensor(zeros: [3, 3])) }
    }

    @Test func varianceEntropyMatchesNumPy() throws {
        // np.linalg.svd of the 4×9 filter matrix below (scripts/analysis_values.py).
        let filters: [[Float]] = [[1, 2, 0, -1, 0, 0, 3, 1, 0], [0, 1, 1, 1, 0, -2, 0, 0, 1],
                                  [2, 0, 0, 0, 1, 0, 0, -1, -1], [1, 1, 1, 1, 1, 1, 1, 1, 1]]
        #expect(abs(try FilterStatistics.varianceEntropy(kernel(filters)) - 0.6134920336296) < 1e-9)
    }

    @Test func edgeLikenessMatchesNumPy() throws {
        // scripts/analysis_values.py: Sobel x 0.996055565189, the X shape 0, both together their mean.
        let sobel = HandSetFilter.sobelX.scalars, x = HandSetFilter.xShape.scalars
        #expect(abs(try FilterStatistics.edgeLikeness(kernel([sobel])) - 0.996055565189) < 1e-9)
        #expect(abs(try FilterStatistics.edgeLikeness(kernel([x]))) < 1e-9)
        #expect(abs(try FilterStatistics.edgeLikeness(kernel([sobel, x])) - 0.498027782595) < 1e-9)
        // Random 7×7 filters score far lower than edges.
        let random = try FilterStatistics.edgeLikeness(randomTensor([7, 7, 1, 64], seed: 2))
        #expect(random > 0.1 && random < 0.35)
        #expect(throws: ConvKitError.self) { try FilterStatistics.edgeLikeness(Tensor(zeros: [1, 1, 2, 2])) }
    }

    @Test func filterSpreadIsZeroExactlyForEqualFilters() {
        #expect(FilterStatistics.filterSpread(kernel([unit(2), unit(2), unit(2)])) == 0)
        // |e0 − e1| = √2, largest norm 1.
        #expect(abs(FilterStatistics.filterSpread(kernel([unit(0), unit(1), unit(0)])) - 2.0.squareRoot()) < 1e-12)
    }

    @Test func inputGradientUsesMovingStatisticsAndNoDropout() throws {
        let model = try ModelFile.parse("""
            input: [6]
            layers:
              - Dense: {units: 5, activation: tanh}
              - BatchNormalization
              - Dropout: 0.5
              - Dense: {units: 3, activation: softmax}
            """, seed: 2)
        // Moving statistics away from (0, 1), so that using batch statistics would show.
        let bn = try #require(model.layers[1] as? BatchNormalization)
        bn.parameter("moving_mean")!.value = Tensor(shape: [5], scalars: [0.3, -0.2, 0.1, 0, 0.5])
        bn.parameter("moving_variance")!.value = Tensor(shape: [5], scalars: [0.5, 2, 1.5, 0.8, 1.2])
        let x = randomTensor([4, 6], seed: 3)
        let targets = try OneHot.encode(Tensor(shape: [4], scalars: [0, 2, 1, 2]), classes: 3)
        let loss = CategoricalCrossentropy()
        let statistics = bn.parameters.map(\.value)
        let (value, gradient) = try model.inputGradient(x, targets: targets, loss: loss)
        #expect(bn.parameters.map(\.value) == statistics)           // moving statistics untouched
        func inferenceLoss(_ x: Tensor) throws -> Double { Double(try loss.compute(predictions: try model.predict(x), targets: targets).value) }
        #expect(abs(Double(value) - (try inferenceLoss(x))) < 1e-6)
        let h: Float = 1e-3
        for i in [0, 5, 11, 17, 23] {
            var plus = x, minus = x
            plus.scalars[i] += h; minus.scalars[i] -= h
            let numeric = (try inferenceLoss(plus) - (try inferenceLoss(minus))) / Double(2 * h)
            #expect(abs(numeric - Double(gradient.scalars[i])) < 2e-3, "x[\(i)]: numeric \(numeric), analytic \(gradient.scalars[i])")
        }
    }

    @Test func fgsmStepsEveryPixelByEpsilonAlongTheGradientSign() throws {
        let model = try ModelFile.parse("input: [4]\nlayers:\n  - Dense: {units: 3, activation: softmax}\n", seed: 1)
        let x = Tensor(shape: [2, 4], scalars: [0.5, 0.2, 0.9, 0.02, 0.4, 0.6, 0.1, 0.98])
        let targets = try OneHot.encode(Tensor(shape: [2], scalars: [1, 2]), classes: 3)
        let gradient = try model.inputGradient(x, targets: targets, loss: CategoricalCrossentropy()).gradient
        let adversarial = try AdversarialAttack.fgsm(model, x, targets: targets, epsilon: 0.05, bounds: 0...1)
        for i in 0..<x.count {
            let step: Float = gradient.scalars[i] > 0 ? 0.05 : -0.05
            #expect(abs(adversarial.scalars[i] - min(max(x.scalars[i] + step, 0), 1)) < 1e-7)
        }
        let loss = CategoricalCrossentropy()
        #expect(try loss.compute(predictions: try model.predict(adversarial), targets: targets).value
                > (try loss.compute(predictions: try model.predict(x), targets: targets).value))
        #expect(try AdversarialAttack.robustAccuracy(model, x, targets: targets, epsilon: 0, bounds: nil)
                == Double(try Accuracy.compute(predictions: try model.predict(x), targets: targets)))
    }

    @Test func layerScalesAreTheStandardDeviationsOfOutputsAndGradients() throws {
        let model = try ModelFile.parse("""
            input: [5]
            layers:
              - Dense: {units: 4, activation: relu, name: hidden}
              - Dense: {units: 3, activation: softmax, name: out}
            """, seed: 4)
        let x = randomTensor([6, 5], seed: 1)
        let targets = try OneHot.encode(Tensor(shape: [6], scalars: [0, 1, 2, 0, 1, 2]), classes: 3)
        let scales = try model.layerScales(x, targets: targets, loss: CategoricalCrossentropy())
        #expect(scales.map(\.layer) == ["hidden", "out"])
        let output = try model.forward(x, training: true)
        #expect(abs(scales[1].activationStd - output.standardDeviation) < 1e-7)
        let (_, gradient) = try CategoricalCrossentropy().compute(predictions: output, targets: targets)
        #expect(abs(scales[1].gradientStd - gradient.standardDeviation) < 1e-7)
        #expect(Tensor(shape: [4], scalars: [1, 3, 1, 3]).standardDeviation == 1)
    }

    @Test func allEqualWeightsKeepEveryFilterIdenticalThroughTraining() throws {
        func trainedSpread(_ initializer: String) throws -> (before: Double, after: Double) {
            let model = try ModelFile.parse("""
                input: [8, 8, 1]
                layers:
                  - Conv2D: {filters: 4, kernel_size: 3, activation: relu, kernel_initializer: \(initializer), name: conv}
                  - Flatten
                  - Dense: {units: 3, activation: softmax, kernel_initializer: \(initializer)}
                """, seed: 1)
            let before = FilterStatistics.filterSpread(model.parameter("conv.kernel")!.value)
            model.compile(optimizer: SGD(schedule: ConstantSchedule(0.1), momentum: 0.9), loss: CategoricalCrossentropy())
            let x = Tensor(shape: [12, 8, 8, 1]) { i in Float((i * 7919) % 13) / 13 }
            let y = try OneHot.encode(Tensor(shape: [12], scalars: (0..<12).map { Float($0 % 3) }), classes: 3)
            try model.fit(x, y, batchSize: 4, epochs: 3, verbose: .silent)
            return (before, FilterStatistics.filterSpread(model.parameter("conv.kernel")!.value))
        }
        let equal = try trainedSpread("{constant: 0.1}"), random = try trainedSpread("he_normal")
        #expect(equal.before == 0 && equal.after == 0)
        #expect(random.before > 0.1 && random.after > 0.1)
    }
}
