import ArgumentParser
import ConvKit
import ConvKitLab
import Foundation

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test loss and accuracy of a trained model folder (model.json + weights.safetensors).")

    @Argument(help: "A trained model folder (e.g. reports/seed003/seed003-conv), or a Keras 3 .keras file.") var model: String
    @Option(help: "A folder of IDX files in MNIST naming (default: Debian's Fashion-MNIST).") var data: String?
    @Option(help: "Use the first N test images.") var limit: Int?
    @Option(help: "Batch size.") var batchSize = 256
    @Flag(help: "Print {\"loss\": …, \"accuracy\": …, \"images\": …} as JSON.") var json = false

    func run() throws {
        let net = try loadModel(model)
        var (x, labels) = try FashionMNIST.load(.test, directory: data ?? FashionMNIST.defaultDirectory)
        if let limit { x = x.slice(batch: 0..<min(limit, x.shape[0])); labels = labels.slice(batch: 0..<x.shape[0]) }
        net.compile(optimizer: SGD(), loss: CategoricalCrossentropy())
        let (loss, accuracy) = try net.evaluate(x, try OneHot.encode(labels, classes: net.outputShape.last!), batchSize: batchSize)
        if json {
            Console.line("{\"loss\": \(loss), \"accuracy\": \(accuracy), \"images\": \(x.shape[0])}")
        } else {
            Console.line("\(net.name) on \(groupedDigits(x.shape[0])) test images: loss \(String(format: "%.4f", loss)) - accuracy \(String(format: "%.4f", accuracy))")
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class probabilities of a trained model for images in a .npy, IDX, PNG or PGM file.")

    @Argument(help: "A trained model folder, or a Keras 3 .keras file.") var model: String
    @Argument(help: "Images: .npy (float, [n, h, w, c] or one [h, w, c]), IDX (bytes, scaled to [0, 1]), or one PNG or PGM image (scaled to [0, 1], converted to the model's channels, resized to its input).")
    var input: String
    @Flag(help: "Invert PNG/PGM images (1 − value): Fashion-MNIST is light on a dark background.") var invert = false
    @Option(help: "Write the probabilities [n, classes] to this .npy file.") var out: String?
    @Option(help: "How many rows to print.") var show = 10

    func run() throws {
        let net = try loadModel(model)
        let x = try ModelInput.read(input, for: net.inputShape, invert: invert)
        let p = try net.predict(x, batchSize: 256)
        let classes = p.shape.last!
        for row in 0..<min(show, p.shape[0]) {
            let probs = Array(p.scalars[(row * classes)..<((row + 1) * classes)])
            let best = probs.indices.max { probs[$0] < probs[$1] }!
            Console.line("\(row): class \(best) (\(String(format: "%.3f", probs[best]))) " + probs.map { String(format: "%.3f", $0) }.joined(separator: " "))
        }
        if let out { try NPY.write(p, to: out); Console.line("Wrote \(out) \(p.shape)") }
    }
}
