import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct TrainingTests {
    static func loss(named name: String) -> any Loss {
        switch name {
        case "categorical_crossentropy": CategoricalCrossentropy()
        case "categorical_crossentropy_smoothed": CategoricalCrossentropy(labelSmoothing: 0.1)
        case "categorical_crossentropy_logits": CategoricalCrossentropy(fromLogits: true)
        case "sparse_categorical_crossentropy_logits": SparseCategoricalCrossentropy(fromLogits: true)
        case "binary_crossentropy": BinaryCrossentropy()
        case "binary_crossentropy_logits": BinaryCrossentropy(fromLogits: true)
        default: MeanSquaredError()
        }
    }

    @Test(arguments: Fixtures.shared.losses.map(\.spec))
    func lossValuesMatchNumPy(_ name: String) throws {
        let c = try #require(Fixtures.shared.losses.first { $0.spec == name })
        let value = try Self.loss(named: name).compute(predictions: Tensor(shape: c.shape, scalars: c.predictions),
                                                       targets: Tensor(shape: c.targets_shape, scalars: c.targets)).value
        #expect(abs(Double(value) - c.value) < 1e-5 * max(1, abs(c.value)), "\(name): \(value) vs NumPy \(c.value)")
    }

    @Test func lossesRejectMismatchedShapes() {
        #expect(throws: ConvKitError.self) {
            try CategoricalCrossentropy().compute(predictions: Tensor(zeros: [2, 3]), targets: Tensor(zeros: [2, 4]))
        }
        #expect(throws: ConvKitError.self) {
            try SparseCategoricalCrossentropy().compute(predictions: Tensor(zeros: [2, 3]), targets: Tensor(shape: [2], scalars: [0, 3]))
        }
    }

    @Test func accuracyCountsArgmaxHits() throws {
        let p = Tensor(shape: [4, 3], scalars: [0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.2, 0.2, 0.6, 0.3, 0.4, 0.3])
        #expect(try Accuracy.compute(predictions: p, targets: Tensor(shape: [4], scalars: [1, 0, 0, 1])) == 0.75)
        let oneHot = try OneHot.encode(Tensor(shape: [4], scalars: [1, 0, 2, 2]), classes: 3)
        #expect(try Accuracy.compute(predictions: p, targets: oneHot) == 0.75)
    }

    /// One parameter w = [1, −2] with gradient g = [0.5, 0.25], by hand from Keras' update rules.
    private func step(_ optimizer: any Optimizer, times: Int) -> [Float] {
        let p = Parameter(name: "w", value: Tensor(shape: [2], scalars: [1, -2]))
        for _ in 0..<times {
            p.gradient = Tensor(shape: [2], scalars: [0.5, 0.25])
            optimizer.apply(to: [("w", p)])
        }
        return p.value.scalars
    }

    @Test func sgdFollowsKerasRules() {
        #expect(step(SGD(), times: 1) == [1 - 0.005, -2 - 0.0025])
        // Momentum 0.9, lr 0.1: v1 = −0.05, w1 = 0.95; v2 = −0.095, w2 = 0.855.
        let m = step(SGD(learningRate: 0.1, momentum: 0.9), times: 2)
        #expect(abs(m[0] - 0.855) < 1e-6)
        // Nesterov: w1 = 1 + 0.9·(−0.05) − 0.05 = 0.905; v2 = −0.095, w2 = 0.905 − 0.0855 − 0.05 = 0.7695.
        let n = step(SGD(learningRate: 0.1, momentum: 0.9, nesterov: true), times: 2)
        #expect(abs(n[0] - 0.7695) < 1e-6)
        // Decoupled decay 0.1: w ← w − 0.1·0.1·w, then − 0.1·g: 1 − 0.01 − 0.05 = 0.94.
        #expect(abs(step(SGD(learningRate: 0.1, weightDecay: .decoupled(0.1)), times: 1)[0] - 0.94) < 1e-6)
        // Coupled (PyTorch): g ← g + 0.1·w = 0.6; w = 1 − 0.06 = 0.94; w[1]: g = 0.25 − 0.2 = 0.05, w = −2.005.
        let c = step(SGD(learningRate: 0.1, weightDecay: .coupled(0.1)), times: 1)
        #expect(abs(c[1] + 2.005) < 1e-6)
    }

    @Test func adamFollowsKerasRules() {
        // The first Adam step moves every weight by lr·g/(|g| + ε·…) ≈ lr against the gradient's sign.
        let one = step(Adam(learningRate: 0.01), times: 1)
        #expect(abs(one[0] - 0.99) < 1e-6 && abs(one[1] + 2.01) < 1e-6)
        // Constant gradients: m̂ = g and v̂ = g² at every step, so each step is again lr.
        let three = step(Adam(learningRate: 0.01), times: 3)
        #expect(abs(three[0] - 0.97) < 1e-5)
    }

    /// `backward(_:applying:)` makes SGD's plain step inside Dense's weight-gradient product;
    /// the weights must come out as `backward` followed by `apply` leaves them.
    @Test(arguments: ["sgd", "sgd coupled decay", "sgd decoupled decay", "sgd momentum", "adam"])
    func foldedStepsMatchSeparateSteps(_ name: String) throws {
        func optimizer() -> any Optimizer {
            switch name {
            case "sgd": SGD(learningRate: 0.05)
            case "sgd coupled decay": SGD(learningRate: 0.05, weightDecay: .coupled(0.1))
            case "sgd decoupled decay": SGD(learningRate: 0.05, weightDecay: .decoupled(0.1))
            case "sgd momentum": SGD(learningRate: 0.05, momentum: 0.9)
            default: Adam(learningRate: 0.01)
            }
        }
        func model() throws -> Model {
            let frozen = Dense(units: 6, name: "frozen")
            frozen.trainable = false
            return try Model(sequential: [Flatten(), Dense(units: 12), BatchNormalization(), Activation(.relu), frozen,
                                          Dense(units: 3, activation: .softmax)], inputShape: [4, 5], seed: 9)
        }
        let folds = name.hasPrefix("sgd") && name != "sgd momentum"
        let (separate, folded) = (try model(), try model())
        let (separateOptimizer, foldedOptimizer) = (optimizer(), optimizer())
        let x = randomTensor([16, 4, 5], seed: 4)
        let y = try OneHot.encode(Tensor(shape: [16]) { Float($0 % 3) }, classes: 3)
        let frozenBefore = try #require(folded.parameter("frozen.kernel")).value
        for _ in 0..<3 {
            let g1 = try CategoricalCrossentropy().compute(predictions: separate.forward(x, training: true), targets: y).gradient
            try separate.backward(g1, inputGradient: false)
            separateOptimizer.apply(to: separate)
            let g2 = try CategoricalCrossentropy().compute(predictions: folded.forward(x, training: true), targets: y).gradient
            try folded.backward(g2, applying: foldedOptimizer)
        }
        #expect(foldedOptimizer.iterations == 3)
        for ((key, a, _), (_, b, _)) in zip(separate.parameters, folded.parameters) {
            let worst = zip(a.value.scalars, b.value.scalars).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-6, "\(name), \(key): differs by \(worst)")
        }
        #expect(try #require(folded.parameter("frozen.kernel")).value == frozenBefore)
        // Only a trainable Dense kernel is folded, and only by a plain step; its gradient is then left empty.
        let kernel = try #require(folded.parameter("dense.kernel"))
        #expect(kernel.gradient.count == (folds ? 0 : kernel.value.count), "\(name)")
        #expect(try #require(folded.parameter("dense.bias")).gradient.count == 12)
    }

    @Test func schedules() {
        #expect(ConstantSchedule(0.1).rate(at: 1000) == 0.1)
        let s = StepSchedule(initial: 1, factor: 0.5, every: 10)
        #expect(s.rate(at: 9) == 1 && s.rate(at: 10) == 0.5 && s.rate(at: 25) == 0.25)
        let c = CosineSchedule(initial: 0.01, decaySteps: 100)
        #expect(c.rate(at: 0) == 0.01)
        #expect(abs(c.rate(at: 50) - 0.005) < 1e-7)
        #expect(abs(c.rate(at: 100)) < 1e-9 && abs(c.rate(at: 500)) < 1e-9)
        #expect(abs(CosineSchedule(initial: 1, decaySteps: 10, alpha: 0.1).rate(at: 10) - 0.1) < 1e-6)
    }

    @Test func trainingStepsLowerTheLossOfASmallConvNet() throws {
        let model = try Model(sequential: [
            Conv2D(filters: 4, kernelSize: 3, padding: .same), BatchNormalization(), Activation(.relu),
            MaxPooling2D(), Flatten(), Dense(units: 2, activation: .softmax),
        ], inputShape: [6, 6, 1], seed: 3)
        // Class 0: bright left half; class 1: bright right half.
        let x = Tensor(shape: [8, 6, 6, 1]) { i in
            let (n, col) = (i / 36, i % 6)
            return (n % 2 == 0) == (col < 3) ? 1 : 0
        }
        let y = try OneHot.encode(Tensor(shape: [8]) { Float($0 % 2) }, classes: 2)
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        var losses = [Float]()
        for _ in 0..<20 {
            let p = try model.forward(x, training: true)
            let (value, gradient) = try CategoricalCrossentropy().compute(predictions: p, targets: y)
            losses.append(value)
            try model.backward(gradient)
            optimizer.apply(to: model)
        }
        #expect(losses.last! < 0.1 * losses.first!, "losses \(losses)")
        #expect(try Accuracy.compute(predictions: model.predict(x), targets: y) == 1)
    }
}
