import Testing
@testable import ConvKit
@testable import ConvKitLab

/// The LC-block, its folding into one convolution, and the ResNet builder.
@Suite struct LCBlockTests {
    @Test(arguments: [
        "LCConv2D: {filters: 4, kernel_size: 3, expansion: 3, padding: same}",
        "LCConv2D: {filters: 2, kernel_size: 5, expansion: 1, strides: 2, activation: relu}",
        "LCConv2D: {filters: 3, kernel_size: 3, expansion: 8, strides: 2, padding: same, dilation_rate: 1, use_bias: false}",
    ])
    func foldedBlockComputesTheSameConvolution(_ spec: String) throws {
        let model = try singleLayerModel(spec, inputShape: [9, 8, 3], seed: 3)
        let lc = try #require(model.layers[0] as? LCConv2D)
        // A non-zero bias, so folding must carry it.
        if let bias = lc.parameter("bias") { bias.value = randomTensor(bias.value.shape, seed: 4) }
        let folded = try lc.folded()
        let x = randomTensor([2, 9, 8, 3], seed: 5)
        let plain = try Model(sequential: [folded], inputShape: [9, 8, 3])
        let expected = try model.predict(x), actual = try plain.predict(x)
        #expect(actual.shape == expected.shape)
        #expect(relativeError(actual, expected) < 1e-5, "\(spec): \(relativeError(actual, expected))")
        #expect(folded.kernel.value.shape == [lc.kernelSize.values[0], lc.kernelSize.values[0], 3, lc.filters])
    }

    @Test func frozenSpatialFiltersStayAtTheirInitialisation() throws {
        let model = try singleLayerModel("LCConv2D: {filters: 2, kernel_size: 3, expansion: 2, frozen_spatial: true}",
                                         inputShape: [5, 5, 1])
        let lc = try #require(model.layers[0] as? LCConv2D)
        let spatialBefore = lc.spatialKernel.value, combinationBefore = lc.combinationKernel.value
        #expect(model.trainableParameterCount == 4 * 2 + 2)          // combination 4×2 and bias 2
        model.compile(optimizer: SGD(schedule: ConstantSchedule(0.1)), loss: MeanSquaredError())
        try model.fit(randomTensor([8, 5, 5, 1], seed: 1), randomTensor([8, 3, 3, 2], seed: 2), batchSize: 4, epochs: 2,
                      verbose: .silent)
        #expect(lc.spatialKernel.value == spatialBefore)
        #expect(lc.combinationKernel.value != combinationBefore)
    }

    @Test func resNet20HasTheParametersCountedByHand() throws {
        // Convolutions: stem 9·16 = 144; stage 1: 6 × 9·16·16 = 13,824; stage 2: 9·16·32 +
        // 5 × 9·32·32 + shortcut 16·32 = 51,200; stage 3: 9·32·64 + 5 × 9·64·64 + 32·64 = 204,800.
        // BatchNorm: 16 + 6·16 + 7·32 + 7·64 = 784 channels × 4 (half of them statistics).
        // Dense 64·10 + 10. Total 269,968 + 3,136 + 650.
        let model = try ResNet(depth: 20, width: 16).model(inputShape: [32, 32, 3 - 2])
        #expect(model.parameterCount == 273_754)
        #expect(model.trainableParameterCount == 273_754 - 1_568)
        #expect(model.outputShape == [10])
        #expect(model.layers.filter { $0 is Add }.count == 9)
        // LC frozen, E = 4: every 3×3 becomes 3×3 to 4c (frozen) and 1×1 from 4c to c.
        let lc = try ResNet(depth: 8, width: 4, convolution: .linearCombination(expansion: 4, frozen: true)).model(inputShape: [8, 8, 1])
        let spatial = lc.layers.compactMap { $0 as? LCConv2D }.map(\.spatialKernel.value.count).reduce(0, +)
        #expect(lc.parameterCount - lc.trainableParameterCount == spatial + lc.layers.compactMap { $0 as? BatchNormalization }.map { $0.parameterCount / 2 }.reduce(0, +))
    }

    @Test func resNetRejectsADepthThatIsNot6nPlus2() {
        #expect(throws: ConvKitError.self) { try ResNet(depth: 18).model(inputShape: [32, 32, 1]) }
        #expect(throws: ConvKitError.self) { try ResNet(kernelSize: 4).model(inputShape: [32, 32, 1]) }
    }

    @Test func foldedResNetPredictsWhatTheLCResNetPredicts() throws {
        let builder = ResNet(depth: 8, width: 4, kernelSize: 5, convolution: .linearCombination(expansion: 3, frozen: false))
        let lc = try builder.model(inputShape: [12, 12, 1], seed: 9)
        // Train a little so that BatchNorm statistics and combinations are not at their initial values.
        lc.compile(optimizer: SGD(schedule: ConstantSchedule(0.05), momentum: 0.9), loss: CategoricalCrossentropy())
        let x = randomTensor([16, 12, 12, 1], seed: 1)
        let y = try OneHot.encode(Tensor(shape: [16], scalars: (0..<16).map { Float($0 % 10) }), classes: 10)
        try lc.fit(x, y, batchSize: 8, epochs: 2, verbose: .silent)
        let folded = try builder.folded(lc)
        #expect(folded.parameterCount < lc.parameterCount)
        #expect(!folded.layers.contains { $0 is LCConv2D })
        #expect(relativeError(try folded.predict(x), try lc.predict(x)) < 1e-5)
    }

    @Test func modelFilesDescribeAResNetWithArchitecture() throws {
        let model = try ModelFile.parse("""
            name: small
            input: [16, 16, 1]
            architecture:
              ResNet: {depth: 8, width: 4, block: lc, expansion: 2, frozen_spatial: true, kernel_size: 5}
            """)
        let blocks = model.layers.compactMap { $0 as? LCConv2D }
        #expect(blocks.count == 7)
        #expect(blocks.allSatisfy { $0.expansion == 2 && $0.frozenSpatial && $0.kernelSize.values == [5] })
        #expect(throws: ConvKitError.self) {
            try ModelFile.parse("input: [8, 8, 1]\narchitecture:\n  ResNet: {block: dense}\n")
        }
        #expect(throws: ConvKitError.self) {
            try ModelFile.parse("input: [8, 8, 1]\narchitecture:\n  ResNet: {expansion: 4}\n")  // expansion needs block: lc
        }
        #expect(throws: ConvKitError.self) {
            try ModelFile.parse("input: [8, 8, 1]\nlayers: [Flatten]\narchitecture:\n  ResNet: {}\n")
        }
    }
}
