import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Inference fuses conv → BatchNorm → ReLU; the fused pass must equal the layer-by-layer one
/// (which `observe` forces) within float rounding.
@Suite struct InferenceFusionTests {
    /// Gives every BatchNormalization non-trivial moving statistics, gamma and beta.
    func randomizeStatistics(_ model: Model) {
        for (k, layer) in model.layers.enumerated() where layer is BatchNormalization {
            let c = layer.outputShape.last!
            layer.parameter("moving_mean")!.value = randomTensor([c], seed: UInt64(10 + k))
            layer.parameter("moving_variance")!.value = randomTensor([c], seed: UInt64(20 + k)).map { 0.2 + abs($0) }
            layer.parameter("gamma")!.value = randomTensor([c], seed: UInt64(30 + k))
            layer.parameter("beta")!.value = randomTensor([c], seed: UInt64(40 + k))
        }
    }

    func layerByLayer(_ model: Model, _ x: Tensor) throws -> Tensor {
        try model.forward(x, training: false) { _, _ in }
    }

    @Test func sequentialChainsFuseAndAgree() throws {
        let model = try Model(sequential: [
            Conv2D(filters: 20, kernelSize: 3, padding: .same), BatchNormalization(), Activation(.relu),
            Conv2D(filters: 9, kernelSize: 3, strides: 2, activation: .relu),
            Conv2D(filters: 6, kernelSize: 1), BatchNormalization(),
            Flatten(), Dense(units: 4),
        ], inputShape: [9, 10, 3], seed: 5)
        randomizeStatistics(model)
        let chains = model.fusedConvolutions().values.sorted { $0.absorbed.count > $1.absorbed.count }
        #expect(chains.map(\.absorbed.count) == [2, 1, 0])
        #expect(chains.map(\.relu) == [true, false, true])
        let x = randomTensor([5, 9, 10, 3], seed: 1)
        let fused = try model.predict(x), reference = try layerByLayer(model, x)
        #expect(relativeError(fused, reference) < 1e-5)
        #expect(fused.scalars.contains { $0 != 0 })
    }

    @Test func aConvolutionReadTwiceIsNotFused() throws {
        let input = Input(shape: [6, 6, 4])
        let conv = try Conv2D(filters: 4, kernelSize: 3, padding: .same)(input)
        let normalized = try BatchNormalization()(conv)
        let model = try Model(input: input, output: try Add()([normalized, conv]), seed: 3)
        randomizeStatistics(model)
        #expect(model.fusedConvolutions().isEmpty)
        let x = randomTensor([2, 6, 6, 4], seed: 2)
        #expect(relativeError(try model.predict(x), try layerByLayer(model, x)) < 1e-6)
    }
}
