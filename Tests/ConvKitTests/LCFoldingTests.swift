import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// The folded LC-block (one convolution with W = S·C, gradients dC = Sᵀ·dW and dS = dW·Cᵀ)
/// against its naive twin, the two convolutions of the paper; and the Table 3 ablation blocks.
@Suite struct LCFoldingTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var kernel: Int, stride: Int, padding: String, expansion: Int, dilation = 1
        var testDescription: String { "k\(kernel) s\(stride) \(padding) E\(expansion) d\(dilation)" }
    }

    /// k 3/5/7 × stride 1/2 × same/valid × E 1/8/64, and dilation 2.
    static let cases: [Case] = [3, 5, 7].flatMap { k in
        [1, 2].flatMap { s in ["same", "valid"].flatMap { p in [1, 8, 64].map { e in Case(kernel: k, stride: s, padding: p, expansion: e) } } }
    } + [Case(kernel: 3, stride: 1, padding: "same", expansion: 8, dilation: 2),
         Case(kernel: 3, stride: 2, padding: "valid", expansion: 4, dilation: 2)]

    static let inputShape = [9, 9, 3]

    /// The same block twice from one seed: computed folded, and as two convolutions.
    static func pair(_ c: Case, frozen: Bool, activation: String = "linear") throws -> (folded: Model, twin: Model) {
        func model(_ computation: String) throws -> Model {
            try singleLayerModel("""
                LCConv2D: {filters: 4, kernel_size: \(c.kernel), expansion: \(c.expansion), strides: \(c.stride), \
                padding: \(c.padding), dilation_rate: \(c.dilation), frozen_spatial: \(frozen), activation: \(activation), \
                computation: \(computation), spatial_initializer: he_uniform}
                """, inputShape: inputShape, seed: 7)
        }
        let pair = (try model("folded"), try model("two_convolutions"))
        // A non-zero bias, so that both paths must carry it.
        for m in [pair.0, pair.1] { m.layers[0].parameter("bias")!.value = randomTensor([4], seed: 3, scale: 0.5) }
        return pair
    }

    static func lc(_ m: Model) -> LCConv2D { m.layers[0] as! LCConv2D }

    @Test(arguments: cases)
    func foldedOutputAndGradientsEqualTheTwoConvolutions(_ c: Case) throws {
        for frozen in [false, true] {
            for batch in [1, c.expansion == 64 ? 16 : 128] {
                let (folded, twin) = try Self.pair(c, frozen: frozen, activation: "relu")
                #expect(Self.lc(folded).computation == .folded && Self.lc(twin).computation == .twoConvolutions)
                let x = randomTensor([batch] + Self.inputShape, seed: 11)
                let yFolded = try folded.forward(x, training: true), yTwin = try twin.forward(x, training: true)
                #expect(relativeError(yFolded, yTwin) < 1e-5, "\(c) frozen \(frozen) batch \(batch): output \(relativeError(yFolded, yTwin))")
                let r = randomTensor(yTwin.shape, seed: 12)
                let dxFolded = try folded.backward(r), dxTwin = try twin.backward(r)
                #expect(relativeError(dxFolded, dxTwin) < 1e-5, "\(c) frozen \(frozen) batch \(batch): input gradient")
                let (a, b) = (Self.lc(folded), Self.lc(twin))
                for name in ["combination_kernel", "bias"] + (frozen ? [] : ["spatial_kernel"]) {
                    let ga = a.parameter(name)!.gradient, gb = b.parameter(name)!.gradient
                    #expect(ga.shape == gb.shape && relativeError(ga, gb) < 1e-5,
                            "\(c) frozen \(frozen) batch \(batch): \(name) gradient \(relativeError(ga, gb))")
                }
            }
        }
    }

    /// The large case the issue names: E = 64, k 7, batch 128 (run once, it is the slowest).
    @Test func foldedMatchesTheTwinAtE64Batch128() throws {
        let (folded, twin) = try Self.pair(Case(kernel: 7, stride: 1, padding: "same", expansion: 64), frozen: false)
        let x = randomTensor([128] + Self.inputShape, seed: 1)
        #expect(relativeError(try folded.forward(x, training: true), try twin.forward(x, training: true)) < 1e-5)
        let r = randomTensor([128, 9, 9, 4], seed: 2)
        #expect(relativeError(try folded.backward(r), try twin.backward(r)) < 1e-5)
        for name in ["spatial_kernel", "combination_kernel", "bias"] {
            #expect(relativeError(Self.lc(folded).parameter(name)!.gradient, Self.lc(twin).parameter(name)!.gradient) < 1e-5, "\(name)")
        }
    }

    @Test(arguments: ["sgd", "adam"], [false, true])
    func threeOptimizerStepsLeaveTheSameWeights(_ optimizerName: String, _ frozen: Bool) throws {
        let c = Case(kernel: 5, stride: 2, padding: "same", expansion: 8)
        let (folded, twin) = try Self.pair(c, frozen: frozen)
        let x = randomTensor([32] + Self.inputShape, seed: 21)
        let targets = randomTensor([32, 5, 5, 4], seed: 22)
        for model in [folded, twin] {
            // SGD as the paper trains: Nesterov momentum 0.9 and coupled weight decay 1e-2.
            let optimizer: any Optimizer = optimizerName == "sgd"
                ? SGD(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: .coupled(0.01))
                : Adam(learningRate: 0.01, weightDecay: .coupled(0.01))
            for _ in 0..<3 {
                let p = try model.forward(x, training: true)
                try model.backward(try MeanSquaredError().compute(predictions: p, targets: targets).gradient, applying: optimizer)
            }
        }
        let (a, b) = (Self.lc(folded), Self.lc(twin))
        let initial = try Self.pair(c, frozen: frozen).folded
        for name in ["spatial_kernel", "combination_kernel", "bias"] {
            let wa = a.parameter(name)!.value, wb = b.parameter(name)!.value
            #expect(relativeError(wa, wb) < 1e-5, "\(optimizerName) frozen \(frozen): \(name) differs by \(relativeError(wa, wb))")
            let moved = wa != Self.lc(initial).parameter(name)!.value
            #expect(moved == !(frozen && name == "spatial_kernel"), "\(name) moved: \(moved)")
        }
    }

    /// Frozen filters under SGD: the combination kernel is followed in the span of S
    /// (`SubspaceTrajectory`), and every form of SGD leaves the weights, the velocity and the
    /// output the dense update of the twin leaves, also when C or S is written in between.
    @Test(arguments: 0..<5)
    func frozenFiltersTrainInTheirSpanLikeTheDenseUpdate(_ index: Int) throws {
        func optimizer() -> SGD {   // plain, coupled decay, momentum, the paper's Nesterov, decoupled decay
            [SGD(learningRate: 0.05), SGD(learningRate: 0.05, weightDecay: .coupled(0.01)),
             SGD(learningRate: 0.05, momentum: 0.9), SGD(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: .coupled(0.01)),
             SGD(learningRate: 0.05, momentum: 0.8, weightDecay: .decoupled(0.02))][index]
        }
        let c = Case(kernel: 3, stride: 1, padding: "same", expansion: 16)
        let (folded, twin) = try Self.pair(c, frozen: true)
        let (a, b) = (Self.lc(folded), Self.lc(twin))
        let optimizers = (optimizer(), optimizer())
        let x = randomTensor([8] + Self.inputShape, seed: 31), targets = randomTensor([8, 9, 9, 4], seed: 32)
        func step() throws -> (Tensor, Tensor) {
            var outputs = [Tensor]()
            for (model, opt) in [(folded, optimizers.0), (twin, optimizers.1)] {
                let p = try model.forward(x, training: true)
                outputs.append(p)
                try model.backward(try MeanSquaredError().compute(predictions: p, targets: targets).gradient, applying: opt)
            }
            return (outputs[0], outputs[1])
        }
        func expectSame(_ when: String) throws {
            #expect(a.combinationKernel.deferredValue is SubspaceTrajectory, "\(when): C is not followed in S's span")
            let (ya, yb) = try step()   // the forward pass reads W = S·C from the trajectory
            #expect(relativeError(ya, yb) < 1e-5, "\(when): output \(relativeError(ya, yb))")
            for name in ["combination_kernel", "bias"] {
                let wa = a.parameter(name)!.value, wb = b.parameter(name)!.value
                #expect(relativeError(wa, wb) < 1e-5, "\(when): \(name) differs by \(relativeError(wa, wb))")
            }
            // The folded model's state also holds the trajectory; its velocity must be the twin's.
            let (sa, sb) = (optimizers.0.exportState().filter { $0.0.hasSuffix("/velocity") }, optimizers.1.exportState())
            #expect(sa.map(\.0) == sb.map(\.0), "\(when): optimizer slots \(sa.map(\.0)) against \(sb.map(\.0))")
            for ((name, va), (_, vb)) in zip(sa, sb) {
                #expect(relativeError(va, vb) < 1e-5, "\(when): \(name) differs by \(relativeError(va, vb))")
            }
        }
        for _ in 0..<3 { _ = try step() }
        try expectSame("after three steps")
        // Writing C restarts the trajectory from the written weights.
        let newC = randomTensor(a.combinationKernel.shape, seed: 33, scale: 0.1)
        a.combinationKernel.value = newC; b.combinationKernel.value = newC
        _ = try step()
        try expectSame("after C was written")
        // Writing S makes a new basis; the old trajectory's weights are rebuilt on the old S.
        let newS = randomTensor(a.spatialKernel.shape, seed: 34, scale: 0.2)
        a.spatialKernel.value = newS; b.spatialKernel.value = newS
        _ = try step()
        try expectSame("after S was written")
        #expect(a.spatialKernel.value == newS)
    }

    @Test func foldedGradientsPassTheNumericalCheck() throws {
        for frozen in [false, true] {
            let (folded, _) = try Self.pair(Case(kernel: 3, stride: 2, padding: "same", expansion: 3), frozen: frozen)
            let mismatches = try gradientMismatches(folded, input: randomTensor([2] + Self.inputShape, seed: 4))
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        }
    }

    // MARK: - The Table 3 ablation: an operation between the two convolutions

    static func ablation(_ intermediate: String, seed: UInt64 = 7) throws -> Model {
        try singleLayerModel("LCConv2D: {filters: 3, kernel_size: 3, expansion: 4, padding: same, intermediate: \(intermediate)}",
                             inputShape: [6, 6, 2], seed: seed)
    }

    @Test(arguments: ["relu", "batch_norm", "batch_norm_relu"])
    func ablationBlocksComputeTheOperationBetweenTheConvolutions(_ intermediate: String) throws {
        let model = try Self.ablation(intermediate)
        let block = Self.lc(model)
        #expect(block.computation == .twoConvolutions)
        let normalizes = intermediate.hasPrefix("batch_norm")
        #expect(block.parameters.map(\.name) == ["spatial_kernel", "combination_kernel", "bias"]
                + (normalizes ? ["intermediate_gamma", "intermediate_beta", "intermediate_moving_mean", "intermediate_moving_variance"] : []))
        // The forward pass against the operations spelled out: conv, [BN], [ReLU], conv.
        block.parameter("bias")!.value = randomTensor([3], seed: 5)
        let x = randomTensor([4, 6, 6, 2], seed: 6)
        var g = try ConvGeometry(batch: 4, inputSize: [6, 6], inputChannels: 2, outputChannels: 12, kernelSize: [3, 3],
                                 strides: [1, 1], dilations: [1, 1], padding: .same)
        var middle = ConvolutionReference.forward(x, kernel: block.spatialKernel.value, bias: nil, geometry: g)
        if normalizes {
            // Batch statistics over batch × pixels, biased variance, epsilon 1e-5; gamma 1, beta 0.
            let c = 12, rows = middle.count / c
            for j in 0..<c {
                let column = (0..<rows).map { Double(middle.scalars[$0 * c + j]) }
                let mean = column.reduce(0, +) / Double(rows)
                let variance = column.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rows)
                for i in 0..<rows { middle.scalars[i * c + j] = Float((column[i] - mean) / (variance + 1e-5).squareRoot()) }
            }
        }
        if intermediate.hasSuffix("relu") { middle = Tensor(shape: middle.shape, scalars: middle.scalars.map { max($0, 0) }) }
        g = try ConvGeometry(batch: 4, inputSize: [6, 6], inputChannels: 12, outputChannels: 3, kernelSize: [1, 1],
                             strides: [1, 1], dilations: [1, 1], padding: .valid)
        let expected = ConvolutionReference.forward(middle, kernel: block.combinationKernel.value, bias: block.parameter("bias")!.value, geometry: g)
        #expect(relativeError(try model.forward(x, training: true), expected) < 1e-5)
        #expect(throws: ConvKitError.self) { try block.folded() }
    }

    /// Output and every gradient equal those of the same operations as separate layers:
    /// Conv2D, [BatchNormalization], [ReLU], 1×1 Conv2D.
    @Test(arguments: ["relu", "batch_norm", "batch_norm_relu"])
    func ablationBlocksEqualTheirOperationsAsSeparateLayers(_ intermediate: String) throws {
        let model = try Self.ablation(intermediate)
        let block = Self.lc(model)
        block.parameter("bias")!.value = randomTensor([3], seed: 5)
        var layers: [Layer] = [Conv2D(filters: 12, kernelSize: 3, padding: .same, useBias: false,
                                      kernelInitializer: .values(block.spatialKernel.value))]
        if intermediate.hasPrefix("batch_norm") { layers.append(BatchNormalization(momentum: 0.9, epsilon: 1e-5)) }
        if intermediate.hasSuffix("relu") { layers.append(Activation(.relu)) }
        layers.append(Conv2D(filters: 3, kernelSize: 1, kernelInitializer: .values(block.combinationKernel.value),
                             biasInitializer: .values(block.parameter("bias")!.value)))
        let separate = try Model(sequential: layers, inputShape: [6, 6, 2])
        let x = randomTensor([5, 6, 6, 2], seed: 6), r = randomTensor([5, 6, 6, 3], seed: 7)
        #expect(relativeError(try model.forward(x, training: true), try separate.forward(x, training: true)) < 1e-5)
        #expect(relativeError(try model.backward(r), try separate.backward(r)) < 1e-5)
        let pairs = [("spatial_kernel", layers[0].parameter("kernel")!), ("combination_kernel", layers.last!.parameter("kernel")!),
                     ("bias", layers.last!.parameter("bias")!)]
            + (intermediate.hasPrefix("batch_norm")
               ? [("intermediate_gamma", layers[1].parameter("gamma")!), ("intermediate_beta", layers[1].parameter("beta")!),
                  ("intermediate_moving_mean", layers[1].parameter("moving_mean")!)] : [])
        for (name, twin) in pairs {
            let ours = block.parameter(name)!
            let (a, b) = name.contains("moving") ? (ours.value, twin.value) : (ours.gradient, twin.gradient)
            #expect(relativeError(a, b) < 1e-5, "\(intermediate): \(name) \(relativeError(a, b))")
        }
        // Central differences too, where the loss is smooth (a ReLU after BatchNorm puts kinks
        // next to the sampled points, so that case relies on the comparison above).
        if intermediate != "batch_norm_relu" {
            let mismatches = try gradientMismatches(try Self.ablation(intermediate, seed: 8), input: randomTensor([3, 6, 6, 2], seed: 9))
            #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        }
    }

    @Test func ablationBlocksRoundTripThroughModelFilesAndWeights() throws {
        let model = try Self.ablation("batch_norm_relu")
        model.compile(optimizer: SGD(learningRate: 0.1), loss: MeanSquaredError())
        let x = randomTensor([8, 6, 6, 2], seed: 1)
        try model.fit(x, randomTensor([8, 6, 6, 3], seed: 2), batchSize: 4, epochs: 1, verbose: .silent)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lc-ablation-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.save(to: folder)
        let loaded = try Model.load(from: folder)
        let block = Self.lc(loaded)
        #expect(block.intermediate == .batchNormReLU)
        #expect(block.parameter("intermediate_moving_mean")!.value == Self.lc(model).parameter("intermediate_moving_mean")!.value)
        #expect(try loaded.predict(x) == (try model.predict(x)))
        #expect(loaded.parameterCount == model.parameterCount && loaded.trainableParameterCount == model.trainableParameterCount)
    }

    @Test func badLCBlocksGetErrorsNamingTheLayer() throws {
        func message(_ spec: String) -> String {
            do { _ = try singleLayerModel(spec, inputShape: [6, 6, 2]); return "no error" } catch { return "\(error)" }
        }
        #expect(message("LCConv2D: {filters: 3, kernel_size: 3, expansion: 0}").contains("expansion must be at least 1, got 0"))
        #expect(message("LCConv2D: {filters: 3, kernel_size: 3, expansion: 0}").contains("LCConv2D"))
        #expect(message("LCConv2D: {filters: 3, kernel_size: 3, intermediate: tanh}")
            .contains("argument 'intermediate' must be one of 'none', 'relu', 'batch_norm', 'batch_norm_relu', got 'tanh'"))
        #expect(message("LCConv2D: {filters: 3, kernel_size: 3, intermediate: relu, computation: folded}")
            .contains("intermediate 'relu' sits between the two convolutions, so the block is not linear and cannot run folded"))
        #expect(message("LCConv2D: {filters: 3, kernel_size: 3, computation: fused}").contains("argument 'computation' must be one of"))
        #expect(throws: ConvKitError.self) { try ResNet(depth: 8, convolution: .linearCombination(expansion: 0, frozen: true)).model(inputShape: [8, 8, 1]) }
    }
}
