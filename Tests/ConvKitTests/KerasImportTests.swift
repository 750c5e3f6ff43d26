import ConvKitKeras
import Foundation
import Testing
import ZIPFoundation
@testable import ConvKit
@testable import ConvKitLab

/// `KerasImport` against models saved by Keras 3 itself (scripts/make_keras_models.py): the
/// imported model predicts what Keras predicted, and damaged or unsupported archives are
/// refused with the file, layer or dataset named.
@Suite struct KerasImportTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures/keras", withExtension: nil)!

    private func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }

    @Test(arguments: [("sequential_conv", 1173), ("functional_residual", 355), ("conv1d", 109), ("conv3d", 329)])
    func predictsWhatKerasPredicted(name: String, kerasParameterCount: Int) throws {
        let model = try KerasImport.load(path: fixture("\(name).keras"))
        #expect(model.parameterCount == kerasParameterCount)
        let x = try NPY.read(path: fixture("\(name).input.npy"))
        let expected = try NPY.read(path: fixture("\(name).output.npy"))
        let y = try model.predict(x)
        #expect(y.shape == expected.shape)
        #expect(relativeError(y, expected) < 1e-4, "\(name): \(y.maxAbsDifference(expected))")
    }

    @Test func keepsKerasNamesWiringAndSettings() throws {
        let model = try KerasImport.load(path: fixture("functional_residual.keras"))
        #expect(!model.isSequential)
        #expect(model.inputShape == [10, 10, 4])
        let branch = try #require(model.layer(named: "branch") as? Conv2D)
        #expect(branch.padding == .same && branch.filters == 4)
        let grouped = try #require(model.layer(named: "conv2d_2") as? Conv2D)
        #expect(grouped.groups == 2 && grouped.dilationRate == [2, 2] && grouped.activation == .gelu)
        let bn = try #require(model.layer(named: "batch_normalization_1") as? BatchNormalization)
        #expect(!bn.center && bn.epsilon == 0.01 && bn.parameters.map(\.name) == ["gamma", "moving_mean", "moving_variance"])
        #expect((model.layer(named: "leaky_re_lu") as? Activation)?.function == .leakyRelu)
        // The Add layer reads the model input and the branch.
        let add = try #require(model.nodes.first { $0.layer?.name == "add" })
        #expect(add.inputs.map { $0.layer?.name ?? "input" } == ["input", "branch"])
    }

    @Test func importedModelSavesAndLoadsAsAConvKitFolder() throws {
        let model = try KerasImport.load(path: fixture("sequential_conv.keras"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("keras-import-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try model.save(to: folder)
        let reloaded = try Model.load(from: folder)
        let x = try NPY.read(path: fixture("sequential_conv.input.npy"))
        #expect(try reloaded.predict(x).maxAbsDifference(model.predict(x)) == 0)
    }

    // MARK: - Refusals

    /// The fixture's two members, for archives rebuilt with one of them changed.
    private func members(_ name: String) throws -> (config: [String: Any], weights: Data) {
        let archive = try Archive(url: URL(fileURLWithPath: fixture("\(name).keras")), accessMode: .read)
        func read(_ member: String) throws -> Data {
            var data = Data()
            _ = try archive.extract(archive[member]!) { data.append($0) }
            return data
        }
        let config = try JSONSerialization.jsonObject(with: read("config.json")) as! [String: Any]
        return (config, try read("model.weights.h5"))
    }

    private func writeArchive(_ entries: [String: Data]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keras-\(UUID().uuidString).keras").path
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for (name, data) in entries.sorted(by: { $0.key < $1.key }) {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(data.count)) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        return path
    }

    /// The sequential fixture with `change` applied to its layer `index`'s config.
    private func importError(changingLayer index: Int, _ change: (inout [String: Any]) -> Void) throws -> String {
        var (config, weights) = try members("sequential_conv")
        var inner = config["config"] as! [String: Any]
        var layers = inner["layers"] as! [[String: Any]]
        var layerConfig = layers[index]["config"] as! [String: Any]
        change(&layerConfig)
        layers[index]["config"] = layerConfig
        inner["layers"] = layers
        config["config"] = inner
        let path = try writeArchive(["config.json": try JSONSerialization.data(withJSONObject: config), "model.weights.h5": weights])
        defer { try? FileManager.default.removeItem(atPath: path) }
        return errorMessage { _ = try KerasImport.load(path: path) }
    }

    private func errorMessage(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return String(describing: error) }
    }

    @Test func refusesWhatItCannotReadFaithfully() throws {
        #expect(errorMessage { _ = try KerasImport.load(path: "/nonexistent/m.keras") }.contains("no such file"))

        let notZip = FileManager.default.temporaryDirectory.appendingPathComponent("not-zip-\(UUID().uuidString).keras").path
        try Data("HDF5 weights are not a zip".utf8).write(to: URL(fileURLWithPath: notZip))
        #expect(errorMessage { _ = try KerasImport.load(path: notZip) }.contains("not a Keras 3 .keras archive"))

        let (config, weights) = try members("conv1d")
        let configData = try JSONSerialization.data(withJSONObject: config)
        let noWeights = try writeArchive(["config.json": configData])
        #expect(errorMessage { _ = try KerasImport.load(path: noWeights) }.contains("has no model.weights.h5"))

        let truncated = try writeArchive(["config.json": configData, "model.weights.h5": weights.prefix(weights.count / 3)])
        let message = errorMessage { _ = try KerasImport.load(path: truncated) }
        #expect(message.contains("model.weights.h5") && (message.contains("not a readable HDF5 file") || message.contains("cannot be read")), "\(message)")

        // Layer index 1 is the Conv2D (0 is the InputLayer).
        #expect(try importError(changingLayer: 1) { $0["data_format"] = "channels_first" }
            .contains("layer 'conv2d' (Conv2D): argument 'data_format' = channels_first is not supported"))
        #expect(try importError(changingLayer: 1) { $0["activation"] = "swish" }.contains("activation swish is not supported"))
        #expect(try importError(changingLayer: 1) { $0["filters"] = 5 }
            .contains("dataset 'layers/conv2d/vars/0' has shape [3, 3, 3, 4], the layer needs [3, 3, 3, 5]"))
        // The control: the same archive rebuilt without a change imports.
        #expect(try importError(changingLayer: 1) { _ in } == "no error")
        let (original, h5) = try members("conv1d")
        var withLSTM = original
        var inner = withLSTM["config"] as! [String: Any]
        var layers = inner["layers"] as! [[String: Any]]
        layers[1]["class_name"] = "LSTM"
        inner["layers"] = layers
        withLSTM["config"] = inner
        let lstmPath = try writeArchive(["config.json": try JSONSerialization.data(withJSONObject: withLSTM), "model.weights.h5": h5])
        #expect(errorMessage { _ = try KerasImport.load(path: lstmPath) }.contains("Keras layer class 'LSTM' has no ConvKit counterpart"))
        for path in [notZip, noWeights, truncated, lstmPath] { try? FileManager.default.removeItem(atPath: path) }
    }
}
