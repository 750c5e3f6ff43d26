import Foundation
import Testing
@testable import ConvKit
@testable import ConvKitLab

/// Saving a model as a folder (model.json + weights.safetensors) and loading it back.
@Suite struct ModelFolderTests {
    private func temporaryFolder() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("convkit-model-\(UUID().uuidString)").path
    }

    /// Every layer the registry knows, in one graph, with settings away from the defaults.
    static let everyLayer = """
        name: every-layer
        input: [12, 12, 2]
        layers:
          - Conv2D: {filters: 4, kernel_size: [3, 2], strides: [1, 2], padding: same, dilation_rate: 1, groups: 2, activation: relu, name: c}
          - DepthwiseConv2D: {kernel_size: 3, depth_multiplier: 2, padding: same, activation: tanh, name: dw}
          - SeparableConv2D: {filters: 4, kernel_size: 3, depth_multiplier: 2, padding: same, use_bias: false, name: sep}
          - LCConv2D: {filters: 4, kernel_size: 3, expansion: 3, padding: same, frozen_spatial: true, name: lc}
          - Add: {inputs: [sep, lc], name: sum}
          - BatchNormalization: {momentum: 0.9, epsilon: 0.00001, name: bn}
          - Conv2DTranspose: {filters: 3, kernel_size: 3, strides: 2, padding: same, name: up}
          - Cropping2D: {cropping: [1, 2, 0, 1], name: crop}
          - ZeroPadding2D: {padding: [1, 0, 2, 1], name: pad}
          - MaxPooling2D: {pool_size: 3, strides: 2, padding: same, name: maxpool}
          - AveragePooling2D: {pool_size: 2, name: avgpool, trainable: false}
          - Concatenate: {inputs: [avgpool, avgpool], axis: -1, name: cat}
          - Dropout: {rate: 0.25, name: drop}
          - Reshape: {target_shape: [-1, 6], name: reshape}
          - Conv1D: {filters: 3, kernel_size: 2, name: c1, freeze: [bias]}
          - MaxPooling1D: {pool_size: 2, name: pool1}
          - Flatten: {name: flat}
          - Dense: {units: 5, activation: softmax, kernel_initializer: he_normal, name: out}
        """

    @Test func everyLayerSurvivesSaveAndLoad() throws {
        let model = try ModelFile.parse(Self.everyLayer, seed: 3)
        // Non-default statistics, so that loading must bring them back.
        model.parameter("bn.moving_mean")!.value = randomTensor([4], seed: 1, scale: 0.1)
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.save(to: folder)
        let loaded = try Model.load(from: folder)
        #expect(loaded.name == "every-layer")
        #expect(loaded.layers.map(\.typeName) == model.layers.map(\.typeName))
        #expect(loaded.parameters.map(\.key) == model.parameters.map(\.key))
        #expect(loaded.parameters.map { $0.layer.updates($0.parameter) } == model.parameters.map { $0.layer.updates($0.parameter) })
        #expect(loaded.layers.map(\.configuration.count) == model.layers.map(\.configuration.count))
        let x = randomTensor([2, 12, 12, 2], seed: 4)
        #expect(try loaded.predict(x) == (try model.predict(x)))
    }

    @Test func aResNetBuiltInSwiftSavesAndLoads() throws {
        let resnet = ResNet(depth: 8, width: 2, kernelSize: 5, convolution: .linearCombination(expansion: 2, frozen: true))
        let model = try resnet.model(inputShape: [10, 10, 1], name: "lc-resnet", seed: 5)
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.save(to: folder)
        let loaded = try Model.load(from: folder)
        #expect(loaded.trainableParameterCount == model.trainableParameterCount)
        let x = randomTensor([3, 10, 10, 1], seed: 6)
        #expect(try loaded.predict(x) == (try model.predict(x)))
        let json = try String(contentsOfFile: "\(folder)/model.json", encoding: .utf8)
        #expect(json.contains("\"LCConv2D\"") && json.contains("\"inputs\""))
    }

    @Test func handSetValuesLiveInTheWeightsFile() throws {
        let kernel = HandSetFilter.sobelX.reshaped(to: [3, 3, 1, 1])
        let model = try Model(sequential: [Conv2D(filters: 1, kernelSize: 3, kernelInitializer: .values(kernel))], inputShape: [5, 5, 1])
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.save(to: folder)
        #expect(try Model.load(from: folder).parameter("conv2d.kernel")!.value == model.parameter("conv2d.kernel")!.value)
    }

    @Test func badFoldersGetNamedErrors() throws {
        let folder = temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(throws: ConvKitError.self) { try Model.load(from: folder) }
        let model = try ModelFile.parse("input: [4]\nlayers:\n  - Dense: 3\n")
        try model.save(to: folder)
        // An unknown layer type in model.json.
        let json = try String(contentsOfFile: "\(folder)/model.json", encoding: .utf8)
        try json.replacingOccurrences(of: "\"Dense\"", with: "\"Dense9\"").write(toFile: "\(folder)/model.json", atomically: true, encoding: .utf8)
        let unknown = #expect(throws: ConvKitError.self) { try Model.load(from: folder) }
        #expect(unknown?.description.contains("model.json") == true && unknown?.description.contains("unknown layer type") == true)
        // Weights of another shape.
        try json.replacingOccurrences(of: "\"units\" : 3", with: "\"units\" : 4").write(toFile: "\(folder)/model.json", atomically: true, encoding: .utf8)
        let shape = #expect(throws: ConvKitError.self) { try Model.load(from: folder) }
        #expect(shape?.description.contains("shape") == true)
        // A truncated weights file.
        try json.write(toFile: "\(folder)/model.json", atomically: true, encoding: .utf8)
        let weights = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/weights.safetensors"))
        try weights.prefix(weights.count - 5).write(to: URL(fileURLWithPath: "\(folder)/weights.safetensors"))
        let truncated = #expect(throws: ConvKitError.self) { try Model.load(from: folder) }
        #expect(truncated?.description.contains("weights.safetensors") == true)
    }
}
