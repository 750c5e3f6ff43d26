import ConvKit
import Foundation

/// A comparison of models is a study like the others: its runs are the models (× seeds),
/// each recorded in `results.json`, and `ExperimentReport` builds the report from them.
extension Experiment: Study {
    /// Trains the models in turn, checks the claims against the results, writes the report
    /// folder, prints the claims' verdicts, and returns the seconds it took. Under mpirun
    /// (`options.distributed`) each model trains data-parallel and only rank 0 reports.
    public func runAndReport(quick: Bool, folder: String, options: StudyOptions) throws -> Double {
        guard options.only == nil else { throw ConvKitError("\(name): --only applies to studies of separate runs (seed002), not to model comparisons") }
        let started = Date()
        let results = try ExperimentRunner.run(self, saveIn: folder, checkpoints: options.checkpoints, distributed: options.distributed)
        guard (options.distributed?.rank ?? 0) == 0 else { return Date().timeIntervalSince(started) }
        let claims = try ExperimentRunner.check(self.claims ?? [], results, focusLayer: focusLayer)
        let reference = try self.reference.map { relative -> ReferenceResults in
            let path = resolve(relative)
            guard let data = FileManager.default.contents(atPath: path) else { throw ConvKitError("\(path): reference results not found") }
            do { return try JSONDecoder().decode(ReferenceResults.self, from: data) } catch {
                throw ConvKitError("\(path): not a reference results file (\(error))")
            }
        }
        try ExperimentReport(experiment: self, quick: quick, results: results, claims: claims, reference: reference).write(to: folder)
        Console.line("")
        for c in claims { Console.line("\(c.held ? "held" : "did not hold")\(c.settled == false ? " (within noise)" : ""): \(c.claim) — \(c.measured)") }
        return Date().timeIntervalSince(started)
    }

    public func rerender(folder: String) throws {
        try ExperimentReport.rerender(folder: folder, experiment: self)
    }
}
