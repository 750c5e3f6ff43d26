import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

@Suite struct ModelTests {
    static let seedModels: [(file: String, total: Int, nonTrainable: Int)] = [
        ("seed003-dense.yaml", 1_438_482, 3_536), ("seed003-conv.yaml", 822_794, 256),
        ("seed003-conv-maxpool.yaml", 220_682, 256), ("seed003-conv-avgpool.yaml", 220_682, 256),
        ("seed000-conv3x3-64.yaml", 640, 0), ("seed000-conv7x7-32.yaml", 1_600, 0),
    ]

    @Test(arguments: seedModels.indices)
    func seedModelsHaveKerasParameterCounts(_ i: Int) throws {
        let (file, total, nonTrainable) = Self.seedModels[i]
        let model = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/\(file)").path)
        #expect(model.parameterCount == total, "\(file)")
        #expect(model.parameterCount - model.trainableParameterCount == nonTrainable, "\(file)")
        let text = model.summary()
        #expect(text.contains("Total params: \(groupedDigits(total))"))
        #expect(text.contains("Non-trainable params: \(groupedDigits(nonTrainable))"))
    }

    @Test func summaryIsTheKerasTableWithFlopsAndReceptiveField() throws {
        let model = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/seed003-conv.yaml").path)
        let lines = model.summary().split(separator: "\n").map(String.init)
        #expect(lines[0] == "Model: \"seed003-conv\"")
        #expect(lines[2].hasPrefix(" Layer (type)") && lines[2].contains("Output Shape") && lines[2].contains("Param #")
                && lines[2].contains("FLOPs") && lines[2].contains("Receptive field"))
        let conv2 = try #require(lines.first { $0.hasPrefix(" conv2d_1 (Conv2D)") })
        // 2·28·28·32·(3·3·64) multiply-adds + 28·28·32 bias additions; two stacked 3×3 see 5×5.
        #expect(conv2.contains("(None, 28, 28, 32)") && conv2.contains("18,464") && conv2.contains("28,926,464") && conv2.hasSuffix("5×5"))
        #expect(lines.contains("Total params: 822,794") && lines.contains("Trainable params: 822,538")
                && lines.contains("Non-trainable params: 256"))
    }

    @Test func layersGetKerasNamesAndDottedParameterKeys() throws {
        let model = try ModelFile.load(path: repositoryRoot.appendingPathComponent("models/seed003-conv.yaml").path)
        #expect(model.layers.map { $0.name! }.prefix(4) == ["conv2d", "batch_normalization", "activation", "conv2d_1"])
        #expect(snakeCase("Conv2DTranspose") == "conv2d_transpose" && snakeCase("MaxPooling2D") == "max_pooling2d"
                && snakeCase("GlobalAveragePooling2D") == "global_average_pooling2d")
        let keys = model.parameters.map(\.key)
        #expect(keys.prefix(6) == ["conv2d.kernel", "conv2d.bias", "batch_normalization.gamma", "batch_normalization.beta",
                                   "batch_normalization.moving_mean", "batch_normalization.moving_variance"])
        #expect(model.parameter("conv2d.kernel")?.value.shape == [3, 3, 1, 64])
        #expect(model.parameter("batch_normalization.moving_mean")?.trainable == false)
    }

    @Test func receptiveFieldsFollowKernelsStridesAndDilation() throws {
        let model = try ModelFile.parse("""
            input: [32, 32, 3]
            layers:
              - Conv2D: {filters: 4, kernel_size: 3, padding: same}
              - Conv2D: {filters: 4, kernel_size: 3, padding: same}
              - Conv2D: {filters: 4, kernel_size: 3, padding: same}
              - Conv2D: {filters: 4, kernel_size: 3, strides: 2}
              - Conv2D: {filters: 4, kernel_size: 3, dilation_rate: 2}
              - GlobalAveragePooling2D
            """)
        // Three stacked 3×3 = 7×7 (one 7×7 layer); stride 2 doubles later steps; dilation 2 spans 5.
        #expect(model.layerReports.map(\.receptiveField.description) == ["3×3", "5×5", "7×7", "9×9", "17×17", "global"])
    }

    @Test(arguments: [
        ("input: [5, 5, 1]\nlayers:\n  - Conv2D: {filters: 2, kernel_size: 3}\n  - Conv9D: {filters: 2}\n",
         ["line 4", "layer 2 (Conv9D)", "unknown layer type"]),
        ("input: [5, 5, 1]\nlayers:\n  - Conv2D: {filters: many, kernel_size: 3}\n",
         ["line 3", "layer 1 (Conv2D)", "argument 'filters' must be an integer, got 'many'"]),
        ("input: [5, 5, 1]\nlayers:\n  - Conv2D: {filters: 32, kernel_size: 7}\n",
         ["layer 1 of 1", "'conv2d' (Conv2D)", "window of 7", "does not fit the input size 5"]),
        ("input: [5, 5, 1]\nlayers:\n  - Dense: {units: 3, activaton: relu}\n", ["layer 1 (Dense)", "unknown argument(s) 'activaton'"]),
        ("input: [5, 5, 1]\nlayers:\n  - Activation: swish\n", ["layer 1 (Activation)", "unknown activation 'swish'"]),
        ("input: [5, 5, 1]\nlayers:\n  - Conv2D: {filters: 1, kernel_size: 3, kernel_initializer: {values: [1, 2]}}\n",
         ["kernel", "hand-set values have 2 entries", "[3, 3, 1, 1]"]),
        ("input: [5, 5, 1]\nlayers:\n  - Dense: {units: 3, inputs: [nowhere]}\n", ["input 'nowhere' is not the name of an earlier layer"]),
        ("input: [5, 5, 1]\nlayers:\n  - Flatten\n  - Conv2D: {filters: 1, kernel_size: 3}\n", ["layer 2 of 2", "expects input of rank 3", "(None, 25)"]),
        ("input: five\nlayers:\n  - Flatten\n", ["'input' must be a list of positive integers"]),
        ("input: [5, 5, 1]\nlayers: [\n", ["not valid YAML or JSON"]),
        ("layers:\n  - Flatten\n", ["missing 'input'"]),
    ] as [(String, [String])])
    func badModelFilesGetNamedErrors(_ text: String, _ fragments: [String]) {
        do {
            _ = try ModelFile.parse(text, source: "bad.yaml")
            Issue.record("no error for \(text)")
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("bad.yaml"), "\(message)")
            for f in fragments { #expect(message.contains(f), "'\(f)' not in: \(message)") }
        }
    }

    @Test func missingModelFileIsNamed() {
        #expect(throws: ConvKitError("/nonexistent/model.yaml: no such model file")) {
            try ModelFile.load(path: "/nonexistent/model.yaml")
        }
    }

    @Test func residualGraphFromFileAndCode() throws {
        let fromFile = try ModelFile.parse("""
            name: residual
            input: [8, 8, 4]
            layers:
              - Conv2D: {filters: 4, kernel_size: 3, padding: same, name: c1}
              - BatchNormalization
              - Activation: relu
              - Conv2D: {filters: 4, kernel_size: 3, padding: same}
              - Add: {inputs: [input, conv2d], name: sum}
              - GlobalAveragePooling2D
              - Dense: 3
            """, seed: 9)
        #expect(!fromFile.isSequential)
        #expect(fromFile.summary().contains("Connected to"))
        #expect(fromFile.parameterCount == (36 * 4 + 4) * 2 + 16 + 15)

        let input = Input(shape: [8, 8, 4])
        var x = try Conv2D(filters: 4, kernelSize: 3, padding: .same, name: "c1")(input)
        x = try BatchNormalization()(x)
        x = try Activation(.relu)(x)
        x = try Conv2D(filters: 4, kernelSize: 3, padding: .same)(x)
        x = try Add(name: "sum")([input, x])
        x = try GlobalAveragePooling2D()(x)
        let fromCode = try Model(input: input, output: try Dense(units: 3)(x), name: "residual", seed: 9)
        // Same seed, same layer order: identical weights and outputs.
        let batch = randomTensor([2, 8, 8, 4], seed: 3)
        #expect(try fromFile.predict(batch) == fromCode.predict(batch))
        #expect(throws: ConvKitError.self) { try Add()([input, try Conv2D(filters: 2, kernelSize: 1)(input)]) }
    }

    @Test func sameSeedSameWeightsOtherSeedOtherWeights() throws {
        let path = repositoryRoot.appendingPathComponent("models/seed003-conv.yaml").path
        let a = try ModelFile.load(path: path, seed: 7), b = try ModelFile.load(path: path, seed: 7)
        let c = try ModelFile.load(path: path, seed: 8)
        #expect(a.parameters.map(\.parameter.value) == b.parameters.map(\.parameter.value))
        #expect(a.parameter("conv2d.kernel")!.value != c.parameter("conv2d.kernel")!.value)
    }

    @Test func frozenLayersAndParametersKeepTheirValuesWhileGradientsFlow() throws {
        let model = try ModelFile.parse("""
            input: [6, 6, 1]
            layers:
              - Conv2D: {filters: 3, kernel_size: 3, name: first}
              - Conv2D: {filters: 3, kernel_size: 3, name: frozen, trainable: false}
              - Conv2D: {filters: 2, kernel_size: 2, name: biasfrozen, freeze: [bias], bias_initializer: {constant: 0.5}}
              - Flatten
              - Dense: 2
            """)
        #expect(model.trainableParameterCount == model.parameterCount - (27 * 3 + 3) - 2)
        let before = model.parameters.map(\.parameter.value)
        let x = randomTensor([4, 6, 6, 1], seed: 1)
        let y = try model.forward(x, training: true)
        try model.backward(randomTensor(y.shape, seed: 2))
        SGD(learningRate: 0.1).apply(to: model)
        let after = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.key, $0.parameter.value) })
        let old = Dictionary(uniqueKeysWithValues: zip(model.parameters.map(\.key), before))
        #expect(after["frozen.kernel"] == old["frozen.kernel"] && after["frozen.bias"] == old["frozen.bias"])
        #expect(after["biasfrozen.bias"] == old["biasfrozen.bias"])
        #expect(after["biasfrozen.kernel"] != old["biasfrozen.kernel"])
        // The first layer still learns: its gradient passed through the frozen layer.
        #expect(after["first.kernel"] != old["first.kernel"])
    }

    @Test func inputShapeMismatchIsAnError() throws {
        let model = try singleLayerModel("Dense: 2", inputShape: [4])
        #expect(throws: ConvKitError.self) { try model.predict(Tensor(zeros: [3, 5])) }
    }

    /// Training skips the input gradients nobody needs (Flatten(input) → Dense needs no dx, a
    /// convolution on the input none) without changing any parameter gradient.
    @Test func skippedInputGradientsLeaveParameterGradientsAlone() throws {
        let model = try Model(sequential: [Flatten(), Dense(units: 5), Dense(units: 3)], inputShape: [4, 3, 2], seed: 1)
        let conv = try Model(sequential: [Conv2D(filters: 4, kernelSize: 3, padding: .same), Flatten(), Dense(units: 3)],
                             inputShape: [5, 5, 2], seed: 2)
        for (m, shape) in [(model, [6, 4, 3, 2]), (conv, [6, 5, 5, 2])] {
            let x = randomTensor(shape, seed: 3), dy = randomTensor([6, 3], seed: 4)
            _ = try m.forward(x, training: true)
            let full = try m.backward(dy)
            let reference = m.trainableParameters.map(\.parameter.gradient)
            _ = try m.forward(x, training: true)
            let skipped = try m.backward(dy, inputGradient: false)
            #expect(full.shape == shape && skipped.count == 0)
            #expect(m.trainableParameters.map(\.parameter.gradient) == reference)
            #expect(reference.allSatisfy { $0.scalars.contains { $0 != 0 } })
        }
    }
}

@Suite struct MisuseTests {
    @Test func backwardWithoutTrainingForwardIsAnError() throws {
        let model = try singleLayerModel("Dense: 2", inputShape: [3])
        #expect(throws: ConvKitError.self) { try model.backward(Tensor(zeros: [1, 2])) }
        _ = try model.forward(Tensor(zeros: [4, 3]), training: true)
        #expect(throws: ConvKitError.self) { try model.backward(Tensor(zeros: [3, 2])) }
        #expect(try model.backward(Tensor(zeros: [4, 2])).shape == [4, 3])
    }

    @Test func negativeMarginsAreRejected() {
        #expect(throws: ConvKitError.self) {
            try Model(sequential: [ZeroPadding2D(padding: Margins(top: -1, bottom: 0, left: 0, right: 0))], inputShape: [4, 4, 1])
        }
        #expect(throws: ConvKitError.self) {
            try Model(sequential: [Cropping2D(cropping: Margins(top: 0, bottom: 0, left: -2, right: 0))], inputShape: [4, 4, 1])
        }
    }
}
