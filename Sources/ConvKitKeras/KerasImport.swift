import ConvKit
import Foundation
import ZIPFoundation

/// Reads a Keras 3 `.keras` archive into a ConvKit model with the same weights.
///
/// The archive is a zip of `config.json` (the model's serialized configuration) and
/// `model.weights.h5` (every variable at `layers/<layer>/vars/<index>`). The configuration is
/// translated into a ConvKit model file, so the model is built, checked and named exactly as
/// `ModelFile` builds any model; the weights are then read into its parameters in Keras order
/// (both use Keras' layouts, so nothing is transposed). Sequential and single-input functional
/// models of the layers ConvKit has import; anything else is refused with the layer named.
/// Initializers, regularizers and constraints are not imported (they do not change predictions).
public enum KerasImport {
    public static func load(path: String) throws -> Model {
        let (configData, weightsData) = try readArchive(path)
        let config: Any
        do { config = try JSONSerialization.jsonObject(with: configData) } catch {
            throw ConvKitError("\(path): config.json is not valid JSON")
        }
        let translated = try KerasConfig(json: config, source: "\(path): config.json")
        let document = try JSONSerialization.data(withJSONObject: translated.modelFile, options: [.sortedKeys])
        let model = try ModelFile.parse(String(decoding: document, as: UTF8.self), source: "\(path) (translated)")
        let weights = try HDF5File(bytes: weightsData, source: "\(path): model.weights.h5")
        for (kerasName, group) in translated.weightGroups {
            guard let layer = model.layer(named: kerasName) else { continue }
            let vars = "layers/\(group)/vars"
            let stored = weights.memberCount(vars)
            guard stored == layer.parameters.count else {
                throw ConvKitError("\(weights.source): layer '\(kerasName)' has \(stored) variable(s) at \(vars), ConvKit's \(layer.typeName) has \(layer.parameters.count) (\(layer.parameters.map(\.name).joined(separator: ", ")))")
            }
            for (i, parameter) in layer.parameters.enumerated() {
                parameter.value = try weights.floats("\(vars)/\(i)", shape: parameter.value.shape)
            }
        }
        return model
    }

    private static func readArchive(_ path: String) throws -> (config: Data, weights: Data) {
        guard FileManager.default.fileExists(atPath: path) else { throw ConvKitError("\(path): no such file") }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw ConvKitError("\(path): not a Keras 3 .keras archive (not a zip file; legacy Keras 2 .h5 files are not supported)")
        }
        func read(_ name: String, limit: UInt64) throws -> Data {
            guard let entry = archive[name] else { throw ConvKitError("\(path): the archive has no \(name); is it a Keras 3 .keras file?") }
            guard entry.uncompressedSize <= limit else {
                throw ConvKitError("\(path): \(name) claims \(entry.uncompressedSize) bytes, more than the \(limit) this reader accepts")
            }
            var data = Data()
            do { _ = try archive.extract(entry, skipCRC32: false) { data.append($0) } } catch {
                throw ConvKitError("\(path): \(name) cannot be extracted (truncated or corrupt archive): \(error)")
            }
            return data
        }
        return (try read("config.json", limit: 64 << 20), try read("model.weights.h5", limit: 8 << 30))
    }
}
