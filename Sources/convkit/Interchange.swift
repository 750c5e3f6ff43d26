import ArgumentParser
import ConvKit
import ConvKitLab
import ConvKitKeras
import ConvKitONNX
import Foundation

/// A saved model folder, a Keras 3 `.keras` archive, or a model file (YAML or JSON, with
/// its seeded initial weights).
func loadModel(_ path: String) throws -> Model {
    let lower = path.lowercased()
    if lower.hasSuffix(".keras") { return try KerasImport.load(path: path) }
    if [".yaml", ".yml", ".json"].contains(where: lower.hasSuffix) { return try ModelFile.load(path: path) }
    return try Model.load(from: path)
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a Keras 3 .keras model into a ConvKit model folder (model.json + weights.safetensors).")

    @Argument(help: "A .keras file saved by Keras 3 (model.save(\"name.keras\")).") var file: String
    @Option(help: "The model folder to write (default: the file's name without .keras).") var out: String?

    func run() throws {
        let model = try KerasImport.load(path: file)
        let folder = out ?? URL(fileURLWithPath: file).deletingPathExtension().path
        try model.save(to: folder)
        Console.line(model.summary())
        Console.line("Wrote \(folder)/model.json and \(folder)/weights.safetensors")
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as an ONNX file (opset \(ONNXExport.opset)) that onnxruntime and other ONNX tools run.")

    @Argument(help: "A model folder, a .keras file, or a model file (exported with its seeded initial weights).") var model: String
    @Option(help: "The ONNX file to write.") var onnx: String
    @Option(help: "A fixed batch size for the graph's input and output (default: a symbolic 'batch').") var batchSize: Int?

    func run() throws {
        let net = try loadModel(model)
        let bytes = try ONNXExport.serialize(net, batchSize: batchSize)
        try writeDurably(bytes, to: onnx)
        Console.line("Wrote \(onnx) (\(bytes.count) bytes): input '\(ONNXExport.inputName)' \(kerasShape(net.inputShape)), output '\(ONNXExport.outputName)' \(kerasShape(net.outputShape))")
    }
}
