import ArgumentParser
import ConvKit
import ConvKitLab
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput of the seed-003 models (training and inference), one 3×3 conv layer and the seed-002 ResNet-20s (plain and with LC-blocks), optionally against peers.")

    @Flag(help: "Fewer timed steps (for a quick look; noisier).") var quick = false
    @Flag(help: "Run the peers' equivalents (bench/peers/) in the same invocation, interleaved, and print ratios.") var peers = false
    @Option(help: "Rounds of ConvKit and peer runs, interleaved (A B A B); the best of each counts.") var rounds = 2
    @Option(help: "Write the table as JSON to this file.") var json: String?
    @Option(help: "Only the workloads whose name starts with this (conv_model/train, conv2d…, or several, comma-separated), for ConvKit and the peers; with one, adds the process's peak memory.") var only: String?
    @Option(help: "The machine's FMA peak in GFLOP/s for the % of peak column; measured at the kernels' vector width when not given.") var peak: Double?

    func run() throws {
        let machine = Benchmark.machine
        let isa = InstructionSet.active
        Console.line("CPU: \(machine["cpu"]!) (\(machine["isa"]!)); ConvKit kernels \(isa) on \(machine["convkit_threads"]!) threads (CONVKIT_ISA to choose)")
        let pin = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" } ?? "OPENBLAS_CORETYPE unset"
        Console.line("OpenBLAS kernels: \(BLASCore.current) (\(pin), chosen by \(BLASCore.chosenBy); CPU: \(BLASCore.recommended ?? "no AVX2"))")
        // The FMA peak at the kernels' width, every worker thread at once: the "% of peak" denominator.
        let fmaPeak = peak ?? isa.fmaPeak(allCores: true)
        Console.line("FMA peak: \(String(format: "%.0f", fmaPeak)) GFLOP/s on \(machine["convkit_threads"]!) threads at \(isa.rawValue)'s width"
                     + (peak == nil ? " (measured: a register-only loop)" : " (given)"))
        let comparison = try PeerComparison(root: try PeerComparison.repositoryRoot(executable: CommandLine.arguments[0]), quick: quick,
                                            rounds: rounds, withPeers: peers, only: only, fmaPeak: fmaPeak, progress: Console.line)
        let labels = PeerComparison.peers
        Console.line("\n" + ["workload".padding(toLength: 32, withPad: " ", startingAt: 0), "ConvKit".leftPad(10),
                             peers ? labels.map { $0.1.leftPad(10) }.joined() + "ratio".leftPad(8) : "", "  unit"].joined())
        for r in comparison.rows {
            var line = r.workload.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%10.1f", r.convkit)
            if peers {
                for (peer, _, _) in labels { line += r.peers[peer].map { String(format: "%10.1f", $0) } ?? "         –" }
                line += r.ratio.map { String(format: "%7.2f×", $0) } ?? "       –"
            }
            line += "  \(r.unit)"
            if let percent = r.percentOfPeak { line += String(format: " (%.0f%% of peak)", percent) }
            Console.line(line)
        }
        if let json {
            let data = try comparison.record(command: (["convkit"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
            do { try data.write(to: URL(fileURLWithPath: json), options: .atomic) } catch {
                throw ConvKitError("\(json): cannot write (\(error.localizedDescription))")
            }
            Console.line("Wrote \(json)")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
