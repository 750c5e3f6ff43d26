import ArgumentParser
import ConvKit

@main
struct ConvKitCommand: ParsableCommand {
    static func main() {
        BLASCore.relaunchWithBestKernels()
        // A CONVKIT_ISA this CPU cannot run is refused before any work starts.
        do { _ = try InstructionSet.fromEnvironment() } catch { exit(withError: error) }
        main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "convkit",
        abstract: "Define, inspect and train convolutional neural networks.",
        subcommands: [Summary.self, Train.self, Evaluate.self, Predict.self, Import.self, Export.self, ExperimentCommand.self, Report.self, Bench.self])
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the layer table of one or more model files: output shapes, parameters, FLOPs, receptive fields.")

    @Argument(help: "Model description files (YAML or JSON).")
    var files: [String]

    @Option(help: "Seed for the initial weights (overrides the file's seed).")
    var seed: UInt64?

    func run() throws {
        for (i, file) in files.enumerated() {
            let model = try ModelFile.load(path: file, seed: seed)
            if i > 0 { Console.line() }
            Console.line(model.summary())
        }
    }
}
