import ConvKit
import Foundation

/// `convkit bench`: ConvKit's workloads (`Benchmark`) and, with peers, the same workloads in
/// Keras, PyTorch and onnxruntime (`bench/peers/*_bench.py`), interleaved in rounds on one
/// machine; the best round of each counts (the lowest for peak memory). The rows and the JSON
/// record that BENCHMARKS.md is rendered from.
public struct PeerComparison {
    /// Peer name, label, and the Python that has its framework: all from pip, as users install
    /// them (`scripts/install-peers.sh`). onnxruntime runs the inference workloads only, on
    /// models PyTorch exports.
    public static let peers = [("keras", "Keras", "python3"), ("torch", "PyTorch", "python3"), ("onnxruntime", "onnxrt", "python3")]

    /// One workload: ConvKit's figure, each peer's, and ConvKit's ratio to the best peer
    /// (throughput over theirs; for memory, theirs over ours, so above 1 means less).
    public struct Row {
        public var workload: String, unit: String
        public var convkit: Double, peers: [String: Double]
        public var ratio: Double?
        public var parameterStateMB: Double?
        public var percentOfPeak: Double?
    }

    public private(set) var rows: [Row] = []
    public private(set) var peerVersions = [String: String](), peerThreads = [String: Int]()
    /// The FMA peak in GFLOP/s the "% of peak" column divides by.
    public let fmaPeak: Double

    /// Runs `rounds` rounds; `only` keeps the workloads whose names start with one of its
    /// prefixes (with exactly one, the process's peak memory is added as a row).
    public init(root: String, quick: Bool, rounds: Int, withPeers: Bool, only: String?, fmaPeak: Double,
                progress: (String) -> Void) throws {
        self.fmaPeak = fmaPeak
        let (steps, repeats) = quick ? (3, 2) : (10, 3)
        let prefixes = only?.split(separator: ",").map(String.init)
        var ours = [String: Benchmark.Result]()
        var theirs = [String: [String: Double]]()   // peer → workload → value
        for round in 1...max(rounds, 1) {
            progress("Round \(round): ConvKit…")
            for r in try Benchmark.run(root: root, steps: steps, repeats: repeats, only: prefixes) where r.value > (ours[r.workload]?.value ?? 0) {
                ours[r.workload] = r
            }
            guard withPeers else { continue }
            for (peer, label, python) in Self.peers {
                progress("Round \(round): \(label)…")
                let (values, version, threads) = try Self.runPeer(python, "\(root)/bench/peers/\(peer)_bench.py", steps: steps,
                                                                  repeats: repeats, only: only)
                peerVersions[peer] = version; peerThreads[peer] = threads
                for (workload, value) in values {
                    let earlier = theirs[peer]?[workload]
                    theirs[peer, default: [:]][workload] = workload == "peak_memory" ? min(value, earlier ?? value) : max(value, earlier ?? 0)
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
        for workload in order {
            guard let r = ours[workload] else { continue }
            let peerValues = theirs.compactMapValues { $0[workload] }
            let lowerIsBetter = workload == "peak_memory"
            let bestPeer = lowerIsBetter ? peerValues.values.min() : peerValues.values.max()
            rows.append(Row(workload: workload, unit: r.unit, convkit: r.value, peers: peerValues,
                            ratio: bestPeer.map { lowerIsBetter ? $0 / r.value : r.value / $0 },
                            parameterStateMB: r.parameterStateMB, percentOfPeak: r.unit == "GFLOP/s" ? 100 * r.value / fmaPeak : nil))
        }
    }

    /// The JSON record: rows, date, machine (with the FMA peak and OpenBLAS' pin), the command,
    /// and the peers' versions and thread counts.
    public func record(command: String) throws -> Data {
        let rows: [[String: Any]] = rows.map { r in
            var row: [String: Any] = ["workload": r.workload, "convkit": r.convkit, "unit": r.unit, "peers": r.peers]
            if let ratio = r.ratio { row["ratio_vs_best_peer"] = ratio }
            if let state = r.parameterStateMB { row["parameter_state_mb"] = state }
            if let percent = r.percentOfPeak { row["percent_of_peak"] = percent }
            return row
        }
        let record: [String: Any] = [
            "results": rows, "date": ISO8601DateFormatter().string(from: Date()),
            "machine": Benchmark.machine.merging(["fma_peak_gflops": String(format: "%.1f", fmaPeak),
                                                  "openblas_coretype": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset",
                                                  "openblas_chosen_by": BLASCore.chosenBy]) { a, _ in a },
            "command": command, "peer_versions": peerVersions, "peer_threads": peerThreads,
        ]
        return try JSONSerialization.data(withJSONObject: record, options: [.prettyPrinted, .sortedKeys])
    }

    /// The peer's workload values, its version and its thread count (set to ConvKit's).
    static func runPeer(_ python: String, _ script: String, steps: Int, repeats: Int, only: String?) throws -> ([String: Double], String, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["CONVKIT_PEER_THREADS=\(Benchmark.machine["convkit_threads"]!)", python, script, "\(steps)", "\(repeats)"]
            + (only.map { [$0] } ?? [])
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

    /// The folder holding models/ and bench/: the current one, or the repository the binary
    /// at `executable` was built in.
    public static func repositoryRoot(executable: String) throws -> String {
        let binary = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        let candidates = [FileManager.default.currentDirectoryPath,
                          binary.deletingLastPathComponent().appendingPathComponent("../..").standardized.path]
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: "\($0)/models/seed003-conv.yaml") }) else {
            throw ConvKitError("run convkit bench from the ConvKit repository (models/ and bench/ not found)")
        }
        return root
    }
}
