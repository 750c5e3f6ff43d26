import ArgumentParser
import ConvKit
import ConvKitLab
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Training and inference throughput of the seed-003 models and one 3×3 conv layer, optionally against peers.")

    @Flag(help: "Fewer timed steps (for a quick look; noisier).") var quick = false
    @Flag(help: "Run the peers' equivalents (bench/peers/) in the same invocation, interleaved, and print ratios.") var peers = false
    @Option(help: "Rounds of ConvKit and peer runs, interleaved (A B A B); the best of each counts.") var rounds = 2
    @Option(help: "Write the table as JSON to this file.") var json: String?
    @Option(help: "Only the workloads whose name starts with this (conv_model/train, conv2d…, or several, comma-separated), for ConvKit and the peers; with one, adds the process's peak memory.") var only: String?
    @Option(help: "The machine's FMA peak in GFLOP/s for the % of peak column; measured at the kernels' vector width when not given.") var peak: Double?

    /// Peer name, label, and the Python that has its framework: all from pip, as users install
    /// them (`scripts/install-peers.sh`). onnxruntime runs the inference workloads only, on
    /// models PyTorch exports.
    static let peers = [("keras", "Keras", "python3"), ("torch", "PyTorch", "python3"),
                        ("onnxruntime", "onnxrt", "python3")]

    func run() throws {
        let root = try repositoryRoot()
        let (steps, repeats) = quick ? (3, 2) : (10, 3)
        var ours = [String: Benchmark.Result]()
        var theirs = [String: [String: Double]]()   // peer → workload → value
        var peerVersions = [String: String](), peerThreads = [String: Int]()
        let prefixes = only?.split(separator: ",").map(String.init)
        let machine = Benchmark.machine
        let isa = InstructionSet.active
        Console.line("CPU: \(machine["cpu"]!) (\(machine["isa"]!)); ConvKit kernels \(isa) on \(machine["convkit_threads"]!) threads (CONVKIT_ISA to choose)")
        let pin = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" } ?? "OPENBLAS_CORETYPE unset"
        Console.line("OpenBLAS kernels: \(BLASCore.current) (\(pin); CPU: \(BLASCore.recommended ?? "no AVX2"))")
        // The FMA peak at the kernels' width, every worker thread at once: the "% of peak" denominator.
        let fmaPeak = peak ?? isa.fmaPeak(allCores: true)
        Console.line("FMA peak: \(String(format: "%.0f", fmaPeak)) GFLOP/s on \(machine["convkit_threads"]!) threads at \(isa.rawValue)'s width"
                     + (peak == nil ? " (measured: a register-only loop)" : " (given)"))
        for round in 1...max(rounds, 1) {
            Console.line("Round \(round): ConvKit…")
            for r in try Benchmark.run(root: root, steps: steps, repeats: repeats, only: prefixes) where r.value > (ours[r.workload]?.value ?? 0) {
                ours[r.workload] = r
            }
            if peers {
                for (peer, label, python) in Bench.peers {
                    Console.line("Round \(round): \(label)…")
                    let (values, version, threads) = try runPeer(python, "\(root)/bench/peers/\(peer)_bench.py", steps: steps, repeats: repeats)
                    peerVersions[peer] = version; peerThreads[peer] = threads
                    for (workload, value) in values {
                        // Throughput: the best round; peak memory: the lowest.
                        let earlier = theirs[peer]?[workload]
                        theirs[peer, default: [:]][workload] = workload == "peak_memory" ? min(value, earlier ?? value) : max(value, earlier ?? 0)
                    }
                }
            }
        }
        if let prefixes, prefixes.count == 1 {
            // The process's peak resident memory over the workloads asked for: with
            // `--only conv_model/train`, training the conv model.
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            ours["peak_memory"] = Benchmark.Result(workload: "peak_memory", value: Double(usage.ru_maxrss) / 1024, unit: "MB")
        }
        let order = ["conv_model/train", "pool_model/train", "dense_model/train", "conv_model/infer",
                     "conv2d_64_32/forward", "conv2d_64_32/forward_backward"]
            + Benchmark.residualWorkloads.map(\.name) + ["peak_memory"]
        var rows = [[String: Any]]()
        Console.line("\n" + ["workload".padding(toLength: 32, withPad: " ", startingAt: 0), "ConvKit".leftPad(10),
                             peers ? Bench.peers.map { $0.1.leftPad(10) }.joined() + "ratio".leftPad(8) : "", "  unit"].joined())
        for workload in order {
            guard let r = ours[workload] else { continue }
            let peerValues = theirs.compactMapValues { $0[workload] }
            // For memory the best peer is the lowest, and the ratio is theirs over ours (above 1: less).
            let lowerIsBetter = workload == "peak_memory"
            let bestPeer = lowerIsBetter ? peerValues.values.min() : peerValues.values.max()
            let ratio = bestPeer.map { lowerIsBetter ? $0 / r.value : r.value / $0 }
            var line = workload.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%10.1f", r.value)
            if peers {
                for (peer, _, _) in Bench.peers { line += peerValues[peer].map { String(format: "%10.1f", $0) } ?? "         –" }
                line += ratio.map { String(format: "%7.2f×", $0) } ?? "       –"
            }
            line += "  \(r.unit)"
            if r.unit == "GFLOP/s" { line += String(format: " (%.0f%% of peak)", 100 * r.value / fmaPeak) }
            Console.line(line)
            var row: [String: Any] = ["workload": workload, "convkit": r.value, "unit": r.unit, "peers": peerValues]
            if let ratio { row["ratio_vs_best_peer"] = ratio }
            if let state = r.parameterStateMB { row["parameter_state_mb"] = state }
            if r.unit == "GFLOP/s" { row["percent_of_peak"] = 100 * r.value / fmaPeak }
            rows.append(row)
        }
        if let json {
            let record: [String: Any] = [
                "results": rows, "date": ISO8601DateFormatter().string(from: Date()),
                "machine": machine.merging(["fma_peak_gflops": String(format: "%.1f", fmaPeak),
                                            "openblas_coretype": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"]) { a, _ in a },
                "command": (["convkit"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                "peer_versions": peerVersions, "peer_threads": peerThreads,
            ]
            let data = try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
            do { try data.write(to: URL(fileURLWithPath: json), options: .atomic) } catch {
                throw ConvKitError("\(json): cannot write (\(error.localizedDescription))")
            }
            Console.line("Wrote \(json)")
        }
    }

    /// The peer's workload values, its version and its thread count (set to ConvKit's).
    private func runPeer(_ python: String, _ script: String, steps: Int, repeats: Int) throws -> ([String: Double], String, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["CONVKIT_PEER_THREADS=\(Benchmark.machine["convkit_threads"]!)", python, script, "\(steps)", "\(repeats)"] + (only.map { [$0] } ?? [])
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let version = object["_version"] as? String, let threads = object["_threads"] as? Int else {
            throw ConvKitError("\(script) failed (exit \(process.terminationStatus)); run it alone to see why")
        }
        return (object.filter { !$0.key.hasPrefix("_") }.compactMapValues { ($0 as? NSNumber)?.doubleValue }, version, threads)
    }

    /// The folder holding models/ and bench/: here, or the repository the binary was built in.
    private func repositoryRoot() throws -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [FileManager.default.currentDirectoryPath,
                          executable.deletingLastPathComponent().appendingPathComponent("../..").standardized.path]
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/models/seed003-conv.yaml") }) else {
            throw ConvKitError("run convkit bench from the ConvKit repository (models/ and bench/ not found)")
        }
        return root
    }
}

extension String {
    func leftPad(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
