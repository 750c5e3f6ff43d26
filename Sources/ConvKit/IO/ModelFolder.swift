import Foundation

/// A saved model is a folder: `model.json`, the architecture in the model-file format (JSON is
/// YAML, so `ModelFile` reads it back), and `weights.safetensors`, every weight under its
/// dotted key in Keras' layouts. Any model saves this way, however it was built.
extension Model {
    /// The architecture as a model file (JSON): every layer with its arguments and name, the
    /// wiring of graph models, and what is frozen. Initial-value settings that a model file
    /// cannot express (hand-set values) are written as `zeros`: the weights file holds the values.
    public func architectureJSON() throws -> String {
        let layerEntries = try nodes.map { node -> [String: Any] in
            let layer = node.layer!
            var arguments = [String: Any]()
            for (key, value) in layer.configuration {
                if case .string(let s) = value, key == "padding", s.hasPrefix("explicit") {
                    throw ConvKitError("\(layer.describe): explicit padding cannot be written to a model file; use ZeroPadding2D and 'valid'")
                }
                if case .string("values") = value, key.hasSuffix("initializer") { arguments[key] = "zeros"; continue }
                arguments[key] = value.jsonObject
            }
            arguments["name"] = layer.name!
            if !isSequential { arguments["inputs"] = node.inputs.map { $0.layer?.name ?? "input" } }
            if !layer.trainable { arguments["trainable"] = false }
            let frozen = layer.parameters.filter { !$0.trainable && !$0.isStatistic }.map(\.name)
            if !frozen.isEmpty && layer.trainable { arguments["freeze"] = frozen }
            return [layer.typeName: arguments]
        }
        var document: [String: Any] = ["name": name, "input": inputShape, "layers": layerEntries]
        if seed <= UInt64(Int.max) { document["seed"] = Int(seed) }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Writes `folder/model.json` and `folder/weights.safetensors` (each durably).
    public func save(to folder: String) throws {
        try makeDirectory(folder)
        let json = try architectureJSON()
        // Check before writing that the file builds this same model.
        let rebuilt = try ModelFile.parse(json, source: "\(folder)/model.json")
        guard rebuilt.parameters.map(\.key) == parameters.map(\.key),
              rebuilt.parameters.map(\.parameter.value.shape) == parameters.map(\.parameter.value.shape) else {
            throw ConvKitError("model '\(name)': its architecture does not survive a round trip through model.json")
        }
        try writeDurably(Array(json.utf8), to: "\(folder)/model.json")
        try saveWeights(to: "\(folder)/weights.safetensors")
    }

    /// A model saved by `save(to:)` (or a folder with `model.yaml` and `weights.safetensors`,
    /// as earlier versions wrote them).
    public static func load(from folder: String) throws -> Model {
        let json = "\(folder)/model.json", yaml = "\(folder)/model.yaml"
        guard let path = [json, yaml].first(where: FileManager.default.fileExists(atPath:)) else {
            throw ConvKitError("\(folder): not a saved model (no model.json or model.yaml)")
        }
        let model = try ModelFile.load(path: path)
        try model.loadWeights(from: "\(folder)/weights.safetensors")
        return model
    }
}
