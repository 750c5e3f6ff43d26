import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Training runs a BatchNormalization and the ReLU reading it as one layer; the fused pass and
/// its gradients must equal the layer-by-layer ones (which `observe` forces) exactly: the same
/// arithmetic in the same order, with the ReLU applied on the way.
@Suite struct TrainingFusionTests {
    /// One training step's output, input gradient (when asked for) and every parameter
    /// gradient, fused or layer by layer. Without the input gradient, a first convolution
    /// before a BatchNorm takes that BatchNorm's input gradient image by image.
    func step(_ model: Model, _ x: Tensor, _ dy: Tensor, layerByLayer: Bool, inputGradient: Bool) throws -> [Tensor] {
        let y = layerByLayer ? try model.forward(x, training: true) { _, _ in } : try model.forward(x, training: true)
        let dx = layerByLayer ? try model.backward(dy, inputGradient: inputGradient) { _, _ in }
                              : try model.backward(dy, inputGradient: inputGradient)
        return [y] + (inputGradient ? [dx] : []) + model.trainableParameters.map(\.parameter.gradient)
    }

    /// Random BatchNorm gains and offsets (so that ReLUs gate), then one step fused and one layer
    /// by layer: every value must be equal, and none all zero.
    /// With a `tolerance`, values may differ by that much relative to the step's largest value
    /// (sums in another order; a conv bias before a BatchNorm has a gradient of rounding noise
    /// around 0, so it cannot be compared relative to itself).
    func expectFusedStepEqualsLayerByLayer(_ model: Model, _ x: Tensor, _ dy: Tensor, tolerance: Float = 0) throws {
        for (k, layer) in model.layers.enumerated() where layer is BatchNormalization {
            let c = layer.outputShape.last!
            layer.parameter("gamma")!.value = randomTensor([c], seed: UInt64(30 + k))
            layer.parameter("beta")!.value = randomTensor([c], seed: UInt64(40 + k))
        }
        for inputGradient in [true, false] {
            let fused = try step(model, x, dy, layerByLayer: false, inputGradient: inputGradient)
            let reference = try step(model, x, dy, layerByLayer: true, inputGradient: inputGradient)
            #expect(fused.count == reference.count)
            let scale = reference.map { $0.scalars.map(abs).max() ?? 0 }.max() ?? 0
            for (k, (a, b)) in zip(fused, reference).enumerated() {
                #expect(a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= tolerance * scale },
                        "value \(k) of the step (output, dx when asked for, then parameter gradients), input gradient \(inputGradient)")
                #expect(a.scalars.contains { $0 != 0 }, "value \(k) is not all zero")
            }
        }
    }

    @Test func batchNormReLUPairsFuseAndGiveTheSameNumbers() throws {
        let input = Input(shape: [8, 8, 3])
        let conv = try Conv2D(filters: 20, kernelSize: 3, padding: .same)(input)
        let activated = try Activation(.relu)(try BatchNormalization()(conv))
        // The second BatchNorm is read twice (ReLU and the Add): it must not fuse.
        let normalized = try BatchNormalization()(try Conv2D(filters: 20, kernelSize: 3, padding: .same)(activated))
        let sum = try Add()([try Activation(.relu)(normalized), normalized])
        let head = try Dense(units: 4)(try Flatten()(try Activation(.relu)(try BatchNormalization()(sum))))
        let model = try Model(input: input, output: head, seed: 7)
        #expect(model.batchNormReLUPairs().count == 2)
        // Both convolutions feed a BatchNorm alone, so both take its sums as they write.
        #expect(model.convolutionsBeforeBatchNorm().count == 2)
        let x = randomTensor([6, 8, 8, 3], seed: 1), dy = randomTensor([6, 4], seed: 2)
        try expectFusedStepEqualsLayerByLayer(model, x, dy)
    }

    /// Only a linear convolution read by a BatchNorm alone takes the BatchNorm's sums as it
    /// writes its output; a frozen BatchNorm (moving statistics) needs none.
    @Test func onlyLinearConvolutionsReadByABatchNormAloneTakeItsSums() throws {
        let input = Input(shape: [6, 6, 2])
        let activated = try BatchNormalization()(try Conv2D(filters: 4, kernelSize: 3, activation: .relu)(input))
        let conv = try Conv2D(filters: 4, kernelSize: 1)(activated)
        let readTwice = try Add()([try BatchNormalization()(conv), conv])
        let frozen = BatchNormalization()
        let inFrozen = try frozen(try Conv2D(filters: 4, kernelSize: 1)(readTwice))
        let taken = try BatchNormalization()(try Conv2D(filters: 4, kernelSize: 3, padding: .same)(inFrozen))
        let model = try Model(input: input, output: try Dense(units: 2)(try Flatten()(taken)), seed: 1)
        #expect(model.convolutionsBeforeBatchNorm().count == 2)
        frozen.behavesAsInference = true
        #expect(model.convolutionsBeforeBatchNorm().count == 1)
        try expectFusedStepEqualsLayerByLayer(model, randomTensor([3, 6, 6, 2], seed: 1), randomTensor([3, 2], seed: 2))
    }

    /// A residual block's end, BatchNorm → Add(shortcut) → ReLU, runs inside the BatchNorm; the
    /// shortcut's gradient comes through the fused ReLU. Identity and projection shortcuts.
    @Test func residualEndsFuseAndGiveTheSameNumbers() throws {
        let model = try ResNet(depth: 14, width: 4).model(inputShape: [8, 8, 2], name: "resnet14", seed: 3)
        // Two blocks per stage, three stages: every block's end fuses.
        #expect(model.residualEnds().count == 6)
        #expect(model.convolutionsBeforeBatchNorm().count == model.layers.filter { $0 is BatchNormalization }.count)
        let x = randomTensor([5, 8, 8, 2], seed: 1), dy = randomTensor([5, 10], seed: 2)
        try expectFusedStepEqualsLayerByLayer(model, x, dy)
        // A second backward pass after one forward pass gives the same gradients: the gate taken
        // once at each residual end holds for one pass only.
        _ = try model.forward(x, training: true)
        let first = try model.backward(dy), firstGradients = model.trainableParameters.map(\.parameter.gradient)
        #expect(try model.backward(dy) == first)
        #expect(model.trainableParameters.map(\.parameter.gradient) == firstGradients)
        // An Add whose BatchNorm is read elsewhere too, or whose sum is read by more than the ReLU, does not fuse.
        let input = Input(shape: [4, 4, 3])
        let normalized = try BatchNormalization()(try Conv2D(filters: 3, kernelSize: 3, padding: .same)(input))
        let sum = try Add()([normalized, input])
        let twice = try Add()([try Activation(.relu)(sum), normalized])
        let readTwice = try Add()([try BatchNormalization()(try Conv2D(filters: 3, kernelSize: 1)(twice)), twice])
        let outputs = try Dense(units: 2)(try Flatten()(try Add()([try Activation(.relu)(readTwice), readTwice])))
        #expect(try Model(input: input, output: outputs, seed: 1).residualEnds().isEmpty)
    }

    /// BatchNorm → ReLU → max pooling runs image by image inside the BatchNorm. Where each image's
    /// rows are whole 16-row blocks of the sums (8×8, then 4×4) the numbers are the same; on 9×9
    /// images they differ only by the order of the sums. Pools of 2 (valid) and 3 with stride 2
    /// ('same', windows over the edge).
    @Test func batchNormReLUMaxPoolsFuseAndGiveTheSameNumbers() throws {
        func model(side: Int) throws -> Model {
            let input = Input(shape: [side, side, 3])
            let first = try MaxPooling2D(poolSize: 2)(try Activation(.relu)(try BatchNormalization()(
                try Conv2D(filters: 20, kernelSize: 3, padding: .same)(input))))
            let second = try MaxPooling2D(poolSize: 3, strides: 2, padding: .same)(try Activation(.relu)(try BatchNormalization()(
                try Conv2D(filters: 17, kernelSize: 3, padding: .same)(first))))
            // Average pooling after a BatchNorm → ReLU pair does not fuse.
            let third = try AveragePooling2D(poolSize: 2)(try Activation(.relu)(try BatchNormalization()(
                try Conv2D(filters: 5, kernelSize: 1)(second))))
            return try Model(input: input, output: try Dense(units: 4)(try Flatten()(third)), seed: 7)
        }
        let aligned = try model(side: 8)
        #expect(aligned.maxPoolsAfterBatchNormReLU(aligned.batchNormReLUPairs()).count == 2)
        try expectFusedStepEqualsLayerByLayer(aligned, randomTensor([6, 8, 8, 3], seed: 1), randomTensor([6, 4], seed: 2))
        try expectFusedStepEqualsLayerByLayer(try model(side: 9), randomTensor([5, 9, 9, 3], seed: 3), randomTensor([5, 4], seed: 4),
                                              tolerance: 1e-5)
    }
}
